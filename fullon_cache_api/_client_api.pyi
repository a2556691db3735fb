"""The types of ``CacheClient``'s and ``SyncCacheClient``'s route methods, for type
checkers and editors: the methods are made at import time from the route table
(``fullon_cache_api.client``), so this stub has no .py twin. Written by
``python -m fullon_cache_api.client --stub > fullon_cache_api/_client_api.pyi``:
do not edit."""

from collections.abc import AsyncIterator, Iterator
from typing import Literal, TypeAlias

import httpx

from fullon_cache_api.answers import ProcessHealthOut, ProcessOut
from fullon_cache_api.client import Event
from fullon_cache_api.handlers.accounts import (
    AccountBalanceOut,
    AccountOut,
    AccountPositionOut,
    AccountsOut,
    AccountStatusOut,
    BalancesOut,
    PositionsOut,
)
from fullon_cache_api.handlers.bots import (
    BlockOut,
    BlocksOut,
    BotOut,
    BotsOut,
    CoordinationOut,
    SymbolBlockOut,
)
from fullon_cache_api.handlers.ohlcv import BarsOut, SeriesListOut, SeriesOut, TimeframesOut
from fullon_cache_api.handlers.orders import (
    ExchangeOrdersOut,
    OrderOut,
    OrdersOut,
    QueueHeadOut,
    QueueOut,
    QueuesOut,
)
from fullon_cache_api.handlers.processes import ProcessesOut
from fullon_cache_api.handlers.service import ExchangesOut, HealthOut, InfoOut, OverviewOut
from fullon_cache_api.handlers.tickers import (
    ExchangeTickersOut,
    TickerHealthOut,
    TickerOut,
    TickersOut,
)
from fullon_cache_api.handlers.trades import (
    SymbolTradesOut,
    TradeListOut,
    TradeListsOut,
    TradeMetricsOut,
    TradeOut,
    TradeStatusesOut,
    TradeStatusOut,
    UserTradeListOut,
    UserTradeListsOut,
    UserTradesOut,
)

_DocsAssetAsset: TypeAlias = Literal[
    "swagger-ui.css",
    "swagger-ui-bundle.js",
    "favicon-16x16.png",
    "favicon-32x32.png",
    "init.js",
]
_LiveAssetAsset: TypeAlias = Literal[
    "live.js",
    "live.css",
    "lightweight-charts.js",
    "lightweight-charts-LICENSE.txt",
]
_StreamProcessesType: TypeAlias = Literal[
    "tick",
    "ohlcv",
    "bot",
    "account",
    "order",
    "bot_status_service",
    "crawler",
    "user_trades_service",
]
_StreamProcessesStatus: TypeAlias = Literal[
    "starting",
    "running",
    "processing",
    "idle",
    "error",
    "stopped",
]

