"""Fee models, one per venue formula, exact (Decimal) and pure.

Every engine that prices or books a fill uses these: strategies (edge net of fees at each
size), the paper backend, the simulator, analytics. A venue's own documented formula and
rounding lives here once; ``FeeSpec`` on an instrument says which formula and which rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal, localcontext

import msgspec

from arbkit.core.enums import LiquiditySide, Side

CENT = Decimal("0.01")
CENTICENT = Decimal("0.0001")
ZERO = Decimal(0)
# Polymarket collateral has 6 decimals on chain.
USDC_UNIT = Decimal("0.000001")
# docs.polymarket.com/trading/fees "Fee Precision" (checked 2026-12-04): "Fees are rounded to 5
# decimal places. The smallest fee charged is 0.00001 USDC. Anything smaller rounds to zero."
POLYMARKET_FEE_UNIT = Decimal("0.00001")


class FeeSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Which venue formula and its per-market parameters.

    kind:
      ``none``          no fee
      ``polymarket``    fee ``C * rate * (p * (1 - p)) ** exponent`` rounded to 5 decimals; takers pay
                        ``taker_rate``; makers pay ``maker_rate`` (0 unless the market's fee details
                        say ``to`` = false, "taker only" off). ``exponent`` may be fractional
                        (an exact Decimal, never a float). ``rebate_rate`` is the market's maker
                        rebate share: paid daily by the Maker Rebates Program, never per fill, so
                        it is not part of a fill's fee (kept for estimates and reports)
      ``kalshi``        quadratic ``rate * C * P * (1 - P)`` with ``rate`` = 0.07 for takers (and
                        0.0175 for makers where the series charges them), times the series
                        ``multiplier``, with Kalshi's documented fee rounding (see
                        :func:`kalshi_fill_fee`)
      ``spot``          ``notional * rate * multiplier`` (KuCoin: base rate times the pair's
                        fee coefficient), charged in the quote currency
    """

    kind: str = "none"
    taker_rate: Decimal = Decimal(0)
    maker_rate: Decimal = Decimal(0)
    exponent: Decimal | int = Decimal(1)
    multiplier: Decimal = Decimal(1)
    rebate_rate: Decimal = Decimal(0)


NO_FEE = FeeSpec()


def fee_for(
    spec: FeeSpec,
    price: Decimal,
    quantity: Decimal,
    liquidity: LiquiditySide = LiquiditySide.TAKER,
    side: Side = Side.BUY,
) -> Decimal:
    """Fee, in the instrument's quote/collateral currency, for one fill of ``quantity`` at ``price``
    (for Kalshi: the net fee of that quantity filled at once by a fresh order — what to budget)."""
    if quantity <= 0 or spec.kind == "none":
        return Decimal(0)
    rate = spec.taker_rate if liquidity is LiquiditySide.TAKER else spec.maker_rate
    if rate == 0:
        return Decimal(0)
    if spec.kind == "polymarket":
        return polymarket_fee(price, quantity, rate, spec.exponent)
    if spec.kind == "kalshi":
        return kalshi_fill_fee(rate * spec.multiplier, price, quantity, side is Side.BUY)
    if spec.kind == "spot":
        return price * quantity * rate * spec.multiplier
    raise ValueError(f"unknown fee model kind {spec.kind!r}")


def _exact_exponent(exponent: Decimal | int | str) -> Decimal:
    if isinstance(exponent, float):
        raise TypeError("a fee exponent must be a Decimal, int or str, never a float")
    e = Decimal(exponent) if not isinstance(exponent, Decimal) else exponent
    if not e.is_finite() or e < 0:
        raise ValueError(f"fee exponent {exponent!r} must be a finite number >= 0")
    return e


def polymarket_fee(price: Decimal, shares: Decimal, rate: Decimal, exponent: Decimal | int | str = 1) -> Decimal:
    """Polymarket fee ``C * r * (p(1-p))^e`` rounded to 5 decimals (the docs' fee precision;
    half-up, the docs do not name the mode). A fractional exponent is evaluated in Decimal at 50
    significant digits (correctly rounded there), so no float ever decides the amount."""
    if not Decimal(0) <= price <= Decimal(1):
        raise ValueError(f"Polymarket price {price} outside [0, 1]")
    if type(exponent) is int and 0 <= exponent <= 2:  # hot path: exact within the default 28 digits
        return (shares * rate * (price * (1 - price)) ** exponent).quantize(POLYMARKET_FEE_UNIT, rounding=ROUND_HALF_UP)
    e = _exact_exponent(exponent)
    with localcontext() as ctx:
        ctx.prec = 50
        base = price * (1 - price)
        if base == 0:
            return Decimal(0)
        powered = base ** int(e) if e == e.to_integral_value() else base**e
        fee = shares * rate * powered
        return fee.quantize(POLYMARKET_FEE_UNIT, rounding=ROUND_HALF_UP)


def polymarket_fee_spec(rate: Decimal, exponent: Decimal | int | str, taker_only: bool = True,
                        rebate_rate: Decimal = Decimal(0)) -> FeeSpec:
    """The FeeSpec of a market's fee details (``/clob-markets`` ``fd = {r, e, to}``; Gamma
    ``feeSchedule = {rate, exponent, takerOnly, rebateRate}``). ``to``/``takerOnly`` false means
    makers pay the same curve."""
    e = _exact_exponent(exponent)
    if rate < 0:
        raise ValueError(f"fee rate {rate} < 0")
    return FeeSpec(kind="polymarket", taker_rate=rate, maker_rate=Decimal(0) if taker_only else rate, exponent=e,
                   rebate_rate=rebate_rate)


