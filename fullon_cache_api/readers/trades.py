"""Trades: ``trades:{exchange}:{symbol without "/"}`` and ``user_trades:{uid}:{exchange}`` lists
(JSON trade per element, oldest first), and the ``TRADE:STATUS:*`` / ``USER_TRADE:STATUS:*``
strings (ISO time of the last push).

Other services consume these lists (fullon_cache's own reader deletes them), so they are only
read here (LLEN, LRANGE), and an absent list is an empty answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import msgspec

from .. import keys
from .base import Lenient, Raw, Source, decode_all, text, usable
from .orders import Id

__all__ = [
    "TRADE",
    "StatusKind",
    "StoredTrade",
    "TradeList",
    "TradeStatus",
    "TradeTotals",
    "Trades",
    "read_exchange_trade_lists",
    "read_statuses",
    "read_trade_list",
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


class TradeStatus(msgspec.Struct):
    kind: StatusKind
    key: str
    """The key's suffix after ``TRADE:STATUS:`` / ``USER_TRADE:STATUS:``."""
    value: str | None


def _trades(key: str, entries: Iterable[tuple[str, Raw]]) -> Trades:
    """Decoded (index, raw) elements of one list; a corrupt one is skipped and counted."""
    decoded = decode_all(TRADE, key, entries)
    return Trades([trade for _, trade in decoded.items], decoded.skipped)


def _oldest_first(key: str, raw: list[Raw]) -> Trades:
    return _trades(key, ((f"[{i}]", value) for i, value in enumerate(raw)))


async def _newest(src: Source, key: str, limit: int) -> Trades:
    """The last ``limit`` elements of a list (RPUSH: oldest first), newest first."""
    raw = await src.lrange(key, -limit, -1)
    return _trades(key, ((f"[{-1 - i}]", value) for i, value in enumerate(reversed(raw))))


async def read_trades(src: Source, exchange: str, symbol: str, limit: int) -> Trades:
    """A symbol's newest public trades (the key holds the symbol without "/")."""
    return await _newest(src, keys.trades_key(exchange, symbol), limit)


async def read_trade_list(src: Source, exchange: str, symbol: str) -> Trades:
    """A symbol's whole public trade list, oldest first (LRANGE 0 -1, never consumed)."""
    key = keys.trades_key(exchange, symbol)
    return _oldest_first(key, await src.lrange(key, 0, -1))


async def read_exchange_trade_lists(src: Source, exchange: str) -> list[tuple[str, Trades]]:
    """Every public trade list of exactly ``exchange``, by symbol key, each whole and oldest
    first: one SCAN loop and one pipeline of LRANGE. A key of another type is skipped."""
    found = await src.family(
        keys.trades_exchange_pattern(exchange), keys.parse_trades_key, ("LRANGE", 0, -1)
    )
    return [
        (m.parsed[1], _oldest_first(m.key, m.replies[0]))
        for m in found.members
        if m.parsed[0] == exchange
    ]


async def read_user_trades(src: Source, uid: str, exchange: str, limit: int) -> Trades:
    return await _newest(src, keys.user_trades_key(uid, exchange), limit)


def _text_or_none(raw: Raw | None) -> str | None:
    return None if raw is None else text(raw)


class TradeLists(msgspec.Struct):
    lists: list[TradeList]
    skipped: int


async def read_trade_lists(src: Source) -> TradeLists:
    """Every ``trades`` list with its length and its exchange's status, by exchange then symbol
    key: one SCAN loop and one pipeline (LLEN per list, GET per distinct exchange). A key of
    another Redis type is skipped and counted (a status of another type reads as none)."""
    found = sorted(
        (parsed, key)
        for key in await src.scan(keys.TRADES_PATTERN)
        if (parsed := keys.parse_trades_key(key)) is not None
    )
    exchanges = sorted({exchange for (exchange, _), _ in found})
    status_keys = [keys.trade_status_key(exchange) for exchange in exchanges]
    replies = await src.pipeline(
        [("LLEN", key) for _, key in found] + [("GET", key) for key in status_keys], listing=True
    )
    lengths, statuses = replies[: len(found)], replies[len(found) :]
    status = {
        exchange: _text_or_none(reply) if usable(key, reply) else None
        for exchange, key, reply in zip(exchanges, status_keys, statuses, strict=True)
    }
    lists = [
        TradeList(exchange, symbol_key, int(length), status[exchange])
        for ((exchange, symbol_key), key), length in zip(found, lengths, strict=True)
        if usable(key, length)
    ]
    return TradeLists(lists, len(found) - len(lists))


