"""The request pipeline's edges (fullon_cache_api.deadlines, layers) on a real redis-server: a
request that passes its deadline while Redis is stalled is answered 504 (while Redis is still
stalled), and the app serves again once Redis resumes; a token's stream slot is given back
when its stream request fails, and when its stream ends."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from fullon_cache_api import Settings, create_app, lifespan
from fullon_cache_api.demo.redis_server import RedisServer
from fullon_cache_api.tokens import digest

from support import expect, http_client, reader_url, redis_process, serve_in_process, stopped

BTC = "/tickers/binance/BTC/USDT"


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    with redis_process() as server:
        yield server


async def test_a_request_past_its_deadline_is_504_while_redis_is_stalled(private_redis) -> None:
    """The command may wait 60 s, the request 2 s: with Redis stopped (SIGSTOP) the answer
    comes from the request's deadline, before Redis resumes; the requests after it are served
    (their deadlines their own)."""
    settings = Settings(
        redis_url=reader_url(private_redis),
        local_cache=False,  # every read goes to Redis
        command_timeout=60.0,
        connect_timeout=60.0,
        pool_timeout=60.0,
        request_timeout=2.0,
    )
    app = create_app(settings)
    async with lifespan(app), http_client(app) as http:
        assert expect(await http.get(BTC))["price"] == 300.0
        with stopped(private_redis), anyio.fail_after(30):  # answered while Redis is stalled
            body = expect(await http.get(BTC), 504)
            other = expect(await http.get("/tickers/binance/ETH/USDT"), 504)
        assert body["error"] == {
            "status": 504,
            "code": "cache_timeout",
            "message": "the cache did not answer in time",
        }
        assert other == body
        for _ in range(3):
            assert expect(await http.get(BTC))["price"] == 300.0


TOKEN = "one-stream-token-plain-00001"


async def test_a_tokens_stream_slot_is_given_back_when_its_request_fails_or_ends(
    settings: Settings, snapshot, tmp_path: Path
) -> None:
    """A token of one stream: a stream request it makes that fails (a bad parameter: 400)
    leaves its slot free, and so does a stream that ended; meanwhile a second one is 429."""
    path = tmp_path / "tokens.toml"
    path.write_text(
        f'[[tokens]]\nname = "one"\nsha256 = "{digest(TOKEN)}"\nscopes = ["*"]\nstreams = 1\n'
    )
    app = create_app(dataclasses.replace(settings, tokens_file=str(path)))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with serve_in_process(app) as base:
        url = base.replace("ws://", "http://")
        async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as http:
            for _ in range(3):
                bad = await http.get("/stream/bots", params={"limit": "none"})
                assert expect(bad, 400)["error"]["code"] == "bad_request"
            for _ in range(2):  # one at a time: each gives its slot back when it ends
                async with http.stream("GET", "/stream/bots") as response:
                    assert response.status_code == 200
                    lines = response.aiter_lines()
                    with anyio.fail_after(30):
                        assert await anext(lines) == ": subscribed"
                    second = await http.get("/stream/bots")
                    assert second.status_code == 429
                    assert json.loads(second.text)["error"]["code"] == "too_many_requests"
                with anyio.fail_after(30):
                    while True:  # given back once the server has seen the stream end
                        async with http.stream("GET", "/stream/bots") as again:
                            if again.status_code == 200:
                                break
                        await anyio.sleep(0.05)
