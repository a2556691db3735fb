"""Single flight: identical work asked for at the same time is done once, and shared.

The first caller of a key does the work itself (nothing is spawned: the common case, no
concurrency, costs a future and two dict operations); callers of the same key meanwhile wait
for its result. A waiter's own cancellation never reaches the work; if the caller doing the
work is cancelled (its client went away), the next waiter does it instead.

With ``linger``, a result that took ``LINGER_FROM`` seconds or more to work out is also given
to the callers that come within as long as it took: however many clients repeat a costly read
(a walk of a keyspace of millions of keys), the process spends at most half its time on it,
and no answer is older than its own cost. Cheap results never linger: they are always fresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

__all__ = ["LINGER_FROM", "SingleFlight"]

T = TypeVar("T")
LINGER_FROM = 0.1
"""Seconds of work from which a lingering result is kept (as long as it took)."""


class SingleFlight:
    """Work by key, done once for the callers that ask at the same time (or within its linger)."""

    def __init__(self) -> None:
        self._running: dict[Hashable, asyncio.Future[Any]] = {}

    async def run(
        self, key: Hashable, work: Callable[[], Awaitable[T]], *, linger: bool = False
    ) -> T:
        while (running := self._running.get(key)) is not None:
            try:
                result: T = await asyncio.shield(running)
                return result
            except asyncio.CancelledError:
                if not running.cancelled():
                    raise  # this caller was cancelled, not the work
                # the caller doing the work went away: the next one does it
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._running[key] = done
        started = loop.time()
        try:
            result = await work()
        except BaseException as exc:
            self._forget(key, done)
            if isinstance(exc, asyncio.CancelledError):
                done.cancel()
            else:
                done.set_exception(exc)
                done.exception()  # retrieved: the waiters re-raise it
            raise
        done.set_result(result)
        took = loop.time() - started
        if linger and took >= LINGER_FROM:
            loop.call_later(took, self._forget, key, done)
        else:
            self._forget(key, done)
        return result

    def _forget(self, key: Hashable, done: asyncio.Future[Any]) -> None:
        if self._running.get(key) is done:
            del self._running[key]
