"""Every stream of the v0.2.6 protocol over the wire: hypercorn serving the app on the test's
event loop (so the stream hub can be looked at), a real ``websockets`` client, real Redis
written as fullon_cache writes it.

Each stream: its confirmation, its current state at once (no write needed), an update after a
write, and no update without a change (after several poll intervals with nothing written, the
next message is the one the write caused). Streams are the socket's own, share one poller per
distinct read, and leave no task, poller or subscription behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections import Counter
from collections.abc import AsyncIterator, Collection
from typing import Any, NamedTuple

import anyio
import httpx
import pytest
import redis
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from fullon_cache_api import Settings, create_app
from fullon_cache_api.demo.redis_server import RedisServer

from support import (
    GENERATED_AT,
    api_connection_ids,
    expect,
    hub_of,
    new_api_clients,
    serve_in_process,
    set_ticker,
)

pytestmark = [pytest.mark.usefixtures("snapshot"), pytest.mark.slow]
POLL_S = 0.05
SETTLE_S = 10 * POLL_S  # several polls with nothing written


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return dataclasses.replace(settings, ws_poll_interval=POLL_S)


class Served(NamedTuple):
    app: Starlette
    base: str
    older: frozenset[str]
    """The ids of the API connections on the server before this app started (an app an
    earlier test mounted without a lifespan keeps its own until collected)."""


@pytest.fixture
async def served(fast: Settings, clock, redis_server: RedisServer) -> AsyncIterator[Served]:
    older = api_connection_ids(redis_server)
    app = create_app(fast, clock=clock)
    async with serve_in_process(app) as base:
        yield Served(app, base, older)


async def request(ws: ClientConnection, action: str, params: Any = None, rid: Any = "s1") -> None:
    await ws.send(json.dumps({"action": action, "request_id": rid, "params": params or {}}))


async def recv(ws: ClientConnection) -> dict[str, Any]:
    with anyio.fail_after(5):
        frame: dict[str, Any] = json.loads(await ws.recv())
    return frame


def confirmation(action: str, message: str, key: str = "c1:s1", rid: Any = "s1") -> dict[str, Any]:
    return {
        "request_id": rid,
        "action": action,
        "success": True,
        "message": message,
        "stream_key": key,
    }


async def updates(ws: ClientConnection, count: int, action: str) -> list[dict[str, Any]]:
    """The results of the next ``count`` frames, each a stream message of ``action``."""
    results = []
    for _ in range(count):
        frame = await recv(ws)
        assert frame.keys() == {"request_id", "action", "result"}, frame
        assert frame["action"] == action, frame
        results.append(frame["result"])
    return results


async def settle() -> None:
    await anyio.sleep(SETTLE_S)


def numpat(admin: redis.Redis) -> int:
    return int(admin.execute_command("PUBSUB", "NUMPAT"))


def our_tasks() -> list[str]:
    """The app's tasks on this loop (sessions, streams, pollers, the hub's subscription)."""
    return sorted(
        task.get_coro().__qualname__  # type: ignore[union-attr]
        for task in asyncio.all_tasks()
        if "fullon_cache_api" in task.get_coro().cr_code.co_filename  # type: ignore[union-attr]
    )


def patterns(server: RedisServer, known: Collection[str]) -> int:
    """The patterns the API's connections subscribe to, but the ``known`` ones'."""
    return sum(int(c["psub"]) for c in new_api_clients(server, known))


def subscribers(server: RedisServer, known: Collection[str]) -> int:
    """The API's connections that hold a subscription, but the ``known`` ones."""
    return sum(1 for c in new_api_clients(server, known) if int(c["psub"]) + int(c["sub"]) > 0)


# tickers: fullon_cache's publications -------------------------------------------------------


