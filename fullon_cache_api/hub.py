"""The stream hub: the one place that listens to Redis.

One hub per event loop (so one per serving process): one dedicated pub/sub connection, never
taken from the request pool, holding a fixed set of subscriptions however many streams and
symbols are open: for the local cache, the key index and the watchers ``SUBSCRIBE
__redis__:invalidate``, where Redis reports the next write to each key the local cache's
connections read (see ``_track``); and ``PSUBSCRIBE
ticker_updates:* next_ticker:*`` while a ticker stream follows the publications (when the last
closes, within a second).

Ticker streams are fed one of two ways. By default (the ``ticker_feed`` setting ``tracked``,
tracking not refused) a feed per distinct (exchange, symbols), a watcher like any other (below),
reads the ticks and reads them again when tracking reports a write to what it read, and its
pump sends each tick that differs from the last read to the feed's listeners: the newest tick
of each symbol per ``stream_coalesce``, at no Redis cost per tick. Else the publications: one
message per tick per process, each fanned out to the listeners that want it.

Reading never waits behind the clients: the read loop only reads (invalidations are applied at
once, publications queued in order for the fan-out task), and its heartbeat counts empty reads,
not the clock, so a busy loop cannot make it report a false loss. The fan-out task hands each
publication only to the listeners that want it (indexed by exchange and symbol), yielding to
the loop every few hundred listeners. A listener holds its pending updates in order up to
``stream_queue`` items and ``stream_queue_bytes`` bytes; beyond either its client is behind and
they conflate to the newest per key: a ticker listener leaves the fan-out (a publication then
costs nothing for it) and its next batch is the newest publication of each of its symbols,
which the hub keeps; a watcher's listener keeps its newest state, or (following changes)
gets a fresh snapshot instead of what it missed. If even that exceeds
``stream_queue_bytes``, the client is too slow and the listener fails with ``SlowClient`` (its
stream ends, its memory freed). A consumer may give a listener a ``gate`` (its room to send):
updates wait meanwhile, so the work a publication costs is bounded by what the clients take.

What has no publication is watched: one watcher per distinct read (``watch``, keyed by what it
reads), shared by all its listeners, reads (through the local cache, like a request) when the
local cache's invalidations name a key it watches (its reads make Redis track what they read),
or the key index adds or drops a key under a prefix it watches (``keys_changed``): pushed within
``stream_coalesce`` of a write by any client to a key it read, however many writes and listeners
(at most one read per ``stream_coalesce``), and a key new to the index within its walk
(``index_walk_interval``). It pushes each state that differs from the last, or what changed
between the two, worked out once for all its listeners (``Diff``). While tracking does not hold
(refused, the hub reconnecting, the local cache off) watchers read every ``ws_poll_interval``
instead (``/metrics``: ``fullon_cache_api_watchers{mode="polled"}``); when it holds again they
read at once and send their listeners a fresh snapshot. A watcher starts with its first listener
and stops with its last; at most ``MAX_WATCHERS`` run at once, and their last states hold at
most ``local_cache_mb`` megabytes (then new ones are refused: 503).

The connection is kept while the local cache wants it or a listener is open. When it drops
(or stops answering its heartbeat), the local cache is flushed and turned off, open streams end
with the error, and the hub connects again (backing off up to 5 s) and turns the cache back
on once tracking is in place again. Slots are taken synchronously (no ``await`` between the
check and the count), so the stream limit holds under any concurrency, and every listener
gives its slot back when closed, on every path. Closing the hub (the server shuts down) ends
every listener's stream and watchers, and tells whoever asked (``on_close``: WebSockets).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from bisect import bisect_left
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from redis.asyncio import ConnectionPool
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoPermissionError, RedisError

from . import keys
from .errors import TooManyStreams
from .flight import cancel_requested
from .keys import text
from .local_cache import LocalCache, Tracked
from .metrics import (
    LOCAL_CACHE_EVENTS,
    POLLERS,
    STREAM_DROPPED,
    STREAMS,
    WATCHED_BYTES,
    WATCHERS,
)
from .settings import Settings

__all__ = [
    "MAX_WATCHERS",
    "Diff",
    "Gate",
    "HubClosed",
    "Listener",
    "SlowClient",
    "StreamHub",
    "TickerFeed",
    "TickerUpdate",
    "Watch",
]

log = logging.getLogger("fullon.cache_api.hub")
T = TypeVar("T")
S = TypeVar("S", contravariant=True)
C = TypeVar("C")
TickerUpdate = tuple[str, str, bytes]
"""(exchange, symbol, stored tick JSON) of one publication."""

_POLL_S = 1.0  # a bounded wait per read, so that closing is prompt with any redis-py version
_SILENT_READS = 3  # whole waits with nothing read, each then a ping: the connection is gone
_YIELD_EVERY = 256  # listeners served between two yields to the loop in one fan-out
_INBOX = 100_000  # publications pending between the read loop and the fan-out
_NOTHING: Any = object()  # a watcher's state before its first read; an absent item
MAX_WATCHERS = 4096
"""Most watchers (distinct watched streams) per process; more streams are refused (503)."""


class HubClosed(Exception):
    """The hub was closed (the server is shutting down): its listeners' streams end."""


class SlowClient(Exception):
    """A listener's client fell behind by more than its bound, even conflated: its stream ends
    (SSE: a last ``end`` event, reason ``slow_client``; WebSocket: the socket is closed)."""


Gate = Callable[[], Awaitable[None]]
"""Awaited before a listener hands out its next batch: the consumer's room to send it (a
WebSocket's outbox below its bound). Meanwhile the listener conflates."""


