"""Accounts: balances in the ``accounts`` hash and positions in ``account_positions``.

Both hashes are keyed by ex_id (the field) and hold one JSON object per account:
``{CURRENCY: {...}, "date": <time>}`` and ``{SYMBOL: {...}, "timestamp": <time>}``. The sibling
time keys are not currencies or symbols. Balance entries come in two shapes (ccxt's
``free/used/total`` and ``balance/available``) and are normalised here; the positions root
``timestamp`` is ISO in current data and an epoch float in legacy data.
"""

from __future__ import annotations

from typing import Any

import msgspec
from redis.asyncio import Redis

from .. import keys
from ..errors import BadCacheValue, NotFound
from ..times import to_epoch
from . import CorruptValue, Lenient, skip, text

__all__ = [
    "Account",
    "Accounts",
    "Balance",
    "Balances",
    "Position",
    "Positions",
    "Presence",
    "id_order",
    "read_accounts",
    "read_balance",
    "read_balances",
    "read_position",
    "read_positions",
    "read_status",
]

BALANCES_DATE = "date"  # sibling of the currencies in a balances object
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


class Balance(msgspec.Struct, frozen=True):
    """One currency's balance, normalised to ccxt's shape."""

    currency: str
    free: float | None
    used: float | None
    total: float | None


class Balances(msgspec.Struct, frozen=True):
    ex_id: str
    updated_at: float | None
    items: list[Balance]
    skipped: int = 0


class Position(msgspec.Struct, frozen=True):
    symbol: str
    volume: float | None
    cost: float | None
    price: float | None
    fee: float | None
    count: int | float | None
    updated_at: float | None


class Positions(msgspec.Struct, frozen=True):
    ex_id: str
    updated_at: float | None
    items: list[Position]
    skipped: int = 0


class Account(msgspec.Struct, frozen=True):
    """One ex_id: its balances and positions, each None when absent (or corrupt)."""

    ex_id: str
    balances: Balances | None
    positions: Positions | None


class Presence(msgspec.Struct, frozen=True):
    """Whether one account value is stored, and its update time."""

    present: bool
    updated_at: float | None


class Accounts(msgspec.Struct, frozen=True):
    items: list[Account]
    skipped: int = 0


def id_order(value: str) -> tuple[int, int, str]:
    """Sort key of an id taken from a field: numerically, non-numeric ids last."""
    if value.isascii() and value.isdigit():
        return (0, int(value), value)
    return (1, 0, value)


# decoding ---------------------------------------------------------------------------------------


def _balance(currency: str, entry: Any) -> Balance:
    """Normalise one entry: ``balance`` is total, ``available`` is free, used = total - free when
    the entry has no ``used``."""
    if not isinstance(entry, dict):
        raise CorruptValue(f"balance entry is {type(entry).__name__}, not an object")
    try:
        stored = msgspec.convert(entry, StoredBalance, strict=False)
    except msgspec.ValidationError as exc:
        raise CorruptValue(str(exc)) from None
    total = stored.total if stored.total is not None else stored.balance
    free = stored.free if stored.free is not None else stored.available
    used = stored.used
    if used is None and total is not None and free is not None:
        used = total - free
    return Balance(currency, free, used, total)


def _position(symbol: str, entry: Any) -> Position:
    if not isinstance(entry, dict):
        raise CorruptValue(f"position entry is {type(entry).__name__}, not an object")
    try:
        stored = msgspec.convert(entry, StoredPosition, strict=False)
    except msgspec.ValidationError as exc:
        raise CorruptValue(str(exc)) from None
    return Position(
        symbol,
        stored.volume,
        stored.cost,
        stored.price,
        stored.fee,
        stored.count,
        to_epoch(stored.timestamp),
    )


def _balances(ex_id: str, document: dict[str, Any]) -> Balances:
    items: list[Balance] = []
    skipped = 0
    for currency, entry in document.items():
        if currency == BALANCES_DATE:
            continue
        try:
            items.append(_balance(currency, entry))
        except CorruptValue as exc:
            skipped += 1
            skip(keys.ACCOUNTS, ex_id, f"currency {currency!r}: {exc}")
    items.sort(key=lambda item: item.currency)
    return Balances(ex_id, to_epoch(document.get(BALANCES_DATE)), items, skipped)


def _positions(ex_id: str, document: dict[str, Any]) -> Positions:
    items: list[Position] = []
    skipped = 0
    for symbol, entry in document.items():
        if symbol == POSITIONS_TIME:
            continue
        try:
            items.append(_position(symbol, entry))
        except CorruptValue as exc:
            skipped += 1
            skip(keys.POSITIONS, ex_id, f"symbol {symbol!r}: {exc}")
    items.sort(key=lambda item: item.symbol)
    return Positions(ex_id, to_epoch(document.get(POSITIONS_TIME)), items, skipped)


