"""Polymarket market-channel hot path: price_change JSON frames -> parse -> book -> best bid/ask."""

from __future__ import annotations

import json
import random
import time
from decimal import Decimal
from typing import Any

from bench import harness

METHOD = (
    "One core, one thread, rates in frames per CPU-second (time.process_time: the machine is shared). Frames: seeded price_change events (1-2 changes each, new total size per level, 15% "
    "removals, levels near the top) on the 10 real Polymarket books of ../shared/data/ssmd/polymarket_book.jsonl "
    "(their tick sizes; applied first as snapshots). arbkit: PolymarketMarketFeed.on_frame(bytes) = msgspec decode "
    "-> exact integer ticks/lots -> PredictionBook -> best bid/ask read (crossed check) -> BookUpdated (best "
    "bid/ask as Decimal) into a sink: book_updates='all' (an event per frame: the mode the node runs, the headline "
    "arbkit_frames_per_cpu_s and the goal's mode), 'top' (an event when the top changed) and 'none' (no event object: "
    "parse->book->best bid/ask). NautilusTrader: the "
    "same frames, msgspec.json.decode -> Price/Quantity.from_str -> OrderBookDelta -> OrderBook(L2_MBP).apply_delta "
    "-> best_bid_price()/best_ask_price(). Best of 3 passes (every pass's rate is listed too: the spread); final "
    "top of book checked equal. Sizes parse with the C plain_units when the extension is built (parse_impl); "
    "arbkit_frames_per_cpu_s_no_events_python_size_parse is the same 'none' run with the pure-Python size path (a cache of "
    "sizes seen, cleared before every pass, then numbers.parse_units) for comparison."
)
# The node runs the feed with book_updates="all" (an event per frame): that is the headline and the goal's mode.
TARGETS = {"arbkit_frames_per_cpu_s": (">=", 450_000.0)}
_clock = time.process_time


def _books() -> list[dict]:
    p = harness.shared_path("data", "ssmd", "polymarket_book.jsonl")
    if p is None:  # ../shared absent: two synthetic books keep the benchmark runnable
        return [{"event_type": "book", "asset_id": str(10**40 + i), "market": "0xm", "tick_size": "0.01",
                 "bids": [{"price": f"0.{40 - k:02d}", "size": "100"} for k in range(10)],
                 "asks": [{"price": f"0.{60 + k:02d}", "size": "100"} for k in range(10)]} for i in range(2)]
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


def make_frames(n: int, seed: int = 11) -> tuple[list[dict], list[bytes]]:
    rnd = random.Random(seed)
    books = _books()
    shadow = []
    for b in books:
        tick = Decimal(b["tick_size"])
        shadow.append((b, tick, {Decimal(x["price"]): x["size"] for x in b["bids"]},
                       {Decimal(x["price"]): x["size"] for x in b["asks"]}))
    frames: list[bytes] = []
    for i in range(n):
        b, tick, bids, asks = shadow[rnd.randrange(len(shadow))]
        changes = []
        for _ in range(1 if rnd.random() < 0.5 else 2):
            is_bid = rnd.random() < 0.5
            levels = bids if is_bid else asks
            best_bid = max(bids) if bids else tick
            best_ask = min(asks) if asks else 1 - tick
            anchor = best_bid if is_bid else best_ask
            k = min(int(rnd.expovariate(0.4)), 15)
            price = anchor - k * tick if is_bid else anchor + k * tick
            if not (tick <= price <= 1 - tick) or (is_bid and asks and price >= best_ask) or (
                    not is_bid and bids and price <= best_bid):
                price = anchor
            if rnd.random() < 0.15 and price in levels:
                size = "0"
                levels.pop(price)
            else:
                size = f"{rnd.randint(1, 50_000)}.{rnd.randint(0, 99):02d}" if rnd.random() < 0.7 else str(rnd.randint(1, 9999))
                levels[price] = size
            changes.append({"asset_id": b["asset_id"], "price": str(price), "size": size,
                            "side": "BUY" if is_bid else "SELL", "hash": f"{rnd.getrandbits(160):040x}",
                            "best_bid": str(max(bids)) if bids else "0", "best_ask": str(min(asks)) if asks else "1"})
        frames.append(json.dumps({"event_type": "price_change", "market": b["market"],
                                  "timestamp": str(1_770_000_000_000 + i), "price_changes": changes},
                                 separators=(",", ":")).encode())
    return books, frames


