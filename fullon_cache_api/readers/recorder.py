"""What an answer is built from, for its ETag: a ``Recorder`` per request, fed by the
``Source`` with a digest of every read (``read_digest``)."""

from __future__ import annotations

import hashlib
from typing import Any

import msgspec

from ..version import __version__
from .base import Oversized

__all__ = ["Recorder", "read_digest"]


class Recorder:
    """What one answer is built from, for its ETag: a digest of every command a request sends
    with its reply, every choice the clock made (e.g. a tick kept as fresh), and the version
    of the code that shapes answers. Hashed as it goes, ``FLUSH`` parts at a time: a long
    walk's tag is not one long hash at its end. A short recording's digest is remembered
    (``_SHORT``): answers repeat, and so does what they are built from."""

    __slots__ = ("_hash", "_parts")

    FLUSH = 8192

    def __init__(self) -> None:
        self._hash: Any = None  # hashlib's, once a part was flushed
        self._parts: list[bytes] = []

    def add(self, part: bytes) -> None:
        """A part: a read's ``read_digest``, or what another recorder recorded (an answer
        shared by identical requests)."""
        self._parts.append(part)
        if len(self._parts) >= self.FLUSH:
            self._flush()

    def chose(self, choice: bool) -> None:
        self.add(b"\x01" if choice else b"\x00")

    def digest(self) -> bytes:
        if self._hash is None:
            recorded = b"".join(self._parts)
            if len(recorded) <= _SHORT_BYTES:
                found = _SHORT.get(recorded)
                if found is None:
                    if len(_SHORT) >= _SHORT_KEPT:
                        _SHORT.clear()
                    found = _SHORT[recorded] = hashlib.sha256(_VERSION + recorded).digest()
                return found
        self._flush()
        return self._hash.digest()  # type: ignore[no-any-return]

    def _flush(self) -> None:
        if self._hash is None:
            self._hash = hashlib.sha256(_VERSION)
        self._hash.update(b"".join(self._parts))
        self._parts.clear()


_SHORT: dict[bytes, bytes] = {}
"""Digests of short recordings (a few reads), by what was recorded."""
_SHORT_BYTES, _SHORT_KEPT = 256, 10_000


def read_digest(command: tuple[Any, ...], reply: Any) -> bytes:
    """What a recorder records of one read: a digest of the command and its reply."""
    return hashlib.sha256(_record((command, reply))).digest()


def _size_hook(value: Any) -> Any:
    if isinstance(value, Oversized):  # its size, not its (empty) content
        return f"oversized {value.size}"
    return repr(value)


_record = msgspec.msgpack.Encoder(enc_hook=_size_hook).encode
_VERSION = __version__.encode()
