"""Polymarket user channel: our orders and trades as arbkit events.

Trades go MATCHED -> MINED -> CONFIRMED (or FAILED, possibly via RETRYING). The first time one
of our fills is seen it becomes an ``OrderFilled`` (PROVISIONAL while MATCHED); each later status
is a ``FillStatusChanged`` (MINED, CONFIRMED, or FAILED which reverses the fill). Duplicates and
out-of-order regressions are ignored. A taker order that matched several maker orders gets one
fill per match, at the match's price, with trade id ``<trade id>:<maker order id>`` (the trade's
top-level ``price`` is the taker's limit, not what it paid); status changes follow per match. Order events: PLACEMENT -> ``OrderAccepted``, CANCELLATION
-> ``OrderCanceled``. After a reconnect, fills that happened while disconnected must be
reconciled with ``PolymarketGateway.fills_since`` (the channel does not replay them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass, field
from decimal import Decimal

import msgspec

from arbkit.core.clock import Clock, LiveClock
from arbkit.core.enums import ConnectionState, FillStatus, Venue
from arbkit.core.events import FillStatusChanged, OrderAccepted, OrderCanceled
from arbkit.venues.base import EventSink
from arbkit.venues.common.malformed import not_utf8
from arbkit.venues.common.ws import Backoff, ConnectionLink, SingleLinkStream, connect_ws, run_reconnecting
from arbkit.venues.polymarket import constants as C
from arbkit.venues.polymarket.auth import ApiCreds
from arbkit.venues.polymarket.parse import MalformedTracker, WsUserMessage, decode_user_frame, dec, to_ns

log = logging.getLogger("arbkit.venues.polymarket.user")

VENUE = Venue.POLYMARKET
_MAX_SHARES = Decimal(10) ** 12
_RANK = {FillStatus.PROVISIONAL: 0, FillStatus.MINED: 1, FillStatus.CONFIRMED: 2, FillStatus.FAILED: 2}


@dataclass
class UserStreamConfig:
    ws_url: str = C.WS_USER_URL
    markets: list[str] = field(default_factory=list)  # condition ids; empty = all of ours
    ping_interval_s: float = C.PING_INTERVAL_S
    reconnect_initial_s: float = 0.25
    reconnect_max_s: float = 30.0
    connect_timeout_s: float = 10.0


class PolymarketUserStream(SingleLinkStream):
    """Implements :class:`arbkit.venues.base.UserStream`. ``gateway`` (a PolymarketGateway) maps
    order hashes to our client order ids and prices fees; without it client ids are empty."""

    venue = VENUE
    _log = log

    def __init__(self, sink: EventSink, creds: ApiCreds, config: UserStreamConfig | None = None, *,
                 gateway=None, clock: Clock | None = None) -> None:
        self.sink = sink
        self.creds = creds
        self.config = config or UserStreamConfig()
        self.gateway = gateway
        self.clock = clock or LiveClock()
        self.malformed = MalformedTracker("user")
        self._link = ConnectionLink(VENUE, "polymarket.user", self._emit, self.clock.now_ns)
        self._fills: dict[tuple[str, str], FillStatus] = {}  # (trade id, order id) -> last status
        self._cum: dict[str, Decimal] = {}  # order id -> filled so far (not counting FAILED)
        self._stop = asyncio.Event()
        self._backoff = Backoff(self.config.reconnect_initial_s, self.config.reconnect_max_s, random.Random())
        self.reconnects = 0

    async def run(self) -> None:
        self._stop.clear()
        cfg = self.config

        def retry(reason: str, delay: float) -> None:
            self.reconnects += 1

        await run_reconnecting(self._link, self._stop, lambda: connect_ws(cfg.ws_url, timeout_s=cfg.connect_timeout_s),
                               self._serve, self._backoff, closed_reason="closed", on_retry=retry)
        self._link.set_state(ConnectionState.DISCONNECTED, "stopped")

    async def _serve(self, ws) -> None:
        """Authenticate, then read until the socket closes or the stream is stopped."""
        await ws.send(msgspec.json.encode({
            "auth": {"apiKey": self.creds.api_key, "secret": self.creds.api_secret,
                     "passphrase": self.creds.api_passphrase},
            "markets": list(self.config.markets), "type": "user"}).decode())
        self._link.set_state(ConnectionState.CONNECTED)
        self._link.attempt = 0
        loop = asyncio.get_running_loop()
        pinger = loop.create_task(self._pinger(ws))
        stopper = loop.create_task(self._stop.wait())
        try:
            reader = loop.create_task(self._read(ws))
            await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not reader.done():
                reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
        finally:
            pinger.cancel()
            stopper.cancel()

    async def stop(self) -> None:
        self._stop.set()

    async def _read(self, ws) -> None:
        async for raw in ws:
            self.on_frame(raw)

    async def _pinger(self, ws) -> None:
        with contextlib.suppress(Exception):
            while True:
                await asyncio.sleep(self.config.ping_interval_s)
                await ws.send("PING")

    def _coid(self, order_id: str) -> str:
        return self.gateway.client_order_id_of(order_id) if self.gateway is not None else ""

    # --- frames -----------------------------------------------------------------------------

    def on_frame(self, raw: str | bytes, recv_ns: int | None = None) -> None:
        """Handle one user-channel frame. Never raises."""
        if recv_ns is None:
            recv_ns = self.clock.now_ns()
        if raw in ("PONG", b"PONG"):
            return
        bad = not_utf8(raw)
        if bad is not None:  # a binary frame that is not UTF-8
            self._emit(self.malformed.record(raw, bad, recv_ns))
            return
        try:
            msgs = decode_user_frame(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self._emit(self.malformed.record(raw, exc, recv_ns))
            return
        for msg in msgs:
            try:
                kind = msg.kind
                if kind == "trade":
                    self._on_trade(msg, recv_ns)
                elif kind == "order":
                    self._on_order(msg, recv_ns)
                else:
                    raise ValueError(f"unknown user event {kind!r}")
            except Exception as exc:  # noqa: BLE001 - a bad event must not stop the stream
                self._emit(self.malformed.record(raw, f"{msg.kind or 'unknown'} event: {exc!r}", recv_ns))

    def _on_order(self, msg: WsUserMessage, recv_ns: int) -> None:
        ts = to_ns(msg.timestamp)
        if msg.type == "PLACEMENT":
            self._emit(OrderAccepted(venue=VENUE, client_order_id=self._coid(msg.id), venue_order_id=msg.id,
                                     ts_venue=ts, ts_recv=recv_ns))
        elif msg.type == "CANCELLATION" or msg.status.upper().removeprefix("ORDER_STATUS_").startswith(("CANCEL", "INVALID")):
            filled = dec(msg.size_matched, Decimal(0))
            if not (filled.is_finite() and 0 <= filled <= _MAX_SHARES  # type: ignore[union-attr]
                    and filled.scaleb(C.SIZE_DIGITS) % 1 == 0):  # type: ignore[union-attr]
                raise ValueError(f"size_matched {msg.size_matched!r}")
            self._emit(OrderCanceled(venue=VENUE, client_order_id=self._coid(msg.id), venue_order_id=msg.id,
                                     filled_quantity=filled, reason=msg.status,
                                     ts_venue=ts, ts_recv=recv_ns))
        # UPDATE events carry size_matched; the fills themselves come from trade events.

    def _on_trade(self, msg: WsUserMessage, recv_ns: int) -> None:
        if self.gateway is not None:
            fills = self.gateway.fills_from_trade(msg, recv_ns)
        else:
            from arbkit.venues.polymarket.parse import our_fills

            fills = self._plain_fills(our_fills(msg, {self.creds.api_key}), msg, recv_ns)
        for f in fills:
            key = (f.trade_id, f.venue_order_id)
            prev = self._fills.get(key)
            if prev is None:
                self._fills[key] = f.status
                if f.status is FillStatus.FAILED:
                    continue  # failed before we saw it: nothing was ever booked, nothing to reverse
                cum = self._cum.get(f.venue_order_id, Decimal(0)) + f.quantity
                self._cum[f.venue_order_id] = cum
                self._emit(msgspec.structs.replace(f, cumulative_quantity=cum))
                continue
            if prev is f.status or _RANK[f.status] < _RANK[prev] or prev in (FillStatus.CONFIRMED, FillStatus.FAILED):
                continue  # duplicate, regression, or already final
            self._fills[key] = f.status
            if f.status is FillStatus.FAILED:
                self._cum[f.venue_order_id] = self._cum.get(f.venue_order_id, Decimal(0)) - f.quantity
            self._emit(FillStatusChanged(venue=VENUE, trade_id=f.trade_id, client_order_id=f.client_order_id,
                                         status=f.status, reason=f"venue trade status {msg.status}",
                                         ts_venue=to_ns(msg.last_update or msg.timestamp), ts_recv=recv_ns))

    def _plain_fills(self, fills, msg: WsUserMessage, recv_ns: int):
        from arbkit.core.events import OrderFilled

        return [OrderFilled(venue=VENUE, instrument_id="polymarket:" + f.asset_id, client_order_id="",
                            venue_order_id=f.order_id, trade_id=f.trade_id, side=f.side, price=f.price,
                            quantity=f.quantity, fee=Decimal(0), fee_currency="pUSD", liquidity=f.liquidity,
                            status=f.status, ts_venue=to_ns(msg.match_time or msg.timestamp), ts_recv=recv_ns)
                for f in fills]
