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
    monkeypatch.setattr(feeder, "QUEUE_KEPT", 5)  # every round pushes: the trim is seen
    monkeypatch.setattr(feeder, "FILL_CHANCE", 0.0)  # new orders stay open (fills: see below)
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
    assert 0 < tick["ask"] - tick["bid"] < tick["price"] * 1e-4  # a spread of a market
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
        assert set(sample) <= set(orders) and len(new) <= feeder.ORDERS_KEPT
        fields = set(json.loads(next(iter(sample.values()))))
        for order_id in new:
            order = json.loads(orders[order_id])
            assert (order["order_id"], order["status"], set(order)) == (order_id, "open", fields)
        queue = f"new_orders:local-{exchange}"
        assert admin.llen(queue) <= feeder.QUEUE_KEPT  # trimmed (and now and then popped)
        newest = admin.lindex(queue, -1)  # None: the feeder has just consumed the queue
        if new and newest is not None:
            assert newest in new  # the newest order is queued
        fed += len(new)
    assert fed > 0
    trades = [
        (key.split(":")[1], json.loads(raw))
        for key in admin.scan_iter("trades:*")
        for raw in admin.lrange(key, 0, -1)
    ]
    new_trades = [(exchange, t) for exchange, t in trades if t["trade_id"] >= 10_000]
    # The sample's 5 lists of 3, replaced by trades priced at today's market
    assert new_trades and len(trades) == len(new_trades) >= 5 * feeder.STARTING_TRADES
    for exchange, trade in new_trades:
        assert abs(epoch(trade["time"]) - time.time()) < 20 * feeder.STARTING_TRADES + 10
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


# Believable data (issue 21) ----------------------------------------------------------------


def api_get(base: str, path: str, **params: Any) -> Any:
    response = httpx.get(base + path, params=params, timeout=60)
    assert response.status_code == 200, (path, response.text)
    return response.json()


@pytest.mark.slow
def test_the_demo_is_consistent_across_families() -> None:
    """On ``python -m fullon_cache_api --demo``, read through the API: prices of today's order
    of magnitude (BTC above ETH above SOL), each ticker at its latest one-minute close, a few
    hundred minute candles and some hourly ones per symbol, orders and positions priced near
    their market, one process in error with its message."""
    with demo() as (_, base, _, _):
        tickers = {(t["exchange"], t["symbol"]): t for t in api_get(base, "/tickers")["items"]}
        assert len(tickers) == 6
        btc, eth, sol = (
            tickers["binance", s]["price"] for s in ("BTC/USDT", "ETH/USDT", "SOL/USDT")
        )
        assert btc > eth > sol and 10_000 < btc < 1_000_000 and sol > 1
        for (exchange, symbol), tick in tickers.items():
            assert tick["bid"] < tick["price"] < tick["ask"]
            series = api_get(base, f"/ohlcv/{symbol}/timeframes")["timeframes"]
            assert {"1m", "1h"} <= set(series)
            bars = api_get(base, f"/ohlcv/{symbol}/1m", limit=10000)["bars"]
            assert len(bars) >= 300 and all(low <= high for _, _, high, low, *_ in bars)
            assert len(api_get(base, f"/ohlcv/{symbol}/1h", limit=10000)["bars"]) >= 24
            # Read again: the ticker against the close read just after it.
            price = api_get(base, f"/tickers/{exchange}/{symbol}")["price"]
            close = api_get(base, f"/ohlcv/{symbol}/1m", limit=1)["bars"][-1][4]
            assert abs(price - close) <= 0.01 * close, (exchange, symbol, price, close)
            # The series moves in steps of a market, never from another age's prices.
            assert all(abs(b[4] / close - 1) < 0.2 for b in bars), symbol

        orders = api_get(base, "/orders", status="open", limit=1000)["items"]
        assert orders
        for order in orders:
            market = tickers[order["exchange"], order["symbol"]]["price"]
            assert abs(order["price"] - market) <= 0.2 * market, order

        for account in api_get(base, "/accounts")["items"]:
            ex_id = account["ex_id"]
            balances = api_get(base, f"/accounts/{ex_id}/balances")["items"]
            assert all(
                b["free"] + b["used"] == pytest.approx(b["total"], rel=1e-5) for b in balances
            )
            for position in api_get(base, f"/accounts/{ex_id}/positions")["items"]:
                prices = [t["price"] for (_, s), t in tickers.items() if s == position["symbol"]]
                assert prices and abs(position["price"] - prices[0]) <= 0.2 * prices[0]
                assert position["cost"] == pytest.approx(
                    position["volume"] * position["price"], rel=1e-5
                )

        errors = api_get(base, "/processes", status="error")["items"]
        assert [(p["component"], p["message"]) for p in errors] == [("bot_41", "exchange timeout")]
        assert api_get(base, "/bots/41")["feeds"]["feed_0"]["status"] == "error"


