"""The local cache, on real Redis: repeated reads of unchanged keys read no key again, and no
read is ever older than a write acknowledged before it began (Redis's client tracking
invalidates, whoever writes), through a hub outage, a refusal by ACL, expiries and flushes.

The app runs as the read-only ACL user (its ACL line names what tracking needs); writes are
the admin's, as fullon_cache's writers do them (HSET without PUBLISH).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import httpx
import pytest
import redis
from prometheus_client import REGISTRY

from fullon_cache_api import Settings, create_app, lifespan
from fullon_cache_api.demo.redis_server import READ_ONLY_ACL, RedisServer
from fullon_cache_api.local_cache import MISS, LocalCache, keys_of

from support import (
    PATIENT,
    READER_PASSWORD,
    WRITTEN_AT,
    Clock,
    api_clients,
    expect,
    freshness_run,
    http_client,
    newest_hub,
    reader_url,
)

pytestmark = pytest.mark.usefixtures("snapshot")

BTC = "/tickers/binance/BTC/USDT"


def calls(admin: redis.Redis) -> dict[str, int]:
    """Calls per command since the server started (INFO commandstats)."""
    stats = admin.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(s["calls"]) for name, s in stats.items()}


def sent(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Commands sent between two ``calls`` (the second INFO itself left out)."""
    delta = {name: after[name] - before.get(name, 0) for name in after}
    delta["info"] -= 1
    return {name: count for name, count in delta.items() if count}


async def local_cache(http: httpx.AsyncClient) -> dict[str, Any]:
    info: dict[str, Any] = expect(await http.get("/info"))["local_cache"]
    return info


async def wait_on(http: httpx.AsyncClient) -> dict[str, Any]:
    """The local cache's /info once it serves (tracking set up by the hub)."""
    with anyio.fail_after(10):
        while not (info := await local_cache(http))["on"]:
            await anyio.sleep(0.02)
    return info


def tick(price: float) -> str:
    return json.dumps(
        {"price": price, "bid": price, "ask": price, "volume": 1.0, "time": WRITTEN_AT}
    )


# What Redis is sent --------------------------------------------------------------------------


async def test_1000_reads_of_an_unchanged_ticker_read_nothing_from_redis(client, admin) -> None:
    """One read (the first, with its key's TTL, on the tracked connection it opens: AUTH,
    CLIENT SETNAME, CLIENT TRACKING); besides, each request's one round trip is the hub's
    freshness ``PING`` (and the ``SWAPDB`` watcher's INFO)."""
    await wait_on(client)
    before = calls(admin)
    for _ in range(1000):
        assert expect(await client.get(BTC))["price"] == 300.0
    commands = sent(before, calls(admin))
    assert commands.pop("ping") <= 1000 + 2, commands  # and the hub's heartbeats
    commands.pop("info", None)
    assert commands == {"hget": 1, "pttl": 1, "auth": 1, "client": 2}
    info = await local_cache(client)
    assert info["hits"] >= 999 and info["entries"] >= 1 and info["bytes"] > 0, info


async def test_an_exchange_read_again_is_served_from_memory(client, admin) -> None:
    await wait_on(client)
    first = expect(await client.get("/tickers/binance"))
    before = calls(admin)
    for _ in range(100):
        assert expect(await client.get("/tickers/binance")) == first
    commands = sent(before, calls(admin))
    assert commands.pop("ping") <= 100 + 2, commands  # one a request, and the heartbeats
    commands.pop("info", None)  # the SWAPDB watcher's
    assert commands == {}


async def test_identical_reads_in_flight_share_one_command(client, uncached, admin) -> None:
    """Twenty identical first reads while Redis is held (CLIENT PAUSE): one HGET, with the
    local cache and without."""
    await wait_on(client)
    for http in (client, uncached):
        admin.hset("tickers:binance", "BTC/USDT", tick(301.0))  # nothing kept any more
        before = calls(admin)
        admin.execute_command("CLIENT", "PAUSE", 300, "ALL")
        answers = await asyncio.gather(*(http.get(BTC) for _ in range(20)))
        assert {expect(answer)["price"] for answer in answers} == {301.0}
        commands = sent(before, calls(admin))
        assert commands.get("hget") == 1, commands
        admin.hset("tickers:binance", "BTC/USDT", tick(300.0))


