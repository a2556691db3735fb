"""The instruments of ``run.py``: CPU pinning, server processes (started, probed, measured and
stopped here), the load generator (wrk, else a small async client), server CPU time per request,
and a minimal in-process ASGI driver with interleaved timing.

Everything binds 127.0.0.1; every process started here is stopped here (its whole process group
if it does not stop by itself); every wait is bounded.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]

# On 2+ cores the measured Python process (a server, or this process in-process) gets CPU 0
# and redis-server and the load generator share CPU 1, so the two sides never fight for a core.
PINNED = hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2
SERVER_CPU, LOAD_CPU = {0}, {1}


def pin(pid: int, cpus: set[int]) -> None:
    if PINNED:
        os.sched_setaffinity(pid, cpus)


@contextmanager
def pinned(cpus: set[int]) -> Iterator[None]:
    """This process on ``cpus`` for the block."""
    if not PINNED:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


# CPU time -----------------------------------------------------------------------------------------


def _stat(pid: str) -> tuple[int, int] | None:
    """(parent pid, user + system clock ticks) of a live process, all its threads together."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[11]) + int(fields[12])


def tree_cpu(pid: int) -> float | None:
    """CPU seconds (user + system, every thread) used so far by process ``pid`` and its live
    descendants (granian serves from a worker process; hypercorn and uvicorn from ``pid``).
    None where there is no /proc."""
    if not Path(f"/proc/{pid}/stat").exists():
        return None
    children: dict[int, list[int]] = {}
    ticks: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and (found := _stat(entry.name)) is not None:
            children.setdefault(found[0], []).append(int(entry.name))
            ticks[int(entry.name)] = found[1]
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += ticks.get(current, 0)
        todo += children.get(current, [])
    return total / os.sysconf("SC_CLK_TCK")


# servers ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    """How to start one server: a command that serves on ``{port}``, and its environment."""

    name: str
    command: tuple[str, ...]
    env: Mapping[str, str]

    def argv(self, port: int) -> list[str]:
        return [part.replace("{port}", str(port)) for part in self.command]


def _answers(port: int, path: str) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except OSError:
        return False
    finally:
        connection.close()


@contextmanager
def serve(server: Server, port: int, probe: str, timeout: float = 30.0) -> Iterator[int]:
    """Run ``server`` on ``port`` (on the server CPU, in a process group of its own) until the
    block ends; wait until ``probe`` answers 200. Yields its pid. At the end: SIGTERM (its own
    graceful stop), then SIGKILL to its whole group if it has not stopped within 15 s."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            server.argv(port),
            env=dict(server.env),
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            process_group=0,
            preexec_fn=lambda: pin(0, SERVER_CPU),  # before exec: its workers inherit it
        )
        try:
            deadline = time.monotonic() + timeout
            while not _answers(port, probe):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    tail = log.read().decode(errors="replace")[-3000:]
                    raise RuntimeError(f"{server.name} did not start:\n{tail}")
                time.sleep(0.1)
            yield process.pid
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                process.wait(15)
            with suppress(ProcessLookupError):  # whatever of its group is left (workers)
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


# load ---------------------------------------------------------------------------------------------


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    cpu_us: float | None = None
    """Server CPU time (user + system, its process tree) per request, in µs: the cost of a
    request whatever else runs on the machine (throughput at saturation is its inverse)."""


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match[1]) * _UNITS[match[2]]


def wrk_version() -> str | None:
    if not shutil.which("wrk"):
        return None
    return subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()[1]


def wrk(url: str, seconds: float, connections: int) -> Load:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    out = subprocess.run(
        [*command, "--timeout", "5s", url],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        preexec_fn=lambda: pin(0, LOAD_CPU),
    ).stdout
    percent = dict(re.findall(r"^\s+(50|99)(?:\.0+)?%\s+(\S+)\s*$", out, re.M))
    if "50" not in percent or "99" not in percent or "Requests/sec" not in out:
        raise RuntimeError(f"unexpected wrk output for {url}:\n{out}")
    requests = int(re.search(r"^\s+(\d+) requests in", out, re.M)[1])  # type: ignore[index]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = (int(bad[1]) if bad else 0) + (sum(map(int, socket.groups())) if socket else 0)
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out)[1])  # type: ignore[index]
    return Load(rps, _ms(percent["50"]), _ms(percent["99"]), requests, errors)


async def _async_load(host: str, port: int, target: str, seconds: float, conns: int) -> Load:
    """The fallback load generator: ``conns`` keep-alive HTTP/1.1 connections in a loop."""
    request = f"GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1])  # type: ignore[index]
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - start)
                if not head.startswith(b"HTTP/1.1 2"):
                    errors += 1
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conns)))
    elapsed = time.perf_counter() - start
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    return Load(len(latencies) / elapsed, q[49] * 1e3, q[98] * 1e3, len(latencies), errors)


def load(port: int, target: str, seconds: float, connections: int, pid: int = 0) -> Load:
    """Drive the server on ``port`` (process ``pid``) with GET ``target`` for ``seconds``."""
    before = tree_cpu(pid) if pid else None
    if shutil.which("wrk"):
        result = wrk(f"http://127.0.0.1:{port}{target}", seconds, connections)
    else:
        with pinned(LOAD_CPU):
            result = asyncio.run(_async_load("127.0.0.1", port, target, seconds, connections))
    after = tree_cpu(pid) if pid else None
    if before is not None and after is not None and result.requests:
        result.cpu_us = (after - before) / result.requests * 1e6
    return result


def sequential_gets(port: int, target: str, count: int) -> int:
    """``count`` GETs one after the other on one keep-alive connection; the number answered 200."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    ok = 0
    try:
        for _ in range(count):
            connection.request("GET", target)
            response = connection.getresponse()
            response.read()
            ok += response.status == 200
    finally:
        connection.close()
    return ok


