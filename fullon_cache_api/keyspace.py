"""What the API knows of the keyspace: the keys of fullon_cache's families (the key index), and
whether Redis swapped the database under it.

No request walks the keyspace. Listings, discovery and 404s look their keys up here, so they
cost what their page costs whatever else the database holds. The index of one event loop is:

- built by one SCAN walk (``SCAN_BATCH`` keys a call) when a listing first needs it; listings
  wait for that walk, and a Redis error ends their wait with the error;
- kept current from the writes the stream hub hears: tracking reports the next write to a key
  the local cache's connections read (a key a read found missing included), not to a key
  never read. A reported key the index does not hold is confirmed with ``EXISTS`` (pipelined,
  ``CONFIRM_BATCH`` keys a round trip, at most once per ``COALESCE_S``) and added before the
  next listing answers;
- rid of keys that listings find gone (an empty list or hash does not exist in Redis);
- walked again, paced, every ``index_walk_interval`` seconds (``WALK_CALLS_PER_S`` SCAN calls
  a second at most): what finds keys never read (a new exchange's hash, a new process), and
  what tracking did not report (the hub reconnecting, tracking off: ACL, Sentinel replicas,
  ``local_cache`` off). Such a key is listed within one interval plus one walk.

What the index adds or drops, by a walk or a confirmation, is told to its observers
(``observe``: the stream hub's watchers of key prefixes read again).

Bounded in bytes (``index_mb``): past it, keys are left out of the index (logged once per walk).

Redis announces most changes (writes, deletions, expiry, FLUSHDB), but not ``SWAPDB``. Every
``WATCH_S`` seconds the watcher reads ``INFO commandstats``; when the count of ``SWAPDB`` calls
moved, the local cache is flushed and the index walked again: the new database's values are
served within a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from bisect import bisect_left, insort
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoPermissionError, RedisError

from . import keys
from .flight import SingleFlight, cancel_requested
from .local_cache import LocalCache
from .metrics import KEY_INDEX_KEYS, KEY_INDEX_WALKS

__all__ = ["COALESCE_S", "CONFIRM_BATCH", "SCAN_BATCH", "WALK_CALLS_PER_S", "Keyspace"]

log = logging.getLogger("fullon.cache_api.keyspace")

SCAN_BATCH = 250
"""Keys one SCAN call walks: short enough that a writer waiting behind it hardly notices."""
WALK_CALLS_PER_S = 200
"""Most SCAN calls a second of a paced walk (the first walk is not paced)."""
CONFIRM_BATCH = 1000
"""Most keys one round trip of EXISTS confirms."""
COALESCE_S = 0.05
"""Seconds writes of new keys are gathered before they are confirmed in one round trip."""
WATCH_S = 0.25
"""Seconds between two checks of ``SWAPDB``."""
_KEY_OVERHEAD = 100
"""Bytes an indexed key costs beyond its characters (the str object, its slots in the list and
the set)."""
_TOP = "\U0010ffff"  # sorts after every character: ``prefix + _TOP`` ends a prefix's range


class Keyspace:
    """The key index and the ``SWAPDB`` watcher of one event loop (see the module docstring)."""

    def __init__(
        self, redis: Redis, cache: LocalCache | None, walk_interval: float, max_bytes: int
    ) -> None:
        self._redis = redis
        self._cache = cache
        self._walk_interval = walk_interval
        self._max_bytes = max_bytes
        self._sorted: list[str] = []
        self._held: set[str] = set()
        self._bytes = 0
        self.others = 0
        """Keys of no family, as the last walk counted them."""
        self.truncated = False
        """Keys were left out of the last walk's index (``index_mb``)."""
        self._built: asyncio.Future[None] | None = None
        """Done when the first walk is (or failed: the next listing walks again)."""
        self._since_walk: tuple[set[str], set[str]] | None = None
        """Keys added and removed while a walk runs (what it may have missed)."""
        self._heard: set[str] = set()
        """Written keys of a family that the index does not hold, to confirm."""
        self._wake = asyncio.Event()
        self._walk_now = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._flights = SingleFlight()
        """One walk and one confirmation at a time, shared by the listings that wait."""
        self._epoch = 0
        """Counts the times the index stopped being kept current by tracking (tracking set up
        again, a flush, a SWAPDB): what a walk began in is what it makes current."""
        self._walked = -1
        """The epoch in which the last finished walk began."""
        self._waiting = 0
        """Listings waiting for a walk."""
        self._swaps: int | None = None
        self._closed = False
        self._observers: list[Callable[[list[str]], None]] = []
        if cache is not None:
            cache.observe(self._written)
            self._start(self._watch(), "keyspace watcher")

    # what readers ask ------------------------------------------------------------------------

    async def keys(self, prefix: str, settled: bool) -> list[str]:
        """The indexed keys that start with ``prefix``, sorted; after the first walk, and with
        every key written before now (that tracking reported) confirmed: a listing that begins
        after a write of a new key was acknowledged lists it. ``settled``: every write
        acknowledged before the listing began is reported (``LocalCache.settle``)."""
        built = self._built
        if built is None or (built.done() and built.exception() is not None):
            built = self._built = asyncio.get_running_loop().create_future()
            self._start(self._walker(built), "key index walker")
        if not built.done():
            await asyncio.shield(built)
        if settled:
            while self._walked != self._epoch:  # tracking reports from a walk on: walk once
                self._waiting += 1  # a paced walk in flight goes at full speed
                try:
                    await self._flights.run("walk", self._walk)
                finally:
                    self._waiting -= 1
        while self._heard:
            await self._flights.run("confirm", self._confirm)
        return self._sorted[bisect_left(self._sorted, prefix) : self._end(prefix)]

    def _end(self, prefix: str) -> int:
        return bisect_left(self._sorted, prefix + _TOP) if prefix else len(self._sorted)

    def observe(self, observer: Callable[[list[str]], None]) -> None:
        """Call ``observer`` with the keys (sorted) that a walk or a confirmation adds to the
        index or drops from it."""
        self._observers.append(observer)

    def _tell(self, changed: list[str]) -> None:
        if changed:
            for observer in self._observers:
                observer(changed)

    def gone(self, key: str) -> None:
        """A listing found ``key`` absent (deleted since the index had it)."""
        if key in self._held:
            self._remove(key)
            if self._since_walk is not None:
                self._since_walk[0].discard(key)
                self._since_walk[1].add(key)

    # what Redis tells -----------------------------------------------------------------------

    def _written(self, changed: list[str] | None) -> None:
        """Keys the hub heard written (None: everything changed, as after FLUSHDB or a lost
        connection)."""
        if changed is None:
            self._epoch += 1
            self._walk_now.set()
            return
        if self._built is None:  # no index yet: its first walk finds them
            return
        for key in changed:
            if key not in self._held and keys.family_of(key) is not None:
                self._heard.add(key)
        if self._heard:
            self._wake.set()

    async def _confirm(self) -> None:
        """Add the heard keys that exist (a write created them; a deletion also reports)."""
        while self._heard:
            batch = [self._heard.pop() for _ in range(min(len(self._heard), CONFIRM_BATCH))]
            pipe = self._redis.pipeline(transaction=False)
            for key in batch:
                pipe.exists(key)
            added = []
            for key, found in zip(batch, await pipe.execute(), strict=True):
                if found and key not in self._held:
                    self._add(key)
                    added.append(key)
                    if self._since_walk is not None:
                        self._since_walk[0].add(key)
                        self._since_walk[1].discard(key)
            self._tell(sorted(added))

    async def _check_swaps(self) -> None:
        """Flush the local cache and walk again when ``SWAPDB`` ran since the last check."""
        stats = await self._redis.info("commandstats")
        swaps = int(stats.get("cmdstat_swapdb", {}).get("calls", 0))
        if self._swaps is not None and swaps != self._swaps and self._cache is not None:
            log.warning("SWAPDB ran: the local cache is flushed and the key index walked again")
            self._cache.flush()  # which tells ``_written``: the index is walked again
        self._swaps = swaps

    # tasks ----------------------------------------------------------------------------------

    def _start(self, work: Any, name: str) -> None:
        self._tasks = [task for task in self._tasks if not task.done()]
        self._tasks.append(asyncio.get_running_loop().create_task(work, name=name))

    async def _walker(self, built: asyncio.Future[None]) -> None:
        """The first walk (its error ends the waiting listings' wait), then a paced walk every
        ``walk_interval`` seconds, or at once when asked (``_walk_now``), retrying on errors."""
        try:
            await self._flights.run("walk", self._walk)
        except (RedisError, OSError) as exc:
            built.set_exception(exc)
            built.exception()  # retrieved: the waiters re-raise it from the shield
            return
        built.set_result(None)
        failing = False
        while not self._closed and not cancel_requested():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._walk_interval):
                    await self._walk_now.wait()
            try:
                await self._flights.run("walk", functools.partial(self._walk, paced=True))
                failing = False
            except (RedisError, OSError) as exc:
                if not failing:
                    log.warning("key index walk failed, retrying every interval: %r", exc)
                failing = True

    async def _walk(self, paced: bool = False) -> None:
        """One SCAN walk (one at a time: callers share it): the index becomes what it found,
        with what was heard meanwhile."""
        epoch = self._epoch
        self._walk_now.clear()  # what asked for a walk is seen by this one
        self._since_walk = (set(), set())
        found: set[str] = set()
        others = size = 0
        truncated = False
        cursor = 0
        loop = asyncio.get_running_loop()
        try:
            while True:
                started = loop.time()
                cursor, batch = await self._redis.scan(cursor, count=SCAN_BATCH)
                for raw in batch:
                    key = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
                    if keys.family_of(key) is None:
                        others += 1
                    elif size + len(key) + _KEY_OVERHEAD > self._max_bytes:
                        truncated = True
                    elif key not in found:
                        found.add(key)
                        size += len(key) + _KEY_OVERHEAD
                if cursor == 0:
                    break
                if paced and not self._waiting:
                    await asyncio.sleep(max(0.0, 1 / WALK_CALLS_PER_S - (loop.time() - started)))
            added, removed = self._since_walk
        finally:
            self._since_walk = None
        found = (found - removed) | added
        # what the first walk finds, nothing watched yet: no need to tell
        changed = found ^ self._held if self._walked >= 0 else set()
        self._sorted, self._held = sorted(found), found
        self._bytes = sum(len(key) + _KEY_OVERHEAD for key in found)
        self.others, self.truncated = others, truncated
        self._walked = epoch
        KEY_INDEX_WALKS.inc()
        KEY_INDEX_KEYS.set(len(found))
        self._tell(sorted(changed))
        if truncated:
            log.warning(
                "key index full (index_mb): %d family keys indexed, more left out", len(found)
            )

    async def _watch(self) -> None:
        """Confirms heard keys (gathered for ``COALESCE_S``) and checks ``SWAPDB`` every
        ``WATCH_S`` seconds. An ACL that refuses INFO turns the ``SWAPDB`` check off (logged
        once)."""
        loop = asyncio.get_running_loop()
        checked = float("-inf")
        swaps_allowed, failing = True, False
        while not self._closed and not cancel_requested():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, checked + WATCH_S - loop.time())):
                    await self._wake.wait()
            self._wake.clear()
            try:
                if self._heard:
                    await asyncio.sleep(COALESCE_S)
                    await self._flights.run("confirm", self._confirm)
                if swaps_allowed and loop.time() - checked >= WATCH_S:
                    checked = loop.time()
                    try:
                        await self._check_swaps()
                    except NoPermissionError as exc:
                        swaps_allowed = False
                        log.warning("SWAPDB is not watched: INFO refused (%s)", exc)
                failing = False
            except (RedisError, OSError) as exc:
                if not failing:
                    log.warning("key index watcher: %r; retrying", exc)
                failing = True
                await asyncio.sleep(WATCH_S)

    async def aclose(self) -> None:
        self._closed = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    # the index itself -------------------------------------------------------------------------

    def _add(self, key: str) -> None:
        cost = len(key) + _KEY_OVERHEAD
        if self._bytes + cost > self._max_bytes:
            self.truncated = True
            return
        self._held.add(key)
        insort(self._sorted, key)
        self._bytes += cost
        KEY_INDEX_KEYS.set(len(self._held))

    def _remove(self, key: str) -> None:
        self._held.discard(key)
        index = bisect_left(self._sorted, key)
        if index < len(self._sorted) and self._sorted[index] == key:
            del self._sorted[index]
            self._bytes -= len(key) + _KEY_OVERHEAD
        KEY_INDEX_KEYS.set(len(self._held))
