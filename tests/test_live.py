"""The live streams (docs/API.md, Streams), on a real hypercorn serving the app on the test's
loop and a real Redis written as fullon_cache's writers write it: for every family the first
event is a snapshot equal to its REST twin's body, and a write by another client shows as the
right event; a reconnect with ``Last-Event-ID`` gets a snapshot marked ``resumed``; a listener
behind its queue gets a fresh snapshot; tracking lost and back, a fresh snapshot; authorized as
the twins are (the README's hook: no stream yields another account's data).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, NamedTuple

import anyio
import httpx
import pytest
import redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount

from fullon_cache_api import Settings, create_app

from support import (
    GENERATED_AT,
    SetReadmeUser,
    events,
    expect,
    http_client,
    newest_hub,
    next_event,
    readme_authorize,
    serve_in_process,
)

pytestmark = [pytest.mark.usefixtures("snapshot"), pytest.mark.slow]


class Served(NamedTuple):
    app: Starlette
    http: httpx.AsyncClient


@pytest.fixture
async def served(settings: Settings, clock) -> AsyncIterator[Served]:
    clock.now = GENERATED_AT + 30  # the snapshot's processes are active
    app = create_app(dataclasses.replace(settings, ws_poll_interval=3600.0), clock=clock)
    async with serve_in_process(app) as base:
        url = base.replace("ws:", "http:")
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            yield Served(app, http)


def order(status: str = "open", uid: int = 7) -> str:
    return json.dumps(
        {"symbol": "XRP/USDT", "side": "buy", "volume": 1.0, "status": status, "uid": uid}
    )


def trade(trade_id: int) -> str:
    return json.dumps({"trade_id": trade_id, "symbol": "BTC/USDT", "side": "sell", "volume": 1.0})


def positions(volume: float) -> str:
    position = {"cost": 1.0, "volume": volume, "fee": 0.0, "count": 1, "price": 3.0}
    return json.dumps({"BTC/USDT": position, "timestamp": "2026-11-26T05:00:00+00:00"})


def register(admin: redis.Redis) -> None:
    pid = "tick:binance:XRP/USDT:1795668790.0"
    record = {"process_id": pid, "process_type": "tick", "component": "binance:XRP/USDT"}
    admin.set(f"process:data:{pid}", json.dumps({**record, "status": "running"}), ex=86400)
    admin.hset("process:active:tick", pid, "2026-11-26T04:53:10+00:00")


class Case(NamedTuple):
    stream: str
    twins: dict[str, str] | str
    """The REST route whose body the snapshot is, or the routes of each of its parts."""
    write: Callable[[redis.Redis], Any]
    event: str
    shows: Callable[[Any], bool]
    """What the write's event holds."""


BAR = [1764100000000, 1.0, 2.0, 0.5, 1.5, 9.0]
AGAIN = [1764099940000, 119.0, 121.0, 118.0, 120.5, 25.0]  # the last candle, sent again
FEEDS = json.dumps({"feed_0": {"status": "stopped", "timestamp": "2026-11-26T05:00:00+00:00"}})


def balances(usdt_free: float) -> str:
    """ex_id 1's balances as fullon_cache's upsert_user_account writes them (whole document)."""
    usdt = {"free": usdt_free, "used": 5000.0 - usdt_free, "total": 5000.0}
    btc = {"free": 0.5, "used": 0.0, "total": 0.5}
    return json.dumps({"USDT": usdt, "BTC": btc, "date": "2026-11-26T05:00:00+00:00"})


