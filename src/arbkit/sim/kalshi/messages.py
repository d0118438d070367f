"""Wire shapes of the simulated Kalshi trade API v2 (fixed-point schema, since 2026-03-12).

Field names and JSON types follow the real payloads in ``../shared/fixtures/kalshi`` (the golden
REST recordings minus the legacy integer fields that the 2026-03-12 hard cut removed, replaced by
their ``_dollars`` / ``_fp`` counterparts) and Kalshi's published schemas (OpenAPI / AsyncAPI as
shipped in the official ``kalshi-python-sync`` models and docs.kalshi.com). Keys of REST objects
are in alphabetical order, as the venue sends them; WS envelopes are ``type, sid, seq, msg``.

Every builder returns a msgspec Struct; ``encode`` turns it into bytes. Same inputs, same bytes.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import msgspec

from arbkit.core.clock import NS

_ENCODER = msgspec.json.Encoder()


def encode(obj: Any) -> bytes:
    return _ENCODER.encode(obj)


def rfc3339(ts_ns: int) -> str:
    """Kalshi's timestamp text: UTC, microseconds with trailing zeros trimmed (Go RFC3339Nano)."""
    secs, rem = divmod(ts_ns, NS)
    micros = rem // 1000
    base = _dt.datetime.fromtimestamp(secs, tz=_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if micros:
        return f"{base}.{f'{micros:06d}'.rstrip('0')}Z"
    return f"{base}Z"


# --- REST ------------------------------------------------------------------------------------------


class PriceRangeWire(msgspec.Struct):
    end: str
    start: str
    step: str


class MarketWire(msgspec.Struct):
    can_close_early: bool
    close_time: str
    created_time: str
    event_ticker: str
    expected_expiration_time: str
    expiration_time: str
    expiration_value: str
    last_price_dollars: str
    latest_expiration_time: str
    liquidity_dollars: str
    market_type: str
    no_ask_dollars: str
    no_bid_dollars: str
    no_sub_title: str
    notional_value_dollars: str
    open_interest_fp: str
    open_time: str
    previous_price_dollars: str
    previous_yes_ask_dollars: str
    previous_yes_bid_dollars: str
    price_level_structure: str
    price_ranges: list[PriceRangeWire]
    response_price_units: str
    result: str
    rules_primary: str
    rules_secondary: str
    settlement_timer_seconds: int
    status: str
    subtitle: str
    tick_size: int
    ticker: str
    title: str
    updated_time: str
    volume_24h_fp: str
    volume_fp: str
    yes_ask_dollars: str
    yes_ask_size_fp: str
    yes_bid_dollars: str
    yes_bid_size_fp: str
    yes_sub_title: str


class MarketsPage(msgspec.Struct):
    cursor: str
    markets: list[MarketWire]


class MarketEnvelope(msgspec.Struct):
    market: MarketWire


class OrderbookFp(msgspec.Struct):
    no_dollars: list[list[str]]
    yes_dollars: list[list[str]]


class OrderbookEnvelope(msgspec.Struct):
    orderbook_fp: OrderbookFp


class TradeWire(msgspec.Struct):
    count_fp: str
    created_time: str
    no_price_dollars: str
    taker_book_side: str
    taker_outcome_side: str
    ticker: str
    trade_id: str
    yes_price_dollars: str


class TradesPage(msgspec.Struct):
    cursor: str
    trades: list[TradeWire]


class EventWire(msgspec.Struct, omit_defaults=True):
    available_on_brokers: bool
    category: str
    collateral_return_type: str
    event_ticker: str
    mutually_exclusive: bool
    series_ticker: str
    strike_period: str
    sub_title: str
    title: str
    # EventData.fee_type_override / fee_multiplier_override (official SDK 3.34.0): only when set
    fee_type_override: str | None = None
    fee_multiplier_override: float | int | None = None


class EventFeeUpdateMsg(msgspec.Struct):
    """``event_fee_update`` on market_lifecycle_v2 ("Event Fee Override Update ... when an event-level
    fee override is set or cleared", docs.kalshi.com/websockets/market-and-event-lifecycle)."""

    event_ticker: str
    fee_type_override: str | None
    fee_multiplier_override: float | int | None


class LifecycleDeterminedMsg(msgspec.Struct):
    """``market_lifecycle_v2`` ``determined`` (the documented example's fields:
    docs.kalshi.com/websockets/cover-market-and-event-lifecycle, checked 2026-12-05)."""

    market_ticker: str
    event_type: str
    result: str
    settlement_value: str
    determination_ts: int


class LifecycleCreatedMsg(msgspec.Struct):
    """``market_lifecycle_v2`` ``created``: a market was listed
    (docs.kalshi.com/websockets/market-and-event-lifecycle, checked 2026-12-05)."""

    market_ticker: str
    event_type: str
    open_ts: int
    close_ts: int
    additional_metadata: dict[str, Any]


class LifecycleSettledMsg(msgspec.Struct):
    """``market_lifecycle_v2`` ``settled``: the cash moved."""

    market_ticker: str
    event_type: str
    settled_ts: int


class EventsPage(msgspec.Struct):
    cursor: str
    events: list[EventWire]
    milestones: list[Any]


class EventEnvelope(msgspec.Struct):
    event: EventWire
    markets: list[MarketWire]


class SettlementSource(msgspec.Struct):
    name: str
    url: str


class SeriesWire(msgspec.Struct):
    additional_prohibitions: list[str] | None
    category: str
    contract_terms_url: str
    contract_url: str
    fee_multiplier: int | float
    fee_type: str
    frequency: str
    settlement_sources: list[SettlementSource]
    tags: list[str]
    ticker: str
    title: str


class SeriesEnvelope(msgspec.Struct):
    series: SeriesWire


class ExchangeStatus(msgspec.Struct):
    exchange_active: bool
    exchange_estimated_resume_time: str | None
    trading_active: bool


class Balance(msgspec.Struct):
    balance: int
    balance_dollars: str
    portfolio_value: int
    updated_ts: int


class OrderWire(msgspec.Struct):
    book_side: str
    client_order_id: str
    created_time: str
    expiration_time: str | None
    fill_count_fp: str
    initial_count_fp: str
    last_update_time: str
    maker_fees_dollars: str
    maker_fill_cost_dollars: str
    no_price_dollars: str
    order_group_id: str | None
    order_id: str
    outcome_side: str
    remaining_count_fp: str
    status: str
    taker_fees_dollars: str
    taker_fill_cost_dollars: str
    ticker: str
    type: str
    user_id: str
    yes_price_dollars: str


class OrderEnvelope(msgspec.Struct):
    order: OrderWire


class OrdersPage(msgspec.Struct):
    cursor: str
    orders: list[OrderWire]


class CancelEnvelope(msgspec.Struct):
    order: OrderWire
    reduced_by_fp: str


class BatchCreateItem(msgspec.Struct):
    client_order_id: str | None
    error: dict[str, str] | None
    order: OrderWire | None


class BatchCreateEnvelope(msgspec.Struct):
    orders: list[BatchCreateItem]


class BatchCancelItem(msgspec.Struct):
    error: dict[str, str] | None
    order: OrderWire | None
    order_id: str
    reduced_by_fp: str


class BatchCancelEnvelope(msgspec.Struct):
    orders: list[BatchCancelItem]


class CreateOrderV2Response(msgspec.Struct, omit_defaults=True):
    order_id: str
    client_order_id: str | None = None
    fill_count: str = "0.00"
    remaining_count: str = "0.00"
    average_fill_price: str | None = None  # only when something filled
    average_fee_paid: str | None = None
    ts_ms: int = 0


class CancelOrderV2Response(msgspec.Struct, omit_defaults=True):
    order_id: str
    reduced_by: str
    ts_ms: int
    client_order_id: str | None = None


class BatchCreateV2Item(msgspec.Struct, omit_defaults=True):
    order_id: str | None = None
    client_order_id: str | None = None
    fill_count: str | None = None
    remaining_count: str | None = None
    average_fill_price: str | None = None
    average_fee_paid: str | None = None
    ts_ms: int | None = None
    error: dict[str, str] | None = None


class BatchCreateV2Envelope(msgspec.Struct):
    orders: list[BatchCreateV2Item]


class BatchCancelV2Item(msgspec.Struct, omit_defaults=True):
    order_id: str
    reduced_by: str
    client_order_id: str | None = None
    ts_ms: int | None = None
    error: dict[str, str] | None = None


class BatchCancelV2Envelope(msgspec.Struct):
    orders: list[BatchCancelV2Item]


class FillWire(msgspec.Struct):
    book_side: str
    count_fp: str
    created_time: str
    exchange_index: int  # Fill.exchange_index (required in the official SDK 3.34.0 model): one shard, 0
    fee_cost: str
    fill_id: str
    is_taker: bool
    market_ticker: str
    no_price_dollars: str
    order_id: str
    outcome_side: str
    ticker: str
    trade_id: str
    ts: int
    yes_price_dollars: str


class FillsPage(msgspec.Struct):
    cursor: str
    fills: list[FillWire]


class MarketPositionWire(msgspec.Struct):
    exchange_index: int  # MarketPosition.exchange_index (required in the official SDK 3.34.0 model)
    fees_paid_dollars: str
    last_updated_ts: str
    market_exposure_dollars: str
    position_fp: str
    realized_pnl_dollars: str
    resting_orders_count: int
    ticker: str
    total_traded_dollars: str


class EventPositionWire(msgspec.Struct):
    event_exposure_dollars: str
    event_ticker: str
    fees_paid_dollars: str
    realized_pnl_dollars: str
    total_cost_dollars: str
    total_cost_shares_fp: str


class PositionsPage(msgspec.Struct):
    cursor: str
    event_positions: list[EventPositionWire]
    market_positions: list[MarketPositionWire]


# --- WebSocket -------------------------------------------------------------------------------------


class SnapshotMsg(msgspec.Struct, omit_defaults=True):
    market_ticker: str
    market_id: str
    yes_dollars_fp: list[list[str]] | None = None  # key absent when the side is empty (AsyncAPI)
    no_dollars_fp: list[list[str]] | None = None


class DeltaMsg(msgspec.Struct, omit_defaults=True):
    market_ticker: str
    market_id: str
    price_dollars: str
    delta_fp: str
    side: str
    ts: str
    ts_ms: int
    client_order_id: str | None = None  # only when the receiver's own order caused the change


class TickerMsg(msgspec.Struct):
    market_id: str
    market_ticker: str
    price_dollars: str
    yes_bid_dollars: str
    yes_ask_dollars: str
    volume_fp: str
    open_interest_fp: str
    dollar_volume: int
    dollar_open_interest: int
    yes_bid_size_fp: str
    yes_ask_size_fp: str
    last_trade_size_fp: str
    ts: int
    ts_ms: int
    time: str


class TradeMsg(msgspec.Struct):
    trade_id: str
    market_ticker: str
    yes_price_dollars: str
    no_price_dollars: str
    count_fp: str
    taker_outcome_side: str
    taker_book_side: str
    ts: int


class FillMsg(msgspec.Struct, omit_defaults=True):
    trade_id: str
    order_id: str
    market_ticker: str
    is_taker: bool
    outcome_side: str
    book_side: str
    yes_price_dollars: str
    count_fp: str
    fee_cost: str
    ts: int
    post_position_fp: str
    client_order_id: str | None = None


class UserOrderMsg(msgspec.Struct, omit_defaults=True):
    order_id: str
    user_id: str
    ticker: str
    status: str
    outcome_side: str
    book_side: str
    yes_price_dollars: str
    fill_count_fp: str
    remaining_count_fp: str
    initial_count_fp: str
    taker_fill_cost_dollars: str
    maker_fill_cost_dollars: str
    taker_fees_dollars: str
    maker_fees_dollars: str
    client_order_id: str
    created_time: str
    created_ts_ms: int
    last_update_time: str
    last_updated_ts_ms: int
    expiration_time: str | None = None  # only for an order that expires
    expiration_ts_ms: int | None = None


class MarketPositionMsg(msgspec.Struct):
    user_id: str
    market_ticker: str
    position_fp: str
    position_cost_dollars: str
    realized_pnl_dollars: str
    fees_paid_dollars: str
    position_fee_cost_dollars: str
    volume_fp: str


class SeqEnvelope(msgspec.Struct):
    type: str
    sid: int
    seq: int
    msg: Any


class PlainEnvelope(msgspec.Struct):
    type: str
    sid: int
    msg: Any


class SubscribedMsg(msgspec.Struct):
    channel: str
    sid: int


class Subscribed(msgspec.Struct):
    id: int
    type: str
    msg: SubscribedMsg


class Ok(msgspec.Struct, omit_defaults=True):
    id: int
    sid: int
    seq: int
    type: str
    market_tickers: list[str] | None = None


class Unsubscribed(msgspec.Struct):
    id: int
    sid: int
    seq: int
    type: str


class WsErrorMsg(msgspec.Struct):
    code: int
    msg: str


class WsError(msgspec.Struct, omit_defaults=True, kw_only=True):
    id: int | None = None  # the command's id; absent when the frame could not be parsed
    type: str
    msg: WsErrorMsg


def ws_error(cmd_id: int | None, code: int, text: str) -> WsError:
    return WsError(type="error", msg=WsErrorMsg(code=code, msg=text), id=cmd_id)
