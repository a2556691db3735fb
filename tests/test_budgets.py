"""Round-trip budgets: every endpoint reads Redis in a fixed number of round trips, however many
items it returns.

Measured on the real test server, around one request: ``INFO all`` before and after gives the
commands the request ran (``commandstats`` calls, by command) and its round trips
(``total_reads_processed``: Redis reads a client's request once per round trip, and a pipeline
arrives in one read). The admin's own two INFO commands are subtracted: the first one's call
and the second one's read fall inside the window. Each request is made once before measuring,
so opening pooled connections (AUTH, CLIENT SETNAME...) is not counted: what is left is what
every request pays.

Every endpoint is asked with its data scaled to 3 and to 50 items. The round trips must be the
budget's, and only pipelined commands may grow with the items: a single item is one command, a
listing over N keys is one pipeline (its keys come from the key index: no request sends SCAN).
No endpoint but ``/health`` sends PING. A new route without a budget here fails
``test_every_endpoint_has_a_budget``.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import anyio
import pytest
import redis

from fullon_cache_api import Settings, create_app, lifespan
from fullon_cache_api.routes import ENDPOINTS

from support import WRITTEN_AT, Clock, reader_url

Fill = Callable[[redis.Redis, int, float], None]
"""Write the data of one case with ``n`` items, as fullon_cache would; ``now`` is the app's."""

SIZES = (3, 50)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


# data -------------------------------------------------------------------------------------------


def _tick(symbol: str, exchange: str) -> str:
    return json.dumps(
        {
            "symbol": symbol,
            "exchange": exchange,
            "price": 100.5,
            "volume": 10.0,
            "time": WRITTEN_AT,
            "bid": 100.0,
            "ask": 101.0,
            "last": 100.5,
        }
    )


def fill_tickers(admin: redis.Redis, n: int, now: float) -> None:
    """``bench`` with n tickers; exchanges ex0..ex{n-1} with two tickers each (n+1 hashes)."""
    pipe = admin.pipeline(transaction=False)
    pipe.hset(
        "tickers:bench", mapping={f"S{i}/USDT": _tick(f"S{i}/USDT", "bench") for i in range(n)}
    )
    for i in range(n - 1):
        exchange = f"ex{i}"
        pipe.hset(
            f"tickers:{exchange}",
            mapping={s: _tick(s, exchange) for s in ("BTC/USDT", "ETH/USDT")},
        )
    pipe.execute()


def fill_exchange_keys(admin: redis.Redis, n: int, now: float) -> None:
    """n ticker hashes and n order queues (n hash keys and n list keys)."""
    pipe = admin.pipeline(transaction=False)
    for i in range(n):
        pipe.hset(f"tickers:ex{i}", "BTC/USDT", _tick("BTC/USDT", f"ex{i}"))
        pipe.rpush(f"new_orders:local-{i}", f"EX-{i}")
    pipe.execute()


def fill_accounts(admin: redis.Redis, n: int, now: float) -> None:
    """ex_id 1 with n currencies and n positions; ex_ids 2..n with one of each (n accounts)."""
    date = _iso(now)

    def balances(count: int) -> str:
        doc: dict[str, object] = {
            f"C{i}": {"free": 1.0 + i, "used": 0.5, "total": 1.5 + i} for i in range(count)
        }
        return json.dumps({**doc, "date": date})

    def positions(count: int) -> str:
        doc: dict[str, object] = {
            f"S{i}/USDT": {
                "cost": 10.0,
                "volume": 0.1,
                "fee": 0.01,
                "count": 1,
                "price": 100.0,
                "timestamp": WRITTEN_AT,
            }
            for i in range(count)
        }
        return json.dumps({**doc, "timestamp": date})

    admin.hset("accounts", mapping={str(e): balances(n if e == 1 else 1) for e in range(1, n + 1)})
    admin.hset(
        "account_positions",
        mapping={str(e): positions(n if e == 1 else 1) for e in range(1, n + 1)},
    )


