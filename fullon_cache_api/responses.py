"""The only place that encodes JSON, and what the request pipeline answers with: a ``Reply``
whose headers are built once, when it is sent."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import Any

import anyio
import msgspec
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .errors import ApiError

__all__ = [
    "BASE_HEADERS",
    "JSON",
    "EventStream",
    "Reply",
    "encode",
    "etag",
    "etag_matches",
    "sse_comment",
    "sse_data",
    "sse_event",
]

JSON = "application/json"
encode = msgspec.json.Encoder().encode
BASE_HEADERS = {"X-Content-Type-Options": "nosniff"}
"""Sent with every answer, errors included."""

_BASE_RAW = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in BASE_HEADERS.items()]
_JSON_RAW = (b"content-type", JSON.encode())
_KEPT_ON_304 = ("cache-control",)


class Reply:
    """An answer on its way out: a JSON body with its extra headers, or a ready ``Response``
    (text, files, streams). Layers add headers; ``send`` writes them once."""

    __slots__ = ("body", "headers", "response", "status")

    def __init__(
        self,
        status: int,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        response: Response | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.headers = {} if headers is None else headers
        self.response = response

    @classmethod
    def json(cls, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, encode(body), headers)

    @classmethod
    def error(cls, error: ApiError, body: msgspec.Struct | None = None) -> Reply:
        """The error's answer: ``ErrorOut``, or ``body`` (a route's own failure shape)."""
        return cls.json(body or error.error_out(), error.status, dict(error.headers or {}))

    @classmethod
    def raw(cls, response: Response) -> Reply:
        return cls(response.status_code, response=response)

    def copy(self) -> Reply:
        """A copy whose headers can be changed apart (a JSON answer shared by requests)."""
        return Reply(self.status, self.body, dict(self.headers), self.response)

    def not_modified(self, tag: str) -> Reply:
        """This answer as a 304: no body, only the headers a cache needs."""
        headers = self.headers if self.response is None else self.response.headers
        kept = {k: v for k, v in headers.items() if k.lower() in _KEPT_ON_304}
        return Reply(304, b"", {**kept, "ETag": tag})

    async def send(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.response is not None:
            for name, value in {**BASE_HEADERS, **self.headers}.items():
                self.response.headers[name] = value
            await self.response(scope, receive, send)
            return
        body = self.body or b""
        headers = [*_BASE_RAW]
        if self.status != 304:
            headers += [(b"content-length", b"%d" % len(body)), _JSON_RAW]
        headers += [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.headers.items()
        ]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        head = scope["method"] == "HEAD" or self.status == 304
        await send({"type": "http.response.body", "body": b"" if head else body})


def etag(digest: bytes) -> str:
    """A weak validator of what an answer is built from (see ``readers.recorder.Recorder``)."""
    return f'W/"{digest.hex()[:24]}"'


def etag_matches(header: str | None, tag: str) -> bool:
    """Whether an ``If-None-Match`` header holds ``tag`` (weak comparison) or ``*``."""
    if header is None:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return tag.removeprefix("W/") in tags or "*" in tags


def sse_event(event: str, body: Any, event_id: int | None = None) -> bytes:
    """One Server-Sent Event whose data is ``body`` as JSON, with its ``id`` when given."""
    return sse_data(event, encode(body), event_id)


def sse_data(event: str, data: bytes, event_id: int | None = None) -> bytes:
    """One Server-Sent Event whose data is ``data`` (JSON, encoded once for every stream that
    sends it), with its ``id`` when given."""
    head = b"event: " + event.encode() + (b"" if event_id is None else b"\nid: %d" % event_id)
    return head + b"\ndata: " + data + b"\n\n"


def sse_comment(comment: str) -> bytes:
    """An SSE comment line (clients ignore it; it keeps proxies from closing the stream)."""
    return b": " + comment.encode() + b"\n\n"


class EventStream(Response):
    """A ``text/event-stream`` answer: the chunks of ``events`` as they come, until they end or
    the client disconnects (watched for whatever the server's ASGI version), then ``on_close``,
    on every path."""

    media_type = "text/event-stream"

    def __init__(
        self,
        events: AsyncGenerator[bytes, None],
        on_close: Callable[[], None],
        headers: dict[str, str],
    ) -> None:
        self.status_code = 200
        self.background = None
        self.events = events
        self.on_close = on_close
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async with anyio.create_task_group() as group:
                group.start_soon(_cancel_on_disconnect, receive, group.cancel_scope)
                async with aclosing(self.events) as events:
                    async for chunk in events:
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
                group.cancel_scope.cancel()
        except* OSError:  # the client went away while we wrote (ASGI 2.4 servers), or does not
            pass  # read (a send timeout); raised bare or by the task group in a group
        finally:
            self.on_close()


async def _cancel_on_disconnect(receive: Receive, scope: anyio.CancelScope) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    scope.cancel()
