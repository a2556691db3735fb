"""Pages for people: a home page, and a live page of every family of the cache.

Their files are package data (``fullon_cache_api/ui``), served by this app: no build step, no
CDN. Every URL in them starts at the app's root path, so they work standalone and mounted (at
/api/v1/cache). The live page's script reads the API like any client, with the bearer token a
person types in when the API asks for one.
"""

from __future__ import annotations

import html
from importlib.resources import files
from typing import Any, ClassVar

from starlette.responses import Response

from ..context import Ctx
from ..files import NOT_MODIFIED, Files, file_etag
from ..params import Choice
from ..routing import Raw
from ..version import __version__
from .docs import DocsPage

__all__ = ["ASSET", "HtmlPage", "LiveAsset", "home_page", "live_asset", "live_page"]

PAGES = {"home.html", "live.html"}
JS = "text/javascript; charset=utf-8"
ASSETS: dict[str, tuple[str, str]] = {  # name served: (its file in the ui folder, media type)
    "live.js": ("live.js", JS),
    "live.css": ("live.css", "text/css; charset=utf-8"),
    # The candle chart's library, vendored from the npm registry unchanged, and its licence
    # (vendor/vendor.json says which package and version, with their hashes).
    "lightweight-charts.js": ("vendor/lightweight-charts.standalone.production.js", JS),
    "lightweight-charts-LICENSE.txt": (
        "vendor/lightweight-charts.LICENSE",
        "text/plain; charset=utf-8",
    ),
}
ASSET: Choice = Choice(
    "asset",
    where="path",
    description=(
        "a file of the live page: its script, its style sheet, the chart library and its licence"
    ),
    choices=(*ASSETS,),
)
# Only this app's own script, style sheet and requests; no inline script, no plugins, no
# framing by others. Trusted Types: the script builds the page with DOM calls, never HTML strings.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'; "
    "require-trusted-types-for 'script'"
)
# Revalidated on every use (a 304 when unchanged), so a page never runs an older script.
REVALIDATE = "no-cache"
_ETAG = {"ETag": {"required": True, "schema": {"type": "string"}}}
_REVALIDATE = {
    "Cache-Control": {"required": True, "schema": {"type": "string", "const": REVALIDATE}}
}


class HtmlPage(Raw):
    """Route-table marker: an HTML page for people."""

    description: ClassVar[str] = (
        "An HTML page; it loads only this app's own files. `ETag` allows revalidation."
    )
    media_types: ClassVar[dict[str, dict[str, Any]]] = DocsPage.media_types
    headers: ClassVar[dict[str, dict[str, Any]]] = {**DocsPage.headers, **_ETAG, **_REVALIDATE}
    other_responses: ClassVar[dict[str, dict[str, Any]]] = NOT_MODIFIED


class LiveAsset(Raw):
    """Route-table marker: the live page's script or style sheet."""

    description: ClassVar[str] = "The file; `ETag` allows revalidation."
    media_types: ClassVar[dict[str, dict[str, Any]]] = {
        "text/javascript": {"type": "string"},
        "text/css": {"type": "string"},
        "text/plain": {"type": "string"},  # the chart library's licence
    }
    headers: ClassVar[dict[str, dict[str, Any]]] = {**_ETAG, **_REVALIDATE}
    other_responses: ClassVar[dict[str, dict[str, Any]]] = NOT_MODIFIED


async def home_page(ctx: Ctx) -> Response:
    """What this API is, with links to the live page, the docs, health and metrics."""
    return await _page(ctx, "home.html")


async def live_page(ctx: Ctx) -> Response:
    """A live page of every family: tickers as they change (with a sparkline of the last hour),
    a candlestick chart with the symbol's orders and trades, orders, trades, bots, accounts
    (balances and positions), processes (with their messages) and order queues.

    Tickers come from `/stream/tickers`, the other panels are read every few seconds
    (`?refresh=` seconds, default 5); `?symbol=`, `?timeframe=` and `?bars=` choose the chart.
    When the API answers 401, the page asks for a bearer token and sends it on every request; a
    panel the token may not read (403) says so."""
    return await _page(ctx, "live.html")


async def live_asset(ctx: Ctx, asset: str) -> Response:
    """A file of the live page: its script and style sheet; 404 for any other."""
    return (await FILES.get(asset)).response(REVALIDATE)


async def _page(ctx: Ctx, name: str) -> Response:
    # The root path comes from the server or the host's mount (which may take it from the
    # request's path): escaped like any text put in HTML.
    root = html.escape(ctx.root_path.rstrip("/"))
    template = (await FILES.get(name)).body.decode()
    body = template.format(root=root, version=__version__).encode()
    headers = {
        "Content-Security-Policy": POLICY,
        "Cache-Control": REVALIDATE,
        "ETag": file_etag(body),
    }
    return Response(body, 200, headers, "text/html; charset=utf-8")


def _read() -> dict[str, tuple[bytes, str]]:
    folder = files("fullon_cache_api").joinpath("ui")
    served = {**ASSETS, **{page: (page, "text/html; charset=utf-8") for page in PAGES}}
    return {name: (folder.joinpath(path).read_bytes(), mt) for name, (path, mt) in served.items()}


FILES = Files(_read)
