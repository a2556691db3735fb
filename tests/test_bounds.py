"""Bounded work on any data: hostile stored values, keys of another type, big keys and a big
keyspace, on real redis-server and hypercorn processes. Nothing the API sends may hold Redis
for long, no stored value may break a listing, and the process keeps its memory."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import msgspec
import pytest
import redis
from websockets.asyncio.client import connect

from fullon_cache_api.demo.redis_server import RedisServer
from fullon_cache_api.readers.base import MAX_DEPTH, CorruptValue, Lenient
from fullon_cache_api.readers.source import READ_BATCH

from support import Monitor, expect, fill, reader_url, redis_process, serve_api

pytestmark = pytest.mark.slow

DEEP = "[" * 3000 + "]" * 3000  # about 6 KB, nested 3000 levels deep
TICK = {"price": 301.0, "bid": 300.5, "ask": 301.5, "last": 301.0, "volume": 12.0}


# Hostile stored values ---------------------------------------------------------------------------


def test_free_form_values_nested_past_the_limit_are_corrupt_on_any_python() -> None:
    """Whatever this interpreter's recursion limit would let msgspec decode (Python 3.13 lets
    3000 levels through), a free-form value (feeds, balances, process params) nested past
    MAX_DEPTH is corrupt; one at the limit is not."""
    decoder = Lenient(dict[str, Any])
    within = '{"a": ' + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1) + "}"
    assert decoder.decode(within)["a"] is not None
    with pytest.raises(CorruptValue, match="nested more than"):
        decoder.decode('{"a": ' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}")
    with pytest.raises(CorruptValue):  # too deep for msgspec here, or past MAX_DEPTH
        decoder.decode('{"feed": ' + DEEP + "}")

    class Record(msgspec.Struct):  # typed, with one free-form field (as process records)
        params: Any = None

    with pytest.raises(CorruptValue, match="nested more than"):
        Lenient(Record).decode('{"params": ' + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "}")


@pytest.mark.usefixtures("snapshot")
async def test_a_deeply_nested_value_is_one_corrupt_value(client, admin) -> None:
    """Nested too deeply for any decoder: skipped in listings (counted), 502 alone."""
    admin.hset("tickers:binance", "DEEP/USDT", DEEP)
    admin.hset("order_status:binance", "DEEP-2", '{"status": ' + DEEP + "}")
    admin.hset("bot_status", "99", '{"feed": ' + DEEP + "}")
    admin.rpush("ohlcv:DEEP/USDT:1m", DEEP, json.dumps([1764100000000, 1, 2, 0.5, 1.5, 10]))
    admin.rpush("trades:binance:DEEPUSDT", DEEP)
    listing = expect(await client.get("/tickers"))
    assert listing["skipped"] >= 1 and "DEEP/USDT" not in {t["symbol"] for t in listing["items"]}
    assert expect(await client.get("/tickers/binance"))["skipped"] == 1
    alone = expect(await client.get("/tickers/binance/DEEP/USDT"), 502)
    assert alone["error"]["code"] == "bad_cache_value"
    assert expect(await client.get("/orders/binance"))["skipped"] == 1
    assert expect(await client.get("/bots"))["skipped"] == 1
    expect(await client.get("/bots/99"), 502)
    bars = expect(await client.get("/ohlcv/DEEP/USDT/1m"))
    assert (bars["count"], bars["skipped"]) == (1, 1)
    assert expect(await client.get("/trades/binance/DEEP/USDT"))["skipped"] == 1


@pytest.mark.usefixtures("snapshot")
async def test_a_value_larger_than_the_cap_is_never_decoded(settings, clock, admin) -> None:
    from fullon_cache_api import create_app, lifespan

    from support import http_client

    small = dataclasses.replace(settings, max_value_bytes=4096)
    big = json.dumps({**TICK, "time": 1764100000.0, "pad": "x" * 5000})
    admin.hset("tickers:binance", "BIG/USDT", big)
    app = create_app(small, clock=clock)
    async with lifespan(app), http_client(app) as http:
        alone = expect(await http.get("/tickers/binance/BIG/USDT"), 502)
        assert "more than the 4096 decoded" in alone["error"]["message"]
        listing = expect(await http.get("/tickers/binance"))
        assert listing["skipped"] == 1 and listing["count"] == 3


async def test_a_poisoned_publication_is_dropped_and_the_stream_goes_on(redis_server) -> None:
    with serve_api(env={"REDIS_URL": reader_url(redis_server)}) as served:
        async with (
            httpx.AsyncClient(base_url=served.base, timeout=60) as http,
            http.stream("GET", "/stream/tickers", params={"exchange": "binance"}) as response,
        ):
            lines = response.aiter_lines()
            assert await anext(lines) == ": subscribed"
            with redis.Redis(port=redis_server.port) as admin:
                admin.publish("ticker_updates:binance:BTC/USDT", DEEP)
                admin.publish("ticker_updates:binance:BTC/USDT", json.dumps({**TICK, "price": 7}))
            with anyio.fail_after(5):
                event = ""
                async for line in lines:
                    event = line[7:] if line.startswith("event: ") else event
                    if line.startswith("data: ") and event == "ticker":  # the snapshot first
                        assert json.loads(line[6:])["price"] == 7.0
                        break


# Keys of another type -------------------------------------------------------------------------

WRONG_TYPES = {  # a key of another type than fullon_cache writes, under each family
    "tickers:zzz": ("set", "x"),
    "order_status:zzz": ("set", "x"),
    "new_orders:zzz": ("hset", {"a": "b"}),
    "trades:zzz:AB": ("set", "x"),
    "TRADE:STATUS:zzz": ("rpush", ["x"]),
    "user_trades:7:zzz": ("set", "x"),
    "USER_TRADE:STATUS:zzz": ("hset", {"a": "b"}),
    "ohlcv:ZZZ/USDT:1m": ("set", "x"),
    "process:active:zzz": ("set", "x"),
    "process:data:zzz": ("hset", {"a": "b"}),
}
FIXED_WRONG = {  # the fixed hashes as strings
    "accounts": "/accounts",
    "account_positions": "/accounts",
    "bot_status": "/bots",
    "block_exchange": "/bots/blocks",
    "opening_position": "/bots/coordination",
}
LISTINGS = [
    "/overview",
    "/exchanges",
    "/tickers",
    "/tickers/health",
    "/orders",
    "/orders/queues",
    "/trades",
    "/trades/status",
    "/trades/metrics",
    "/trades/users/7",
    "/ohlcv",
    "/processes?since_minutes=100000",
    "/processes/health?since_minutes=100000",
    "/accounts",
    "/bots",
    "/bots/blocks",
    "/bots/coordination",
]


def write_wrong_types(admin: redis.Redis) -> None:
    for key, (command, value) in WRONG_TYPES.items():
        admin.delete(key)
        if command == "set":
            admin.set(key, value)
        elif command == "hset":
            admin.hset(key, mapping=value)
        else:
            admin.rpush(key, *value)
    for key in FIXED_WRONG:
        admin.delete(key)
        admin.set(key, "x")


def outages(metrics: httpx.Response) -> float:
    """The count of Redis failures counted as 'unavailable' so far (by this process)."""
    for line in metrics.text.splitlines():
        if line.startswith('fullon_cache_api_redis_errors_total{kind="unavailable"}'):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.usefixtures("snapshot")
async def test_keys_of_another_type_are_skipped_in_every_listing(client, admin) -> None:
    """Never an outage: every listing answers 200 and says what it skipped."""
    write_wrong_types(admin)
    unavailable_before = outages(await client.get("/metrics"))
    for path in LISTINGS:
        body = expect(await client.get(path))
        if path not in ("/exchanges",):
            assert body.get("skipped", 0) >= 1, path
    overview = expect(await client.get("/overview"))
    assert overview["skipped"] >= len(WRONG_TYPES) - 4  # string families have no entries
    assert expect(await client.get("/health"))["status"] == "ok"
    assert outages(await client.get("/metrics")) == unavailable_before
    # one resource of another type is a 502, never a 503
    for path in ("/tickers/zzz", "/tickers/zzz/BTC/USDT", "/orders/zzz", "/ohlcv/ZZZ/USDT/1m"):
        assert expect(await client.get(path), 502)["error"]["code"] == "bad_cache_value", path


# Big keys, a big keyspace ------------------------------------------------------------------------

BIG_TICKERS = 200_000
BIG_SERIES = 300_000
BIG_TRADES = 12_000
OTHER_KEYS = 300_000
T0 = 1_700_000_000_000
T1 = T0 + BIG_SERIES * 60_000  # after the last bar


@pytest.fixture(scope="module")
def big_redis() -> Iterator[RedisServer]:
    """A Redis with a 200,000-field tickers hash, a 300,000-bar series, a 12,000-trade list,
    300,000 unrelated keys (and the snapshot), SLOWLOG at 10 ms."""
    with redis_process() as server, redis.Redis(port=server.port) as admin:
        tick = json.dumps({**TICK, "time": 1764100000.0}).encode()
        pipe = admin.pipeline(transaction=False)
        for start in range(0, BIG_TICKERS, 10_000):
            pipe.hset(
                "tickers:bigex",
                mapping={f"S{i:06d}/USDT": tick for i in range(start, start + 10_000)},
            )
        for start in range(0, BIG_SERIES, 10_000):
            bars = [
                json.dumps([T0 + i * 60_000, 1.0, 2.0, 0.5, 1.5, 10.0])
                for i in range(start, start + 10_000)
            ]
            pipe.rpush("ohlcv:BIG/USDT:1m", *bars)
        trades = [json.dumps({"trade_id": i, "price": 1.0}) for i in range(BIG_TRADES)]
        pipe.rpush("trades:bigex:BIGUSDT", *trades)
        pipe.execute()
        for start in range(0, OTHER_KEYS, 10_000):
            pipe.mset({f"unrelated:{i}": "x" for i in range(start, start + 10_000)})
            pipe.execute()
        admin.config_set("slowlog-log-slower-than", 10_000)  # microseconds
        admin.slowlog_reset()
        yield server


def api_slow_commands(admin: redis.Redis) -> list[str]:
    """SLOWLOG entries of the API's connections (its client name)."""
    return [
        " ".join(str(arg) for arg in entry["command"].split()[:3])
        for entry in admin.slowlog_get(1000)
        if entry.get("client_name") == "fullon_cache_api"
    ]


