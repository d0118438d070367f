"""A real journal of a few executions for the report tests (imported by the analytics and e2e
tests): events are the engine's own types, appended with the journal API exactly as the engine
journals them (correlation id = execution id). Every figure the tests expect is derived here by
hand from the numbers below.

Executions (T0 + offsets in µs):
  E1 cross_venue FILLED  buy 10 YES@0.40 (PM, fee 0.05 pUSD) + 10 NO@0.55 (Kalshi, fee 0.02 USD)
                         profit 10 - 4 - 5.5 - 0.07 = 0.43 USD, spent 9.57
  E2 cross_venue HEDGED  PM fills 10@0.40 fee 0.05; Kalshi rejected ("insufficient balance");
                         hedge SELL 10@0.37 fee 0.04 -> profit -0.39; hedge cost 10*0.03+0.04 = 0.34 pUSD
  E3 cross_venue FAILED  PM fills 10@0.41 fee 0.05; Kalshi rejected; hedge SELL fills 4@0.38 fee 0.02
                         -> profit -2.65; hedge cost 4*0.03+0.02 = 0.14 pUSD; 6 YES left open
  E4 cross_venue ABORTED PM rejected ("price moved"), Kalshi rejected -> profit 0, no effective edge
  E5 triangle    FILLED  KuCoin USDT->BTC->ETH->USDT: 1000 USDT -> 0.02 BTC -> 0.39956 ETH -> sold @2516
                         = 1005.29296 - fee 1.0053 -> profit 4.28766 USDT on 1000 spent; predicted 7 (70 bps)
plus: one standalone OrderSubmitted on KuCoin filled by one OrderFilled, two RiskDenied, one
ExecutionStarted with no report (unfinished), market data records the report must skip.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from arbkit.core.clock import NS
from arbkit.core.enums import (
    ConnectionState,
    InstrumentKind,
    LiquiditySide,
    OrderType,
    Side,
    TimeInForce,
    Venue,
)
from arbkit.core.events import (
    BookUpdated,
    ConnectionStateChanged,
    OrderAccepted,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
)
from arbkit.core.instruments import Instrument
from arbkit.execution.events import (
    ExecutionReported,
    ExecutionStarted,
    HedgeStarted,
    LegFilled,
    LegSubmitted,
    ReservedAmount,
    RiskDenied,
)
from arbkit.execution.intent import BookTop
from arbkit.execution.report import ExecutionReport, ExecutionStatus, LegReport, Residual, StageTimings
from arbkit.journal.store import Journal

D = Decimal
US = 1_000  # ns per µs
T0 = 1_763_700_000 * NS

POLY_YES = Instrument(venue=Venue.POLYMARKET, symbol="tok-yes", kind=InstrumentKind.OUTCOME, tick_size=D("0.01"),
                      size_increment=D("0.01"), quote="pUSD", outcome="YES", market_id="0xc0ffee",
                      title="Will the test event happen?")
KALSHI_NO = Instrument(venue=Venue.KALSHI, symbol="KXTEST-26:no", kind=InstrumentKind.OUTCOME, tick_size=D("0.01"),
                       size_increment=D("1"), quote="USD", outcome="NO", market_id="KXTEST-26")
BTC_USDT = Instrument(venue=Venue.KUCOIN, symbol="BTC-USDT", kind=InstrumentKind.SPOT, tick_size=D("0.1"),
                      size_increment=D("0.00000001"), quote="USDT", base="BTC")
ETH_BTC = Instrument(venue=Venue.KUCOIN, symbol="ETH-BTC", kind=InstrumentKind.SPOT, tick_size=D("0.00001"),
                     size_increment=D("0.0000001"), quote="BTC", base="ETH")
ETH_USDT = Instrument(venue=Venue.KUCOIN, symbol="ETH-USDT", kind=InstrumentKind.SPOT, tick_size=D("0.01"),
                      size_increment=D("0.0000001"), quote="USDT", base="ETH")

# Stage timestamps (µs after the execution's start) for the cross-venue executions:
# (socket, book, evaluated, intent, risk, journaled, sent, acked, filled, completed); None = did not happen.
STAMPS_US = {
    "E1": (0, 20, 50, 60, 70, 200, 250, 2250, 5250, 5300),
    "E2": (0, 30, 70, 90, 100, 300, 400, 3400, 9400, 9500),
    "E3": (0, 10, 40, 45, 47, 150, 170, 1170, 4170, 4200),
    "E4": (0, 25, 55, 65, 75, 220, 280, None, None, 900),  # both legs rejected: never acked or filled
    "E5": (None, None, None, 5, 8, 100, 120, 620, 1620, 1700),  # no socket/book/evaluated stamps
}
START_NS = {"E1": T0, "E2": T0 + 10 * NS, "E3": T0 + 20 * NS, "E4": T0 + 30 * NS, "E5": T0 + 40 * NS}

# What the tests check (derived by hand in the module docstring).
EXPECTED_PROFIT = {"E1": D("0.43"), "E2": D("-0.39"), "E3": D("-2.65"), "E4": D("0"), "E5": D("4.28766")}
EXPECTED_SPENT = {"E1": D("9.57"), "E2": D("4.05"), "E3": D("4.15"), "E5": D("1000")}


def effective_bps(eid: str) -> Decimal | None:
    """As the engine computes it: profit / spent * 10000, to 0.01 bps."""
    spent = EXPECTED_SPENT.get(eid)
    return (EXPECTED_PROFIT[eid] / spent * 10000).quantize(D("0.01")) if spent else None


def timings(eid: str) -> StageTimings:
    t0 = START_NS[eid]
    names = ("socket_arrival_ns", "book_updated_ns", "evaluated_ns", "intent_created_ns", "risk_checked_ns",
             "journaled_ns", "sent_ns", "acked_ns", "filled_ns", "completed_ns")
    return StageTimings(**{n: 0 if us is None else t0 + us * US for n, us in zip(names, STAMPS_US[eid])})


class _Writer:
    def __init__(self, journal: Journal) -> None:
        self.j = journal

    def add(self, event, eid: str, ts: int) -> None:
        self.j.append(event.kind, event, correlation_id=eid, ts_ns=ts)

    def order(self, eid: str, leg: int, attempt: int, purpose: str, inst: Instrument, side: Side, qty: str, price: str,
              ts: int) -> str:
        coid = f"{eid}-{leg}-{attempt}"
        self.add(LegSubmitted(execution_id=eid, leg_index=leg, attempt=attempt, purpose=purpose, client_order_id=coid,
                              instrument=inst, side=side, quantity=D(qty), price=D(price), order_type=OrderType.LIMIT,
                              time_in_force=TimeInForce.IOC, correlation_id=eid), eid, ts)
        return coid

    def fill(self, eid: str, coid: str, inst: Instrument, side: Side, qty: str, price: str, fee: str, fee_ccy: str,
             ts: int) -> None:
        self.add(OrderAccepted(venue=inst.venue, client_order_id=coid, venue_order_id="v-" + coid, ts_recv=ts), eid, ts)
        self.add(OrderFilled(venue=inst.venue, instrument_id=inst.id, client_order_id=coid, venue_order_id="v-" + coid,
                             trade_id="t-" + coid, side=side, price=D(price), quantity=D(qty), fee=D(fee),
                             fee_currency=fee_ccy, liquidity=LiquiditySide.TAKER, ts_recv=ts), eid, ts)

    def reject(self, eid: str, coid: str, venue: Venue, reason: str, ts: int) -> None:
        self.add(OrderRejected(venue=venue, client_order_id=coid, reason=reason, ts_recv=ts), eid, ts)

    def final(self, eid: str, leg: int, coid: str, purpose: str, status: str, qty: str, avg: str | None, fee: str,
              fee_ccy: str, ts: int) -> None:
        self.add(LegFilled(execution_id=eid, leg_index=leg, client_order_id=coid, purpose=purpose, status=status,
                           filled_quantity=D(qty), avg_price=D(avg) if avg else None, fee=D(fee), fee_currency=fee_ccy),
                 eid, ts)


def leg_report(leg: int, purpose: str, coid: str, inst: Instrument, side: Side, req: str, limit: str, filled: str,
               avg: str | None, fee: str, fee_ccy: str, status: str, error: str = "") -> LegReport:
    return LegReport(leg_index=leg, purpose=purpose, client_order_id=coid, venue=inst.venue, instrument_id=inst.id,
                     side=side, requested_quantity=D(req), limit_price=D(limit), filled_quantity=D(filled),
                     avg_price=D(avg) if avg else None, fee=D(fee), fee_currency=fee_ccy, status=status,
                     latency_ns=3000 * US, ack_latency_ns=1000 * US, error=error)


def _report(eid: str, status: ExecutionStatus, strategy: str, quote: str, legs: list[LegReport], predicted_bps: str,
            predicted_profit: str, books: list[BookTop], residuals: list[Residual] | None = None) -> ExecutionReport:
    return ExecutionReport(
        execution_id=eid, status=status, strategy=strategy, sequencing="PARALLEL", primary_quote=quote, legs=legs,
        predicted_edge_bps=D(predicted_bps), effective_edge_bps=effective_bps(eid), predicted_profit=D(predicted_profit),
        profit=EXPECTED_PROFIT[eid], matched_fraction=D(1) if status is ExecutionStatus.FILLED else D(0),
        residuals=residuals or [], timings=timings(eid), books=books,
    )


def _books(ts: int) -> list[BookTop]:
    return [BookTop(instrument_id=POLY_YES.id, bids=[(D("0.39"), D("100"))], asks=[(D("0.40"), D("100"))], last_update_ns=ts),
            BookTop(instrument_id=KALSHI_NO.id, bids=[(D("0.54"), D("100"))], asks=[(D("0.55"), D("100"))], last_update_ns=ts)]


def build_report_journal(path: Path) -> Path:
    """Write the journal described in the module docstring to ``path``."""
    with Journal.open(path, synchronous="NORMAL") as j:
        w = _Writer(j)
        B, S = Side.BUY, Side.SELL
        # market data the report must not read
        j.append_event(ConnectionStateChanged(venue=Venue.KALSHI, connection="kalshi.ws.0", state=ConnectionState.CONNECTED,
                                              ts_recv=T0 - NS))
        j.append_event(BookUpdated(venue=Venue.POLYMARKET, instrument_id=POLY_YES.id, sequence=1, best_bid=D("0.39"),
                                   best_bid_size=D("100"), best_ask=D("0.40"), best_ask_size=D("100"), ts_recv=T0 - NS))

        def start(eid: str) -> int:
            t = START_NS[eid]
            w.add(ExecutionStarted(execution_id=eid, reserved=[ReservedAmount(venue=Venue.POLYMARKET, currency="pUSD",
                                                                             amount=D("5"))]), eid, t)
            return t

        # E1: FILLED cross-venue, positive edge
        t = start("E1")
        c0 = w.order("E1", 0, 0, "leg", POLY_YES, B, "10", "0.40", t + 200 * US)
        c1 = w.order("E1", 1, 0, "leg", KALSHI_NO, B, "10", "0.55", t + 200 * US)
        w.fill("E1", c0, POLY_YES, B, "10", "0.40", "0.05", "pUSD", t + 3000 * US)
        w.fill("E1", c1, KALSHI_NO, B, "10", "0.55", "0.02", "USD", t + 5000 * US)
        w.final("E1", 0, c0, "leg", "FILLED", "10", "0.40", "0.05", "pUSD", t + 5250 * US)
        w.final("E1", 1, c1, "leg", "FILLED", "10", "0.55", "0.02", "USD", t + 5250 * US)
        w.add(ExecutionReported(report=_report("E1", ExecutionStatus.FILLED, "cross_venue", "USD", [
            leg_report(0, "leg", c0, POLY_YES, B, "10", "0.40", "10", "0.40", "0.05", "pUSD", "FILLED"),
            leg_report(1, "leg", c1, KALSHI_NO, B, "10", "0.55", "10", "0.55", "0.02", "USD", "FILLED"),
        ], "500", "0.5", _books(t))), "E1", t + 5300 * US)

        # E2: HEDGED (Kalshi leg rejected, the Polymarket leg sold back)
        t = start("E2")
        c0 = w.order("E2", 0, 0, "leg", POLY_YES, B, "10", "0.40", t + 300 * US)
        c1 = w.order("E2", 1, 0, "leg", KALSHI_NO, B, "10", "0.55", t + 300 * US)
        w.fill("E2", c0, POLY_YES, B, "10", "0.40", "0.05", "pUSD", t + 3400 * US)
        w.reject("E2", c1, Venue.KALSHI, "insufficient balance", t + 3400 * US)
        w.final("E2", 0, c0, "leg", "FILLED", "10", "0.40", "0.05", "pUSD", t + 3500 * US)
        w.final("E2", 1, c1, "leg", "REJECTED", "0", None, "0", "USD", t + 3500 * US)
        w.add(HedgeStarted(execution_id="E2", mode="MARKET_OUT", reason="leg 1 rejected",
                           residuals=[Residual(venue=Venue.POLYMARKET, asset=POLY_YES.id, quantity=D("10"))]), "E2", t + 3600 * US)
        h = w.order("E2", 0, 1, "hedge", POLY_YES, S, "10", "0.33", t + 3700 * US)
        w.fill("E2", h, POLY_YES, S, "10", "0.37", "0.04", "pUSD", t + 9000 * US)
        w.final("E2", 0, h, "hedge", "FILLED", "10", "0.37", "0.04", "pUSD", t + 9400 * US)
        w.add(ExecutionReported(report=_report("E2", ExecutionStatus.HEDGED, "cross_venue", "USD", [
            leg_report(0, "leg", c0, POLY_YES, B, "10", "0.40", "10", "0.40", "0.05", "pUSD", "FILLED"),
            leg_report(1, "leg", c1, KALSHI_NO, B, "10", "0.55", "0", None, "0", "USD", "REJECTED", "insufficient balance"),
            leg_report(0, "hedge", h, POLY_YES, S, "10", "0.33", "10", "0.37", "0.04", "pUSD", "FILLED"),
        ], "500", "0.5", _books(t))), "E2", t + 9500 * US)

        # E3: FAILED (the hedge filled only 4 of 10)
        t = start("E3")
        c0 = w.order("E3", 0, 0, "leg", POLY_YES, B, "10", "0.41", t + 150 * US)
        c1 = w.order("E3", 1, 0, "leg", KALSHI_NO, B, "10", "0.55", t + 150 * US)
        w.fill("E3", c0, POLY_YES, B, "10", "0.41", "0.05", "pUSD", t + 1170 * US)
        w.reject("E3", c1, Venue.KALSHI, "insufficient balance", t + 1170 * US)
        w.final("E3", 0, c0, "leg", "FILLED", "10", "0.41", "0.05", "pUSD", t + 1200 * US)
        w.final("E3", 1, c1, "leg", "REJECTED", "0", None, "0", "USD", t + 1200 * US)
        w.add(HedgeStarted(execution_id="E3", mode="MARKET_OUT", reason="leg 1 rejected",
                           residuals=[Residual(venue=Venue.POLYMARKET, asset=POLY_YES.id, quantity=D("10"))]), "E3", t + 1300 * US)
        h = w.order("E3", 0, 1, "hedge", POLY_YES, S, "10", "0.33", t + 1400 * US)
        w.fill("E3", h, POLY_YES, S, "4", "0.38", "0.02", "pUSD", t + 3000 * US)
        w.final("E3", 0, h, "hedge", "CANCELED", "4", "0.38", "0.02", "pUSD", t + 4170 * US)
        w.add(ExecutionReported(report=_report("E3", ExecutionStatus.FAILED, "cross_venue", "USD", [
            leg_report(0, "leg", c0, POLY_YES, B, "10", "0.41", "10", "0.41", "0.05", "pUSD", "FILLED"),
            leg_report(1, "leg", c1, KALSHI_NO, B, "10", "0.55", "0", None, "0", "USD", "REJECTED", "insufficient balance"),
            leg_report(0, "hedge", h, POLY_YES, S, "10", "0.33", "4", "0.38", "0.02", "pUSD", "CANCELED"),
        ], "500", "0.5", _books(t), [Residual(venue=Venue.POLYMARKET, asset=POLY_YES.id, quantity=D("6"))])), "E3", t + 4200 * US)

        # E4: ABORTED (both legs rejected)
        t = start("E4")
        c0 = w.order("E4", 0, 0, "leg", POLY_YES, B, "10", "0.40", t + 220 * US)
        c1 = w.order("E4", 1, 0, "leg", KALSHI_NO, B, "10", "0.55", t + 220 * US)
        w.reject("E4", c0, Venue.POLYMARKET, "price moved", t + 600 * US)
        w.reject("E4", c1, Venue.KALSHI, "insufficient balance", t + 600 * US)
        w.final("E4", 0, c0, "leg", "REJECTED", "0", None, "0", "pUSD", t + 800 * US)
        w.final("E4", 1, c1, "leg", "REJECTED", "0", None, "0", "USD", t + 800 * US)
        w.add(ExecutionReported(report=_report("E4", ExecutionStatus.ABORTED, "cross_venue", "USD", [
            leg_report(0, "leg", c0, POLY_YES, B, "10", "0.40", "0", None, "0", "pUSD", "REJECTED", "price moved"),
            leg_report(1, "leg", c1, KALSHI_NO, B, "10", "0.55", "0", None, "0", "USD", "REJECTED", "insufficient balance"),
        ], "500", "0.5", _books(t))), "E4", t + 900 * US)

        # E5: FILLED KuCoin triangle (fees in the currency each leg receives)
        t = start("E5")
        legs = [(0, BTC_USDT, B, "0.02", "50000.0", "0.02", "50000.0", "0.00002", "BTC"),
                (1, ETH_BTC, B, "0.39996", "0.05000", "0.39996", "0.05000", "0.00039996", "ETH"),
                (2, ETH_USDT, S, "0.39956", "2520.00", "0.39956", "2516.00", "1.0053", "USDT")]
        reps = []
        for leg, inst, side, req, limit, filled, avg, fee, ccy in legs:
            c = w.order("E5", leg, 0, "leg", inst, side, req, limit, t + 100 * US)
            w.fill("E5", c, inst, side, filled, avg, fee, ccy, t + 1500 * US)
            w.final("E5", leg, c, "leg", "FILLED", filled, avg, fee, ccy, t + 1600 * US)
            reps.append(leg_report(leg, "leg", c, inst, side, req, limit, filled, avg, fee, ccy, "FILLED"))
        w.add(ExecutionReported(report=_report("E5", ExecutionStatus.FILLED, "triangle", "USDT", reps, "70", "7", [])),
              "E5", t + 1700 * US)

        # a standalone order (not part of a saga), fully filled
        t = T0 + 50 * NS
        j.append_event(OrderSubmitted(venue=Venue.KUCOIN, instrument_id=BTC_USDT.id, client_order_id="manual-1", side=B,
                                      order_type=OrderType.LIMIT, time_in_force=TimeInForce.GTC, price=D("50000"),
                                      quantity=D("0.001"), ts_recv=t))
        j.append_event(OrderFilled(venue=Venue.KUCOIN, instrument_id=BTC_USDT.id, client_order_id="manual-1",
                                   venue_order_id="v-manual-1", trade_id="t-manual-1", side=B, price=D("50000"),
                                   quantity=D("0.001"), fee=D("0.05"), fee_currency="USDT", liquidity=LiquiditySide.MAKER,
                                   ts_recv=t + NS))
        # risk denials and an execution still in flight
        w.add(RiskDenied(execution_id="E6", check="exposure", reason="venue kalshi exposure 1200 > 1000"), "E6", T0 + 60 * NS)
        w.add(RiskDenied(execution_id="E7", check="stale", reason="book older than 2 s"), "E7", T0 + 61 * NS)
        w.add(ExecutionStarted(execution_id="E8", reserved=[]), "E8", T0 + 62 * NS)
        j.flush_sync(10)
    return path
