"""The app's one shared Redis client: created on first use, or by the lifespan, closed once."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection, SSLConnection, parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError
from starlette.applications import Starlette

from .settings import Settings

__all__ = ["CLIENT_NAME", "Cache", "Clock", "connect", "lifespan"]

Clock = Callable[[], float]
CLIENT_NAME = "fullon_cache_api"
"""The name (CLIENT SETNAME) of every connection the API opens, for CLIENT LIST."""


def connect(settings: Settings, max_connections: int | None = None) -> Redis:
    """A client whose failures are fast: a connection error is retried once at once (a pooled
    connection the server dropped reconnects), timeouts are not retried, and a request waits at
    most ``pool_timeout`` for a free connection when all ``pool_size`` are busy.

    ``redis_url`` may point at a replica. With ``sentinels`` set, the sentinels name the server
    (a replica or the master, by ``read_from``) and the URL gives only the credentials, the db
    and TLS. Closing the client closes its pool, and with Sentinel its sentinel connections too.
    """
    size = max_connections or settings.pool_size
    if settings.sentinels:
        return _sentinel_client(settings, size)
    pool = WaitingConnectionPool.from_url(
        settings.redis_url,
        max_connections=size,
        timeout=settings.pool_timeout,
        **_connection_options(settings),
    )
    return Redis.from_pool(pool)


def _connection_options(settings: Settings) -> dict[str, Any]:
    """Timeouts, retry policy and name of every connection the API opens."""
    return {
        "socket_connect_timeout": settings.connect_timeout,
        "socket_timeout": settings.command_timeout,
        "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        "client_name": CLIENT_NAME,
    }


class WaitingConnectionPool(ConnectionPool):
    """A pool of at most ``max_connections`` whose requests wait up to ``timeout`` seconds for a
    free connection when all are busy ("No connection available." after that, a 503), like
    redis-py's BlockingConnectionPool, but costs what ConnectionPool costs when one is free
    (BlockingConnectionPool takes a Condition and a timer on every command: +22-35% CPU)."""

    def __init__(self, *, timeout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timeout = timeout
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def get_connection(self, *args: Any, **kwargs: Any) -> AbstractConnection:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while True:
            if self.can_get_connection():
                try:
                    connection: AbstractConnection = await super().get_connection()  # type: ignore[no-untyped-call]
                    return connection
                except MaxConnectionsError:  # another request took the last one first
                    pass
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter, max(0.0, deadline - loop.time()))
            except TimeoutError:
                raise RedisConnectionError("No connection available.") from None
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    async def release(self, connection: AbstractConnection) -> None:
        await super().release(connection)
        while self._waiters:  # wake the longest waiter
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                break


class _SentinelPool(SentinelConnectionPool, WaitingConnectionPool):
    """Sentinel discovery with the pool's bounded wait for a free connection (the MRO puts
    WaitingConnectionPool's get_connection/release under Sentinel's address lookup).
    The pool owns its Sentinel: closing the pool also closes the connections to the sentinels.
    """

    async def aclose(self) -> None:
        try:
            await super().aclose()
        finally:
            await self.sentinel_manager.aclose()


def _sentinel_client(settings: Settings, size: int) -> Redis:
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        settings.sentinels,
        sentinel_kwargs={
            **_connection_options(settings),
            "password": settings.sentinel_password,
        },
    )
    options: dict[str, Any] = dict(parse_url(settings.redis_url))
    for address in ("host", "port", "path"):
        options.pop(address, None)
    if options.pop("connection_class", None) is SSLConnection:
        options["ssl"] = True  # SentinelConnectionPool picks its SSL connection class
    options = {**_connection_options(settings), **options}  # the URL wins, as in from_url
    client_for = sentinel.slave_for if settings.read_from == "replica" else sentinel.master_for
    client: Redis = client_for(
        settings.sentinel_service,
        connection_pool_class=_SentinelPool,
        max_connections=size,
        timeout=settings.pool_timeout,
        **options,
    )
    return client


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
