"""Events the simulator's matching engine emits to protocol servers (and to tests).

They are facts about the simulated venue, not about our own trading, so they live here rather
than in ``arbkit.core.events``. Each engine operation produces one batch (a list) of these, all
sharing the operation number ``op``; see ``MatchingEngine.subscribe``.
"""

from __future__ import annotations

from decimal import Decimal
from enum import Enum

import msgspec

from arbkit.core.enums import Side
from arbkit.core.events import Event


class Outcome(str, Enum):
    YES = "YES"
    NO = "NO"

    @property
    def other(self) -> "Outcome":
        return Outcome.NO if self is Outcome.YES else Outcome.YES


class OrderKind(str, Enum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"


class Tif(str, Enum):
    GTC = "GTC"
    GTD = "GTD"
    IOC = "IOC"  # Polymarket FAK
    FOK = "FOK"


class SimOrderStatus(str, Enum):
    OPEN = "OPEN"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


class OrderUpdateKind(str, Enum):
    PLACED = "PLACED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"


class MatchKind(str, Enum):
    TRANSFER = "TRANSFER"  # BUY vs SELL of the same outcome
    MINT = "MINT"  # BUY YES vs BUY NO: a complete set is created
    MERGE = "MERGE"  # SELL YES vs SELL NO: a complete set is redeemed


class TradeStatus(str, Enum):
    MATCHED = "MATCHED"
    MINED = "MINED"
    CONFIRMED = "CONFIRMED"
    FAILED = "FAILED"


class SimOrder(msgspec.Struct, frozen=True, kw_only=True):
    """Immutable snapshot of one order as the simulated venue sees it."""

    order_id: str
    client_order_id: str
    account_id: str
    market_id: str
    symbol: str
    outcome: Outcome
    side: Side
    kind: OrderKind
    tif: Tif
    post_only: bool
    price: Decimal | None  # in the symbol's own outcome terms; None for an unbounded MARKET order
    size: Decimal
    filled: Decimal
    remaining: Decimal
    status: SimOrderStatus
    reason: str
    created_ns: int
    updated_ns: int
    expire_at_ns: int
    avg_price: Decimal | None
    fees_paid: Decimal
    meta: dict = msgspec.field(default_factory=dict)


class SimTrade(msgspec.Struct, frozen=True, kw_only=True):
    """One fill between a taker and one maker order."""

    trade_id: str
    market_id: str
    match_id: str  # groups the fills of one taker operation
    price_yes: Decimal
    size: Decimal
    kind: MatchKind
    taker_order_id: str
    taker_account: str
    taker_symbol: str
    taker_outcome: Outcome
    taker_side: Side
    taker_price: Decimal
    taker_fee: Decimal
    maker_order_id: str
    maker_account: str
    maker_symbol: str
    maker_outcome: Outcome
    maker_side: Side
    maker_price: Decimal
    maker_fee: Decimal
    status: TradeStatus
    ts_ns: int
    status_ts_ns: int
    fail_reason: str = ""
    currency: str = "USDC"


class SimEvent(Event, frozen=True, kw_only=True):
    venue: str
    ts_ns: int
    op: int


class SimBookLevelChanged(SimEvent, frozen=True, kw_only=True):
    """New total size at one price of one view (YES or NO) of a market's book; 0 removes it."""

    market_id: str
    symbol: str
    outcome: Outcome
    side: Side  # BUY = bid level, SELL = ask level, in this view
    price: Decimal
    size: Decimal
    seq: int


class SimTradeExecuted(SimEvent, frozen=True, kw_only=True):
    trade: SimTrade


class SimOrderUpdated(SimEvent, frozen=True, kw_only=True):
    order: SimOrder
    update: OrderUpdateKind
    fill_size: Decimal = Decimal(0)
    fill_price: Decimal | None = None
    trade_id: str = ""


class SimTradeStatusChanged(SimEvent, frozen=True, kw_only=True):
    trade: SimTrade
    status: TradeStatus


class SimTickSizeChanged(SimEvent, frozen=True, kw_only=True):
    market_id: str
    old_tick: Decimal
    new_tick: Decimal


class SimMarketStatusChanged(SimEvent, frozen=True, kw_only=True):
    market_id: str | None  # None: the whole venue
    halted: bool


class SimMarketResolved(SimEvent, frozen=True, kw_only=True):
    """A market resolved: ``winner`` pays 1 per share. ``cash_settled``: the venue paid the
    holders itself (Kalshi); otherwise they redeem on chain (Polymarket)."""

    market_id: str
    winner: Outcome
    cash_settled: bool


class SimBalanceChanged(SimEvent, frozen=True, kw_only=True):
    account_id: str
    currency: str
    total: Decimal
    available: Decimal


# Short names (what notes/sim_engine_api.md and the servers use). The classes carry the "Sim"
# prefix because event tags are class names and ``arbkit.core.events.event_types()`` indexes every
# Event subclass by name: core already has a ``TickSizeChanged``.
BookLevelChanged = SimBookLevelChanged
TradeExecuted = SimTradeExecuted
OrderUpdated = SimOrderUpdated
TradeStatusChanged = SimTradeStatusChanged
TickSizeChanged = SimTickSizeChanged
MarketStatusChanged = SimMarketStatusChanged
MarketResolved = SimMarketResolved
BalanceChanged = SimBalanceChanged

_encoder = msgspec.json.Encoder(decimal_format="string")


def encode_sim_event(event: SimEvent) -> bytes:
    """Canonical bytes of an event (tagged JSON, Decimals as strings): what determinism hashes."""
    return _encoder.encode(event)
