"""Accounts: balances in the ``accounts`` hash and positions in ``account_positions``.

Both hashes are keyed by ex_id (the field) and hold one JSON object per account:
``{CURRENCY: {...}, "date": <time>}`` and ``{SYMBOL: {...}, "timestamp": <time>}``. The sibling
time keys are not currencies or symbols. Balance entries come in two shapes (ccxt's
``free/used/total`` and ``balance/available``); both decode into ``StoredBalance``. The
positions root ``timestamp`` is ISO in current data and an epoch float in legacy data.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

import msgspec

from .. import keys
from ..errors import BadCacheValue, NotFound
from ..times import to_epoch
from .base import CorruptValue, Decoded, Lenient, Raw, Source, one, skip, text, usable

__all__ = [
    "Account",
    "Document",
    "StoredBalance",
    "StoredPosition",
    "id_order",
    "read_accounts",
    "read_balance",
    "read_balances",
    "read_position",
    "read_positions",
    "read_status",
]

E = TypeVar("E")
BALANCES_TIME = "date"  # sibling of the currencies in a balances object
POSITIONS_TIME = "timestamp"  # sibling of the symbols in a positions object


class StoredBalance(msgspec.Struct, frozen=True):
    """A balance entry in either stored shape."""

    free: float | None = None
    used: float | None = None
    total: float | None = None
    balance: float | None = None
    available: float | None = None


class StoredPosition(msgspec.Struct, frozen=True):
    cost: float | None = None
    volume: float | None = None
    fee: float | None = None
    count: int | float | None = None
    price: float | None = None
    timestamp: float | str | None = None


ACCOUNT = Lenient(dict[str, Any])


class Document(msgspec.Struct, Generic[E]):
    """One account's stored object: its entries by name (sorted) and its update time."""

    ex_id: str
    updated_at: float | None
    entries: Decoded[E]


class Account(msgspec.Struct):
    """One ex_id: its balances and positions, each None when absent (or corrupt)."""

    ex_id: str
    balances: Document[StoredBalance] | None
    positions: Document[StoredPosition] | None


def id_order(value: str) -> tuple[int, int, str]:
    """Sort key of an id taken from a field: numerically, non-numeric ids last."""
    if value.isascii() and value.isdigit():
        return (0, int(value), value)
    return (1, 0, value)


def _entry(entry_type: type[E], entry: Any) -> E:
    if not isinstance(entry, dict):
        raise CorruptValue(f"entry is {type(entry).__name__}, not an object")
    try:
        return msgspec.convert(entry, entry_type, strict=False)
    except msgspec.ValidationError as exc:
        raise CorruptValue(str(exc)) from None


def _document(
    key: str, time_key: str, entry_type: type[E], ex_id: str, stored: dict[str, Any]
) -> Document[E]:
    """Every entry but the time key, sorted by name; a corrupt entry is skipped and counted."""
    items: list[tuple[str, E]] = []
    skipped = 0
    for name, entry in sorted(stored.items()):
        if name == time_key:
            continue
        try:
            items.append((name, _entry(entry_type, entry)))
        except CorruptValue as exc:
            skipped += 1
            skip(key, ex_id, f"entry {name!r}: {exc}")
    return Document(ex_id, to_epoch(stored.get(time_key)), Decoded(items, skipped))


def _balances(ex_id: str, stored: dict[str, Any]) -> Document[StoredBalance]:
    return _document(keys.ACCOUNTS, BALANCES_TIME, StoredBalance, ex_id, stored)


def _positions(ex_id: str, stored: dict[str, Any]) -> Document[StoredPosition]:
    return _document(keys.POSITIONS, POSITIONS_TIME, StoredPosition, ex_id, stored)


def _lenient(key: str, ex_id: str, raw: Raw | None) -> dict[str, Any] | None:
    """The stored object, or None when absent or corrupt (logged and counted)."""
    if raw is None:
        return None
    try:
        return ACCOUNT.decode(raw)
    except CorruptValue as exc:
        skip(key, ex_id, exc)
        return None


async def read_balances(src: Source, ex_id: str) -> Document[StoredBalance]:
    """One account's balances (one HGET); 404 when the ex_id has no balances entry."""
    raw = await src.hget(keys.ACCOUNTS, ex_id)
    return _balances(ex_id, one(ACCOUNT, raw, f"balances for ex_id {ex_id}"))


