"""Bots endpoints against the snapshot, and the bot, block and opening-position quirks.

Quirk data is written the way fullon_cache writes it: ``update_bot`` stores ``json.dumps`` of the
feeds object (each object-valued feed stamped with an ISO ``timestamp``), ``block_exchange``
sets field ``{ex_id}:{symbol}`` to the bot id, ``mark_opening_position`` sets the same field of
``opening_position`` to ``{bot_id}:{ISO time}``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from budgets import HGET, HLEN_HGETALL, Case, fill_bots
from support import expect, snapshot_value

pytestmark = pytest.mark.usefixtures("snapshot")


def z(value: str | None) -> str | None:
    """A stored ISO time in the API's RFC 3339 form."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value).astimezone(UTC)
    form = "%Y-%m-%dT%H:%M:%S.%fZ" if moment.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return moment.strftime(form)


def newest(feeds: dict[str, Any]) -> str | None:
    times = [f["timestamp"] for f in feeds.values() if isinstance(f, dict) and "timestamp" in f]
    return z(max(times, key=lambda t: datetime.fromisoformat(t))) if times else None


def expected_bots() -> list[dict[str, Any]]:
    bots = {bot_id: json.loads(raw) for bot_id, raw in snapshot_value("bot_status").items()}
    return [
        {"bot_id": bot_id, "feeds": feeds, "updated_at": newest(feeds)}
        for bot_id, feeds in sorted(bots.items(), key=lambda item: int(item[0]))
    ]


def expected_openings() -> list[dict[str, Any]]:
    rows = []
    for field, value in snapshot_value("opening_position").items():
        ex_id, symbol = field.split(":", 1)
        bot_id, since = value.split(":", 1)
        rows.append({"ex_id": ex_id, "symbol": symbol, "bot_id": bot_id, "since": z(since)})
    return sorted(rows, key=lambda row: (int(row["ex_id"]), row["symbol"]))


def expected_blocks() -> list[dict[str, Any]]:
    openings = {(o["ex_id"], o["symbol"]): o for o in expected_openings()}
    rows = []
    for field, bot_id in snapshot_value("block_exchange").items():
        ex_id, symbol = field.split(":", 1)
        opening = openings.get((ex_id, symbol))
        rows.append(
            {
                "ex_id": ex_id,
                "symbol": symbol,
                "bot_id": bot_id,
                "opening": opening is not None,
                "opening_since": opening["since"] if opening else None,
            }
        )
    return sorted(rows, key=lambda row: (int(row["ex_id"]), row["symbol"]))


# snapshot conformance ---------------------------------------------------------------------------


def test_snapshot_holds_bots_a_block_and_an_opening() -> None:
    assert [bot["bot_id"] for bot in expected_bots()] == ["41", "42", "43"]
    assert expected_blocks()[0]["opening"] is True
    assert expected_openings()[0]["since"] == "2026-11-26T04:53:03.592221Z"


async def test_bots_listing(client) -> None:
    expected = expected_bots()
    response = await client.get("/bots")
    assert expect(response) == {"items": expected, "count": len(expected)}
    assert response.headers["cache-control"] == "no-store"  # feeds hold PnL
    assert expected[0]["feeds"]["feed_0"]["pnl"] == 512.5


async def test_every_bot_alone(client) -> None:
    for bot in expected_bots():
        assert expect(await client.get(f"/bots/{bot['bot_id']}")) == bot


async def test_blocks_listing(client) -> None:
    expected = expected_blocks()
    assert expect(await client.get("/bots/blocks")) == {"items": expected, "count": len(expected)}
    assert expect(await client.get("/bots/blocks/")) == {"items": expected, "count": len(expected)}


async def test_every_block_alone(client) -> None:
    for block in expected_blocks():
        body = expect(await client.get(f"/bots/blocks/{block['ex_id']}/{block['symbol']}"))
        assert body == {
            "ex_id": block["ex_id"],
            "symbol": block["symbol"],
            "blocked": True,
            "bot_id": block["bot_id"],
            "opening": block["opening"],
            "opening_since": block["opening_since"],
        }


async def test_unblocked_symbol_is_200_not_blocked(client) -> None:
    body = expect(await client.get("/bots/blocks/1/ETH/USDT"))
    assert body == {
        "ex_id": "1",
        "symbol": "ETH/USDT",
        "blocked": False,
        "bot_id": None,
        "opening": False,
        "opening_since": None,
    }


