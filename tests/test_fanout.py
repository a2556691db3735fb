"""Fan-out a client cannot stall, memory and slots that belong to live clients (issue 17).

Real redis-server, real hypercorn processes, and clients that never read written on raw
sockets (a small receive buffer, so the server meets their backpressure at once). Nothing here
asserts a duration: counts, bytes, close codes and order, with generous deadlines only where a
deadline is the behaviour.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import httpx
import pytest
import redis
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from fullon_cache_api import Settings
from fullon_cache_api.envelopes import MAX_ID
from fullon_cache_api.hub import SlowClient, StreamHub
from fullon_cache_api.redis_clients import connect as redis_connect
from fullon_cache_api.redis_clients import single_connection_pool

from support import newest_hub, reader_url, serve_api

pytestmark = pytest.mark.slow

TICK = {"price": 1.0, "bid": 0.5, "ask": 1.5, "volume": 3.0, "time": 1764100000.0}
SYMBOLS = [f"S{i}/USDT" for i in range(100)]
ROUNDS = 40


# helpers ------------------------------------------------------------------------------------


def metric(base: str, name: str, **labels: str) -> float:
    """One sample of /metrics (0 when absent)."""
    text = httpx.get(base + "/metrics", timeout=10).text
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        found = dict(re.findall(r'(\w+)="([^"]*)"', head))
        if head.split("{")[0] == name and found == labels:
            return float(value)
    return 0.0


def wait_until(check: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "not within the deadline"
        time.sleep(0.05)


def ws_handshake(port: int, path: str) -> socket.socket:
    """A WebSocket opened by hand on a socket with a small receive buffer, that reads nothing
    unless told to."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: api\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        chunk = sock.recv(1)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def ws_frame(message: Any) -> bytes:
    """A masked text frame of ``message`` as JSON."""
    data = json.dumps(message).encode()
    mask = os.urandom(4)
    size = len(data)
    if size < 126:
        head = struct.pack("!BB", 0x81, 0x80 | size)
    elif size < 65536:
        head = struct.pack("!BBH", 0x81, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x81, 0x80 | 127, size)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def ws_frames(sock: socket.socket) -> Iterator[tuple[int, bytes]]:
    """(opcode, payload) of every frame until the close frame or the connection's end."""
    sock.settimeout(30)
    buffer = b""

    def need(count: int) -> bool:
        nonlocal buffer
        while len(buffer) < count:
            chunk = sock.recv(1 << 20)
            if not chunk:
                return False
            buffer += chunk
        return True

    with contextlib.suppress(ConnectionError):
        while need(2):
            opcode, size, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
            if size == 126:
                need(4)
                size, start = struct.unpack("!H", buffer[2:4])[0], 4
            elif size == 127:
                need(10)
                size, start = struct.unpack("!Q", buffer[2:10])[0], 10
            if not need(start + size):
                return
            payload, buffer = buffer[start : start + size], buffer[start + size :]
            yield opcode, payload
            if opcode == 8:
                return


def hub_client(admin: redis.Redis) -> str:
    """The id of the API's one pub/sub connection (the stream hub's)."""
    return str(newest_hub(admin)["id"])


# a client that never reads ------------------------------------------------------------------


def test_a_socket_that_never_reads_its_replies_is_closed_1008_and_read_no_further(
    redis_server, admin
) -> None:
    """1500-ticker replies asked 100 times on a socket that never reads: the server stops
    reading requests once its outbox holds more than ws_queue_bytes, closes the socket with
    1008 once a frame waits past the send timeout, counts it, and gives the slot back."""
    admin.hset("tickers:big", mapping={f"B{i}/USDT": json.dumps(TICK) for i in range(1500)})
    env = {
        "REDIS_URL": reader_url(redis_server),
        "FULLON_CACHE_API_CLIENT_SEND_TIMEOUT": "1",
        "FULLON_CACHE_API_WS_QUEUE_BYTES": "65536",
    }
    with serve_api(env=env) as served:
        sock = ws_handshake(served.port, "/ws/tickers/c1")
        with sock:
            for i in range(100):
                ask = {"action": "get_all_tickers", "request_id": i, "params": {"exchange": "big"}}
                sock.sendall(ws_frame(ask))
            wait_until(lambda: metric(served.base, "fullon_cache_api_ws_sockets") == 0)
            frames = list(ws_frames(sock))
        assert (
            metric(
                served.base,
                "fullon_cache_api_clients_ended_total",
                transport="ws",
                reason="not_reading",
            )
            == 1
        )
    replies = [json.loads(p) for op, p in frames if op == 1]
    assert frames[-1] == (8, struct.pack("!H", 1008) + b"client does not read")
    assert [r["request_id"] for r in replies] == list(range(len(replies)))  # in order
    assert all(len(r["result"]["tickers"]) == 1500 for r in replies)
    assert len(replies) < 50  # the rest were never read, let alone answered


