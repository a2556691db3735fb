"""Tickers: ``tickers:{exchange}`` hashes, field = symbol, value = JSON tick."""

from __future__ import annotations

import msgspec
from redis.asyncio import Redis

from .. import keys
from ..errors import BadCacheValue, NotFound
from . import CorruptValue, Lenient, decode_many, scan_keys, text

__all__ = ["StoredTick", "Ticks", "read_all_tickers", "read_exchange_tickers", "read_ticker"]


class StoredTick(msgspec.Struct, frozen=True, gc=False):
    """A tick as fullon_cache stores it; the key and field, not these, name exchange and symbol.

    ``gc=False``: numbers and strings only, so it can be in no reference cycle; listings make
    thousands, and untracked they do not drive the cyclic GC (about 10% of a 10000-ticker
    listing's time)."""

    price: float | None = None
    volume: float | None = None
    time: float | str | None = None
    bid: float | None = None
    ask: float | None = None
    last: float | None = None


TICK = Lenient(StoredTick)


class Ticks(msgspec.Struct):
    """One exchange's decoded ticks, by symbol, and how many stored values were corrupt."""

    exchange: str
    ticks: list[tuple[str, StoredTick]]
    skipped: int = 0


def _ticks(exchange: str, fields: dict[bytes | str, bytes | str]) -> Ticks:
    # Sorted before decoding: the (symbol, raw) pairs compare by their symbol (unique), in C.
    entries = sorted((text(f), raw) for f, raw in fields.items())
    pairs, skipped = decode_many(TICK, keys.tickers_key(exchange), entries)
    return Ticks(exchange, pairs, skipped)


async def read_ticker(redis: Redis, exchange: str, symbol: str) -> StoredTick:
    raw = await redis.hget(keys.tickers_key(exchange), symbol)
    if raw is None:
        raise NotFound(f"no ticker {symbol} on {exchange}")
    try:
        return TICK.decode(raw)
    except CorruptValue:
        raise BadCacheValue(f"the stored ticker {symbol} on {exchange} is corrupt") from None


async def read_exchange_tickers(
    redis: Redis, exchange: str, symbols: list[str] | None = None
) -> Ticks:
    """All of one exchange's ticks (HGETALL), or only ``symbols`` (one HMGET). 404 when the
    exchange has no tickers hash (ticker hashes never expire)."""
    key = keys.tickers_key(exchange)
    if symbols is None:
        fields: dict[bytes | str, bytes | str] = await redis.hgetall(key)
    else:
        values = await redis.hmget(key, symbols)
        fields = {s: v for s, v in zip(symbols, values, strict=True) if v is not None}
    if not fields and (symbols is None or not await redis.exists(key)):
        raise NotFound(f"no tickers on {exchange}")
    return _ticks(exchange, fields)


async def read_all_tickers(redis: Redis) -> list[Ticks]:
    """Every exchange's ticks: one SCAN loop over ``tickers:*`` and one pipeline of HGETALL."""
    exchanges = [
        exchange
        for key in await scan_keys(redis, keys.TICKERS_PATTERN)
        if (exchange := keys.exchange_of_tickers_key(key)) is not None
    ]
    pipe = redis.pipeline(transaction=False)
    for exchange in exchanges:
        pipe.hgetall(keys.tickers_key(exchange))
    results = await pipe.execute() if exchanges else []
    return [_ticks(exchange, fields) for exchange, fields in zip(exchanges, results, strict=True)]
