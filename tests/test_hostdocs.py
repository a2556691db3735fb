"""The API's docs merged into a host's: ``include_in_docs`` on a FastAPI host (the README's
mount plus one line), ``merge_openapi`` on a plain Starlette host's document.

The merged document must validate, list every HTTP route under the mount prefix with its
parameters, keep a host model of the same name as one of ours apart (ours are prefixed), and
describe what the mounted API really answers: schemathesis fuzzes the host through it. And the
README's mount works as written on the demo's Redis, with the ``REDIS_URL`` the demo prints.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from pydantic import BaseModel
from starlette.applications import Starlette

from fullon_cache_api import Settings, include_in_docs, lifespan, merge_openapi
from fullon_cache_api.demo.redis_server import free_port
from fullon_cache_api.main import create_app
from fullon_cache_api.routes import ENDPOINTS

from support import expect, http_client, serve_mounted, validate_fuzzed

MOUNT = "/api/v1/cache"


class Ticker(BaseModel):
    """A host model with a name a cache API might well use."""

    host_field: str


class TickerOut(BaseModel):
    """A host model named exactly like one of ours: the merge keeps them apart."""

    host_price: float


def master_api(cache_app: Starlette) -> FastAPI:
    """The README's mount, plus the one line that merges the docs."""

    @asynccontextmanager
    async def host_lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with lifespan(cache_app):
            yield

    app = FastAPI(lifespan=host_lifespan)

    @app.get("/api/v1/tickers/{name}", response_model=Ticker)
    async def host_ticker(name: str) -> Ticker:
        return Ticker(host_field=name)

    @app.get("/api/v1/prices/{name}", response_model=TickerOut)
    async def host_price(name: str) -> TickerOut:
        return TickerOut(host_price=1.0)

    app.mount(MOUNT, cache_app)
    include_in_docs(app, cache_app, prefix=MOUNT, tag="Cache")
    return app


def refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                yield item
            else:
                yield from refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from refs(item)


def resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


async def test_fastapi_host_serves_one_valid_document_with_every_cache_route(
    settings, clock, snapshot
) -> None:
    host = master_api(create_app(settings, clock=clock))
    async with http_client(host) as client:
        document = expect(await client.get("/openapi.json"))
        assert expect(await client.get("/openapi.json")) == document  # built once, served again
        # the mounted API still serves its own document and answers as documented
        own = expect(await client.get(f"{MOUNT}/openapi.json"))
    validate(document)
    paths = document["paths"]
    assert "/api/v1/tickers/{name}" in paths  # the host's own route is still there
    for endpoint in ENDPOINTS:
        path = MOUNT + endpoint.template
        assert path in paths, path
        operation = paths[path]["get"]
        assert operation["tags"] == ["Cache"]
        assert operation["operationId"].startswith("Cache_")
        names = [p["name"] for p in operation.get("parameters", [])]
        assert names == [p.name for p in endpoint.params], path
        # the operation the API documents itself, but for its tag, id and component names
        assert operation == {
            **_renamed_refs(own["paths"][endpoint.template]["get"]),
            "tags": ["Cache"],
            "operationId": operation["operationId"],
        }
    cache_paths = [p for p in paths if p.startswith(MOUNT)]
    assert len(cache_paths) == len(ENDPOINTS)
    ids = [op["operationId"] for item in paths.values() for op in item.values()]
    assert len(ids) == len(set(ids))
    assert "Cache" in [t["name"] for t in document["tags"]]


def _renamed_refs(operation: dict[str, Any]) -> dict[str, Any]:
    """``operation`` with each ``$ref`` to one of our components renamed ``Cache_...``."""
    text = re.sub(r'"#/components/(\w+)/', r'"#/components/\1/Cache_', json.dumps(operation))
    renamed: dict[str, Any] = json.loads(text)
    return renamed


async def test_host_model_of_the_same_name_does_not_collide(settings, clock) -> None:
    host = master_api(create_app(settings, clock=clock))
    document = host.openapi()
    schemas = document["components"]["schemas"]
    assert schemas["Ticker"]["properties"] == {
        "host_field": {"title": "Host Field", "type": "string"}
    }
    ours = create_app(settings).state.openapi["components"]
    for kind, entries in ours.items():
        for name in entries:
            assert f"Cache_{name}" in document["components"][kind]
    for ref in refs(document):  # every ref resolves, ours to ours
        assert resolve(document, ref) is not None
    assert schemas["TickerOut"]["properties"] == {
        "host_price": {"title": "Host Price", "type": "number"}
    }
    assert schemas["Cache_TickerOut"] == ours["schemas"]["TickerOut"]
    host_ref = document["paths"]["/api/v1/tickers/{name}"]["get"]["responses"]["200"]
    assert list(refs(host_ref)) == ["#/components/schemas/Ticker"]
    host_ref = document["paths"]["/api/v1/prices/{name}"]["get"]["responses"]["200"]
    assert list(refs(host_ref)) == ["#/components/schemas/TickerOut"]
    for path, item in document["paths"].items():
        if path.startswith(MOUNT):
            assert all(r.split("/")[3].startswith("Cache_") for r in refs(item)), path


