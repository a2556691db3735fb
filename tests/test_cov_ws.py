"""WebSocket edges (fullon_cache_api.ws), on hypercorn serving the app on the test's loop, a real
``websockets`` client and a real redis-server: a ticker stream outlives the hub's lost
connection, a stream behind by more than its bytes closes its socket (1013), a host hook that
fails refuses the socket, a gateway operation that is not a string, and a trade stream of more
lists than it follows, or whose last trade seen was consumed."""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

import anyio
import pytest
import redis
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from fullon_cache_api import Settings, create_app
from fullon_cache_api.redis_clients import end_streams
from fullon_cache_api.ws.tickers import RETRY_S
from fullon_cache_api.ws.trades import STREAM_LISTS

from support import PATIENT, newest_hub, prepare, reader_url, redis_process, serve_in_process

pytestmark = [pytest.mark.usefixtures("snapshot"), pytest.mark.slow]
TICK = {"price": 1.0, "bid": 0.5, "ask": 1.5, "last": 1.0, "volume": 2.0, "time": 1764100100.0}


async def ask(ws: ClientConnection, action: str, params: Any, rid: str = "s1") -> None:
    await ws.send(json.dumps({"action": action, "request_id": rid, "params": params}))


async def frame(ws: ClientConnection) -> dict[str, Any]:
    with anyio.fail_after(30):
        received: dict[str, Any] = json.loads(await ws.recv())
    return received


def trade(trade_id: int, symbol: str = "BTC/USDT") -> str:
    return json.dumps({"trade_id": trade_id, "symbol": symbol, "side": "buy", "volume": 1.0})


async def test_a_ticker_stream_outlives_the_hubs_lost_connection(settings, clock, admin) -> None:
    """The hub's connection killed: the socket's ticker stream subscribes again by itself, and
    a tick published once the hub is back reaches it; the socket stays open."""
    app = create_app(settings, clock=clock)
    async with serve_in_process(app) as base, connect(f"{base}/ws/tickers/c1") as ws:
        await ask(ws, "stream_tickers", {"exchange": "binance", "symbols": ["BTC/USDT"]})
        assert (await frame(ws))["success"] is True
        assert (await frame(ws))["result"]["symbol"] == "BTC/USDT"  # its current tick
        hub = newest_hub(admin)
        admin.client_kill_filter(_id=hub["id"])
        price = 1000.0
        with anyio.fail_after(60):
            while True:  # published until the stream, subscribed again, has one
                price += 1
                tick = json.dumps({**TICK, "price": price})
                admin.publish("ticker_updates:binance:BTC/USDT", tick)
                with anyio.move_on_after(0.2):
                    got = await ws.recv()
                    result = json.loads(got)["result"]
                    if result["price"] >= 1001.0:
                        break
        assert result["symbol"] == "BTC/USDT"
        await ask(ws, "get_ticker", {"exchange": "binance", "symbol": "ETH/USDT"}, "r1")
        with anyio.fail_after(30):
            while (reply := json.loads(await ws.recv()))["request_id"] != "r1":
                pass
        assert reply["success"] is True


async def test_a_stream_behind_by_more_than_its_bytes_closes_the_socket_1013(
    settings, clock, admin
) -> None:
    """400 symbols of 400-byte ticks at once to a stream of a socket that holds 2 updates and
    64 KiB a stream: even conflated its updates exceed the bound, and the socket is closed
    with 1013 ``client too slow``."""
    small = dataclasses.replace(settings, stream_queue=2, stream_queue_bytes=65536)
    app = create_app(small, clock=clock)
    async with serve_in_process(app) as base, connect(f"{base}/ws/tickers/c1") as ws:
        await ask(ws, "stream_tickers", {"exchange": "slowex", "symbols": []})
        assert (await frame(ws))["success"] is True
        # a stream of no symbol follows none: the 400 symbols are each named
        symbols = [f"S{i:03d}/USDT" for i in range(400)]
        await ask(ws, "stream_tickers", {"exchange": "slowex", "symbols": symbols}, "s2")
        assert (await frame(ws))["request_id"] == "s2"
        tick = json.dumps({**TICK, "pad": "x" * 400})
        pipe = admin.pipeline(transaction=False)
        for symbol in symbols:
            pipe.publish(f"ticker_updates:slowex:{symbol}", tick)
        pipe.execute()
        with anyio.fail_after(30), pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1013, "client too slow")


