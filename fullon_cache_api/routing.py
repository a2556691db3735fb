"""The types of a route declaration: ``Endpoint``, its policy fields, ``Raw`` answer kinds, its
WebSocket twin ``Socket``. Declarations only: this module imports no runtime module (what a
handler gets at run time is ``context.Ctx``).

An ``Endpoint`` is the single declaration of a route: path, parameters (each once, with its
default), response type and policy. It checks itself when built, so a route table with a
mistake cannot be imported: the path's placeholders, the declared path parameters and the
handler's keyword parameters must name the same values, and a handler that answers a Struct
must be annotated with the declared response type. This module imports no handler.
"""

from __future__ import annotations

import enum
import functools
import inspect
import re
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from starlette.responses import Response

from .actions import Action
from .envelopes import Envelope
from .errors import ApiError
from .params import IdKind, Param

__all__ = ["Access", "Endpoint", "Family", "Handler", "Raw", "Socket", "template"]

Handler = Callable[..., Awaitable[Any]]
"""``async def handler(ctx: Ctx, **params) -> Struct | Response``."""

_CONVERTER = re.compile(r"\{(\w+)(?::\w+)?\}")


def template(path: str) -> str:
    """``/tickers/{exchange}/{symbol:path}`` -> ``/tickers/{exchange}/{symbol}``: the route's
    name in the OpenAPI document, metrics and authorization."""
    return _CONVERTER.sub(r"{\1}", path)


class Access(enum.Enum):
    """Who may call a route when authentication is configured."""

    GUARDED = "guarded"
    """Tokens, ``require_user`` and ``authorize`` apply."""
    PROBE = "probe"
    """Open (load balancers) unless the ``public_health`` setting is false."""
    DOCS = "docs"
    """Open unless the ``public_docs`` setting is false."""


class Family(enum.Enum):
    """What a route reads, as a token's scopes name it (the tokens file): a token reads a route
    when its scopes hold the route's family, or ``*``."""

    MARKET = "market"
    """Tickers, OHLCV, public trades, exchanges, the ticker stream."""
    ACCOUNTS = "accounts"
    ORDERS = "orders"
    USER_TRADES = "trades:user"
    BOTS = "bots"
    PROCESSES = "processes"
    SERVICE = "service"
    """/overview, /info, /metrics."""
    OPEN = "open"
    """Any caller that is let in: /health, the docs, the pages, ``ping``."""


class Raw:
    """A route's ``response`` when the answer is not a JSON-encoded Struct: its handler returns a
    Starlette ``Response``. Subclasses describe the answer for the OpenAPI document."""

    media_types: ClassVar[dict[str, dict[str, Any]]] = {}
    description: ClassVar[str] = "OK"
    headers: ClassVar[dict[str, dict[str, Any]]] = {}
    other_responses: ClassVar[dict[str, dict[str, Any]]] = {}
    """Responses by status, e.g. a 304, or an error with a code of its own."""
    events: ClassVar[dict[str, type]] = {}
    """For a stream (Server-Sent Events): the type of each event's ``data``, by event name
    (``fullon_cache_api.client`` decodes them)."""


