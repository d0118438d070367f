"""Kalshi fees with the exchange's documented rounding (docs.kalshi.com "Fee Rounding").

Fee model of one fill of ``C`` contracts at price ``P`` (own-side price, dollars):
``rate * C * P * (1 - P)`` with ``rate`` = 0.07 for takers and 0.0175 for makers on series whose
``fee_type`` is ``quadratic_with_maker_fees`` (0.035 for ``quadratic_with_combo_maker_fees``: "the same
maker-fee structure with a 0.5 maker multiplier instead of 0.25", official SDK 3.34.0
models/series.py), times the series ``fee_multiplier`` (or the event's ``fee_multiplier_override``).
``flat`` and unknown types raise :class:`KalshiFeeUnknown`: the market is not traded.

Rounding, per fill, given the fill's signed ``revenue`` (negative for a buyer):

1. trade fee = model fee rounded UP to $0.0001 (centicent);
2. balance change = revenue - trade fee, floored (toward -inf) to the member's balance precision
   ($0.01 for non-direct members, the default here; $0.0001 for direct members);
3. rounding fee = (revenue - trade fee) - floored balance change;
4. a per-ORDER accumulator (shared by the order's taker and maker fills) adds the rounding fee;
   once it exceeds $0.01 a $0.01 rebate is paid and the accumulator drops by $0.01.

net fee = trade fee + rounding fee - rebate. For a single fill at a whole-cent price of whole
contracts this equals ``ceil_to_cent(model fee)`` (what :func:`arbkit.core.fees.kalshi_fee`
computes); it differs for sub-cent prices, fractional counts and orders filled in several pieces.
All arithmetic is exact Decimal.
"""

from __future__ import annotations

from decimal import Decimal

from arbkit.core.enums import LiquiditySide
from arbkit.core.fees import (
    FeeSpec,
    KalshiFeeAccumulator,
    KalshiFillFee,
    kalshi_fill_fee,
    kalshi_model_fee,
    kalshi_round_fill,
    kalshi_trade_fee,
)
from arbkit.venues.kalshi import constants as C

CENT = C.CENT
CENTICENT = C.CENTICENT
ZERO = Decimal(0)


# The documented rounding lives once in core (strategies, the paper backend and this package all
# price fills with it); the names below are this package's vocabulary for it.
model_fee = kalshi_model_fee
trade_fee = kalshi_trade_fee
round_fill = kalshi_round_fill
FillFee = KalshiFillFee
FeeAccumulator = KalshiFeeAccumulator
single_fill_fee = kalshi_fill_fee


class KalshiFeeUnknown(ValueError):
    """A market's fee rule is not one we can compute: trading it is refused (never a zero fee)."""


def rates_for(fee_type: str, fee_multiplier: Decimal) -> tuple[Decimal, Decimal]:
    """(taker rate, maker rate) of a series, multiplier applied. Unknown types are refused."""
    if fee_multiplier < 0:
        raise KalshiFeeUnknown(f"negative Kalshi fee_multiplier {fee_multiplier}")
    if fee_type == "quadratic":
        return C.TAKER_FEE_RATE * fee_multiplier, ZERO
    if fee_type == "quadratic_with_maker_fees":
        return C.TAKER_FEE_RATE * fee_multiplier, C.MAKER_FEE_RATE * fee_multiplier
    if fee_type == "quadratic_with_combo_maker_fees":
        return C.TAKER_FEE_RATE * fee_multiplier, C.COMBO_MAKER_FEE_RATE * fee_multiplier
    if fee_type in C.FEE_TYPES_NOT_MODELLED:
        raise KalshiFeeUnknown(f"Kalshi fee_type {fee_type!r} (the fee schedule's Specific Trading Fees Table) is "
                               f"not modelled: this market is not tradeable here")
    raise KalshiFeeUnknown(f"unknown Kalshi fee_type {fee_type!r} (known: quadratic, "
                           f"{', '.join(sorted(C.FEE_TYPES_WITH_MAKER_FEES))}; flat is not modelled)")


def fee_spec(fee_type: str, fee_multiplier: Decimal) -> FeeSpec:
    """The core FeeSpec of a series (``kind="kalshi"``; rates before the multiplier).
    Raises :class:`KalshiFeeUnknown` for a fee type we cannot compute."""
    taker, maker = rates_for(fee_type, fee_multiplier)
    maker_rate = ZERO
    if maker:
        maker_rate = C.COMBO_MAKER_FEE_RATE if fee_type == "quadratic_with_combo_maker_fees" else C.MAKER_FEE_RATE
    return FeeSpec(kind="kalshi", taker_rate=C.TAKER_FEE_RATE, maker_rate=maker_rate, multiplier=fee_multiplier)


def spec_rate(spec: FeeSpec, liquidity: LiquiditySide) -> Decimal:
    rate = spec.taker_rate if liquidity is LiquiditySide.TAKER else spec.maker_rate
    return rate * spec.multiplier


def fill_fee(spec: FeeSpec, price: Decimal, count: Decimal, liquidity: LiquiditySide, is_buy: bool,
             order_id: str, accumulator: FeeAccumulator) -> FillFee:
    """One fill's documented fee for an instrument's FeeSpec (used to predict / check fee_cost)."""
    return accumulator.fill(order_id, spec_rate(spec, liquidity), price, count, is_buy)
