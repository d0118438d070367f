"""Kalshi wire parsing, both schemas (legacy integers and the 2026-03-12 fixed-point strings)."""

from __future__ import annotations

from decimal import Decimal as D

import msgspec
import pytest

from arbkit.core.enums import LiquiditySide, OrderStatus, Side
from arbkit.venues.kalshi.parse import (
    FillWire,
    OrderWire,
    count_lots,
    decode_ws,
    delta_of,
    fill_from_ws,
    fmt_count,
    fmt_price,
    order_state,
    parse_time_ns,
    pick_count,
    pick_money,
    pick_price,
    price_units,
    snapshot_levels,
)


def test_numbers_exact():
    assert price_units("0.4200") == 4200 and price_units("0.42") == 4200 and price_units("0.0550") == 550
    assert price_units("1.0000") == 10_000
    with pytest.raises(ValueError):
        price_units("0.12345")  # finer than $0.0001
    with pytest.raises(ValueError):
        price_units("1.5")
    assert count_lots("13.00") == 1300 and count_lots("0.30") == 30
    with pytest.raises(ValueError):
        count_lots("-1.00")
    assert count_lots("-1.00", signed=True) == -100
    assert fmt_price(D("0.42")) == "0.4200" and fmt_price(D("0.055")) == "0.0550"
    assert fmt_count(D("3")) == "3.00" and fmt_count(D("0.3")) == "0.30"
    with pytest.raises(ValueError):
        fmt_count(D("0.001"))


def test_fixed_point_and_legacy_must_agree():
    assert pick_price("0.3000", 30, "p") == 3000
    assert pick_price(None, 30, "p") == 3000
    assert pick_price("0.3000", None, "p") == 3000
    with pytest.raises(ValueError, match="disagree"):
        pick_price("0.3100", 30, "p")
    assert pick_count("2.00", 2, "c") == 200
    assert pick_count("2.50", 2, "c") == 250  # the integer is a whole-contract view of a fractional count
    with pytest.raises(ValueError, match="disagree"):
        pick_count("3.50", 2, "c")
    assert pick_price("0.0550", 5, "p") == 550  # ... and a whole-cent view of a sub-cent price
    assert pick_money("9998.0684", 999806, "balance") == D("9998.0684")
    with pytest.raises(ValueError, match="disagree"):
        pick_money("9998.0684", 999808, "balance")
    assert pick_price(None, None, "p") is None


def test_time_parsing():
    assert parse_time_ns("2025-03-01T18:26:53.361842Z") == 1740853613_361842000
    assert parse_time_ns("2025-03-01T18:26:53.123456789Z") == 1740853613_123456789
    assert parse_time_ns("2025-03-01T18:26:53Z") == 1740853613_000000000
    assert parse_time_ns(1741052641) == 1741052641_000000000
    assert parse_time_ns(None) == 0


def test_ws_snapshot_and_delta_shapes():
    snap = decode_ws(b'{"type":"orderbook_snapshot","sid":1,"seq":1,"msg":{"market_ticker":"T",'
                     b'"yes_dollars_fp":[["0.3500","200.00"],["0.4200","13.00"]],"no_dollars_fp":[["0.5400","400.00"]]}}')
    assert snapshot_levels(snap.msg) == ([(3500, 20000), (4200, 1300)], [(5400, 40000)])
    legacy = decode_ws(b'{"type":"orderbook_snapshot","sid":1,"seq":1,"msg":{"market_ticker":"T",'
                       b'"yes":[[35,200],[42,13]],"no":[[54,400]]}}')
    assert snapshot_levels(legacy.msg) == snapshot_levels(snap.msg)
    empty = decode_ws(b'{"type":"orderbook_snapshot","sid":1,"seq":1,"msg":{"market_ticker":"T"}}')
    assert snapshot_levels(empty.msg) == ([], [])
    d = decode_ws(b'{"type":"orderbook_delta","sid":1,"seq":2,"msg":{"market_ticker":"T","price_dollars":"0.4200",'
                  b'"delta_fp":"-5.00","side":"no","ts":"2025-03-01T18:26:53.361842Z"}}')
    assert delta_of(d.msg) == (False, 4200, -500)
    d2 = decode_ws(b'{"type":"orderbook_delta","sid":1,"seq":2,"msg":{"market_ticker":"T","price":42,"delta":-5,"side":"no"}}')
    assert delta_of(d2.msg) == (False, 4200, -500)
    bad = decode_ws(b'{"type":"orderbook_delta","sid":1,"seq":2,"msg":{"market_ticker":"T","price_dollars":"0.42",'
                    b'"delta_fp":"1.00","side":"maybe"}}')
    with pytest.raises(ValueError, match="side"):
        delta_of(bad.msg)
    with pytest.raises(msgspec.ValidationError):
        decode_ws(b'{"type":"orderbook_delta","sid":"one"}')


