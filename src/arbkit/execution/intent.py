"""Intent: what a strategy asks the execution engine to do.

An intent is self-contained and journaled whole: the legs carry their ``Instrument`` (increments,
minimums, fee model), and the book tops it decided on are copied as exact ``(price, size)`` lists
with their update time and sequence, never a live book object. Replaying the journal therefore
rebuilds every saga without any other registry, which is what crash recovery needs.
"""

from __future__ import annotations

from decimal import Decimal
from enum import Enum
from typing import Any

import msgspec

from arbkit.core.enums import InstrumentKind, OrderType, Side, TimeInForce, Venue
from arbkit.core.events import Level
from arbkit.core.instruments import Instrument


class Sequencing(str, Enum):
    PARALLEL = "PARALLEL"  # every leg sent at once (IOC), all-or-hedge
    SEQUENTIAL = "SEQUENTIAL"  # leg 1, then leg 2 sized to what leg 1 filled, ...
    CASCADE = "CASCADE"  # each leg's filled output is the next leg's input (triangles)


class HedgeMode(str, Enum):
    MARKET_OUT = "MARKET_OUT"  # IOC market order bounded by a worst price
    LIMIT_CHASE = "LIMIT_CHASE"  # limit at the reference price, re-priced for chase_s, then market out
    HOLD = "HOLD"  # send nothing, raise an alert, report the residual


class HedgePolicy(msgspec.Struct, frozen=True, kw_only=True):
    """How a saga compensates a leg that failed or filled only partly."""

    mode: HedgeMode = HedgeMode.MARKET_OUT
    max_slippage_bps: Decimal = Decimal(200)  # worst price for market-out vs the reference price
    chase_s: float = 2.0  # LIMIT_CHASE: total time spent chasing before marketing out
    chase_step_s: float = 0.5  # LIMIT_CHASE: how long each limit rests before re-pricing
    chase_step_bps: Decimal = Decimal(10)  # LIMIT_CHASE: price concession per re-price
    timeout_s: float = 10.0  # the whole compensation (HOLD sends nothing and ends at once)
    max_attempts: int = 5  # market-out attempts (each bounded by the worst price)

    @classmethod
    def from_config(cls, execution: Any, **overrides: Any) -> "HedgePolicy":
        """From the node configuration's ``[execution]`` table (arbkit.runtime.config)."""
        mode = {"market": HedgeMode.MARKET_OUT, "chase": HedgeMode.LIMIT_CHASE, "hold": HedgeMode.HOLD}[
            getattr(execution.hedge_policy, "value", execution.hedge_policy)
        ]
        kw: dict[str, Any] = {"mode": mode}
        if mode is HedgeMode.LIMIT_CHASE:
            kw["chase_s"] = float(execution.chase_seconds)
        kw.update(overrides)
        return cls(**kw)


class BookTop(msgspec.Struct, frozen=True, kw_only=True):
    """The top levels of one book as the strategy saw them (best first)."""

    instrument_id: str
    bids: list[Level]
    asks: list[Level]
    last_update_ns: int
    sequence: int = 0

    @classmethod
    def from_book(cls, instrument_id: str, book: Any, depth: int = 10) -> "BookTop":
        """Copy the top ``depth`` levels of an arbkit book (``levels``/``price``/``size``)."""
        bids = [(book.price(t), book.size(q)) for t, q in book.levels(True, depth)]
        asks = [(book.price(t), book.size(q)) for t, q in book.levels(False, depth)]
        return cls(
            instrument_id=instrument_id,
            bids=bids,
            asks=asks,
            last_update_ns=int(getattr(book, "last_update_ns", 0) or 0),
            sequence=int(getattr(book, "sequence", 0) or 0),
        )

    def best(self, side: Side) -> Level | None:
        """The level an order of ``side`` would take first (asks for a buy)."""
        levels = self.asks if side is Side.BUY else self.bids
        return levels[0] if levels else None


