"""Authentication and authorization: bearer tokens standalone, and a host's user and
``authorize`` hook when mounted (through a host app with such a middleware)."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from fullon_cache_api import Resource, Settings, create_app, lifespan

from support import expect, http_client

pytestmark = pytest.mark.usefixtures("snapshot")
BTC = "/tickers/binance/BTC/USDT"


def with_tokens(settings: Settings, **extra: object) -> Settings:
    return Settings(redis_url=settings.redis_url, tokens=("alpha-token", "beta-token"), **extra)


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong", "Bearer alpha", "Basic alpha-token", "alpha-token", "Bearer "],
)
async def test_missing_or_wrong_token_is_401(settings, clock, header) -> None:
    app = create_app(with_tokens(settings), clock=clock)
    headers = {"Authorization": header} if header else {}
    async with lifespan(app), http_client(app) as http:
        response = await http.get(BTC, headers=headers)
    body = expect(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert body["error"]["code"] == "unauthorized"


async def test_any_configured_token_opens_every_route(settings, clock) -> None:
    app = create_app(with_tokens(settings), clock=clock)
    async with lifespan(app), http_client(app) as http:
        for token in ("alpha-token", "beta-token"):
            body = expect(await http.get(BTC, headers={"Authorization": f"bearer {token}"}))
            assert body["price"] == 300.0


async def test_health_stays_open_unless_closed_by_setting(settings, clock) -> None:
    app = create_app(with_tokens(settings), clock=clock)
    async with lifespan(app), http_client(app) as http:
        assert expect(await http.get("/health"))["status"] == "ok"
    app = create_app(with_tokens(settings, public_health=False), clock=clock)
    async with lifespan(app), http_client(app) as http:
        expect(await http.get("/health"), 401)


async def test_open_by_default(client) -> None:
    assert expect(await client.get(BTC))["price"] == 300.0


class SetUser:
    """Like master_api's middleware: puts the authenticated user on request.state, rejects
    nothing itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            user = dict(scope["headers"]).get(b"x-user")
            if user:
                scope.setdefault("state", {})["user"] = user.decode()
        await self.app(scope, receive, send)


def mounted(cache_app: Starlette) -> Starlette:
    return Starlette(
        routes=[Mount("/api/v1/cache", app=cache_app)], middleware=[Middleware(SetUser)]
    )


async def test_require_user_when_mounted(settings, clock) -> None:
    cache_app = create_app(settings, clock=clock, require_user=True)
    async with lifespan(cache_app), http_client(mounted(cache_app)) as http:
        response = await http.get("/api/v1/cache" + BTC)
        assert expect(response, 401)["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
        body = expect(await http.get("/api/v1/cache" + BTC, headers={"X-User": "alice"}))
        assert body["price"] == 300.0


async def test_authorize_hook_refuses_per_account_reads_with_403(settings, clock) -> None:
    seen: list[Resource] = []

    async def authorize(request, resource: Resource) -> bool:
        seen.append(resource)
        if request.state.user == "admin":
            return True
        # alice may read account 1, user 7 and bot 41 only, and no cross-account listing
        return (resource.ex_id, resource.uid, resource.bot_id) in {
            ("1", None, None),
            (None, "7", None),
            (None, None, "41"),
        }

    cache_app = create_app(settings, clock=clock, require_user=True, authorize=authorize)
    base = "/api/v1/cache"
    async with lifespan(cache_app), http_client(mounted(cache_app)) as http:
        alice = {"X-User": "alice"}
        balances = expect(await http.get(base + "/accounts/1/balances", headers=alice))
        assert balances["ex_id"] == "1" and balances["count"] == 2
        body = expect(await http.get(base + "/accounts/2/balances", headers=alice), 403)
        assert body["error"]["code"] == "forbidden"
        expect(await http.get(base + "/accounts", headers=alice), 403)
        expect(await http.get(base + "/bots/41", headers=alice))
        expect(await http.get(base + "/bots/42", headers=alice), 403)
        expect(await http.get(base + "/orders", params={"uid": "7"}, headers=alice))
        expect(await http.get(base + "/orders", params={"uid": "8"}, headers=alice), 403)
        expect(await http.get(base + "/accounts/2/balances", headers={"X-User": "admin"}))
        expect(await http.get(base + "/accounts/2/balances"), 401)  # no user: never reaches it
    assert Resource("/accounts/{ex_id}/balances", ex_id="2") in seen
    assert Resource("/orders", uid="8") in seen
