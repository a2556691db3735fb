"""The parameters (fullon_cache_api.params) and the id rule (fullon_cache_api.ids) on their own,
without an app or a Redis: what each kind accepts, what it refuses and the 400 message it says,
and what its OpenAPI schema documents. ``nox -s mutants`` runs these (with test_keys.py and
test_times.py) against mutmut's mutants of the pure modules."""

from __future__ import annotations

import re
from typing import Any

import msgspec
import pytest

from fullon_cache_api import params as p
from fullon_cache_api.errors import BadRequest, NotFound
from fullon_cache_api.ids import id_order, id_text
from fullon_cache_api.readers.accounts import AccountsPosition
from fullon_cache_api.readers.paging import FamilyPosition, HashPosition
from fullon_cache_api.settings import Settings

SETTINGS = Settings()


def refusal(param: p.Param, raw: str | None) -> str:
    """The message of the 400 that ``param`` answers ``raw`` with."""
    with pytest.raises(BadRequest) as refused:
        param.parse(raw, SETTINGS)
    assert refused.value.status == 400
    return refused.value.message


def documented(schema: dict[str, Any], value: str) -> bool:
    """Whether ``value`` satisfies a string schema's documented rule (its pattern anchored with
    ^...$ as OpenAPI writes it, and its length bounds)."""
    pattern = schema["pattern"]
    assert pattern.startswith("^") and pattern.endswith("$")
    return (
        schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value))
        and re.fullmatch(pattern[1:-1], value, re.DOTALL) is not None
    )


# Every parameter: present, absent, and the message's form -------------------------------------


def test_an_absent_path_parameter_is_required_and_the_message_names_it() -> None:
    assert refusal(p.SYMBOL, None) == "path parameter 'symbol' is required"


def test_an_absent_query_parameter_is_its_default() -> None:
    assert p.STATUS_FILTER.parse(None, SETTINGS) is None
    assert p.LIMIT.parse(None, SETTINGS) == 100
    assert p.OFFSET_CURSOR.parse(None, SETTINGS) == 0
    assert p.SINCE_MINUTES.parse(None, SETTINGS) == 5.0


def test_a_present_value_is_converted() -> None:
    assert p.SYMBOL.parse("BTC/USDT", SETTINGS) == "BTC/USDT"
    assert p.LIMIT.parse("7", SETTINGS) == 7


def test_path_parameters_are_required_and_query_parameters_are_not() -> None:
    assert p.SYMBOL.required is True
    assert p.STATUS_FILTER.required is False


# Text ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["BTC/USDT", "币安人生/USDT", "a..b", ".a", "a b", "x" * 128])
def test_text_accepts_printable_values_as_they_are(value: str) -> None:
    assert p.SYMBOL.parse(value, SETTINGS) == value


def test_text_refuses_an_empty_value() -> None:
    assert refusal(p.SYMBOL, "") == "path parameter 'symbol' must not be empty"


def test_text_refuses_one_character_more_than_its_maximum() -> None:
    assert refusal(p.SYMBOL, "x" * 129) == "path parameter 'symbol' must be at most 128 characters"
    assert p.EXCHANGE.parse("b" * 64, SETTINGS) == "b" * 64
    assert refusal(p.EXCHANGE, "b" * 65) == (
        "path parameter 'exchange' must be at most 64 characters"
    )


@pytest.mark.parametrize(
    "value", ["a*", "a?", "[a]", "a\\b", "tab\t", "a\x85b", "\u200b", "\ufffd", ".", "..", "a/../b"]
)
def test_text_refuses_glob_control_and_dot_segment_values(value: str) -> None:
    assert refusal(p.SYMBOL, value) == (
        "path parameter 'symbol' must not contain control characters, * ? [ ] \\, "
        "or . or .. segments"
    )


def test_text_with_a_pattern_refuses_what_does_not_match_it() -> None:
    assert p.TIMEFRAME.parse("15m", SETTINGS) == "15m"
    assert refusal(p.TIMEFRAME, "15x") == "path parameter 'timeframe' must match " + (
        "[1-9][0-9]{0,3}[smhdwM]"
    )
    assert refusal(p.EX_ID, "1a") == "path parameter 'ex_id' must match [0-9]{1,20}"
    assert p.EX_ID.parse("0" * 20, SETTINGS) == "0" * 20
    assert refusal(p.EX_ID, "0" * 21) == "path parameter 'ex_id' must be at most 20 characters"


