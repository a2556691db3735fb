"""The OpenAPI 3.1 document, generated from the route table and the response Structs.

Everything comes from ``routes.ENDPOINTS``: paths (Starlette converters such as ``{symbol:path}``
become ``{symbol}``), parameters (their ``schema()`` carries the validation rules), the success
body (``msgspec.json.schema_components`` of the response Struct), tags (handler modules),
summaries and descriptions (handler docstrings). Error answers share one shape (``ErrorOut``);
each status gets a named response whose ``status`` and ``code`` are pinned.

The document does not depend on where the app is mounted except for ``servers``, so the rest is
built once (``build``) and ``document`` adds ``servers`` per request from the ASGI root path.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from . import __version__
from .errors import (
    BadCacheValue,
    BadRequest,
    CacheTimeout,
    CacheUnavailable,
    ErrorOut,
    Forbidden,
    NotFound,
    Unauthorized,
)

if TYPE_CHECKING:
    from .params import Param
    from .routes import Endpoint

__all__ = ["OPENAPI_VERSION", "Raw", "build", "document", "error_response", "openapi_path"]

OPENAPI_VERSION = "3.1.0"
TITLE = "fullon_cache_api"
DESCRIPTION = """\
A read-only JSON API over the fullon trading system's Redis cache.

Every route answers GET and HEAD; any other method gets 405. Instants are RFC 3339 UTC strings;
non-finite stored numbers are null. Collections are `{"items": [...], "count": N}` plus the
context asked for, and `"skipped": N` when corrupt stored values were left out. Every error is
`{"error": {"status", "code", "message"}}`."""
SCHEMA_REF = "#/components/schemas/{name}"
RESPONSE_REF = "#/components/responses/{name}"
_CONVERTER = re.compile(r"\{(\w+)(?::\w+)?\}")

# Routes whose Redis failures (503/504) answer in the route's own shape rather than ErrorOut:
# /health, since load balancers read it (API.md, "Health").
FAILURE_IN_OWN_SHAPE = frozenset({"/health"})


class Raw:
    """A route-table ``response`` for an answer that is not a JSON-encoded Struct.

    Subclasses say what the success answer is: its media types (each with a JSON Schema), its
    description and headers, and whether the route reads the cache (then 502/503/504 apply).
    """

    media_types: ClassVar[dict[str, dict[str, Any]]] = {}
    description: ClassVar[str] = "OK"
    headers: ClassVar[dict[str, dict[str, Any]]] = {}
    other_responses: ClassVar[dict[str, dict[str, Any]]] = {}
    """Responses by status, e.g. a 304, or an error with a code of its own (``error_response``)."""
    reads_cache: ClassVar[bool] = False


# status -> (component name, error code, description)
ERRORS: dict[int, tuple[str, str, str]] = {
    400: (
        "BadRequest",
        BadRequest.code,
        "A parameter is invalid; the message names it and says what is allowed.",
    ),
    401: (
        "Unauthorized",
        Unauthorized.code,
        "No valid credentials (only when auth is enabled: a bearer token, or the host's user).",
    ),
    403: (
        "Forbidden",
        Forbidden.code,
        "The host's authorization hook refused this read (only when the host sets one).",
    ),
    404: ("NotFound", NotFound.code, "Unknown route, or the resource is not in the cache."),
    405: (
        "MethodNotAllowed",
        "method_not_allowed",
        "Any method but GET and HEAD: this API only reads.",
    ),
    502: (
        "BadCacheValue",
        BadCacheValue.code,
        "The one stored value asked for is not what fullon_cache writes.",
    ),
    503: ("CacheUnavailable", CacheUnavailable.code, "Redis is unreachable."),
    504: ("CacheTimeout", CacheTimeout.code, "Redis did not answer in time."),
}
REDIS_FAILURES = (502, 503, 504)


def openapi_path(path: str) -> str:
    """``/tickers/{exchange}/{symbol:path}`` -> ``/tickers/{exchange}/{symbol}``."""
    return _CONVERTER.sub(r"{\1}", path)


def path_names(path: str) -> list[str]:
    """The parameter names of a route path, in order."""
    return _CONVERTER.findall(path)


def document(endpoints: Sequence[Endpoint], root_path: str = "") -> dict[str, Any]:
    """The document for an app served at ``root_path`` (``""`` standalone, or a mount point)."""
    base = build(tuple(endpoints))
    servers = [{"url": root_path.rstrip("/") or "/"}]
    return {"openapi": base["openapi"], "info": base["info"], "servers": servers, **base}


@functools.cache
def build(endpoints: tuple[Endpoint, ...]) -> dict[str, Any]:
    """Everything but ``servers``; built once per route table."""
    types = list(dict.fromkeys([ErrorOut, *(e.response for e in endpoints)]))
    types = [t for t in types if not issubclass(t, Raw)]
    found, schemas = msgspec.json.schema_components(types, ref_template=SCHEMA_REF)
    refs: dict[type, dict[str, Any]] = dict(zip(types, found, strict=True))
    assert refs[ErrorOut] == {"$ref": SCHEMA_REF.format(name="ErrorOut")}  # error_response's
    paths: dict[str, Any] = {}
    tags: dict[str, str] = {}
    for endpoint in endpoints:
        path = openapi_path(endpoint.path)
        if path in paths:
            raise ValueError(f"route table: {path} is listed twice")
        paths[path] = {"get": _operation(endpoint, refs)}
        tags.setdefault(endpoint.tag, _module_summary(endpoint))
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": TITLE,
            "version": __version__,
            "description": DESCRIPTION,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "tags": [{"name": name, "description": text} for name, text in tags.items()],
        "paths": paths,
        "security": [{}, {"bearer": []}],
        "components": {
            "schemas": schemas,
            "responses": _error_responses(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Only when auth is enabled: a token of FULLON_CACHE_API_TOKENS.",
                }
            },
        },
    }


def _operation(endpoint: Endpoint, refs: dict[type, dict[str, Any]]) -> dict[str, Any]:
    _check_params(endpoint)
    operation: dict[str, Any] = {
        "tags": [endpoint.tag],
        "summary": endpoint.summary,
        "operationId": f"{endpoint.tag}_{endpoint.handler.__name__}",
    }
    description = _description(endpoint)
    if description:
        operation["description"] = description
    if endpoint.params:
        operation["parameters"] = [_parameter(param) for param in endpoint.params]
    operation["responses"] = _responses(endpoint, refs)
    return operation


def _parameter(param: Param) -> dict[str, Any]:
    schema = param.schema()
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


def _responses(endpoint: Endpoint, refs: dict[type, dict[str, Any]]) -> dict[str, Any]:
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
        reads_cache = response.reads_cache
    else:
        ok = {"description": "OK", "content": _json(refs[response])}
        if endpoint.private:
            ok["headers"] = {
                "Cache-Control": {
                    "description": "account, order and trade data is never cached",
                    "required": True,
                    "schema": {"type": "string", "const": "no-store"},
                }
            }
        responses["200"] = ok
        reads_cache = True
    # 401/403 apply to every route: settings may close even /health and the docs.
    statuses = [401, 403, 404, 405]
    if endpoint.params:
        statuses.append(400)
    if reads_cache:
        statuses.extend(REDIS_FAILURES)
    for status in sorted(statuses):
        if str(status) in responses:  # set by the marker's other_responses
            continue
        if status in (503, 504) and endpoint.path in FAILURE_IN_OWN_SHAPE:
            text = ERRORS[status][2]
            responses[str(status)] = {"description": text, "content": _json(refs[response])}
        else:
            responses[str(status)] = {"$ref": RESPONSE_REF.format(name=ERRORS[status][0])}
    return responses


def _error_responses() -> dict[str, Any]:
    """One named response per error status, its ``status`` and ``code`` pinned."""
    out: dict[str, Any] = {}
    for status, (name, code, text) in ERRORS.items():
        out[name] = error_response(status, (code,), text)
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


def _check_params(endpoint: Endpoint) -> None:
    """The path's placeholders and the entry's path parameters must name the same values."""
    in_path = path_names(endpoint.path)
    declared = [p.name for p in endpoint.params if p.where == "path"]
    if sorted(in_path) != sorted(declared):
        raise ValueError(
            f"route table: {endpoint.path} has path parameters {in_path} but lists {declared}"
        )
    seen = [(p.name, p.where) for p in endpoint.params]
    if len(seen) != len(set(seen)):
        raise ValueError(f"route table: {endpoint.path} lists a parameter twice")


def _description(endpoint: Endpoint) -> str:
    """The handler docstring after its first line (the summary)."""
    doc = inspect.getdoc(endpoint.handler) or ""
    rest = doc.split("\n", 1)[1] if "\n" in doc else ""
    text = rest.strip()
    if endpoint.private:
        note = "Answered with `Cache-Control: no-store`."
        text = f"{text}\n\n{note}" if text else note
    return text


def _module_summary(endpoint: Endpoint) -> str:
    module = inspect.getmodule(endpoint.handler)
    doc = (module.__doc__ if module else None) or ""
    return doc.strip().split("\n", 1)[0]


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}
