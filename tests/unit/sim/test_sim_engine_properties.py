"""Property tests of the matching engine (hypothesis).

- invariants after every operation: no negative balance or position, reservations equal what the
  open orders need, cash conserved (accounts + locked collateral + fees), YES supply == NO supply ==
  locked collateral, book never crossed;
- fills equal those of a naive reference model of price-time priority over the unified YES-terms
  book (which is also what complement matching means).
"""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbkit.core.clock import SimClock
from arbkit.core.enums import Side
from arbkit.core.fees import FeeSpec
from arbkit.sim.accounts import cash_to_units, size_to_lots
from arbkit.sim.engine import (
    PRICE_ONE,
    MarketSpec,
    MatchingEngine,
    OrderKind,
    OrderParams,
    SettlementConfig,
    StpMode,
    Tif,
    price_to_units,
)
from arbkit.sim.events import Outcome, SimOrderStatus
from arbkit.sim.faults import FaultKind, FaultPlan, FaultSpec

ACCOUNTS = ("a", "b", "c")
FEES = [
    FeeSpec(),
    FeeSpec(kind="polymarket", taker_rate=D("0.25"), exponent=2),
    FeeSpec(kind="kalshi", taker_rate=D("0.07"), maker_rate=D("0.0175")),
]

order_st = st.fixed_dictionaries(
    {
        "op": st.sampled_from(["order"] * 6 + ["cancel", "advance"]),
        "acct": st.sampled_from(ACCOUNTS),
        "outcome": st.sampled_from([Outcome.YES, Outcome.NO]),
        "side": st.sampled_from([Side.BUY, Side.SELL]),
        "price_ticks": st.integers(1, 99),
        "size": st.integers(1, 40),
        "tif": st.sampled_from([Tif.GTC, Tif.GTC, Tif.IOC, Tif.FOK, Tif.GTD]),
        "market": st.booleans(),
        "post_only": st.booleans(),
        "pick": st.integers(0, 10_000),
        "max_notional": st.one_of(st.none(), st.integers(1, 2_000)),
    }
)


def _kalshi_fee_model():
    """Kalshi's per-order fee rounding hook (the Kalshi simulator's)."""
    from arbkit.sim.kalshi.fees import KalshiFeeModel

    return KalshiFeeModel()


def _engine(fee: FeeSpec, cash: str, instant: bool, fail_trades: bool, stp: StpMode, kalshi: bool = False):
    clock = SimClock()
    plan = FaultPlan(clock)
    if fail_trades:
        plan.add(FaultSpec(kind=FaultKind.TRADE_FAILED, after=1, times=3))
    eng = MatchingEngine(
        "kalshi" if kalshi else "polymarket",
        clock,
        settlement=SettlementConfig(instant=instant),
        faults=plan,
        stp=stp,
        order_id_style="seq",
        auto_net=kalshi,
        fee_fn=_kalshi_fee_model() if kalshi else None,
    )
    eng.add_market(MarketSpec(market_id="m", yes_symbol="Y", no_symbol="N", fee=fee, size_increment=D(1)))
    for a in ACCOUNTS:
        eng.accounts.create(a, {"USDC": D(cash)})
    return eng, clock


def _params(step: dict, eng: MatchingEngine) -> OrderParams:
    sym = "Y" if step["outcome"] is Outcome.YES else "N"
    price = D(step["price_ticks"]) / 100
    tif = step["tif"]
    kind = OrderKind.MARKET if step["market"] and tif in (Tif.IOC, Tif.FOK) else OrderKind.LIMIT
    return OrderParams(
        account_id=step["acct"],
        symbol=sym,
        side=step["side"],
        size=D(step["size"]),
        price=None if kind is OrderKind.MARKET and step["pick"] % 2 else price,
        kind=kind,
        tif=tif,
        post_only=step["post_only"] and tif in (Tif.GTC, Tif.GTD),
        expire_at_ns=eng.clock.now_ns() + 3 * 10**9 if tif is Tif.GTD else 0,
        max_notional=D(step["max_notional"]) / 100 if step["max_notional"] and step["side"] is Side.BUY else None,
    )


