"""Service endpoints: health, info, overview, exchanges."""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from .. import __version__
from ..cache.service import (
    Family,
    ServerInfo,
    ping_ms,
    read_exchanges,
    read_overview,
    read_server_info,
)
from ..errors import ErrorBody, from_redis
from ..metrics import exposition
from ..openapi import Raw
from ..responses import BASE_HEADERS, respond
from . import cache_of

NAME = "fullon_cache_api"


class RedisHealth(msgspec.Struct, frozen=True, omit_defaults=True):
    ok: bool
    latency_ms: float | None = None


class HealthOut(msgspec.Struct, frozen=True, omit_defaults=True):
    status: str
    redis: RedisHealth
    version: str
    error: ErrorBody | None = None


class RedisInfo(msgspec.Struct, frozen=True):
    version: str | None
    role: str | None
    db: int


class InfoOut(msgspec.Struct, frozen=True):
    name: str
    version: str
    routes: int
    redis: RedisInfo


class OverviewOut(msgspec.Struct, frozen=True):
    families: list[Family]
    total_keys: int
    other_keys: int
    used_memory_bytes: int | None
    uptime_s: int | None


class ExchangeRow(msgspec.Struct, frozen=True):
    exchange: str
    tickers: int


class ExchangesOut(msgspec.Struct, frozen=True):
    items: list[ExchangeRow]
    count: int


class MetricsText(Raw):
    """Route-table marker: Prometheus text exposition."""

    description: ClassVar[str] = "Prometheus text format (version 0.0.4)."
    media_types: ClassVar[dict[str, dict[str, Any]]] = {"text/plain": {"type": "string"}}


async def health(request: Request) -> Response:
    """Liveness: 200 when Redis answers a PING, 503 in the same shape when it does not.

    The one route whose failure body is its own shape, since load balancers read it."""
    try:
        latency = await ping_ms(cache_of(request).redis)
    except RedisError as exc:
        error = from_redis(exc)
        body = HealthOut("unavailable", RedisHealth(False), __version__, error.body().error)
        return respond(body, error.status)
    return respond(HealthOut("ok", RedisHealth(True, latency), __version__))


async def info(request: Request) -> Response:
    """Name, version, route count, and the Redis server's version, role and db."""
    cache = cache_of(request)
    server: ServerInfo = await read_server_info(cache.redis)
    routes = len(request.app.routes)
    redis = RedisInfo(server.version, server.role, cache.settings.redis_db)
    return respond(InfoOut(NAME, __version__, routes, redis))


async def overview(request: Request) -> Response:
    """Whole-cache status: keys (and entries) per key family, memory, uptime."""
    overview, server = await read_overview(cache_of(request).redis)
    return respond(
        OverviewOut(
            overview.families,
            overview.total_keys,
            overview.other_keys,
            server.used_memory,
            server.uptime_s,
        )
    )


async def exchanges(request: Request) -> Response:
    """Every exchange seen in tickers, orders, trades and trade-status keys, with ticker count."""
    found = await read_exchanges(cache_of(request).redis)
    rows = [ExchangeRow(name, count) for name, count in found]
    return respond(ExchangesOut(rows, len(rows)))


async def metrics(request: Request) -> Response:
    """Prometheus metrics: requests by route template, status and latency; Redis errors;
    corrupt values skipped; open streams."""
    body, content_type = exposition()
    return Response(body, headers=BASE_HEADERS, media_type=content_type)
