"""Authentication and authorization: bearer tokens standalone, and a host's user and
``authorize`` hook when mounted (through a host app with such a middleware)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.types import ASGIApp, Receive, Scope, Send

from fullon_cache_api import Resource, Settings, create_app, lifespan
from fullon_cache_api.routing import Access

from support import SetReadmeUser, expect, fill, http_client, readme_authorize

pytestmark = pytest.mark.usefixtures("snapshot")
BTC = "/tickers/binance/BTC/USDT"


def with_tokens(settings: Settings, **extra: object) -> Settings:
    return dataclasses.replace(
        settings, tokens=("alpha-token-0123456", "beta-token-01234567"), **extra
    )


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
        for token in ("alpha-token-0123456", "beta-token-01234567"):
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
    assert Resource(route="/accounts/{ex_id}/balances", ex_id="2") in seen
    assert Resource(route="/orders", uid="8") in seen


# The README's hook, over every route ------------------------------------------------------------

WIDENING = {"ex_id": "11", "uid": "5", "bot_id": "99"}  # what the user owns


async def test_no_query_parameter_widens_what_the_readme_hook_sees(settings, clock) -> None:
    """For every route: the Resource the hook sees names only the ids the route reads by (its
    path ids and the filters its handler applies, as declared), whatever else the query says.
    A listing across accounts names none, so the README hook refuses it to a user who owns
    ex_id 11 even with ``?ex_id=11``."""
    from fullon_cache_api.routes import ENDPOINTS

    seen: list[Resource] = []

    async def recording(request, resource: Resource) -> bool:
        seen.append(resource)
        return await readme_authorize(request, resource)

    cache_app = create_app(settings, clock=clock, require_user=True, authorize=recording)
    host = Starlette(
        routes=[Mount("/api/v1/cache", app=cache_app)], middleware=[Middleware(SetReadmeUser)]
    )
    checked = 0
    async with lifespan(cache_app), http_client(host) as http:
        for endpoint in ENDPOINTS:
            if endpoint.access is not Access.GUARDED:
                continue  # open routes (probe, docs and pages): the hook is never asked
            path = "/api/v1/cache" + fill(endpoint.path)
            seen.clear()
            get = http.head if endpoint.is_stream else http.get  # HEAD: authorized, not opened
            plain = await get(path, params={"limit": "5"} if "limit" in path else None)
            widened = await get(path, params=WIDENING)
            assert len(seen) == 2, endpoint.path
            declared = {p.name for p in endpoint.params if p.id_kind is not None}
            for name, value in WIDENING.items():
                got = getattr(seen[1], name)
                if name in declared and not any(
                    p.name == name and p.where == "path" for p in endpoint.params
                ):
                    assert got == value, endpoint.path  # a filter the handler applies
                else:
                    assert got == getattr(seen[0], name), (endpoint.path, name)
            if seen[0] == Resource(route=endpoint.template):  # across accounts: refused
                assert plain.status_code == 403, endpoint.path
                if seen[1] == seen[0]:
                    assert widened.status_code == 403, endpoint.path
                else:  # allowed by a filter the handler applies: only the user's own data
                    assert widened.status_code == 200, endpoint.path
                    if not endpoint.is_stream:  # tests/test_live.py reads the streams
                        assert {item["uid"] for item in widened.json()["items"]} <= {5}
            checked += 1
    assert checked >= 35


@pytest.mark.parametrize(
    "path", ["/accounts", "/orders", "/orders/queues", "/trades/status", "/bots", "/processes"]
)
async def test_cross_account_listings_are_refused_whatever_the_query(settings, clock, path) -> None:
    cache_app = create_app(settings, clock=clock, require_user=True, authorize=readme_authorize)
    host = Starlette(
        routes=[Mount("/api/v1/cache", app=cache_app)], middleware=[Middleware(SetReadmeUser)]
    )
    async with lifespan(cache_app), http_client(host) as http:
        response = await http.get("/api/v1/cache" + path, params={"ex_id": "11"})
    assert expect(response, 403)["error"]["code"] == "forbidden"


async def test_a_numeric_exchange_of_orders_is_an_ex_id(settings, clock, admin) -> None:
    """Writers key ``order_status:3`` by ex_id: /orders/3 reads account 3's orders."""
    seen: list[Resource] = []

    async def recording(request, resource: Resource) -> bool:
        seen.append(resource)
        return True

    admin.hset("order_status:11", "X1", json.dumps({"status": "open", "ex_id": 11}))
    cache_app = create_app(settings, clock=clock, authorize=recording)
    async with lifespan(cache_app), http_client(cache_app) as http:
        expect(await http.get("/orders/11"))
        expect(await http.get("/orders/11/X1"))
        expect(await http.get("/orders/binance"))
    assert seen == [
        Resource(route="/orders/{exchange}", ex_id="11"),
        Resource(route="/orders/{exchange}/{order_id}", ex_id="11"),
        Resource(route="/orders/{exchange}"),
    ]
