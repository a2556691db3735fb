"""Trades endpoints."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ..cache.orders import Id
from ..cache.trades import (
    StatusKind,
    StoredTrade,
    read_statuses,
    read_trade_lists,
    read_trade_totals,
    read_trades,
    read_user_trade_lists,
    read_user_trades,
)
from ..params import EXCHANGE, LIMIT, SYMBOL, UID
from ..responses import respond
from ..times import age_s, parse_time, to_epoch
from . import cache_of


class TradeListOut(msgspec.Struct, frozen=True):
    exchange: str
    symbol_key: str
    length: int
    status_updated_at: str | None


class TradeListsOut(msgspec.Struct, frozen=True):
    items: list[TradeListOut]
    count: int


class TradeStatusOut(msgspec.Struct, frozen=True):
    kind: StatusKind
    key: str
    updated_at: str | None
    age_s: float | None


class TradeStatusesOut(msgspec.Struct, frozen=True):
    items: list[TradeStatusOut]
    count: int


class TradeMetricsOut(msgspec.Struct, frozen=True):
    lists: int
    trades: int
    user_trade_lists: int
    user_trades: int
    oldest_status_age_s: float | None
    newest_status_age_s: float | None


class UserTradeListOut(msgspec.Struct, frozen=True):
    exchange: str
    length: int


class UserTradeListsOut(msgspec.Struct, frozen=True):
    uid: str
    items: list[UserTradeListOut]
    count: int


class TradeOut(msgspec.Struct, frozen=True):
    trade_id: Id
    ex_trade_id: Id
    ex_order_id: Id
    uid: Id
    ex_id: Id
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


class UserTradesOut(msgspec.Struct, frozen=True, omit_defaults=True):
    uid: str
    exchange: str
    items: list[TradeOut]
    count: int
    skipped: int = 0


class SymbolTradesOut(msgspec.Struct, frozen=True, omit_defaults=True):
    exchange: str
    symbol: str
    items: list[TradeOut]
    count: int
    skipped: int = 0


def trade_out(trade: StoredTrade) -> TradeOut:
    return TradeOut(
        trade_id=trade.trade_id,
        ex_trade_id=trade.ex_trade_id,
        ex_order_id=trade.ex_order_id,
        uid=trade.uid,
        ex_id=trade.ex_id,
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


async def trade_lists(request: Request) -> Response:
    """Every public trade list with its length and its exchange's TRADE:STATUS time."""
    rows = await read_trade_lists(cache_of(request).redis)
    items = [TradeListOut(r.exchange, r.symbol_key, r.length, parse_time(r.status)) for r in rows]
    return respond(TradeListsOut(items, len(items)))


async def trade_statuses(request: Request) -> Response:
    """Every TRADE:STATUS and USER_TRADE:STATUS time with its age, by kind then key."""
    cache = cache_of(request)
    rows = await read_statuses(cache.redis)
    now = cache.clock()
    items = []
    for row in rows:
        epoch = to_epoch(row.value)
        items.append(TradeStatusOut(row.kind, row.key, parse_time(row.value), age_s(epoch, now)))
    return respond(TradeStatusesOut(items, len(items)))


async def trade_metrics(request: Request) -> Response:
    """Totals: trade lists and trades held, user-trade lists and trades, status ages."""
    cache = cache_of(request)
    totals = await read_trade_totals(cache.redis)
    now = cache.clock()
    ages = sorted(
        age for s in totals.statuses if (age := age_s(to_epoch(s.value), now)) is not None
    )
    return respond(
        TradeMetricsOut(
            lists=len(totals.lists),
            trades=sum(totals.lists),
            user_trade_lists=len(totals.user_lists),
            user_trades=sum(totals.user_lists),
            oldest_status_age_s=ages[-1] if ages else None,
            newest_status_age_s=ages[0] if ages else None,
        )
    )


async def user_trade_lists(request: Request) -> Response:
    """One user's trade lists with their lengths, by exchange; empty when none."""
    uid = UID.require(request)
    rows = await read_user_trade_lists(cache_of(request).redis, uid)
    items = [UserTradeListOut(row.exchange, row.length) for row in rows]
    return respond(UserTradeListsOut(uid, items, len(items)))


async def user_trades(request: Request) -> Response:
    """One user's trades on one exchange, newest first, limit at most; read without consuming."""
    uid, exchange, limit = UID.require(request), EXCHANGE.require(request), LIMIT.value(request)
    found = await read_user_trades(cache_of(request).redis, uid, exchange, limit or 100)
    items = [trade_out(trade) for trade in found.trades]
    return respond(UserTradesOut(uid, exchange, items, len(items), found.skipped))


async def symbol_trades(request: Request) -> Response:
    """Public trades of one symbol, newest first, limit at most; absent list is empty."""
    exchange, symbol = EXCHANGE.require(request), SYMBOL.require(request)
    limit = LIMIT.value(request)
    found = await read_trades(cache_of(request).redis, exchange, symbol, limit or 100)
    items = [trade_out(trade) for trade in found.trades]
    return respond(SymbolTradesOut(exchange, symbol, items, len(items), found.skipped))
