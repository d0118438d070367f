"""Kalshi private stream: our fills and order updates as arbkit events.

- Signed WebSocket; subscribes the ``fill`` channel (every market) and ``user_orders`` (order
  created / updated / canceled). A venue that does not know ``user_orders`` (error 8, unknown
  channel) is served by fills alone: ``OrderAccepted`` / ``OrderCanceled`` then come from the
  gateway's REST answers.
- Fills become ``OrderFilled`` (CONFIRMED: Kalshi settles at match), deduplicated by
  (trade id, order id) so a fill is reported exactly once whether it came over the socket, from a
  duplicate frame, or from the REST backfill.
- After every reconnect (and when the ``fill`` channel shows a ``seq`` gap, and every
  ``reconcile_interval_s`` while connected) the fills since the last one seen are fetched from
  ``GET /portfolio/fills?min_ts=..`` (1 s resolution, a second of overlap, deduplicated), so nothing
  that happened while disconnected - or was lost on a live socket - is missed.
- ``client_order_id`` is taken from the message, else from the gateway's order-id map, else looked
  up once at the venue.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from collections import OrderedDict
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

import msgspec

from arbkit.core.clock import Clock, LiveClock
from arbkit.core.enums import ConnectionState, Venue
from arbkit.core.events import OrderAccepted, OrderCanceled
from arbkit.venues.base import EventSink
from arbkit.venues.common.malformed import not_utf8
from arbkit.venues.common.tasks import BackgroundTasks
from arbkit.venues.common.ws import Backoff, ConnectionLink, SingleLinkStream, close_quietly, connect_ws
from arbkit.venues.common.ws import run_reconnecting
from arbkit.venues.kalshi import constants as C
from arbkit.venues.kalshi.auth import KalshiSigner
from arbkit.venues.kalshi.parse import (
    MalformedTracker,
    ParsedFill,
    WsBody,
    decode_ws,
    fill_from_ws,
    lots_to_count,
    parse_time_ns,
    pick_count,
)

log = logging.getLogger("arbkit.venues.kalshi.user")

VENUE = Venue.KALSHI
_NS = 1_000_000_000


@dataclass
class UserStreamConfig:
    ws_url: str = C.WS_URL
    order_updates: bool = True  # also subscribe user_orders
    # also subscribe market_lifecycle_v2: event fee overrides and price-grid changes reach the
    # gateway's metadata at once (a gateway is needed for that)
    lifecycle: bool = True
    ping_interval_s: float = C.HEARTBEAT_S
    ping_timeout_s: float = 20.0
    reconnect_initial_s: float = 0.25
    reconnect_max_s: float = 30.0
    connect_timeout_s: float = 10.0
    backfill_overlap_s: int = 1  # min_ts has 1 s resolution: look back a little, dedupe does the rest
    # Also poll REST fills this often while connected: a fill message lost on a live socket (the fill
    # channel has no seq to reveal it) is then still reported, late but once. 0 = only on reconnects.
    reconcile_interval_s: float = 30.0
    dedupe_capacity: int = 200_000


class _OrderUpdate(msgspec.Struct, frozen=True):
    order_id: str
    client_order_id: str
    status: str
    filled_lots: int
    ts_ns: int


class KalshiUserStream(SingleLinkStream):
    """Implements :class:`arbkit.venues.base.UserStream` for Kalshi. ``gateway`` (a KalshiGateway)
    backfills fills after reconnects and maps order ids to client order ids."""

    venue = VENUE
    _log = log

    def __init__(self, sink: EventSink, signer: KalshiSigner, gateway=None, config: UserStreamConfig | None = None, *,
                 clock: Clock | None = None, backfill_from_ns: int = 0) -> None:
        self.sink = sink
        self.signer = signer
        self.gateway = gateway
        self.config = config or UserStreamConfig()
        self.clock = clock or LiveClock()
        self.malformed = MalformedTracker("user")
        self._link = ConnectionLink(VENUE, "kalshi.user.0", self._emit, self.clock.now_ns)
        self.reconnects = 0
        self.backfills = 0
        self.backfilled_fills = 0  # fills that only the REST backfill delivered
        self.duplicates = 0
        self.user_orders_supported: bool | None = None
        self.lifecycle_supported: bool | None = None
        self.fee_updates = 0  # event_fee_update messages applied
        self._cmd_channel: dict[int, str] = {}  # subscribe command id -> channel (to place an error)
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._cum: dict[str, int] = {}  # order id -> lots filled so far (as we reported them)
        self._order_status: dict[str, str] = {}
        # Fills at or after this time may not have been seen yet: the last fill's time, or when we
        # first subscribed. The REST backfill after a reconnect starts here.
        self._since_ns = backfill_from_ns
        self._backfill_from_ns = backfill_from_ns
        self._fill_seq: dict[int, int] = {}
        self._queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        self._stop = asyncio.Event()
        self._ids = itertools.count(1)
        self._backoff = Backoff(self.config.reconnect_initial_s, self.config.reconnect_max_s, random.Random())
        self._connected_before = False
        self._tasks = BackgroundTasks()
        self._spawn = self._tasks.spawn
        self._running = False

    # --- contract ---------------------------------------------------------------------------

    async def run(self) -> None:
        if self._running:
            raise RuntimeError("user stream already running")
        self._running = True
        self._stop.clear()
        consumer = asyncio.get_running_loop().create_task(self._consume())
        self._connected_before = False
        cfg = self.config

        def connect():  # signed again on every attempt: the signature carries a timestamp
            path = urlsplit(cfg.ws_url).path or C.WS_PATH
            return connect_ws(cfg.ws_url, timeout_s=cfg.connect_timeout_s, headers=self.signer.headers("GET", path),
                              ping_interval_s=cfg.ping_interval_s, ping_timeout_s=cfg.ping_timeout_s)

        def retry(reason: str, delay: float) -> None:
            self.reconnects += 1

        try:
            await run_reconnecting(self._link, self._stop, connect, self._serve_once, self._backoff, on_retry=retry)
        finally:
            if not consumer.done():  # let queued fills out before stopping (bounded: a stuck lookup must not hang)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._queue.join(), 5.0)
            consumer.cancel()
            with contextlib.suppress(BaseException):
                await consumer
            await self._tasks.cancel_all()
            self._link.set_state(ConnectionState.DISCONNECTED, "stopped")
            self._running = False

    async def stop(self) -> None:
        self._stop.set()
        if self._link.ws is not None:
            await close_quietly(self._link.ws)

    async def reconnect(self) -> None:
        """Drop the connection now (it reconnects and backfills by itself)."""
        if self._link.ws is not None:
            await close_quietly(self._link.ws)

    @property
    def since_ns(self) -> int:
        return self._since_ns

    # --- connection -------------------------------------------------------------------------

    async def _serve_once(self, ws) -> None:
        """One connection; a backfill is due after any earlier one (or when told where to start)."""
        try:
            await self._serve(ws, backfill=self._connected_before or self._backfill_from_ns > 0)
        finally:
            self._connected_before = True
            self._link.attempt = 0

    async def _serve(self, ws, backfill: bool) -> None:
        self._fill_seq.clear()
        channels = [C.CH_FILL]
        if self.config.order_updates and self.user_orders_supported is not False:
            channels.append(C.CH_USER_ORDERS)
        if self.config.lifecycle and self.gateway is not None and self.lifecycle_supported is not False:
            channels.append(C.CH_LIFECYCLE)
        for ch in channels:  # one channel per command: an unknown one must not sink the other
            cid = next(self._ids)
            self._cmd_channel[cid] = ch
            await ws.send(msgspec.json.encode({"id": cid, "cmd": "subscribe", "params": {"channels": [ch]}}).decode())
        self._link.set_state(ConnectionState.CONNECTED)
        if not self._since_ns:
            self._since_ns = self.clock.now_ns()  # anything before our first subscription is not ours to report
        if backfill:
            self._spawn(self._backfill("reconnect"))
        poller = None
        if self.config.reconcile_interval_s > 0 and self.gateway is not None:
            poller = asyncio.get_running_loop().create_task(self._reconcile_loop())
        try:
            async for raw in ws:
                self.on_frame(raw)
        finally:
            if poller is not None:
                poller.cancel()
                with contextlib.suppress(BaseException):
                    await poller

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.reconcile_interval_s)
            await self._backfill("periodic reconciliation")

    async def _backfill(self, why: str) -> None:
        if self.gateway is None:
            log.warning("kalshi user stream: %s but no gateway to backfill fills from", why)
            return
        if not self._since_ns:
            return
        since_s = max(0, self._since_ns // _NS - self.config.backfill_overlap_s)
        try:
            fills = await self.gateway.fills(min_ts_s=since_s)
        except Exception as exc:  # noqa: BLE001 - retried on the next reconnect; never kills the stream
            log.warning("kalshi user stream: fill backfill after %s failed: %r", why, exc)
            return
        self.backfills += 1
        for f in fills:
            self._queue.put_nowait(("backfill", f))

    # --- frames -----------------------------------------------------------------------------

    def on_frame(self, raw: str | bytes) -> None:
        """Parse one frame and queue what it says (public for tests). Never raises."""
        recv = self.clock.now_ns()
        bad = not_utf8(raw)
        if bad is not None:  # a binary frame that is not UTF-8
            self._emit(self.malformed.record(raw, bad, recv))
            return
        try:
            frame = decode_ws(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self._emit(self.malformed.record(raw, exc, recv))
            return
        try:
            typ = frame.type
            if typ == "fill":
                if frame.msg is None:
                    raise ValueError("fill without msg")
                if frame.seq is not None and frame.sid is not None:
                    if not 0 <= frame.seq < 2**63:  # an absurd seq would hide every later gap
                        raise ValueError(f"fill seq {frame.seq} out of range")
                    last = self._fill_seq.get(frame.sid)
                    if last is not None and frame.seq > last + 1:
                        self._spawn(self._backfill(f"fill seq gap {last} -> {frame.seq}"))
                    self._fill_seq[frame.sid] = max(frame.seq, last or 0)
                self._queue.put_nowait(("ws", fill_from_ws(frame.msg)))
            elif typ == "user_order":
                if frame.msg is None:
                    raise ValueError("user_order without msg")
                self._queue.put_nowait(("order", self._order_update(frame.msg)))
            elif typ == "subscribed":
                if frame.msg is not None and frame.msg.channel == C.CH_USER_ORDERS:
                    self.user_orders_supported = True
                elif frame.msg is not None and frame.msg.channel == C.CH_LIFECYCLE:
                    self.lifecycle_supported = True
            elif typ == "error":
                code = frame.msg.code if frame.msg is not None else None
                channel = self._cmd_channel.get(frame.id) if frame.id is not None else None
                if code == C.WS_ERR_UNKNOWN_CHANNEL and channel == C.CH_LIFECYCLE:
                    log.warning("kalshi user stream: venue has no %s channel; fee overrides reach us with the "
                                "metadata refresh only", C.CH_LIFECYCLE)
                    self.lifecycle_supported = False
                elif code == C.WS_ERR_UNKNOWN_CHANNEL and channel in (C.CH_USER_ORDERS, None):
                    if self.user_orders_supported is None:
                        log.info("kalshi user stream: venue has no user_orders channel; fills only")
                    self.user_orders_supported = False
                else:
                    log.warning("kalshi user stream: venue error %s", frame.msg)
            elif typ == "event_fee_update":
                m = frame.msg
                if m is None or not m.event_ticker:
                    raise ValueError("event_fee_update without event_ticker")
                if self.gateway is not None:
                    self.gateway.on_event_fee_update(m.event_ticker, m.fee_type_override, m.fee_multiplier_override)
                self.fee_updates += 1
                log.warning("kalshi: event %s fee override now %s x %s", m.event_ticker, m.fee_type_override,
                            m.fee_multiplier_override)
            elif typ == "market_lifecycle_v2":
                m = frame.msg
                if m is not None and m.market_ticker and self.gateway is not None:
                    self.gateway.forget_market(m.market_ticker)  # grid, metadata or status changed: read again
            elif typ == "event_lifecycle":
                pass
            elif typ in ("ok", "unsubscribed"):
                pass
            else:
                raise ValueError(f"unknown message type {typ!r}")
        except Exception as exc:  # noqa: BLE001
            self._emit(self.malformed.record(raw, f"{frame.type or 'untyped'} message: {exc!r}", recv))

    @staticmethod
    def _order_update(body: WsBody) -> _OrderUpdate:
        if not body.order_id or not body.status:
            raise ValueError("user_order without order_id/status")
        filled = pick_count(body.fill_count_fp, body.fill_count, "fill_count") or 0
        return _OrderUpdate(order_id=body.order_id, client_order_id=body.client_order_id or "", status=body.status,
                            filled_lots=filled, ts_ns=parse_time_ns(body.last_update_time or body.created_time))

    # --- emission (one consumer: order kept, dedupe single-threaded) -------------------------

    async def _consume(self) -> None:
        while True:
            source, item = await self._queue.get()
            try:
                if isinstance(item, ParsedFill):
                    await self._emit_fill(item, source)
                elif isinstance(item, _OrderUpdate):
                    self._emit_order(item)
            except Exception:  # noqa: BLE001
                log.exception("kalshi user stream: could not emit %s", type(item).__name__)
            finally:
                self._queue.task_done()

    async def _coid(self, fill: ParsedFill) -> str:
        if fill.client_order_id:
            return fill.client_order_id
        gw = self.gateway
        if gw is None:
            return ""
        return await gw.resolve_client_order_id(fill)

    async def _emit_fill(self, fill: ParsedFill, source: str) -> None:
        key = (fill.trade_id, fill.order_id)
        if key in self._seen:
            self.duplicates += 1
            return
        self._seen[key] = None
        if len(self._seen) > self.config.dedupe_capacity:
            self._seen.popitem(last=False)
        if source == "backfill":
            self.backfilled_fills += 1
        if fill.ts_ns > self._since_ns:
            self._since_ns = fill.ts_ns
        cum = self._cum.get(fill.order_id, 0) + fill.count_lots
        self._cum[fill.order_id] = cum
        coid = await self._coid(fill)
        if self.gateway is not None:
            try:
                fill = self.gateway.fill_with_intent(fill, coid)  # booked as the order we sent (buy NO vs sell YES)
            except ValueError as exc:  # the venue's direction contradicts our order: book it as the venue says
                self._emit(self.malformed.record(repr(fill).encode(), f"fill direction: {exc}", self.clock.now_ns()))
                log.error("kalshi user stream: %s; booked as the venue reports it", exc)
        ev = fill.to_event(coid, ts_recv=self.clock.now_ns())
        cum_q = lots_to_count(cum)
        size = self.gateway.order_size(ev.client_order_id) if self.gateway is not None and ev.client_order_id else None
        ev = msgspec.structs.replace(ev, cumulative_quantity=cum_q,
                                     leaves_quantity=max(size - cum_q, Decimal(0)) if size is not None else None)
        self._emit(ev)

    def _emit_order(self, upd: _OrderUpdate) -> None:
        prev = self._order_status.get(upd.order_id)
        if prev == upd.status:
            return
        self._order_status[upd.order_id] = upd.status
        coid = upd.client_order_id or (self.gateway.client_order_id_of(upd.order_id) if self.gateway else "")
        now = self.clock.now_ns()
        if upd.status == "resting" and prev is None:
            self._emit(OrderAccepted(venue=VENUE, client_order_id=coid, venue_order_id=upd.order_id,
                                     ts_venue=upd.ts_ns, ts_recv=now))
        elif upd.status == "canceled":
            self._emit(OrderCanceled(venue=VENUE, client_order_id=coid, venue_order_id=upd.order_id,
                                     filled_quantity=lots_to_count(upd.filled_lots), reason="canceled",
                                     ts_venue=upd.ts_ns, ts_recv=now))

