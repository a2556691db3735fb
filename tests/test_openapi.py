"""/openapi.json, /docs and its files, standalone and mounted, and schema-driven fuzzing.

The fuzz test runs schemathesis against the real app (snapshot loaded, read-only ACL user):
every operation of the document gets generated inputs (valid and invalid), and every answer
must be no 5xx, a declared status with a declared content type and a body that matches its
declared schema; valid inputs must not be refused and invalid ones must be.

The docs page is also rendered by headless Chromium when it is installed (``apt-get install
chromium``): ``test_docs_page_renders_in_a_headless_browser``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urljoin

import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from swagger_ui_bundle import swagger_ui_path

from fullon_cache_api import Settings, create_app, openapi
from fullon_cache_api import params as p
from fullon_cache_api.errors import BadRequest, ErrorOut
from fullon_cache_api.handlers import docs, service
from fullon_cache_api.params import Integer, Text
from fullon_cache_api.routes import ENDPOINTS
from fullon_cache_api.routing import Endpoint, Raw, template

from budgets import Case, fill_nothing
from support import Clock, expect, http_client, serve_api, validate_fuzzed

MOUNT = "/api/v1/cache"
SETTINGS = Settings()
CACHE_STATUSES = {"502", "503", "504"}


def operations(document: dict[str, Any]) -> Iterator[tuple[str, Endpoint, dict[str, Any]]]:
    by_path = {e.template: e for e in ENDPOINTS}
    for path, item in document["paths"].items():
        yield path, by_path[path], item["get"]


# The document --------------------------------------------------------------------------------


async def test_document_validates_and_lists_exactly_the_route_table(client, app) -> None:
    document = expect(await client.get("/openapi.json"))
    validate(document)
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": "/"}]
    table = [e.template for e in ENDPOINTS]
    assert list(document["paths"]) == table  # same order as the table, each once
    served = {template(route.path) for route in app.routes if isinstance(route, Route)}
    assert set(document["paths"]) == served  # HTTP routes: the WebSocket ones are not in it
    assert all(list(item) == ["get"] for item in document["paths"].values())
    assert not [p for p in document["paths"] if re.search(r"\{[^}]*:", p)]


async def test_every_operation_has_summary_tag_and_unique_id(client) -> None:
    document = expect(await client.get("/openapi.json"))
    tags = [t["name"] for t in document["tags"]]
    assert len(tags) == len(set(tags))
    assert {"service", "docs", "tickers"} <= set(tags)
    ids = []
    for path, endpoint, operation in operations(document):
        assert operation["summary"] == endpoint.summary != "", path
        assert operation["tags"] == [endpoint.tag] and endpoint.tag in tags
        ids.append(operation["operationId"])
    assert len(ids) == len(set(ids))
    health = document["paths"]["/health"]["get"]
    assert "load balancers" in health["description"]  # the docstring after its first line


async def test_parameters_carry_the_validation_rules(client) -> None:
    document = expect(await client.get("/openapi.json"))
    for path, endpoint, operation in operations(document):
        declared = operation.get("parameters", [])
        assert [(d["name"], d["in"]) for d in declared] == [
            (p.name, p.where) for p in endpoint.params
        ], path
        for d, param in zip(declared, endpoint.params, strict=True):
            assert d["schema"] == param.schema(SETTINGS) and d["description"] == param.description
            assert d["required"] is (param.where == "path")
        placeholders = re.findall(r"\{(\w+)\}", path)
        assert sorted(placeholders) == sorted(d["name"] for d in declared if d["in"] == "path")
    ticker = document["paths"]["/tickers/{exchange}/{symbol}"]["get"]["parameters"]
    assert ticker[0]["schema"] == {"type": "string", "pattern": f"^{p.EXCHANGE.pattern}$"}
    assert ticker[1]["schema"]["maxLength"] == 128
    limits = [
        d["schema"]
        for _, endpoint, operation in operations(document)
        for d, param in zip(operation.get("parameters", []), endpoint.params, strict=True)
        if isinstance(param, Integer) and param.name == "limit"
    ]
    assert {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100} in limits
    (symbols,) = [
        d for d in document["paths"]["/tickers"]["get"]["parameters"] if d["name"] == "symbols"
    ]
    assert (symbols["style"], symbols["explode"]) == ("form", False)  # ?symbols=A,B
    assert symbols["schema"]["type"] == "array"


async def test_responses_success_struct_and_error_shapes(client) -> None:
    document = expect(await client.get("/openapi.json"))
    schemas = document["components"]["schemas"]
    for path, endpoint, operation in operations(document):
        responses = operation["responses"]
        assert {"200", "404", "405"} <= set(responses), path
        assert not {"401", "403"} & set(responses), path  # auth is off: never answered
        assert ("400" in responses) is bool(endpoint.params), path
        raw = endpoint.is_raw
        reads_cache = endpoint.reads_cache
        assert (set(responses) >= CACHE_STATUSES) is reads_cache, path
        assert not (CACHE_STATUSES & set(responses)) or reads_cache
        own = set(endpoint.response.other_responses) if raw else set()
        if not raw:
            ok = responses["200"]["content"]["application/json"]["schema"]
            name = ok["$ref"].rsplit("/", 1)[-1]
            assert name == endpoint.response.__name__ and name in schemas
        for status, response in responses.items():
            own_shape = (path == "/health" and status in CACHE_STATUSES) or status in own
            if status.startswith(("4", "5")) and not own_shape:
                name = openapi.ERRORS[int(status)][0]
                assert response == {"$ref": f"#/components/responses/{name}"}
        no_store = responses["200"].get("headers", {}).get("Cache-Control", {})
        assert (no_store.get("schema", {}).get("const") == "no-store") is endpoint.no_store, path
    # /health answers Redis failures in its own shape, as load balancers read it
    health = document["paths"]["/health"]["get"]["responses"]
    for status in CACHE_STATUSES:
        assert health[status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/HealthOut"
        }
    # the success schemas are msgspec's own
    (_,), expected = msgspec.json.schema_components(
        [service.HealthOut], ref_template="#/components/schemas/{name}"
    )
    assert schemas["HealthOut"] == expected["HealthOut"]


async def test_every_id_of_every_answer_is_a_string_or_null(client) -> None:
    """The id rule, as the document states it: a property named ``uid`` or ``*_id`` is a
    string, or null, in every answer schema (the stored feeds and params are free objects)."""
    schemas = expect(await client.get("/openapi.json"))["components"]["schemas"]
    string = {"type": "string"}
    ids = {
        (name, prop): schema
        for name, component in schemas.items()
        for prop, schema in component.get("properties", {}).items()
        if prop == "uid" or prop.endswith("_id")
    }
    assert ("OrderOut", "ex_id") in ids and ("TradeOut", "trade_id") in ids
    assert ("AccountOut", "ex_id") in ids and ("ProcessOut", "process_id") in ids
    for where, schema in ids.items():
        assert schema in (string, {"anyOf": [string, {"type": "null"}]}), where


async def test_error_responses_pin_status_and_code_of_the_real_answers(client) -> None:
    document = expect(await client.get("/openapi.json"))
    components = document["components"]["responses"]
    (_,), schemas = msgspec.json.schema_components([ErrorOut])
    for status, (name, codes, _) in openapi.ERRORS.items():
        schema = components[name]["content"]["application/json"]["schema"]
        pinned = schema["allOf"][1]["properties"]["error"]["properties"]
        code = {"const": codes[0]} if len(codes) == 1 else {"enum": list(codes)}
        assert pinned == {"status": {"const": status}, "code": code}
        assert schema["allOf"][0] == {"$ref": "#/components/schemas/ErrorOut"}
    assert document["components"]["schemas"]["ErrorBody"] == schemas["ErrorBody"]
    # the answers the app gives carry the codes the document pins
    body = expect(await client.get("/no/such/route"), 404)["error"]
    assert (body["status"], (body["code"],)) == (404, openapi.ERRORS[404][1])
    body = expect(await client.post("/tickers"), 405)["error"]
    assert (body["status"], (body["code"],)) == (405, openapi.ERRORS[405][1])
    body = expect(await client.get("/tickers", params={"max_age": "-1"}), 400)["error"]
    assert (body["status"], (body["code"],)) == (400, openapi.ERRORS[400][1])


async def test_security_is_described_only_when_auth_is_on(settings, client) -> None:
    """No padlocks in the docs of an open API; a secured one documents bearer and 401/403."""
    open_document = expect(await client.get("/openapi.json"))
    assert "security" not in open_document
    assert "securitySchemes" not in open_document["components"]
    secured = create_app(dataclasses.replace(settings, tokens=("a-long-enough-token",)))
    async with http_client(secured) as http:
        document = expect(await http.get("/openapi.json"))  # the docs stay open by default
    validate(document)
    assert document["security"] == [{"bearer": []}]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for item in document["paths"].values():
        assert {"401", "403"} <= set(item["get"]["responses"])


def accepted(param: Text, value: str) -> bool:
    try:
        param.parse(value, SETTINGS)
    except BadRequest:
        return False
    return True


def documented(schema: dict[str, Any], value: str) -> bool:
    """JSON Schema's reading of a string schema (its ``$`` is the end of input, as in ECMA)."""
    pattern = schema.get("pattern", "^.*$")
    return (
        schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value))
        and re.fullmatch(pattern[1:-1], value, re.DOTALL) is not None
    )


