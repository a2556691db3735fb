"""Time parsing and formatting: the one output form, and fast paths that agree with the slow."""

from __future__ import annotations

import pytest

from fullon_cache_api.times import parse_time, rfc3339, to_epoch


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("2026-11-26T04:53:03.586898+00:00", "2026-11-26T04:53:03.586898Z"),
        ("2026-11-26T04:53:03+00:00", "2026-11-26T04:53:03Z"),
        ("2026-11-26T04:53:03.000000+00:00", "2026-11-26T04:53:03Z"),
        ("2026-11-26T05:53:03+01:00", "2026-11-26T04:53:03Z"),
        ("2026-11-26 04:53:03+00:00", "2026-11-26T04:53:03Z"),
        ("2025-01-15 10:30:00", "2025-01-15T10:30:00Z"),
        ("2026-11-26T04:53:03.5+00:00", "2026-11-26T04:53:03.500000Z"),
        ("1764100000.0", "2025-11-25T19:46:40Z"),
        (1764100000.0, "2025-11-25T19:46:40Z"),
        (1764100000, "2025-11-25T19:46:40Z"),
        ("2026-13-26T04:53:03+00:00", None),
        ("xxxxxxxxxxxxxxxxxxx+00:00", None),
        ("yesterday", None),
        ("nan", None),
        (float("inf"), None),
        (True, None),
        (None, None),
        ("", None),
    ],
)
def test_parse_time_agrees_with_the_round_trip_through_epoch(stored, expected) -> None:
    assert parse_time(stored) == expected
    assert rfc3339(to_epoch(stored)) == expected


@pytest.fixture
def tokyo(monkeypatch: pytest.MonkeyPatch):
    """The process's local time zone is Asia/Tokyo (UTC+9) for the test: a naive time read as
    local time would be nine hours off (the machine's UTC would hide it)."""
    import time

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    assert time.localtime(0).tm_hour == 9, "no Asia/Tokyo zone here"
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("tokyo")
def test_a_time_without_an_offset_is_utc_whatever_the_local_zone() -> None:
    """fullon_cache writes UTC; a stored time without an offset is UTC, never local time."""
    from fullon_cache_api.times import _iso_epoch

    assert _iso_epoch("2024-02-29 23:59:59") == 1709251199.0
    assert _iso_epoch("2024-02-29T23:59:58.5") == 1709251198.5
    assert _iso_epoch("2024-02-29T23:59:59+09:00") == 1709251199.0 - 9 * 3600
    assert to_epoch("2024-02-28 12:00:01") == 1709121601.0
    assert parse_time("2024-02-28 12:00:02") == "2024-02-28T12:00:02Z"


@pytest.mark.parametrize(
    "stored", [float("inf"), float("-inf"), float("nan"), "inf", "-inf", "nan", " NaN ", "1e999"]
)
def test_a_number_that_is_not_finite_is_no_time(stored) -> None:
    assert to_epoch(stored) is None
    assert parse_time(stored) is None


@pytest.mark.parametrize("stored", [10**400, -(10**400), 2**1024])
def test_an_integer_beyond_a_float_is_no_time(stored: int) -> None:
    """A JSON integer has no bound (a bot feed's ``"timestamp": 1000...0`` decodes to an int):
    float() raises OverflowError on it, which a listing must not."""
    assert to_epoch(stored) is None
    assert parse_time(stored) is None


def test_the_largest_integers_a_float_holds_are_read() -> None:
    assert to_epoch(2**1023) == float(2**1023)
    assert to_epoch(-(2**53) - 1) == -9007199254740992.0  # rounded to the nearest float


def test_a_float_subclass_reads_as_the_float_it_is() -> None:
    """numpy.float64 is one: a value that is a float without being of type float."""

    class Float(float):
        pass

    assert to_epoch(Float(1764100000.5)) == 1764100000.5
    assert to_epoch(Float("nan")) is None
    assert to_epoch(Float("inf")) is None


