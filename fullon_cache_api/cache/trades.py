"""Trades: ``trades:{exchange}:{symbol without "/"}`` and ``user_trades:{uid}:{exchange}`` lists
(JSON trade per element, oldest first), and the ``TRADE:STATUS:*`` / ``USER_TRADE:STATUS:*``
strings (ISO time of the last push).

Other services consume these lists (fullon_cache's own reader deletes them), so they are only
read here (LLEN, LRANGE), and an absent list is an empty answer.
"""

from __future__ import annotations

from typing import Literal

import msgspec
from redis.asyncio import Redis

from .. import keys
from . import Lenient, decode_many, scan_keys, text
from .orders import Id

__all__ = [
    "StatusKind",
    "StoredTrade",
    "TradeList",
    "TradeStatus",
    "TradeTotals",
    "Trades",
    "UserTradeList",
    "read_statuses",
    "read_trade_lists",
    "read_trade_totals",
    "read_trades",
    "read_user_trade_lists",
    "read_user_trades",
]

StatusKind = Literal["trade", "user_trade"]


class StoredTrade(msgspec.Struct, frozen=True):
    """A trade as fullon_cache stores it; the key, not the payload, names the exchange."""

    trade_id: Id = None
    ex_trade_id: Id = None
    ex_order_id: Id = None
    uid: Id = None
    ex_id: Id = None
    symbol: str | None = None
    order_type: str | None = None
    side: str | None = None
    volume: float | None = None
    price: float | None = None
    cost: float | None = None
    fee: float | None = None
    cur_volume: float | None = None
    cur_avg_price: float | None = None
    cur_avg_cost: float | None = None
    cur_fee: float | None = None
    roi: float | None = None
    roi_pct: float | None = None
    total_fee: float | None = None
    leverage: float | None = None
    time: float | str | None = None


TRADE = Lenient(StoredTrade)


class Trades(msgspec.Struct):
    """The newest trades of one list, newest first, and how many stored values were corrupt."""

    trades: list[StoredTrade]
    skipped: int = 0


class TradeList(msgspec.Struct):
    exchange: str
    symbol_key: str
    length: int
    status: str | None
    """The raw ``TRADE:STATUS:{exchange}`` value, None when absent."""


class UserTradeList(msgspec.Struct):
    uid: str
    exchange: str
    length: int


class TradeStatus(msgspec.Struct):
    kind: StatusKind
    key: str
    """The key's suffix after ``TRADE:STATUS:`` / ``USER_TRADE:STATUS:``."""
    value: str | None


class TradeTotals(msgspec.Struct):
    lists: list[int]
    """Lengths of the ``trades:*`` lists."""
    user_lists: list[int]
    """Lengths of the ``user_trades:*`` lists."""
    statuses: list[TradeStatus]


async def _newest(redis: Redis, key: str, limit: int) -> Trades:
    """The last ``limit`` elements of a list (RPUSH: oldest first), newest first."""
    raw: list[bytes | str] = await redis.lrange(key, -limit, -1)
    entries = ((f"[{-1 - i}]", value) for i, value in enumerate(reversed(raw)))
    pairs, skipped = decode_many(TRADE, key, entries)
    return Trades([trade for _, trade in pairs], skipped)


async def read_trades(redis: Redis, exchange: str, symbol: str, limit: int) -> Trades:
    """A symbol's newest public trades (the key holds the symbol without "/")."""
    return await _newest(redis, keys.trades_key(exchange, symbol), limit)


async def read_user_trades(redis: Redis, uid: str, exchange: str, limit: int) -> Trades:
    return await _newest(redis, keys.user_trades_key(uid, exchange), limit)


async def _trade_lists(redis: Redis) -> list[tuple[str, str, str]]:
    """(exchange, symbol_key, key) of every ``trades`` list, by exchange then symbol key."""
    found = [
        (*parsed, key)
        for key in await scan_keys(redis, keys.TRADES_PATTERN)
        if (parsed := keys.parse_trades_key(key)) is not None
    ]
    return sorted(found)


