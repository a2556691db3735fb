"""Scale-out reads on real processes: a replica by URL, and Redis Sentinel discovery.

A primary, a replica started with ``--replicaof`` and a sentinel (``redis-server --sentinel``)
run for the module. Data goes into the primary; the app reads it through the replica, or
through whichever server Sentinel names, as the read-only ACL user. CLIENT LIST on each server
shows where the app's connections (named ``fullon_cache_api``) landed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import redis
from redis.asyncio import BlockingConnectionPool
from starlette.applications import Starlette

from fullon_cache_api import Settings, create_app, lifespan
from fullon_cache_api.demo.redis_server import (
    READ_ONLY_ACL,
    RedisServer,
    find_redis_server,
    free_port,
)
from fullon_cache_api.demo.snapshot import load_snapshot
from fullon_cache_api.hub import StreamHub
from fullon_cache_api.redis_clients import connect, single_connection_pool

from support import (
    PATIENT,
    READER,
    READER_PASSWORD,
    SNAPSHOT,
    WRITTEN_AT,
    Clock,
    api_connections,
    expect,
    freshness_run,
    http_client,
    reader_url,
    redis_process,
    snapshot_value,
    stopped,
)

pytestmark = pytest.mark.slow
BTC = "/tickers/binance/BTC/USDT"
SERVICE = "mymaster"
# Credentials and db come from the URL; its host is never contacted when sentinels are set.
SENTINEL_URL = f"redis://{READER}:{READER_PASSWORD}@unused.invalid:1/0"


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.02)


def admin_of(port: int) -> redis.Redis:
    return redis.Redis(port=port, decode_responses=True, socket_timeout=5)


def stored_tick(exchange: str, symbol: str) -> dict[str, Any]:
    tick: dict[str, Any] = json.loads(snapshot_value(f"tickers:{exchange}")[symbol])
    return tick


def prices(body: dict[str, Any]) -> dict[str, Any]:
    return {name: body[name] for name in ("price", "bid", "ask", "last", "volume")}


class SentinelServer:
    """One ``redis-server --sentinel`` process on 127.0.0.1, monitoring one master.

    RedisServer writes no config file and a sentinel needs one (it rewrites it), so this
    writes ``sentinel.conf`` in its own temporary directory."""

    def __init__(self, master_port: int) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="fullon-cache-api-sentinel-"))
        self.master_port = master_port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> SentinelServer:
        config = self.dir / "sentinel.conf"
        config.write_text(
            f"port {self.port}\n"
            "bind 127.0.0.1\n"
            f"dir {self.dir}\n"
            f"logfile {self.dir / 'sentinel.log'}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.master_port} 1\n"
            f"sentinel down-after-milliseconds {SERVICE} 1000\n"
        )
        command = [find_redis_server(), str(config), "--sentinel"]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
        wait_for(self._answers, f"the sentinel on port {self.port}", timeout)
        return self

    def _answers(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.log()
        try:
            with redis.Redis(port=self.port, socket_timeout=0.5) as client:
                return bool(client.ping())
        except redis.ConnectionError:
            return False

    def log(self) -> str:
        log = self.dir / "sentinel.log"
        return log.read_text()[-2000:] if log.exists() else ""

    def close(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def primary() -> Iterator[RedisServer]:
    with redis_process(prepared=False) as server:
        with admin_of(server.port) as admin:
            admin.execute_command(
                "ACL", "SETUSER", READER, *READ_ONLY_ACL.split(), f">{READER_PASSWORD}"
            )
        yield server


@pytest.fixture(scope="module")
def replica(primary: RedisServer) -> Iterator[RedisServer]:
    """A replica of ``primary`` holding the snapshot, which was written to the primary only."""
    server = RedisServer(args=("--replicaof", "127.0.0.1", str(primary.port)))
    try:
        server.start()
        with admin_of(server.port) as admin, admin_of(primary.port) as primary_admin:
            # ACLs are not replicated: the read-only user is created on the replica itself.
            admin.execute_command(
                "ACL", "SETUSER", READER, *READ_ONLY_ACL.split(), f">{READER_PASSWORD}"
            )
            wait_for(
                lambda: admin.info("replication")["master_link_status"] == "up",
                "the replica's link to the primary",
            )
            with pytest.raises(redis.ReadOnlyError):
                admin.set("scaleout:probe", "1")  # a replica refuses writes
            assert admin.dbsize() == 0
            written = load_snapshot(primary_admin, SNAPSHOT)
            assert primary_admin.dbsize() == written
            wait_for(lambda: admin.dbsize() == written, "the snapshot on the replica")
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def sentinel(primary: RedisServer, replica: RedisServer) -> Iterator[SentinelServer]:
    """A sentinel monitoring ``primary``, once it knows ``replica`` as a healthy replica."""
    server = SentinelServer(primary.port)
    try:
        server.start()

        def knows_replica() -> bool:
            with redis.Redis(port=server.port, decode_responses=True) as client:
                known = client.sentinel_slaves(SERVICE)  # parsed into dicts by redis-py
            for entry in known:
                if int(entry["port"]) == replica.port:
                    return entry["flags"] == "slave" and entry["master-link-status"] == "ok"
            return False

        wait_for(knows_replica, "the sentinel to know the replica")
        yield server
    finally:
        server.close()


def app_for(settings: Settings) -> Starlette:
    return create_app(settings, clock=Clock(WRITTEN_AT + 30))


def sentinel_settings(sentinel: SentinelServer, **values: Any) -> Settings:
    return Settings(
        redis_url=SENTINEL_URL, sentinels=(("127.0.0.1", sentinel.port),), **{**PATIENT, **values}
    )


def sentinel_connections(sentinel: SentinelServer) -> int:
    with redis.Redis(port=sentinel.port) as client:
        return sum(1 for c in client.client_list() if c["name"] == "fullon_cache_api")


async def test_a_replica_url_serves_what_the_primary_wrote(primary, replica) -> None:
    app = app_for(Settings(redis_url=reader_url(replica), **PATIENT))
    async with lifespan(app), http_client(app) as http:
        assert prices(expect(await http.get(BTC))) == prices(stored_tick("binance", "BTC/USDT"))
        info = expect(await http.get("/info"))["redis"]
        assert info["role"] == "slave" and info["db"] == 0

        # A ticker written to the primary after the app started is served from the replica.
        tick = {"symbol": "NEW/USDT", "price": 7.25, "bid": 7.2, "ask": 7.3, "last": 7.25,
                "volume": 99.0, "time": WRITTEN_AT}  # fmt: skip
        with admin_of(primary.port) as admin:
            admin.hset("tickers:binance", "NEW/USDT", json.dumps(tick))
        try:
            deadline = time.monotonic() + 5
            while (response := await http.get("/tickers/binance/NEW/USDT")).status_code == 404:
                assert time.monotonic() < deadline, "the new ticker never reached the replica"
                await anyio.sleep(0.02)
            assert prices(expect(response)) == prices(tick)
            # Every connection the app opened is on the replica, none on the primary.
            assert api_connections(replica) >= 1
            assert api_connections(primary) == 0
        finally:
            with admin_of(primary.port) as admin:
                admin.hdel("tickers:binance", "NEW/USDT")
    assert api_connections(replica) == 0


async def test_ticker_updates_published_on_the_primary_reach_a_replica_subscription(
    primary, replica
) -> None:
    settings = Settings(redis_url=reader_url(replica), **PATIENT)
    redis_client = connect(settings)
    hub = StreamHub(lambda: single_connection_pool(redis_client.connection_pool), settings)
    listener = hub.listen_tickers("binance", None)
    try:
        await hub.connected()
        with admin_of(primary.port) as admin:
            admin.publish("ticker_updates:binance:BTC/USDT", '{"price": 1}')
        assert await listener.next_batch(5) == [("binance", "BTC/USDT", b'{"price": 1}')]
    finally:
        listener.close()
        await hub.aclose()
        await redis_client.aclose()


@pytest.mark.parametrize(
    ("read_from", "role"), [("replica", "slave"), ("master", "master")], ids=["replica", "master"]
)
async def test_sentinel_finds_the_server_named_by_read_from(
    primary, replica, sentinel, read_from: str, role: str
) -> None:
    app = app_for(sentinel_settings(sentinel, read_from=read_from))
    used, unused = (replica, primary) if read_from == "replica" else (primary, replica)
    async with lifespan(app), http_client(app) as http:
        assert prices(expect(await http.get(BTC))) == prices(stored_tick("binance", "BTC/USDT"))
        kraken = expect(await http.get("/tickers/kraken"))["items"]
        assert {row["symbol"] for row in kraken} == set(snapshot_value("tickers:kraken"))
        assert expect(await http.get("/info"))["redis"]["role"] == role
        assert expect(await http.get("/health"))["status"] == "ok"
        assert api_connections(used) >= 1
        assert api_connections(unused) == 0
        assert sentinel_connections(sentinel) >= 1  # discovery asked the sentinel
    # Closing the app closes its pools: Redis connections and sentinel connections alike.
    assert api_connections(used) == 0
    assert sentinel_connections(sentinel) == 0


async def test_sentinel_pool_waits_for_a_free_connection(replica, sentinel) -> None:
    app = app_for(sentinel_settings(sentinel, pool_size=3, pool_timeout=10))
    statuses: list[int] = []
    async with lifespan(app), http_client(app) as http:

        async def get(path: str) -> None:
            statuses.append((await http.get(path)).status_code)

        async with anyio.create_task_group() as tg:
            for i in range(150):
                tg.start_soon(get, ("/tickers", BTC, "/tickers/kraken")[i % 3])
        assert statuses == [200] * 150
        assert 1 <= api_connections(replica) <= 3
        pool = app.state.backend.resources().redis.connection_pool
        assert isinstance(pool, BlockingConnectionPool) and pool.timeout == 10


async def test_unreachable_sentinels_are_503_fast() -> None:
    settings = Settings(
        redis_url=SENTINEL_URL,
        sentinels=(("127.0.0.1", free_port()), ("127.0.0.1", free_port())),
        connect_timeout=0.5,
    )
    app = app_for(settings)
    async with lifespan(app), http_client(app) as http:
        for path in (BTC, "/tickers"):
            start = time.monotonic()
            assert expect(await http.get(path), 503)["error"]["code"] == "cache_unavailable"
            assert time.monotonic() - start < 5  # refused at once, not retried: seconds of margin
        assert expect(await http.get("/health"), 503)["status"] == "unavailable"


async def test_sentinel_connections_keep_the_command_timeout(replica, sentinel) -> None:
    app = app_for(sentinel_settings(sentinel, command_timeout=2))
    async with lifespan(app), http_client(app) as http:
        assert expect(await http.get(BTC))["bid"] == stored_tick("binance", "BTC/USDT")["bid"]
        with stopped(replica), anyio.fail_after(30):  # answered while the replica stalls
            start = time.monotonic()
            assert expect(await http.get(BTC), 504)["error"]["code"] == "cache_timeout"
            assert time.monotonic() - start >= 1.9  # it waited for the command timeout
        assert expect(await http.get(BTC))["bid"] == stored_tick("binance", "BTC/USDT")["bid"]


def test_reading_a_replica_no_read_is_older_than_a_write_the_replica_acknowledged(
    primary, replica
) -> None:
    """The freshness run of test_local_cache with the writer on the primary and the API
    reading the replica (tracking runs on the replica, which invalidates as it applies the
    primary's writes): a write counts as acknowledged once WAIT says the replica has it; no
    read that began after that answers an older price."""
    report = freshness_run(primary.port, reader_url(replica), replicas=1)
    assert report.stale == [], report
    assert report.reads == 1200 and report.hits > 0, report
