"""THE route table: every route of the API, declared once, with its parameters, its answer and
its policy: the HTTP routes (``Endpoint``) and the WebSocket routes of the v0.2.6 protocol
(``Socket``). The app, the OpenAPI document, authorization, metrics and the tests' completeness
checks all read it (through the running app's routes).

In every group, fixed words come before parameters of the same shape (``/tickers/health``
before ``/tickers/{exchange}``): Starlette matches in order.
"""

from __future__ import annotations

import dataclasses

from . import answers
from .envelopes import DOMAIN, GATEWAY
from .handlers import (
    accounts,
    bots,
    docs,
    live,
    ohlcv,
    orders,
    processes,
    service,
    stream,
    tickers,
    trades,
    ui,
)
from .params import (
    ACCOUNTS_CURSOR,
    ACTIVE_MAX_AGE,
    BOT_ID,
    BOT_ID_FILTER,
    COMPONENT,
    COMPONENT_FILTER,
    CURRENCY,
    EX_ID,
    EXCHANGE,
    EXCHANGE_FILTER,
    HASH_CURSOR,
    HASHES_CURSOR,
    KEY_CURSOR,
    LIMIT,
    MAX_AGE,
    OFFSET_CURSOR,
    OHLCV_LIMIT,
    ORDER_ID,
    ORDERS_EXCHANGE,
    PAGE,
    PROCESS_ID,
    PROCESS_STATUS,
    PROCESS_TYPE,
    QUEUE_NAME,
    SINCE,
    SINCE_MINUTES,
    STALE_AFTER,
    STALE_TICK,
    STATUS_FILTER,
    SYMBOL,
    SYMBOL_FILTER,
    SYMBOLS,
    TIMEFRAME,
    UID,
    UID_FILTER,
    UNTIL,
    IdKind,
    Param,
)
from .routing import Access, Endpoint, Family, Handler, Socket
from .ws import accounts as ws_accounts
from .ws import bots as ws_bots
from .ws import gateway as ws_gateway
from .ws import ohlcv as ws_ohlcv
from .ws import orders as ws_orders
from .ws import process as ws_process
from .ws import tickers as ws_tickers
from .ws import trades as ws_trades

__all__ = ["ENDPOINTS", "ROUTES", "SOCKETS"]

# /ws answers every domain's actions (under v0.2.6's names): each reads as in its domain.
GATEWAY_FAMILIES = tuple(
    (ws_gateway.OPERATION_NAMES.get(action.name, action.name), family)
    for domain, family in (
        (ws_tickers, Family.MARKET),
        (ws_accounts, Family.ACCOUNTS),
        (ws_orders, Family.ORDERS),
        (ws_bots, Family.BOTS),
        (ws_trades, Family.MARKET),
        (ws_ohlcv, Family.MARKET),
        (ws_process, Family.PROCESSES),
    )
    for action in domain.ACTIONS
)

ORDER_FILTERS = (STATUS_FILTER, SYMBOL_FILTER, BOT_ID_FILTER, UID_FILTER, LIMIT)
# /stream/orders: /orders and /orders/{exchange} in one, its exchange a query parameter.
STREAM_EXCHANGE = dataclasses.replace(ORDERS_EXCHANGE, where="query")


def _stream(
    path: str, handler: Handler, events: type, params: tuple[Param, ...], family: Family
) -> Endpoint:
    """A live stream (``handlers.live``): the twin of REST routes, in their family."""
    return Endpoint(
        path,
        handler,
        events,
        params,
        tag="stream",
        etag=False,
        family=family,
        stream_headers=stream.HEADERS,
    )


