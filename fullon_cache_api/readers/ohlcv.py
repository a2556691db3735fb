"""OHLCV: ``ohlcv:{symbol}:{timeframe}`` lists, one JSON array ``[ts, o, h, l, c, v]`` per element.

Lists are appended oldest first and never deduplicated (a re-sent candle appears twice: the later
element wins), ``ts`` is epoch milliseconds from some writers and seconds from others (below 1e11
means seconds), and elements may carry extra trailing values. Bars leave this module as tuples
``(ts_ms, open, high, low, close, volume)`` with ``ts_ms`` an integer.
"""

from __future__ import annotations

import re

import msgspec

from .. import keys
from ..errors import NotFound
from ..keys import RedisBytes
from .base import CorruptValue, Lenient, skip
from .source import Source

__all__ = [
    "Bar",
    "Bars",
    "SeriesInfo",
    "SeriesList",
    "StoredBar",
    "decode_bar",
    "read_bars",
    "read_last_bar",
    "read_series",
    "read_timeframes",
    "timeframe_order",
]


Bar = tuple[int, float | None, float | None, float | None, float | None, float | None]

SECONDS_BELOW = 1e11
"""A stored timestamp below this is epoch seconds, otherwise epoch milliseconds."""
_MAX_TS = 9e15  # beyond any real time in ms; keeps ts_ms an exact integer (and rejects NaN)

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2592000, "y": 31536000}
_TIMEFRAME = re.compile(r"([0-9]+)([smhdwMy])")


