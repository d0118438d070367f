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

A venue that cannot say whether it has an order (the gateway raises ``OrderStateUnknown``) is
asked again with bounded backoff on the engine's clock (:class:`LookupRetry`). If it still
cannot say, the order is treated as sent (never resent) and its saga is *held*: it is not
resumed, so no later leg and no hedge goes out on a guess. A held saga keeps its journaled
non-terminal state (it shows under ``status()["in_flight"]``), keeps its capital reservation and
slot (the order may be live), and a ``ResidualAlerted`` naming the order and the reason is
journaled. :func:`recheck_held` asks again later and resumes the saga once every order is known;
a restart does the same (the journal still shows the saga interrupted). Ending it FAILED instead
would release its capital and claim a residual nobody knows.

Start-up also re-checks fills still provisional in the journal (Polymarket MATCHED/MINED) against
the venue's fills (``reconcile.reconcile_provisional``) before the venues' balances are adopted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal

from arbkit.core.clock import NS
from arbkit.core.enums import OrderStatus
from arbkit.core.events import FillStatusChanged, OrderAccepted, OrderCanceled, OrderExpired, OrderFilled, OrderRejected
from arbkit.core.events import KillSwitchTripped
from arbkit.execution.engine import Answer as _Answer
from arbkit.execution.engine import ExecutionEngine, LookupRetry, spent_by
from arbkit.execution.events import (
    ExecutionCancelRequested,
    ExecutionReported,
    ExecutionStarted,
    HedgeStarted,
    IntentReceived,
    LegFilled,
    LegSubmitted,
    OrderPrepared,
    SagaHeld,
    SagaReopened,
    SagaResolved,
    SagaTransitioned,
)
from arbkit.execution.intent import Intent
from arbkit.execution.saga import Saga, SagaOrder
from arbkit.risk.killswitch import KillSwitchReset

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
    "OrderPrepared",
    "SagaHeld",
    "SagaReopened",
    "SagaResolved",
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
    orders_unknown: list[str] = field(default_factory=list)  # venue could not say, even after retries
    held: dict[str, str] = field(default_factory=dict)  # execution id -> why it is not resumed
    notes: list[str] = field(default_factory=list)
    reconciliation: list = field(default_factory=list)  # reconcile.VenueReconciliation per venue
    provisional: list = field(default_factory=list)  # reconcile.ProvisionalCheck per venue


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
        if isinstance(ev, (SagaTransitioned, LegSubmitted, LegFilled, HedgeStarted, ExecutionCancelRequested, ExecutionReported,
                           OrderPrepared, SagaHeld, SagaReopened, SagaResolved)):
            eid = getattr(ev, "execution_id", "") or (ev.report.execution_id if isinstance(ev, ExecutionReported) else cid)
            saga = sagas.get(eid)
            if saga is not None:
                saga.apply(ev, engine._fills_for, rec.ts_ns)
                if isinstance(ev, LegSubmitted):
                    engine._coid_exec[ev.client_order_id] = eid
                elif isinstance(ev, OrderPrepared):
                    # the venue package learns the exact order again (same hash, same body):
                    # lookups find it and a resend is the identical order, never a second one
                    restore = getattr(engine.backends.get(ev.venue), "restore", None)
                    if restore is not None:
                        try:
                            restore(ev.client_order_id, ev.prepared)
                        except Exception as exc:  # noqa: BLE001 - then the lookup says unknown: held, never resent
                            log.error("journal: prepared order %s cannot be restored: %s", ev.client_order_id, exc)
            continue
        if isinstance(ev, _ORDER_EVENTS):
            engine.fills.apply(ev, rec.ts_ns)
    return sagas, n


