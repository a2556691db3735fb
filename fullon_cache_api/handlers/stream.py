"""Live ticker updates over Server-Sent Events."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from .. import keys
from ..cache import CorruptValue
from ..cache.stream import TickerSubscription
from ..cache.tickers import TICK
from ..client import Cache
from ..errors import CacheUnavailable, TooManyStreams, from_redis
from ..metrics import STREAM_DROPPED, STREAMS
from ..openapi import Raw, error_response
from ..params import EXCHANGE_FILTER, SYMBOLS
from ..responses import EventStream, sse_comment, sse_event
from . import cache_of
from .tickers import ticker_out

log = logging.getLogger("fullon.cache_api.stream")


class TickerEvents(Raw):
    """Route-table marker: a Server-Sent Events stream of ticker objects."""

    description: ClassVar[str] = (
        "`text/event-stream`: `event: ticker` blocks whose `data` is a ticker object (as "
        "`/tickers/{exchange}/{symbol}` answers), `: heartbeat` and `: dropped N` comments."
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


async def stream_tickers(request: Request) -> Response:
    """Live tickers as Server-Sent Events: `event: ticker`, data = the ticker object.

    Subscribes to fullon_cache's `ticker_updates:{exchange}:{symbol}` channels (and the legacy
    `next_ticker:` ones). `: heartbeat` comments keep proxies open; `: dropped N` says that a
    slow client missed N updates (the buffer keeps the newest). 503 `too_many_streams` beyond
    the per-process limit."""
    exchange, symbols = EXCHANGE_FILTER.get(request), SYMBOLS.get_list(request)
    cache = cache_of(request)
    if cache.streams >= cache.settings.max_streams:
        raise TooManyStreams(f"at most {cache.settings.max_streams} streams are served at once")
    patterns = keys.ticker_channel_patterns(exchange, symbols)
    subscription = TickerSubscription(cache.stream_redis, patterns, cache.settings.stream_queue)
    await subscription.__aenter__()  # a Redis outage is a 503 here, before the stream starts
    cache.streams += 1
    STREAMS.inc()

    async def close() -> None:
        cache.streams -= 1
        STREAMS.dec()
        await subscription.__aexit__(None, None, None)

    events = _events(cache, subscription, exchange, symbols)
    return EventStream(events, close, {"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _events(
    cache: Cache, sub: TickerSubscription, exchange: str | None, symbols: list[str] | None
) -> AsyncIterator[bytes]:
    yield sse_comment("subscribed")
    reported = 0
    while True:
        try:
            updates = await sub.updates(cache.settings.stream_heartbeat)
        except RedisError as exc:
            yield sse_event("error", from_redis(exc).body())
            return
        if not updates:
            yield sse_comment("heartbeat")
            continue
        chunks = []
        if sub.dropped > reported:
            chunks.append(sse_comment(f"dropped {sub.dropped - reported}"))
            STREAM_DROPPED.inc(sub.dropped - reported)
            reported = sub.dropped
        now = cache.clock()
        for channel, raw in updates:
            parsed = keys.parse_ticker_channel(channel)
            if parsed is None or (exchange and parsed[0] != exchange):
                continue
            if symbols and parsed[1] not in symbols:
                continue
            try:
                tick = TICK.decode(raw)
            except CorruptValue as exc:
                log.warning("skipping corrupt update: channel=%r: %s", channel, exc)
                continue
            chunks.append(sse_event("ticker", ticker_out(parsed[0], parsed[1], tick, now)))
        if chunks:
            yield b"".join(chunks)
