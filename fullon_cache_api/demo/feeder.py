"""The demo's feeder: keeps the demo's private Redis moving as fullon_cache's writers would.

Demo only. Like the loading of the sample data, it writes only into the Redis the demo
started, on a connection of its own; the API never writes. It finds what to feed in the loaded
data (tickers, active processes, OHLCV series, order hashes, trade lists, order queues) and
writes the same keys and payloads fullon_cache's writers do:

- every ticker, a few times a second: ``HSET tickers:{exchange} {symbol} <tick>``,
  ``SET ticker_time:{exchange}:{symbol} <epoch>``, ``PUBLISH ticker_updates:{exchange}:{symbol}``
  with the same tick (a small random walk of price, bid, ask and last; ``time`` = now);
- every few seconds, a heartbeat of each active process (its record's ``updated_at`` and
  ``heartbeat``, kept for 86400 s, and its ``process:active:{type}`` entry);
- every minute, the current candle of each OHLCV series (``RPUSH``, trimmed to 10000 bars);
- now and then an open order (``HSET order_status:{exchange}``, its id queued on the exchange's
  ``new_orders:`` list) and a public trade (``RPUSH trades:...``, ``SET TRADE:STATUS:...``).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import random
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from .. import keys

__all__ = ["Feeder"]

log = logging.getLogger("fullon.cache_api.demo")

TICK_INTERVAL = 0.25
HEARTBEAT_INTERVAL = 5.0
CANDLE_INTERVAL = 60.0
EVENT_CHANCE = 0.05
"""Chance per tick of an order, and (separately) of a trade: one of each every 5 s or so."""
PROCESS_TTL = 86400  # fullon_cache's lifetime of a process record after its last update
BARS_KEPT = 10_000  # fullon_cache trims OHLCV lists to this
# Real consumers pop the queues and trade lists, and canceled orders expire; the demo keeps its
# own additions short instead.
QUEUE_KEPT = 5
TRADES_KEPT = 100
ORDERS_KEPT = 20
TIMEFRAME = re.compile(r"(\d+)([mhdw])")
UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass
class Series:
    """One OHLCV list: its key, the length of its period in seconds, its newest bar."""

    key: str
    period: int
    bar: list[Any]


class Feeder:
    """Feeds the Redis at ``url`` from a background thread, from ``start()`` until ``stop()``."""

    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self._random = random.Random()  # noqa: S311 (made-up prices, no secret)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-feeder", daemon=True)
        self._ids = itertools.count(10_000)  # new order and trade ids
        self._tickers: dict[tuple[str, str], dict[str, Any]] = {}
        self._processes: list[tuple[str, str, dict[str, Any]]] = []  # type, id, record
        self._series: list[Series] = []
        self._orders: dict[str, list[dict[str, Any]]] = {}  # exchange: its orders (templates)
        self._placed: dict[str, deque[str]] = {}  # exchange: ids of the orders fed, oldest first
        self._trades: dict[str, tuple[str, dict[str, Any]]] = {}
        """A trades list's key: its exchange, and its newest trade (a template)."""
        self._queues: set[str] = set()

    def start(self) -> Feeder:
        self._discover()  # in the caller's thread: a failure here fails the demo's start
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        self._redis.close()

    def _discover(self) -> None:
        r = self._redis
        for key in r.scan_iter(keys.TICKERS.key + "*"):
            for symbol, raw in r.hgetall(key).items():
                tick = json.loads(raw)
                if all(_is_number(tick.get(name)) for name in ("price", "bid", "ask")):
                    self._tickers[key.removeprefix(keys.TICKERS.key), str(symbol)] = tick
        for key in r.scan_iter(keys.PROCESS_ACTIVE.key + "*"):
            for process_id in map(str, r.hkeys(key)):
                record = r.get(keys.process_data_key(process_id))
                if record is not None:
                    process_type = key.removeprefix(keys.PROCESS_ACTIVE.key)
                    self._processes.append((process_type, process_id, json.loads(record)))
        for key in r.scan_iter(keys.OHLCV.key + "*"):
            match = TIMEFRAME.fullmatch(key.rpartition(":")[2])
            newest = r.lindex(key, -1)
            if match and newest is not None:
                period = int(match[1]) * UNIT_SECONDS[match[2]]
                self._series.append(Series(key, period, json.loads(newest)))
        for key in r.scan_iter(keys.ORDERS.key + "*"):
            orders = [json.loads(raw) for raw in r.hvals(key)]
            priced = [order for order in orders if _is_number(order.get("price"))]
            if priced:
                self._orders[key.removeprefix(keys.ORDERS.key)] = priced
        for key in r.scan_iter(keys.TRADES.key + "*"):
            newest = r.lindex(key, -1)
            trade = json.loads(newest) if newest is not None else {}
            parsed = keys.TRADES.parse(key)
            if parsed is not None and _is_number(trade.get("price")):
                self._trades[key] = (parsed[0], trade)
        self._queues = set(r.scan_iter(keys.ORDER_QUEUES.key + "*"))
        log.info(
            "demo feeder: %d tickers, %d processes, %d OHLCV series, %d order hashes, "
            "%d trade lists",
            *map(len, (self._tickers, self._processes, self._series, self._orders, self._trades)),
        )

    def _run(self) -> None:
        heartbeat_due = candles_due = time.monotonic()
        try:
            while True:
                now, pipe = time.time(), self._redis.pipeline(transaction=False)
                self._tick(pipe, now)
                if time.monotonic() >= heartbeat_due:
                    self._heartbeat(pipe, now)
                    heartbeat_due += HEARTBEAT_INTERVAL
                if time.monotonic() >= candles_due:
                    self._candles(pipe, now)
                    candles_due += CANDLE_INTERVAL
                if self._orders and self._random.random() < EVENT_CHANCE:
                    self._order(pipe, now)
                if self._trades and self._random.random() < EVENT_CHANCE:
                    self._trade(pipe, now)
                pipe.execute()
                if self._stopping.wait(TICK_INTERVAL):
                    return
        except redis.RedisError as exc:
            log.error("demo feeder stopped: %s", exc)

    def _tick(self, pipe: redis.client.Pipeline, now: float) -> None:
        for (exchange, symbol), tick in self._tickers.items():
            price = _rounded(tick["price"] * math.exp(self._random.gauss(0, 0.0005)))
            half_spread = (tick["ask"] - tick["bid"]) / 2
            bid, ask = _rounded(price - half_spread), _rounded(price + half_spread)
            tick.update(price=price, last=price, bid=bid, ask=ask, time=now)
            payload = json.dumps(tick)
            pipe.hset(keys.tickers_key(exchange), symbol, payload)
            pipe.set(keys.ticker_time_key(exchange, symbol), repr(now))
            pipe.publish(keys.ticker_channel(exchange, symbol), payload)

    def _heartbeat(self, pipe: redis.client.Pipeline, now: float) -> None:
        stamp = _iso(now)
        for process_type, process_id, record in self._processes:
            record.update(updated_at=stamp, heartbeat=stamp)
            pipe.set(keys.process_data_key(process_id), json.dumps(record), ex=PROCESS_TTL)
            pipe.hset(keys.process_active_key(process_type), process_id, stamp)

    def _candles(self, pipe: redis.client.Pipeline, now: float) -> None:
        for series in self._series:
            bar = series.bar
            scale = 1000 if bar[0] >= 1e12 else 1  # the unit the series already uses: ms or s
            period = series.period * scale
            start = bar[0] + int((now * scale - bar[0]) // period) * period
            close = _rounded(bar[4] * math.exp(self._random.gauss(0, 0.002)))
            if start > bar[0]:
                volume = _rounded(self._random.uniform(1, 20))
                bar = [start, bar[4], max(bar[4], close), min(bar[4], close), close, volume]
            else:  # the period is not over: re-send its candle, updated (the later one wins)
                volume = _rounded(bar[5] + self._random.uniform(0, 5))
                bar = [bar[0], bar[1], max(bar[2], close), min(bar[3], close), close, volume]
            series.bar = bar
            pipe.rpush(series.key, json.dumps(bar))
            pipe.ltrim(series.key, -BARS_KEPT, -1)

    def _order(self, pipe: redis.client.Pipeline, now: float) -> None:
        exchange = self._random.choice(sorted(self._orders))
        template = self._random.choice(self._orders[exchange])
        order_id = f"{exchange.upper()}-{next(self._ids):05d}"
        order = {
            **template,
            "order_id": order_id,
            "ex_order_id": order_id,
            "side": self._random.choice(("buy", "sell")),
            "volume": _rounded(self._random.uniform(0.01, 1)),
            "final_volume": None,
            "price": self._price(exchange, template),
            "status": "open",
            "timestamp": _iso(now),
        }
        pipe.hset(keys.orders_key(exchange), order_id, json.dumps(order))
        placed = self._placed.setdefault(exchange, deque())
        placed.append(order_id)
        if len(placed) > ORDERS_KEPT:
            pipe.hdel(keys.orders_key(exchange), placed.popleft())
        queue = keys.queue_key(f"local-{exchange}")  # the sample data's queue of that exchange
        if queue in self._queues:
            pipe.rpush(queue, order_id)
            pipe.ltrim(queue, -QUEUE_KEPT, -1)

    def _trade(self, pipe: redis.client.Pipeline, now: float) -> None:
        key = self._random.choice(sorted(self._trades))
        exchange, template = self._trades[key]
        trade_id = next(self._ids)
        price = self._price(exchange, template)
        volume = _rounded(self._random.uniform(0.001, 0.1))
        trade = {
            **template,
            "trade_id": trade_id,
            "ex_trade_id": f"T-{exchange}-{trade_id}",
            "side": self._random.choice(("buy", "sell")),
            "volume": volume,
            "price": price,
            "cost": _rounded(price * volume),
            # Writers differ: the time is ISO or epoch seconds; keep the list's own form.
            "time": _iso(now) if isinstance(template.get("time"), str) else now,
        }
        pipe.rpush(key, json.dumps(trade))
        pipe.ltrim(key, -TRADES_KEPT, -1)
        pipe.set(keys.trade_status_key(exchange), _iso(now))

    def _price(self, exchange: str, item: dict[str, Any]) -> float:
        """The current price of the item's symbol on ``exchange``, else the item's own."""
        tick = self._tickers.get((exchange, item.get("symbol", "")))
        return float(tick["price"] if tick else item["price"])


def _iso(moment: float) -> str:
    """A time as fullon_cache stamps its own writes: isoformat in UTC."""
    return datetime.fromtimestamp(moment, UTC).isoformat()


def _rounded(value: float) -> float:
    """Six significant digits: prices and volumes without float noise."""
    return float(f"{value:.6g}")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
