"""The node: one process wired by dependency injection at start-up.

:class:`Node` builds and owns, from a typed :class:`~arbkit.runtime.config.Config`:

* the clock, the bus (coalescing ``market.book``, FIFO ``market.status``), the journal and the
  supervisor (every feed and user stream is a supervised task; a breaker trips the kill switch);
* per configured venue, by mode (paper | sim | live), the market feed, user stream, gateway and
  execution backend (:mod:`arbkit.runtime.wiring`);
* the risk engine and the execution engine;
* the strategy host (:mod:`arbkit.strategies.host`) with every enabled strategy, each built by its
  registry factory (:mod:`arbkit.strategies.registry`) from its config table and the venues'
  metadata (:class:`arbkit.runtime.wiring.VenueMetadata`);
* optionally the control endpoint and the Prometheus metrics.

The decision path stays synchronous: a book update (queued, coalesced per instrument) goes to the
host, which calls the strategies reading that book and submits their intents to the engine
(journal -> risk -> saga) in the same call; a watcher tells the strategy when the saga reports. :meth:`Node.status` is the one snapshot the
dashboard, the control endpoint and the demo summary read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Mapping

import aiohttp
import msgspec

from arbkit.bus.local import Bus, TopicPolicy
from arbkit.core.clock import NS, Clock, LiveClock
from arbkit.core.enums import Venue
from arbkit.core.events import (
    BookStaleDetected,
    BookUpdated,
    BreakerOpened,
    ConnectionStateChanged,
    Event,
    KillSwitchTripped,
    MarketResolved,
    TaskCrashed,
    TickSizeChanged,
)
from arbkit.core.instruments import Instrument, split_instrument_id
from arbkit.execution.engine import EngineConfig, ExecutionEngine
from arbkit.execution.paper import SnapshotRegistry
from arbkit.execution.portfolio import Portfolio
from arbkit.execution.report import ExecutionReport
from arbkit.journal.store import Journal
from arbkit.risk.engine import RiskEngine
from arbkit.risk.killswitch import KillSwitch
from arbkit.risk.limits import limits_from_config
from arbkit.runtime.config import Config, VenueMode
from arbkit.runtime.supervisor import Supervisor
from arbkit.runtime import wiring

log = logging.getLogger("arbkit.node")

TOPIC_BOOKS = "market.book"
TOPIC_STATUS = "market.status"
ZERO = Decimal(0)
PAPER_KUCOIN_FEE_RATE = Decimal("0.001")  # KuCoin's base spot taker/maker rate (paper without an API key)


class NodeError(RuntimeError):
    """The node cannot start (configuration, credentials, venue unreachable)."""


@dataclass
class NodeOptions:
    """What is injected besides the configuration."""

    mappings_path: Path | None = None  # mapping store (SQLite); None = no cross-venue pairs
    env: Mapping[str, str] | None = None  # where secrets are looked up (default os.environ)
    clock: Clock | None = None
    control_address: str | None = None  # None = no control endpoint
    control_token: str | None = None
    journal_synchronous: str | None = None  # override of config.node.journal_fsync (demo, tests: "NORMAL")
    feed_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)  # venue -> FeedConfig fields
    paper_balance: Decimal = wiring.DEFAULT_PAPER_BALANCE
    drain_timeout_s: float = 15.0  # at stop: how long in-flight sagas may take to finish
    metrics: bool = True  # Prometheus exporter when a metrics port is set
    metrics_port: int | None = None  # overrides config.node.metrics_port (0 = an ephemeral port)
    config_path: str | None = None  # shown by `arbkit status`
    market_poll_s: float = 60.0  # market finder: venues' event listings polled this often (0 = feeds only)
    record_dir: Path | None = None  # overrides config.node.record_dir (arbkit demo --record)


class JournalTap:
    """The journal as every component sees it: appends go to the journal first, then each event
    is shown to the listeners (metrics, dashboard counters). A listener never sees an event the
    journal refused, and a listener failure never reaches the caller."""

    def __init__(self, journal: Journal, listeners: list[Any]) -> None:
        self._journal = journal
        self._listeners = listeners

    def append(self, kind: str, payload: Any, correlation_id: str = "", *args: Any, **kw: Any) -> int:
        seq = self._journal.append(kind, payload, correlation_id, *args, **kw)
        if isinstance(payload, Event):
            self._tell(payload)
        return seq

    def append_event(self, event: Event) -> int:
        seq = self._journal.append_event(event)
        self._tell(event)
        return seq

    def _tell(self, event: Event) -> None:
        for fn in self._listeners:
            try:
                fn(event)
            except Exception:  # noqa: BLE001 - observers must not break the decision path
                log.exception("journal listener failed on %s", event.kind)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._journal, name)


@dataclass
class FeedRate:
    """Frames per second of one venue's feed, sampled once a second."""

    last_frames: int = 0
    last_ns: int = 0
    per_s: float = 0.0


