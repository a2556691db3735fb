"""WebSocket benchmarks: ``python benchmarks/ws.py`` (about a minute; ``--quick``: half that).

``python -m fullon_cache_api`` (hypercorn, one worker, on CPU 0) serves the benchmark data
(``data.py``) from a private redis-server; this process is the client (CPU 1, with Redis).

1. idle sockets (a fresh server): its resident memory (VmRSS) with 0 and with 1000 open, idle
   ``/ws/tickers/{id}`` sockets, per socket; and the Redis commands the API sends per second
   while they are open (none is expected: an idle socket reads nothing). The floor: the same
   for ``floor`` below, a bare ASGI WebSocket under the same hypercorn configuration (what the
   server itself keeps per socket);
2. streams (a fresh server per kind, so that memory freed by a step before does not hide what
   streams take): 1 and then 100 sockets follow the same ticker (``stream_tickers``) while a
   writer sets it as fullon_cache does (HSET, SET, PUBLISH) 50 times a second; 1 and then 100
   sockets follow the same order count (``stream_order_queue``, a polled stream) while an
   order is added every second. Reported: the API's Redis commands per second (everything
   but the writer's HSET/SET/PUBLISH and this script's INFO), the server's memory per
   streaming socket (with 100), and the updates each socket got. Redis work must not grow
   with sockets;
3. round trips (on the ticker streams' server): ``get_ticker`` over one socket against
   ``GET /tickers/{exchange}/{symbol}`` over one keep-alive HTTP connection, one request in
   flight, alternating rounds in the same run: round trips per second and the server's CPU
   time per request (medians of the rounds).

Everything binds to 127.0.0.1, every process started here is stopped here, every step is
bounded in time. ``--json out.json`` keeps the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from websockets.asyncio.client import ClientConnection, connect

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from data import EXCHANGE, SYMBOL, load_bench_data  # noqa: E402
from harness import serve_like_the_api  # noqa: E402
from run import LOAD_CPU, cpu_seconds, machine, pin, pinned, serve  # noqa: E402

from fullon_cache_api.demo.redis_server import RedisServer, free_port  # noqa: E402

IDLE_SOCKETS = 1000
STREAMING_SOCKETS = (1, 100)
WRITES_PER_S = 50
WRITER_COMMANDS = {"hset", "set", "publish", "info"}  # the writer's and this script's own
TICKER = {"exchange": EXCHANGE, "symbol": SYMBOL}


async def floor(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The floor of memory per socket: a WebSocket that is accepted and read until it closes,
    nothing else (and a 200 for the start-up probe)."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
    elif scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})
    else:
        await receive()
        await send({"type": "websocket.accept"})
        while (await receive())["type"] != "websocket.disconnect":
            pass


def serve_floor(port: int) -> int:
    """``floor`` under the API's own hypercorn configuration (one worker, in this process)."""
    return serve_like_the_api(floor, ["--port", str(port), "--log-level", "warning"])


def rss_kib(pid: int) -> int:
    """The resident memory of a process, KiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def api_commands(admin: redis.Redis) -> int:
    """Calls of every command but the writer's and INFO so far: what the API sent."""
    stats: dict[str, Any] = admin.info("commandstats")
    return sum(
        value["calls"]
        for name, value in stats.items()
        if name.removeprefix("cmdstat_") not in WRITER_COMMANDS
    )


async def open_sockets(base: str, count: int, path: str) -> list[ClientConnection]:
    """``count`` sockets, at most 50 handshakes at a time (the listen backlog is 100)."""
    gate = asyncio.Semaphore(50)

    async def one(index: int) -> ClientConnection:
        async with gate:
            return await connect(
                f"{base}{path}{index}", compression=None, ping_interval=None, max_queue=None
            )

    return list(await asyncio.gather(*(one(i) for i in range(count))))


async def close_all(sockets: list[ClientConnection]) -> None:
    await asyncio.gather(*(ws.close() for ws in sockets))


