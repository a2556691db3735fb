"""Write a snapshot (``{"keys": [{key, type, ttl, value}]}``) into a Redis, for the demo and
the tests, and move its times to the present for the demo. Loading writes, so it runs on its
own connection, never through the API."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import redis

__all__ = ["load_snapshot", "read_snapshot", "rebased", "sample_snapshot"]

# In a payload, a number is a time only under these names (tick and trade ``time``, position
# ``timestamp``); a string is a time wherever it is an ISO time with a zone.
EPOCH_FIELDS = frozenset({"time", "timestamp"})
CLOCK_GAP = 7 * 86400.0
"""Times further apart than this, with nothing between them, belong to different clocks."""

Offset = Callable[[float], int]
"""Whole seconds to add to a time given in epoch seconds."""


def read_snapshot(path: str | Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return data


def sample_snapshot() -> dict[str, Any]:
    """The sample data shipped with the package: a dump of a Redis filled by fullon_cache."""
    text = resources.files(__package__).joinpath("sample_data.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def load_snapshot(client: redis.Redis, snapshot: dict[str, Any]) -> int:
    """Write every key of ``snapshot`` as fullon_cache wrote it (type, value, TTL); return the
    number of keys written. Existing keys of the same names are replaced."""
    pipe = client.pipeline(transaction=False)
    for entry in snapshot["keys"]:
        key, kind, value, ttl = entry["key"], entry["type"], entry["value"], entry["ttl"]
        pipe.delete(key)
        if kind == "string":
            pipe.set(key, value)
        elif kind == "hash":
            if value:
                pipe.hset(key, mapping=value)
        elif kind == "list":
            if value:
                pipe.rpush(key, *value)
        else:
            raise ValueError(f"unsupported type {kind!r} for key {key!r}")
        if ttl is not None and ttl > 0:
            pipe.expire(key, ttl)
    pipe.execute()
    return len(snapshot["keys"])


def rebased(snapshot: dict[str, Any], now: float) -> dict[str, Any]:
    """``snapshot`` with every stored time moved so that the newest times are ``now``.

    A dump holds two clocks: the times its generator chose for the payloads (ticks, OHLCV bars,
    trades, positions) and the wall clock fullon_cache stamped its own writes with (orders,
    balances, bots, trade status, processes), here a year apart. Each clock (a run of times
    with no gap over a week) moves by its own whole number of seconds, so that its newest time
    lands within a second before ``now`` and the spacing inside it (bar intervals, ticker ages)
    is kept. Ids that embed a time (process ids) are names, and stay as they are.
    """
    seen: list[float] = []

    def record(moment: float) -> int:
        seen.append(moment)
        return 0

    _move_times(snapshot, record)
    clocks: list[list[float]] = []  # [first, newest] of each clock
    for moment in sorted(seen):
        if clocks and moment - clocks[-1][1] <= CLOCK_GAP:
            clocks[-1][1] = moment
        else:
            clocks.append([moment, moment])

    def offset(moment: float) -> int:
        newest = next(last for first, last in clocks if first <= moment <= last)
        return math.floor(now - newest)

    return _move_times(snapshot, offset)


def _move_times(snapshot: dict[str, Any], offset: Offset) -> dict[str, Any]:
    keys = []
    for entry in snapshot["keys"]:
        value = entry["value"]
        if entry["type"] == "hash":
            value = {name: _move_text(text, offset) for name, text in value.items()}
        elif entry["type"] == "list":
            value = [_move_text(text, offset) for text in value]
        else:
            value = _move_text(value, offset)
        keys.append({**entry, "value": value})
    return {**snapshot, "keys": keys}


def _move_text(text: str, offset: Offset) -> str:
    """One stored string with its times moved: a JSON payload, an OHLCV bar, epoch seconds
    (``ticker_time``), an ISO time (trade status, ``process:active``) or ``{bot_id}:{ISO}``
    (``opening_position``). Anything else is returned as it is."""
    try:
        value = json.loads(text)
    except ValueError:
        moved = _move_iso(text, offset)
        if moved is not None:
            return moved
        head, colon, tail = text.partition(":")
        moved = _move_iso(tail, offset) if colon else None
        return text if moved is None else f"{head}:{moved}"
    if isinstance(value, dict):
        moved_value: Any = _move_payload(value, offset)
    elif isinstance(value, list) and value:
        moved_value = [_move_epoch(value[0], offset), *value[1:]]  # an OHLCV bar: [ts, o, h, ...]
    else:
        moved_value = _move_epoch(value, offset)
    return text if moved_value == value else json.dumps(moved_value)


def _move_payload(value: Any, offset: Offset, name: str = "") -> Any:
    """A decoded JSON payload with its times moved, at any depth (a position's own
    ``timestamp`` sits inside its symbol's object, a bot feed's inside the feed's)."""
    if isinstance(value, str):
        return _move_iso(value, offset) or value
    if isinstance(value, dict):
        return {key: _move_payload(item, offset, key) for key, item in value.items()}
    if isinstance(value, list):
        return [_move_payload(item, offset) for item in value]
    return _move_epoch(value, offset) if name in EPOCH_FIELDS else value


def _move_epoch(value: Any, offset: Offset) -> Any:
    """Epoch seconds or milliseconds moved (OHLCV bars come in both); other values unchanged."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if 1e9 <= value < 1e10:  # seconds: 2001 to 2286
        return value + offset(value)
    if 1e12 <= value < 1e13:  # the same span in milliseconds
        return value + offset(value / 1000) * 1000
    return value


def _move_iso(text: str, offset: Offset) -> str | None:
    """An ISO time with a zone, moved (in its own zone and form); None for other text. A time
    without a zone is left alone: its zone is unknown."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return (moment + timedelta(seconds=offset(moment.timestamp()))).isoformat()