async def test_ticker_stream(served, admin) -> None:
    base = served.base
    async with connect(f"{base}/ws/tickers/c1") as ws:
        await request(
            ws, "stream_tickers", {"exchange": "binance", "symbols": ["ETH/USDT", "BTC/USDT"]}
        )
        assert await recv(ws) == confirmation(
            "stream_tickers", "Streaming started for 2 symbols on binance"
        )
        first = await updates(ws, 2, "ticker_update")
        await request(ws, "get_all_tickers", {"exchange": "binance"}, "all")
        listed = (await recv(ws))["result"]["tickers"]
        assert [t["symbol"] for t in listed] == ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
        assert first == [{"stream_key": "c1:s1", **t} for t in listed[:2]]  # by symbol
        assert (first[0]["price"], first[1]["bid"]) == (300.0, 399.75)
        assert numpat(admin) == 2  # the hub's two patterns, whatever the symbols
        same = {"price": 300.0, "volume": 10.0, "time": 1764100000.0, "bid": 299.5, "ask": 300.5}
        set_ticker(admin, "binance", "BTC/USDT", last=300.0, **same)  # no change
        set_ticker(admin, "binance", "SOL/USDT", price=1.0, time=1764100100.0)  # not followed
        set_ticker(admin, "kraken", "ETH/USDT", price=2.0, time=1764100100.0)  # other exchange
        set_ticker(admin, "binance", "ETH/USDT", price=401.0, volume=12.0, time=1764100100.0)
        (changed,) = await updates(ws, 1, "ticker_update")
        assert (changed["symbol"], changed["price"], changed["volume"], changed["bid"]) == (
            "ETH/USDT",
            401.0,
            12.0,
            None,
        )
        assert changed["timestamp"] == 1764100100.0
        admin.publish("ticker_updates:binance:BTC/USDT", "{corrupt")  # dropped, counted
        set_ticker(admin, "binance", "BTC/USDT", price=302.0, time=1764100101.0)
        (after,) = await updates(ws, 1, "ticker_update")
        assert (after["symbol"], after["price"]) == ("BTC/USDT", 302.0)


async def test_no_symbols_streams_nothing_as_in_v026(served, admin, redis_server) -> None:
    base = served.base
    async with connect(f"{base}/ws/tickers/c1") as ws:
        await request(ws, "stream_tickers", {"exchange": "binance"})
        assert await recv(ws) == confirmation(
            "stream_tickers", "Streaming started for 0 symbols on binance"
        )
        assert patterns(redis_server, served.older) == 0  # nothing followed: no publication
        set_ticker(admin, "binance", "BTC/USDT", price=1.0, time=1.0)
        await request(ws, "get_ticker", {"exchange": "binance", "symbol": "BTC/USDT"}, "next")
        reply = await recv(ws)  # the next frame is the reply: the publication sent nothing
        assert (reply["request_id"], reply["result"]["price"]) == ("next", 1.0)


# polled streams -----------------------------------------------------------------------------


def position_doc(btc_volume: float) -> str:
    """ex_id 1's positions as fullon_cache's upsert_positions writes them (whole document)."""
    return json.dumps(
        {
            "BTC/USDT": {
                "cost": 1000.0,
                "volume": btc_volume,
                "fee": 1.0,
                "count": 1,
                "price": 300.0,
                "timestamp": 1764100000.0,
            },
            "timestamp": "2026-11-26T05:00:00+00:00",
        }
    )


async def test_position_stream(served, admin) -> None:
    base = served.base
    async with connect(f"{base}/ws/accounts/c1") as ws:
        await request(ws, "stream_positions", {"exchange": "1"})
        assert await recv(ws) == confirmation(
            "stream_positions", "Streaming started for exchange 1"
        )
        initial = await updates(ws, 2, "position_update")
        await request(ws, "get_positions", {"exchange": "1"}, "get")
        listed = (await recv(ws))["result"]["positions"]
        assert [p["symbol"] for p in listed] == ["BTC/USDT", "ETH/USDT"]
        assert initial == [{"stream_key": "c1:s1", "user_id": None, **p} for p in listed]
        await settle()
        admin.hset("account_positions", "1", position_doc(-0.5))
        (changed,) = await updates(ws, 1, "position_update")
        assert (changed["symbol"], changed["side"], changed["size"]) == ("BTC/USDT", "short", 0.5)
    async with connect(f"{base}/ws/accounts/c2") as ws:
        await request(ws, "stream_positions", {"user_id": 7}, "u")
        assert await recv(ws) == confirmation(
            "stream_positions", "Streaming started for user 7", "c2:u", "u"
        )
        every = await updates(ws, 4, "position_update")  # ex_id 1 (now one), 2 (two), 3 (one)
        assert [(u["exchange"], u["symbol"]) for u in every] == [
            ("1", "BTC/USDT"),
            ("2", "BTC/USD"),
            ("2", "ETH/USD"),
            ("3", "BTC/USDC:USDC"),
        ]