async def test_a_host_hook_that_fails_refuses_the_socket(settings, clock, caplog) -> None:
    async def hook(websocket: Any) -> bool:
        raise RuntimeError("the host's user store is down")

    app = create_app(settings, clock=clock, authenticate_websocket=hook)
    with caplog.at_level(logging.ERROR, logger="fullon.cache_api.ws"):
        async with serve_in_process(app) as base:
            with pytest.raises(InvalidStatus) as refused:
                async with connect(f"{base}/ws/tickers/c1"):
                    pass
    assert refused.value.response.status_code == 403
    assert any("authenticate_websocket hook failed" in r.getMessage() for r in caplog.records)


async def test_a_gateway_operation_that_is_not_a_string(settings, clock) -> None:
    app = create_app(settings, clock=clock)
    async with serve_in_process(app) as base, connect(f"{base}/ws") as ws:
        await ws.send(json.dumps({"operation": 7, "request_id": "g1"}))
        reply = await frame(ws)
    assert (reply["request_id"], reply["error_code"]) == ("g1", "INVALID_OPERATION")
    assert reply["error"].splitlines() == [
        "1 validation error for CacheRequest",
        "operation",
        "  Input should be a valid string",
    ]


async def test_a_trade_stream_of_more_lists_than_it_follows(
    settings, clock, admin: redis.Redis, caplog
) -> None:
    """An exchange with more trade lists than a stream follows: it streams the first ones and
    says once (not at every read) that the rest are left out."""
    pipe = admin.pipeline(transaction=False)
    for i in range(STREAM_LISTS + 5):
        pipe.rpush(f"trades:manyex:S{i:03d}USDT", trade(i, f"S{i:03d}/USDT"))
    pipe.execute()
    fast = dataclasses.replace(settings, ws_poll_interval=0.02)
    app = create_app(fast, clock=clock)
    with caplog.at_level(logging.WARNING, logger="fullon.cache_api.ws"):
        async with serve_in_process(app) as base, connect(f"{base}/ws/trades/c1") as ws:
            await ask(ws, "stream_trade_updates", {"exchange": "manyex"})
            assert (await frame(ws))["success"] is True
            first = [(await frame(ws))["result"] for _ in range(STREAM_LISTS)]
            later = []
            for i in (0, 1):  # each write read again: the lists left out are seen again
                admin.rpush(f"trades:manyex:S{i:03d}USDT", trade(1000 + i, f"S{i:03d}/USDT"))
                later.append((await frame(ws))["result"]["trade_id"])
    assert later == [1000, 1001]
    assert sorted(t["trade_id"] for t in first) == list(range(STREAM_LISTS))
    told = [r for r in caplog.records if "are streamed" in r.getMessage()]
    assert len(told) == 1


async def test_a_trade_stream_whose_last_trade_seen_was_consumed(settings, clock, admin) -> None:
    """The list consumed past the last trade sent and written again: every trade it holds now
    is new to the stream."""
    key = "trades:binance:ETHUSDT"
    admin.delete(key)
    admin.rpush(key, trade(1, "ETH/USDT"))
    fast = dataclasses.replace(settings, ws_poll_interval=0.02)
    app = create_app(fast, clock=clock)
    async with serve_in_process(app) as base, connect(f"{base}/ws/trades/c1") as ws:
        await ask(ws, "stream_trade_updates", {"exchange": "binance", "symbol": "ETH/USDT"})
        assert (await frame(ws))["success"] is True
        assert (await frame(ws))["result"]["trade_id"] == 1
        pipe = admin.pipeline(transaction=True)
        pipe.delete(key)
        pipe.rpush(key, trade(2, "ETH/USDT"), trade(3, "ETH/USDT"))
        pipe.execute()
        ids = [(await frame(ws))["result"]["trade_id"] for _ in range(2)]
    assert ids == [2, 3]


