"""Conditional GET: a weak ETag from the stored content, 304 when it still matches."""

from __future__ import annotations

import json

import pytest

from support import GENERATED_AT, Clock, expect

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


async def test_a_changed_stored_value_named_like_an_age_changes_the_tag(client, admin) -> None:
    """The tag comes from the stored bytes, never from a body with parts blanked out: a bot's
    stored ``max_age_s`` is data like any other."""
    admin.hset("bot_status", "77", json.dumps({"feed": {"max_age_s": 30}}))
    tag = (await client.get("/bots/77")).headers["etag"]
    admin.hset("bot_status", "77", json.dumps({"feed": {"max_age_s": 300}}))
    response = await client.get("/bots/77", headers={"If-None-Match": tag})
    assert response.status_code == 200
    assert response.json()["feeds"] == {"feed": {"max_age_s": 300}}
    assert response.headers["etag"] != tag


async def test_what_the_clock_selects_is_part_of_the_tag(client, clock: Clock) -> None:
    """Ages move with the clock and keep the tag; a tick leaving the active set, or a process
    turning stale, changes it (the stored bytes did not)."""
    active = "/tickers/binance/active?max_age=100"
    first = await client.get(active)
    clock.now += 1  # ages move, the selection does not
    assert (await client.get(active)).headers["etag"] == first.headers["etag"]
    clock.now += 1000  # every tick is now older than max_age
    later = await client.get(active, headers={"If-None-Match": first.headers["etag"]})
    assert later.status_code == 200 and later.json()["count"] == 0
    assert first.json()["count"] > 0

    clock.now = GENERATED_AT + 10  # the processes are live and fresh
    path = "/processes?since_minutes=60&stale_after=60"
    fresh = await client.get(path)
    assert [p["stale"] for p in fresh.json()["items"]].count(False) > 0
    clock.now += 5
    assert (await client.get(path)).headers["etag"] == fresh.headers["etag"]
    clock.now += 600  # heartbeats now older than stale_after, same membership
    stale = await client.get(path, headers={"If-None-Match": fresh.headers["etag"]})
    assert stale.status_code == 200
    assert all(p["stale"] for p in stale.json()["items"])


def test_a_short_recording_has_the_digest_of_its_parts_however_it_is_hashed() -> None:
    """A short recording's digest (remembered) is the one its parts hash to as they go: tags
    do not depend on how long an answer's recording was, or on what was asked before."""
    from fullon_cache_api.readers.recorder import Recorder

    parts = [bytes([i]) * 32 for i in range(3)]

    def recorded(flush: int) -> bytes:
        recorder = type("Flushing", (Recorder,), {"FLUSH": flush})()
        for part in parts:
            recorder.add(part)
        recorder.chose(True)
        return recorder.digest()

    short = recorded(Recorder.FLUSH)
    assert short == recorded(Recorder.FLUSH)  # remembered
    assert short == recorded(1) == recorded(2)  # hashed as it goes
    other = Recorder()
    other.add(parts[0])
    assert other.digest() != short
