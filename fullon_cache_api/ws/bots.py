"""``/ws/bots/{connection_id}``: bots' status feeds, and exchange blocks. ``exchange`` of
``is_blocked`` is what the block field holds before the symbol (fullon_cache's ex_id)."""

from __future__ import annotations

import functools
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from ..actions import Action, TextArg
from ..context import Ctx
from ..errors import NotFound
from ..params import IdKind
from ..readers import watched
from ..readers.bots import read_block, read_bot, read_bots
from ..readers.source import Source
from .pages import first_pages
from .streams import Polled

__all__ = ["ACTIONS"]

Feeds = dict[str, Any]


class BotStatusRecord(msgspec.Struct, kw_only=True, frozen=True):
    bot_id: str
    status: str
    """The ``status`` of the first feed that has one, else ``unknown``."""
    data: Feeds
    """The stored feeds, as stored."""
    timestamp: float


class BlockRecord(msgspec.Struct, kw_only=True, frozen=True):
    exchange: str
    symbol: str
    is_blocked: bool
    blocked_by: str | None
    timestamp: float


class BotsRecord(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """Bots' feeds by bot id; a stream message's also holds its ``stream_key`` and time."""

    stream_key: str | UnsetType = UNSET
    bots: dict[str, Feeds]
    timestamp: float | UnsetType = UNSET


def _status(feeds: Feeds) -> str:
    for feed in feeds.values():
        if isinstance(feed, dict) and "status" in feed:
            return str(feed["status"])
    return "unknown"


async def get_bot_status(ctx: Ctx, bot_id: str) -> BotStatusRecord:
    """One bot's feeds and status (HGET)."""
    feeds = await read_bot(ctx.source, bot_id)
    return BotStatusRecord(bot_id=bot_id, status=_status(feeds), data=feeds, timestamp=ctx.now())


async def is_blocked(ctx: Ctx, exchange: str, symbol: str) -> BlockRecord:
    """Whether a bot blocks (exchange, symbol), and which (one pipeline of two HGETs)."""
    found = await read_block(ctx.source, exchange, symbol)
    return BlockRecord(
        exchange=exchange,
        symbol=symbol,
        is_blocked=found.bot_id is not None,
        blocked_by=found.bot_id,
        timestamp=ctx.now(),
    )


async def _bots(src: Source, bot_id: str | None) -> dict[str, Feeds]:
    """Every bot's feeds (page by page, 10,000 at most), or one bot's (HGET; none when it is
    absent)."""
    if bot_id is None:
        pages = await first_pages(functools.partial(read_bots, src), "bots")
        return {bot: feeds for found in pages for bot, feeds in found.feeds.items}
    try:
        return {bot_id: await read_bot(src, bot_id)}
    except NotFound:
        return {}


async def get_bots(ctx: Ctx) -> BotsRecord:
    """Every bot's feeds, by bot id."""
    return BotsRecord(bots=await _bots(ctx.source, None))


async def stream_bot_status(ctx: Ctx, bot_id: str | None) -> Polled[dict[str, Feeds]]:
    """Every bot's feeds (or one bot's) at once, then whenever they change."""

    def updates(previous: dict[str, Feeds] | None, bots: dict[str, Feeds], key: str) -> list[Any]:
        return [BotsRecord(stream_key=key, bots=bots, timestamp=ctx.now())]

    return Polled(
        f"Streaming started for bot {bot_id}" if bot_id is not None else "Streaming started",
        ("bots", bot_id),
        lambda: _bots(ctx.source, bot_id),
        updates,
        watched.bots_watch(coordination=False),
    )


BOT_ID = IdKind.BOT_ID

ACTIONS = (
    Action(
        "get_bot_status",
        get_bot_status,
        (TextArg("bot_id", id_kind=BOT_ID),),
        missing="bot_id parameter required",
        failure="Failed to retrieve bot status",
        not_found=("BOT_NOT_FOUND", "Bot {bot_id} not found"),
    ),
    Action(
        "is_blocked",
        is_blocked,
        (TextArg("exchange", id_kind=IdKind.EX_ID_IF_DIGITS), TextArg("symbol")),
        missing="exchange and symbol parameters required",
        failure="Failed to query blocking status",
    ),
    Action("get_bots", get_bots, failure="Failed to retrieve bots"),
    Action(
        "stream_bot_status",
        stream_bot_status,
        (TextArg("bot_id", required=False, id_kind=BOT_ID),),
        failure="Failed to start bot streaming",
        update="bot_update",
    ),
)
