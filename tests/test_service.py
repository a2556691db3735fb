"""Service endpoints against the snapshot."""

from __future__ import annotations

import dataclasses
from collections import Counter

import anyio
import pytest

import fullon_cache_api
from fullon_cache_api import create_app, lifespan
from fullon_cache_api.routes import ROUTES

from budgets import PING, Case, fill_exchange_keys, fill_nothing
from support import SNAPSHOT, expect, http_client

pytestmark = pytest.mark.usefixtures("snapshot")


async def test_health(client) -> None:
    body = expect(await client.get("/health"))
    assert body["status"] == "ok" and body["version"] == fullon_cache_api.__version__
    assert body["redis"]["ok"] is True and body["redis"]["latency_ms"] >= 0


async def test_info_has_no_secrets(client, settings) -> None:
    response = await client.get("/info")
    body = expect(response)
    assert body["name"] == "fullon_cache_api" and body["version"] == fullon_cache_api.__version__
    assert body["routes"] == len(ROUTES)
    assert body["redis"]["role"] == "master" and body["redis"]["db"] == 0
    assert body["redis"]["version"].count(".") == 2
    assert "reader-secret" not in response.text


async def test_overview_counts_every_family(client) -> None:
    body = expect(await client.get("/overview"))
    families = {f["family"]: f for f in body["families"]}
    stored = SNAPSHOT["keys"]
    assert body["total_keys"] == len(stored) and body["other_keys"] == 0
    prefixes = {
        "tickers": "tickers:",
        "orders": "order_status:",
        "order_queues": "new_orders:",
        "trades": "trades:",
        "user_trades": "user_trades:",
        "ohlcv": "ohlcv:",
        "process_data": "process:data:",
        "process_active": "process:active:",
        "trade_status": "TRADE:STATUS:",
        "user_trade_status": "USER_TRADE:STATUS:",
        "ticker_time": "ticker_time:",
    }
    for family, prefix in prefixes.items():
        entries = [e for e in stored if e["key"].startswith(prefix)]
        assert families[family]["keys"] == len(entries), family
        if entries and entries[0]["type"] != "string":
            assert families[family]["entries"] == sum(len(e["value"]) for e in entries), family
    for family, key in (("accounts", "accounts"), ("bots", "bot_status")):
        (entry,) = [e for e in stored if e["key"] == key]
        assert families[family] == {"family": family, "keys": 1, "entries": len(entry["value"])}
    assert body["used_memory_bytes"] > 0 and body["uptime_s"] >= 0


async def test_overview_counts_foreign_keys_apart(client, admin) -> None:
    admin.set("someone:else", "1")
    assert expect(await client.get("/overview"))["other_keys"] == 1


async def test_exchanges_discovered_from_every_family(settings, clock, admin) -> None:
    """Exchanges named by any family's keys, those written later found by the key index's next
    walk (no read asked for them: tracking does not report them)."""
    app = create_app(dataclasses.replace(settings, index_walk_interval=0.2), clock=clock)
    async with lifespan(app), http_client(app) as client:
        body = expect(await client.get("/exchanges"))
        tickers = Counter()
        for entry in SNAPSHOT["keys"]:
            if entry["key"].startswith("tickers:"):
                tickers[entry["key"][len("tickers:") :]] = len(entry["value"])
        assert body == {
            "items": [{"exchange": e, "tickers": tickers[e]} for e in sorted(tickers)],
            "count": 3,
        }
        admin.hset("order_status:3", "X-1", "{}")  # an ex_id, not an exchange
        admin.rpush("trades:bybit:BTCUSDT", "{}")
        admin.set("TRADE:STATUS:okx", "2026-11-26T00:00:00+00:00")
        with anyio.fail_after(30):  # seconds of margin for a 0.2 s interval
            while len((body := expect(await client.get("/exchanges")))["items"]) < 5:
                await anyio.sleep(0.05)
        assert [row["exchange"] for row in body["items"]] == [
            "binance",
            "bybit",
            "hyperliquid",
            "kraken",
            "okx",
        ]
        assert {"exchange": "bybit", "tickers": 0} in body["items"]


# Redis budgets -----------------------------------------------------------------------------------

BUDGETS: tuple[Case, ...] = (
    Case("/health", "/health", fill_nothing, PING, trips=1),
    Case("/info", "/info", fill_nothing, {"info": 3}, trips=1),
    Case(
        "/overview",
        "/overview",
        fill_exchange_keys,
        {"info": 3},
        {"hlen": 1, "llen": 1},
        trips=1,
    ),
    Case("/exchanges", "/exchanges", fill_exchange_keys, {}, {"hlen": 1}, trips=1),
    Case("/metrics", "/metrics", fill_nothing),  # the process's own counters, no Redis
)
"""The service routes' Redis budgets (tests/test_budgets.py measures them)."""
