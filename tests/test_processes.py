"""Process endpoints against the snapshot, and the process quirks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
import redis

from budgets import HLEN_HGETALL, Case, fill_processes
from support import GENERATED_AT, WRITTEN_AT, Clock, expect, snapshot_keys, snapshot_value

NOW = GENERATED_AT + 7  # a few seconds after fullon_cache stamped the snapshot's processes


def iso(epoch: float) -> str:
    """An ISO time the way fullon_cache writes it (datetime.now(UTC).isoformat())."""
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def epoch_of(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def z(text: str | None) -> str | None:
    return None if text is None else iso(epoch_of(text)).replace("+00:00", "Z")


def expected(
    process_id: str, record: dict[str, Any], now: float, stale_after: float = 300
) -> dict[str, Any]:
    heartbeat = record.get("heartbeat")
    age = None if heartbeat is None else round(now - epoch_of(heartbeat), 3)
    return {
        "process_id": process_id,
        "process_type": record.get("process_type"),
        "component": record.get("component"),
        "params": record.get("params"),
        "status": record.get("status"),
        "message": record.get("message"),
        "created_at": z(record.get("created_at")),
        "updated_at": z(record.get("updated_at")),
        "heartbeat": z(heartbeat),
        "heartbeat_age_s": age,
        "stale": age is None or age > stale_after,
    }


def snapshot_active() -> list[tuple[str, str, dict[str, Any]]]:
    """(type, process_id, record) listed in process:active:* with a record, API order."""
    rows = []
    for key in snapshot_keys("process:active:"):
        kind = key.removeprefix("process:active:")
        for process_id in snapshot_value(key):
            try:
                raw = snapshot_value(f"process:data:{process_id}")
            except KeyError:
                continue
            rows.append((kind, process_id, json.loads(raw)))
    return sorted(rows, key=lambda row: (row[0], row[1]))


def write_process(
    admin: redis.Redis,
    kind: str,
    component: str,
    *,
    started: float = NOW - 60,
    updated: float = NOW - 10,
    heartbeat: float | None = NOW - 10,
    status: str = "running",
    active_at: float | None = None,
    record: bool = True,
    in_components: bool = True,
) -> str:
    """What fullon_cache's register_process / update_process write: the record (TTL 86400),
    the process:active:{type} entry and the process:components entry."""
    process_id = f"{kind}:{component}:{started}"
    data: dict[str, Any] = {
        "process_id": process_id,
        "process_type": kind,
        "component": component,
        "params": {"n": 1},
        "status": status,
        "message": "working",
        "created_at": iso(started),
        "updated_at": iso(updated),
    }
    if heartbeat is not None:
        data["heartbeat"] = iso(heartbeat)
    if record:
        admin.set(f"process:data:{process_id}", json.dumps(data), ex=86400)
    admin.hset(
        f"process:active:{kind}", process_id, iso(updated if active_at is None else active_at)
    )
    if in_components:
        admin.hset("process:components", component, process_id)
    return process_id


@pytest.fixture
def now(clock: Clock) -> float:
    clock.now = NOW
    return NOW


# the snapshot ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("snapshot")
async def test_snapshot_active_processes(client, now) -> None:
    rows = snapshot_active()
    assert [row[1].split(":", 1)[0] for row in rows] == ["bot", "tick", "tick", "tick"]
    items = [expected(pid, record, now) for _, pid, record in rows]
    body = expect(await client.get("/processes"))
    assert body == {"items": items, "count": 4, "since_minutes": 5.0, "stale_after": 300.0}
    assert all(item["stale"] is False for item in items)
    # the stopped ohlcv_service still has a record but is not in process:active
    assert snapshot_keys("process:data:ohlcv:")
    assert not any(item["process_type"] == "ohlcv" for item in body["items"])


@pytest.mark.usefixtures("snapshot")
async def test_snapshot_process_ttls_are_loaded(admin) -> None:
    for key in snapshot_keys("process:data:"):
        assert 0 < admin.ttl(key) <= 86400


@pytest.mark.usefixtures("snapshot")
async def test_snapshot_health(client, now) -> None:
    rows = snapshot_active()
    body = expect(await client.get("/processes/health"))
    by_type: dict[str, int] = {}
    by_status: dict[str, int] = {}
    for kind, _, record in rows:
        by_type[kind] = by_type.get(kind, 0) + 1
        by_status[record["status"]] = by_status.get(record["status"], 0) + 1
    assert body == {
        "healthy": False,  # bot_41 has status error
        "total": 4,
        "by_type": by_type,
        "by_status": by_status,
        "stale": 0,
        "errors": 1,
        "since_minutes": 5.0,
        "stale_after": 300.0,
    }
    assert by_type == {"bot": 1, "tick": 3} and by_status == {"error": 1, "running": 3}


@pytest.mark.usefixtures("snapshot")
async def test_snapshot_every_record_alone(client, now) -> None:
    keys = snapshot_keys("process:data:")
    assert len(keys) == 5
    for key in keys:
        process_id = key.removeprefix("process:data:")
        record = json.loads(snapshot_value(key))
        body = expect(await client.get(f"/processes/{process_id}"))
        assert body == expected(process_id, record, now)
        encoded = expect(await client.get(f"/processes/{quote(process_id, safe='')}"))
        assert encoded == body


@pytest.mark.usefixtures("snapshot")
async def test_snapshot_every_component(client, now) -> None:
    components = snapshot_value("process:components")
    assert set(components) == {
        "binance:BTC/USDT",
        "kraken:BTC/USD",
        "hyperliquid:BTC/USDC:USDC",
        "bot_41",
    }
    for component, process_id in components.items():
        record = json.loads(snapshot_value(f"process:data:{process_id}"))
        body = expect(await client.get(f"/processes/components/{component}"))
        assert body == expected(process_id, record, now)
    # stopped: its record is still there, but it left process:components
    body = expect(await client.get("/processes/components/ohlcv_service"), 404)
    assert body["error"]["code"] == "not_found"


@pytest.mark.usefixtures("snapshot")
async def test_snapshot_filters(client, now) -> None:
    async def ids(**params: str) -> list[str]:
        body = expect(await client.get("/processes", params=params))
        assert body["count"] == len(body["items"])
        return [item["process_id"] for item in body["items"]]

    ticks = [pid for kind, pid, _ in snapshot_active() if kind == "tick"]
    assert await ids(type="tick") == ticks
    assert await ids(type="bot") == ["bot:bot_41:1795668783.611727"]
    assert await ids(type="ohlcv") == []
    assert await ids(status="error") == ["bot:bot_41:1795668783.611727"]
    assert await ids(status="running") == ticks
    assert await ids(status="stopped") == []
    assert await ids(component="kraken:BTC/USD") == ["tick:kraken:BTC/USD:1795668783.609004"]
    assert await ids(component="hyperliquid:BTC/USDC:USDC", type="tick") == [
        "tick:hyperliquid:BTC/USDC:USDC:1795668783.610262"
    ]
    assert await ids(component="kraken:BTC/USD", type="bot") == []
    assert await ids(component="kraken") == []  # exact, not a prefix


@pytest.mark.usefixtures("snapshot")
async def test_snapshot_since_minutes_and_staleness_follow_the_clock(client, clock) -> None:
    clock.now = GENERATED_AT + 10 * 60
    assert expect(await client.get("/processes"))["count"] == 0
    body = expect(await client.get("/processes", params={"since_minutes": 11}))
    assert body["count"] == 4
    assert all(item["stale"] for item in body["items"])  # heartbeats 10 minutes old
    health = expect(await client.get("/processes/health", params={"since_minutes": 11}))
    assert (health["healthy"], health["total"], health["stale"]) == (False, 4, 4)
    health = expect(await client.get("/processes/health"))
    assert (health["healthy"], health["total"]) == (True, 0)
    fresh = expect(await client.get("/processes", params={"since_minutes": 11, "stale_after": 700}))
    assert not any(item["stale"] for item in fresh["items"])


# quirks ------------------------------------------------------------------------------------------


async def test_active_entry_without_record_is_not_listed(client, admin, now) -> None:
    alive = write_process(admin, "tick", "binance:ETH/USDT")
    write_process(admin, "tick", "binance:SOL/USDT", record=False)  # never written
    expired = write_process(admin, "crawler", "news")
    admin.delete(f"process:data:{expired}")  # its 86400 s TTL ran out
    body = expect(await client.get("/processes"))
    assert [item["process_id"] for item in body["items"]] == [alive]
    health = expect(await client.get("/processes/health"))
    assert (health["total"], health["by_type"]) == (1, {"tick": 1})
    expect(await client.get(f"/processes/{expired}"), 404)
    expect(await client.get("/processes/components/news"), 404)


async def test_ids_and_components_with_colons_and_slashes(client, admin, now) -> None:
    pid = write_process(admin, "tick", "kraken:BTC/USD:USD", started=1795668000.5)
    assert pid == "tick:kraken:BTC/USD:USD:1795668000.5"
    body = expect(await client.get(f"/processes/{pid}"))
    assert (body["process_id"], body["component"]) == (pid, "kraken:BTC/USD:USD")
    assert expect(await client.get(f"/processes/{quote(pid, safe='')}")) == body
    assert expect(await client.get("/processes/components/kraken:BTC/USD:USD")) == body
    assert expect(await client.get("/processes/components/kraken%3ABTC%2FUSD%3AUSD")) == body
    expect(await client.get("/processes/components/kraken:BTC/USD"), 404)
    listing = expect(await client.get("/processes", params={"component": "kraken:BTC/USD:USD"}))
    assert [item["process_id"] for item in listing["items"]] == [pid]


async def test_stale_from_heartbeat_and_pinned_clock(client, admin, now) -> None:
    old = write_process(admin, "bot", "bot_1", heartbeat=now - 301)
    young = write_process(admin, "bot", "bot_2", heartbeat=now - 299)
    missing = write_process(admin, "bot", "bot_3", heartbeat=None)
    body = expect(await client.get("/processes"))
    by_id = {item["process_id"]: item for item in body["items"]}
    assert (by_id[old]["stale"], by_id[old]["heartbeat_age_s"]) == (True, 301.0)
    assert (by_id[young]["stale"], by_id[young]["heartbeat_age_s"]) == (False, 299.0)
    assert by_id[missing]["stale"] is True
    assert by_id[missing]["heartbeat"] is None and by_id[missing]["heartbeat_age_s"] is None
    health = expect(await client.get("/processes/health"))
    assert (health["healthy"], health["stale"], health["errors"]) == (False, 2, 0)
    body = expect(await client.get("/processes", params={"stale_after": 302}))
    assert [item["stale"] for item in body["items"]] == [False, False, True]
    alone = expect(await client.get(f"/processes/{young}", params={"stale_after": 200}))
    assert alone["stale"] is True


async def test_healthy_when_all_fresh_and_no_error(client, admin, now) -> None:
    write_process(admin, "tick", "binance:BTC/USDT")
    write_process(admin, "account", "acc_1", status="idle")
    body = expect(await client.get("/processes/health"))
    assert body["healthy"] is True
    assert body["by_type"] == {"account": 1, "tick": 1}
    assert body["by_status"] == {"idle": 1, "running": 1}
    write_process(admin, "tick", "kraken:BTC/USD", status="error")  # a type read before
    assert expect(await client.get("/processes/health"))["healthy"] is False


async def test_since_minutes_uses_the_active_hash_time(client, admin, now) -> None:
    # recent record but an old process:active time: selected by the active time
    old = write_process(admin, "tick", "a", updated=now - 10, active_at=now - 6 * 60)
    # old record time but a recent process:active time
    new = write_process(admin, "tick", "b", updated=now - 3600, active_at=now - 60)
    body = expect(await client.get("/processes"))
    assert [item["process_id"] for item in body["items"]] == [new]
    body = expect(await client.get("/processes", params={"since_minutes": 7}))
    assert [item["process_id"] for item in body["items"]] == [old, new]
    body = expect(await client.get("/processes", params={"since_minutes": 0.5}))
    assert body["items"] == []
    assert body["since_minutes"] == 0.5


async def test_unreadable_active_time_is_not_selected(client, admin, now) -> None:
    pid = write_process(admin, "tick", "a")
    admin.hset("process:active:tick", pid, "not a time")
    assert expect(await client.get("/processes"))["count"] == 0


async def test_unknown_process_types_on_disk_are_discovered(client, admin, now) -> None:
    custom = write_process(admin, "custom_service", "x")
    tick = write_process(admin, "tick", "y")
    body = expect(await client.get("/processes"))
    assert [item["process_id"] for item in body["items"]] == [custom, tick]
    body = expect(await client.get("/processes", params={"type": "tick"}))
    assert [item["process_id"] for item in body["items"]] == [tick]


async def test_corrupt_record(client, admin, now) -> None:
    good = write_process(admin, "tick", "good")
    bad = write_process(admin, "tick", "bad")
    array = write_process(admin, "tick", "array")
    admin.set(f"process:data:{bad}", "{not json", ex=86400)
    admin.set(f"process:data:{array}", "[1, 2]", ex=86400)
    body = expect(await client.get("/processes"))
    assert [item["process_id"] for item in body["items"]] == [good]
    assert body["skipped"] == 2
    health = expect(await client.get("/processes/health"))
    assert (health["total"], health["skipped"]) == (1, 2)
    for path in (f"/processes/{bad}", "/processes/components/bad", f"/processes/{array}"):
        error = expect(await client.get(path), 502)["error"]
        assert error["code"] == "bad_cache_value"
    assert expect(await client.get("/processes/components/good"))["process_id"] == good


async def test_record_with_nan_and_missing_fields(client, admin, now) -> None:
    admin.set("process:data:tick:odd:1", '{"status": "running", "params": {"x": NaN}}', ex=86400)
    admin.hset("process:active:tick", "tick:odd:1", iso(now))
    body = expect(await client.get("/processes"))
    assert body["items"] == [
        {
            "process_id": "tick:odd:1",
            "process_type": "tick",  # from the process:active key
            "component": None,
            "params": {"x": None},
            "status": "running",
            "message": None,
            "created_at": None,
            "updated_at": None,
            "heartbeat": None,
            "heartbeat_age_s": None,
            "stale": True,
        }
    ]


async def test_wrong_typed_keys(client, admin, now) -> None:
    good = write_process(admin, "tick", "good")
    admin.set("process:active:bot", "not a hash")
    admin.hset("process:data:tick:h:1", "a", "b")
    admin.hset("process:active:tick", "tick:h:1", iso(now))
    body = expect(await client.get("/processes"))
    assert [item["process_id"] for item in body["items"]] == [good]
    assert body["skipped"] == 1  # the string process:active:bot; MGET reads the hash as absent
    expect(await client.get("/processes/tick:h:1"), 502)


async def test_absent_data(client, admin, now) -> None:
    body = expect(await client.get("/processes"))
    assert body == {"items": [], "count": 0, "since_minutes": 5.0, "stale_after": 300.0}
    health = expect(await client.get("/processes/health"))
    assert (health["healthy"], health["total"], health["by_type"]) == (True, 0, {})
    error = expect(await client.get("/processes/tick:binance:BTC/USDT:1"), 404)["error"]
    assert "tick:binance:BTC/USDT:1" in error["message"]
    expect(await client.get("/processes/components/binance:BTC/USDT"), 404)


async def test_component_pointing_to_expired_record_is_404(client, admin, now) -> None:
    pid = write_process(admin, "tick", "binance:BTC/USDT")
    admin.delete(f"process:data:{pid}")
    expect(await client.get("/processes/components/binance:BTC/USDT"), 404)


async def test_fixed_words_win_over_process_ids(client, admin, now) -> None:
    write_process(admin, "tick", "health")
    assert "healthy" in expect(await client.get("/processes/health"))
    assert "healthy" in expect(await client.get("/processes/health/"))


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/processes", {"type": "ticker"}, "type"),
        ("/processes", {"status": "dead"}, "status"),
        ("/processes", {"since_minutes": "0"}, "since_minutes"),
        ("/processes", {"since_minutes": "-5"}, "since_minutes"),
        ("/processes", {"since_minutes": "soon"}, "since_minutes"),
        ("/processes", {"stale_after": "0"}, "stale_after"),
        ("/processes", {"stale_after": "nan"}, "stale_after"),
        ("/processes", {"component": "a*"}, "component"),
        ("/processes/health", {"since_minutes": "inf"}, "since_minutes"),
        ("/processes/health", {"stale_after": "-1"}, "stale_after"),
        ("/processes/tick:a%2A", {}, "process_id"),
        ("/processes/" + "x" * 129, {}, "process_id"),
        ("/processes/components/a%3F", {}, "component"),
        ("/processes/tick:a:1", {"stale_after": "x"}, "stale_after"),
    ],
)
async def test_bad_input_is_400_naming_the_parameter(client, admin, path, params, name) -> None:
    body = expect(await client.get(path, params=params), 400)
    assert body["error"]["code"] == "bad_request"
    assert f"'{name}'" in body["error"]["message"]


async def test_listing_reads_one_hgetall_per_type_and_one_mget(uncached, admin, now) -> None:
    client = uncached
    for index in range(5):
        write_process(admin, "tick", f"binance:S{index}/USDT")
    write_process(admin, "bot", "bot_9")
    admin.config_resetstat()
    expect(await client.get("/processes"))
    stats = admin.info("commandstats")
    calls = {name.removeprefix("cmdstat_"): int(s["calls"]) for name, s in stats.items()}
    assert (calls["hgetall"], calls["mget"]) == (2, 1)
    assert "get" not in calls
    admin.config_resetstat()
    expect(await client.get("/processes", params={"type": "bot"}))
    stats = admin.info("commandstats")
    calls = {name.removeprefix("cmdstat_"): int(s["calls"]) for name, s in stats.items()}
    assert (calls["hgetall"], calls["mget"]) == (1, 1)
    assert "scan" not in calls  # only process:active:bot is read


# Redis budgets -----------------------------------------------------------------------------------

BUDGETS: tuple[Case, ...] = (
    # The active hashes (HLEN, HGETALL) name the records to read (MGET).
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
"""The process routes' Redis budgets (tests/test_budgets.py measures them)."""
