"""Every key name of fullon_cache's Redis layout (docs/LAYOUT.md), and nothing else knows them.

Builders take validated values. Prefixes name the keys a listing looks up in the key index.
Parsers take a key and give back its parts, or None when the key does not belong to the family
(a prefix also holds longer names: quirk 11).
"""

from __future__ import annotations

RedisBytes = bytes | str
"""A key, field or value as Redis replies it: bytes (str only where a reply is decoded)."""


def text(raw: RedisBytes) -> str:
    """A key, field or value read from Redis, as text (values are UTF-8)."""
    return raw if isinstance(raw, str) else raw.decode("utf-8", "replace")


# Hashes with one fixed name.
ACCOUNTS = "accounts"
POSITIONS = "account_positions"
BLOCKS = "block_exchange"
OPENINGS = "opening_position"
BOT_STATUS = "bot_status"
PROCESS_COMPONENTS = "process:components"

TICKERS_PREFIX = "tickers:"
ORDERS_PREFIX = "order_status:"
QUEUE_PREFIX = "new_orders:"
TRADES_PREFIX = "trades:"
TRADE_STATUS_PREFIX = "TRADE:STATUS:"
USER_TRADES_PREFIX = "user_trades:"
USER_TRADE_STATUS_PREFIX = "USER_TRADE:STATUS:"
OHLCV_PREFIX = "ohlcv:"
PROCESS_DATA_PREFIX = "process:data:"
PROCESS_ACTIVE_PREFIX = "process:active:"
TICKER_TIME_PREFIX = "ticker_time:"

# What the local cache asks Redis to track (CLIENT TRACKING ... BCAST PREFIX each): every
# family the API reads. Redis refuses overlapping prefixes; these do not overlap.
TRACKED_PREFIXES: tuple[str, ...] = (
    TICKERS_PREFIX,
    ORDERS_PREFIX,
    QUEUE_PREFIX,
    ACCOUNTS,
    POSITIONS,
    BLOCKS,
    OPENINGS,
    BOT_STATUS,
    TRADES_PREFIX,
    TRADE_STATUS_PREFIX,
    USER_TRADES_PREFIX,
    USER_TRADE_STATUS_PREFIX,
    OHLCV_PREFIX,
    "process:",
)


INVALIDATION_CHANNEL = "__redis__:invalidate"
"""Where Redis reports writes to tracked keys (a client that redirects tracking to itself)."""


def is_tracked(key: str) -> bool:
    """Whether a write to ``key`` is reported to the local cache (see TRACKED_PREFIXES)."""
    return key.startswith(TRACKED_PREFIXES)


# Families for /overview: (name, key prefix or exact key, Redis type). Order = output order.
FAMILIES: tuple[tuple[str, str, str], ...] = (
    ("tickers", TICKERS_PREFIX, "hash"),
    ("ticker_time", TICKER_TIME_PREFIX, "string"),
    ("orders", ORDERS_PREFIX, "hash"),
    ("order_queues", QUEUE_PREFIX, "list"),
    ("accounts", ACCOUNTS, "hash"),
    ("positions", POSITIONS, "hash"),
    ("blocks", BLOCKS, "hash"),
    ("opening_positions", OPENINGS, "hash"),
    ("bots", BOT_STATUS, "hash"),
    ("trades", TRADES_PREFIX, "list"),
    ("trade_status", TRADE_STATUS_PREFIX, "string"),
    ("user_trades", USER_TRADES_PREFIX, "list"),
    ("user_trade_status", USER_TRADE_STATUS_PREFIX, "string"),
    ("ohlcv", OHLCV_PREFIX, "list"),
    ("process_data", PROCESS_DATA_PREFIX, "string"),
    ("process_active", PROCESS_ACTIVE_PREFIX, "hash"),
    ("process_components", PROCESS_COMPONENTS, "hash"),
)
_EXACT = {prefix: name for name, prefix, _ in FAMILIES if not prefix.endswith(":")}
# Prefix families by the key's first segment (its text up to the first colon), so that a key
# is classified by one dict lookup and at most two prefix checks: /overview classifies every
# key of the keyspace.
_BY_SEGMENT: dict[str, list[tuple[str, str]]] = {}
for _name, _prefix, _ in FAMILIES:
    if _prefix not in _EXACT:
        _BY_SEGMENT.setdefault(_prefix.split(":", 1)[0], []).append((_name, _prefix))


def family_of(key: str) -> str | None:
    """The /overview family name of ``key``, or None for keys fullon_cache does not write."""
    exact = _EXACT.get(key)
    if exact is not None:
        return exact
    for name, prefix in _BY_SEGMENT.get(key.partition(":")[0], ()):
        if key.startswith(prefix):
            return name
    return None


def _suffix(key: str, prefix: str) -> str | None:
    if key.startswith(prefix) and len(key) > len(prefix):
        return key[len(prefix) :]
    return None


# tickers ---------------------------------------------------------------------------------------


def tickers_key(exchange: str) -> str:
    return TICKERS_PREFIX + exchange


def exchange_of_tickers_key(key: str) -> str | None:
    return _suffix(key, TICKERS_PREFIX)


