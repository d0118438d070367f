"""Events: facts that happened, named in the past tense, as msgspec Structs.

Every event carries ``correlation_id`` (what chain of cause it belongs to: a feed frame, an
intent, a saga), ``ts_venue`` (the venue's own time, ns since epoch, 0 when the venue gives
none) and ``ts_recv`` (when the bytes reached our socket or the event was made, ns since epoch).
Events are tagged by class name so the journal and the NNG bridge can decode any of them.
Engines add their own events by subclassing :class:`Event`; :func:`event_types` finds them all.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from arbkit.core.enums import (
    ConnectionState,
    FillStatus,
    LiquiditySide,
    OrderType,
    Side,
    TimeInForce,
    Venue,
)

Level = tuple[Decimal, Decimal]  # (price, size)


class Event(msgspec.Struct, kw_only=True, frozen=True, tag=True):
    correlation_id: str = ""
    ts_venue: int = 0
    ts_recv: int = 0

    @property
    def kind(self) -> str:
        return type(self).__name__


# --- market data -----------------------------------------------------------------------------


class BookSnapshotReceived(Event, frozen=True, kw_only=True):
    venue: Venue
    instrument_id: str
    bids: list[Level]  # best first
    asks: list[Level]  # best first
    sequence: int = 0


class BookDeltaReceived(Event, frozen=True, kw_only=True):
    """New total size at one price level (0 removes it)."""

    venue: Venue
    instrument_id: str
    side: Side  # BUY = bid level, SELL = ask level
    price: Decimal
    size: Decimal
    sequence: int = 0


class BookUpdated(Event, frozen=True, kw_only=True, gc=False):
    """Top of book after applying a snapshot or deltas. Coalesced per instrument on the bus:
    the book itself lives in the market-state cache; this says it changed.

    ``gc=False``: one is built per frame, and it holds only scalars (no container can make a
    cycle), so the garbage collector need not track it (~15% cheaper to build)."""

    venue: Venue
    instrument_id: str
    sequence: int
    best_bid: Decimal | None
    best_bid_size: Decimal | None
    best_ask: Decimal | None
    best_ask_size: Decimal | None
    ts_book: int = 0  # when our book applied it


class TradeReported(Event, frozen=True, kw_only=True):
    """A public trade (last trade price) on a venue."""

    venue: Venue
    instrument_id: str
    price: Decimal
    size: Decimal
    aggressor: Side | None = None


class TickSizeChanged(Event, frozen=True, kw_only=True):
    venue: Venue
    instrument_id: str
    old_tick_size: Decimal
    new_tick_size: Decimal


class MarketResolved(Event, frozen=True, kw_only=True):
    """A market's outcome is known (Polymarket ``market_resolved``; Kalshi ``market_lifecycle_v2``
    ``determined`` / ``settled``). Its books are closed for good by the feed that saw it.

    ``payouts`` maps each outcome instrument id to what one share of it pays at settlement (1 for
    the winner, 0 for the losers; a scalar or voided market may pay a fraction). ``stage`` is the
    venue's word: ``resolved`` (Polymarket), ``determined`` or ``settled`` (Kalshi: the cash moves
    at ``settled``)."""

    venue: Venue
    market_id: str  # Polymarket condition id; Kalshi market ticker
    instrument_ids: list[str]
    winning_instrument_id: str | None = None
    winning_outcome: str = ""  # the venue's own label ("Yes", "yes", "no", ...)
    payouts: dict[str, Decimal] = msgspec.field(default_factory=dict)
    stage: str = "resolved"


class MarketListed(Event, frozen=True, kw_only=True):
    """A venue announced a market (Polymarket ``new_market`` on the market channel or a Gamma
    listing; Kalshi ``market_lifecycle_v2`` ``created`` / ``activated`` or an events listing).
    The market finder offers it to the strategies' filters. ``instrument_ids`` are YES then NO."""

    venue: Venue
    market_id: str  # Polymarket condition id; Kalshi market ticker
    instrument_ids: list[str]
    title: str = ""
    event_id: str = ""  # Polymarket event id / slug; Kalshi event ticker
    series: str = ""  # Kalshi series ticker; Polymarket event slug without its date part
    stage: str = "new"  # the venue's word: new_market, created, activated, listed (REST poll)
    tick_size: str = ""
    close_time: str = ""


