"""Ticker streams fed by tracked reads (the ``ticker_feed`` setting's default, ``tracked``): the
ticks come from the tickers hashes, read again when Redis reports a write to what was read (at
most once per ``stream_coalesce``), never from a subscription. A tick then costs Redis nothing
for the API: no message per tick per process, and reads bounded by the window whatever the
writes. Counted on a real Redis (INFO commandstats, PUBSUB NUMPAT), never timed."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, NamedTuple

import anyio
import httpx
import pytest
import redis
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from websockets.asyncio.client import connect

from fullon_cache_api import Settings, create_app

from support import (
    WRITTEN_AT,
    Clock,
    Event,
    events,
    expect,
    hub_of,
    next_event,
    serve_in_process,
)

pytestmark = pytest.mark.usefixtures("snapshot")
COALESCE = 0.2
REFUSED = "fullon_cache_api_local_cache_total"


def tick(price: float) -> str:
    return json.dumps({"price": price, "bid": price - 1, "ask": price + 1, "time": 1764100100.0})


def numpat(admin: redis.Redis) -> int:
    return int(admin.execute_command("PUBSUB", "NUMPAT"))


def reads(admin: redis.Redis) -> int:
    """Commands a ticker feed reads with, run so far (every client)."""
    stats = admin.info("commandstats")
    return sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in READS)


READS = ("hgetall", "hmget", "hlen", "hscan")


class Served(NamedTuple):
    app: Starlette
    http: httpx.AsyncClient


@asynccontextmanager
async def serving(settings: Settings, **changes: Any) -> AsyncIterator[Served]:
    """The app on a stopped clock (a tick's age is the same in every answer)."""
    changes = {"ticker_feed": "tracked", **changes}  # the default (tests: see PATIENT)
    settings = dataclasses.replace(settings, stream_coalesce=COALESCE, **changes)
    app = create_app(settings, clock=Clock(WRITTEN_AT + 30))
    async with serve_in_process(app) as base:
        url = base.replace("ws:", "http:")
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            yield Served(app, http)


@asynccontextmanager
async def served(settings: Settings, **changes: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with serving(settings, **changes) as both:
        yield both.http


@asynccontextmanager
async def following(http: httpx.AsyncClient, path: str) -> AsyncIterator[AsyncIterator[Event]]:
    async with http.stream("GET", path) as response:
        assert response.status_code == 200
        yield events(response)


async def tickers(stream: AsyncIterator[Event], count: int) -> list[dict[str, Any]]:
    """The data of the next ``count`` ticker events."""
    found = []
    while len(found) < count:
        event = await next_event(stream)
        assert event.name == "ticker", event
        found.append(event.data)
    return found


async def test_a_write_to_the_hash_alone_is_a_ticker_event_and_nothing_subscribes(
    settings, admin
) -> None:
    """No PUBLISH: the HSET is what the stream follows (as REST answers it), with no pattern
    subscribed for it."""
    async with (
        served(settings) as http,
        following(http, "/stream/tickers?exchange=binance") as stream,
    ):
        first = await next_event(stream)
        assert first.name == "snapshot"
        assert first.data == expect(await http.get("/tickers/binance"))
        assert numpat(admin) == 0
        admin.hset("tickers:binance", "BTC/USDT", tick(401.0))
        (event,) = await tickers(stream, 1)
        assert event == expect(await http.get("/tickers/binance/BTC/USDT"))
        assert (event["price"], event["bid"], event["ask"]) == (401.0, 400.0, 402.0)
        admin.hset("tickers:binance", "NEW/USDT", tick(5.0))  # a new symbol is an event too
        (event,) = await tickers(stream, 1)
        assert (event["symbol"], event["price"]) == ("NEW/USDT", 5.0)
        assert numpat(admin) == 0


async def test_a_burst_of_writes_is_the_newest_tick_of_each_symbol_for_bounded_reads(
    settings, admin
) -> None:
    """500 writes over two symbols while three streams follow the exchange: each stream ends
    with the newest tick of each, and the API read the hash a bounded number of times (one
    feed for the three, at most one read per window), not once a write."""
    async with (
        served(settings) as http,
        following(http, "/stream/tickers?exchange=binance") as one,
        following(http, "/stream/tickers?exchange=binance") as two,
        following(http, "/stream/tickers?exchange=binance") as three,
    ):
        for stream in (one, two, three):
            assert (await next_event(stream)).name == "snapshot"
        before = reads(admin)
        for n in range(1, 501):
            admin.hset("tickers:binance", "BTC/USDT" if n % 2 else "ETH/USDT", tick(n))
        for stream in (one, two, three):
            newest: dict[str, float] = {}
            with anyio.fail_after(30):
                while newest != {"BTC/USDT": 499.0, "ETH/USDT": 500.0}:
                    (event,) = await tickers(stream, 1)
                    newest[event["symbol"]] = event["price"]
        assert reads(admin) - before < 100, reads(admin) - before


async def test_named_symbols_read_only_them_and_see_only_them(settings, admin) -> None:
    async with (
        served(settings) as http,
        following(http, "/stream/tickers?exchange=binance&symbols=ETH/USDT") as stream,
    ):
        assert (await next_event(stream)).name == "snapshot"
        hmget = admin.info("commandstats").get("cmdstat_hmget", {}).get("calls", 0)
        admin.hset("tickers:binance", "BTC/USDT", tick(1.0))
        admin.hset("tickers:binance", "ETH/USDT", tick(2.0))
        (event,) = await tickers(stream, 1)
        assert (event["symbol"], event["price"]) == ("ETH/USDT", 2.0)
        assert admin.info("commandstats")["cmdstat_hmget"]["calls"] > hmget  # by HMGET


async def test_every_exchange_is_followed_without_an_exchange(settings, admin) -> None:
    async with (
        served(settings) as http,
        following(http, "/stream/tickers") as stream,
    ):
        assert (await next_event(stream)).name == "snapshot"
        admin.hset("tickers:kraken", "BTC/USD", tick(7.0))
        (event,) = await tickers(stream, 1)
        assert (event["exchange"], event["symbol"], event["price"]) == ("kraken", "BTC/USD", 7.0)
        admin.hset("tickers:binance", "BTC/USDT", tick(8.0))
        (event,) = await tickers(stream, 1)
        assert (event["exchange"], event["symbol"], event["price"]) == ("binance", "BTC/USDT", 8.0)


async def test_the_feed_stops_with_its_last_stream(settings, admin) -> None:
    """One feed (one watcher) for two streams of the exchange; it reads no more once the last
    has gone."""
    async with serving(settings) as (app, http):
        hub = hub_of(app)
        async with (
            following(http, "/stream/tickers?exchange=binance") as one,
            following(http, "/stream/tickers?exchange=binance") as two,
        ):
            for stream in (one, two):
                assert (await next_event(stream)).name == "snapshot"
            assert (hub.listeners, hub.pollers) == (2, 1)
        with anyio.fail_after(10):
            while hub.listeners or hub.pollers:
                await anyio.sleep(0.02)
        before = reads(admin)
        admin.hset("tickers:binance", "BTC/USDT", tick(9.0))
        await anyio.sleep(COALESCE * 3)
        assert reads(admin) == before


async def test_published_follows_every_publication(settings, admin) -> None:
    """``ticker_feed=published``: the stream subscribes to the publications, and sees each."""
    async with (
        served(settings, ticker_feed="published") as http,
        following(http, "/stream/tickers?exchange=binance") as stream,
    ):
        assert (await next_event(stream)).name == "snapshot"
        assert numpat(admin) == 2
        for price in (1.0, 2.0, 3.0):
            admin.publish("ticker_updates:binance:BTC/USDT", tick(price))
        assert [e["price"] for e in await tickers(stream, 3)] == [1.0, 2.0, 3.0]


async def test_without_tracking_the_stream_follows_the_publications(
    settings, admin, untracked
) -> None:
    """A Redis user that may not track: the local cache is off, and ticks come from the
    publications (once the refusal is known: the hub connects at start)."""
    refused = REGISTRY.get_sample_value(REFUSED, {"event": "refused"}) or 0.0
    async with serving(dataclasses.replace(settings, redis_url=untracked)) as (app, http):
        hub = hub_of(app)
        with anyio.fail_after(10):
            while (REGISTRY.get_sample_value(REFUSED, {"event": "refused"}) or 0.0) == refused:
                await anyio.sleep(0.02)
        async with following(http, "/stream/tickers?exchange=binance") as stream:
            assert (await next_event(stream)).name == "snapshot"
            assert numpat(admin) == 2 and hub.pollers == 0
            admin.publish("ticker_updates:binance:BTC/USDT", tick(3.0))
            (event,) = await tickers(stream, 1)
            assert event["price"] == 3.0


async def test_a_websocket_ticker_stream_follows_the_hash_too(settings, admin) -> None:
    """v0.2.6's ``stream_tickers``: its current tick, then a write to the hash alone (no
    PUBLISH) as a ``ticker_update``; nothing subscribes."""
    async with served(settings) as http:
        base = str(http.base_url).rstrip("/").replace("http:", "ws:")
        async with connect(f"{base}/ws/tickers/c1") as ws:
            params = {"exchange": "binance", "symbols": ["BTC/USDT"]}
            frame = {"action": "stream_tickers", "request_id": "s1", "params": params}
            await ws.send(json.dumps(frame))
            with anyio.fail_after(10):
                assert json.loads(await ws.recv())["success"] is True
                assert json.loads(await ws.recv())["result"]["price"] == 300.0  # its current tick
                admin.hset("tickers:binance", "BTC/USDT", tick(302.0))
                update = json.loads(await ws.recv())
            assert update["action"] == "ticker_update"
            assert (update["result"]["symbol"], update["result"]["price"]) == ("BTC/USDT", 302.0)
            assert numpat(admin) == 0
