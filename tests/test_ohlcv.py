"""OHLCV endpoints against the snapshot, and the OHLCV quirks."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import redis

from budgets import LLEN_LRANGE, Case, fill_ohlcv
from support import SNAPSHOT, Monitor, expect, snapshot_keys, snapshot_value

DURATION = {"1m": 60, "15m": 900, "1h": 3600, "4h": 14400, "1d": 86400, "1w": 604800}
T0 = 1764098800000  # ms, a minute boundary near the snapshot's OHLCV times


def split_key(key: str) -> tuple[str, str]:
    symbol, timeframe = key.removeprefix("ohlcv:").rsplit(":", 1)
    return symbol, timeframe


def as_ms(ts: float) -> int:
    return round(ts * 1000) if ts < 1e11 else round(ts)


def clean(value: float) -> float | None:
    return value if math.isfinite(value) else None


def expected_bars(elements: list[str]) -> list[list[Any]]:
    """What the API must answer for stored elements: ms, later duplicate wins, ascending."""
    by_ts: dict[int, list[Any]] = {}
    for raw in elements:
        ts, *rest = json.loads(raw)[:6]
        by_ts[as_ms(ts)] = [as_ms(ts), *(clean(v) for v in rest)]
    return [by_ts[ts] for ts in sorted(by_ts)]


def push(admin: redis.Redis, symbol: str, timeframe: str, *bars: list[Any] | str) -> str:
    """RPUSH bars the way fullon_cache's update_ohlcv_bars does (json.dumps per element)."""
    key = f"ohlcv:{symbol}:{timeframe}"
    admin.rpush(key, *(b if isinstance(b, str) else json.dumps(b) for b in bars))
    return key


def bar(ts: float, close: float = 100.5) -> list[float]:
    return [ts, 100.0, 101.0, 99.0, close, 3.0]


# the snapshot ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("snapshot")
async def test_listing_reports_every_snapshot_series(client) -> None:
    keys = snapshot_keys("ohlcv:")
    assert len(keys) == 6
    rows = []
    for key in keys:
        symbol, timeframe = split_key(key)
        elements = snapshot_value(key)
        rows.append(
            {
                "symbol": symbol,
                "timeframe": timeframe,
                "bars": len(elements),
                "first_ts_ms": as_ms(json.loads(elements[0])[0]),
                "last_ts_ms": as_ms(json.loads(elements[-1])[0]),
            }
        )
    rows.sort(key=lambda row: (row["symbol"], DURATION[row["timeframe"]]))
    body = expect(await client.get("/ohlcv"))
    assert body == {"items": rows, "count": 6}
    assert [(r["symbol"], r["timeframe"]) for r in body["items"]][:2] == [
        ("BTC/USD", "1m"),
        ("BTC/USD", "1h"),
    ]


@pytest.mark.usefixtures("snapshot")
async def test_every_snapshot_series_bars(client) -> None:
    for key in snapshot_keys("ohlcv:"):
        symbol, timeframe = split_key(key)
        expected = expected_bars(snapshot_value(key))
        body = expect(await client.get(f"/ohlcv/{symbol}/{timeframe}"))
        assert body == {
            "symbol": symbol,
            "timeframe": timeframe,
            "bars": expected,
            "count": len(expected),
        }
        assert all(isinstance(b[0], int) for b in body["bars"])
        assert body["bars"][0][0] < body["bars"][-1][0]


@pytest.mark.usefixtures("snapshot")
async def test_snapshot_latest_bars_match_fullon_reader(client) -> None:
    theirs = SNAPSHOT["reads"]["get_latest_ohlcv_bars('BTC/USDT', '1m', 5)"]
    body = expect(await client.get("/ohlcv/BTC/USDT/1m", params={"limit": 5}))
    assert body["count"] == 5
    assert body["bars"] == [[int(b[0]), *b[1:]] for b in theirs]


@pytest.mark.usefixtures("snapshot")
async def test_snapshot_timeframes_per_symbol(client) -> None:
    symbols = sorted({split_key(key)[0] for key in snapshot_keys("ohlcv:")})
    assert symbols == ["BTC/USD", "BTC/USDC:USDC", "BTC/USDT"]
    for symbol in symbols:
        body = expect(await client.get(f"/ohlcv/{symbol}/timeframes"))
        assert body == {"symbol": symbol, "timeframes": ["1m", "1h"], "count": 2}


