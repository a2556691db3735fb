"""Single flight: identical work asked for at the same time is done once, and shared.

The first caller of a key does the work itself (nothing is spawned: the common case, no
concurrency, costs a future and two dict operations); callers of the same key meanwhile wait
for its result. A waiter's own cancellation never reaches the work; if the caller doing the
work is cancelled (its client went away), the next waiter does it instead.

With ``linger``, a result that took ``LINGER_FROM`` seconds or more to work out is also given
to the callers that come within as long as it took: however many clients repeat a costly read
(a walk of a keyspace of millions of keys), the process spends at most half its time on it,
and no answer is older than its own cost. Cheap results never linger: they are always fresh.

With ``share_for``, a caller joins only work that began at most ``share_for`` seconds before
it came (lingering or not): work begun earlier is not waited on for its result but for its end
(and, for a lingering result, for the end of its linger), and the caller then joins (or does)
the next run, which begins after it came. So an answer shared this way never misses what was
stored more than ``share_for`` seconds before its caller asked, a key's work still runs once at
a time, and a costly one still at most half the time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

__all__ = ["LINGER_FROM", "SingleFlight", "cancel_requested"]

T = TypeVar("T")
LINGER_FROM = 0.1
"""Seconds of work from which a lingering result is kept (as long as it took)."""


def cancel_requested() -> bool:
    """Whether the running task was asked to stop, even if the cancellation did not arrive as
    one (redis-py may return a command's reply instead of raising it; ``asyncio.timeout`` under
    ``suppress(TimeoutError)`` may turn it into a timeout). A loop's shutdown cancels every
    task and closes nothing: a background loop checks this besides its own flag, or runs on."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class _Flight:
    """One run of a key's work: its result to come, and when it began (loop time)."""

    __slots__ = ("done", "started", "until")

    def __init__(self, done: asyncio.Future[Any], started: float) -> None:
        self.done = done
        self.started = started
        self.until = started
        """When a lingering result is forgotten (loop time)."""


class SingleFlight:
    """Work by key, done once for the callers that ask at the same time (or within its linger)."""

    def __init__(self) -> None:
        self._running: dict[Hashable, _Flight] = {}

    async def run(
        self,
        key: Hashable,
        work: Callable[[], Awaitable[T]],
        *,
        linger: bool = False,
        share_for: float | None = None,
    ) -> T:
        loop = asyncio.get_running_loop()
        came = loop.time()
        while (flight := self._running.get(key)) is not None:
            running = flight.done
            if share_for is not None and came - flight.started > share_for:
                if not running.done():
                    await asyncio.wait((running,))  # its end, not its result: then the next run
                elif (rest := flight.until - loop.time()) > 0:
                    await asyncio.sleep(rest)  # a lingering result, too old for this caller
                else:
                    self._forget(key, flight)
                continue
            try:
                result: T = await asyncio.shield(running)
                return result
            except asyncio.CancelledError:
                if not running.cancelled() or cancel_requested():
                    raise  # this caller was cancelled (a loop's shutdown cancels both)
                # only the caller doing the work went away: the next one does it
        done = loop.create_future()
        flight = self._running[key] = _Flight(done, loop.time())
        try:
            result = await work()
        except BaseException as exc:
            self._forget(key, flight)
            if isinstance(exc, asyncio.CancelledError):
                done.cancel()
            else:
                done.set_exception(exc)
                done.exception()  # retrieved: the waiters re-raise it
            raise
        done.set_result(result)
        took = loop.time() - flight.started
        if linger and took >= LINGER_FROM:
            flight.until = loop.time() + took
            loop.call_later(took, self._forget, key, flight)
        else:
            self._forget(key, flight)
        return result

    def _forget(self, key: Hashable, flight: _Flight) -> None:
        if self._running.get(key) is flight:
            del self._running[key]
