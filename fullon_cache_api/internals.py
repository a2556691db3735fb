"""The one place that touches private attributes of the libraries (redis-py's connection and
pool) or overrides a method they keep for themselves
(Starlette's ``build_middleware_stack``). Each use is one function or class here, and
tests/test_internals.py checks every one against the installed versions, so a release that
moves an attribute fails that test, naming the library's version, instead of the API at run
time. Each function also degrades to a safe answer when an attribute is gone."""

from __future__ import annotations

from redis.asyncio import ConnectionPool
from redis.asyncio.connection import AbstractConnection
from starlette.applications import Starlette
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import ASGIApp

__all__ = ["LeanStarlette", "idle_connections", "reset_parser", "socket_fd"]


def idle_connections(pool: ConnectionPool) -> list[AbstractConnection]:
    """The pool's connections that no request holds ([] when the attribute moved)."""
    return list(getattr(pool, "_available_connections", ()))


def socket_fd(connection: AbstractConnection) -> int | None:
    """The file descriptor of an open ``connection``'s socket (None when it cannot be had)."""
    try:
        return int(connection._writer.get_extra_info("socket").fileno())  # type: ignore[union-attr]
    except (AttributeError, OSError):
        return None


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
