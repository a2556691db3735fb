"""Streams: Server-Sent Events pushed from the stream hub: ticks (read from the tickers hashes,
or publications), and the changes of what the hub's watchers read (``live``).

Every slot belongs to a live client. A stream holds one of the process's ``max_streams`` slots
and one of its client address's ``max_streams_per_client``, both given back when it ends, on
every path. A server may never report that the client went (hypercorn stops reading a
connection that holds a pipelined byte after the request, so it never sees the close): an idle
stream therefore writes a probe (an empty comment) every second, and the write that fails on
the closed connection ends the stream. A client that reads too slowly is not buffered without
end: beyond ``stream_queue`` updates or ``stream_queue_bytes`` it gets only the newest update of
each symbol, and if even those exceed ``stream_queue_bytes`` the stream ends with ``event: end``
(reason ``slow_client``); a write the client does not take within ``client_send_timeout`` ends
it too. Both are counted in /metrics
(``fullon_cache_api_clients_ended``).

Every event carries an ``id:``, a counter of the process (it grows by one an event, across its
streams), so that EventSource and ``fullon_cache_api.client`` send it back as
``Last-Event-ID`` when they reconnect. A stream is state, not history: its first event is
``event: snapshot`` (the body its REST twin answers), and a reconnecting client gets a fresh
one marked ``"resumed": true`` (the current state supersedes what it missed); its first
comment, ``: subscribed after <id>``, says that its ``Last-Event-ID`` was seen.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, NamedTuple

import msgspec
from redis.exceptions import RedisError
from starlette.types import Message, Receive, Scope, Send

from ..context import Ctx
from ..errors import CacheUnavailable, ErrorOut, NotFound, TooManyStreams, from_redis
from ..hub import Diff, HubClosed, Listener, SlowClient, Watch
from ..metrics import CLIENTS_ENDED
from ..openapi import error_response
from ..params import PAGE
from ..readers.tickers import published_ticks
from ..readers.watched import ticker_feed
from ..responses import EventStream, Reply, encode, sse_comment, sse_data, sse_event
from ..routing import Raw
from .tickers import (
    ExchangeTickersOut,
    TickerOut,
    TickersOut,
    all_tickers,
    exchange_tickers,
    ticker_out,
)

__all__ = [
    "Change",
    "ClientStream",
    "StreamEnd",
    "StreamEvents",
    "TickerEvents",
    "stream_tickers",
    "watched_stream",
]

HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",  # nginx: pass events on at once
}
PROBE_S = 1.0
"""Seconds between two probes of an idle stream's connection (an empty comment: one write)."""
PROBE = sse_comment("")
FIRST_PAGE = PAGE.default_value or 1000
"""A ticker stream's snapshot: the first page of its REST twin, as it answers by default."""
_EVENT_IDS = itertools.count(1)
"""The ``id`` of the process's next event."""
_LAST_EVENT_ID = re.compile(r"[\x21-\x7e]{1,128}")  # visible ASCII: echoed in a comment


class StreamEnd(msgspec.Struct, kw_only=True, frozen=True):
    """The data of a stream's last ``event: end``."""

    reason: str


class Change(NamedTuple):
    """One event of a watched stream, its data encoded once for all its listeners."""

    event: str
    """``snapshot``, ``upsert``, ``delete``, ``append`` (``<list>.upsert``... in a stream of
    several lists)."""
    data: bytes


class StreamEvents(Raw):
    """Route-table marker: a Server-Sent Events stream (its events, by name, in ``events``)."""

    media_types: ClassVar[dict[str, dict[str, Any]]] = {"text/event-stream": {"type": "string"}}
    other_responses: ClassVar[dict[str, dict[str, Any]]] = {
        "503": error_response(
            503,
            (CacheUnavailable.code, TooManyStreams.code),
            "Redis is unavailable, or this process (or this client address) serves its most "
            "streams already (or watches its most distinct streams).",
        )
    }
    events: ClassVar[dict[str, type]] = {"end": StreamEnd, "error": ErrorOut}


ENDING = (
    "`: subscribed` comes first (`: subscribed after <id>` for a request with a "
    '`Last-Event-ID`, whose snapshot is then marked `"resumed": true`); every event has an '
    "`id` that grows by one an event; `: heartbeat` and empty (`: `, a probe of the "
    'connection each idle second) comments; a last `event: end` (`data` `{"reason"}`: '
    "`max_lifetime`, `shutdown` or `slow_client`) or `event: error` (`data` an error)."
)


