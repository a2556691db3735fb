"""Watched streams: what fullon_cache does not publish (positions, order counts, bots, trades,
bars, processes) is read by the stream hub's watchers, one per distinct read, shared by every
socket that streams it, pushed when Redis reports a write to what the read watches (see
``hub.StreamHub.watch``); a stream turns each new state into its messages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

import msgspec

from ..actions import Emit, Stream
from ..hub import HubClosed, Listener, StreamHub, Watch

__all__ = ["Polled"]

S = TypeVar("S")
WAIT_S = 60.0  # a bounded wait per batch; a state arrives whenever it changes

Changes = Callable[[S | None, S, str], Sequence[msgspec.Struct]]
"""(previous state (None: this is the first), new state, stream key) -> the messages' results."""


class Polled(Stream, Generic[S]):
    """A stream of the states ``read`` returns, read again when a write to what ``on`` names
    is reported. ``key`` names the read: every stream with the same key shares one watcher (the
    same key must mean the same read). The first state is sent at once (the initial
    snapshot), then each state that differs from the one before."""

    def __init__(
        self,
        message: str,
        key: Hashable,
        read: Callable[[], Awaitable[S]],
        changes: Changes[S],
        on: Watch,
    ) -> None:
        self.message = message
        self.key = key
        self.read = read
        self.changes = changes
        self.on = on

    async def listen(self, hub: StreamHub) -> Listener[Any]:
        listener: Listener[Any] = hub.watch(self.key, self.read, self.on)
        listener.gate = self.gate
        return listener

    async def run(self, hub: StreamHub, listener: Listener[Any], key: str, emit: Emit) -> None:
        previous: S | None = None
        first = True
        while True:
            try:
                batch: list[S] = await listener.next_batch(WAIT_S)
            except HubClosed:
                return
            if batch and (first or batch[-1] != previous):
                emit(self.changes(previous, batch[-1], key))
                previous, first = batch[-1], False
