"""Order-book apply + best bid/ask read, arbkit books vs NautilusTrader's OrderBook (L2_MBP).

Stream: seeded, both sides, ticks 1..99 (bids 1..49, asks 50..99 so the book stays uncrossed),
~60% update of an existing level / 20% add of a new level / 20% delete of an existing level
(an add falls back to an update when a side is full, an update/delete to an add when it is empty;
the realised mix is reported). Lots are uniform in 1..100000 (0.01 .. 1000.00 shares).
"""

from __future__ import annotations

import random
import time
from decimal import Decimal
from typing import Any, Callable

from bench import harness

METHOD = (
    "Seeded stream of N deltas (ticks 1..99, ~60/20/20 update/add/delete, both sides; full N=1,000,000, "
    "--quick N=50,000); each implementation replays it on a fresh book with the book's methods bound to "
    "locals: apply one delta, then read best bid and best ask (arbkit: best_bid()/best_ask() -> (tick, lots); "
    "Nautilus 1.221.0: OrderBook(L2_MBP).apply_delta(prebuilt OrderBookDelta), best_bid_price(), "
    "best_ask_price()). arbkit's C books hand back the same immutable best-level tuple until the top of "
    "that side changes; Nautilus builds a new Price per read. Wall time of the replay loop only (Nautilus "
    "delta objects are built outside the timed part, in chunks of 100k); best of 3 runs; GC left on. Final "
    "books are cross-checked between all implementations. Batch figure: apply_deltas over chunks of 1000, "
    "no best reads."
)

TARGETS = {
    "prediction_deltas_per_s": (">=", 4_000_000),
    "crypto_deltas_per_s": (">=", 1_000_000),
}

SEED = 20260201
REPEATS = 3
NAUTILUS_CHUNK = 100_000


def make_stream(n: int, seed: int = SEED) -> tuple[list[bool], list[int], list[int], dict[str, int]]:
    """(is_bid, tick, lots) columns plus the realised op mix."""
    rng = random.Random(seed)
    occupied: dict[bool, list[int]] = {True: [], False: []}
    pos: dict[bool, dict[int, int]] = {True: {}, False: {}}
    grid = {True: (1, 49), False: (50, 99)}
    sides: list[bool] = []
    ticks: list[int] = []
    lots_col: list[int] = []
    mix = {"update": 0, "add": 0, "delete": 0}
    for _ in range(n):
        is_bid = rng.random() < 0.5
        occ, where = occupied[is_bid], pos[is_bid]
        lo, hi = grid[is_bid]
        r = rng.random()
        op = "update" if r < 0.6 else "add" if r < 0.8 else "delete"
        if op != "add" and not occ:
            op = "add"
        if op == "add" and len(occ) == hi - lo + 1:
            op = "update"
        if op == "add":
            while True:
                tick = rng.randint(lo, hi)
                if tick not in where:
                    break
            where[tick] = len(occ)
            occ.append(tick)
            lots = rng.randint(1, 100_000)
        else:
            tick = occ[rng.randrange(len(occ))]
            if op == "update":
                lots = rng.randint(1, 100_000)
            else:  # swap-remove keeps random choice O(1)
                i, last = where.pop(tick), occ.pop()
                if last != tick:
                    occ[i] = last
                    where[last] = i
                lots = 0
        mix[op] += 1
        sides.append(is_bid)
        ticks.append(tick)
        lots_col.append(lots)
    return sides, ticks, lots_col, mix


def _replay(book: Any, sides: list[bool], ticks: list[int], lots: list[int]) -> float:
    apply, bb, ba = book.apply_delta, book.best_bid, book.best_ask
    t0 = time.perf_counter()
    for is_bid, tick, n in zip(sides, ticks, lots):
        apply(is_bid, tick, n)
        bb()
        ba()
    return time.perf_counter() - t0


def _best_rate(make: Callable[[], Any], cols: tuple[list[bool], list[int], list[int]]) -> tuple[float, Any]:
    best, book = float("inf"), None
    for _ in range(REPEATS):
        book = make()
        best = min(best, _replay(book, *cols))
    return len(cols[0]) / best, book


def _batch_rate(make: Callable[[], Any], cols: tuple[list[bool], list[int], list[int]], chunk: int = 1000) -> float:
    sides, ticks, lots = cols
    chunks = [(sides[i:i + chunk], ticks[i:i + chunk], lots[i:i + chunk]) for i in range(0, len(sides), chunk)]
    best = float("inf")
    for _ in range(REPEATS):
        book = make()
        apply = book.apply_deltas
        t0 = time.perf_counter()
        for s, t, x in chunks:
            apply(s, t, x)
        best = min(best, time.perf_counter() - t0)
    return len(sides) / best


