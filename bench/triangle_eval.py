"""Triangular evaluator over the whole KuCoin universe: one book update -> the affected triangles
re-evaluated (depth and fees), against a full scan of every triangle per update, in the same run."""

from __future__ import annotations

import random
import time
from decimal import Decimal

from bench.harness import percentiles

METHOD = (
    "One process, pure evaluation (no I/O), TriangularStrategy.best_decision(pair) per book update: what the node "
    "calls (the best intent of the triangles using that pair). Universe: every enabled pair of KuCoin's real "
    "symbol list in ../shared (cryptofeed's 2021-04-25 /api/v1/symbols capture: increments, minimums) whose "
    "consistent price spans at least 14 ticks, priced from one set of USD prices (the simulator's "
    "universe.usd_price_of) so every triangle's round trip is 1 before spreads and fees; CryptoBook per pair, 10 "
    "levels a side, 3 ticks spread, 200-5,000 USD per level; start currencies USDT, BTC, ETH, USDC, KCS with caps "
    "worth ~2,000 USD; taker fee 0.1 %; min edge 5 bps. The mixed stream (the headline): the real recording in "
    "../shared/data/cryptofeed (REST snapshots + 30 s of level-2 frames of 9 KuCoin pairs) replayed through "
    "KucoinMarketFeed into those 9 pairs' books (their bases priced from the recorded mids so their triangles are "
    "consistent), each BookUpdated timed; interleaved 1:1 with synthetic level deltas on random other pairs; and "
    "every 40 steps on average a dislocation: a random pair's makers moved 0.6-1.5 % (timed update), left there "
    "for 30 steps, then restored (timed update). 'edge' = the updates whose best_decision returned an intent "
    "(a fee-positive triangle, walked exactly), 'quiet' = the others. Depth walk: exact integers (tri_walk: "
    "float upper bounds only prune the start sizes; the chosen size is re-walked in Decimal before the intent is "
    "built); on every 10th edge update the decision is checked equal to the exhaustive Decimal search (the "
    "previous evaluator), and that Decimal search is timed on the same updates ('edge_decimal_reference'). "
    "Full scan peer, same run, same books: every triangle of the universe evaluated after an update (exact bound, "
    "then the walk), and the naive full scan: every triangle depth-walked with no bound (most open-source bots); "
    "ratios = full-scan p50 / mixed p50 (the scans run with the per-triangle choice memo cleared before each sample: "
    "every triangle walked again, as a scan does). Edge path: a triangle's integer choice and Decimal quote are "
    "reused while its three leg views (replaced whenever their levels change) are the same objects, an intent's "
    "Decimal levels are converted only for a book side that changed, LegSpec constants are computed at "
    "construction, the candidate list stops at the first level boundary above the cap. --quick: fewer steps and "
    "samples."
)
TARGETS = {"mixed_p50_us": ("<=", 20.0), "mixed_p99_us": ("<=", 100.0)}

LEVELS = 10
SPREAD_TICKS = 3
NOW = 1_800_000_000 * 10**9
STARTS = ("USDT", "BTC", "ETH", "USDC", "KCS")


def build(seed: int = 11, usd: dict | None = None, recorded: dict | None = None):
    from arbkit.core.book import IMPLEMENTATION, CryptoBook
    from arbkit.core.enums import InstrumentKind, Venue
    from arbkit.core.fees import FeeSpec
    from arbkit.core.instruments import Instrument
    from arbkit.sim.kucoin.universe import USD_PRICES, build_markets, load_real_rows, usd_price_of
    from arbkit.strategies.triangular import TriangularConfig, TriangularStrategy
    from arbkit.venues.kucoin.parse import book_digits

    rng = random.Random(seed)
    real = load_real_rows()
    usd = dict(USD_PRICES) if usd is None else usd
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
        if recorded and m.symbol in recorded:
            inst = recorded[m.symbol]  # its book is the replayed recording (run)
            insts.append(inst)
            books[inst.id] = None
            fair[inst.id] = t
            continue
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