@pytest.mark.parametrize("param", [p.SYMBOL, p.STATUS_FILTER, p.EXCHANGE, p.EX_ID, p.TIMEFRAME])
@pytest.mark.parametrize(
    "value",
    [
        *("BTC/USDT", "binance", "15m", "7", "", "x" * 64, "x" * 65, "x" * 129),
        *("a*", "a\tb", "..", "1a"),
    ],
)
def test_the_documented_text_rule_is_the_enforced_one(param: p.Text, value: str) -> None:
    schema = param.schema(SETTINGS)
    assert schema["type"] == "string"
    try:
        param.parse(value, SETTINGS)
    except BadRequest:
        accepted = False
    else:
        accepted = True
    assert accepted is documented(schema, value)


def test_free_text_documents_its_length_bounds() -> None:
    schema = p.SYMBOL.schema(SETTINGS)
    assert (schema["minLength"], schema["maxLength"]) == (1, 128)


# TextList --------------------------------------------------------------------------------------


def test_a_list_is_its_values_in_order_without_repeats() -> None:
    assert p.SYMBOLS.parse("B/C,A/C,B/C", SETTINGS) == ["B/C", "A/C"]
    assert p.SYMBOLS.parse("A", SETTINGS) == ["A"]


def test_a_list_of_at_most_its_maximum_values() -> None:
    assert len(p.SYMBOLS.parse(",".join(f"S{i}" for i in range(100)), SETTINGS)) == 100
    assert refusal(p.SYMBOLS, ",".join(f"S{i}" for i in range(101))) == (
        "query parameter 'symbols' must list at most 100 values"
    )


@pytest.mark.parametrize("raw", [" A", "A ", "A, B", "A ,B"])
def test_list_values_do_not_begin_or_end_with_a_space(raw: str) -> None:
    assert refusal(p.SYMBOLS, raw) == (
        "query parameter 'symbols' values must not begin or end with a space"
    )


def test_list_values_follow_the_text_rule() -> None:
    assert refusal(p.SYMBOLS, "A,,B") == "query parameter 'symbols' must not be empty"
    assert refusal(p.SYMBOLS, "A,B*") == (
        "query parameter 'symbols' must not contain control characters, * ? [ ] \\, "
        "or . or .. segments"
    )
    assert p.SYMBOLS.parse("A B,C", SETTINGS) == ["A B", "C"]  # a space inside is text


def test_a_list_documents_an_array_of_strings_in_its_bounds() -> None:
    schema = p.SYMBOLS.schema(SETTINGS)
    assert schema["type"] == "array"
    assert (schema["minItems"], schema["maxItems"]) == (1, 100)
    assert schema["items"]["type"] == "string"
    assert (schema["items"]["minLength"], schema["items"]["maxLength"]) == (1, 128)


@pytest.mark.parametrize(
    "item",
    [
        *("A", "BTC/USDT", "A B", "é", ".x", "x.", "a..b", "", " A", "A ", " ", "x*", ",", "A,B"),
        *(".", "..", "a/..", "../a", "\t", "a\u2028", "a\\b", "\\a", "a\\"),
        # only U+0020 is the space an edge refuses: other spaces are text, and so is an edge X
        *("\u00a0A", "A\u3000", "XRP/USDX"),
    ],
)
def test_the_documented_list_item_rule_is_the_enforced_one(item: str) -> None:
    schema = p.SYMBOLS.schema(SETTINGS)["items"]
    try:
        enforced = p.SYMBOLS.parse(item, SETTINGS) == [item]
    except BadRequest:
        enforced = False
    assert enforced is documented(schema, item)


# Choice ----------------------------------------------------------------------------------------


def test_a_choice_is_one_of_its_choices() -> None:
    assert p.PROCESS_TYPE.parse("tick", SETTINGS) == "tick"
    assert refusal(p.PROCESS_STATUS, "asleep") == (
        "query parameter 'status' must be one of "
        "starting, running, processing, idle, error, stopped"
    )


def test_a_path_choice_that_is_none_of_them_is_no_such_resource() -> None:
    kind = p.Choice("kind", where="path", choices=("a", "b"))
    assert kind.parse("b", SETTINGS) == "b"
    with pytest.raises(NotFound) as missing:
        kind.parse("c", SETTINGS)
    assert missing.value.message == "no kind c"


def test_a_choice_documents_its_choices() -> None:
    assert p.PROCESS_STATUS.schema(SETTINGS) == {
        "type": "string",
        "enum": ["starting", "running", "processing", "idle", "error", "stopped"],
    }


