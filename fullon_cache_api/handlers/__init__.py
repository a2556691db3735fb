"""Plain async handlers, one per endpoint: parse parameters, call a reader, respond."""

from __future__ import annotations

from starlette.requests import Request

from ..client import Cache

__all__ = ["cache_of"]


def cache_of(request: Request) -> Cache:
    """The app's cache access (Starlette sets ``scope["app"]`` to this app, mounted or not)."""
    cache: Cache = request.app.state.cache
    return cache
