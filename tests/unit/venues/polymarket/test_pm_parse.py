"""Wire decoding helpers."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from arbkit.core.enums import OrderStatus
from arbkit.venues.polymarket import parse as P
from arbkit.venues.polymarket.feed import _lots


def test_frame_is_event_or_array() -> None:
    one = P.decode_market_frame(b'{"event_type":"book","asset_id":"1","bids":[],"asks":[]}')
    many = P.decode_market_frame(b'[{"event_type":"book","asset_id":"1","bids":[],"asks":[]},'
                                 b'{"market":"m","price_changes":[{"asset_id":"1","price":"0.5","size":"1","side":"BUY"}]}]')
    assert [m.kind for m in one] == ["book"] and [m.kind for m in many] == ["book", "price_change"]
    with pytest.raises(msgspec.ValidationError):
        P.decode_market_frame(b'{"price_changes":[{"asset_id":1}]}')


def test_timestamps() -> None:
    assert P.to_ns("1700000000") == 1_700_000_000 * 10**9
    assert P.to_ns("1700000000123") == 1_700_000_000_123 * 10**6
    assert P.to_ns(1700000000123456) == 1_700_000_000_123_456_000
    assert P.to_ns("2024-01-01T00:00:00Z") == 1_704_067_200 * 10**9
    assert P.to_ns("") == 0 and P.to_ns(None) == 0
    with pytest.raises(TypeError):
        P.to_ns(1.5)


def test_sizes_are_exact_micro_units() -> None:
    assert _lots("21574.08") == 21_574_080_000
    assert _lots("5") == 5_000_000 and _lots("0.000001") == 1 and _lots(".5") == 500_000
    assert _lots("1e2") == 100_000_000 and _lots("2.5000000") == 2_500_000
    assert _lots("7.") == 7_000_000 and _lots("0") == 0
    for bad in ("-1", "1.0000001", "abc", "1_0.5", "12.5 ", " 12.5", "", ".", "1.2.3"):
        with pytest.raises(ValueError):
            _lots(bad)


def test_balances_and_order_status() -> None:
    assert P.micro_units("1000000000") == Decimal("1000") and P.micro_units("250.5") == Decimal("250.5")
    row = P.WsUserMessage(status="LIVE", original_size="10", size_matched="4")
    assert P.order_status(row) is OrderStatus.PARTIALLY_FILLED
    assert P.order_status(P.WsUserMessage(status="MATCHED", original_size="10", size_matched="10")) is OrderStatus.FILLED
    assert P.order_status(P.WsUserMessage(status="CANCELED_order couldn't be fully filled")) is OrderStatus.CANCELED
    with pytest.raises(ValueError):
        P.order_status(P.WsUserMessage(status="WEIRD"))


def test_malformed_tracker_truncates_and_counts() -> None:
    t = P.MalformedTracker("unit-test")
    before = P.MALFORMED_MESSAGES.labels(venue="polymarket", source="unit-test")._value.get()
    ev = t.record("x" * 1000, ValueError("bad"))
    assert t.count == 1 and len(ev.sample) <= P.SAMPLE_CHARS + 3 and ev.error == "bad" and ev.source == "unit-test"
    assert P.MALFORMED_MESSAGES.labels(venue="polymarket", source="unit-test")._value.get() == before + 1
