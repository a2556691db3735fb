"""The one place that touches private attributes of the libraries (redis-py's connection and
pool, asyncio's stream reader under it) or overrides a method they keep for themselves
(Starlette's ``build_middleware_stack``). Each use is one function or class here, and
tests/test_internals.py checks every one against the installed versions, so a release that
moves an attribute fails that test, naming the library's version, instead of the API at run
time. Each function also degrades to a safe answer when an attribute is gone."""

from __future__ import annotations

import select
from collections.abc import Callable
from typing import Any

from redis.asyncio import ConnectionPool
from redis.asyncio.connection import AbstractConnection
from starlette.applications import Starlette
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import ASGIApp

__all__ = ["LeanStarlette", "idle_connections", "reset_parser", "unread_probe"]


def unread_probe(connection: Any) -> Callable[[], bool] | None:
    """What tells whether bytes from Redis wait unread on ``connection`` (or its end): parsed
    into redis-py's parser but not yet taken (two messages that came in one read), read by
    asyncio but not yet by redis-py, or still in the kernel's buffer (a poll with no wait).
    redis-py's own ``can_read`` looks at the same buffers. None when the connection cannot be
    watched (its internals moved, or its socket is closed)."""
    try:
        parser = connection._parser
        stream = connection._reader
        stream._buffer  # noqa: B018 - checked now, read by the probe
        stream._eof  # noqa: B018
        poller = select.poll()
        poller.register(connection._writer.get_extra_info("socket").fileno(), select.POLLIN)
    except (AttributeError, OSError):
        return None
    hiredis = getattr(parser, "_reader", None)
    if hiredis is not None and hasattr(hiredis, "has_data"):
        parsed: Callable[[], bool] = hiredis.has_data
    elif isinstance(getattr(parser, "_buffer", None), bytes):
        parsed = lambda: bool(parser._buffer)  # noqa: E731 - redis-py's Python parser
    else:
        return None
    return lambda: parsed() or bool(stream._buffer) or stream._eof or bool(poller.poll(0))


def idle_connections(pool: ConnectionPool) -> list[AbstractConnection]:
    """The pool's connections that no request holds ([] when the attribute moved)."""
    return list(getattr(pool, "_available_connections", ()))


def reset_parser(connection: AbstractConnection) -> bool:
    """Give a closed ``connection`` a new parser of the same kind, so that the old one's read
    buffer (as large as the largest reply it read) is freed; False when it cannot."""
    get_parser = getattr(connection, "_get_parser", None)
    if get_parser is None:
        return False
    connection.set_parser(type(get_parser()))
    return True


class LeanStarlette(Starlette):
    """Starlette's application without its ``ExceptionMiddleware`` (for a router that answers
    unknown paths and methods itself, and routes that map their own errors: a Request object
    and a wrapper less per request), and with ``outer`` around the whole stack. The rest is
    Starlette's own order: ``ServerErrorMiddleware``, then the middleware a host adds."""

    @staticmethod
    def outer(app: ASGIApp) -> ASGIApp:
        return app

    def build_middleware_stack(self) -> ASGIApp:
        app: ASGIApp = self.router
        for cls, args, kwargs in reversed(self.user_middleware):
            app = cls(app, *args, **kwargs)
        handler = self.exception_handlers.get(Exception)
        return self.outer(ServerErrorMiddleware(app, handler=handler, debug=self.debug))