BIG_ROUTES = [
    "/health",
    "/info",
    "/overview",
    "/exchanges",
    "/tickers?limit=1000",
    "/tickers/health",
    "/tickers/bigex",
    "/tickers/bigex/active",
    "/tickers/bigex/S000123/USDT",
    "/ohlcv",
    "/ohlcv/BIG/USDT/timeframes",
    "/ohlcv/BIG/USDT/1m?limit=1",
    "/ohlcv/BIG/USDT/1m?limit=10000",
    f"/ohlcv/BIG/USDT/1m?since={T0 + 150_000 * 60_000}&until={T0 + 150_100 * 60_000}",
    "/orders",
    "/trades",
    "/processes?since_minutes=100000",
]


async def test_no_command_holds_redis_whatever_the_data_size(big_redis) -> None:
    """Every route on the big data: no command the API sends is in Redis's SLOWLOG (10 ms);
    the latest bar of a 300,000-bar series is read from the series' tail (a window or two),
    never by a walk of it. (Its latency is measured by benchmarks/latency.py.)"""
    env = {"REDIS_URL": reader_url(big_redis), "FULLON_CACHE_API_REQUEST_TIMEOUT": "30"}
    with serve_api(env=env) as served, redis.Redis(port=big_redis.port) as admin:
        admin.slowlog_reset()
        async with httpx.AsyncClient(base_url=served.base, timeout=60) as http:
            for path in BIG_ROUTES:
                response = await http.get(path)
                assert response.status_code == 200, (path, response.text[:300])
            page = expect(await http.get("/tickers/bigex", params={"limit": 1000}))
            assert page["count"] == 1000 and "next_cursor" in page
            following = expect(
                await http.get(
                    "/tickers/bigex", params={"limit": 1000, "cursor": page["next_cursor"]}
                )
            )
            assert not {t["symbol"] for t in page["items"]} & {
                t["symbol"] for t in following["items"]
            }
            health = expect(await http.get("/tickers/health"))["items"]
            assert next(r for r in health if r["exchange"] == "bigex")["count"] == BIG_TICKERS
            bars = expect(await http.get("/ohlcv/BIG/USDT/1m", params={"limit": 1}))
            assert bars["bars"][0][0] == T0 + (BIG_SERIES - 1) * 60_000
            with Monitor(big_redis.port) as seen:  # what the latest bar costs Redis
                for i in range(3):  # each time a new bar (the local cache does not answer)
                    admin.rpush("ohlcv:BIG/USDT:1m", json.dumps([T1 + i, 1, 2, 0.5, 1.5, 1]))
                    bars = expect(await http.get("/ohlcv/BIG/USDT/1m", params={"limit": 1}))
                    assert bars["bars"][0][0] == T1 + i
            lists = [c for c in seen.commands if c[0].upper() in ("LRANGE", "LINDEX")]
            windows = [int(c[3]) - int(c[2]) + 1 for c in lists if c[0].upper() == "LRANGE"]
            # a window or two at the tail per request, not a walk of the 300,000 bars
            assert 3 <= len(lists) <= 3 * 2 and max(windows) <= READ_BATCH, lists
            admin.ltrim("ohlcv:BIG/USDT:1m", 0, BIG_SERIES - 1)
        assert api_slow_commands(admin) == []


