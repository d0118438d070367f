"""Complete-set evaluator: one book update on an event with 2-30 outcomes -> that event
re-evaluated with depth and fees, across 500 live events."""

from __future__ import annotations

import random
from decimal import Decimal

from bench.harness import percentiles

METHOD = (
    "One process, pure evaluation (no I/O). 500 Polymarket neg-risk events with 2-30 outcomes each "
    "(uniform; ~8,000 YES PredictionBooks, the build's default core), 15 ask and 15 bid levels per book, "
    "per-outcome Polymarket taker fee 0.25*(p(1-p))^2, minimum 5 shares, max 5,000 sets, min edge 50 bps, "
    "fresh books on live connections (MarketState). Each sample applies one level delta (new total size "
    "at a random ask level) to a random outcome of a random event and times, with perf_counter_ns, "
    "CompleteSetEvaluator.on_book_update(instrument): the staleness/liveness check of every outcome's book, "
    "the sum-of-best-asks pre-check, and when the asks allow an edge the merged N-ladder depth walk (heap "
    "of level boundaries) with exact Decimal notional and fee per level at every candidate size, the "
    "threshold, the venues' minimums and signable sizes, and the N-leg Intent (10-level book copies). "
    "'quiet' = every event's best asks sum to 1.00-1.05 (no edge: the pre-check answers); 'edge' = every "
    "event's asks sum to ~0.90, so the walk crosses several levels of every ladder and an intent is built "
    "on every update (in-flight cleared after each sample, untimed). Figures by outcome count: "
    "edge_p50_us_n{2,10,30} from events of 2-4, 9-11 and 28-30 outcomes. update_* adds the book delta itself."
)
TARGETS = {"edge_p50_us": ("<=", 2000.0), "quiet_p50_us": ("<=", 60.0)}

N_EVENTS = 500
LEVELS = 15
NOW = 1_800_000_000 * 10**9


def _build(edge: bool, seed: int = 11):
    from arbkit.core.book import IMPLEMENTATION, PredictionBook
    from arbkit.core.enums import ConnectionState, InstrumentKind, Venue
    from arbkit.core.fees import FeeSpec
    from arbkit.core.instruments import Instrument
    from arbkit.strategies.base import EventOutcome, MultiOutcomeEvent
    from arbkit.strategies.complete_set import CompleteSetConfig, CompleteSetEvaluator
    from arbkit.strategies.market_state import MarketState

    rng = random.Random(seed)
    tick = Decimal("0.01")
    fee = FeeSpec(kind="polymarket", taker_rate=Decimal("0.25"), exponent=2)
    market = MarketState()
    market.set_connection(Venue.POLYMARKET, "polymarket.market.0", ConnectionState.CONNECTED)
    events = []
    for e in range(N_EVENTS):
        n = rng.randrange(2, 31)
        # fair values in whole ticks summing to 100; best asks 0-1 tick above fair (quiet) or a
        # tenth of the set below it (edge)
        cuts = sorted(rng.sample(range(1, 100), n - 1)) if n <= 99 else []
        fairs = [b - a for a, b in zip([0] + cuts, cuts + [100])]
        if edge:  # a tenth of the set below parity, taken a tick at a time from outcomes above 1 tick
            asks_t = list(fairs)
            left, i = 10, 0
            while left:
                if asks_t[i % n] > 1:
                    asks_t[i % n] -= 1
                    left -= 1
                i += 1
        else:  # 0-1 tick above fair: the asks sum to 1.00 or more
            asks_t = [min(98, f + rng.randrange(0, 2)) for f in fairs]
        outs = []
        for i, ask in enumerate(asks_t):
            inst = Instrument(venue=Venue.POLYMARKET, symbol=f"e{e}o{i}", kind=InstrumentKind.OUTCOME, tick_size=tick,
                              size_increment=Decimal("0.01"), min_size=Decimal(5), quote="pUSD", outcome="YES",
                              market_id=f"0xe{e}o{i}", neg_risk=True, fee=fee)
            b = PredictionBook(tick, 2, inst.id)
            asks = [(t, rng.randrange(50, 800) * 100) for t in range(ask, min(99, ask + LEVELS))]
            bids = [(t, rng.randrange(50, 800) * 100) for t in range(max(1, ask - 1 - LEVELS), max(1, ask - 1))]
            b.apply_snapshot(bids, asks, sequence=1, ts_ns=NOW)
            market.add_book(inst.id, b)
            outs.append(EventOutcome(label=f"o{i}", yes=inst))
        events.append(MultiOutcomeEvent(venue=Venue.POLYMARKET, event_id=f"e{e}", title=f"event {e}", outcomes=tuple(outs),
                                        neg_risk=True, exhaustive=True))
    cfg = CompleteSetConfig(min_edge_bps=Decimal(50), max_sets=Decimal(5000), max_silence_s=3600.0)
    ev = CompleteSetEvaluator(cfg, market, clock_ns=lambda: NOW)
    ev.set_events(events)
    return ev, market, events, rng, IMPLEMENTATION


