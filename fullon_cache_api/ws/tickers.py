"""``/ws/tickers/{connection_id}``: tickers by exchange and symbol, and live ticker streams from
the stream hub's ticks (its feed of the tickers hashes, or fullon_cache's publications)."""

from __future__ import annotations

import asyncio
import functools
import logging

import msgspec
from msgspec import UNSET, UnsetType
from redis.exceptions import RedisError

from ..actions import Action, Emit, Stream, TextArg, TextListArg
from ..context import Ctx
from ..errors import NotFound
from ..hub import HubClosed, Listener, StreamHub, TickerUpdate
from ..logsafe import clean
from ..readers.tickers import (
    StoredTick,
    Ticks,
    published_ticks,
    read_exchange_tickers,
    read_ticker,
)
from ..readers.watched import ticker_feed
from ..times import to_epoch
from .pages import first_pages

__all__ = ["ACTIONS", "TickerRecord", "TickerStream"]

log = logging.getLogger("fullon.cache_api.ws")
WAIT_S = 60.0  # a bounded wait per batch of ticks
RETRY_S = 1.0  # after the hub lost Redis: wait, subscribe again, send what changed meanwhile


class TickerRecord(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True, gc=False):
    """A ticker as v0.2.6 answered it; a stream message's also holds its ``stream_key``."""

    stream_key: str | UnsetType = UNSET
    symbol: str
    exchange: str
    price: float | None
    volume: float | None
    timestamp: float | None
    """The tick's time, epoch seconds."""
    bid: float | None
    ask: float | None
    change_24h: float
    """0.0 unless the tick has it."""


class TickersResult(msgspec.Struct, kw_only=True, frozen=True):
    exchange: str
    tickers: list[TickerRecord]


def ticker_record(exchange: str, symbol: str, tick: StoredTick) -> TickerRecord:
    return TickerRecord(
        symbol=symbol,
        exchange=exchange,
        price=tick.price,
        volume=tick.volume,
        timestamp=to_epoch(tick.time),
        bid=tick.bid,
        ask=tick.ask,
        change_24h=tick.change_24h or 0.0,
    )


def _records(found: Ticks) -> list[TickerRecord]:
    return [ticker_record(found.exchange, symbol, tick) for symbol, tick in found.ticks.items]


async def _current(ctx: Ctx, exchange: str, symbols: list[str]) -> list[TickerRecord]:
    """The symbols' tickers on the exchange (one HMGET), none when it has no tickers."""
    try:
        return _records(
            await read_exchange_tickers(ctx.source, exchange, symbols, None, len(symbols))
        )
    except NotFound:
        return []


async def get_ticker(ctx: Ctx, exchange: str, symbol: str) -> TickerRecord:
    """One ticker: price, volume, time, bid, ask (HGET)."""
    return ticker_record(exchange, symbol, await read_ticker(ctx.source, exchange, symbol))


async def get_all_tickers(ctx: Ctx, exchange: str) -> TickersResult:
    """The tickers of one exchange, by symbol, page by page (10,000 at most); none when it has
    none."""
    read = functools.partial(read_exchange_tickers, ctx.source, exchange, None)
    try:
        pages = await first_pages(read, f"tickers of {exchange}")
    except NotFound:
        return TickersResult(exchange=exchange, tickers=[])
    return TickersResult(
        exchange=exchange, tickers=[record for found in pages for record in _records(found)]
    )


class TickerStream(Stream):
    """The symbols' new ticks (see ``StreamHub.listen_tickers``), after their current ticks (one
    HMGET), each sent only when it differs from the last sent for its symbol."""

    def __init__(self, ctx: Ctx, exchange: str, symbols: list[str]) -> None:
        self.ctx = ctx
        self.exchange = exchange
        self.symbols = symbols
        self.message = f"Streaming started for {len(symbols)} symbols on {exchange}"

    async def listen(self, hub: StreamHub) -> Listener[TickerUpdate]:
        feed = ticker_feed(lambda: self.ctx.source, self.exchange, self.symbols)
        listener = hub.listen_tickers(self.exchange, self.symbols, slot=False, feed=feed)
        listener.gate = self.gate
        try:
            await hub.connected()
            await hub.fed(listener)
        except BaseException:
            listener.close()
            raise
        return listener

    async def run(
        self, hub: StreamHub, listener: Listener[TickerUpdate], key: str, emit: Emit
    ) -> None:
        sent: dict[str, TickerRecord] = {}

        def send(records: list[TickerRecord]) -> None:
            fresh = [r for r in records if sent.get(r.symbol) != r]
            sent.update((r.symbol, r) for r in fresh)
            emit([msgspec.structs.replace(r, stream_key=key) for r in fresh])

        current: Listener[TickerUpdate] | None = listener
        try:
            while True:
                try:
                    if current is None:
                        current = await self.listen(hub)
                    if self.symbols:  # none asked: v0.2.6 sent nothing, ever
                        send(await _current(self.ctx, self.exchange, self.symbols))
                    while True:
                        updates = published_ticks(await current.next_batch(WAIT_S))
                        send([ticker_record(*update) for update in updates])
                except RedisError:  # the hub lost Redis (it logs that): this stream outlives it
                    log.debug("ticker stream %s: subscribing again", clean(key))
                    if current is not None:
                        current.close()
                    current = None
                    await asyncio.sleep(RETRY_S)
        except HubClosed:
            return
        finally:
            if current is not None:
                current.close()


async def stream_tickers(ctx: Ctx, exchange: str, symbols: list[str]) -> TickerStream:
    """Live tickers of the symbols (none when symbols is empty, as in v0.2.6)."""
    return TickerStream(ctx, exchange, symbols)


EXCHANGE = TextArg("exchange")
SYMBOL = TextArg("symbol")

ACTIONS = (
    Action(
        "get_ticker",
        get_ticker,
        (EXCHANGE, SYMBOL),
        missing="exchange and symbol parameters required",
        failure="Failed to retrieve ticker data",
        not_found=("TICKER_NOT_FOUND", "Ticker {symbol} not found for {exchange}"),
    ),
    Action(
        "get_all_tickers",
        get_all_tickers,
        (EXCHANGE,),
        missing="exchange parameter required",
        failure="Failed to retrieve tickers",
    ),
    Action(
        "stream_tickers",
        stream_tickers,
        (EXCHANGE, TextListArg("symbols", required=False)),
        missing="exchange parameter required",
        failure="Failed to start ticker streaming",
        update="ticker_update",
    ),
)
