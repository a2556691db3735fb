"""Trade endpoints against the snapshot, and the trade quirks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from budgets import LLEN_LRANGE, Case, fill_trades
from support import (
    GENERATED_AT,
    WRITTEN_AT,
    Clock,
    expect,
    snapshot_keys,
    snapshot_value,
    stored_id,
)

pytestmark = pytest.mark.usefixtures("snapshot")

ID_FIELDS = ("trade_id", "ex_trade_id", "ex_order_id", "uid", "ex_id")  # answered as text
TRADE_FIELDS = (  # answered as stored
    "symbol",
    "order_type",
    "side",
    "volume",
    "price",
    "cost",
    "fee",
    "cur_volume",
    "cur_avg_price",
    "cur_avg_cost",
    "cur_fee",
    "roi",
    "roi_pct",
    "total_fee",
    "leverage",
)


def moment(value: str | float) -> datetime:
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def rfc3339(value: str | float) -> str:
    return moment(value).astimezone(UTC).isoformat().replace("+00:00", "Z")


def expected_trade(trade: dict[str, Any]) -> dict[str, Any]:
    out = {name: stored_id(trade.get(name)) for name in ID_FIELDS}
    out.update({name: trade.get(name) for name in TRADE_FIELDS})
    out["time"] = rfc3339(trade["time"])
    return out


def stored_trade_lists() -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(exchange, symbol_key, stored trades oldest first) for every trades list, API order."""
    rows = []
    for key in snapshot_keys("trades:"):
        exchange, symbol_key = key.removeprefix("trades:").split(":", 1)
        rows.append((exchange, symbol_key, [json.loads(t) for t in snapshot_value(key)]))
    return sorted(rows, key=lambda row: (row[0], row[1]))


def stored_user_lists() -> list[tuple[str, str, list[dict[str, Any]]]]:
    rows = []
    for key in snapshot_keys("user_trades:"):
        uid, exchange = key.removeprefix("user_trades:").split(":", 1)
        rows.append((uid, exchange, [json.loads(t) for t in snapshot_value(key)]))
    return sorted(rows, key=lambda row: (row[0], row[1]))


def stored_statuses() -> list[tuple[str, str, str]]:
    """(kind, key suffix, stored ISO) for every trade status, API order."""
    rows = [("trade", k.removeprefix("TRADE:STATUS:"), k) for k in snapshot_keys("TRADE:STATUS:")]
    rows += [
        ("user_trade", k.removeprefix("USER_TRADE:STATUS:"), k)
        for k in snapshot_keys("USER_TRADE:STATUS:")
    ]
    return sorted((kind, name, snapshot_value(key)) for kind, name, key in rows)


def trade_payload(trade_id: int | float | str, time: Any, **fields: Any) -> str:
    """A trade as fullon_cache's push_trade / push_user_trade stores it."""
    trade = {name: None for name in (*ID_FIELDS, *TRADE_FIELDS)}
    trade.update(
        trade_id=trade_id,
        ex_trade_id=f"T-{trade_id}",
        ex_order_id=f"O-{trade_id}",
        uid=7,
        ex_id=1,
        symbol="XRP/USDT",
        order_type="market",
        side="buy",
        volume=1.5,
        price=0.5,
        cost=0.75,
        fee=0.001,
        time=time,
    )
    trade.update(fields)
    return json.dumps(trade)


def test_snapshot_trades_cover_three_exchanges_and_both_time_forms() -> None:
    lists = stored_trade_lists()
    assert [(e, s) for e, s, _ in lists] == [
        ("binance", "BTCUSDT"),
        ("binance", "ETHUSDT"),
        ("hyperliquid", "BTCUSDC:USDC"),
        ("kraken", "BTCUSD"),
        ("kraken", "ETHUSD"),
    ]
    assert isinstance(lists[0][2][0]["time"], str)
    assert isinstance(stored_user_lists()[0][2][0]["time"], float)
    # Trade payload times are around written_at.
    assert abs(moment(lists[0][2][0]["time"]).timestamp() - WRITTEN_AT) < 3600


