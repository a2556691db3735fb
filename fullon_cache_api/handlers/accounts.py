"""Accounts endpoints: balances and positions by ex_id."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ..cache.accounts import (
    Balance,
    Position,
    Presence,
    read_accounts,
    read_balance,
    read_balances,
    read_position,
    read_positions,
    read_status,
)
from ..params import CURRENCY, EX_ID, SYMBOL
from ..responses import respond
from ..times import age_s, rfc3339
from . import cache_of


class AccountOut(msgspec.Struct, frozen=True):
    ex_id: str
    currencies: int
    positions: int
    balances_updated_at: str | None
    positions_updated_at: str | None


class AccountsOut(msgspec.Struct, frozen=True, omit_defaults=True):
    items: list[AccountOut]
    count: int
    skipped: int = 0


class BalancesOut(msgspec.Struct, frozen=True, omit_defaults=True):
    ex_id: str
    updated_at: str | None
    items: list[Balance]  # the reader's normalised rows are the answer's, as they are
    count: int
    skipped: int = 0


class AccountBalanceOut(msgspec.Struct, frozen=True):
    ex_id: str
    currency: str
    free: float | None
    used: float | None
    total: float | None
    updated_at: str | None


class PositionOut(msgspec.Struct, frozen=True):
    symbol: str
    volume: float | None
    cost: float | None
    price: float | None
    fee: float | None
    count: int | float | None
    updated_at: str | None


class PositionsOut(msgspec.Struct, frozen=True, omit_defaults=True):
    ex_id: str
    updated_at: str | None
    items: list[PositionOut]
    count: int
    skipped: int = 0


class AccountPositionOut(msgspec.Struct, frozen=True):
    ex_id: str
    symbol: str
    volume: float | None
    cost: float | None
    price: float | None
    fee: float | None
    count: int | float | None
    updated_at: str | None


class PresenceOut(msgspec.Struct, frozen=True):
    present: bool
    updated_at: str | None
    age_s: float | None


class AccountStatusOut(msgspec.Struct, frozen=True):
    ex_id: str
    balances: PresenceOut
    positions: PresenceOut


def position_out(p: Position) -> PositionOut:
    return PositionOut(p.symbol, p.volume, p.cost, p.price, p.fee, p.count, rfc3339(p.updated_at))


def presence_out(p: Presence, now: float) -> PresenceOut:
    return PresenceOut(p.present, rfc3339(p.updated_at), age_s(p.updated_at, now))


async def accounts(request: Request) -> Response:
    """Every account (ex_id) with balances or positions: counts and update times."""
    found = await read_accounts(cache_of(request).redis)
    rows = [
        AccountOut(
            a.ex_id,
            len(a.balances.items) if a.balances else 0,
            len(a.positions.items) if a.positions else 0,
            rfc3339(a.balances.updated_at) if a.balances else None,
            rfc3339(a.positions.updated_at) if a.positions else None,
        )
        for a in found.items
    ]
    return respond(AccountsOut(rows, len(rows), found.skipped))


async def balances(request: Request) -> Response:
    """One account's balances by currency; 404 when the ex_id has no balances."""
    ex_id = EX_ID.require(request)
    found = await read_balances(cache_of(request).redis, ex_id)
    items = found.items
    return respond(BalancesOut(ex_id, rfc3339(found.updated_at), items, len(items), found.skipped))


async def balance(request: Request) -> Response:
    """One currency's balance of one account; 404 when missing."""
    ex_id, currency = EX_ID.require(request), CURRENCY.require(request)
    b, updated_at = await read_balance(cache_of(request).redis, ex_id, currency)
    return respond(AccountBalanceOut(ex_id, currency, b.free, b.used, b.total, rfc3339(updated_at)))


async def positions(request: Request) -> Response:
    """One account's positions by symbol; 404 when the ex_id has no positions."""
    ex_id = EX_ID.require(request)
    found = await read_positions(cache_of(request).redis, ex_id)
    items = [position_out(p) for p in found.items]
    return respond(PositionsOut(ex_id, rfc3339(found.updated_at), items, len(items), found.skipped))


async def position(request: Request) -> Response:
    """One position of one account; 404 when missing."""
    ex_id, symbol = EX_ID.require(request), SYMBOL.require(request)
    p = await read_position(cache_of(request).redis, ex_id, symbol)
    return respond(
        AccountPositionOut(
            ex_id, p.symbol, p.volume, p.cost, p.price, p.fee, p.count, rfc3339(p.updated_at)
        )
    )


async def status(request: Request) -> Response:
    """Whether an account's balances and positions are stored, their update times and ages."""
    ex_id = EX_ID.require(request)
    cache = cache_of(request)
    b, p = await read_status(cache.redis, ex_id)
    now = cache.clock()
    return respond(AccountStatusOut(ex_id, presence_out(b, now), presence_out(p, now)))
