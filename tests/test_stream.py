"""Server-Sent Events of ticker updates, through a real hypercorn process and real pub/sub."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator

import anyio
import httpx
import pytest
import redis
import redis.asyncio

from fullon_cache_api import Settings, create_app, lifespan
from fullon_cache_api.hub import StreamHub
from fullon_cache_api.redis_clients import connect, single_connection_pool

from support import api_connection_ids, http_client, reader_url, serve_api

pytestmark = pytest.mark.slow
TICK = {"price": 301.0, "bid": 300.5, "ask": 301.5, "last": 301.0, "volume": 12.0}


@pytest.fixture(scope="module")
def server(redis_server) -> Iterator[str]:
    env = {
        "REDIS_URL": reader_url(redis_server),
        "FULLON_CACHE_API_STREAM_HEARTBEAT": "0.2",
        "FULLON_CACHE_API_MAX_STREAMS": "2",
    }
    with serve_api(env=env) as served:
        yield served.base


async def events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """(kind, value) per SSE block: ("comment", text) or (event name, data)."""
    block: list[str] = []
    async for line in response.aiter_lines():
        if line:
            block.append(line)
            continue
        if block[0].startswith(": "):
            yield "comment", block[0][2:]
        else:
            fields = dict(item.split(": ", 1) for item in block)
            yield fields["event"], fields["data"]
        block = []


def numpat(admin: redis.Redis) -> int:
    return int(admin.execute_command("PUBSUB", "NUMPAT"))


async def test_updates_arrive_as_ticker_events(server, admin) -> None:
    async with (
        httpx.AsyncClient(base_url=server, timeout=60) as http,
        http.stream("GET", "/stream/tickers") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = events(response)
        with anyio.fail_after(5):
            assert await anext(stream) == ("comment", "subscribed")
            kind, data = await anext(stream)  # the state first: what /tickers answers
            assert kind == "snapshot" and set(json.loads(data)) == {"items", "count"}
            tick = {**TICK, "time": 1764100100.0, "symbol": "ignored"}
            admin.publish("ticker_updates:binance:BTC/USDT", json.dumps(tick))
            admin.publish("next_ticker:hyperliquid:BTC/USDC:USDC", '{"price": NaN, "time": 1}')
            received = []
            async for kind, data in stream:
                if kind != "comment":
                    received.append((kind, json.loads(data)))
                if len(received) == 2:
                    break
    (kind, first), (_, second) = received
    assert kind == "ticker"
    assert first["exchange"] == "binance" and first["symbol"] == "BTC/USDT"
    assert (first["price"], first["bid"], first["ask"], first["volume"]) == (
        301.0,
        300.5,
        301.5,
        12.0,
    )
    assert first["time"] == "2025-11-25T19:48:20Z"
    assert (second["exchange"], second["symbol"], second["price"]) == (
        "hyperliquid",
        "BTC/USDC:USDC",
        None,
    )


async def test_ticker_events_carry_growing_ids_and_a_last_event_id_is_echoed(server, admin) -> None:
    """``id:`` per ticker event, one more each; a reconnect's ``Last-Event-ID`` is named in the
    first comment and marks the snapshot ``resumed`` (the stream is from now all the same);
    one that is not 1 to 128 visible ASCII characters is not."""
    async with httpx.AsyncClient(base_url=server, timeout=60) as http:
        for given, first in (("41", ": subscribed after 41"), ("a b", ": subscribed")):
            headers = {"Last-Event-ID": given}
            params = {"symbols": "BTC/USDT"}
            async with http.stream("GET", "/stream/tickers", params=params, headers=headers) as r:
                lines = r.aiter_lines()
                with anyio.fail_after(5):
                    assert await anext(lines) == first
                    snapshot = [line async for line in until(lines, 1)][-1]
                    resumed = json.loads((await anext(lines))[6:]).get("resumed", False)
                    assert snapshot.startswith("id: ") and resumed is (given == "41")
                    for price in (1, 2):
                        tick = json.dumps({**TICK, "price": price})
                        admin.publish("ticker_updates:binance:BTC/USDT", tick)
                    ids = [
                        int(line[4:]) async for line in until(lines, 2) if line.startswith("id:")
                    ]
            assert ids[1] == ids[0] + 1


async def until(lines: AsyncIterator[str], ids: int) -> AsyncIterator[str]:
    """``lines`` up to the one that holds the ``ids``-th ``id:``."""
    async for line in lines:
        yield line
        ids -= line.startswith("id: ")
        if not ids:
            return


async def test_filters_heartbeats_and_release_on_disconnect(server, admin) -> None:
    params = {"exchange": "binance", "symbols": "ETH/USDT"}
    async with (
        httpx.AsyncClient(base_url=server, timeout=60) as http,
        http.stream("GET", "/stream/tickers", params=params) as response,
    ):
        stream = events(response)
        with anyio.fail_after(5):
            assert await anext(stream) == ("comment", "subscribed")
            assert numpat(admin) == 2  # ticker_updates: and next_ticker:
            admin.publish("ticker_updates:kraken:ETH/USDT", json.dumps(TICK))
            admin.publish("ticker_updates:binance:BTC/USDT", json.dumps(TICK))
            admin.publish("ticker_updates:binance:ETH/USDT", "{corrupt")
            admin.publish("ticker_updates:binance:ETH/USDT", json.dumps({**TICK, "price": 7}))
            seen = []
            async for kind, data in stream:
                seen.append(kind)
                if kind == "ticker":
                    assert json.loads(data)["price"] == 7.0
                    assert json.loads(data)["symbol"] == "ETH/USDT"
                    break
            async for kind, data in stream:  # idle now: heartbeats keep it open
                assert (kind, data) == ("comment", "heartbeat")
                break
    with anyio.fail_after(3):
        while numpat(admin):  # the subscription is released when the client goes
            await anyio.sleep(0.02)


async def test_stream_limit_is_503(server, admin) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=60) as http:
        with anyio.fail_after(5):
            async with (
                http.stream("GET", "/stream/tickers") as one,
                http.stream("GET", "/stream/tickers") as two,
            ):
                assert one.status_code == two.status_code == 200
                first, second = events(one), events(two)  # kept: dropping them closes the streams
                assert await anext(first) == ("comment", "subscribed")
                assert await anext(second) == ("comment", "subscribed")
                async with http.stream("GET", "/stream/tickers") as third:
                    assert third.status_code == 503
                    body = json.loads(await third.aread())
                    assert body["error"]["code"] == "too_many_streams"
        with anyio.fail_after(3):
            while True:  # both released: a new stream is served again
                async with http.stream("GET", "/stream/tickers") as again:
                    if again.status_code == 200:
                        break
                await anyio.sleep(0.05)


async def test_bad_stream_parameters_are_400(server) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=60) as http:
        for params in ({"exchange": "*"}, {"symbols": "BTC/*"}):
            response = await http.get("/stream/tickers", params=params)
            assert response.status_code == 400


async def test_a_slow_listener_gets_the_newest_update_per_symbol_and_a_drop_count(
    redis_server, settings
) -> None:
    """A listener that does not take its updates keeps 5 in order; beyond, it falls behind
    (out of the fan-out), and its next batch is the newest update of each symbol, every
    update it missed counted as dropped."""
    small = dataclasses.replace(settings, stream_queue=5)
    client = connect(small)
    hub = StreamHub(lambda: single_connection_pool(client.connection_pool), small)
    listener = hub.listen_tickers(None, None)
    marker = hub.listen_tickers("binance", ["ETH/USDT"])
    try:
        await hub.connected()
        with redis.Redis(port=redis_server.port) as admin:
            for i in range(20):
                admin.publish("ticker_updates:binance:BTC/USDT", json.dumps({"price": i}))
            admin.publish("ticker_updates:binance:ETH/USDT", json.dumps({"price": 100}))
        with anyio.fail_after(5):
            assert len(await marker.next_batch(5)) == 1  # every publication was fanned out
        assert listener.is_behind
        updates = await listener.next_batch(1)
    finally:
        listener.close()
        marker.close()
        await hub.aclose()
        await client.aclose()
    prices = {symbol: json.loads(raw)["price"] for _, symbol, raw in updates}
    assert prices == {"BTC/USDT": 19, "ETH/USDT": 100}
    assert listener.dropped == 19  # of 21 updates, the newest of each symbol came


SYMBOLS = [f"S{i}/USDT" for i in range(100)]


async def test_many_streams_hold_two_patterns_and_do_not_slow_publishers(
    redis_server, admin
) -> None:
    """10 streams x 100 symbols: Redis holds the process's two patterns and no channel of its
    own, as with one stream: each pattern is matched on every PUBLISH, so patterns (or
    channels) per symbol per stream would make every writer pay. (What a batch of PUBLISHes
    costs with and without streams is measured by benchmarks/latency.py.)"""
    env = {"REDIS_URL": reader_url(redis_server), "FULLON_CACHE_API_MAX_STREAMS": "20"}
    with serve_api(env=env) as served:
        async with (
            httpx.AsyncClient(base_url=served.base, timeout=60) as http,
            contextlib.AsyncExitStack() as streams,
        ):
            for _ in range(10):
                response = await streams.enter_async_context(
                    http.stream("GET", "/stream/tickers", params={"symbols": ",".join(SYMBOLS)})
                )
                assert response.status_code == 200
                assert await anext(events(response)) == ("comment", "subscribed")
            assert numpat(admin) == 2
            # and the local cache's one channel, whatever the number of streams
            assert admin.execute_command("PUBSUB", "CHANNELS") == ["__redis__:invalidate"]


async def test_head_and_pipelined_requests_never_take_a_stream_slot(redis_server) -> None:
    """HEAD answers the headers without opening a stream, so a HEAD followed by another request
    on the same connection holds nothing: with 3 slots, five such connections leave all 3."""
    env = {"REDIS_URL": reader_url(redis_server), "FULLON_CACHE_API_MAX_STREAMS": "3"}
    with serve_api(env=env) as served:
        for _ in range(5):
            with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
                sock.sendall(
                    b"HEAD /stream/tickers HTTP/1.1\r\nHost: api\r\n\r\n"
                    b"GET /health HTTP/1.1\r\nHost: api\r\n\r\n"
                )
                received = b""
                while b'"status":"ok"' not in received:
                    chunk = sock.recv(65536)
                    assert chunk, received
                    received += chunk
            head = received.split(b"\r\n\r\n", 1)[0]
            assert head.startswith(b"HTTP/1.1 200") and b"text/event-stream" in head
        async with (
            httpx.AsyncClient(base_url=served.base, timeout=60) as http,
            contextlib.AsyncExitStack() as streams,
        ):
            for _ in range(3):
                response = await streams.enter_async_context(http.stream("GET", "/stream/tickers"))
                assert response.status_code == 200
            with anyio.fail_after(10):  # refused, not queued for a slot (none frees here)
                over = await http.get("/stream/tickers")
            assert over.status_code == 503
            assert over.json()["error"]["code"] == "too_many_streams"


async def test_streams_never_hold_the_callers_pool(redis_server, clock, snapshot) -> None:
    """With the host's own client (a pool of 2), open streams use the hub's own connection:
    requests keep their pool."""
    older = api_connection_ids(redis_server)  # an earlier test's app may not be collected yet
    own = redis.asyncio.Redis.from_url(reader_url(redis_server), max_connections=2)
    app = create_app(Settings(), redis=own, clock=clock)
    async with lifespan(app), http_client(app) as http:
        hub = app.state.backend.resources().hub
        listeners = [hub.listen_tickers(None, None) for _ in range(10)]
        await hub.connected()
        try:
            for _ in range(5):
                responses = [await http.get("/tickers/binance/BTC/USDT") for _ in range(4)]
                assert {r.status_code for r in responses} == {200}
            with redis.Redis(port=redis_server.port) as admin:
                subscribers = [
                    c for c in admin.client_list() if int(c["psub"]) > 0 and c["id"] not in older
                ]
            assert len(subscribers) == 1 and int(subscribers[0]["psub"]) == 2
        finally:
            for listener in listeners:
                listener.close()
    assert await own.ping() is True
    await own.aclose()


async def test_a_stopping_server_ends_open_streams_at_once(redis_server) -> None:
    """SIGTERM: each open stream gets a last ``event: end`` (reason shutdown) and the server
    exits without waiting its whole graceful timeout for them."""
    env = {"REDIS_URL": reader_url(redis_server)}
    with serve_api("--graceful-timeout", "20", env=env) as served:
        async with (
            httpx.AsyncClient(base_url=served.base, timeout=60) as http,
            http.stream("GET", "/stream/tickers") as response,
        ):
            stream = events(response)
            assert await anext(stream) == ("comment", "subscribed")
            assert (await anext(stream))[0] == "snapshot"
            start = time.monotonic()
            served.process.terminate()
            with anyio.fail_after(5):
                async for kind, data in stream:
                    if kind != "comment":
                        assert (kind, json.loads(data)) == ("end", {"reason": "shutdown"})
                        break
        served.process.wait(10)
        assert served.process.returncode == 0
        assert time.monotonic() - start < 5  # not the 20 s graceful timeout
