"""Capital reservations per venue and currency.

Capital an execution may spend is reserved before anything is sent; each fill converts the
part it spent (the portfolio's balance drops by the same amount) and the rest is released when
the saga ends. ``available = holding - reserved`` never goes below zero by a reservation.
"""

from __future__ import annotations

from decimal import Decimal

from arbkit.core.enums import Venue
from arbkit.execution.portfolio import Portfolio

ZERO = Decimal(0)
Key = tuple[Venue, str]


class CapitalLedger:
    def __init__(self, portfolio: Portfolio) -> None:
        self.portfolio = portfolio
        self.by_execution: dict[str, dict[Key, Decimal]] = {}
        self.reserved: dict[Key, Decimal] = {}
        self.converted: dict[str, dict[Key, Decimal]] = {}  # per execution: reservation its fills turned into spend

    def holding(self, venue: Venue, asset: str) -> Decimal:
        """What we hold of ``asset``: a currency balance, or (``venue:symbol``) outcome shares."""
        if ":" in asset:
            return self.portfolio.position(venue, asset)
        return self.portfolio.balance(venue, asset)

    def available(self, venue: Venue, asset: str) -> Decimal:
        return self.holding(venue, asset) - self.reserved.get((venue, asset), ZERO)

    def shortfall(self, need: dict[Key, Decimal]) -> str | None:
        for (venue, asset), amount in need.items():
            avail = self.available(venue, asset)
            if amount > avail:
                return f"needs {amount} {asset} on {venue.value}, {avail} available"
        return None

    def reserve(self, execution_id: str, need: dict[Key, Decimal]) -> None:
        mine = self.by_execution.setdefault(execution_id, {})
        for key, amount in need.items():
            if amount <= 0:
                continue
            mine[key] = mine.get(key, ZERO) + amount
            self.reserved[key] = self.reserved.get(key, ZERO) + amount

    def consume(self, execution_id: str, venue: Venue, asset: str, amount: Decimal) -> Decimal:
        """A fill spent ``amount``: that much of the reservation is now spent balance, not a
        reservation. Returns how much reservation was converted. A negative ``amount`` (a
        reversed fill, a provisional stand-in replaced by the venue's fill, the old half of a
        correction) turns back into reservation what this execution's fills converted -- never
        more -- so replacing a fill never counts its capital as spent twice."""
        key = (venue, asset)
        if amount < 0:
            conv = self.converted.get(execution_id, {})
            back = min(-amount, conv.get(key, ZERO))
            if back <= 0:
                return ZERO
            conv[key] -= back
            mine = self.by_execution.setdefault(execution_id, {})
            mine[key] = mine.get(key, ZERO) + back
            self.reserved[key] = self.reserved.get(key, ZERO) + back
            return -back
        mine = self.by_execution.get(execution_id)
        if not mine or key not in mine or amount == 0:
            return ZERO
        used = min(amount, mine[key])
        mine[key] -= used
        self.reserved[key] -= used
        conv = self.converted.setdefault(execution_id, {})
        conv[key] = conv.get(key, ZERO) + used
        return used

    def release(self, execution_id: str) -> dict[Key, Decimal]:
        self.converted.pop(execution_id, None)
        mine = self.by_execution.pop(execution_id, {})
        for key, amount in mine.items():
            left = self.reserved.get(key, ZERO) - amount
            if left:
                self.reserved[key] = left
            else:
                self.reserved.pop(key, None)
        return mine

    def over_reserved(self) -> list[str]:
        """Keys whose reservations exceed the holding (for invariant checks and status)."""
        return [
            f"{v.value}:{a} reserved {r} > holding {self.holding(v, a)}"
            for (v, a), r in self.reserved.items()
            if r > self.holding(v, a)
        ]
