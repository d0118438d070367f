"""ExecutionReport: the one record every saga ends with."""

from __future__ import annotations

from decimal import Decimal
from enum import Enum

import msgspec

from arbkit.core.enums import Side, Venue
from arbkit.execution.intent import BookTop


class ExecutionStatus(str, Enum):
    FILLED = "FILLED"  # every leg filled (a cascade may keep increment dust, reported)
    HEDGED = "HEDGED"  # a leg failed or filled partly; the excess was compensated
    FAILED = "FAILED"  # compensation did not (or was told not to) flatten: residual open, alert
    ABORTED = "ABORTED"  # nothing was left exposed: no fill, or canceled before any


class LegReport(msgspec.Struct, frozen=True, kw_only=True):
    leg_index: int
    purpose: str  # "leg" or "hedge"
    client_order_id: str
    venue: Venue
    instrument_id: str
    side: Side
    requested_quantity: Decimal
    limit_price: Decimal
    filled_quantity: Decimal
    avg_price: Decimal | None
    fee: Decimal
    fee_currency: str
    status: str  # final OrderStatus value
    latency_ns: int = 0  # sent -> terminal
    ack_latency_ns: int = 0  # sent -> acknowledged
    error: str = ""


class Residual(msgspec.Struct, frozen=True, kw_only=True):
    """Exposure a saga could not (or was not allowed to) flatten: ``asset`` is a currency or an
    outcome instrument id, ``quantity`` signed (long > 0)."""

    venue: Venue
    asset: str
    quantity: Decimal
    dust: bool = False  # below the venue's increment/minimum: cannot be traded away


class StageTimings(msgspec.Struct, frozen=True, kw_only=True):
    """ns since epoch on the engine's clock (0 = did not happen)."""

    socket_arrival_ns: int = 0
    book_updated_ns: int = 0
    evaluated_ns: int = 0
    intent_created_ns: int = 0
    risk_checked_ns: int = 0
    journaled_ns: int = 0  # first order intent durable
    sent_ns: int = 0  # first order handed to the backend
    acked_ns: int = 0  # first acknowledgement
    filled_ns: int = 0  # last leg terminal
    completed_ns: int = 0


class ExecutionReport(msgspec.Struct, frozen=True, kw_only=True):
    execution_id: str
    status: ExecutionStatus
    strategy: str
    sequencing: str
    primary_quote: str
    legs: list[LegReport]
    predicted_edge_bps: Decimal
    effective_edge_bps: Decimal | None
    predicted_profit: Decimal
    profit: Decimal  # realised cash flow in primary_quote (plus set payout for matched sets)
    matched_fraction: Decimal  # share of the intended size that executed on every leg
    residuals: list[Residual]
    timings: StageTimings
    books: list[BookTop]
    error: str = ""
    recovered: bool = False  # finished by crash recovery

    @property
    def open_residuals(self) -> list[Residual]:
        return [r for r in self.residuals if not r.dust and r.quantity != 0]


def _num(d: Decimal) -> str:
    s = format(d.normalize(), "f") if d else "0"
    return s


def _span_us(a: int, b: int) -> str:
    if not a or not b or b < a:
        return "-"
    us = (b - a) / 1000
    return f"{us:.0f} µs" if us < 1000 else f"{us / 1000:.1f} ms"


def report_line(report: ExecutionReport) -> str:
    """One human-readable line per execution, for the node's log::

        FILLED | corr | BTC-USDT→ETH-BTC→ETH-USDT | start 100 USDT → end 100.42 USDT | +42 bps (pred 45) | legs … | timings …

    ``start`` is what the first leg spent in the primary quote (funds plus fee for a buy, the
    quantity for a sell of the start currency; every leg's cost for a non-cascade execution),
    ``end`` is start plus the realised profit, the bps are the report's effective edge (or
    profit / start when the engine could not value the spend). Hedge orders are listed after the
    legs with an ``H`` mark."""
    cascade = report.sequencing == "CASCADE"
    legs = sorted((lg for lg in report.legs if lg.purpose == "leg"), key=lambda lg: lg.leg_index)
    sym = lambda iid: iid.split(":", 1)[1] if ":" in iid else iid  # noqa: E731
    if cascade:
        path = "→".join(sym(lg.instrument_id) for lg in legs)
    else:
        path = " + ".join(f"{lg.venue.value} {lg.side.value} {sym(lg.instrument_id)[:16]}" for lg in legs)
    start = Decimal(0)
    for lg in legs[:1] if cascade else legs:
        notional = lg.filled_quantity * (lg.avg_price or Decimal(0))
        if lg.side is Side.BUY:
            start += notional + (lg.fee if lg.fee_currency != "" else Decimal(0))
        else:
            start += lg.filled_quantity
    end = start + report.profit
    if report.effective_edge_bps is not None:
        bps = report.effective_edge_bps
    else:
        bps = report.profit / start * 10000 if start else Decimal(0)
    q = report.primary_quote
    parts = [
        report.status.value, report.execution_id, path,
        f"start {_num(start)} {q} → end {_num(end)} {q}",
        f"{bps:+.1f} bps (pred {report.predicted_edge_bps:.1f})",
    ]
    leg_txt = []
    for lg in sorted(report.legs, key=lambda lg: (lg.purpose != "leg", lg.leg_index)):
        mark = "" if lg.purpose == "leg" else "H "
        px = _num(lg.avg_price) if lg.avg_price is not None else f"- (limit {_num(lg.limit_price)})"
        leg_txt.append(f"{mark}{lg.side.value} {_num(lg.filled_quantity)}/{_num(lg.requested_quantity)} "
                       f"{sym(lg.instrument_id)} @ {px} fee {_num(lg.fee)} {lg.fee_currency} {lg.status}")
    parts.append("legs " + "; ".join(leg_txt))
    t = report.timings
    parts.append(f"timings eval {_span_us(t.book_updated_ns, t.evaluated_ns)}, risk {_span_us(t.intent_created_ns, t.risk_checked_ns)}, "
                 f"journal {_span_us(t.risk_checked_ns, t.journaled_ns)}, ack {_span_us(t.sent_ns, t.acked_ns)}, "
                 f"legs {_span_us(t.sent_ns, t.filled_ns)}, total {_span_us(t.socket_arrival_ns or t.book_updated_ns, t.completed_ns)}")
    if report.error:
        parts.append(f"error {report.error}")
    if report.open_residuals:
        parts.append("residual " + ", ".join(f"{_num(r.quantity)} {r.asset}" for r in report.open_residuals))
    return " | ".join(parts)
