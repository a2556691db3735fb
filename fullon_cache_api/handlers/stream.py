"""Streams: live ticker updates as Server-Sent Events, pushed from the stream hub.

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

Each ``event: ticker`` carries an ``id:``, a counter of the process (it grows by one an event,
across its streams), so that EventSource and ``fullon_cache_api.client`` send it back as
``Last-Event-ID`` when they reconnect. A stream is state, not history: a reconnecting client
gets the stream from now, and its first comment, ``: subscribed after <id>``, says only that
its ``Last-Event-ID`` was seen (updates in between are not replayed; ``/tickers`` holds the
current state).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncGenerator
from typing import Any, ClassVar

import msgspec
from redis.exceptions import RedisError
from starlette.types import Message, Receive, Scope, Send

from ..context import Ctx
from ..errors import CacheUnavailable, ErrorOut, TooManyStreams, from_redis
from ..hub import HubClosed, Listener, SlowClient, TickerUpdate
from ..metrics import CLIENTS_ENDED
from ..openapi import error_response
from ..readers.tickers import published_ticks
from ..responses import EventStream, Reply, sse_comment, sse_event
from ..routing import Raw
from .tickers import TickerOut, ticker_out

__all__ = ["ClientStream", "StreamEnd", "TickerEvents", "stream_tickers"]

HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",  # nginx: pass events on at once
}
PROBE_S = 1.0
"""Seconds between two probes of an idle stream's connection (an empty comment: one write)."""
PROBE = sse_comment("")
_EVENT_IDS = itertools.count(1)
"""The ``id`` of the process's next ``event: ticker``."""
_LAST_EVENT_ID = re.compile(r"[\x21-\x7e]{1,128}")  # visible ASCII: echoed in a comment


class StreamEnd(msgspec.Struct, kw_only=True, frozen=True):
    """The data of a stream's last ``event: end``."""

    reason: str


class TickerEvents(Raw):
    """Route-table marker: a Server-Sent Events stream of ticker objects."""

    description: ClassVar[str] = (
        "`text/event-stream`: `event: ticker` blocks whose `data` is a ticker object (as "
        "`/tickers/{exchange}/{symbol}` answers) and whose `id` grows by one an event, "
        "`: subscribed` first (`: subscribed after <id>` for a request with a `Last-Event-ID`: "
        "from now all the same, nothing is replayed), `: heartbeat`, `: dropped N` and empty "
        "(`: `, a probe of the connection each idle second) comments, and a last `event: end` "
        '(`data` `{"reason"}`: `max_lifetime`, `shutdown` or `slow_client`) or `event: error` '
        "(`data` an error)."
    )
    media_types: ClassVar[dict[str, dict[str, Any]]] = {"text/event-stream": {"type": "string"}}
    other_responses: ClassVar[dict[str, dict[str, Any]]] = {
        "503": error_response(
            503,
            (CacheUnavailable.code, TooManyStreams.code),
            "Redis is unavailable, or this process (or this client address) serves its most "
            "streams already.",
        )
    }
    events: ClassVar[dict[str, type]] = {"ticker": TickerOut, "end": StreamEnd, "error": ErrorOut}


async def stream_tickers(ctx: Ctx, exchange: str | None, symbols: list[str] | None) -> EventStream:
    """Live tickers as Server-Sent Events: `event: ticker`, data = the ticker object.

    Follows fullon_cache's `ticker_updates:{exchange}:{symbol}` publications (and the legacy
    `next_ticker:` ones) through the process's one subscription. `: heartbeat` comments keep
    proxies open; `: dropped N` says that a slow client missed N updates (the buffer keeps the
    newest per symbol); a client further behind gets `event: end` (reason `slow_client`). A
    stream ends after the maximum lifetime setting with `event: end` (clients reconnect). 503
    `too_many_streams` beyond the per-process or per-client-address limit. HEAD answers the
    headers without opening a stream."""
    listener = ctx.hub.listen_tickers(exchange, symbols)
    try:
        await ctx.hub.connected()  # a Redis outage is a 503 here, before the stream starts
    except BaseException:
        listener.close()
        raise
    return ClientStream(ctx, listener)


class ClientStream(EventStream):
    """An ``EventStream`` that takes its client address's slot before it starts (503 when the
    address holds its most), and gives up a write the client does not take in time. Its
    ``last_event_id`` is the request's ``Last-Event-ID`` (when it is 1 to 128 visible ASCII
    characters), known once it is called: its events begin there."""

    def __init__(self, ctx: Ctx, listener: Listener[TickerUpdate]) -> None:
        super().__init__(_events(ctx, listener, self), listener.close, HEADERS)
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
    ctx: Ctx, listener: Listener[TickerUpdate], stream: ClientStream
) -> AsyncGenerator[bytes, None]:
    """The stream's chunks; it runs once ``stream`` is called (its ``last_event_id`` known)."""
    settings = ctx.settings
    now = time.monotonic()
    end = now + settings.stream_max_lifetime
    beat = now + settings.stream_heartbeat
    resumed = stream.last_event_id
    yield sse_comment("subscribed" if resumed is None else f"subscribed after {resumed}")
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
        now_s = ctx.now()
        for exchange, symbol, tick in published_ticks(updates):
            ticker = ticker_out(exchange, symbol, tick, now_s)
            chunks.append(sse_event("ticker", ticker, next(_EVENT_IDS)))
        yield b"".join(chunks) if chunks else sse_comment("heartbeat")
    yield sse_event("end", StreamEnd(reason="max_lifetime"))
