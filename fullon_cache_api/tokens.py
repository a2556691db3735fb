"""The tokens file (``FULLON_CACHE_API_TOKENS_FILE``): named bearer tokens, each with its scopes,
its allow-lists and its limits, kept as the sha256 digest of the token (never the token).

One ``[[tokens]]`` table per token::

    [[tokens]]
    name = "owner11"
    sha256 = "9f86d0..."            # python -m fullon_cache_api token new owner11 --scope accounts
    scopes = ["accounts", "orders"]
    ex_ids = ["11"]                 # optional allow-lists: ex_ids, uids, bot_ids
    rate = 20                       # optional limits: requests per second, burst, open streams
    burst = 40
    streams = 4

A presented token is hashed and its digest looked up, so neither the file nor a comparison
holds the token. ``FULLON_CACHE_API_TOKENS`` (plain tokens) stay valid: each is a token of
scope ``*`` named ``token1``, ``token2``... The file is read again when it changes
(``TokenFile.current``, at most once every ``CHECK_S`` seconds); a bad file keeps the last
good one, logged.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
import time
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "SCOPES",
    "Token",
    "TokenFile",
    "TokenTable",
    "TokensError",
    "digest",
    "new_token",
    "parse",
]

log = logging.getLogger("fullon.cache_api.auth")

SCOPES = ("market", "accounts", "orders", "trades:user", "bots", "processes", "service", "*")
"""The families of routes a token may read (``*``: all of them)."""
ALLOW_LISTS = ("ex_ids", "uids", "bot_ids")
LIMITS = {"rate": float, "burst": int, "streams": int}
CHECK_S = 1.0
"""Seconds between two looks at the file's modification time."""
NAME = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_HEX = re.compile(r"[0-9a-f]{64}")


class TokensError(ValueError):
    """The tokens file cannot be used; the message says where and why (never a token)."""


@dataclass(frozen=True)
class Token:
    """One named token: its digest, what it may read and its limits (None: the defaults)."""

    name: str
    sha256: bytes
    scopes: frozenset[str]
    ex_ids: frozenset[str] | None = None
    uids: frozenset[str] | None = None
    bot_ids: frozenset[str] | None = None
    rate: float | None = None
    burst: int | None = None
    streams: int | None = None

    def reads(self, family: str | None) -> bool:
        """Whether its scopes cover a route of ``family`` (None: a route of no family, which
        only ``*`` reads)."""
        if "*" in self.scopes:
            return True
        return family is not None and (family == "open" or family in self.scopes)

    def admits(self, ex_id: str | None, uid: str | None, bot_id: str | None) -> bool:
        """Whether the account ids a request reads by are on its allow-lists."""
        for value, allowed in ((ex_id, self.ex_ids), (uid, self.uids), (bot_id, self.bot_ids)):
            if value is not None and allowed is not None and value not in allowed:
                return False
        return True

    @property
    def limited(self) -> bool:
        """Whether it has an allow-list (its listings show only allowed items)."""
        return self.ex_ids is not None or self.uids is not None or self.bot_ids is not None


def digest(token: str) -> str:
    """The hex sha256 digest of a token, as the file holds it."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    """A strong random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


class TokenTable:
    """Tokens by digest: a presented token is hashed, then looked up."""

    def __init__(self, tokens: Iterable[Token]) -> None:
        self.tokens = tuple(tokens)
        self.by_digest = {token.sha256: token for token in self.tokens}

    def find(self, presented: str) -> Token | None:
        given = hashlib.sha256(presented.encode()).digest()
        token = self.by_digest.get(given)
        if token is None or not hmac.compare_digest(given, token.sha256):
            return None
        return token


def plain(tokens: Iterable[str]) -> list[Token]:
    """``FULLON_CACHE_API_TOKENS``: tokens of scope ``*``, named ``token1``, ``token2``..."""
    return [
        Token(f"token{i}", hashlib.sha256(t.encode()).digest(), frozenset({"*"}))
        for i, t in enumerate(tokens, 1)
    ]


