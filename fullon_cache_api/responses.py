"""The only place that encodes JSON: msgspec Structs in, Starlette responses out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

__all__ = ["JSON", "EventStream", "respond", "sse_comment", "sse_event"]

JSON = "application/json"
_encode = msgspec.json.Encoder().encode
# Sent with every answer, errors included.
BASE_HEADERS = {"X-Content-Type-Options": "nosniff"}


def respond(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Encode ``body`` (a Struct; non-finite floats become null) as a JSON response."""
    all_headers = BASE_HEADERS if headers is None else {**BASE_HEADERS, **headers}
    return Response(_encode(body), status, all_headers, JSON)


def sse_event(event: str, body: Any) -> bytes:
    """One Server-Sent Event whose data is ``body`` as JSON."""
    return b"event: " + event.encode() + b"\ndata: " + _encode(body) + b"\n\n"


def sse_comment(comment: str) -> bytes:
    """An SSE comment line (clients ignore it; it keeps proxies from closing the stream)."""
    return b": " + comment.encode() + b"\n\n"


class EventStream(StreamingResponse):
    """A ``text/event-stream`` response that always runs ``on_close`` when it ends: normally,
    on client disconnect, or cancelled before it started."""

    media_type = "text/event-stream"

    def __init__(
        self,
        content: AsyncIterator[bytes],
        on_close: Callable[[], Awaitable[None]],
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(content, headers={**BASE_HEADERS, **(headers or {})})
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.on_close()
