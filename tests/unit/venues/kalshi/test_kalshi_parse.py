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


# --- direction: outcome_side / book_side (docs.kalshi.com "Order direction", checked 2026-12-04) -----


INTENTS = [  # (contract, action) -> what the venue reports (outcome_side, book_side)
    (("yes", "buy"), ("yes", "bid")),
    (("no", "sell"), ("yes", "bid")),
    (("no", "buy"), ("no", "ask")),
    (("yes", "sell"), ("no", "ask")),
]


@pytest.mark.parametrize(("intent", "reported"), INTENTS)
def test_fills_without_deprecated_fields_map_to_our_instrument_for_buys_and_sells(intent, reported):
    """A fill carries only outcome_side/book_side (side/action gone): booked under our order's intent,
    on the right contract, at that contract's price; without our intent, a BUY of the outcome."""
    outcome, book = reported
    raw = (b'{"type":"fill","sid":3,"msg":{"trade_id":"t1","order_id":"o1","market_ticker":"T","is_taker":true,'
           b'"outcome_side":"%s","book_side":"%s","yes_price_dollars":"0.3600","count_fp":"2.00","fee_cost":"0.0300",'
           b'"ts":1741052641,"post_position_fp":"2.00"}}' % (outcome.encode(), book.encode()))
    pf = fill_from_ws(decode_ws(raw).msg)
    rest = msgspec.convert({"fill_id": "t1", "trade_id": "t1", "order_id": "o1", "ticker": "T", "market_ticker": "T",
                            "outcome_side": outcome, "book_side": book, "count_fp": "2.00", "yes_price_dollars": "0.3600",
                            "no_price_dollars": "0.6400", "is_taker": True, "fee_cost": "0.0300", "exchange_index": 0,
                            "created_time": "2025-03-04T01:44:01Z"}, FillWire).parsed()
    for f in (pf, rest):
        default = f.to_event()
        assert (default.instrument_id, default.side) == (f"kalshi:T:{outcome}", Side.BUY)
        ev = f.with_intent(*intent).to_event("c1")
        side, action = intent
        assert ev.instrument_id == f"kalshi:T:{side}" and ev.side is (Side.BUY if action == "buy" else Side.SELL)
        assert ev.price == (D("0.3600") if side == "yes" else D("0.6400")) and ev.quantity == D("2.00")
        other = ("no" if side == "yes" else "yes", action)  # the intent that would contradict the venue
        with pytest.raises(ValueError, match="outcome_side"):
            f.with_intent(*other)


def test_direction_fields_must_agree_and_one_is_needed():
    body = {"order_id": "o", "ticker": "T", "status": "resting", "yes_price_dollars": "0.3000", "no_price_dollars": "0.7000",
            "initial_count_fp": "1.00", "fill_count_fp": "0.00", "remaining_count_fp": "1.00"}
    for bad in ({"outcome_side": "yes", "book_side": "ask"}, {"outcome_side": "no", "side": "yes", "action": "buy"},
                {"book_side": "middle"}, {}, {"side": "yes"}):
        with pytest.raises(ValueError):
            order_state(msgspec.convert(dict(body, **bad), OrderWire))
    # a sell of YES is outcome_side=no; the deprecated pair, when still sent, names it exactly
    st = order_state(msgspec.convert(dict(body, outcome_side="no", book_side="ask", side="yes", action="sell"), OrderWire))
    assert (st.instrument_id, st.side, st.price) == ("kalshi:T:yes", Side.SELL, D("0.3000"))
    st = order_state(msgspec.convert(dict(body, outcome_side="no", book_side="ask"), OrderWire))
    assert (st.instrument_id, st.side, st.price) == ("kalshi:T:no", Side.BUY, D("0.7000"))
    st = order_state(msgspec.convert(dict(body, outcome_side="no", book_side="ask"), OrderWire), ("yes", "sell"))
    assert (st.instrument_id, st.side, st.price) == ("kalshi:T:yes", Side.SELL, D("0.3000"))


def test_trade_taker_side_new_and_deprecated_names():
    from arbkit.venues.kalshi.parse import TradeWire

    t = msgspec.convert({"trade_id": "x", "taker_outcome_side": "no", "taker_book_side": "ask", "count_fp": "1.00",
                         "yes_price_dollars": "0.4000"}, TradeWire)
    assert t.taker_outcome() == "no"
    assert msgspec.convert({"trade_id": "x", "taker_side": "yes"}, TradeWire).taker_outcome() == "yes"
    with pytest.raises(ValueError, match="disagree"):
        msgspec.convert({"trade_id": "x", "taker_outcome_side": "no", "taker_side": "yes"}, TradeWire).taker_outcome()


def test_errors_nested_or_flat_keep_the_code():
    from arbkit.venues.kalshi.parse import error_of

    nested = error_of(b'{"error":{"code":"deprecated_v1_order_endpoint","message":"gone","details":"use v2","service":"x"}}')
    flat = error_of(b'{"code":"insufficient_balance","message":"insufficient balance","details":"need 3.00"}')
    assert (nested.code, nested.message, nested.details) == ("deprecated_v1_order_endpoint", "gone", "use v2")
    assert (flat.code, flat.details) == ("insufficient_balance", "need 3.00")
    assert error_of(b"<html>bad gateway</html>").message.startswith("<html>")
    assert error_of(b'{"error":"rate_limited"}').code == "rate_limited"