def _arbkit(books: list[dict], frames: list[bytes], mode: str, python_sizes: bool = False) -> tuple[list[float], dict]:
    from arbkit.venues.polymarket import feed as feed_module
    from arbkit.venues.polymarket.feed import FeedConfig, PolymarketMarketFeed

    rates: list[float] = []
    tops: dict = {}
    plain_lots = feed_module._plain_lots
    if python_sizes:
        feed_module._plain_lots = feed_module._cached_plain_lots
    try:
        for _ in range(3):
            rates.append(_arbkit_pass(feed_module, FeedConfig, PolymarketMarketFeed, books, frames, mode, tops))
    finally:
        feed_module._plain_lots = plain_lots
    return rates, tops


def _arbkit_pass(feed_module: Any, FeedConfig: Any, PolymarketMarketFeed: Any, books: list[dict], frames: list[bytes],
                 mode: str, tops: dict) -> float:
    """One timed pass over all frames on a fresh feed; fills ``tops`` with the final top of book."""
    last: list = [None]
    count = [0]

    def sink(ev, last=last, count=count) -> None:
        last[0] = ev
        count[0] += 1

    feed = PolymarketMarketFeed(sink, FeedConfig(crosscheck_interval_s=0, book_updates=mode),
                                tick_sizes={b["asset_id"]: Decimal(b["tick_size"]) for b in books})
    feed.subscribe(b["asset_id"] for b in books)
    for b in books:
        feed.on_frame(None, json.dumps(b).encode(), 1)
    on_frame = feed.on_frame
    feed_module._size_cache.clear()  # every pass starts cold: no help from sizes seen in an earlier pass
    t0 = _clock()
    for fr in frames:
        on_frame(None, fr, 1)
    dt = _clock() - t0
    assert feed.malformed.count == 0 and feed.stats.deltas_dropped == 0
    assert feed.stats.deltas_applied == sum(f.count(b'"asset_id"') for f in frames)
    tops.clear()
    tops.update({b["asset_id"]: (feed.book(b["asset_id"]).best_bid_price(),
                                 feed.book(b["asset_id"]).best_ask_price()) for b in books})
    return len(frames) / dt


def _nautilus(books: list[dict], frames: list[bytes]) -> tuple[list[float], dict]:
    import msgspec
    from nautilus_trader.model.book import OrderBook
    from nautilus_trader.model.data import BookOrder, OrderBookDelta
    from nautilus_trader.model.enums import BookAction, BookType, OrderSide
    from nautilus_trader.model.identifiers import InstrumentId
    from nautilus_trader.model.objects import Price, Quantity

    decode = msgspec.json.decode
    rates: list[float] = []
    tops: dict[str, Any] = {}
    UPDATE, DELETE, BUY, SELL = BookAction.UPDATE, BookAction.DELETE, OrderSide.BUY, OrderSide.SELL
    for _ in range(3):
        nbooks = {}
        for b in books:
            iid = InstrumentId.from_str(f"{b['asset_id']}.POLYMARKET")
            ob = OrderBook(iid, BookType.L2_MBP)
            for side, key in ((BUY, "bids"), (SELL, "asks")):
                for lv in b[key]:
                    ob.apply_delta(OrderBookDelta(iid, UPDATE, BookOrder(side, Price.from_str(lv["price"]),
                                                                          Quantity.from_str(lv["size"]), 0), 0, 0, 0, 0))
            nbooks[b["asset_id"]] = (iid, ob)
        seq = 0
        t0 = _clock()
        for fr in frames:
            msg = decode(fr)
            touched = set()
            for ch in msg["price_changes"]:
                iid, ob = nbooks[ch["asset_id"]]
                seq += 1
                size = ch["size"]
                qty = Quantity.from_str(size)
                action = DELETE if qty.as_double() == 0 else UPDATE
                ob.apply_delta(OrderBookDelta(iid, action, BookOrder(BUY if ch["side"] == "BUY" else SELL,
                                                                     Price.from_str(ch["price"]), qty, 0), 0, seq, 0, 0))
                touched.add(ch["asset_id"])
            for t in touched:
                ob = nbooks[t][1]
                ob.best_bid_price()
                ob.best_ask_price()
        dt = _clock() - t0
        rates.append(len(frames) / dt)
        tops = {t: (ob.best_bid_price(), ob.best_ask_price()) for t, (_, ob) in nbooks.items()}
    return rates, tops


