"""Settings, read from the environment once and validated there.

Redis is addressed the way fullon_cache addresses it (``REDIS_HOST``, ``REDIS_PORT``, ``REDIS_DB``,
``REDIS_PASSWORD``), each falling back to master_api's ``CACHE_*`` names, or by one ``REDIS_URL``
(which may point at a replica). With ``FULLON_CACHE_API_SENTINELS`` set, Redis Sentinel finds the
server instead, and the URL gives only the credentials, the db and TLS. API settings use the
``FULLON_CACHE_API_`` prefix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, quote, urlsplit

from redis.asyncio.connection import parse_url

__all__ = ["Settings", "SettingsError"]

PREFIX = "FULLON_CACHE_API_"


class SettingsError(ValueError):
    """A setting has an invalid value; the message names the variable."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    redis_url: str = field(default="redis://localhost:6379/0", repr=False)
    connect_timeout: float = 1.0
    """Seconds to open a Redis connection; an outage is answered within this."""
    command_timeout: float = 0.5
    """Seconds one request may wait on Redis before it is answered 504."""
    pool_size: int = 50
    """Most Redis connections per process; more concurrent requests wait for one."""
    pool_timeout: float = 2.0
    """Seconds a request waits for a free pooled connection before 503."""
    ticker_max_age: float = 60.0
    """Default ``max_age`` (seconds) of /tickers/{exchange}/active and /tickers/health."""
    max_streams: int = 100
    """Most concurrent /stream connections per process; more are answered 503."""
    stream_heartbeat: float = 15.0
    """Seconds between SSE heartbeat comments on an idle stream (keeps proxies open)."""
    stream_queue: int = 1000
    """Updates buffered in order per stream for a slow client; beyond it the stream gets only
    the newest update of each symbol, the others counted as dropped."""
    stream_queue_bytes: int = 4_194_304
    """Bytes of updates buffered in order per stream (SSE or WebSocket), as ``stream_queue``;
    a client behind by more than this even with only the newest update of each symbol is
    disconnected (``slow_client``)."""
    max_streams_per_client: int = 20
    """Most concurrent /stream connections per client address; more are answered 503."""
    client_send_timeout: float = 30.0
    """Seconds a stream or WebSocket may wait on a client that does not read (its buffers
    full) before the server ends it."""
    stream_max_lifetime: float = 3600.0
    """Seconds a stream stays open; it then ends with an ``end`` event (clients reconnect)."""
    stream_coalesce: float = 0.05
    """Seconds a watched stream's writes are gathered: at most one re-read per this long,
    whatever the writes and the listeners."""
    request_timeout: float = 5.0
    """Seconds one request may take in all (its Redis commands together) before it is 504."""
    max_value_bytes: int = 1_048_576
    """A stored value larger than this is not decoded: skipped in listings, 502 alone."""
    heavy_concurrency: int = 4
    """Whole-cache reads (/overview, /exchanges, /tickers, /tickers/health...) served at once
    per process; identical concurrent ones share one read. More wait (within the request
    timeout)."""
    heavy_share_ms: int = 250
    """Milliseconds a heavy answer is shared for: a request joins only a read begun at most this
    long before it came; after that it waits for the next read (0: only reads begun after it)."""
    local_cache: bool = True
    """Keep replies of reads in this process while Redis's client tracking says they are
    unchanged (off: every read goes to Redis)."""
    local_cache_mb: int = 64
    """Most megabytes the local cache holds (least recently used first out)."""
    index_walk_interval: float = 10.0
    """Seconds between two verification walks of the key index (a paced SCAN): the most a key
    created or deleted without a tracking report stays unseen, plus one walk."""
    index_mb: int = 64
    """Most megabytes the key index holds (keys past it are left out, logged)."""
    ws_max_sockets: int = 1000
    """Most open WebSocket connections per process; more are refused at the handshake."""
    ws_max_sockets_per_client: int = 100
    """Most open WebSocket connections per client address; more are refused at the handshake."""
    ws_queue_bytes: int = 4_194_304
    """Bytes of frames waiting per WebSocket; above it the socket reads no further request and
    its streams conflate until the client reads (``client_send_timeout``)."""
    ws_max_streams: int = 50
    """Most streams one WebSocket may run at once; more are answered ``TOO_MANY_STREAMS``."""
    ws_queue: int = 1000
    """Messages buffered per WebSocket for a slow client; beyond it the oldest are dropped."""
    ws_max_frame: int = 65536
    """Largest request frame, in bytes (the standalone server also refuses larger frames)."""
    ws_idle_timeout: float = 600.0
    """Seconds a WebSocket with no stream may stay silent before the server closes it."""
    ws_poll_interval: float = 0.5
    """Seconds between two reads of a polled stream (one poller per distinct stream)."""
    tokens: tuple[str, ...] = field(default=(), repr=False)
    """Bearer tokens; when any is set, every request must carry one (``Authorization``)."""
    tokens_file: str | None = None
    """A TOML file of named tokens with scopes, allow-lists and limits (see ``tokens.py``); read
    again when it changes."""
    rate_limit: int = 100
    """Requests per second a token may send (a token bucket, refilled at this rate), unless the
    tokens file gives it its own ``rate``; requests of routes open without a token count per
    client address. Only with tokens configured. More are answered 429."""
    rate_burst: int = 400
    """Requests a token may send at once (the bucket's size), unless it has its own ``burst``."""
    token_streams: int = 40
    """Most open streams and WebSockets per token, unless it has its own ``streams``."""
    public_health: bool = True
    """With tokens set, /health still answers without one (load balancers)."""
    public_docs: bool = True
    """With tokens set, /openapi.json and /docs still answer without one."""
    sentinels: tuple[tuple[str, int], ...] = ()
    """Redis Sentinel (host, port) pairs; when set, Sentinel finds the server to read from and
    ``redis_url`` gives only the username, password, db and TLS."""
    sentinel_service: str = "mymaster"
    """The service (master group) name the sentinels monitor."""
    read_from: Literal["replica", "master"] = "replica"
    """With sentinels: read from a replica (round robin; the master when none is up) or from the
    master."""
    sentinel_password: str | None = field(default=None, repr=False)
    """Password of the sentinels themselves (``requirepass`` in sentinel.conf), if any."""

    def __post_init__(self) -> None:
        for name in _NUMBERS:
            _check(name, getattr(self, name), name)
        _check_url(self.redis_url, "redis_url")
        _check_tokens(self.tokens, "tokens")
        _check_sentinels(self.sentinels, self.sentinel_service, self.read_from, self.redis_url)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``env`` (default ``os.environ``); raise SettingsError naming the
        variable whose value is invalid."""
        env = os.environ if env is None else env

        values: dict[str, float | int] = {}
        for name, (kind, _, _) in _NUMBERS.items():
            var = PREFIX + name.upper()
            raw = env.get(var, "").strip()
            if raw:
                try:
                    values[name] = kind(raw)
                except ValueError:
                    raise SettingsError(f"{var}={raw!r} is not a valid {kind.__name__}") from None
                _check(name, values[name], var)
        url = _redis_url(env)
        return cls(
            redis_url=url,
            tokens=_tokens(env),
            tokens_file=_tokens_file(env),
            public_health=_flag(env, PREFIX + "PUBLIC_HEALTH", cls.public_health),
            public_docs=_flag(env, PREFIX + "PUBLIC_DOCS", cls.public_docs),
            local_cache=_flag(env, PREFIX + "LOCAL_CACHE", cls.local_cache),
            **_sentinel_settings(env, url),
            **values,  # type: ignore[arg-type]
        )

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


# name -> (kind, lowest, highest); floats are seconds, above 0 (``lowest`` unused).
_NUMBERS: dict[str, tuple[type[float] | type[int], int, int]] = {
    "connect_timeout": (float, 0, 0),
    "command_timeout": (float, 0, 0),
    "pool_size": (int, 1, 100_000),
    "pool_timeout": (float, 0, 0),
    "ticker_max_age": (float, 0, 0),
    "max_streams": (int, 1, 100_000),
    "stream_heartbeat": (float, 0, 0),
    "stream_queue": (int, 1, 100_000),
    "stream_queue_bytes": (int, 65536, 1 << 30),
    "max_streams_per_client": (int, 1, 100_000),
    "client_send_timeout": (float, 0, 0),
    "stream_max_lifetime": (float, 0, 0),
    "stream_coalesce": (float, 0, 0),
    "request_timeout": (float, 0, 0),
    "max_value_bytes": (int, 1024, 512 * 1024 * 1024),
    "heavy_concurrency": (int, 1, 1000),
    "heavy_share_ms": (int, 0, 60_000),
    "local_cache_mb": (int, 1, 100_000),
    "index_walk_interval": (float, 0, 0),
    "index_mb": (int, 1, 100_000),
    "ws_max_sockets": (int, 1, 100_000),
    "ws_max_sockets_per_client": (int, 1, 100_000),
    "ws_queue_bytes": (int, 65536, 1 << 30),
    "ws_max_streams": (int, 1, 10_000),
    "ws_queue": (int, 1, 100_000),
    "ws_max_frame": (int, 256, 16 * 1024 * 1024),
    "ws_idle_timeout": (float, 0, 0),
    "ws_poll_interval": (float, 0, 0),
    "rate_limit": (int, 1, 1_000_000),
    "rate_burst": (int, 1, 1_000_000),
    "token_streams": (int, 1, 100_000),
}
MIN_TOKEN_LENGTH = 16


def _check(name: str, value: float, label: str) -> None:
    kind, low, high = _NUMBERS[name]
    if kind is int:
        if not (isinstance(value, int) and low <= value <= high):
            raise SettingsError(f"{label} must be an integer from {low} to {high}, got {value!r}")
    elif not 0 < value < float("inf"):
        raise SettingsError(f"{label} must be a positive number of seconds, got {value!r}")


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


def _tokens(env: Mapping[str, str]) -> tuple[str, ...]:
    """``FULLON_CACHE_API_TOKENS``: comma-separated. Set but yielding no token (``""``, ``","``,
    an empty shell expansion) is an error, never "auth off": unset the variable for that."""
    var = PREFIX + "TOKENS"
    raw = env.get(var)
    if raw is None:
        return ()
    tokens = tuple(t.strip() for t in raw.split(",") if t.strip())
    if not tokens:
        raise SettingsError(f"{var} is set but holds no token (unset it to run without auth)")
    _check_tokens(tokens, var)
    return tokens


def _tokens_file(env: Mapping[str, str]) -> str | None:
    """``FULLON_CACHE_API_TOKENS_FILE``: read here once, so that a bad file stops the start."""
    from .tokens import TokensError, load  # a leaf too; imported where it is needed

    var = PREFIX + "TOKENS_FILE"
    path = env.get(var, "").strip()
    if not path:
        return None
    try:
        load(path)
    except TokensError as exc:
        raise SettingsError(f"{var}: {exc}") from None
    return path


_SENTINEL_FIELDS = ("sentinels", "sentinel_service", "read_from")
_SENTINEL_VARS = tuple(PREFIX + name for name in ("SENTINELS", "SENTINEL_SERVICE", "READ_FROM"))


def _check_sentinels(
    sentinels: tuple[tuple[str, int], ...],
    service: str,
    read_from: str,
    url: str,
    labels: tuple[str, ...] = _SENTINEL_FIELDS,
) -> None:
    """Validate the Sentinel settings; ``labels`` name them (field or variable names)."""
    for pair in sentinels:
        host, port = pair
        if not host or not isinstance(port, int) or not 1 <= port <= 65535:
            raise SettingsError(f"{labels[0]} must hold (host, port) pairs, got {pair!r}")
    if not service.strip():
        raise SettingsError(f"{labels[1]} must not be empty")
    if read_from not in ("replica", "master"):
        raise SettingsError(f"{labels[2]} must be replica or master, got {read_from!r}")
    if sentinels and url.startswith("unix://"):
        raise SettingsError(f"{labels[0]} cannot be used with a unix:// Redis URL")


def _sentinel_settings(env: Mapping[str, str], url: str) -> dict[str, Any]:
    """The Sentinel settings from the environment, checked under their variables' names."""
    raw = env.get(_SENTINEL_VARS[0], "")
    sentinels = tuple(
        _host_port(item.strip(), _SENTINEL_VARS[0]) for item in raw.split(",") if item.strip()
    )
    service = env.get(_SENTINEL_VARS[1], "").strip() or "mymaster"
    read_from = env.get(_SENTINEL_VARS[2], "").strip().lower() or "replica"
    _check_sentinels(sentinels, service, read_from, url, _SENTINEL_VARS)
    return {
        "sentinels": sentinels,
        "sentinel_service": service,
        "read_from": read_from,
        "sentinel_password": env.get(PREFIX + "SENTINEL_PASSWORD") or None,
    }


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


def _redis_url(env: Mapping[str, str]) -> str:
    def get(name: str) -> str | None:
        value = env.get("REDIS_" + name)
        if value is None or value == "":
            value = env.get("CACHE_" + name)
        return value or None

    url = env.get("REDIS_URL")
    if url:
        _check_url(url, "REDIS_URL")
        return url
    host = get("HOST") or "localhost"
    port = _bounded_int(get("PORT"), "REDIS_PORT", 6379, 1, 65535)
    db = _bounded_int(get("DB"), "REDIS_DB", 0, 0, 10_000)
    user = get("USERNAME") or ""
    password = get("PASSWORD") or ""
    auth = ""
    if user or password:
        auth = f"{quote(user, safe='')}:{quote(password, safe='')}@"
    return f"redis://{auth}{host}:{port}/{db}"


def _flag(env: Mapping[str, str], var: str, default: bool) -> bool:
    raw = env.get(var, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{var}={raw!r} must be true or false")


def _bounded_int(raw: str | None, var: str, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    if not raw.strip().isdigit() or not low <= int(raw) <= high:
        raise SettingsError(f"{var}={raw!r} must be an integer from {low} to {high}")
    return int(raw)
