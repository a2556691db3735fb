"""The Python client (``client.py``) where the other tests do not take it: its ETag memory full,
an error body that is not the API's JSON (a proxy's page), a stream refused, ended or given up
on, the sync client's waits between tries over a served API, and what a SyncCacheClient
refuses to run. The real app (in process, or served by hypercorn) over the real Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount

from fullon_cache_api import create_app, lifespan
from fullon_cache_api.client import (
    KEPT_URLS,
    CacheApiError,
    CacheClient,
    Event,
    Retry,
    Subscribed,
    SyncCacheClient,
    _blocking,
)
from fullon_cache_api.demo.redis_server import free_port
from fullon_cache_api.handlers.stream import StreamEnd

from support import reader_url, recorder, serve_api

QUICK = Retry(first=0.01, most=5, scale=0.001)
"""Waits as the API asks, each slept for a thousandth of it."""


def host(cache_app: Starlette, refusals: list[Response]) -> Starlette:
    """A host like master_api with the API mounted at /cache, behind something (a proxy, a
    maintenance window) that answers its first requests with ``refusals``, in order, and
    passes the next ones on."""

    async def refuse(request: Request, call_next: RequestResponseEndpoint) -> Response:
        if refusals:
            return refusals.pop(0)
        return await call_next(request)

    return Starlette(
        routes=[Mount("/cache", app=cache_app)],
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=refuse)],
    )


def maintenance(status: int, retry_after: str) -> JSONResponse:
    error = {"status": status, "code": "maintenance", "message": "back soon"}
    return JSONResponse({"error": error}, status_code=status, headers={"Retry-After": retry_after})


async def test_the_etag_memory_forgets_the_url_used_least_recently(app, snapshot) -> None:
    """KEPT_URLS answers are kept: one more URL and the one used least recently is gone (it is
    asked for again without If-None-Match), while the one used last still gets its 304."""
    transport = httpx.ASGITransport(app=app)
    async with lifespan(app), CacheClient("http://api", transport=transport, conditional=True) as c:
        seen = recorder(c)
        first = await c.exchange_tickers("binance", max_age=1_000_000)
        for n in range(1, KEPT_URLS + 1):  # KEPT_URLS more URLs: the first one is dropped
            assert (await c.exchange_tickers("binance", max_age=1_000_000 + n)).count == 3
        assert [r.status_code for r in seen] == [200] * (KEPT_URLS + 1)
        seen.clear()
        await c.exchange_tickers("binance", max_age=1_000_000 + KEPT_URLS)  # the last: kept
        assert await c.exchange_tickers("binance", max_age=1_000_000) == first
    assert [r.status_code for r in seen] == [304, 200]
    assert "if-none-match" in seen[0].request.headers
    assert "if-none-match" not in seen[1].request.headers


async def test_an_error_page_that_is_not_json_raises_its_status_and_text(settings, snapshot):
    """A proxy's HTML page: its status, the code ``unexpected`` and the page's first 200
    characters; a 503 page is tried again as any 503 is."""
    page = "<html><body>" + "Bad gateway. " * 40 + "</body></html>"
    refusals: list[Response] = [HTMLResponse(page, 502)]
    transport = httpx.ASGITransport(app=host(create_app(settings), refusals))
    async with CacheClient("http://host/cache", transport=transport, retry=QUICK) as cache:
        with pytest.raises(CacheApiError) as refused:
            await cache.ticker("binance", "BTC/USDT")
        assert (refused.value.status, refused.value.code) == (502, "unexpected")
        assert refused.value.message == page[:200]
        seen = recorder(cache)
        refusals += [HTMLResponse("<p>Service Unavailable</p>", 503, headers={"Retry-After": "1"})]
        assert (await cache.ticker("binance", "BTC/USDT")).price == 300.0
        assert [r.status_code for r in seen] == [503, 200]


async def test_a_stream_refused_with_a_4xx_raises_at_once(app, snapshot) -> None:
    transport = httpx.ASGITransport(app=app)
    retry = Retry(first=0.01, reconnects=None)  # it would reconnect forever, but not on a 4xx
    async with lifespan(app), CacheClient("http://api", transport=transport, retry=retry) as c:
        seen = recorder(c)
        with pytest.raises(CacheApiError) as refused:
            async for _ in c.stream_tickers(symbols=["BTC/*"]):
                pass
    assert (refused.value.status, refused.value.code) == (400, "bad_request")
    assert "symbols" in refused.value.message
    assert [r.status_code for r in seen] == [400]


async def test_a_stream_refused_again_and_again_raises_once_its_reconnects_are_spent(
    settings, snapshot, caplog
) -> None:
    refusals: list[Response] = [maintenance(503, "1"), maintenance(504, "2")]
    transport = httpx.ASGITransport(app=host(create_app(settings), refusals))
    retry = dataclasses.replace(QUICK, reconnects=2)
    caplog.set_level(logging.INFO, logger="fullon.cache_api.client")
    async with CacheClient("http://host/cache", transport=transport, retry=retry) as cache:
        seen = recorder(cache)
        with pytest.raises(CacheApiError) as refused:
            async for _ in cache.stream_tickers(exchange="binance"):
                pass
    assert (refused.value.status, refused.value.code) == (504, "maintenance")
    assert [r.status_code for r in seen] == [503, 504]
    assert [r.getMessage() for r in caplog.records] == [
        "GET /stream/tickers: CacheApiError: 503 maintenance: back soon; reconnecting in 1.00 s"
    ]


async def test_a_stream_that_ends_is_not_reconnected_when_no_reconnect_is_left(
    settings, clock, snapshot
) -> None:
    """The stream's lifetime ends it (``event: end``): a client allowed one connection stops;
    its events were the subscription, the snapshot, then the end (no heartbeat comment shows
    as an event)."""
    short = dataclasses.replace(settings, stream_max_lifetime=1.0, stream_heartbeat=0.1)
    app = create_app(short, clock=clock)
    transport = httpx.ASGITransport(app=app)
    retry = Retry(reconnects=1)
    async with lifespan(app), CacheClient("http://api", transport=transport, retry=retry) as c:
        seen = recorder(c)
        events = [e async for e in c.stream_tickers(exchange="binance", symbols=["BTC/USDT"])]
    assert [r.status_code for r in seen] == [200]
    assert events[0] == Event("subscribed", Subscribed(None))
    assert events[-1].event == "end" and events[-1].data == StreamEnd(reason="max_lifetime")
    assert {e.event for e in events[1:-1]} == {"snapshot"}


@pytest.mark.slow
def test_the_sync_client_waits_between_tries_and_gives_up(caplog) -> None:
    """Over a served API whose Redis does not answer: each read is answered 503 and tried
    again after its wait (the sync client sleeps it), then raised; a stream refused so gives
    up after its reconnects."""
    caplog.set_level(logging.INFO, logger="fullon.cache_api.client")
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    retry = Retry(attempts=3, first=0.01, reconnects=2)
    with serve_api(env={"REDIS_URL": nowhere}) as served, SyncCacheClient(served.base) as cache:
        cache.retry = retry
        with pytest.raises(CacheApiError) as down:
            cache.ticker("binance", "BTC/USDT")
        assert (down.value.status, down.value.code) == (503, "cache_unavailable")
        retries = [r.getMessage() for r in caplog.records]
        assert len(retries) == 2
        assert retries[0].startswith(
            "GET /tickers/binance/BTC/USDT: CacheApiError: 503 cache_unavailable: "
        )
        assert retries[0].endswith("; again in 0.01 s") and retries[1].endswith("again in 0.02 s")
        caplog.clear()
        with pytest.raises(CacheApiError) as refused:
            next(cache.stream_tickers(exchange="binance"))
        assert (refused.value.status, refused.value.code) == (503, "cache_unavailable")
        (reconnected,) = [r.getMessage() for r in caplog.records]
        assert reconnected.endswith("; reconnecting in 0.01 s")


@pytest.mark.slow
def test_a_sync_stream_ends_with_the_server_when_no_reconnect_is_left(
    redis_server, snapshot
) -> None:
    env = {
        "REDIS_URL": reader_url(redis_server),
        "FULLON_CACHE_API_STREAM_MAX_LIFETIME": "1",
    }
    with (
        serve_api(env=env) as served,
        SyncCacheClient(served.base, retry=Retry(reconnects=1)) as cache,
    ):
        events = list(cache.stream_tickers(exchange="binance", symbols=["BTC/USDT"]))
    assert events[0] == Event("subscribed", Subscribed(None))
    assert events[-1].data == StreamEnd(reason="max_lifetime")


def test_a_sync_client_refuses_work_that_suspends() -> None:
    """Its coroutines run in one step, without an event loop: one that would wait for a loop
    is closed and refused, not left half-run."""
    work = asyncio.sleep(0)  # suspends once: nothing here would ever resume it
    with pytest.raises(RuntimeError) as refused:
        _blocking(work)
    assert str(refused.value) == "a SyncCacheClient awaited something that suspends"
    assert work.cr_frame is None  # closed


def test_the_stub_command_without_stub_says_what_to_do(capsys) -> None:
    from fullon_cache_api.client import _main

    with pytest.raises(SystemExit) as done:
        _main([])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err.endswith("error: nothing to do: --stub prints the stub\n")
    assert err.startswith("usage: python -m fullon_cache_api.client [-h] [--stub]")
