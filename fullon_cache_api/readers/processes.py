"""Processes: ``process:data:{process_id}`` JSON records (expire 86400 s after their last update),
``process:active:{process_type}`` hashes (field process_id -> ISO last-update time) and the
``process:components`` hash (field component -> latest process_id).

A process id is ``"{type}:{component}:{epoch}"`` with components that hold ``:`` and ``/``: ids
are opaque strings here, never split. ``process:active:*`` may list ids whose record expired:
those processes are gone, not active (quirk 10).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec

from .. import keys
from ..errors import NotFound
from ..keys import RedisBytes, text
from ..times import to_epoch
from .base import CorruptValue, Lenient, one, skip
from .paging import FamilyPosition, hashes_page
from .source import READ_BATCH, Source

__all__ = [
    "ActiveProcess",
    "ActiveProcesses",
    "StoredProcess",
    "every_active_process",
    "read_active_processes",
    "read_component_process",
    "read_process",
]


class StoredProcess(msgspec.Struct, frozen=True):
    """A process record as fullon_cache stores it; times are ISO strings (epochs tolerated)."""

    process_id: str | None = None
    process_type: str | None = None
    component: str | None = None
    params: Any = None
    status: str | None = None
    message: str | None = None
    created_at: str | float | None = None
    updated_at: str | float | None = None
    heartbeat: str | float | None = None


RECORD = Lenient(StoredProcess)


async def read_process(src: Source, process_id: str) -> StoredProcess:
    """One record (GET); 404 when missing or expired, 502 when corrupt."""
    raw = await src.get(keys.process_data_key(process_id))
    return one(RECORD, raw, f"process {process_id} (missing or expired)")


async def read_component_process(src: Source, component: str) -> tuple[str, StoredProcess]:
    """The component's latest process id and record (HGET, then GET). 404 when the component is
    not in ``process:components`` (a stopped process leaves it) or its record expired."""
    raw_id = await src.hget(keys.PROCESS_COMPONENTS.key, component)
    if raw_id is None:
        raise NotFound(f"no process for component {component}")
    process_id = text(raw_id)
    return process_id, await read_process(src, process_id)


class ActiveProcess(msgspec.Struct, kw_only=True, frozen=True):
    process_id: str
    process_type: str
    """From the ``process:active:{type}`` key that lists the id."""
    last_update: float
    """Epoch seconds: the time ``process:active:*`` holds for the id."""
    record: StoredProcess


class ActiveProcesses(msgspec.Struct, kw_only=True):
    processes: list[ActiveProcess]
    skipped: int = 0
    next: FamilyPosition | None = None


async def read_active_processes(
    src: Source,
    updated_since: float,
    process_type: str | None,
    component: str | None,
    status: str | None,
    position: FamilyPosition | None,
    limit: int,
) -> ActiveProcesses:
    """A page of the processes listed in ``process:active:*`` (by type, then id), kept when
    their last-update time is at or after ``updated_since`` (epoch seconds) AND their record is
    live, then by ``component`` and ``status`` of the record (so a page may hold fewer than
    ``limit``). Reads: a page of the active hashes (see ``Source.hashes_page``; only
    ``process:active:{process_type}`` when a type is given), then one MGET of the candidates'
    records. A corrupt record or an active key of another Redis type is skipped and counted."""
    types = await _types(src, process_type)
    return await _active(src, types, updated_since, component, status, position, limit)


async def _types(src: Source, process_type: str | None) -> list[tuple[str, str]]:
    """(type, key) of the active hashes: the key index, or the one key of ``process_type``."""
    if process_type is not None:
        return [(process_type, keys.process_active_key(process_type))]
    return await src.family_keys(keys.PROCESS_ACTIVE.key, keys.PROCESS_ACTIVE.parse)


async def _active(
    src: Source,
    types: list[tuple[str, str]],
    updated_since: float,
    component: str | None,
    status: str | None,
    position: FamilyPosition | None,
    limit: int,
    exact: bool = True,
) -> ActiveProcesses:
    found = await hashes_page(src, types, position, limit, exact=exact)
    skipped = found.skipped
    candidates = [
        (kind, pid, updated)
        for kind, _, page in found.pages
        for pid, raw_time in page.fields
        if (updated := to_epoch(text(raw_time))) is not None and updated >= updated_since
    ]
    records: list[RedisBytes | None] = (
        await src.command("MGET", *(keys.process_data_key(pid) for _, pid, _ in candidates))
        if candidates
        else []
    )
    processes: list[ActiveProcess] = []
    for (kind, pid, updated), raw in zip(candidates, records, strict=True):
        if raw is None:  # expired (or never written): gone, not active
            continue
        try:
            record = RECORD.decode(raw)
        except CorruptValue as exc:
            skipped += 1
            skip(keys.process_data_key(pid), None, exc)
            continue
        if (component is None or record.component == component) and (
            status is None or record.status == status
        ):
            processes.append(
                ActiveProcess(process_id=pid, process_type=kind, last_update=updated, record=record)
            )
    return ActiveProcesses(processes=processes, skipped=skipped, next=found.next)


async def every_active_process(src: Source, updated_since: float) -> AsyncIterator[ActiveProcesses]:
    """Every active process (the key index, then about ``READ_BATCH`` at a time), for
    aggregates."""
    types = await _types(src, None)
    position: FamilyPosition | None = None
    while True:
        page = await _active(src, types, updated_since, None, None, position, READ_BATCH, False)
        yield page
        if page.next is None:
            return
        position = page.next