async def test_coordination(client) -> None:
    blocks, openings = expected_blocks(), expected_openings()
    assert expect(await client.get("/bots/coordination")) == {
        "blocks": blocks,
        "openings": openings,
        "block_count": len(blocks),
        "opening_count": len(openings),
    }


# absent data ------------------------------------------------------------------------------------


async def test_missing_bot_is_404(client) -> None:
    body = expect(await client.get("/bots/99"), 404)
    assert body == {"error": {"status": 404, "code": "not_found", "message": "no bot 99"}}


async def test_no_blocks_at_all_is_empty(client, admin) -> None:
    admin.delete("block_exchange", "opening_position", "bot_status")
    assert expect(await client.get("/bots/blocks")) == {"items": [], "count": 0}
    assert expect(await client.get("/bots")) == {"items": [], "count": 0}
    assert expect(await client.get("/bots/coordination")) == {
        "blocks": [],
        "openings": [],
        "block_count": 0,
        "opening_count": 0,
    }


# quirks -----------------------------------------------------------------------------------------


async def test_fields_and_opening_values_split_on_the_first_colon(client, admin) -> None:
    admin.hset("block_exchange", "3:BTC/USDC:USDC", "41")
    admin.hset("opening_position", "3:BTC/USDC:USDC", "41:2026-11-26T04:53:03.592221+00:00")
    row = {
        "ex_id": "3",
        "symbol": "BTC/USDC:USDC",
        "bot_id": "41",
        "opening": True,
        "opening_since": "2026-11-26T04:53:03.592221Z",
    }
    assert row in expect(await client.get("/bots/blocks"))["items"]
    body = expect(await client.get("/bots/blocks/3/BTC/USDC:USDC"))
    assert body == {**row, "blocked": True}
    assert expect(await client.get("/bots/blocks/3/BTC%2FUSDC%3AUSDC")) == body
    openings = expect(await client.get("/bots/coordination"))["openings"]
    assert {
        "ex_id": "3",
        "symbol": "BTC/USDC:USDC",
        "bot_id": "41",
        "since": "2026-11-26T04:53:03.592221Z",
    } in openings


async def test_numeric_order_of_ex_ids_and_bot_ids(client, admin) -> None:
    admin.hset("block_exchange", mapping={"10:BTC/USDT": "42", "2:ETH/USD": "43", "2:BTC/USD": "7"})
    admin.hset("bot_status", "100", json.dumps({"feed_0": {"timestamp": "2026-11-26T05:00:00"}}))
    admin.hset("bot_status", "9", json.dumps({}))
    rows = expect(await client.get("/bots/blocks"))["items"]
    assert [(r["ex_id"], r["symbol"]) for r in rows] == [
        ("1", "BTC/USDT"),
        ("2", "BTC/USD"),
        ("2", "ETH/USD"),
        ("10", "BTC/USDT"),
    ]
    bots = expect(await client.get("/bots"))["items"]
    assert [b["bot_id"] for b in bots] == ["9", "41", "42", "43", "100"]
    assert bots[0] == {"bot_id": "9", "feeds": {}, "updated_at": None}
    assert bots[-1]["updated_at"] == "2026-11-26T05:00:00Z"  # no zone: UTC


async def test_opening_without_a_block(client, admin) -> None:
    admin.hset("opening_position", "2:ETH/USD", "42:2026-11-26T04:53:04+00:00")
    body = expect(await client.get("/bots/blocks/2/ETH/USD"))
    assert body == {
        "ex_id": "2",
        "symbol": "ETH/USD",
        "blocked": False,
        "bot_id": None,
        "opening": True,
        "opening_since": "2026-11-26T04:53:04Z",
    }
    coordination = expect(await client.get("/bots/coordination"))
    assert coordination["block_count"] == 1 and coordination["opening_count"] == 2
    assert coordination["openings"][1] == {
        "ex_id": "2",
        "symbol": "ETH/USD",
        "bot_id": "42",
        "since": "2026-11-26T04:53:04Z",
    }
    assert expect(await client.get("/bots/blocks"))["count"] == 1