class TickerEvents(StreamEvents):
    """Route-table marker: a Server-Sent Events stream of ticker objects."""

    description: ClassVar[str] = (
        "`text/event-stream`: `event: snapshot` first, whose `data` is the body `/tickers` "
        "answers (`/tickers/{exchange}` with `?exchange`: its first page), then `event: ticker` "
        "blocks whose `data` is a ticker object (as `/tickers/{exchange}/{symbol}` answers); "
        "`: dropped N` comments when a slow client missed N updates. " + ENDING
    )
    events: ClassVar[dict[str, type]] = {
        "snapshot": TickersOut,
        "ticker": TickerOut,
        **StreamEvents.events,
    }


async def stream_tickers(ctx: Ctx, exchange: str | None, symbols: list[str] | None) -> EventStream:
    """Live tickers as Server-Sent Events: `event: snapshot`, then `event: ticker` per update.

    The snapshot is the first page `/tickers` answers (`/tickers/{exchange}` with `?exchange`;
    an exchange without tickers is an empty list). Then each new tick, data = the ticker
    object: by default each tick that differs from the last read of the tickers hash, read
    again when Redis reports a write to it (at most once per the coalescing setting: the newest
    tick of each symbol); with the ticker feed setting `published` (or without tracking),
    fullon_cache's `ticker_updates:{exchange}:{symbol}` publications (and the legacy
    `next_ticker:` ones) through the process's one subscription. `: heartbeat` comments
    keep proxies open; `: dropped N` says that a slow client missed N updates (the buffer keeps
    the newest per symbol); a client further behind gets `event: end` (reason `slow_client`).
    A stream ends after the maximum lifetime setting with `event: end` (clients reconnect).
    503 `too_many_streams` beyond the per-process or per-client-address limit. HEAD answers
    the headers without opening a stream."""
    lasting = ctx.lasting()
    feed = ticker_feed(lambda: lasting.source, exchange, symbols)
    listener = ctx.hub.listen_tickers(exchange, symbols, feed=feed)
    with _opening(listener):
        await ctx.hub.connected()  # a Redis outage is a 503 here, before the stream starts
        await ctx.hub.fed(listener)
        body = await _tickers_now(ctx, exchange, symbols)  # subscribed first: nothing missed
    return ClientStream(ctx, listener, [Change("snapshot", encode(body))], _tickers)


async def _tickers_now(
    ctx: Ctx, exchange: str | None, symbols: list[str] | None
) -> TickersOut | ExchangeTickersOut:
    """The first page of the stream's REST twin."""
    if exchange is None:
        async with ctx.heavy:
            return await all_tickers(ctx, symbols, None, PAGE.default_value or 1000, None)
    try:
        return await exchange_tickers(
            ctx, exchange, symbols, None, PAGE.default_value or 1000, None
        )
    except NotFound:  # no tickers hash (yet): the stream waits for its first
        return ExchangeTickersOut(exchange=exchange, items=[], count=0)


async def watched_stream(
    ctx: Ctx,
    key: Hashable,
    read: Callable[[], Awaitable[Any]],
    on: Watch,
    diff: Diff[Any, Change],
) -> EventStream:
    """A stream of what the hub's watcher of ``key`` reads (``read``, when a write to what
    ``on`` names is reported; ``diff`` says what changed), in one of the process's stream
    slots. Its first events (the snapshot) are read before it answers: an error of that read
    is the request's (503, 404...)."""
    listener = ctx.hub.watch(key, read, on, diff, slot=True)
    first: list[Change] = []
    with _opening(listener):
        while not first:  # within the request's deadline
            first = await listener.next_batch(PROBE_S)
    return ClientStream(ctx, listener, first, _changes)


@contextmanager
def _opening(listener: Listener[Any]) -> Iterator[None]:
    """A stream being opened: its listener closed when that fails; the hub closed (the server
    is shutting down) is a 503, as Redis down is."""
    try:
        yield
    except HubClosed as exc:
        listener.close()
        raise CacheUnavailable(str(exc)) from None
    except BaseException:
        listener.close()
        raise


Render = Callable[[Ctx, list[Any]], list[bytes]]
"""A stream's events of one batch of its listener's items."""


