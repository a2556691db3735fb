"""Whole-cache reads: ping, server info, key-family overview, exchange discovery."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from .. import keys
from .base import usable
from .source import Source

__all__ = [
    "FamilyCount",
    "Overview",
    "ServerInfo",
    "ping_ms",
    "read_exchanges",
    "read_overview",
    "read_server_info",
]

_INFO_SECTIONS = (("INFO", "server"), ("INFO", "replication"), ("INFO", "memory"))


class ServerInfo(msgspec.Struct, kw_only=True, frozen=True):
    version: str | None
    role: str | None
    uptime_s: int | None
    used_memory: int | None


class FamilyCount(msgspec.Struct, kw_only=True, frozen=True):
    family: str
    keys: int
    entries: int | None
    """Fields of its hashes or elements of its lists; None for string families."""


class Overview(msgspec.Struct, kw_only=True, frozen=True):
    families: list[FamilyCount]
    total_keys: int
    other_keys: int
    server: ServerInfo
    skipped: int
    """Keys of another Redis type than their family's (their entries are not counted)."""


async def ping_ms(src: Source) -> float:
    """Round trip of one PING, in milliseconds."""
    start = time.perf_counter()
    await src.command("PING")
    return round((time.perf_counter() - start) * 1000, 3)


def _server_info(sections: list[dict[str, Any]]) -> ServerInfo:
    server, replication, memory = sections
    return ServerInfo(
        version=server.get("redis_version"),
        role=replication.get("role"),
        uptime_s=server.get("uptime_in_seconds"),
        used_memory=memory.get("used_memory"),
    )


async def read_server_info(src: Source) -> ServerInfo:
    return _server_info(await src.pipeline(_INFO_SECTIONS))


async def read_overview(src: Source) -> Overview:
    """Key counts per family (from the key index; keys of no family as its last walk counted
    them) and entries of hashes and lists, with the server's memory and uptime (pipelines of
    HLEN/LLEN, ``READ_BATCH`` per round trip). A key of another Redis type than its family's is
    counted as a key and skipped for entries."""
    by_family: dict[str, set[str]] = {family.name: set() for family in keys.FAMILIES}
    for key in await src.keys(""):
        family = keys.family_of(key)
        if family is not None:
            by_family[family.name].add(key)
    other = src.keyspace.others
    counted = [
        (family.name, "HLEN" if family.redis_type == "hash" else "LLEN", key)
        for family in keys.FAMILIES
        if family.redis_type != "string"
        for key in by_family[family.name]
    ]
    replies = await src.pipeline(
        [*_INFO_SECTIONS, *((command, key) for _, command, key in counted)], listing=True
    )
    entries: dict[str, int] = {}
    skipped = 0
    for (name, _, key), length in zip(counted, replies[len(_INFO_SECTIONS) :], strict=True):
        if usable(key, length):
            entries[name] = entries.get(name, 0) + int(length)
        else:
            skipped += 1
    families = [
        FamilyCount(
            family=family.name,
            keys=len(by_family[family.name]),
            entries=None if family.redis_type == "string" else entries.get(family.name, 0),
        )
        for family in keys.FAMILIES
    ]
    total = sum(len(found) for found in by_family.values()) + other
    server = _server_info(replies[: len(_INFO_SECTIONS)])
    return Overview(
        families=families, total_keys=total, other_keys=other, server=server, skipped=skipped
    )


async def read_exchanges(src: Source) -> list[tuple[str, int]]:
    """Every exchange named by a key of a family that names one (``KeyFamily.exchange``: tickers,
    orders, trades, trade status), with its ticker count: a lookup in the key index per family
    and one pipeline of HLEN. All-digit names are ex_ids
    (``order_status:3``), not exchanges, and are left out. A ``tickers`` key of another Redis
    type counts no tickers."""
    names: set[str] = set()
    for family in keys.FAMILIES:
        if family.exchange is None:
            continue
        for key in await src.keys(family.key):
            parsed = family.parse(key)
            if parsed is not None and not (exchange := family.exchange(parsed)).isdigit():
                names.add(exchange)
    exchanges = sorted(names)
    counts = await src.pipeline(
        [("HLEN", keys.tickers_key(exchange)) for exchange in exchanges], listing=True
    )
    return [
        (exchange, int(count) if usable(keys.tickers_key(exchange), count) else 0)
        for exchange, count in zip(exchanges, counts, strict=True)
    ]
