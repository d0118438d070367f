"""The integer depth walk and its pruned start-size search decide exactly as the Decimal reference.

The Decimal walk (``price_leg`` / ``walk_triangle``) and the exhaustive Decimal search over every
start candidate (``TriangularStrategy._search_decimal``) are the reference; the integer walk
(``tri_walk.walk_exact``) and the float-pruned search (``tri_walk.best_start``) must give the same
leg quantities, limits and end amounts at any start, and the same chosen start (or none), on
random books, fee rates, price ticks, size increments, minimums and caps."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from arbkit.core.book import CryptoBook
from arbkit.core.enums import InstrumentKind, Side, Venue
from arbkit.core.fees import FeeSpec
from arbkit.core.instruments import Instrument
from arbkit.strategies.tri_walk import LegSpec, LegView, all_candidate_units, leg_exact, walk_exact
from arbkit.strategies.triangular import (
    TriangularConfig,
    TriangularStrategy,
    enumerate_triangles,
    leg_levels,
    price_leg,
    start_candidates,
    walk_triangle,
)

RATES = [D(0), D("0.001"), D("0.0008"), D("0.00075"), D("0.002"), D("0.0001"), D("0.0025")]
MULTIPLIERS = [D(1), D("0.5"), D("1.5"), D(2)]


def _inst(sym: str, tick_digits: int, inc_digits: int, min_size: D, min_notional: D, fee: FeeSpec) -> Instrument:
    base, quote = sym.split("-")
    return Instrument(venue=Venue.KUCOIN, symbol=sym, kind=InstrumentKind.SPOT, tick_size=D(1).scaleb(-tick_digits),
                      size_increment=D(1).scaleb(-inc_digits), min_size=min_size, min_notional=min_notional,
                      base=base, quote=quote, fee=fee)


@st.composite
def universes(draw):
    """USDT start; pairs A-USDT, B-A, B-USDT around consistent prices, one leg dislocated."""
    usd = {"USDT": D(1), "A": D(draw(st.integers(1, 10**6))).scaleb(-draw(st.integers(0, 4))),
           "B": D(draw(st.integers(1, 10**6))).scaleb(-draw(st.integers(0, 4)))}
    insts, books = [], {}
    dislocated = draw(st.sampled_from(["A-USDT", "B-A", "B-USDT"]))
    shift = D(draw(st.integers(30, 300)) * draw(st.sampled_from([-1, 1]))) / 10000
    for sym in ("A-USDT", "B-A", "B-USDT"):
        base, quote = sym.split("-")
        px = usd[base] / usd[quote] * (1 + (shift if sym == dislocated else 0))
        # a tick giving the price 10 to 10^6 ticks, like real pairs
        tick_digits = max(0, min(12, 6 - px.adjusted() + draw(st.integers(-5, 0))))
        inc_digits = draw(st.integers(0, 8))
        sd = inc_digits + draw(st.integers(0, 4))
        fee = FeeSpec(kind="spot", taker_rate=draw(st.sampled_from(RATES)), maker_rate=D(0),
                      multiplier=draw(st.sampled_from(MULTIPLIERS)))
        inc = D(1).scaleb(-inc_digits)
        min_size = inc * draw(st.sampled_from([0, 1, 10, 1000]))
        min_notional = draw(st.sampled_from([D(0), D("0.0001"), D("0.1"), D(1)]))
        inst = _inst(sym, tick_digits, inc_digits, min_size, min_notional, fee)
        b = CryptoBook(tick_digits, sd, inst.id)
        mid = int(px.scaleb(tick_digits))
        if mid < 4:
            mid = 4
        half = draw(st.integers(1, 3))
        # level sizes worth 0.01 to 10^5 USDT (some below the minimums)
        per_usd = D(10**sd) / usd[base]
        lots = st.integers(1, 10**7).map(lambda c, k=per_usd: max(1, min(2**62, int(k * D(c) / 100))))  # the book's int64
        n_bid, n_ask = draw(st.integers(1, 6)), draw(st.integers(1, 6))
        gaps = st.integers(1, 3)
        bids, asks, t = [], [], mid - half
        for _ in range(n_bid):
            if t <= 0:
                break
            bids.append((t, draw(lots)))
            t -= draw(gaps)
        t = mid + half
        for _ in range(n_ask):
            asks.append((t, draw(lots)))
            t += draw(gaps)
        b.apply_snapshot(bids, asks, 1, 1)
        insts.append(inst)
        books[inst.id] = b
    cap = D(draw(st.integers(1, 10**7))) / 100
    edge = D(draw(st.sampled_from([0, 1, 5, 20, 80])))
    return insts, books, cap, edge


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(universes(), st.data())
def test_integer_walk_equals_decimal_walk_at_every_start(u, data) -> None:
    insts, books, cap, _ = u
    for t in enumerate_triangles(insts, ["USDT"]):
        bk = [books[leg.instrument.id] for leg in t.legs]
        levels = tuple(leg_levels(b, leg.side, 20) for b, leg in zip(bk, t.legs))
        specs = tuple(LegSpec(leg.instrument, leg.side is Side.BUY, b.price_digits, b.size_digits)
                      for b, leg in zip(bk, t.legs))
        views = tuple(LegView(s, b.levels(not s.is_buy, 20)) for s, b in zip(specs, bk))
        # the candidate set is one definition
        cap_n, cap_d = cap.as_integer_ratio()
        assert [D(x).scaleb(-8) for x in all_candidate_units(views, specs, cap_n, cap_d)] == start_candidates(t, levels, cap)
        for _ in range(4):
            start = (cap * data.draw(st.integers(1, 10**6)) / 10**6).quantize(D("0.00000001")) or D("0.00000001")
            ref = walk_triangle(t, levels, start)
            got = walk_exact(specs, views, int(start.scaleb(8)))
            event("walked" if ref is not None else "refused")
            if ref is None:
                assert got is None
            else:
                assert got is not None and D(got[0]) / D(got[1]) == ref.end_amount
            # leg by leg on the first leg (quantity, limit, notional)
            leg0 = price_leg(t.legs[0], levels[0], start)
            r0 = leg_exact(specs[0], views[0], int(start.scaleb(8)), 10**8)
            assert (leg0 is None) == (r0 is None)
            if leg0 is not None:
                s0 = specs[0]
                assert D(r0[0]) / s0.Q == leg0.quantity and D(r0[2]) / (s0.P * s0.Q) == leg0.notional
                assert D(r0[1]).scaleb(-bk[0].price_digits) == leg0.limit and D(r0[3]) / D(r0[4]) == leg0.output


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(universes())
def test_pruned_integer_search_chooses_what_the_exhaustive_decimal_search_chooses(u) -> None:
    insts, books, cap, edge = u
    cfg = TriangularConfig(start_currencies=("USDT",), max_start={"USDT": cap}, min_edge_bps=edge)
    fast = TriangularStrategy(cfg, insts, books.get, clock_ns=lambda: 1)
    ref = TriangularStrategy(cfg, insts, books.get, clock_ns=lambda: 1)
    ref.exact_int = False
    for t in fast.index.triangles:
        a = fast.evaluate(t, 1, use_bound=False)
        b = ref.evaluate(t, 1, use_bound=False)
        assert (a.quote is None) == (b.quote is None), (t.path, a.reason, b.reason)
        event("chosen" if a.quote is not None else "none")
        if a.quote is not None:
            assert a.quote == b.quote
            assert a.intent.legs[0].funds == b.intent.legs[0].funds and a.intent.legs[0].quantity == b.intent.legs[0].quantity
    assert fast.exact_mismatches == 0


def test_the_search_prunes_most_candidates_on_a_deep_dislocated_book() -> None:
    """Not a property: the pruning is what makes the integer search fast; a 1 % dislocation over
    10-level books should walk a handful of the ~130 candidates, and choose the reference's start."""
    fee = FeeSpec(kind="spot", taker_rate=D("0.001"), maker_rate=D("0.001"))
    a = _inst("A-USDT", 2, 6, D(0), D("0.1"), fee)
    ba = _inst("B-A", 6, 4, D(0), D(0), fee)
    bu = _inst("B-USDT", 4, 4, D(0), D("0.1"), fee)
    books = {}
    for inst, mid, pd in ((a, 300000, 2), (ba, 9900, 6), (bu, 300000, 4)):  # B-A 1 % cheap
        b = CryptoBook(pd, 10, inst.id)
        b.apply_snapshot([(mid - 3 - k, 10**10 * (k + 1)) for k in range(10)],
                         [(mid + 3 + k, 10**10 * (k + 1)) for k in range(10)], 1, 1)
        books[inst.id] = b
    cfg = TriangularConfig(max_start={"USDT": D(100000)}, min_edge_bps=D(5), depth=10)
    fast = TriangularStrategy(cfg, [a, ba, bu], books.get, clock_ns=lambda: 1)
    ref = TriangularStrategy(cfg, [a, ba, bu], books.get, clock_ns=lambda: 1)
    ref.exact_int = False
    t = next(t for t in fast.index.triangles if t.path == "A-USDT→B-A→B-USDT")
    got, want = fast.evaluate(t, 1), ref.evaluate(t, 1)
    assert got.quote is not None and got.quote == want.quote
    assert 0 < fast.exact_walks <= 12


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(universes(), st.data())
def test_reused_choices_equal_a_fresh_evaluation_as_books_change(u, data) -> None:
    """The per-triangle memo (choice and quote reused while the three leg views are the same
    objects) and the per-side Decimal levels of the intent's books never serve a stale decision:
    after each change of one side of one book (or none), a strategy that has evaluated before
    decides exactly as a fresh one, and its intent carries the books as they are now."""
    insts, books, cap, edge = u
    cfg = TriangularConfig(start_currencies=("USDT",), max_start={"USDT": cap}, min_edge_bps=edge)
    warm = TriangularStrategy(cfg, insts, books.get, clock_ns=lambda: 1)
    ids = sorted(books)
    for step in range(12):
        fresh = TriangularStrategy(cfg, insts, books.get, clock_ns=lambda: 1)
        for t in warm.index.triangles:
            a, b = warm.evaluate(t, 1, use_bound=False), fresh.evaluate(t, 1, use_bound=False)
            assert (a.quote is None) == (b.quote is None) and a.quote == b.quote, (step, t.path)
            if a.intent is not None:
                assert a.intent.books == b.intent.books and a.intent.legs == b.intent.legs
        if data.draw(st.booleans()):
            continue  # nothing changed: the memo serves every triangle
        book = books[data.draw(st.sampled_from(ids))]
        is_bid = data.draw(st.booleans())
        levels = book.levels(is_bid, 20)
        if not levels:
            continue
        tick, lots = levels[data.draw(st.integers(0, min(1, len(levels) - 1)))]
        # the best levels decide most: thin one out (or remove it), or make it deeper
        book.apply_delta(is_bid, tick, data.draw(st.sampled_from([0, lots // 3, lots * 3])), book.sequence + 1, 1)
