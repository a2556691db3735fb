"""Optional OpenTelemetry: a span per HTTP request, named by its route template, and under it a
span per Redis round trip.

Tracing is on when ``opentelemetry-api`` is installed (the ``otel`` extra) and the host has set
a tracer provider (an SDK's, with ``trace.set_tracer_provider`` or ``OTEL_PYTHON_TRACER_PROVIDER``),
as OpenTelemetry intends for a library: there is no setting. Otherwise nothing is traced, at
the cost of one check: without the package, ``layers.Trace`` is not even in the app, and
``route`` and ``round_trip`` return at once; with it but no provider, ``serve`` returns None
after asking the API for the provider.

The request's span (``serve``, entered by ``layers.Trace``) is a SERVER span whose parent is
what the global propagator reads from the request's headers (``propagate.extract``: a W3C
``traceparent``, and ``baggage``, unless ``OTEL_PROPAGATORS`` says otherwise). Inside a span
already current (a host's own instrumentation around a mounted app: FastAPI's, or
OpenTelemetry's ASGI middleware) it is an INTERNAL span under that one instead, as
OpenTelemetry's instrumentations do. Its name is the method, then the route template once a
route matched (``GET /tickers/{exchange}``); an unknown path or method keeps the method alone.
Attributes: ``http.request.method``, ``http.route``, ``http.response.status_code``,
``url.path``, ``url.scheme``, ``network.protocol.version``; a 5xx or an exception escaping
sets the ERROR status and ``error.type`` (the status, or the exception's type).

A Redis round trip (``round_trip``, from ``readers.source.Source._fetch``) is a CLIENT span
under the request's: named by its command (``HGET``), or ``PIPELINE`` for several in one round
trip (``db.operation.batch.size`` says how many, the PTTLs the local cache adds included), with
``db.system`` and ``db.system.name`` ``redis``, ``db.operation.name``, the database index
(``db.namespace``) and the server's address when the client's pool names them. Never a key, an
argument or a value: an error (raised, or an error reply) sets only ``error.type``, the
exception's type. Replies the local cache answers read no key and have no span (nor has
the hub's freshness ``PING``).

Round trips are traced only in the task that serves the request: a task it starts inherits its
context but traces nothing (a stream hub's pollers begin in the request that first needs them
and then serve every listener; they are no one request's).

A leaf: it imports nothing of the package but ``version``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from contextvars import ContextVar, Token
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .version import __version__

try:
    from opentelemetry import context as otel_context
    from opentelemetry import propagate, trace
    from opentelemetry.propagators.textmap import Getter
except ImportError:  # not installed: nothing is traced
    INSTALLED = False
else:
    INSTALLED = True

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer
    from redis.asyncio import Redis
    from starlette.types import Scope

__all__ = ["INSTALLED", "RoundTrip", "Served", "round_trip", "route", "serve"]

SCOPE_NAME = "fullon_cache_api"
"""The instrumentation scope the spans are made under (with the package's version)."""

_METHODS = frozenset(
    ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]
)
"""HTTP's methods (semantic conventions: any other is ``_OTHER``, its span named ``HTTP``)."""

_SERVED: ContextVar[tuple[asyncio.Task[Any] | None, Served] | None]
_SERVED = ContextVar("fullon_cache_api_served", default=None)
"""The task serving a traced request, and the request's span (when it records)."""

_tracer_of: tuple[object, Tracer | None] = (None, None)
"""The last tracer provider seen, and the tracer made from it (None: it traces nothing)."""


def _tracer() -> Tracer | None:
    """The package's tracer from the global provider, or None while the host has set none."""
    global _tracer_of
    provider = trace.get_tracer_provider()
    seen, tracer = _tracer_of
    if provider is not seen:
        tracer = None
        if not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
            tracer = provider.get_tracer(SCOPE_NAME, __version__)
            if isinstance(tracer, trace.NoOpTracer):  # an SDK disabled (OTEL_SDK_DISABLED)
                tracer = None
        _tracer_of = (provider, tracer)
    return tracer


def serve(scope: Scope) -> Served | None:
    """The span of the HTTP request of ``scope``, to enter while it is served; None when
    nothing is traced."""
    if not INSTALLED:
        return None
    tracer = _tracer()
    return None if tracer is None else Served(tracer, scope)


def route(template: str) -> None:
    """The request being served matched the route ``template``: its span says so."""
    if not INSTALLED:
        return
    served = _SERVED.get()
    if served is not None:
        served[1].matched(template)


def round_trip(redis: Redis, commands: Sequence[Sequence[Any]], sent: int) -> RoundTrip | None:
    """The span of a round trip about to send ``commands`` (``sent`` commands in all), to end
    with its ``replied`` or ``failed``; None unless the current task serves a traced request."""
    if not INSTALLED:
        return None
    served = _SERVED.get()
    if served is None or served[0] is not _task():
        return None
    return RoundTrip(served[1].tracer, redis, commands, sent)


