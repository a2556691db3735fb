"""Hygiene of the standalone server and the app (issue 17, findings 7 to 9), on real processes:
no secret and no forged line in the logs, heavy answers shared for a bounded time, request
targets that are no path, HTTP/2 refused before its frames are read, Redis URL options checked
at start, a Redis ACL LOG that stays empty, and no-store bot answers."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import os
import signal
import socket
import struct
import subprocess
import sys

import httpx
import msgspec
import pytest
import redis

from fullon_cache_api import Settings, SettingsError, create_app, lifespan
from fullon_cache_api.flight import LINGER_FROM, SingleFlight
from fullon_cache_api.routes import ROUTES
from fullon_cache_api.routing import Endpoint

from support import (
    READER,
    api_connection_ids,
    api_connections,
    http_client,
    reader_url,
    serve_api,
    set_ticker,
)

TOKEN = "hygiene-token-0123456789"
NEAR_MISS = "hygiene-token-0123456780"


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


def access_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "fullon.cache_api.access" in line]


# 7. Logs: no token, no forged line -------------------------------------------------------------


@pytest.mark.slow
def test_the_access_log_holds_no_token_and_one_escaped_line_per_request(
    redis_server, snapshot
) -> None:
    env = {"REDIS_URL": reader_url(redis_server), "FULLON_CACHE_API_TOKENS": TOKEN}
    key = base64.b64encode(os.urandom(16)).decode()
    with serve_api("--access-log", env=env, output=True) as (process, base, port):
        handshake = (
            f"GET /ws/tickers/x?token={TOKEN} HTTP/1.1\r\nHost: api\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(handshake.encode())
            assert sock.recv(4096).startswith(b"HTTP/1.1 101")
        assert httpx.get(f"{base}/tickers", params={"token": NEAR_MISS}).status_code == 401
        assert httpx.get(f"{base}/tickers?a=1&%74oken={NEAR_MISS}").status_code == 401
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.get(f"{base}/tickers", headers=bearer).status_code == 200
        assert httpx.get(f"{base}/tickers", headers={"Authorization": NEAR_MISS}).status_code == 401
        assert request(port, "GET /nope%0d%0aFORGED HTTP/1.1").startswith(b"HTTP/1.1 404")
        assert request(port, f"GET /{'a' * 5000} HTTP/1.1").startswith(b"HTTP/1.1 404")
        output = stopped_output(process)
    assert TOKEN not in output and NEAR_MISS not in output, output
    lines = access_lines(output)
    assert len(lines) == 7, output  # one line per request
    assert "/ws/tickers/x?token=<redacted> " in lines[0]
    assert "/tickers?token=<redacted> " in lines[1]
    assert "/tickers?a=1&%74oken=<redacted> " in lines[2]
    forged = [line for line in output.splitlines() if "FORGED" in line]
    assert forged == [lines[5]] and '"GET /nope\\r\\nFORGED 1.1" 404' in forged[0], output
    assert len(lines[6]) < 500 and "...(4801 more)" in lines[6]  # cut to 200 characters


# 8. Heavy answers are shared for a bounded time -----------------------------------------------


class Work:
    """Work whose runs end when the test says; counts its runs and how many ran at once."""

    def __init__(self) -> None:
        self.runs = 0
        self.running = 0
        self.most_at_once = 0
        self.release = asyncio.Event()

    async def __call__(self) -> int:
        self.runs += 1
        run = self.runs
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await self.release.wait()
            await asyncio.sleep(0)  # like any I/O: others run before it ends
        finally:
            self.running -= 1
        return run


async def started(*tasks: asyncio.Task[int]) -> None:
    await asyncio.sleep(0.01)  # loop time moves on: each came after the work in flight began
    assert not any(task.done() for task in tasks)


@pytest.mark.anyio
async def test_work_begun_within_the_share_window_is_joined() -> None:
    flights, work = SingleFlight(), Work()
    first = asyncio.create_task(flights.run("k", work, share_for=60))
    await started(first)
    second = asyncio.create_task(flights.run("k", work, share_for=60))
    await started(first, second)
    work.release.set()
    assert (await first, await second, work.runs) == (1, 1, 1)


@pytest.mark.anyio
async def test_work_begun_before_the_share_window_is_not_joined_but_followed() -> None:
    """A caller that comes after the window waits for the run in flight to end, then joins (or
    does) the next run, which began after it came: one run at a time, never a stale one."""
    flights, work = SingleFlight(), Work()
    first = asyncio.create_task(flights.run("k", work, share_for=0))
    await started(first)
    late = [asyncio.create_task(flights.run("k", work, share_for=0)) for _ in range(3)]
    await started(first, *late)
    assert work.runs == 1  # the late ones wait for its end
    work.release.set()
    assert await first == 1
    assert [await task for task in late] == [2, 2, 2]
    assert (work.runs, work.most_at_once) == (2, 1)


@pytest.mark.anyio
async def test_a_lingering_result_is_given_only_within_the_share_window() -> None:
    async def costly() -> float:
        await asyncio.sleep(LINGER_FROM * 1.5)
        return asyncio.get_running_loop().time()

    flights = SingleFlight()
    made = await flights.run("k", costly, linger=True, share_for=60)
    assert await flights.run("k", costly, linger=True, share_for=60) == made  # lingered
    flights = SingleFlight()
    made = await flights.run("k", costly, linger=True, share_for=0)
    again = [flights.run("k", costly, linger=True, share_for=0) for _ in range(3)]
    remade = await asyncio.gather(*again)  # after its linger: at most half the time on it
    assert remade[0] > made and set(remade) == {remade[0]}  # worked out again, once


def test_the_share_window_is_a_setting() -> None:
    assert Settings().heavy_share_ms == 250
    assert Settings.from_env({"FULLON_CACHE_API_HEAVY_SHARE_MS": "0"}).heavy_share_ms == 0
    for raw in ("-1", "soon", "60001"):
        with pytest.raises(SettingsError, match="FULLON_CACHE_API_HEAVY_SHARE_MS"):
            Settings.from_env({"FULLON_CACHE_API_HEAVY_SHARE_MS": raw})


@pytest.mark.anyio
async def test_heavy_requests_after_the_window_see_a_write_made_while_one_was_worked_out(
    redis_server, snapshot, admin
) -> None:
    """/tickers/health with a share window of 0: requests that come while an answer is worked
    out get the next one, which holds a write made before they came."""
    settings = Settings(redis_url=reader_url(redis_server), heavy_share_ms=0, local_cache=False)
    app = create_app(settings)
    async with lifespan(app), http_client(app) as http:
        first = asyncio.create_task(http.get("/tickers/health", params={"max_age": "1e9"}))
        await asyncio.sleep(0)  # it has begun
        set_ticker(admin, "hygiene", "NEW/USDT", price=1.0, time=1.0)
        later = await http.get("/tickers/health", params={"max_age": "1e9"})
        await first
    exchanges = [row["exchange"] for row in later.json()["items"]]
    assert "hygiene" in exchanges


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


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream)


def frames(data: bytes) -> list[tuple[int, int, bytes]]:
    """(type, stream, payload) of each HTTP/2 frame in ``data``."""
    found = []
    while data:
        length = int.from_bytes(data[:3], "big")
        stream = int.from_bytes(data[5:9], "big") & 0x7FFFFFFF
        found.append((data[3], stream, data[9 : 9 + length]))
        data = data[9 + length :]
    return found


@pytest.mark.slow
def test_http2_is_refused_before_its_frames_are_read_unless_h2c(redis_server, snapshot) -> None:
    env = {"REDIS_URL": reader_url(redis_server)}
    # a client opening streams and resetting them at once (a rapid reset)
    streams = b"".join(
        frame(0x1, 0x5, n, b"\x82\x84\x86") + frame(0x3, 0, n, b"\x00\x00\x00\x08")
        for n in range(1, 21, 2)
    )
    upgrade = (
        "GET /health HTTP/1.1\r\nHost: api\r\nConnection: Upgrade, HTTP2-Settings\r\n"
        "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
    )
    with serve_api("--access-log", env=env, output=True) as (process, base, port):
        refused = exchange(port, PREFACE + frame(0x4, 0, 0, b"") + streams)
        upgraded = exchange(port, upgrade.encode())
        with httpx.Client(http1=False, http2=True) as h2, pytest.raises(httpx.HTTPError):
            h2.get(base + "/health")
        assert httpx.get(base + "/health").status_code == 200  # HTTP/1.1 is served
        output = stopped_output(process)
    for answer in (refused, upgraded.split(b"\r\n\r\n", 1)[-1]):
        (settings_kind, _, settings), (goaway_kind, _, goaway) = frames(answer)
        assert (settings_kind, settings, goaway_kind) == (0x4, b"", 0x7)
        assert struct.unpack(">II", goaway[:8]) == (0, 0xD)  # no stream; HTTP_1_1_REQUIRED
    assert len(access_lines(output)) == 1, output  # the HTTP/1.1 request alone reached the app
    with serve_api("--h2c", env=env) as (_, base, _), httpx.Client(http1=False, http2=True) as h2:
        response = h2.get(base + "/tickers/binance/BTC/USDT")
        assert (response.http_version, response.status_code) == ("HTTP/2", 200)


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
            known = api_connection_ids(redis_server)
            app = create_app(each)
            async with lifespan(app), http_client(app) as http:
                for path in ("/tickers/binance/BTC/USDT", "/tickers", "/health", "/overview"):
                    assert (await http.get(path)).status_code == 200
                for _ in range(100):  # until the hub's own connection is up, if it opens one
                    if api_connections(redis_server, known) >= 2:
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
