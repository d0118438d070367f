"""Issue 11's ways to lose money, at the engine, with the venue's side checked through the paper
venues (what they hold): a lost answer is never booked as "rejected", a fill after a cancel is
never left naked, a restart keeps the day's loss and a tripped switch, held sagas are re-checked
and can be resolved, a kill cancels every resting order, capital is never spent twice.

The venues here are paper backends (they keep orders, fills and positions like a venue) seen
through wrappers that lose answers the way networks and venues do."""

from __future__ import annotations

from decimal import Decimal

from exec_kit import KALSHI_NO, POLY_YES, T0, cross_venue_intent, drive, held, replay_kinds

from arbkit.core.enums import OrderStatus, Venue
from arbkit.core.events import OrderCanceled, OrderFilled, OrderRejected
from arbkit.core.orders import SubmitResult
from arbkit.execution.engine import EngineConfig
from arbkit.execution.intent import Sequencing
from arbkit.execution.paper import PaperConfig
from arbkit.execution.recovery import recover
from arbkit.execution.report import ExecutionStatus
from arbkit.venues.common.http import OrderStateUnknown

D = Decimal


class LostAnswer:
    """A venue that takes the order, but whose answer is lost (transport failure after the venue
    processed it); while ``blind`` it cannot say what it holds either (lookups raise)."""

    def __init__(self, inner, coid: str, *, blind_for: int = 0, as_retryable: bool = False) -> None:
        self.inner, self.venue, self.coid = inner, inner.venue, coid
        self.blind_for = blind_for  # lookups that fail before the venue answers again
        self.as_retryable = as_retryable
        self.lookups = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def submit(self, req):
        res = await self.inner.submit(req)
        if req.client_order_id != self.coid:
            return res
        if self.as_retryable:  # a gateway's "HTTP 502 after retries": maybe placed
            return SubmitResult(client_order_id=req.client_order_id, events=[OrderRejected(
                venue=self.venue, client_order_id=req.client_order_id, reason="HTTP 502 after retries", code="AMBIGUOUS",
                retryable=True)])
        raise ConnectionError("read timeout: the answer was lost")

    async def order_state(self, coid, voi=""):
        if coid == self.coid:
            self.lookups += 1
            if self.lookups <= self.blind_for:
                raise OrderStateUnknown(self.venue.value, coid, "HTTP 503 after retries")
        return await self.inner.order_state(coid, voi)


def _with(env_factory, venue: Venue, wrap, **kw):
    env0 = env_factory()
    env0.journal.close_sync()
    backends = dict(env0.backends)
    backends[venue] = wrap(env0.backends[venue])
    return env_factory(clock=env0.clock, backends=backends, path=env0.path.with_name("j.db"), **kw)


async def test_lost_answer_on_a_filled_leg_is_found_not_unwound(env_factory):
    """Item 2: the Kalshi leg filled at the venue but its answer was lost. It is looked up and
    booked: FILLED, both legs held at the venue, no hedge sold anything back."""
    env = _with(env_factory, Venue.KALSHI, lambda b: LostAnswer(b, "la-1-L1-A0"))
    rep = await env.run(env.engine.execute(cross_venue_intent("la-1", T0)))
    assert rep.status is ExecutionStatus.FILLED
    assert [lg.purpose for lg in rep.legs] == ["leg", "leg"]
    kal = env.backends[Venue.KALSHI].inner
    assert [r.client_order_id for r in kal.submitted] == ["la-1-L1-A0"]
    venue_pos = {p.instrument_id: p.quantity for p in await kal.positions()}
    assert venue_pos[KALSHI_NO.id] == env.portfolio.position(Venue.KALSHI, KALSHI_NO.id) == 10


async def test_retryable_rejection_is_asked_about_not_taken_as_rejected(env_factory):
    env = _with(env_factory, Venue.KALSHI, lambda b: LostAnswer(b, "la-2-L1-A0", as_retryable=True))
    rep = await env.run(env.engine.execute(cross_venue_intent("la-2", T0)))
    assert rep.status is ExecutionStatus.FILLED
    assert env.portfolio.position(Venue.KALSHI, KALSHI_NO.id) == 10
    assert env.portfolio.position(Venue.POLYMARKET, POLY_YES.id) == 10


