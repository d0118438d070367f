"""Prometheus metrics of one node: feeds, books, bus lag, decision latency, orders, fills,
rejects, exposure, PnL and the supervisor's breakers.

One :class:`NodeMetrics` per node, with its own ``CollectorRegistry`` (never the process-global
one, so two nodes in one process, or tests, never share series). It is fed three ways:

* :meth:`NodeMetrics.on_event` — every core/execution event the node sees (subscribe it to the
  bus topics, or call it from the engine's event hook). Dispatch is by event class name, so this
  module imports no engine. Cheap: a dict lookup and a counter increment.
* :meth:`NodeMetrics.count_messages` — the feeds' raw frame counts (messages/s per connection
  is ``rate(arbkit_feed_messages_total[1m])``).
* :meth:`NodeMetrics.collect_from` — a snapshot of the bus (consumer lag), the supervisor
  (task states, breakers), the risk engine and the portfolio (exposure, capital, PnL). Call it
  on the event loop (it reads their state without locks); :meth:`NodeMetrics.poll_forever` does
  so periodically. Scrapes are served from the last snapshot.

Book staleness is computed at scrape time (now - the book's last update), so a frozen feed shows
a growing age even though no event arrives. The endpoint is prometheus_client's threaded HTTP
server on 127.0.0.1 by default; :meth:`start` returns the bound port (port 0 = ephemeral) and
:meth:`stop` shuts it down and joins its thread.

Values are floats: metrics are for watching, never for deciding what is sent or booked.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from arbkit.analytics.stages import STAGE_NAMES, stage_latencies_ns
from arbkit.core.clock import Clock, LiveClock

NS = 1_000_000_000
CONNECTION_STATES = ("CONNECTING", "CONNECTED", "STALLED", "DISCONNECTED")
TASK_STATES = ("pending", "running", "backoff", "done", "breaker_open", "cancelled")
# 10 µs .. 10 s: a decision stage is µs, a venue round trip ms, a slow fill seconds.
STAGE_BUCKETS = (1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5,
                 1.0, 2.5, 5.0, 10.0)
# slippage = predicted - effective (positive = worse than predicted, as the report states it)
SLIPPAGE_BUCKETS_BPS = (-100, -50, -20, -10, -5, 0, 5, 10, 20, 50, 100, 200, 500, 1000)
MAX_REASONS_PER_VENUE = 50  # distinct reject reason labels kept per venue; the rest are "other"


def _venue(v: Any) -> str:
    return str(getattr(v, "value", v))


def _f(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError, ArithmeticError):
        return 0.0


class _NodeCollector:
    """Series computed at scrape time: book ages, connection states, and the last
    :meth:`NodeMetrics.collect_from` snapshot."""

    def __init__(self, metrics: "NodeMetrics") -> None:
        self._m = metrics

    def describe(self) -> list[Metric]:
        return []  # names are fixed and unique; no need to run collect() at registration

    def collect(self) -> Iterator[Metric]:
        m = self._m
        now = m.clock.now_ns()
        age = GaugeMetricFamily("arbkit_book_age_seconds", "Seconds since each book last changed (staleness).",
                                labels=["venue", "instrument"])
        for (venue, iid), ts in m._book_ts.copy().items():  # dict.copy is atomic under the GIL
            age.add_metric([venue, iid], max(0, now - ts) / NS)
        yield age
        conn = GaugeMetricFamily("arbkit_connection_state", "1 for each connection's current state.",
                                 labels=["venue", "connection", "state"])
        for (venue, name), state in m._conn_state.copy().items():
            for s in CONNECTION_STATES:
                conn.add_metric([venue, name, s], 1.0 if s == state else 0.0)
        yield conn
        yield from m._snapshot  # a list swapped whole by collect_from


class NodeMetrics:
    """Every Prometheus series of one node (see the module docstring)."""

    def __init__(self, node: str = "arbkit", clock: Clock | None = None) -> None:
        self.node = node
        self.clock = clock or LiveClock()
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._book_ts: dict[tuple[str, str], int] = {}
        self._conn_state: dict[tuple[str, str], str] = {}
        self._reasons: dict[str, set[str]] = {}
        self._book_children: dict[Any, Any] = {}
        self._snapshot: list[Metric] = []
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

        Gauge("arbkit_node_info", "Constant 1, labelled with the node name.", ["node"], registry=r).labels(node).set(1)
        self.feed_messages = Counter("arbkit_feed_messages", "Frames received per feed connection.",
                                     ["venue", "connection"], registry=r)
        self.feed_malformed = Counter("arbkit_feed_malformed", "Malformed venue messages (counted, not fatal).",
                                      ["venue", "source"], registry=r)
        self.book_updates = Counter("arbkit_book_updates", "Top-of-book updates seen here (after bus coalescing).", ["venue"], registry=r)
        self.book_stale = Counter("arbkit_book_stale", "Books found stale.", ["venue"], registry=r)
        self.connection_changes = Counter("arbkit_connection_changes", "Connection state changes.",
                                          ["venue", "connection", "state"], registry=r)
        self.stage_latency = Histogram("arbkit_stage_latency_seconds", "Decision path latency per stage.",
                                       ["stage"], buckets=STAGE_BUCKETS, registry=r)
        self.orders_submitted = Counter("arbkit_orders_submitted", "Orders journaled for sending.",
                                        ["venue", "purpose"], registry=r)
        self.orders_accepted = Counter("arbkit_orders_accepted", "Orders acknowledged by a venue.", ["venue"], registry=r)
        self.orders_canceled = Counter("arbkit_orders_canceled", "Orders canceled.", ["venue"], registry=r)
        self.order_rejects = Counter("arbkit_order_rejects", "Orders rejected, by venue and reason.",
                                     ["venue", "reason"], registry=r)
        self.fills = Counter("arbkit_fills", "Fills received.", ["venue", "liquidity"], registry=r)
        self.fees = Counter("arbkit_fees", "Fees paid, in the fee currency.", ["venue", "currency"], registry=r)
        self.risk_denials = Counter("arbkit_risk_denials", "Intents refused by risk.", ["check"], registry=r)
        self.executions_started = Counter("arbkit_executions_started", "Executions approved by risk.", registry=r)
        self.executions = Counter("arbkit_executions", "Executions finished, by final status.",
                                  ["strategy", "status"], registry=r)
        self.hedges = Counter("arbkit_hedges", "Compensations started.", ["mode"], registry=r)
        self.residual_alerts = Counter("arbkit_residual_alerts", "Executions that left exposure open.", registry=r)
        self.realized_pnl = Gauge("arbkit_realized_pnl", "Sum of execution profits since start.",
                                  ["strategy", "currency"], registry=r)
        self.slippage = Histogram("arbkit_edge_slippage_bps",
                                  "Slippage per execution: predicted minus effective edge (bps; positive = worse than predicted).",
                                  ["strategy"], buckets=SLIPPAGE_BUCKETS_BPS, registry=r)
        self.breaker_events = Counter("arbkit_breaker_opened", "Circuit breakers opened.", ["task"], registry=r)
        self.task_crash_events = Counter("arbkit_task_crash_events", "Supervised task crashes seen as events.",
                                         ["task"], registry=r)
        self.handler_errors = Counter("arbkit_metrics_handler_errors", "Events the metrics could not read.",
                                      ["kind"], registry=r)
        self.killswitch_trips = Counter("arbkit_killswitch_trips", "Kill switch trips.", ["source"], registry=r)
        r.register(_NodeCollector(self))
        self._handlers = {
            "BookUpdated": self._book_updated,
            "BookStaleDetected": lambda e: self.book_stale.labels(_venue(e.venue)).inc(),
            "MessageMalformed": lambda e: self.feed_malformed.labels(_venue(e.venue), e.source).inc(),
            "ConnectionStateChanged": self._connection,
            "OrderSubmitted": lambda e: self.orders_submitted.labels(_venue(e.venue), "order").inc(),
            "LegSubmitted": lambda e: self.orders_submitted.labels(_venue(e.instrument.venue), e.purpose).inc(),
            "OrderAccepted": lambda e: self.orders_accepted.labels(_venue(e.venue)).inc(),
            "OrderCanceled": lambda e: self.orders_canceled.labels(_venue(e.venue)).inc(),
            "OrderRejected": self._rejected,
            "OrderFilled": self._filled,
            "RiskDenied": lambda e: self.risk_denials.labels(e.check).inc(),
            "ExecutionStarted": lambda e: self.executions_started.inc(),
            "HedgeStarted": lambda e: self.hedges.labels(e.mode).inc(),
            "ResidualAlerted": lambda e: self.residual_alerts.inc(),
            "ExecutionReported": self._reported,
            "BreakerOpened": lambda e: self.breaker_events.labels(e.task).inc(),
            "TaskCrashed": lambda e: self.task_crash_events.labels(e.task).inc(),
            "KillSwitchTripped": lambda e: self.killswitch_trips.labels(e.source or "unknown").inc(),
        }

    # --- events ------------------------------------------------------------------------------

    def on_event(self, event: Any) -> None:
        """Update the series an event concerns; other events are ignored. Never raises (a
        metrics bug must not break the bus subscriber that calls it)."""
        handler = self._handlers.get(type(event).__name__)
        if handler is None:
            return
        try:
            handler(event)
        except Exception:  # noqa: BLE001 - counted instead of raised, see docstring
            self.handler_errors.labels(type(event).__name__).inc()

    def count_messages(self, venue: Any, connection: str, n: int = 1) -> None:
        """A feed received ``n`` frames on ``connection``."""
        self.feed_messages.labels(_venue(venue), connection).inc(n)

    def _book_updated(self, e: Any) -> None:
        # the hot one (every book change): the labelled child is cached, skipping labels()'s lock
        venue = e.venue
        child = self._book_children.get(venue)
        if child is None:
            child = self._book_children[venue] = self.book_updates.labels(_venue(venue))
        child.inc()
        self._book_ts[(_venue(venue), e.instrument_id)] = e.ts_book or e.ts_recv or self.clock.now_ns()

    def _connection(self, e: Any) -> None:
        venue, state = _venue(e.venue), _venue(e.state)
        self._conn_state[(venue, e.connection)] = state
        self.connection_changes.labels(venue, e.connection, state).inc()

    def _rejected(self, e: Any) -> None:
        venue = _venue(e.venue)
        self.order_rejects.labels(venue, self._reason_label(venue, e.code or e.reason)).inc()

    def _reason_label(self, venue: str, reason: str) -> str:
        """A bounded label: digits (ids, amounts) folded to '#', at most 60 characters, at most
        MAX_REASONS_PER_VENUE distinct values per venue (the rest are 'other')."""
        label = re.sub(r"\d+", "#", (reason or "unknown").strip())[:60] or "unknown"
        seen = self._reasons.setdefault(venue, set())
        if label not in seen:
            if len(seen) >= MAX_REASONS_PER_VENUE:
                return "other"
            seen.add(label)
        return label

    def _filled(self, e: Any) -> None:
        venue = _venue(e.venue)
        self.fills.labels(venue, _venue(e.liquidity)).inc()
        if e.fee:
            self.fees.labels(venue, e.fee_currency).inc(max(0.0, _f(e.fee)))  # a rebate does not decrement a counter

    def _reported(self, e: Any) -> None:
        rep = e.report
        strategy = rep.strategy or "(none)"
        self.executions.labels(strategy, _venue(rep.status)).inc()
        self.realized_pnl.labels(strategy, rep.primary_quote).inc(_f(rep.profit))
        for stage, ns in stage_latencies_ns(rep.timings).items():
            self.stage_latency.labels(stage).observe(ns / NS)
        if rep.effective_edge_bps is not None:
            self.slippage.labels(strategy).observe(_f(rep.predicted_edge_bps - rep.effective_edge_bps))

    # --- pollers -----------------------------------------------------------------------------

    def collect_from(self, *, bus: Any = None, supervisor: Any = None, risk: Any = None, portfolio: Any = None) -> None:
        """Snapshot the given components into the series served at the next scrape. Call on the
        event loop that owns them. A component left out keeps no series."""
        fams: list[Metric] = []
        if bus is not None:
            fams.extend(self._bus_families(bus.stats()))
        if supervisor is not None:
            fams.extend(self._supervisor_families(supervisor.status()))
        if risk is not None:
            fams.extend(self._risk_families(risk.status()))
        if portfolio is not None:
            fams.extend(self._portfolio_families(portfolio))
        self._snapshot = fams

    async def poll_forever(self, interval_s: float = 1.0, **sources: Any) -> None:
        """:meth:`collect_from` every ``interval_s`` seconds until cancelled (run it supervised)."""
        while True:
            self.collect_from(**sources)
            await asyncio.sleep(interval_s)

    @staticmethod
    def _bus_families(stats: dict[str, Any]) -> Iterable[Metric]:
        published = CounterMetricFamily("arbkit_bus_published", "Messages published per topic.", labels=["topic"])
        delivered = CounterMetricFamily("arbkit_bus_delivered", "Messages delivered per subscriber.",
                                        labels=["topic", "subscriber"])
        dropped = CounterMetricFamily("arbkit_bus_dropped", "Messages dropped (coalesced or overflowed) per subscriber.",
                                      labels=["topic", "subscriber"])
        errors = CounterMetricFamily("arbkit_bus_errors", "Subscriber handler failures.", labels=["topic", "subscriber"])
        pending = GaugeMetricFamily("arbkit_bus_pending", "Consumer lag: messages waiting per subscriber.",
                                    labels=["topic", "subscriber"])
        oldest = GaugeMetricFamily("arbkit_bus_oldest_pending_age_seconds", "Consumer lag: age of the oldest waiting message.",
                                   labels=["topic", "subscriber"])
        for topic, t in stats.items():
            published.add_metric([topic], t.get("published", 0))
            for sub, s in t.get("subscriptions", {}).items():
                labels = [topic, sub]
                delivered.add_metric(labels, s.get("delivered", 0))
                dropped.add_metric(labels, s.get("dropped", 0))
                errors.add_metric(labels, s.get("errors", 0))
                pending.add_metric(labels, s.get("pending", 0))
                oldest.add_metric(labels, s.get("oldest_pending_age_ns", 0) / NS)
        return (published, delivered, dropped, errors, pending, oldest)

    @staticmethod
    def _supervisor_families(status: dict[str, dict[str, Any]]) -> Iterable[Metric]:
        state = GaugeMetricFamily("arbkit_task_state", "1 for each supervised task's current state.", labels=["task", "state"])
        breaker = GaugeMetricFamily("arbkit_task_breaker_open", "1 when the task's circuit breaker is open.", labels=["task"])
        crashes = CounterMetricFamily("arbkit_task_crashes", "Crashes per supervised task.", labels=["task"])
        starts = CounterMetricFamily("arbkit_task_starts", "(Re)starts per supervised task.", labels=["task"])
        for task, st in status.items():
            current = st.get("state")
            for s in TASK_STATES:
                state.add_metric([task, s], 1.0 if s == current else 0.0)
            breaker.add_metric([task], 1.0 if current == "breaker_open" else 0.0)
            crashes.add_metric([task], st.get("crashes", 0))
            starts.add_metric([task], st.get("starts", 0))
        return (state, breaker, crashes, starts)

    @staticmethod
    def _risk_families(status: dict[str, Any]) -> Iterable[Metric]:
        pnl = GaugeMetricFamily("arbkit_pnl_today", "Realised P&L today as the risk engine counts it.")
        pnl.add_metric([], _f(status.get("pnl_today", 0)))
        kill = GaugeMetricFamily("arbkit_killswitch_tripped", "1 when the kill switch is tripped.")
        kill.add_metric([], 1.0 if status.get("killswitch", {}).get("tripped") else 0.0)
        inflight = GaugeMetricFamily("arbkit_executions_in_flight", "Executions holding a risk reservation.")
        inflight.add_metric([], len(status.get("in_flight", ())))
        reserved = GaugeMetricFamily("arbkit_capital_reserved", "Capital reserved by in-flight executions.",
                                     labels=["venue", "currency"])
        for key, amount in status.get("reserved", {}).items():
            venue, _, currency = key.partition(":")
            reserved.add_metric([venue, currency], _f(amount))
        return (pnl, kill, inflight, reserved)

    @staticmethod
    def _portfolio_families(portfolio: Any) -> Iterable[Metric]:
        exposure = GaugeMetricFamily("arbkit_exposure", "Open positions valued at their entry, per venue and currency.",
                                     labels=["venue", "currency"])
        positions = GaugeMetricFamily("arbkit_open_positions", "Instruments with a non-zero position.", labels=["venue"])
        cash = GaugeMetricFamily("arbkit_cash", "Cash balance per venue and currency.", labels=["venue", "currency"])
        totals: dict[tuple[str, str], Decimal] = {}
        counts: dict[str, int] = {}
        for (venue, iid), pos in list(portfolio.positions.items()):
            if not pos.quantity:
                continue
            value, quote = portfolio.exposure(venue, iid)
            key = (_venue(venue), quote or "?")
            totals[key] = totals.get(key, Decimal(0)) + value
            counts[key[0]] = counts.get(key[0], 0) + 1
        for (venue, quote), value in sorted(totals.items()):
            exposure.add_metric([venue, quote], _f(value))
        for venue, n in sorted(counts.items()):
            positions.add_metric([venue], n)
        for (venue, currency), amount in sorted(list(portfolio.cash.items()), key=lambda kv: (_venue(kv[0][0]), kv[0][1])):
            cash.add_metric([_venue(venue), currency], _f(amount))
        return (exposure, positions, cash)

    # --- the endpoint ------------------------------------------------------------------------

    def start(self, port: int = 0, host: str = "127.0.0.1") -> int:
        """Serve ``/metrics`` on ``host:port`` (0 = an ephemeral port) from a daemon thread;
        returns the bound port. Starting twice raises RuntimeError."""
        from prometheus_client import start_http_server

        if self._server is not None:
            raise RuntimeError(f"metrics endpoint already serving on {host}:{self.port}")
        try:
            self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot serve metrics on {host}:{port}: {exc.strerror}") from exc
        self.port = int(self._server.server_address[1])
        return self.port

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop serving, close the socket and join the server thread. Idempotent."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout_s)
        self.port = None

    async def stop_async(self, timeout_s: float = 5.0) -> None:
        """:meth:`stop` off the event loop (the server's shutdown waits for its poll interval)."""
        await asyncio.get_running_loop().run_in_executor(None, self.stop, timeout_s)

    @property
    def serving(self) -> bool:
        return self._server is not None

    def render(self) -> bytes:
        """The exposition text (what a scrape returns), without the HTTP server."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


__all__ = ["NodeMetrics", "STAGE_NAMES", "STAGE_BUCKETS", "CONNECTION_STATES", "TASK_STATES"]
