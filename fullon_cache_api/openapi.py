"""The OpenAPI 3.1 document, generated from the running app's route table.

Everything comes from the ``Endpoint`` declarations of the app's routes: paths (Starlette
converters such as ``{symbol:path}`` become ``{symbol}``), parameters (their ``schema()`` carries
the validation rules), the success body (``msgspec.json.schema_components`` of the response
Struct), tags and their descriptions (the handler modules' docstrings), summaries and
descriptions (handler docstrings). Error answers share one shape (``ErrorOut``); each status gets
a named response whose ``status`` and ``code`` are pinned. Bearer security is described only
when the app has authentication configured.

The document depends on where the app is mounted only through ``servers``, so the rest is built
once per app (``build``, at ``create_app``) and ``document`` adds ``servers`` per request.

A host shows this API in its own docs with ``merge_openapi`` (the host's document in, the merged
one out) or, on a FastAPI host, ``include_in_docs`` (one line: it wraps ``host.openapi``). Our
paths go under the mount prefix and our operations under one tag; our component names are
prefixed (``Cache_TickerOut``: a host model of the same name cannot collide) and every ``$ref``
rewritten; operation ids are prefixed likewise. A name that would still collide is an error.
"""

from __future__ import annotations

import copy
import inspect
import re
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from starlette.applications import Starlette

from .errors import (
    BadCacheValue,
    BadRequest,
    CacheRefused,
    CacheTimeout,
    CacheUnavailable,
    ErrorOut,
    Forbidden,
    NotFound,
    Unauthorized,
)
from .params import Param
from .routing import Endpoint, Raw
from .settings import Settings
from .version import __version__

__all__ = [
    "OPENAPI_VERSION",
    "build",
    "document",
    "error_response",
    "include_in_docs",
    "merge_openapi",
]

OPENAPI_VERSION = "3.1.0"
TITLE = "fullon_cache_api"
DESCRIPTION = """\
A read-only JSON API over the fullon trading system's Redis cache.

Every route answers GET and HEAD; any other method gets 405. Instants are RFC 3339 UTC strings;
non-finite stored numbers are null; every id (`ex_id`, `uid`, `bot_id`, `order_id`, `trade_id`...)
is a string, or null. Collections are `{"items": [...], "count": N}` plus the
context asked for, and `"skipped": N` when corrupt stored values were left out. Every error is
`{"error": {"status", "code", "message"}}`."""
SCHEMA_REF = "#/components/schemas/{name}"
RESPONSE_REF = "#/components/responses/{name}"


# status -> (component name, error codes, description)
ERRORS: dict[int, tuple[str, tuple[str, ...], str]] = {
    400: (
        "BadRequest",
        (BadRequest.code,),
        "A parameter is invalid; the message names it and says what is allowed.",
    ),
    401: (
        "Unauthorized",
        (Unauthorized.code,),
        "No valid credentials (only when auth is enabled: a bearer token, or the host's user).",
    ),
    403: (
        "Forbidden",
        (Forbidden.code,),
        "The host's authorization hook refused this read (only when the host sets one).",
    ),
    404: ("NotFound", (NotFound.code,), "Unknown route, or the resource is not in the cache."),
    405: (
        "MethodNotAllowed",
        ("method_not_allowed",),
        "Any method but GET and HEAD: this API only reads.",
    ),
    502: (
        "BadCacheValue",
        (BadCacheValue.code, CacheRefused.code),
        "The one stored value asked for is not what fullon_cache writes, or Redis refused the "
        "API's user a command (a missing ACL permission, named in the message).",
    ),
    503: ("CacheUnavailable", (CacheUnavailable.code,), "Redis is unreachable."),
    504: ("CacheTimeout", (CacheTimeout.code,), "Redis did not answer in time."),
}
REDIS_FAILURES = (502, 503, 504)


def document(app: Starlette, root_path: str = "") -> dict[str, Any]:
    """The app's document for requests served at ``root_path`` (``""`` standalone, or a mount
    point)."""
    base: dict[str, Any] = app.state.openapi
    servers = [{"url": root_path.rstrip("/") or "/"}]
    return {"openapi": base["openapi"], "info": base["info"], "servers": servers, **base}