async def test_trade_lists_with_their_exchange_status(client) -> None:
    expected = [
        {
            "exchange": exchange,
            "symbol_key": symbol_key,
            "length": len(trades),
            "status_updated_at": rfc3339(snapshot_value(f"TRADE:STATUS:{exchange}")),
        }
        for exchange, symbol_key, trades in stored_trade_lists()
    ]
    response = await client.get("/trades")
    assert expect(response) == {"items": expected, "count": 5}
    assert response.headers["cache-control"] == "no-store"


async def test_every_symbol_newest_first(client) -> None:
    for exchange, symbol_key, trades in stored_trade_lists():
        symbol = trades[0]["symbol"]  # stored with "/": the key has it removed
        assert symbol.replace("/", "") == symbol_key
        expected = [expected_trade(t) for t in reversed(trades)]
        body = expect(await client.get(f"/trades/{exchange}/{symbol}"))
        assert body == {
            "exchange": exchange,
            "symbol": symbol,
            "items": expected,
            "count": len(trades),
        }
        body = expect(await client.get(f"/trades/{exchange}/{symbol}", params={"limit": "2"}))
        assert body["items"] == expected[:2]
        assert [t["trade_id"] for t in body["items"]] == ["5002", "5001"]


async def test_symbol_with_colon_and_encoded_slash(client) -> None:
    trades = [json.loads(t) for t in snapshot_value("trades:hyperliquid:BTCUSDC:USDC")]
    expected = [expected_trade(t) for t in reversed(trades)]
    body = expect(await client.get("/trades/hyperliquid/BTC/USDC:USDC"))
    assert body["symbol"] == "BTC/USDC:USDC" and body["items"] == expected
    body = expect(await client.get("/trades/hyperliquid/BTC%2FUSDC%3AUSDC"))
    assert body["symbol"] == "BTC/USDC:USDC" and body["items"] == expected


async def test_absent_trade_list_is_empty(client) -> None:
    body = expect(await client.get("/trades/binance/DOGE/USDT"))
    assert body == {"exchange": "binance", "symbol": "DOGE/USDT", "items": [], "count": 0}
    body = expect(await client.get("/trades/bitmex/BTC/USDT"))
    assert body["count"] == 0


async def test_statuses_with_ages(client, clock: Clock) -> None:
    clock.now = GENERATED_AT
    expected = [
        {
            "kind": kind,
            "key": name,
            "updated_at": rfc3339(value),
            "age_s": round(GENERATED_AT - moment(value).timestamp(), 3),
        }
        for kind, name, value in stored_statuses()
    ]
    body = expect(await client.get("/trades/status"))
    assert body == {"items": expected, "count": 6}
    assert [(i["kind"], i["key"]) for i in body["items"]][2:4] == [
        ("trade", "kraken"),
        ("user_trade", "binance"),
    ]
    assert all(0 <= i["age_s"] < 1 for i in body["items"])  # status times are GENERATED_AT's


async def test_metrics(client, clock: Clock) -> None:
    clock.now = GENERATED_AT + 10
    ages = [round(clock.now - moment(v).timestamp(), 3) for _, _, v in stored_statuses()]
    body = expect(await client.get("/trades/metrics"))
    assert body == {
        "lists": len(stored_trade_lists()),
        "trades": sum(len(t) for _, _, t in stored_trade_lists()),
        "user_trade_lists": len(stored_user_lists()),
        "user_trades": sum(len(t) for _, _, t in stored_user_lists()),
        "oldest_status_age_s": max(ages),
        "newest_status_age_s": min(ages),
    }
    assert body["trades"] == 15 and body["oldest_status_age_s"] > body["newest_status_age_s"]


async def test_everything_absent(client, admin) -> None:
    admin.flushdb()
    assert expect(await client.get("/trades")) == {"items": [], "count": 0}
    assert expect(await client.get("/trades/status")) == {"items": [], "count": 0}
    assert expect(await client.get("/trades/metrics")) == {
        "lists": 0,
        "trades": 0,
        "user_trade_lists": 0,
        "user_trades": 0,
        "oldest_status_age_s": None,
        "newest_status_age_s": None,
    }
    assert expect(await client.get("/trades/users/7")) == {"uid": "7", "items": [], "count": 0}


