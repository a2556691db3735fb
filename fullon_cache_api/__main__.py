"""``python -m fullon_cache_api``: serve the API with hypercorn.

``--demo`` first starts a private redis-server on a free loopback port, loads the sample data
(fullon_cache's exact layout) into it, and stops it again when the server stops.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Container, Sequence
from typing import NoReturn, TypeVar

from hypercorn.config import Config
from hypercorn.run import run

from .settings import Settings, SettingsError

T = TypeVar("T")
APP_PATH = "fullon_cache_api.app:create_app()"
ENV = "FULLON_CACHE_API_"


LOG_LEVELS = ("debug", "info", "warning", "error")


def from_env(name: str, default: str, kind: Callable[[str], T], allowed: Container[T] = ()) -> T:
    """The default of a flag, from ``FULLON_CACHE_API_{name}``; an invalid value stops the start
    with a message that names the variable."""
    raw = os.environ.get(ENV + name) or default
    try:
        value = kind(raw)
    except ValueError:
        invalid(f"{ENV}{name}={raw!r} is not a valid {kind.__name__}")
    if allowed and value not in allowed:
        invalid(f"{ENV}{name}={raw!r} is not one of the allowed values")
    return value


def invalid(message: str) -> NoReturn:
    """Stop at start on an invalid setting: the message names the variable; exit status 2."""
    print(f"invalid setting: {message}", file=sys.stderr)
    raise SystemExit(2)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m fullon_cache_api",
        description="Serve the read-only fullon cache API with hypercorn. Redis is configured by "
        "REDIS_URL, or REDIS_HOST/REDIS_PORT/REDIS_DB/REDIS_PASSWORD (CACHE_* as fallback); "
        "API settings by FULLON_CACHE_API_* (see README).",
    )
    parser.add_argument(
        "--host",
        default=from_env("HOST", "127.0.0.1", str),
        help="address to bind (env FULLON_CACHE_API_HOST, default 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=from_env("PORT", "8000", int, range(1, 65536)),
        help="port to bind (env FULLON_CACHE_API_PORT, default 8000)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=from_env("WORKERS", "1", int, range(1, 1025)),
        help="worker processes (env FULLON_CACHE_API_WORKERS, default 1)",
    )
    parser.add_argument(
        "--log-level",
        default=from_env("LOG_LEVEL", "info", str.lower, LOG_LEVELS),
        choices=LOG_LEVELS,
        help="log level (env FULLON_CACHE_API_LOG_LEVEL, default info)",
    )
    parser.add_argument(
        "--graceful-timeout",
        type=float,
        default=from_env("GRACEFUL_TIMEOUT", "5", float),
        help="seconds in-flight requests get to finish on SIGTERM/Ctrl-C "
        "(env FULLON_CACHE_API_GRACEFUL_TIMEOUT, default 5)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="start a private redis-server with sample data and serve it; "
        "both stop on Ctrl-C or SIGTERM",
    )
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


def hypercorn_config(args: argparse.Namespace) -> Config:
    config = Config()
    config.application_path = APP_PATH
    config.bind = [f"{args.host}:{args.port}"]
    # One worker runs in this process; more are spawned (each with its own Redis pool).
    config.workers = 0 if args.workers == 1 else args.workers
    config.loglevel = args.log_level.upper()
    config.graceful_timeout = args.graceful_timeout
    config.accesslog = None
    # The server refuses larger WebSocket frames itself (close 1009), before the app reads them.
    config.websocket_max_message_size = Settings.from_env().ws_max_frame
    return config


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("fullon.cache_api")  # hypercorn logs its own messages
    logger.addHandler(handler)
    logger.setLevel(args.log_level.upper())
    try:
        Settings.from_env()  # fail at start, naming the variable, not in every worker
    except SettingsError as exc:
        invalid(str(exc))
    if args.demo:
        return demo(args)
    return run(hypercorn_config(args))


def demo(args: argparse.Namespace) -> int:
    import redis

    from .redis_server import RedisServer
    from .snapshot import load_snapshot, sample_snapshot

    server = RedisServer().start()
    try:
        with redis.Redis.from_url(server.url) as client:
            count = load_snapshot(client, sample_snapshot())
        os.environ["REDIS_URL"] = server.url
        base = f"http://{args.host}:{args.port}"
        print(
            f"fullon_cache_api demo: {count} sample keys in a private Redis at {server.url}\n"
            f"serving on {base}  (Ctrl-C stops the API and that Redis)\n\n"
            f"  curl {base}/health\n"
            f"  curl {base}/tickers\n"
            f"  curl {base}/tickers/binance/BTC/USDT\n"
            f"  curl {base}/tickers/hyperliquid/BTC/USDC:USDC\n"
            f"  curl {base}/exchanges\n",
            flush=True,
        )
        return run(hypercorn_config(args))
    finally:
        server.close()


if __name__ == "__main__":
    sys.exit(main())
