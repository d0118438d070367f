"""Reconciliation: provisional fills against the venue's stream, corrections, reversals, and
start-up reconciliation with each venue."""

from __future__ import annotations

from decimal import Decimal

import msgspec
from exec_kit import KALSHI_NO, POLY_YES, T0, cross_venue_intent, replay_kinds

from arbkit.core.enums import FillStatus, OrderType, Side, TimeInForce, Venue
from arbkit.core.events import FillStatusChanged, OrderFilled
from arbkit.core.orders import OrderRequest
from arbkit.execution.events import FillCorrected, ReconciliationReported
from arbkit.execution.paper import PaperBackend, PaperConfig
from arbkit.execution.reconcile import startup_reconcile
from arbkit.execution.report import ExecutionStatus

D = Decimal


class WithholdingBackend:
    """A venue whose fill feed lags: fills are not in the submit answer nor in fills_since."""

    def __init__(self, inner: PaperBackend) -> None:
        self.inner = inner
        self.venue = inner.venue
        self.withheld: list[OrderFilled] = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def submit(self, req):
        res = await self.inner.submit(req)
        self.withheld += [e for e in res.events if isinstance(e, OrderFilled)]
        res.events = [e for e in res.events if not isinstance(e, OrderFilled)]
        return res

    async def fills_since(self, ts_ns):
        return []


async def test_same_trade_reported_with_other_numbers_is_a_correction(env_factory):
    env = env_factory()
    rep = await env.run(env.engine.execute(cross_venue_intent("rf-1", T0)))
    assert rep.status is ExecutionStatus.FILLED
    first = next(r.decode() for r in env.journal.replay(correlation_id="rf-1", kinds=["OrderFilled"])
                 if r.decode().instrument_id == KALSHI_NO.id)
    cash_before = env.portfolio.balance(Venue.KALSHI, "USD")
    # the venue's stream reports the same trade at a better price and a smaller fee
    env.engine.on_event(msgspec.structs.replace(first, price=D("0.54"), fee=D("0.17")))
    # and the same report again: a duplicate, no change
    env.engine.on_event(msgspec.structs.replace(first, price=D("0.54"), fee=D("0.17")))
    assert env.portfolio.balance(Venue.KALSHI, "USD") == cash_before + D("0.10") + D("0.01")
    assert env.portfolio.position(Venue.KALSHI, KALSHI_NO.id) == 10
    env.journal.flush_sync(5)
    corr = [r.decode() for r in env.journal.replay(kinds=["FillCorrected"])]
    assert len(corr) == 1 and isinstance(corr[0], FillCorrected)
    assert (corr[0].old_price, corr[0].new_price, corr[0].old_fee, corr[0].new_fee) == (D("0.55"), D("0.54"), D("0.18"), D("0.17"))


async def test_failed_settlement_reverses_the_fill_and_alerts(env_factory):
    env = env_factory()
    await env.run(env.engine.execute(cross_venue_intent("rf-2", T0)))
    fill = next(r.decode() for r in env.journal.replay(correlation_id="rf-2", kinds=["OrderFilled"])
                if r.decode().instrument_id == POLY_YES.id)
    env.engine.on_event(FillStatusChanged(venue=Venue.POLYMARKET, trade_id=fill.trade_id, client_order_id=fill.client_order_id,
                                          status=FillStatus.FAILED, reason="chain tx failed"))
    assert env.portfolio.position(Venue.POLYMARKET, POLY_YES.id) == 0
    assert env.portfolio.balance(Venue.POLYMARKET, "pUSD") == D("1000")
    kinds = replay_kinds(env.journal, "rf-2")
    # the Kalshi leg is now unmatched: the journal says so and the saga is reopened to hedge it
    assert kinds[-4:] == ["FillStatusChanged", "ResidualAlerted", "SagaReopened", "FillCorrected"]
    alert = [r.decode() for r in env.journal.replay(correlation_id="rf-2", kinds=["ResidualAlerted"])][-1]
    assert [(r.asset, r.quantity) for r in alert.residuals] == [(KALSHI_NO.id, D("10"))]
    assert "rf-2" in env.engine.risk.in_flight  # counts against risk again while it hedges
    rep = await env.run(env.engine.wait("rf-2"))
    assert rep.status is ExecutionStatus.HEDGED
    assert env.portfolio.position(Venue.KALSHI, KALSHI_NO.id) == 0
    assert "rf-2" not in env.engine.risk.in_flight
    reports = [r.decode().report for r in env.journal.replay(correlation_id="rf-2", kinds=["ExecutionReported"])]
    assert [r.status.value for r in reports] == ["FILLED", "HEDGED"]
    # the day's P&L holds the second report's profit, not both
    assert env.engine.risk.pnl_today == reports[-1].profit