@pytest.mark.usefixtures("snapshot")
async def test_colon_symbol_and_percent_encoding(client) -> None:
    key = "ohlcv:BTC/USDC:USDC:1h"
    expected = expected_bars(snapshot_value(key))
    for path in (
        "/ohlcv/BTC/USDC:USDC/1h",
        "/ohlcv/BTC%2FUSDC%3AUSDC/1h",
        "/ohlcv/BTC/USDC:USDC/1h/",
    ):
        body = expect(await client.get(path, params={"limit": 10000}))
        assert body["symbol"] == "BTC/USDC:USDC"
        assert body["bars"] == expected
    body = expect(await client.get("/ohlcv/BTC%2FUSDC%3AUSDC/timeframes"))
    assert body["timeframes"] == ["1m", "1h"]


# quirks ------------------------------------------------------------------------------------------


async def test_resent_candle_is_deduplicated_later_wins(client, admin) -> None:
    push(admin, "ETH/USDT", "1m", bar(T0), bar(T0 + 60000, 1.0), bar(T0 + 120000))
    push(admin, "ETH/USDT", "1m", bar(T0 + 60000, 2.0))  # re-sent: appended again
    body = expect(await client.get("/ohlcv/ETH/USDT/1m"))
    assert body["count"] == 3
    assert [b[0] for b in body["bars"]] == [T0, T0 + 60000, T0 + 120000]
    assert body["bars"][1][4] == 2.0
    listing = expect(await client.get("/ohlcv"))
    assert listing["items"] == [
        {
            "symbol": "ETH/USDT",
            "timeframe": "1m",
            "bars": 4,  # stored elements, the duplicate counted
            "first_ts_ms": T0,
            "last_ts_ms": T0 + 60000,
        }
    ]


async def test_out_of_order_elements_are_sorted(client, admin) -> None:
    push(admin, "ETH/USDT", "1m", bar(T0 + 120000), bar(T0), bar(T0 + 60000))
    body = expect(await client.get("/ohlcv/ETH/USDT/1m"))
    assert [b[0] for b in body["bars"]] == [T0, T0 + 60000, T0 + 120000]


async def test_seconds_and_milliseconds_timestamps(client, admin) -> None:
    secs = T0 // 1000
    push(
        admin,
        "ETH/USDT",
        "1m",
        bar(secs),  # seconds, int
        bar(T0 + 60000),  # ms, int
        bar(float(T0 + 120000)),  # ms, float (fullon's writer)
        bar(secs + 180.5),  # seconds, float
        bar(secs + 60, 7.0),  # the ms candle re-sent in seconds: same candle, later wins
    )
    body = expect(await client.get("/ohlcv/ETH/USDT/1m"))
    assert [b[0] for b in body["bars"]] == [T0, T0 + 60000, T0 + 120000, T0 + 180500]
    assert body["bars"][1][4] == 7.0
    assert '"bars":[[1764098800000,' in (await client.get("/ohlcv/ETH/USDT/1m")).text
    listing = expect(await client.get("/ohlcv"))["items"][0]
    assert (listing["first_ts_ms"], listing["last_ts_ms"]) == (T0, T0 + 60000)


async def test_extra_trailing_elements_are_dropped(client, admin) -> None:
    push(admin, "ETH/USDT", "1m", [*bar(T0), 42, 1.5], [*bar(T0 + 60000), "trades", None])
    body = expect(await client.get("/ohlcv/ETH/USDT/1m"))
    assert body["bars"] == [[T0, 100.0, 101.0, 99.0, 100.5, 3.0], [T0 + 60000, *bar(0)[1:]]]
    assert "skipped" not in body


async def test_non_finite_numbers_become_null(client, admin) -> None:
    nan, inf = float("nan"), float("inf")
    push(admin, "ETH/USDT", "1m", [T0, nan, inf, -inf, 100.5, nan], bar(T0 + 60000))
    assert "NaN" in admin.lindex("ohlcv:ETH/USDT:1m", 0)  # stored as Python's json.dumps writes
    body = expect(await client.get("/ohlcv/ETH/USDT/1m"))
    assert body["bars"][0] == [T0, None, None, None, 100.5, None]
    assert "skipped" not in body


