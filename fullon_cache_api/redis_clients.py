"""Redis clients: fast failures, bounded pools, replica and Sentinel reads, and the app's
per-event-loop resources (a read client and a stream hub), opened lazily and closed once."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import select
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.asyncio.connection import AbstractConnection, SSLConnection, parse_url
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from starlette.applications import Starlette

from .deadlines import Deadlines
from .flight import SingleFlight
from .hub import StreamHub
from .internals import idle_connections, reset_parser, socket_fd
from .keyspace import Keyspace
from .local_cache import LocalCache, TrackingLost
from .settings import Settings

__all__ = [
    "CLIENT_NAME",
    "Backend",
    "Clock",
    "LoopResources",
    "connect",
    "end_streams",
    "lifespan",
    "shed_idle_connections",
]

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
    Creating a client does no I/O.
    """
    size = max_connections or settings.pool_size
    if settings.sentinels:
        return _sentinel_client(settings, size)
    pool = BlockingConnectionPool.from_url(
        settings.redis_url,
        max_connections=size,
        timeout=settings.pool_timeout,
        **_connection_options(settings),
    )
    return Redis.from_pool(pool)


def _connection_options(settings: Settings) -> dict[str, Any]:
    """Timeouts, retry policy and name of every connection the API opens; and no set-up command
    the README's read-only ACL user may not run (each refusal would fill its ACL LOG): redis-py
    sends ``CLIENT SETINFO`` (its name and version) on connect unless told not to, and, from
    8.x, ``CLIENT MAINT_NOTIFICATIONS`` on RESP3 connections."""
    options: dict[str, Any] = {
        "socket_connect_timeout": settings.connect_timeout,
        "socket_timeout": settings.command_timeout,
        "retry": Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        "client_name": CLIENT_NAME,
    }
    import inspect

    accepted = inspect.signature(AbstractConnection.__init__).parameters
    if "driver_info" in accepted:  # redis-py >= 7.1; lib_name/lib_version are deprecated there
        options["driver_info"] = None
    else:
        options.update(lib_name=None, lib_version=None)
    if "maint_notifications_config" in accepted:
        from redis.maint_notifications import MaintNotificationsConfig

        options["maint_notifications_config"] = MaintNotificationsConfig(enabled=False)
    return options


class _SentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """Sentinel discovery with redis-py's bounded wait for a free connection (the MRO puts
    BlockingConnectionPool's get_connection/release under Sentinel's address lookup)."""


class _OwnSentinelPool(_SentinelPool):
    """The request pool, which owns its Sentinel: closing the pool also closes the connections
    to the sentinels."""

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
        connection_pool_class=_OwnSentinelPool,
        max_connections=size,
        timeout=settings.pool_timeout,
        **options,
    )
    return client


async def shed_idle_connections(pool: ConnectionPool) -> None:
    """Close the pool's idle connections and drop their read buffers: redis-py keeps a closed
    connection's parser, whose hiredis reader keeps a buffer as large as the largest reply it
    read until it reads again (after a 50 MB value, 50 MB per connection)."""
    await pool.disconnect(inuse_connections=False)
    for connection in idle_connections(pool):
        if not connection.is_connected:  # a request may have taken and opened it meanwhile
            reset_parser(connection)
    # The old parsers hold themselves through a bound method: only the cycle collector frees
    # them (rare: after a reply of several MB, exactly when the memory is wanted back).
    gc.collect()


# What a connection is (server, credentials, timeouts, name), copied from a pool; redis-py
# keeps options of its own there too (e.g. for RESP3 only), which a RESP2 connection refuses.
_CONNECTION_OPTIONS = frozenset(
    {
        "host",
        "port",
        "path",
        "db",
        "username",
        "password",
        "credential_provider",
        "client_name",
        "driver_info",
        "lib_name",
        "lib_version",
        "socket_connect_timeout",
        "socket_timeout",
        "socket_keepalive",
        "socket_keepalive_options",
        "encoding",
        "encoding_errors",
        "decode_responses",
    }
)