@pytest.fixture
def busy_demo(monkeypatch) -> Iterator[redis.Redis]:
    """The demo's Redis with a fast-moving feeder: an order, a trade and a fill every round, a
    block cycle of 3 s, and the quiet process stalled for 2 s of every 4 (stale after 1 s)."""
    for name, value in {
        "EVENT_CHANCE": 1.0,
        "FILL_CHANCE": 1.0,
        "HEARTBEAT_INTERVAL": 0.25,
        "BLOCK_CYCLE_S": 3.0,
        "STALE_AFTER_S": 1.0,
        "STALL_S": 2.0,
        "STALL_EVERY_S": 4.0,
        "FIRST_STALL_S": 1.0,
    }.items():
        monkeypatch.setattr(feeder, name, value)
    demo = DemoRedis()
    try:
        demo.start()
        with redis.Redis(port=demo.server.port, decode_responses=True) as admin:
            yield admin
    finally:
        demo.stop()


def wait_until(what: str, done) -> Any:
    """``done()``'s first true answer; fails after 30 s."""
    deadline = time.monotonic() + 30
    while not (found := done()):
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.05)
    return found


def test_the_demo_changes_as_a_trading_system_does(busy_demo) -> None:
    """Bots' PnL moves, a block is taken and let go, an order fills (its user's trade, the
    account's balances and position change with it), queues go up and down, and the quiet
    process goes stale (its heartbeat frozen while its record is updated) and comes back."""
    admin = busy_demo
    pnl = json.loads(admin.hget("bot_status", "42"))["feed_0"]["pnl"]
    wait_until(
        "a PnL moved", lambda: json.loads(admin.hget("bot_status", "42"))["feed_0"]["pnl"] != pnl
    )
    blocks = lambda: set(admin.hkeys("block_exchange"))  # noqa: E731
    assert blocks() >= {"1:BTC/USDT"}
    taken = wait_until("a block taken", lambda: blocks() - {"1:BTC/USDT"})
    wait_until("a block let go", lambda: not blocks() & taken)

    balances = admin.hget("accounts", "1")
    wait_until("balances changed", lambda: admin.hget("accounts", "1") != balances)
    filled = [
        json.loads(raw)
        for raw in admin.hvals("order_status:binance")
        if json.loads(raw)["status"] == "filled" and json.loads(raw)["order_id"].startswith("B")
    ]
    assert any(o["final_volume"] == o["volume"] for o in filled)
    user_trades = [json.loads(raw) for raw in admin.lrange("user_trades:7:binance", 0, -1)]
    fills = {t["ex_order_id"]: t for t in user_trades if t["trade_id"] >= 10_000}
    assert fills and all(
        t["cost"] == pytest.approx(t["price"] * t["volume"], rel=1e-4) for t in fills.values()
    )

    lengths = set()
    wait_until(
        "queues up and down",
        lambda: lengths.add(admin.llen("new_orders:local-binance")) or len(lengths) >= 3,
    )

    key = next(admin.scan_iter("process:data:tick:hyperliquid:*"))
    record = lambda: json.loads(admin.get(key))  # noqa: E731

    def age(stamp: str) -> float:
        return time.time() - epoch(stamp)

    def beat_older(than: float) -> dict[str, Any] | None:
        now = record()
        return now if age(now["heartbeat"]) > than else None

    def beat_younger(than: float) -> dict[str, Any] | None:
        now = record()
        return now if age(now["heartbeat"]) < than else None

    stale = wait_until("stale", lambda: beat_older(1.5))
    assert age(stale["updated_at"]) < 1.5 and stale["message"] == "reconnecting to the exchange"
    back = wait_until("back", lambda: beat_younger(0.5))
    assert back["message"] == "streaming"
