"""The stream hub's edges (fullon_cache_api.hub), on a real redis-server: the fan-out far
behind its reads (the oldest publications dropped, counted), listeners behind and caught up,
watched states conflated for a consumer that does not take them, a watched read that keeps
failing (logged once), the bound on what watched states hold, the ticker patterns subscribed
once for concurrent streams, reconnection logged once per outage, a slow client's end kept,
and streams asked for while the server shuts down. Counted and ordered, never timed."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
import redis
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from fullon_cache_api import Settings, create_app, lifespan
from fullon_cache_api.errors import TooManyStreams
from fullon_cache_api.hub import HubClosed, Listener, SlowClient, StreamHub
from fullon_cache_api.redis_clients import connect, end_streams, single_connection_pool

from support import (
    expect,
    http_client,
    newest_hub,
    prepare,
    reader_url,
    redis_process,
    tracking_on,
)

DROPPED = "fullon_cache_api_stream_dropped_updates_total"


@contextlib.asynccontextmanager
async def hub_on(settings: Settings, cache: Any = None) -> AsyncIterator[tuple[StreamHub, Redis]]:
    """A stream hub of its own on the test Redis (and the client it reads through)."""
    client = connect(settings)
    hub = StreamHub(lambda: single_connection_pool(client.connection_pool), settings, cache)
    try:
        yield hub, client
    finally:
        await hub.aclose()
        await client.aclose()


def dropped() -> float:
    return REGISTRY.get_sample_value(DROPPED) or 0.0


async def taken(listener: Listener[Any], count: int) -> list[Any]:
    """Batches of ``listener`` until ``count`` items came."""
    items: list[Any] = []
    with anyio.fail_after(30):
        while len(items) < count:
            items += await listener.next_batch(1.0)
    return items


# tickers ------------------------------------------------------------------------------------


async def test_a_fan_out_far_behind_its_reads_drops_the_oldest_publications(
    settings, redis_server
) -> None:
    """2000 listeners of one symbol make each publication's fan-out long, while 200 ticks of
    4 KB (800 KB) arrive at once: what waits to be fanned out is bounded (four times
    ``stream_queue_bytes``), the oldest dropped and counted; every listener still ends with
    the newest tick."""
    small = dataclasses.replace(settings, stream_queue_bytes=65536)
    async with hub_on(small) as (hub, _):
        listeners = [hub.listen_tickers("binance", ["FAN/USDT"], slot=False) for _ in range(2000)]
        await hub.connected()
        before = dropped()
        pad = "x" * 4000
        with redis.Redis(port=redis_server.port) as admin:
            pipe = admin.pipeline(transaction=False)
            for price in range(200):
                pipe.publish(
                    "ticker_updates:binance:FAN/USDT", json.dumps({"price": price, "pad": pad})
                )
            pipe.execute()
        for listener in (listeners[0], listeners[-1]):
            prices: list[int] = []
            with anyio.fail_after(60):
                while not prices or prices[-1] != 199:
                    batch = await listener.next_batch(1.0)
                    prices += [json.loads(raw)["price"] for _, _, raw in batch]
            assert prices == sorted(prices)
        assert dropped() > before
        for listener in listeners:
            listener.close()
        assert hub.listeners == 0


async def test_publications_a_listener_does_not_follow_never_reach_it(
    settings, redis_server
) -> None:
    """A listener of one symbol on every exchange, and one of a named symbol: a publication on
    a channel with no symbol is skipped, another symbol's is not theirs; each gets its own."""
    async with hub_on(settings) as (hub, _):
        everywhere = hub.listen_tickers(None, ["ETH/USDT"], slot=False)
        named = hub.listen_tickers("kraken", ["SOL/USDT"], slot=False)
        await hub.connected()
        with redis.Redis(port=redis_server.port) as admin:
            admin.publish("ticker_updates:binance", json.dumps({"price": 1}))  # no symbol
            admin.publish("ticker_updates:binance:BTC/USDT", json.dumps({"price": 2}))
            admin.publish("ticker_updates:kraken:ETH/USDT", json.dumps({"price": 3}))
            admin.publish("ticker_updates:kraken:SOL/USDT", json.dumps({"price": 4}))
        assert [(e, s) for e, s, _ in await taken(everywhere, 1)] == [("kraken", "ETH/USDT")]
        assert [(e, s) for e, s, _ in await taken(named, 1)] == [("kraken", "SOL/USDT")]
        assert await everywhere.next_batch(0.2) == [] and await named.next_batch(0.2) == []


