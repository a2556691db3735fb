"""Accounts: balances and positions of each exchange account (ex_id)."""

from __future__ import annotations

import msgspec

from ..answers import BalanceOut, balance_out
from ..context import Ctx
from ..params import next_cursor
from ..readers.accounts import (
    AccountsPosition,
    Presence,
    StoredPosition,
    read_accounts,
    read_balance,
    read_balances,
    read_position,
    read_positions,
    read_status,
)
from ..times import age_s, rfc3339, to_epoch

__all__ = [
    "AccountBalanceOut",
    "AccountPositionOut",
    "AccountStatusOut",
    "AccountsOut",
    "BalancesOut",
    "PositionsOut",
    "accounts",
    "balance",
    "balances",
    "position",
    "positions",
    "status",
]


class AccountOut(msgspec.Struct, kw_only=True, frozen=True):
    ex_id: str
    currencies: int
    positions: int
    balances_updated_at: str | None
    positions_updated_at: str | None


class AccountsOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    items: list[AccountOut]
    count: int
    skipped: int = 0
    next_cursor: str | None = None


class BalancesOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    ex_id: str
    updated_at: str | None
    items: list[BalanceOut]
    count: int
    skipped: int = 0


class AccountBalanceOut(BalanceOut, kw_only=True, frozen=True):
    """One balance with its account and the balances' update time."""

    ex_id: str
    updated_at: str | None


class PositionOut(msgspec.Struct, kw_only=True, frozen=True):
    symbol: str
    volume: float | None
    cost: float | None
    price: float | None
    fee: float | None
    count: int | float | None
    updated_at: str | None


class PositionsOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    ex_id: str
    updated_at: str | None
    items: list[PositionOut]
    count: int
    skipped: int = 0


class AccountPositionOut(PositionOut, kw_only=True, frozen=True):
    """One position with its account."""

    ex_id: str


class PresenceOut(msgspec.Struct, kw_only=True, frozen=True):
    present: bool
    updated_at: str | None
    age_s: float | None


class AccountStatusOut(msgspec.Struct, kw_only=True, frozen=True):
    ex_id: str
    balances: PresenceOut
    positions: PresenceOut


def position_out(symbol: str, p: StoredPosition) -> PositionOut:
    updated_at = rfc3339(to_epoch(p.timestamp))
    return PositionOut(
        symbol=symbol,
        volume=p.volume,
        cost=p.cost,
        price=p.price,
        fee=p.fee,
        count=p.count,
        updated_at=updated_at,
    )


def presence_out(p: Presence, now: float) -> PresenceOut:
    return PresenceOut(
        present=p.present, updated_at=rfc3339(p.updated_at), age_s=age_s(p.updated_at, now)
    )


async def accounts(ctx: Ctx, limit: int, cursor: AccountsPosition | None) -> AccountsOut:
    """Every account (ex_id) with balances or positions: counts and update times, by ex_id.

    Up to `limit` a page; `next_cursor` when more remain."""
    found = await read_accounts(ctx.source, cursor, limit)
    rows = [
        AccountOut(
            ex_id=a.ex_id,
            currencies=len(a.balances.entries.items) if a.balances else 0,
            positions=len(a.positions.entries.items) if a.positions else 0,
            balances_updated_at=rfc3339(a.balances.updated_at) if a.balances else None,
            positions_updated_at=rfc3339(a.positions.updated_at) if a.positions else None,
        )
        for a in found.items
    ]
    return AccountsOut(
        items=rows, count=len(rows), skipped=found.skipped, next_cursor=next_cursor(found.next)
    )


async def balances(ctx: Ctx, ex_id: str) -> BalancesOut:
    """One account's balances by currency; 404 when the ex_id has no balances."""
    found = await read_balances(ctx.source, ex_id)
    items = [balance_out(currency, stored) for currency, stored in found.entries.items]
    return BalancesOut(
        ex_id=ex_id,
        updated_at=rfc3339(found.updated_at),
        items=items,
        count=len(items),
        skipped=found.entries.skipped,
    )


async def balance(ctx: Ctx, ex_id: str, currency: str) -> AccountBalanceOut:
    """One currency's balance of one account; 404 when missing."""
    stored, updated_at = await read_balance(ctx.source, ex_id, currency)
    b = balance_out(currency, stored)
    return AccountBalanceOut(
        **msgspec.structs.asdict(b), ex_id=ex_id, updated_at=rfc3339(updated_at)
    )


async def positions(ctx: Ctx, ex_id: str) -> PositionsOut:
    """One account's positions by symbol; 404 when the ex_id has no positions."""
    found = await read_positions(ctx.source, ex_id)
    items = [position_out(symbol, stored) for symbol, stored in found.entries.items]
    return PositionsOut(
        ex_id=ex_id,
        updated_at=rfc3339(found.updated_at),
        items=items,
        count=len(items),
        skipped=found.entries.skipped,
    )


async def position(ctx: Ctx, ex_id: str, symbol: str) -> AccountPositionOut:
    """One position of one account; 404 when missing."""
    p = position_out(symbol, await read_position(ctx.source, ex_id, symbol))
    return AccountPositionOut(**msgspec.structs.asdict(p), ex_id=ex_id)


async def status(ctx: Ctx, ex_id: str) -> AccountStatusOut:
    """Whether an account's balances and positions are stored, their update times and ages."""
    b, p = await read_status(ctx.source, ex_id)
    now = ctx.now()
    return AccountStatusOut(
        ex_id=ex_id, balances=presence_out(b, now), positions=presence_out(p, now)
    )
