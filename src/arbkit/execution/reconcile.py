"""Reconciliation: our view (journal) against each venue's.

Runtime matching of provisional fills against the venue's fill stream lives in the engine's
event path (``ExecutionEngine.on_event`` + ``FillAccumulator``): fills are matched by trade id,
whichever report arrives first is booked, a second report with other numbers is journaled as a
``FillCorrected`` and applied to positions, ``FillStatusChanged(FAILED)`` reverses a fill, and a
provisional stand-in for a fill the venue had not reported is retired when the real one comes.

This module does the start-up half: before any trading, fetch every backend's open orders,
positions and balances, compare them with the journal-rebuilt state, journal the differences
(``ReconciliationReported``) and take the venue's balances and positions as the truth; and,
before that, re-check fills the journal still holds as provisional (:func:`reconcile_provisional`):
a Polymarket fill is MATCHED (provisional) first and CONFIRMED or FAILED later, and a crash can
fall in between.
"""

from __future__ import annotations

import logging

import msgspec
from dataclasses import dataclass, field
from decimal import Decimal

from arbkit.core.clock import NS
from arbkit.core.enums import FillStatus, InstrumentKind, Venue
from arbkit.core.events import FillStatusChanged, OrderFilled
from arbkit.execution.engine import UNREPORTED, ExecutionEngine
from arbkit.execution.events import ReconciliationReported

log = logging.getLogger("arbkit.execution.reconcile")
ZERO = Decimal(0)


@dataclass
class VenueReconciliation:
    venue: Venue
    differences: list[str] = field(default_factory=list)
    open_orders: int = 0
    unknown_open_orders: list[str] = field(default_factory=list)
    canceled: list[str] = field(default_factory=list)
    fetch_error: str = ""

    @property
    def ok(self) -> bool:
        return not self.differences and not self.fetch_error


@dataclass
class ProvisionalCheck:
    """Start-up re-check of one venue's provisional fills (entries are "coid/trade_id")."""

    venue: Venue
    checked: int = 0
    since_ns: int = 0
    confirmed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # reversed (FillStatusChanged FAILED)
    still_provisional: list[str] = field(default_factory=list)  # venue still says MATCHED/MINED
    not_reported: list[str] = field(default_factory=list)  # not in the venue's fill list: kept, reported
    fetch_error: str = ""

    @property
    def unresolved(self) -> list[str]:
        return self.still_provisional + self.not_reported


_UNSETTLED = (FillStatus.PROVISIONAL, FillStatus.MINED)
# how far before the oldest provisional fill the venue's list is read (clock skew, our ts_recv
# being later than the venue's match time)
PROVISIONAL_LOOKBACK_NS = 60 * NS


def _settled_rank(status: FillStatus) -> int:
    """Final answers outrank interim ones when a venue lists one trade more than once."""
    return 2 if status in (FillStatus.CONFIRMED, FillStatus.FAILED) else 1 if status is FillStatus.MINED else 0


