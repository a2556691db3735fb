"""Files the app serves from the installed packages (the docs page's and the live page's): read
once, on first use and off the event loop, each with its media type and a strong ETag."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, NamedTuple

import anyio.to_thread
from starlette.responses import Response

__all__ = ["NOT_MODIFIED", "File", "Files", "file_etag"]

NOT_MODIFIED: dict[str, dict[str, Any]] = {
    "304": {"description": "Not modified (`If-None-Match` matched)."}
}
"""``Raw.other_responses`` of a route whose answer carries its own ETag."""


def file_etag(body: bytes) -> str:
    """A strong validator of the bytes themselves."""
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


class File(NamedTuple):
    body: bytes
    media_type: str
    etag: str

    def response(self, cache_control: str) -> Response:
        """The file as an answer, with its ETag (the pipeline answers 304 when it matches)."""
        headers = {"Cache-Control": cache_control, "ETag": self.etag}
        return Response(self.body, 200, headers, self.media_type)


class Files:
    """A fixed set of files by name; ``read`` returns ``{name: (body, media type)}``."""

    def __init__(self, read: Callable[[], dict[str, tuple[bytes, str]]]) -> None:
        self._read = read
        self._loaded: dict[str, File] = {}

    async def get(self, name: str) -> File:
        if not self._loaded:
            read = await anyio.to_thread.run_sync(self._read)
            self._loaded = {n: File(body, mt, file_etag(body)) for n, (body, mt) in read.items()}
        return self._loaded[name]
