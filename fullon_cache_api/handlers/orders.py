"""Orders: every order's latest state by exchange, and the queues of new orders."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from ..context import Ctx
from ..ids import id_text
from ..params import next_cursor
from ..readers.orders import (
    Orders,
    StoredOrder,
    read_all_orders,
    read_exchange_orders,
    read_order,
    read_queue,
    read_queues,
)
from ..readers.paging import FamilyPosition, HashPosition
from ..times import parse_time


class OrderOut(msgspec.Struct, kw_only=True, frozen=True):
    order_id: str
    ex_order_id: str | None
    exchange: str
    symbol: str | None
    side: str | None
    order_type: str | None
    status: str | None
    volume: float | None
    final_volume: float | None
    price: float | None
    plimit: float | None
    bot_id: str | None
    uid: str | None
    ex_id: str | None
    cat_ex_id: str | None
    command: str | None
    reason: str | None
    futures: bool | None
    leverage: float | None
    tick: float | None
    updated_at: str | None


class OrdersOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    items: list[OrderOut]
    count: int
    skipped: int = 0
    next_cursor: str | None = None


class ExchangeOrdersOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    exchange: str
    items: list[OrderOut]
    count: int
    skipped: int = 0
    next_cursor: str | None = None


class QueueOut(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    length: int


class QueuesOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    items: list[QueueOut]
    count: int
    skipped: int = 0
    next_cursor: str | None = None


class QueueHeadOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    name: str
    length: int
    head: list[str]
    next_cursor: str | None = None


def order_out(exchange: str, order_id: str, order: StoredOrder) -> OrderOut:
    """The hash field is the order id and the key the exchange, whatever the JSON says; ids
    as text (``id_text``)."""
    return OrderOut(
        order_id=order_id,
        ex_order_id=id_text(order.ex_order_id),
        exchange=exchange,
        symbol=order.symbol,
        side=order.side,
        order_type=order.order_type,
        status=order.status,
        volume=order.volume,
        final_volume=order.final_volume,
        price=order.price,
        plimit=order.plimit,
        bot_id=id_text(order.bot_id),
        uid=id_text(order.uid),
        ex_id=id_text(order.ex_id),
        cat_ex_id=id_text(order.cat_ex_id),
        command=order.command,
        reason=order.reason,
        futures=order.futures,
        leverage=order.leverage,
        tick=order.tick,
        updated_at=parse_time(order.timestamp),
    )


@dataclass(frozen=True)
class OrderFilter:
    """The ``?status ?symbol ?bot_id ?uid`` of an orders listing, applied to the answer's
    orders (so ids compare as text: a stored 41, 41.0 or "41" is ``?bot_id=41``)."""

    status: str | None
    symbol: str | None
    bot_id: str | None
    uid: str | None

    def keeps(self, order: OrderOut) -> bool:
        return (
            (self.status is None or order.status == self.status)
            and (self.symbol is None or order.symbol == self.symbol)
            and (self.bot_id is None or order.bot_id == self.bot_id)
            and (self.uid is None or order.uid == self.uid)
        )

    def select(self, groups: list[Orders]) -> list[OrderOut]:
        """The kept orders, in group order (exchange, then order id)."""
        orders = (
            order_out(group.exchange, order_id, order)
            for group in groups
            for order_id, order in group.orders.items
        )
        return [order for order in orders if self.keeps(order)]


async def all_orders(
    ctx: Ctx,
    status: str | None,
    symbol: str | None,
    bot_id: str | None,
    uid: str | None,
    limit: int,
    cursor: FamilyPosition | None,
) -> OrdersOut:
    """Orders on all exchanges, by exchange then order id; status, symbol, bot_id, uid filters.

    `limit` orders are read a page (`next_cursor` when more remain); filters keep some of them,
    so a page may hold fewer."""
    found = await read_all_orders(ctx.source, cursor, limit)
    items = OrderFilter(status, symbol, bot_id, uid).select(found.exchanges)
    return OrdersOut(
        items=items, count=len(items), skipped=found.skipped, next_cursor=next_cursor(found.next)
    )


async def exchange_orders(
    ctx: Ctx,
    exchange: str,
    status: str | None,
    symbol: str | None,
    bot_id: str | None,
    uid: str | None,
    limit: int,
    cursor: HashPosition | None,
) -> ExchangeOrdersOut:
    """One exchange's orders (or a numeric ex_id's); an absent hash is an empty list.

    Paged like /orders."""
    group = await read_exchange_orders(ctx.source, exchange, cursor, limit)
    items = OrderFilter(status, symbol, bot_id, uid).select([group])
    return ExchangeOrdersOut(
        exchange=exchange,
        items=items,
        count=len(items),
        skipped=group.orders.skipped,
        next_cursor=next_cursor(group.next),
    )


async def order(ctx: Ctx, exchange: str, order_id: str) -> OrderOut:
    """One order by its id (the hash field); 404 when missing."""
    return order_out(exchange, order_id, await read_order(ctx.source, exchange, order_id))


async def queues(ctx: Ctx, limit: int, cursor: str | None) -> QueuesOut:
    """Every new_orders queue with its length, by name; up to `limit` a page."""
    found = await read_queues(ctx.source, cursor, limit)
    items = [QueueOut(name=name, length=length) for name, length in found.queues]
    return QueuesOut(
        items=items, count=len(items), skipped=found.skipped, next_cursor=next_cursor(found.after)
    )


async def queue(ctx: Ctx, name: str, limit: int, cursor: int) -> QueueHeadOut:
    """One new_orders queue: its length and first ids up to limit, read without consuming.

    `next_cursor` pages further down the queue."""
    found = await read_queue(ctx.source, name, cursor, limit)
    return QueueHeadOut(
        name=found.name, length=found.length, head=found.head, next_cursor=next_cursor(found.next)
    )
