"""Helpers shared by the tests: the snapshot, a pinned clock, HTTP clients, servers."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Collection, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path
from typing import Any, NamedTuple

import anyio
import httpx

from fullon_cache_api.client import CacheClient
from fullon_cache_api.demo.redis_server import RedisServer, free_port
from fullon_cache_api.demo.snapshot import read_snapshot
from fullon_cache_api.hub import StreamHub

SNAPSHOT_PATH = Path(__file__).with_name("fullon_cache_snapshot.json")
SNAPSHOT = read_snapshot(SNAPSHOT_PATH)
WRITTEN_AT: float = SNAPSHOT["written_at"]  # base of tick, OHLCV, position and trade times
GENERATED_AT = 1795668783.62  # 2026-11-26T04:53:03.62Z: when fullon_cache stamped its own times
READER = "cache_api"
READER_PASSWORD = "reader-secret"
STOP_S = 30.0  # the longest an in-process server's stop may take before it is an error
# Deadlines no busy machine reaches on loopback (the defaults' 0.5 s command timeout can be):
# the app's settings in tests, and the environment of every served process, unless a test of a
# deadline sets its own. And ticker streams that follow every publication (the tests of each
# tick, slow clients, poisoned publications publish without writing the hash):
# tests/test_ticker_feed.py tests the default, ticks read from the hashes.
PATIENT: dict[str, Any] = {
    "connect_timeout": 30.0,
    "command_timeout": 30.0,
    "request_timeout": 60.0,
    "pool_timeout": 30.0,
    "ticker_feed": "published",
}
PATIENT_ENV = {f"FULLON_CACHE_API_{name.upper()}": str(value) for name, value in PATIENT.items()}


class Clock:
    """A pinned clock tests can move."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def reader_url(server: RedisServer) -> str:
    return f"redis://{READER}:{READER_PASSWORD}@127.0.0.1:{server.port}/0"


async def tracking_on(http: httpx.AsyncClient) -> None:
    """Until the app's stream hub has set tracking up: from then on a write to a key read is
    reported to the local cache and the key index (before, only a walk would list a key
    created after the index's first walk)."""
    with anyio.fail_after(10):
        while not expect(await http.get("/info"))["local_cache"]["on"]:
            await anyio.sleep(0.02)


def http_client(app: Any, base_url: str = "http://api") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


SAMPLE_VALUES = {  # a valid path value per parameter name, found in the snapshot
    "exchange": "binance",
    "symbol": "BTC/USDT",
    "ex_id": "1",
    "uid": "7",
    "bot_id": "41",
    "currency": "USDT",
    "order_id": "BINANCE-00001",
    "name": "local-binance",
    "component": "bot_41",
    "process_id": "bot:bot_41:1795668783.611727",
    "timeframe": "1m",
    "asset": "init.js",
}


def fill(template: str, **values: str) -> str:
    """A route template with its placeholders filled: ``values``, else ``SAMPLE_VALUES``."""
    return re.sub(
        r"\{(\w+)(?::\w+)?\}",
        lambda m: values.get(m.group(1), SAMPLE_VALUES[m.group(1)]),
        template,
    )


def snapshot_value(key: str) -> Any:
    """The stored value of ``key`` in the snapshot."""
    for entry in SNAPSHOT["keys"]:
        if entry["key"] == key:
            return entry["value"]
    raise KeyError(key)


def stored_id(value: int | str | None) -> str | None:
    """What an answer holds for an id the snapshot stores as an integer or a string: its text
    (every id is a string or null in every answer)."""
    assert value is None or type(value) in (int, str), f"not an id the snapshot holds: {value!r}"
    return None if value is None else str(value)


def snapshot_keys(prefix: str) -> list[str]:
    return sorted(e["key"] for e in SNAPSHOT["keys"] if e["key"].startswith(prefix))


