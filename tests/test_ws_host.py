"""The WebSocket routes where they are used: mounted under a FastAPI host as master_api mounts
them (its structural checks, its handshake hook), and standalone behind bearer tokens, served by
``python -m fullon_cache_api`` to a real ``websockets`` client."""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Mount, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from fullon_cache_api import Resource, Settings
from fullon_cache_api.main import create_app

from support import reader_url, serve_api, serve_in_process

pytestmark = pytest.mark.usefixtures("snapshot")
BASE = "/api/v1/cache"
SOCKET_PATHS = {
    "/ws",
    *(f"/ws/{d}/{{connection_id}}" for d in ("tickers", "orders", "trades", "accounts")),
    *(f"/ws/{d}/{{connection_id}}" for d in ("bots", "ohlcv", "process")),
}
TICKER = {
    "action": "get_ticker",
    "request_id": "t",
    "params": {"exchange": "binance", "symbol": "BTC/USDT"},
}


def test_master_apis_structural_checks_on_a_fastapi_host(settings) -> None:
    """master_api's own test: the mount, at least 8 routes, the eight top-level sockets."""
    host = FastAPI()
    host.mount(BASE, create_app(settings))
    mounted = [r for r in host.routes if hasattr(r, "path") and r.path == BASE]
    assert len(mounted) == 1 and isinstance(mounted[0], Mount)
    cache_routes = [r for r in mounted[0].app.routes if hasattr(r, "path")]
    assert len(cache_routes) >= 8
    sockets = [r for r in cache_routes if r.path.startswith("/ws")]
    assert {r.path for r in sockets} == SOCKET_PATHS
    assert all(isinstance(r, WebSocketRoute) for r in sockets)
    assert {tuple(r.param_convertors) for r in sockets} == {(), ("connection_id",)}
    for pattern in SOCKET_PATHS:
        base_pattern = pattern.split("{")[0]
        assert [r for r in sockets if r.path.startswith(base_pattern)], pattern


# mounted: master_api's handshake hook, require_user and authorize ---------------------------

TOKENS = {"alice-token": "alice"}


async def authenticate_websocket(websocket: WebSocket) -> bool:
    """Like master_api's: the token from ``?token=``, the user on ``websocket.state``, or a
    close with 1008."""
    user = TOKENS.get(websocket.query_params.get("token", ""))
    if user is None:
        await websocket.close(code=1008, reason="Invalid authentication token")
        return False
    websocket.state.user = user
    return True


async def alice_reads_ex_id_1(connection: Any, resource: Resource) -> bool:
    return connection.state.user == "alice" and resource.ex_id in (None, "1")


def master_api(settings: Settings, clock, hook=authenticate_websocket) -> FastAPI:
    cache_app = create_app(
        settings,
        clock=clock,
        require_user=True,
        authorize=alice_reads_ex_id_1,
        authenticate_websocket=hook,
    )
    host = FastAPI()
    host.mount(BASE, cache_app)
    return host


def test_mounted_the_hosts_hook_admits_and_authorize_applies_to_every_action(
    settings, clock
) -> None:
    client = TestClient(master_api(settings, clock))
    for url in (f"{BASE}/ws/tickers/c1", f"{BASE}/ws/tickers/c1?token=wrong"):
        with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(url):
            pass
        assert refused.value.code == 1008
    with client.websocket_connect(f"{BASE}/ws/tickers/c1?token=alice-token") as ws:
        ws.send_text(json.dumps(TICKER))
        assert ws.receive_json()["result"]["price"] == 300.0
    with client.websocket_connect(f"{BASE}/ws/accounts/c1?token=alice-token") as ws:
        for user_id, expected in ((1, True), (2, False)):
            params = {"user_id": user_id, "currency": "USDT"}
            ws.send_text(json.dumps({"action": "get_balance", "request_id": "b", "params": params}))
            assert ws.receive_json()["success"] is expected
        ws.send_text(json.dumps({"action": "stream_positions", "params": {"exchange": "2"}}))
        assert ws.receive_json() == {
            "request_id": None,
            "success": False,
            "error_code": "FORBIDDEN",
            "error": "not allowed to read this resource",
        }