async def reconcile_provisional(engine: ExecutionEngine) -> list[ProvisionalCheck]:
    """Re-check every fill still PROVISIONAL/MINED in the journal-rebuilt fill accumulator
    against the venue's fills since the oldest of them, and apply the venue's current status:
    CONFIRMED -> ``FillStatusChanged(CONFIRMED)`` journaled; FAILED -> ``FillStatusChanged(FAILED)``
    through the engine's event path (the fill is reversed in positions, a ``FillCorrected`` is
    journaled and an open residual of a reported saga is alerted, as at runtime); still
    MATCHED/MINED, or not listed by the venue -> kept provisional and reported. Fills are matched
    by trade id (a restarted gateway may no longer know our client order id for a trade).

    Call after ``recovery.rebuild`` and before ``startup_reconcile`` adopts the venues'
    balances (which already reflect a failed settlement). Every venue checked gets a
    ``ReconciliationReported`` record."""
    pending: dict[Venue, list[tuple[str, str, int]]] = {}  # venue -> (coid, trade id, ts)
    for saga in engine.sagas.values():
        for o in saga.orders.values():
            for f in o.fills.fills.values():
                if f.status in _UNSETTLED:
                    pending.setdefault(o.venue, []).append((o.client_order_id, f.trade_id, f.ts_ns))
    results: list[ProvisionalCheck] = []
    for venue, fills in sorted(pending.items(), key=lambda kv: kv[0].value):
        chk = ProvisionalCheck(venue=venue, checked=len(fills))
        results.append(chk)
        backend = engine.backends.get(venue)
        oldest = min((ts for _, _, ts in fills if ts), default=0)
        chk.since_ns = max(0, oldest - PROVISIONAL_LOOKBACK_NS)
        if backend is None:
            chk.fetch_error = "no backend for the venue"
        else:
            try:
                venue_fills = await backend.fills_since(chk.since_ns)
            except Exception as exc:  # noqa: BLE001 - kept provisional and reported
                chk.fetch_error = f"{type(exc).__name__}: {exc}"
        if chk.fetch_error:
            chk.still_provisional.extend(f"{c}/{t}" for c, t, _ in fills)
            _journal_provisional(engine, chk)
            continue
        # the venue's current status per trade id (the most settled one it lists)
        status_of: dict[str, FillStatus] = {}
        for ev in venue_fills:
            if isinstance(ev, (OrderFilled, FillStatusChanged)) and ev.trade_id:
                prev = status_of.get(ev.trade_id)
                if prev is None or _settled_rank(ev.status) >= _settled_rank(prev):
                    status_of[ev.trade_id] = ev.status
        for coid, tid, _ in fills:
            key = f"{coid}/{tid}"
            st = status_of.get(tid)
            if st is FillStatus.CONFIRMED or st is FillStatus.FAILED:
                engine.on_event(FillStatusChanged(venue=venue, trade_id=tid, client_order_id=coid, status=st,
                                                  reason="start-up reconciliation: venue reports " + st.value,
                                                  ts_recv=engine.clock.now_ns()))
                (chk.confirmed if st is FillStatus.CONFIRMED else chk.failed).append(key)
            elif st is not None:
                chk.still_provisional.append(key)
            else:
                # absent from the venue's list is not a failure (a stand-in for a fill the venue
                # has not reported yet has no venue trade id at all): keep it, report it
                chk.not_reported.append(key)
        _journal_provisional(engine, chk)
        if chk.unresolved or chk.failed:
            log.warning("start-up provisional fills %s: confirmed %s, failed %s, still provisional %s, not reported %s",
                        venue.value, chk.confirmed, chk.failed, chk.still_provisional, chk.not_reported)
    return results


def _journal_provisional(engine: ExecutionEngine, chk: ProvisionalCheck) -> None:
    diffs: list[str] = []
    if chk.fetch_error:
        diffs.append(f"could not fetch fills to re-check {chk.checked} provisional fill(s): {chk.fetch_error}")
    diffs += [f"provisional fill {k} FAILED at the venue: reversed" for k in chk.failed]
    diffs += [f"provisional fill {k} still unsettled at the venue: kept provisional" for k in chk.still_provisional if not chk.fetch_error]
    diffs += [f"provisional fill {k} "
              + ("is a stand-in for a fill the venue has not reported" if UNREPORTED in k else "is not in the venue's fills")
              + ": kept provisional" for k in chk.not_reported]
    engine.journal.append_event(
        ReconciliationReported(
            venue=chk.venue,
            differences=diffs,
            open_orders=0,
            ok=not diffs,
            ts_recv=engine.clock.now_ns(),
        )
    )


def journal_positions(engine: ExecutionEngine) -> dict[tuple[Venue, str], Decimal]:
    """Net outcome-share positions from every saga order's fills, as the journal rebuilt them."""
    out: dict[tuple[Venue, str], Decimal] = {}
    for saga in engine.sagas.values():
        for o in saga.orders.values():
            if o.instrument.kind is not InstrumentKind.OUTCOME or not o.fills.filled:
                continue
            key = (o.venue, o.instrument.id)
            out[key] = out.get(key, ZERO) + o.side.sign * o.fills.filled
    return out


