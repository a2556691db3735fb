"""Optional OpenTelemetry (``fullon_cache_api.tracing``): with a tracer provider set, each HTTP
request is a span named by its route template that continues the caller's ``traceparent``, with
its Redis round trips as child spans that name commands, never keys or values; without a
provider, or without opentelemetry at all, requests are served as before.

The real app over the real Redis (the snapshot), spans kept in memory by the SDK's exporter.
The apps here run with the local cache off: every read is then a round trip.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.util._once import Once
from redis.asyncio import Redis

from fullon_cache_api import Settings, create_app, lifespan, tracing
from fullon_cache_api.demo.redis_server import free_port

from support import PATIENT, PATIENT_ENV, expect, http_client, reader_url

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{CALLER_SPAN_ID}-01"
STORED = ("tickers", "binance", "BTC", "USDT", "ETH")
"""Parts of the snapshot's keys and fields the requests here read: never in a Redis span."""
SCOPE = {"type": "http", "method": "GET", "path": "/", "scheme": "http", "headers": []}
"""An HTTP request's ASGI scope, for ``tracing.serve`` called directly."""


def _set_provider(provider: trace.TracerProvider | None) -> None:
    """The API's global tracer provider, ``None`` for none (as in a process whose host set
    none). ``trace.set_tracer_provider`` takes one provider per process; OpenTelemetry's own
    tests reset these two globals the same way."""
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace._TRACER_PROVIDER = None
    if provider is not None:
        trace.set_tracer_provider(provider)


@pytest.fixture
def saved_provider() -> Iterator[None]:
    saved = trace._TRACER_PROVIDER_SET_ONCE, trace._TRACER_PROVIDER
    try:
        yield
    finally:
        trace._TRACER_PROVIDER_SET_ONCE, trace._TRACER_PROVIDER = saved


@pytest.fixture
def provider(saved_provider: None) -> Iterator[TracerProvider]:
    """An SDK tracer provider, set globally for the test."""
    provider = TracerProvider()
    _set_provider(provider)
    yield provider
    provider.shutdown()


