"""Issue 20: the live streams, measured. Usage: ``python benchmarks/live.py [--seconds 4]``.

One ``python -m fullon_cache_api`` (one worker, local cache on, the default coalescing window)
on a private redis-server, all on 127.0.0.1. A writer sets the orders of one exchange as
fullon_cache's ``save_order_data`` does (one ``HSET order_status:bench {order id}`` each, 50
orders in turn), ``--rate`` writes a second for ``--seconds``, each order carrying the time of
its write; N listeners (1, 10, 100) follow ``/stream/orders?exchange=bench`` over raw sockets
(a process of their own that parses the events). For each N, in one run:

- events delivered a second (every listener's ``upsert`` events, summed), and the server's CPU
  time per delivered event (user + system of its process, from ``/proc``): against
  Centrifugo's published figure of about 12,500 messages a second delivered per core;
- the time from a write to its event at the client, p50 and p99 (the write's time is in the
  order; the client's clock is the writer's: same machine);
- the API's Redis read commands per write (``INFO commandstats``: every command but the
  writer's HSET and the script's INFO);
- the writer's HSET round trip, p50 and p99, against the same writes with no API at all.

Ratios are between sides of the same run. Every process it starts is stopped.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import select
import socket
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import redis
from harness import ApiProcess

from fullon_cache_api.demo.redis_server import RedisServer

EXCHANGE = "bench"
ORDERS = 50
CENTRIFUGO = 12_500  # messages a second delivered per core (Centrifugo's published figure)


class Listeners:
    """``count`` open streams of the exchange's orders, read and parsed in a process of their
    own (pinned to the API's CPU, so that their parsing never delays the writer, who shares
    CPU 1 with Redis): how many snapshots and ``upsert`` events came, and for each event the
    time from its write (in its ``price``)."""

    def __init__(self, port: int, count: int) -> None:
        context = multiprocessing.get_context("fork")
        self.snapshots = context.Value("l", 0)
        self.events = context.Value("l", 0)
        self._stop = context.Event()
        self._results, sending = context.Pipe(duplex=False)
        self.delays: list[float] = []
        self.process = context.Process(target=self._run, args=(port, count, sending))
        self.process.start()
        pin(self.process.pid or 0, 0)

    def _run(self, port: int, count: int, sending: Any) -> None:
        request = f"GET /stream/orders?exchange={EXCHANGE} HTTP/1.1\r\nHost: api\r\n\r\n"
        sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
        for sock in sockets:
            sock.sendall(request.encode())
        buffers = {sock: b"" for sock in sockets}
        delays: list[float] = []
        while not self._stop.is_set():
            ready, _, _ = select.select(sockets, [], [], 0.2)
            now = time.time()
            for sock in ready:
                with suppress(OSError):
                    data = buffers[sock] + sock.recv(1 << 18)
                    *blocks, buffers[sock] = data.split(b"\n\n")
                    for block in blocks:
                        if block.startswith(b"event: snapshot"):
                            self.snapshots.value += 1
                        elif block.startswith(b"event: upsert"):
                            self.events.value += 1
                            order = json.loads(block.rsplit(b"\ndata: ", 1)[1])
                            delays.append(now - order["price"])
        sending.send(delays)
        for sock in sockets:
            sock.close()

    def close(self) -> list[float]:
        """Stop reading (once); the delays of every event."""
        if not self._stop.is_set():
            self._stop.set()
            self.delays = self._results.recv() if self._results.poll(30) else []
            self.process.join(10)
            if self.process.is_alive():
                self.process.kill()
        return self.delays


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


READS = {"hlen", "hgetall", "hscan", "pttl", "exists", "get", "hget", "hmget", "llen", "lrange"}
"""Read commands (an orders stream's reads send HLEN, HGETALL and PTTL)."""


def commands(admin: redis.Redis) -> tuple[int, int]:
    """(read commands, every command but HSET and INFO): the API's, as the writer sends only
    HSET and this script only INFO."""
    found = admin.info("commandstats").items()
    stats = {name.removeprefix("cmdstat_"): int(s["calls"]) for name, s in found}
    reads = sum(calls for name, calls in stats.items() if name in READS)
    return reads, sum(calls for name, calls in stats.items() if name not in ("hset", "info"))


def write(admin: redis.Redis, rate: float, seconds: float) -> list[float]:
    """``rate`` HSETs a second for ``seconds``: their round trips."""
    trips = []
    count = int(rate * seconds)
    start = time.monotonic()
    for n in range(count):
        pause = start + n / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        order = {"status": "open", "volume": float(n), "price": time.time()}
        began = time.perf_counter()
        admin.hset(f"order_status:{EXCHANGE}", f"O-{n % ORDERS}", json.dumps(order))
        trips.append(time.perf_counter() - began)
    return trips


@contextmanager
def listening(port: int, count: int) -> Iterator[Listeners]:
    readers = Listeners(port, count)
    try:
        deadline = time.monotonic() + 30
        while readers.snapshots.value < count and time.monotonic() < deadline:
            time.sleep(0.05)
        yield readers
    finally:
        readers.close()


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def measure(
    admin: redis.Redis, url: str, count: int | None, args: argparse.Namespace
) -> dict[str, Any]:
    """One side: no API (``count`` None), or an API process with ``count`` listeners."""
    if count is None:
        return {"trips": write(admin, args.rate, args.seconds)}
    env = {
        "FULLON_CACHE_API_MAX_STREAMS": "1000",
        "FULLON_CACHE_API_MAX_STREAMS_PER_CLIENT": "1000",
    }
    with ApiProcess(url, env, ("--loop", "asyncio")) as api:
        pin(api.pid, 0)
        with listening(api.port, count) as readers:
            time.sleep(1)  # every snapshot read, the hub settled
            (reads, sent), cpu = commands(admin), cpu_seconds(api.pid)
            began = time.monotonic()
            trips = write(admin, args.rate, args.seconds)
            wrote = time.monotonic() - began
            seen = -1
            while seen != readers.events.value:  # until the last events came
                seen = readers.events.value
                time.sleep(0.3)
            used = cpu_seconds(api.pid) - cpu
            reads_after, sent_after = commands(admin)
            return {
                "trips": trips,
                "events": readers.events.value,
                "wrote": wrote,
                "cpu": used,
                "reads": reads_after - reads,
                "sent": sent_after - sent,
                "delays": readers.close(),
            }


def pin(pid: int, cpu: int) -> None:
    """``pid`` on one CPU, when the machine has two or more (the API on CPU 0; this script and
    Redis on the other)."""
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(pid, {cpu})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rate", type=float, default=250.0, help="writes a second")
    parser.add_argument("--listeners", default="0,1,10,100")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sides: list[int | None] = [None, *(int(n) for n in args.listeners.split(","))]

    server = RedisServer().start()
    runs: dict[int | None, list[dict[str, Any]]] = {side: [] for side in sides}
    try:
        if server.process is not None:
            pin(server.process.pid, 1)
        pin(os.getpid(), 1)
        url = f"redis://127.0.0.1:{server.port}/0"
        with redis.Redis(port=server.port) as admin:
            write(admin, args.rate, 1.0)  # the hash exists, the writer warm
            for round_ in range(args.rounds):  # sides in turn, the order rotating
                turn = round_ % len(sides)
                for side in sides[turn:] + sides[:turn]:
                    runs[side].append(measure(admin, url, side, args))
    finally:
        server.close()
    report(runs, args)


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def report(runs: dict[int | None, list[dict[str, Any]]], args: argparse.Namespace) -> None:
    def p99(run: dict[str, Any]) -> float:
        return quantile(run["trips"], 0.99)

    quiet = statistics.median(p99(run) for run in runs[None])
    idle = statistics.median(p99(run) for run in runs.get(0, runs[None]))
    print(f"{args.rate:g} writes/s for {args.seconds:g} s, {args.rounds} rounds (sides in "
          "rotating order; medians over rounds); one API process, one worker, local cache on, "
          "50 ms coalescing\n")  # fmt: skip
    print("| listeners | events/s delivered | server CPU µs/event | events/s per core "
          "(vs Centrifugo's 12,500) | write→event p50 / p99 | Redis reads per write | "
          "all API commands per write | HSET p50 / p99 | HSET p99 vs 0 listeners | "
          "vs no API |")  # fmt: skip
    print("|" + "---:|" * 10)
    for side, done in runs.items():
        p50s = statistics.median(quantile(run["trips"], 0.5) for run in done)
        p99s = statistics.median(p99(run) for run in done)
        hset = f"{p50s * 1e3:.3f} / {p99s * 1e3:.3f} ms"
        if side is None:
            print(f"| no API | | | | | | | {hset} | | 1.00x |")
            continue
        writes = statistics.median(len(run["trips"]) for run in done)
        events = [run["events"] / run["wrote"] for run in done]
        cpu = [run["cpu"] / run["events"] for run in done if run["events"]]
        delays = [d for run in done for d in run["delays"]]
        per_event = statistics.median(cpu) if cpu else 0.0
        fan_out = (  # none without events
            f"{per_event * 1e6:,.1f} | {1 / per_event:,.0f} ({1 / per_event / CENTRIFUGO:.2f}x)"
            if cpu
            else " | "
        )
        latency = (
            f"{quantile(delays, 0.5) * 1e3:.1f} / {quantile(delays, 0.99) * 1e3:.1f} ms"
            if delays
            else ""
        )
        print(
            f"| {side} | {statistics.median(events):,.0f} | "
            f"{fan_out} | "
            f"{latency} | {median_of(done, 'reads') / writes:.3f} | "
            f"{median_of(done, 'sent') / writes:.3f} | {hset} | {p99s / idle:.2f}x | "
            f"{p99s / quiet:.2f}x |"
        )


if __name__ == "__main__":
    main()