async def startup_reconcile(
    engine: ExecutionEngine,
    *,
    baseline_positions: dict[tuple[Venue, str], Decimal] | None = None,
    cancel_unknown_orders: bool = False,
    fills_since_ns: int | None = None,
) -> list[VenueReconciliation]:
    """Compare each venue with the journal, journal the differences, adopt the venue's balances
    and positions. ``baseline_positions`` are holdings that predate the journal (so they are not
    reported as differences). Call after ``recovery.rebuild`` and before trading.

    With ``fills_since_ns``, the trade ids of the venue's fills since then are remembered as
    already inside the adopted balances (``engine.prebooked``): an interrupted saga that learns
    of one of them later books it into the saga but not into the portfolio again."""
    jpos = journal_positions(engine)
    base = baseline_positions or {}
    results: list[VenueReconciliation] = []
    for venue, backend in engine.backends.items():
        rec = VenueReconciliation(venue=venue)
        results.append(rec)
        try:
            open_orders = await backend.open_orders()
            balances = await backend.balances()
            positions = await backend.positions()
        except Exception as exc:  # noqa: BLE001 - report it; trading on a venue we cannot see is refused
            rec.fetch_error = f"{type(exc).__name__}: {exc}"
            rec.differences.append(f"could not fetch venue state: {rec.fetch_error}")
            _journal(engine, rec)
            continue
        rec.open_orders = len(open_orders)
        venue_open = {o.client_order_id for o in open_orders}
        for o in open_orders:
            of = engine.fills.get(o.client_order_id)
            if of is None:
                rec.unknown_open_orders.append(o.client_order_id)
                rec.differences.append(
                    f"open order {o.client_order_id or o.venue_order_id} ({o.instrument_id} {o.side.value} "
                    f"{o.quantity}@{o.price}) is not in the journal"
                )
                if cancel_unknown_orders:
                    try:
                        await backend.cancel(o.client_order_id, o.venue_order_id)
                        rec.canceled.append(o.client_order_id)
                    except Exception as exc:  # noqa: BLE001
                        rec.differences.append(f"cancel of unknown order {o.client_order_id} failed: {exc}")
            elif of.venue_terminal:
                rec.differences.append(f"order {o.client_order_id} is open at the venue but closed in the journal")
            if of is not None and o.filled_quantity != of.filled:
                rec.differences.append(f"order {o.client_order_id}: venue filled {o.filled_quantity}, journal {of.filled}")
        for saga in engine.sagas.values():
            for so in saga.orders.values():
                if (so.venue is venue and so.finished is None and not so.needs_send and not so.fills.venue_terminal
                        and so.client_order_id not in venue_open):
                    rec.differences.append(f"order {so.client_order_id} is open in the journal but not at the venue")
        venue_pos = {p.instrument_id: p.quantity for p in positions}
        for (v, iid), q in sorted(jpos.items(), key=lambda kv: kv[0][1]):
            if v is not venue:
                continue
            expect = q + base.get((v, iid), ZERO)
            have = venue_pos.get(iid, ZERO)
            if have != expect:
                rec.differences.append(f"position {iid}: venue {have}, journal {expect}")
        for iid, q in sorted(venue_pos.items()):
            if (venue, iid) not in jpos and q != base.get((venue, iid), ZERO):
                rec.differences.append(f"position {iid}: venue {q}, journal has no trades in it")
        for b in balances:
            prior = engine.portfolio.cash.get((venue, b.currency))
            if prior is not None and prior != b.total:
                rec.differences.append(f"balance {b.currency}: venue {b.total}, ours {prior}")
        # the venue is the truth for what we hold now
        engine.portfolio.set_balances(venue, balances)
        quotes, positions = _valued(engine, venue, positions, balances)
        engine.portfolio.set_positions(venue, positions, quotes)
        if fills_since_ns is not None:
            try:
                for ev in await backend.fills_since(fills_since_ns):
                    tid = getattr(ev, "trade_id", "")
                    if tid:
                        engine.prebooked.add((venue, tid))
            except Exception as exc:  # noqa: BLE001
                rec.differences.append(f"could not fetch recent fills: {type(exc).__name__}: {exc}")
        _journal(engine, rec)
        if rec.differences:
            log.warning("start-up reconciliation %s: %s", venue.value, "; ".join(rec.differences))
    return results


def _valued(engine: ExecutionEngine, venue: Venue, positions: list, balances: list) -> tuple[dict[str, str], list]:
    """Adopted positions with the currency they are valued in and a price, so exposure limits
    count them (a position valued at nothing would let risk add more on top). The instrument's
    quote comes from what the node knows (its instruments, the journal's orders), else the venue's
    only collateral currency; a position the venue gives no average price for is valued at the
    engine's mark (book mid) or, for an outcome share, at its most it can be worth (1)."""
    known: dict[str, object] = dict(getattr(engine, "instruments", {}) or {})
    for saga in engine.sagas.values():
        for o in saga.orders.values():
            known.setdefault(o.instrument.id, o.instrument)
    currencies = {b.currency for b in balances}
    only = next(iter(currencies)) if len(currencies) == 1 else ""
    quotes: dict[str, str] = {}
    out = []
    mark = getattr(engine, "mark_price", None)
    for p in positions:
        inst = known.get(p.instrument_id)
        quote = getattr(inst, "quote", "") or only
        if quote:
            quotes[p.instrument_id] = quote
        if p.avg_price is None and p.quantity != 0:
            price = mark(venue, p.instrument_id) if mark is not None else None
            if price is None and (inst is None or getattr(inst, "kind", None) is InstrumentKind.OUTCOME):
                price = Decimal(1) if venue in (Venue.POLYMARKET, Venue.KALSHI) else None
            if price is not None:
                p = msgspec.structs.replace(p, avg_price=price)
        out.append(p)
    return quotes, out


def _journal(engine: ExecutionEngine, rec: VenueReconciliation) -> None:
    engine.journal.append_event(
        ReconciliationReported(
            venue=rec.venue,
            differences=rec.differences,
            open_orders=rec.open_orders,
            ok=rec.ok,
            ts_recv=engine.clock.now_ns(),
        )
    )
