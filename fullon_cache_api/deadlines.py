"""Request deadlines: one task per event loop watches them all.

``asyncio.timeout`` arms a timer per request; here a request costs two dict operations, and
one timer serves them all. The watch wakes every ``TICK`` seconds
and cancels the requests whose time has come (so a deadline holds within ``TICK``); the
cancelled request sees ``TimeoutError``, as under ``asyncio.timeout``.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["Deadlines"]


class Deadlines:
    TICK = 0.05

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._due: dict[asyncio.Task[Any], float] = {}
        """Running requests by when their time is up, in that order (one duration for all)."""
        self._passed: set[asyncio.Task[Any]] = set()
        self._watch: asyncio.Task[None] | None = None

    def start(self) -> asyncio.Task[Any]:
        """The running request's deadline, from now: call ``end`` on every path."""
        task = asyncio.current_task()
        assert task is not None
        loop = task.get_loop()
        self._due[task] = loop.time() + self.seconds
        if self._watch is None:
            self._watch = loop.create_task(self._run(), name="fullon_cache_api deadlines")
        return task

    def passed(self, task: asyncio.Task[Any]) -> bool:
        """Whether ``task`` was cancelled by its deadline (its cancellation is then taken back:
        it goes on as a request that timed out)."""
        if task in self._passed:
            task.uncancel()
            return True
        return False

    def end(self, task: asyncio.Task[Any]) -> None:
        self._due.pop(task, None)
        self._passed.discard(task)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.TICK)
            now = loop.time()
            for task, due in list(self._due.items()):
                if due > now:
                    break
                del self._due[task]
                self._passed.add(task)
                task.cancel()

    def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
