"""The app as a whole: errors, methods, paths, and the Redis client lifecycle in all three uses
(mounted with no lifespan, a host entering the exported lifespan, a caller's own client)."""

from __future__ import annotations

import time
from contextlib import asynccontextmanager

import anyio
import httpx
import pytest
import redis
import redis.asyncio
from starlette.applications import Starlette
from starlette.routing import Mount

from fullon_cache_api import Settings, create_app, lifespan
from fullon_cache_api import redis_clients as client_module
from fullon_cache_api.demo.redis_server import free_port
from fullon_cache_api.main import create_app as legacy_create_app
from fullon_cache_api.routes import ENDPOINTS

from support import Clock, api_connection_ids, api_connections, expect, http_client

BTC = "/tickers/binance/BTC/USDT"


def test_master_api_import_path() -> None:
    assert legacy_create_app is create_app


async def test_unknown_path_is_json_404(client) -> None:
    body = expect(await client.get("/nope/at/all"), 404)
    assert body == {
        "error": {"status": 404, "code": "not_found", "message": "no route /nope/at/all"}
    }


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
async def test_other_methods_are_405_with_allow(client, snapshot, method) -> None:
    for endpoint in ("/tickers", BTC, "/health"):
        response = await client.request(method, endpoint)
        body = expect(response, 405)
        assert body["error"]["code"] == "method_not_allowed"
        assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD"}


async def test_head_answers_like_get_without_body(client, snapshot) -> None:
    get = await client.get(BTC)
    head = await client.head(BTC)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == "application/json"
    assert head.headers["content-length"] == get.headers["content-length"]


async def test_trailing_slash_answers_the_same_without_redirect(client, snapshot) -> None:
    for path in ("/tickers", "/tickers/binance", BTC, "/health"):
        plain, slashed = await client.get(path), await client.get(path + "/")
        assert slashed.status_code == plain.status_code
        if path != "/health":
            assert slashed.json() == plain.json()


async def test_every_answer_has_nosniff(client, snapshot) -> None:
    for path in ("/health", BTC, "/tickers/nowhere", "/nope", "/tickers/*"):
        assert (await client.get(path)).headers["x-content-type-options"] == "nosniff"


async def test_internal_error_is_json_without_traceback(settings) -> None:
    def broken_clock() -> float:
        raise ZeroDivisionError("secret detail")

    app = create_app(settings, clock=broken_clock)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with lifespan(app), httpx.AsyncClient(transport=transport, base_url="http://a") as http:
        response = await http.get("/tickers/binance")
    body = expect(response, 500)
    assert body == {"error": {"status": 500, "code": "internal", "message": "internal error"}}
    assert "secret" not in response.text and "Traceback" not in response.text


def test_route_names_are_unique_and_every_endpoint_documented() -> None:
    names = [f"{e.tag}.{e.handler.__name__}" for e in ENDPOINTS]
    assert len(names) == len(set(names))
    assert all(e.summary for e in ENDPOINTS)


# Client lifecycle -------------------------------------------------------------------------------


def host_app(cache_app: Starlette, lifespan_too: bool = False) -> Starlette:
    """A host like master_api: mounts the API at /api/v1/cache."""

    @asynccontextmanager
    async def host_lifespan(host: Starlette):
        async with lifespan(cache_app):
            yield

    return Starlette(
        routes=[Mount("/api/v1/cache", app=cache_app)],
        lifespan=host_lifespan if lifespan_too else None,
    )


async def test_mounted_without_lifespan_makes_one_client_under_concurrent_first_requests(
    settings, clock, snapshot, monkeypatch
) -> None:
    made = []
    real_connect = client_module.connect

    def counting_connect(s: Settings):
        made.append(s)
        return real_connect(s)

    monkeypatch.setattr(client_module, "connect", counting_connect)
    cache_app = create_app(settings, clock=clock)
    results = []
    async with http_client(host_app(cache_app)) as http:  # no lifespan runs for the mount

        async def get(path: str) -> None:
            results.append(await http.get(path))

        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(get, "/api/v1/cache" + BTC)
        assert len(made) == 1
        assert {r.status_code for r in results} == {200}
        assert results[0].json()["price"] == 300.0
        slashed = await http.get("/api/v1/cache/tickers/")
        assert slashed.status_code == 200 and slashed.json()["count"] == 6
        assert expect(await http.get("/api/v1/cache/nope"), 404)["error"]["code"] == "not_found"
    await cache_app.state.backend.aclose()


async def test_host_entering_the_lifespan_closes_every_connection(
    settings, clock, snapshot, redis_server
) -> None:
    known = api_connection_ids(redis_server)
    cache_app = create_app(settings, clock=clock)
    host = host_app(cache_app, lifespan_too=True)
    async with host.router.lifespan_context(host), http_client(host) as http:
        assert expect(await http.get("/api/v1/cache" + BTC))["bid"] == 299.5
        assert api_connections(redis_server, known) >= 1
    assert api_connections(redis_server, known) == 0


async def test_a_callers_client_is_used_and_never_closed(redis_server, clock, snapshot) -> None:
    from support import reader_url

    own = redis.asyncio.Redis.from_url(reader_url(redis_server))
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0"), redis=own, clock=clock)
    async with lifespan(app), http_client(app) as http:
        assert expect(await http.get(BTC))["ask"] == 300.5
    assert await own.ping() is True  # still open and usable
    await own.aclose()


async def test_closed_port_is_503_within_the_connect_timeout() -> None:
    settings = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", connect_timeout=5.0)
    app = create_app(settings)
    async with lifespan(app), http_client(app) as http:
        for path in (BTC, "/tickers", "/tickers/binance", "/exchanges", "/overview", "/info"):
            start = time.monotonic()
            body = expect(await http.get(path), 503)
            assert time.monotonic() - start < settings.connect_timeout
            assert body["error"] == {
                "status": 503,
                "code": "cache_unavailable",
                "message": "the cache is unavailable",
            }
        health = await http.get("/health")
    body = expect(health, 503)
    assert body["status"] == "unavailable" and body["redis"] == {"ok": False}
    assert body["error"]["code"] == "cache_unavailable"


async def test_pinned_clock_drives_ages(settings, snapshot) -> None:
    clock = Clock(1764100000.0 + 12.5)
    app = create_app(settings, clock=clock)
    async with lifespan(app), http_client(app) as http:
        assert expect(await http.get(BTC))["age_s"] == 12.5


def test_a_test_client_without_with_answers_every_request(settings, clock, snapshot, redis_server):
    """Hosts (fullon_master_api, the original fullon_cache_api) test with Starlette's TestClient
    without a ``with`` block: each request runs on a new event loop. Each loop gets its own
    client, closed when that loop ends."""
    from starlette.testclient import TestClient

    known = api_connection_ids(redis_server)
    for app in (create_app(settings, clock=clock), host_app(create_app(settings, clock=clock))):
        client = TestClient(app)
        prefix = "" if app.routes[0].path != "/api/v1/cache" else "/api/v1/cache"
        responses = [client.get(prefix + BTC) for _ in range(4)]
        assert [r.status_code for r in responses] == [200] * 4
        assert {r.json()["price"] for r in responses} == {300.0}
        assert client.get(prefix + "/tickers/nowhere").status_code == 404
        assert api_connections(redis_server, known) == 0  # every loop closed what it opened