async def test_unknown_state_holds_the_saga_then_resumes_when_the_venue_answers(env_factory):
    """Item 2/6: a lost answer and a venue that cannot say: the saga is HELD -- no report, no
    hedge computed from a guess, its capital and slot kept, an alert journaled -- and re-checked
    in the background until the venue answers; then it completes from what the venue says."""
    cfg = EngineConfig(recheck_first_s=1.0, recheck_max_s=4.0)
    env = _with(env_factory, Venue.KALSHI, lambda b: LostAnswer(b, "la-3-L1-A0", blind_for=6), config=cfg)
    assert env.engine.submit(cross_venue_intent("la-3", T0)).approved
    saga = env.engine.sagas["la-3"]

    await held(env, saga.execution_id)
    assert saga.report is None and "la-3" in env.engine.held()
    assert "la-3" in env.risk.in_flight and env.risk.capital.reserved  # still counts against risk
    kinds = replay_kinds(env.journal, "la-3")
    assert "SagaHeld" in kinds and "ResidualAlerted" in kinds and "HedgeStarted" not in kinds
    assert env.backends[Venue.POLYMARKET].submitted[-1].client_order_id == "la-3-L0-A0"  # nothing sold back
    rep = await env.run(env.engine.wait("la-3"))  # the background re-check finds the fill
    assert rep.status is ExecutionStatus.FILLED
    assert env.portfolio.position(Venue.KALSHI, KALSHI_NO.id) == 10 and env.portfolio.position(Venue.POLYMARKET, POLY_YES.id) == 10
    assert "SagaResolved" in replay_kinds(env.journal, "la-3")
    assert "la-3" not in env.risk.in_flight and env.risk.capital.reserved == {}


async def test_operator_closes_or_hedges_a_held_saga(env_factory):
    cfg = EngineConfig(recheck_first_s=3600.0)  # only the operator acts here
    env = _with(env_factory, Venue.KALSHI, lambda b: LostAnswer(b, "op-1-L1-A0", blind_for=10**6), config=cfg)
    assert env.engine.submit(cross_venue_intent("op-1", T0)).approved
    saga = env.engine.sagas["op-1"]

    await held(env, saga.execution_id)
    msg = await drive(env.clock, env.engine.resolve("op-1", "close", note="checked by hand"))
    assert "closed" in msg and saga.report is not None and saga.report.status is ExecutionStatus.FAILED
    assert "op-1" not in env.risk.in_flight
    kinds = replay_kinds(env.journal, "op-1")
    assert kinds[-1] == "ExecutionReported" and "SagaResolved" in kinds


async def test_fill_before_a_cancel_reported_late_is_booked_and_hedged(env_factory):
    """Item 4: a venue whose cancel answer carries no filled quantity (Polymarket) and whose trade
    arrives after the cancel. The engine asks the venue for the filled quantity before it calls
    the order done; the trade is fetched and booked; nothing is left naked."""

    class CancelWithoutQuantity:
        def __init__(self, inner) -> None:
            self.inner, self.venue = inner, inner.venue
            self.late: list = []

        def __getattr__(self, name):
            return getattr(self.inner, name)

        async def submit(self, req):
            res = await self.inner.submit(req)
            # the venue matched it, but the trade message is late; the answer says "live"
            self.late = [e for e in res.events if isinstance(e, OrderFilled)]
            kept = [e for e in res.events if not isinstance(e, (OrderFilled, OrderCanceled))]
            return SubmitResult(client_order_id=res.client_order_id, events=kept, venue_order_id=res.venue_order_id,
                                accepted=res.accepted)

        async def cancel(self, coid, voi=""):
            return [OrderCanceled(venue=self.venue, client_order_id=coid, venue_order_id=voi, filled_quantity=None,
                                  reason="canceled")]

        async def order_state(self, coid, voi=""):
            st = await self.inner.order_state(coid, voi)
            return st

        async def fills_since(self, ts):
            return list(self.late)

    env = _with(env_factory, Venue.POLYMARKET, CancelWithoutQuantity)
    rep = await env.run(env.engine.execute(cross_venue_intent("lf-1", T0, timeout_s=1.0)))
    poly = env.backends[Venue.POLYMARKET].inner
    venue_pos = {p.instrument_id: p.quantity for p in await poly.positions()}
    assert venue_pos[POLY_YES.id] == env.portfolio.position(Venue.POLYMARKET, POLY_YES.id)
    assert rep.status is ExecutionStatus.FILLED, rep.error
    assert rep.legs[0].filled_quantity == 10


