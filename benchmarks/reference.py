"""The floor the API is measured against: a bare ASGI callable, no framework.

For each benchmarked endpoint it does the same Redis read as the API (one HGET, one HGETALL,
one SCAN loop + one pipeline, one LRANGE), decodes the stored JSON into msgspec Structs, builds
the same output Structs and encodes them with ``msgspec.json``: the bodies are byte for byte the
API's (``run.py`` checks it with a pinned clock). What it leaves out is everything a framework
and a real API add: routing tables, middleware, exception handlers, parameter validation, the
lenient fallbacks for NaN tokens and corrupt values, error bodies (it answers a bare 404).

Routes: ``/tickers``, ``/tickers/{exchange}``, ``/tickers/{exchange}/{symbol}``,
``/ohlcv/{symbol}/{timeframe}?limit=N``, ``/accounts/{ex_id}/balances``, ``/orders/{exchange}``.

Served under hypercorn exactly like the API (same configuration, one worker)::

    REDIS_URL=redis://127.0.0.1:6379/0 python benchmarks/reference.py --port 8001

With ``REFERENCE_MEMO=1`` (``memo=True``) it answers every path after the first time from
memory: no Redis, no decoding, no encoding, only the server around a stored body. That is the
ceiling of any cache on this server: what a request costs hypercorn itself.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import msgspec
from redis.asyncio import Redis

from fullon_cache_api.answers import BalanceOut
from fullon_cache_api.handlers.accounts import BalancesOut
from fullon_cache_api.handlers.ohlcv import BarsOut
from fullon_cache_api.handlers.orders import ExchangeOrdersOut, OrderOut
from fullon_cache_api.handlers.tickers import ExchangeTickersOut, TickerOut, TickersOut
from fullon_cache_api.ids import id_text
from fullon_cache_api.readers.accounts import StoredBalance
from fullon_cache_api.readers.ohlcv import Bar, StoredBar
from fullon_cache_api.readers.orders import StoredOrder
from fullon_cache_api.readers.tickers import StoredTick

Clock = Callable[[], float]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]

# The same Structs as the API (types, not framework): the bodies must be byte for byte equal.
# The reference's decoders stay bare (no lenient fallbacks).
decode_tick = msgspec.json.Decoder(StoredTick, strict=False).decode
decode_bar = msgspec.json.Decoder(StoredBar, strict=False).decode
decode_balances = msgspec.json.Decoder(dict[str, StoredBalance | str], strict=False).decode
decode_order = msgspec.json.Decoder(StoredOrder, strict=False).decode
encode = msgspec.json.Encoder().encode


def epoch_of(value: float | str | None) -> float | None:
    if isinstance(value, float):
        return value
    if isinstance(value, str):
        return datetime.fromisoformat(value).timestamp()
    return None


def rfc3339(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat()[:-6] + "Z"


def ticker_out(exchange: str, symbol: str, raw: bytes, now: float) -> TickerOut:
    t = decode_tick(raw)
    epoch = epoch_of(t.time)
    age = None if epoch is None else round(now - epoch, 3)
    return TickerOut(
        exchange=exchange,
        symbol=symbol,
        price=t.price,
        bid=t.bid,
        ask=t.ask,
        last=t.last,
        volume=t.volume,
        time=rfc3339(epoch),
        age_s=age,
    )


def tickers_of(exchange: str, fields: dict[bytes, bytes], now: float) -> list[TickerOut]:
    return [ticker_out(exchange, f.decode(), fields[f], now) for f in sorted(fields)]


# handlers ----------------------------------------------------------------------------------------


class Reference:
    """The ASGI callable. ``redis_url`` is read on first use (or at lifespan start)."""

    def __init__(
        self, redis_url: str | None = None, clock: Clock = time.time, memo: bool = False
    ) -> None:
        self.redis_url = redis_url
        self.clock = clock
        self._redis: Redis | None = None
        self.memo: dict[tuple[str, bytes], bytes | None] | None = {} if memo else None

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            self._redis = Redis.from_url(self.redis_url or os.environ["REDIS_URL"])
        return self._redis

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        key = (scope["path"], scope["query_string"])
        if self.memo is not None and key in self.memo:
            body = self.memo[key]
        else:
            body = await self.route(scope["path"].strip("/").split("/"), scope["query_string"])
            if self.memo is not None:
                self.memo[key] = body
        if body is None:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.redis  # noqa: B018 - open the client now
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._redis is not None:
                    await self._redis.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def route(self, parts: list[str], query: bytes) -> bytes | None:
        head, n = parts[0], len(parts)
        if head == "tickers":
            if n == 1:
                return await self.all_tickers()
            if n == 2:
                return await self.exchange_tickers(parts[1])
            return await self.ticker(parts[1], "/".join(parts[2:]))
        if head == "ohlcv" and n >= 3:
            limit = int(parse_qs(query.decode()).get("limit", ["100"])[0])
            return await self.bars("/".join(parts[1:-1]), parts[-1], limit)
        if head == "accounts" and n == 3 and parts[2] == "balances":
            return await self.balances(parts[1])
        if head == "orders" and n == 2:
            return await self.orders(parts[1])
        return None

    async def ticker(self, exchange: str, symbol: str) -> bytes | None:
        raw = await self.redis.hget(f"tickers:{exchange}", symbol)
        return None if raw is None else encode(ticker_out(exchange, symbol, raw, self.clock()))

    async def exchange_tickers(self, exchange: str) -> bytes | None:
        fields = await self.redis.hgetall(f"tickers:{exchange}")
        if not fields:
            return None
        items = tickers_of(exchange, fields, self.clock())
        return encode(ExchangeTickersOut(exchange=exchange, items=items, count=len(items)))

    async def all_tickers(self) -> bytes:
        found = {k async for k in self.redis.scan_iter(match="tickers:*", count=1000)}
        keys = sorted(found)
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        results = await pipe.execute()
        now = self.clock()
        items = [
            t
            for key, fields in zip(keys, results, strict=True)
            for t in tickers_of(key[8:].decode(), fields, now)
        ]
        return encode(TickersOut(items=items, count=len(items)))

    async def bars(self, symbol: str, timeframe: str, limit: int) -> bytes | None:
        elements = await self.redis.lrange(f"ohlcv:{symbol}:{timeframe}", 0, -1)
        if not elements:
            return None
        by_ts: dict[int, Bar] = {}
        for raw in elements:
            b = decode_bar(raw)
            ms = round(b.ts * 1000) if b.ts < 1e11 else round(b.ts)
            by_ts[ms] = (ms, b.open, b.high, b.low, b.close, b.volume)
        bars = [by_ts[ts] for ts in sorted(by_ts)][-limit:]
        return encode(BarsOut(symbol=symbol, timeframe=timeframe, bars=bars, count=len(bars)))

    async def balances(self, ex_id: str) -> bytes | None:
        raw = await self.redis.hget("accounts", ex_id)
        if raw is None:
            return None
        document = decode_balances(raw)
        date = document.pop("date", None)
        items = []
        for currency in sorted(document):
            b = document[currency]
            assert isinstance(b, StoredBalance)
            total = b.total if b.total is not None else b.balance
            free = b.free if b.free is not None else b.available
            used = b.used
            if used is None and total is not None and free is not None:
                used = total - free
            items.append(BalanceOut(currency=currency, free=free, used=used, total=total))
        updated = rfc3339(epoch_of(date)) if isinstance(date, str) else None
        return encode(BalancesOut(ex_id=ex_id, updated_at=updated, items=items, count=len(items)))

    async def orders(self, exchange: str, limit: int = 100) -> bytes:
        fields = await self.redis.hgetall(f"order_status:{exchange}")
        items = []
        for field in sorted(fields)[:limit]:
            o = decode_order(fields[field])
            items.append(
                OrderOut(
                    order_id=field.decode(),
                    ex_order_id=id_text(o.ex_order_id),
                    exchange=exchange,
                    symbol=o.symbol,
                    side=o.side,
                    order_type=o.order_type,
                    status=o.status,
                    volume=o.volume,
                    final_volume=o.final_volume,
                    price=o.price,
                    plimit=o.plimit,
                    bot_id=id_text(o.bot_id),
                    uid=id_text(o.uid),
                    ex_id=id_text(o.ex_id),
                    cat_ex_id=id_text(o.cat_ex_id),
                    command=o.command,
                    reason=o.reason,
                    futures=o.futures,
                    leverage=o.leverage,
                    tick=o.tick,
                    updated_at=rfc3339(epoch_of(o.timestamp)),
                )
            )
        return encode(ExchangeOrdersOut(exchange=exchange, items=items, count=len(items)))


def starlette_app(reference: Reference) -> Any:
    """The same reads as one bare Starlette route (``Starlette``, ``Route``, ``Request``,
    ``Response``; nothing else): the minimal reference issue 13 measured against, where the
    ASGI callable above is the framework-free floor."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def endpoint(request: Request) -> Response:
        parts = request.path_params["path"].strip("/").split("/")
        body = await reference.route(parts, request.scope["query_string"])
        if body is None:
            return Response(status_code=404)
        return Response(body, media_type="application/json")

    return Starlette(routes=[Route("/{path:path}", endpoint)])


app = Reference(memo=os.environ.get("REFERENCE_MEMO") == "1")
if os.environ.get("REFERENCE_STARLETTE") == "1":
    app = starlette_app(app)


def main() -> int:
    from harness import serve_like_the_api

    return serve_like_the_api(app, sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
