"""Risk engine: every check, synchronous, each denial journaled with its reason."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "execution"))
from exec_kit import BTC_USDT, ETH_BTC, ETH_USDT, KALSHI_NO, POLY_YES, T0, cross_venue_intent, make_limits, triangle_intent  # noqa: E402

from arbkit.core.clock import NS, SimClock  # noqa: E402
from arbkit.core.enums import Side, Venue  # noqa: E402
from arbkit.core.events import BreakerOpened  # noqa: E402
from arbkit.execution.intent import IntentLeg, IsolationKeys  # noqa: E402
from arbkit.execution.portfolio import Portfolio  # noqa: E402
from arbkit.journal.store import Journal  # noqa: E402
from arbkit.risk.engine import Approved, Denied, RiskEngine  # noqa: E402
from arbkit.risk.limits import RateLimit, TokenBucket  # noqa: E402

D = Decimal


@pytest.fixture
def rig(tmp_path):
    clock = SimClock(start_ns=T0)
    journal = Journal.open(tmp_path / "risk.db", clock=clock, commit_interval_ms=0.5)
    pf = Portfolio()
    pf.set_balance(Venue.POLYMARKET, "pUSD", D("100"))
    pf.set_balance(Venue.KALSHI, "USD", D("100"))
    pf.set_balance(Venue.KUCOIN, "USDT", D("5000"))

    def make(**limits) -> RiskEngine:
        return RiskEngine(make_limits(**limits), clock, pf, journal)

    yield clock, journal, pf, make
    journal.close_sync()


def denials(journal):
    journal.flush_sync(5)
    return [(r.decode().check, r.decode().reason) for r in journal.replay(kinds=["RiskDenied"])]


def test_approves_and_reserves_capital(rig):
    clock, journal, pf, make = rig
    risk = make()
    v = risk.check(cross_venue_intent("a", T0), T0)
    assert isinstance(v, Approved)
    # 10 YES at 0.40 + Polymarket fee 0.02*10*0.4*0.6 ; 10 NO at 0.55 + Kalshi fee ceil(0.07*10*.55*.45)
    assert v.reservation.capital == {(Venue.POLYMARKET, "pUSD"): D("4.048000"), (Venue.KALSHI, "USD"): D("5.68")}
    assert risk.capital.available(Venue.KALSHI, "USD") == D("94.32")
    risk.release("a")
    assert risk.capital.reserved == {} and risk.in_flight == {}


def test_stale_book_and_book_older_than_our_last_trade(rig):
    clock, journal, pf, make = rig
    risk = make(max_book_age_s=1.0)
    old = cross_venue_intent("s1", T0 - 2 * NS)
    v = risk.check(old, T0)
    assert isinstance(v, Denied) and v.check == "stale" and "old" in v.reason
    # we traded on this signal key at T0: a book from before that is stale even if young
    risk.last_trade_ns["map-1"] = T0
    v = risk.check(cross_venue_intent("s2", T0 - NS // 2), T0)
    assert isinstance(v, Denied) and "predates our last trade" in v.reason
    assert isinstance(risk.check(cross_venue_intent("s3", T0 + 1), T0 + 2), Approved)
    no_book = msgspec.structs.replace(cross_venue_intent("s4", T0), books=[])
    assert risk.check(no_book, T0).reason.startswith("no book snapshot")
    assert [c for c, _ in denials(journal)] == ["stale", "stale", "stale"]


def test_leg_minimum_after_quantisation(rig):
    clock, journal, pf, make = rig
    risk = make()
    v = risk.check(cross_venue_intent("m", T0, qty="5.009"), T0)  # Kalshi floors 5.009 to 5: fine
    assert isinstance(v, Approved)
    risk.release("m")
    v = risk.check(cross_venue_intent("m2", T0, qty="4.999"), T0)  # Polymarket floors to 4.99 < 5
    assert isinstance(v, Denied) and v.check == "minimum" and "below minimum 5" in v.reason


def test_exposure_limits(rig):
    clock, journal, pf, make = rig
    v = make(max_order_notional=D("5")).check(cross_venue_intent("e1", T0), T0)
    assert v.check == "exposure" and "leg 1: order notional 5.50 > 5" in v.reason
    pf.apply_fill(POLY_YES, Side.BUY, D("5"), D("0.40"), D("0"), "pUSD")  # 2.00 already held
    v = make(max_market_exposure=D("5.99")).check(cross_venue_intent("e2", T0), T0)
    assert v.check == "exposure" and v.reason == f"market {POLY_YES.id} exposure 6.0000 > 5.99"
    assert make(max_market_exposure=D("6")).check(cross_venue_intent("e2b", T0), T0).approved
    v = make(max_venue_exposure=D("5.9")).check(cross_venue_intent("e3", T0), T0)
    assert v.check == "exposure" and v.reason.startswith("venue polymarket exposure 6.0")
    risk = make(max_total_exposure=D("10"), isolate_pairs=False, isolate_mapping=False)
    assert risk.check(cross_venue_intent("e4", T0, qty="5"), T0).approved  # 2 held + 4.75 in flight
    v = risk.check(cross_venue_intent("e5", T0, qty="5"), T0)
    assert v.check == "exposure" and v.reason == "total exposure 11.5000 > 10"
    risk.release("e4")
    assert risk.check(cross_venue_intent("e6", T0, qty="5"), T0).approved


def test_capital_shortfall_and_conversion(rig):
    clock, journal, pf, make = rig
    risk = make(slots=10, isolate_pairs=False, isolate_mapping=False)
    for i in range(18):  # 18 x 5.68 = 102.24 > 100 USD on Kalshi
        v = risk.check(cross_venue_intent(f"c{i}", T0), T0)
        if isinstance(v, Denied):
            break
    assert isinstance(v, Denied) and v.check in ("capital", "slots")
    risk.limits.slots = 100
    while isinstance(v := risk.check(cross_venue_intent(f"d{len(risk.in_flight)}", T0), T0), Approved):
        pass
    assert v.check == "capital" and "USD on kalshi" in v.reason
    assert not risk.capital.over_reserved()
    # a fill spends 5.68: the reservation converts; the balance falls by the same amount
    eid = next(iter(risk.in_flight))
    before = risk.capital.available(Venue.KALSHI, "USD")
    pf.apply_fill(KALSHI_NO, Side.BUY, D("10"), D("0.55"), D("0.18"), "USD")
    risk.on_spent(eid, Venue.KALSHI, "USD", D("5.68"))
    assert risk.capital.available(Venue.KALSHI, "USD") == before
    assert not risk.capital.over_reserved()


def test_slots_changeable_while_running(rig):
    clock, journal, pf, make = rig
    risk = make(slots=1, isolate_pairs=False, isolate_mapping=False)
    assert risk.check(cross_venue_intent("x1", T0), T0).approved
    assert risk.check(cross_venue_intent("x2", T0), T0).check == "slots"
    risk.set_slots(2)
    assert risk.check(cross_venue_intent("x3", T0), T0).approved
    risk.set_slots(0)
    risk.release("x1")
    assert risk.check(cross_venue_intent("x4", T0), T0).check == "slots"


def test_isolation_each_configurable(rig):
    clock, journal, pf, make = rig
    risk = make(slots=10)
    assert risk.check(triangle_intent("t1", T0), T0).approved
    v = risk.check(triangle_intent("t2", T0), T0)
    assert v.check == "isolation" and "triangle" in v.reason
    risk2 = make(slots=10, isolate_triangle=False)
    assert risk2.check(triangle_intent("t3", T0), T0).approved and risk2.check(triangle_intent("t4", T0), T0).approved
    # overlapping pairs / same mapping
    risk3 = make(slots=10)
    assert risk3.check(cross_venue_intent("p1", T0), T0).approved
    assert risk3.check(cross_venue_intent("p2", T0), T0).check == "isolation"
    risk4 = make(slots=10, isolate_pairs=False, isolate_mapping=False, isolate_primary_quote=True)
    assert risk4.check(cross_venue_intent("q1", T0), T0).approved
    v = risk4.check(cross_venue_intent("q2", T0), T0)
    assert v.check == "isolation" and "primary_quote" in v.reason
    other = msgspec.structs.replace(cross_venue_intent("q3", T0), isolation=IsolationKeys(primary_quote="EUR"))
    assert risk4.check(other, T0).approved


def test_daily_loss_limit_trips_the_kill_switch(rig):
    clock, journal, pf, make = rig
    risk = make(daily_loss_limit=D("50"))
    assert risk.check(cross_venue_intent("l1", T0), T0).approved
    risk.release("l1", profit=D("-50.01"))
    assert risk.killswitch.tripped and "daily loss" in risk.killswitch.reason
    v = risk.check(cross_venue_intent("l2", T0), T0)
    assert v.check == "killswitch"
    journal.flush_sync(5)
    assert [r.kind for r in journal.replay(kinds=["KillSwitchTripped"])] == ["KillSwitchTripped"]


def test_kill_switch_breaker_and_command(rig):
    clock, journal, pf, make = rig
    risk = make()
    risk.killswitch.on_breaker(BreakerOpened(task="kalshi.feed", crashes=3, window_s=300.0))
    v = risk.check(cross_venue_intent("k1", T0), T0)
    assert v.check == "killswitch" and "kalshi.feed" in v.reason
    risk.killswitch.reset()
    assert risk.check(cross_venue_intent("k2", T0), T0).approved
    risk.killswitch.trip("operator said so")
    assert risk.check(cross_venue_intent("k3", T0), T0).check == "killswitch"
    assert ("killswitch", "kill switch tripped: operator said so") in denials(journal)
    assert [r.decode().previous_reason for r in journal.replay(kinds=["KillSwitchReset"])] == [
        "breaker opened for kalshi.feed: 3 crashes in 300s"]


def test_order_rate_token_bucket_on_the_clock(rig):
    clock, journal, pf, make = rig
    risk = make(slots=10, isolate_pairs=False, isolate_mapping=False, order_rate={"kalshi": RateLimit(capacity=2, per_second=D("1"))})
    assert risk.check(cross_venue_intent("r1", T0), T0).approved
    assert risk.check(cross_venue_intent("r2", T0), T0).approved
    v = risk.check(cross_venue_intent("r3", T0), T0)
    assert v.check == "rate" and "kalshi" in v.reason
    clock.advance(1.0)
    assert risk.check(cross_venue_intent("r4", T0 + NS), T0 + NS).approved
    # hedges are never refused but do use tokens
    risk.order_sent(Venue.KALSHI)
    assert risk._buckets["kalshi"].tokens == -1


def test_token_bucket_refill_exact():
    clock = SimClock(start_ns=0)
    b = TokenBucket(clock, 3, D("0.5"))
    assert b.take(3) and not b.take(1)
    clock.advance(1.999)
    assert not b.available(1)
    clock.advance(0.001)
    assert b.take(1)
    clock.advance(100)
    assert b.tokens == 3


def test_malformed_intent_denied(rig):
    clock, journal, pf, make = rig
    risk = make()
    bad = msgspec.structs.replace(triangle_intent("bad", T0), legs=[
        IntentLeg(instrument=BTC_USDT, side=Side.BUY, price=D("50000"), funds=D("100")),
        IntentLeg(instrument=KALSHI_NO, side=Side.BUY, price=D("0.5")),
    ])
    v = risk.check(bad, T0)
    assert v.check == "malformed" and "cascade breaks" in v.reason


def test_signal_age_limit(rig):
    clock, journal, pf, make = rig
    risk = make(max_signal_age_s=0.5)
    intent = cross_venue_intent("sa", T0)  # created at T0, books at T0
    clock.set(T0 + NS)
    v = risk.check(intent, T0 + NS // 4)
    assert v.approved
    risk.release("sa")
    v = risk.check(msgspec.structs.replace(intent, execution_id="sb"), T0 + NS)
    assert v.check == "stale" and "signal is 1.000s old" in v.reason


def test_limits_and_hedge_policy_from_node_config():
    from arbkit.execution.intent import HedgeMode, HedgePolicy
    from arbkit.risk.limits import limits_from_config
    from arbkit.runtime.config import ExecutionConfig, IsolationConfig, OrderRateLimits, RiskConfig

    cfg = RiskConfig(max_order_notional=D("100"), max_concurrent_executions=3, max_book_age_ms=1500, max_signal_age_ms=200,
                     order_rate_limits=OrderRateLimits(kalshi=10), isolation=IsolationConfig(same_pair=False, same_primary_quote=True))
    lim = limits_from_config(cfg)
    assert (lim.max_order_notional, lim.slots, lim.max_book_age_s, lim.max_signal_age_s) == (D("100"), 3, 1.5, 0.2)
    assert lim.order_rate["kalshi"].capacity == 10 and "polymarket" not in lim.order_rate
    assert (lim.isolate_pairs, lim.isolate_mapping, lim.isolate_primary_quote, lim.isolate_triangle) == (False, False, True, True)
    hp = HedgePolicy.from_config(ExecutionConfig(hedge_policy="chase", chase_seconds=3.0))
    assert hp.mode is HedgeMode.LIMIT_CHASE and hp.chase_s == 3.0


def test_a_triangle_leg_quoted_in_an_unpriced_currency_is_valued_through_the_intent_s_books(rig):
    """The limits price only the stable currencies; a KuCoin triangle's ETH-BTC leg is quoted in
    BTC. It is valued at the intent's own BTC-USDT ask (never understated), so a configured
    exposure limit applies to it instead of refusing every triangle ("no valuation for BTC")."""
    from arbkit.risk.limits import RiskLimits

    clock, journal, pf, make = rig
    risk = RiskEngine(RiskLimits(max_book_age_s=2.0, slots=4, max_order_notional=D("2000")), clock, pf, journal)
    v = risk.check(triangle_intent("tri-val", T0), T0)
    assert isinstance(v, Approved), v
    # leg 1 (ETH-BTC) planned from 1000 USDT: its BTC notional at the BTC-USDT ask 50000
    value = {iid: x for _, iid, x in risk.in_flight["tri-val"].exposures}
    assert D("900") < value["kucoin:ETH-BTC"] <= D("1000"), value
    risk.release("tri-val")
    tight = RiskEngine(RiskLimits(max_book_age_s=2.0, slots=4, max_order_notional=D("500")), clock, pf, journal)
    d = tight.check(triangle_intent("tri-val-2", T0), T0)
    assert isinstance(d, Denied) and d.check == "exposure" and "order notional" in d.reason


def test_completed_triangles_count_as_the_currency_they_left_not_as_pair_positions(rig):
    """Ten USDT -> BTC -> ETH -> USDT triangles leave BTC-USDT +0.2 BTC, ETH-BTC +4 ETH and ETH-USDT
    -4 ETH as pair "positions" -- 10,000 USDT each -- but almost no currency: exposure is the
    currency held. Before, the per-pair sum denied every later triangle ("market exposure")."""
    from arbkit.risk.limits import RiskLimits

    clock, journal, pf, make = rig
    for _ in range(10):
        pf.apply_fill(BTC_USDT, Side.BUY, D("0.02"), D("50000"), D("0"), "USDT")
        pf.apply_fill(ETH_BTC, Side.BUY, D("0.4"), D("0.05"), D("0"), "BTC")
        pf.apply_fill(ETH_USDT, Side.SELL, D("0.4"), D("2520"), D("0"), "USDT")
    net = pf.spot_currency_net()
    assert net[(Venue.KUCOIN, "ETH")] == 0 and net[(Venue.KUCOIN, "BTC")] == 0
    risk = RiskEngine(RiskLimits(max_book_age_s=2.0, slots=4, max_market_exposure=D("1500"), max_venue_exposure=D("5000"),
                                 valuation={"USDT": D(1)}), clock, pf, journal)
    v = risk.check(triangle_intent("tri-after-ten", T0), T0)
    assert isinstance(v, Approved), v
    risk.release("tri-after-ten")
    # a currency really held still counts: 0.05 BTC left over (2,500 USDT at its average price)
    pf.apply_fill(BTC_USDT, Side.BUY, D("0.05"), D("50000"), D("0"), "USDT")
    d = risk.check(triangle_intent("tri-btc-held", T0), T0)
    assert isinstance(d, Denied) and d.check == "exposure" and "kucoin:BTC" in d.reason, d
