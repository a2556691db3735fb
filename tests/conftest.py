"""Shared fixtures: one real redis-server per session, the snapshot, and the app under test.

The app connects as a Redis ACL user that may only run read commands (the production ACL line
of docs/LAYOUT.md, quirk 3); fixtures load data as the default user. A write command sent by
the app would fail with NOPERM and fail the test.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import redis
from starlette.applications import Starlette

from fullon_cache_api import Settings, create_app, lifespan
from fullon_cache_api.demo.redis_server import READ_ONLY_ACL, RedisServer
from fullon_cache_api.demo.snapshot import load_snapshot

from support import (
    PATIENT,
    READER_PASSWORD,
    SNAPSHOT,
    WRITTEN_AT,
    Clock,
    http_client,
    reader_url,
    redis_process,
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with redis_process() as server:
        yield server


@pytest.fixture
def admin(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A default-user client on an empty database, for writing test data."""
    with redis.Redis(port=redis_server.port, decode_responses=True) as client:
        client.flushdb()
        yield client


@pytest.fixture
def snapshot(admin: redis.Redis) -> dict[str, Any]:
    """The snapshot, loaded into the (emptied) test Redis."""
    load_snapshot(admin, SNAPSHOT)
    return SNAPSHOT


@pytest.fixture
def clock() -> Clock:
    return Clock(WRITTEN_AT + 30)


@pytest.fixture
def settings(redis_server: RedisServer) -> Settings:
    """The app's settings on the test Redis, with deadlines a busy machine cannot reach (a
    loopback connect or a read of the snapshot never takes 30 s; the defaults' 0.5 s can):
    a test of a deadline sets its own."""
    return Settings(redis_url=reader_url(redis_server), **PATIENT)


@pytest.fixture
def app(settings: Settings, clock: Clock) -> Starlette:
    return create_app(settings, clock=clock)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the real app through httpx's ASGI transport; the app's lifespan runs."""
    async with lifespan(app), http_client(app) as http:
        yield http


@pytest.fixture
async def uncached(settings: Settings, clock: Clock) -> AsyncIterator[httpx.AsyncClient]:
    """Like ``client``, with the local cache off: for tests that count what Redis is sent."""
    app = create_app(dataclasses.replace(settings, local_cache=False), clock=clock)
    async with lifespan(app), http_client(app) as http:
        yield http


@pytest.fixture
def untracked(redis_server: RedisServer, admin: redis.Redis) -> Iterator[str]:
    """A read-only user without CLIENT TRACKING: the local cache stays off."""
    acl = READ_ONLY_ACL.replace(" +client|tracking", "")
    admin.execute_command("ACL", "SETUSER", "notrack", "reset", *acl.split(), f">{READER_PASSWORD}")
    try:
        yield f"redis://notrack:{READER_PASSWORD}@127.0.0.1:{redis_server.port}/0"
    finally:
        admin.execute_command("ACL", "DELUSER", "notrack")
