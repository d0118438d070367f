"""Triangular evaluator over the whole KuCoin universe: one book update -> the affected triangles
re-evaluated (depth and fees), against a full scan of every triangle per update, in the same run."""

from __future__ import annotations

import random
import time
from decimal import Decimal

from bench.harness import percentiles

METHOD = (
    "One process, pure evaluation (no I/O). Universe: every enabled pair of KuCoin's real symbol list in "
    "../shared (cryptofeed's 2021-04-25 /api/v1/symbols capture: 633 enabled pairs, increments, minimums) whose "
    "consistent price spans at least 14 ticks (room for the ladder), else the simulator's built-in set; prices from one set of USD prices (the "
    "simulator's universe.usd_price_of), so every triangle's round trip is 1 before spreads and fees. "
    "Start currencies USDT, BTC, ETH, USDC, KCS with caps worth ~2,000 USD; taker fee 0.1 %; min edge 5 bps; "
    "CryptoBook per pair (the build's default core) with 10 levels a side, 3 ticks spread, sizes worth "
    "200-5,000 USD per level. Each sample applies one level delta (new size at a random level of a random pair "
    "used by a triangle) and times, with perf_counter_ns, TriangularStrategy.on_book_update(pair): only the "
    "triangles using that pair, and of those only the ones whose top of book can clear the minimum edge get "
    "the depth walk with fees and increments over the start-size candidates. 'quiet' = consistent books (no "
    "triangle clears the fees); 'edge' = the updated pair's makers 1 % off (its triangles pass the bound, are "
    "walked and each acceptable one becomes an Intent, on_book_update); 'edge_best_only' = the same updates through best_decision, what the node calls: survivors walked in decreasing exact bound, stopping when no bound can beat the best edge found (checked equal to the best of the full evaluation on every sample). The full scan evaluates every triangle of the universe after the "
    "same kind of update with the same evaluator (exact bound, then walks), fewer samples; the naive full scan "
    "depth-walks every triangle with no bound (what most open-source triangular bots do); ratios = full-scan p50 / "
    "indexed p50. The indexed path: a prefilter on cached per-leg log rates (refreshed on each pair's own update; "
    "drops a triangle only 1e-9 below the threshold), then the exact integer top-of-book bound on the live books, "
    "then the Decimal depth walk."
)
TARGETS = {"quiet_p50_us": ("<=", 20.0), "quiet_p99_us": ("<=", 100.0)}

LEVELS = 10
SPREAD_TICKS = 3
NOW = 1_800_000_000 * 10**9
STARTS = ("USDT", "BTC", "ETH", "USDC", "KCS")


def build(seed: int = 11):
    from arbkit.core.book import IMPLEMENTATION, CryptoBook
    from arbkit.core.enums import InstrumentKind, Venue
    from arbkit.core.fees import FeeSpec
    from arbkit.core.instruments import Instrument
    from arbkit.sim.kucoin.universe import USD_PRICES, build_markets, load_real_rows, usd_price_of
    from arbkit.strategies.triangular import TriangularConfig, TriangularStrategy
    from arbkit.venues.kucoin.parse import book_digits

    rng = random.Random(seed)
    real = load_real_rows()
    usd = dict(USD_PRICES)
    if real:
        syms = sorted(s for s, r in real.items() if r.get("enableTrading", True))
        markets, source = build_markets(syms, use_shared=True, usd=usd)
    else:
        markets, source = build_markets(None, use_shared=False, usd=usd)
    fee = FeeSpec(kind="spot", taker_rate=Decimal("0.001"), maker_rate=Decimal("0.001"))
    insts, books, fair = [], {}, {}
    for m in markets:
        price = usd_price_of(m.base, usd) / usd_price_of(m.quote, usd)
        t = int(price / m.price_increment)
        if t < 1 + SPREAD_TICKS + LEVELS:
            continue  # cheaper than a few ticks: no sensible ladder
        inst = Instrument(venue=Venue.KUCOIN, symbol=m.symbol, kind=InstrumentKind.SPOT, tick_size=m.price_increment,
                          size_increment=m.base_increment, min_size=m.base_min_size, min_notional=m.min_funds,
                          quote=m.quote, base=m.base, market_id=m.symbol, fee=fee)
        pd, sd = book_digits(m.price_increment, m.base_increment)
        b = CryptoBook(pd, sd, inst.id)
        base_usd = usd_price_of(m.base, usd)

        def lots() -> int:
            q = Decimal(rng.randrange(200, 5000)) / base_usd
            return max(1, int(q * 10**sd))
        bids = [(t - SPREAD_TICKS - k, lots()) for k in range(LEVELS)]
        asks = [(t + SPREAD_TICKS + k, lots()) for k in range(LEVELS)]
        b.apply_snapshot(bids, asks, 1, NOW)
        insts.append(inst)
        books[inst.id] = b
        fair[inst.id] = t
    caps = {c: (Decimal(2000) / usd_price_of(c, usd)).quantize(Decimal("0.00000001")) for c in STARTS}
    cfg = TriangularConfig(start_currencies=STARTS, max_start=caps, min_edge_bps=Decimal(5), depth=LEVELS)
    strat = TriangularStrategy(cfg, insts, books.get, tradeable=lambda iid, age: True, clock_ns=lambda: NOW)
    used = sorted(strat.index.by_symbol)
    return strat, books, fair, used, rng, source, len(markets), IMPLEMENTATION


