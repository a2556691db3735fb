"""The local cache: replies of reads kept in this process while Redis says they are unchanged.

Redis's client-side caching: while the cache serves, reads go through connections that run
``CLIENT TRACKING ON REDIRECT <the stream hub's connection>`` (``redis_clients.TrackedReads``),
so Redis remembers each key they read and tells the hub of its next write, by any client
(writers that never PUBLISH included), on ``__redis__:invalidate``: once, and only for a key
read since its last write (a write nobody read before costs Redis nothing more). A kept reply
is dropped when such a message names one of its keys.

Never stale: a read that begins after a write was acknowledged does not get the older reply.
- before it serves a kept reply, a read waits for one round trip on the hub's connection (a
  ``PING`` that the hub sends and reads like its other messages): Redis answers it after every
  message it owed that connection, so the invalidation of any write acknowledged before the read
  began has been applied by then. One round trip serves every read that began while the one
  before it was in flight (``settle``); a round trip not answered within ``SYNC_S`` sends the
  read to Redis instead;
- a read in flight when one of its keys is invalidated is not kept (``Read.keep`` refuses);
- the cache serves only while tracking is known to hold: the hub flushes it and turns it off
  when its connection drops or tracking cannot be set up, and on again once it is; and it
  forgets everything when a connection that read for it closes, here or by the server (Redis
  reports nothing for the keys a closed connection read): checked after the round trip,
  before a kept reply is served;
- only keys under the tracked prefixes are kept;
- a reply of a key with a TTL is served only until that time (Redis reports an expired key when
  it deletes it, which may come well after).

Bounded by bytes (estimated), the least recently used going first.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from . import keys
from .metrics import LOCAL_CACHE_BYTES, LOCAL_CACHE_ENTRIES, LOCAL_CACHE_EVENTS

__all__ = ["MISS", "LocalCache", "Read", "Tracked", "TrackingLost"]

T = TypeVar("T")

_HITS, _MISSES, _INVALIDATIONS, _EVICTIONS = (
    LOCAL_CACHE_EVENTS.labels(event) for event in ("hit", "miss", "invalidation", "evicted")
)
MISS: Any = object()
"""What ``LocalCache.get`` gives for a command it does not hold."""
SYNC_S = 1.0
"""Seconds a read waits for the hub's round trip before it reads Redis instead (the hub's
heartbeat finds a connection gone in a few seconds, and turns the cache off then)."""
_ENTRY_OVERHEAD = 200  # bytes an entry costs beyond its stored values (its key, the index)
# The read commands whose replies are kept: each names its keys (see ``keys_of``).
_SINGLE_KEY = frozenset(
    {"GET", "HGET", "HMGET", "HGETALL", "HLEN", "HSCAN", "LRANGE", "LLEN", "LINDEX", "EXISTS"}
)


def keys_of(command: Sequence[Any]) -> tuple[str, ...] | None:
    """The keys a read command reads, when its reply may be kept: every key tracked."""
    name = command[0]
    if name in _SINGLE_KEY and len(command) > 1:
        found: tuple[str, ...] = (command[1],) if name != "EXISTS" else tuple(command[1:])
    elif name == "MGET":
        found = tuple(command[1:])
    else:
        return None
    return found if all(keys.is_tracked(key) for key in found) else None


class _Entry:
    """A kept reply, and what was worked out from it (see ``LocalCache.derive``)."""

    __slots__ = ("cost", "derived", "expires", "keys", "reply", "size")

    def __init__(
        self, reply: Any, cost: int, read_keys: tuple[str, ...], expires: float | None
    ) -> None:
        self.reply = reply
        self.size = self.cost = cost
        """Bytes it holds (estimated), with what was derived (``size`` each)."""
        self.keys = read_keys
        self.expires = expires
        """``time.monotonic()`` at which a key it read expires (None: none has a TTL)."""
        self.derived: dict[Callable[..., Any], Any] = {}


class Read:
    """A read of the keys ``keys`` in flight: keep its reply only if none was invalidated."""

    __slots__ = ("_cache", "dirty", "keys")

    def __init__(self, cache: LocalCache, read_keys: tuple[str, ...]) -> None:
        self._cache = cache
        self.keys = read_keys
        self.dirty = False

    def keep(self, command: tuple[Any, ...], reply: Any, size: int, ttls: list[Any]) -> None:
        """Keep ``reply`` (of ``size`` bytes of values) unless a key was invalidated meanwhile
        or the reply is an error; ``ttls``: each key's PTTL, read with it."""
        self._cache._close(self)
        if self.dirty or isinstance(reply, Exception) or not all(isinstance(t, int) for t in ttls):
            return
        left = [ttl for ttl in ttls if ttl >= 0]  # -1: no TTL, -2: no key
        expires = time.monotonic() + min(left) / 1000 if left else None
        self._cache._put(command, self.keys, reply, size, expires)

    def drop(self) -> None:
        self._cache._close(self)


