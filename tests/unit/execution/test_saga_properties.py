"""Property test: random fills, rejects, hangs and latencies. Whatever happens, every saga ends
in a report; net exposure is zero or the saga says HEDGED/FAILED with the residual it leaves
(which matches what the venues really hold); capital is never over-reserved; limits hold; no
client order id is sent twice."""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from decimal import Decimal
from pathlib import Path

from exec_kit import KALSHI_NO, POLY_YES, T0, cross_venue_intent, drive, make_limits, triangle_intent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbkit.core.clock import SimClock
from arbkit.core.enums import Venue
from arbkit.execution.engine import EngineConfig, ExecutionEngine
from arbkit.execution.intent import HedgeMode, HedgePolicy, Sequencing
from arbkit.execution.paper import PaperBackend, PaperConfig, PaperFault, SnapshotRegistry
from arbkit.execution.portfolio import Portfolio
from arbkit.execution.report import ExecutionStatus
from arbkit.journal.store import Journal
from arbkit.risk.engine import RiskEngine

D = Decimal

fault_st = st.one_of(
    st.none(),
    st.builds(PaperFault, reject=st.just("refused")),
    st.builds(PaperFault, fill_fraction=st.sampled_from([D(0), D("0.25"), D("0.5"), D("0.6"), D("0.75"), D("0.99")])),
    st.builds(PaperFault, hang=st.just(True)),
    st.builds(PaperFault, fill_delay_s=st.sampled_from([0.0, 0.3, 2.0, 9.0])),
)

scenario_st = st.fixed_dictionaries({
    "kind": st.sampled_from(["parallel", "sequential", "cascade"]),
    "hedge": st.sampled_from([HedgeMode.MARKET_OUT, HedgeMode.LIMIT_CHASE, HedgeMode.HOLD]),
    "faults": st.dictionaries(st.tuples(st.integers(0, 2), st.integers(0, 4)), fault_st, max_size=8),
    "latency": st.sampled_from([0.0, 0.01, 0.5]),
    "async_fills": st.booleans(),
    "qty": st.sampled_from(["5", "10", "37"]),
})


async def run_scenario(sc: dict, path: Path) -> None:
    clock = SimClock(start_ns=T0)
    journal = Journal.open(path, clock=clock, commit_interval_ms=0.2, synchronous="NORMAL")
    try:
        faults = sc["faults"]

        def fault_for(req):
            leg, attempt = (int(x) for x in req.client_order_id.rsplit("-L", 1)[1].split("-A"))
            return faults.get((leg, attempt))

        bal = {Venue.POLYMARKET: {"pUSD": D("1000")}, Venue.KALSHI: {"USD": D("1000")}, Venue.KUCOIN: {"USDT": D("10000")}}
        pf = Portfolio()
        for v, cash in bal.items():
            for c, a in cash.items():
                pf.set_balance(v, c, a)
        limits = make_limits(max_order_notional=D("1500"), slots=2)
        risk = RiskEngine(limits, clock, pf, journal)
        reg = SnapshotRegistry()
        cfg = PaperConfig(latency_s=sc["latency"], async_fills=sc["async_fills"], faults=fault_for)
        backends = {v: PaperBackend(v, clock, reg, cfg, dict(bal[v])) for v in bal}
        engine = ExecutionEngine(journal=journal, clock=clock, risk=risk, backends=backends, portfolio=pf,
                                 config=EngineConfig(cancel_timeout_s=1.0, fill_grace_s=0.5), snapshots=reg)
        violations: list[str] = []

        def on_send(req):
            if risk.capital.over_reserved():
                violations.append(f"over-reserved: {risk.capital.over_reserved()}")
            if len(risk.in_flight) > limits.slots:
                violations.append("slots exceeded")
            if "-A0" in req.client_order_id and req.notional > limits.max_order_notional:
                violations.append(f"order notional {req.notional}")

        engine.sent_hook = on_send
        hedge = HedgePolicy(mode=sc["hedge"], timeout_s=6.0, chase_s=1.0, chase_step_s=0.5)
        if sc["kind"] == "cascade":
            intent = triangle_intent("px", T0, hedge=hedge, funds=str(int(sc["qty"]) * 25))
        else:
            seq = Sequencing.PARALLEL if sc["kind"] == "parallel" else Sequencing.SEQUENTIAL
            intent = cross_venue_intent("px", T0, qty=sc["qty"], seq=seq, hedge=hedge, timeout_s=3.0)
        rep = await drive(clock, engine.execute(intent))
        await drive(clock, engine.wait_idle())

        assert not violations, violations
        assert rep.status in set(ExecutionStatus)
        # no client order id went out twice
        sent = Counter(r.client_order_id for b in backends.values() for r in b.submitted)
        assert all(n == 1 for n in sent.values()), sent
        # what the venues really hold, computed independently of the engine
        if sc["kind"] == "cascade":
            k = backends[Venue.KUCOIN].cash
            held = {a: k.get(a, D(0)) for a in ("BTC", "ETH") if k.get(a, D(0)) != 0}
        else:
            yes = backends[Venue.POLYMARKET].shares.get(POLY_YES.id, D(0))
            no = backends[Venue.KALSHI].shares.get(KALSHI_NO.id, D(0))
            m = min(yes, no).quantize(D(1), rounding="ROUND_FLOOR")  # whole Kalshi contracts
            held = {a: q for a, q in ((POLY_YES.id, yes - m), (KALSHI_NO.id, no - m)) if q}
        reported = {r.asset: r.quantity for r in rep.residuals}
        assert reported == held, (reported, held, rep)
        if rep.status in (ExecutionStatus.FILLED, ExecutionStatus.ABORTED):
            assert rep.open_residuals == [], rep
        if rep.status is ExecutionStatus.ABORTED:
            assert held == {}
        if rep.open_residuals:
            assert rep.status is ExecutionStatus.FAILED
            journal.flush_sync(5)
            assert any(True for _ in journal.replay(kinds=["ResidualAlerted"]))
        # everything released, nothing left reserved
        assert risk.in_flight == {} and risk.capital.reserved == {}
        # the journal holds exactly one report
        journal.flush_sync(5)
        assert sum(1 for _ in journal.replay(kinds=["ExecutionReported"])) == 1
        # positions booked from fills equal the venue's
        if sc["kind"] != "cascade":
            assert pf.position(Venue.POLYMARKET, POLY_YES.id) == backends[Venue.POLYMARKET].shares.get(POLY_YES.id, D(0))
            assert pf.position(Venue.KALSHI, KALSHI_NO.id) == backends[Venue.KALSHI].shares.get(KALSHI_NO.id, D(0))
        else:
            for cur in ("USDT", "BTC", "ETH"):
                assert pf.balance(Venue.KUCOIN, cur) == backends[Venue.KUCOIN].cash.get(cur, D(0)), cur
    finally:
        journal.close_sync()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sc=scenario_st)
def test_sagas_never_end_silently_open(sc):
    with tempfile.TemporaryDirectory() as d:
        asyncio.run(run_scenario(sc, Path(d) / "j.db"))