def _check_invariants(eng: MatchingEngine, initial_units: int, held_possible: bool) -> None:
    acc = eng.accounts
    assert acc.all_non_negative()
    cash = acc.total_cash_units("USDC")
    collateral = cash_to_units(eng.collateral_locked("m"))
    fees = cash_to_units(eng.fees_total("USDC"))
    assert cash + collateral + fees == initial_units, "cash not conserved"
    yes = acc.total_pos_lots("m", Outcome.YES)
    no = acc.total_pos_lots("m", Outcome.NO)
    assert yes == no == collateral // PRICE_ONE and collateral % PRICE_ONE == 0, "shares not conserved"
    bb, ba = eng.best("m", Outcome.YES)
    assert bb is None or ba is None or bb < ba, "book crossed"
    # reservations are exactly what open orders hold (plus held receipts of doomed trades)
    open_orders = eng.open_orders()
    for a in ACCOUNTS:
        res_cash = sum(eng._orders[o.order_id].res_cash_u for o in open_orders if o.account_id == a)
        slot = acc._cash_slot(a, "USDC")
        if held_possible:
            assert slot[1] >= res_cash
        else:
            assert slot[1] == res_cash
        for outcome in Outcome:
            res_pos = sum(size_to_lots(o.remaining) for o in open_orders if o.account_id == a and o.outcome is outcome and o.side is Side.SELL)
            pslot = acc._pos_slot(a, "m", outcome)
            assert pslot[1] >= res_pos if held_possible else pslot[1] == res_pos
    # book levels equal the sum of resting remainders
    view = eng.book("m", Outcome.YES)
    total_book = sum(s for _, s in view.bids) + sum(s for _, s in view.asks)
    assert total_book == sum(o.remaining for o in open_orders)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(order_st, min_size=1, max_size=60),
    fee_i=st.integers(0, 2),
    cash=st.sampled_from(["3", "25", "1000"]),
    instant=st.booleans(),
    fail_trades=st.booleans(),
    stp=st.sampled_from(list(StpMode)),
    seed_sets=st.integers(0, 30),
    kalshi=st.booleans(),
)
def test_invariants_hold_after_every_operation(steps, fee_i, cash, instant, fail_trades, stp, seed_sets, kalshi):
    """``kalshi``: instant settlement, YES+NO netting and Kalshi's per-order fee rounding hook."""
    if kalshi:
        instant, fail_trades = True, False
    eng, clock = _engine(FEES[fee_i], cash, instant, fail_trades and not instant, stp, kalshi=kalshi)
    initial = cash_to_units(D(cash)) * len(ACCOUNTS)
    for a in ACCOUNTS:
        n = min(seed_sets, int(D(cash)))
        if n:
            eng.mint_for(a, "m", D(n))
    for step in steps:
        if step["op"] == "order":
            eng.submit(_params(step, eng))
        elif step["op"] == "cancel":
            live = eng.open_orders()
            if live:
                o = live[step["pick"] % len(live)]
                assert eng.cancel(o.account_id, o.order_id).ok
        else:
            clock.advance(step["pick"] % 4)
            eng.on_time()
        _check_invariants(eng, initial, held_possible=fail_trades and not instant)
    clock.advance(10)
    eng.on_time()
    _check_invariants(eng, initial, held_possible=False)


# --- reference model of price-time priority on the unified book ------------------------------------


class _Ref:
    """Naive: a list of resting orders in YES terms; match by best price then arrival."""

    def __init__(self) -> None:
        self.resting: list[dict] = []

    def submit(self, oid: str, acct: str, is_bid: bool, yes_price: int, size: int, rest: bool) -> list[tuple[str, int, int]]:
        fills = []
        while size > 0:
            cands = [r for r in self.resting if r["is_bid"] != is_bid and (r["price"] <= yes_price if is_bid else r["price"] >= yes_price)]
            if not cands:
                break
            cands.sort(key=lambda r: ((r["price"] if is_bid else -r["price"]), r["seq"]))
            best = cands[0]
            if best["acct"] == acct:  # CANCEL_RESTING
                self.resting.remove(best)
                continue
            q = min(size, best["rem"])
            fills.append((best["oid"], best["price"], q))
            best["rem"] -= q
            size -= q
            if best["rem"] == 0:
                self.resting.remove(best)
        if size > 0 and rest:
            self.resting.append({"oid": oid, "acct": acct, "is_bid": is_bid, "price": yes_price, "rem": size, "seq": int(oid[1:])})
        return fills


@settings(max_examples=150, deadline=None)
@given(st.lists(
    st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(list(Outcome)), st.sampled_from(list(Side)), st.integers(30, 70),
              st.integers(1, 20), st.sampled_from([Tif.GTC, Tif.IOC])),
    min_size=1, max_size=50,
))
def test_fills_match_reference_price_time_priority(orders):
    eng, _ = _engine(FeeSpec(), "1000000", True, False, StpMode.CANCEL_RESTING)
    for a in ACCOUNTS:
        eng.mint_for(a, "m", D(10_000))  # everyone can sell either outcome
    ref = _Ref()
    for acct, outcome, side, ticks, size, tif in orders:
        sym = "Y" if outcome is Outcome.YES else "N"
        res = eng.submit(OrderParams(account_id=acct, symbol=sym, side=side, size=D(size), price=D(ticks) / 100, tif=tif))
        assert res.accepted
        own = price_to_units(D(ticks) / 100)
        is_bid = (outcome is Outcome.YES) == (side is Side.BUY)
        yes_price = own if outcome is Outcome.YES else PRICE_ONE - own
        expected = ref.submit(res.order.order_id, acct, is_bid, yes_price, size * 100, rest=tif is Tif.GTC)
        got = [(t.maker_order_id, price_to_units(t.price_yes), size_to_lots(t.size)) for t in res.trades]
        assert got == expected
        for t in res.trades:
            # complement: each side pays/receives its own outcome's price, and they sum to 1
            if t.taker_outcome is t.maker_outcome:
                assert t.taker_price == t.maker_price
            else:
                assert t.taker_price + t.maker_price == 1
        if res.order.status is SimOrderStatus.FILLED:
            assert res.order.remaining == 0 and res.order.filled == D(size)
