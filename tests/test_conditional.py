"""Conditional GET: a weak ETag from the stored content, 304 when it still matches."""

from __future__ import annotations

import pytest

from support import Clock, expect

pytestmark = pytest.mark.usefixtures("snapshot")
BTC = "/tickers/binance/BTC/USDT"


async def test_etag_is_stable_across_ages_and_changes_with_the_data(client, admin, clock) -> None:
    first = await client.get(BTC)
    tag = first.headers["etag"]
    assert tag.startswith('W/"')
    clock.now += 100  # age_s changes, the stored tick does not
    later = await client.get(BTC)
    assert later.json()["age_s"] != first.json()["age_s"]
    assert later.headers["etag"] == tag
    admin.hset("tickers:binance", "BTC/USDT", '{"price": 1.0, "time": 1764100000.0}')
    assert (await client.get(BTC)).headers["etag"] != tag


async def test_if_none_match_gives_304_without_body(client, admin) -> None:
    for path in (BTC, "/tickers", "/ohlcv/BTC/USDT/1m", "/accounts/1/balances", "/processes"):
        first = await client.get(path)
        expect(first)
        tag = first.headers["etag"]
        response = await client.get(path, headers={"If-None-Match": tag})
        assert response.status_code == 304, path
        assert response.content == b""
        assert response.headers["etag"] == tag
        other = await client.get(path, headers={"If-None-Match": 'W/"other", "x"'})
        assert other.status_code == 200
    private = await client.get("/accounts/1/balances")
    response = await client.get(
        "/accounts/1/balances", headers={"If-None-Match": f'"a", {private.headers["etag"]}'}
    )
    assert response.status_code == 304 and response.headers["cache-control"] == "no-store"


async def test_a_changed_cache_answers_200_again(client, admin, clock: Clock) -> None:
    tag = (await client.get("/tickers/binance")).headers["etag"]
    admin.hset("tickers:binance", "DOGE/USDT", '{"price": 0.1, "time": 1764100000.0}')
    response = await client.get("/tickers/binance", headers={"If-None-Match": tag})
    assert response.status_code == 200 and response.json()["count"] == 4


async def test_service_answers_and_errors_carry_no_etag(client) -> None:
    for path in ("/health", "/info", "/overview", "/exchanges", "/metrics"):
        assert "etag" not in (await client.get(path)).headers, path


async def test_errors_carry_no_etag(client) -> None:
    response = await client.get("/tickers/nowhere")
    assert response.status_code == 404 and "etag" not in response.headers


def test_the_tag_ignores_only_clock_and_server_derived_values() -> None:
    from fullon_cache_api.responses import etag

    def body(age: float, hb: object, symbol: str = "B") -> bytes:
        return b'{"items":[{"symbol":"A","age_s":%r},{"symbol":"%s","heartbeat_age_s":%s}]}' % (
            age,
            symbol.encode(),
            str(hb).encode(),
        )

    assert etag(body(1.5, "null")) == etag(body(9.25, 3))
    assert etag(body(1.5, 3)) != etag(body(1.5, 3, symbol="C"))
    assert etag(b'{"message":"age_s\\":1"}') != etag(b'{"message":"age_s\\":2"}')
