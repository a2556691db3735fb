"""Docs: the OpenAPI document and an interactive docs page that works offline.

The page is Swagger UI, served by this app from the ``swagger-ui-bundle-v2`` package (no CDN).
Its URLs start at the app's root path, so it works standalone and mounted (at /api/v1/cache).
"""

from __future__ import annotations

import html
from importlib.resources.abc import Traversable
from typing import Any, ClassVar

from starlette.responses import Response
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from .. import openapi
from ..context import Ctx
from ..files import NOT_MODIFIED, Files
from ..params import Choice
from ..responses import encode
from ..routing import Raw

# Swagger UI's files the page uses, by name, with their media types (nothing else is served).
BUNDLED: dict[str, str] = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-16x16.png": "image/png",
    "favicon-32x32.png": "image/png",
}
INIT = "init.js"
ASSET: Choice = Choice(
    "asset",
    where="path",
    description=(
        "a file of the docs page: Swagger UI's script, style sheet and icons, and its start script"
    ),
    choices=(*BUNDLED, INIT),
)
ASSET_CACHE = "public, max-age=86400"
# The page loads nothing from elsewhere, and a browser enforces it.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'self'"
)

# ``{root}`` is the app's root path: "" standalone, the mount point when mounted.
PAGE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>fullon_cache_api docs</title>
<link rel="stylesheet" href="{root}/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="{root}/docs/favicon-32x32.png" sizes="32x32">
<link rel="icon" type="image/png" href="{root}/docs/favicon-16x16.png" sizes="16x16">
</head>
<body>
<div id="swagger-ui" data-openapi="{root}/openapi.json"></div>
<script src="{root}/docs/swagger-ui-bundle.js"></script>
<script src="{root}/docs/init.js"></script>
</body>
</html>
"""
INIT_JS = b"""\
"use strict";
window.addEventListener("load", function () {
  var node = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: node.getAttribute("data-openapi"),
    domNode: node,
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null,
    displayRequestDuration: true,
  });
});
"""


class OpenApiDocument(Raw):
    """Route-table marker: the OpenAPI 3.1 document (JSON)."""

    description: ClassVar[str] = (
        "This OpenAPI 3.1 document; `servers` names where the app is mounted."
    )
    media_types: ClassVar[dict[str, dict[str, Any]]] = {
        "application/json": {
            "type": "object",
            "required": ["openapi", "info", "servers", "paths", "components"],
            "properties": {"openapi": {"type": "string", "const": openapi.OPENAPI_VERSION}},
        }
    }


class DocsPage(Raw):
    """Route-table marker: the docs page (HTML)."""

    description: ClassVar[str] = (
        "The Swagger UI page; it loads its files and the document from this app."
    )
    media_types: ClassVar[dict[str, dict[str, Any]]] = {"text/html": {"type": "string"}}
    headers: ClassVar[dict[str, dict[str, Any]]] = {
        "Content-Security-Policy": {
            "description": "only this app's own files are loaded",
            "required": True,
            "schema": {"type": "string"},
        }
    }


class DocsAsset(Raw):
    """Route-table marker: a static file of the docs page."""

    description: ClassVar[str] = "The file, cacheable for a day; `ETag` allows revalidation."
    media_types: ClassVar[dict[str, dict[str, Any]]] = {
        "text/css": {"type": "string"},
        "text/javascript": {"type": "string"},
        "image/png": {"type": "string", "contentMediaType": "image/png"},
    }
    headers: ClassVar[dict[str, dict[str, Any]]] = {
        "Cache-Control": {"required": True, "schema": {"type": "string", "const": ASSET_CACHE}},
        "ETag": {"required": True, "schema": {"type": "string"}},
    }
    other_responses: ClassVar[dict[str, dict[str, Any]]] = NOT_MODIFIED


async def openapi_json(ctx: Ctx) -> Response:
    """This API's OpenAPI 3.1 document, generated from the route table.

    `servers` is the path the app is served at (its ASGI root path), so "try it out" calls land
    on the mounted routes."""
    document = openapi.document(ctx.app, ctx.root_path)
    return Response(encode(document), media_type="application/json")


async def docs_page(ctx: Ctx) -> Response:
    """Interactive API docs (Swagger UI), served with all its files by this app: works offline."""
    headers = {"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-cache"}
    root = html.escape(ctx.root_path.rstrip("/"))  # from the server or the host's mount
    return Response(PAGE.format(root=root), 200, headers, "text/html")


async def docs_asset(ctx: Ctx, asset: str) -> Response:
    """A file of the docs page: Swagger UI's script, style sheet and icons; 404 for any other."""
    return (await FILES.get(asset)).response(ASSET_CACHE)


def _read_assets() -> dict[str, tuple[bytes, str]]:
    root: Traversable = swagger_ui_path
    files = {name: (root.joinpath(name).read_bytes(), mt) for name, mt in BUNDLED.items()}
    files[INIT] = (INIT_JS, "text/javascript; charset=utf-8")
    return files


FILES = Files(_read_assets)
