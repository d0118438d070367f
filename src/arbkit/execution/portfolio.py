"""Portfolio: positions per venue and instrument, cash per venue and currency, from fills.

The risk engine reads it for exposure and capital; the execution engine updates it from every
fill, correction and reversal. Exact Decimal throughout.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from arbkit.core.enums import InstrumentKind, Side, Venue
from arbkit.core.instruments import Instrument
from arbkit.core.orders import Balance, Position

ZERO = Decimal(0)


@dataclass(slots=True)
class PositionState:
    quantity: Decimal = ZERO  # signed, long > 0
    avg_price: Decimal | None = None  # average entry of the open quantity
    quote: str = ""
    base: str = ""  # a spot pair's base currency: its "position" is currency moved, not a contract held


class Portfolio:
    def __init__(self) -> None:
        self.positions: dict[tuple[Venue, str], PositionState] = {}
        self.cash: dict[tuple[Venue, str], Decimal] = {}

    # --- reads -----------------------------------------------------------------------------

    def position(self, venue: Venue, instrument_id: str) -> Decimal:
        p = self.positions.get((venue, instrument_id))
        return p.quantity if p else ZERO

    def balance(self, venue: Venue, currency: str) -> Decimal:
        return self.cash.get((venue, currency), ZERO)

    def exposure(self, venue: Venue, instrument_id: str) -> tuple[Decimal, str]:
        """|position| valued at its average entry, and the currency it is valued in."""
        p = self.positions.get((venue, instrument_id))
        if p is None or p.quantity == 0 or p.avg_price is None:
            return ZERO, (p.quote if p else "")
        return abs(p.quantity) * p.avg_price, p.quote

    def spot_currency_net(self) -> dict[tuple[Venue, str], Decimal]:
        """Net currency moved by spot-pair fills, per venue and currency: a pair's position ``x`` at
        average ``a`` is ``+x`` base and ``-x*a`` quote. A triangle bought through BTC-USDT, ETH-BTC
        and sold through ETH-USDT leaves large opposite pair "positions" and almost no currency:
        exposure is the currency held, not the pair legs that moved it."""
        out: dict[tuple[Venue, str], Decimal] = {}
        for (venue, _), p in self.positions.items():
            if not p.base or not p.quantity or p.avg_price is None:
                continue
            out[(venue, p.base)] = out.get((venue, p.base), ZERO) + p.quantity
            out[(venue, p.quote)] = out.get((venue, p.quote), ZERO) - p.quantity * p.avg_price
        return out

    # --- writes ----------------------------------------------------------------------------

    def set_balances(self, venue: Venue, balances: list[Balance]) -> None:
        """Replace everything held on ``venue`` by the venue's own list (absent = zero)."""
        for key in [k for k in self.cash if k[0] is venue]:
            self.cash[key] = ZERO
        for b in balances:
            self.cash[(venue, b.currency)] = b.total

    def set_balance(self, venue: Venue, currency: str, amount: Decimal) -> None:
        self.cash[(venue, currency)] = amount

    def set_positions(self, venue: Venue, positions: list[Position], quotes: dict[str, str] | None = None) -> None:
        """Replace the venue's positions by its own list (an instrument it does not list is flat)."""
        for key, p in self.positions.items():
            if key[0] is venue:
                p.quantity, p.avg_price = ZERO, None
        for p in positions:
            prev = self.positions.get((venue, p.instrument_id))
            quote = (quotes or {}).get(p.instrument_id) or (prev.quote if prev else "")
            self.positions[(venue, p.instrument_id)] = PositionState(quantity=p.quantity, avg_price=p.avg_price, quote=quote,
                                                                     base=prev.base if prev else "")

    def apply_fill(
        self,
        instrument: Instrument,
        side: Side,
        quantity: Decimal,
        price: Decimal,
        fee: Decimal,
        fee_currency: str,
        sign: int = 1,
    ) -> None:
        """Book a fill (``sign=-1`` takes one back: a reversal or the old half of a correction)."""
        venue = instrument.venue
        signed_qty = quantity * side.sign * sign
        key = (venue, instrument.id)
        pos = self.positions.get(key)
        if pos is None:
            pos = self.positions[key] = PositionState(
                quote=instrument.quote, base=instrument.base if instrument.kind is InstrumentKind.SPOT else "")
        new_qty = pos.quantity + signed_qty
        if pos.quantity == 0 or (pos.quantity > 0) == (signed_qty > 0):
            # growing (or opening): weighted average entry
            total = abs(pos.quantity) + abs(signed_qty)
            if total:
                prev = (pos.avg_price or ZERO) * abs(pos.quantity)
                pos.avg_price = (prev + price * abs(signed_qty)) / total
        elif new_qty == 0:
            pos.avg_price = None
        elif (new_qty > 0) != (pos.quantity > 0):
            pos.avg_price = price  # flipped through zero: the rest opened at this price
        pos.quantity = new_qty
        notional = quantity * price * sign
        qkey = (venue, instrument.quote)
        self.cash[qkey] = self.cash.get(qkey, ZERO) - notional * side.sign
        if instrument.kind is InstrumentKind.SPOT and instrument.base:
            bkey = (venue, instrument.base)
            self.cash[bkey] = self.cash.get(bkey, ZERO) + signed_qty
        if fee:
            fkey = (venue, fee_currency)
            self.cash[fkey] = self.cash.get(fkey, ZERO) - fee * sign

    def snapshot(self) -> dict:
        return {
            "positions": {f"{v.value}:{i}": str(p.quantity) for (v, i), p in self.positions.items() if p.quantity},
            "cash": {f"{v.value}:{c}": str(a) for (v, c), a in self.cash.items()},
        }
