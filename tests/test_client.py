"""``CacheClient`` and ``SyncCacheClient``: a method for every route of the table (and an
``iter_`` twin for every paged one), taking the route's parameters, and answering what the real
app answers (snapshot loaded, read-only user), errors as ``CacheApiError``; retries on 503 and
504, conditional GET, and streams that reconnect across a real server's restart."""

from __future__ import annotations

import dataclasses
import email.utils
import inspect
import json
import logging
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec
import pytest
import redis
from starlette.applications import Starlette

from fullon_cache_api import Settings, create_app, lifespan
from fullon_cache_api.client import (
    CacheApiError,
    CacheClient,
    Event,
    Retry,
    Subscribed,
    SyncCacheClient,
    _Client,
)
from fullon_cache_api.demo.redis_server import RedisServer, free_port
from fullon_cache_api.handlers.stream import StreamEnd
from fullon_cache_api.handlers.tickers import TickerOut
from fullon_cache_api.routes import ENDPOINTS
from fullon_cache_api.routing import Endpoint

from support import (
    PATIENT,
    SAMPLE_VALUES,
    WRITTEN_AT,
    Clock,
    fill,
    http_client,
    prepare,
    reader_url,
    recorder,
    redis_process,
    serve,
    serve_api,
)

TOKEN = "client-token-0123456789"


@pytest.fixture
async def cache(app: Starlette, snapshot: dict[str, Any]) -> AsyncIterator[CacheClient]:
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with CacheClient("http://api", transport=transport) as client:
            yield client


def path_args(endpoint: Endpoint) -> list[str]:
    return [SAMPLE_VALUES[p.name] for p in endpoint.params if p.where == "path"]


def paged(endpoint: Endpoint) -> bool:
    return any(p.name == "cursor" for p in endpoint.params)


def iter_name(endpoint: Endpoint) -> str:
    return "iter_" + endpoint.handler.__name__.removeprefix("all_")


def test_every_route_has_a_method_with_its_parameters_and_every_paged_one_an_iter_twin() -> None:
    expected = {}
    for endpoint in ENDPOINTS:
        expected[endpoint.handler.__name__] = endpoint
        if paged(endpoint):
            expected[iter_name(endpoint)] = endpoint
    for name, endpoint in expected.items():
        method = getattr(CacheClient, name)
        assert getattr(SyncCacheClient, name) is method  # one declaration for both
        assert method.endpoint is endpoint
        parameters = list(inspect.signature(method).parameters.values())[1:]
        in_path = [p.name for p in endpoint.params if p.where == "path"]
        in_query = [p.name for p in endpoint.params if p.where == "query"]
        assert [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD] == in_path
        assert [p.name for p in parameters if p.kind is p.KEYWORD_ONLY] == in_query
        assert endpoint.template in (method.__doc__ or "")
    methods = {n for n, v in vars(_Client).items() if hasattr(v, "endpoint")}
    assert methods == set(expected)
    assert "iter_tickers" in methods and "iter_queue" in methods


def test_every_stream_declares_its_events() -> None:
    for endpoint in ENDPOINTS:
        media = getattr(endpoint.response, "media_types", {})
        assert endpoint.is_stream == ("text/event-stream" in media), endpoint.template
        if endpoint.is_stream:
            assert {"end", "error"} <= set(endpoint.response.events)


async def test_every_json_route_answers_its_struct_as_the_app_does(app, cache) -> None:
    async with http_client(app) as raw:
        for endpoint in ENDPOINTS:
            if endpoint.is_raw:
                continue
            method = getattr(cache, endpoint.handler.__name__)
            answer = await method(*path_args(endpoint))
            assert isinstance(answer, endpoint.response), endpoint.template
            direct = (await raw.get(fill(endpoint.path))).json()
            if endpoint.template in ("/health", "/info"):  # answers that change by themselves
                continue
            again = msgspec.json.decode(msgspec.json.encode(answer))
            assert again == direct or endpoint.heavy, endpoint.template


