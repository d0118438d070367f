"""Fill accumulation by client order id.

Every order event (from a submit result, the venue's user stream, a cancel answer, recovery)
goes through :class:`FillAccumulator`. Fills are keyed by trade id, so the same fill reported
twice (REST answer and user stream) counts once; a fill reported again with different numbers
is a correction; a fill whose status becomes FAILED stops counting. An order is done when the
venue says it is terminal and its fills have caught up with the venue's filled quantity.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum

from arbkit.core.enums import FillStatus, LiquiditySide, OrderStatus, Side
from arbkit.core.events import (
    Event,
    FillStatusChanged,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
)

ZERO = Decimal(0)


class FillChangeKind(str, Enum):
    NEW = "NEW"
    DUPLICATE = "DUPLICATE"
    CORRECTED = "CORRECTED"  # same trade, different quantity/price/fee
    REVERSED = "REVERSED"  # FAILED: the fill no longer counts
    STATUS = "STATUS"  # settlement moved on (MINED/CONFIRMED), numbers unchanged


@dataclass(slots=True)
class Fill:
    trade_id: str
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_currency: str
    status: FillStatus
    liquidity: LiquiditySide = LiquiditySide.TAKER
    ts_ns: int = 0

    @property
    def counts(self) -> bool:
        return self.status is not FillStatus.FAILED


@dataclass(slots=True)
class FillChange:
    kind: FillChangeKind
    client_order_id: str
    new: Fill
    old: Fill | None = None


@dataclass
class OrderFills:
    """Everything known about one order: its fills and whether the venue says it is over."""

    client_order_id: str
    side: Side
    quantity: Decimal  # what was asked
    venue_order_id: str = ""
    status: OrderStatus = OrderStatus.PENDING
    fills: dict[str, Fill] = field(default_factory=dict)
    venue_filled: Decimal | None = None  # what the venue says was filled (cancel answer, lookup)
    reject_reason: str = ""
    last_error: str = ""  # the latest ambiguous (retryable) answer, for reports and alerts
    acked_ns: int = 0
    terminal_ns: int = 0
    _changed: asyncio.Event | None = None

    # --- derived ---------------------------------------------------------------------------

    @property
    def filled(self) -> Decimal:
        return sum((f.quantity for f in self.fills.values() if f.counts), ZERO)

    @property
    def notional(self) -> Decimal:
        return sum((f.quantity * f.price for f in self.fills.values() if f.counts), ZERO)

    @property
    def avg_price(self) -> Decimal | None:
        q = self.filled
        return (self.notional / q) if q else None

    def fees(self) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for f in self.fills.values():
            if f.counts and f.fee:
                out[f.fee_currency] = out.get(f.fee_currency, ZERO) + f.fee
        return out

    @property
    def venue_terminal(self) -> bool:
        return self.status.is_terminal or (self.quantity > 0 and self.filled >= self.quantity)

    @property
    def missing_fills(self) -> Decimal:
        """Quantity the venue says filled that we have no fill for yet."""
        if self.venue_filled is None:
            return ZERO
        return max(ZERO, self.venue_filled - self.filled)

    @property
    def done(self) -> bool:
        return self.venue_terminal and self.missing_fills == 0

    def changed_event(self) -> asyncio.Event:
        if self._changed is None:
            self._changed = asyncio.Event()
        return self._changed

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()


class FillAccumulator:
    """Orders by client order id; ``apply`` folds an order event in and says what changed."""

    def __init__(self) -> None:
        self.orders: dict[str, OrderFills] = {}

    def track(self, client_order_id: str, side: Side, quantity: Decimal) -> OrderFills:
        of = self.orders.get(client_order_id)
        if of is None:
            of = OrderFills(client_order_id=client_order_id, side=side, quantity=quantity)
            self.orders[client_order_id] = of
        return of

    def get(self, client_order_id: str) -> OrderFills | None:
        return self.orders.get(client_order_id)

    def apply(self, event: Event, ts_ns: int = 0) -> FillChange | None:
        """Fold ``event`` into its order. Unknown client order ids are ignored (returns None)."""
        coid = getattr(event, "client_order_id", None)
        of = self.orders.get(coid) if coid else None
        if of is None:
            return None
        change: FillChange | None = None
        if isinstance(event, OrderFilled):
            change = self._apply_fill(of, event, ts_ns)
            if of.venue_order_id == "" and event.venue_order_id:
                of.venue_order_id = event.venue_order_id
            if of.status in (OrderStatus.PENDING, OrderStatus.ACCEPTED) and of.filled > 0:
                of.status = OrderStatus.FILLED if of.filled >= of.quantity else OrderStatus.PARTIALLY_FILLED
            elif of.status is OrderStatus.PARTIALLY_FILLED and of.filled >= of.quantity:
                of.status = OrderStatus.FILLED
        elif isinstance(event, FillStatusChanged):
            f = of.fills.get(event.trade_id)
            if f is not None and f.status is not event.status:
                old = dataclasses.replace(f)
                f.status = event.status
                kind = FillChangeKind.REVERSED if event.status is FillStatus.FAILED else FillChangeKind.STATUS
                change = FillChange(kind, coid, f, old)
                if kind is FillChangeKind.REVERSED and of.status is OrderStatus.FILLED and of.filled < of.quantity:
                    of.status = OrderStatus.PARTIALLY_FILLED
        elif isinstance(event, OrderAccepted):
            of.venue_order_id = event.venue_order_id or of.venue_order_id
            of.acked_ns = of.acked_ns or ts_ns
            if of.status is OrderStatus.PENDING:
                of.status = OrderStatus.ACCEPTED
        elif isinstance(event, OrderRejected):
            if event.retryable:
                # a lost or ambiguous answer ("may or may not be at the venue"): not a terminal
                # state -- the engine asks the venue; taking it as rejected could leave a fill naked
                of.last_error = event.reason
                of._notify()
                return None
            if not of.status.is_terminal:
                of.status = OrderStatus.REJECTED
                of.reject_reason = event.reason
                of.terminal_ns = ts_ns
        elif isinstance(event, (OrderCanceled, OrderExpired)):
            if isinstance(event, OrderCanceled) and event.filled_quantity is not None:
                of.venue_filled = event.filled_quantity
            if event.venue_order_id:
                of.venue_order_id = of.venue_order_id or event.venue_order_id
            if of.status is not OrderStatus.FILLED and not of.status.is_terminal:
                of.status = OrderStatus.CANCELED if isinstance(event, OrderCanceled) else OrderStatus.EXPIRED
                of.terminal_ns = ts_ns
        else:
            return None
        if of.terminal_ns == 0 and of.venue_terminal:
            of.terminal_ns = ts_ns
        of._notify()
        return change

    @staticmethod
    def _apply_fill(of: OrderFills, ev: OrderFilled, ts_ns: int) -> FillChange:
        new = Fill(
            trade_id=ev.trade_id,
            price=ev.price,
            quantity=ev.quantity,
            fee=ev.fee,
            fee_currency=ev.fee_currency,
            status=ev.status,
            liquidity=ev.liquidity,
            ts_ns=ev.ts_recv or ts_ns,
        )
        old = of.fills.get(ev.trade_id)
        if old is None:
            of.fills[ev.trade_id] = new
            return FillChange(FillChangeKind.NEW, of.client_order_id, new)
        if (old.price, old.quantity, old.fee, old.fee_currency) == (new.price, new.quantity, new.fee, new.fee_currency):
            if old.status is new.status:
                return FillChange(FillChangeKind.DUPLICATE, of.client_order_id, new, old)
            of.fills[ev.trade_id] = new
            kind = FillChangeKind.REVERSED if new.status is FillStatus.FAILED else FillChangeKind.STATUS
            return FillChange(kind, of.client_order_id, new, old)
        of.fills[ev.trade_id] = new
        return FillChange(FillChangeKind.CORRECTED, of.client_order_id, new, old)