def _order(order_id: str, exchange: str) -> str:
    return json.dumps(
        {
            "order_id": order_id,
            "ex_order_id": order_id,
            "bot_id": 41,
            "uid": 7,
            "ex_id": 1,
            "exchange": exchange,
            "symbol": "BTC/USDT",
            "side": "buy",
            "order_type": "limit",
            "volume": 0.1,
            "price": 300.0,
            "status": "open",
            "timestamp": _iso(WRITTEN_AT),
        }
    )


def fill_orders(admin: redis.Redis, n: int, now: float) -> None:
    """``bench`` with n orders, ex1..ex{n-1} with one (n hashes); queue ``q0`` of n ids and
    q1..q{n-1} of one (n queues)."""
    pipe = admin.pipeline(transaction=False)
    pipe.hset("order_status:bench", mapping={f"O{i}": _order(f"O{i}", "bench") for i in range(n)})
    pipe.rpush("new_orders:q0", *(f"O{i}" for i in range(n)))
    for i in range(1, n):
        pipe.hset(f"order_status:ex{i}", "O0", _order("O0", f"ex{i}"))
        pipe.rpush(f"new_orders:q{i}", "O0")
    pipe.execute()


def fill_bots(admin: redis.Redis, n: int, now: float) -> None:
    """n bots, n blocks and n opening marks."""
    feed = {"status": "running", "symbols": ["BTC/USDT"], "timestamp": _iso(now)}
    admin.hset("bot_status", mapping={str(40 + i): json.dumps({"feed_0": feed}) for i in range(n)})
    admin.hset("block_exchange", mapping={f"1:S{i}/USDT": str(40 + i) for i in range(n)})
    admin.hset(
        "opening_position", mapping={f"1:S{i}/USDT": f"{40 + i}:{_iso(now)}" for i in range(n)}
    )


def _trade(i: int) -> str:
    return json.dumps(
        {
            "trade_id": i,
            "ex_trade_id": f"T{i}",
            "uid": 7,
            "ex_id": 1,
            "symbol": "BTC/USDT",
            "side": "buy",
            "volume": 0.01,
            "price": 300.0,
            "cost": 3.0,
            "fee": 0.1,
            "time": WRITTEN_AT + i,
        }
    )


def fill_trades(admin: redis.Redis, n: int, now: float) -> None:
    """Exchanges ex0..ex{n-1}, each with a trades list, a user-7 list and both statuses; the
    ex0 lists hold n trades, the others one."""
    pipe = admin.pipeline(transaction=False)
    for i in range(n):
        count = n if i == 0 else 1
        pipe.rpush(f"trades:ex{i}:BTCUSDT", *(_trade(t) for t in range(count)))
        pipe.rpush(f"user_trades:7:ex{i}", *(_trade(t) for t in range(count)))
        pipe.set(f"TRADE:STATUS:ex{i}", _iso(now))
        pipe.set(f"USER_TRADE:STATUS:ex{i}", _iso(now))
    pipe.execute()


def fill_ohlcv(admin: redis.Redis, n: int, now: float) -> None:
    """``BTC/USDT`` in n timeframes (1m..{n}m); the 1m series holds n bars, the others one."""
    base = int(WRITTEN_AT) * 1000
    pipe = admin.pipeline(transaction=False)
    for k in range(1, n + 1):
        count = n if k == 1 else 1
        bars = (json.dumps([base + i * 60_000, 1.0, 2.0, 0.5, 1.5, 10.0]) for i in range(count))
        pipe.rpush(f"ohlcv:BTC/USDT:{k}m", *bars)
    pipe.execute()


def _process_type(i: int) -> str:
    return "tick" if i == 0 else f"type{i}"


