"""Wire decoding helpers."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from arbkit.core.enums import LiquiditySide, OrderStatus, Side
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


# --- our fills in a trade: a taker is filled at the maker prices, not at its limit -----------

YES, NO = "111", "222"


def _trade(side: str, price: str, size: str, makers: list[tuple[str, str, str, str]], trader_side: str = "TAKER",
           **kw) -> P.WsUserMessage:
    """A trade whose taker is ours; ``makers`` are (order id, token, price, matched amount)."""
    body = {"event_type": "trade", "type": "TRADE", "id": "tr-1", "taker_order_id": "0xours", "asset_id": YES,
            "side": side, "price": price, "size": size, "status": "MATCHED", "owner": "me",
            "trader_side": trader_side,
            "maker_orders": [{"order_id": oid, "owner": "them", "maker_address": "0xaa", "asset_id": tok,
                              "price": p, "matched_amount": amt} for oid, tok, p, amt in makers]}
    body.update(kw)
    return msgspec.json.decode(msgspec.json.encode(body), type=P.WsUserMessage)


def test_taker_sweeping_two_levels_is_filled_at_each_maker_price() -> None:
    t = _trade("BUY", "0.40", "10", [("0xm1", YES, "0.38", "4"), ("0xm2", YES, "0.39", "6")])
    fills = P.our_fills(t, {"me"})
    assert [(f.trade_id, f.order_id, f.price, f.quantity) for f in fills] == [
        ("tr-1:0xm1", "0xours", Decimal("0.38"), Decimal("4")), ("tr-1:0xm2", "0xours", Decimal("0.39"), Decimal("6"))]
    assert all(f.side is Side.BUY and f.liquidity is LiquiditySide.TAKER and f.asset_id == YES for f in fills)
    # what was paid is the sum over the matches, not the limit times the size (4.00)
    assert sum(f.price * f.quantity for f in fills) == Decimal("3.86")


def test_complementary_token_makers_mirror_their_price() -> None:
    # mint: we buy YES (limit 0.60) against a NO bid at 0.45 -> our YES cost 0.55
    buy = P.our_fills(_trade("BUY", "0.60", "5", [("0xn", NO, "0.45", "5")]), {"me"})
    assert [(f.price, f.quantity, f.side) for f in buy] == [(Decimal("0.55"), Decimal("5"), Side.BUY)]
    # merge: we sell YES (limit 0.30) against a NO ask at 0.62 -> our YES sold at 0.38
    sell = P.our_fills(_trade("SELL", "0.30", "3", [("0xn", NO, "0.62", "3"), ("0xy", YES, "0.36", "2")]), {"me"})
    assert [(f.price, f.quantity, f.side) for f in sell] == [(Decimal("0.38"), Decimal("3"), Side.SELL),
                                                            (Decimal("0.36"), Decimal("2"), Side.SELL)]


def test_our_maker_order_is_filled_at_its_own_price_and_matched_amount() -> None:
    t = _trade("SELL", "0.30", "10", [("0xm1", YES, "0.35", "4"), ("0xmine", YES, "0.33", "6")],
               trader_side="MAKER", owner="them")
    t.maker_orders[1].owner = "me"
    fills = P.our_fills(t, {"me"})
    assert [(f.trade_id, f.order_id, f.price, f.quantity, f.side, f.liquidity) for f in fills] == [
        ("tr-1", "0xmine", Decimal("0.33"), Decimal("6"), Side.BUY, LiquiditySide.MAKER)]


def test_trade_without_maker_orders_falls_back_to_the_top_level_price() -> None:
    fills = P.our_fills(_trade("BUY", "0.50", "4", []), {"me"})
    assert [(f.trade_id, f.price, f.quantity) for f in fills] == [("tr-1", Decimal("0.50"), Decimal("4"))]


def test_maker_order_price_outside_the_unit_interval_is_an_error() -> None:
    with pytest.raises(ValueError, match="outside"):
        P.our_fills(_trade("BUY", "0.50", "4", [("0xm", YES, "1.2", "4")]), {"me"})


def test_real_taker_trade_with_a_mint_match_prices_every_match(shared_fixtures) -> None:
    """user_trade1 (a real capture): the taker bought YES; one maker was a NO bid at 0.482 (a mint),
    five were YES asks at 0.518. Seen as the taker, each match is a fill at 0.518."""
    raw = (shared_fixtures / "polymarket/nautilus_trader/tests_ws_messages/user_trade1.json").read_bytes()
    (t,) = P.decode_user_frame(raw)
    fills = P.our_fills(t, set(), {t.taker_order_id})
    taker = [f for f in fills if f.liquidity is LiquiditySide.TAKER]
    assert len(taker) == len(t.maker_orders) == 6
    assert {f.price for f in taker} == {Decimal("0.518")}
    assert sum(f.quantity for f in taker) == Decimal(t.size)
    assert len({f.trade_id for f in taker}) == 6 and all(f.trade_id.startswith(t.id + ":") for f in taker)


def test_our_maker_order_on_the_complementary_token_keeps_its_own_token_and_price() -> None:
    # someone buys YES at 0.60 against our NO bid at 0.45 (a mint): we bought NO at 0.45
    t = _trade("BUY", "0.60", "5", [("0xmine", NO, "0.45", "5")], trader_side="MAKER", owner="them")
    t.maker_orders[0].owner = "me"
    fills = P.our_fills(t, {"me"})
    assert [(f.asset_id, f.side, f.price, f.quantity, f.liquidity) for f in fills] == [
        (NO, Side.BUY, Decimal("0.45"), Decimal("5"), LiquiditySide.MAKER)]


def test_maker_matches_that_do_not_add_up_to_the_size_are_logged(caplog) -> None:
    with caplog.at_level("WARNING", logger="arbkit.venues.polymarket.parse"):
        fills = P.our_fills(_trade("BUY", "0.40", "10", [("0xm1", YES, "0.38", "4")]), {"me"})
    assert [f.quantity for f in fills] == [Decimal("4")]
    assert "maker matches total 4 but size is 10" in caplog.text


# --- status strings in every documented form (issue 12) ------------------------------------------


@pytest.mark.parametrize("text,want", [
    ("LIVE", "ACCEPTED"), ("ORDER_STATUS_LIVE", "ACCEPTED"), ("live", "ACCEPTED"), ("delayed", "ACCEPTED"),
    ("ORDER_STATUS_DELAYED", "ACCEPTED"), ("UNMATCHED", "ACCEPTED"), ("ORDER_STATUS_UNMATCHED", "ACCEPTED"),
    ("UNMATCHED_DELAY_FAILED", "ACCEPTED"), ("MATCHED", "FILLED"), ("ORDER_STATUS_MATCHED", "FILLED"),
    ("CANCELED", "CANCELED"), ("ORDER_STATUS_CANCELED", "CANCELED"), ("CANCELED_MARKET_RESOLVED", "CANCELED"),
    ("ORDER_STATUS_CANCELED_MARKET_RESOLVED", "CANCELED"), ("INVALID", "CANCELED"), ("ORDER_STATUS_INVALID", "CANCELED"),
])
def test_order_status_every_documented_form(text: str, want: str) -> None:
    from arbkit.core.enums import OrderStatus
    from arbkit.venues.polymarket.parse import WsUserMessage, order_status

    msg = WsUserMessage(id="0x1", status=text, original_size="10", size_matched="0")
    assert order_status(msg) is OrderStatus[want]


def test_order_status_partial_and_unknown() -> None:
    from arbkit.core.enums import OrderStatus
    from arbkit.venues.polymarket.parse import UnknownStatus, WsUserMessage, order_status

    assert order_status(WsUserMessage(id="0x1", status="ORDER_STATUS_LIVE", original_size="10",
                                      size_matched="4")) is OrderStatus.PARTIALLY_FILLED
    with pytest.raises(UnknownStatus):
        order_status(WsUserMessage(id="0x1", status="ORDER_STATUS_SOMETHING_NEW", original_size="10"))
    assert issubclass(UnknownStatus, ValueError)


@pytest.mark.parametrize("text,want", [
    ("MATCHED", "PROVISIONAL"), ("TRADE_STATUS_MATCHED", "PROVISIONAL"), ("MATCHED_NOT_BROADCASTED", "PROVISIONAL"),
    ("TRADE_STATUS_MATCHED_NOT_BROADCASTED", "PROVISIONAL"), ("RETRYING", "PROVISIONAL"),
    ("TRADE_STATUS_RETRYING", "PROVISIONAL"), ("MINED", "MINED"), ("TRADE_STATUS_MINED", "MINED"),
    ("CONFIRMED", "CONFIRMED"), ("TRADE_STATUS_CONFIRMED", "CONFIRMED"), ("FAILED", "FAILED"),
    ("TRADE_STATUS_FAILED", "FAILED"), ("mined", "MINED"),
])
def test_fill_status_every_documented_form(text: str, want: str) -> None:
    from arbkit.core.enums import FillStatus
    from arbkit.venues.polymarket.parse import fill_status

    assert fill_status(text) is FillStatus[want]


def test_trade_with_undocumented_status_is_booked_provisional_not_dropped() -> None:
    from arbkit.core.enums import FillStatus
    from arbkit.venues.polymarket.parse import WsUserMessage, our_fills

    trade = WsUserMessage(id="t1", taker_order_id="0xabc", asset_id="1", side="BUY", price="0.5", size="5",
                          status="TRADE_STATUS_SOMETHING_NEW", trader_side="TAKER", owner="k")
    fills = our_fills(trade, {"k"})
    assert [f.status for f in fills] == [FillStatus.PROVISIONAL] and fills[0].quantity == 5
