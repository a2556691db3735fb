"""``CacheClient``: a method for every route of the table, taking the route's parameters, and
answering what the real app answers (snapshot loaded, read-only user), errors as
``CacheApiError``."""

from __future__ import annotations

import dataclasses
import inspect
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import msgspec
import pytest
from starlette.applications import Starlette

from fullon_cache_api import create_app, lifespan
from fullon_cache_api.client import CacheApiError, CacheClient
from fullon_cache_api.routes import ENDPOINTS
from fullon_cache_api.routing import Endpoint

from support import SAMPLE_VALUES, fill, http_client, reader_url, serve_api

TOKEN = "client-token-0123456789"


@pytest.fixture
async def cache(app: Starlette, snapshot: dict[str, Any]) -> AsyncIterator[CacheClient]:
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with CacheClient("http://api", transport=transport) as client:
            yield client


def path_args(endpoint: Endpoint) -> list[str]:
    return [SAMPLE_VALUES[p.name] for p in endpoint.params if p.where == "path"]


def test_every_route_has_a_method_with_its_parameters() -> None:
    for endpoint in ENDPOINTS:
        method = getattr(CacheClient, endpoint.handler.__name__)
        assert method.endpoint is endpoint
        parameters = list(inspect.signature(method).parameters.values())[1:]
        in_path = [p.name for p in endpoint.params if p.where == "path"]
        in_query = [p.name for p in endpoint.params if p.where == "query"]
        assert [p.name for p in parameters if p.kind is p.POSITIONAL_OR_KEYWORD] == in_path
        assert [p.name for p in parameters if p.kind is p.KEYWORD_ONLY] == in_query
        assert endpoint.template in (method.__doc__ or "")
    routes = {e.handler.__name__ for e in ENDPOINTS}
    methods = {n for n, v in vars(CacheClient).items() if hasattr(v, "endpoint")}
    assert methods == routes


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
            with pytest.raises(CacheApiError) as refused:
                await anonymous.ticker("binance", "BTC/USDT")
    assert refused.value.status == 401


async def test_a_mounted_api_is_reached_below_its_base_url(settings, clock, snapshot) -> None:
    from starlette.routing import Mount

    host = Starlette(routes=[Mount("/api/v1/cache", app=create_app(settings, clock=clock))])
    transport = httpx.ASGITransport(app=host)
    async with CacheClient("http://api/api/v1/cache", transport=transport) as client:
        assert (await client.ticker("binance", "BTC/USDT")).symbol == "BTC/USDT"
        assert (await client.home_page()).status_code == 200


@pytest.mark.slow
async def test_stream_tickers_yields_decoded_events(redis_server, snapshot, admin) -> None:
    tick = {"price": 301.0, "bid": 300.5, "ask": 301.5, "volume": 12.0, "time": 1764100100.0}
    with serve_api(env={"REDIS_URL": reader_url(redis_server)}) as served:
        async with CacheClient(served.base) as client, anyio.create_task_group() as group:

            async def publish() -> None:  # until the stream, subscribed by then, gets one
                while True:
                    admin.publish("ticker_updates:binance:BTC/USDT", json.dumps(tick))
                    await anyio.sleep(0.1)

            group.start_soon(publish)
            with anyio.fail_after(30):
                events = await client.stream_tickers(exchange="binance", symbols=["BTC/USDT"])
                event, data = await anext(events)
                await events.aclose()
            group.cancel_scope.cancel()
    assert event == "ticker" and data["symbol"] == "BTC/USDT" and data["price"] == 301.0
