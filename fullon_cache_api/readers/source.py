"""Where readers read from: a ``Source``, the one path of every Redis read.

Every command it sends touches a bounded amount of data, whatever is stored: hashes are read
whole only up to ``READ_BATCH`` fields (HLEN says), beyond that in ``HSCAN`` pages (see
``paging``); lists in ``LRANGE`` windows; pipelines are sent in chunks of ``READ_BATCH``
commands. Keys are looked up in the key index (``keyspace``), never walked for a request. So no
command the API sends holds Redis for long, and the writers that share it are never kept
waiting.

Replies are bounded too: a stored value larger than ``max_value_bytes`` is replaced by an
``Oversized`` marker (never decoded: skipped in listings, 502 alone), and a reply larger than
``BIG_REPLY`` makes the pool close its idle connections after use, so that no connection keeps
a large read buffer.

Identical commands in flight share one round trip (``SingleFlight``). A request that answers
with an ETag passes a ``Recorder``: every reply it reads goes into the tag (the keys the index
gives are not: what they name is read next).
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_right
from collections.abc import Callable, Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from .. import tracing
from ..errors import is_wrong_type
from ..flight import SingleFlight
from ..keys import RedisBytes
from ..keyspace import Keyspace
from ..local_cache import MISS, LocalCache, TrackingLost
from ..redis_clients import shed_idle_connections
from .base import Oversized, usable
from .recorder import Recorder, read_digest

__all__ = [
    "BIG_REPLY",
    "READ_BATCH",
    "Member",
    "Members",
    "Source",
]

if TYPE_CHECKING:
    from _typeshed import SupportsRichComparison

P = TypeVar("P", bound="SupportsRichComparison")
T = TypeVar("T")
"""What a key's name says (an exchange, a (symbol, timeframe) pair...): keys sort by it."""
log = logging.getLogger("fullon.cache_api.readers")

READ_BATCH = 1000
"""Most fields or elements one command reads; most commands per round trip."""
RUN_S = 0.0005
"""Seconds a request runs on replies from the local cache before it lets others run."""
BIG_REPLY = 4 * 1024 * 1024
"""A reply above this many bytes: the pool's idle connections are closed after it."""


class Member(msgspec.Struct, Generic[P]):
    """One key of a family: what its name says (``parsed``) and the replies read from it."""

    parsed: P
    key: str
    replies: list[Any]


class Members(msgspec.Struct, Generic[P]):
    """Members of a family in the order of what their keys name, how many keys were skipped
    (another Redis type), and the key after which the next page starts (None: the last)."""

    members: list[Member[P]]
    skipped: int = 0
    after: str | None = None


