"""The only place that encodes JSON: msgspec Structs in, Starlette responses out."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response

__all__ = ["JSON", "respond"]

JSON = "application/json"
_encode = msgspec.json.Encoder().encode
# Sent with every answer, errors included.
BASE_HEADERS = {"X-Content-Type-Options": "nosniff"}


def respond(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Encode ``body`` (a Struct; non-finite floats become null) as a JSON response."""
    all_headers = BASE_HEADERS if headers is None else {**BASE_HEADERS, **headers}
    return Response(_encode(body), status, all_headers, JSON)
