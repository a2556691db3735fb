"""Ticker updates from Redis pub/sub, buffered for one client."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from types import TracebackType

from redis.asyncio import Redis

from . import text

__all__ = ["TickerSubscription"]

POLL_S = 1.0


class TickerSubscription:
    """A PSUBSCRIBE to ticker channels, read by a background task into a bounded buffer.

    A slow client never makes memory grow: when the buffer is full the oldest update is dropped
    and counted. Leaving the ``async with`` block unsubscribes and releases the connection.
    """

    def __init__(self, redis: Redis, patterns: list[str], size: int) -> None:
        self._pubsub = redis.pubsub(ignore_subscribe_messages=True)
        self._patterns = patterns
        self._buffer: deque[tuple[str, bytes]] = deque(maxlen=size)
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self.dropped = 0

    async def __aenter__(self) -> TickerSubscription:
        await self._pubsub.psubscribe(*self._patterns)
        self._task = asyncio.create_task(self._pump())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _pump(self) -> None:
        try:
            while True:
                message = await self._pubsub.get_message(True, timeout=POLL_S)
                if message is None or message["type"] != "pmessage":
                    continue
                if len(self._buffer) == self._buffer.maxlen:
                    self.dropped += 1
                self._buffer.append((text(message["channel"]), message["data"]))
                self._ready.set()
        except Exception as exc:  # Redis went away: the stream ends with it
            self._error = exc
            self._ready.set()

    async def updates(self, wait_s: float) -> list[tuple[str, bytes]]:
        """Every buffered (channel, payload), waiting up to ``wait_s`` seconds for one; [] when none
        came. Raises the Redis error that ended the subscription."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), wait_s)
        if self._error is not None:
            raise self._error
        self._ready.clear()
        drained = list(self._buffer)
        self._buffer.clear()
        return drained
