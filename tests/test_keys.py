"""The key parsers of fullon_cache_api.keys: each one the inverse of its key builder, and None
for what fullon_cache never writes (no colon, an empty part, another prefix)."""

from __future__ import annotations

import pytest

from fullon_cache_api import keys

SYMBOLS = ["BTC/USDT", "BTC/USDC:USDC", "A:B:C/D"]  # perpetuals and worse hold colons


@pytest.mark.parametrize("symbol", SYMBOLS)
@pytest.mark.parametrize("timeframe", ["1m", "1h", "1d"])
def test_parse_ohlcv_key_inverts_ohlcv_key(symbol: str, timeframe: str) -> None:
    assert keys.OHLCV.parse(keys.ohlcv_key(symbol, timeframe)) == (symbol, timeframe)


@pytest.mark.parametrize(
    "key",
    [
        "ohlcv:",  # nothing after the prefix
        "ohlcv:BTCUSDT",  # no colon: no timeframe
        "ohlcv:BTC/USDT:",  # an empty timeframe
        "ohlcv::1m",  # an empty symbol
        "ohlcv",
        "tickers:BTC/USDT:1m",  # another family
        "OHLCV:BTC/USDT:1m",  # prefixes are case-sensitive
        "",
    ],
)
def test_parse_ohlcv_key_refuses_what_is_not_a_series(key: str) -> None:
    assert keys.OHLCV.parse(key) is None


@pytest.mark.parametrize(("uid", "exchange"), [("7", "binance"), ("1", "kraken:futures")])
def test_parse_user_trades_key_inverts_user_trades_key(uid: str, exchange: str) -> None:
    """The uid ends at the first colon after the prefix; the exchange keeps any colon."""
    assert keys.USER_TRADES.parse(keys.user_trades_key(uid, exchange)) == (uid, exchange)


@pytest.mark.parametrize(
    "key",
    ["user_trades:", "user_trades:7", "user_trades:7:", "user_trades::binance", "trades:7:x", ""],
)
def test_parse_user_trades_key_refuses_what_is_not_one(key: str) -> None:
    assert keys.USER_TRADES.parse(key) is None


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_parse_trades_key_inverts_trades_key(symbol: str) -> None:
    """trades keys hold the symbol without its slash (fullon_cache's symbol key)."""
    key = keys.trades_key("binance", symbol)
    assert keys.TRADES.parse(key) == ("binance", keys.trade_symbol(symbol))


@pytest.mark.parametrize(
    "key", ["trades:", "trades:binance", "trades:binance:", "trades::BTCUSDT", "trade:b:c", ""]
)
def test_parse_trades_key_refuses_what_is_not_one(key: str) -> None:
    assert keys.TRADES.parse(key) is None


@pytest.mark.parametrize(("ex_id", "symbol"), [("1", "BTC/USDT"), ("2", "BTC/USDC:USDC")])
def test_parse_block_field_splits_on_the_first_colon(ex_id: str, symbol: str) -> None:
    assert keys.split_first(keys.block_field(ex_id, symbol)) == (ex_id, symbol)


@pytest.mark.parametrize("field", ["1", "1:", ":BTC/USDT", ""])
def test_parse_block_field_refuses_an_empty_part(field: str) -> None:
    assert keys.split_first(field) is None


@pytest.mark.parametrize("prefix", keys.TICKER_CHANNEL_PREFIXES)
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_parse_ticker_channel_of_both_channel_names(prefix: str, symbol: str) -> None:
    assert keys.parse_ticker_channel(f"{prefix}binance:{symbol}") == ("binance", symbol)


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_ticker_time_and_channel_name_exchange_then_symbol(symbol: str) -> None:
    assert keys.TICKER_TIME.parse(keys.ticker_time_key("binance", symbol)) == ("binance", symbol)
    assert keys.parse_ticker_channel(keys.ticker_channel("binance", symbol)) == ("binance", symbol)


@pytest.mark.parametrize(
    "channel", ["ticker_updates:", "ticker_updates:binance", "next_ticker::BTC/USDT", "x:b:c"]
)
def test_parse_ticker_channel_refuses_what_is_not_one(channel: str) -> None:
    assert keys.parse_ticker_channel(channel) is None


