"""Order endpoints against the snapshot, and the order quirks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from budgets import HGET, HLEN_HGETALL, Case, fill_orders
from support import expect, snapshot_keys, snapshot_value, stored_id

pytestmark = pytest.mark.usefixtures("snapshot")

ID_FIELDS = ("ex_order_id", "bot_id", "uid", "ex_id", "cat_ex_id")  # answered as text
ORDER_FIELDS = (  # answered as stored
    "symbol",
    "side",
    "order_type",
    "status",
    "volume",
    "final_volume",
    "price",
    "plimit",
    "command",
    "reason",
    "futures",
    "leverage",
    "tick",
)


def rfc3339(iso: str) -> str:
    moment = datetime.fromisoformat(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def stored_orders() -> list[tuple[str, str, dict[str, Any]]]:
    """(exchange, order id, stored order) for every order in the snapshot, API order."""
    rows = []
    for key in snapshot_keys("order_status:"):
        exchange = key.split(":", 1)[1]
        for order_id, raw in snapshot_value(key).items():
            rows.append((exchange, order_id, json.loads(raw)))
    return sorted(rows, key=lambda row: (row[0], row[1]))


def expected_order(exchange: str, order_id: str, order: dict[str, Any]) -> dict[str, Any]:
    out = {"order_id": order_id, "exchange": exchange}
    out.update({name: stored_id(order.get(name)) for name in ID_FIELDS})
    out.update({name: order.get(name) for name in ORDER_FIELDS})
    out["updated_at"] = rfc3339(order["timestamp"]) if order.get("timestamp") else None
    return out


def expected_listing(**filters: str) -> list[dict[str, Any]]:
    return [
        expected_order(e, i, o)
        for e, i, o in stored_orders()
        if all(str(o[name]) == value for name, value in filters.items())
    ]


def canceled_order(order_id: str, **fields: Any) -> str:
    """An order payload as fullon_cache's save_order_data writes it."""
    order = {
        "order_id": order_id,
        "ex_order_id": order_id,
        "bot_id": 40,
        "uid": 7,
        "ex_id": 1,
        "cat_ex_id": 1,
        "exchange": "binance",
        "symbol": "BTC/USDT",
        "order_type": "limit",
        "side": "buy",
        "volume": 0.5,
        "final_volume": None,
        "price": 310.5,
        "plimit": None,
        "tick": None,
        "futures": False,
        "leverage": 1.0,
        "command": "",
        "reason": "cancel",
        "timestamp": "2026-11-26T04:53:04+00:00",
        "status": "canceled",
    }
    order.update(fields)
    return json.dumps(order)


def test_snapshot_holds_orders_on_three_exchanges() -> None:
    rows = stored_orders()
    assert {row[0] for row in rows} == {"binance", "kraken", "hyperliquid"}
    assert len(rows) == 8


async def test_every_order_alone(client) -> None:
    for exchange, order_id, order in stored_orders():
        response = await client.get(f"/orders/{exchange}/{order_id}")
        assert expect(response) == expected_order(exchange, order_id, order)
        assert response.headers["cache-control"] == "no-store"


async def test_all_orders_by_exchange_then_order_id(client) -> None:
    expected = expected_listing()
    body = expect(await client.get("/orders"))
    assert body == {"items": expected, "count": 8}
    assert [(o["exchange"], o["order_id"]) for o in body["items"]][:4] == [
        ("binance", "BINANCE-00001"),
        ("binance", "BINANCE-00002"),
        ("binance", "BINANCE-00003"),
        ("hyperliquid", "HYPERLIQUID-00007"),
    ]


async def test_every_exchange_listing(client) -> None:
    for key in snapshot_keys("order_status:"):
        exchange = key.split(":", 1)[1]
        expected = [o for o in expected_listing() if o["exchange"] == exchange]
        body = expect(await client.get(f"/orders/{exchange}"))
        assert body == {"exchange": exchange, "items": expected, "count": len(expected)}
        assert body["count"] == len(snapshot_value(key))


