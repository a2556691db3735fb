"""fullon_cache_api: a read-only JSON HTTP API over the fullon trading system's Redis cache."""

from .app import create_app
from .auth import Resource
from .openapi import include_in_docs, merge_openapi
from .redis_clients import lifespan
from .settings import Settings, SettingsError
from .version import __version__

__all__ = [
    "Resource",
    "Settings",
    "SettingsError",
    "__version__",
    "create_app",
    "include_in_docs",
    "lifespan",
    "merge_openapi",
]
