"""``/ws/process/{connection_id}``: the trading system's processes: system health, the active
processes, and a stream of how many are active."""

from __future__ import annotations

import functools

import msgspec

from ..actions import Action, NumberArg, TextArg
from ..answers import processes_health
from ..context import Ctx
from ..readers import watched
from ..readers.processes import every_active_process, read_active_processes
from .pages import first_pages
from .streams import Polled

__all__ = ["ACTIONS"]

HEALTH_MINUTES = 60.0  # fullon_cache's system health counts the last hour's processes
STALE_AFTER_S = 300.0
ACTIVE_MINUTES = 5.0  # fullon_cache's default "active" window


class SystemHealth(msgspec.Struct, kw_only=True, frozen=True):
    healthy: bool
    """No process has status ``error`` and none is stale."""
    total_processes: int
    by_type: dict[str, int]
    by_status: dict[str, int]
    stale_processes: int
    """Heartbeat older than 300 s."""
    error_processes: int


class ProcessRecord(msgspec.Struct, kw_only=True, frozen=True):
    process_id: str
    name: str | None
    """The process's component."""
    status: str | None
    pid: None
    """fullon_cache stores no pid."""
    last_seen: float
    """Its last update, epoch seconds."""


class ProcessesResult(msgspec.Struct, kw_only=True, frozen=True):
    processes: list[ProcessRecord]


class HealthUpdate(msgspec.Struct, kw_only=True, frozen=True):
    stream_key: str
    active_processes: int
    timestamp: float


async def get_system_health(ctx: Ctx) -> SystemHealth:
    """Processes of the last hour by type and status, stale and error counts, healthy or not."""
    health = await processes_health(ctx, HEALTH_MINUTES, STALE_AFTER_S)
    return SystemHealth(
        healthy=health.healthy,
        total_processes=health.total,
        by_type=health.by_type,
        by_status=health.by_status,
        stale_processes=health.stale,
        error_processes=health.errors,
    )


async def get_active_processes(
    ctx: Ctx, process_type: str | None, component: str | None, since_minutes: float
) -> ProcessesResult:
    """Processes updated in the last ``since_minutes`` (5) with a live record, by type and id
    (page by page, 10,000 listed at most)."""
    since = ctx.now() - since_minutes * 60
    read = functools.partial(
        read_active_processes, ctx.source, since, process_type, component, None
    )
    return ProcessesResult(
        processes=[
            ProcessRecord(
                process_id=p.process_id,
                name=p.record.component,
                status=p.record.status,
                pid=None,
                last_seen=p.last_update,
            )
            for found in await first_pages(read, "active processes")
            for p in found.processes
        ]
    )


async def stream_process_health(ctx: Ctx) -> Polled[int]:
    """How many processes are active (last 5 minutes) at once, then whenever it changes."""

    async def count() -> int:
        since = ctx.now() - ACTIVE_MINUTES * 60
        return sum([len(page.processes) async for page in every_active_process(ctx.source, since)])

    def updates(previous: int | None, active: int, key: str) -> list[HealthUpdate]:
        return [HealthUpdate(stream_key=key, active_processes=active, timestamp=ctx.now())]

    return Polled(
        "Streaming started for process health",
        ("active_processes",),
        count,
        updates,
        watched.processes_watch(),
    )


ACTIONS = (
    Action(
        "get_system_health",
        get_system_health,
        failure="Failed to retrieve system health",
        heavy=True,
    ),
    Action(
        "get_active_processes",
        get_active_processes,
        (
            TextArg("process_type", required=False),
            TextArg("component", required=False),
            NumberArg("since_minutes", required=False, default_value=ACTIVE_MINUTES),
        ),
        failure="Failed to retrieve active processes",
    ),
    Action(
        "stream_process_health",
        stream_process_health,
        failure="Failed to start process health streaming",
        update="process_health_update",
    ),
)
