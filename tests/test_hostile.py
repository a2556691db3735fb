"""Hostile input on every route: answers are 400/404/405 JSON errors, never a 500, never a
Redis error message or traceback, and a glob character never reaches a SCAN pattern."""

from __future__ import annotations

import re

import pytest

from fullon_cache_api.routes import ENDPOINTS

from support import GENERATED_AT, fill

pytestmark = pytest.mark.usefixtures("snapshot")

HOSTILE_PATH = [
    "..",
    "%2e%2e",
    "..%2F..%2Fetc%2Fpasswd",
    "%00",
    "a%00b",
    "x" * 10_240,
    "%FF%FE",
    "%C0%AF",
    "*",
    "%2A",
    "a?b".replace("?", "%3F"),
    "%5Babc%5D",
    "\\",
    "%E2%80%AE",
    "%0D%0ASet-Cookie:%20x=1",
]
NUMERIC = {"ex_id", "uid", "bot_id", "timeframe"}
HOSTILE_NUMBERS = ["-1", "99999999999999999999999999", "1.5", "1e3", "0x10"]
HOSTILE_QUERY = [
    "",
    "*",
    "a*b",
    "[x]",
    "%00",
    "x" * 10_240,
    "%FF",
    "-1",
    "0",
    "1e400",
    "nan",
    "inf",
    "99999999999999999999999999",
    "1.5",
    ",,,",
    "A, B",
]
LEAKS = re.compile(r"Traceback|WRONGTYPE|NOPERM|ResponseError|redis\.|File \"", re.I)
SWEPT = [e for e in ENDPOINTS if not e.is_stream]  # endless answers: test_stream, test_live
# Each sweep over the routes that have what it varies (a route without path parameters has no
# path value to make hostile): every case sends requests and reaches an assertion.
WITH_PATH_PARAMS = [e for e in SWEPT if re.search(r"\{\w+", e.path)]
WITH_QUERY_PARAMS = [e for e in SWEPT if any(p.where == "query" for p in e.params)]


def check(response, allowed=(400, 404)) -> None:
    assert response.status_code in allowed, (response.request.url, response.text[:200])
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and body["error"]["status"] == response.status_code
    assert not LEAKS.search(response.text), response.text[:300]


@pytest.mark.parametrize("endpoint", WITH_PATH_PARAMS, ids=lambda e: e.path)
async def test_hostile_path_values(client, clock, endpoint) -> None:
    clock.now = GENERATED_AT
    names = re.findall(r"\{(\w+)", endpoint.path)
    checked = 0
    for name in names:
        for value in HOSTILE_PATH + (HOSTILE_NUMBERS if name in NUMERIC else []):
            response = await client.get(fill(endpoint.path, **{name: value}))
            if value == ".." and ".." not in response.request.url.raw_path.decode():
                continue  # the client resolved the dot segment: another, ordinary request
            check(response)
            checked += 1
    assert checked >= len(HOSTILE_PATH) - 1


@pytest.mark.parametrize("endpoint", WITH_QUERY_PARAMS, ids=lambda e: e.path)
async def test_hostile_query_values_and_repeated_keys(client, clock, endpoint) -> None:
    clock.now = GENERATED_AT
    path = fill(endpoint.path)
    for param in (p for p in endpoint.params if p.where == "query"):
        for value in HOSTILE_QUERY:
            response = await client.get(f"{path}?{param.name}={value}")
            if response.status_code != 200:  # some values are valid for some parameters
                check(response, (400,))
        response = await client.get(f"{path}?{param.name}=*&{param.name}=1")
        assert response.status_code in (200, 400)
        assert not LEAKS.search(response.text)


@pytest.mark.parametrize("endpoint", SWEPT, ids=lambda e: e.path)
async def test_other_methods(client, endpoint) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"):
        check(await client.request(method, fill(endpoint.path)), (405,))


async def test_glob_values_never_reach_a_scan(client, admin) -> None:
    admin.config_resetstat()
    for path in (
        "/tickers/*",
        "/orders/*",
        "/trades/users/*",
        "/ohlcv/*/timeframes",
        "/processes/components/*",
        "/tickers?symbols=*",
        "/orders?symbol=B*",
    ):
        check(await client.get(path), (400,))
    stats = admin.info("commandstats")
    assert set(stats) <= {"cmdstat_config", "cmdstat_info"}, stats