async def test_user_trade_lists(client, admin) -> None:
    admin.rpush("user_trades:77:binance", trade_payload(1, WRITTEN_AT))
    admin.rpush("user_trades:7:bybit:spot", trade_payload(2, WRITTEN_AT))
    expected = [
        {"exchange": exchange, "length": len(trades)}
        for uid, exchange, trades in stored_user_lists()
        if uid == "7"
    ]
    expected.insert(1, {"exchange": "bybit:spot", "length": 1})
    body = expect(await client.get("/trades/users/7"))
    assert body == {"uid": "7", "items": expected, "count": 4}
    body = expect(await client.get("/trades/users/77"))
    assert body == {"uid": "77", "items": [{"exchange": "binance", "length": 1}], "count": 1}
    assert expect(await client.get("/trades/users/8")) == {"uid": "8", "items": [], "count": 0}


async def test_every_user_trade_list_newest_first(client, admin) -> None:
    for uid, exchange, trades in stored_user_lists():
        expected = [expected_trade(t) for t in reversed(trades)]
        body = expect(await client.get(f"/trades/users/{uid}/{exchange}"))
        assert body == {"uid": uid, "exchange": exchange, "items": expected, "count": len(trades)}
        assert body["items"][0]["time"] == rfc3339(WRITTEN_AT)
    admin.rpush("user_trades:7:binance", trade_payload(9001, WRITTEN_AT + 5))
    body = expect(await client.get("/trades/users/7/binance", params={"limit": "1"}))
    assert [t["trade_id"] for t in body["items"]] == ["9001"]
    body = expect(await client.get("/trades/users/7/binance"))
    assert [t["trade_id"] for t in body["items"]] == ["9001", "9000"]
    body = expect(await client.get("/trades/users/7/bitmex"))
    assert body == {"uid": "7", "exchange": "bitmex", "items": [], "count": 0}


async def test_trade_time_iso_and_epoch_float(client, admin) -> None:
    admin.rpush(
        "trades:binance:XRPUSDT",
        trade_payload(1, "2025-11-25T19:46:40+00:00"),
        trade_payload(2, WRITTEN_AT + 0.25),
        trade_payload(3, "2025-11-25 19:46:45"),
        trade_payload(4, 1764100010),
    )
    body = expect(await client.get("/trades/binance/XRP/USDT"))
    assert [(t["trade_id"], t["time"]) for t in body["items"]] == [
        ("4", "2025-11-25T19:46:50Z"),
        ("3", "2025-11-25T19:46:45Z"),
        ("2", "2025-11-25T19:46:40.250000Z"),
        ("1", "2025-11-25T19:46:40Z"),
    ]
    assert body["items"][0] == expected_trade(json.loads(trade_payload(4, 1764100010)))


async def test_trade_ids_are_strings_whether_stored_as_numbers_or_strings(client, admin) -> None:
    ids = {"ex_trade_id": 55, "ex_order_id": 66, "uid": 7, "ex_id": 3}
    admin.rpush(
        "user_trades:7:bitmex",
        trade_payload(9000, WRITTEN_AT, **ids),
        trade_payload("9000", WRITTEN_AT, **{name: str(v) for name, v in ids.items()}),
        trade_payload(9000.0, WRITTEN_AT, **{name: float(v) for name, v in ids.items()}),
    )
    body = expect(await client.get("/trades/users/7/bitmex"))
    expected = {
        "trade_id": "9000",
        "ex_trade_id": "55",
        "ex_order_id": "66",
        "uid": "7",
        "ex_id": "3",
    }
    assert body["count"] == 3 and "skipped" not in body
    for trade in body["items"]:
        assert {name: trade[name] for name in ID_FIELDS} == expected