async def _user_trade_lists(redis: Redis, uid: str | None = None) -> list[tuple[str, str]]:
    pattern = keys.USER_TRADES_PATTERN if uid is None else keys.user_trades_pattern(uid)
    found = [
        parsed
        for key in await scan_keys(redis, pattern)
        if (parsed := keys.parse_user_trades_key(key)) is not None
        and (uid is None or parsed[0] == uid)
    ]
    return sorted(found)


async def _status_keys(redis: Redis) -> list[tuple[StatusKind, str, str]]:
    """(kind, suffix, key) of every trade and user-trade status, by kind then suffix."""
    found: list[tuple[StatusKind, str, str]] = []
    for key in await scan_keys(redis, keys.TRADE_STATUS_PATTERN):
        if (exchange := keys.exchange_of_trade_status_key(key)) is not None:
            found.append(("trade", exchange, key))
    for key in await scan_keys(redis, keys.USER_TRADE_STATUS_PATTERN):
        if (name := keys.name_of_user_trade_status_key(key)) is not None:
            found.append(("user_trade", name, key))
    return sorted(found)


def _text_or_none(raw: bytes | str | None) -> str | None:
    return None if raw is None else text(raw)


async def read_trade_lists(redis: Redis) -> list[TradeList]:
    """Every ``trades`` list with its length and its exchange's status, by exchange then symbol
    key: one SCAN loop and one pipeline (LLEN per list, GET per distinct exchange)."""
    lists = await _trade_lists(redis)
    if not lists:
        return []
    exchanges = sorted({exchange for exchange, _, _ in lists})
    pipe = redis.pipeline(transaction=False)
    for _, _, key in lists:
        pipe.llen(key)
    for exchange in exchanges:
        pipe.get(keys.trade_status_key(exchange))
    results = await pipe.execute()
    lengths, values = results[: len(lists)], results[len(lists) :]
    status = {e: _text_or_none(v) for e, v in zip(exchanges, values, strict=True)}
    return [
        TradeList(exchange, symbol_key, int(length), status[exchange])
        for (exchange, symbol_key, _), length in zip(lists, lengths, strict=True)
    ]


async def read_user_trade_lists(redis: Redis, uid: str) -> list[UserTradeList]:
    """One user's ``user_trades`` lists with their lengths, by exchange: one SCAN loop, one
    pipeline of LLEN. None at all (they are consumed) is an empty list."""
    lists = await _user_trade_lists(redis, uid)
    if not lists:
        return []
    pipe = redis.pipeline(transaction=False)
    for owner, exchange in lists:
        pipe.llen(keys.user_trades_key(owner, exchange))
    lengths: list[int] = await pipe.execute()
    return [
        UserTradeList(owner, exchange, int(length))
        for (owner, exchange), length in zip(lists, lengths, strict=True)
    ]


async def read_statuses(redis: Redis) -> list[TradeStatus]:
    """Every trade and user-trade status, by kind then key: SCAN loops and one MGET."""
    found = await _status_keys(redis)
    if not found:
        return []
    values: list[bytes | str | None] = await redis.mget([key for _, _, key in found])
    return [
        TradeStatus(kind, name, _text_or_none(value))
        for (kind, name, _), value in zip(found, values, strict=True)
    ]


async def read_trade_totals(redis: Redis) -> TradeTotals:
    """Lengths of every trade and user-trade list and every status value: SCAN loops and one
    pipeline (LLEN per list, one MGET of the statuses)."""
    lists = await _trade_lists(redis)
    user_lists = await _user_trade_lists(redis)
    found = await _status_keys(redis)
    if not (lists or user_lists or found):
        return TradeTotals([], [], [])
    pipe = redis.pipeline(transaction=False)
    for _, _, key in lists:
        pipe.llen(key)
    for uid, exchange in user_lists:
        pipe.llen(keys.user_trades_key(uid, exchange))
    if found:
        pipe.mget([key for _, _, key in found])
    results = await pipe.execute()
    lengths = [int(n) for n in results[: len(lists) + len(user_lists)]]
    values: list[bytes | str | None] = results[-1] if found else []
    statuses = [
        TradeStatus(kind, name, _text_or_none(value))
        for (kind, name, _), value in zip(found, values, strict=True)
    ]
    return TradeTotals(lengths[: len(lists)], lengths[len(lists) :], statuses)