async def test_the_setting_off_sends_every_read_and_asks_for_no_tracking(
    settings, clock, admin
) -> None:
    """Every read sent; and none of the app's connections (those opened since it began: other
    tests' apps may still be closing theirs) asks for tracking."""
    older = {c["id"] for c in admin.client_list()}
    app = create_app(dataclasses.replace(settings, local_cache=False), clock=clock)
    async with lifespan(app), http_client(app) as uncached:
        info = await local_cache(uncached)
        assert info["enabled"] is False and info["on"] is False and info["hits"] == 0
        before = calls(admin)
        for _ in range(10):
            expect(await uncached.get(BTC))
        assert sent(before, calls(admin)).get("hget") == 10
        own = [c for c in admin.client_list() if c["id"] not in older]
    assert own and all(c["name"] == "fullon_cache_api" and "t" not in c["flags"] for c in own)


# Never stale -------------------------------------------------------------------------------

WRITES = [  # (path, write, what the next read must say), one per kind of key the API reads
    (
        BTC,
        lambda a: a.hset("tickers:binance", "BTC/USDT", tick(999.0)),
        lambda b: b["price"] == 999.0,
    ),
    (BTC, lambda a: a.hdel("tickers:binance", "BTC/USDT"), None),
    ("/tickers/binance", lambda a: a.delete("tickers:binance"), None),
    (
        "/accounts/1/balances",
        lambda a: a.hset("accounts", "1", json.dumps({"USDT": {"total": 5}})),
        lambda b: [i["currency"] for i in b["items"]] == ["USDT"],
    ),
    (
        "/orders/queues",
        lambda a: a.rpush("new_orders:local-binance", "x"),
        lambda b: {i["name"]: i["length"] for i in b["items"]}["local-binance"] == 2,
    ),
    ("/ohlcv/BTC/USDT/1m", lambda a: a.delete("ohlcv:BTC/USDT:1m"), None),
]


@pytest.mark.parametrize(("path", "write", "check"), WRITES)
async def test_the_read_after_a_write_sees_it(client, admin, path, write, check) -> None:
    await wait_on(client)
    first = await client.get(path)
    hits = (await local_cache(client))["hits"]
    assert (await client.get(path)).json() == first.json()
    assert (await local_cache(client))["hits"] > hits  # kept: the cache answered
    write(admin)
    answer = await client.get(path)
    if check is None:
        assert answer.status_code == 404 or answer.json() != first.json(), answer.text
    else:
        assert answer.json() != first.json() and check(expect(answer)), answer.text


async def test_two_hundred_writes_each_seen_by_the_read_right_after(client, admin) -> None:
    await wait_on(client)
    for price in range(1, 201):
        admin.hset("tickers:binance", "BTC/USDT", tick(float(price)))
        assert expect(await client.get(BTC))["price"] == price
        assert expect(await client.get(BTC))["price"] == price  # kept, and right
    assert (await local_cache(client))["hits"] >= 200


@pytest.fixture
def no_active_expiry(admin: redis.Redis) -> Iterator[None]:
    """Redis deletes expired keys only when they are read (not by its background cycle), so
    that only the cache's own knowledge of the TTL can end a kept reply."""
    try:
        admin.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", 0)
    except redis.ResponseError as exc:  # Redis 7 refuses DEBUG unless started to allow it
        pytest.skip(f"DEBUG is refused: {exc}")
    try:
        yield
    finally:
        admin.execute_command("DEBUG", "SET-ACTIVE-EXPIRE", 1)


@pytest.mark.usefixtures("no_active_expiry")
async def test_a_kept_reply_ends_at_its_keys_ttl(client, admin) -> None:
    """fullon_cache puts a TTL on a whole orders hash when it saves a canceled order: once
    that time has come, the orders are gone, though Redis has reported nothing yet."""
    await wait_on(client)
    path = "/orders/binance"
    assert expect(await client.get(path))["count"] > 0
    admin.pexpire("order_status:binance", 300)
    assert expect(await client.get(path))["count"] > 0  # kept again, with its TTL
    assert admin.exists("order_status:binance")
    await anyio.sleep(0.4)
    assert expect(await client.get(path))["count"] == 0


async def test_a_flush_forgets_everything(client, admin) -> None:
    await wait_on(client)
    expect(await client.get(BTC))
    expect(await client.get(BTC))
    admin.flushdb()
    assert (await client.get(BTC)).status_code == 404


