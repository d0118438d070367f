"""NodeMetrics: a real endpoint on 127.0.0.1 (ephemeral port), scraped over HTTP with aiohttp,
fed by real events, a real Bus, Supervisor, RiskEngine and Portfolio."""

from __future__ import annotations

import asyncio
import socket
import sys
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analytics"))
from report_journal import BTC_USDT, KALSHI_NO, POLY_YES, T0, leg_report, timings  # noqa: E402

from arbkit.bus.local import Bus, TopicPolicy  # noqa: E402
from arbkit.core.clock import NS, SimClock  # noqa: E402
from arbkit.core.enums import ConnectionState, LiquiditySide, OrderType, Side, TimeInForce, Venue  # noqa: E402
from arbkit.core.events import (  # noqa: E402
    BookUpdated,
    ConnectionStateChanged,
    KillSwitchTripped,
    OrderAccepted,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
)
from arbkit.execution.events import ExecutionReported, HedgeStarted, LegSubmitted, RiskDenied  # noqa: E402
from arbkit.execution.portfolio import Portfolio  # noqa: E402
from arbkit.execution.report import ExecutionReport, ExecutionStatus  # noqa: E402
from arbkit.risk.engine import RiskEngine  # noqa: E402
from arbkit.risk.limits import RiskLimits  # noqa: E402
from arbkit.runtime.metrics import MAX_REASONS_PER_VENUE, NodeMetrics  # noqa: E402
from arbkit.runtime.supervisor import Supervisor  # noqa: E402

D = Decimal