def build(endpoints: Sequence[Endpoint], settings: Settings, secured: bool) -> dict[str, Any]:
    """Everything but ``servers``, for the app's route table; ``secured``: authentication is
    configured, so bearer security is described."""
    types = list(dict.fromkeys([ErrorOut, *(e.response for e in endpoints if not e.is_raw)]))
    found, schemas = msgspec.json.schema_components(types, ref_template=SCHEMA_REF)
    refs: dict[type, dict[str, Any]] = dict(zip(types, found, strict=True))
    paths: dict[str, Any] = {}
    tags: dict[str, str] = {}
    for endpoint in endpoints:
        path = endpoint.template
        if path in paths:
            raise ValueError(f"route table: {path} is listed twice")
        paths[path] = {"get": _operation(endpoint, refs, settings, secured)}
        tags.setdefault(endpoint.tag, _module_summary(endpoint))
    components: dict[str, Any] = {"schemas": schemas, "responses": _error_responses()}
    built: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": TITLE,
            "version": __version__,
            "description": DESCRIPTION,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "tags": [{"name": name, "description": text} for name, text in tags.items()],
        "paths": paths,
        "components": components,
    }
    if secured:
        built["security"] = [{"bearer": []}]
        components["securitySchemes"] = {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "A token of FULLON_CACHE_API_TOKENS, or the host's own scheme.",
            }
        }
    return built


def _operation(
    endpoint: Endpoint, refs: dict[type, dict[str, Any]], settings: Settings, secured: bool
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "tags": [endpoint.tag],
        "summary": endpoint.summary,
        "operationId": f"{endpoint.tag}_{endpoint.handler.__name__}",
    }
    description = _description(endpoint)
    if description:
        operation["description"] = description
    if endpoint.params:
        operation["parameters"] = [_parameter(param, settings) for param in endpoint.params]
    operation["responses"] = _responses(endpoint, refs, secured)
    return operation


def _parameter(param: Param, settings: Settings) -> dict[str, Any]:
    schema = param.schema(settings)
    parameter = {
        "name": param.name,
        "in": param.where,
        "required": param.required,
        "description": param.description,
        "schema": schema,
    }
    if schema.get("type") == "array":  # lists are comma-separated: ?symbols=A,B
        parameter.update(style="form", explode=False)
    return parameter


def _responses(
    endpoint: Endpoint, refs: dict[type, dict[str, Any]], secured: bool
) -> dict[str, Any]:
    response = endpoint.response
    responses: dict[str, Any] = {}
    if issubclass(response, Raw):
        ok: dict[str, Any] = {
            "description": response.description,
            "content": {mt: {"schema": schema} for mt, schema in response.media_types.items()},
        }
        if response.headers:
            ok["headers"] = response.headers
        responses["200"] = ok
        responses.update(response.other_responses)
    else:
        ok = {"description": "OK", "content": _json(refs[response])}
        if endpoint.no_store:
            ok["headers"] = {
                "Cache-Control": {
                    "description": "account, order and trade data is never cached",
                    "required": True,
                    "schema": {"type": "string", "const": "no-store"},
                }
            }
        responses["200"] = ok
    # With auth configured, 401/403 apply to every route: settings may close even /health and
    # the docs.
    statuses = [401, 403, 404, 405] if secured else [404, 405]
    if endpoint.params:
        statuses.append(400)
    if endpoint.reads_cache:
        statuses.extend(REDIS_FAILURES)
    for status in sorted(statuses):
        if str(status) in responses:  # set by the marker's other_responses
            continue
        if status in REDIS_FAILURES and endpoint.failure is not None:
            text = ERRORS[status][2]
            responses[str(status)] = {"description": text, "content": _json(refs[response])}
        else:
            responses[str(status)] = {"$ref": RESPONSE_REF.format(name=ERRORS[status][0])}
    return responses


def _error_responses() -> dict[str, Any]:
    """One named response per error status, its ``status`` and ``code`` pinned."""
    out: dict[str, Any] = {}
    for status, (name, codes, text) in ERRORS.items():
        out[name] = error_response(status, codes, text)
        if status == 405:
            out[name]["headers"] = {
                "Allow": {
                    "description": "GET, HEAD",
                    "required": True,
                    "schema": {"type": "string"},
                }
            }
    return out


def error_response(status: int, codes: Sequence[str], description: str) -> dict[str, Any]:
    """An ``ErrorOut`` response with ``status`` pinned and ``code`` one of ``codes``.

    Also for ``Raw.other_responses``, when a route has an error code of its own (a status set
    there replaces the generic one)."""
    code = {"const": codes[0]} if len(codes) == 1 else {"enum": list(codes)}
    pinned = {
        "type": "object",
        "properties": {
            "error": {"type": "object", "properties": {"status": {"const": status}, "code": code}}
        },
    }
    return {
        "description": description,
        "content": _json({"allOf": [{"$ref": SCHEMA_REF.format(name="ErrorOut")}, pinned]}),
    }


def _description(endpoint: Endpoint) -> str:
    """The handler docstring after its first line (the summary)."""
    text = endpoint.description
    if endpoint.no_store:
        note = "Answered with `Cache-Control: no-store`."
        text = f"{text}\n\n{note}" if text else note
    return text


