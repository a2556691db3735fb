"""Live streams: every cache family as Server-Sent Events, snapshot first, then what changed,
pushed by the stream hub's watchers from Redis's own invalidations (``hub.StreamHub.watch``).

Each stream is the live twin of REST routes: their parameters (but the cursor), their family
and account ids for authorization, and as its snapshot the body they answer (the first page),
read again by their own handlers when a write to what they read is reported (at most once per
``stream_coalesce``). What changed between two reads is worked out once for every listener:

- a list whose items have ids (orders, queues, balances, positions, bots, blocks, openings,
  processes): ``upsert`` with an item as the listing holds it, ``delete`` with its ids;
- a list that grows at its newest end (trades, candles): ``append`` with the new elements in
  the order the listing holds them (a client keeps the newest ``limit``); a candle sent again
  with new values: ``upsert``;
- anything else (a list consumed, new elements past the window): a fresh ``snapshot``.

In a stream of several lists (an account's balances and positions; bots, blocks and openings)
the events name their list: ``balances.upsert``, ``blocks.delete``...
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..context import Ctx
from ..readers import watched
from ..responses import EventStream, encode
from . import orders
from .stream import ENDING, Change, StreamEvents, watched_stream

__all__ = [
    "OrderEvents",
    "QueueEvents",
    "stream_order_queues",
    "stream_orders",
]

Ids = dict[str, str]
"""The data of ``delete``: the fields that name the item, as the listing holds them."""
_ABSENT: Any = object()


# What changed: one ``hub.Diff`` per stream, over its lists --------------------------------------


@dataclass(frozen=True)
class Keyed:
    """A list of the answer whose items have ids (``ids``: the item's fields that make it):
    ``upsert`` an item new or not ``same`` as before, ``delete`` one gone (its ids)."""

    items: Callable[[Any], Sequence[Any] | None]
    ids: tuple[str, ...]
    name: str = ""
    """The list's name in its events (a stream of several lists)."""
    same: Callable[[Any, Any], bool] = operator.eq

    def changes(self, old: Any, new: Any) -> list[Change] | None:
        ident = operator.attrgetter(*self.ids)
        before = {ident(item): item for item in self.items(old) or ()}
        found, kept = [], set()
        for item in self.items(new) or ():
            key = ident(item)
            kept.add(key)
            was = before.get(key, _ABSENT)
            if was is _ABSENT or not self.same(was, item):
                found.append(Change(self._event("upsert"), encode(item)))
        for key, item in before.items():
            if key not in kept:
                ids = {name: getattr(item, name) for name in self.ids}
                found.append(Change(self._event("delete"), encode(ids)))
        return found

    def _event(self, kind: str) -> str:
        return f"{self.name}.{kind}" if self.name else kind


class Lists:
    """The ``hub.Diff`` of a stream: its snapshot (the whole answer), and what changed in each
    of its lists (None from any: a snapshot)."""

    def __init__(self, *lists: Keyed) -> None:
        self.lists = lists

    def snapshot(self, state: Any) -> Change:
        return Change("snapshot", encode(state))

    def weight(self, change: Change) -> int:
        return len(change.data) + 64

    def changes(self, old: Any, new: Any) -> list[Change] | None:
        found: list[Change] = []
        for each in self.lists:
            part = each.changes(old, new)
            if part is None:
                return None
            found += part
        return found


def _items(answer: Any) -> Any:
    return answer.items


ORDERS = Lists(Keyed(_items, ("exchange", "order_id")))
QUEUES = Lists(Keyed(_items, ("name",)))
# The route table's markers -----------------------------------------------------------------------


def _events(snapshot: type, **more: type) -> dict[str, type]:
    return {"snapshot": snapshot, **more, **StreamEvents.events}


KEYED = (
    "then `event: upsert` (`data` an item as the listing holds it, new or changed) and "
    "`event: delete` (`data` the ids of an item gone: {ids}); "
)


class OrderEvents(StreamEvents):
    description: ClassVar[str] = (
        "`text/event-stream`: `event: snapshot` first, whose `data` is the body `/orders` "
        "answers (`/orders/{exchange}` with `?exchange`; its first page), "
        + KEYED.format(ids='`{"exchange", "order_id"}`')
        + ENDING
    )
    events: ClassVar[dict[str, type]] = _events(
        orders.OrdersOut, upsert=orders.OrderOut, delete=Ids
    )


class QueueEvents(StreamEvents):
    description: ClassVar[str] = (
        "`text/event-stream`: `event: snapshot` first, whose `data` is the body "
        "`/orders/queues` answers (its first page), " + KEYED.format(ids='`{"name"}`') + ENDING
    )
    events: ClassVar[dict[str, type]] = _events(
        orders.QueuesOut, upsert=orders.QueueOut, delete=Ids
    )


# The streams -----------------------------------------------------------------------------------


async def stream_orders(
    ctx: Ctx,
    exchange: str | None,
    status: str | None,
    symbol: str | None,
    bot_id: str | None,
    uid: str | None,
    limit: int,
) -> EventStream:
    """Orders as Server-Sent Events: a snapshot (`/orders`), then `upsert` and `delete`.

    With `?exchange` the snapshot is `/orders/{exchange}`'s. The REST filters apply: an order
    that leaves them (`?status=open` and it filled) is a `delete`. Pushed within the
    coalescing window of a write to the orders read."""
    live = ctx.lasting()
    read = (
        functools.partial(orders.all_orders, live, status, symbol, bot_id, uid, limit, None)
        if exchange is None
        else functools.partial(
            orders.exchange_orders, live, exchange, status, symbol, bot_id, uid, limit, None
        )
    )
    key = ("/stream/orders", exchange, status, symbol, bot_id, uid, limit)
    return await watched_stream(ctx, key, read, watched.orders(exchange), ORDERS)


async def stream_order_queues(ctx: Ctx, limit: int) -> EventStream:
    """Order queues as Server-Sent Events: a snapshot (`/orders/queues`), then their lengths.

    `upsert` a queue whose length changed, `delete` one emptied (Redis deletes an empty list)."""
    read = functools.partial(orders.queues, ctx.lasting(), limit, None)
    key = ("/stream/orders/queues", limit)
    return await watched_stream(ctx, key, read, watched.order_queues(), QUEUES)
