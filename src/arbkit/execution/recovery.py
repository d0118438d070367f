"""Crash recovery: rebuild sagas from the journal and finish the ones a crash interrupted.

Run once at start-up, before the engine takes intents:

1. Replay the journal: every saga (its intent, transitions, orders and their events) is rebuilt
   by the same ``Saga.apply`` the live engine uses, and every order event is folded into the
   fill accumulator.
2. For each saga that has no ``ExecutionReported`` (a terminal transition without its report
   counts as interrupted too): ask the backend for the real state of each
   of its orders by client order id. An order the venue has is never sent again (its fills are
   fetched, a working one is canceled); an order the venue never saw may be sent with the
   *same* client order id (a venue refuses a duplicate id, so even a wrong "never saw" answer
   cannot create a second order).
3. Complete or compensate under the saga's own policy: with no exposure nothing is sent again
   (ABORTED); with exposure, ``EngineConfig.recovery_mode`` says whether the remaining legs are
   sent ("complete", bounded by their limit prices) or the filled ones are unwound
   ("compensate"). Either way the saga ends in a report marked ``recovered``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal

from arbkit.core.clock import NS
from arbkit.core.enums import OrderStatus
from arbkit.core.events import FillStatusChanged, OrderAccepted, OrderCanceled, OrderExpired, OrderFilled, OrderRejected
from arbkit.execution.engine import ExecutionEngine, spent_by
from arbkit.execution.events import (
    ExecutionCancelRequested,
    ExecutionReported,
    ExecutionStarted,
    HedgeStarted,
    IntentReceived,
    LegFilled,
    LegSubmitted,
    SagaTransitioned,
)
from arbkit.execution.intent import Intent
from arbkit.execution.saga import Saga

log = logging.getLogger("arbkit.execution.recovery")

SAGA_KINDS = (
    "IntentReceived",
    "ExecutionStarted",
    "SagaTransitioned",
    "LegSubmitted",
    "LegFilled",
    "HedgeStarted",
    "ExecutionCancelRequested",
    "ExecutionReported",
    "OrderAccepted",
    "OrderRejected",
    "OrderFilled",
    "OrderCanceled",
    "OrderExpired",
    "FillStatusChanged",
)
_ORDER_EVENTS = (OrderAccepted, OrderRejected, OrderFilled, OrderCanceled, OrderExpired, FillStatusChanged)


@dataclass
class RecoveryReport:
    replayed_records: int = 0
    sagas_seen: int = 0
    interrupted: list[str] = field(default_factory=list)
    orders_checked: int = 0
    orders_at_venue: list[str] = field(default_factory=list)  # journaled and found at the venue
    orders_never_sent: list[str] = field(default_factory=list)  # journaled, venue never saw them
    orders_to_resend: list[str] = field(default_factory=list)  # of those, sent again (same id)
    notes: list[str] = field(default_factory=list)
    reconciliation: list = field(default_factory=list)  # reconcile.VenueReconciliation per venue


def rebuild(engine: ExecutionEngine) -> tuple[dict[str, Saga], int]:
    """Replay the journal into ``engine`` (sagas + fill accumulator). Returns the sagas by id
    and the number of records read. Nothing is booked into the portfolio: the venues' balances
    and positions are the truth at start-up (see reconcile.startup_reconcile)."""
    intents: dict[str, Intent] = {}
    sagas: dict[str, Saga] = {}
    n = 0
    for rec in engine.journal.replay(kinds=SAGA_KINDS):
        n += 1
        ev = rec.decode()
        cid = rec.correlation_id
        if isinstance(ev, IntentReceived):
            intents[ev.intent.execution_id] = ev.intent
            continue
        if isinstance(ev, ExecutionStarted):
            intent = intents.get(ev.execution_id)
            if intent is None:
                log.error("journal: ExecutionStarted for %s without its intent", ev.execution_id)
                continue
            saga = Saga(intent=intent, created_ns=intent.timestamps.created_ns or rec.ts_ns)
            sagas[ev.execution_id] = saga
            saga.apply(ev, engine._fills_for, rec.ts_ns)
            continue
        if isinstance(ev, (SagaTransitioned, LegSubmitted, LegFilled, HedgeStarted, ExecutionCancelRequested, ExecutionReported)):
            eid = getattr(ev, "execution_id", "") or (ev.report.execution_id if isinstance(ev, ExecutionReported) else cid)
            saga = sagas.get(eid)
            if saga is not None:
                saga.apply(ev, engine._fills_for, rec.ts_ns)
                if isinstance(ev, LegSubmitted):
                    engine._coid_exec[ev.client_order_id] = eid
            continue
        if isinstance(ev, _ORDER_EVENTS):
            engine.fills.apply(ev, rec.ts_ns)
    return sagas, n


async def recover(engine: ExecutionEngine, mode: str | None = None, *, reconcile: bool = True) -> RecoveryReport:
    """Rebuild from the journal, reconcile with the venues (``reconcile=True``), then resume
    every interrupted saga (see the module docstring). Returns with the sagas running;
    ``await engine.wait_idle()`` to see them finish."""
    mode = mode or engine.config.recovery_mode
    if mode not in ("complete", "compensate"):
        raise ValueError(f"recovery mode must be 'complete' or 'compensate', not {mode!r}")
    report = RecoveryReport()
    sagas, report.replayed_records = rebuild(engine)
    report.sagas_seen = len(sagas)
    interrupted: list[Saga] = []
    for eid, saga in sagas.items():
        engine.sagas[eid] = saga
        # done means reported: a crash between the terminal transition and the report leaves
        # a terminal state without a report, which recovery finishes (it sends nothing)
        if saga.report is not None:
            saga.done.set()
            if saga.report is not None:
                engine.reports.append(saga.report)
        else:
            interrupted.append(saga)
    # 1. the venues' view of every order an interrupted saga journaled (fills fetched and
    #    journaled, working orders canceled) -- nothing is sent in this phase
    for saga in interrupted:
        eid = saga.execution_id
        report.interrupted.append(eid)
        saga.recovered = True
        if engine.snapshots is not None:
            engine.snapshots.update(saga.intent.books)
        for o in saga.unfinished():
            report.orders_checked += 1
            backend = engine.backends.get(o.venue)
            st = None
            if backend is not None:
                try:
                    st = await backend.order_state(o.client_order_id)
                except Exception as exc:  # noqa: BLE001 - unknown is not "absent": never resend then
                    report.notes.append(f"{o.client_order_id}: order lookup failed ({exc}); treated as sent")
                    o.needs_send = False
                    o.sent_ns = o.journaled_ns
                    continue
            if st is None:
                report.orders_never_sent.append(o.client_order_id)
                o.needs_send = True
                continue
            report.orders_at_venue.append(o.client_order_id)
            o.needs_send = False
            o.sent_ns = o.journaled_ns
            await engine._adopt_venue_state(o, st)
            if not st.status.is_terminal:
                await engine._cancel_order(o)  # a working order from before the crash: stop it, then decide
    # 2. start-up reconciliation: compare, then take the venues' balances and positions as the
    #    truth (they include every fill above, so nothing is counted twice)
    if reconcile:
        from arbkit.execution.reconcile import startup_reconcile

        since = min((o.journaled_ns for s in interrupted for o in s.orders.values() if o.journaled_ns), default=None)
        report.reconciliation = await startup_reconcile(engine, fills_since_ns=None if since is None else max(0, since - 60 * NS))
    # 3. resume each saga under its policy
    for saga in interrupted:
        eid = saga.execution_id
        # capital: the reservation as journaled, less what its fills already spent
        engine.risk.adopt(saga.intent, {(r.venue, r.currency): r.amount for r in saga.reserved})
        for o in saga.orders.values():
            for f in o.fills.fills.values():
                if f.counts:
                    cur, amount = spent_by(o, f)
                    engine.risk.on_spent(eid, o.venue, cur, amount)
        exposure = saga.any_fill()
        if not exposure or mode == "compensate":
            why = "recovery: no exposure, nothing is sent again" if not exposure else "recovery: compensate mode"
            for o in saga.unfinished():
                if o.needs_send:
                    engine._record(saga, LegFilled(execution_id=eid, leg_index=o.leg_index, client_order_id=o.client_order_id,
                                                   purpose=o.purpose, status=OrderStatus.REJECTED.value, filled_quantity=Decimal(0),
                                                   avg_price=None, fee=Decimal(0), fee_currency=o.instrument.quote,
                                                   error="journaled before a crash, never reached the venue; not resent"))
            if not saga.cancel_requested:
                engine._record(saga, ExecutionCancelRequested(execution_id=eid, reason=why))
        else:
            report.orders_to_resend.extend(o.client_order_id for o in saga.unfinished() if o.needs_send)
        engine._start(saga)
    return report
