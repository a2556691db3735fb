"""Processes endpoints."""

from __future__ import annotations

from collections import Counter
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ..cache.processes import (
    ActiveProcesses,
    StoredProcess,
    read_active_processes,
    read_component_process,
    read_process,
)
from ..params import (
    COMPONENT,
    COMPONENT_FILTER,
    PROCESS_ID,
    PROCESS_STATUS,
    PROCESS_TYPE,
    SINCE_MINUTES,
    STALE_AFTER,
)
from ..responses import respond
from ..times import age_s, rfc3339, to_epoch
from . import cache_of


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
    process_id: str, process_type: str | None, record: StoredProcess, now: float, stale_after: float
) -> ProcessOut:
    heartbeat = to_epoch(record.heartbeat)
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
        stale=heartbeat is None or now - heartbeat > stale_after,
    )


async def _active(
    request: Request, *, filtered: bool
) -> tuple[list[ProcessOut], ActiveProcesses, float, float]:
    since_minutes, stale_after = SINCE_MINUTES.value(request), STALE_AFTER.value(request)
    process_type = PROCESS_TYPE.get(request) if filtered else None
    component = COMPONENT_FILTER.get(request) if filtered else None
    status = PROCESS_STATUS.get(request) if filtered else None
    cache = cache_of(request)
    now = cache.clock()
    active = await read_active_processes(
        cache.redis, now - since_minutes * 60, process_type, component, status
    )
    items = [
        process_out(p.process_id, p.process_type, p.record, now, stale_after)
        for p in active.processes
    ]
    return items, active, since_minutes, stale_after


async def processes(request: Request) -> Response:
    """Active processes: listed in process:active and with a live record, ordered by type, id."""
    items, active, since_minutes, stale_after = await _active(request, filtered=True)
    return respond(ProcessesOut(items, len(items), since_minutes, stale_after, active.skipped))


def _counts(values: list[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


async def processes_health(request: Request) -> Response:
    """Process health: totals by type and status, stale and error counts, healthy or not."""
    items, active, since_minutes, stale_after = await _active(request, filtered=False)
    stale = sum(1 for item in items if item.stale)
    errors = sum(1 for item in items if item.status == "error")
    body = ProcessHealthOut(
        healthy=stale == 0 and errors == 0,
        total=len(items),
        by_type=_counts([item.process_type or "unknown" for item in items]),
        by_status=_counts([item.status or "unknown" for item in items]),
        stale=stale,
        errors=errors,
        since_minutes=since_minutes,
        stale_after=stale_after,
        skipped=active.skipped,
    )
    return respond(body)


async def component_process(request: Request) -> Response:
    """A component's latest process record; 404 when none or when its record expired."""
    component, stale_after = COMPONENT.require(request), STALE_AFTER.value(request)
    cache = cache_of(request)
    process_id, record = await read_component_process(cache.redis, component)
    return respond(process_out(process_id, record.process_type, record, cache.clock(), stale_after))


async def process(request: Request) -> Response:
    """One process record; 404 when missing or expired, 502 when corrupt."""
    process_id, stale_after = PROCESS_ID.require(request), STALE_AFTER.value(request)
    cache = cache_of(request)
    record = await read_process(cache.redis, process_id)
    return respond(process_out(process_id, record.process_type, record, cache.clock(), stale_after))