class Node:
    """Builds, starts and stops everything one arbkit process runs."""

    def __init__(self, config: Config, options: NodeOptions | None = None) -> None:
        self.config = config
        self.options = options or NodeOptions()
        self.clock: Clock = self.options.clock or LiveClock()
        self.journal: Journal | None = None
        self.bus: Bus | None = None
        self.supervisor: Supervisor | None = None
        self.portfolio = Portfolio()
        self.killswitch: KillSwitch | None = None
        self.risk: RiskEngine | None = None
        self.engine: ExecutionEngine | None = None
        self.snapshots = SnapshotRegistry()
        self.venues: dict[Venue, wiring.VenueBundle] = {}
        self.instruments: dict[str, Instrument] = {}
        self.host: Any = None  # StrategyHost
        self.settlement: Any = None  # execution.settlement.Settlement
        self.quotes: Any = None  # execution.quotes.QuoteManager (when a quoting strategy runs)
        self._background: set[asyncio.Task[Any]] = set()  # settlement reconciles in flight
        self._account_locks: Any = None  # runtime.account_lock.AccountLocks, held while running
        self.control: Any = None
        self.metrics: Any = None
        self.trading = False
        self.started_ns = 0
        self.stopped = False
        self.reports: deque[ExecutionReport] = deque(maxlen=50)
        self.alerts: deque[dict[str, Any]] = deque(maxlen=20)  # executions that went wrong (operator_view)
        self.reports_total = 0
        self.filled_total = 0
        self.profit_total = ZERO
        self.events_seen: dict[str, int] = {}
        self.book_updates = 0
        self.rates: dict[Venue, FeedRate] = {}
        self.notes: list[str] = []  # start-up remarks shown on the dashboard (skipped mappings ...)
        self._session: aiohttp.ClientSession | None = None
        self._spot: dict[Venue, list[Instrument]] = {}  # spot pairs a gateway loaded (KuCoin)
        self._engine_instruments: dict[str, Instrument] = {}  # traded by a strategy, not shown as books
        self.metadata: Any = None  # wiring.VenueMetadata
        self.finder: Any = None  # runtime.market_finder.MarketFinder (when a strategy takes listings)
        self.recorder: Any = None  # backtest.recording.Recorder when recording
        self._feed_ov: dict[str, dict[str, Any]] = self.options.feed_overrides

    # --- construction ----------------------------------------------------------------------

    async def start(self) -> None:
        """Build everything, connect, reconcile with the venues, then enable trading."""
        cfg = self.config
        live = cfg.live_venues()
        if live and cfg.unset_risk_limits():
            raise NodeError("live trading refuses to start while risk limits are unset: " + ", ".join(cfg.unset_risk_limits()))
        self.started_ns = self.clock.now_ns()
        jpath = Path(cfg.node.journal_path)
        jpath.parent.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        every_order = cfg.node.journal_fsync.value == "every_order"
        synchronous = self.options.journal_synchronous or ("FULL" if every_order else "GROUP")
        self.journal = Journal.open(jpath, clock=self.clock, synchronous=synchronous,  # type: ignore[arg-type]
                                    group_commit_ms=cfg.node.journal_group_commit_ms,
                                    on_error=lambda err: loop.call_soon_threadsafe(self._journal_failed, err))
        self._make_metrics()
        from arbkit.runtime.order_log import OrderLog

        self.order_log = OrderLog()  # a log line per order event (node.log / console)
        listeners = [self.order_log.on_event] + ([self.metrics.on_event] if self.metrics is not None else [])
        tap = JournalTap(self.journal, listeners)
        self.bus = Bus(self.clock)
        self.bus.add_topic(TOPIC_BOOKS, TopicPolicy.COALESCE)
        self.bus.add_topic(TOPIC_STATUS, TopicPolicy.FIFO)
        self.killswitch = KillSwitch(tap, self.clock)
        self.supervisor = Supervisor(self.clock, on_event=self._on_runtime_event, journal_append=tap.append_event)
        self.risk = RiskEngine(limits_from_config(cfg.risk), self.clock, self.portfolio, tap, self.killswitch)
        try:
            await self._build_venues()
            self._lock_accounts()
            self.engine = ExecutionEngine(journal=tap, clock=self.clock, risk=self.risk,
                                          backends={v: b.backend for v, b in self.venues.items()},
                                          portfolio=self.portfolio, config=EngineConfig(fsync_before_send=every_order),
                                          snapshots=self.snapshots)
            await self._build_strategies()
            self._build_quotes()
            self._apply_await_balance()
            from arbkit.execution.settlement import Settlement

            # resolved markets -> settlement P&L, journaled; it books once recovery has adopted positions
            self.settlement = Settlement(self.portfolio, tap, now_ns=self.clock.now_ns, defer=True)
            self._make_finder()
            self._subscribe()
            self._register_tasks()
            await self.bus.start()
            await self.supervisor.start()
            await self._recover()
            self._restore_settlement()
            if self.quotes is not None and self.journal is not None:
                self.quotes.restore(self.journal)  # inventory bought before a restart counts against the limits
                n = await self.quotes.cancel_orphans(self.journal)  # quotes a crash left resting
                if n:
                    log.warning("canceled %d quotes left resting by a previous run", n)
            await self._start_control()
            self._start_metrics_server()
        except BaseException:
            await self._teardown()
            raise
        self.trading = True
        log.info("node %s started: %s", cfg.node.name, ", ".join(f"{v.value}={b.mode.value}" for v, b in self.venues.items()))

    def _lock_accounts(self) -> None:
        """One writer per venue account (sim and live): refuse to start beside another node on it."""
        from arbkit.runtime.account_lock import AccountInUse, AccountLocks, account_identity

        self._account_locks = AccountLocks()
        for venue, b in self.venues.items():
            ident = account_identity(b)
            if ident is None:
                continue
            try:
                self._account_locks.acquire(venue.value, ident, {"node": self.config.node.name,
                                                                 "config": str(self.options.config_path or "")})
            except AccountInUse as exc:
                raise NodeError(str(exc)) from None
            except OSError as exc:  # an unusable run directory must not stop trading; say so
                log.warning("account lock for %s not taken (%s): a second node on this account would not be refused",
                            venue.value, exc)

    async def _build_venues(self) -> None:
        cfg = self.config
        env = self.options.env
        ov = self.options.feed_overrides
        record_dir = self.options.record_dir or self.config.node.record_dir
        if record_dir:
            from arbkit.backtest.recording import Recorder

            self.recorder = Recorder(record_dir, self.clock.now_ns)
            ov = {n: {**ov.get(n, {}), **self.recorder.feed_overrides(n)} for n in cfg.venues.configured()}
        self._feed_ov = ov
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
        for name, vcfg in cfg.venues.configured().items():
            if name == "polymarket":
                b = await wiring.build_polymarket(vcfg, clock=self.clock, market_sink=self._on_market_event, env=env,  # type: ignore[arg-type]
                                                  snapshots=self.snapshots, paper_balance=self.options.paper_balance,
                                                  feed_overrides=ov.get(name))
                self.venues[b.venue] = b  # owned from now on: closed by teardown even if starting fails
                await wiring.start_polymarket(b)
            elif name == "kalshi":
                b = await wiring.build_kalshi(vcfg, clock=self.clock, market_sink=self._on_market_event, env=env,  # type: ignore[arg-type]
                                              snapshots=self.snapshots, paper_balance=self.options.paper_balance,
                                              feed_overrides=ov.get(name))
                self.venues[b.venue] = b
                if b.extra.get("note"):
                    self.notes.append(b.extra["note"])
                    log.warning("%s", b.extra["note"])
                await wiring.start_kalshi(b)
            elif name == "kucoin":
                if name not in self._needed_venues():
                    self.notes.append("venues.kucoin: no enabled strategy trades it; not connected")
                    continue
                b = await self._build_kucoin(vcfg)
            else:
                self.notes.append(f"venues.{name}: no strategy of this build trades it; not connected")
                continue
            self.venues[b.venue] = b
            self.rates[b.venue] = FeedRate()
            if self.recorder is not None:
                self.recorder.attach(name, b)

    def _needed_venues(self) -> set[str]:
        """Venue names some enabled strategy trades (a configured venue no strategy needs is not
        connected)."""
        from arbkit.strategies import registry

        out: set[str] = set()
        for name in self.config.strategies.enabled():
            spec = registry.get(name)
            if spec is not None:
                out.update(spec.venues(self.config.strategies.tables[name]))
        return out

    async def _build_strategies(self) -> None:
        """Every enabled strategy from its registry factory, hosted side by side."""
        from arbkit.strategies import registry
        from arbkit.strategies.base import StrategyContext
        from arbkit.strategies.host import StrategyHost
        from arbkit.strategies.market_state import FeedMarketView

        engine = self.engine
        assert engine is not None and self._session is not None
        self.host = StrategyHost(submit=engine.submit, wait=engine.wait, can_send=self._can_send,
                                 clock_ns=self.clock.now_ns, on_report=self._record_report,
                                 quotes=self._on_quote_request)
        self.metadata = wiring.VenueMetadata(self.venues, self._session, self.config, self._spot,
                                             on_problem=self._metadata_problem)
        if self.recorder is not None:
            self.metadata = self.recorder.wrap_metadata(self.metadata)
            self.recorder.save_mappings(self.options.mappings_path)
        journal = self.journal

        def journal_record(kind: str, rec: dict, correlation_id: str) -> None:
            if journal is not None:
                with contextlib.suppress(Exception):  # a closed journal must not break a strategy
                    journal.append(kind, rec, correlation_id)

        feeds = {v: b.feed for v, b in self.venues.items()}

        def tradeable(iid: str, max_age_ns: int) -> bool:
            b = self.venues.get(split_instrument_id(iid)[0])
            return bool(b is not None and b.feed.is_tradeable(iid, max_age_ns))

        for name in self.config.strategies.enabled():
            spec = registry.get(name)
            if spec is None:  # the config refuses unknown names; kept so a stale table never runs
                self.notes.append(f"strategies.{name}: not in this build; not run")
                continue
            ctx = StrategyContext(clock_ns=self.clock.now_ns, market=FeedMarketView(feeds), metadata=self.metadata,
                                  venues=frozenset(self.venues), instruments=self.instruments, execution=self.config.execution,
                                  risk=self.config.risk, options={"mappings_path": self.options.mappings_path},
                                  journal=journal_record, notes=self.notes,
                                  book_source=lambda v: feeds[v].book if v in feeds else (lambda iid: None),
                                  is_tradeable=tradeable, engine_instruments=self._engine_instruments)
            try:
                strategy = await spec.load_factory()(self.config.strategies.tables[name], ctx)
            except RuntimeError as exc:
                raise NodeError(str(exc)) from exc
            self.host.add(strategy)
        engine.instruments.update(self._engine_instruments)

    def _on_quote_request(self, request: Any) -> None:
        if self.quotes is not None:
            self.quotes.submit(request)

    def _build_quotes(self) -> None:
        """The quote manager, when a quoting strategy (complete_set_mm) runs: it places its quotes
        through the engine's backends, its order events come back through the engine."""
        mm = self.host.get("complete_set_mm") if self.host is not None else None
        if mm is None or self.engine is None:
            return
        from arbkit.execution.quotes import QuoteManager, QuoteManagerConfig
        from arbkit.strategies.market_state import FeedMarketView

        t = mm.table
        silence_ns = int(mm.config.max_silence_s * NS)
        market = FeedMarketView({v: b.feed for v, b in self.venues.items()})
        cfg = QuoteManagerConfig(min_quote_life_s=t.min_quote_life_ms / 1000, default_orders_per_s=float(t.max_orders_per_s),
                                 post_only=t.post_only, max_silence_ns=silence_ns, merge_min_sets=t.merge_min_sets,
                                 merge_cost=t.merge_cost, merge_max_cost_bps=t.merge_max_cost_bps,
                                 max_order_notional=self.config.risk.max_order_notional)
        # the venue's order rate limit (risk.order_rate_limits) caps the quotes' own rate
        for v in self.venues:
            lim = getattr(self.config.risk.order_rate_limits, v.value, None)
            cfg.orders_per_s[v] = float(min(t.max_orders_per_s, lim)) if lim else float(t.max_orders_per_s)
        host = self.host
        self.quotes = QuoteManager(backends=self.engine.backends, journal=self.journal, clock=self.clock,
                                   portfolio=self.portfolio, can_send=self._can_send,
                                   book_problem=lambda iid, now: market.untradeable(iid, now, silence_ns),
                                   config=cfg, merger=self._merger(t) if t.merge else None,
                                   on_inventory=host.on_inventory, route_event=self.engine.on_event)
        self.engine.order_listener = self.quotes.handle

    def _merger(self, t: Any) -> Any:
        """How filled pairs are merged: booked in paper; an EOA transaction through JSON-RPC in
        sim (the simulator's /rpc) and live (merge_rpc_url); none (sets held) otherwise."""
        from arbkit.execution.quotes import BookedMerger, ChainMerger

        b = self.venues.get(Venue.POLYMARKET)
        if b is None:
            return None
        if b.mode is VenueMode.PAPER:
            return BookedMerger(t.merge_cost)
        vcfg = self.config.venues.polymarket
        if int(getattr(vcfg, "signature_type", 0) or 0) != 0:
            self.notes.append("complete_set_mm: the wallet acts through Polymarket's relayer, which this build does "
                              "not drive: filled sets are held to resolution")
            return None
        url = t.merge_rpc_url or (b.rest_url.rstrip("/") + "/rpc" if b.mode is VenueMode.SIM else None)
        if not url:
            self.notes.append("complete_set_mm: no merge_rpc_url: filled sets are held to resolution")
            return None
        import os

        from arbkit.runtime.positions_cli import PositionsError, _key_from

        try:
            key = _key_from(vcfg, dict(self.options.env if self.options.env is not None else os.environ))
        except PositionsError as exc:
            self.notes.append(f"complete_set_mm: no merge ({exc}): filled sets are held to resolution")
            return None
        assert self._session is not None
        return ChainMerger(url, key, int(vcfg.chain_id), self._session)

    def _apply_await_balance(self) -> None:
        """[strategies.triangular] await_balance: the engine sizes legs 2 and 3 from the balance
        KuCoin reports after the previous leg (paper has no balance stream, so it stays off there)."""
        tc = self.config.strategies.triangular
        b = self.venues.get(Venue.KUCOIN)
        if tc is None or not tc.enabled or not tc.await_balance or self.engine is None:
            return
        if b is None or b.user is None:
            self.notes.append("triangular: await_balance needs KuCoin's private stream (sim/live); legs sized from fills")
            return
        self.engine.config.await_balance = b.user
        self.engine.config.await_balance_timeout_s = tc.await_balance_timeout_ms / 1000

    def _metadata_problem(self, text: str) -> None:
        log.warning("%s", text)
        if len(self.notes) < 200:
            self.notes.append(text)

    def _can_send(self) -> bool:
        engine = self.engine
        return bool(engine is not None and self.trading and not engine.paused
                    and not (self.killswitch is not None and self.killswitch.tripped))

    def _subscribe(self) -> None:
        """Each feed subscribes to the books its venue's strategies read."""
        by_venue: dict[Venue, list[str]] = {}
        for iid in self.host.subscriptions() if self.host is not None else ():
            by_venue.setdefault(split_instrument_id(iid)[0], []).append(iid)
        for venue, ids in by_venue.items():
            if venue in self.venues:
                self.venues[venue].feed.subscribe(sorted(ids))
        assert self.bus is not None
        self.bus.subscribe(TOPIC_BOOKS, self._on_book, name="strategies")
        self.bus.subscribe(TOPIC_STATUS, self._on_status_event, name="node.status")
        if self.settlement is not None:
            self.bus.subscribe(TOPIC_STATUS, self.settlement.on_event, name="execution.settlement")
        if self.finder is not None:
            self.finder.start()
            self.bus.subscribe(TOPIC_STATUS, self.finder.on_event, name="market_finder")
        if self.quotes is not None:
            self.bus.subscribe(TOPIC_STATUS, self.quotes.on_status_event, name="execution.quotes")

    def _make_finder(self) -> None:
        """Markets come and go while the node runs: followed when some strategy takes listings."""
        from arbkit.runtime.market_finder import MarketFinder

        pm = self.config.venues.polymarket
        bus = self.bus
        assert bus is not None and self.engine is not None
        finder = MarketFinder(host=self.host, feeds={v: b.feed for v, b in self.venues.items()}, metadata=self.metadata,
                              instruments=[self.instruments, self.engine.instruments],
                              publish=lambda ev: bus.publish(TOPIC_STATUS, ev), session=self._session,
                              journal=self.journal.append_event if self.journal is not None else None,
                              rest_urls={v: b.rest_url for v, b in self.venues.items() if getattr(b, "rest_url", None)},
                              gamma_url=pm.effective_gamma_url() if pm is not None else "")
        self.finder = finder if finder.active else None

    def _register_tasks(self) -> None:
        sup = self.supervisor
        assert sup is not None
        for venue, b in self.venues.items():
            sup.add_task(f"{venue.value}.feed", b.feed.run)
            if b.user is not None:
                sup.add_task(f"{venue.value}.user", b.user.run)
        sup.add_task("node.sampler", self._sampler)
        if self.host is not None and self.host.timer_interval_s():
            sup.add_task("strategies.timer", self._timer)
        if self.finder is not None and self.options.market_poll_s > 0:
            finder, every = self.finder, self.options.market_poll_s
            sup.add_task("market_finder.poll", lambda: finder.poll_forever(every))
        if self.quotes is not None:
            sup.add_task("execution.quotes", self.quotes.run)

    async def _recover(self) -> None:
        """Replay the journal and reconcile with every venue before the first intent."""
        from arbkit.execution.recovery import recover

        assert self.engine is not None
        self.engine.instruments.update(self.instruments)
        self.engine.mark_price = self._mark
        rep = await recover(self.engine)
        import structlog

        # fields, not the report's repr: a JSON log line must parse into what recovery found
        structlog.get_logger("arbkit.recovery").info(
            "recovery done", replayed_records=rep.replayed_records, sagas_seen=rep.sagas_seen,
            interrupted=rep.interrupted, orders_checked=rep.orders_checked, orders_at_venue=len(rep.orders_at_venue),
            orders_never_sent=len(rep.orders_never_sent), orders_resent=len(rep.orders_to_resend),
            orders_unknown=rep.orders_unknown, held=rep.held, notes=rep.notes,
            venues_reconciled=[str(getattr(r, "venue", r)) for r in rep.reconciliation])

    async def _start_control(self) -> None:
        addr = self.options.control_address
        if not addr:
            return
        from arbkit.execution.control import ControlServer

        assert self.supervisor is not None
        describe = {"node": self.config.node.name, "config": self.options.config_path or "",
                    "venues": {n: v.mode.value for n, v in self.config.venues.configured().items()},
                    "strategies": self.config.strategies.enabled()}
        self.control = ControlServer(self.engine, addr, token=self.options.control_token,  # type: ignore[arg-type]
                                     extra_status=self.supervisor.status, reset_breakers=self._reset_breakers,
                                     describe=describe)
        await self.control.start()
        self.notes.append(f"control: arbkit status --address {addr}  (pause, resume, cancel, slots, kill)")

    async def _reset_breakers(self) -> list[str]:
        """``arbkit reset``: restart every task whose breaker is open (a cause still there opens
        it again)."""
        sup = self.supervisor
        if sup is None:
            return []
        out = []
        for name, st in sup.status().items():
            if st.get("state") == "breaker_open":
                await sup.reset(name)
                out.append(name)
        return out

    def _mark(self, venue: Venue, instrument_id: str) -> Decimal | None:
        """Mid of the book we hold for an instrument (values adopted positions for exposure)."""
        b = self.venues.get(venue)
        book = b.feed.book(instrument_id) if b is not None else None
        if book is None:
            return None
        try:
            bid, ask = book.best_bid_price(), book.best_ask_price()
        except Exception:  # noqa: BLE001 - no mark, the reconciliation falls back
            return None
        if bid is None or ask is None:
            return None
        return (bid + ask) / 2

    def _metrics_port(self) -> int | None:
        return self.options.metrics_port if self.options.metrics_port is not None else self.config.node.metrics_port

    def _make_metrics(self) -> None:
        if not self.options.metrics or self._metrics_port() is None:
            return
        from arbkit.runtime.metrics import NodeMetrics

        self.metrics = NodeMetrics(self.config.node.name, self.clock)

    def _start_metrics_server(self) -> None:
        if self.metrics is None:
            return
        port = self.metrics.start(int(self._metrics_port() or 0))
        self.notes.append(f"metrics: http://127.0.0.1:{port}/metrics")
        assert self.supervisor is not None
        self.supervisor.add_task("node.metrics", lambda: self.metrics.poll_forever(
            1.0, bus=self.bus, supervisor=self.supervisor, risk=self.risk, portfolio=self.portfolio))

    # --- facts in --------------------------------------------------------------------------

    def _on_market_event(self, event: Event) -> None:
        """Every venue feed's sink: books go to the coalescing topic, the rest in order."""
        bus = self.bus
        if bus is None:
            return
        if self.metrics is not None:
            self.metrics.on_event(event)
        if type(event) is BookUpdated:
            self.book_updates += 1
            bus.publish(TOPIC_BOOKS, event, key=event.instrument_id)
        else:
            bus.publish(TOPIC_STATUS, event)

    def _on_status_event(self, event: Event) -> None:
        kind = event.kind
        self.events_seen[kind] = self.events_seen.get(kind, 0) + 1
        if isinstance(event, (ConnectionStateChanged, BookStaleDetected, TickSizeChanged)) and self.journal is not None:
            with contextlib.suppress(Exception):
                self.journal.append_event(event)
        if isinstance(event, TickSizeChanged):
            self._retick(event)
        if isinstance(event, MarketResolved):
            self._on_resolved(event)

    def _restore_settlement(self) -> None:
        if self.settlement is None or self.journal is None:
            return
        n = self.settlement.restore(self.journal)
        if self.settlement.booked:
            log.info("settlement restored: %d records, %d markets settled, pending %s", n, len(self.settlement.booked),
                     self.settlement.summary()["capital_pending"])

    def _on_resolved(self, event: MarketResolved) -> None:
        """Journal the resolution; once Kalshi has settled a market (it pays by itself), read its
        balance and positions back and journal whether they agree (Settlement.reconcile)."""
        if self.journal is not None:
            with contextlib.suppress(Exception):
                self.journal.append_event(event)
        b = self.venues.get(event.venue)
        if (event.venue is Venue.KALSHI and event.stage == "settled" and self.settlement is not None and b is not None
                and b.mode is not VenueMode.PAPER and b.gateway is not None):
            settlement, gateway = self.settlement, b.gateway

            async def reconcile() -> None:
                try:
                    await settlement.reconcile(Venue.KALSHI, gateway)
                except Exception:  # noqa: BLE001 - a failed read is logged; the next settlement tries again
                    log.exception("settlement reconcile with kalshi failed")

            task = asyncio.get_running_loop().create_task(reconcile(), name=f"settlement-reconcile-{event.market_id}")
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def _retick(self, event: TickSizeChanged) -> None:
        """A venue changed a market's tick: both outcomes of that market get the new tick, and
        the strategy's pairs are rebound (orders are priced on the venue's current grid)."""
        inst = self.instruments.get(event.instrument_id)
        if inst is None or inst.tick_size == event.new_tick_size:
            return
        for iid in (inst.id, inst.complement_id):
            cur = self.instruments.get(iid) if iid else None
            if cur is not None:
                self.instruments[cur.id] = msgspec.structs.replace(cur, tick_size=event.new_tick_size)
        changed = {iid for iid in (inst.id, inst.complement_id) if iid}
        if self.engine is not None:
            self.engine.instruments.update({i: self.instruments[i] for i in changed if i in self.instruments})
        for strategy in (self.host.strategies.values() if self.host is not None else ()):
            hook = getattr(strategy, "on_instruments_changed", None)
            if hook is not None:
                hook(changed)
        log.info("tick size of %s: %s -> %s", event.instrument_id, event.old_tick_size, event.new_tick_size)

    def _journal_failed(self, err: BaseException) -> None:
        """The journal's writer failed: nothing more may be sent (an order must be journaled
        first). Trips the kill switch without journaling (the journal is what failed)."""
        log.critical("journal writer failed: %s; kill switch tripped", err)
        ks = self.killswitch
        if ks is not None and not ks.tripped:
            ks.tripped, ks.reason, ks.source = True, f"journal failed: {err}", "journal"

    def _on_runtime_event(self, event: Event) -> None:
        """Supervisor events (journaled by the supervisor itself)."""
        if isinstance(event, BreakerOpened) and self.killswitch is not None:
            self.killswitch.on_breaker(event)
        if isinstance(event, (TaskCrashed, BreakerOpened, KillSwitchTripped)):
            self.events_seen[event.kind] = self.events_seen.get(event.kind, 0) + 1

    def _on_book(self, event: BookUpdated) -> None:
        """The decision path: the host evaluates the strategies reading this book and submits. Synchronous."""
        b = self.venues.get(event.venue)
        paper = getattr(b.backend, "on_book", None) if b is not None and b.mode is VenueMode.PAPER else None
        if paper is not None:  # a paper venue's resting orders fill from its live books (before we decide)
            try:
                paper(event.instrument_id)
            except Exception:  # noqa: BLE001 - the paper market must never stop the decision path
                log.exception("paper fills on %s", event.instrument_id)
        if self.host is not None:
            self.host.on_book(event.instrument_id, socket_arrival_ns=event.ts_recv, correlation_id=event.correlation_id,
                              book_updated_ns=event.ts_book)

    def _record_report(self, report: ExecutionReport) -> None:
        self.reports.append(report)
        self.reports_total += 1
        self.profit_total += report.profit
        if report.status.value == "FILLED":
            self.filled_total += 1
        from arbkit.runtime.operator_view import execution_alert, short_name

        try:
            alert = execution_alert(report, lambda iid: short_name(self.instruments.get(iid)), self.clock.now_ns())
        except Exception:  # noqa: BLE001 - the screen's alert must never lose a report
            log.exception("alert of %s", report.execution_id)
        else:
            if alert is not None:
                self.alerts.append(alert)
        from arbkit.execution.report import report_line

        try:
            line = report_line(report)
        except Exception:  # noqa: BLE001 - a log line must never lose a report
            log.exception("report line of %s", report.execution_id)
        else:
            (log.info if report.status.value == "FILLED" else log.warning)("%s", line)

    # --- KuCoin (spot) -----------------------------------------------------------------------
    # Connected only when an enabled strategy trades it (triangular); its instruments are the
    # spot universe the strategy is built from (VenueMetadata.spot_instruments).

    async def _build_kucoin(self, vcfg: Any) -> wiring.VenueBundle:
        tc = self.config.strategies.triangular  # its symbols limit what is loaded
        b = await wiring.build_kucoin(vcfg, clock=self.clock, market_sink=self._on_market_event, env=self.options.env,
                                      snapshots=self.snapshots, paper_balance=self.options.paper_balance,
                                      feed_overrides=self._feed_ov.get("kucoin"))
        self.venues[b.venue] = b  # owned from now on: closed by teardown even if starting fails
        symbols = list(tc.symbols) if tc is not None and tc.symbols is not None else None
        insts = await wiring.start_kucoin(b, symbols)
        if b.gateway is not None and getattr(b.gateway, "signer", None) is None:
            # Paper without credentials: /api/v1/trade-fees needs a key, so the account's rates are
            # unknown. Price with KuCoin's base spot rate (0.1 % taker/maker, class A pairs; the
            # simulator's kucoin scenario serves the same) rather than as if trading were free.
            from arbkit.core.fees import FeeSpec

            assumed = FeeSpec(kind="spot", taker_rate=PAPER_KUCOIN_FEE_RATE, maker_rate=PAPER_KUCOIN_FEE_RATE)
            insts = [msgspec.structs.replace(i, fee=assumed) if i.fee.taker_rate == 0 else i for i in insts]
            self.notes.append(f"triangular: no KuCoin credentials, fees assumed {PAPER_KUCOIN_FEE_RATE} (base spot rate)")
        self._spot[Venue.KUCOIN] = insts
        return b

    async def _timer(self) -> None:
        """Strategies' ``on_timer`` at the shortest interval any of them asked for."""
        assert self.host is not None
        interval = self.host.timer_interval_s() or 1.0
        while True:
            await self.clock.sleep(interval)
            self.host.tick()

    async def _sampler(self) -> None:
        """Once a second: feed message rates (for the dashboard and metrics)."""
        while True:
            now = self.clock.monotonic_ns()
            for venue, b in self.venues.items():
                r = self.rates[venue]
                frames = int(getattr(getattr(b.feed, "stats", None), "frames", 0))
                if self.metrics is not None and frames > r.last_frames:
                    self.metrics.count_messages(venue, f"{venue.value}.market", frames - r.last_frames)
                if r.last_ns:
                    dt = (now - r.last_ns) / NS
                    if dt > 0:
                        r.per_s = (frames - r.last_frames) / dt
                r.last_frames, r.last_ns = frames, now
            await self.clock.sleep(1.0)

    # --- stopping --------------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop trading, let in-flight sagas finish (bounded), then shut everything down:
        supervised tasks cancelled, gateways closed, bus stopped, journal drained and closed."""
        if self.stopped:
            return
        self.stopped = True
        self.trading = False
        if self.quotes is not None:
            try:
                n = await asyncio.wait_for(self.quotes.cancel_all("node stopping"), self.options.drain_timeout_s)
                if n:
                    log.info("canceled %d resting quotes", n)
            except asyncio.TimeoutError:
                log.error("resting quotes were not all canceled in %.0f s", self.options.drain_timeout_s)
        if self.engine is not None:
            try:
                await asyncio.wait_for(self.engine.wait_idle(), self.options.drain_timeout_s)
            except asyncio.TimeoutError:
                log.error("in-flight executions did not finish in %.0f s; recovery resumes them next start",
                          self.options.drain_timeout_s)
        watchers = list(self.host.watchers) if self.host is not None else []
        if watchers:
            await asyncio.wait(watchers, timeout=2.0)
        await self._teardown()

    async def _teardown(self) -> None:
        self.trading = False
        if self.finder is not None:
            with contextlib.suppress(Exception):
                await self.finder.close()
        if self.quotes is not None:
            with contextlib.suppress(Exception):
                await self.quotes.close()
        if self.engine is not None:
            with contextlib.suppress(Exception):
                await self.engine.close()
        if self.control is not None:
            with contextlib.suppress(Exception):
                await self.control.close()
            self.control = None
        if self.metrics is not None:
            with contextlib.suppress(Exception):
                self.metrics.stop()
        if self.supervisor is not None:
            for b in self.venues.values():
                for part in (b.feed, b.user):
                    if part is not None:
                        with contextlib.suppress(Exception):
                            await part.stop()
            await self.supervisor.shutdown()
        for w in list(self.host.watchers if self.host is not None else ()):
            w.cancel()
        for b in self.venues.values():
            with contextlib.suppress(Exception):
                await b.backend.close()
            if b.gateway is not None and b.backend is not b.gateway:
                with contextlib.suppress(Exception):
                    await b.gateway.close()
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self.bus is not None:
            with contextlib.suppress(Exception):
                await self.bus.stop()
        for t in list(self._background):
            t.cancel()
        if self.journal is not None and not self.journal.closed:
            await self.journal.close()
        if self._account_locks is not None:
            self._account_locks.release()
        if self.recorder is not None:
            with contextlib.suppress(Exception):
                self.recorder.close()

    # --- views of the hosted strategies (status, tests, the demo) ---------------------------

    def _hosted(self, name: str) -> Any:
        return self.host.get(name) if self.host is not None else None

    @property
    def strategy(self) -> Any:
        """The cross-venue evaluator (None when cross_venue is not enabled)."""
        h = self._hosted("cross_venue")
        return h.evaluator if h is not None else None

    @property
    def pairs(self) -> list[Any]:
        h = self._hosted("cross_venue")
        return h.pairs if h is not None else []

    @property
    def triangular(self) -> Any:
        h = self._hosted("triangular")
        return h.evaluator if h is not None else None

    def _count(self, field: str, name: str | None = None) -> int:
        if self.host is None:
            return 0
        if name is None:
            return self.host.total(field)
        c = self.host.counters.get(name)
        return getattr(c, field) if c is not None else 0

    opportunities = property(lambda self: self._count("opportunities"))
    submitted = property(lambda self: self._count("submitted"))
    denied = property(lambda self: self._count("denied"))
    tri_opportunities = property(lambda self: self._count("opportunities", "triangular"))
    tri_submitted = property(lambda self: self._count("submitted", "triangular"))
    tri_denied = property(lambda self: self._count("denied", "triangular"))

    @property
    def last_denial(self) -> str:
        return self.host.last_denial if self.host is not None else ""

    # --- status ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """One snapshot of everything an operator looks at (JSON-friendly)."""
        now = self.clock.now_ns()
        mono = self.clock.monotonic_ns()
        venues = {}
        for venue, b in self.venues.items():
            venues[venue.value] = {
                "mode": b.mode.value,
                "connections": b.connections,
                "msgs_per_s": round(self.rates[venue].per_s, 1) if venue in self.rates else 0.0,
                "frames": int(getattr(getattr(b.feed, "stats", None), "frames", 0)),
            }
        max_age_ns = int(((self.config.risk.max_book_age_ms or 2000) / 1000) * NS)
        books = []
        for iid, inst in sorted(self.instruments.items(), key=lambda kv: (kv[1].venue.value, kv[1].market_id or "", kv[0])):
            b = self.venues.get(inst.venue)
            book = b.feed.book(iid) if b is not None else None
            bid = ask = None
            age_ms = None
            if book is not None:
                bb, ba = book.best_bid(), book.best_ask()
                bid = str(book.price(bb[0])) if bb else None
                ask = str(book.price(ba[0])) if ba else None
                lu = getattr(book, "last_update_ns", 0)
                age_ms = round((now - lu) / 1e6) if lu else None
            books.append({
                "instrument": iid, "venue": inst.venue.value, "market": inst.market_id, "outcome": inst.outcome,
                "title": inst.title,
                "bid": bid, "ask": ask, "age_ms": age_ms,
                "tradeable": bool(b is not None and b.feed.is_tradeable(iid, max_age_ns)),
            })
        from arbkit.runtime.operator_view import pair_rows, report_market

        def _book(iid: str) -> Any:
            b = self.venues.get(split_instrument_id(iid)[0])
            return b.feed.book(iid) if b is not None else None

        def _tradeable(iid: str) -> bool:
            b = self.venues.get(split_instrument_id(iid)[0])
            return bool(b is not None and b.feed.is_tradeable(iid, max_age_ns))

        engine = self.engine
        in_flight = []
        if engine is not None:
            for eid, s in engine.sagas.items():
                if not s.state.is_terminal or s.report is None:
                    in_flight.append({"execution_id": eid, "state": s.state.value, "held": s.held,
                                      "age_s": round((now - s.created_ns) / NS, 1)})
        reports = [{
            "execution_id": r.execution_id, "status": r.status.value, "strategy": r.strategy,
            "predicted_bps": str(r.predicted_edge_bps),
            "effective_bps": None if r.effective_edge_bps is None else str(r.effective_edge_bps),
            "profit": str(r.profit), "legs": [f"{lg.venue.value} {lg.side.value} {lg.filled_quantity}@{lg.avg_price}" for lg in r.legs
                                               if lg.purpose == "leg"],
            "error": r.error,
            "market": report_market(r, self.instruments),
            "completed_ns": r.timings.completed_ns,
        } for r in list(self.reports)[-10:]]
        strat = self.strategy
        hosted = self.host.status() if self.host is not None else {}
        exposure: dict[str, str] = {}
        exposure_total: dict[str, Decimal] = {}
        for (venue, iid), p in self.portfolio.positions.items():
            if p.quantity:
                value, ccy = self.portfolio.exposure(venue, iid)
                inst = self.instruments.get(iid)
                name = f"{venue.value} {inst.market_id if inst and venue is Venue.KALSHI else (inst.title[:40] if inst else iid)} {inst.outcome if inst else ''}"
                exposure[name.strip()] = f"{p.quantity} shares ({value.quantize(Decimal('0.01'))} {ccy})"
                exposure_total[ccy] = exposure_total.get(ccy, Decimal(0)) + value
        breakers = {}
        if self.supervisor is not None:
            breakers = {name: st["state"] for name, st in self.supervisor.status().items()}
        return {
            "node": self.config.node.name,
            "uptime_s": round((now - self.started_ns) / NS, 1) if self.started_ns else 0.0,
            "trading": self.trading,
            "paused": bool(engine and engine.paused),
            "killswitch": {"tripped": bool(self.killswitch and self.killswitch.tripped),
                           "reason": self.killswitch.reason if self.killswitch else ""},
            "venues": venues,
            "book_updates": self.book_updates,
            "books": books,
            "mappings": len(self.pairs),
            "pairs": pair_rows(self.pairs, _book, _tradeable, now),
            "alerts": list(self.alerts),
            "strategy": {
                "evaluations": getattr(strat, "evaluations", 0),
                "opportunities": self.opportunities,
                "submitted": self.submitted,
                "denied": self.denied,
                "last_denial": self.last_denial,
                "skips": dict(getattr(strat, "reasons", {}) or {}),
            },
            "triangular": hosted.get("triangular"),
            "strategies": hosted,
            "in_flight": in_flight,
            "reports": reports,
            "executions": {"reported": self.reports_total, "filled": self.filled_total},
            "pnl": str(self.profit_total),
            "pnl_today": str(self.risk.pnl_today) if self.risk else "0",
            "exposure": exposure,
            "exposure_total": {c: str(v.quantize(Decimal("0.01"))) for c, v in sorted(exposure_total.items())},
            "cash": {f"{v.value}:{c}": str(a) for (v, c), a in self.portfolio.cash.items()},
            "settlement": self.settlement.summary() if self.settlement is not None else None,
            "market_finder": self.finder.status() if self.finder is not None else None,
            "quotes": self.quotes.status() if self.quotes is not None else None,
            "breakers": breakers,
            "journal": {"path": str(self.config.node.journal_path),
                        "records": self.journal.last_seq() if self.journal is not None and not self.journal.closed else None},
            "notes": list(self.notes),
            "mono_ns": mono,
        }


async def run_node(node: Node, *, duration_s: float | None, stop_event: asyncio.Event, on_tick: Any = None,
                   tick_s: float = 0.5) -> None:
    """Run a started node until ``duration_s`` passes or ``stop_event`` is set, calling
    ``on_tick(node)`` every ``tick_s`` (the dashboard)."""
    t_end = None if duration_s is None else time.monotonic() + duration_s
    while not stop_event.is_set():
        if on_tick is not None:
            on_tick(node)
        timeout = tick_s if t_end is None else max(0.0, min(tick_s, t_end - time.monotonic()))
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop_event.wait(), timeout)
        if t_end is not None and time.monotonic() >= t_end:
            break
