"""Complete-set evaluator on constructed books: the sum of asks, the depth walk, per-outcome fees,
minimums, the augmented neg-risk guard, binaries, Kalshi exclusivity, staleness, in-flight and the
wait for fresh books after our own trade; sets held and the capital they lock."""

from __future__ import annotations

from decimal import Decimal

import pytest

from arbkit.core.book import PredictionBook
from arbkit.core.enums import ConnectionState, InstrumentKind, LiquiditySide, Side, Venue
from arbkit.core.fees import FeeSpec, fee_for
from arbkit.core.instruments import Instrument
from arbkit.execution.intent import Sequencing, validate_intent
from arbkit.execution.report import ExecutionReport, ExecutionStatus, LegReport, StageTimings
from arbkit.strategies.base import BookUpdate, EventOutcome, MultiOutcomeEvent
from arbkit.strategies.complete_set import (
    CompleteSetConfig,
    CompleteSetEvaluator,
    CompleteSetStrategy,
    sets_of,
    structural_problem,
)
from arbkit.strategies.market_state import MarketState

D = Decimal
NOW = 1_800_000_000 * 10**9
POLY_FEE = FeeSpec(kind="polymarket", taker_rate=D("0.25"), exponent=2)


def outcome_inst(venue: Venue, name: str, fee: FeeSpec = FeeSpec(), min_size: Decimal = D(1), market: str | None = None) -> Instrument:
    if venue is Venue.KALSHI:
        return Instrument(venue=venue, symbol=f"KXE-{name}:yes", kind=InstrumentKind.OUTCOME, tick_size=D("0.01"),
                          size_increment=D("0.01"), min_size=D("0.01"), quote="USD", outcome="yes", market_id=f"KXE-{name}", fee=fee)
    return Instrument(venue=venue, symbol=f"tok-{name}", kind=InstrumentKind.OUTCOME, tick_size=D("0.01"),
                      size_increment=D("0.01"), min_size=min_size, quote="pUSD", outcome="YES",
                      market_id=market or f"0x{name}", neg_risk=True, fee=fee, title=name)


def make_event(names: list[str], *, venue: Venue = Venue.POLYMARKET, fee: FeeSpec = FeeSpec(), min_size: Decimal = D(1),
               augmented: bool = False, placeholders: tuple[str, ...] = (), others: tuple[str, ...] = (),
               exhaustive: bool = True, mutually_exclusive: bool = True) -> MultiOutcomeEvent:
    outs = tuple(EventOutcome(label=n, yes=outcome_inst(venue, n, fee, min_size), placeholder=n in placeholders, other=n in others)
                 for n in names)
    return MultiOutcomeEvent(venue=venue, event_id="ev1", title="Who wins?", outcomes=outs, neg_risk=venue is Venue.POLYMARKET,
                             augmented=augmented, mutually_exclusive=mutually_exclusive, exhaustive=exhaustive)


def book(iid: str, asks: list[tuple[str, str]], ts: int = NOW) -> PredictionBook:
    b = PredictionBook(D("0.01"), 2, iid)
    b.apply_snapshot([], [(b.to_tick(D(p)), b.to_lots(D(s))) for p, s in asks], sequence=1, ts_ns=ts)
    return b


class Kit:
    def __init__(self, ev: MultiOutcomeEvent, asks: list[list[tuple[str, str]]], **cfg) -> None:
        self.ev = ev
        self.market = MarketState()
        self.market.set_connection(Venue.POLYMARKET, "polymarket.market.0", ConnectionState.CONNECTED)
        self.market.set_connection(Venue.KALSHI, "kalshi.ws", ConnectionState.CONNECTED)
        for o, a in zip(ev.outcomes, asks):
            self.market.add_book(o.yes.id, book(o.yes.id, a))
        cfg.setdefault("min_edge_bps", D(100))
        cfg.setdefault("max_sets", D(100))
        self.ids = iter(f"cs{i}" for i in range(1000))
        self.ev_ = CompleteSetEvaluator(CompleteSetConfig(**cfg), self.market, clock_ns=lambda: NOW, id_factory=lambda: next(self.ids))
        self.ev_.set_events([ev])

    def decide(self, now: int = NOW):
        return self.ev_.evaluate(self.ev, now)