class StoredBar(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A stored element ``[ts, o, h, l, c, v, ...]``: an array of at least six numbers (null
    prices pass as null); msgspec ignores the extra trailing elements of array-like Structs.
    ``gc=False``: numbers only, in no reference cycle; the decode memo keeps thousands, which
    the cyclic GC then never walks."""

    ts: float
    open: float | None
    high: float | None
    low: float | None
    close: float | None
    volume: float | None


BAR = Lenient(StoredBar, memo=50_000)
"""Bars decoded once while their stored bytes are unchanged: about 6 MB at most."""


class CorruptBar(CorruptValue):
    """A list element that is not JSON or not an array of at least six numbers."""


def decode_bar(raw: RedisBytes) -> Bar:
    """One stored element as ``(ts_ms, o, h, l, c, v)``: ``ts_ms`` an integer (second-based
    timestamps converted), extra trailing values dropped, non-finite prices kept as floats
    (the encoder writes null). Raises CorruptBar."""
    try:
        row = BAR.decode(raw)
    except CorruptValue as exc:
        raise CorruptBar(str(exc)) from None
    ts = row.ts
    if not -_MAX_TS < ts < _MAX_TS:
        raise CorruptBar(f"timestamp {ts!r} is not a time")
    ms = round(ts * 1000) if ts < SECONDS_BELOW else round(ts)
    return (ms, row.open, row.high, row.low, row.close, row.volume)


def timeframe_order(timeframe: str) -> tuple[int, int, str]:
    """Sort key: by duration (1m < 15m < 1h < 4h < 1d < 1w), unknown forms last by name."""
    match = _TIMEFRAME.fullmatch(timeframe)
    if match is None:
        return (1, 0, timeframe)
    return (0, int(match[1]) * _UNIT_SECONDS[match[2]], timeframe)


def _series_order(pair: tuple[str, str]) -> tuple[str, tuple[int, int, str]]:
    return (pair[0], timeframe_order(pair[1]))


# one series --------------------------------------------------------------------------------------


class Bars(msgspec.Struct, kw_only=True):
    """A series' bars, ascending and deduplicated, and how many stored elements were corrupt."""

    bars: list[Bar]
    skipped: int = 0


def _dedup(key: str, elements: list[RedisBytes]) -> Bars:
    by_ts: dict[int, Bar] = {}
    bad: list[tuple[int, str]] = []
    for index, raw in enumerate(elements):
        try:
            bar = decode_bar(raw)
        except CorruptBar as exc:
            bad.append((index, str(exc)))
            continue
        by_ts[bar[0]] = bar  # a re-sent candle: the later element wins
    if bad:
        index, reason = bad[0]
        skip(key, None, f"first at index {index}: {reason}", len(bad))
    return Bars(bars=[by_ts[ts] for ts in sorted(by_ts)], skipped=len(bad))


MARGIN = 64
"""Elements read beyond what an answer needs, for re-sent candles (duplicates) and for
timestamps slightly out of order around a window's edges."""
_PROBES = 16  # LINDEX probes per round of the search for a time in a long series


async def read_bars(
    src: Source,
    symbol: str,
    timeframe: str,
    since: int | None,
    until: int | None,
    limit: int,
) -> Bars:
    """The latest ``limit`` bars within ``[since, until]`` (epoch ms, inclusive), deduplicated
    by timestamp (the later element wins), ascending; 404 when the series is absent.

    Never the whole list: LLEN, then (with ``since``/``until``) a search of the indices by
    timestamp with rounds of pipelined LINDEX probes, then a window of ``limit`` elements plus
    ``MARGIN``, doubled (up to 4 times its size) while duplicates leave fewer than ``limit``
    bars, read ``READ_BATCH`` elements per LRANGE."""
    key = keys.ohlcv_key(symbol, timeframe)
    length = int(await src.command("LLEN", key))
    if length == 0:
        raise NotFound(f"no OHLCV series {symbol} {timeframe}")
    end = length if until is None else await _first_index(src, key, length, until, strictly=True)
    first = 0 if since is None else await _first_index(src, key, length, since, strictly=False)
    floor = max(first - MARGIN, 0)
    stop = min(end + MARGIN, length)  # re-sent candles of the window were appended after it
    window = limit + MARGIN
    while True:
        start = max(stop - window, floor)
        series = _dedup(key, await src.list_window(key, start, stop))
        bars = [bar for bar in series.bars if _within(bar[0], since, until)]
        if len(bars) >= limit or start == floor or window >= 4 * (limit + MARGIN):
            return Bars(bars=bars[-limit:], skipped=series.skipped)
        window *= 2


def _within(ts: int, since: int | None, until: int | None) -> bool:
    return (since is None or ts >= since) and (until is None or ts <= until)


async def _first_index(src: Source, key: str, length: int, ts_ms: int, *, strictly: bool) -> int:
    """The first index whose bar is after ``ts_ms`` (or at it, unless ``strictly``), ``length``
    when none, for a series appended in time order: each round sends ``_PROBES`` LINDEX in one
    pipeline and narrows the range 17 times. Exact to within ``MARGIN``; a corrupt probe
    narrows nothing (all corrupt: the search stops where it is)."""
    lo, hi = 0, length
    while hi - lo > MARGIN:
        step = (hi - lo) / (_PROBES + 1)
        probes = sorted({lo + int(step * k) for k in range(1, _PROBES + 1)})
        replies = await src.pipeline([("LINDEX", key, index) for index in probes])
        before = (lo, hi)
        for index, raw in zip(probes, replies, strict=True):
            ts = _edge_ts(raw)
            if ts is None:
                continue
            if ts > ts_ms or (ts == ts_ms and not strictly):
                hi = index
                break
            lo = index + 1
        if (lo, hi) == before:
            break
    return lo


async def read_last_bar(src: Source, symbol: str, timeframe: str) -> Bar | None:
    """The series' last element (LINDEX -1: the newest bar, as appended), None when the series
    is absent or that element is corrupt (logged and counted)."""
    key = keys.ohlcv_key(symbol, timeframe)
    raw = await src.command("LINDEX", key, -1)
    if raw is None:
        return None
    try:
        return decode_bar(raw)
    except CorruptBar as exc:
        skip(key, None, f"last element: {exc}")
        return None


# listings ----------------------------------------------------------------------------------------


async def read_timeframes(src: Source, symbol: str) -> list[str]:
    """The timeframes stored for exactly ``symbol``, by duration. The prefix ``ohlcv:{symbol}:``
    also holds longer symbols (``BTC/USDT`` finds ``ohlcv:BTC/USDT:USDT:1m``): each key is re-parsed
    and its symbol compared. 404 when none."""
    timeframes = [
        parsed[1]
        for key in await src.keys(keys.ohlcv_symbol_prefix(symbol))
        if (parsed := keys.OHLCV.parse(key)) is not None and parsed[0] == symbol
    ]
    if not timeframes:
        raise NotFound(f"no OHLCV series for {symbol}")
    return sorted(timeframes, key=timeframe_order)


class SeriesInfo(msgspec.Struct, kw_only=True, frozen=True):
    symbol: str
    timeframe: str
    bars: int
    first_ts_ms: int | None
    last_ts_ms: int | None


class SeriesList(msgspec.Struct, kw_only=True):
    series: list[SeriesInfo]
    skipped: int = 0
    after: str | None = None


def _edge_ts(raw: RedisBytes | None) -> int | None:
    if raw is None:
        return None
    try:
        return decode_bar(raw)[0]
    except CorruptBar:
        return None


async def read_series(src: Source, after: str | None, limit: int) -> SeriesList:
    """A page of the series, by key (each page by symbol, then timeframe by duration): one
    pipeline of ``LLEN``, ``LINDEX 0`` and ``LINDEX -1`` per key (lists are never
    read whole). ``bars`` counts stored elements, duplicates included; a corrupt first or last
    element gives a null time. A key of another Redis type is skipped and counted."""
    found = await src.family(
        keys.OHLCV.key,
        keys.OHLCV.parse,
        ("LLEN",),
        ("LINDEX", 0),
        ("LINDEX", -1),
        after=after,
        limit=limit,
    )
    series = [
        SeriesInfo(
            symbol=symbol,
            timeframe=timeframe,
            bars=length,
            first_ts_ms=_edge_ts(first),
            last_ts_ms=_edge_ts(last),
        )
        for (symbol, timeframe), (length, first, last) in sorted(
            ((m.parsed, m.replies) for m in found.members), key=lambda m: _series_order(m[0])
        )
    ]
    return SeriesList(series=series, skipped=found.skipped, after=found.after)