def _like(pool: ConnectionPool, blocking: bool, **options: Any) -> ConnectionPool:
    """A new pool of RESP2 connections to the server ``pool`` reaches, with its connections'
    options (server, credentials, timeouts, name) and ``options``; ``blocking``: a request
    waits for a free connection (redis-py's ``BlockingConnectionPool``)."""
    options = {
        **{
            name: value
            for name, value in pool.connection_kwargs.items()
            if name in _CONNECTION_OPTIONS or name.startswith("ssl_")
        },
        "connection_class": pool.connection_class,
        "protocol": 2,
        **options,
    }
    if isinstance(pool, SentinelConnectionPool):
        sentinel_class = _SentinelPool if blocking else SentinelConnectionPool
        return sentinel_class(  # type: ignore[no-untyped-call]
            pool.service_name, pool.sentinel_manager, is_master=pool.is_master, **options
        )
    return (BlockingConnectionPool if blocking else ConnectionPool)(**options)


def single_connection_pool(pool: ConnectionPool) -> ConnectionPool:
    """A new pool of one connection to the server ``pool`` reaches, with its options: what the
    stream hub subscribes on, so that it never holds a connection of the request pool (also
    when the host passed its own client). RESP2, where tracking messages arrive as pub/sub
    messages; and no retry: a connection that drops must be seen to drop (its subscriptions
    and tracking go with it), never quietly reconnected."""
    return _like(pool, False, max_connections=1, retry=Retry(NoBackoff(), 0))


class TrackedReads:
    """The client the local cache reads through while it serves: each of its connections runs
    ``CLIENT TRACKING ON REDIRECT <redirect>`` (the stream hub's connection) when it opens, so
    Redis remembers every key it reads and reports that key's next write to the hub, once. A
    write to a key nobody read since its last write costs Redis nothing more.

    Redis reports nothing for the keys a closed connection read, so every close of one makes
    the cache forget what it kept (``on_lost``), whether this process closes it
    (``disconnect``) or the server does (an idle timeout, ``CLIENT KILL``): ``lost`` polls the
    connections' sockets for the server's end (one ``poll`` for all, no wait) before a kept
    reply is served. At most ``size`` connections; a read waits at most ``timeout`` seconds for
    a free one, whatever pool (the host's own, maybe not blocking) it copies."""

    def __init__(
        self,
        pool: ConnectionPool,
        redirect: int,
        size: int,
        timeout: float,
        on_lost: Callable[[], None],
    ) -> None:
        self._redirect = redirect
        self._on_lost = on_lost
        self.broken = False
        """A connection could not be tracked (the hub's connection is gone)."""
        self._poll = select.poll()
        self._fds: dict[AbstractConnection, int] = {}
        self.client = Redis.from_pool(
            _like(
                pool,
                True,
                connection_class=_watched(pool.connection_class, self),
                max_connections=size,
                timeout=timeout,
                retry=pool.connection_kwargs.get("retry"),
                redis_connect_func=self._opened,
            )
        )

    async def _opened(self, connection: AbstractConnection) -> None:
        if self.broken:  # closed (the hub's session ended) or lost: no connection outlives it
            raise TrackingLost("the local cache's tracking has ended")
        await connection.on_connect()
        await connection.send_command("CLIENT", "TRACKING", "ON", "REDIRECT", self._redirect)
        try:
            await connection.read_response()
        except ResponseError as exc:  # the hub's connection is gone: the cache turns off
            self._break()
            raise TrackingLost(f"tracking refused: {exc}") from None
        fd = socket_fd(connection)
        if fd is None:
            self._break()
            raise TrackingLost("a tracked connection's socket cannot be watched")
        self._fds[connection] = fd
        self._poll.register(fd, select.POLLRDHUP)

    def _break(self) -> None:
        self.broken = True
        self._on_lost()

    def closing(self, connection: AbstractConnection) -> None:
        """``connection`` is closing: what the cache kept may have been read through it."""
        fd = self._fds.pop(connection, None)
        if fd is not None:
            self._poll.unregister(fd)
            self._on_lost()

    def lost(self) -> bool:
        """Whether tracking broke, or the server closed one of the connections (it is then
        forgotten, and so is everything the cache kept)."""
        if self.broken:
            return True
        closed = {fd for fd, _ in self._poll.poll(0)}
        if not closed:
            return False
        for connection, fd in list(self._fds.items()):
            if fd in closed:
                self.closing(connection)
        return True

    async def aclose(self) -> None:
        self.broken = True
        await self.client.aclose()


def _watched(
    connection_class: type[AbstractConnection], tracked: TrackedReads
) -> type[AbstractConnection]:
    """``connection_class`` whose ``disconnect`` tells ``tracked`` first."""

    async def disconnect(self: AbstractConnection, *args: Any, **kwargs: Any) -> None:
        tracked.closing(self)
        await connection_class.disconnect(self, *args, **kwargs)

    return type(
        f"Tracked{connection_class.__name__}", (connection_class,), {"disconnect": disconnect}
    )


