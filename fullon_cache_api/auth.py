"""Authentication and authorization, off unless configured.

- Standalone: bearer tokens (``FULLON_CACHE_API_TOKENS``), compared in constant time.
- Mounted in master_api: master_api's middleware puts the user on ``request.state.user``;
  ``require_user=True`` answers 401 when none is there, and an ``authorize(request, resource)``
  hook may refuse a read with 403 (per account: ``ex_id``, ``uid``, ``bot_id``).

Checks wrap the route handlers only when something is configured, so an open API pays nothing.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from .errors import Forbidden, Unauthorized
from .settings import Settings

__all__ = ["Auth", "Authorize", "Resource"]

Handler = Callable[[Request], Awaitable[Response]]


class Resource(msgspec.Struct, frozen=True):
    """What a request reads, for the ``authorize`` hook: the route template and the account ids
    named in its path or query (None when the request covers all of them)."""

    route: str
    ex_id: str | None = None
    uid: str | None = None
    bot_id: str | None = None


Authorize = Callable[[Request, Resource], Awaitable[bool]]
CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True)
class Auth:
    tokens: tuple[bytes, ...] = ()
    require_user: bool = False
    authorize: Authorize | None = None
    public_health: bool = True
    public_docs: bool = True

    @classmethod
    def from_settings(
        cls, settings: Settings, require_user: bool, authorize: Authorize | None
    ) -> Auth:
        return cls(
            tuple(token.encode() for token in settings.tokens),
            require_user,
            authorize,
            settings.public_health,
            settings.public_docs,
        )

    def is_public(self, path: str, tag: str) -> bool:
        return (path == "/health" and self.public_health) or (tag == "docs" and self.public_docs)

    def guard(self, handler: Handler, path: str, tag: str) -> Handler:
        """``handler`` with the configured checks in front of it (itself when there are none)."""
        if self.is_public(path, tag) or not (self.tokens or self.require_user or self.authorize):
            return handler

        async def guarded(request: Request) -> Response:
            await self.check(request, path)
            return await handler(request)

        guarded.__name__ = handler.__name__
        guarded.__doc__ = handler.__doc__
        return guarded

    async def check(self, request: Request, route: str) -> None:
        if self.tokens and not self._token_ok(request.headers.get("authorization", "")):
            raise Unauthorized("a valid bearer token is required", CHALLENGE)
        if self.require_user and getattr(request.state, "user", None) is None:
            raise Unauthorized("authentication required", CHALLENGE)
        if self.authorize is not None:
            ids = {**request.query_params, **request.path_params}
            resource = Resource(route, ids.get("ex_id"), ids.get("uid"), ids.get("bot_id"))
            if not await self.authorize(request, resource):
                raise Forbidden("not allowed to read this resource")

    def _token_ok(self, header: str) -> bool:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        given = token.strip().encode()
        matched = False
        for known in self.tokens:  # every token is compared, so timing says nothing
            matched |= hmac.compare_digest(given, known)
        return matched
