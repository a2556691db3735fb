"""Every action of every socket of the v0.2.6 WebSocket protocol, field by field, as clients
written for v0.2.6 call it: ``TestClient(create_app())`` without ``with`` (each connection on a
fresh event loop), on the snapshot loaded in a real Redis, as the read-only user. Errors: every
code and text, and the socket stays open after each."""

from __future__ import annotations

import dataclasses
import inspect
import json
import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from fullon_cache_api import Resource, Settings, create_app
from fullon_cache_api.demo.redis_server import free_port
from fullon_cache_api.routes import SOCKETS

from support import GENERATED_AT, WRITTEN_AT, Clock, Monitor, stopped

pytestmark = pytest.mark.usefixtures("snapshot")


@pytest.fixture
def ws(app) -> TestClient:
    return TestClient(app)


def ask(session: Any, action: str, params: Any = None, request_id: Any = "r1") -> dict[str, Any]:
    """One request frame and its reply."""
    frame = {"action": action, "request_id": request_id}
    if params is not None:
        frame["params"] = params
    session.send_text(json.dumps(frame))
    reply: dict[str, Any] = session.receive_json()
    return reply


def result(reply: dict[str, Any], action: str, request_id: Any = "r1") -> Any:
    assert reply.keys() == {"request_id", "action", "success", "result"}, reply
    assert (reply["request_id"], reply["action"], reply["success"]) == (request_id, action, True)
    return reply["result"]


def failed(code: str, error: str, request_id: Any = "r1") -> dict[str, Any]:
    """v0.2.6's send_error frame: no ``action``."""
    return {"request_id": request_id, "success": False, "error_code": code, "error": error}


def not_found(action: str, code: str, error: str) -> dict[str, Any]:
    return {
        "request_id": "r1",
        "action": action,
        "success": False,
        "error_code": code,
        "error": error,
    }


TESTED = {
    "tickers": {"get_ticker", "get_all_tickers", "stream_tickers"},
    "accounts": {"get_balance", "get_positions", "stream_positions"},
    "orders": {"get_order_status", "get_queue_length", "stream_order_queue"},
    "bots": {"get_bot_status", "is_blocked", "get_bots", "stream_bot_status"},
    "trades": {"get_trades", "stream_trade_updates"},
    "ohlcv": {"get_latest_ohlcv_bars", "stream_ohlcv"},
    "process": {"get_system_health", "get_active_processes", "stream_process_health"},
}
"""The actions tested here (streams: test_ws_streams.py); a new one must be added."""


def test_every_action_of_every_domain_socket_is_tested() -> None:
    declared = {s.tag: {a.name for a in s.actions} for s in SOCKETS if s.tag != "gateway"}
    assert declared == TESTED
    assert all(inspect.getdoc(a.handler) for s in SOCKETS for a in s.actions)  # documented


# tickers -----------------------------------------------------------------------------------

BTC = {
    "symbol": "BTC/USDT",
    "exchange": "binance",
    "price": 300.0,
    "volume": 10.0,
    "timestamp": 1764100000.0,
    "bid": 299.5,
    "ask": 300.5,
    "change_24h": 0.0,
}


def test_get_ticker(ws) -> None:
    with ws.websocket_connect("/ws/tickers/c1") as s:
        params = {"exchange": "binance", "symbol": "BTC/USDT"}
        assert result(ask(s, "get_ticker", params), "get_ticker") == BTC
        assert ask(s, "get_ticker", {"exchange": "binance", "symbol": "XRP/USDT"}) == not_found(
            "get_ticker", "TICKER_NOT_FOUND", "Ticker XRP/USDT not found for binance"
        )
        for params in ({"exchange": "binance"}, {"symbol": "BTC/USDT", "exchange": ""}, None):
            assert ask(s, "get_ticker", params) == failed(
                "INVALID_PARAMS", "exchange and symbol parameters required"
            )


def test_a_tick_may_hold_change_24h_and_nulls(ws, admin) -> None:
    tick = {"price": None, "volume": 1.0, "time": 1764100100.5, "bid": None, "ask": 2.0}
    admin.hset("tickers:binance", "NEW/USDT", json.dumps({**tick, "change_24h": -1.5}))
    with ws.websocket_connect("/ws/tickers/c1") as s:
        got = result(
            ask(s, "get_ticker", {"exchange": "binance", "symbol": "NEW/USDT"}), "get_ticker"
        )
    assert got == {
        "symbol": "NEW/USDT",
        "exchange": "binance",
        "price": None,
        "volume": 1.0,
        "timestamp": 1764100100.5,
        "bid": None,
        "ask": 2.0,
        "change_24h": -1.5,
    }


