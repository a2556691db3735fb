"""Tickers: the latest price, bid, ask and volume of every symbol, by exchange."""

from __future__ import annotations

from typing import Any

import msgspec

from ..context import Ctx
from ..params import next_cursor
from ..readers.paging import FamilyPosition, HashPosition
from ..readers.tickers import (
    StoredTick,
    Ticks,
    all_ticks,
    read_all_tickers,
    read_exchange_tickers,
    read_ticker,
)
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
class TickerOut(msgspec.Struct, kw_only=True, frozen=True, gc=False):
    exchange: str
    symbol: str
    price: float | None
    bid: float | None
    ask: float | None
    last: float | None
    volume: float | None
    time: str | None
    age_s: float | None


class TickersOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    items: list[TickerOut]
    count: int
    skipped: int = 0
    next_cursor: str | None = None


class ExchangeTickersOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    exchange: str
    items: list[TickerOut]
    count: int
    skipped: int = 0
    next_cursor: str | None = None


class ExchangeTickerHealth(msgspec.Struct, kw_only=True, frozen=True):
    exchange: str
    count: int
    newest: str | None
    oldest: str | None
    stale: int


class TickerHealthOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    max_age: float
    items: list[ExchangeTickerHealth]
    count: int
    skipped: int = 0


def ticker_out(exchange: str, symbol: str, tick: StoredTick, now: float) -> TickerOut:
    epoch = to_epoch(tick.time)
    # Positional, in TickerOut's field order: built once per item of a listing.
    return TickerOut(
        exchange=exchange,
        symbol=symbol,
        price=tick.price,
        bid=tick.bid,
        ask=tick.ask,
        last=tick.last,
        volume=tick.volume,
        time=rfc3339(epoch),
        age_s=age_s(epoch, now),
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
    ctx: Ctx,
    exchange: str,
    symbols: list[str] | None,
    max_age: float | None,
    limit: int,
    cursor: HashPosition | None,
) -> ExchangeTickersOut:
    """One exchange's tickers by symbol; 404 when the exchange has no tickers hash.

    Up to `limit` a page (`next_cursor` when more remain): an exchange of at most 1000 tickers
    is read whole, in symbol order; a bigger one page by page in Redis's order (each page by
    symbol). With `max_age`, a page may hold fewer than `limit`."""
    group = await read_exchange_tickers(ctx.source, exchange, symbols, cursor, limit)
    items = _select(ctx, group, None, max_age)
    return ExchangeTickersOut(
        exchange=exchange,
        items=items,
        count=len(items),
        skipped=group.ticks.skipped,
        next_cursor=next_cursor(group.next),
    )


async def active_tickers(
    ctx: Ctx,
    exchange: str,
    symbols: list[str] | None,
    max_age: float,
    limit: int,
    cursor: HashPosition | None,
) -> ExchangeTickersOut:
    """One exchange's tickers younger than max_age (default: the ticker staleness setting);
    paged like /tickers/{exchange}."""
    return await exchange_tickers(ctx, exchange, symbols, max_age, limit, cursor)


async def all_tickers(
    ctx: Ctx,
    symbols: list[str] | None,
    max_age: float | None,
    limit: int,
    cursor: FamilyPosition | None,
) -> TickersOut:
    """All tickers on all exchanges, by exchange then symbol, up to `limit` a page.

    `next_cursor` when more remain; with `symbols` or `max_age` a page may hold fewer than
    `limit`."""
    found = await read_all_tickers(ctx.source, cursor, limit)
    items = [t for group in found.exchanges for t in _select(ctx, group, symbols, max_age)]
    return TickersOut(
        items=items, count=len(items), skipped=found.skipped, next_cursor=next_cursor(found.next)
    )


async def tickers_health(ctx: Ctx, max_age: float) -> TickerHealthOut:
    """Per exchange: ticker count, newest and oldest tick, and how many are stale.

    Reads every tick, a thousand at a time."""
    now = ctx.now()
    rows: dict[str, list[Any]] = {}  # exchange -> [count, newest, oldest, stale]
    skipped = 0
    async for page in all_ticks(ctx.source):
        skipped += page.skipped
        for group in page.exchanges:
            row = rows.setdefault(group.exchange, [0, None, None, 0])
            for _, tick in group.ticks.items:
                epoch = to_epoch(tick.time)
                row[0] += 1
                row[3] += not _fresh(ctx, tick, now, max_age)
                if epoch is not None:
                    row[1] = epoch if row[1] is None else max(row[1], epoch)
                    row[2] = epoch if row[2] is None else min(row[2], epoch)
    items = [
        ExchangeTickerHealth(
            exchange=exchange,
            count=count,
            newest=rfc3339(newest),
            oldest=rfc3339(oldest),
            stale=stale,
        )
        for exchange, (count, newest, oldest, stale) in rows.items()
    ]
    return TickerHealthOut(max_age=max_age, items=items, count=len(items), skipped=skipped)
