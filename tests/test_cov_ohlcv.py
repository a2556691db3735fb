"""OHLCV edges (fullon_cache_api.readers.ohlcv) on a real redis-server: timestamps that are not
times, timeframes of no known form, re-sent candles that fill the read window, the search by
time through long series with corrupt elements (or only corrupt ones) and past their end, and
the WebSocket bar stream of a series whose last element is corrupt."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import anyio
import pytest
import redis
from websockets.asyncio.client import connect

from fullon_cache_api import Settings, create_app

from support import expect, serve_in_process

T0 = 1764098800000  # ms, a minute boundary
MINUTE = 60_000


def bar(ts: float, close: float = 100.5) -> list[float]:
    return [ts, 100.0, 101.0, 99.0, close, 3.0]


def push(admin: redis.Redis, symbol: str, timeframe: str, *bars: list[Any] | str) -> None:
    key = f"ohlcv:{symbol}:{timeframe}"
    admin.rpush(key, *(b if isinstance(b, str) else json.dumps(b) for b in bars))


async def test_a_timestamp_that_is_not_a_time_is_a_corrupt_bar(client, admin) -> None:
    push(admin, "ETH/USDT", "1m", bar(T0), bar(1e17), bar(-1e17), bar(T0 + MINUTE))
    body = expect(await client.get("/ohlcv/ETH/USDT/1m"))
    assert [b[0] for b in body["bars"]] == [T0, T0 + MINUTE]
    assert body["skipped"] == 2


async def test_timeframes_of_no_known_form_come_last_by_name(client, admin) -> None:
    for timeframe in ("weekly", "1h", "custom", "1m"):
        push(admin, "SOL/USDT", timeframe, bar(T0))
    body = expect(await client.get("/ohlcv/SOL/USDT/timeframes"))
    assert body["timeframes"] == ["1m", "1h", "custom", "weekly"]
    listing = expect(await client.get("/ohlcv"))["items"]
    assert [row["timeframe"] for row in listing] == body["timeframes"]


async def test_re_sent_candles_widen_the_read_window_up_to_its_bound(client, admin) -> None:
    """Two bars, then the last one sent again 150 times: the newest window holds one distinct
    bar, so the read widens it until both are found (the later copy wins). Sent again 300
    times, the window stops at four times its size (docs: never the whole list): one bar."""
    again = [json.dumps(bar(T0 + MINUTE, close=float(i))) for i in range(150)]
    push(admin, "ETH/USDT", "1m", bar(T0), bar(T0 + MINUTE), *again)
    body = expect(await client.get("/ohlcv/ETH/USDT/1m", params={"limit": 2}))
    assert body["bars"] == [bar(T0), bar(T0 + MINUTE, close=149.0)]
    push(admin, "ETH/USDT", "1m", *again)
    body = expect(await client.get("/ohlcv/ETH/USDT/1m", params={"limit": 2}))
    assert body["bars"] == [bar(T0 + MINUTE, close=149.0)]


async def test_since_past_the_end_of_a_long_series_is_empty(client, admin) -> None:
    push(admin, "ETH/USDT", "1m", *(bar(T0 + i * MINUTE) for i in range(500)))
    late = {"since": T0 + 1000 * MINUTE}
    assert expect(await client.get("/ohlcv/ETH/USDT/1m", params=late))["bars"] == []
    body = expect(await client.get("/ohlcv/ETH/USDT/1m", params={"since": T0 + 499 * MINUTE}))
    assert [b[0] for b in body["bars"]] == [T0 + 499 * MINUTE]


async def test_the_search_by_time_steps_over_corrupt_elements(client, admin) -> None:
    """A long series where every other element is corrupt: the probes that land on one narrow
    nothing, the others still find the window."""
    elements: list[list[Any] | str] = []
    for i in range(400):
        elements += [bar(T0 + i * MINUTE, close=float(i)), "garbage"]
    push(admin, "ETH/USDT", "1m", *elements)
    params = {"since": T0 + 200 * MINUTE, "until": T0 + 204 * MINUTE}
    body = expect(await client.get("/ohlcv/ETH/USDT/1m", params=params))
    assert [b[4] for b in body["bars"]] == [200.0, 201.0, 202.0, 203.0, 204.0]
    assert body["skipped"] > 0


async def test_a_series_of_only_corrupt_elements_searched_by_time_is_empty(client, admin) -> None:
    push(admin, "ETH/USDT", "1m", *(["not a bar"] * 300))
    body = expect(await client.get("/ohlcv/ETH/USDT/1m", params={"since": T0}))
    assert body["bars"] == [] and body["skipped"] > 0


def lindexes(admin: redis.Redis) -> int:
    return int(admin.info("commandstats").get("cmdstat_lindex", {}).get("calls", 0))


@pytest.mark.slow
async def test_the_bar_stream_of_a_series_whose_last_element_is_corrupt(
    settings: Settings, clock, admin
) -> None:
    """The WebSocket bar stream reads the last element: corrupt, there is no bar to send (as
    for an absent series); once a valid bar is appended, it is sent."""
    push(admin, "ETH/USDT", "1m", bar(T0), "[1764098860000, 1, 2")
    app = create_app(dataclasses.replace(settings, ws_poll_interval=0.05), clock=clock)
    async with serve_in_process(app) as base, connect(f"{base}/ws/ohlcv/c1") as ws:
        read = lindexes(admin)
        params = {"symbol": "ETH/USDT", "timeframe": "1m"}
        await ws.send(json.dumps({"action": "stream_ohlcv", "request_id": "s1", "params": params}))
        with anyio.fail_after(30):
            assert json.loads(await ws.recv())["success"] is True
            while lindexes(admin) == read:  # the stream has read the corrupt last element
                await anyio.sleep(0.01)
            push(admin, "ETH/USDT", "1m", bar(T0 + 2 * MINUTE, close=7.0))
            frame = json.loads(await ws.recv())
    assert frame["action"] == "ohlcv_update"
    assert frame["result"]["bar"] == [float(T0 + 2 * MINUTE), 100.0, 101.0, 99.0, 7.0, 3.0]
