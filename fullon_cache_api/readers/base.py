"""What every reader shares: lenient decoding of stored values, and the two rules of the
layout: one value (missing -> NotFound, corrupt -> BadCacheValue), and a listing (a corrupt
value, one too large, or a key of another Redis type is skipped, logged and counted, never
fatal). Readers read through a ``source.Source``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

import msgspec
import msgspec.inspect
from redis.exceptions import ResponseError

from ..errors import BadCacheValue, NotFound
from ..keys import RedisBytes
from ..metrics import SKIPPED

__all__ = [
    "CorruptValue",
    "Decoded",
    "Lenient",
    "Oversized",
    "decode_all",
    "one",
    "skip",
    "usable",
]

T = TypeVar("T")
log = logging.getLogger("fullon.cache_api.readers")

# The tokens Python's json.dumps writes for non-finite floats (msgspec refuses them).
_NONFINITE = ("NaN", "Infinity")


class CorruptValue(ValueError):
    """A stored value that is not what fullon_cache writes (not JSON, too deep, too large, the
    wrong shape)."""


class Oversized(bytes):
    """In place of a stored value larger than the ``max_value_bytes`` setting (``limit``):
    empty, with the size it had. It never decodes (``CorruptValue``) and reads as empty text."""

    size: int
    limit: int

    def __new__(cls, size: int, limit: int) -> Oversized:
        value = super().__new__(cls)
        value.size, value.limit = size, limit
        return value

    def why(self) -> str:
        return (
            f"{self.size} bytes, more than the {self.limit} decoded "
            "(FULLON_CACHE_API_MAX_VALUE_BYTES)"
        )


class Lenient(Generic[T]):
    """Decodes stored JSON into ``type_`` the way fullon_cache's writers produce it.

    The fast path is msgspec with ``strict=False`` (numeric strings become numbers; unknown keys
    are ignored). msgspec refuses the ``NaN``/``Infinity`` tokens Python's json.dumps writes, so a
    value whose text holds one is parsed by ``json.loads`` and converted. Anything else that
    fails (not JSON, nested too deeply, the wrong shape) is a ``CorruptValue``.
    """

    def __init__(self, type_: type[T], memo: int = 0) -> None:
        self.type = type_
        self._decoder = msgspec.json.Decoder(type_, strict=False)
        self._memo: dict[RedisBytes, T] | None = {} if memo else None
        self._memo_size = memo
        self._free_form = _holds_any(msgspec.inspect.type_info(type_))
        """Its values may be of any shape (an ``Any`` in the type): nested deeper than
        ``MAX_DEPTH`` is corrupt, whatever this Python's recursion limit lets through."""

    def decode(self, raw: RedisBytes) -> T:
        """The value ``raw`` holds. With a ``memo`` (for immutable values only), the last
        ``memo`` values decoded are kept by their stored bytes: a value read again (the local
        cache gives the very same bytes) is not decoded again."""
        memo = self._memo
        if memo is None:
            return self._decode(raw)
        try:
            return memo[raw]
        except KeyError:
            value = memo[raw] = self._decode(raw)
            if len(memo) > self._memo_size:
                del memo[next(iter(memo))]  # the oldest
            return value

    def _decode(self, raw: RedisBytes) -> T:
        value = self._parse(raw)
        if self._free_form and _openings(raw) > MAX_DEPTH and _deeper_than(value, MAX_DEPTH):
            raise CorruptValue(f"nested more than {MAX_DEPTH} levels deep")
        return value

    def _parse(self, raw: RedisBytes) -> T:
        if type(raw) is Oversized:
            raise CorruptValue(raw.why())
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


MAX_DEPTH = 32
"""Levels of nesting a free-form stored value may have (fullon_cache writes three or four)."""


def _holds_any(info: msgspec.inspect.Type) -> bool:
    """Whether a type (``msgspec.inspect``'s description of it) has an ``Any`` anywhere in it."""
    if isinstance(info, msgspec.inspect.AnyType):
        return True
    if isinstance(info, msgspec.inspect.StructType):
        return any(_holds_any(field.type) for field in info.fields)
    if isinstance(info, msgspec.inspect.DictType):
        return _holds_any(info.key_type) or _holds_any(info.value_type)
    if isinstance(info, msgspec.inspect.CollectionType):
        return _holds_any(info.item_type)
    if isinstance(info, msgspec.inspect.UnionType):
        return any(_holds_any(member) for member in info.types)
    return False


def _openings(raw: RedisBytes) -> int:
    """How many ``[`` and ``{`` the text holds (at C speed): at most ``MAX_DEPTH``, it cannot
    nest deeper, and its decoded value need not be walked."""
    if isinstance(raw, str):
        return raw.count("[") + raw.count("{")
    return raw.count(b"[") + raw.count(b"{")


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` (decoded JSON, or a Struct holding some) nests more than ``limit``
    levels; walked without recursion, stopping at the first level too deep."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        elif isinstance(item, msgspec.Struct):
            children = (getattr(item, name) for name in item.__struct_fields__)
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _has_nonfinite(raw: RedisBytes) -> bool:
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


def decode_all(
    decoder: Lenient[T], key: str, entries: Iterable[tuple[str, RedisBytes]]
) -> Decoded[T]:
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


def one(decoder: Lenient[T], raw: RedisBytes | None, what: str) -> T:
    """The one value a request asked for: 404 when absent, 502 when corrupt."""
    if raw is None:
        raise NotFound(f"no {what}")
    if type(raw) is Oversized:
        raise BadCacheValue(f"the stored {what} is too large: {raw.why()}")
    try:
        return decoder.decode(raw)
    except CorruptValue:
        raise BadCacheValue(f"the stored {what} is corrupt") from None
