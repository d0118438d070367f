"""Matching engine: priority, complement matching, order types, STP, funding, fees, settlement."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from arbkit.core.clock import SimClock
from arbkit.core.enums import LiquiditySide, Side
from arbkit.core.fees import FeeSpec, kalshi_fee, polymarket_fee
from arbkit.sim.engine import (
    MarketSpec,
    MatchingEngine,
    OrderKind,
    OrderParams,
    RejectCode,
    SettlementConfig,
    StpMode,
    Tif,
)
from arbkit.sim.events import (
    BalanceChanged,
    BookLevelChanged,
    MatchKind,
    OrderUpdated,
    OrderUpdateKind,
    Outcome,
    SimOrderStatus,
    TradeExecuted,
    TradeStatus,
    TradeStatusChanged,
)
from arbkit.sim.faults import FaultKind, FaultPlan, FaultSpec

PM_FEE = FeeSpec(kind="polymarket", taker_rate=D("0.25"), exponent=2)


def make(
    *,
    fee: FeeSpec = FeeSpec(),
    stp: StpMode = StpMode.CANCEL_RESTING,
    instant: bool = True,
    faults: bool = False,
    accounts=("a", "b", "c"),
    cash: str = "1000",
    **spec_kw,
):
    clock = SimClock()
    plan = FaultPlan(clock) if faults else None
    eng = MatchingEngine("polymarket", clock, stp=stp, settlement=SettlementConfig(instant=instant), faults=plan, order_id_style="seq")
    eng.add_market(MarketSpec(market_id="m", yes_symbol="Y", no_symbol="N", fee=fee, **spec_kw))
    for a in accounts:
        eng.accounts.create(a, {"USDC": D(cash)})
    return eng, clock, plan


def lim(acct, sym, side, size, price, **kw):
    return OrderParams(account_id=acct, symbol=sym, side=side, size=D(size), price=D(price), **kw)


BUY, SELL = Side.BUY, Side.SELL


def test_price_time_priority_and_maker_price():
    eng, _, _ = make(accounts=("a", "b", "c", "d"))
    o1 = eng.submit(lim("a", "Y", BUY, "10", "0.40")).order
    o2 = eng.submit(lim("b", "Y", BUY, "10", "0.41")).order
    o3 = eng.submit(lim("c", "Y", BUY, "10", "0.41")).order
    eng.mint_for("d", "m", D("100"))
    r = eng.submit(lim("d", "Y", SELL, "25", "0.39"))
    assert [t.maker_order_id for t in r.trades] == [o2.order_id, o3.order_id, o1.order_id]
    assert [t.price_yes for t in r.trades] == [D("0.41"), D("0.41"), D("0.40")]  # maker's price
    assert [t.size for t in r.trades] == [D(10), D(10), D(5)]
    assert eng.order(o1.order_id).remaining == D(5)
    assert r.order.status is SimOrderStatus.FILLED


def test_complement_mint_merge_transfer_and_mirrored_views():
    eng, _, _ = make()
    # BUY YES 0.40 rests; a BUY NO at 0.60 (>= 1 - 0.40) mints a pair against it
    eng.submit(lim("a", "Y", BUY, "10", "0.40"))
    assert eng.book("m", Outcome.NO).asks == [(D("0.6000"), D("10.00"))]
    r = eng.submit(lim("b", "N", BUY, "10", "0.65"))
    (t,) = r.trades
    assert t.kind is MatchKind.MINT
    assert (t.maker_price, t.taker_price) == (D("0.4000"), D("0.6000"))
    assert eng.collateral_locked("m") == D(10)
    assert eng.accounts.position("a", "m", Outcome.YES).size == D(10)
    assert eng.accounts.position("b", "m", Outcome.NO).size == D(10)
    assert eng.accounts.balance("a", "USDC").total == D(996)
    assert eng.accounts.balance("b", "USDC").total == D(994)
    # SELL NO at 0.55 rests as a YES bid at 0.45; SELL YES at 0.45 merges against it
    eng.submit(lim("b", "N", SELL, "4", "0.55"))
    assert eng.book("m", Outcome.YES).bids == [(D("0.4500"), D("4.00"))]
    assert eng.book("m", Outcome.NO).asks == [(D("0.5500"), D("4.00"))]
    r = eng.submit(lim("a", "Y", SELL, "4", "0.45"))
    assert r.trades[0].kind is MatchKind.MERGE
    assert eng.collateral_locked("m") == D(6)
    # plain transfer: SELL NO vs BUY NO
    eng.submit(lim("b", "N", SELL, "2", "0.70"))
    r = eng.submit(lim("c", "N", BUY, "2", "0.70"))
    assert r.trades[0].kind is MatchKind.TRANSFER
    assert eng.accounts.position("c", "m", Outcome.NO).size == D(2)
    # views mirror each other at every point
    yes, no = eng.book("m", Outcome.YES), eng.book("m", Outcome.NO)
    assert [(1 - p, s) for p, s in yes.asks] == no.bids
    assert [(1 - p, s) for p, s in yes.bids] == no.asks


def test_buy_yes_does_not_match_buy_no_below_complement():
    eng, _, _ = make()
    eng.submit(lim("a", "Y", BUY, "10", "0.40"))
    r = eng.submit(lim("b", "N", BUY, "10", "0.59"))
    assert r.trades == [] and r.order.status is SimOrderStatus.OPEN
    assert eng.best("m", Outcome.YES) == (D("0.4000"), D("0.4100"))


def test_ioc_fok_market_and_post_only():
    eng, _, _ = make()
    eng.submit(lim("a", "N", BUY, "10", "0.50"))  # YES ask 0.50 x10
    r = eng.submit(lim("b", "Y", BUY, "15", "0.50", tif=Tif.IOC))
    assert r.accepted and r.order.status is SimOrderStatus.CANCELED and r.order.filled == D(10)
    assert r.order.reason == "IOC_REMAINDER"
    eng.submit(lim("a", "N", BUY, "10", "0.50"))
    r = eng.submit(lim("b", "Y", BUY, "15", "0.50", tif=Tif.FOK))
    assert not r.accepted and r.code is RejectCode.FOK_NOT_FILLABLE
    assert eng.book("m").asks == [(D("0.5000"), D("10.00"))]  # nothing traded
    assert eng.accounts.balance("b", "USDC").reserved == 0
    r = eng.submit(lim("b", "Y", BUY, "5", "0.55", post_only=True))
    assert not r.accepted and r.code is RejectCode.POST_ONLY_WOULD_CROSS
    # market order walking depth with no bound, then one that finds nothing
    eng.submit(lim("a", "N", BUY, "10", "0.45"))
    r = eng.submit(OrderParams(account_id="c", symbol="Y", side=BUY, size=D(15), kind=OrderKind.MARKET, tif=Tif.FOK))
    assert r.accepted and r.order.filled == D(15) and [t.price_yes for t in r.trades] == [D("0.50"), D("0.55")]
    r = eng.submit(OrderParams(account_id="c", symbol="Y", side=BUY, size=D(50), kind=OrderKind.MARKET, tif=Tif.IOC))
    assert r.accepted and r.order.status is SimOrderStatus.CANCELED and r.order.filled == D(5)
    r = eng.submit(OrderParams(account_id="c", symbol="Y", side=BUY, size=D(5), kind=OrderKind.MARKET, tif=Tif.IOC))
    assert r.accepted and r.order.reason == "NO_MATCH" and r.trades == []
    r = eng.submit(OrderParams(account_id="c", symbol="Y", side=BUY, size=D(5), kind=OrderKind.MARKET, tif=Tif.GTC))
    assert not r.accepted and r.code is RejectCode.INVALID_ORDER


def test_max_notional_caps_a_market_buy():
    eng, _, _ = make()
    eng.submit(lim("a", "N", BUY, "100", "0.50"))
    r = eng.submit(
        OrderParams(account_id="b", symbol="Y", side=BUY, size=D(100), kind=OrderKind.MARKET, tif=Tif.IOC, max_notional=D("10.25"))
    )
    assert r.order.filled == D("20.50")  # 10.25 / 0.50
    assert eng.accounts.balance("b", "USDC").total == D("989.75")
    assert eng.accounts.balance("b", "USDC").reserved == 0


@pytest.mark.parametrize(
    ("params", "code"),
    [
        (dict(size="10", price="0.405"), RejectCode.INVALID_PRICE_TICK),
        (dict(size="10", price="0.00001"), RejectCode.INVALID_PRICE_TICK),
        (dict(size="10", price="1.00"), RejectCode.PRICE_OUT_OF_RANGE),
        (dict(size="10", price="0"), RejectCode.PRICE_OUT_OF_RANGE),
        (dict(size="10.005", price="0.40"), RejectCode.INVALID_SIZE_INCREMENT),
        (dict(size="4", price="0.40"), RejectCode.SIZE_BELOW_MIN),
        (dict(size="0", price="0.40"), RejectCode.INVALID_ORDER),
        (dict(size="100000", price="0.40"), RejectCode.INSUFFICIENT_BALANCE),
    ],
)
def test_structured_rejects(params, code):
    eng, _, _ = make(min_size=D(5))
    r = eng.submit(lim("a", "Y", BUY, **params))
    assert not r.accepted and r.code is code and r.message
    assert r.order.status is SimOrderStatus.REJECTED
    assert eng.accounts.balance("a", "USDC").reserved == 0


def test_unknown_market_account_sell_without_shares_and_duplicate_client_id():
    eng, _, _ = make()
    assert eng.submit(lim("a", "ZZZ", BUY, "1", "0.5")).code is RejectCode.UNKNOWN_MARKET
    assert eng.submit(lim("nobody", "Y", BUY, "1", "0.5")).code is RejectCode.UNKNOWN_ACCOUNT
    r = eng.submit(lim("a", "Y", SELL, "1", "0.5"))
    assert r.code is RejectCode.INSUFFICIENT_POSITION and "not enough balance / allowance" in r.message
    assert eng.submit(lim("a", "Y", BUY, "1", "0.3", client_order_id="x")).accepted
    assert eng.submit(lim("a", "Y", BUY, "1", "0.3", client_order_id="x")).code is RejectCode.DUPLICATE_CLIENT_ORDER_ID
    assert eng.submit(lim("b", "Y", BUY, "1", "0.3", client_order_id="x")).accepted  # per account
    r = eng.submit(lim("a", "Y", BUY, "1", "0.3", order_id="1"))  # "o1" is taken, "1" is not
    assert r.accepted
    r = eng.submit(lim("a", "Y", BUY, "1", "0.3", order_id="1"))
    assert r.code is RejectCode.DUPLICATE_ORDER_ID and eng.order("1").status is SimOrderStatus.OPEN


def test_reservations_and_cancel():
    eng, _, _ = make(cash="10")
    r = eng.submit(lim("a", "Y", BUY, "20", "0.40"))
    assert eng.accounts.balance("a", "USDC").available == D(2)
    assert eng.submit(lim("a", "Y", BUY, "10", "0.30")).code is RejectCode.INSUFFICIENT_BALANCE
    c = eng.cancel("b", r.order.order_id)
    assert not c.ok and c.code is RejectCode.NOT_OWNER
    c = eng.cancel("a", r.order.order_id)
    assert c.ok and c.order.status is SimOrderStatus.CANCELED
    assert eng.cancel("a", r.order.order_id).code is RejectCode.ORDER_NOT_OPEN
    assert eng.cancel("a", "nope").code is RejectCode.ORDER_NOT_FOUND
    assert eng.accounts.balance("a", "USDC").available == D(10)
    ids = [eng.submit(lim("a", "Y", BUY, "5", p)).order.order_id for p in ("0.10", "0.20", "0.30")]
    res = eng.cancel_many("a", ids[:2] + ["zz"])
    assert [res[i].ok for i in ids[:2]] == [True, True] and res["zz"].code is RejectCode.ORDER_NOT_FOUND
    assert [o.order_id for o in eng.cancel_all("a")] == ids[2:]
    assert eng.open_orders("a") == [] and eng.accounts.balance("a", "USDC").reserved == 0


@pytest.mark.parametrize("mode", [StpMode.CANCEL_RESTING, StpMode.REJECT_TAKER])
def test_self_trade_prevention(mode):
    eng, _, _ = make(stp=mode)
    own = eng.submit(lim("a", "N", BUY, "10", "0.60")).order  # YES ask 0.40
    eng.submit(lim("b", "N", BUY, "10", "0.59"))  # YES ask 0.41 (other account)
    r = eng.submit(lim("a", "Y", BUY, "5", "0.45"))
    if mode is StpMode.CANCEL_RESTING:
        assert r.accepted and r.trades[0].maker_account == "b" and r.order.filled == D(5)
        assert eng.order(own.order_id).status is SimOrderStatus.CANCELED and eng.order(own.order_id).reason == "SELF_TRADE"
    else:
        assert not r.accepted and r.code is RejectCode.SELF_TRADE and r.trades == []
        assert eng.order(own.order_id).status is SimOrderStatus.OPEN
        assert eng.accounts.balance("a", "USDC").reserved == D(6)  # only the resting order's


def test_polymarket_taker_fee_and_kalshi_maker_fee():
    eng, _, _ = make(fee=PM_FEE)
    eng.submit(lim("a", "Y", BUY, "100", "0.30"))
    r = eng.submit(lim("b", "N", BUY, "100", "0.70"))
    t = r.trades[0]
    assert t.taker_fee == polymarket_fee(D("0.70"), D(100), D("0.25"), 2) and t.maker_fee == 0
    assert eng.accounts.balance("b", "USDC").total == D(1000) - D(70) - t.taker_fee
    assert eng.fees_total("USDC") == t.taker_fee
    kfee = FeeSpec(kind="kalshi", taker_rate=D("0.07"), maker_rate=D("0.0175"))
    eng, _, _ = make(fee=kfee)
    eng.submit(lim("a", "Y", BUY, "10", "0.30"))
    t = eng.submit(lim("b", "N", BUY, "10", "0.70")).trades[0]
    assert t.taker_fee == kalshi_fee(D("0.70"), D(10), D("0.07")) == D("0.15")
    assert t.maker_fee == kalshi_fee(D("0.30"), D(10), D("0.0175")) == D("0.04")


def test_fee_hook_and_auto_net():
    calls = []

    def hook(order, spec, own_price, size, liq, cash_delta):
        calls.append((order.account_id, own_price, size, liq, cash_delta))
        return D("0.0123") if liq is LiquiditySide.TAKER else D("-0.0100")

    clock = SimClock()
    eng = MatchingEngine("kalshi", clock, settlement=SettlementConfig(instant=True), auto_net=True, fee_fn=hook)
    eng.add_market(MarketSpec(market_id="K", yes_symbol="K:yes", no_symbol="K:no", currency="USD", size_increment=D(1)))
    eng.accounts.create("a", {"USD": D(100)})
    eng.accounts.create("b", {"USD": D(100)})
    eng.submit(lim("a", "K:yes", BUY, "10", "0.30"))
    eng.submit(lim("b", "K:no", BUY, "10", "0.70"))
    assert calls == [
        ("a", D("0.3000"), D("10.00"), LiquiditySide.MAKER, D("-3.000000")),
        ("b", D("0.7000"), D("10.00"), LiquiditySide.TAKER, D("-7.000000")),
    ]
    assert eng.accounts.balance("a", "USD").total == D("97.01")  # rebate
    # a now buys NO too: the YES+NO pair nets back to cash at once
    eng.submit(lim("b", "K:no", BUY, "4", "0.60"))  # rests as a YES ask at 0.40
    eng.submit(lim("a", "K:no", BUY, "4", "0.65"))  # rests as a YES ask at 0.35
    eng.accounts.create("c", {"USD": D(100)})
    eng.submit(lim("c", "K:yes", BUY, "4", "0.35"))
    assert eng.accounts.position("a", "K", Outcome.YES).size == D(6)
    assert eng.accounts.position("a", "K", Outcome.NO).size == 0
    assert eng.collateral_locked("K") == D(14) - D(4)


def test_gtd_expiry_and_settlement_with_failed_trade_reversal():
    eng, clock, plan = make(instant=False, faults=True, fee=PM_FEE)
    start = clock.now_ns()
    r = eng.submit(lim("a", "Y", BUY, "10", "0.30", tif=Tif.GTD, expire_at_ns=start + 5 * 10**9))
    assert eng.submit(lim("a", "Y", BUY, "1", "0.30", tif=Tif.GTD, expire_at_ns=start)).code is RejectCode.EXPIRATION_IN_PAST
    batches = []
    eng.subscribe(batches.append)
    plan.add(FaultSpec(kind=FaultKind.TRADE_FAILED, times=1))
    t1 = eng.submit(lim("b", "N", BUY, "4", "0.70")).trades[0]  # doomed
    t2 = eng.submit(lim("c", "N", BUY, "4", "0.70")).trades[0]  # fine
    assert t1.status is TradeStatus.MATCHED
    # what b received is held until the failure: it cannot sell the NO shares
    assert eng.submit(lim("b", "N", SELL, "4", "0.90")).code is RejectCode.INSUFFICIENT_POSITION
    clock.advance(2.5)
    eng.on_time()
    assert eng.trade(t1.trade_id).status is TradeStatus.FAILED
    assert eng.trade(t2.trade_id).status is TradeStatus.MINED
    assert eng.accounts.balance("b", "USDC").total == D(1000)
    assert eng.accounts.position("b", "m", Outcome.NO).size == 0
    assert eng.accounts.position("a", "m", Outcome.YES).size == D(4)  # only the good trade
    clock.advance(2)
    eng.on_time()
    assert eng.trade(t2.trade_id).status is TradeStatus.CONFIRMED
    clock.advance(1)
    eng.on_time()
    assert eng.order(r.order.order_id).status is SimOrderStatus.EXPIRED
    statuses = [e.status for b in batches for e in b if isinstance(e, TradeStatusChanged)]
    assert statuses == [TradeStatus.FAILED, TradeStatus.MINED, TradeStatus.CONFIRMED]
    assert eng.accounts.balance("a", "USDC").reserved == 0
    total = sum(eng.accounts.balance(x, "USDC").total for x in "abc")
    assert total + eng.collateral_locked("m") + eng.fees_total("USDC") == D(3000)


def test_fault_reject_partial_only_and_halt():
    eng, _, plan = make(faults=True)
    plan.add(FaultSpec(kind=FaultKind.ORDER_REJECT, times=1, message="risk check"))
    r = eng.submit(lim("a", "Y", BUY, "10", "0.30"))
    assert r.code is RejectCode.FAULT_REJECT and r.message == "risk check"
    eng.submit(lim("a", "Y", BUY, "10", "0.30"))
    plan.add(FaultSpec(kind=FaultKind.PARTIAL_FILL_ONLY, fill_fraction="0.3", times=1))
    r = eng.submit(lim("b", "N", BUY, "10", "0.70"))
    assert r.order.filled == D(3) and r.order.status is SimOrderStatus.CANCELED and r.order.reason == "FAULT"
    plan.add(FaultSpec(kind=FaultKind.VENUE_HALT, venue="polymarket", duration_s=1))
    assert eng.submit(lim("b", "N", BUY, "1", "0.70")).code is RejectCode.MARKET_HALTED
    eng.clock.advance(1)
    assert eng.submit(lim("b", "N", BUY, "1", "0.70")).accepted
    eng.set_halted("m", True)
    assert eng.submit(lim("b", "N", BUY, "1", "0.70")).code is RejectCode.MARKET_HALTED


def test_listener_batches_level_changes_for_both_views():
    eng, _, _ = make()
    batches = []
    eng.subscribe(batches.append)
    eng.submit(lim("a", "Y", BUY, "10", "0.40"))
    b = batches[-1]
    assert [type(e) for e in b] == [OrderUpdated, BookLevelChanged, BookLevelChanged, BalanceChanged]
    yes, no = b[1], b[2]
    assert (yes.outcome, yes.side, yes.price, yes.size, yes.symbol) == (Outcome.YES, BUY, D("0.4000"), D("10.00"), "Y")
    assert (no.outcome, no.side, no.price, no.size, no.symbol) == (Outcome.NO, SELL, D("0.6000"), D("10.00"), "N")
    assert len({e.op for e in b}) == 1 and yes.seq == no.seq == 1
    eng.submit(lim("b", "N", BUY, "4", "0.60"))
    b = batches[-1]
    kinds = [(type(e), getattr(e, "update", None)) for e in b]
    assert kinds[:3] == [(TradeExecuted, None), (OrderUpdated, OrderUpdateKind.PARTIALLY_FILLED), (OrderUpdated, OrderUpdateKind.FILLED)]
    levels = [e for e in b if isinstance(e, BookLevelChanged)]
    assert [(e.outcome, e.size) for e in levels] == [(Outcome.YES, D(6)), (Outcome.NO, D(6))]
    trade = next(e for e in b if isinstance(e, TradeExecuted)).trade
    assert (trade.taker_account, trade.maker_account) == ("b", "a")
    # a failing listener is counted, never breaks the engine
    eng.subscribe(lambda batch: 1 / 0)
    assert eng.submit(lim("c", "Y", BUY, "1", "0.10")).accepted
    assert eng.listener_errors == 1
    assert all(isinstance(e, OrderUpdated) or not isinstance(e, TradeStatusChanged) for e in batches[-1])


def test_reduce_only_caps_size_and_tick_change():
    eng, _, _ = make()
    eng.mint_for("a", "m", D(3))
    r = eng.submit(lim("a", "Y", SELL, "10", "0.60", reduce_only=True))
    assert r.accepted and r.order.size == D(3)
    eng.set_tick_size("m", D("0.001"))
    assert eng.submit(lim("b", "Y", BUY, "1", "0.405")).accepted
    with pytest.raises(ValueError, match="complete sets"):
        eng.merge_for("a", "m", D(3))  # the YES shares are reserved by the resting sell
    eng.cancel("a", r.order.order_id)
    eng.merge_for("a", "m", D(3))
    assert eng.accounts.balance("a", "USDC").total == D(1000) and eng.collateral_locked("m") == 0


def test_a_rejected_order_frees_its_client_order_id():
    eng, _, _ = make()
    eng.submit(lim("a", "N", BUY, "5", "0.50"))
    r = eng.submit(lim("b", "Y", BUY, "5", "0.55", post_only=True, client_order_id="k1"))
    assert r.code is RejectCode.POST_ONLY_WOULD_CROSS
    r = eng.submit(lim("b", "Y", BUY, "50", "0.55", tif=Tif.FOK, client_order_id="k1"))
    assert r.code is RejectCode.FOK_NOT_FILLABLE
    r = eng.submit(lim("b", "Y", BUY, "5", "0.40", client_order_id="k1"))
    assert r.accepted and eng.order_by_client_id("b", "k1").order_id == r.order.order_id
    eng.cancel("b", r.order.order_id)
    assert eng.submit(lim("b", "Y", BUY, "5", "0.40", client_order_id="k1")).accepted  # terminal frees it too


def test_per_order_self_trade_rule_overrides_the_venue_default():
    eng, _, _ = make(stp=StpMode.CANCEL_RESTING)
    own = eng.submit(lim("a", "N", BUY, "10", "0.60")).order
    r = eng.submit(lim("a", "Y", BUY, "5", "0.45", stp=StpMode.REJECT_TAKER))
    assert r.code is RejectCode.SELF_TRADE and eng.order(own.order_id).status is SimOrderStatus.OPEN
    eng2, _, _ = make(stp=StpMode.REJECT_TAKER)
    own = eng2.submit(lim("a", "N", BUY, "10", "0.60")).order
    r = eng2.submit(lim("a", "Y", BUY, "5", "0.45", stp=StpMode.CANCEL_RESTING))
    assert r.accepted and eng2.order(own.order_id).reason == "SELF_TRADE"


def test_neg_risk_event_groups_binary_markets():
    eng, _, _ = make()
    for i, name in enumerate(("A", "B", "Other")):
        eng.add_market(MarketSpec(market_id=f"e-{i}", yes_symbol=f"{name}-y", no_symbol=f"{name}-n", event_id="ev", neg_risk=True))
    assert [m.market_id for m in eng.event_markets("ev")] == ["e-0", "e-1", "e-2"]
    assert eng.resolve("B-n")[0].market_id == "e-1" and eng.resolve("B-n")[1] is Outcome.NO
    with pytest.raises(ValueError, match="already exists"):
        eng.add_market(MarketSpec(market_id="e-0", yes_symbol="q", no_symbol="r"))
    with pytest.raises(ValueError, match="not unique"):
        eng.add_market(MarketSpec(market_id="e-9", yes_symbol="A-y", no_symbol="r"))
