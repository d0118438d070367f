"""Complete-set market making: one book change -> the new quote decision -> the cancel and replace
request bytes (Polymarket), p50/p99."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal

from bench.harness import percentiles

METHOD = (
    "One process, no I/O. 200 Polymarket binary markets quoted by CompleteSetMM (target spread 0.02, quote 10, "
    "skew 0.001, inventory on half of them), 15 levels a side per PredictionBook (the build's default core), "
    "fresh books on a live connection (MarketState); the quote manager's state holds one resting quote per "
    "outcome. Each sample moves the best bid of a random outcome by one tick (level delta) and times, with "
    "perf_counter_ns: (decide) CompleteSetMM.on_book -> QuoteRequest (liveness check of both books, the others' best bid "
    "(our resting quote taken out of its level), exact "
    "Decimal pricing: improve, post-only cap, skew, fresh-set and completion budgets, sizes from inventory, "
    "minimums, signable size); (diff) quote_actions(resting, wanted) -> cancel/replace/place per outcome; "
    "(bytes) for each replaced quote the DELETE /order body {orderID} with its L2 HMAC headers and the new "
    "order: OrderRequest -> PolymarketGateway.build (Decimal -> amounts, salt, V2 EIP-712 hash, secp256k1 "
    "signature) -> POST /order body (postOnly) JSON with L2 HMAC headers. total = decide + diff + bytes. "
    "Samples where the decision did not change a quote (no replace) are counted apart (unchanged_*)."
)
TARGETS = {"total_p50_us": ("<=", 500.0)}

N_MARKETS = 200
LEVELS = 15
NOW = 1_800_000_000 * 10**9
KEY = "0x" + "3c" * 32


def _build(seed: int = 5):
    from arbkit.core.book import IMPLEMENTATION, PredictionBook
    from arbkit.core.enums import ConnectionState, InstrumentKind, Venue
    from arbkit.core.fees import FeeSpec
    from arbkit.core.instruments import Instrument
    from arbkit.strategies.base import InventoryChange
    from arbkit.strategies.complete_set_mm import CompleteSetMM, MMConfig, MMKey, MMParams
    from arbkit.strategies.market_state import MarketState

    rng = random.Random(seed)
    tick = Decimal("0.01")
    fee = FeeSpec(kind="polymarket", taker_rate=Decimal("0.02"))
    market = MarketState()
    market.set_connection(Venue.POLYMARKET, "polymarket.market.0", ConnectionState.CONNECTED)
    keys = []
    for m in range(N_MARKETS):
        fair = rng.randrange(10, 90)
        pair = []
        for side, f in (("YES", fair), ("NO", 100 - fair)):
            sym = f"{m:04d}{1 if side == 'YES' else 2}" + "7" * 70
            inst = Instrument(venue=Venue.POLYMARKET, symbol=sym, kind=InstrumentKind.OUTCOME, tick_size=tick,
                              size_increment=Decimal("0.01"), min_size=Decimal(5), quote="pUSD", outcome=side,
                              market_id=f"0x{m:064x}", fee=fee)
            b = PredictionBook(tick, 2, inst.id)
            bids = [(t, rng.randrange(50, 800) * 100) for t in range(max(1, f - 2 - LEVELS), f - 2)]
            asks = [(t, rng.randrange(50, 800) * 100) for t in range(f + 2, min(99, f + 2 + LEVELS))]
            b.apply_snapshot(bids, asks, sequence=1, ts_ns=NOW)
            market.add_book(inst.id, b)
            pair.append(inst)
        keys.append(MMKey(key=f"polymarket:market:0x{m:064x}", instruments=tuple(pair), merge_market=f"0x{m:064x}"))
    params = MMParams(target_spread=Decimal("0.02"), quote_size=Decimal(10), max_position=Decimal(50),
                      max_unmatched=Decimal(20), skew=Decimal("0.001"))
    mm = CompleteSetMM(MMConfig(params=params, max_silence_s=3600.0), market, keys, clock_ns=lambda: NOW)
    for i, k in enumerate(keys):
        if i % 2:
            mm.on_inventory(InventoryChange(k.key, k.instruments[0].id, Decimal(7), Decimal("2.80"), "fill", NOW))
    return mm, market, keys, rng, IMPLEMENTATION


def _measure(n: int) -> dict:
    import time

    import msgspec

    from arbkit.core.enums import OrderType, TimeInForce
    from arbkit.core.ids import new_correlation_id
    from arbkit.core.orders import OrderRequest
    from arbkit.execution.quotes import LiveQuote, quote_actions
    from arbkit.strategies.base import BookUpdate
    from arbkit.venues.polymarket import constants as C
    from arbkit.venues.polymarket.auth import ApiCreds, l2_headers
    from arbkit.venues.polymarket.gateway import GatewayConfig, PolymarketGateway

    mm, market, keys, rng, impl = _build()
    gw = PolymarketGateway(KEY, ApiCreds("k" * 36, "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", "p" * 20),
                           GatewayConfig(use_metadata=False))
    loop = asyncio.new_event_loop()
    # the manager's state: one resting quote per outcome, as decided on the initial books
    live: dict[str, dict[str, LiveQuote]] = {}
    for k in keys:
        req = mm.decide(k.key, NOW)
        mm._changed(req)
        live[k.key] = {q.instrument.id: LiveQuote(key=k.key, strategy="mm", instrument=q.instrument, side=q.side,
                                                  price=q.price, size=q.size, coid=new_correlation_id("q"), placed_ns=0,
                                                  state="live", venue_order_id="0x" + "ab" * 32) for q in req.quotes}
    pc = time.perf_counter_ns
    dec, dif, byt, tot, unchanged = [], [], [], [], []
    nbytes = 0
    replaces = 0
    for i in range(n):
        k = keys[rng.randrange(len(keys))]
        inst = k.instruments[rng.randrange(2)]
        book = market.book(inst.id)
        bb = book.best_bid()
        ba = book.best_ask()
        # a bounded walk: the best bid moves a tick up (a new level) or down (the best level
        # removed), keeping at least 5 bid levels and a spread of 2 ticks or more
        up = rng.random() < 0.5 or len(book.levels(True, 5)) < 5
        new_t = bb[0] + 1
        if up and new_t >= ba[0] - 1:
            up = False
        if up:
            book.apply_delta(True, new_t, rng.randrange(50, 800) * 100, book.sequence + 1, NOW)
        else:
            book.apply_delta(True, bb[0], 0, book.sequence + 1, NOW)
        t0 = pc()
        out = mm.on_book(BookUpdate(inst.id, NOW))
        t1 = pc()
        if not out:
            unchanged.append(t1 - t0)
            continue
        req = out[0]
        want = {q.instrument.id: q for q in req.quotes}
        acts = quote_actions(live[k.key], want)
        t2 = pc()
        payload = []
        for iid, action in acts:
            lq = live[k.key].get(iid)
            if action in ("cancel", "replace") and lq is not None:
                body = msgspec.json.encode({"orderID": lq.venue_order_id}).decode()
                payload.append((body, l2_headers(gw.signer.address, gw.creds, "DELETE", C.PATH_CANCEL, body, timestamp=1)))
            if action in ("replace", "place"):
                q = want[iid]
                r = OrderRequest(instrument=q.instrument, client_order_id=new_correlation_id("q"), side=q.side,
                                 quantity=q.size, price=q.price, order_type=OrderType.LIMIT,
                                 time_in_force=TimeInForce.GTC, post_only=True)
                so, otype = loop.run_until_complete(gw.build(r))
                body = msgspec.json.encode(gw._body(so, otype, True)).decode()
                payload.append((body, l2_headers(gw.signer.address, gw.creds, "POST", C.PATH_POST_ORDER, body, timestamp=1)))
        t3 = pc()
        nbytes += sum(len(b) for b, _ in payload)
        replaces += sum(1 for _, a in acts if a == "replace")
        dec.append(t1 - t0)
        dif.append(t2 - t1)
        byt.append(t3 - t2)
        tot.append(t3 - t0)
        # the venue took the change: the manager's state follows (untimed)
        for iid, action in acts:
            if action in ("replace", "place"):
                q = want[iid]
                live[k.key][iid] = LiveQuote(key=k.key, strategy="mm", instrument=q.instrument, side=q.side, price=q.price,
                                             size=q.size, coid="x", placed_ns=0, state="live", venue_order_id="0x" + "cd" * 32)
            elif action == "cancel":
                live[k.key].pop(iid, None)
    loop.run_until_complete(gw.close())
    loop.close()
    return {"decide": percentiles(dec, (50, 99)), "diff": percentiles(dif, (50, 99)), "bytes": percentiles(byt, (50, 99)),
            "total": percentiles(tot, (50, 99)), "unchanged": percentiles(unchanged, (50, 99)) if unchanged else None,
            "changed_samples": len(tot), "unchanged_samples": len(unchanged), "replaces": replaces,
            "bytes_per_change": round(nbytes / max(1, len(tot))), "impl": impl}


def run(quick: bool) -> dict:
    r = _measure(1500 if quick else 20000)
    u = r["unchanged"] or {"p50_us": None, "p99_us": None}
    return {
        "markets": N_MARKETS,
        "book_impl": r["impl"],
        "changed_samples": r["changed_samples"],
        "replaces": r["replaces"],
        "decide_p50_us": r["decide"]["p50_us"],
        "decide_p99_us": r["decide"]["p99_us"],
        "diff_p50_us": r["diff"]["p50_us"],
        "diff_p99_us": r["diff"]["p99_us"],
        "bytes_p50_us": r["bytes"]["p50_us"],
        "bytes_p99_us": r["bytes"]["p99_us"],
        "total_p50_us": r["total"]["p50_us"],
        "total_p99_us": r["total"]["p99_us"],
        "request_bytes_per_change": r["bytes_per_change"],
        "unchanged_samples": r["unchanged_samples"],
        "unchanged_p50_us": u["p50_us"],
        "unchanged_p99_us": u["p99_us"],
    }
