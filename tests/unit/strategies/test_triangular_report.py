"""The one-line summary of an execution report (arbkit.execution.report.report_line)."""

from __future__ import annotations

from decimal import Decimal as D

from arbkit.core.enums import Side, Venue
from arbkit.execution.report import ExecutionReport, ExecutionStatus, LegReport, Residual, StageTimings, report_line


def leg(i: int, iid: str, side: Side, qty: str, px: str, fee: str, cur: str, venue: Venue = Venue.KUCOIN,
        purpose: str = "leg", filled: str | None = None) -> LegReport:
    return LegReport(leg_index=i, purpose=purpose, client_order_id=f"c{i}", venue=venue, instrument_id=iid, side=side,
                     requested_quantity=D(qty), limit_price=D(px), filled_quantity=D(filled if filled is not None else qty),
                     avg_price=D(px), fee=D(fee), fee_currency=cur, status="FILLED")


def report(legs, profit: str, eff: str | None, pred: str, seq: str = "CASCADE", quote: str = "USDT",
           status=ExecutionStatus.FILLED, residuals=()) -> ExecutionReport:
    ms = 1_000_000
    return ExecutionReport(execution_id="c-1", status=status, strategy="triangular", sequencing=seq, primary_quote=quote,
                           legs=legs, predicted_edge_bps=D(pred), effective_edge_bps=None if eff is None else D(eff),
                           predicted_profit=D(0), profit=D(profit), matched_fraction=D(1), residuals=list(residuals),
                           timings=StageTimings(socket_arrival_ns=1 * ms, book_updated_ns=1 * ms, evaluated_ns=1 * ms + 40_000,
                                                intent_created_ns=1 * ms + 50_000, risk_checked_ns=1 * ms + 80_000,
                                                journaled_ns=2 * ms, sent_ns=2 * ms, acked_ns=3 * ms, filled_ns=5 * ms,
                                                completed_ns=6 * ms),
                           books=[])


def test_a_filled_triangle_reads_like_the_issue_says() -> None:
    r = report([leg(0, "kucoin:BTC-USDT", Side.BUY, "0.001", "90000", "0.09", "USDT"),
                leg(1, "kucoin:ETH-BTC", Side.BUY, "0.03", "0.033", "0.00000099", "BTC"),
                leg(2, "kucoin:ETH-USDT", Side.SELL, "0.03", "3030", "0.0909", "USDT")], "0.72", "79.92", "80")
    line = report_line(r)
    assert line.startswith("FILLED | c-1 | BTC-USDT→ETH-BTC→ETH-USDT | start 90.09 USDT → end 90.81 USDT | "
                           "+79.9 bps (pred 80.0) | legs BUY 0.001/0.001 BTC-USDT @ 90000 fee 0.09 USDT FILLED; ")
    assert "| timings eval 40 µs, risk 30 µs, journal 920 µs, ack 1.0 ms, legs 3.0 ms, total 5.0 ms" in line


def test_an_unwound_cascade_shows_hedges_and_residuals() -> None:
    r = report([leg(0, "kucoin:BTC-USDT", Side.BUY, "0.001", "90000", "0.09", "USDT"),
                leg(1, "kucoin:ETH-BTC", Side.BUY, "0.03", "0.033", "0", "BTC", filled="0"),
                leg(0, "kucoin:BTC-USDT", Side.SELL, "0.001", "89990", "0.08999", "USDT", purpose="hedge")],
               "-0.19", "-2.1", "80", status=ExecutionStatus.FAILED,
               residuals=[Residual(venue=Venue.KUCOIN, asset="BTC", quantity=D("0.00000001"))])
    line = report_line(r)
    assert line.startswith("FAILED | c-1 | BTC-USDT→ETH-BTC | start 90.09 USDT → end 89.9 USDT | -2.1 bps (pred 80.0)")
    assert "H SELL 0.001/0.001 BTC-USDT @ 89990" in line and line.endswith("residual 0.00000001 BTC")


def test_a_cross_venue_report_gets_the_analogous_line() -> None:
    r = report([leg(0, "polymarket:123456789012345678901234", Side.BUY, "10", "0.40", "0.01", "pUSD", Venue.POLYMARKET),
                leg(1, "kalshi:KXBTC-26DEC31:no", Side.BUY, "10", "0.55", "0.02", "USD", Venue.KALSHI)],
               "0.47", "95.0", "100", seq="PARALLEL", quote="USD")
    line = report_line(r)
    assert line.startswith("FILLED | c-1 | polymarket BUY 1234567890123456 + kalshi BUY KXBTC-26DEC31:no | "
                           "start 9.53 USD → end 10 USD | +95.0 bps (pred 100.0)")
