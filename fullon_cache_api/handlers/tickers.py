"""Tickers: the latest price, bid, ask and volume of every symbol, by exchange."""

from __future__ import annotations

import msgspec

from ..readers.tickers import (
    StoredTick,
    Ticks,
    read_all_tickers,
    read_exchange_tickers,
    read_ticker,
)
from ..routing import Ctx
from ..times import age_s, rfc3339, to_epoch

__all__ = [
    "ExchangeTickersOut",
    "TickerHealthOut",
    "TickerOut",
    "TickersOut",
    "active_tickers",
    "all_tickers",
    "exchange_tickers",
    "ticker",
    "ticker_out",
    "tickers_health",
]


# gc=False: strings and numbers only, so no reference cycle is possible (see StoredTick).
class TickerOut(msgspec.Struct, frozen=True, gc=False):
    exchange: str
    symbol: str
    price: float | None
    bid: float | None
    ask: float | None
    last: float | None
    volume: float | None
    time: str | None
    age_s: float | None


class TickersOut(msgspec.Struct, frozen=True, omit_defaults=True):
    items: list[TickerOut]
    count: int
    skipped: int = 0


class ExchangeTickersOut(msgspec.Struct, frozen=True, omit_defaults=True):
    exchange: str
    items: list[TickerOut]
    count: int
    skipped: int = 0


class ExchangeTickerHealth(msgspec.Struct, frozen=True):
    exchange: str
    count: int
    newest: str | None
    oldest: str | None
    stale: int


class TickerHealthOut(msgspec.Struct, frozen=True, omit_defaults=True):
    max_age: float
    items: list[ExchangeTickerHealth]
    count: int
    skipped: int = 0


def ticker_out(exchange: str, symbol: str, tick: StoredTick, now: float) -> TickerOut:
    epoch = to_epoch(tick.time)
    # Positional, in TickerOut's field order: built once per item of a listing.
    return TickerOut(
        exchange,
        symbol,
        tick.price,
        tick.bid,
        tick.ask,
        tick.last,
        tick.volume,
        rfc3339(epoch),
        age_s(epoch, now),
    )


def _fresh(ctx: Ctx, tick: StoredTick, now: float, max_age: float) -> bool:
    epoch = to_epoch(tick.time)
    return ctx.chose(epoch is not None and now - epoch < max_age)


def _select(
    ctx: Ctx, group: Ticks, symbols: list[str] | None, max_age: float | None
) -> list[TickerOut]:
    """The group's ticks as answers, kept by ``symbols`` and younger than ``max_age`` seconds."""
    exchange, now = group.exchange, ctx.now()
    if symbols is None and max_age is None:
        return [ticker_out(exchange, symbol, tick, now) for symbol, tick in group.ticks.items]
    wanted = None if symbols is None else set(symbols)
    return [
        ticker_out(exchange, symbol, tick, now)
        for symbol, tick in group.ticks.items
        if (wanted is None or symbol in wanted)
        and (max_age is None or _fresh(ctx, tick, now, max_age))
    ]


async def ticker(ctx: Ctx, exchange: str, symbol: str) -> TickerOut:
    """One ticker: price, bid, ask, last, volume, time and age; 404 when missing."""
    tick = await read_ticker(ctx.source, exchange, symbol)
    return ticker_out(exchange, symbol, tick, ctx.now())


async def exchange_tickers(
    ctx: Ctx, exchange: str, symbols: list[str] | None, max_age: float | None
) -> ExchangeTickersOut:
    """One exchange's tickers by symbol; 404 when the exchange has no tickers hash."""
    group = await read_exchange_tickers(ctx.source, exchange, symbols)
    items = _select(ctx, group, None, max_age)
    return ExchangeTickersOut(exchange, items, len(items), group.ticks.skipped)


async def active_tickers(
    ctx: Ctx, exchange: str, symbols: list[str] | None, max_age: float
) -> ExchangeTickersOut:
    """One exchange's tickers younger than max_age (default: the ticker staleness setting)."""
    return await exchange_tickers(ctx, exchange, symbols, max_age)


async def all_tickers(ctx: Ctx, symbols: list[str] | None, max_age: float | None) -> TickersOut:
    """All tickers on all exchanges, ordered by exchange then symbol."""
    found = await read_all_tickers(ctx.source)
    items = [t for group in found.exchanges for t in _select(ctx, group, symbols, max_age)]
    return TickersOut(items, len(items), found.skipped)


async def tickers_health(ctx: Ctx, max_age: float) -> TickerHealthOut:
    """Per exchange: ticker count, newest and oldest tick, and how many are stale."""
    found = await read_all_tickers(ctx.source)
    now = ctx.now()
    rows = []
    for group in found.exchanges:
        ticks = group.ticks.items
        times = sorted(e for _, tick in ticks if (e := to_epoch(tick.time)) is not None)
        stale = sum(1 for _, tick in ticks if not _fresh(ctx, tick, now, max_age))
        newest, oldest = (times[-1], times[0]) if times else (None, None)
        rows.append(
            ExchangeTickerHealth(
                group.exchange, len(ticks), rfc3339(newest), rfc3339(oldest), stale
            )
        )
    return TickerHealthOut(max_age, rows, len(rows), found.skipped)
