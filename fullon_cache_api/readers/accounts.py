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
from ..ids import id_order
from ..keys import RedisBytes, text
from ..times import to_epoch
from .base import CorruptValue, Decoded, Lenient, one, skip, usable
from .paging import HashPosition, hash_page
from .source import READ_BATCH, Source

__all__ = [
    "Account",
    "AccountsPosition",
    "Document",
    "StoredBalance",
    "StoredPosition",
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
_HASHES = (keys.ACCOUNTS.key, keys.POSITIONS.key)


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


class Document(msgspec.Struct, Generic[E], kw_only=True):
    """One account's stored object: its entries by name (sorted) and its update time."""

    ex_id: str
    updated_at: float | None
    entries: Decoded[E]


class Account(msgspec.Struct, kw_only=True):
    """One ex_id: its balances and positions, each None when absent (or corrupt)."""

    ex_id: str
    balances: Document[StoredBalance] | None
    positions: Document[StoredPosition] | None


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
    return Document(
        ex_id=ex_id, updated_at=to_epoch(stored.get(time_key)), entries=Decoded(items, skipped)
    )


def _balances(ex_id: str, stored: dict[str, Any]) -> Document[StoredBalance]:
    return _document(keys.ACCOUNTS.key, BALANCES_TIME, StoredBalance, ex_id, stored)


def _positions(ex_id: str, stored: dict[str, Any]) -> Document[StoredPosition]:
    return _document(keys.POSITIONS.key, POSITIONS_TIME, StoredPosition, ex_id, stored)


def _lenient(key: str, ex_id: str, raw: RedisBytes | None) -> dict[str, Any] | None:
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
    raw = await src.hget(keys.ACCOUNTS.key, ex_id)
    return _balances(ex_id, one(ACCOUNT, raw, f"balances for ex_id {ex_id}"))


async def read_balance(
    src: Source, ex_id: str, currency: str
) -> tuple[StoredBalance, float | None]:
    """One currency's balance and the balances' update time; 404 when missing."""
    raw = await src.hget(keys.ACCOUNTS.key, ex_id)
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
    raw = await src.hget(keys.POSITIONS.key, ex_id)
    return _positions(ex_id, one(ACCOUNT, raw, f"positions for ex_id {ex_id}"))


async def read_position(src: Source, ex_id: str, symbol: str) -> StoredPosition:
    """One position; 404 when missing."""
    raw = await src.hget(keys.POSITIONS.key, ex_id)
    stored = one(ACCOUNT, raw, f"positions for ex_id {ex_id}")
    if symbol == POSITIONS_TIME or symbol not in stored:
        raise NotFound(f"no position {symbol} for ex_id {ex_id}")
    try:
        return _entry(StoredPosition, stored[symbol])
    except CorruptValue:
        raise BadCacheValue(f"the stored position {symbol} of ex_id {ex_id} is corrupt") from None


class Presence(msgspec.Struct, kw_only=True, frozen=True):
    """Whether one account value is stored, and its update time (None when corrupt)."""

    present: bool
    updated_at: float | None


async def read_status(src: Source, ex_id: str) -> tuple[Presence, Presence]:
    """Whether balances and positions are stored for ex_id, and their update times (one pipeline
    of two HGETs). A corrupt value is present, with no time (and logged)."""
    raws = await src.pipeline(
        [("HGET", keys.ACCOUNTS.key, ex_id), ("HGET", keys.POSITIONS.key, ex_id)]
    )
    presences = []
    for key, time_key, raw in zip(
        (keys.ACCOUNTS.key, keys.POSITIONS.key), (BALANCES_TIME, POSITIONS_TIME), raws, strict=True
    ):
        stored = _lenient(key, ex_id, raw)
        presences.append(
            Presence(
                present=raw is not None,
                updated_at=None if stored is None else to_epoch(stored.get(time_key)),
            )
        )
    return presences[0], presences[1]


class AccountsPosition(msgspec.Struct, kw_only=True, array_like=True, frozen=True):
    """Where a page of accounts ends. Both hashes small: ``after`` is the last ex_id given (in
    id order). Either big: ``phase`` 1 walks the balances hash (``inner``), phase 2 the ex_ids
    that have positions only."""

    after: str | None = None
    phase: int = 0
    inner: HashPosition | None = None


class Accounts(msgspec.Struct, kw_only=True):
    items: list[Account]
    skipped: int = 0
    next: AccountsPosition | None = None


def _account(
    ex_id: str, raw_balances: RedisBytes | None, raw_positions: RedisBytes | None
) -> tuple[Account, int]:
    """One ex_id's account, and how many stored values it skipped (corrupt documents and
    corrupt entries inside them)."""
    b_doc = _lenient(keys.ACCOUNTS.key, ex_id, raw_balances)
    p_doc = _lenient(keys.POSITIONS.key, ex_id, raw_positions)
    skipped = (raw_balances is not None and b_doc is None) + (
        raw_positions is not None and p_doc is None
    )
    b = None if b_doc is None else _balances(ex_id, b_doc)
    p = None if p_doc is None else _positions(ex_id, p_doc)
    skipped += (b.entries.skipped if b else 0) + (p.entries.skipped if p else 0)
    return Account(ex_id=ex_id, balances=b, positions=p), skipped


def _accounts(
    rows: list[tuple[str, RedisBytes | None, RedisBytes | None]], skipped: int
) -> Accounts:
    items: list[Account] = []
    for ex_id, raw_balances, raw_positions in rows:
        account, bad = _account(ex_id, raw_balances, raw_positions)
        skipped += bad
        if account.balances is not None or account.positions is not None:
            items.append(account)
    return Accounts(items=items, skipped=skipped)


async def read_accounts(src: Source, position: AccountsPosition | None, limit: int) -> Accounts:
    """A page of the ex_ids in ``accounts`` or ``account_positions``, with both documents. Both
    hashes small (the usual case): read whole (one pipeline), ordered by ex_id numerically.
    Either big: the balances hash is walked page by page (with the same ex_ids' positions, one
    HMGET), then the ex_ids with positions only. A corrupt value is skipped and counted;
    corrupt entries inside a value are counted too."""
    position = position or AccountsPosition()
    lengths = await src.pipeline([("HLEN", key) for key in _HASHES], listing=True)
    sizes = [int(n) if usable(key, n) else 0 for key, n in zip(_HASHES, lengths, strict=True)]
    skipped = sum(not isinstance(n, int) for n in lengths)
    if max(sizes) <= READ_BATCH and position.phase == 0:
        return await _small_accounts(src, position.after, limit, skipped)
    phase = position.phase or 1
    walked, other = _HASHES if phase == 1 else _HASHES[::-1]
    page = await hash_page(src, walked, position.inner, limit, sizes[phase - 1])
    ex_ids = [ex_id for ex_id, _ in page.fields]
    others = await src.hmget(other, ex_ids) if ex_ids else []
    rows: list[tuple[str, RedisBytes | None, RedisBytes | None]]
    if phase == 1:
        rows = [(ex_id, raw, o) for (ex_id, raw), o in zip(page.fields, others, strict=True)]
    else:  # positions only: ex_ids with balances were listed in phase 1
        rows = [
            (ex_id, None, raw)
            for (ex_id, raw), o in zip(page.fields, others, strict=True)
            if o is None
        ]
    found = _accounts(rows, skipped)
    if page.next is not None:
        found.next = AccountsPosition(after=None, phase=phase, inner=page.next)
    elif phase == 1 and sizes[1]:
        found.next = AccountsPosition(after=None, phase=2, inner=None)
    return found


async def _small_accounts(src: Source, after: str | None, limit: int, skipped: int) -> Accounts:
    replies = await src.pipeline([("HGETALL", key) for key in _HASHES], listing=True)
    stored: list[dict[str, RedisBytes]] = [  # a key of another type was counted at its HLEN
        {text(field): raw for field, raw in reply.items()} if isinstance(reply, dict) else {}
        for reply in replies
    ]
    balances, positions = stored
    ex_ids = sorted(balances.keys() | positions.keys(), key=id_order)
    if after is not None:
        ex_ids = [ex_id for ex_id in ex_ids if id_order(ex_id) > id_order(after)]
    page = ex_ids[:limit]
    found = _accounts([(e, balances.get(e), positions.get(e)) for e in page], skipped)
    if len(ex_ids) > limit:
        found.next = AccountsPosition(after=page[-1])
    return found