async def test_websocket_whole_collections_are_capped_whatever_the_data_size(big_redis) -> None:
    """The v0.2.6 actions that answer a whole collection read 10,000 items at most, through the
    REST readers' pages: the first 10,000 tickers of an exchange, the newest 10,000 trades of a
    list, the latest 10,000 bars for ``count: 0``; no command they send is in the SLOWLOG."""
    env = {"REDIS_URL": reader_url(big_redis), "FULLON_CACHE_API_REQUEST_TIMEOUT": "30"}
    with serve_api(env=env) as served, redis.Redis(port=big_redis.port) as admin:
        admin.slowlog_reset()
        base = served.base.replace("http:", "ws:")

        async def ask(path: str, action: str, **params: Any) -> Any:
            async with connect(base + path, max_size=None) as ws:  # answers of megabytes
                await ws.send(json.dumps({"action": action, "params": params}))
                with anyio.fail_after(30):
                    reply = json.loads(await ws.recv())
            assert reply["success"] is True, reply
            return reply["result"]

        tickers = await ask("/ws/tickers/c1", "get_all_tickers", exchange="bigex")
        assert len({t["symbol"] for t in tickers["tickers"]}) == 10_000
        trades = await ask("/ws/trades/c1", "get_trades", exchange="bigex", symbol="BIG/USDT")
        assert [t["trade_id"] for t in trades["trades"]] == list(range(2_000, BIG_TRADES))
        bars = await ask(
            "/ws/ohlcv/c1", "get_latest_ohlcv_bars", symbol="BIG/USDT", timeframe="1m", count=0
        )
        assert [b[0] for b in bars["bars"]] == [
            T0 + i * 60_000 for i in range(BIG_SERIES - 10_000, BIG_SERIES)
        ]
        assert api_slow_commands(admin) == []


