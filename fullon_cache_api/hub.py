"""The stream hub: the one place that listens to Redis.

One hub per event loop (so one per serving process): one dedicated pub/sub connection, never
taken from the request pool, holding a fixed set of subscriptions (``PSUBSCRIBE
ticker_updates:* next_ticker:*``) however many streams and symbols are open. Messages fan out in
memory to listeners, each with a bounded queue that drops its oldest item when full and counts
it. The connection is opened with the first listener and closed with the last.

What has no publication is polled: one poller per distinct read (``poll``, keyed by what it
reads), shared by all its listeners, reads every ``ws_poll_interval`` seconds and pushes each
state that differs from the last; it starts with its first listener and stops with its last.

Slots are taken synchronously (no ``await`` between the check and the count), so the limit
holds under any concurrency, and every listener gives its slot back when closed, on every path.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from redis.asyncio import ConnectionPool
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from . import keys
from .errors import TooManyStreams
from .metrics import POLLERS, STREAM_DROPPED, STREAMS
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
            # asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancellation that
            # arrives just as the event is set (the cancelled stream would wait on)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self._ready.wait()
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


_NOTHING = object()  # a poller's state before its first read


class _Poller:
    """One shared read, its listeners, and the last state it pushed."""

    def __init__(self, read: Callable[[], Awaitable[Any]]) -> None:
        self.read = read
        self.listeners: set[Listener[Any]] = set()
        self.state: Any = _NOTHING
        self.task: asyncio.Task[None] | None = None


class StreamHub:
    def __init__(self, make_pool: Callable[[], ConnectionPool], settings: Settings) -> None:
        self._make_pool = make_pool
        self._settings = settings
        self._tickers: dict[str | None, set[Listener[TickerUpdate]]] = {}
        """Ticker listeners by the exchange they follow (None: every exchange)."""
        self._symbols: dict[Listener[TickerUpdate], frozenset[str] | None] = {}
        self._slotted: set[Listener[TickerUpdate]] = set()
        """The listeners that hold one of the ``max_streams`` slots (Server-Sent Events)."""
        self._connected: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._pollers: dict[Hashable, _Poller] = {}

    @property
    def listeners(self) -> int:
        return len(self._symbols)

    @property
    def pollers(self) -> int:
        return len(self._pollers)

    def listen_tickers(
        self, exchange: str | None, symbols: list[str] | None, *, slot: bool = True
    ) -> Listener[TickerUpdate]:
        """A listener of ticker publications for ``exchange`` (all when None) and ``symbols``
        (all when None). With ``slot`` it takes one of the process's ``max_streams`` slots: 503
        ``too_many_streams`` when none is free (WebSocket streams are bounded per socket
        instead). Call ``await connected()`` next, and ``close()`` the listener on every path."""
        if slot and len(self._slotted) >= self._settings.max_streams:
            raise TooManyStreams(f"at most {self._settings.max_streams} streams are served at once")
        listener: Listener[TickerUpdate] = Listener(self._settings.stream_queue, self._remove)
        self._tickers.setdefault(exchange, set()).add(listener)
        self._symbols[listener] = None if symbols is None else frozenset(symbols)
        if slot:
            self._slotted.add(listener)
            STREAMS.inc()
        return listener

    def _remove(self, listener: Listener[TickerUpdate]) -> None:
        self._symbols.pop(listener, None)
        for exchange, group in list(self._tickers.items()):
            group.discard(listener)
            if not group:
                del self._tickers[exchange]
        if listener in self._slotted:
            self._slotted.discard(listener)
            STREAMS.dec()
        if not self._symbols:
            self._stop()

    def poll(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> Listener[T]:
        """A listener of the states ``read`` returns, read by the one poller of ``key`` (made
        with ``read`` by its first listener; the same key must mean the same read). It gets the
        poller's current state at once when there is one, then every state that differs from
        the last. ``close()`` it on every path: the poller stops with its last listener."""
        poller = self._pollers.get(key)
        if poller is None:
            poller = self._pollers[key] = _Poller(read)
            poller.task = asyncio.create_task(self._poll(poller), name=f"poller {key!r}")
            POLLERS.inc()
        listener: Listener[T] = Listener(
            self._settings.stream_queue, functools.partial(self._unpoll, key)
        )
        poller.listeners.add(listener)
        if poller.state is not _NOTHING:
            listener.push(poller.state)
        return listener

    def _unpoll(self, key: Hashable, listener: Listener[Any]) -> None:
        poller = self._pollers.get(key)
        if poller is None:
            return
        poller.listeners.discard(listener)
        if not poller.listeners:
            del self._pollers[key]
            POLLERS.dec()
            if poller.task is not None:
                poller.task.cancel()

    async def _poll(self, poller: _Poller) -> None:
        failing = False
        # Ends with its last listener even if a cancellation was lost (redis-py may swallow
        # one that comes during a command, returning the reply instead).
        while poller.listeners:
            try:
                state = await poller.read()
            except Exception as exc:  # a poller outlives an outage: it reads again next time
                if not failing:  # logged once per outage, not every interval
                    log.warning("poll failed, retrying every interval: %r", exc)
                failing = True
            else:
                failing = False
                if poller.state is _NOTHING or state != poller.state:
                    poller.state = state
                    for listener in poller.listeners:
                        listener.push(state)
            await asyncio.sleep(self._settings.ws_poll_interval)

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
            me = asyncio.current_task()
            while self._task is me:  # stopped, even if redis-py swallowed the cancellation
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
        """End every listener's stream, the connection and the pollers."""
        closed = HubClosed("the server is shutting down")
        for listener in list(self._symbols):
            listener.fail(closed)
        tasks = [self._task]
        self._stop()
        for key, poller in list(self._pollers.items()):
            for listener in list(poller.listeners):
                listener.fail(closed)
                self._unpoll(key, listener)
            tasks.append(poller.task)
        for task in tasks:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