def _measure(edge: bool, n: int) -> dict:
    import time

    ev, market, events, rng, impl = _build(edge)
    pc = time.perf_counter_ns
    eval_ns: list[int] = []
    update_ns: list[int] = []
    by_n: dict[str, list[int]] = {"n2": [], "n10": [], "n30": []}
    intents = 0
    for _ in range(n):
        event = events[rng.randrange(len(events))]
        o = event.outcomes[rng.randrange(len(event.outcomes))]
        book = market.book(o.yes.id)
        levels = book.levels(False, LEVELS)
        tick_ = levels[rng.randrange(len(levels))][0]
        lots = rng.randrange(50, 800) * 100
        t0 = pc()
        book.apply_delta(False, tick_, lots, book.sequence + 1, NOW)
        t1 = pc()
        out = ev.on_book_update(o.yes.id, NOW)
        t2 = pc()
        eval_ns.append(t2 - t1)
        update_ns.append(t2 - t0)
        k = len(event.outcomes)
        if k <= 4:
            by_n["n2"].append(t2 - t1)
        elif 9 <= k <= 11:
            by_n["n10"].append(t2 - t1)
        elif k >= 28:
            by_n["n30"].append(t2 - t1)
        intents += len(out)
        for it in out:
            ev.execution_finished(it.execution_id, traded=False)  # clear in-flight, no wait
    return {"eval": percentiles(eval_ns, (50, 99)), "update": percentiles(update_ns, (50, 99)), "intents": intents,
            "impl": impl, "by_n": {k: percentiles(v, (50,))["p50_us"] if v else None for k, v in by_n.items()},
            "outcomes": sum(len(e.outcomes) for e in events)}


def run(quick: bool) -> dict:
    n = 1500 if quick else 20000
    quiet = _measure(False, n)
    edge = _measure(True, n // 4)
    return {
        "events": N_EVENTS,
        "outcome_books": quiet["outcomes"],
        "levels_per_side": LEVELS,
        "book_impl": quiet["impl"],
        "quiet_p50_us": quiet["eval"]["p50_us"],
        "quiet_p99_us": quiet["eval"]["p99_us"],
        "quiet_intents": quiet["intents"],
        "edge_p50_us": edge["eval"]["p50_us"],
        "edge_p99_us": edge["eval"]["p99_us"],
        "edge_intents": edge["intents"],
        "edge_samples": n // 4,
        "edge_p50_us_n2": edge["by_n"]["n2"],
        "edge_p50_us_n10": edge["by_n"]["n10"],
        "edge_p50_us_n30": edge["by_n"]["n30"],
        "update_edge_p50_us": edge["update"]["p50_us"],
        "update_edge_p99_us": edge["update"]["p99_us"],
    }
