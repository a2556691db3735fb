"""What a route's Redis budget is made of: ``Case`` (one request and the commands and round trips
it may cost Redis), the budget shapes every family uses (``HLEN_HGETALL``...) and the ``fill_*``
writers that scale a family's data to ``n`` items.

Each route's budget lives with the route's own tests: a test module declares
``BUDGETS: tuple[Case, ...]`` (tests/test_tickers.py holds the ticker routes' budgets, and so on,
by the route's tag in ``routes.py``), and tests/test_budgets.py collects every module's
``BUDGETS``, checks that every route has one and measures each on the real test server.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import redis

from support import WRITTEN_AT

Fill = Callable[[redis.Redis, int, float], None]
"""Write the data of one case with ``n`` items, as fullon_cache would; ``now`` is the app's."""


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


# data -------------------------------------------------------------------------------------------


def tick(symbol: str, exchange: str) -> str:
    return json.dumps(
        {
            "symbol": symbol,
            "exchange": exchange,
            "price": 100.5,
            "volume": 10.0,
            "time": WRITTEN_AT,
            "bid": 100.0,
            "ask": 101.0,
            "last": 100.5,
        }
    )


def fill_tickers(admin: redis.Redis, n: int, now: float) -> None:
    """``bench`` with n tickers; exchanges ex0..ex{n-1} with two tickers each (n+1 hashes)."""
    pipe = admin.pipeline(transaction=False)
    pipe.hset(
        "tickers:bench", mapping={f"S{i}/USDT": tick(f"S{i}/USDT", "bench") for i in range(n)}
    )
    for i in range(n - 1):
        exchange = f"ex{i}"
        pipe.hset(
            f"tickers:{exchange}",
            mapping={s: tick(s, exchange) for s in ("BTC/USDT", "ETH/USDT")},
        )
    pipe.execute()


def fill_exchange_keys(admin: redis.Redis, n: int, now: float) -> None:
    """n ticker hashes and n order queues (n hash keys and n list keys)."""
    pipe = admin.pipeline(transaction=False)
    for i in range(n):
        pipe.hset(f"tickers:ex{i}", "BTC/USDT", tick("BTC/USDT", f"ex{i}"))
        pipe.rpush(f"new_orders:local-{i}", f"EX-{i}")
    pipe.execute()


def fill_accounts(admin: redis.Redis, n: int, now: float) -> None:
    """ex_id 1 with n currencies and n positions; ex_ids 2..n with one of each (n accounts)."""
    date = iso(now)

    def balances(count: int) -> str:
        doc: dict[str, object] = {
            f"C{i}": {"free": 1.0 + i, "used": 0.5, "total": 1.5 + i} for i in range(count)
        }
        return json.dumps({**doc, "date": date})

    def positions(count: int) -> str:
        doc: dict[str, object] = {
            f"S{i}/USDT": {
                "cost": 10.0,
                "volume": 0.1,
                "fee": 0.01,
                "count": 1,
                "price": 100.0,
                "timestamp": WRITTEN_AT,
            }
            for i in range(count)
        }
        return json.dumps({**doc, "timestamp": date})

    admin.hset("accounts", mapping={str(e): balances(n if e == 1 else 1) for e in range(1, n + 1)})
    admin.hset(
        "account_positions",
        mapping={str(e): positions(n if e == 1 else 1) for e in range(1, n + 1)},
    )


def _order(order_id: str, exchange: str) -> str:
    return json.dumps(
        {
            "order_id": order_id,
            "ex_order_id": order_id,
            "bot_id": 41,
            "uid": 7,
            "ex_id": 1,
            "exchange": exchange,
            "symbol": "BTC/USDT",
            "side": "buy",
            "order_type": "limit",
            "volume": 0.1,
            "price": 300.0,
            "status": "open",
            "timestamp": iso(WRITTEN_AT),
        }
    )


def fill_orders(admin: redis.Redis, n: int, now: float) -> None:
    """``bench`` with n orders, ex1..ex{n-1} with one (n hashes); queue ``q0`` of n ids and
    q1..q{n-1} of one (n queues)."""
    pipe = admin.pipeline(transaction=False)
    pipe.hset("order_status:bench", mapping={f"O{i}": _order(f"O{i}", "bench") for i in range(n)})
    pipe.rpush("new_orders:q0", *(f"O{i}" for i in range(n)))
    for i in range(1, n):
        pipe.hset(f"order_status:ex{i}", "O0", _order("O0", f"ex{i}"))
        pipe.rpush(f"new_orders:q{i}", "O0")
    pipe.execute()


