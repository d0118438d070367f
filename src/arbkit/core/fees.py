"""Fee models, one per venue formula, exact (Decimal) and pure.

Every engine that prices or books a fill uses these: strategies (edge net of fees at each
size), the paper backend, the simulator, analytics. A venue's own documented formula and
rounding lives here once; ``FeeSpec`` on an instrument says which formula and which rates.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

import msgspec

from arbkit.core.enums import LiquiditySide

CENT = Decimal("0.01")
# Polymarket collateral has 6 decimals on chain; fees are charged in whole micro-units.
USDC_UNIT = Decimal("0.000001")


class FeeSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Which venue formula and its per-market parameters.

    kind:
      ``none``          no fee
      ``polymarket``    taker fee ``C * rate * (p * (1 - p)) ** exponent`` (makers pay nothing)
      ``kalshi``        quadratic ``ceil_to_cent(rate * C * P * (1 - P))`` with ``rate`` = 0.07
                        for takers (and the series' maker rate, usually 0.0175, where it has one),
                        times the series ``multiplier``
      ``spot``          ``notional * rate * multiplier`` (KuCoin: base rate times the pair's
                        fee coefficient), charged in the quote currency
    """

    kind: str = "none"
    taker_rate: Decimal = Decimal(0)
    maker_rate: Decimal = Decimal(0)
    exponent: int = 1
    multiplier: Decimal = Decimal(1)


NO_FEE = FeeSpec()


def fee_for(spec: FeeSpec, price: Decimal, quantity: Decimal, liquidity: LiquiditySide = LiquiditySide.TAKER) -> Decimal:
    """Fee, in the instrument's quote/collateral currency, for one fill of ``quantity`` at ``price``."""
    if quantity <= 0 or spec.kind == "none":
        return Decimal(0)
    rate = spec.taker_rate if liquidity is LiquiditySide.TAKER else spec.maker_rate
    if rate == 0:
        return Decimal(0)
    if spec.kind == "polymarket":
        return polymarket_fee(price, quantity, rate, spec.exponent)
    if spec.kind == "kalshi":
        return kalshi_fee(price, quantity, rate * spec.multiplier)
    if spec.kind == "spot":
        return price * quantity * rate * spec.multiplier
    raise ValueError(f"unknown fee model kind {spec.kind!r}")


def polymarket_fee(price: Decimal, shares: Decimal, rate: Decimal, exponent: int) -> Decimal:
    """Polymarket taker fee ``C * r * (p(1-p))^e``, rounded to the collateral's micro-unit."""
    base = price * (1 - price)
    fee = shares * rate * (base**exponent)
    return fee.quantize(USDC_UNIT, rounding=ROUND_HALF_UP)


def kalshi_fee(price: Decimal, contracts: Decimal, rate: Decimal) -> Decimal:
    """Kalshi quadratic fee ``rate * C * P * (1-P)`` rounded up to the next cent."""
    raw = rate * contracts * price * (1 - price)
    return raw.quantize(CENT, rounding=ROUND_CEILING)
