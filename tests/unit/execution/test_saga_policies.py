"""Hedge policies, the journal barrier, N-leg complete sets, concurrency."""

from __future__ import annotations

from decimal import Decimal

import pytest

import msgspec
from exec_kit import POLY_YES, T0, book, cross_venue_intent, drive, replay_kinds

from arbkit.core.enums import InstrumentKind, Side, Venue
from arbkit.core.fees import FeeSpec
from arbkit.core.instruments import Instrument
from arbkit.execution.intent import HedgeMode, HedgePolicy, Intent, IntentLeg, IsolationKeys, Sequencing
from arbkit.execution.paper import PaperConfig, PaperFault
from arbkit.execution.report import ExecutionStatus

D = Decimal


def reject_leg(suffix):
    return lambda r: PaperFault(reject="refused") if r.client_order_id.endswith(suffix) else None


async def test_every_order_is_durable_before_the_backend_sees_it(env_factory):
    env = env_factory(paper={Venue.KALSHI: PaperConfig(faults=reject_leg("-L1-A0"))})
    seen = []
    for b in env.backends.values():
        orig = b.submit

        async def submit(req, orig=orig):
            # the LegSubmitted record for this order must already be committed to disk
            durable = env.journal.durable_seq()
            recs = [r for r in env.journal.replay(kinds=["LegSubmitted"]) if r.decode().client_order_id == req.client_order_id]
            seen.append((req.client_order_id, len(recs) == 1 and recs[0].seq <= durable))
            return await orig(req)

        b.submit = submit
    rep = await env.run(env.engine.execute(cross_venue_intent("jb-1", T0)))
    assert rep.status is ExecutionStatus.HEDGED
    assert sorted(seen) == [("jb-1-L0-A0", True), ("jb-1-L0-A1", True), ("jb-1-L1-A0", True)]
    kinds = replay_kinds(env.journal, "jb-1")
    assert kinds[:3] == ["IntentReceived", "ExecutionStarted", "SagaTransitioned"]
    states = [(r.decode().from_state, r.decode().to_state) for r in env.journal.replay(correlation_id="jb-1", kinds=["SagaTransitioned"])]
    assert states == [("CREATED", "RUNNING"), ("RUNNING", "HEDGING"), ("HEDGING", "HEDGED")]


async def test_hold_policy_alerts_and_reports_the_residual(env_factory):
    env = env_factory(paper={Venue.KALSHI: PaperConfig(faults=reject_leg("-L1-A0"))})
    rep = await env.run(env.engine.execute(cross_venue_intent("hp-1", T0, hedge=HedgePolicy(mode=HedgeMode.HOLD))))
    assert rep.status is ExecutionStatus.FAILED
    assert [(r.asset, r.quantity) for r in rep.open_residuals] == [(POLY_YES.id, D("10"))]
    assert [lg.purpose for lg in rep.legs] == ["leg", "leg"]
    assert "ResidualAlerted" in replay_kinds(env.journal, "hp-1")
    assert env.portfolio.position(Venue.POLYMARKET, POLY_YES.id) == 10


async def test_limit_chase_reprices_then_markets_out(env_factory):
    # the YES bid sits at 0.39; the chase starts at the 0.40 fill price (a scratch), concedes
    # 100 bps a step but at least a tick, then markets out (worst 5 % below) when chase_s is over
    env = env_factory(paper={Venue.KALSHI: PaperConfig(faults=reject_leg("-L1-A0"))})
    policy = HedgePolicy(mode=HedgeMode.LIMIT_CHASE, chase_s=1.5, chase_step_s=0.5, chase_step_bps=D("100"), max_slippage_bps=D("500"))
    intent = cross_venue_intent("lc-1", T0, hedge=policy, yes_bids=(("0.38", "100"),))
    intent = msgspec.structs.replace(intent, books=[msgspec.structs.replace(intent.books[0], bids=[])] + intent.books[1:])
    t0 = env.clock.now_ns()
    rep = await env.run(env.engine.execute(intent))
    hedges = [lg for lg in rep.legs if lg.purpose == "hedge"]
    # no bid at all in the snapshot: every chase limit rests unfilled and is canceled; the
    # market-out then has nothing to hit either, so the saga fails loudly with the residual
    assert [h.limit_price for h in hedges[:3]] == [D("0.40"), D("0.39"), D("0.38")]
    assert all(h.status == "CANCELED" and h.filled_quantity == 0 for h in hedges[:3])
    assert hedges[3].limit_price == D("0.38") and hedges[3].status == "CANCELED"
    assert rep.status is ExecutionStatus.FAILED and rep.open_residuals[0].quantity == 10
    assert env.clock.now_ns() - t0 >= int(1.5e9)