ORDER = {"symbol": "XRP/USDT", "side": "buy", "volume": 1.0, "status": "open"}


async def test_order_queue_stream(served, admin, clock) -> None:
    base = served.base
    async with connect(f"{base}/ws/orders/c1") as ws:
        await request(ws, "stream_order_queue", {"exchange": "binance"})
        assert await recv(ws) == confirmation("stream_order_queue", "Streaming started for binance")
        assert await updates(ws, 1, "queue_update") == [
            {
                "stream_key": "c1:s1",
                "exchange": "binance",
                "queue_length": 3,
                "timestamp": clock.now,
            }
        ]
        await settle()
        admin.hset("order_status:binance", "BINANCE-00009", json.dumps(ORDER))
        (grown,) = await updates(ws, 1, "queue_update")
        assert grown["queue_length"] == 4


async def test_bot_stream_of_one_bot_and_of_all(served, admin, clock) -> None:
    base = served.base
    feeds = {"feed_0": {"status": "stopped", "timestamp": "2026-11-26T05:00:00+00:00"}}
    async with connect(f"{base}/ws/bots/c1") as ws:
        await request(ws, "stream_bot_status", {"bot_id": 41})
        assert await recv(ws) == confirmation("stream_bot_status", "Streaming started for bot 41")
        (one,) = await updates(ws, 1, "bot_update")
        assert list(one) == ["stream_key", "bots", "timestamp"] and list(one["bots"]) == ["41"]
        assert one["bots"]["41"]["feed_0"]["status"] == "running"
        assert one["timestamp"] == clock.now
        await request(ws, "stream_bot_status", None, "all")
        assert await recv(ws) == confirmation(
            "stream_bot_status", "Streaming started", "c1:all", "all"
        )
        (every,) = await updates(ws, 1, "bot_update")
        assert list(every["bots"]) == ["41", "42", "43"]
        await settle()
        admin.hset("bot_status", "41", json.dumps(feeds))  # as fullon_cache's update_bot
        changed = {frame["stream_key"]: frame for frame in await updates(ws, 2, "bot_update")}
        assert changed["c1:s1"]["bots"] == {"41": feeds}
        assert changed["c1:all"]["bots"]["41"] == feeds and len(changed["c1:all"]["bots"]) == 3
        await request(ws, "stream_bot_status", {"bot_id": "77"}, "gone")
        assert (await recv(ws))["stream_key"] == "c1:gone"
        assert (await updates(ws, 1, "bot_update"))[0]["bots"] == {}


def trade(trade_id: int, symbol: str = "BTC/USDT") -> str:
    return json.dumps(
        {
            "trade_id": trade_id,
            "symbol": symbol,
            "side": "sell",
            "volume": 0.5,
            "price": 301.0,
            "time": "2025-11-25T20:00:00+00:00",
        }
    )


async def test_trade_stream_sends_what_is_new_and_never_consumes(served, admin) -> None:
    base = served.base
    key = "trades:binance:BTCUSDT"
    async with connect(f"{base}/ws/trades/c1") as ws:
        await request(ws, "stream_trade_updates", {"exchange": "binance", "symbol": "BTC/USDT"})
        assert await recv(ws) == confirmation(
            "stream_trade_updates", "Streaming started for binance symbol=BTC/USDT"
        )
        assert await updates(ws, 1, "trade_update") == [
            {
                "stream_key": "c1:s1",
                "symbol": "BTC/USDT",
                "exchange": "binance",
                "side": "buy",
                "volume": 0.03,
                "price": 300.0,
                "timestamp": 1764100002.0,
                "trade_id": 5002,
            }
        ]
        await settle()
        admin.rpush(key, trade(5003), trade(5004))  # fullon_cache's push_trade, twice
        new = await updates(ws, 2, "trade_update")
        assert [(t["trade_id"], t["side"], t["timestamp"]) for t in new] == [
            (5003, "sell", 1764100800.0),
            (5004, "sell", 1764100800.0),
        ]
        admin.lpop(key, 4)  # a consumer pops the old ones; a new one comes
        admin.rpush(key, trade(5005))
        assert [t["trade_id"] for t in await updates(ws, 1, "trade_update")] == [5005]
    assert [json.loads(t)["trade_id"] for t in admin.lrange(key, 0, -1)] == [5004, 5005]