async def test_health_is_answered_while_heavy_listings_run(big_redis) -> None:
    """12 heavy requests over the big listings at once: /health, asked again and again from
    when they start, is answered many times before the last of them finishes (it is never
    queued behind them), each time 200. An order of events, no time threshold: its latency
    under load is measured by benchmarks/latency.py."""
    env = {"REDIS_URL": reader_url(big_redis), "FULLON_CACHE_API_REQUEST_TIMEOUT": "120"}
    with serve_api(env=env) as served:
        async with httpx.AsyncClient(base_url=served.base, timeout=120) as http:
            running = HEAVY * 3
            heavy_statuses: list[int] = []
            health_statuses: list[int] = []
            answered_while_running = 0

            async def heavy(path: str) -> None:
                nonlocal running
                try:
                    heavy_statuses.append((await http.get(path)).status_code)
                finally:
                    running -= 1

            async with anyio.create_task_group() as group:
                for path in HEAVY_PATHS * 3:
                    group.start_soon(heavy, path)
                while running:
                    health_statuses.append((await http.get("/health")).status_code)
                    answered_while_running += bool(running)
    assert heavy_statuses == [200] * HEAVY * 3
    assert set(health_statuses) == {200}
    assert answered_while_running >= 5, (answered_while_running, len(health_statuses))