def warm(port: int, target: str) -> None:
    """A few requests first: pooled connections opened, caches filled."""
    sequential_gets(port, target, 20)


# in-process ---------------------------------------------------------------------------------------


async def call(app: App, path: str, query: str = "") -> tuple[int, bytes]:
    """One GET through an ASGI app, without any server or client around it."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def per_request(app: App, path: str, query: str, count: int) -> float:
    """Seconds per request of ``count`` GETs in a row."""
    start = time.perf_counter()
    for _ in range(count):
        await call(app, path, query)
    return (time.perf_counter() - start) / count


async def timed(app: App, path: str, query: str, count: int) -> tuple[float, float]:
    """Seconds per request of ``count`` GETs in a row: (wall, CPU of this process). CPU time
    does not count the time another process held the core, nor Redis's own work."""
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        await call(app, path, query)
    return (time.perf_counter() - wall) / count, (time.process_time() - cpu) / count


def rotation(names: Sequence[str], round_: int) -> list[str]:
    """The order of a round: rotated by one every round, reversed every other, so that no side
    is always first or always after the same neighbour."""
    shift = round_ % len(names)
    order = list(names[shift:]) + list(names[:shift])
    return order[::-1] if (round_ // len(names)) % 2 else order


async def interleaved(
    apps: Mapping[str, App], path: str, query: str, seconds: float, batch_seconds: float = 0.02
) -> dict[str, list[float]]:
    """Seconds per request of each app, one batch of about ``batch_seconds`` per app per round
    (the order rotates every round), for about ``seconds``: per-round lists, index-aligned."""
    for app in apps.values():  # warm up
        await per_request(app, path, query, 3)
    slowest = max([await per_request(app, path, query, 3) for app in apps.values()])
    batch = max(1, min(2000, int(batch_seconds / max(slowest, 1e-6))))
    times: dict[str, list[float]] = {name: [] for name in apps}
    deadline = time.perf_counter() + seconds
    rounds = 0
    while rounds < 6 or time.perf_counter() < deadline:
        for name in rotation(list(apps), rounds):
            times[name].append(await per_request(apps[name], path, query, batch))
        rounds += 1
    return times


def median_ratio(top: Sequence[float], bottom: Sequence[float]) -> float:
    """The median of the per-round ratios ``top[i] / bottom[i]``."""
    return statistics.median(t / b for t, b in zip(top, bottom, strict=True))


def serve_like_the_api(app: Any, argv: Sequence[str]) -> int:
    """Serve ``app`` with the API's own hypercorn configuration and event loop
    (``python -m fullon_cache_api`` flags ``argv``): only the application differs."""
    from hypercorn.asyncio import serve

    from fullon_cache_api import Settings
    from fullon_cache_api.__main__ import hypercorn_config, listen, loop_runner, parse_args

    server = parse_args(argv)
    config = hypercorn_config(server, Settings.from_env(), listen(server.host, server.port))
    loop_runner(server.loop)(serve(app, config))
    return 0


# the served API, raw WebSockets (the attack benchmarks) -------------------------------------


class ApiProcess:
    """``python -m fullon_cache_api`` on a free loopback port (``args`` added to its command
    line, ``env`` to its environment), answering ``/health`` (within 60 s), its output in a
    temporary file; ``stop()`` (or leaving the ``with``) ends it."""

    def __init__(self, redis_url: str, env: Mapping[str, str] = {}, args: Sequence[str] = ()):
        import sys

        import httpx

        from fullon_cache_api.demo.redis_server import free_port

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile("w+", prefix="bench-api-", suffix=".log")  # noqa: SIM115
        command = [sys.executable, "-m", "fullon_cache_api", "--host", "127.0.0.1",
                   "--port", str(self.port), *args]  # fmt: skip
        self.proc = subprocess.Popen(
            command,
            env={**os.environ, "REDIS_URL": redis_url, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(self.base + "/health", timeout=5).raise_for_status()
                return
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise SystemExit("the API did not start") from None
                time.sleep(0.1)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self) -> None:
        """End the process (and drop its output)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    def __enter__(self) -> ApiProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def ws_open(port: int, path: str, rcvbuf: int | None = None) -> Any:
    """A WebSocket opened by hand (optionally with a small receive buffer), for clients that
    read slowly or never."""
    import base64
    import socket

    sock = socket.socket()
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: api\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError(head)
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(head)
    return sock


def ws_frame(message: Any) -> bytes:
    """``message`` as a masked text frame, JSON."""
    import json

    data = json.dumps(message).encode()
    mask = os.urandom(4)
    size = len(data)
    if size < 126:
        head = bytes([0x81, 0x80 | size])
    elif size < 65536:
        head = bytes([0x81, 0x80 | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([0x81, 0x80 | 127]) + size.to_bytes(8, "big")
    masked = int.from_bytes(data, "big") ^ int.from_bytes((mask * (size // 4 + 1))[:size], "big")
    return head + mask + masked.to_bytes(size, "big")
