"""Declaration errors: a route, socket, action or router that is malformed is refused when it
is built (so a route table with a mistake cannot be imported), each with a message naming
it; the parameter kinds of actions; and what the client and its stub writer refuse to make
from a route table (``client._methods``, ``client.stub``)."""

from __future__ import annotations

import inspect
import math
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import msgspec
import pytest
from starlette.responses import Response
from starlette.routing import Route

from fullon_cache_api import client
from fullon_cache_api.actions import Action, Invalid, NumberArg, Stream, TextArg, TextListArg
from fullon_cache_api.app import HeadRouter
from fullon_cache_api.envelopes import DOMAIN
from fullon_cache_api.handlers.tickers import TickerOut
from fullon_cache_api.params import Choice, Cursor, IdKind, Param, Text
from fullon_cache_api.routes import ENDPOINTS
from fullon_cache_api.routing import Endpoint, Raw, Socket

EXCHANGE = Text("exchange", where="path")


class ThingOut(msgspec.Struct, kw_only=True):
    name: str


class ThingsOut(msgspec.Struct, kw_only=True):
    items: list[ThingOut]
    count: int
    next_cursor: str | None = None


class TwoListsOut(msgspec.Struct, kw_only=True):
    items: list[ThingOut]
    others: list[ThingOut]
    next_cursor: str | None = None


class Page(Raw):
    """A raw answer (an HTML page)."""


class Events(Raw):
    """A raw answer that declares stream events."""

    events: ClassVar[dict[str, type]] = {"thing": ThingOut}


class ThingStream(Stream):
    message = "following"


def handler(
    answer: Any, *params: str, name: str = "thing", doc: str = "A thing."
) -> Callable[..., Awaitable[Any]]:
    """A handler taking ``ctx`` and ``params`` by keyword and answering ``answer``."""

    async def made(ctx: Any, **kwargs: Any) -> Any:
        raise AssertionError("never called")

    kind = inspect.Parameter
    made.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [kind("ctx", kind.POSITIONAL_OR_KEYWORD), *(kind(p, kind.KEYWORD_ONLY) for p in params)]
    )
    made.__annotations__ = {"return": answer}
    made.__name__ = made.__qualname__ = name
    made.__doc__ = doc
    return made


# Endpoint --------------------------------------------------------------------------------------


def test_a_well_declared_route_is_built() -> None:
    endpoint = Endpoint("/things/{exchange}", handler(ThingOut, "exchange"), ThingOut, (EXCHANGE,))
    assert endpoint.template == "/things/{exchange}"
    assert not endpoint.is_raw and not endpoint.is_stream


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        (
            {"response": ThingOut, "stream_headers": {"Cache-Control": "no-store"}},
            "/things: a stream answers a raw response",
        ),
        (
            {"response": Page, "stream_headers": {"Cache-Control": "no-store"}},
            "/things: a stream, and only a stream, declares Raw.events",
        ),
        ({"response": Events}, "/things: a stream, and only a stream, declares Raw.events"),
        (
            {"response": ThingOut, "lists": IdKind.EX_ID, "heavy": True},
            "/things: a shared (heavy) answer cannot be kept per token",
        ),
    ],
)
def test_a_route_of_a_wrong_policy_is_refused(declared: dict[str, Any], message: str) -> None:
    answer = Response if issubclass(declared["response"], Raw) else declared["response"]
    with pytest.raises(ValueError) as refused:
        Endpoint("/things", handler(answer), **declared)
    assert str(refused.value) == message


def test_a_router_refuses_a_route_whose_first_segment_is_a_parameter() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("never called")

    HeadRouter([Route("/things/{exchange}", app)])  # a fixed first word: built
    with pytest.raises(ValueError) as refused:
        HeadRouter([Route("/{exchange}/things", app)])
    assert str(refused.value) == "/{exchange}/things: a route's first segment must be a fixed word"


# Socket and Action -----------------------------------------------------------------------------


def action(name: str) -> Action:
    return Action(name, handler(ThingOut, "exchange"), (TextArg("exchange"),), "no exchange")


def test_a_socket_of_a_wrong_shape_is_refused() -> None:
    one, two = action("one"), action("two")
    Socket("/ws/things/{connection_id}", (one, two), DOMAIN, families=(("two", None),))  # type: ignore[arg-type]
    for args, message in (
        (("/ws/things/{exchange}", (one,)), "a socket's only parameter is {connection_id}"),
        (("/ws/things", (one, one)), "an action is declared twice"),
    ):
        with pytest.raises(ValueError) as refused:
            Socket(args[0], args[1], DOMAIN)  # type: ignore[arg-type]
        assert str(refused.value) == f"{args[0]}: {message}"
    with pytest.raises(ValueError) as refused:
        Socket("/ws/things", (one,), DOMAIN, families=(("three", None),))  # type: ignore[arg-type]
    assert str(refused.value) == "/ws/things: a family for no action 'three'"