def parse(text: str, where: str = "tokens file") -> list[Token]:
    """The tokens of a file's text; raises ``TokensError`` naming the entry and the field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TokensError(f"{where}: not valid TOML: {exc}") from None
    entries = data.get("tokens")
    unknown = sorted(set(data) - {"tokens"})
    if unknown:
        raise TokensError(f"{where}: unknown top-level key {unknown[0]!r} (only [[tokens]])")
    if not isinstance(entries, list) or not entries:
        raise TokensError(f"{where}: no [[tokens]] table")
    tokens = [_token(entry, f"{where}: tokens[{i}]") for i, entry in enumerate(entries)]
    names = [t.name for t in tokens]
    for name in names:
        if names.count(name) > 1:
            raise TokensError(f"{where}: the name {name!r} is used twice")
    digests = [t.sha256 for t in tokens]
    if len(set(digests)) != len(digests):
        raise TokensError(f"{where}: a sha256 is used twice")
    return tokens


def _token(entry: Any, where: str) -> Token:
    if not isinstance(entry, dict):
        raise TokensError(f"{where}: not a table")
    known = {"name", "sha256", "scopes", *ALLOW_LISTS, *LIMITS}
    for key in entry:
        if key not in known:
            raise TokensError(f"{where}: unknown key {key!r}")
    name = entry.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise TokensError(f"{where}: name must be 1 to 64 of A-Z a-z 0-9 _ . : -")
    where = f"{where} ({name})"
    hexdigest = entry.get("sha256")
    if not isinstance(hexdigest, str) or not _HEX.fullmatch(hexdigest.lower()):
        raise TokensError(f"{where}: sha256 must be 64 hex digits (the token's digest)")
    scopes = entry.get("scopes")
    if not isinstance(scopes, list) or not scopes:
        raise TokensError(f"{where}: scopes must be a non-empty list")
    for scope in scopes:
        if scope not in SCOPES:
            raise TokensError(f"{where}: unknown scope {scope!r} (one of {', '.join(SCOPES)})")
    lists: dict[str, frozenset[str]] = {}
    for key in ALLOW_LISTS:
        if key in entry:
            values = entry[key]
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise TokensError(f"{where}: {key} must be a list of strings")
            lists[key] = frozenset(values)
    limits: dict[str, Any] = {}
    for key, kind in LIMITS.items():
        if key in entry:
            value = entry[key]
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or value <= 0 or value == float("inf") or (kind is int and value % 1):
                raise TokensError(f"{where}: {key} must be a positive {kind.__name__}")
            limits[key] = kind(value)
    return Token(
        name,
        bytes.fromhex(hexdigest),
        frozenset(scopes),
        lists.get("ex_ids"),
        lists.get("uids"),
        lists.get("bot_ids"),
        limits.get("rate"),
        limits.get("burst"),
        limits.get("streams"),
    )


def load(path: str) -> list[Token]:
    try:
        with open(path, "rb") as file:
            text = file.read().decode()
    except (OSError, UnicodeDecodeError) as exc:
        raise TokensError(f"{path}: cannot read: {exc}") from None
    return parse(text, path)


class TokenFile:
    """The tokens of a file (plus the plain ones), read again when the file changes: looked at
    no more than once every ``CHECK_S`` seconds, on use. A file that no longer reads keeps the
    last good tokens, logged once per change."""

    def __init__(self, path: str | None, extra: Iterable[Token] = ()) -> None:
        self.path = path
        self.extra = tuple(extra)
        self._seen: tuple[int, int, int] | None = None
        self._checked = 0.0
        self.table = TokenTable(self.extra)
        if path is not None:
            self._seen = self._stat()
            self.table = TokenTable([*load(path), *self.extra])  # at start: a bad file stops it

    def _stat(self) -> tuple[int, int, int] | None:
        assert self.path is not None
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def current(self) -> TokenTable:
        if self.path is None:
            return self.table
        now = time.monotonic()
        if now - self._checked < CHECK_S:
            return self.table
        self._checked = now
        seen = self._stat()
        if seen == self._seen:
            return self.table
        self._seen = seen
        try:
            tokens = load(self.path)
        except TokensError as exc:
            log.error("tokens file not reloaded, the last good one stays: %s", exc)
            return self.table
        self.table = TokenTable([*tokens, *self.extra])
        log.info("tokens file reloaded: %d tokens", len(self.table.tokens))
        return self.table