def fill_processes(admin: redis.Redis, n: int, now: float) -> None:
    """n live processes, each of its own type (n ``process:active:*`` hashes)."""
    pipe = admin.pipeline(transaction=False)
    for i in range(n):
        kind, component = _process_type(i), f"comp{i}"
        process_id = f"{kind}:{component}:{WRITTEN_AT}"
        record = {
            "process_id": process_id,
            "process_type": kind,
            "component": component,
            "params": {},
            "status": "running",
            "message": "ok",
            "created_at": _iso(now - 60),
            "updated_at": _iso(now),
            "heartbeat": _iso(now),
        }
        pipe.set(f"process:data:{process_id}", json.dumps(record), ex=86400)
        pipe.hset(f"process:active:{kind}", process_id, _iso(now))
        pipe.hset("process:components", component, process_id)
    pipe.execute()


def fill_nothing(admin: redis.Redis, n: int, now: float) -> None:
    fill_tickers(admin, n, now)  # data the request does not read


# budgets ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One request and its Redis budget."""

    template: str
    """The route table path this request exercises."""
    path: str
    fill: Fill
    fixed: dict[str, int] = field(default_factory=dict)
    """Commands sent whatever the number of items."""
    per_item: dict[str, int] = field(default_factory=dict)
    """Commands sent per item: allowed only inside a pipeline (or multi-key command)."""
    trips: int = 0
    """Round trips: constant."""

    def commands(self, n: int) -> Counter[str]:
        expected = Counter(self.fixed)
        for name, count in self.per_item.items():
            expected[name] += count * n
        return expected


PING = {"ping": 1}
HGET = {"hget": 1}
HGETALL = {"hgetall": 1}
LRANGE = {"lrange": 1}
HLEN_HGETALL = {"hlen": 1, "hgetall": 1}
LLEN_LRANGE = {"llen": 1, "lrange": 1}

