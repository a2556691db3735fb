"""The key index's edges (fullon_cache_api.keyspace) on a real redis-server: keys written and
deleted while a walk runs, a listing after tracking was lost and set up again (it waits for a
walk), walks and SWAPDB checks that fail while Redis is down (logged once, retried), an ACL that
refuses INFO, and a confirmed key past ``index_mb``. Counted (SCAN calls, walks), never timed."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Iterator

import anyio
import httpx
import pytest
import redis
from prometheus_client import REGISTRY

from fullon_cache_api import Settings, create_app, lifespan
from fullon_cache_api.demo.redis_server import READ_ONLY_ACL, RedisServer

from support import (
    PATIENT,
    READER_PASSWORD,
    WRITTEN_AT,
    Clock,
    expect,
    fill_unrelated,
    http_client,
    prepare,
    reader_url,
    redis_process,
    tracking_on,
)

pytestmark = pytest.mark.slow
OTHER_KEYS = 200_000  # a paced walk of them takes 800 SCAN calls at 200 a second


@pytest.fixture(scope="module")
def crowded() -> Iterator[RedisServer]:
    """The snapshot among keys of no family: a walk of its keyspace is long."""
    with redis_process() as server:
        with redis.Redis(port=server.port) as admin:
            fill_unrelated(admin, OTHER_KEYS)
        yield server


def scans(admin: redis.Redis) -> int:
    return int(admin.info("commandstats").get("cmdstat_scan", {}).get("calls", 0))


def walks() -> float:
    return REGISTRY.get_sample_value("fullon_cache_api_key_index_walks_total") or 0.0


def queues(body: dict[str, object]) -> list[str]:
    return [item["name"] for item in body["items"]]  # type: ignore[attr-defined, index]


@pytest.fixture
async def walking(crowded: RedisServer, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose verification walks follow one another (interval 0.1 s, each about 800
    paced SCAN calls)."""
    settings = Settings(redis_url=reader_url(crowded), index_walk_interval=0.1, **PATIENT)
    app = create_app(settings, clock=clock)
    async with lifespan(app), http_client(app) as http:
        await tracking_on(http)
        yield http


async def walk_running(admin: redis.Redis) -> float:
    """Waits until a verification walk is under way (SCAN calls go on while the count of
    finished walks stays); returns that count."""
    with anyio.fail_after(30):
        while True:
            done, before = walks(), scans(admin)
            await anyio.sleep(0.05)
            if scans(admin) > before and walks() == done:
                return done


async def test_keys_written_and_deleted_during_a_walk_are_what_it_leaves(walking, crowded) -> None:
    """While a walk runs, a new key (read before it existed: tracking reports its write) is
    confirmed and listed at once, and a deleted key leaves listings at once; when that walk
    ends, the index is still so (the walk does not bring the deleted key back, nor lose the new
    one, whatever it had scanned)."""
    http = walking
    with redis.Redis(port=crowded.port, decode_responses=True) as admin:
        before = queues(expect(await http.get("/orders/queues")))
        gone = before[0]
        assert expect(await http.get("/orders/queues/aaa-during"))["length"] == 0
        try:
            done = await walk_running(admin)
            admin.delete(f"new_orders:{gone}")
            admin.rpush("new_orders:aaa-during", "EX-1")
            during = queues(expect(await http.get("/orders/queues")))
            with anyio.fail_after(60):
                while walks() < done + 2:  # that walk, and one wholly after the writes
                    await anyio.sleep(0.05)
            after = queues(expect(await http.get("/orders/queues")))
            overview = expect(await http.get("/overview"))
        finally:
            admin.delete("new_orders:aaa-during")
            admin.rpush(f"new_orders:{gone}", "EX-1")
    expected = sorted(["aaa-during", *before[1:]])
    assert during == expected and after == expected
    counts = {f["family"]: f["keys"] for f in overview["families"]}
    assert counts["order_queues"] == len(expected)


async def test_after_tracking_is_lost_a_listing_waits_for_a_walk(crowded, clock) -> None:
    """The hub's connection killed: writes meanwhile are not reported. Once tracking is set up
    again, a listing begun after a write walks the keyspace first (sharing the walk under way,
    at full speed) and lists the key."""
    settings = Settings(redis_url=reader_url(crowded), index_walk_interval=3600, **PATIENT)
    app = create_app(settings, clock=clock)
    with redis.Redis(port=crowded.port, decode_responses=True) as admin:
        async with lifespan(app), http_client(app) as http:
            await tracking_on(http)
            before = queues(expect(await http.get("/orders/queues")))
            done = walks()
            (hub,) = [c for c in admin.client_list() if int(c["sub"]) or int(c["psub"])]
            admin.client_kill_filter(_id=hub["id"])
            admin.rpush("new_orders:aaa-unreported", "EX-1")
            try:
                with anyio.fail_after(30):  # until the hub has subscribed on a new connection
                    while not [
                        c
                        for c in admin.client_list()
                        if (int(c["sub"]) or int(c["psub"])) and c["id"] != hub["id"]
                    ]:
                        await anyio.sleep(0.02)
                await tracking_on(http)
                listed = queues(expect(await http.get("/orders/queues")))
            finally:
                admin.delete("new_orders:aaa-unreported")
    assert listed == ["aaa-unreported", *before]
    assert walks() > done


