"""arbkit backtest hot path: recorded L2 diffs -> KuCoin feed parse -> L2 sync -> book -> strategy, events/s."""

from __future__ import annotations

import asyncio
import gc
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import harness

METHOD = (
    "Real Binance spot depth diffs (../shared/data/hftbacktest: BTCUSDT and ETHUSDT, 2024-08-08/09, 10.6 min, "
    "12,965 depthUpdate messages with their REST snapshots) imported once with `arbkit data import --from "
    "hftbacktest` (untimed) into a KuCoin level-2 recording, then replayed by arbkit.backtest.runner.Backtest "
    "(the `arbkit backtest` loop: lines streamed from the file and merged by receive time, SimClock set per "
    "line, KucoinMarketFeed frame path = msgspec decode, L2Sync sequence check, exact string->integer units (plain decimals; any other form through Decimal), "
    "CryptoBook apply, BookUpdated -> simulated exchange -> StrategyHost -> a strategy that reads the best bid "
    "and ask of the book on every update and never trades). The recording is replayed N times back to back in "
    "one process, each pass a fresh Backtest (streamed: never loaded whole); full = passes until >= 5M "
    "deltas, --quick = 1 pass. events = price-level deltas applied (what NautilusTrader calls OrderBookDelta); "
    "frames/s also given. One core (the loop is single-threaded; the journal writer thread is idle). Peak RSS "
    "= ru_maxrss of the process. NautilusTrader's BacktestEngine side by side is not run here (it needs its "
    "own Python 3.12 venv): no ratio is claimed."
)


class _BookReader:
    """Reads the top of the book on every update; never trades (the benchmark's strategy)."""

    name = "bench_reader"
    timer_interval_s = None

    def __init__(self, ids: list[str], book_of: Any) -> None:
        self.ids, self.book_of, self.reads, self.spread_sum = ids, book_of, 0, 0

    def subscriptions(self):
        return self.ids

    def on_book(self, update: Any) -> list:
        b = self.book_of(update.instrument_id)
        if b is not None:
            bb, ba = b.best_bid(), b.best_ask()
            if bb and ba:
                self.spread_sum += ba[0] - bb[0]  # integer ticks: what an evaluator starts from
        self.reads += 1
        return []

    def on_book_idle(self, iid: str) -> None: ...
    def on_trade(self, e: Any) -> None: ...
    def on_fill(self, e: Any) -> None: ...
    def on_timer(self, now_ns: int) -> list: return []
    def on_execution_finished(self, *a: Any, **k: Any) -> None: ...
    def status(self) -> dict: return {}


async def _pass(rec: Path, out: Path) -> tuple[int, int, int, float]:
    from arbkit.backtest.runner import Backtest, BacktestOptions
    from arbkit.core.enums import Venue
    from arbkit.runtime.config import loads_config

    cfg = loads_config('[node]\nname = "bench"\n[venues.kucoin]\nmode = "paper"\n')

    class _Bench(Backtest):
        async def _build(self) -> None:
            await super()._build()
            feed = self.feeds[Venue.KUCOIN]
            ids = [f"kucoin:{s}" for s in ("BTC-USDT", "ETH-USDT")]
            self.reader = _BookReader(ids, feed.book)
            self.host.add(self.reader)
            feed.subscribe(ids)
            self._connect_feeds()

    bt = _Bench(cfg, BacktestOptions(data=[rec], out=out))
    t0 = time.perf_counter()
    res = await bt.run()
    wall = time.perf_counter() - t0
    feed = bt.feeds[Venue.KUCOIN]
    deltas = sum(st.sync.applied for st in feed._books.values())
    assert feed.stats.gaps == 0, "the replay saw a sequence gap"
    assert not any(st.sync.book.is_crossed() for st in feed._books.values())
    return res.lines, deltas, bt.reader.reads, wall


def run(quick: bool) -> dict[str, Any]:
    src = harness.shared_path("data", "hftbacktest")
    if src is None:
        return {"skipped": "../shared/data/hftbacktest is absent"}
    from arbkit.backtest.importers import import_data

    tmp = Path(tempfile.mkdtemp(prefix="arbkit-bench-bt-"))
    try:
        import_data("hftbacktest", [src], tmp / "rec")
        target = 0 if quick else 5_000_000
        lines = deltas = reads = 0
        wall = 0.0
        passes = 0
        gc.collect()
        while True:
            n, d, r, w = asyncio.run(_pass(tmp / "rec", tmp / "out"))
            lines, deltas, reads, wall, passes = lines + n, deltas + d, reads + r, wall + w, passes + 1
            if deltas >= target:
                break
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return {"passes": passes, "frames": lines, "deltas": deltas, "strategy_reads": reads,
                "deltas_per_s": round(deltas / wall), "frames_per_s": round(lines / wall),
                "wall_s": round(wall, 2), "peak_rss_mib": round(rss, 1)}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
