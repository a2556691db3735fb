"""Orders: ``order_status:{exchange}`` hashes (field = order id, value = JSON order) and the
``new_orders:{name}`` queues of raw exchange order ids.

Order hashes expire (saving a canceled order puts a TTL on the whole hash), so an absent hash is
an empty answer, never a 404. Queues are consumed by BLPOP elsewhere: they are only read here
(LLEN, LRANGE), never popped.
"""

from __future__ import annotations

import msgspec
from redis.asyncio import Redis

from .. import keys
from ..errors import BadCacheValue, NotFound
from . import CorruptValue, Lenient, decode_many, scan_keys, text

__all__ = [
    "Id",
    "Orders",
    "Queue",
    "StoredOrder",
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
    """One ``order_status`` hash decoded: (order id, order) pairs sorted by order id, and how
    many stored values were corrupt."""

    exchange: str
    orders: list[tuple[str, StoredOrder]]
    skipped: int = 0


class Queue(msgspec.Struct):
    name: str
    length: int
    head: list[str]


def _orders(exchange: str, fields: dict[bytes | str, bytes | str]) -> Orders:
    key = keys.orders_key(exchange)
    pairs, skipped = decode_many(ORDER, key, ((text(f), raw) for f, raw in fields.items()))
    pairs.sort(key=lambda pair: pair[0])
    return Orders(exchange, pairs, skipped)


async def read_order(redis: Redis, exchange: str, order_id: str) -> StoredOrder:
    raw: bytes | str | None = await redis.hget(keys.orders_key(exchange), order_id)
    if raw is None:
        raise NotFound(f"no order {order_id} on {exchange}")
    try:
        return ORDER.decode(raw)
    except CorruptValue:
        raise BadCacheValue(f"the stored order {order_id} on {exchange} is corrupt") from None


async def read_exchange_orders(redis: Redis, exchange: str) -> Orders:
    """One exchange's orders (one HGETALL); an absent hash (expired) is no orders."""
    fields: dict[bytes | str, bytes | str] = await redis.hgetall(keys.orders_key(exchange))
    return _orders(exchange, fields)


async def read_all_orders(redis: Redis) -> list[Orders]:
    """Every ``order_status`` hash (exchange names and numeric ex_ids alike), sorted by key: one
    SCAN loop and one pipeline of HGETALL."""
    exchanges = [
        exchange
        for key in await scan_keys(redis, keys.ORDERS_PATTERN)
        if (exchange := keys.exchange_of_orders_key(key)) is not None
    ]
    if not exchanges:
        return []
    pipe = redis.pipeline(transaction=False)
    for exchange in exchanges:
        pipe.hgetall(keys.orders_key(exchange))
    results = await pipe.execute()
    # A hash that expired between SCAN and HGETALL reads as {}: no orders, like an absent one.
    return [_orders(exchange, fields) for exchange, fields in zip(exchanges, results, strict=True)]


async def read_queues(redis: Redis) -> list[tuple[str, int]]:
    """(name, length) of every ``new_orders`` list, by name: one SCAN loop, one pipeline of LLEN."""
    names = [
        name
        for key in await scan_keys(redis, keys.QUEUES_PATTERN)
        if (name := keys.name_of_queue_key(key)) is not None
    ]
    if not names:
        return []
    pipe = redis.pipeline(transaction=False)
    for name in names:
        pipe.llen(keys.queue_key(name))
    lengths: list[int] = await pipe.execute()
    return list(zip(names, lengths, strict=True))


async def read_queue(redis: Redis, name: str, limit: int) -> Queue:
    """A queue's length and its first ``limit`` ids (LLEN + LRANGE in one pipeline), without
    consuming it. An absent list is an empty queue."""
    key = keys.queue_key(name)
    pipe = redis.pipeline(transaction=False)
    pipe.llen(key)
    pipe.lrange(key, 0, limit - 1)
    length, head = await pipe.execute()
    return Queue(name, int(length), [text(item) for item in head])