@pytest.mark.parametrize("stored", [[1], [], {"t": 1}, b"1764100000", (1,), object()])
def test_what_is_neither_a_number_nor_text_is_no_time(stored) -> None:
    assert to_epoch(stored) is None
    assert parse_time(stored) is None


@pytest.mark.parametrize(
    ("stored", "epoch"),
    [
        (" 1764100000.5 ", 1764100000.5),
        ("1764100000", 1764100000.0),
        ("-1.5", -1.5),
        ("100e-00005", 0.001),  # a "-" at index 4 of a numeric string: not a date
        ("1.0e-00005", 1e-05),
        ("100e-5", 0.001),  # shorter than a date: the same
        ("-10e-5", -0.0001),  # "-" at index 4 again
        ("2025-01-15", 1736899200.0),  # a date alone: midnight UTC
        ("2025-01-15T10:30", 1736937000.0),
        ("20250115510", 20250115510.0),  # also an ISO basic form ("5" as the separator)
    ],
)
def test_numeric_strings_and_short_iso_forms(stored: str, epoch: float) -> None:
    assert to_epoch(stored) == epoch


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("4000-01-01T00:00:00.000001+00:00", "4000-01-01T00:00:00.000001Z"),
        ("9999-12-31T23:59:59.999999+00:00", "9999-12-31T23:59:59.999999Z"),
        ("5000-06-15T12:00:00.123457+00:00", "5000-06-15T12:00:00.123457Z"),
    ],
)
def test_a_utc_isoformat_time_keeps_its_microseconds_exactly(stored, expected) -> None:
    """fullon_cache's own form (isoformat() in UTC) is given as stored but for the zone, never
    through epoch seconds: a float of that size cannot hold its microseconds."""
    assert parse_time(stored) == expected
    assert rfc3339(to_epoch(stored)) != expected  # the round trip loses them


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ("4000-01-01t00:00:00.000001+00:00", "4000-01-01T00:00:00Z"),  # not isoformat()'s "T"
        ("4000-01-01T00:00:00.000001+01:00", "3999-12-31T23:00:00Z"),  # not UTC
        ("4000-01-01 00:00:00.000001+00:00", "4000-01-01T00:00:00Z"),
        ("4000-01-01T00:00:00.0000010+00:00", "4000-01-01T00:00:00Z"),  # 7 fraction digits
        ("4000-02-30T00:00:00.000001+00:00", None),  # the shape of a time, not a time
        # an ISO week date, of isoformat()'s length: given in the API's form all the same
        ("2026-W48-4T04:53:03+00:00", "2026-11-26T04:53:03Z"),
        ("2026-W48-4T04:53:03.123456+00:00", "2026-11-26T04:53:03.123456Z"),
        ("2026-11-26T045303.12345+00:00", "2026-11-26T04:53:03.123450Z"),
        # isoformat()'s form with spaces before it: fromisoformat() refuses it, to_epoch strips
        (" 2026-11-26T04:53:03+00:00", "2026-11-26T04:53:03Z"),
        ("  4000-01-01T00:00:00.000001+00:00", "4000-01-01T00:00:00Z"),
    ],
)
def test_other_forms_take_the_round_trip(stored, expected) -> None:
    assert parse_time(stored) == expected


@pytest.mark.parametrize(
    ("epoch", "now", "age"),
    [
        (None, 100.0, None),
        (100.0, 102.5, 2.5),
        (0.0, 0.0625, 0.063),  # half up (round() would give 0.062: half to even)
        (0.0, 0.0615, 0.062),
        (0.0, 0.0614, 0.061),
        (10.0, 10.0, 0.0),
        (10.0, 9.0, -1.0),  # a time after now (another clock): negative, not hidden
    ],
)
def test_age_s_is_rounded_to_milliseconds_half_up(epoch, now, age) -> None:
    from fullon_cache_api.times import age_s

    assert age_s(epoch, now) == age
