"""Every order-lifecycle event the journal accepts becomes one structured log line whose values
are plain strings (a JSON log parses into what was sent and booked), rendered through the node's
own logging set-up."""

from __future__ import annotations

import io
import json
from decimal import Decimal

from arbkit.core.enums import FillStatus, InstrumentKind, LiquiditySide, OrderType, Side, TimeInForce, Venue
from arbkit.core.events import (
    BookStaleDetected,
    FillStatusChanged,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderFilled,
    OrderRejected,
)
from arbkit.core.instruments import Instrument
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
from arbkit.execution.report import Residual
from arbkit.runtime.logging import configure_logging, reset_logging
from arbkit.runtime.order_log import OrderLog

K = Venue.KALSHI
INST = Instrument(venue=K, symbol="KXBTC-26DEC31-T150000:yes", kind=InstrumentKind.OUTCOME,
                  tick_size=Decimal("0.01"), size_increment=Decimal("0.01"))
COID = "xv-1-L0-A0"

EVENTS = [
    (LegSubmitted(execution_id="xv-1", leg_index=0, attempt=0, purpose="leg", client_order_id=COID, instrument=INST,
                  side=Side.BUY, quantity=Decimal("12.50"), price=Decimal("0.47"), order_type=OrderType.LIMIT,
                  time_in_force=TimeInForce.IOC), "order sent", "info"),
    (OrderAccepted(venue=K, client_order_id=COID, venue_order_id="v-9"), "order acked", "info"),
    (OrderRejected(venue=K, client_order_id=COID, reason="insufficient balance", code="INSUFFICIENT_BALANCE"),
     "order rejected", "warning"),
    (OrderFilled(venue=K, instrument_id=INST.id, client_order_id=COID, venue_order_id="v-9", trade_id="t-1", side=Side.BUY,
                 price=Decimal("0.47"), quantity=Decimal("12.50"), fee=Decimal("0.0700"), fee_currency="USD",
                 liquidity=LiquiditySide.TAKER), "order filled", "info"),
    (FillStatusChanged(venue=Venue.POLYMARKET, trade_id="t-2", client_order_id=COID, status=FillStatus.FAILED,
                       reason="chain revert"), "fill settlement", "warning"),
    (OrderCanceled(venue=K, client_order_id=COID, filled_quantity=Decimal("3")), "order canceled", "info"),
    (OrderCancelRejected(venue=K, client_order_id=COID, reason="already filled"), "cancel rejected", "warning"),
    (OrderExpired(venue=K, client_order_id=COID), "order expired", "info"),
    (LegFilled(execution_id="xv-1", leg_index=0, client_order_id=COID, purpose="leg", status="FILLED",
               filled_quantity=Decimal("12.50"), avg_price=Decimal("0.47"), fee=Decimal("0.07"), fee_currency="USD"),
     "order done", "info"),
    (HedgeStarted(execution_id="xv-1", mode="market_out", reason="leg 1 rejected",
                  residuals=[Residual(venue=K, asset=INST.id, quantity=Decimal("12.50"))]), "hedge started", "warning"),
    (ResidualAlerted(execution_id="xv-1", reason="hedge gave up",
                     residuals=[Residual(venue=K, asset="USD", quantity=Decimal("-0.004"), dust=True)]),
     "exposure left open", "error"),
    (RiskDenied(execution_id="xv-2", check="exposure", reason="over the limit"), "intent denied", "info"),
    (SagaHeld(execution_id="xv-1", reason="venue silent", client_order_ids=[COID]), "execution held", "error"),
    (SagaReopened(execution_id="xv-1", reason="late fill", previous_status="FILLED"), "execution reopened", "warning"),
    (SagaResolved(execution_id="xv-1", action="hedge", note="checked by hand"), "execution resolved by operator", "warning"),
]


def test_each_order_event_is_one_json_line_with_plain_values():
    out = io.StringIO()
    configure_logging("debug", json=True, stream=out)
    try:
        olog = OrderLog()
        for ev, _, _ in EVENTS:
            olog.on_event(ev)
        olog.on_event(BookStaleDetected(venue=K, instrument_id=INST.id, age_ns=2_000_000_000))  # not an order event
    finally:
        reset_logging()
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert olog.lines == len(EVENTS) == len(lines)
    for (ev, message, level), rec in zip(EVENTS, lines):
        assert (rec["event"], rec["level"], rec["logger"]) == (message, level, "arbkit.orders")
    sent, filled, residual = lines[0], lines[3], lines[10]
    assert (sent["venue"], sent["instrument"], sent["side"], sent["quantity"], sent["price"], sent["tif"]) == \
        ("kalshi", "KXBTC-26DEC31-T150000:yes", "BUY", "12.50", "0.47", "IOC")
    assert (filled["fee"], filled["liquidity"], filled["settlement"]) == ("0.0700", "TAKER", "CONFIRMED")
    assert residual["residuals"] == ["kalshi USD -0.004 (dust)"]
    assert "Decimal(" not in out.getvalue() and "<" not in out.getvalue()
