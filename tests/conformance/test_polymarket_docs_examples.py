"""Polymarket payloads copied from the docs' own examples (source next to each; checked 2026-12-04)
parse to the right arbkit values."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from arbkit.core.enums import LiquiditySide, OrderStatus
from arbkit.core.fees import fee_for
from arbkit.venues.polymarket import parse as P
from arbkit.venues.polymarket.gateway import GatewayConfig, PolymarketGateway
from arbkit.venues.polymarket.signer import SignedOrder

# docs.polymarket.com/api-reference/trade/get-single-order-by-id (response example)
GET_ORDER = b"""{
"id": "0xabcdef1234567890abcdef1234567890abcdef12",
"status": "ORDER_STATUS_LIVE",
"owner": "f4f247b7-4ac7-ff29-a152-04fda0a8755a",
"maker_address": "0x1234567890123456789012345678901234567890",
"market": "0x0000000000000000000000000000000000000000000000000000000000000001",
"asset_id": "0xabc123def456...",
"side": "BUY",
"original_size": "100000000",
"size_matched": "0",
"price": "0.5",
"outcome": "YES",
"expiration": "1735689600",
"order_type": "GTC",
"associate_trades": [],
"created_at": 1700000000
}"""

# docs.polymarket.com/api-reference/trade/get-user-orders (response example)
GET_ORDERS = b"""{
"limit": 100,
"next_cursor": "MTAw",
"count": 2,
"data": [
{"id": "0xabcdef1234567890abcdef1234567890abcdef12", "status": "ORDER_STATUS_LIVE",
 "owner": "f4f247b7-4ac7-ff29-a152-04fda0a8755a", "maker_address": "0x1234567890123456789012345678901234567890",
 "market": "0x0000000000000000000000000000000000000000000000000000000000000001", "asset_id": "0xabc123def456...",
 "side": "BUY", "original_size": "100000000", "size_matched": "0", "price": "0.5", "outcome": "YES",
 "expiration": "1735689600", "order_type": "GTC", "associate_trades": [], "created_at": 1700000000},
{"id": "0xfedcba0987654321fedcba0987654321fedcba09", "status": "ORDER_STATUS_LIVE",
 "owner": "f4f247b7-4ac7-ff29-a152-04fda0a8755a", "maker_address": "0x1234567890123456789012345678901234567890",
 "market": "0x0000000000000000000000000000000000000000000000000000000000000002", "asset_id": "0xdef456abc789...",
 "side": "SELL", "original_size": "200000000", "size_matched": "50000000", "price": "0.75", "outcome": "NO",
 "expiration": "1735689600", "order_type": "GTC", "associate_trades": ["trade-123"], "created_at": 1700000001}
]
}"""

# docs.polymarket.com/api-reference/markets/get-clob-market-info (response example)
CLOB_MARKET_INFO = b"""{
"gst": "2023-11-07T05:31:56Z", "r": {},
"t": [{"t": "71321045679252212594626385532706912750332728571942532289631379312455583992563", "o": "Yes"}],
"mos": 5, "mts": 0.01, "mbf": 0, "tbf": 0, "rfqe": true, "itode": true, "ibce": true,
"fd": {"r": 0.02, "e": 2, "to": true}, "oas": 123
}"""


def _gateway_holding(order_hash: str, shares: int, side: str) -> PolymarketGateway:
    """A gateway that signed (and so knows) the docs' order: ``shares`` micro-units."""
    gw = PolymarketGateway("0x" + "42" * 32, None, GatewayConfig(use_metadata=False))
    units = str(shares)
    so = SignedOrder(salt=1, maker=gw.address, signer=gw.address, tokenId="1", makerAmount="50000000" if side == "BUY"
                     else units, takerAmount=units if side == "BUY" else "50000000", side=side, signatureType=0,
                     timestamp="1", metadata="0x" + "00" * 32, builder="0x" + "00" * 32, expiration="0",
                     signature="0x", order_hash=order_hash)
    gw._remember("docs-1", so, "polymarket:1", "GTC", persist=False)
    return gw


def test_get_single_order_example() -> None:
    row = msgspec.json.decode(GET_ORDER, type=P.WsUserMessage)
    assert P.order_status(row) is OrderStatus.ACCEPTED  # ORDER_STATUS_LIVE
    # The page describes original_size as decimal shares ("do not divide by 1e6") while its example
    # shows 100000000 for what the price/size imply is a 100-share order. For an order we signed
    # (100 shares), the gateway reads the example's value as fixed-point 6 decimals.
    gw = _gateway_holding(row.id, 100_000_000, "BUY")
    st = gw._order_state(row, strict=True)
    assert st.quantity == Decimal(100) and st.filled_quantity == 0 and st.client_order_id == "docs-1"
    # Without a signed order to compare with, the field's description wins: decimal shares.
    assert PolymarketGateway("0x" + "42" * 32, None)._order_state(row).quantity == Decimal(100_000_000)


def test_get_user_orders_example() -> None:
    page = msgspec.json.decode(GET_ORDERS, type=P.Page)
    assert [P.order_status(r) for r in page.data] == [OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED]
    gw = _gateway_holding(page.data[1].id, 200_000_000, "SELL")
    st = gw._order_state(page.data[1])
    assert (st.quantity, st.filled_quantity) == (Decimal(200), Decimal(50))


def test_clob_market_info_example_fee_details() -> None:
    info = msgspec.json.decode(CLOB_MARKET_INFO, type=P.ClobMarketInfo)
    assert info.mts == Decimal("0.01") and info.mos == Decimal(5)
    spec = info.fd.spec()
    # fd = {r: feeRate, e: exponent, to: takerOnly} (docs trading/fees "Fee Handling")
    assert (spec.taker_rate, spec.exponent, spec.maker_rate) == (Decimal("0.02"), Decimal(2), Decimal(0))
    # 100 shares at 0.50: 100 * 0.02 * 0.25^2 = 0.125, to 5 decimals
    assert fee_for(spec, Decimal("0.5"), Decimal(100), LiquiditySide.TAKER) == Decimal("0.12500")
    assert fee_for(spec, Decimal("0.5"), Decimal(100), LiquiditySide.MAKER) == 0


@pytest.mark.parametrize("status", ["TRADE_STATUS_MATCHED", "MATCHED_NOT_BROADCASTED", "TRADE_STATUS_MINED",
                                    "TRADE_STATUS_CONFIRMED", "TRADE_STATUS_RETRYING", "TRADE_STATUS_FAILED"])
def test_trade_status_enum_spellings(status: str) -> None:
    P.fill_status(status)  # every documented form is known
