"""Whole-cache reads: ping, server info, key-family overview, exchange discovery."""

from __future__ import annotations

import time
from typing import Any

import msgspec
from redis.asyncio import Redis

from .. import keys
from . import SCAN_COUNT, text

__all__ = [
    "Family",
    "Overview",
    "ServerInfo",
    "ping_ms",
    "read_exchanges",
    "read_overview",
    "read_server_info",
]

# Exchange-named key families, for /exchanges.
_EXCHANGE_OF = (
    keys.exchange_of_tickers_key,
    keys.exchange_of_orders_key,
    lambda key: parsed[0] if (parsed := keys.parse_trades_key(key)) else None,
    keys.exchange_of_trade_status_key,
)


class ServerInfo(msgspec.Struct, frozen=True):
    version: str | None
    role: str | None
    uptime_s: int | None
    used_memory: int | None


class Family(msgspec.Struct, frozen=True):
    family: str
    keys: int
    entries: int | None = None


class Overview(msgspec.Struct, frozen=True):
    families: list[Family]
    total_keys: int
    other_keys: int


async def ping_ms(redis: Redis) -> float:
    """Round trip of one PING, in milliseconds."""
    start = time.perf_counter()
    await redis.ping()
    return round((time.perf_counter() - start) * 1000, 3)


def _server_info(
    server: dict[str, Any], replication: dict[str, Any], memory: dict[str, Any]
) -> ServerInfo:
    return ServerInfo(
        version=server.get("redis_version"),
        role=replication.get("role"),
        uptime_s=server.get("uptime_in_seconds"),
        used_memory=memory.get("used_memory"),
    )


def _queue_info(pipe: Any) -> None:
    """Queue the three INFO sections ``_server_info`` reads."""
    pipe.info("server")
    pipe.info("replication")
    pipe.info("memory")


async def read_server_info(redis: Redis) -> ServerInfo:
    pipe = redis.pipeline(transaction=False)
    _queue_info(pipe)
    server, replication, memory = await pipe.execute()
    return _server_info(server, replication, memory)


async def _all_keys(redis: Redis) -> set[str]:
    return {text(key) async for key in redis.scan_iter(count=SCAN_COUNT)}


async def read_overview(redis: Redis) -> tuple[Overview, ServerInfo]:
    """Key counts per family (one SCAN loop) and entries of hashes and lists (one pipeline)."""
    by_family: dict[str, list[str]] = {name: [] for name, _, _ in keys.FAMILIES}
    other = 0
    for key in await _all_keys(redis):
        family = keys.family_of(key)
        if family is None:
            other += 1
        else:
            by_family[family].append(key)
    pipe = redis.pipeline(transaction=False)
    _queue_info(pipe)
    counted = [(name, kind) for name, _, kind in keys.FAMILIES if kind in ("hash", "list")]
    for name, kind in counted:
        for key in by_family[name]:
            pipe.hlen(key) if kind == "hash" else pipe.llen(key)
    server, replication, memory, *lengths = await pipe.execute()
    entries: dict[str, int] = {}
    position = 0
    for name, _ in counted:
        size = len(by_family[name])
        entries[name] = sum(lengths[position : position + size])
        position += size
    families = [
        Family(name, len(by_family[name]), entries.get(name)) for name, _, _ in keys.FAMILIES
    ]
    total = sum(len(found) for found in by_family.values()) + other
    return Overview(families, total, other), _server_info(server, replication, memory)


async def read_exchanges(redis: Redis) -> list[tuple[str, int]]:
    """Every exchange named by a tickers, orders, trades or trade-status key, with its ticker
    count. All-digit names are ex_ids (``order_status:3``), not exchanges, and are left out."""
    names: set[str] = set()
    for key in await _all_keys(redis):
        for exchange_of in _EXCHANGE_OF:
            exchange = exchange_of(key)
            if exchange is not None and not exchange.isdigit():
                names.add(exchange)
                break
    exchanges = sorted(names)
    pipe = redis.pipeline(transaction=False)
    for exchange in exchanges:
        pipe.hlen(keys.tickers_key(exchange))
    counts = await pipe.execute() if exchanges else []
    return list(zip(exchanges, counts, strict=True))