async def test_trade_stream_without_symbol_follows_every_list_of_the_exchange(
    served, admin
) -> None:
    base = served.base
    async with connect(f"{base}/ws/trades/c1") as ws:
        await request(ws, "stream_trade_updates", {"exchange": "kraken"})
        assert await recv(ws) == confirmation(
            "stream_trade_updates", "Streaming started for kraken"
        )
        initial = await updates(ws, 2, "trade_update")  # the last trade of each list
        assert [t["symbol"] for t in initial] == ["BTC/USD", "ETH/USD"]
        await settle()
        admin.rpush("trades:kraken:ETHUSD", trade(7000, "ETH/USD"))
        admin.rpush("trades:krakenx:ETHUSD", trade(7001, "ETH/USD"))  # another exchange
        (new,) = await updates(ws, 1, "trade_update")
        assert (new["trade_id"], new["symbol"], new["exchange"]) == (7000, "ETH/USD", "kraken")


async def test_ohlcv_stream(served, admin) -> None:
    base = served.base
    async with connect(f"{base}/ws/ohlcv/c1") as ws:
        await request(ws, "stream_ohlcv", {"symbol": "BTC/USDT", "timeframe": "1m"})
        assert await recv(ws) == confirmation("stream_ohlcv", "Streaming started for BTC/USDT 1m")
        assert await updates(ws, 1, "ohlcv_update") == [
            {
                "stream_key": "c1:s1",
                "symbol": "BTC/USDT",
                "timeframe": "1m",
                "bar": [1764099940000.0, 119.0, 120.0, 118.0, 119.5, 22.0],
            }
        ]
        await request(ws, "stream_ohlcv", {"symbol": "NEW/USDT", "timeframe": "1m"}, "new")
        assert (await recv(ws))["stream_key"] == "c1:new"  # no bar yet: nothing sent
        await settle()
        admin.rpush("ohlcv:NEW/USDT:1m", json.dumps([1764100000000.0, 1, 2, 0.5, 1.5, 9]))
        (bar,) = await updates(ws, 1, "ohlcv_update")
        assert (bar["stream_key"], bar["bar"]) == ("c1:new", [1764100000000.0, 1, 2, 0.5, 1.5, 9])


async def test_process_health_stream(served, admin, clock) -> None:
    base = served.base
    clock.now = GENERATED_AT + 30
    async with connect(f"{base}/ws/process/c1") as ws:
        await request(ws, "stream_process_health")
        assert await recv(ws) == confirmation(
            "stream_process_health", "Streaming started for process health"
        )
        assert await updates(ws, 1, "process_health_update") == [
            {"stream_key": "c1:s1", "active_processes": 4, "timestamp": clock.now}
        ]
        await settle()
        pid = "tick:binance:XRP/USDT:1795668790.0"  # fullon_cache's register_process
        record = {"process_id": pid, "process_type": "tick", "status": "running"}
        admin.set(f"process:data:{pid}", json.dumps(record), ex=86400)
        admin.hset("process:active:tick", pid, "2026-11-26T04:53:10+00:00")
        (grown,) = await updates(ws, 1, "process_health_update")
        assert grown["active_processes"] == 5


# streams belong to their socket --------------------------------------------------------------


