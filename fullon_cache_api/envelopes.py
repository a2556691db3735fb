"""The frames of the v0.2.6 protocol, as Structs, and its two envelopes: ``DOMAIN`` (the seven
``/ws/<domain>/{connection_id}`` sockets, keyed by ``action``) and ``GATEWAY`` (``/ws``, keyed by
``operation``, every reply with ``timestamp``; its request validated field by field as v0.2.6's
pydantic model did, with the same error texts).

A frame's JSON keys come in the order v0.2.6 wrote them. ``request_id`` is echoed as sent (any
JSON value on domain sockets)."""

from __future__ import annotations

import abc
import uuid
from collections.abc import Container, Mapping
from time import perf_counter
from typing import Any

import msgspec

__all__ = [
    "DOMAIN",
    "GATEWAY",
    "LEGACY_OPERATIONS",
    "MALFORMED",
    "MAX_ID",
    "Envelope",
    "Request",
]

MALFORMED = ("MALFORMED_MESSAGE", "Malformed JSON message")
MAX_ID = 256
"""Longest ``connection_id`` (characters) and ``request_id`` (characters of a string, or of
another JSON value's encoding): a uuid has 36; longer ones are refused (``INVALID_PARAMS``,
or 1008 at the handshake), never echoed into every frame, stream key and log line."""
INVALID_OPERATION = "INVALID_OPERATION"

# /ws's ALLOWED_OPERATIONS in v0.2.6, in its order.
LEGACY_OPERATIONS = (
    "ping",
    "health_check",
    "get_ticker",
    "get_all_tickers",
    "stream_tickers",
    "get_user_positions",
    "get_user_balances",
    "get_account_status",
    "stream_user_positions",
    "stream_user_balances",
    "get_order_status",
    "get_queue_length",
    "stream_order_queue",
    "is_blocked",
    "get_bots",
    "stream_bot_status",
    "get_trades",
    "get_trade_status",
    "stream_trade_updates",
    "get_latest_ohlcv_bars",
    "stream_ohlcv_updates",
    "get_active_processes",
    "get_system_health",
    "stream_process_health",
)


class Request(msgspec.Struct, kw_only=True):
    """One request frame, parsed: what it asks (``name``: its action or operation, as sent),
    its id and its params, and when it arrived (for ``latency_ms``)."""

    name: Any
    request_id: Any
    params: Mapping[str, Any]
    received: float


# domain sockets ----------------------------------------------------------------------------


class DomainSuccess(msgspec.Struct, kw_only=True):
    request_id: Any
    action: str
    success: bool
    result: msgspec.Struct


class DomainNotFound(msgspec.Struct, kw_only=True):
    request_id: Any
    action: str
    success: bool
    error_code: str
    error: str


class DomainError(msgspec.Struct, kw_only=True):
    """v0.2.6's ``send_error``: no ``action``."""

    request_id: Any
    success: bool
    error_code: str
    error: str


class DomainConfirmation(msgspec.Struct, kw_only=True):
    request_id: Any
    action: str
    success: bool
    message: str
    stream_key: str


class DomainUpdate(msgspec.Struct, kw_only=True):
    """A stream message: no ``success``."""

    request_id: Any
    action: str
    result: msgspec.Struct


# the /ws gateway ---------------------------------------------------------------------------


class GatewaySuccess(msgspec.Struct, kw_only=True):
    request_id: Any
    success: bool
    result: msgspec.Struct
    error: None
    error_code: None
    timestamp: float
    latency_ms: float


class GatewayError(msgspec.Struct, kw_only=True):
    """v0.2.6's gateway errors: no ``success``."""

    request_id: Any
    error: str
    error_code: str
    timestamp: float
    details: None


class GatewayUpdate(msgspec.Struct, kw_only=True):
    """A stream message on ``/ws`` (v0.2.6 had none): a success naming its ``action``."""

    request_id: Any
    action: str
    success: bool
    result: msgspec.Struct
    error: None
    error_code: None
    timestamp: float


class StreamStarted(msgspec.Struct, kw_only=True):
    """A stream's confirmation on ``/ws``: the ``result`` of a success."""

    message: str
    stream_key: str


def latency_ms(request: Request) -> float:
    return (perf_counter() - request.received) * 1000


class Envelope(abc.ABC):
    """How a socket reads requests and shapes its frames. ``now`` is the app's clock."""

    @abc.abstractmethod
    def parse(
        self, data: dict[str, Any], known: Container[str], now: float
    ) -> Request | msgspec.Struct:
        """The request of a JSON object, or the error frame that answers it."""

    @abc.abstractmethod
    def success(self, request: Request, result: msgspec.Struct, now: float) -> msgspec.Struct: ...

    @abc.abstractmethod
    def not_found(self, request: Request, code: str, text: str, now: float) -> msgspec.Struct: ...

    @abc.abstractmethod
    def error(self, request_id: Any, code: str, text: str, now: float) -> msgspec.Struct: ...

    @abc.abstractmethod
    def confirmation(
        self, request: Request, message: str, stream_key: str, now: float
    ) -> msgspec.Struct: ...

    @abc.abstractmethod
    def update(
        self, request_id: Any, action: str, result: msgspec.Struct, now: float
    ) -> msgspec.Struct: ...

    def not_implemented(self, request: Request, now: float) -> msgspec.Struct:
        """An unknown (or missing: ``None``) action, in v0.2.6's words."""
        text = f"Operation '{request.name}' not implemented"
        return self.error(request.request_id, INVALID_OPERATION, text, now)