def test_an_action_of_a_wrong_shape_is_refused() -> None:
    exchange = (TextArg("exchange"),)
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"handler": handler(ThingOut, "symbol"), "params": exchange, "missing": "x"},
            "get_thing: thing takes ['ctx', 'symbol'], not ['exchange']",
        ),
        (
            {"handler": handler(dict, "exchange"), "params": exchange, "missing": "x"},
            "get_thing: thing must answer <class 'msgspec.Struct'>",
        ),
        (
            {
                "handler": handler(ThingOut, "exchange"),
                "params": exchange,
                "missing": "x",
                "update": "thing_update",
            },
            f"get_thing: thing must answer {Stream}",
        ),
        (
            {"handler": handler(ThingOut, "exchange"), "params": exchange},
            "get_thing: required parameters need a 'missing' text",
        ),
        (
            {
                "handler": handler(ThingOut, "exchange"),
                "params": exchange,
                "missing": "x",
                "not_found": ("NOT_FOUND", "no {exchange} {symbol}"),
            },
            "get_thing: not_found names {'symbol'}",
        ),
    ]
    for declared, message in cases:
        with pytest.raises(ValueError) as refused:
            Action("get_thing", **declared)
        assert str(refused.value) == message
    stream = Action(
        "follow", handler(ThingStream, "exchange"), exchange, "x", update="thing_update"
    )
    assert stream.update == "thing_update"


def test_a_number_argument_is_a_positive_finite_number() -> None:
    since = NumberArg("since_minutes", required=False, default_value=5.0)
    assert since.take({}) == 5.0 and since.take({"since_minutes": 2}) == 2.0
    assert type(since.take({"since_minutes": 2})) is float
    for value in (0, -1, math.inf, math.nan, True, "2"):
        with pytest.raises(Invalid) as refused:
            since.take({"since_minutes": value})
        assert str(refused.value) == "parameter 'since_minutes' must be a positive number"


def test_a_text_list_argument_is_empty_when_absent_and_keeps_each_value_once() -> None:
    symbols = TextListArg("symbols", required=False, max_items=3)
    assert symbols.take({}) == [] and symbols.take({"symbols": None}) == []
    assert symbols.take({"symbols": ["BTC/USDT", "ETH/USDT", "BTC/USDT"]}) == [
        "BTC/USDT",
        "ETH/USDT",
    ]
    for value in (["a", "b", "c", "d"], "BTC/USDT", [1.5]):
        with pytest.raises(Invalid):
            symbols.take({"symbols": value})


# The client and its stub -----------------------------------------------------------------------


def paged(response: type, *extra: Param, name: str = "all_things") -> Endpoint:
    cursor = Cursor("cursor")
    params = (cursor, *extra)
    return Endpoint(
        "/things", handler(response, *(p.name for p in params), name=name), response, params
    )


def test_a_paged_route_of_one_list_and_next_cursor_gets_an_iter_twin() -> None:
    methods = [(m.name, m.work) for m in client._methods([paged(ThingsOut)])]
    assert methods == [("all_things", "get"), ("iter_things", "pages")]


def test_a_paged_route_without_one_list_is_refused() -> None:
    with pytest.raises(ValueError) as refused:
        client.stub([paged(TwoListsOut)])
    assert str(refused.value) == "client: /things pages, but not one list and next_cursor"


def test_a_route_named_as_a_method_already_made_is_refused() -> None:
    taken = Endpoint("/things", handler(ThingOut, name="ticker"), ThingOut)
    (method,) = client._methods([taken])
    with pytest.raises(ValueError) as refused:
        client._add(method)
    assert str(refused.value) == "client: ticker is taken"
    assert client.CacheClient.ticker.endpoint.template == "/tickers/{exchange}/{symbol}"  # type: ignore[attr-defined]


class Color(Param):
    """A parameter kind the stub writer has no type for."""


def test_the_stub_writer_refuses_what_it_cannot_type_or_quote() -> None:
    def local() -> type:
        class LocalOut(msgspec.Struct):
            name: str

        return LocalOut

    nested = local()
    real = next(e for e in ENDPOINTS if e.response is TickerOut)

    class Duplicate(msgspec.Struct):
        name: str

    Duplicate.__qualname__ = Duplicate.__name__ = "TickerOut"  # another module's TickerOut
    cases: list[tuple[list[Endpoint], str]] = [
        (
            [Endpoint("/things", handler(ThingOut, "color"), ThingOut, (Color("color"),))],
            "client stub: /things: no type for Color (color); add its kind to client._PARAM_TYPES",
        ),
        (
            [Endpoint("/things", handler(nested), nested)],
            f"client stub: cannot name {nested!r}",
        ),
        (
            [real, Endpoint("/things", handler(Duplicate), Duplicate)],
            f"client stub: TickerOut of {__name__} and fullon_cache_api.handlers.tickers",
        ),
        (
            [
                Endpoint(
                    "/things",
                    handler(ThingOut, "kind"),
                    ThingOut,
                    (Choice("kind", choices=("plain", 'say "hi"')),),
                )
            ],
            "client stub: cannot quote 'say \"hi\"'",
        ),
        (
            [Endpoint("/things", handler(ThingOut, doc='A "thing"'), ThingOut)],
            "client stub: cannot quote 'GET /things: A \"thing\"'",
        ),
        (
            [Endpoint("/things", handler(ThingOut, doc="A thing\\n"), ThingOut)],
            "client stub: cannot quote 'GET /things: A thing\\\\n'",
        ),
    ]
    for endpoints, message in cases:
        with pytest.raises(ValueError) as refused:
            client.stub(endpoints)
        assert str(refused.value) == message
    assert "class CacheClientMethods:" in client.stub([paged(ThingsOut)])
