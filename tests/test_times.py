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