TEXTS = [p.SYMBOL, p.EXCHANGE, p.EX_ID, p.TIMEFRAME, p.STATUS_FILTER]
SAMPLES = ["BTC/USDT", "币安人生/USDT", " spaced ", "a\x85b", "a\u2028", "tab\t", "BTC/*", "[x]"]
SAMPLES += [".", "..", "a/../b", "./a", "a/.", ".a", "a..b", "\u200b", "\ufffd", "a\\b"]


@pytest.mark.parametrize("param", TEXTS, ids=lambda param: param.name)
@given(value=st.one_of(st.text(max_size=140), st.sampled_from(SAMPLES)))
@settings(max_examples=200, deadline=None)
def test_documented_text_rule_is_the_enforced_one(param: Text, value: str) -> None:
    assert accepted(param, value) is documented(param.schema(SETTINGS), value)


@given(
    items=st.lists(
        st.sampled_from(["A", " A", "A ", "", "B/C", "x*", "é", ".", "..", "a/..", ".x"]),
        max_size=4,
    )
)
@settings(max_examples=100, deadline=None)
def test_documented_list_rule_is_the_enforced_one(items: list[str]) -> None:
    schema = p.SYMBOLS.schema(SETTINGS)
    raw = ",".join(items)
    try:
        p.SYMBOLS.parse(raw, SETTINGS)
    except BadRequest:
        enforced = False
    else:
        enforced = True
    listed = raw.split(",")
    assert enforced is (
        schema["minItems"] <= len(listed) <= schema["maxItems"]
        and all(documented(schema["items"], item) for item in listed)
    )


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("BTC/USDT,SOL/USDT", 200),
        ("BTC/USDT, SOL/USDT", 400),
        ("BTC/USDT,,SOL/USDT", 400),
        (",", 400),
        (",".join(["X"] * 101), 400),
        ("BTC/\u0085", 400),
        ("币安人生/USDT", 200),
    ],
)
async def test_symbols_list_rule_on_the_app(client, snapshot, query, status) -> None:
    body = expect(await client.get("/tickers", params={"symbols": query}), status)
    if status == 400:
        assert "'symbols'" in body["error"]["message"]