CASES = {
    "orders of an exchange": Case(
        "/stream/orders?exchange=binance",
        "/orders/binance",
        lambda admin: admin.hset("order_status:binance", "NEW-1", order()),
        "upsert",
        lambda data: (
            (data["exchange"], data["order_id"], data["status"]) == ("binance", "NEW-1", "open")
        ),
    ),
    "an order deleted": Case(
        "/stream/orders?exchange=binance",
        "/orders/binance",
        lambda admin: admin.hdel("order_status:binance", "BINANCE-00002"),
        "delete",
        lambda data: data == {"exchange": "binance", "order_id": "BINANCE-00002"},
    ),
    "orders, filtered": Case(
        "/stream/orders?status=open",
        "/orders?status=open",
        lambda admin: admin.hset("order_status:kraken", "KRAKEN-00004", order("filled")),
        "delete",  # it left the filter
        lambda data: data == {"exchange": "kraken", "order_id": "KRAKEN-00004"},
    ),
    "order queues": Case(
        "/stream/orders/queues",
        "/orders/queues",
        lambda admin: admin.rpush("new_orders:local-binance", "EX-9"),
        "upsert",
        lambda data: data == {"name": "local-binance", "length": 2},
    ),
    "an account's positions": Case(
        "/stream/accounts/1",
        {"ex_id": "1", "balances": "/accounts/1/balances", "positions": "/accounts/1/positions"},
        lambda admin: admin.hset("account_positions", "1", positions(-0.5)),
        "positions.upsert",
        lambda data: (data["symbol"], data["volume"]) == ("BTC/USDT", -0.5),
    ),
    "bots' blocks": Case(
        "/stream/bots",
        {"bots": "/bots", "coordination": "/bots/coordination"},
        lambda admin: admin.hset("block_exchange", "2:ETH/USD", "42"),
        "blocks.upsert",
        lambda data: (data["ex_id"], data["symbol"], data["bot_id"]) == ("2", "ETH/USD", "42"),
    ),
    "processes": Case(
        "/stream/processes",
        "/processes",
        register,
        "upsert",
        lambda data: data["process_id"] == "tick:binance:XRP/USDT:1795668790.0",
    ),
    "public trades": Case(
        "/stream/trades/binance/BTC/USDT",
        "/trades/binance/BTC/USDT",
        lambda admin: admin.rpush("trades:binance:BTCUSDT", trade(9001)),
        "append",
        lambda data: [t["trade_id"] for t in data] == ["9001"],
    ),
    "candles": Case(
        "/stream/ohlcv/BTC/USDT/1m",
        "/ohlcv/BTC/USDT/1m",
        lambda admin: admin.rpush("ohlcv:BTC/USDT:1m", json.dumps(BAR)),
        "append",
        lambda data: data == [BAR],
    ),
    "an account's balances": Case(
        "/stream/accounts/1",
        {"ex_id": "1", "balances": "/accounts/1/balances", "positions": "/accounts/1/positions"},
        lambda admin: admin.hset("accounts", "1", balances(4100.0)),
        "balances.upsert",
        lambda data: data == {"currency": "USDT", "free": 4100.0, "used": 900.0, "total": 5000.0},
    ),
    "a queue consumed": Case(
        "/stream/orders/queues",
        "/orders/queues",
        lambda admin: admin.lpop("new_orders:local-kraken"),  # as the order service's BLPOP
        "delete",
        lambda data: data == {"name": "local-kraken"},
    ),
    "bots' feeds": Case(
        "/stream/bots",
        {"bots": "/bots", "coordination": "/bots/coordination"},
        lambda admin: admin.hset("bot_status", "41", FEEDS),
        "bots.upsert",
        lambda data: data["bot_id"] == "41" and data["feeds"]["feed_0"]["status"] == "stopped",
    ),
    "a candle sent again": Case(
        "/stream/ohlcv/BTC/USDT/1m",
        "/ohlcv/BTC/USDT/1m",
        lambda admin: admin.rpush("ohlcv:BTC/USDT:1m", json.dumps(AGAIN)),
        "upsert",
        lambda data: data == AGAIN,
    ),
    "a trade list consumed": Case(
        "/stream/trades/binance/BTC/USDT",
        "/trades/binance/BTC/USDT",
        lambda admin: admin.lpop("trades:binance:BTCUSDT"),
        "snapshot",  # not an append: only a snapshot tells
        lambda data: data["count"] == 2,
    ),
    "tickers": Case(
        "/stream/tickers?exchange=binance",
        "/tickers/binance",
        lambda admin: admin.publish(
            "ticker_updates:binance:BTC/USDT", json.dumps({"price": 7.0, "time": 1.0})
        ),
        "ticker",
        lambda data: (data["symbol"], data["price"]) == ("BTC/USDT", 7.0),
    ),
}


