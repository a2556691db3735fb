"""Server-Sent Events of ticker updates, through a real hypercorn process and real pub/sub."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator

import anyio
import httpx
import pytest
import redis

from fullon_cache_api.cache.stream import TickerSubscription
from fullon_cache_api.client import connect

from support import reader_url, serve_api

pytestmark = pytest.mark.slow
TICK = {"price": 301.0, "bid": 300.5, "ask": 301.5, "last": 301.0, "volume": 12.0}


@pytest.fixture(scope="module")
def server(redis_server) -> Iterator[str]:
    env = {
        "REDIS_URL": reader_url(redis_server),
        "FULLON_CACHE_API_STREAM_HEARTBEAT": "0.2",
        "FULLON_CACHE_API_MAX_STREAMS": "2",
    }
    with serve_api(env=env) as served:
        yield served.base


async def events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """(kind, value) per SSE block: ("comment", text) or (event name, data)."""
    block: list[str] = []
    async for line in response.aiter_lines():
        if line:
            block.append(line)
            continue
        if block[0].startswith(": "):
            yield "comment", block[0][2:]
        else:
            fields = dict(item.split(": ", 1) for item in block)
            yield fields["event"], fields["data"]
        block = []


def numpat(admin: redis.Redis) -> int:
    return int(admin.execute_command("PUBSUB", "NUMPAT"))


async def test_updates_arrive_as_ticker_events(server, admin) -> None:
    async with (
        httpx.AsyncClient(base_url=server, timeout=10) as http,
        http.stream("GET", "/stream/tickers") as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = events(response)
        with anyio.fail_after(5):
            assert await anext(stream) == ("comment", "subscribed")
            tick = {**TICK, "time": 1764100100.0, "symbol": "ignored"}
            admin.publish("ticker_updates:binance:BTC/USDT", json.dumps(tick))
            admin.publish("next_ticker:hyperliquid:BTC/USDC:USDC", '{"price": NaN, "time": 1}')
            received = []
            async for kind, data in stream:
                if kind != "comment":
                    received.append((kind, json.loads(data)))
                if len(received) == 2:
                    break
    (kind, first), (_, second) = received
    assert kind == "ticker"
    assert first["exchange"] == "binance" and first["symbol"] == "BTC/USDT"
    assert (first["price"], first["bid"], first["ask"], first["volume"]) == (
        301.0,
        300.5,
        301.5,
        12.0,
    )
    assert first["time"] == "2025-11-25T19:48:20Z"
    assert (second["exchange"], second["symbol"], second["price"]) == (
        "hyperliquid",
        "BTC/USDC:USDC",
        None,
    )


async def test_filters_heartbeats_and_release_on_disconnect(server, admin) -> None:
    params = {"exchange": "binance", "symbols": "ETH/USDT"}
    async with (
        httpx.AsyncClient(base_url=server, timeout=10) as http,
        http.stream("GET", "/stream/tickers", params=params) as response,
    ):
        stream = events(response)
        with anyio.fail_after(5):
            assert await anext(stream) == ("comment", "subscribed")
            assert numpat(admin) == 2  # ticker_updates: and next_ticker:
            admin.publish("ticker_updates:kraken:ETH/USDT", json.dumps(TICK))
            admin.publish("ticker_updates:binance:BTC/USDT", json.dumps(TICK))
            admin.publish("ticker_updates:binance:ETH/USDT", "{corrupt")
            admin.publish("ticker_updates:binance:ETH/USDT", json.dumps({**TICK, "price": 7}))
            seen = []
            async for kind, data in stream:
                seen.append(kind)
                if kind == "ticker":
                    assert json.loads(data)["price"] == 7.0
                    assert json.loads(data)["symbol"] == "ETH/USDT"
                    break
            async for kind, data in stream:  # idle now: heartbeats keep it open
                assert (kind, data) == ("comment", "heartbeat")
                break
    with anyio.fail_after(3):
        while numpat(admin):  # the subscription is released when the client goes
            await anyio.sleep(0.02)


async def test_stream_limit_is_503(server, admin) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=10) as http:
        with anyio.fail_after(5):
            async with (
                http.stream("GET", "/stream/tickers") as one,
                http.stream("GET", "/stream/tickers") as two,
            ):
                assert one.status_code == two.status_code == 200
                first, second = events(one), events(two)  # kept: dropping them closes the streams
                assert await anext(first) == ("comment", "subscribed")
                assert await anext(second) == ("comment", "subscribed")
                async with http.stream("GET", "/stream/tickers") as third:
                    assert third.status_code == 503
                    body = json.loads(await third.aread())
                    assert body["error"]["code"] == "too_many_streams"
        with anyio.fail_after(3):
            while True:  # both released: a new stream is served again
                async with http.stream("GET", "/stream/tickers") as again:
                    if again.status_code == 200:
                        break
                await anyio.sleep(0.05)


async def test_bad_stream_parameters_are_400(server) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=10) as http:
        for params in ({"exchange": "*"}, {"symbols": "BTC/*"}):
            response = await http.get("/stream/tickers", params=params)
            assert response.status_code == 400


async def test_a_slow_client_gets_the_newest_updates_and_a_drop_count(
    redis_server, settings
) -> None:
    client = connect(settings)
    subscription = TickerSubscription(client, ["ticker_updates:*"], size=5)
    async with subscription:
        with redis.Redis(port=redis_server.port) as admin:
            for i in range(20):
                admin.publish("ticker_updates:binance:BTC/USDT", json.dumps({"price": i}))
        with anyio.fail_after(5):
            while subscription.dropped < 15:
                await anyio.sleep(0.02)
        updates = await subscription.updates(1)
    assert [json.loads(raw)["price"] for _, raw in updates] == [15, 16, 17, 18, 19]
    assert subscription.dropped == 15
    await client.aclose()
