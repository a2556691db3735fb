"""Watchers (the stream hub's shared reads of what no writer publishes), pushed from Redis's
own invalidations: a write by any client reaches a stream without a poll, a burst of writes
costs at most one read per coalescing window, and without tracking the watchers poll (and say
so in /metrics), then read at once when tracking is back.

The WebSocket streams of v0.2.6 run here with a poll interval of an hour: an update that comes
at all was pushed. Writes are the admin's, as fullon_cache's writers make them.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest
import redis
from prometheus_client import REGISTRY
from websockets.asyncio.client import ClientConnection, connect

from fullon_cache_api import Settings, create_app
from fullon_cache_api import hub as hub_module
from fullon_cache_api.errors import TooManyStreams
from fullon_cache_api.hub import StreamHub, Watch

from support import GENERATED_AT, PATIENT, newest_hub, serve_in_process

pytestmark = [pytest.mark.usefixtures("snapshot"), pytest.mark.slow]
HOUR = 3600.0


@pytest.fixture
def pushed_only(settings: Settings) -> Settings:
    """No poll within any test's time: what arrives was pushed."""
    return dataclasses.replace(settings, ws_poll_interval=HOUR)


async def start(ws: ClientConnection, action: str, params: dict[str, Any]) -> dict[str, Any]:
    """Start a stream: its confirmation, then its first state's first message."""
    await ws.send(json.dumps({"action": action, "request_id": "s", "params": params}))
    assert (await recv(ws))["success"] is True
    return await recv(ws)


async def recv(ws: ClientConnection) -> dict[str, Any]:
    with anyio.fail_after(10):
        frame: dict[str, Any] = json.loads(await ws.recv())
    return frame


def position_doc(volume: float) -> str:
    position = {"cost": 1.0, "volume": volume, "fee": 0.0, "count": 1, "price": 3.0}
    return json.dumps({"BTC/USDT": position, "timestamp": "2026-11-26T05:00:00+00:00"})


def register(admin: redis.Redis) -> None:
    """A new tick process, as fullon_cache's register_process writes it."""
    pid = "tick:binance:XRP/USDT:1795668790.0"
    record = {"process_id": pid, "process_type": "tick", "status": "running"}
    admin.set(f"process:data:{pid}", json.dumps(record), ex=86400)
    admin.hset("process:active:tick", pid, "2026-11-26T04:53:10+00:00")


ORDER = json.dumps({"symbol": "XRP/USDT", "side": "buy", "volume": 1.0, "status": "open"})
FEEDS = json.dumps({"feed_0": {"status": "stopped", "timestamp": "2026-11-26T05:00:00+00:00"}})
STREAMS: dict[str, tuple[str, str, dict[str, Any], Callable[[redis.Redis], Any], Any]] = {
    # path, action, params, a write as fullon_cache's writer makes it, what the update shows
    "order_queue": (
        "orders",
        "stream_order_queue",
        {"exchange": "binance"},
        lambda admin: admin.hset("order_status:binance", "BINANCE-00009", ORDER),
        lambda result: result["queue_length"] == 4,
    ),
    "bot_status": (
        "bots",
        "stream_bot_status",
        {"bot_id": 41},
        lambda admin: admin.hset("bot_status", "41", FEEDS),
        lambda result: result["bots"]["41"]["feed_0"]["status"] == "stopped",
    ),
    "positions": (
        "accounts",
        "stream_positions",
        {"exchange": "1"},
        lambda admin: admin.hset("account_positions", "1", position_doc(-0.5)),
        lambda result: (result["symbol"], result["side"]) == ("BTC/USDT", "short"),
    ),
    "process_health": (
        "process",
        "stream_process_health",
        {},
        register,
        lambda result: result["active_processes"] == 5,
    ),
}


@pytest.mark.parametrize("name", sorted(STREAMS))
async def test_websocket_streams_are_pushed_by_a_write_not_polled(
    name, pushed_only, clock, admin
) -> None:
    """With a poll interval of an hour, the write shows within seconds: tracking pushed it."""
    path, action, params, write, shows = STREAMS[name]
    clock.now = GENERATED_AT + 30  # the snapshot's processes are active
    app = create_app(pushed_only, clock=clock)
    async with serve_in_process(app) as base, connect(f"{base}/ws/{path}/c1") as ws:
        first = await start(ws, action, params)
        assert not shows(first["result"])
        write(admin)
        while not shows((await recv(ws))["result"]):  # positions: one message per position
            pass


def calls(admin: redis.Redis) -> dict[str, int]:
    stats = admin.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(s["calls"]) for name, s in stats.items()}


async def test_a_burst_of_writes_costs_one_read_per_coalescing_window(
    pushed_only, clock, admin
) -> None:
    """20 sockets on one order count, 300 writes spread over a while: at most one HLEN per
    coalescing window (twice that, and one, for the windows' edges), whatever the sockets,
    and every socket ends with the final count."""
    window = 0.05
    app = create_app(dataclasses.replace(pushed_only, stream_coalesce=window), clock=clock)
    async with serve_in_process(app) as base:
        sockets = []
        try:
            for i in range(20):
                sockets.append(await connect(f"{base}/ws/orders/c{i}"))
                await start(sockets[-1], "stream_order_queue", {"exchange": "binance"})
            before = calls(admin)

            def writer() -> float:
                began = time.monotonic()
                with redis.Redis(port=admin.connection_pool.connection_kwargs["port"]) as own:
                    for n in range(300):
                        own.hset("order_status:binance", f"NEW-{n}", ORDER)
                        time.sleep(0.002)
                return time.monotonic() - began

            took = await anyio.to_thread.run_sync(writer)
            for ws in sockets:  # each ends with the final count (3 + 300)
                while (await recv(ws))["result"]["queue_length"] != 303:
                    pass
            made = calls(admin)
        finally:
            for ws in sockets:
                await ws.close()
    hlen = made.get("hlen", 0) - before.get("hlen", 0)
    assert made["hset"] - before.get("hset", 0) == 300
    assert 1 <= hlen <= 2 * (took / window) + 3, (hlen, took)