async def recover(engine: ExecutionEngine, mode: str | None = None, *, reconcile: bool = True,
                  lookup: LookupRetry | None = None) -> RecoveryReport:
    """Rebuild from the journal, reconcile with the venues (``reconcile=True``), then resume
    every interrupted saga (see the module docstring). Returns with the sagas running;
    ``await engine.wait_idle()`` to see them finish."""
    mode = mode or engine.config.recovery_mode
    if mode not in ("complete", "compensate"):
        raise ValueError(f"recovery mode must be 'complete' or 'compensate', not {mode!r}")
    lookup = lookup or LookupRetry()
    report = RecoveryReport()
    sagas, report.replayed_records = rebuild(engine)
    restore_risk_state(engine, report)
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
        unknown: list[str] = []
        for o in saga.unfinished():
            report.orders_checked += 1
            ans = await _ask(engine, o, lookup)
            if await _take_answer(engine, o, ans, report):
                unknown.append(f"{o.client_order_id} ({o.venue.value}, asked {ans.asked}x): {ans.why}")
        if unknown:
            report.held[eid] = "state unknown at the venue for " + "; ".join(unknown)
    # 2. start-up reconciliation: compare, then take the venues' balances and positions as the
    #    truth (they include every fill above, so nothing is counted twice)
    if reconcile:
        from arbkit.execution.reconcile import reconcile_provisional, startup_reconcile

        # fills the journal still holds as provisional: apply their current venue status before
        # the venues' balances are adopted (so a reversal here is not counted on top of them)
        report.provisional = await reconcile_provisional(engine)
        since = min((o.journaled_ns for s in interrupted for o in s.orders.values() if o.journaled_ns), default=None)
        report.reconciliation = await startup_reconcile(engine, fills_since_ns=None if since is None else max(0, since - 60 * NS))
    # 3. resume each saga under its policy; a held one only has its capital adopted
    for saga in interrupted:
        eid = saga.execution_id
        # capital: the reservation as journaled, less what its fills already spent
        sent: dict = {}
        for o in saga.orders.values():
            if not o.needs_send:
                sent[o.venue] = sent.get(o.venue, 0) + 1
        engine.risk.adopt(saga.intent, {(r.venue, r.currency): r.amount for r in saga.reserved}, orders_sent=sent)
        for o in saga.orders.values():
            for f in o.fills.fills.values():
                if f.counts:
                    cur, amount = spent_by(o, f)
                    engine.risk.on_spent(eid, o.venue, cur, amount)
        if eid in report.held:
            _hold(engine, saga, report.held[eid])
            continue
        _resume(engine, saga, mode, report)
    return report


async def recheck_held(engine: ExecutionEngine, execution_id: str, mode: str | None = None,
                       lookup: LookupRetry | None = None) -> RecoveryReport:
    """Ask the venues again about a held saga now (the engine also does this by itself, with
    backoff). If every order is known, the saga resumes (``report.held`` is empty)."""
    saga = engine.sagas.get(execution_id)
    if saga is None:
        raise KeyError(f"no saga {execution_id!r}")
    report = RecoveryReport(sagas_seen=1)
    if saga.report is not None or execution_id in engine._tasks:
        report.notes.append(f"{execution_id} is not held (already {'reported' if saga.report else 'running'})")
        return report
    asked = saga.unknown_orders()
    report.orders_checked = len(asked)
    resumed = await engine.recheck(saga, lookup or LookupRetry())
    for o in asked:
        if o.unknown:
            report.orders_unknown.append(o.client_order_id)
        elif o.fills.reject_reason and o.fills.filled == 0 and not o.fills.venue_order_id:
            report.orders_never_sent.append(o.client_order_id)
        else:
            report.orders_at_venue.append(o.client_order_id)
    if not resumed:
        report.held[execution_id] = saga.held or "state still unknown at the venue"
    return report