async def test_malformed_opening_value_and_block_field(client, admin, caplog) -> None:
    admin.hset("opening_position", "1:BTC/USDT", "41")  # no time part
    admin.hset("block_exchange", "nocolon", "41")
    body = expect(await client.get("/bots/blocks"))
    assert body["count"] == 1 and body["skipped"] == 1
    assert body["items"][0]["opening"] is True and body["items"][0]["opening_since"] is None
    assert "nocolon" in caplog.text
    coordination = expect(await client.get("/bots/coordination"))
    assert coordination["skipped"] == 1
    assert coordination["openings"][0]["bot_id"] == "41"
    assert coordination["openings"][0]["since"] is None


async def test_nan_and_infinity_in_feeds_become_null(client, admin) -> None:
    admin.hset(
        "bot_status",
        "44",
        '{"feed_0": {"status": "running", "pnl": NaN, "roi": Infinity, "dd": -Infinity,'
        ' "symbols": ["BTC/USDT"], "timestamp": "2026-11-26T04:53:03.5+00:00"},'
        ' "feed_1": {"pnl": 1.5, "timestamp": "2026-11-26T04:53:04.25+00:00"},'
        ' "note": "plain", "level": 3}',
    )
    expected = {
        "bot_id": "44",
        "feeds": {
            "feed_0": {
                "status": "running",
                "pnl": None,
                "roi": None,
                "dd": None,
                "symbols": ["BTC/USDT"],
                "timestamp": "2026-11-26T04:53:03.5+00:00",
            },
            "feed_1": {"pnl": 1.5, "timestamp": "2026-11-26T04:53:04.25+00:00"},
            "note": "plain",
            "level": 3,
        },
        "updated_at": "2026-11-26T04:53:04.250000Z",
    }
    assert expect(await client.get("/bots/44")) == expected
    assert expect(await client.get("/bots"))["items"][-1] == expected


@pytest.mark.parametrize("value", ["{not json", '["a", "list"]', '"a string"'])
async def test_corrupt_bot_skipped_in_listing_and_502_alone(
    client, admin, caplog, value: str
) -> None:
    admin.hset("bot_status", "45", value)
    body = expect(await client.get("/bots"))
    assert [b["bot_id"] for b in body["items"]] == ["41", "42", "43"]
    assert body["count"] == 3 and body["skipped"] == 1
    assert "'bot_status'" in caplog.text and "'45'" in caplog.text
    error = expect(await client.get("/bots/45"), 502)["error"]
    assert error == {
        "status": 502,
        "code": "bad_cache_value",
        "message": "the stored bot 45 is corrupt",
    }


# bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/bots/abc", "bot_id"),
        ("/bots/4*", "bot_id"),
        ("/bots/" + "1" * 21, "bot_id"),
        ("/bots/blocks/x/BTC/USDT", "ex_id"),
        ("/bots/blocks/1%2A/BTC/USDT", "ex_id"),
        ("/bots/blocks/1/BTC/*", "symbol"),
        ("/bots/blocks/1/B%3FC", "symbol"),
        ("/bots/blocks/1/BTC[/]", "symbol"),
        ("/bots/blocks/1/" + "S" * 129, "symbol"),
    ],
)
async def test_bad_input_is_400_naming_the_parameter(client, path: str, name: str) -> None:
    body = expect(await client.get(path), 400)
    assert body["error"]["code"] == "bad_request"
    assert f"'{name}'" in body["error"]["message"]


# Redis budgets -----------------------------------------------------------------------------------

BUDGETS: tuple[Case, ...] = (
    Case("/bots", "/bots", fill_bots, HLEN_HGETALL, trips=2),
    # the blocks' page, then the opening marks of its pairs
    Case("/bots/blocks", "/bots/blocks", fill_bots, {**HLEN_HGETALL, "hmget": 1}, trips=3),
    Case(
        "/bots/coordination",
        "/bots/coordination",
        fill_bots,
        {"hlen": 2, "hgetall": 2},
        trips=2,
    ),
    Case(
        "/bots/blocks/{ex_id}/{symbol:path}",
        "/bots/blocks/1/S1/USDT",
        fill_bots,
        {"hget": 2},
        trips=1,
    ),
    Case("/bots/{bot_id}", "/bots/41", fill_bots, HGET, trips=1),
)
"""The bot routes' Redis budgets (tests/test_budgets.py measures them)."""
