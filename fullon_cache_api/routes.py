"""THE route table: one entry per endpoint, with everything the app and its docs need."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from time import perf_counter

from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import metrics
from . import params as p
from .auth import Auth
from .errors import ApiError, from_redis
from .handlers import (
    accounts,
    bots,
    docs,
    ohlcv,
    orders,
    processes,
    service,
    stream,
    tickers,
    trades,
)
from .openapi import Raw, openapi_path
from .responses import not_modified

Handler = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Endpoint:
    """One endpoint: its summary is the handler's docstring, its tag the handler's module."""

    path: str
    handler: Handler
    response: type
    params: tuple[p.Param, ...] = ()
    private: bool = False
    """Account, order and trade data: answered with ``Cache-Control: no-store``."""

    @property
    def tag(self) -> str:
        return self.handler.__module__.rsplit(".", 1)[-1]

    @property
    def summary(self) -> str:
        return (self.handler.__doc__ or "").strip().split("\n", 1)[0]


ENDPOINTS: tuple[Endpoint, ...] = (
    # Service
    Endpoint("/health", service.health, service.HealthOut),
    Endpoint("/info", service.info, service.InfoOut),
    Endpoint("/overview", service.overview, service.OverviewOut),
    Endpoint("/exchanges", service.exchanges, service.ExchangesOut),
    Endpoint("/metrics", service.metrics, service.MetricsText),
    # Docs
    Endpoint("/openapi.json", docs.openapi_json, docs.OpenApiDocument),
    Endpoint("/docs", docs.docs_page, docs.DocsPage),
    Endpoint("/docs/{asset}", docs.docs_asset, docs.DocsAsset, (docs.ASSET,)),
    # Tickers. In every group, fixed words come before parameters of the same shape.
    Endpoint("/tickers", tickers.all_tickers, tickers.TickersOut, (p.SYMBOLS, p.MAX_AGE)),
    Endpoint("/tickers/health", tickers.tickers_health, tickers.TickerHealthOut, (p.MAX_AGE,)),
    Endpoint(
        "/tickers/{exchange}",
        tickers.exchange_tickers,
        tickers.ExchangeTickersOut,
        (p.EXCHANGE, p.SYMBOLS, p.MAX_AGE),
    ),
    Endpoint(
        "/tickers/{exchange}/active",
        tickers.active_tickers,
        tickers.ExchangeTickersOut,
        (p.EXCHANGE, p.SYMBOLS, p.MAX_AGE),
    ),
    Endpoint(
        "/tickers/{exchange}/{symbol:path}",
        tickers.ticker,
        tickers.TickerOut,
        (p.EXCHANGE, p.SYMBOL),
    ),
    # Streams
    Endpoint(
        "/stream/tickers",
        stream.stream_tickers,
        stream.TickerEvents,
        (p.EXCHANGE_FILTER, p.SYMBOLS),
    ),
    # Accounts
    Endpoint("/accounts", accounts.accounts, accounts.AccountsOut, private=True),
    Endpoint(
        "/accounts/{ex_id}/balances",
        accounts.balances,
        accounts.BalancesOut,
        (p.EX_ID,),
        private=True,
    ),
    Endpoint(
        "/accounts/{ex_id}/balances/{currency}",
        accounts.balance,
        accounts.AccountBalanceOut,
        (p.EX_ID, p.CURRENCY),
        private=True,
    ),
    Endpoint(
        "/accounts/{ex_id}/positions",
        accounts.positions,
        accounts.PositionsOut,
        (p.EX_ID,),
        private=True,
    ),
    Endpoint(
        "/accounts/{ex_id}/positions/{symbol:path}",
        accounts.position,
        accounts.AccountPositionOut,
        (p.EX_ID, p.SYMBOL),
        private=True,
    ),
    Endpoint(
        "/accounts/{ex_id}/status",
        accounts.status,
        accounts.AccountStatusOut,
        (p.EX_ID,),
        private=True,
    ),
    # Orders
    Endpoint(
        "/orders",
        orders.all_orders,
        orders.OrdersOut,
        (p.STATUS_FILTER, p.SYMBOL_FILTER, p.BOT_ID_FILTER, p.UID_FILTER, p.LIMIT),
        private=True,
    ),
    Endpoint("/orders/queues", orders.queues, orders.QueuesOut, private=True),
    Endpoint(
        "/orders/queues/{name:path}",
        orders.queue,
        orders.QueueHeadOut,
        (p.QUEUE_NAME, p.LIMIT),
        private=True,
    ),
    Endpoint(
        "/orders/{exchange}",
        orders.exchange_orders,
        orders.ExchangeOrdersOut,
        (p.EXCHANGE, p.STATUS_FILTER, p.SYMBOL_FILTER, p.BOT_ID_FILTER, p.UID_FILTER, p.LIMIT),
        private=True,
    ),
    Endpoint(
        "/orders/{exchange}/{order_id:path}",
        orders.order,
        orders.OrderOut,
        (p.EXCHANGE, p.ORDER_ID),
        private=True,
    ),
    # Bots
    Endpoint("/bots", bots.bots, bots.BotsOut),
    Endpoint("/bots/blocks", bots.blocks, bots.BlocksOut),
    Endpoint("/bots/coordination", bots.coordination, bots.CoordinationOut),
    Endpoint(
        "/bots/blocks/{ex_id}/{symbol:path}",
        bots.block,
        bots.SymbolBlockOut,
        (p.EX_ID, p.SYMBOL),
    ),
    Endpoint("/bots/{bot_id}", bots.bot, bots.BotOut, (p.BOT_ID,)),
    # Trades
    Endpoint("/trades", trades.trade_lists, trades.TradeListsOut, private=True),
    Endpoint("/trades/status", trades.trade_statuses, trades.TradeStatusesOut, private=True),
    Endpoint("/trades/metrics", trades.trade_metrics, trades.TradeMetricsOut, private=True),
    Endpoint(
        "/trades/users/{uid}",
        trades.user_trade_lists,
        trades.UserTradeListsOut,
        (p.UID,),
        private=True,
    ),
    Endpoint(
        "/trades/users/{uid}/{exchange}",
        trades.user_trades,
        trades.UserTradesOut,
        (p.UID, p.EXCHANGE, p.LIMIT),
        private=True,
    ),
    Endpoint(
        "/trades/{exchange}/{symbol:path}",
        trades.symbol_trades,
        trades.SymbolTradesOut,
        (p.EXCHANGE, p.SYMBOL, p.LIMIT),
        private=True,
    ),
    # OHLCV
    Endpoint("/ohlcv", ohlcv.all_series, ohlcv.SeriesListOut),
    Endpoint("/ohlcv/{symbol:path}/timeframes", ohlcv.timeframes, ohlcv.TimeframesOut, (p.SYMBOL,)),
    Endpoint(
        "/ohlcv/{symbol:path}/{timeframe}",
        ohlcv.bars,
        ohlcv.BarsOut,
        (p.SYMBOL, p.TIMEFRAME, p.OHLCV_LIMIT, p.SINCE, p.UNTIL),
    ),
    # Processes: fixed words before the process id
    Endpoint(
        "/processes",
        processes.processes,
        processes.ProcessesOut,
        (
            p.PROCESS_TYPE,
            p.COMPONENT_FILTER,
            p.PROCESS_STATUS,
            p.SINCE_MINUTES,
            p.STALE_AFTER,
        ),
    ),
    Endpoint(
        "/processes/health",
        processes.processes_health,
        processes.ProcessHealthOut,
        (p.SINCE_MINUTES, p.STALE_AFTER),
    ),
    Endpoint(
        "/processes/components/{component:path}",
        processes.component_process,
        processes.ProcessOut,
        (p.COMPONENT, p.STALE_AFTER),
    ),
    Endpoint(
        "/processes/{process_id:path}",
        processes.process,
        processes.ProcessOut,
        (p.PROCESS_ID, p.STALE_AFTER),
    ),
)


def starlette_routes(auth: Auth) -> list[Route]:
    """The table as Starlette routes; GET only (Starlette adds HEAD)."""
    return [
        Route(e.path, serve(e, auth), methods=["GET"], name=f"{e.tag}.{e.handler.__name__}")
        for e in ENDPOINTS
    ]


def serve(endpoint: Endpoint, auth: Auth) -> Handler:
    """The endpoint's handler with what every route shares around it: the auth checks, Redis
    errors mapped to API errors, ``Cache-Control: no-store`` on private data, a weak ``ETag``
    with ``If-None-Match`` answered 304 on cache data, and the request metrics."""
    handler = auth.guard(endpoint.handler, endpoint.path, endpoint.tag)
    route, private = openapi_path(endpoint.path), endpoint.private  # metrics label
    # Cache data answers are tagged; the service routes' (latency, uptime, memory) change by
    # themselves, and the non-JSON ones are streams, text or files.
    conditional = endpoint.tag != "service" and not issubclass(endpoint.response, Raw)

    async def served(request: Request) -> Response:
        start = perf_counter()
        status = 500
        try:
            try:
                response = await handler(request)
            except RedisError as exc:
                raise from_redis(exc) from exc
            if private:
                response.headers["Cache-Control"] = "no-store"
            if conditional and response.status_code == 200:
                response = not_modified(request, response) or response
            status = response.status_code
            return response
        except ApiError as exc:
            status = exc.status
            raise
        finally:
            metrics.observe(route, request.method, status, perf_counter() - start)

    return served
