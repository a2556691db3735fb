"""What every reader shares: the ``Source`` it reads through, lenient decoding of stored JSON,
and the two rules of the layout: one value (missing -> NotFound, corrupt -> BadCacheValue), and
a family listing (one SCAN loop, one pipeline; a corrupt value or a key of another Redis type is
skipped, logged and counted, never fatal).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

import msgspec
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from ..errors import BadCacheValue, NotFound, is_wrong_type
from ..metrics import SKIPPED

__all__ = [
    "CorruptValue",
    "Decoded",
    "Family",
    "Lenient",
    "Member",
    "Raw",
    "Recorder",
    "Source",
    "decode_all",
    "one",
    "skip",
    "text",
    "usable",
]

T = TypeVar("T")
P = TypeVar("P")
Raw = bytes | str
log = logging.getLogger("fullon.cache_api.readers")
SCAN_COUNT = 1000

# The tokens Python's json.dumps writes for non-finite floats (msgspec refuses them).
_NONFINITE = ("NaN", "Infinity")


class CorruptValue(ValueError):
    """A stored value that is not what fullon_cache writes (not JSON, too deep, wrong shape)."""


def text(raw: Raw) -> str:
    """A key, field or value read from Redis, as text (values are UTF-8)."""
    return raw if isinstance(raw, str) else raw.decode("utf-8", "replace")


class Lenient(Generic[T]):
    """Decodes stored JSON into ``type_`` the way fullon_cache's writers produce it.

    The fast path is msgspec with ``strict=False`` (numeric strings become numbers; unknown keys
    are ignored). msgspec refuses the ``NaN``/``Infinity`` tokens Python's json.dumps writes, so a
    value whose text holds one is parsed by ``json.loads`` and converted. Anything else that
    fails (not JSON, nested too deeply, the wrong shape) is a ``CorruptValue``.
    """

    def __init__(self, type_: type[T]) -> None:
        self.type = type_
        self._decoder = msgspec.json.Decoder(type_, strict=False)

    def decode(self, raw: Raw) -> T:
        try:
            return self._decoder.decode(raw)
        except (msgspec.DecodeError, RecursionError) as exc:
            error: BaseException = exc
        if _has_nonfinite(raw):
            try:
                return msgspec.convert(json.loads(raw), self.type, strict=False)
            except (ValueError, TypeError, RecursionError, msgspec.ValidationError) as exc:
                error = exc
        raise CorruptValue(f"{type(error).__name__}: {str(error)[:200]}") from None


def _has_nonfinite(raw: Raw) -> bool:
    value = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
    return any(token in value for token in _NONFINITE)


class Decoded(msgspec.Struct, Generic[T]):
    """The decoded (name, value) pairs of one stored collection, and how many were skipped."""

    items: list[tuple[str, T]]
    skipped: int = 0


def skip(key: str, field: str | None, reason: object, count: int = 1) -> None:
    """Log and count stored values a listing leaves out (corrupt, or a key of another type)."""
    SKIPPED.inc(count)
    log.warning("skipping %d stored value(s): key=%r field=%r: %s", count, key, field, reason)


def usable(key: str, reply: Any) -> bool:
    """Whether a pipelined reply can be read: False for a key of another Redis type (its
    ``ResponseError``), which is then skipped, logged and counted."""
    if isinstance(reply, ResponseError):
        skip(key, None, "a key of another Redis type")
        return False
    return True


def decode_all(decoder: Lenient[T], key: str, entries: Iterable[tuple[str, Raw]]) -> Decoded[T]:
    """Decode (name, raw) pairs of one key; a corrupt value is skipped and logged, not fatal."""
    items: list[tuple[str, T]] = []
    skipped = 0
    for name, raw in entries:
        try:
            items.append((name, decoder.decode(raw)))
        except CorruptValue as exc:
            skipped += 1
            skip(key, name, exc)
    return Decoded(items, skipped)


def one(decoder: Lenient[T], raw: Raw | None, what: str) -> T:
    """The one value a request asked for: 404 when absent, 502 when corrupt."""
    if raw is None:
        raise NotFound(f"no {what}")
    try:
        return decoder.decode(raw)
    except CorruptValue:
        raise BadCacheValue(f"the stored {what} is corrupt") from None


class Member(msgspec.Struct, Generic[P]):
    """One key of a family: what its name says (``parsed``) and the replies read from it."""

    parsed: P
    key: str
    replies: list[Any]


class Family(msgspec.Struct, Generic[P]):
    members: list[Member[P]]
    skipped: int = 0


class Recorder:
    """What one answer is built from, for its ETag: every command a request sends with its
    reply, and every choice the clock made (e.g. a tick kept as fresh)."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def read(self, command: Sequence[Any], reply: Any) -> None:
        self._parts.append(_record((command, reply)))

    def chose(self, choice: bool) -> None:
        self._parts.append(b"\x01" if choice else b"\x00")

    def digest(self) -> bytes:
        return b"".join(self._parts)


