"""The one interface every execution backend satisfies (paper, simulator, live).

An ``ExecutionBackend`` is a :class:`~arbkit.venues.base.VenueGateway` plus an event sink for
what arrives asynchronously (fills, cancels from the venue's user stream). The engine calls
``set_event_sink`` once at start-up; nothing downstream knows which backend it talks to.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from arbkit.core.enums import Venue
from arbkit.core.events import Event
from arbkit.core.orders import Balance, OrderRequest, OrderState, Position, SubmitResult
from arbkit.venues.base import EventSink, VenueGateway


@runtime_checkable
class ExecutionBackend(Protocol):
    venue: Venue

    def set_event_sink(self, sink: EventSink) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def submit(self, request: OrderRequest) -> SubmitResult: ...

    async def submit_many(self, requests: list[OrderRequest]) -> list[SubmitResult]: ...

    async def cancel(self, client_order_id: str, venue_order_id: str = "") -> list[Event]: ...

    async def cancel_all(self) -> list[Event]: ...

    async def open_orders(self) -> list[OrderState]: ...

    async def order_state(self, client_order_id: str, venue_order_id: str = "") -> OrderState | None: ...

    async def fills_since(self, ts_ns: int) -> list[Event]: ...

    async def balances(self) -> list[Balance]: ...

    async def positions(self) -> list[Position]: ...


class GatewayBackend:
    """A venue gateway (live, or pointed at the simulator) as an execution backend.

    The venue's user stream is wired to :meth:`deliver` (it is an ``EventSink``); events reach
    the engine's sink from there. Events delivered before the engine set its sink are kept and
    handed over when it does, so nothing from start-up is lost.
    """

    def __init__(self, gateway: VenueGateway) -> None:
        self.gateway = gateway
        self.venue = gateway.venue
        self._sink: EventSink | None = None
        self._early: list[Event] = []

    def set_event_sink(self, sink: EventSink) -> None:
        self._sink = sink
        early, self._early = self._early, []
        for ev in early:
            sink(ev)

    def deliver(self, event: Event) -> None:
        """The user stream's sink: never raises into the stream."""
        if self._sink is None:
            self._early.append(event)
            return
        self._sink(event)

    async def start(self) -> None:
        await self.gateway.start()

    async def close(self) -> None:
        await self.gateway.close()

    async def prepare(self, request: OrderRequest) -> str | None:
        """The venue's identity of the order the gateway will send for ``request`` (signed
        Polymarket order and hash, exact Kalshi body), as JSON text the engine journals before
        sending; None when the venue package needs nothing beyond the client order id."""
        prepare = getattr(self.gateway, "prepare", None)
        return await prepare(request) if prepare is not None else None

    def restore(self, client_order_id: str, prepared: str) -> None:
        """After a restart: the gateway remembers an order prepared before it (from the journal),
        so lookups find it and a resend is the identical order."""
        restore = getattr(self.gateway, "restore", None)
        if restore is not None:
            restore(client_order_id, prepared)

    async def submit(self, request: OrderRequest) -> SubmitResult:
        return await self.gateway.submit(request)

    async def submit_many(self, requests: list[OrderRequest]) -> list[SubmitResult]:
        return await self.gateway.submit_many(requests)

    async def cancel(self, client_order_id: str, venue_order_id: str = "") -> list[Event]:
        return await self.gateway.cancel(client_order_id, venue_order_id)

    async def cancel_all(self) -> list[Event]:
        return await self.gateway.cancel_all()

    async def open_orders(self) -> list[OrderState]:
        return await self.gateway.open_orders()

    async def order_state(self, client_order_id: str, venue_order_id: str = "") -> OrderState | None:
        return await self.gateway.order_state(client_order_id, venue_order_id)

    async def fills_since(self, ts_ns: int) -> list[Event]:
        return await self.gateway.fills_since(ts_ns)

    async def balances(self) -> list[Balance]:
        return await self.gateway.balances()

    async def positions(self) -> list[Position]:
        return await self.gateway.positions()
