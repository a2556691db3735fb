"""OpenTelemetry (``tracing.py``) where test_tracing.py does not take it: an SDK that is
disabled, a request whose exception escapes the app (the last-resort 500, which leaves no
traceback to the client), an error reply in a round trip, Redis over a Unix socket, spans
made outside an event loop, and no opentelemetry at all. Its fixtures are test_tracing's."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from redis.asyncio import Redis
from starlette.types import ASGIApp, Receive, Scope, Send
from test_scaleout import primary, replica, sentinel, sentinel_settings  # module fixtures
from test_tracing import (  # the fixtures: a provider set globally, its spans kept in memory
    SCOPE,
    TRACEPARENT,
    _set_provider,
    provider,
    redis_spans,
    saved_provider,
    server_span,
    spans,
    traced,
)

from fullon_cache_api import Settings, create_app, lifespan, tracing

from support import (
    PATIENT,
    READER,
    READER_PASSWORD,
    expect,
    http_client,
    redis_process,
)

__all__ = [
    "primary",
    "provider",
    "replica",
    "saved_provider",
    "sentinel",
    "spans",
    "traced",
]  # fixtures, used by name


async def test_with_the_sdk_disabled_nothing_is_traced(
    saved_provider, settings, clock, snapshot, monkeypatch
) -> None:
    """``OTEL_SDK_DISABLED``: the SDK's provider gives a no-op tracer, so the API makes no
    span (not even one that records nothing) and serves as before."""
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _set_provider(provider)
    assert tracing.serve(SCOPE) is None
    app = create_app(dataclasses.replace(settings, local_cache=False), clock=clock)
    async with lifespan(app), http_client(app) as http:
        response = await http.get("/tickers/binance/BTC/USDT", headers={"traceparent": TRACEPARENT})
    assert expect(response)["price"] == 300.0
    assert exporter.get_finished_spans() == ()


class Failing:
    """A host's middleware in the API's app (``app.add_middleware``) that fails on one path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/tickers":
            raise LookupError("secret detail of the host")
        await self.app(scope, receive, send)


async def test_an_exception_escaping_the_app_is_the_one_500_and_ends_the_span_in_error(
    spans: InMemorySpanExporter, settings, clock, snapshot, caplog
) -> None:
    app = create_app(settings, clock=clock)
    app.add_middleware(Failing)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        lifespan(app),
        httpx.AsyncClient(transport=transport, base_url="http://api") as http,
    ):
        failed = await http.get("/tickers", headers={"x-request-id": "req-42"})
        served = await http.get("/tickers/binance/BTC/USDT")  # the app goes on serving
    body = expect(failed, 500)
    assert body == {"error": {"status": 500, "code": "internal", "message": "internal error"}}
    assert "secret" not in failed.text and "Traceback" not in failed.text
    assert failed.headers["x-request-id"] == "req-42"
    assert expect(served)["price"] == 300.0
    (logged,) = [r for r in caplog.records if r.name == "fullon.cache_api.app"]
    assert logged.getMessage() == "unhandled error on GET /tickers"
    assert logged.exc_info is not None and logged.exc_info[0] is LookupError
    span = next(
        s for s in spans.get_finished_spans() if (s.attributes or {}).get("url.path") == "/tickers"
    )
    assert span.kind is SpanKind.SERVER and span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "LookupError"  # the exception's, not the status
    assert span.attributes["http.response.status_code"] == 500
    assert not span.events  # no exception message recorded


async def test_an_error_reply_fails_its_round_trip_span(traced, spans, admin) -> None:
    """A key of the wrong type (a string where a hash is kept): Redis answers an error reply,
    which marks the round trip's span failed with its type (never its text, which names the
    command); the request answers 502 bad_cache_value."""
    admin.delete("tickers:binance")
    admin.set("tickers:binance", "not a hash")
    response = await traced.get("/tickers/binance/BTC/USDT")
    assert expect(response, 502)["error"]["code"] == "bad_cache_value"
    (hget,) = redis_spans(spans)
    assert hget.name == "HGET" and hget.status.status_code is StatusCode.ERROR
    assert hget.attributes is not None
    assert hget.attributes["error.type"] == "redis.exceptions.ResponseError"
    assert "binance" not in json.dumps(dict(hget.attributes))


@pytest.fixture
def unix_redis() -> Iterator[str]:
    """A redis-server that also listens on a Unix socket (a short path: at most 107 bytes)."""
    directory = tempfile.mkdtemp(prefix="fca-")
    path = str(Path(directory, "redis.sock"))
    try:
        with redis_process("--unixsocket", path, "--unixsocketperm", "700"):
            yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


