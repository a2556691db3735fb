"""Accounts endpoints against the snapshot, and the account quirks.

Balances live in the ``accounts`` hash and positions in ``account_positions``, both keyed by
ex_id. Quirk data is written the way fullon_cache's ``upsert_user_account`` and
``upsert_positions`` write it: ``json.dumps`` of the account object (NaN tokens included).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from budgets import HGET, Case, fill_accounts
from support import GENERATED_AT, Clock, expect, snapshot_value

pytestmark = pytest.mark.usefixtures("snapshot")


def z(value: str | float | None) -> str | None:
    """A stored time (ISO, naive = UTC, or epoch seconds) in the API's RFC 3339 form."""
    if value is None:
        return None
    if isinstance(value, str):
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    else:
        moment = datetime.fromtimestamp(value, UTC)
    moment = moment.astimezone(UTC)
    form = "%Y-%m-%dT%H:%M:%S.%fZ" if moment.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    return moment.strftime(form)


def epoch(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def stored(hash_name: str) -> dict[str, dict[str, Any]]:
    """The snapshot's accounts or account_positions, ex_id -> decoded object."""
    return {ex_id: json.loads(raw) for ex_id, raw in snapshot_value(hash_name).items()}


def expected_balances(ex_id: str, account: dict[str, Any]) -> dict[str, Any]:
    items = [
        {"currency": c, "free": e["free"], "used": e["used"], "total": e["total"]}
        for c, e in sorted(account.items())
        if c != "date"
    ]
    return {"ex_id": ex_id, "updated_at": z(account["date"]), "items": items, "count": len(items)}


def expected_position(symbol: str, entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "volume": entry["volume"],
        "cost": entry["cost"],
        "price": entry["price"],
        "fee": entry["fee"],
        "count": entry["count"],
        "updated_at": z(entry["timestamp"]),
    }


def expected_positions(ex_id: str, document: dict[str, Any]) -> dict[str, Any]:
    items = [expected_position(s, e) for s, e in sorted(document.items()) if s != "timestamp"]
    return {
        "ex_id": ex_id,
        "updated_at": z(document["timestamp"]),
        "items": items,
        "count": len(items),
    }


# snapshot conformance ---------------------------------------------------------------------------


def test_snapshot_holds_three_accounts_with_positions() -> None:
    assert set(stored("accounts")) == set(stored("account_positions")) == {"1", "2", "3"}


async def test_accounts_listing(client) -> None:
    balances, positions = stored("accounts"), stored("account_positions")
    expected = [
        {
            "ex_id": ex_id,
            "currencies": len(balances[ex_id]) - 1,  # minus "date"
            "positions": len(positions[ex_id]) - 1,  # minus the root "timestamp"
            "balances_updated_at": z(balances[ex_id]["date"]),
            "positions_updated_at": z(positions[ex_id]["timestamp"]),
        }
        for ex_id in sorted(balances, key=int)
    ]
    response = await client.get("/accounts")
    assert expect(response) == {"items": expected, "count": 3}
    assert response.headers["cache-control"] == "no-store"


async def test_every_account_balances(client) -> None:
    for ex_id, account in stored("accounts").items():
        response = await client.get(f"/accounts/{ex_id}/balances")
        assert expect(response) == expected_balances(ex_id, account)
        assert response.headers["cache-control"] == "no-store"


async def test_every_balance_alone(client) -> None:
    for ex_id, account in stored("accounts").items():
        for currency, entry in account.items():
            if currency == "date":
                continue
            body = expect(await client.get(f"/accounts/{ex_id}/balances/{currency}"))
            assert body == {
                "ex_id": ex_id,
                "currency": currency,
                "free": entry["free"],
                "used": entry["used"],
                "total": entry["total"],
                "updated_at": z(account["date"]),
            }


async def test_every_account_positions(client) -> None:
    for ex_id, document in stored("account_positions").items():
        response = await client.get(f"/accounts/{ex_id}/positions")
        assert expect(response) == expected_positions(ex_id, document)
        assert response.headers["cache-control"] == "no-store"


async def test_every_position_alone_slash_and_colon_in_symbol(client) -> None:
    for ex_id, document in stored("account_positions").items():
        for symbol, entry in document.items():
            if symbol == "timestamp":
                continue
            expected = {"ex_id": ex_id, **expected_position(symbol, entry)}
            assert expect(await client.get(f"/accounts/{ex_id}/positions/{symbol}")) == expected
            encoded = symbol.replace("/", "%2F").replace(":", "%3A")
            assert expect(await client.get(f"/accounts/{ex_id}/positions/{encoded}")) == expected
    body = expect(await client.get("/accounts/3/positions/BTC/USDC:USDC"))
    assert body["symbol"] == "BTC/USDC:USDC"


async def test_status_with_ages_from_the_clock(client, clock: Clock) -> None:
    clock.now = GENERATED_AT
    balances, positions = stored("accounts"), stored("account_positions")
    for ex_id in balances:
        response = await client.get(f"/accounts/{ex_id}/status")
        body = expect(response)
        b_time, p_time = balances[ex_id]["date"], positions[ex_id]["timestamp"]
        assert body == {
            "ex_id": ex_id,
            "balances": {
                "present": True,
                "updated_at": z(b_time),
                "age_s": round(GENERATED_AT - epoch(b_time), 3),
            },
            "positions": {
                "present": True,
                "updated_at": z(p_time),
                "age_s": round(GENERATED_AT - epoch(p_time), 3),
            },
        }
        assert 0 < body["balances"]["age_s"] < 1
        assert response.headers["cache-control"] == "no-store"
    clock.now += 60
    assert expect(await client.get("/accounts/1/status"))["balances"]["age_s"] == round(
        GENERATED_AT + 60 - epoch(balances["1"]["date"]), 3
    )


# absent data ------------------------------------------------------------------------------------


async def test_status_of_an_unknown_account_is_200_not_present(client) -> None:
    absent = {"present": False, "updated_at": None, "age_s": None}
    body = expect(await client.get("/accounts/99/status"))
    assert body == {"ex_id": "99", "balances": absent, "positions": absent}


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/accounts/99/balances", "no balances for ex_id 99"),
        ("/accounts/99/balances/USDT", "no balances for ex_id 99"),
        ("/accounts/1/balances/XRP", "no balance XRP for ex_id 1"),
        ("/accounts/1/balances/date", "no balance date for ex_id 1"),
        ("/accounts/99/positions", "no positions for ex_id 99"),
        ("/accounts/99/positions/BTC/USDT", "no positions for ex_id 99"),
        ("/accounts/1/positions/DOGE/USDT", "no position DOGE/USDT for ex_id 1"),
        ("/accounts/1/positions/timestamp", "no position timestamp for ex_id 1"),
    ],
)
async def test_missing_is_404(client, path: str, message: str) -> None:
    body = expect(await client.get(path), 404)
    assert body == {"error": {"status": 404, "code": "not_found", "message": message}}


