"""What each watched stream's read depends on (``hub.Watch``): the keys and key prefixes whose
writes may change it, from ``keys``. A stream names the read it watches here, never a key."""

from __future__ import annotations

from .. import keys
from ..hub import Watch

__all__ = [
    "account",
    "bots",
    "order_queues",
    "orders",
    "processes",
    "series",
    "symbol_trades",
]


def orders(exchange: str | None) -> Watch:
    """One exchange's orders hash, or every one."""
    if exchange is None:
        return Watch(prefixes=(keys.ORDERS_PREFIX,))
    return Watch(keys=(keys.orders_key(exchange),))


def order_queues() -> Watch:
    return Watch(prefixes=(keys.QUEUE_PREFIX,))


def account(balances: bool = True) -> Watch:
    """The positions hash (of every account), and the balances hash with ``balances``."""
    return Watch(keys=(keys.ACCOUNTS, keys.POSITIONS) if balances else (keys.POSITIONS,))


def bots(coordination: bool = True) -> Watch:
    """The bots' feeds, and with ``coordination`` the blocks and opening marks."""
    if not coordination:
        return Watch(keys=(keys.BOT_STATUS,))
    return Watch(keys=(keys.BOT_STATUS, keys.BLOCKS, keys.OPENINGS))


def processes() -> Watch:
    """Process records and the lists of active processes; what is active or stale also
    changes with the clock."""
    prefixes = (keys.PROCESS_DATA_PREFIX, keys.PROCESS_ACTIVE_PREFIX)
    return Watch(prefixes=prefixes, clock=True)


def symbol_trades(exchange: str, symbol: str | None) -> Watch:
    """A symbol's public trades, or every list of the exchange."""
    if symbol is None:
        return Watch(prefixes=(keys.trades_exchange_prefix(exchange),))
    return Watch(keys=(keys.trades_key(exchange, symbol),))


def series(symbol: str, timeframe: str) -> Watch:
    return Watch(keys=(keys.ohlcv_key(symbol, timeframe),))
