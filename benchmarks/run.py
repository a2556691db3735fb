"""Run every benchmark: ``python benchmarks/run.py`` (about five minutes on 2 cores).

Four sides are compared on the same Redis and the same data: the API with its in-process cache
on (``FULLON_CACHE_API_LOCAL_CACHE=true``, the default) and off (``false``: every read goes to
Redis), the reference (``reference.py``: a bare ASGI handler, the floor) and the FastAPI peer
(``peer_fastapi.py``: what a user would write instead).

Steps (``--only`` picks some):

- ``inprocess``: the four called as ASGI apps in one process, interleaved batches: µs/request;
- ``cpu``: the same without Redis (its replies replayed from memory): the code's own cost
  (cache off, reference, peer);
- ``server``: the four under the same hypercorn (one worker each), with the reference's reads
  behind one bare Starlette route and the reference answering from memory, driven in turn by
  wrk on loopback for each endpoint: req/s, server CPU µs/request, p50, p99, and the app's
  speed against the others (medians of per-round ratios);
- ``choice``: the app (cache on) under hypercorn, uvicorn and granian, each on asyncio and uvloop;
- ``commands``: Redis commands (``INFO commandstats``) that 1000 reads of one unchanged ticker,
  and of one unchanged exchange's tickers, cost the app, cache on and off;
- ``curve``: a page of 1000 from ``/tickers/{exchange}`` and ``/ohlcv/{symbol}/{timeframe}``
  on stored series of 1000 to 200,000 items (in-process, cache on and off): flat or not;
- ``locust``: a bounded headless locust run of ``locustfile.py`` against the demo server; it
  must end with zero failures (exit status 1 if not).

Everything binds to 127.0.0.1; every process started here is stopped here. On 2+ cores the
measured Python process runs on CPU 0, redis-server and the load generator on CPU 1. ``--quick``
runs each step briefly (a smoke test); ``--readme`` writes the report into benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata, util
from pathlib import Path
from typing import Any

import redis

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from data import (  # noqa: E402
    BARS,
    CURRENCIES,
    CURVE_SIZES,
    EX_ID,
    EXCHANGE,
    NOW,
    ORDERS,
    PAGE,
    SYMBOL,
    TICKERS_PER_EXCHANGE,
    TIMEFRAME,
    curve_exchange,
    curve_symbol,
    load_bench_data,
    load_curve_data,
)
from harness import (  # noqa: E402
    LOAD_CPU,
    SERVER_CPU,
    App,
    Load,
    Server,
    call,
    interleaved,
    load,
    median_ratio,
    per_request,
    pin,
    pinned,
    rotation,
    sequential_gets,
    serve,
    timed,
    warm,
    wrk_version,
)
from peer_fastapi import create_peer  # noqa: E402
from reference import Reference  # noqa: E402

from fullon_cache_api import Settings, SettingsError, create_app, lifespan  # noqa: E402
from fullon_cache_api.demo.redis_server import RedisServer, find_redis_server, free_port  # noqa: E402

README = HERE / "README.md"
BASELINE = HERE / "baseline.json"
CACHE_VAR = "FULLON_CACHE_API_LOCAL_CACHE"
ALL_TICKERS = TICKERS_PER_EXCHANGE * 5
COMMAND_READS = 1000
"""Reads of one unchanged ticker (and of one exchange) whose Redis commands are counted."""

# The sides compared, in table order, and how they are named in the report.
ON, OFF, REF, PEER, STARLETTE, MEMO = "on", "off", "ref", "peer", "starlette", "memo"
SIDES = (ON, OFF, REF, PEER)
"""The sides in-process; served, two more: ``STARLETTE``, the reference's reads behind one bare
Starlette route (the reference issue 13 was measured against), and ``MEMO``, the reference
answering from memory (no Redis, no decoding or encoding), the ceiling any cache can reach
under the same server."""
LABEL = {
    ON: "app, cache on",
    OFF: "app, cache off",
    REF: "reference",
    PEER: "FastAPI peer",
    STARLETTE: "reference, one Starlette route",
    MEMO: "reference, memoized",
}


@dataclass(frozen=True)
class Endpoint:
    key: str
    name: str
    path: str
    query: str = ""

    @property
    def target(self) -> str:
        return self.path + (f"?{self.query}" if self.query else "")


TICKER = Endpoint("ticker", "one ticker", f"/tickers/{EXCHANGE}/{SYMBOL}")
EXCHANGE_TICKERS = Endpoint(
    "exchange", f"{TICKERS_PER_EXCHANGE} tickers, one exchange", f"/tickers/{EXCHANGE}"
)
BARS_1000 = Endpoint("bars", f"{BARS} OHLCV bars", f"/ohlcv/{SYMBOL}/{TIMEFRAME}", f"limit={BARS}")
ENDPOINTS = (
    TICKER,
    EXCHANGE_TICKERS,
    Endpoint("all", f"all tickers ({ALL_TICKERS})", "/tickers"),
    BARS_1000,
    Endpoint("balances", f"balances ({CURRENCIES})", f"/accounts/{EX_ID}/balances"),
    Endpoint("orders", f"orders of one exchange ({ORDERS})", f"/orders/{EXCHANGE}"),
)
CHOICE_ENDPOINTS = (TICKER, EXCHANGE_TICKERS, BARS_1000)


def app_env(cache: bool) -> dict[str, str]:
    return {CACHE_VAR: "true" if cache else "false"}


def cache_setting_known() -> bool:
    """Whether this build reads ``FULLON_CACHE_API_LOCAL_CACHE``: an invalid value then stops
    it with a message naming the variable (until the cache lands, on and off are one app)."""
    try:
        Settings.from_env({CACHE_VAR: "not-a-flag"})
    except SettingsError as exc:
        return CACHE_VAR in str(exc)
    return False


def app_settings(url: str, cache: bool) -> Settings:
    return Settings.from_env({"REDIS_URL": url, **app_env(cache)})


def pinned_clock() -> float:
    return NOW + 30


# in-process ---------------------------------------------------------------------------------------


@asynccontextmanager
async def in_process_apps(url: str) -> AsyncIterator[dict[str, App]]:
    """The four sides as ASGI apps on ``url``, clock pinned, each with its lifespan entered."""
    async with AsyncExitStack() as stack:
        apps: dict[str, App] = {}
        for side, cache in ((ON, True), (OFF, False)):
            app = create_app(app_settings(url, cache), clock=pinned_clock)
            await stack.enter_async_context(lifespan(app))
            apps[side] = app
        ref = Reference(url, pinned_clock)
        stack.push_async_callback(lambda: ref.redis.aclose())
        apps[REF] = ref
        peer_client = redis.asyncio.Redis.from_url(url)
        stack.push_async_callback(peer_client.aclose)
        apps[PEER] = create_peer(url, pinned_clock, peer_client)
        yield apps


async def same_bodies(apps: dict[str, App], path: str, query: str) -> None:
    """Every side answers 200 with the reference's body, byte for byte (clock pinned): they
    all do the same work."""
    status, body = await call(apps[REF], path, query)
    for side, app in apps.items():
        answer = await call(app, path, query)
        if status != 200 or answer != (status, body):
            raise SystemExit(
                f"{LABEL[side]} does not answer {path}?{query} like the reference: "
                f"{answer[0]} {answer[1][:200]!r} vs {status} {body[:200]!r}"
            )


def speeds(times: dict[str, list[float]], apps: tuple[str, ...]) -> dict[str, float]:
    """The app's speed against the others (> 1: the app is faster): the median over rounds of
    the other's time / the app's time, keyed ``"on/ref"``."""
    return {
        f"{a}/{o}": median_ratio(times[o], times[a])
        for a in apps
        if a in times
        for o in (REF, PEER)
        if o in times
    }


async def inprocess(url: str, seconds: float) -> list[dict[str, Any]]:
    rows = []
    async with in_process_apps(url) as apps:
        for e in ENDPOINTS:
            await same_bodies(apps, e.path, e.query)
            times = await interleaved(apps, e.path, e.query, seconds)
            us = {side: statistics.median(t) * 1e6 for side, t in times.items()}
            rows.append({"endpoint": e.name, "us": us, "speed": speeds(times, (ON, OFF))})
            print(f"  in-process {e.name}: " + ", ".join(f"{s} {us[s]:.0f} us" for s in SIDES))
    return rows


class Replay:
    """A stand-in for ``redis.asyncio.Redis`` that answers every read from memory (each reply
    read once from the real server through a sync client, then copied): the sides run their own
    code only, so their ratio is free of Redis and network noise."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.replies: dict[Any, Any] = {}

    def reply(self, name: str, *args: Any, **kwargs: Any) -> Any:
        key = (name, args, tuple(sorted(kwargs.items())))
        if key not in self.replies:
            self.replies[key] = getattr(self.client, name)(*args, **kwargs)
        found = self.replies[key]
        return found.copy() if isinstance(found, dict | list) else found

    def __getattr__(self, name: str) -> Any:  # hget, hgetall, lrange, scan, execute_command...
        async def method(*args: Any, **kwargs: Any) -> Any:
            return self.reply(name, *args, **kwargs)

        return method

    async def scan_iter(self, match: str | None = None, count: int | None = None) -> Any:
        cursor = 0
        while True:
            cursor, keys = self.reply("scan", cursor, match=match, count=count)
            for key in keys:
                yield key
            if cursor == 0:
                return

    def pipeline(self, transaction: bool = True) -> ReplayPipeline:
        return ReplayPipeline(self)

    async def aclose(self) -> None:
        pass


