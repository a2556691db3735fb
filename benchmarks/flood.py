"""Issue 17, finding 1: can WebSocket clients that never read stall the API?

A writer publishes ``--rate`` ticks per second over 100 symbols (``PUBLISH
ticker_updates:flood:{symbol}``, and the hash as fullon_cache writes it); ``--sockets`` sockets
each start ``--streams`` ``stream_tickers`` of the 100 symbols and never read. REST latency
(``GET /tickers/flood/{symbol}``, ``--clients`` concurrent clients) is measured in the same run
without the attack, then with it. Also reported: what the server did to the sockets
(``fullon_cache_api_clients_ended_total``), the most output buffer Redis held for the hub's
connection (``omem``), how often the hub lost its connection, the server's RSS.

Everything binds to 127.0.0.1; every process it starts is stopped; each phase lasts
``--seconds``. Usage: ``python benchmarks/flood.py [--seconds 10] [--rate 500]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import socket
import statistics
import threading
import time

import httpx
import redis
from harness import ApiProcess, ws_frame, ws_open

from fullon_cache_api.demo.redis_server import RedisServer

SYMBOLS = [f"S{i}/USDT" for i in range(100)]


def metrics(base: str) -> dict[str, float]:
    text = httpx.get(base + "/metrics", timeout=30).text
    found = {}
    for line in text.splitlines():
        if line.startswith("fullon_cache_api_clients_ended_total") and not line.endswith(" 0.0"):
            head, _, value = line.rpartition(" ")
            found[head.removeprefix("fullon_cache_api_clients_ended_total")] = float(value)
    return found


def cpu_s(pid: int) -> float:
    """CPU seconds (user and system) the process has used."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        return int(re.search(r"VmRSS:\s+(\d+)", status.read()).group(1)) / 1024  # type: ignore[union-attr]


class Writer(multiprocessing.Process):
    """``rate`` ticks per second, round robin over the symbols, until stopped: a process of its
    own, so that it shares no interpreter lock with the clients that measure."""

    def __init__(self, port: int, rate: int) -> None:
        super().__init__(daemon=True)
        self.port, self.rate = port, rate
        self.stop = multiprocessing.Event()
        self.count = multiprocessing.Value("l", 0)

    @property
    def published(self) -> int:
        return int(self.count.value)

    def run(self) -> None:
        with redis.Redis(port=self.port) as client:
            start, i = time.monotonic(), 0
            while not self.stop.is_set():
                tick = json.dumps({"price": float(i), "bid": 1.0, "ask": 2.0, "volume": 3.0,
                                   "time": time.time()})  # fmt: skip
                symbol = SYMBOLS[i % len(SYMBOLS)]
                pipe = client.pipeline(transaction=False)
                pipe.hset("tickers:flood", symbol, tick)
                pipe.publish(f"ticker_updates:flood:{symbol}", tick)
                pipe.execute()
                self.count.value += 1
                i += 1
                delay = start + i / self.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)


class Omem(threading.Thread):
    """The most output buffer memory Redis held for a pub/sub connection, sampled."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.most = 0
        self.ids: set[str] = set()

    def run(self) -> None:
        with redis.Redis(port=self.port) as client:
            while not self.stop.is_set():
                for c in client.client_list():
                    if int(c["psub"]) or int(c["sub"]):
                        self.most = max(self.most, int(c["omem"]))
                        self.ids.add(str(c["id"]))
                time.sleep(0.05)


async def rest_latencies(base: str, seconds: float, clients: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    end = time.monotonic() + seconds

    async def one(n: int) -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            i = n
            while time.monotonic() < end:
                started = time.perf_counter()
                try:
                    response = await http.get(f"/tickers/flood/{SYMBOLS[i % len(SYMBOLS)]}")
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append((time.perf_counter() - started) * 1000)
                errors += not ok
                i += clients

    await asyncio.gather(*(one(n) for n in range(clients)))
    return latencies, errors


def summary(latencies: list[float], errors: int) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")
    p50 = statistics.median(ordered) if ordered else float("nan")
    return f"{len(ordered)} requests, {errors} failed, p50 {p50:.1f} ms, p99 {p99:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--sockets", type=int, default=4)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of attack unmeasured")
    parser.add_argument("--send-timeout", type=float, help="FULLON_CACHE_API_CLIENT_SEND_TIMEOUT")
    args = parser.parse_args()

    server = RedisServer().start()
    env = {}
    if args.send_timeout is not None:
        env["FULLON_CACHE_API_CLIENT_SEND_TIMEOUT"] = str(args.send_timeout)
    api = ApiProcess(f"redis://127.0.0.1:{server.port}/0", env)
    port, base = api.port, api.base
    sockets: list[socket.socket] = []
    writer = Writer(server.port, args.rate)
    omem = Omem(server.port)
    try:
        writer.start()
        omem.start()
        time.sleep(1)
        cpu = cpu_s(api.pid)
        quiet = asyncio.run(rest_latencies(base, args.seconds, args.clients))
        rss_quiet, cpu_quiet = rss_mb(api.pid), (cpu_s(api.pid) - cpu) / args.seconds
        for n in range(args.sockets):
            sock = ws_open(port, f"/ws/tickers/flood{n}", rcvbuf=65536)
            for i in range(args.streams):
                params = {"exchange": "flood", "symbols": SYMBOLS}
                sock.sendall(
                    ws_frame({"action": "stream_tickers", "request_id": i, "params": params})
                )
            sockets.append(sock)
        time.sleep(args.warmup)  # the streams' first snapshots and the sockets' buffers filling
        cpu = cpu_s(api.pid)
        attacked = asyncio.run(rest_latencies(base, args.seconds, args.clients))
        rss_attacked, cpu_attacked = rss_mb(api.pid), (cpu_s(api.pid) - cpu) / args.seconds
        ended = metrics(base)
    finally:
        writer.stop.set()
        if writer.is_alive():
            writer.join(10)
        omem.stop.set()
        for sock in sockets:
            sock.close()
        log = api.output()
        api.stop()
        server.close()
    print(f"writer: {writer.published} ticks in {2 * args.seconds + 1 + args.warmup:.0f} s "
          f"({args.rate}/s asked); {args.sockets} sockets x {args.streams} streams x "
          f"{len(SYMBOLS)} symbols, never reading")  # fmt: skip
    print(
        f"REST without the attack: {summary(*quiet)}; server RSS {rss_quiet:.0f} MB, "
        f"CPU {cpu_quiet:.0%}"
    )
    print(
        f"REST with the attack:    {summary(*attacked)}; server RSS {rss_attacked:.0f} MB, "
        f"CPU {cpu_attacked:.0%}"
    )
    print(f"clients ended: {ended or 'none'}")
    print(f"hub connections seen: {len(omem.ids)}; most output buffer Redis held for it: "
          f"{omem.most / 1024:.0f} KiB")  # fmt: skip
    print(f"hub connection losses logged: {log.count('stream hub connection lost')}")


if __name__ == "__main__":
    main()