async def test_a_listener_of_named_symbols_behind_gets_their_newest_and_the_rest_counted(
    settings, redis_server
) -> None:
    small = dataclasses.replace(settings, stream_queue=3)
    async with hub_on(small) as (hub, _):
        listener = hub.listen_tickers("binance", ["A/USDT", "B/USDT"], slot=False)
        marker = hub.listen_tickers("binance", ["Z/USDT"], slot=False)
        await hub.connected()
        with redis.Redis(port=redis_server.port) as admin:
            for price in range(10):
                admin.publish("ticker_updates:binance:A/USDT", json.dumps({"price": price}))
            admin.publish("ticker_updates:binance:B/USDT", json.dumps({"price": 100}))
            admin.publish("ticker_updates:binance:C/USDT", json.dumps({"price": 200}))
            admin.publish("ticker_updates:binance:Z/USDT", json.dumps({"price": 300}))
        await taken(marker, 1)  # every publication before it was fanned out
        assert listener.is_behind
        batch = await listener.next_batch(1.0)
        assert {s: json.loads(raw)["price"] for _, s, raw in batch} == {"A/USDT": 9, "B/USDT": 100}
        assert listener.dropped == 9  # 11 publications of its symbols, the newest 2 came
        with redis.Redis(port=redis_server.port) as admin:  # back in the fan-out
            admin.publish("ticker_updates:binance:B/USDT", json.dumps({"price": 101}))
        assert [json.loads(raw)["price"] for _, _, raw in await taken(listener, 1)] == [101]


async def test_a_slow_clients_end_stands_when_the_hub_then_closes(settings, redis_server) -> None:
    """A listener that fell behind by more than its bytes fails with SlowClient; the hub closing
    afterwards does not turn its end into a shutdown."""
    small = dataclasses.replace(settings, stream_queue=2, stream_queue_bytes=65536)
    hub_and_client = hub_on(small)
    hub, _ = await hub_and_client.__aenter__()
    try:
        listener = hub.listen_tickers(None, None, slot=False)
        await hub.connected()
        tick = json.dumps({"price": 1, "pad": "x" * 400})
        with redis.Redis(port=redis_server.port) as admin:
            pipe = admin.pipeline(transaction=False)
            for i in range(400):
                pipe.publish(f"ticker_updates:slow:S{i:03d}/USDT", tick)
            pipe.execute()
        with anyio.fail_after(30), pytest.raises(SlowClient):
            while True:
                await listener.next_batch(1.0)
    finally:
        await hub_and_client.__aexit__(None, None, None)
    with pytest.raises(SlowClient):
        await listener.next_batch(0)


# watched reads ------------------------------------------------------------------------------


class Sized:
    """A Diff whose every item is a whole state, weighing what its ``size`` says."""

    def changes(self, old: Any, new: Any) -> list[Any] | None:
        return None

    def snapshot(self, state: Any) -> Any:
        return state

    def weight(self, item: Any) -> int:
        return int(item["size"])


async def test_states_a_consumer_does_not_take_conflate_to_the_newest(
    settings, redis_server
) -> None:
    """A watcher without a diff (a WebSocket stream's): its listener holds one state while its
    consumer takes none; states read meanwhile replace it, each counted as dropped, and the
    next batch is the newest only."""
    fast = dataclasses.replace(settings, ws_poll_interval=0.02, stream_queue=1)
    with redis.Redis(port=redis_server.port) as admin:
        admin.set("cov:counter", 0)
        async with hub_on(fast) as (hub, client):
            reads = 0

            async def read() -> int:
                nonlocal reads
                reads += 1
                return int(await client.get("cov:counter"))

            listener = hub.watch(("cov", "counter"), read)
            assert await taken(listener, 1) == [0]
            for value in range(1, 6):  # a new state per read: the watcher reads it
                admin.set("cov:counter", value)
                seen = reads
                with anyio.fail_after(30):
                    while reads < seen + 2:  # a read begun after the write has returned
                        await anyio.sleep(0.01)
            assert await listener.next_batch(1.0) == [5]
            assert listener.dropped == 4  # states 1 to 5 waited: each but the newest replaced
            listener.close()