@pytest.mark.parametrize(
    ("build", "parse", "value"),
    [
        (keys.tickers_key, keys.TICKERS.parse, "binance"),
        (keys.orders_key, keys.ORDERS.parse, "kraken"),
        (keys.queue_key, keys.ORDER_QUEUES.parse, "local-binance"),
        (keys.trade_status_key, keys.TRADE_STATUS.parse, "binance"),
        (keys.process_active_key, keys.PROCESS_ACTIVE.parse, "tick"),
        (keys.process_data_key, keys.PROCESS_DATA.parse, "tick-1"),
        (keys.user_trade_status_key, keys.USER_TRADE_STATUS.parse, "binance"),
    ],
)
def test_one_part_keys_round_trip_and_need_their_part(build, parse, value) -> None:
    key = build(value)
    assert parse(key) == value
    assert parse(build("")) is None  # the prefix alone names nothing
    assert parse("unrelated:" + value) is None


def test_family_of_knows_every_family_and_nothing_else() -> None:
    assert keys.family_of(keys.ohlcv_key("BTC/USDT", "1m")) is keys.OHLCV
    assert keys.family_of(keys.tickers_key("binance")) is keys.TICKERS
    assert keys.family_of("process:components") is keys.PROCESS_COMPONENTS
    assert keys.family_of("process:active:tick") is keys.PROCESS_ACTIVE
    assert keys.family_of("accounts") is keys.ACCOUNTS
    assert keys.family_of("accounts:1") is None  # a family of one key names only that key
    assert keys.family_of("unrelated:1") is None
    assert keys.family_of("") is None


def test_every_declared_family_is_listed_once_and_none_hides_another() -> None:
    """``FAMILIES`` holds every module-level ``KeyFamily`` (what /overview, the key index and
    tracking read); no family's key starts another's (Redis refuses overlapping tracking
    prefixes, and a key would have two families)."""
    declared = [
        value
        for name, value in vars(keys).items()
        if isinstance(value, keys.KeyFamily) and not name.startswith("_")
    ]
    assert sorted(f.name for f in declared) == sorted(f.name for f in keys.FAMILIES)
    assert len({f.name for f in keys.FAMILIES}) == len(keys.FAMILIES)
    for family in keys.FAMILIES:
        for other in keys.FAMILIES:
            assert other is family or not other.key.startswith(family.key), (family, other)
    assert keys.is_tracked(keys.tickers_key("binance"))
    assert not keys.is_tracked(keys.ticker_time_key("binance", "BTC/USDT"))  # never read


def sample_key(family: keys.KeyFamily[object]) -> str:
    """A key of ``family``: its one key, or its prefix with a name after it."""
    return family.key + "binance" if family.key.endswith(":") else family.key


@pytest.mark.parametrize("family", keys.FAMILIES, ids=lambda family: family.name)
def test_family_of_names_the_family_of_each_key(family: keys.KeyFamily[object]) -> None:
    assert keys.family_of(sample_key(family)) is family


@pytest.mark.parametrize(
    ("key", "family"),
    [
        ("process:components", "process_components"),  # an exact key inside a prefix's segment
        ("process:data:abc", "process_data"),
        ("process:other", None),
        ("ticker_time:binance", "ticker_time"),  # not "tickers"
        ("tickers", None),  # the prefix's segment without its colon
        ("accounts:1", None),  # an exact key with more after it
        ("TRADE:STATUS:binance", "trade_status"),
        ("TRADE:binance", None),
    ],
)
def test_family_of_exact_keys_and_prefixes_sharing_a_segment(key: str, family: str | None) -> None:
    found = keys.family_of(key)
    assert (found and found.name) == family


READ_FAMILIES = [family for family in keys.FAMILIES if family is not keys.TICKER_TIME]


@pytest.mark.parametrize("family", READ_FAMILIES, ids=lambda family: family.name)
def test_a_write_to_any_family_the_api_reads_is_reported(family: keys.KeyFamily[object]) -> None:
    assert family.tracked
    assert keys.is_tracked(sample_key(family))


