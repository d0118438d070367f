"""Triangular strategy: enumeration and the symbol index, exact depth-aware pricing with fees and
increments as the execution engine sizes cascade legs, start-size choice, and the CASCADE intent."""

from __future__ import annotations

from decimal import Decimal as D

from arbkit.core.book import CryptoBook
from arbkit.core.enums import InstrumentKind, Side, Venue
from arbkit.core.fees import FeeSpec
from arbkit.core.instruments import Instrument
from arbkit.execution.intent import Sequencing, validate_intent
from arbkit.execution.sizing import planned_quantities
from arbkit.strategies.triangular import (
    Leg,
    Triangle,
    TriangleIndex,
    TriangularConfig,
    TriangularStrategy,
    enumerate_triangles,
    price_leg,
    report_line,
    walk_triangle,
)

FEE = FeeSpec(kind="spot", taker_rate=D("0.001"), maker_rate=D("0.001"))


def spot(sym: str, tick: str, inc: str, min_size: str = "0", min_notional: str = "0") -> Instrument:
    base, quote = sym.split("-")
    return Instrument(venue=Venue.KUCOIN, symbol=sym, kind=InstrumentKind.SPOT, tick_size=D(tick),
                      size_increment=D(inc), min_size=D(min_size), min_notional=D(min_notional), base=base,
                      quote=quote, fee=FEE)


BTC_USDT = spot("BTC-USDT", "0.1", "0.00000001", "0.00001", "0.1")
ETH_BTC = spot("ETH-BTC", "0.000001", "0.0000001", "0.0001")
ETH_USDT = spot("ETH-USDT", "0.01", "0.0000001", "0.0001", "0.1")
XRP_USDT = spot("XRP-USDT", "0.00001", "0.0001", "0.1")
UNIVERSE = [BTC_USDT, ETH_BTC, ETH_USDT, XRP_USDT]


def book(inst: Instrument, bids, asks) -> CryptoBook:
    b = CryptoBook(inst.price_decimals, 12, inst.id)
    b.apply_snapshot([(b.to_tick(D(p)), b.to_lots(D(s))) for p, s in bids],
                     [(b.to_tick(D(p)), b.to_lots(D(s))) for p, s in asks], 1, 1)
    return b


def test_every_triangle_in_both_directions_and_the_index() -> None:
    tris = enumerate_triangles(UNIVERSE, ["USDT"])
    paths = sorted(t.path for t in tris)
    assert paths == ["BTC-USDT→ETH-BTC→ETH-USDT", "ETH-USDT→ETH-BTC→BTC-USDT"]
    fwd = next(t for t in tris if t.path.startswith("BTC"))
    assert [(leg.side, leg.input_currency, leg.output_currency) for leg in fwd.legs] == [
        (Side.BUY, "USDT", "BTC"), (Side.BUY, "BTC", "ETH"), (Side.SELL, "ETH", "USDT")]
    idx = TriangleIndex(tris)
    assert len(idx.affected("ETH-BTC")) == 2 and idx.affected("XRP-USDT") == []
    assert len(enumerate_triangles(UNIVERSE, ["USDT", "BTC", "ETH"])) == 6


def test_a_buy_leg_holds_the_fee_floors_at_the_limit_and_fills_level_by_level() -> None:
    leg = Leg(BTC_USDT, Side.BUY)
    asks = [(D("100000.0"), D("0.001")), (D("100010.0"), D("1"))]
    f = price_leg(leg, asks, D("300"))
    # limit = the worst level the funds reach (100010); quantity = floor(300 / (100010 * 1.001))
    assert f.limit == D("100010.0")
    assert f.quantity == D("0.00299670")
    assert f.notional == D("0.001") * D("100000.0") + (f.quantity - D("0.001")) * D("100010.0")
    assert f.fee == f.notional * D("0.001") and f.input_used == f.notional + f.fee <= D(300)
    assert f.output == f.quantity


def test_a_sell_leg_floors_the_input_and_pays_the_fee_in_quote() -> None:
    f = price_leg(Leg(ETH_USDT, Side.SELL), [(D("3000.00"), D("1")), (D("2999.00"), D("5"))], D("1.23456789"))
    assert f.quantity == D("1.2345678") and f.limit == D("2999.00")
    assert f.notional == D("3000.00") + D("0.2345678") * D("2999.00")
    assert f.output == f.notional * D("0.999")
    assert price_leg(Leg(ETH_USDT, Side.SELL), [(D("3000.00"), D("1"))], D("2")) is None  # not enough depth