class ReplayPipeline:
    def __init__(self, replay: Replay) -> None:
        self.replay = replay
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:  # hgetall, execute_command...
        def queue(*args: Any, **kwargs: Any) -> ReplayPipeline:
            self.calls.append((name, args, kwargs))
            return self

        return queue

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        return [self.replay.reply(name, *args, **kwargs) for name, args, kwargs in self.calls]


async def cpu_only(url: str, seconds: float) -> list[dict[str, Any]]:
    """The in-process comparison with Redis replaced by ``Replay``: the app with its cache off
    (on, it would not read Redis after the first request anyway), the reference, the peer."""
    rows = []
    with redis.Redis.from_url(url) as client:
        replay: Any = Replay(client)
        ref = Reference(url, pinned_clock)
        ref._redis = replay
        apps: dict[str, App] = {
            OFF: create_app(app_settings(url, False), redis=replay, clock=pinned_clock),
            REF: ref,
            PEER: create_peer(url, pinned_clock, replay),
        }
        for e in ENDPOINTS:
            await same_bodies(apps, e.path, e.query)
            times = await interleaved(apps, e.path, e.query, seconds)
            us = {side: statistics.median(t) * 1e6 for side, t in times.items()}
            rows.append({"endpoint": e.name, "us": us, "speed": speeds(times, (OFF,))})
            print(f"  CPU only {e.name}: " + ", ".join(f"{s} {us[s]:.0f} us" for s in apps))
    return rows


