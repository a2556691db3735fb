"""Processes: ``process:data:{process_id}`` JSON records (expire 86400 s after their last update),
``process:active:{process_type}`` hashes (field process_id -> ISO last-update time) and the
``process:components`` hash (field component -> latest process_id).

A process id is ``"{type}:{component}:{epoch}"`` with components that hold ``:`` and ``/``: ids
are opaque strings here, never split. ``process:active:*`` may list ids whose record expired:
those processes are gone, not active (quirk 10).
"""

from __future__ import annotations

from typing import Any

import msgspec

from .. import keys
from ..errors import NotFound
from ..times import to_epoch
from .base import CorruptValue, Lenient, Raw, Source, one, skip, text

__all__ = [
    "ActiveProcess",
    "ActiveProcesses",
    "StoredProcess",
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
    raw_id = await src.hget(keys.PROCESS_COMPONENTS, component)
    if raw_id is None:
        raise NotFound(f"no process for component {component}")
    process_id = text(raw_id)
    return process_id, await read_process(src, process_id)


class ActiveProcess(msgspec.Struct, frozen=True):
    process_id: str
    process_type: str
    """From the ``process:active:{type}`` key that lists the id."""
    last_update: float
    """Epoch seconds: the time ``process:active:*`` holds for the id."""
    record: StoredProcess


class ActiveProcesses(msgspec.Struct):
    processes: list[ActiveProcess]
    skipped: int = 0


async def read_active_processes(
    src: Source,
    updated_since: float,
    process_type: str | None = None,
    component: str | None = None,
    status: str | None = None,
) -> ActiveProcesses:
    """Processes listed in ``process:active:*`` with a last-update time at or after
    ``updated_since`` (epoch seconds) AND a live record; filtered by ``component`` and
    ``status`` of the record. Reads: one SCAN loop and one pipeline of HGETALL (only
    ``process:active:{process_type}`` when a type is given), then one MGET of the candidates'
    records. A corrupt record or an active key of another Redis type is skipped and counted.
    Ordered by type, then id."""
    if process_type is None:
        pattern, parse = keys.PROCESS_ACTIVE_PATTERN, keys.type_of_process_active_key
        found = await src.family(pattern, parse, ("HGETALL",))
    else:
        only = [(process_type, keys.process_active_key(process_type))]
        found = await src.members(only, ("HGETALL",))
    skipped = found.skipped
    candidates: list[tuple[str, str, float]] = []
    for member in found.members:
        fields: dict[Raw, Raw] = member.replies[0]
        for raw_id, raw_time in fields.items():
            updated = to_epoch(text(raw_time))
            if updated is not None and updated >= updated_since:
                candidates.append((member.parsed, text(raw_id), updated))
    candidates.sort(key=lambda c: (c[0], c[1]))
    records: list[Raw | None] = (
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
            processes.append(ActiveProcess(pid, kind, updated, record))
    return ActiveProcesses(processes, skipped)
