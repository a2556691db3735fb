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
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any, ClassVar

from redis.exceptions import RedisError
from starlette.types import Message, Receive, Scope, Send

from ..context import Ctx
from ..errors import CacheUnavailable, TooManyStreams, from_redis
from ..hub import HubClosed, Listener, SlowClient, StreamHub, TickerUpdate
from ..metrics import CLIENTS_ENDED
from ..openapi import error_response
from ..readers.tickers import published_ticks
from ..responses import EventStream, Reply, sse_comment, sse_event
from ..routing import Raw
from ..settings import Settings
from .tickers import ticker_out

__all__ = ["ClientStream", "TickerEvents", "stream_tickers"]

HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",  # nginx: pass events on at once
}
PROBE_S = 1.0
"""Seconds between two probes of an idle stream's connection (an empty comment: one write)."""
PROBE = sse_comment("")


class TickerEvents(Raw):
    """Route-table marker: a Server-Sent Events stream of ticker objects."""

    description: ClassVar[str] = (
        "`text/event-stream`: `event: ticker` blocks whose `data` is a ticker object (as "
        "`/tickers/{exchange}/{symbol}` answers), `: heartbeat`, `: dropped N` and empty "
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
    return ClientStream(_events(ctx, listener), listener.close, ctx.hub, ctx.settings)


class ClientStream(EventStream):
    """An ``EventStream`` that takes its client address's slot before it starts (503 when the
    address holds its most), and gives up a write the client does not take in time."""

    def __init__(
        self,
        events: AsyncGenerator[bytes, None],
        on_close: Callable[[], None],
        hub: StreamHub,
        settings: Settings,
    ) -> None:
        super().__init__(events, on_close, HEADERS)
        self.hub = hub
        self.limit = settings.max_streams_per_client
        self.send_timeout = settings.client_send_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
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


async def _events(ctx: Ctx, listener: Listener[TickerUpdate]) -> AsyncGenerator[bytes, None]:
    settings = ctx.settings
    now = time.monotonic()
    end = now + settings.stream_max_lifetime
    beat = now + settings.stream_heartbeat
    yield sse_comment("subscribed")
    reported = 0
    while (left := end - (now := time.monotonic())) > 0:
        due = beat - now <= min(left, PROBE_S)  # this wait ends at the heartbeat
        try:
            updates = await listener.next_batch(max(0.0, min(beat - now, left, PROBE_S)))
        except RedisError as exc:
            yield sse_event("error", from_redis(exc).error_out())
            return
        except HubClosed:
            yield sse_event("end", {"reason": "shutdown"})
            return
        except SlowClient:
            CLIENTS_ENDED.labels("sse", "slow_client").inc()
            yield sse_event("end", {"reason": "slow_client"})
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
            chunks.append(sse_event("ticker", ticker_out(exchange, symbol, tick, now_s)))
        yield b"".join(chunks) if chunks else sse_comment("heartbeat")
    yield sse_event("end", {"reason": "max_lifetime"})