async def cost_curve(url: str, seconds: float) -> list[dict[str, Any]]:
    """A page of ``PAGE`` items from series of each stored size, cache on and off: every
    (size, route, side) measured once per round, for about ``seconds``; the medians over the
    rounds, so a slow spell of the machine touches every size alike.

    The cost of a page is CPU time: this process's (the app, its Redis client, the driver)
    plus Redis's own execution time of the page's commands (``INFO commandstats`` around every
    batch, which also names the commands). Unlike wall time, neither counts the time another
    process held a core; wall time is kept beside them."""
    query = f"limit={PAGE}"
    cases = []
    for size in CURVE_SIZES:
        cases.append((size, "tickers", f"/tickers/{curve_exchange(size)}"))
        cases.append((size, "ohlcv", f"/ohlcv/{curve_symbol(size)}/{TIMEFRAME}"))
    samples: dict[tuple[int, str, str], dict[str, list[float]]] = {}
    commands: dict[tuple[int, str, str], dict[str, float]] = {}
    async with AsyncExitStack() as stack:
        admin = stack.enter_context(redis.Redis.from_url(url))
        apps: dict[str, App] = {}
        for side, cache in ((ON, True), (OFF, False)):
            apps[side] = create_app(app_settings(url, cache), clock=pinned_clock)
            await stack.enter_async_context(lifespan(apps[side]))
        batches = {}
        for size, kind, path in cases:
            bodies = {side: await call(app, path, query) for side, app in apps.items()}
            status, body = bodies[ON]
            items = json.loads(body).get("count")
            if status != 200 or bodies[OFF] != bodies[ON] or items != PAGE:
                raise SystemExit(f"{path}?{query}: {status}, {items} items, on == off: "
                                 f"{bodies[OFF] == bodies[ON]}")  # fmt: skip
            one = await per_request(apps[OFF], path, query, 2)
            batches[size, kind] = max(1, min(500, int(0.01 / one)))
        deadline = time.perf_counter() + seconds
        rounds = 0
        while rounds < 5 or time.perf_counter() < deadline:
            for size, kind, path in cases:
                batch = batches[size, kind]
                for side in rotation([ON, OFF], rounds):
                    before = command_usage(admin)
                    wall, cpu = await timed(apps[side], path, query, batch)
                    after = command_usage(admin)
                    found = samples.setdefault((size, kind, side), {})
                    found.setdefault("wall", []).append(wall * 1e6)
                    found.setdefault("cpu", []).append(cpu * 1e6)
                    found.setdefault("redis", []).append(usec_between(before, after) / batch)
                    calls = calls_between(before, after)
                    commands[size, kind, side] = {c: n / batch for c, n in calls.items()}
            rounds += 1
    rows = []
    for size in CURVE_SIZES:
        row: dict[str, Any] = {"items": size}
        for kind in ("tickers", "ohlcv"):
            for side in (ON, OFF):
                found = samples[size, kind, side]
                for what in ("wall", "cpu", "redis"):
                    row[f"{kind}_{side}_{what}_us"] = statistics.median(found[what])
                # the cost of a page: the median of the per-batch sums
                row[f"{kind}_{side}_us"] = statistics.median(
                    c + r for c, r in zip(found["cpu"], found["redis"], strict=True)
                )
                row[f"{kind}_{side}_commands"] = commands[size, kind, side]
        print(
            f"  curve {size}: tickers page {row['tickers_on_us']:.0f}/{row['tickers_off_us']:.0f}"
            f" us, ohlcv page {row['ohlcv_on_us']:.0f}/{row['ohlcv_off_us']:.0f} us (on/off)"
        )
        rows.append(row)
    return rows


# servers ------------------------------------------------------------------------------------------

COMMON_LOOPLESS = (
    "--host",
    "127.0.0.1",
    "--port",
    "{port}",
    "--log-level",
    "warning",
    "--workers",
    "1",
)
COMMON = (*COMMON_LOOPLESS, "--loop", "asyncio")
"""The servers' flags: one worker, asyncio's loop (the same for every side; the server-choice
step compares the loops)."""


def hypercorn_sides(url: str) -> dict[str, Server]:
    """The six sides under the API's own hypercorn configuration (``python -m
    fullon_cache_api`` and its flags; the reference and the peer reuse that configuration)."""
    env = {**os.environ, "REDIS_URL": url}
    py = sys.executable
    return {
        ON: Server(LABEL[ON], (py, "-m", "fullon_cache_api", *COMMON), {**env, **app_env(True)}),
        OFF: Server(LABEL[OFF], (py, "-m", "fullon_cache_api", *COMMON), {**env, **app_env(False)}),
        REF: Server(LABEL[REF], (py, str(HERE / "reference.py"), *COMMON), env),
        PEER: Server(LABEL[PEER], (py, str(HERE / "peer_fastapi.py"), *COMMON), env),
        STARLETTE: Server(
            LABEL[STARLETTE],
            (py, str(HERE / "reference.py"), *COMMON),
            {**env, "REFERENCE_STARLETTE": "1"},
        ),
        MEMO: Server(
            LABEL[MEMO], (py, str(HERE / "reference.py"), *COMMON), {**env, "REFERENCE_MEMO": "1"}
        ),
    }


def summarize(runs: dict[str, list[Load]]) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for side, loads in runs.items():
        cpu = [x.cpu_us for x in loads if x.cpu_us is not None]
        out[side] = {
            "rps": statistics.median(x.rps for x in loads),
            "cpu_us": statistics.median(cpu) if cpu else None,
            "p50_ms": statistics.median(x.p50_ms for x in loads),
            "p99_ms": statistics.median(x.p99_ms for x in loads),
            "errors": sum(x.errors for x in loads),
        }
    return out