def expect(response: httpx.Response, status: int = 200) -> Any:
    """The decoded JSON body, after checking the status and the content type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def prepare(server: RedisServer, load: bool = True) -> RedisServer:
    """Create the read-only ACL user the app connects as, and load the snapshot (as admin)
    unless not ``load``."""
    import redis

    from fullon_cache_api.demo.redis_server import READ_ONLY_ACL
    from fullon_cache_api.demo.snapshot import load_snapshot

    with redis.Redis(port=server.port) as admin:
        admin.execute_command(
            "ACL", "SETUSER", READER, *READ_ONLY_ACL.split(), f">{READER_PASSWORD}"
        )
        if load:
            load_snapshot(admin, SNAPSHOT)
    return server


@contextmanager
def redis_process(*args: str, prepared: bool = True) -> Iterator[RedisServer]:
    """A redis-server of its own (``args`` on its command line), prepared (the read-only user
    and the snapshot) unless not ``prepared``; stopped and its directory removed whatever
    happens, a failed start or preparation included."""
    server = RedisServer(args=args)
    try:
        server.start()
        if prepared:
            prepare(server)
        yield server
    finally:
        server.close()


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time) of ``pid`` from /proc, or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), fields[19]


def descendants(pid: int) -> list[tuple[int, str]]:
    """Every process started by ``pid``, its children's children included, with its start
    time (so that a pid used again by another process is never taken for it)."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            children.setdefault(stat[0], []).append((int(entry.name), stat[1]))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


def stop_process(process: subprocess.Popen[Any], grace: float = 15) -> None:
    """``process`` stopped: SIGTERM, then after ``grace`` seconds SIGKILL; and then every
    process it had started and left behind (a redis-server in a process group of its own)."""
    import signal

    left = descendants(process.pid)
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for pid, started in left:
        stat = _stat(pid)
        if stat is not None and stat[1] == started:  # still that process
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def api_connections(server: RedisServer, known: Collection[str] = ()) -> int:
    """How many connections the API holds open on the real server, but the ``known`` ones."""
    return len(new_api_clients(server, known))


def new_api_clients(server: RedisServer, known: Collection[str]) -> list[dict[str, Any]]:
    """The API's connections on the real server (it names them), but the ``known`` ones
    (``api_connection_ids`` before the test's app: an app an earlier test mounted without a
    lifespan keeps its own until collected)."""
    import redis

    with redis.Redis(port=server.port) as admin:
        return [c for c in api_clients(admin) if c["id"] not in known]


def api_connection_ids(server: RedisServer) -> frozenset[str]:
    import redis

    with redis.Redis(port=server.port) as admin:
        return frozenset(c["id"] for c in api_clients(admin))


def api_clients(admin: Any) -> list[dict[str, Any]]:
    """The connections of every app on the server, oldest first (a test's ``CLIENT LIST``)."""
    clients = [c for c in admin.client_list() if c["name"] == "fullon_cache_api"]
    return sorted(clients, key=lambda c: int(c["id"]))


def newest_hub(admin: Any) -> dict[str, Any]:
    """The pub/sub connection of the app started last: an app an earlier test mounted without
    a lifespan (as master_api does) keeps its own until it is collected."""
    return [c for c in api_clients(admin) if "P" in c["flags"]][-1]


class Freshness(NamedTuple):
    reads: int
    hits: int
    """Reads the local cache answered."""
    stale: list[tuple[float, float]]
    """(price read, price acknowledged before the read began) of each read older than a write
    acknowledged before it began."""


FRESHNESS_WRITER = """
import json, os, sys, time, redis
client = redis.Redis(port=int(sys.argv[1]))
stop, replicas = sys.argv[2], int(sys.argv[3])
acks, price = [], 0
while not os.path.exists(stop):
    price += 1
    client.hset("tickers:fresh", "X/USDT", json.dumps({"price": float(price), "time": time.time()}))
    if replicas:  # acknowledged once the replicas have it, not once the primary has
        assert client.wait(replicas, 0) >= replicas
    acks.append((price, time.monotonic()))
    time.sleep(0.002)
print(json.dumps(acks))
"""


