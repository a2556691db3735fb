"""Path and query parameters: each is parsed, validated and documented in one place.

A parameter object reads its raw value from the request, checks it, and returns a typed value or
raises ``BadRequest`` naming the parameter and saying what is allowed. The route table lists the
same objects, and the OpenAPI document is built from their ``schema()``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from starlette.requests import Request

from .errors import BadRequest

__all__ = [
    "Choice",
    "Digits",
    "Integer",
    "Number",
    "Param",
    "Text",
    "TextList",
]

N = TypeVar("N", int, float)

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
# Exchange names as the cache keys them; they start with a letter or digit.
EXCHANGE_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"


@dataclass(frozen=True)
class Param:
    name: str
    where: Literal["path", "query"] = "query"
    description: str = ""

    @property
    def required(self) -> bool:
        return self.where == "path"

    def raw(self, request: Request) -> str | None:
        if self.where == "path":
            value: str | None = request.path_params[self.name]
            return value
        return request.query_params.get(self.name)

    def bad(self, detail: str) -> BadRequest:
        return BadRequest(f"{self.where} parameter '{self.name}' {detail}")

    def schema(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True)
class Text(Param):
    """A printable string without glob characters, ``max_length`` long at most."""

    max_length: int = 128
    pattern: str | None = None

    def parse(self, value: str) -> str:
        if not value:
            raise self.bad("must not be empty")
        if len(value) > self.max_length:
            raise self.bad(f"must be at most {self.max_length} characters")
        if self.pattern is not None:
            if not re.fullmatch(self.pattern, value):
                raise self.bad(f"must match {self.pattern}")
        elif not re.fullmatch(TEXT, value):
            raise self.bad("must not contain control characters, * ? [ ] \\, or . or .. segments")
        return value

    def get(self, request: Request) -> str | None:
        value = self.raw(request)
        return None if value is None else self.parse(value)

    def require(self, request: Request) -> str:
        value = self.get(request)
        if value is None:
            raise self.bad("is required")
        return value

    def schema(self) -> dict[str, Any]:
        if self.pattern is not None:
            return {"type": "string", "pattern": f"^{self.pattern}$"}
        return {
            "type": "string",
            "minLength": 1,
            "maxLength": self.max_length,
            "pattern": f"^{TEXT}$",
        }


@dataclass(frozen=True)
class Digits(Text):
    """A numeric id (``ex_id``, ``uid``, ``bot_id``), kept as a string as the cache keys it."""

    max_length: int = 20
    pattern: str | None = r"[0-9]{1,20}"


@dataclass(frozen=True)
class TextList(Text):
    """A comma-separated list of ``Text`` values, e.g. ``?symbols=BTC/USDT,ETH/USDT``.

    Each value is a ``Text`` without commas that does not begin or end with a space (so
    ``A, B`` is refused rather than read as ``" B"``); empty values are refused. OpenAPI: an
    array in ``form`` style, not exploded."""

    max_items: int = 100

    def get_list(self, request: Request) -> list[str] | None:
        value = self.raw(request)
        if value is None:
            return None
        items = value.split(",")
        if len(items) > self.max_items:
            raise self.bad(f"must list at most {self.max_items} values")
        return list(dict.fromkeys(self.parse_item(item) for item in items))

    def parse_item(self, item: str) -> str:
        value = self.parse(item)
        if value != value.strip(" "):
            raise self.bad("values must not begin or end with a space")
        return value

    def schema(self) -> dict[str, Any]:
        char, edge = TEXT_CHAR[:-1] + ",]", TEXT_CHAR[:-1] + ", ]"
        item = {
            "type": "string",
            "minLength": 1,
            "maxLength": self.max_length,
            "pattern": f"^{NO_DOT_SEGMENT}{edge}(?:{char}*{edge})?$",
        }
        return {"type": "array", "items": item, "minItems": 1, "maxItems": self.max_items}


@dataclass(frozen=True)
class Choice(Text):
    choices: tuple[str, ...] = ()

    def parse(self, value: str) -> str:
        if value not in self.choices:
            raise self.bad(f"must be one of {', '.join(self.choices)}")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": list(self.choices)}


class _Defaulted(Generic[N]):
    """``value()`` of a parameter declared with a default: never None."""

    name: str

    def get(self, request: Request) -> N | None:
        raise NotImplementedError

    def value(self, request: Request) -> N:
        value = self.get(request)
        if value is None:
            raise TypeError(f"parameter {self.name!r} has no default")
        return value


@dataclass(frozen=True)
class Number(Param, _Defaulted[float]):
    """A positive finite number (seconds, minutes)."""

    default: float | None = None

    def get(self, request: Request) -> float | None:
        raw = self.raw(request)
        if raw is None:
            return self.default
        try:
            value = float(raw)
        except ValueError:
            raise self.bad("must be a positive number") from None
        if not (math.isfinite(value) and value > 0):
            raise self.bad("must be a positive number")
        return value

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "number", "exclusiveMinimum": 0}
        if self.default is not None:
            schema["default"] = self.default
        return schema


@dataclass(frozen=True)
class Integer(Param, _Defaulted[int]):
    """An integer within ``[minimum, maximum]`` (``limit``, epoch milliseconds)."""

    minimum: int = 1
    maximum: int = 1000
    default: int | None = None

    def get(self, request: Request) -> int | None:
        raw = self.raw(request)
        if raw is None:
            return self.default
        if not re.fullmatch(r"-?[0-9]{1,20}", raw) or not (
            self.minimum <= int(raw) <= self.maximum
        ):
            raise self.bad(f"must be an integer from {self.minimum} to {self.maximum}")
        return int(raw)

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": "integer",
            "minimum": self.minimum,
            "maximum": self.maximum,
        }
        if self.default is not None:
            schema["default"] = self.default
        return schema


# The parameters of the API, shared by the handlers and the route table. -------------------------

EXCHANGE = Text("exchange", "path", "exchange name as the cache keys it", 64, EXCHANGE_NAME)
SYMBOL = Text("symbol", "path", "symbol as stored, slash included (BTC/USDT, BTC/USDC:USDC)")
SYMBOLS = TextList("symbols", "query", "only these symbols, comma-separated")
EXCHANGE_FILTER = Text("exchange", "query", "only this exchange", 64, EXCHANGE_NAME)
MAX_AGE = Number("max_age", "query", "keep only ticks younger than this many seconds")

EX_ID = Digits("ex_id", "path", "exchange account id (digits)")
UID = Digits("uid", "path", "user id (digits)")
BOT_ID = Digits("bot_id", "path", "bot id (digits)")
CURRENCY = Text("currency", "path", "currency code as stored (USDT, BTC)")
ORDER_ID = Text("order_id", "path", "order id: the field of the order_status hash")
QUEUE_NAME = Text("name", "path", "queue name: the part after new_orders:")
COMPONENT = Text("component", "path", "process component (may hold : and /)")
PROCESS_ID = Text("process_id", "path", "process id (opaque; may hold : and /)")
TIMEFRAME = Text(
    "timeframe", "path", "OHLCV timeframe: 1m, 15m, 1h, 4h, 1d, 1w", 8, r"[1-9][0-9]{0,3}[smhdwM]"
)
LIMIT = Integer("limit", "query", "most items to return", 1, 1000, 100)
OHLCV_LIMIT = Integer("limit", "query", "latest N bars", 1, 10000, 100)
SINCE = Integer("since", "query", "first bar time, epoch ms, inclusive", 0, 10**15)
UNTIL = Integer("until", "query", "last bar time, epoch ms, inclusive", 0, 10**15)
STATUS_FILTER = Text("status", "query", "only orders with this status")
SYMBOL_FILTER = Text("symbol", "query", "only this symbol")
BOT_ID_FILTER = Digits("bot_id", "query", "only this bot id")
UID_FILTER = Digits("uid", "query", "only this user id")
PROCESS_TYPE = Choice(
    "type",
    "query",
    "process type",
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
    "query",
    "process status",
    choices=("starting", "running", "processing", "idle", "error", "stopped"),
)
COMPONENT_FILTER = Text("component", "query", "only this component")
SINCE_MINUTES = Number("since_minutes", "query", "updated within this many minutes", 5.0)
STALE_AFTER = Number(
    "stale_after", "query", "heartbeat older than this many seconds is stale", 300.0
)
