"""Kalshi user stream frame handling: fills deduplicated, order updates, unknown channels, junk."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal as D

from cryptography.hazmat.primitives.asymmetric import rsa

from arbkit.core.events import MessageMalformed, OrderAccepted, OrderCanceled, OrderFilled
from arbkit.venues.kalshi.auth import KalshiSigner
from arbkit.venues.kalshi.user import KalshiUserStream


def fill(tid: str, count: str = "2.00", seq: int | None = None) -> str:
    d = {"type": "fill", "sid": 1, "msg": {"trade_id": tid, "order_id": "o1", "market_ticker": "T", "is_taker": True,
                                           "side": "yes", "yes_price_dollars": "0.4000", "count_fp": count,
                                           "fee_cost": "0.0200", "action": "buy", "ts": 1_800_000_000,
                                           "client_order_id": "c1"}}
    if seq is not None:
        d["seq"] = seq
    return json.dumps(d)


def user_order(status: str, filled: str = "0.00") -> str:
    return json.dumps({"type": "user_order", "sid": 2, "msg": {
        "order_id": "o1", "ticker": "T", "status": status, "side": "yes", "is_yes": True, "yes_price_dollars": "0.4000",
        "fill_count_fp": filled, "remaining_count_fp": "1.00", "initial_count_fp": "5.00", "client_order_id": "c1",
        "created_time": "2026-11-21T08:00:00Z", "last_update_time": "2026-11-21T08:00:01.5Z"}})


async def test_fills_once_orders_and_junk():
    events: list = []
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    s = KalshiUserStream(events.append, KalshiSigner("k", key))
    consumer = asyncio.create_task(s._consume())
    for raw in (user_order("resting"), fill("t1"), fill("t1"), fill("t2", "1.50"), user_order("resting", "3.50"),
                user_order("canceled", "3.50"), b"{junk", json.dumps({"type": "fill", "sid": 1, "msg": {"trade_id": "x"}}),
                json.dumps({"id": 2, "type": "error", "msg": {"code": 8, "msg": "Unknown channel name"}})):
        s.on_frame(raw)
    await asyncio.wait_for(s._queue.join(), 5)
    consumer.cancel()
    fills = [e for e in events if isinstance(e, OrderFilled)]
    assert [(e.trade_id, e.quantity, e.cumulative_quantity, e.client_order_id) for e in fills] == [
        ("t1", D("2.00"), D("2.00"), "c1"), ("t2", D("1.50"), D("3.50"), "c1")]
    assert s.duplicates == 1 and s.since_ns == 1_800_000_000 * 10**9
    assert [type(e) for e in events if isinstance(e, (OrderAccepted, OrderCanceled))] == [OrderAccepted, OrderCanceled]
    canceled = next(e for e in events if isinstance(e, OrderCanceled))
    assert canceled.filled_quantity == D("3.50") and canceled.ts_venue == 1795248001_500000000
    assert len([e for e in events if isinstance(e, MessageMalformed)]) == 2 == s.malformed.count
    assert s.user_orders_supported is False  # error 8: the venue has no user_orders; fills alone serve
