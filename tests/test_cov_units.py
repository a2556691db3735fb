"""Small parts other tests take only along their main path: the rate limiter's table of
buckets when it is full, request ids and JSON log lines outside a request, the settings'
kinds read as flags, and the demo's market, snapshot loader and Redis before any start."""

from __future__ import annotations

import json
import logging
import random
import sys
from pathlib import Path

import pytest
import redis

from fullon_cache_api import Settings, create_app, lifespan
from fullon_cache_api.auth import Buckets
from fullon_cache_api.context import Ctx
from fullon_cache_api.demo import DemoRedis
from fullon_cache_api.demo.market import Market
from fullon_cache_api.demo.snapshot import load_snapshot, rebased
from fullon_cache_api.requestids import (
    JsonFormatter,
    RequestIdFilter,
    current_request_id,
    reset_request_id,
    set_request_id,
)
from fullon_cache_api.settings import Addresses, TokensFile

from support import Clock


def test_a_full_table_of_buckets_forgets_the_full_ones_and_keeps_the_held_back() -> None:
    """Past ``Buckets.MAX`` keys, a new key makes room by forgetting the buckets that have
    filled up again (they hold nothing); a client still held back keeps its bucket."""
    clock = Clock(0.0)
    buckets = Buckets(clock)
    assert buckets.take("busy", rate=1.0, burst=2) == 0.0
    assert buckets.take("busy", rate=1.0, burst=2) == 0.0  # empty now
    for n in range(Buckets.MAX - 1):
        assert buckets.take(f"client{n}", rate=1.0, burst=2) == 0.0  # one left in each
    assert len(buckets.buckets) == Buckets.MAX
    clock.now = 1.5  # the others are full again; busy has 1.5 of 2
    assert buckets.take("client0", rate=1.0, burst=2) == 0.0  # a known key: nothing forgotten
    assert len(buckets.buckets) == Buckets.MAX
    assert buckets.take("new", rate=1.0, burst=2) == 0.0
    assert set(buckets.buckets) == {"busy", "client0", "new"}  # client0 has 1 of 2 left
    assert buckets.take("busy", rate=1.0, burst=2) == 0.0  # 0.5 left: still held back next
    assert buckets.take("busy", rate=1.0, burst=2) == 0.5


def test_outside_an_event_loop_a_request_id_is_the_threads() -> None:
    assert current_request_id() is None
    token = set_request_id("job-7")
    try:
        assert current_request_id() == "job-7"
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
        assert RequestIdFilter().filter(record) and record.request_id == "job-7"  # type: ignore[attr-defined]
    finally:
        reset_request_id(token)
    assert current_request_id() is None


def test_a_record_that_names_its_request_keeps_it() -> None:
    """A record that already carries a request id (another task's, passed in ``extra``) is
    not given the current one."""
    token = set_request_id("current")
    try:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
        record.request_id = "given"
        assert RequestIdFilter().filter(record)
        assert record.request_id == "given"
        line = json.loads(JsonFormatter().format(record))
        assert line["request_id"] == "given"
    finally:
        reset_request_id(token)


def test_a_json_line_carries_its_traceback_or_the_text_of_one() -> None:
    formatter = JsonFormatter()
    try:
        raise KeyError("gone")
    except KeyError:
        raised = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    line = json.loads(formatter.format(raised))
    assert line["message"] == "failed" and line["request_id"] is None
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert line["exception"].endswith("KeyError: 'gone'")
    formatted = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, None)
    formatted.exc_text = "Traceback (from another process)"  # formatted once already
    line = json.loads(formatter.format(formatted))
    assert line["exception"] == "Traceback (from another process)"
    plain = logging.LogRecord("x", logging.INFO, __file__, 1, "fine", None, None)
    assert "exception" not in json.loads(formatter.format(plain))


def test_the_kinds_of_app_settings_parse_text_as_their_variables_read_it(tmp_path: Path) -> None:
    """``parse`` (what a flag would use) reads as ``read`` does (what the environment uses)."""
    assert Addresses().parse("10.0.0.1:26379, [::1]:26380") == (
        ("10.0.0.1", 26379),
        ("::1", 26380),
    )
    path = tmp_path / "tokens.toml"
    assert TokensFile().parse(str(path)) == str(path)  # read later, by ``read``


def test_the_market_has_no_price_for_an_asset_it_does_not_make() -> None:
    market = Market(random.Random(7))
    assert market.price("binance", "DOGE/USDT") is None
    price = market.price("binance", "BTC/USDT")
    assert price is not None and price > 0
    assert market.price("kraken", "BTC/USD") != price  # each exchange's premium


def test_a_snapshot_loads_empty_hashes_and_lists_as_absent_and_refuses_other_types(
    admin: redis.Redis,
) -> None:
    empty = {
        "keys": [
            {"key": "h", "type": "hash", "value": {}, "ttl": None},
            {"key": "l", "type": "list", "value": [], "ttl": -1},
            {"key": "s", "type": "string", "value": "1", "ttl": 100},
        ]
    }
    admin.set("h", "old")
    assert load_snapshot(admin, empty) == 3
    assert (admin.exists("h"), admin.exists("l"), admin.get("s")) == (0, 0, "1")
    assert 0 < admin.ttl("s") <= 100
    wrong = {"keys": [{"key": "z", "type": "zset", "value": {"a": 1}, "ttl": None}]}
    with pytest.raises(ValueError) as refused:
        load_snapshot(admin, wrong)
    assert str(refused.value) == "unsupported type 'zset' for key 'z'"


def test_rebasing_moves_epoch_times_only() -> None:
    """Fields named ``time`` whose value is no number (a flag, a text) stay as they are."""
    stored = json.dumps({"time": 1_700_000_000.0, "other": {"time": True}, "t": {"time": "x"}})
    snapshot = {"keys": [{"key": "k", "type": "string", "value": stored, "ttl": None}]}
    (moved,) = rebased(snapshot, 1_700_000_100.0)["keys"]
    assert json.loads(moved["value"]) == {
        "time": 1_700_000_100.0,
        "other": {"time": True},
        "t": {"time": "x"},
    }


def test_a_demo_never_started_stops_without_anything_to_stop() -> None:
    demo = DemoRedis()
    demo.stop_feeder()  # no feeder yet
    demo.stop()
    assert demo.server.process is None and demo.server.dir is None


async def test_a_requests_reads_share_one_source_and_a_lasting_streams_each_its_own(
    settings: Settings,
) -> None:
    """One Redis source per request (its reads recorded together for the ETag); a stream that
    outlives its request gets a new one at each use (each read sees every write acknowledged
    before it began)."""
    app = create_app(settings)
    async with lifespan(app):
        ctx = Ctx(app.state.backend, app)
        assert ctx.source is ctx.source
        lasting = ctx.lasting()
        first, second = lasting.source, lasting.source
        assert first is not second and first is not ctx.source
        assert lasting.settings is ctx.settings and lasting.app is app