@pytest.fixture
def spans(provider: TracerProvider) -> InMemorySpanExporter:
    """The spans ``provider`` ends, kept in memory."""
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
async def traced(settings: Settings, clock: Any, snapshot: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app on the snapshot with the local cache off (every read is a round trip)."""
    app = create_app(dataclasses.replace(settings, local_cache=False), clock=clock)
    async with lifespan(app), http_client(app) as http:
        yield http


def server_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    """The one request span (SERVER or, under a host's span, INTERNAL) made by this API."""
    (span,) = [
        s
        for s in exporter.get_finished_spans()
        if s.instrumentation_scope is not None
        and s.instrumentation_scope.name == tracing.SCOPE_NAME
        and s.kind in (SpanKind.SERVER, SpanKind.INTERNAL)
    ]
    return span


def redis_spans(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]


def assert_under(child: ReadableSpan, parent: ReadableSpan) -> None:
    assert child.parent is not None and parent.context is not None and child.context is not None
    assert child.context.trace_id == parent.context.trace_id
    assert child.parent.span_id == parent.context.span_id
    assert not child.parent.is_remote


async def test_a_request_continues_the_callers_trace_as_a_span_named_by_its_route(
    traced, spans, redis_server
) -> None:
    response = await traced.get("/tickers/binance/BTC/USDT", headers={"traceparent": TRACEPARENT})
    expect(response)
    assert response.headers["x-request-id"] == TRACE_ID  # the request id layer still runs
    span = server_span(spans)
    assert span.kind is SpanKind.SERVER
    assert span.name == "GET /tickers/{exchange}/{symbol}"
    assert span.context is not None and span.parent is not None
    assert span.context.trace_id == int(TRACE_ID, 16)
    assert span.parent.span_id == int(CALLER_SPAN_ID, 16) and span.parent.is_remote
    assert dict(span.attributes or {}) == {
        "http.request.method": "GET",
        "http.route": "/tickers/{exchange}/{symbol}",
        "http.response.status_code": 200,
        "url.path": "/tickers/binance/BTC/USDT",
        "url.scheme": "http",
        "network.protocol.version": "1.1",
    }
    assert span.status.status_code is StatusCode.UNSET
    # one ticker is one HGET: one round trip, a CLIENT span under the request's
    (hget,) = redis_spans(spans)
    assert_under(hget, span)
    assert hget.name == "HGET"
    assert dict(hget.attributes or {}) == {
        "db.system": "redis",
        "db.system.name": "redis",
        "db.operation.name": "HGET",
        "db.namespace": "0",
        "server.address": "127.0.0.1",
        "server.port": redis_server.port,
    }
    assert hget.status.status_code is StatusCode.UNSET


async def test_a_listings_round_trips_are_pipelines_under_its_span_naming_no_key(
    traced, spans
) -> None:
    response = await traced.get("/tickers", headers={"traceparent": TRACEPARENT})
    body = expect(response)
    assert body["count"] > 1
    span = server_span(spans)
    assert span.name == "GET /tickers"
    trips = redis_spans(spans)
    assert trips, "a listing reads Redis"
    for trip in trips:
        assert_under(trip, span)
        attributes = dict(trip.attributes or {})
        assert attributes["db.system"] == "redis"
        assert trip.name == attributes["db.operation.name"]
        if trip.name == "PIPELINE":
            assert attributes["db.operation.batch.size"] >= 2
        else:
            assert trip.name.isalpha() and trip.name.isupper()
            assert "db.operation.batch.size" not in attributes
        for value in attributes.values():
            assert not any(part in str(value) for part in STORED), attributes
    assert any(trip.name == "PIPELINE" for trip in trips)


async def test_4xx_answers_are_recorded_with_their_status(traced, spans) -> None:
    missing = await traced.get("/tickers/binance/NOPE/USDT", headers={"traceparent": TRACEPARENT})
    expect(missing, 404)
    span = server_span(spans)
    assert span.name == "GET /tickers/{exchange}/{symbol}"
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 404
    assert span.status.status_code is StatusCode.UNSET  # a client's error, not the server's
    (hget,) = redis_spans(spans)  # it was looked for
    assert_under(hget, span)
    spans.clear()

    bad = await traced.get("/tickers/binance?limit=zero")
    expect(bad, 400)
    span = server_span(spans)
    assert span.name == "GET /tickers/{exchange}"
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 400
    assert span.attributes["http.route"] == "/tickers/{exchange}"
    assert span.parent is None  # no traceparent: a trace of its own
    assert redis_spans(spans) == []  # refused before reading
    spans.clear()

    unknown = await traced.get("/nope")
    expect(unknown, 404)
    span = server_span(spans)
    assert span.name == "GET"  # no route matched: the method alone
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 404
    assert "http.route" not in span.attributes
    spans.clear()

    refused = await traced.request("BREW", "/tickers")
    assert refused.status_code == 405
    span = server_span(spans)
    assert span.name == "HTTP"
    assert span.attributes is not None
    assert span.attributes["http.request.method"] == "_OTHER"
    assert span.attributes["http.request.method_original"] == "BREW"


async def test_redis_down_fails_the_round_trip_and_the_request(spans, clock) -> None:
    port = free_port()  # nothing listens there
    settings = Settings(redis_url=f"redis://127.0.0.1:{port}/0", local_cache=False, **PATIENT)
    app = create_app(settings, clock=clock)
    async with lifespan(app), http_client(app) as http:
        response = await http.get("/tickers/binance/BTC/USDT")
    assert response.status_code == 503, response.text
    span = server_span(spans)
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 503
    assert span.attributes["error.type"] == "503"
    assert span.status.status_code is StatusCode.ERROR
    trips = redis_spans(spans)
    assert trips
    for trip in trips:
        assert_under(trip, span)
        assert trip.status.status_code is StatusCode.ERROR
        assert trip.attributes is not None
        assert trip.attributes["error.type"] == "redis.exceptions.ConnectionError"
        assert not trip.events  # no exception message recorded
    assert trip.attributes["server.port"] == port


async def test_inside_a_hosts_span_the_request_is_an_internal_span_under_it(
    traced, spans, provider
) -> None:
    tracer = provider.get_tracer("host")
    with tracer.start_as_current_span("host request", kind=SpanKind.SERVER) as host:
        response = await traced.get(
            "/tickers/binance/BTC/USDT", headers={"traceparent": TRACEPARENT}
        )
    expect(response)
    span = server_span(spans)
    assert span.kind is SpanKind.INTERNAL
    assert span.name == "GET /tickers/{exchange}/{symbol}"
    assert span.parent is not None and span.context is not None
    assert span.parent.span_id == host.get_span_context().span_id
    assert span.context.trace_id == host.get_span_context().trace_id != int(TRACE_ID, 16)
    (hget,) = redis_spans(spans)
    assert_under(hget, span)


async def test_a_task_the_request_starts_traces_no_round_trip(spans, redis_server) -> None:
    """A stream hub's poller begins in a request's task and inherits its context; its round
    trips serve every listener, so they are no request's."""
    served = tracing.serve(SCOPE)
    assert served is not None
    commands = [("GET", "some key")]
    redis = Redis.from_url(reader_url(redis_server))
    try:

        async def started_by_the_request() -> tracing.RoundTrip | None:
            return tracing.round_trip(redis, commands, 1)

        with served:
            here = tracing.round_trip(redis, commands, 1)
            elsewhere = await asyncio.create_task(started_by_the_request())
            assert here is not None
            here.replied([None])
            served.status = 200
        assert elsewhere is None
        assert tracing.round_trip(redis, commands, 1) is None  # the request is over
    finally:
        await redis.aclose()
    (trip,) = redis_spans(spans)
    assert_under(trip, server_span(spans))


async def test_a_sampled_out_request_is_served_and_makes_no_round_trip_span(
    saved_provider, traced, redis_server
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_OFF)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _set_provider(provider)
    expect(await traced.get("/tickers/binance/BTC/USDT", headers={"traceparent": TRACEPARENT}))
    assert exporter.get_finished_spans() == ()
    served = tracing.serve(SCOPE)
    assert served is not None and not served.span.is_recording()
    redis = Redis.from_url(reader_url(redis_server))
    try:
        with served:
            assert tracing.round_trip(redis, [("GET", "some key")], 1) is None
    finally:
        await redis.aclose()


async def test_with_no_provider_set_requests_are_served_untraced(saved_provider, traced) -> None:
    _set_provider(None)
    assert tracing.serve(SCOPE) is None
    headers = {"traceparent": TRACEPARENT}
    ticker = await traced.get("/tickers/binance/BTC/USDT", headers=headers)
    assert expect(ticker)["symbol"] == "BTC/USDT"
    assert ticker.headers["x-request-id"] == TRACE_ID
    expect(await traced.get("/tickers/binance/NOPE/USDT", headers=headers), 404)
    expect(await traced.get("/nope", headers=headers), 404)


async def test_mounted_in_a_fastapi_host_that_traces_it_is_a_span_under_the_hosts(
    settings, clock, snapshot, spans
) -> None:
    """master_api's case: FastAPI's own telemetry makes the SERVER span (continuing the
    caller's trace); this API's is an INTERNAL span under it, its round trips under that."""
    pytest.importorskip("fastapi.telemetry", reason="a FastAPI without native telemetry")
    from fastapi import FastAPI

    cache_app = create_app(dataclasses.replace(settings, local_cache=False), clock=clock)
    host = FastAPI()
    host.mount("/api/v1/cache", cache_app)
    async with lifespan(cache_app), http_client(host) as http:
        response = await http.get(
            "/api/v1/cache/tickers/binance/BTC/USDT", headers={"traceparent": TRACEPARENT}
        )
    expect(response)
    ours = server_span(spans)
    assert ours.kind is SpanKind.INTERNAL
    assert ours.name == "GET /tickers/{exchange}/{symbol}"
    (hosts,) = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert hosts.context is not None and hosts.parent is not None
    assert hosts.context.trace_id == int(TRACE_ID, 16)
    assert hosts.parent.span_id == int(CALLER_SPAN_ID, 16)
    assert ours.parent is not None and ours.parent.span_id == hosts.context.span_id
    (hget,) = redis_spans(spans)
    assert_under(hget, ours)


WITHOUT_OPENTELEMETRY = """
import asyncio, json, os, sys

sys.modules["opentelemetry"] = None  # as if it were not installed: every import of it fails

import httpx

from fullon_cache_api import create_app, lifespan, tracing


async def main():
    app = create_app()
    async with lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            headers = {"traceparent": os.environ["TRACEPARENT"]}
            ticker = await http.get("/tickers/binance/BTC/USDT", headers=headers)
            missing = await http.get("/nope", headers=headers)
    print(json.dumps({
        "installed": tracing.INSTALLED,
        "outer": type(app.build_middleware_stack()).__name__,
        "statuses": [ticker.status_code, missing.status_code],
        "symbol": ticker.json()["symbol"],
        "request_id": ticker.headers["x-request-id"],
        "imported": sorted(m for m in sys.modules if m.startswith("opentelemetry.")),
    }))


asyncio.run(main())
"""


def test_without_opentelemetry_the_app_serves_without_a_tracing_layer(redis_server, snapshot):
    env = {
        **os.environ,
        **PATIENT_ENV,
        "REDIS_URL": reader_url(redis_server),
        "TRACEPARENT": TRACEPARENT,
    }
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_OPENTELEMETRY],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report == {
        "installed": False,
        "outer": "RequestId",  # no Trace layer at all
        "statuses": [200, 404],
        "symbol": "BTC/USDT",
        "request_id": TRACE_ID,
        "imported": [],
    }
