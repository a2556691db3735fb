"""Path and query parameters: each kind parses, validates and documents itself in one place.

A route declares its parameters once, in the route table; the app parses every declared one
(``Param.parse``) and calls the handler with the values as keyword arguments, so a handler can
read no other. An absent optional parameter is its default (None when it has none); a
``TextList`` is always a list. A bad value raises ``BadRequest`` naming the parameter and what is
allowed; the OpenAPI document is built from the same ``schema()``.
"""

from __future__ import annotations

import base64
import binascii
import enum
import math
import re
from dataclasses import KW_ONLY, dataclass
from typing import Any, Literal

import msgspec

from .errors import BadRequest, NotFound
from .readers.accounts import AccountsPosition
from .readers.paging import FamilyPosition, HashPosition
from .settings import Settings

__all__ = [
    "Choice",
    "Cursor",
    "Digits",
    "IdKind",
    "Integer",
    "Number",
    "Param",
    "Text",
    "TextList",
    "next_cursor",
]

# A character of a free-text value: anything but a control character (C0, DEL, C1), an
# invisible format character (zero-width, bidi overrides, BOM), a line or paragraph separator,
# U+FFFD (what a non-UTF-8 percent-escape decodes to), or a character that Redis patterns give a
# meaning (* ? [ ] \). This one class both validates values and is the OpenAPI ``pattern``, so
# the documented rule is the enforced one.
TEXT_CHAR = (
    r"[^\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufffd"
    r"*?\[\]\\]"
)
# No "." or ".." path segment (path traversal has no meaning here, and is refused).
NO_DOT_SEGMENT = r"(?!(?:.*/)?\.\.?(?:/|$))"
TEXT = f"{NO_DOT_SEGMENT}{TEXT_CHAR}+"
_TEXT = re.compile(TEXT)
# Exchange names as the cache keys them; they start with a letter or digit.
EXCHANGE_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"


class IdKind(enum.Enum):
    """The account id a parameter's value is, for authorization (``Resource``)."""

    EX_ID = "ex_id"
    UID = "uid"
    BOT_ID = "bot_id"
    EX_ID_IF_DIGITS = "ex_id_if_digits"
    """An exchange name, or a numeric ex_id where writers key by it (``order_status:3``)."""


@dataclass(frozen=True)
class Param:
    """One parameter of a route. ``id_kind``: the account id its value names, when the route's
    handler reads only that account's data with it (authorization sees exactly these)."""

    name: str
    _: KW_ONLY  # the others by keyword: several share a type
    where: Literal["path", "query"] = "query"
    description: str = ""
    id_kind: IdKind | None = None

    @property
    def required(self) -> bool:
        return self.where == "path"

    def parse(self, raw: str | None, settings: Settings) -> Any:
        """The typed value of the raw text (None: absent), or ``BadRequest``."""
        if raw is None:
            if self.required:
                raise self.bad("is required")
            return self.default(settings)
        return self.convert(raw)

    def default(self, settings: Settings) -> Any:
        return None

    def convert(self, raw: str) -> Any:
        raise NotImplementedError

    def bad(self, detail: str) -> BadRequest:
        return BadRequest(f"{self.where} parameter '{self.name}' {detail}")

    def schema(self, settings: Settings) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class _Printable(Param):
    """The rules of free text: printable, no glob characters, ``max_length`` long at most, or
    matching ``pattern``."""

    max_length: int = 128
    pattern: str | None = None

    def check(self, raw: str) -> str:
        if not raw:
            raise self.bad("must not be empty")
        if len(raw) > self.max_length:
            raise self.bad(f"must be at most {self.max_length} characters")
        if self.pattern is not None:
            if not re.fullmatch(self.pattern, raw):
                raise self.bad(f"must match {self.pattern}")
        elif not _TEXT.fullmatch(raw):
            raise self.bad("must not contain control characters, * ? [ ] \\, or . or .. segments")
        return raw


@dataclass(frozen=True, kw_only=True)
class Text(_Printable):
    """A printable string without glob characters (or one that matches ``pattern``)."""

    def convert(self, raw: str) -> str:
        return self.check(raw)

    def schema(self, settings: Settings) -> dict[str, Any]:
        if self.pattern is not None:
            return {"type": "string", "pattern": f"^{self.pattern}$"}
        return {
            "type": "string",
            "minLength": 1,
            "maxLength": self.max_length,
            "pattern": f"^{TEXT}$",
        }


@dataclass(frozen=True, kw_only=True)
class Digits(Text):
    """A numeric id (``ex_id``, ``uid``, ``bot_id``), kept as a string as the cache keys it."""

    max_length: int = 20
    pattern: str | None = r"[0-9]{1,20}"