async def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the endpoint, by (name, sorted labels)."""
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain")
            text = await resp.text()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def sample(series, name: str, **labels: str) -> float:
    return series[(name, tuple(sorted(labels.items())))]


def report(eid: str, status: ExecutionStatus, strategy: str, profit: str, predicted: str, effective: str | None):
    return ExecutionReported(report=ExecutionReport(
        execution_id=eid, status=status, strategy=strategy, sequencing="PARALLEL", primary_quote="USD",
        legs=[leg_report(0, "leg", f"{eid}-0", POLY_YES, Side.BUY, "10", "0.40", "10", "0.40", "0", "pUSD", "FILLED")],
        predicted_edge_bps=D(predicted), effective_edge_bps=D(effective) if effective else None,
        predicted_profit=D("0.5"), profit=D(profit), matched_fraction=D(1), residuals=[], timings=timings("E1"), books=[],
    ))


async def test_endpoint_serves_series_from_events_and_pollers(tmp_path):
    clock = SimClock(start_ns=T0)
    m = NodeMetrics("node-a", clock=clock)
    port = m.start(0)
    try:
        assert port > 0 and m.serving
        # a supervisor whose task crashes into an open breaker (moves the simulated clock)
        sup = Supervisor(clock, on_event=m.on_event, jitter=0.0)

        async def crashing() -> None:
            raise RuntimeError("feed died")

        async def healthy() -> None:
            await clock.sleep(10**6)

        sup.add_task("kalshi.feed", crashing)
        sup.add_task("engine", healthy)
        await sup.start()
        await clock.run_until_idle(max_ns=60 * NS)
        now = clock.now_ns()
        # feeds and books
        m.on_event(ConnectionStateChanged(venue=Venue.KALSHI, connection="kalshi.ws.0", state=ConnectionState.CONNECTING))
        m.on_event(ConnectionStateChanged(venue=Venue.KALSHI, connection="kalshi.ws.0", state=ConnectionState.CONNECTED))
        m.count_messages(Venue.KALSHI, "kalshi.ws.0", 120)
        m.count_messages(Venue.POLYMARKET, "polymarket.market.0")
        m.on_event(BookUpdated(venue=Venue.KALSHI, instrument_id=KALSHI_NO.id, sequence=3, best_bid=D("0.54"),
                               best_bid_size=D("5"), best_ask=None, best_ask_size=None, ts_book=now - 2 * NS))
        m.on_event(BookUpdated(venue=Venue.POLYMARKET, instrument_id=POLY_YES.id, sequence=9, best_bid=D("0.39"),
                               best_bid_size=D("5"), best_ask=D("0.40"), best_ask_size=D("5"), ts_recv=now))
        # orders, fills, rejects, risk, executions
        m.on_event(LegSubmitted(execution_id="E1", leg_index=0, attempt=0, purpose="leg", client_order_id="E1-0",
                                instrument=POLY_YES, side=Side.BUY, quantity=D("10"), price=D("0.40"),
                                order_type=OrderType.LIMIT, time_in_force=TimeInForce.IOC))
        m.on_event(LegSubmitted(execution_id="E1", leg_index=0, attempt=1, purpose="hedge", client_order_id="E1-1",
                                instrument=POLY_YES, side=Side.SELL, quantity=D("10"), price=D("0.33"),
                                order_type=OrderType.MARKET, time_in_force=TimeInForce.IOC))
        m.on_event(OrderSubmitted(venue=Venue.KUCOIN, instrument_id=BTC_USDT.id, client_order_id="m-1", side=Side.BUY,
                                  order_type=OrderType.LIMIT, time_in_force=TimeInForce.GTC, price=D("50000"),
                                  quantity=D("0.001")))
        m.on_event(OrderAccepted(venue=Venue.POLYMARKET, client_order_id="E1-0", venue_order_id="v1"))
        for fee in ("0.05", "0.04"):
            m.on_event(OrderFilled(venue=Venue.POLYMARKET, instrument_id=POLY_YES.id, client_order_id="E1-0",
                                   venue_order_id="v1", trade_id=f"t{fee}", side=Side.BUY, price=D("0.40"),
                                   quantity=D("5"), fee=D(fee), fee_currency="pUSD", liquidity=LiquiditySide.TAKER))
        m.on_event(OrderRejected(venue=Venue.KALSHI, client_order_id="E1-2", reason="insufficient balance: need 5.50, have 1.20"))
        m.on_event(OrderRejected(venue=Venue.KALSHI, client_order_id="E1-3", reason="insufficient balance: need 7.10, have 0.20"))
        m.on_event(OrderRejected(venue=Venue.POLYMARKET, client_order_id="E1-4", reason="whatever", code="INVALID_ORDER_MIN_SIZE"))
        m.on_event(RiskDenied(execution_id="E9", check="exposure", reason="too much"))
        m.on_event(HedgeStarted(execution_id="E1", mode="MARKET_OUT", reason="leg 1 rejected", residuals=[]))
        m.on_event(report("E1", ExecutionStatus.FILLED, "cross_venue", "0.43", "500", "449.32"))
        m.on_event(report("E2", ExecutionStatus.HEDGED, "cross_venue", "-0.39", "500", "-962.96"))
        m.on_event(KillSwitchTripped(reason="manual", source="operator"))
        m.on_event(object())  # not an event: ignored

        # pollers: a bus with an undrained queued subscriber (consumer lag), the supervisor, the
        # risk engine and the portfolio
        bus = Bus(clock)
        bus.add_topic("orders", TopicPolicy.FIFO)
        bus.subscribe("orders", lambda msg: None, name="journal")
        for i in range(7):
            bus.publish("orders", i)
        portfolio = Portfolio()
        portfolio.set_balance(Venue.KALSHI, "USD", D("990.5"))
        portfolio.apply_fill(POLY_YES, Side.BUY, D("10"), D("0.40"), D("0"), "pUSD")
        portfolio.apply_fill(KALSHI_NO, Side.BUY, D("4"), D("0.55"), D("0"), "USD")
        risk = RiskEngine(RiskLimits(max_book_age_s=2.0, slots=4), clock, portfolio)
        m.collect_from(bus=bus, supervisor=sup, risk=risk, portfolio=portfolio)

        clock.set(now + 3 * NS)  # books age while nothing arrives
        s = await scrape(port)

        assert sample(s, "arbkit_node_info", node="node-a") == 1
        assert sample(s, "arbkit_feed_messages_total", venue="kalshi", connection="kalshi.ws.0") == 120
        assert sample(s, "arbkit_feed_messages_total", venue="polymarket", connection="polymarket.market.0") == 1
        assert sample(s, "arbkit_connection_state", venue="kalshi", connection="kalshi.ws.0", state="CONNECTED") == 1
        assert sample(s, "arbkit_connection_state", venue="kalshi", connection="kalshi.ws.0", state="CONNECTING") == 0
        assert sample(s, "arbkit_connection_changes_total", venue="kalshi", connection="kalshi.ws.0", state="CONNECTING") == 1
        # staleness: computed at scrape time from the book's own timestamp
        assert sample(s, "arbkit_book_age_seconds", venue="kalshi", instrument=KALSHI_NO.id) == pytest.approx(5.0)
        assert sample(s, "arbkit_book_age_seconds", venue="polymarket", instrument=POLY_YES.id) == pytest.approx(3.0)
        assert sample(s, "arbkit_book_updates_total", venue="kalshi") == 1

        assert sample(s, "arbkit_orders_submitted_total", venue="polymarket", purpose="leg") == 1
        assert sample(s, "arbkit_orders_submitted_total", venue="polymarket", purpose="hedge") == 1
        assert sample(s, "arbkit_orders_submitted_total", venue="kucoin", purpose="order") == 1
        assert sample(s, "arbkit_orders_accepted_total", venue="polymarket") == 1
        assert sample(s, "arbkit_fills_total", venue="polymarket", liquidity="TAKER") == 2
        assert sample(s, "arbkit_fees_total", venue="polymarket", currency="pUSD") == pytest.approx(0.09)
        # digits folded: two rejections with different amounts are one series; a code wins over the text
        assert sample(s, "arbkit_order_rejects_total", venue="kalshi",
                      reason="insufficient balance: need #.#, have #.#") == 2
        assert sample(s, "arbkit_order_rejects_total", venue="polymarket", reason="INVALID_ORDER_MIN_SIZE") == 1
        assert sample(s, "arbkit_risk_denials_total", check="exposure") == 1
        assert sample(s, "arbkit_hedges_total", mode="MARKET_OUT") == 1
        assert sample(s, "arbkit_executions_total", strategy="cross_venue", status="FILLED") == 1
        assert sample(s, "arbkit_executions_total", strategy="cross_venue", status="HEDGED") == 1
        assert sample(s, "arbkit_realized_pnl", strategy="cross_venue", currency="USD") == pytest.approx(0.04)
        assert sample(s, "arbkit_edge_slippage_bps_count", strategy="cross_venue") == 2
        # predicted - effective (positive = worse): E1 50.68 bps, the hedged one 1462.96 bps, past the last bucket
        assert sample(s, "arbkit_edge_slippage_bps_bucket", strategy="cross_venue", le="1000.0") == 1
        assert sample(s, "arbkit_edge_slippage_bps_bucket", strategy="cross_venue", le="+Inf") == 2
        assert sample(s, "arbkit_killswitch_trips_total", source="operator") == 1
        # decision latency per stage: E1's timings twice (socket->book 20 µs, sent->acked 2 ms)
        assert sample(s, "arbkit_stage_latency_seconds_count", stage="socket->book") == 2
        assert sample(s, "arbkit_stage_latency_seconds_sum", stage="socket->book") == pytest.approx(40e-6)
        assert sample(s, "arbkit_stage_latency_seconds_bucket", stage="socket->book", le="2.5e-05") == 2
        assert sample(s, "arbkit_stage_latency_seconds_bucket", stage="socket->book", le="1e-05") == 0
        assert sample(s, "arbkit_stage_latency_seconds_sum", stage="sent->acked") == pytest.approx(4e-3)

        # consumer lag from Bus.stats()
        assert sample(s, "arbkit_bus_published_total", topic="orders") == 7
        assert sample(s, "arbkit_bus_pending", topic="orders", subscriber="journal") == 7
        assert sample(s, "arbkit_bus_delivered_total", topic="orders", subscriber="journal") == 0
        # breaker state from the supervisor, and its BreakerOpened event
        assert sample(s, "arbkit_task_breaker_open", task="kalshi.feed") == 1
        assert sample(s, "arbkit_task_breaker_open", task="engine") == 0
        assert sample(s, "arbkit_task_state", task="engine", state="running") == 1
        assert sample(s, "arbkit_task_crashes_total", task="kalshi.feed") == 3
        assert sample(s, "arbkit_breaker_opened_total", task="kalshi.feed") == 1
        # exposure, cash, risk
        assert sample(s, "arbkit_exposure", venue="polymarket", currency="pUSD") == pytest.approx(4.0)
        assert sample(s, "arbkit_exposure", venue="kalshi", currency="USD") == pytest.approx(2.2)
        assert sample(s, "arbkit_open_positions", venue="polymarket") == 1
        assert sample(s, "arbkit_cash", venue="kalshi", currency="USD") == pytest.approx(990.5 - 2.2)
        assert sample(s, "arbkit_killswitch_tripped") == 0
        assert sample(s, "arbkit_executions_in_flight") == 0
        assert sample(s, "arbkit_pnl_today") == 0
        await sup.shutdown()
    finally:
        m.stop()
    assert not m.serving
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    m.stop()  # idempotent


async def test_nodes_have_separate_registries_and_ports():
    a, b = NodeMetrics("a"), NodeMetrics("b")
    pa, pb = a.start(0), b.start(0)
    try:
        assert pa != pb
        a.count_messages("kalshi", "c0", 5)
        sa, sb = await scrape(pa), await scrape(pb)
        assert sample(sa, "arbkit_feed_messages_total", venue="kalshi", connection="c0") == 5
        assert ("arbkit_feed_messages_total", (("connection", "c0"), ("venue", "kalshi"))) not in sb
        with pytest.raises(RuntimeError, match="already serving"):
            a.start(0)
    finally:
        a.stop()
        await b.stop_async()
    assert not a.serving and not b.serving


async def test_port_in_use_is_a_clear_error():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        m = NodeMetrics()
        with pytest.raises(OSError, match=r"cannot serve metrics on 127\.0\.0\.1:\d+"):
            m.start(holder.getsockname()[1])
        assert not m.serving
    finally:
        holder.close()


def test_reject_reason_labels_are_bounded():
    m = NodeMetrics()
    for i in range(MAX_REASONS_PER_VENUE + 20):
        m.on_event(OrderRejected(venue=Venue.KALSHI, client_order_id=f"c{i}", reason=f"reason {chr(65 + i % 26)}{chr(65 + i // 26)}"))
    text = m.render().decode()
    kalshi_series = [ln for ln in text.splitlines() if ln.startswith("arbkit_order_rejects_total{") and 'venue="kalshi"' in ln]
    assert len(kalshi_series) == MAX_REASONS_PER_VENUE + 1  # + "other"
    assert any('reason="other"' in ln and ln.endswith(" 20.0") for ln in kalshi_series)


def test_a_malformed_event_is_counted_not_raised():
    m = NodeMetrics()

    class OrderFilled:  # same name as the real event, none of its fields
        pass

    m.on_event(OrderFilled())
    assert 'arbkit_metrics_handler_errors_total{kind="OrderFilled"} 1.0' in m.render().decode()


async def test_poll_forever_refreshes_the_snapshot():
    bus = Bus()
    bus.add_topic("t", TopicPolicy.FIFO)
    bus.subscribe("t", lambda msg: None, name="slow")
    m = NodeMetrics()
    task = asyncio.create_task(m.poll_forever(0.01, bus=bus))
    try:
        await asyncio.sleep(0.03)
        bus.publish("t", 1)
        bus.publish("t", 2)
        await asyncio.sleep(0.05)
        assert 'arbkit_bus_pending{subscriber="slow",topic="t"} 2.0' in m.render().decode()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
