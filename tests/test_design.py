"""The shape of the code, checked: no import cycle in the package, and every route takes exactly
the parameters it declares (the handler never sees the request)."""

from __future__ import annotations

import ast
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fullon_cache_api
from fullon_cache_api.routes import ENDPOINTS

from support import SNAPSHOT, reader_url

PACKAGE = Path(fullon_cache_api.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports(name: str) -> set[str]:
    """The package modules ``name`` imports at run time (``if TYPE_CHECKING:`` blocks aside).
    ``from .pkg import sub`` is an edge to the submodule, not to the package."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
    return {module for module in found if module in MODULES and module != name}


def test_the_package_has_no_import_cycle() -> None:
    graph = {name: imports(name) for name in MODULES}
    state: dict[str, str] = {}
    cycles: list[list[str]] = []

    def visit(name: str, trail: list[str]) -> None:
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []
    assert "fullon_cache_api.routes" in graph["fullon_cache_api.app"]  # the instrument works


def test_the_version_is_a_leaf() -> None:
    assert imports("fullon_cache_api.version") == set()
    importers = {name for name in MODULES if "fullon_cache_api.version" in imports(name)}
    assert "fullon_cache_api" in importers


def test_every_handler_takes_exactly_its_declared_parameters() -> None:
    """A handler gets the context and the route's parsed parameters as keywords: it cannot read
    an undeclared one (there is no request to read it from)."""
    for endpoint in ENDPOINTS:
        signature = inspect.signature(endpoint.handler)
        names = list(signature.parameters)
        assert names[0] == "ctx", endpoint.path
        assert sorted(names[1:]) == sorted(p.name for p in endpoint.params), endpoint.path


SPREADS = '''

class SpreadOut(msgspec.Struct, kw_only=True, frozen=True):
    symbol: str
    spread: float | None


class SpreadsOut(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    exchange: str
    items: list[SpreadOut]
    count: int
    next_cursor: str | None = None


async def spreads(ctx: Ctx, exchange: str, limit: int, cursor: HashPosition | None) -> SpreadsOut:
    """Each symbol's ask - bid."""
    group = await read_exchange_tickers(ctx.source, exchange, None, cursor, limit)
    items = [
        SpreadOut(symbol=symbol, spread=None if t.bid is None or t.ask is None else t.ask - t.bid)
        for symbol, t in group.ticks.items
    ]
    return SpreadsOut(
        exchange=exchange, items=items, count=len(items), next_cursor=next_cursor(group.next)
    )
'''
SPREAD_ROW = """    Endpoint(
        "/tickers/{exchange}/spread",
        tickers.spreads,
        tickers.SpreadsOut,
        (EXCHANGE, PAGE, HASH_CURSOR),
        tag="tickers",
        family=Family.MARKET,
    ),
"""
SERVE = """
import asyncio, json, sys
import httpx
from fullon_cache_api import Settings, create_app, lifespan
from fullon_cache_api.client import CacheClient

async def main():
    app = create_app(Settings(redis_url=sys.argv[1]))
    transport = httpx.ASGITransport(app=app)
    async with lifespan(app), httpx.AsyncClient(transport=transport, base_url="http://a") as http:
        body = (await http.get("/tickers/binance/spread")).json()
        paths = (await http.get("/openapi.json")).json()["paths"]
        metrics = (await http.get("/metrics")).text
        async with CacheClient("http://a", transport=transport) as client:
            typed = await client.spreads("binance", limit=2)
    print(json.dumps({
        "count": body["count"],
        "documented": sorted(paths["/tickers/{exchange}/spread"]["get"]["parameters"][i]["name"]
                             for i in range(3)),
        "measured": 'route="/tickers/{exchange}/spread"' in metrics,
        "client": [type(typed).__name__, typed.count],
    }))

asyncio.run(main())
"""


@pytest.mark.slow
def test_a_route_needs_only_its_row_and_handler_then_docs_and_tests(
    tmp_path, redis_server, snapshot
):
    """Issue 19's exercise, run on a copy of the package: a handler and one row in the route
    table, and nothing else, give a route that is served over Redis, in the OpenAPI document,
    in /metrics and in the Python client; the completeness tests then ask for its docs/API.md
    row, its Redis budget in the ``BUDGETS`` of its family's test module (tests/test_tickers.py,
    beside the test of its values: not tests/test_budgets.py) and the client's type stub made
    again (one command), and for nothing else."""
    if any(e.path == "/tickers/{exchange}/spread" for e in ENDPOINTS):
        pytest.skip("the route is in the table: the exercise was made for real (scratch branch)")
    copy = tmp_path / "fullon_cache_api"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "handlers" / "tickers.py").write_text(
        (copy / "handlers" / "tickers.py").read_text() + SPREADS
    )
    routes = (copy / "routes.py").read_text()
    anchor = '    Endpoint(\n        "/tickers/{exchange}/{symbol:path}",'
    assert anchor in routes
    (copy / "routes.py").write_text(routes.replace(anchor, SPREAD_ROW + anchor))
    inherited = {k: v for k, v in os.environ.items() if k != "COVERAGE_PROCESS_START"}
    env = {**inherited, "PYTHONPATH": str(tmp_path)}

    def python(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    served = python("-c", SERVE, reader_url(redis_server))
    assert served.returncode == 0, served.stderr
    tickers = {e["key"]: e["value"] for e in SNAPSHOT["keys"]}["tickers:binance"]
    assert json.loads(served.stdout) == {
        "count": len(tickers),
        "documented": ["cursor", "exchange", "limit"],
        "measured": True,
        "client": ["SpreadsOut", 2],
    }
    tests = Path(__file__).parent
    checked = python(
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        str(tests / "test_docs.py"),
        str(tests / "test_budgets.py") + "::test_every_endpoint_has_a_budget",
        str(tests / "test_client_types.py") + "::test_the_stub_is_the_one_the_route_table_makes",
    )
    failed = sorted(re.findall(r"^FAILED \S+::(\w+)", checked.stdout, re.M))
    assert failed == [
        "test_api_md_lists_exactly_the_http_routes_of_the_route_table",
        "test_every_endpoint_has_a_budget",
        "test_fixed_words_that_a_path_parameter_cannot_take_are_listed",
        "test_the_stub_is_the_one_the_route_table_makes",
    ], checked.stdout
    assert "python -m fullon_cache_api.client --stub" in checked.stdout
    assert checked.stdout.count("/tickers/{exchange}/spread") >= 3, checked.stdout
    assert "{'/tickers/{exchange}/spread': 'tests/test_tickers.py'}" in checked.stdout
