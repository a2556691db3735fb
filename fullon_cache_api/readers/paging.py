"""Pages of hashes: a hash's fields, or a family of hashes' fields, ``limit`` at a time, each
page ending at a position a cursor carries. A hash of at most ``READ_BATCH`` fields is read
whole (HGETALL), a bigger one in HSCAN batches: no command touches more than a batch."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec

from ..keys import RedisBytes, text
from .base import usable
from .source import READ_BATCH, Source

__all__ = [
    "FamilyPosition",
    "HashPage",
    "HashPosition",
    "HashesPage",
    "batch_by_field",
    "by_field",
    "hash_page",
    "hashes_page",
    "whole_page",
]

if TYPE_CHECKING:
    from _typeshed import SupportsRichComparison

P = TypeVar("P", bound="SupportsRichComparison")
"""What a key's name says (an exchange, a (symbol, timeframe) pair...): keys sort by it."""


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


async def hash_page(
    source: Source,
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
        (reply,) = await source.pipeline([("HLEN", key)], listing=listing)
        if not usable(key, reply):
            return HashPage([], None, 0, skipped=1)
        length = int(reply)
    position = position or HashPosition()
    if length == 0:
        return HashPage([], None, 0)
    if length <= READ_BATCH and position.scan == position.skip == 0:
        command = ("HGETALL", key)
        ordered = source.derive(command, await source.command(*command), by_field)
        return whole_page(ordered, position.after, limit, length)
    return await _scan_page(source, key, position, limit, length, exact)


async def hashes_page(
    source: Source,
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
    lengths = await source.pipeline([("HLEN", key) for _, key in found], listing=True)
    present = [
        (parsed, key, length)
        for (parsed, key), length in zip(found, lengths, strict=True)
        if not source.gone(key, length)
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
            replies = await source.pipeline([("HGETALL", k) for _, k, _ in group], listing=True)
        for (parsed, key, length), reply in zip(group, replies, strict=True):
            index += 1
            if reply is None:
                page = await hash_page(source, key, inner, left, length, exact=exact)
            elif usable(key, reply):
                ordered = source.derive(("HGETALL", key), reply, by_field)
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
    source: Source, key: str, position: HashPosition, limit: int, length: int, exact: bool
) -> HashPage:
    """A page of a big hash: HSCAN batches from ``position`` until ``limit`` fields (or the
    batch that passes it, not ``exact``)."""
    page: list[tuple[str, RedisBytes]] = []
    cursor, skip = position.scan, position.skip
    while True:
        command = ("HSCAN", key, cursor, "COUNT", READ_BATCH)
        reply = await source.command(*command)
        following = int(reply[0])
        rest = source.derive(command, reply, batch_by_field)[skip:]
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
