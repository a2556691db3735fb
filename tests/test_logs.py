"""Correlated logs: each request's id (``X-Request-ID``, else ``traceparent``'s trace id, else a
new one) is echoed in its answer and carried by every log line written while it is served,
the access line and error lines included; ``--log-format json`` writes one JSON object per line.

The log lines are read from the real server (``python -m fullon_cache_api``, hypercorn, as
tests/test_server.py starts it): a stored value the listing must skip makes the request log a
warning of its own.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from typing import Any

import anyio
import httpx
import pytest
import redis
from redis.asyncio import ConnectionPool
from starlette.applications import Starlette
from starlette.routing import Mount

from fullon_cache_api import Settings, create_app
from fullon_cache_api.demo.redis_server import free_port
from fullon_cache_api.hub import StreamHub
from fullon_cache_api.local_cache import LocalCache
from fullon_cache_api.redis_clients import connect, single_connection_pool
from fullon_cache_api.requestids import (
    JsonFormatter,
    RequestIdFilter,
    current_request_id,
    request_id_of,
)

from support import expect, http_client, reader_url, serve_api

CORRUPT = ("tickers:binance", "BAD/USDT", "{not json")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def stopped_output(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0
    return process.stdout.read() if process.stdout else ""


def serve_requests(env: dict[str, str], *args: str) -> str:
    """The server's output after a listing with a corrupt value (a warning while served, and
    an access line) under ``X-Request-ID: abc-123``, then a 404 under no id at all."""
    with serve_api("--access-log", *args, env=env, output=True) as (process, base, _):
        listing = httpx.get(f"{base}/tickers/binance", headers={"X-Request-ID": "abc-123"})
        assert listing.status_code == 200 and listing.json()["skipped"] == 1, listing.text
        assert listing.headers["x-request-id"] == "abc-123"
        missing = httpx.get(f"{base}/nope")
        assert missing.status_code == 404
        assert len(missing.headers["x-request-id"]) == 32  # generated
        return stopped_output(process)


@pytest.fixture
def corrupt_env(redis_server, snapshot, admin: redis.Redis) -> dict[str, str]:
    admin.hset(CORRUPT[0], CORRUPT[1], CORRUPT[2])
    return {"REDIS_URL": reader_url(redis_server)}


@pytest.mark.slow
def test_every_text_line_of_a_request_carries_its_id(corrupt_env) -> None:
    output = serve_requests(corrupt_env)
    tagged = [line for line in output.splitlines() if "[abc-123]" in line]
    assert any("fullon.cache_api.access" in line and "/tickers/binance" in line for line in tagged)
    assert any("WARNING" in line and "skipping 1 stored value" in line for line in tagged), output
    # every line of that request, and only those
    for line in output.splitlines():
        if "skipping" in line or "GET /tickers/binance " in line:
            assert "[abc-123]" in line, line
    start = next(line for line in output.splitlines() if "reading redis://" in line)
    assert "[-]" in start  # outside any request


@pytest.mark.slow
def test_json_lines_parse_and_carry_id_route_status_duration(corrupt_env) -> None:
    output = serve_requests(corrupt_env, "--log-format", "json")
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert records and all(
        {"time", "level", "logger", "message", "request_id"} <= set(r) for r in records
    )
    assert all(r["time"].endswith("Z") for r in records)
    ours = [r for r in records if r["request_id"] == "abc-123"]
    access = [r for r in ours if r["logger"] == "fullon.cache_api.access"]
    assert len(access) == 1, output
    assert access[0]["route"] == "/tickers/{exchange}"
    assert access[0]["status"] == 200 and access[0]["duration"] >= 0
    assert any(r["level"] == "WARNING" and "skipping" in r["message"] for r in ours), output
    unmatched = [
        r for r in records if r["logger"] == "fullon.cache_api.access" and r is not access[0]
    ]
    assert [(r["route"], r["status"]) for r in unmatched] == [(None, 404)]
    assert len(unmatched[0]["request_id"]) == 32
    start = next(r for r in records if "reading redis://" in r["message"])
    assert start["request_id"] is None


def test_log_format_env_is_read_and_checked(corrupt_env) -> None:
    env = {**corrupt_env, "FULLON_CACHE_API_LOG_FORMAT": "json"}
    with serve_api(env=env, output=True) as (process, base, _):
        assert httpx.get(f"{base}/health").status_code == 200
        output = stopped_output(process)
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines and all(
        json.loads(line)["logger"].startswith("fullon.cache_api") for line in lines
    )
    bad = subprocess.run(
        [sys.executable, "-m", "fullon_cache_api"],
        env={**os.environ, "FULLON_CACHE_API_LOG_FORMAT": "xml"},
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "FULLON_CACHE_API_LOG_FORMAT" in bad.stderr


# The id's rules, in process ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"x-request-id", b"abc-123")], "abc-123"),
        ([(b"x-request-id", b"a" * 128)], "a" * 128),
        ([(b"traceparent", TRACEPARENT.encode())], TRACE_ID),
        ([(b"x-request-id", b"ok-1"), (b"traceparent", TRACEPARENT.encode())], "ok-1"),
        ([(b"x-request-id", b"a" * 129), (b"traceparent", TRACEPARENT.encode())], TRACE_ID),
        ([(b"x-request-id", b"two words"), (b"traceparent", TRACEPARENT.encode())], TRACE_ID),
    ],
)
def test_the_id_is_the_clients_when_safe_else_the_trace_id(headers, expected) -> None:
    assert request_id_of(headers) == expected


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [(b"x-request-id", b"")],
        [(b"x-request-id", b"forged\r\nline")],
        [(b"x-request-id", "caf\u00e9".encode())],
        [(b"x-request-id", b"a" * 129)],
        [(b"traceparent", b"00-" + b"0" * 32 + b"-00f067aa0ba902b7-01")],
        [(b"traceparent", b"not-a-traceparent")],
    ],
)
def test_an_unsafe_or_missing_id_is_replaced_by_a_new_one(headers) -> None:
    first, second = request_id_of(headers), request_id_of(headers)
    assert first != second and len(first) == 32 and int(first, 16) >= 0


async def test_the_answer_echoes_the_id_errors_included(client) -> None:
    answer = await client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert answer.headers["x-request-id"] == "abc-123"
    expect(await client.get("/nope"), 404)
    for path in ("/nope", "/tickers/binance/BTC/USDT?x=1", "/orders/x/y/z"):
        answer = await client.get(path, headers={"X-Request-ID": "r-1"})
        assert answer.headers.get_list("x-request-id") == ["r-1"], path
    answer = await client.post("/health", headers={"traceparent": TRACEPARENT})
    assert answer.status_code == 405 and answer.headers["x-request-id"] == TRACE_ID


async def test_a_mounted_app_echoes_the_id_and_its_log_records_carry_it(
    settings, clock, corrupt_env, caplog
) -> None:
    host = Starlette(routes=[Mount("/api/v1/cache", app=create_app(settings, clock=clock))])
    caplog.handler.addFilter(id_filter := RequestIdFilter())
    try:
        with caplog.at_level(logging.WARNING, logger="fullon.cache_api"):
            async with http_client(host) as client:
                answer = await client.get(
                    "/api/v1/cache/tickers/binance", headers={"X-Request-ID": "m-1"}
                )
    finally:
        caplog.handler.removeFilter(id_filter)
    assert answer.headers["x-request-id"] == "m-1" and answer.json()["skipped"] == 1
    skipped = [r for r in caplog.records if "skipping" in r.getMessage()]
    assert skipped and all(getattr(r, "request_id", None) == "m-1" for r in skipped)
    assert current_request_id() is None  # reset once the request is answered


def test_json_formatter_writes_one_line_with_the_fields() -> None:
    record = logging.LogRecord("fullon.cache_api.x", logging.ERROR, "f", 1, "a\nb %s", ("c",), None)
    RequestIdFilter().filter(record)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    parsed: dict[str, Any] = json.loads(line)
    assert parsed["message"] == "a\nb c" and parsed["request_id"] is None
    assert parsed["level"] == "ERROR" and parsed["logger"] == "fullon.cache_api.x"


async def test_an_internal_error_is_logged_and_answered_with_the_id(settings, caplog) -> None:
    async def broken_hook(request: Any, resource: Any) -> bool:
        raise RuntimeError("the host's hook is broken")

    app = create_app(settings, authorize=broken_hook)
    caplog.handler.addFilter(id_filter := RequestIdFilter())
    try:
        with caplog.at_level(logging.ERROR, logger="fullon.cache_api"):
            async with http_client(app) as client:
                answer = await client.get("/tickers/binance", headers={"X-Request-ID": "e-1"})
    finally:
        caplog.handler.removeFilter(id_filter)
    assert answer.status_code == 500 and answer.headers["x-request-id"] == "e-1"
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and all(getattr(r, "request_id", None) == "e-1" for r in errors)


# The stream hub on an unreachable Redis -----------------------------------------------------------


@pytest.mark.slow
async def test_an_unreachable_redis_is_logged_once_with_its_address_not_per_retry(caplog) -> None:
    port = free_port()  # nothing listens there
    settings = Settings(redis_url=f"redis://cache_api:hub-secret-pw@127.0.0.1:{port}/0")
    client = connect(settings)
    tries: list[int] = []

    def make_pool() -> ConnectionPool:
        tries.append(1)
        return single_connection_pool(client.connection_pool)

    hub = StreamHub(make_pool, settings, LocalCache(2**20))  # the local cache keeps it wanted
    with caplog.at_level(logging.WARNING, logger="fullon.cache_api.hub"):
        hub.start()
        try:
            with anyio.fail_after(60):
                while len(tries) < 5:  # backoff 0.1, 0.2, 0.4, 0.8 s between them
                    await anyio.sleep(0.05)
        finally:
            await hub.aclose()
            await client.aclose()
    lines = [r.getMessage() for r in caplog.records if r.name == "fullon.cache_api.hub"]
    assert len(lines) == 1, lines
    assert "cannot connect (attempt 1)" in lines[0] and f"Redis at 127.0.0.1:{port} " in lines[0]
    assert "hub-secret-pw" not in caplog.text


@pytest.mark.parametrize(
    ("url", "sentinels", "address"),
    [
        ("redis://user:pw@10.0.0.5:6380/1", (), "10.0.0.5:6380"),
        ("redis://:pw@cache.internal/0", (), "cache.internal:6379"),
        ("rediss://u:pw@[::1]:6390/0", (), "[::1]:6390"),
        ("unix:///run/redis.sock?db=2", (), "/run/redis.sock"),
        ("redis://u:pw@/0", (("s1", 26379), ("s2", 26380)), "sentinels s1:26379,s2:26380"),
    ],
)
def test_the_logged_redis_address_never_holds_credentials(url, sentinels, address) -> None:
    settings = Settings(redis_url=url, sentinels=sentinels)
    assert settings.redis_address == address and "pw" not in settings.redis_address