async def test_limit_chase_fills_when_the_bid_is_there(env_factory):
    env = env_factory(paper={Venue.KALSHI: PaperConfig(faults=reject_leg("-L1-A0"))})
    policy = HedgePolicy(mode=HedgeMode.LIMIT_CHASE, chase_s=1.0, chase_step_s=0.5)
    rep = await env.run(env.engine.execute(cross_venue_intent("lc-2", T0, hedge=policy, yes_bids=(("0.40", "100"),))))
    assert rep.status is ExecutionStatus.HEDGED
    hedges = [lg for lg in rep.legs if lg.purpose == "hedge"]
    assert len(hedges) == 1 and hedges[0].avg_price == D("0.40") and hedges[0].side is Side.SELL


def outcome(sym: str) -> Instrument:
    return Instrument(venue=Venue.POLYMARKET, symbol=sym, kind=InstrumentKind.OUTCOME, tick_size=D("0.01"), size_increment=D("0.01"),
                      min_size=D("5"), quote="pUSD", event_id="ev-1", neg_risk=True,
                      fee=FeeSpec(kind="polymarket", taker_rate=D("0.02"), exponent=1))


def complete_set(eid: str, asks: list[str]) -> Intent:
    insts = [outcome(f"o{i}") for i in range(len(asks))]
    return Intent(
        execution_id=eid,
        legs=[IntentLeg(instrument=inst, side=Side.BUY, price=D(a), quantity=D("20")) for inst, a in zip(insts, asks)],
        sequencing=Sequencing.PARALLEL,
        books=[book(inst, [(str(D(a) - D("0.01")), "100")], [(a, "100")], T0) for inst, a in zip(insts, asks)],
        primary_quote="pUSD",
        set_payout=D(1),
        isolation=IsolationKeys(mapping="ev-1"),
        predicted_edge_bps=D("400"),
    )


async def test_n_leg_complete_set_all_fill(env_factory):
    env = env_factory()
    rep = await env.run(env.engine.execute(complete_set("cs-1", ["0.30", "0.25", "0.21", "0.20"])))
    assert rep.status is ExecutionStatus.FILLED and rep.matched_fraction == 1
    cost = D("20") * D("0.96")
    fees = sum(lg.fee for lg in rep.legs)
    assert rep.profit == D("20") - cost - fees  # 20 sets pay 1 each
    assert rep.effective_edge_bps == (rep.profit / (cost + fees) * 10000).quantize(D("0.01"))


async def test_n_leg_complete_set_one_outcome_short_unwinds_the_rest(env_factory):
    faults = lambda r: PaperFault(fill_fraction=D("0.5")) if r.client_order_id.endswith("-L2-A0") else None  # noqa: E731
    env = env_factory(paper=PaperConfig(faults=faults))
    rep = await env.run(env.engine.execute(complete_set("cs-2", ["0.30", "0.25", "0.21", "0.20"])))
    assert rep.status is ExecutionStatus.HEDGED and rep.matched_fraction == D("0.5")
    hedges = sorted((lg.leg_index, lg.filled_quantity) for lg in rep.legs if lg.purpose == "hedge")
    assert hedges == [(0, D("10")), (1, D("10")), (3, D("10"))]
    for i in range(4):
        assert env.portfolio.position(Venue.POLYMARKET, f"polymarket:o{i}") == 10


