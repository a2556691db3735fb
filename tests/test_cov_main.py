"""``python -m fullon_cache_api`` (``__main__.py``) where test_server.py does not take it: a
worker dying under ``--workers`` (the others stopped, one that ignores SIGTERM killed, exit
1), uvloop missing, the demo's Redis failing to start or a stop signal while it starts, a bad
token name, the log line of a Sentinel target, an access line without an answer, and the 505
for an HTTP/2 request that reaches the app. Real processes on loopback."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypercorn.config import Config

from fullon_cache_api import Settings
from fullon_cache_api.__main__ import HTTP2_REFUSED, AccessLog, log_start, main, refuse_http2
from fullon_cache_api.demo.redis_server import free_port
from fullon_cache_api.settings import ServerSettings

from support import PATIENT_ENV, descendants, reader_url, serve_api, stop_process


def workers_of(pid: int) -> list[int]:
    """The ``--workers`` processes ``pid`` spawned (not multiprocessing's resource tracker)."""
    found = []
    for child, _ in descendants(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"spawn_main" in part for part in command):
            found.append(child)
    return found


@pytest.mark.slow
def test_a_worker_that_dies_stops_the_others_and_the_server_exits_1(
    redis_server, tmp_path: Path
) -> None:
    """One worker is killed: the server logs it and stops the others (SIGTERM); one that does
    not stop (here: stopped with SIGSTOP, so SIGTERM waits) is killed after the graceful
    timeout and 10 s more. The exit status says a worker failed. The workers' metrics go to
    the ``PROMETHEUS_MULTIPROC_DIR`` given (none made), which stays."""
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    env = {"REDIS_URL": reader_url(redis_server), "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
    args = ("--workers", "2", "--graceful-timeout", "1")
    with serve_api(*args, env=env, output=True) as (process, base, _):
        deadline = time.monotonic() + 60
        while len(workers := workers_of(process.pid)) < 2:
            assert time.monotonic() < deadline, "the workers never started"
            time.sleep(0.05)
        assert httpx.get(f"{base}/health", timeout=60).status_code == 200
        stuck, dying = workers
        os.kill(stuck, signal.SIGSTOP)
        os.kill(dying, signal.SIGKILL)
        assert process.wait(60) == 1
        output = process.stdout.read() if process.stdout else ""
    assert "a worker exited by itself: stopping the others" in output
    assert "metrics of the 2 workers shared in" not in output
    assert any(metrics.iterdir())  # the workers' files, kept
    assert "Traceback" not in output
    for worker in (stuck, dying):
        assert not Path(f"/proc/{worker}").exists()  # both gone (and reaped)


UVLOOP_MISSING = """
import asyncio, sys
sys.modules["uvloop"] = None  # as if not installed
from fullon_cache_api.__main__ import loop_runner, main
assert loop_runner("auto") is asyncio.run  # auto: asyncio's loop then
sys.exit(main(sys.argv[1:]))
"""


def test_without_uvloop_auto_runs_asyncio_and_asking_for_uvloop_stops_the_start() -> None:
    done = subprocess.run(
        [sys.executable, "-c", UVLOOP_MISSING, "--loop", "uvloop", "--port", str(free_port())],
        env={**os.environ, "REDIS_URL": "redis://127.0.0.1:1/0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    last = done.stderr.splitlines()[-1]
    assert last == (
        "fullon_cache_api: --loop uvloop: uvloop is not installed "
        "(pip install fullon_cache_api[uvloop])"
    )
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_a_bad_token_name_stops_token_new(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        main(["token", "new", "two words", "--scope", "market"])
    assert done.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "fullon_cache_api: token new: the name must be 1 to 64 of A-Z a-z 0-9 _ . : -\n"


def demo_process(tmp_path: Path, redis_server_binary: str) -> subprocess.Popen[str]:
    """``--demo`` with ``REDIS_SERVER`` set, its temporary directories under ``tmp_path``."""
    return subprocess.Popen(
        [sys.executable, "-m", "fullon_cache_api", "--demo", "--port", str(free_port())],
        env={
            **os.environ,
            **PATIENT_ENV,
            "REDIS_SERVER": redis_server_binary,
            "TMPDIR": str(tmp_path),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_demo_whose_redis_exits_at_start_stops_in_its_words(tmp_path: Path) -> None:
    false = subprocess.run(["sh", "-c", "command -v false"], capture_output=True, text=True)
    process = demo_process(tmp_path, false.stdout.strip())
    try:
        out, err = process.communicate(timeout=60)
    finally:
        stop_process(process)
    assert process.returncode == 2, err
    assert out == ""  # no banner
    assert "\nfullon_cache_api: demo: redis-server exited at start on port " in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # its directory removed


def test_a_stop_signal_while_the_demo_redis_starts_leaves_nothing(tmp_path: Path) -> None:
    """SIGTERM while the demo waits for its Redis to answer (here one that never does): the
    start is interrupted, that Redis stopped and its directory removed, exit 0."""
    marker = tmp_path / "started"
    silent = tmp_path / "silent-redis-server"
    silent.write_text(
        f'#!/bin/sh\necho "$$ $*" > {marker}.tmp\nmv {marker}.tmp {marker}\nexec sleep 600\n'
    )
    silent.chmod(0o755)
    process = demo_process(tmp_path, str(silent))
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the demo never started its Redis"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        stop_process(process)
    assert process.returncode == 0, err
    assert out == "" and "Traceback" not in err
    pid, *args = marker.read_text().split()
    directory = args[args.index("--dir") + 1]
    assert not Path(directory).exists()
    assert not Path(f"/proc/{pid}").exists()  # that Redis stopped


def test_the_start_names_the_sentinels_and_masks_the_password(caplog) -> None:
    settings = Settings(
        redis_url="redis://cache_api:s3cret@ignored:6379/2?socket_timeout=5",
        sentinels=(("10.0.0.1", 26379), ("10.0.0.2", 26380)),
        sentinel_service="cache",
    )
    with caplog.at_level(logging.INFO, logger="fullon.cache_api"):
        log_start(ServerSettings(loop="asyncio"), settings)
    assert (
        "reading sentinels 10.0.0.1:26379,10.0.0.2:26380 (service cache, from the replica) as "
        "redis://cache_api:***@ignored:6379/2; auth: open; event loop: asyncio"
    ) in caplog.text
    assert "s3cret" not in caplog.text


def test_an_access_line_without_an_answer_says_so() -> None:
    """hypercorn logs a request it gave no answer to (a client gone first) with no response:
    its status and size are ``-``, as is an unknown client address."""
    scope: Any = {
        "type": "http",
        "method": "GET",
        "path": "/tickers",
        "query_string": b"token=abc&limit=2",
        "http_version": "1.1",
        "client": None,
    }
    atoms = AccessLog(Config()).atoms(scope, None, 0.25)
    assert atoms == {
        "h": "-",
        "R": "GET /tickers?token=<redacted>&limit=2 1.1",
        "s": "-",
        "b": "-",
        "L": "0.250000",
    }


async def test_an_http2_request_that_reaches_the_app_is_answered_505() -> None:
    """``Http1Only`` refuses HTTP/2 on hypercorn's cleartext connections before any request;
    one that reaches the app anyway (another server, TLS) is answered 505 in the error shape,
    and a WebSocket over HTTP/2 is closed before it is accepted."""
    passed: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        passed.append(scope["http_version"])

    guarded = refuse_http2(app)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        raise AssertionError("nothing is read")

    await guarded({"type": "http", "http_version": "2"}, receive, send)
    await guarded({"type": "websocket", "http_version": "2"}, receive, send)
    await guarded({"type": "http", "http_version": "1.1"}, receive, send)
    assert sent == [
        {
            "type": "http.response.start",
            "status": 505,
            "headers": [(b"content-type", b"application/json")],
        },
        {"type": "http.response.body", "body": HTTP2_REFUSED},
        {"type": "websocket.close", "code": 1002},
    ]
    assert passed == ["1.1"]
