"""Cross-venue evaluator: book update -> both directions evaluated with depth walk, 2,000 mappings."""

from __future__ import annotations

import random
from decimal import Decimal

from bench.harness import percentiles

METHOD = (
    "One process, pure evaluation (no I/O). 2,000 approved mappings bound to 8,000 PredictionBooks "
    "(the build's default core), 15 ask and 15 bid levels per book, Polymarket fee 0.25*(p(1-p))^2 and "
    "Kalshi 0.07 ceil-to-cent, max size 5,000 sets, min edge 50 bps, safety margin 10 bps, fresh books, "
    "live connections (MarketState). Each sample applies one level delta (new total size at a random "
    "ask level) to a random instrument of a random mapping and times, with perf_counter_ns, "
    "CrossVenueStrategy.on_book_update(instrument) — both directions: freshness and liveness checks, "
    "the best-ask pre-check, and when the books allow an edge the merged depth walk with exact Decimal "
    "cost and fee at every level boundary, the threshold and minimum checks and the Intent (with "
    "10-level book copies). 'quiet' = books priced 1-2 ticks wide of parity (no edge: the pre-check "
    "answers); 'edge' = the Kalshi side of every mapping shifted 0.10 cheaper, so the walk crosses "
    "several levels of both ladders (edge_size_candidates_example = sizes priced for one mapping) and an intent "
    "is built on every update (in-flight cleared after each sample, untimed). "
    "update_* adds the book delta itself to the timing."
)
TARGETS = {"edge_p50_us": ("<=", 500.0), "quiet_p50_us": ("<=", 50.0)}

N_MAPPINGS = 2000
LEVELS = 15
NOW = 1_800_000_000 * 10**9


def _build(shift: Decimal, seed: int = 7):
    from arbkit.core.book import IMPLEMENTATION, PredictionBook
    from arbkit.core.enums import ConnectionState, InstrumentKind, Venue
    from arbkit.core.fees import FeeSpec
    from arbkit.core.instruments import Instrument
    from arbkit.mapping.store import Polarity
    from arbkit.strategies.cross_venue import CrossVenueConfig, CrossVenuePair, CrossVenueStrategy
    from arbkit.strategies.market_state import MarketState

    rng = random.Random(seed)
    tick = Decimal("0.01")
    pfee = FeeSpec(kind="polymarket", taker_rate=Decimal("0.25"), exponent=2)
    kfee = FeeSpec(kind="kalshi", taker_rate=Decimal("0.07"))
    market = MarketState()
    market.set_connection(Venue.POLYMARKET, "polymarket.market.0", ConnectionState.CONNECTED)
    market.set_connection(Venue.KALSHI, "kalshi.ws", ConnectionState.CONNECTED)
    pairs = []
    shift_t = int(shift / tick)

    def inst(venue: Venue, sym: str, outcome: str) -> Instrument:
        if venue is Venue.POLYMARKET:
            return Instrument(venue=venue, symbol=sym, kind=InstrumentKind.OUTCOME, tick_size=tick, size_increment=Decimal("0.01"),
                              min_size=Decimal(5), quote="USDC", outcome=outcome, fee=pfee)
        return Instrument(venue=venue, symbol=sym, kind=InstrumentKind.OUTCOME, tick_size=tick, size_increment=Decimal(1),
                          min_size=Decimal(1), quote="USD", outcome=outcome, fee=kfee)

    def ladder(iid: str, best_ask_t: int) -> None:
        b = PredictionBook(tick, 2, iid)
        asks = [(t, rng.randrange(50, 800) * 100) for t in range(max(1, best_ask_t), min(99, best_ask_t + LEVELS))]
        bids = [(t, rng.randrange(50, 800) * 100) for t in range(max(1, best_ask_t - 2 - LEVELS), max(1, best_ask_t - 2))]
        b.apply_snapshot(bids, asks, sequence=1, ts_ns=NOW)
        market.add_book(iid, b)

    for i in range(N_MAPPINGS):
        fair = rng.randrange(20, 80)
        py, pn = inst(Venue.POLYMARKET, f"p{i}y", "YES"), inst(Venue.POLYMARKET, f"p{i}n", "NO")
        ky, kn = inst(Venue.KALSHI, f"K{i}:yes", "YES"), inst(Venue.KALSHI, f"K{i}:no", "NO")
        ladder(py.id, fair + 1)
        ladder(pn.id, 100 - fair + 1)
        ladder(ky.id, fair + 1 + rng.randrange(0, 2) - shift_t)
        ladder(kn.id, 100 - fair + 1 + rng.randrange(0, 2) - shift_t)
        pairs.append(CrossVenuePair(mapping_id=i, polarity=Polarity.SAME, poly_yes=py, poly_no=pn, kalshi_yes=ky, kalshi_no=kn))
    cfg = CrossVenueConfig(max_size=Decimal(5000), min_edge_bps=Decimal(50), safety_margin_bps=Decimal(10))
    strat = CrossVenueStrategy(cfg, market, clock_ns=lambda: NOW)
    strat.set_pairs(pairs)
    return strat, market, pairs, rng, IMPLEMENTATION


def _measure(shift: Decimal, n: int) -> dict:
    import time

    strat, market, pairs, rng, impl = _build(shift)
    pc = time.perf_counter_ns
    eval_ns: list[int] = []
    update_ns: list[int] = []
    intents = 0
    candidates = 0
    for _ in range(n):
        pair = pairs[rng.randrange(len(pairs))]
        iid = pair.instrument_ids[rng.randrange(4)]
        book = market.book(iid)
        levels = book.levels(False, LEVELS)
        tick = levels[rng.randrange(len(levels))][0]
        lots = rng.randrange(50, 800) * 100
        t0 = pc()
        book.apply_delta(False, tick, lots, book.sequence + 1, NOW)
        t1 = pc()
        out = strat.on_book_update(iid, NOW)
        t2 = pc()
        eval_ns.append(t2 - t1)
        update_ns.append(t2 - t0)
        intents += len(out)
        for it in out:
            strat.execution_finished(it.execution_id, traded=False)  # clear in-flight, no cooldown
    d = strat.evaluate(pairs[0], NOW, emit=False)
    candidates = d.candidates
    return {"eval": percentiles(eval_ns, (50, 99)), "update": percentiles(update_ns, (50, 99)), "intents": intents,
            "impl": impl, "candidates_example": candidates}


def run(quick: bool) -> dict:
    n = 3000 if quick else 20000
    quiet = _measure(Decimal(0), n)
    edge = _measure(Decimal("0.10"), n // 3)
    return {
        "mappings": N_MAPPINGS,
        "levels_per_side": LEVELS,
        "book_impl": quiet["impl"],
        "quiet_p50_us": quiet["eval"]["p50_us"],
        "quiet_p99_us": quiet["eval"]["p99_us"],
        "quiet_intents": quiet["intents"],
        "edge_p50_us": edge["eval"]["p50_us"],
        "edge_p99_us": edge["eval"]["p99_us"],
        "edge_mean_us": edge["eval"]["mean_us"],
        "edge_intents": edge["intents"],
        "edge_samples": n // 3,
        "edge_size_candidates_example": edge["candidates_example"],
        "update_quiet_p50_us": quiet["update"]["p50_us"],
        "update_edge_p50_us": edge["update"]["p50_us"],
    }