def load_speeds(runs: dict[str, list[Load]], a: str, o: str) -> dict[str, float | None]:
    """Speed of ``a`` against ``o`` (> 1: ``a`` is faster), medians of the per-round ratios:
    by server CPU per request and by req/s."""
    pairs = list(zip(runs[a], runs[o], strict=True))
    cpu = [(x.cpu_us, y.cpu_us) for x, y in pairs if x.cpu_us and y.cpu_us]
    return {
        "cpu": statistics.median(y / x for x, y in cpu) if cpu else None,
        "rps": statistics.median(x.rps / y.rps for x, y in pairs),
    }


def rounds_of(
    servers: dict[str, Server],
    endpoints: tuple[Endpoint, ...],
    seconds: float,
    rounds: int,
    connections: int,
    label: str,
) -> list[tuple[Endpoint, dict[str, list[Load]]]]:
    """Every server started once; for each endpoint, ``rounds`` rounds of one load run per
    server (the order rotates every round)."""
    out = []
    with ExitStack() as stack:
        running = {}
        for side, server in servers.items():
            port = free_port()
            running[side] = (port, stack.enter_context(serve(server, port, TICKER.target)))
        for e in endpoints:
            for port, _ in running.values():
                warm(port, e.target)
            runs: dict[str, list[Load]] = {side: [] for side in servers}
            for r in range(rounds):
                for side in rotation(list(servers), r):
                    port, pid = running[side]
                    runs[side].append(load(port, e.target, seconds, connections, pid))
            summary = summarize(runs)
            print(
                f"  {label} {e.name}: "
                + ", ".join(
                    f"{side} {s['rps']:.0f} req/s {s['cpu_us'] or 0:.0f} us"
                    for side, s in summary.items()
                )
            )
            out.append((e, runs))
    return out


def server_bench(url: str, seconds: float, rounds: int, connections: int) -> list[dict[str, Any]]:
    rows = []
    for e, runs in rounds_of(hypercorn_sides(url), ENDPOINTS, seconds, rounds, connections, ""):
        others = (REF, PEER, STARLETTE, MEMO)
        speed = {f"{a}/{o}": load_speeds(runs, a, o) for a in (ON, OFF) for o in others}
        speed["on/off"] = load_speeds(runs, ON, OFF)
        sides = summarize(runs)
        rows.append({"endpoint": e.name, "path": e.target, "sides": sides, "speed": speed})
    return rows


def choice_servers(url: str, memo: bool = False) -> dict[str, Server]:
    """The app (cache on, the default) under each server and event loop installed; with
    ``memo``, the memoized reference instead (each server's own cost per request)."""
    env = {**os.environ, "REDIS_URL": url, **app_env(True), "PYTHONPATH": str(HERE)}
    if memo:
        env["REFERENCE_MEMO"] = "1"
    py = sys.executable
    target = ("reference:app",) if memo else ("--factory", "fullon_cache_api:create_app")
    hypercorn = (py, str(HERE / "reference.py")) if memo else (py, "-m", "fullon_cache_api")
    uvicorn = (py, "-m", "uvicorn", "--host", "127.0.0.1", "--port", "{port}",
               "--log-level", "warning", "--no-access-log", "--no-server-header",
               "--timeout-keep-alive", "5", "--lifespan", "on")  # fmt: skip
    granian = (str(Path(py).with_name("granian")), "--interface", "asgi",
               "--host", "127.0.0.1", "--port", "{port}", "--workers", "1",
               "--runtime-threads", "1", "--log-level", "warning", "--no-ws")  # fmt: skip
    has = {name: util.find_spec(name) is not None for name in CHOICE_PACKAGES}
    servers = {"hypercorn": (*hypercorn, *COMMON)}
    if has["uvloop"]:
        servers["hypercorn + uvloop"] = (*hypercorn, *COMMON_LOOPLESS, "--loop", "uvloop")
    if has["uvicorn"]:
        servers["uvicorn (h11)"] = (*uvicorn, "--loop", "asyncio", "--http", "h11", *target)
        if has["uvloop"] and has["httptools"]:
            servers["uvicorn + uvloop, httptools"] = (
                *uvicorn, "--loop", "uvloop", "--http", "httptools", *target
            )  # fmt: skip
    if has["granian"] and Path(granian[0]).exists():
        servers["granian"] = (*granian, "--loop", "asyncio", *target)
        if has["uvloop"]:
            servers["granian + uvloop"] = (*granian, "--loop", "uvloop", *target)
    return {name: Server(name, command, env) for name, command in servers.items()}


CHOICE_PACKAGES = ("uvloop", "uvicorn", "httptools", "granian")


def server_choice(url: str, seconds: float, rounds: int, connections: int) -> list[dict[str, Any]]:
    """The app under each server for ``CHOICE_ENDPOINTS``; then each server's own cost: the
    memoized reference answering one ticker."""
    rows = []
    for memo, endpoints in ((False, CHOICE_ENDPOINTS), (True, (TICKER,))):
        servers = choice_servers(url, memo)
        label = "choice, memoized reference" if memo else "choice"
        for e, runs in rounds_of(servers, endpoints, seconds, rounds, connections, label):
            summary = summarize(runs)
            for name in servers:
                rows.append(
                    {
                        "server": name,
                        "app": "memo" if memo else "app",
                        "endpoint": e.name,
                        **summary[name],
                        "speed": load_speeds(runs, name, "hypercorn"),
                    }
                )
    return rows


# Redis commands per request -----------------------------------------------------------------------


Usage = dict[str, tuple[int, int]]
"""Per command: (calls, µs Redis spent executing them), from ``INFO commandstats``."""


def command_usage(client: redis.Redis) -> Usage:
    stats = client.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): (int(v["calls"]), int(v["usec"]))
        for name, v in stats.items()
    }