async def test_nan_and_infinity_in_a_trade_become_null(client, admin) -> None:
    admin.rpush(
        "trades:binance:XRPUSDT",
        '{"trade_id": 1, "price": NaN, "volume": Infinity, "roi": -Infinity, "cost": "2.5",'
        ' "time": 1764100000.0, "extra": {"x": 1}}',
    )
    admin.rpush("user_trades:7:kraken", '{"trade_id": 2, "fee": NaN, "time": "nope"}')
    body = expect(await client.get("/trades/binance/XRP/USDT"))
    (trade,) = body["items"]
    assert trade["price"] is None and trade["volume"] is None and trade["roi"] is None
    assert trade["cost"] == 2.5 and trade["time"] == rfc3339(WRITTEN_AT)
    body = expect(await client.get("/trades/users/7/kraken"))
    assert body["items"][0]["fee"] is None and body["items"][0]["time"] is None
    assert body["count"] == 2


async def test_corrupt_trade_is_skipped_and_logged(client, admin, caplog) -> None:
    admin.rpush("trades:binance:BTCUSDT", "{not json")
    admin.rpush("user_trades:7:binance", "[1, 2]")
    body = expect(await client.get("/trades/binance/BTC/USDT"))
    assert body["count"] == 3 and body["skipped"] == 1
    assert [t["trade_id"] for t in body["items"]] == ["5002", "5001", "5000"]
    assert "trades:binance:BTCUSDT" in caplog.text
    body = expect(await client.get("/trades/binance/BTC/USDT", params={"limit": "2"}))
    assert body["count"] == 1 and body["skipped"] == 1  # the window held the corrupt one
    body = expect(await client.get("/trades/users/7/binance"))
    assert body["count"] == 1 and body["skipped"] == 1
    assert "user_trades:7:binance" in caplog.text
    # The listing only counts elements: the corrupt one is held, so it is counted.
    listing = expect(await client.get("/trades"))
    assert listing["items"][0]["length"] == 4


async def test_status_quirks(client, admin, clock: Clock) -> None:
    clock.now = GENERATED_AT
    admin.set("TRADE:STATUS:weird", "not a time")
    admin.set("USER_TRADE:STATUS:7:binance", "2026-11-26 04:53:00")
    admin.rpush("trades:nostatus:ABCUSDT", trade_payload(1, WRITTEN_AT))
    body = expect(await client.get("/trades/status"))
    rows = {(i["kind"], i["key"]): i for i in body["items"]}
    assert rows[("trade", "weird")] == {
        "kind": "trade",
        "key": "weird",
        "updated_at": None,
        "age_s": None,
    }
    assert rows[("user_trade", "7:binance")]["updated_at"] == "2026-11-26T04:53:00Z"
    assert rows[("user_trade", "7:binance")]["age_s"] == round(
        GENERATED_AT - moment("2026-11-26T04:53:00+00:00").timestamp(), 3
    )
    listing = expect(await client.get("/trades"))
    nostatus = [i for i in listing["items"] if i["exchange"] == "nostatus"]
    assert nostatus == [
        {"exchange": "nostatus", "symbol_key": "ABCUSDT", "length": 1, "status_updated_at": None}
    ]
    metrics = expect(await client.get("/trades/metrics"))
    assert metrics["oldest_status_age_s"] == rows[("user_trade", "7:binance")]["age_s"]


async def test_exchange_ends_at_the_first_colon(client, admin) -> None:
    admin.rpush("trades:kraken2:BTCUSD", trade_payload(1, WRITTEN_AT))
    admin.rpush("trades:nocolon", trade_payload(2, WRITTEN_AT))  # not a trades list name
    body = expect(await client.get("/trades"))
    keys = [(i["exchange"], i["symbol_key"]) for i in body["items"]]
    assert keys[-3:] == [("kraken", "BTCUSD"), ("kraken", "ETHUSD"), ("kraken2", "BTCUSD")]
    assert "nocolon" not in {i["exchange"] for i in body["items"]}
    assert expect(await client.get("/trades/metrics"))["lists"] == 6