def test_a_write_elsewhere_is_not_reported() -> None:
    """ticker_time keys are only counted (/overview), their values read by no endpoint: the
    feed writes one per tick, which the local cache is not told of."""
    assert not keys.TICKER_TIME.tracked
    assert not keys.is_tracked("ticker_time:binance:BTC/USDT")
    assert not keys.is_tracked("unrelated:1")
    assert not keys.is_tracked("")


def test_key_builders_write_fullon_cache_names() -> None:
    """docs/LAYOUT.md: the names as fullon_cache writes them (trade keys drop the "/")."""
    assert keys.tickers_key("binance") == "tickers:binance"
    assert keys.ticker_time_key("binance", "BTC/USDT") == "ticker_time:binance:BTC/USDT"
    assert keys.orders_key("3") == "order_status:3"
    assert keys.queue_key("binance") == "new_orders:binance"
    assert keys.trades_key("binance", "BTC/USDT") == "trades:binance:BTCUSDT"
    assert keys.trades_key("kraken", "BTC/USDC:USDC") == "trades:kraken:BTCUSDC:USDC"
    assert keys.trade_symbol("A/B/C") == "ABC"
    assert keys.trades_exchange_prefix("binance") == "trades:binance:"
    assert keys.trade_status_key("binance") == "TRADE:STATUS:binance"
    assert keys.user_trades_key("7", "binance") == "user_trades:7:binance"
    assert keys.user_trades_prefix("7") == "user_trades:7:"
    assert keys.user_trade_status_key("binance") == "USER_TRADE:STATUS:binance"
    assert keys.ohlcv_key("BTC/USDT", "1m") == "ohlcv:BTC/USDT:1m"
    assert keys.ohlcv_symbol_prefix("BTC/USDT") == "ohlcv:BTC/USDT:"
    assert keys.process_data_key("tick:binance") == "process:data:tick:binance"
    assert keys.process_active_key("tick") == "process:active:tick"
    assert keys.block_field("1", "BTC/USDT") == "1:BTC/USDT"
    assert keys.ticker_channel("binance", "BTC/USDT") == "ticker_updates:binance:BTC/USDT"


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        (b"tickers:binance", "tickers:binance"),
        ("tickers:binance", "tickers:binance"),  # a decoded reply: as it is
        ("币安人生/USDT".encode(), "币安人生/USDT"),  # UTF-8
        (b"a\xffb", "a\ufffdb"),  # not UTF-8: replaced, never an error
        (b"", ""),
    ],
)
def test_text_reads_a_redis_reply_as_utf8(raw: keys.RedisBytes, decoded: str) -> None:
    assert keys.text(raw) == decoded


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        (b'{"price": 1}', b'{"price": 1}'),  # bytes: as they are
        ('{"price": 1}', b'{"price": 1}'),  # a decoded reply: encoded back
        ("币安人生/USDT", "币安人生/USDT".encode()),  # as UTF-8
        (b"a\xffb", b"a\xffb"),  # not UTF-8: kept, never an error
        ("", b""),
    ],
)
def test_binary_reads_a_redis_reply_as_bytes(raw: keys.RedisBytes, encoded: bytes) -> None:
    found = keys.binary(raw)
    assert found == encoded and type(found) is bytes


@pytest.mark.parametrize(
    ("family", "key"),
    [
        (keys.TICKERS, keys.tickers_key("binance")),
        (keys.ORDERS, keys.orders_key("binance")),
        (keys.TRADES, keys.trades_key("binance", "BTC/USDC:USDC")),
        (keys.TRADE_STATUS, keys.trade_status_key("binance")),
    ],
    ids=lambda value: getattr(value, "name", "key"),
)
def test_the_exchange_a_key_names(family: keys.KeyFamily[object], key: str) -> None:
    """/exchanges discovers exchanges from these families' keys, and from no other."""
    assert family.exchange is not None
    parts = family.parse(key)
    assert parts is not None
    assert family.exchange(parts) == "binance"


def test_only_those_families_name_an_exchange() -> None:
    named = {family.name for family in keys.FAMILIES if family.exchange is not None}
    assert named == {"tickers", "orders", "trades", "trade_status"}
