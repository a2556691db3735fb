"""The key index (fullon_cache_api.keyspace): no request walks the keyspace, whatever its size;
a key a read asked for is listed as soon as tracking reports its write, one never read within a
walk; gone keys leave listings at once; SWAPDB is seen and flushes the local cache. Counted on a
real Redis with INFO commandstats, never timed."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest
import redis

from fullon_cache_api import Settings, create_app, lifespan
from fullon_cache_api.demo.redis_server import RedisServer
from fullon_cache_api.keyspace import SCAN_BATCH

from support import (
    WRITTEN_AT,
    Clock,
    expect,
    fill_unrelated,
    http_client,
    prepare,
    reader_url,
    tracking_on,
)

OTHER_KEYS = 300_000


def scans(admin: redis.Redis) -> int:
    return int(admin.info("commandstats").get("cmdstat_scan", {}).get("calls", 0))


@pytest.fixture(scope="module")
def crowded() -> Iterator[RedisServer]:
    """The snapshot among 300,000 keys of no family."""
    server = prepare(RedisServer().start())
    with redis.Redis(port=server.port) as admin:
        fill_unrelated(admin, OTHER_KEYS)
    yield server
    server.close()


async def test_no_request_walks_the_keyspace_whatever_its_size(crowded, clock: Clock) -> None:
    """One walk builds the index (SCAN_BATCH keys a call); then listings, 404s and per-user
    lookups, 20 distinct ones each, send no SCAN at all."""
    settings = Settings(redis_url=reader_url(crowded), index_walk_interval=3600)
    app = create_app(settings, clock=clock)
    with redis.Redis(port=crowded.port, decode_responses=True) as admin:
        async with lifespan(app), http_client(app) as http:
            await tracking_on(http)  # the walk is then kept current
            before = scans(admin)
            expect(await http.get("/orders/queues"))
            built = scans(admin) - before
            # SCAN's COUNT is a hint: about SCAN_BATCH keys a call
            assert OTHER_KEYS / SCAN_BATCH / 2 <= built <= 2 * admin.dbsize() / SCAN_BATCH
            paths = [
                "/overview",
                "/exchanges",
                "/tickers",
                "/orders",
                "/trades",
                "/trades/status",
                "/ohlcv",
                "/processes",
            ]
            for path in paths:
                expect(await http.get(path))
            for i in range(20):
                expect(await http.get(f"/ohlcv/NOPE{i}/USDT/timeframes"), 404)
                assert expect(await http.get(f"/trades/users/{900 + i}"))["items"] == []
            overview = expect(await http.get("/overview"))
        assert scans(admin) - before == built
    assert overview["other_keys"] == OTHER_KEYS
    assert overview["total_keys"] == OTHER_KEYS + sum(f["keys"] for f in overview["families"])


@pytest.fixture
async def indexed(settings: Settings, clock: Clock) -> AsyncIterator[object]:
    app = create_app(dataclasses.replace(settings, index_walk_interval=3600), clock=clock)
    async with lifespan(app), http_client(app) as http:
        await tracking_on(http)
        yield http


def queue_names(body: dict[str, object]) -> list[str]:
    return [item["name"] for item in body["items"]]  # type: ignore[attr-defined, index]


async def test_a_key_read_missing_is_listed_as_soon_as_it_is_written(
    indexed, admin, snapshot
) -> None:
    """A read that found a key missing made Redis track it: its first write is reported to the
    hub, and the next listing confirms it (one EXISTS) and lists it; no walk."""
    http = indexed
    before = queue_names(expect(await http.get("/orders/queues")))
    assert expect(await http.get("/orders/queues/aaa-fresh"))["length"] == 0
    assert expect(await http.get("/orders/newex"))["count"] == 0
    walked = scans(admin)
    admin.rpush("new_orders:aaa-fresh", "EX-1")
    admin.hset("order_status:newex", "O-1", json.dumps({"order_id": "O-1"}))
    assert queue_names(expect(await http.get("/orders/queues"))) == ["aaa-fresh", *before]
    exchanges = [row["exchange"] for row in expect(await http.get("/exchanges"))["items"]]
    assert "newex" in exchanges
    assert scans(admin) == walked


@pytest.mark.parametrize(
    ("path", "write"),
    [
        (
            "/tickers",
            lambda a: a.hset("tickers:newex", "BTC/USDT", json.dumps({"price": 1.0})),
        ),
        ("/orders/queues", lambda a: a.rpush("new_orders:newex", "EX-1")),
    ],
)
async def test_a_key_never_read_is_found_by_the_next_walk(
    settings, clock, admin, snapshot, path, write
) -> None:
    """Tracking reports writes only to keys read (no broadcast: it would cost every write of
    the trading system): a new key no read asked for is listed after the next walk."""
    app = create_app(dataclasses.replace(settings, index_walk_interval=0.5), clock=clock)

    async def listed() -> list[str]:
        items = expect(await http.get(path))["items"]
        return [str(item.get("exchange", item.get("name"))) for item in items]

    async with lifespan(app), http_client(app) as http:
        await tracking_on(http)
        assert "newex" not in await listed()
        walked = scans(admin)
        write(admin)
        with anyio.fail_after(30):  # seconds of margin for a 0.5 s interval
            while "newex" not in await listed():
                await anyio.sleep(0.05)
        assert scans(admin) > walked  # found by a walk


async def test_a_key_deleted_leaves_listings_at_once(indexed, admin, snapshot) -> None:
    http = indexed
    names = queue_names(expect(await http.get("/orders/queues")))
    assert len(names) >= 2
    admin.delete(f"new_orders:{names[0]}")
    assert queue_names(expect(await http.get("/orders/queues"))) == names[1:]


async def test_a_written_key_that_is_gone_again_is_not_listed(indexed, admin, snapshot) -> None:
    """A deletion is reported like a write: the index confirms before it adds."""
    http = indexed
    before = queue_names(expect(await http.get("/orders/queues")))
    admin.rpush("new_orders:brief", "EX-1")
    admin.delete("new_orders:brief")
    assert queue_names(expect(await http.get("/orders/queues"))) == before


async def test_without_tracking_a_walk_finds_new_keys(settings, clock, admin, snapshot) -> None:
    """Local cache off (no tracking): a new key is found by the next verification walk."""
    fast = dataclasses.replace(settings, local_cache=False, index_walk_interval=0.2)
    app = create_app(fast, clock=clock)
    async with lifespan(app), http_client(app) as http:
        before = queue_names(expect(await http.get("/orders/queues")))
        admin.rpush("new_orders:aaa-walked", "EX-1")
        with anyio.fail_after(10):  # a deadline of seconds for a 0.2 s interval (busy machines)
            while (names := queue_names(expect(await http.get("/orders/queues")))) == before:
                await anyio.sleep(0.05)
    assert names == ["aaa-walked", *before]


async def test_swapdb_flushes_the_local_cache(redis_server, clock) -> None:
    """The API reads db 1; SWAPDB 1 3 puts another value under the same key name, which Redis
    does not report: the watcher sees the SWAPDB (INFO commandstats) and the new value is
    served, with no write to the key."""
    url = reader_url(redis_server).rsplit("/", 1)[0] + "/1"
    app = create_app(Settings(redis_url=url), clock=clock)
    key, field = "tickers:swapex", "BTC/USDT"
    with (
        redis.Redis(port=redis_server.port, db=1) as db1,
        redis.Redis(port=redis_server.port, db=3) as db3,
    ):
        db1.flushdb()
        db3.flushdb()
        db1.hset(key, field, json.dumps({"price": 1.0, "time": WRITTEN_AT}))
        db3.hset(key, field, json.dumps({"price": 3.0, "time": WRITTEN_AT}))
        async with lifespan(app), http_client(app) as http:
            path = "/tickers/swapex/BTC/USDT"
            with anyio.fail_after(10):  # kept once the hub has set tracking up
                while expect(await http.get("/info"))["local_cache"]["hits"] == 0:
                    assert expect(await http.get(path))["price"] == 1.0
            db1.swapdb(1, 3)
            with anyio.fail_after(10):  # seen within about a second; seconds of margin here
                while expect(await http.get(path))["price"] != 3.0:
                    await anyio.sleep(0.05)
        db1.flushdb()
        db3.flushdb()


async def test_the_index_is_bounded_in_bytes(settings, clock, admin, caplog) -> None:
    """Past ``index_mb``, keys are left out of the index and the walk says so."""
    pipe = admin.pipeline(transaction=False)
    for i in range(12_000):  # about 12,000 x (key + 100) bytes: past 1 MB
        pipe.rpush(f"new_orders:{i:05d}", "EX")
    pipe.execute()
    app = create_app(dataclasses.replace(settings, index_mb=1), clock=clock)
    with caplog.at_level(logging.WARNING, logger="fullon.cache_api.keyspace"):
        async with lifespan(app), http_client(app) as http:
            overview = expect(await http.get("/overview"))
    queues = next(f for f in overview["families"] if f["family"] == "order_queues")
    assert 0 < queues["keys"] < 12_000
    assert any("key index full" in record.getMessage() for record in caplog.records)