def calls_between(before: Usage, after: Usage) -> dict[str, int]:
    """Commands sent between two snapshots, without the first snapshot's own INFO."""
    spent = {name: after[name][0] - before.get(name, (0, 0))[0] for name in after}
    spent["info"] = spent.get("info", 0) - 1
    return {name: n for name, n in sorted(spent.items()) if n}


def usec_between(before: Usage, after: Usage) -> int:
    """µs Redis spent executing commands between two snapshots, INFO aside."""
    return sum(
        usec - before.get(name, (0, 0))[1] for name, (_, usec) in after.items() if name != "info"
    )


def redis_commands(url: str, reads: int) -> list[dict[str, Any]]:
    """For the app with its cache on, then off: a fresh server (nothing else reads this Redis
    meanwhile); the commands its start cost (up to an answered ``/openapi.json``, which reads
    no Redis), then ``reads`` reads of one unchanged ticker, then of one unchanged exchange."""
    rows = []
    sides = hypercorn_sides(url)
    with redis.Redis.from_url(url) as admin:
        admin.ping()  # its own connection is opened before the first snapshot
        for side in (ON, OFF):
            port = free_port()
            before = command_usage(admin)
            with serve(sides[side], port, "/openapi.json"):
                spent = {"start": calls_between(before, after := command_usage(admin))}
                for e in (TICKER, EXCHANGE_TICKERS):
                    ok = sequential_gets(port, e.target, reads)
                    if ok != reads:
                        raise SystemExit(f"{LABEL[side]}: {reads - ok} of {reads} reads failed")
                    before, after = after, command_usage(admin)
                    spent[e.key] = calls_between(before, after)
            row = {"side": side, "reads": reads, **spent}
            print(f"  commands, {LABEL[side]}: {row}")
            rows.append(row)
    return rows


# locust -------------------------------------------------------------------------------------------


def locust_run(seconds: float, users: int) -> dict[str, Any]:
    locust = shutil.which("locust") or str(Path(sys.executable).with_name("locust"))
    if not Path(locust).exists():
        return {"skipped": "locust is not installed (pip install locust)"}
    port = free_port()
    demo = Server(
        "demo",
        (sys.executable, "-m", "fullon_cache_api", "--demo", "--port", "{port}",
         "--log-level", "warning"),
        dict(os.environ),
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, serve(demo, port, "/health"):
        prefix = str(Path(tmp) / "locust")
        command = [
            locust, "-f", str(HERE / "locustfile.py"), "--headless",
            "-u", str(users), "-r", str(users), "-t", f"{max(1, round(seconds))}s",
            "--host", f"http://127.0.0.1:{port}", "--only-summary", "--stop-timeout", "2",
            "--csv", prefix, "--loglevel", "WARNING",
        ]  # fmt: skip
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            preexec_fn=lambda: pin(0, LOAD_CPU),
        )
        with open(prefix + "_stats.csv", newline="") as f:
            total = next(row for row in csv.DictReader(f) if row["Name"] == "Aggregated")
        failures = []
        with suppress(OSError), open(prefix + "_failures.csv", newline="") as f:
            failures = [
                f"{r['Name']}: {r['Error']} ({r['Occurrences']})" for r in csv.DictReader(f)
            ]
    result = {
        "users": users,
        "seconds": seconds,
        "requests": int(total["Request Count"]),
        "failures": int(total["Failure Count"]),
        "failure_kinds": failures,
        "rps": float(total["Requests/s"]),
        "p50_ms": float(total["50%"]),
        "p99_ms": float(total["99%"]),
        "exit_code": done.returncode,
    }
    print(f"  locust: {result}")
    return result


# report -------------------------------------------------------------------------------------------


PACKAGES = ("starlette", "msgspec", "redis", "hiredis", "hypercorn", "fastapi", "pydantic",
            "uvicorn", "granian", "uvloop", "httptools", "locust")  # fmt: skip


