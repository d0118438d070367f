"""Cross-venue evaluator on constructed books: threshold, depth walk, fees at each size, polarity,
staleness, connection liveness, in-flight, leg minimums."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from arbkit.core.book import PredictionBook
from arbkit.core.enums import BookState, ConnectionState, InstrumentKind, Side, TimeInForce, Venue
from arbkit.core.fees import FeeSpec, fee_for
from arbkit.core.instruments import Instrument
from arbkit.execution.intent import validate_intent
from arbkit.mapping.store import Polarity
from arbkit.strategies.cross_venue import CrossVenueConfig, CrossVenuePair, CrossVenueStrategy, common_increment
from arbkit.strategies.market_state import MarketState

D = Decimal
NOW = 1_800_000_000 * 10**9
POLY_FEE = FeeSpec(kind="polymarket", taker_rate=D("0.25"), exponent=2)
KALSHI_FEE = FeeSpec(kind="kalshi", taker_rate=D("0.07"))


def poly(outcome: str, fee: FeeSpec = FeeSpec(), min_size: Decimal = D(5)) -> Instrument:
    return Instrument(venue=Venue.POLYMARKET, symbol=f"tok-{outcome}", kind=InstrumentKind.OUTCOME, tick_size=D("0.01"),
                      size_increment=D("0.01"), min_size=min_size, quote="USDC", outcome=outcome, market_id="0xcond",
                      complement=f"tok-{'no' if outcome == 'yes' else 'yes'}", fee=fee)


def kalshi(outcome: str, fee: FeeSpec = FeeSpec()) -> Instrument:
    return Instrument(venue=Venue.KALSHI, symbol=f"KXT-1:{outcome}", kind=InstrumentKind.OUTCOME, tick_size=D("0.01"),
                      size_increment=D(1), min_size=D(1), quote="USD", outcome=outcome, market_id="KXT-1",
                      complement=f"KXT-1:{'no' if outcome == 'yes' else 'yes'}", fee=fee)


def book(iid: str, asks: list[tuple[str, str]], bids: list[tuple[str, str]] = (), ts: int = NOW) -> PredictionBook:
    b = PredictionBook(D("0.01"), 2, iid)
    b.apply_snapshot([(b.to_tick(D(p)), b.to_lots(D(s))) for p, s in bids],
                     [(b.to_tick(D(p)), b.to_lots(D(s))) for p, s in asks], sequence=1, ts_ns=ts)
    return b


class Kit:
    """A mapping with four books in a live market state."""

    def __init__(self, *, fees: bool = False, polarity: Polarity = Polarity.SAME, poly_min: Decimal = D(5), **cfg) -> None:
        pf, kf = (POLY_FEE, KALSHI_FEE) if fees else (FeeSpec(), FeeSpec())
        self.pair = CrossVenuePair(mapping_id=7, polarity=polarity, poly_yes=poly("yes", pf, poly_min),
                                   poly_no=poly("no", pf, poly_min), kalshi_yes=kalshi("yes", kf), kalshi_no=kalshi("no", kf))
        self.market = MarketState()
        self.market.set_connection(Venue.POLYMARKET, "polymarket.market.0", ConnectionState.CONNECTED)
        self.market.set_connection(Venue.KALSHI, "kalshi.ws", ConnectionState.CONNECTED)
        # expensive defaults everywhere: no edge until a test sets the books it needs
        for inst in (self.pair.poly_yes, self.pair.poly_no, self.pair.kalshi_yes, self.pair.kalshi_no):
            self.set(inst.id, [("0.99", "100")])
        self.ids = iter(f"x{i}" for i in range(1000))
        self.strategy = CrossVenueStrategy(CrossVenueConfig(**cfg), self.market, clock_ns=lambda: NOW,
                                           id_factory=lambda: next(self.ids))
        self.strategy.set_pairs([self.pair])

    def set(self, iid: str, asks: list[tuple[str, str]], ts: int = NOW) -> None:
        self.market.add_book(iid, book(iid, asks, ts=ts))

    def decide(self, now: int = NOW):
        return self.strategy.evaluate(self.pair, now)


DEPTH_POLY = [("0.40", "10"), ("0.45", "10"), ("0.60", "50")]
DEPTH_KALSHI = [("0.50", "5"), ("0.52", "20")]


def test_common_increment():
    assert common_increment(D("0.01"), D(1)) == 1
    assert common_increment(D("0.01"), D("0.01")) == D("0.01")
    assert common_increment(D("0.5"), D("0.2")) == 1
    assert common_increment(D("0.25"), D("0.1")) == D("0.5")


def test_edge_exactly_at_threshold_emits_and_just_above_does_not():
    # 10 sets at 0.30 + 0.50: cost 8, margin 1% = 0.08, net 1.92 -> exactly 2400 bps
    for min_edge, emits in ((D(2400), True), (D("2400.01"), False), (D(2399), True)):
        kit = Kit(min_edge_bps=min_edge, safety_margin_bps=D(100), max_size=D(10))
        kit.set(kit.pair.poly_yes.id, [("0.30", "10")])
        kit.set(kit.pair.kalshi_no.id, [("0.50", "10")])
        d = kit.decide()
        assert (d.intent is not None) is emits, (min_edge, d.reason)
        if emits:
            assert d.quote.net_edge_bps == D(2400)
            assert d.quote.quantity == 10
            assert d.intent.predicted_edge_bps == D(2500)  # after fees, before the safety margin
            assert d.intent.predicted_profit == D(2)
        else:
            assert "threshold" in d.reason


def test_depth_walk_takes_every_profitable_level():
    kit = Kit(min_edge_bps=D(100), safety_margin_bps=D(0), max_size=D(1000))
    kit.set(kit.pair.poly_yes.id, DEPTH_POLY)
    kit.set(kit.pair.kalshi_no.id, DEPTH_KALSHI)
    d = kit.decide()
    it = d.intent
    assert it is not None, d.reason
    # boundaries 5, 10, 20; the next pair (0.60 + 0.52) loses before fees
    assert d.candidates == 3
    assert [leg.quantity for leg in it.legs] == [D(20), D(20)]
    assert [leg.price for leg in it.legs] == [D("0.45"), D("0.52")]  # limit = worst level walked
    assert [leg.instrument.id for leg in it.legs] == [kit.pair.poly_yes.id, kit.pair.kalshi_no.id]
    assert all(leg.side is Side.BUY and leg.time_in_force is TimeInForce.IOC for leg in it.legs)
    assert d.quote.cost == D("18.8") and d.quote.profit == D("1.2")
    assert validate_intent(it) is None


def test_threshold_picks_the_most_profitable_qualifying_size():
    # at 20 sets the edge is 1.2/18.8 = 638 bps, at 10 it is 0.9/9.1 = 989 bps: the threshold is
    # crossed inside the (0.45 + 0.52) piece. 16 sets: 1.08/14.92 = 723.9 bps, the most profitable
    # acceptable size (17 sets: 1.11/15.89 = 698.6 bps) -- no level boundary
    kit = Kit(min_edge_bps=D(700), safety_margin_bps=D(0), max_size=D(1000))
    kit.set(kit.pair.poly_yes.id, DEPTH_POLY)
    kit.set(kit.pair.kalshi_no.id, DEPTH_KALSHI)
    d = kit.decide()
    assert d.intent is not None
    assert d.quote.quantity == 16 and d.quote.profit == D("1.08") and d.quote.cost == D("14.92")


def test_venue_minimum_beyond_the_profitable_depth_is_priced():
    # profitable up to 10 sets only (then 0.24 + 0.76 = 1), Polymarket minimum 15: 15 sets still
    # make 5.576 (regression: the walk stopped at 10 and found nothing acceptable)
    kit = Kit(min_edge_bps=D(0), safety_margin_bps=D(0), max_size=D(100), poly_min=D(15))
    kit.set(kit.pair.poly_yes.id, [("0.24", "14.60"), ("0.30", "5")])
    kit.set(kit.pair.kalshi_no.id, [("0.20", "10"), ("0.76", "10")])
    d = kit.decide()
    assert d.intent is not None, d.reason
    assert d.quote.quantity == 15 and d.quote.profit == D("5.576")
    assert [leg.price for leg in d.intent.legs] == [D("0.30"), D("0.76")]


def test_venue_minimum_that_cannot_pay_is_refused():
    # 10 sets make 0.60 but 15 sets cost 18.15: nothing, with the minimum as the reason
    kit = Kit(min_edge_bps=D(0), safety_margin_bps=D(0), max_size=D(100), poly_min=D(15))
    kit.set(kit.pair.poly_yes.id, [("0.24", "10"), ("0.99", "5")])
    kit.set(kit.pair.kalshi_no.id, [("0.70", "10"), ("0.76", "10")])
    d = kit.decide()
    assert d.intent is None and d.reason.startswith("minimum"), d.reason


def test_max_size_caps_the_walk():
    kit = Kit(min_edge_bps=D(100), safety_margin_bps=D(0), max_size=D("7.9"))
    kit.set(kit.pair.poly_yes.id, DEPTH_POLY)
    kit.set(kit.pair.kalshi_no.id, DEPTH_KALSHI)
    d = kit.decide()
    assert d.quote.quantity == 7  # 7.9 floored to the common increment (Kalshi whole contracts)


def test_fees_at_each_size_change_the_chosen_size():
    """Polymarket C*r*(p(1-p))^2 per fill and Kalshi ceil-to-cent per fill, at each level."""
    kit = Kit(fees=True, min_edge_bps=D(100), safety_margin_bps=D(0), max_size=D(1000))
    kit.set(kit.pair.poly_yes.id, DEPTH_POLY)
    kit.set(kit.pair.kalshi_no.id, DEPTH_KALSHI)
    # hand-computed, per level filled:
    assert fee_for(POLY_FEE, D("0.40"), D(10)) == D("0.144000")  # 10 * 0.25 * 0.24^2
    assert fee_for(POLY_FEE, D("0.45"), D(10)) == D("0.15314")  # 10 * 0.25 * 0.2475^2 = 0.153140625, 5 decimals (docs)
    assert fee_for(KALSHI_FEE, D("0.50"), D(5)) == D("0.09")  # 0.0875 rounded up to the cent
    assert fee_for(KALSHI_FEE, D("0.52"), D(15)) == D("0.27")  # 0.26208 -> 0.27
    assert fee_for(KALSHI_FEE, D("0.52"), D(5)) == D("0.09")  # 0.08736 -> 0.09
    size20 = D(20) - (D("18.8") + D("0.144") + D("0.15314") + D("0.09") + D("0.27"))
    size10 = D(10) - (D("9.1") + D("0.144") + D("0.09") + D("0.09"))
    size5 = D(5) - (D("4.5") + D("0.072") + D("0.09"))
    assert size10 > size20 > size5  # fees make 10 sets better than 20
    d = kit.decide()
    assert d.intent is not None, d.reason
    q = d.quote
    assert q.quantity == 10
    assert q.poly_fee == D("0.144") and q.kalshi_fee == D("0.18")
    assert q.profit == size10 == D("0.576")
    assert d.intent.predicted_profit == D("0.576")
    assert [leg.price for leg in d.intent.legs] == [D("0.40"), D("0.52")]


def test_fee_rounding_can_remove_a_thin_edge():
    # one Kalshi contract at 0.50 costs a whole cent+ in fees: 0.0175 -> 0.02
    kit = Kit(fees=True, min_edge_bps=D(1), safety_margin_bps=D(0), max_size=D(1), poly_min=D(1))
    kit.set(kit.pair.poly_yes.id, [("0.49", "1")])
    kit.set(kit.pair.kalshi_no.id, [("0.50", "1")])
    # gross 0.01 per set; Polymarket fee 0.25*(0.2499)^2 = 0.015612..., Kalshi 0.02
    d = kit.decide()
    assert d.intent is None and "threshold" in d.reason
    kit2 = Kit(fees=False, min_edge_bps=D(1), safety_margin_bps=D(0), max_size=D(1), poly_min=D(1))
    kit2.set(kit2.pair.poly_yes.id, [("0.49", "1")])
    kit2.set(kit2.pair.kalshi_no.id, [("0.50", "1")])
    assert kit2.decide().intent is not None


@pytest.mark.parametrize("polarity", [Polarity.SAME, Polarity.INVERTED])
def test_polarity_chooses_the_kalshi_side_that_completes_the_set(polarity):
    kit = Kit(polarity=polarity, min_edge_bps=D(100), safety_margin_bps=D(0), max_size=D(10))
    # Kalshi YES is cheap, Kalshi NO is not: only an INVERTED mapping (Poly YES = Kalshi NO)
    # makes Poly YES + Kalshi YES a complete set
    kit.set(kit.pair.poly_yes.id, [("0.40", "10")])
    kit.set(kit.pair.kalshi_yes.id, [("0.45", "10")])
    kit.set(kit.pair.poly_no.id, [("0.62", "10")])
    kit.set(kit.pair.kalshi_no.id, [("0.57", "10")])
    d = kit.decide()
    if polarity is Polarity.INVERTED:
        assert d.intent is not None, d.reason
        assert [leg.instrument.id for leg in d.intent.legs] == [kit.pair.poly_yes.id, kit.pair.kalshi_yes.id]
        assert d.quote.profit == D("1.5")
    else:
        # SAME: Poly YES + Kalshi NO = 0.97, Poly NO + Kalshi YES = 1.07: 0.03*10/9.7 = 309 bps
        assert d.intent is not None
        assert [leg.instrument.id for leg in d.intent.legs] == [kit.pair.poly_yes.id, kit.pair.kalshi_no.id]
        assert d.quote.profit == D("0.3")


def test_stale_book_gives_no_intent():
    kit = Kit(min_edge_bps=D(100), max_book_age_s=2.0)
    kit.set(kit.pair.poly_yes.id, [("0.30", "10")])
    kit.set(kit.pair.kalshi_no.id, [("0.50", "10")], ts=NOW - 2 * 10**9 - 1)
    kit.set(kit.pair.kalshi_yes.id, [("0.99", "10")], ts=NOW - 5 * 10**9)
    d = kit.decide()
    assert d.intent is None and "stale" in d.reason
    kit.set(kit.pair.kalshi_no.id, [("0.50", "10")], ts=NOW - 2 * 10**9)  # exactly at the limit: fresh
    assert kit.decide().intent is not None


def test_dead_connection_gives_no_intent():
    kit = Kit(min_edge_bps=D(100))
    kit.set(kit.pair.poly_yes.id, [("0.30", "10")])
    kit.set(kit.pair.kalshi_no.id, [("0.50", "10")])
    kit.market.set_connection(Venue.KALSHI, "kalshi.ws", ConnectionState.DISCONNECTED)
    d = kit.decide()
    assert d.intent is None and "connection" in d.reason
    kit.market.set_connection(Venue.KALSHI, "kalshi.ws", ConnectionState.STALLED)
    assert kit.decide().intent is None
    kit.market.set_connection(Venue.KALSHI, "kalshi.ws", ConnectionState.CONNECTED)
    assert kit.decide().intent is not None


def test_resyncing_or_crossed_book_gives_no_intent():
    kit = Kit(min_edge_bps=D(100))
    kit.set(kit.pair.poly_yes.id, [("0.30", "10")])
    kit.set(kit.pair.kalshi_no.id, [("0.50", "10")])
    kit.market.set_book_state(kit.pair.kalshi_no.id, BookState.RESYNCING)
    assert "RESYNCING" in kit.decide().reason
    kit.market.set_book_state(kit.pair.kalshi_no.id, BookState.LIVE)
    crossed = book(kit.pair.poly_yes.id, [("0.30", "10")], bids=[("0.35", "5")])
    kit.market.add_book(kit.pair.poly_yes.id, crossed)
    d = kit.decide()
    assert d.intent is None and "crossed" in d.reason


def test_in_flight_mapping_gets_nothing_new_until_the_engine_says_it_ended():
    kit = Kit(min_edge_bps=D(100))
    kit.set(kit.pair.poly_yes.id, [("0.30", "10")])
    kit.set(kit.pair.kalshi_no.id, [("0.50", "10")])
    intents = kit.strategy.on_book_update(kit.pair.kalshi_no.id, NOW)
    assert len(intents) == 1
    eid = intents[0].execution_id
    assert kit.strategy.on_book_update(kit.pair.poly_yes.id, NOW) == []
    d = kit.decide()
    assert d.intent is None and "in flight" in d.reason
    kit.strategy.execution_finished("someone-else")  # another execution ending changes nothing
    assert kit.decide().intent is None
    kit.strategy.execution_finished(eid, now_ns=NOW)
    # ended: a denial frees the mapping at once; a trade waits for both venues' books to move
    assert "cooldown" in kit.decide().reason
    kit.set(kit.pair.poly_yes.id, [("0.30", "10")], ts=NOW + 1)
    kit.set(kit.pair.kalshi_no.id, [("0.50", "10")], ts=NOW + 1)
    assert len(kit.strategy.on_book_update(kit.pair.kalshi_no.id, NOW + 1)) == 1


def test_leg_minimum_not_met_gives_no_intent():
    # Polymarket's minimum is 5 shares; only 4 are offered at an edge and the 5th set loses more
    # than they make (5 sets: 1.20 + 0.99 + 2.00 + 0.90 = 5.09)
    kit = Kit(min_edge_bps=D(100), poly_min=D(5))
    kit.set(kit.pair.poly_yes.id, [("0.30", "4"), ("0.99", "100")])
    kit.set(kit.pair.kalshi_no.id, [("0.50", "4"), ("0.90", "10")])
    d = kit.decide()
    assert d.intent is None and d.reason.startswith("minimum") and "accept, 5.00" in d.reason, d.reason
    # with a cheap 5th share the minimum size itself trades, though it is no level boundary
    kit.set(kit.pair.poly_yes.id, [("0.30", "4"), ("0.80", "100")])
    kit.set(kit.pair.kalshi_no.id, [("0.50", "10")])
    assert kit.decide().intent.legs[0].quantity == 5


def test_quantisation_to_both_increments():
    # 7.5 Polymarket shares but Kalshi trades whole contracts: 7 on both legs
    kit = Kit(min_edge_bps=D(100))
    kit.set(kit.pair.poly_yes.id, [("0.30", "7.5"), ("0.90", "100")])
    kit.set(kit.pair.kalshi_no.id, [("0.50", "100")])
    it = kit.decide().intent
    assert [leg.quantity for leg in it.legs] == [D(7), D(7)]


def test_intent_carries_books_timestamps_and_isolation():
    kit = Kit(min_edge_bps=D(100))
    kit.set(kit.pair.poly_yes.id, [("0.30", "10")], ts=NOW - 1000)
    kit.set(kit.pair.kalshi_no.id, [("0.50", "10")], ts=NOW - 500)
    [it] = kit.strategy.on_book_update(kit.pair.kalshi_no.id, NOW, socket_arrival_ns=NOW - 900, correlation_id="frame-1")
    assert it.primary_quote == "USD" and it.strategy == "cross_venue"
    assert it.isolation.mapping == "mapping:7" and it.signal_key == "mapping:7"
    assert it.correlation_id == "frame-1" and it.execution_id == "x0"
    assert it.set_payout == 1
    assert [b.instrument_id for b in it.books] == [kit.pair.poly_yes.id, kit.pair.kalshi_no.id]
    assert it.book_for(kit.pair.poly_yes.id).asks == [(D("0.30"), D("10.00"))]
    assert it.book_for(kit.pair.poly_yes.id).last_update_ns == NOW - 1000
    ts = it.timestamps
    assert (ts.socket_arrival_ns, ts.book_updated_ns, ts.evaluated_ns) == (NOW - 900, NOW - 500, NOW)


def test_unrelated_update_evaluates_nothing():
    kit = Kit()
    assert kit.strategy.on_book_update("polymarket:other", NOW) == []
    assert kit.strategy.evaluations == 0


def test_config_refuses_floats_and_negative_thresholds():
    with pytest.raises(TypeError):
        CrossVenueConfig(max_size=10.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        CrossVenueConfig(min_edge_bps=D(-1))


def test_a_stale_book_blocks_only_the_direction_that_trades_it():
    kit = Kit(min_edge_bps=D(100), max_size=D(10))
    # direction 1 (Poly YES + Kalshi NO) has an edge but Kalshi NO is stale
    kit.set(kit.pair.poly_yes.id, [("0.30", "10")])
    kit.set(kit.pair.kalshi_no.id, [("0.50", "10")], ts=NOW - 10 * 10**9)
    d = kit.decide()
    assert d.intent is None and "other direction" in d.reason and "stale" in d.reason
    # direction 2 (Poly NO + Kalshi YES), fresh, gets an edge: it trades, never touching the stale book
    kit.set(kit.pair.poly_no.id, [("0.40", "10")])
    kit.set(kit.pair.kalshi_yes.id, [("0.45", "10")])
    it = kit.decide().intent
    assert [leg.instrument.id for leg in it.legs] == [kit.pair.poly_no.id, kit.pair.kalshi_yes.id]


def test_min_notional_is_met_by_the_smallest_acceptable_size():
    # a $1 minimum notional at the limit price: 8 sets reach the 0.12 level but 8 x 0.12 = 0.96,
    # 9 x 0.12 = 1.08 is the smallest acceptable size; profitable depth ends at 6 (0.12 + 0.90)
    kit = Kit(min_edge_bps=D(0), safety_margin_bps=D(0), max_size=D(100), poly_min=D(1))
    pair = kit.pair
    kit.pair = CrossVenuePair(mapping_id=pair.mapping_id, polarity=pair.polarity,
                              poly_yes=msgspec.structs.replace(pair.poly_yes, min_notional=D(1)), poly_no=pair.poly_no,
                              kalshi_yes=pair.kalshi_yes, kalshi_no=pair.kalshi_no)
    kit.strategy.set_pairs([kit.pair])
    kit.set(kit.pair.poly_yes.id, [("0.10", "5"), ("0.12", "100")])
    kit.set(kit.pair.kalshi_no.id, [("0.50", "6"), ("0.90", "100")])
    d = kit.decide()
    assert d.intent is not None, d.reason
    assert d.quote.quantity == 9 and d.quote.cost == D("6.68")
    assert [leg.price for leg in d.intent.legs] == [D("0.12"), D("0.90")]


def test_intent_takes_the_feeds_apply_time_when_given():
    # the node passes BookUpdated.ts_book: the books' own times are their frames' arrival, so
    # without it socket->book would read 0
    kit = Kit(min_edge_bps=D(100))
    kit.set(kit.pair.poly_yes.id, [("0.30", "10")], ts=NOW - 1000)
    kit.set(kit.pair.kalshi_no.id, [("0.50", "10")], ts=NOW - 500)
    [it] = kit.strategy.on_book_update(kit.pair.kalshi_no.id, NOW, socket_arrival_ns=NOW - 500, book_updated_ns=NOW - 200)
    assert (it.timestamps.socket_arrival_ns, it.timestamps.book_updated_ns) == (NOW - 500, NOW - 200)