async def ask(ws: ClientConnection, action: str, params: dict[str, Any], rid: str) -> Any:
    await ws.send(json.dumps({"action": action, "request_id": rid, "params": params}))
    return json.loads(await ws.recv())


async def commands_per_s(admin: redis.Redis, seconds: float) -> float:
    before = api_commands(admin)
    await asyncio.sleep(seconds)
    return (api_commands(admin) - before) / seconds


async def settle_memory(pid: int) -> int:
    """The server's RSS once it stops moving (sockets opened or closed are settled)."""
    last = rss_kib(pid)
    for _ in range(20):
        await asyncio.sleep(0.25)
        now = rss_kib(pid)
        if abs(now - last) < 64:
            return now
        last = now
    return last


async def idle_memory(base: str, pid: int) -> tuple[int, int, list[ClientConnection]]:
    """The server's RSS before and with IDLE_SOCKETS open sockets (kept open)."""
    warm = await open_sockets(base, 10, "/ws/tickers/warm")  # first use: imports, pools
    await close_all(warm)
    empty = await settle_memory(pid)
    sockets = await open_sockets(base, IDLE_SOCKETS, "/ws/tickers/idle")
    return empty, await settle_memory(pid), sockets


async def idle(base: str, pid: int, admin: redis.Redis, seconds: float) -> dict[str, Any]:
    empty, full, sockets = await idle_memory(base, pid)
    rate = await commands_per_s(admin, seconds)
    alive = await ask(sockets[-1], "get_ticker", TICKER, "alive")
    assert alive["success"] is True, alive
    await close_all(sockets)
    return {
        "sockets": IDLE_SOCKETS,
        "rss_empty_kib": empty,
        "rss_full_kib": full,
        "kib_per_socket": (full - empty) / IDLE_SOCKETS,
        "api_commands_per_s": rate,
    }


async def idle_floor(base: str, pid: int) -> float:
    empty, full, sockets = await idle_memory(base, pid)
    await close_all(sockets)
    return (full - empty) / IDLE_SOCKETS


async def write_ticks(admin: redis.Redis, seconds: float) -> int:
    """Set the ticker as fullon_cache's set_ticker does, WRITES_PER_S times a second."""
    writes = int(seconds * WRITES_PER_S)
    for index in range(writes):
        tick = json.dumps({"symbol": SYMBOL, "price": 1000.0 + index, "time": time.time()})
        pipe = admin.pipeline(transaction=False)
        pipe.hset(f"tickers:{EXCHANGE}", SYMBOL, tick)
        pipe.set(f"ticker_time:{EXCHANGE}:{SYMBOL}", repr(time.time()))
        pipe.publish(f"ticker_updates:{EXCHANGE}:{SYMBOL}", tick)
        pipe.execute()
        await asyncio.sleep(1 / WRITES_PER_S)
    return writes


async def add_orders(admin: redis.Redis, seconds: float) -> int:
    """One new order a second, as fullon_cache's save_order_data writes it."""
    writes = int(seconds)
    for _ in range(writes):
        await asyncio.sleep(1)
        order_id = f"BENCH-{time.monotonic_ns()}"
        order = {"order_id": order_id, "symbol": SYMBOL, "status": "open", "volume": 1.0}
        admin.hset(f"order_status:{EXCHANGE}", order_id, json.dumps(order))
    return writes


async def count_updates(ws: ClientConnection, done: asyncio.Event) -> int:
    updates = 0
    while not done.is_set():
        try:
            async with asyncio.timeout(0.5):
                frame = json.loads(await ws.recv())
        except TimeoutError:
            continue
        updates += frame.get("action", "").endswith("_update")
    return updates


