"""What the local cache's tracking costs the writers, and that it never serves a stale reply:
reads go through connections that track what they read (Redis reports the next write to a key
read since its last one, once), tickers are not broadcast, and a tracked connection closed by
the server makes the cache forget what it kept. Counted on a real Redis, never timed."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
from redis.asyncio import ConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from fullon_cache_api.local_cache import TrackingLost
from fullon_cache_api.redis_clients import TrackedReads, connect

from support import WRITTEN_AT, api_clients, expect, newest_hub

BTC = "/tickers/binance/BTC/USDT"


async def local_cache(http: httpx.AsyncClient) -> dict[str, Any]:
    info: dict[str, Any] = expect(await http.get("/info"))["local_cache"]
    return info


async def serving(http: httpx.AsyncClient) -> None:
    with anyio.fail_after(10):  # the hub sets tracking up
        while not (await local_cache(http))["on"]:
            await anyio.sleep(0.02)


def tick(price: float) -> str:
    return json.dumps({"price": price, "bid": price, "ask": price, "time": WRITTEN_AT})


async def test_reads_go_through_connections_that_track_into_the_hub(
    client, admin, snapshot
) -> None:
    await serving(client)
    expect(await client.get(BTC))
    hub = newest_hub(admin)
    clients = [c for c in api_clients(admin) if int(c["id"]) > int(hub["id"])]  # this app's
    readers = [c for c in clients if "t" in c["flags"]]
    assert readers, clients
    assert {c["redir"] for c in readers} == {hub["id"]}
    # none broadcast (the hub's own included): Redis tracks what they read, nothing else
    assert "B" not in "".join(c["flags"] for c in [hub, *clients])


async def test_a_write_to_a_key_nobody_read_costs_no_report(client, admin, snapshot) -> None:
    """No broadcast tracking: writes to keys of every family that no read asked for (a new
    hash, list, string) send the hub nothing."""
    await serving(client)
    expect(await client.get(BTC))
    before = (await local_cache(client))["invalidations"]
    for n in range(20):
        admin.hset("order_status:unread", f"O-{n}", "{}")
        admin.rpush("new_orders:unread", f"O-{n}")
        admin.hset("bot_status", f"9{n}", "{}")  # a hash read only by bot routes
        admin.set(f"TRADE:STATUS:unread{n}", "2026-11-26T00:00:00+00:00")
    expect(await client.get(BTC))  # the reports, if any, read first (settle)
    assert (await local_cache(client))["invalidations"] == before


async def test_a_tick_nobody_read_since_the_last_one_costs_no_report(
    client, admin, snapshot
) -> None:
    """Twenty writes of a ticker read once: one report (the first write), not twenty."""
    await serving(client)
    expect(await client.get(BTC))  # read: tracked
    before = (await local_cache(client))["invalidations"]
    for n in range(20):
        admin.hset("tickers:binance", "BTC/USDT", tick(500.0 + n))
    assert expect(await client.get(BTC))["price"] == 519.0  # the reports read first (settle)
    assert (await local_cache(client))["invalidations"] == before + 1


async def test_a_tracked_connection_the_server_closed_leaves_no_stale_read(
    client, admin, snapshot
) -> None:
    """A kept reply; the server closes every connection that read it (Redis would report
    nothing for them); a write; the next read sees the write."""
    await serving(client)
    with anyio.fail_after(10):
        while True:  # kept: served from memory
            hits = (await local_cache(client))["hits"]
            price = expect(await client.get(BTC))["price"]
            if (await local_cache(client))["hits"] > hits:
                break
    for reader in api_clients(admin):
        if "t" in reader["flags"] and "P" not in reader["flags"]:
            admin.client_kill_filter(_id=reader["id"])
    admin.hset("tickers:binance", "BTC/USDT", tick(price + 1))
    assert expect(await client.get(BTC))["price"] == price + 1


async def test_a_connection_that_cannot_report_to_the_hub_is_refused_and_lost(
    redis_server,
) -> None:
    """Tracking redirected to a client that is gone (the hub's connection dropped): the
    connection is refused (TrackingLost: the read goes to Redis directly), the cache is told
    to forget (once), and nothing more is opened; likewise once closed."""
    lost: list[str] = []
    pool = ConnectionPool(port=redis_server.port)
    tracked = TrackedReads(pool, 10**9, 2, 30.0, lambda: lost.append("lost"))
    with pytest.raises(TrackingLost):
        await tracked.client.get("tickers:binance")
    assert lost == ["lost"] and tracked.lost()
    with pytest.raises(TrackingLost):  # broken for good: the hub makes a new one
        await tracked.client.get("tickers:binance")
    await tracked.aclose()
    await pool.aclose()
    assert lost == ["lost"]


async def test_a_read_waits_for_a_free_connection_at_most_the_pool_timeout(redis_server) -> None:
    """Copied from a host's pool that does not wait (redis-py's plain ``ConnectionPool``), the
    tracked reads still wait a bounded time for a free connection, then fail (never for ever)."""
    pool = ConnectionPool(port=redis_server.port)
    hub = Redis(connection_pool=pool)
    tracked = TrackedReads(pool, int(await hub.client_id()), 1, 0.2, lambda: None)
    held = await tracked.client.connection_pool.get_connection()
    try:
        with anyio.fail_after(20), pytest.raises(RedisConnectionError, match="No connection"):
            await tracked.client.get("nothing:here")
    finally:
        await tracked.client.connection_pool.release(held)
    assert await tracked.client.get("nothing:here") is None  # free again: read
    await tracked.aclose()
    await pool.aclose()


async def test_of_several_connections_the_one_the_server_closed_is_forgotten(
    settings, admin
) -> None:
    """Two tracked connections, one killed by the server: the cache is told to forget (once),
    the other connection stays watched (a later check finds nothing), and reads go on."""
    hub = connect(settings)  # the app's own connections' options (a dropped one reconnects)
    pool = hub.connection_pool
    lost: list[str] = []
    tracked = TrackedReads(pool, int(await hub.client_id()), 2, 30.0, lambda: lost.append("lost"))
    taken = tracked.client.connection_pool
    first, second = await taken.get_connection(), await taken.get_connection()
    ids = []
    for connection in (first, second):
        await connection.send_command("CLIENT", "ID")
        ids.append(int(await connection.read_response()))
        await taken.release(connection)
    assert not tracked.lost() and lost == []
    admin.client_kill_filter(_id=str(ids[0]))
    with anyio.fail_after(10):  # the server's close reaches the socket
        while not tracked.lost():
            await anyio.sleep(0.01)
    assert lost == ["lost"]
    assert not tracked.lost() and lost == ["lost"]  # the other one is open and still watched
    admin.client_kill_filter(_id=str(ids[1]))
    with anyio.fail_after(10):
        while not tracked.lost():
            await anyio.sleep(0.01)
    assert lost == ["lost", "lost"]
    assert await tracked.client.get("nothing:here") is None  # a new connection, tracked
    await tracked.aclose()
    await hub.aclose()
