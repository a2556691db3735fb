"""The demo feeder (``demo/feeder.py``) on a Redis that holds more than the sample: what it
cannot read (a tick without numbers, a process without its record, an odd timeframe, orders
without prices, keys it cannot parse, an account of no known exchange) is left as it is while
the rest is fed; an asset the market does not make gets a walk of its own; and a feeder whose
Redis goes away stops, saying why. Real redis-servers."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis

from fullon_cache_api.demo.feeder import Feeder
from fullon_cache_api.demo.snapshot import load_snapshot

from support import SNAPSHOT, redis_process

ODD: dict[str, Any] = {
    "tickers:binance": {"BAD/USDT": json.dumps({"price": "n/a", "bid": 1, "ask": 2})},
    "process:active:tick": {"tick:gone:BTC/USDT:1": "2026-11-26T04:53:03Z"},
    "order_status:odd": {"1": json.dumps({"order_id": "1", "status": "open"})},
    "accounts": {"99": json.dumps({"USDT": {"free": 1.0}})},
}
ODD_LISTS = {
    "ohlcv:BTC/USDT:tick": [json.dumps([1795668000000, 1, 1, 1, 1, 0])],
    "trades:odd": [json.dumps({"price": 1.0})],
    "USER_TRADE:odd": [json.dumps({"price": 1.0})],
}


def wait_until(what: str, done: Any) -> Any:
    deadline = time.monotonic() + 60
    while not (found := done()):
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.05)
    return found


def test_a_feeder_feeds_what_it_reads_and_leaves_what_it_cannot_as_it_is(
    redis_server, admin: redis.Redis
) -> None:
    load_snapshot(admin, SNAPSHOT)
    doge = {"symbol": "DOGE/USDT", "price": 0.2, "bid": 0.19, "ask": 0.21, "volume": 5.0}
    admin.hset("tickers:binance", "DOGE/USDT", json.dumps({**doge, "time": 1.0, "last": 0.2}))
    for key, fields in ODD.items():
        admin.hset(key, mapping=fields)
    for key, items in ODD_LISTS.items():
        admin.rpush(key, *items)
    before = {key: admin.hgetall(key) for key in ("order_status:odd", "accounts")}
    lists = {key: admin.lrange(key, 0, -1) for key in ODD_LISTS}
    feeder = Feeder(f"redis://127.0.0.1:{redis_server.port}/0").start()
    try:

        def doge_fed() -> dict[str, Any] | None:
            tick = json.loads(admin.hget("tickers:binance", "DOGE/USDT") or "{}")
            return tick if tick.get("time", 1.0) > 1.0 else None

        fed = wait_until("DOGE/USDT fed", doge_fed)
        wait_until("BTC/USDT fed", lambda: admin.get("ticker_time:binance:BTC/USDT"))
    finally:
        feeder.stop()
    assert 0.1 < fed["price"] < 0.4  # a small walk from its own price: no asset of the market
    assert fed["volume"] == 5.0  # its volume is not the market's to move
    assert admin.hget("tickers:binance", "BAD/USDT") == ODD["tickers:binance"]["BAD/USDT"]
    assert admin.hget("process:active:tick", "tick:gone:BTC/USDT:1") == "2026-11-26T04:53:03Z"
    assert admin.get("process:data:tick:gone:BTC/USDT:1") is None
    assert admin.hgetall("order_status:odd") == before["order_status:odd"]  # no order fed
    assert admin.hget("accounts", "99") == before["accounts"]["99"]
    assert {key: admin.lrange(key, 0, -1) for key in ODD_LISTS} == lists


def test_a_feeder_whose_redis_goes_away_stops_and_says_why(caplog) -> None:
    with redis_process(prepared=False) as server:
        with redis.Redis(port=server.port, decode_responses=True) as admin:
            load_snapshot(admin, SNAPSHOT)
        feeder = Feeder(server.url).start()
        try:
            with caplog.at_level(logging.ERROR, logger="fullon.cache_api"):
                server.stop()
                wait_until(
                    "the feeder's error",
                    lambda: any("demo feeder stopped: " in r.getMessage() for r in caplog.records),
                )
        finally:
            feeder.stop()  # its thread has ended already
    (record,) = [r for r in caplog.records if "demo feeder stopped" in r.getMessage()]
    assert record.levelname == "ERROR" and "Traceback" not in record.getMessage()