def test_streams_of_a_socket_that_never_reads_stall_neither_the_hub_nor_other_clients(
    redis_server, admin
) -> None:
    """A socket with 10 streams of 100 symbols that never reads, while a writer publishes
    4000 ticks of 1 KB: the socket is closed (counted), the hub keeps its one connection (no false
    heartbeat loss), REST answers every request, and a client that reads gets the newest tick
    of its symbol."""
    env = {
        "REDIS_URL": reader_url(redis_server),
        "FULLON_CACHE_API_CLIENT_SEND_TIMEOUT": "1",
        "FULLON_CACHE_API_WS_QUEUE_BYTES": "65536",
    }
    with serve_api(env=env, output=True) as served:
        stalled = ws_handshake(served.port, "/ws/tickers/flood")
        for i in range(10):
            params = {"exchange": "flood", "symbols": SYMBOLS}
            stalled.sendall(
                ws_frame({"action": "stream_tickers", "request_id": i, "params": params})
            )
        wait_until(lambda: metric(served.base, "fullon_cache_api_ws_streams") == 10)
        hub = hub_client(admin)
        statuses: list[int] = []

        def rest() -> None:
            with httpx.Client(base_url=served.base, timeout=30) as http:
                for _ in range(60):
                    statuses.append(http.get("/tickers/flood/S0/USDT").status_code)

        async def reader() -> list[float]:
            prices: list[float] = []
            url = f"ws://127.0.0.1:{served.port}/ws/tickers/reader"
            async with connect(url) as ws:
                params = {"exchange": "flood", "symbols": ["S7/USDT"]}
                await ws.send(
                    json.dumps({"action": "stream_tickers", "request_id": "r", "params": params})
                )
                assert json.loads(await ws.recv())["success"] is True
                publisher.start()
                with anyio.fail_after(60):
                    while not prices or prices[-1] != ROUNDS - 1:
                        message = json.loads(await ws.recv())
                        prices.append(message["result"]["price"])
            return prices

        def publish() -> None:
            with redis.Redis(port=redis_server.port) as writer:
                for round_ in range(ROUNDS):
                    pipe = writer.pipeline(transaction=False)
                    for symbol in SYMBOLS:
                        tick = json.dumps({**TICK, "price": float(round_), "pad": "x" * 1000})
                        pipe.hset("tickers:flood", symbol, tick)
                        pipe.publish(f"ticker_updates:flood:{symbol}", tick)
                    pipe.execute()
                    if round_ == 0:
                        rest_thread.start()
                    time.sleep(0.05)

        publisher = threading.Thread(target=publish)
        rest_thread = threading.Thread(target=rest)
        prices = anyio.run(reader)
        publisher.join()
        rest_thread.join()
        wait_until(lambda: metric(served.base, "fullon_cache_api_ws_sockets") == 0)
        stalled.close()
        ended = sum(
            metric(
                served.base, "fullon_cache_api_clients_ended_total", transport="ws", reason=reason
            )
            for reason in ("not_reading", "slow_client")
        )
        assert hub_client(admin) == hub  # the same connection throughout
        served.process.terminate()
        served.process.wait(15)
        log = served.process.stdout.read() if served.process.stdout else ""
    assert ended == 1
    assert statuses == [200] * 60
    assert prices == sorted(prices) and prices[-1] == ROUNDS - 1  # in order, the newest too
    assert "stream hub connection lost" not in log


def test_a_pipelined_byte_after_the_request_never_keeps_a_stream_slot(redis_server) -> None:
    """Three connections each send a stream request and one more byte, then close: the server
    never reports their end (it reads no further on a connection holding a pipelined byte),
    but the streams' probes find it, and all three slots come back well before the heartbeat
    (15 s)."""
    env = {"REDIS_URL": reader_url(redis_server), "FULLON_CACHE_API_MAX_STREAMS": "3"}
    with serve_api(env=env) as served:
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
                sock.sendall(b"GET /stream/tickers HTTP/1.1\r\nHost: api\r\n\r\nG")
                assert sock.recv(12) == b"HTTP/1.1 200"
        wait_until(lambda: metric(served.base, "fullon_cache_api_open_streams") == 0, 10)
        with httpx.stream("GET", served.base + "/stream/tickers", timeout=10) as response:
            assert response.status_code == 200


