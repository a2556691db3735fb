"""``CacheClient``: an async HTTP client of this API (httpx), one method per HTTP route.

The methods are made from the route table (``routes.ENDPOINTS``), so there is one for every
route and none the API does not serve: each is named after the route's handler
(``tickers.ticker`` -> ``client.ticker("binance", "BTC/USDT")``), takes the route's path
parameters in order and its query parameters by keyword (``None``: not sent; a list is sent
comma-separated), and answers the route's response Struct, decoded with msgspec. Routes that
answer something else than JSON (the docs, pages, ``/metrics``) answer the ``httpx.Response``;
``await client.stream_tickers(...)`` is an async iterator of ``(event, data)`` pairs. An error
answer raises ``CacheApiError`` with its status, code and message.

``base_url`` is where the API is served: ``http://127.0.0.1:8000`` standalone, or the mount
point (``https://master.example/api/v1/cache``). ``token``: a bearer token (auth enabled).
httpx is needed (``pip install httpx``): the server itself does not use it.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from .errors import ErrorOut
from .routes import ENDPOINTS
from .routing import Endpoint

__all__ = ["CacheApiError", "CacheClient"]

_PLACEHOLDER = re.compile(r"\{(\w+)(:\w+)?\}")


class CacheApiError(Exception):
    """An error answer of the API: ``status``, ``code`` and ``message`` of its error shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class CacheClient:
    """An async client of the API at ``base_url``; close it (``aclose``, or ``async with``).
    ``transport``: httpx's, e.g. ``httpx.ASGITransport(app=...)`` to call an app in process."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        self.http = httpx.AsyncClient(
            base_url=base_url, headers=headers, timeout=timeout, transport=transport
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> CacheClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def call(self, endpoint: Endpoint, *args: Any, **kwargs: Any) -> Any:
        """``endpoint``'s answer for these arguments (what each route's method does)."""
        path, query = _request(endpoint, args, kwargs)
        if _is_stream(endpoint):
            return self._events(path, query)
        response = await self.http.get(path, params=query)
        if response.status_code >= 400:
            raise _error(response.status_code, response.content)
        if endpoint.is_raw:
            return response
        return msgspec.json.decode(response.content, type=endpoint.response)

    async def _events(self, path: str, query: dict[str, str]) -> AsyncIterator[tuple[str, Any]]:
        """The stream's events, ``(event, data)`` with ``data`` decoded from JSON; it ends after
        ``end`` or ``error``."""
        async with self.http.stream("GET", path, params=query, timeout=None) as response:
            if response.status_code >= 400:
                raise _error(response.status_code, await response.aread())
            event, data = "message", []
            async for line in response.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and data:  # a blank line ends an event
                    yield event, json.loads("\n".join(data))
                    if event in ("end", "error"):
                        return
                    event, data = "message", []


def _request(
    endpoint: Endpoint, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[str, dict[str, str]]:
    bound = _signature(endpoint).bind(None, *args, **kwargs).arguments
    values = {p.name: bound.get(p.name) for p in endpoint.params}

    def fill(match: re.Match[str]) -> str:  # a ``:path`` parameter keeps its slashes
        return quote(str(values[match.group(1)]), safe="/" if match.group(2) == ":path" else "")

    path = _PLACEHOLDER.sub(fill, endpoint.path)
    query = {
        p.name: ",".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
        for p in endpoint.params
        if p.where == "query" and (value := values[p.name]) is not None
    }
    return path, query  # httpx puts it below base_url's own path


def _error(status: int, body: bytes) -> CacheApiError:
    try:
        error = msgspec.json.decode(body, type=ErrorOut).error
    except msgspec.DecodeError:
        return CacheApiError(status, "unexpected", body[:200].decode("utf-8", "replace"))
    return CacheApiError(error.status, error.code, error.message)


def _is_stream(endpoint: Endpoint) -> bool:
    return "text/event-stream" in getattr(endpoint.response, "media_types", {})


def _signature(endpoint: Endpoint) -> inspect.Signature:
    """``(self, <path parameters>, *, <query parameters>=None)``."""
    kind = inspect.Parameter
    parameters = [kind("self", kind.POSITIONAL_ONLY)]
    parameters += [
        kind(p.name, kind.POSITIONAL_OR_KEYWORD) for p in endpoint.params if p.where == "path"
    ]
    parameters += [
        kind(p.name, kind.KEYWORD_ONLY, default=None) for p in endpoint.params if p.where == "query"
    ]
    return inspect.Signature(parameters)


def _method(endpoint: Endpoint) -> Any:
    async def method(self: CacheClient, *args: Any, **kwargs: Any) -> Any:
        return await self.call(endpoint, *args, **kwargs)

    name = endpoint.handler.__name__
    method.__name__, method.__qualname__ = name, f"CacheClient.{name}"
    method.__doc__ = f"GET {endpoint.template}: {endpoint.summary}"
    setattr(method, "__signature__", _signature(endpoint))  # noqa: B010  (for help())
    setattr(method, "endpoint", endpoint)  # noqa: B010
    return method


for _endpoint in ENDPOINTS:
    if hasattr(CacheClient, _endpoint.handler.__name__):
        raise ValueError(f"client: {_endpoint.handler.__name__} is taken")
    setattr(CacheClient, _endpoint.handler.__name__, _method(_endpoint))
