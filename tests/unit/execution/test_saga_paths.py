"""Every saga path against the paper backend, a real journal file and a simulated clock."""

from __future__ import annotations

from decimal import Decimal

from exec_kit import KALSHI_NO, POLY_YES, T0, cross_venue_intent, replay_kinds

from arbkit.core.enums import Venue
from arbkit.execution.report import ExecutionStatus

D = Decimal


async def test_parallel_all_legs_fill(env_factory):
    env = env_factory()
    intent = cross_venue_intent("ex-1", T0)
    rep = await env.run(env.engine.execute(intent))
    assert rep.status is ExecutionStatus.FILLED, rep
    assert [lg.filled_quantity for lg in rep.legs] == [D("10"), D("10")]
    assert rep.matched_fraction == 1
    assert rep.open_residuals == []
    # positions and cash booked from fills
    assert env.portfolio.position(Venue.POLYMARKET, POLY_YES.id) == 10
    assert env.portfolio.position(Venue.KALSHI, KALSHI_NO.id) == 10
    kinds = replay_kinds(env.journal, "ex-1")
    assert kinds.index("LegSubmitted") < kinds.index("OrderAccepted")
    assert kinds[-1] == "ExecutionReported"
    assert env.risk.in_flight == {} and env.risk.capital.reserved == {}


def _fault_on(coid_suffix: str, **kw):
    from arbkit.execution.paper import PaperFault

    def faults(req):
        return PaperFault(**kw) if req.client_order_id.endswith(coid_suffix) else None

    return faults


async def test_parallel_leg2_rejected_hedges_leg1(env_factory):
    from arbkit.execution.paper import PaperConfig

    env = env_factory(paper={Venue.KALSHI: PaperConfig(faults=_fault_on("-L1-A0", reject="market closed"))})
    rep = await env.run(env.engine.execute(cross_venue_intent("ex-rej", T0)))
    assert rep.status is ExecutionStatus.HEDGED, rep
    hedge = [lg for lg in rep.legs if lg.purpose == "hedge"]
    assert len(hedge) == 1 and hedge[0].instrument_id == POLY_YES.id and hedge[0].side.value == "SELL"
    assert hedge[0].filled_quantity == D("10") and hedge[0].client_order_id == "ex-rej-L0-A1"
    assert env.portfolio.position(Venue.POLYMARKET, POLY_YES.id) == 0
    assert rep.open_residuals == [] and rep.matched_fraction == 0
    # sold back at the bid: the round trip lost the spread and fees, reported as profit < 0
    assert rep.profit < 0
    kinds = replay_kinds(env.journal, "ex-rej")
    assert "HedgeStarted" in kinds and kinds.index("HedgeStarted") < len(kinds) - 1


async def test_sequential_leg2_rejected_hedges_leg1(env_factory):
    from arbkit.execution.intent import Sequencing
    from arbkit.execution.paper import PaperConfig

    env = env_factory(paper={Venue.KALSHI: PaperConfig(faults=_fault_on("-L1-A0", reject="no liquidity"))})
    rep = await env.run(env.engine.execute(cross_venue_intent("ex-seq", T0, seq=Sequencing.SEQUENTIAL)))
    assert rep.status is ExecutionStatus.HEDGED
    assert [(lg.purpose, lg.leg_index, lg.filled_quantity) for lg in rep.legs] == [
        ("leg", 0, D("10")), ("leg", 1, D("0")), ("hedge", 0, D("10"))]


async def test_leg1_rejected_aborts_without_exposure(env_factory):
    from arbkit.execution.intent import Sequencing
    from arbkit.execution.paper import PaperConfig

    env = env_factory(paper={Venue.POLYMARKET: PaperConfig(faults=_fault_on("-L0-A0", reject="bad"))})
    rep = await env.run(env.engine.execute(cross_venue_intent("ex-ab", T0, seq=Sequencing.SEQUENTIAL)))
    assert rep.status is ExecutionStatus.ABORTED
    assert len(rep.legs) == 1  # leg 2 never sent
    assert env.backends[Venue.KALSHI].submitted == []


async def test_partial_fill_hedges_the_excess(env_factory):
    from arbkit.execution.paper import PaperConfig

    env = env_factory(paper={Venue.KALSHI: PaperConfig(fill_fraction=D("0.4"))})
    rep = await env.run(env.engine.execute(cross_venue_intent("ex-part", T0)))
    assert rep.status is ExecutionStatus.HEDGED, rep
    assert rep.matched_fraction == D("0.4")
    hedge = [lg for lg in rep.legs if lg.purpose == "hedge"]
    assert [(h.instrument_id, h.filled_quantity) for h in hedge] == [(POLY_YES.id, D("6"))]
    assert env.portfolio.position(Venue.POLYMARKET, POLY_YES.id) == 4
    assert env.portfolio.position(Venue.KALSHI, KALSHI_NO.id) == 4


async def test_excess_below_venue_minimum_fails_loudly(env_factory):
    from arbkit.execution.paper import PaperConfig

    # 6 of 10 fill on Kalshi: the 4 extra YES shares are below Polymarket's 5-share minimum,
    # so no hedge can be sent: the saga must end FAILED with the residual reported and alerted
    env = env_factory(paper={Venue.KALSHI: PaperConfig(fill_fraction=D("0.6"))})
    rep = await env.run(env.engine.execute(cross_venue_intent("ex-min", T0)))
    assert rep.status is ExecutionStatus.FAILED
    assert [(r.asset, r.quantity, r.dust) for r in rep.residuals] == [(POLY_YES.id, D("4"), False)]
    assert [lg.purpose for lg in rep.legs] == ["leg", "leg"]  # no hedge the venue would refuse
    assert "ResidualAlerted" in replay_kinds(env.journal, "ex-min")


