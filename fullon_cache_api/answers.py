"""Answer Structs, and their builders, that both protocols serve: the REST handlers answer
them, the v0.2.6 WebSocket actions build their own frames from them."""

from __future__ import annotations

from collections import Counter
from typing import Any

import msgspec

from .context import Ctx
from .readers.accounts import StoredBalance
from .readers.processes import StoredProcess, every_active_process
from .times import age_s, rfc3339, to_epoch

__all__ = [
    "BalanceOut",
    "ProcessHealthOut",
    "ProcessOut",
    "balance_out",
    "process_out",
    "processes_health",
]


class BalanceOut(msgspec.Struct, kw_only=True, frozen=True):
    """One currency's balance, both stored shapes normalised to ccxt's ``free/used/total``."""

    currency: str
    free: float | None
    used: float | None
    total: float | None


def balance_out(currency: str, stored: StoredBalance) -> BalanceOut:
    """Either stored shape: ``balance`` is total, ``available`` is free, and used = total - free
    when not stored."""
    total = stored.total if stored.total is not None else stored.balance
    free = stored.free if stored.free is not None else stored.available
    used = stored.used
    if used is None and total is not None and free is not None:
        used = total - free
    return BalanceOut(currency=currency, free=free, used=used, total=total)


class ProcessOut(msgspec.Struct, kw_only=True, frozen=True):
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


class ProcessHealthOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
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
