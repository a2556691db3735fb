"""``/ws/accounts/{connection_id}``: balances and positions of the exchange accounts.

v0.2.6's names are kept: ``user_id`` of ``get_balance`` and ``exchange`` of the position actions
are fullon_cache's ex_id (the accounts hashes are keyed by it). Both stored balance shapes are
read, and a position's side is the sign of its volume (fullon_cache stores no side)."""

from __future__ import annotations

import functools

import msgspec
from msgspec import UNSET, UnsetType

from ..actions import Action, IdArg, Missing, TextArg
from ..answers import balance_out
from ..context import Ctx
from ..errors import NotFound
from ..params import IdKind
from ..readers import watched
from ..readers.accounts import (
    StoredBalance,
    StoredPosition,
    read_accounts,
    read_balance,
    read_positions,
)
from ..readers.source import Source
from ..times import to_epoch
from .pages import first_pages
from .streams import Polled

__all__ = ["ACTIONS"]


class BalanceRecord(msgspec.Struct, kw_only=True, frozen=True):
    user_id: int
    currency: str
    total_balance: float | None
    available_balance: float
    reserved_balance: float | None
    timestamp: float


class PositionRecord(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """A position as v0.2.6 answered it; a stream message's also holds its ``stream_key`` and a
    null ``user_id`` (positions are stored per account, not per user)."""

    stream_key: str | UnsetType = UNSET
    user_id: UnsetType | None = UNSET
    symbol: str
    exchange: str
    """The ex_id."""
    side: str | None
    """``long`` when the volume is 0 or more, else ``short``."""
    size: float | None
    entry_price: float | None
    mark_price: float | None
    pnl: float
    """0.0: fullon_cache stores no PnL of a position."""
    pnl_percent: float
    timestamp: float | None


class PositionsResult(msgspec.Struct, kw_only=True, frozen=True):
    user_id: int | None
    exchange: str | None
    positions: list[PositionRecord]
    count: int


def balance_record(user_id: int, currency: str, stored: StoredBalance, now: float) -> BalanceRecord:
    """Total = ``total`` or ``balance``, available = ``free`` or ``available`` (else 0.0),
    reserved = ``used`` when stored, else total minus available (never below 0)."""
    b = balance_out(currency, stored)
    available = 0.0 if b.free is None else b.free
    reserved = stored.used
    if reserved is None and b.total is not None:
        reserved = max(b.total - available, 0.0)
    return BalanceRecord(
        user_id=user_id,
        currency=currency,
        total_balance=b.total,
        available_balance=available,
        reserved_balance=reserved,
        timestamp=now,
    )


def position_record(ex_id: str, symbol: str, p: StoredPosition) -> PositionRecord:
    volume, price = p.volume, p.price
    return PositionRecord(
        symbol=symbol,
        exchange=ex_id,
        side=None if volume is None else "long" if volume >= 0 else "short",
        size=None if volume is None else abs(volume),
        entry_price=price,
        mark_price=price,
        pnl=0.0,
        pnl_percent=0.0,
        timestamp=to_epoch(p.timestamp),
    )


async def get_balance(ctx: Ctx, user_id: int, currency: str) -> BalanceRecord:
    """One currency's balance of one account (``user_id`` is the ex_id; HGET)."""
    stored, _ = await read_balance(ctx.source, str(user_id), currency)
    return balance_record(user_id, currency, stored, ctx.now())


async def _positions(src: Source, exchange: str | None) -> list[PositionRecord]:
    """One account's positions (HGET), or every account's (page by page, 10,000 accounts at
    most), by ex_id, symbol."""
    if exchange is None:
        pages = await first_pages(functools.partial(read_accounts, src), "accounts")
        documents = [a.positions for found in pages for a in found.items if a.positions]
    else:
        try:
            documents = [await read_positions(src, exchange)]
        except NotFound:
            documents = []
    return [
        position_record(document.ex_id, symbol, stored)
        for document in documents
        for symbol, stored in document.entries.items
    ]


async def get_positions(ctx: Ctx, exchange: str | None, user_id: int | None) -> PositionsResult:
    """Positions of one account (``exchange`` is the ex_id), or of all (only ``user_id``)."""
    if exchange is None and user_id is None:
        raise Missing
    positions = await _positions(ctx.source, exchange)
    return PositionsResult(
        user_id=user_id, exchange=exchange, positions=positions, count=len(positions)
    )


def _position_updates(
    previous: list[PositionRecord] | None, state: list[PositionRecord], key: str
) -> list[PositionRecord]:
    """Every position again whenever any changed."""
    return [msgspec.structs.replace(p, stream_key=key, user_id=None) for p in state]


async def stream_positions(
    ctx: Ctx, exchange: str | None, user_id: int | None
) -> Polled[list[PositionRecord]]:
    """Positions as in get_positions, sent again whenever they change."""
    if exchange is None and user_id is None:
        raise Missing
    target = f"user {user_id}" if user_id is not None else f"exchange {exchange}"
    return Polled(
        f"Streaming started for {target}",
        ("positions", exchange),
        lambda: _positions(ctx.source, exchange),
        _position_updates,
        watched.account_watch(balances=exchange is None),  # every account: the listing reads both
    )


EX_ID = TextArg("exchange", required=False, id_kind=IdKind.EX_ID)
USER_ID = IdArg("user_id", required=False)
POSITIONS_MISSING = "user_id or exchange parameter required"

ACTIONS = (
    Action(
        "get_balance",
        get_balance,
        (IdArg("user_id", id_kind=IdKind.EX_ID), TextArg("currency", aliases=("exchange",))),
        missing="user_id and currency parameters required",
        failure="Failed to retrieve balance data",
        not_found=("BALANCE_NOT_FOUND", "Balance not found for user {user_id} {currency}"),
    ),
    Action(
        "get_positions",
        get_positions,
        (EX_ID, USER_ID),
        missing=POSITIONS_MISSING,
        failure="Failed to retrieve positions",
    ),
    Action(
        "stream_positions",
        stream_positions,
        (EX_ID, USER_ID),
        missing=POSITIONS_MISSING,
        failure="Failed to start position streaming",
        update="position_update",
    ),
)