async def streaming(
    base: str, pid: int, admin: redis.Redis, sockets: int, seconds: float, polled: bool
) -> dict[str, Any]:
    before = await settle_memory(pid)
    group = await open_sockets(base, sockets, "/ws/orders/s" if polled else "/ws/tickers/s")
    action, params = (
        ("stream_order_queue", {"exchange": EXCHANGE})
        if polled
        else ("stream_tickers", {"exchange": EXCHANGE, "symbols": [SYMBOL]})
    )
    for index, ws in enumerate(group):
        started = await ask(ws, action, params, f"s{index}")
        assert started["success"] is True, started
        await ws.recv()  # the current state
    done = asyncio.Event()
    counters = [asyncio.create_task(count_updates(ws, done)) for ws in group]
    start = api_commands(admin)
    began = time.monotonic()
    writes = await (add_orders if polled else write_ticks)(admin, seconds)
    elapsed = time.monotonic() - began
    rate = (api_commands(admin) - start) / elapsed
    await asyncio.sleep(1.0)  # the last updates on their way (two poll intervals)
    memory = rss_kib(pid)
    done.set()
    received = await asyncio.gather(*counters)
    await close_all(group)
    return {
        "stream": action,
        "sockets": sockets,
        "writes": writes,
        "updates_min": min(received),
        "updates_max": max(received),
        "api_commands_per_s": rate,
        "kib_per_socket": (memory - before) / sockets,
    }


async def rounds_of(fn: Callable[[], Awaitable[int]], seconds: float) -> int:
    end = time.monotonic() + seconds
    count = 0
    while time.monotonic() < end:
        count += await fn()
    return count


async def round_trips(port: int, pid: int, seconds: float, rounds: int) -> dict[str, Any]:
    """get_ticker over one socket against GET /tickers/{exchange}/{symbol}, one at a time."""
    rest = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    path = f"/tickers/{EXCHANGE}/{SYMBOL}"
    frame = json.dumps({"action": "get_ticker", "request_id": "r", "params": TICKER})
    async with connect(
        f"ws://127.0.0.1:{port}/ws/tickers/bench", compression=None, ping_interval=None
    ) as ws:

        async def over_socket() -> int:
            for _ in range(100):
                await ws.send(frame)
                await ws.recv()
            return 100

        async def over_http() -> int:
            for _ in range(100):
                rest.request("GET", path)
                response = rest.getresponse()
                response.read()
                assert response.status == 200
            return 100

        figures: dict[str, list[tuple[float, float]]] = {"ws": [], "rest": []}
        for index in range(rounds):
            order = ("ws", "rest") if index % 2 == 0 else ("rest", "ws")
            for kind in order:
                rest.close()  # a fresh connection each round: the server closes idle ones
                cpu = cpu_seconds(pid) or 0.0
                began = time.monotonic()
                done = await rounds_of(over_socket if kind == "ws" else over_http, seconds)
                elapsed = time.monotonic() - began
                used = (cpu_seconds(pid) or 0.0) - cpu
                figures[kind].append((done / elapsed, used / done * 1e6))
    rest.close()
    ws_rps = statistics.median(f[0] for f in figures["ws"])
    rest_rps = statistics.median(f[0] for f in figures["rest"])
    ws_cpu = statistics.median(f[1] for f in figures["ws"])
    rest_cpu = statistics.median(f[1] for f in figures["rest"])
    return {
        "ws_per_s": ws_rps,
        "rest_per_s": rest_rps,
        "ws_cpu_us": ws_cpu,
        "rest_cpu_us": rest_cpu,
        "ws_over_rest": ws_rps / rest_rps,
        "rounds": rounds,
        "seconds": seconds,
    }