class TrackingLost(RedisConnectionError):
    """A tracked connection could not be opened: the hub's connection its reports go to is
    gone. The cache is then off until the hub is back; the read goes to Redis directly."""


class Tracked(Protocol):
    """What the cache reads through while it serves (``redis_clients.TrackedReads``): a client
    whose connections track what they read, and whether one of them was lost."""

    client: Redis

    def lost(self) -> bool: ...

    async def aclose(self) -> None: ...


class LocalCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.on = False
        """Tracking holds: the hub set it up and its connection is up."""
        self.tracked: Tracked | None = None
        """What reads go through while ``on`` (``start``)."""
        self._entries: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
        self._by_key: dict[str, set[tuple[Any, ...]]] = {}
        self._reads: dict[str, list[Read]] = {}
        self._ping: Callable[[bytes], Awaitable[Any]] | None = None
        """Sends a ``PING`` with its token on the hub's connection (see ``settle``)."""
        self._tokens = itertools.count()
        self._sent: tuple[bytes, asyncio.Future[bool]] | None = None
        """The round trip in flight: its token, and the reads waiting for its answer."""
        self._next: asyncio.Future[bool] | None = None
        """The reads that began while a round trip was in flight: they wait for the next."""
        self._sending: set[asyncio.Future[Any]] = set()
        self.hits = self.misses = self.invalidations = 0
        self._observers: list[Callable[[list[str] | None], None]] = []

    def observe(self, observer: Callable[[list[str] | None], None]) -> None:
        """Tell ``observer`` the keys of every invalidation (None: a flush, or tracking set up:
        anything may have changed): the key index learns of new keys from them."""
        self._observers.append(observer)

    def __len__(self) -> int:
        return len(self._entries)

    # the read path ---------------------------------------------------------------------------

    async def settle(self) -> bool:
        """True once every write Redis acknowledged before this call is applied here (a kept
        reply may then be served): the answer to a ``PING`` sent on the hub's connection after
        the call began, and no tracked connection lost. False when the cache is off, the answer
        is late (``SYNC_S``), or a tracked connection was lost (the cache then forgot all)."""
        if not self.on:
            return False
        waiting = self._next
        if waiting is None:
            waiting = self._next = asyncio.get_running_loop().create_future()
            if self._sent is None:
                self._send()
        try:
            async with asyncio.timeout(SYNC_S):
                settled = await asyncio.shield(waiting)
        except TimeoutError:
            return False
        tracked = self.tracked
        return settled and self.on and tracked is not None and not tracked.lost()

    def _send(self) -> None:
        """The waiting reads' round trip: a ``PING`` with a token of its own."""
        assert self._ping is not None and self._next is not None
        token = b"fullon-cache-api-sync-%d" % next(self._tokens)
        self._sent, self._next = (token, self._next), None
        task = asyncio.ensure_future(self._ping(token))
        self._sending.add(task)
        task.add_done_callback(self._sent_off)

    def _sent_off(self, task: asyncio.Future[Any]) -> None:
        self._sending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._end_rounds()  # the hub's connection failed: the hub turns the cache off

    def pong(self, data: bytes) -> None:
        """The hub read the answer to a ``PING`` (``data``: its token): the reads waiting for
        it go on, and the next round trip is sent for those that began meanwhile."""
        sent = self._sent
        if sent is None or data != sent[0]:
            return  # the hub's own heartbeat, or a round trip given up
        self._sent = None
        if not sent[1].done():
            sent[1].set_result(True)
        if self._next is not None:
            self._send()

    def _end_rounds(self) -> None:
        for waiting in (self._sent[1] if self._sent else None, self._next):
            if waiting is not None and not waiting.done():
                waiting.set_result(False)
        self._sent = self._next = None

    def get(self, command: tuple[Any, ...]) -> Any:
        """The kept reply of ``command``, or ``MISS``; only once ``settle`` said so."""
        found = self._entries.get(command)
        if found is None or (found.expires and time.monotonic() >= found.expires):
            return MISS
        self._entries.move_to_end(command)
        self.hits += 1
        _HITS.inc()
        return found.reply

    def derive(
        self, command: tuple[Any, ...], reply: Any, work: Callable[[tuple[Any, ...], Any], T]
    ) -> T:
        """``work(command, reply)``, worked out once for as long as ``reply`` is the kept reply
        of ``command`` (a sort, a decode, a digest); counted as large as the reply."""
        found = self._entries.get(command)
        if found is None or found.reply is not reply:
            return work(command, reply)
        try:
            derived: T = found.derived[work]
        except KeyError:
            derived = found.derived[work] = work(command, reply)
            found.cost += found.size
            self.bytes += found.size
            self._evict()
        return derived

    def open(self, command: Sequence[Any]) -> Read | None:
        """A read of ``command`` about to be sent, when its reply may be kept."""
        if not self.on:
            return None
        read_keys = keys_of(command)
        if read_keys is None:
            return None
        self.misses += 1
        _MISSES.inc()
        read = Read(self, read_keys)
        for key in read_keys:
            self._reads.setdefault(key, []).append(read)
        return read

    def _close(self, read: Read) -> None:
        for key in read.keys:
            _discard(self._reads, key, read)

    def _put(
        self,
        command: tuple[Any, ...],
        read_keys: tuple[str, ...],
        reply: Any,
        size: int,
        expires: float | None,
    ) -> None:
        cost = size + _ENTRY_OVERHEAD + sum(len(key) for key in read_keys)
        if not self.on or cost > self.max_bytes // 4:  # one entry never crowds the others out
            return
        self._remove(command)
        self._entries[command] = _Entry(reply, cost, read_keys, expires)
        for key in read_keys:
            self._by_key.setdefault(key, set()).add(command)
        self.bytes += cost
        self._evict()

    def _evict(self) -> None:
        while self.bytes > self.max_bytes:
            self._remove(next(iter(self._entries)))
            _EVICTIONS.inc()
        self._measure()

    # the invalidation path (the hub) -----------------------------------------------------------

    def invalidate(self, changed: Iterable[str]) -> None:
        """Keys Redis says were written (or expired, or deleted)."""
        changed = list(changed)
        for observer in self._observers:
            observer(changed)
        for key in changed:
            for read in self._reads.get(key, ()):
                read.dirty = True
            for command in self._by_key.pop(key, ()):
                self._remove(command)
            self.invalidations += 1
            _INVALIDATIONS.inc()
        self._measure()

    def start(self, ping: Callable[[bytes], Awaitable[Any]], tracked: Tracked) -> None:
        """Tracking holds from now on (the hub has set it up); ``ping`` sends a ``PING`` with
        the token given on the hub's connection, whose answer the hub passes to ``pong``;
        reads go through ``tracked`` (what its connections read is reported)."""
        self._ping = ping
        self.tracked = tracked
        self.on = True
        for observer in self._observers:  # what was written before is not known
            observer(None)

    def stop(self) -> None:
        """Tracking no longer holds: forget everything; reads go to Redis until ``start``."""
        self.on = False
        self._ping = None
        self.tracked = None
        self._end_rounds()
        self.flush()

    def flush(self) -> None:
        """Forget every reply, and every read in flight (Redis was flushed, or tracking lost)."""
        for reads in self._reads.values():
            for read in reads:
                read.dirty = True
        self._entries.clear()
        self._by_key.clear()
        self.bytes = 0
        for observer in self._observers:
            observer(None)
        LOCAL_CACHE_EVENTS.labels("flush").inc()
        self._measure()

    def _remove(self, command: tuple[Any, ...]) -> None:
        found = self._entries.pop(command, None)
        if found is None:
            return
        self.bytes -= found.cost
        for key in found.keys:
            _discard(self._by_key, key, command)

    def _measure(self) -> None:
        LOCAL_CACHE_ENTRIES.set(len(self._entries))
        LOCAL_CACHE_BYTES.set(self.bytes)


def _discard(by_key: dict[str, Any], key: str, item: Any) -> None:
    """``item`` out of the collection of ``key`` (a list or a set), and the key with its last."""
    items = by_key.get(key)
    if items is not None and item in items:
        items.remove(item)
        if not items:
            del by_key[key]
