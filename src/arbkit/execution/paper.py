"""Paper backend: orders filled by walking the book snapshots the intents decided on.

Resting limit orders (market-making quotes) fill when the live books say they would: given the
venue's books (``book_of``, the feed's), the rest of a GTC order joins the level at its price behind
the size already there; decreases of that level go first to the size ahead of us, then fill us; a
book that trades through our price fills us at our price, as a maker (the venue's maker fee). The
node calls :meth:`PaperBackend.on_book` on every book change of the venue. Without ``book_of`` a
resting order rests until canceled.

No network. Fills use the instrument's tick, size increment, minimums and fee model (the same
``fee_for`` the live venues are modelled with); liquidity taken from a snapshot is consumed, so
two orders cannot both take the same level. Latency runs on the clock; a partial-fill model
(fill fraction, seeded reject probability) and per-order faults (reject, hang, delay) make
every saga path reproducible. Fills can come back in the submit answer or later through the
event sink, like a venue's user stream.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Awaitable, Callable

import msgspec

from arbkit.core.clock import Clock
from arbkit.core.enums import (
    FillStatus,
    InstrumentKind,
    LiquiditySide,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    Venue,
)
from arbkit.core.events import (
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderFilled,
    OrderRejected,
)
from arbkit.core.fees import fee_for
from arbkit.core.orders import Balance, OrderRequest, OrderState, Position, SubmitResult
from arbkit.execution.intent import BookTop, asset_of
from arbkit.venues.base import EventSink

ZERO = Decimal(0)


class SnapshotRegistry:
    """The newest book top per instrument, as intents carried them (the paper market)."""

    def __init__(self) -> None:
        self._books: dict[str, BookTop] = {}

    def update(self, books: list[BookTop]) -> None:
        for b in books:
            cur = self._books.get(b.instrument_id)
            if cur is None or (b.last_update_ns, b.sequence) >= (cur.last_update_ns, cur.sequence):
                self._books[b.instrument_id] = b

    def get(self, instrument_id: str) -> BookTop | None:
        return self._books.get(instrument_id)


@dataclass(frozen=True)
class PaperFault:
    """What to do to one order instead of the normal model (any field left None = normal)."""

    reject: str | None = None
    fill_fraction: Decimal | None = None
    hang: bool = False  # accepted, then nothing until canceled (tests leg timeouts)
    fill_delay_s: float | None = None


@dataclass
class PaperConfig:
    latency_s: float = 0.0  # request -> answer, on the clock
    fill_delay_s: float = 0.0  # answer -> async fills (when async_fills)
    async_fills: bool = False  # fills/cancels through the event sink instead of the answer
    fill_fraction: Decimal = Decimal(1)  # share of the walkable quantity that fills
    reject_probability: float = 0.0
    seed: int = 0
    enforce_balances: bool = True
    faults: Callable[[OrderRequest], PaperFault | None] | None = None
    queue_position: bool = True  # resting orders wait behind the size already at their price
    depth: int = 50  # levels of the live book an order or a resting match reads


@dataclass
class _Resting:
    request: OrderRequest
    is_bid: bool
    ahead: Decimal  # size ahead of us at our price
    level: Decimal  # the size at our price when we last looked


@dataclass
class _PaperOrder:
    request: OrderRequest
    state: OrderState
    fills: list[OrderFilled] = field(default_factory=list)
    hung: bool = False


class PaperBackend:
    """An ``ExecutionBackend`` for one venue, filled from book snapshots."""

    def __init__(
        self,
        venue: Venue,
        clock: Clock,
        snapshots: SnapshotRegistry,
        config: PaperConfig | None = None,
        balances: dict[str, Decimal] | None = None,
        validator: Callable[[OrderRequest], Awaitable[tuple[bool, str]]] | None = None,
        book_of: Callable[[str], Any] | None = None,
    ) -> None:
        self.venue = venue
        self.book_of = book_of  # the venue's live books (resting orders fill from them), or None
        self.resting: dict[str, dict[str, _Resting]] = {}  # instrument id -> client order id -> order
        self.maker_fills = 0
        # the venue's order-test endpoint (KuCoin POST /api/v1/hf/orders/test, when credentials are
        # given): each order is validated there before it is simulated; a refusal is a rejection
        self.validator = validator
        self.clock = clock
        self.snapshots = snapshots
        self.config = config or PaperConfig()
        self._rng = random.Random(self.config.seed)
        self._sink: EventSink | None = None
        self.orders: dict[str, _PaperOrder] = {}
        self.submitted: list[OrderRequest] = []  # every request that reached the venue, in order
        self.cash: dict[str, Decimal] = dict(balances or {})
        self.shares: dict[str, Decimal] = {}  # instrument id -> signed position
        self._consumed: dict[tuple[str, int, int, bool, Decimal], Decimal] = {}
        self._fill_seq = 0
        self._tasks: set[asyncio.Task] = set()

    # --- wiring ----------------------------------------------------------------------------

    def set_event_sink(self, sink: EventSink) -> None:
        self._sink = sink

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        self._tasks.clear()

    def _emit(self, event: Event) -> None:
        if self._sink is not None:
            self._sink(event)

    # --- orders ----------------------------------------------------------------------------

    async def submit(self, request: OrderRequest) -> SubmitResult:
        t0 = self.clock.monotonic_ns()
        if self.config.latency_s > 0:
            await self.clock.sleep(self.config.latency_s)
        fault = self.config.faults(request) if self.config.faults else None
        if self.validator is not None:
            try:
                ok, why = await self.validator(request)
            except Exception as exc:  # noqa: BLE001 - a paper order the venue could not validate is not sent
                ok, why = False, f"{type(exc).__name__}: {exc}"
            if not ok:
                return SubmitResult(client_order_id=request.client_order_id,
                                    events=self._reject(request, f"refused by the venue's order test: {why}", "venue_test"),
                                    latency_ns=self.clock.monotonic_ns() - t0)
        events = self._execute(request, fault)
        self._maybe_rest(request)
        res = SubmitResult(client_order_id=request.client_order_id, latency_ns=self.clock.monotonic_ns() - t0)
        res.accepted = any(isinstance(e, OrderAccepted) for e in events)
        po = self.orders.get(request.client_order_id)
        res.venue_order_id = po.state.venue_order_id if po and res.accepted else ""
        delay = fault.fill_delay_s if fault and fault.fill_delay_s is not None else self.config.fill_delay_s
        if res.accepted and (self.config.async_fills or delay > 0):
            res.events = [e for e in events if isinstance(e, OrderAccepted)]
            later = [e for e in events if not isinstance(e, OrderAccepted)]
            if later:
                t = asyncio.get_running_loop().create_task(self._deliver_later(later, delay))
                self._tasks.add(t)
                t.add_done_callback(self._tasks.discard)
        else:
            res.events = events
        return res

    async def _deliver_later(self, events: list[Event], delay: float) -> None:
        if delay > 0:
            await self.clock.sleep(delay)
        for e in events:
            self._emit(e)

    async def submit_many(self, requests: list[OrderRequest]) -> list[SubmitResult]:
        return list(await asyncio.gather(*(self.submit(r) for r in requests)))

    def _reject(self, req: OrderRequest, reason: str, code: str = "") -> list[Event]:
        now = self.clock.now_ns()
        if req.client_order_id not in self.orders:
            self.orders[req.client_order_id] = _PaperOrder(req, self._state(req, OrderStatus.REJECTED, ""))
        return [
            OrderRejected(
                venue=self.venue,
                client_order_id=req.client_order_id,
                reason=reason,
                code=code,
                correlation_id=req.correlation_id,
                ts_recv=now,
            )
        ]

    def _state(self, req: OrderRequest, status: OrderStatus, voi: str) -> OrderState:
        return OrderState(
            venue=self.venue,
            instrument_id=req.instrument.id,
            client_order_id=req.client_order_id,
            venue_order_id=voi,
            side=req.side,
            price=req.price,
            quantity=req.quantity,
            filled_quantity=ZERO,
            status=status,
            order_type=req.order_type,
            time_in_force=req.time_in_force,
            ts_created=self.clock.now_ns(),
        )

    def _execute(self, req: OrderRequest, fault: PaperFault | None) -> list[Event]:
        now = self.clock.now_ns()
        inst = req.instrument
        if req.client_order_id in self.orders:
            # venues refuse a reused client order id: this is what makes a resend harmless
            return [
                OrderRejected(
                    venue=self.venue,
                    client_order_id=req.client_order_id,
                    reason="duplicate client order id",
                    code="DUPLICATE",
                    correlation_id=req.correlation_id,
                    ts_recv=now,
                )
            ]
        self.submitted.append(req)
        if inst.venue is not self.venue:
            return self._reject(req, f"instrument {inst.id} is not on {self.venue.value}")
        why = inst.check_order(req.price, req.quantity)
        if why:
            return self._reject(req, why, "INVALID")
        if fault and fault.reject:
            return self._reject(req, fault.reject, "FAULT")
        if self.config.reject_probability > 0 and self._rng.random() < self.config.reject_probability:
            return self._reject(req, "rejected by the paper reject model", "RANDOM")
        if self.config.enforce_balances:
            short = self._shortfall(req)
            if short:
                return self._reject(req, short, "BALANCE")
        voi = f"paper-{self.venue.value}-{len(self.orders) + 1}"
        po = _PaperOrder(req, self._state(req, OrderStatus.ACCEPTED, voi))
        self.orders[req.client_order_id] = po
        events: list[Event] = [
            OrderAccepted(venue=self.venue, client_order_id=req.client_order_id, venue_order_id=voi, correlation_id=req.correlation_id, ts_recv=now)
        ]
        if fault and fault.hang:
            po.hung = True
            return events
        fraction = fault.fill_fraction if fault and fault.fill_fraction is not None else self.config.fill_fraction
        target = inst.round_size(req.quantity * fraction)
        takes = self._walk(req, target)
        if req.time_in_force is TimeInForce.FOK and sum((q for _, q in takes), ZERO) < req.quantity:
            takes = []
        else:
            self._consume(req, takes)
        cum = ZERO
        for price, qty in takes:
            cum += qty
            self._fill_seq += 1
            fee = fee_for(inst.fee, price, qty, LiquiditySide.TAKER)
            fill = OrderFilled(
                venue=self.venue,
                instrument_id=inst.id,
                client_order_id=req.client_order_id,
                venue_order_id=voi,
                trade_id=f"paper-{self.venue.value}-t{self._fill_seq}",
                side=req.side,
                price=price,
                quantity=qty,
                fee=fee,
                fee_currency=inst.quote,
                liquidity=LiquiditySide.TAKER,
                cumulative_quantity=cum,
                leaves_quantity=req.quantity - cum,
                status=FillStatus.CONFIRMED,
                correlation_id=req.correlation_id,
                ts_recv=now,
            )
            self._book_fill(inst, req.side, price, qty, fee)
            po.fills.append(fill)
            events.append(fill)
        po.state.filled_quantity = cum
        if cum >= req.quantity:
            po.state.status = OrderStatus.FILLED
        elif req.order_type is OrderType.MARKET or req.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
            po.state.status = OrderStatus.CANCELED
            events.append(
                OrderCanceled(
                    venue=self.venue,
                    client_order_id=req.client_order_id,
                    venue_order_id=voi,
                    filled_quantity=cum,
                    reason="IOC remainder",
                    correlation_id=req.correlation_id,
                    ts_recv=now,
                )
            )
        else:
            po.state.status = OrderStatus.PARTIALLY_FILLED if cum else OrderStatus.ACCEPTED
        return events

    def _levels(self, req: OrderRequest) -> tuple[BookTop | None, list[tuple[Decimal, Decimal]]]:
        book = self.snapshots.get(req.instrument.id)
        if book is None:
            return None, []
        return book, (book.asks if req.side is Side.BUY else book.bids)

    def _walk(self, req: OrderRequest, target: Decimal) -> list[tuple[Decimal, Decimal]]:
        book, levels = self._levels(req)
        if book is None or target <= 0:
            return []
        inst = req.instrument
        out: list[tuple[Decimal, Decimal]] = []
        left = target
        for price, size in levels:
            if (req.side is Side.BUY and price > req.price) or (req.side is Side.SELL and price < req.price):
                break
            key = (book.instrument_id, book.last_update_ns, book.sequence, req.side is Side.BUY, price)
            avail = size - self._consumed.get(key, ZERO)
            take = inst.round_size(min(left, avail))
            if take > 0:
                out.append((price, take))
                left -= take
            if left <= 0:
                break
        return out

    def _consume(self, req: OrderRequest, takes: list[tuple[Decimal, Decimal]]) -> None:
        book, _ = self._levels(req)
        if book is None:
            return
        for price, qty in takes:
            key = (book.instrument_id, book.last_update_ns, book.sequence, req.side is Side.BUY, price)
            self._consumed[key] = self._consumed.get(key, ZERO) + qty

    def _shortfall(self, req: OrderRequest) -> str | None:
        inst = req.instrument
        if req.side is Side.BUY:
            need = req.quantity * req.price + fee_for(inst.fee, req.price, req.quantity, LiquiditySide.TAKER)
            have = self.cash.get(inst.quote, ZERO)
            cur = inst.quote
        else:
            cur = asset_of(inst)
            need = req.quantity
            have = self.cash.get(cur, ZERO) if inst.kind is InstrumentKind.SPOT else self.shares.get(inst.id, ZERO)
        if need > have:
            return f"insufficient balance: {need} {cur} needed, {have} available"
        return None

    def _book_fill(self, inst, side: Side, price: Decimal, qty: Decimal, fee: Decimal) -> None:
        sign = side.sign
        self.cash[inst.quote] = self.cash.get(inst.quote, ZERO) - sign * price * qty - fee
        if inst.kind is InstrumentKind.SPOT and inst.base:
            self.cash[inst.base] = self.cash.get(inst.base, ZERO) + sign * qty
        else:
            self.shares[inst.id] = self.shares.get(inst.id, ZERO) + sign * qty

    # --- resting orders ---------------------------------------------------------------------

    def on_book(self, instrument_id: str) -> None:
        """The venue's book changed: resting orders at this instrument may fill."""
        rest = self.resting.get(instrument_id)
        if rest:
            self._match_resting(instrument_id, rest)

    def _maybe_rest(self, req: OrderRequest) -> None:
        """An accepted GTC limit order with quantity left joins the queue at its price."""
        if self.book_of is None or req.order_type is not OrderType.LIMIT or req.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
            return
        po = self.orders.get(req.client_order_id)
        if po is None or po.hung or po.state.status not in (OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED):
            return
        is_bid = req.side is Side.BUY
        level = self._level_size(req.instrument.id, is_bid, req.price)
        self.resting.setdefault(req.instrument.id, {})[req.client_order_id] = _Resting(
            req, is_bid, level if self.config.queue_position else ZERO, level)

    def _live_top(self, instrument_id: str) -> BookTop | None:
        book = self.book_of(instrument_id) if self.book_of is not None else None
        return None if book is None else BookTop.from_book(instrument_id, book, self.config.depth)

    def _level_size(self, instrument_id: str, is_bid: bool, price: Decimal) -> Decimal:
        top = self._live_top(instrument_id)
        if top is None:
            return ZERO
        return next((q for p, q in (top.bids if is_bid else top.asks) if p == price), ZERO)

    def _match_resting(self, instrument_id: str, rest: dict[str, _Resting]) -> None:
        top = self._live_top(instrument_id)
        if top is None:
            return
        for coid, r in list(rest.items()):
            po = self.orders.get(coid)
            if po is None or po.state.status.is_terminal:
                rest.pop(coid, None)
                continue
            req = r.request
            level = next((q for p, q in (top.bids if r.is_bid else top.asks) if p == req.price), ZERO)
            traded = ZERO
            if level < r.level:  # size left our price: the size ahead of us first, then us
                gone = r.level - level
                used = min(r.ahead, gone)
                r.ahead -= used
                traded = gone - used
            r.level = level
            opposite = top.asks if r.is_bid else top.bids
            crossing = sum((q for p, q in opposite if (p <= req.price if r.is_bid else p >= req.price)), ZERO)
            if crossing > 0:  # the book trades through our price: the queue ahead is gone
                r.ahead = ZERO
                traded += crossing
            left = req.quantity - po.state.filled_quantity
            qty = req.instrument.round_size(min(left, traded))
            if qty <= 0:
                continue
            self._maker_fill(po, req, qty)
            if po.state.filled_quantity >= req.quantity:
                rest.pop(coid, None)

    def _maker_fill(self, po: _PaperOrder, req: OrderRequest, qty: Decimal) -> None:
        inst = req.instrument
        self._fill_seq += 1
        self.maker_fills += 1
        fee = fee_for(inst.fee, req.price, qty, LiquiditySide.MAKER)
        cum = po.state.filled_quantity + qty
        fill = OrderFilled(venue=self.venue, instrument_id=inst.id, client_order_id=req.client_order_id,
                           venue_order_id=po.state.venue_order_id, trade_id=f"{self._trade_prefix}-{self.venue.value}-t{self._fill_seq}",
                           side=req.side, price=req.price, quantity=qty, fee=fee, fee_currency=inst.quote,
                           liquidity=LiquiditySide.MAKER, cumulative_quantity=cum, leaves_quantity=req.quantity - cum,
                           status=FillStatus.CONFIRMED, correlation_id=req.correlation_id, ts_recv=self.clock.now_ns())
        self._book_fill(inst, req.side, req.price, qty, fee)
        po.fills.append(fill)
        po.state.filled_quantity = cum
        po.state.status = OrderStatus.FILLED if cum >= req.quantity else OrderStatus.PARTIALLY_FILLED
        self._deliver_fill(fill)

    _trade_prefix = "paper"

    def _deliver_fill(self, fill: OrderFilled) -> None:
        """A resting order's fill reaches us the way a venue's user stream delivers it: through the sink."""
        self._emit(fill)

    async def cancel(self, client_order_id: str, venue_order_id: str = "") -> list[Event]:
        if self.config.latency_s > 0:
            await self.clock.sleep(self.config.latency_s)
        now = self.clock.now_ns()
        po = self.orders.get(client_order_id)
        if po is not None:
            self.resting.get(po.request.instrument.id, {}).pop(client_order_id, None)
        if po is None:
            return [OrderCancelRejected(venue=self.venue, client_order_id=client_order_id, reason="unknown order", ts_recv=now)]
        if po.state.status.is_terminal:
            return [OrderCancelRejected(venue=self.venue, client_order_id=client_order_id, reason=f"order is {po.state.status.value}", ts_recv=now)]
        po.state.status = OrderStatus.CANCELED
        return [
            OrderCanceled(
                venue=self.venue,
                client_order_id=client_order_id,
                venue_order_id=po.state.venue_order_id,
                filled_quantity=po.state.filled_quantity,
                reason="canceled on request",
                correlation_id=po.request.correlation_id,
                ts_recv=now,
            )
        ]

    async def cancel_all(self) -> list[Event]:
        out: list[Event] = []
        for coid, po in list(self.orders.items()):
            if not po.state.status.is_terminal:
                out.extend(await self.cancel(coid))
        return out

    async def open_orders(self) -> list[OrderState]:
        return [msgspec_copy(po.state) for po in self.orders.values() if not po.state.status.is_terminal]

    async def order_state(self, client_order_id: str, venue_order_id: str = "") -> OrderState | None:
        po = self.orders.get(client_order_id)
        return msgspec_copy(po.state) if po else None

    async def fills_since(self, ts_ns: int) -> list[Event]:
        return [f for po in self.orders.values() for f in po.fills if f.ts_recv >= ts_ns]

    async def balances(self) -> list[Balance]:
        return [Balance(currency=c, total=a, available=a) for c, a in sorted(self.cash.items())]

    async def positions(self) -> list[Position]:
        return [Position(venue=self.venue, instrument_id=i, quantity=q) for i, q in sorted(self.shares.items()) if q]


def msgspec_copy(state: OrderState) -> OrderState:
    """A copy: callers must not be able to change the venue's own record."""
    return msgspec.structs.replace(state)


__all__ = ["PaperBackend", "PaperConfig", "PaperFault", "SnapshotRegistry"]
