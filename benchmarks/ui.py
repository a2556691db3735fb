"""Issue 21: the live page under 1000 tickers and a 10,000-bar chart, measured. Usage:
``python benchmarks/ui.py [--seconds 60] [--rate 200]`` (about 2.5 minutes by default; headless
``chromium`` on PATH, or CHROMIUM; the ``test`` extra for ``websockets``).

One ``python -m fullon_cache_api`` on a private redis-server, all on 127.0.0.1. Two sides, each
on a freshly seeded Redis and a fresh browser, in one run:

- big: 1000 tickers (4 exchanges of 250 symbols, binance BTC/USDT among them) and a 1m series
  of 10,000 bars for BTC/USDT, the page opened at ``/ui?bars=10000``;
- reference: 10 tickers and 100 bars, at ``/ui?bars=100``.

A writer plays fullon_cache's ticker writer at ``--rate`` writes a second (HSET of the tick,
then PUBLISH), the tickers in turn, each tick's price a number never written before. Headless
Chromium (1280 x 900) opens the page, waits until it shows every ticker and every bar, then for
``--seconds``, from the page itself:

- long tasks (``PerformanceObserver`` of type ``longtask``: main-thread tasks over 50 ms):
  how many, their total and the longest, during the load and during the run;
- the main thread's round trip: the delay of a message posted to the page every 50 ms (a
  ``MessageChannel``, as a ``setTimeout(0)`` unclamped) until its handler runs, over the first
  20 s of the run, p50 / p99 / max;
- the time from a ticker's write to the frame that shows its row's new price (a
  ``MutationObserver`` on the rows, stamped at the next ``requestAnimationFrame``; the writer's
  clock and the page's ``performance.timeOrigin`` are the same machine's), p50 / p99, over the
  prices shown (a price superseded within the page's 100 ms paint batch is never shown);
- the JS heap (``Runtime.getHeapUsage``) after the run, once garbage is collected.

The big side's figures are given as ratios to the reference's. Every process it starts is
stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from harness import ApiProcess
from websockets.sync.client import ClientConnection, connect

from fullon_cache_api.demo.redis_server import RedisServer

EXCHANGES = ("binance", "bybit", "kraken", "okx")
SIDES = {"big": (1000, 10_000), "reference": (10, 100)}  # tickers, bars
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--lang=en-US",
)
ROUND_TRIP_S = 20

# Installed in the page once it has loaded: what the measures read back at the end.
PROBE = """(() => {
  const bench = window.__bench = {longtasks: [], shown: {}, trips: [], tripsUntil: 0};
  new PerformanceObserver((list) => list.getEntries().forEach(
    (e) => bench.longtasks.push([e.startTime, e.duration])))
    .observe({type: "longtask", buffered: true});
  let pending = [];
  new MutationObserver((changes) => {
    for (const change of changes) {
      const cell = change.target.nodeType === 1 ? change.target : change.target.parentElement;
      if (cell && cell.classList && cell.classList.contains("price")) {
        pending.push(cell.textContent);
      }
    }
    if (pending.length) requestAnimationFrame(() => {
      const at = performance.timeOrigin + performance.now();
      for (const text of pending) bench.shown[text.replace(/,/g, "")] ??= at;
      pending = [];
    });
  }).observe(document.getElementById("ticker-rows"),
             {subtree: true, childList: true, characterData: true});
  return true;
})()"""
# The round trip: a message posted to this page every 50 ms, timed until its handler runs (a
# MessageChannel: a nested setTimeout(0) is clamped to 4 ms by the browser, whatever the load).
START_TRIPS = """(() => {
  const bench = window.__bench;
  const channel = new MessageChannel();
  let posted = 0;
  channel.port1.onmessage = () => bench.trips.push(performance.now() - posted);
  const until = performance.now() + %d;
  const sampler = setInterval(() => {
    if (performance.now() > until) return clearInterval(sampler);
    posted = performance.now();
    channel.port2.postMessage(0);
  }, 50);
  bench.runFrom = performance.now();
  return true;
})()"""
READY = """(() => ({
  tickers: document.getElementById("ticker-rows").rows.length,
  bars: Number(document.getElementById("chart").dataset.bars),
  state: document.getElementById("stream-state").dataset.state || "",
}))()"""
RESULTS = "JSON.stringify({...window.__bench, now: performance.now()})"


class Page:
    """One Chromium tab over the DevTools protocol (a flat session on the browser's socket)."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.session: str | None = None
        self.sent = 0

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.sent += 1
        message: dict[str, Any] = {"id": self.sent, "method": method, "params": params or {}}
        if self.session is not None:
            message["sessionId"] = self.session
        self.socket.send(json.dumps(message))
        while True:  # events are not kept
            answer = json.loads(self.socket.recv(timeout=60))
            if answer.get("id") == self.sent:
                assert "error" not in answer, (method, answer["error"])
                result: dict[str, Any] = answer["result"]
                return result

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def open(self, url: str) -> float:
        """Navigates to ``url``; the wall-clock time it began."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        self.call("Runtime.enable")
        metrics = {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False}
        self.call("Emulation.setDeviceMetricsOverride", metrics)
        began = time.time()
        self.call("Page.navigate", {"url": url})
        return began


@contextmanager
def chromium() -> Iterator[Page]:
    """Headless Chromium with a fresh profile, stopped (its process group) at the end."""
    binary = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if binary is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as profile:
        log = Path(profile) / "chromium.log"
        with log.open("w") as stderr:
            process = subprocess.Popen(
                [binary, *FLAGS, "--remote-debugging-port=0", f"--user-data-dir={profile}/p"],
                stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True,
            )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while "DevTools listening on " not in log.read_text():
                assert process.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
            address = log.read_text().split("DevTools listening on ", 1)[1].split()[0]
            with connect(address, max_size=None, proxy=None, open_timeout=30) as socket:
                yield Page(socket)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def seed(admin: redis.Redis, tickers: int, bars: int) -> list[tuple[str, str]]:
    """An emptied Redis with ``tickers`` tickers (binance BTC/USDT first) and ``bars`` 1m bars
    of BTC/USDT ending this minute; the tickers' (exchange, symbol)."""
    admin.flushall()
    keys = [("binance", "BTC/USDT")]
    n = 0
    while len(keys) < tickers:
        keys.append((EXCHANGES[n % len(EXCHANGES)], f"S{n:04d}/USDT"))
        n += 1
    now = time.time()
    for exchange in EXCHANGES:
        mapping = {s: tick(e, s, 100.0, now) for e, s in keys if e == exchange}
        if mapping:
            admin.hset(f"tickers:{exchange}", mapping=mapping)
    last = int(now // 60) * 60_000
    series = [
        json.dumps([last - (bars - 1 - i) * 60_000, 100.0, 101.0, 99.0, 100.0 + i % 7, 3.0])
        for i in range(bars)
    ]
    for start in range(0, bars, 1000):
        admin.rpush("ohlcv:BTC/USDT:1m", *series[start : start + 1000])
    return keys


def tick(exchange: str, symbol: str, price: float, at: float) -> str:
    return json.dumps({"symbol": symbol, "exchange": exchange, "price": price, "bid": price - 0.5,
                       "ask": price + 0.5, "last": price, "volume": 1.0, "time": at})  # fmt: skip


class Writer:
    """Writes ticks at ``rate`` a second, the tickers in turn, until stopped: each price is
    ``first`` + its number (so a price shown names its write), its write time kept."""

    def __init__(self, url: str, keys: list[tuple[str, str]], rate: float, first: int) -> None:
        self.admin = redis.Redis.from_url(url)
        self.keys, self.rate, self.first = keys, rate, first
        self.written: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        start = time.monotonic()
        n = 0
        while not self.stop.is_set():
            pause = start + n / self.rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            exchange, symbol = self.keys[n % len(self.keys)]
            price = self.first + n
            at = time.time()
            value = tick(exchange, symbol, float(price), at)
            pipe = self.admin.pipeline(transaction=False)
            pipe.hset(f"tickers:{exchange}", symbol, value)
            pipe.publish(f"ticker_updates:{exchange}:{symbol}", value)
            pipe.execute()
            self.written[price] = at
            n += 1

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        self.admin.close()


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def side(base: str, url: str, tickers: int, bars: int, args: argparse.Namespace) -> dict[str, Any]:
    """The page on a Redis seeded with ``tickers`` and ``bars``, measured for ``args.seconds``."""
    with redis.Redis.from_url(url) as admin:
        keys = seed(admin, tickers, bars)
    writer = Writer(url, keys, args.rate, 1_000_000)
    try:
        with chromium() as page:
            began = page.open(f"{base}/ui?bars={bars}&symbol=BTC/USDT&timeframe=1m")
            deadline = time.monotonic() + 60
            while True:
                try:
                    ready = page.evaluate(READY)
                except AssertionError:  # the page's script not there yet
                    ready = {"tickers": 0, "bars": 0, "state": ""}
                if (
                    ready["tickers"] == tickers
                    and ready["bars"] >= bars
                    and ready["state"] == "live"
                ):
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"the page never filled: {ready}")
                time.sleep(0.05)
            loaded_s = time.time() - began
            page.evaluate(PROBE)  # buffered: the load's long tasks too
            page.evaluate(START_TRIPS % (ROUND_TRIP_S * 1000))
            time.sleep(args.seconds)
            found = json.loads(page.evaluate(RESULTS))
            page.call("HeapProfiler.collectGarbage")
            heap = page.call("Runtime.getHeapUsage")
    finally:
        writer.close()
    run_from = found["runFrom"]
    load_tasks = [d for start, d in found["longtasks"] if start < run_from]
    run_tasks = [d for start, d in found["longtasks"] if start >= run_from]
    delays_ms = [  # the page's stamp (epoch ms) minus the write's time
        at - writer.written[int(price)] * 1000
        for price, at in found["shown"].items()
        if price.isdigit() and int(price) in writer.written
    ]
    return {
        "tickers": tickers,
        "bars": bars,
        "loaded_s": loaded_s,
        "load_tasks": load_tasks,
        "run_tasks": run_tasks,
        "trips": found["trips"],
        "delays_ms": delays_ms,
        "written": len(writer.written),
        "heap_mb": heap["usedSize"] / 1e6,
    }


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"\n{args.rate:g} ticker writes a second, {args.seconds:g} s of run a side, "
          f"load average {os.getloadavg()[0]:.2f}\n")  # fmt: skip
    print("| side | tickers, bars | loaded in | long tasks: load (count, total, longest) | "
          "long tasks: run (count, total, longest) | round trip p50 / p99 / max | "
          "write→row p50 / p99 (prices shown) | JS heap |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():

        def tasks(ds: list[float]) -> str:
            return f"{len(ds)}, {sum(ds):.0f} ms, {max(ds, default=0):.0f} ms"

        trips, delays = r["trips"], r["delays_ms"]
        print(f"| {name} | {r['tickers']:,}, {r['bars']:,} | {r['loaded_s']:.1f} s | "
              f"{tasks(r['load_tasks'])} | {tasks(r['run_tasks'])} | "
              f"{quantile(trips, 0.5):.1f} / {quantile(trips, 0.99):.1f} / {max(trips):.1f} ms | "
              f"{quantile(delays, 0.5):.0f} / {quantile(delays, 0.99):.0f} ms "
              f"({len(delays):,} of {r['written']:,}) | {r['heap_mb']:.1f} MB |")  # fmt: skip
    big, ref = results["big"], results["reference"]

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}x" if b else "n/a (none in the reference)"

    def of(name: str, q: float) -> str:
        return ratio(quantile(big[name], q), quantile(ref[name], q))

    print("\nbig / reference: "
          f"run long-task time {ratio(sum(big['run_tasks']), sum(ref['run_tasks']))}, "
          f"round trip p50 {of('trips', 0.5)}, p99 {of('trips', 0.99)}, "
          f"write→row p50 {of('delays_ms', 0.5)}, p99 {of('delays_ms', 0.99)}, "
          f"JS heap {ratio(big['heap_mb'], ref['heap_mb'])}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="of run a side (default 60)")
    parser.add_argument("--rate", type=float, default=200.0, help="ticker writes a second")
    args = parser.parse_args()
    if args.seconds < ROUND_TRIP_S:
        parser.error(f"--seconds: at least {ROUND_TRIP_S} (the round trips are sampled for it)")
    server = RedisServer().start()
    try:
        with ApiProcess(server.url) as api:
            results = {}
            for name in ("reference", "big"):
                tickers, bars = SIDES[name]
                print(f"{name}: {tickers} tickers, {bars} bars...", file=sys.stderr, flush=True)
                results[name] = side(api.base, server.url, tickers, bars, args)
        report({"big": results["big"], "reference": results["reference"]}, args)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