class Events(Raw):
    """A marker as an event-stream route would use it."""

    media_types: ClassVar[dict[str, dict[str, Any]]] = {"text/event-stream": {"type": "string"}}
    other_responses: ClassVar[dict[str, dict[str, Any]]] = {
        "503": openapi.error_response(503, ("cache_unavailable", "too_many_streams"), "busy")
    }


def test_raw_markers_describe_other_media_and_their_own_errors() -> None:
    events = Endpoint("/events", docs.docs_page, Events, tag="docs", etag=False)
    document = {**openapi.build([events], SETTINGS, False), "servers": [{"url": "/"}]}
    validate(document)
    responses = document["paths"]["/events"]["get"]["responses"]
    assert list(responses["200"]["content"]) == ["text/event-stream"]
    code = responses["503"]["content"]["application/json"]["schema"]["allOf"][1]
    assert code["properties"]["error"]["properties"]["code"] == {
        "enum": ["cache_unavailable", "too_many_streams"]
    }
    assert responses["504"] == {"$ref": "#/components/responses/CacheTimeout"}


def test_route_table_mistakes_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="path parameters"):
        Endpoint("/x/{a}", docs.docs_page, docs.DocsPage, (Text("b", where="path"),))
    with pytest.raises(ValueError, match="takes"):  # the handler reads no such parameter
        Endpoint("/x", docs.docs_page, docs.DocsPage, (Text("b"),))
    with pytest.raises(ValueError, match="takes"):  # a parameter the route does not declare
        Endpoint(
            "/x/{asset}", docs.docs_asset, docs.DocsAsset, (Text("asset", where="path"), Text("b"))
        )
    with pytest.raises(ValueError, match="declared twice"):
        Endpoint("/x", docs.docs_page, docs.DocsPage, (Text("b"), Text("b")))
    with pytest.raises(ValueError, match="must answer"):  # a Struct route whose handler is raw
        Endpoint("/x", docs.docs_page, service.HealthOut)
    twice = Endpoint("/x", docs.docs_page, docs.DocsPage, tag="docs", etag=False)
    with pytest.raises(ValueError, match="twice"):
        openapi.build([twice, twice], SETTINGS, False)


