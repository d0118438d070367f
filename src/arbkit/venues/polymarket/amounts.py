"""Polymarket signed-order amounts: the venue's precision rules and exact quantities, pure.

An order is signed as (makerAmount, takerAmount) in micro-units (6 decimals). BUY: maker =
collateral paid, taker = shares received; SELL: maker = shares sold, taker = collateral received.
The venue refuses amounts finer than these precisions (the text is its error message):

* Limit orders (GTC/GTD): shares at most 2 decimals, collateral at most ``tick decimals + 2``
  (the ``amount`` column of py-clob-client-v2 ``ROUNDING_CONFIG``, order_builder/builder.py).
  "invalid amounts, the buy orders maker amount supports a max accuracy of 4 decimals, taker
  amount a max of 2 decimals" (0.01 tick; 5 for 0.001: Polymarket/clob-client#124,
  py-clob-client#305 and #253).
* Market orders (FOK/FAK): maker amount at most 2 decimals, taker amount at most 4, whatever the
  tick: "invalid amounts, the market buy orders maker amount supports a max accuracy of 2
  decimals, taker amount a max of 4 decimals" (py-clob-client-v2#99 for V2 on 0.001-tick
  markets, rs-clob-client-v2#59, rs-clob-client#114/#261; checked 2026-12-04). The sell text
  ("market sell orders ...") is assumed by symmetry: not confirmed.

A limit IOC leg (FAK) must be signed for exactly the shares asked, at no worse than its limit
price. Signing it the official client's market-order way (collateral = qty x price rounded down to
2 decimals, shares = collateral / price) signs for fewer shares: BUY 7 @ 0.435 -> 6.9885 shares
(issue 11 item 7). :func:`ioc_order_amounts` signs the shares asked; where the 2-decimal collateral
cannot express ``qty x price`` it rounds the collateral UP by less than one cent as long as the
implied worst price stays below the next tick (the venue matches on the tick grid, and the taker
pays each maker's price, so no fill can happen above the limit); otherwise it refuses and
:func:`representable_quantity` tells the sizing step which quantity can be sent exactly.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from fractions import Fraction

from arbkit.core.enums import Side, TimeInForce

UNIT = 1_000_000  # micro-units per share / per pUSD
SHARE_DECIMALS = 2  # limit-order shares (py-clob-client-v2 ROUNDING_CONFIG size = 2 at every tick)
MARKET_MAKER_DECIMALS = 2
MARKET_TAKER_DECIMALS = 4
SIZE_STEP = Decimal("0.01")

MARKET_TYPES = ("FOK", "FAK")


def tick_decimals(tick_size: Decimal) -> int:
    return max(0, -tick_size.normalize().as_tuple().exponent)  # type: ignore[operator]


def limit_collateral_decimals(tick_size: Decimal) -> int:
    """Decimals a limit order's collateral amount may carry (ROUNDING_CONFIG ``amount``)."""
    return tick_decimals(tick_size) + 2


def amount_error(side: Side, market: bool, maker_decimals: int, taker_decimals: int) -> str:
    """The venue's refusal text for amounts finer than its precision."""
    kind = ("market " if market else "") + ("buy" if side is Side.BUY else "sell")
    return (f"invalid amounts, the {kind} orders maker amount supports a max accuracy of {maker_decimals} decimals, "
            f"taker amount a max of {taker_decimals} decimals")


def amount_precisions(side: Side, order_type: str, tick_size: Decimal) -> tuple[int, int]:
    """(maker decimals, taker decimals) the venue accepts for this order."""
    if order_type in MARKET_TYPES:
        return MARKET_MAKER_DECIMALS, MARKET_TAKER_DECIMALS
    coll = limit_collateral_decimals(tick_size)
    return (coll, SHARE_DECIMALS) if side is Side.BUY else (SHARE_DECIMALS, coll)


def fits(units: int, decimals: int) -> bool:
    """True when ``units`` micro-units carry at most ``decimals`` decimals."""
    return units % (10 ** (6 - decimals)) == 0 if decimals < 6 else True


def check_amounts(side: Side, order_type: str, tick_size: Decimal, maker: int, taker: int) -> str | None:
    """None when the venue accepts the precision of these amounts, else its error text."""
    md, td = amount_precisions(side, order_type, tick_size)
    if fits(maker, md) and fits(taker, td):
        return None
    return amount_error(side, order_type in MARKET_TYPES, md, td)


def _units(x: Decimal) -> int:
    v = x * UNIT
    if v != v.to_integral_value():
        raise ValueError(f"{x} is finer than a micro-unit")
    return int(v)


