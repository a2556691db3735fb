"""Service: health, version and Redis info, whole-cache overview, exchanges, metrics."""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec
from starlette.responses import Response

from ..context import Ctx
from ..errors import ApiError, ErrorBody
from ..metrics import exposition
from ..readers.service import ping_ms, read_exchanges, read_overview, read_server_info
from ..routing import Raw
from ..version import __version__

__all__ = [
    "ExchangesOut",
    "HealthOut",
    "InfoOut",
    "MetricsText",
    "OverviewOut",
    "exchanges",
    "health",
    "info",
    "metrics",
    "overview",
]

NAME = "fullon_cache_api"


class RedisHealth(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    ok: bool
    latency_ms: float | None = None


class HealthOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    status: str
    redis: RedisHealth
    version: str
    error: ErrorBody | None = None


class RedisInfo(msgspec.Struct, kw_only=True, frozen=True):
    version: str | None
    role: str | None
    db: int


class LocalCacheInfo(msgspec.Struct, kw_only=True, frozen=True):
    """The local cache of the process that answered (each worker has its own)."""

    enabled: bool
    """Whether this process keeps one (the setting; never with Sentinel replica reads)."""
    on: bool
    """Serving now: Redis's tracking holds (off while the hub reconnects, or if refused)."""
    entries: int
    bytes: int
    max_bytes: int
    hits: int
    misses: int
    invalidations: int


class InfoOut(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    version: str
    routes: int
    redis: RedisInfo
    local_cache: LocalCacheInfo


class FamilyOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    family: str
    keys: int
    entries: int | None = None
    """Fields of its hashes or elements of its lists (not given for string families)."""


class OverviewOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    families: list[FamilyOut]
    total_keys: int
    other_keys: int
    used_memory_bytes: int | None
    uptime_s: int | None
    skipped: int = 0


class ExchangeRow(msgspec.Struct, kw_only=True, frozen=True):
    exchange: str
    tickers: int


class ExchangesOut(msgspec.Struct, kw_only=True, frozen=True):
    items: list[ExchangeRow]
    count: int


class MetricsText(Raw):
    """Route-table marker: Prometheus text exposition."""

    description: ClassVar[str] = "Prometheus text format (version 0.0.4)."
    media_types: ClassVar[dict[str, dict[str, Any]]] = {"text/plain": {"type": "string"}}


async def health(ctx: Ctx) -> HealthOut:
    """Liveness: 200 when Redis answers a PING, 503 in the same shape when it does not.

    The one route whose failure body is its own shape (``unhealthy``), since load balancers
    read it."""
    latency = await ping_ms(ctx.source)
    return HealthOut(
        status="ok", redis=RedisHealth(ok=True, latency_ms=latency), version=__version__
    )


def unhealthy(error: ApiError) -> HealthOut:
    """/health's answer when Redis fails it: the error's status, in ``HealthOut``'s shape."""
    return HealthOut(
        status="unavailable",
        redis=RedisHealth(ok=False),
        version=__version__,
        error=error.error_out().error,
    )


async def info(ctx: Ctx) -> InfoOut:
    """Name, version, route count, and the Redis server's version, role and db."""
    server = await read_server_info(ctx.source)
    redis = RedisInfo(version=server.version, role=server.role, db=ctx.settings.redis_db)
    cache = ctx.local_cache
    local = LocalCacheInfo(
        enabled=cache is not None,
        on=cache is not None and cache.on,
        entries=0 if cache is None else len(cache),
        bytes=0 if cache is None else cache.bytes,
        max_bytes=0 if cache is None else cache.max_bytes,
        hits=0 if cache is None else cache.hits,
        misses=0 if cache is None else cache.misses,
        invalidations=0 if cache is None else cache.invalidations,
    )
    return InfoOut(
        name=NAME, version=__version__, routes=len(ctx.app.routes), redis=redis, local_cache=local
    )


async def overview(ctx: Ctx) -> OverviewOut:
    """Whole-cache status: keys (and entries) per key family, memory, uptime."""
    found = await read_overview(ctx.source)
    families = [FamilyOut(family=f.family, keys=f.keys, entries=f.entries) for f in found.families]
    server = found.server
    return OverviewOut(
        families=families,
        total_keys=found.total_keys,
        other_keys=found.other_keys,
        used_memory_bytes=server.used_memory,
        uptime_s=server.uptime_s,
        skipped=found.skipped,
    )


async def exchanges(ctx: Ctx) -> ExchangesOut:
    """Every exchange seen in tickers, orders, trades and trade-status keys, with ticker count."""
    rows = [
        ExchangeRow(exchange=name, tickers=count)
        for name, count in await read_exchanges(ctx.source)
    ]
    return ExchangesOut(items=rows, count=len(rows))


async def metrics(ctx: Ctx) -> Response:
    """Prometheus metrics: requests by route template, status and latency; Redis errors by
    cause; corrupt values skipped; open streams."""
    body, content_type = exposition()
    return Response(body, media_type=content_type)