# Mounted and standalone: servers, and the page's relative URLs ---------------------------------


@pytest.fixture
def host(settings: Settings, clock: Clock) -> Starlette:
    """master_api's way: the app mounted under /api/v1/cache of a host app."""
    return Starlette(routes=[Mount(MOUNT, app=create_app(settings, clock=clock))])


async def test_mounted_document_servers_point_at_the_mount(host, snapshot) -> None:
    async with http_client(host) as client:
        document = expect(await client.get(f"{MOUNT}/openapi.json"))
        validate(document)
        assert document["servers"] == [{"url": MOUNT}]
        # "try it out" joins the server URL and the path: that lands on the mounted route
        server = document["servers"][0]["url"]
        path = next(p for p in document["paths"] if p == "/tickers/{exchange}/{symbol}")
        url = server + path.format(exchange="binance", symbol="BTC/USDT")
        assert expect(await client.get(url))["symbol"] == "BTC/USDT"
        assert expect(await client.get(f"{MOUNT}/openapi.json/"))["servers"] == [{"url": MOUNT}]


@pytest.mark.parametrize("mount", ["", MOUNT])
@pytest.mark.parametrize("slash", ["", "/"])
async def test_docs_page_loads_everything_from_the_app(settings, clock, mount, slash) -> None:
    app = create_app(settings, clock=clock)
    served = Starlette(routes=[Mount(mount, app=app)]) if mount else app
    async with http_client(served) as client:
        page_url = f"http://api{mount}/docs{slash}"
        page = await client.get(page_url)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
        refs = re.findall(r'(?:href|src|data-openapi)="([^"]+)"', page.text)
        assert refs and all(r.startswith(f"{mount}/") and "//" not in r for r in refs)
        loaded = {}
        for ref in refs:
            response = await client.get(urljoin(page_url, ref))
            assert response.status_code == 200, (ref, response.text)
            loaded[urljoin(page_url, ref)] = response
        document = loaded[f"http://api{mount}/openapi.json"].json()
        assert document["servers"] == [{"url": mount or "/"}]
        assert f"http://api{mount}/docs/swagger-ui-bundle.js" in loaded
        assert f"http://api{mount}/docs/init.js" in loaded


async def test_docs_files_are_the_packaged_ones_with_types_and_caching(client) -> None:
    root = Path(str(swagger_ui_path))
    for name, media_type in docs.BUNDLED.items():
        response = await client.get(f"/docs/{name}")
        assert response.status_code == 200
        assert response.headers["content-type"] == media_type
        assert response.content == (root / name).read_bytes()
        assert response.headers["cache-control"] == "public, max-age=86400"
        etag = response.headers["etag"]
        again = await client.get(f"/docs/{name}", headers={"If-None-Match": f"W/{etag}"})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
    init = await client.get("/docs/init.js")
    assert init.headers["content-type"] == "text/javascript; charset=utf-8"
    assert b"SwaggerUIBundle(" in init.content and b"validatorUrl: null" in init.content
    assert b"http" not in init.content  # no absolute URL: nothing from elsewhere


