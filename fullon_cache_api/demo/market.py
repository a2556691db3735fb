"""The demo's made-up market: prices of today's order of magnitude, moving as one.

Each asset (BTC, ETH, SOL) has one price, a random walk pulled gently back to where it began so
that a demo left running for days stays believable; every market of the asset (``BTC/USDT`` on
binance, ``BTC/USD`` on kraken, ``BTC/USDC:USDC`` on hyperliquid) is that price with the
exchange's small premium. Candle histories are walks of the same size that end at today's price.
Demo only: nothing here is read by the API.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["ASSETS", "Asset", "Candle", "Market", "base_of", "history"]

Candle = tuple[float, float, float, float, float]
"""open, high, low, close, volume"""


@dataclass(frozen=True)
class Asset:
    price: float
    """Where its price begins (USD)."""
    volatility: float
    """Its moves relative to BTC's."""
    volume: tuple[float, float]
    """The volume of one order or trade: from, to (in the asset)."""
    bar_volume: float
    """A typical one-minute candle's volume (in the asset)."""


ASSETS: dict[str, Asset] = {
    "BTC": Asset(97_250.0, 1.0, (0.002, 0.25), 12.0),
    "ETH": Asset(3_420.0, 1.3, (0.05, 4.0), 180.0),
    "SOL": Asset(184.0, 1.7, (1.0, 60.0), 2_500.0),
}
PREMIUM = {"kraken": 0.0004, "hyperliquid": -0.0003}
"""An exchange's price above (or below) the others', as a fraction."""
STEP = 5e-5
"""BTC's log-price move per step of a quarter second (standard deviation): about 0.08 % a
minute, 3 % a day."""
REVERSION = 2e-5
"""How much of its distance from where it began a price gives back each step."""


def base_of(symbol: str) -> str:
    """The asset a symbol trades: what comes before the "/" (``BTC`` of ``BTC/USDC:USDC``)."""
    return symbol.partition("/")[0]


class Market:
    """Every asset's current price; ``step()`` moves them all by one quarter second."""

    def __init__(self, rng: random.Random) -> None:
        self._random = rng
        self._level = {name: math.log(asset.price) for name, asset in ASSETS.items()}

    def step(self) -> None:
        for name, asset in ASSETS.items():
            home = math.log(asset.price)
            level = self._level[name]
            move = self._random.gauss(0, STEP * asset.volatility)
            self._level[name] = level + move - REVERSION * (level - home)

    def price(self, exchange: str, symbol: str) -> float | None:
        """The price of ``symbol`` on ``exchange``; None for an asset the demo does not make."""
        level = self._level.get(base_of(symbol))
        if level is None:
            return None
        return rounded(math.exp(level) * (1 + PREMIUM.get(exchange, 0.0)))


def history(
    rng: random.Random, close: float, bars: int, period: int, volatility: float, volume: float
) -> list[Candle]:
    """``bars`` candles ``(open, high, low, close, volume)`` of ``period`` seconds, oldest
    first, whose last close is ``close``: a walk of the market's size, each candle made of
    twelve steps, its volume larger when it moved more."""
    steps = 12
    sigma = STEP * volatility * math.sqrt(period / 0.25 / steps)
    path = [0.0]
    for _ in range(bars * steps):
        path.append(path[-1] + rng.gauss(0, sigma))
    shift = math.log(close) - path[-1]
    prices = [math.exp(level + shift) for level in path]
    scale = volume * period / 60
    candles: list[Candle] = []
    for n in range(bars):
        inside = prices[n * steps : (n + 1) * steps + 1]
        moved = abs(inside[-1] / inside[0] - 1) / (sigma * math.sqrt(steps))
        traded = scale * rng.lognormvariate(0, 0.4) * (0.6 + 0.4 * moved)
        candles.append(
            (
                rounded(inside[0]),
                rounded(max(inside)),
                rounded(min(inside)),
                rounded(inside[-1]),
                rounded(traded),
            )
        )
    return candles


def rounded(value: float) -> float:
    """Six significant digits: prices and volumes without float noise."""
    return float(f"{value:.6g}")
