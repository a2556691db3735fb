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

import asyncio
import functools
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import msgspec

from ..answers import BalanceOut, ProcessOut
from ..context import Ctx
from ..errors import NotFound
from ..readers import watched
from ..readers.ohlcv import Bar
from ..responses import EventStream, encode
from . import accounts, ohlcv, orders, processes, trades
from .bots import BlockOut, BotOut, BotsOut, CoordinationOut, OpeningOut, bots, coordination
from .stream import ENDING, Change, StreamEvents, watched_stream

__all__ = [
    "AccountEvents",
    "BotEvents",
    "OhlcvEvents",
    "OrderEvents",
    "ProcessEvents",
    "QueueEvents",
    "TradeEvents",
    "stream_account",
    "stream_bots",
    "stream_ohlcv",
    "stream_order_queues",
    "stream_orders",
    "stream_processes",
    "stream_trades",
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


@dataclass(frozen=True)
class Appended:
    """A list, newest first, that grows at its newest end (trades): ``append`` the elements
    before the newest one seen, when what follows them is what was seen (the window moved);
    else (the list consumed, more new ones than the window) None: a snapshot."""

    items: Callable[[Any], Sequence[Any]]

    def changes(self, old: Any, new: Any) -> list[Change] | None:
        before, after = list(self.items(old)), list(self.items(new))
        if len(after) < len(before):
            return None
        fresh = after if not before else None
        for index, item in enumerate(after if before else ()):
            if item == before[0] and after[index:] == before[: len(after) - index]:
                fresh = after[:index]
                break
        if fresh is None:
            return None
        return [Change("append", encode(fresh))] if fresh else []


@dataclass(frozen=True)
class Candles:
    """Bars ascending by time (one per time): ``append`` those after the last one seen,
    ``upsert`` one sent again with new values; else (a bar gone within the window, or a new
    one before the last) None: a snapshot."""

    def changes(self, old: ohlcv.BarsOut, new: ohlcv.BarsOut) -> list[Change] | None:
        if len(new.bars) < len(old.bars):
            return None
        before = {bar[0]: bar for bar in old.bars}
        last = old.bars[-1][0] if old.bars else None
        fresh: list[Bar] = []
        changed = []
        for bar in new.bars:
            was = before.pop(bar[0], None)
            if was is None:
                if last is not None and bar[0] <= last:
                    return None
                fresh.append(bar)
            elif was != bar:
                changed.append(Change("upsert", encode(bar)))
        if new.bars and any(time >= new.bars[0][0] for time in before):
            return None  # a bar gone from within the window
        return changed + ([Change("append", encode(fresh))] if fresh else [])


class Lists:
    """The ``hub.Diff`` of a stream: its snapshot (the whole answer), and what changed in each
    of its lists (None from any: a snapshot)."""

    def __init__(self, *lists: Keyed | Appended | Candles) -> None:
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


def _same_process(a: ProcessOut, b: ProcessOut) -> bool:
    """Equal but for the heartbeat's age (it grows with the clock; ``stale`` tells the rest)."""
    return msgspec.structs.replace(a, heartbeat_age_s=None) == msgspec.structs.replace(
        b, heartbeat_age_s=None
    )


ORDERS = Lists(Keyed(_items, ("exchange", "order_id")))
QUEUES = Lists(Keyed(_items, ("name",)))
ACCOUNT = Lists(
    Keyed(lambda a: a.balances and a.balances.items, ("currency",), "balances"),
    Keyed(lambda a: a.positions and a.positions.items, ("symbol",), "positions"),
)
BOTS = Lists(
    Keyed(lambda b: b.bots.items, ("bot_id",), "bots"),
    Keyed(lambda b: b.coordination.blocks, ("ex_id", "symbol"), "blocks"),
    Keyed(lambda b: b.coordination.openings, ("ex_id", "symbol"), "openings"),
)
PROCESSES = Lists(Keyed(_items, ("process_id",), same=_same_process))
TRADES = Lists(Appended(_items))
CANDLES = Lists(Candles())


# The answers of the streams of several lists ---------------------------------------------------


class AccountLiveOut(msgspec.Struct, frozen=True):
    """An account's balances and positions: what ``/accounts/{ex_id}/balances`` and
    ``/positions`` answer (null for what they answer 404)."""

    ex_id: str
    balances: accounts.BalancesOut | None
    positions: accounts.PositionsOut | None


class BotsLiveOut(msgspec.Struct, frozen=True):
    """What ``/bots`` and ``/bots/coordination`` answer."""

    bots: BotsOut
    coordination: CoordinationOut


async def _or_none(read: Any) -> Any:
    try:
        return await read
    except NotFound:
        return None


async def _account(ctx: Ctx, ex_id: str) -> AccountLiveOut:
    balances, positions = await asyncio.gather(
        _or_none(accounts.balances(ctx, ex_id)), _or_none(accounts.positions(ctx, ex_id))
    )
    return AccountLiveOut(ex_id, balances, positions)


async def _bots(ctx: Ctx, limit: int) -> BotsLiveOut:
    found, marks = await asyncio.gather(bots(ctx, limit, None), coordination(ctx))
    return BotsLiveOut(found, marks)


# The route table's markers -----------------------------------------------------------------------


def _events(snapshot: type, **more: Any) -> dict[str, type]:
    """A stream's events by name: its snapshot's type, ``more``, the end and the error."""
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


class AccountEvents(StreamEvents):
    description: ClassVar[str] = (
        "`text/event-stream`: `event: snapshot` first, whose `data` is "
        '`{"ex_id", "balances", "positions"}`: the bodies `/accounts/{ex_id}/balances` and '
        "`/accounts/{ex_id}/positions` answer (null for a 404), then `balances.upsert`, "
        '`balances.delete` (`{"currency"}`), `positions.upsert` and `positions.delete` '
        '(`{"symbol"}`) events, each `upsert` an item as the listing holds it. ' + ENDING
    )
    events: ClassVar[dict[str, type]] = {
        "snapshot": AccountLiveOut,
        "balances.upsert": BalanceOut,
        "balances.delete": Ids,
        "positions.upsert": accounts.PositionOut,
        "positions.delete": Ids,
        **StreamEvents.events,
    }


class BotEvents(StreamEvents):
    description: ClassVar[str] = (
        "`text/event-stream`: `event: snapshot` first, whose `data` is "
        '`{"bots", "coordination"}`: the bodies `/bots` (its first page) and '
        '`/bots/coordination` answer, then `bots.upsert`, `bots.delete` (`{"bot_id"}`), '
        "`blocks.upsert`, `blocks.delete`, `openings.upsert` and `openings.delete` "
        '(`{"ex_id", "symbol"}`) events, each `upsert` an item as its listing holds it. ' + ENDING
    )
    events: ClassVar[dict[str, type]] = {
        "snapshot": BotsLiveOut,
        "bots.upsert": BotOut,
        "bots.delete": Ids,
        "blocks.upsert": BlockOut,
        "blocks.delete": Ids,
        "openings.upsert": OpeningOut,
        "openings.delete": Ids,
        **StreamEvents.events,
    }


class ProcessEvents(StreamEvents):
    description: ClassVar[str] = (
        "`text/event-stream`: `event: snapshot` first, whose `data` is the body `/processes` "
        "answers (its first page), "
        + KEYED.format(ids='`{"process_id"}`')
        + "a process is upserted when anything but its heartbeat's age changed (its `stale` "
        "included: read every poll interval too). " + ENDING
    )
    events: ClassVar[dict[str, type]] = _events(
        processes.ProcessesOut, upsert=ProcessOut, delete=Ids
    )


class TradeEvents(StreamEvents):
    description: ClassVar[str] = (
        "`text/event-stream`: `event: snapshot` first, whose `data` is the body "
        "`/trades/{exchange}/{symbol}` answers (its first page), then `event: append` whose "
        "`data` is the new trades, newest first (keep the newest `limit`); a fresh snapshot "
        "when the list was consumed or more came than `limit`. " + ENDING
    )
    events: ClassVar[dict[str, type]] = _events(
        trades.SymbolTradesOut, append=list[trades.TradeOut]
    )


class OhlcvEvents(StreamEvents):
    description: ClassVar[str] = (
        "`text/event-stream`: `event: snapshot` first, whose `data` is the body "
        "`/ohlcv/{symbol}/{timeframe}` answers, then `event: append` whose `data` is the new "
        "bars, ascending (keep the newest `limit`), and `event: upsert` whose `data` is a bar "
        "sent again with new values (same time). " + ENDING
    )
    events: ClassVar[dict[str, type]] = _events(ohlcv.BarsOut, append=list[Bar], upsert=Bar)


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
    return await watched_stream(ctx, key, read, watched.orders_watch(exchange), ORDERS)


async def stream_order_queues(ctx: Ctx, limit: int) -> EventStream:
    """Order queues as Server-Sent Events: a snapshot (`/orders/queues`), then their lengths.

    `upsert` a queue whose length changed, `delete` one emptied (Redis deletes an empty list)."""
    read = functools.partial(orders.queues, ctx.lasting(), limit, None)
    key = ("/stream/orders/queues", limit)
    return await watched_stream(ctx, key, read, watched.order_queues_watch(), QUEUES)


async def stream_account(ctx: Ctx, ex_id: str) -> EventStream:
    """An account's balances and positions as Server-Sent Events: a snapshot, then each change.

    The snapshot holds what `/accounts/{ex_id}/balances` and `/positions` answer (null for a
    404); then `balances.upsert`, `balances.delete`, `positions.upsert`, `positions.delete`."""
    read = functools.partial(_account, ctx.lasting(), ex_id)
    key = ("/stream/accounts/{ex_id}", ex_id)
    return await watched_stream(ctx, key, read, watched.account_watch(), ACCOUNT)


async def stream_bots(ctx: Ctx, limit: int) -> EventStream:
    """Bots, blocks and openings as Server-Sent Events: a snapshot, then each change.

    The snapshot holds what `/bots` (its first page) and `/bots/coordination` answer; then
    `bots.`, `blocks.` and `openings.` `upsert` and `delete` events."""
    read = functools.partial(_bots, ctx.lasting(), limit)
    key = ("/stream/bots", limit)
    return await watched_stream(ctx, key, read, watched.bots_watch(), BOTS)


async def stream_processes(
    ctx: Ctx,
    type: str | None,
    component: str | None,
    status: str | None,
    since_minutes: float,
    stale_after: float,
    limit: int,
) -> EventStream:
    """Processes as Server-Sent Events: a snapshot (`/processes`), then `upsert` and `delete`.

    The REST filters apply. A process leaving the `since_minutes` window is a `delete`, one
    going stale an `upsert`: the clock changes them too, so this stream is also read every
    poll interval (through the local cache: an unchanged read costs Redis nothing)."""
    read = functools.partial(
        processes.processes,
        ctx.lasting(),
        type,
        component,
        status,
        since_minutes,
        stale_after,
        limit,
        None,
    )
    key = ("/stream/processes", type, component, status, since_minutes, stale_after, limit)
    return await watched_stream(ctx, key, read, watched.processes_watch(), PROCESSES)


async def stream_trades(ctx: Ctx, exchange: str, symbol: str, limit: int) -> EventStream:
    """A symbol's public trades as Server-Sent Events: a snapshot, then `append` of new ones.

    The snapshot is `/trades/{exchange}/{symbol}`'s (newest first); `append` holds the new
    trades, newest first."""
    read = functools.partial(trades.symbol_trades, ctx.lasting(), exchange, symbol, limit, 0)
    key = ("/stream/trades/{exchange}/{symbol}", exchange, symbol, limit)
    return await watched_stream(
        ctx, key, read, watched.symbol_trades_watch(exchange, symbol), TRADES
    )


async def stream_ohlcv(
    ctx: Ctx, symbol: str, timeframe: str, limit: int, since: int | None, until: int | None
) -> EventStream:
    """A series' bars as Server-Sent Events: a snapshot, then `append` and `upsert`.

    The snapshot is `/ohlcv/{symbol}/{timeframe}`'s (404 when the series is absent); `append`
    holds new bars, ascending, `upsert` a bar sent again with new values."""
    read = functools.partial(ohlcv.bars, ctx.lasting(), symbol, timeframe, limit, since, until)
    key = ("/stream/ohlcv/{symbol}/{timeframe}", symbol, timeframe, limit, since, until)
    return await watched_stream(ctx, key, read, watched.series_watch(symbol, timeframe), CANDLES)