def restore_risk_state(engine: ExecutionEngine, report: RecoveryReport | None = None) -> None:
    """What binds the risk engine survives a restart: the day's realised P&L (each report's
    change of profit, booked on the day it was journaled) and a kill switch tripped and never
    reset. Both are in force before the first intent."""
    risk = engine.risk
    today = risk.day_of(engine.clock.now_ns())
    last: dict[str, Decimal] = {}
    pnl = Decimal(0)
    tripped: KillSwitchTripped | None = None
    for rec in engine.journal.replay(kinds=("ExecutionReported", "KillSwitchTripped", "KillSwitchReset")):
        ev = rec.decode()
        if isinstance(ev, ExecutionReported):
            eid = ev.report.execution_id
            delta = ev.report.profit - last.get(eid, Decimal(0))
            last[eid] = ev.report.profit
            if risk.day_of(rec.ts_ns) == today:
                pnl += delta
        elif isinstance(ev, KillSwitchTripped):
            tripped = tripped or ev
        elif isinstance(ev, KillSwitchReset):
            tripped = None
    if tripped is not None and not risk.killswitch.tripped:
        risk.killswitch.restore(tripped.reason, tripped.source)
    risk.restore_day(today, pnl)
    if report is not None:
        report.notes.append(f"risk restored: P&L today {pnl}; kill switch {'tripped: ' + risk.killswitch.reason if risk.killswitch.tripped else 'armed'}")


async def _ask(engine: ExecutionEngine, o: SagaOrder, lookup: LookupRetry) -> _Answer:
    """Ask the venue about ``o`` (by client order id and the venue order id journaled with its
    acknowledgement); on ``OrderStateUnknown`` ask again with bounded backoff."""
    return await engine.ask(o, lookup)


async def _take_answer(engine: ExecutionEngine, o: SagaOrder, ans: _Answer, report: RecoveryReport) -> bool:
    """Apply a lookup answer to ``o``. True when the venue could not say (the saga must hold)."""
    coid = o.client_order_id
    if ans.kind in ("unknown", "error"):
        # maybe sent: never send it again under any reading of this answer
        o.needs_send = False
        o.sent_ns = o.sent_ns or o.journaled_ns
        if ans.kind == "error":
            report.notes.append(f"{coid}: order lookup failed ({ans.why}); treated as sent")
            return False
        report.orders_unknown.append(coid)
        report.notes.append(f"{coid}: venue could not say whether it has the order after {ans.asked} attempt(s) ({ans.why}); "
                            "treated as sent, saga held")
        o.unknown = f"state unknown at the venue after a restart: {ans.why}"
        return True
    o.unknown = ""
    if ans.kind == "absent":
        report.orders_never_sent.append(coid)
        o.needs_send = True
        return False
    st = ans.state
    report.orders_at_venue.append(coid)
    o.needs_send = False
    o.sent_ns = o.sent_ns or o.journaled_ns
    await engine._adopt_venue_state(o, st)
    if not st.status.is_terminal:
        await engine._cancel_order(o)  # a working order from before the crash: stop it, then decide
    return False


def _hold(engine: ExecutionEngine, saga: Saga, why: str) -> None:
    """Leave ``saga`` unresumed (its non-terminal state stays visible in ``status``), journal
    that it is held with an alert naming the order(s), and let the engine re-ask the venue in the
    background (``arbkit sagas resolve`` is the operator's way out)."""
    saga.held = ""  # a hold from before the restart is journaled again with today's reason
    engine.hold(saga, f"recovery: {why}; nothing resent and no later leg sent")


def _resume(engine: ExecutionEngine, saga: Saga, mode: str, report: RecoveryReport) -> None:
    """Complete or compensate ``saga`` under ``mode`` (see the module docstring) and start it."""
    eid = saga.execution_id
    if saga.held:
        engine._record(saga, SagaResolved(execution_id=eid, action="venue_answered", by="recovery",
                                          note="every order's state is known after the restart"))
    # the venue saying an order filled is exposure even before its fill records are in (they may
    # come later, or only as a stand-in at the order's limit): never "nothing to unwind" then
    exposure = saga.any_fill() or any(o.fills.missing_fills > 0 for o in saga.orders.values())
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
