"""Write a snapshot (``{"keys": [{key, type, ttl, value}]}``) into a Redis, for the demo and
the tests. This writes, so it runs on its own connection, never through the API."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import redis

__all__ = ["load_snapshot", "read_snapshot", "sample_snapshot"]


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