@pytest.mark.parametrize(
    "filters",
    [
        {"status": "open"},
        {"status": "filled"},
        {"symbol": "BTC/USDT"},
        {"symbol": "BTC/USDC:USDC"},
        {"bot_id": "41"},
        {"uid": "7"},
        {"uid": "8"},
        {"status": "open", "bot_id": "40"},
        {"status": "canceled"},
    ],
)
async def test_filters(client, filters: dict[str, str]) -> None:
    expected = expected_listing(**filters)
    body = expect(await client.get("/orders", params=filters))
    assert body == {"items": expected, "count": len(expected)}
    kraken = [o for o in expected if o["exchange"] == "kraken"]
    body = expect(await client.get("/orders/kraken", params=filters))
    assert body == {"exchange": "kraken", "items": kraken, "count": len(kraken)}


async def test_filters_pick_something_and_exclude_something(client) -> None:
    # Guards the parametrised test above against filters that keep all or nothing.
    assert 0 < len(expected_listing(status="open")) < 8
    assert 0 < len(expected_listing(bot_id="41")) < 8
    assert expect(await client.get("/orders", params={"bot_id": "41"}))["count"] == 3


async def pages(client, path: str, **params: str) -> list[dict]:
    """Every page of a listing, following next_cursor."""
    bodies = []
    while True:
        body = expect(await client.get(path, params=params))
        bodies.append(body)
        if "next_cursor" not in body:
            return bodies
        params["cursor"] = body["next_cursor"]


async def test_limit_pages_the_stored_orders_and_filters_keep_some(client) -> None:
    """``limit`` orders are read a page, in listing order; filters keep some of each page.
    Following ``next_cursor`` gives every order exactly once."""
    every = await pages(client, "/orders", limit="2")
    assert [len(body["items"]) for body in every] == [2, 2, 2, 2]
    assert [o for body in every for o in body["items"]] == expected_listing()
    assert every[0] == {
        "items": expected_listing()[:2],
        "count": 2,
        "next_cursor": every[0]["next_cursor"],
    }
    opened = await pages(client, "/orders", status="open", limit="3")
    assert [o["order_id"] for o in opened[0]["items"]] == ["BINANCE-00001", "BINANCE-00003"]
    assert [o for body in opened for o in body["items"]] == expected_listing(status="open")
    kraken = await pages(client, "/orders/kraken", limit="1")
    assert [o["order_id"] for body in kraken for o in body["items"]] == [
        "KRAKEN-00004",
        "KRAKEN-00005",
        "KRAKEN-00006",
    ]


async def test_limit_default_is_100(client, admin) -> None:
    admin.hset("order_status:bulk", mapping={f"B-{i:04d}": canceled_order("x") for i in range(150)})
    body = expect(await client.get("/orders/bulk"))
    assert body["count"] == 100 and body["items"][-1]["order_id"] == "B-0099"
    assert expect(await client.get("/orders/bulk", params={"limit": "1000"}))["count"] == 150


async def test_queues_listing_and_heads(client) -> None:
    names = [key.split(":", 1)[1] for key in snapshot_keys("new_orders:")]
    assert names == ["local-binance", "local-hyperliquid", "local-kraken"]
    body = expect(await client.get("/orders/queues"))
    expected = [{"name": n, "length": len(snapshot_value(f"new_orders:{n}"))} for n in names]
    assert body == {"items": expected, "count": 3}
    for name in names:
        stored = snapshot_value(f"new_orders:{name}")
        body = expect(await client.get(f"/orders/queues/{name}"))
        assert body == {"name": name, "length": len(stored), "head": stored}