def _caches(settings: Settings) -> bool:
    """Whether the local cache may serve: asked for, and every read goes to one server (with
    Sentinel reading from replicas, reads go round robin over replicas that apply a write at
    different times, while tracking watches one of them)."""
    replicas = settings.sentinels and settings.read_from == "replica"
    return settings.local_cache and not replicas and hasattr(select, "POLLRDHUP")


class LoopResources:
    """What one event loop reads with: the request client, the stream hub, the work its
    requests share.

    A keeper task holds them open for the life of the loop and closes them when it is cancelled:
    by ``Backend.aclose`` (the lifespan), or by the loop's own shutdown when nothing closed them
    (a host testing with ``TestClient`` without ``with`` runs each request on a new loop).
    """

    def __init__(self, backend: Backend, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        settings = backend.settings
        self.redis = backend.given if backend.given is not None else connect(settings)
        self._owned = backend.given is None
        self.cache = LocalCache(settings.local_cache_mb * 2**20) if _caches(settings) else None
        """Replies kept while Redis's tracking says they are unchanged (see local_cache)."""
        pool = self.redis.connection_pool
        self.hub = StreamHub(
            lambda: single_connection_pool(pool),
            settings,
            self.cache,
            lambda redirect, lost: TrackedReads(
                pool, redirect, settings.pool_size, settings.pool_timeout, lost
            ),
        )
        self.hub.start()
        self.keyspace = Keyspace(
            self.redis, self.cache, settings.index_walk_interval, settings.index_mb * 2**20
        )
        """The key index (listings look keys up there) and the SWAPDB watcher."""
        self.keyspace.observe(self.hub.keys_changed)  # a new key is no write tracking reports
        self.flights = SingleFlight()
        """Work that concurrent requests on this loop share (key walks, heavy answers)."""
        self.heavy = asyncio.Semaphore(settings.heavy_concurrency)
        """Whole-cache answers worked out at once on this loop."""
        self.deadlines = Deadlines(settings.request_timeout)
        self._closed = asyncio.Event()
        self.keeper = loop.create_task(self._keep(backend), name="fullon_cache_api resources")

    async def _keep(self, backend: Backend) -> None:
        try:
            await self._closed.wait()
        except GeneratorExit:  # collected with its loop gone: nothing can be awaited or called
            backend.forget(self)
            raise
        finally:
            if backend.forget(self):
                self.deadlines.close()
                await self.keyspace.aclose()
                await self.hub.aclose()
                if self._owned:
                    await self.redis.aclose()

    async def aclose(self) -> None:
        self._closed.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self.keeper


class Backend:
    """The app's link to Redis: per event loop, a read client and a stream hub; the settings and
    the clock.

    Resources are made on first use on the running loop, without an ``await``, so concurrent
    first requests make one set, and the app works mounted under a host that never runs its
    lifespan. A client passed in by the caller is used as is, on every loop, and never closed.
    """

    def __init__(
        self, settings: Settings, redis: Redis | None = None, clock: Clock | None = None
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or time.time
        self.given = redis
        self._loops: dict[asyncio.AbstractEventLoop, LoopResources] = {}

    def resources(self) -> LoopResources:
        """The running loop's resources, made on first use."""
        loop = asyncio.get_running_loop()
        found = self._loops.get(loop)
        if found is None:
            found = self._loops[loop] = LoopResources(self, loop)
        return found

    def forget(self, resources: LoopResources) -> bool:
        """Forget a loop's resources; False when they were forgotten already."""
        if self._loops.get(resources.loop) is resources:
            del self._loops[resources.loop]
            return True
        return False

    async def aclose(self) -> None:
        """Close the running loop's resources (the lifespan runs on the serving loop)."""
        found = self._loops.get(asyncio.get_running_loop())
        if found is not None:
            await found.aclose()


async def end_streams(app: Starlette) -> None:
    """End the open streams of the app on the running loop (each gets a last event) and close
    its WebSockets (1001): a server's graceful stop then has nothing endless to wait for."""
    backend: Backend = app.state.backend
    await backend.resources().hub.aclose()


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Open the app's Redis client on entry, close every connection it opened on exit.

    Standalone servers run it; a host that mounts the app enters it from its own lifespan:
    ``async with lifespan(cache_app): yield``.
    """
    backend: Backend = app.state.backend
    backend.resources()
    try:
        yield
    finally:
        await backend.aclose()