async def test_redis_over_a_unix_socket_is_named_by_its_path(spans, unix_redis, clock) -> None:
    path = unix_redis
    url = f"unix://{READER}:{READER_PASSWORD}@{path}"  # no db given: none is named
    app = create_app(Settings(redis_url=url, local_cache=False, **PATIENT), clock=clock)
    async with lifespan(app), http_client(app) as http:
        assert expect(await http.get("/tickers/binance/BTC/USDT"))["price"] == 300.0
    (hget,) = redis_spans(spans)
    assert hget.attributes is not None
    attributes = dict(hget.attributes)
    assert attributes["server.address"] == path
    assert "server.port" not in attributes and "db.namespace" not in attributes
    assert attributes["db.operation.name"] == "HGET"


def test_outside_an_event_loop_the_thread_that_entered_the_span_traces_its_round_trips(
    spans: InMemorySpanExporter,
) -> None:
    """No event loop, no task: the span entered is this thread's, and a round trip made under
    it is its child."""
    served = tracing.serve(SCOPE)
    assert served is not None
    redis = Redis(host="127.0.0.1", port=1, db=3)  # never connected: the span is made before
    with served:
        trip = tracing.round_trip(redis, [("HGET", "tickers:x", "BTC")], 1)
        assert trip is not None
        trip.replied([b"a value"])
        served.status = 200
    assert tracing.round_trip(redis, [("HGET", "k", "f")], 1) is None  # none served now
    (child,) = redis_spans(spans)
    parent = server_span(spans)
    assert child.parent is not None and parent.context is not None
    assert child.parent.span_id == parent.context.span_id
    assert child.status.status_code is StatusCode.UNSET
    assert dict(child.attributes or {})["db.namespace"] == "3"


def test_the_header_getter_lists_the_names_a_propagator_may_iterate() -> None:
    headers = [(b"traceparent", TRACEPARENT.encode()), (b"baggage", b"a=1"), (b"baggage", b"b=2")]
    assert tracing._HEADERS.keys(headers) == ["traceparent", "baggage", "baggage"]
    assert tracing._HEADERS.get(headers, "Baggage") == ["a=1,b=2"]
    assert tracing._HEADERS.get(headers, "tracestate") is None


WITHOUT_OPENTELEMETRY = """
import json, sys
sys.modules["opentelemetry"] = None  # as if not installed
from fullon_cache_api import tracing
scope = {"type": "http", "method": "GET", "path": "/", "scheme": "http", "headers": []}
print(json.dumps([tracing.INSTALLED, tracing.serve(scope), tracing.route("/tickers"),
                  tracing.round_trip(None, [("GET", "k")], 1)]))
"""


def test_without_opentelemetry_nothing_is_traced_and_nothing_asks_for_it() -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_OPENTELEMETRY],
        env={**os.environ},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [False, None, None, None]


async def test_a_url_without_a_port_names_the_address_alone(spans, clock) -> None:
    """Redis's default port is not written in the URL: the span names no port it was not
    given (whatever answers there, if anything: the test asserts only the span)."""
    quick = {**PATIENT, "connect_timeout": 2.0, "command_timeout": 2.0, "request_timeout": 5.0}
    url = f"redis://{READER}:{READER_PASSWORD}@127.0.0.1/0"
    app = create_app(Settings(redis_url=url, local_cache=False, **quick), clock=clock)
    async with lifespan(app), http_client(app) as http:
        await http.get("/tickers/binance/BTC/USDT")
    trips = redis_spans(spans)
    assert trips
    for trip in trips:
        attributes = dict(trip.attributes or {})
        assert attributes["server.address"] == "127.0.0.1" and "server.port" not in attributes


async def test_through_sentinels_no_server_address_is_named(spans, sentinel, clock) -> None:
    """Sentinels find the server: the client's pool names no host, and the span invents none."""
    app = create_app(sentinel_settings(sentinel, local_cache=False), clock=clock)
    async with lifespan(app), http_client(app) as http:
        assert expect(await http.get("/tickers/binance/BTC/USDT"))["price"] == 300.0
    (hget,) = redis_spans(spans)
    attributes = dict(hget.attributes or {})
    assert attributes["db.operation.name"] == "HGET"
    assert "server.address" not in attributes and "server.port" not in attributes