def _module_summary(endpoint: Endpoint) -> str:
    module = inspect.getmodule(endpoint.handler)
    doc = (module.__doc__ if module else None) or ""
    return doc.strip().split("\n", 1)[0]


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


# Merged into a host's document -----------------------------------------------------------------


def merge_openapi(
    host_document: dict[str, Any],
    cache_app: Starlette,
    *,
    prefix: str = "/api/v1/cache",
    tag: str = "Cache",
) -> dict[str, Any]:
    """The host's document with this API's operations in it: its paths under ``prefix`` (where
    the host mounts ``cache_app``), its operations tagged ``tag``, its components and operation
    ids prefixed by ``tag`` (``Cache_TickerOut``, every ``$ref`` rewritten). The host's document
    is not changed. Raises ``ValueError`` when the host's document is not OpenAPI 3.1 (this
    API's schemas are JSON Schema 2020-12) or a path, component or operation id would collide.
    """
    version = str(host_document.get("openapi", ""))
    if not version.startswith("3.1."):
        raise ValueError(f"merge_openapi: the host's document is OpenAPI {version!r}, not 3.1")
    ours = copy.deepcopy(cache_app.state.openapi)
    name_prefix = re.sub(r"[^A-Za-z0-9._-]", "_", tag) + "_"
    merged = copy.deepcopy(host_document)
    components = merged.setdefault("components", {})
    renamed = {
        kind: {name: name_prefix + name for name in entries}
        for kind, entries in ours.get("components", {}).items()
    }
    _rename_refs(ours, renamed)  # before the merge: the host's own refs stay as they are
    for kind, entries in ours.get("components", {}).items():
        into = components.setdefault(kind, {})
        for name, value in entries.items():
            new = renamed[kind][name]
            if new in into:
                raise ValueError(f"merge_openapi: {kind} {new} is in the host's document")
            into[new] = value
    security = [
        {renamed["securitySchemes"][name]: scopes for name, scopes in requirement.items()}
        for requirement in ours.get("security", [])
    ]
    taken = {
        operation.get("operationId")
        for item in merged.get("paths", {}).values()
        for operation in item.values()
        if isinstance(operation, dict)
    }
    paths = merged.setdefault("paths", {})
    base = prefix.rstrip("/")
    for path, item in ours["paths"].items():
        full = base + path
        if full in paths:
            raise ValueError(f"merge_openapi: {full} is in the host's document")
        for operation in item.values():
            operation["tags"] = [tag]
            operation["operationId"] = name_prefix + operation["operationId"]
            if operation["operationId"] in taken:
                raise ValueError(f"merge_openapi: operationId {operation['operationId']} is taken")
            if security:
                operation["security"] = security
        paths[full] = item
    tags = merged.setdefault("tags", [])
    if not any(t.get("name") == tag for t in tags):
        tags.append({"name": tag, "description": ours["info"]["description"]})
    return merged


def include_in_docs(
    host: Any, cache_app: Starlette, *, prefix: str = "/api/v1/cache", tag: str = "Cache"
) -> None:
    """On a FastAPI host: its ``/openapi.json`` (and so its ``/docs``) includes this API, as
    ``merge_openapi`` merges it. Wraps ``host.openapi``; the merged document is built once."""
    host_openapi: Callable[[], dict[str, Any]] = host.openapi
    merged: dict[str, Any] | None = None

    def openapi() -> dict[str, Any]:
        nonlocal merged
        if merged is None:
            merged = merge_openapi(host_openapi(), cache_app, prefix=prefix, tag=tag)
        return merged

    host.openapi = openapi


def _rename_refs(value: Any, renamed: dict[str, dict[str, str]]) -> None:
    """Rewrite, in place, every ``$ref`` (and discriminator mapping) to a renamed component."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                value[key] = _renamed_ref(item, renamed)
            elif key == "mapping" and isinstance(item, dict):
                for name, ref in item.items():  # a discriminator's (or a property so named)
                    if isinstance(ref, str):
                        item[name] = _renamed_ref(ref, renamed)
                    else:
                        _rename_refs(ref, renamed)
            else:
                _rename_refs(item, renamed)
    elif isinstance(value, list):
        for item in value:
            _rename_refs(item, renamed)


def _renamed_ref(ref: str, renamed: dict[str, dict[str, str]]) -> str:
    parts = ref.split("/")
    if len(parts) >= 4 and parts[:2] == ["#", "components"]:
        new = renamed.get(parts[2], {}).get(parts[3])
        if new is not None:
            parts[3] = new
    return "/".join(parts)