# failures ---------------------------------------------------------------------------------------


async def test_walks_and_swapdb_checks_failing_while_redis_is_down_are_logged_once(
    clock, caplog
) -> None:
    """Redis stopped: the verification walks and the SWAPDB checks fail, each logged once for
    the outage however often they are tried; Redis back, a key created meanwhile is listed
    by the next walk."""
    with redis_process() as server:
        settings = Settings(
            redis_url=reader_url(server),
            index_walk_interval=0.05,
            **{**PATIENT, "command_timeout": 2.0},
        )
        app = create_app(settings, clock=clock)
        with caplog.at_level(logging.WARNING, logger="fullon.cache_api.keyspace"):
            async with lifespan(app), http_client(app) as http:
                await tracking_on(http)
                before = queues(expect(await http.get("/orders/queues")))
                await anyio.to_thread.run_sync(server.stop)

                def logged(text: str) -> int:
                    return sum(text in r.getMessage() for r in caplog.records)

                with anyio.fail_after(30):
                    while not (logged("key index walk failed") and logged("key index watcher")):
                        await anyio.sleep(0.05)
                await anyio.sleep(1.0)  # more failed tries (each interval, each WATCH_S)
                await anyio.to_thread.run_sync(lambda: prepare(server.start()))
                with redis.Redis(port=server.port) as admin:
                    admin.rpush("new_orders:aaa-restarted", "EX-1")
                with anyio.fail_after(30):
                    while True:
                        response = await http.get("/orders/queues")
                        if response.status_code == 200 and "aaa-restarted" in queues(
                            response.json()
                        ):
                            break
                        await anyio.sleep(0.05)
    assert queues(response.json()) == ["aaa-restarted", *before]
    assert logged("key index walk failed") == 1
    assert logged("key index watcher") == 1


@pytest.mark.usefixtures("admin")  # an emptied database: other tests' queues fill a page
async def test_an_acl_that_refuses_info_turns_the_swapdb_watch_off(
    redis_server, clock, caplog
) -> None:
    """A Redis user without INFO: the SWAPDB watch says once that it is off; listings are
    served as ever, and /info, which reads INFO, is 502 naming the permission."""
    user, acl = "cache_api_noinfo", READ_ONLY_ACL.replace(" +info", "")
    with redis.Redis(port=redis_server.port) as admin:
        admin.execute_command("ACL", "SETUSER", user, "reset", *acl.split(), f">{READER_PASSWORD}")
        admin.rpush("new_orders:noinfo", "EX-1")
        try:
            url = f"redis://{user}:{READER_PASSWORD}@127.0.0.1:{redis_server.port}/0"
            app = create_app(Settings(redis_url=url, **PATIENT), clock=clock)
            with caplog.at_level(logging.WARNING, logger="fullon.cache_api.keyspace"):
                async with lifespan(app), http_client(app) as http:
                    assert "noinfo" in queues(expect(await http.get("/orders/queues")))
                    with anyio.fail_after(30):
                        while not any("INFO refused" in r.getMessage() for r in caplog.records):
                            await anyio.sleep(0.05)
                    assert "noinfo" in queues(expect(await http.get("/orders/queues")))
                    info = expect(await http.get("/info"), 502)  # /info reads INFO itself
        finally:
            admin.execute_command("ACL", "DELUSER", user)
            admin.delete("new_orders:noinfo")
    refused = [r for r in caplog.records if "SWAPDB is not watched" in r.getMessage()]
    assert len(refused) == 1
    assert info["error"] == {
        "status": 502,
        "code": "cache_refused",
        "message": "the API's Redis user lacks +info (see the ACL line)",
    }


async def test_a_new_key_past_the_index_bound_is_left_out(settings, clock, admin) -> None:
    """The index full (``index_mb``): a key whose write tracking reports is confirmed to exist
    but not added; the keys indexed before stay listed."""
    pipe = admin.pipeline(transaction=False)
    for i in range(12_000):  # about 12,000 x (key + 100) bytes: past 1 MB
        pipe.rpush(f"new_orders:{i:05d}", "EX")
    pipe.execute()
    app = create_app(
        dataclasses.replace(settings, index_mb=1, index_walk_interval=3600), clock=clock
    )
    async with lifespan(app), http_client(app) as http:
        await tracking_on(http)

        async def queue_count() -> int:
            overview = expect(await http.get("/overview"))
            return next(f["keys"] for f in overview["families"] if f["family"] == "order_queues")

        indexed = await queue_count()
        assert 0 < indexed < 12_000
        admin.rpush("new_orders:aaaa-past-the-bound", "EX")
        admin.hset("tickers:pastbound", "BTC/USDT", f'{{"price": 1.0, "time": {WRITTEN_AT}}}')
        exchanges = [row["exchange"] for row in expect(await http.get("/exchanges"))["items"]]
        assert await queue_count() == indexed
    assert "pastbound" not in exchanges