CASES: tuple[Case, ...] = (
    # Service
    Case("/health", "/health", fill_nothing, PING, trips=1),
    Case("/info", "/info", fill_nothing, {"info": 3}, trips=1),
    Case(
        "/overview",
        "/overview",
        fill_exchange_keys,
        {"info": 3},
        {"hlen": 1, "llen": 1},
        trips=1,
    ),
    Case("/exchanges", "/exchanges", fill_exchange_keys, {}, {"hlen": 1}, trips=1),
    Case("/metrics", "/metrics", fill_nothing),  # the process's own counters, no Redis
    # Docs: no Redis at all
    Case("/openapi.json", "/openapi.json", fill_nothing),
    Case("/docs", "/docs", fill_nothing),
    Case("/docs/{asset}", "/docs/swagger-ui.css", fill_nothing),
    # Pages for people: no Redis at all (the live page's script reads the API like any client)
    Case("/", "/", fill_nothing),
    Case("/ui", "/ui", fill_nothing),
    Case("/ui/{asset}", "/ui/live.js", fill_nothing),
    # Tickers
    # Hashes: HLEN (in one pipeline for a family), then HGETALL of the small ones in one more.
    Case("/tickers", "/tickers", fill_tickers, {}, HLEN_HGETALL, trips=2),
    Case("/tickers", "/tickers?symbols=BTC/USDT", fill_tickers, {}, HLEN_HGETALL, trips=2),
    Case("/tickers/health", "/tickers/health", fill_tickers, {}, HLEN_HGETALL, trips=2),
    Case("/tickers/{exchange}", "/tickers/bench", fill_tickers, HLEN_HGETALL, trips=2),
    Case(
        "/tickers/{exchange}",
        "/tickers/bench?symbols=S0/USDT,S1/USDT,S2/USDT",
        fill_tickers,
        {"hmget": 1},
        trips=1,
    ),
    Case(
        "/tickers/{exchange}/active", "/tickers/bench/active", fill_tickers, HLEN_HGETALL, trips=2
    ),
    Case(
        "/tickers/{exchange}/{symbol:path}",
        "/tickers/bench/S1/USDT",
        fill_tickers,
        HGET,
        trips=1,
    ),
    # Accounts
    Case("/accounts", "/accounts", fill_accounts, {"hlen": 2, "hgetall": 2}, trips=2),
    Case("/accounts/{ex_id}/balances", "/accounts/1/balances", fill_accounts, HGET, trips=1),
    Case(
        "/accounts/{ex_id}/balances/{currency}",
        "/accounts/1/balances/C1",
        fill_accounts,
        HGET,
        trips=1,
    ),
    Case("/accounts/{ex_id}/positions", "/accounts/1/positions", fill_accounts, HGET, trips=1),
    Case(
        "/accounts/{ex_id}/positions/{symbol:path}",
        "/accounts/1/positions/S1/USDT",
        fill_accounts,
        HGET,
        trips=1,
    ),
    Case("/accounts/{ex_id}/status", "/accounts/1/status", fill_accounts, {"hget": 2}, trips=1),
    # Orders
    Case("/orders", "/orders?limit=1000", fill_orders, {}, HLEN_HGETALL, trips=2),
    Case(
        "/orders",
        "/orders?status=open&limit=1000",
        fill_orders,
        {},
        HLEN_HGETALL,
        trips=2,
    ),
    Case("/orders/queues", "/orders/queues", fill_orders, {}, {"llen": 1}, trips=1),
    Case(
        "/orders/queues/{name:path}",
        "/orders/queues/q0",
        fill_orders,
        {"llen": 1, "lrange": 1},
        trips=1,
    ),
    Case("/orders/{exchange}", "/orders/bench?limit=1000", fill_orders, HLEN_HGETALL, trips=2),
    Case("/orders/{exchange}/{order_id:path}", "/orders/bench/O1", fill_orders, HGET, trips=1),
    # Bots
    Case("/bots", "/bots", fill_bots, HLEN_HGETALL, trips=2),
    # the blocks' page, then the opening marks of its pairs
    Case("/bots/blocks", "/bots/blocks", fill_bots, {**HLEN_HGETALL, "hmget": 1}, trips=3),
    Case(
        "/bots/coordination",
        "/bots/coordination",
        fill_bots,
        {"hlen": 2, "hgetall": 2},
        trips=2,
    ),
    Case(
        "/bots/blocks/{ex_id}/{symbol:path}",
        "/bots/blocks/1/S1/USDT",
        fill_bots,
        {"hget": 2},
        trips=1,
    ),
    Case("/bots/{bot_id}", "/bots/41", fill_bots, HGET, trips=1),
    # Trades
    # the lists' lengths, then their exchanges' statuses
    Case("/trades", "/trades", fill_trades, {}, {"llen": 1, "get": 1}, trips=2),
    Case("/trades/status", "/trades/status", fill_trades, {}, {"get": 2}, trips=1),
    Case(
        "/trades/metrics",
        "/trades/metrics",
        fill_trades,
        {},
        {"llen": 2, "get": 2},
        trips=3,
    ),
    Case("/trades/users/{uid}", "/trades/users/7", fill_trades, {}, {"llen": 1}, trips=1),
    Case(
        "/trades/users/{uid}/{exchange}",
        "/trades/users/7/ex0?limit=1000",
        fill_trades,
        LLEN_LRANGE,
        trips=1,
    ),
    Case(
        "/trades/{exchange}/{symbol:path}",
        "/trades/ex0/BTC/USDT?limit=1000",
        fill_trades,
        LLEN_LRANGE,
        trips=1,
    ),
    # OHLCV
    Case("/ohlcv", "/ohlcv", fill_ohlcv, {}, {"llen": 1, "lindex": 2}, trips=1),
    Case("/ohlcv/{symbol:path}/timeframes", "/ohlcv/BTC/USDT/timeframes", fill_ohlcv),
    # LLEN, then one window (a series this short needs no LINDEX probes to find it)
    Case(
        "/ohlcv/{symbol:path}/{timeframe}", "/ohlcv/BTC/USDT/1m", fill_ohlcv, LLEN_LRANGE, trips=2
    ),
    Case(
        "/ohlcv/{symbol:path}/{timeframe}",
        "/ohlcv/BTC/USDT/1m?limit=2&since=0",
        fill_ohlcv,
        LLEN_LRANGE,
        trips=2,
    ),
    # Processes: the active hashes (HLEN, HGETALL) name the records to read (MGET).
    Case(
        "/processes",
        "/processes",
        fill_processes,
        {"mget": 1},
        HLEN_HGETALL,
        trips=3,
    ),
    Case(
        "/processes",
        "/processes?type=tick",
        fill_processes,
        {"hlen": 1, "hgetall": 1, "mget": 1},
        trips=3,
    ),
    Case(
        "/processes/health",
        "/processes/health",
        fill_processes,
        {"mget": 1},
        HLEN_HGETALL,
        trips=3,
    ),
    Case(
        "/processes/components/{component:path}",
        "/processes/components/comp1",
        fill_processes,
        {"hget": 1, "get": 1},
        trips=2,
    ),
    Case(
        "/processes/{process_id:path}",
        f"/processes/type1:comp1:{WRITTEN_AT}",
        fill_processes,
        {"get": 1},
        trips=1,
    ),
)


