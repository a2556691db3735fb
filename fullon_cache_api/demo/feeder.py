"""The demo's feeder: keeps the demo's private Redis moving as fullon_cache's writers would.

Demo only. Like the loading of the sample data, it writes only into the Redis the demo
started, on a connection of its own; the API never writes. It finds what to feed in the loaded
data (tickers, active processes, OHLCV series, orders, trade lists, queues, accounts, bots) and
writes the same keys and payloads fullon_cache's writers do, every key name built by
``fullon_cache_api.keys``.

At start it opens a believable market (``demo.market``: BTC above ETH above SOL, at today's
order of magnitude) over the sample data, as the writers would have left it: each ticker at its
market's price; a day of one-minute candles and five days of hourly ones per symbol
(``RPUSH``, the later candle of a time winning), ending at the ticker's price; the sample's
orders, positions, trades and balances priced near their market. Then, in a background thread:

- every ticker, four times a second: ``HSET tickers:{exchange} {symbol} <tick>``,
  ``SET ticker_time:{exchange}:{symbol} <epoch>``, ``PUBLISH ticker_updates:{exchange}:{symbol}``
  (``time`` = now), the markets moving together;
- every few seconds: the forming candle of each series, re-sent with the ticker's price as its
  close (the final one when its period ends); a heartbeat of each process; each bot's feed (its
  PnL following the market);
- now and then: an open order near the market (``HSET order_status:{exchange}``, its id queued
  on ``new_orders:``), the order service taking an id off a queue (``LPOP``), a public trade
  (``RPUSH trades:...``, ``SET TRADE:STATUS:...``), an order filled: its status, the user's
  trade (``RPUSH user_trades:...``), the account's balances and position;
- a bot takes a block with an opening mark, opens, and lets the block go, over a minute;
- one tick process goes quiet (stale, its tickers too) and comes back, every quarter of an hour;
  the sample's ``bot_41`` stays in error with its message.
"""

from __future__ import annotations

import itertools
import json
import logging
import random
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

from .. import keys
from .market import ASSETS, Candle, Market, base_of, history, rounded

__all__ = ["Feeder"]

log = logging.getLogger("fullon.cache_api.demo")

TICK_INTERVAL = 0.25
HEARTBEAT_INTERVAL = 5.0
CANDLE_INTERVAL = 5.0  # the forming candles are re-sent this often
EVENT_CHANCE = 0.05
"""Chance per tick of an order, and (separately) of a public trade: each every 5 s or so."""
FILL_CHANCE = 0.015  # per tick: an open order filled every 15 s or so
POP_CHANCE = 0.04  # per tick: the order service takes an id off a queue
PROCESS_TTL = 86400  # fullon_cache's lifetime of a process record after its last update
BARS_KEPT = 10_000  # fullon_cache trims OHLCV lists to this
MINUTE_BARS = 1440  # a day of one-minute candles at start
HOUR_BARS = 120  # five days of hourly candles
# Real consumers pop the queues and trade lists, and canceled orders expire; the demo keeps its
# own additions short instead.
QUEUE_KEPT = 12
TRADES_KEPT = 100
USER_TRADES_KEPT = 50
ORDERS_KEPT = 20
STARTING_TRADES = 40  # public trades per list at start
# The quiet process: its heartbeat stops for STALL_S seconds every STALL_EVERY_S, beginning
# FIRST_STALL_S after the start (already quiet for long enough to be stale then).
STALE_AFTER_S = 300.0  # the API's default stale_after
STALL_S = STALE_AFTER_S + 40
STALL_EVERY_S = 900.0
FIRST_STALL_S = 45.0
QUIET_COMPONENT = "hyperliquid:"  # the tick process that goes quiet (its component's start)
BLOCK_CYCLE_S = 60.0  # a bot's block: taken, opened, released over this
TIMEFRAME = re.compile(r"(\d+)([mhdw])")
UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}


@dataclass
class Series:
    """One OHLCV list: its key, symbol, period in seconds, time unit (1000: ms) and its forming
    candle ``[ts, o, h, l, c, v]``."""

    key: str
    symbol: str
    period: int
    scale: int
    bar: list[Any]


