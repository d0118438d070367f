"""Wire messages of the simulated Polymarket CLOB (REST bodies and WS events).

Field names, JSON types and number formats follow the venue's payloads (see the fixtures under
``../shared/fixtures/polymarket`` and the official ``py-clob-client-v2``): prices and sizes are
decimal strings without trailing zeros, timestamps are strings of epoch milliseconds, books list
levels from the worst price to the best (bids ascending, asks descending) as the venue does.

Structs encode their fields in declaration order, so a stream is byte-for-byte reproducible.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

import msgspec

_encoder = msgspec.json.Encoder()


def encode(obj: Any) -> bytes:
    return _encoder.encode(obj)


def fmt(value: Decimal | int) -> str:
    """A decimal as the venue writes it: no exponent, no trailing zeros ("0.5", "100", "199.31")."""
    if isinstance(value, int):
        return str(value)
    if value == 0:
        return "0"
    s = format(value.normalize(), "f")
    return s


def fmt_amount(value: Decimal) -> str:
    """Amounts in POST /order answers (makingAmount/takingAmount): plain decimal strings."""
    return fmt(value)


def micro(value: Decimal) -> str:
    """An amount in on-chain units (6 decimals) as an integer string, as /balance-allowance answers."""
    return str(int((value * 1_000_000).to_integral_value()))


# --- books ------------------------------------------------------------------------------------


class Level(msgspec.Struct, frozen=True):
    price: str
    size: str


class BookSummary(msgspec.Struct, frozen=True):
    """REST ``GET /book`` / ``POST /books`` item (key order = the venue's hash payload order)."""

    market: str
    asset_id: str
    timestamp: str
    hash: str
    bids: list[Level]
    asks: list[Level]
    min_order_size: str
    tick_size: str
    neg_risk: bool
    last_trade_price: str


def book_hash(
    market: str,
    asset_id: str,
    timestamp: str,
    bids: list[Level],
    asks: list[Level],
    min_order_size: str,
    tick_size: str,
    neg_risk: bool,
    last_trade_price: str,
) -> str:
    """SHA-1 of the compact JSON summary with ``hash`` = "" (the venue's book hash)."""
    payload = {
        "market": market,
        "asset_id": asset_id,
        "timestamp": timestamp,
        "hash": "",
        "bids": [{"price": lv.price, "size": lv.size} for lv in bids],
        "asks": [{"price": lv.price, "size": lv.size} for lv in asks],
        "min_order_size": min_order_size,
        "tick_size": tick_size,
        "neg_risk": neg_risk,
        "last_trade_price": last_trade_price,
    }
    serialized = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha1(serialized.encode("utf-8")).hexdigest()


def book_summary(
    market: str,
    asset_id: str,
    timestamp_ms: int,
    bids: list[Level],
    asks: list[Level],
    min_order_size: str,
    tick_size: str,
    neg_risk: bool,
    last_trade_price: str,
) -> BookSummary:
    ts = str(timestamp_ms)
    h = book_hash(market, asset_id, ts, bids, asks, min_order_size, tick_size, neg_risk, last_trade_price)
    return BookSummary(market, asset_id, ts, h, bids, asks, min_order_size, tick_size, neg_risk, last_trade_price)


# --- WS market channel -------------------------------------------------------------------------


class WsBook(msgspec.Struct, frozen=True):
    event_type: str
    asset_id: str
    market: str
    bids: list[Level]
    asks: list[Level]
    timestamp: str
    hash: str


class PriceChangeItem(msgspec.Struct, frozen=True):
    asset_id: str
    price: str
    side: str
    size: str  # the new total size at this level ("0" = level removed)
    hash: str
    best_bid: str
    best_ask: str


class WsPriceChange(msgspec.Struct, frozen=True):
    market: str
    price_changes: list[PriceChangeItem]
    timestamp: str
    event_type: str = "price_change"


class WsTickSizeChange(msgspec.Struct, frozen=True):
    event_type: str
    asset_id: str
    market: str
    old_tick_size: str
    new_tick_size: str
    timestamp: str


class WsLastTradePrice(msgspec.Struct, frozen=True):
    asset_id: str
    event_type: str
    fee_rate_bps: str
    market: str
    price: str
    side: str
    size: str
    timestamp: str


class WsBestBidAsk(msgspec.Struct, frozen=True):
    event_type: str
    market: str
    asset_id: str
    best_bid: str
    best_ask: str
    spread: str
    timestamp: str


class WsMarketResolved(msgspec.Struct, frozen=True):
    """``market_resolved`` (custom_feature_enabled subscribers), the documented shape:
    docs.polymarket.com/market-data/websocket/market-channel."""

    event_type: str
    id: str
    market: str
    assets_ids: list[str]
    winning_asset_id: str
    winning_outcome: str
    timestamp: str
    tags: list[str]


class WsNewMarket(msgspec.Struct, frozen=True):
    """``new_market`` (custom_feature_enabled subscribers): a market was listed
    (docs.polymarket.com/market-data/websocket/overview; fields as NautilusTrader's
    ``PolymarketNewMarket``)."""

    event_type: str
    id: str
    question: str
    market: str
    slug: str
    description: str
    assets_ids: list[str]
    outcomes: list[str]
    timestamp: str
    tags: list[str]
    condition_id: str
    active: bool
    clob_token_ids: list[str]
    order_price_min_tick_size: str
    group_item_title: str
    event_message: dict[str, Any]


# --- WS user channel ---------------------------------------------------------------------------


class WsUserOrder(msgspec.Struct, frozen=True):
    asset_id: str
    associate_trades: list[str] | None
    created_at: str
    event_type: str
    expiration: str
    id: str
    maker_address: str
    market: str
    order_owner: str
    order_type: str
    original_size: str
    outcome: str
    owner: str
    price: str
    side: str
    size_matched: str
    status: str
    timestamp: str
    type: str


class MakerOrder(msgspec.Struct, frozen=True):
    asset_id: str
    fee_rate_bps: str
    maker_address: str
    matched_amount: str
    order_id: str
    outcome: str
    owner: str
    price: str
    side: str


class WsUserTrade(msgspec.Struct, frozen=True):
    asset_id: str
    bucket_index: int
    event_type: str
    fee_rate_bps: str
    id: str
    last_update: str
    maker_address: str
    maker_orders: list[MakerOrder]
    market: str
    match_time: str
    outcome: str
    owner: str
    price: str
    side: str
    size: str
    status: str
    taker_order_id: str
    timestamp: str
    trade_owner: str
    trader_side: str
    transaction_hash: str
    type: str = "TRADE"


# --- REST bodies -------------------------------------------------------------------------------


class Trade(msgspec.Struct, frozen=True):
    """``GET /data/trades`` item."""

    id: str
    taker_order_id: str
    market: str
    asset_id: str
    side: str
    size: str
    fee_rate_bps: str
    price: str
    status: str
    match_time: str
    last_update: str
    outcome: str
    bucket_index: int
    owner: str
    maker_address: str
    transaction_hash: str
    maker_orders: list[MakerOrder]
    trader_side: str


class OpenOrder(msgspec.Struct, frozen=True):
    """``GET /data/orders`` item and ``GET /data/order/{id}``."""

    associate_trades: list[str]
    id: str
    status: str
    market: str
    original_size: str
    outcome: str
    maker_address: str
    owner: str
    price: str
    side: str
    size_matched: str
    asset_id: str
    expiration: str
    order_type: str
    created_at: int


class Page(msgspec.Struct, frozen=True):
    data: list[Any]
    next_cursor: str
    limit: int
    count: int


class PostOrderResponse(msgspec.Struct, frozen=True):
    errorMsg: str
    orderID: str
    takingAmount: str
    makingAmount: str
    status: str
    transactionsHashes: list[str]
    tradeIDs: list[str]
    success: bool


class CancelResponse(msgspec.Struct, frozen=True):
    canceled: list[str]
    not_canceled: dict[str, str]


class BalanceAllowance(msgspec.Struct, frozen=True):
    balance: str
    allowance: str


class ApiKeyResponse(msgspec.Struct, frozen=True):
    apiKey: str
    secret: str
    passphrase: str


class ErrorBody(msgspec.Struct, frozen=True):
    error: str


class Token(msgspec.Struct, frozen=True):
    token_id: str
    outcome: str
    price: float
    winner: bool


class Rewards(msgspec.Struct, frozen=True):
    rates: list[Any] | None
    min_size: int
    max_spread: int


class ClobMarket(msgspec.Struct, frozen=True):
    """``GET /markets`` item / ``GET /markets/{condition_id}`` (the CLOB's market record)."""

    enable_order_book: bool
    active: bool
    closed: bool
    archived: bool
    accepting_orders: bool
    accepting_order_timestamp: str | None
    minimum_order_size: float
    minimum_tick_size: float
    condition_id: str
    question_id: str
    question: str
    description: str
    market_slug: str
    end_date_iso: str
    game_start_time: str | None
    seconds_delay: int
    fpmm: str
    maker_base_fee: int
    taker_base_fee: int
    notifications_enabled: bool
    neg_risk: bool
    neg_risk_market_id: str
    neg_risk_request_id: str
    icon: str
    image: str
    rewards: Rewards
    is_50_50_outcome: bool
    tokens: list[Token]
    tags: list[str]