def test_get_all_tickers(ws) -> None:
    with ws.websocket_connect("/ws/tickers/c1") as s:
        got = result(ask(s, "get_all_tickers", {"exchange": "binance"}), "get_all_tickers")
        none = result(ask(s, "get_all_tickers", {"exchange": "nowhere"}), "get_all_tickers")
        missing = ask(s, "get_all_tickers", {})
    assert got["exchange"] == "binance"
    assert [t["symbol"] for t in got["tickers"]] == ["BTC/USDT", "ETH/USDT", "SOL/USDT"]
    assert got["tickers"][0] == BTC
    assert got["tickers"][2] == {
        "symbol": "SOL/USDT",
        "exchange": "binance",
        "price": 500.5,
        "volume": 12.0,
        "timestamp": 1764096340.0,
        "bid": 500.0,
        "ask": 501.0,
        "change_24h": 0.0,
    }
    assert none == {"exchange": "nowhere", "tickers": []}
    assert missing == failed("INVALID_PARAMS", "exchange parameter required")


def test_a_failing_read_is_cache_error_and_the_socket_stays_open(ws, admin) -> None:
    admin.delete("tickers:binance")
    admin.set("tickers:binance", "a string where fullon_cache keeps a hash")
    admin.hset("tickers:kraken", "BAD/USD", "{not json")
    with ws.websocket_connect("/ws/tickers/c1") as s:
        params = {"exchange": "binance", "symbol": "BTC/USDT"}
        assert ask(s, "get_ticker", params) == failed(
            "CACHE_ERROR", "Failed to retrieve ticker data"
        )
        assert ask(s, "get_all_tickers", {"exchange": "binance"}) == failed(
            "CACHE_ERROR", "Failed to retrieve tickers"
        )
        assert ask(s, "get_ticker", {"exchange": "kraken", "symbol": "BAD/USD"}) == failed(
            "CACHE_ERROR", "Failed to retrieve ticker data"
        )
        listing = result(ask(s, "get_all_tickers", {"exchange": "kraken"}), "get_all_tickers")
    assert [t["symbol"] for t in listing["tickers"]] == ["BTC/USD", "ETH/USD"]  # corrupt: skipped


def test_a_stalled_read_ends_at_the_rest_routes_deadline(
    settings, clock, admin, redis_server
) -> None:
    """Redis stalls: the action answers CACHE_ERROR once ``request_timeout`` is over (as a REST
    route answers 504), not after the longer command timeout, and the socket stays open."""
    stalling = dataclasses.replace(
        settings, request_timeout=2, command_timeout=60, local_cache=False
    )
    client = TestClient(create_app(stalling, clock=clock))
    with client.websocket_connect("/ws/tickers/c1") as s:
        params = {"exchange": "binance", "symbol": "BTC/USDT"}
        assert result(ask(s, "get_ticker", params), "get_ticker")["price"] == 300.0  # connected
        with stopped(redis_server):  # answered while Redis stalls: the deadline, not its end
            started = time.monotonic()
            stalled = ask(s, "get_all_tickers", {"exchange": "binance"})
            elapsed = time.monotonic() - started
        assert stalled == failed("CACHE_ERROR", "Failed to retrieve tickers")
        assert elapsed >= 1.9  # it waited for the request timeout
        assert result(ask(s, "get_ticker", params), "get_ticker")["price"] == 300.0


# v0.2.6's texts, for every action -----------------------------------------------------------

# (socket, action, params that read something): the INVALID_PARAMS text when params are {},
# and the CACHE_ERROR text when Redis is down. Streams that only poll cannot fail to start.
V026 = [
    ("tickers", "get_ticker", {"exchange": "x", "symbol": "y"},
     "exchange and symbol parameters required", "Failed to retrieve ticker data"),
    ("tickers", "get_all_tickers", {"exchange": "x"},
     "exchange parameter required", "Failed to retrieve tickers"),
    ("tickers", "stream_tickers", {"exchange": "x", "symbols": ["y"]},
     "exchange parameter required", "Failed to start ticker streaming"),
    ("accounts", "get_balance", {"user_id": 1, "currency": "y"},
     "user_id and currency parameters required", "Failed to retrieve balance data"),
    ("accounts", "get_positions", {"exchange": "1"},
     "user_id or exchange parameter required", "Failed to retrieve positions"),
    ("accounts", "stream_positions", None, "user_id or exchange parameter required", None),
    ("orders", "get_order_status", {"exchange": "x", "order_id": "y"},
     "exchange and order_id parameters required", "Failed to retrieve order status"),
    ("orders", "get_queue_length", {"exchange": "x"},
     "exchange parameter required", "Failed to retrieve queue length"),
    ("orders", "stream_order_queue", None, "exchange parameter required", None),
    ("bots", "get_bot_status", {"bot_id": "1"},
     "bot_id parameter required", "Failed to retrieve bot status"),
    ("bots", "is_blocked", {"exchange": "1", "symbol": "y"},
     "exchange and symbol parameters required", "Failed to query blocking status"),
    ("bots", "get_bots", {}, None, "Failed to retrieve bots"),
    ("trades", "get_trades", {"exchange": "x", "symbol": "y"},
     "exchange and symbol parameters required", "Failed to retrieve trades"),
    ("trades", "stream_trade_updates", None, "exchange parameter required", None),
    ("ohlcv", "get_latest_ohlcv_bars", {"symbol": "x", "timeframe": "1m"},
     "symbol and timeframe parameters required", "Failed to retrieve OHLCV data"),
    ("ohlcv", "stream_ohlcv", None, "symbol and timeframe required", None),
    ("process", "get_system_health", {}, None, "Failed to retrieve system health"),
    ("process", "get_active_processes", {}, None, "Failed to retrieve active processes"),
]  # fmt: skip


