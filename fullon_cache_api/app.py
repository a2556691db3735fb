"""``create_app``: the one Starlette application, built from the route table."""

from __future__ import annotations

import logging

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, Router, WebSocketRoute
from starlette.types import Receive, Scope, Send

from . import openapi
from .auth import Auth, Authorize
from .errors import INTERNAL, ApiError, BadRequest, MethodNotAllowed, NotFound
from .internals import LeanStarlette
from .layers import RouteApp, around_app
from .logsafe import clean
from .redis_clients import Backend, Clock, lifespan
from .responses import Reply
from .routes import ROUTES
from .routing import Endpoint
from .settings import Settings
from .ws.session import AuthenticateWebSocket, SocketApp, SocketSlots

__all__ = ["create_app", "endpoints"]

log = logging.getLogger("fullon.cache_api.app")


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
    app = CacheApp(exception_handlers={Exception: internal_error})
    app.router = HeadRouter(routes)
    app.state.backend = backend
    secured = bool(settings.tokens or settings.tokens_file or require_user or authorize)
    app.state.openapi = openapi.build(endpoints(app), settings, secured)
    return app


def endpoints(app: Starlette) -> list[Endpoint]:
    """The route table of a running app: the declaration of each of its routes."""
    return [
        route.endpoint.endpoint
        for route in app.routes
        if isinstance(route, Route) and isinstance(route.endpoint, RouteApp)
    ]


class CacheApp(LeanStarlette):
    """The application: the router answers an unknown path (404) or method (405) itself,
    every route's pipeline maps its own errors, and ``ServerErrorMiddleware`` answers anything
    else as the one internal error (see ``internals.LeanStarlette``); middleware a host adds
    still runs. Outermost, ``RequestId`` gives every request, errors included, its id, and
    ``Trace`` (when opentelemetry is installed) its span (``layers.around_app``)."""

    outer = staticmethod(around_app)


class HeadRouter(Router):
    """Starlette's router, trying in turn only the routes of the path's first segment and
    number of segments (a handful, not the whole table: the work of matching a path does not
    grow with the number of routes). No redirects: ``/tickers/`` answers like ``/tickers``,
    mounted or not, and the root path itself (``/api/v1/cache`` under a server's
    ``root_path``; a host's ``Mount`` never passes it on, its router redirects it) like ``/``.
    Unknown paths and methods are answered in the API's error shape. WebSocket handshakes go
    through Starlette's own matching."""

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
        root: str = scope.get("root_path", "")
        path: str = scope["path"]
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        if not path.startswith("/"):  # ``OPTIONS *``, ``CONNECT host:port``: not a path
            await Reply.error(_not_a_path(scope["method"])).send(scope, receive, send)
            return
        if (len(path) > 1 and path.endswith("/")) or scope["path"] == root:
            path = path.rstrip("/") or "/"
            scope = {**scope, "path": root + path}  # the host's scope keeps its path
        scope.setdefault("router", self)
        allowed: set[str] = set()
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
            if match is Match.PARTIAL:  # the path, for other methods
                allowed |= getattr(route, "methods", None) or set()
        error: ApiError
        if allowed:
            message = f"{scope['method']} is not allowed: this API only reads (GET, HEAD)"
            error = MethodNotAllowed(message, {"Allow": ", ".join(sorted(allowed))})
        else:
            error = NotFound(f"no route {scope['path']}")
        await Reply.error(error).send(scope, receive, send)


def _not_a_path(method: str) -> ApiError:
    """The answer to a request target that is no path: ``OPTIONS *`` asks what the server
    allows (reading only); any other such target is malformed here."""
    if method == "OPTIONS":
        message = "OPTIONS is not allowed: this API only reads (GET, HEAD)"
        return MethodNotAllowed(message, {"Allow": "GET, HEAD"})
    return BadRequest("the request target must be a path (this API serves no proxy requests)")


async def internal_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", clean(request.method, 20), clean(request.url.path))
    return _ReplyResponse(Reply.error(INTERNAL))


class _ReplyResponse(Response):
    """A ``Reply`` where Starlette's error middleware wants a ``Response``."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.status_code = reply.status
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.reply.send(scope, receive, send)
