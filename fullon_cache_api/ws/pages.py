"""Whole collections, as v0.2.6 answered them (every ticker of an exchange, every bot...), read
through the REST listings' paged readers, page by page from the start, and bounded: at most
``MAX_PAGES`` pages of ``READ_BATCH`` items (``MAX_ITEMS``). What lies beyond is left out
(logged once per collection); the REST listings page through all of it."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from ..readers.source import READ_BATCH

__all__ = ["MAX_ITEMS", "MAX_PAGES", "first_pages", "left_out"]

log = logging.getLogger("fullon.cache_api.ws")
_told: set[str] = set()

MAX_PAGES = 10
MAX_ITEMS = MAX_PAGES * READ_BATCH
"""Most items one answer (or one poll of a stream) reads of a collection: 10,000."""

P_co = TypeVar("P_co", covariant=True)


class Page(Protocol[P_co]):
    """A page of a paged reader: where the next one starts (None: the last)."""

    @property
    def next(self) -> P_co | None: ...


R = TypeVar("R", bound=Page[Any])


async def first_pages(read: Callable[[Any, int], Awaitable[R]], what: str) -> list[R]:
    """The pages ``read(position, limit)`` gives from the start (position None), ``READ_BATCH``
    items each, until its last page or ``MAX_PAGES`` pages."""
    pages: list[R] = []
    position: Any = None
    while len(pages) < MAX_PAGES:
        page = await read(position, READ_BATCH)
        pages.append(page)
        position = page.next
        if position is None:
            return pages
    left_out(f"{what}: more than {MAX_ITEMS}; only the first {MAX_ITEMS} are read")
    return pages


def left_out(what: str) -> None:
    """Log that part of a collection is left out, once per process for each ``what`` (a polled
    stream reads it again every interval)."""
    if what not in _told:
        _told.add(what)
        log.warning("%s (the REST listings page through all of it)", what)
