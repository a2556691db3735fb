"""``Ctx``: what a handler (HTTP or WebSocket) gets besides its parameters, at run time."""

from __future__ import annotations

import asyncio

from starlette.applications import Starlette

from .hub import StreamHub
from .local_cache import LocalCache
from .readers.recorder import Recorder
from .readers.source import Source
from .redis_clients import Backend, LoopResources
from .settings import Settings

__all__ = ["Ctx"]


class Ctx:
    """What a handler gets besides its parameters: the Redis it reads (``source``), the stream
    hub, the settings and the clock, and the app it serves (for the route table)."""

    __slots__ = ("_backend", "_lasting", "_recorder", "_resources", "_source", "app", "root_path")

    def __init__(
        self,
        backend: Backend,
        app: Starlette,
        root_path: str = "",
        recorder: Recorder | None = None,
        lasting: bool = False,
    ) -> None:
        self._backend = backend
        self._lasting = lasting
        """A WebSocket's: every use of ``source`` is a new one (each action and each poll
        reads what was written before it began, see ``Source.settled``)."""
        self._resources: LoopResources = backend.resources()
        self._recorder = recorder
        self._source: Source | None = None
        self.app = app
        self.root_path = root_path

    def lasting(self) -> Ctx:
        """A twin for the reads of a stream that outlives its request: each use of ``source``
        a new one (each read sees every write acknowledged before it began)."""
        return Ctx(self._backend, self.app, self.root_path, lasting=True)

    @property
    def settings(self) -> Settings:
        return self._backend.settings

    @property
    def source(self) -> Source:
        """Redis, through the request's recorder when its answer carries an ETag: one per
        request (or, ``lasting``, per use)."""
        if self._source is None or self._lasting:
            resources = self._resources
            limit = self._backend.settings.max_value_bytes
            self._source = Source(
                resources.redis,
                resources.flights,
                limit,
                resources.keyspace,
                resources.cache,
                self._recorder,
            )
        return self._source

    @property
    def hub(self) -> StreamHub:
        return self._resources.hub

    @property
    def local_cache(self) -> LocalCache | None:
        return self._resources.cache

    @property
    def heavy(self) -> asyncio.Semaphore:
        """The loop's limit of whole-cache reads at once (``heavy_concurrency``)."""
        return self._resources.heavy

    def now(self) -> float:
        """The app's clock, epoch seconds (ages only: see ``chose``)."""
        return self._backend.clock()

    def chose(self, choice: bool) -> bool:
        """``choice`` (a decision the clock made: a tick kept as fresh, a process found stale),
        recorded as part of what the answer is built from, so its ETag changes with it."""
        if self._recorder is not None:
            self._recorder.chose(choice)
        return choice
