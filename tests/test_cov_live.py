"""Watched streams' changes that only a snapshot can tell (fullon_cache_api.handlers.live), on
hypercorn serving the app on the test's loop and a real redis-server: a trade list consumed and
filled again, candles removed, replaced within the window or inserted before the last one; and
an account with neither balances nor positions."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
import redis

from fullon_cache_api import Settings, create_app

from support import expect, serve_in_process

pytestmark = [pytest.mark.usefixtures("snapshot"), pytest.mark.slow]
T0 = 1764098800000
MINUTE = 60_000


@pytest.fixture
async def http(settings: Settings, clock) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(dataclasses.replace(settings, ws_poll_interval=3600.0), clock=clock)
    async with serve_in_process(app) as base:
        url = base.replace("ws:", "http:")
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            yield client


async def events(response: httpx.Response) -> AsyncIterator[tuple[str, Any]]:
    """(event name, decoded data) per event; comments left out."""
    name, data = "", ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            data = line[6:]
        elif not line and data:
            yield name, json.loads(data)
            name, data = "", ""


@contextlib.asynccontextmanager
async def following(
    http: httpx.AsyncClient, path: str
) -> AsyncIterator[AsyncIterator[tuple[str, Any]]]:
    async with http.stream("GET", path) as response:
        assert response.status_code == 200
        yield events(response)


async def next_event(stream: AsyncIterator[tuple[str, Any]]) -> tuple[str, Any]:
    with anyio.fail_after(30):
        return await anext(stream)


def bar(ts: int, close: float = 1.5) -> list[float]:
    return [ts, 1.0, 2.0, 0.5, close, 9.0]


def trade(trade_id: int) -> str:
    return json.dumps({"trade_id": trade_id, "symbol": "BTC/USDT", "side": "buy", "volume": 1.0})


async def test_a_trade_list_consumed_and_filled_again_is_a_snapshot(http, admin) -> None:
    """What follows the trades seen is not what was seen (the list was consumed, then written
    again with more trades than it held): the listeners get a snapshot, equal to the REST
    twin's body."""
    key = "trades:binance:BTCUSDT"
    held = expect(await http.get("/trades/binance/BTC/USDT"))["count"]
    fresh = list(range(7001, 7001 + held + 2))
    async with following(http, "/stream/trades/binance/BTC/USDT") as stream:
        assert (await next_event(stream))[0] == "snapshot"
        pipe = admin.pipeline(transaction=True)
        pipe.delete(key)
        pipe.rpush(key, *(trade(i) for i in fresh))
        pipe.execute()
        name, data = await next_event(stream)
        assert name == "snapshot"
        assert data == expect(await http.get("/trades/binance/BTC/USDT"))
        assert [t["trade_id"] for t in data["items"]] == [str(i) for i in reversed(fresh)]


@pytest.mark.parametrize(
    ("change", "bars"),
    [
        pytest.param(lambda admin, key: admin.rpop(key), [0, 1, 2, 3], id="the last removed"),
        pytest.param(
            lambda admin, key: admin.lset(key, 2, json.dumps(bar(T0 + 10 * MINUTE))),
            [0, 1, 3, 4, 10],
            id="one within the window replaced by a newer one",
        ),
        pytest.param(
            lambda admin, key: admin.rpush(key, json.dumps(bar(T0 + MINUTE // 2))),
            [0, 0.5, 1, 2, 3, 4],
            id="a new one before the last",
        ),
    ],
)
async def test_candles_changed_other_than_appended_are_a_snapshot(
    http, admin: redis.Redis, change: Any, bars: list[float]
) -> None:
    key = "ohlcv:COV/USDT:1m"
    admin.rpush(key, *(json.dumps(bar(T0 + i * MINUTE)) for i in range(5)))
    async with following(http, "/stream/ohlcv/COV/USDT/1m") as stream:
        name, data = await next_event(stream)
        assert name == "snapshot" and len(data["bars"]) == 5
        change(admin, key)
        name, data = await next_event(stream)
        assert name == "snapshot"
        assert [(b[0] - T0) / MINUTE for b in data["bars"]] == bars
        assert data == expect(await http.get("/ohlcv/COV/USDT/1m"))


async def test_an_account_with_neither_balances_nor_positions(http, admin) -> None:
    """Its stream's snapshot holds null for each; its balances once written come as an
    event."""
    async with following(http, "/stream/accounts/99") as stream:
        name, data = await next_event(stream)
        assert (name, data) == ("snapshot", {"ex_id": "99", "balances": None, "positions": None})
        usdt = {"free": 1.0, "used": 0.0, "total": 1.0}
        admin.hset(
            "accounts", "99", json.dumps({"USDT": usdt, "date": "2026-11-26T05:00:00+00:00"})
        )
        name, data = await next_event(stream)
    assert name in ("snapshot", "balances.upsert")
    assert "USDT" in json.dumps(data)