def test_underpriced_event_buys_one_of_each_as_an_n_leg_set() -> None:
    kit = Kit(make_event(["a", "b", "c"]), [[("0.30", "10")], [("0.30", "10")], [("0.30", "10")]])
    d = kit.decide()
    intent = d.intent
    assert intent is not None and validate_intent(intent) is None
    assert len(intent.legs) == 3 and {leg.quantity for leg in intent.legs} == {D(10)}
    assert all(leg.side is Side.BUY and leg.price == D("0.30") for leg in intent.legs)
    assert intent.sequencing is Sequencing.PARALLEL and intent.set_payout == 1
    assert intent.strategy == "complete_set" and intent.isolation.mapping == kit.ev.key == intent.signal_key
    assert intent.predicted_profit == D(1)  # 10 sets pay 10, cost 9
    assert [b.instrument_id for b in intent.books] == [o.yes.id for o in kit.ev.outcomes]


def test_asks_summing_to_one_or_more_never_trade() -> None:
    kit = Kit(make_event(["a", "b", "c"]), [[("0.34", "100")], [("0.33", "100")], [("0.33", "100")]], min_edge_bps=D(1))
    d = kit.decide()
    assert d.intent is None and kit.ev_.reasons == {"no_edge": 1}


def test_depth_walk_stops_where_one_more_set_costs_one() -> None:
    # a: 5 at 0.30, then 0.40; b and c deep at 0.30: the 6th set costs 1.00 -> 5 sets
    kit = Kit(make_event(["a", "b", "c"]), [[("0.30", "5"), ("0.40", "50")], [("0.30", "50")], [("0.30", "50")]])
    d = kit.decide()
    assert d.intent is not None and d.quote.quantity == D(5)
    assert d.quote.limits == [D("0.30")] * 3


def test_deeper_level_still_profitable_is_taken_and_limit_is_the_worst_level() -> None:
    kit = Kit(make_event(["a", "b"]), [[("0.30", "5"), ("0.40", "10")], [("0.40", "30")]], max_sets=D(12))
    d = kit.decide()
    assert d.quote.quantity == D(12) and d.quote.limits == [D("0.40"), D("0.40")]
    assert d.quote.cost == D(5) * D("0.30") + D(7) * D("0.40") + D(12) * D("0.40")


def test_fees_per_outcome_per_level_are_in_the_price() -> None:
    kit = Kit(make_event(["a", "b", "c"], fee=POLY_FEE), [[("0.20", "10"), ("0.25", "10")], [("0.30", "40")], [("0.30", "40")]],
              min_edge_bps=D(0), max_sets=D(15))
    q = kit.decide().quote
    assert q is not None and q.quantity == D(15)
    fee = lambda p, n: fee_for(POLY_FEE, D(p), D(n), LiquiditySide.TAKER)  # noqa: E731
    expect_fees = [fee("0.20", 10) + fee("0.25", 5), fee("0.30", 15), fee("0.30", 15)]
    assert q.fees == expect_fees
    assert q.cost == D(10) * D("0.20") + D(5) * D("0.25") + D(30) * D("0.30") + sum(expect_fees)


def test_fees_can_remove_the_edge_exactly_at_the_threshold() -> None:
    ev = make_event(["a", "b"], fee=POLY_FEE)
    kit = Kit(ev, [[("0.40", "10")], [("0.50", "10")]], min_edge_bps=D(0), max_sets=D(10))
    q = kit.decide().quote
    edge = q.edge_bps
    assert Kit(ev, [[("0.40", "10")], [("0.50", "10")]], min_edge_bps=edge, max_sets=D(10)).decide().intent is not None
    assert Kit(ev, [[("0.40", "10")], [("0.50", "10")]], min_edge_bps=edge + D("0.01"), max_sets=D(10)).decide().intent is None


def test_the_venue_minimum_is_respected() -> None:
    # only 3 sets are cheap; the minimum is 5: priced at 5 with the dearer level, no edge left
    ev = make_event(["a", "b"], min_size=D(5))
    kit = Kit(ev, [[("0.40", "3"), ("0.95", "10")], [("0.40", "10")]])  # 5 sets: 1.2 + 1.9 + 2.0 > 5
    d = kit.decide()
    assert d.intent is None
    kit = Kit(ev, [[("0.40", "3"), ("0.45", "10")], [("0.40", "10")]])
    d = kit.decide()
    assert d.intent is not None and d.quote.quantity >= 5


def test_augmented_event_with_a_placeholder_is_never_traded() -> None:
    ev = make_event(["Alice", "Bob", "Person A", "Other"], augmented=True, placeholders=("Person A",), others=("Other",))
    assert "placeholder" in structural_problem(ev)
    kit = Kit(ev, [[("0.10", "100")]] * 4)  # 0.40 a set: a huge apparent edge
    assert kit.ev_.excluded == {ev.key: structural_problem(ev)} and kit.ev_.by_instrument == {}
    d = kit.decide()
    assert d.intent is None and "placeholder" in d.reason