def fill_bots(admin: redis.Redis, n: int, now: float) -> None:
    """n bots, n blocks and n opening marks."""
    feed = {"status": "running", "symbols": ["BTC/USDT"], "timestamp": iso(now)}
    admin.hset("bot_status", mapping={str(40 + i): json.dumps({"feed_0": feed}) for i in range(n)})
    admin.hset("block_exchange", mapping={f"1:S{i}/USDT": str(40 + i) for i in range(n)})
    admin.hset(
        "opening_position", mapping={f"1:S{i}/USDT": f"{40 + i}:{iso(now)}" for i in range(n)}
    )


def _trade(i: int) -> str:
    return json.dumps(
        {
            "trade_id": i,
            "ex_trade_id": f"T{i}",
            "uid": 7,
            "ex_id": 1,
            "symbol": "BTC/USDT",
            "side": "buy",
            "volume": 0.01,
            "price": 300.0,
            "cost": 3.0,
            "fee": 0.1,
            "time": WRITTEN_AT + i,
        }
    )


def fill_trades(admin: redis.Redis, n: int, now: float) -> None:
    """Exchanges ex0..ex{n-1}, each with a trades list, a user-7 list and both statuses; the
    ex0 lists hold n trades, the others one."""
    pipe = admin.pipeline(transaction=False)
    for i in range(n):
        count = n if i == 0 else 1
        pipe.rpush(f"trades:ex{i}:BTCUSDT", *(_trade(t) for t in range(count)))
        pipe.rpush(f"user_trades:7:ex{i}", *(_trade(t) for t in range(count)))
        pipe.set(f"TRADE:STATUS:ex{i}", iso(now))
        pipe.set(f"USER_TRADE:STATUS:ex{i}", iso(now))
    pipe.execute()


def fill_ohlcv(admin: redis.Redis, n: int, now: float) -> None:
    """``BTC/USDT`` in n timeframes (1m..{n}m); the 1m series holds n bars, the others one."""
    base = int(WRITTEN_AT) * 1000
    pipe = admin.pipeline(transaction=False)
    for k in range(1, n + 1):
        count = n if k == 1 else 1
        bars = (json.dumps([base + i * 60_000, 1.0, 2.0, 0.5, 1.5, 10.0]) for i in range(count))
        pipe.rpush(f"ohlcv:BTC/USDT:{k}m", *bars)
    pipe.execute()


def _process_type(i: int) -> str:
    return "tick" if i == 0 else f"type{i}"


def fill_processes(admin: redis.Redis, n: int, now: float) -> None:
    """n live processes, each of its own type (n ``process:active:*`` hashes)."""
    pipe = admin.pipeline(transaction=False)
    for i in range(n):
        kind, component = _process_type(i), f"comp{i}"
        process_id = f"{kind}:{component}:{WRITTEN_AT}"
        record = {
            "process_id": process_id,
            "process_type": kind,
            "component": component,
            "params": {},
            "status": "running",
            "message": "ok",
            "created_at": iso(now - 60),
            "updated_at": iso(now),
            "heartbeat": iso(now),
        }
        pipe.set(f"process:data:{process_id}", json.dumps(record), ex=86400)
        pipe.hset(f"process:active:{kind}", process_id, iso(now))
        pipe.hset("process:components", component, process_id)
    pipe.execute()


def fill_nothing(admin: redis.Redis, n: int, now: float) -> None:
    fill_tickers(admin, n, now)  # data the request does not read


# budgets ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One request and its Redis budget."""

    template: str
    """The route table path this request exercises."""
    path: str
    fill: Fill
    fixed: dict[str, int] = field(default_factory=dict)
    """Commands sent whatever the number of items."""
    per_item: dict[str, int] = field(default_factory=dict)
    """Commands sent per item: allowed only inside a pipeline (or multi-key command)."""
    trips: int = 0
    """Round trips: constant."""

    def commands(self, n: int) -> Counter[str]:
        expected = Counter(self.fixed)
        for name, count in self.per_item.items():
            expected[name] += count * n
        return expected


PING = {"ping": 1}
HGET = {"hget": 1}
HGETALL = {"hgetall": 1}
LRANGE = {"lrange": 1}
HLEN_HGETALL = {"hlen": 1, "hgetall": 1}
LLEN_LRANGE = {"llen": 1, "lrange": 1}
