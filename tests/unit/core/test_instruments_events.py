from decimal import Decimal

import msgspec
import pytest

from arbkit.core.enums import InstrumentKind, LiquiditySide, Side, Venue
from arbkit.core.events import OrderFilled, decode_event, encode_event, event_types
from arbkit.core.fees import FeeSpec, fee_for, kalshi_fee
from arbkit.core.instruments import Instrument, split_instrument_id


def yes_token() -> Instrument:
    return Instrument(
        venue=Venue.POLYMARKET, symbol="111", kind=InstrumentKind.OUTCOME, tick_size=Decimal("0.01"),
        size_increment=Decimal("0.01"), min_size=Decimal("5"), outcome="YES", complement="222",
    )


def test_instrument_ids_and_checks():
    i = yes_token()
    assert i.id == "polymarket:111"
    assert i.complement_id == "polymarket:222"
    assert split_instrument_id(i.id) == (Venue.POLYMARKET, "111")
    assert i.price_to_ticks(Decimal("0.57")) == 57
    assert i.ticks_to_price(57) == Decimal("0.57")
    with pytest.raises(ValueError):
        i.price_to_ticks(Decimal("0.575"))
    assert i.check_order(Decimal("0.5"), Decimal("10")) is None
    assert "below minimum" in i.check_order(Decimal("0.5"), Decimal("1"))
    assert "tick" in i.check_order(Decimal("0.505"), Decimal("10"))
    assert "outside" in i.check_order(Decimal("1.00"), Decimal("10"))
    assert i.round_size(Decimal("10.019")) == Decimal("10.01")


def test_event_roundtrip_keeps_decimals_exact():
    ev = OrderFilled(
        correlation_id="c1", ts_venue=1, ts_recv=2, venue=Venue.KALSHI, instrument_id="kalshi:X:yes",
        client_order_id="e-L0-A0", venue_order_id="v1", trade_id="t1", side=Side.BUY,
        price=Decimal("0.4321"), quantity=Decimal("12.50"), fee=Decimal("0.17"), fee_currency="USD",
        liquidity=LiquiditySide.TAKER,
    )
    raw = encode_event(ev)
    assert b'"0.4321"' in raw and b'"type":"OrderFilled"' in raw
    back = decode_event("OrderFilled", raw)
    assert back == ev
    assert "OrderFilled" in event_types()
    with pytest.raises(msgspec.ValidationError):
        decode_event("OrderFilled", b'{"type":"OrderFilled","venue":"kalshi"}')


def test_kalshi_fee_rounds_up_to_cent():
    # 0.07 * 100 * 0.5 * 0.5 = 1.75 exactly; 0.07 * 1 * 0.5 * 0.5 = 0.0175 -> 0.02
    assert kalshi_fee(Decimal("0.50"), Decimal(100), Decimal("0.07")) == Decimal("1.75")
    assert kalshi_fee(Decimal("0.50"), Decimal(1), Decimal("0.07")) == Decimal("0.02")
    spec = FeeSpec(kind="kalshi", taker_rate=Decimal("0.07"), maker_rate=Decimal("0"))
    assert fee_for(spec, Decimal("0.5"), Decimal(1), LiquiditySide.MAKER) == 0
