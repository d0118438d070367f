"""Leg sizing: quantisation, fee hold, cascade chaining. Pure functions, exact Decimal.

The same functions size a leg for the risk check (planned, at worst prices) and at run time
(from what the previous leg really filled), so the risk engine checks what will be sent.
"""

from __future__ import annotations

from decimal import Decimal

from arbkit.core.enums import InstrumentKind, LiquiditySide, Side
from arbkit.core.fees import fee_for
from arbkit.core.instruments import Instrument
from arbkit.execution.intent import Intent, IntentLeg, Sequencing, asset_of

ZERO = Decimal(0)


def taker_fee(instrument: Instrument, price: Decimal, quantity: Decimal) -> Decimal:
    """The venue's taker fee for ``quantity`` at ``price``, in the instrument's quote currency."""
    return fee_for(instrument.fee, price, quantity, LiquiditySide.TAKER)


def fee_currency(instrument: Instrument) -> str:
    """Where the fee model charges: the quote/collateral currency (see arbkit.core.fees)."""
    return instrument.quote


def buy_cost(instrument: Instrument, quantity: Decimal, price: Decimal) -> Decimal:
    """Quote spent by a buy of ``quantity`` at ``price``, fee included."""
    return quantity * price + taker_fee(instrument, price, quantity)


def max_buy_quantity(instrument: Instrument, funds: Decimal, price: Decimal) -> Decimal:
    """Largest quantity on the instrument's increment whose cost *with the fee* fits in
    ``funds`` at ``price`` (the fee-hold reduction), floored, never above ``funds``."""
    if funds <= 0 or price <= 0:
        return ZERO
    spec = instrument.fee
    rate = ZERO
    if spec.kind == "spot":
        rate = spec.taker_rate * spec.multiplier
    q = instrument.round_size(funds / (price * (1 + rate)))
    inc = instrument.size_increment
    # Non-linear fee formulas (and rounding) can push the cost over: step down until it fits.
    while q > 0 and buy_cost(instrument, q, price) > funds:
        q -= inc
    return max(q, ZERO)


def leg_quantity(leg: IntentLeg) -> Decimal:
    """The quantity a leg with its own size sends (quantity floored, or funds with fee hold)."""
    if leg.quantity is not None:
        return leg.instrument.round_size(leg.quantity)
    if leg.funds is not None:
        return max_buy_quantity(leg.instrument, leg.funds, leg.price)
    raise ValueError("leg has neither quantity nor funds")


def cascade_quantity(leg: IntentLeg, input_amount: Decimal) -> Decimal:
    """Size of a cascade leg given what the previous leg produced (its input currency):
    a buy keeps back the fee it will charge and floors; a sell floors to the increment."""
    if leg.side is Side.BUY:
        return max_buy_quantity(leg.instrument, input_amount, leg.price)
    return leg.instrument.round_size(input_amount)


def output_amount(
    instrument: Instrument, side: Side, quantity: Decimal, notional: Decimal, fees: dict[str, Decimal]
) -> Decimal:
    """What a fill set produced in the leg's output currency, net of any fee charged in it."""
    if side is Side.BUY:
        return quantity - fees.get(asset_of(instrument), ZERO)
    return notional - fees.get(instrument.quote, ZERO)


def input_spent(instrument: Instrument, side: Side, quantity: Decimal, notional: Decimal, fees: dict[str, Decimal]) -> Decimal:
    """What a fill set consumed of the leg's input currency, fee included when charged in it."""
    if side is Side.BUY:
        return notional + fees.get(instrument.quote, ZERO)
    return quantity + fees.get(asset_of(instrument), ZERO)


def planned_quantities(intent: Intent) -> list[Decimal]:
    """Quantities every leg would send if each filled fully at its limit (worst) price."""
    out: list[Decimal] = []
    for i, leg in enumerate(intent.legs):
        if intent.sequencing is Sequencing.CASCADE and i > 0:
            prev = intent.legs[i - 1]
            pq = out[-1]
            notional = pq * prev.price
            fees = {fee_currency(prev.instrument): taker_fee(prev.instrument, prev.price, pq)}
            out.append(cascade_quantity(leg, output_amount(prev.instrument, prev.side, pq, notional, fees)))
        else:
            out.append(leg_quantity(leg))
    return out


def spend_of(leg: IntentLeg, quantity: Decimal) -> tuple[str, Decimal]:
    """(currency, amount) a leg of ``quantity`` can spend at most, at its limit price."""
    if leg.side is Side.BUY:
        return leg.instrument.quote, buy_cost(leg.instrument, quantity, leg.price)
    return asset_of(leg.instrument), quantity


def is_share(instrument: Instrument) -> bool:
    return instrument.kind is InstrumentKind.OUTCOME