def report(results: dict[str, Any]) -> str:
    lines = ["machine: " + ", ".join(f"{k} {v}" for k, v in results["machine"].items()), ""]
    i = results["idle"]
    lines += [
        "| idle sockets | server RSS before | with them | per socket | floor per socket | "
        "API Redis commands/s |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {i['sockets']} | {i['rss_empty_kib'] / 1024:.1f} MiB | "
        f"{i['rss_full_kib'] / 1024:.1f} MiB | {i['kib_per_socket']:.1f} KiB | "
        f"{i['floor_kib_per_socket']:.1f} KiB | {i['api_commands_per_s']:.1f} |",
        "",
        "| stream | sockets | writes | updates per socket (min-max) | "
        "API Redis commands/s | server RSS per socket |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {s['stream']} | {s['sockets']} | {s['writes']} | "
        f"{s['updates_min']}-{s['updates_max']} | {s['api_commands_per_s']:.1f} | "
        + (f"{s['kib_per_socket']:.1f} KiB |" if s["sockets"] > 1 else "- |")
        for s in results["streams"]
    ]
    r = results["round_trips"]
    lines += [
        "",
        "| one request in flight | per second | server CPU µs per request |",
        "|---|---:|---:|",
        f"| get_ticker over one WebSocket | {r['ws_per_s']:.0f} | {r['ws_cpu_us']:.0f} |",
        f"| GET /tickers/{{exchange}}/{{symbol}}, one keep-alive connection | "
        f"{r['rest_per_s']:.0f} | {r['rest_cpu_us']:.0f} |",
        "",
        f"WebSocket/REST round trips per second: {r['ws_over_rest']:.2f} "
        f"(medians of {r['rounds']} alternating rounds of {r['seconds']:.0f} s each)",
    ]
    return "\n".join(lines)


async def streams_of(
    port: int, pid: int, admin: redis.Redis, polled: bool, quick: bool
) -> list[dict[str, Any]]:
    base = f"ws://127.0.0.1:{port}"
    window = 2.0 if quick else 4.0
    return [
        await streaming(base, pid, admin, sockets, window, polled) for sockets in STREAMING_SOCKETS
    ]


@contextmanager
def api_server(env: dict[str, str]) -> Iterator[tuple[int, int]]:
    """``python -m fullon_cache_api`` on a free loopback port: (port, pid)."""
    port = free_port()
    command = [sys.executable, "-m", "fullon_cache_api", "--port", str(port)]
    command += ["--host", "127.0.0.1", "--log-level", "warning"]
    with serve(command, env, port, "/health") as pid:
        yield port, pid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="short runs: a smoke test")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--serve-floor", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_floor:  # the floor's server process, started by the run below
        return serve_floor(args.serve_floor)
    results: dict[str, Any] = {"machine": machine()}
    for unused in ("load generator", "locust"):  # run.py's tools, not used here
        results["machine"].pop(unused, None)
    server = RedisServer().start()
    try:
        assert server.process is not None
        pin(server.process.pid, LOAD_CPU)
        with redis.Redis.from_url(server.url) as admin:
            load_bench_data(admin)
            env = {
                **os.environ,
                "REDIS_URL": server.url,
                "FULLON_CACHE_API_WS_MAX_SOCKETS": str(IDLE_SOCKETS + 100),
            }
            window = 1.0 if args.quick else 3.0
            with api_server(env) as (port, pid), pinned(LOAD_CPU):
                print(f"{IDLE_SOCKETS} idle sockets")
                results["idle"] = asyncio.run(idle(f"ws://127.0.0.1:{port}", pid, admin, window))
            port = free_port()
            command = [sys.executable, __file__, "--serve-floor", str(port)]
            with serve(command, env, port, "/") as pid, pinned(LOAD_CPU):
                print(f"{IDLE_SOCKETS} idle sockets, the floor")
                floor_kib = asyncio.run(idle_floor(f"ws://127.0.0.1:{port}", pid))
                results["idle"]["floor_kib_per_socket"] = floor_kib
            with api_server(env) as (port, pid), pinned(LOAD_CPU):
                print("ticker streams, round trips")
                results["streams"] = asyncio.run(streams_of(port, pid, admin, False, args.quick))
                trips = round_trips(port, pid, 1.0 if args.quick else 3.0, 2 if args.quick else 4)
                results["round_trips"] = asyncio.run(trips)
            with api_server(env) as (port, pid), pinned(LOAD_CPU):
                print("polled streams")
                results["streams"] += asyncio.run(streams_of(port, pid, admin, True, args.quick))
    finally:
        server.close()
    print()
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