def _recording(strat_books: dict, usd: dict):
    """The recorded KuCoin feed replayed into real books; usd gets the recorded bases' prices."""
    import msgspec

    from bench.kucoin_feed import _load
    from arbkit.core.fees import FeeSpec
    from arbkit.venues.kucoin.feed import FeedConfig, KucoinMarketFeed
    from arbkit.venues.kucoin.parse import SymbolWire, instrument_from_symbol

    loaded = _load()
    if loaded is None:
        return None
    syms, snaps, frames = loaded
    fee = FeeSpec(kind="spot", taker_rate=Decimal("0.001"), maker_rate=Decimal("0.001"))
    insts = {}
    for s in snaps:
        i = instrument_from_symbol(msgspec.convert(syms[s], SymbolWire))
        insts[s] = msgspec.structs.replace(i, fee=fee)
    for s, (_, data) in snaps.items():
        base, quote = s.split("-")
        if quote in usd and base not in usd:
            mid = (Decimal(data["bids"][0][0]) + Decimal(data["asks"][0][0])) / 2
            usd[base] = mid * usd[quote]
    events: list = []
    feed = KucoinMarketFeed(events.append, FeedConfig(), None, insts.get)
    feed.subscribe(i.id for i in insts.values())
    order = [(ts, 1, raw) for ts, raw in frames] + [(ts, 0, sym) for sym, (ts, _) in snaps.items()]
    order.sort(key=lambda e: (e[0], e[1]))
    return feed, insts, snaps, order, events


