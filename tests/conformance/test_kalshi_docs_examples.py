"""arbkit's Kalshi client against the examples printed in Kalshi's own documentation.

Each payload below is copied from the page named next to it (all checked 2026-12-04). Kalshi's
reference pages render schema examples: strings the page shows as ``"<string>"`` and integers as
``123`` are kept exactly as printed. Recorded responses in ../shared are tested in
test_kalshi_fixtures.py (referenced there, not copied here).
"""

from __future__ import annotations

from decimal import Decimal as D

import msgspec
import pytest

from arbkit.core.enums import InstrumentKind, OrderStatus, Side, Venue
from arbkit.core.instruments import Instrument
from arbkit.core.orders import OrderRequest
from arbkit.venues.kalshi import constants as C
from arbkit.venues.kalshi.gateway import Prepared, book_side_of, order_body
from arbkit.venues.kalshi.parse import (
    CancelOrderV2Response,
    CreateOrderV2Response,
    ErrorBody,
    OrderWire,
    WsBody,
    error_of,
    legacy_outcome,
    order_state,
    pick_count,
    pick_price,
)

# https://docs.kalshi.com/getting_started/order_direction - "Equivalence between (action, side) and
# outcome_side": Legacy action | Legacy side | outcome_side | book_side
ORDER_DIRECTION_TABLE = [
    ("buy", "yes", "yes", "bid"),
    ("sell", "no", "yes", "bid"),
    ("buy", "no", "no", "ask"),
    ("sell", "yes", "no", "ask"),
]


@pytest.mark.parametrize(("action", "side", "outcome_side", "book_side"), ORDER_DIRECTION_TABLE)
def test_order_direction_table(action, side, outcome_side, book_side):
    assert legacy_outcome(side, action) == outcome_side
    assert book_side_of(side, action) == book_side  # what our V2 body sends for that intent
    # "bid = yes, ask = no, always": an order carrying only the new fields reads as that outcome
    wire = msgspec.convert({"order_id": "o", "ticker": "T", "status": "resting", "outcome_side": outcome_side,
                            "book_side": book_side, "yes_price_dollars": "0.5600", "no_price_dollars": "0.4400",
                            "initial_count_fp": "10.00", "fill_count_fp": "0.00", "remaining_count_fp": "10.00"}, OrderWire)
    assert wire.outcome() == outcome_side
    # and, knowing our intent, it is booked on the contract we traded at that contract's price
    st = order_state(wire, (side, action))
    assert st.instrument_id == f"kalshi:T:{side}" and st.side is (Side.BUY if action == "buy" else Side.SELL)
    assert st.price == (D("0.5600") if side == "yes" else D("0.4400"))


# https://docs.kalshi.com/api-reference/orders/create-order-v2 - request example values: side "bid"
# ("bid means buy YES, ask means sell YES"), count "10.00", price "0.5600", time_in_force one of
# fill_or_kill | good_till_canceled | immediate_or_cancel, self_trade_prevention_type taker_at_cross | maker.
V2_REQUEST_EXAMPLE = {"ticker": "<string>", "client_order_id": "<string>", "side": "bid", "count": "10.00",
                      "price": "0.5600", "time_in_force": "good_till_canceled",
                      "self_trade_prevention_type": "taker_at_cross"}
# same page - 201 "Order created successfully": fill_count "10.00", remaining_count "10.00" ("For IOC
# orders, this reflects the final state after unfilled contracts are canceled"), average_fill_price
# "0.5600" ("Only present when fill_count > 0"); order_id / client_order_id / ts_ms as the schema prints them.
V2_RESPONSE_EXAMPLE = b'{"order_id":"<string>","client_order_id":"<string>","fill_count":"10.00",' \
                      b'"remaining_count":"10.00","average_fill_price":"0.5600","average_fee_paid":"0.5600","ts_ms":123}'


def test_create_order_v2_example_request_is_what_we_send_for_a_yes_buy():
    inst = Instrument(venue=Venue.KALSHI, symbol="<string>:yes", kind=InstrumentKind.OUTCOME, tick_size=D("0.01"),
                      size_increment=D("0.01"))
    ours = order_body(OrderRequest(instrument=inst, client_order_id="coid-1", side=Side.BUY, quantity=D("10"),
                                   price=D("0.56")))
    assert ours == dict(V2_REQUEST_EXAMPLE, ticker="<string>", client_order_id="coid-1")
    # a NO purchase at 0.44 is the same book price on the ask side
    no = order_body(OrderRequest(instrument=Instrument(venue=Venue.KALSHI, symbol="<string>:no",
                                                       kind=InstrumentKind.OUTCOME, tick_size=D("0.01"),
                                                       size_increment=D("0.01")),
                                 client_order_id="coid-2", side=Side.BUY, quantity=D("10"), price=D("0.44")))
    assert (no["side"], no["price"], no["count"]) == ("ask", "0.5600", "10.00")
    assert Prepared.from_text(msgspec.json.encode(V2_REQUEST_EXAMPLE).decode()).side == "yes"  # a bare body restores


def test_create_order_v2_example_response_parses():
    r = msgspec.json.decode(V2_RESPONSE_EXAMPLE, type=CreateOrderV2Response)
    assert (r.filled_lots(), r.remaining_lots(), r.average_fill_price, r.ts_ms) == (1000, 1000, "0.5600", 123)


