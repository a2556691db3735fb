"""Round-trip budgets: every endpoint reads Redis in a fixed number of round trips, however many
items it returns.

Measured on the real test server, around one request: ``INFO all`` before and after gives the
commands the request ran (``commandstats`` calls, by command) and its round trips
(``total_reads_processed``: Redis reads a client's request once per round trip, and a pipeline
arrives in one read). The admin's own two INFO commands are subtracted: the first one's call
and the second one's read fall inside the window. Each request is made once before measuring,
so opening pooled connections (AUTH, CLIENT SETNAME...) is not counted: what is left is what
every request pays.

Every endpoint is asked with its data scaled to 3 and to 50 items. The round trips must be the
budget's, and only pipelined commands may grow with the items: a single item is one command, a
listing over N keys is one pipeline (its keys come from the key index: no request sends SCAN).
No endpoint but ``/health`` sends PING.

A route's budget lives with the route's own tests: the test module of its family (its tag in
``routes.py``: tests/test_tickers.py for the ticker routes...) declares ``BUDGETS``, a tuple of
``Case`` (tests/budgets.py: ``Case``, the budget shapes and the ``fill_*`` writers). This module
reads every ``tests/test_*.py``, imports those that declare ``BUDGETS`` and measures all their
cases. A new route without a budget fails ``test_every_endpoint_has_a_budget``, which names the
module its budget belongs in.
"""

from __future__ import annotations

import ast
import importlib
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import anyio
import pytest
import redis

from fullon_cache_api import Settings, create_app, lifespan
from fullon_cache_api.routes import ENDPOINTS

from budgets import Case, fill_tickers, tick
from support import Clock, reader_url

SIZES = (3, 50)


# budgets ----------------------------------------------------------------------------------------

TESTS = Path(__file__).parent

BUDGETS: tuple[Case, ...] = ()
"""The budgets of routes whose family has no test module of its own (none today): a route's
budget lives in the ``BUDGETS`` of the test module of its family (its tag in ``routes.py``)."""


def declares_budgets(path: Path) -> bool:
    """Whether the module at ``path`` assigns ``BUDGETS`` at its top level (read, not imported)."""
    for node in ast.parse(path.read_text(), str(path)).body:
        targets: list[ast.expr]
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        elif isinstance(node, ast.Assign):
            targets = node.targets
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == "BUDGETS" for t in targets):
            return True
    return False


def collect_budgets() -> tuple[tuple[str, Case], ...]:
    """Every test module's ``BUDGETS`` as (module file, case), in route table order (a
    template's cases in the order its module lists them). Every ``tests/test_*.py`` is read,
    so a module that declares budgets cannot be missed; only those that do are imported."""
    order = {e.path: i for i, e in enumerate(ENDPOINTS)}
    found: list[tuple[str, Case]] = [(f"tests/{Path(__file__).name}", c) for c in BUDGETS]
    for path in sorted(TESTS.glob("test_*.py")):
        if path.name == Path(__file__).name or not declares_budgets(path):
            continue
        budgets = importlib.import_module(path.stem).BUDGETS
        assert isinstance(budgets, tuple), path
        assert all(isinstance(c, Case) for c in budgets), path
        found.extend((f"tests/{path.name}", c) for c in budgets)
    return tuple(sorted(found, key=lambda pair: order.get(pair[1].template, len(order))))


COLLECTED = collect_budgets()
CASES: tuple[Case, ...] = tuple(case for _, case in COLLECTED)
"""Every route's budgets, from every test module's ``BUDGETS``."""


# measuring --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counts:
    reads: int
    calls: Counter[str]
    refused: Counter[str]
    """Rejected and failed calls by command (a write refused by the ACL would show here)."""


def server_counts(admin: redis.Redis) -> Counts:
    info = admin.info("all")
    calls: Counter[str] = Counter()
    refused: Counter[str] = Counter()
    for name, stats in info.items():
        if name.startswith("cmdstat_"):
            command = name.removeprefix("cmdstat_")
            calls[command] = stats["calls"]
            refused[command] = stats.get("rejected_calls", 0) + stats.get("failed_calls", 0)
    return Counts(info["total_reads_processed"], calls, refused)