class Domain(Envelope):
    """``{"action", "request_id", "params"}``; absent or null params are ``{}``."""

    def parse(
        self, data: dict[str, Any], known: Container[str], now: float
    ) -> Request | msgspec.Struct:
        params = data.get("params")
        request = Request(
            name=data.get("action"),
            request_id=data.get("request_id"),
            params=params or {},
            received=perf_counter(),
        )
        if params is not None and not isinstance(params, dict):
            return self.error(request.request_id, "INVALID_PARAMS", "params must be an object", now)
        return request

    def success(self, request: Request, result: msgspec.Struct, now: float) -> msgspec.Struct:
        return DomainSuccess(
            request_id=request.request_id, action=request.name, success=True, result=result
        )

    def not_found(self, request: Request, code: str, text: str, now: float) -> msgspec.Struct:
        return DomainNotFound(
            request_id=request.request_id,
            action=request.name,
            success=False,
            error_code=code,
            error=text,
        )

    def error(self, request_id: Any, code: str, text: str, now: float) -> msgspec.Struct:
        return DomainError(request_id=request_id, success=False, error_code=code, error=text)

    def confirmation(
        self, request: Request, message: str, stream_key: str, now: float
    ) -> msgspec.Struct:
        return DomainConfirmation(
            request_id=request.request_id,
            action=request.name,
            success=True,
            message=message,
            stream_key=stream_key,
        )

    def update(
        self, request_id: Any, action: str, result: msgspec.Struct, now: float
    ) -> msgspec.Struct:
        return DomainUpdate(request_id=request_id, action=action, result=result)


class Gateway(Envelope):
    """``{"operation", "request_id" (default: a new uuid4), "params" (default {}),
    "timestamp"}``, each field checked as v0.2.6's ``CacheRequest`` model did. An operation is
    known when v0.2.6 allowed it or the socket has an action of that name."""

    def parse(
        self, data: dict[str, Any], known: Container[str], now: float
    ) -> Request | msgspec.Struct:
        problems = []
        operation = data.get("operation")
        if "operation" not in data:
            problems.append(("operation", "Field required"))
        elif not isinstance(operation, str):
            problems.append(("operation", "Input should be a valid string"))
        elif operation not in known and operation not in LEGACY_OPERATIONS:
            problems.append(
                ("operation", f"Value error, Invalid FastAPI WebSocket operation: {operation}")
            )
        for name, kind, what in (
            ("request_id", str, "a valid string"),
            ("params", dict, "a valid dictionary"),
            ("timestamp", int | float, "a valid number"),
        ):
            if name in data and not isinstance(data[name], kind):
                problems.append((name, f"Input should be {what}"))
        if problems:
            count = f"{len(problems)} validation error{'s' if len(problems) > 1 else ''}"
            lines = [f"{count} for CacheRequest"]
            for name, message in problems:
                lines += [name, f"  {message}"]
            return self.error(data.get("request_id"), INVALID_OPERATION, "\n".join(lines), now)
        request_id = data.get("request_id", str(uuid.uuid4()))
        return Request(
            name=operation,
            request_id=request_id,
            params=data.get("params", {}),
            received=perf_counter(),
        )

    def success(self, request: Request, result: msgspec.Struct, now: float) -> msgspec.Struct:
        return GatewaySuccess(
            request_id=request.request_id,
            success=True,
            result=result,
            error=None,
            error_code=None,
            timestamp=now,
            latency_ms=latency_ms(request),
        )

    def not_found(self, request: Request, code: str, text: str, now: float) -> msgspec.Struct:
        return self.error(request.request_id, code, text, now)

    def error(self, request_id: Any, code: str, text: str, now: float) -> msgspec.Struct:
        return GatewayError(
            request_id=request_id, error=text, error_code=code, timestamp=now, details=None
        )

    def confirmation(
        self, request: Request, message: str, stream_key: str, now: float
    ) -> msgspec.Struct:
        return self.success(request, StreamStarted(message=message, stream_key=stream_key), now)

    def update(
        self, request_id: Any, action: str, result: msgspec.Struct, now: float
    ) -> msgspec.Struct:
        return GatewayUpdate(
            request_id=request_id,
            action=action,
            success=True,
            result=result,
            error=None,
            error_code=None,
            timestamp=now,
        )


DOMAIN = Domain()
GATEWAY = Gateway()
