"""OHLCV endpoints."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ..cache.ohlcv import Bar, SeriesInfo, read_bars, read_series, read_timeframes
from ..params import OHLCV_LIMIT, SINCE, SYMBOL, TIMEFRAME, UNTIL
from ..responses import respond
from . import cache_of


class SeriesOut(msgspec.Struct, frozen=True):
    symbol: str
    timeframe: str
    bars: int
    """Stored elements (list length), re-sent duplicates counted."""
    first_ts_ms: int | None
    last_ts_ms: int | None


class SeriesListOut(msgspec.Struct, frozen=True, omit_defaults=True):
    items: list[SeriesOut]
    count: int
    skipped: int = 0


class TimeframesOut(msgspec.Struct, frozen=True):
    symbol: str
    timeframes: list[str]
    count: int


class BarsOut(msgspec.Struct, frozen=True, omit_defaults=True):
    symbol: str
    timeframe: str
    bars: list[Bar]
    """``[ts_ms, open, high, low, close, volume]``, ascending; ``ts_ms`` integer epoch ms."""
    count: int
    skipped: int = 0


def _series_out(info: SeriesInfo) -> SeriesOut:
    return SeriesOut(info.symbol, info.timeframe, info.bars, info.first_ts_ms, info.last_ts_ms)


async def all_series(request: Request) -> Response:
    """Every OHLCV series: stored bar count and first and last timestamps (ms)."""
    listing = await read_series(cache_of(request).redis)
    items = [_series_out(info) for info in listing.series]
    return respond(SeriesListOut(items, len(items), listing.skipped))


async def timeframes(request: Request) -> Response:
    """The timeframes cached for a symbol, by duration; 404 when none."""
    symbol = SYMBOL.require(request)
    found = await read_timeframes(cache_of(request).redis, symbol)
    return respond(TimeframesOut(symbol, found, len(found)))


async def bars(request: Request) -> Response:
    """A series' bars, ascending and deduplicated by timestamp; 404 when the series is absent."""
    symbol, timeframe = SYMBOL.require(request), TIMEFRAME.require(request)
    since, until, limit = SINCE.get(request), UNTIL.get(request), OHLCV_LIMIT.value(request)
    series = await read_bars(cache_of(request).redis, symbol, timeframe, since, until, limit)
    return respond(BarsOut(symbol, timeframe, series.bars, len(series.bars), series.skipped))
