"""Processes: the trading system's services, their status and heartbeats (a process is
listed while it updates its record; it is stale when its heartbeat is old)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import msgspec

from ..context import Ctx
from ..params import next_cursor
from ..readers.processes import (
    StoredProcess,
    every_active_process,
    read_active_processes,
    read_component_process,
    read_process,
)
from ..readers.source import FamilyPosition
from ..times import age_s, rfc3339, to_epoch


class ProcessOut(msgspec.Struct, frozen=True):
    process_id: str
    process_type: str | None
    component: str | None
    params: Any
    status: str | None
    message: str | None
    created_at: str | None
    updated_at: str | None
    heartbeat: str | None
    heartbeat_age_s: float | None
    stale: bool
    """The heartbeat is older than ``stale_after`` seconds, or missing."""


class ProcessesOut(msgspec.Struct, frozen=True, omit_defaults=True):
    items: list[ProcessOut]
    count: int
    since_minutes: float
    stale_after: float
    skipped: int = 0
    next_cursor: str | None = None


class ProcessHealthOut(msgspec.Struct, frozen=True, omit_defaults=True):
    healthy: bool
    """No listed process has status ``error`` and none is stale."""
    total: int
    by_type: dict[str, int]
    by_status: dict[str, int]
    stale: int
    errors: int
    since_minutes: float
    stale_after: float
    skipped: int = 0


def process_out(
    ctx: Ctx, process_id: str, process_type: str | None, record: StoredProcess, stale_after: float
) -> ProcessOut:
    heartbeat = to_epoch(record.heartbeat)
    now = ctx.now()
    return ProcessOut(
        process_id=process_id,
        process_type=process_type,
        component=record.component,
        params=record.params,
        status=record.status,
        message=record.message,
        created_at=rfc3339(to_epoch(record.created_at)),
        updated_at=rfc3339(to_epoch(record.updated_at)),
        heartbeat=rfc3339(heartbeat),
        heartbeat_age_s=age_s(heartbeat, now),
        stale=ctx.chose(heartbeat is None or now - heartbeat > stale_after),
    )


async def processes(
    ctx: Ctx,
    type: str | None,
    component: str | None,
    status: str | None,
    since_minutes: float,
    stale_after: float,
    limit: int,
    cursor: FamilyPosition | None,
) -> ProcessesOut:
    """Active processes: listed in process:active and with a live record, ordered by type, id.

    `limit` listed processes are read a page (`next_cursor` when more remain); the filters keep
    some of them, so a page may hold fewer."""
    since = ctx.now() - since_minutes * 60
    found = await read_active_processes(ctx.source, since, type, component, status, cursor, limit)
    items = [
        process_out(ctx, p.process_id, p.process_type, p.record, stale_after)
        for p in found.processes
    ]
    return ProcessesOut(
        items, len(items), since_minutes, stale_after, found.skipped, next_cursor(found.next)
    )


async def processes_health(ctx: Ctx, since_minutes: float, stale_after: float) -> ProcessHealthOut:
    """Process health: totals by type and status, stale and error counts, healthy or not."""
    by_type: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    stale = skipped = 0
    async for page in every_active_process(ctx.source, ctx.now() - since_minutes * 60):
        skipped += page.skipped
        for p in page.processes:
            item = process_out(ctx, p.process_id, p.process_type, p.record, stale_after)
            by_type[item.process_type or "unknown"] += 1
            by_status[item.status or "unknown"] += 1
            stale += item.stale
    errors = by_status["error"]
    return ProcessHealthOut(
        healthy=stale == 0 and errors == 0,
        total=by_type.total(),
        by_type=dict(sorted(by_type.items())),
        by_status=dict(sorted(by_status.items())),
        stale=stale,
        errors=errors,
        since_minutes=since_minutes,
        stale_after=stale_after,
        skipped=skipped,
    )


async def component_process(ctx: Ctx, component: str, stale_after: float) -> ProcessOut:
    """A component's latest process record; 404 when none or when its record expired."""
    process_id, record = await read_component_process(ctx.source, component)
    return process_out(ctx, process_id, record.process_type, record, stale_after)


async def process(ctx: Ctx, process_id: str, stale_after: float) -> ProcessOut:
    """One process record; 404 when missing or expired, 502 when corrupt."""
    record = await read_process(ctx.source, process_id)
    return process_out(ctx, process_id, record.process_type, record, stale_after)