async def test_queue_head_is_limited_and_not_consumed(client, admin) -> None:
    ids = [f"ID-{i}" for i in range(5)]
    admin.rpush("new_orders:local-x", *ids)
    body = expect(await client.get("/orders/queues/local-x", params={"limit": "2"}))
    assert body == {
        "name": "local-x",
        "length": 5,
        "head": ["ID-0", "ID-1"],
        "next_cursor": body["next_cursor"],
    }
    heads = [b["head"] for b in await pages(client, "/orders/queues/local-x", limit="2")]
    assert heads == [["ID-0", "ID-1"], ["ID-2", "ID-3"], ["ID-4"]]
    body = expect(await client.get("/orders/queues/local-x"))
    assert body == {"name": "local-x", "length": 5, "head": ids}
    assert admin.lrange("new_orders:local-x", 0, -1) == ids


async def test_absent_queue_is_empty(client) -> None:
    body = expect(await client.get("/orders/queues/gone"))
    assert body == {"name": "gone", "length": 0, "head": []}


async def test_absent_order_hash_is_empty_and_a_hash_with_ttl_still_reads(client, admin) -> None:
    assert expect(await client.get("/orders/bitmex")) == {
        "exchange": "bitmex",
        "items": [],
        "count": 0,
    }
    body = expect(await client.get("/orders/bitmex/X-1"), 404)
    assert body["error"] == {
        "status": 404,
        "code": "not_found",
        "message": "no order X-1 on bitmex",
    }
    # save_order_data with status "canceled": HSET, then a 3600 s TTL on the WHOLE hash.
    admin.hset("order_status:binance", "BINANCE-00009", canceled_order("BINANCE-00009"))
    admin.expire("order_status:binance", 3600)
    assert admin.ttl("order_status:binance") > 0
    body = expect(await client.get("/orders/binance"))
    assert body["count"] == 4
    assert body["items"][-1]["status"] == "canceled"
    assert expect(await client.get("/orders/binance/BINANCE-00001"))["status"] == "open"
    # ...and when the TTL runs out, the exchange has no orders: still 200.
    admin.delete("order_status:binance")
    assert expect(await client.get("/orders/binance"))["items"] == []
    assert "binance" not in {o["exchange"] for o in expect(await client.get("/orders"))["items"]}
    admin.flushdb()
    assert expect(await client.get("/orders")) == {"items": [], "count": 0}


async def test_order_id_comes_from_the_hash_field_and_exchange_from_the_key(client, admin) -> None:
    admin.hset(
        "order_status:binance",
        "REAL-1",
        canceled_order("SOMETHING-ELSE", exchange="kraken", ex_order_id="EX-1", status="open"),
    )
    body = expect(await client.get("/orders/binance/REAL-1"))
    assert body["order_id"] == "REAL-1"
    assert body["ex_order_id"] == "EX-1"
    assert body["exchange"] == "binance"
    listing = expect(await client.get("/orders/binance"))
    assert "REAL-1" in [o["order_id"] for o in listing["items"]]
    assert "SOMETHING-ELSE" not in [o["order_id"] for o in listing["items"]]
    assert expect(await client.get("/orders/binance/SOMETHING-ELSE"), 404)


async def test_numeric_ex_id_key_reads_and_is_listed(client, admin) -> None:
    admin.hset("order_status:3", "HL-1", canceled_order("HL-1", exchange="hyperliquid", ex_id=3))
    expected = expected_order("3", "HL-1", json.loads(canceled_order("HL-1", ex_id=3)))
    expected["exchange"] = "3"
    assert expect(await client.get("/orders/3/HL-1")) == expected
    assert expect(await client.get("/orders/3")) == {
        "exchange": "3",
        "items": [expected],
        "count": 1,
    }
    body = expect(await client.get("/orders"))
    assert body["count"] == 9
    assert body["items"][0] == expected  # "3" sorts before "binance"