async def test_account_with_only_positions_is_listed(client, admin) -> None:
    admin.hset(
        "account_positions",
        "10",
        json.dumps({"SOL/USDT": {"volume": 1.0}, "timestamp": "2026-11-26T05:00:00+00:00"}),
    )
    admin.hset("accounts", "4", json.dumps({"USDT": {"free": 1, "used": 0, "total": 1}}))
    rows = expect(await client.get("/accounts"))["items"]
    assert [row["ex_id"] for row in rows] == ["1", "2", "3", "4", "10"]  # numeric order
    assert rows[3] == {
        "ex_id": "4",
        "currencies": 1,
        "positions": 0,
        "balances_updated_at": None,
        "positions_updated_at": None,
    }
    assert rows[4] == {
        "ex_id": "10",
        "currencies": 0,
        "positions": 1,
        "balances_updated_at": None,
        "positions_updated_at": "2026-11-26T05:00:00Z",
    }
    assert expect(await client.get("/accounts/10/balances"), 404)
    assert expect(await client.get("/accounts/10/status"))["positions"]["present"] is True


# quirks -----------------------------------------------------------------------------------------


async def test_both_balance_shapes_are_normalised(client, admin) -> None:
    admin.hset(
        "accounts",
        "7",
        json.dumps(
            {
                "USDT": {"balance": 100.0, "available": 60.0},
                "ETH": {"balance": 2, "available": 2, "used": 0.5},
                "BTC": {"free": 0.5, "used": 0.25, "total": 0.75},
                "SOL": {"free": 3.0, "total": 4.0},
                "date": "2026-11-26T04:53:03+00:00",
            }
        ),
    )
    body = expect(await client.get("/accounts/7/balances"))
    assert body == {
        "ex_id": "7",
        "updated_at": "2026-11-26T04:53:03Z",
        "items": [
            {"currency": "BTC", "free": 0.5, "used": 0.25, "total": 0.75},
            {"currency": "ETH", "free": 2.0, "used": 0.5, "total": 2.0},
            {"currency": "SOL", "free": 3.0, "used": 1.0, "total": 4.0},
            {"currency": "USDT", "free": 60.0, "used": 40.0, "total": 100.0},
        ],
        "count": 4,
    }
    body = expect(await client.get("/accounts/7/balances/USDT"))
    assert body == {
        "ex_id": "7",
        "currency": "USDT",
        "free": 60.0,
        "used": 40.0,
        "total": 100.0,
        "updated_at": "2026-11-26T04:53:03Z",
    }