async def test_query_parameters_and_lists_are_sent(cache) -> None:
    answer = await cache.exchange_tickers("binance", symbols=["BTC/USDT", "ETH/USDT"])
    assert sorted(item.symbol for item in answer.items) == ["BTC/USDT", "ETH/USDT"]
    page = await cache.exchange_tickers("binance", limit=1)
    assert page.count == 1 and page.next_cursor is not None
    ticker = await cache.ticker("binance", "BTC/USDT")
    assert ticker.symbol == "BTC/USDT" and ticker.price == 300.0


async def test_errors_raise_with_status_and_code(cache) -> None:
    with pytest.raises(CacheApiError) as missing:
        await cache.ticker("binance", "NOPE/USDT")
    assert (missing.value.status, missing.value.code) == (404, "not_found")
    with pytest.raises(CacheApiError) as bad:
        await cache.exchange_tickers("binance", limit=0)
    assert bad.value.status == 400 and "limit" in bad.value.message
    with pytest.raises(TypeError):
        await cache.ticker("binance")  # a path parameter missing: refused before sending


async def test_raw_routes_answer_the_response(cache) -> None:
    page = await cache.docs_page()
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    metrics = await cache.metrics()
    assert "fullon_cache_api" in metrics.text


async def test_the_token_is_sent_as_bearer(settings, clock, snapshot) -> None:
    app = create_app(dataclasses.replace(settings, tokens=(TOKEN,)), clock=clock)
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with CacheClient("http://api", TOKEN, transport=transport) as client:
            assert (await client.ticker("binance", "BTC/USDT")).price == 300.0
        async with CacheClient("http://api", transport=transport) as anonymous:
            seen = recorder(anonymous)
            with pytest.raises(CacheApiError) as refused:
                await anonymous.ticker("binance", "BTC/USDT")
            with pytest.raises(CacheApiError) as stream_refused:  # a 4xx: no reconnection
                await anext(anonymous.stream_tickers(exchange="binance"))
    assert (refused.value.status, refused.value.code) == (401, "unauthorized")
    assert stream_refused.value.status == 401 and [r.status_code for r in seen] == [401, 401]


async def test_a_mounted_api_is_reached_below_its_base_url(settings, clock, snapshot) -> None:
    from starlette.routing import Mount

    host = Starlette(routes=[Mount("/api/v1/cache", app=create_app(settings, clock=clock))])
    transport = httpx.ASGITransport(app=host)
    async with CacheClient("http://api/api/v1/cache", transport=transport) as client:
        assert (await client.ticker("binance", "BTC/USDT")).symbol == "BTC/USDT"
        assert (await client.home_page()).status_code == 200


async def test_iter_tickers_yields_every_ticker_of_the_snapshot_once(cache, snapshot) -> None:
    stored = {
        (entry["key"].removeprefix("tickers:"), symbol)
        for entry in snapshot["keys"]
        if entry["key"].startswith("tickers:") and isinstance(entry["value"], dict)
        for symbol in entry["value"]
    }
    seen = [(t.exchange, t.symbol) async for t in cache.iter_tickers(limit=2)]
    assert len(stored) > 2 and sorted(seen) == sorted(stored)


async def test_every_iter_twin_yields_what_one_large_page_holds(cache) -> None:
    """Every item once, whatever the page size."""
    for endpoint in filter(paged, ENDPOINTS):
        args = path_args(endpoint)
        whole = await getattr(cache, endpoint.handler.__name__)(*args, limit=1000)
        items = [item async for item in getattr(cache, iter_name(endpoint))(*args, limit=1)]
        field = "head" if endpoint.template == "/orders/queues/{name}" else "items"
        encoded = sorted(map(msgspec.json.encode, items))  # /ohlcv orders within each page
        assert encoded == sorted(map(msgspec.json.encode, getattr(whole, field)))
        assert whole.next_cursor is None


