"""Crash at every order boundary of several saga shapes (just before an order leaves, and just
after the venue took it but before its answer was journaled), restart on the same journal with
the same venues, and check: every saga reaches a terminal state, no client order id was sent
twice, the journal's fills equal the venue's fills and positions match the venue."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from exec_kit import CrashingBackend, T0, cross_venue_intent, drive, run_until_crash, triangle_intent

from arbkit.core.clock import SimClock
from arbkit.core.enums import FillStatus, Venue
from arbkit.execution.engine import EngineConfig
from arbkit.execution.intent import Sequencing
from arbkit.execution.paper import PaperBackend, PaperConfig, PaperFault, SnapshotRegistry
from arbkit.execution.recovery import recover
from arbkit.execution.report import ExecutionStatus

D = Decimal
BAL = {Venue.POLYMARKET: {"pUSD": D("1000")}, Venue.KALSHI: {"USD": D("1000")}, Venue.KUCOIN: {"USDT": D("10000")}}


def _faults(kind):
    if kind == "parallel_reject":
        return lambda r: PaperFault(reject="closed") if r.client_order_id.endswith("-L1-A0") else None
    if kind == "cascade_partial":
        return lambda r: PaperFault(fill_fraction=D("0.5")) if r.client_order_id.endswith("-L2-A0") else None
    return None


def _intent(kind, eid):
    if kind == "sequential":
        return cross_venue_intent(eid, T0, seq=Sequencing.SEQUENTIAL)
    if kind == "parallel_reject":
        return cross_venue_intent(eid, T0)
    return triangle_intent(eid, T0)


# the orders an uninterrupted run sends, per shape
PLANS = {
    "sequential": ["L0-A0", "L1-A0"],
    "parallel_reject": ["L0-A0", "L1-A0", "L0-A1"],
    "cascade": ["L0-A0", "L1-A0", "L2-A0"],
    "cascade_partial": ["L0-A0", "L1-A0", "L2-A0", "L2-A1"],
}
POINTS = [(kind, where, coid) for kind, coids in PLANS.items() for coid in coids for where in ("before", "after")]
assert len(POINTS) >= 20


@pytest.mark.parametrize("mode", ["complete", "compensate"])
@pytest.mark.parametrize("kind,where,coid", POINTS, ids=[f"{k}-{w}-{c}" for k, w, c in POINTS])
async def test_crash_point(env_factory, kind, where, coid, mode):
    clock = SimClock(start_ns=T0)
    reg = SnapshotRegistry()
    # zero venue latency: an in-process "crash" cannot kill a sibling send already parked at the
    # venue, so a request is either wholly processed before the crash or never made
    cfg = PaperConfig(faults=_faults(kind))
    venues = {v: PaperBackend(v, clock, reg, cfg, dict(BAL[v])) for v in BAL}
    eid = f"cp-{kind}"
    target = f"{eid}-{coid}"
    crash = {v: CrashingBackend(b, **{where: {target}}) for v, b in venues.items()}
    env1 = env_factory(clock=clock, backends=crash)
    assert env1.engine.submit(_intent(kind, eid)).approved
    await run_until_crash(env1)
    assert env1.engine.sagas[eid].report is None

    env2 = env_factory(clock=clock, backends=venues, path=env1.path, config=EngineConfig(recovery_mode=mode))
    await recover(env2.engine)
    rep = await drive(clock, env2.engine.wait(eid))
    await drive(clock, env2.engine.wait_idle())

    assert rep.status in set(ExecutionStatus) and rep.recovered
    sent = Counter(r.client_order_id for b in venues.values() for r in b.submitted)
    assert all(n == 1 for n in sent.values()), sent
    if where == "before" and coid == "L0-A0" and kind != "parallel_reject":
        assert rep.status is ExecutionStatus.ABORTED and not sent
    # journal fills == venue fills (the provisional stand-ins aside)
    env2.journal.flush_sync(5)
    journal_fills = {
        (f.client_order_id, f.trade_id, f.quantity, f.price)
        for f in (r.decode() for r in env2.journal.replay(kinds=["OrderFilled"]))
        if f.status is not FillStatus.PROVISIONAL
    }
    venue_fills = {(f.client_order_id, f.trade_id, f.quantity, f.price) for b in venues.values() for o in b.orders.values() for f in o.fills}
    assert journal_fills == venue_fills
    # nothing left open that is not reported; positions are the venue's
    if rep.status in (ExecutionStatus.FILLED, ExecutionStatus.HEDGED, ExecutionStatus.ABORTED):
        assert rep.open_residuals == []
    assert env2.risk.in_flight == {} and env2.risk.capital.reserved == {}
    for v, b in venues.items():
        for iid, q in b.shares.items():
            assert env2.portfolio.position(v, iid) == q
    assert sum(1 for r in env2.journal.replay(correlation_id=eid, kinds=["ExecutionReported"])) == 1