# measuring --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    reads: int
    calls: Counter[str]
    refused: Counter[str]
    """Rejected and failed calls by command (a write refused by the ACL would show here)."""


def server_counts(admin: redis.Redis) -> Counts:
    info = admin.info("all")
    calls: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    for name, stats in info.items():
        if name.startswith("cmdstat_"):
            command = name.removeprefix("cmdstat_")
            calls[command] = stats["calls"]
            refused[command] = stats.get("rejected_calls", 0) + stats.get("failed_calls", 0)
    return Counts(info["total_reads_processed"], calls, refused)


@dataclass(frozen=True)
class Measured:
    status: int
    trips: int
    commands: Counter[str]
    refused: Counter[str]
    body: bytes
    """The answer's first bytes (what a failed budget shows)."""


@pytest.fixture
def settings(redis_server) -> Settings:
    """The budgets are what a request costs Redis: with the local cache off (with it on, the
    repeated request would cost nothing; tests/test_local_cache.py measures that)."""
    return Settings(redis_url=reader_url(redis_server), local_cache=False)


async def measure(client, admin: redis.Redis, path: str) -> Measured:
    """The Redis work of one request for ``path``, after a first request warmed things up."""
    await client.get(path)
    before = server_counts(admin)
    response = await client.get(path)
    after = server_counts(admin)
    commands = after.calls - before.calls
    commands -= Counter(info=1)  # the admin's first INFO (its second one is not counted yet)
    trips = after.reads - before.reads - 1  # the admin's second INFO is one read
    refused = after.refused - before.refused
    return Measured(response.status_code, trips, commands, refused, response.content[:300])


# tests ------------------------------------------------------------------------------------------


STREAMS = {
    "/stream/tickers",
    "/stream/orders",
    "/stream/orders/queues",
    "/stream/accounts/{ex_id}",
    "/stream/bots",
    "/stream/processes",
    "/stream/trades/{exchange}/{symbol:path}",
    "/stream/ohlcv/{symbol:path}/{timeframe}",
}
"""Long-lived endpoints, budgeted by ``test_a_stream_subscribes_once_and_never_polls`` (tickers)
and ``tests/test_live.py`` (the watched streams: their reads per coalescing window, whatever
their listeners)."""


def test_every_endpoint_has_a_budget() -> None:
    templates = [e.path for e in ENDPOINTS]
    missing = [t for t in templates if t not in {c.template for c in CASES} | STREAMS]
    assert not missing, f"routes without a Redis budget in tests/test_budgets.py: {missing}"
    stale = [t for t in [c.template for c in CASES] + sorted(STREAMS) if t not in templates]
    assert not stale, f"budgets for routes that are not in the table: {stale}"


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("case", CASES, ids=[c.path for c in CASES])
async def test_round_trips_within_budget(case: Case, n: int, admin, client, clock: Clock) -> None:
    case.fill(admin, n, clock.now)
    got = await measure(client, admin, case.path)

    assert got.status == 200
    assert not got.refused
    if case.template != "/health":
        assert "ping" not in got.commands, "no per-request PING"
    assert got.commands == case.commands(n), got  # no SCAN: keys come from the key index
    assert got.trips == case.trips