def test_a_client_address_holds_at_most_its_streams_and_sockets(redis_server) -> None:
    env = {
        "REDIS_URL": reader_url(redis_server),
        "FULLON_CACHE_API_MAX_STREAMS_PER_CLIENT": "2",
        "FULLON_CACHE_API_WS_MAX_SOCKETS_PER_CLIENT": "2",
    }

    async def sockets(port: int) -> None:
        url = f"ws://127.0.0.1:{port}/ws/tickers/c"
        async with connect(url + "1"), connect(url + "2"):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(url + "3"):
                    pass
            assert refused.value.response.status_code == 403
        async with connect(url + "4"):  # given back on close
            pass

    with serve_api(env=env) as served:
        with httpx.Client(base_url=served.base, timeout=10) as http:
            with http.stream("GET", "/stream/tickers"), http.stream("GET", "/stream/tickers"):
                over = http.get("/stream/tickers")
                assert over.status_code == 503
                assert over.json()["error"]["code"] == "too_many_streams"
            wait_until(lambda: metric(served.base, "fullon_cache_api_open_streams") == 0)
            with http.stream("GET", "/stream/tickers") as again:
                assert again.status_code == 200
        anyio.run(sockets, served.port)
        limited = {"reason": "client_limit"}
        assert (
            metric(served.base, "fullon_cache_api_clients_ended_total", transport="sse", **limited)
            == 1
        )
        assert (
            metric(served.base, "fullon_cache_api_clients_ended_total", transport="ws", **limited)
            == 1
        )


# client-chosen ids ---------------------------------------------------------------------------


def test_ids_longer_than_the_bound_are_refused_and_never_echoed(app, snapshot) -> None:
    client = TestClient(app)
    sane, wide = "r" * MAX_ID, "é" * MAX_ID  # characters, not their bytes, are counted
    cases = ((sane, sane), (wide, wide), ("r" * (MAX_ID + 1), None), ([0] * 200, None))
    with client.websocket_connect("/ws/tickers/" + "c" * MAX_ID) as ws:
        for request_id, echoed in cases:
            ws.send_json({"action": "get_ticker", "request_id": request_id, "params": {}})
            reply = ws.receive_json()
            assert reply["request_id"] == echoed
            assert reply["error_code"] == "INVALID_PARAMS"
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"operation": "ping", "request_id": "p" * (MAX_ID + 1)})
        assert ws.receive_json()["error_code"] == "INVALID_PARAMS"
        ws.send_json({"operation": "ping", "request_id": "p"})
        assert ws.receive_json()["result"] == {"status": "ok"}
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect("/ws/tickers/" + "c" * (MAX_ID + 1)),
    ):
        pass
    assert refused.value.code == 1008


def test_a_newline_in_client_ids_never_forges_a_log_line(redis_server, admin) -> None:
    """A stream whose ids hold a newline and a fake log line, then the hub's connection is
    killed and comes back: the log holds the hub's one line about it, and no forged line."""
    env = {"REDIS_URL": reader_url(redis_server)}
    forged = "x\nCRITICAL forged"

    async def session(port: int) -> None:
        url = f"ws://127.0.0.1:{port}/ws/tickers/{forged.replace(chr(10), '%0A')}"
        async with connect(url.replace(" ", "%20")) as ws:
            params = {"exchange": "binance", "symbols": ["BTC/USDT"]}
            await ws.send(
                json.dumps({"action": "stream_tickers", "request_id": forged, "params": params})
            )
            assert json.loads(await ws.recv())["success"] is True
            hub = hub_client(admin)
            admin.client_kill_filter(_id=hub)
            with anyio.fail_after(30):
                while True:  # the stream follows the new connection
                    with contextlib.suppress(IndexError):  # no hub yet
                        if hub_client(admin) != hub:
                            admin.publish("ticker_updates:binance:BTC/USDT", json.dumps(TICK))
                    with anyio.move_on_after(0.5):
                        message = json.loads(await ws.recv())
                        if message.get("action") == "ticker_update":
                            return

    with serve_api(env=env, output=True) as served:
        anyio.run(session, served.port)
        served.process.terminate()
        served.process.wait(15)
        log = served.process.stdout.read() if served.process.stdout else ""
    lines = log.splitlines()
    assert not [line for line in lines if line.startswith("CRITICAL forged")]
    assert sum("stream hub connection lost" in line for line in lines) == 1