def _nautilus(nt: Any, cols: tuple[list[bool], list[int], list[int]]) -> tuple[float, tuple[str | None, str | None]]:
    """Replay on Nautilus: prebuilt OrderBookDelta objects, chunked to bound memory."""
    from nautilus_trader.model.book import OrderBook
    from nautilus_trader.model.data import BookOrder, OrderBookDelta
    from nautilus_trader.model.enums import BookAction, BookType, OrderSide
    from nautilus_trader.model.identifiers import InstrumentId
    from nautilus_trader.model.objects import Price, Quantity

    iid = InstrumentId.from_str("BENCH.POLYMARKET")
    sides, ticks, lots = cols
    books = [OrderBook(iid, BookType.L2_MBP) for _ in range(REPEATS)]
    elapsed = [0.0] * REPEATS
    present: dict[tuple[bool, int], bool] = {}
    prices = {t: Price.from_str(f"0.{t:02d}") for t in range(1, 100)}
    zero = Quantity.from_str("0.00")
    for start in range(0, len(sides), NAUTILUS_CHUNK):
        deltas = []
        for i in range(start, min(start + NAUTILUS_CHUNK, len(sides))):
            is_bid, tick, n = sides[i], ticks[i], lots[i]
            key = (is_bid, tick)
            if n == 0:
                action, qty = BookAction.DELETE, zero
                present.pop(key, None)
            else:
                action = BookAction.UPDATE if key in present else BookAction.ADD
                present[key] = True
                qty = Quantity.from_str(f"{n // 100}.{n % 100:02d}")
            order = BookOrder(OrderSide.BUY if is_bid else OrderSide.SELL, prices[tick], qty, 0)
            deltas.append(OrderBookDelta(iid, action, order, 0, i + 1, i + 1, i + 1))
        for r, book in enumerate(books):
            apply, bb, ba = book.apply_delta, book.best_bid_price, book.best_ask_price
            t0 = time.perf_counter()
            for d in deltas:
                apply(d)
                bb()
                ba()
            elapsed[r] += time.perf_counter() - t0
        del deltas
    bb_px, ba_px = books[0].best_bid_price(), books[0].best_ask_price()
    return len(sides) / min(elapsed), (None if bb_px is None else str(bb_px), None if ba_px is None else str(ba_px))


def run(quick: bool) -> dict:
    from arbkit.core import book as B

    n = 50_000 if quick else 1_000_000
    sides, ticks, lots, mix = make_stream(n)
    cols = (sides, ticks, lots)
    tick_size = Decimal("0.01")

    pred_rate, pred_book = _best_rate(lambda: B.PredictionBook(tick_size, 2, "bench"), cols)
    crypto_rate, crypto_book = _best_rate(lambda: B.CryptoBook(2, 2, "bench"), cols)
    py_rate, py_book = _best_rate(lambda: B.PyPredictionBook(tick_size, 2, "bench"), cols)
    py_crypto_rate, py_crypto_book = _best_rate(lambda: B.PyCryptoBook(2, 2, "bench"), cols)
    batch_rate = _batch_rate(lambda: B.PredictionBook(tick_size, 2, "bench"), cols)

    # every implementation must end with the same book, or the figures mean nothing
    final = (pred_book.levels(True), pred_book.levels(False))
    for other in (crypto_book, py_book, py_crypto_book):
        if (other.levels(True), other.levels(False)) != final:
            raise AssertionError(f"{type(other).__name__} disagrees with {type(pred_book).__name__} after the stream")

    figures: dict[str, Any] = {
        "deltas": n,
        "stream_mix": f"update {mix['update'] / n:.1%} / add {mix['add'] / n:.1%} / delete {mix['delete'] / n:.1%}",
        "implementation": B.IMPLEMENTATION,
        "prediction_deltas_per_s": round(pred_rate),
        "crypto_deltas_per_s": round(crypto_rate),
        "python_fallback_deltas_per_s": round(py_rate),
        "python_fallback_crypto_deltas_per_s": round(py_crypto_rate),
        "prediction_batch_apply_deltas_per_s": round(batch_rate),
    }

    nt = harness.try_import("nautilus_trader")
    if nt is None:
        figures["nautilus_deltas_per_s"] = "peer not installed"
        for k in ("prediction", "crypto", "python_fallback"):
            figures[f"ratio_{k}_vs_nautilus"] = "peer not installed"
        return figures
    nt_rate, (nt_bid, nt_ask) = _nautilus(nt, cols)
    ours = (str(pred_book.best_bid_price()) if pred_book.best_bid() else None,
            str(pred_book.best_ask_price()) if pred_book.best_ask() else None)
    if ours != (nt_bid, nt_ask):
        raise AssertionError(f"Nautilus ends at bid/ask {nt_bid}/{nt_ask}, arbkit at {ours[0]}/{ours[1]}")
    figures["nautilus_version"] = getattr(nt, "__version__", "?")
    figures["nautilus_deltas_per_s"] = round(nt_rate)
    figures["ratio_prediction_vs_nautilus"] = round(pred_rate / nt_rate, 2)
    figures["ratio_crypto_vs_nautilus"] = round(crypto_rate / nt_rate, 2)
    figures["ratio_python_fallback_vs_nautilus"] = round(py_rate / nt_rate, 2)
    return figures
