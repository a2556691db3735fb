"""The app's one shared Redis client: created on first use, or by the lifespan, closed once."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from starlette.applications import Starlette

from .settings import Settings

__all__ = ["Cache", "Clock", "connect", "lifespan"]

Clock = Callable[[], float]


def connect(settings: Settings, max_connections: int | None = None) -> Redis:
    """A client whose failures are fast: a connection error is retried once at once (a pooled
    connection the server dropped reconnects), timeouts are not retried, and a request waits at
    most ``pool_timeout`` for a free connection when all ``pool_size`` are busy."""
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=max_connections or settings.pool_size,
        timeout=settings.pool_timeout,
        socket_connect_timeout=settings.connect_timeout,
        socket_timeout=settings.command_timeout,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        client_name="fullon_cache_api",
    )
    return Redis.from_pool(pool)


class Cache:
    """What handlers need: the Redis client, the settings and the clock.

    The client is created lazily on first use, so the app works mounted under a host that never
    runs its lifespan. Creating it does no I/O and no ``await``, so concurrent first requests
    cannot make two. A client passed in by the caller is used as is and never closed here.
    """

    def __init__(self, settings: Settings, redis: Redis | None = None, clock: Clock | None = None):
        self.settings = settings
        self.clock: Clock = clock or time.time
        self._redis = redis
        self._owned = redis is None
        self._stream_redis: Redis | None = redis
        self.streams = 0
        """Open /stream connections."""

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            self._redis = connect(self.settings)
        return self._redis

    @property
    def stream_redis(self) -> Redis:
        """The client subscriptions use: a pool of its own (``max_streams`` connections), so
        open streams never hold the connections that requests read with."""
        if self._stream_redis is None:
            self._stream_redis = connect(self.settings, self.settings.max_streams)
        return self._stream_redis

    async def aclose(self) -> None:
        """Close the clients (and their pools) this app created."""
        if not self._owned:
            return
        for client in (self._redis, self._stream_redis):
            if client is not None:
                await client.aclose()
        self._redis = self._stream_redis = None


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Open the app's Redis client on entry, close it on exit.

    Standalone servers run it; a host that mounts the app enters it from its own lifespan:
    ``async with lifespan(cache_app): yield``.
    """
    cache: Cache = app.state.cache
    cache.redis  # noqa: B018 - create the client now, not on the first request
    try:
        yield
    finally:
        await cache.aclose()