# Number ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "value"), [("1", 1.0), ("0.5", 0.5), ("1e-9", 1e-9), ("3E2", 300)])
def test_a_number_is_positive_and_finite(raw: str, value: float) -> None:
    assert p.MAX_AGE.parse(raw, SETTINGS) == value


@pytest.mark.parametrize("raw", ["0", "-1", "-0.0", "inf", "nan", "-inf", "abc", "1,5", "0x10"])
def test_anything_else_is_not_a_number(raw: str) -> None:
    assert refusal(p.MAX_AGE, raw) == "query parameter 'max_age' must be a positive number"


def test_a_number_defaults_to_its_value_or_to_its_setting() -> None:
    assert p.MAX_AGE.parse(None, SETTINGS) is None
    assert p.STALE_AFTER.parse(None, SETTINGS) == 300.0
    tuned = Settings(ticker_max_age=12.5)
    assert p.ACTIVE_MAX_AGE.parse(None, tuned) == 12.5
    assert p.ACTIVE_MAX_AGE.parse(None, SETTINGS) == SETTINGS.ticker_max_age


def test_a_number_documents_its_rule_and_its_default() -> None:
    assert p.MAX_AGE.schema(SETTINGS) == {"type": "number", "exclusiveMinimum": 0}
    assert p.STALE_AFTER.schema(SETTINGS) == {
        "type": "number",
        "exclusiveMinimum": 0,
        "default": 300.0,
    }
    tuned = Settings(ticker_max_age=12.5)
    assert p.STALE_TICK.schema(tuned)["default"] == 12.5


# Integer ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "value"), [("1", 1), ("1000", 1000), ("0042", 42)])
def test_an_integer_within_its_bounds_inclusive(raw: str, value: int) -> None:
    assert p.LIMIT.parse(raw, SETTINGS) == value


@pytest.mark.parametrize("raw", ["0", "1001", "-1", "1.0", "+5", " 5", "5 ", "1e3", "x", ""])
def test_anything_else_is_refused_naming_the_bounds(raw: str) -> None:
    assert refusal(p.LIMIT, raw) == "query parameter 'limit' must be an integer from 1 to 1000"


def test_an_integer_of_twenty_digits_at_most() -> None:
    wide = p.Integer("n", minimum=-(10**25), maximum=10**25)
    assert wide.parse("9" * 20, SETTINGS) == int("9" * 20)
    assert wide.parse("-" + "9" * 20, SETTINGS) == -int("9" * 20)
    assert refusal(wide, "0" + "9" * 20) == (
        f"query parameter 'n' must be an integer from {-(10**25)} to {10**25}"
    )


def test_an_integer_documents_its_bounds_and_default() -> None:
    assert p.LIMIT.schema(SETTINGS) == {
        "type": "integer",
        "minimum": 1,
        "maximum": 1000,
        "default": 100,
    }
    assert p.SINCE.schema(SETTINGS) == {"type": "integer", "minimum": 0, "maximum": 10**15}
    assert p.SINCE.parse("0", SETTINGS) == 0
    assert p.SINCE.parse(None, SETTINGS) is None


# Cursor ----------------------------------------------------------------------------------------

POSITIONS = [
    (p.KEY_CURSOR, "ohlcv:BTC/USDC:USDC:1m"),
    (p.KEY_CURSOR, "币安人生"),
    (p.OFFSET_CURSOR, 0),
    (p.OFFSET_CURSOR, 1),
    (p.OFFSET_CURSOR, 2**40),
    (p.HASH_CURSOR, HashPosition("order-9")),
    (p.HASH_CURSOR, HashPosition(None, 17, 3)),
    (p.HASHES_CURSOR, FamilyPosition("tickers:binance", HashPosition("ETH/USDT"))),
    (p.ACCOUNTS_CURSOR, AccountsPosition(after="3", phase=1, inner=HashPosition(None, 5, 2))),
    (p.OFFSET_CURSOR, 279),  # "zQEX": a cursor that ends in what padding is not
]


@pytest.mark.parametrize(("param", "position"), POSITIONS)
def test_a_cursor_gives_back_the_position_it_was_made_of(param: p.Cursor, position: Any) -> None:
    cursor = p.next_cursor(position)
    assert cursor is not None
    assert param.parse(cursor, SETTINGS) == position