async def test_reading_leaves_every_list_unchanged(client, admin) -> None:
    admin.rpush("new_orders:local-x", "A", "B", "C")

    def lists() -> dict[str, list[str]]:
        found = {}
        for pattern in ("trades:*", "user_trades:*", "new_orders:*"):
            for key in admin.scan_iter(match=pattern):
                found[key] = admin.lrange(key, 0, -1)
        return found

    before = lists()
    lengths = {key: admin.llen(key) for key in before}
    assert len(before) == 5 + 3 + 4 and all(lengths.values())
    paths = [
        "/trades",
        "/trades/status",
        "/trades/metrics",
        "/trades/users/7",
        "/orders/queues",
        "/orders",
    ]
    paths += [f"/trades/users/{u}/{e}" for u, e, _ in stored_user_lists()]
    paths += [f"/trades/{e}/{t[0]['symbol']}" for e, _, t in stored_trade_lists()]
    paths += [f"/orders/queues/{key.split(':', 1)[1]}" for key in before if "new_orders" in key]
    for path in paths:
        expect(await client.get(path, params={"limit": "1"} if "/users/7/" in path else None))
        expect(await client.get(path))
    assert {key: admin.llen(key) for key in before} == lengths
    assert lists() == before


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/trades/*/BTC/USDT", {}, "exchange"),
        ("/trades/bin%3F/BTC/USDT", {}, "exchange"),
        ("/trades/binance/BTC*", {}, "symbol"),
        ("/trades/binance/B%3FC", {}, "symbol"),
        ("/trades/binance/[BTC]", {}, "symbol"),
        ("/trades/binance/" + "S" * 129, {}, "symbol"),
        ("/trades/binance/BTC/USDT", {"limit": "0"}, "limit"),
        ("/trades/binance/BTC/USDT", {"limit": "1001"}, "limit"),
        ("/trades/binance/BTC/USDT", {"limit": "abc"}, "limit"),
        ("/trades/users/7a", {}, "uid"),
        ("/trades/users/*", {}, "uid"),
        ("/trades/users/" + "1" * 21, {}, "uid"),
        ("/trades/users/7*/binance", {}, "uid"),
        ("/trades/users/7/bin*", {}, "exchange"),
        ("/trades/users/7/binance", {"limit": "0"}, "limit"),
        ("/trades/users/7/binance", {"limit": "1001"}, "limit"),
        ("/trades/users/7/binance", {"limit": "x"}, "limit"),
    ],
)
async def test_bad_input_is_400_naming_the_parameter(client, path, params, name) -> None:
    body = expect(await client.get(path, params=params), 400)
    assert body["error"]["code"] == "bad_request"
    assert f"'{name}'" in body["error"]["message"]


async def test_fixed_words_win(client) -> None:
    assert "items" in expect(await client.get("/trades/status/"))
    assert "lists" in expect(await client.get("/trades/metrics"))
    assert expect(await client.get("/trades/users/7"))["uid"] == "7"


# Redis budgets -----------------------------------------------------------------------------------

BUDGETS: tuple[Case, ...] = (
    # the lists' lengths, then their exchanges' statuses
    Case("/trades", "/trades", fill_trades, {}, {"llen": 1, "get": 1}, trips=2),
    Case("/trades/status", "/trades/status", fill_trades, {}, {"get": 2}, trips=1),
    Case(
        "/trades/metrics",
        "/trades/metrics",
        fill_trades,
        {},
        {"llen": 2, "get": 2},
        trips=3,
    ),
    Case("/trades/users/{uid}", "/trades/users/7", fill_trades, {}, {"llen": 1}, trips=1),
    Case(
        "/trades/users/{uid}/{exchange}",
        "/trades/users/7/ex0?limit=1000",
        fill_trades,
        LLEN_LRANGE,
        trips=1,
    ),
    Case(
        "/trades/{exchange}/{symbol:path}",
        "/trades/ex0/BTC/USDT?limit=1000",
        fill_trades,
        LLEN_LRANGE,
        trips=1,
    ),
)
"""The trade routes' Redis budgets (tests/test_budgets.py measures them)."""