@dataclass(frozen=True)
class Endpoint:
    """One HTTP route. Summary and description come from the handler's docstring.

    Policy: ``access`` (who may call it), ``no_store`` (``Cache-Control: no-store``: account,
    order, trade, bot and process data), ``etag`` (conditional GET: a JSON answer gets a weak
    ETag from the stored bytes it is built from and the clock's choices, a raw answer may carry
    its own; 304 when ``If-None-Match`` holds it), ``failure`` (its Redis failures, 502/503/504,
    answer in the shape this builds from the error, not ``ErrorOut``: /health, for load
    balancers), ``reads_cache`` (whether Redis failures apply to it at all),
    ``stream_headers`` (a stream: its headers, which a HEAD request gets without opening it; it
    takes one of the token's stream slots), ``heavy`` (it
    reads the whole cache: identical requests share one answer, also for as long after as it
    took, and a few are worked out at once per process), ``family`` (which token scope reads
    it; a route of none is read by ``*`` tokens only), ``lists`` (its answer's ``items`` each
    name an account id of this kind: a token with an allow-list sees only its own).
    """

    path: str
    handler: Handler
    response: type
    params: tuple[Param, ...] = ()
    tag: str = ""
    access: Access = Access.GUARDED
    no_store: bool = False
    etag: bool = True
    failure: Callable[[ApiError], Any] | None = None
    reads_cache: bool = True
    stream_headers: Mapping[str, str] | None = None
    heavy: bool = False
    family: Family | None = None
    lists: IdKind | None = None

    def __post_init__(self) -> None:
        in_path = _CONVERTER.findall(self.path)
        declared = [p.name for p in self.params if p.where == "path"]
        if sorted(in_path) != sorted(declared):
            raise ValueError(f"{self.path}: path parameters {in_path} but declares {declared}")
        names = [p.name for p in self.params]
        if len(names) != len(set(names)):
            raise ValueError(f"{self.path}: a parameter is declared twice")
        taken = list(inspect.signature(self.handler).parameters)[1:]
        if sorted(taken) != sorted(names):
            raise ValueError(
                f"{self.path}: {self.handler.__name__} takes {taken} but the route declares {names}"
            )
        if self.stream_headers is not None and not self.is_raw:
            raise ValueError(f"{self.path}: a stream answers a raw response")
        if self.is_stream != bool(getattr(self.response, "events", None)):
            raise ValueError(f"{self.path}: a stream, and only a stream, declares Raw.events")
        if self.lists is not None and self.heavy:
            raise ValueError(f"{self.path}: a shared (heavy) answer cannot be kept per token")
        answer = typing.get_type_hints(self.handler).get("return")
        expected = Response if self.is_raw else self.response
        if not (isinstance(answer, type) and issubclass(answer, expected)):
            raise ValueError(f"{self.path}: {self.handler.__name__} must answer {expected}")

    @property
    def is_raw(self) -> bool:
        return issubclass(self.response, Raw)

    @property
    def is_stream(self) -> bool:
        """Whether it answers Server-Sent Events (``stream_headers``; its ``Raw.events``)."""
        return self.stream_headers is not None

    @property
    def template(self) -> str:
        return template(self.path)

    @property
    def name(self) -> str:
        return f"{self.tag}.{self.handler.__name__}"

    @property
    def summary(self) -> str:
        return (inspect.getdoc(self.handler) or "").split("\n", 1)[0]

    @property
    def description(self) -> str:
        doc = inspect.getdoc(self.handler) or ""
        return doc.split("\n", 1)[1].strip() if "\n" in doc else ""


@dataclass(frozen=True)
class Socket:
    """One WebSocket route of the v0.2.6 protocol: its path, the actions it accepts and the
    envelope of its frames. A domain socket's path ends in ``{connection_id}`` (any one
    segment, named so for master_api); ``/ws`` has none. Guarded like every ``Endpoint``.
    ``family``: the token scope its actions read, but for those ``families`` names."""

    path: str
    actions: tuple[Action, ...]
    envelope: Envelope
    tag: str = ""
    family: Family | None = None
    families: tuple[tuple[str, Family], ...] = ()

    def __post_init__(self) -> None:
        if _CONVERTER.findall(self.path) not in ([], ["connection_id"]):
            raise ValueError(f"{self.path}: a socket's only parameter is {{connection_id}}")
        if len(self.by_name) != len(self.actions):
            raise ValueError(f"{self.path}: an action is declared twice")
        for name, _ in self.families:
            if name not in self.by_name:
                raise ValueError(f"{self.path}: a family for no action {name!r}")

    def family_of(self, action: str) -> Family | None:
        """The token scope an action reads."""
        return dict(self.families).get(action, self.family)

    @functools.cached_property
    def by_name(self) -> dict[str, Action]:
        return {action.name: action for action in self.actions}

    @property
    def template(self) -> str:
        return template(self.path)

    @property
    def name(self) -> str:
        return f"ws.{self.tag}"