async def test_ids_are_compared_as_strings_of_the_stored_numbers(client, admin) -> None:
    admin.hset(
        "order_status:odd",
        mapping={
            "A": canceled_order("A", bot_id=41.0, uid="7"),
            "B": canceled_order("B", bot_id="41", uid=7),
            "C": canceled_order("C", bot_id=410, uid=77),
        },
    )
    body = expect(await client.get("/orders/odd", params={"bot_id": "41"}))
    assert [o["order_id"] for o in body["items"]] == ["A", "B"]
    # ... and answered as those strings.
    assert [(o["bot_id"], o["uid"]) for o in body["items"]] == [("41", "7"), ("41", "7")]
    body = expect(await client.get("/orders/odd", params={"uid": "7"}))
    assert [o["order_id"] for o in body["items"]] == ["A", "B"]


async def test_an_id_is_the_same_string_whether_stored_as_a_number_or_a_string(
    client, admin
) -> None:
    ids = {"ex_order_id": 123, "bot_id": 41, "uid": 7, "ex_id": 3, "cat_ex_id": 3}
    admin.hset(
        "order_status:mixed",
        mapping={
            "INT": canceled_order("INT", **ids),
            "STR": canceled_order("STR", **{name: str(value) for name, value in ids.items()}),
            "FLOAT": canceled_order("FLOAT", **{name: float(value) for name, value in ids.items()}),
        },
    )
    expected = {name: str(value) for name, value in ids.items()}
    for path in ("/orders/mixed", "/orders"):
        body = expect(await client.get(path, params={"limit": "1000"}))
        mixed = {o["order_id"]: o for o in body["items"] if o["exchange"] == "mixed"}
        assert list(mixed) == ["FLOAT", "INT", "STR"] and "skipped" not in body
        for order in mixed.values():
            assert {name: order[name] for name in ID_FIELDS} == expected
        # One listing, one type per id field: the snapshot's numeric ids are strings too.
        for name in ID_FIELDS:
            assert {type(o[name]) for o in body["items"]} <= {str, type(None)}, name
    for order_id in ("INT", "STR", "FLOAT"):
        body = expect(await client.get(f"/orders/mixed/{order_id}"))
        assert body["ex_id"] == "3" and body["ex_order_id"] == "123"


async def test_an_id_stored_as_another_number_is_its_json_text_and_a_non_finite_one_null(
    client, admin
) -> None:
    admin.hset(
        "order_status:odd",
        mapping={
            "A": canceled_order(
                "A", ex_id=3.5, uid=1e300, bot_id=12345678901234567890123, cat_ex_id=2.0**53
            ),
            "B": '{"ex_id": NaN, "uid": Infinity, "bot_id": -Infinity, "status": "open"}',
        },
    )
    body = expect(await client.get("/orders/odd"))
    assert "skipped" not in body
    a, b = body["items"]
    assert (a["ex_id"], a["uid"], a["bot_id"], a["cat_ex_id"]) == (
        "3.5",
        "1e300",
        "12345678901234567890123",
        "9007199254740992.0",  # from 2**53 on, a float is not exactly the integer it shows
    )
    assert (b["ex_id"], b["uid"], b["bot_id"]) == (None, None, None)


async def test_nan_and_infinity_in_an_order_become_null(client, admin) -> None:
    admin.hset(
        "order_status:binance",
        "NAN-1",
        '{"status": "open", "price": NaN, "volume": Infinity, "final_volume": -Infinity,'
        ' "leverage": "2", "timestamp": "2026-11-26T04:53:04", "unknown": [1, 2]}',
    )
    body = expect(await client.get("/orders/binance/NAN-1"))
    assert body["price"] is None and body["volume"] is None and body["final_volume"] is None
    assert body["leverage"] == 2.0
    assert body["updated_at"] == "2026-11-26T04:53:04Z"  # no zone means UTC
    assert body["symbol"] is None and body["bot_id"] is None
    listing = expect(await client.get("/orders/binance"))
    assert listing["count"] == 4 and "skipped" not in listing


