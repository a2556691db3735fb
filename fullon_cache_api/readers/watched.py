"""What each watched stream's read depends on (``hub.Watch``): the keys and key prefixes whose
writes may change it, from ``keys``. A stream names the read it watches here, never a key."""

from __future__ import annotations

from collections.abc import Callable

from .. import keys
from ..hub import TickerFeed, Watch
from .source import Source
from .tickers import stored_ticks

__all__ = [
    "account_watch",
    "bots_watch",
    "order_queues_watch",
    "orders_watch",
    "processes_watch",
    "series_watch",
    "symbol_trades_watch",
    "ticker_feed",
    "tickers_watch",
]


def tickers_watch(exchange: str | None) -> Watch:
    """One exchange's tickers hash, or every one (reported because the feed read them: tickers
    are not broadcast)."""
    if exchange is None:
        return Watch(prefixes=(keys.TICKERS.key,))
    return Watch(keys=(keys.tickers_key(exchange),))


def ticker_feed(
    source: Callable[[], Source], exchange: str | None, symbols: list[str] | None
) -> TickerFeed:
    """Where a ticker stream of ``exchange`` and ``symbols`` may read its ticks (each read on
    a fresh ``source()``)."""
    wanted = None if symbols is None else frozenset(symbols)
    return TickerFeed(lambda: stored_ticks(source(), exchange, wanted), tickers_watch(exchange))


def orders_watch(exchange: str | None) -> Watch:
    """One exchange's orders hash, or every one."""
    if exchange is None:
        return Watch(prefixes=(keys.ORDERS.key,))
    return Watch(keys=(keys.orders_key(exchange),))


def order_queues_watch() -> Watch:
    return Watch(prefixes=(keys.ORDER_QUEUES.key,))


def account_watch(balances: bool = True) -> Watch:
    """The positions hash (of every account), and the balances hash with ``balances``."""
    return Watch(
        keys=(keys.ACCOUNTS.key, keys.POSITIONS.key) if balances else (keys.POSITIONS.key,)
    )


def bots_watch(coordination: bool = True) -> Watch:
    """The bots' feeds, and with ``coordination`` the blocks and opening marks."""
    if not coordination:
        return Watch(keys=(keys.BOTS.key,))
    return Watch(keys=(keys.BOTS.key, keys.BLOCKS.key, keys.OPENINGS.key))


def processes_watch() -> Watch:
    """Process records and the lists of active processes; what is active or stale also
    changes with the clock."""
    prefixes = (keys.PROCESS_DATA.key, keys.PROCESS_ACTIVE.key)
    return Watch(prefixes=prefixes, clock=True)


def symbol_trades_watch(exchange: str, symbol: str | None) -> Watch:
    """A symbol's public trades, or every list of the exchange."""
    if symbol is None:
        return Watch(prefixes=(keys.trades_exchange_prefix(exchange),))
    return Watch(keys=(keys.trades_key(exchange, symbol),))


def series_watch(symbol: str, timeframe: str) -> Watch:
    return Watch(keys=(keys.ohlcv_key(symbol, timeframe),))
