"""The stream hub: the one place that listens to Redis.

One hub per event loop (so one per serving process): one dedicated pub/sub connection, never
taken from the request pool, holding a fixed set of subscriptions (``PSUBSCRIBE
ticker_updates:* next_ticker:*``) however many streams and symbols are open. Messages fan out in
memory to listeners, each with a bounded queue that drops its oldest item when full and counts
it. The connection is opened with the first listener and closed with the last.

Slots are taken synchronously (no ``await`` between the check and the count), so the limit
holds under any concurrency, and every listener gives its slot back when closed, on every path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from redis.asyncio import ConnectionPool
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from . import keys
from .errors import TooManyStreams
from .metrics import STREAM_DROPPED, STREAMS
from .readers.base import text
from .settings import Settings

__all__ = ["HubClosed", "Listener", "StreamHub", "TickerUpdate"]

log = logging.getLogger("fullon.cache_api.hub")
T = TypeVar("T")
TickerUpdate = tuple[str, str, bytes]
"""(exchange, symbol, stored tick JSON) of one publication."""

_POLL_S = 1.0  # a bounded wait per read, so that closing is prompt with any redis-py version


class HubClosed(Exception):
    """The hub was closed (the server is shutting down): its listeners' streams end."""


class Listener(Generic[T]):
    """One consumer of the hub: a bounded queue (oldest dropped and counted when full), the
    error that ended the hub's connection if one did, and its slot, given back by ``close``."""

    def __init__(self, size: int, on_close: Callable[[Listener[T]], None]) -> None:
        self._items: deque[T] = deque(maxlen=size)
        self._ready = asyncio.Event()
        self._on_close = on_close
        self.error: BaseException | None = None
        self.dropped = 0
        self.closed = False

    def push(self, item: T) -> None:
        if len(self._items) == self._items.maxlen:
            self.dropped += 1
            STREAM_DROPPED.inc()
        self._items.append(item)
        self._ready.set()

    def fail(self, error: BaseException) -> None:
        self.error = error
        self._ready.set()

    async def next_batch(self, wait_s: float) -> list[T]:
        """Every queued item, waiting up to ``wait_s`` seconds for one ([] when none came).
        Raises the error that ended the hub's connection."""
        if not self._items and self.error is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), wait_s)
        self._ready.clear()
        if self.error is not None:
            raise self.error
        batch = list(self._items)
        self._items.clear()
        return batch

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._on_close(self)


class StreamHub:
    def __init__(self, make_pool: Callable[[], ConnectionPool], settings: Settings) -> None:
        self._make_pool = make_pool
        self._settings = settings
        self._tickers: dict[str | None, set[Listener[TickerUpdate]]] = {}
        """Ticker listeners by the exchange they follow (None: every exchange)."""
        self._symbols: dict[Listener[TickerUpdate], frozenset[str] | None] = {}
        self._connected: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def listeners(self) -> int:
        return len(self._symbols)

    def listen_tickers(
        self, exchange: str | None, symbols: list[str] | None
    ) -> Listener[TickerUpdate]:
        """A listener of ticker publications for ``exchange`` (all when None) and ``symbols``
        (all when None); 503 ``too_many_streams`` when the process serves its most already.
        Call ``await connected()`` next, and ``close()`` the listener on every path."""
        if self.listeners >= self._settings.max_streams:
            raise TooManyStreams(f"at most {self._settings.max_streams} streams are served at once")
        listener: Listener[TickerUpdate] = Listener(self._settings.stream_queue, self._remove)
        self._tickers.setdefault(exchange, set()).add(listener)
        self._symbols[listener] = None if symbols is None else frozenset(symbols)
        STREAMS.inc()
        return listener

    def _remove(self, listener: Listener[TickerUpdate]) -> None:
        self._symbols.pop(listener, None)
        for exchange, group in list(self._tickers.items()):
            group.discard(listener)
            if not group:
                del self._tickers[exchange]
        STREAMS.dec()
        if not self._symbols:
            self._stop()

    async def connected(self) -> None:
        """Wait until the hub's connection holds its subscriptions (opened by the first caller,
        shared by the others); raises the Redis error when it cannot."""
        if self._connected is None:
            self._connected = asyncio.get_running_loop().create_future()
            self._task = asyncio.create_task(self._run(self._connected), name="stream hub")
        await asyncio.shield(self._connected)

    async def _run(self, connected: asyncio.Future[None]) -> None:
        pool = self._make_pool()
        pubsub = PubSub(pool, ignore_subscribe_messages=True)
        try:
            await pubsub.psubscribe(*keys.TICKER_CHANNEL_PATTERNS)
            connected.set_result(None)
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=_POLL_S)
                if message is not None and message["type"] == "pmessage":
                    self._dispatch(message["channel"], message["data"])
        except RedisError as exc:
            log.warning("stream hub connection lost: %s", exc)
            self._fail(connected, exc)
        finally:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            with contextlib.suppress(RedisError, OSError):
                await pool.aclose()

    def _fail(self, connected: asyncio.Future[None], exc: RedisError) -> None:
        if not connected.done():
            connected.set_exception(exc)
            connected.exception()  # retrieved: waiters re-raise it from the shield
        for listener in self._symbols:
            listener.fail(exc)
        self._connected = self._task = None

    def _dispatch(self, channel: bytes | str, data: bytes | str) -> None:
        parsed = keys.parse_ticker_channel(text(channel))
        if parsed is None:
            return
        exchange, symbol = parsed
        update = (exchange, symbol, data if isinstance(data, bytes) else data.encode())
        for group in (self._tickers.get(exchange), self._tickers.get(None)):
            for listener in group or ():
                wanted = self._symbols[listener]
                if wanted is None or symbol in wanted:
                    listener.push(update)

    def _stop(self) -> None:
        task, self._task, self._connected = self._task, None, None
        if task is not None:
            task.cancel()

    async def aclose(self) -> None:
        """End every listener's stream and the connection."""
        for listener in list(self._symbols):
            listener.fail(HubClosed("the server is shutting down"))
        task = self._task
        self._stop()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task