def _document(ex_id: str, raw: bytes | str | None, what: str) -> dict[str, Any]:
    """The stored object of one account; 404 when absent, 502 when corrupt."""
    if raw is None:
        raise NotFound(f"no {what} for ex_id {ex_id}")
    try:
        return ACCOUNT.decode(raw)
    except CorruptValue:
        raise BadCacheValue(f"the stored {what} of ex_id {ex_id} are corrupt") from None


def _lenient_document(key: str, ex_id: str, raw: bytes | str | None) -> dict[str, Any] | None:
    """The stored object, or None when absent or corrupt (logged)."""
    if raw is None:
        return None
    try:
        return ACCOUNT.decode(raw)
    except CorruptValue as exc:
        skip(key, ex_id, exc)
        return None


# readers ----------------------------------------------------------------------------------------


async def read_balances(redis: Redis, ex_id: str) -> Balances:
    """One account's balances (one HGET); 404 when the ex_id has no balances entry."""
    raw: bytes | str | None = await redis.hget(keys.ACCOUNTS, ex_id)
    return _balances(ex_id, _document(ex_id, raw, "balances"))


async def read_balance(redis: Redis, ex_id: str, currency: str) -> tuple[Balance, float | None]:
    """One currency's balance and the balances' update time; 404 when missing."""
    raw: bytes | str | None = await redis.hget(keys.ACCOUNTS, ex_id)
    document = _document(ex_id, raw, "balances")
    if currency == BALANCES_DATE or currency not in document:
        raise NotFound(f"no balance {currency} for ex_id {ex_id}")
    try:
        balance = _balance(currency, document[currency])
    except CorruptValue:
        raise BadCacheValue(f"the stored balance {currency} of ex_id {ex_id} is corrupt") from None
    return balance, to_epoch(document.get(BALANCES_DATE))


async def read_positions(redis: Redis, ex_id: str) -> Positions:
    """One account's positions (one HGET); 404 when the ex_id has no positions entry."""
    raw: bytes | str | None = await redis.hget(keys.POSITIONS, ex_id)
    return _positions(ex_id, _document(ex_id, raw, "positions"))


async def read_position(redis: Redis, ex_id: str, symbol: str) -> Position:
    """One position; 404 when missing."""
    raw: bytes | str | None = await redis.hget(keys.POSITIONS, ex_id)
    document = _document(ex_id, raw, "positions")
    if symbol == POSITIONS_TIME or symbol not in document:
        raise NotFound(f"no position {symbol} for ex_id {ex_id}")
    try:
        return _position(symbol, document[symbol])
    except CorruptValue:
        raise BadCacheValue(f"the stored position {symbol} of ex_id {ex_id} is corrupt") from None


async def read_status(redis: Redis, ex_id: str) -> tuple[Presence, Presence]:
    """Whether balances and positions are stored for ex_id, and their update times (one pipeline
    of two HGETs). A corrupt value is present, with no time (and logged)."""
    pipe = redis.pipeline(transaction=False)
    pipe.hget(keys.ACCOUNTS, ex_id)
    pipe.hget(keys.POSITIONS, ex_id)
    raw_balances, raw_positions = await pipe.execute()
    balances = _lenient_document(keys.ACCOUNTS, ex_id, raw_balances)
    positions = _lenient_document(keys.POSITIONS, ex_id, raw_positions)
    return (
        Presence(
            raw_balances is not None,
            None if balances is None else to_epoch(balances.get(BALANCES_DATE)),
        ),
        Presence(
            raw_positions is not None,
            None if positions is None else to_epoch(positions.get(POSITIONS_TIME)),
        ),
    )


async def read_accounts(redis: Redis) -> Accounts:
    """Every ex_id in ``accounts`` or ``account_positions`` (one pipeline of two HGETALLs),
    ordered by ex_id numerically. A corrupt value is skipped and counted; corrupt entries inside
    a value are counted too."""
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(keys.ACCOUNTS)
    pipe.hgetall(keys.POSITIONS)
    all_balances, all_positions = await pipe.execute()
    balances = {text(f): raw for f, raw in all_balances.items()}
    positions = {text(f): raw for f, raw in all_positions.items()}
    items: list[Account] = []
    skipped = 0
    for ex_id in sorted(balances.keys() | positions.keys(), key=id_order):
        b_doc = _lenient_document(keys.ACCOUNTS, ex_id, balances.get(ex_id))
        p_doc = _lenient_document(keys.POSITIONS, ex_id, positions.get(ex_id))
        skipped += (ex_id in balances and b_doc is None) + (ex_id in positions and p_doc is None)
        b = None if b_doc is None else _balances(ex_id, b_doc)
        p = None if p_doc is None else _positions(ex_id, p_doc)
        skipped += (b.skipped if b else 0) + (p.skipped if p else 0)
        if b is not None or p is not None:
            items.append(Account(ex_id, b, p))
    return Accounts(items, skipped)
