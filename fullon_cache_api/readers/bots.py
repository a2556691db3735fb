"""Bots: ``bot_status`` (field = bot_id, JSON object of feeds), ``block_exchange`` (field
``{ex_id}:{symbol}``, value = bot id) and ``opening_position`` (same fields, value
``{bot_id}:{ISO time}``). Fields and opening values split on the FIRST colon (quirk 2)."""

from __future__ import annotations

from typing import Any

import msgspec

from .. import keys
from ..errors import TooLarge
from ..ids import id_order
from ..keys import RedisBytes, text
from ..times import to_epoch
from .base import Decoded, Lenient, decode_all, one, skip, usable
from .paging import HashPosition, hash_page
from .source import READ_BATCH, Source

__all__ = [
    "FEEDS",
    "Block",
    "Blocks",
    "Bots",
    "Coordination",
    "Opening",
    "SymbolBlock",
    "read_block",
    "read_blocks",
    "read_bot",
    "read_bots",
    "read_coordination",
]

FEEDS = Lenient(dict[str, Any])


class Bots(msgspec.Struct, kw_only=True):
    feeds: Decoded[dict[str, Any]]
    """Each bot's feeds by bot_id."""
    next: HashPosition | None


async def read_bots(src: Source, position: HashPosition | None, limit: int) -> Bots:
    """A page of the bots in ``bot_status`` by bot_id, numerically (see ``Source.hash_page``)."""
    page = await hash_page(src, keys.BOTS.key, position, limit, listing=True)
    fields = sorted(page.fields, key=lambda field: id_order(field[0]))
    feeds = decode_all(FEEDS, keys.BOTS.key, fields)
    feeds.skipped += page.skipped
    return Bots(feeds=feeds, next=page.next)


async def read_bot(src: Source, bot_id: str) -> dict[str, Any]:
    """One bot's feeds (HGET); 404 when missing, 502 when corrupt."""
    return one(FEEDS, await src.hget(keys.BOTS.key, bot_id), f"bot {bot_id}")


class Opening(msgspec.Struct, kw_only=True, frozen=True):
    """An opening position mark: which bot is opening on (ex_id, symbol) since when."""

    ex_id: str
    symbol: str
    bot_id: str | None
    since: float | None


class Block(msgspec.Struct, kw_only=True, frozen=True):
    """A block of (ex_id, symbol) by a bot, with the opening mark of the same pair if any."""

    ex_id: str
    symbol: str
    bot_id: str
    opening: Opening | None


class Coordination(msgspec.Struct, kw_only=True, frozen=True):
    blocks: list[Block]
    openings: list[Opening]
    skipped: int = 0


class SymbolBlock(msgspec.Struct, kw_only=True, frozen=True):
    """One (ex_id, symbol): its blocking bot (None when not blocked) and its opening mark."""

    bot_id: str | None
    opening: Opening | None


def _opening(ex_id: str, symbol: str, value: str) -> Opening:
    """``{bot_id}:{ISO time}`` split on the first colon (the time holds colons)."""
    bot_id, sep, when = value.partition(":")
    return Opening(
        ex_id=ex_id, symbol=symbol, bot_id=bot_id or None, since=to_epoch(when) if sep else None
    )


def _pair_order(ex_id: str, symbol: str) -> tuple[tuple[int, int, str], str]:
    return (id_order(ex_id), symbol)


def _pairs(
    key: str, fields: list[tuple[str, RedisBytes]]
) -> tuple[dict[tuple[str, str], str], int]:
    """The ``{ex_id}:{symbol}`` fields of a hash with their text values, and how many fields of
    another form were skipped."""
    pairs: dict[tuple[str, str], str] = {}
    skipped = 0
    for field, value in fields:
        pair = keys.split_first(field)
        if pair is None:
            skipped += 1
            skip(key, field, "not {ex_id}:{symbol}")
        else:
            pairs[pair] = text(value)
    return pairs, skipped


class Blocks(msgspec.Struct, kw_only=True):
    blocks: list[Block]
    skipped: int
    next: HashPosition | None


async def read_blocks(src: Source, position: HashPosition | None, limit: int) -> Blocks:
    """A page of the blocks, by ex_id then symbol within the page, each with the opening mark
    of its pair: a page of ``block_exchange`` and one HMGET of ``opening_position``."""
    page = await hash_page(src, keys.BLOCKS.key, position, limit, listing=True)
    blocked, skipped = _pairs(keys.BLOCKS.key, page.fields)
    fields = [keys.block_field(*pair) for pair in blocked]
    openings = await src.hmget(keys.OPENINGS.key, fields) if fields else []
    blocks = [
        Block(
            ex_id=pair[0],
            symbol=pair[1],
            bot_id=bot_id,
            opening=None if mark is None else _opening(*pair, text(mark)),
        )
        for (pair, bot_id), mark in zip(blocked.items(), openings, strict=True)
    ]
    blocks.sort(key=lambda b: _pair_order(b.ex_id, b.symbol))
    return Blocks(blocks=blocks, skipped=skipped + page.skipped, next=page.next)


async def read_coordination(src: Source) -> Coordination:
    """Every block and every opening mark, each ordered by ex_id then symbol: both hashes are
    read whole, so each may hold at most ``READ_BATCH`` fields (a bigger one is refused: page
    through /bots/blocks). A field that is not ``{ex_id}:{symbol}`` is skipped and counted."""
    hashes = (keys.BLOCKS.key, keys.OPENINGS.key)
    lengths = await src.pipeline([("HLEN", key) for key in hashes], listing=True)
    usable_keys = [key for key, length in zip(hashes, lengths, strict=True) if usable(key, length)]
    for key, length in zip(hashes, lengths, strict=True):
        if isinstance(length, int) and length > READ_BATCH:
            raise TooLarge(
                f"{key} holds {length} fields, more than the {READ_BATCH} one answer reads; "
                "page through /bots/blocks"
            )
    replies = await src.pipeline([("HGETALL", key) for key in usable_keys])
    stored = {
        key: [(text(f), v) for f, v in reply.items()]
        for key, reply in zip(usable_keys, replies, strict=True)
    }
    blocked, skipped_blocks = _pairs(keys.BLOCKS.key, stored.get(keys.BLOCKS.key, []))
    opening, skipped_openings = _pairs(keys.OPENINGS.key, stored.get(keys.OPENINGS.key, []))
    skipped_blocks += len(hashes) - len(usable_keys)
    openings = {pair: _opening(*pair, value) for pair, value in opening.items()}
    blocks = [
        Block(ex_id=pair[0], symbol=pair[1], bot_id=bot_id, opening=openings.get(pair))
        for pair, bot_id in blocked.items()
    ]
    blocks.sort(key=lambda b: _pair_order(b.ex_id, b.symbol))
    ordered = sorted(openings.values(), key=lambda o: _pair_order(o.ex_id, o.symbol))
    return Coordination(blocks=blocks, openings=ordered, skipped=skipped_blocks + skipped_openings)


async def read_block(src: Source, ex_id: str, symbol: str) -> SymbolBlock:
    """The block and opening mark of one (ex_id, symbol): one pipeline of two HGETs."""
    field = keys.block_field(ex_id, symbol)
    blocked_by, opening = await src.pipeline(
        [("HGET", keys.BLOCKS.key, field), ("HGET", keys.OPENINGS.key, field)]
    )
    return SymbolBlock(
        bot_id=None if blocked_by is None else text(blocked_by),
        opening=None if opening is None else _opening(ex_id, symbol, text(opening)),
    )