async def twin_body(http: httpx.AsyncClient, twins: dict[str, str] | str) -> Any:
    """The body of the twin route, or of each part's (a value that is no path: as it is)."""
    if isinstance(twins, str):
        return expect(await http.get(twins))
    found: dict[str, Any] = {}
    for part, path in twins.items():
        if not path.startswith("/"):
            found[part] = path
        elif (response := await http.get(path)).status_code == 404:
            found[part] = None
        else:
            found[part] = expect(response)
    return found


@pytest.mark.parametrize("name", list(CASES))
async def test_the_snapshot_is_the_rest_body_and_a_write_is_its_event(name, served, admin) -> None:
    case = CASES[name]
    async with served.http.stream("GET", case.stream) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = events(response)
        first = await next_event(stream)
        twin = await twin_body(served.http, case.twins)
        assert (first.name, first.data) == ("snapshot", twin)
        assert first.id is not None and first.id.isdigit()
        case.write(admin)
        changed = await next_event(stream)
        assert changed.name == case.event, changed
        assert case.shows(changed.data), changed.data
        assert int(changed.id or 0) > int(first.id)


# resuming, falling behind, tracking lost -----------------------------------------------------


async def test_a_reconnect_with_last_event_id_gets_a_snapshot_marked_resumed(served) -> None:
    headers = {"Last-Event-ID": "41"}
    async with served.http.stream("GET", "/stream/orders/queues", headers=headers) as response:
        first = await next_event(events(response))
    twin = expect(await served.http.get("/orders/queues"))
    assert (first.name, first.data) == ("snapshot", {"resumed": True, **twin})


async def test_a_listener_behind_its_queue_gets_a_fresh_snapshot_of_the_final_state(
    settings, clock, admin
) -> None:
    """A queue of 2 events: one write of five orders (one read: five upserts) puts the
    listener behind; it gets a snapshot of the state instead, equal to REST's, then goes on."""
    app = create_app(dataclasses.replace(settings, stream_queue=2), clock=clock)
    async with serve_in_process(app) as base:
        url = base.replace("ws:", "http:")
        async with (
            httpx.AsyncClient(base_url=url, timeout=60) as http,
            http.stream("GET", "/stream/orders?exchange=binance") as response,
        ):
            stream = events(response)
            assert (await next_event(stream)).name == "snapshot"
            admin.hset("order_status:binance", mapping={f"NEW-{n}": order() for n in range(5)})
            fresh = await next_event(stream)
            assert (fresh.name, fresh.data) == (
                "snapshot",
                expect(await http.get("/orders/binance")),
            )
            assert fresh.data["count"] == 8
            admin.hdel("order_status:binance", "NEW-0")
            gone = await next_event(stream)
            assert (gone.name, gone.data) == (
                "delete",
                {"exchange": "binance", "order_id": "NEW-0"},
            )


async def test_tracking_lost_and_back_sends_a_fresh_snapshot(served, admin) -> None:
    async with served.http.stream("GET", "/stream/orders?exchange=kraken") as response:
        stream = events(response)
        assert (await next_event(stream)).name == "snapshot"
        hub = newest_hub(admin)
        admin.client_kill_filter(_id=hub["id"])
        admin.hset("order_status:kraken", "KRAKEN-00009", order())  # while no tracking
        names = set()
        while "snapshot" not in names:  # the write's upsert (polled, or read again) may come
            event = await next_event(stream)
            names.add(event.name)
            if event.name == "snapshot":
                assert event.data == expect(await served.http.get("/orders/kraken"))
        assert names <= {"upsert", "snapshot"}


# authorization: as the twins -------------------------------------------------------------------


AUTHORIZED = [  # (stream, its REST twin), with the README's hook for the owner of ex_id 11, uid 5
    ("/stream/orders?exchange=3", "/orders/3"),
    ("/stream/orders?exchange=11", "/orders/11"),
    ("/stream/orders?uid=5", "/orders?uid=5"),
    ("/stream/orders?uid=7", "/orders?uid=7"),
    ("/stream/orders", "/orders"),
    ("/stream/orders?exchange=binance", "/orders/binance"),
    ("/stream/orders/queues", "/orders/queues"),
    ("/stream/tickers", "/tickers"),
    ("/stream/accounts/3", "/accounts/3/balances"),
    ("/stream/accounts/11", "/accounts/11/balances"),
    ("/stream/bots", "/bots"),
    ("/stream/processes", "/processes"),
    ("/stream/trades/binance/BTC/USDT", "/trades/binance/BTC/USDT"),
    ("/stream/ohlcv/BTC/USDT/1m", "/ohlcv/BTC/USDT/1m"),
]