HEAVY_PATHS = [
    "/tickers/health",
    "/tickers/bigex?limit=1000",
    "/overview",
    "/ohlcv/BIG/USDT/1m?limit=10000",
]
HEAVY = len(HEAVY_PATHS)


# A writer on the same Redis ------------------------------------------------------------------


async def test_clients_looping_overview_share_walks_and_hold_redis_for_no_long_command(
    big_redis,
) -> None:
    """20 clients ask /overview (a walk of the whole 600,000-key keyspace) 5 times each, one
    after the other: a writer on the same Redis waits at most for one short command, as no
    command the API sends is in the SLOWLOG (10 ms, Redis's own timing) and the commands
    average well under a millisecond (Redis's own commandstats); identical requests share one
    walk, so the 100 requests make at most a fifth as many walks. The writer's HSET latency
    idle and busy is measured by benchmarks/latency.py."""
    env = {"REDIS_URL": reader_url(big_redis), "FULLON_CACHE_API_REQUEST_TIMEOUT": "120"}
    with serve_api(env=env) as served, redis.Redis(port=big_redis.port) as admin:
        async with httpx.AsyncClient(base_url=served.base, timeout=120) as http:
            admin.config_resetstat()
            admin.slowlog_reset()
            expect(await http.get("/overview"))  # the first: one walk, counted alone
            walk = admin.info("commandstats")["cmdstat_scan"]["calls"]
            answered: list[int] = []

            async def loop() -> None:
                for _ in range(5):
                    answered.append((await http.get("/overview")).status_code)

            admin.config_resetstat()
            async with anyio.create_task_group() as group:
                for _ in range(20):
                    group.start_soon(loop)
            stats = admin.info("commandstats")
        assert api_slow_commands(admin) == []
    assert answered == [200] * 100
    scans = stats.get("cmdstat_scan", {"calls": 0})["calls"]
    assert walk > 0 and scans <= 20 * walk, (scans, walk)
    calls = sum(s["calls"] for s in stats.values())
    usec = sum(s["usec"] for s in stats.values())
    assert usec / calls < 1000, stats


# Memory ----------------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.usefixtures("snapshot")
async def test_memory_returns_after_reads_of_a_huge_value(redis_server, admin) -> None:
    """Eight concurrent reads of a 50 MB stored value (502: larger than the cap, never
    decoded); afterwards the process is back within 100 MB of where it started: the
    connections that read it are closed, not kept with their buffers."""
    admin.hset("tickers:huge", "X/USDT", "x" * 50_000_000)
    env = {
        "REDIS_URL": reader_url(redis_server),
        "FULLON_CACHE_API_COMMAND_TIMEOUT": "20",  # the reads complete, slow as they are
        "FULLON_CACHE_API_REQUEST_TIMEOUT": "60",
    }
    try:
        with serve_api(env=env) as served:
            async with httpx.AsyncClient(base_url=served.base, timeout=90) as http:
                expect(await http.get(fill("/tickers/{exchange}/{symbol}")))
                before = rss_mb(served.process.pid)
                statuses: list[int] = []

                async def read() -> None:
                    statuses.append((await http.get("/tickers/huge/X/USDT")).status_code)

                async with anyio.create_task_group() as group:
                    for _ in range(8):
                        group.start_soon(read)
                assert statuses == [502] * 8
                expect(await http.get(fill("/tickers/{exchange}/{symbol}")))
                await anyio.sleep(0.5)
                after = rss_mb(served.process.pid)
        assert after - before < 100, (before, after)
    finally:
        admin.delete("tickers:huge")