# orders ----------------------------------------------------------------------------------------


def orders_key(exchange: str) -> str:
    """``order_status:{exchange}``; some writers use the numeric ex_id as ``exchange``."""
    return ORDERS_PREFIX + exchange


def exchange_of_orders_key(key: str) -> str | None:
    return _suffix(key, ORDERS_PREFIX)


def queue_key(name: str) -> str:
    return QUEUE_PREFIX + name


def name_of_queue_key(key: str) -> str | None:
    return _suffix(key, QUEUE_PREFIX)


# trades ----------------------------------------------------------------------------------------


def trade_symbol(symbol: str) -> str:
    """The symbol as trade keys hold it: with "/" removed (quirk 9)."""
    return symbol.replace("/", "")


def trades_key(exchange: str, symbol: str) -> str:
    return f"{TRADES_PREFIX}{exchange}:{trade_symbol(symbol)}"


def parse_trades_key(key: str) -> tuple[str, str] | None:
    """``trades:{exchange}:{symbol_key}`` -> (exchange, symbol_key); exchange ends at the first
    colon after the prefix."""
    rest = _suffix(key, TRADES_PREFIX)
    if rest is None or ":" not in rest:
        return None
    exchange, symbol_key = rest.split(":", 1)
    return (exchange, symbol_key) if exchange and symbol_key else None


def trades_exchange_prefix(exchange: str) -> str:
    """Every ``trades:`` list of one exchange (and of longer names: re-parse what it holds)."""
    return f"{TRADES_PREFIX}{exchange}:"


def trade_status_key(exchange: str) -> str:
    return TRADE_STATUS_PREFIX + exchange


def exchange_of_trade_status_key(key: str) -> str | None:
    return _suffix(key, TRADE_STATUS_PREFIX)


def user_trades_key(uid: str, exchange: str) -> str:
    return f"{USER_TRADES_PREFIX}{uid}:{exchange}"


def user_trades_prefix(uid: str) -> str:
    return f"{USER_TRADES_PREFIX}{uid}:"


def parse_user_trades_key(key: str) -> tuple[str, str] | None:
    """``user_trades:{uid}:{exchange}`` -> (uid, exchange)."""
    rest = _suffix(key, USER_TRADES_PREFIX)
    if rest is None or ":" not in rest:
        return None
    uid, exchange = rest.split(":", 1)
    return (uid, exchange) if uid and exchange else None


def name_of_user_trade_status_key(key: str) -> str | None:
    return _suffix(key, USER_TRADE_STATUS_PREFIX)


# ohlcv -----------------------------------------------------------------------------------------


def ohlcv_key(symbol: str, timeframe: str) -> str:
    return f"{OHLCV_PREFIX}{symbol}:{timeframe}"


def ohlcv_symbol_prefix(symbol: str) -> str:
    return f"{OHLCV_PREFIX}{symbol}:"


def parse_ohlcv_key(key: str) -> tuple[str, str] | None:
    """``ohlcv:{symbol}:{timeframe}`` -> (symbol, timeframe); the timeframe follows the LAST
    colon, since symbols hold colons (``BTC/USDC:USDC``)."""
    rest = _suffix(key, OHLCV_PREFIX)
    if rest is None or ":" not in rest:
        return None
    symbol, timeframe = rest.rsplit(":", 1)
    return (symbol, timeframe) if symbol and timeframe else None


# processes -------------------------------------------------------------------------------------


def process_data_key(process_id: str) -> str:
    return PROCESS_DATA_PREFIX + process_id


def process_active_key(process_type: str) -> str:
    return PROCESS_ACTIVE_PREFIX + process_type


def type_of_process_active_key(key: str) -> str | None:
    return _suffix(key, PROCESS_ACTIVE_PREFIX)


# fields of fixed hashes ------------------------------------------------------------------------


def block_field(ex_id: str, symbol: str) -> str:
    return f"{ex_id}:{symbol}"


def parse_block_field(field: str) -> tuple[str, str] | None:
    """``{ex_id}:{symbol}`` (block_exchange, opening_position) split on the FIRST colon."""
    ex_id, sep, symbol = field.partition(":")
    return (ex_id, symbol) if sep and ex_id and symbol else None


# ticker pub/sub channels -----------------------------------------------------------------------

# fullon_cache publishes each tick on ``ticker_updates:{exchange}:{symbol}``; older writers used
# ``next_ticker:{exchange}:{symbol}``. The stream hub subscribes to both patterns, once.
TICKER_CHANNEL_PREFIXES = ("ticker_updates:", "next_ticker:")
TICKER_CHANNEL_PATTERNS = tuple(prefix + "*" for prefix in TICKER_CHANNEL_PREFIXES)


def parse_ticker_channel(channel: str) -> tuple[str, str] | None:
    """``ticker_updates:{exchange}:{symbol}`` -> (exchange, symbol); the exchange ends at the
    first colon after the prefix (symbols hold colons)."""
    for prefix in TICKER_CHANNEL_PREFIXES:
        rest = _suffix(channel, prefix)
        if rest is not None:
            return parse_block_field(rest)
    return None
