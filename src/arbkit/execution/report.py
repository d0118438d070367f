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
