"""The Python client's static types: ``fullon_cache_api/_client_api.pyi`` is the stub the route
table makes (a route added or changed without writing it again fails here, naming the command
that writes it), it declares exactly the methods the clients have, with their parameters, and
mypy --strict holds code that uses the clients to the routes' types."""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fullon_cache_api.client import (
    STUB_CLASSES,
    STUB_COMMAND,
    CacheClient,
    SyncCacheClient,
    _Client,
    stub,
)
from fullon_cache_api.context import Ctx
from fullon_cache_api.handlers.tickers import TickerOut
from fullon_cache_api.params import EXCHANGE
from fullon_cache_api.routes import ENDPOINTS
from fullon_cache_api.routing import Endpoint

ROOT = Path(__file__).resolve().parent.parent
STUB = ROOT / "fullon_cache_api" / "_client_api.pyi"


def test_the_stub_is_the_one_the_route_table_makes() -> None:
    assert STUB.read_text() == stub(), f"not the route table's stub; write it: {STUB_COMMAND}"


def test_the_command_prints_the_stub() -> None:
    command = STUB_COMMAND.split(" > ")[0].split()
    assert command[0] == "python"
    printed = subprocess.run(
        [sys.executable, *command[1:]], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == stub() and printed.stderr == ""
    assert STUB_COMMAND.endswith(f"> {STUB.relative_to(ROOT)}")


async def spreads(ctx: Ctx, exchange: str) -> TickerOut:
    """Bid-ask spreads of one exchange's tickers."""
    raise NotImplementedError


def test_a_route_added_to_the_table_changes_the_stub() -> None:
    """So the first test fails for a route added without writing the stub again."""
    added = Endpoint("/tickers/{exchange}/spread", spreads, TickerOut, (EXCHANGE,), tag="tickers")
    text = stub((*ENDPOINTS, added))
    assert text != stub()
    assert "    async def spreads(self, exchange: str) -> TickerOut:\n" in text
    assert "    def spreads(self, exchange: str) -> TickerOut:\n" in text


def test_the_stub_declares_the_methods_of_the_clients_as_they_are_made() -> None:
    """Each class of the stub has exactly the route methods of its client, each with the
    parameters, the kind (a coroutine for an answer, an iterator for pages and streams) and the
    docstring of the method made at run time; at run time the clients do not inherit them."""
    assert not STUB.with_suffix(".py").exists()  # a stub only: the methods are made at import
    assert CacheClient.__bases__ == SyncCacheClient.__bases__ == (_Client,)
    made = {name: f for name, f in vars(_Client).items() if hasattr(f, "endpoint")}
    tree = ast.parse(STUB.read_text())
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    assert set(classes) == set(STUB_CLASSES)
    for class_name, node in classes.items():
        declared = {
            f.name: f for f in node.body if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
        }
        assert set(declared) == set(made), class_name
        for name, function in made.items():
            parameters = list(inspect.signature(function).parameters.values())
            args = declared[name].args
            assert [a.arg for a in args.args] == [
                p.name for p in parameters if p.kind is not p.KEYWORD_ONLY
            ]
            assert [a.arg for a in args.kwonlyargs] == [
                p.name for p in parameters if p.kind is p.KEYWORD_ONLY
            ]
            assert all(isinstance(d, ast.Constant) and d.value is None for d in args.kw_defaults)
            answers = not (name.startswith("iter_") or function.endpoint.is_stream)
            asynchronous = STUB_CLASSES[class_name] is False and answers
            assert isinstance(declared[name], ast.AsyncFunctionDef) == asynchronous, name
            docstring = ast.get_docstring(declared[name]) or ""
            assert docstring.split() == (function.__doc__ or "").split(), name


# Code that uses both clients, checked by mypy --strict: a line marked ``# error: <code>`` must
# be a mypy error of that code, and no other line may be one; ``reveal_type`` lines are checked
# against the ``# reveals`` comment.
USES = """
from typing import assert_type

import httpx

from fullon_cache_api.answers import ProcessOut
from fullon_cache_api.client import CacheClient, Event, SyncCacheClient
from fullon_cache_api.handlers.orders import OrderOut
from fullon_cache_api.handlers.tickers import ExchangeTickersOut, TickerOut


async def uses(client: CacheClient) -> None:
    t = await client.ticker("binance", "BTC/USDT")
    reveal_type(t.price)  # reveals float | None
    assert_type(t, TickerOut)
    async for x in client.iter_tickers(limit=2):
        assert_type(x, TickerOut)
    page = await client.exchange_tickers("binance", symbols=["BTC/USDT"], max_age=5, cursor=None)
    assert_type(page, ExchangeTickersOut)
    async for order_id in client.iter_queue("binance", limit=10):
        assert_type(order_id, str)
    async for event in client.stream_tickers(exchange="binance", symbols=["BTC/USDT"]):
        assert_type(event, Event)
    assert_type(await client.metrics(), httpx.Response)
    assert_type(await client.docs_asset("init.js"), httpx.Response)
    processes = await client.processes(type="bot", status="running", stale_after=60.0)
    assert_type(processes.items[0], ProcessOut)
    await client.bars("BTC/USDT", "1m", since=0, until=10**12)

    await client.ticker("binance", 1)  # error: arg-type
    await client.ticker("binance")  # error: call-arg
    await client.exchange_tickers("binance", ["BTC/USDT"])  # error: call-arg
    await client.all_tickers(symbols="BTC/USDT")  # error: arg-type
    await client.tickers_health(max_age="5")  # error: arg-type
    await client.processes(type="nope")  # error: arg-type
    await client.docs_asset("nope.js")  # error: arg-type
    await client.tickr("binance", "BTC/USDT")  # error: attr-defined
    t.nope  # error: attr-defined
    t.price + 1  # error: operator
    client.iter_tickers().items  # error: attr-defined


def uses_sync(client: SyncCacheClient) -> None:
    assert_type(client.ticker("binance", "BTC/USDT"), TickerOut)
    for order in client.iter_orders(status="open", bot_id="1"):
        reveal_type(order)  # reveals fullon_cache_api.handlers.orders.OrderOut
        assert_type(order, OrderOut)
    for event in client.stream_tickers():
        assert_type(event, Event)
    assert_type(client.home_page(), httpx.Response)

    client.iter_orders(bot_id=1)  # error: arg-type
    client.accounts(limit="10")  # error: arg-type
"""


MYPY_LINE = re.compile(r"^.*uses_client\.py:(\d+): (\w+): (.*)$", re.M)


def marked(code: str, word: str) -> dict[int, str]:
    """Line number -> what its ``# <word> ...`` comment says."""
    found = {}
    for number, line in enumerate(code.splitlines(), 1):
        if f"  # {word}" in line:
            found[number] = line.split(f"  # {word}", 1)[1].strip(" :")
    return found


def shown(revealed: str) -> str:
    """A revealed type as recent mypy writes it (older ones: ``Union[builtins.float, None]``)."""
    revealed = re.sub(r"^Union\[(.*), None\]$", r"\1 | None", revealed)
    return re.sub(r"\bbuiltins\.", "", revealed)


def test_mypy_strict_holds_code_that_uses_the_clients_to_the_routes_types(tmp_path) -> None:
    pytest.importorskip("mypy", reason="mypy: the dev extra (nox -s typecheck runs this test)")
    uses = tmp_path / "uses_client.py"
    uses.write_text(USES)
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-pretty", "--show-error-codes", str(uses)],
        cwd=ROOT,  # the project's mypy configuration (pyproject.toml) for the package
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = checked.stdout + checked.stderr
    errors: dict[int, set[str]] = {}
    revealed: dict[int, str] = {}
    for number, kind, message in MYPY_LINE.findall(output):
        if kind == "error":
            code = re.search(r"  \[([\w-]+)\]$", message)
            errors.setdefault(int(number), set()).add(code.group(1) if code else message)
        elif message.startswith("Revealed type is "):
            revealed[int(number)] = shown(message.removeprefix("Revealed type is ").strip('"'))
    expected = {number: {code} for number, code in marked(USES, "error").items()}
    assert errors == expected, output
    assert revealed == marked(USES, "reveals"), output
    assert f"Found {len(expected)} errors in 1 file" in output, output