@dataclass
class Process:
    kind: str
    process_id: str
    record: dict[str, Any]
    quiet: bool = False
    """The process that goes quiet now and then."""


@dataclass
class Holdings:
    """One ex_id: its exchange, quote currency, balances and positions as stored."""

    ex_id: str
    exchange: str
    quote: str
    balances: dict[str, Any] = field(default_factory=dict)
    positions: dict[str, Any] = field(default_factory=dict)


class Feeder:
    """Feeds the Redis at ``url`` from a background thread, from ``start()`` until ``stop()``."""

    def __init__(self, url: str) -> None:
        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self._random = random.Random()  # noqa: S311 (made-up prices, no secret)
        self._market = Market(self._random)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-feeder", daemon=True)
        self._ids = itertools.count(10_000)  # new order and trade ids
        self._started = time.time()
        self._tickers: dict[tuple[str, str], dict[str, Any]] = {}
        self._processes: list[Process] = []
        self._series: list[Series] = []
        self._orders: dict[str, dict[str, dict[str, Any]]] = {}  # exchange: id: order
        self._placed: dict[str, deque[str]] = {}  # exchange: ids of the orders fed, oldest first
        self._trades: dict[str, tuple[str, dict[str, Any]]] = {}
        """A trades list's key: its exchange, and its newest trade (a template)."""
        self._user_trades: dict[str, dict[str, Any]] = {}  # exchange: a user trade (template)
        self._queues: set[str] = set()
        self._accounts: dict[str, Holdings] = {}
        self._bots: dict[str, dict[str, Any]] = {}  # bot_id: its feeds as stored
        self._pnl_base: dict[str, float] = {}  # bot_id: its PnL at start
        self._opening: tuple[str, str, str] | None = None  # (bot, ex_id, symbol) of the cycle
        # The quiet process's stall: from when it sends no heartbeat (its frozen one), to when
        # it comes back. The first began long enough ago to be stale FIRST_STALL_S after start.
        self._stall_start = self._started + FIRST_STALL_S - STALE_AFTER_S
        self._stall_end = self._started + FIRST_STALL_S + 30

    def start(self) -> Feeder:
        # In the caller's thread: a failure here fails the demo's start.
        self._discover()
        self._open_market(time.time())
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join()
        self._redis.close()

    # What the sample holds -----------------------------------------------------------------

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
                    kind = key.removeprefix(keys.PROCESS_ACTIVE.key)
                    self._processes.append(Process(kind, process_id, json.loads(record)))
        quiet = [
            p for p in self._processes if str(p.record.get("component")).startswith(QUIET_COMPONENT)
        ]
        if quiet:
            quiet[0].quiet = True
        for key in r.scan_iter(keys.OHLCV.key + "*"):
            parsed = keys.OHLCV.parse(key)
            match = TIMEFRAME.fullmatch(parsed[1]) if parsed else None
            newest = r.lindex(key, -1)
            if parsed and match and newest is not None:
                bar = json.loads(newest)
                period = int(match[1]) * UNIT_SECONDS[match[2]]
                scale = 1000 if bar[0] >= 1e12 else 1  # the unit the series uses: ms or s
                self._series.append(Series(key, parsed[0], period, scale, bar))
        for key in r.scan_iter(keys.ORDERS.key + "*"):
            orders = {str(oid): json.loads(raw) for oid, raw in r.hgetall(key).items()}
            priced = {oid: o for oid, o in orders.items() if _is_number(o.get("price"))}
            if priced:
                self._orders[key.removeprefix(keys.ORDERS.key)] = priced
        for key in r.scan_iter(keys.TRADES.key + "*"):
            newest = r.lindex(key, -1)
            trade = json.loads(newest) if newest is not None else {}
            parsed = keys.TRADES.parse(key)
            if parsed is not None and _is_number(trade.get("price")):
                self._trades[key] = (parsed[0], trade)
        for key in r.scan_iter(keys.USER_TRADES.key + "*"):
            parsed = keys.USER_TRADES.parse(key)
            newest = r.lindex(key, -1)
            if parsed is not None and newest is not None:
                self._user_trades[parsed[1]] = {**json.loads(newest), "uid": parsed[0]}
        self._queues = set(r.scan_iter(keys.ORDER_QUEUES.key + "*"))
        exchanges = {
            str(o.get("ex_id")): exchange
            for exchange, orders in self._orders.items()
            for o in orders.values()
        }
        balances = {str(k): v for k, v in r.hgetall(keys.ACCOUNTS.key).items()}
        positions = {str(k): v for k, v in r.hgetall(keys.POSITIONS.key).items()}
        for ex_id in sorted(set(balances) | set(positions)):
            exchange = exchanges.get(ex_id)
            if exchange is None:
                continue
            quote = next(
                (s.split("/")[1].split(":")[0] for (e, s) in self._tickers if e == exchange),
                "USDT",
            )
            self._accounts[ex_id] = Holdings(
                ex_id,
                exchange,
                quote,
                json.loads(balances.get(ex_id, "{}")),
                json.loads(positions.get(ex_id, "{}")),
            )
        self._bots = {str(bot): json.loads(raw) for bot, raw in r.hgetall(keys.BOTS.key).items()}
        log.info(
            "demo feeder: %d tickers, %d processes, %d OHLCV series, %d order hashes, "
            "%d trade lists, %d accounts, %d bots",
            *map(
                len,
                (
                    self._tickers,
                    self._processes,
                    self._series,
                    self._orders,
                    self._trades,
                    self._accounts,
                    self._bots,
                ),
            ),
        )

    # The market at start ---------------------------------------------------------------------

    def _open_market(self, now: float) -> None:
        pipe = self._redis.pipeline(transaction=False)
        self._histories(pipe, now)
        self._tick(pipe, now)
        for exchange, orders in self._orders.items():
            for order_id, order in orders.items():
                near = order["status"] == "open"
                order.update(price=self._near(exchange, order, far=near), timestamp=_iso(now))
                order.update(volume=self._volume(order.get("symbol", "")))
                if order.get("final_volume") is not None:
                    order["final_volume"] = order["volume"]
                pipe.hset(keys.orders_key(exchange), order_id, json.dumps(order))
        for key, (exchange, template) in self._trades.items():
            for n in range(STARTING_TRADES):
                self._trade(pipe, now - (STARTING_TRADES - n) * 20, key, exchange, template)
            pipe.ltrim(key, -STARTING_TRADES, -1)  # the sample's own, priced in another age
        for account in self._accounts.values():
            self._open_account(pipe, account, now)
        failed = {  # a bot whose process is in error reports it in its feeds too
            str(p.record.get("component", "")).removeprefix("bot_")
            for p in self._processes
            if p.kind == "bot" and p.record.get("status") == "error"
        }
        for bot, feeds in self._bots.items():
            for feed in feeds.values():
                if isinstance(feed, dict) and _is_number(feed.get("pnl")):
                    self._pnl_base[bot] = float(feed["pnl"])
                if isinstance(feed, dict) and bot in failed:
                    feed["status"] = "error"
        self._feeds(pipe, now)
        self._heartbeat(pipe, now)
        pipe.execute()

    def _histories(self, pipe: redis.client.Pipeline, now: float) -> None:
        """A day of minute candles and five days of hourly ones for every symbol with a ticker,
        on the grid of the series already stored (the later candle of a time wins)."""
        symbols = {symbol: exchange for exchange, symbol in sorted(self._tickers, reverse=True)}
        known = {(s.symbol, s.period): s for s in self._series}
        for symbol, exchange in sorted(symbols.items()):
            price = self._market.price(exchange, symbol)
            asset = ASSETS.get(base_of(symbol))
            if price is None or asset is None:
                continue
            minutes = history(
                self._random, price, MINUTE_BARS, 60, asset.volatility, asset.bar_volume
            )
            hours = history(
                self._random,
                minutes[0][0],
                HOUR_BARS - 24,
                3600,
                asset.volatility,
                asset.bar_volume,
            )
            hours += _hourly(minutes)
            for period, timeframe, candles in ((60, "1m", minutes), (3600, "1h", hours)):
                series = known.get((symbol, period))
                if series is None:  # a new series, on whole periods, in milliseconds
                    series = Series(keys.ohlcv_key(symbol, timeframe), symbol, period, 1000, [0.0])
                    self._series.append(series)
                    anchor = float(int(now // period) * period * 1000)
                else:
                    anchor = series.bar[0]
                step = period * series.scale
                current = anchor + int((now * series.scale - anchor) // step) * step
                first = current - (len(candles) - 1) * step
                rows = [[_same_type(anchor, first + n * step), *c] for n, c in enumerate(candles)]
                pipe.rpush(series.key, *map(json.dumps, rows))
                pipe.ltrim(series.key, -BARS_KEPT, -1)
                series.bar = rows[-1]

    def _open_account(self, pipe: redis.client.Pipeline, account: Holdings, now: float) -> None:
        """Balances of the quote currency and the assets traded, positions near the market."""
        stamp = _iso(now)
        for symbol, position in account.positions.items():
            if not isinstance(position, dict):
                continue
            price = self._near(account.exchange, {"symbol": symbol}, far=True)
            position.update(price=price, cost=rounded(price * float(position["volume"])))
            position["timestamp"] = now
        if account.positions:
            account.positions["timestamp"] = stamp
            pipe.hset(keys.POSITIONS.key, account.ex_id, json.dumps(account.positions))
        traded = {base_of(s) for (e, s) in self._tickers if e == account.exchange}
        currencies = {
            account.quote: 250_000.0,
            **{a: 50_000.0 / ASSETS[a].price for a in traded if a in ASSETS},
        }
        balances: dict[str, Any] = {}
        for currency, total in sorted(currencies.items()):
            total = rounded(total * self._random.uniform(0.6, 1.4))
            used = rounded(total * self._random.uniform(0.05, 0.3))
            balances[currency] = {"free": rounded(total - used), "used": used, "total": total}
        balances["date"] = stamp
        account.balances = balances
        pipe.hset(keys.ACCOUNTS.key, account.ex_id, json.dumps(balances))

    # Every tick ------------------------------------------------------------------------------

    def _run(self) -> None:
        heartbeat_due = candles_due = time.monotonic()
        try:
            while True:
                now, pipe = time.time(), self._redis.pipeline(transaction=False)
                self._market.step()
                self._tick(pipe, now)
                if time.monotonic() >= candles_due:
                    self._candles(pipe, now)
                    candles_due += CANDLE_INTERVAL
                if time.monotonic() >= heartbeat_due:
                    self._heartbeat(pipe, now)
                    self._feeds(pipe, now)
                    self._coordination(pipe, now)
                    heartbeat_due += HEARTBEAT_INTERVAL
                if self._orders and self._random.random() < EVENT_CHANCE:
                    self._order(pipe, now)
                if self._trades and self._random.random() < EVENT_CHANCE:
                    key = self._random.choice(sorted(self._trades))
                    self._trade(pipe, now, key, *self._trades[key])
                    pipe.ltrim(key, -TRADES_KEPT, -1)
                if self._random.random() < FILL_CHANCE:
                    self._fill(pipe, now)
                if self._queues and self._random.random() < POP_CHANCE:
                    pipe.lpop(self._random.choice(sorted(self._queues)))  # the order service
                pipe.execute()
                if self._stopping.wait(TICK_INTERVAL):
                    return
        except redis.RedisError as exc:
            log.error("demo feeder stopped: %s", exc)

    def _stalled(self, now: float) -> bool:
        """Whether the quiet process sends no heartbeat now."""
        if now >= self._stall_end:  # over: the next one
            self._stall_start += STALL_EVERY_S
            self._stall_end = self._stall_start + STALL_S
        return self._stall_start <= now < self._stall_end

    def _quiet(self, now: float) -> bool:
        """Whether the quiet process is stale now (and its tickers go unfed)."""
        return self._stalled(now) and now - self._stall_start > STALE_AFTER_S

    def _tick(self, pipe: redis.client.Pipeline, now: float) -> None:
        quiet = self._quiet(now)
        for (exchange, symbol), tick in self._tickers.items():
            if quiet and QUIET_COMPONENT.startswith(exchange + ":"):
                continue
            price = self._market.price(exchange, symbol)
            if price is None:  # not an asset of the market: a small walk of its own
                price = rounded(tick["price"] * (1 + self._random.gauss(0, 0.0001)))
            half_spread = max(price * 1e-5, 0.005)
            bid, ask = rounded(price - half_spread), rounded(price + half_spread)
            tick.update(price=price, last=price, bid=bid, ask=ask, time=now)
            asset = ASSETS.get(base_of(symbol))
            if asset is not None:  # the last 24 hours' volume, drifting
                day = (
                    tick["volume"] if tick["volume"] > asset.bar_volume else asset.bar_volume * 1440
                )
                tick["volume"] = rounded(day * (1 + self._random.gauss(0, 0.0005)))
            payload = json.dumps(tick)
            pipe.hset(keys.tickers_key(exchange), symbol, payload)
            pipe.set(keys.ticker_time_key(exchange, symbol), repr(now))
            pipe.publish(keys.ticker_channel(exchange, symbol), payload)
            for series in self._series:
                if series.symbol == symbol:
                    self._follow(pipe, series, price, now)

    def _follow(
        self, pipe: redis.client.Pipeline, series: Series, price: float, now: float
    ) -> None:
        """The forming candle takes the price; a period that ended is sent, final, and the next
        one begins at its close."""
        bar, step = series.bar, series.period * series.scale
        if now * series.scale >= bar[0] + step:
            pipe.rpush(series.key, json.dumps(bar))
            start = bar[0] + int((now * series.scale - bar[0]) // step) * step
            series.bar = [start, bar[4], max(bar[4], price), min(bar[4], price), price, 0.0]
            return
        asset = ASSETS.get(base_of(series.symbol))
        traded = asset.bar_volume * series.period / 60 / 240 if asset else 0.0
        volume = rounded(bar[5] + traded * self._random.uniform(0.2, 1.8))
        series.bar = [bar[0], bar[1], max(bar[2], price), min(bar[3], price), price, volume]

    def _candles(self, pipe: redis.client.Pipeline, now: float) -> None:
        """The forming candles re-sent (the later one of a time wins)."""
        for series in self._series:
            pipe.rpush(series.key, json.dumps(series.bar))
            pipe.ltrim(series.key, -BARS_KEPT, -1)

    def _heartbeat(self, pipe: redis.client.Pipeline, now: float) -> None:
        stamp = _iso(now)
        stalled = self._stalled(now)
        for process in self._processes:
            record = process.record
            if process.quiet and stalled:  # updated, but no heartbeat: reconnecting
                beat = _iso(self._stall_start)
                record.update(
                    updated_at=stamp, heartbeat=beat, message="reconnecting to the exchange"
                )
            else:
                if process.quiet:
                    record["message"] = "streaming"
                record.update(updated_at=stamp, heartbeat=stamp)
            pipe.set(keys.process_data_key(process.process_id), json.dumps(record), ex=PROCESS_TTL)
            pipe.hset(keys.process_active_key(process.kind), process.process_id, stamp)

    def _feeds(self, pipe: redis.client.Pipeline, now: float) -> None:
        """Each bot's feeds, as bots write them: running ones with a PnL following BTC."""
        btc = self._market.price("binance", "BTC/USDT") or ASSETS["BTC"].price
        for bot, feeds in self._bots.items():
            for feed in feeds.values():
                if not isinstance(feed, dict):
                    continue
                if feed.get("status") == "running" and bot in self._pnl_base:
                    exposure = 0.4 + 0.1 * (int(bot) % 3) if bot.isdigit() else 0.4
                    pnl = self._pnl_base[bot] + exposure * (btc - ASSETS["BTC"].price)
                    feed["pnl"] = round(pnl, 2)
                feed["timestamp"] = _iso(now)
            pipe.hset(keys.BOTS.key, bot, json.dumps(feeds))

    def _coordination(self, pipe: redis.client.Pipeline, now: float) -> None:
        """A running bot takes a block with an opening mark, opens (the mark goes), and lets the
        block go: a third of BLOCK_CYCLE_S each."""
        running = sorted(b for b, f in self._bots.items() if _status(f) == "running")
        accounts = sorted(self._accounts)
        if not running or not accounts:
            return
        phase = int((now - self._started) // (BLOCK_CYCLE_S / 3)) % 3
        if phase == 0 and self._opening is None:
            ex_id = accounts[0]
            symbols = sorted(s for (e, s) in self._tickers if e == self._accounts[ex_id].exchange)
            held = self._redis.hkeys(keys.BLOCKS.key)
            free = [s for s in symbols if keys.block_field(ex_id, s) not in held]
            if free:
                bot = running[-1]
                self._opening = (bot, ex_id, free[-1])
                field_name = keys.block_field(ex_id, free[-1])
                pipe.hset(keys.BLOCKS.key, field_name, bot)
                pipe.hset(keys.OPENINGS.key, field_name, f"{bot}:{_iso(now)}")
        elif phase == 1 and self._opening is not None:
            pipe.hdel(keys.OPENINGS.key, keys.block_field(*self._opening[1:]))
        elif phase == 2 and self._opening is not None:
            field_name = keys.block_field(*self._opening[1:])
            pipe.hdel(keys.OPENINGS.key, field_name)
            pipe.hdel(keys.BLOCKS.key, field_name)
            self._opening = None

    # Now and then ----------------------------------------------------------------------------

    def _order(self, pipe: redis.client.Pipeline, now: float) -> None:
        exchange = self._random.choice(sorted(self._orders))
        template = self._random.choice(list(self._orders[exchange].values()))
        order_id = f"{exchange.upper()}-{next(self._ids):05d}"
        side = self._random.choice(("buy", "sell"))
        order = {
            **template,
            "order_id": order_id,
            "ex_order_id": order_id,
            "side": side,
            "volume": self._volume(template.get("symbol", "")),
            "final_volume": None,
            "status": "open",
            "timestamp": _iso(now),
        }
        order["price"] = self._near(exchange, order, far=True)
        pipe.hset(keys.orders_key(exchange), order_id, json.dumps(order))
        self._orders[exchange][order_id] = order
        placed = self._placed.setdefault(exchange, deque())
        placed.append(order_id)
        if len(placed) > ORDERS_KEPT:
            gone = placed.popleft()
            pipe.hdel(keys.orders_key(exchange), gone)
            self._orders[exchange].pop(gone, None)
        queue = keys.queue_key(f"local-{exchange}")  # the sample data's queue of that exchange
        if queue in self._queues:
            pipe.rpush(queue, order_id)
            pipe.ltrim(queue, -QUEUE_KEPT, -1)

    def _trade(
        self,
        pipe: redis.client.Pipeline,
        now: float,
        key: str,
        exchange: str,
        template: dict[str, Any],
    ) -> None:
        trade_id = next(self._ids)
        side = self._random.choice(("buy", "sell"))
        price = self._near(exchange, {**template, "side": side}, far=False)
        volume = self._volume(template.get("symbol", ""))
        trade = {
            **template,
            "trade_id": trade_id,
            "ex_trade_id": f"T-{exchange}-{trade_id}",
            "ex_order_id": f"O-{trade_id}",
            "side": side,
            "volume": volume,
            "price": price,
            "cost": rounded(price * volume),
            "fee": rounded(price * volume * 0.001),
            # Writers differ: the time is ISO or epoch seconds; keep the list's own form.
            "time": _iso(now) if isinstance(template.get("time"), str) else now,
        }
        pipe.rpush(key, json.dumps(trade))
        pipe.set(keys.trade_status_key(exchange), _iso(now))

    def _fill(self, pipe: redis.client.Pipeline, now: float) -> None:
        """An open order the demo placed is filled: its status, the user's trade, the account's
        balances and position."""
        placed = [(e, oid) for e, ids in self._placed.items() for oid in ids]
        open_orders = [(e, oid) for e, oid in placed if self._orders[e][oid]["status"] == "open"]
        if not open_orders:
            return
        exchange, order_id = self._random.choice(open_orders)
        order = self._orders[exchange][order_id]
        order.update(status="filled", final_volume=order["volume"], timestamp=_iso(now))
        pipe.hset(keys.orders_key(exchange), order_id, json.dumps(order))
        symbol, volume, price = (
            order.get("symbol", ""),
            float(order["volume"]),
            float(order["price"]),
        )
        signed = volume if order["side"] == "buy" else -volume
        template = self._user_trades.get(exchange)
        if template is not None:
            trade_id = next(self._ids)
            trade = {
                **template,
                "trade_id": trade_id,
                "ex_trade_id": f"U-{exchange}-{trade_id}",
                "ex_order_id": order_id,
                "symbol": symbol,
                "side": order["side"],
                "volume": volume,
                "price": price,
                "cost": rounded(price * volume),
                "fee": rounded(price * volume * 0.001),
                "time": _iso(now) if isinstance(template.get("time"), str) else now,
            }
            uid = str(template["uid"])
            pipe.rpush(keys.user_trades_key(uid, exchange), json.dumps(trade))
            pipe.ltrim(keys.user_trades_key(uid, exchange), -USER_TRADES_KEPT, -1)
            pipe.set(keys.user_trade_status_key(exchange), _iso(now))
        account = self._accounts.get(str(order.get("ex_id")))
        if account is None:
            return
        base, cost = base_of(symbol), price * volume
        for currency, change in ((base, signed), (account.quote, -signed * price)):
            entry = account.balances.setdefault(currency, {"free": 0.0, "used": 0.0, "total": 0.0})
            total = max(0.0, float(entry.get("total") or 0) + change)
            used = min(float(entry.get("used") or 0), total)
            entry.update(free=rounded(total - used), used=rounded(used), total=rounded(total))
        account.balances["date"] = _iso(now)
        pipe.hset(keys.ACCOUNTS.key, account.ex_id, json.dumps(account.balances))
        held = account.positions.get(symbol)
        if isinstance(held, dict):
            new_volume = rounded(float(held["volume"]) + signed)
            if new_volume > 0 and signed > 0:  # bought more: the average price moves
                held["cost"] = rounded(float(held["cost"]) + cost)
                held["price"] = rounded(held["cost"] / new_volume)
            elif new_volume > 0:
                held["cost"] = rounded(float(held["price"]) * new_volume)
            held.update(volume=max(new_volume, 0.0), count=int(held.get("count") or 0) + 1)
            held["timestamp"] = now
            account.positions["timestamp"] = _iso(now)
            pipe.hset(keys.POSITIONS.key, account.ex_id, json.dumps(account.positions))

    # Prices ----------------------------------------------------------------------------------

    def _near(self, exchange: str, item: dict[str, Any], far: bool) -> float:
        """A price near the market of the item's symbol on ``exchange``: a resting order's
        (``far``) 0.1 to 1.5 % on its side of it, a trade's within a spread or two; the item's
        own price for a symbol the market does not make."""
        price = self._market.price(exchange, item.get("symbol", ""))
        if price is None:
            return float(item["price"])
        offset = self._random.uniform(0.001, 0.015) if far else self._random.uniform(0, 0.0002)
        below = item.get("side", "buy") == "buy"
        return rounded(price * (1 - offset if below else 1 + offset))

    def _volume(self, symbol: str) -> float:
        asset = ASSETS.get(base_of(symbol))
        low, high = asset.volume if asset else (0.01, 1.0)
        return float(f"{self._random.uniform(low, high):.4g}")  # as an order is sized


def _hourly(minutes: list[Candle]) -> list[Candle]:
    """The last 24 hours of one-minute candles as hourly ones (the last one the forming hour)."""
    hours = []
    for n in range(24):
        part = minutes[n * 60 : (n + 1) * 60]
        hours.append(
            (
                part[0][0],
                max(c[1] for c in part),
                min(c[2] for c in part),
                part[-1][3],
                rounded(sum(c[4] for c in part)),
            )
        )
    return hours


def _same_type(like: Any, value: float) -> Any:
    """A candle time in the form its series stores: a float where the series has floats."""
    return float(value) if isinstance(like, float) else int(value)


def _status(feeds: dict[str, Any]) -> str | None:
    first = next((f for f in feeds.values() if isinstance(f, dict)), {})
    return first.get("status")


def _iso(moment: float) -> str:
    """A time as fullon_cache stamps its own writes: isoformat in UTC."""
    return datetime.fromtimestamp(moment, UTC).isoformat()


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