async def test_a_host_hook_may_accept_the_socket_itself(settings, clock) -> None:
    """A hook that accepts the socket (and sets its user): the session does not accept it
    again, and serves it."""

    async def hook(websocket: Any) -> bool:
        await websocket.accept()
        return True

    app = create_app(settings, clock=clock, authenticate_websocket=hook)
    async with serve_in_process(app) as base, connect(f"{base}/ws/tickers/c1") as ws:
        await ask(ws, "get_ticker", {"exchange": "binance", "symbol": "BTC/USDT"}, "r1")
        reply = await frame(ws)
    assert (reply["request_id"], reply["success"]) == ("r1", True)
    assert reply["result"]["symbol"] == "BTC/USDT"


async def test_a_ticker_stream_subscribes_again_after_redis_was_down(clock) -> None:
    """Redis stopped for longer than the stream's retry: its tries to subscribe again fail
    meanwhile; started again, the stream subscribes and gets the ticks published then."""
    with redis_process() as server:
        settings = Settings(redis_url=reader_url(server), **PATIENT)
        app = create_app(settings, clock=clock)
        async with serve_in_process(app) as base, connect(f"{base}/ws/tickers/c1") as ws:
            await ask(ws, "stream_tickers", {"exchange": "binance", "symbols": ["BTC/USDT"]})
            assert (await frame(ws))["success"] is True
            assert (await frame(ws))["result"]["symbol"] == "BTC/USDT"
            await anyio.to_thread.run_sync(server.stop)
            await anyio.sleep(3 * RETRY_S)  # several tries to subscribe again, in vain
            await anyio.to_thread.run_sync(lambda: prepare(server.start()))
            with redis.Redis(port=server.port) as admin:
                price = 2000.0
                with anyio.fail_after(60):
                    while True:  # published until the stream, subscribed again, has one
                        price += 1
                        admin.publish(
                            "ticker_updates:binance:BTC/USDT", json.dumps({**TICK, "price": price})
                        )
                        with anyio.move_on_after(0.2):
                            result = json.loads(await ws.recv())["result"]
                            if result["price"] > 2000.0:
                                break
    assert result["symbol"] == "BTC/USDT"


async def test_open_sockets_are_closed_going_away_when_the_server_stops(settings, clock) -> None:
    """The server's stop ends the streams (``end_streams``): a socket with a ticker stream is
    closed with 1001."""
    app = create_app(settings, clock=clock)
    async with serve_in_process(app) as base, connect(f"{base}/ws/tickers/c1") as ws:
        await ask(ws, "stream_tickers", {"exchange": "binance", "symbols": ["BTC/USDT"]})
        assert (await frame(ws))["success"] is True
        await end_streams(app)
        with anyio.fail_after(30), pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1001, "server shutting down")


async def test_an_exchange_trade_stream_sends_every_trade_of_a_new_list(
    settings, clock, admin
) -> None:
    """A list created after an exchange's trade stream began (a key no read asked for, found by
    the key index's next walk): each of its trades is new."""
    admin.rpush("trades:newlistex:AUSDT", trade(1, "A/USDT"))
    app = create_app(dataclasses.replace(settings, index_walk_interval=0.2), clock=clock)
    async with serve_in_process(app) as base, connect(f"{base}/ws/trades/c1") as ws:
        await ask(ws, "stream_trade_updates", {"exchange": "newlistex"})
        assert (await frame(ws))["success"] is True
        assert (await frame(ws))["result"]["trade_id"] == 1
        admin.rpush("trades:newlistex:BUSDT", trade(2, "B/USDT"), trade(3, "B/USDT"))
        new = [(await frame(ws))["result"] for _ in range(2)]
    assert [(t["symbol"], t["trade_id"]) for t in new] == [("B/USDT", 2), ("B/USDT", 3)]
