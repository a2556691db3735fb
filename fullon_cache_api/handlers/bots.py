"""Bots endpoints: bot status feeds, exchange blocks and opening positions."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ..cache.bots import Block, Bot, Opening, read_block, read_bot, read_bots, read_coordination
from ..params import BOT_ID, EX_ID, SYMBOL
from ..responses import respond
from ..times import rfc3339
from . import cache_of


class BotOut(msgspec.Struct, frozen=True):
    bot_id: str
    feeds: dict[str, Any]
    """The stored feeds object as stored (non-finite numbers become null)."""
    updated_at: str | None
    """The newest feed timestamp."""


class BotsOut(msgspec.Struct, frozen=True, omit_defaults=True):
    items: list[BotOut]
    count: int
    skipped: int = 0


class BlockOut(msgspec.Struct, frozen=True):
    ex_id: str
    symbol: str
    bot_id: str
    opening: bool
    opening_since: str | None


class BlocksOut(msgspec.Struct, frozen=True, omit_defaults=True):
    items: list[BlockOut]
    count: int
    skipped: int = 0


class SymbolBlockOut(msgspec.Struct, frozen=True):
    ex_id: str
    symbol: str
    blocked: bool
    bot_id: str | None
    """The blocking bot; null when not blocked."""
    opening: bool
    opening_since: str | None


class OpeningOut(msgspec.Struct, frozen=True):
    ex_id: str
    symbol: str
    bot_id: str | None
    since: str | None


class CoordinationOut(msgspec.Struct, frozen=True, omit_defaults=True):
    blocks: list[BlockOut]
    openings: list[OpeningOut]
    block_count: int
    opening_count: int
    skipped: int = 0


def bot_out(bot: Bot) -> BotOut:
    return BotOut(bot.bot_id, bot.feeds, rfc3339(bot.updated_at))


def block_out(block: Block) -> BlockOut:
    since = block.opening.since if block.opening else None
    return BlockOut(
        block.ex_id, block.symbol, block.bot_id, block.opening is not None, rfc3339(since)
    )


def opening_out(opening: Opening) -> OpeningOut:
    return OpeningOut(opening.ex_id, opening.symbol, opening.bot_id, rfc3339(opening.since))


async def bots(request: Request) -> Response:
    """Every bot in bot_status with its feeds and newest feed time, ordered by bot_id."""
    found = await read_bots(cache_of(request).redis)
    items = [bot_out(bot) for bot in found.items]
    return respond(BotsOut(items, len(items), found.skipped))


async def bot(request: Request) -> Response:
    """One bot's feeds and newest feed time; 404 when missing."""
    bot_id = BOT_ID.require(request)
    return respond(bot_out(await read_bot(cache_of(request).redis, bot_id)))


async def blocks(request: Request) -> Response:
    """Every exchange block (ex_id, symbol, blocking bot) with its opening-position mark."""
    found = await read_coordination(cache_of(request).redis)
    items = [block_out(block) for block in found.blocks]
    return respond(BlocksOut(items, len(items), found.skipped))


async def block(request: Request) -> Response:
    """Whether one (ex_id, symbol) is blocked, by which bot, and whether a bot is opening."""
    ex_id, symbol = EX_ID.require(request), SYMBOL.require(request)
    found = await read_block(cache_of(request).redis, ex_id, symbol)
    since = found.opening.since if found.opening else None
    return respond(
        SymbolBlockOut(
            ex_id,
            symbol,
            found.bot_id is not None,
            found.bot_id,
            found.opening is not None,
            rfc3339(since),
        )
    )


async def coordination(request: Request) -> Response:
    """Blocks and opening positions together, with their counts."""
    found = await read_coordination(cache_of(request).redis)
    items = [block_out(b) for b in found.blocks]
    openings = [opening_out(o) for o in found.openings]
    return respond(CoordinationOut(items, openings, len(items), len(openings), found.skipped))
