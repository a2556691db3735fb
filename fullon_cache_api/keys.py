"""Every key name of fullon_cache's Redis layout (docs/LAYOUT.md), and nothing else knows them.

Each family is declared once (``KeyFamily``: its name, key or prefix, Redis type, whether the API
tracks it, how its keys are parsed); ``FAMILIES`` lists them all. Builders take validated values
and give a key (the demo's feeder writes through them too).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

T = TypeVar("T")

RedisBytes = bytes | str
"""A key, field or value as Redis replies it: bytes (str only where a reply is decoded)."""


def text(raw: RedisBytes) -> str:
    """A key, field or value read from Redis, as text (values are UTF-8)."""
    return raw if isinstance(raw, str) else raw.decode("utf-8", "replace")


def binary(raw: RedisBytes) -> bytes:
    """A value read from Redis, as bytes (as a publication's data is)."""
    return raw if isinstance(raw, bytes) else raw.encode()


@dataclass(frozen=True, slots=True)
class KeyFamily(Generic[T]):
    """One family of fullon_cache's keys, and every fact the API uses about it."""

    name: str
    """Its name in /overview."""
    key: str
    """Its one key, or the prefix of its keys (ending in a colon)."""
    redis_type: Literal["hash", "list", "string"]
    tracked: bool
    """The API reads it: writes to it are reported to the local cache and the key index."""
    parts: Callable[[str], T | None] | None = None
    """What the text after the prefix names, or None when it is not a key of this family (no
    function: a family of one key)."""
    exchange: Callable[[T], str] | None = None
    """The exchange a key names (the families /exchanges discovers exchanges from)."""

    def parse(self, key: str) -> T | None:
        """What ``key`` names, or None when it is not a key of this family (a prefix also holds
        longer names: quirk 11)."""
        if self.parts is not None and key.startswith(self.key) and len(key) > len(self.key):
            return self.parts(key[len(self.key) :])
        return None


def _whole(rest: str) -> str:
    return rest


def split_first(rest: str) -> tuple[str, str] | None:
    """``a:b`` on the FIRST colon, both parts non-empty (an exchange, an ex_id or a uid never
    holds one; a symbol may)."""
    first, sep, second = rest.partition(":")
    return (first, second) if sep and first and second else None


def _split_last(rest: str) -> tuple[str, str] | None:
    """``a:b`` on the LAST colon (symbols hold colons: ``BTC/USDC:USDC``)."""
    first, sep, second = rest.rpartition(":")
    return (first, second) if sep and first and second else None


def _first(pair: tuple[str, str]) -> str:
    return pair[0]


# Order = /overview's order.
TICKERS = KeyFamily("tickers", "tickers:", "hash", True, _whole, exchange=_whole)
TICKER_TIME = KeyFamily("ticker_time", "ticker_time:", "string", False, split_first)
"""``ticker_time:{exchange}:{symbol}`` -> (exchange, symbol)."""
ORDERS = KeyFamily("orders", "order_status:", "hash", True, _whole, exchange=_whole)
"""``order_status:{exchange}``; some writers use the numeric ex_id as ``exchange``."""
ORDER_QUEUES = KeyFamily("order_queues", "new_orders:", "list", True, _whole)
ACCOUNTS: KeyFamily[None] = KeyFamily("accounts", "accounts", "hash", True)
POSITIONS: KeyFamily[None] = KeyFamily("positions", "account_positions", "hash", True)
BLOCKS: KeyFamily[None] = KeyFamily("blocks", "block_exchange", "hash", True)
OPENINGS: KeyFamily[None] = KeyFamily("opening_positions", "opening_position", "hash", True)
BOTS: KeyFamily[None] = KeyFamily("bots", "bot_status", "hash", True)
TRADES = KeyFamily("trades", "trades:", "list", True, split_first, exchange=_first)
"""``trades:{exchange}:{symbol_key}`` -> (exchange, symbol_key)."""
TRADE_STATUS = KeyFamily("trade_status", "TRADE:STATUS:", "string", True, _whole, exchange=_whole)
USER_TRADES = KeyFamily("user_trades", "user_trades:", "list", True, split_first)
"""``user_trades:{uid}:{exchange}`` -> (uid, exchange)."""
USER_TRADE_STATUS = KeyFamily("user_trade_status", "USER_TRADE:STATUS:", "string", True, _whole)
OHLCV = KeyFamily("ohlcv", "ohlcv:", "list", True, _split_last)
"""``ohlcv:{symbol}:{timeframe}`` -> (symbol, timeframe)."""
PROCESS_DATA = KeyFamily("process_data", "process:data:", "string", True, _whole)
PROCESS_ACTIVE = KeyFamily("process_active", "process:active:", "hash", True, _whole)
PROCESS_COMPONENTS: KeyFamily[None] = KeyFamily(
    "process_components", "process:components", "hash", True
)

FAMILIES: tuple[KeyFamily[Any], ...] = (
    TICKERS,
    TICKER_TIME,
    ORDERS,
    ORDER_QUEUES,
    ACCOUNTS,
    POSITIONS,
    BLOCKS,
    OPENINGS,
    BOTS,
    TRADES,
    TRADE_STATUS,
    USER_TRADES,
    USER_TRADE_STATUS,
    OHLCV,
    PROCESS_DATA,
    PROCESS_ACTIVE,
    PROCESS_COMPONENTS,
)
"""Every family fullon_cache writes (a test checks that each module-level KeyFamily is here)."""

TRACKED_PREFIXES: tuple[str, ...] = tuple(family.key for family in FAMILIES if family.tracked)
"""The families whose replies the local cache may keep (Redis reports the next write to a key
that one of its connections read); a test checks that none starts another."""

INVALIDATION_CHANNEL = "__redis__:invalidate"
"""Where Redis reports writes to tracked keys (a client that redirects tracking to itself)."""


def is_tracked(key: str) -> bool:
    """Whether a write to ``key`` is reported to the local cache (see TRACKED_PREFIXES)."""
    return key.startswith(TRACKED_PREFIXES)


_EXACT = {family.key: family for family in FAMILIES if not family.key.endswith(":")}
# Prefix families by the key's first segment (its text up to the first colon), so that a key
# is classified by one dict lookup and at most two prefix checks: the key index classifies
# every key of the keyspace.
_BY_SEGMENT: dict[str, list[KeyFamily[Any]]] = {}
for _family in FAMILIES:
    if _family.key not in _EXACT:
        _BY_SEGMENT.setdefault(_family.key.split(":", 1)[0], []).append(_family)


def family_of(key: str) -> KeyFamily[Any] | None:
    """The family of ``key``, or None for keys fullon_cache does not write."""
    exact = _EXACT.get(key)
    if exact is not None:
        return exact
    for family in _BY_SEGMENT.get(key.partition(":")[0], ()):
        if key.startswith(family.key):
            return family
    return None


# builders --------------------------------------------------------------------------------------


def tickers_key(exchange: str) -> str:
    return TICKERS.key + exchange


def ticker_time_key(exchange: str, symbol: str) -> str:
    return f"{TICKER_TIME.key}{exchange}:{symbol}"


def orders_key(exchange: str) -> str:
    return ORDERS.key + exchange


def queue_key(name: str) -> str:
    return ORDER_QUEUES.key + name


def trade_symbol(symbol: str) -> str:
    """The symbol as trade keys hold it: with "/" removed (quirk 9)."""
    return symbol.replace("/", "")


def trades_key(exchange: str, symbol: str) -> str:
    return f"{trades_exchange_prefix(exchange)}{trade_symbol(symbol)}"


def trades_exchange_prefix(exchange: str) -> str:
    """Every ``trades:`` list of one exchange (and of longer names: re-parse what it holds)."""
    return f"{TRADES.key}{exchange}:"


def trade_status_key(exchange: str) -> str:
    return TRADE_STATUS.key + exchange


def user_trades_key(uid: str, exchange: str) -> str:
    return f"{user_trades_prefix(uid)}{exchange}"


def user_trades_prefix(uid: str) -> str:
    return f"{USER_TRADES.key}{uid}:"


def user_trade_status_key(name: str) -> str:
    return USER_TRADE_STATUS.key + name


def ohlcv_key(symbol: str, timeframe: str) -> str:
    return f"{ohlcv_symbol_prefix(symbol)}{timeframe}"


def ohlcv_symbol_prefix(symbol: str) -> str:
    return f"{OHLCV.key}{symbol}:"


def process_data_key(process_id: str) -> str:
    return PROCESS_DATA.key + process_id


def process_active_key(process_type: str) -> str:
    return PROCESS_ACTIVE.key + process_type


def block_field(ex_id: str, symbol: str) -> str:
    """A field of ``block_exchange`` and ``opening_position``: ``{ex_id}:{symbol}``, read back
    with ``split_first``."""
    return f"{ex_id}:{symbol}"


# ticker pub/sub channels -----------------------------------------------------------------------

# fullon_cache publishes each tick on ``ticker_updates:{exchange}:{symbol}``; older writers used
# ``next_ticker:{exchange}:{symbol}``. The stream hub subscribes to both patterns, once.
TICKER_CHANNEL_PREFIXES = ("ticker_updates:", "next_ticker:")
TICKER_CHANNEL_PATTERNS = tuple(prefix + "*" for prefix in TICKER_CHANNEL_PREFIXES)


def ticker_channel(exchange: str, symbol: str) -> str:
    """Where fullon_cache publishes a tick of ``symbol`` on ``exchange``."""
    return f"{TICKER_CHANNEL_PREFIXES[0]}{exchange}:{symbol}"


def parse_ticker_channel(channel: str) -> tuple[str, str] | None:
    """``ticker_updates:{exchange}:{symbol}`` -> (exchange, symbol); the exchange ends at the
    first colon after the prefix (symbols hold colons)."""
    for prefix in TICKER_CHANNEL_PREFIXES:
        if channel.startswith(prefix):
            return split_first(channel[len(prefix) :])
    return None