async def test_two_clients_with_one_connection_id_are_independent(served, admin) -> None:
    base, hub = served.base, hub_of(served.app)
    async with connect(f"{base}/ws/orders/same") as one, connect(f"{base}/ws/orders/same") as two:
        for ws in (one, two):
            await request(ws, "stream_order_queue", {"exchange": "binance"})
            assert (await recv(ws))["stream_key"] == "same:s1"
            assert (await updates(ws, 1, "queue_update"))[0]["queue_length"] == 3
        assert hub.pollers == 1  # one read, however many sockets stream it
        await one.close()
        await settle()
        admin.hset("order_status:binance", "BINANCE-00009", json.dumps(ORDER))
        assert (await updates(two, 1, "queue_update"))[0]["queue_length"] == 4


def calls(admin: redis.Redis) -> Counter[str]:
    stats: dict[str, Any] = admin.info("commandstats")
    return Counter({name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()})


@pytest.mark.parametrize("local_cache", [False, True], ids=["uncached", "cached"])
async def test_redis_work_does_not_grow_with_sockets(fast, clock, admin, local_cache) -> None:
    """20 sockets on one order count: one HLEN per poll interval at most, whatever the sockets
    (a poller sleeps an interval after each read), and none at all while the local cache holds
    the unchanged count; 20 sockets on one ticker: no command while the ticker is written and
    every socket gets every update."""
    app = create_app(dataclasses.replace(fast, local_cache=local_cache), clock=clock)
    async with contextlib.AsyncExitStack() as stack:
        base = await stack.enter_async_context(serve_in_process(app))
        polled = [
            await stack.enter_async_context(connect(f"{base}/ws/orders/p{i}")) for i in range(20)
        ]
        ticker = [
            await stack.enter_async_context(connect(f"{base}/ws/tickers/t{i}")) for i in range(20)
        ]
        for ws in polled:
            await request(ws, "stream_order_queue", {"exchange": "binance"})
            await recv(ws)
            await updates(ws, 1, "queue_update")
        for ws in ticker:
            await request(ws, "stream_tickers", {"exchange": "binance", "symbols": ["BTC/USDT"]})
            await recv(ws)
            await updates(ws, 1, "ticker_update")
        before = calls(admin)
        for price in range(5):
            set_ticker(admin, "binance", "BTC/USDT", price=float(price), time=1.0)
        for ws in ticker:
            got = await updates(ws, 5, "ticker_update")
            assert [u["price"] for u in got] == [0.0, 1.0, 2.0, 3.0, 4.0]
        await settle()
        made = calls(admin) - before
    window_polls = 2 + SETTLE_S / POLL_S  # an upper bound: the window is longer than SETTLE_S
    del made["info"], made["hset"], made["set"], made["publish"]  # this test's own
    made.pop("ping", None)  # the hub's heartbeat, one per process
    # a connection opened meanwhile (the pool's when the heartbeat and a poll overlap, the
    # hub's again after a heartbeat lost under load: both seen) is its handshake (HELLO or
    # AUTH, CLIENT SETNAME...): a few such commands, never one per socket (20 here)
    handshake = sum(made.pop(name, 0) for name in ("hello", "auth", "client"))
    assert handshake <= 6, made
    if local_cache:
        assert not made, made  # the count is unchanged: the poller reads the local cache
    else:
        assert set(made) == {"hlen"}, made  # and nothing for the ticker streams
        assert 0 < made["hlen"] <= 2 * window_polls  # not 20 per interval


async def test_a_repeated_request_id_replaces_its_stream(served, admin) -> None:
    base, hub = served.base, hub_of(served.app)
    async with connect(f"{base}/ws/orders/c1") as ws:
        await request(ws, "stream_order_queue", {"exchange": "binance"})
        await recv(ws)
        assert (await updates(ws, 1, "queue_update"))[0]["exchange"] == "binance"
        await request(ws, "stream_order_queue", {"exchange": "kraken"})
        assert await recv(ws) == confirmation("stream_order_queue", "Streaming started for kraken")
        (initial,) = await updates(ws, 1, "queue_update")
        assert (initial["exchange"], initial["queue_length"]) == ("kraken", 3)
        assert hub.pollers == 1  # binance's poller stopped with its only listener
        admin.hset("order_status:binance", "BINANCE-00009", json.dumps(ORDER))
        await settle()
        admin.hset("order_status:kraken", "KRAKEN-00009", json.dumps(ORDER))
        (kraken,) = await updates(ws, 1, "queue_update")  # nothing came from binance's
        assert (kraken["exchange"], kraken["queue_length"]) == ("kraken", 4)