class ConnectionStateChanged(Event, frozen=True, kw_only=True):
    venue: Venue
    connection: str  # e.g. "polymarket.market.0"
    state: ConnectionState
    reason: str = ""


class BookStaleDetected(Event, frozen=True, kw_only=True):
    venue: Venue
    instrument_id: str
    age_ns: int
    reason: str = ""


class MessageMalformed(Event, frozen=True, kw_only=True):
    venue: Venue
    source: str
    error: str
    sample: str  # truncated raw text


# --- orders ----------------------------------------------------------------------------------


class OrderSubmitted(Event, frozen=True, kw_only=True):
    """An order intent, journaled before it is sent."""

    venue: Venue
    instrument_id: str
    client_order_id: str
    side: Side
    order_type: OrderType
    time_in_force: TimeInForce
    price: Decimal  # limit price, or the worst acceptable price for a market order
    quantity: Decimal
    post_only: bool = False
    reduce_only: bool = False
    execution_id: str = ""


class OrderAccepted(Event, frozen=True, kw_only=True):
    venue: Venue
    client_order_id: str
    venue_order_id: str


class OrderRejected(Event, frozen=True, kw_only=True):
    venue: Venue
    client_order_id: str
    reason: str
    code: str = ""
    retryable: bool = False


class OrderFilled(Event, frozen=True, kw_only=True):
    """A fill, partial or full. ``status`` says whether the venue has settled it."""

    venue: Venue
    instrument_id: str
    client_order_id: str
    venue_order_id: str
    trade_id: str
    side: Side
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_currency: str
    liquidity: LiquiditySide
    cumulative_quantity: Decimal | None = None
    leaves_quantity: Decimal | None = None
    status: FillStatus = FillStatus.CONFIRMED


class FillStatusChanged(Event, frozen=True, kw_only=True):
    """A provisional fill moved on: MINED, CONFIRMED, or FAILED (which reverses it)."""

    venue: Venue
    trade_id: str
    client_order_id: str
    status: FillStatus
    reason: str = ""


class OrderCanceled(Event, frozen=True, kw_only=True):
    venue: Venue
    client_order_id: str
    venue_order_id: str = ""
    filled_quantity: Decimal | None = None
    reason: str = ""


class OrderCancelRejected(Event, frozen=True, kw_only=True):
    venue: Venue
    client_order_id: str
    reason: str


class OrderExpired(Event, frozen=True, kw_only=True):
    venue: Venue
    client_order_id: str
    venue_order_id: str = ""


# --- runtime ---------------------------------------------------------------------------------


class TaskCrashed(Event, frozen=True, kw_only=True):
    task: str
    error: str
    crash_count: int
    restart_in_s: float


class BreakerOpened(Event, frozen=True, kw_only=True):
    task: str
    crashes: int
    window_s: float
    error: str = ""


class KillSwitchTripped(Event, frozen=True, kw_only=True):
    reason: str
    source: str = ""


def _all_subclasses(cls: type) -> list[type]:
    out: list[type] = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


def event_types() -> dict[str, type[Event]]:
    """Every Event subclass defined so far, by tag (its class name)."""
    return {c.__name__: c for c in _all_subclasses(Event)}


_encoder = msgspec.json.Encoder(decimal_format="string")


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


_types_cache: dict[str, type[Event]] = {}


def decode_event(kind: str, payload: bytes | str) -> Event:
    """Decode a journaled/bridged event by its kind; unknown kinds raise KeyError.

    The type table is cached; an unknown kind refreshes it once, since engines define their
    event classes on import (after the first lookup)."""
    cls = _types_cache.get(kind)
    if cls is None:
        _types_cache.clear()
        _types_cache.update(event_types())
        cls = _types_cache[kind]
    return msgspec.json.decode(payload, type=cls)


def to_builtins(event: Event) -> dict[str, Any]:
    return msgspec.to_builtins(event)  # type: ignore[return-value]
