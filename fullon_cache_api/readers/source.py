"""Where readers read from: a ``Source``, the one path of every Redis read.

Every command it sends touches a bounded amount of data, whatever is stored: hashes are read
whole only up to ``READ_BATCH`` fields (HLEN says), beyond that in ``HSCAN`` pages; lists in
``LRANGE`` windows; pipelines are sent in chunks of ``READ_BATCH`` commands. Keys are looked up
in the key index (``keyspace``), never walked for a request. So no command the API sends holds
Redis for long, and the writers that share it are never kept waiting.

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
import hashlib
import logging
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from ..errors import is_wrong_type
from ..flight import SingleFlight
from ..keys import RedisBytes, text
from ..keyspace import Keyspace
from ..local_cache import MISS, LocalCache
from ..redis_clients import shed_idle_connections
from ..version import __version__
from .base import Oversized, usable

__all__ = [
    "BIG_REPLY",
    "READ_BATCH",
    "Family",
    "HashPage",
    "HashPosition",
    "Member",
    "Recorder",
    "Source",
    "read_digest",
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


class Recorder:
    """What one answer is built from, for its ETag: a digest of every command a request sends
    with its reply, every choice the clock made (e.g. a tick kept as fresh), and the version
    of the code that shapes answers. Hashed as it goes, ``FLUSH`` parts at a time: a long
    walk's tag is not one long hash at its end. A short recording's digest is remembered
    (``_SHORT``): answers repeat, and so does what they are built from."""

    __slots__ = ("_hash", "_parts")

    FLUSH = 8192

    def __init__(self) -> None:
        self._hash: Any = None  # hashlib's, once a part was flushed
        self._parts: list[bytes] = []

    def add(self, part: bytes) -> None:
        """A part: a read's ``read_digest``, or what another recorder recorded (an answer
        shared by identical requests)."""
        self._parts.append(part)
        if len(self._parts) >= self.FLUSH:
            self._flush()

    def chose(self, choice: bool) -> None:
        self.add(b"\x01" if choice else b"\x00")

    def digest(self) -> bytes:
        if self._hash is None:
            recorded = b"".join(self._parts)
            if len(recorded) <= _SHORT_BYTES:
                found = _SHORT.get(recorded)
                if found is None:
                    if len(_SHORT) >= _SHORT_KEPT:
                        _SHORT.clear()
                    found = _SHORT[recorded] = hashlib.sha256(_VERSION + recorded).digest()
                return found
        self._flush()
        return self._hash.digest()  # type: ignore[no-any-return]

    def _flush(self) -> None:
        if self._hash is None:
            self._hash = hashlib.sha256(_VERSION)
        self._hash.update(b"".join(self._parts))
        self._parts.clear()


_SHORT: dict[bytes, bytes] = {}
"""Digests of short recordings (a few reads), by what was recorded."""
_SHORT_BYTES, _SHORT_KEPT = 256, 10_000


def read_digest(command: tuple[Any, ...], reply: Any) -> bytes:
    """What a recorder records of one read: a digest of the command and its reply."""
    return hashlib.sha256(_record((command, reply))).digest()


def _size_hook(value: Any) -> Any:
    if isinstance(value, Oversized):  # its size, not its (empty) content
        return f"oversized {value.size}"
    return repr(value)


_record = msgspec.msgpack.Encoder(enc_hook=_size_hook).encode
_VERSION = __version__.encode()


class HashPosition(msgspec.Struct, array_like=True, frozen=True):
    """Where a page of a hash's fields ends. A hash of at most ``READ_BATCH`` fields is read
    whole, in field order: ``after`` is the last field given. A bigger one is walked with HSCAN:
    ``scan`` is the cursor of the batch the page ended in, ``skip`` how many of its fields were
    given, in field order (HSCAN from a cursor gives the same batch while the hash does not
    grow)."""

    after: str | None = None
    scan: int = 0
    skip: int = 0


class HashPage(msgspec.Struct):
    """Fields of one page (in field order), where the next page starts (None: the last page),
    the hash's length, and whether it was skipped (a key of another Redis type, in a listing)."""

    fields: list[tuple[str, RedisBytes]]
    next: HashPosition | None
    length: int
    skipped: int = 0


class FamilyPosition(msgspec.Struct, array_like=True, frozen=True):
    """Where a page of a family of hashes ends: in the hash ``key``, at ``inner``."""

    key: str
    inner: HashPosition = HashPosition()