class IntentLeg(msgspec.Struct, frozen=True, kw_only=True):
    """One order of an intent. Exactly one of ``quantity`` (base units / shares) and ``funds``
    (quote to spend on a buy) is set, except for CASCADE legs after the first, whose size comes
    from the previous leg's output. ``price`` is the limit, or the worst price for MARKET."""

    instrument: Instrument
    side: Side
    price: Decimal
    quantity: Decimal | None = None
    funds: Decimal | None = None
    order_type: OrderType = OrderType.LIMIT
    time_in_force: TimeInForce = TimeInForce.IOC

    @property
    def venue(self) -> Venue:
        return self.instrument.venue

    @property
    def instrument_id(self) -> str:
        return self.instrument.id

    @property
    def input_currency(self) -> str:
        """What this leg spends: the quote for a buy, the base (or the share) for a sell."""
        return self.instrument.quote if self.side is Side.BUY else asset_of(self.instrument)

    @property
    def output_currency(self) -> str:
        return asset_of(self.instrument) if self.side is Side.BUY else self.instrument.quote


def asset_of(instrument: Instrument) -> str:
    """The thing a buy of ``instrument`` gives: the base currency of a spot pair, or the
    outcome share itself (named by its instrument id)."""
    if instrument.kind is InstrumentKind.SPOT and instrument.base:
        return instrument.base
    return instrument.id


class IsolationKeys(msgspec.Struct, frozen=True, kw_only=True):
    """Keys two executions must not share while in flight (which ones count is risk config)."""

    triangle: str = ""
    pairs: tuple[str, ...] = ()
    primary_quote: str = ""
    mapping: str = ""


class IntentTimestamps(msgspec.Struct, frozen=True, kw_only=True):
    """ns since epoch; 0 = unknown."""

    socket_arrival_ns: int = 0
    book_updated_ns: int = 0
    evaluated_ns: int = 0
    created_ns: int = 0


class Intent(msgspec.Struct, frozen=True, kw_only=True):
    execution_id: str
    legs: list[IntentLeg]
    sequencing: Sequencing = Sequencing.PARALLEL
    hedge: HedgePolicy = HedgePolicy()
    books: list[BookTop] = msgspec.field(default_factory=list)
    predicted_edge_bps: Decimal = Decimal(0)
    predicted_profit: Decimal = Decimal(0)  # in primary_quote
    primary_quote: str = "USD"
    correlation_id: str = ""
    timestamps: IntentTimestamps = IntentTimestamps()
    isolation: IsolationKeys = IsolationKeys()
    strategy: str = ""
    signal_key: str = ""  # stale-signal key: a book older than our last trade on it is refused
    leg_timeout_s: float = 5.0
    set_payout: Decimal | None = None  # complete sets / cross-venue binaries: value of one matched set

    def book_for(self, instrument_id: str) -> BookTop | None:
        for b in self.books:
            if b.instrument_id == instrument_id:
                return b
        return None


def validate_intent(intent: Intent) -> str | None:
    """Why an intent is malformed, or None. Called by the risk engine before anything else."""
    if not intent.execution_id:
        return "intent has no execution_id"
    if not intent.legs:
        return "intent has no legs"
    if intent.leg_timeout_s <= 0:
        return "leg_timeout_s must be positive"
    for i, leg in enumerate(intent.legs):
        if leg.price <= 0:
            return f"leg {i}: price must be positive"
        given = (leg.quantity is not None) + (leg.funds is not None)
        if intent.sequencing is Sequencing.CASCADE and i > 0:
            if given:
                return f"leg {i}: a cascade leg after the first takes its size from the previous leg"
        elif given != 1:
            return f"leg {i}: exactly one of quantity and funds must be set"
        if leg.quantity is not None and leg.quantity <= 0:
            return f"leg {i}: quantity must be positive"
        if leg.funds is not None and (leg.funds <= 0 or leg.side is not Side.BUY):
            return f"leg {i}: funds must be positive and only on a buy"
        if leg.order_type is OrderType.MARKET and leg.time_in_force not in (TimeInForce.IOC, TimeInForce.FOK):
            return f"leg {i}: a market order must be IOC or FOK"
    if intent.sequencing is Sequencing.CASCADE:
        for i in range(1, len(intent.legs)):
            prev, leg = intent.legs[i - 1], intent.legs[i]
            if prev.output_currency != leg.input_currency or prev.venue != leg.venue:
                return (
                    f"leg {i}: cascade breaks: leg {i - 1} gives {prev.output_currency} on {prev.venue.value}, "
                    f"leg {i} spends {leg.input_currency} on {leg.venue.value}"
                )
    return None