@pytest.mark.parametrize(
    "path", ["/docs/index.html", "/docs/swagger-ui.js.map", "/docs/..%2Fopenapi.py", "/docs/x"]
)
async def test_files_outside_the_whitelist_are_404(client, path) -> None:
    body = expect(await client.get(path), 404)
    assert body["error"]["code"] == "not_found"


async def test_docs_routes_need_no_redis() -> None:
    """The docs work while Redis is down (they never touch it)."""
    # a refused connection is a 503 however long a busy machine takes to see it refused
    app = create_app(Settings(redis_url="redis://127.0.0.1:1/0", request_timeout=60))
    async with http_client(app) as client:
        assert expect(await client.get("/openapi.json"))["openapi"] == "3.1.0"
        assert (await client.get("/docs")).status_code == 200
        assert (await client.get("/docs/init.js")).status_code == 200
        assert expect(await client.get("/tickers"), 503)["error"]["code"] == "cache_unavailable"


# Fuzzing: schemathesis over every operation -----------------------------------------------------


# Built from the table at import (parametrize needs it at collection); the served document is
# this same one (test_document_validates_and_lists_exactly_the_route_table).
FUZZ_DOCUMENT = openapi.document(create_app(SETTINGS))
# Event streams never end: tests/test_stream.py covers them, the fuzz covers every other route.
STREAMS = {
    path
    for path, item in FUZZ_DOCUMENT["paths"].items()
    if "text/event-stream" in item["get"]["responses"]["200"].get("content", {})
}
fuzz_schema = schemathesis.openapi.from_dict(
    {
        **FUZZ_DOCUMENT,
        "paths": {k: v for k, v in FUZZ_DOCUMENT["paths"].items() if k not in STREAMS},
    }
)


@pytest.fixture
def fuzzed_app(app: Starlette, snapshot: dict[str, Any]) -> Iterator[Starlette]:
    """The real app on the snapshot; schemathesis runs its lifespan, closed here after the test."""
    from schemathesis.python import asgi

    yield app
    asgi.shutdown_lifespans()


# CI runs a fixed, reproducible set; FUZZ_EXAMPLES=500 runs a deeper random search.
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0"))


@pytest.mark.slow
@fuzz_schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES or 25,
    derandomize=not FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_fuzz_every_operation(case: Any, fuzzed_app: Starlette) -> None:
    validate_fuzzed(case, fuzzed_app, FUZZ_DOCUMENT)


# The page in a real browser -------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def served(settings: Settings, snapshot: dict[str, Any]) -> Iterator[str]:
    """The app in a real hypercorn process on a free loopback port; yields its base URL."""
    with serve_api(env={"REDIS_URL": settings.redis_url}) as server:
        yield server.base


def chromium(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--virtual-time-budget=15000",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_docs_page_renders_in_a_headless_browser(served, tmp_path) -> None:
    dom = chromium("--dump-dom", f"{served}/docs")
    assert dom.returncode == 0, dom.stderr
    rendered = dom.stdout
    # Swagger UI rendered the document: its title, a tag section per domain, and operations
    assert "fullon_cache_api" in rendered and 'class="swagger-ui' in rendered
    assert rendered.count('class="opblock-tag-section') >= 3
    assert "/tickers/{exchange}/{symbol}" in rendered
    assert "Failed to load API definition" not in rendered
    shot = tmp_path / "docs.png"
    result = chromium(f"--screenshot={shot}", "--window-size=1280,1600", f"{served}/docs")
    assert result.returncode == 0 and shot.exists(), result.stderr
    assert shot.stat().st_size > 20_000  # a blank page is a few kB


# Redis budgets -----------------------------------------------------------------------------------

BUDGETS: tuple[Case, ...] = (
    Case("/openapi.json", "/openapi.json", fill_nothing),
    Case("/docs", "/docs", fill_nothing),
    Case("/docs/{asset}", "/docs/swagger-ui.css", fill_nothing),
)
"""The docs routes' Redis budgets: no Redis at all (tests/test_budgets.py measures them)."""
