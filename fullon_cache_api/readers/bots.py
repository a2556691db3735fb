"""Bots: ``bot_status`` (field = bot_id, JSON object of feeds), ``block_exchange`` (field
``{ex_id}:{symbol}``, value = bot id) and ``opening_position`` (same fields, value
``{bot_id}:{ISO time}``). Fields and opening values split on the FIRST colon (quirk 2)."""

from __future__ import annotations

from typing import Any

import msgspec

from .. import keys
from ..times import to_epoch
from .accounts import id_order
from .base import Decoded, Lenient, Raw, Source, decode_all, one, skip, text, usable

__all__ = [
    "FEEDS",
    "Block",
    "Coordination",
    "Opening",
    "SymbolBlock",
    "read_block",
    "read_bot",
    "read_bots",
    "read_coordination",
]

FEEDS = Lenient(dict[str, Any])


async def read_bots(src: Source) -> Decoded[dict[str, Any]]:
    """Every bot's feeds in ``bot_status`` (one HGETALL), by bot_id numerically."""
    fields = await src.hgetall(keys.BOT_STATUS)
    return decode_all(FEEDS, keys.BOT_STATUS, sorted(fields.items(), key=lambda f: id_order(f[0])))


async def read_bot(src: Source, bot_id: str) -> dict[str, Any]:
    """One bot's feeds (HGET); 404 when missing, 502 when corrupt."""
    return one(FEEDS, await src.hget(keys.BOT_STATUS, bot_id), f"bot {bot_id}")


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


def _opening(ex_id: str, symbol: str, value: str) -> Opening:
    """``{bot_id}:{ISO time}`` split on the first colon (the time holds colons)."""
    bot_id, sep, when = value.partition(":")
    return Opening(ex_id, symbol, bot_id or None, to_epoch(when) if sep else None)


def _pair_order(ex_id: str, symbol: str) -> tuple[tuple[int, int, str], str]:
    return (id_order(ex_id), symbol)


def _pairs(key: str, reply: Any) -> tuple[dict[tuple[str, str], str], int]:
    """The ``{ex_id}:{symbol}`` fields of a hash with their text values, and how many were
    skipped (a field of another form, or the key of another Redis type)."""
    if not usable(key, reply):
        return {}, 1
    pairs: dict[tuple[str, str], str] = {}
    skipped = 0
    raw: dict[Raw, Raw] = reply
    for field, value in raw.items():
        pair = keys.parse_block_field(text(field))
        if pair is None:
            skipped += 1
            skip(key, text(field), "not {ex_id}:{symbol}")
        else:
            pairs[pair] = text(value)
    return pairs, skipped


async def read_coordination(src: Source) -> Coordination:
    """Every block and every opening mark (one pipeline of two HGETALLs), each ordered by ex_id
    then symbol. A field that is not ``{ex_id}:{symbol}`` is skipped and counted."""
    replies = await src.pipeline(
        [("HGETALL", keys.BLOCKS), ("HGETALL", keys.OPENINGS)], listing=True
    )
    blocked, skipped_blocks = _pairs(keys.BLOCKS, replies[0])
    opening, skipped_openings = _pairs(keys.OPENINGS, replies[1])
    openings = {pair: _opening(*pair, value) for pair, value in opening.items()}
    blocks = [Block(*pair, bot_id, openings.get(pair)) for pair, bot_id in blocked.items()]
    blocks.sort(key=lambda b: _pair_order(b.ex_id, b.symbol))
    ordered = sorted(openings.values(), key=lambda o: _pair_order(o.ex_id, o.symbol))
    return Coordination(blocks, ordered, skipped_blocks + skipped_openings)


async def read_block(src: Source, ex_id: str, symbol: str) -> SymbolBlock:
    """The block and opening mark of one (ex_id, symbol): one pipeline of two HGETs."""
    field = keys.block_field(ex_id, symbol)
    blocked_by, opening = await src.pipeline(
        [("HGET", keys.BLOCKS, field), ("HGET", keys.OPENINGS, field)]
    )
    return SymbolBlock(
        None if blocked_by is None else text(blocked_by),
        None if opening is None else _opening(ex_id, symbol, text(opening)),
    )