@pytest.mark.parametrize(
    ("date", "updated_at"),
    [
        ("2025-01-15 10:30:00", "2025-01-15T10:30:00Z"),  # free-form, no zone = UTC
        ("2025-01-15T10:30:00.250000+02:00", "2025-01-15T08:30:00.250000Z"),
        ("last tuesday", None),  # unparsable: null, the balances still answer
        (None, None),
    ],
)
async def test_date_sibling_is_the_update_time_not_a_currency(
    client, admin, date: str | None, updated_at: str | None
) -> None:
    admin.hset(
        "accounts",
        "8",
        json.dumps({"USDT": {"free": 1.0, "used": 0.0, "total": 1.0}, "date": date}),
    )
    body = expect(await client.get("/accounts/8/balances"))
    assert body["updated_at"] == updated_at
    assert [item["currency"] for item in body["items"]] == ["USDT"] and body["count"] == 1
    assert "skipped" not in body
    row = next(r for r in expect(await client.get("/accounts"))["items"] if r["ex_id"] == "8")
    assert row["currencies"] == 1 and row["balances_updated_at"] == updated_at
    assert expect(await client.get("/accounts/8/status"))["balances"]["updated_at"] == updated_at


async def test_nan_and_infinity_in_balances_become_null(client, admin) -> None:
    admin.hset(
        "accounts",
        "7",
        '{"USDT": {"free": NaN, "used": 1.0, "total": Infinity},'
        ' "USD": {"balance": 10.0, "available": NaN},'
        ' "BTC": {"free": "0.5", "used": 0, "total": -Infinity},'
        ' "date": "2026-11-26T04:53:03.591525+00:00"}',
    )
    body = expect(await client.get("/accounts/7/balances"))
    assert body["items"] == [
        {"currency": "BTC", "free": 0.5, "used": 0.0, "total": None},
        {"currency": "USD", "free": None, "used": None, "total": 10.0},
        {"currency": "USDT", "free": None, "used": 1.0, "total": None},
    ]
    assert body["updated_at"] == "2026-11-26T04:53:03.591525Z"
    one = expect(await client.get("/accounts/7/balances/USDT"))
    assert one["free"] is None and one["total"] is None and one["used"] == 1.0


