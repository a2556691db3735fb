"""``CacheClient`` (async) and ``SyncCacheClient``: HTTP clients of this API (httpx), with one
method per HTTP route, both made from the route table (``routes.ENDPOINTS``).

Each method is named after its route's handler (``tickers.ticker`` ->
``client.ticker("binance", "BTC/USDT")``), takes the route's path parameters in order and its
query parameters by keyword (``None``: not sent; a list is sent comma-separated), and answers
the route's response Struct, decoded strictly with msgspec. Routes that answer something else
than JSON (the docs, pages, ``/metrics``) answer the ``httpx.Response``. An error answer
raises ``CacheApiError`` with its status and the API's error code and message.

- Paged routes (a ``cursor`` parameter) have an ``iter_`` twin that follows ``next_cursor`` and
  yields the items of every page: ``iter_`` and the handler's name less a leading ``all_``
  (``async for t in client.iter_tickers(limit=500)``); its ``cursor`` is where it starts.
- A stream (``/stream/tickers``: ``client.stream_tickers(exchange="binance")``) is an iterator
  of ``Event``s, each ``data`` decoded into the type its route declares for it
  (``Raw.events``). It reconnects with backoff (``Retry``) when the connection fails or the
  stream ends, sending the last event id as ``Last-Event-ID``; the stream goes on from now (the
  server keeps no history). Each connection begins with a ``subscribed`` event whose
  ``Subscribed.resumed_after`` is the id the server says it was given: updates in between were
  missed (read ``/tickers`` for the state).
- ``retry``: answers 503 and 504 are tried again after a backoff that honours ``Retry-After``
  (``Retry``); no other status is.
- ``conditional=True``: the ETag and body of each URL's last answer are kept (of the
  ``KEPT_URLS`` used last; never an answer marked ``no-store``), its ``If-None-Match`` sent,
  and a 304 answered from the kept body.

``base_url`` is where the API is served: ``http://127.0.0.1:8000`` standalone, or the mount
point (``https://master.example/api/v1/cache``). ``token``: a bearer token (auth enabled).
``transport``: httpx's, e.g. ``httpx.ASGITransport(app=...)`` to call an app in process.

``SyncCacheClient`` runs the same coroutines as ``CacheClient``: its I/O methods are coroutines
that never suspend (they call ``httpx.Client`` and ``time.sleep``), so each call runs to its
end in one step, without an event loop (``_blocking``).

Type checkers see every method typed (its parameters by their kind, its answer Struct) in
``_client_api.pyi``, a stub written from the same route table by ``stub()``
(``python -m fullon_cache_api.client --stub > fullon_cache_api/_client_api.pyi``; a test fails
when it is not the one the table makes): ``CacheClient`` and ``SyncCacheClient`` inherit its
classes only while type checking.

httpx is needed (the ``client`` extra): the server itself does not use it.
"""

from __future__ import annotations

import abc
import argparse
import email.utils
import inspect
import logging
import re
import sys
import textwrap
import time
import typing
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, NamedTuple, Self
from urllib.parse import quote

import anyio
import httpx
import msgspec

from .errors import ErrorOut
from .params import Choice, Cursor, Integer, Number, Param, Text, TextList
from .routes import ENDPOINTS
from .routing import Endpoint, Raw

__all__ = [
    "KEPT_URLS",
    "CacheApiError",
    "CacheClient",
    "Event",
    "Retry",
    "Subscribed",
    "SyncCacheClient",
]

log = logging.getLogger("fullon.cache_api.client")

KEPT_URLS = 1024
"""URLs whose last answer a conditional client keeps (the least recently used are dropped)."""
RETRIED = (503, 504)
_PLACEHOLDER = re.compile(r"\{(\w+)(:\w+)?\}")