async def test_corrupt_bars_are_skipped_and_counted(client, admin) -> None:
    push(
        admin,
        "ETH/USDT",
        "1m",
        "not json",
        bar(T0),
        "[1764098860000, 1, 2, 3]",  # too short
        '{"ts": 1764098860000}',  # not an array
        "[null, 1, 2, 3, 4, 5]",  # no timestamp
        '["x", 1, 2, 3, 4, 5]',
        '[1764098860000, "open", 2, 3, 4, 5]',
        bar(T0 + 60000),
        "[1764098920000, 1, 2",  # truncated
    )
    body = expect(await client.get("/ohlcv/ETH/USDT/1m"))
    assert body["skipped"] == 7
    assert [b[0] for b in body["bars"]] == [T0, T0 + 60000]
    assert body["count"] == 2
    listing = expect(await client.get("/ohlcv"))["items"][0]
    assert listing["bars"] == 9
    assert listing["first_ts_ms"] is None and listing["last_ts_ms"] is None


async def test_all_elements_corrupt_is_empty_not_404(client, admin) -> None:
    push(admin, "ETH/USDT", "1m", "garbage")
    body = expect(await client.get("/ohlcv/ETH/USDT/1m"))
    assert body == {"symbol": "ETH/USDT", "timeframe": "1m", "bars": [], "count": 0, "skipped": 1}