class Source:
    """One request's (or one stream's) way to Redis: through the local cache (when it holds),
    sharing identical commands in flight, recording what an answer reads."""

    __slots__ = (
        "_ran_since",
        "_settled",
        "cache",
        "flights",
        "keyspace",
        "max_value_bytes",
        "recorder",
        "redis",
    )

    def __init__(
        self,
        redis: Redis,
        flights: SingleFlight,
        max_value_bytes: int,
        keyspace: Keyspace,
        cache: LocalCache | None = None,
        recorder: Recorder | None = None,
    ) -> None:
        self.redis = redis
        self.flights = flights
        self.max_value_bytes = max_value_bytes
        self.keyspace = keyspace
        self.cache = cache
        self.recorder = recorder
        self._ran_since = perf_counter()
        self._settled: bool | None = None

    async def settled(self) -> bool:
        """Whether the local cache may serve this source's reads: every write acknowledged
        before its first read is applied there (``LocalCache.settle``, asked once: a source
        serves one request, or one WebSocket action or poll)."""
        if self._settled is None:
            self._settled = self.cache is not None and await self.cache.settle()
        return self._settled

    async def _pause(self) -> None:
        """After a reply from the local cache: let other requests run when this one has run
        for ``RUN_S`` since it last waited, as a round trip would have let them (a long walk
        never holds the process)."""
        now = perf_counter()
        if now - self._ran_since >= RUN_S:
            await asyncio.sleep(0)
            self._ran_since = perf_counter()

    # one command, one pipeline -------------------------------------------------------------

    async def command(self, *command: Any) -> Any:
        """One command's reply (see ``_one``), bounded and recorded; an error reply raises."""
        reply = await self._one(command)
        if isinstance(reply, ResponseError):
            raise reply
        if self.recorder is not None:
            self.recorder.add(self.derive(command, reply, read_digest))
        return reply

    def derive(
        self, command: tuple[Any, ...], reply: Any, work: Callable[[tuple[Any, ...], Any], T]
    ) -> T:
        """``work(command, reply)``, worked out once while the local cache keeps that reply."""
        if self.cache is None:
            return work(command, reply)
        return self.cache.derive(command, reply, work)

    async def _one(self, command: tuple[Any, ...]) -> Any:
        """One command's reply, or its error reply: the local cache's, or one round trip shared
        with the identical commands in flight."""
        cache = self.cache
        if cache is not None and await self.settled():
            reply = cache.get(command)
            if reply is not MISS:
                await self._pause()
                return reply
        return await self._shared(command)

    async def _shared(self, command: tuple[Any, ...]) -> Any:
        """One round trip for ``command``, shared with the identical commands in flight."""
        return await self.flights.run(("command", *command), lambda: self._first(command))

    async def _first(self, command: tuple[Any, ...]) -> Any:
        (reply,) = await self._fetch([command])
        return reply

    async def pipeline(
        self, commands: Sequence[Sequence[Any]], *, listing: bool = False
    ) -> list[Any]:
        """The replies of ``commands``: the local cache's, and the others in round trips of
        ``READ_BATCH`` commands (one alone is shared like ``command``). Errors raise, except,
        for a ``listing``, a command on a key of another Redis type: its reply is then its
        ``ResponseError`` (see ``base.usable``)."""
        replies: list[Any] = [MISS] * len(commands)
        cache = self.cache
        if cache is not None and await self.settled():
            replies = [cache.get(tuple(command)) for command in commands]
        missing = [index for index, reply in enumerate(replies) if reply is MISS]
        if len(missing) == 1:
            replies[missing[0]] = await self._shared(tuple(commands[missing[0]]))
        elif not missing:
            await self._pause()
        else:
            for start in range(0, len(missing), READ_BATCH):
                chunk = missing[start : start + READ_BATCH]
                fetched = await self._fetch([tuple(commands[index]) for index in chunk])
                for index, reply in zip(chunk, fetched, strict=True):
                    replies[index] = reply
        for reply in replies:
            if isinstance(reply, ResponseError) and not (listing and is_wrong_type(reply)):
                raise reply
        if self.recorder is not None:
            for sent, reply in zip(commands, replies, strict=True):
                self.recorder.add(self.derive(tuple(sent), reply, read_digest))
        return replies

    async def _fetch(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """The replies (error replies as values) of ``commands`` in one round trip, bounded. A
        reply the local cache may keep is kept, with the TTLs of its keys read in the same
        round trip (Redis reports a key's deletion when it expires, which may come well after
        its time: the cache stops serving it at its time). Traced as one span when the request
        is (``tracing.round_trip``)."""
        cache = self.cache
        reads = [None if cache is None else cache.open(c) for c in commands]
        ttl_keys = [key for read in reads if read is not None for key in read.keys]
        # A read whose reply may be kept goes through the cache's tracked connections: Redis
        # then reports the next write to each key it read. One that cannot be opened (the
        # hub's connection is gone: the cache turned off) is sent again directly.
        tracked = None if cache is None or not ttl_keys else cache.tracked
        redis = self.redis if tracked is None else tracked.client
        trip = tracing.round_trip(redis, commands, len(commands) + len(ttl_keys))
        try:
            try:
                raws = await _send(redis, commands, ttl_keys)
            except TrackingLost:
                redis = self.redis
                raws = await _send(redis, commands, ttl_keys)
        except BaseException as exc:
            if trip is not None:
                trip.failed(exc)
            for read in reads:
                if read is not None:
                    read.drop()
            raise
        if trip is not None:
            trip.replied(raws)
        self._ran_since = perf_counter()  # it waited for Redis
        ttls = iter(raws[len(commands) :])
        replies: list[Any] = []
        size = 0
        for command, read, raw in zip(commands, reads, raws, strict=False):
            reply, reply_size = self._bound(command[0], raw)
            if read is not None:
                read.keep(command, reply, reply_size, [next(ttls) for _ in read.keys])
            size += reply_size
            replies.append(reply)
        if size > BIG_REPLY:
            await self._drop_idle_connections(redis)
        return replies

    def _bound(self, name: str, reply: Any) -> tuple[Any, int]:
        """The reply with every stored value above ``max_value_bytes`` replaced by an
        ``Oversized`` marker, and its size in bytes (of stored values)."""
        shape = _VALUES.get(name)
        if shape is None or isinstance(reply, ResponseError):
            return reply, 0
        limit = self.max_value_bytes
        size = 0

        def bounded(raw: Any) -> Any:
            nonlocal size
            if isinstance(raw, bytes | str):
                size += len(raw)
                if len(raw) > limit:
                    return Oversized(len(raw), limit)
            return raw

        if shape == "one":
            return bounded(reply), size
        if shape == "list":
            return [bounded(raw) for raw in reply], size
        if shape == "hash":
            return {field: bounded(raw) for field, raw in reply.items()}, size
        cursor, fields = reply  # "scan": (cursor, {field: value})
        return (cursor, {field: bounded(raw) for field, raw in fields.items()}), size

    async def _drop_idle_connections(self, redis: Redis) -> None:
        """After a large reply: the connection that read it would keep its read buffer."""
        log.info("closing idle Redis connections after a reply of more than %d bytes", BIG_REPLY)
        await shed_idle_connections(redis.connection_pool)

    # plain reads ---------------------------------------------------------------------------

    async def get(self, key: str) -> RedisBytes | None:
        raw: RedisBytes | None = await self.command("GET", key)
        return raw

    async def hget(self, key: str, field: str) -> RedisBytes | None:
        raw: RedisBytes | None = await self.command("HGET", key, field)
        return raw

    async def hmget(self, key: str, fields: Sequence[str]) -> list[RedisBytes | None]:
        raws: list[RedisBytes | None] = await self.command("HMGET", key, *fields)
        return raws

    async def list_window(self, key: str, start: int, stop: int) -> list[RedisBytes]:
        """Elements ``start`` (inclusive) to ``stop`` (exclusive) of a list, counted from its
        head: one pipeline of LRANGE, ``READ_BATCH`` elements each."""
        commands = [
            ("LRANGE", key, first, min(first + READ_BATCH, stop) - 1)
            for first in range(start, stop, READ_BATCH)
        ]
        return [raw for chunk in await self.pipeline(commands) for raw in chunk]

    # keys ----------------------------------------------------------------------------------

    async def keys(self, prefix: str) -> list[str]:
        """The keys of fullon_cache's families that start with ``prefix``, sorted: a lookup in
        the key index, no Redis command (see ``keyspace``)."""
        return await self.keyspace.keys(prefix, await self.settled())

    async def family_keys(
        self, prefix: str, parse: Callable[[str], P | None]
    ) -> list[tuple[P, str]]:
        """(what the key names, key) of the keys under ``prefix`` that ``parse`` accepts (a
        prefix also holds longer names: every key is parsed again), in the order of what they
        name."""
        return sorted(
            (parsed, key) for key in await self.keys(prefix) if (parsed := parse(key)) is not None
        )

    async def family(
        self,
        prefix: str,
        parse: Callable[[str], P | None],
        *reads: tuple[Any, ...],
        after: str | None = None,
        limit: int | None = None,
    ) -> Members[P]:
        """The keys of a family (see ``family_keys``) read with ``reads`` in pipelines (see
        ``members``). With ``limit``: one page, the keys after the key ``after``."""
        found = await self.family_keys(prefix, parse)
        if after is not None and (last := parse(after)) is not None:
            found = found[bisect_right([parsed for parsed, _ in found], last) :]
        if limit is None or len(found) <= limit:
            return await self.members(found, *reads)
        page = await self.members(found[:limit], *reads)
        return Members(page.members, page.skipped, found[limit - 1][1])

    async def members(self, found: list[tuple[P, str]], *reads: tuple[Any, ...]) -> Members[P]:
        """The replies of ``reads`` (each a command name and the arguments after the key) for
        each (parsed name, key) of ``found``. A key of another Redis type is skipped, logged and
        counted; a key found gone (its first read says absent) is left out."""
        replies = await self.pipeline(
            [(read[0], key, *read[1:]) for _, key in found for read in reads], listing=True
        )
        members: list[Member[P]] = []
        skipped = 0
        width = len(reads)
        for index, (parsed, key) in enumerate(found):
            mine = replies[index * width : (index + 1) * width]
            if self.gone(key, mine[0]):
                continue
            if all(usable(key, reply) for reply in mine):
                members.append(Member(parsed, key, mine))
            else:
                skipped += 1
        return Members(members, skipped)

    def gone(self, key: str, reply: Any) -> bool:
        """Whether ``reply`` (of a read of ``key``) says the key is absent: nil, or a length or
        a window of 0 (Redis deletes an emptied list or hash); the index forgets it."""
        if reply is None or (type(reply) in (int, list) and not reply):
            self.keyspace.gone(key)
            return True
        return False


# The shape of each command's stored values in its reply (see Source._bound).
_VALUES = {
    "GET": "one",
    "HGET": "one",
    "LINDEX": "one",
    "HMGET": "list",
    "MGET": "list",
    "LRANGE": "list",
    "HGETALL": "hash",
    "HSCAN": "scan",
}


async def _send(redis: Redis, commands: list[tuple[Any, ...]], ttl_keys: list[str]) -> list[Any]:
    """The replies (error replies as values) of ``commands`` and the PTTL of ``ttl_keys``, in
    one round trip."""
    if len(commands) == 1 and not ttl_keys:
        try:
            return [await redis.execute_command(*commands[0])]  # type: ignore[no-untyped-call]
        except ResponseError as exc:
            return [exc]
    pipe = redis.pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command)
    for key in ttl_keys:
        pipe.execute_command("PTTL", key)
    raws: list[Any] = await pipe.execute(raise_on_error=False)
    return raws
