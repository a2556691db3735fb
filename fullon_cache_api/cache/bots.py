"""Bots: ``bot_status`` (field = bot_id, JSON object of feeds), ``block_exchange`` (field
``{ex_id}:{symbol}``, value = bot id) and ``opening_position`` (same fields, value
``{bot_id}:{ISO time}``). Fields and opening values split on the FIRST colon (quirk 2)."""

from __future__ import annotations

from typing import Any

import msgspec
from redis.asyncio import Redis

from .. import keys
from ..errors import BadCacheValue, NotFound
from ..times import to_epoch
from . import CorruptValue, Lenient, decode_many, skip, text
from .accounts import id_order

__all__ = [
    "Block",
    "Bot",
    "Bots",
    "Coordination",
    "Opening",
    "SymbolBlock",
    "read_block",
    "read_bot",
    "read_bots",
    "read_coordination",
]

FEEDS = Lenient(dict[str, Any])


class Bot(msgspec.Struct, frozen=True):
    bot_id: str
    feeds: dict[str, Any]
    updated_at: float | None


class Bots(msgspec.Struct, frozen=True):
    items: list[Bot]
    skipped: int = 0


class Opening(msgspec.Struct, frozen=True):
    """An opening position mark: which bot is opening on (ex_id, symbol) since when."""

    ex_id: str
    symbol: str
    bot_id: str | None
    since: float | None


class Block(msgspec.Struct, frozen=True):
    """A block of (ex_id, symbol) by a bot, with the opening mark of the same pair if any."""

    ex_id: str
    symbol: str
    bot_id: str
    opening: Opening | None


class Coordination(msgspec.Struct, frozen=True):
    blocks: list[Block]
    openings: list[Opening]
    skipped: int = 0


class SymbolBlock(msgspec.Struct, frozen=True):
    """One (ex_id, symbol): its blocking bot (None when not blocked) and its opening mark."""

    bot_id: str | None
    opening: Opening | None


def _bot(bot_id: str, feeds: dict[str, Any]) -> Bot:
    """The bot's update time is its newest feed timestamp."""
    times = [
        epoch
        for feed in feeds.values()
        if isinstance(feed, dict) and (epoch := to_epoch(feed.get("timestamp"))) is not None
    ]
    return Bot(bot_id, feeds, max(times, default=None))


def _opening(ex_id: str, symbol: str, value: str) -> Opening:
    """``{bot_id}:{ISO time}`` split on the first colon (the time holds colons)."""
    bot_id, sep, when = value.partition(":")
    return Opening(ex_id, symbol, bot_id or None, to_epoch(when) if sep else None)


def _pair_order(ex_id: str, symbol: str) -> tuple[tuple[int, int, str], str]:
    return (id_order(ex_id), symbol)


async def read_bots(redis: Redis) -> Bots:
    """Every bot in ``bot_status`` (one HGETALL), ordered by bot_id numerically."""
    fields: dict[bytes | str, bytes | str] = await redis.hgetall(keys.BOT_STATUS)
    pairs, skipped = decode_many(FEEDS, keys.BOT_STATUS, ((text(f), v) for f, v in fields.items()))
    bots = [_bot(bot_id, feeds) for bot_id, feeds in pairs]
    bots.sort(key=lambda bot: id_order(bot.bot_id))
    return Bots(bots, skipped)


async def read_bot(redis: Redis, bot_id: str) -> Bot:
    raw: bytes | str | None = await redis.hget(keys.BOT_STATUS, bot_id)
    if raw is None:
        raise NotFound(f"no bot {bot_id}")
    try:
        return _bot(bot_id, FEEDS.decode(raw))
    except CorruptValue:
        raise BadCacheValue(f"the stored status of bot {bot_id} is corrupt") from None


async def read_coordination(redis: Redis) -> Coordination:
    """Every block and every opening mark (one pipeline of two HGETALLs), each ordered by ex_id
    then symbol. A field that is not ``{ex_id}:{symbol}`` is skipped and counted."""
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(keys.BLOCKS)
    pipe.hgetall(keys.OPENINGS)
    raw_blocks, raw_openings = await pipe.execute()
    skipped = 0
    openings: dict[tuple[str, str], Opening] = {}
    for field, value in raw_openings.items():
        pair = keys.parse_block_field(text(field))
        if pair is None:
            skipped += 1
            skip(keys.OPENINGS, text(field), "not {ex_id}:{symbol}")
            continue
        openings[pair] = _opening(*pair, text(value))
    blocks: list[Block] = []
    for field, value in raw_blocks.items():
        pair = keys.parse_block_field(text(field))
        if pair is None:
            skipped += 1
            skip(keys.BLOCKS, text(field), "not {ex_id}:{symbol}")
            continue
        blocks.append(Block(*pair, text(value), openings.get(pair)))
    blocks.sort(key=lambda b: _pair_order(b.ex_id, b.symbol))
    ordered = sorted(openings.values(), key=lambda o: _pair_order(o.ex_id, o.symbol))
    return Coordination(blocks, ordered, skipped)


async def read_block(redis: Redis, ex_id: str, symbol: str) -> SymbolBlock:
    """The block and opening mark of one (ex_id, symbol): one pipeline of two HGETs."""
    field = keys.block_field(ex_id, symbol)
    pipe = redis.pipeline(transaction=False)
    pipe.hget(keys.BLOCKS, field)
    pipe.hget(keys.OPENINGS, field)
    blocked_by, opening = await pipe.execute()
    return SymbolBlock(
        None if blocked_by is None else text(blocked_by),
        None if opening is None else _opening(ex_id, symbol, text(opening)),
    )