async def test_timeout_cancels_then_hedges(env_factory):
    from arbkit.execution.paper import PaperConfig

    env = env_factory(paper={Venue.KALSHI: PaperConfig(faults=_fault_on("-L1-A0", hang=True))})
    start = env.clock.now_ns()
    rep = await env.run(env.engine.execute(cross_venue_intent("ex-to", T0, timeout_s=3.0)))
    assert rep.status is ExecutionStatus.HEDGED
    leg2 = next(lg for lg in rep.legs if lg.leg_index == 1 and lg.purpose == "leg")
    assert leg2.status == "CANCELED" and leg2.filled_quantity == 0
    assert env.backends[Venue.KALSHI].orders["ex-to-L1-A0"].state.status.value == "CANCELED"
    assert env.clock.now_ns() - start >= 3 * 10**9
    kinds = replay_kinds(env.journal, "ex-to")
    lf = [r.decode() for r in env.journal.replay(correlation_id="ex-to", kinds=["LegFilled"])]
    assert any(x.timed_out and x.client_order_id == "ex-to-L1-A0" for x in lf)
    assert "OrderCanceled" in kinds


async def test_async_fills_accumulate_until_terminal(env_factory):
    from arbkit.execution.paper import PaperConfig

    cfg = PaperConfig(latency_s=0.05, async_fills=True, fill_delay_s=0.2)
    env = env_factory(paper=cfg)
    intent = cross_venue_intent("ex-async", T0, yes_asks=(("0.39", "4"), ("0.40", "100")))
    rep = await env.run(env.engine.execute(intent))
    assert rep.status is ExecutionStatus.FILLED
    yes = rep.legs[0]
    assert yes.filled_quantity == 10 and yes.avg_price == (D("0.39") * 4 + D("0.40") * 6) / 10
    assert yes.ack_latency_ns == 50_000_000 and yes.latency_ns == 250_000_000
    assert rep.timings.sent_ns >= rep.timings.journaled_ns >= rep.timings.risk_checked_ns


async def test_cancel_between_legs(env_factory):
    import asyncio

    from arbkit.execution.intent import Sequencing
    from arbkit.execution.paper import PaperConfig

    env = env_factory(paper=PaperConfig(latency_s=1.0))
    intent = cross_venue_intent("ex-cx", T0, seq=Sequencing.SEQUENTIAL)
    assert env.engine.submit(intent).approved

    async def scenario():
        # leg 1 is on its way (1 s latency); the cancel lands before leg 2 is sent
        while not env.backends[Venue.POLYMARKET].submitted:
            await asyncio.sleep(0)
        assert await env.engine.cancel("ex-cx", "operator")
        return await env.engine.wait("ex-cx")

    rep = await env.run(scenario())
    assert rep.status is ExecutionStatus.HEDGED
    assert env.backends[Venue.KALSHI].submitted == []  # leg 2 never went out
    assert [(lg.purpose, lg.filled_quantity) for lg in rep.legs] == [("leg", D("10")), ("hedge", D("10"))]
    assert "canceled before leg 1" in rep.error


async def test_paused_engine_denies_new_intents_and_completes_an_exposed_saga(env_factory):
    """Pause stops new sagas; a saga with a leg already out is never held open by a pause: it
    sends its next leg (or hedges) within its leg timeout, without waiting for a resume."""
    import asyncio

    from arbkit.execution.intent import Sequencing
    from arbkit.execution.paper import PaperConfig

    env = env_factory(paper=PaperConfig(latency_s=1.0))
    env.engine.pause("test")
    denied = env.engine.submit(cross_venue_intent("ex-p0", T0))
    assert not denied.approved and denied.check == "paused"
    assert "RiskDenied" in replay_kinds(env.journal, "ex-p0")
    env.engine.resume()
    assert env.engine.submit(cross_venue_intent("ex-p1", T0, seq=Sequencing.SEQUENTIAL)).approved
    saga = env.engine.sagas["ex-p1"]

    async def scenario():
        while not env.backends[Venue.POLYMARKET].submitted:
            await asyncio.sleep(0)
        env.engine.pause("operator")  # leg 1 is in flight
        t0 = env.clock.monotonic_ns()
        rep = await env.engine.wait("ex-p1")  # no resume
        assert (env.clock.monotonic_ns() - t0) / 1e9 <= 2 * saga.intent.leg_timeout_s + 5
        return rep

    rep = await env.run(scenario())
    assert env.engine.paused
    assert rep.status is ExecutionStatus.FILLED
    assert len(env.backends[Venue.KALSHI].submitted) == 1


async def test_pause_before_any_leg_aborts_with_nothing_sent(env_factory):
    from arbkit.execution.intent import Sequencing

    env = env_factory()
    assert env.engine.submit(cross_venue_intent("ex-p3", T0, seq=Sequencing.SEQUENTIAL)).approved
    env.engine.pause("operator")
    rep = await env.run(env.engine.wait("ex-p3"))
    assert rep.status is ExecutionStatus.ABORTED and rep.legs == []
    assert env.backends[Venue.POLYMARKET].submitted == [] and env.backends[Venue.KALSHI].submitted == []
    assert env.risk.capital.reserved == {} and "ex-p3" not in env.risk.in_flight


