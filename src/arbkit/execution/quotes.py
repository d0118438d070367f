"""The quote manager: keeps a quoting strategy's resting orders equal to the quotes it wants.

A strategy emits :class:`~arbkit.strategies.base.QuoteRequest` (every quote it wants live for one
key) and :class:`~arbkit.strategies.base.UnwindRequest`; the host hands them to
:meth:`QuoteManager.submit`. For each key a single worker reconciles what rests at the venue with
what is wanted, through the same execution backends the engine uses (paper, sim, live):

* **place** a missing quote (GTC limit; post-only where the venue has it: Polymarket ``postOnly``,
  Kalshi ``post_only``, KuCoin ``postOnly``); **cancel** one no longer wanted; **replace** one whose
  price or size changed -- cancel first, place only once the venue says the old one is gone, so two
  orders of one outcome never rest together and the strategy's inventory limit holds even if both
  would fill;
* a quote younger than ``min_quote_life_s`` is not replaced (the change waits); places and
  cancels spend a per-venue token bucket (``orders_per_s``), a change that finds it empty waits;
* **safety cancels bypass both**: kill switch, pause or node not trading (``can_send`` false), a
  venue connection down (``ConnectionStateChanged``), a stale or untradeable book, a resolved
  market -- every quote of what is affected is canceled at once and nothing is placed until it
  clears.

Every change is journaled (``QuoteChanged``: place / cancel / replace / rejected / gone, with the
strategy's or the manager's reason). Fills of our quotes come back through the engine's event path
(:meth:`handle`, the engine's ``order_listener``) or the submit answers; each is booked once per
trade id into the strategy's inventory and the :class:`~arbkit.execution.portfolio.Portfolio`
(``QuoteFilled``); when the smallest position of a key grows, sets are completed (``SetsCompleted``
with the spread they captured) and, for a Polymarket binary market, merged back into collateral
through a :class:`Merger` when that is worth its cost (``SetsMerged``), else held (``SetsHeld``).
An unwind request is an IOC sell (``QuoteUnwound``). ``QuoteInventory`` records the positions after
every change (the report's inventory over time).

The P&L split the report shows: spread (completed sets x (1 - sum of average entry prices)),
merge (collateral returned - sets - the merge's cost), unwind (proceeds - average entry of what was
sold) and fees (every fill's fee). Sets held to resolution are paid by the settlement component.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Protocol

from arbkit.core.clock import NS, Clock
from arbkit.core.enums import ConnectionState, FillStatus, OrderStatus, OrderType, Side, TimeInForce, Venue
from arbkit.core.events import (
    ConnectionStateChanged,
    Event,
    FillStatusChanged,
    MarketResolved,
    OrderAccepted,
    OrderCanceled,
    OrderCancelRejected,
    OrderExpired,
    OrderFilled,
    OrderRejected,
)
from arbkit.core.ids import new_correlation_id
from arbkit.core.instruments import Instrument
from arbkit.core.orders import OrderRequest
from arbkit.strategies.base import InventoryChange, Quote, QuoteRequest, UnwindRequest
from arbkit.venues.common.ratelimit import TokenBucket

log = logging.getLogger("arbkit.execution.quotes")

ZERO = Decimal(0)
ONE = Decimal(1)
BPS = Decimal(10_000)
QUOTE_PREFIX = "q-"
# venues whose order entry has a post-only flag (docs/venues/*.md)
POST_ONLY_VENUES = frozenset({Venue.POLYMARKET, Venue.KALSHI, Venue.KUCOIN})
TERMINAL = {OrderStatus.CANCELED, OrderStatus.FILLED, OrderStatus.REJECTED, OrderStatus.EXPIRED}


@dataclass
class QuoteManagerConfig:
    min_quote_life_s: float = 1.0
    orders_per_s: dict[Venue, float] = field(default_factory=dict)  # default 5 per venue
    default_orders_per_s: float = 5.0
    post_only: bool = True
    watchdog_s: float = 0.1
    max_silence_ns: int = 2 * NS
    merge_min_sets: Decimal = ONE
    merge_cost: Decimal = Decimal("0.01")
    merge_max_cost_bps: Decimal = Decimal(100)
    max_order_notional: Decimal | None = None  # risk.max_order_notional: a larger quote is refused here


@dataclass(frozen=True)
class MergeResult:
    returned: Decimal  # collateral back
    tx_hash: str = ""
    route: str = "paper"
    cost: Decimal = ZERO  # what the merge cost (gas in collateral), when known


class Merger(Protocol):
    async def merge(self, market_id: str, sets: Decimal, neg_risk: bool) -> MergeResult: ...


class BookedMerger:
    """Paper mode: no chain, the merge is booked as it would be (1 per set, the configured cost)."""

    def __init__(self, cost: Decimal = ZERO) -> None:
        self.cost = cost
        self.merged: list[tuple[str, Decimal]] = []

    async def merge(self, market_id: str, sets: Decimal, neg_risk: bool) -> MergeResult:
        self.merged.append((market_id, sets))
        return MergeResult(returned=sets, route="paper", cost=self.cost)


class ChainMerger:
    """EOA route: a signed ``mergePositions`` through a Polygon JSON-RPC endpoint (the same calls
    ``arbkit positions merge`` makes; the simulator's ``/rpc`` verifies and applies them). The
    adapter is approved on the CTF first when it is not yet."""

    def __init__(self, rpc_url: str, private_key: str, chain_id: int, session: Any, *, route: str = "adapter",
                 max_fee_gwei: int = 500, timeout_s: float = 30.0, poll_s: float = 0.2) -> None:
        from arbkit.venues.polymarket import chain, ctf

        self._chain, self._ctf = chain, ctf
        self.rpc = chain.JsonRpc(rpc_url, session)
        self.signer = ctf.TxSigner(private_key)
        self.chain_id = chain_id
        self.addrs = ctf.addresses(chain_id)
        self.route = route
        self.max_fee_wei = max_fee_gwei * 10 ** 9
        self.timeout_s = timeout_s
        self.poll_s = poll_s
        self._lock = asyncio.Lock()  # one transaction at a time: nonces are sequential

    async def merge(self, market_id: str, sets: Decimal, neg_risk: bool) -> MergeResult:
        chain, ctf = self._chain, self._ctf
        async with self._lock:
            holder = self.signer.address
            units = ctf.share_units(sets)
            call = ctf.merge_call(market_id, units, neg_risk=neg_risk, route=self.route, addrs=self.addrs)
            steps = []
            if self.route != "ctf" and not await self.rpc.is_approved(self.addrs.conditional_tokens, holder, call.to):
                steps.append(ctf.approval_call(call.to, self.addrs))
            steps.append(call)
            before = await self.rpc.erc20_balance(self.addrs.collateral, holder)
            rec: dict[str, Any] = {}
            for c in steps:
                signed = await chain.prepare(self.rpc, self.signer, c, chain_id=self.chain_id, max_fee_wei=self.max_fee_wei)
                rec = await chain.send(self.rpc, signed, timeout_s=self.timeout_s, poll_s=self.poll_s)
            after = await self.rpc.erc20_balance(self.addrs.collateral, holder)
            return MergeResult(returned=Decimal(after - before).scaleb(-6), tx_hash=str(rec.get("transactionHash", "")),
                               route="eoa")


@dataclass
class LiveQuote:
    key: str
    strategy: str
    instrument: Instrument
    side: Side
    price: Decimal
    size: Decimal
    coid: str
    placed_ns: int
    purpose: str = "quote"  # quote | unwind
    reason: str = ""
    state: str = "sending"  # sending | live | canceling | unknown | done
    venue_order_id: str = ""
    filled: Decimal = ZERO
    trades: dict[str, tuple[Decimal, Decimal, Decimal]] = field(default_factory=dict)  # trade id -> (qty, px, fee)

    @property
    def remaining(self) -> Decimal:
        return self.size - self.filled


@dataclass
class KeyState:
    key: str
    strategy: str
    instruments: tuple[Instrument, ...] = ()
    req: QuoteRequest | None = None
    live: dict[str, LiveQuote] = field(default_factory=dict)  # instrument id -> the one order resting there
    pos: dict[str, Decimal] = field(default_factory=dict)
    cost: dict[str, Decimal] = field(default_factory=dict)  # fees included
    entry: dict[str, Decimal] = field(default_factory=dict)  # notional, fees excluded
    dirty: bool = False
    task: asyncio.Task | None = None
    wake: asyncio.Task | None = None
    blocked: str = ""
    merging: bool = False
    retired: bool = False
    completed: Decimal = ZERO
    merged: Decimal = ZERO
    refused: set[tuple[str, Decimal, Decimal]] = field(default_factory=set)  # quotes refused here (not asked again)

    def sets(self) -> Decimal:
        return min((self.pos.get(i.id, ZERO) for i in self.instruments), default=ZERO)


def quote_actions(live: dict[str, LiveQuote], want: dict[str, Quote]) -> list[tuple[str, str]]:
    """What moves the resting orders towards the wanted quotes, per instrument: ``place``,
    ``cancel``, ``replace`` (cancel, then place once gone) or ``wait`` (an answer is outstanding).
    An order whose price and remaining size equal the wanted quote is kept (no action)."""
    out: list[tuple[str, str]] = []
    for iid in dict.fromkeys([*live, *want]):
        q = want.get(iid)
        lq = live.get(iid)
        if lq is None:
            if q is not None:
                out.append((iid, "place"))
        elif lq.state in ("sending", "canceling", "unknown"):
            out.append((iid, "wait"))
        elif q is None:
            out.append((iid, "cancel"))
        elif q.price != lq.price or q.size != lq.remaining:
            out.append((iid, "replace"))
    return out


class QuoteManager:
    def __init__(self, *, backends: dict[Venue, Any], journal: Any, clock: Clock, portfolio: Any = None,
                 can_send: Callable[[], bool] = lambda: True,
                 book_problem: Callable[[str, int], str | None] = lambda iid, now: None,
                 config: QuoteManagerConfig | None = None, merger: Merger | None = None,
                 on_inventory: Callable[[str, InventoryChange], None] = lambda s, c: None,
                 route_event: Callable[[Event], None] | None = None) -> None:
        self.backends = backends
        self.journal = journal
        self.clock = clock
        self.portfolio = portfolio
        self.can_send = can_send
        self.book_problem = book_problem
        self.config = config or QuoteManagerConfig()
        self.merger = merger
        self.on_inventory = on_inventory
        # submit/cancel answers go where the backends' streams go (the engine journals them and
        # calls handle); without an engine they are journaled and handled here
        self.route_event = route_event or self._journal_and_handle
        self.keys: dict[str, KeyState] = {}
        self.by_coid: dict[str, LiveQuote] = {}
        self.suspended: dict[Venue, set[str]] = {}  # venue -> connections down
        self._buckets: dict[Venue, TokenBucket] = {}
        self._tasks: set[asyncio.Task] = set()
        self._was_sending = True
        self.counts: dict[str, int] = {}

    # --- in: requests and facts ------------------------------------------------------------------

    def submit(self, req: Any) -> None:
        """A strategy's QuoteRequest or UnwindRequest (synchronous: the work runs in tasks)."""
        if isinstance(req, UnwindRequest):
            self._spawn(self._unwind(req), f"unwind-{req.instrument.symbol[:12]}")
            return
        ks = self._key(req.key, req.strategy, req.instruments)
        ks.req = req
        self._kick(ks)

    def _key(self, key: str, strategy: str, instruments: tuple[Instrument, ...] = ()) -> KeyState:
        ks = self.keys.get(key)
        if ks is None:
            ks = self.keys[key] = KeyState(key=key, strategy=strategy)
        if instruments and not ks.instruments:
            ks.instruments = tuple(instruments)
            for i in instruments:
                ks.pos.setdefault(i.id, ZERO)
                ks.cost.setdefault(i.id, ZERO)
                ks.entry.setdefault(i.id, ZERO)
        return ks

    def on_status_event(self, event: Event) -> None:
        """Bus subscriber (market.status): connection changes and resolutions. Never raises."""
        try:
            if isinstance(event, ConnectionStateChanged):
                down = self.suspended.setdefault(event.venue, set())
                if event.state in (ConnectionState.DISCONNECTED, ConnectionState.STALLED):
                    if event.connection not in down:
                        down.add(event.connection)
                        self._kick_venue(event.venue)
                elif event.state is ConnectionState.CONNECTED and event.connection in down:
                    down.discard(event.connection)
                    self._kick_venue(event.venue)
            elif isinstance(event, MarketResolved):
                ids = set(event.instrument_ids)
                for ks in self.keys.values():
                    if not ks.retired and ids & {i.id for i in ks.instruments}:
                        self._retire(ks, f"market resolved ({event.stage})")
        except Exception:  # noqa: BLE001 - a status event must never take the bus subscriber down
            log.exception("quote manager: status event %s", event.kind)

    def handle(self, event: Event) -> bool:
        """An order event; True when it belongs to one of our quotes (then it is dealt with here)."""
        coid = getattr(event, "client_order_id", "")
        lq = self.by_coid.get(coid)
        if lq is None:
            return False
        try:
            self._apply(lq, event)
        except Exception:  # noqa: BLE001 - one bad event must not stop the stream
            log.exception("quote manager: event %s of %s", event.kind, coid)
        return True

    # --- the per-key worker ------------------------------------------------------------------------

    def _spawn(self, coro: Any, name: str) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _kick(self, ks: KeyState) -> None:
        ks.dirty = True
        if ks.task is None or ks.task.done():
            ks.task = self._spawn(self._work(ks), f"quotes-{ks.key[-16:]}")

    def _kick_venue(self, venue: Venue) -> None:
        for ks in self.keys.values():
            if any(i.venue is venue for i in ks.instruments):
                self._kick(ks)

    async def _work(self, ks: KeyState) -> None:
        while ks.dirty:
            ks.dirty = False
            try:
                delay = await self._reconcile(ks)
            except Exception:  # noqa: BLE001 - the next kick tries again
                log.exception("quote manager: reconcile %s", ks.key)
                delay = 1.0
            if delay is not None and not ks.dirty:
                if ks.wake is not None and not ks.wake.done():
                    ks.wake.cancel()
                ks.wake = self._spawn(self._wake_after(ks, delay), f"quotes-wake-{ks.key[-12:]}")

    async def _wake_after(self, ks: KeyState, delay: float) -> None:
        await self.clock.sleep(max(delay, 0.001))
        self._kick(ks)

    def _blocked(self, ks: KeyState, now_ns: int) -> str:
        """Why nothing of this key may rest now ("" when quotes may rest)."""
        if ks.retired:
            return "market resolved or closed"
        if not self.can_send():
            return "not sending (kill switch, pause or node stopping)"
        for i in ks.instruments:
            if self.suspended.get(i.venue):
                return f"{i.venue.value} disconnected ({', '.join(sorted(self.suspended[i.venue]))})"
        for i in ks.instruments:
            bad = self.book_problem(i.id, now_ns)
            if bad:
                return f"book not tradeable: {i.id}: {bad}"
        return ""

    def _bucket(self, venue: Venue) -> TokenBucket:
        b = self._buckets.get(venue)
        if b is None:
            rate = self.config.orders_per_s.get(venue, self.config.default_orders_per_s)
            b = self._buckets[venue] = TokenBucket(rate, max(1, int(rate)),
                                                   monotonic=lambda: self.clock.monotonic_ns() / NS)
        return b

    async def _reconcile(self, ks: KeyState) -> float | None:
        """One pass: cancel, replace and place towards the wanted quotes. Returns the seconds after
        which a change held back (minimum life, rate) should be tried again."""
        now = self.clock.monotonic_ns()
        block = self._blocked(ks, self.clock.now_ns())
        ks.blocked = block
        req = ks.req
        want: dict[str, Quote] = {} if block or req is None else {q.instrument.id: q for q in req.quotes}
        reason = block or (req.reason if req is not None else "no quote")
        force = bool(block)
        delay: float | None = None
        min_life_ns = int(self.config.min_quote_life_s * NS)

        def later(s: float) -> None:
            nonlocal delay
            delay = s if delay is None else min(delay, s)

        for iid, action in quote_actions(ks.live, want):
            q = want.get(iid)
            lq = ks.live.get(iid)
            if action == "wait":
                if lq is not None and lq.state == "unknown":
                    later(1.0)
                continue  # the venue's answer decides; it kicks this key again
            if lq is not None:  # cancel or replace
                if not force:
                    age = now - lq.placed_ns
                    if age < min_life_ns:
                        later((min_life_ns - age) / NS)
                        continue
                    if not self._bucket(lq.instrument.venue).try_acquire():
                        later(1 / self._bucket(lq.instrument.venue).rate)
                        continue
                why = reason if q is None else (f"{reason}: {lq.price} x {lq.remaining} -> {q.price} x {q.size}")
                await self._cancel(lq, action, why)
                if ks.live.get(iid) is not None:
                    continue  # not gone yet: its cancel event kicks the key again
            if q is None or block or (iid, q.price, q.size) in ks.refused:
                continue
            if not self._bucket(q.instrument.venue).try_acquire():
                later(1 / self._bucket(q.instrument.venue).rate)
                continue
            await self._place(ks, q, reason)
        return delay

    # --- orders ------------------------------------------------------------------------------------

    def _journal(self, kind: str, rec: dict[str, Any], cid: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        try:
            self.journal.append(kind, rec, cid)
        except Exception:  # noqa: BLE001 - the engine's journal failure trips the kill switch itself
            log.exception("quote manager: journal %s", kind)

    def _journal_and_handle(self, event: Event) -> None:
        with contextlib.suppress(Exception):
            self.journal.append(event.kind, event, getattr(event, "client_order_id", ""))
        self.handle(event)

    def _changed(self, lq: LiveQuote, action: str, reason: str, **extra: Any) -> None:
        rec = {"key": lq.key, "strategy": lq.strategy, "instrument_id": lq.instrument.id, "action": action,
               "reason": reason, "client_order_id": lq.coid, "side": lq.side.value, "price": str(lq.price),
               "size": str(lq.size), "filled": str(lq.filled), "purpose": lq.purpose, "ts_ns": self.clock.now_ns()}
        rec.update(extra)
        self._journal("QuoteChanged", rec, lq.key)

    async def _place(self, ks: KeyState, q: Quote, reason: str, *, purpose: str = "quote",
                     tif: TimeInForce = TimeInForce.GTC) -> LiveQuote:
        inst = q.instrument
        cap = self.config.max_order_notional
        if cap is not None and q.price * q.size > cap:
            ks.refused.add((inst.id, q.price, q.size))
            log.warning("quote %s %s x %s refused: notional above risk.max_order_notional %s", inst.id, q.price, q.size, cap)
            self._journal("QuoteChanged", {"key": ks.key, "strategy": ks.strategy, "instrument_id": inst.id,
                                           "action": "refused", "reason": f"notional {q.price * q.size} above "
                                           f"risk.max_order_notional {cap}", "client_order_id": "", "side": q.side.value,
                                           "price": str(q.price), "size": str(q.size), "filled": "0", "purpose": purpose,
                                           "ts_ns": self.clock.now_ns()}, ks.key)
            lq = LiveQuote(key=ks.key, strategy=ks.strategy, instrument=inst, side=q.side, price=q.price, size=q.size,
                           coid="", placed_ns=self.clock.monotonic_ns(), purpose=purpose, reason=reason, state="done")
            if purpose == "unwind":
                self._done_unwind(lq)
            return lq
        coid = new_correlation_id("q")
        lq = LiveQuote(key=ks.key, strategy=ks.strategy, instrument=inst, side=q.side, price=q.price, size=q.size,
                       coid=coid, placed_ns=self.clock.monotonic_ns(), purpose=purpose, reason=reason)
        self.by_coid[coid] = lq
        if purpose == "quote":
            ks.live[inst.id] = lq
        post_only = self.config.post_only and purpose == "quote" and inst.venue in POST_ONLY_VENUES
        req = OrderRequest(instrument=inst, client_order_id=coid, side=q.side, quantity=q.size, price=q.price,
                           order_type=OrderType.LIMIT, time_in_force=tif, post_only=post_only,
                           correlation_id=ks.key)
        self._changed(lq, "place" if purpose == "quote" else "unwind", reason, post_only=post_only,
                      time_in_force=tif.value)
        try:
            res = await self.backends[inst.venue].submit(req)
        except Exception as exc:  # noqa: BLE001 - unknown, not absent: ask the venue before anything else
            log.warning("quote %s: submit failed: %s", coid, exc)
            lq.state = "unknown"
            self._spawn(self._lookup(lq, f"submit failed: {type(exc).__name__}: {exc}"), f"quote-lookup-{coid}")
            return lq
        if res.venue_order_id and not lq.venue_order_id:
            lq.venue_order_id = res.venue_order_id
        for ev in res.events:
            self.route_event(ev)
        if lq.state == "sending":
            lq.state = "live" if res.accepted else lq.state
            if not res.accepted and not any(isinstance(e, OrderRejected) for e in res.events):
                lq.state = "unknown"
                self._spawn(self._lookup(lq, "submit answer neither accepted nor rejected"), f"quote-lookup-{coid}")
        return lq

    async def _cancel(self, lq: LiveQuote, action: str, reason: str) -> None:
        if lq.state == "done":
            return
        lq.state = "canceling"
        self._changed(lq, action, reason)
        try:
            evs = await self.backends[lq.instrument.venue].cancel(lq.coid, lq.venue_order_id)
        except Exception as exc:  # noqa: BLE001 - ask the venue what happened
            log.warning("quote %s: cancel failed: %s", lq.coid, exc)
            evs = []
        for ev in evs:
            self.route_event(ev)
        if lq.state != "done":
            await self._lookup(lq, "cancel answered without a terminal event")

    async def _lookup(self, lq: LiveQuote, why: str) -> None:
        """Ask the venue about an order whose state we do not know; a terminal or absent order is
        done (its fills come through the stream), an open one is live again (the key re-decides)."""
        try:
            st = await self.backends[lq.instrument.venue].order_state(lq.coid, lq.venue_order_id)
        except Exception as exc:  # noqa: BLE001
            lq.state = "unknown"
            log.warning("quote %s: state unknown (%s; lookup: %s)", lq.coid, why, exc)
            self._kick_later(lq)
            return
        if lq.state == "done":
            return
        if st is None:
            self._done(lq, "gone", f"{why}; the venue does not know the order")
            return
        if st.venue_order_id:
            lq.venue_order_id = st.venue_order_id
        if st.status in TERMINAL:
            self._done(lq, "gone", f"{why}; the venue says {st.status.value}")
        else:
            lq.state = "live"
            self._kick_later(lq)

    def _kick_later(self, lq: LiveQuote) -> None:
        ks = self.keys.get(lq.key)
        if ks is not None:
            self._kick(ks)

    def _done(self, lq: LiveQuote, action: str, reason: str) -> None:
        if lq.state == "done":
            return
        lq.state = "done"
        self._changed(lq, action, reason)
        ks = self.keys.get(lq.key)
        if ks is None:
            return
        if lq.purpose == "quote":
            if ks.live.get(lq.instrument.id) is lq:
                del ks.live[lq.instrument.id]
            self._kick(ks)
        else:  # an unwind ended: the strategy may ask again
            self._done_unwind(lq)

    def _done_unwind(self, lq: LiveQuote) -> None:
        self.on_inventory(lq.strategy, InventoryChange(key=lq.key, instrument_id=lq.instrument.id, delta_qty=ZERO,
                                                       delta_cost=ZERO, why="unwind_done", now_ns=self.clock.now_ns()))

    def _apply(self, lq: LiveQuote, event: Event) -> None:
        if isinstance(event, OrderAccepted):
            lq.venue_order_id = lq.venue_order_id or event.venue_order_id
            if lq.state in ("sending", "unknown"):
                lq.state = "live"
        elif isinstance(event, OrderRejected):
            self._done(lq, "rejected", f"{event.code or 'rejected'}: {event.reason}")
        elif isinstance(event, OrderFilled):
            if event.trade_id in lq.trades:
                return
            lq.trades[event.trade_id] = (event.quantity, event.price, event.fee)
            lq.filled += event.quantity
            self._book(lq, event.quantity, event.price, event.fee, event.fee_currency, event.trade_id, sign=1)
            if lq.filled >= lq.size:
                self._done(lq, "filled", "filled")
        elif isinstance(event, FillStatusChanged):
            if event.status is FillStatus.FAILED and event.trade_id in lq.trades:
                q, px, fee = lq.trades.pop(event.trade_id)
                lq.filled -= q
                self._book(lq, q, px, fee, lq.instrument.quote, event.trade_id, sign=-1)
        elif isinstance(event, (OrderCanceled, OrderExpired)):
            self._done(lq, "gone", getattr(event, "reason", "") or event.kind)
        elif isinstance(event, OrderCancelRejected):
            pass  # filled or already gone: the lookup after the cancel decides

    # --- inventory ---------------------------------------------------------------------------------

    def _book(self, lq: LiveQuote, qty: Decimal, px: Decimal, fee: Decimal, fee_ccy: str, trade_id: str, sign: int) -> None:
        ks = self.keys[lq.key]
        iid = lq.instrument.id
        now = self.clock.now_ns()
        if self.portfolio is not None:
            self.portfolio.apply_fill(lq.instrument, lq.side, qty, px, fee, fee_ccy, sign=sign)
        sets_before = ks.sets()
        if lq.side is Side.BUY:
            ks.pos[iid] = ks.pos.get(iid, ZERO) + sign * qty
            ks.cost[iid] = ks.cost.get(iid, ZERO) + sign * (qty * px + fee)
            ks.entry[iid] = ks.entry.get(iid, ZERO) + sign * qty * px
            delta_cost = sign * (qty * px + fee)
            self._journal("QuoteFilled", {"key": ks.key, "strategy": ks.strategy, "instrument_id": iid,
                                          "client_order_id": lq.coid, "trade_id": trade_id, "side": "BUY",
                                          "price": str(px), "quantity": str(sign * qty), "fee": str(sign * fee),
                                          "ts_ns": now}, ks.key)
            why = "fill" if sign > 0 else "reversal"
        else:  # an unwind sold shares: their average entry leaves with them
            held = ks.pos.get(iid, ZERO)
            basis_fee = (ks.cost[iid] * qty / held) if held > 0 else ZERO
            basis = (ks.entry[iid] * qty / held) if held > 0 else ZERO
            ks.pos[iid] = held - sign * qty
            ks.cost[iid] -= sign * basis_fee
            ks.entry[iid] -= sign * basis
            delta_cost = -sign * basis_fee
            proceeds = qty * px
            self._journal("QuoteUnwound", {"key": ks.key, "strategy": ks.strategy, "instrument_id": iid,
                                           "client_order_id": lq.coid, "trade_id": trade_id, "price": str(px),
                                           "quantity": str(sign * qty), "proceeds": str(sign * proceeds),
                                           "basis": str(sign * basis), "fee": str(sign * fee),
                                           "pnl": str(sign * (proceeds - basis)), "reason": lq.reason, "ts_ns": now},
                          ks.key)
            why = "unwind"
        sets_after = ks.sets()
        if sets_after > sets_before and lq.side is Side.BUY and sign > 0:
            new = sets_after - sets_before
            ks.completed += new
            avg = sum(((ks.entry[i.id] / ks.pos[i.id]) for i in ks.instruments if ks.pos[i.id] > 0), ZERO)
            self._journal("SetsCompleted", {"key": ks.key, "strategy": ks.strategy, "sets": str(new),
                                            "avg_prices_sum": str(avg), "spread": str(new * (ONE - avg)),
                                            "ts_ns": now}, ks.key)
        self._inventory_record(ks, why)
        self.on_inventory(ks.strategy, InventoryChange(key=ks.key, instrument_id=iid,
                                                       delta_qty=(sign * qty if lq.side is Side.BUY else -sign * qty),
                                                       delta_cost=delta_cost, why=why, now_ns=now))
        if sets_after > sets_before:
            self._maybe_merge(ks)

    def _inventory_record(self, ks: KeyState, why: str) -> None:
        sets = ks.sets()
        self._journal("QuoteInventory", {"key": ks.key, "strategy": ks.strategy, "why": why,
                                         "positions": {i: str(q) for i, q in ks.pos.items()}, "sets": str(sets),
                                         "unmatched": {i: str(q - sets) for i, q in ks.pos.items()},
                                         "cost": {i: str(c) for i, c in ks.cost.items()},
                                         "entry": {i: str(c) for i, c in ks.entry.items()},
                                         "ts_ns": self.clock.now_ns()}, ks.key)

    def _maybe_merge(self, ks: KeyState) -> None:
        req = ks.req
        sets = ks.sets()
        if sets <= 0 or ks.merging:
            return
        if req is None or req.merge_market is None or self.merger is None:
            why = "no merge for this set (held to resolution)" if req is None or req.merge_market is None else "no merge route configured"
            self._journal("SetsHeld", {"key": ks.key, "strategy": ks.strategy, "sets": str(sets), "reason": why,
                                       "ts_ns": self.clock.now_ns()}, ks.key)
            return
        cfg = self.config
        if sets < cfg.merge_min_sets or cfg.merge_cost * BPS > sets * cfg.merge_max_cost_bps:
            self._journal("SetsHeld", {"key": ks.key, "strategy": ks.strategy, "sets": str(sets),
                                       "reason": f"not worth a merge yet (cost {cfg.merge_cost}, min {cfg.merge_min_sets} sets, "
                                                 f"at most {cfg.merge_max_cost_bps} bps of the sets)",
                                       "ts_ns": self.clock.now_ns()}, ks.key)
            return
        ks.merging = True
        self._spawn(self._merge(ks, req.merge_market, sets, req.neg_risk), f"merge-{ks.key[-12:]}")

    async def _merge(self, ks: KeyState, market: str, sets: Decimal, neg_risk: bool) -> None:
        assert self.merger is not None
        try:
            try:
                res = await self.merger.merge(market, sets, neg_risk)
            except Exception as exc:  # noqa: BLE001 - journaled; the sets stay held
                self._journal("SetsMergeFailed", {"key": ks.key, "strategy": ks.strategy, "market_id": market,
                                                  "sets": str(sets), "reason": f"{type(exc).__name__}: {exc}",
                                                  "ts_ns": self.clock.now_ns()}, ks.key)
                log.warning("merge of %s sets of %s failed: %s", sets, market, exc)
                return
            cost = res.cost if res.cost else self.config.merge_cost
            now = self.clock.now_ns()
            basis = ZERO
            for i, inst in enumerate(ks.instruments):
                held = ks.pos[inst.id]
                b_fee = ks.cost[inst.id] * sets / held if held > 0 else ZERO
                b = ks.entry[inst.id] * sets / held if held > 0 else ZERO
                ks.pos[inst.id] = held - sets
                ks.cost[inst.id] -= b_fee
                ks.entry[inst.id] -= b
                basis += b_fee
                if self.portfolio is not None:  # the pair leaves at 1 for the set: cash + sets
                    self.portfolio.apply_fill(inst, Side.SELL, sets, ONE if i == 0 else ZERO, ZERO, inst.quote)
                self.on_inventory(ks.strategy, InventoryChange(key=ks.key, instrument_id=inst.id, delta_qty=-sets,
                                                               delta_cost=-b_fee, why="merge", now_ns=now))
            ks.merged += sets
            self._journal("SetsMerged", {"key": ks.key, "strategy": ks.strategy, "market_id": market,
                                         "sets": str(sets), "returned": str(res.returned), "basis": str(basis),
                                         "cost": str(cost), "pnl": str(res.returned - sets - cost),
                                         "tx_hash": res.tx_hash, "route": res.route, "ts_ns": now}, ks.key)
            self._inventory_record(ks, "merge")
        finally:
            ks.merging = False
        if ks.sets() > 0:
            self._maybe_merge(ks)

    async def _unwind(self, req: UnwindRequest) -> None:
        ks = self._key(req.key, req.strategy)
        held = ks.pos.get(req.instrument.id, ZERO) - ks.sets()
        qty = req.instrument.round_size(min(req.quantity, held)) if held > 0 else ZERO
        blocked = self._blocked(ks, self.clock.now_ns()) if ks.instruments else ("" if self.can_send() else "not sending")
        if qty <= 0 or blocked:  # nothing to sell, or no sending now (kill switch, disconnect, stale book)
            self.on_inventory(req.strategy, InventoryChange(key=req.key, instrument_id=req.instrument.id,
                                                            delta_qty=ZERO, delta_cost=ZERO, why="unwind_done",
                                                            now_ns=self.clock.now_ns()))
            return
        await self._place(ks, Quote(req.instrument, Side.SELL, req.limit_price, qty), req.reason, purpose="unwind",
                          tif=TimeInForce.IOC)

    def _retire(self, ks: KeyState, reason: str) -> None:
        """The market resolved: cancel, and hand what is held to settlement (booked there)."""
        ks.retired = True
        now = self.clock.now_ns()
        told = False
        for iid, q in list(ks.pos.items()):
            if q:
                told = True
                self.on_inventory(ks.strategy, InventoryChange(key=ks.key, instrument_id=iid, delta_qty=-q,
                                                               delta_cost=-ks.cost.get(iid, ZERO), why="settled", now_ns=now))
        if not told and ks.instruments:  # nothing held: the strategy still retires the key
            self.on_inventory(ks.strategy, InventoryChange(key=ks.key, instrument_id=ks.instruments[0].id, delta_qty=ZERO,
                                                           delta_cost=ZERO, why="settled", now_ns=now))
        self._journal("QuoteInventory", {"key": ks.key, "strategy": ks.strategy, "why": f"settled: {reason}",
                                         "positions": {i: str(q) for i, q in ks.pos.items()}, "sets": str(ks.sets()),
                                         "unmatched": {}, "ts_ns": now}, ks.key)
        for iid in ks.pos:
            ks.pos[iid] = ks.cost[iid] = ks.entry[iid] = ZERO
        self._kick(ks)

    def restore(self, journal: Any) -> int:
        """After a restart: each key's inventory as the last ``QuoteInventory`` record left it
        (positions, cost with fees, entry), handed to its strategy (``restored``), so sizes, skew and
        the inventory limits count what was bought before the restart. A settled key stays empty.
        Returns the number of keys restored."""
        last: dict[str, dict[str, Any]] = {}
        for rec in journal.replay(kinds=("QuoteInventory",)):
            d = rec.decode()
            if isinstance(d, dict) and "key" in d:
                last[d["key"]] = d
        n = 0
        now = self.clock.now_ns()
        for key, d in last.items():
            if str(d.get("why", "")).startswith("settled") or "cost" not in d:
                continue
            ks = self._key(key, d.get("strategy", ""))
            for iid, q in d["positions"].items():
                qty = Decimal(q)
                if not qty:
                    continue
                ks.pos[iid] = qty
                ks.cost[iid] = Decimal(d["cost"].get(iid, "0"))
                ks.entry[iid] = Decimal(d.get("entry", {}).get(iid, "0"))
                self.on_inventory(ks.strategy, InventoryChange(key=key, instrument_id=iid, delta_qty=qty,
                                                               delta_cost=ks.cost[iid], why="restored", now_ns=now))
            n += 1
        return n

    async def cancel_orphans(self, journal: Any) -> int:
        """After a restart: cancel at the venue every quote a previous run placed and never saw end
        (a crash leaves them resting with nobody managing them). Its venue order id comes from the
        journaled ``OrderAccepted``. Returns the number of cancels sent."""
        open_: dict[str, dict[str, Any]] = {}
        for rec in journal.replay(kinds=("QuoteChanged",)):
            d = rec.decode()
            coid = d.get("client_order_id") if isinstance(d, dict) else None
            if not coid:
                continue
            if d["action"] in ("place", "unwind"):
                open_[coid] = d
            elif d["action"] in ("filled", "gone", "rejected"):
                open_.pop(coid, None)
        if not open_:
            return 0
        voids: dict[str, str] = {}
        for rec in journal.replay(kinds=("OrderAccepted",)):
            ev = rec.decode()
            coid = getattr(ev, "client_order_id", "")
            if coid in open_:
                voids[coid] = getattr(ev, "venue_order_id", "")
        n = 0
        for coid, d in open_.items():
            venue = Venue(d["instrument_id"].split(":", 1)[0])
            backend = self.backends.get(venue)
            if backend is None:
                continue
            try:
                evs = await backend.cancel(coid, voids.get(coid, ""))
            except Exception as exc:  # noqa: BLE001 - logged; the operator's cancel-all remains
                log.warning("orphan quote %s: cancel failed: %s", coid, exc)
                continue
            n += 1
            self._journal("QuoteChanged", {**d, "action": "gone", "reason": "left resting by a previous run: canceled at start "
                                           f"({', '.join(e.kind for e in evs) or 'no answer'})", "ts_ns": self.clock.now_ns()},
                          d["key"])
        return n

    # --- safety -------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Supervised watchdog: a kill switch, pause, stale book or their end is acted on within
        ``watchdog_s`` even when no book update or request arrives."""
        while True:
            await self.clock.sleep(self.config.watchdog_s)
            self.check()

    def check(self) -> None:
        now = self.clock.now_ns()
        for ks in self.keys.values():
            block = self._blocked(ks, now)
            if block != ks.blocked or (block and ks.live):
                if not (ks.task is not None and not ks.task.done() and ks.dirty):
                    self._kick(ks)

    async def cancel_all(self, reason: str) -> int:
        """Cancel every quote now, bypassing the minimum life and the rate limit (node stopping)."""
        live = [lq for ks in self.keys.values() for lq in list(ks.live.values()) if lq.state in ("live", "unknown")]
        for ks in self.keys.values():
            ks.req = None
        await asyncio.gather(*(self._cancel(lq, "cancel", reason) for lq in live), return_exceptions=True)
        return len(live)

    def resting(self) -> list[LiveQuote]:
        return [lq for ks in self.keys.values() for lq in ks.live.values() if lq.state != "done"]

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def status(self) -> dict[str, Any]:
        return {"keys": len(self.keys), "resting": len(self.resting()),
                "blocked": {k: ks.blocked for k, ks in self.keys.items() if ks.blocked},
                "sets_completed": str(sum((ks.completed for ks in self.keys.values()), ZERO)),
                "sets_merged": str(sum((ks.merged for ks in self.keys.values()), ZERO)),
                "journaled": dict(self.counts)}
