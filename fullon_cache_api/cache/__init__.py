"""Readers of fullon_cache's layout: async functions over one shared ``redis.asyncio.Redis``.

Readers take validated values, return Structs (or raw decoded data) and raise ``NotFound`` or
``BadCacheValue``. Redis errors propagate as redis-py exceptions; the app turns them into
503/504 in one place. All keys come from ``keys.py``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Generic, TypeVar

import msgspec
from redis.asyncio import Redis

from ..metrics import SKIPPED

__all__ = ["CorruptValue", "Lenient", "decode_many", "scan_keys", "skip", "text"]

T = TypeVar("T")
log = logging.getLogger("fullon.cache_api.cache")
SCAN_COUNT = 1000


class CorruptValue(ValueError):
    """A stored value that is not what fullon_cache writes (not JSON, or the wrong shape)."""


class Lenient(Generic[T]):
    """Decodes stored JSON into ``type_`` the way fullon_cache's writers produce it.

    The fast path is msgspec with ``strict=False`` (numeric strings become numbers; unknown keys
    are ignored). msgspec rejects the ``NaN``/``Infinity`` tokens Python's json.dumps writes, so
    on failure the value is parsed by ``json.loads`` and converted; only if that fails too is the
    value corrupt.
    """

    def __init__(self, type_: type[T]) -> None:
        self.type = type_
        self._decoder = msgspec.json.Decoder(type_, strict=False)

    def decode(self, raw: bytes | str) -> T:
        try:
            return self._decoder.decode(raw)
        except msgspec.DecodeError:
            pass
        try:
            return msgspec.convert(json.loads(raw), self.type, strict=False)
        except (ValueError, TypeError, msgspec.ValidationError) as exc:
            raise CorruptValue(str(exc)) from None


def text(raw: bytes | str) -> str:
    """A key, field or value read from Redis, as text (values are UTF-8)."""
    return raw if isinstance(raw, str) else raw.decode("utf-8", "replace")


def decode_many(
    decoder: Lenient[T], key: str, entries: Iterable[tuple[str, bytes | str]]
) -> tuple[list[tuple[str, T]], int]:
    """Decode (name, raw) pairs of one key; a corrupt value is skipped and logged, not fatal.
    Returns the decoded pairs and the number skipped."""
    decoded: list[tuple[str, T]] = []
    skipped = 0
    for name, raw in entries:
        try:
            decoded.append((name, decoder.decode(raw)))
        except CorruptValue as exc:
            skipped += 1
            skip(key, name, exc)
    return decoded, skipped


def skip(key: str, field: str | None, reason: object, count: int = 1) -> None:
    """Log and count stored values a listing leaves out (corrupt, or a key of another type)."""
    SKIPPED.inc(count)
    log.warning("skipping %d stored value(s): key=%r field=%r: %s", count, key, field, reason)


async def scan_keys(redis: Redis, pattern: str) -> list[str]:
    """Every key matching ``pattern``, deduplicated (SCAN may repeat keys) and sorted."""
    found = {text(key) async for key in redis.scan_iter(match=pattern, count=SCAN_COUNT)}
    return sorted(found)