async def test_a_stream_is_authorized_as_its_twin_before_any_event(settings, clock) -> None:
    """With ``require_user`` and the README's ``authorize`` hook: a stream that would show
    another account's data, or data across accounts, is 403 (no event), as its twin is."""
    cache_app = create_app(settings, clock=clock, require_user=True, authorize=readme_authorize)
    host = Starlette(
        routes=[Mount("/api/v1/cache", app=cache_app)], middleware=[Middleware(SetReadmeUser)]
    )
    async with http_client(host) as http:
        for stream, twin in AUTHORIZED:
            opened = await http.head("/api/v1/cache" + stream)  # HEAD: authorized, not opened
            rest = await http.get("/api/v1/cache" + twin)
            assert (opened.status_code == 403) == (rest.status_code == 403), (stream, rest)
            if opened.status_code == 403:
                refused = await http.get("/api/v1/cache" + stream)
                assert refused.status_code == 403 and b"event:" not in refused.content
    allowed = [s for s, _ in AUTHORIZED if s.endswith(("=11", "uid=5", "/11"))]
    assert allowed == ["/stream/orders?exchange=11", "/stream/orders?uid=5", "/stream/accounts/11"]


async def test_an_allowed_stream_shows_only_the_users_own_orders(settings, clock, admin) -> None:
    """The owner of uid 5 streams ``?uid=5``: neither the snapshot nor any event shows an order
    of another user, written before or after."""
    cache_app = create_app(settings, clock=clock, require_user=True, authorize=readme_authorize)
    host = Starlette(
        routes=[Mount("/api/v1/cache", app=cache_app)], middleware=[Middleware(SetReadmeUser)]
    )
    admin.hset("order_status:binance", "MINE-1", order(uid=5))
    async with serve_in_process(host) as base:
        url = base.replace("ws:", "http:") + "/api/v1/cache"
        async with (
            httpx.AsyncClient(base_url=url, timeout=60) as http,
            http.stream("GET", "/stream/orders", params={"uid": "5"}) as response,
        ):
            stream = events(response)
            first = await next_event(stream)
            assert [o["order_id"] for o in first.data["items"]] == ["MINE-1"]
            admin.hset("order_status:binance", "THEIRS-1", order(uid=7))
            admin.hset("order_status:binance", "MINE-2", order(uid=5))
            changed = await next_event(stream)
            assert (changed.name, changed.data["order_id"]) == ("upsert", "MINE-2")


# one watcher, many listeners -------------------------------------------------------------------

READS = {"hlen", "hgetall", "hscan", "pttl", "exists", "llen", "lrange", "get", "hget", "hmget"}
"""The read commands an orders stream's reads may send."""


def read_calls(admin: redis.Redis) -> int:
    stats = admin.info("commandstats")
    return sum(int(s["calls"]) for n, s in stats.items() if n.removeprefix("cmdstat_") in READS)


class Follower:
    """A stream's orders (order id -> volume) as its events tell them."""

    def __init__(self) -> None:
        self.state: dict[str, float] = {}
        self.snapshots = 0

    async def follow(self, response: httpx.Response, final: dict[str, float]) -> None:
        """Apply the events until the state is ``final``."""
        async for event in events(response):
            if event.name == "snapshot":
                self.snapshots += 1
                self.state = {o["order_id"]: o["volume"] for o in event.data["items"]}
            elif event.name == "upsert":
                self.state[event.data["order_id"]] = event.data["volume"]
            elif event.name == "delete":
                self.state.pop(event.data["order_id"], None)
            if self.state == final:
                return


