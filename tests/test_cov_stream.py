"""How a Server-Sent Events stream ends (handlers/stream.py), on hypercorn serving the app on the
test's loop and a real redis-server: Redis lost or stalled while it runs (``event: error``), a
client far behind (``event: end``, ``slow_client``) or one that reads nothing (ended, counted),
updates a slow client missed (``: dropped N``), its heartbeats and probes, its maximum lifetime,
and the slots it gives back on every path. Counts and order only: no duration is asserted."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx
import pytest
import redis
from starlette.applications import Starlette

from fullon_cache_api import Settings, create_app, lifespan
from fullon_cache_api.demo.redis_server import RedisServer, free_port
from fullon_cache_api.hub import StreamHub

from support import (
    expect,
    http_client,
    hub_of,
    reader_url,
    redis_process,
    serve_in_process,
    stopped,
)

pytestmark = pytest.mark.slow
TICK = {"price": 1.0, "bid": 0.5, "ask": 1.5, "last": 1.0, "volume": 2.0, "time": 1764100100.0}


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own (it is stopped or stalled)."""
    with redis_process() as server:
        yield server


@dataclasses.dataclass
class Api:
    app: Starlette
    http: httpx.AsyncClient
    base: str


@contextlib.asynccontextmanager
async def serve(settings: Settings, **changes: Any) -> AsyncIterator[Api]:
    app = create_app(dataclasses.replace(settings, **changes))
    async with serve_in_process(app) as base:
        url = base.replace("ws:", "http:")
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            yield Api(app, http, url)


