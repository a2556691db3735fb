"""What an action of the v0.2.6 WebSocket protocol is: its declaration (``Action``), the kinds of
its parameters (JSON values, each validated in one place) and what a stream action starts
(``Stream``).

An ``Action`` checks itself when built, as an ``Endpoint`` does: its handler takes ``ctx`` and
exactly the declared parameters, answers a Struct (a ``Stream`` for stream actions, which name
their messages' ``update`` action), and its not-found text names only declared parameters.
"""

from __future__ import annotations

import abc
import inspect
import math
import re
import string
import typing
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from .params import TEXT, IdKind

if TYPE_CHECKING:
    from .hub import Gate, Listener, StreamHub

__all__ = [
    "Action",
    "Arg",
    "Emit",
    "IdArg",
    "IntegerArg",
    "Invalid",
    "Missing",
    "NumberArg",
    "Stream",
    "TextArg",
    "TextListArg",
]

Handler = Callable[..., Awaitable[Any]]
"""``async def handler(ctx: Ctx, **params) -> Struct | Stream``."""

_TEXT = re.compile(TEXT)
MAX_TEXT = 128  # the REST rule for free text


class Missing(Exception):
    """A required parameter is absent: ``INVALID_PARAMS`` with the action's own (v0.2.6) text."""


class Invalid(Exception):
    """A parameter of the wrong type or form: ``INVALID_PARAMS`` naming it."""


def _integer(value: object) -> int | None:
    """An integer, or a string of at most 20 digits, as an int (v0.2.6 called ``int()``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        return int(value)
    return None


@dataclass(frozen=True)
class Arg:
    """One parameter of an action: a key of the request's ``params`` object (or one of its
    ``aliases``). Absent, null and ``""`` are missing (v0.2.6 tested ``if not value``): a
    required one raises ``Missing``, an optional one is its default. ``id_kind``: the account id
    its value names, for authorization (``Resource``), as a REST parameter's."""

    name: str
    _: KW_ONLY  # the others by keyword: several share a type
    required: bool = True
    id_kind: IdKind | None = None
    aliases: tuple[str, ...] = ()

    def take(self, params: Mapping[str, Any]) -> Any:
        for name in (self.name, *self.aliases):
            value = params.get(name)
            if value is not None and value != "":
                return self.convert(value)
        if self.required:
            raise Missing(self.name)
        return self.default()

    def default(self) -> Any:
        return None

    def convert(self, value: Any) -> Any:
        raise NotImplementedError

    def bad(self, what: str) -> Invalid:
        return Invalid(f"parameter '{self.name}' must be {what}")


@dataclass(frozen=True, kw_only=True)
class TextArg(Arg):
    """A string by REST's rule for text (printable, no ``* ? [ ] \\``, at most 128 characters).
    An integer is taken as its digits: v0.2.6 formatted values into keys."""

    def convert(self, value: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not (isinstance(value, str) and len(value) <= MAX_TEXT and _TEXT.fullmatch(value)):
            raise self.bad(f"a string of at most {MAX_TEXT} printable characters, no * ? [ ] \\")
        return value


@dataclass(frozen=True, kw_only=True)
class IdArg(Arg):
    """An integer id, or a string of its digits, as an int."""

    def convert(self, value: Any) -> int:
        number = _integer(value)
        if number is None or number < 0:
            raise self.bad("an integer id")
        return number


@dataclass(frozen=True, kw_only=True)
class IntegerArg(Arg):
    """An integer (or its digits) within ``[minimum, maximum]``; ``default_value`` when absent."""

    default_value: int = 0
    minimum: int = 0
    maximum: int = 10_000

    def default(self) -> int:
        return self.default_value

    def convert(self, value: Any) -> int:
        number = _integer(value)
        if number is None or not self.minimum <= number <= self.maximum:
            raise self.bad(f"an integer from {self.minimum} to {self.maximum}")
        return number


@dataclass(frozen=True, kw_only=True)
class NumberArg(Arg):
    """A positive finite number; ``default_value`` when absent."""

    default_value: float = 1.0

    def default(self) -> float:
        return self.default_value

    def convert(self, value: Any) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
            if math.isfinite(number) and number > 0:
                return number
        raise self.bad("a positive number")


@dataclass(frozen=True, kw_only=True)
class TextListArg(Arg):
    """A list of text values (each as ``TextArg``), ``[]`` when absent, without repeats."""

    max_items: int = 1000

    def default(self) -> list[str]:
        return []

    def convert(self, value: Any) -> list[str]:
        if not isinstance(value, list) or len(value) > self.max_items:
            raise self.bad(f"a list of at most {self.max_items} strings")
        item = TextArg(self.name)
        return list(dict.fromkeys(item.convert(v) for v in value))


Emit = Callable[[Sequence[msgspec.Struct]], None]
"""Sends the results of one stream's messages (each a Struct holding its ``stream_key``)."""


class Stream(abc.ABC):
    """What a stream action's handler answers: the confirmation's text, and how to follow the
    stream through the hub. The session confirms once ``listen`` succeeded, then ``run``s it
    until the socket closes or the stream is replaced (cancelled). ``gate``, set by the session
    before ``listen``: what each listener it makes waits on before a batch (the socket's room)."""

    message: str
    gate: Gate | None = None

    @abc.abstractmethod
    async def listen(self, hub: StreamHub) -> Listener[Any]:
        """Subscribe; raises when it cannot (the action then fails, nothing is confirmed)."""

    @abc.abstractmethod
    async def run(self, hub: StreamHub, listener: Listener[Any], key: str, emit: Emit) -> None:
        """Send the current state at once, then each change, as results holding ``key``."""


@dataclass(frozen=True)
class Action:
    """One action of a socket.

    ``missing``: the ``INVALID_PARAMS`` text when a required parameter is absent; ``failure``:
    the text when reading fails (``CACHE_ERROR``; ``INTERNAL_ERROR`` for a stream that cannot
    start); ``not_found``: the code and text (``{param}`` placeholders) when what it reads is
    absent; ``update``: a stream action's message action (``ticker_update``); ``heavy``: it
    reads the whole cache, as a heavy REST route does, and shares its limit of such reads at
    once (``heavy_concurrency``)."""

    name: str
    handler: Handler
    params: tuple[Arg, ...] = ()
    missing: str = ""
    failure: str = ""
    not_found: tuple[str, str] | None = None
    update: str | None = None
    heavy: bool = False

    def __post_init__(self) -> None:
        names = [p.name for p in self.params]
        taken = list(inspect.signature(self.handler).parameters)
        if taken[:1] != ["ctx"] or sorted(taken[1:]) != sorted(names):
            raise ValueError(f"{self.name}: {self.handler.__name__} takes {taken}, not {names}")
        answer = typing.get_type_hints(self.handler).get("return")
        answer = typing.get_origin(answer) or answer  # Polled[int] -> Polled
        expected = Stream if self.update else msgspec.Struct
        if not (isinstance(answer, type) and issubclass(answer, expected)):
            raise ValueError(f"{self.name}: {self.handler.__name__} must answer {expected}")
        if any(p.required for p in self.params) and not self.missing:
            raise ValueError(f"{self.name}: required parameters need a 'missing' text")
        if self.not_found is not None:
            used = {f for _, f, _, _ in string.Formatter().parse(self.not_found[1]) if f}
            if not used <= set(names):
                raise ValueError(f"{self.name}: not_found names {used - set(names)}")

    def arguments(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The handler's keyword arguments; raises ``Missing`` or ``Invalid``."""
        return {p.name: p.take(params) for p in self.params}
