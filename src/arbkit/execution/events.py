"""Events of the decision path (risk and execution), journaled and replayed to rebuild sagas.

Every saga event carries ``execution_id`` and is journaled with ``correlation_id`` = the
execution id, so ``Journal.replay(correlation_id=...)`` returns one saga's whole history.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from arbkit.core.enums import OrderType, Side, TimeInForce, Venue
from arbkit.core.events import Event
from arbkit.core.instruments import Instrument
from arbkit.execution.intent import Intent
from arbkit.execution.report import ExecutionReport, Residual


class IntentReceived(Event, frozen=True, kw_only=True):
    intent: Intent


class RiskDenied(Event, frozen=True, kw_only=True):
    execution_id: str
    check: str  # which check refused: "stale", "minimum", "exposure", "capital", "slots", ...
    reason: str


class ReservedAmount(msgspec.Struct, frozen=True, kw_only=True):
    """One (venue, currency, amount) line of a reservation."""

    venue: Venue
    currency: str
    amount: Decimal


class ExecutionStarted(Event, frozen=True, kw_only=True):
    """Risk approved the intent; capital below is reserved for it."""

    execution_id: str
    reserved: list[ReservedAmount]
    ts_risk_ns: int = 0


class SagaTransitioned(Event, frozen=True, kw_only=True):
    execution_id: str
    from_state: str
    to_state: str
    leg_index: int = -1
    reason: str = ""


class LegSubmitted(Event, frozen=True, kw_only=True):
    """An order of a saga, journaled (and flushed) before it is handed to the backend."""

    execution_id: str
    leg_index: int
    attempt: int
    purpose: str  # "leg" or "hedge"
    client_order_id: str
    instrument: Instrument
    side: Side
    quantity: Decimal
    price: Decimal
    order_type: OrderType
    time_in_force: TimeInForce


class LegFilled(Event, frozen=True, kw_only=True):
    """One saga order reached its end (terminal at the venue, or given up after its timeout and
    a cancel): what it finally filled."""

    execution_id: str
    leg_index: int
    client_order_id: str
    purpose: str
    status: str  # OrderStatus value
    filled_quantity: Decimal
    avg_price: Decimal | None
    fee: Decimal
    fee_currency: str
    timed_out: bool = False
    error: str = ""


class HedgeStarted(Event, frozen=True, kw_only=True):
    execution_id: str
    mode: str
    reason: str
    residuals: list[Residual]


class ResidualAlerted(Event, frozen=True, kw_only=True):
    """A saga leaves exposure open (HOLD policy or a hedge that could not complete)."""

    execution_id: str
    residuals: list[Residual]
    reason: str


class BalanceWaitTimedOut(Event, frozen=True, kw_only=True):
    """``await_balance``: the venue did not report the balance after a cascade leg in time; the
    next leg was sized from the fills instead (an alert: the fee model or the stream may be off)."""

    execution_id: str
    leg_index: int
    currency: str
    fill_derived: Decimal
    timeout_s: float


class ExecutionReported(Event, frozen=True, kw_only=True):
    """The saga is terminal; this is its report."""

    report: ExecutionReport


class FillCorrected(Event, frozen=True, kw_only=True):
    """Reconciliation changed a fill we had booked: positions move by (new - old)."""

    execution_id: str
    client_order_id: str
    trade_id: str
    venue: Venue
    instrument_id: str
    side: Side
    old_quantity: Decimal
    new_quantity: Decimal
    old_price: Decimal
    new_price: Decimal
    old_fee: Decimal
    new_fee: Decimal
    fee_currency: str
    reason: str


class ReconciliationReported(Event, frozen=True, kw_only=True):
    """Start-up reconciliation of one venue: differences between the venue and the journal."""

    venue: Venue
    differences: list[str]
    open_orders: int = 0
    ok: bool = True


class EnginePaused(Event, frozen=True, kw_only=True):
    paused: bool
    reason: str = ""


class ExecutionCancelRequested(Event, frozen=True, kw_only=True):
    execution_id: str
    reason: str = ""


class SlotsChanged(Event, frozen=True, kw_only=True):
    slots: int


class OrderPrepared(Event, frozen=True, kw_only=True):
    """What identifies a saga order at its venue (Polymarket: the signed order and its hash;
    Kalshi: the exact request body), journaled and flushed *before* the order is sent, so that
    after a restart recovery looks the order up by it and a resend is byte-identical (the venue
    refuses it as a duplicate) instead of being a second order."""

    execution_id: str
    client_order_id: str
    venue: Venue
    prepared: str  # opaque to the engine; the venue package's own JSON text


class SagaHeld(Event, frozen=True, kw_only=True):
    """The saga cannot tell what some of its orders did at the venue: nothing more is sent on a
    guess (no next leg, no hedge) until the venue answers or an operator resolves it. Its
    capital, slot and exposure stay reserved."""

    execution_id: str
    reason: str
    client_order_ids: list[str] = []


class SagaReopened(Event, frozen=True, kw_only=True):
    """A reported saga learned of a fill change after its report (a late fill, a reversal):
    its residual handling runs again and it reports anew."""

    execution_id: str
    reason: str
    previous_status: str = ""


class SagaResolved(Event, frozen=True, kw_only=True):
    """An operator resolved a held saga: ``hedge`` (the unknown orders are taken as ended with
    the fills known; the residual is hedged) or ``close`` (handled by hand; the saga reports
    with its residual alerted)."""

    execution_id: str
    action: str
    by: str = "operator"
    note: str = ""