def _whole(item: Any) -> Hashable:
    return None  # a polled state: only the newest matters


def _stay(listener: Listener[Any]) -> None:
    """A watcher's listener stays its listener while behind (a push then costs nothing)."""


def _ticker_key(update: TickerUpdate) -> Hashable:
    return update[0], update[1]


class Listener(Generic[T]):
    """One consumer of the hub: its pending items, the error that ended its stream if one did,
    and its slot, given back by ``close``.

    Items wait in order while at most ``size`` of them and ``max_bytes`` bytes do. Beyond
    either the consumer is behind. A listener the hub can bring up to date (``catch_up``: a
    ticker listener) then drops what waits and leaves the fan-out (``behind``): while behind it
    costs a publication nothing, and its next batch is the newest update of each of its keys
    (exchange and symbol), from the hub: more than ``max_bytes`` bytes of them and it fails
    with ``SlowClient``. Any other (a poller's) conflates instead: the newest per key, each
    replaced one counted as dropped, until the next batch is taken; beyond ``size`` keys or
    ``max_bytes`` bytes even so, it fails with ``SlowClient``. Failed, it holds nothing."""

    def __init__(
        self,
        size: int,
        on_close: Callable[[Listener[T]], None],
        *,
        max_bytes: int = 1 << 62,
        key: Callable[[T], Hashable] = _whole,
        weight: Callable[[T], int] = lambda item: 0,
        behind: Callable[[Listener[T]], None] | None = None,
        catch_up: Callable[[Listener[T]], list[T]] | None = None,
    ) -> None:
        self._behind = behind
        self._catch_up = catch_up
        self.is_behind = False
        """Out of the fan-out until its next batch, which ``catch_up`` makes."""
        self._queue: deque[T] = deque()
        self._latest: dict[Hashable, T] | None = None
        """The pending items conflated, while the consumer is behind (else None)."""
        self._size = size
        self._max_bytes = max_bytes
        self._key = key
        self._weight = weight
        self._bytes = 0
        self._ready = asyncio.Event()
        self._on_close = on_close
        self.gate: Gate | None = None
        self.error: BaseException | None = None
        self.dropped = 0
        self._counted = 0
        """Of ``dropped``, how many the metric has (counted per batch, not per update)."""
        self.closed = False

    @property
    def pending_bytes(self) -> int:
        return self._bytes

    def push(self, item: T) -> None:
        if self.error is not None or self.is_behind:
            return
        self._bytes += self._weight(item)
        latest = self._latest
        if latest is None:
            self._queue.append(item)
            if len(self._queue) <= self._size and self._bytes <= self._max_bytes:
                self._ready.set()
                return
            if self._behind is not None:  # the hub brings it up to date at its next batch
                self.dropped += len(self._queue)
                self._clear()
                self.is_behind = True
                self._behind(self)
                self._ready.set()
                return
            latest = self._latest = {}  # behind: conflate what waits, and what comes next
            items, self._queue = list(self._queue), deque()
        else:
            items = [item]
        for each in items:
            key = self._key(each)
            old = latest.pop(key, _NOTHING)  # popped: the newest goes last, in arrival order
            if old is not _NOTHING:
                self.dropped += 1  # the client misses this value, never the newest
                self._bytes -= self._weight(old)
            latest[key] = each
        if len(latest) > self._size or self._bytes > self._max_bytes:
            self.fail(SlowClient(f"more than {self._size} updates or {self._max_bytes} bytes wait"))
            return
        self._ready.set()

    def fail(self, error: BaseException) -> None:
        if not isinstance(self.error, SlowClient):  # a slow client's end stands
            self.error = error
        if isinstance(error, SlowClient):
            self._clear()
        self._ready.set()

    def _clear(self) -> None:
        if self.dropped > self._counted:
            STREAM_DROPPED.inc(self.dropped - self._counted)
            self._counted = self.dropped
        self._queue = deque()
        self._latest = None
        self._bytes = 0

    async def next_batch(self, wait_s: float) -> list[T]:
        """Every pending item, waiting up to ``wait_s`` seconds for one ([] when none came),
        after the gate if there is one (items conflate meanwhile, once behind). Raises the
        error that ended the stream."""
        if self.gate is not None and self.error is None:
            await self.gate()
        if self.is_behind and self.error is None and self._catch_up is not None:
            self.is_behind = False
            batch = self._catch_up(self)  # the newest of each key, and back in the fan-out
            weight = sum(map(self._weight, batch))
            if weight > self._max_bytes:  # one update per key: bounded in bytes alone
                error = SlowClient(f"{len(batch)} updates of {weight} bytes wait")
                self.fail(error)
                raise error
            self._ready.clear()
            return batch
        if not self._queue and not self._latest and self.error is None:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for drops a cancellation that
            # arrives just as the event is set (the cancelled stream would wait on)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self._ready.wait()
        self._ready.clear()
        if self.error is not None:
            raise self.error
        batch = list(self._queue) if self._latest is None else list(self._latest.values())
        self._clear()
        return batch

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._clear()
            self._on_close(self)


@dataclass(frozen=True)
class Watch:
    """What a watched read depends on: the keys, and the key prefixes, whose writes may change
    it (tracked: see ``keys.TRACKED_PREFIXES``), and whether it changes with the clock too (its
    watcher then also reads every ``ws_poll_interval``: a process going stale, a time window)."""

    keys: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    clock: bool = False


