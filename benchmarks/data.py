"""Benchmark data, written the way fullon_cache writes it (same keys, types and JSON payloads).

- ``load_bench_data``: five exchanges of 200 tickers each (1000 in all), a 1000-bar OHLCV
  series, one account's balances (20 currencies) and positions, 100 orders on one exchange;
- ``load_curve_data``: for each size N of the cost curve (1000 to 200,000), ``tickers:curve{N}``
  with N tickers and ``ohlcv:CURVE{N}/USDT:1m`` with N bars.

Values are pseudo-random with a fixed seed, so every run reads the same bytes.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime

import redis

NOW = 1764100000.0
"""The time the data is written at (epoch seconds); ticks are up to a minute older."""

EXCHANGES = ("binance", "bybit", "hyperliquid", "kraken", "okx")
EXCHANGE = "binance"
"""The exchange of the one-exchange benchmarks (tickers, orders)."""
TICKERS_PER_EXCHANGE = 200
SYMBOL = "BTC/USDT"
TIMEFRAME = "1m"
BARS = 1000
EX_ID = "1"
CURRENCIES = 20
ORDERS = 100
CURVE_SIZES = (1000, 10_000, 100_000, 200_000)
"""Stored items of the cost curve's series (tickers of one exchange, bars of one series)."""
PAGE = 1000
"""The page the cost curve asks for (``?limit=``), whatever is stored."""


def _base(i: int) -> str:
    return f"C{i:03d}"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def symbols(exchange: str, count: int) -> list[str]:
    quote = "USDC:USDC" if exchange == "hyperliquid" else "USDT"
    return [SYMBOL if i == 0 else f"{_base(i)}/{quote}" for i in range(count)]


def tick(rng: random.Random, exchange: str, symbol: str) -> str:
    price = round(rng.uniform(0.01, 60000.0), 4)
    spread = round(price * 0.0005, 6)
    return json.dumps(
        {
            "symbol": symbol,
            "exchange": exchange,
            "price": price,
            "volume": round(rng.uniform(1.0, 1e6), 3),
            "time": round(NOW - rng.uniform(0.0, 60.0), 6),
            "bid": round(price - spread, 6),
            "ask": round(price + spread, 6),
            "last": price,
        }
    )


def bar_values(rng: random.Random, count: int, start_ms: int) -> list[str]:
    bars = []
    close = 50000.0
    for i in range(count):
        open_ = close
        close = round(open_ * rng.uniform(0.995, 1.005), 2)
        high = round(max(open_, close) * 1.001, 2)
        low = round(min(open_, close) * 0.999, 2)
        volume = round(rng.uniform(0.5, 50.0), 4)
        bars.append(json.dumps([float(start_ms + i * 60_000), open_, high, low, close, volume]))
    return bars


def order(rng: random.Random, exchange: str, order_id: str) -> str:
    return json.dumps(
        {
            "order_id": order_id,
            "bot_id": rng.randint(40, 60),
            "uid": 7,
            "ex_id": 1,
            "cat_ex_id": 1,
            "exchange": exchange,
            "symbol": rng.choice(("BTC/USDT", "ETH/USDT", "SOL/USDT")),
            "order_type": "limit",
            "side": rng.choice(("buy", "sell")),
            "volume": round(rng.uniform(0.001, 2.0), 6),
            "final_volume": None,
            "price": round(rng.uniform(100.0, 60000.0), 2),
            "plimit": None,
            "tick": None,
            "futures": False,
            "leverage": 1.0,
            "command": "",
            "reason": "signal",
            "timestamp": _iso(NOW - rng.uniform(0.0, 3600.0)),
            "status": rng.choice(("open", "open", "partially_filled")),
            "ex_order_id": order_id,
        }
    )


def balances(rng: random.Random, count: int) -> str:
    document: dict[str, object] = {}
    for i in range(count):
        total = round(rng.uniform(0.0, 10000.0), 6)
        if i % 2:  # both stored shapes are in use
            document[f"CUR{i:02d}"] = {"balance": total, "available": round(total * 0.8, 6)}
        else:
            free = round(total * 0.8, 6)
            document[f"CUR{i:02d}"] = {"free": free, "used": round(total - free, 6), "total": total}
    document["date"] = _iso(NOW)
    return json.dumps(document)


def positions(rng: random.Random, count: int) -> str:
    document: dict[str, object] = {
        f"{_base(i)}/USDT": {
            "cost": round(rng.uniform(10.0, 1000.0), 4),
            "volume": round(rng.uniform(0.01, 10.0), 6),
            "fee": 0.1,
            "count": rng.randint(1, 5),
            "price": round(rng.uniform(1.0, 500.0), 4),
            "timestamp": NOW,
        }
        for i in range(count)
    }
    document["timestamp"] = _iso(NOW)
    return json.dumps(document)


def load_bench_data(client: redis.Redis) -> int:
    """Write the benchmark data set; return the number of keys written."""
    rng = random.Random(20251126)
    pipe = client.pipeline(transaction=False)
    for exchange in EXCHANGES:
        ticks = {s: tick(rng, exchange, s) for s in symbols(exchange, TICKERS_PER_EXCHANGE)}
        pipe.delete(f"tickers:{exchange}")
        pipe.hset(f"tickers:{exchange}", mapping=ticks)
    key = f"ohlcv:{SYMBOL}:{TIMEFRAME}"
    pipe.delete(key)
    pipe.rpush(key, *bar_values(rng, BARS, int(NOW) * 1000 - BARS * 60_000))
    pipe.hset("accounts", EX_ID, balances(rng, CURRENCIES))
    pipe.hset("account_positions", EX_ID, positions(rng, 10))
    pipe.delete(f"order_status:{EXCHANGE}")
    pipe.hset(
        f"order_status:{EXCHANGE}",
        mapping={f"O{i:05d}": order(rng, EXCHANGE, f"O{i:05d}") for i in range(ORDERS)},
    )
    pipe.execute()
    return len(EXCHANGES) + 4


def curve_exchange(size: int) -> str:
    return f"curve{size}"


def curve_symbol(size: int) -> str:
    return f"CURVE{size}/USDT"


def load_curve_data(client: redis.Redis, sizes: tuple[int, ...] = CURVE_SIZES) -> None:
    """For each size N: ``tickers:curve{N}`` with N tickers, ``ohlcv:CURVE{N}/USDT:1m`` with N
    bars (written 10,000 at a time)."""
    rng = random.Random(10)
    chunk = 10_000
    for size in sizes:
        exchange, key = curve_exchange(size), f"ohlcv:{curve_symbol(size)}:{TIMEFRAME}"
        client.delete(f"tickers:{exchange}", key)
        names = symbols(exchange, size)
        bars = bar_values(rng, size, int(NOW) * 1000 - size * 60_000)
        pipe = client.pipeline(transaction=False)
        for start in range(0, size, chunk):
            ticks = {s: tick(rng, exchange, s) for s in names[start : start + chunk]}
            pipe.hset(f"tickers:{exchange}", mapping=ticks)
            pipe.rpush(key, *bars[start : start + chunk])
        pipe.execute()
