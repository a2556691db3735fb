"""Kept for master_api, which imports ``fullon_cache_api.main.create_app``."""

from .app import create_app

__all__ = ["create_app"]
