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


def connect(settings: Settings) -> Redis:
    """A client whose failures are fast: a connection error is retried once at once (a pooled
    connection the server dropped reconnects), timeouts are not retried, and a request waits at
    most ``pool_timeout`` for a free connection when all ``pool_size`` are busy."""
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=settings.pool_size,
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

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            self._redis = connect(self.settings)
        return self._redis

    async def aclose(self) -> None:
        """Close the client (and its pool) if this app created it."""
        if self._owned and self._redis is not None:
            client, self._redis = self._redis, None
            await client.aclose()


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
