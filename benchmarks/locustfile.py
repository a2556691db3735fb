"""A realistic mix of the API's reads, for ``locust --headless`` (FastHttpUser).

A user is one dashboard or service polling the cache. It learns the names in the cache once
(``on_start``: tickers, OHLCV series, accounts, order hashes, trade lists), then polls with
these weights (percent of requests):

| weight | request | why |
|---:|---|---|
| 30 | ``/tickers/{exchange}/{symbol}`` | price checks: the hottest read |
| 12 | ``/tickers/{exchange}`` | a watch list of one exchange |
| 8 | ``/tickers`` | an overview of every market |
| 10 | ``/ohlcv/{symbol}/{timeframe}`` | charts |
| 8 | ``/accounts/{ex_id}/balances`` | account pages |
| 5 | ``/accounts/{ex_id}/positions`` | account pages |
| 8 | ``/orders/{exchange}`` | open orders |
| 4 | ``/trades/{exchange}/{symbol}`` | recent trades |
| 4 | ``/bots`` | the bot monitor |
| 3 | ``/processes/health`` | the process monitor |
| 3 | ``/tickers/health`` | feed freshness |
| 3 | ``/health`` | the load balancer's probe |
| 2 | ``/exchanges`` | navigation |

Every answer must be 200 (a 4xx or 5xx counts as a failure). Run against the demo server::

    python -m fullon_cache_api --demo --port 8000 &
    locust -f benchmarks/locustfile.py --headless -u 10 -r 10 -t 20s --host http://127.0.0.1:8000
"""

from __future__ import annotations

import random
from typing import Any

from locust import between, task
from locust.contrib.fasthttp import FastHttpUser


class CacheReader(FastHttpUser):
    wait_time = between(0.05, 0.25)

    tickers: list[tuple[str, str]]
    exchanges: list[str]
    series: list[tuple[str, str]]
    accounts: list[str]
    order_exchanges: list[str]
    trade_lists: list[tuple[str, str]]

    def _items(self, path: str, pages: int = 20) -> list[dict[str, Any]]:
        """Every item of a paged listing, following ``next_cursor`` (at most ``pages`` pages)."""
        items: list[dict[str, Any]] = []
        cursor = None
        for _ in range(pages):
            params = {} if cursor is None else {"cursor": cursor}
            with self.client.get(
                path, params=params, name=f"(setup) {path}", catch_response=True
            ) as response:
                if response.status_code != 200:
                    response.failure(f"{path} answered {response.status_code}")
                    return items
                page = response.json()
            items += page["items"]
            cursor = page.get("next_cursor")
            if cursor is None:
                break
        return items

    def on_start(self) -> None:
        self.tickers = [(t["exchange"], t["symbol"]) for t in self._items("/tickers")]
        self.exchanges = sorted({exchange for exchange, _ in self.tickers})
        self.series = [(s["symbol"], s["timeframe"]) for s in self._items("/ohlcv")]
        self.accounts = [a["ex_id"] for a in self._items("/accounts")]
        self.order_exchanges = sorted({o["exchange"] for o in self._items("/orders")})
        self.trade_lists = [(t["exchange"], t["symbol_key"]) for t in self._items("/trades")]

    def _get(self, path: str, name: str) -> None:
        self.client.get(path, name=name)

    @task(30)
    def ticker(self) -> None:
        if self.tickers:
            exchange, symbol = random.choice(self.tickers)
            self._get(f"/tickers/{exchange}/{symbol}", "/tickers/{exchange}/{symbol}")

    @task(12)
    def exchange_tickers(self) -> None:
        if self.exchanges:
            self._get(f"/tickers/{random.choice(self.exchanges)}", "/tickers/{exchange}")

    @task(8)
    def all_tickers(self) -> None:
        self._get("/tickers", "/tickers")

    @task(10)
    def bars(self) -> None:
        if self.series:
            symbol, timeframe = random.choice(self.series)
            self._get(f"/ohlcv/{symbol}/{timeframe}", "/ohlcv/{symbol}/{timeframe}")

    @task(8)
    def balances(self) -> None:
        if self.accounts:
            ex_id = random.choice(self.accounts)
            self._get(f"/accounts/{ex_id}/balances", "/accounts/{ex_id}/balances")

    @task(5)
    def positions(self) -> None:
        if self.accounts:
            ex_id = random.choice(self.accounts)
            self._get(f"/accounts/{ex_id}/positions", "/accounts/{ex_id}/positions")

    @task(8)
    def orders(self) -> None:
        if self.order_exchanges:
            self._get(f"/orders/{random.choice(self.order_exchanges)}", "/orders/{exchange}")

    @task(4)
    def trades(self) -> None:
        if self.trade_lists:
            exchange, symbol_key = random.choice(self.trade_lists)
            self._get(f"/trades/{exchange}/{symbol_key}", "/trades/{exchange}/{symbol}")

    @task(4)
    def bots(self) -> None:
        self._get("/bots", "/bots")

    @task(3)
    def processes_health(self) -> None:
        self._get("/processes/health", "/processes/health")

    @task(3)
    def tickers_health(self) -> None:
        self._get("/tickers/health", "/tickers/health")

    @task(3)
    def health(self) -> None:
        self._get("/health", "/health")

    @task(2)
    def exchange_list(self) -> None:
        self._get("/exchanges", "/exchanges")
