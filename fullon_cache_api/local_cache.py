"""The local cache: replies of reads kept in this process while Redis says they are unchanged.

Redis's client-side caching, in broadcast mode: the stream hub's connection runs ``CLIENT
TRACKING ON REDIRECT <its own id> BCAST PREFIX ...`` over every key family the API reads, and
Redis then tells it of every write to any key under those prefixes, by any client (writers
that never PUBLISH included), on ``__redis__:invalidate``. A reply read from a tracked key is
kept until such a message names the key.

Never stale beyond the delivery of that message:
- a kept reply is served only while no message from Redis waits unread on the hub's
  connection (in the kernel's buffer or asyncio's; when one does, the read lets the hub apply
  it first): Redis sends the message in the same turn of its event loop as its answer to the
  write (microseconds apart), so a read that begins after a write was acknowledged does not
  get the older reply;
- a read in flight when one of its keys is invalidated is not kept (``Read.keep`` refuses);
- the cache serves only while tracking is known to hold: the hub flushes it and turns it off
  when its connection drops or tracking cannot be set up, and on again once it is;
- only keys under the tracked prefixes are kept (no message would come for the others);
- a reply of a key with a TTL is served only until that time (Redis reports an expired key when
  it deletes it, which may come well after).

Bounded by bytes (estimated), the least recently used going first.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from . import keys
from .metrics import LOCAL_CACHE_BYTES, LOCAL_CACHE_ENTRIES, LOCAL_CACHE_EVENTS

__all__ = ["MISS", "LocalCache", "Read"]

T = TypeVar("T")

_HITS, _MISSES, _INVALIDATIONS, _EVICTIONS = (
    LOCAL_CACHE_EVENTS.labels(event) for event in ("hit", "miss", "invalidation", "evicted")
)
MISS: Any = object()
"""What ``LocalCache.get`` gives for a command it does not hold."""
_SETTLE_TURNS = 4
"""Turns of the event loop a read waits for the hub to read a message waiting for it."""
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


class LocalCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.on = False
        """Tracking holds: the hub set it up and its connection is up."""
        self._entries: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
        self._by_key: dict[str, set[tuple[Any, ...]]] = {}
        self._reads: dict[str, list[Read]] = {}
        self._unread: Callable[[], bool] = lambda: True
        """Whether a message from Redis waits unread on the hub's connection."""
        self.hits = self.misses = self.invalidations = 0
        self._observers: list[Callable[[list[str] | None], None]] = []

    def observe(self, observer: Callable[[list[str] | None], None]) -> None:
        """Tell ``observer`` the keys of every invalidation (None: a flush, or tracking set up:
        anything may have changed): the key index learns of new keys from them."""
        self._observers.append(observer)

    def __len__(self) -> int:
        return len(self._entries)

    # the read path ---------------------------------------------------------------------------

    def ready(self) -> bool:
        """Serving, and no message from Redis waits unread: every write acknowledged before
        now is applied (a kept reply may be served)."""
        return self.on and not self._unread()

    async def settle(self) -> bool:
        """``ready``, after a few turns of the loop at most: when a message waits, the hub reads
        it at once. (Reading then, rather than at once, is what keeps the first read after a
        write: the invalidation of that write no longer arrives while it is in flight.)"""
        for _ in range(_SETTLE_TURNS):
            if not self.on:
                return False
            if not self._unread():
                return True
            await asyncio.sleep(0)
        return self.ready()

    def get(self, command: tuple[Any, ...]) -> Any:
        """The kept reply of ``command``, or ``MISS``; only once ``ready``."""
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

    def start(self, unread: Callable[[], bool]) -> None:
        """Tracking holds from now on (the hub has set it up); ``unread`` tells whether a
        message waits unread on the hub's connection."""
        self._unread = unread
        self.on = True
        for observer in self._observers:  # what was written before is not known
            observer(None)

    def stop(self) -> None:
        """Tracking no longer holds: forget everything; reads go to Redis until ``start``."""
        self.on = False
        self._unread = lambda: True
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