def watchers(mode: str) -> float:
    return REGISTRY.get_sample_value("fullon_cache_api_watchers", {"mode": mode}) or 0.0


async def test_without_tracking_watchers_poll_and_say_so_in_metrics(
    untracked, clock, admin
) -> None:
    settings = Settings(redis_url=untracked, ws_poll_interval=0.05, **PATIENT)
    app = create_app(settings, clock=clock)
    async with serve_in_process(app) as base, connect(f"{base}/ws/orders/c1") as ws:
        assert (await start(ws, "stream_order_queue", {"exchange": "binance"}))["result"][
            "queue_length"
        ] == 3
        with anyio.fail_after(10):
            while watchers("polled") != 1.0:
                await anyio.sleep(0.01)
        assert watchers("pushed") == 0.0
        admin.hset("order_status:binance", "BINANCE-00009", ORDER)
        assert (await recv(ws))["result"]["queue_length"] == 4  # read within a poll interval
    with anyio.fail_after(10):
        while watchers("polled") != 0.0:  # the watcher stopped with its last listener
            await anyio.sleep(0.01)


async def test_a_lost_hub_connection_is_read_again_once_tracking_is_back(
    pushed_only, clock, admin
) -> None:
    """The hub's connection killed: writes made meanwhile are not reported, so the watcher
    reads once tracking holds again (no poll within an hour), then is pushed as before."""
    app = create_app(pushed_only, clock=clock)
    async with serve_in_process(app) as base, connect(f"{base}/ws/orders/c1") as ws:
        assert (await start(ws, "stream_order_queue", {"exchange": "binance"}))["result"][
            "queue_length"
        ] == 3
        assert watchers("pushed") == 1.0
        hub = newest_hub(admin)
        admin.client_kill_filter(_id=hub["id"])
        admin.hset("order_status:binance", "BINANCE-00009", ORDER)
        assert (await recv(ws))["result"]["queue_length"] == 4
        with anyio.fail_after(10):
            while watchers("pushed") != 1.0:
                await anyio.sleep(0.01)
        admin.hset("order_status:binance", "BINANCE-00010", ORDER)
        assert (await recv(ws))["result"]["queue_length"] == 5


class Counting:
    """A ``hub.Diff`` of dict states: ``("set", key, value)`` and ``("del", key)`` items, a
    snapshot ``("snapshot", state)``."""

    def changes(self, old: dict[str, int], new: dict[str, int]) -> list[Any]:
        found: list[Any] = [("set", k, v) for k, v in new.items() if old.get(k) != v]
        return found + [("del", k) for k in old if k not in new]

    def snapshot(self, state: dict[str, int]) -> Any:
        return ("snapshot", dict(state))

    def weight(self, item: Any) -> int:
        return 10


async def test_a_diff_watcher_sends_a_snapshot_then_changes_and_a_late_listener_a_snapshot(
    settings,
) -> None:
    """Without tracking (no local cache) a watcher polls; each listener's first item is the
    snapshot of a read begun after it came, then the changes, in order; one that falls behind
    its bound gets a fresh snapshot; watchers are bounded (503 past the most)."""
    fast = dataclasses.replace(
        settings, ws_poll_interval=0.01, stream_coalesce=0.01, stream_queue=3
    )
    hub = StreamHub(lambda: None, fast)  # type: ignore[arg-type,return-value]
    state = {"a": 1}

    async def read() -> dict[str, int]:
        return dict(state)

    async def next_items(listener: Any) -> list[Any]:
        with anyio.fail_after(10):
            while not (batch := await listener.next_batch(1.0)):
                pass
        return batch

    one = hub.watch("k", read, Watch(keys=("x",)), Counting())
    try:
        assert await next_items(one) == [("snapshot", {"a": 1})]
        state.update(a=2, b=3)
        assert sorted(await next_items(one)) == [("set", "a", 2), ("set", "b", 3)]
        del state["a"]
        assert await next_items(one) == [("del", "a")]
        late = hub.watch("k", read, Watch(keys=("x",)), Counting())
        assert await next_items(late) == [("snapshot", {"b": 3})]
        assert hub.pollers == 1
        one.gate = anyio.Event().wait  # never room: what comes piles up
        for n in range(5):  # past stream_queue (3): behind, then a snapshot instead
            state[f"n{n}"] = n
            assert await next_items(late) == [("set", f"n{n}", n)]
        one.gate = None
        assert await next_items(one) == [("snapshot", {"b": 3, **{f"n{n}": n for n in range(5)}})]
        hub_module.MAX_WATCHERS, most = 1, hub_module.MAX_WATCHERS
        try:
            with pytest.raises(TooManyStreams):
                hub.watch("other", read, Watch(keys=("y",)), Counting())
        finally:
            hub_module.MAX_WATCHERS = most
        late.close()
    finally:
        one.close()
    assert hub.pollers == 0
    await hub.aclose()