async def read_balance(
    src: Source, ex_id: str, currency: str
) -> tuple[StoredBalance, float | None]:
    """One currency's balance and the balances' update time; 404 when missing."""
    raw = await src.hget(keys.ACCOUNTS, ex_id)
    stored = one(ACCOUNT, raw, f"balances for ex_id {ex_id}")
    if currency == BALANCES_TIME or currency not in stored:
        raise NotFound(f"no balance {currency} for ex_id {ex_id}")
    try:
        balance = _entry(StoredBalance, stored[currency])
    except CorruptValue:
        raise BadCacheValue(f"the stored balance {currency} of ex_id {ex_id} is corrupt") from None
    return balance, to_epoch(stored.get(BALANCES_TIME))


async def read_positions(src: Source, ex_id: str) -> Document[StoredPosition]:
    """One account's positions (one HGET); 404 when the ex_id has no positions entry."""
    raw = await src.hget(keys.POSITIONS, ex_id)
    return _positions(ex_id, one(ACCOUNT, raw, f"positions for ex_id {ex_id}"))


async def read_position(src: Source, ex_id: str, symbol: str) -> StoredPosition:
    """One position; 404 when missing."""
    raw = await src.hget(keys.POSITIONS, ex_id)
    stored = one(ACCOUNT, raw, f"positions for ex_id {ex_id}")
    if symbol == POSITIONS_TIME or symbol not in stored:
        raise NotFound(f"no position {symbol} for ex_id {ex_id}")
    try:
        return _entry(StoredPosition, stored[symbol])
    except CorruptValue:
        raise BadCacheValue(f"the stored position {symbol} of ex_id {ex_id} is corrupt") from None


class Presence(msgspec.Struct, frozen=True):
    """Whether one account value is stored, and its update time (None when corrupt)."""

    present: bool
    updated_at: float | None


async def read_status(src: Source, ex_id: str) -> tuple[Presence, Presence]:
    """Whether balances and positions are stored for ex_id, and their update times (one pipeline
    of two HGETs). A corrupt value is present, with no time (and logged)."""
    raws = await src.pipeline([("HGET", keys.ACCOUNTS, ex_id), ("HGET", keys.POSITIONS, ex_id)])
    presences = []
    for key, time_key, raw in zip(
        (keys.ACCOUNTS, keys.POSITIONS), (BALANCES_TIME, POSITIONS_TIME), raws, strict=True
    ):
        stored = _lenient(key, ex_id, raw)
        presences.append(
            Presence(raw is not None, None if stored is None else to_epoch(stored.get(time_key)))
        )
    return presences[0], presences[1]


class Accounts(msgspec.Struct):
    items: list[Account]
    skipped: int = 0


async def read_accounts(src: Source) -> Accounts:
    """Every ex_id in ``accounts`` or ``account_positions`` (one pipeline of two HGETALLs),
    ordered by ex_id numerically. A corrupt value is skipped and counted; corrupt entries inside
    a value are counted too."""
    replies = await src.pipeline(
        [("HGETALL", keys.ACCOUNTS), ("HGETALL", keys.POSITIONS)], listing=True
    )
    skipped = 0
    stored: list[dict[str, Raw]] = []
    for key, reply in zip((keys.ACCOUNTS, keys.POSITIONS), replies, strict=True):
        if usable(key, reply):
            stored.append({text(field): raw for field, raw in reply.items()})
        else:
            skipped += 1
            stored.append({})
    balances, positions = stored
    items: list[Account] = []
    for ex_id in sorted(balances.keys() | positions.keys(), key=id_order):
        b_doc = _lenient(keys.ACCOUNTS, ex_id, balances.get(ex_id))
        p_doc = _lenient(keys.POSITIONS, ex_id, positions.get(ex_id))
        skipped += (ex_id in balances and b_doc is None) + (ex_id in positions and p_doc is None)
        b = None if b_doc is None else _balances(ex_id, b_doc)
        p = None if p_doc is None else _positions(ex_id, p_doc)
        skipped += (b.entries.skipped if b else 0) + (p.entries.skipped if p else 0)
        if b is not None or p is not None:
            items.append(Account(ex_id, b, p))
    return Accounts(items, skipped)
