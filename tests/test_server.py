"""The standalone server and the demo, as real processes on loopback."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys

import httpx
import pytest

from fullon_cache_api.demo.redis_server import free_port

from support import api_connections, reader_url, serve_api

pytestmark = pytest.mark.slow


def test_standalone_hypercorn_serves_and_shuts_down_cleanly(redis_server, snapshot) -> None:
    env = {"REDIS_URL": reader_url(redis_server)}
    with serve_api(env=env) as (process, _, port):
        response = httpx.get(f"http://127.0.0.1:{port}/tickers/binance/BTC/USDT")
        assert response.status_code == 200
        body = response.json()
        assert (body["price"], body["bid"], body["ask"], body["volume"]) == (
            300.0,
            299.5,
            300.5,
            10.0,
        )
        assert httpx.get(f"http://127.0.0.1:{port}/tickers").json()["count"] == 6
        assert api_connections(redis_server) >= 1
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    assert api_connections(redis_server) == 0


def test_invalid_setting_fails_at_start_naming_the_variable() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fullon_cache_api", "--port", str(free_port())],
        env={**os.environ, "FULLON_CACHE_API_POOL_SIZE": "lots"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "FULLON_CACHE_API_POOL_SIZE" in result.stderr


def test_help_documents_flags_and_env() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fullon_cache_api", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    for flag in ("--host", "--port", "--workers", "--log-level", "--demo", "FULLON_CACHE_API_PORT"):
        assert flag in result.stdout


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_demo_serves_sample_data_and_stops_its_redis(stop) -> None:
    with serve_api("--demo", output=True) as (process, _, port):
        body = httpx.get(f"http://127.0.0.1:{port}/tickers/binance/BTC/USDT").json()
        assert (body["exchange"], body["symbol"], body["price"], body["last"]) == (
            "binance",
            "BTC/USDT",
            300.0,
            300.0,
        )
        process.send_signal(stop)
        assert process.wait(10) == 0
        output = process.stdout.read() if process.stdout else ""
    assert f"curl http://127.0.0.1:{port}/tickers/binance/BTC/USDT" in output
    redis_port = int(re.search(r"redis://127\.0\.0\.1:(\d+)/0", output).group(1))
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", redis_port), timeout=0.5).close()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("FULLON_CACHE_API_PORT", "abc"),
        ("FULLON_CACHE_API_PORT", "70000"),
        ("FULLON_CACHE_API_WORKERS", "0"),
        ("FULLON_CACHE_API_LOG_LEVEL", "verbose"),
        ("FULLON_CACHE_API_GRACEFUL_TIMEOUT", "soon"),
    ],
)
def test_invalid_server_variable_fails_at_start_naming_it(variable, value) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fullon_cache_api"],
        env={**os.environ, variable: value},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert variable in result.stderr and "Traceback" not in result.stderr
