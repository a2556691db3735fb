"""Outages, stalls, overload and shutdown, on real redis-server and hypercorn processes."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator

import anyio
import httpx
import pytest
import redis

from fullon_cache_api import Settings, create_app, lifespan
from fullon_cache_api.demo.redis_server import RedisServer

from support import (
    PATIENT,
    WRITTEN_AT,
    Clock,
    api_connections,
    expect,
    http_client,
    prepare,
    reader_url,
    redis_process,
    serve_api,
    stopped,
)

pytestmark = pytest.mark.slow
BTC = "/tickers/binance/BTC/USDT"


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, which the test may stop and restart."""
    with redis_process() as server:
        yield server


def app_on(server: RedisServer, **settings: float | int):
    """The app on ``server``, every read going to Redis (the local cache off): these tests are
    about what Redis's outages, stalls and the pool do to requests (tests/test_local_cache.py
    has the cache's own)."""
    return create_app(
        Settings(redis_url=reader_url(server), local_cache=False, **{**PATIENT, **settings}),
        clock=Clock(WRITTEN_AT),
    )


async def test_outage_is_503_fast_and_recovers_without_restart(private_redis) -> None:
    app = app_on(private_redis, connect_timeout=10, command_timeout=10)
    statuses: list[int] = []
    async with lifespan(app), http_client(app) as http:
        loading = False  # while the restarted Redis is empty, a 404 would be right: pause

        async def poll(stop: anyio.Event) -> None:
            while not stop.is_set():
                if not loading:
                    statuses.append((await http.get(BTC)).status_code)
                await anyio.sleep(0.005)

        assert expect(await http.get(BTC))["price"] == 300.0
        stop = anyio.Event()
        async with anyio.create_task_group() as tg:
            for _ in range(4):  # requests in flight while Redis goes away and comes back
                tg.start_soon(poll, stop)
            await anyio.sleep(0.2)
            await anyio.to_thread.run_sync(private_redis.stop)
            await anyio.sleep(0.3)
            for path in (BTC, "/tickers", "/exchanges", "/overview"):
                start = time.monotonic()
                assert expect(await http.get(path), 503)["error"]["code"] == "cache_unavailable"
                # a refused connection is answered at once, not retried: seconds of margin
                assert time.monotonic() - start < 5
            health = expect(await http.get("/health"), 503)
            assert health["status"] == "unavailable"
            loading = True
            await anyio.sleep(0.05)  # polls in flight finish (503)
            await anyio.to_thread.run_sync(lambda: prepare(private_redis.start()))
            loading = False
            await anyio.sleep(0.3)
            stop.set()
        assert set(statuses) <= {200, 503} and 503 in statuses and statuses[-1] == 200
        for _ in range(20):  # the same app process serves again, no restart
            assert expect(await http.get(BTC))["price"] == 300.0
        assert expect(await http.get("/health"))["status"] == "ok"


async def test_stalled_redis_is_504_and_the_app_recovers(private_redis) -> None:
    app = app_on(private_redis, command_timeout=2)
    async with lifespan(app), http_client(app) as http:
        assert expect(await http.get(BTC))["bid"] == 299.5  # a pooled connection exists
        with stopped(private_redis), anyio.fail_after(30):  # answered while Redis is stalled
            start = time.monotonic()
            body = expect(await http.get(BTC), 504)
            assert time.monotonic() - start >= 1.9  # it waited for the command timeout
        assert body["error"] == {
            "status": 504,
            "code": "cache_timeout",
            "message": "the cache did not answer in time",
        }
        assert expect(await http.get(BTC))["bid"] == 299.5


async def test_a_few_hundred_concurrent_requests_share_a_small_pool(private_redis) -> None:
    app = app_on(private_redis, pool_size=4, pool_timeout=10)
    statuses: list[int] = []
    async with lifespan(app), http_client(app) as http:

        async def get(path: str) -> None:
            statuses.append((await http.get(path)).status_code)

        async with anyio.create_task_group() as tg:
            for i in range(300):
                tg.start_soon(get, ("/tickers", BTC, "/tickers/kraken")[i % 3])
        assert statuses == [200] * 300
        assert 1 <= api_connections(private_redis) <= 4


async def test_a_request_waits_for_a_pooled_connection_then_503(private_redis) -> None:
    app = app_on(private_redis, pool_size=1, pool_timeout=2, command_timeout=60)
    async with lifespan(app), http_client(app) as http:
        assert expect(await http.get(BTC))["price"] == 300.0  # the one connection exists
        pool = app.state.backend.resources().redis.connection_pool
        results: dict[str, tuple[httpx.Response, float]] = {}

        async def get(name: str, path: str) -> None:
            start = time.monotonic()
            response = await http.get(path)
            results[name] = (response, time.monotonic() - start)

        async with anyio.create_task_group() as tg:
            with stopped(private_redis), anyio.fail_after(30):
                tg.start_soon(get, "holder", BTC)  # holds the connection while Redis stalls
                while pool.can_get_connection():  # until the holder has it
                    await anyio.sleep(0.01)
                # another read (an identical one would share the holder's command in flight)
                await get("waiter", "/tickers/binance/ETH/USDT")  # answered while Redis stalls
    holder, waiter = results["holder"], results["waiter"]
    assert expect(holder[0])["price"] == 300.0  # served once Redis resumed
    assert expect(waiter[0], 503)["error"]["code"] == "cache_unavailable"
    assert waiter[1] >= 1.9  # it waited for the pool timeout (and no longer: Redis still stalled)


def test_sigterm_lets_in_flight_requests_finish(private_redis) -> None:
    env = {"REDIS_URL": reader_url(private_redis), "FULLON_CACHE_API_COMMAND_TIMEOUT": "5"}
    with serve_api(env=env) as (server, base, _):
        clients = [httpx.Client(base_url=base, timeout=60) for _ in range(8)]
        for http in clients:  # connected beforehand, so the requests below go out at once
            assert http.get("/health").status_code == 200
        # Stall Redis so that requests are in flight when SIGTERM arrives.
        with redis.Redis(port=private_redis.port) as admin:
            admin.execute_command("CLIENT", "PAUSE", "1000", "ALL")
        results: list[int | str] = []

        def fetch(http: httpx.Client) -> None:
            try:
                results.append(http.get("/tickers").status_code)
            except httpx.TransportError as exc:
                results.append(type(exc).__name__)

        threads = [threading.Thread(target=fetch, args=(http,)) for http in clients]
        for thread in threads:
            thread.start()
        time.sleep(0.3)
        server.send_signal(signal.SIGTERM)
        started = time.monotonic()
        assert server.wait(10) == 0
        assert time.monotonic() - started < 5
        for thread in threads:
            thread.join(10)
        assert results == [200] * 8
        assert api_connections(private_redis) == 0
        for http in clients:
            http.close()