async def test_since_until_limit(client, admin) -> None:
    push(admin, "ETH/USDT", "1m", *(bar(T0 + i * 60000, float(i)) for i in range(10)))

    async def ts(**params: int) -> list[int]:
        body = expect(await client.get("/ohlcv/ETH/USDT/1m", params=params))
        assert body["count"] == len(body["bars"])
        return [(b[0] - T0) // 60000 for b in body["bars"]]

    assert await ts() == list(range(10))
    assert await ts(limit=3) == [7, 8, 9]
    assert await ts(since=T0 + 2 * 60000) == list(range(2, 10))  # inclusive
    assert await ts(since=T0 + 2 * 60000 + 1) == list(range(3, 10))
    assert await ts(until=T0 + 4 * 60000) == [0, 1, 2, 3, 4]  # inclusive
    assert await ts(until=T0 + 4 * 60000 - 1) == [0, 1, 2, 3]
    assert await ts(since=T0 + 60000, until=T0 + 6 * 60000) == [1, 2, 3, 4, 5, 6]
    # the window first, then the latest N of it
    assert await ts(since=T0 + 60000, until=T0 + 6 * 60000, limit=2) == [5, 6]
    assert await ts(since=T0 + 8 * 60000, limit=5) == [8, 9]
    assert await ts(until=T0 + 2 * 60000, limit=2) == [1, 2]
    assert await ts(since=T0 + 3 * 60000, until=T0 + 3 * 60000) == [3]
    assert await ts(since=T0 + 100 * 60000) == []
    assert await ts(until=T0 - 1) == []
    inverted = await client.get(
        "/ohlcv/ETH/USDT/1m", params={"since": T0 + 5 * 60000, "until": T0 + 4 * 60000}
    )
    assert expect(inverted, 400)["error"]["message"] == (
        f"query parameter 'since' ({T0 + 5 * 60000}) must not be after 'until' ({T0 + 4 * 60000})"
    )


async def test_since_filters_second_based_bars_in_ms(client, admin) -> None:
    push(admin, "ETH/USDT", "1m", bar(T0 // 1000), bar((T0 + 60000) // 1000))
    body = expect(await client.get("/ohlcv/ETH/USDT/1m", params={"since": T0 + 60000}))
    assert [b[0] for b in body["bars"]] == [T0 + 60000]


async def test_limit_defaults_to_100_and_reaches_10000(client, admin) -> None:
    elements = [json.dumps(bar(T0 + i * 60000)) for i in range(10000)]
    push(admin, "ETH/USDT", "1m", *elements, json.dumps(bar(T0, 9.0)))  # 10001 stored
    body = expect(await client.get("/ohlcv/ETH/USDT/1m"))
    assert body["count"] == 100
    assert body["bars"][-1][0] == T0 + 9999 * 60000
    body = expect(await client.get("/ohlcv/ETH/USDT/1m", params={"limit": 10000}))
    assert body["count"] == 10000  # (its latency: benchmarks/latency.py)
    assert body["bars"][0] == [T0, 100.0, 101.0, 99.0, 9.0, 3.0]


async def test_prefix_collision_symbols_are_kept_apart(client, admin) -> None:
    push(admin, "BTC/USDT", "1m", bar(T0, 1.0))
    push(admin, "BTC/USDT:USDT", "1m", bar(T0, 2.0))
    push(admin, "BTC/USDT:USDT", "4h", bar(T0, 3.0))
    body = expect(await client.get("/ohlcv/BTC/USDT/timeframes"))
    assert body == {"symbol": "BTC/USDT", "timeframes": ["1m"], "count": 1}
    body = expect(await client.get("/ohlcv/BTC/USDT:USDT/timeframes"))
    assert body == {"symbol": "BTC/USDT:USDT", "timeframes": ["1m", "4h"], "count": 2}
    assert expect(await client.get("/ohlcv/BTC/USDT/1m"))["bars"][0][4] == 1.0
    assert expect(await client.get("/ohlcv/BTC/USDT:USDT/1m"))["bars"][0][4] == 2.0
    expect(await client.get("/ohlcv/BTC/USDT/4h"), 404)
    expect(await client.get("/ohlcv/BTC/timeframes"), 404)  # BTC is a prefix, not a symbol
    listing = expect(await client.get("/ohlcv"))["items"]
    assert [(r["symbol"], r["timeframe"]) for r in listing] == [
        ("BTC/USDT", "1m"),
        ("BTC/USDT:USDT", "1m"),
        ("BTC/USDT:USDT", "4h"),
    ]


async def test_timeframes_ordered_by_duration(client, admin) -> None:
    for timeframe in ("1w", "1h", "15m", "1d", "4h", "1m", "5m"):
        push(admin, "SOL/USDT", timeframe, bar(T0))
    body = expect(await client.get("/ohlcv/SOL/USDT/timeframes"))
    assert body["timeframes"] == ["1m", "5m", "15m", "1h", "4h", "1d", "1w"]
    listing = expect(await client.get("/ohlcv"))["items"]
    assert [r["timeframe"] for r in listing] == body["timeframes"]


async def test_pattern_characters_in_symbol_are_refused_never_scanned(client, admin) -> None:
    # a backslash is a Redis pattern character: refused like * ? [ ] (the documented rule)
    push(admin, "AB/USDT", "4h", bar(T0))
    body = expect(await client.get("/ohlcv/A%5CB%2FUSDT/timeframes"), 400)
    assert "'symbol'" in body["error"]["message"]


async def test_absent_series_and_symbol_are_404(client, admin) -> None:
    assert expect(await client.get("/ohlcv")) == {"items": [], "count": 0}
    body = expect(await client.get("/ohlcv/BTC/USDT/1m"), 404)
    assert body["error"]["code"] == "not_found"
    assert "BTC/USDT" in body["error"]["message"]
    expect(await client.get("/ohlcv/BTC/USDT/timeframes"), 404)


async def test_key_of_another_type(client, admin) -> None:
    admin.hset("ohlcv:ETH/USDT:1m", "a", "b")
    push(admin, "ETH/USDT", "1h", bar(T0))
    body = expect(await client.get("/ohlcv/ETH/USDT/1m"), 502)
    assert body["error"]["code"] == "bad_cache_value"
    listing = expect(await client.get("/ohlcv"))
    assert listing["skipped"] == 1
    assert [r["timeframe"] for r in listing["items"]] == ["1h"]


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/ohlcv/BTC/USDT/abc", {}, "timeframe"),
        ("/ohlcv/BTC/USDT/0m", {}, "timeframe"),
        ("/ohlcv/BTC/USDT/1x", {}, "timeframe"),
        ("/ohlcv/BTC/USDT/1m", {"limit": "0"}, "limit"),
        ("/ohlcv/BTC/USDT/1m", {"limit": "10001"}, "limit"),
        ("/ohlcv/BTC/USDT/1m", {"limit": "ten"}, "limit"),
        ("/ohlcv/BTC/USDT/1m", {"since": "-1"}, "since"),
        ("/ohlcv/BTC/USDT/1m", {"since": "yesterday"}, "since"),
        ("/ohlcv/BTC/USDT/1m", {"until": "1.5"}, "until"),
        ("/ohlcv/BTC*/1m", {}, "symbol"),
        ("/ohlcv/BTC%3F/timeframes", {}, "symbol"),
    ],
)
async def test_bad_input_is_400_naming_the_parameter(client, admin, path, params, name) -> None:
    push(admin, "BTC/USDT", "1m", bar(T0))
    body = expect(await client.get(path, params=params), 400)
    assert body["error"]["code"] == "bad_request"
    assert f"'{name}'" in body["error"]["message"]


async def test_limit_bounds_are_accepted(client, admin) -> None:
    push(admin, "BTC/USDT", "1m", bar(T0), bar(T0 + 60000))
    assert expect(await client.get("/ohlcv/BTC/USDT/1m", params={"limit": 1}))["count"] == 1
    assert expect(await client.get("/ohlcv/BTC/USDT/1m", params={"limit": 10000}))["count"] == 2


def command_calls(admin: redis.Redis) -> dict[str, int]:
    stats = admin.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(s["calls"]) for name, s in stats.items()}


