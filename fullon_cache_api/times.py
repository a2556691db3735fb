"""Tolerant parsing of the time forms fullon_cache stores, and the one form the API emits."""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime

__all__ = ["age_s", "parse_time", "rfc3339", "to_epoch"]


def to_epoch(value: object) -> float | None:
    """Epoch seconds of a stored time: a number (epoch seconds), a numeric string, or an ISO /
    ``YYYY-MM-DD HH:MM:SS`` string (no zone means UTC). Anything else gives None."""
    if type(value) is float:  # tick and bar times: the common case, one check
        return value if math.isfinite(value) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond a float's range (JSON sets no bound)
            return None
        return number if math.isfinite(number) else None
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if len(text) > 4 and text[4] == "-":  # ISO first: float() would raise on it
        epoch = _iso_epoch(text)
        if epoch is not None:
            return epoch
        # not a time: a number may still hold "-" there ("100e-00005")
    try:
        number = float(text)
    except ValueError:
        return _iso_epoch(text)
    return number if math.isfinite(number) else None


def _iso_epoch(text: str) -> float | None:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


@functools.lru_cache(maxsize=1 << 16)
def rfc3339(epoch: float | None) -> str | None:
    """``2026-11-26T04:52:55.330162Z``; fractional seconds only when non-zero. The last 65536
    are kept: a listing read again formats no time again."""
    if epoch is None:
        return None
    try:
        moment = datetime.fromtimestamp(epoch, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    # isoformat() writes microseconds only when non-zero, as the rule says
    return moment.isoformat()[:-6] + "Z"


def parse_time(value: object) -> str | None:
    """A stored time in the API's form (None when it cannot be read as a time)."""
    if type(value) is str and value.endswith("+00:00"):
        # What Python's isoformat() writes in UTC (fullon_cache's own times) is already the
        # API's form but for the zone: no round trip through epoch seconds (a float that
        # cannot hold the microseconds of a far-off year). The equality alone tells that form
        # (25 or 32 characters) from another ISO form, of its length or not.
        try:
            if datetime.fromisoformat(value).isoformat() == value:
                return value[:-6] + "Z"
        except ValueError:
            pass  # not a time, or one with spaces before it: the round trip says which
    return rfc3339(to_epoch(value))


def age_s(epoch: float | None, now: float) -> float | None:
    """Seconds from ``epoch`` to ``now``, rounded to milliseconds (half up, by arithmetic:
    cheaper than ``round(x, 3)``, and listings pay it per item)."""
    return None if epoch is None else math.floor((now - epoch) * 1000 + 0.5) / 1000
