"""Prometheus metrics, with the maintained ``prometheus_client`` library.

Requests are labelled by route template (``/tickers/{exchange}``), never by raw path, so the
label set stays bounded. Several worker processes: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty
directory shared by the workers before they start; ``/metrics`` then sums every process.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

__all__ = [
    "CLIENTS_ENDED",
    "KEY_INDEX_KEYS",
    "KEY_INDEX_WALKS",
    "LOCAL_CACHE_BYTES",
    "LOCAL_CACHE_ENTRIES",
    "LOCAL_CACHE_EVENTS",
    "POLLERS",
    "REDIS_ERRORS",
    "REQUESTS",
    "SKIPPED",
    "STREAMS",
    "WATCHED_BYTES",
    "WATCHERS",
    "WS_DROPPED",
    "WS_SOCKETS",
    "WS_STREAMS",
    "exposition",
    "observe",
]

REQUESTS = Counter(
    "fullon_cache_api_requests", "Requests answered, by route template, method and status",
    ["route", "method", "status"],
)  # fmt: skip
LATENCY = Histogram(
    "fullon_cache_api_request_duration_seconds", "Time to answer, by route template", ["route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)  # fmt: skip
REDIS_ERRORS = Counter(
    "fullon_cache_api_redis_errors",
    "Redis failures, by kind (unavailable, timeout, wrong_type, refused, error)",
    ["kind"],
)  # fmt: skip
SKIPPED = Counter(
    "fullon_cache_api_skipped_values",
    "Stored values left out: corrupt, or keys of another Redis type (listings, streams)",
)
STREAMS = Gauge(
    "fullon_cache_api_open_streams", "Open /stream connections", multiprocess_mode="livesum"
)
STREAM_DROPPED = Counter(
    "fullon_cache_api_stream_dropped_updates", "Updates a slow stream client missed"
)
LOCAL_CACHE_EVENTS = Counter(
    "fullon_cache_api_local_cache",
    "Local cache events: hit, miss, invalidation, evicted, flush, refused (tracking refused by "
    "Redis)",
    ["event"],
)
LOCAL_CACHE_ENTRIES = Gauge(
    "fullon_cache_api_local_cache_entries", "Replies held by the local cache",
    multiprocess_mode="livesum",
)  # fmt: skip
LOCAL_CACHE_BYTES = Gauge(
    "fullon_cache_api_local_cache_bytes", "Bytes held by the local cache (estimated)",
    multiprocess_mode="livesum",
)  # fmt: skip
WS_SOCKETS = Gauge(
    "fullon_cache_api_ws_sockets", "Open WebSocket connections", multiprocess_mode="livesum"
)
WS_STREAMS = Gauge(
    "fullon_cache_api_ws_streams", "Open WebSocket streams", multiprocess_mode="livesum"
)
WS_DROPPED = Counter(
    "fullon_cache_api_ws_dropped_messages",
    "WebSocket messages dropped for a slow client (its buffer keeps the newest)",
)
POLLERS = Gauge(
    "fullon_cache_api_pollers",
    "Running watchers of the stream hub (one per distinct watched stream, whatever its listeners)",
    multiprocess_mode="livesum",
)
WATCHERS = Gauge(
    "fullon_cache_api_watchers",
    "Watchers of the stream hub by mode: pushed (Redis's tracking tells them of writes) or "
    "polled (tracking is off: they read every poll interval)",
    ["mode"],
    multiprocess_mode="livesum",
)
for _mode in ("pushed", "polled"):
    WATCHERS.labels(_mode)  # both series from the start, at 0
WATCHED_BYTES = Gauge(
    "fullon_cache_api_watched_state_bytes",
    "Bytes of the last states the stream hub's watchers keep (estimated)",
    multiprocess_mode="livesum",
)
KEY_INDEX_KEYS = Gauge(
    "fullon_cache_api_key_index_keys", "Keys of fullon_cache's families in the key index",
    multiprocess_mode="livemax",
)  # fmt: skip
KEY_INDEX_WALKS = Counter(
    "fullon_cache_api_key_index_walks", "SCAN walks of the keyspace by the key index"
)
CLIENTS_ENDED = Counter(
    "fullon_cache_api_clients_ended",
    "Streams and sockets the server ended or refused for their client, by transport (sse, ws) "
    "and reason: slow_client (behind by more than its buffer, even conflated), not_reading "
    "(its buffers full past the send timeout), client_limit (the per-address limit), "
    "id_too_long (a connection id too long)",
    ["transport", "reason"],
)
CLIENT_END_REASONS = ("slow_client", "not_reading", "client_limit", "id_too_long")
for _transport in ("sse", "ws"):
    for _reason in CLIENT_END_REASONS:
        CLIENTS_ENDED.labels(_transport, _reason)  # every series from the start, at 0


# The labelled children, kept: the label set is bounded (routes x methods x statuses), and a
# labels() lookup per request would cost more than the update itself.
_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def observe(route: str, method: str, status: int, seconds: float) -> None:
    pair = _children.get((route, method, status))
    if pair is None:
        pair = (REQUESTS.labels(route, method, str(status)), LATENCY.labels(route))
        _children[route, method, status] = pair
    pair[0].inc()
    pair[1].observe(seconds)


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus text format, and its content type."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
