"""Issue 17, finding 5: what the API's presence costs the writers, in Redis CPU per write.

A writer does ``--ticks`` ticks as fullon_cache writes them (one pipeline each: ``HSET
tickers:bench {symbol}``, ``SET ticker_time:bench:{symbol}``, ``PUBLISH
ticker_updates:bench:{symbol}``, over 100 symbols) against a private redis-server, and the
Redis CPU of the run (``INFO cpu``: user + sys) is divided by the ticks. Sides, measured in the
same run, in rotating order, ``--rounds`` times each:

- ``none``: no API;
- ``api-1``, ``api-4``: ``python -m fullon_cache_api`` with 1 and 4 workers (the defaults: local
  cache on, ticker streams fed by tracked reads), with ``--streams`` ``/stream/tickers``
  streams open and read;
- ``api-1-published``: 1 worker, ``FULLON_CACHE_API_TICKER_FEED=published`` (every stream
  follows the publications), the same streams;
- ``api-1-nocache``: 1 worker, ``FULLON_CACHE_API_LOCAL_CACHE=false`` (so published too);
- ``tracking-default``, ``tracking-bcast-1``, ``tracking-bcast-api``: no API, one connection
  that turns ``CLIENT TRACKING`` on as the API's connections do (redirected to a subscribed
  one): default mode (what the local cache's reads run), broadcast with one prefix, broadcast
  with ``BROADCAST_PREFIXES`` (what each API process's hub ran before 0.3.0's default-mode
  tracking: every tracked family but tickers). What tracking alone costs Redis per write,
  whoever reads.

``--sides`` picks some (``none`` is always measured).

Each side also reports the ticker events its streams received (all streams together), so that
a cheap side is seen to deliver.

On 2+ cores Redis and the writer share one CPU, the API and the streams' reader the other: the
writer keeps Redis's CPU awake between its ticks whatever the side (an idle core's wake-ups
cost Redis more CPU per tick when nothing else runs, which made no API look the dearest), and
the API never takes Redis's core.

Each side's median is given as a ratio to ``none``'s. Everything binds to 127.0.0.1; every
process it starts is stopped. Usage: ``python benchmarks/writer_cost.py [--ticks 10000]``.
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import NamedTuple

import httpx
import redis
from harness import LOAD_CPU, SERVER_CPU, ApiProcess, pin, pinned

from fullon_cache_api import keys
from fullon_cache_api.demo.redis_server import RedisServer

SYMBOLS = [f"S{i}/USDT" for i in range(100)]


class Tracking(NamedTuple):
    bcast: tuple[str, ...] | None
    """Broadcast prefixes, or None: default mode."""


BROADCAST_PREFIXES = tuple(p for p in keys.TRACKED_PREFIXES if p != keys.TICKERS.key)
"""The prefixes each API process's hub tracked in broadcast mode before default mode."""

SIDES: dict[str, tuple[str, dict[str, str]] | Tracking | None] = {
    "none": None,
    "api-1": ("1", {}),
    "api-4": ("4", {}),
    "api-1-published": ("1", {"FULLON_CACHE_API_TICKER_FEED": "published"}),
    "api-1-nocache": ("1", {"FULLON_CACHE_API_LOCAL_CACHE": "false"}),
    "tracking-default": Tracking(None),
    "tracking-bcast-1": Tracking(BROADCAST_PREFIXES[:1]),
    "tracking-bcast-api": Tracking(BROADCAST_PREFIXES),
}


def redis_cpu(admin: redis.Redis) -> float:
    info = admin.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def output_bytes(admin: redis.Redis) -> int:
    return int(admin.info("stats")["total_net_output_bytes"])


def write_ticks(admin: redis.Redis, ticks: int) -> tuple[float, int]:
    """Redis CPU seconds spent over ``ticks`` writes of a tick (after a second's rest: what a
    side started or stopped before has settled), and the bytes Redis sent meanwhile (to the
    writer, and to the API: its reports, publications and reads)."""
    time.sleep(1)
    start, sent = redis_cpu(admin), output_bytes(admin)
    for n in range(ticks):
        symbol = SYMBOLS[n % len(SYMBOLS)]
        tick = json.dumps({"symbol": symbol, "exchange": "bench", "price": 100.0 + n % 7,
                           "time": time.time()})  # fmt: skip
        pipe = admin.pipeline(transaction=False)
        pipe.hset("tickers:bench", symbol, tick)
        pipe.set(f"ticker_time:bench:{symbol}", repr(time.time()))
        pipe.publish(f"ticker_updates:bench:{symbol}", tick)
        pipe.execute()
    return redis_cpu(admin) - start, output_bytes(admin) - sent