# the hub ------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def hub_on(settings: Settings) -> Any:
    client = redis_connect(settings)
    hub = StreamHub(lambda: single_connection_pool(client.connection_pool), settings)
    try:
        yield hub
    finally:
        await hub.aclose()
        await client.aclose()


async def test_a_listener_behind_costs_nothing_then_gets_the_newest_or_fails_slow_client(
    redis_server, settings
) -> None:
    """Three updates wait in order; a fourth and the listener falls behind: out of the
    fan-out, holding nothing, its next batch the newest of each symbol (the rest counted as
    dropped). Behind by more bytes than its bound even so, it fails ``SlowClient``."""
    small = Settings(redis_url=settings.redis_url, stream_queue=3, stream_queue_bytes=65536)
    async with hub_on(small) as hub:
        listener = hub.listen_tickers(None, None)
        marker = hub.listen_tickers("binance", ["MARK/USDT"], slot=False)
        await hub.connected()

        async def publish(*symbols: str, pad: str = "") -> None:
            with redis.Redis(port=redis_server.port) as admin:
                for price, symbol in enumerate(symbols):
                    tick = json.dumps({"price": price, **({"pad": pad} if pad else {})})
                    admin.publish(f"ticker_updates:binance:{symbol}", tick)
                admin.publish("ticker_updates:binance:MARK/USDT", "{}")
            with anyio.fail_after(10):  # fanned out up to the marker
                while not any(u[1] == "MARK/USDT" for u in await marker.next_batch(1)):
                    pass

        await publish(*["BTC/USDT"] * 6)
        assert listener.is_behind and listener.pending_bytes == 0
        batch = await listener.next_batch(1)
        assert [(u[1], json.loads(u[2])) for u in batch] == [
            ("BTC/USDT", {"price": 5}),
            ("MARK/USDT", {}),
        ]
        assert listener.dropped == 5 and not listener.is_behind
        await publish(*SYMBOLS[:5])  # behind again: 7 symbols, small
        assert len(await listener.next_batch(1)) == 7
        await publish(*SYMBOLS[:5], pad="x" * 20_000)  # 5 x 20 KB newest: more than 64 KiB
        with pytest.raises(SlowClient):
            await listener.next_batch(1)
        assert listener.pending_bytes == 0
        listener.close()
        marker.close()


async def test_a_publication_reaches_only_the_listeners_that_want_it(
    redis_server, settings
) -> None:
    async with hub_on(settings) as hub:
        others = [hub.listen_tickers("binance", [f"X{i}/USDT"], slot=False) for i in range(500)]
        mine = hub.listen_tickers("binance", ["BTC/USDT"], slot=False)
        everywhere = hub.listen_tickers(None, ["BTC/USDT"], slot=False)
        other_exchange = hub.listen_tickers("kraken", ["BTC/USDT"], slot=False)
        await hub.connected()
        with redis.Redis(port=redis_server.port) as admin:
            admin.publish("ticker_updates:binance:BTC/USDT", json.dumps({"price": 5}))
        with anyio.fail_after(10):
            assert [u[:2] for u in await mine.next_batch(10)] == [("binance", "BTC/USDT")]
            assert [u[:2] for u in await everywhere.next_batch(10)] == [("binance", "BTC/USDT")]
        assert other_exchange.pending_bytes == 0
        assert all(o.pending_bytes == 0 for o in others)
        for listener in (*others, mine, everywhere, other_exchange):
            listener.close()
        assert hub.listeners == 0


async def test_a_blocked_loop_is_no_heartbeat_loss(redis_server, settings, admin) -> None:
    """The event loop blocked for 4 s (more than the heartbeat's three reads): the hub keeps
    its connection, and updates published meanwhile arrive."""
    async with hub_on(settings) as hub:
        listener = hub.listen_tickers("binance", ["BTC/USDT"], slot=False)
        await hub.connected()
        before = hub_client(admin)
        admin.publish("ticker_updates:binance:BTC/USDT", json.dumps({"price": 1}))
        time.sleep(4)  # noqa: ASYNC251 - blocks the loop, as a long synchronous fan-out would
        with anyio.fail_after(10):
            (update,) = await listener.next_batch(10)
        await anyio.sleep(2.5)  # more reads and pings after the stall
        assert hub_client(admin) == before
        assert json.loads(update[2]) == {"price": 1}
        listener.close()
