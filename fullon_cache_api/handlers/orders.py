"""Orders endpoints."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ..cache.orders import (
    Id,
    Orders,
    StoredOrder,
    read_all_orders,
    read_exchange_orders,
    read_order,
    read_queue,
    read_queues,
)
from ..params import (
    BOT_ID_FILTER,
    EXCHANGE,
    LIMIT,
    ORDER_ID,
    QUEUE_NAME,
    STATUS_FILTER,
    SYMBOL_FILTER,
    UID_FILTER,
)
from ..responses import respond
from ..times import parse_time
from . import cache_of


class OrderOut(msgspec.Struct, frozen=True):
    order_id: str
    ex_order_id: Id
    exchange: str
    symbol: str | None
    side: str | None
    order_type: str | None
    status: str | None
    volume: float | None
    final_volume: float | None
    price: float | None
    plimit: float | None
    bot_id: Id
    uid: Id
    ex_id: Id
    cat_ex_id: Id
    command: str | None
    reason: str | None
    futures: bool | None
    leverage: float | None
    tick: float | None
    updated_at: str | None


class OrdersOut(msgspec.Struct, frozen=True, omit_defaults=True):
    items: list[OrderOut]
    count: int
    skipped: int = 0


class ExchangeOrdersOut(msgspec.Struct, frozen=True, omit_defaults=True):
    exchange: str
    items: list[OrderOut]
    count: int
    skipped: int = 0


class QueueOut(msgspec.Struct, frozen=True):
    name: str
    length: int


class QueuesOut(msgspec.Struct, frozen=True):
    items: list[QueueOut]
    count: int


class QueueHeadOut(msgspec.Struct, frozen=True):
    name: str
    length: int
    head: list[str]


def order_out(exchange: str, order_id: str, order: StoredOrder) -> OrderOut:
    """The hash field is the order id and the key the exchange, whatever the JSON says."""
    return OrderOut(
        order_id=order_id,
        ex_order_id=order.ex_order_id,
        exchange=exchange,
        symbol=order.symbol,
        side=order.side,
        order_type=order.order_type,
        status=order.status,
        volume=order.volume,
        final_volume=order.final_volume,
        price=order.price,
        plimit=order.plimit,
        bot_id=order.bot_id,
        uid=order.uid,
        ex_id=order.ex_id,
        cat_ex_id=order.cat_ex_id,
        command=order.command,
        reason=order.reason,
        futures=order.futures,
        leverage=order.leverage,
        tick=order.tick,
        updated_at=parse_time(order.timestamp),
    )


def id_text(value: Id) -> str | None:
    """A stored id as the digits a client filters by (41, 41.0 and "41" all give "41")."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return None if value is None else str(value)


@dataclass(frozen=True)
class OrderFilter:
    """The ``?status ?symbol ?bot_id ?uid ?limit`` of an orders listing."""

    status: str | None
    symbol: str | None
    bot_id: str | None
    uid: str | None
    limit: int

    @classmethod
    def of(cls, request: Request) -> OrderFilter:
        return cls(
            STATUS_FILTER.get(request),
            SYMBOL_FILTER.get(request),
            BOT_ID_FILTER.get(request),
            UID_FILTER.get(request),
            LIMIT.value(request),
        )

    def keeps(self, order: StoredOrder) -> bool:
        return (
            (self.status is None or order.status == self.status)
            and (self.symbol is None or order.symbol == self.symbol)
            and (self.bot_id is None or id_text(order.bot_id) == self.bot_id)
            and (self.uid is None or id_text(order.uid) == self.uid)
        )

    def select(self, groups: list[Orders]) -> list[OrderOut]:
        """The kept orders in group order (exchange, then order id), ``limit`` at most."""
        items: list[OrderOut] = []
        for group in groups:
            for order_id, order in group.orders:
                if self.keeps(order):
                    items.append(order_out(group.exchange, order_id, order))
                    if len(items) == self.limit:
                        return items
        return items


async def all_orders(request: Request) -> Response:
    """Orders on all exchanges, by exchange then order id; status, symbol, bot_id, uid filters."""
    select = OrderFilter.of(request)
    groups = await read_all_orders(cache_of(request).redis)
    items = select.select(groups)
    return respond(OrdersOut(items, len(items), sum(group.skipped for group in groups)))


async def exchange_orders(request: Request) -> Response:
    """One exchange's orders (or a numeric ex_id's); an absent hash is an empty list."""
    exchange, select = EXCHANGE.require(request), OrderFilter.of(request)
    group = await read_exchange_orders(cache_of(request).redis, exchange)
    items = select.select([group])
    return respond(ExchangeOrdersOut(exchange, items, len(items), group.skipped))


async def order(request: Request) -> Response:
    """One order by its id (the hash field); 404 when missing."""
    exchange, order_id = EXCHANGE.require(request), ORDER_ID.require(request)
    stored = await read_order(cache_of(request).redis, exchange, order_id)
    return respond(order_out(exchange, order_id, stored))


async def queues(request: Request) -> Response:
    """Every new_orders queue with its length, by name."""
    rows = await read_queues(cache_of(request).redis)
    items = [QueueOut(name, length) for name, length in rows]
    return respond(QueuesOut(items, len(items)))


async def queue(request: Request) -> Response:
    """One new_orders queue: its length and first ids up to limit, read without consuming."""
    name, limit = QUEUE_NAME.require(request), LIMIT.value(request)
    found = await read_queue(cache_of(request).redis, name, limit)
    return respond(QueueHeadOut(found.name, found.length, found.head))