async def test_restart_keeps_the_days_loss_and_a_tripped_switch(env_factory):
    """Item 5: the day's realised P&L and a tripped kill switch are in force after a restart,
    before the first intent."""
    from arbkit.execution.paper import PaperFault

    reject = lambda r: PaperFault(reject="refused") if r.client_order_id.endswith("-L1-A0") else None  # noqa: E731
    env = env_factory(paper={Venue.KALSHI: PaperConfig(faults=reject)})
    rep = await env.run(env.engine.execute(cross_venue_intent("dl-1", T0)))
    assert rep.status is ExecutionStatus.HEDGED and rep.profit < 0
    env.risk.killswitch.trip("operator stop", source="command")
    env.journal.close_sync()
    env2 = env_factory(clock=env.clock, path=env.path, backends=env.backends)
    assert env2.risk.pnl_today == 0 and not env2.risk.killswitch.tripped
    await drive(env2.clock, recover(env2.engine, reconcile=False))
    assert env2.risk.pnl_today == rep.profit
    assert env2.risk.killswitch.tripped and env2.risk.killswitch.reason == "operator stop"
    denied = env2.engine.submit(cross_venue_intent("dl-2", T0))
    assert not denied.approved and denied.check == "killswitch"


async def test_restart_past_the_daily_loss_limit_trips_at_once(env_factory):
    from arbkit.execution.paper import PaperFault
    from exec_kit import make_limits

    reject = lambda r: PaperFault(reject="refused") if r.client_order_id.endswith("-L1-A0") else None  # noqa: E731
    env = env_factory(paper={Venue.KALSHI: PaperConfig(faults=reject)})
    rep = await env.run(env.engine.execute(cross_venue_intent("dl-3", T0)))
    env.journal.close_sync()
    env2 = env_factory(clock=env.clock, path=env.path, backends=env.backends, limits=make_limits(daily_loss_limit=-rep.profit / 2))
    await drive(env2.clock, recover(env2.engine, reconcile=False))
    assert env2.risk.killswitch.tripped and "daily loss" in env2.risk.killswitch.reason


async def test_adopted_positions_are_valued_for_exposure(env_factory):
    """Item 5: positions taken from the venue at start-up count against exposure limits."""
    from exec_kit import make_limits

    from arbkit.core.orders import Position
    from arbkit.execution.reconcile import startup_reconcile

    class HoldsShares:
        def __init__(self, inner) -> None:
            self.inner, self.venue = inner, inner.venue

        def __getattr__(self, name):
            return getattr(self.inner, name)

        async def positions(self):
            return [Position(venue=self.venue, instrument_id=POLY_YES.id, quantity=D("500"))]  # no average price

    lim = make_limits(max_venue_exposure=D("300"))
    lim.valuation.update({"pUSD": D(1), "USD": D(1)})
    env = _with(env_factory, Venue.POLYMARKET, HoldsShares, limits=lim)
    env.engine.instruments[POLY_YES.id] = POLY_YES
    await drive(env.clock, startup_reconcile(env.engine))
    value, quote = env.portfolio.exposure(Venue.POLYMARKET, POLY_YES.id)
    assert quote == "pUSD" and value == D("500")  # at most 1 a share with no mark
    denied = env.engine.submit(cross_venue_intent("ex-1", T0))
    assert not denied.approved and denied.check == "exposure"


