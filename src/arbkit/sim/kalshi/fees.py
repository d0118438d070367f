"""Kalshi fees with the exchange's rounding (docs.kalshi.com, "Fee Rounding").

Fee model per fill of ``C`` contracts at price ``P`` (dollars): ``rate * C * P * (1 - P)`` with
``rate`` = 0.07 for takers and 0.0175 for makers on series whose ``fee_type`` charges makers,
times the series ``fee_multiplier``. Rounding, per fill, given the fill's signed ``revenue``
(negative for a buyer):

1. trade fee = the model fee rounded UP to $0.0001;
2. balance change = revenue - trade fee, floored (toward -inf) to the member's balance precision:
   $0.0001 for direct members of the exchange, $0.01 for non-direct members (the current doc; the
   March 2026 version said $0.01 for everyone);
3. rounding fee = (revenue - trade fee) - floored balance change;
4. a per-ORDER accumulator adds the rounding fee; when it exceeds $0.01 a $0.01 rebate is paid
   and the accumulator drops by $0.01 (it carries across taker and maker fills of the order).

net fee = trade fee + rounding fee - rebate; the account moves by the floored balance change plus
the rebate. For a non-direct member a single whole-cent, whole-contract fill costs
``ceil_to_cent(model fee)`` — what ``arbkit.core.fees.kalshi_fee`` computes — but several fills of
one order cost less (rebates). For a direct member (an API account) the same fill costs the model
fee rounded up to $0.0001 only (0.07 * 1 * 0.5 * 0.5 = $0.0175, not $0.02). Sub-cent prices and
fractional counts add rounding that ``kalshi_fee`` does not model. The doc's tables show net fees
that are never negative; taken literally the mechanics can give a negative net fee on a fill whose
trade fee is tiny (a maker fill with no maker fee that triggers a rebate): this module follows the
mechanics.

All amounts here are integers of $0.000001 (``fixed.MONEY_UNIT``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

from arbkit.sim.kalshi.fixed import LOTS_PER_CONTRACT, MONEY_ONE, PRICE_ONE

TAKER_RATE = Decimal("0.07")
MAKER_RATE = Decimal("0.0175")
CENTICENT = MONEY_ONE // 10_000  # $0.0001 in money units
CENT = MONEY_ONE // 100
DIRECT_MEMBER_PRECISION = CENTICENT  # balance precision of direct members of the exchange
NON_DIRECT_MEMBER_PRECISION = CENT

# Series fee types (kalshi_python_sync FeeType): which of them charge makers.
FEE_TYPES_WITH_MAKER_FEES = frozenset({"quadratic_with_maker_fees", "quadratic_with_combo_maker_fees"})


def model_fee_micros(rate: Decimal, price: int, lots: int) -> int:
    """``rate * C * P * (1 - P)`` rounded UP to $0.0001, in money units.

    ``price`` in $0.0001 units, ``lots`` in 0.01-contract units.
    """
    if lots <= 0 or rate <= 0:
        return 0
    raw = rate * lots * price * (PRICE_ONE - price)  # dollars * LOTS_PER_CONTRACT * PRICE_ONE**2
    dollars = raw / (LOTS_PER_CONTRACT * PRICE_ONE * PRICE_ONE)
    centicents = dollars.scaleb(4).to_integral_value(rounding=ROUND_CEILING)
    return int(centicents) * CENTICENT


@dataclass(frozen=True, slots=True)
class FillFee:
    trade_fee: int
    rounding_fee: int
    rebate: int
    balance_change: int  # signed, whole cents: what the account moves by for this fill

    @property
    def net_fee(self) -> int:
        return self.trade_fee + self.rounding_fee - self.rebate


class FeeAccumulator:
    """Per-order rounding accumulators (keyed by order id) for one balance precision."""

    def __init__(self, precision: int = DIRECT_MEMBER_PRECISION) -> None:
        if precision not in (DIRECT_MEMBER_PRECISION, NON_DIRECT_MEMBER_PRECISION):
            raise ValueError(f"balance precision must be $0.0001 or $0.01 in money units, got {precision}")
        self.precision = precision
        self._acc: dict[str, int] = {}

    def fill(self, order_id: str, rate: Decimal, price: int, lots: int, is_buy: bool) -> FillFee:
        """Fee breakdown of one fill of ``order_id`` (``price`` is this order's own price)."""
        revenue = -(price * lots) if is_buy else price * lots  # $0.0001 * 0.01 = $0.000001 units
        return self.apply(order_id, revenue, model_fee_micros(rate, price, lots))

    def apply(self, order_id: str, revenue: int, trade_fee: int) -> FillFee:
        """Steps 2-4 of the rounding for a fill with signed ``revenue`` and an already-rounded fee."""
        change = revenue - trade_fee
        floored = (change // self.precision) * self.precision  # // floors toward -inf, as the exchange does
        rounding = change - floored
        acc = self._acc.get(order_id, 0) + rounding
        rebate = 0
        if acc > CENT:
            rebate = CENT
            acc -= CENT
        self._acc[order_id] = acc
        return FillFee(trade_fee=trade_fee, rounding_fee=rounding, rebate=rebate, balance_change=floored + rebate)

    def forget(self, order_id: str) -> None:
        """Drop a terminal order's accumulator."""
        self._acc.pop(order_id, None)

    def pending(self, order_id: str) -> int:
        return self._acc.get(order_id, 0)


def rates_for(fee_type: str, fee_multiplier: Decimal) -> tuple[Decimal, Decimal]:
    """(taker rate, maker rate) of a series."""
    maker = MAKER_RATE * fee_multiplier if fee_type in FEE_TYPES_WITH_MAKER_FEES else Decimal(0)
    return TAKER_RATE * fee_multiplier, maker


class KalshiFeeModel:
    """The matching engine's fee hook (``MatchingEngine.fee_fn``) with Kalshi's rounding.

    Called once per fill of each order: ``cash_delta`` is the order's signed ``price * size`` for the
    fill (negative for a buyer), ``own_price`` the fill price in the order's own outcome terms.
    Returns the net fee (trade fee + rounding fee - rebate) so the engine moves the balance by a
    whole number of cents. Markets without a Kalshi fee spec get ``arbkit.core.fees.fee_for``.
    """

    def __init__(self, precision: int = DIRECT_MEMBER_PRECISION) -> None:
        self.accumulator = FeeAccumulator(precision)

    def __call__(self, order: Any, spec: Any, own_price: Decimal, size: Decimal, liquidity: Any, cash_delta: Decimal) -> Decimal:
        from arbkit.core.enums import LiquiditySide
        from arbkit.core.fees import fee_for
        from arbkit.sim.kalshi.fixed import decimal_to_count, decimal_to_money, decimal_to_price, money_to_decimal

        if getattr(spec, "kind", "none") != "kalshi":
            return fee_for(spec, own_price, size, liquidity)
        base = spec.taker_rate if liquidity is LiquiditySide.TAKER else spec.maker_rate
        rate = base * spec.multiplier
        trade_fee = model_fee_micros(rate, decimal_to_price(own_price), decimal_to_count(size))
        fill = self.accumulator.apply(order.order_id, decimal_to_money(cash_delta), trade_fee)
        return money_to_decimal(fill.net_fee)


_PROCESS_MODEL = KalshiFeeModel()


def kalshi_fill_fee(order: Any, spec: Any, own_price: Decimal, size: Decimal, liquidity: Any, cash_delta: Decimal) -> Decimal:
    """Module-level hook the runner loads (``runner.VENUE_FEE_FNS``). ``KalshiServer`` replaces it
    with its own ``KalshiFeeModel`` so accumulators never leak between engines in one process."""
    return _PROCESS_MODEL(order, spec, own_price, size, liquidity, cash_delta)