def machine(cache_known: bool) -> dict[str, str]:
    cpu = "?"
    with suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    memory = "?"
    with suppress(OSError, StopIteration, ValueError):
        kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        )
        memory = f"{kb / 2**20:.0f} GiB"
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "-"
    redis_version = subprocess.run(
        [find_redis_server(), "--version"], capture_output=True, text=True
    ).stdout.split()[2]
    commit = subprocess.run(
        ["git", "-C", str(HERE), "describe", "--always", "--dirty"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit or "?",
        "load average before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "cpu": f"{cpu}, {os.cpu_count()} cores, {memory}",
        "os": platform.platform(),
        "python": platform.python_version(),
        "redis-server": redis_version.removeprefix("v="),
        "load generator": f"wrk {wrk_version()}" if wrk_version() else "async client (no wrk)",
        CACHE_VAR: "read by this build"
        if cache_known
        else "NOT read by this build (no cache yet: cache on = cache off)",
        **versions,
    }


def _n(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _total(calls: dict[str, int]) -> int:
    return sum(calls.values())


def _calls(calls: dict[str, int]) -> str:
    return ", ".join(f"{name.upper()} {n}" for name, n in calls.items()) or "none"


def report(results: dict[str, Any], command: str) -> list[str]:
    m = results["machine"]
    lines = [
        f"Run {m['date']} on {m['cpu']}, {m['os']}; Python {m['python']}, redis-server "
        f"{m['redis-server']}, {m['load generator']}; "
        + ", ".join(f"{k} {m[k]}" for k in PACKAGES)
        + f". Commit {m['commit']}; `{CACHE_VAR}` {m[CACHE_VAR]}. Load average before: "
        f"{m['load average before']}. Command: `{command}`.",
        "",
        "Speeds are the app's against the other side (2.00x: the app serves twice as many "
        "requests per CPU second, or per wall second for req/s), medians of per-round ratios.",
        "",
    ]
    if rows := results.get("server"):
        lines += [
            "**Served** (hypercorn, one worker each, wrk -t1 -c16 on loopback; medians of "
            f"{results['settings']['rounds']} interleaved rounds of "
            f"{results['settings']['seconds']:.0f} s per side):",
            "",
            "| endpoint | side | req/s | CPU µs/req | p50 ms | p99 ms |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for r in rows:
            for side in (*SIDES, STARLETTE, MEMO):
                s = r["sides"][side]
                lines.append(
                    f"| {r['endpoint']} | {LABEL[side]} | {s['rps']:.0f} | {_n(s['cpu_us'])} | "
                    f"{s['p50_ms']:.2f} | {s['p99_ms']:.2f} |"
                )
        errors = sum(s["errors"] for r in rows for s in r["sides"].values())
        lines += [
            "",
            f"load errors (non-2xx, socket): {errors}",
            "",
            "| endpoint | on vs ref, CPU | on vs ref, req/s | on vs peer, CPU | "
            "on vs peer, req/s | off vs ref, CPU | off vs ref, req/s | off vs peer, CPU | "
            "on vs off, CPU | on vs Starlette route, CPU | on vs memoized, CPU |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            sp = r["speed"]
            lines.append(
                f"| {r['endpoint']} | {_x(sp['on/ref']['cpu'])} | {_x(sp['on/ref']['rps'])} | "
                f"{_x(sp['on/peer']['cpu'])} | {_x(sp['on/peer']['rps'])} | "
                f"{_x(sp['off/ref']['cpu'])} | {_x(sp['off/ref']['rps'])} | "
                f"{_x(sp['off/peer']['cpu'])} | {_x(sp['on/off']['cpu'])} | "
                f"{_x(sp['on/starlette']['cpu'])} | {_x(sp['on/memo']['cpu'])} |"
            )
        lines.append("")
    if rows := results.get("inprocess"):
        lines += [
            "**In-process** (ASGI calls, no HTTP; medians of interleaved batches):",
            "",
            "| endpoint | on µs | off µs | ref µs | peer µs | on vs ref | on vs peer | "
            "off vs ref | off vs peer |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r['endpoint']} | "
            + " | ".join(f"{r['us'][s]:.0f}" for s in SIDES)
            + " | "
            + " | ".join(_x(r["speed"][k]) for k in ("on/ref", "on/peer", "off/ref", "off/peer"))
            + " |"
            for r in rows
        ]
        lines.append("")
    if rows := results.get("cpu"):
        lines += [
            "**CPU only** (in-process, Redis replies replayed from memory: the code's own cost; "
            "cache off):",
            "",
            "| endpoint | off µs | ref µs | peer µs | off vs ref | off vs peer |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r['endpoint']} | {r['us'][OFF]:.0f} | {r['us'][REF]:.0f} | "
            f"{r['us'][PEER]:.0f} | {_x(r['speed']['off/ref'])} | {_x(r['speed']['off/peer'])} |"
            for r in rows
        ]
        lines.append("")
    if rows := results.get("commands"):
        lines += [
            f"**Redis commands** (`INFO commandstats`) of {rows[0]['reads']} reads in a row of an "
            "unchanged answer, from a fresh server:",
            "",
            "| side | server start | one ticker | per read | "
            f"{TICKERS_PER_EXCHANGE} tickers, one exchange | per read |",
            "|---|---|---|---:|---|---:|",
        ]
        for r in rows:
            lines.append(
                f"| {LABEL[r['side']]} | {_calls(r['start'])} | {_calls(r['ticker'])} | "
                f"{_total(r['ticker']) / r['reads']:.3f} | {_calls(r['exchange'])} | "
                f"{_total(r['exchange']) / r['reads']:.3f} |"
            )
        lines.append("")
    if rows := results.get("choice"):
        lines += [
            "**Server choice** (one worker; same rounds as above; speed against hypercorn on "
            "asyncio, the default). The app with its cache on, then the memoized reference: "
            "what the server alone costs per request:",
            "",
            "| server | answering | req/s | CPU µs/req | p50 ms | p99 ms | vs hypercorn, CPU | "
            "vs hypercorn, req/s |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        order = [*CHOICE_NAMES]
        for r in sorted(rows, key=lambda r: (r["app"] == "memo", order.index(r["endpoint"]))):
            what = f"{r['endpoint']}, memoized reference" if r["app"] == "memo" else r["endpoint"]
            lines.append(
                f"| {r['server']} | {what} | {r['rps']:.0f} | {_n(r['cpu_us'])} | "
                f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {_x(r['speed']['cpu'])} | "
                f"{_x(r['speed']['rps'])} |"
            )
        lines.append("")
    if rows := results.get("curve"):
        for kind, route in (("tickers", "/tickers/{exchange}"), ("ohlcv", CURVE_OHLCV)):
            lines += [
                f"**Cost of a page**, `{route}?limit={PAGE}` (the first page) by stored items, "
                "in-process. Cost: CPU µs of the app's process plus Redis's own execution time "
                "of the page's commands (`INFO commandstats`); wall time beside it:",
                "",
                "| stored items | cache on µs/page | µs/item | cache off µs/page | µs/item | "
                "off: app CPU µs | off: Redis µs | off: wall µs | commands/page (off) |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
            ]
            for r in rows:
                on, off = r[f"{kind}_on_us"], r[f"{kind}_off_us"]
                parts = (r[f"{kind}_off_{k}_us"] for k in ("cpu", "redis", "wall"))
                calls = ", ".join(
                    f"{c.upper()} {n:.3g}" for c, n in r[f"{kind}_off_commands"].items()
                )
                lines.append(
                    f"| {r['items']:,} | {on:.0f} | {on / PAGE:.2f} | {off:.0f} | "
                    f"{off / PAGE:.2f} | " + " | ".join(f"{p:.0f}" for p in parts) + f" | {calls} |"
                )
            lines.append("")
    if (result := results.get("locust")) is not None:
        if "skipped" in result:
            lines.append(f"locust: skipped ({result['skipped']})")
        else:
            lines.append(
                f"**Locust** ({result['users']} users, {result['seconds']:.0f} s, the demo with "
                f"its live feeder): {result['requests']} requests, {result['failures']} failures"
                f", {result['rps']:.0f} req/s, p50 {result['p50_ms']:.0f} ms, "
                f"p99 {result['p99_ms']:.0f} ms"
            )
            lines += [f"- {kind}" for kind in result["failure_kinds"]]
        lines.append("")
    return lines


CHOICE_NAMES = {e.name: e for e in CHOICE_ENDPOINTS}
CURVE_OHLCV = "/ohlcv/{symbol}/{timeframe}"


def _arrow(values: list[float]) -> str:
    return " -> ".join(f"{v:.0f}" for v in values)


def verdict(ok: bool | None) -> str:
    return "not measured" if ok is None else ("**met**" if ok else "**MISSED**")


def targets(results: dict[str, Any], baseline: dict[str, Any] | None) -> list[str]:
    """The issues' targets, judged on this run's figures."""
    lines = []
    by_name = {r["endpoint"]: r for r in results.get("server") or []}
    cache = results["machine"][CACHE_VAR]
    note = "" if cache.startswith("read") else " (measured before the cache exists)"
    for e, goal in ((TICKER, 1.25), (EXCHANGE_TICKERS, 2.0)):
        if (r := by_name.get(e.name)) is not None:
            against = []
            for side, what in ((STARLETTE, "the issue's reference"), (REF, "the stricter floor")):
                sp = r["speed"][f"on/{side}"]
                ok = sp["cpu"] is not None and sp["cpu"] >= goal and sp["rps"] >= goal
                against.append(
                    f"against {what} ({LABEL[side]}) {_x(sp['cpu'])} and {_x(sp['rps'])}: "
                    f"{verdict(ok)}"
                )
            lines.append(
                f"- {e.name} (`{e.target}`), cache on, >= {goal:.2f}x the reference by CPU per "
                f"request and by req/s{note}: " + "; ".join(against)
            )
    if by_name:
        if baseline is None:
            lines.append("- cache off no slower than before the cache: no baseline.json")
        else:
            worst = []
            for name, r in by_name.items():
                before = baseline["off_vs_ref_cpu"].get(name)
                now = r["speed"]["off/ref"]["cpu"]
                if before and now:
                    worst.append((now / before, name, now, before))
            worst.sort()
            low = worst[0] if worst else None
            ok = None if low is None else low[0] >= 1 - BASELINE_TOLERANCE
            detail = "; ".join(f"{name} {now:.2f}x (was {was:.2f}x)" for _, name, now, was in worst)
            lines.append(
                f"- cache off no slower than before the cache (its speed against the reference, "
                f"by CPU per request, within {BASELINE_TOLERANCE:.0%} of baseline.json, "
                f"{baseline['recorded']}): {detail}: {verdict(ok)}"
            )
    if rows := results.get("commands"):
        on = next(r for r in rows if r["side"] == ON)
        total = _total(on["ticker"])
        lines.append(
            f"- {on['reads']} reads of one unchanged ticker, cache on, <= 50 Redis commands: "
            f"{total} ({_calls(on['ticker'])}){note}: {verdict(total <= 50)}"
        )
    if rows := results.get("curve"):
        for kind, route in (("tickers", "/tickers/{exchange}"), ("ohlcv", CURVE_OHLCV)):
            for side in (ON, OFF):
                costs = [r[f"{kind}_{side}_us"] for r in rows]
                app = [r[f"{kind}_{side}_cpu_us"] for r in rows]
                red = [r[f"{kind}_{side}_redis_us"] for r in rows]
                growth = max(costs) / min(costs)
                lines.append(
                    f"- a page of {PAGE} of `{route}`, cache {side}, flat from "
                    f"{rows[0]['items']:,} to {rows[-1]['items']:,} stored items (cost, largest / "
                    f"smallest <= {CURVE_FLAT:.2f}): {_arrow(costs)} µs, {growth:.2f} (the app's "
                    f"CPU {_arrow(app)} µs, {max(app) / min(app):.2f}; Redis {_arrow(red)} µs): "
                    f"{verdict(growth <= CURVE_FLAT)}"
                )
    if (result := results.get("locust")) and "skipped" not in result:
        lines.append(
            f"- locust mix on the live demo, zero failures: {result['failures']} of "
            f"{result['requests']}: {verdict(result['failures'] == 0 and not result['exit_code'])}"
        )
    return lines


BASELINE_TOLERANCE = 0.10
"""How far below the baseline the cache-off speed against the reference may land and still
count as no slower: across full runs on this machine the ratios moved by up to 5%."""
CURVE_FLAT = 1.25
"""Largest / smallest page cost over the stored sizes that still counts as flat."""


def save_baseline(results: dict[str, Any]) -> None:
    rows = results.get("server")
    if not rows:
        raise SystemExit("--save-baseline needs the server step")
    m = results["machine"]
    BASELINE.write_text(
        json.dumps(
            {
                "recorded": f"commit {m['commit']}, {m['date']}",
                "cache": m[CACHE_VAR],
                "off_vs_ref_cpu": {r["endpoint"]: r["speed"]["off/ref"]["cpu"] for r in rows},
                "off_vs_ref_rps": {r["endpoint"]: r["speed"]["off/ref"]["rps"] for r in rows},
            },
            indent=2,
        )
        + "\n"
    )
    print(f"baseline written to {BASELINE}")


MARK_START, MARK_END = "<!-- results: written by run.py --readme -->", "<!-- end of results -->"


def write_readme(text: str) -> None:
    """Replace the results between the two markers of benchmarks/README.md."""
    readme = README.read_text()
    head, start, rest = readme.partition(MARK_START)
    _, end, tail = rest.partition(MARK_END)
    if not start or not end:
        raise SystemExit(f"{README} has no {MARK_START} ... {MARK_END} section")
    README.write_text(f"{head}{MARK_START}\n{text}\n{MARK_END}{tail}")
    print(f"results written to {README}")


STEPS = ("inprocess", "cpu", "server", "choice", "commands", "curve", "locust")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--only", default=",".join(STEPS), help="comma-separated steps to run")
    parser.add_argument("--quick", action="store_true", help="short runs: a smoke test")
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds per server load run")
    parser.add_argument("--rounds", type=int, default=4, help="load runs per side and endpoint")
    parser.add_argument("--connections", type=int, default=16, help="load generator connections")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--markdown", type=Path, help="also write the report to this file")
    parser.add_argument(
        "--readme", action="store_true", help="write the report into benchmarks/README.md"
    )
    parser.add_argument(
        "--save-baseline",
        action="store_true",
        help="record this run's cache-off figures in benchmarks/baseline.json",
    )
    args = parser.parse_args(argv)
    steps = [s.strip() for s in args.only.split(",") if s.strip()]
    if unknown := set(steps) - set(STEPS):
        parser.error(f"unknown steps {sorted(unknown)}; choose from {', '.join(STEPS)}")
    seconds = 1.0 if args.quick else args.seconds
    rounds = 1 if args.quick else args.rounds
    in_seconds = 0.5 if args.quick else 4.0

    cache_known = cache_setting_known()
    if not cache_known:
        print(f"note: this build does not read {CACHE_VAR}: cache on and off are the same app")
    results: dict[str, Any] = {
        "machine": machine(cache_known),
        "settings": {"seconds": seconds, "rounds": rounds, "quick": args.quick},
    }
    started = time.monotonic()
    server = RedisServer().start()
    try:
        assert server.process is not None
        pin(server.process.pid, LOAD_CPU)
        bench_url = server.url  # db 0: the benchmark data set
        curve_url = bench_url.rsplit("/", 1)[0] + "/1"  # db 1: the cost-curve data
        with redis.Redis.from_url(bench_url) as client:
            load_bench_data(client)
        if "inprocess" in steps:
            print("in-process ASGI benchmark")
            with pinned(SERVER_CPU):
                results["inprocess"] = asyncio.run(inprocess(bench_url, in_seconds))
        if "cpu" in steps:
            print("CPU only (Redis replies replayed from memory)")
            with pinned(SERVER_CPU):
                results["cpu"] = asyncio.run(cpu_only(bench_url, in_seconds / 2))
        if "server" in steps:
            print("server benchmark (hypercorn, 1 worker each)")
            results["server"] = server_bench(bench_url, seconds, rounds, args.connections)
        if "choice" in steps:
            print("server choice (the app under each server)")
            choice_rounds = rounds if args.quick else max(2, rounds - 1)
            results["choice"] = server_choice(bench_url, seconds, choice_rounds, args.connections)
        if "commands" in steps:
            print("Redis commands per request")
            results["commands"] = redis_commands(bench_url, COMMAND_READS)
        if "curve" in steps:
            print("cost curve (loading up to 200,000 items)")
            with redis.Redis.from_url(curve_url) as client:
                load_curve_data(client)
            with pinned(SERVER_CPU):
                results["curve"] = asyncio.run(cost_curve(curve_url, 2.0 if args.quick else 16.0))
    finally:
        server.close()
    if "locust" in steps:
        print("locust against the demo server")
        results["locust"] = locust_run(5 if args.quick else 20, 10)
    results["seconds"] = time.monotonic() - started
    measured = [f"--only {args.only}"] if set(steps) != set(STEPS) else []
    measured += ["--quick"] if args.quick else []
    for flag, value, default in (
        ("--seconds", args.seconds, 1.0),
        ("--rounds", args.rounds, 4),
        ("--connections", args.connections, 16),
    ):
        measured += [f"{flag} {value:g}"] if value != default and not args.quick else []
    command = " ".join(["python benchmarks/run.py", *measured])
    baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() else None
    judged = targets(results, baseline)
    took = f"(The run took {results['seconds'] / 60:.1f} minutes.)"
    text = "\n".join([*report(results, command), "**Targets**, judged on this run:", "", *judged])
    text += f"\n\n{took}"
    print()
    print(text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=asdict))
    if args.markdown:
        args.markdown.write_text(text + "\n")
    if args.readme:
        write_readme(text)
    if args.save_baseline:
        if cache_known:  # the baseline is the app before the cache: never overwrite it after
            print(f"not writing {BASELINE}: this build has the cache (it holds the figures from "
                  "before it); delete the file first to record a new one")  # fmt: skip
            if not BASELINE.exists():
                save_baseline(results)
        else:
            save_baseline(results)
    locust = results.get("locust") or {}
    return 1 if locust.get("failures") or locust.get("exit_code") else 0


if __name__ == "__main__":
    sys.exit(main())
