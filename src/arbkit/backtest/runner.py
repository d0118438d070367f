"""The backtest: recorded frames through the node's own feeds, strategies, risk and execution.

One asyncio loop on a :class:`~arbkit.core.clock.SimClock`. The recorded lines of every venue
are merged by receive time; before a line at time T is handed to its venue's feed
(``on_frame``, the same parse and book code the live feed runs), the clock steps through every
deadline before T (orders arriving at the simulated exchange, answers coming back, leg timeouts),
letting the woken tasks run until nothing is ready. A book update goes to the simulated exchange
(resting orders) and then to the strategy host, which decides synchronously as in the node.

Determinism: ids come from the simulated clock (``core.ids.use_deterministic_ids``), the journal's
flush barrier returns at once (no writer-thread timing on the decision path), and the journal is
written out with ``VACUUM INTO`` (the file's bytes depend only on its records). Same data, config
and seed: the same journal, byte for byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import sqlite3
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

from arbkit.backtest.exchange import ExchangeConfig, SimExchange
from arbkit.backtest.recording import REST_MARK, RecordedMetadata, frame_files, read_lines, MAPPINGS_FILE
from arbkit.core.clock import NS, SimClock
from arbkit.core.enums import ConnectionState, Venue
from arbkit.core.events import BookStaleDetected, BookUpdated, ConnectionStateChanged, Event, MarketResolved, TickSizeChanged
from arbkit.core.instruments import split_instrument_id

log = logging.getLogger("arbkit.backtest")

DEFAULT_BALANCE = Decimal("10000")
DRAIN_NS = 60 * NS  # after the last line: how long in-flight executions may run on


@dataclass
class BacktestOptions:
    data: list[Path]
    out: Path
    seed: int = 0
    t_from_ns: int | None = None  # strategies decide only from here (books are built before)
    t_to_ns: int | None = None  # the replay stops here
    mappings: Path | None = None  # default: mappings.db beside the data
    exchange: ExchangeConfig = field(default_factory=ExchangeConfig)
    balance: Decimal = DEFAULT_BALANCE
    progress: Callable[[int, int], None] | None = None  # (lines done, recv_ns) every few thousand lines


@dataclass
class BacktestResult:
    journal: Path
    summary: dict[str, Any]
    lines: int
    wall_s: float


class _Journal:
    """The journal as the engine sees it in a backtest: appends as usual; the flush barrier
    returns at once (the writer thread's timing must not decide when a simulated order leaves)."""

    def __init__(self, journal: Any) -> None:
        self._j = journal

    def __getattr__(self, name: str) -> Any:
        return getattr(self._j, name)

    async def flush(self, durable: bool = True) -> int:
        return 0


async def settle() -> None:
    """Run every ready task until none is ready (all wait on the simulated clock or an event)."""
    loop = asyncio.get_running_loop()
    ready = loop._ready  # type: ignore[attr-defined]  # CPython's run queue: empty = idle
    for _ in range(100_000):
        await asyncio.sleep(0)
        if not ready:
            return


def _merged(files: list[tuple[str, Path]]) -> Iterator[tuple[int, int, str, str]]:
    """(recv_ns, file index, venue, text) of every line, by receive time (ties: file order)."""
    def one(i: int, venue: str, path: Path) -> Iterator[tuple[int, int, str, str]]:
        for ns, text in read_lines(path):
            yield ns, i, venue, text

    return heapq.merge(*(one(i, v, p) for i, (v, p) in enumerate(files)))


def _first_ns(files: list[tuple[str, Path]]) -> int:
    best = None
    for _, p in files:
        for ns, _ in read_lines(p):
            best = ns if best is None else min(best, ns)
            break
    if best is None:
        raise ValueError("the recording has no frames")
    return best


class Backtest:
    """Builds the node's parts on a simulated clock and replays a recording through them."""

    def __init__(self, config: Any, opts: BacktestOptions) -> None:
        self.config = config
        self.opts = opts
        self.files = frame_files(opts.data)
        if not self.files:
            raise ValueError(f"no frames files (<venue>.frames[.gz]) under {', '.join(map(str, opts.data))}")
        self.clock = SimClock(_first_ns(self.files))
        self.feeds: dict[Venue, Any] = {}
        self.exchanges: dict[Venue, SimExchange] = {}
        self.events_seen: dict[str, int] = {}
        self.rest_applied = 0
        self.rest_skipped = 0
        self.reports: list[Any] = []

    # --- construction ----------------------------------------------------------------------

    def _sink_for(self, venue: Venue) -> Callable[[Event], None]:
        def sink(ev: Event) -> None:
            if type(ev) is BookUpdated:
                ex = self.exchanges.get(venue)
                if ex is not None:
                    ex.on_book(ev.instrument_id)
                if self.trading and self.host is not None:
                    self.host.on_book(ev.instrument_id, socket_arrival_ns=ev.ts_recv, correlation_id=ev.correlation_id)
                return
            kind = ev.kind
            self.events_seen[kind] = self.events_seen.get(kind, 0) + 1
            if isinstance(ev, (ConnectionStateChanged, BookStaleDetected, TickSizeChanged)):
                self.journal.append_event(ev)
            if isinstance(ev, MarketResolved) and self.settlement is not None:
                self.settlement.on_event(ev)
        return sink

    def _build_feeds(self, venues: set[str]) -> None:
        for name in sorted(venues):
            venue = Venue(name)
            sink = self._sink_for(venue)
            if venue is Venue.POLYMARKET:
                from arbkit.venues.polymarket.feed import FeedConfig, PolymarketMarketFeed

                self.feeds[venue] = PolymarketMarketFeed(sink, FeedConfig(crosscheck_interval_s=0), clock=self.clock)
            elif venue is Venue.KALSHI:
                from arbkit.venues.kalshi.feed import FeedConfig as KFeedConfig, KalshiMarketFeed

                self.feeds[venue] = KalshiMarketFeed(sink, KFeedConfig(), clock=self.clock)
            elif venue is Venue.KUCOIN:
                from arbkit.venues.kucoin.feed import FeedConfig as CFeedConfig, KucoinMarketFeed

                insts = {i.symbol: i for i in self.metadata.spot_instruments(Venue.KUCOIN)}
                self.feeds[venue] = KucoinMarketFeed(sink, CFeedConfig(), rest=None, instruments=insts.get, clock=self.clock)

    async def _build(self) -> None:
        from arbkit.core import ids
        from arbkit.execution.engine import EngineConfig, ExecutionEngine
        from arbkit.execution.portfolio import Portfolio
        from arbkit.execution.settlement import Settlement
        from arbkit.journal.store import Journal
        from arbkit.risk.engine import RiskEngine
        from arbkit.risk.killswitch import KillSwitch
        from arbkit.risk.limits import limits_from_config
        from arbkit.runtime.wiring import VENUE_CURRENCY
        from arbkit.strategies import registry
        from arbkit.strategies.base import StrategyContext
        from arbkit.strategies.host import StrategyHost
        from arbkit.strategies.market_state import FeedMarketView

        cfg, opts, clock = self.config, self.opts, self.clock
        ids.use_deterministic_ids(clock.now_ns, f"bt{opts.seed}")
        opts.out.mkdir(parents=True, exist_ok=True)
        self.tmp_journal = opts.out / ".backtest-journal.tmp.sqlite"
        for suffix in ("", "-wal", "-shm"):
            Path(str(self.tmp_journal) + suffix).unlink(missing_ok=True)
        self._raw_journal = Journal.open(self.tmp_journal, clock=clock, synchronous="NORMAL")
        self.journal = _Journal(self._raw_journal)
        self.metadata = RecordedMetadata.load(opts.data)
        recorded = {v for v, _ in self.files}
        configured = set(cfg.venues.configured())
        needed: set[str] = set()
        for name in cfg.strategies.enabled():
            spec = registry.get(name)
            if spec is not None:
                needed.update(spec.venues(cfg.strategies.tables[name]))
        venues = recorded & (configured | needed)
        self.missing_venues = sorted((needed & configured) - recorded)
        self._build_feeds(venues)
        self.portfolio = Portfolio()
        self.killswitch = KillSwitch(self.journal, clock)
        self.risk = RiskEngine(limits_from_config(cfg.risk), clock, self.portfolio, self.journal, self.killswitch)
        for venue, feed in self.feeds.items():
            self.exchanges[venue] = SimExchange(venue, clock, feed.book, opts.exchange,
                                                balances={VENUE_CURRENCY[venue]: opts.balance}, seed=opts.seed)
        self.engine = ExecutionEngine(journal=self.journal, clock=clock, risk=self.risk, backends=dict(self.exchanges),
                                      portfolio=self.portfolio, config=EngineConfig(fsync_before_send=False))
        from arbkit.execution.reconcile import startup_reconcile

        await startup_reconcile(self.engine)  # balances -> portfolio and capital, journaled as live
        self.trading = False
        self.host = StrategyHost(submit=self.engine.submit, wait=self.engine.wait, can_send=lambda: True,
                                 clock_ns=clock.now_ns, on_report=self.reports.append)
        self.settlement = Settlement(self.portfolio, self.journal, now_ns=clock.now_ns)
        mappings = opts.mappings
        if mappings is None:
            for p in opts.data:
                cand = (p if p.is_dir() else p.parent) / MAPPINGS_FILE
                if cand.exists():
                    mappings = cand
                    break
        self.notes: list[str] = []
        instruments: dict[str, Any] = {}
        engine_instruments: dict[str, Any] = {}
        feeds = self.feeds

        def tradeable(iid: str, max_age_ns: int) -> bool:
            f = feeds.get(split_instrument_id(iid)[0])
            return bool(f is not None and f.is_tradeable(iid, max_age_ns))

        def journal_record(kind: str, rec: dict, cid: str) -> None:
            with contextlib.suppress(Exception):
                self.journal.append(kind, rec, cid)

        for name in cfg.strategies.enabled():
            spec = registry.get(name)
            if spec is None:
                continue
            ctx = StrategyContext(clock_ns=clock.now_ns, market=FeedMarketView(feeds), metadata=self.metadata,
                                  venues=frozenset(feeds), instruments=instruments, execution=cfg.execution, risk=cfg.risk,
                                  options={"mappings_path": mappings}, journal=journal_record, notes=self.notes,
                                  book_source=lambda v: feeds[v].book if v in feeds else (lambda iid: None),
                                  is_tradeable=tradeable, engine_instruments=engine_instruments)
            self.host.add(await spec.load_factory()(cfg.strategies.tables[name], ctx))
        self.engine.instruments.update(engine_instruments)
        self.engine.instruments.update(instruments)
        by_venue: dict[Venue, list[str]] = {}
        for iid in self.host.subscriptions():
            by_venue.setdefault(split_instrument_id(iid)[0], []).append(iid)
        for venue, iids in by_venue.items():
            if venue in feeds:
                feeds[venue].subscribe(sorted(iids))
        self._connect_feeds()

    def _connect_feeds(self) -> None:
        """The recording starts on open connections: the feeds' links are CONNECTED (offline)."""
        for venue, feed in self.feeds.items():
            if venue is Venue.POLYMARKET:
                for s in feed._shards:
                    s.set_state(ConnectionState.CONNECTED)
            elif venue is Venue.KALSHI:
                feed._link.set_state(ConnectionState.CONNECTED)
            elif venue is Venue.KUCOIN:
                for s in feed._shards:
                    s.link.set_state(ConnectionState.CONNECTED)

    # --- replay ----------------------------------------------------------------------------

    def _dispatch(self, venue: str, text: str, ns: int) -> None:
        v = Venue(venue)
        feed = self.feeds.get(v)
        if feed is None:
            return
        if text.startswith(REST_MARK):
            self._rest(v, feed, text)
            return
        if v is Venue.POLYMARKET:
            feed.on_frame(feed._shards[0] if feed._shards else None, text, ns)
        elif v is Venue.KALSHI:
            feed.on_frame(text, ns)
        else:
            if feed._shards:
                feed._on_frame(feed._shards[0], text)

    def _rest(self, venue: Venue, feed: Any, text: str) -> None:
        """A recorded REST snapshot, applied where the live feed applied it (a book waiting for one)."""
        from arbkit.backtest import rest_replay

        if rest_replay.apply(venue, feed, text, self.clock.now_ns()):
            self.rest_applied += 1
        else:
            self.rest_skipped += 1

    async def run(self) -> BacktestResult:
        t0 = time.perf_counter()
        await self._build()
        opts, clock = self.opts, self.clock
        t_from = opts.t_from_ns
        self.trading = t_from is None
        interval = self.host.timer_interval_s()
        next_tick = clock.now_ns() + int(interval * NS) if interval else None
        loop = asyncio.get_running_loop()
        ready = loop._ready  # type: ignore[attr-defined]
        lines = 0
        last_ns = clock.now_ns()
        progress = opts.progress
        for ns, _, venue, text in _merged(self.files):
            if opts.t_to_ns is not None and ns > opts.t_to_ns:
                break
            if ns > clock.now_ns():
                await self._advance(ns, next_tick)
                if next_tick is not None:
                    while next_tick <= ns:
                        next_tick += int(interval * NS)  # type: ignore[operator]
            if not self.trading and t_from is not None and ns >= t_from:
                self.trading = True
            self._dispatch(venue, text, ns)
            if ready:
                await settle()
            lines += 1
            last_ns = ns
            if progress is not None and lines % 4096 == 0:
                progress(lines, ns)
        self.trading = False  # no new decisions past the data; in-flight executions finish
        await self._advance(last_ns + DRAIN_NS, None)
        await settle()
        if progress is not None:
            progress(lines, last_ns)
        summary = await self._finish(lines)
        return BacktestResult(journal=opts.out / "journal.sqlite", summary=summary, lines=lines,
                              wall_s=time.perf_counter() - t0)

    async def _advance(self, to_ns: int, next_tick: int | None) -> None:
        """Step the clock to ``to_ns`` through every deadline (and strategy timer) before it."""
        clock = self.clock
        interval = self.host.timer_interval_s()
        while True:
            d = clock.next_deadline_ns()
            t = next_tick if next_tick is not None and next_tick <= to_ns else None
            if d is not None and d <= to_ns and (t is None or d <= t):
                clock.set(d)
                await settle()
                continue
            if t is not None:
                clock.set(max(t, clock.now_ns()))
                if self.trading:
                    self.host.tick(t)
                    await settle()
                next_tick = t + int(interval * NS) if interval else None
                continue
            break
        if to_ns > clock.now_ns():
            clock.set(to_ns)

    async def _finish(self, lines: int) -> dict[str, Any]:
        from arbkit.backtest.summary import summarize

        await self.engine.close()
        for ex in self.exchanges.values():
            await ex.close()
        summary = summarize(self, lines)
        await self._raw_journal.close()
        out = self.opts.out / "journal.sqlite"
        for suffix in ("", "-wal", "-shm"):
            Path(str(out) + suffix).unlink(missing_ok=True)
        con = sqlite3.connect(str(self.tmp_journal))
        try:
            con.execute("VACUUM INTO ?", (str(out),))
        finally:
            con.close()
        for suffix in ("", "-wal", "-shm"):
            Path(str(self.tmp_journal) + suffix).unlink(missing_ok=True)
        (self.opts.out / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True, default=str) + "\n")
        return summary


async def run_backtest(config: Any, opts: BacktestOptions) -> BacktestResult:
    return await Backtest(config, opts).run()


__all__ = ["Backtest", "BacktestOptions", "BacktestResult", "run_backtest", "settle"]
