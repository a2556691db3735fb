"""``/ws/orders/{connection_id}``: one order's status, and how many orders an exchange's hash
holds (v0.2.6 called that count the queue length, and so does this socket)."""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

from ..actions import Action, TextArg
from ..context import Ctx
from ..ids import StoredId
from ..params import IdKind
from ..readers import watched
from ..readers.orders import count_orders, read_order
from ..times import to_epoch
from .streams import Polled

__all__ = ["ACTIONS"]


class OrderRecord(msgspec.Struct, kw_only=True, frozen=True):
    order_id: StoredId
    """The exchange's order id, as stored."""
    symbol: str | None
    exchange: str
    side: str | None
    amount: float | None
    price: float | None
    filled: float
    """The final volume, 0.0 while none is stored."""
    remaining: float | None
    status: str | None
    order_type: str | None
    timestamp: float | None
    """When fullon_cache last saved the order."""
    last_update: float | None


class QueueRecord(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """The count of an exchange's orders; a stream message's also holds its ``stream_key``."""

    stream_key: str | UnsetType = UNSET
    exchange: str
    queue_length: int
    timestamp: float


async def get_order_status(ctx: Ctx, exchange: str, order_id: str) -> OrderRecord:
    """One order by its id, the field of the exchange's order hash (HGET)."""
    order = await read_order(ctx.source, exchange, order_id)
    filled = order.final_volume or 0.0
    volume = order.volume
    saved = to_epoch(order.timestamp)
    return OrderRecord(
        order_id=order.ex_order_id,
        symbol=order.symbol,
        exchange=exchange,
        side=order.side,
        amount=volume,
        price=order.price,
        filled=filled,
        remaining=None if volume is None else max(volume - filled, 0.0),
        status=order.status,
        order_type=order.order_type,
        timestamp=saved,
        last_update=saved,
    )


async def get_queue_length(ctx: Ctx, exchange: str) -> QueueRecord:
    """How many orders the exchange's hash holds (HLEN)."""
    count = await count_orders(ctx.source, exchange)
    return QueueRecord(exchange=exchange, queue_length=count, timestamp=ctx.now())


async def stream_order_queue(ctx: Ctx, exchange: str) -> Polled[int]:
    """The exchange's order count at once, then whenever it changes."""

    def updates(previous: int | None, count: int, key: str) -> list[QueueRecord]:
        now = ctx.now()
        return [QueueRecord(stream_key=key, exchange=exchange, queue_length=count, timestamp=now)]

    return Polled(
        f"Streaming started for {exchange}",
        ("order_count", exchange),
        lambda: count_orders(ctx.source, exchange),
        updates,
        watched.orders_watch(exchange),
    )


EXCHANGE = TextArg("exchange", id_kind=IdKind.EX_ID_IF_DIGITS)
EXCHANGE_MISSING = "exchange parameter required"

ACTIONS = (
    Action(
        "get_order_status",
        get_order_status,
        (EXCHANGE, TextArg("order_id")),
        missing="exchange and order_id parameters required",
        failure="Failed to retrieve order status",
        not_found=("ORDER_NOT_FOUND", "Order {order_id} not found"),
    ),
    Action(
        "get_queue_length",
        get_queue_length,
        (EXCHANGE,),
        missing=EXCHANGE_MISSING,
        failure="Failed to retrieve queue length",
    ),
    Action(
        "stream_order_queue",
        stream_order_queue,
        (EXCHANGE,),
        missing=EXCHANGE_MISSING,
        failure="Failed to start queue stream",
        update="queue_update",
    ),
)
