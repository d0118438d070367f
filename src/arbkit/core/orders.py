"""What is asked of a venue and what it answers, independent of the venue.

The execution engine, the paper backend and every venue gateway speak these types, so nothing
downstream knows which backend is in use.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from arbkit.core.enums import OrderStatus, OrderType, Side, TimeInForce, Venue
from arbkit.core.events import Event
from arbkit.core.instruments import Instrument


class OrderRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One order to send. ``price`` is the limit, or for a MARKET order the worst acceptable price
    (we never send an unbounded order). ``quantity`` is already quantised to the instrument's
    increment; gateways re-check and refuse, they never silently round up."""

    instrument: Instrument
    client_order_id: str
    side: Side
    quantity: Decimal
    price: Decimal
    order_type: OrderType = OrderType.LIMIT
    time_in_force: TimeInForce = TimeInForce.GTC
    post_only: bool = False
    reduce_only: bool = False
    expire_at_ns: int = 0  # GTD only
    buy_max_cost: Decimal | None = None  # Kalshi: cap on total cost of a buy
    correlation_id: str = ""
    execution_id: str = ""

    @property
    def venue(self) -> Venue:
        return self.instrument.venue

    @property
    def notional(self) -> Decimal:
        return self.price * self.quantity


class SubmitResult(msgspec.Struct, kw_only=True):
    """What a submit produced, as events in the order they happened: OrderAccepted or
    OrderRejected, then any immediate OrderFilled / OrderCanceled (e.g. an IOC remainder)."""

    client_order_id: str
    events: list[Event] = msgspec.field(default_factory=list)
    venue_order_id: str = ""
    accepted: bool = False
    latency_ns: int = 0  # request sent -> response parsed


class OrderState(msgspec.Struct, kw_only=True):
    """The venue's view of one order (open orders, order lookup, recovery)."""

    venue: Venue
    instrument_id: str
    client_order_id: str
    venue_order_id: str
    side: Side
    price: Decimal
    quantity: Decimal
    filled_quantity: Decimal
    status: OrderStatus
    order_type: OrderType = OrderType.LIMIT
    time_in_force: TimeInForce = TimeInForce.GTC
    ts_created: int = 0


class Balance(msgspec.Struct, frozen=True, kw_only=True):
    currency: str
    total: Decimal
    available: Decimal


class Position(msgspec.Struct, frozen=True, kw_only=True):
    venue: Venue
    instrument_id: str
    quantity: Decimal  # signed: long > 0
    avg_price: Decimal | None = None