def test_plain_starlette_host_merges_its_document_and_keeps_it_unchanged(settings) -> None:
    cache_app = create_app(settings)
    host_document = {
        "openapi": "3.1.0",
        "info": {"title": "host", "version": "1"},
        "paths": {
            "/things": {
                "get": {
                    "operationId": "things",
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ErrorOut"}
                                }
                            },
                        }
                    },
                }
            }
        },
        "components": {"schemas": {"ErrorOut": {"type": "object"}}},
    }
    before = repr(host_document)
    merged = merge_openapi(host_document, cache_app, prefix="/cache/", tag="Cache API")
    assert repr(host_document) == before
    validate(merged)
    # the host's own ErrorOut stays its own; ours is prefixed from the tag
    assert merged["components"]["schemas"]["ErrorOut"] == {"type": "object"}
    assert "Cache_API_ErrorOut" in merged["components"]["schemas"]
    assert list(refs(merged["paths"]["/things"])) == ["#/components/schemas/ErrorOut"]
    assert "/cache/tickers/{exchange}/{symbol}" in merged["paths"]
    assert "/cache/" in merged["paths"]  # the home page: the host's Mount redirects /cache there
    for ref in refs(merged):
        resolve(merged, ref)


def test_merge_refuses_what_would_collide(settings) -> None:
    cache_app = create_app(settings)
    base = {"openapi": "3.1.0", "info": {"title": "host", "version": "1"}, "paths": {}}
    taken_path = {**base, "paths": {f"{MOUNT}/health": {"get": {"responses": {}}}}}
    with pytest.raises(ValueError, match="/health"):
        merge_openapi(taken_path, cache_app)
    taken_name = {**base, "components": {"schemas": {"Cache_ErrorOut": {}}}}
    with pytest.raises(ValueError, match="Cache_ErrorOut"):
        merge_openapi(taken_name, cache_app)
    with pytest.raises(ValueError, match=r"3\.1"):
        merge_openapi({**base, "openapi": "3.0.3"}, cache_app)


async def test_security_of_a_secured_api_is_carried_per_operation(settings) -> None:
    cache_app = create_app(settings, require_user=True)
    base = {"openapi": "3.1.0", "info": {"title": "host", "version": "1"}, "paths": {}}
    merged = merge_openapi(base, cache_app)
    validate(merged)
    assert "security" not in merged  # the host's own routes are not ours to secure
    assert "Cache_bearer" in merged["components"]["securitySchemes"]
    for path, item in merged["paths"].items():
        assert item["get"]["security"] == [{"Cache_bearer": []}], path


# Fuzzing the host through the merged document --------------------------------------------------

# Built at import (parametrize needs it at collection); the document does not depend on the
# Redis address, so the host fuzzed below (on the test Redis) serves this same one.
HOST_DOCUMENT = master_api(create_app(Settings())).openapi()
FUZZED_PATHS = {
    path: item
    for path, item in HOST_DOCUMENT["paths"].items()
    if path.startswith(MOUNT)
    and "text/event-stream" not in item["get"]["responses"]["200"].get("content", {})
}
fuzz_schema = schemathesis.openapi.from_dict({**HOST_DOCUMENT, "paths": FUZZED_PATHS})


@pytest.fixture
def fuzzed_host(settings: Settings, clock: Any, snapshot: dict[str, Any]) -> Iterator[FastAPI]:
    from schemathesis.python import asgi

    yield master_api(create_app(settings, clock=clock))
    asgi.shutdown_lifespans()


@pytest.mark.slow
@fuzz_schema.parametrize()
@settings(
    max_examples=10,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_fuzz_the_host_through_its_merged_document(case: Any, fuzzed_host: FastAPI) -> None:
    validate_fuzzed(case, fuzzed_host, HOST_DOCUMENT)


# The README's mount, on the demo's Redis ---------------------------------------------------------


@pytest.mark.slow
def test_a_host_mounts_the_api_on_the_redis_url_the_demo_prints() -> None:
    port = free_port()
    command = [sys.executable, "-m", "fullon_cache_api", "--demo", "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        printed = ""
        while not (found := re.search(r"^  REDIS_URL=(redis://\S+)$", printed, re.MULTILINE)):
            line = process.stdout.readline() if process.stdout else ""
            assert line, f"no REDIS_URL in the banner: {printed}"
            printed += line
        url = found.group(1)
        assert url.startswith("redis://cache_api:")  # the read-only user, not the default one
        with serve_mounted(env={"REDIS_URL": url}) as host:
            tickers = httpx.get(f"{host.base}{MOUNT}/tickers", timeout=10)
            assert tickers.status_code == 200 and tickers.json()["count"] > 0, tickers.text
            assert httpx.get(f"{host.base}{MOUNT}/health", timeout=10).json()["status"] == "ok"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