class Streams(threading.Thread):
    """``count`` open /stream/tickers connections, read until stopped."""

    def __init__(self, port: int, count: int) -> None:
        super().__init__(daemon=True)
        self.sockets = []
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"GET /stream/tickers?exchange=bench HTTP/1.1\r\nHost: api\r\n\r\n")
            self.sockets.append(sock)
        self.stop = threading.Event()
        self.events = 0
        """``event: ticker`` lines received (a line split across two reads is missed)."""

    def run(self) -> None:
        pin(0, SERVER_CPU)  # this thread, beside the API
        while not self.stop.is_set():  # waits for data (never spins: it shares the writer's GIL)
            if not self.sockets:
                self.stop.wait(0.2)
                continue
            ready, _, _ = select.select(self.sockets, [], [], 0.2)
            for sock in ready:
                with suppress(OSError):
                    self.events += sock.recv(1 << 16).count(b"event: ticker")

    def close(self) -> None:
        self.stop.set()
        self.join(5)
        for sock in self.sockets:
            sock.close()


@contextmanager
def tracking(redis_port: int, spec: Tracking) -> Iterator[None]:
    """One connection with ``CLIENT TRACKING`` on, redirected to another that subscribes to
    the invalidation channel (the ticks write no key they track: no message is sent)."""
    hub = socket.create_connection(("127.0.0.1", redis_port))  # raw RESP2: a subscriber
    hub.sendall(b"CLIENT ID\r\n")
    hub_id = int(hub.recv(64)[1:].split(b"\r")[0])  # ":<id>\r\n"
    hub.sendall(f"SUBSCRIBE {keys.INVALIDATION_CHANNEL}\r\n".encode())
    hub.recv(1024)  # its confirmation
    tracked = redis.Redis(port=redis_port, single_connection_client=True)
    bcast = () if spec.bcast is None else ("BCAST", *(a for p in spec.bcast for a in ("PREFIX", p)))
    tracked.execute_command("CLIENT", "TRACKING", "ON", "REDIRECT", hub_id, *bcast)
    try:
        yield
    finally:
        tracked.close()
        hub.close()


@contextmanager
def api(redis_port: int, workers: str, extra: dict[str, str], streams: int) -> Iterator[Streams]:
    url = f"redis://127.0.0.1:{redis_port}/0"
    with pinned(SERVER_CPU):  # the API and its workers inherit it
        process = ApiProcess(url, extra, ("--workers", workers))
    with process as served:
        for _ in range(20):  # every worker reads a little (its hub connects, tracking on)
            httpx.get(f"{served.base}/tickers/bench", timeout=5)
        readers = Streams(served.port, streams)
        readers.start()
        try:
            time.sleep(2)  # the streams' subscriptions in place
            yield readers
        finally:
            readers.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--ticks", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--sides", nargs="+", choices=list(SIDES), default=list(SIDES))
    args = parser.parse_args()
    names = ["none", *(side for side in args.sides if side != "none")]

    server = RedisServer().start()
    pin(server.process.pid, LOAD_CPU)  # Redis and this thread, the writer, on one CPU
    pin(0, LOAD_CPU)
    costs: dict[str, list[float]] = {side: [] for side in names}
    sent: dict[str, list[int]] = {side: [] for side in names}
    events: dict[str, list[int]] = {side: [] for side in names}
    try:
        with redis.Redis(port=server.port) as admin:
            write_ticks(admin, 1000)  # the hash and the keys exist: every side writes the same
            for round_ in range(args.rounds):
                for side in names[round_ % len(names) :] + names[: round_ % len(names)]:
                    spec = SIDES[side]
                    if spec is None:
                        cpu, out = write_ticks(admin, args.ticks)
                    elif isinstance(spec, Tracking):
                        with tracking(server.port, spec):
                            cpu, out = write_ticks(admin, args.ticks)
                    else:
                        with api(server.port, spec[0], spec[1], args.streams) as streams:
                            before = streams.events
                            cpu, out = write_ticks(admin, args.ticks)
                            time.sleep(0.5)  # the last window's events arrive
                            events[side].append(streams.events - before)
                    costs[side].append(cpu)
                    sent[side].append(out)
    finally:
        server.close()
    base = statistics.median(costs["none"])
    base_out = statistics.median(sent["none"])
    print(
        f"{args.ticks} ticks (HSET + SET + PUBLISH), {args.streams} streams open with the "
        f"API, {args.rounds} rounds; Redis CPU per tick (median), as a ratio to no API:"
    )
    for side, runs in costs.items():
        median = statistics.median(runs)
        got = f"{statistics.median(events[side]):8.0f} events" if events[side] else " " * 15
        out = statistics.median(sent[side])
        print(f"  {side:18} {median / args.ticks * 1e6:6.2f} us/tick  {median / base:5.2f}x  "
              f"{got}  Redis sent {out / args.ticks:8.1f} B/tick ({out / base_out:6.2f}x)  "
              f"(runs: {', '.join(f'{r:.3f}' for r in runs)} s)")  # fmt: skip


if __name__ == "__main__":
    main()