def dislocated_books():
    # ETH-BTC asks cheap: 0.033 BTC/ETH while ETH-USDT bids 3000 and BTC-USDT asks 90000 -> 1.0101 round trip
    return (book(BTC_USDT, [("89999.9", "5")], [("90000.0", "5")]),
            book(ETH_BTC, [("0.032990", "50")], [("0.033000", "50")]),
            book(ETH_USDT, [("3000.00", "100")], [("3000.01", "100")]))


def test_the_strategy_finds_the_dislocated_triangle_and_emits_a_cascade() -> None:
    b_btc, b_ethbtc, b_eth = dislocated_books()
    books = {BTC_USDT.id: b_btc, ETH_BTC.id: b_ethbtc, ETH_USDT.id: b_eth}
    s = TriangularStrategy(TriangularConfig(max_start={"USDT": D(1000)}, min_edge_bps=D(10)), UNIVERSE, books.get,
                           clock_ns=lambda: 42)
    decisions = s.on_book_update("kucoin:BTC-USDT")  # caches BTC-USDT's top of book
    s.note_book("kucoin:ETH-USDT")
    decisions = s.on_book_update("kucoin:ETH-BTC")
    # only the triangles using ETH-BTC: the reverse one cannot clear the fees at the top of the books
    assert len(decisions) == 1 and s.bound_skips >= 1
    won = [d for d in decisions if d.intent is not None]
    assert len(won) == 1 and won[0].triangle.path == "BTC-USDT→ETH-BTC→ETH-USDT"
    q, intent = won[0].quote, won[0].intent
    assert q.start_amount == D(1000) and q.edge_bps > D(60)  # ~101 bps gross minus 3 x 10 bps fees
    assert validate_intent(intent) is None and intent.sequencing is Sequencing.CASCADE
    assert intent.legs[0].funds == D(1000) and intent.legs[1].quantity is None and intent.legs[2].quantity is None
    assert [leg.price for leg in intent.legs] == [D("90000.0"), D("0.033000"), D("3000.00")]
    assert intent.primary_quote == "USDT" and intent.isolation.triangle == won[0].triangle.key
    assert intent.isolation.pairs == ("BTC-USDT", "ETH-BTC", "ETH-USDT") and len(intent.books) == 3
    # the engine sizes the legs exactly as predicted (execution.sizing.planned_quantities)
    assert planned_quantities(intent) == [f.quantity for f in q.legs]
    # and the end amount is the last leg's output: exact Decimal arithmetic, no float
    again = walk_triangle(won[0].triangle, tuple(
        [(book.price(t), book.size(n)) for t, n in book.levels(leg.side is Side.SELL, 20)]
        for book, leg in zip((b_btc, b_ethbtc, b_eth), won[0].triangle.legs)), D(1000))
    assert again == q
    line = report_line("FILLED", intent.correlation_id, won[0].triangle, q.start_amount, q.end_amount, q.edge_bps)
    assert line.startswith(f"FILLED | {intent.correlation_id} | BTC-USDT→ETH-BTC→ETH-USDT | start 1000 USDT → end ")


def test_no_intent_below_the_minimum_edge_or_while_one_is_in_flight() -> None:
    b_btc, _, b_eth = dislocated_books()
    fair = book(ETH_BTC, [("0.033332", "50")], [("0.033334", "50")])
    books = {BTC_USDT.id: b_btc, ETH_BTC.id: fair, ETH_USDT.id: b_eth}
    s = TriangularStrategy(TriangularConfig(min_edge_bps=D(0)), UNIVERSE, books.get)
    assert all(d.intent is None for d in s.on_book_update("kucoin:BTC-USDT"))  # fees eat a fair triangle
    books[ETH_BTC.id] = dislocated_books()[1]
    t = next(d.triangle for d in s.on_book_update("kucoin:ETH-BTC") if d.intent is not None)
    s.execution_started(t.key)
    assert all(d.intent is None for d in s.on_book_update("kucoin:ETH-BTC"))
    s.execution_finished(t.key)
    assert any(d.intent is not None for d in s.on_book_update("kucoin:ETH-BTC"))