def freshness_run(
    write_port: int, read_url: str, reads: int = 300, readers: int = 4, replicas: int = 0
) -> Freshness:
    """A writer process HSETs an increasing price (no PUBLISH) every 2 ms into the Redis on
    ``write_port`` (then WAITs for ``replicas`` replicas: its acknowledgement), while
    ``readers`` clients each make ``reads`` reads of it through the API served on ``read_url``;
    every read is checked against the writes acknowledged before it began: an order of events
    (CLOCK_MONOTONIC is one clock for every process), no time threshold. The writer stops
    when the readers are done, however long they took."""
    import asyncio
    import bisect
    import json
    import tempfile

    import redis

    with redis.Redis(port=write_port) as admin:
        admin.hset("tickers:fresh", "X/USDT", json.dumps({"price": 0.0, "time": time.time()}))
        if replicas:
            assert admin.wait(replicas, 0) >= replicas
    with (
        serve_api(env={"REDIS_URL": read_url}) as served,
        tempfile.TemporaryDirectory() as scratch,
    ):
        stop = Path(scratch, "stop")

        async def read_while(writer: subprocess.Popen[str]) -> list[tuple[float, float]]:
            found: list[tuple[float, float]] = []
            async with httpx.AsyncClient(base_url=served.base, timeout=30) as http:
                deadline = time.monotonic() + 30
                while not (await http.get("/info")).json()["local_cache"]["on"]:
                    assert time.monotonic() < deadline, "the local cache never came on"
                    await asyncio.sleep(0.02)

                async def loop() -> None:
                    for _ in range(reads):
                        assert writer.poll() is None, "the writer stopped"
                        began = time.monotonic()
                        answer = await http.get("/tickers/fresh/X/USDT")
                        assert answer.status_code == 200, answer.text
                        found.append((began, answer.json()["price"]))

                await asyncio.gather(*(loop() for _ in range(readers)))
            return found

        writer = subprocess.Popen(
            [sys.executable, "-c", FRESHNESS_WRITER, str(write_port), str(stop), str(replicas)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            found = asyncio.run(read_while(writer))
        finally:
            stop.touch()
            out = writer.communicate(timeout=60)[0]
        assert writer.returncode == 0, out
        acks: list[tuple[float, float]] = json.loads(out)
        hits = httpx.get(timeout=60, url=served.base + "/info").json()["local_cache"]["hits"]
    acked = [at for _, at in acks]
    stale = []
    for began, price in found:
        index = bisect.bisect_right(acked, began)
        if index and price < acks[index - 1][0]:
            stale.append((price, acks[index - 1][0]))
    return Freshness(len(found), hits, stale)


@contextmanager
def stopped(server: RedisServer) -> Iterator[None]:
    """``server`` stalled (SIGSTOP) for the block, resumed (SIGCONT) whatever happens: what a
    test sees inside happened while Redis was stalled, however slow the machine."""
    import signal

    assert server.process is not None
    server.process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        server.process.send_signal(signal.SIGCONT)


class Served(NamedTuple):
    process: subprocess.Popen[str]
    base: str  # http://127.0.0.1:{port}
    port: int


@contextmanager
def serve_api(
    *args: str, env: dict[str, str] | None = None, output: bool = False
) -> Iterator[Served]:
    """``python -m fullon_cache_api`` as a real process on a free loopback port, ``env`` added to
    the environment; waits until it accepts connections, and stops it at the end. With
    ``output``, its stdout and stderr can be read from ``process.stdout`` once it has exited."""
    port = free_port()
    command = [sys.executable, "-m", "fullon_cache_api", "--port", str(port), *args]
    with serve(command, port, env, output) as served:
        yield served


MOUNT = "/api/v1/cache"


def mounted_host() -> Any:
    """A host like master_api: the API, its settings from the environment, mounted at MOUNT."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from fullon_cache_api import create_app

    return Starlette(routes=[Mount(MOUNT, app=create_app())])


@contextmanager
def serve_mounted(env: dict[str, str] | None = None) -> Iterator[Served]:
    """``mounted_host()`` served by hypercorn in a real process, like ``serve_api``."""
    port = free_port()
    bind = f"127.0.0.1:{port}"
    command = [sys.executable, "-m", "hypercorn", "--bind", bind, "support:mounted_host()"]
    path = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))
    with serve(command, port, {**(env or {}), "PYTHONPATH": path}) as served:
        yield served


@contextmanager
def serve(
    command: list[str], port: int, env: dict[str, str] | None = None, output: bool = False
) -> Iterator[Served]:
    """``command``, a server that will listen on ``port``, as in ``serve_api``."""
    process = subprocess.Popen(
        command,
        env={**PATIENT_ENV, **os.environ, **(env or {})},
        stdout=subprocess.PIPE if output else subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"nothing listens on {port}"
                time.sleep(0.05)
        yield Served(process, f"http://127.0.0.1:{port}", port)
    finally:
        stop_process(process)


class Monitor:
    """The commands Redis receives while the block runs (MONITOR, on a thread), each as its
    list of arguments; connection set-up (HELLO, AUTH, CLIENT, SELECT, PING) left out."""

    def __init__(self, port: int) -> None:
        import redis

        self._client = redis.Redis(port=port, decode_responses=True)
        self.commands: list[list[str]] = []
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        with self._client.monitor() as monitor:
            self._ready.set()
            while True:  # until the marker: every command before it is read
                command = shlex.split(monitor.next_command()["command"])
                if command == ["PING", "monitor-stop"]:
                    return
                if command[0].upper() not in ("HELLO", "AUTH", "CLIENT", "SELECT", "PING"):
                    self.commands.append(command)

    def __enter__(self) -> Monitor:
        self._ready = threading.Event()
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.execute_command("PING", "monitor-stop")
        self._thread.join(5)
        self._client.close()


@asynccontextmanager
async def serve_in_process(app: Any) -> AsyncIterator[str]:
    """``app`` served by hypercorn on the running event loop (so a test can look at the app's
    per-loop resources), on a free loopback port; yields ``ws://127.0.0.1:{port}``."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    port = free_port()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    shutdown = asyncio.Event()
    server = asyncio.create_task(serve(app, config, shutdown_trigger=shutdown.wait))
    deadline = time.monotonic() + 10
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            break
        except OSError:
            assert time.monotonic() < deadline and not server.done(), f"nothing listens on {port}"
            await asyncio.sleep(0.02)
    try:
        yield f"ws://127.0.0.1:{port}"
    finally:
        shutdown.set()
        # From Python 3.12 hypercorn's stop waits for every connection to close: one that a
        # failed test left open would hold the suite forever (pytest-timeout's signal cannot
        # stop a running event loop), so the stop is bounded and its overrun is an error.
        await asyncio.wait_for(server, STOP_S)


def set_ticker(admin: Any, exchange: str, symbol: str, **tick: Any) -> None:
    """A tick written as fullon_cache's ``set_ticker`` writes it: the hash, the time, the
    publication."""
    raw = json.dumps({"symbol": symbol, "exchange": exchange, **tick})
    admin.hset(f"tickers:{exchange}", symbol, raw)
    admin.set(f"ticker_time:{exchange}:{symbol}", repr(float(tick.get("time", 0.0))))
    admin.publish(f"ticker_updates:{exchange}:{symbol}", raw)


def validate_fuzzed(case: Any, app: Any, document: dict[str, Any]) -> None:
    """Call ``app`` with a schemathesis ``case`` of ``document`` and check the answer, leaving
    out the checks the app rightly fails: a "negative" value that serializes to a valid one (an
    object generated for an array parameter goes out as its repr, a valid one-item list); a
    made-up cursor that matches the documented pattern yet names no position (400); ``since``
    after ``until``, a rule across two parameters JSON Schema cannot state (400)."""
    import schemathesis

    response = case.call(app=app)
    excluded = []
    if _sent_request_is_valid(case, response.request.url, document):
        excluded.append(schemathesis.checks.negative_data_rejection)
    if response.status_code == 400 and "'cursor'" in response.text:
        excluded.append(schemathesis.checks.positive_data_acceptance)
    if _inverted_range(response.request.url):
        assert response.status_code == 400
        excluded.append(schemathesis.checks.positive_data_acceptance)
    case.validate_response(response, excluded_checks=excluded, transport_kwargs={"app": app})


def _sent_request_is_valid(case: Any, url: str, document: dict[str, Any]) -> bool:
    """Whether the path and query values the app received are valid per the document."""
    from urllib.parse import parse_qs, urlsplit

    from jsonschema import Draft202012Validator

    operation = document["paths"][case.path]["get"]
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    for parameter in operation.get("parameters", []):
        name, schema = parameter["name"], parameter["schema"]
        if parameter["in"] == "path":
            values = [str((case.path_parameters or {}).get(name, ""))]
        else:
            values = query.get(name, [])
            if not values:
                continue  # all query parameters are optional
        if len(values) != 1 or not Draft202012Validator(schema).is_valid(_wire(values[0], schema)):
            return False
    return True


def _inverted_range(url: str) -> bool:
    from urllib.parse import parse_qs, urlsplit

    query = parse_qs(urlsplit(url).query)
    since, until = query.get("since", [""])[-1], query.get("until", [""])[-1]
    numeric = re.compile(r"[0-9]{1,16}")
    return bool(numeric.fullmatch(since) and numeric.fullmatch(until)) and int(since) > int(until)


def _wire(value: str, schema: dict[str, Any]) -> Any:
    """A query or path string as the JSON value it stands for under ``schema``."""
    kind = schema.get("type")
    if kind == "array":
        return value.split(",")
    if kind in ("integer", "number") and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?", value):
        number = float(value)
        return int(number) if number.is_integer() and kind == "integer" else number
    return value


# The README's authorize hook, and a host that puts its user on each request ---------------------


class ReadmeUser:
    """A user as the README's hook reads one: owns ex_id 11 and uid 5, no admin."""

    def __init__(self, name: str) -> None:
        self.is_admin = False
        self.ex_ids = {"11"}
        self.uid = 5
        self.name = name


class SetReadmeUser:
    """A host's middleware (ASGI) that puts a ``ReadmeUser`` on every HTTP request."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})["user"] = ReadmeUser("owner of ex_id 11")
        await self.app(scope, receive, send)


async def readme_authorize(request: Any, resource: Any) -> bool:
    """The README's example hook, verbatim."""
    user = request.state.user
    return user.is_admin or resource.ex_id in user.ex_ids or resource.uid == str(user.uid)


def recorder(client: CacheClient) -> list[httpx.Response]:
    """The responses ``client`` gets, in order (an httpx event hook)."""
    seen: list[httpx.Response] = []

    async def record(response: httpx.Response) -> None:
        seen.append(response)

    client.http.event_hooks["response"].append(record)
    return seen


def fill_unrelated(admin: Any, count: int) -> None:
    """``count`` keys of no family (``unrelated:{n}``), written 10,000 a round trip."""
    pipe = admin.pipeline(transaction=False)
    for start in range(0, count, 10_000):
        pipe.mset({f"unrelated:{i}": "x" for i in range(start, min(start + 10_000, count))})
        pipe.execute()


class Event(NamedTuple):
    name: str
    id: str | None
    data: Any


async def events(response: httpx.Response) -> AsyncIterator[Event]:
    """The stream's events (comments left out), their data decoded."""
    name, ident, data = "message", None, []
    async for line in response.aiter_lines():
        if line.startswith(":"):
            continue
        if line:
            field, _, value = line.partition(": ")
            if field == "event":
                name = value
            elif field == "id":
                ident = value
            elif field == "data":
                data.append(value)
            continue
        if data:
            yield Event(name, ident, json.loads("\n".join(data)))
        name, ident, data = "message", None, []


async def next_event(stream: AsyncIterator[Event]) -> Event:
    with anyio.fail_after(10):
        return await anext(stream)


def hub_of(app: Any) -> StreamHub:
    hub: StreamHub = app.state.backend.resources().hub
    return hub
