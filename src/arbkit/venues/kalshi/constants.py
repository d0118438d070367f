"""Kalshi trade API v2 facts: endpoints, header names, channels, units, price level structures.

Sources (checked 2026-12-04) are listed in docs/venues/kalshi.md. In short:

- Since 2026-03-12 (docs.kalshi.com "Fixed-Point Migration") prices and money are ``*_dollars``
  strings with up to 4 decimals and counts are ``*_fp`` strings (2 decimals). Every market accepts
  fractional counts: ``fractional_trading_enabled`` is gone from the Market model of the official
  SDK (kalshi-python-sync 3.34.0 ``models/market.py``), whose count fields say "Fractional contract
  values (e.g. "2.50") are supported; the minimum granularity is 0.01 contracts".
- A market's ``price_ranges`` (``[{start, end, step}]``) fix its YES-book tick grid; the named
  ``price_level_structure`` is only a fallback when a response lacks the ranges (newer structures
  than the three below exist; their ranges always come with the market).
- Order entry is V2 only: ``POST /portfolio/events/orders`` (single YES book, ``side`` bid|ask,
  ``count``/``price`` fixed-point strings, YES-book price), cancel ``DELETE
  /portfolio/events/orders/{order_id}``, batch ``POST|DELETE /portfolio/events/orders/batched``
  (official SDK ``api/orders_api.py``). The legacy ``/portfolio/orders`` mutations answer HTTP 410
  ``deprecated_v1_order_endpoint``; orders are still READ at ``GET /portfolio/orders[/{id}]``.
- Books hold bids only (YES bids and NO bids): YES ask = 1 - best NO bid, NO ask = 1 - best YES bid.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

VENUE_NAME = "kalshi"

# --- endpoints --------------------------------------------------------------------------------
# The hosts the docs now recommend (create-order-v2 OpenAPI ``servers``; the official SDK's default
# host). The older api.elections.kalshi.com / demo-api.kalshi.co are "also supported".
REST_URL = "https://external-api.kalshi.com/trade-api/v2"
WS_URL = "wss://external-api-ws.kalshi.com/trade-api/ws/v2"
DEMO_REST_URL = "https://external-api.demo.kalshi.co/trade-api/v2"
DEMO_WS_URL = "wss://external-api-ws.demo.kalshi.co/trade-api/ws/v2"
LEGACY_REST_URL = "https://api.elections.kalshi.com/trade-api/v2"
LEGACY_WS_URL = "wss://api.elections.kalshi.com/trade-api/ws/v2"
WS_PATH = "/trade-api/ws/v2"  # what the WebSocket handshake signs

PATH_EXCHANGE_STATUS = "/exchange/status"
PATH_MARKETS = "/markets"
PATH_MARKET = "/markets/{ticker}"
PATH_ORDERBOOK = "/markets/{ticker}/orderbook"
PATH_EVENT = "/events/{event_ticker}"
PATH_SERIES = "/series/{series_ticker}"
PATH_BALANCE = "/portfolio/balance"
PATH_POSITIONS = "/portfolio/positions"
PATH_FILLS = "/portfolio/fills"
PATH_ORDERS = "/portfolio/orders"  # GET only: list our orders
PATH_ORDER = "/portfolio/orders/{order_id}"  # GET only: one order
PATH_V2_ORDERS = "/portfolio/events/orders"  # POST create (V2)
PATH_V2_ORDER = "/portfolio/events/orders/{order_id}"  # DELETE cancel (V2)
PATH_V2_BATCH_ORDERS = "/portfolio/events/orders/batched"  # POST create / DELETE cancel (V2)
LEGACY_ORDER_GONE_CODE = "deprecated_v1_order_endpoint"  # HTTP 410 on the retired mutations

# --- authentication ---------------------------------------------------------------------------
HEADER_KEY = "KALSHI-ACCESS-KEY"
HEADER_SIGNATURE = "KALSHI-ACCESS-SIGNATURE"
HEADER_TIMESTAMP = "KALSHI-ACCESS-TIMESTAMP"
ENV_KEY_ID = "KALSHI_API_KEY_ID"
ENV_PRIVATE_KEY = "KALSHI_PRIVATE_KEY"  # PEM text (or a path to a PEM file)

# --- WebSocket --------------------------------------------------------------------------------
CH_ORDERBOOK = "orderbook_delta"
CH_TICKER = "ticker"
CH_TRADE = "trade"
CH_FILL = "fill"
CH_USER_ORDERS = "user_orders"
# Market & event lifecycle (docs.kalshi.com/websockets/market-and-event-lifecycle): no ticker filter;
# carries market_lifecycle_v2 (event_type ... price_level_structure_updated, metadata_updated) and
# event_fee_update ("Emitted when an event-level fee override is set or cleared").
CH_LIFECYCLE = "market_lifecycle_v2"
HEARTBEAT_S = 10.0  # Kalshi pings every 10 s with body "heartbeat" (Connection Keep-Alive doc)
WS_ERR_UNKNOWN_CHANNEL = 8
WS_ERR_UNKNOWN_SID = 7
MAX_TICKERS_PER_COMMAND = 256

# --- numbers ----------------------------------------------------------------------------------
PRICE_DIGITS = 4  # wire prices: up to 4 decimals
PRICE_ONE_UNITS = 10_000  # $1 in $0.0001 units
COUNT_DIGITS = 2  # wire counts: 2 decimals
LOTS_PER_CONTRACT = 100
PRICE_UNIT = Decimal("0.0001")
COUNT_UNIT = Decimal("0.01")
CENT = Decimal("0.01")
CENTICENT = Decimal("0.0001")
DEFAULT_BOOK_TICK = Decimal("0.001")  # the finest documented step (deci_cent); finer prices re-grid to 0.0001

MAX_BATCH_ORDERS = 20  # per batched request (the documented maximum scales with the tier; 20 is safe)
CLIENT_ORDER_ID_MAX = 64

TIME_IN_FORCE = {"GTC": "good_till_canceled", "IOC": "immediate_or_cancel", "FOK": "fill_or_kill"}
TIME_IN_FORCE_FROM_WIRE = {v: k for k, v in TIME_IN_FORCE.items()}
# CreateOrderV2Request.self_trade_prevention_type is required: taker_at_cross | maker.
SELF_TRADE_PREVENTION = "taker_at_cross"
BOOK_BID, BOOK_ASK = "bid", "ask"  # BookSide: bid = buy YES, ask = sell YES (= buy NO at 1 - price)


class PriceRange(NamedTuple):
    """``[start, end]`` with tick ``step``, Decimal dollars."""

    start: Decimal
    end: Decimal
    step: Decimal


PRICE_LEVEL_STRUCTURES: dict[str, tuple[PriceRange, ...]] = {
    "linear_cent": (PriceRange(Decimal("0"), Decimal("1"), Decimal("0.01")),),
    "deci_cent": (PriceRange(Decimal("0"), Decimal("1"), Decimal("0.001")),),
    "tapered_deci_cent": (
        PriceRange(Decimal("0"), Decimal("0.10"), Decimal("0.001")),
        PriceRange(Decimal("0.10"), Decimal("0.90"), Decimal("0.01")),
        PriceRange(Decimal("0.90"), Decimal("1"), Decimal("0.001")),
    ),
}

# Series fee types (official SDK 3.34.0 models/fee_type.py: quadratic, quadratic_with_maker_fees,
# quadratic_with_combo_maker_fees, flat). models/series.py: maker fees are 0.25 x the taker rate for
# quadratic_with_maker_fees and 0.5 x for quadratic_with_combo_maker_fees; ``flat`` follows the fee
# schedule PDF's "Specific Trading Fees Table", which we could not read: flat markets are not traded.
FEE_TYPES_WITH_MAKER_FEES = frozenset({"quadratic_with_maker_fees", "quadratic_with_combo_maker_fees"})
FEE_TYPES_NOT_MODELLED = frozenset({"flat"})
TAKER_FEE_RATE = Decimal("0.07")
MAKER_FEE_RATE = Decimal("0.0175")
COMBO_MAKER_FEE_RATE = Decimal("0.035")
