"""``create_app``: the one Starlette application, built from the route table."""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, Router, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from . import openapi
from .auth import Auth, Authorize
from .errors import ErrorBody, ErrorOut
from .layers import RouteApp
from .redis_clients import Backend, Clock, lifespan
from .responses import Reply
from .routes import ROUTES
from .routing import Endpoint
from .settings import Settings
from .ws.session import AuthenticateWebSocket, SocketApp, SocketSlots

__all__ = ["create_app", "endpoints"]

log = logging.getLogger("fullon.cache_api.app")
HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def create_app(
    settings: Settings | None = None,
    *,
    redis: Redis | None = None,
    clock: Clock | None = None,
    require_user: bool = False,
    authorize: Authorize | None = None,
    authenticate_websocket: AuthenticateWebSocket | None = None,
) -> Starlette:
    """Build the API.

    ``settings`` default to ``Settings.from_env()``. ``redis``: a client to use instead of one
    built from the settings; the app never closes it. ``clock``: "now" as epoch seconds (tests
    pin it). The app works mounted with no lifespan (its Redis client is made on first use, on
    each event loop it serves); hosts may enter ``fullon_cache_api.lifespan(app)`` to open and
    close it explicitly.

    Mounted in a host that authenticates: ``require_user=True`` answers 401 when the host put
    no ``request.state.user``; ``authorize(request, resource)`` (async, returns bool) may refuse
    a read with 403. Standalone: bearer tokens from ``settings.tokens``.

    WebSocket handshakes never pass a host's HTTP middleware: ``authenticate_websocket(websocket)``
    (async) runs first at each handshake; it may set ``websocket.state.user``, or refuse by
    closing the socket or returning False. ``require_user`` and ``authorize`` then apply to the
    handshake and to every action as to HTTP requests.
    """
    settings = Settings.from_env() if settings is None else settings
    backend = Backend(settings, redis, clock)
    auth = Auth.of(settings, require_user, authorize)
    slots = SocketSlots(settings.ws_max_sockets)
    routes: list[BaseRoute] = [
        Route(r.path, RouteApp(r, backend, auth), methods=["GET"], name=r.name)
        if isinstance(r, Endpoint)
        else WebSocketRoute(
            r.path, SocketApp(r, backend, auth, slots, authenticate_websocket), name=r.name
        )
        for r in ROUTES
    ]
    app = Starlette(
        middleware=[Middleware(StripTrailingSlash)],
        exception_handlers={HTTPException: http_error, Exception: internal_error},
    )
    app.router = HeadRouter(routes)
    app.state.backend = backend
    secured = bool(settings.tokens or require_user or authorize)
    app.state.openapi = openapi.build(endpoints(app), settings, secured)
    return app


def endpoints(app: Starlette) -> list[Endpoint]:
    """The route table of a running app: the declaration of each of its routes."""
    return [
        route.endpoint.endpoint
        for route in app.routes
        if isinstance(route, Route) and isinstance(route.endpoint, RouteApp)
    ]


class HeadRouter(Router):
    """Starlette's router, trying in turn only the routes of the path's first segment and
    number of segments (there are 40-odd routes: trying them all cost as much as answering
    from the local cache). No
    redirects: ``/tickers/`` answers like ``/tickers`` (see ``StripTrailingSlash``). WebSocket
    handshakes go through Starlette's own matching."""

    def __init__(self, routes: list[BaseRoute]) -> None:
        super().__init__(routes, redirect_slashes=False, lifespan=lifespan)
        self.by_head: dict[str, list[tuple[BaseRoute, int, bool]]] = {}
        """By first segment: each route, its number of slashes, and whether it has a ``:path``
        parameter (which may hold more)."""
        for route in routes:
            assert isinstance(route, Route | WebSocketRoute)
            head = route.path.split("/")[1]
            if "{" in head:
                raise ValueError(f"{route.path}: a route's first segment must be a fixed word")
            slashes, open_ended = route.path.count("/"), ":path}" in route.path
            self.by_head.setdefault(head, []).append((route, slashes, open_ended))

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().app(scope, receive, send)
            return
        scope.setdefault("router", self)
        partial: tuple[BaseRoute, Scope] | None = None
        path = _route_path(scope)
        slashes = path.count("/")
        for route, needed, open_ended in self.by_head.get(path.split("/", 2)[1], ()):
            if slashes != needed and not (open_ended and slashes > needed):
                continue  # it cannot match: not worth its regular expression
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope["route"] = route
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
            if match is Match.PARTIAL and partial is None:  # another method: 405
                partial = route, child_scope
        if partial is None:
            await self.default(scope, receive, send)  # 404
            return
        scope["route"] = partial[0]
        scope.update(partial[1])
        await partial[0].handle(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path below the root path (a mounted app's routes match it)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


class StripTrailingSlash:
    """Route ``/tickers/`` exactly as ``/tickers`` (no redirect), mounted or not; and the root
    path itself as ``/`` (served under a server's ``root_path``, ``/api/v1/cache`` is the home
    page; a host's ``Mount`` never passes it on, its router redirects it to ``/api/v1/cache/``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            root: str = scope.get("root_path", "")
            if path.endswith("/") and len(path) > len(root) + 1:
                scope = {**scope, "path": path.rstrip("/") or "/"}
            elif root and path == root:
                scope = {**scope, "path": root + "/"}
        await self.app(scope, receive, send)


class _ReplyResponse(Response):
    """A pipeline ``Reply`` where Starlette's exception handlers want a ``Response``."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.status_code = reply.status
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.reply.send(scope, receive, send)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's routing errors (unknown path, other method) in the API's error shape."""
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "bad_request")
    if exc.status_code == 404:
        message = f"no route {request.url.path}"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed: this API only reads (GET, HEAD)"
    else:
        message = str(exc.detail)
    body = ErrorOut(ErrorBody(exc.status_code, code, message))
    return _ReplyResponse(Reply.json(body, exc.status_code, dict(exc.headers or {})))


async def internal_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    body = ErrorOut(ErrorBody(500, "internal", "internal error"))
    return _ReplyResponse(Reply.json(body, 500))