async def test_conditional_get_answers_a_304_from_the_kept_body(app, snapshot) -> None:
    async with (
        lifespan(app),
        CacheClient("http://api", transport=httpx.ASGITransport(app=app), conditional=True) as c,
    ):
        seen = recorder(c)
        first = await c.ticker("binance", "BTC/USDT")
        again = await c.ticker("binance", "BTC/USDT")
        assert again == first and [r.status_code for r in seen] == [200, 304]
        assert seen[1].request.headers["if-none-match"] == seen[0].headers["etag"]
        orders = await c.exchange_orders("binance")  # no-store: never kept, so never a 304
        assert await c.exchange_orders("binance") == orders
        assert [r.status_code for r in seen[2:]] == [200, 200]
        assert "if-none-match" not in seen[3].request.headers
    async with CacheClient("http://api", transport=httpx.ASGITransport(app=app)) as plain:
        seen = recorder(plain)  # off unless asked for
        await plain.ticker("binance", "BTC/USDT")
        await plain.ticker("binance", "BTC/USDT")
        assert "if-none-match" not in seen[1].request.headers


async def test_a_503_is_tried_again_until_redis_is_back(private_redis, caplog) -> None:
    """Redis stops (503 cache_unavailable) and starts again (its data saved before): the call
    that began during the outage answers once it is back."""
    app = create_app(
        Settings(redis_url=reader_url(private_redis), **PATIENT), clock=Clock(WRITTEN_AT)
    )
    retry = Retry(attempts=1000, first=0.02, most=0.2)
    async with (
        lifespan(app),
        CacheClient("http://api", transport=httpx.ASGITransport(app=app), retry=retry) as cache,
    ):
        seen = recorder(cache)
        assert (await cache.ticker("binance", "BTC/USDT")).price == 300.0
        with redis.Redis(port=private_redis.port) as admin:
            admin.save()  # loaded again at the next start, before it answers
        await anyio.to_thread.run_sync(private_redis.stop)
        async with anyio.create_task_group() as group:
            answers: list[Any] = []

            async def call() -> None:
                answers.append(await cache.ticker("binance", "ETH/USDT"))

            group.start_soon(call)
            with anyio.fail_after(30):
                while len(seen) < 3:  # 503 answered at least twice
                    await anyio.sleep(0.01)
            await anyio.to_thread.run_sync(lambda: prepare(private_redis.start(), load=False))
        statuses = [r.status_code for r in seen[1:]]
    assert answers[0].symbol == "ETH/USDT" and statuses[-1] == 200
    assert set(statuses[:-1]) == {503}
    assert any("503 cache_unavailable" in r.getMessage() for r in caplog.records)


def host_with_maintenance(settings: Settings, status: int, retry_after: str) -> Starlette:
    """A host like master_api with the API mounted, that answers its first request ``status``
    with ``Retry-After`` (a maintenance window), and passes on the next ones."""
    from starlette.middleware import Middleware
    from starlette.middleware.base import BaseHTTPMiddleware
    from starlette.responses import JSONResponse
    from starlette.routing import Mount

    answered = []

    async def maintenance(request, call_next):
        if not answered:
            answered.append(request.url.path)
            error = {"status": status, "code": "maintenance", "message": "back soon"}
            headers = {"Retry-After": retry_after}
            return JSONResponse({"error": error}, status_code=status, headers=headers)
        return await call_next(request)

    cache_app = create_app(settings)
    return Starlette(
        routes=[Mount("/cache", app=cache_app)],
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=maintenance)],
    )