async def test_kill_switch_trip_stops_the_next_leg_and_kill_cancels_resting_orders(env_factory):
    env = env_factory(paper=PaperConfig(latency_s=0.5))
    assert env.engine.submit(cross_venue_intent("ks-1", T0, seq=Sequencing.SEQUENTIAL)).approved
    canceled_all = []
    for b in env.backends.values():
        orig = b.cancel_all

        async def cancel_all(orig=orig, v=b.venue):
            canceled_all.append(v)
            return await orig()

        b.cancel_all = cancel_all

    async def scenario():
        import asyncio

        while not env.backends[Venue.POLYMARKET].submitted:
            await asyncio.sleep(0)
        out = await env.engine.kill("breaker opened")  # leg 0 is in flight
        return out, await env.engine.wait("ks-1")

    out, rep = await env.run(scenario())
    assert set(canceled_all) == set(env.backends) and set(out) == {v.value for v in env.backends}
    assert env.backends[Venue.KALSHI].submitted == []  # no next leg after the trip
    assert rep.status is ExecutionStatus.HEDGED  # leg 0 filled, then sold back: nothing left exposed
    assert env.portfolio.position(Venue.POLYMARKET, POLY_YES.id) == 0


async def test_replaced_stand_in_does_not_spend_capital_twice(env_factory):
    """A provisional stand-in fill replaced by the venue's own: the reservation it converted is
    given back, so the capital the saga spent is counted once."""
    from arbkit.core.enums import FillStatus, LiquiditySide, Side

    env = env_factory()
    assert env.engine.submit(cross_venue_intent("cap-1", T0, qty="10")).approved
    saga = env.engine.sagas["cap-1"]
    eng = env.engine
    o = eng._prepare(saga, 0, D("10"), 0, "leg")  # not sent: we drive its events by hand
    eng._tasks["cap-1"].cancel()
    before = dict(env.risk.capital.by_execution["cap-1"])
    stand_in = OrderFilled(venue=Venue.POLYMARKET, instrument_id=POLY_YES.id, client_order_id=o.client_order_id, venue_order_id="v-1",
                           trade_id=f"{o.client_order_id}:unreported:0", side=Side.BUY, price=D("0.40"), quantity=D("10"),
                           fee=D(0), fee_currency="pUSD", liquidity=LiquiditySide.TAKER, status=FillStatus.PROVISIONAL)
    eng.on_event(stand_in)
    after_stand_in = dict(env.risk.capital.by_execution["cap-1"])
    eng.on_event(OrderFilled(venue=Venue.POLYMARKET, instrument_id=POLY_YES.id, client_order_id=o.client_order_id, venue_order_id="v-1",
                             trade_id="t-real", side=Side.BUY, price=D("0.40"), quantity=D("10"), fee=D(0),
                             fee_currency="pUSD", liquidity=LiquiditySide.TAKER, status=FillStatus.CONFIRMED))
    key = (Venue.POLYMARKET, "pUSD")
    assert before[key] - after_stand_in[key] == D("4.00")
    assert env.risk.capital.by_execution["cap-1"][key] == after_stand_in[key]  # spent once, not twice
    assert env.portfolio.position(Venue.POLYMARKET, POLY_YES.id) == 10
    assert o.fills.status in (OrderStatus.FILLED, OrderStatus.PENDING, OrderStatus.ACCEPTED)


async def test_a_fee_correction_after_the_report_re_reports_filled_with_the_new_profit(env_factory):
    """A fill corrected after the report (the venue's real fee arrives later): the saga reports
    anew with the corrected profit, still FILLED (nothing to hedge), and only the change reaches
    the day's P&L."""
    import msgspec

    env = env_factory()
    rep = await env.run(env.engine.execute(cross_venue_intent("fc-1", T0)))
    assert rep.status is ExecutionStatus.FILLED
    env.journal.flush_sync(5)
    fill = next(r.decode() for r in env.journal.replay(correlation_id="fc-1", kinds=["OrderFilled"])
                if r.decode().instrument_id == POLY_YES.id)
    env.engine.on_event(msgspec.structs.replace(fill, fee=fill.fee + D("0.05")))
    rep2 = await env.run(env.engine.wait("fc-1"))
    assert rep2.status is ExecutionStatus.FILLED and rep2.profit == rep.profit - D("0.05")
    assert env.risk.pnl_today == rep2.profit
    assert [o.purpose for o in env.engine.sagas["fc-1"].orders.values()] == ["leg", "leg"]  # no hedge sent
