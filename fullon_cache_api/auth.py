"""Authentication and authorization, off unless configured.

- Standalone: bearer tokens, named in a tokens file (``FULLON_CACHE_API_TOKENS_FILE``, see
  ``tokens.py``) with scopes (the route families they read: a route's ``family`` in the route
  table), allow-lists of account ids and limits, or plain (``FULLON_CACHE_API_TOKENS``: scope
  ``*``). A presented token is hashed and its digest looked up. A WebSocket handshake may carry
  it as ``?token=`` instead (browsers cannot set its headers). Allow-lists apply to the same
  ``Resource`` the host's hook gets; a listing that declares its items' ids (``lists``) shows an
  allow-listed token only its own.
- Limits, with tokens: requests per second with a burst per token (per client address on
  routes open without one), and open streams and WebSockets per token; 429 past them.
- Every refusal (401, 403, 429) is logged in one line (token name, client address, route,
  reason) and counted in /metrics (``fullon_cache_api_refusals`` by token name and reason).
- Mounted in master_api: master_api's middleware puts the user on ``request.state.user``;
  ``require_user=True`` answers 401 when none is there, and an ``authorize(request, resource)``
  hook may refuse a read with 403. ``resource`` names the route and exactly the account ids the
  route reads by: its path ids and the query filters its handler applies, as declared in the
  route table (``Param.id_kind``); a listing across accounts names none.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec
from prometheus_client import Counter
from starlette.requests import HTTPConnection

from .errors import ApiError, Forbidden, Unauthorized
from .logsafe import clean
from .params import IdKind
from .routing import Access, Family
from .settings import Settings
from .tokens import Token, TokenFile, TokenTable, plain

__all__ = ["Auth", "Authorize", "Resource"]

log = logging.getLogger("fullon.cache_api.auth")

REFUSALS = Counter(
    "fullon_cache_api_refusals", "Requests refused (401, 403, 429), by token name and reason",
    ["token", "reason"],
)  # fmt: skip
TOKEN = "fullon_cache_api.token"  # noqa: S105 - a scope key, not a secret
"""The scope key of the request's token (a ``Token``), once authenticated."""
UNKNOWN = "unknown"
PER_ACCOUNT = frozenset({Family.ACCOUNTS, Family.ORDERS, Family.USER_TRADES, Family.BOTS})
"""Families whose routes read one account's data: there an allow-listed token must name one."""


class TooManyRequests(ApiError):
    status = 429
    code = "too_many_requests"


class Scoped(Protocol):
    """A declared parameter (a route's ``Param``, an action's ``Arg``): its ``id_kind`` says which
    account id its value is, if any."""

    @property
    def name(self) -> str: ...

    @property
    def id_kind(self) -> IdKind | None: ...


class Resource(msgspec.Struct, kw_only=True, frozen=True):
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
            if param.id_kind is None or value is None:
                continue
            if param.id_kind is IdKind.EX_ID_IF_DIGITS:
                if value.isascii() and value.isdigit():
                    ids["ex_id"] = value
            else:
                ids[param.id_kind.value] = value
        return cls(route=route, **ids)


Authorize = Callable[[HTTPConnection, Resource], Awaitable[bool]]
CHALLENGE = {"WWW-Authenticate": "Bearer"}


def token_of(connection: HTTPConnection) -> Token | None:
    """The request's token, once authenticated by one."""
    token: Token | None = connection.scope.get(TOKEN)
    return token


def refuse(connection: HTTPConnection, route: str, reason: str, error: ApiError) -> ApiError:
    """``error``, logged in one line and counted: who (the token's name, or "unknown"), from
    where, on which route, why."""
    token = token_of(connection)
    name = token.name if token is not None else UNKNOWN
    client = connection.scope.get("client")
    address = str(client[0]) if client else ""
    REFUSALS.labels(name, reason).inc()
    log.warning(
        "refused %d %s: token=%s client=%s route=%s",
        error.status,
        reason,
        name,
        clean(address, 64),
        clean(route),
    )
    return error


class Buckets:
    """Token buckets by key (a token's name, a client address): ``rate`` a second, at most
    ``burst`` at once. Full buckets are forgotten once there are many (they hold nothing)."""

    MAX = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, rate: float, burst: int) -> float:
        """0 when a request may go; else the seconds until one may."""
        now = self.clock()
        level, at = self.buckets.get(key, (float(burst), now))
        level = min(float(burst), level + (now - at) * rate)
        if level < 1:
            self.buckets[key] = (level, now)
            return (1 - level) / rate
        if len(self.buckets) >= self.MAX and key not in self.buckets:
            self._forget_full(now, rate, burst)
        self.buckets[key] = (level - 1, now)
        return 0.0

    def _forget_full(self, now: float, rate: float, burst: int) -> None:
        for key, (level, at) in list(self.buckets.items()):
            if level + (now - at) * rate >= burst:
                del self.buckets[key]


class StreamCounts:
    """Open streams and WebSockets by token name."""

    def __init__(self) -> None:
        self.open: dict[str, int] = {}

    def take(self, name: str, most: int) -> bool:
        held = self.open.get(name, 0)
        if held >= most:
            return False
        self.open[name] = held + 1
        return True

    def give(self, name: str) -> None:
        held = self.open.get(name, 0) - 1
        if held > 0:
            self.open[name] = held
        else:
            self.open.pop(name, None)


