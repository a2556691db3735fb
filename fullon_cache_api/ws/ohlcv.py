"""``/ws/ohlcv/{connection_id}``: the latest bars of a series (symbol and timeframe: OHLCV keys
carry no exchange). Bars are ``[ts, open, high, low, close, volume]`` with ``ts`` in epoch
milliseconds (second-based writers' times converted), deduplicated by time, oldest first."""

from __future__ import annotations

import msgspec

from ..actions import Action, IntegerArg, TextArg
from ..context import Ctx
from ..readers import watched
from ..readers.ohlcv import Bar, read_bars, read_last_bar
from .pages import MAX_ITEMS
from .streams import Polled

__all__ = ["ACTIONS"]

Row = tuple[float, float | None, float | None, float | None, float | None, float | None]
"""A bar as v0.2.6 sent it: its time a float, as stored."""


class BarsResult(msgspec.Struct, kw_only=True, frozen=True):
    symbol: str
    timeframe: str
    bars: list[Row]


class BarUpdate(msgspec.Struct, kw_only=True, frozen=True):
    stream_key: str
    symbol: str
    timeframe: str
    bar: Row


def _row(bar: Bar) -> Row:
    return (float(bar[0]), *bar[1:])


async def get_latest_ohlcv_bars(ctx: Ctx, symbol: str, timeframe: str, count: int) -> BarsResult:
    """The series' latest ``count`` bars (for 0, all of them: 10,000 at most, as fullon_cache
    trims series), oldest first."""
    found = await read_bars(ctx.source, symbol, timeframe, None, None, count or MAX_ITEMS)
    return BarsResult(symbol=symbol, timeframe=timeframe, bars=[_row(bar) for bar in found.bars])


async def stream_ohlcv(ctx: Ctx, symbol: str, timeframe: str) -> Polled[Bar | None]:
    """The series' last bar at once (when there is one), then whenever it changes."""

    def updates(previous: Bar | None, bar: Bar | None, key: str) -> list[BarUpdate]:
        return (
            []
            if bar is None
            else [BarUpdate(stream_key=key, symbol=symbol, timeframe=timeframe, bar=_row(bar))]
        )

    return Polled(
        f"Streaming started for {symbol} {timeframe}",
        ("ohlcv", symbol, timeframe),
        lambda: read_last_bar(ctx.source, symbol, timeframe),
        updates,
        watched.series_watch(symbol, timeframe),
    )


SERIES = (TextArg("symbol"), TextArg("timeframe"))

ACTIONS = (
    Action(
        "get_latest_ohlcv_bars",
        get_latest_ohlcv_bars,
        (*SERIES, IntegerArg("count", required=False, default_value=10, maximum=MAX_ITEMS)),
        missing="symbol and timeframe parameters required",
        failure="Failed to retrieve OHLCV data",
        not_found=("OHLCV_NOT_FOUND", "OHLCV data not found for {symbol} {timeframe}"),
    ),
    Action(
        "stream_ohlcv",
        stream_ohlcv,
        SERIES,
        missing="symbol and timeframe required",
        failure="Failed to start OHLCV streaming",
        update="ohlcv_update",
    ),
)
