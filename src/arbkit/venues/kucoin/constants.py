"""KuCoin spot wire constants. Sources (checked 2026-12-04): the official SDK
Kucoin/kucoin-universal-sdk @ 78c90c77 (sdk/python/kucoin_universal_sdk/generate/spot/{order,market},
.../spot/spot_public/ws_spot_public.py, .../spot/spot_private/ws_spot_private.py,
.../internal/infra/default_signer.py, default_ws_client.py) and its OpenAPI spec (spec/rest/api/*.json);
see docs/venues/kucoin.md for the table."""

from __future__ import annotations

from decimal import Decimal

REST_URL = "https://api.kucoin.com"

# REST paths (api_market.py, api_order.py, api_fee.py, api_account.py)
PATH_BULLET_PUBLIC = "/api/v1/bullet-public"
PATH_BULLET_PRIVATE = "/api/v1/bullet-private"
PATH_SYMBOLS = "/api/v2/symbols"
PATH_TIMESTAMP = "/api/v1/timestamp"
PATH_ORDERBOOK = "/api/v3/market/orderbook/level2"  # full book, needs auth (signed)
PATH_ORDERBOOK_PART = "/api/v1/market/orderbook/level2_{size}"  # 20 / 100, public
PATH_TRADE_FEES = "/api/v1/trade-fees"
PATH_ACCOUNTS = "/api/v1/accounts"
PATH_HF_ORDERS = "/api/v1/hf/orders"
PATH_HF_ORDERS_SYNC = "/api/v1/hf/orders/sync"
PATH_HF_ORDERS_TEST = "/api/v1/hf/orders/test"
PATH_HF_ORDER = "/api/v1/hf/orders/{order_id}"  # GET / DELETE ?symbol=
PATH_HF_ORDER_SYNC = "/api/v1/hf/orders/sync/{order_id}"  # DELETE ?symbol=
PATH_HF_ORDER_CLIENT = "/api/v1/hf/orders/client-order/{client_oid}"  # GET / DELETE ?symbol=
PATH_HF_ORDERS_ACTIVE = "/api/v1/hf/orders/active"  # ?symbol=
PATH_HF_ACTIVE_SYMBOLS = "/api/v1/hf/orders/active/symbols"
PATH_HF_CANCEL_ALL = "/api/v1/hf/orders/cancelAll"
PATH_HF_FILLS = "/api/v1/hf/fills"

# WebSocket topics
TOPIC_LEVEL2 = "/market/level2"  # "/market/level2:BTC-USDT,ETH-USDT"
TOPIC_DEPTH50 = "/spotMarket/level2Depth50"  # "/spotMarket/level2Depth50:BTC-USDT,ETH-USDT" (best 50, every 100 ms)
TOPIC_MATCH = "/market/match"
TOPIC_ORDERS_V2 = "/spotMarket/tradeOrdersV2"
TOPIC_BALANCE = "/account/balance"
SUBJECT_L2 = "trade.l2update"
SUBJECT_DEPTH = "level2"  # level2Depth5 / level2Depth50 snapshots
BOOK_MODES = ("level2", "depth50")
SUBJECT_ORDER = "orderChange"
SUBJECT_BALANCE = "account.balance"

# Topic limits per connection: KuCoin documents at most 100 symbols per topic subscription request and
# a cap of subscribed topics per connection (400 in the current docs); we shard at 100 symbols per
# connection to stay under both (docs/venues/kucoin.md lists what is confirmed).
MAX_SYMBOLS_PER_SUBSCRIBE = 100
MAX_SYMBOLS_PER_CONNECTION = 100

CODE_OK = "200000"
CODE_RATE_LIMIT = "429000"
CODE_PARAM = "400100"
NOT_FOUND_MARKERS = ("order not exist", "order_not_exist", "the order does not exist")
KEY_VERSION = "3"

TIF = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "GTD": "GTT"}
FEE_UNIT = Decimal(0)  # KuCoin shows fees unrounded (e.g. 0.000677176 = 0.677176 * 0.001)