def run(quick: bool) -> dict:
    n = 20_000 if quick else 200_000
    books, frames = make_frames(n)
    changes = sum(f.count(b'"asset_id"') for f in frames)
    from arbkit.core import book as book_module, numbers

    figures: dict = {"frames": n, "changes_per_frame": round(changes / n, 2),
                     "book_impl": book_module.IMPLEMENTATION, "parse_impl": numbers.PARSE_IMPLEMENTATION}
    rates_none, tops = _arbkit(books, frames, "none")
    rates_top, _ = _arbkit(books, frames, "top")
    rates_all, _ = _arbkit(books, frames, "all")
    rate_none, rate_top, rate_all = max(rates_none), max(rates_top), max(rates_all)
    # headline: the node's own mode (an event per frame); rates are frames per CPU-second
    figures["arbkit_frames_per_cpu_s"] = round(rate_all)
    figures["arbkit_frames_per_cpu_s_passes"] = [round(r) for r in rates_all]
    figures["arbkit_changes_per_cpu_s"] = round(rate_all * changes / n)
    figures["arbkit_frames_per_cpu_s_events_on_top_change"] = round(rate_top)
    figures["arbkit_frames_per_cpu_s_no_events"] = round(rate_none)
    figures["arbkit_frames_per_cpu_s_no_events_passes"] = [round(r) for r in rates_none]
    if numbers.c_plain_units is not None:
        rates_py, tops_py = _arbkit(books, frames, "none", python_sizes=True)
        assert tops_py == tops  # same books either way
        figures["arbkit_frames_per_cpu_s_no_events_python_size_parse"] = round(max(rates_py))
    nt = harness.try_import("nautilus_trader")
    if nt is None:
        figures["nautilus_frames_per_cpu_s"] = "peer not installed"
        figures["ratio_arbkit_vs_nautilus"] = "peer not installed"
        return figures
    nrates, ntops = _nautilus(books, frames)
    nrate = max(nrates)
    same = all(
        (None if tops[t][0] is None else Decimal(tops[t][0])) == (None if ntops[t][0] is None else Decimal(str(ntops[t][0])))
        and (None if tops[t][1] is None else Decimal(tops[t][1])) == (None if ntops[t][1] is None else Decimal(str(ntops[t][1])))
        for t in tops)
    figures["nautilus_version"] = getattr(nt, "__version__", "?")
    figures["nautilus_frames_per_cpu_s"] = round(nrate)
    figures["nautilus_frames_per_cpu_s_passes"] = [round(r) for r in nrates]
    figures["ratio_arbkit_vs_nautilus"] = round(rate_all / nrate, 2)  # node mode (an event per frame) vs Nautilus
    figures["ratio_arbkit_no_events_vs_nautilus"] = round(rate_none / nrate, 2)
    figures["final_top_of_book_equal"] = same
    return figures
