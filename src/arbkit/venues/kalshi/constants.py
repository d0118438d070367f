"""Kalshi trade API v2 facts: endpoints, header names, channels, units, price level structures.

Since 2026-03-12 (docs.kalshi.com "Fixed-Point Migration") prices and money are ``*_dollars``
strings with up to 4 decimals and counts are ``*_fp`` strings (2 decimals; fractional only where a
market has ``fractional_trading_enabled``). A market's ``price_level_structure`` fixes its tick
grid: ``linear_cent`` $0.01 everywhere; ``deci_cent`` $0.001 everywhere; ``tapered_deci_cent``
$0.001 below $0.10 and above $0.90, $0.01 in between. Books hold bids only (YES bids and NO bids):
YES ask = 1 - best NO bid, NO ask = 1 - best YES bid.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

VENUE_NAME = "kalshi"

# --- endpoints --------------------------------------------------------------------------------
REST_URL = "https://api.elections.kalshi.com/trade-api/v2"
WS_URL = "wss://api.elections.kalshi.com/trade-api/ws/v2"
DEMO_REST_URL = "https://demo-api.kalshi.co/trade-api/v2"
DEMO_WS_URL = "wss://demo-api.kalshi.co/trade-api/ws/v2"
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
PATH_ORDERS = "/portfolio/orders"
PATH_ORDER = "/portfolio/orders/{order_id}"
PATH_BATCH_ORDERS = "/portfolio/orders/batched"

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

MAX_BATCH_ORDERS = 20  # POST/DELETE /portfolio/orders/batched
CLIENT_ORDER_ID_MAX = 64

TIME_IN_FORCE = {"GTC": "good_till_canceled", "IOC": "immediate_or_cancel", "FOK": "fill_or_kill"}
TIME_IN_FORCE_FROM_WIRE = {v: k for k, v in TIME_IN_FORCE.items()}


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

# Series fee types that also charge makers (kalshi-python models: FeeType).
FEE_TYPES_WITH_MAKER_FEES = frozenset({"quadratic_with_maker_fees", "quadratic_with_combo_maker_fees"})
TAKER_FEE_RATE = Decimal("0.07")
MAKER_FEE_RATE = Decimal("0.0175")