async def test_unreported_fill_booked_provisionally_then_replaced(env_factory):
    from exec_kit import drive

    env0 = env_factory()
    reg = env0.snapshots
    kal = WithholdingBackend(PaperBackend(Venue.KALSHI, env0.clock, reg, PaperConfig(), {"USD": D("1000")}))
    env0.journal.close_sync()
    env = env_factory(backends={Venue.POLYMARKET: env0.backends[Venue.POLYMARKET], Venue.KALSHI: kal},
                      clock=env0.clock, path=env0.path.with_name("j2.db"))
    intent = cross_venue_intent("rf-3", T0, no_asks=(("0.53", "100"),), timeout_s=1.0)
    rep = await drive(env.clock, env.engine.execute(intent))
    # the venue said FILLED with no fill record: booked at the 0.55 limit, provisionally
    no_leg = rep.legs[1]
    assert rep.status is ExecutionStatus.FILLED and no_leg.filled_quantity == 10 and no_leg.avg_price == D("0.55")
    assert env.portfolio.position(Venue.KALSHI, KALSHI_NO.id) == 10
    cash_prov = env.portfolio.balance(Venue.KALSHI, "USD")
    # the real fill arrives late at 0.53: it replaces the stand-in, position unchanged
    for f in kal.withheld:
        env.engine.on_event(f)
    assert env.portfolio.position(Venue.KALSHI, KALSHI_NO.id) == 10
    real_fee = kal.withheld[0].fee
    assert env.portfolio.balance(Venue.KALSHI, "USD") == cash_prov + D("0.20") + (D("0.18") - real_fee)
    of = env.engine.fills.get("rf-3-L1-A0")
    assert of.filled == 10 and of.avg_price == D("0.53")
    assert "ResidualAlerted" not in replay_kinds(env.journal, "rf-3")


async def test_startup_reconciliation_reports_differences(env_factory):
    env = env_factory()
    await env.run(env.engine.execute(cross_venue_intent("rs-1", T0)))
    res = await startup_reconcile(env.engine)
    assert all(r.ok for r in res), [r.differences for r in res]
    # someone placed an order by hand and traded outside arbkit
    poly = env.backends[Venue.POLYMARKET]
    await poly.submit(OrderRequest(instrument=POLY_YES, client_order_id="manual-1", side=Side.BUY, quantity=D("5"),
                                   price=D("0.30"), order_type=OrderType.LIMIT, time_in_force=TimeInForce.GTC))
    res = {r.venue: r for r in await startup_reconcile(env.engine)}
    assert res[Venue.KALSHI].ok
    p = res[Venue.POLYMARKET]
    assert p.unknown_open_orders == ["manual-1"] and not p.ok
    assert any("manual-1" in d for d in p.differences)
    env.journal.flush_sync(5)
    recs = [r.decode() for r in env.journal.replay(kinds=["ReconciliationReported"])]
    assert isinstance(recs[-1], ReconciliationReported) and len(recs) == 6
    # a position the journal cannot explain
    poly.shares[POLY_YES.id] += D("3")
    res = {r.venue: r for r in await startup_reconcile(env.engine, cancel_unknown_orders=True)}
    assert f"position {POLY_YES.id}: venue 13.00, journal 10.00" in res[Venue.POLYMARKET].differences
    assert res[Venue.POLYMARKET].canceled == ["manual-1"]
    assert env.portfolio.position(Venue.POLYMARKET, POLY_YES.id) == 13  # the venue is the truth


async def test_unreachable_venue_is_reported(env_factory):
    env = env_factory()

    async def boom():
        raise ConnectionError("venue down")

    env.backends[Venue.KALSHI].open_orders = boom
    res = {r.venue: r for r in await startup_reconcile(env.engine)}
    assert not res[Venue.KALSHI].ok and "venue down" in res[Venue.KALSHI].fetch_error
