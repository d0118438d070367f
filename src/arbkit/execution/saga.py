"""One saga per execution: its state, rebuilt from its journaled events.

The saga changes only by applying events that were journaled first (``Saga.apply``), so the
state a running engine holds and the state crash recovery rebuilds from the journal are the
same by construction. The engine decides what to do next from this state; it never keeps a
second copy.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum

from arbkit.core.enums import OrderType, Side, TimeInForce, Venue
from arbkit.core.events import Event
from arbkit.core.instruments import Instrument
from arbkit.execution.events import (
    ExecutionCancelRequested,
    ExecutionReported,
    ExecutionStarted,
    HedgeStarted,
    LegFilled,
    LegSubmitted,
    OrderPrepared,
    SagaHeld,
    SagaReopened,
    SagaResolved,
    SagaTransitioned,
)
from arbkit.execution.fills import OrderFills
from arbkit.execution.intent import Intent, Sequencing, asset_of
from arbkit.execution.report import ExecutionReport, ExecutionStatus
from arbkit.execution.sizing import input_spent, output_amount, planned_quantities

ZERO = Decimal(0)
_COID = re.compile(r"^(?P<exec>.+)-L(?P<leg>\d+)-A(?P<attempt>\d+)$")


def execution_of(client_order_id: str) -> str | None:
    """The execution id inside a deterministic client order id (see arbkit.core.ids)."""
    m = _COID.match(client_order_id)
    return m.group("exec") if m else None


class SagaState(str, Enum):
    CREATED = "CREATED"  # intent journaled, risk approved
    RUNNING = "RUNNING"  # legs being sent / awaited
    HEDGING = "HEDGING"  # compensating a failed or partial leg
    FILLED = "FILLED"
    HEDGED = "HEDGED"
    FAILED = "FAILED"
    ABORTED = "ABORTED"

    @property
    def is_terminal(self) -> bool:
        return self in (SagaState.FILLED, SagaState.HEDGED, SagaState.FAILED, SagaState.ABORTED)

    @classmethod
    def of(cls, status: ExecutionStatus) -> "SagaState":
        return cls(status.value)


@dataclass
class SagaOrder:
    """One order of a saga (a leg's main order, or a hedge on that leg's instrument)."""

    client_order_id: str
    leg_index: int
    attempt: int
    purpose: str  # "leg" | "hedge"
    instrument: Instrument
    side: Side
    quantity: Decimal
    price: Decimal
    order_type: OrderType
    time_in_force: TimeInForce
    fills: OrderFills
    journaled_ns: int = 0
    sent_ns: int = 0
    needs_send: bool = True  # journaled, not (known to be) handed to the venue yet
    finished: LegFilled | None = None
    prepared: str = ""  # the venue identity journaled before sending (OrderPrepared)
    # why the venue's view of this order is unknown (lost answer, lookups failing): while set,
    # the order is never taken as not filled and its saga sends nothing more (it is held)
    unknown: str = ""
    operator_ended: bool = False  # an operator resolved it as ended with the fills known

    @property
    def venue(self) -> Venue:
        return self.instrument.venue


@dataclass
class Saga:
    intent: Intent
    state: SagaState = SagaState.CREATED
    orders: dict[str, SagaOrder] = field(default_factory=dict)
    reserved: list = field(default_factory=list)
    created_ns: int = 0
    risk_ns: int = 0
    journaled_ns: int = 0
    sent_ns: int = 0
    hedge_mode: str = ""
    hedge_reason: str = ""
    cancel_requested: bool = False
    cancel_reason: str = ""
    stop_reason: str = ""  # why the legs stopped early (-> compensation)
    error: str = ""
    report: ExecutionReport | None = None
    recovered: bool = False
    planned: list[Decimal] = field(default_factory=list)
    held: str = ""  # why the saga is held (SagaHeld), "" when not
    reopened: int = 0  # times a late fill change reopened it after a report
    booked_profit: Decimal | None = None  # profit already counted in the risk engine's daily P&L
    hedge_deadline_ns: int = 0  # monotonic end of the current hedge window (set once per window)
    cancel_event: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        if not self.planned:
            self.planned = planned_quantities(self.intent)

    @property
    def execution_id(self) -> str:
        return self.intent.execution_id

    # --- event sourcing --------------------------------------------------------------------

    def apply(self, event: Event, fills_for: "callable", ts_ns: int = 0) -> None:
        """Fold one journaled saga event in. ``fills_for(coid, side, qty)`` returns the shared
        fill accumulator entry for an order."""
        if isinstance(event, ExecutionStarted):
            self.reserved = list(event.reserved)
            self.risk_ns = event.ts_risk_ns
        elif isinstance(event, SagaTransitioned):
            self.state = SagaState(event.to_state)
            if event.to_state == SagaState.HEDGING.value:
                self.hedge_reason = event.reason
        elif isinstance(event, LegSubmitted):
            if event.client_order_id not in self.orders:
                self.orders[event.client_order_id] = SagaOrder(
                    client_order_id=event.client_order_id,
                    leg_index=event.leg_index,
                    attempt=event.attempt,
                    purpose=event.purpose,
                    instrument=event.instrument,
                    side=event.side,
                    quantity=event.quantity,
                    price=event.price,
                    order_type=event.order_type,
                    time_in_force=event.time_in_force,
                    fills=fills_for(event.client_order_id, event.side, event.quantity),
                    journaled_ns=event.ts_recv or ts_ns,
                )
        elif isinstance(event, LegFilled):
            o = self.orders.get(event.client_order_id)
            if o is not None:
                o.finished = event
                o.needs_send = False
        elif isinstance(event, HedgeStarted):
            self.hedge_mode = event.mode
        elif isinstance(event, ExecutionCancelRequested):
            self.cancel_requested = True
            self.cancel_reason = event.reason
            self.cancel_event.set()
        elif isinstance(event, ExecutionReported):
            self.report = event.report
            self.state = SagaState.of(event.report.status)
            self.held = ""
            self.booked_profit = event.report.profit
        elif isinstance(event, OrderPrepared):
            o = self.orders.get(event.client_order_id)
            if o is not None:
                o.prepared = event.prepared
        elif isinstance(event, SagaHeld):
            self.held = event.reason or "held"
            for coid in event.client_order_ids:
                o = self.orders.get(coid)
                if o is not None and not o.unknown:
                    o.unknown = event.reason or "unknown"
        elif isinstance(event, SagaResolved):
            self.held = ""
            for o in self.orders.values():
                if o.unknown:
                    o.unknown = ""
                    if event.action in ("hedge", "close"):
                        o.operator_ended = True
        elif isinstance(event, SagaReopened):
            self.report = None
            self.state = SagaState.HEDGING
            self.reopened += 1
            self.hedge_deadline_ns = 0
            self.done = asyncio.Event()

    # --- queries ---------------------------------------------------------------------------

    def leg_orders(self, leg_index: int, purpose: str | None = "leg") -> list[SagaOrder]:
        return [o for o in self.orders.values() if o.leg_index == leg_index and (purpose is None or o.purpose == purpose)]

    def next_attempt(self, leg_index: int) -> int:
        return 1 + max((o.attempt for o in self.orders.values() if o.leg_index == leg_index), default=-1)

    def unfinished(self) -> list[SagaOrder]:
        return [o for o in self.orders.values() if o.finished is None]

    def leg_filled(self, leg_index: int) -> Decimal:
        """What the leg's own orders filled (hedges excluded)."""
        return sum((o.fills.filled for o in self.leg_orders(leg_index)), ZERO)

    def leg_net(self, leg_index: int) -> Decimal:
        """Leg fills minus the hedges that unwound them (same instrument, opposite side)."""
        leg_side = self.intent.legs[leg_index].side
        net = ZERO
        for o in self.leg_orders(leg_index, None):
            net += o.fills.filled if o.side is leg_side else -o.fills.filled
        return net

    def leg_output(self, leg_index: int) -> Decimal:
        """What the leg's own orders produced in its output currency, net of fees charged in it."""
        total = ZERO
        for o in self.leg_orders(leg_index):
            f = o.fills
            total += output_amount(o.instrument, o.side, f.filled, f.notional, f.fees())
        return total

    def any_sent(self) -> bool:
        """Whether any order of the saga may have reached a venue."""
        return any(not o.needs_send or o.sent_ns for o in self.orders.values())

    def unknown_orders(self) -> list[SagaOrder]:
        return [o for o in self.orders.values() if o.unknown]

    def any_fill(self) -> bool:
        return any(o.fills.filled > 0 for o in self.orders.values())

    def currency_flows(self) -> dict[tuple[Venue, str], Decimal]:
        """Net change of every asset (currency or outcome share) across all the saga's fills."""
        flows: dict[tuple[Venue, str], Decimal] = {}

        def add(v: Venue, a: str, x: Decimal) -> None:
            if x:
                flows[(v, a)] = flows.get((v, a), ZERO) + x

        for o in self.orders.values():
            f = o.fills
            if not f.filled:
                continue
            inst, v = o.instrument, o.venue
            s = o.side.sign
            add(v, asset_of(inst), s * f.filled)
            add(v, inst.quote, -s * f.notional)
            for cur, fee in f.fees().items():
                add(v, cur, -fee)
        return flows

    def spent_input(self, leg_index: int) -> Decimal:
        total = ZERO
        for o in self.leg_orders(leg_index):
            f = o.fills
            total += input_spent(o.instrument, o.side, f.filled, f.notional, f.fees())
        return total

    @property
    def is_cascade(self) -> bool:
        return self.intent.sequencing is Sequencing.CASCADE