class Served:
    """A request's span: started when made, current while entered, ended on exit. ``status``:
    the answer's, once it started (set by ``layers.Trace``)."""

    __slots__ = ("_entered", "_method", "_served", "context", "span", "status", "tracer")

    def __init__(self, tracer: Tracer, scope: Scope) -> None:
        self.tracer = tracer
        original: str = scope["method"]
        method = original if original in _METHODS else "_OTHER"
        attributes: dict[str, str] = {
            "http.request.method": method,
            "url.path": scope["path"],
            "url.scheme": scope.get("scheme", "http"),
        }
        if method != original:
            attributes["http.request.method_original"] = original
        if version := scope.get("http_version"):
            attributes["network.protocol.version"] = version
        self._method = "HTTP" if method == "_OTHER" else method
        if trace.get_current_span().get_span_context().is_valid:  # a host's span: under it
            parent = otel_context.get_current()
            kind = trace.SpanKind.INTERNAL
        else:
            parent = propagate.extract(scope["headers"], getter=_HEADERS)
            kind = trace.SpanKind.SERVER
        self.span: Span = tracer.start_span(self._method, parent, kind=kind, attributes=attributes)
        self.context: Context = trace.set_span_in_context(self.span, parent)
        self.status: int | None = None
        self._entered: Any = None
        """``attach``'s token: a ``Token[Context]`` (an ``object`` to opentelemetry-api 1.27)."""
        self._served: Token[tuple[asyncio.Task[Any] | None, Served] | None] | None = None

    def matched(self, template: str) -> None:
        self.span.update_name(f"{self._method} {template}")
        self.span.set_attribute("http.route", template)

    def __enter__(self) -> Served:
        self._entered = otel_context.attach(self.context)
        if self.span.is_recording():
            self._served = _SERVED.set((_task(), self))
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._served is not None:
            _SERVED.reset(self._served)
        otel_context.detach(self._entered)  # set by __enter__: a Served is only used in a with
        span, status = self.span, self.status
        if status is not None:
            span.set_attribute("http.response.status_code", status)
        if exc is not None:
            _failed(span, _type_name(exc))
        elif status is None:
            _failed(span, "incomplete_response")  # the app returned without answering
        elif status >= 500:
            _failed(span, str(status))
        span.end()


class RoundTrip:
    """A Redis round trip's span, under the current one: ended by ``replied`` or ``failed``."""

    __slots__ = ("span",)

    def __init__(
        self, tracer: Tracer, redis: Redis, commands: Sequence[Sequence[Any]], sent: int
    ) -> None:
        name = str(commands[0][0]).upper() if sent == 1 else "PIPELINE"
        attributes: dict[str, str | int] = {
            "db.system": "redis",
            "db.system.name": "redis",
            "db.operation.name": name,
        }
        if sent > 1:
            attributes["db.operation.batch.size"] = sent
        where = redis.connection_pool.connection_kwargs
        if (db := where.get("db")) is not None:
            attributes["db.namespace"] = str(db)
        if (host := where.get("host")) is not None:
            attributes["server.address"] = str(host)
            if (port := where.get("port")) is not None:
                attributes["server.port"] = int(port)
        elif (path := where.get("path")) is not None:  # a Unix socket
            attributes["server.address"] = str(path)
        self.span: Span = tracer.start_span(name, kind=trace.SpanKind.CLIENT, attributes=attributes)

    def replied(self, replies: Iterable[Any]) -> None:
        """The round trip's replies came (an error reply, as a value, marks it failed)."""
        for reply in replies:
            if isinstance(reply, Exception):
                _failed(self.span, _type_name(reply))
                break
        self.span.end()

    def failed(self, exc: BaseException) -> None:
        """The round trip raised ``exc`` (its message is not recorded: it may quote a key)."""
        _failed(self.span, _type_name(exc))
        self.span.end()


def _failed(span: Span, error: str) -> None:
    span.set_attribute("error.type", error)
    span.set_status(trace.StatusCode.ERROR)


def _type_name(exc: BaseException) -> str:
    """An exception's fully qualified type (``redis.exceptions.ConnectionError``); a builtin's
    bare name (``TimeoutError``)."""
    kind = type(exc)
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def _task() -> asyncio.Task[Any] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no event loop in this thread
        return None


if INSTALLED:

    class _HeadersGetter(Getter[Sequence[tuple[bytes, bytes]]]):
        """The values of a header in ASGI's list of (lower-case name, value), as one (HTTP's
        comma-joined form: a repeated header is one list)."""

        def get(self, carrier: Sequence[tuple[bytes, bytes]], key: str) -> list[str] | None:
            name = key.lower().encode("latin-1")
            values = [value.decode("latin-1") for found, value in carrier if found == name]
            return [",".join(values)] if values else None

        def keys(self, carrier: Sequence[tuple[bytes, bytes]]) -> list[str]:
            return [name.decode("latin-1") for name, _ in carrier]

    _HEADERS = _HeadersGetter()