class UserTradeLists(msgspec.Struct):
    lists: list[tuple[str, int]]
    """(exchange, length) by exchange."""
    skipped: int


async def read_user_trade_lists(src: Source, uid: str) -> UserTradeLists:
    """One user's ``user_trades`` lists with their lengths, by exchange: one SCAN loop, one
    pipeline of LLEN. None at all (they are consumed) is an empty list."""
    found = await src.family(keys.user_trades_pattern(uid), keys.parse_user_trades_key, ("LLEN",))
    lists = [(m.parsed[1], int(m.replies[0])) for m in found.members if m.parsed[0] == uid]
    return UserTradeLists(sorted(lists), found.skipped)


def _status_key(key: str) -> tuple[StatusKind, str] | None:
    if (exchange := keys.exchange_of_trade_status_key(key)) is not None:
        return ("trade", exchange)
    if (name := keys.name_of_user_trade_status_key(key)) is not None:
        return ("user_trade", name)
    return None


async def _status_keys(src: Source) -> list[tuple[tuple[StatusKind, str], str]]:
    """((kind, suffix), key) of every trade and user-trade status, by kind then suffix."""
    found = [
        (parsed, key)
        for pattern in (keys.TRADE_STATUS_PATTERN, keys.USER_TRADE_STATUS_PATTERN)
        for key in await src.scan(pattern)
        if (parsed := _status_key(key)) is not None
    ]
    return sorted(found)


def _read_statuses(
    found: list[tuple[tuple[StatusKind, str], str]], replies: list[Raw | None]
) -> tuple[list[TradeStatus], int]:
    statuses = [
        TradeStatus(kind, name, _text_or_none(reply))
        for ((kind, name), key), reply in zip(found, replies, strict=True)
        if usable(key, reply)
    ]
    return statuses, len(found) - len(statuses)


class Statuses(msgspec.Struct):
    statuses: list[TradeStatus]
    skipped: int


async def read_statuses(src: Source) -> Statuses:
    """Every trade and user-trade status, by kind then key: two SCAN loops and one pipeline of
    GET. A key of another Redis type is skipped and counted."""
    found = await _status_keys(src)
    replies = await src.pipeline([("GET", key) for _, key in found], listing=True)
    return Statuses(*_read_statuses(found, replies))


class TradeTotals(msgspec.Struct):
    lists: list[int]
    """Lengths of the ``trades:*`` lists."""
    user_lists: list[int]
    """Lengths of the ``user_trades:*`` lists."""
    statuses: list[TradeStatus]
    skipped: int


async def read_trade_totals(src: Source) -> TradeTotals:
    """Lengths of every trade and user-trade list and every status value: SCAN loops and one
    pipeline (LLEN per list, GET per status). Keys of another Redis type are skipped."""
    lists = [k for k in await src.scan(keys.TRADES_PATTERN) if keys.parse_trades_key(k)]
    user_lists = [
        k for k in await src.scan(keys.USER_TRADES_PATTERN) if keys.parse_user_trades_key(k)
    ]
    found = await _status_keys(src)
    list_keys = lists + user_lists
    replies = await src.pipeline(
        [("LLEN", key) for key in list_keys] + [("GET", key) for _, key in found], listing=True
    )
    lengths = [
        int(reply) if usable(key, reply) else None
        for key, reply in zip(list_keys, replies, strict=False)
    ]
    statuses, skipped = _read_statuses(found, replies[len(list_keys) :])
    return TradeTotals(
        [n for n in lengths[: len(lists)] if n is not None],
        [n for n in lengths[len(lists) :] if n is not None],
        statuses,
        skipped + lengths.count(None),
    )
