"""Orders: ``order_status:{exchange}`` hashes (field = order id, value = JSON order) and the
``new_orders:{name}`` queues of raw exchange order ids.

Order hashes expire (saving a canceled order puts a TTL on the whole hash), so an absent hash is
an empty answer, never a 404. Queues are consumed by BLPOP elsewhere: they are only read here
(LLEN, LRANGE), never popped.
"""

from __future__ import annotations

import msgspec

from .. import keys
from .base import Decoded, Lenient, Source, decode_all, one, text

__all__ = [
    "ORDER",
    "Id",
    "Orders",
    "Queue",
    "StoredOrder",
    "count_orders",
    "read_all_orders",
    "read_exchange_orders",
    "read_order",
    "read_queue",
    "read_queues",
]

Id = int | float | str | None
"""An identifier inside a stored payload: kept as stored (number or string)."""


class StoredOrder(msgspec.Struct, frozen=True):
    """An order as fullon_cache stores it. Its ``order_id`` is ignored: the hash field names the
    order, and the key names the exchange."""

    ex_order_id: Id = None
    symbol: str | None = None
    side: str | None = None
    order_type: str | None = None
    status: str | None = None
    volume: float | None = None
    final_volume: float | None = None
    price: float | None = None
    plimit: float | None = None
    bot_id: Id = None
    uid: Id = None
    ex_id: Id = None
    cat_ex_id: Id = None
    command: str | None = None
    reason: str | None = None
    futures: bool | None = None
    leverage: float | None = None
    tick: float | None = None
    timestamp: float | str | None = None


ORDER = Lenient(StoredOrder)


class Orders(msgspec.Struct):
    """One ``order_status`` hash decoded, by order id."""

    exchange: str
    orders: Decoded[StoredOrder]


def _orders(exchange: str, fields: dict[str, bytes | str]) -> Orders:
    return Orders(exchange, decode_all(ORDER, keys.orders_key(exchange), sorted(fields.items())))


async def read_order(src: Source, exchange: str, order_id: str) -> StoredOrder:
    raw = await src.hget(keys.orders_key(exchange), order_id)
    return one(ORDER, raw, f"order {order_id} on {exchange}")


async def count_orders(src: Source, exchange: str) -> int:
    """How many orders one exchange's hash holds (HLEN), corrupt ones included; 0 when absent."""
    count: int = await src.command("HLEN", keys.orders_key(exchange))
    return count


async def read_exchange_orders(src: Source, exchange: str) -> Orders:
    """One exchange's orders (one HGETALL); an absent hash (expired) is no orders."""
    return _orders(exchange, await src.hgetall(keys.orders_key(exchange)))


class AllOrders(msgspec.Struct):
    exchanges: list[Orders]
    skipped: int


async def read_all_orders(src: Source) -> AllOrders:
    """Every ``order_status`` hash (exchange names and numeric ex_ids alike), by key: one SCAN
    loop and one pipeline of HGETALL. A hash that expired between the two reads as no orders."""
    found = await src.family(keys.ORDERS_PATTERN, keys.exchange_of_orders_key, ("HGETALL",))
    groups = [
        _orders(m.parsed, {text(name): raw for name, raw in m.replies[0].items()})
        for m in found.members
    ]
    return AllOrders(groups, found.skipped + sum(g.orders.skipped for g in groups))


class Queue(msgspec.Struct):
    name: str
    length: int
    head: list[str]


class Queues(msgspec.Struct):
    queues: list[tuple[str, int]]
    """(name, length) by name."""
    skipped: int


async def read_queues(src: Source) -> Queues:
    """(name, length) of every ``new_orders`` list: one SCAN loop, one pipeline of LLEN."""
    found = await src.family(keys.QUEUES_PATTERN, keys.name_of_queue_key, ("LLEN",))
    return Queues([(m.parsed, int(m.replies[0])) for m in found.members], found.skipped)


async def read_queue(src: Source, name: str, limit: int) -> Queue:
    """A queue's length and its first ``limit`` ids (LLEN + LRANGE in one pipeline), without
    consuming it. An absent list is an empty queue."""
    key = keys.queue_key(name)
    length, head = await src.pipeline([("LLEN", key), ("LRANGE", key, 0, limit - 1)])
    return Queue(name, int(length), [text(item) for item in head])