async def test_a_watched_read_that_keeps_failing_is_logged_once_then_recovers(caplog) -> None:
    """Redis stopped under a watcher: its reads fail (logged once for the outage, not once per
    read); started again, the watcher reads again and its listener gets the state."""
    with redis_process() as server:
        settings = Settings(redis_url=reader_url(server), ws_poll_interval=0.02)
        with redis.Redis(port=server.port) as admin:
            admin.set("cov:value", "before")
        async with hub_on(settings) as (hub, client):
            failures = 0

            async def read() -> str:
                nonlocal failures
                try:
                    return bytes(await client.get("cov:value")).decode()
                except redis.exceptions.RedisError:
                    failures += 1
                    raise

            listener = hub.watch(("cov", "value"), read)
            assert await taken(listener, 1) == ["before"]
            with caplog.at_level(logging.WARNING, logger="fullon.cache_api.hub"):
                await anyio.to_thread.run_sync(server.stop)
                with anyio.fail_after(30):
                    while failures < 3:
                        await anyio.sleep(0.01)
                await anyio.to_thread.run_sync(lambda: prepare(server.start(), load=False))
                with redis.Redis(port=server.port) as admin:
                    admin.set("cov:value", "after")
                assert await taken(listener, 1) == ["after"]
            listener.close()
    failed = [r for r in caplog.records if "watched read failed" in r.getMessage()]
    assert len(failed) == 1


async def test_watched_states_are_bounded_in_bytes(settings, redis_server) -> None:
    """Past ``local_cache_mb`` of watched states, a new watched stream is refused (503
    ``too_many_streams``); a stream of a watcher that runs is still served, and once the big
    state's watcher stops, new ones are watched again."""
    bounded = dataclasses.replace(settings, local_cache_mb=1)
    async with hub_on(bounded) as (hub, _):

        async def big() -> dict[str, int]:
            return {"size": 2 << 20}

        async def small() -> dict[str, int]:
            return {"size": 10}

        first = hub.watch("big", big, diff=Sized())
        assert await taken(first, 1) == [{"size": 2 << 20}]
        with pytest.raises(TooManyStreams, match="most bytes"):
            hub.watch("small", small, diff=Sized())
        again = hub.watch("big", big, diff=Sized())  # the same watcher: no new state
        assert await taken(again, 1) == [{"size": 2 << 20}]
        first.close()
        again.close()
        later = hub.watch("small", small, diff=Sized())
        assert await taken(later, 1) == [{"size": 10}]
        later.close()


async def test_slotted_watched_streams_are_bounded_by_max_streams(settings, snapshot) -> None:
    """``max_streams`` counts watched streams too: past it, 503 ``too_many_streams``."""
    app = create_app(dataclasses.replace(settings, max_streams=1))
    async with lifespan(app), http_client(app) as http:
        hub: StreamHub = app.state.backend.resources().hub
        listener = hub.watch("held", _forever, slot=True)
        try:
            body = expect(await http.get("/stream/bots"), 503)
        finally:
            listener.close()
    assert body["error"]["code"] == "too_many_streams"


async def _forever() -> int:
    return 1


# the connection -------------------------------------------------------------------------------


async def test_concurrent_first_streams_subscribe_the_ticker_patterns_once(
    settings, snapshot, admin
) -> None:
    """The hub is up for the local cache, with no ticker pattern; ten streams opened at once
    subscribe the two patterns once (one PSUBSCRIBE), not once each."""
    app = create_app(settings)
    async with lifespan(app), http_client(app) as http:
        await tracking_on(http)
        hub: StreamHub = app.state.backend.resources().hub
        admin.config_resetstat()
        listeners = [hub.listen_tickers(None, None, slot=False) for _ in range(10)]
        try:
            await asyncio.gather(*(hub.connected() for _ in listeners))
            stats = admin.info("commandstats")
        finally:
            for listener in listeners:
                listener.close()
    assert stats["cmdstat_psubscribe"]["calls"] == 1