# https://docs.kalshi.com/api-reference/orders/create-order (the legacy route, kept for its Order
# example): the order object as printed, deprecated side/action included.
LEGACY_ORDER_EXAMPLE = {
    "order_id": "<string>", "user_id": "<string>", "client_order_id": "<string>", "ticker": "<string>", "side": "yes",
    "action": "buy", "type": "limit", "status": "resting", "yes_price": 123, "no_price": 123,
    "yes_price_dollars": "0.5600", "no_price_dollars": "0.5600", "fill_count": 123, "fill_count_fp": "10.00",
    "remaining_count": 123, "remaining_count_fp": "10.00", "initial_count": 123, "initial_count_fp": "10.00",
    "taker_fees": 123, "maker_fees": 123, "taker_fill_cost": 123, "maker_fill_cost": 123,
}


def test_legacy_order_example_is_refused_as_self_contradicting():
    """The page's example is a schema placeholder: yes and no both 0.5600 and 123 cents. Our parser
    refuses what contradicts itself rather than guess (malformed, counted upstream)."""
    with pytest.raises(ValueError):
        order_state(msgspec.convert(LEGACY_ORDER_EXAMPLE, OrderWire))
    consistent = dict(LEGACY_ORDER_EXAMPLE, yes_price=56, no_price=44, no_price_dollars="0.4400", fill_count=0,
                      fill_count_fp="0.00", remaining_count=10, initial_count=10)
    st = order_state(msgspec.convert(consistent, OrderWire))
    assert (st.instrument_id, st.side, st.price, st.status) == ("kalshi:<string>:yes", Side.BUY, D("0.5600"),
                                                                 OrderStatus.ACCEPTED)


# https://docs.kalshi.com/api-reference/portfolio/batch-cancel-orders - an item's error object as printed
BATCH_CANCEL_ERROR_EXAMPLE = b'{"error":{"code":"<string>","details":"<string>","message":"<string>","service":"<string>"}}'
# official SDK 3.34.0 models/error_response.py: ErrorResponse {code, message, details}, the flat form
FLAT_ERROR = b'{"code":"<string>","message":"<string>","details":"<string>"}'


def test_error_examples_nested_and_flat():
    for raw in (BATCH_CANCEL_ERROR_EXAMPLE, FLAT_ERROR):
        e = error_of(raw)
        assert isinstance(e, ErrorBody) and (e.code, e.message, e.details) == ("<string>", "<string>", "<string>")


# official SDK kalshi-python-sync 3.34.0 api/orders_api.py cancel_order_v2 docstring (the operation
# documented as "Cancel Order (V2)"): "Returns {order_id, client_order_id, reduced_by} rather than a
# full order object"; models/cancel_order_v2_response.py adds the required ts_ms.
def test_cancel_v2_shape():
    r = msgspec.json.decode(b'{"order_id":"<string>","client_order_id":"<string>","reduced_by":"10.00","ts_ms":123}',
                            type=CancelOrderV2Response)
    assert r.reduced_by == "10.00"


# https://docs.kalshi.com/getting_started/fixed_point_migration - "Price Level Structures" table
PRICE_LEVEL_TABLE = {
    "linear_cent": [("0.00", "1.00", "0.01")],
    "tapered_deci_cent": [("0.00", "0.10", "0.001"), ("0.10", "0.90", "0.01"), ("0.90", "1.00", "0.001")],
    "deci_cent": [("0.00", "1.00", "0.001")],
}


def test_price_level_structures_table():
    for name, rows in PRICE_LEVEL_TABLE.items():
        assert [(r.start, r.end, r.step) for r in C.PRICE_LEVEL_STRUCTURES[name]] == [
            (D(a), D(b), D(c)) for a, b, c in rows]


# same page: {"price_dollars": "0.1200"}; https://docs.kalshi.com/getting_started/fixed_point_contracts:
# {"count": 10, "count_fp": "10.00"}
def test_fixed_point_examples():
    assert pick_price("0.1200", None, "price") == 1200
    assert pick_count("10.00", 10, "count") == 1000
    with pytest.raises(ValueError):
        pick_count("10.00", 11, "count")  # "when both integer and fp fields are provided, they must match"


# https://docs.kalshi.com/api-reference/orders/create-order-v2.md - OpenAPI "servers"
SERVERS = ["https://external-api.kalshi.com/trade-api/v2", "https://api.elections.kalshi.com/trade-api/v2",
           "https://external-api.demo.kalshi.co/trade-api/v2", "https://demo-api.kalshi.co/trade-api/v2"]


def test_default_hosts_are_the_recommended_ones():
    assert C.REST_URL == SERVERS[0] and C.DEMO_REST_URL == SERVERS[2]
    assert C.LEGACY_REST_URL == SERVERS[1]
    assert C.WS_URL.startswith("wss://external-api-ws.kalshi.com/")


def test_ws_fill_with_only_the_new_direction_fields_decodes():
    """The fill channel after the deprecated fields went (docs Order direction page): outcome_side
    and book_side only."""
    from arbkit.venues.kalshi.parse import fill_from_ws

    body = msgspec.convert({"trade_id": "t", "order_id": "o", "market_ticker": "T", "is_taker": False,
                            "outcome_side": "no", "book_side": "ask", "yes_price_dollars": "0.5600",
                            "count_fp": "10.00", "fee_cost": "0.0000", "ts": 123, "post_position_fp": "-10.00"}, WsBody)
    f = fill_from_ws(body)
    assert (f.outcome_side, f.side, f.action, f.price) == ("no", "no", "buy", D("0.4400"))