async def test_a_killed_hub_connection_leaves_no_stale_read_and_the_cache_resumes(
    client, admin
) -> None:
    await wait_on(client)
    expect(await client.get(BTC))
    hub = newest_hub(admin)
    admin.client_kill_filter(_id=hub["id"])
    price = 400.0
    with anyio.fail_after(10):
        while True:  # a write at once, then writes while the hub reconnects: each one seen
            price += 1
            admin.hset("tickers:binance", "BTC/USDT", tick(price))
            assert expect(await client.get(BTC))["price"] == price
            hits = (await local_cache(client))["hits"]
            assert expect(await client.get(BTC))["price"] == price
            if (await local_cache(client))["hits"] > hits:  # served from memory again
                break
            await anyio.sleep(0.01)
    assert int(newest_hub(admin)["id"]) > int(hub["id"])  # a new connection
    hits = (await local_cache(client))["hits"]
    for _ in range(3):
        price += 1
        admin.hset("tickers:binance", "BTC/USDT", tick(price))
        assert expect(await client.get(BTC))["price"] == price
        assert expect(await client.get(BTC))["price"] == price
    info = await local_cache(client)
    assert info["hits"] >= hits + 3, (hits, info, api_clients(admin))  # serving still


# Refused by ACL ------------------------------------------------------------------------------


@pytest.fixture
async def refused(
    redis_server: RedisServer, admin: redis.Redis
) -> AsyncIterator[httpx.AsyncClient]:
    """The app as a read-only user without CLIENT ID / CLIENT TRACKING."""
    acl = READ_ONLY_ACL.replace(" +client|id", "").replace(" +client|tracking", "")
    admin.execute_command("ACL", "SETUSER", "notrack", "reset", *acl.split(), f">{READER_PASSWORD}")
    url = f"redis://notrack:{READER_PASSWORD}@127.0.0.1:{redis_server.port}/0"
    app = create_app(Settings(redis_url=url, **PATIENT), clock=Clock(WRITTEN_AT + 30))
    try:
        async with lifespan(app), http_client(app) as http:
            yield http
    finally:
        admin.execute_command("ACL", "DELUSER", "notrack")


def refusals() -> float:
    return (
        REGISTRY.get_sample_value("fullon_cache_api_local_cache_total", {"event": "refused"}) or 0.0
    )


async def test_tracking_refused_by_acl_is_logged_once_counted_and_read_through(
    refused, admin, caplog
) -> None:
    caplog.set_level(logging.WARNING, "fullon.cache_api.hub")
    before = refusals()
    expect(await refused.get(BTC))
    with anyio.fail_after(5):
        while refusals() == before:
            await anyio.sleep(0.02)
    for price in range(1, 21):
        admin.hset("tickers:binance", "BTC/USDT", tick(float(price)))
        assert expect(await refused.get(BTC))["price"] == price
        assert expect(await refused.get(BTC))["price"] == price
    info = await local_cache(refused)
    assert info["enabled"] is True and info["on"] is False and info["hits"] == 0, info
    assert refusals() == before + 1
    logged = [r for r in caplog.records if "CLIENT TRACKING" in r.getMessage()]
    assert len(logged) == 1, [r.getMessage() for r in caplog.records]


# Seen ----------------------------------------------------------------------------------------


async def test_info_and_metrics_show_the_cache(client, admin) -> None:
    await wait_on(client)
    for _ in range(5):
        expect(await client.get(BTC))
    admin.hset("tickers:binance", "BTC/USDT", tick(1.0))
    expect(await client.get(BTC))
    info = await local_cache(client)
    assert info["enabled"] is True and info["on"] is True
    assert info["hits"] >= 4 and info["misses"] >= 2 and info["invalidations"] >= 1
    assert 0 < info["bytes"] <= info["max_bytes"] == 64 * 2**20
    text = (await client.get("/metrics")).text
    for event in ("hit", "miss", "invalidation"):
        assert f'fullon_cache_api_local_cache_total{{event="{event}"}}' in text
    assert "fullon_cache_api_local_cache_entries" in text
    assert "fullon_cache_api_local_cache_bytes" in text


# Freshness on real processes -----------------------------------------------------------------


@pytest.mark.slow
def test_no_read_is_older_than_a_write_acknowledged_before_it_began(redis_server) -> None:
    """A writer process HSETs an increasing price every 2 ms (no PUBLISH) while four clients
    make 300 reads each through the served API: no answer is older than the last write
    acknowledged before its request began (an order of events, however slow the machine),
    and the cache served."""
    report = freshness_run(redis_server.port, reader_url(redis_server))
    assert report.stale == [], report
    assert report.reads == 1200 and report.hits > 0, report


