"""Prometheus metrics: by route template, status and latency; Redis errors; skipped values."""

from __future__ import annotations

import re

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from fullon_cache_api import Settings, create_app, lifespan
from fullon_cache_api.demo.redis_server import free_port

from support import expect, http_client, reader_url, serve_api

pytestmark = pytest.mark.usefixtures("snapshot")


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


async def test_requests_by_route_template_status_and_latency(client, admin) -> None:
    before = (await client.get("/metrics")).text
    assert (await client.get("/metrics")).headers["content-type"].startswith("text/plain")
    for symbol in ("BTC/USDT", "ETH/USDT", "NOPE/USDT"):
        await client.get(f"/tickers/binance/{symbol}")
    after = (await client.get("/metrics")).text
    route = "/tickers/{exchange}/{symbol}"
    name = "fullon_cache_api_requests_total"
    ok = dict(route=route, method="GET", status="200")
    missing = dict(route=route, method="GET", status="404")
    assert value(after, name, **ok) - value(before, name, **ok) == 2
    assert value(after, name, **missing) - value(before, name, **missing) == 1
    count = "fullon_cache_api_request_duration_seconds_count"
    assert value(after, count, route=route) - value(before, count, route=route) == 3
    assert "BTC/USDT" not in after  # never raw paths
    admin.hset("tickers:binance", "BAD/USDT", "{oops")
    await client.get("/tickers/binance")
    skipped = "fullon_cache_api_skipped_values_total"
    assert value((await client.get("/metrics")).text, skipped) - value(after, skipped) == 1


async def test_redis_errors_are_counted() -> None:
    app = create_app(Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    async with lifespan(app), http_client(app) as http:
        before = (await http.get("/metrics")).text
        expect(await http.get("/tickers"), 503)
        after = (await http.get("/metrics")).text
    name = "fullon_cache_api_redis_errors_total"
    assert value(after, name, kind="unavailable") - value(before, name, kind="unavailable") == 1
    assert re.search(r'fullon_cache_api_requests_total\{.*route="/tickers".*status="503"', after)


@pytest.mark.slow
def test_several_workers_share_their_metrics(redis_server, tmp_path) -> None:
    env = {"REDIS_URL": reader_url(redis_server), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    with serve_api("--workers", "2", env=env) as (_, base, _):
        for _ in range(30):  # new connections each time: the workers share them out
            assert httpx.get(timeout=60, url=base + "/tickers/binance/BTC/USDT").status_code == 200
        text = httpx.get(timeout=60, url=base + "/metrics").text
        route = "/tickers/{exchange}/{symbol}"
        ok = dict(route=route, method="GET", status="200")
        assert value(text, "fullon_cache_api_requests_total", **ok) == 30
        assert len(list(tmp_path.glob("counter_*.db"))) >= 2  # each worker writes its own