@dataclass(frozen=True)
class Measured:
    status: int
    trips: int
    commands: Counter[str]
    refused: Counter[str]
    body: bytes
    """The answer's first bytes (what a failed budget shows)."""


@pytest.fixture
def settings(redis_server) -> Settings:
    """The budgets are what a request costs Redis: with the local cache off (with it on, the
    repeated request would cost nothing; tests/test_local_cache.py measures that)."""
    return Settings(redis_url=reader_url(redis_server), local_cache=False)


async def measure(client, admin: redis.Redis, path: str) -> Measured:
    """The Redis work of one request for ``path``, after a first request warmed things up."""
    await client.get(path)
    before = server_counts(admin)
    response = await client.get(path)
    after = server_counts(admin)
    commands = after.calls - before.calls
    commands -= Counter(info=1)  # the admin's first INFO (its second one is not counted yet)
    trips = after.reads - before.reads - 1  # the admin's second INFO is one read
    refused = after.refused - before.refused
    return Measured(response.status_code, trips, commands, refused, response.content[:300])


# tests ------------------------------------------------------------------------------------------


STREAMS = {
    "/stream/tickers",
    "/stream/orders",
    "/stream/orders/queues",
    "/stream/accounts/{ex_id}",
    "/stream/bots",
    "/stream/processes",
    "/stream/trades/{exchange}/{symbol:path}",
    "/stream/ohlcv/{symbol:path}/{timeframe}",
}
"""Long-lived endpoints, budgeted by ``test_a_stream_subscribes_once_and_never_polls`` (tickers)
and ``tests/test_live.py`` (the watched streams: their reads per coalescing window, whatever
their listeners)."""


TAGS = {e.path: e.tag for e in ENDPOINTS}


def family_modules() -> dict[str, set[str]]:
    """The test modules holding each tag's budgets."""
    found: dict[str, set[str]] = {}
    for module, case in COLLECTED:
        found.setdefault(TAGS.get(case.template, ""), set()).add(module)
    return found


def home(template: str) -> str:
    """The module whose ``BUDGETS`` a route's budget belongs in: its family's (its tag's), or
    this module's own table for a family that has none yet."""
    modules = family_modules().get(TAGS[template], set())
    return min(modules) if modules else f"tests/{Path(__file__).name}"


def test_every_endpoint_has_a_budget() -> None:
    templates = [e.path for e in ENDPOINTS]
    missing = [t for t in templates if t not in {c.template for c in CASES} | STREAMS]
    assert not missing, (
        "routes without a Redis budget (a Case in the BUDGETS of the module named): "
        f"{ {t: home(t) for t in missing} }"
    )
    stale = [t for t in [c.template for c in CASES] + sorted(STREAMS) if t not in templates]
    stale_in = {c.template: m for m, c in COLLECTED if c.template in stale}
    assert not stale, f"budgets for routes that are not in the table: {stale} (in {stale_in})"


def test_a_family_s_budgets_live_in_one_test_module() -> None:
    """Each tag's budgets sit in one test module (its family's: tests/test_tickers.py for
    ``tag="tickers"``...), so a new route's budget has one place to go."""
    split = {tag: sorted(m) for tag, m in family_modules().items() if len(m) > 1}
    assert not split, f"a family's budgets in several test modules: {split}"
    assert family_modules()["tickers"] == {"tests/test_tickers.py"}  # the instrument works


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("case", CASES, ids=[c.path for c in CASES])
async def test_round_trips_within_budget(case: Case, n: int, admin, client, clock: Clock) -> None:
    case.fill(admin, n, clock.now)
    got = await measure(client, admin, case.path)

    assert got.status == 200
    assert not got.refused
    if case.template != "/health":
        assert "ping" not in got.commands, "no per-request PING"
    assert got.commands == case.commands(n), got  # no SCAN: keys come from the key index
    assert got.trips == case.trips