def _tickers(ctx: Ctx, updates: list[Any]) -> list[bytes]:
    now_s = ctx.now()
    return [
        sse_event("ticker", ticker_out(exchange, symbol, tick, now_s), next(_EVENT_IDS))
        for exchange, symbol, tick in published_ticks(updates)
    ]


def _changes(ctx: Ctx, changes: list[Any], resumed: bool = False) -> list[bytes]:
    """Each change an event; the first snapshot marked ``"resumed": true`` when ``resumed``."""
    chunks = []
    for change in changes:
        data = change.data
        if resumed and change.event == "snapshot":
            data, resumed = b'{"resumed":true' + (b"," if data != b"{}" else b"") + data[1:], False
        chunks.append(sse_data(change.event, data, next(_EVENT_IDS)))
    return chunks


class ClientStream(EventStream):
    """An ``EventStream`` that takes its client address's slot before it starts (503 when the
    address holds its most), and gives up a write the client does not take in time. Its
    ``last_event_id`` is the request's ``Last-Event-ID`` (when it is 1 to 128 visible ASCII
    characters), known once it is called: its events begin there. ``first``: its first events
    (the snapshot), then ``render`` makes the events of each batch of the listener's items."""

    def __init__(
        self, ctx: Ctx, listener: Listener[Any], first: list[Change], render: Render
    ) -> None:
        super().__init__(_events(ctx, listener, self, first, render), listener.close, HEADERS)
        self.hub = ctx.hub
        self.limit = ctx.settings.max_streams_per_client
        self.send_timeout = ctx.settings.client_send_timeout
        self.last_event_id: str | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        given = dict(scope["headers"]).get(b"last-event-id", b"").decode("latin-1").strip()
        self.last_event_id = given if _LAST_EVENT_ID.fullmatch(given) else None
        client = scope.get("client")
        address = str(client[0]) if client else ""
        if not self.hub.take_client(address):
            self.on_close()
            await self.events.aclose()
            CLIENTS_ENDED.labels("sse", "client_limit").inc()
            error = TooManyStreams(f"at most {self.limit} streams per client address")
            await Reply.error(error).send(scope, receive, send)
            return

        async def timed(message: Message) -> None:
            try:
                async with asyncio.timeout(self.send_timeout):
                    await send(message)
            except TimeoutError:  # an OSError: the stream ends as when the client is gone
                CLIENTS_ENDED.labels("sse", "not_reading").inc()
                raise

        try:
            await super().__call__(scope, receive, timed)
        finally:
            self.hub.give_client(address)


async def _events(
    ctx: Ctx, listener: Listener[Any], stream: ClientStream, first: list[Change], render: Render
) -> AsyncGenerator[bytes, None]:
    """The stream's chunks; it runs once ``stream`` is called (its ``last_event_id`` known)."""
    settings = ctx.settings
    now = time.monotonic()
    end = now + settings.stream_max_lifetime
    beat = now + settings.stream_heartbeat
    resumed = stream.last_event_id
    yield sse_comment("subscribed" if resumed is None else f"subscribed after {resumed}")
    yield b"".join(_changes(ctx, first, resumed is not None))
    reported = 0
    while (left := end - (now := time.monotonic())) > 0:
        due = beat - now <= min(left, PROBE_S)  # this wait ends at the heartbeat
        try:
            updates = await listener.next_batch(max(0.0, min(beat - now, left, PROBE_S)))
        except RedisError as exc:
            yield sse_event("error", from_redis(exc).error_out())
            return
        except HubClosed:
            yield sse_event("end", StreamEnd(reason="shutdown"))
            return
        except SlowClient:
            CLIENTS_ENDED.labels("sse", "slow_client").inc()
            yield sse_event("end", StreamEnd(reason="slow_client"))
            return
        now = time.monotonic()
        if not updates and listener.dropped == reported:
            if due:
                beat = now + settings.stream_heartbeat
                yield sse_comment("heartbeat")
            elif left > PROBE_S:
                yield PROBE  # a write: it fails once the client has gone, whatever it sent
            continue
        beat = now + settings.stream_heartbeat
        chunks = []
        if listener.dropped > reported:
            chunks.append(sse_comment(f"dropped {listener.dropped - reported}"))
            reported = listener.dropped
        chunks += render(ctx, updates)
        yield b"".join(chunks) if chunks else sse_comment("heartbeat")
    yield sse_event("end", StreamEnd(reason="max_lifetime"))
