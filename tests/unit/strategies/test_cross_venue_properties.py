"""The evaluator's choice equals a plain reference: every level boundary of both ladders (rounded
down and up to the common increment, plus the maximum), each priced by walking Decimal levels with
the venue fee per level, best net profit among those clearing the threshold and the minimums."""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from arbkit.core.enums import ConnectionState, Venue
from arbkit.core.fees import FeeSpec, fee_for
from arbkit.mapping.store import Polarity
from arbkit.strategies.cross_venue import CrossVenueConfig, CrossVenuePair, CrossVenueStrategy
from arbkit.strategies.market_state import MarketState

from test_cross_venue import KALSHI_FEE, NOW, POLY_FEE, book, kalshi, poly

D = Decimal
BPS = D(10_000)


def ladder(draw, lo: int, sd: int):
    n = draw(st.integers(1, 6))
    ticks = sorted(draw(st.sets(st.integers(lo, 99), min_size=n, max_size=n)))
    unit = D(1).scaleb(-sd)
    return [(str(D(t) / 100), str(D(draw(st.integers(1, 2000))) * unit * 10)) for t in ticks]


@st.composite
def scenario(draw):
    return {
        "poly": ladder(draw, 20, 2),
        "kalshi": ladder(draw, 20, 0),
        "fees": draw(st.booleans()),
        "max_size": D(draw(st.integers(1, 400))),
        "min_edge": D(draw(st.integers(0, 800))),
        "margin": D(draw(st.integers(0, 50))),
        "poly_min": D(draw(st.sampled_from([1, 5, 15]))),
    }


def walk(levels, q: Decimal, spec: FeeSpec):
    """(notional, fee, worst price) of buying q, fee per level filled; None if not enough."""
    left, notional, fee, worst = q, D(0), D(0), None
    for p, s in levels:
        if left <= 0:
            break
        p, s = D(p), D(s)
        take = min(left, s)
        notional += p * take
        fee += fee_for(spec, p, take)
        worst = p
        left -= take
    return None if left > 0 else (notional, fee, worst)


def reference(sc, pi, ki):
    cum, sizes = D(0), set()
    for levels in (sc["poly"], sc["kalshi"]):
        cum = D(0)
        for _, s in levels:
            cum += D(s)
            b = min(cum, sc["max_size"])
            sizes.add(b.to_integral_value(rounding=ROUND_FLOOR))
            sizes.add(b.to_integral_value(rounding=ROUND_CEILING))
    sizes.add(sc["max_size"])
    best = None
    for q in sorted(x for x in sizes if 0 < x <= sc["max_size"]):
        a, b = walk(sc["poly"], q, pi.fee), walk(sc["kalshi"], q, ki.fee)
        if a is None or b is None:
            continue
        cost = a[0] + a[1] + b[0] + b[1]
        net = q - cost - cost * sc["margin"] / BPS
        if net * BPS < sc["min_edge"] * cost:
            continue
        if pi.check_order(a[2], q) or ki.check_order(b[2], q):
            continue
        if best is None or net > best[0]:
            best = (net, q)
    return best


@settings(max_examples=300, deadline=None)
@given(scenario())
def test_evaluator_matches_the_reference(sc):
    pf, kf = (POLY_FEE, KALSHI_FEE) if sc["fees"] else (FeeSpec(), FeeSpec())
    pair = CrossVenuePair(mapping_id=1, polarity=Polarity.SAME, poly_yes=poly("yes", pf, sc["poly_min"]),
                          poly_no=poly("no", pf, sc["poly_min"]), kalshi_yes=kalshi("yes", kf), kalshi_no=kalshi("no", kf))
    ms = MarketState()
    ms.set_connection(Venue.POLYMARKET, "p", ConnectionState.CONNECTED)
    ms.set_connection(Venue.KALSHI, "k", ConnectionState.CONNECTED)
    ms.add_book(pair.poly_yes.id, book(pair.poly_yes.id, sc["poly"]))
    ms.add_book(pair.kalshi_no.id, book(pair.kalshi_no.id, sc["kalshi"]))
    ms.add_book(pair.poly_no.id, book(pair.poly_no.id, [("0.99", "10")]))
    ms.add_book(pair.kalshi_yes.id, book(pair.kalshi_yes.id, [("0.99", "10")]))
    strat = CrossVenueStrategy(CrossVenueConfig(max_size=sc["max_size"], min_edge_bps=sc["min_edge"],
                                                safety_margin_bps=sc["margin"]), ms, clock_ns=lambda: NOW)
    strat.set_pairs([pair])
    d = strat.evaluate(pair, NOW, emit=False)
    ref = reference(sc, pair.poly_yes, pair.kalshi_no)
    if ref is None:
        assert d.quote is None, (d.quote, sc)
    else:
        assert d.quote is not None, (ref, d.reason, sc)
        assert d.quote.net_profit == ref[0], (d.quote, ref, sc)
        assert d.quote.quantity == ref[1]
