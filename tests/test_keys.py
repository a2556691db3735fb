"""The key parsers of fullon_cache_api.keys: each one the inverse of its key builder, and None
for what fullon_cache never writes (no colon, an empty part, another prefix)."""

from __future__ import annotations

import pytest

from fullon_cache_api import keys

SYMBOLS = ["BTC/USDT", "BTC/USDC:USDC", "A:B:C/D"]  # perpetuals and worse hold colons


@pytest.mark.parametrize("symbol", SYMBOLS)
@pytest.mark.parametrize("timeframe", ["1m", "1h", "1d"])
def test_parse_ohlcv_key_inverts_ohlcv_key(symbol: str, timeframe: str) -> None:
    assert keys.parse_ohlcv_key(keys.ohlcv_key(symbol, timeframe)) == (symbol, timeframe)


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
    assert keys.parse_ohlcv_key(key) is None


@pytest.mark.parametrize(("uid", "exchange"), [("7", "binance"), ("1", "kraken:futures")])
def test_parse_user_trades_key_inverts_user_trades_key(uid: str, exchange: str) -> None:
    """The uid ends at the first colon after the prefix; the exchange keeps any colon."""
    assert keys.parse_user_trades_key(keys.user_trades_key(uid, exchange)) == (uid, exchange)


@pytest.mark.parametrize(
    "key",
    ["user_trades:", "user_trades:7", "user_trades:7:", "user_trades::binance", "trades:7:x", ""],
)
def test_parse_user_trades_key_refuses_what_is_not_one(key: str) -> None:
    assert keys.parse_user_trades_key(key) is None


@pytest.mark.parametrize("symbol", SYMBOLS)
def test_parse_trades_key_inverts_trades_key(symbol: str) -> None:
    """trades keys hold the symbol without its slash (fullon_cache's symbol key)."""
    key = keys.trades_key("binance", symbol)
    assert keys.parse_trades_key(key) == ("binance", keys.trade_symbol(symbol))


@pytest.mark.parametrize(
    "key", ["trades:", "trades:binance", "trades:binance:", "trades::BTCUSDT", "trade:b:c", ""]
)
def test_parse_trades_key_refuses_what_is_not_one(key: str) -> None:
    assert keys.parse_trades_key(key) is None


@pytest.mark.parametrize(("ex_id", "symbol"), [("1", "BTC/USDT"), ("2", "BTC/USDC:USDC")])
def test_parse_block_field_splits_on_the_first_colon(ex_id: str, symbol: str) -> None:
    assert keys.parse_block_field(keys.block_field(ex_id, symbol)) == (ex_id, symbol)


@pytest.mark.parametrize("field", ["1", "1:", ":BTC/USDT", ""])
def test_parse_block_field_refuses_an_empty_part(field: str) -> None:
    assert keys.parse_block_field(field) is None


@pytest.mark.parametrize("prefix", keys.TICKER_CHANNEL_PREFIXES)
@pytest.mark.parametrize("symbol", SYMBOLS)
def test_parse_ticker_channel_of_both_channel_names(prefix: str, symbol: str) -> None:
    assert keys.parse_ticker_channel(f"{prefix}binance:{symbol}") == ("binance", symbol)


@pytest.mark.parametrize(
    "channel", ["ticker_updates:", "ticker_updates:binance", "next_ticker::BTC/USDT", "x:b:c"]
)
def test_parse_ticker_channel_refuses_what_is_not_one(channel: str) -> None:
    assert keys.parse_ticker_channel(channel) is None


@pytest.mark.parametrize(
    ("build", "parse", "value"),
    [
        (keys.tickers_key, keys.exchange_of_tickers_key, "binance"),
        (keys.orders_key, keys.exchange_of_orders_key, "kraken"),
        (keys.queue_key, keys.name_of_queue_key, "local-binance"),
        (keys.trade_status_key, keys.exchange_of_trade_status_key, "binance"),
        (keys.process_active_key, keys.type_of_process_active_key, "tick"),
    ],
)
def test_one_part_keys_round_trip_and_need_their_part(build, parse, value) -> None:
    key = build(value)
    assert parse(key) == value
    assert parse(build("")) is None  # the prefix alone names nothing
    assert parse("unrelated:" + value) is None


def test_user_trade_status_names() -> None:
    assert keys.name_of_user_trade_status_key("USER_TRADE:STATUS:binance") == "binance"
    assert keys.name_of_user_trade_status_key("USER_TRADE:STATUS:") is None


def test_family_of_knows_every_family_prefix_and_nothing_else() -> None:
    assert keys.family_of(keys.ohlcv_key("BTC/USDT", "1m")) is not None
    assert keys.family_of(keys.tickers_key("binance")) is not None
    assert keys.family_of("unrelated:1") is None
    assert keys.family_of("") is None
