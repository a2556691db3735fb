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