def test_augmented_event_needs_its_other_and_then_trades() -> None:
    without_other = make_event(["Alice", "Bob"], augmented=True)
    assert "Other" in structural_problem(without_other)
    complete = make_event(["Alice", "Bob", "Other"], augmented=True, others=("Other",))
    assert structural_problem(complete) == ""
    assert Kit(complete, [[("0.30", "10")]] * 3).decide().intent is not None


def test_a_binary_markets_yes_and_no_are_never_a_complete_set() -> None:
    one = make_event(["only"])
    assert "share one book" in structural_problem(one)
    yes = outcome_inst(Venue.POLYMARKET, "yes", market="0xsame")
    no = outcome_inst(Venue.POLYMARKET, "no", market="0xsame")
    both = MultiOutcomeEvent(venue=Venue.POLYMARKET, event_id="bin", title="binary", neg_risk=False, exhaustive=True,
                             outcomes=(EventOutcome("Yes", yes), EventOutcome("No", no)))
    assert "share one book" in structural_problem(both)
    kit = Kit(both, [[("0.40", "50")], [("0.40", "50")]])
    assert kit.decide().intent is None and kit.ev_.events == {}


def test_kalshi_needs_a_mutually_exclusive_event_known_exhaustive() -> None:
    ok = make_event(["a", "b", "c"], venue=Venue.KALSHI)
    kit = Kit(ok, [[("0.30", "10")]] * 3)
    d = kit.decide()
    assert d.intent is not None and {leg.instrument.venue for leg in d.intent.legs} == {Venue.KALSHI}
    assert "exhaustive" in structural_problem(make_event(["a", "b"], venue=Venue.KALSHI, exhaustive=False))
    assert "mutually exclusive" in structural_problem(make_event(["a", "b"], venue=Venue.KALSHI, mutually_exclusive=False))


def test_stale_or_missing_book_and_in_flight_refuse() -> None:
    ev = make_event(["a", "b"])
    kit = Kit(ev, [[("0.30", "10")], [("0.30", "10")]], max_silence_s=1.0)
    assert "stale" in kit.decide(NOW + 5 * 10**9).reason
    d = kit.decide()
    assert d.intent is not None
    again = kit.decide()
    assert again.intent is None and "in flight" in again.reason
    kit.ev_.execution_finished(d.intent.execution_id, now_ns=NOW)
    assert "waiting for every book" in kit.decide().reason  # our own fills must show in every book
    for o in ev.outcomes:
        kit.market.add_book(o.yes.id, book(o.yes.id, [("0.30", "10")], ts=NOW + 1))
    assert kit.decide(NOW + 2).intent is not None


def test_a_denial_frees_the_event_without_waiting() -> None:
    ev = make_event(["a", "b"])
    kit = Kit(ev, [[("0.30", "10")], [("0.30", "10")]])
    d = kit.decide()
    kit.ev_.execution_finished(d.intent.execution_id, traded=False)
    assert kit.decide().intent is not None


def _leg(i: int, side: Side, qty: str, px: str, fee: str = "0", purpose: str = "leg") -> LegReport:
    return LegReport(leg_index=i, purpose=purpose, client_order_id=f"c{i}{purpose}", venue=Venue.POLYMARKET, instrument_id=f"polymarket:tok-{i}",
                     side=side, requested_quantity=D(qty), limit_price=D(px), filled_quantity=D(qty), avg_price=D(px),
                     fee=D(fee), fee_currency="pUSD", status="FILLED")


def _report(legs: list[LegReport]) -> ExecutionReport:
    return ExecutionReport(execution_id="cs0", status=ExecutionStatus.FILLED, strategy="complete_set", sequencing="PARALLEL",
                           primary_quote="pUSD", legs=legs, predicted_edge_bps=D(0), effective_edge_bps=None,
                           predicted_profit=D(0), profit=D(0), matched_fraction=D(1), residuals=[], timings=StageTimings(),
                           books=[])


