"""``/ws/trades/{connection_id}``: public trades of a symbol, read whole and never consumed
(LRANGE only: other services pop these lists; v0.2.6 deleted what it read)."""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

from ..readers.base import Source
from ..readers.orders import Id
from ..readers.trades import Trades, read_exchange_trade_lists, read_trade_list
from ..routing import Ctx
from ..times import to_epoch
from .actions import Action, Text
from .streams import Polled

__all__ = ["ACTIONS"]


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
    trade_id: Id


class TradesResult(msgspec.Struct, frozen=True):
    exchange: str
    symbol: str
    trades: list[TradeRecord]


TradeLists = dict[str, list[TradeRecord]]
"""Trades by list (the symbol asked, or the symbol part of each list's key), oldest first."""


def _records(exchange: str, symbol: str, found: Trades) -> list[TradeRecord]:
    """``symbol`` names the list: a trade without its own symbol takes it."""
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
        for t in found.trades
    ]


async def get_trades(ctx: Ctx, exchange: str, symbol: str) -> TradesResult:
    """A symbol's trades, oldest first (LRANGE 0 -1; the list is left as it is)."""
    found = await read_trade_list(ctx.source, exchange, symbol)
    return TradesResult(exchange, symbol, _records(exchange, symbol, found))


async def _lists(src: Source, exchange: str, symbol: str | None) -> TradeLists:
    if symbol is not None:
        return {symbol: _records(exchange, symbol, await read_trade_list(src, exchange, symbol))}
    return {
        name: _records(exchange, name, found)
        for name, found in await read_exchange_trade_lists(src, exchange)
    }


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
    )


EXCHANGE = Text("exchange")

ACTIONS = (
    Action(
        "get_trades",
        get_trades,
        (EXCHANGE, Text("symbol")),
        missing="exchange and symbol parameters required",
        failure="Failed to retrieve trades",
    ),
    Action(
        "stream_trade_updates",
        stream_trade_updates,
        (EXCHANGE, Text("symbol", required=False)),
        missing="exchange parameter required",
        failure="Failed to start trade streaming",
        update="trade_update",
    ),
)