async def test_bars_are_read_in_windows_never_whole(uncached, admin, redis_server) -> None:
    """LLEN, then the window the answer needs (limit plus a margin for re-sent candles); with
    since/until, pipelined LINDEX probes find the window first. The listing reads LLEN and the
    two ends of each list."""
    client = uncached
    push(admin, "ETH/USDT", "1m", *(bar(T0 + i * 60000) for i in range(5000)))
    for symbol in ("BTC/USDT", "SOL/USDT"):
        push(admin, symbol, "1m", *(bar(T0 + i * 60000) for i in range(50)))
    with Monitor(redis_server.port) as seen:
        body = expect(await client.get("/ohlcv/ETH/USDT/1m", params={"limit": 5}))
    assert [b[0] for b in body["bars"]] == [T0 + i * 60000 for i in range(4995, 5000)]
    assert [c[0] for c in seen.commands] == ["LLEN", "LRANGE"]
    assert seen.commands[1][2:] == [str(5000 - 5 - 64), "4999"]
    since, until = T0 + 1000 * 60000, T0 + 1009 * 60000
    with Monitor(redis_server.port) as seen:
        body = expect(
            await client.get("/ohlcv/ETH/USDT/1m", params={"since": since, "until": until})
        )
    assert [b[0] for b in body["bars"]] == [T0 + i * 60000 for i in range(1000, 1010)]
    names = [c[0] for c in seen.commands]
    assert set(names) == {"LLEN", "LINDEX", "LRANGE"} and names.count("LRANGE") == 1
    (window,) = [c for c in seen.commands if c[0] == "LRANGE"]
    assert int(window[3]) - int(window[2]) < 10 + 4 * 64  # a window, not the list
    with Monitor(redis_server.port) as seen:
        expect(await client.get("/ohlcv"))
    names = [c[0] for c in seen.commands]
    assert (names.count("LLEN"), names.count("LINDEX")) == (3, 6)
    assert "LRANGE" not in names  # whole lists are never read for the listing


# Redis budgets -----------------------------------------------------------------------------------

BUDGETS: tuple[Case, ...] = (
    Case("/ohlcv", "/ohlcv", fill_ohlcv, {}, {"llen": 1, "lindex": 2}, trips=1),
    Case("/ohlcv/{symbol:path}/timeframes", "/ohlcv/BTC/USDT/timeframes", fill_ohlcv),
    # LLEN, then one window (a series this short needs no LINDEX probes to find it)
    Case(
        "/ohlcv/{symbol:path}/{timeframe}", "/ohlcv/BTC/USDT/1m", fill_ohlcv, LLEN_LRANGE, trips=2
    ),
    Case(
        "/ohlcv/{symbol:path}/{timeframe}",
        "/ohlcv/BTC/USDT/1m?limit=2&since=0",
        fill_ohlcv,
        LLEN_LRANGE,
        trips=2,
    ),
)
"""The OHLCV routes' Redis budgets (tests/test_budgets.py measures them)."""
