"""The contract every venue package fulfils, checked by the shared contract test suite
(tests/contract/). The execution engine and the node depend on these protocols only."""

from __future__ import annotations

from typing import Callable, Iterable, Protocol, runtime_checkable

from arbkit.core.enums import Venue
from arbkit.core.events import Event
from arbkit.core.orders import Balance, OrderRequest, OrderState, Position, SubmitResult

EventSink = Callable[[Event], None]
"""Where a feed or user stream puts normalised events (the wiring connects it to the bus).
Must not block and must not raise into the feed."""


@runtime_checkable
class VenueGateway(Protocol):
    """Signed REST order entry. Every method returns or raises only for programming errors:
    a venue refusal is an ``OrderRejected`` in the result, a transport failure after retries is
    an ``OrderRejected`` with ``retryable=True`` (the saga decides), never an escaping exception."""

    venue: Venue

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def submit(self, request: OrderRequest) -> SubmitResult: ...

    async def submit_many(self, requests: list[OrderRequest]) -> list[SubmitResult]: ...

    async def cancel(self, client_order_id: str, venue_order_id: str = "") -> list[Event]: ...

    async def cancel_all(self) -> list[Event]: ...

    async def open_orders(self) -> list[OrderState]: ...

    async def order_state(self, client_order_id: str, venue_order_id: str = "") -> OrderState | None:
        """The venue's view of one order, or None if the venue never saw it (lets recovery
        tell 'sent' from 'not sent' before re-sending)."""

    async def fills_since(self, ts_ns: int) -> list[Event]: ...

    async def balances(self) -> list[Balance]: ...

    async def positions(self) -> list[Position]: ...


@runtime_checkable
class MarketFeed(Protocol):
    """Market-data WebSocket client keeping one book per subscribed instrument."""

    venue: Venue

    async def run(self) -> None:
        """Connect, subscribe, keep books; reconnects by itself. Returns only when stopped."""

    async def stop(self) -> None: ...

    def subscribe(self, instrument_ids: Iterable[str]) -> None: ...

    def unsubscribe(self, instrument_ids: Iterable[str]) -> None: ...

    def book(self, instrument_id: str): ...

    def is_tradeable(self, instrument_id: str, max_age_ns: int) -> bool:
        """Connected, live (not resyncing), not crossed and updated within ``max_age_ns``."""


@runtime_checkable
class UserStream(Protocol):
    """Private WebSocket: our orders and fills as core events into the sink."""

    venue: Venue

    async def run(self) -> None: ...

    async def stop(self) -> None: ...