async def test_non_object_balance_entries_are_skipped_and_counted(client, admin, caplog) -> None:
    admin.hset(
        "accounts",
        "7",
        json.dumps(
            {
                "USDT": {"free": 1.0, "used": 0.0, "total": 1.0},
                "XRP": 5,
                "ETH": None,
                "DOT": {"free": "lots"},
                "date": "2026-11-26T04:53:03+00:00",
            }
        ),
    )
    body = expect(await client.get("/accounts/7/balances"))
    assert [item["currency"] for item in body["items"]] == ["USDT"]
    assert body["count"] == 1 and body["skipped"] == 3
    assert "XRP" in caplog.text and "accounts" in caplog.text
    for currency in ("XRP", "ETH", "DOT"):
        error = expect(await client.get(f"/accounts/7/balances/{currency}"), 502)["error"]
        assert error["code"] == "bad_cache_value" and currency in error["message"]
    listing = expect(await client.get("/accounts"))
    row = next(r for r in listing["items"] if r["ex_id"] == "7")
    assert row["currencies"] == 1 and listing["skipped"] == 3


async def test_corrupt_account_value_skipped_in_listing_and_502_alone(
    client, admin, caplog
) -> None:
    admin.hset("accounts", "9", "{not json")
    listing = expect(await client.get("/accounts"))
    assert [row["ex_id"] for row in listing["items"]] == ["1", "2", "3"]
    assert listing["count"] == 3 and listing["skipped"] == 1
    assert "'accounts'" in caplog.text and "'9'" in caplog.text
    body = expect(await client.get("/accounts/9/balances"), 502)
    assert body["error"]["code"] == "bad_cache_value"
    assert expect(await client.get("/accounts/9/balances/USDT"), 502)
    # The status only says whether the value is there; a corrupt value has no time.
    status = expect(await client.get("/accounts/9/status"))
    assert status["balances"] == {"present": True, "updated_at": None, "age_s": None}


async def test_corrupt_balances_keep_the_accounts_positions_listed(client, admin) -> None:
    admin.hset("accounts", "2", '["not", "an", "object"]')
    listing = expect(await client.get("/accounts"))
    row = next(r for r in listing["items"] if r["ex_id"] == "2")
    positions = stored("account_positions")["2"]
    assert row == {
        "ex_id": "2",
        "currencies": 0,
        "positions": 2,
        "balances_updated_at": None,
        "positions_updated_at": z(positions["timestamp"]),
    }
    assert listing["skipped"] == 1
    assert expect(await client.get("/accounts/2/balances"), 502)
    assert expect(await client.get("/accounts/2/positions")) == expected_positions("2", positions)


async def test_corrupt_positions_value_skipped_and_502_alone(client, admin) -> None:
    admin.hset("account_positions", "11", "not json at all")
    listing = expect(await client.get("/accounts"))
    assert "11" not in [row["ex_id"] for row in listing["items"]] and listing["skipped"] == 1
    assert expect(await client.get("/accounts/11/positions"), 502)["error"]["code"] == (
        "bad_cache_value"
    )
    assert expect(await client.get("/accounts/11/positions/BTC/USDT"), 502)