class Diff(Protocol[S, C]):
    """How a watcher's listeners follow its states change by change (instead of state by
    state): what changed between two states, worked out once for every listener."""

    def changes(self, old: S, new: S) -> list[C] | None:
        """The items telling what changed ([]: nothing); None when only a snapshot can."""

    def snapshot(self, state: S) -> C:
        """The item that carries a whole state: a listener's first, and what a listener that
        fell behind gets instead of what it missed."""

    def weight(self, item: C) -> int:
        """Bytes an item holds (a listener's bound)."""


class _Watcher:
    """One shared read, its listeners, and the last state it read (see ``StreamHub.watch``)."""

    def __init__(
        self,
        read: Callable[[], Awaitable[Any]],
        on: Watch | None,
        diff: Diff[Any, Any] | None,
        strict: bool,
    ) -> None:
        self.read = read
        self.on = on
        self.diff = diff
        self.strict = diff is not None or strict
        """A failed read fails the listeners that wait for their first item."""
        self.listeners: set[Listener[Any]] = set()
        self.joining: set[Listener[Any]] = set()
        """Listeners that wait for their first state: that of a read begun after they came."""
        self.state: Any = _NOTHING
        self.snapshot: Any = _NOTHING
        """``diff.snapshot(state)``, made once per state."""
        self.bytes = 0
        """What the snapshot weighs: the memory of the last state, counted."""
        self.dirty = asyncio.Event()
        """Set when what it reads may have changed (an invalidation, a listener came)."""
        self.resync = False
        """The next read goes out to every listener as a snapshot (tracking came back)."""
        self.mode: str | None = None
        """``pushed`` while tracking tells it of writes, else ``polled``."""
        self.stopped = False
        self.task: asyncio.Task[None] | None = None


@dataclass(frozen=True)
class TickerFeed:
    """Where a ticker listener's ticks may be read: ``read`` returns every tick it follows,
    stored bytes by (exchange, symbol); ``on`` names the tickers hashes (key or prefix)."""

    read: Callable[[], Awaitable[dict[tuple[str, str], bytes]]]
    on: Watch


class _Feed:
    """The ticks of one (exchange, symbols), read by a watcher, for their listeners."""

    def __init__(
        self,
        key: tuple[str | None, frozenset[str] | None],
        source: Listener[Any],
        ready: asyncio.Future[None],
    ) -> None:
        self.key = key
        self.source = source
        """The watcher's listener: its states, the newest when several wait."""
        self.ready = ready
        """Done when the first state is read (or the feed failed before it)."""
        self.users: set[Listener[TickerUpdate]] = set()
        self.known: dict[tuple[str, str], bytes] | None = None
        """The last state, which the next is compared with."""
        self.task: asyncio.Task[None] | None = None


