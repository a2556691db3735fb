"""The home page and the live page: served through the real app (standalone, mounted, under a
server's root path)."""

from __future__ import annotations

import re
from importlib.resources import files
from urllib.parse import urljoin

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.routing import Mount

from fullon_cache_api import Settings, create_app
from fullon_cache_api.handlers import ui
from fullon_cache_api.routes import ROUTES

from support import expect, http_client

UI_FILES = files("fullon_cache_api").joinpath("ui")
SCRIPT = UI_FILES.joinpath("live.js").read_text()
MOUNT = "/api/v1/cache"
TOKEN = "a-token-for-the-live-page"


# Served by the app ---------------------------------------------------------------------------


def refs(page: str) -> list[str]:
    return re.findall(r'(?:href|src|data-root)="([^"]*)"', page)


@pytest.mark.parametrize("mount", ["", MOUNT])
@pytest.mark.parametrize("path", ["/", "/ui", "/ui/"])
async def test_pages_load_only_the_apps_own_files(settings, clock, snapshot, mount, path) -> None:
    app = create_app(settings, clock=clock)
    served = Starlette(routes=[Mount(mount, app=app)]) if mount else app
    async with http_client(served) as client:
        page_url = f"http://api{mount}{path}"
        page = await client.get(page_url)
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["x-content-type-options"] == "nosniff"
        policy = page.headers["content-security-policy"]
        assert policy == ui.POLICY
        assert "default-src 'none'" in policy and "script-src 'self';" in policy
        assert "unsafe" not in policy
        assert "<script>" not in page.text and " style=" not in page.text  # nothing inline
        found = refs(page.text)
        links = [r for r in found if r != mount]  # data-root is the mount point itself
        assert links and all(r.startswith(f"{mount}/") and "//" not in r for r in links)
        for ref in links:
            response = await client.get(urljoin(page_url, ref))
            assert response.status_code == 200, (ref, response.text)
        if path == "/":
            assert {
                f"{mount}/{p}" for p in ("ui", "docs", "openapi.json", "health", "metrics")
            } <= set(links)
            assert f"<code>{mount}/ws</code>" in page.text
        else:
            assert f'data-root="{mount}"' in page.text
            assert {f"{mount}/ui/live.js", f"{mount}/ui/live.css"} <= set(links)


def test_the_script_reads_only_routes_of_the_table() -> None:
    """Every API path in the script is a route of the table, and the ones it reads are these."""
    paths = set(re.findall(r'"(/[a-z/]+)"', SCRIPT))
    assert paths == {
        "/tickers",
        "/stream/tickers",
        "/processes/health",
        "/processes",
        "/orders/queues",
        "/accounts",
    }
    assert paths <= {e.path for e in ROUTES}
    assert "http:" not in SCRIPT and "https:" not in SCRIPT  # nothing from elsewhere
    # DOM calls only (the policy requires Trusted Types for HTML strings)
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(", SCRIPT)


async def test_what_the_script_reads_answers_mounted(settings, clock, snapshot) -> None:
    app = create_app(settings, clock=clock)
    async with http_client(Starlette(routes=[Mount(MOUNT, app=app)])) as client:
        for path in ("/tickers", "/processes/health", "/processes", "/orders/queues", "/accounts"):
            expect(await client.get(MOUNT + path))
        stream = await client.head(f"{MOUNT}/stream/tickers")  # HEAD opens no stream
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")


@pytest.mark.parametrize("path", ["/", "/ui", "/ui/live.js", "/ui/live.css"])
async def test_pages_and_files_revalidate_with_their_etag(client, path) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"
    tag = response.headers["etag"]
    again = await client.get(path, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == tag and again.headers["cache-control"] == "no-cache"
    if path.startswith("/ui/"):  # the packaged file itself
        assert response.content == UI_FILES.joinpath(path.removeprefix("/ui/")).read_bytes()
        kind = "javascript" if path.endswith(".js") else "css"
        assert response.headers["content-type"] == f"text/{kind}; charset=utf-8"


@pytest.mark.parametrize("path", ["/ui/live.html", "/ui/home.html", "/ui/x.js", "/ui/..%2Fapp.py"])
async def test_only_the_page_files_are_served(client, path) -> None:
    assert expect(await client.get(path), 404)["error"]["code"] == "not_found"


async def test_the_bare_mount_point_reaches_the_home_page(settings, clock) -> None:
    """A host's Mount never passes /api/v1/cache on: Starlette's and FastAPI's routers redirect it
    to /api/v1/cache/. Under a server's root path the app answers it itself."""
    fastapi_host = FastAPI()
    fastapi_host.mount(MOUNT, create_app(settings, clock=clock))
    hosts = [Starlette(routes=[Mount(MOUNT, app=create_app(settings, clock=clock))]), fastapi_host]
    for host in hosts:
        async with http_client(host) as client:
            moved = await client.get(MOUNT)
            assert moved.status_code == 307 and moved.headers["location"].endswith(f"{MOUNT}/")
            home = await client.get(MOUNT, follow_redirects=True)
            assert home.status_code == 200 and f'href="{MOUNT}/ui"' in home.text
    app = create_app(settings, clock=clock)
    transport = httpx.ASGITransport(app=app, root_path=MOUNT)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        for path in (MOUNT, f"{MOUNT}/"):
            home = await client.get(path)
            assert home.status_code == 200 and f'href="{MOUNT}/ui"' in home.text


async def test_the_root_path_is_escaped_in_pages(settings, clock) -> None:
    root = '/a"<b'
    transport = httpx.ASGITransport(app=create_app(settings, clock=clock), root_path=root)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        page = await client.get(f"{root}/ui")
    assert page.status_code == 200
    assert 'data-root="/a&quot;&lt;b"' in page.text and '"<b' not in page.text


async def test_pages_are_open_like_the_docs_unless_closed(settings) -> None:
    """With tokens the pages still load (the live page then asks for a token: the data routes
    answer 401); with public docs off they need the token too."""
    tokens = {"redis_url": settings.redis_url, "tokens": (TOKEN,)}
    async with http_client(create_app(Settings(**tokens))) as client:
        for path in ("/", "/ui", "/ui/live.js"):
            assert (await client.get(path)).status_code == 200
        refused = await client.get("/tickers")
        assert expect(refused, 401)["error"]["code"] == "unauthorized"
        assert refused.headers["www-authenticate"] == "Bearer"
    async with http_client(create_app(Settings(**tokens, public_docs=False))) as client:
        for path in ("/", "/ui", "/ui/live.css"):
            assert expect(await client.get(path), 401)["error"]["code"] == "unauthorized"
            bearer = {"Authorization": f"Bearer {TOKEN}"}
            assert (await client.get(path, headers=bearer)).status_code == 200
