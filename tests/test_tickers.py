"""Ticker endpoints against the snapshot, and the ticker quirks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from support import SNAPSHOT, WRITTEN_AT, Clock, expect, snapshot_keys, snapshot_value

pytestmark = pytest.mark.usefixtures("snapshot")


def stored_ticks() -> list[tuple[str, str, dict[str, Any]]]:
    """(exchange, symbol, stored tick) for every ticker in the snapshot, API order."""
    rows = []
    for key in snapshot_keys("tickers:"):
        exchange = key.split(":", 1)[1]
        for symbol, raw in snapshot_value(key).items():
            rows.append((exchange, symbol, json.loads(raw)))
    return sorted(rows, key=lambda row: (row[0], row[1]))


def rfc3339(epoch: float) -> str:
    from datetime import UTC, datetime

    text = datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")
    return text


def expected_ticker(exchange: str, symbol: str, tick: dict[str, Any], now: float) -> dict[str, Any]:
    return {
        "exchange": exchange,
        "symbol": symbol,
        "price": tick["price"],
        "bid": tick["bid"],
        "ask": tick["ask"],
        "last": tick["last"],
        "volume": tick["volume"],
        "time": rfc3339(tick["time"]),
        "age_s": round(now - tick["time"], 3),
    }


def test_snapshot_has_three_exchanges_hyperliquid_included() -> None:
    assert {row[0] for row in stored_ticks()} == {"binance", "kraken", "hyperliquid"}
    assert SNAPSHOT["written_at"] == WRITTEN_AT


async def test_every_ticker_alone(client, clock: Clock) -> None:
    for exchange, symbol, tick in stored_ticks():
        body = expect(await client.get(f"/tickers/{exchange}/{symbol}"))
        assert body == expected_ticker(exchange, symbol, tick, clock.now)


async def test_all_tickers_listing(client, clock: Clock) -> None:
    body = expect(await client.get("/tickers"))
    expected = [expected_ticker(e, s, t, clock.now) for e, s, t in stored_ticks()]
    assert body == {"items": expected, "count": len(expected)}