class StreamHub:
    def __init__(
        self,
        make_pool: Callable[[], ConnectionPool],
        settings: Settings,
        cache: LocalCache | None = None,
        make_tracked: Callable[[int, Callable[[], None]], Tracked] | None = None,
    ) -> None:
        self._make_pool = make_pool
        self._make_tracked = make_tracked
        """What the local cache reads through, given this hub's ``CLIENT ID`` (where its
        connections' reports go) and what to call when one closes (see ``_track``)."""
        self._settings = settings
        self._cache = cache
        self._tickers: dict[str | None, set[Listener[TickerUpdate]]] = {}
        """Listeners of every symbol, by the exchange they follow (None: every exchange)."""
        self._by_symbol: dict[tuple[str, str], set[Listener[TickerUpdate]]] = {}
        """Listeners of named symbols, by (exchange, symbol): a publication touches only the
        listeners that want it."""
        self._symbols: dict[Listener[TickerUpdate], tuple[str | None, frozenset[str] | None]] = {}
        """Every ticker listener: the exchange and the symbols it follows."""
        self._clients: dict[str, int] = {}
        """Slotted streams per client address (``take_client``)."""
        self._last: dict[tuple[str, str], TickerUpdate] = {}
        """The newest publication of each (exchange, symbol) while ticker listeners are open:
        what a listener that fell behind is brought up to date with."""
        self._counts: dict[Hashable, int] = {}
        """Publications by (exchange, symbol), ("*", symbol), exchange and None (all), while
        ticker listeners are open: what a listener missed while behind."""
        self._behind: dict[Listener[TickerUpdate], int] = {}
        """The listeners behind, and their keys' publications when they fell behind."""
        self._feeds: dict[tuple[str | None, frozenset[str] | None], _Feed] = {}
        """The ticker feeds, by the (exchange, symbols) they read."""
        self._fed: dict[Listener[TickerUpdate], _Feed] = {}
        """The ticker listeners fed by a feed."""
        self._silent: set[Listener[TickerUpdate]] = set()
        """The ticker listeners of no symbol (v0.2.6 sent them nothing): neither fed nor
        following the publications. The others follow the publications."""
        self._inbox: deque[tuple[bytes | str, bytes | str]] = deque()
        """Publications read but not yet fanned out, in order (at most ``_INBOX`` items and four
        times ``stream_queue_bytes`` bytes; beyond either the oldest are dropped and counted)."""
        self._inbox_bytes = 0
        self._inbox_ready = asyncio.Event()
        self._slotted: set[Listener[Any]] = set()
        """The listeners that hold one of the ``max_streams`` slots (Server-Sent Events)."""
        self._pollers: dict[Hashable, _Watcher] = {}
        """The watchers, by what they read."""
        self._by_key: dict[str, set[_Watcher]] = {}
        self._by_prefix: dict[str, set[_Watcher]] = {}
        """The watchers of each watched key, and of each watched key prefix."""
        self._state_bytes = 0
        """What the watchers' last states weigh, together."""
        self._tracking_lost = False
        """Tracking held, then stopped: when it holds again, watchers send snapshots."""
        self._closing: set[Callable[[], None]] = set()
        """What to tell when the hub closes (``on_close``)."""
        self._ready: asyncio.Future[None] | None = None
        """Done when the current connection holds its subscriptions (or failed to)."""
        self._task: asyncio.Task[None] | None = None
        self._tracking_refused = False
        self._closed = False
        self._pubsub: PubSub | None = None
        """The current connection's pub/sub."""
        self._patterns = False
        """Whether it holds the ticker channels' patterns (while a stream is open)."""
        self._subscribing = asyncio.Lock()
        if cache is not None:
            cache.observe(self._invalidated)

    @property
    def listeners(self) -> int:
        return len(self._symbols)

    @property
    def pollers(self) -> int:
        return len(self._pollers)

    def _published(self) -> bool:
        """Whether a ticker listener follows the publications."""
        return len(self._symbols) > len(self._fed) + len(self._silent)

    def _wanted(self) -> bool:
        """Whether the connection should be up: open listeners, or the local cache, until
        closed. (Checked in every loop: redis-py may return a reply to a cancelled read, and
        the task then goes on.)"""
        if self._closed:
            return False
        return bool(self._symbols) or (self._cache is not None and not self._tracking_refused)

    def start(self) -> None:
        """Connect now (for the local cache), and stay connected while wanted; again when
        wanted again after the connection ended (no stream, and tracking refused)."""
        if (self._task is None or self._task.done()) and self._wanted():
            self._ready = asyncio.get_running_loop().create_future()
            self._task = asyncio.create_task(self._run(), name="stream hub")

    def listen_tickers(
        self,
        exchange: str | None,
        symbols: list[str] | None,
        *,
        slot: bool = True,
        feed: TickerFeed | None = None,
    ) -> Listener[TickerUpdate]:
        """A listener of the ticks of ``exchange`` (all when None) and ``symbols`` (all when
        None). With ``feed`` (and the ``ticker_feed`` setting ``tracked``, while tracking is not
        refused) they come from the feed's reads (see ``_feed``); else from the publications.
        Of no symbol (``[]``) it gets nothing, and costs neither reads nor publications (v0.2.6's
        WebSocket streams sent such a stream nothing). With ``slot`` it takes one of the
        process's ``max_streams`` slots: 503 ``too_many_streams`` when none is free (WebSocket
        streams are bounded per socket instead). Call ``await connected()`` next, and
        ``close()`` the listener on every path."""
        settings = self._settings
        if slot and len(self._slotted) >= settings.max_streams:
            raise TooManyStreams(f"at most {settings.max_streams} streams are served at once")
        wanted = None if symbols is None else frozenset(symbols)
        key = (exchange, wanted)
        silent = wanted == frozenset()
        tracked = settings.ticker_feed == "tracked" and self._cache is not None
        if silent or not tracked or self._tracking_refused:
            feed = None
        published = feed is None and not silent
        listener: Listener[TickerUpdate] = Listener(
            settings.stream_queue,
            self._remove,
            max_bytes=settings.stream_queue_bytes,
            key=_ticker_key,
            weight=_ticker_bytes,
            behind=self._fall_behind if published else None,  # fed: conflated to the newest
            catch_up=self._catch_up if published else None,  # tick of each symbol
        )
        self._symbols[listener] = key
        if feed is not None:
            fed = self._feeds.get(key) or self._feed(key, feed)
            self._fed[listener] = fed
            fed.users.add(listener)
        elif silent:
            self._silent.add(listener)
        else:
            self._index(listener)
        if slot:
            self._slotted.add(listener)
            STREAMS.inc()
        return listener

    def take_client(self, client: str) -> bool:
        """One of the ``max_streams_per_client`` slots of the client at this address (taken
        synchronously); ``give_client`` gives it back."""
        held = self._clients.get(client, 0)
        if held >= self._settings.max_streams_per_client:
            return False
        self._clients[client] = held + 1
        return True

    def give_client(self, client: str) -> None:
        held = self._clients.get(client, 0) - 1
        if held > 0:
            self._clients[client] = held
        else:
            self._clients.pop(client, None)

    def _index(self, listener: Listener[TickerUpdate]) -> None:
        """Into the fan-out: by exchange and symbol, or by exchange when it follows every
        symbol (or every exchange: filtered by symbol at each publication)."""
        exchange, wanted = self._symbols[listener]
        if exchange is None or wanted is None:
            self._tickers.setdefault(exchange, set()).add(listener)
        else:
            for symbol in wanted:
                self._by_symbol.setdefault((exchange, symbol), set()).add(listener)

    def _unindex(self, listener: Listener[TickerUpdate]) -> None:
        """Out of the fan-out (closed, or behind: ``_catch_up`` puts it back)."""
        exchange, wanted = self._symbols.get(listener, (None, None))
        group = self._tickers.get(exchange)
        if group is not None and listener in group:
            group.discard(listener)
            if not group:
                del self._tickers[exchange]
        elif exchange is not None:
            for symbol in wanted or ():
                group = self._by_symbol.get((exchange, symbol))
                if group is not None:
                    group.discard(listener)
                    if not group:
                        del self._by_symbol[exchange, symbol]

    def _published_for(self, listener: Listener[TickerUpdate]) -> int:
        """How many publications a listener's keys have had (while listeners were open)."""
        exchange, wanted = self._symbols[listener]
        counts = self._counts
        if wanted is None:
            return counts.get(exchange, 0)
        return sum(counts.get((exchange or "*", symbol), 0) for symbol in wanted)

    def _fall_behind(self, listener: Listener[TickerUpdate]) -> None:
        self._unindex(listener)
        self._behind[listener] = self._published_for(listener)

    def _catch_up(self, listener: Listener[TickerUpdate]) -> list[TickerUpdate]:
        """A listener that fell behind, back in the fan-out, and the newest update of each of
        its keys (as ``_last`` holds them); what it missed meanwhile is counted as dropped."""
        self._index(listener)
        exchange, wanted = self._symbols[listener]
        last = self._last
        if exchange is not None and wanted is not None:
            batch = [last[exchange, s] for s in wanted if (exchange, s) in last]
        else:
            batch = [
                update
                for (ex, symbol), update in last.items()
                if (exchange is None or ex == exchange) and (wanted is None or symbol in wanted)
            ]
        missed = self._published_for(listener) - self._behind.pop(listener, 0)
        listener.dropped += max(0, missed - len(batch))
        return batch

    def _feed(self, key: tuple[str | None, frozenset[str] | None], feed: TickerFeed) -> _Feed:
        """The feed of the ticker listeners of ``key`` (exchange, symbols): a watcher of what
        ``feed`` reads (read again when tracking reports a write to the tickers hashes it read,
        at most once per ``stream_coalesce``), whose states its pump compares: each tick that
        differs from the last state's goes to every listener. A tick costs Redis no message; a
        read costs what the ticks it reads cost, whatever the ticks written meanwhile."""
        source = self.watch(("ticker feed", key), feed.read, feed.on, strict=True)
        fed = self._feeds[key] = _Feed(key, source, asyncio.get_running_loop().create_future())
        fed.task = asyncio.create_task(self._pump(fed), name=f"ticker feed {key!r}")
        return fed

    async def fed(self, listener: Listener[TickerUpdate]) -> None:
        """Wait until the feed of ``listener`` (if it has one) holds its first state: a tick
        written from then on reaches it. Raises what ended the feed."""
        fed = self._fed.get(listener)
        if fed is not None:
            await asyncio.shield(fed.ready)

    async def _pump(self, fed: _Feed) -> None:
        """A feed's states to its listeners: the first is where it starts (``ready``); then
        each tick that differs from the one before (or is new), in the state's order."""
        while not cancel_requested():
            try:
                states = await fed.source.next_batch(_POLL_S)
            except Exception as exc:  # the hub closed: its listeners' streams end
                for listener in list(fed.users):
                    listener.fail(exc)
                if not fed.ready.done():
                    fed.ready.set_exception(exc)
                    fed.ready.exception()  # retrieved: the waiters re-raise it from the shield
                return
            if not states:
                continue
            state: dict[tuple[str, str], bytes] = states[-1]
            old, fed.known = fed.known, state
            watcher = self._pollers.get(("ticker feed", fed.key))
            if watcher is not None:  # what the state holds counts against the watchers' bound
                self._weigh(watcher, sum(len(raw) + len(s) + 64 for (_, s), raw in state.items()))
            if old is None:
                fed.ready.set_result(None)
                continue
            served = 0
            for (exchange, symbol), raw in state.items():
                if old.get((exchange, symbol)) == raw:
                    continue
                for listener in list(fed.users):
                    listener.push((exchange, symbol, raw))
                served += len(fed.users)
                if served >= _YIELD_EVERY:
                    served = 0
                    await asyncio.sleep(0)

    def _remove(self, listener: Listener[TickerUpdate]) -> None:
        self._unindex(listener)
        self._behind.pop(listener, None)
        self._symbols.pop(listener, None)
        self._silent.discard(listener)
        fed = self._fed.pop(listener, None)
        if fed is not None:
            fed.users.discard(listener)
            if not fed.users:  # the feed's last listener: its watcher and pump stop
                del self._feeds[fed.key]
                fed.source.close()
                if fed.task is not None:
                    fed.task.cancel()
        if not self._symbols:
            self._last.clear()
            self._counts.clear()
        if listener in self._slotted:
            self._slotted.discard(listener)
            STREAMS.dec()
        if not self._wanted():
            self._stop()

    def watch(
        self,
        key: Hashable,
        read: Callable[[], Awaitable[Any]],
        on: Watch | None = None,
        diff: Diff[Any, Any] | None = None,
        *,
        slot: bool = False,
        strict: bool = False,
    ) -> Listener[Any]:
        """A listener of the one watcher of ``key`` (made with ``read``, ``on`` and ``diff`` by
        its first listener; the same key must mean the same read). Its first item comes from a
        read begun after it came: the state ``read`` returns, or with ``diff`` its snapshot;
        then every state that differs from the last, or with ``diff`` the changes between two
        states (a listener that falls behind its bounds gets a fresh snapshot instead). A
        watcher reads when tracking reports a write to what it watches (``on``), at most once
        per ``stream_coalesce``; without tracking (or without ``on``) every
        ``ws_poll_interval``. With ``slot`` the listener takes one of the process's
        ``max_streams`` slots. 503 ``too_many_streams`` past either bound, or past
        ``MAX_WATCHERS`` watchers (or the bytes their states may hold). A failed read fails
        the listeners waiting for their first item with ``diff`` or ``strict`` (else they wait
        for the next read). ``close()`` it on every path: the watcher stops with its last
        listener."""
        settings = self._settings
        if slot and len(self._slotted) >= settings.max_streams:
            raise TooManyStreams(f"at most {settings.max_streams} streams are served at once")
        watcher = self._pollers.get(key)
        if watcher is None:
            if len(self._pollers) >= MAX_WATCHERS:
                raise TooManyStreams(f"at most {MAX_WATCHERS} distinct streams are watched")
            if self._state_bytes >= settings.local_cache_mb * 2**20:
                raise TooManyStreams("the watched streams' states hold their most bytes")
            watcher = self._pollers[key] = _Watcher(read, on, diff, strict)
            for name in on.keys if on is not None else ():
                self._by_key.setdefault(name, set()).add(watcher)
            for prefix in on.prefixes if on is not None else ():
                self._by_prefix.setdefault(prefix, set()).add(watcher)
            watcher.task = asyncio.create_task(self._poll(watcher), name=f"watcher {key!r}")
            POLLERS.inc()
        close = functools.partial(self._unpoll, key)
        listener: Listener[Any]
        if watcher.diff is None:  # conflated to the newest state
            listener = Listener(settings.stream_queue, close)
        else:  # in order; behind: a fresh snapshot
            listener = Listener(
                settings.stream_queue,
                close,
                max_bytes=settings.stream_queue_bytes,
                weight=watcher.diff.weight,
                behind=_stay,
                catch_up=lambda _: [watcher.snapshot],
            )
        watcher.joining.add(listener)
        watcher.dirty.set()
        if slot:
            self._slotted.add(listener)
            STREAMS.inc()
        if self._closed:
            listener.fail(HubClosed("the server is shutting down"))
        return listener

    def _unpoll(self, key: Hashable, listener: Listener[Any]) -> None:
        if listener in self._slotted:
            self._slotted.discard(listener)
            STREAMS.dec()
        watcher = self._pollers.get(key)
        if watcher is None:
            return
        watcher.listeners.discard(listener)
        watcher.joining.discard(listener)
        if watcher.listeners or watcher.joining:
            return
        del self._pollers[key]
        watcher.stopped = True
        POLLERS.dec()
        self._set_mode(watcher, None)
        self._weigh(watcher, 0)
        on = watcher.on or Watch()
        for name, index in [(k, self._by_key) for k in on.keys] + [
            (p, self._by_prefix) for p in on.prefixes
        ]:
            group = index.get(name)
            if group is not None:
                group.discard(watcher)
                if not group:
                    del index[name]
        if watcher.task is not None:
            watcher.task.cancel()

    def _invalidated(self, changed: list[str] | None) -> None:
        """The local cache's invalidations: the watchers of a written key read again. None
        (everything may have changed: a flush, tracking lost or set up again): every watcher
        reads again, and when tracking holds again after it was lost, sends its listeners a
        fresh snapshot."""
        if changed is None:
            on = self._cache is not None and self._cache.on
            resync, self._tracking_lost = on and self._tracking_lost, not on
            for watcher in self._pollers.values():
                watcher.resync = watcher.resync or resync
                watcher.dirty.set()
            return
        self.keys_changed(sorted(changed))

    def keys_changed(self, changed: list[str]) -> None:
        """Keys written (the invalidations above), or added to or dropped from the key index
        (tracking reports writes only to keys read, so not a new key's), sorted: their
        watchers, and the watchers of a prefix that holds one, read again."""
        for key in changed:
            for watcher in self._by_key.get(key, ()):
                watcher.dirty.set()
        for prefix, group in self._by_prefix.items():
            at = bisect_left(changed, prefix)
            if at < len(changed) and changed[at].startswith(prefix):
                for watcher in group:
                    watcher.dirty.set()

    async def _poll(self, watcher: _Watcher) -> None:
        """A watcher's reads: one when something it watches may have changed, at most one per
        ``stream_coalesce``; a failed read is tried again at the next (logged once per
        outage), and fails the listeners of a ``diff`` that wait for their first item."""
        loop = asyncio.get_running_loop()
        failing = False
        while not watcher.stopped and not cancel_requested():
            watcher.dirty.clear()
            began = loop.time()
            resync, watcher.resync = watcher.resync, False
            joining = list(watcher.joining)
            try:
                state = await watcher.read()
            except Exception as exc:
                if not failing:  # logged once per outage, not every read
                    log.warning("watched read failed, retrying: %r", exc)
                failing = True
                if watcher.strict:  # their streams answer the error
                    for listener in joining:
                        watcher.joining.discard(listener)
                        listener.fail(exc)
            else:
                failing = False
                self._publish(watcher, state, joining, resync)
            await self._next_read(watcher, began)

    def _publish(
        self, watcher: _Watcher, state: Any, joining: list[Listener[Any]], resync: bool
    ) -> None:
        """A state read: what changed to the listeners, the state itself to those joining."""
        diff = watcher.diff
        old, watcher.state = watcher.state, state
        first: Any = state
        if diff is None:
            if old is _NOTHING or state != old:
                for listener in watcher.listeners:
                    listener.push(state)
        else:
            first = watcher.snapshot = diff.snapshot(state)
            self._weigh(watcher, diff.weight(first))
            changes = None if old is _NOTHING or resync else diff.changes(old, state)
            for listener in watcher.listeners:
                for item in [first] if changes is None else changes:
                    listener.push(item)
        for listener in joining:
            if listener in watcher.joining:  # not closed meanwhile
                watcher.joining.discard(listener)
                watcher.listeners.add(listener)
                listener.push(first)

    async def _next_read(self, watcher: _Watcher, began: float) -> None:
        """Wait until what the watcher reads may have changed (tracking reports a write to
        it), or, without tracking, for the poll interval; then until ``stream_coalesce``
        from when the last read began."""
        settings, cache, on = self._settings, self._cache, watcher.on
        pushed = on is not None and cache is not None and cache.on
        self._set_mode(watcher, "pushed" if pushed else "polled")
        wait = None if pushed and on is not None and not on.clock else settings.ws_poll_interval
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await watcher.dirty.wait()
        rest = began + settings.stream_coalesce - asyncio.get_running_loop().time()
        if rest > 0:
            await asyncio.sleep(rest)

    def _set_mode(self, watcher: _Watcher, mode: str | None) -> None:
        if mode != watcher.mode:
            if watcher.mode is not None:
                WATCHERS.labels(watcher.mode).dec()
            if mode is not None:
                WATCHERS.labels(mode).inc()
            watcher.mode = mode

    def _weigh(self, watcher: _Watcher, size: int) -> None:
        self._state_bytes += size - watcher.bytes
        watcher.bytes = size
        WATCHED_BYTES.set(self._state_bytes)

    def on_close(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` once when the hub closes (at once if it is closed); returns what
        forgets it."""
        if self._closed:
            callback()
            return lambda: None
        self._closing.add(callback)
        return functools.partial(self._closing.discard, callback)

    async def connected(self) -> None:
        """Wait until the hub's connection is up and subscribed to the ticker channels (opened
        by the first caller, shared by the others); raises the Redis error when it cannot, and
        ``HubClosed`` once the hub is closed."""
        if self._closed:
            raise HubClosed("the server is shutting down")
        self.start()
        if self._task is None or self._task.done():  # not wanted: nothing to wait for
            return
        assert self._ready is not None
        await asyncio.shield(self._ready)
        pubsub = self._pubsub
        if pubsub is not None and not self._patterns and self._published():
            async with self._subscribing:
                if not self._patterns:
                    await pubsub.psubscribe(*keys.TICKER_CHANNEL_PATTERNS)
                    self._patterns = True

    async def _run(self) -> None:
        backoff = 0.1
        failed = 0  # connections tried in vain since the last one that worked
        me = asyncio.current_task()
        while self._task is me and self._wanted() and not cancel_requested():
            ready = self._ready
            if ready is None or ready.done():
                ready = self._ready = asyncio.get_running_loop().create_future()
            try:
                await self._session(ready)
                return
            except RedisError as exc:
                # One line when the connection is lost (or the first try fails); then, with the
                # backoff at its ceiling, one at 8, 16, 32... failed tries: a long outage writes
                # a few lines, not one per retry.
                connected = ready.done() and not ready.cancelled() and ready.exception() is None
                failed = 0 if connected else failed + 1
                if connected or failed == 1 or (backoff >= 5.0 and failed & (failed - 1) == 0):
                    what = "connection lost" if connected else f"cannot connect (attempt {failed})"
                    log.warning(
                        "stream hub %s, Redis at %s (%s: %s): streams end, the local cache is off "
                        "until the hub is back; retrying, at most every 5 s",
                        what,
                        self._settings.redis_address,
                        type(exc).__name__,
                        exc,
                    )
                if not ready.done():
                    ready.set_exception(exc)
                    ready.exception()  # retrieved: waiters re-raise it from the shield
                for listener in self._symbols:  # fed or not: a ticker stream ends with it
                    listener.fail(exc)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def _session(self, ready: asyncio.Future[None]) -> None:
        """One connection: subscribe, then read until it is no longer wanted (returns) or
        fails (raises)."""
        pool = self._make_pool()
        pubsub = PubSub(pool)
        cache = self._cache
        self._pubsub, self._patterns = pubsub, False
        fan_out: asyncio.Task[None] | None = None
        tracked: Tracked | None = None
        try:
            if cache is not None and not self._tracking_refused:
                tracked = await self._track(pool, pubsub, cache)
            if self._published():  # the ticker channels only while a stream follows them
                await pubsub.psubscribe(*keys.TICKER_CHANNEL_PATTERNS)
                self._patterns = True
            ready.set_result(None)
            if cache is not None and tracked is not None:
                cache.start(pubsub.ping, tracked)
            fan_out = asyncio.create_task(self._fan_out(), name="stream hub fan-out")
            silent = 0
            loop = asyncio.get_running_loop()
            me = asyncio.current_task()
            # This loop only reads: publications wait in the inbox for the fan-out task, so
            # reading never waits behind the listeners, and the heartbeat counts empty reads
            # (each a wait with nothing to read), not the clock a busy loop makes late.
            while self._task is me and self._wanted() and not cancel_requested():
                if self._patterns and not self._published():
                    await pubsub.punsubscribe(*keys.TICKER_CHANNEL_PATTERNS)
                    self._patterns = False
                started = loop.time()
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=_POLL_S)
                if message is not None:
                    silent = 0
                    self._handle(message)
                elif loop.time() - started >= 0.9 * _POLL_S:  # a whole wait with nothing to read
                    silent += 1
                    if silent >= _SILENT_READS:  # pings unanswered: the connection is gone
                        raise RedisConnectionError("the stream hub's heartbeat went unanswered")
                    await pubsub.ping()
        finally:
            if fan_out is not None:
                fan_out.cancel()
            self._inbox.clear()
            self._inbox_bytes = 0
            self._pubsub, self._patterns = None, False
            if self._ready is ready and ready.done():  # a stream opened from now on waits
                self._ready = asyncio.get_running_loop().create_future()  # for the next one
            if cache is not None:
                cache.stop()
            await _close_all(tracked, pubsub, pool)

    async def _track(
        self, pool: ConnectionPool, pubsub: PubSub, cache: LocalCache
    ) -> Tracked | None:
        """Client tracking redirected to this connection, the subscription its messages arrive
        on, and the client the local cache reads through (``make_tracked``: each of its
        connections tracks the keys it reads); None when tracking is refused.

        Redis reports the next write to a key a tracked connection read, once: a write to a
        key nobody read since costs Redis nothing more. No broadcast mode (``BCAST``): Redis
        would compare every key any client writes with its prefixes, a cost on every write of
        the trading system (benchmarks/README.md, finding 5); new keys are found by the key
        index's walks instead. This connection turns tracking on too (it reads no key): a
        refusal by ACL is seen here, logged and counted once; the local cache then stays off
        (every read goes to Redis)."""
        # The pool's one connection, which the pub/sub then takes.
        connection = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await connection.send_command("CLIENT", "ID")
            own_id = await connection.read_response()
            await connection.send_command("CLIENT", "TRACKING", "ON", "REDIRECT", own_id)
            await connection.read_response()
        except NoPermissionError as exc:
            self._tracking_refused = True
            LOCAL_CACHE_EVENTS.labels("refused").inc()
            log.warning(
                "local cache off: the Redis user may not run CLIENT ID / CLIENT TRACKING (%s); "
                "every read goes to Redis (see the ACL line in the README)",
                exc,
            )
            return None
        finally:
            await pool.release(connection)
        await pubsub.subscribe(keys.INVALIDATION_CHANNEL)
        assert self._make_tracked is not None, "a hub with a local cache reads through it"
        return self._make_tracked(int(own_id), cache.flush)

    def _handle(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "pmessage":
            inbox, data = self._inbox, message["data"]
            inbox.append((message["channel"], data))
            self._inbox_bytes += len(data)
            while len(inbox) > _INBOX or self._inbox_bytes > 4 * self._settings.stream_queue_bytes:
                self._inbox_bytes -= len(inbox.popleft()[1])  # the fan-out is far behind
                STREAM_DROPPED.inc()
            self._inbox_ready.set()
        elif kind == "pong" and self._cache is not None:
            data = message["data"]
            self._cache.pong(keys.binary(data))
        elif kind == "message" and self._cache is not None:
            changed = message["data"]
            if changed is None:  # FLUSHALL / FLUSHDB: everything changed
                self._cache.flush()
            else:
                self._cache.invalidate(text(key) for key in changed)

    async def _fan_out(self) -> None:
        """Publications from the inbox to the listeners that want them, yielding to the loop
        every ``_YIELD_EVERY`` listeners (the read loop and requests go on during a big
        fan-out)."""
        inbox, served = self._inbox, 0
        while True:
            if not inbox:
                self._inbox_ready.clear()
                await self._inbox_ready.wait()
                continue
            channel, data = inbox.popleft()
            self._inbox_bytes -= len(data)
            parsed = keys.parse_ticker_channel(text(channel))
            if parsed is None:
                continue
            if not self._symbols:
                continue
            exchange, symbol = parsed
            update = (exchange, symbol, keys.binary(data))
            self._last[exchange, symbol] = update
            counts = self._counts
            for key in ((exchange, symbol), ("*", symbol), exchange, None):
                counts[key] = counts.get(key, 0) + 1
            for listener in self._wanting(exchange, symbol):
                if not listener.closed:
                    listener.push(update)
                served += 1
                if served >= _YIELD_EVERY:
                    served = 0
                    await asyncio.sleep(0)

    def _wanting(self, exchange: str, symbol: str) -> list[Listener[TickerUpdate]]:
        """The listeners of this publication (a copy: the sets may change during a yield)."""
        found = [*self._by_symbol.get((exchange, symbol), ()), *self._tickers.get(exchange, ())]
        for listener in self._tickers.get(None, ()):
            wanted = self._symbols[listener][1]
            if wanted is None or symbol in wanted:
                found.append(listener)
        return found

    def _stop(self) -> None:
        task, self._task, self._ready = self._task, None, None
        if task is not None:
            task.cancel()

    async def aclose(self) -> None:
        """End every listener's stream, the pollers and the connection, for good, and tell
        whoever asked (``on_close``)."""
        self._closed = True
        closed = HubClosed("the server is shutting down")
        ready = self._ready
        for listener in list(self._symbols):
            listener.fail(closed)
        tasks = [self._task, *(fed.task for fed in self._feeds.values())]
        self._stop()
        for key, watcher in list(self._pollers.items()):
            for listener in [*watcher.listeners, *watcher.joining]:
                listener.fail(closed)
                self._unpoll(key, listener)
            tasks.append(watcher.task)
        for callback in list(self._closing):
            callback()
        self._closing.clear()
        for task in tasks:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if ready is not None and not ready.done():  # no caller waits for a connection for ever
            ready.set_exception(closed)
            ready.exception()


async def _close_all(*closable: Any) -> None:
    """Close each of ``closable`` (None: nothing) whatever the others' failures."""
    for item in closable:
        if item is not None:
            with contextlib.suppress(RedisError, OSError):
                await item.aclose()


def _ticker_bytes(update: TickerUpdate) -> int:
    return len(update[2]) + len(update[1]) + 64  # the tick, its symbol, the tuple's own share