@pytest.mark.parametrize(("socket", "action", "params", "missing", "failure"), V026)
def test_v026_texts_of_every_action(ws, socket, action, params, missing, failure, clock) -> None:
    if missing is not None:
        with ws.websocket_connect(f"/ws/{socket}/c1") as s:
            assert ask(s, action, {}) == failed("INVALID_PARAMS", missing)
    if failure is not None:
        down = Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0", connect_timeout=0.2)
        with TestClient(create_app(down, clock=clock)).websocket_connect(f"/ws/{socket}/c") as s:
            code = "INTERNAL_ERROR" if action.startswith("stream_") else "CACHE_ERROR"
            assert ask(s, action, params) == failed(code, failure)


# accounts ----------------------------------------------------------------------------------


def test_get_balance_in_fullon_caches_shape(ws, clock) -> None:
    with ws.websocket_connect("/ws/accounts/c1") as s:
        usdt = result(ask(s, "get_balance", {"user_id": 1, "currency": "USDT"}), "get_balance")
        # v0.2.6's alias: "exchange" for currency; user_id as digits
        btc = result(ask(s, "get_balance", {"user_id": "3", "exchange": "BTC"}), "get_balance")
    assert usdt == {
        "user_id": 1,
        "currency": "USDT",
        "total_balance": 5000.0,
        "available_balance": 4200.0,
        "reserved_balance": 800.0,
        "timestamp": clock.now,
    }
    assert btc == {
        "user_id": 3,
        "currency": "BTC",
        "total_balance": 0.5,
        "available_balance": 0.5,
        "reserved_balance": 0.0,
        "timestamp": clock.now,
    }


def test_get_balance_in_the_balance_available_shape(ws, admin) -> None:
    admin.hset(
        "accounts",
        "9",
        json.dumps({"USDT": {"balance": 10.0, "available": 7.5}, "ETH": {"balance": 2.0}}),
    )
    with ws.websocket_connect("/ws/accounts/c1") as s:
        usdt = result(ask(s, "get_balance", {"user_id": 9, "currency": "USDT"}), "get_balance")
        eth = result(ask(s, "get_balance", {"user_id": 9, "currency": "ETH"}), "get_balance")
    assert (usdt["total_balance"], usdt["available_balance"], usdt["reserved_balance"]) == (
        10.0,
        7.5,
        2.5,
    )
    assert (eth["total_balance"], eth["available_balance"], eth["reserved_balance"]) == (
        2.0,
        0.0,
        2.0,
    )


def test_get_balance_errors(ws) -> None:
    with ws.websocket_connect("/ws/accounts/c1") as s:
        assert ask(s, "get_balance", {"user_id": 1, "currency": "XRP"}) == not_found(
            "get_balance", "BALANCE_NOT_FOUND", "Balance not found for user 1 XRP"
        )
        assert ask(s, "get_balance", {"user_id": 99, "currency": "USDT"}) == not_found(
            "get_balance", "BALANCE_NOT_FOUND", "Balance not found for user 99 USDT"
        )
        assert ask(s, "get_balance", {"currency": "USDT"}) == failed(
            "INVALID_PARAMS", "user_id and currency parameters required"
        )
        assert ask(s, "get_balance", {"user_id": "one", "currency": "USDT"}) == failed(
            "INVALID_PARAMS", "parameter 'user_id' must be an integer id"
        )


POSITIONS_1 = [
    {
        "symbol": "BTC/USDT",
        "exchange": "1",
        "side": "long",
        "size": 0.02,
        "entry_price": 300.0,
        "mark_price": 300.0,
        "pnl": 0.0,
        "pnl_percent": 0.0,
        "timestamp": 1764100000.0,
    },
    {
        "symbol": "ETH/USDT",
        "exchange": "1",
        "side": "long",
        "size": 0.04,
        "entry_price": 400.25,
        "mark_price": 400.25,
        "pnl": 0.0,
        "pnl_percent": 0.0,
        "timestamp": 1764099940.0,
    },
]


