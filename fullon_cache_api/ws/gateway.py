"""``/ws``: the generic gateway. Besides ``ping`` and ``health_check`` it accepts every domain
socket's action under its v0.2.6 operation name (``get_user_positions`` is ``get_positions``),
answering in the gateway's envelope. v0.2.6 allowed three operations no domain socket has
(``get_account_status``, ``stream_user_balances``, ``get_trade_status``): still not
implemented."""

from __future__ import annotations

import dataclasses

import msgspec
from redis.exceptions import RedisError

from ..actions import Action
from ..context import Ctx
from ..errors import from_redis
from ..readers.service import ping_ms
from . import accounts, bots, ohlcv, orders, process, tickers, trades

__all__ = ["ACTIONS"]

# v0.2.6's operation names of the domain actions whose names differ.
OPERATION_NAMES = {
    "get_positions": "get_user_positions",
    "get_balance": "get_user_balances",
    "stream_positions": "stream_user_positions",
    "stream_ohlcv": "stream_ohlcv_updates",
}


class Pong(msgspec.Struct, kw_only=True, frozen=True):
    status: str


class WebSocketStatus(msgspec.Struct, kw_only=True, frozen=True):
    status: str
    framework: str
    transport: str
    timestamp: None
    services: dict[str, str]


class CacheStatus(msgspec.Struct, kw_only=True, frozen=True):
    status: str
    """``healthy`` when Redis answers a PING, else ``unhealthy``."""
    timestamp: None
    services: dict[str, str]


class Health(msgspec.Struct, kw_only=True, frozen=True):
    websocket: WebSocketStatus
    cache: CacheStatus


async def ping(ctx: Ctx) -> Pong:
    """Answers ``{"status": "ok"}``, without reading Redis."""
    return Pong(status="ok")


async def health_check(ctx: Ctx) -> Health:
    """The socket's health, and whether Redis answers a PING."""
    try:
        await ping_ms(ctx.source)
        cache = "healthy"
    except RedisError as exc:
        from_redis(exc)  # logged and counted
        cache = "unhealthy"
    return Health(
        websocket=WebSocketStatus(
            status="healthy",
            framework="starlette",
            transport="websocket",
            timestamp=None,
            services={},
        ),
        cache=CacheStatus(status=cache, timestamp=None, services={}),
    )


ACTIONS: tuple[Action, ...] = (
    Action("ping", ping),
    Action("health_check", health_check),
    *(
        dataclasses.replace(action, name=OPERATION_NAMES.get(action.name, action.name))
        for domain in (tickers, accounts, orders, bots, trades, ohlcv, process)
        for action in domain.ACTIONS
    ),
)