def test_mounted_without_a_user_the_handshake_is_refused(settings, clock) -> None:
    async def admits_anyone(websocket: WebSocket) -> bool:
        return True  # sets no user: require_user refuses

    client = TestClient(master_api(settings, clock, admits_anyone))
    with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect(f"{BASE}/ws"):
        pass
    assert refused.value.code == 1008


async def test_mounted_under_a_fastapi_host_over_the_wire(settings, clock) -> None:
    async with serve_in_process(master_api(settings, clock)) as base:
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"{base}{BASE}/ws/tickers/c1")
        assert refused.value.response.status_code == 403
        async with connect(f"{base}{BASE}/ws/tickers/c1?token=alice-token") as ws:
            await ws.send(json.dumps(TICKER))
            assert json.loads(await ws.recv())["result"]["bid"] == 299.5


# standalone: bearer tokens and the server's own bounds --------------------------------------


TOKEN = "standalone-token-0123"


async def test_standalone_tokens_guard_the_handshake(redis_server) -> None:
    env = {
        "REDIS_URL": reader_url(redis_server),
        "FULLON_CACHE_API_TOKENS": TOKEN,
        "FULLON_CACHE_API_WS_MAX_FRAME": "1000",
    }
    with serve_api(env=env) as served:
        ws_base = served.base.replace("http:", "ws:")
        for url, headers in (
            (f"{ws_base}/ws/tickers/c1", None),
            (f"{ws_base}/ws/tickers/c1?token=wrong", None),
            (f"{ws_base}/ws/tickers/c1", {"Authorization": "Bearer wrong"}),
            (f"{ws_base}/ws/nope/c1?token={TOKEN}", None),  # not routed
            (f"{ws_base}/ws/tickers/a/b?token={TOKEN}", None),
        ):
            with pytest.raises(InvalidStatus) as refused:
                await connect(url, additional_headers=headers)
            assert refused.value.response.status_code == 403, url
        async with httpx.AsyncClient(base_url=served.base, timeout=60) as http:
            assert (await http.get("/health")).status_code == 200  # still public
        for url, headers in (
            (f"{ws_base}/ws/tickers/c1", {"Authorization": f"Bearer {TOKEN}"}),
            (f"{ws_base}/ws/tickers/c1?token={TOKEN}", None),  # browsers cannot set headers
        ):
            async with connect(url, additional_headers=headers) as ws:
                await ws.send(json.dumps(TICKER))
                assert json.loads(await ws.recv())["result"]["price"] == 300.0
        async with connect(f"{ws_base}/ws?token={TOKEN}") as ws:
            await ws.send(json.dumps({"operation": "ping", "pad": "x" * 2000}))
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_a_stopping_server_closes_open_sockets_at_once(redis_server) -> None:
    """SIGTERM: every open WebSocket, streaming or idle, is closed with 1001 (going away) and
    the server exits without waiting its whole graceful timeout for them."""
    env = {"REDIS_URL": reader_url(redis_server)}
    with serve_api("--graceful-timeout", "20", env=env) as served:
        ws_base = served.base.replace("http:", "ws:")
        async with (
            connect(f"{ws_base}/ws/orders/streaming") as streaming,
            connect(f"{ws_base}/ws/tickers/idle") as idle,
        ):
            params = {"exchange": "binance"}
            await streaming.send(json.dumps({"action": "stream_order_queue", "params": params}))
            assert json.loads(await streaming.recv())["success"] is True
            assert json.loads(await streaming.recv())["action"] == "queue_update"
            await idle.send(json.dumps(TICKER))
            assert json.loads(await idle.recv())["success"] is True
            start = time.monotonic()
            served.process.terminate()
            for ws in (streaming, idle):
                with anyio.fail_after(5), pytest.raises(ConnectionClosed) as closed:
                    await ws.recv()
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        served.process.wait(10)
        assert served.process.returncode == 0
        assert time.monotonic() - start < 5  # not the 20 s graceful timeout
