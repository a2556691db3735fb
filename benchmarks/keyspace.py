"""Issue 17, findings 3 and 4: what a big keyspace costs, and how soon SWAPDB is seen.

On a private redis-server holding the sample data and ``--others`` keys of no family:

1. A writer loops ``HSET tickers:bench`` (one round trip each) and its latency is measured, with
   no API client (``quiet``), then while ``--clients`` clients loop distinct listings through
   the API (``loaded``): per-user trade lists of random uids, timeframes of absent symbols (404),
   order queues, exchanges. Same run, alternating phases, ``--rounds`` of each. Reported: the
   writer's p50/p99 in each phase and their ratio, the SCAN calls Redis ran meanwhile (the key
   index's walks only), and the API's requests answered.
2. SWAPDB: the API reads db 1; a ticker holds price 1 there and 3 in db 3; after ``SWAPDB 1 3``
   (no write to the key) a client polls the ticker: the time until it is served 3, ``--swaps``
   times.

Redis and the writer share one CPU, the API and the clients the other (on 2+ cores), so the
writer's latency shows what Redis does, not the machine's contention. Everything binds to
127.0.0.1; every process it starts is stopped. Usage:
``python benchmarks/keyspace.py [--others 300000] [--seconds 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import redis
from harness import LOAD_CPU, SERVER_CPU, ApiProcess, pin, pinned

from fullon_cache_api.demo.redis_server import READ_ONLY_ACL, RedisServer
from fullon_cache_api.demo.snapshot import load_snapshot, sample_snapshot

READER, PASSWORD = "bench_reader", "bench-reader-password"


def writer_latencies(port: int, seconds: float, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """HSET in a loop for ``seconds``: each round trip's latency (a process of its own, on
    Redis's CPU: the clients and the API have the other)."""
    pin(os.getpid(), LOAD_CPU)
    with redis.Redis(port=port) as admin:
        latencies = []
        end = time.perf_counter() + seconds
        n = 0
        while time.perf_counter() < end:
            start = time.perf_counter()
            admin.hset("tickers:bench", f"S{n % 100}/USDT", '{"price": 1.0}')
            latencies.append(time.perf_counter() - start)
            n += 1
            time.sleep(0.001)
        out.put(latencies)


@contextmanager
def writer(port: int, seconds: float) -> Iterator[list[float]]:
    """The writer runs in a process of its own while the block runs; its latencies after."""
    queue: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    process = multiprocessing.Process(target=writer_latencies, args=(port, seconds, queue))
    process.start()
    latencies: list[float] = []
    yield latencies
    latencies += queue.get()
    process.join()


async def loop_listings(base: str, seconds: float, clients: int) -> int:
    """``clients`` clients looping distinct listings for ``seconds``: requests answered."""
    answered = 0
    end = time.monotonic() + seconds

    async def client(rng: random.Random) -> None:
        nonlocal answered
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            while time.monotonic() < end:
                uid = rng.randrange(10**9)
                for path in (f"/trades/users/{uid}", f"/ohlcv/NOPE{uid}/USDT/timeframes",
                             "/orders/queues", "/exchanges"):  # fmt: skip
                    await http.get(path)
                    answered += 1

    await asyncio.gather(*(client(random.Random(i)) for i in range(clients)))
    return answered


def scans(admin: redis.Redis) -> int:
    return int(admin.info("commandstats").get("cmdstat_scan", {}).get("calls", 0))


@contextmanager
def api(url: str) -> Iterator[str]:
    """The API served on ``url`` (on its own CPU), its key index built (a first listing
    answered)."""
    with ApiProcess(url) as served:
        pin(served.pid, SERVER_CPU)
        httpx.get(served.base + "/orders/queues", timeout=60).raise_for_status()
        yield served.base


def p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--others", type=int, default=300_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--swaps", type=int, default=5)
    args = parser.parse_args()

    server = RedisServer().start()
    assert server.process is not None
    pin(server.process.pid, LOAD_CPU)  # Redis and the writer on one CPU, the API on the other
    try:
        with redis.Redis(port=server.port) as admin:
            admin.execute_command("ACL", "SETUSER", READER, *READ_ONLY_ACL.split(), f">{PASSWORD}")
            load_snapshot(admin, sample_snapshot())
            for start in range(0, args.others, 10_000):
                admin.mset({f"unrelated:{i}": "x" for i in range(start, start + 10_000)})
            url = f"redis://{READER}:{PASSWORD}@127.0.0.1:{server.port}"
            quiet: list[float] = []
            loaded: list[float] = []
            answered = scanned = 0
            with api(url + "/0") as base:
                for _ in range(args.rounds):
                    with writer(server.port, args.seconds) as latencies:
                        pass
                    quiet += latencies
                    before = scans(admin)
                    with writer(server.port, args.seconds) as latencies, pinned(SERVER_CPU):
                        answered += asyncio.run(loop_listings(base, args.seconds, args.clients))
                    loaded += latencies
                    scanned += scans(admin) - before
            print(f"{args.others} keys of no family; writer HSET latency, {args.rounds} x "
                  f"{args.seconds:.0f} s per phase:")  # fmt: skip
            print(f"  quiet:  p50 {p(quiet, 50):.3f} ms, p99 {p(quiet, 99):.3f} ms")
            print(
                f"  loaded: p50 {p(loaded, 50):.3f} ms, p99 {p(loaded, 99):.3f} ms "
                f"({args.clients} clients looping distinct listings: {answered} answered)"
            )
            print(f"  p99 ratio loaded/quiet: {p(loaded, 99) / p(quiet, 99):.2f}x; SCAN calls "
                  f"while loaded: {scanned} (the index's verification walks only)")  # fmt: skip

            seen = []
            db1, db3 = redis.Redis(port=server.port, db=1), redis.Redis(port=server.port, db=3)
            with api(url + "/1") as base, httpx.Client(base_url=base, timeout=10) as http:
                for n in range(args.swaps):
                    old, new = (1.0, 3.0) if n % 2 == 0 else (3.0, 1.0)
                    db1.hset("tickers:swap", "BTC/USDT", json.dumps({"price": old}))
                    db3.hset("tickers:swap", "BTC/USDT", json.dumps({"price": new}))
                    for _ in range(3):  # read: the local cache keeps it
                        http.get("/tickers/swap/BTC/USDT")
                    admin.swapdb(1, 3)
                    swapped = time.perf_counter()
                    while http.get("/tickers/swap/BTC/USDT").json().get("price") != new:
                        time.sleep(0.005)
                    seen.append(time.perf_counter() - swapped)
                    db1.flushdb()
                    db3.flushdb()
            print(f"SWAPDB of the API's db, new value served after: "
                  f"{', '.join(f'{s:.2f}' for s in seen)} s (max {max(seen):.2f} s)")  # fmt: skip
    finally:
        server.close()


if __name__ == "__main__":
    main()
