"""Processes: the trading system's services, their status and heartbeats (a process is
listed while it updates its record; it is stale when its heartbeat is old)."""

from __future__ import annotations

import msgspec

from ..answers import ProcessOut, process_out
from ..context import Ctx
from ..params import next_cursor
from ..readers.paging import FamilyPosition
from ..readers.processes import (
    read_active_processes,
    read_component_process,
    read_process,
)


class ProcessesOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    items: list[ProcessOut]
    count: int
    since_minutes: float
    stale_after: float
    skipped: int = 0
    next_cursor: str | None = None


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
        items=items,
        count=len(items),
        since_minutes=since_minutes,
        stale_after=stale_after,
        skipped=found.skipped,
        next_cursor=next_cursor(found.next),
    )


async def component_process(ctx: Ctx, component: str, stale_after: float) -> ProcessOut:
    """A component's latest process record; 404 when none or when its record expired."""
    process_id, record = await read_component_process(ctx.source, component)
    return process_out(ctx, process_id, record.process_type, record, stale_after)


async def process(ctx: Ctx, process_id: str, stale_after: float) -> ProcessOut:
    """One process record; 404 when missing or expired, 502 when corrupt."""
    record = await read_process(ctx.source, process_id)
    return process_out(ctx, process_id, record.process_type, record, stale_after)
