"""OHLCV: candle series per symbol and timeframe (no exchange in the key), as
``[ts_ms, open, high, low, close, volume]`` arrays."""

from __future__ import annotations

import msgspec

from ..context import Ctx
from ..errors import BadRequest
from ..params import next_cursor
from ..readers.ohlcv import Bar, SeriesInfo, read_bars, read_series, read_timeframes


class SeriesOut(msgspec.Struct, kw_only=True, frozen=True):
    symbol: str
    timeframe: str
    bars: int
    """Stored elements (list length), re-sent duplicates counted."""
    first_ts_ms: int | None
    last_ts_ms: int | None


class SeriesListOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    items: list[SeriesOut]
    count: int
    skipped: int = 0
    next_cursor: str | None = None


class TimeframesOut(msgspec.Struct, kw_only=True, frozen=True):
    symbol: str
    timeframes: list[str]
    count: int


class BarsOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    symbol: str
    timeframe: str
    bars: list[Bar]
    """``[ts_ms, open, high, low, close, volume]``, ascending; ``ts_ms`` integer epoch ms."""
    count: int
    skipped: int = 0


def _series_out(info: SeriesInfo) -> SeriesOut:
    return SeriesOut(
        symbol=info.symbol,
        timeframe=info.timeframe,
        bars=info.bars,
        first_ts_ms=info.first_ts_ms,
        last_ts_ms=info.last_ts_ms,
    )


async def all_series(ctx: Ctx, limit: int, cursor: str | None) -> SeriesListOut:
    """Every OHLCV series: stored bar count and first and last timestamps (ms); up to `limit`
    a page (by key; each page by symbol, then timeframe by duration)."""
    listing = await read_series(ctx.source, cursor, limit)
    items = [_series_out(info) for info in listing.series]
    return SeriesListOut(
        items=items,
        count=len(items),
        skipped=listing.skipped,
        next_cursor=next_cursor(listing.after),
    )


async def timeframes(ctx: Ctx, symbol: str) -> TimeframesOut:
    """The timeframes cached for a symbol, by duration; 404 when none."""
    found = await read_timeframes(ctx.source, symbol)
    return TimeframesOut(symbol=symbol, timeframes=found, count=len(found))


async def bars(
    ctx: Ctx, symbol: str, timeframe: str, limit: int, since: int | None, until: int | None
) -> BarsOut:
    """A series' bars, ascending and deduplicated by timestamp; 404 when the series is absent.

    `since` after `until` is a 400."""
    if since is not None and until is not None and since > until:
        raise BadRequest(f"query parameter 'since' ({since}) must not be after 'until' ({until})")
    series = await read_bars(ctx.source, symbol, timeframe, since, until, limit)
    return BarsOut(
        symbol=symbol,
        timeframe=timeframe,
        bars=series.bars,
        count=len(series.bars),
        skipped=series.skipped,
    )
