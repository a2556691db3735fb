"""The request pipeline of one route: small layers with one job each, composed by wrapping, the
way Starlette composes middleware, and chosen from the route's declaration when the app is
built (a layer a route does not need is not there at all).

Outermost first::

    Observe       metrics of the final status and the time taken
    MapErrors     any exception -> the one JSON error shape (logged; no traceback leaves)
    Authenticate  bearer token / the host's user; the token's scopes cover the route's
                  family                                      (when auth is configured)
    Pace          requests per second per token (per client address on open routes), 429
                  past its burst; a stream's slot of its token (with tokens)
    ParseParams   the declared parameters -> typed arguments (400 on a bad one)
    Authorize     the token's allow-lists and the host's hook, on the declared account ids
                  (when either is set)
    Conditional   ETag from what the answer is built from; 304 (routes with ``etag``)
    Deadline      the whole answer within ``request_timeout``, else 504
    Share         identical requests share one answer (``heavy`` routes), for at most
                  ``heavy_share_ms`` from when it began (a costly one lingers as long as it
                  took within that time); later requests wait for the next, which a
                  costly one begins only as long after its end as it took
    Limit         at most ``heavy_concurrency`` at once per process   (``heavy`` routes)
    CallHandler   the handler, its Struct encoded once (a listing that declares its items'
                  ids keeps only an allow-listed token's own)

A route's ASGI app (``RouteApp``) runs the pipeline and sends its ``Reply``.

Around the whole app (the router, unknown paths and internal errors included), ``RequestId``
gives each request its id, for its logs and its answer's ``X-Request-ID`` (see ``requestids``);
around that, when opentelemetry is installed, ``Trace`` gives each HTTP request its span (see
``tracing``), which ``RouteApp`` names by the route's template.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

import msgspec
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import metrics, tracing
from .auth import Auth, Resource, token_of
from .context import Ctx
from .errors import INTERNAL, ApiError, from_redis
from .logsafe import clean
from .readers.recorder import Recorder
from .redis_clients import Backend
from .requestids import request_id_of, reset_request_id, set_request_id
from .responses import Reply, etag, etag_matches
from .routing import Endpoint

__all__ = ["RequestId", "RouteApp", "Trace", "around_app", "build_pipeline"]

log = logging.getLogger("fullon.cache_api.app")


class Call:
    """One request going through the pipeline, with what the layers learn about it."""

    __slots__ = ("after", "args", "recorder", "request")

    def __init__(self, request: Request) -> None:
        self.request = request
        self.args: dict[str, Any] = {}
        self.recorder: Recorder | None = None
        self.after: list[Callable[[], None]] = []
        """What to do once the reply is sent (a stream's slot given back)."""


Layer = Callable[[Call], Awaitable[Reply]]


class Observe:
    def __init__(self, inner: Layer, endpoint: Endpoint) -> None:
        self.inner = inner
        self.route = endpoint.template

    async def __call__(self, call: Call) -> Reply:
        start = perf_counter()
        reply = await self.inner(call)
        metrics.observe(self.route, call.request.method, reply.status, perf_counter() - start)
        return reply


class MapErrors:
    def __init__(self, inner: Layer, endpoint: Endpoint) -> None:
        self.inner = inner
        self.failure = endpoint.failure

    async def __call__(self, call: Call) -> Reply:
        try:
            return await self.inner(call)
        except ApiError as exc:
            return Reply.error(exc)
        except (RedisError, TimeoutError) as exc:
            error = from_redis(exc)
            return Reply.error(error, None if self.failure is None else self.failure(error))
        except Exception:
            request = call.request
            method, path = clean(request.method, 20), clean(request.url.path)
            log.exception("unhandled error on %s %s", method, path)
            return Reply.error(INTERNAL)


class Authenticate:
    def __init__(self, inner: Layer, endpoint: Endpoint, auth: Auth) -> None:
        self.inner = inner
        self.route = endpoint.template
        self.family = endpoint.family
        self.auth = auth

    async def __call__(self, call: Call) -> Reply:
        self.auth.authenticate(call.request, self.route, self.family)
        return await self.inner(call)


class Pace:
    """The token's (or, on a route open without one, the client address's) request rate; a
    stream route also takes one of the token's stream slots, given back once it ends."""

    def __init__(self, inner: Layer, endpoint: Endpoint, auth: Auth) -> None:
        self.inner = inner
        self.route = endpoint.template
        self.stream = endpoint.stream_headers is not None
        self.auth = auth

    async def __call__(self, call: Call) -> Reply:
        request = call.request
        self.auth.pace(request, self.route)
        if not self.stream or request.method == "HEAD":
            return await self.inner(call)
        give = self.auth.open_stream(request, self.route)
        try:
            reply = await self.inner(call)
        except BaseException:
            give()
            raise
        call.after.append(give)
        return reply


class ParseParams:
    def __init__(self, inner: Layer, endpoint: Endpoint, backend: Backend) -> None:
        self.inner = inner
        self.params = endpoint.params
        self.in_query = any(p.where == "query" for p in endpoint.params)
        self.settings = backend.settings

    async def __call__(self, call: Call) -> Reply:
        request = call.request
        path = request.path_params
        query = request.query_params if self.in_query else path  # parsed only when read
        call.args = {
            p.name: p.parse((path if p.where == "path" else query).get(p.name), self.settings)
            for p in self.params
        }
        return await self.inner(call)


class Authorize:
    def __init__(self, inner: Layer, endpoint: Endpoint, auth: Auth) -> None:
        self.inner = inner
        self.endpoint = endpoint
        self.auth = auth

    async def __call__(self, call: Call) -> Reply:
        endpoint = self.endpoint
        resource = Resource.of(endpoint.template, endpoint.params, call.args)
        await self.auth.check(call.request, resource, endpoint.family, endpoint.lists)
        return await self.inner(call)


class Conditional:
    def __init__(self, inner: Layer) -> None:
        self.inner = inner

    async def __call__(self, call: Call) -> Reply:
        call.recorder = recorder = Recorder()
        reply = await self.inner(call)
        if reply.status != 200:
            return reply
        tag: str | None
        if reply.response is None:  # JSON: tagged by what it was built from
            reply.headers["ETag"] = tag = etag(recorder.digest())
        else:  # a raw answer carries its own, or none
            tag = reply.response.headers.get("etag")
        if tag is not None and etag_matches(_header(call.request.scope, b"if-none-match"), tag):
            return reply.not_modified(tag)
        return reply


def _header(scope: Scope, name: bytes) -> str | None:
    """A request header's first value (``name`` in lower case, as ASGI servers give them)."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")  # type: ignore[no-any-return]
    return None


class Deadline:
    def __init__(self, inner: Layer, backend: Backend) -> None:
        self.inner = inner
        self.backend = backend

    async def __call__(self, call: Call) -> Reply:
        deadlines = self.backend.resources().deadlines
        task = deadlines.start()
        try:
            return await self.inner(call)
        except asyncio.CancelledError:
            if deadlines.passed(task):
                raise TimeoutError("the request's deadline passed") from None  # 504
            raise
        finally:
            deadlines.end(task)


class Share:
    """Identical requests (same route, same arguments) get one answer, worked out once (with
    what it was built from, for each one's ETag): those that come while it is worked out, and,
    when it took 0.1 s or more, those that come within as long as it took; but only those that
    come within ``heavy_share_ms`` of when it began. A later one waits for the next answer,
    begun after it came, so no answer misses a write acknowledged more than ``heavy_share_ms``
    before its request (see ``flight.SingleFlight``)."""

    def __init__(self, inner: Layer, endpoint: Endpoint, backend: Backend) -> None:
        self.inner = inner
        self.route = endpoint.template
        self.backend = backend
        self.share_for = backend.settings.heavy_share_ms / 1000

    async def __call__(self, call: Call) -> Reply:
        key = (self.route, *((name, _hashable(value)) for name, value in call.args.items()))

        async def answer() -> tuple[Reply, bytes | None]:
            own = Call(call.request)
            own.args, own.recorder = call.args, None if call.recorder is None else Recorder()
            reply = await self.inner(own)
            return reply, None if own.recorder is None else own.recorder.digest()

        flights = self.backend.resources().flights
        flight = ("answer", *key)
        reply, digest = await flights.run(flight, answer, linger=True, share_for=self.share_for)
        if call.recorder is not None and digest is not None:
            call.recorder.add(digest)
        return reply.copy()


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


class Limit:
    def __init__(self, inner: Layer, backend: Backend) -> None:
        self.inner = inner
        self.backend = backend

    async def __call__(self, call: Call) -> Reply:
        async with self.backend.resources().heavy:
            return await self.inner(call)


class CallHandler:
    def __init__(self, endpoint: Endpoint, backend: Backend) -> None:
        self.handler = endpoint.handler
        self.backend = backend
        self.headers = {"Cache-Control": "no-store"} if endpoint.no_store else None
        self.stream_headers = endpoint.stream_headers
        self.lists = None if endpoint.lists is None else endpoint.lists.value

    async def __call__(self, call: Call) -> Reply:
        request = call.request
        if self.stream_headers is not None and request.method == "HEAD":
            return Reply.raw(Response(headers=self.stream_headers))  # never opens the stream
        ctx = Ctx(self.backend, request.app, request.scope.get("root_path", ""), call.recorder)
        answer = await self.handler(ctx, **call.args)
        if self.lists is not None:
            answer = self._own(call, answer)
        if isinstance(answer, Response):
            return Reply.raw(answer)
        return Reply.json(answer, 200, dict(self.headers) if self.headers else None)

    def _own(self, call: Call, answer: Any) -> Any:
        """A listing's items an allow-listed token may see (its ETag tells them apart)."""
        token = token_of(call.request)
        kind = self.lists or ""
        allowed = None if token is None else getattr(token, kind + "s")
        if allowed is None:
            return answer
        items = [item for item in answer.items if getattr(item, kind) in allowed]
        if call.recorder is not None:
            call.recorder.add(hashlib.sha256(" ".join(sorted(allowed)).encode()).digest())
        return msgspec.structs.replace(answer, items=items, count=len(items))


def build_pipeline(endpoint: Endpoint, backend: Backend, auth: Auth) -> Layer:
    """The route's layers, as its declaration and the auth settings call for."""
    layer: Layer = CallHandler(endpoint, backend)
    if endpoint.heavy:
        layer = Share(Limit(layer, backend), endpoint, backend)
    layer = Deadline(layer, backend)
    if endpoint.etag:
        layer = Conditional(layer)
    checked = auth.authenticates(endpoint.access)
    if checked and (auth.authorize is not None or auth.tokens is not None):
        layer = Authorize(layer, endpoint, auth)
    layer = ParseParams(layer, endpoint, backend)
    if auth.limits:
        layer = Pace(layer, endpoint, auth)
    if checked:
        layer = Authenticate(layer, endpoint, auth)
    return Observe(MapErrors(layer, endpoint), endpoint)


class RouteApp:
    """A route's ASGI app: the pipeline, then its reply. ``endpoint`` is the declaration (the
    OpenAPI document reads the route table off the running app through it)."""

    def __init__(self, endpoint: Endpoint, backend: Backend, auth: Auth) -> None:
        self.endpoint = endpoint
        self.template = endpoint.template
        self.pipeline = build_pipeline(endpoint, backend, auth)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tracing.route(self.template)
        call = Call(Request(scope, receive, send))
        reply = await self.pipeline(call)
        try:
            await reply.send(scope, receive, send)
        finally:
            for done in call.after:
                done()


class RequestId:
    """ASGI layer: the request's id (``requestids.request_id_of``) set for the task while it
    is served, so that every log record of it carries the id, and in the answer's
    ``X-Request-ID``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope["headers"])
        token = set_request_id(request_id)
        if scope["type"] == "http":
            header = (b"x-request-id", request_id.encode("ascii"))

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", ()), header]}
                await send(message)

            await self.app(scope, receive, send_with_id)
        else:
            await self.app(scope, receive, send)
        # Not reset when an exception escapes: the server logs it next, in this request's
        # task, and that line carries the id too (the task, and its value, end with it; a
        # next request in the same task sets its own).
        reset_request_id(token)


class Trace:
    """ASGI layer: an HTTP request's span (``tracing.serve``), current while it is served, with
    the status its answer starts with. A request passes untouched while the host has set no
    tracer provider."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        served = tracing.serve(scope) if scope["type"] == "http" else None
        if served is None:
            await self.app(scope, receive, send)
            return

        async def send_traced(message: Message) -> None:
            if message["type"] == "http.response.start":
                served.status = message["status"]
            await send(message)

        with served:
            await self.app(scope, receive, send_traced)


def around_app(app: ASGIApp) -> ASGIApp:
    """What goes around the whole app: ``RequestId``, and ``Trace`` around it when
    opentelemetry is installed (without it, not even a layer)."""
    app = RequestId(app)
    return Trace(app) if tracing.INSTALLED else app