async def test_retry_after_is_honoured_and_one_beyond_most_is_not_waited_for(
    settings, snapshot, caplog
) -> None:
    retry = Retry(first=0.01, most=5, scale=0.001)  # a wait of 1 s is slept for 1 ms
    for status, retry_after, answered in ((503, "1", True), (504, "1", True), (503, "3600", False)):
        host = host_with_maintenance(settings, status, retry_after)
        transport = httpx.ASGITransport(app=host)
        async with CacheClient("http://host/cache", transport=transport, retry=retry) as cache:
            seen = recorder(cache)
            caplog.clear()
            if answered:
                assert (await cache.ticker("binance", "BTC/USDT")).price == 300.0
                assert [r.status_code for r in seen] == [status, 200]
                assert f"{status} maintenance: back soon; again in 1.00 s" in caplog.text
            else:
                with pytest.raises(CacheApiError) as refused:
                    await cache.ticker("binance", "BTC/USDT")
                assert (refused.value.status, refused.value.code) == (503, "maintenance")
                assert [r.status_code for r in seen] == [503] and not caplog.records


def test_waits_double_up_to_most_and_honour_retry_after() -> None:
    retry = Retry(attempts=4, first=0.5, most=3.0)
    assert [retry.wait(n, 4, None) for n in range(1, 5)] == [0.5, 1.0, 2.0, None]
    assert [retry.wait(n, None, None) for n in (5, 50)] == [3.0, 3.0]  # a stream's: no limit
    assert (retry.wait(1, 4, "2"), retry.wait(3, 4, "1")) == (2.0, 2.0)  # at least Retry-After
    assert retry.wait(1, 4, "4") is None  # longer than most: not waited for
    past, later = (email.utils.formatdate(time.time() + s, usegmt=True) for s in (-60, 3600))
    assert (retry.wait(1, 4, past), retry.wait(1, 4, later)) == (0.5, None)  # HTTP dates
    assert retry.wait(1, 4, "soon") == 0.5  # unreadable: ignored


async def test_no_4xx_is_tried_again(settings, clock, snapshot) -> None:
    limited = dataclasses.replace(settings, tokens=(TOKEN,), rate_limit=1, rate_burst=1)
    app = create_app(limited, clock=clock)
    retry = Retry(attempts=10, first=0.01)
    async with (
        lifespan(app),
        CacheClient("http://api", TOKEN, transport=httpx.ASGITransport(app=app), retry=retry) as c,
    ):
        seen = recorder(c)
        with pytest.raises(CacheApiError) as missing:
            await c.ticker("binance", "NOPE/USDT")
        with pytest.raises(CacheApiError) as limited_out:  # 429 with a Retry-After
            await c.ticker("binance", "BTC/USDT")
    assert (missing.value.status, limited_out.value.status) == (404, 429)
    assert [r.status_code for r in seen] == [404, 429] and "retry-after" in seen[1].headers


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, which the test may stop and restart."""
    with redis_process() as server:
        yield server


@pytest.mark.slow
def test_the_sync_client_has_the_same_methods_over_a_served_api(redis_server, snapshot) -> None:
    with (
        serve_api(env={"REDIS_URL": reader_url(redis_server)}) as served,
        SyncCacheClient(served.base) as cache,
    ):
        assert cache.ticker("binance", "BTC/USDT").price == 300.0
        tickers = [(t.exchange, t.symbol) for t in cache.iter_tickers(limit=2)]
        assert tickers == [(t.exchange, t.symbol) for t in cache.all_tickers().items]
        with pytest.raises(CacheApiError) as missing:
            cache.ticker("binance", "NOPE/USDT")
        assert missing.value.code == "not_found"
        assert cache.metrics().status_code == 200
        events = cache.stream_tickers(exchange="binance")
        assert next(events) == Event("subscribed", Subscribed(None))
        events.close()


async def next_event(
    events: anyio.abc.ObjectReceiveStream[Event], name: str, admin: redis.Redis | None = None
) -> Event:
    """The next ``name`` event; with ``admin``, a tick is published until it comes."""
    async with anyio.create_task_group() as group:
        if admin is not None:

            async def publish() -> None:
                tick = {"price": 301.0, "bid": 300.5, "ask": 301.5, "time": 1764100100.0}
                while True:
                    admin.publish("ticker_updates:binance:BTC/USDT", json.dumps(tick))
                    await anyio.sleep(0.1)

            group.start_soon(publish)
        with anyio.fail_after(30):
            while (event := await events.receive()).event != name:
                pass
        group.cancel_scope.cancel()
    return event


@pytest.mark.slow
async def test_a_stream_survives_a_server_restart_and_resumes_with_its_last_event_id(
    redis_server, snapshot, admin, caplog
) -> None:
    """A real server stops (its streams end) and starts again on the same port: the iterator
    fails to connect meanwhile, then resumes, and the new server names the id it was sent."""
    caplog.set_level(logging.INFO, logger="fullon.cache_api.client")
    port = free_port()
    command = [sys.executable, "-m", "fullon_cache_api", "--port", str(port)]
    env = {"REDIS_URL": reader_url(redis_server)}
    retry = Retry(first=0.05, most=0.5)
    send, received = anyio.create_memory_object_stream[Event](100)
    async with (
        CacheClient(f"http://127.0.0.1:{port}", retry=retry) as client,
        anyio.create_task_group() as group,
    ):

        async def follow() -> None:
            async for event in client.stream_tickers(exchange="binance", symbols=["BTC/USDT"]):
                await send.send(event)

        with serve(command, port, env):
            group.start_soon(follow)
            assert (await next_event(received, "subscribed")).data == Subscribed(None)
            ticker = await next_event(received, "ticker", admin)
            assert isinstance(ticker.data, TickerOut) and ticker.id is not None
        assert (await next_event(received, "end")).data == StreamEnd(reason="shutdown")
        with anyio.fail_after(30):
            while "ConnectError" not in caplog.text:  # it tried while nothing listened
                await anyio.sleep(0.02)
        with serve(command, port, env):
            again = await next_event(received, "subscribed")
            assert again.data == Subscribed(resumed_after=ticker.id)  # the server saw it
            assert again.id == ticker.id  # still the last id, until a newer event
            newer = await next_event(received, "ticker", admin)
            assert newer.data.symbol == "BTC/USDT"
        group.cancel_scope.cancel()


def readme_example(section: str) -> str:
    """The Python block of the README's ``section``."""
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    text = readme.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```python\n(.*?)```", text, re.DOTALL)
    assert found, f"no Python block in the README's {section}"
    return found.group(1)


