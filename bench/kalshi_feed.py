"""Kalshi orderbook_delta frames -> parse -> bids-only book -> two outcome books, messages/s."""

from __future__ import annotations

import gc
import json
import random
import time
from typing import Any

from bench import harness

METHOD = (
    "Seeded stream of Kalshi WS frames in the current fixed-point shape (orderbook_snapshot per market, then "
    "orderbook_delta with price_dollars/delta_fp/side/ts and a per-subscription seq; 50 markets, YES bids on "
    "0.01..0.49 and NO bids on 0.01..0.49 so books stay uncrossed; deltas are +/- changes that never take a level "
    "below zero, ~1/3 remove a level). Each frame goes through KalshiMarketFeed.on_frame as it would off the "
    "socket: JSON decode (msgspec), seq check, exact fixed-point parse (price, count and the RFC3339 ts -> ts_venue; every frame has its own ts, advancing by 1-900 us, and sizes vary from 0.01 to 500.00, so no parse cache always hits), "
    "apply to the YES book and the mirrored NO "
    "book (asks = 1 - other side's bids), and BookUpdated events for both outcomes to a no-op sink "
    "(book_updates='all'; the 'top' figure emits only when a top level moved). Parse-only = decode + delta_of. "
    "Full N=400,000 frames, --quick N=40,000; best of 3; rates are frames per wall-clock second of the loop (one thread). No peer: there is no installed "
    "Kalshi client with a book to compare against (NautilusTrader's Kalshi adapter is an unmerged PR)."
)

TARGETS = {"frames_per_s": (">=", 100_000)}

SEED = 20260312
MARKETS = 50


def make_frames(n: int, seed: int = SEED) -> tuple[list[str], dict[tuple[str, str], dict[int, int]]]:
    """(frames, final bid levels per (ticker, side) as cents -> lots)."""
    rng = random.Random(seed)
    tickers = [f"KXBENCH-26DEC31-T{i:03d}" for i in range(MARKETS)]
    levels: dict[tuple[str, str], dict[int, int]] = {}
    frames: list[str] = []
    seq = 0
    for t in tickers:
        seq += 1
        book = {}
        for side in ("yes", "no"):
            lv = {c: rng.randint(1, 500) * 100 for c in rng.sample(range(1, 50), 10)}
            levels[(t, side)] = lv
            book[f"{side}_dollars_fp"] = [[f"0.{c:02d}00", f"{q // 100}.{q % 100:02d}"] for c, q in sorted(lv.items())]
        frames.append(json.dumps({"type": "orderbook_snapshot", "sid": 1, "seq": seq,
                                  "msg": {"market_ticker": t, "market_id": "m", **book}}, separators=(",", ":")))
    ts_us = 1_773_339_613_361_842  # 2026-03-12T18:20:13.361842Z; advances by a random few hundred us per frame
    while len(frames) < n:
        ts_us += rng.randint(1, 900)
        sec, us = divmod(ts_us, 1_000_000)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{us:06d}Z"
        t = tickers[rng.randrange(MARKETS)]
        side = "yes" if rng.random() < 0.5 else "no"
        lv = levels[(t, side)]
        c = rng.randint(1, 49)
        cur = lv.get(c, 0)
        r = rng.random()
        if cur and r < 0.33:
            d = -cur
        elif cur and r < 0.66:
            d = -rng.randint(1, cur)
        else:
            d = rng.randint(1, 50_000)
        new = cur + d
        if new:
            lv[c] = new
        else:
            lv.pop(c, None)
        seq += 1
        sign = "-" if d < 0 else ""
        a = abs(d)
        frames.append(json.dumps({"type": "orderbook_delta", "sid": 1, "seq": seq, "msg": {
            "market_ticker": t, "market_id": "m", "price_dollars": f"0.{c:02d}00",
            "delta_fp": f"{sign}{a // 100}.{a % 100:02d}", "side": side, "ts": stamp}},
            separators=(",", ":")))
    return frames, levels


def _run_feed(frames: list[str], mode: str) -> tuple[float, Any]:
    from arbkit.venues.kalshi.feed import FeedConfig, KalshiMarketFeed

    feed = KalshiMarketFeed(lambda e: None, FeedConfig(book_updates=mode))
    feed.subscribe([f"KXBENCH-26DEC31-T{i:03d}" for i in range(MARKETS)])
    on_frame = feed.on_frame
    gc.collect()
    t0 = time.perf_counter()
    for f in frames:
        on_frame(f, 0)
    dt = time.perf_counter() - t0
    assert feed.malformed.count == 0 and feed.stats.seq_gaps == 0, feed.stats.as_dict()
    return dt, feed


def _run_parse(frames: list[str]) -> float:
    from arbkit.venues.kalshi.parse import decode_ws, delta_of, snapshot_levels

    gc.collect()
    t0 = time.perf_counter()
    for f in frames:
        fr = decode_ws(f)
        if fr.type == "orderbook_delta":
            delta_of(fr.msg)
        else:
            snapshot_levels(fr.msg)
    return time.perf_counter() - t0


def run(quick: bool) -> dict:
    from arbkit.core.book import IMPLEMENTATION

    n = 40_000 if quick else 400_000
    frames, levels = make_frames(n)
    best_all = min(_run_feed(frames, "all")[0] for _ in range(3))
    best_top = min(_run_feed(frames, "top")[0] for _ in range(3))
    best_parse = min(_run_parse(frames) for _ in range(3))
    _, feed = _run_feed(frames, "all")
    # cross-check: the final books equal the generator's own level maps (bids of both sides, and the
    # derived asks), so the figure is for a correct book
    for (ticker, side), lv in levels.items():
        m = feed.market(ticker)
        own, other = (m.yes, m.no) if side == "yes" else (m.no, m.yes)
        want = sorted(((c * 10, q) for c, q in lv.items()), reverse=True)
        assert own.levels(True) == want, (ticker, side)
        assert other.levels(False) == [(m.n - t, q) for t, q in want], (ticker, side)
    return {
        "frames": n,
        "markets": MARKETS,
        "book_impl": IMPLEMENTATION,
        "frames_per_s": round(n / best_all),
        "frames_per_s_top_only": round(n / best_top),
        "parse_only_frames_per_s": round(n / best_parse),
        "us_per_frame": round(best_all / n * 1e6, 3),
        "deltas_applied": feed.stats.deltas_applied,
        "peer": "none installed (no Kalshi client with a book)",
    }


if __name__ == "__main__":  # pragma: no cover
    rec = harness.record("kalshi_feed", METHOD, run(True), True, TARGETS)
    harness.emit(rec, False)
