"""Trades: public trade lists per exchange and symbol, users' trade lists, and the times of
the last trade pushes (read without consuming: other services pop these lists)."""

from __future__ import annotations

import msgspec

from ..context import Ctx
from ..ids import id_text
from ..params import next_cursor
from ..readers.trades import (
    StatusKind,
    StoredTrade,
    read_statuses,
    read_trade_lists,
    read_trade_totals,
    read_trades,
    read_user_trade_lists,
    read_user_trades,
)
from ..times import age_s, parse_time, to_epoch


class TradeListOut(msgspec.Struct, kw_only=True, frozen=True):
    exchange: str
    symbol_key: str
    length: int
    status_updated_at: str | None


class TradeListsOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    items: list[TradeListOut]
    count: int
    skipped: int = 0
    next_cursor: str | None = None


class TradeStatusOut(msgspec.Struct, kw_only=True, frozen=True):
    kind: StatusKind
    key: str
    updated_at: str | None
    age_s: float | None


class TradeStatusesOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    items: list[TradeStatusOut]
    count: int
    skipped: int = 0
    next_cursor: str | None = None


class TradeMetricsOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    lists: int
    trades: int
    user_trade_lists: int
    user_trades: int
    oldest_status_age_s: float | None
    newest_status_age_s: float | None
    skipped: int = 0


class UserTradeListOut(msgspec.Struct, kw_only=True, frozen=True):
    exchange: str
    length: int


class UserTradeListsOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    uid: str
    items: list[UserTradeListOut]
    count: int
    skipped: int = 0
    next_cursor: str | None = None


class TradeOut(msgspec.Struct, kw_only=True, frozen=True):
    trade_id: str | None
    ex_trade_id: str | None
    ex_order_id: str | None
    uid: str | None
    ex_id: str | None
    symbol: str | None
    order_type: str | None
    side: str | None
    volume: float | None
    price: float | None
    cost: float | None
    fee: float | None
    cur_volume: float | None
    cur_avg_price: float | None
    cur_avg_cost: float | None
    cur_fee: float | None
    roi: float | None
    roi_pct: float | None
    total_fee: float | None
    leverage: float | None
    time: str | None


class UserTradesOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    uid: str
    exchange: str
    items: list[TradeOut]
    count: int
    skipped: int = 0
    next_cursor: str | None = None


class SymbolTradesOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    exchange: str
    symbol: str
    items: list[TradeOut]
    count: int
    skipped: int = 0
    next_cursor: str | None = None


def trade_out(trade: StoredTrade) -> TradeOut:
    """A stored trade, its ids as text (``id_text``)."""
    return TradeOut(
        trade_id=id_text(trade.trade_id),
        ex_trade_id=id_text(trade.ex_trade_id),
        ex_order_id=id_text(trade.ex_order_id),
        uid=id_text(trade.uid),
        ex_id=id_text(trade.ex_id),
        symbol=trade.symbol,
        order_type=trade.order_type,
        side=trade.side,
        volume=trade.volume,
        price=trade.price,
        cost=trade.cost,
        fee=trade.fee,
        cur_volume=trade.cur_volume,
        cur_avg_price=trade.cur_avg_price,
        cur_avg_cost=trade.cur_avg_cost,
        cur_fee=trade.cur_fee,
        roi=trade.roi,
        roi_pct=trade.roi_pct,
        total_fee=trade.total_fee,
        leverage=trade.leverage,
        time=parse_time(trade.time),
    )


async def trade_lists(ctx: Ctx, limit: int, cursor: str | None) -> TradeListsOut:
    """Every public trade list with its length and its exchange's TRADE:STATUS time, by key;
    up to `limit` a page."""
    found = await read_trade_lists(ctx.source, cursor, limit)
    items = [
        TradeListOut(
            exchange=r.exchange,
            symbol_key=r.symbol_key,
            length=r.length,
            status_updated_at=parse_time(r.status),
        )
        for r in found.lists
    ]
    return TradeListsOut(
        items=items, count=len(items), skipped=found.skipped, next_cursor=next_cursor(found.after)
    )


async def trade_statuses(ctx: Ctx, limit: int, cursor: str | None) -> TradeStatusesOut:
    """Every TRADE:STATUS and USER_TRADE:STATUS time with its age, by kind then key; up to
    `limit` a page."""
    found = await read_statuses(ctx.source, cursor, limit)
    now = ctx.now()
    items = [
        TradeStatusOut(
            kind=s.kind,
            key=s.key,
            updated_at=parse_time(s.value),
            age_s=age_s(to_epoch(s.value), now),
        )
        for s in found.statuses
    ]
    return TradeStatusesOut(
        items=items, count=len(items), skipped=found.skipped, next_cursor=next_cursor(found.after)
    )


async def trade_metrics(ctx: Ctx) -> TradeMetricsOut:
    """Totals: trade lists and trades held, user-trade lists and trades, status ages."""
    totals = await read_trade_totals(ctx.source)
    now = ctx.now()
    ages = sorted(
        age for s in totals.statuses if (age := age_s(to_epoch(s.value), now)) is not None
    )
    return TradeMetricsOut(
        lists=len(totals.lists),
        trades=sum(totals.lists),
        user_trade_lists=len(totals.user_lists),
        user_trades=sum(totals.user_lists),
        oldest_status_age_s=ages[-1] if ages else None,
        newest_status_age_s=ages[0] if ages else None,
        skipped=totals.skipped,
    )


async def user_trade_lists(ctx: Ctx, uid: str, limit: int, cursor: str | None) -> UserTradeListsOut:
    """One user's trade lists with their lengths, by exchange; empty when none; up to `limit`
    a page."""
    found = await read_user_trade_lists(ctx.source, uid, cursor, limit)
    items = [UserTradeListOut(exchange=exchange, length=length) for exchange, length in found.lists]
    return UserTradeListsOut(
        uid=uid,
        items=items,
        count=len(items),
        skipped=found.skipped,
        next_cursor=next_cursor(found.after),
    )


async def user_trades(ctx: Ctx, uid: str, exchange: str, limit: int, cursor: int) -> UserTradesOut:
    """One user's trades on one exchange, newest first, limit at most; read without consuming.

    `next_cursor` pages to older trades."""
    found = await read_user_trades(ctx.source, uid, exchange, cursor, limit)
    items = [trade_out(trade) for trade in found.trades]
    return UserTradesOut(
        uid=uid,
        exchange=exchange,
        items=items,
        count=len(items),
        skipped=found.skipped,
        next_cursor=next_cursor(found.next),
    )


async def symbol_trades(
    ctx: Ctx, exchange: str, symbol: str, limit: int, cursor: int
) -> SymbolTradesOut:
    """Public trades of one symbol, newest first, limit at most; absent list is empty.

    `next_cursor` pages to older trades."""
    found = await read_trades(ctx.source, exchange, symbol, cursor, limit)
    items = [trade_out(trade) for trade in found.trades]
    return SymbolTradesOut(
        exchange=exchange,
        symbol=symbol,
        items=items,
        count=len(items),
        skipped=found.skipped,
        next_cursor=next_cursor(found.next),
    )