def _update(book, rng: random.Random) -> None:
    is_bid = rng.random() < 0.5
    levels = book.levels(is_bid, LEVELS)
    tick = levels[rng.randrange(len(levels))][0]
    book.apply_delta(is_bid, tick, rng.randrange(1, 10**6) * 10, book.sequence + 1, NOW)


def _dislocate(book, fair_t: int, factor: Decimal) -> None:
    t = int(fair_t * factor)
    bids = [(t - SPREAD_TICKS - k, lots) for k, (_, lots) in enumerate(book.levels(True, LEVELS))]
    asks = [(t + SPREAD_TICKS + k, lots) for k, (_, lots) in enumerate(book.levels(False, LEVELS))]
    book.apply_snapshot(bids, asks, book.sequence + 1, NOW)


def run(quick: bool) -> dict:
    strat, books, fair, used, rng, source, n_markets, impl = build()
    pc = time.perf_counter_ns
    n = 2000 if quick else 20000
    quiet: list[int] = []
    affected: list[int] = []
    walked = 0
    for _ in range(n):
        sym = used[rng.randrange(len(used))]
        iid = "kucoin:" + sym
        _update(books[iid], rng)
        t0 = pc()
        out = strat.on_book_update(iid)
        quiet.append(pc() - t0)
        affected.append(len(strat.index.affected(sym)))
        walked += len(out)
    intents_quiet = 0  # consistent books: checked below on the full scan
    # edge: the updated pair 1 % off; its triangles are walked and intents built
    edge: list[int] = []
    edge_best: list[int] = []
    edge_intents = 0
    for _ in range(n // 20):
        sym = used[rng.randrange(len(used))]
        iid = "kucoin:" + sym
        keep = (books[iid].levels(True, LEVELS), books[iid].levels(False, LEVELS))
        _dislocate(books[iid], fair[iid], Decimal("0.99") if rng.random() < 0.5 else Decimal("1.01"))
        t0 = pc()
        out = strat.on_book_update(iid)
        edge.append(pc() - t0)
        edge_intents += sum(1 for d in out if d.intent is not None)
        t0 = pc()
        best = strat.best_decision(iid)
        edge_best.append(pc() - t0)
        if out and any(d.intent is not None for d in out):
            top = max(d.quote.edge_bps for d in out if d.intent is not None)
            assert best is not None and best.quote.edge_bps == top, "branch and bound missed the best triangle"
        books[iid].apply_snapshot(keep[0], keep[1], books[iid].sequence + 1, NOW)
        strat.note_book(iid)  # the strategy sees every book change (as the node routes them)
    # full scan: every triangle per update
    full: list[int] = []
    for _ in range(2 if quick else 5):
        sym = used[rng.randrange(len(used))]
        _update(books["kucoin:" + sym], rng)
        t0 = pc()
        res = [strat.evaluate(t, NOW) for t in strat.index.triangles]
        full.append(pc() - t0)
        intents_quiet += sum(1 for d in res if d.intent is not None)
    # naive full scan: every triangle depth-walked, no bound (most open-source bots)
    naive: list[int] = []
    for _ in range(1 if quick else 2):
        sym = used[rng.randrange(len(used))]
        _update(books["kucoin:" + sym], rng)
        t0 = pc()
        res = [strat.evaluate(t, NOW, use_bound=False) for t in strat.index.triangles]
        naive.append(pc() - t0)
        intents_quiet += sum(1 for d in res if d.intent is not None)
    q, e, f = percentiles(quiet, (50, 99)), percentiles(edge, (50, 99)), percentiles(full, (50, 99))
    aff = sorted(affected)
    return {
        "symbols_source": source.split("/")[-1],
        "pairs_listed": n_markets,
        "pairs_in_books": len(books),
        "pairs_in_triangles": len(used),
        "triangles": len(strat.index.triangles),
        "start_currencies": ",".join(STARTS),
        "affected_per_update_p50": aff[len(aff) // 2],
        "affected_per_update_max": aff[-1],
        "quiet_triangles_past_prefilter": walked,
        "book_impl": impl,
        "quiet_p50_us": q["p50_us"],
        "quiet_p99_us": q["p99_us"],
        "quiet_mean_us": q["mean_us"],
        "edge_p50_us": e["p50_us"],
        "edge_p99_us": e["p99_us"],
        "edge_intents": edge_intents,
        "edge_best_only_p50_us": percentiles(edge_best, (50, 99))["p50_us"],
        "edge_best_only_p99_us": percentiles(edge_best, (50, 99))["p99_us"],
        "edge_samples": len(edge),
        "full_scan_p50_us": f["p50_us"],
        "full_scan_samples": len(full),
        "full_scan_intents_on_quiet_books": intents_quiet,
        "full_scan_naive_walk_p50_us": percentiles(naive, (50,))["p50_us"],
        "full_scan_naive_samples": len(naive),
        "ratio_full_scan_over_indexed_p50": round(f["p50_us"] / q["p50_us"], 1) if q["p50_us"] else None,
        "ratio_naive_full_scan_over_indexed_p50": round(percentiles(naive, (50,))["p50_us"] / q["p50_us"]) if q["p50_us"] else None,
    }