def test_get_positions_of_one_account_or_all(ws) -> None:
    with ws.websocket_connect("/ws/accounts/c1") as s:
        one = result(ask(s, "get_positions", {"exchange": "1"}), "get_positions")
        every = result(ask(s, "get_positions", {"user_id": 7}), "get_positions")
        none = result(ask(s, "get_positions", {"exchange": "99"}), "get_positions")
        missing = ask(s, "get_positions", {})
    assert one == {"user_id": None, "exchange": "1", "positions": POSITIONS_1, "count": 2}
    assert every["user_id"] == 7 and every["exchange"] is None and every["count"] == 5
    assert [(p["exchange"], p["symbol"]) for p in every["positions"]] == [
        ("1", "BTC/USDT"),
        ("1", "ETH/USDT"),
        ("2", "BTC/USD"),
        ("2", "ETH/USD"),
        ("3", "BTC/USDC:USDC"),
    ]
    assert none == {"user_id": None, "exchange": "99", "positions": [], "count": 0}
    assert missing == failed("INVALID_PARAMS", "user_id or exchange parameter required")


def test_a_short_position_and_a_null_timestamp(ws, admin) -> None:
    position = {"cost": 10.0, "volume": -0.5, "fee": 0.1, "price": 20.0, "timestamp": None}
    admin.hset("account_positions", "8", json.dumps({"X/USDT": position, "timestamp": 1.5e9}))
    with ws.websocket_connect("/ws/accounts/c1") as s:
        got = result(ask(s, "get_positions", {"exchange": 8}), "get_positions")
    assert got["positions"] == [
        {
            "symbol": "X/USDT",
            "exchange": "8",
            "side": "short",
            "size": 0.5,
            "entry_price": 20.0,
            "mark_price": 20.0,
            "pnl": 0.0,
            "pnl_percent": 0.0,
            "timestamp": None,
        }
    ]


# orders ------------------------------------------------------------------------------------


def test_get_order_status(ws) -> None:
    with ws.websocket_connect("/ws/orders/c1") as s:
        filled = result(
            ask(s, "get_order_status", {"exchange": "binance", "order_id": "BINANCE-00002"}),
            "get_order_status",
        )
        open_ = result(
            ask(s, "get_order_status", {"exchange": "binance", "order_id": "BINANCE-00001"}),
            "get_order_status",
        )
        gone = ask(s, "get_order_status", {"exchange": "binance", "order_id": "NOPE"})
        missing = ask(s, "get_order_status", {"exchange": "binance"})
    assert filled == {
        "order_id": "BINANCE-00002",
        "symbol": "BTC/USDT",
        "exchange": "binance",
        "side": "sell",
        "amount": 0.2,
        "price": 300.0,
        "filled": 0.2,
        "remaining": 0.0,
        "status": "filled",
        "order_type": "limit",
        "timestamp": 1795668783.587442,
        "last_update": 1795668783.587442,
    }
    assert (open_["filled"], open_["remaining"], open_["status"]) == (0.0, 0.1, "open")
    assert gone == not_found("get_order_status", "ORDER_NOT_FOUND", "Order NOPE not found")
    assert missing == failed("INVALID_PARAMS", "exchange and order_id parameters required")


def test_get_queue_length_counts_the_exchanges_orders(ws, clock) -> None:
    with ws.websocket_connect("/ws/orders/c1") as s:
        binance = result(ask(s, "get_queue_length", {"exchange": "binance"}), "get_queue_length")
        none = result(ask(s, "get_queue_length", {"exchange": "nowhere"}), "get_queue_length")
        missing = ask(s, "get_queue_length", {"exchange": None})
    assert binance == {"exchange": "binance", "queue_length": 3, "timestamp": clock.now}
    assert none == {"exchange": "nowhere", "queue_length": 0, "timestamp": clock.now}
    assert missing == failed("INVALID_PARAMS", "exchange parameter required")


# bots --------------------------------------------------------------------------------------

FEEDS_41 = {
    "feed_0": {
        "status": "running",
        "symbols": ["BTC/USDT"],
        "exchange": "binance",
        "pnl": 512.5,
        "timestamp": "2026-11-26T04:53:03.592506+00:00",
    }
}


def test_get_bot_status(ws, clock, admin) -> None:
    admin.hset("bot_status", "50", json.dumps({"note": "no feed has a status"}))
    with ws.websocket_connect("/ws/bots/c1") as s:
        got = result(ask(s, "get_bot_status", {"bot_id": 41}), "get_bot_status")
        unknown = result(ask(s, "get_bot_status", {"bot_id": "50"}), "get_bot_status")
        gone = ask(s, "get_bot_status", {"bot_id": "77"})
        missing = ask(s, "get_bot_status", {"bot_id": ""})
    assert got == {"bot_id": "41", "status": "running", "data": FEEDS_41, "timestamp": clock.now}
    assert unknown["status"] == "unknown" and unknown["data"] == {"note": "no feed has a status"}
    assert gone == not_found("get_bot_status", "BOT_NOT_FOUND", "Bot 77 not found")
    assert missing == failed("INVALID_PARAMS", "bot_id parameter required")