async def test_a_stream_opened_while_the_hub_reconnects_misses_nothing(settings, admin) -> None:
    """The hub's connection killed: a stream opened while the hub backs off waits for the next
    connection (``connected`` does not answer from the lost one), so a publication right after
    it reaches the stream. Five times: each lands in a backoff, or after it."""
    async with hub_on(settings) as (hub, _):
        for round_ in range(5):
            first = hub.listen_tickers(None, None, slot=False)
            await hub.connected()
            pubsub = newest_hub(admin)
            admin.client_kill_filter(_id=pubsub["id"])
            with anyio.fail_after(30), pytest.raises(redis.exceptions.RedisError):
                while True:  # the hub saw its connection go
                    await first.next_batch(1.0)
            again = hub.listen_tickers(None, None, slot=False)  # the hub still wanted
            first.close()
            with anyio.fail_after(30):
                while True:
                    try:
                        await hub.connected()
                        break
                    except redis.exceptions.RedisError:  # a try that failed: the next one
                        await anyio.sleep(0.05)
            admin.publish("ticker_updates:binance:BTC/USDT", json.dumps({"price": round_}))
            (update,) = await taken(again, 1)
            assert json.loads(update[2]) == {"price": round_}
            again.close()


async def test_an_outage_is_logged_once_not_once_per_retry(caplog) -> None:
    """Redis stopped for a while under a stream hub: one line for the lost connection and one
    for the first failed try, none for the tries after it; started again, the hub is back."""
    with redis_process() as server:
        settings = Settings(redis_url=reader_url(server))
        async with hub_on(settings) as (hub, _):
            listener = hub.listen_tickers(None, None, slot=False)
            await hub.connected()
            with caplog.at_level(logging.WARNING, logger="fullon.cache_api.hub"):
                await anyio.to_thread.run_sync(server.stop)
                with anyio.fail_after(30), pytest.raises(redis.exceptions.RedisError):
                    while True:
                        await listener.next_batch(1.0)
                await anyio.sleep(2.0)  # the hub tries again meanwhile (0.1, 0.2, 0.4... s)
                await anyio.to_thread.run_sync(lambda: prepare(server.start(), load=False))
                listener.close()
                again = hub.listen_tickers(None, None, slot=False)
                with anyio.fail_after(30):
                    while True:  # the hub backs off: until it is subscribed again
                        try:
                            await hub.connected()
                            break
                        except redis.exceptions.RedisError:
                            await anyio.sleep(0.1)
                again.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "fullon.cache_api.hub"]
    assert sum("connection lost" in line for line in lines) == 1
    assert sum("cannot connect (attempt 1)" in line for line in lines) == 1
    assert not any("(attempt 2)" in line or "(attempt 3)" in line for line in lines)


# shutting down --------------------------------------------------------------------------------


async def test_a_stream_asked_for_while_the_server_shuts_down_is_503(settings, snapshot) -> None:
    app = create_app(settings)
    async with lifespan(app), http_client(app) as http:
        await end_streams(app)  # what a server's graceful stop runs first
        statuses = [
            (await http.get(path)).status_code for path in ("/stream/tickers", "/stream/bots")
        ]
    assert statuses == [503, 503]


async def test_a_closed_hub_refuses_listeners_and_tells_its_closers_at_once(
    settings, redis_server
) -> None:
    async with hub_on(settings) as (hub, _):
        await hub.aclose()
        told: list[str] = []
        forget = hub.on_close(lambda: told.append("closed"))
        forget()
        assert told == ["closed"]
        with pytest.raises(HubClosed):
            await hub.connected()
        listener = hub.watch("after", _forever)
        with pytest.raises(HubClosed):
            await listener.next_batch(0)
        listener.close()