@pytest.mark.slow
def test_the_readme_example_runs_against_a_served_api(redis_server, snapshot, admin) -> None:
    """The README's Client example, verbatim but for the port, against a real server on the
    snapshot, while a writer publishes BTC/USDT ticks (the demo's feeder does)."""
    code = readme_example("Python client")
    assert code.count("http://127.0.0.1:8000") == 1
    tick = json.dumps({"price": 301.0, "bid": 300.5, "ask": 301.5, "time": 1764100100.0})
    with serve_api(env={"REDIS_URL": reader_url(redis_server)}) as served:
        tickers = httpx.get(f"{served.base}/tickers", params={"limit": 1000}, timeout=60).json()
        example = subprocess.Popen(
            [sys.executable, "-c", code.replace("http://127.0.0.1:8000", served.base)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            for _ in range(600):  # 60 s at most, whatever the machine's load (not a measure)
                admin.publish("ticker_updates:binance:BTC/USDT", tick)
                try:
                    example.wait(0.1)
                    break
                except subprocess.TimeoutExpired:
                    pass
        finally:
            example.kill()
            printed = example.communicate()[0]
    assert example.returncode == 0, printed
    listed = [f"{t['exchange']} {t['symbol']} {t['price']}" for t in tickers["items"]]
    assert len(listed) > 2 and "next_cursor" not in tickers  # one page: all of them
    *lines, snapshot, event, ticker = printed.splitlines()
    assert lines == ["BTC/USDT 300.0", *listed, "404 not_found", "subscribed None"]
    assert re.fullmatch(r"snapshot \d+", snapshot)  # the state first
    assert re.fullmatch(r"ticker \d+", event) and ticker == "BTC/USDT 301.0"