def test_is_blocked_and_get_bots(ws, clock) -> None:
    with ws.websocket_connect("/ws/bots/c1") as s:
        blocked = result(
            ask(s, "is_blocked", {"exchange": "1", "symbol": "BTC/USDT"}), "is_blocked"
        )
        free = result(ask(s, "is_blocked", {"exchange": 1, "symbol": "ETH/USDT"}), "is_blocked")
        missing = ask(s, "is_blocked", {"symbol": "BTC/USDT"})
        bots = result(ask(s, "get_bots"), "get_bots")
    assert blocked == {
        "exchange": "1",
        "symbol": "BTC/USDT",
        "is_blocked": True,
        "blocked_by": "41",
        "timestamp": clock.now,
    }
    assert (free["is_blocked"], free["blocked_by"]) == (False, None)
    assert missing == failed("INVALID_PARAMS", "exchange and symbol parameters required")
    assert list(bots) == ["bots"] and list(bots["bots"]) == ["41", "42", "43"]
    assert bots["bots"]["41"] == FEEDS_41


# trades ------------------------------------------------------------------------------------


def test_get_trades_reads_without_consuming(ws, admin) -> None:
    key = "trades:binance:BTCUSDT"
    before = admin.lrange(key, 0, -1)
    with ws.websocket_connect("/ws/trades/c1") as s:
        first = result(
            ask(s, "get_trades", {"exchange": "binance", "symbol": "BTC/USDT"}), "get_trades"
        )
        again = result(
            ask(s, "get_trades", {"exchange": "binance", "symbol": "BTC/USDT"}), "get_trades"
        )
        none = result(
            ask(s, "get_trades", {"exchange": "binance", "symbol": "NO/PE"}), "get_trades"
        )
        missing = ask(s, "get_trades", {"exchange": "binance"})
    assert admin.llen(key) == 3 and admin.lrange(key, 0, -1) == before
    assert first == again
    assert first["exchange"] == "binance" and first["symbol"] == "BTC/USDT"
    assert first["trades"][0] == {
        "symbol": "BTC/USDT",
        "exchange": "binance",
        "side": "buy",
        "volume": 0.01,
        "price": 300.0,
        "timestamp": 1764100000.0,
        "trade_id": 5000,
    }
    assert [t["trade_id"] for t in first["trades"]] == [5000, 5001, 5002]  # oldest first
    assert [t["timestamp"] for t in first["trades"]] == [1764100000.0, 1764100001.0, 1764100002.0]
    assert none == {"exchange": "binance", "symbol": "NO/PE", "trades": []}
    assert missing == failed("INVALID_PARAMS", "exchange and symbol parameters required")


# ohlcv -------------------------------------------------------------------------------------


def test_get_latest_ohlcv_bars(ws) -> None:
    series = {"symbol": "BTC/USDT", "timeframe": "1m"}
    with ws.websocket_connect("/ws/ohlcv/c1") as s:
        latest = result(ask(s, "get_latest_ohlcv_bars", series), "get_latest_ohlcv_bars")
        three = result(
            ask(s, "get_latest_ohlcv_bars", {**series, "count": 3}), "get_latest_ohlcv_bars"
        )
        every = result(
            ask(s, "get_latest_ohlcv_bars", {**series, "count": 0}), "get_latest_ohlcv_bars"
        )
        gone = ask(s, "get_latest_ohlcv_bars", {"symbol": "BTC/USDT", "timeframe": "5m"})
        bad = ask(s, "get_latest_ohlcv_bars", {**series, "count": "x"})
        missing = ask(s, "get_latest_ohlcv_bars", {"symbol": "BTC/USDT"})
    assert latest["symbol"] == "BTC/USDT" and latest["timeframe"] == "1m"
    assert len(latest["bars"]) == 10 and len(every["bars"]) == 20
    assert three["bars"] == [
        [1764099820000.0, 117.0, 118.0, 116.0, 117.5, 20.0],
        [1764099880000.0, 118.0, 119.0, 117.0, 118.5, 21.0],
        [1764099940000.0, 119.0, 120.0, 118.0, 119.5, 22.0],
    ]
    assert every["bars"][0] == [1764098800000.0, 100.0, 101.0, 99.0, 100.5, 3.0]
    assert gone == not_found(
        "get_latest_ohlcv_bars", "OHLCV_NOT_FOUND", "OHLCV data not found for BTC/USDT 5m"
    )
    assert bad == failed("INVALID_PARAMS", "parameter 'count' must be an integer from 0 to 10000")
    assert missing == failed("INVALID_PARAMS", "symbol and timeframe parameters required")


# whole collections: the REST readers' pages -------------------------------------------------

MANY = 2500
TICK = json.dumps({"price": 1.0, "bid": 0.5, "ask": 1.5, "volume": 2.0, "time": 1764100000.0})


def within_batches(commands: list[list[str]]) -> bool:
    """No hash read whole past 1000 fields (HSCAN 1000 at a time), no LRANGE window past 1000."""
    for command in commands:
        name = command[0].upper()
        if name == "HSCAN" and command[3:] != ["COUNT", "1000"]:
            return False
        if name == "LRANGE" and int(command[3]) - int(command[2]) >= 1000:
            return False
        if name == "HGETALL" and command[1] in ("tickers:many", "bot_status", "account_positions"):
            return False
    return True


