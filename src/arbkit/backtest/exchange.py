"""The simulated exchange of a backtest: one per venue, filling our orders against the recorded books.

It is the paper backend's order model (the instrument's tick, increments, minimums, the venue fee
formula, balances, duplicate client ids refused, IOC/FOK remainders canceled) with what a replay
adds:

* **latency**: an order reaches the venue ``latency_out_ms`` after it is sent and is matched
  against the recorded book *as it is then* (the replay has moved on meanwhile); the answer and
  every fill reach us ``latency_in_ms`` later.
* **taking**: walks the recorded levels up to the limit; what we took from a level stays taken
  until the recorded book changes (a change replaces the venue's state with the recording's).
* **resting orders and queue position**: the rest of a GTC limit order joins the recorded level
  at its price behind the size already there. Recorded decreases of that level go first to the
  size ahead of us (trades or cancels ahead), then fill us; a recorded book crossing our price
  fills us at our price. Fills of resting orders are maker fills (the venue's maker fee).
* partial fills: whatever the walk or the queue gives, in the instrument's size increment.
* settlement: Polymarket fills come back MATCHED (PROVISIONAL) and are CONFIRMED
  ``polymarket_confirm_ms`` later through the event sink (``FillStatusChanged``), as the venue's
  user stream reports them; Kalshi and KuCoin fills are CONFIRMED at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable

import msgspec

from arbkit.core.clock import Clock
from arbkit.core.enums import FillStatus, OrderStatus, Side, Venue
from arbkit.core.events import Event, FillStatusChanged, OrderFilled
from arbkit.core.orders import OrderRequest, SubmitResult
from arbkit.execution.intent import BookTop
from arbkit.execution.paper import PaperBackend, PaperConfig, SnapshotRegistry

ZERO = Decimal(0)


@dataclass
class ExchangeConfig:
    latency_out_ms: float = 20.0  # our order -> the venue
    latency_in_ms: float = 20.0  # the venue's answers and fills -> us
    queue_position: bool = True  # resting orders wait behind the recorded size at their price
    depth: int = 50  # recorded levels an order may walk
    # Polymarket settles on chain: a fill is MATCHED (PROVISIONAL) first and CONFIRMED this much
    # later (a FillStatusChanged, as the user stream reports it); other venues settle at match
    polymarket_confirm_ms: float = 2000.0


class SimExchange(PaperBackend):
    """An ``ExecutionBackend`` for one venue of a backtest (see the module docstring)."""

    def __init__(self, venue: Venue, clock: Clock, book_of: Callable[[str], Any], config: ExchangeConfig | None = None,
                 balances: dict[str, Decimal] | None = None, seed: int = 0) -> None:
        self.xcfg = config or ExchangeConfig()
        super().__init__(venue, clock, SnapshotRegistry(),
                         PaperConfig(seed=seed, queue_position=self.xcfg.queue_position, depth=self.xcfg.depth),
                         balances=balances, book_of=book_of)
        self._out_s = self.xcfg.latency_out_ms / 1000
        self._in_s = self.xcfg.latency_in_ms / 1000
        self._stamp: dict[str, int] = {}  # instrument id -> recorded book changes seen

    # --- the recorded market ----------------------------------------------------------------

    def on_book(self, instrument_id: str) -> None:
        """The recording changed this book: taken liquidity is replaced, resting orders may fill."""
        self._stamp[instrument_id] = self._stamp.get(instrument_id, 0) + 1
        super().on_book(instrument_id)

    def _top(self, instrument_id: str) -> BookTop | None:
        book = self.book_of(instrument_id)
        if book is None:
            return None
        top = BookTop.from_book(instrument_id, book, self.xcfg.depth)
        return msgspec.structs.replace(top, last_update_ns=0, sequence=self._stamp.get(instrument_id, 0))

    def _levels(self, req: OrderRequest) -> tuple[BookTop | None, list[tuple[Decimal, Decimal]]]:
        top = self._top(req.instrument.id)
        if top is None:
            return None, []
        return top, (top.asks if req.side is Side.BUY else top.bids)

    # --- orders -----------------------------------------------------------------------------

    async def submit(self, request: OrderRequest) -> SubmitResult:
        t0 = self.clock.monotonic_ns()
        await self.clock.sleep(self._out_s)
        events = self._execute(request, None)
        po = self.orders.get(request.client_order_id)
        accepted = po is not None and po.state.status in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED)
        if accepted:
            self._maybe_rest(request)
        events = self._settling(events)
        await self.clock.sleep(self._in_s)
        now = self.clock.now_ns()
        res = SubmitResult(client_order_id=request.client_order_id, latency_ns=self.clock.monotonic_ns() - t0)
        res.events = [msgspec.structs.replace(e, ts_recv=now) for e in events]
        res.accepted = any(type(e).__name__ == "OrderAccepted" for e in events)
        res.venue_order_id = po.state.venue_order_id if po is not None and res.accepted else ""
        return res

    async def cancel(self, client_order_id: str, venue_order_id: str = "") -> list[Event]:
        await self.clock.sleep(self._out_s)
        saved, self.config.latency_s = self.config.latency_s, 0.0
        try:
            events = await super().cancel(client_order_id, venue_order_id)
        finally:
            self.config.latency_s = saved
        await self.clock.sleep(self._in_s)
        now = self.clock.now_ns()
        return [msgspec.structs.replace(e, ts_recv=now) for e in events]

    _trade_prefix = "bt"

    def _deliver_fill(self, fill: OrderFilled) -> None:
        self._spawn_later(self._settling([fill]))

    def _settling(self, events: list[Event]) -> list[Event]:
        """Polymarket: fills as MATCHED (PROVISIONAL), each CONFIRMED later through the sink."""
        if self.venue is not Venue.POLYMARKET:
            return events
        out: list[Event] = []
        for e in events:
            if type(e) is OrderFilled:
                e = msgspec.structs.replace(e, status=FillStatus.PROVISIONAL)
                self._spawn_later([FillStatusChanged(venue=self.venue, trade_id=e.trade_id, client_order_id=e.client_order_id,
                                                     status=FillStatus.CONFIRMED, correlation_id=e.correlation_id)],
                                  self._in_s + self.xcfg.polymarket_confirm_ms / 1000)
            out.append(e)
        return out

    def _spawn_later(self, events: list[Event], delay_s: float | None = None) -> None:
        import asyncio

        delay = self._in_s if delay_s is None else delay_s

        async def deliver() -> None:
            await self.clock.sleep(delay)
            now = self.clock.now_ns()
            for e in events:
                self._emit(msgspec.structs.replace(e, ts_recv=now))

        t = asyncio.get_running_loop().create_task(deliver())
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    # --- figures ----------------------------------------------------------------------------

    def order_counts(self) -> dict[str, int]:
        sent = len(self.submitted)
        filled = sum(1 for po in self.orders.values() if po.state.filled_quantity > 0)
        return {"orders": sent, "orders_filled": filled, "maker_fills": self.maker_fills}


__all__ = ["ExchangeConfig", "SimExchange"]
