"""What the shared venue contract test suite (tests/contract/) is handed for each venue package.

Every venue package has a small ``<package>/contract.py`` adapter exposing::

    def bundle_from_sim_info(info: dict, account_index: int = 0, sink: EventSink | None = None,
                             *, timings: ContractTimings | None = None) -> VenueBundle

It builds the package's gateway, market feed and user stream for one test account of a running
simulator (``info`` is the simulator's info document, ``arbkit sim --info-file``), using only the
package's public constructors. Steps that need the network (API credentials derived over REST,
market metadata) run in :meth:`VenueBundle.open`. The suite then checks the same assertions for
every venue; ``SimFacts`` carries the few simulator-side names a test needs to inject faults and
read the simulator's own state through its admin endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Awaitable, Callable

from arbkit.core.enums import LiquiditySide, Side, Venue
from arbkit.core.events import Event
from arbkit.core.fees import fee_for
from arbkit.core.instruments import Instrument
from arbkit.venues.base import EventSink, MarketFeed, UserStream, VenueGateway

FeeRule = Callable[[Instrument, Side, Decimal, Decimal, LiquiditySide], Decimal]
"""Fee of ONE fill of a fresh order: (instrument, side, price, quantity, liquidity) -> fee."""


def core_fee_rule(instrument: Instrument, side: Side, price: Decimal, quantity: Decimal,
                  liquidity: LiquiditySide) -> Decimal:
    """The venue formula in :mod:`arbkit.core.fees` (the default rule)."""
    return fee_for(instrument.fee, price, quantity, liquidity)


@dataclass(frozen=True)
class ContractTimings:
    """Feed / stream timings the adapter configures (tests shorten them; the defaults do not
    trip a freeze on a quiet simulated market)."""

    freeze_after_s: float = 30.0
    stale_book_after_s: float = 300.0
    resync_timeout_s: float = 2.0  # a dropped book without a fresh snapshot this long -> ask again
    reconnect_initial_s: float = 0.1
    reconnect_max_s: float = 0.5
    watchdog_interval_s: float = 0.1
    ping_interval_s: float = 1.0


@dataclass(frozen=True)
class SimFacts:
    """Simulator-side names for this venue (fault matching and admin look-ups)."""

    venue_key: str  # the venue's name in the simulator (info document section, admin paths)
    account_id: str  # the simulator account the gateway trades as (admin /accounts/{venue}/{id})
    market_channels: tuple[str, ...]  # WS channels carrying market data, book channel first (fault ``match``)
    fill_channel: str  # WS channel carrying our fills
    order_path: str  # REST path (substring) of single order entry, for REST fault ``match``
    provisional_fills: bool  # True: fills arrive provisional (Polymarket MATCHED) and are confirmed later
    market_ws_key: str = "ws_url"  # info-document key of the market-data WebSocket URL
    user_ws_key: str = "ws_url"  # info-document key of the user-stream WebSocket URL


@dataclass
class VenueBundle:
    """One venue package wired to one simulator account."""

    venue: Venue
    gateway: VenueGateway
    feed: MarketFeed
    user: UserStream | None  # None until open() when the stream needs credentials from the network
    instruments: list[Instrument]
    sim: SimFacts
    timings: ContractTimings = field(default_factory=ContractTimings)
    fee_rule: FeeRule = core_fee_rule
    # True when the venue forgets canceled orders (order_state -> None after a cancel).
    forgets_canceled_orders: bool = False
    prepare: Callable[["VenueBundle"], Awaitable[None]] | None = None
    events: list[Event] = field(default_factory=list)  # filled by the default sink
    _opened: bool = field(default=False, repr=False)

    async def open(self) -> "VenueBundle":
        """Start the gateway and run the network steps (credentials, metadata). Idempotent."""
        if not self._opened:
            await self.gateway.start()
            if self.prepare is not None:
                await self.prepare(self)
            self._opened = True
        return self

    async def close(self) -> None:
        await self.gateway.close()
        self._opened = False

    def instrument(self, symbol_or_id: str) -> Instrument:
        for inst in self.instruments:
            if symbol_or_id in (inst.symbol, inst.id):
                return inst
        raise KeyError(f"no {self.venue.value} instrument {symbol_or_id!r} in this bundle")


def collecting_sink(bundle_events: list[Event]) -> EventSink:
    """A sink appending to a list (never raises)."""
    return bundle_events.append


__all__ = ["ContractTimings", "FeeRule", "SimFacts", "VenueBundle", "collecting_sink", "core_fee_rule"]