def run(quick: bool) -> dict:
    from arbkit.core.events import BookUpdated
    from arbkit.sim.kucoin.universe import USD_PRICES

    usd = dict(USD_PRICES)
    rec = _recording({}, usd)
    strat, books, fair, used, rng, source, n_markets, impl = build(usd=usd, recorded=None if rec is None else rec[1])
    feed = None
    if rec is not None:
        feed, insts, snaps, order, events = rec
        for s in snaps:
            if "kucoin:" + s in books:
                books["kucoin:" + s] = feed.book("kucoin:" + s)  # the strategy reads the replayed books
    synthetic = [s for s in used if rec is None or s not in rec[2]]
    pc = time.perf_counter_ns
    steps = 1500 if quick else 8000
    mixed: list[int] = []
    edge: list[int] = []
    quiet: list[int] = []
    edge_dec: list[int] = []
    checked = recorded_updates = 0
    open_dis: list[tuple[int, str, tuple]] = []  # (restore at step, iid, levels)
    rec_i = 0

    def timed(iid: str) -> None:
        nonlocal checked
        t0 = pc()
        best = strat.best_decision(iid)
        dt = pc() - t0
        mixed.append(dt)
        if best is None:
            quiet.append(dt)
            return
        edge.append(dt)
        if len(edge) % 10 == 1:  # the Decimal reference decides the same, and its time
            strat.exact_int = False
            t0 = pc()
            ref = strat.best_decision(iid)
            edge_dec.append(pc() - t0)
            strat.exact_int = True
            assert ref is not None and ref.triangle.key == best.triangle.key and ref.quote == best.quote
            checked += 1

    for step in range(steps):
        while open_dis and open_dis[0][0] <= step:
            _, iid, keep = open_dis.pop(0)
            books[iid].apply_snapshot(keep[0], keep[1], books[iid].sequence + 1, NOW)
            timed(iid)
        if rng.random() < 1 / 40 and len(open_dis) < 3:
            sym = synthetic[rng.randrange(len(synthetic))]
            iid = "kucoin:" + sym
            if all(iid != d[1] for d in open_dis):
                keep = (books[iid].levels(True, LEVELS), books[iid].levels(False, LEVELS))
                f = Decimal(rng.randint(60, 150)) / 10000
                _dislocate(books[iid], fair[iid], 1 - f if rng.random() < 0.5 else 1 + f)
                open_dis.append((step + 30, iid, keep))
                timed(iid)
                continue
        if feed is not None and step % 2 == 0:
            # the next recorded frame (snapshots installed untimed, as a REST call would)
            while rec_i < len(order):
                _, kind, item = order[rec_i]
                rec_i += 1
                if kind == 0:
                    data = snaps[item][1]
                    feed._books[item].sync.on_snapshot(
                        int(data["sequence"]), [(Decimal(p), Decimal(q)) for p, q in data["bids"]],
                        [(Decimal(p), Decimal(q)) for p, q in data["asks"]], 0)
                    continue
                events.clear()
                feed._on_frame(feed._shards[0], item)
                for ev in events:
                    if isinstance(ev, BookUpdated) and ev.instrument_id.split(":", 1)[1] in strat.index.by_symbol:
                        recorded_updates += 1
                        timed(ev.instrument_id)
                    elif isinstance(ev, BookUpdated):
                        strat.note_book(ev.instrument_id)
                break
            if rec_i >= len(order):
                rec_i = 0  # replay again from the snapshots (a fresh sync)
                feed, _, snaps, order, events = _recording({}, dict(usd))
                for s in snaps:
                    if "kucoin:" + s in books:
                        books["kucoin:" + s] = feed.book("kucoin:" + s)
            continue
        sym = synthetic[rng.randrange(len(synthetic))]
        iid = "kucoin:" + sym
        _update(books[iid], rng)
        timed(iid)
    # full scan peers, same books
    full: list[int] = []
    for _ in range(2 if quick else 5):
        sym = synthetic[rng.randrange(len(synthetic))]
        _update(books["kucoin:" + sym], rng)
        strat._memo.clear()  # a scan re-walks every triangle: no choice reused from an earlier pass
        t0 = pc()
        [strat.evaluate(t, NOW) for t in strat.index.triangles]
        full.append(pc() - t0)
    naive: list[int] = []
    for _ in range(1 if quick else 2):
        sym = synthetic[rng.randrange(len(synthetic))]
        _update(books["kucoin:" + sym], rng)
        strat._memo.clear()
        t0 = pc()
        [strat.evaluate(t, NOW, use_bound=False) for t in strat.index.triangles]
        naive.append(pc() - t0)
    m, e, q = percentiles(mixed, (50, 99)), percentiles(edge, (50, 99)), percentiles(quiet, (50, 99))
    ed = percentiles(edge_dec, (50, 99)) if edge_dec else {"p50_us": None, "p99_us": None}
    f50 = percentiles(full, (50,))["p50_us"]
    n50 = percentiles(naive, (50,))["p50_us"]
    aff = sorted(len(strat.index.affected(s)) for s in used)
    return {
        "symbols_source": source.split("/")[-1],
        "pairs_listed": n_markets,
        "pairs_in_books": len(books),
        "pairs_in_triangles": len(used),
        "triangles": len(strat.index.triangles),
        "start_currencies": ",".join(STARTS),
        "affected_per_pair_p50": aff[len(aff) // 2],
        "affected_per_pair_max": aff[-1],
        "book_impl": impl,
        "updates": len(mixed),
        "recorded_updates": recorded_updates,
        "edge_updates": len(edge),
        "edge_fraction": round(len(edge) / len(mixed), 4),
        "mixed_p50_us": m["p50_us"],
        "mixed_p99_us": m["p99_us"],
        "mixed_mean_us": m["mean_us"],
        "quiet_p50_us": q["p50_us"],
        "quiet_p99_us": q["p99_us"],
        "edge_p50_us": e["p50_us"],
        "edge_p99_us": e["p99_us"],
        "edge_decimal_reference_p50_us": ed["p50_us"],
        "edge_decimal_reference_p99_us": ed["p99_us"],
        "edge_checked_equal_to_decimal": checked,
        "exact_walks": strat.exact_walks,
        "exact_mismatches": strat.exact_mismatches,
        "full_scan_p50_us": f50,
        "full_scan_samples": len(full),
        "full_scan_naive_walk_p50_us": n50,
        "full_scan_naive_samples": len(naive),
        "ratio_full_scan_over_mixed_p50": round(f50 / m["p50_us"], 1) if m["p50_us"] else None,
        "ratio_naive_full_scan_over_mixed_p50": round(n50 / m["p50_us"]) if m["p50_us"] else None,
    }
