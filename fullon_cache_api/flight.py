"""Single flight: identical work asked for at the same time is done once, and shared.

The work runs in a task of its own, so a caller that goes away (a client that disconnects)
does not cancel it for the others; each caller still waits only as long as it wants.

With ``linger``, a result that took ``LINGER_FROM`` seconds or more to work out is also given
to the callers that come within as long as it took: however many clients repeat a costly read
(a walk of a keyspace of millions of keys), the process spends at most half its time on it,
and no answer is older than its own cost. Cheap results never linger: they are always fresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

__all__ = ["SingleFlight"]

T = TypeVar("T")
LINGER_FROM = 0.1
"""Seconds of work from which a lingering result is kept (as long as it took)."""


class SingleFlight:
    """One task per key; callers of a key that is running (or lingering) share its result."""

    def __init__(self) -> None:
        self._tasks: dict[Hashable, asyncio.Task[Any]] = {}

    async def run(
        self, key: Hashable, work: Callable[[], Awaitable[T]], *, linger: bool = False
    ) -> T:
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.ensure_future(work())
            self._tasks[key] = task
            loop = asyncio.get_running_loop()
            started = loop.time()
            task.add_done_callback(
                lambda done: self._done(key, done, loop.time() - started if linger else 0.0)
            )
        result: T = await asyncio.shield(task)
        return result

    def _done(self, key: Hashable, task: asyncio.Task[Any], linger_s: float) -> None:
        failed = task.cancelled() or task.exception() is not None  # retrieved: waiters re-raise
        if failed or linger_s < LINGER_FROM:
            self._forget(key, task)
        else:
            asyncio.get_running_loop().call_later(linger_s, self._forget, key, task)

    def _forget(self, key: Hashable, task: asyncio.Task[Any]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
