"""The peer: what a user would write instead of this API, with FastAPI and pydantic.

The same reads as the API and the reference, with redis.asyncio (hiredis) and its default
connection pool: one HGET for a ticker or an account's balances, one HGETALL for an exchange's
tickers or orders, one SCAN loop and one pipeline of HGETALL for every ticker, one LRANGE of
the last ``limit`` elements for OHLCV bars. Stored JSON is parsed by pydantic models
(``model_validate_json``), answers are pydantic response models that FastAPI validates and
serializes. No ETag, no metrics, no auth, no paging, no lenient fallbacks: a bare 404.

The bodies are byte for byte the API's on the benchmark data (``run.py`` checks it with a
pinned clock), with one difference it documents: the peer's ``/ohlcv`` reads exactly the last
``limit`` elements, where the API reads 64 more to absorb re-sent candles (the benchmark's
series has none, so the bars are the same).

Routes: ``/tickers``, ``/tickers/{exchange}``, ``/tickers/{exchange}/{symbol}``,
``/ohlcv/{symbol}/{timeframe}?limit=N``, ``/accounts/{ex_id}/balances``, ``/orders/{exchange}``.

Served under hypercorn exactly like the API (same configuration, one worker)::

    REDIS_URL=redis://127.0.0.1:6379/0 python benchmarks/peer_fastapi.py --port 8002
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, TypeAdapter
from redis.asyncio import Redis

from fullon_cache_api.ids import id_text

Clock = Callable[[], float]
Id = str | int | None
"""An id as writers store it: a number or a string."""


# what fullon_cache stores ------------------------------------------------------------------------


class StoredTick(BaseModel):
    price: float | None = None
    volume: float | None = None
    time: float | str | None = None
    bid: float | None = None
    ask: float | None = None
    last: float | None = None


class StoredBalance(BaseModel):
    free: float | None = None
    used: float | None = None
    total: float | None = None
    balance: float | None = None
    available: float | None = None


class StoredOrder(BaseModel):
    ex_order_id: Id = None
    symbol: str | None = None
    side: str | None = None
    order_type: str | None = None
    status: str | None = None
    volume: float | None = None
    final_volume: float | None = None
    price: float | None = None
    plimit: float | None = None
    bot_id: Id = None
    uid: Id = None
    ex_id: Id = None
    cat_ex_id: Id = None
    command: str | None = None
    reason: str | None = None
    futures: bool | None = None
    leverage: float | None = None
    tick: float | None = None
    timestamp: float | str | None = None


StoredBar = tuple[float, float | None, float | None, float | None, float | None, float | None]
bar_adapter: TypeAdapter[StoredBar] = TypeAdapter(StoredBar)
balances_adapter: TypeAdapter[dict[str, StoredBalance | str]] = TypeAdapter(
    dict[str, StoredBalance | str]
)


# answers -----------------------------------------------------------------------------------------


class TickerOut(BaseModel):
    exchange: str
    symbol: str
    price: float | None
    bid: float | None
    ask: float | None
    last: float | None
    volume: float | None
    time: str | None
    age_s: float | None


class ExchangeTickersOut(BaseModel):
    exchange: str
    items: list[TickerOut]
    count: int


class TickersOut(BaseModel):
    items: list[TickerOut]
    count: int


class BarsOut(BaseModel):
    symbol: str
    timeframe: str
    bars: list[tuple[int, float | None, float | None, float | None, float | None, float | None]]
    count: int


class BalanceOut(BaseModel):
    currency: str
    free: float | None
    used: float | None
    total: float | None


class BalancesOut(BaseModel):
    ex_id: str
    updated_at: str | None
    items: list[BalanceOut]
    count: int


ORDER_IDS = ("ex_order_id", "bot_id", "uid", "ex_id", "cat_ex_id")


class OrderOut(BaseModel):
    order_id: str
    ex_order_id: str | None
    exchange: str
    symbol: str | None
    side: str | None
    order_type: str | None
    status: str | None
    volume: float | None
    final_volume: float | None
    price: float | None
    plimit: float | None
    bot_id: str | None
    uid: str | None
    ex_id: str | None
    cat_ex_id: str | None
    command: str | None
    reason: str | None
    futures: bool | None
    leverage: float | None
    tick: float | None
    updated_at: str | None


class ExchangeOrdersOut(BaseModel):
    exchange: str
    items: list[OrderOut]
    count: int


# helpers -----------------------------------------------------------------------------------------


def epoch_of(value: float | str | None) -> float | None:
    if isinstance(value, float | int):
        return float(value)
    if isinstance(value, str):
        return datetime.fromisoformat(value).timestamp()
    return None


def rfc3339(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat()[:-6] + "Z"


def ticker_out(exchange: str, symbol: str, raw: bytes, now: float) -> TickerOut:
    t = StoredTick.model_validate_json(raw)
    epoch = epoch_of(t.time)
    return TickerOut(
        exchange=exchange,
        symbol=symbol,
        price=t.price,
        bid=t.bid,
        ask=t.ask,
        last=t.last,
        volume=t.volume,
        time=rfc3339(epoch),
        age_s=None if epoch is None else round(now - epoch, 3),
    )


def tickers_of(exchange: str, fields: dict[bytes, bytes], now: float) -> list[TickerOut]:
    return [ticker_out(exchange, f.decode(), fields[f], now) for f in sorted(fields)]


# the app -----------------------------------------------------------------------------------------


def create_peer(
    redis_url: str | None = None, clock: Clock = time.time, redis_client: Redis | None = None
) -> FastAPI:
    """The peer app. Its client: ``redis_client``, else one made on first use from ``redis_url``
    (default ``REDIS_URL``) and closed by its lifespan."""
    client: list[Redis] = [] if redis_client is None else [redis_client]

    def redis() -> Redis:
        if not client:
            client.append(Redis.from_url(redis_url or os.environ["REDIS_URL"]))
        return client[0]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis()
        yield
        if redis_client is None:
            await redis().aclose()

    app = FastAPI(lifespan=lifespan, title="fullon cache, FastAPI peer")

    @app.get("/tickers")
    async def all_tickers() -> TickersOut:
        keys = sorted({k async for k in redis().scan_iter(match="tickers:*", count=1000)})
        pipe = redis().pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        results = await pipe.execute()
        now = clock()
        items = [
            t
            for key, fields in zip(keys, results, strict=True)
            for t in tickers_of(key[8:].decode(), fields, now)
        ][:1000]
        return TickersOut(items=items, count=len(items))

    @app.get("/tickers/{exchange}")
    async def exchange_tickers(exchange: str) -> ExchangeTickersOut:
        fields = await redis().hgetall(f"tickers:{exchange}")
        if not fields:
            raise HTTPException(404, f"no tickers on {exchange}")
        items = tickers_of(exchange, fields, clock())
        return ExchangeTickersOut(exchange=exchange, items=items, count=len(items))

    @app.get("/tickers/{exchange}/{symbol:path}")
    async def ticker(exchange: str, symbol: str) -> TickerOut:
        raw = await redis().hget(f"tickers:{exchange}", symbol)
        if raw is None:
            raise HTTPException(404, f"no ticker {symbol} on {exchange}")
        return ticker_out(exchange, symbol, raw, clock())

    @app.get("/ohlcv/{symbol:path}/{timeframe}")
    async def bars(symbol: str, timeframe: str, limit: int = Query(100, ge=1, le=10000)) -> BarsOut:
        elements = await redis().lrange(f"ohlcv:{symbol}:{timeframe}", -limit, -1)
        if not elements:
            raise HTTPException(404, f"no OHLCV series {symbol} {timeframe}")
        by_ts = {}
        for raw in elements:
            ts, o, h, low, c, v = bar_adapter.validate_json(raw)
            ms = round(ts * 1000) if ts < 1e11 else round(ts)
            by_ts[ms] = (ms, o, h, low, c, v)
        found = [by_ts[ts] for ts in sorted(by_ts)]
        return BarsOut(symbol=symbol, timeframe=timeframe, bars=found, count=len(found))

    @app.get("/accounts/{ex_id}/balances")
    async def balances(ex_id: str) -> BalancesOut:
        raw = await redis().hget("accounts", ex_id)
        if raw is None:
            raise HTTPException(404, f"no balances for {ex_id}")
        document = balances_adapter.validate_json(raw)
        date = document.pop("date", None)
        items = []
        for currency in sorted(document):
            b = document[currency]
            if not isinstance(b, StoredBalance):
                continue
            total = b.total if b.total is not None else b.balance
            free = b.free if b.free is not None else b.available
            used = b.used
            if used is None and total is not None and free is not None:
                used = total - free
            items.append(BalanceOut(currency=currency, free=free, used=used, total=total))
        updated = rfc3339(epoch_of(date)) if isinstance(date, str) else None
        return BalancesOut(ex_id=ex_id, updated_at=updated, items=items, count=len(items))

    @app.get("/orders/{exchange}")
    async def orders(exchange: str, limit: int = Query(100, ge=1, le=1000)) -> ExchangeOrdersOut:
        fields = await redis().hgetall(f"order_status:{exchange}")
        items = []
        for field in sorted(fields)[:limit]:
            o = StoredOrder.model_validate_json(fields[field])
            stored = o.model_dump(exclude={"timestamp"})
            for name in ORDER_IDS:  # every id a string, as the API answers them
                stored[name] = id_text(stored[name])
            items.append(
                OrderOut(
                    order_id=field.decode(),
                    exchange=exchange,
                    **stored,
                    updated_at=rfc3339(epoch_of(o.timestamp)),
                )
            )
        return ExchangeOrdersOut(exchange=exchange, items=items, count=len(items))

    return app


app = create_peer()


def main() -> int:
    from harness import serve_like_the_api

    return serve_like_the_api(app, sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
