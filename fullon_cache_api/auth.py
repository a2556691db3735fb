"""Authentication and authorization, off unless configured.

- Standalone: bearer tokens (``FULLON_CACHE_API_TOKENS``), compared in constant time. A
  WebSocket handshake may carry it as ``?token=`` instead (browsers cannot set its headers).
- Mounted in master_api: master_api's middleware puts the user on ``request.state.user``;
  ``require_user=True`` answers 401 when none is there, and an ``authorize(request, resource)``
  hook may refuse a read with 403. ``resource`` names the route and exactly the account ids the
  route reads by: its path ids and the query filters its handler applies, as declared in the
  route table (``Param.scope``); a listing across accounts names none.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec
from starlette.requests import HTTPConnection

from .errors import Forbidden, Unauthorized
from .params import Scope
from .routing import Access
from .settings import Settings

__all__ = ["Auth", "Authorize", "Resource"]


class Scoped(Protocol):
    """A declared parameter (a route's ``Param``, an action's ``Field``): its scope says which
    account id its value is, if any."""

    @property
    def name(self) -> str: ...

    @property
    def scope(self) -> Scope | None: ...


class Resource(msgspec.Struct, frozen=True):
    """What a request reads, for the ``authorize`` hook: the route template and the account ids
    it reads by (None when the request covers all of them)."""

    route: str
    ex_id: str | None = None
    uid: str | None = None
    bot_id: str | None = None

    @classmethod
    def of(cls, route: str, params: Iterable[Scoped], args: Mapping[str, Any]) -> Resource:
        """The resource of a route's parsed arguments: only its scoped parameters count."""
        ids: dict[str, str] = {}
        for param in params:
            value = args.get(param.name)
            if param.scope is None or value is None:
                continue
            if param.scope is Scope.EX_ID_IF_DIGITS:
                if value.isascii() and value.isdigit():
                    ids["ex_id"] = value
            else:
                ids[param.scope.value] = value
        return cls(route, **ids)


Authorize = Callable[[HTTPConnection, Resource], Awaitable[bool]]
CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True)
class Auth:
    tokens: tuple[bytes, ...] = ()
    require_user: bool = False
    authorize: Authorize | None = None
    public_health: bool = True
    public_docs: bool = True

    @classmethod
    def of(cls, settings: Settings, require_user: bool, authorize: Authorize | None) -> Auth:
        return cls(
            tuple(token.encode() for token in settings.tokens),
            require_user,
            authorize,
            settings.public_health,
            settings.public_docs,
        )

    def authenticates(self, access: Access) -> bool:
        """Whether a route with this access is checked at all."""
        if access is Access.PROBE and self.public_health:
            return False
        if access is Access.DOCS and self.public_docs:
            return False
        return bool(self.tokens or self.require_user or self.authorize)

    def authenticate(self, connection: HTTPConnection) -> None:
        """401 unless the request carries a configured token (standalone) and, with
        ``require_user``, the host's user."""
        if self.tokens and not self._token_ok(connection):
            raise Unauthorized("a valid bearer token is required", CHALLENGE)
        if self.require_user and getattr(connection.state, "user", None) is None:
            raise Unauthorized("authentication required", CHALLENGE)

    async def check(self, connection: HTTPConnection, resource: Resource) -> None:
        """403 when the host's ``authorize`` hook refuses ``resource``."""
        if self.authorize is not None and not await self.authorize(connection, resource):
            raise Forbidden("not allowed to read this resource")

    def _token_ok(self, connection: HTTPConnection) -> bool:
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            token = ""
        if not token.strip() and connection.scope["type"] == "websocket":
            token = connection.query_params.get("token", "")
        if not token.strip():
            return False
        given = token.strip().encode()
        matched = False
        for known in self.tokens:  # every token is compared, so timing says nothing
            matched |= hmac.compare_digest(given, known)
        return matched
