"""Trades: ``trades:{exchange}:{symbol without "/"}`` and ``user_trades:{uid}:{exchange}`` lists
(JSON trade per element, oldest first), and the ``TRADE:STATUS:*`` / ``USER_TRADE:STATUS:*``
strings (ISO time of the last push).

Other services consume these lists (fullon_cache's own reader deletes them), so they are only
read here (LLEN, LRANGE), and an absent list is an empty answer.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from .. import keys
from ..ids import StoredId
from ..keys import RedisBytes, text
from .base import Lenient, decode_all, usable
from .source import READ_BATCH, Member, Source

__all__ = [
    "TRADE",
    "StatusKind",
    "StoredTrade",
    "TradeList",
    "TradeStatus",
    "TradeTotals",
    "Trades",
    "read_exchange_trades",
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

    trade_id: StoredId = None
    ex_trade_id: StoredId = None
    ex_order_id: StoredId = None
    uid: StoredId = None
    ex_id: StoredId = None
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


class Trades(msgspec.Struct, kw_only=True):
    """A page of one list's trades, newest first, how many stored values were corrupt, and
    the offset (from the newest) of the next page (None: no more)."""

    trades: list[StoredTrade]
    skipped: int = 0
    next: int | None = None


class TradeList(msgspec.Struct, kw_only=True):
    exchange: str
    symbol_key: str
    length: int
    status: str | None
    """The raw ``TRADE:STATUS:{exchange}`` value, None when absent."""


class TradeStatus(msgspec.Struct, kw_only=True):
    kind: StatusKind
    key: str
    """The key's suffix after ``TRADE:STATUS:`` / ``USER_TRADE:STATUS:``."""
    value: str | None


def _status(member: Member[tuple[StatusKind, str]]) -> TradeStatus:
    kind, key = member.parsed
    return TradeStatus(kind=kind, key=key, value=_text_or_none(member.replies[0]))


async def _newest(src: Source, key: str, offset: int, limit: int) -> Trades:
    """``limit`` elements of a list (RPUSH: oldest first) from the ``offset``-th newest, newest
    first: LLEN and LRANGE windows of at most ``READ_BATCH`` elements, in one pipeline, never
    consuming them."""
    windows = [
        ("LRANGE", key, -min(first + READ_BATCH, offset + limit), -(first + 1))
        for first in range(offset, offset + limit, READ_BATCH)
    ]
    length, *chunks = await src.pipeline([("LLEN", key), *windows])
    following = offset + limit if offset + limit < int(length) else None
    return _trades(key, [value for chunk in chunks for value in reversed(chunk)], offset, following)


def _trades(key: str, newest_first: list[RedisBytes], offset: int, following: int | None) -> Trades:
    """Elements of a list, newest first from the ``offset``-th newest, decoded; a corrupt one
    is skipped and counted."""
    entries = ((f"[{-1 - offset - i}]", value) for i, value in enumerate(newest_first))
    decoded = decode_all(TRADE, key, entries)
    return Trades(
        trades=[trade for _, trade in decoded.items], skipped=decoded.skipped, next=following
    )


async def read_trades(src: Source, exchange: str, symbol: str, offset: int, limit: int) -> Trades:
    """A page of a symbol's public trades, newest first (the key holds the symbol without
    "/")."""
    return await _newest(src, keys.trades_key(exchange, symbol), offset, limit)


async def read_user_trades(src: Source, uid: str, exchange: str, offset: int, limit: int) -> Trades:
    return await _newest(src, keys.user_trades_key(uid, exchange), offset, limit)


class ExchangeTrades(msgspec.Struct, kw_only=True):
    lists: list[tuple[str, Trades]]
    """(symbol key, the list's newest trades, newest first), by key."""
    skipped: int
    after: str | None
    """The key after which more lists start (None: no more)."""


async def read_exchange_trades(
    src: Source, exchange: str, window: int, limit: int
) -> ExchangeTrades:
    """The first ``limit`` public trade lists of exactly ``exchange``, by key, each with its
    newest ``window`` trades (``READ_BATCH`` at most), never consuming them: one pipeline of
    LRANGE. A key of another Redis type is skipped and counted."""
    found = await src.family(
        keys.trades_exchange_prefix(exchange),
        lambda key: (
            parsed if (parsed := keys.TRADES.parse(key)) and parsed[0] == exchange else None
        ),
        ("LRANGE", -min(window, READ_BATCH), -1),
        limit=limit,
    )
    lists = [(m.parsed[1], _trades(m.key, m.replies[0][::-1], 0, None)) for m in found.members]
    return ExchangeTrades(lists=lists, skipped=found.skipped, after=found.after)


