"""The demo: a private redis-server, the sample data in fullon_cache's layout, and a feeder
that keeps it moving. Nothing here is used by the API itself (which only reads)."""

from __future__ import annotations

import secrets
import time

import redis

from .feeder import Feeder
from .redis_server import READ_ONLY_ACL, RedisServer
from .snapshot import load_snapshot, rebased, sample_snapshot

__all__ = ["DemoRedis"]

READER = "cache_api"  # the API reads the demo as the production read-only user would


class DemoRedis:
    """The demo's private Redis: the sample data re-based to now, kept live by the feeder, and a
    read-only user for the API. Its port, and so the API's ``reader_url``, are chosen before
    ``start()``: the settings can be checked before anything runs."""

    def __init__(self) -> None:
        self.server = RedisServer()
        self._password = secrets.token_urlsafe(16)
        self.reader_url = f"redis://{READER}:{self._password}@127.0.0.1:{self.server.port}/0"
        self._feeder: Feeder | None = None

    def start(self) -> int:
        """Start Redis, load the sample data and start the feeder; return the number of keys
        loaded. RuntimeError when no redis-server could be found or started."""
        self.server.start()
        with redis.Redis.from_url(self.server.url) as admin:
            acl = (*READ_ONLY_ACL.split(), f">{self._password}")
            admin.execute_command("ACL", "SETUSER", READER, *acl)
            keys = load_snapshot(admin, rebased(sample_snapshot(), time.time()))
        self._feeder = Feeder(self.server.url).start()
        return keys

    def stop_feeder(self) -> None:
        """Stop the feeder only: the data stays as it was, Redis and its users go on."""
        if self._feeder is not None:
            self._feeder.stop()
            self._feeder = None

    def stop(self) -> None:
        """Stop the feeder, then Redis, and remove its directory (after a partial start too)."""
        if self._feeder is not None:
            self._feeder.stop()
        self.server.close()