async def test_the_measure_tells_round_trips_from_commands(admin, redis_server) -> None:
    """The instrument itself: five HGETs one by one are five round trips, the same five in one
    pipeline are one (so a reader that loops per item fails the budgets above)."""
    from redis.asyncio import Redis

    fill_tickers(admin, 5, 0.0)
    fields = [f"S{i}/USDT" for i in range(5)]
    async with Redis(port=redis_server.port) as reader:
        await reader.ping()  # connected before measuring
        before = server_counts(admin)
        for name in fields:
            await reader.hget("tickers:bench", name)
        middle = server_counts(admin)
        pipe = reader.pipeline(transaction=False)
        for name in fields:
            pipe.hget("tickers:bench", name)
        await pipe.execute()
        after = server_counts(admin)
    assert middle.reads - before.reads - 1 == 5
    assert after.reads - middle.reads - 1 == 1
    assert (middle.calls - before.calls)["hget"] == (after.calls - middle.calls)["hget"] == 5


# streams ----------------------------------------------------------------------------------------

CONNECTION_SETUP = {"auth", "hello", "client", "select"}
"""Commands redis-py sends when it opens a connection (AUTH, CLIENT SETNAME/SETINFO...)."""


async def _until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    with anyio.fail_after(seconds):
        while not condition():
            await anyio.sleep(0.01)


async def test_a_stream_subscribes_once_and_never_polls(admin, settings, clock: Clock) -> None:
    """Opening /stream/tickers is one PSUBSCRIBE (plus opening its connection) and its
    snapshot's read (one HLEN: the exchange has no tickers hash); while it is open, heartbeats
    and updates cost Redis nothing but the hub's own heartbeat: the subscription pushes,
    nobody polls."""
    app = create_app(replace(settings, stream_heartbeat=0.05), clock=clock)
    body = bytearray()
    gone = anyio.Event()

    async def receive() -> dict[str, object]:
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        chunk = message.get("body")
        if isinstance(chunk, bytes):
            body.extend(chunk)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/stream/tickers",
        "raw_path": b"/stream/tickers",
        "root_path": "",
        "query_string": b"exchange=bench",
        "headers": [(b"host", b"api")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    async with lifespan(app), anyio.create_task_group() as tasks:
        before = server_counts(admin)
        started = time.monotonic()
        tasks.start_soon(app, scope, receive, send)
        await _until(lambda: b": subscribed" in body)
        opened = server_counts(admin)
        await _until(lambda: body.count(b": heartbeat") >= 3)  # idle heartbeats
        admin.publish("ticker_updates:bench:BTC/USDT", tick("BTC/USDT", "bench"))
        await _until(lambda: b"event: ticker" in body)
        after = server_counts(admin)
        gone.set()

    # The hub's heartbeat (a PING after each second of silence on its connection, whatever
    # the number of streams) is the one command besides: it finds a connection that died.
    seconds = time.monotonic() - started
    opening = (opened.calls - before.calls) - Counter(info=1)
    assert _beyond_setup(opening) - Counter(ping=opening["ping"]) == Counter(psubscribe=1, hlen=1)
    streaming = (after.calls - opened.calls) - Counter(info=1, publish=1)
    pings = streaming.pop("ping", 0) + opening["ping"]
    assert streaming == Counter(), "an open stream sends no commands"
    assert pings <= seconds + 1
    # the admin's PUBLISH and INFO are two reads; the app's are its heartbeats only
    assert after.reads - opened.reads - 2 <= pings
    assert not _beyond_setup(after.refused - before.refused)


def _beyond_setup(commands: Counter[str]) -> Counter[str]:
    """``commands`` without those that open a connection (``client|setinfo`` on Redis 7)."""
    return Counter({n: c for n, c in commands.items() if n.split("|")[0] not in CONNECTION_SETUP})
