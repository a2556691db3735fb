"""The demo: sample data re-based to now, the feeder, and a clean stop on every signal, on real
redis-server and ``python -m fullon_cache_api --demo`` processes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest
import redis

from fullon_cache_api.demo import DemoRedis, feeder
from fullon_cache_api.demo.redis_server import free_port
from fullon_cache_api.demo.snapshot import rebased, sample_snapshot

from support import PATIENT_ENV, SNAPSHOT, stop_process


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def stored_times(snapshot: dict[str, Any]) -> dict[str, float]:
    """A few stored times of both clocks, by what they are."""
    keys = {entry["key"]: entry["value"] for entry in snapshot["keys"]}
    process = json.loads(keys["process:data:tick:binance:BTC/USDT:1795668783.605899"])
    return {
        "BTC tick": json.loads(keys["tickers:binance"]["BTC/USDT"])["time"],
        "ETH tick": json.loads(keys["tickers:binance"]["ETH/USDT"])["time"],
        "ticker_time": float(keys["ticker_time:binance:BTC/USDT"]),
        "last 1m bar": json.loads(keys["ohlcv:BTC/USDT:1m"][-1])[0] / 1000,
        "last trade": epoch(json.loads(keys["trades:binance:BTCUSDT"][-1])["time"]),
        "trade status": epoch(keys["TRADE:STATUS:binance"]),
        "balances": epoch(json.loads(keys["accounts"]["1"])["date"]),
        "opening": epoch(keys["opening_position"]["1:BTC/USDT"].split(":", 1)[1]),
        "heartbeat": epoch(process["heartbeat"]),
    }


def test_sample_data_is_rebased_so_the_newest_times_are_now() -> None:
    now = 1900000000.5
    sample = sample_snapshot()
    moved = rebased(sample, now)
    before, after = stored_times(sample), stored_times(moved)
    newest = max(after.values())
    assert now - 1 < newest <= now
    # Both clocks (the generator's and fullon_cache's own, a year apart) end near now...
    assert now - 5 < after["trade status"] <= now and now - 5 < after["last trade"] <= now
    # ...and each keeps its spacing: ticker ages, bar intervals.
    for one, other in [
        ("BTC tick", "ETH tick"),
        ("BTC tick", "last 1m bar"),
        ("opening", "balances"),
    ]:
        assert after[one] - after[other] == pytest.approx(before[one] - before[other], abs=1e-6)
    assert after["BTC tick"] == after["ticker_time"]
    # Ids that embed a time are names: unchanged, and the key set is the same.
    assert [e["key"] for e in moved["keys"]] == [e["key"] for e in sample["keys"]]
    components = {e["key"]: e["value"] for e in moved["keys"]}["process:components"]
    assert components["binance:BTC/USDT"] == "tick:binance:BTC/USDT:1795668783.605899"


def test_rebase_moves_zoned_iso_strings_anywhere_and_numbers_only_as_times() -> None:
    payload = {
        "time": 1577836800.0,  # 2020-01-01T00:00:00Z
        "note": {"seen": ["2020-01-01T00:00:00+00:00"]},
        "volume": 1577836800.0,  # a number like a time, but not under a time's name
        "local": "2020-01-01 00:00:00",  # no zone: which instant it is is unknown
    }
    snapshot = {
        "keys": [{"key": "k", "type": "hash", "ttl": -1, "value": {"f": json.dumps(payload)}}]
    }
    moved = json.loads(rebased(snapshot, now=1577836800 + 100.5)["keys"][0]["value"]["f"])
    assert moved == {
        "time": 1577836900.0,
        "note": {"seen": ["2020-01-01T00:01:40+00:00"]},
        "volume": 1577836800.0,
        "local": "2020-01-01 00:00:00",
    }


def test_packaged_sample_data_is_the_fixture_without_float_noise() -> None:
    text = json.dumps(sample_snapshot())
    assert not re.search(r"\d\.\d*0000000\d|\d\.\d*9999999\d", text)
    sample_keys = [(e["key"], e["type"], e["ttl"]) for e in sample_snapshot()["keys"]]
    assert sample_keys == [(e["key"], e["type"], e["ttl"]) for e in SNAPSHOT["keys"]]


@pytest.fixture
def fed_redis(monkeypatch) -> Iterator[redis.Redis]:
    """The demo's Redis, started (an order and a trade on every round of the feeder, so that a
    test sees them at once); a client of its default user."""
    monkeypatch.setattr(feeder, "EVENT_CHANCE", 1.0)
    monkeypatch.setattr(feeder, "ORDERS_KEPT", 2)
    demo = DemoRedis()
    try:
        assert demo.start() == len(SNAPSHOT["keys"])
        with redis.Redis(port=demo.server.port, decode_responses=True) as admin:
            yield admin
    finally:
        demo.stop()


def test_feeder_writes_as_fullon_cache_does(fed_redis) -> None:
    admin = fed_redis
    pubsub = admin.pubsub()
    pubsub.subscribe("ticker_updates:kraken:BTC/USD")
    started = time.time()
    message = None
    while message is None or message["type"] != "message":
        assert time.time() - started < 5, "no ticker published"
        message = pubsub.get_message(timeout=1)
    published = json.loads(message["data"])
    tick = json.loads(admin.hget("tickers:kraken", "BTC/USD"))
    assert set(tick) == {"symbol", "exchange", "price", "volume", "time", "bid", "ask", "last"}
    assert published["time"] >= started - 1 and abs(tick["time"] - time.time()) < 2
    assert float(admin.get("ticker_time:kraken:BTC/USD")) >= published["time"]
    assert tick["ask"] - tick["bid"] == pytest.approx(1.0)  # the sample's spread, kept
    pubsub.close()

    time.sleep(1.5)  # a few rounds: orders, trades and queue entries on each
    process_key = "process:data:tick:kraken:BTC/USD:1795668783.609004"
    record = json.loads(admin.get(process_key))
    assert abs(epoch(record["heartbeat"]) - time.time()) < 10
    assert admin.ttl(process_key) > 86400 - 10
    active = admin.hget("process:active:tick", "tick:kraken:BTC/USD:1795668783.609004")
    assert abs(epoch(active) - time.time()) < 10
    bar = json.loads(admin.lindex("ohlcv:BTC/USDT:1m", -1))
    assert len(bar) == 6 and bar[0] > 1e12  # milliseconds, like the rest of that series
    assert time.time() - 60 <= bar[0] / 1000 <= time.time()
    fed = 0
    for exchange in ("binance", "kraken", "hyperliquid"):
        orders = admin.hgetall(f"order_status:{exchange}")
        sample = orders_in_sample(exchange)
        new = set(orders) - set(sample)
        assert set(sample) <= set(orders) and len(new) <= 2  # ORDERS_KEPT
        fields = set(json.loads(next(iter(sample.values()))))
        for order_id in new:
            order = json.loads(orders[order_id])
            assert (order["order_id"], order["status"], set(order)) == (order_id, "open", fields)
        queue = f"new_orders:local-{exchange}"
        assert admin.llen(queue) <= 5  # trimmed: nobody consumes the demo's queues
        if new:
            assert admin.lindex(queue, -1) in new  # the newest order is queued
        fed += len(new)
    assert fed > 0
    trades = [
        (key.split(":")[1], json.loads(raw))
        for key in admin.scan_iter("trades:*")
        for raw in admin.lrange(key, 0, -1)
    ]
    new_trades = [(exchange, t) for exchange, t in trades if t["trade_id"] >= 10_000]
    assert new_trades and len(trades) - len(new_trades) == 15  # the sample's 5 lists of 3
    for exchange, trade in new_trades:
        assert abs(epoch(trade["time"]) - time.time()) < 10
        assert trade["cost"] == pytest.approx(trade["price"] * trade["volume"], rel=1e-4)
        assert epoch(admin.get(f"TRADE:STATUS:{exchange}")) >= epoch(trade["time"])


def orders_in_sample(exchange: str) -> dict[str, str]:
    return {e["key"]: e["value"] for e in SNAPSHOT["keys"]}[f"order_status:{exchange}"]


class Demo(NamedTuple):
    process: subprocess.Popen[str]
    base: str  # http://127.0.0.1:{port}
    redis_url: str  # the demo's Redis, default user (from the banner)
    printed: str  # the output read so far: up to the banner's line naming Redis


@contextmanager
def demo(*args: str) -> Iterator[Demo]:
    """``python -m fullon_cache_api --demo`` in a process group of its own, as a shell runs a
    command (so Ctrl-C can be sent to the group), once it answers; killed at the end if still
    running."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "fullon_cache_api", "--demo", "--port", str(port), *args],
        env={**PATIENT_ENV, **os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        process_group=0,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                httpx.get(base + "/health", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the demo did not answer"
                time.sleep(0.05)
        printed = ""
        while not (found := re.search(r"in a private Redis at (redis://\S+)", printed)):
            line = process.stdout.readline() if process.stdout else ""
            assert line, f"no banner: {printed}"
            printed += line
        yield Demo(process, base, found.group(1), printed)
    finally:
        stop_process(process)  # and the demo's redis-server, should the demo leave it


def poll(url: str, ready, timeout: float = 30.0) -> Any:
    """The JSON at ``url`` once ``ready(body)``; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        body = httpx.get(url, timeout=60).json()
        if ready(body):
            return body
        assert time.monotonic() < deadline, f"{url}: {body}"
        time.sleep(0.1)


def first_ticker_event(base: str) -> dict[str, Any]:
    with httpx.stream("GET", base + "/stream/tickers", timeout=60) as response:
        assert response.status_code == 200
        event = ""
        for line in response.iter_lines():
            event = line.removeprefix("event: ") if line.startswith("event: ") else event
            if line.startswith("data: ") and event == "ticker":  # after the snapshot
                return json.loads(line.removeprefix("data: "))
    raise AssertionError("the stream ended")


@pytest.mark.slow
def test_demo_is_live_within_seconds() -> None:
    with demo() as (process, base, redis_url, printed):
        started = time.time()
        active = poll(base + "/tickers/binance/active", lambda body: body["count"] > 0)
        assert {item["symbol"] for item in active["items"]} == {"BTC/USDT", "ETH/USDT", "SOL/USDT"}
        processes = poll(base + "/processes", lambda body: body["count"] > 0)
        assert {item["process_type"] for item in processes["items"]} == {"tick", "bot"}
        health = httpx.get(timeout=60, url=base + "/processes/health").json()
        assert health["total"] == 4 and health["by_status"]["running"] == 3
        assert health["stale"] == 0
        event = first_ticker_event(base)  # nobody publishes but the demo's feeder
        assert event["exchange"] in ("binance", "kraken", "hyperliquid")
        assert time.time() - started < 10
        first = httpx.get(timeout=60, url=base + "/tickers/kraken/BTC/USD").json()
        later = poll(base + "/tickers/kraken/BTC/USD", lambda body: body["time"] != first["time"])
        assert epoch(later["time"]) > epoch(first["time"])
        bars = httpx.get(timeout=60, url=base + "/ohlcv/BTC/USDT/1m", params={"limit": 1}).json()[
            "bars"
        ]
        assert time.time() - 120 < bars[-1][0] / 1000 <= time.time()  # re-based, then fed
        with redis.Redis.from_url(redis_url) as admin:  # the API reads as a read-only user
            api = [c for c in admin.client_list() if c["name"] == "fullon_cache_api"]
            assert api and {c["user"] for c in api} == {"cache_api"}
        process.send_signal(signal.SIGTERM)
        assert process.wait(15) == 0
        output = printed + (process.stdout.read() if process.stdout else "")
    for path in ("/", "/docs", "/ui", "/openapi.json", "/health"):  # the banner's links
        assert f" {base}{path}\n" in output
    assert f"curl {base}/tickers/binance/BTC/USDT" in output


@pytest.mark.slow
@pytest.mark.parametrize(
    ("stop", "to_group"),
    [(signal.SIGINT, True), (signal.SIGTERM, False), (signal.SIGHUP, False)],
    ids=["ctrl-c", "sigterm", "sighup"],
)
def test_every_stop_signal_leaves_no_redis_and_no_directory(stop, to_group) -> None:
    with demo() as (process, base, redis_url, printed):
        with redis.Redis.from_url(redis_url, decode_responses=True) as admin:
            redis_pid = int(admin.info("server")["process_id"])
            directory = Path(admin.config_get("dir")["dir"])
        assert directory.is_dir()
        # Its own process group: Ctrl-C in the terminal reaches the demo, not Redis.
        assert os.getpgid(redis_pid) == redis_pid != os.getpgid(process.pid)
        assert httpx.get(timeout=60, url=base + "/tickers/binance/BTC/USDT").status_code == 200
        if to_group:
            os.killpg(process.pid, stop)
        else:
            process.send_signal(stop)
        assert process.wait(15) == 0
        output = printed + (process.stdout.read() if process.stdout else "")
    with pytest.raises(ProcessLookupError):
        os.kill(redis_pid, 0)
    assert not directory.exists()
    assert "WARNING" not in output and "ERROR" not in output and "Traceback" not in output