async def blocks(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """(kind, value) per SSE block: ("comment", text) or (event name, data)."""
    block: list[str] = []
    async for line in response.aiter_lines():
        if line:
            block.append(line)
            continue
        if block[0].startswith(":"):
            yield "comment", block[0][2:]
        else:
            fields = dict(item.split(": ", 1) for item in block)
            yield fields["event"], fields["data"]
        block = []


async def until_event(stream: AsyncIterator[tuple[str, str]], *names: str) -> list[Any]:
    """The blocks up to (and with) the first event named in ``names``."""
    seen: list[Any] = []
    with anyio.fail_after(60):
        async for kind, value in stream:
            seen.append((kind, value))
            if kind in names:
                return seen
    raise AssertionError(f"the stream ended before {names}: {seen}")


async def opened(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """The stream past its first comment and its snapshot."""
    assert response.status_code == 200, await response.aread()
    stream = blocks(response)
    with anyio.fail_after(30):
        assert await anext(stream) == ("comment", "subscribed")
        assert (await anext(stream))[0] == "snapshot"
    return stream


async def metric(http: httpx.AsyncClient, name: str, **labels: str) -> float:
    """One sample of /metrics (0 when absent)."""
    for line in (await http.get("/metrics")).text.splitlines():
        head, _, value = line.rpartition(" ")
        if head.split("{")[0] == name and dict(re.findall(r'(\w+)="([^"]*)"', head)) == labels:
            return float(value)
    return 0.0


async def no_listener(hub: StreamHub) -> None:
    """Until the hub holds no listener (the stream's end has run on the server)."""
    with anyio.fail_after(30):
        while hub.listeners:
            await anyio.sleep(0.02)


ENDED = "fullon_cache_api_clients_ended_total"


# Redis lost ---------------------------------------------------------------------------------


async def test_redis_stopped_while_a_stream_runs_ends_it_with_an_error_event(
    private_redis: RedisServer,
) -> None:
    settings = Settings(
        redis_url=reader_url(private_redis), connect_timeout=5.0, ticker_feed="published"
    )
    async with serve(settings) as api:
        async with api.http.stream("GET", "/stream/tickers") as response:
            stream = await opened(response)
            await anyio.to_thread.run_sync(private_redis.stop)
            *_, (kind, data) = await until_event(stream, "error", "end")
            rest = [block async for block in stream]
        assert kind == "error"
        assert json.loads(data)["error"] == {
            "status": 503,
            "code": "cache_unavailable",
            "message": "the cache is unavailable",
        }
        assert rest == []  # the error is the stream's last event
        await no_listener(hub_of(api.app))


async def test_a_stalled_redis_ends_a_stream_once_the_hub_heartbeat_goes_unanswered(
    private_redis: RedisServer,
) -> None:
    """SIGSTOP: the connection stays open but nothing answers; the hub's pings go unanswered
    (counted in empty reads, not in time) and the stream ends with the error while Redis is
    still stalled. Resumed, a new stream gets its updates again."""
    settings = Settings(
        redis_url=reader_url(private_redis), connect_timeout=5.0, ticker_feed="published"
    )
    async with serve(settings) as api:
        async with api.http.stream("GET", "/stream/tickers") as response:
            stream = await opened(response)
            with stopped(private_redis):
                *_, (kind, data) = await until_event(stream, "error", "end")
        assert kind == "error"
        assert json.loads(data)["error"]["code"] == "cache_unavailable"
        await no_listener(hub_of(api.app))
        with redis.Redis(port=private_redis.port) as admin:
            async with api.http.stream("GET", "/stream/tickers") as response:
                stream = await opened(response)
                with anyio.fail_after(30):  # the hub has connected again (it backs off)
                    while admin.execute_command("PUBSUB", "NUMPAT") == 0:
                        await anyio.sleep(0.02)
                admin.publish("ticker_updates:binance:BTC/USDT", json.dumps(TICK))
                *_, (kind, data) = await until_event(stream, "ticker")
        assert json.loads(data)["symbol"] == "BTC/USDT"


async def test_a_stream_opened_while_redis_is_down_is_503_and_holds_no_slot() -> None:
    """No Redis at all (nothing listens on the port): 503 before the stream starts, and its
    listener is given back, so that more such requests than ``max_streams`` are still 503
    ``cache_unavailable``, never ``too_many_streams``."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(Settings(redis_url=url, max_streams=1))
    async with lifespan(app), http_client(app) as http:
        for _ in range(3):
            body = expect(await http.get("/stream/tickers"), 503)
            assert body["error"]["code"] == "cache_unavailable"
        assert hub_of(app).listeners == 0


# slow clients -------------------------------------------------------------------------------


async def test_a_client_far_behind_even_conflated_gets_end_slow_client(settings, admin) -> None:
    """400 symbols of 400-byte ticks published at once to a stream that holds 2 updates and
    64 KiB: it falls behind, and the newest tick of each symbol is still more than its bytes:
    the stream ends with ``event: end`` (``slow_client``), counted, its slot given back."""
    tick = json.dumps({**TICK, "info": "x" * 300})
    async with serve(settings, stream_queue=2, stream_queue_bytes=65536) as api:
        before = await metric(api.http, ENDED, transport="sse", reason="slow_client")
        async with api.http.stream("GET", "/stream/tickers") as response:
            stream = await opened(response)
            pipe = admin.pipeline(transaction=False)
            for i in range(400):
                pipe.publish(f"ticker_updates:slowex:S{i:03d}/USDT", tick)
            pipe.execute()
            *_, (kind, data) = await until_event(stream, "end", "error")
            assert [block async for block in stream] == []
        assert (kind, json.loads(data)) == ("end", {"reason": "slow_client"})
        await no_listener(hub_of(api.app))
        after = await metric(api.http, ENDED, transport="sse", reason="slow_client")
        assert after == before + 1


async def test_updates_a_client_missed_are_told_in_a_dropped_comment(settings, admin) -> None:
    """50 ticks of one symbol at once to a stream that holds 2: it falls behind and gets the
    newest tick, with ``: dropped N`` first; each tick is either sent or counted as dropped."""
    async with (
        serve(settings, stream_queue=2) as api,
        api.http.stream("GET", "/stream/tickers") as response,
    ):
        stream = await opened(response)
        pipe = admin.pipeline(transaction=False)
        for price in range(1, 51):
            pipe.publish("ticker_updates:dropex:D/USDT", json.dumps({**TICK, "price": price}))
        pipe.execute()
        prices: list[float] = []
        dropped = 0
        with anyio.fail_after(30):
            async for kind, value in stream:
                if kind == "comment" and value.startswith("dropped "):
                    dropped += int(value.split()[1])
                elif kind == "ticker":
                    prices.append(json.loads(value)["price"])
                    if prices[-1] == 50:
                        break
    assert dropped >= 1
    assert prices == sorted(prices) and prices[-1] == 50
    assert len(prices) + dropped == 50


async def never_reading(api: Api, admin: redis.Redis) -> None:
    """A raw connection asks ``api`` for a stream and never reads; ticks are published until
    the server has ended that stream."""
    hub = hub_of(api.app)
    tick = json.dumps(TICK)
    port = int(api.base.rsplit(":", 1)[1])
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /stream/tickers HTTP/1.1\r\nHost: api\r\n\r\n")
    await writer.drain()
    try:
        with anyio.fail_after(90):
            while not hub.listeners:  # the stream is open
                await anyio.sleep(0.02)
            while hub.listeners:  # ticks of 2000 symbols a round, until its writes wait
                pipe = admin.pipeline(transaction=False)
                for i in range(2000):
                    pipe.publish(f"ticker_updates:big:B{i:04d}/USDT", tick)
                pipe.execute()
                await anyio.sleep(0.1)
    finally:
        writer.close()


async def test_a_client_that_reads_nothing_is_ended_and_counted(settings, admin) -> None:
    """A raw connection asks for a stream and never reads: once the server's writes wait past
    ``client_send_timeout`` the stream ends (counted ``not_reading``) and its slots (the
    process's and the address's) are given back."""
    async with serve(settings, client_send_timeout=1.0, max_streams_per_client=1) as api:
        before = await metric(api.http, ENDED, transport="sse", reason="not_reading")
        await never_reading(api, admin)
        after = await metric(api.http, ENDED, transport="sse", reason="not_reading")
        assert after == before + 1
        # the address's one slot is free again: a new stream of this client is served
        async with api.http.stream("GET", "/stream/tickers") as response:
            await opened(response)


async def test_a_client_that_reads_nothing_is_ended_without_an_error_logged(
    settings, admin, caplog
) -> None:
    with caplog.at_level(logging.ERROR):
        async with serve(settings, client_send_timeout=1.0) as api:
            await never_reading(api, admin)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


# the stream's own clock -----------------------------------------------------------------------


async def test_an_idle_stream_beats_and_ends_at_its_lifetime(settings) -> None:
    """Nothing published: ``: heartbeat`` comments every ``stream_heartbeat``, then
    ``event: end`` (``max_lifetime``); the address's slot is given back after it."""
    async with serve(
        settings, stream_heartbeat=0.2, stream_max_lifetime=3.0, max_streams_per_client=1
    ) as api:
        async with api.http.stream("GET", "/stream/tickers") as response:
            seen = await until_event(await opened(response), "end", "error")
        assert ("comment", "heartbeat") in seen
        assert seen[-1][0] == "end" and json.loads(seen[-1][1]) == {"reason": "max_lifetime"}
        await no_listener(hub_of(api.app))
        async with api.http.stream("GET", "/stream/tickers") as response:
            await opened(response)


async def test_an_idle_stream_probes_its_connection_between_heartbeats(settings) -> None:
    """A heartbeat far off: the idle stream writes an empty comment (a probe of the connection)
    each idle second meanwhile, and no heartbeat."""
    async with serve(settings, stream_heartbeat=600.0, stream_max_lifetime=4.0) as api:
        async with api.http.stream("GET", "/stream/tickers") as response:
            seen = await until_event(await opened(response), "end", "error")
        assert ("comment", "") in seen
        assert ("comment", "heartbeat") not in seen
        assert seen[-1][0] == "end"
