"""Orders: ``order_status:{exchange}`` hashes (field = order id, value = JSON order) and the
``new_orders:{name}`` queues of raw exchange order ids.

Order hashes expire (saving a canceled order puts a TTL on the whole hash), so an absent hash is
an empty answer, never a 404. Queues are consumed by BLPOP elsewhere: they are only read here
(LLEN, LRANGE), never popped.
"""

from __future__ import annotations

import msgspec

from .. import keys
from ..ids import StoredId
from ..keys import text
from .base import Decoded, Lenient, decode_all, one
from .paging import FamilyPosition, HashPage, HashPosition, hash_page, hashes_page
from .source import Source

__all__ = [
    "ORDER",
    "Orders",
    "Queue",
    "StoredId",
    "StoredOrder",
    "count_orders",
    "read_all_orders",
    "read_exchange_orders",
    "read_order",
    "read_queue",
    "read_queues",
]


class StoredOrder(msgspec.Struct, frozen=True):
    """An order as fullon_cache stores it. Its ``order_id`` is ignored: the hash field names the
    order, and the key names the exchange."""

    ex_order_id: StoredId = None
    symbol: str | None = None
    side: str | None = None
    order_type: str | None = None
    status: str | None = None
    volume: float | None = None
    final_volume: float | None = None
    price: float | None = None
    plimit: float | None = None
    bot_id: StoredId = None
    uid: StoredId = None
    ex_id: StoredId = None
    cat_ex_id: StoredId = None
    command: str | None = None
    reason: str | None = None
    futures: bool | None = None
    leverage: float | None = None
    tick: float | None = None
    timestamp: float | str | None = None


ORDER = Lenient(StoredOrder)


class Orders(msgspec.Struct, kw_only=True):
    """A page of one ``order_status`` hash decoded, by order id, and where its next page starts."""

    exchange: str
    orders: Decoded[StoredOrder]
    next: HashPosition | None = None


def _orders(exchange: str, page: HashPage) -> Orders:
    decoded = decode_all(ORDER, keys.orders_key(exchange), page.fields)
    return Orders(exchange=exchange, orders=decoded, next=page.next)


async def read_order(src: Source, exchange: str, order_id: str) -> StoredOrder:
    raw = await src.hget(keys.orders_key(exchange), order_id)
    return one(ORDER, raw, f"order {order_id} on {exchange}")


async def count_orders(src: Source, exchange: str) -> int:
    """How many orders one exchange's hash holds (HLEN), corrupt ones included; 0 when absent."""
    count: int = await src.command("HLEN", keys.orders_key(exchange))
    return count


async def read_exchange_orders(
    src: Source, exchange: str, position: HashPosition | None, limit: int
) -> Orders:
    """A page of one exchange's orders (see ``Source.hash_page``); an absent hash (expired) is
    no orders."""
    return _orders(exchange, await hash_page(src, keys.orders_key(exchange), position, limit))


class AllOrders(msgspec.Struct, kw_only=True):
    exchanges: list[Orders]
    skipped: int
    next: FamilyPosition | None = None


async def read_all_orders(src: Source, position: FamilyPosition | None, limit: int) -> AllOrders:
    """A page of every ``order_status`` hash (exchange names and numeric ex_ids alike), by key
    then order id (see ``Source.hashes_page``)."""
    exchanges = await src.family_keys(keys.ORDERS.key, keys.ORDERS.parse)
    found = await hashes_page(src, exchanges, position, limit)
    groups = [_orders(exchange, page) for exchange, _, page in found.pages]
    return AllOrders(
        exchanges=groups,
        skipped=found.skipped + sum(g.orders.skipped for g in groups),
        next=found.next,
    )


class Queue(msgspec.Struct, kw_only=True):
    name: str
    length: int
    head: list[str]
    next: int | None
    """The offset of the next page of the queue's head (None: no more)."""


class Queues(msgspec.Struct, kw_only=True):
    queues: list[tuple[str, int]]
    """(name, length) by name."""
    skipped: int
    after: str | None


async def read_queues(src: Source, after: str | None, limit: int) -> Queues:
    """A page of (name, length) of the ``new_orders`` lists, by name: a pipeline
    of LLEN."""
    found = await src.family(
        keys.ORDER_QUEUES.key, keys.ORDER_QUEUES.parse, ("LLEN",), after=after, limit=limit
    )
    pairs = [(m.parsed, int(m.replies[0])) for m in found.members]
    return Queues(queues=pairs, skipped=found.skipped, after=found.after)


async def read_queue(src: Source, name: str, offset: int, limit: int) -> Queue:
    """A queue's length and ``limit`` ids from ``offset`` (LLEN + LRANGE in one pipeline),
    without consuming it. An absent list is an empty queue."""
    key = keys.queue_key(name)
    length, head = await src.pipeline([("LLEN", key), ("LRANGE", key, offset, offset + limit - 1)])
    following = offset + limit if offset + limit < int(length) else None
    return Queue(name=name, length=int(length), head=[text(item) for item in head], next=following)