def test_sets_held_and_capital_locked() -> None:
    assert sets_of(_report([_leg(0, Side.BUY, "10", "0.30", "0.1"), _leg(1, Side.BUY, "10", "0.60", "0.2")])) == (D(10), D("9.3"))
    # one outcome filled half; the other's extra half was unwound: 5 sets
    sets, cost = sets_of(_report([_leg(0, Side.BUY, "5", "0.30"), _leg(1, Side.BUY, "10", "0.60"),
                                  _leg(1, Side.SELL, "5", "0.58", purpose="hedge")]))
    assert sets == D(5) and cost == D("1.5") + D("3.1")
    ev = make_event(["a", "b"])
    kit = Kit(ev, [[("0.30", "10")], [("0.60", "10")]])
    strat = CompleteSetStrategy(kit.ev_, kit.ev_.config)
    [intent] = strat.on_book(BookUpdate(ev.outcomes[0].yes.id, NOW))
    strat.on_execution_finished(intent.execution_id, _report([_leg(0, Side.BUY, "10", "0.30"), _leg(1, Side.BUY, "10", "0.60")]))
    st = strat.status()
    assert st["capital_locked"] == "9.00" and st["sets_held"] == {ev.key: "10"}


def test_max_locked_stops_new_sets() -> None:
    ev = make_event(["a", "b"])
    kit = Kit(ev, [[("0.30", "10")], [("0.60", "10")]], max_locked=D("9"))
    strat = CompleteSetStrategy(kit.ev_, kit.ev_.config)
    [intent] = strat.on_book(BookUpdate(ev.outcomes[0].yes.id, NOW))
    strat.on_execution_finished(intent.execution_id, _report([_leg(0, Side.BUY, "10", "0.30"), _leg(1, Side.BUY, "10", "0.60")]))
    for o in ev.outcomes:
        kit.market.add_book(o.yes.id, book(o.yes.id, [("0.30", "10")], ts=NOW + 10**9))
    assert strat.on_book(BookUpdate(ev.outcomes[0].yes.id, NOW + 10**9)) == []


@pytest.mark.parametrize("n", [2, 7, 30])
def test_many_outcomes_price_exactly(n: int) -> None:
    names = [f"o{i}" for i in range(n)]
    px = (D(1) - D("0.05")) / n
    tick = px.quantize(D("0.01"), rounding="ROUND_DOWN")
    kit = Kit(make_event(names), [[(str(tick), "20"), ("0.99", "20")]] * n, min_edge_bps=D(0), max_outcomes=30)
    d = kit.decide()
    assert d.intent is not None and len(d.intent.legs) == n and d.quote.quantity == D(20)
    assert d.quote.profit == D(20) - D(20) * tick * n


def test_a_new_outcome_listed_in_a_traded_event_stops_it() -> None:
    """The market finder offers listings: a new market in an event we trade means the set of
    outcomes grew (what we buy is no longer complete); its existing markets (a poll re-listing them)
    and other events' markets are not taken."""
    from arbkit.core.events import MarketListed

    ev = make_event(["a", "b"])
    kit = Kit(ev, [[("0.30", "10")], [("0.60", "10")]])
    strat = CompleteSetStrategy(kit.ev_, kit.ev_.config)

    def listing(mid: str, event_id: str = "ev1") -> MarketListed:
        return MarketListed(venue=Venue.POLYMARKET, market_id=mid, instrument_ids=[f"polymarket:{mid}-y", f"polymarket:{mid}-n"],
                            title="c", event_id=event_id)

    assert not strat.select_market(listing("0xa"))  # already an outcome of the set
    assert not strat.select_market(listing("0xz", event_id="other"))
    assert not strat.select_market(MarketListed(venue=Venue.KALSHI, market_id="0xc", instrument_ids=[], event_id="ev1"))
    assert strat.select_market(listing("0xc"))
    strat.add_market(listing("0xc"), None, None)
    assert list(strat.subscriptions()) == [] and strat.on_book(BookUpdate(ev.outcomes[0].yes.id, NOW)) == []
    assert "set of outcomes grew" in strat.status()["excluded_why"][ev.key]


def test_an_outcome_resolving_stops_its_event() -> None:
    ev = make_event(["a", "b"])
    kit = Kit(ev, [[("0.30", "10")], [("0.60", "10")]])
    strat = CompleteSetStrategy(kit.ev_, kit.ev_.config)
    strat.retire_market(Venue.POLYMARKET, "0xzz", [])  # not ours: nothing changes
    assert sorted(strat.subscriptions()) == sorted(o.yes.id for o in ev.outcomes)
    strat.retire_market(Venue.POLYMARKET, "0xb", ["polymarket:tok-b"])
    assert list(strat.subscriptions()) == [] and strat.status()["excluded"] == 1
