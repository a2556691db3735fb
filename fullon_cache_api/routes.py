"""THE route table: one entry per endpoint, with everything the app and its docs need."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import params as p
from .handlers import accounts, bots, ohlcv, orders, processes, service, tickers, trades  # noqa: F401

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
    # Docs (handlers/docs.py)
    # end Docs
    # Tickers: fixed words before parameters
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
    # Accounts (handlers/accounts.py)
    # end Accounts
    # Orders (handlers/orders.py)
    # end Orders
    # Bots (handlers/bots.py)
    # end Bots
    # Trades (handlers/trades.py)
    # end Trades
    # OHLCV (handlers/ohlcv.py)
    # end OHLCV
    # Processes (handlers/processes.py)
    # end Processes
)


def starlette_routes() -> list[Route]:
    """The table as Starlette routes; GET only (Starlette adds HEAD)."""
    return [
        Route(
            e.path,
            _no_store(e.handler) if e.private else e.handler,
            methods=["GET"],
            name=f"{e.tag}.{e.handler.__name__}",
        )
        for e in ENDPOINTS
    ]


def _no_store(handler: Handler) -> Handler:
    async def no_store(request: Request) -> Response:
        response = await handler(request)
        response.headers["Cache-Control"] = "no-store"
        return response

    return no_store