@pytest.mark.parametrize("corrupt", ["{not json", "[1, 2]", '"text"', '{"price": "abc"}'])
async def test_corrupt_order_is_skipped_in_listings_and_502_alone(
    client, admin, caplog, corrupt: str
) -> None:
    admin.hset("order_status:binance", "BAD-1", corrupt)
    body = expect(await client.get("/orders/binance"))
    assert body["count"] == 3 and body["skipped"] == 1
    assert "BAD-1" not in [o["order_id"] for o in body["items"]]
    body = expect(await client.get("/orders"))
    assert body["count"] == 8 and body["skipped"] == 1
    assert "order_status:binance" in caplog.text and "BAD-1" in caplog.text
    body = expect(await client.get("/orders/binance/BAD-1"), 502)
    assert body["error"]["code"] == "bad_cache_value"
    assert "BAD-1" in body["error"]["message"]


@pytest.mark.parametrize(
    ("path", "params", "name"),
    [
        ("/orders/*", {}, "exchange"),
        ("/orders/bin%3Fnce", {}, "exchange"),
        ("/orders/b[a]", {}, "exchange"),
        ("/orders/" + "x" * 65, {}, "exchange"),
        ("/orders/*/BINANCE-00001", {}, "exchange"),
        ("/orders/binance/BINANCE-*", {}, "order_id"),
        ("/orders/binance/B%3F", {}, "order_id"),
        ("/orders/binance/[B]", {}, "order_id"),
        ("/orders/binance/" + "o" * 129, {}, "order_id"),
        ("/orders/queues/local-*", {}, "name"),
        ("/orders/queues/l[o]cal", {}, "name"),
        ("/orders/queues/local-binance", {"limit": "0"}, "limit"),
        ("/orders", {"limit": "0"}, "limit"),
        ("/orders", {"limit": "1001"}, "limit"),
        ("/orders", {"limit": "abc"}, "limit"),
        ("/orders", {"limit": "-5"}, "limit"),
        ("/orders/binance", {"limit": "1001"}, "limit"),
        ("/orders", {"bot_id": "4a"}, "bot_id"),
        ("/orders", {"uid": "7.0"}, "uid"),
        ("/orders/binance", {"uid": "-7"}, "uid"),
        ("/orders", {"status": "op*"}, "status"),
        ("/orders", {"symbol": "BTC/*"}, "symbol"),
    ],
)
async def test_bad_input_is_400_naming_the_parameter(client, path, params, name) -> None:
    body = expect(await client.get(path, params=params), 400)
    assert body["error"]["code"] == "bad_request"
    assert f"'{name}'" in body["error"]["message"]


async def test_fixed_words_win_and_trailing_slash_answers_the_same(client) -> None:
    queues = expect(await client.get("/orders/queues"))
    assert expect(await client.get("/orders/queues/")) == queues
    assert expect(await client.get("/orders/")) == expect(await client.get("/orders"))
    assert expect(await client.get("/orders/binance/")) == expect(
        await client.get("/orders/binance")
    )


# Redis budgets -----------------------------------------------------------------------------------

BUDGETS: tuple[Case, ...] = (
    Case("/orders", "/orders?limit=1000", fill_orders, {}, HLEN_HGETALL, trips=2),
    Case(
        "/orders",
        "/orders?status=open&limit=1000",
        fill_orders,
        {},
        HLEN_HGETALL,
        trips=2,
    ),
    Case("/orders/queues", "/orders/queues", fill_orders, {}, {"llen": 1}, trips=1),
    Case(
        "/orders/queues/{name:path}",
        "/orders/queues/q0",
        fill_orders,
        {"llen": 1, "lrange": 1},
        trips=1,
    ),
    Case("/orders/{exchange}", "/orders/bench?limit=1000", fill_orders, HLEN_HGETALL, trips=2),
    Case("/orders/{exchange}/{order_id:path}", "/orders/bench/O1", fill_orders, HGET, trips=1),
)
"""The order routes' Redis budgets (tests/test_budgets.py measures them)."""