def test_the_best_start_amount_stops_where_depth_runs_out() -> None:
    b_btc, _, b_eth = dislocated_books()
    thin = book(ETH_BTC, [("0.032990", "50")], [("0.033000", "0.1"), ("0.034000", "50")])  # cheap ETH: 0.1 only
    books = {BTC_USDT.id: b_btc, ETH_BTC.id: thin, ETH_USDT.id: b_eth}
    s = TriangularStrategy(TriangularConfig(max_start={"USDT": D(100000)}, min_edge_bps=D(10)), UNIVERSE, books.get)
    won = [d for d in s.on_book_update("kucoin:ETH-BTC") if d.intent is not None]
    assert len(won) == 1
    q = won[0].quote
    # the cheap level holds 0.1 ETH (~297 USDT): a start far above it would lose on the 0.034 level
    assert q.start_amount < D(400) and q.legs[1].limit == D("0.033000") and q.profit > 0
    tri: Triangle = won[0].triangle
    assert walk_triangle(tri, ([(D("90000.0"), D("5"))], [(D("0.033000"), D("0.1")), (D("0.034000"), D("50"))],
                               [(D("3000.00"), D("100"))]), D(100000)).profit < 0


def test_the_top_of_book_bound_never_hides_a_triangle_the_walk_accepts() -> None:
    """Random books around consistent and dislocated prices: whenever the depth walk finds a start
    size with the minimum edge, the exact integer bound let the triangle through; and a
    triangle the bound excludes is reported as such, without a walk."""
    import random

    from arbkit.strategies.triangular import BELOW_BOUND, start_candidates

    rng = random.Random(5)
    fair = {BTC_USDT: D(90000), ETH_BTC: D("0.033333"), ETH_USDT: D(3000), XRP_USDT: D(2)}
    passed = skipped = 0
    for _ in range(150):
        books = {}
        for inst, px in fair.items():
            f = px * (1 + D(rng.randint(-120, 120)) / 10000)
            tick = inst.tick_size
            mid = (f / tick).to_integral_value() * tick
            half = tick * rng.randint(1, 4)
            bids = [(str(mid - half - k * tick), str(D(rng.randint(1, 400)) / 100)) for k in range(4)]
            asks = [(str(mid + half + k * tick), str(D(rng.randint(1, 400)) / 100)) for k in range(4)]
            books[inst.id] = book(inst, bids, asks)
        edge = D(rng.choice([0, 5, 20, 60]))
        s = TriangularStrategy(TriangularConfig(max_start={"USDT": D(5000)}, min_edge_bps=edge), UNIVERSE, books.get)
        for sym in ("BTC-USDT", "ETH-USDT", "XRP-USDT"):
            s.note_book("kucoin:" + sym)
        got = {d.triangle.key: d for d in s.on_book_update("kucoin:ETH-BTC")}
        # the node's branch and bound picks the same best edge as evaluating every survivor
        wins = [d for d in got.values() if d.intent is not None]
        best = s.best_decision("kucoin:ETH-BTC")
        if wins:
            assert best is not None and best.quote.edge_bps == max(d.quote.edge_bps for d in wins)
        else:
            assert best is None
        for t in s.index.affected("ETH-BTC"):
            lv = tuple(leg_levels_of(books[leg.instrument.id], leg.side) for leg in t.legs)
            accepted = [q for a in start_candidates(t, lv, D(5000))
                        if (q := walk_triangle(t, lv, a)) is not None and q.edge_bps >= edge]
            allowed = s.bound_allows(t, [books[leg.instrument.id] for leg in t.legs])
            if accepted:
                assert allowed and t.key in got and got[t.key].intent is not None, (t.path, edge)
                passed += 1
            if not allowed:
                assert t.key not in got or (got[t.key].reason == BELOW_BOUND and got[t.key].quote is None)
                skipped += 1
    assert passed > 5 and skipped > 50  # both branches exercised


def leg_levels_of(b: CryptoBook, side: Side) -> list:
    return [(b.price(t), b.size(n)) for t, n in b.levels(side is Side.SELL, 20)]