async def test_legacy_positions_epoch_root_timestamp_and_missing_count(
    client, admin, clock: Clock
) -> None:
    # Legacy writers stored the root timestamp as an epoch float, entries without "count" and
    # with a null timestamp; fullon_cache's own reader drops such an account, we must not.
    root = 1764100000.25
    admin.hset(
        "account_positions",
        "5",
        json.dumps(
            {
                "BTC/USDT": {
                    "cost": 1000.0,
                    "volume": 0.02,
                    "fee": 1.0,
                    "price": 300.0,
                    "timestamp": None,
                },
                "ETH/USDC:USDC": {
                    "cost": 2000,
                    "volume": 0.04,
                    "fee": 1.0,
                    "price": 400.25,
                    "timestamp": 1764099940.5,
                },
                "timestamp": root,
            }
        ),
    )
    body = expect(await client.get("/accounts/5/positions"))
    assert body == {
        "ex_id": "5",
        "updated_at": "2025-11-25T19:46:40.250000Z",
        "items": [
            {
                "symbol": "BTC/USDT",
                "volume": 0.02,
                "cost": 1000.0,
                "price": 300.0,
                "fee": 1.0,
                "count": None,
                "updated_at": None,
            },
            {
                "symbol": "ETH/USDC:USDC",
                "volume": 0.04,
                "cost": 2000.0,
                "price": 400.25,
                "fee": 1.0,
                "count": None,
                "updated_at": "2025-11-25T19:45:40.500000Z",
            },
        ],
        "count": 2,
    }
    one = expect(await client.get("/accounts/5/positions/ETH/USDC:USDC"))
    assert one["ex_id"] == "5" and one["count"] is None and one["cost"] == 2000.0
    row = next(r for r in expect(await client.get("/accounts"))["items"] if r["ex_id"] == "5")
    assert row["positions"] == 2 and row["positions_updated_at"] == "2025-11-25T19:46:40.250000Z"
    clock.now = root + 30
    status = expect(await client.get("/accounts/5/status"))
    assert status["positions"] == {
        "present": True,
        "updated_at": "2025-11-25T19:46:40.250000Z",
        "age_s": 30.0,
    }
    assert status["balances"]["present"] is False


async def test_non_object_position_entry_skipped_and_502_alone(client, admin) -> None:
    admin.hset(
        "account_positions",
        "6",
        '{"BTC/USDT": {"volume": NaN, "cost": 1.0, "count": 3}, "ETH/USDT": "gone",'
        ' "timestamp": "2026-11-26T04:53:03+00:00"}',
    )
    body = expect(await client.get("/accounts/6/positions"))
    assert body["count"] == 1 and body["skipped"] == 1
    assert body["items"][0]["volume"] is None and body["items"][0]["count"] == 3
    assert expect(await client.get("/accounts/6/positions/ETH/USDT"), 502)


# bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/accounts/abc/balances", "ex_id"),
        ("/accounts/-1/balances", "ex_id"),
        ("/accounts/1*/balances", "ex_id"),
        ("/accounts/" + "1" * 21 + "/balances", "ex_id"),
        ("/accounts/x/balances/USDT", "ex_id"),
        ("/accounts/x/positions", "ex_id"),
        ("/accounts/x/positions/BTC/USDT", "ex_id"),
        ("/accounts/x/status", "ex_id"),
        ("/accounts/1/balances/US*", "currency"),
        ("/accounts/1/balances/U[S]D", "currency"),
        ("/accounts/1/balances/US%3F", "currency"),
        ("/accounts/1/balances/" + "C" * 129, "currency"),
        ("/accounts/1/positions/BTC/*", "symbol"),
        ("/accounts/1/positions/B%3FC", "symbol"),
        ("/accounts/1/positions/" + "S" * 129, "symbol"),
    ],
)
async def test_bad_input_is_400_naming_the_parameter(client, path: str, name: str) -> None:
    body = expect(await client.get(path), 400)
    assert body["error"]["code"] == "bad_request"
    assert f"'{name}'" in body["error"]["message"]


# Redis budgets -----------------------------------------------------------------------------------

BUDGETS: tuple[Case, ...] = (
    Case("/accounts", "/accounts", fill_accounts, {"hlen": 2, "hgetall": 2}, trips=2),
    Case("/accounts/{ex_id}/balances", "/accounts/1/balances", fill_accounts, HGET, trips=1),
    Case(
        "/accounts/{ex_id}/balances/{currency}",
        "/accounts/1/balances/C1",
        fill_accounts,
        HGET,
        trips=1,
    ),
    Case("/accounts/{ex_id}/positions", "/accounts/1/positions", fill_accounts, HGET, trips=1),
    Case(
        "/accounts/{ex_id}/positions/{symbol:path}",
        "/accounts/1/positions/S1/USDT",
        fill_accounts,
        HGET,
        trips=1,
    ),
    Case("/accounts/{ex_id}/status", "/accounts/1/status", fill_accounts, {"hget": 2}, trips=1),
)
"""The account routes' Redis budgets (tests/test_budgets.py measures them)."""
