"""``python -m fullon_cache_api``: serve the API with hypercorn.

The settings are read once, here: the server's (``ServerSettings``, each a flag whose default
its variable gives) and the app's (``Settings.from_env``), so that a bad value stops the start
in one line; then the listening socket is bound, so that a busy port does too. The app,
``create_app(settings)``, is served by ``hypercorn.asyncio.serve`` in this process, or, with
``--workers N``, in N processes that share the socket while this one waits for them; each
worker is given both settings objects, and reads neither the environment nor the command line.
SIGINT, SIGTERM and SIGHUP stop the server gracefully.

``--demo`` first starts a private redis-server on a free loopback port, loads the sample data
(fullon_cache's exact layout) re-based to now, and keeps it moving with the demo feeder; the
API reads it as a read-only Redis user. Redis is stopped after the server, and its directory
removed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import ipaddress
import logging
import multiprocessing
import multiprocessing.connection
import os
import shutil
import signal
import socket
import struct
import sys
import tempfile
import textwrap
from collections.abc import Callable, Coroutine, Mapping, Sequence
from types import FrameType
from typing import Any, NoReturn, TypeVar
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from hypercorn.asyncio import serve, tcp_server
from hypercorn.config import Config
from hypercorn.events import Closed, Event, RawData
from hypercorn.logging import Logger
from hypercorn.protocol import ProtocolWrapper
from hypercorn.protocol.h11 import H2CProtocolRequiredError, H2ProtocolAssumedError
from hypercorn.typing import ResponseSummary, WWWScope
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from . import Settings, SettingsError, create_app
from .demo import DemoRedis
from .logsafe import clean
from .redis_clients import end_streams
from .requestids import JsonFormatter, RequestIdFilter
from .routing import template
from .settings import Kind, OneOf, ServerSettings, Setting, Switch, declared

T = TypeVar("T")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# One line per request: client "GET /path?query 1.1" status bytes seconds, built by
# ``AccessLog`` from what the client sent, made safe (see ``AccessLog.atoms``).
ACCESS_LOG_FORMAT = '%(h)s "%(R)s" %(s)s %(b)s %(L)ss'
SECRET_QUERY_PARAMS = frozenset({"token"})
"""Query parameters whose values never reach a log (a WebSocket's ``?token=``)."""
# The answer to an HTTP/2 request while h2c is off, in the API's error shape.
HTTP2_REFUSED = (
    b'{"error":{"status":505,"code":"http_version_not_supported",'
    b'"message":"HTTP/2 is not served here: use HTTP/1.1 (the server allows h2c with --h2c)"}}'
)


def _http2_frame(kind: int, payload: bytes) -> bytes:
    """An HTTP/2 frame on the connection (stream 0), no flags."""
    return struct.pack(">I", len(payload))[1:] + bytes([kind, 0]) + bytes(4) + payload


# What an HTTP/2 connection gets while h2c is off, before any of its frames is read: the
# server's preface (an empty SETTINGS frame), then GOAWAY with HTTP_1_1_REQUIRED (0xd) and no
# stream processed; the connection is then closed.
HTTP2_GOAWAY = _http2_frame(0x4, b"") + _http2_frame(
    0x7, struct.pack(">II", 0, 0xD) + b"HTTP/2 is not served here: use HTTP/1.1"
)

log = logging.getLogger("fullon.cache_api.server")


def fail(message: str) -> NoReturn:
    """Stop the start: one line on stderr naming the cause, exit status 2, no traceback."""
    print(f"fullon_cache_api: {message}", file=sys.stderr)
    raise SystemExit(2)


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        fail(message)  # one line, like every other start error (--help shows the usage)


def parse_args(argv: Sequence[str] | None) -> ServerSettings:
    """The server's settings: a flag for each (``ServerSettings``), whose default its variable
    gives; ``--help`` also lists the app's settings (``Settings``), read from the environment
    only."""
    try:
        defaults = ServerSettings.from_env()  # a bad variable stops the start, --help included
    except SettingsError as exc:
        fail(f"invalid setting: {exc}")
    parser = Parser(
        prog="python -m fullon_cache_api",
        description="Serve the read-only fullon cache API with hypercorn.",
        epilog=app_settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for setting in declared(ServerSettings):
        add_flag(parser, setting, getattr(defaults, setting.name))
    return ServerSettings(**vars(parser.parse_args(argv)))


def add_flag(parser: argparse.ArgumentParser, setting: Setting, default: Any) -> None:
    """``setting``'s flag: ``--name`` (and ``--no-name`` for a switch its variable may turn on),
    its help saying its variable and its declared default."""
    said = [f"env {setting.variables[0]}"] if setting.variables else []
    said.append(f"default {setting.shown_default or 'unset'}")
    help = f"{setting.help} ({', '.join(said)})".replace("%", "%%")
    if isinstance(setting.kind, Switch):
        action = argparse.BooleanOptionalAction if setting.variables else "store_true"
        parser.add_argument(setting.option, action=action, default=default, help=help)
        return
    choices = setting.kind.values if isinstance(setting.kind, OneOf) else None
    kind = flag_type(setting.kind)
    parser.add_argument(setting.option, type=kind, choices=choices, default=default, help=help)


def flag_type(kind: Kind[T]) -> Callable[[str], T]:
    """argparse's ``type`` for a flag of ``kind``: its value checked as its variable's is."""

    def value(text: str) -> T:
        parsed = kind.parse(text)  # ValueError: "invalid <kind> value"
        if not kind.allows(parsed):
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind.rule}")
        return parsed

    value.__name__ = kind.name
    return value


def app_settings_help() -> str:
    """The app's settings, for ``--help``: each variable (fallbacks in parentheses), its
    default and its help."""
    lines = ["settings of the API, from the environment (an app mounted in a host reads them too):"]
    for setting in declared(Settings):
        for each in (setting, *setting.parts):
            first, *fallbacks = each.variables
            also = f" ({', '.join(fallbacks)})" if fallbacks else ""
            lines.append(f"  {first}{also}, default {each.shown_default or 'unset'}")
            lines += textwrap.wrap(each.help, 92, initial_indent=" " * 6, subsequent_indent=" " * 6)
    return "\n".join(lines)


def loop_runner(choice: str) -> Callable[[Coroutine[Any, Any, None]], None]:
    """What runs the server: ``uvloop.run``, whose event loop does less work per request than
    asyncio's (benchmarks/README.md compares them), or ``asyncio.run``; ``auto`` takes uvloop
    when it is installed."""
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                fail(
                    "--loop uvloop: uvloop is not installed (pip install fullon_cache_api[uvloop])"
                )
        else:
            return uvloop.run
    return asyncio.run


def configure_logging(level: str, log_format: str = "text") -> None:
    handler = logging.StreamHandler()  # stderr
    handler.addFilter(RequestIdFilter())  # record.request_id, on every logger's records
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    handler.setFormatter(formatter)
    logger = logging.getLogger("fullon.cache_api")  # hypercorn's own messages included
    logger.addHandler(handler)
    logger.setLevel(level.upper())


def token_command(argv: Sequence[str]) -> int:
    """``token new NAME --scope market [--scope ...]``: a strong random token, printed once,
    and the ``[[tokens]]`` lines to paste into the tokens file (which holds only its digest)."""
    from .tokens import NAME, SCOPES, digest, new_token

    parser = Parser(prog="python -m fullon_cache_api token")
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("new", help="make a token and print its tokens-file entry")
    new.add_argument("name", help="the token's name (in logs and /metrics)")
    new.add_argument("--scope", action="append", choices=SCOPES, required=True, dest="scopes")
    args = parser.parse_args(argv)
    if not NAME.fullmatch(args.name):
        fail("token new: the name must be 1 to 64 of A-Z a-z 0-9 _ . : -")
    token = new_token()
    scopes = ", ".join(f'"{scope}"' for scope in dict.fromkeys(args.scopes))
    print(f"# the token (shown once; give it to its user): {token}")
    print("[[tokens]]")
    print(f'name = "{args.name}"')
    print(f'sha256 = "{digest(token)}"')
    print(f"scopes = [{scopes}]")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else list(argv)
    if given[:1] == ["token"]:
        return token_command(given[1:])
    server = parse_args(argv)
    configure_logging(server.log_level, server.log_format)
    interrupt_on_signals()
    try:
        return run(server)
    except KeyboardInterrupt:
        return 0  # stopped by a signal before (or without) serving; run() has cleaned up


def run(server: ServerSettings) -> int:
    with contextlib.ExitStack() as undo:  # everything started below is stopped in reverse
        demo = DemoRedis() if server.demo else None  # a free port; nothing started yet
        env = os.environ if demo is None else {**os.environ, "REDIS_URL": demo.reader_url}
        settings = checked_settings(env)
        listener = listen(server.host, server.port)
        undo.callback(listener.close)
        log_start(server, settings)
        if demo is not None:
            undo.callback(demo.stop)  # after the server's graceful stop
            try:
                keys = demo.start()
            except RuntimeError as exc:  # no redis-server binary, or it did not start
                fail(f"demo: {exc}")
            print_banner(server, keys, demo.server.url, demo.reader_url)
        if server.workers == 1:
            loop_runner(server.loop)(serve_app(server, settings, listener))
            return 0
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # prometheus_client's own variable, read in each worker as it imports it: the one
            # thing the workers are given through the environment.
            metrics_dir = tempfile.mkdtemp(prefix="fullon-cache-api-metrics-")
            undo.callback(shutil.rmtree, metrics_dir, ignore_errors=True)
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # before the workers start
            log.info("metrics of the %d workers shared in %s", server.workers, metrics_dir)
        return run_workers(server, settings, listener)


def checked_settings(env: Mapping[str, str]) -> Settings:
    """The API's settings, read here once, so that a bad value stops the start in one line;
    the app, in this process or in each worker, is given them (``create_app(settings)``)."""
    try:
        return Settings.from_env(env)  # REDIS_URL read by redis-py's parse_url there
    except SettingsError as exc:
        fail(f"invalid setting: {exc}")


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here: a busy port or a bad address stops the start."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


def log_start(server: ServerSettings, settings: Settings) -> None:
    count = len(settings.tokens)
    auth = f"{count} token{'s' * (count != 1)}" if count else "open"
    if settings.tokens_file:
        auth = f"tokens file {settings.tokens_file}" + (f" and {auth}" if count else "")
    loop = "uvloop" if loop_runner(server.loop) is not asyncio.run else "asyncio"
    log.info("reading %s; auth: %s; event loop: %s", redis_target(settings), auth, loop)
    if not settings.tokens and not settings.tokens_file and not is_loopback(server.host):
        log.warning(
            "listening on %s with auth open: anyone who reaches it reads the cache "
            "(set FULLON_CACHE_API_TOKENS)",
            server.host,
        )


def redis_target(settings: Settings) -> str:
    """Where the API reads, for the log: the URL with its password masked (and without its
    query, which may carry one too), and the sentinels when Sentinel finds the server."""
    parts = urlsplit(settings.redis_url)
    credentials, at, address = parts.netloc.rpartition("@")
    user, colon, _ = credentials.partition(":")
    netloc = f"{user}{':***' if colon else ''}{at}{address}"
    url = urlunsplit(parts._replace(netloc=netloc, query=""))
    if not settings.sentinels:
        return url
    sentinels = ",".join(f"{host}:{port}" for host, port in settings.sentinels)
    return (
        f"sentinels {sentinels} (service {settings.sentinel_service}, "
        f"from the {settings.read_from}) as {url}"
    )


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def print_banner(server: ServerSettings, keys: int, redis_url: str, reader_url: str) -> None:
    """The demo's links, and ``reader_url``: the demo Redis as its read-only user, which a host
    that mounts the API (README, "Mounting in master_api") reads the demo with."""
    host = f"[{server.host}]" if ":" in server.host else server.host
    base = f"http://{host}:{server.port}"
    print(
        f"fullon_cache_api demo: {keys} sample keys, re-based to now and fed live, "
        f"in a private Redis at {redis_url}\n"
        f"serving on {base}  (Ctrl-C stops the API, then that Redis)\n\n"
        f"  home       {base}/\n"
        f"  API docs   {base}/docs\n"
        f"  live page  {base}/ui\n"
        f"  OpenAPI    {base}/openapi.json\n"
        f"  health     {base}/health\n\n"
        f"  curl {base}/tickers/binance/BTC/USDT\n"
        f"  curl {base}/processes/health\n"
        f"  curl -N {base}/stream/tickers\n\n"
        f"A host that mounts the API reads this demo as its read-only user with:\n"
        f"  REDIS_URL={reader_url}\n",
        flush=True,
    )


class AccessLog(Logger):
    """hypercorn's logger, whose access lines are built only from what the format uses, each
    client-chosen part made safe: a token in the query is replaced by ``<redacted>`` (headers,
    ``Authorization`` among them, and the environment are never offered to the format), and
    control characters are escaped and long values cut (``logsafe.clean``): one line per
    request, which a client cannot split or forge. Each access record also carries the route
    (its template, null when none matched), the status and the duration in seconds, for
    ``--log-format json``; the request's id comes with the record, as on every other line."""

    async def access(
        self, request: WWWScope, response: ResponseSummary | None, request_time: float
    ) -> None:
        if self.access_logger is not None:
            route = getattr(request.get("route"), "path", None)
            extra = {
                "route": None if route is None else template(route),
                "status": None if response is None else response["status"],
                "duration": round(request_time, 6),
            }
            atoms = self.atoms(request, response, request_time)
            self.access_logger.info(self.access_log_format, atoms, extra=extra)

    def atoms(
        self, request: WWWScope, response: ResponseSummary | None, request_time: float
    ) -> Mapping[str, str]:
        method = request["method"] if request["type"] == "http" else "GET"
        query = redact_query(request["query_string"].decode("latin-1"))
        target = request["path"] + (f"?{query}" if query else "")
        protocol = request.get("http_version", "ws")
        client = request.get("client")
        status, size = "-", "-"
        if response is not None:
            status = str(response["status"])
            for name, value in response.get("headers", ()):
                if name.lower() == b"content-length":
                    size = value.decode("latin-1")
        return {
            "h": ":".join(map(str, client)) if client else "-",
            "R": f"{clean(method, 20)} {clean(target)} {clean(protocol, 10)}",
            "s": status,
            "b": clean(size, 20),
            "L": f"{request_time:.6f}",
        }


def redact_query(query: str) -> str:
    """``query`` with the value of each secret parameter (however its name is encoded)
    replaced by ``<redacted>``."""
    parts = query.split("&")
    for index, part in enumerate(parts):
        name, _, _ = part.partition("=")
        if unquote_plus(name).strip().lower() in SECRET_QUERY_PARAMS:
            parts[index] = f"{name}=<redacted>"
    return "&".join(parts)


def hypercorn_config(server: ServerSettings, settings: Settings, listener: socket.socket) -> Config:
    config = Config()
    config.bind = [f"fd://{listener.detach()}"]  # hypercorn owns the socket from here
    config.graceful_timeout = server.graceful_timeout
    # hypercorn's keep-alive timer runs from a connection's start (and each answer's end) until
    # a whole request head has arrived, however slowly it trickles in, so it bounds a slow or
    # stalled request too. (hypercorn's read_timeout would also cut /stream/tickers clients,
    # which send nothing after their request.) The API reads no request body: it answers at
    # once, and hypercorn then closes a connection whose body is still coming.
    config.keep_alive_timeout = server.read_timeout
    config.include_server_header = False  # no product name and version to fingerprint
    config.errorlog = logging.getLogger("fullon.cache_api.server")
    config.accesslog = logging.getLogger("fullon.cache_api.access") if server.access_log else None
    config.access_log_format = ACCESS_LOG_FORMAT
    config.logger_class = AccessLog
    # The server refuses larger WebSocket frames itself (close 1009), before the app reads them.
    config.websocket_max_message_size = settings.ws_max_frame
    return config


async def serve_app(server: ServerSettings, settings: Settings, listener: socket.socket) -> None:
    app = create_app(settings)
    if not server.h2c:
        tcp_server.ProtocolWrapper = Http1Only  # type: ignore[attr-defined]  # no option
    served = app if server.h2c else refuse_http2(app)
    config = hypercorn_config(server, settings, listener)
    trigger = functools.partial(_shutdown_requested, app)
    # (Starlette's ASGI types and hypercorn's describe the same callables differently.)
    await serve(served, config, shutdown_trigger=trigger)  # type: ignore[arg-type]


async def _shutdown_requested(app: Starlette) -> None:
    """hypercorn's shutdown trigger: returns on the first SIGINT, SIGTERM or SIGHUP, and
    hypercorn then stops accepting and gives the requests in flight ``--graceful-timeout``
    seconds. Open live streams and WebSockets never end by themselves: they are ended here first
    (each stream gets a last ``event: end``, each WebSocket a close 1001), so the stop does not
    wait for them. Later signals are ignored, so that the stop runs to its end."""
    loop = asyncio.get_running_loop()
    requested = asyncio.Event()
    for signum in SIGNALS:
        loop.add_signal_handler(signum, requested.set)
    try:
        await requested.wait()
    finally:
        for signum in SIGNALS:
            loop.remove_signal_handler(signum)
            signal.signal(signum, signal.SIG_IGN)
    await end_streams(app)


def interrupt_on_signals() -> None:
    """Outside hypercorn's serving (while starting, and in a process waiting on workers),
    SIGINT, SIGTERM and SIGHUP all interrupt like Ctrl-C, so everything started so far is
    stopped on the way out. The first one ignores the rest: the stop runs to its end."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        for each in SIGNALS:
            signal.signal(each, signal.SIG_IGN)
        raise KeyboardInterrupt

    for signum in SIGNALS:
        signal.signal(signum, interrupt)


class Http1Only(ProtocolWrapper):
    """A cleartext connection of hypercorn's that stays HTTP/1.1: hypercorn speaks HTTP/2 to any
    client that asks (by prior knowledge, ``PRI * HTTP/2.0``, or by ``Upgrade: h2c``) and has no
    option to stop it. Here such a connection is refused before any of its HTTP/2 frames is
    read (``HTTP2_GOAWAY``, then closed), so none of its streams costs the server anything.
    ``--h2c`` serves HTTP/2 (hypercorn's own ``ProtocolWrapper``)."""

    refused = False

    async def handle(self, event: Event) -> None:
        if self.refused and not isinstance(event, Closed):
            return  # what the client still sends after the refusal
        try:
            await self.protocol.handle(event)
        except (H2ProtocolAssumedError, H2CProtocolRequiredError):
            self.refused = True
            await self.send(RawData(data=HTTP2_GOAWAY))
            await self.send(Closed())


def refuse_http2(app: ASGIApp) -> ASGIApp:
    """HTTP/1.1 only: an HTTP/2 request that reaches the app anyway (``Http1Only`` refuses
    them on hypercorn's cleartext connections) is answered 505 here, before the app.
    ``--h2c`` serves them."""

    async def http1_only(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("http_version") != "2":
            await app(scope, receive, send)
        elif scope["type"] == "http":
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 505, "headers": headers})
            await send({"type": "http.response.body", "body": HTTP2_REFUSED})
        else:  # a WebSocket over HTTP/2: refused before it is accepted
            await send({"type": "websocket.close", "code": 1002})

    return http1_only


def run_workers(server: ServerSettings, settings: Settings, listener: socket.socket) -> int:
    """``--workers`` processes, each serving the shared socket as a single process does. This
    one waits until a stop signal or a worker's end, then stops every worker. Each worker is
    given the settings read here as arguments of its process (spawn pickles them): it reads
    neither the environment nor the command line again."""
    # A spawned worker finds its target by module name. Run as ``python -m``, this module is
    # ``__main__``, which spawn does not import again in a worker: take it by its own name.
    from fullon_cache_api.__main__ import worker_main

    # spawn: fresh interpreters, with none of this process's threads and connections
    context = multiprocessing.get_context("spawn")
    workers: list[multiprocessing.context.SpawnProcess] = []
    try:
        for n in range(server.workers):
            given = (server, settings, listener)
            worker = context.Process(target=worker_main, args=given, name=f"worker-{n}")
            worker.start()
            workers.append(worker)
        multiprocessing.connection.wait([worker.sentinel for worker in workers])
        log.error("a worker exited by itself: stopping the others")
    except KeyboardInterrupt:
        pass  # a stop signal (see interrupt_on_signals)
    finally:
        for worker in workers:
            worker.terminate()  # SIGTERM: its own graceful stop
        for worker in workers:
            worker.join(server.graceful_timeout + 10)
            if worker.exitcode is None:
                worker.kill()
                worker.join()
    return 0 if all(worker.exitcode == 0 for worker in workers) else 1


def worker_main(server: ServerSettings, settings: Settings, listener: socket.socket) -> None:
    configure_logging(server.log_level, server.log_format)
    interrupt_on_signals()
    with contextlib.suppress(KeyboardInterrupt):
        loop_runner(server.loop)(serve_app(server, settings, listener))


if __name__ == "__main__":
    sys.exit(main())