async def test_closing_leaves_no_task_poller_or_subscription(served, admin, redis_server) -> None:
    base, hub = served.base, hub_of(served.app)
    async with httpx.AsyncClient(base_url=base.replace("ws:", "http:"), timeout=60) as http:
        expect(await http.get("/health"))  # the loop's own tasks (its deadlines' watch,
        expect(await http.get("/processes"))  # the key index's walker) exist

    def counts() -> tuple[int, int, int, int]:
        return hub.pollers, hub.listeners, numpat(admin), subscribers(redis_server, served.older)

    before, tasks = counts(), our_tasks()
    streams = [
        ("/ws/tickers/a", "stream_tickers", {"exchange": "binance", "symbols": ["BTC/USDT"]}),
        ("/ws/orders/a", "stream_order_queue", {"exchange": "binance"}),
        ("/ws/bots/a", "stream_bot_status", {}),
        ("/ws/process/a", "stream_process_health", {}),
    ]
    sockets = [await connect(base + path) for path, _, _ in streams]
    for ws, (_, action, params) in zip(sockets, streams, strict=True):
        await request(ws, action, params)
        assert (await recv(ws))["success"] is True
    assert counts() == (3, 1, 2, 1)
    assert our_tasks().count("Session._follow") == 4 and our_tasks().count("StreamHub._poll") == 3
    async with httpx.AsyncClient(base_url=base.replace("ws:", "http:"), timeout=60) as http:
        metrics = (await http.get("/metrics")).text
    assert "fullon_cache_api_ws_sockets 4.0" in metrics
    assert "fullon_cache_api_ws_streams 4.0" in metrics
    assert "fullon_cache_api_pollers 3.0" in metrics
    for ws in sockets:
        await ws.close()
    with anyio.fail_after(5):
        while counts() != before:  # and the hub's connection is closed
            await anyio.sleep(0.02)
        while our_tasks() != tasks:
            await anyio.sleep(0.02)
    async with httpx.AsyncClient(base_url=base.replace("ws:", "http:"), timeout=60) as http:
        metrics = (await http.get("/metrics")).text
    assert "fullon_cache_api_ws_sockets 0.0" in metrics
    assert "fullon_cache_api_ws_streams 0.0" in metrics
    assert "fullon_cache_api_pollers 0.0" in metrics


# bounds ------------------------------------------------------------------------------------


async def test_streams_per_socket_and_sockets_per_process_are_bounded(fast, clock) -> None:
    app = create_app(dataclasses.replace(fast, ws_max_streams=2, ws_max_sockets=2), clock=clock)
    async with serve_in_process(app) as base:
        async with connect(f"{base}/ws/orders/c1") as ws, connect(f"{base}/ws/orders/c2"):
            for rid in ("a", "b", "a"):  # replacing "a" takes no new slot
                await request(ws, "stream_order_queue", {"exchange": "binance"}, rid)
                assert (await recv(ws))["success"] is True
                await updates(ws, 1, "queue_update")
            await request(ws, "stream_order_queue", {"exchange": "binance"}, "c")
            assert await recv(ws) == {
                "request_id": "c",
                "success": False,
                "error_code": "TOO_MANY_STREAMS",
                "error": "at most 2 streams per socket",
            }
            with pytest.raises(InvalidStatus) as refused:  # before accept: HTTP 403
                await connect(f"{base}/ws/orders/c3")
            assert refused.value.response.status_code == 403
        async with connect(f"{base}/ws/orders/c3") as ws:  # slots given back
            await request(ws, "get_queue_length", {"exchange": "binance"}, "q")
            assert (await recv(ws))["result"]["queue_length"] == 3