def test_whole_collections_are_read_page_by_page(settings, clock, admin, redis_server) -> None:
    """Past 1000 items, get_all_tickers, get_bots, get_positions of every account and get_trades
    follow the REST readers: big hashes in HSCAN batches of 1000, lists in LRANGE windows of at
    most 1000 (the local cache off, so that every read reaches Redis); every item is answered."""
    admin.hset("tickers:many", mapping={f"S{i:05d}/USDT": TICK for i in range(MANY)})
    feeds = json.dumps({"feed": {"status": "running"}})
    admin.hset("bot_status", mapping={str(1000 + i): feeds for i in range(MANY)})
    position = json.dumps({"M/USDT": {"volume": 1.0, "price": 2.0}})
    admin.hset("account_positions", mapping={str(1000 + i): position for i in range(MANY)})
    trades = [json.dumps({"trade_id": i, "price": 1.0, "time": 1764100000.0}) for i in range(MANY)]
    admin.rpush("trades:many:MUSDT", *trades)
    client = TestClient(create_app(dataclasses.replace(settings, local_cache=False), clock=clock))
    with Monitor(redis_server.port) as seen:
        with client.websocket_connect("/ws/tickers/c1") as s:
            tickers = result(ask(s, "get_all_tickers", {"exchange": "many"}), "get_all_tickers")
        with client.websocket_connect("/ws/bots/c1") as s:
            bots = result(ask(s, "get_bots"), "get_bots")
        with client.websocket_connect("/ws/accounts/c1") as s:
            positions = result(ask(s, "get_positions", {"user_id": 1}), "get_positions")
        with client.websocket_connect("/ws/trades/c1") as s:
            listed = result(
                ask(s, "get_trades", {"exchange": "many", "symbol": "M/USDT"}), "get_trades"
            )
    assert len({t["symbol"] for t in tickers["tickers"]}) == MANY
    assert len(bots["bots"]) >= MANY
    assert positions["count"] >= MANY
    assert [t["trade_id"] for t in listed["trades"]] == list(range(MANY))  # oldest first
    assert {"HSCAN", "LRANGE"} <= {c[0].upper() for c in seen.commands}
    assert within_batches(seen.commands), seen.commands


# process -----------------------------------------------------------------------------------


def test_get_system_health_reads_the_processes(ws, clock) -> None:
    clock.now = GENERATED_AT + 30
    with ws.websocket_connect("/ws/process/c1") as s:
        got = result(ask(s, "get_system_health"), "get_system_health")
    assert got == {  # what fullon_cache's own get_system_health() returned on this data
        "healthy": False,
        "total_processes": 4,
        "by_type": {"bot": 1, "tick": 3},
        "by_status": {"error": 1, "running": 3},
        "stale_processes": 0,
        "error_processes": 1,
    }


def test_get_active_processes_has_real_values(ws, clock) -> None:
    clock.now = GENERATED_AT + 30
    with ws.websocket_connect("/ws/process/c1") as s:
        every = result(ask(s, "get_active_processes"), "get_active_processes")
        ticks = result(
            ask(s, "get_active_processes", {"process_type": "tick"}), "get_active_processes"
        )
        one = result(
            ask(s, "get_active_processes", {"component": "bot_41", "since_minutes": 10}),
            "get_active_processes",
        )
        bad = ask(s, "get_active_processes", {"since_minutes": "soon"})
    clock.now = GENERATED_AT + 3600
    with ws.websocket_connect("/ws/process/c1") as s:
        later = result(ask(s, "get_active_processes"), "get_active_processes")
    assert len(every["processes"]) == 4 and len(ticks["processes"]) == 3
    assert one == {
        "processes": [
            {
                "process_id": "bot:bot_41:1795668783.611727",
                "name": "bot_41",
                "status": "error",
                "pid": None,
                "last_seen": 1795668783.612656,
            }
        ]
    }
    assert bad == failed("INVALID_PARAMS", "parameter 'since_minutes' must be a positive number")
    assert later == {"processes": []}  # none updated in the last 5 minutes


# every socket: frames that are not requests ------------------------------------------------

DOMAIN_PATHS = [s.path.replace("{connection_id}", "c1") for s in SOCKETS if s.tag != "gateway"]