async def test_concurrent_sagas_respect_slots_and_isolation(env_factory):
    from exec_kit import make_limits

    env = env_factory(limits=make_limits(slots=2, isolate_pairs=False, isolate_mapping=False), paper=PaperConfig(latency_s=0.2))
    verdicts = [env.engine.submit(cross_venue_intent(f"cc-{i}", T0, qty="5")) for i in range(3)]
    assert [v.approved for v in verdicts] == [True, True, False] and verdicts[2].check == "slots"
    await drive(env.clock, env.engine.wait_idle())
    assert [r.status for r in env.engine.reports] == [ExecutionStatus.FILLED] * 2
    # a book from before our last trade on this key is stale; a fresh one is taken
    assert env.engine.submit(cross_venue_intent("cc-3", T0 + 1, qty="5")).check == "stale"
    assert env.engine.submit(cross_venue_intent("cc-4", env.clock.now_ns() + 1, qty="5")).approved
    await drive(env.clock, env.engine.wait_idle())
    st = env.engine.status()
    assert st["in_flight"] == {} and len(st["recent_reports"]) == 3


async def test_journal_failure_trips_the_kill_switch_and_sends_nothing_more(env_factory):
    import asyncio

    env = env_factory(paper=PaperConfig(latency_s=1.0))
    assert env.engine.submit(cross_venue_intent("jf-1", T0, seq=Sequencing.SEQUENTIAL)).approved

    async def scenario():
        while not env.backends[Venue.POLYMARKET].submitted:  # leg 0 handed over, its answer 1 s away
            await asyncio.sleep(0)
        env.journal.close_sync()  # the disk is gone
        return await env.engine.wait("jf-1")

    rep = await drive(env.clock, scenario())
    assert env.risk.killswitch.tripped and "journal" in env.risk.killswitch.reason
    assert env.backends[Venue.KALSHI].submitted == []  # nothing sent once nothing can be journaled
    assert rep.status is ExecutionStatus.FAILED and rep.open_residuals[0].quantity == 10
    assert env.engine.submit(cross_venue_intent("jf-2", T0)).check == "journal"


class FlakyTransport:
    """A gateway whose HTTP call fails: before the venue saw the order, or after it took it."""

    def __init__(self, inner, coid, after: bool):
        self.inner, self.venue, self.coid, self.after = inner, inner.venue, coid, after

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def submit(self, req):
        if req.client_order_id == self.coid:
            if self.after:
                await self.inner.submit(req)
            raise ConnectionError("connection reset by peer")
        return await self.inner.submit(req)


@pytest.mark.parametrize("after", [False, True])
async def test_transport_error_asks_the_venue_before_deciding(env_factory, after):
    env0 = env_factory()
    kal = FlakyTransport(env0.backends[Venue.KALSHI], "tx-1-L1-A0", after)
    env0.journal.close_sync()
    env = env_factory(clock=env0.clock, backends={Venue.POLYMARKET: env0.backends[Venue.POLYMARKET], Venue.KALSHI: kal},
                      path=env0.path.with_name("tx.db"))
    rep = await drive(env.clock, env.engine.execute(cross_venue_intent("tx-1", T0, seq=Sequencing.SEQUENTIAL)))
    if after:  # the venue had it: adopted, filled once
        assert rep.status is ExecutionStatus.FILLED
        assert len(kal.inner.submitted) == 1
    else:  # it never got there (the venue says so): a final rejection with the cause kept, leg 1 unwound
        assert rep.status is ExecutionStatus.HEDGED
        rej = [r.decode() for r in env.journal.replay(correlation_id="tx-1", kinds=["OrderRejected"])]
        assert rej and not rej[0].retryable and rej[0].code == "NOT_AT_VENUE" and "connection reset" in rej[0].reason