class CacheApiError(Exception):
    """An error answer of the API: ``status``, ``code`` and ``message`` of its error shape."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Retry:
    """When to try again: a request answered 503 or 504 (no other status), and a stream whose
    connection fails, is refused with 503 or 504, or ends. Waits double from ``first`` up to
    ``most`` seconds; a ``Retry-After`` is waited for at least, and one longer than ``most``
    is not waited for (the error is raised). ``attempts``: tries of a request in all (1: none
    again). ``reconnects``: a stream's connections in a row that fail or end before it gives
    up (``None``: it never does). ``scale``: each wait is slept for this share of it (a
    test's shortcut, e.g. 0.001; logs name the whole wait)."""

    attempts: int = 4
    first: float = 0.5
    most: float = 30.0
    reconnects: int | None = None
    scale: float = 1.0

    def wait(self, failures: int, limit: int | None, retry_after: str | None) -> float | None:
        """Seconds to wait after the ``failures``-th failure in a row, or None: give up."""
        if limit is not None and failures >= limit:
            return None
        wait = min(self.first * 2.0 ** (failures - 1), self.most)
        asked = _seconds(retry_after)
        if asked is not None and asked > self.most:
            return None
        return wait if asked is None else max(wait, asked)


class Event(NamedTuple):
    """One event of a stream: its name, its ``data`` decoded into the type the route declares
    for that name (JSON values for a name it does not declare), and the stream's last event
    id (what a reconnection sends as ``Last-Event-ID``)."""

    event: str
    data: Any
    id: str | None = None


class Subscribed(msgspec.Struct, frozen=True):
    """The data of the ``subscribed`` event that begins each connection of a stream:
    ``resumed_after``, the ``Last-Event-ID`` the server was given (None on a first one)."""

    resumed_after: str | None = None


class _Client(abc.ABC):
    """What both clients share: the requests, as coroutines and async generators over the
    subclass's I/O methods, and one method per route (added below, from the route table)."""

    def __init__(
        self,
        http: Callable[..., Any],
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 10.0,
        transport: Any = None,
        retry: Retry = Retry(),
        conditional: bool = False,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        self.http = http(base_url=base_url, headers=headers, timeout=timeout, transport=transport)
        self.retry = retry
        self._kept: OrderedDict[str, tuple[str, bytes]] | None = (
            OrderedDict() if conditional else None
        )

    # I/O: the subclass's, over its httpx client. A response is streamed until read.
    @abc.abstractmethod
    async def _send(self, request: httpx.Request) -> httpx.Response: ...

    @abc.abstractmethod
    async def _read(self, response: httpx.Response) -> bytes: ...

    @abc.abstractmethod
    def _lines(self, response: httpx.Response) -> AsyncIterator[str]: ...

    @abc.abstractmethod
    async def _close(self, response: httpx.Response) -> None: ...

    @abc.abstractmethod
    async def _sleep(self, seconds: float) -> None: ...

    @staticmethod
    @abc.abstractmethod
    def _finish(work: Any) -> Any:
        """What a route's method answers for ``work`` (its coroutine or async generator)."""

    async def _get(self, endpoint: Endpoint, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """``endpoint``'s answer for these arguments (a route's method)."""
        path, query = _request(endpoint, args, kwargs)
        request = self.http.build_request("GET", path, params=query)
        url = str(request.url)
        kept = None
        if self._kept is not None and not endpoint.is_raw and (kept := self._kept.get(url)):
            request.headers["If-None-Match"] = kept[0]
            self._kept.move_to_end(url)
        response, body = await self._answer(request)
        if response.status_code == 304 and kept is not None:
            body = kept[1]
        elif response.status_code >= 400:
            raise _error(response.status_code, body)
        elif self._kept is not None and not endpoint.is_raw:
            self._keep(url, response, body)
        if endpoint.is_raw:
            return response
        return msgspec.json.decode(body, type=endpoint.response)

    async def _answer(self, request: httpx.Request) -> tuple[httpx.Response, bytes]:
        """The answer to ``request`` and its body, tried again on 503 and 504."""
        failures = 0
        while True:
            response = await self._send(request)
            body = await self._read(response)
            if response.status_code not in RETRIED:
                return response, body
            failures += 1
            wait = self.retry.wait(
                failures, self.retry.attempts, response.headers.get("retry-after")
            )
            if wait is None:
                return response, body
            error = _error(response.status_code, body)
            log.warning("GET %s: %s; again in %.2f s", request.url.path, _named(error), wait)
            await self._sleep(wait * self.retry.scale)

    def _keep(self, url: str, response: httpx.Response, body: bytes) -> None:
        assert self._kept is not None
        tag = response.headers.get("etag")
        if tag is None or "no-store" in response.headers.get("cache-control", ""):
            self._kept.pop(url, None)
            return
        self._kept[url] = (tag, body)
        self._kept.move_to_end(url)
        if len(self._kept) > KEPT_URLS:
            self._kept.popitem(last=False)

    async def _pages(
        self, endpoint: Endpoint, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> AsyncIterator[Any]:
        """The items of every page, following ``next_cursor`` (an ``iter_`` method)."""
        items = _items_field(endpoint)
        while True:
            page = await self._get(endpoint, args, kwargs)
            for item in getattr(page, items):
                yield item
            if page.next_cursor is None:
                return
            kwargs = {**kwargs, "cursor": page.next_cursor}

    async def _events(
        self, endpoint: Endpoint, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> AsyncIterator[Event]:
        """A stream's events, across reconnections (a stream's method)."""
        path, query = _request(endpoint, args, kwargs)
        types = typing.cast(type[Raw], endpoint.response).events
        last_id: str | None = None
        failures = 0
        while True:
            headers = {"Accept": "text/event-stream"}
            if last_id is not None:
                headers["Last-Event-ID"] = last_id
            request = self.http.build_request("GET", path, params=query, headers=headers)
            error: Exception | None = None
            retry_after = None
            try:
                response = await self._send(request)
                try:
                    if response.status_code != 200:
                        error = _error(response.status_code, await self._read(response))
                        if response.status_code not in RETRIED:
                            raise error
                        retry_after = response.headers.get("retry-after")
                    else:
                        failures = 0
                        events = _EventParser(types, last_id)
                        async for line in self._lines(response):
                            if (event := events.feed(line)) is not None:
                                last_id = event.id
                                yield event
                                if event.event in ("end", "error"):
                                    break
                finally:
                    await self._close(response)
            except httpx.TransportError as exc:
                error = exc
            failures += 1
            wait = self.retry.wait(failures, self.retry.reconnects, retry_after)
            if wait is None:
                if error is not None:
                    raise error
                return
            ended = "ended" if error is None else _named(error)
            log.info("GET %s: %s; reconnecting in %.2f s", path, ended, wait)
            await self._sleep(wait * self.retry.scale)


if typing.TYPE_CHECKING:  # the route methods' types: _client_api.pyi, written by stub()
    from ._client_api import CacheClientMethods, SyncCacheClientMethods

    class _AsyncClient(_Client, CacheClientMethods): ...

    class _SyncClient(_Client, SyncCacheClientMethods): ...

else:  # at run time the methods are _Client's, made below
    _AsyncClient = _SyncClient = _Client


class CacheClient(_AsyncClient):
    """An async client of the API at ``base_url``; close it (``aclose``, or ``async with``)."""

    http: httpx.AsyncClient

    def __init__(self, base_url: str, token: str | None = None, **options: Any) -> None:
        super().__init__(httpx.AsyncClient, base_url, token, **options)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _send(self, request: httpx.Request) -> httpx.Response:
        return await self.http.send(request, stream=True)

    async def _read(self, response: httpx.Response) -> bytes:
        return await response.aread()

    def _lines(self, response: httpx.Response) -> AsyncIterator[str]:
        return response.aiter_lines()

    async def _close(self, response: httpx.Response) -> None:
        await response.aclose()

    async def _sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)

    @staticmethod
    def _finish(work: Any) -> Any:
        return work


class SyncCacheClient(_SyncClient):
    """``CacheClient``'s twin on ``httpx.Client``: the same methods, answering at once (an
    ``iter_`` method or a stream: an iterator); close it (``close``, or ``with``)."""

    http: httpx.Client

    def __init__(self, base_url: str, token: str | None = None, **options: Any) -> None:
        super().__init__(httpx.Client, base_url, token, **options)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def _send(self, request: httpx.Request) -> httpx.Response:
        return self.http.send(request, stream=True)

    async def _read(self, response: httpx.Response) -> bytes:
        return response.read()

    def _lines(self, response: httpx.Response) -> AsyncIterator[str]:
        return _NeverSuspending(response.iter_lines())

    async def _close(self, response: httpx.Response) -> None:
        response.close()

    async def _sleep(self, seconds: float) -> None:
        time.sleep(seconds)  # noqa: ASYNC251  (the sync client's wait: nothing else runs)

    @staticmethod
    def _finish(work: Any) -> Any:
        return _blocking(work)


class _NeverSuspending(AsyncIterator[str]):
    """A blocking iterator as an async one whose ``__anext__`` never suspends."""

    def __init__(self, items: Iterator[str]) -> None:
        self.items = items

    async def __anext__(self) -> str:
        try:
            return next(self.items)
        except StopIteration:
            raise StopAsyncIteration from None


def _blocking(work: Any) -> Any:
    """``work`` of a ``SyncCacheClient`` (a coroutine, or an async generator: then an
    iterator), run on this thread: nothing it awaits suspends."""
    if inspect.isasyncgen(work):
        return _iterate(work)
    return _complete(work)


def _complete(step: Any) -> Any:
    try:
        step.send(None)
    except StopIteration as done:
        return done.value
    step.close()
    raise RuntimeError("a SyncCacheClient awaited something that suspends")


def _iterate(generator: Any) -> Iterator[Any]:
    try:
        while True:
            try:
                item = _complete(generator.__anext__())
            except StopAsyncIteration:
                return
            yield item
    finally:
        _complete(generator.aclose())


class _EventParser:
    """Server-Sent Events from a stream's lines: an ``Event`` at the end of each (a blank
    line), and a ``subscribed`` one from the comment that begins the stream. ``last_id``: the
    id of the stream's last event before this connection (kept until an event sets another)."""

    def __init__(self, types: dict[str, type], last_id: str | None) -> None:
        self.types = types
        self.name = "message"
        self.data: list[str] = []
        self.id = last_id

    def feed(self, line: str) -> Event | None:
        if line.startswith(":"):
            comment = line[1:].strip()
            if comment == "subscribed" or comment.startswith("subscribed after "):
                return Event("subscribed", Subscribed(comment[17:] or None), self.id)
            return None
        if line:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                self.name = value
            elif field == "data":
                self.data.append(value)
            elif field == "id":
                self.id = value
            return None
        name, data = self.name, "\n".join(self.data)  # a blank line ends an event
        self.name, self.data = "message", []
        if not data:
            return None
        return Event(name, msgspec.json.decode(data, type=self.types.get(name, Any)), self.id)


def _named(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def _seconds(retry_after: str | None) -> float | None:
    """A ``Retry-After`` value (seconds, or an HTTP date) in seconds from now."""
    if retry_after is None:
        return None
    if retry_after.strip().isdigit():
        return float(retry_after)
    try:
        when = email.utils.parsedate_to_datetime(retry_after)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


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


def _is_paged(endpoint: Endpoint) -> bool:
    return any(p.name == "cursor" for p in endpoint.params)


def _items_field(endpoint: Endpoint) -> str:
    """The list of a paged route's answer (``items``; a queue's ``head``)."""
    info = typing.cast(msgspec.inspect.StructType, msgspec.inspect.type_info(endpoint.response))
    lists = [f.name for f in info.fields if isinstance(f.type, msgspec.inspect.ListType)]
    if len(lists) != 1 or "next_cursor" not in {f.name for f in info.fields}:
        raise ValueError(f"client: {endpoint.template} pages, but not one list and next_cursor")
    return lists[0]


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


Work = Callable[[_Client, Endpoint, tuple[Any, ...], dict[str, Any]], Any]
_WORK: dict[str, Work] = {"get": _Client._get, "pages": _Client._pages, "events": _Client._events}


class _Method(NamedTuple):
    """One method of both clients: its ``name``, ``endpoint``, what it does (``_WORK``: an
    answer, the items of every page, a stream's events) and its docstring."""

    name: str
    endpoint: Endpoint
    work: Literal["get", "pages", "events"]
    doc: str


def _methods(endpoints: Iterable[Endpoint]) -> Iterator[_Method]:
    """The methods of the clients for these routes: the clients' own, and their stub's. A
    method's docstring: its route and the first paragraph of its handler's."""
    for endpoint in endpoints:
        name, route = endpoint.handler.__name__, f"GET {endpoint.template}"
        summary = " ".join((inspect.getdoc(endpoint.handler) or "").split("\n\n")[0].split())
        if endpoint.is_stream:
            yield _Method(name, endpoint, "events", f"{route} as Events: {summary}")
        else:
            yield _Method(name, endpoint, "get", f"{route}: {summary}")
        if _is_paged(endpoint):
            _items_field(endpoint)
            doc = f"Every item of {route}, page after page: {summary}"
            yield _Method(f"iter_{name.removeprefix('all_')}", endpoint, "pages", doc)


def _add(method: _Method) -> None:
    """A method of both clients that runs its work for its endpoint."""
    name, endpoint, work = method.name, method.endpoint, _WORK[method.work]
    if hasattr(_Client, name):
        raise ValueError(f"client: {name} is taken")

    def call(self: _Client, *args: Any, **kwargs: Any) -> Any:
        return self._finish(work(self, endpoint, args, kwargs))

    call.__name__, call.__qualname__, call.__doc__ = name, f"_Client.{name}", method.doc
    setattr(call, "__signature__", _signature(endpoint))  # noqa: B010  (for help())
    setattr(call, "endpoint", endpoint)  # noqa: B010
    setattr(_Client, name, call)


for _method in _methods(ENDPOINTS):
    _add(_method)


# The stub: the methods' types, for type checkers and editors. ---------------------------------

STUB_COMMAND = "python -m fullon_cache_api.client --stub > fullon_cache_api/_client_api.pyi"
"""What writes ``_client_api.pyi`` again (after a change to the route table)."""
STUB_CLASSES = {"CacheClientMethods": False, "SyncCacheClientMethods": True}
"""The stub's classes: ``CacheClient``'s (async) and ``SyncCacheClient``'s (sync)."""
_PARAM_TYPES: dict[type[Param], str] = {
    Text: "str",  # Digits too: ids are strings, as the cache keys them
    TextList: "list[str]",
    Integer: "int",
    Number: "float",
    Cursor: "str",  # a next_cursor
}
_WIDTH = 100  # the project's line length (ruff)


def stub(endpoints: Iterable[Endpoint] = ENDPOINTS) -> str:
    """The text of ``_client_api.pyi``: two classes, ``CacheClient``'s and ``SyncCacheClient``'s,
    with a typed method for each of ``_methods`` (path parameters positional, query parameters
    keyword-only ``= None``; the answer Struct, ``httpx.Response`` for a raw answer; an iterator
    of items or of ``Event``s), formatted as ruff formats it."""
    methods = list(_methods(endpoints))
    writer = _StubWriter()
    classes = [writer.stub_class(name, sync, methods) for name, sync in STUB_CLASSES.items()]
    head = [
        '"""The types of ``CacheClient``\'s and ``SyncCacheClient``\'s route methods, for type',
        "checkers and editors: the methods are made at import time from the route table",
        "(``fullon_cache_api.client``), so this stub has no .py twin. Written by",
        f"``{STUB_COMMAND}``:",
        'do not edit."""',
        "",
        *writer.imports(),
        "",
        *writer.aliases,
    ]
    body = "\n\n".join("\n".join(lines) for lines in classes)
    return "\n".join(head) + ("\n" if writer.aliases else "") + "\n" + body + "\n"


class _StubWriter:
    """What a stub's methods name: the imports and ``Literal`` aliases they need."""

    def __init__(self) -> None:
        self.modules: dict[str, set[str]] = {"collections.abc": set(), "typing": set()}
        self.where: dict[str, str] = {}  # imported name -> its module
        self.third_party = False
        self.aliases: list[str] = []
        self.literals: dict[tuple[str, ...], str] = {}

    def stub_class(self, name: str, sync: bool, methods: list[_Method]) -> list[str]:
        client = "SyncCacheClient" if sync else "CacheClient"
        lines = [
            f"class {name}:",
            f'    """The methods ``{client}`` makes from the route table."""',
        ]
        for method in methods:
            lines += ["", *self.method(method, sync)]
        return lines

    def method(self, method: _Method, sync: bool) -> list[str]:
        endpoint = method.endpoint
        parameters = ["self"]
        parameters += [
            f"{p.name}: {self.param(endpoint, p)}" for p in endpoint.params if p.where == "path"
        ]
        query = [
            f"{p.name}: {self.param(endpoint, p)} | None = None"
            for p in endpoint.params
            if p.where == "query"
        ]
        if query:
            parameters += ["*", *query]
        if method.work == "get":
            answer = self.answer(endpoint)
        else:
            iterator = "Iterator" if sync else "AsyncIterator"
            self.modules["collections.abc"].add(iterator)
            item = self.name(Event) if method.work == "events" else self.item(endpoint)
            answer = f"{iterator}[{item}]"
        define = "def" if sync or method.work != "get" else "async def"
        lines = _wrapped(f"    {define} {method.name}(", parameters, f") -> {answer}:", "    ")
        return lines + _docstring(method.doc, "        ")

    def param(self, endpoint: Endpoint, param: Param) -> str:
        if isinstance(param, Choice):
            return self.literal(endpoint, param)
        for kind in type(param).__mro__:
            if kind in _PARAM_TYPES:
                return _PARAM_TYPES[kind]
        raise ValueError(
            f"client stub: {endpoint.template}: no type for {type(param).__name__} "
            f"({param.name}); add its kind to client._PARAM_TYPES"
        )

    def literal(self, endpoint: Endpoint, param: Choice) -> str:
        """An alias of ``Literal[<its choices>]``, named after the route and parameter."""
        if param.choices not in self.literals:
            name = "_" + "".join(
                word.capitalize() for word in f"{endpoint.handler.__name__}_{param.name}".split("_")
            )
            self.modules["typing"] |= {"Literal", "TypeAlias"}
            choices = [_quoted(choice) for choice in param.choices]
            self.aliases += _wrapped(f"{name}: TypeAlias = Literal[", choices, "]", "")
            self.literals[param.choices] = name
        return self.literals[param.choices]

    def answer(self, endpoint: Endpoint) -> str:
        if endpoint.is_raw:
            self.third_party = True
            return "httpx.Response"
        return self.name(endpoint.response)

    def item(self, endpoint: Endpoint) -> str:
        """The type of a paged route's items (``list[<it>]``)."""
        listed = typing.get_type_hints(endpoint.response)[_items_field(endpoint)]
        (item,) = typing.get_args(listed)
        return self.name(item)

    def name(self, kind: Any) -> str:
        """How the stub names a class (and imports it)."""
        if not isinstance(kind, type) or "." in kind.__qualname__:
            raise ValueError(f"client stub: cannot name {kind!r}")
        name = kind.__qualname__
        if kind.__module__ == "builtins":
            return name
        if self.where.setdefault(name, kind.__module__) != kind.__module__:
            raise ValueError(f"client stub: {name} of {kind.__module__} and {self.where[name]}")
        self.modules.setdefault(kind.__module__, set()).add(name)
        return name

    def imports(self) -> list[str]:
        """The import block, sorted as ruff (isort) sorts it."""
        standard = [m for m in ("collections.abc", "typing") if self.modules[m]]
        ours = sorted(m for m in self.modules if m not in ("collections.abc", "typing"))
        sections = [
            [line for module in standard for line in self._from(module)],
            ["import httpx"] if self.third_party else [],
            [line for module in ours for line in self._from(module)],
        ]
        return "\n\n".join("\n".join(section) for section in sections if section).split("\n")

    def _from(self, module: str) -> list[str]:
        names = sorted(self.modules[module], key=lambda name: (name.lower(), name))
        return _wrapped(f"from {module} import ", names, "", "", brackets=True)


def _wrapped(
    head: str, items: list[str], tail: str, indent: str, *, brackets: bool = False
) -> list[str]:
    """``head`` + the items, comma-separated + ``tail`` on one line when it fits, else one item a
    line with a trailing comma (which ruff's formatter keeps). ``brackets``: an import's."""
    opening, closing = ("(", ")") if brackets else ("", "")
    line = head + ", ".join(items) + tail
    if len(line) <= _WIDTH:
        return [line]
    return [
        head + opening,
        *(f"{indent}    {item}," for item in items),
        indent + closing + tail,
    ]


def _quoted(text: str) -> str:
    """``text`` between double quotes, as ruff writes a string (refused: one it would escape)."""
    if '"' in text or "\\" in text or not text.isprintable():
        raise ValueError(f"client stub: cannot quote {text!r}")
    return f'"{text}"'


def _docstring(doc: str, indent: str) -> list[str]:
    """A docstring of ``doc``, wrapped within the line length."""
    if '"""' in doc or doc.endswith('"') or "\\" in doc or not doc.isprintable():
        raise ValueError(f"client stub: cannot quote {doc!r}")
    width = _WIDTH - len(indent) - 3  # room for the closing quotes
    lines = textwrap.wrap(f'"""{doc}', width, break_long_words=False, break_on_hyphens=False)
    lines[-1] += '"""'
    return [indent + line for line in lines]


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m fullon_cache_api.client",
        description="The Python client's typing stub, written from the route table.",
    )
    parser.add_argument(
        "--stub",
        action="store_true",
        help=f"print _client_api.pyi (written by: {STUB_COMMAND})",
    )
    if not parser.parse_args(argv).stub:
        parser.error("nothing to do: --stub prints the stub")
    sys.stdout.write(stub())


if __name__ == "__main__":  # the package's module writes it (its Event, not __main__'s)
    from fullon_cache_api.client import _main as main

    main()