@dataclass(frozen=True, kw_only=True)
class TextList(_Printable):
    """A comma-separated list of text values, e.g. ``?symbols=BTC/USDT,ETH/USDT``, as a list
    without repeats.

    Each value is printable text without commas that does not begin or end with a space (so
    ``A, B`` is refused rather than read as ``" B"``); empty values are refused. OpenAPI: an
    array in ``form`` style, not exploded."""

    max_items: int = 100

    def convert(self, raw: str) -> list[str]:
        items = raw.split(",")
        if len(items) > self.max_items:
            raise self.bad(f"must list at most {self.max_items} values")
        return list(dict.fromkeys(self._item(item) for item in items))

    def _item(self, item: str) -> str:
        value = self.check(item)
        if value != value.strip(" "):
            raise self.bad("values must not begin or end with a space")
        return value

    def schema(self, settings: Settings) -> dict[str, Any]:
        char, edge = TEXT_CHAR[:-1] + ",]", TEXT_CHAR[:-1] + ", ]"
        item = {
            "type": "string",
            "minLength": 1,
            "maxLength": self.max_length,
            "pattern": f"^{NO_DOT_SEGMENT}{edge}(?:{char}*{edge})?$",
        }
        return {"type": "array", "items": item, "minItems": 1, "maxItems": self.max_items}


@dataclass(frozen=True, kw_only=True)
class Choice(Param):
    """One of ``choices``; anything else is refused naming them."""

    choices: tuple[str, ...] = ()

    def convert(self, raw: str) -> str:
        if raw in self.choices:
            return raw
        if self.where == "path":  # no such resource
            raise NotFound(f"no {self.name} {raw}")
        raise self.bad(f"must be one of {', '.join(self.choices)}")

    def schema(self, settings: Settings) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.choices)}


@dataclass(frozen=True, kw_only=True)
class Number(Param):
    """A positive finite number (seconds, minutes). Its default is ``default``, or the setting
    named ``default_setting``."""

    default_value: float | None = None
    default_setting: str | None = None

    def default(self, settings: Settings) -> float | None:
        if self.default_setting is not None:
            value: float = getattr(settings, self.default_setting)
            return value
        return self.default_value

    def convert(self, raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise self.bad("must be a positive number") from None
        if not (math.isfinite(value) and value > 0):
            raise self.bad("must be a positive number")
        return value

    def schema(self, settings: Settings) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "number", "exclusiveMinimum": 0}
        default = self.default(settings)
        if default is not None:
            schema["default"] = default
        return schema


@dataclass(frozen=True, kw_only=True)
class Integer(Param):
    """An integer within ``[minimum, maximum]`` (``limit``, epoch milliseconds)."""

    minimum: int = 1
    maximum: int = 1000
    default_value: int | None = None

    def default(self, settings: Settings) -> int | None:
        return self.default_value

    def convert(self, raw: str) -> int:
        if not re.fullmatch(r"-?[0-9]{1,20}", raw) or not (
            self.minimum <= int(raw) <= self.maximum
        ):
            raise self.bad(f"must be an integer from {self.minimum} to {self.maximum}")
        return int(raw)

    def schema(self, settings: Settings) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": "integer",
            "minimum": self.minimum,
            "maximum": self.maximum,
        }
        if self.default_value is not None:
            schema["default"] = self.default_value
        return schema


_CURSOR_TEXT = re.compile(r"[A-Za-z0-9_-]+")
"""URL-safe base64 without padding: the characters of every cursor ``next_cursor`` gives."""


@dataclass(frozen=True, kw_only=True)
class Cursor(Param):
    """Where a listing's next page starts: the ``next_cursor`` its previous page gave, opaque
    to clients (a ``position`` value, msgpack in URL-safe base64)."""

    position: Any = str
    start: Any = None
    """The position of the first page (the default)."""

    def default(self, settings: Settings) -> Any:
        return self.start

    def convert(self, raw: str) -> Any:
        position = None
        # Only as next_cursor writes it (the documented pattern's characters): base64 alone
        # would also read padding, + and /, and skip stray characters.
        if _CURSOR_TEXT.fullmatch(raw):
            try:
                data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
                position = msgspec.msgpack.decode(data, type=self.position)
            except (ValueError, binascii.Error, msgspec.DecodeError):
                position = None
        if position is None or (isinstance(position, int) and position < 0):
            raise self.bad("is not a cursor this listing gave (ask without it to start over)")
        return position

    def schema(self, settings: Settings) -> dict[str, Any]:
        return {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,4096}$"}


def next_cursor(position: Any) -> str | None:
    """The ``next_cursor`` of a page whose next page starts at ``position`` (None: the last)."""
    if position is None:
        return None
    return base64.urlsafe_b64encode(msgspec.msgpack.encode(position)).rstrip(b"=").decode()


