"""Correlated logs: one id per request, on every log record written while it is served.

The id is the client's ``X-Request-ID`` when it is 1 to 128 visible ASCII characters (nothing a
log line could be split or forged with), else the trace id of a valid W3C ``traceparent``, else
a new random one. ``layers.RequestId`` sets it at the start of each request and echoes it in the
answer's ``X-Request-ID``. It is held in a contextvar with the task that serves the request:
what that task awaits sees it, but a task it starts does not (a stream hub or index walker
begun by the first request that needs it serves every later one, and its lines are no one
request's). ``RequestIdFilter`` puts it on log records as ``record.request_id`` (``-`` outside a
request); ``JsonFormatter`` writes one JSON object per line.

A leaf: it imports nothing of the package.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections.abc import Iterable
from contextvars import ContextVar, Token

__all__ = [
    "JsonFormatter",
    "RequestIdFilter",
    "current_request_id",
    "request_id_of",
    "reset_request_id",
    "set_request_id",
]

_REQUEST: ContextVar[tuple[asyncio.Task[object] | None, str] | None] = ContextVar(
    "fullon_cache_api_request", default=None
)
"""The task serving a request, and the request's id."""

MAX_LENGTH = 128
_GIVEN = re.compile(rb"[\x21-\x7e]{1,%d}" % MAX_LENGTH)  # visible ASCII: no space, no control
_TRACEPARENT = re.compile(rb"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
_NO_TRACE = b"0" * 32


def request_id_of(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The request's id from its ASGI headers (names in lower case)."""
    given = trace = None
    for name, value in headers:
        if name == b"x-request-id":
            given = value.strip()
        elif name == b"traceparent":
            trace = value.strip()
    if given is not None and _GIVEN.fullmatch(given):
        return given.decode("ascii")
    match = None if trace is None else _TRACEPARENT.fullmatch(trace)
    if match is not None and match.group(1) != _NO_TRACE:
        return match.group(1).decode("ascii")
    return os.urandom(16).hex()


def set_request_id(request_id: str) -> Token[tuple[asyncio.Task[object] | None, str] | None]:
    """``request_id`` for the current task, until ``reset_request_id(token)``."""
    return _REQUEST.set((_task(), request_id))


def reset_request_id(token: Token[tuple[asyncio.Task[object] | None, str] | None]) -> None:
    _REQUEST.reset(token)


def current_request_id() -> str | None:
    """The id of the request the current task serves, or None."""
    request = _REQUEST.get()
    if request is None or request[0] is not _task():
        return None
    return request[1]


def _task() -> asyncio.Task[object] | None:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no event loop in this thread
        return None


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id``: the id of the request being served, else ``-``. Attach it to
    a handler (a handler's filters see the records of every logger below it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id() or "-"
        return True


ACCESS_FIELDS = ("route", "status", "duration")
"""What an access record carries besides its message (``extra``, set by the server's logger)."""


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (RFC 3339 UTC), ``level``, ``logger``, ``message``,
    ``request_id`` (null outside a request), and on access lines ``route``, ``status``,
    ``duration`` (seconds); ``exception`` when there is a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        request_id = getattr(record, "request_id", None) or current_request_id()
        line: dict[str, object] = {
            "time": f"{seconds}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": None if request_id == "-" else request_id,
        }
        for field in ACCESS_FIELDS:
            if hasattr(record, field):
                line[field] = getattr(record, field)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, default=str)  # ASCII: no character can break the line