@pytest.mark.parametrize("path", DOMAIN_PATHS)
def test_bad_frames_are_answered_and_the_socket_stays_open(ws, path) -> None:
    malformed = failed("MALFORMED_MESSAGE", "Malformed JSON message", None)
    with ws.websocket_connect(path) as s:
        for text in ("not json", "[1, 2]", "5", "null", '"text"', "{"):
            s.send_text(text)
            assert s.receive_json() == malformed
        s.send_bytes(b"\xff\xfe")
        assert s.receive_json() == malformed
        s.send_text(json.dumps({"request_id": 5}))
        assert s.receive_json() == failed(
            "INVALID_OPERATION", "Operation 'None' not implemented", 5
        )
        assert ask(s, "ping", request_id={"any": "json"}) == failed(
            "INVALID_OPERATION", "Operation 'ping' not implemented", {"any": "json"}
        )
        assert ask(s, "get_ticker", [1]) == failed("INVALID_PARAMS", "params must be an object")
        s.send_text(json.dumps({"action": "x", "request_id": "big", "pad": "x" * 70_000}))
        assert s.receive_json() == failed(
            "MALFORMED_MESSAGE", "Message too large (at most 65536 bytes)", None
        )
        s.send_text(json.dumps({"action": "x", "request_id": "still open"}))
        assert s.receive_json() == failed(
            "INVALID_OPERATION", "Operation 'x' not implemented", "still open"
        )


def test_wrong_typed_params_are_invalid_params(ws) -> None:
    with ws.websocket_connect("/ws/tickers/c1") as s:
        for params, error in (
            ({"exchange": ["binance"], "symbol": "BTC/USDT"}, "parameter 'exchange' must be"),
            ({"exchange": "binance", "symbol": "BTC/*"}, "parameter 'symbol' must be"),
            ({"exchange": "binance", "symbols": "BTC/USDT"}, "parameter 'symbols' must be a list"),
            ({"exchange": True, "symbols": []}, "parameter 'exchange' must be"),
        ):
            action = "stream_tickers" if "symbols" in params else "get_ticker"
            reply = ask(s, action, params)
            assert reply["error_code"] == "INVALID_PARAMS" and "action" not in reply
            assert reply["error"].startswith(error), reply
        params = {"exchange": "binance", "symbol": "BTC/USDT"}
        assert result(ask(s, "get_ticker", params), "get_ticker") == BTC


# /ws: the gateway --------------------------------------------------------------------------


def gateway_ok(reply: dict[str, Any], request_id: Any, now: float) -> Any:
    assert list(reply) == [
        "request_id",
        "success",
        "result",
        "error",
        "error_code",
        "timestamp",
        "latency_ms",
    ]
    assert (reply["request_id"], reply["success"], reply["error"], reply["error_code"]) == (
        request_id,
        True,
        None,
        None,
    )
    assert reply["timestamp"] == now and reply["latency_ms"] >= 0
    return reply["result"]


def gateway_error(code: str, error: str, request_id: Any, now: float) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "error": error,
        "error_code": code,
        "timestamp": now,
        "details": None,
    }


def send(session: Any, frame: dict[str, Any]) -> dict[str, Any]:
    session.send_text(json.dumps(frame))
    reply: dict[str, Any] = session.receive_json()
    return reply


def test_gateway_ping_and_health_check(ws, clock) -> None:
    with ws.websocket_connect("/ws") as s:
        pong = send(s, {"operation": "ping", "request_id": "p1"})
        anonymous = send(s, {"operation": "ping"})
        health = send(s, {"operation": "health_check", "request_id": "h1", "params": {}})
    assert gateway_ok(pong, "p1", clock.now) == {"status": "ok"}
    assert len(anonymous["request_id"]) == 36 and anonymous["result"] == {"status": "ok"}
    assert gateway_ok(health, "h1", clock.now) == {
        "websocket": {
            "status": "healthy",
            "framework": "starlette",
            "transport": "websocket",
            "timestamp": None,
            "services": {},
        },
        "cache": {"status": "healthy", "timestamp": None, "services": {}},
    }


def test_gateway_health_check_reads_redis(clock) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(Settings(redis_url=url, connect_timeout=0.2), clock=clock)
    with TestClient(app).websocket_connect("/ws") as s:
        health = send(s, {"operation": "health_check", "request_id": "h1"})
    assert health["result"]["cache"]["status"] == "unhealthy"
    assert health["result"]["websocket"]["status"] == "healthy"


def test_gateway_answers_every_domain_action_under_its_operation_name(ws, clock) -> None:
    now = clock.now
    with ws.websocket_connect("/ws") as s:
        ticker = send(
            s,
            {
                "operation": "get_ticker",
                "request_id": "g1",
                "params": {"exchange": "binance", "symbol": "BTC/USDT"},
            },
        )
        balance = send(
            s,
            {
                "operation": "get_user_balances",
                "request_id": "g2",
                "params": {"user_id": 1, "currency": "USDT"},
            },
        )
        positions = send(
            s, {"operation": "get_user_positions", "request_id": "g3", "params": {"exchange": "1"}}
        )
        missing = send(
            s, {"operation": "get_ticker", "request_id": "g4", "params": {"exchange": "kraken"}}
        )
        gone = send(
            s,
            {
                "operation": "get_bot_status",
                "request_id": "g5",
                "params": {"bot_id": "77"},
            },
        )
    assert gateway_ok(ticker, "g1", now) == BTC
    assert gateway_ok(balance, "g2", now)["reserved_balance"] == 800.0
    assert gateway_ok(positions, "g3", now)["positions"] == POSITIONS_1
    assert missing == gateway_error(
        "INVALID_PARAMS", "exchange and symbol parameters required", "g4", now
    )
    assert gone == gateway_error("BOT_NOT_FOUND", "Bot 77 not found", "g5", now)