class CacheClientMethods:
    """The methods ``CacheClient`` makes from the route table."""

    async def health(self) -> HealthOut:
        """GET /health: Liveness: 200 when Redis answers a PING, 503 in the same shape when it
        does not."""

    async def info(self) -> InfoOut:
        """GET /info: Name, version, route count, and the Redis server's version, role and db."""

    async def overview(self) -> OverviewOut:
        """GET /overview: Whole-cache status: keys (and entries) per key family, memory, uptime."""

    async def exchanges(self) -> ExchangesOut:
        """GET /exchanges: Every exchange seen in tickers, orders, trades and trade-status keys,
        with ticker count."""

    async def metrics(self) -> httpx.Response:
        """GET /metrics: Prometheus metrics: requests by route template, status and latency;
        Redis errors by cause; corrupt values skipped; open streams."""

    async def openapi_json(self) -> httpx.Response:
        """GET /openapi.json: This API's OpenAPI 3.1 document, generated from the route table."""

    async def docs_page(self) -> httpx.Response:
        """GET /docs: Interactive API docs (Swagger UI), served with all its files by this app:
        works offline."""

    async def docs_asset(self, asset: _DocsAssetAsset) -> httpx.Response:
        """GET /docs/{asset}: A file of the docs page: Swagger UI's script, style sheet and
        icons; 404 for any other."""

    async def home_page(self) -> httpx.Response:
        """GET /: What this API is, with links to the live page, the docs, health and metrics."""

    async def live_page(self) -> httpx.Response:
        """GET /ui: A live page of every family: tickers as they change (with a sparkline of the
        last hour), a candlestick chart with the symbol's orders and trades, orders, trades,
        bots, accounts (balances and positions), processes (with their messages) and order
        queues."""

    async def live_asset(self, asset: _LiveAssetAsset) -> httpx.Response:
        """GET /ui/{asset}: A file of the live page: its script and style sheet; 404 for any
        other."""

    async def all_tickers(
        self,
        *,
        symbols: list[str] | None = None,
        max_age: float | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> TickersOut:
        """GET /tickers: All tickers on all exchanges, by exchange then symbol, up to `limit` a
        page."""

    def iter_tickers(
        self,
        *,
        symbols: list[str] | None = None,
        max_age: float | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AsyncIterator[TickerOut]:
        """Every item of GET /tickers, page after page: All tickers on all exchanges, by exchange
        then symbol, up to `limit` a page."""

    async def tickers_health(self, *, max_age: float | None = None) -> TickerHealthOut:
        """GET /tickers/health: Per exchange: ticker count, newest and oldest tick, and how many
        are stale."""

    async def exchange_tickers(
        self,
        exchange: str,
        *,
        symbols: list[str] | None = None,
        max_age: float | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> ExchangeTickersOut:
        """GET /tickers/{exchange}: One exchange's tickers by symbol; 404 when the exchange has
        no tickers hash."""

    def iter_exchange_tickers(
        self,
        exchange: str,
        *,
        symbols: list[str] | None = None,
        max_age: float | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AsyncIterator[TickerOut]:
        """Every item of GET /tickers/{exchange}, page after page: One exchange's tickers by
        symbol; 404 when the exchange has no tickers hash."""

    async def active_tickers(
        self,
        exchange: str,
        *,
        symbols: list[str] | None = None,
        max_age: float | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> ExchangeTickersOut:
        """GET /tickers/{exchange}/active: One exchange's tickers younger than max_age (default:
        the ticker staleness setting); paged like /tickers/{exchange}."""

    def iter_active_tickers(
        self,
        exchange: str,
        *,
        symbols: list[str] | None = None,
        max_age: float | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AsyncIterator[TickerOut]:
        """Every item of GET /tickers/{exchange}/active, page after page: One exchange's tickers
        younger than max_age (default: the ticker staleness setting); paged like
        /tickers/{exchange}."""

    async def ticker(self, exchange: str, symbol: str) -> TickerOut:
        """GET /tickers/{exchange}/{symbol}: One ticker: price, bid, ask, last, volume, time and
        age; 404 when missing."""

    def stream_tickers(
        self,
        *,
        exchange: str | None = None,
        symbols: list[str] | None = None,
    ) -> AsyncIterator[Event]:
        """GET /stream/tickers as Events: Live tickers as Server-Sent Events: `event: snapshot`,
        then `event: ticker` per update."""

    def stream_orders(
        self,
        *,
        exchange: str | None = None,
        status: str | None = None,
        symbol: str | None = None,
        bot_id: str | None = None,
        uid: str | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Event]:
        """GET /stream/orders as Events: Orders as Server-Sent Events: a snapshot (`/orders`),
        then `upsert` and `delete`."""

    def stream_order_queues(self, *, limit: int | None = None) -> AsyncIterator[Event]:
        """GET /stream/orders/queues as Events: Order queues as Server-Sent Events: a snapshot
        (`/orders/queues`), then their lengths."""

    def stream_account(self, ex_id: str) -> AsyncIterator[Event]:
        """GET /stream/accounts/{ex_id} as Events: An account's balances and positions as
        Server-Sent Events: a snapshot, then each change."""

    def stream_bots(self, *, limit: int | None = None) -> AsyncIterator[Event]:
        """GET /stream/bots as Events: Bots, blocks and openings as Server-Sent Events: a
        snapshot, then each change."""

    def stream_processes(
        self,
        *,
        type: _StreamProcessesType | None = None,
        component: str | None = None,
        status: _StreamProcessesStatus | None = None,
        since_minutes: float | None = None,
        stale_after: float | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[Event]:
        """GET /stream/processes as Events: Processes as Server-Sent Events: a snapshot
        (`/processes`), then `upsert` and `delete`."""

    def stream_trades(
        self,
        exchange: str,
        symbol: str,
        *,
        limit: int | None = None,
    ) -> AsyncIterator[Event]:
        """GET /stream/trades/{exchange}/{symbol} as Events: A symbol's public trades as
        Server-Sent Events: a snapshot, then `append` of new ones."""

    def stream_ohlcv(
        self,
        symbol: str,
        timeframe: str,
        *,
        limit: int | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> AsyncIterator[Event]:
        """GET /stream/ohlcv/{symbol}/{timeframe} as Events: A series' bars as Server-Sent
        Events: a snapshot, then `append` and `upsert`."""

    async def accounts(self, *, limit: int | None = None, cursor: str | None = None) -> AccountsOut:
        """GET /accounts: Every account (ex_id) with balances or positions: counts and update
        times, by ex_id."""

    def iter_accounts(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AsyncIterator[AccountOut]:
        """Every item of GET /accounts, page after page: Every account (ex_id) with balances or
        positions: counts and update times, by ex_id."""

    async def balances(self, ex_id: str) -> BalancesOut:
        """GET /accounts/{ex_id}/balances: One account's balances by currency; 404 when the ex_id
        has no balances."""

    async def balance(self, ex_id: str, currency: str) -> AccountBalanceOut:
        """GET /accounts/{ex_id}/balances/{currency}: One currency's balance of one account; 404
        when missing."""

    async def positions(self, ex_id: str) -> PositionsOut:
        """GET /accounts/{ex_id}/positions: One account's positions by symbol; 404 when the ex_id
        has no positions."""

    async def position(self, ex_id: str, symbol: str) -> AccountPositionOut:
        """GET /accounts/{ex_id}/positions/{symbol}: One position of one account; 404 when
        missing."""

    async def status(self, ex_id: str) -> AccountStatusOut:
        """GET /accounts/{ex_id}/status: Whether an account's balances and positions are stored,
        their update times and ages."""

    async def all_orders(
        self,
        *,
        status: str | None = None,
        symbol: str | None = None,
        bot_id: str | None = None,
        uid: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> OrdersOut:
        """GET /orders: Orders on all exchanges, by exchange then order id; status, symbol,
        bot_id, uid filters."""

    def iter_orders(
        self,
        *,
        status: str | None = None,
        symbol: str | None = None,
        bot_id: str | None = None,
        uid: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AsyncIterator[OrderOut]:
        """Every item of GET /orders, page after page: Orders on all exchanges, by exchange then
        order id; status, symbol, bot_id, uid filters."""

    async def queues(self, *, limit: int | None = None, cursor: str | None = None) -> QueuesOut:
        """GET /orders/queues: Every new_orders queue with its length, by name; up to `limit` a
        page."""

    def iter_queues(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AsyncIterator[QueueOut]:
        """Every item of GET /orders/queues, page after page: Every new_orders queue with its
        length, by name; up to `limit` a page."""

    async def queue(
        self,
        name: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> QueueHeadOut:
        """GET /orders/queues/{name}: One new_orders queue: its length and first ids up to limit,
        read without consuming."""

    def iter_queue(
        self,
        name: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AsyncIterator[str]:
        """Every item of GET /orders/queues/{name}, page after page: One new_orders queue: its
        length and first ids up to limit, read without consuming."""

    async def exchange_orders(
        self,
        exchange: str,
        *,
        status: str | None = None,
        symbol: str | None = None,
        bot_id: str | None = None,
        uid: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> ExchangeOrdersOut:
        """GET /orders/{exchange}: One exchange's orders (or a numeric ex_id's); an absent hash
        is an empty list."""

    def iter_exchange_orders(
        self,
        exchange: str,
        *,
        status: str | None = None,
        symbol: str | None = None,
        bot_id: str | None = None,
        uid: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AsyncIterator[OrderOut]:
        """Every item of GET /orders/{exchange}, page after page: One exchange's orders (or a
        numeric ex_id's); an absent hash is an empty list."""

    async def order(self, exchange: str, order_id: str) -> OrderOut:
        """GET /orders/{exchange}/{order_id}: One order by its id (the hash field); 404 when
        missing."""

    async def bots(self, *, limit: int | None = None, cursor: str | None = None) -> BotsOut:
        """GET /bots: Every bot in bot_status with its feeds and newest feed time, ordered by
        bot_id; up to `limit` a page."""

    def iter_bots(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AsyncIterator[BotOut]:
        """Every item of GET /bots, page after page: Every bot in bot_status with its feeds and
        newest feed time, ordered by bot_id; up to `limit` a page."""

    async def blocks(self, *, limit: int | None = None, cursor: str | None = None) -> BlocksOut:
        """GET /bots/blocks: Every exchange block (ex_id, symbol, blocking bot) with its
        opening-position mark; up to `limit` a page."""

    def iter_blocks(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AsyncIterator[BlockOut]:
        """Every item of GET /bots/blocks, page after page: Every exchange block (ex_id, symbol,
        blocking bot) with its opening-position mark; up to `limit` a page."""

    async def coordination(self) -> CoordinationOut:
        """GET /bots/coordination: Blocks and opening positions together, with their counts."""

    async def block(self, ex_id: str, symbol: str) -> SymbolBlockOut:
        """GET /bots/blocks/{ex_id}/{symbol}: Whether one (ex_id, symbol) is blocked, by which
        bot, and whether a bot is opening."""

    async def bot(self, bot_id: str) -> BotOut:
        """GET /bots/{bot_id}: One bot's feeds and newest feed time; 404 when missing."""

    async def trade_lists(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> TradeListsOut:
        """GET /trades: Every public trade list with its length and its exchange's TRADE:STATUS
        time, by key; up to `limit` a page."""

    def iter_trade_lists(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AsyncIterator[TradeListOut]:
        """Every item of GET /trades, page after page: Every public trade list with its length
        and its exchange's TRADE:STATUS time, by key; up to `limit` a page."""

    async def trade_statuses(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> TradeStatusesOut:
        """GET /trades/status: Every TRADE:STATUS and USER_TRADE:STATUS time with its age, by
        kind then key; up to `limit` a page."""

    def iter_trade_statuses(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AsyncIterator[TradeStatusOut]:
        """Every item of GET /trades/status, page after page: Every TRADE:STATUS and
        USER_TRADE:STATUS time with its age, by kind then key; up to `limit` a page."""

    async def trade_metrics(self) -> TradeMetricsOut:
        """GET /trades/metrics: Totals: trade lists and trades held, user-trade lists and trades,
        status ages."""

    async def user_trade_lists(
        self,
        uid: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> UserTradeListsOut:
        """GET /trades/users/{uid}: One user's trade lists with their lengths, by exchange; empty
        when none; up to `limit` a page."""

    def iter_user_trade_lists(
        self,
        uid: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AsyncIterator[UserTradeListOut]:
        """Every item of GET /trades/users/{uid}, page after page: One user's trade lists with
        their lengths, by exchange; empty when none; up to `limit` a page."""

    async def user_trades(
        self,
        uid: str,
        exchange: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> UserTradesOut:
        """GET /trades/users/{uid}/{exchange}: One user's trades on one exchange, newest first,
        limit at most; read without consuming."""

    def iter_user_trades(
        self,
        uid: str,
        exchange: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AsyncIterator[TradeOut]:
        """Every item of GET /trades/users/{uid}/{exchange}, page after page: One user's trades
        on one exchange, newest first, limit at most; read without consuming."""

    async def symbol_trades(
        self,
        exchange: str,
        symbol: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> SymbolTradesOut:
        """GET /trades/{exchange}/{symbol}: Public trades of one symbol, newest first, limit at
        most; absent list is empty."""

    def iter_symbol_trades(
        self,
        exchange: str,
        symbol: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AsyncIterator[TradeOut]:
        """Every item of GET /trades/{exchange}/{symbol}, page after page: Public trades of one
        symbol, newest first, limit at most; absent list is empty."""

    async def all_series(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> SeriesListOut:
        """GET /ohlcv: Every OHLCV series: stored bar count and first and last timestamps (ms);
        up to `limit` a page (by key; each page by symbol, then timeframe by duration)."""

    def iter_series(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AsyncIterator[SeriesOut]:
        """Every item of GET /ohlcv, page after page: Every OHLCV series: stored bar count and
        first and last timestamps (ms); up to `limit` a page (by key; each page by symbol, then
        timeframe by duration)."""

    async def timeframes(self, symbol: str) -> TimeframesOut:
        """GET /ohlcv/{symbol}/timeframes: The timeframes cached for a symbol, by duration; 404
        when none."""

    async def bars(
        self,
        symbol: str,
        timeframe: str,
        *,
        limit: int | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> BarsOut:
        """GET /ohlcv/{symbol}/{timeframe}: A series' bars, ascending and deduplicated by
        timestamp; 404 when the series is absent."""

    async def processes(
        self,
        *,
        type: _StreamProcessesType | None = None,
        component: str | None = None,
        status: _StreamProcessesStatus | None = None,
        since_minutes: float | None = None,
        stale_after: float | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> ProcessesOut:
        """GET /processes: Active processes: listed in process:active and with a live record,
        ordered by type, id."""

    def iter_processes(
        self,
        *,
        type: _StreamProcessesType | None = None,
        component: str | None = None,
        status: _StreamProcessesStatus | None = None,
        since_minutes: float | None = None,
        stale_after: float | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> AsyncIterator[ProcessOut]:
        """Every item of GET /processes, page after page: Active processes: listed in
        process:active and with a live record, ordered by type, id."""

    async def processes_health(
        self,
        *,
        since_minutes: float | None = None,
        stale_after: float | None = None,
    ) -> ProcessHealthOut:
        """GET /processes/health: Process health: totals by type and status, stale and error
        counts, healthy or not."""

    async def component_process(
        self,
        component: str,
        *,
        stale_after: float | None = None,
    ) -> ProcessOut:
        """GET /processes/components/{component}: A component's latest process record; 404 when
        none or when its record expired."""

    async def process(self, process_id: str, *, stale_after: float | None = None) -> ProcessOut:
        """GET /processes/{process_id}: One process record; 404 when missing or expired, 502 when
        corrupt."""

class SyncCacheClientMethods:
    """The methods ``SyncCacheClient`` makes from the route table."""

    def health(self) -> HealthOut:
        """GET /health: Liveness: 200 when Redis answers a PING, 503 in the same shape when it
        does not."""

    def info(self) -> InfoOut:
        """GET /info: Name, version, route count, and the Redis server's version, role and db."""

    def overview(self) -> OverviewOut:
        """GET /overview: Whole-cache status: keys (and entries) per key family, memory, uptime."""

    def exchanges(self) -> ExchangesOut:
        """GET /exchanges: Every exchange seen in tickers, orders, trades and trade-status keys,
        with ticker count."""

    def metrics(self) -> httpx.Response:
        """GET /metrics: Prometheus metrics: requests by route template, status and latency;
        Redis errors by cause; corrupt values skipped; open streams."""

    def openapi_json(self) -> httpx.Response:
        """GET /openapi.json: This API's OpenAPI 3.1 document, generated from the route table."""

    def docs_page(self) -> httpx.Response:
        """GET /docs: Interactive API docs (Swagger UI), served with all its files by this app:
        works offline."""

    def docs_asset(self, asset: _DocsAssetAsset) -> httpx.Response:
        """GET /docs/{asset}: A file of the docs page: Swagger UI's script, style sheet and
        icons; 404 for any other."""

    def home_page(self) -> httpx.Response:
        """GET /: What this API is, with links to the live page, the docs, health and metrics."""

    def live_page(self) -> httpx.Response:
        """GET /ui: A live page of every family: tickers as they change (with a sparkline of the
        last hour), a candlestick chart with the symbol's orders and trades, orders, trades,
        bots, accounts (balances and positions), processes (with their messages) and order
        queues."""

    def live_asset(self, asset: _LiveAssetAsset) -> httpx.Response:
        """GET /ui/{asset}: A file of the live page: its script and style sheet; 404 for any
        other."""

    def all_tickers(
        self,
        *,
        symbols: list[str] | None = None,
        max_age: float | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> TickersOut:
        """GET /tickers: All tickers on all exchanges, by exchange then symbol, up to `limit` a
        page."""

    def iter_tickers(
        self,
        *,
        symbols: list[str] | None = None,
        max_age: float | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Iterator[TickerOut]:
        """Every item of GET /tickers, page after page: All tickers on all exchanges, by exchange
        then symbol, up to `limit` a page."""

    def tickers_health(self, *, max_age: float | None = None) -> TickerHealthOut:
        """GET /tickers/health: Per exchange: ticker count, newest and oldest tick, and how many
        are stale."""

    def exchange_tickers(
        self,
        exchange: str,
        *,
        symbols: list[str] | None = None,
        max_age: float | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> ExchangeTickersOut:
        """GET /tickers/{exchange}: One exchange's tickers by symbol; 404 when the exchange has
        no tickers hash."""

    def iter_exchange_tickers(
        self,
        exchange: str,
        *,
        symbols: list[str] | None = None,
        max_age: float | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Iterator[TickerOut]:
        """Every item of GET /tickers/{exchange}, page after page: One exchange's tickers by
        symbol; 404 when the exchange has no tickers hash."""

    def active_tickers(
        self,
        exchange: str,
        *,
        symbols: list[str] | None = None,
        max_age: float | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> ExchangeTickersOut:
        """GET /tickers/{exchange}/active: One exchange's tickers younger than max_age (default:
        the ticker staleness setting); paged like /tickers/{exchange}."""

    def iter_active_tickers(
        self,
        exchange: str,
        *,
        symbols: list[str] | None = None,
        max_age: float | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Iterator[TickerOut]:
        """Every item of GET /tickers/{exchange}/active, page after page: One exchange's tickers
        younger than max_age (default: the ticker staleness setting); paged like
        /tickers/{exchange}."""

    def ticker(self, exchange: str, symbol: str) -> TickerOut:
        """GET /tickers/{exchange}/{symbol}: One ticker: price, bid, ask, last, volume, time and
        age; 404 when missing."""

    def stream_tickers(
        self,
        *,
        exchange: str | None = None,
        symbols: list[str] | None = None,
    ) -> Iterator[Event]:
        """GET /stream/tickers as Events: Live tickers as Server-Sent Events: `event: snapshot`,
        then `event: ticker` per update."""

    def stream_orders(
        self,
        *,
        exchange: str | None = None,
        status: str | None = None,
        symbol: str | None = None,
        bot_id: str | None = None,
        uid: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Event]:
        """GET /stream/orders as Events: Orders as Server-Sent Events: a snapshot (`/orders`),
        then `upsert` and `delete`."""

    def stream_order_queues(self, *, limit: int | None = None) -> Iterator[Event]:
        """GET /stream/orders/queues as Events: Order queues as Server-Sent Events: a snapshot
        (`/orders/queues`), then their lengths."""

    def stream_account(self, ex_id: str) -> Iterator[Event]:
        """GET /stream/accounts/{ex_id} as Events: An account's balances and positions as
        Server-Sent Events: a snapshot, then each change."""

    def stream_bots(self, *, limit: int | None = None) -> Iterator[Event]:
        """GET /stream/bots as Events: Bots, blocks and openings as Server-Sent Events: a
        snapshot, then each change."""

    def stream_processes(
        self,
        *,
        type: _StreamProcessesType | None = None,
        component: str | None = None,
        status: _StreamProcessesStatus | None = None,
        since_minutes: float | None = None,
        stale_after: float | None = None,
        limit: int | None = None,
    ) -> Iterator[Event]:
        """GET /stream/processes as Events: Processes as Server-Sent Events: a snapshot
        (`/processes`), then `upsert` and `delete`."""

    def stream_trades(
        self,
        exchange: str,
        symbol: str,
        *,
        limit: int | None = None,
    ) -> Iterator[Event]:
        """GET /stream/trades/{exchange}/{symbol} as Events: A symbol's public trades as
        Server-Sent Events: a snapshot, then `append` of new ones."""

    def stream_ohlcv(
        self,
        symbol: str,
        timeframe: str,
        *,
        limit: int | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> Iterator[Event]:
        """GET /stream/ohlcv/{symbol}/{timeframe} as Events: A series' bars as Server-Sent
        Events: a snapshot, then `append` and `upsert`."""

    def accounts(self, *, limit: int | None = None, cursor: str | None = None) -> AccountsOut:
        """GET /accounts: Every account (ex_id) with balances or positions: counts and update
        times, by ex_id."""

    def iter_accounts(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Iterator[AccountOut]:
        """Every item of GET /accounts, page after page: Every account (ex_id) with balances or
        positions: counts and update times, by ex_id."""

    def balances(self, ex_id: str) -> BalancesOut:
        """GET /accounts/{ex_id}/balances: One account's balances by currency; 404 when the ex_id
        has no balances."""

    def balance(self, ex_id: str, currency: str) -> AccountBalanceOut:
        """GET /accounts/{ex_id}/balances/{currency}: One currency's balance of one account; 404
        when missing."""

    def positions(self, ex_id: str) -> PositionsOut:
        """GET /accounts/{ex_id}/positions: One account's positions by symbol; 404 when the ex_id
        has no positions."""

    def position(self, ex_id: str, symbol: str) -> AccountPositionOut:
        """GET /accounts/{ex_id}/positions/{symbol}: One position of one account; 404 when
        missing."""

    def status(self, ex_id: str) -> AccountStatusOut:
        """GET /accounts/{ex_id}/status: Whether an account's balances and positions are stored,
        their update times and ages."""

    def all_orders(
        self,
        *,
        status: str | None = None,
        symbol: str | None = None,
        bot_id: str | None = None,
        uid: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> OrdersOut:
        """GET /orders: Orders on all exchanges, by exchange then order id; status, symbol,
        bot_id, uid filters."""

    def iter_orders(
        self,
        *,
        status: str | None = None,
        symbol: str | None = None,
        bot_id: str | None = None,
        uid: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Iterator[OrderOut]:
        """Every item of GET /orders, page after page: Orders on all exchanges, by exchange then
        order id; status, symbol, bot_id, uid filters."""

    def queues(self, *, limit: int | None = None, cursor: str | None = None) -> QueuesOut:
        """GET /orders/queues: Every new_orders queue with its length, by name; up to `limit` a
        page."""

    def iter_queues(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Iterator[QueueOut]:
        """Every item of GET /orders/queues, page after page: Every new_orders queue with its
        length, by name; up to `limit` a page."""

    def queue(
        self,
        name: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> QueueHeadOut:
        """GET /orders/queues/{name}: One new_orders queue: its length and first ids up to limit,
        read without consuming."""

    def iter_queue(
        self,
        name: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Iterator[str]:
        """Every item of GET /orders/queues/{name}, page after page: One new_orders queue: its
        length and first ids up to limit, read without consuming."""

    def exchange_orders(
        self,
        exchange: str,
        *,
        status: str | None = None,
        symbol: str | None = None,
        bot_id: str | None = None,
        uid: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> ExchangeOrdersOut:
        """GET /orders/{exchange}: One exchange's orders (or a numeric ex_id's); an absent hash
        is an empty list."""

    def iter_exchange_orders(
        self,
        exchange: str,
        *,
        status: str | None = None,
        symbol: str | None = None,
        bot_id: str | None = None,
        uid: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Iterator[OrderOut]:
        """Every item of GET /orders/{exchange}, page after page: One exchange's orders (or a
        numeric ex_id's); an absent hash is an empty list."""

    def order(self, exchange: str, order_id: str) -> OrderOut:
        """GET /orders/{exchange}/{order_id}: One order by its id (the hash field); 404 when
        missing."""

    def bots(self, *, limit: int | None = None, cursor: str | None = None) -> BotsOut:
        """GET /bots: Every bot in bot_status with its feeds and newest feed time, ordered by
        bot_id; up to `limit` a page."""

    def iter_bots(self, *, limit: int | None = None, cursor: str | None = None) -> Iterator[BotOut]:
        """Every item of GET /bots, page after page: Every bot in bot_status with its feeds and
        newest feed time, ordered by bot_id; up to `limit` a page."""

    def blocks(self, *, limit: int | None = None, cursor: str | None = None) -> BlocksOut:
        """GET /bots/blocks: Every exchange block (ex_id, symbol, blocking bot) with its
        opening-position mark; up to `limit` a page."""

    def iter_blocks(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Iterator[BlockOut]:
        """Every item of GET /bots/blocks, page after page: Every exchange block (ex_id, symbol,
        blocking bot) with its opening-position mark; up to `limit` a page."""

    def coordination(self) -> CoordinationOut:
        """GET /bots/coordination: Blocks and opening positions together, with their counts."""

    def block(self, ex_id: str, symbol: str) -> SymbolBlockOut:
        """GET /bots/blocks/{ex_id}/{symbol}: Whether one (ex_id, symbol) is blocked, by which
        bot, and whether a bot is opening."""

    def bot(self, bot_id: str) -> BotOut:
        """GET /bots/{bot_id}: One bot's feeds and newest feed time; 404 when missing."""

    def trade_lists(self, *, limit: int | None = None, cursor: str | None = None) -> TradeListsOut:
        """GET /trades: Every public trade list with its length and its exchange's TRADE:STATUS
        time, by key; up to `limit` a page."""

    def iter_trade_lists(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Iterator[TradeListOut]:
        """Every item of GET /trades, page after page: Every public trade list with its length
        and its exchange's TRADE:STATUS time, by key; up to `limit` a page."""

    def trade_statuses(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> TradeStatusesOut:
        """GET /trades/status: Every TRADE:STATUS and USER_TRADE:STATUS time with its age, by
        kind then key; up to `limit` a page."""

    def iter_trade_statuses(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Iterator[TradeStatusOut]:
        """Every item of GET /trades/status, page after page: Every TRADE:STATUS and
        USER_TRADE:STATUS time with its age, by kind then key; up to `limit` a page."""

    def trade_metrics(self) -> TradeMetricsOut:
        """GET /trades/metrics: Totals: trade lists and trades held, user-trade lists and trades,
        status ages."""

    def user_trade_lists(
        self,
        uid: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> UserTradeListsOut:
        """GET /trades/users/{uid}: One user's trade lists with their lengths, by exchange; empty
        when none; up to `limit` a page."""

    def iter_user_trade_lists(
        self,
        uid: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Iterator[UserTradeListOut]:
        """Every item of GET /trades/users/{uid}, page after page: One user's trade lists with
        their lengths, by exchange; empty when none; up to `limit` a page."""

    def user_trades(
        self,
        uid: str,
        exchange: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> UserTradesOut:
        """GET /trades/users/{uid}/{exchange}: One user's trades on one exchange, newest first,
        limit at most; read without consuming."""

    def iter_user_trades(
        self,
        uid: str,
        exchange: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Iterator[TradeOut]:
        """Every item of GET /trades/users/{uid}/{exchange}, page after page: One user's trades
        on one exchange, newest first, limit at most; read without consuming."""

    def symbol_trades(
        self,
        exchange: str,
        symbol: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> SymbolTradesOut:
        """GET /trades/{exchange}/{symbol}: Public trades of one symbol, newest first, limit at
        most; absent list is empty."""

    def iter_symbol_trades(
        self,
        exchange: str,
        symbol: str,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Iterator[TradeOut]:
        """Every item of GET /trades/{exchange}/{symbol}, page after page: Public trades of one
        symbol, newest first, limit at most; absent list is empty."""

    def all_series(self, *, limit: int | None = None, cursor: str | None = None) -> SeriesListOut:
        """GET /ohlcv: Every OHLCV series: stored bar count and first and last timestamps (ms);
        up to `limit` a page (by key; each page by symbol, then timeframe by duration)."""

    def iter_series(
        self,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Iterator[SeriesOut]:
        """Every item of GET /ohlcv, page after page: Every OHLCV series: stored bar count and
        first and last timestamps (ms); up to `limit` a page (by key; each page by symbol, then
        timeframe by duration)."""

    def timeframes(self, symbol: str) -> TimeframesOut:
        """GET /ohlcv/{symbol}/timeframes: The timeframes cached for a symbol, by duration; 404
        when none."""

    def bars(
        self,
        symbol: str,
        timeframe: str,
        *,
        limit: int | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> BarsOut:
        """GET /ohlcv/{symbol}/{timeframe}: A series' bars, ascending and deduplicated by
        timestamp; 404 when the series is absent."""

    def processes(
        self,
        *,
        type: _StreamProcessesType | None = None,
        component: str | None = None,
        status: _StreamProcessesStatus | None = None,
        since_minutes: float | None = None,
        stale_after: float | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> ProcessesOut:
        """GET /processes: Active processes: listed in process:active and with a live record,
        ordered by type, id."""

    def iter_processes(
        self,
        *,
        type: _StreamProcessesType | None = None,
        component: str | None = None,
        status: _StreamProcessesStatus | None = None,
        since_minutes: float | None = None,
        stale_after: float | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Iterator[ProcessOut]:
        """Every item of GET /processes, page after page: Active processes: listed in
        process:active and with a live record, ordered by type, id."""

    def processes_health(
        self,
        *,
        since_minutes: float | None = None,
        stale_after: float | None = None,
    ) -> ProcessHealthOut:
        """GET /processes/health: Process health: totals by type and status, stale and error
        counts, healthy or not."""

    def component_process(self, component: str, *, stale_after: float | None = None) -> ProcessOut:
        """GET /processes/components/{component}: A component's latest process record; 404 when
        none or when its record expired."""

    def process(self, process_id: str, *, stale_after: float | None = None) -> ProcessOut:
        """GET /processes/{process_id}: One process record; 404 when missing or expired, 502 when
        corrupt."""