def representable_quantity(side: Side, quantity: Decimal, price: Decimal, tick_size: Decimal,
                           time_in_force: TimeInForce = TimeInForce.IOC) -> Decimal:
    """The largest quantity <= ``quantity`` (on the 0.01-share grid) whose order at ``price`` is
    signed with exact amounts (shares exactly that quantity, collateral exactly quantity x price)
    within the venue's precision rules for that time in force. 0 when none is.

    Limit orders (GTC/GTD) at an on-grid price: ``quantity`` floored to 0.01. IOC/FOK (signed as
    FAK/FOK): BUY needs quantity x price on the cent (maker <= 2 decimals), SELL needs it on 4
    decimals; e.g. at 0.435 only even share counts can be bought (7 -> 6), at 0.37 whole shares.
    Pure and exact: the sizing step uses it before an intent is approved."""
    if quantity <= 0 or price <= 0:
        return Decimal(0)
    k_max = int((quantity / SIZE_STEP).to_integral_value(rounding=ROUND_FLOOR))
    if time_in_force not in (TimeInForce.IOC, TimeInForce.FOK):
        coll = limit_collateral_decimals(tick_size)
        unit = Fraction(1, 10**coll)
    else:
        coll = MARKET_MAKER_DECIMALS if side is Side.BUY else MARKET_TAKER_DECIMALS
        unit = Fraction(1, 10**coll)
    # k * step * price must be a multiple of `unit`: k * (step * price / unit) integral.
    ratio = Fraction(SIZE_STEP) * Fraction(price) / unit
    k = (k_max // ratio.denominator) * ratio.denominator
    return (SIZE_STEP * k).normalize() if k > 0 else Decimal(0)


def limit_order_amounts(side: Side, quantity: Decimal, price: Decimal, tick_size: Decimal) -> tuple[int, int]:
    """(maker, taker) micro-units of a GTC/GTD order: exact shares (2 decimals) and exact
    collateral (an on-grid price times 2-decimal shares never needs more than tick decimals + 2)."""
    if quantity != quantity.quantize(SIZE_STEP, rounding=ROUND_FLOOR):
        raise ValueError(f"size {quantity} has more than {SHARE_DECIMALS} decimals")
    shares, coll = _units(quantity), _units(quantity * price)
    return (coll, shares) if side is Side.BUY else (shares, coll)


def ioc_order_amounts(side: Side, quantity: Decimal, price: Decimal, tick_size: Decimal) -> tuple[int, int]:
    """(maker, taker) micro-units of a limit IOC/FOK leg (sent as FAK/FOK) for exactly
    ``quantity`` shares at no worse than ``price``, within the market-order precision rules.

    BUY: taker = the shares asked; maker = quantity x price, rounded UP to the cent when finer,
    accepted only while the implied worst price maker/taker stays below ``price + tick`` (so the
    venue, matching on the tick grid at the makers' prices, can fill nothing above ``price``).
    SELL: maker = the shares asked; taker (minimum collateral) = quantity x price rounded DOWN to 4
    decimals, accepted only while the implied price stays above ``price - tick``.
    Raises ValueError (naming :func:`representable_quantity`'s answer) when neither holds."""
    if quantity <= 0 or quantity != quantity.quantize(SIZE_STEP, rounding=ROUND_FLOOR):
        raise ValueError(f"size {quantity} must be positive with at most {SHARE_DECIMALS} decimals")
    shares = _units(quantity)
    exact = quantity * price
    if side is Side.BUY:
        coll = exact.quantize(Decimal(1).scaleb(-MARKET_MAKER_DECIMALS), rounding=ROUND_CEILING)
        ok = coll / quantity < price + tick_size
        maker, taker = _units(coll), shares
    else:
        coll = exact.quantize(Decimal(1).scaleb(-MARKET_TAKER_DECIMALS), rounding=ROUND_FLOOR)
        ok = coll / quantity > price - tick_size and coll > 0
        maker, taker = shares, _units(coll)
    if not ok:
        best = representable_quantity(side, quantity, price, tick_size, TimeInForce.IOC)
        raise ValueError(f"{side.value} {quantity} @ {price} cannot be signed as an IOC order within the venue's "
                         f"amount precision (collateral {exact}); the largest exact quantity is {best}")
    return maker, taker


__all__ = [
    "amount_error",
    "amount_precisions",
    "check_amounts",
    "ioc_order_amounts",
    "limit_order_amounts",
    "representable_quantity",
]