@dataclass(frozen=True)
class Auth:
    tokens: TokenFile | None = None
    """The configured tokens (None: none, no token is asked for)."""
    require_user: bool = False
    authorize: Authorize | None = None
    public_health: bool = True
    public_docs: bool = True
    rate: float = 100.0
    burst: int = 400
    streams: int = 40
    buckets: Buckets = field(default_factory=Buckets)
    open_streams: StreamCounts = field(default_factory=StreamCounts)

    @classmethod
    def of(cls, settings: Settings, require_user: bool, authorize: Authorize | None) -> Auth:
        extra = plain(settings.tokens)
        has_tokens = bool(extra or settings.tokens_file)
        return cls(
            TokenFile(settings.tokens_file, extra) if has_tokens else None,
            require_user,
            authorize,
            settings.public_health,
            settings.public_docs,
            settings.rate_limit,
            settings.rate_burst,
            settings.token_streams,
        )

    def authenticates(self, access: Access) -> bool:
        """Whether a route with this access is checked at all."""
        if access is Access.PROBE and self.public_health:
            return False
        if access is Access.DOCS and self.public_docs:
            return False
        return bool(self.tokens or self.require_user or self.authorize)

    @property
    def limits(self) -> bool:
        """Whether requests and streams are limited (with tokens only)."""
        return self.tokens is not None

    def authenticate(
        self, connection: HTTPConnection, route: str = "", family: Family | None = None
    ) -> None:
        """401 unless the request carries a configured token (standalone) and, with
        ``require_user``, the host's user; 403 when the token's scopes do not cover
        ``family``."""
        if self.tokens is not None:
            token = self._token(connection, self.tokens.current())
            if token is None:
                error = Unauthorized("a valid bearer token is required", CHALLENGE)
                raise refuse(connection, route, "no_token", error)
            connection.scope[TOKEN] = token
            self.scoped(connection, route, family)
        if self.require_user and getattr(connection.state, "user", None) is None:
            error = Unauthorized("authentication required", CHALLENGE)
            raise refuse(connection, route, "no_user", error)

    def scoped(self, connection: HTTPConnection, route: str, family: Family | None) -> None:
        """403 when the request's token does not read routes of ``family``."""
        token = token_of(connection)
        if token is not None and not token.reads(None if family is None else family.value):
            what = "this route" if family is None else f"the {family.value} scope"
            error = Forbidden(f"this token's scopes do not include {what}")
            raise refuse(connection, route, "scope", error)

    async def check(
        self,
        connection: HTTPConnection,
        resource: Resource,
        family: Family | None = None,
        lists: IdKind | None = None,
    ) -> None:
        """403 when the token's allow-lists do not hold the ids ``resource`` reads by, or when
        the host's ``authorize`` hook refuses it. A token with allow-lists reads only routes
        that name an id it limits or whose listing shows only its own (``lists``)."""
        token = token_of(connection)
        if token is not None and token.limited:
            if not token.admits(resource.ex_id, resource.uid, resource.bot_id):
                error = Forbidden("this token may not read this account")
                raise refuse(connection, resource.route, "allow_list", error)
            if family in PER_ACCOUNT and not _narrowed(token, resource, lists):
                error = Forbidden("this token reads only its own accounts: name one")
                raise refuse(connection, resource.route, "allow_list", error)
        if self.authorize is not None and not await self.authorize(connection, resource):
            error = Forbidden("not allowed to read this resource")
            raise refuse(connection, resource.route, "host", error)

    def pace(self, connection: HTTPConnection, route: str) -> None:
        """429 past the request's token's rate (its client address's, without a token)."""
        token = token_of(connection)
        if token is not None:
            key, rate = "token:" + token.name, token.rate or self.rate
            burst = token.burst or (self.burst if token.rate is None else max(1, int(rate)))
        else:
            client = connection.scope.get("client")
            key, rate, burst = "client:" + (str(client[0]) if client else ""), self.rate, self.burst
        wait = self.buckets.take(key, rate, burst)
        if wait > 0:
            retry = {"Retry-After": str(max(1, math.ceil(wait)))}
            error = TooManyRequests(f"at most {rate:g} requests a second", retry)
            raise refuse(connection, route, "rate", error)

    def open_stream(self, connection: HTTPConnection, route: str) -> Callable[[], None]:
        """A stream slot of the request's token (429 past its most); call what it returns to
        give it back."""
        token = token_of(connection)
        if token is None:
            return _nothing
        most = token.streams or self.streams
        if not self.open_streams.take(token.name, most):
            error = TooManyRequests(f"at most {most} open streams and WebSockets per token")
            raise refuse(connection, route, "streams", error)
        return lambda: self.open_streams.give(token.name)

    def _token(self, connection: HTTPConnection, table: TokenTable) -> Token | None:
        scheme, _, token = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            token = ""
        if not token.strip() and connection.scope["type"] == "websocket":
            token = connection.query_params.get("token", "")
        if not token.strip():
            return None
        return table.find(token.strip())


def _narrowed(token: Token, resource: Resource, lists: IdKind | None) -> bool:
    """Whether a request of an allow-listed token reads only what it may: it names an id of a
    kind the token limits, or the route's listing keeps only the token's own."""
    kinds = (
        ("ex_id", token.ex_ids, resource.ex_id),
        ("uid", token.uids, resource.uid),
        ("bot_id", token.bot_ids, resource.bot_id),
    )
    for kind, allowed, named in kinds:
        listed = lists is not None and lists.value == kind
        if allowed is not None and (named is not None or listed):
            return True
    return False


def _nothing() -> None:
    return None
