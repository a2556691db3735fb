"""The exceptions handlers and readers raise, and the one JSON error shape clients see."""

from __future__ import annotations

import logging

import msgspec
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .metrics import REDIS_ERRORS

__all__ = [
    "ApiError",
    "BadCacheValue",
    "BadRequest",
    "CacheTimeout",
    "CacheUnavailable",
    "ErrorBody",
    "ErrorOut",
    "Forbidden",
    "NotFound",
    "TooManyStreams",
    "Unauthorized",
    "from_redis",
    "wrong_type",
]

log = logging.getLogger("fullon.cache_api.errors")


class ErrorBody(msgspec.Struct, frozen=True):
    status: int
    code: str
    message: str


class ErrorOut(msgspec.Struct, frozen=True):
    """Every error answer: ``{"error": {"status", "code", "message"}}``."""

    error: ErrorBody


class ApiError(Exception):
    status = 500
    code = "internal"

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers

    def body(self) -> ErrorOut:
        return ErrorOut(ErrorBody(self.status, self.code, self.message))


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


class BadCacheValue(ApiError):
    """The one stored value the request asked for is not what fullon_cache writes."""

    status = 502
    code = "bad_cache_value"


class CacheUnavailable(ApiError):
    status = 503
    code = "cache_unavailable"


class TooManyStreams(ApiError):
    status = 503
    code = "too_many_streams"


class CacheTimeout(ApiError):
    status = 504
    code = "cache_timeout"


def wrong_type(exc: object) -> bool:
    """Redis's WRONGTYPE error: the key holds another type than fullon_cache writes there."""
    return isinstance(exc, ResponseError) and str(exc).startswith("WRONGTYPE")


def from_redis(exc: RedisError) -> ApiError:
    """The one mapping of redis-py errors to API errors (the cause is logged, not sent)."""
    log.warning("redis error: %s: %s", type(exc).__name__, exc)
    error: ApiError
    if isinstance(exc, RedisTimeoutError):
        kind, error = "timeout", CacheTimeout("the cache did not answer in time")
    elif wrong_type(exc):
        kind, error = "wrong_type", BadCacheValue("a cache key holds a value of the wrong type")
    else:
        kind, error = "unavailable", CacheUnavailable("the cache is unavailable")
    REDIS_ERRORS.labels(kind).inc()
    return error
