"""``/ws/trades/{connection_id}``: public trades of a symbol, never consumed (LRANGE only:
other services consume these lists; v0.2.6 deleted what it read).

Bounded: ``get_trades`` answers a list's newest 10,000 trades (``MAX_ITEMS``); a stream reads
the newest ``STREAM_TRADES`` of each list it follows per poll, and without a symbol follows the
exchange's first ``STREAM_LISTS`` lists (by key)."""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

from ..actions import Action, TextArg
from ..context import Ctx
from ..ids import StoredId
from ..readers import watched
from ..readers.source import Source
from ..readers.trades import Trades, read_exchange_trades, read_trades
from ..times import to_epoch
from .pages import MAX_ITEMS, left_out
from .streams import Polled

__all__ = ["ACTIONS"]

STREAM_TRADES = 100
"""The newest trades of a list a stream reads per poll: a list that gets more between two polls
sends its newest 100."""
STREAM_LISTS = 100
"""Lists of the exchange a stream without a symbol follows, by key (the first 100)."""


class TradeRecord(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """A trade as v0.2.6 answered it; a stream message's also holds its ``stream_key``."""

    stream_key: str | UnsetType = UNSET
    symbol: str | None
    exchange: str
    side: str | None
    volume: float | None
    price: float | None
    timestamp: float | None
    """The trade's time, epoch seconds."""
    trade_id: StoredId


class TradesResult(msgspec.Struct, kw_only=True, frozen=True):
    exchange: str
    symbol: str
    trades: list[TradeRecord]


TradeLists = dict[str, list[TradeRecord]]
"""Trades by list (the symbol asked, or the symbol part of each list's key), oldest first."""


def _records(exchange: str, symbol: str, found: Trades) -> list[TradeRecord]:
    """Oldest first (``found`` is newest first); ``symbol`` names the list: a trade without its
    own symbol takes it."""
    return [
        TradeRecord(
            symbol=t.symbol or symbol,
            exchange=exchange,
            side=t.side,
            volume=t.volume,
            price=t.price,
            timestamp=to_epoch(t.time),
            trade_id=t.trade_id,
        )
        for t in reversed(found.trades)
    ]


async def get_trades(ctx: Ctx, exchange: str, symbol: str) -> TradesResult:
    """A symbol's trades, oldest first: the newest 10,000 (LRANGE windows; the list is left as
    it is)."""
    found = await read_trades(ctx.source, exchange, symbol, 0, MAX_ITEMS)
    if found.next is not None:
        left_out(f"trades of {exchange} {symbol}: only the newest {MAX_ITEMS} are read")
    return TradesResult(exchange=exchange, symbol=symbol, trades=_records(exchange, symbol, found))


async def _lists(src: Source, exchange: str, symbol: str | None) -> TradeLists:
    """The newest trades of the symbol's list, or of each of the exchange's lists."""
    if symbol is not None:
        found = await read_trades(src, exchange, symbol, 0, STREAM_TRADES)
        return {symbol: _records(exchange, symbol, found)}
    lists = await read_exchange_trades(src, exchange, STREAM_TRADES, STREAM_LISTS)
    if lists.after is not None:
        left_out(f"trade lists of {exchange}: only the first {STREAM_LISTS} are streamed")
    return {name: _records(exchange, name, found) for name, found in lists.lists}


def _after(seen: list[TradeRecord], trades: list[TradeRecord]) -> list[TradeRecord]:
    """The trades after the last one seen; all of them when it is gone (the list was consumed
    past it)."""
    if seen:
        for index in range(len(trades) - 1, -1, -1):
            if trades[index] == seen[-1]:
                return trades[index + 1 :]
    return trades


def _trade_updates(previous: TradeLists | None, lists: TradeLists, key: str) -> list[TradeRecord]:
    """First each list's last trade, then every trade that is new since the last message."""
    new = [
        trade
        for name, trades in lists.items()
        for trade in (trades[-1:] if previous is None else _after(previous.get(name, []), trades))
    ]
    return [msgspec.structs.replace(trade, stream_key=key) for trade in new]


async def stream_trade_updates(ctx: Ctx, exchange: str, symbol: str | None) -> Polled[TradeLists]:
    """New trades of a symbol, or of every list of the exchange when no symbol is given."""
    target = f" symbol={symbol}" if symbol is not None else ""
    return Polled(
        f"Streaming started for {exchange}{target}",
        ("trades", exchange, symbol),
        lambda: _lists(ctx.source, exchange, symbol),
        _trade_updates,
        watched.symbol_trades_watch(exchange, symbol),
    )


EXCHANGE = TextArg("exchange")

ACTIONS = (
    Action(
        "get_trades",
        get_trades,
        (EXCHANGE, TextArg("symbol")),
        missing="exchange and symbol parameters required",
        failure="Failed to retrieve trades",
    ),
    Action(
        "stream_trade_updates",
        stream_trade_updates,
        (EXCHANGE, TextArg("symbol", required=False)),
        missing="exchange parameter required",
        failure="Failed to start trade streaming",
        update="trade_update",
    ),
)