async def test_the_measure_tells_round_trips_from_commands(admin, redis_server) -> None:
    """The instrument itself: five HGETs one by one are five round trips, the same five in one
    pipeline are one (so a reader that loops per item fails the budgets above)."""
    from redis.asyncio import Redis

    fill_tickers(admin, 5, 0.0)
    fields = [f"S{i}/USDT" for i in range(5)]
    async with Redis(port=redis_server.port) as reader:
        await reader.ping()  # connected before measuring
        before = server_counts(admin)
        for name in fields:
            await reader.hget("tickers:bench", name)
        middle = server_counts(admin)
        pipe = reader.pipeline(transaction=False)
        for name in fields:
            pipe.hget("tickers:bench", name)
        await pipe.execute()
        after = server_counts(admin)
    assert middle.reads - before.reads - 1 == 5
    assert after.reads - middle.reads - 1 == 1
    assert (middle.calls - before.calls)["hget"] == (after.calls - middle.calls)["hget"] == 5


# streams ----------------------------------------------------------------------------------------

CONNECTION_SETUP = {"auth", "hello", "client", "select"}
"""Commands redis-py sends when it opens a connection (AUTH, CLIENT SETNAME/SETINFO...)."""


async def _until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    with anyio.fail_after(seconds):
        while not condition():
            await anyio.sleep(0.01)


async def test_a_stream_subscribes_once_and_never_polls(admin, settings, clock: Clock) -> None:
    """Opening /stream/tickers is one PSUBSCRIBE (plus opening its connection) and its
    snapshot's read (one HLEN: the exchange has no tickers hash); while it is open, heartbeats
    and updates cost Redis nothing but the hub's own heartbeat: the subscription pushes,
    nobody polls."""
    app = create_app(replace(settings, stream_heartbeat=0.05), clock=clock)
    body = bytearray()
    gone = anyio.Event()

    async def receive() -> dict[str, object]:
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        chunk = message.get("body")
        if isinstance(chunk, bytes):
            body.extend(chunk)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/stream/tickers",
        "raw_path": b"/stream/tickers",
        "root_path": "",
        "query_string": b"exchange=bench",
        "headers": [(b"host", b"api")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    async with lifespan(app), anyio.create_task_group() as tasks:
        before = server_counts(admin)
        started = time.monotonic()
        tasks.start_soon(app, scope, receive, send)
        await _until(lambda: b": subscribed" in body)
        opened = server_counts(admin)
        await _until(lambda: body.count(b": heartbeat") >= 3)  # idle heartbeats
        admin.publish("ticker_updates:bench:BTC/USDT", _tick("BTC/USDT", "bench"))
        await _until(lambda: b"event: ticker" in body)
        after = server_counts(admin)
        gone.set()

    # The hub's heartbeat (a PING after each second of silence on its connection, whatever
    # the number of streams) is the one command besides: it finds a connection that died.
    seconds = time.monotonic() - started
    opening = (opened.calls - before.calls) - Counter(info=1)
    assert _beyond_setup(opening) - Counter(ping=opening["ping"]) == Counter(psubscribe=1, hlen=1)
    streaming = (after.calls - opened.calls) - Counter(info=1, publish=1)
    pings = streaming.pop("ping", 0) + opening["ping"]
    assert streaming == Counter(), "an open stream sends no commands"
    assert pings <= seconds + 1
    # the admin's PUBLISH and INFO are two reads; the app's are its heartbeats only
    assert after.reads - opened.reads - 2 <= pings
    assert not _beyond_setup(after.refused - before.refused)


def _beyond_setup(commands: Counter[str]) -> Counter[str]:
    """``commands`` without those that open a connection (``client|setinfo`` on Redis 7)."""
    return Counter({n: c for n, c in commands.items() if n.split("|")[0] not in CONNECTION_SETUP})
