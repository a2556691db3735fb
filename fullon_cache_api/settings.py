"""Settings, read from the environment once and validated there.

Redis is addressed the way fullon_cache addresses it (``REDIS_HOST``, ``REDIS_PORT``, ``REDIS_DB``,
``REDIS_PASSWORD``), each falling back to master_api's ``CACHE_*`` names, or by one ``REDIS_URL``
(which may point at a replica). With ``FULLON_CACHE_API_SENTINELS`` set, Redis Sentinel finds the
server instead, and the URL gives only the credentials, the db and TLS. API settings use the
``FULLON_CACHE_API_`` prefix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

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
    """Updates buffered per stream for a slow client; beyond it the oldest are dropped."""
    stream_max_lifetime: float = 3600.0
    """Seconds a stream stays open; it then ends with an ``end`` event (clients reconnect)."""
    ws_max_sockets: int = 1000
    """Most open WebSocket connections per process; more are refused at the handshake."""
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
        _check_sentinels(self.sentinels, self.sentinel_service, self.read_from, self.redis_url)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``env`` (default ``os.environ``); raise SettingsError naming the
        variable whose value is invalid."""
        env = os.environ if env is None else env

        values: dict[str, float | int] = {}
        for name, kind in _NUMBERS.items():
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
            tokens=tuple(t.strip() for t in env.get(PREFIX + "TOKENS", "").split(",") if t.strip()),
            public_health=_flag(env, PREFIX + "PUBLIC_HEALTH", cls.public_health),
            public_docs=_flag(env, PREFIX + "PUBLIC_DOCS", cls.public_docs),
            **_sentinel_settings(env, url),
            **values,  # type: ignore[arg-type]
        )

    @property
    def redis_db(self) -> int:
        """The database number the URL selects (for /info)."""
        path = self.redis_url.split("?", 1)[0].rsplit("/", 1)
        tail = path[1] if len(path) == 2 and "://" not in path[1] else ""
        return int(tail) if tail.isdigit() else 0


_NUMBERS: dict[str, type[float] | type[int]] = {
    "connect_timeout": float,
    "command_timeout": float,
    "pool_size": int,
    "pool_timeout": float,
    "ticker_max_age": float,
    "max_streams": int,
    "stream_heartbeat": float,
    "stream_queue": int,
    "stream_max_lifetime": float,
    "ws_max_sockets": int,
    "ws_max_streams": int,
    "ws_queue": int,
    "ws_max_frame": int,
    "ws_idle_timeout": float,
    "ws_poll_interval": float,
}


def _check(name: str, value: float, label: str) -> None:
    if _NUMBERS[name] is int:
        if not 1 <= value <= 100_000:
            raise SettingsError(f"{label} must be an integer from 1 to 100000, got {value!r}")
    elif not 0 < value < float("inf"):
        raise SettingsError(f"{label} must be a positive number of seconds, got {value!r}")


def _check_url(url: str, label: str) -> None:
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(f"{label} must start with redis://, rediss:// or unix://")


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
