"""Ticker endpoints."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ..cache.tickers import StoredTick, Ticks, read_all_tickers, read_exchange_tickers, read_ticker
from ..params import EXCHANGE, MAX_AGE, SYMBOL, SYMBOLS
from ..responses import respond
from ..times import age_s, rfc3339, to_epoch
from . import cache_of


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


def _select(
    group: Ticks, now: float, symbols: list[str] | None, max_age: float | None
) -> list[TickerOut]:
    """The group's ticks as output, kept by ``symbols`` and younger than ``max_age`` seconds."""
    exchange = group.exchange
    if symbols is None and max_age is None:
        return [ticker_out(exchange, symbol, tick, now) for symbol, tick in group.ticks]
    wanted = None if symbols is None else set(symbols)
    return [
        ticker_out(exchange, symbol, tick, now)
        for symbol, tick in group.ticks
        if (wanted is None or symbol in wanted) and (max_age is None or _fresh(tick, now, max_age))
    ]


def _fresh(tick: StoredTick, now: float, max_age: float) -> bool:
    epoch = to_epoch(tick.time)
    return epoch is not None and now - epoch < max_age


async def ticker(request: Request) -> Response:
    """One ticker: price, bid, ask, last, volume, time and age; 404 when missing."""
    exchange, symbol = EXCHANGE.require(request), SYMBOL.require(request)
    cache = cache_of(request)
    tick = await read_ticker(cache.redis, exchange, symbol)
    return respond(ticker_out(exchange, symbol, tick, cache.clock()))


async def _exchange_tickers(request: Request, max_age: float | None) -> Response:
    exchange, symbols = EXCHANGE.require(request), SYMBOLS.get_list(request)
    cache = cache_of(request)
    group = await read_exchange_tickers(cache.redis, exchange, symbols)
    items = _select(group, cache.clock(), None, max_age)
    return respond(ExchangeTickersOut(exchange, items, len(items), group.skipped))


async def exchange_tickers(request: Request) -> Response:
    """One exchange's tickers by symbol; 404 when the exchange has no tickers hash."""
    return await _exchange_tickers(request, MAX_AGE.get(request))


async def active_tickers(request: Request) -> Response:
    """One exchange's tickers younger than max_age (default: the ticker staleness setting)."""
    max_age = MAX_AGE.get(request) or cache_of(request).settings.ticker_max_age
    return await _exchange_tickers(request, max_age)


async def all_tickers(request: Request) -> Response:
    """All tickers on all exchanges, ordered by exchange then symbol."""
    symbols, max_age = SYMBOLS.get_list(request), MAX_AGE.get(request)
    cache = cache_of(request)
    groups = await read_all_tickers(cache.redis)
    now = cache.clock()
    items = [t for group in groups for t in _select(group, now, symbols, max_age)]
    skipped = sum(group.skipped for group in groups)
    return respond(TickersOut(items, len(items), skipped))


async def tickers_health(request: Request) -> Response:
    """Per exchange: ticker count, newest and oldest tick, and how many are stale."""
    cache = cache_of(request)
    max_age = MAX_AGE.get(request) or cache.settings.ticker_max_age
    groups = await read_all_tickers(cache.redis)
    now = cache.clock()
    rows = []
    for group in groups:
        times = sorted(e for _, tick in group.ticks if (e := to_epoch(tick.time)) is not None)
        stale = sum(1 for _, tick in group.ticks if not _fresh(tick, now, max_age))
        newest, oldest = (times[-1], times[0]) if times else (None, None)
        rows.append(
            ExchangeTickerHealth(
                group.exchange, len(group.ticks), rfc3339(newest), rfc3339(oldest), stale
            )
        )
    skipped = sum(group.skipped for group in groups)
    return respond(TickerHealthOut(max_age, rows, len(rows), skipped))