async def test_whole_cache_reads_wait_for_the_heavy_limit(fast, clock) -> None:
    """get_system_health reads every process, as /processes/health does: it waits for one of the
    process's heavy_concurrency slots (shared with the heavy REST routes)."""
    app = create_app(dataclasses.replace(fast, heavy_concurrency=1), clock=clock)
    async with serve_in_process(app) as base, connect(f"{base}/ws/process/c1") as ws:
        heavy = app.state.backend.resources().heavy
        async with heavy:  # a heavy REST answer being worked out
            await request(ws, "get_system_health", rid="h")
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):
                    await ws.recv()
        assert (await recv(ws))["success"] is True


async def test_a_slow_reader_loses_its_oldest_messages_counted(fast, clock, admin) -> None:
    """A client that stops reading: the kernel's buffers fill, then the socket's outbox, which
    keeps its newest 10 messages; the drops are counted in /metrics."""
    app = create_app(dataclasses.replace(fast, ws_queue=10), clock=clock)
    async with (
        serve_in_process(app) as base,
        connect(f"{base}/ws/tickers/c1", max_queue=1, compression=None) as ws,
    ):
        params = {"exchange": "binance", "symbols": ["BTC/USDT"]}
        await request(ws, "stream_tickers", params)
        await recv(ws)
        await recv(ws)
        pad = "x" * 2000
        async with httpx.AsyncClient(base_url=base.replace("ws:", "http:"), timeout=60) as http:
            dropped = 0.0
            price = 0
            with anyio.fail_after(30):
                while dropped == 0:
                    pipe = admin.pipeline(transaction=False)
                    for _ in range(500):
                        price += 1
                        tick = {"price": price, "time": 1.0, "pad": pad}
                        pipe.publish("ticker_updates:binance:BTC/USDT", json.dumps(tick))
                    pipe.execute()
                    await anyio.sleep(0.05)
                    for line in (await http.get("/metrics")).text.splitlines():
                        if line.startswith("fullon_cache_api_ws_dropped_messages_total"):
                            dropped = float(line.split()[1])
        last = price
        seen: list[int] = []
        with anyio.fail_after(30):  # reading again: the newest update arrives in the end
            while not seen or seen[-1] != last:
                seen.append((await recv(ws))["result"]["price"])
    # what the buffers held, then a gap (the drops), then the outbox: the newest 10, in order
    assert seen[-10:] == list(range(last - 9, last + 1)), seen[-20:]
    assert seen == sorted(seen) and len(seen) < last, (len(seen), last)


async def test_an_idle_socket_is_closed_one_with_a_stream_is_not(fast, clock, admin) -> None:
    app = create_app(dataclasses.replace(fast, ws_idle_timeout=0.3), clock=clock)
    async with (
        serve_in_process(app) as base,
        connect(f"{base}/ws/orders/idle") as idle,
        connect(f"{base}/ws/orders/s") as ws,
    ):
        await request(ws, "stream_order_queue", {"exchange": "binance"})
        await recv(ws)
        await updates(ws, 1, "queue_update")
        with anyio.fail_after(5), pytest.raises(ConnectionClosed) as closed:
            await idle.recv()
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1000, "idle timeout")
        await anyio.sleep(0.5)  # beyond the idle timeout
        admin.hset("order_status:binance", "BINANCE-00009", json.dumps(ORDER))
        assert (await updates(ws, 1, "queue_update"))[0]["queue_length"] == 4


# the /ws gateway streams too ----------------------------------------------------------------


async def test_the_gateway_streams_in_its_envelope(served, admin, clock) -> None:
    base = served.base
    async with connect(f"{base}/ws") as ws:
        frame = {
            "operation": "stream_order_queue",
            "request_id": "g",
            "params": {"exchange": "kraken"},
        }
        await ws.send(json.dumps(frame))
        started = await recv(ws)
        assert started["success"] is True and started["request_id"] == "g"
        assert started["result"]["message"] == "Streaming started for kraken"
        assert started["result"]["stream_key"].endswith(":g")
        update = await recv(ws)
        assert update == {
            "request_id": "g",
            "action": "queue_update",
            "success": True,
            "result": {
                "stream_key": started["result"]["stream_key"],
                "exchange": "kraken",
                "queue_length": 3,
                "timestamp": clock.now,
            },
            "error": None,
            "error_code": None,
            "timestamp": clock.now,
        }