def test_ws_fill_to_event():
    f = decode_ws(b'{"type":"fill","sid":3,"msg":{"trade_id":"t1","order_id":"o1","market_ticker":"T","is_taker":true,'
                  b'"side":"no","yes_price_dollars":"0.3600","count_fp":"2.50","fee_cost":"0.0400","action":"buy",'
                  b'"ts":1741052641,"client_order_id":"c1"}}')
    pf = fill_from_ws(f.msg)
    ev = pf.to_event()
    assert ev.instrument_id == "kalshi:T:no" and ev.side is Side.BUY
    assert ev.price == D("0.6400") and ev.quantity == D("2.50") and ev.fee == D("0.0400")
    assert ev.liquidity is LiquiditySide.TAKER and ev.client_order_id == "c1" and ev.trade_id == "t1"
    assert ev.ts_venue == 1741052641 * 10**9


def test_rest_fill_both_shapes_same_result():
    legacy = {"action": "sell", "count": 32, "created_time": "2026-01-10T16:11:11.109554Z", "fill_id": "f", "is_taker": False,
              "market_ticker": "T", "no_price": 40, "no_price_fixed": "0.4000", "order_id": "o", "price": 0.6, "side": "yes",
              "ticker": "T", "trade_id": "f", "ts": 1768061471, "yes_price": 60, "yes_price_fixed": "0.6000"}
    current = {k: v for k, v in legacy.items() if k not in ("count", "no_price", "yes_price", "price")}
    current.update(count_fp="32.00", yes_price_dollars="0.6000", no_price_dollars="0.4000")
    a = msgspec.convert(legacy, FillWire).parsed()
    b = msgspec.convert(current, FillWire).parsed()
    assert a == b
    ev = a.to_event("coid")
    assert ev.side is Side.SELL and ev.price == D("0.6000") and ev.quantity == D("32.00")
    assert ev.liquidity is LiquiditySide.MAKER
    broken = dict(current, yes_price_dollars="0.6100", yes_price_fixed="0.6100")
    with pytest.raises(ValueError, match="add up"):
        msgspec.convert(broken, FillWire).parsed()


def test_order_state_mapping():
    base = {"order_id": "o", "ticker": "T", "side": "no", "action": "buy", "status": "resting", "client_order_id": "c",
            "yes_price_dollars": "0.3000", "no_price_dollars": "0.7000", "initial_count_fp": "10.00",
            "fill_count_fp": "4.00", "remaining_count_fp": "6.00", "created_time": "2026-01-14T20:18:04.727473Z"}
    st = order_state(msgspec.convert(base, OrderWire))
    assert st.instrument_id == "kalshi:T:no" and st.price == D("0.7000") and st.side is Side.BUY
    assert st.quantity == D("10.00") and st.filled_quantity == D("4.00")
    assert st.status is OrderStatus.PARTIALLY_FILLED
    assert order_state(msgspec.convert(dict(base, status="executed"), OrderWire)).status is OrderStatus.FILLED
    assert order_state(msgspec.convert(dict(base, status="canceled"), OrderWire)).status is OrderStatus.CANCELED
    assert order_state(msgspec.convert(dict(base, fill_count_fp="0.00"), OrderWire)).status is OrderStatus.ACCEPTED
    with pytest.raises(ValueError):
        order_state(msgspec.convert(dict(base, status="weird"), OrderWire))
