"""The id rule of the answers: every id is a string, or null.

Ids come from two places. Keys and hash fields (the ``order_status:{exchange}`` field is the
order id, the ``accounts`` field the ex_id) are text already. Stored payloads hold ids as their
writers had them: ``"ex_id": 3`` in one order, ``"ex_id": "3"`` in another. ``id_text`` writes
the second kind as the first, so a field name has one type in every answer, and an id reads as
the text a client filters by (``?uid=7``). The stored values themselves are not changed: the
readers keep them as stored.
"""

from __future__ import annotations

import math

import msgspec

__all__ = ["StoredId", "id_order", "id_text"]

StoredId = int | float | str | None
"""An identifier inside a stored payload: kept as stored (number or string)."""

_EXACT = 2.0**53
"""Below this, an integral float is exactly the integer it stands for."""


def id_text(value: StoredId) -> str | None:
    """A stored id as text: a string as stored; an integer, or an integral float below 2**53,
    as its digits (3 and 3.0 give "3"); any other finite float as its JSON text ("3.5",
    "1e300"); null, NaN and infinities as None (null, like every non-finite number)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if not (value.is_integer() and abs(value) < _EXACT):
            return msgspec.json.encode(value).decode()
        value = int(value)
    return str(value)


def id_order(value: str) -> tuple[int, int, str]:
    """Sort key of an id taken from a field: numerically, non-numeric ids last."""
    if value.isascii() and value.isdigit():
        return (0, int(value), value)
    return (1, 0, value)
