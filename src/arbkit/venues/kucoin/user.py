"""KuCoin private stream: ``/spotMarket/tradeOrdersV2`` order changes -> fills by client order id,
``/account/balance`` -> balance snapshots. Token from ``POST /api/v1/bullet-private`` (signed).

Each fill (``type`` = match) becomes ONE OrderFilled keyed by tradeId (duplicates dropped); a fill
lost while disconnected is recovered after every reconnect from ``GET /api/v1/hf/fills``
(``fills_since``) and reported if not seen. The V2 event carries no fee: the fee is the
account's rate (``/api/v1/trade-fees``, on the instrument) times the match funds, charged in the
symbol's feeCurrency, which is what KuCoin books (see docs/venues/kucoin.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable

import msgspec

from arbkit.core.clock import Clock, LiveClock
from arbkit.core.enums import ConnectionState, FillStatus, LiquiditySide, Side, Venue
from arbkit.core.events import OrderAccepted, OrderCanceled, OrderFilled
from arbkit.core.fees import spot_fee
from arbkit.core.instruments import Instrument, instrument_id
from arbkit.core.orders import Balance
from arbkit.venues.base import EventSink
from arbkit.venues.common.malformed import MalformedTracker, not_utf8
from arbkit.venues.common.ws import Backoff, ConnectionLink, SingleLinkStream, run_reconnecting, send_quietly
from arbkit.venues.kucoin import constants as C
from arbkit.venues.kucoin.feed import KucoinSession, next_id
from arbkit.venues.kucoin.parse import BalanceChange, OrderChange, WsFrame, amount, dec, ms_to_ns

log = logging.getLogger("arbkit.venues.kucoin.user")
VENUE = Venue.KUCOIN
_decode = msgspec.json.Decoder(WsFrame)


@dataclass
class UserStreamConfig:
    ping_interval_s: float = 18.0
    reconnect_initial_s: float = 0.2
    reconnect_max_s: float = 10.0
    connect_timeout_s: float = 10.0
    welcome_timeout_s: float = 5.0
    endpoint_override: str = ""
    backfill_margin_s: float = 60.0


class KucoinUserStream(SingleLinkStream):
    venue = VENUE
    _log = log

    def __init__(self, sink: EventSink, gateway: Any, config: UserStreamConfig | None = None, *,
                 instruments: Callable[[str], Instrument | None] | None = None, clock: Clock | None = None) -> None:
        self.sink = sink
        self.gateway = gateway
        self.config = config or UserStreamConfig()
        self.instrument_of = instruments or (lambda s: gateway._instruments.get(s))
        self.clock = clock or LiveClock()
        self._link = ConnectionLink(VENUE, "kucoin.user", self._emit, self.clock.now_ns)
        self._stop = asyncio.Event()
        self.malformed = MalformedTracker("user", VENUE)
        self.seen_trades: set[str] = set()
        self.balances: dict[str, Balance] = {}
        self._last_connected_ns = 0
        self._backfill_task: asyncio.Task | None = None
        # (currency, orderId) -> balance changes seen that name the order; and a wake-up for waiters
        self.settled: dict[tuple[str, str], int] = {}
        self._balance_changed = asyncio.Event()

    async def run(self) -> None:
        self._stop.clear()
        session = KucoinSession(lambda: self.gateway.public_token(True), self.config)

        async def connect() -> Any:
            try:
                return await session.connect()
            except Exception as exc:  # noqa: BLE001 - token failures reconnect like socket failures
                if isinstance(exc, (OSError, asyncio.TimeoutError)):
                    raise
                raise ConnectionError(f"bullet-private failed: {exc}") from exc

        async def serve(ws: Any) -> None:
            for topic in (C.TOPIC_ORDERS_V2, C.TOPIC_BALANCE):
                await send_quietly(ws, {"id": next_id(), "type": "subscribe", "topic": topic,
                                        "privateChannel": True, "response": True})
            self._link.set_state(ConnectionState.CONNECTED)
            self._link.attempt = 0
            backfill = asyncio.create_task(self._backfill())
            pinger = asyncio.create_task(session.pinger(ws))
            try:
                async for raw in ws:
                    session.last_frame_mono = time.monotonic()
                    self._on_frame(raw)
            finally:
                for t in (pinger, backfill):
                    t.cancel()
                    with contextlib.suppress(BaseException):
                        await t
            self._last_connected_ns = self.clock.now_ns()

        try:
            await run_reconnecting(self._link, self._stop, connect, serve,
                                   Backoff(self.config.reconnect_initial_s, self.config.reconnect_max_s))
        finally:
            self._link.set_state(ConnectionState.DISCONNECTED, "stopped")

    async def stop(self) -> None:
        self._stop.set()
        ws = self._link.ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()

    def _spawn_backfill(self) -> None:
        if self._backfill_task is None or self._backfill_task.done():
            with contextlib.suppress(RuntimeError):  # no running loop (a direct call in a test)
                self._backfill_task = asyncio.get_running_loop().create_task(self._backfill())

    async def _backfill(self) -> None:
        """Fills we may have missed while away (REST), each reported once."""
        await asyncio.sleep(0.3)  # after the subscription is live: overlap is deduplicated
        since = (self._last_connected_ns or self.clock.now_ns()) - int(self.config.backfill_margin_s * 1e9)
        try:
            fills = await self.gateway.fills_since(since)
        except Exception as exc:  # noqa: BLE001 - advisory
            log.warning("KuCoin fills backfill failed: %r", exc)
            return
        for f in fills:
            if isinstance(f, OrderFilled) and f.trade_id not in self.seen_trades:
                self.seen_trades.add(f.trade_id)
                self._emit(f)

    def _on_frame(self, raw: str | bytes) -> None:
        now = self.clock.now_ns()
        bad_text = not_utf8(raw)  # msgspec does not refuse every invalid UTF-8 byte in a key
        if bad_text is not None:
            self._emit(self.malformed.record(raw, bad_text, now))
            return
        try:
            f = _decode.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
            self._emit(self.malformed.record(raw, exc, now))
            return
        if f.type != "message":
            return
        try:
            if f.subject == C.SUBJECT_ORDER or f.topic.startswith(C.TOPIC_ORDERS_V2):
                self._on_order(msgspec.convert(f.data, OrderChange), now)
            elif f.subject == C.SUBJECT_BALANCE:
                self._on_balance(msgspec.convert(f.data, BalanceChange))
        except (msgspec.ValidationError, ValueError, TypeError) as exc:
            self._emit(self.malformed.record(raw, exc, now))

    def _on_balance(self, b: BalanceChange) -> None:
        total, avail = amount(b.total, "total", positive=False), amount(b.available, "available", positive=False)
        if total < 0 or avail < 0 or avail > total:
            raise ValueError(f"balance of {b.currency}: total {total}, available {avail}")
        self.balances[b.currency] = Balance(currency=b.currency, total=total, available=avail)
        oid = b.relation_context.order_id if b.relation_context is not None else ""
        if oid:
            key = (b.currency, oid)
            self.settled[key] = self.settled.get(key, 0) + 1
        self._balance_changed.set()

    async def balance_after(self, currency: str, orders: list[tuple[str, int]], timeout_s: float) -> Decimal | None:
        """execution.engine.BalanceSource: the available ``currency`` once, for each ``(orderId,
        fills)``, at least that many ``/account/balance`` changes of the currency named the order
        (KuCoin settles each match in the account: one change per match for the currency received;
        the simulator does so), or None after ``timeout_s``."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s

        def ready() -> bool:
            return currency in self.balances and all(self.settled.get((currency, oid), 0) >= n for oid, n in orders)

        while not ready():
            left = end - loop.time()
            if left <= 0:
                return None
            self._balance_changed.clear()
            if ready():
                break
            with contextlib.suppress(asyncio.TimeoutError, TimeoutError):
                await asyncio.wait_for(self._balance_changed.wait(), left)
        return self.balances[currency].available

    def _on_order(self, o: OrderChange, now: int) -> None:
        coid = o.client_oid or self.gateway._oid_to_coid.get(o.order_id, "")
        if coid:
            self.gateway._remember(coid, o.order_id)
        if o.type == "open":
            self._emit(OrderAccepted(venue=VENUE, client_order_id=coid, venue_order_id=o.order_id,
                                     ts_venue=ms_to_ns(o.ts), ts_recv=now))
        elif o.type == "canceled":
            self._emit(OrderCanceled(venue=VENUE, client_order_id=coid, venue_order_id=o.order_id,
                                     filled_quantity=dec(o.filled_size) if o.filled_size is not None else None,
                                     reason="canceled", ts_venue=ms_to_ns(o.ts), ts_recv=now))
        elif o.type == "match":
            if not o.trade_id or o.match_price is None or o.match_size is None:
                raise ValueError("match event without tradeId/matchPrice/matchSize")
            if o.trade_id in self.seen_trades:
                return
            price, size = amount(o.match_price, "matchPrice"), amount(o.match_size, "matchSize")
            if price <= 0 or size <= 0:
                raise ValueError(f"match with price {price} and size {size}")
            if o.liquidity not in ("maker", "taker"):
                raise ValueError(f"match with liquidity {o.liquidity!r}")
            liq = LiquiditySide.MAKER if o.liquidity == "maker" else LiquiditySide.TAKER
            inst = self.instrument_of(o.symbol)
            if inst is None:
                # a fill on a pair whose fee rate we do not know: never book a guessed fee; the REST
                # fills (with the fee KuCoin charged) report it
                log.warning("KuCoin fill %s on unknown pair %s: taking it from /api/v1/hf/fills", o.trade_id, o.symbol)
                self._spawn_backfill()
                return
            self.seen_trades.add(o.trade_id)
            # the fee in the pair's feeCurrency ("the currency of charged fees", /api/v2/symbols):
            # the quote for every pair we know, the base amount when a pair names its base
            rate = (inst.fee.taker_rate if liq is LiquiditySide.TAKER else inst.fee.maker_rate) * inst.fee.multiplier
            fee, cur = spot_fee(price, size, rate, self.gateway.fee_currency(o.symbol) or inst.quote,
                                inst.base or "", inst.quote)
            self._emit(OrderFilled(
                venue=VENUE, instrument_id=instrument_id(VENUE, o.symbol), client_order_id=coid,
                venue_order_id=o.order_id, trade_id=o.trade_id, side=Side.BUY if o.side == "buy" else Side.SELL,
                price=price, quantity=size, fee=fee, fee_currency=cur, liquidity=liq,
                cumulative_quantity=dec(o.filled_size) if o.filled_size is not None else None,
                leaves_quantity=dec(o.remain_size) if o.remain_size is not None else None,
                status=FillStatus.CONFIRMED, ts_venue=ms_to_ns(o.ts), ts_recv=now))


__all__ = ["KucoinUserStream", "UserStreamConfig"]
