"""Small closed vocabularies shared by every engine."""

from __future__ import annotations

from enum import Enum


class Venue(str, Enum):
    POLYMARKET = "polymarket"
    KALSHI = "kalshi"
    KUCOIN = "kucoin"


class InstrumentKind(str, Enum):
    OUTCOME = "outcome"  # a prediction-market outcome share paying 1 if it resolves true
    SPOT = "spot"  # a crypto pair base/quote


class Side(str, Enum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> "Side":
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class TimeInForce(str, Enum):
    GTC = "GTC"  # rests until filled or canceled
    GTD = "GTD"  # rests until an expiry
    IOC = "IOC"  # fill what you can now, cancel the rest (Polymarket FAK)
    FOK = "FOK"  # fill all now or nothing


class OrderType(str, Enum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"  # always sent with a worst price: we never send an unbounded order


class OrderStatus(str, Enum):
    PENDING = "PENDING"  # built, journaled, not yet acknowledged
    ACCEPTED = "ACCEPTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED})


class LiquiditySide(str, Enum):
    MAKER = "MAKER"
    TAKER = "TAKER"


class FillStatus(str, Enum):
    """Settlement state of a fill. Polymarket trades go MATCHED -> MINED -> CONFIRMED or FAILED;
    venues that settle at match report CONFIRMED straight away."""

    PROVISIONAL = "PROVISIONAL"  # our own optimistic view or a venue MATCHED
    MINED = "MINED"
    CONFIRMED = "CONFIRMED"
    FAILED = "FAILED"


class ConnectionState(str, Enum):
    CONNECTING = "CONNECTING"
    CONNECTED = "CONNECTED"
    STALLED = "STALLED"  # socket alive, no data for active instruments (silent freeze)
    DISCONNECTED = "DISCONNECTED"


class BookState(str, Enum):
    EMPTY = "EMPTY"  # no snapshot yet
    LIVE = "LIVE"
    RESYNCING = "RESYNCING"  # gap detected or tick size changed; waiting for a fresh snapshot
    CROSSED = "CROSSED"
    CLOSED = "CLOSED"  # the market resolved or closed for good: never traded again (sticky)
