"""The demo feeder (``demo/feeder.py``) on a Redis that holds more than the sample: what it
cannot read (a tick without numbers, a process without its record, an odd timeframe, orders
without prices, keys it cannot parse, an account of no known exchange) is left as it is while
the rest is fed; an asset the market does not make gets a walk of its own; and a feeder whose
Redis goes away stops, saying why. Then its steps one at a time, at chosen times, on a Redis
holding only some of what the sample does: a candle whose period ended, the blocks' cycle with
nothing to take, an order and a fill of what no queue, template, account or position holds.
Real redis-servers."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from fullon_cache_api.demo.feeder import BLOCK_CYCLE_S, FIRST_STALL_S, Feeder
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


# The feeder's steps, driven one at a time at chosen times, on a Redis of a single exchange
# holding only some of what the sample does: no quiet tick process, no user trade of an
# exchange (only a list whose key does not parse), no queue of the exchange, an account without
# positions, a bot feed without PnL and one that is not a dict, a symbol the market does not make.

T0 = 1_764_099_960  # a minute's start (s): PEPE/USDT's stored one-minute candle
BTC_TICK = {"symbol": "BTC/USDT", "price": 300.0, "bid": 299.5, "ask": 300.5, "volume": 10.0}
PEPE_TICK = {"symbol": "PEPE/USDT", "price": 1e-05, "bid": 9e-06, "ask": 1.1e-05, "volume": 5.0}
PROCESS_ID = "tick:binance:BTC/USDT:1"
PROCESS = {"process_id": PROCESS_ID, "component": "binance:BTC/USDT", "message": "streaming"}
POSITION = {"cost": 300.0, "volume": 1.0, "fee": 0.1, "count": 1, "price": 300.0}
NO_PNL = {"feed_0": {"status": "running", "symbols": ["BTC/USDT"], "exchange": "binance"}}
NOT_A_DICT = {"feed_0": "paused", "feed_1": {"status": "stopped", "pnl": 12.5}}
UNPARSED_USER_TRADES = "user_trades:nouid"  # no "{uid}:{exchange}": no template


def order(order_id: str, ex_id: int, symbol: str, price: float, **fields: Any) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "ex_id": ex_id,
        "exchange": "binance",
        "symbol": symbol,
        "side": "buy",
        "volume": 0.1,
        "final_volume": None,
        "price": price,
        "status": "open",
        **fields,
    }


def sparse(
    admin: redis.Redis,
    orders: list[dict[str, Any]],
    bots: dict[str, Any] | None = None,
    accounts: tuple[str, ...] = ("5", "6"),
) -> None:
    """The sparse Redis: ``orders`` on binance (an account's exchange is that of its orders),
    ``accounts`` (5 without positions, 6 holding ETH/USDT only), ``bots`` (default: 7 without a
    PnL, 8 with a feed that is not a dict)."""
    admin.hset(
        "tickers:binance",
        mapping={"BTC/USDT": json.dumps(BTC_TICK), "PEPE/USDT": json.dumps(PEPE_TICK)},
    )
    admin.hset("process:active:tick", PROCESS_ID, "2026-11-26T04:53:03Z")
    admin.set(f"process:data:{PROCESS_ID}", json.dumps(PROCESS))
    admin.rpush("ohlcv:PEPE/USDT:1m", json.dumps([T0 * 1000.0, 1e-05, 1.2e-05, 8e-06, 1.1e-05, 3]))
    admin.rpush("ohlcv:PEPE/USDT:1h", json.dumps([T0 - 60, 1e-05, 1.2e-05, 8e-06, 1.1e-05, 9]))
    if orders:
        admin.hset("order_status:binance", mapping={o["order_id"]: json.dumps(o) for o in orders})
    balances = {"USDT": {"free": 900.0, "used": 100.0, "total": 1000.0}}
    for ex_id in accounts:
        admin.hset("accounts", ex_id, json.dumps(balances))
    if "6" in accounts:
        admin.hset("account_positions", "6", json.dumps({"ETH/USDT": POSITION}))
    admin.rpush(UNPARSED_USER_TRADES, json.dumps({"price": 1.0, "time": "2026-11-26T04:53:03Z"}))
    admin.rpush("new_orders:local-kraken", "K-1")  # another exchange's queue only
    bots = {"7": NO_PNL, "8": NOT_A_DICT} if bots is None else bots
    if bots:
        admin.hset("bot_status", mapping={bot: json.dumps(f) for bot, f in bots.items()})


def state(admin: redis.Redis) -> dict[str, Any]:
    """Every key's serialized value: equal before and after when nothing was written."""
    return {key: admin.dump(key) for key in admin.scan_iter()}


def run(feeder: Feeder, *steps: tuple[str, float]) -> None:
    """The feeder's steps (by name, each at its time) sent in one pipeline, as a round is."""
    pipe = feeder._redis.pipeline(transaction=False)
    for step, now in steps:
        getattr(feeder, step)(pipe, now)
    pipe.execute()


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat()


def test_a_sparse_redis_opens_with_what_it_holds_and_leaves_out_what_it_lacks(
    redis_server, admin: redis.Redis
) -> None:
    btc = order("B-1", 5, "BTC/USDT", 300.0)
    pepe = order("B-2", 6, "PEPE/USDT", 1e-05, side="sell")
    sparse(admin, [btc, pepe])
    unparsed = admin.lrange(UNPARSED_USER_TRADES, 0, -1)
    feeder = Feeder(redis_server.url)
    try:
        feeder._discover()
        now = feeder._started
        feeder._open_market(now)
        # The quiet process's stall is on (stale, even): no process of this Redis is the quiet
        # one, so the only one beats on as usual.
        stalled = feeder._started + FIRST_STALL_S + 1
        assert feeder._quiet(stalled)
        run(feeder, ("_heartbeat", stalled), ("_feeds", stalled))
    finally:
        feeder.stop()
    record = json.loads(admin.get(f"process:data:{PROCESS_ID}") or "{}")
    assert record["heartbeat"] == record["updated_at"] == iso(stalled)
    assert record["message"] == "streaming"
    assert admin.hget("process:active:tick", PROCESS_ID) == iso(stalled)
    # The PEPE order keeps its own price (no market of PEPE); the BTC one is near BTC's market.
    orders = {oid: json.loads(raw) for oid, raw in admin.hgetall("order_status:binance").items()}
    assert orders["B-2"]["price"] == 1e-05 and orders["B-2"]["timestamp"] == iso(now)
    market = json.loads(admin.hget("tickers:binance", "BTC/USDT") or "{}")["price"]
    assert market > 100 * btc["price"]  # the market's BTC, not the stored 300
    assert 0.984 < orders["B-1"]["price"] / market < 0.9995  # a buy: below it
    # Account 5 has no positions: none written for it; account 6's are priced near the market.
    positions = admin.hgetall("account_positions")
    assert set(positions) == {"6"}
    eth = json.loads(positions["6"])["ETH/USDT"]
    assert eth["price"] > 1000 and eth["cost"] == pytest.approx(eth["price"] * eth["volume"])
    assert set(json.loads(admin.hget("accounts", "5") or "{}")) == {"USDT", "BTC", "date"}
    # No user trade template: the list whose key does not parse is not fed, none is created.
    assert admin.lrange(UNPARSED_USER_TRADES, 0, -1) == unparsed
    assert list(admin.scan_iter("user_trades:*")) == [UNPARSED_USER_TRADES]
    assert list(admin.scan_iter("USER_TRADE:STATUS:*")) == []
    # A feed without PnL gets none; a feed that is not a dict is stored as it was.
    bots = {bot: json.loads(raw) for bot, raw in admin.hgetall("bot_status").items()}
    assert bots["7"] == {"feed_0": {**NO_PNL["feed_0"], "timestamp": iso(stalled)}}
    assert bots["8"] == {
        "feed_0": "paused",
        "feed_1": {"status": "stopped", "pnl": 12.5, "timestamp": iso(stalled)},
    }


def test_a_candle_whose_period_ended_is_appended_and_the_next_opens_at_its_close(
    redis_server, admin: redis.Redis
) -> None:
    sparse(admin, [])
    minute = admin.lrange("ohlcv:PEPE/USDT:1m", 0, -1)
    hour = admin.lrange("ohlcv:PEPE/USDT:1h", 0, -1)
    now = T0 + 185.5  # three minutes after the stored minute's start, within its hour
    feeder = Feeder(redis_server.url)
    try:
        feeder._discover()  # no _open_market: PEPE has no market, no history is made for it
        run(feeder, ("_tick", now))
        assert admin.lrange("ohlcv:PEPE/USDT:1m", 0, -1) == minute * 2  # the ended one, final
        assert admin.lrange("ohlcv:PEPE/USDT:1h", 0, -1) == hour  # still forming: not sent
        run(feeder, ("_candles", now))
    finally:
        feeder.stop()
    price = json.loads(admin.hget("tickers:binance", "PEPE/USDT") or "{}")["price"]
    ended = json.loads(minute[0])
    bars = [json.loads(raw) for raw in admin.lrange("ohlcv:PEPE/USDT:1m", 0, -1)]
    assert bars[:2] == [ended, ended] and len(bars) == 3
    close = ended[4]
    assert bars[2] == [(T0 + 180) * 1000.0, close, max(close, price), min(close, price), price, 0]
    (_, formed) = [json.loads(raw) for raw in admin.lrange("ohlcv:PEPE/USDT:1h", 0, -1)]
    assert formed[:2] == [T0 - 60, 1e-05] and formed[4] == price  # the hour goes on, in seconds


@pytest.mark.parametrize(
    ("bots", "accounts"),
    [
        ({"8": NOT_A_DICT, "9": {"feed_0": {"status": "stopped"}}}, ("5", "6")),
        ({"7": NO_PNL}, ()),
    ],
    ids=["no-running-bot", "no-account"],
)
def test_without_a_running_bot_or_an_account_no_block_is_taken(
    redis_server, admin: redis.Redis, bots: dict[str, Any], accounts: tuple[str, ...]
) -> None:
    sparse(admin, [order("B-1", 5, "BTC/USDT", 300.0)], bots=bots, accounts=accounts)
    feeder = Feeder(redis_server.url)
    try:
        feeder._discover()
        for third in range(3):  # the cycle's three phases: take, open, let go
            run(feeder, ("_coordination", feeder._started + 1 + third * BLOCK_CYCLE_S / 3))
    finally:
        feeder.stop()
    assert not admin.exists("block_exchange", "opening_position")


def test_every_symbol_blocked_already_opens_nothing(redis_server, admin: redis.Redis) -> None:
    sparse(admin, [order("B-1", 5, "BTC/USDT", 300.0)])
    blocks = {"5:BTC/USDT": "3", "5:PEPE/USDT": "3"}  # another bot's, on both symbols
    admin.hset("block_exchange", mapping=blocks)
    feeder = Feeder(redis_server.url)
    try:
        feeder._discover()
        for third in range(3):
            run(feeder, ("_coordination", feeder._started + 1 + third * BLOCK_CYCLE_S / 3))
            assert admin.hgetall("block_exchange") == blocks  # neither taken nor let go
            assert not admin.exists("opening_position")
    finally:
        feeder.stop()


def test_an_order_is_placed_at_its_own_price_and_queued_only_where_a_queue_is(
    redis_server, admin: redis.Redis
) -> None:
    sparse(admin, [order("B-2", 6, "PEPE/USDT", 1e-05)])
    feeder = Feeder(redis_server.url)
    try:
        feeder._discover()
        run(feeder, ("_order", T0))
    finally:
        feeder.stop()
    orders = {oid: json.loads(raw) for oid, raw in admin.hgetall("order_status:binance").items()}
    (new,) = set(orders) - {"B-2"}
    assert orders[new]["price"] == 1e-05  # no market of PEPE: the template's own price
    assert orders[new]["status"] == "open" and orders[new]["timestamp"] == iso(T0)
    assert not admin.exists("new_orders:local-binance")  # the data has no queue of binance
    assert admin.lrange("new_orders:local-kraken", 0, -1) == ["K-1"]


@pytest.mark.parametrize(
    "ex_id", [5, 6, 77], ids=["account-without-positions", "no-position-of-it", "no-account"]
)
def test_a_fill_changes_only_what_the_data_holds(
    redis_server, admin: redis.Redis, ex_id: int
) -> None:
    sparse(admin, [order("B-1", ex_id, "BTC/USDT", 300.0)])
    feeder = Feeder(redis_server.url)
    try:
        feeder._discover()
        feeder._open_market(T0)
        before = state(admin)
        run(feeder, ("_fill", T0 + 1))  # nothing placed by the feeder yet: nothing to fill
        assert state(admin) == before
        run(feeder, ("_order", T0 + 2))
        placed = state(admin)
        balances = json.loads(admin.hget("accounts", str(ex_id)) or "{}")
        run(feeder, ("_fill", T0 + 3))
        after = state(admin)
    finally:
        feeder.stop()
    orders = {oid: json.loads(raw) for oid, raw in admin.hgetall("order_status:binance").items()}
    (new,) = set(orders) - {"B-1"}
    filled = orders[new]
    assert filled["status"] == "filled" and filled["final_volume"] == filled["volume"]
    assert filled["timestamp"] == iso(T0 + 3)
    # No user trade template of binance: no user trade, no status of them; no position of
    # BTC/USDT: no position changed; no account (77): no balance changed.
    changed = {key for key in after if after[key] != placed.get(key)}
    assert set(after) == set(placed)
    assert changed == {"order_status:binance"} | ({"accounts"} if ex_id != 77 else set())
    if ex_id != 77:
        signed = filled["volume"] if filled["side"] == "buy" else -filled["volume"]
        now_held = json.loads(admin.hget("accounts", str(ex_id)) or "{}")
        assert now_held["date"] == iso(T0 + 3)
        assert now_held["BTC"]["total"] == pytest.approx(
            balances["BTC"]["total"] + signed, rel=1e-5
        )
