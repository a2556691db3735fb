"""Settings: each declared once, read from the environment once and validated there.

A setting is one field of ``Settings`` (the app's; a host that mounts the API reads them too) or
of ``ServerSettings`` (the standalone server's, ``python -m fullon_cache_api``, each also a
command-line flag), declared by ``setting(default, kind, help)``: its default, its type and range
or choices (its ``Kind``), its help text and its environment variable (``FULLON_CACHE_API_``
and its name in capitals, unless it names others). ``from_env``, the checks of values given
directly, the server's flags and ``--help``, and the test of the README's configuration tables
(tests/test_settings.py) all read that declaration, through ``declared()``: a new setting is
one new field, and the test then asks for its README row.

Redis is addressed the way fullon_cache addresses it (``REDIS_HOST``, ``REDIS_PORT``,
``REDIS_DB``, ``REDIS_PASSWORD``), each falling back to master_api's ``CACHE_*`` names, or by one
``REDIS_URL`` (which may point at a replica). With ``FULLON_CACHE_API_SENTINELS`` set, Redis
Sentinel finds the server instead, and the URL gives only the credentials, the db and TLS.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, Self, TypeVar, cast, get_args
from urllib.parse import parse_qs, quote, urlsplit

from redis.asyncio.connection import parse_url

__all__ = ["ServerSettings", "Setting", "Settings", "SettingsError", "declared"]

PREFIX = "FULLON_CACHE_API_"
T = TypeVar("T")
S = TypeVar("S", bound=str)


class SettingsError(ValueError):
    """A setting has an invalid value; the message names the variable."""


# Kinds: what a setting's values are --------------------------------------------------------------


class Kind(Generic[T]):
    """What a setting's values are: how a variable's text reads as one (``parse``), which values
    are allowed (``allows``, said by ``rule``), and how the docs write one (``show``)."""

    name: ClassVar[str] = "value"
    """What a value is called in "... is not a valid int" (and in argparse's "invalid int
    value")."""
    strip = True
    """Whether a variable's text is read without the white space around it."""
    blank_is_unset: ClassVar[bool] = True
    """Whether a variable set to nothing (once stripped) counts as unset."""

    @property
    def rule(self) -> str:
        """What an allowed value is, as said after "must be"."""
        return f"a valid {self.name}"

    def parse(self, text: str) -> T:
        """The value ``text`` says; ValueError when it says none."""
        raise NotImplementedError

    def allows(self, value: T) -> bool:
        return True

    def check(self, value: T, label: str) -> None:
        """Raise SettingsError, naming ``label``, unless ``value`` is allowed."""
        if not self.allows(value):
            raise SettingsError(f"{label} must be {self.rule}, got {value!r}")

    def read(self, text: str, label: str) -> T:
        """The value of a variable (``label``) set to ``text``, checked."""
        try:
            value = self.parse(text)
        except ValueError:
            raise SettingsError(f"{label}={text!r} is not a valid {self.name}") from None
        self.check(value, label)
        return value

    def show(self, value: T) -> str:
        """``value`` as the docs write it."""
        return str(value)


@dataclass(frozen=True)
class IntRange(Kind[int]):
    """A whole number from ``low`` to ``high``."""

    low: int
    high: int
    name: ClassVar[str] = "int"

    @property
    def rule(self) -> str:
        return f"an integer from {self.low} to {self.high}"

    def parse(self, text: str) -> int:
        return int(text)

    def allows(self, value: int) -> bool:
        return isinstance(value, int) and self.low <= value <= self.high


class Seconds(Kind[float]):
    """A duration: a positive, finite number of seconds."""

    name: ClassVar[str] = "float"

    @property
    def rule(self) -> str:
        return "a positive number of seconds"

    def parse(self, text: str) -> float:
        return float(text)

    def allows(self, value: float) -> bool:
        return 0 < value < math.inf

    def show(self, value: float) -> str:
        return f"{value:g}"


class Switch(Kind[bool]):
    """On or off: ``1``, ``true``, ``yes``, ``on`` or ``0``, ``false``, ``no``, ``off``."""

    name: ClassVar[str] = "boolean"
    ON: ClassVar[tuple[str, ...]] = ("1", "true", "yes", "on")
    OFF: ClassVar[tuple[str, ...]] = ("0", "false", "no", "off")

    @property
    def rule(self) -> str:
        return "true or false"

    def parse(self, text: str) -> bool:
        word = text.lower()
        if word not in self.ON + self.OFF:
            raise ValueError(text)
        return word in self.ON

    def read(self, text: str, label: str) -> bool:
        try:
            return self.parse(text)
        except ValueError:
            raise SettingsError(f"{label}={text.lower()!r} must be {self.rule}") from None

    def show(self, value: bool) -> str:
        return "true" if value else "false"


@dataclass(frozen=True)
class OneOf(Kind[S]):
    """One of ``values`` (read in lower case)."""

    values: tuple[S, ...]
    name: ClassVar[str] = "choice"

    @property
    def rule(self) -> str:
        return " or ".join(filter(None, (", ".join(self.values[:-1]), self.values[-1])))

    def parse(self, text: str) -> S:
        return cast(S, text.lower())

    def allows(self, value: S) -> bool:
        return value in self.values


@dataclass(frozen=True)
class PlainText(Kind[str]):
    """Text; ``strip``: read without the white space around it; ``blank``: may be empty."""

    strip: bool = True
    blank: bool = False
    name: ClassVar[str] = "text"

    @property
    def rule(self) -> str:
        return "text" if self.blank else "text that is not blank"

    def parse(self, text: str) -> str:
        return text

    def allows(self, value: str) -> bool:
        return self.blank or bool(value.strip())


class RedisUrl(Kind[str]):
    """A Redis URL the API can use (see ``_check_url``), read as it is written."""

    name: ClassVar[str] = "Redis URL"
    strip = False

    def parse(self, text: str) -> str:
        return text

    def check(self, value: str, label: str) -> None:
        _check_url(value, label)


class Tokens(Kind[tuple[str, ...]]):
    """Comma-separated bearer tokens. Set but yielding none (``""``, ``","``, an empty shell
    expansion) is an error, never "auth off": unset the variable for that."""

    name: ClassVar[str] = "token list"
    blank_is_unset: ClassVar[bool] = False

    def parse(self, text: str) -> tuple[str, ...]:
        return tuple(token.strip() for token in text.split(",") if token.strip())

    def read(self, text: str, label: str) -> tuple[str, ...]:
        tokens = self.parse(text)
        if not tokens:
            raise SettingsError(f"{label} is set but holds no token (unset it to run without auth)")
        self.check(tokens, label)
        return tokens

    def check(self, value: tuple[str, ...], label: str) -> None:
        _check_tokens(value, label)


class TokensFile(Kind[str]):
    """The path of a tokens file (see ``tokens.py``), read here once when it comes from the
    environment, so that a bad file stops the start."""

    name: ClassVar[str] = "path"

    def parse(self, text: str) -> str:
        return text

    def read(self, text: str, label: str) -> str:
        from .tokens import TokensError, load  # a leaf too; imported where it is needed

        try:
            load(text)
        except TokensError as exc:
            raise SettingsError(f"{label}: {exc}") from None
        return text


class Addresses(Kind[tuple[tuple[str, int], ...]]):
    """Comma-separated ``host:port`` (IPv6 as ``[address]:port``)."""

    name: ClassVar[str] = "address list"

    def parse(self, text: str) -> tuple[tuple[str, int], ...]:
        return self.read(text, self.name)  # SettingsError is a ValueError

    def read(self, text: str, label: str) -> tuple[tuple[str, int], ...]:
        return tuple(_host_port(item.strip(), label) for item in text.split(",") if item.strip())

    def check(self, value: tuple[tuple[str, int], ...], label: str) -> None:
        for pair in value:
            host, port = pair
            if not host or not isinstance(port, int) or not 1 <= port <= 65535:
                raise SettingsError(f"{label} must hold (host, port) pairs, got {pair!r}")


# The declaration -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Setting:
    """One setting as declared by ``setting()`` (``declared()`` gives a class's, named)."""

    name: str
    kind: Kind[Any]
    default: Any
    help: str
    env: tuple[str, ...] | None = None
    """Its environment variables, the first one set read (the others are fallbacks); None:
    ``FULLON_CACHE_API_`` and the name in capitals; ``()``: none."""
    parts: tuple[Setting, ...] = ()
    """Settings of which, when its own variables are unset, ``compose`` makes its value."""
    compose: Callable[[Mapping[str, Any]], Any] | None = None

    @property
    def variables(self) -> tuple[str, ...]:
        return (PREFIX + self.name.upper(),) if self.env is None else self.env

    @property
    def label(self) -> str:
        """What names it where it is read from the environment (``check_together``'s errors):
        its first variable, or its name when it has none."""
        return self.variables[0] if self.variables else self.name

    @property
    def option(self) -> str:
        """Its command-line flag (a server setting's)."""
        return "--" + self.name.replace("_", "-")

    @property
    def shown_default(self) -> str:
        """Its default as the docs write it: empty when it is unset (or made of its parts)."""
        if self.parts or self.default is None or self.default in ((), ""):
            return ""
        return self.kind.show(self.default)

    def from_env(self, env: Mapping[str, str]) -> Any:
        """Its value in ``env``, checked, or its default (or its parts') when unset. The first of
        its variables that is set gives it; an error names that variable (and the setting's own, if
        it is a fallback)."""
        for var in self.variables:
            text = env.get(var)
            if text is not None and self.kind.strip:
                text = text.strip()
            if text is None or (not text and self.kind.blank_is_unset):
                continue
            label = var if var == self.label else f"{var} (fallback of {self.label})"
            return self.kind.read(text, label)
        if self.compose is not None:
            return self.compose({part.name: part.from_env(env) for part in self.parts})
        return self.default


def setting(default: T, kind: Kind[Any], help: str, *, secret: bool = False, **more: Any) -> T:
    """A settings field: its ``default``, ``kind`` and ``help`` text, and in ``more`` the rest of
    its ``Setting`` (other ``env`` variables than its own name's; the ``parts`` it is made of);
    ``secret`` keeps its value out of ``repr``. (The dataclass field, typed as its value for the
    checkers.)"""
    entry = Setting(name="", kind=kind, default=default, help=help, **more)
    return dataclasses.field(default=default, repr=not secret, metadata={"setting": entry})


def declared(cls: type) -> tuple[Setting, ...]:
    """The settings ``cls`` (``Settings`` or ``ServerSettings``) declares, in their order."""
    return tuple(
        dataclasses.replace(field.metadata["setting"], name=field.name)
        for field in dataclasses.fields(cls)
    )


class FromEnv:
    """What ``Settings`` and ``ServerSettings`` share: their fields read from the environment,
    and checked however they are given, each by its declared kind."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        """Build settings from ``env`` (default ``os.environ``); raise SettingsError naming the
        variable whose value is invalid."""
        env = os.environ if env is None else env
        settings = declared(cls)
        values = {each.name: each.from_env(env) for each in settings}
        cls.check_together(values, {each.name: each.label for each in settings})
        return cls(**values)

    def __post_init__(self) -> None:
        """Check the values given (each by its kind, under its field's name)."""
        values: dict[str, Any] = {}
        for each in declared(type(self)):
            values[each.name] = value = getattr(self, each.name)
            if value is not None:
                each.kind.check(value, each.name)
        self.check_together(values, {name: name for name in values})

    @classmethod
    def check_together(cls, values: Mapping[str, Any], labels: Mapping[str, str]) -> None:
        """Rules that bind several settings, naming each by its ``labels`` entry."""


def _redis_url(parts: Mapping[str, Any]) -> str:
    """The URL that ``REDIS_HOST``, ``REDIS_PORT``... make (``REDIS_URL`` unset)."""
    user, password = parts["username"], parts["password"]
    auth = f"{quote(user, safe='')}:{quote(password, safe='')}@" if user or password else ""
    return f"redis://{auth}{parts['host']}:{parts['port']}/{parts['db']}"


def _redis_part(name: str, kind: Kind[Any], default: Any, help: str) -> Setting:
    return Setting(
        name=name,
        env=("REDIS_" + name.upper(), "CACHE_" + name.upper()),
        kind=kind,
        default=default,
        help=help,
    )


REDIS_PARTS = (
    _redis_part("host", PlainText(), "localhost", "Redis host."),
    _redis_part("port", IntRange(1, 65535), 6379, "Redis port."),
    _redis_part("db", IntRange(0, 10_000), 0, "Redis database number."),
    _redis_part(
        "username", PlainText(strip=False, blank=True), "", "ACL user (the read-only user)."
    ),
    _redis_part("password", PlainText(strip=False, blank=True), "", "Password; empty: no auth."),
)
"""What addresses Redis when ``REDIS_URL`` is unset: fullon_cache's ``REDIS_*`` names, each
falling back to master_api's ``CACHE_*``."""

ReadFrom = Literal["replica", "master"]
TickerFeed = Literal["tracked", "published"]


@dataclass(frozen=True, kw_only=True)
class Settings(FromEnv):
    """The app's settings (``create_app(settings)``; ``Settings.from_env()`` by default)."""

    redis_url: str = setting(
        _redis_url({part.name: part.default for part in REDIS_PARTS}),
        RedisUrl(),
        "redis://[user:password@]host:port/db, rediss://... or unix://...; wins over the "
        "REDIS_HOST... variables, whose values make it when it is unset.",
        env=("REDIS_URL",),
        parts=REDIS_PARTS,
        compose=_redis_url,
        secret=True,
    )
    connect_timeout: float = setting(
        1.0, Seconds(), "Seconds to open a Redis connection; an outage is answered within this."
    )
    command_timeout: float = setting(
        0.5, Seconds(), "Seconds one request may wait on Redis before it is answered 504."
    )
    pool_size: int = setting(
        50,
        IntRange(1, 100_000),
        "Most Redis connections per process; more concurrent requests wait for one.",
    )
    pool_timeout: float = setting(
        2.0, Seconds(), "Seconds a request waits for a free pooled connection before 503."
    )
    ticker_max_age: float = setting(
        60.0,
        Seconds(),
        "Default max_age (seconds) of /tickers/{exchange}/active and /tickers/health.",
    )
    max_streams: int = setting(
        100,
        IntRange(1, 100_000),
        "Most concurrent /stream connections per process; more are answered 503.",
    )
    stream_heartbeat: float = setting(
        15.0,
        Seconds(),
        "Seconds between SSE heartbeat comments on an idle stream (keeps proxies open).",
    )
    stream_queue: int = setting(
        1000,
        IntRange(1, 100_000),
        "Updates buffered in order per stream for a slow client; beyond it the stream gets only "
        "the newest update of each symbol, the others counted as dropped.",
    )
    stream_queue_bytes: int = setting(
        4_194_304,
        IntRange(65536, 1 << 30),
        "Bytes of updates buffered in order per stream (SSE or WebSocket), as stream_queue; a "
        "client behind by more than this even with only the newest update of each symbol is "
        "disconnected (slow_client).",
    )
    max_streams_per_client: int = setting(
        20,
        IntRange(1, 100_000),
        "Most concurrent /stream connections per client address; more are answered 503.",
    )
    client_send_timeout: float = setting(
        30.0,
        Seconds(),
        "Seconds a stream or WebSocket may wait on a client that does not read (its buffers "
        "full) before the server ends it.",
    )
    stream_max_lifetime: float = setting(
        3600.0,
        Seconds(),
        "Seconds a stream stays open; it then ends with an end event (clients reconnect).",
    )
    stream_coalesce: float = setting(
        0.05,
        Seconds(),
        "Seconds a watched stream's writes are gathered: at most one re-read per this long, "
        "whatever the writes and the listeners.",
    )
    ticker_feed: TickerFeed = setting(
        "tracked",
        OneOf(get_args(TickerFeed)),
        "Where ticker streams take their ticks: tracked reads the tickers hashes again when "
        "Redis reports a write (the local cache's tracking), at most once per stream_coalesce: "
        "the newest tick of each symbol, at no Redis cost per tick; published follows every "
        "PUBLISH, which costs Redis one message per tick per process (the local cache off or "
        "its tracking refused: published).",
    )
    request_timeout: float = setting(
        5.0,
        Seconds(),
        "Seconds one request may take in all (its Redis commands together) before it is 504.",
    )
    max_value_bytes: int = setting(
        1_048_576,
        IntRange(1024, 512 * 1024 * 1024),
        "A stored value larger than this is not decoded: skipped in listings, 502 alone.",
    )
    heavy_concurrency: int = setting(
        4,
        IntRange(1, 1000),
        "Whole-cache reads (/overview, /exchanges, /tickers, /tickers/health...) served at once "
        "per process; identical concurrent ones share one read. More wait (within the request "
        "timeout).",
    )
    heavy_share_ms: int = setting(
        250,
        IntRange(0, 60_000),
        "Milliseconds a heavy answer is shared for: a request joins only a read begun at most "
        "this long before it came; after that it waits for the next read (0: only reads begun "
        "after it).",
    )
    local_cache: bool = setting(
        True,
        Switch(),
        "Keep replies of reads in this process while Redis's client tracking says they are "
        "unchanged (off: every read goes to Redis).",
    )
    local_cache_mb: int = setting(
        64,
        IntRange(1, 100_000),
        "Most megabytes the local cache holds (least recently used first out).",
    )
    index_walk_interval: float = setting(
        10.0,
        Seconds(),
        "Seconds between two walks of the key index (a paced SCAN): the most a key no read "
        "asked for (a new exchange's hash), or one created without a tracking report, stays "
        "unlisted, plus one walk.",
    )
    index_mb: int = setting(
        64,
        IntRange(1, 100_000),
        "Most megabytes the key index holds (keys past it are left out, logged).",
    )
    ws_max_sockets: int = setting(
        1000,
        IntRange(1, 100_000),
        "Most open WebSocket connections per process; more are refused at the handshake.",
    )
    ws_max_sockets_per_client: int = setting(
        100,
        IntRange(1, 100_000),
        "Most open WebSocket connections per client address; more are refused at the handshake.",
    )
    ws_queue_bytes: int = setting(
        4_194_304,
        IntRange(65536, 1 << 30),
        "Bytes of frames waiting per WebSocket; above it the socket reads no further request and "
        "its streams conflate until the client reads (client_send_timeout).",
    )
    ws_max_streams: int = setting(
        50,
        IntRange(1, 10_000),
        "Most streams one WebSocket may run at once; more are answered TOO_MANY_STREAMS.",
    )
    ws_queue: int = setting(
        1000,
        IntRange(1, 100_000),
        "Messages buffered per WebSocket for a slow client; beyond it the oldest are dropped.",
    )
    ws_max_frame: int = setting(
        65536,
        IntRange(256, 16 * 1024 * 1024),
        "Largest request frame, in bytes (the standalone server also refuses larger frames).",
    )
    ws_idle_timeout: float = setting(
        600.0,
        Seconds(),
        "Seconds a WebSocket with no stream may stay silent before the server closes it.",
    )
    ws_poll_interval: float = setting(
        0.5,
        Seconds(),
        "Seconds between two reads of a polled stream (one poller per distinct stream).",
    )
    tokens: tuple[str, ...] = setting(
        (),
        Tokens(),
        "Bearer tokens, comma-separated; when any is set, every request must carry one "
        "(Authorization).",
        secret=True,
    )
    tokens_file: str | None = setting(
        None,
        TokensFile(),
        "A TOML file of named tokens with scopes, allow-lists and limits (see tokens.py); read "
        "again when it changes.",
    )
    rate_limit: int = setting(
        100,
        IntRange(1, 1_000_000),
        "Requests per second a token may send (a token bucket, refilled at this rate), unless "
        "the tokens file gives it its own rate; requests of routes open without a token count "
        "per client address. Only with tokens configured. More are answered 429.",
    )
    rate_burst: int = setting(
        400,
        IntRange(1, 1_000_000),
        "Requests a token may send at once (the bucket's size), unless it has its own burst.",
    )
    token_streams: int = setting(
        40,
        IntRange(1, 100_000),
        "Most open streams and WebSockets per token, unless it has its own streams.",
    )
    public_health: bool = setting(
        True, Switch(), "With tokens set, /health still answers without one (load balancers)."
    )
    public_docs: bool = setting(
        True, Switch(), "With tokens set, /openapi.json and /docs still answer without one."
    )
    sentinels: tuple[tuple[str, int], ...] = setting(
        (),
        Addresses(),
        "Redis Sentinels, host:port,host:port; when set, Sentinel finds the server to read from "
        "and the Redis URL gives only the username, password, db and TLS.",
    )
    sentinel_service: str = setting(
        "mymaster", PlainText(), "The service (master group) name the sentinels monitor."
    )
    read_from: ReadFrom = setting(
        "replica",
        OneOf(get_args(ReadFrom)),
        "With sentinels: read from a replica (round robin; the master when none is up) or from "
        "the master.",
    )
    sentinel_password: str | None = setting(
        None,
        PlainText(strip=False, blank=True),
        "Password of the sentinels themselves (requirepass in sentinel.conf), if any.",
        secret=True,
    )

    @classmethod
    def check_together(cls, values: Mapping[str, Any], labels: Mapping[str, str]) -> None:
        if values["sentinels"] and values["redis_url"].startswith("unix://"):
            raise SettingsError(f"{labels['sentinels']} cannot be used with a unix:// Redis URL")

    @property
    def redis_db(self) -> int:
        """The database number the URL selects (for /info)."""
        path = self.redis_url.split("?", 1)[0].rsplit("/", 1)
        tail = path[1] if len(path) == 2 and "://" not in path[1] else ""
        return int(tail) if tail.isdigit() else 0

    @property
    def redis_address(self) -> str:
        """Where Redis is reached, for logs: ``host:port`` (a socket's path, or the sentinels),
        never a user name or password."""
        if self.sentinels:
            return "sentinels " + ",".join(f"{host}:{port}" for host, port in self.sentinels)
        parts = urlsplit(self.redis_url)
        if parts.scheme == "unix":
            return parts.path
        address = parts.netloc.rpartition("@")[2]
        return address if parts.port is not None else f"{address}:6379"


LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["text", "json"]
Loop = Literal["auto", "asyncio", "uvloop"]


@dataclass(frozen=True, kw_only=True)
class ServerSettings(FromEnv):
    """The standalone server's settings (``python -m fullon_cache_api``): each one a flag
    (``Setting.option``) whose default its variable, if set, gives."""

    host: str = setting("127.0.0.1", PlainText(), "address to bind")
    port: int = setting(8000, IntRange(1, 65535), "port to bind")
    workers: int = setting(
        1,
        IntRange(1, 1024),
        "worker processes; with more than one and no PROMETHEUS_MULTIPROC_DIR, /metrics sums "
        "them through a temporary directory",
    )
    log_level: LogLevel = setting("info", OneOf(get_args(LogLevel)), "log level")
    log_format: LogFormat = setting(
        "text",
        OneOf(get_args(LogFormat)),
        "text lines, or one JSON object per line; both carry each request's id",
    )
    access_log: bool = setting(False, Switch(), "log one line per request to stderr")
    graceful_timeout: float = setting(
        5.0, Seconds(), "seconds in-flight requests get to finish on SIGTERM/SIGINT/SIGHUP"
    )
    read_timeout: float = setting(
        5.0,
        Seconds(),
        "seconds a client gets to send a whole request head, and an idle connection stays open",
    )
    h2c: bool = setting(False, Switch(), "also serve cleartext HTTP/2; off: HTTP/1.1 only")
    loop: Loop = setting(
        "auto",
        OneOf(get_args(Loop)),
        "event loop: uvloop when installed (auto; pip install 'fullon_cache_api[uvloop]'), or "
        "asyncio's, or uvloop",
    )
    demo: bool = setting(
        False,
        Switch(),
        "start a private redis-server with live sample data and serve it; both stop on Ctrl-C, "
        "SIGTERM or SIGHUP",
        env=(),
    )


MIN_TOKEN_LENGTH = 16


def _check_url(url: str, label: str) -> None:
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(f"{label} must start with redis://, rediss:// or unix://")
    try:
        parse_url(url)
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError unless a number from 0 to 65535
    except ValueError as exc:
        raise SettingsError(f"{label} is not a valid Redis URL: {exc}") from None
    if parts.scheme != "unix" and not re.fullmatch(r"/?[0-9]*", parts.path):
        raise SettingsError(f"{label} is not a valid Redis URL: the path must be a db number")
    _check_url_options(parts.scheme, parse_qs(parts.query, keep_blank_values=True), label)


# Query options of a Redis URL the API passes on to redis-py: the connection's own (the pool's
# size and wait, retries and the client's name are the API's settings), and TLS's on rediss://.
# redis-py hands any other name to the connection, which refuses it on every request.
_URL_OPTIONS = frozenset(
    {"db", "socket_timeout", "socket_connect_timeout", "socket_keepalive", "socket_read_size"}
    | {"health_check_interval"}
)
_TLS_OPTIONS = frozenset(
    {
        "ssl_cert_reqs",
        "ssl_certfile",
        "ssl_keyfile",
        "ssl_password",
        "ssl_ca_certs",
        "ssl_ca_path",
        "ssl_ca_data",
        "ssl_check_hostname",
        "ssl_min_version",
        "ssl_ciphers",
        "ssl_include_verify_flags",
        "ssl_exclude_verify_flags",
    }
)
_CERT_REQS = ("none", "optional", "required")


def _check_url_options(scheme: str, options: dict[str, list[str]], label: str) -> None:
    for name in sorted(options):
        if name in _TLS_OPTIONS and scheme != "rediss":
            raise SettingsError(f"{label}: ?{name} applies to rediss:// URLs only")
        if name not in _URL_OPTIONS | _TLS_OPTIONS:
            allowed = ", ".join(sorted(_URL_OPTIONS)) + " (and ssl_* options on rediss://)"
            raise SettingsError(f"{label}: unknown query option ?{name} (allowed: {allowed})")
    reqs = options.get("ssl_cert_reqs", ["required"])[0]
    if reqs not in _CERT_REQS:
        raise SettingsError(f"{label}: ?ssl_cert_reqs must be one of {', '.join(_CERT_REQS)}")


def _check_tokens(tokens: tuple[str, ...], label: str) -> None:
    """Fail closed: a token too short to resist guessing, or one that no HTTP header can carry
    unchanged (non-ASCII, spaces, commas), stops the start."""
    for index, token in enumerate(tokens, 1):
        if len(token) < MIN_TOKEN_LENGTH:
            raise SettingsError(
                f"{label}: token {index} has {len(token)} characters; at least "
                f"{MIN_TOKEN_LENGTH} are required"
            )
        if not (token.isascii() and token.isprintable()) or any(c in token for c in " ,"):
            raise SettingsError(
                f"{label}: token {index} must be printable ASCII without spaces or commas"
            )


def _host_port(item: str, var: str) -> tuple[str, int]:
    """``host:port`` or ``[v6 address]:port``."""
    host, sep, port = item.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        host = ""  # a bare IPv6 address is ambiguous: it needs brackets
    if not (sep and host and port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise SettingsError(f"{var}: {item!r} is not host:port (IPv6 as [address]:port)")
    return host, int(port)
