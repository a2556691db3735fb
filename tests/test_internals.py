"""The guard of fullon_cache_api.internals: every private attribute of redis-py the API
reads is still there in the installed versions. A failure names the version that moved it:
update internals.py, nothing else."""

from __future__ import annotations

import os
import socket

import redis
from redis.asyncio import ConnectionPool

from fullon_cache_api.internals import idle_connections, reset_parser, socket_fd

VERSION = f"redis-py {redis.__version__}"


async def test_idle_connections_and_a_new_parser(redis_server) -> None:
    pool = ConnectionPool(port=redis_server.port)
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]
    assert idle_connections(pool) == []
    await pool.release(connection)
    assert idle_connections(pool) == [connection], f"{VERSION}: the pool's idle list moved"
    await pool.disconnect()
    old = connection._parser
    assert reset_parser(connection), f"{VERSION}: Connection._get_parser moved"
    assert connection._parser is not old and type(connection._parser) is type(old)
    await pool.aclose()


async def test_the_socket_of_an_open_connection(redis_server) -> None:
    """The local cache polls its tracked connections' sockets (redis_clients.TrackedReads)."""
    pool = ConnectionPool(port=redis_server.port)
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]
    fd = socket_fd(connection)
    assert fd is not None, f"{VERSION}: Connection._writer moved"
    with socket.socket(fileno=os.dup(fd)) as peer:
        assert peer.getpeername()[1] == redis_server.port
    await pool.release(connection)
    await pool.disconnect()
    assert socket_fd(connection) is None  # closed: no socket
    await pool.aclose()


def _chain(app: object) -> list[type]:
    """The types of an ASGI stack, outermost first, following each layer's ``app`` down to the
    router."""
    from starlette.routing import Router

    found = [type(app)]
    while not isinstance(app, Router):
        app = app.app  # type: ignore[attr-defined]
        found.append(type(app))
    return found


def test_starlettes_own_stack_is_what_lean_starlette_rebuilds_less_one_layer() -> None:
    """LeanStarlette rebuilds Starlette's middleware stack without ExceptionMiddleware: this
    fails, naming the version, when Starlette's own stack is no longer that plus the one."""
    import starlette
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.errors import ServerErrorMiddleware
    from starlette.middleware.exceptions import ExceptionMiddleware
    from starlette.routing import Router

    from fullon_cache_api.internals import LeanStarlette

    class Hosted:  # a host's middleware
        def __init__(self, app: object) -> None:
            self.app = app

    version = f"starlette {starlette.__version__}"
    own = Starlette(middleware=[Middleware(Hosted)]).build_middleware_stack()
    expected = [ServerErrorMiddleware, Hosted, ExceptionMiddleware, Router]
    assert _chain(own) == expected, version
    lean = LeanStarlette(middleware=[Middleware(Hosted)]).build_middleware_stack()
    assert _chain(lean) == [ServerErrorMiddleware, Hosted, Router], version
