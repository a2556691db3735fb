"""Hygiene of the standalone server and the app (issue 17, findings 7 to 9), on real processes:
no secret and no forged line in the logs, heavy answers shared for a bounded time, request
targets that are no path, HTTP/2 refused before its frames are read, Redis URL options checked
at start, a Redis ACL LOG that stays empty, and no-store bot answers."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import subprocess
import sys

import msgspec
import pytest
import redis

from fullon_cache_api import Settings, create_app, lifespan
from fullon_cache_api.routes import ROUTES
from fullon_cache_api.routing import Endpoint

from support import READER, api_connections, http_client, reader_url, serve_api


def exchange(port: int, data: bytes) -> bytes:
    """What the server sends on a connection that sent ``data``, until it closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
        return received


def request(port: int, head: str) -> bytes:
    return exchange(port, f"{head}\r\nHost: api\r\nConnection: close\r\n\r\n".encode("latin-1"))


def stopped_output(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0
    return process.stdout.read() if process.stdout else ""


# 9. Targets that are no path, HTTP/2, Redis URL options, ACL LOG, no-store ----------------------


@pytest.mark.slow
def test_a_target_that_is_no_path_answers_in_the_error_shape_without_a_traceback(
    redis_server, snapshot
) -> None:
    env = {"REDIS_URL": reader_url(redis_server)}
    with serve_api(env=env, output=True) as (process, _, port):
        answers = {
            head: request(port, head)
            for head in ("OPTIONS * HTTP/1.1", "GET * HTTP/1.1", "CONNECT h:1 HTTP/1.1")
        }
        output = stopped_output(process)
    statuses = {head: answer.split(b" ", 2)[1] for head, answer in answers.items()}
    assert statuses == {
        "OPTIONS * HTTP/1.1": b"405",
        "GET * HTTP/1.1": b"400",
        "CONNECT h:1 HTTP/1.1": b"400",
    }
    assert b"\r\nallow: get, head\r\n" in answers["OPTIONS * HTTP/1.1"].lower()
    for answer in answers.values():
        body = msgspec.json.decode(answer.split(b"\r\n\r\n", 1)[1])
        assert set(body["error"]) == {"status", "code", "message"}
    assert "Traceback" not in output and "IndexError" not in output, output


@pytest.mark.parametrize(
    "url",
    [
        "redis://localhost:6379/0?foo=bar",
        "redis://localhost:6379/0?ssl_cert_reqs=none",  # TLS options on a cleartext URL
        "rediss://localhost:6379/0?ssl_cert_reqs=maybe",
        "redis://localhost:6379/0?max_connections=3",  # FULLON_CACHE_API_POOL_SIZE says that
        "redis://localhost:6379/0?client_name=other",
    ],
)
def test_an_unknown_redis_url_option_stops_the_start_in_one_line(url) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fullon_cache_api", "--port", "1"],
        env={**os.environ, "REDIS_URL": url},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and result.stdout == "", result
    assert result.stderr.count("\n") == 1 and "REDIS_URL" in result.stderr, result.stderr


@pytest.mark.parametrize(
    "query",
    [
        "db=0",
        "socket_timeout=1&socket_connect_timeout=1",
        "socket_keepalive=true&health_check_interval=30",
        "socket_read_size=65536",
    ],
)
@pytest.mark.anyio
async def test_the_redis_url_options_that_make_sense_are_served(redis_server, snapshot, query):
    app = create_app(Settings.from_env({"REDIS_URL": f"{reader_url(redis_server)}?{query}"}))
    async with lifespan(app), http_client(app) as http:
        assert (await http.get("/tickers/binance/BTC/USDT")).status_code == 200


def test_tls_options_are_accepted_on_a_tls_url() -> None:
    url = "rediss://u:p@localhost:6380/0?ssl_cert_reqs=none&ssl_check_hostname=false"
    assert Settings.from_env({"REDIS_URL": url}).redis_url == url


@pytest.mark.anyio
async def test_the_readme_acl_user_logs_no_refusal(redis_server, snapshot) -> None:
    """Connections of every kind (requests, the hub's tracking and pub/sub) as the README's
    read-only user: Redis refuses none of their set-up commands (ACL LOG stays empty)."""
    port = redis_server.port
    with redis.Redis(port=port, decode_responses=True) as admin:
        admin.execute_command("ACL", "LOG", "RESET")
        settings = Settings(redis_url=reader_url(redis_server))
        for each in (settings, dataclasses.replace(settings, local_cache=False)):
            app = create_app(each)
            async with lifespan(app), http_client(app) as http:
                for path in ("/tickers/binance/BTC/USDT", "/tickers", "/health", "/overview"):
                    assert (await http.get(path)).status_code == 200
                for _ in range(100):  # until the hub's own connection is up, if it opens one
                    if api_connections(redis_server) >= 2:
                        break
                    await asyncio.sleep(0.02)
                assert (await http.get("/tickers/binance/BTC/USDT")).status_code == 200
        denied = [
            entry
            for entry in admin.execute_command("ACL", "LOG")
            if entry.get("username") == READER
        ]
        assert denied == []


BOTS = [r for r in ROUTES if isinstance(r, Endpoint) and r.path.startswith("/bots")]


@pytest.mark.parametrize("endpoint", BOTS, ids=[r.path for r in BOTS])
def test_every_bot_route_is_declared_no_store(endpoint) -> None:
    assert endpoint.no_store


@pytest.mark.parametrize("path", ["/bots/blocks", "/bots/coordination"])
@pytest.mark.anyio
async def test_bot_blocks_and_coordination_answer_no_store(client, snapshot, path) -> None:
    response = await client.get(path)
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