class LateReplies:
    """A TCP proxy to Redis that hands on what Redis sends ``delay`` seconds late, in order:
    through it, the hub hears of a write long after the writer's own connection (direct to
    Redis) had it acknowledged."""

    def __init__(self, port: int, delay: float) -> None:
        self.port, self.delay = port, delay
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        redis_r, redis_w = await asyncio.open_connection("127.0.0.1", self.port)
        late: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        loop = asyncio.get_running_loop()

        async def pump(reader: asyncio.StreamReader, write: Any) -> None:
            while data := await reader.read(65536):
                write(data)

        async def hand_on() -> None:
            while True:
                due, data = await late.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                client_w.write(data)

        for work in (
            pump(client_r, redis_w.write),
            pump(redis_r, lambda data: late.put_nowait((loop.time() + self.delay, data))),
            hand_on(),
        ):
            task = asyncio.create_task(work)
            self._tasks.add(task)


async def test_a_read_after_an_acknowledged_write_waits_for_its_late_invalidation(
    redis_server, admin
) -> None:
    """Redis's invalidation reaches the hub 50 ms after the writer's acknowledgment: the read
    that follows the write still answers the new value, and the cache serves the reads
    between writes."""
    async with LateReplies(redis_server.port, delay=0.05) as port:
        url = reader_url(redis_server).replace(f":{redis_server.port}/", f":{port}/")
        app = create_app(Settings(redis_url=url, **PATIENT), clock=Clock(WRITTEN_AT + 30))
        async with lifespan(app), http_client(app) as http:
            await wait_on(http)
            for price in (310.0, 311.0, 312.0):
                admin.hset("tickers:binance", "BTC/USDT", tick(price))
                for _ in range(3):
                    assert expect(await http.get(BTC))["price"] == price
            assert (await local_cache(http))["hits"] >= 6


# The cache itself (no Redis: its bookkeeping) --------------------------------------------------


class Holding:
    """The bookkeeping tests' tracked client: no connection, none ever lost."""

    client: Any = None

    def lost(self) -> bool:
        return False

    async def aclose(self) -> None:
        return None


def cache(max_bytes: int = 10_000) -> LocalCache:
    made = LocalCache(max_bytes)
    made.start(unsent, Holding())  # tracking holds (these tests read the cache without settle)
    return made


async def unsent(token: bytes) -> None:
    """A hub's ``PING`` that goes nowhere: ``pong`` is called by the test itself."""


COMMAND = ("HGET", "tickers:binance", "BTC/USDT")


def test_a_read_invalidated_while_in_flight_is_not_kept() -> None:
    kept = cache()
    read = kept.open(COMMAND)
    assert read is not None
    kept.invalidate(["tickers:binance"])
    read.keep(COMMAND, b"old", 3, [-1])
    assert kept.get(COMMAND) is MISS
    read = kept.open(COMMAND)
    assert read is not None
    read.keep(COMMAND, b"new", 3, [-1])
    assert kept.get(COMMAND) == b"new"


def test_a_flush_or_a_stop_drops_reads_in_flight_too() -> None:
    kept = cache()
    first, second = kept.open(COMMAND), kept.open(("HLEN", "tickers:binance"))
    assert first is not None and second is not None
    kept.flush()
    first.keep(COMMAND, b"x", 1, [-1])
    assert kept.get(COMMAND) is MISS
    kept.stop()
    second.keep(("HLEN", "tickers:binance"), 3, 0, [-1])
    assert kept.get(("HLEN", "tickers:binance")) is MISS and len(kept) == 0
    assert kept.open(COMMAND) is None  # off: nothing is kept until tracking is back


async def test_a_read_waits_for_a_round_trip_sent_after_it_began() -> None:
    """The ordering the cache rests on: a read is served only after the answer to a ``PING``
    sent after it began; reads that begin while one is in flight share the next."""
    kept = LocalCache(10_000)
    pings: list[bytes] = []

    async def ping(token: bytes) -> None:
        pings.append(token)

    kept.start(ping, Holding())
    first = asyncio.create_task(kept.settle())
    await asyncio.sleep(0.01)
    assert len(pings) == 1 and not first.done()
    later = [asyncio.create_task(kept.settle()) for _ in range(3)]  # begun while it flies
    await asyncio.sleep(0.01)
    assert len(pings) == 1
    kept.pong(b"")  # the hub's own heartbeat answers nothing
    await asyncio.sleep(0.01)
    assert not first.done()
    kept.pong(pings[0])
    assert await first is True
    await asyncio.sleep(0.01)
    assert len(pings) == 2 and not any(task.done() for task in later)
    kept.pong(pings[0])  # an answer given twice opens nothing
    await asyncio.sleep(0.01)
    assert not any(task.done() for task in later)
    kept.pong(pings[1])
    assert await asyncio.gather(*later) == [True, True, True]
    waiting = asyncio.create_task(kept.settle())
    await asyncio.sleep(0.01)
    kept.stop()  # the hub's connection dropped: reads go to Redis
    assert await waiting is False and await kept.settle() is False


