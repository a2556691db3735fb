"""Tickers: ``tickers:{exchange}`` hashes, field = symbol, value = JSON tick."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import msgspec

from .. import keys
from ..errors import NotFound
from .base import CorruptValue, Decoded, Lenient, Source, decode_all, one, skip, text

__all__ = [
    "TICK",
    "AllTicks",
    "StoredTick",
    "Ticks",
    "published_ticks",
    "read_all_tickers",
    "read_exchange_tickers",
    "read_ticker",
]


class StoredTick(msgspec.Struct, frozen=True, gc=False):
    """A tick as fullon_cache stores it; the key and field, not these, name exchange and symbol.

    ``gc=False``: numbers and strings only, so it can be in no reference cycle; listings make
    thousands, and untracked they do not drive the cyclic GC."""

    price: float | None = None
    volume: float | None = None
    time: float | str | None = None
    bid: float | None = None
    ask: float | None = None
    last: float | None = None
    change_24h: float | None = None
    """Not written by fullon_cache; the v0.2.6 WebSocket protocol reports it when a tick has it."""


TICK = Lenient(StoredTick)


def published_ticks(
    updates: Iterable[tuple[str, str, bytes]],
) -> Iterator[tuple[str, str, StoredTick]]:
    """The (exchange, symbol, tick) of ticker publications; a corrupt one is dropped (logged,
    counted), and the stream goes on."""
    for exchange, symbol, raw in updates:
        try:
            yield exchange, symbol, TICK.decode(raw)
        except CorruptValue as exc:
            skip(f"ticker update {exchange} {symbol}", None, exc)


class Ticks(msgspec.Struct):
    """One exchange's decoded ticks by symbol (sorted), and how many were corrupt."""

    exchange: str
    ticks: Decoded[StoredTick]


def _ticks(exchange: str, fields: dict[str, bytes | str]) -> Ticks:
    # Sorted before decoding: the (symbol, raw) pairs compare by their symbol (unique), in C.
    entries = sorted(fields.items())
    return Ticks(exchange, decode_all(TICK, keys.tickers_key(exchange), entries))


async def read_ticker(src: Source, exchange: str, symbol: str) -> StoredTick:
    """One tick (HGET); 404 when missing, 502 when corrupt."""
    raw = await src.hget(keys.tickers_key(exchange), symbol)
    return one(TICK, raw, f"ticker {symbol} on {exchange}")


async def read_exchange_tickers(
    src: Source, exchange: str, symbols: list[str] | None = None
) -> Ticks:
    """All of one exchange's ticks (HGETALL), or only ``symbols`` (one HMGET). 404 when the
    exchange has no tickers hash (ticker hashes never expire)."""
    key = keys.tickers_key(exchange)
    if symbols is None:
        fields = await src.hgetall(key)
    else:
        values = await src.hmget(key, symbols)
        fields = {s: v for s, v in zip(symbols, values, strict=True) if v is not None}
    if not fields and (symbols is None or not await src.command("EXISTS", key)):
        raise NotFound(f"no tickers on {exchange}")
    return _ticks(exchange, fields)


class AllTicks(msgspec.Struct):
    exchanges: list[Ticks]
    skipped: int
    """Corrupt ticks and keys of another Redis type."""


async def read_all_tickers(src: Source) -> AllTicks:
    """Every exchange's ticks: one SCAN loop over ``tickers:*`` and one pipeline of HGETALL."""
    found = await src.family(keys.TICKERS_PATTERN, keys.exchange_of_tickers_key, ("HGETALL",))
    groups = [
        _ticks(m.parsed, {text(name): raw for name, raw in m.replies[0].items()})
        for m in found.members
    ]
    return AllTicks(groups, found.skipped + sum(g.ticks.skipped for g in groups))