ROUTES: tuple[Endpoint | Socket, ...] = (
    # Service: answers that change by themselves (latency, uptime, memory) carry no ETag.
    Endpoint(
        "/health",
        service.health,
        service.HealthOut,
        tag="service",
        access=Access.PROBE,
        etag=False,
        failure=service.unhealthy,
        family=Family.OPEN,
    ),
    Endpoint(
        "/info", service.info, service.InfoOut, tag="service", etag=False, family=Family.SERVICE
    ),
    Endpoint(
        "/overview",
        service.overview,
        service.OverviewOut,
        tag="service",
        etag=False,
        heavy=True,
        family=Family.SERVICE,
    ),
    Endpoint(
        "/exchanges",
        service.exchanges,
        service.ExchangesOut,
        tag="service",
        etag=False,
        heavy=True,
        family=Family.MARKET,
    ),
    Endpoint(
        "/metrics",
        service.metrics,
        service.MetricsText,
        tag="service",
        etag=False,
        family=Family.SERVICE,
        reads_cache=False,
    ),
    # Docs
    Endpoint(
        "/openapi.json",
        docs.openapi_json,
        docs.OpenApiDocument,
        tag="docs",
        access=Access.DOCS,
        etag=False,
        family=Family.OPEN,
        reads_cache=False,
    ),
    Endpoint(
        "/docs",
        docs.docs_page,
        docs.DocsPage,
        tag="docs",
        access=Access.DOCS,
        etag=False,
        family=Family.OPEN,
        reads_cache=False,
    ),
    Endpoint(
        "/docs/{asset}",
        docs.docs_asset,
        docs.DocsAsset,
        (docs.ASSET,),
        tag="docs",
        access=Access.DOCS,
        family=Family.OPEN,
        reads_cache=False,
    ),
    # Pages for people, open like the docs; each answer carries its own ETag.
    Endpoint(
        "/",
        ui.home_page,
        ui.HtmlPage,
        tag="ui",
        access=Access.DOCS,
        family=Family.OPEN,
        reads_cache=False,
    ),
    Endpoint(
        "/ui",
        ui.live_page,
        ui.HtmlPage,
        tag="ui",
        access=Access.DOCS,
        family=Family.OPEN,
        reads_cache=False,
    ),
    Endpoint(
        "/ui/{asset}",
        ui.live_asset,
        ui.LiveAsset,
        (ui.ASSET,),
        tag="ui",
        access=Access.DOCS,
        family=Family.OPEN,
        reads_cache=False,
    ),
    # Tickers
    Endpoint(
        "/tickers",
        tickers.all_tickers,
        tickers.TickersOut,
        (SYMBOLS, MAX_AGE, PAGE, HASHES_CURSOR),
        tag="tickers",
        heavy=True,
        family=Family.MARKET,
    ),
    Endpoint(
        "/tickers/health",
        tickers.tickers_health,
        tickers.TickerHealthOut,
        (STALE_TICK,),
        tag="tickers",
        heavy=True,
        family=Family.MARKET,
    ),
    Endpoint(
        "/tickers/{exchange}",
        tickers.exchange_tickers,
        tickers.ExchangeTickersOut,
        (EXCHANGE, SYMBOLS, MAX_AGE, PAGE, HASH_CURSOR),
        tag="tickers",
        family=Family.MARKET,
    ),
    Endpoint(
        "/tickers/{exchange}/active",
        tickers.active_tickers,
        tickers.ExchangeTickersOut,
        (EXCHANGE, SYMBOLS, ACTIVE_MAX_AGE, PAGE, HASH_CURSOR),
        tag="tickers",
        family=Family.MARKET,
    ),
    Endpoint(
        "/tickers/{exchange}/{symbol:path}",
        tickers.ticker,
        tickers.TickerOut,
        (EXCHANGE, SYMBOL),
        tag="tickers",
        family=Family.MARKET,
    ),
    # Streams
    Endpoint(
        "/stream/tickers",
        stream.stream_tickers,
        stream.TickerEvents,
        (EXCHANGE_FILTER, SYMBOLS),
        tag="stream",
        etag=False,
        family=Family.MARKET,
        stream_headers=stream.HEADERS,
    ),
    _stream(
        "/stream/orders",
        live.stream_orders,
        live.OrderEvents,
        (STREAM_EXCHANGE, *ORDER_FILTERS),
        Family.ORDERS,
    ),
    _stream(
        "/stream/orders/queues", live.stream_order_queues, live.QueueEvents, (PAGE,), Family.ORDERS
    ),
    _stream(
        "/stream/accounts/{ex_id}",
        live.stream_account,
        live.AccountEvents,
        (EX_ID,),
        Family.ACCOUNTS,
    ),
    _stream("/stream/bots", live.stream_bots, live.BotEvents, (PAGE,), Family.BOTS),
    _stream(
        "/stream/processes",
        live.stream_processes,
        live.ProcessEvents,
        (PROCESS_TYPE, COMPONENT_FILTER, PROCESS_STATUS, SINCE_MINUTES, STALE_AFTER, PAGE),
        Family.PROCESSES,
    ),
    _stream(
        "/stream/trades/{exchange}/{symbol:path}",
        live.stream_trades,
        live.TradeEvents,
        (EXCHANGE, SYMBOL, LIMIT),
        Family.MARKET,
    ),
    _stream(
        "/stream/ohlcv/{symbol:path}/{timeframe}",
        live.stream_ohlcv,
        live.OhlcvEvents,
        (SYMBOL, TIMEFRAME, OHLCV_LIMIT, SINCE, UNTIL),
        Family.MARKET,
    ),
    # Accounts
    Endpoint(
        "/accounts",
        accounts.accounts,
        accounts.AccountsOut,
        (PAGE, ACCOUNTS_CURSOR),
        tag="accounts",
        no_store=True,
        family=Family.ACCOUNTS,
        lists=IdKind.EX_ID,
    ),
    Endpoint(
        "/accounts/{ex_id}/balances",
        accounts.balances,
        accounts.BalancesOut,
        (EX_ID,),
        tag="accounts",
        no_store=True,
        family=Family.ACCOUNTS,
    ),
    Endpoint(
        "/accounts/{ex_id}/balances/{currency}",
        accounts.balance,
        accounts.AccountBalanceOut,
        (EX_ID, CURRENCY),
        tag="accounts",
        no_store=True,
        family=Family.ACCOUNTS,
    ),
    Endpoint(
        "/accounts/{ex_id}/positions",
        accounts.positions,
        accounts.PositionsOut,
        (EX_ID,),
        tag="accounts",
        no_store=True,
        family=Family.ACCOUNTS,
    ),
    Endpoint(
        "/accounts/{ex_id}/positions/{symbol:path}",
        accounts.position,
        accounts.AccountPositionOut,
        (EX_ID, SYMBOL),
        tag="accounts",
        no_store=True,
        family=Family.ACCOUNTS,
    ),
    Endpoint(
        "/accounts/{ex_id}/status",
        accounts.status,
        accounts.AccountStatusOut,
        (EX_ID,),
        tag="accounts",
        no_store=True,
        family=Family.ACCOUNTS,
    ),
    # Orders
    Endpoint(
        "/orders",
        orders.all_orders,
        orders.OrdersOut,
        (*ORDER_FILTERS, HASHES_CURSOR),
        tag="orders",
        no_store=True,
        family=Family.ORDERS,
    ),
    Endpoint(
        "/orders/queues",
        orders.queues,
        orders.QueuesOut,
        (PAGE, KEY_CURSOR),
        tag="orders",
        no_store=True,
        family=Family.ORDERS,
    ),
    Endpoint(
        "/orders/queues/{name:path}",
        orders.queue,
        orders.QueueHeadOut,
        (QUEUE_NAME, LIMIT, OFFSET_CURSOR),
        tag="orders",
        no_store=True,
        family=Family.ORDERS,
    ),
    Endpoint(
        "/orders/{exchange}",
        orders.exchange_orders,
        orders.ExchangeOrdersOut,
        (ORDERS_EXCHANGE, *ORDER_FILTERS, HASH_CURSOR),
        tag="orders",
        no_store=True,
        family=Family.ORDERS,
    ),
    Endpoint(
        "/orders/{exchange}/{order_id:path}",
        orders.order,
        orders.OrderOut,
        (ORDERS_EXCHANGE, ORDER_ID),
        tag="orders",
        no_store=True,
        family=Family.ORDERS,
    ),
    # Bots (their feeds hold PnL: no-store)
    Endpoint(
        "/bots",
        bots.bots,
        bots.BotsOut,
        (PAGE, HASH_CURSOR),
        tag="bots",
        no_store=True,
        family=Family.BOTS,
        lists=IdKind.BOT_ID,
    ),
    Endpoint(
        "/bots/blocks",
        bots.blocks,
        bots.BlocksOut,
        (PAGE, HASH_CURSOR),
        tag="bots",
        no_store=True,
        family=Family.BOTS,
    ),
    Endpoint(
        "/bots/coordination",
        bots.coordination,
        bots.CoordinationOut,
        tag="bots",
        no_store=True,
        family=Family.BOTS,
    ),
    Endpoint(
        "/bots/blocks/{ex_id}/{symbol:path}",
        bots.block,
        bots.SymbolBlockOut,
        (EX_ID, SYMBOL),
        tag="bots",
        no_store=True,
        family=Family.BOTS,
    ),
    Endpoint(
        "/bots/{bot_id}",
        bots.bot,
        bots.BotOut,
        (BOT_ID,),
        tag="bots",
        no_store=True,
        family=Family.BOTS,
    ),
    # Trades
    Endpoint(
        "/trades",
        trades.trade_lists,
        trades.TradeListsOut,
        (PAGE, KEY_CURSOR),
        tag="trades",
        no_store=True,
        family=Family.MARKET,
    ),
    Endpoint(
        "/trades/status",
        trades.trade_statuses,
        trades.TradeStatusesOut,
        (PAGE, KEY_CURSOR),
        tag="trades",
        no_store=True,
        family=Family.USER_TRADES,
    ),
    Endpoint(
        "/trades/metrics",
        trades.trade_metrics,
        trades.TradeMetricsOut,
        tag="trades",
        heavy=True,
        no_store=True,
        family=Family.USER_TRADES,
    ),
    Endpoint(
        "/trades/users/{uid}",
        trades.user_trade_lists,
        trades.UserTradeListsOut,
        (UID, PAGE, KEY_CURSOR),
        tag="trades",
        no_store=True,
        family=Family.USER_TRADES,
    ),
    Endpoint(
        "/trades/users/{uid}/{exchange}",
        trades.user_trades,
        trades.UserTradesOut,
        (UID, EXCHANGE, LIMIT, OFFSET_CURSOR),
        tag="trades",
        no_store=True,
        family=Family.USER_TRADES,
    ),
    Endpoint(
        "/trades/{exchange}/{symbol:path}",
        trades.symbol_trades,
        trades.SymbolTradesOut,
        (EXCHANGE, SYMBOL, LIMIT, OFFSET_CURSOR),
        tag="trades",
        no_store=True,
        family=Family.MARKET,
    ),
    # OHLCV
    Endpoint(
        "/ohlcv",
        ohlcv.all_series,
        ohlcv.SeriesListOut,
        (PAGE, KEY_CURSOR),
        tag="ohlcv",
        family=Family.MARKET,
    ),
    Endpoint(
        "/ohlcv/{symbol:path}/timeframes",
        ohlcv.timeframes,
        ohlcv.TimeframesOut,
        (SYMBOL,),
        tag="ohlcv",
        family=Family.MARKET,
    ),
    Endpoint(
        "/ohlcv/{symbol:path}/{timeframe}",
        ohlcv.bars,
        ohlcv.BarsOut,
        (SYMBOL, TIMEFRAME, OHLCV_LIMIT, SINCE, UNTIL),
        tag="ohlcv",
        family=Family.MARKET,
    ),
    # Processes (records hold their parameters: no-store)
    Endpoint(
        "/processes",
        processes.processes,
        processes.ProcessesOut,
        (
            PROCESS_TYPE,
            COMPONENT_FILTER,
            PROCESS_STATUS,
            SINCE_MINUTES,
            STALE_AFTER,
            PAGE,
            HASHES_CURSOR,
        ),
        tag="processes",
        no_store=True,
        family=Family.PROCESSES,
    ),
    Endpoint(
        "/processes/health",
        answers.processes_health,
        answers.ProcessHealthOut,
        (SINCE_MINUTES, STALE_AFTER),
        tag="processes",
        heavy=True,
        no_store=True,
        family=Family.PROCESSES,
    ),
    Endpoint(
        "/processes/components/{component:path}",
        processes.component_process,
        answers.ProcessOut,
        (COMPONENT, STALE_AFTER),
        tag="processes",
        no_store=True,
        family=Family.PROCESSES,
    ),
    Endpoint(
        "/processes/{process_id:path}",
        processes.process,
        answers.ProcessOut,
        (PROCESS_ID, STALE_AFTER),
        tag="processes",
        no_store=True,
        family=Family.PROCESSES,
    ),
    # WebSocket (the v0.2.6 protocol): top-level routes, as master_api checks
    Socket(
        "/ws",
        ws_gateway.ACTIONS,
        GATEWAY,
        tag="gateway",
        family=Family.OPEN,
        families=GATEWAY_FAMILIES,
    ),
    Socket(
        "/ws/tickers/{connection_id}",
        ws_tickers.ACTIONS,
        DOMAIN,
        tag="tickers",
        family=Family.MARKET,
    ),
    Socket(
        "/ws/accounts/{connection_id}",
        ws_accounts.ACTIONS,
        DOMAIN,
        tag="accounts",
        family=Family.ACCOUNTS,
    ),
    Socket(
        "/ws/orders/{connection_id}", ws_orders.ACTIONS, DOMAIN, tag="orders", family=Family.ORDERS
    ),
    Socket("/ws/bots/{connection_id}", ws_bots.ACTIONS, DOMAIN, tag="bots", family=Family.BOTS),
    Socket(
        "/ws/trades/{connection_id}", ws_trades.ACTIONS, DOMAIN, tag="trades", family=Family.MARKET
    ),
    Socket(
        "/ws/ohlcv/{connection_id}", ws_ohlcv.ACTIONS, DOMAIN, tag="ohlcv", family=Family.MARKET
    ),
    Socket(
        "/ws/process/{connection_id}",
        ws_process.ACTIONS,
        DOMAIN,
        tag="process",
        family=Family.PROCESSES,
    ),
)
ENDPOINTS = tuple(route for route in ROUTES if isinstance(route, Endpoint))
SOCKETS = tuple(route for route in ROUTES if isinstance(route, Socket))
