"""Bots: each bot's status feeds, and the exchange blocks and opening positions bots use to
coordinate (a blocked (ex_id, symbol) is reserved by one bot)."""

from __future__ import annotations

from typing import Any

import msgspec

from ..context import Ctx
from ..params import next_cursor
from ..readers.bots import (
    Block,
    Opening,
    read_block,
    read_blocks,
    read_bot,
    read_bots,
    read_coordination,
)
from ..readers.paging import HashPosition
from ..times import rfc3339, to_epoch


class BotOut(msgspec.Struct, kw_only=True, frozen=True):
    bot_id: str
    feeds: dict[str, Any]
    """The stored feeds object as stored (non-finite numbers become null)."""
    updated_at: str | None
    """The newest feed timestamp."""


class BotsOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    items: list[BotOut]
    count: int
    skipped: int = 0
    next_cursor: str | None = None


class BlockOut(msgspec.Struct, kw_only=True, frozen=True):
    ex_id: str
    symbol: str
    bot_id: str
    opening: bool
    opening_since: str | None


class BlocksOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    items: list[BlockOut]
    count: int
    skipped: int = 0
    next_cursor: str | None = None


class SymbolBlockOut(msgspec.Struct, kw_only=True, frozen=True):
    ex_id: str
    symbol: str
    blocked: bool
    bot_id: str | None
    """The blocking bot; null when not blocked."""
    opening: bool
    opening_since: str | None


class OpeningOut(msgspec.Struct, kw_only=True, frozen=True):
    ex_id: str
    symbol: str
    bot_id: str | None
    since: str | None


class CoordinationOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    blocks: list[BlockOut]
    openings: list[OpeningOut]
    block_count: int
    opening_count: int
    skipped: int = 0


def bot_out(bot_id: str, feeds: dict[str, Any]) -> BotOut:
    """The bot's update time is its newest feed timestamp."""
    times = [
        epoch
        for feed in feeds.values()
        if isinstance(feed, dict) and (epoch := to_epoch(feed.get("timestamp"))) is not None
    ]
    return BotOut(bot_id=bot_id, feeds=feeds, updated_at=rfc3339(max(times, default=None)))


def block_out(block: Block) -> BlockOut:
    since = block.opening.since if block.opening else None
    return BlockOut(
        ex_id=block.ex_id,
        symbol=block.symbol,
        bot_id=block.bot_id,
        opening=block.opening is not None,
        opening_since=rfc3339(since),
    )


def opening_out(opening: Opening) -> OpeningOut:
    return OpeningOut(
        ex_id=opening.ex_id,
        symbol=opening.symbol,
        bot_id=opening.bot_id,
        since=rfc3339(opening.since),
    )


async def bots(ctx: Ctx, limit: int, cursor: HashPosition | None) -> BotsOut:
    """Every bot in bot_status with its feeds and newest feed time, ordered by bot_id; up to
    `limit` a page."""
    found = await read_bots(ctx.source, cursor, limit)
    items = [bot_out(bot_id, feeds) for bot_id, feeds in found.feeds.items]
    return BotsOut(
        items=items,
        count=len(items),
        skipped=found.feeds.skipped,
        next_cursor=next_cursor(found.next),
    )


async def bot(ctx: Ctx, bot_id: str) -> BotOut:
    """One bot's feeds and newest feed time; 404 when missing."""
    return bot_out(bot_id, await read_bot(ctx.source, bot_id))


async def blocks(ctx: Ctx, limit: int, cursor: HashPosition | None) -> BlocksOut:
    """Every exchange block (ex_id, symbol, blocking bot) with its opening-position mark; up to
    `limit` a page."""
    found = await read_blocks(ctx.source, cursor, limit)
    items = [block_out(block) for block in found.blocks]
    return BlocksOut(
        items=items, count=len(items), skipped=found.skipped, next_cursor=next_cursor(found.next)
    )


async def block(ctx: Ctx, ex_id: str, symbol: str) -> SymbolBlockOut:
    """Whether one (ex_id, symbol) is blocked, by which bot, and whether a bot is opening."""
    found = await read_block(ctx.source, ex_id, symbol)
    since = found.opening.since if found.opening else None
    blocked = found.bot_id is not None
    opening = found.opening is not None
    return SymbolBlockOut(
        ex_id=ex_id,
        symbol=symbol,
        blocked=blocked,
        bot_id=found.bot_id,
        opening=opening,
        opening_since=rfc3339(since),
    )


async def coordination(ctx: Ctx) -> CoordinationOut:
    """Blocks and opening positions together, with their counts.

    400 `too_large` when either holds more than 1000 entries: page through /bots/blocks."""
    found = await read_coordination(ctx.source)
    items = [block_out(b) for b in found.blocks]
    openings = [opening_out(o) for o in found.openings]
    return CoordinationOut(
        blocks=items,
        openings=openings,
        block_count=len(items),
        opening_count=len(openings),
        skipped=found.skipped,
    )