# The parameters of the API, declared once each and listed by the route table. -----------------

EXCHANGE = Text(
    "exchange",
    where="path",
    description="exchange name as the cache keys it",
    max_length=64,
    pattern=EXCHANGE_NAME,
)
ORDERS_EXCHANGE = Text(
    "exchange",
    where="path",
    description=(
        "exchange name as the cache keys it, or a numeric ex_id where writers key orders by it"
    ),
    id_kind=IdKind.EX_ID_IF_DIGITS,
    max_length=64,
    pattern=EXCHANGE_NAME,
)
SYMBOL = Text(
    "symbol", where="path", description="symbol as stored, slash included (BTC/USDT, BTC/USDC:USDC)"
)
SYMBOLS = TextList("symbols", description="only these symbols, comma-separated")
EXCHANGE_FILTER = Text(
    "exchange",
    description="only this exchange",
    max_length=64,
    pattern=EXCHANGE_NAME,
)
MAX_AGE = Number("max_age", description="keep only ticks younger than this many seconds")
ACTIVE_MAX_AGE = Number(
    "max_age",
    description=(
        "keep only ticks younger than this many seconds (default: the ticker staleness setting)"
    ),
    default_setting="ticker_max_age",
)
STALE_TICK = Number(
    "max_age",
    description=(
        "a tick older than this many seconds is stale (default: the ticker staleness setting)"
    ),
    default_setting="ticker_max_age",
)

EX_ID = Digits(
    "ex_id", where="path", description="exchange account id (digits)", id_kind=IdKind.EX_ID
)
UID = Digits("uid", where="path", description="user id (digits)", id_kind=IdKind.UID)
BOT_ID = Digits("bot_id", where="path", description="bot id (digits)", id_kind=IdKind.BOT_ID)
CURRENCY = Text("currency", where="path", description="currency code as stored (USDT, BTC)")
ORDER_ID = Text(
    "order_id", where="path", description="order id: the field of the order_status hash"
)
QUEUE_NAME = Text("name", where="path", description="queue name: the part after new_orders:")
COMPONENT = Text("component", where="path", description="process component (may hold : and /)")
PROCESS_ID = Text("process_id", where="path", description="process id (opaque; may hold : and /)")
TIMEFRAME = Text(
    "timeframe",
    where="path",
    description="OHLCV timeframe: 1m, 15m, 1h, 4h, 1d, 1w",
    max_length=8,
    pattern=r"[1-9][0-9]{0,3}[smhdwM]",
)
LIMIT = Integer(
    "limit",
    description="most items to return",
    minimum=1,
    maximum=1000,
    default_value=100,
)
PAGE = Integer(
    "limit",
    description="most items in this page",
    minimum=1,
    maximum=1000,
    default_value=1000,
)
_NEXT = "the next_cursor of the previous page"
HASH_CURSOR = Cursor("cursor", description=_NEXT, position=HashPosition)
HASHES_CURSOR = Cursor("cursor", description=_NEXT, position=FamilyPosition)
ACCOUNTS_CURSOR = Cursor("cursor", description=_NEXT, position=AccountsPosition)
KEY_CURSOR = Cursor("cursor", description=_NEXT, position=str)
OFFSET_CURSOR = Cursor("cursor", description=_NEXT, position=int, start=0)
OHLCV_LIMIT = Integer(
    "limit", description="latest N bars", minimum=1, maximum=10000, default_value=100
)
SINCE = Integer(
    "since",
    description="first bar time, epoch ms, inclusive; not after until",
    minimum=0,
    maximum=10**15,
)
UNTIL = Integer(
    "until",
    description="last bar time, epoch ms, inclusive; not before since",
    minimum=0,
    maximum=10**15,
)
STATUS_FILTER = Text("status", description="only orders with this status")
SYMBOL_FILTER = Text("symbol", description="only this symbol")
BOT_ID_FILTER = Digits("bot_id", description="only this bot id", id_kind=IdKind.BOT_ID)
UID_FILTER = Digits("uid", description="only this user id", id_kind=IdKind.UID)
PROCESS_TYPE = Choice(
    "type",
    description="process type",
    choices=(
        "tick",
        "ohlcv",
        "bot",
        "account",
        "order",
        "bot_status_service",
        "crawler",
        "user_trades_service",
    ),
)
PROCESS_STATUS = Choice(
    "status",
    description="process status",
    choices=("starting", "running", "processing", "idle", "error", "stopped"),
)
COMPONENT_FILTER = Text("component", description="only this component")
SINCE_MINUTES = Number(
    "since_minutes",
    description="updated within this many minutes",
    default_value=5.0,
)
STALE_AFTER = Number(
    "stale_after",
    description="heartbeat older than this many seconds is stale",
    default_value=300.0,
)
