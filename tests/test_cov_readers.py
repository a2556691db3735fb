"""Readers' and errors' edges on a real redis-server: Redis busy running a script (its error
answered 503, no detail), the pages after the first of accounts and trade statuses, a status
key that names nothing, ticks without a time in the ticker health, and a coordination hash
too large to read whole."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import anyio
import pytest
import redis

from fullon_cache_api import Settings, create_app, lifespan
from fullon_cache_api.demo.redis_server import RedisServer
from fullon_cache_api.readers.source import READ_BATCH

from support import (
    GENERATED_AT,
    PATIENT,
    WRITTEN_AT,
    expect,
    http_client,
    reader_url,
    redis_process,
)

BTC = "/tickers/binance/BTC/USDT"


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    with redis_process() as server:
        yield server


async def test_redis_busy_running_a_script_is_503_without_detail(private_redis) -> None:
    """A script that runs past ``lua-time-limit``: Redis answers every other command
    BUSY; the API answers 503 ``cache_unavailable`` (no Redis text), and serves again once
    the script is killed."""
    port = private_redis.port
    settings = Settings(redis_url=reader_url(private_redis), local_cache=False, **PATIENT)
    app = create_app(settings)
    with redis.Redis(port=port) as admin:
        admin.config_set("lua-time-limit", 50)  # busy-reply-threshold since Redis 7
        async with lifespan(app), http_client(app) as http:
            assert expect(await http.get(BTC))["price"] == 300.0
            script = redis.Redis(port=port)
            errors: list[BaseException] = []

            def run() -> None:
                try:
                    script.eval("while true do end", 0)
                except redis.exceptions.RedisError as exc:
                    errors.append(exc)

            runner = threading.Thread(target=run)
            runner.start()
            try:
                with anyio.fail_after(30):
                    while True:  # until Redis answers BUSY
                        try:
                            admin.ping()
                        except redis.exceptions.ResponseError as exc:
                            assert str(exc).startswith("BUSY")
                            break
                        await anyio.sleep(0.01)
                body = expect(await http.get(BTC), 503)
            finally:
                with redis.Redis(port=port) as killer:
                    killer.script_kill()
                runner.join(30)
                script.close()
            assert body["error"] == {
                "status": 503,
                "code": "cache_unavailable",
                "message": "the cache answered with an error",
            }
            assert len(errors) == 1  # the script was killed
            assert expect(await http.get(BTC))["price"] == 300.0


async def test_the_pages_after_the_first(client, admin, snapshot) -> None:
    """Accounts and trade statuses paged one at a time: each page after the first begins
    after the last item of the one before, and together they are the whole listing."""
    for path, key in (("/accounts", "ex_id"), ("/trades/status", "key")):
        whole = expect(await client.get(path))["items"]
        assert len(whole) >= 2
        paged, cursor = [], None
        with anyio.fail_after(30):
            while True:
                params = {"limit": 1} | ({"cursor": cursor} if cursor else {})
                body = expect(await client.get(path, params=params))
                paged += body["items"]
                cursor = body.get("next_cursor")
                if cursor is None:
                    break
        assert [item[key] for item in paged] == [item[key] for item in whole]


async def test_a_status_key_that_names_nothing_is_not_listed(client, admin, snapshot) -> None:
    before = expect(await client.get("/trades/status"))["items"]
    admin.set("TRADE:STATUS:", "2026-11-26T05:00:00+00:00")  # the prefix, and no exchange
    assert expect(await client.get("/trades/status"))["items"] == before


async def test_ticks_without_a_time_in_the_ticker_health(client, admin) -> None:
    admin.hset("tickers:timeless", mapping={"A/USDT": json.dumps({"price": 1.0})})
    admin.hset("tickers:timeless", "B/USDT", json.dumps({"price": 2.0, "time": WRITTEN_AT}))
    body = expect(await client.get("/tickers/health"))
    (row,) = [r for r in body["items"] if r["exchange"] == "timeless"]
    assert row["count"] == 2
    assert row["newest"] == row["oldest"]  # the one tick with a time
    assert row["stale"] == 1  # no time is not fresh; the other is within max_age


async def test_a_coordination_hash_too_large_to_read_whole_is_refused(client, admin) -> None:
    admin.hset("block_exchange", mapping={f"1:S{i}/USDT": "41" for i in range(READ_BATCH + 1)})
    body = expect(await client.get("/bots/coordination"), 400)
    assert body["error"]["code"] == "too_large"
    assert "page through /bots/blocks" in body["error"]["message"]


async def test_a_value_with_nan_and_a_wrong_type_is_corrupt(client, admin, snapshot) -> None:
    """JSON with NaN is read through its slower path; wrong there too, it is corrupt: the
    ticker is 502 ``bad_cache_value`` and the listing skips it (counted)."""
    admin.hset("tickers:binance", "NAN/USDT", '{"price": NaN, "bid": "not a number"}')
    body = expect(await client.get("/tickers/binance/NAN/USDT"), 502)
    assert body["error"]["code"] == "bad_cache_value"
    listing = expect(await client.get("/tickers/binance"))
    assert "NAN/USDT" not in [item["symbol"] for item in listing["items"]]
    assert listing["skipped"] == 1


async def test_process_health_counts_more_processes_than_one_read_batch(
    client, admin, clock
) -> None:
    """More active processes than one batch of reads: the health aggregate reads them page
    after page and counts every one."""
    now = GENERATED_AT + 7
    clock.now = now
    stamp = datetime.fromtimestamp(now - 10, UTC).isoformat()
    pipe = admin.pipeline(transaction=False)
    for i in range(READ_BATCH + 5):
        process_id = f"cov:worker_{i:04d}:{now - 60}"
        record = {"process_id": process_id, "process_type": "cov", "component": f"worker_{i:04d}"}
        record |= {"status": "running", "updated_at": stamp, "heartbeat": stamp}
        pipe.set(f"process:data:{process_id}", json.dumps(record), ex=86400)
        pipe.hset("process:active:cov", process_id, stamp)
    pipe.execute()
    body = expect(await client.get("/processes/health"))
    assert (body["total"], body["by_type"], body["stale"]) == (
        READ_BATCH + 5,
        {"cov": READ_BATCH + 5},
        0,
    )
