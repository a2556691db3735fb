"""logsafe.clean: client-chosen text cannot forge or flood a log line."""

from __future__ import annotations

from fullon_cache_api.logsafe import LIMIT, clean


def test_control_characters_are_escaped_onto_one_line() -> None:
    assert clean("a\r\nFORGED\x00\x1b[31m\u2028") == "a\\r\\nFORGED\\x00\\x1b[31m\\u2028"


def test_long_text_is_cut_and_what_was_cut_is_counted() -> None:
    assert clean("x" * (LIMIT + 5)) == "x" * LIMIT + "...(5 more)"
    assert clean("abcdef", limit=3) == "abc...(3 more)"


def test_printable_text_and_non_text_values_pass_as_text() -> None:
    assert clean("BTC/USDT é") == "BTC/USDT é"
    assert clean(42) == "42"
