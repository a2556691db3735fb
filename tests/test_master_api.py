"""Composition into a FastAPI host built like master_api: CORS, a middleware that sets
``request.state.user``, the API mounted at /api/v1/cache, and its lifespan entered."""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from fullon_cache_api import lifespan as cache_lifespan
from fullon_cache_api.main import create_app

from support import api_connection_ids, api_connections, expect, http_client

pytestmark = pytest.mark.usefixtures("snapshot")
BASE = "/api/v1/cache"


class UserFromHeader:
    """Stands in for master_api's auth middleware: sets the user, rejects nothing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (user := dict(scope["headers"]).get(b"x-user")):
            scope.setdefault("state", {})["user"] = user.decode()
        await self.app(scope, receive, send)


def master_api(settings, clock) -> tuple[FastAPI, object]:
    cache_app = create_app(settings, clock=clock, require_user=True)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        async with cache_lifespan(cache_app):
            yield

    app = FastAPI(lifespan=lifespan)
    app.add_middleware(UserFromHeader)
    app.add_middleware(CORSMiddleware, allow_origins=["https://ui.example"], allow_methods=["GET"])

    @app.get("/api/v1/other")
    async def other() -> dict[str, str]:
        return {"from": "master_api"}

    app.mount(BASE, cache_app)
    return app, cache_app


async def test_routes_auth_docs_cors_and_lifecycle(settings, clock, redis_server) -> None:
    known = api_connection_ids(redis_server)
    app, _ = master_api(settings, clock)
    user = {"X-User": "alice"}
    async with app.router.lifespan_context(app), http_client(app) as http:
        body = expect(await http.get(f"{BASE}/tickers/binance/BTC/USDT", headers=user))
        assert (body["price"], body["bid"], body["ask"]) == (300.0, 299.5, 300.5)
        hyper = expect(await http.get(f"{BASE}/tickers/hyperliquid/BTC/USDC:USDC", headers=user))
        assert hyper["price"] == 900.0
        assert expect(await http.get("/api/v1/other")) == {"from": "master_api"}
        # master_api rejects nothing itself; the API asks for its user
        unauthorized = await http.get(f"{BASE}/tickers")
        assert expect(unauthorized, 401)["error"]["code"] == "unauthorized"
        assert expect(await http.get(f"{BASE}/nope", headers=user), 404)["error"]["code"]
        # docs: the document says where it is mounted; the page loads relative URLs
        document = expect(await http.get(f"{BASE}/openapi.json"))
        assert document["servers"] == [{"url": BASE}]
        assert "/tickers/{exchange}/{symbol}" in document["paths"]
        page = await http.get(f"{BASE}/docs")
        assert page.status_code == 200 and "swagger-ui" in page.text
        assert "http" not in page.text.split("<body>")[1]  # no CDN, no absolute URLs
        # CORS preflight is answered by the host's middleware
        preflight = await http.options(
            f"{BASE}/tickers",
            headers={"Origin": "https://ui.example", "Access-Control-Request-Method": "GET"},
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://ui.example"
        cors = await http.get(f"{BASE}/health", headers={"Origin": "https://ui.example", **user})
        assert cors.headers["access-control-allow-origin"] == "https://ui.example"
        assert api_connections(redis_server, known) >= 1
    assert api_connections(redis_server, known) == 0  # the host's shutdown closed the pool
