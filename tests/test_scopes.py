"""Scoped tokens (issue 23): a tokens file of named tokens, each with scopes (the route families
it reads), allow-lists of account ids and limits; refusals logged and counted; the file read
again when it changes. On the real app (httpx's ASGI transport, hypercorn for streams)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from fullon_cache_api import Settings, create_app, lifespan
from fullon_cache_api.routes import ROUTES
from fullon_cache_api.routing import Endpoint, Family, Socket
from fullon_cache_api.settings import SettingsError
from fullon_cache_api.tokens import CHECK_S, TokensError, digest, parse

from support import expect, http_client, reader_url, serve_api, serve_in_process

pytestmark = pytest.mark.usefixtures("snapshot")

SCREEN = "screen-token-plain-text-0001"
OWNER = "owner-token-plain-text-00001"
OPS = "ops-token-plain-text-0000001"
LATER = "later-token-plain-text-00001"
FAST = "fast-token-plain-text-000001"
TWO = "two-streams-token-plain-0001"
ALL = (SCREEN, OWNER, OPS, LATER, FAST, TWO)


def entry(name: str, token: str, scopes: list[str], **extra: Any) -> str:
    lines = ["[[tokens]]", f'name = "{name}"', f'sha256 = "{digest(token)}"']
    lines.append(f"scopes = {json.dumps(scopes)}")
    lines += [f"{key} = {json.dumps(value)}" for key, value in extra.items()]
    return "\n".join(lines) + "\n"


THREE = (
    entry("screen", SCREEN, ["market"])
    + entry("owner1", OWNER, ["accounts", "orders"], ex_ids=["1"])
    + entry("ops", OPS, ["*"])
    + entry("fast", FAST, ["market"], rate=20, burst=20)
    + entry("two", TWO, ["market"], streams=2)
)


@pytest.fixture
def tokens_file(tmp_path: Path) -> Path:
    path = tmp_path / "tokens.toml"
    path.write_text(THREE)
    return path


@pytest.fixture
def scoped(settings: Settings, tokens_file: Path) -> Settings:
    return Settings(redis_url=settings.redis_url, tokens_file=str(tokens_file))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# Paths by family, each answering 200 on the snapshot to a token that may read it.
READS = {
    Family.MARKET: [
        "/tickers",
        "/tickers/binance/BTC/USDT",
        "/exchanges",
        "/ohlcv",
        "/trades",
    ],
    Family.ACCOUNTS: ["/accounts", "/accounts/1/balances", "/accounts/1/positions"],
    Family.ORDERS: ["/orders/queues"],
    Family.USER_TRADES: ["/trades/status", "/trades/metrics"],
    Family.BOTS: ["/bots", "/bots/blocks"],
    Family.PROCESSES: ["/processes", "/processes/health"],
    Family.SERVICE: ["/overview", "/info", "/metrics"],
}


def test_every_route_and_action_declares_a_family() -> None:
    for route in ROUTES:
        if isinstance(route, Endpoint):
            assert isinstance(route.family, Family), route.path
        else:
            assert isinstance(route, Socket)
            for action in route.actions:
                assert isinstance(route.family_of(action.name), Family), (route.path, action.name)


def test_every_family_is_covered_here() -> None:
    tested = {route for paths in READS.values() for route in paths}
    assert set(READS) == set(Family) - {Family.OPEN}
    assert len(tested) == sum(len(paths) for paths in READS.values())


async def test_screen_reads_market_and_nothing_else(scoped, clock) -> None:
    app = create_app(scoped, clock=clock)
    async with lifespan(app), http_client(app) as http:
        for family, paths in READS.items():
            for path in paths:
                response = await http.get(path, headers=bearer(SCREEN))
                if family is Family.MARKET:
                    assert response.status_code == 200, (path, response.text)
                else:
                    body = expect(response, 403)
                    assert body["error"]["code"] == "forbidden"
        expect(await http.get("/health"))  # open routes stay open


async def test_ops_reads_every_family(scoped, clock) -> None:
    app = create_app(scoped, clock=clock)
    async with lifespan(app), http_client(app) as http:
        for paths in READS.values():
            for path in paths:
                response = await http.get(path, headers=bearer(OPS))
                assert response.status_code == 200, (path, response.text)


async def test_owner_reads_only_its_own_account(scoped, clock) -> None:
    app = create_app(scoped, clock=clock)
    async with lifespan(app), http_client(app) as http:
        own = expect(await http.get("/accounts/1/balances", headers=bearer(OWNER)))
        assert own["ex_id"] == "1"
        expect(await http.get("/accounts/1/positions", headers=bearer(OWNER)))
        for other in ("/accounts/2/balances", "/accounts/3/positions", "/accounts/2/status"):
            body = expect(await http.get(other, headers=bearer(OWNER)), 403)
            assert body["error"]["code"] == "forbidden"
        listing = expect(await http.get("/accounts", headers=bearer(OWNER)))
        assert [item["ex_id"] for item in listing["items"]] == ["1"]
        assert listing["count"] == 1
        everyone = expect(await http.get("/accounts", headers=bearer(OPS)))
        assert len(everyone["items"]) == 3
        # a listing across accounts that cannot keep only its own is refused, not leaked
        expect(await http.get("/orders", headers=bearer(OWNER)), 403)
        for outside in ("/tickers", "/bots", "/processes", "/info"):
            expect(await http.get(outside, headers=bearer(OWNER)), 403)


async def test_the_three_tokens_of_the_issue(tmp_path: Path, admin, settings, clock) -> None:
    """``screen`` (market), ``owner11`` (accounts and orders of ex_id 11), ``ops`` (``*``)."""
    for new, old in (("11", "1"), ("12", "2")):
        for name in ("accounts", "account_positions"):
            admin.hset(name, new, admin.hget(name, old))
    path = tmp_path / "three.toml"
    path.write_text(
        entry("screen", SCREEN, ["market"])
        + entry("owner11", OWNER, ["accounts", "orders"], ex_ids=["11"])
        + entry("ops", OPS, ["*"])
    )
    app = create_app(Settings(redis_url=settings.redis_url, tokens_file=str(path)), clock=clock)
    async with lifespan(app), http_client(app) as http:
        expect(await http.get("/accounts/11/balances", headers=bearer(OWNER)))
        expect(await http.get("/accounts/12/balances", headers=bearer(OWNER)), 403)
        listing = expect(await http.get("/accounts", headers=bearer(OWNER)))
        assert [item["ex_id"] for item in listing["items"]] == ["11"]
        expect(await http.get("/accounts/12/balances", headers=bearer(OPS)))
        assert len(expect(await http.get("/accounts", headers=bearer(OPS)))["items"]) == 5
        expect(await http.get("/tickers", headers=bearer(SCREEN)))
        for path_ in ("/accounts", "/bots", "/processes"):
            expect(await http.get(path_, headers=bearer(SCREEN)), 403)


def test_a_real_server_reloads_its_tokens_and_logs_no_token(tmp_path: Path, redis_server) -> None:
    path = tmp_path / "tokens.toml"
    path.write_text(THREE)
    env = {"REDIS_URL": reader_url(redis_server), "FULLON_CACHE_API_TOKENS_FILE": str(path)}
    with serve_api("--access-log", env=env, output=True) as served:
        with httpx.Client(base_url=served.base, timeout=10) as http:
            assert http.get("/tickers", headers=bearer(SCREEN)).status_code == 200
            assert http.get("/accounts", headers=bearer(SCREEN)).status_code == 403
            assert http.get("/tickers", params={"token": LATER}).status_code == 401
            path.write_text(THREE + entry("later", LATER, ["market"]))
            deadline = time.monotonic() + 5
            while http.get("/tickers", headers=bearer(LATER)).status_code != 200:
                assert time.monotonic() < deadline, "the new token is not in use within 5 s"
                time.sleep(0.1)
            path.write_text("broken = [")
            time.sleep(CHECK_S + 0.2)
            assert http.get("/tickers", headers=bearer(LATER)).status_code == 200
            assert http.get("/tickers", headers=bearer(SCREEN)).status_code == 200
            metrics = http.get("/metrics", headers=bearer(OPS)).text
        served.process.terminate()
        served.process.wait(15)
        assert served.process.stdout is not None
        logs = served.process.stdout.read()
    assert "refused 403 scope: token=screen" in logs
    assert "not reloaded" in logs
    assert 'fullon_cache_api_refusals_total{reason="scope",token="screen"} 1.0' in metrics
    for token in ALL:
        assert token not in logs
        assert token not in metrics
        assert token not in path.read_text()


async def test_unknown_token_is_401(scoped, clock) -> None:
    app = create_app(scoped, clock=clock)
    async with lifespan(app), http_client(app) as http:
        for headers in ({}, bearer("not-a-known-token-at-all"), bearer(digest(SCREEN))):
            body = expect(await http.get("/tickers", headers=headers), 401)
            assert body["error"]["code"] == "unauthorized"


def test_websocket_actions_obey_scopes_and_allow_lists(scoped, clock) -> None:
    client = TestClient(create_app(scoped, clock=clock))

    def ask(path: str, token: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        verb = "operation" if path == "/ws" else "action"
        with client.websocket_connect(f"{path}?token={token}") as socket:
            socket.send_text(json.dumps({verb: action, "request_id": "r1", "params": params}))
            reply: dict[str, Any] = socket.receive_json()
            return reply

    refused = ask("/ws/accounts/c1", SCREEN, "get_balance", {"user_id": 1, "currency": "USDT"})
    assert (refused["success"], refused["error_code"]) == (False, "FORBIDDEN")
    refused = ask(
        "/ws", SCREEN, "get_user_balances", {"user_id": 1, "currency": "USDT"}
    )  # the gateway: same scope
    assert refused["error_code"] == "FORBIDDEN", refused
    ticker = ask(
        "/ws/tickers/c1", SCREEN, "get_ticker", {"exchange": "binance", "symbol": "BTC/USDT"}
    )
    assert ticker["success"] is True, ticker
    assert (
        ask("/ws/accounts/c1", OWNER, "get_balance", {"user_id": 1, "currency": "USDT"})["success"]
        is True
    )
    other = ask("/ws/accounts/c1", OWNER, "stream_positions", {"exchange": "2"})
    assert (other["success"], other["error_code"]) == (False, "FORBIDDEN")
    other = ask("/ws/accounts/c1", OWNER, "get_balance", {"user_id": 2, "currency": "USDT"})
    assert other["error_code"] == "FORBIDDEN"
    mine = ask("/ws/accounts/c1", OPS, "get_balance", {"user_id": 2, "currency": "USDT"})
    assert mine.get("error_code") != "FORBIDDEN", mine
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws/tickers/c1?token=nope"):
        pass
    with (
        client.websocket_connect(f"/ws/tickers/c1?token={TWO}"),
        client.websocket_connect(f"/ws/tickers/c2?token={TWO}"),
    ):
        with (
            pytest.raises(WebSocketDisconnect) as refused_socket,  # its third: refused
            client.websocket_connect(f"/ws/tickers/c3?token={TWO}"),
        ):
            pass
        assert refused_socket.value.code == 1013
    with client.websocket_connect(f"/ws/tickers/c4?token={TWO}"):  # given back
        pass


async def test_streams_obey_scopes_and_the_per_token_limit(scoped, clock) -> None:
    app = create_app(scoped, clock=clock)
    async with lifespan(app), serve_in_process(app) as base:
        url = base.replace("ws://", "http://")
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            with anyio.fail_after(10):
                async with http.stream("GET", "/stream/tickers", headers=bearer(OWNER)) as no:
                    assert no.status_code == 403
                async with (
                    http.stream("GET", "/stream/tickers", headers=bearer(TWO)) as one,
                    http.stream("GET", "/stream/tickers", headers=bearer(TWO)) as two,
                ):
                    assert one.status_code == two.status_code == 200
                    lines = one.aiter_lines(), two.aiter_lines()  # kept: the streams stay open
                    assert await anext(lines[0]) == ": subscribed"
                    assert await anext(lines[1]) == ": subscribed"
                    async with http.stream("GET", "/stream/tickers", headers=bearer(TWO)) as third:
                        assert third.status_code == 429
                        body = json.loads(await third.aread())
                        assert body["error"]["code"] == "too_many_requests"
                    async with http.stream("GET", "/stream/tickers", headers=bearer(SCREEN)) as s:
                        assert s.status_code == 200  # another token's slots are its own
            with anyio.fail_after(5):
                while True:  # given back once they end
                    async with http.stream("GET", "/stream/tickers", headers=bearer(TWO)) as again:
                        if again.status_code == 200:
                            break
                    await anyio.sleep(0.05)


async def test_rate_limit_answers_429_with_retry_after_then_recovers(scoped, clock) -> None:
    app = create_app(scoped, clock=clock)
    path = "/tickers/binance/BTC/USDT"
    async with lifespan(app), http_client(app) as http:
        replies = await asyncio.gather(*(http.get(path, headers=bearer(FAST)) for _ in range(30)))
        statuses = [reply.status_code for reply in replies]
        assert set(statuses) == {200, 429}, statuses
        refused = next(reply for reply in replies if reply.status_code == 429)
        assert refused.json()["error"]["code"] == "too_many_requests"
        wait = int(refused.headers["retry-after"])
        assert wait >= 1
        expect(await http.get(path, headers=bearer(SCREEN)))  # other tokens are not held back
        await anyio.sleep(wait)
        expect(await http.get(path, headers=bearer(FAST)))


async def test_a_changed_file_is_used_without_restart_and_a_broken_one_is_not(
    scoped, clock, tokens_file, caplog
) -> None:
    app = create_app(scoped, clock=clock)
    async with lifespan(app), http_client(app) as http:
        expect(await http.get("/tickers", headers=bearer(LATER)), 401)
        tokens_file.write_text(THREE + entry("later", LATER, ["market"]))
        with anyio.fail_after(5):
            while (await http.get("/tickers", headers=bearer(LATER))).status_code != 200:
                await anyio.sleep(0.1)
        with caplog.at_level(logging.ERROR, "fullon.cache_api.auth"):
            tokens_file.write_text("[[tokens]]\nname = ")  # broken
            await anyio.sleep(CHECK_S + 0.2)
            expect(await http.get("/tickers", headers=bearer(SCREEN)))
            expect(await http.get("/tickers", headers=bearer(LATER)))
        assert "not reloaded" in caplog.text


async def test_refusals_are_logged_and_counted_and_no_token_shows(
    scoped, clock, tokens_file, caplog
) -> None:
    app = create_app(scoped, clock=clock)
    with caplog.at_level(logging.INFO, "fullon.cache_api"):
        async with lifespan(app), http_client(app) as http:
            expect(await http.get("/accounts", headers=bearer(SCREEN)), 403)
            expect(await http.get("/accounts/2/balances", headers=bearer(OWNER)), 403)
            expect(await http.get("/tickers", headers=bearer("wrong-token-\nforged line")), 401)
            metrics = expect_text(await http.get("/metrics", headers=bearer(OPS)))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]
    assert any("403 scope" in line and "token=screen" in line for line in lines), lines
    assert any("403 allow_list" in line and "token=owner1" in line for line in lines), lines
    assert any("401 no_token" in line and "token=unknown" in line for line in lines), lines
    assert all("route=/accounts" in line or "route=/tickers" in line for line in lines), lines
    assert 'fullon_cache_api_refusals_total{reason="scope",token="screen"}' in metrics
    assert 'reason="allow_list",token="owner1"' in metrics
    for token in ALL:
        assert token not in tokens_file.read_text()
        assert token not in caplog.text
        assert token not in metrics


def expect_text(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return response.text


def test_a_bad_tokens_file_is_a_settings_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    env = {"FULLON_CACHE_API_TOKENS_FILE": str(path)}
    for text, words in (
        ("not toml [", "not valid TOML"),
        ('[[tokens]]\nname = "a"\nsha256 = "00"\nscopes = ["market"]\n', "sha256"),
        (entry("a", SCREEN, ["everything"]), "unknown scope"),
        (entry("a", SCREEN, ["market"]) + entry("a", OPS, ["market"]), "used twice"),
        (entry("a", SCREEN, ["market"], rate=-1), "rate"),
    ):
        path.write_text(text)
        with pytest.raises(SettingsError, match=words):
            Settings.from_env(env)
    with pytest.raises(SettingsError, match="cannot read"):
        Settings.from_env({"FULLON_CACHE_API_TOKENS_FILE": str(tmp_path / "missing.toml")})


def test_a_bad_tokens_file_stops_the_start_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("not toml [")
    env = {**os.environ, "FULLON_CACHE_API_TOKENS_FILE": str(path)}
    done = subprocess.run(
        [sys.executable, "-m", "fullon_cache_api", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "FULLON_CACHE_API_TOKENS_FILE" in done.stderr


def test_token_new_prints_the_token_once_and_its_entry() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fullon_cache_api", "token", "new", "screen", "--scope", "market"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    first, rest = done.stdout.split("\n", 1)
    token = first.rsplit(" ", 1)[1]
    assert len(token) >= 40
    assert token not in rest
    (parsed,) = parse(rest)
    assert (parsed.name, parsed.scopes, parsed.sha256.hex()) == (
        "screen",
        {"market"},
        digest(token),
    )
    assert tomllib.loads(rest)["tokens"][0]["scopes"] == ["market"]


async def test_plain_tokens_still_read_everything(settings: Settings, clock) -> None:
    plain = Settings(redis_url=settings.redis_url, tokens=("plain-token-0123456789",))
    app = create_app(plain, clock=clock)
    async with lifespan(app), http_client(app) as http:
        for paths in READS.values():
            for path in paths:
                response = await http.get(path, headers=bearer("plain-token-0123456789"))
                assert response.status_code == 200, (path, response.text)


def test_token_lookup_is_by_digest() -> None:
    (token,) = parse(entry("a", SCREEN, ["market"]))
    assert token.sha256.hex() == digest(SCREEN)
    with pytest.raises(TokensError):
        parse("[other]\n")
    assert time.monotonic() > 0
