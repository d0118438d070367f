"""One log line per order event and per execution, with structured fields.

The journal is the record; this is what a trader reads in ``node.log`` (or the console) while the
node runs: every order sent, acknowledged, filled, canceled, rejected or expired, every hedge and
residual alert, every held saga. It listens on the journal tap, so it sees exactly the events the
journal accepted, in the order it accepted them. Values are plain strings and numbers (never a
Python ``repr``) so a JSON log line parses into what was sent and booked."""

from __future__ import annotations

from decimal import Decimal
from enum import Enum
from typing import Any

import structlog

from arbkit.core.events import (
    FillStatusChanged,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderFilled,
    OrderRejected,
)
from arbkit.execution.events import (
    HedgeStarted,
    LegFilled,
    LegSubmitted,
    ResidualAlerted,
    RiskDenied,
    SagaHeld,
    SagaReopened,
    SagaResolved,
)

log = structlog.get_logger("arbkit.orders")


def plain(value: Any) -> Any:
    """A log-safe rendering: Decimals and enums as their text, containers recursively."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def _residuals(residuals: list[Any]) -> list[str]:
    return [f"{r.venue.value} {r.asset} {r.quantity}" + (" (dust)" if r.dust else "") for r in residuals]


class OrderLog:
    """Journal-tap listener: ``on_event(event)`` logs the order lifecycle (see module docstring)."""

    def __init__(self, logger: Any = None) -> None:
        self._log = logger or log
        self.lines = 0

    def on_event(self, ev: Any) -> None:
        handler = _HANDLERS.get(type(ev))
        if handler is None:
            return
        level, message, fields = handler(ev)
        self.lines += 1
        getattr(self._log, level)(message, **{k: plain(v) for k, v in fields.items() if v not in (None, "")})


def _leg_submitted(ev: LegSubmitted) -> tuple[str, str, dict]:
    inst = ev.instrument
    return "info", "order sent", {
        "execution_id": ev.execution_id, "leg": ev.leg_index, "purpose": ev.purpose, "attempt": ev.attempt,
        "client_order_id": ev.client_order_id, "venue": inst.venue, "instrument": inst.symbol,
        "side": ev.side, "quantity": ev.quantity, "price": ev.price, "type": ev.order_type, "tif": ev.time_in_force}


def _accepted(ev: OrderAccepted) -> tuple[str, str, dict]:
    return "info", "order acked", {"client_order_id": ev.client_order_id, "venue": ev.venue,
                                   "venue_order_id": ev.venue_order_id}


def _rejected(ev: OrderRejected) -> tuple[str, str, dict]:
    return "warning", "order rejected", {"client_order_id": ev.client_order_id, "venue": ev.venue, "reason": ev.reason,
                                         "code": ev.code, "retryable": ev.retryable}


def _filled(ev: OrderFilled) -> tuple[str, str, dict]:
    return "info", "order filled", {
        "client_order_id": ev.client_order_id, "venue": ev.venue, "instrument": ev.instrument_id, "side": ev.side,
        "price": ev.price, "quantity": ev.quantity, "fee": ev.fee, "fee_currency": ev.fee_currency,
        "liquidity": ev.liquidity, "trade_id": ev.trade_id, "venue_order_id": ev.venue_order_id,
        "settlement": ev.status, "leaves": ev.leaves_quantity}


def _fill_status(ev: FillStatusChanged) -> tuple[str, str, dict]:
    level = "warning" if ev.status.value == "FAILED" else "info"
    return level, "fill settlement", {"client_order_id": ev.client_order_id, "venue": ev.venue, "trade_id": ev.trade_id,
                                      "settlement": ev.status, "reason": ev.reason}


def _canceled(ev: OrderCanceled) -> tuple[str, str, dict]:
    return "info", "order canceled", {"client_order_id": ev.client_order_id, "venue": ev.venue,
                                      "venue_order_id": ev.venue_order_id, "filled": ev.filled_quantity, "reason": ev.reason}


def _cancel_rejected(ev: OrderCancelRejected) -> tuple[str, str, dict]:
    return "warning", "cancel rejected", {"client_order_id": ev.client_order_id, "venue": ev.venue, "reason": ev.reason}


def _expired(ev: OrderExpired) -> tuple[str, str, dict]:
    return "info", "order expired", {"client_order_id": ev.client_order_id, "venue": ev.venue,
                                     "venue_order_id": ev.venue_order_id}


def _leg_filled(ev: LegFilled) -> tuple[str, str, dict]:
    level = "warning" if ev.error or ev.timed_out else "info"
    return level, "order done", {
        "execution_id": ev.execution_id, "leg": ev.leg_index, "purpose": ev.purpose, "client_order_id": ev.client_order_id,
        "status": ev.status, "filled": ev.filled_quantity, "avg_price": ev.avg_price, "fee": ev.fee,
        "fee_currency": ev.fee_currency, "timed_out": ev.timed_out or None, "error": ev.error}


def _hedge(ev: HedgeStarted) -> tuple[str, str, dict]:
    return "warning", "hedge started", {"execution_id": ev.execution_id, "mode": ev.mode, "reason": ev.reason,
                                        "residuals": _residuals(ev.residuals)}


def _residual(ev: ResidualAlerted) -> tuple[str, str, dict]:
    return "error", "exposure left open", {"execution_id": ev.execution_id, "reason": ev.reason,
                                           "residuals": _residuals(ev.residuals)}


def _denied(ev: RiskDenied) -> tuple[str, str, dict]:
    return "info", "intent denied", {"execution_id": ev.execution_id, "check": ev.check, "reason": ev.reason}


def _held(ev: SagaHeld) -> tuple[str, str, dict]:
    return "error", "execution held", {"execution_id": ev.execution_id, "reason": ev.reason,
                                       "client_order_ids": ev.client_order_ids}


def _reopened(ev: SagaReopened) -> tuple[str, str, dict]:
    return "warning", "execution reopened", {"execution_id": ev.execution_id, "reason": ev.reason,
                                             "previous_status": ev.previous_status}


def _resolved(ev: SagaResolved) -> tuple[str, str, dict]:
    return "warning", "execution resolved by operator", {"execution_id": ev.execution_id, "action": ev.action,
                                                         "by": ev.by, "note": ev.note}


_HANDLERS: dict[type, Any] = {
    LegSubmitted: _leg_submitted,
    OrderAccepted: _accepted,
    OrderRejected: _rejected,
    OrderFilled: _filled,
    FillStatusChanged: _fill_status,
    OrderCanceled: _canceled,
    OrderCancelRejected: _cancel_rejected,
    OrderExpired: _expired,
    LegFilled: _leg_filled,
    HedgeStarted: _hedge,
    ResidualAlerted: _residual,
    RiskDenied: _denied,
    SagaHeld: _held,
    SagaReopened: _reopened,
    SagaResolved: _resolved,
}