def _text_or_none(raw: RedisBytes | None) -> str | None:
    return None if raw is None else text(raw)


class TradeLists(msgspec.Struct, kw_only=True):
    lists: list[TradeList]
    skipped: int
    after: str | None


async def read_trade_lists(src: Source, after: str | None, limit: int) -> TradeLists:
    """A page of the ``trades`` lists with their lengths and their exchange's status, by key:
    one pipeline (LLEN per list, GET per distinct exchange). A key of another
    Redis type is skipped and counted (a status of another type reads as none)."""
    found = await src.family(
        keys.TRADES.key, keys.TRADES.parse, ("LLEN",), after=after, limit=limit
    )
    exchanges = sorted({m.parsed[0] for m in found.members})
    status_keys = [keys.trade_status_key(exchange) for exchange in exchanges]
    replies = await src.pipeline([("GET", key) for key in status_keys], listing=True)
    status = {
        exchange: _text_or_none(reply) if usable(key, reply) else None
        for exchange, key, reply in zip(exchanges, status_keys, replies, strict=True)
    }
    lists = [
        TradeList(
            exchange=m.parsed[0],
            symbol_key=m.parsed[1],
            length=int(m.replies[0]),
            status=status[m.parsed[0]],
        )
        for m in found.members
    ]
    return TradeLists(lists=lists, skipped=found.skipped, after=found.after)


class UserTradeLists(msgspec.Struct, kw_only=True):
    lists: list[tuple[str, int]]
    """(exchange, length) by exchange."""
    skipped: int
    after: str | None


async def read_user_trade_lists(
    src: Source, uid: str, after: str | None, limit: int
) -> UserTradeLists:
    """A page of one user's ``user_trades`` lists with their lengths, by exchange: a pipeline
    of LLEN. None at all (they are consumed) is an empty list."""
    found = await src.family(
        keys.user_trades_prefix(uid),
        lambda key: (
            parsed if (parsed := keys.USER_TRADES.parse(key)) and parsed[0] == uid else None
        ),
        ("LLEN",),
        after=after,
        limit=limit,
    )
    lists = [(m.parsed[1], int(m.replies[0])) for m in found.members]
    return UserTradeLists(lists=lists, skipped=found.skipped, after=found.after)


def _status_key(key: str) -> tuple[StatusKind, str] | None:
    if (exchange := keys.TRADE_STATUS.parse(key)) is not None:
        return ("trade", exchange)
    if (name := keys.USER_TRADE_STATUS.parse(key)) is not None:
        return ("user_trade", name)
    return None


async def _status_keys(src: Source) -> list[tuple[tuple[StatusKind, str], str]]:
    """((kind, suffix), key) of every trade and user-trade status, by key (so by kind, then
    suffix), from the key index."""
    found = [
        *await src.keys(keys.TRADE_STATUS.key),
        *await src.keys(keys.USER_TRADE_STATUS.key),
    ]
    return sorted((parsed, key) for key in found if (parsed := _status_key(key)) is not None)


class Statuses(msgspec.Struct, kw_only=True):
    statuses: list[TradeStatus]
    skipped: int
    after: str | None = None


async def read_statuses(src: Source, after: str | None, limit: int) -> Statuses:
    """A page of the trade and user-trade statuses, by key: one pipeline of GET. A key of
    another Redis type is skipped and counted."""
    found = await _status_keys(src)
    if after is not None:
        found = [(parsed, key) for parsed, key in found if key > after]
    page = await src.members(found[:limit], ("GET",))
    statuses = [_status(m) for m in page.members]
    return Statuses(
        statuses=statuses,
        skipped=page.skipped,
        after=found[limit - 1][1] if len(found) > limit else None,
    )


class TradeTotals(msgspec.Struct, kw_only=True):
    lists: list[int]
    """Lengths of the ``trades:*`` lists."""
    user_lists: list[int]
    """Lengths of the ``user_trades:*`` lists."""
    statuses: list[TradeStatus]
    skipped: int


async def read_trade_totals(src: Source) -> TradeTotals:
    """Lengths of every trade and user-trade list and every status value: pipelines (LLEN per
    list, GET per status). Keys of another Redis type are skipped."""
    lists = await src.family(keys.TRADES.key, keys.TRADES.parse, ("LLEN",))
    user_lists = await src.family(keys.USER_TRADES.key, keys.USER_TRADES.parse, ("LLEN",))
    statuses = await src.members(await _status_keys(src), ("GET",))
    return TradeTotals(
        lists=[int(m.replies[0]) for m in lists.members],
        user_lists=[int(m.replies[0]) for m in user_lists.members],
        statuses=[_status(m) for m in statuses.members],
        skipped=lists.skipped + user_lists.skipped + statuses.skipped,
    )