# --- Kalshi (docs.kalshi.com "Fee Rounding") ---------------------------------------------------
# Per fill with signed revenue (negative for a buyer):
#   1. trade fee = model fee rate*C*P*(1-P) rounded UP to $0.0001;
#   2. balance change = revenue - trade fee, floored to the member's balance precision ($0.01 for
#      non-direct members -- our default, the conservative one -- or $0.0001 for direct members);
#   3. rounding fee = (revenue - trade fee) - floored change;
#   4. a per-ORDER accumulator adds the rounding fee and pays a $0.01 rebate whenever it exceeds $0.01.
# net fee = trade fee + rounding fee - rebate. A single whole-contract fill at a whole-cent price
# costs ceil_to_cent(model fee); sub-cent prices, fractional counts and split fills differ.


def kalshi_model_fee(rate: Decimal, price: Decimal, contracts: Decimal) -> Decimal:
    if contracts <= 0 or rate <= 0:
        return ZERO
    if not 0 <= price <= 1:
        raise ValueError(f"Kalshi price {price} outside [0, 1]")
    return rate * contracts * price * (1 - price)


def kalshi_trade_fee(rate: Decimal, price: Decimal, contracts: Decimal) -> Decimal:
    """Step 1: the model fee rounded up to $0.0001."""
    return kalshi_model_fee(rate, price, contracts).quantize(CENTICENT, rounding=ROUND_CEILING)


@dataclass(frozen=True, slots=True)
class KalshiFillFee:
    trade_fee: Decimal
    rounding_fee: Decimal
    rebate: Decimal
    balance_change: Decimal  # floor(revenue - trade fee) to the balance precision
    accumulator: Decimal  # the order's accumulator after this fill's rounding, before the rebate

    @property
    def net_fee(self) -> Decimal:
        return self.trade_fee + self.rounding_fee - self.rebate

    @property
    def cash_change(self) -> Decimal:
        return self.balance_change + self.rebate


def kalshi_round_fill(revenue: Decimal, trade_fee: Decimal, accumulator: Decimal = ZERO, precision: Decimal = CENT) -> KalshiFillFee:
    """Steps 2-4 for one fill with signed ``revenue`` and an already-rounded ``trade_fee``."""
    change = revenue - trade_fee
    floored = change.quantize(precision, rounding=ROUND_FLOOR)
    rounding = change - floored
    acc = accumulator + rounding
    rebate = CENT if acc > CENT else ZERO
    return KalshiFillFee(trade_fee=trade_fee, rounding_fee=rounding, rebate=rebate, balance_change=floored, accumulator=acc)


class KalshiFeeAccumulator:
    """Per-order rounding accumulators keyed by order id: what the exchange keeps for each order."""

    def __init__(self, precision: Decimal = CENT) -> None:
        self.precision = precision
        self._acc: dict[str, Decimal] = {}

    def fill(self, order_id: str, rate: Decimal, price: Decimal, contracts: Decimal, is_buy: bool) -> KalshiFillFee:
        revenue = -(price * contracts) if is_buy else price * contracts
        return self.apply(order_id, revenue, kalshi_trade_fee(rate, price, contracts))

    def apply(self, order_id: str, revenue: Decimal, trade_fee: Decimal) -> KalshiFillFee:
        out = kalshi_round_fill(revenue, trade_fee, self._acc.get(order_id, ZERO), self.precision)
        self._acc[order_id] = out.accumulator - out.rebate
        return out

    def pending(self, order_id: str) -> Decimal:
        return self._acc.get(order_id, ZERO)

    def forget(self, order_id: str) -> None:
        self._acc.pop(order_id, None)


def kalshi_fill_fee(rate: Decimal, price: Decimal, contracts: Decimal, is_buy: bool = True, precision: Decimal = CENT) -> Decimal:
    """Net fee of ``contracts`` filled in ONE fill of a fresh order. Several fills of one order
    never cost more than this plus one cent."""
    revenue = -(price * contracts) if is_buy else price * contracts
    return kalshi_round_fill(revenue, kalshi_trade_fee(rate, price, contracts), ZERO, precision).net_fee


def kalshi_fee(price: Decimal, contracts: Decimal, rate: Decimal) -> Decimal:
    """Net fee of one buy fill for a non-direct member (see :func:`kalshi_fill_fee`)."""
    return kalshi_fill_fee(rate, price, contracts, True)


# --- spot fees charged in the pair's fee currency (KuCoin) ------------------------------------------
# KuCoin publishes a ``feeCurrency`` per symbol (GET /api/v2/symbols; kucoin-universal-sdk
# generate/spot/market/model_get_all_symbols_data.py, checked 2026-12-04) and charges every fill
# ``funds * feeRate`` in it without rounding (the SDK's trade-history example: funds 0.677176,
# feeRate 0.001, fee 0.000677176 USDT). ``fee_for`` above prices fees in the quote currency; this
# is the exact amount and currency for a pair whose fee currency is its base.


def spot_fee(price: Decimal, quantity: Decimal, rate: Decimal, fee_currency: str, base: str,
             quote: str) -> tuple[Decimal, str]:
    """(fee, currency) of one spot fill: ``price * quantity * rate`` in the quote currency, or
    ``quantity * rate`` in the base currency when the pair charges fees in its base."""
    if quantity <= 0 or rate == 0:
        return Decimal(0), fee_currency or quote
    if fee_currency and fee_currency == base and base != quote:
        return quantity * rate, base
    return price * quantity * rate, fee_currency or quote
