"""Ticker endpoints against the snapshot, and the ticker quirks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from budgets import HGET, HLEN_HGETALL, Case, fill_tickers
from support import SNAPSHOT, WRITTEN_AT, Clock, expect, snapshot_keys, snapshot_value

pytestmark = pytest.mark.usefixtures("snapshot")


def stored_ticks() -> list[tuple[str, str, dict[str, Any]]]:
    """(exchange, symbol, stored tick) for every ticker in the snapshot, API order."""
    rows = []
    for key in snapshot_keys("tickers:"):
        exchange = key.split(":", 1)[1]
        for symbol, raw in snapshot_value(key).items():
            rows.append((exchange, symbol, json.loads(raw)))
    return sorted(rows, key=lambda row: (row[0], row[1]))


def rfc3339(epoch: float) -> str:
    from datetime import UTC, datetime

    text = datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")
    return text


def expected_ticker(exchange: str, symbol: str, tick: dict[str, Any], now: float) -> dict[str, Any]:
    return {
        "exchange": exchange,
        "symbol": symbol,
        "price": tick["price"],
        "bid": tick["bid"],
        "ask": tick["ask"],
        "last": tick["last"],
        "volume": tick["volume"],
        "time": rfc3339(tick["time"]),
        "age_s": round(now - tick["time"], 3),
    }


def test_snapshot_has_three_exchanges_hyperliquid_included() -> None:
    assert {row[0] for row in stored_ticks()} == {"binance", "kraken", "hyperliquid"}
    assert SNAPSHOT["written_at"] == WRITTEN_AT


async def test_every_ticker_alone(client, clock: Clock) -> None:
    for exchange, symbol, tick in stored_ticks():
        body = expect(await client.get(f"/tickers/{exchange}/{symbol}"))
        assert body == expected_ticker(exchange, symbol, tick, clock.now)


async def test_all_tickers_listing(client, clock: Clock) -> None:
    body = expect(await client.get("/tickers"))
    expected = [expected_ticker(e, s, t, clock.now) for e, s, t in stored_ticks()]
    assert body == {"items": expected, "count": len(expected)}


async def test_exchange_listing_and_symbols_filter(client, clock: Clock) -> None:
    rows = stored_ticks()
    binance = [expected_ticker(e, s, t, clock.now) for e, s, t in rows if e == "binance"]
    body = expect(await client.get("/tickers/binance"))
    assert body == {"exchange": "binance", "items": binance, "count": 3}
    body = expect(await client.get("/tickers/binance", params={"symbols": "SOL/USDT,BTC/USDT,X/Y"}))
    assert [t["symbol"] for t in body["items"]] == ["BTC/USDT", "SOL/USDT"]
    assert body["items"][0] == binance[0]


async def test_hyperliquid_symbol_with_colon_and_percent_encoded_slash(client, clock) -> None:
    tick = json.loads(snapshot_value("tickers:hyperliquid")["BTC/USDC:USDC"])
    expected = expected_ticker("hyperliquid", "BTC/USDC:USDC", tick, clock.now)
    assert expect(await client.get("/tickers/hyperliquid/BTC/USDC:USDC")) == expected
    assert expect(await client.get("/tickers/hyperliquid/BTC%2FUSDC%3AUSDC")) == expected
    listing = expect(await client.get("/tickers/hyperliquid"))
    assert listing["items"] == [expected]


async def test_max_age_filters_by_tick_time(client, clock: Clock) -> None:
    # BTC ticks are 30 s old, ETH 60 s, SOL 3690 s (clock = written_at + 30).
    body = expect(await client.get("/tickers", params={"max_age": "45"}))
    assert [(t["exchange"], t["symbol"]) for t in body["items"]] == [
        ("binance", "BTC/USDT"),
        ("hyperliquid", "BTC/USDC:USDC"),
        ("kraken", "BTC/USD"),
    ]
    active = expect(await client.get("/tickers/binance/active"))  # default max_age 60
    assert [t["symbol"] for t in active["items"]] == ["BTC/USDT"]
    active = expect(await client.get("/tickers/binance/active", params={"max_age": "4000"}))
    assert active["count"] == 3
    clock.now += 1000
    assert expect(await client.get("/tickers/binance/active"))["count"] == 0


async def test_tickers_health(client, clock: Clock) -> None:
    body = expect(await client.get("/tickers/health"))
    assert body["max_age"] == 60
    assert body["items"] == [
        {
            "exchange": "binance",
            "count": 3,
            "newest": rfc3339(WRITTEN_AT),
            "oldest": rfc3339(WRITTEN_AT - 3660),
            "stale": 2,
        },
        {
            "exchange": "hyperliquid",
            "count": 1,
            "newest": rfc3339(WRITTEN_AT),
            "oldest": rfc3339(WRITTEN_AT),
            "stale": 0,
        },
        {
            "exchange": "kraken",
            "count": 2,
            "newest": rfc3339(WRITTEN_AT),
            "oldest": rfc3339(WRITTEN_AT - 30),
            "stale": 1,
        },
    ]
    assert expect(await client.get("/tickers/health?max_age=10"))["items"][1]["stale"] == 1


async def test_missing_ticker_and_exchange_are_404(client) -> None:
    body = expect(await client.get("/tickers/binance/DOGE/USDT"), 404)
    assert body == {
        "error": {"status": 404, "code": "not_found", "message": "no ticker DOGE/USDT on binance"}
    }
    assert expect(await client.get("/tickers/bitmex"), 404)["error"]["code"] == "not_found"
    assert expect(await client.get("/tickers/bitmex", params={"symbols": "BTC/USDT"}), 404)
    # The exchange exists but none of the asked symbols do: an empty answer, not 404.
    body = expect(await client.get("/tickers/binance", params={"symbols": "DOGE/USDT"}))
    assert body == {"exchange": "binance", "items": [], "count": 0}


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/tickers/*", {}, "exchange"),
        ("/tickers/bin*", {}, "exchange"),
        ("/tickers/b[a]", {}, "exchange"),
        ("/tickers/" + "x" * 65, {}, "exchange"),
        ("/tickers/binance/BTC*", {}, "symbol"),
        ("/tickers/binance/B%3FC", {}, "symbol"),
        ("/tickers/binance/" + "S" * 129, {}, "symbol"),
        ("/tickers", {"max_age": "abc"}, "max_age"),
        ("/tickers", {"max_age": "-1"}, "max_age"),
        ("/tickers", {"max_age": "nan"}, "max_age"),
        ("/tickers/binance", {"symbols": "BTC/*"}, "symbols"),
        ("/tickers/binance", {"symbols": ","}, "symbols"),
        ("/tickers/health", {"max_age": "0"}, "max_age"),
    ],
)
async def test_bad_input_is_400_naming_the_parameter(client, path, params, name) -> None:
    body = expect(await client.get(path, params=params), 400)
    assert body["error"]["code"] == "bad_request"
    assert f"'{name}'" in body["error"]["message"]


async def test_corrupt_tick_is_skipped_in_listings_and_502_alone(client, admin, caplog) -> None:
    admin.hset("tickers:binance", "BAD/USDT", "{not json")
    body = expect(await client.get("/tickers/binance"))
    assert body["count"] == 3 and body["skipped"] == 1
    assert "BAD/USDT" not in [t["symbol"] for t in body["items"]]
    assert expect(await client.get("/tickers"))["skipped"] == 1
    assert "tickers:binance" in caplog.text and "BAD/USDT" in caplog.text
    body = expect(await client.get("/tickers/binance/BAD/USDT"), 502)
    assert body["error"]["code"] == "bad_cache_value"


async def test_nan_and_infinity_become_null_and_unknown_keys_are_ignored(
    client, admin, clock
) -> None:
    admin.hset(
        "tickers:binance",
        "NAN/USDT",
        '{"price": NaN, "bid": Infinity, "ask": -Infinity, "last": "12.5", "volume": 3,'
        ' "time": 1764100000.0, "extra": {"x": 1}}',
    )
    body = expect(await client.get("/tickers/binance/NAN/USDT"))
    assert body["price"] is None and body["bid"] is None and body["ask"] is None
    assert body["last"] == 12.5 and body["volume"] == 3.0 and body["age_s"] == 30.0


async def test_exchanges_are_discovered_not_listed(client, admin, clock) -> None:
    admin.hset("tickers:newex", "ABC/USD", '{"price": 1, "time": 1764100000.0}')
    body = expect(await client.get("/tickers"))
    assert ("newex", "ABC/USD") in [(t["exchange"], t["symbol"]) for t in body["items"]]
    # A key with glob characters in its name is data like any other, found by SCAN.
    assert expect(await client.get("/tickers/newex/ABC/USD"))["price"] == 1.0


async def test_a_key_of_the_wrong_type_is_502_not_503(client, admin) -> None:
    admin.delete("tickers:binance")
    admin.set("tickers:binance", "not a hash")
    body = expect(await client.get("/tickers/binance/BTC/USDT"), 502)
    assert body["error"]["code"] == "bad_cache_value"


# Redis budgets -----------------------------------------------------------------------------------

BUDGETS: tuple[Case, ...] = (
    # Hashes: HLEN (in one pipeline for a family), then HGETALL of the small ones in one more.
    Case("/tickers", "/tickers", fill_tickers, {}, HLEN_HGETALL, trips=2),
    Case("/tickers", "/tickers?symbols=BTC/USDT", fill_tickers, {}, HLEN_HGETALL, trips=2),
    Case("/tickers/health", "/tickers/health", fill_tickers, {}, HLEN_HGETALL, trips=2),
    Case("/tickers/{exchange}", "/tickers/bench", fill_tickers, HLEN_HGETALL, trips=2),
    Case(
        "/tickers/{exchange}",
        "/tickers/bench?symbols=S0/USDT,S1/USDT,S2/USDT",
        fill_tickers,
        {"hmget": 1},
        trips=1,
    ),
    Case(
        "/tickers/{exchange}/active", "/tickers/bench/active", fill_tickers, HLEN_HGETALL, trips=2
    ),
    Case(
        "/tickers/{exchange}/{symbol:path}",
        "/tickers/bench/S1/USDT",
        fill_tickers,
        HGET,
        trips=1,
    ),
)
"""The ticker routes' Redis budgets (tests/test_budgets.py measures them)."""
