"""Streams: live ticker updates as Server-Sent Events, pushed from the stream hub."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from typing import Any, ClassVar

from redis.exceptions import RedisError

from ..errors import CacheUnavailable, TooManyStreams, from_redis
from ..hub import HubClosed, Listener, TickerUpdate
from ..openapi import error_response
from ..readers.tickers import published_ticks
from ..responses import EventStream, sse_comment, sse_event
from ..routing import Ctx, Raw
from .tickers import ticker_out

__all__ = ["TickerEvents", "stream_tickers"]

HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",  # nginx: pass events on at once
}


class TickerEvents(Raw):
    """Route-table marker: a Server-Sent Events stream of ticker objects."""

    description: ClassVar[str] = (
        "`text/event-stream`: `event: ticker` blocks whose `data` is a ticker object (as "
        "`/tickers/{exchange}/{symbol}` answers), `: heartbeat` and `: dropped N` comments, "
        'and a last `event: end` (`data` `{"reason"}`) or `event: error` (`data` an error).'
    )
    media_types: ClassVar[dict[str, dict[str, Any]]] = {"text/event-stream": {"type": "string"}}
    other_responses: ClassVar[dict[str, dict[str, Any]]] = {
        "503": error_response(
            503,
            (CacheUnavailable.code, TooManyStreams.code),
            "Redis is unavailable, or this process serves its most streams already.",
        )
    }
    reads_cache: ClassVar[bool] = True
    stream_headers: ClassVar[dict[str, str] | None] = HEADERS


async def stream_tickers(ctx: Ctx, exchange: str | None, symbols: list[str] | None) -> EventStream:
    """Live tickers as Server-Sent Events: `event: ticker`, data = the ticker object.

    Follows fullon_cache's `ticker_updates:{exchange}:{symbol}` publications (and the legacy
    `next_ticker:` ones) through the process's one subscription. `: heartbeat` comments keep
    proxies open; `: dropped N` says that a slow client missed N updates (the buffer keeps the
    newest). A stream ends after the maximum lifetime setting with `event: end` (clients
    reconnect). 503 `too_many_streams` beyond the per-process limit. HEAD answers the headers
    without opening a stream."""
    listener = ctx.hub.listen_tickers(exchange, symbols)
    try:
        await ctx.hub.connected()  # a Redis outage is a 503 here, before the stream starts
    except BaseException:
        listener.close()
        raise
    return EventStream(_events(ctx, listener), listener.close, HEADERS)


async def _events(ctx: Ctx, listener: Listener[TickerUpdate]) -> AsyncGenerator[bytes, None]:
    settings = ctx.settings
    end = time.monotonic() + settings.stream_max_lifetime
    yield sse_comment("subscribed")
    reported = 0
    while (left := end - time.monotonic()) > 0:
        try:
            updates = await listener.next_batch(min(settings.stream_heartbeat, left))
        except RedisError as exc:
            yield sse_event("error", from_redis(exc).error_out())
            return
        except HubClosed:
            yield sse_event("end", {"reason": "shutdown"})
            return
        chunks = []
        if listener.dropped > reported:
            chunks.append(sse_comment(f"dropped {listener.dropped - reported}"))
            reported = listener.dropped
        now = ctx.now()
        for exchange, symbol, tick in published_ticks(updates):
            chunks.append(sse_event("ticker", ticker_out(exchange, symbol, tick, now)))
        yield b"".join(chunks) if chunks else sse_comment("heartbeat")
    yield sse_event("end", {"reason": "max_lifetime"})