@pytest.mark.parametrize(("param", "position"), POSITIONS)
def test_every_cursor_given_matches_the_documented_pattern(param: p.Cursor, position: Any) -> None:
    cursor = p.next_cursor(position)
    assert cursor is not None
    schema = param.schema(SETTINGS)
    assert schema["type"] == "string"
    assert documented(schema, cursor)


def test_the_last_page_has_no_cursor_and_the_first_page_none_to_send() -> None:
    assert p.next_cursor(None) is None
    assert p.KEY_CURSOR.parse(None, SETTINGS) is None
    assert p.HASH_CURSOR.parse(None, SETTINGS) is None


CURSOR_REFUSED = (
    "query parameter 'cursor' is not a cursor this listing gave (ask without it to start over)"
)


@pytest.mark.parametrize(
    ("param", "raw"),
    [
        (p.OFFSET_CURSOR, p.next_cursor(-1)),  # a negative offset
        (p.OFFSET_CURSOR, p.next_cursor("x")),  # another listing's position
        (p.KEY_CURSOR, p.next_cursor(3)),
        (p.HASH_CURSOR, p.next_cursor("x")),
        (p.KEY_CURSOR, "A"),  # no whole byte
        (p.KEY_CURSOR, "wA"),  # msgpack nil: no position
        (p.KEY_CURSOR, "2Q"),  # a truncated msgpack string
        (p.KEY_CURSOR, ""),
    ],
)
def test_what_no_listing_gave_is_refused(param: p.Cursor, raw: str) -> None:
    assert refusal(param, raw) == CURSOR_REFUSED


REAL = p.next_cursor(318)  # "zQE-": a cursor the offset listings give, with a "-" in it


@pytest.mark.parametrize(
    "raw", [REAL + "==", REAL + "=", "zQE+", REAL + "!", REAL + "\n", "z QE-", "zQ%E-"]
)
def test_a_cursor_outside_the_documented_pattern_is_refused(raw: str) -> None:
    """docs/API.md: the cursor is ``[A-Za-z0-9_-]{1,4096}`` as given, anything else is 400:
    padding, the other base64 alphabet (+ /) and stray characters too, though base64 would
    read the cursor through them."""
    assert REAL == "zQE-"
    assert not documented(p.OFFSET_CURSOR.schema(SETTINGS), raw)
    assert refusal(p.OFFSET_CURSOR, raw) == CURSOR_REFUSED


# ids.id_text -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "text"),
    [
        ("3", "3"),
        ("", ""),
        ("abc", "abc"),
        (None, None),
        (3, "3"),
        (-7, "-7"),
        (0, "0"),
        (2**64, str(2**64)),
        (3.0, "3"),
        (-3.0, "-3"),
        (0.0, "0"),
        (2.0**53 - 1, "9007199254740991"),
        (-(2.0**53) + 1, "-9007199254740991"),
        (2.0**53, "9007199254740992.0"),  # no longer exact: its JSON text
        (-(2.0**53), "-9007199254740992.0"),
        (3.5, "3.5"),
        (1e300, "1e300"),
        (float("nan"), None),
        (float("inf"), None),
        (float("-inf"), None),
    ],
)
def test_id_text(stored: Any, text: str | None) -> None:
    assert id_text(stored) == text


def test_id_text_of_a_float_is_the_json_text_a_client_reads_back() -> None:
    for stored in (3.5, 1e300, 2.0**53, 0.1):
        text = id_text(stored)
        assert text is not None
        assert msgspec.json.decode(text) == stored


@pytest.mark.parametrize(
    ("ids", "ordered"),
    [
        (["10", "9", "100", "2"], ["2", "9", "10", "100"]),  # numerically, not as text
        (["b", "10", "a", "9"], ["9", "10", "a", "b"]),  # non-numeric ids last, as text
        (["1", "01", "001"], ["001", "01", "1"]),  # one number: by its text, a total order
        # digits of other scripts are not numbers here (U+0661: ARABIC-INDIC DIGIT ONE)
        (["\u0661", "3", "²"], ["3", "²", "\u0661"]),
        (["-1", "+1", "1"], ["1", "+1", "-1"]),  # nor signed numbers
    ],
)
def test_id_order_sorts_numeric_ids_as_numbers_and_the_rest_after(
    ids: list[str], ordered: list[str]
) -> None:
    assert sorted(ids, key=id_order) == ordered


def test_id_order_of_a_superscript_digit_does_not_raise() -> None:
    """ "²".isdigit() is true and int("²") raises: the ASCII check keeps it out of int()."""
    assert id_order("²") == (1, 0, "²")
    assert id_order("7") == (0, 7, "7")