async def test_a_failed_round_trip_sends_the_read_to_redis() -> None:
    kept = LocalCache(10_000)

    async def broken(token: bytes) -> None:
        raise ConnectionError("gone")

    kept.start(broken, Holding())
    assert await kept.settle() is False


def test_least_recently_used_go_first_and_no_entry_takes_over_a_quarter() -> None:
    kept = cache(max_bytes=1300)  # an entry of 100 bytes of values costs 315 here
    for index in range(5):
        command = ("HGET", "tickers:binance", f"S{index}")
        read = kept.open(command)
        assert read is not None
        read.keep(command, b"x" * 100, 100, [-1])
        if index == 3:
            assert kept.get(("HGET", "tickers:binance", "S0")) is not MISS  # S1 the oldest now
    assert kept.bytes <= 1300 and len(kept) == 4
    assert kept.get(("HGET", "tickers:binance", "S1")) is MISS
    assert kept.get(("HGET", "tickers:binance", "S0")) is not MISS
    big = ("HGETALL", "tickers:big")
    read = kept.open(big)
    assert read is not None
    read.keep(big, b"y" * 200, 200, [-1])  # 415 > 1300 / 4
    assert kept.get(big) is MISS and len(kept) == 4


def test_ttls_end_a_reply_and_error_replies_are_never_kept() -> None:
    kept = cache()
    read = kept.open(COMMAND)
    assert read is not None
    read.keep(COMMAND, b"x", 1, [50])  # the key expires in 50 ms
    assert kept.get(COMMAND) == b"x"
    time.sleep(0.06)
    assert kept.get(COMMAND) is MISS
    read = kept.open(COMMAND)
    assert read is not None
    read.keep(COMMAND, redis.ResponseError("WRONGTYPE"), 0, [-1])
    assert kept.get(COMMAND) is MISS


def test_only_reads_of_tracked_keys_are_kept() -> None:
    assert keys_of(COMMAND) == ("tickers:binance",)
    assert keys_of(("MGET", "process:data:a", "process:data:b")) == (
        "process:data:a",
        "process:data:b",
    )
    assert keys_of(("GET", "somebody:else")) is None
    assert keys_of(("MGET", "process:data:a", "somebody:else")) is None
    assert keys_of(("SCAN", 0)) is None
    assert keys_of(("INFO", "server")) is None


def test_work_derived_from_a_kept_reply_is_done_once_and_goes_with_it() -> None:
    kept = cache()
    done: list[bytes] = []

    def work(command: tuple[Any, ...], reply: bytes) -> str:
        done.append(reply)
        return reply.decode().upper()

    read = kept.open(COMMAND)
    assert read is not None
    read.keep(COMMAND, b"abc", 3, [-1])
    reply = kept.get(COMMAND)
    before = kept.bytes
    assert kept.derive(COMMAND, reply, work) == kept.derive(COMMAND, reply, work) == "ABC"
    assert done == [b"abc"] and kept.bytes > before  # once, and counted
    other = bytes(bytearray(b"abc"))  # equal, but not the kept reply
    assert kept.derive(COMMAND, other, work) == "ABC" and len(done) == 2
    kept.invalidate(["tickers:binance"])
    assert kept.derive(COMMAND, reply, work) == "ABC" and len(done) == 3
    assert kept.bytes == 0


def test_a_decode_memo_gives_the_same_value_for_the_same_bytes_and_stays_bounded() -> None:
    from fullon_cache_api.readers.base import Lenient
    from fullon_cache_api.readers.tickers import StoredTick

    decoder = Lenient(StoredTick, memo=2)
    first = decoder.decode(b'{"price": 1.5}')
    assert decoder.decode(b'{"price": 1.5}') is first and first.price == 1.5
    decoder.decode(b'{"price": 2}')
    decoder.decode(b'{"price": 3}')  # the first one is dropped
    again = decoder.decode(b'{"price": 1.5}')
    assert again == first and again is not first
