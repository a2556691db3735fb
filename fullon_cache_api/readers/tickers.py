"""Tickers: ``tickers:{exchange}`` hashes, field = symbol, value = JSON tick."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator

import msgspec

from .. import keys
from ..errors import NotFound
from ..keys import RedisBytes
from .base import CorruptValue, Decoded, Lenient, decode_all, one, skip
from .paging import FamilyPosition, HashPage, HashPosition, hash_page, hashes_page
from .source import READ_BATCH, Source

__all__ = [
    "TICK",
    "AllTicks",
    "StoredTick",
    "Ticks",
    "all_ticks",
    "published_ticks",
    "read_all_tickers",
    "read_exchange_tickers",
    "read_ticker",
    "stored_ticks",
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


TICK = Lenient(StoredTick, memo=20_000)
"""Ticks decoded once while their stored bytes are unchanged (dashboards read them again and
again): about 7 MB at most."""


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


class Ticks(msgspec.Struct, kw_only=True):
    """Decoded ticks of one exchange by symbol, and where its next page starts."""

    exchange: str
    ticks: Decoded[StoredTick]
    next: HashPosition | None = None


def _ticks(
    exchange: str, fields: list[tuple[str, RedisBytes]], page: HashPage | None = None
) -> Ticks:
    decoded = decode_all(TICK, keys.tickers_key(exchange), fields)
    return Ticks(exchange=exchange, ticks=decoded, next=None if page is None else page.next)


async def read_ticker(src: Source, exchange: str, symbol: str) -> StoredTick:
    """One tick (HGET); 404 when missing, 502 when corrupt."""
    raw = await src.hget(keys.tickers_key(exchange), symbol)
    return one(TICK, raw, f"ticker {symbol} on {exchange}")


async def read_exchange_tickers(
    src: Source,
    exchange: str,
    symbols: list[str] | None,
    position: HashPosition | None,
    limit: int,
) -> Ticks:
    """A page of one exchange's ticks (see ``Source.hash_page``), or only ``symbols`` (one
    HMGET, one page). 404 when the exchange has no tickers hash (they never expire)."""
    key = keys.tickers_key(exchange)
    if symbols is not None:
        values = await src.hmget(key, symbols)
        found = sorted((s, v) for s, v in zip(symbols, values, strict=True) if v is not None)
        if not found and not await src.command("EXISTS", key):
            raise NotFound(f"no tickers on {exchange}")
        return _ticks(exchange, found)
    page = await hash_page(src, key, position, limit)
    if page.length == 0:
        raise NotFound(f"no tickers on {exchange}")
    return _ticks(exchange, page.fields, page)


class AllTicks(msgspec.Struct, kw_only=True):
    exchanges: list[Ticks]
    skipped: int
    """Corrupt ticks and keys of another Redis type."""
    next: FamilyPosition | None = None


async def _exchanges(src: Source) -> list[tuple[str, str]]:
    return await src.family_keys(keys.TICKERS.key, keys.TICKERS.parse)


async def _page(
    src: Source,
    found: list[tuple[str, str]],
    position: FamilyPosition | None,
    limit: int,
    exact: bool = True,
) -> AllTicks:
    page = await hashes_page(src, found, position, limit, exact=exact)
    groups = [
        _ticks(exchange, hash_page.fields, hash_page) for exchange, _, hash_page in page.pages
    ]
    skipped = page.skipped + sum(group.ticks.skipped for group in groups)
    return AllTicks(exchanges=groups, skipped=skipped, next=page.next)


async def read_all_tickers(src: Source, position: FamilyPosition | None, limit: int) -> AllTicks:
    """A page of every exchange's ticks, by exchange then symbol (see ``Source.hashes_page``)."""
    return await _page(src, await _exchanges(src), position, limit)


async def all_ticks(src: Source) -> AsyncIterator[AllTicks]:
    """Every tick of every exchange (the key index, then about ``READ_BATCH`` ticks at a time),
    for aggregates."""
    found = await _exchanges(src)
    position: FamilyPosition | None = None
    while True:
        page = await _page(src, found, position, READ_BATCH, exact=False)
        yield page
        if page.next is None:
            return
        position = page.next


async def stored_ticks(
    src: Source, exchange: str | None, symbols: frozenset[str] | None
) -> dict[tuple[str, str], bytes]:
    """The stored ticks, undecoded, by (exchange, symbol), of ``exchange`` (every exchange when
    None) and ``symbols`` (all when None): what a ticker feed compares, read by tracked reads
    (one HMGET for named symbols of one exchange; else the hashes page by page)."""
    if exchange is not None and symbols is not None:
        wanted = sorted(symbols)
        values = await src.hmget(keys.tickers_key(exchange), wanted)
        return {
            (exchange, symbol): keys.binary(raw)
            for symbol, raw in zip(wanted, values, strict=True)
            if raw is not None
        }
    found = await _exchanges(src) if exchange is None else [(exchange, keys.tickers_key(exchange))]
    state: dict[tuple[str, str], bytes] = {}
    position: FamilyPosition | None = None
    while True:
        page = await hashes_page(src, found, position, READ_BATCH, exact=False)
        for name, _, hashed in page.pages:
            for symbol, raw in hashed.fields:
                if symbols is None or symbol in symbols:
                    state[name, symbol] = keys.binary(raw)
        if page.next is None:
            return state
        position = page.next
