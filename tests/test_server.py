"""The standalone server, as real processes on loopback: serving and stopping, start errors,
logs, hardening, workers."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fullon_cache_api import Settings
from fullon_cache_api.__main__ import log_start
from fullon_cache_api.demo.redis_server import free_port
from fullon_cache_api.settings import ServerSettings

from support import READER_PASSWORD, api_connection_ids, api_connections, reader_url, serve_api

pytestmark = pytest.mark.slow


def test_standalone_hypercorn_serves_and_shuts_down_cleanly(redis_server, snapshot) -> None:
    env = {"REDIS_URL": reader_url(redis_server)}
    known = api_connection_ids(redis_server)
    with serve_api(env=env) as (process, _, port):
        response = httpx.get(timeout=60, url=f"http://127.0.0.1:{port}/tickers/binance/BTC/USDT")
        assert response.status_code == 200
        body = response.json()
        assert (body["price"], body["bid"], body["ask"], body["volume"]) == (
            300.0,
            299.5,
            300.5,
            10.0,
        )
        assert "server" not in response.headers  # no product and version to fingerprint
        assert "date" in response.headers and response.http_version == "HTTP/1.1"
        assert httpx.get(timeout=60, url=f"http://127.0.0.1:{port}/tickers").json()["count"] == 6
        assert api_connections(redis_server, known) >= 1
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    assert api_connections(redis_server, known) == 0


def start_error(*args: str, env: dict[str, str] | None = None) -> str:
    """The one line a start that must fail prints on stderr (exit status 2, nothing on stdout:
    no banner)."""
    result = subprocess.run(
        [sys.executable, "-m", "fullon_cache_api", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    return result.stderr


@pytest.mark.parametrize("demo", [(), ("--demo",)], ids=["server", "demo"])
def test_a_busy_port_fails_at_start_in_one_line(demo) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        message = start_error("--port", str(port), *demo)
    assert f"cannot listen on 127.0.0.1:{port}" in message and "in use" in message


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (("--port", "99999"), {}, "--port"),
        (("--read-timeout", "-1"), {}, "--read-timeout"),
        ((), {"FULLON_CACHE_API_POOL_SIZE": "lots"}, "FULLON_CACHE_API_POOL_SIZE"),
        (("--demo",), {"FULLON_CACHE_API_POOL_SIZE": "lots"}, "FULLON_CACHE_API_POOL_SIZE"),
        (
            ("--demo",),
            {"FULLON_CACHE_API_TOKENS": "a-token-0123456789", "FULLON_CACHE_API_PUBLIC_DOCS": "?"},
            "PUBLIC_DOCS",
        ),
        ((), {"REDIS_URL": "redis://localhost:notaport/0"}, "REDIS_URL"),
        ((), {"REDIS_URL": "http://localhost/0"}, "REDIS_URL"),
        ((), {"REDIS_URL": "redis://localhost:6379/notadb"}, "REDIS_URL"),
        # auth fails closed: a token variable that is set must give usable tokens
        ((), {"FULLON_CACHE_API_TOKENS": ""}, "FULLON_CACHE_API_TOKENS"),
        ((), {"FULLON_CACHE_API_TOKENS": ","}, "FULLON_CACHE_API_TOKENS"),
        ((), {"FULLON_CACHE_API_TOKENS": " "}, "FULLON_CACHE_API_TOKENS"),
        ((), {"FULLON_CACHE_API_TOKENS": "too-short"}, "FULLON_CACHE_API_TOKENS"),
        ((), {"FULLON_CACHE_API_TOKENS": "non-ascii-tökén-0123456"}, "FULLON_CACHE_API_TOKENS"),
    ],
)
def test_a_bad_setting_fails_at_start_in_one_line_naming_it(args, env, named) -> None:
    assert named in start_error("--port", str(free_port()), *args, env=env)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FULLON_CACHE_API_PORT", "abc"),
        ("FULLON_CACHE_API_PORT", "70000"),
        ("FULLON_CACHE_API_WORKERS", "0"),
        ("FULLON_CACHE_API_LOG_LEVEL", "verbose"),
        ("FULLON_CACHE_API_GRACEFUL_TIMEOUT", "soon"),
        ("FULLON_CACHE_API_READ_TIMEOUT", "0"),
        ("FULLON_CACHE_API_ACCESS_LOG", "maybe"),
        ("FULLON_CACHE_API_H2C", "2"),
    ],
)
def test_invalid_server_variable_fails_at_start_naming_it(variable, value) -> None:
    assert variable in start_error(env={variable: value})


def test_help_documents_flags_and_env() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fullon_cache_api", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    for flag in (
        "--host", "--port", "--workers", "--log-level", "--graceful-timeout", "--read-timeout",
        "--access-log", "--h2c", "--loop", "--demo", "FULLON_CACHE_API_PORT",
        "FULLON_CACHE_API_H2C", "FULLON_CACHE_API_LOOP",
    ):  # fmt: skip
        assert flag in result.stdout


def test_start_logs_the_redis_target_masked_and_the_auth_mode(redis_server, snapshot) -> None:
    env = {
        "REDIS_URL": reader_url(redis_server),
        "FULLON_CACHE_API_TOKENS": "one-token-0123456789,two-token-0123456789",
    }
    with serve_api(env=env, output=True) as (process, base, _):
        assert httpx.get(timeout=60, url=base + "/health").status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        output = process.stdout.read() if process.stdout else ""
    target = f"redis://cache_api:***@127.0.0.1:{redis_server.port}/0"
    assert f"reading {target}; auth: 2 tokens" in output
    assert READER_PASSWORD not in output and "WARNING" not in output


@pytest.mark.parametrize(
    ("loop", "runs_on"), [("auto", "uvloop"), ("asyncio", "asyncio"), ("uvloop", "uvloop")]
)
def test_the_server_runs_on_the_event_loop_asked_for(loop, runs_on, redis_server, snapshot) -> None:
    """uvloop when installed (the test extra installs it), asyncio's loop when asked; the
    local cache serves on either."""
    env = {"REDIS_URL": reader_url(redis_server)}
    with serve_api("--loop", loop, env=env, output=True) as (process, base, _):
        deadline = time.monotonic() + 10
        while not httpx.get(timeout=60, url=base + "/info").json()["local_cache"]["on"]:
            assert time.monotonic() < deadline, "the local cache never came on"
            time.sleep(0.02)
        for _ in range(2):
            assert (
                httpx.get(timeout=60, url=base + "/tickers/binance/BTC/USDT").json()["price"]
                == 300.0
            )
        cache = httpx.get(timeout=60, url=base + "/info").json()["local_cache"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        output = process.stdout.read() if process.stdout else ""
    assert f"event loop: {runs_on}" in output
    assert cache["on"] and cache["hits"] >= 1, cache


@pytest.mark.parametrize(
    ("host", "tokens", "warned"),
    [
        ("0.0.0.0", (), True),
        ("192.0.2.10", (), True),
        ("0.0.0.0", ("a-token-0123456789",), False),
        ("127.0.0.1", (), False),
        ("::1", (), False),
        ("localhost", (), False),
    ],
)
def test_a_reachable_address_with_auth_open_is_warned_about(host, tokens, warned, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="fullon.cache_api"):
        log_start(ServerSettings(host=host, loop="asyncio"), Settings(tokens=tokens))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert bool(warnings) == warned
    assert ("auth: open" if not tokens else "auth: 1 token") in caplog.text


def test_a_tokens_file_alone_is_auth_not_open(tmp_path, caplog) -> None:
    path = tmp_path / "tokens.toml"
    path.write_text(f'[[tokens]]\nname = "ops"\nsha256 = "{"0" * 64}"\nscopes = ["*"]\n')
    with caplog.at_level(logging.INFO, logger="fullon.cache_api"):
        log_start(ServerSettings(host="0.0.0.0", loop="asyncio"), Settings(tokens_file=str(path)))
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
    assert f"auth: tokens file {path};" in caplog.text


@pytest.mark.parametrize("how", ["flag", "env"])
def test_access_log_writes_one_line_per_request(redis_server, snapshot, how) -> None:
    args, env = ("--access-log",) if how == "flag" else (), {}
    if how == "env":
        env["FULLON_CACHE_API_ACCESS_LOG"] = "true"
    env["REDIS_URL"] = reader_url(redis_server)
    with serve_api(*args, env=env, output=True) as (process, base, _):
        assert httpx.get(timeout=60, url=base + "/tickers/binance/BTC/USDT").status_code == 200
        assert httpx.get(timeout=60, url=base + "/nope", params={"x": "1"}).status_code == 404
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        output = process.stdout.read() if process.stdout else ""
    lines = [line for line in output.splitlines() if "fullon.cache_api.access" in line]
    assert len(lines) == 2, output
    assert '"GET /tickers/binance/BTC/USDT 1.1" 200' in lines[0]
    assert '"GET /nope?x=1 1.1" 404' in lines[1]


def test_no_access_log_by_default(redis_server, snapshot) -> None:
    with serve_api(env={"REDIS_URL": reader_url(redis_server)}, output=True) as (process, base, _):
        assert httpx.get(timeout=60, url=base + "/health").status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        assert "fullon.cache_api.access" not in (process.stdout.read() if process.stdout else "")


def test_cleartext_http2_is_refused_unless_asked(redis_server, snapshot) -> None:
    env = {"REDIS_URL": reader_url(redis_server)}
    with (
        serve_api(env=env) as (_, base, _),
        httpx.Client(http1=False, http2=True, timeout=60) as h2,
    ):
        with pytest.raises(httpx.RemoteProtocolError, match="error_code:13"):
            h2.get(base + "/health")  # HTTP/2 by prior knowledge: GOAWAY HTTP_1_1_REQUIRED
        assert httpx.get(timeout=60, url=base + "/health").status_code == 200  # HTTP/1.1 is served
    with (
        serve_api("--h2c", env=env) as (_, base, _),
        httpx.Client(http1=False, http2=True, timeout=60) as h2,
    ):
        response = h2.get(base + "/tickers/binance/BTC/USDT")
        assert (response.http_version, response.status_code) == ("HTTP/2", 200)
        assert response.json()["price"] == 300.0


def closed_after(sock: socket.socket, limit: float) -> tuple[float, bytes]:
    """Seconds until the server closes ``sock`` (at most ``limit``), and what it sent."""
    sock.settimeout(limit)
    started, received = time.monotonic(), b""
    while chunk := sock.recv(4096):
        received += chunk
    return time.monotonic() - started, received


@pytest.mark.parametrize(
    ("sent", "answer"),
    [
        # half a head, then nothing: closed unanswered
        (b"GET /health HTTP/1.1\r\nHost: api\r\nX-Half: ", b""),
        # a third of a body: answered at once (the API reads no body), then closed
        (b"GET /health HTTP/1.1\r\nHost: api\r\nContent-Length: 90\r\n\r\nabc", b"HTTP/1.1 200"),
    ],
    ids=["head", "body"],
)
def test_a_stalled_request_is_closed_within_the_read_timeout(redis_server, sent, answer) -> None:
    env = {"REDIS_URL": reader_url(redis_server)}
    with serve_api("--read-timeout", "1", env=env) as (_, _, port):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(sent)
            started, received = time.monotonic(), b""
            while chunk := sock.recv(4096):
                received += chunk
            assert time.monotonic() - started < 4
        assert received.startswith(answer) and (answer or received == b"")


def test_a_trickled_request_head_is_closed_within_the_read_timeout(redis_server) -> None:
    env = {"REDIS_URL": reader_url(redis_server)}
    head = b"GET /health HTTP/1.1\r\nHost: api\r\nX-Slow: " + b"x" * 100
    with serve_api("--read-timeout", "1", env=env) as (_, _, port):
        sock = socket.create_connection(("127.0.0.1", port))
        started = time.monotonic()
        with sock, pytest.raises(OSError):  # a broken pipe or a reset: the server has closed
            for byte in head:
                sock.sendall(bytes([byte]))  # a byte every 0.1 s: never idle for long
                time.sleep(0.1)
        assert time.monotonic() - started < 5


def test_several_workers_share_an_automatic_metrics_directory(
    redis_server, snapshot, monkeypatch
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    env = {"REDIS_URL": reader_url(redis_server)}
    with serve_api("--workers", "2", env=env, output=True) as (process, base, _):
        for _ in range(30):  # new connections each time: the workers share them out
            assert httpx.get(timeout=60, url=base + "/tickers/binance/BTC/USDT").status_code == 200
        text = httpx.get(timeout=60, url=base + "/metrics").text
        labels = {"route": "/tickers/{exchange}/{symbol}", "method": "GET", "status": "200"}
        served = [
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "fullon_cache_api_requests_total" and sample.labels == labels
        ]
        assert served == [30]  # summed over both workers
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
        output = process.stdout.read() if process.stdout else ""
    directory = re.search(r"metrics of the 2 workers shared in (\S+)", output).group(1)
    assert not Path(directory).exists()  # removed at exit
    assert "WARNING" not in output and "Traceback" not in output