class HashesPage(msgspec.Struct, Generic[P]):
    """Pages of the hashes of a family, in key order (what each key's name says, its key, its
    page), how many keys were skipped (another Redis type), and where the next page starts."""

    pages: list[tuple[P, str, HashPage]]
    skipped: int
    next: FamilyPosition | None


class Member(msgspec.Struct, Generic[P]):
    """One key of a family: what its name says (``parsed``) and the replies read from it."""

    parsed: P
    key: str
    replies: list[Any]


class Family(msgspec.Struct, Generic[P]):
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
        if cache is not None and (cache.ready() or await cache.settle()):
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
        if cache is not None and (cache.ready() or await cache.settle()):
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
        its time: the cache stops serving it at its time)."""
        reads = [None if self.cache is None else self.cache.open(c) for c in commands]
        ttl_keys = [key for read in reads if read is not None for key in read.keys]
        try:
            if len(commands) == 1 and not ttl_keys:
                try:
                    raws = [await self.redis.execute_command(*commands[0])]  # type: ignore[no-untyped-call]
                except ResponseError as exc:
                    raws = [exc]
            else:
                pipe = self.redis.pipeline(transaction=False)
                for command in commands:
                    pipe.execute_command(*command)
                for key in ttl_keys:
                    pipe.execute_command("PTTL", key)
                raws = await pipe.execute(raise_on_error=False)
        except BaseException:
            for read in reads:
                if read is not None:
                    read.drop()
            raise
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
            await self._drop_idle_connections()
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

    async def _drop_idle_connections(self) -> None:
        """After a large reply: the connection that read it would keep its read buffer."""
        log.info("closing idle Redis connections after a reply of more than %d bytes", BIG_REPLY)
        await shed_idle_connections(self.redis.connection_pool)

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
        return await self.keyspace.keys(prefix)

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
    ) -> Family[P]:
        """The keys of a family (see ``family_keys``) read with ``reads`` in pipelines (see
        ``members``). With ``limit``: one page, the keys after the key ``after``."""
        found = await self.family_keys(prefix, parse)
        if after is not None and (last := parse(after)) is not None:
            found = found[bisect_right([parsed for parsed, _ in found], last) :]
        if limit is None or len(found) <= limit:
            return await self.members(found, *reads)
        page = await self.members(found[:limit], *reads)
        return Family(page.members, page.skipped, found[limit - 1][1])

    async def members(self, found: list[tuple[P, str]], *reads: tuple[Any, ...]) -> Family[P]:
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
            if self._gone(key, mine[0]):
                continue
            if all(usable(key, reply) for reply in mine):
                members.append(Member(parsed, key, mine))
            else:
                skipped += 1
        return Family(members, skipped)

    def _gone(self, key: str, reply: Any) -> bool:
        """Whether ``reply`` (of a read of ``key``) says the key is absent: nil, or a length or
        a window of 0 (Redis deletes an emptied list or hash); the index forgets it."""
        if reply is None or (type(reply) in (int, list) and not reply):
            self.keyspace.gone(key)
            return True
        return False

    # hashes --------------------------------------------------------------------------------

    async def hash_page(
        self,
        key: str,
        position: HashPosition | None,
        limit: int,
        length: int | None = None,
        *,
        listing: bool = False,
        exact: bool = True,
    ) -> HashPage:
        """Up to ``limit`` fields of a hash after ``position`` (see ``HashPosition``), in field
        order. ``length``: the hash's HLEN when the caller read it already. For a ``listing``
        (a fixed key such as ``bot_status``), a key of another Redis type is an empty page that
        says it skipped it; otherwise it is an error (502)."""
        if length is None:
            (reply,) = await self.pipeline([("HLEN", key)], listing=listing)
            if not usable(key, reply):
                return HashPage([], None, 0, skipped=1)
            length = int(reply)
        position = position or HashPosition()
        if length == 0:
            return HashPage([], None, 0)
        if length <= READ_BATCH and position.scan == position.skip == 0:
            command = ("HGETALL", key)
            ordered = self.derive(command, await self.command(*command), by_field)
            return whole_page(ordered, position.after, limit, length)
        return await self._scan_page(key, position, limit, length, exact)

    async def hashes_page(
        self,
        found: list[tuple[P, str]],
        position: FamilyPosition | None,
        limit: int,
        *,
        exact: bool = True,
    ) -> HashesPage[P]:
        """Up to ``limit`` fields of the hashes ``found`` (see ``family_keys``), key after key
        from ``position``: one pipeline of HLEN, then pipelines of HGETALL for the small hashes
        the page needs and HSCAN pages for the big ones. Not ``exact``: a page may pass
        ``limit`` by the rest of an HSCAN batch (for aggregates, which read every page)."""
        found = sorted(found, key=lambda pair: pair[1])
        start = 0 if position is None else bisect_left([key for _, key in found], position.key)
        found = found[start:]
        resume = position is not None and bool(found) and found[0][1] == position.key
        inner = position.inner if position is not None and resume else HashPosition()
        lengths = await self.pipeline([("HLEN", key) for _, key in found], listing=True)
        present = [
            (parsed, key, length)
            for (parsed, key), length in zip(found, lengths, strict=True)
            if not self._gone(key, length)
        ]
        readable = [
            (parsed, key, int(length)) for parsed, key, length in present if usable(key, length)
        ]
        skipped = len(present) - len(readable)
        pages: list[tuple[P, str, HashPage]] = []
        left, index = limit, 0
        while index < len(readable) and left > 0:
            length = readable[index][2]
            if length > READ_BATCH or inner.scan or inner.skip:  # big, or a walk resumed
                group = readable[index : index + 1]
                replies: list[Any] = [None]
            else:  # the small hashes the page may need, in one pipeline
                end = index
                need = left
                while end < len(readable) and readable[end][2] <= READ_BATCH and need > 0:
                    need -= readable[end][2]
                    end += 1
                group = readable[index:end]
                replies = await self.pipeline([("HGETALL", k) for _, k, _ in group], listing=True)
            for (parsed, key, length), reply in zip(group, replies, strict=True):
                index += 1
                if reply is None:
                    page = await self.hash_page(key, inner, left, length, exact=exact)
                elif usable(key, reply):
                    ordered = self.derive(("HGETALL", key), reply, by_field)
                    page = whole_page(ordered, inner.after, left, length)
                else:
                    skipped += 1
                    continue
                inner = HashPosition()
                pages.append((parsed, key, page))
                left -= len(page.fields)
                if page.next is not None:
                    return HashesPage(pages, skipped, FamilyPosition(key, page.next))
                if left <= 0:
                    break
        following = FamilyPosition(readable[index][1]) if index < len(readable) else None
        return HashesPage(pages, skipped, following)

    async def _scan_page(
        self, key: str, position: HashPosition, limit: int, length: int, exact: bool
    ) -> HashPage:
        """A page of a big hash: HSCAN batches from ``position`` until ``limit`` fields (or the
        batch that passes it, not ``exact``)."""
        page: list[tuple[str, RedisBytes]] = []
        cursor, skip = position.scan, position.skip
        while True:
            command = ("HSCAN", key, cursor, "COUNT", READ_BATCH)
            reply = await self.command(*command)
            following = int(reply[0])
            rest = self.derive(command, reply, batch_by_field)[skip:]
            taken = rest[: limit - len(page)] if exact else rest
            page += taken  # sorted runs, one a batch: sorting them again costs a merge
            if len(taken) < len(rest):  # the page ends inside this batch
                return HashPage(sorted(page), HashPosition(None, cursor, skip + len(taken)), length)
            if following == 0:
                return HashPage(sorted(page), None, length)
            cursor, skip = following, 0
            if len(page) >= limit:
                return HashPage(sorted(page), HashPosition(None, cursor, 0), length)


def by_field(
    command: tuple[Any, ...], fields: dict[RedisBytes, RedisBytes]
) -> list[tuple[str, RedisBytes]]:
    """A hash read whole (``command``'s reply), its fields in field order."""
    return sorted((text(field), raw) for field, raw in fields.items())


def batch_by_field(command: tuple[Any, ...], reply: Any) -> list[tuple[str, RedisBytes]]:
    """An HSCAN batch (``command``'s reply: cursor, fields), its fields in field order: the
    order pages walk a batch in (``HashPosition.skip``)."""
    return by_field(command, reply[1])


def whole_page(
    ordered: list[tuple[str, RedisBytes]], after: str | None, limit: int, length: int
) -> HashPage:
    """A page of a hash read whole (its fields in field order): the fields after ``after``."""
    start = 0 if after is None else bisect_right([name for name, _ in ordered], after)
    page = ordered[start : start + limit]
    following = HashPosition(page[-1][0]) if start + limit < len(ordered) else None
    return HashPage(page, following, length)


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
