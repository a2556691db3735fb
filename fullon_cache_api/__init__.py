"""fullon_cache_api: a read-only JSON HTTP API over the fullon trading system's Redis cache."""

__version__ = "0.1.0"

from .app import create_app
from .auth import Resource
from .client import lifespan
from .settings import Settings, SettingsError

__all__ = ["Resource", "Settings", "SettingsError", "__version__", "create_app", "lifespan"]