def test_gateway_refuses_what_v026_refused_with_its_texts(ws, clock) -> None:
    now = clock.now
    with ws.websocket_connect("/ws") as s:
        unknown = send(s, {"operation": "nope", "request_id": "x1"})
        no_operation = send(s, {"action": "ping"})
        wrong_types = send(
            s, {"operation": "ping", "request_id": 7, "params": [], "timestamp": "x"}
        )
        not_implemented = send(s, {"operation": "get_account_status", "request_id": "x2"})
        s.send_text("not json")
        malformed = s.receive_json()
        s.send_text("[1]")
        not_object = s.receive_json()
        still_open = send(s, {"operation": "ping", "request_id": "x3"})
    assert unknown == gateway_error(
        "INVALID_OPERATION",
        "1 validation error for CacheRequest\noperation\n"
        "  Value error, Invalid FastAPI WebSocket operation: nope",
        "x1",
        now,
    )
    assert no_operation == gateway_error(
        "INVALID_OPERATION",
        "1 validation error for CacheRequest\noperation\n  Field required",
        None,
        now,
    )
    assert wrong_types["request_id"] == 7 and wrong_types["error_code"] == "INVALID_OPERATION"
    assert wrong_types["error"].splitlines() == [
        "3 validation errors for CacheRequest",
        "request_id",
        "  Input should be a valid string",
        "params",
        "  Input should be a valid dictionary",
        "timestamp",
        "  Input should be a valid number",
    ]
    assert not_implemented == gateway_error(
        "INVALID_OPERATION", "Operation 'get_account_status' not implemented", "x2", now
    )
    assert (
        malformed
        == not_object
        == gateway_error("MALFORMED_MESSAGE", "Malformed JSON message", None, now)
    )
    assert gateway_ok(still_open, "x3", now) == {"status": "ok"}


# authorization of every action -------------------------------------------------------------


def test_authorize_sees_the_ids_each_action_reads_by(settings, clock) -> None:
    seen: list[Resource] = []

    async def authorize(connection, resource: Resource) -> bool:
        seen.append(resource)
        return resource.ex_id != "2"

    app = create_app(settings, clock=clock, authorize=authorize)
    with TestClient(app).websocket_connect("/ws/accounts/c1") as s:
        allowed = ask(s, "get_balance", {"user_id": 1, "currency": "USDT"})
        refused = ask(s, "get_balance", {"user_id": 2, "currency": "USDT"})
        every = ask(s, "get_positions", {"user_id": 7})
    with TestClient(app).websocket_connect("/ws/bots/c1") as s:
        ask(s, "get_bot_status", {"bot_id": 41})
        ask(s, "is_blocked", {"exchange": "binance", "symbol": "BTC/USDT"})
    assert allowed["success"] is True
    assert refused == failed("FORBIDDEN", "not allowed to read this resource")
    assert every["success"] is True
    assert seen == [
        Resource(route="/ws/accounts/{connection_id}#get_balance", ex_id="1"),
        Resource(route="/ws/accounts/{connection_id}#get_balance", ex_id="2"),
        Resource(route="/ws/accounts/{connection_id}#get_positions"),  # across accounts: no id
        Resource(route="/ws/bots/{connection_id}#get_bot_status", bot_id="41"),
        Resource(route="/ws/bots/{connection_id}#is_blocked"),  # an exchange name is no ex_id
    ]


def test_a_failing_hook_is_internal_error_without_detail(settings, clock) -> None:
    async def authorize(connection, resource: Resource) -> bool:
        raise RuntimeError("secret detail")

    app = create_app(settings, clock=clock, authorize=authorize)
    with TestClient(app).websocket_connect("/ws/orders/c1") as s:
        reply = ask(s, "get_queue_length", {"exchange": "binance"})
        again = ask(s, "get_queue_length", {"exchange": "binance"})
    assert reply == again == failed("INTERNAL_ERROR", "Internal server error")


def test_several_sockets_one_after_another_on_one_app(settings) -> None:
    """As hosts test: one app, a TestClient without ``with``, a fresh event loop per socket."""
    app = create_app(settings, clock=Clock(WRITTEN_AT))
    client = TestClient(app)
    for index in range(3):
        with client.websocket_connect(f"/ws/tickers/c{index}") as s:
            params = {"exchange": "binance", "symbol": "BTC/USDT"}
            assert result(ask(s, "get_ticker", params), "get_ticker") == BTC
    assert client.get("/tickers/binance/BTC/USDT").json()["price"] == 300.0
