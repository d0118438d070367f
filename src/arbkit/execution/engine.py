"""The execution engine: intent -> risk -> journal -> backend, one saga per execution.

Rules it keeps:

* The decision is synchronous: ``submit`` journals the intent, asks the risk engine (a plain
  call) and starts the saga. The only awaits are the journal barrier and the venue round trip.
* Every saga transition and every order is journaled *before* it is acted on, and an order is
  handed to a backend only after ``await journal.flush(durable=...)`` has its ``LegSubmitted``
  (and the venue's identity of the order) written: committed, so it survives the process being
  killed. With a group-commit journal the fsync follows within milliseconds, off the order path;
  ``EngineConfig.fsync_before_send`` makes every order wait for its fsync instead (see README,
  "Durability").
* Client order ids are deterministic (``arbkit.core.ids.client_order_id``), so after a crash the
  same leg has the same id and recovery can ask the venue instead of sending again.
* A saga never ends silently open: it ends FILLED, HEDGED (compensated), FAILED (residual
  reported and alerted) or ABORTED (nothing exposed).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from fractions import Fraction

import msgspec
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Awaitable, Callable, Protocol

from arbkit.core.clock import NS, Clock
from arbkit.core.enums import FillStatus, InstrumentKind, LiquiditySide, OrderStatus, OrderType, Side, TimeInForce, Venue
from arbkit.core.events import (
    Event,
    FillStatusChanged,
    OrderAccepted,
    OrderCanceled,
    OrderExpired,
    OrderFilled,
    OrderRejected,
)
from arbkit.core.ids import client_order_id
from arbkit.core.instruments import Instrument
from arbkit.core.orders import OrderRequest
from arbkit.execution.backend import ExecutionBackend
from arbkit.execution.events import (
    BalanceWaitTimedOut,
    EnginePaused,
    ExecutionCancelRequested,
    ExecutionReported,
    ExecutionStarted,
    FillCorrected,
    HedgeStarted,
    IntentReceived,
    LegFilled,
    LegSubmitted,
    OrderPrepared,
    ReservedAmount,
    ResidualAlerted,
    RiskDenied,
    SagaHeld,
    SagaReopened,
    SagaResolved,
    SagaTransitioned,
    SlotsChanged,
)
from arbkit.execution.fills import FillAccumulator, FillChange, FillChangeKind, OrderFills
from arbkit.execution.intent import HedgeMode, Intent, Sequencing, asset_of
from arbkit.execution.paper import SnapshotRegistry
from arbkit.execution.portfolio import Portfolio
from arbkit.execution.report import (
    ExecutionReport,
    ExecutionStatus,
    LegReport,
    Residual,
    StageTimings,
)
from arbkit.execution.saga import Saga, SagaOrder, SagaState, execution_of
from arbkit.execution.sizing import cascade_quantity, leg_quantity, max_buy_quantity, taker_fee
from arbkit.risk.engine import Approved, Denied, RiskEngine
from arbkit.venues.common.http import OrderStateUnknown

log = logging.getLogger("arbkit.execution")
ZERO = Decimal(0)
BPS = Decimal(10_000)
UNREPORTED = ":unreported:"  # trade id marker of a provisional fill standing in for one the venue has not sent


@dataclass(frozen=True)
class LookupRetry:
    """How long the engine keeps asking a venue that cannot say (``OrderStateUnknown``) about
    one order: at most ``attempts`` questions, sleeping ``first_backoff_s`` doubling up to
    ``max_backoff_s`` between them on the engine's clock, and never sleeping past
    ``max_total_s`` in all."""

    attempts: int = 4
    first_backoff_s: float = 0.5
    max_backoff_s: float = 4.0
    max_total_s: float = 15.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"LookupRetry.attempts must be >= 1, not {self.attempts}")
        if self.first_backoff_s < 0 or self.max_backoff_s < 0 or self.max_total_s < 0:
            raise ValueError("LookupRetry backoff and total time must not be negative")


@dataclass
class Answer:
    """What one order lookup concluded: ``kind`` is "state" (the venue has it), "absent" (the
    venue positively does not), "unknown" (OrderStateUnknown every time) or "error" (anything
    else: the order may exist, never resend it)."""

    kind: str
    state: object = None
    why: str = ""
    asked: int = 0


class BalanceSource(Protocol):
    """What a venue reports about a currency after some of our orders settled (the KuCoin user
    stream's ``/account/balance`` events implement it)."""

    async def balance_after(self, currency: str, orders: list[tuple[str, int]], timeout_s: float) -> Decimal | None:
        """The available balance of ``currency`` once the venue reported the settlement of each
        ``(venue order id, fill count)``; None when it did not within ``timeout_s``."""
        ...


class OrderUnknown(Exception):
    """Raised inside a saga when the venue cannot tell what one of its orders did: the saga is
    held (nothing more is sent on a guess) until the venue answers or an operator resolves it."""

    def __init__(self, order: "SagaOrder", why: str) -> None:
        super().__init__(f"{order.client_order_id}: {why}")
        self.order = order
        self.why = why


@dataclass
class EngineConfig:
    cancel_timeout_s: float = 2.0  # cancel sent -> venue says terminal
    fill_grace_s: float = 1.0  # terminal with missing fills -> fetch them from the venue
    recovery_mode: str = "complete"  # after a crash with exposure: "complete" the legs or "compensate"
    # optional balance override for cascades: (venue, currency) -> what the venue's balance stream
    # says is available; the next leg spends min(previous output, this)
    balance_source: Callable[[Venue, str], Decimal | None] | None = None
    # ``await_balance``: before each cascade leg after the first, wait (up to the timeout) for the
    # balance the venue reports once the previous leg's orders settled and spend
    # min(previous output, that balance); on timeout the fill-derived amount is used and
    # BalanceWaitTimedOut is journaled. See BalanceSource.
    await_balance: "BalanceSource | None" = None
    await_balance_timeout_s: float = 2.0
    keep_reports: int = 1000
    # asking the venue about an order whose answer was lost, inside a running saga (short: the
    # legs are waiting); past it the saga is held and re-checked in the background
    lookup: LookupRetry = LookupRetry(attempts=3, first_backoff_s=0.25, max_backoff_s=1.0, max_total_s=3.0)
    # background re-checks of a held saga: first delay, doubling up to the cap
    recheck_first_s: float = 1.0
    recheck_max_s: float = 60.0
    # the barrier before an order is sent: False = written (committed; survives kill -9; a
    # group-commit journal fsyncs it within milliseconds), True = fsynced (survives a power cut)
    fsync_before_send: bool = False


class ExecutionEngine:
    def __init__(
        self,
        *,
        journal: Any,
        clock: Clock,
        risk: RiskEngine,
        backends: dict[Venue, ExecutionBackend],
        portfolio: Portfolio | None = None,
        config: EngineConfig | None = None,
        snapshots: SnapshotRegistry | None = None,
    ) -> None:
        self.journal = journal
        self.clock = clock
        self.risk = risk
        self.portfolio = portfolio or risk.portfolio
        self.backends = backends
        self.config = config or EngineConfig()
        self.snapshots = snapshots
        self.fills = FillAccumulator()
        self.sagas: dict[str, Saga] = {}
        self.reports: list[ExecutionReport] = []
        self.paused = False
        self._resume = asyncio.Event()
        self._resume.set()
        self._tasks: dict[str, asyncio.Task] = {}
        self._rechecks: dict[str, asyncio.Task] = {}  # held sagas being re-asked in the background
        self._coid_exec: dict[str, str] = {}
        self.unmatched_events: deque[Event] = deque(maxlen=1000)
        self.sent_hook: Callable[[OrderRequest], None] | None = None  # benchmark/diagnostics
        # orders that are not a saga's (the quote manager's resting quotes): True = claimed
        self.order_listener: Callable[[Event], bool] | None = None
        self.flush_ns_last = 0
        self._quiet = 0  # > 0 while a provisional fill is being replaced (no alert mid-way)
        # trade ids already inside the balances/positions taken from a venue at start-up
        # (reconcile.startup_reconcile): booking them again would count them twice
        self.prebooked: set[tuple[Venue, str]] = set()
        # what the node trades (instrument id -> Instrument) and a mark for a position (book mid),
        # so positions adopted from a venue are valued for exposure limits (reconcile._valued)
        self.instruments: dict[str, Instrument] = {}
        self.mark_price: Callable[[Venue, str], Decimal | None] | None = None
        for b in backends.values():
            b.set_event_sink(self.on_event)

    # --- control ---------------------------------------------------------------------------

    def pause(self, reason: str = "") -> None:
        """No new intents. A saga that has sent nothing yet stops (nothing is exposed); one that
        has sent a leg runs on to completion or hedges within its leg timeout -- pausing never
        holds a filled leg open."""
        self.paused = True
        self._resume.clear()
        self.journal.append_event(EnginePaused(paused=True, reason=reason, ts_recv=self.clock.now_ns()))

    def resume(self) -> None:
        self.paused = False
        self._resume.set()
        self.journal.append_event(EnginePaused(paused=False, ts_recv=self.clock.now_ns()))

    def set_slots(self, n: int) -> None:
        self.risk.set_slots(n)
        self.journal.append_event(SlotsChanged(slots=n, ts_recv=self.clock.now_ns()))

    async def cancel(self, execution_id: str, reason: str = "canceled by command") -> bool:
        """Stop an execution before its next leg and compensate what it holds. A leg order
        still working is canceled at the venue by the saga itself (it is waiting on it), so
        this returns at once. False if the execution is not in flight."""
        saga = self.sagas.get(execution_id)
        if saga is None or saga.state.is_terminal or saga.cancel_requested:
            return False
        self._record(saga, ExecutionCancelRequested(execution_id=execution_id, reason=reason))
        return True

    # --- the decision path -----------------------------------------------------------------

    def submit(self, intent: Intent) -> Approved | Denied:
        """Synchronous: journal the intent, risk-check it, start its saga. Never awaits."""
        now = self.clock.now_ns()
        eid = intent.execution_id
        try:
            self.journal.append("IntentReceived", IntentReceived(intent=intent, correlation_id=eid, ts_recv=now), correlation_id=eid)
        except Exception as exc:  # noqa: BLE001 - no journal, no trading
            self._journal_failed(exc)
            return Denied("journal", f"journal failed: {exc}")
        if self.paused:
            self.journal.append_event(RiskDenied(execution_id=eid, check="paused", reason="engine paused", correlation_id=eid, ts_recv=now))
            return Denied("paused", "engine paused")
        if eid in self.sagas:
            self.journal.append_event(RiskDenied(execution_id=eid, check="duplicate", reason="execution id already used", correlation_id=eid, ts_recv=now))
            return Denied("duplicate", "execution id already used")
        verdict = self.risk.check(intent, now)
        if isinstance(verdict, Denied):
            return verdict
        risk_ns = self.clock.now_ns()
        if self.snapshots is not None:
            self.snapshots.update(intent.books)
        saga = Saga(intent=intent, created_ns=now, planned=verdict.reservation.planned)
        self.sagas[eid] = saga
        reserved = [ReservedAmount(venue=v, currency=c, amount=a) for (v, c), a in verdict.reservation.capital.items()]
        self._record(saga, ExecutionStarted(execution_id=eid, reserved=reserved, ts_risk_ns=risk_ns))
        self._start(saga)
        return verdict

    async def execute(self, intent: Intent) -> ExecutionReport | Denied:
        """``submit`` and wait for the saga's report."""
        verdict = self.submit(intent)
        if isinstance(verdict, Denied):
            return verdict
        return await self.wait(intent.execution_id)

    async def wait(self, execution_id: str) -> ExecutionReport:
        saga = self.sagas[execution_id]
        await saga.done.wait()
        assert saga.report is not None
        return saga.report

    async def wait_idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    def _start(self, saga: Saga) -> None:
        task = asyncio.get_running_loop().create_task(self._run(saga), name=f"saga-{saga.execution_id}")
        self._tasks[saga.execution_id] = task
        task.add_done_callback(lambda t, eid=saga.execution_id: self._tasks.pop(eid, None))

    # --- journaling ------------------------------------------------------------------------

    def _record(self, saga: Saga, event: Event) -> None:
        """Journal a saga event, then apply it: the journal always leads the state. If the
        journal cannot take it, the kill switch trips and the saga stops here (nothing may be
        sent that is not journaled)."""
        now = self.clock.now_ns()
        if not event.correlation_id or not event.ts_recv:
            event = msgspec.structs.replace(event, correlation_id=event.correlation_id or saga.execution_id, ts_recv=event.ts_recv or now)
        self._append(event.kind, event, saga.execution_id)
        saga.apply(event, self._fills_for, now)

    def _append(self, kind: str, event: Event, correlation_id: str) -> None:
        try:
            self.journal.append(kind, event, correlation_id=correlation_id)
        except Exception as exc:
            self._journal_failed(exc)
            raise

    def _journal_failed(self, exc: BaseException) -> None:
        if not self.risk.killswitch.tripped:
            log.critical("journal failed (%s): kill switch tripped, nothing more is sent", exc)
            try:
                self.risk.killswitch.trip(f"journal failed: {exc}", source="journal")
            except Exception:  # noqa: BLE001 - its own journaling fails too; the switch is tripped
                self.risk.killswitch.tripped = True
                self.risk.killswitch.reason = f"journal failed: {exc}"

    def _transition(self, saga: Saga, to: SagaState, reason: str = "", leg_index: int = -1) -> None:
        if saga.state is to:
            return
        self._record(
            saga,
            SagaTransitioned(execution_id=saga.execution_id, from_state=saga.state.value, to_state=to.value, leg_index=leg_index, reason=reason),
        )

    async def _durable(self, saga: Saga) -> None:
        t0 = self.clock.now_ns()
        await self.journal.flush(durable=self.config.fsync_before_send)
        self.flush_ns_last = self.clock.now_ns() - t0
        if not saga.journaled_ns:
            saga.journaled_ns = self.clock.now_ns()

    def _fills_for(self, coid: str, side: Side, quantity: Decimal) -> OrderFills:
        return self.fills.track(coid, side, quantity)

    # --- events from backends --------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """Every order event (submit answers and the backends' asynchronous streams).
        Journaled with the execution id, folded into the fill accumulator, booked."""
        coid = getattr(event, "client_order_id", "")
        eid = self._coid_exec.get(coid) or execution_of(coid) or ""
        try:
            self.journal.append(event.kind, event, correlation_id=eid)
        except Exception as exc:  # noqa: BLE001 - a fill is still booked; the kill switch is tripped
            self._journal_failed(exc)
        of = self.fills.get(coid)
        if of is None:
            listener = self.order_listener
            if listener is not None and listener(event):
                return  # an order of the quote manager (journaled above, booked there)
            self.unmatched_events.append(event)  # journaled; reconciliation deals with these
            return
        saga = self.sagas.get(eid)
        order = saga.orders.get(coid) if saga else None
        replaced = []
        if isinstance(event, OrderFilled) and event.trade_id not in of.fills and UNREPORTED not in event.trade_id:
            replaced = [f for f in of.fills.values() if UNREPORTED in f.trade_id and f.counts]
        self._quiet += 1 if replaced else 0
        try:
            before_done = of.done
            # the venue's own fill arrived: retire the provisional stand-in first, so the
            # reservation it converted is given back before the real fill converts it again
            left = event.quantity if replaced else ZERO
            for f in replaced:  # the venue's own fill arrived: retire the provisional stand-in
                if left <= 0:
                    break
                take = min(f.quantity, left)
                left -= take
                if take == f.quantity:
                    self.on_event(FillStatusChanged(venue=event.venue, trade_id=f.trade_id, client_order_id=coid,
                                                    status=FillStatus.FAILED, reason=f"replaced by venue fill {event.trade_id}",
                                                    ts_recv=self.clock.now_ns()))
                else:
                    q = f.quantity - take
                    self.on_event(msgspec.structs.replace(event, trade_id=f.trade_id, quantity=q, price=f.price,
                                                          fee=f.fee * q / f.quantity, status=FillStatus.PROVISIONAL,
                                                          cumulative_quantity=None, leaves_quantity=None))
            change = self.fills.apply(event, self.clock.now_ns())
            if change is not None and order is not None:
                self._book(saga, order, change, after_done=before_done and order.finished is not None and not replaced)
        finally:
            self._quiet -= 1 if replaced else 0
        if replaced and saga is not None and saga.report is not None:
            self._reopen(saga, f"venue fill {event.trade_id} replaced a provisional fill")

    def _reopen(self, saga: Saga, reason: str) -> None:
        """A fill changed after ``saga`` reported (a match made before a cancel whose trade came
        late, a FAILED settlement): its residual is real exposure again. Reopen it -- it counts
        against risk (slot, exposure) and hedges within its policy's window, then reports anew
        with the change of its profit booked to the day's P&L."""
        if saga.report is None:
            return  # still running: it sees the change itself
        task = self._tasks.get(saga.execution_id)
        if task is not None:
            # reported, but its task is still finishing (journal flush): look again once it is done
            task.add_done_callback(lambda _t: self._reopen(saga, reason))
            return
        res = [r for r in self.residuals(saga) if not r.dust and r.quantity != 0]
        previous = saga.report.status.value
        if not res and saga.report.profit == self._report(saga, saga.report.status, saga.report.residuals).profit:
            return
        log.error("execution %s reopened: %s (residual %s)", saga.execution_id, reason, res)
        try:
            if res:
                self._record(saga, ResidualAlerted(execution_id=saga.execution_id, residuals=res, reason=f"{reason}: reopened to hedge"))
            self._record(saga, SagaReopened(execution_id=saga.execution_id, reason=reason, previous_status=previous))
        except Exception:  # noqa: BLE001 - journal failed: kill switch tripped; still handle it
            saga.report = None
            saga.state = SagaState.HEDGING
            saga.done = asyncio.Event()
        self.risk.adopt(saga.intent, {})
        self._start(saga)

    def _alert_if_open(self, saga: Saga, reason: str) -> None:
        res = [r for r in self.residuals(saga) if not r.dust and r.quantity != 0]
        if res:
            self.journal.append_event(ResidualAlerted(execution_id=saga.execution_id, residuals=res, reason=reason,
                                                      correlation_id=saga.execution_id, ts_recv=self.clock.now_ns()))
            log.error("execution %s: %s leaves residual %s", saga.execution_id, reason, res)

    def _book(self, saga: Saga, order: SagaOrder, change: FillChange, after_done: bool) -> None:
        """Apply a fill change to the portfolio and the capital reservation."""
        inst = order.instrument
        new, old = change.new, change.old
        if change.kind is FillChangeKind.DUPLICATE:
            return
        old_counts = old is not None and old.counts
        new_counts = new.counts
        if old_counts and (change.kind is not FillChangeKind.STATUS or not new_counts):
            self.portfolio.apply_fill(inst, order.side, old.quantity, old.price, old.fee, old.fee_currency, sign=-1)
            # what the old fill spent is given back to the reservation it came from (a replaced
            # stand-in or a reversal is not spent twice)
            cur, spent = spent_by(order, old)
            self.risk.on_spent(saga.execution_id, inst.venue, cur, -spent)
        if new_counts and (change.kind is not FillChangeKind.STATUS or not old_counts):
            if not (change.kind is FillChangeKind.NEW and (inst.venue, new.trade_id) in self.prebooked):
                self.portfolio.apply_fill(inst, order.side, new.quantity, new.price, new.fee, new.fee_currency)
            cur, spent = spent_by(order, new)
            self.risk.on_spent(saga.execution_id, inst.venue, cur, spent)
        if saga.report is not None and change.kind is not FillChangeKind.STATUS and not self._quiet:
            # the saga already reported: a late change reopens its residual handling
            self._reopen(saga, f"fill {new.trade_id} changed after the report ({change.kind.value})")
        if change.kind in (FillChangeKind.CORRECTED, FillChangeKind.REVERSED) or after_done:
            o = old or new
            self.journal.append_event(
                FillCorrected(
                    execution_id=saga.execution_id,
                    client_order_id=order.client_order_id,
                    trade_id=new.trade_id,
                    venue=inst.venue,
                    instrument_id=inst.id,
                    side=order.side,
                    old_quantity=o.quantity if (old is not None and old.counts) else ZERO,
                    new_quantity=new.quantity if new.counts else ZERO,
                    old_price=o.price,
                    new_price=new.price,
                    old_fee=o.fee if (old is not None and old.counts) else ZERO,
                    new_fee=new.fee if new.counts else ZERO,
                    fee_currency=new.fee_currency,
                    reason=("late fill after the order was closed" if change.kind is FillChangeKind.NEW else change.kind.value.lower()),
                    correlation_id=saga.execution_id,
                    ts_recv=self.clock.now_ns(),
                )
            )

    # --- the saga --------------------------------------------------------------------------

    async def _run(self, saga: Saga) -> None:
        try:
            if saga.state is SagaState.CREATED:
                self._transition(saga, SagaState.RUNNING)
            if saga.state is SagaState.RUNNING:
                await self._run_legs(saga)
            await self._compensate(saga)
        except OrderUnknown as unk:
            self.hold(saga, unk.why)
            return
        except Exception as exc:  # noqa: BLE001 - a saga must end in a report, whatever happened
            log.exception("saga %s crashed", saga.execution_id)
            saga.error = f"{type(exc).__name__}: {exc}"
            try:
                await self._compensate(saga)
            except OrderUnknown as unk:
                self.hold(saga, unk.why)
                return
            except Exception as exc2:  # noqa: BLE001
                saga.error += f"; compensation failed: {type(exc2).__name__}: {exc2}"
        try:
            await self._finish(saga)
        finally:
            saga.done.set()

    # --- held sagas ------------------------------------------------------------------------

    def hold(self, saga: Saga, why: str) -> None:
        """Stop ``saga`` where it is: an order's state is unknown, so nothing more is sent on a
        guess. Its capital, slot and exposure stay reserved; an alert is journaled; the venue is
        re-asked in the background (with backoff) and the saga resumes once every order is known,
        or an operator resolves it (``resolve``)."""
        eid = saga.execution_id
        coids = [o.client_order_id for o in saga.unknown_orders()]
        if not saga.held:
            reason = f"held in {saga.state.value}: {why}"
            try:
                self._record(saga, SagaHeld(execution_id=eid, reason=reason, client_order_ids=coids))
                residuals = [r for r in self.residuals(saga) if r.quantity != 0]
                self._record(saga, ResidualAlerted(execution_id=eid, residuals=residuals,
                                                   reason=f"{reason}; nothing more is sent until the venue answers "
                                                          f"or `arbkit sagas resolve {eid}`"))
            except Exception:  # noqa: BLE001 - journal failure trips the kill switch; still held
                saga.held = reason
            log.error("execution %s held: %s", eid, why)
        if eid not in self._rechecks or self._rechecks[eid].done():
            task = asyncio.get_running_loop().create_task(self._recheck_loop(saga), name=f"recheck-{eid}")
            self._rechecks[eid] = task

    def held(self) -> dict[str, str]:
        return {eid: s.held for eid, s in self.sagas.items() if s.held and s.report is None}

    async def _recheck_loop(self, saga: Saga) -> None:
        delay = self.config.recheck_first_s
        one = LookupRetry(attempts=1)
        while saga.held and saga.report is None:
            await self.clock.sleep(delay)
            delay = min(self.config.recheck_max_s, delay * 2)
            if not saga.held:
                return
            if await self.recheck(saga, one):
                return

    async def recheck(self, saga: Saga, lookup: LookupRetry | None = None) -> bool:
        """Ask the venue again about every unknown order of a held saga. When all are known, the
        saga resumes -- without new legs (the decision is stale): what it holds is completed or
        hedged under its policy. True when it resumed."""
        for o in saga.unknown_orders():
            ans = await self.ask(o, lookup or self.config.lookup)
            if ans.kind == "state":
                await self._adopt_venue_state(o, ans.state)
                if not o.fills.venue_terminal:
                    await self._cancel_order(o)  # working: stop it, then wait for its end
                o.unknown = ""
            elif ans.kind == "absent":
                self.on_event(OrderRejected(venue=o.venue, client_order_id=o.client_order_id, code="NOT_AT_VENUE",
                                            reason="the venue has no such order", ts_recv=self.clock.now_ns()))
                o.unknown = ""
        if saga.unknown_orders() or saga.report is not None:
            return False
        self._record(saga, SagaResolved(execution_id=saga.execution_id, action="venue_answered", by="engine",
                                        note="every order's state is known again"))
        self._resume_after_hold(saga, "resumed after a hold (compensate mode or nothing filled): no new legs")
        return True

    def _resume_after_hold(self, saga: Saga, why: str, compensate: bool | None = None) -> None:
        """Run a held saga again under the recovery policy: "complete" sends its remaining legs
        (bounded by their limit prices), "compensate" sends no new leg and unwinds what it holds."""
        if compensate is None:
            compensate = self.config.recovery_mode == "compensate" or not saga.any_fill()
        if compensate and not saga.cancel_requested:
            self._record(saga, ExecutionCancelRequested(execution_id=saga.execution_id, reason=why))
        if saga.execution_id not in self._tasks:
            self._start(saga)

    async def resolve(self, execution_id: str, action: str, by: str = "operator", note: str = "") -> str:
        """An operator resolves a held saga (after checking the venue by hand): ``hedge`` takes
        its unknown orders as ended with the fills known and hedges what it holds; ``close``
        reports it with its residual alerted and releases it (the operator handles the rest)."""
        if action not in ("hedge", "close"):
            raise ValueError(f"action must be 'hedge' or 'close', not {action!r}")
        saga = self.sagas.get(execution_id)
        if saga is None:
            raise KeyError(f"no execution {execution_id!r}")
        if not saga.held or saga.report is not None:
            raise ValueError(f"execution {execution_id} is not held ({saga.state.value}{', reported' if saga.report else ''})")
        task = self._rechecks.pop(execution_id, None)
        if task is not None:
            task.cancel()
        self._record(saga, SagaResolved(execution_id=execution_id, action=action, by=by, note=note))
        if action == "hedge":
            self._resume_after_hold(saga, f"resolved by {by}: hedge", compensate=True)
            return f"{execution_id}: resumed to hedge what it holds"
        for o in saga.unfinished():
            if not o.needs_send:
                of = o.fills
                self._record(saga, LegFilled(execution_id=execution_id, leg_index=o.leg_index, client_order_id=o.client_order_id,
                                             purpose=o.purpose, status=(of.status.value if of.venue_terminal else OrderStatus.CANCELED.value),
                                             filled_quantity=of.filled, avg_price=of.avg_price, fee=sum(of.fees().values(), ZERO),
                                             fee_currency=o.instrument.quote, error=f"closed by {by}"))
        saga.stop_reason = saga.stop_reason or f"closed by {by}"
        await self._finish(saga)
        saga.done.set()
        return f"{execution_id}: closed ({saga.report.status.value if saga.report else '?'})"

    async def close(self) -> None:
        """Stop the background re-checks (the node is stopping; a restart re-checks held sagas)."""
        for t in list(self._rechecks.values()):
            t.cancel()
        if self._rechecks:
            await asyncio.gather(*self._rechecks.values(), return_exceptions=True)
        self._rechecks.clear()

    async def kill(self, reason: str = "operator kill") -> dict[str, Any]:
        """Trip the kill switch (no new intent, no next leg) and cancel every resting order we
        own on every venue. Returns what each venue answered."""
        self.risk.killswitch.trip(reason, source="command")
        out: dict[str, Any] = {}
        for venue, backend in self.backends.items():
            try:
                evs = await backend.cancel_all()
                for ev in evs:
                    if isinstance(ev, (OrderCanceled, OrderExpired, OrderFilled, OrderRejected, FillStatusChanged)):
                        self.on_event(ev)
                out[venue.value] = f"cancel_all: {len(evs)} order event(s)"
            except Exception as exc:  # noqa: BLE001 - report it; the switch is tripped regardless
                log.error("kill: cancel_all on %s failed: %s", venue.value, exc)
                out[venue.value] = f"cancel_all failed: {type(exc).__name__}: {exc}"
        return out

    def _stop_before_send(self, saga: Saga, what: str) -> bool:
        """Whether ``saga`` must not send ``what`` (a new leg): canceled, paused before it sent
        anything, or the kill switch tripped (a trip stops every next leg; hedges still go)."""
        if saga.cancel_requested:
            saga.stop_reason = saga.stop_reason or f"canceled before {what}: {saga.cancel_reason}"
            return True
        if self.risk.killswitch.tripped:
            saga.stop_reason = saga.stop_reason or f"kill switch tripped before {what}: {self.risk.killswitch.reason}"
            return True
        if self.paused and not saga.any_sent():
            saga.stop_reason = saga.stop_reason or f"engine paused before {what}"
            return True
        return False

    async def _run_legs(self, saga: Saga) -> None:
        intent = saga.intent
        n = len(intent.legs)
        if intent.sequencing is Sequencing.PARALLEL:
            todo = [i for i in range(n) if not saga.leg_orders(i)]
            if todo and len(todo) == n and self._stop_before_send(saga, "sending"):
                return
            if todo and self.risk.killswitch.tripped:
                todo = []  # a partly sent set after a crash: never complete it on a tripped switch
                saga.stop_reason = saga.stop_reason or f"not completed: kill switch tripped ({self.risk.killswitch.reason})"
            if saga.cancel_requested:
                todo = []  # a partly sent set after a crash: recovery decided not to complete it
                saga.stop_reason = saga.stop_reason or f"not completed: {saga.cancel_reason}"
            for i in todo:
                self._prepare(saga, i, saga.planned[i], 0, "leg")
            await self._send_all(saga, [o for o in saga.orders.values() if o.purpose == "leg" and o.needs_send])
            await self._await_all(saga, [o for o in saga.unfinished() if o.purpose == "leg"], intent.leg_timeout_s)
            bad = [i for i in range(n) if saga.leg_filled(i) < saga.planned[i]]
            if bad:
                saga.stop_reason = "legs " + ",".join(map(str, bad)) + " did not fill fully"
            return
        for i in range(n):
            existing = saga.leg_orders(i)
            if existing:
                o = existing[-1]
                if o.needs_send:
                    await self._send_all(saga, [o])
                if o.finished is None:
                    await self._await_order(saga, o, intent.leg_timeout_s)
            else:
                if self._stop_before_send(saga, f"leg {i}"):
                    return
                reported = await self._reported_input(saga, i) if i > 0 else None
                qty = self._leg_size(saga, i, reported)
                leg = intent.legs[i]
                why = leg.instrument.check_order(leg.price, qty) if qty > 0 else f"size {qty} is nothing to send"
                if why:
                    saga.stop_reason = f"leg {i} not sent: {why}"
                    return
                o = self._prepare(saga, i, qty, 0, "leg")
                await self._send_all(saga, [o])
                await self._await_order(saga, o, intent.leg_timeout_s)
            filled = saga.leg_filled(i)
            if filled <= 0:
                o = saga.leg_orders(i)[-1]
                saga.stop_reason = f"leg {i} filled nothing ({o.fills.status.value}{': ' + o.fills.reject_reason if o.fills.reject_reason else ''})"
                return
            asked = saga.leg_orders(i)[-1].quantity
            if filled < asked and not saga.stop_reason:
                saga.stop_reason = f"leg {i} filled {filled} of {asked}"

    async def _reported_input(self, saga: Saga, i: int) -> Decimal | None:
        """``await_balance``: the venue's available balance of cascade leg ``i``'s input currency
        after leg ``i - 1`` settled, or None (not enabled, not a cascade, or timed out: alerted)."""
        src = self.config.await_balance
        if src is None or saga.intent.sequencing is not Sequencing.CASCADE:
            return None
        leg = saga.intent.legs[i]
        orders = [(o.fills.venue_order_id, sum(1 for f in o.fills.fills.values() if f.counts))
                  for o in saga.leg_orders(i - 1) if o.fills.venue_order_id and o.fills.filled > 0]
        timeout = self.config.await_balance_timeout_s
        try:
            bal = await src.balance_after(leg.input_currency, orders, timeout) if orders else None
        except Exception as exc:  # noqa: BLE001 - the fill-derived amount is the fallback
            log.warning("execution %s: balance wait failed: %r", saga.execution_id, exc)
            bal = None
        if bal is None:
            fallback = saga.leg_output(i - 1)
            self.journal.append_event(BalanceWaitTimedOut(
                execution_id=saga.execution_id, leg_index=i, currency=leg.input_currency, fill_derived=fallback,
                timeout_s=timeout, correlation_id=saga.execution_id, ts_recv=self.clock.now_ns()))
            log.error("execution %s: no %s balance from the venue within %.1fs after leg %d; leg %d sized from "
                      "the fills (%s)", saga.execution_id, leg.input_currency, timeout, i - 1, i, fallback)
        return bal

    def _leg_size(self, saga: Saga, i: int, reported: Decimal | None = None) -> Decimal:
        intent = saga.intent
        leg = intent.legs[i]
        if i == 0:
            return leg_quantity(leg)
        if intent.sequencing is Sequencing.SEQUENTIAL:
            frac = min(Fraction(saga.leg_filled(j)) / Fraction(saga.planned[j]) for j in range(i))
            return self._on_grid(saga, i, frac)
        # CASCADE: the previous leg's output is this leg's input
        available = saga.leg_output(i - 1)
        if reported is not None:
            available = min(available, reported)
        src = self.config.balance_source
        if src is not None:
            bal = src(leg.venue, leg.input_currency)
            if bal is not None:
                available = min(available, bal)
        return cascade_quantity(leg, available)

    def _prepare(self, saga: Saga, leg_index: int, qty: Decimal, attempt: int, purpose: str, *, instrument: Instrument | None = None,
                 side: Side | None = None, price: Decimal | None = None, order_type: OrderType | None = None,
                 tif: TimeInForce | None = None) -> SagaOrder:
        """Journal an order (LegSubmitted); it is sent only after the journal is durable."""
        leg = saga.intent.legs[leg_index]
        coid = client_order_id(saga.execution_id, leg_index, attempt)
        self._coid_exec[coid] = saga.execution_id
        self._record(
            saga,
            LegSubmitted(
                execution_id=saga.execution_id,
                leg_index=leg_index,
                attempt=attempt,
                purpose=purpose,
                client_order_id=coid,
                instrument=instrument or leg.instrument,
                side=side or leg.side,
                quantity=qty,
                price=price if price is not None else leg.price,
                order_type=order_type or leg.order_type,
                time_in_force=tif or leg.time_in_force,
            ),
        )
        return saga.orders[coid]

    async def _send_all(self, saga: Saga, orders: list[SagaOrder]) -> None:
        """Prepare each order (the venue's identity of it is journaled: a signed Polymarket
        order and its hash, the exact Kalshi body), make the journal durable, then send. After a
        crash anywhere in here, recovery finds the order at the venue by what was journaled and a
        resend is the identical order, never a second one."""
        if not orders:
            return
        ready: list[tuple[SagaOrder, OrderRequest]] = []
        for o in orders:
            req = self._request(saga, o)
            backend = self.backends.get(o.venue)
            prepare = getattr(backend, "prepare", None)
            if prepare is not None and not o.prepared:
                try:
                    text = await prepare(req)
                except Exception as exc:  # noqa: BLE001 - refused before it left: a journaled rejection
                    o.needs_send = False
                    self.on_event(OrderRejected(venue=o.venue, client_order_id=o.client_order_id, code="LOCAL",
                                                reason=f"order not sent: {type(exc).__name__}: {exc}",
                                                correlation_id=saga.execution_id, ts_recv=self.clock.now_ns()))
                    continue
                if text:
                    self._record(saga, OrderPrepared(execution_id=saga.execution_id, client_order_id=o.client_order_id,
                                                     venue=o.venue, prepared=text))
            ready.append((o, req))
        if not ready:
            return
        await self._durable(saga)  # the barrier: nothing leaves before its intent is on disk
        await asyncio.gather(*(self._send(saga, o, req) for o, req in ready))

    def _request(self, saga: Saga, o: SagaOrder) -> OrderRequest:
        return OrderRequest(
            instrument=o.instrument,
            client_order_id=o.client_order_id,
            side=o.side,
            quantity=o.quantity,
            price=o.price,
            order_type=o.order_type,
            time_in_force=o.time_in_force,
            correlation_id=saga.execution_id,
            execution_id=saga.execution_id,
        )

    async def _send(self, saga: Saga, o: SagaOrder, req: OrderRequest) -> None:
        backend = self.backends.get(o.venue)
        o.needs_send = False
        o.sent_ns = self.clock.now_ns()
        if not saga.sent_ns:
            saga.sent_ns = o.sent_ns
        self._coid_exec[o.client_order_id] = saga.execution_id
        if backend is None:
            self.on_event(OrderRejected(venue=o.venue, client_order_id=o.client_order_id, reason=f"no backend for {o.venue.value}", ts_recv=o.sent_ns))
            return
        if o.purpose == "hedge":
            self.risk.order_sent(o.venue)
        if self.sent_hook is not None:
            self.sent_hook(req)
        try:
            res = await backend.submit(req)
        except Exception as exc:  # noqa: BLE001 - the order may or may not have reached the venue
            log.warning("submit %s raised %s; asking the venue", o.client_order_id, exc)
            await self._resolve_unknown(o, f"submit failed: {type(exc).__name__}: {exc}")
            return
        dup = [e for e in res.events if isinstance(e, OrderRejected) and _is_duplicate(e)]
        if dup:
            # the venue already has this client order id (an earlier send we could not see,
            # e.g. in flight during a crash): that order is ours -- adopt it, never count a
            # second one, never treat it as rejected
            self._append(dup[0].kind, dup[0], saga.execution_id)
            await self._resolve_unknown(o, f"venue reports a duplicate id: {dup[0].reason}")
            return
        for ev in res.events:
            self.on_event(ev)
        ambiguous = [e for e in res.events if isinstance(e, OrderRejected) and e.retryable]
        if ambiguous and not o.fills.status.is_terminal and o.fills.status is OrderStatus.PENDING:
            # the answer was lost or says "maybe": never take it as not filled -- ask the venue
            await self._resolve_unknown(o, f"ambiguous answer ({ambiguous[0].code or 'retryable'}): {ambiguous[0].reason}")

    async def _resolve_unknown(self, o: SagaOrder, reason: str) -> None:
        """After an error we cannot tell sent from not sent: ask the venue (bounded, with
        backoff). "Not there" is a rejection; a state is adopted; no answer marks the order
        unknown, which holds its saga (nothing is decided on a guess)."""
        ans = await self.ask(o, self.config.lookup)
        if ans.kind == "absent":
            self.on_event(OrderRejected(venue=o.venue, client_order_id=o.client_order_id, code="NOT_AT_VENUE",
                                        reason=f"{reason}; the venue has no such order", ts_recv=self.clock.now_ns()))
        elif ans.kind == "state":
            await self._adopt_venue_state(o, ans.state)
        else:
            self._mark_unknown(o, f"{reason}; venue lookup: {ans.why}")

    def _mark_unknown(self, o: SagaOrder, why: str) -> None:
        o.unknown = why
        log.error("order %s: state unknown at %s: %s", o.client_order_id, o.venue.value, why)
        o.fills._notify()

    async def ask(self, o: SagaOrder, lookup: LookupRetry) -> Answer:
        """Ask the venue about ``o`` by client order id (and venue order id when we have one);
        on ``OrderStateUnknown`` ask again with bounded backoff on the engine's clock."""
        backend = self.backends.get(o.venue)
        if backend is None:
            return Answer("absent", why="no backend for the venue")
        slept = 0.0
        delay = lookup.first_backoff_s
        why = ""
        for n in range(1, lookup.attempts + 1):
            try:
                st = await backend.order_state(o.client_order_id, o.fills.venue_order_id)
            except OrderStateUnknown as exc:
                why = exc.why or str(exc)
                log.warning("state of %s unknown (attempt %d/%d): %s", o.client_order_id, n, lookup.attempts, why)
                if n == lookup.attempts or slept + delay > lookup.max_total_s:
                    return Answer("unknown", why=why, asked=n)
                await self.clock.sleep(delay)
                slept += delay
                delay = min(lookup.max_backoff_s, delay * 2) if delay else lookup.first_backoff_s
                continue
            except Exception as exc:  # noqa: BLE001 - unknown is not "absent": never resend then
                return Answer("error", why=f"{type(exc).__name__}: {exc}", asked=n)
            if st is None:
                if o.fills.acked_ns or o.fills.venue_order_id:
                    # acknowledged earlier, now "no such order": contradictory -- not evidence of no fill
                    return Answer("unknown", why="the venue acknowledged this order but now reports no such order", asked=n)
                return Answer("absent", asked=n)
            return Answer("state", state=st, asked=n)
        return Answer("unknown", why=why, asked=lookup.attempts)  # pragma: no cover - loop returns

    async def _adopt_venue_state(self, o: SagaOrder, st) -> None:
        """Take the venue's view of an order: its fills (fetched), its status."""
        of = o.fills
        if st.venue_order_id and not of.venue_order_id:
            of.venue_order_id = st.venue_order_id
        if st.filled_quantity > of.filled:
            await self._fetch_fills(o)
        now = self.clock.now_ns()
        if st.status.is_terminal and not of.venue_terminal:
            if st.status is OrderStatus.REJECTED:
                self.on_event(OrderRejected(venue=o.venue, client_order_id=o.client_order_id, reason="venue reports rejected", ts_recv=now))
            elif st.status is OrderStatus.FILLED:
                # the venue says it is over and filled: terminal, whether or not its fills came
                of.venue_filled = st.filled_quantity
                of.status = OrderStatus.FILLED
                of.terminal_ns = of.terminal_ns or now
                of._notify()
            else:
                self.on_event(OrderCanceled(venue=o.venue, client_order_id=o.client_order_id, venue_order_id=st.venue_order_id,
                                            filled_quantity=st.filled_quantity, reason=f"venue reports {st.status.value}", ts_recv=now))
        elif not st.status.is_terminal:
            if of.status.value == "PENDING":
                self.on_event(OrderAccepted(venue=o.venue, client_order_id=o.client_order_id, venue_order_id=st.venue_order_id, ts_recv=now))
        of.venue_filled = max(of.venue_filled or ZERO, st.filled_quantity)

    async def _fetch_fills(self, o: SagaOrder) -> None:
        backend = self.backends[o.venue]
        since = max(0, (o.journaled_ns or o.sent_ns) - 60 * NS)
        try:
            evs = await backend.fills_since(since)
        except Exception as exc:  # noqa: BLE001
            log.warning("fills_since failed for %s: %s", o.client_order_id, exc)
            return
        for ev in evs:
            if getattr(ev, "client_order_id", None) == o.client_order_id and isinstance(ev, OrderFilled):
                if ev.trade_id not in o.fills.fills:
                    self.on_event(ev)

    async def _cancel_order(self, o: SagaOrder) -> None:
        backend = self.backends.get(o.venue)
        if backend is None:
            return
        try:
            evs = await backend.cancel(o.client_order_id, o.fills.venue_order_id)
        except Exception as exc:  # noqa: BLE001
            log.warning("cancel %s raised %s", o.client_order_id, exc)
            return
        for ev in evs:
            if isinstance(ev, (OrderCanceled, OrderExpired, OrderFilled, OrderRejected, FillStatusChanged)):
                self.on_event(ev)
            else:
                self.journal.append(ev.kind, ev, correlation_id=self._coid_exec.get(o.client_order_id, ""))

    async def _await_order(self, saga: Saga, o: SagaOrder, timeout_s: float) -> None:
        """Accumulate fills until the order is terminal with its fills in, or the timeout: then
        cancel, wait for the venue to confirm, and as a last resort ask it."""
        of = o.fills
        timed_out = False
        if o.unknown:
            raise OrderUnknown(o, o.unknown)
        # only a leg's own order stops waiting on a cancel request; hedges must run to the end
        if not await self._wait_until(of, lambda: of.venue_terminal or bool(o.unknown), timeout_s,
                                      saga if o.purpose == "leg" else None):
            timed_out = not saga.cancel_requested
            await self._cancel_order(o)
            if not await self._wait_until(of, lambda: of.venue_terminal or bool(o.unknown), self.config.cancel_timeout_s):
                ans = await self.ask(o, self.config.lookup)
                if ans.kind == "state":
                    await self._adopt_venue_state(o, ans.state)
                elif ans.kind == "absent":
                    self.on_event(OrderRejected(venue=o.venue, client_order_id=o.client_order_id, code="NOT_AT_VENUE",
                                                reason="never acknowledged and the venue has no such order",
                                                ts_recv=self.clock.now_ns()))
                if not of.venue_terminal and not o.operator_ended:
                    # canceled, yet the venue does not say it is over: it may still fill
                    self._mark_unknown(o, f"not terminal at the venue after cancel ({ans.kind}{': ' + ans.why if ans.why else ''})")
        if o.unknown:
            raise OrderUnknown(o, o.unknown)
        await self._confirm_filled_quantity(o)
        if of.missing_fills > 0 and not await self._wait_until(of, lambda: of.missing_fills == 0, self.config.fill_grace_s):
            await self._fetch_fills(o)
        if of.missing_fills > 0:
            # the venue says it filled more than any fill we have seen: book it provisionally at
            # the order's limit (the worst case) so positions are right now; the venue's fill,
            # when it comes, replaces it (see on_event) and the difference is a correction
            qty = of.missing_fills
            n = sum(1 for t in of.fills if t.startswith(o.client_order_id + UNREPORTED))
            self.on_event(OrderFilled(
                venue=o.venue, instrument_id=o.instrument.id, client_order_id=o.client_order_id,
                venue_order_id=of.venue_order_id, trade_id=f"{o.client_order_id}{UNREPORTED}{n}", side=o.side,
                price=o.price, quantity=qty, fee=taker_fee(o.instrument, o.price, qty), fee_currency=o.instrument.quote,
                liquidity=LiquiditySide.TAKER, status=FillStatus.PROVISIONAL, ts_recv=self.clock.now_ns(),
            ))
        status = of.status if of.venue_terminal else OrderStatus.CANCELED
        fees = of.fees()
        fee_cur, fee = (next(iter(fees.items())) if fees else (o.instrument.quote, ZERO))
        self._record(
            saga,
            LegFilled(
                execution_id=saga.execution_id,
                leg_index=o.leg_index,
                client_order_id=o.client_order_id,
                purpose=o.purpose,
                status=status.value,
                filled_quantity=of.filled,
                avg_price=of.avg_price,
                fee=fee,
                fee_currency=fee_cur,
                timed_out=timed_out,
                error=of.reject_reason if not of.venue_terminal or of.missing_fills == 0 else f"{of.missing_fills} filled at the venue without a fill record",
            ),
        )

    async def _confirm_filled_quantity(self, o: SagaOrder) -> None:
        """An order that ended canceled or expired without the venue saying how much it filled
        (Polymarket's cancel answer carries no quantity) is not final until the venue says: a match
        made before the cancel may reach us later. Ask it; if it cannot say, the order is unknown
        (its saga holds) rather than taken as filled only as far as we have seen."""
        of = o.fills
        if o.operator_ended or of.venue_filled is not None or of.status not in (OrderStatus.CANCELED, OrderStatus.EXPIRED):
            return
        if of.filled >= of.quantity:
            return
        ans = await self.ask(o, self.config.lookup)
        if ans.kind == "state":
            of.venue_filled = max(of.venue_filled or ZERO, ans.state.filled_quantity)
            if ans.state.filled_quantity > of.filled:
                await self._fetch_fills(o)
        elif ans.kind == "absent":
            if of.acked_ns or of.venue_order_id:
                self._mark_unknown(o, "canceled, but the venue no longer reports the order: filled quantity unknown")
            else:
                of.venue_filled = of.filled
        else:
            self._mark_unknown(o, f"canceled; filled quantity unknown ({ans.why})")
        if o.unknown:
            raise OrderUnknown(o, o.unknown)

    async def _await_all(self, saga: Saga, orders: list[SagaOrder], timeout_s: float) -> None:
        """Await several orders; if any is unknown, every other still finishes first, then the
        saga holds."""
        results = await asyncio.gather(*(self._await_order(saga, o, timeout_s) for o in orders), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                raise r

    async def _wait_until(self, of: OrderFills, cond: Callable[[], bool], timeout_s: float, saga: Saga | None = None) -> bool:
        """Wait on the clock until ``cond()`` holds (True), the timeout passes or the saga is
        canceled (False)."""
        deadline = self.clock.monotonic_ns() + int(timeout_s * NS)
        ev = of.changed_event()
        while True:
            if cond():
                return True
            if saga is not None and saga.cancel_requested:
                return False
            left = deadline - self.clock.monotonic_ns()
            if left <= 0:
                return False
            ev.clear()
            waits: list[Awaitable] = [ev.wait()]
            if saga is not None:
                waits.append(saga.cancel_event.wait())
            await _wait_any_aw(waits, self.clock, left / NS)

    # --- compensation ----------------------------------------------------------------------

    def residuals(self, saga: Saga) -> list[Residual]:
        """What the saga holds that it should not: unmatched leg excess (parallel/sequential),
        or any non-primary asset (cascade). ``dust`` marks what no order could trade away."""
        intent = saga.intent
        out: list[Residual] = []
        if saga.is_cascade:
            for (venue, asset), qty in sorted(saga.currency_flows().items(), key=lambda kv: (kv[0][0].value, kv[0][1])):
                if asset == intent.primary_quote or qty == 0:
                    continue
                plan = self._unwind_plan(saga, venue, asset, qty)
                out.append(Residual(venue=venue, asset=asset, quantity=qty, dust=plan is None))
            return out
        frac = self._matched(saga)
        for i, leg in enumerate(intent.legs):
            net = saga.leg_net(i)
            target = self._on_grid(saga, i, frac)
            excess = net - target
            if excess == 0:
                continue
            # an unmatched excess is real exposure even when it is below the venue's minimum:
            # it is never "dust" (that is only for cascade leftovers under the unwind minimum)
            out.append(Residual(venue=leg.venue, asset=asset_of(leg.instrument), quantity=excess * leg.side.sign))
        return out

    def matched_fraction(self, saga: Saga) -> Decimal:
        intent = saga.intent
        if saga.is_cascade:
            last = len(intent.legs) - 1
            return min(Decimal(1), saga.leg_filled(last) / saga.planned[last]) if saga.planned[last] else ZERO
        frac = self._matched(saga)
        return Decimal(frac.numerator) / Decimal(frac.denominator)

    def _matched(self, saga: Saga) -> Fraction:
        """Largest fraction of the intended size matched on every leg, exact, such that each
        leg's share of it lies on that leg's size grid (1.25 YES cannot match 1.25 whole
        Kalshi contracts: the matched set is then 1)."""
        legs = [i for i in range(len(saga.intent.legs)) if saga.planned[i] > 0]
        if not legs:
            return Fraction(0)
        frac = min(Fraction(max(ZERO, saga.leg_net(i))) / Fraction(saga.planned[i]) for i in legs)
        for _ in range(16):
            floored = min(Fraction(self._on_grid(saga, i, frac)) / Fraction(saga.planned[i]) for i in legs)
            if floored == frac:
                break
            frac = floored
        return frac

    @staticmethod
    def _on_grid(saga: Saga, i: int, frac: Fraction) -> Decimal:
        inc = saga.intent.legs[i].instrument.size_increment
        n = math.floor(Fraction(saga.planned[i]) * frac / Fraction(inc))
        return (inc * n).quantize(inc) if inc.as_tuple().exponent < 0 else inc * n

    def _ref_price(self, saga: Saga, inst: Instrument, side: Side, fallback: Decimal) -> Decimal:
        """Reference price for a hedge: the decided-on book's best level on the side the hedge
        takes, else ``fallback`` (the leg's limit or average fill)."""
        book = saga.intent.book_for(inst.id)
        lvl = book.best(side) if book else None
        return lvl[0] if lvl else fallback

    def _unwind_plan(self, saga: Saga, venue: Venue, asset: str, qty: Decimal) -> tuple[int, Instrument, Side, Decimal, Decimal] | None:
        """How to turn ``qty`` of ``asset`` back into the primary quote (cascade): (leg index,
        instrument, side, quantity, reference price), or None when it is dust / no route."""
        if qty <= 0:
            return None
        primary = saga.intent.primary_quote
        for j in reversed(range(len(saga.intent.legs))):
            inst = saga.intent.legs[j].instrument
            if inst.venue is not venue:
                continue
            if asset_of(inst) == asset and inst.quote == primary:
                q = inst.round_size(qty)
                ref = self._ref_price(saga, inst, Side.SELL, saga.intent.legs[j].price)
                if q > 0 and inst.check_order(ref, q) is None:
                    return j, inst, Side.SELL, q, ref
            elif inst.kind is InstrumentKind.SPOT and inst.quote == asset and inst.base == primary:
                ref = self._ref_price(saga, inst, Side.BUY, saga.intent.legs[j].price)
                q = max_buy_quantity(inst, qty, ref)
                if q > 0 and inst.check_order(ref, q) is None:
                    return j, inst, Side.BUY, q, ref
        return None

    def _hedge_orders(self, saga: Saga) -> list[tuple[int, Instrument, Side, Decimal, Decimal]]:
        plans = []
        if saga.is_cascade:
            for r in self.residuals(saga):
                if not r.dust:
                    p = self._unwind_plan(saga, r.venue, r.asset, r.quantity)
                    if p:
                        plans.append(p)
            return plans
        for i, r in enumerate(self.residuals(saga)):
            if r.dust or r.quantity == 0:
                continue
            leg_index = next(j for j, leg in enumerate(saga.intent.legs) if asset_of(leg.instrument) == r.asset and leg.venue is r.venue)
            leg = saga.intent.legs[leg_index]
            side = Side.SELL if r.quantity > 0 else Side.BUY
            fills = [o.fills.avg_price for o in saga.leg_orders(leg_index) if o.fills.avg_price is not None]
            ref = self._ref_price(saga, leg.instrument, side, fills[0] if fills else leg.price)
            plans.append((leg_index, leg.instrument, side, abs(r.quantity), ref))
        return plans

    @staticmethod
    def _worst_price(inst: Instrument, side: Side, ref: Decimal, bps: Decimal) -> Decimal:
        """``ref`` moved against us by ``bps``, on the tick grid, never past it."""
        tick = inst.tick_size
        if side is Side.SELL:
            p = (ref * (1 - bps / BPS) / tick).to_integral_value(rounding=ROUND_CEILING) * tick
            p = max(p, tick)
        else:
            p = (ref * (1 + bps / BPS) / tick).to_integral_value(rounding=ROUND_FLOOR) * tick
            if inst.kind is InstrumentKind.OUTCOME:
                p = min(p, 1 - tick)
        return p.quantize(tick)

    @classmethod
    def _chase_price(cls, inst: Instrument, side: Side, ref: Decimal, step: int, step_bps: Decimal, max_bps: Decimal) -> Decimal:
        """Limit for chase step ``step``: ``step`` concessions of ``step_bps`` but at least one
        tick each, never beyond the market-out worst price."""
        by_bps = cls._worst_price(inst, side, ref, step_bps * step)
        by_tick = ref - inst.tick_size * step if side is Side.SELL else ref + inst.tick_size * step
        bound = cls._worst_price(inst, side, ref, max_bps)
        if side is Side.SELL:
            return max(min(by_bps, by_tick.quantize(inst.tick_size)), bound)
        return min(max(by_bps, by_tick.quantize(inst.tick_size)), bound)

    async def _compensate(self, saga: Saga) -> None:
        if saga.state.is_terminal:
            return
        # a leg still working (e.g. exception mid-way) is canceled before deciding anything
        for o in saga.unfinished():
            if not o.needs_send:
                await self._await_order(saga, o, 0)
            else:
                # journaled, never handed over: it will never be sent now
                self._record(saga, LegFilled(execution_id=saga.execution_id, leg_index=o.leg_index, client_order_id=o.client_order_id,
                                             purpose=o.purpose, status=OrderStatus.REJECTED.value, filled_quantity=ZERO, avg_price=None,
                                             fee=ZERO, fee_currency=o.instrument.quote, error="not sent"))
        residuals = [r for r in self.residuals(saga) if not r.dust and r.quantity != 0]
        if not residuals:
            return
        policy = saga.intent.hedge
        reason = saga.stop_reason or saga.error or "residual exposure"
        if saga.state is not SagaState.HEDGING or not saga.hedge_mode:
            self._transition(saga, SagaState.HEDGING, reason)
            self._record(saga, HedgeStarted(execution_id=saga.execution_id, mode=policy.mode.value, reason=reason, residuals=residuals))
        if not saga.hedge_deadline_ns:
            # one hedge window per saga (a second pass after an error keeps the first deadline)
            saga.hedge_deadline_ns = self.clock.monotonic_ns() + int(policy.timeout_s * NS)
        deadline = saga.hedge_deadline_ns
        if policy.mode is HedgeMode.HOLD:
            return  # nothing is sent; _finish alerts and reports the residual
        if policy.mode is HedgeMode.LIMIT_CHASE:
            chase_end = min(deadline, self.clock.monotonic_ns() + int(policy.chase_s * NS))
            step = 0
            while self.clock.monotonic_ns() < chase_end:
                plans = self._hedge_orders(saga)
                if not plans:
                    return
                orders = []
                for leg_index, inst, side, qty, ref in plans:
                    price = self._chase_price(inst, side, ref, step, policy.chase_step_bps, policy.max_slippage_bps)
                    if inst.check_order(price, qty) is not None:
                        continue
                    orders.append(self._prepare(saga, leg_index, qty, saga.next_attempt(leg_index), "hedge", instrument=inst, side=side,
                                                price=price, order_type=OrderType.LIMIT, tif=TimeInForce.GTC))
                if not orders:
                    break
                await self._send_all(saga, orders)
                rest = min(policy.chase_step_s, max(0.0, (chase_end - self.clock.monotonic_ns()) / NS))
                await self._await_all(saga, orders, rest)
                step += 1
        attempts = 0
        while attempts < policy.max_attempts and self.clock.monotonic_ns() < deadline:
            plans = self._hedge_orders(saga)
            if not plans:
                return
            attempts += 1
            orders: list[SagaOrder] = []
            for leg_index, inst, side, qty, ref in plans:
                price = self._worst_price(inst, side, ref, policy.max_slippage_bps)
                if inst.check_order(price, qty) is not None:
                    continue  # the venue would refuse it (below a minimum): report, do not spam
                orders.append(self._prepare(saga, leg_index, qty, saga.next_attempt(leg_index), "hedge", instrument=inst, side=side,
                                            price=price, order_type=OrderType.MARKET, tif=TimeInForce.IOC))
            if not orders:
                return
            await self._send_all(saga, orders)
            left = max(0.0, (deadline - self.clock.monotonic_ns()) / NS)
            await self._await_all(saga, orders, left)

    # --- the end ---------------------------------------------------------------------------

    async def _finish(self, saga: Saga) -> None:
        if saga.report is not None:
            return
        residuals = self.residuals(saga)
        open_res = [r for r in residuals if not r.dust and r.quantity != 0]
        # hedged: compensation started (a residual was found) or a hedge order went out -- a saga
        # reopened by a fee-only correction that needed no hedge keeps its FILLED status
        hedged = bool(saga.hedge_mode) or any(o.purpose == "hedge" for o in saga.orders.values())
        if not saga.any_fill():
            status = ExecutionStatus.ABORTED
        elif open_res:
            status = ExecutionStatus.FAILED
        elif hedged:
            status = ExecutionStatus.HEDGED
        else:
            status = ExecutionStatus.FILLED
        if status is ExecutionStatus.FAILED:
            why = saga.error or (f"hedge policy {saga.hedge_mode}: residual held" if saga.hedge_mode == HedgeMode.HOLD.value else "compensation did not flatten the residual")
            log.error("execution %s left residual exposure: %s", saga.execution_id, open_res)
            try:
                self._record(saga, ResidualAlerted(execution_id=saga.execution_id, residuals=open_res, reason=why))
            except Exception:  # noqa: BLE001 - already logged and the kill switch tripped
                pass
        report = self._report(saga, status, residuals)
        booked = saga.booked_profit or ZERO  # profit of an earlier report (a reopened saga)
        try:
            self._transition(saga, SagaState.of(status), saga.stop_reason or saga.error)
            self._record(saga, ExecutionReported(report=report))
            await self.journal.flush()
        except Exception as exc:  # noqa: BLE001 - the report still reaches the caller (and the log)
            self._journal_failed(exc)
            log.error("execution %s report not journaled: %s", saga.execution_id, report)
            saga.report = report
            saga.state = SagaState.of(status)
        finally:
            traded = max((f.ts_ns for o in saga.orders.values() for f in o.fills.fills.values()), default=0)
            # a reopened saga reports again: only the change of its profit is new P&L
            delta = report.profit - booked
            saga.booked_profit = report.profit
            self.risk.release(saga.execution_id, profit=delta, signal_key=saga.intent.signal_key, traded_ns=traded)
            self.reports.append(report)
            if len(self.reports) > self.config.keep_reports:
                del self.reports[: len(self.reports) - self.config.keep_reports]

    def _value(self, currency: str, primary: str) -> Decimal | None:
        if currency == primary:
            return Decimal(1)
        return self.risk.limits.valuation.get(currency) if primary in self.risk.limits.valuation else None

    def _report(self, saga: Saga, status: ExecutionStatus, residuals: list[Residual]) -> ExecutionReport:
        intent = saga.intent
        primary = intent.primary_quote
        legs: list[LegReport] = []
        last_fill = 0
        acked = 0
        for o in saga.orders.values():
            of = o.fills
            fees = of.fees()
            fee_cur, fee = (next(iter(fees.items())) if fees else (o.instrument.quote, ZERO))
            end = of.terminal_ns or (o.finished.ts_recv if o.finished else 0)
            last_fill = max(last_fill, end if o.purpose == "leg" else 0)
            if of.acked_ns and (not acked or of.acked_ns < acked):
                acked = of.acked_ns
            legs.append(
                LegReport(
                    leg_index=o.leg_index,
                    purpose=o.purpose,
                    client_order_id=o.client_order_id,
                    venue=o.venue,
                    instrument_id=o.instrument.id,
                    side=o.side,
                    requested_quantity=o.quantity,
                    limit_price=o.price,
                    filled_quantity=of.filled,
                    avg_price=of.avg_price,
                    fee=fee,
                    fee_currency=fee_cur,
                    status=(o.finished.status if o.finished else of.status.value),
                    latency_ns=max(0, end - o.sent_ns) if o.sent_ns and end else 0,
                    ack_latency_ns=max(0, of.acked_ns - o.sent_ns) if o.sent_ns and of.acked_ns else 0,
                    error=(o.finished.error if o.finished else of.reject_reason),
                )
            )
        # profit: cash flows valued in the primary quote, plus the payout of matched sets
        flows = saga.currency_flows()
        profit = ZERO
        spent = ZERO
        for (venue, cur), amount in flows.items():
            if saga.is_cascade and cur != primary:
                continue  # intermediate currencies: dust is reported as residual, not valued
            v = self._value(cur, primary)
            if v is None:
                continue
            profit += amount * v
        for o in saga.orders.values():
            if o.purpose == "leg" and (not saga.is_cascade or o.leg_index == 0):
                v = self._value(o.instrument.quote, primary)
                if v is not None and o.side is Side.BUY:
                    spent += (o.fills.notional + o.fills.fees().get(o.instrument.quote, ZERO)) * v
        matched = self.matched_fraction(saga)
        if intent.set_payout is not None and not saga.is_cascade:
            frac = self._matched(saga)
            sets = min((self._on_grid(saga, i, frac) for i in range(len(intent.legs))), default=ZERO)
            profit += sets * intent.set_payout  # matched sets are worth the payout, not their cost
        eff = (profit / spent * BPS).quantize(Decimal("0.01")) if spent else None
        ts = intent.timestamps
        return ExecutionReport(
            execution_id=saga.execution_id,
            status=status,
            strategy=intent.strategy,
            sequencing=intent.sequencing.value,
            primary_quote=primary,
            legs=legs,
            predicted_edge_bps=intent.predicted_edge_bps,
            effective_edge_bps=eff,
            predicted_profit=intent.predicted_profit,
            profit=profit,
            matched_fraction=matched,
            residuals=residuals,
            timings=StageTimings(
                socket_arrival_ns=ts.socket_arrival_ns,
                book_updated_ns=ts.book_updated_ns,
                evaluated_ns=ts.evaluated_ns,
                intent_created_ns=ts.created_ns,
                risk_checked_ns=saga.risk_ns,
                journaled_ns=saga.journaled_ns,
                sent_ns=saga.sent_ns,
                acked_ns=acked,
                filled_ns=last_fill,
                completed_ns=self.clock.now_ns(),
            ),
            books=intent.books,
            error="; ".join(x for x in (saga.error, saga.stop_reason) if x),
            recovered=saga.recovered,
        )

    # --- status ----------------------------------------------------------------------------

    def status(self) -> dict:
        return {
            "paused": self.paused,
            "in_flight": {eid: s.state.value for eid, s in self.sagas.items() if not s.state.is_terminal},
            "held": self.held(),
            "risk": self.risk.status(),
            "portfolio": self.portfolio.snapshot(),
            "recent_reports": [
                {"execution_id": r.execution_id, "status": r.status.value, "profit": str(r.profit)} for r in self.reports[-20:]
            ],
        }


def _is_duplicate(ev: OrderRejected) -> bool:
    return ev.code.upper() in ("DUPLICATE", "DUPLICATE_CLIENT_ORDER_ID") or "duplicate" in ev.reason.lower()


def spent_by(order: SagaOrder, fill: Any) -> tuple[str, Decimal]:
    """(asset, amount) a fill of ``order`` consumed: what converts its capital reservation."""
    inst = order.instrument
    if order.side is Side.BUY:
        return inst.quote, fill.quantity * fill.price + (fill.fee if fill.fee_currency == inst.quote else ZERO)
    return asset_of(inst), fill.quantity


async def _wait_any(*events: asyncio.Event) -> None:
    tasks = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()


async def _wait_any_aw(waits: list[Awaitable], clock: Clock, timeout_s: float) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    tasks.append(asyncio.ensure_future(clock.sleep(timeout_s)))
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