async def test_100_listeners_of_one_stream_cost_the_reads_of_one(redis_server, admin) -> None:
    """100 streams of one exchange's orders (a real server process) while a writer sends 500
    HSETs: the API's read commands stay within twice one read's per coalescing window of the
    writes (plus the snapshots, counted apart), and every listener ends with the final state."""
    from support import reader_url, serve_api

    window = 0.05
    env = {
        "REDIS_URL": reader_url(redis_server),
        "FULLON_CACHE_API_MAX_STREAMS": "200",
        "FULLON_CACHE_API_MAX_STREAMS_PER_CLIENT": "200",
        "FULLON_CACHE_API_STREAM_COALESCE": str(window),
        "FULLON_CACHE_API_WS_POLL_INTERVAL": "3600",
    }
    final = {f"L-{n % 50}": float(n) for n in range(500)}  # each order's last volume
    with serve_api(env=env) as served:
        limits = httpx.Limits(max_connections=200)
        async with (
            httpx.AsyncClient(base_url=served.base, timeout=60, limits=limits) as http,
            contextlib.AsyncExitStack() as stack,
        ):
            responses = [
                await stack.enter_async_context(
                    http.stream("GET", "/stream/orders", params={"exchange": "load", "limit": 100})
                )
                for _ in range(100)
            ]
            followers = [Follower() for _ in responses]
            with anyio.fail_after(100):
                async with anyio.create_task_group() as group:
                    for response, follower in zip(responses, followers, strict=True):
                        group.start_soon(follower.follow, response, final)
                    while not all(f.snapshots for f in followers):
                        await anyio.sleep(0.05)
                    one = read_calls(admin)
                    admin.hset("order_status:load", "L-0", json.dumps({"volume": -1.0}))
                    while not all(f.state == {"L-0": -1.0} for f in followers):
                        await anyio.sleep(0.01)
                    per_read = read_calls(admin) - one - 1  # the INFO of the last call
                    before = read_calls(admin)

                    def writer() -> float:
                        began = time.monotonic()
                        with redis.Redis(port=redis_server.port) as own:
                            for n in range(500):
                                volume = json.dumps({"volume": float(n), "status": "open"})
                                own.hset("order_status:load", f"L-{n % 50}", volume)
                                time.sleep(0.004)
                        return time.monotonic() - began

                    took = await anyio.to_thread.run_sync(writer)
            made = read_calls(admin) - before - 1
    assert all(f.state == final and f.snapshots == 1 for f in followers)
    assert 0 < per_read <= 6, per_read
    assert made <= per_read * (2 * took / window + 2), (made, per_read, took)


# the clock, the slots ---------------------------------------------------------------------------


async def test_processes_going_stale_with_the_clock_are_upserted(settings, clock, admin) -> None:
    """No write: the clock moves past ``stale_after``, and the next read (every poll interval:
    the clock changes this stream) upserts each process as stale."""
    clock.now = GENERATED_AT + 30
    app = create_app(dataclasses.replace(settings, ws_poll_interval=0.05), clock=clock)
    async with serve_in_process(app) as base:
        url = base.replace("ws:", "http:")
        params = {"since_minutes": "60", "stale_after": "300"}
        async with (
            httpx.AsyncClient(base_url=url, timeout=60) as http,
            http.stream("GET", "/stream/processes", params=params) as response,
        ):
            stream = events(response)
            first = await next_event(stream)
            assert not any(p["stale"] for p in first.data["items"]) and first.data["count"] == 4
            clock.now += 400
            stale = {(await next_event(stream)).data["process_id"] for _ in range(4)}
            rest = expect(await http.get("/processes", params=params))
    assert stale == {p["process_id"] for p in rest["items"] if p["stale"]}
    assert len(stale) == 4


async def test_every_stream_gives_its_slots_back_on_every_path(served) -> None:
    """Refused at its snapshot (404, 400), ended by its client: no slot, watcher or per-client
    count is left."""
    hub = served.app.state.backend.resources().hub
    assert expect(await served.http.get("/stream/ohlcv/NOPE/USDT/1m"), 404)
    bad = {"since": "5", "until": "1"}
    assert expect(await served.http.get("/stream/ohlcv/BTC/USDT/1m", params=bad), 400)
    for path in ("/stream/bots", "/stream/accounts/2", "/stream/processes"):
        async with served.http.stream("GET", path) as response:
            assert (await next_event(events(response))).name == "snapshot"
    with anyio.fail_after(10):
        while hub.pollers or hub._slotted or hub._clients:
            await anyio.sleep(0.02)
