"""The exceptions handlers and readers raise, the one JSON error shape clients see, and the one
mapping of Redis failures to them, classified by cause."""

from __future__ import annotations

import logging
import re

import msgspec
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoPermissionError, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .logsafe import clean
from .metrics import REDIS_ERRORS

__all__ = [
    "ApiError",
    "BadCacheValue",
    "BadRequest",
    "CacheRefused",
    "CacheTimeout",
    "CacheUnavailable",
    "ErrorBody",
    "ErrorOut",
    "Forbidden",
    "MethodNotAllowed",
    "NotFound",
    "TooLarge",
    "TooManyStreams",
    "Unauthorized",
    "from_redis",
    "is_wrong_type",
]

log = logging.getLogger("fullon.cache_api.errors")


class ErrorBody(msgspec.Struct, kw_only=True, frozen=True):
    status: int
    code: str
    message: str


class ErrorOut(msgspec.Struct, kw_only=True, frozen=True):
    """Every error answer: ``{"error": {"status", "code", "message"}}``."""

    error: ErrorBody


class ApiError(Exception):
    status = 500
    code = "internal"

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers

    def error_out(self) -> ErrorOut:
        return ErrorOut(error=ErrorBody(status=self.status, code=self.code, message=self.message))


INTERNAL = ApiError("internal error")
"""The one answer to a failure nothing expected: 500 ``internal`` (its cause is logged, never
sent)."""


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class MethodNotAllowed(ApiError):
    status = 405
    code = "method_not_allowed"


class TooLarge(ApiError):
    """The answer asked for would hold more than this API builds in one answer: the message
    names the cap and the way to page through it."""

    status = 400
    code = "too_large"


class BadCacheValue(ApiError):
    """The one stored value the request asked for is not what fullon_cache writes (not JSON,
    the wrong shape, too large, or a key of another Redis type)."""

    status = 502
    code = "bad_cache_value"


class CacheRefused(ApiError):
    """Redis refused a command by ACL: the API's Redis user lacks a permission."""

    status = 502
    code = "cache_refused"


class CacheUnavailable(ApiError):
    status = 503
    code = "cache_unavailable"


class TooManyStreams(ApiError):
    status = 503
    code = "too_many_streams"


class CacheTimeout(ApiError):
    status = 504
    code = "cache_timeout"


# redis-py prefixes the error of a pipelined command with its position: "Command # 4 (HLEN
# tickers:zzz) of pipeline caused error: WRONGTYPE ...". The server's own message follows.
_PIPELINE_PREFIX = re.compile(r"^Command # \d+ \(.*?\) of pipeline caused error: ", re.DOTALL)
_NOPERM_COMMAND = re.compile(r"run the '([^']+)' command")


def _server_message(exc: BaseException) -> str:
    return _PIPELINE_PREFIX.sub("", str(exc), count=1)


def is_wrong_type(exc: object) -> bool:
    """Redis's WRONGTYPE error: the key holds another type than fullon_cache writes there."""
    return isinstance(exc, ResponseError) and _server_message(exc).startswith("WRONGTYPE")


def from_redis(exc: RedisError | TimeoutError) -> ApiError:
    """The one mapping of Redis failures to API errors, by cause (connection, timeout, wrong
    type, refused by ACL); the cause is logged and counted, never sent in detail."""
    error: ApiError
    if isinstance(exc, RedisTimeoutError | TimeoutError):
        kind, error = "timeout", CacheTimeout("the cache did not answer in time")
    elif is_wrong_type(exc):
        kind, error = "wrong_type", BadCacheValue("a cache key holds a value of the wrong type")
    elif isinstance(exc, NoPermissionError):
        found = _NOPERM_COMMAND.search(_server_message(exc))
        permission = f"+{found[1]}" if found else "a permission"
        kind = "refused"
        error = CacheRefused(f"the API's Redis user lacks {permission} (see the ACL line)")
    elif isinstance(exc, RedisConnectionError):
        kind, error = "unavailable", CacheUnavailable("the cache is unavailable")
    else:
        kind, error = "error", CacheUnavailable("the cache answered with an error")
    log.warning("redis %s: %s: %s", kind, type(exc).__name__, clean(_server_message(exc)))
    REDIS_ERRORS.labels(kind).inc()
    return error