_record = msgspec.msgpack.Encoder(enc_hook=repr).encode


class Source:
    """What readers read through: one Redis client (each method one round trip) and, for a
    request that answers with an ETag, the recorder of what it read."""

    __slots__ = ("recorder", "redis")

    def __init__(self, redis: Redis, recorder: Recorder | None = None) -> None:
        self.redis = redis
        self.recorder = recorder

    async def command(self, *command: Any) -> Any:
        reply = await self.redis.execute_command(*command)  # type: ignore[no-untyped-call]
        if self.recorder is not None:
            self.recorder.read(command, reply)
        return reply

    async def get(self, key: str) -> Raw | None:
        raw: Raw | None = await self.command("GET", key)
        return raw

    async def hget(self, key: str, field: str) -> Raw | None:
        raw: Raw | None = await self.command("HGET", key, field)
        return raw

    async def hmget(self, key: str, fields: Sequence[str]) -> list[Raw | None]:
        raws: list[Raw | None] = await self.command("HMGET", key, *fields)
        return raws

    async def hgetall(self, key: str) -> dict[str, Raw]:
        fields: dict[Raw, Raw] = await self.command("HGETALL", key)
        return {text(name): raw for name, raw in fields.items()}

    async def lrange(self, key: str, start: int, stop: int) -> list[Raw]:
        raws: list[Raw] = await self.command("LRANGE", key, start, stop)
        return raws

    async def scan(self, pattern: str) -> list[str]:
        """Every key matching ``pattern``, deduplicated (SCAN may repeat keys) and sorted."""
        found = {text(key) async for key in self.redis.scan_iter(match=pattern, count=SCAN_COUNT)}
        return sorted(found)

    async def pipeline(
        self, commands: Sequence[Sequence[Any]], *, listing: bool = False
    ) -> list[Any]:
        """The replies of ``commands``, sent in one round trip. Errors raise, except, for a
        ``listing``, a command on a key of another Redis type: its reply is then its
        ``ResponseError`` (see ``usable``)."""
        if not commands:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
        for reply in replies:
            if isinstance(reply, ResponseError) and not (listing and is_wrong_type(reply)):
                raise reply
        if self.recorder is not None:
            for command, reply in zip(commands, replies, strict=True):
                self.recorder.read(command, reply)
        return replies

    async def family(
        self, pattern: str, parse: Callable[[str], P | None], *reads: tuple[Any, ...]
    ) -> Family[P]:
        """Every key matching ``pattern`` that ``parse`` accepts (SCAN patterns also match longer
        names: every key is parsed again), in key order, read with ``reads``: one SCAN loop and
        one pipeline (see ``members``)."""
        found = [
            (parsed, key) for key in await self.scan(pattern) if (parsed := parse(key)) is not None
        ]
        return await self.members(found, *reads)

    async def members(self, found: list[tuple[P, str]], *reads: tuple[Any, ...]) -> Family[P]:
        """The replies of ``reads`` (each a command name and the arguments after the key) for
        each (parsed name, key) of ``found``, in one pipeline. A key of another Redis type is
        skipped, logged and counted."""
        replies = await self.pipeline(
            [(read[0], key, *read[1:]) for _, key in found for read in reads], listing=True
        )
        members: list[Member[P]] = []
        width = len(reads)
        for index, (parsed, key) in enumerate(found):
            mine = replies[index * width : (index + 1) * width]
            if all(usable(key, reply) for reply in mine):
                members.append(Member(parsed, key, mine))
        return Family(members, len(found) - len(members))
