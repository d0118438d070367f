"""WebSocket side of the simulated Polymarket CLOB: market and user channels.

Engine batches (one per engine operation) become the venue's WS events: ``price_change`` with
``price_changes[]`` for placements and cancels, a full ``book`` per token when a trade changed
the book, ``last_trade_price``, ``tick_size_change``, ``best_bid_ask`` (only with
``custom_feature_enabled``), and on the user channel ``order`` PLACEMENT/UPDATE/CANCELLATION and
``trade`` MATCHED -> MINED -> CONFIRMED / FAILED. Each connection has its own queue and writer
task, so a slow client never blocks the engine; the fault plan is consulted per outgoing frame.

Choices where the venue's documentation is silent:
* a market-channel connection asking for more than ``max_assets`` (500) assets in total is
  closed with WebSocket code 1008 (policy violation) and reason ``too many assets``;
* a user-channel subscription with bad credentials is closed with code 1008, ``invalid auth``;
* one engine operation's events go out as one frame: a JSON object when there is one event,
  a JSON array when there are several; the book dump after a subscription is always an array.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Awaitable, Callable

from aiohttp import WSCloseCode, WSMsgType, web

from arbkit.core.enums import Side
from arbkit.sim.events import (
    BookLevelChanged,
    MarketResolved,
    OrderUpdated,
    OrderUpdateKind,
    Outcome,
    SimEvent,
    SimOrder,
    SimOrderStatus,
    TickSizeChanged,
    TradeExecuted,
    TradeStatusChanged,
)
from arbkit.sim.polymarket import messages as m
from arbkit.sim.polymarket.auth import ApiCreds, ApiKeyStore
from arbkit.sim.polymarket.state import VenueState, VenueTrade

log = logging.getLogger(__name__)

VENUE = "polymarket"
ERR_FOK = "order couldn't be fully filled. FOK orders are fully filled or killed."


@dataclass(eq=False)
class _Conn:
    """One WebSocket connection: its subscriptions and its outgoing queue."""

    ws: web.WebSocketResponse
    channel: str  # "market" | "user"
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    assets: set[str] = field(default_factory=set)
    custom: bool = False
    account: str | None = None
    creds: ApiCreds | None = None
    markets: set[str] = field(default_factory=set)  # user channel filter; empty = all markets
    subscribed: bool = False
    closing: bool = False

    def push(self, text: str) -> None:
        if not self.closing:
            self.queue.put_nowait(("data", text))

    def push_control(self, text: str) -> None:
        if not self.closing:
            self.queue.put_nowait(("control", text))


class StreamHub:
    """The market and user WebSocket channels of one simulated Polymarket venue."""

    def __init__(
        self,
        state: VenueState,
        keys: ApiKeyStore,
        clock: Any,
        faults: Any,
        spawn: Callable[[Awaitable[Any]], asyncio.Task],
        *,
        max_assets: int = 500,
    ) -> None:
        self.state = state
        self.keys = keys
        self.clock = clock
        self.faults = faults
        self._spawn = spawn
        self.max_assets = max_assets
        self._conns: list[_Conn] = []
        self._best: dict[str, tuple[Decimal | None, Decimal | None]] = {}
        self._market_subscribed = asyncio.Event()
        self.malformed_ws = 0  # inbound WS messages that could not be understood
        self.listener_errors = 0

    def prime(self) -> None:
        """Remember each token's best bid/ask so the first change is detected."""
        for tok in self.state.tokens.values():
            self._best[tok.token_id] = self.state.best(tok)

    async def close_all(self) -> None:
        for c in list(self._conns):
            c.closing = True
            await c.ws.close(code=WSCloseCode.GOING_AWAY)

    def _now_ns(self) -> int:
        return self.clock.now_ns()

    def on_batch(self, batch: list[SimEvent]) -> None:
        try:
            self._dispatch(batch)
        except Exception:  # never break the engine; count and log
            self.listener_errors += 1
            log.exception("polymarket sim: failed to publish an engine batch")

    def _dispatch(self, batch: list[SimEvent]) -> None:
        ts = batch[0].ts_ns if batch else self._now_ns()
        levels: dict[tuple[str, str, str, Decimal], BookLevelChanged] = {}
        market_order: list[str] = []
        trades_new: list[VenueTrade] = []
        fills: list[Any] = []
        status_changes: list[VenueTrade] = []
        order_events: list[OrderUpdated] = []
        tick_changes: list[TickSizeChanged] = []
        for ev in batch:
            if isinstance(ev, BookLevelChanged):
                if ev.market_id not in market_order:
                    market_order.append(ev.market_id)
                levels[(ev.market_id, ev.symbol, ev.side.value, ev.price)] = ev
            elif isinstance(ev, TradeExecuted):
                vt, created = self.state.record_fill(ev.trade)
                fills.append(ev.trade)
                if created:
                    trades_new.append(vt)
            elif isinstance(ev, TradeStatusChanged):
                vt = self.state.set_trade_status(ev.trade, ev.status)
                if vt is not None and vt not in status_changes:
                    status_changes.append(vt)
            elif isinstance(ev, OrderUpdated):
                order_events.append(ev)
            elif isinstance(ev, TickSizeChanged):
                tick_changes.append(ev)
        market_events = self._market_events(ts, levels, market_order, fills, tick_changes)
        for ev in batch:
            if isinstance(ev, MarketResolved):
                market_events.extend(self._resolved_events(ev))
        for conn in self._conns:
            if conn.channel != "market" or not conn.subscribed:
                continue
            out: list[Any] = []
            for asset, e in market_events:
                if isinstance(e, m.WsMarketResolved):
                    if conn.custom and any(a in conn.assets for a in e.assets_ids):
                        out.append(e)
                    continue
                if isinstance(e, m.WsPriceChange):
                    e = self._filter_pc(e, conn)
                    if e is not None:
                        out.append(e)
                elif asset in conn.assets and (conn.custom or not isinstance(e, m.WsBestBidAsk)):
                    out.append(e)
            if out:
                conn.push(self._frame(out))
        if trades_new or status_changes or order_events:
            self._user_events(ts, trades_new, status_changes, order_events)

    def announce_new_market(self, info: Any, tick_size: Any, ts_ns: int) -> None:
        """``new_market`` to every market-channel connection with the custom feature on (the
        assets are new, so no asset filter applies)."""
        for tok in (info.yes, info.no):
            self._best[tok.token_id] = (None, None)
        msg = m.WsNewMarket(
            event_type="new_market", id=str(int(info.condition_id[2:9], 16)), question=info.question,
            market=info.condition_id, slug=info.slug, description=info.description,
            assets_ids=[info.yes.token_id, info.no.token_id], outcomes=[info.yes.label, info.no.label],
            timestamp=str(ts_ns // 1_000_000), tags=[], condition_id=info.condition_id, active=True,
            clob_token_ids=[info.yes.token_id, info.no.token_id], order_price_min_tick_size=str(tick_size),
            group_item_title=info.group_item_title, event_message={"id": str(info.event_id), "slug": str(info.event_id),
                                                                   "ticker": str(info.event_id), "title": info.question})
        text = self._frame([msg])
        for conn in self._conns:
            if conn.channel == "market" and conn.subscribed and conn.custom:
                conn.push(text)

    def _resolved_events(self, ev: Any) -> list[tuple[str, Any]]:
        info = self.state.markets.get(ev.market_id)
        if info is None:
            return []
        win = info.yes if ev.winner is Outcome.YES else info.no
        msg = m.WsMarketResolved(event_type="market_resolved", id=str(int(info.condition_id[2:9], 16)),
                                 market=info.condition_id, assets_ids=[info.yes.token_id, info.no.token_id],
                                 winning_asset_id=win.token_id, winning_outcome=win.label,
                                 timestamp=str(ev.ts_ns // 1_000_000), tags=[])
        return [(win.token_id, msg)]

    @staticmethod
    def _filter_pc(ev: Any, conn: _Conn) -> Any:
        if not isinstance(ev, m.WsPriceChange):
            return ev
        items = [pc for pc in ev.price_changes if pc.asset_id in conn.assets]
        if not items:
            return None
        if len(items) == len(ev.price_changes):
            return ev
        return m.WsPriceChange(market=ev.market, price_changes=items, timestamp=ev.timestamp)

    def _market_events(
        self,
        ts: int,
        levels: dict[tuple[str, str, str, Decimal], BookLevelChanged],
        market_order: list[str],
        fills: list[Any],
        tick_changes: list[TickSizeChanged],
    ) -> list[tuple[str | None, Any]]:
        """(asset id or None for a multi-asset price_change, event) in emission order."""
        ts_ms = str(ts // 1_000_000)
        out: list[tuple[str | None, Any]] = []
        for tc in tick_changes:
            info = self.state.markets.get(tc.market_id)
            if info is None:
                continue
            for tok in (info.yes, info.no):
                out.append(
                    (tok.token_id, m.WsTickSizeChange("tick_size_change", tok.token_id, tc.market_id, m.fmt(tc.old_tick), m.fmt(tc.new_tick), ts_ms))
                )
        hashes: dict[str, str] = {}
        # The venue sends a full ``book`` when a trade changed the book and ``price_change`` for
        # placements and cancels (docs: market channel), so a traded market gets snapshots.
        traded = list(dict.fromkeys(f.market_id for f in fills))
        for mid in list(market_order) + [t for t in traded if t not in market_order]:
            info = self.state.markets.get(mid)
            if info is None:
                continue
            if mid in traded:
                for tok in (info.yes, info.no):
                    out.append((tok.token_id, self.state.ws_book(tok, ts)))
                continue
            items = []
            for (lmid, symbol, side, price), ev in levels.items():
                if lmid != mid:
                    continue
                tok = self.state.tokens[symbol]
                if symbol not in hashes:
                    hashes[symbol] = self.state.book_summary(tok, ts).hash
                bid, ask = self.state.best(tok)
                items.append(
                    m.PriceChangeItem(
                        asset_id=symbol,
                        price=m.fmt(price),
                        side=side,
                        size=m.fmt(ev.size),
                        hash=hashes[symbol],
                        best_bid=m.fmt(bid) if bid is not None else "0",
                        best_ask=m.fmt(ask) if ask is not None else "1",
                    )
                )
            if items:
                out.append((None, m.WsPriceChange(market=mid, price_changes=items, timestamp=ts_ms)))
        # One last_trade_price per token and price of one operation (fills at one price summed).
        prints: dict[tuple[str, Decimal, Side], Decimal] = {}
        for f in fills:
            yes_side = f.taker_side if f.taker_outcome is Outcome.YES else f.taker_side.opposite
            key = (f.market_id, f.price_yes, yes_side)
            prints[key] = prints.get(key, Decimal(0)) + f.size
        for (mid, price_yes, yes_side), size in prints.items():
            info = self.state.markets.get(mid)
            if info is None:
                continue
            fee = str(self.state.fee_rate_bps(mid))
            out.append((info.yes.token_id, m.WsLastTradePrice(info.yes.token_id, "last_trade_price", fee, mid, m.fmt(price_yes), yes_side.value, m.fmt(size), ts_ms)))
            out.append((info.no.token_id, m.WsLastTradePrice(info.no.token_id, "last_trade_price", fee, mid, m.fmt(Decimal(1) - price_yes), yes_side.opposite.value, m.fmt(size), ts_ms)))
        touched = {s for (_mid, s, _side, _p) in levels}
        for symbol in sorted(touched, key=lambda s: (self.state.tokens[s].market_id, self.state.tokens[s].outcome.value)):
            tok = self.state.tokens[symbol]
            best = self.state.best(tok)
            if best != self._best.get(symbol):
                self._best[symbol] = best
                bid, ask = best
                spread = (ask - bid) if bid is not None and ask is not None else None
                out.append(
                    (
                        symbol,
                        m.WsBestBidAsk(
                            "best_bid_ask",
                            tok.market_id,
                            symbol,
                            m.fmt(bid) if bid is not None else "0",
                            m.fmt(ask) if ask is not None else "1",
                            m.fmt(spread) if spread is not None else "1",
                            ts_ms,
                        ),
                    )
                )
        return out

    def _user_events(
        self,
        ts: int,
        trades_new: list[VenueTrade],
        status_changes: list[VenueTrade],
        order_events: list[OrderUpdated],
    ) -> None:
        # Put each order's PLACED first so a client never sees an update before the placement.
        placed_first: list[OrderUpdated] = []
        seen: set[str] = set()
        for ev in order_events:
            if ev.update is OrderUpdateKind.PLACED and ev.order.order_id not in seen:
                placed_first.append(ev)
                seen.add(ev.order.order_id)
        for ev in order_events:
            if ev.update is not OrderUpdateKind.PLACED:
                placed_first.append(ev)
        for conn in self._conns:
            if conn.channel != "user" or not conn.subscribed or conn.account is None:
                continue
            acct = conn.account
            out: list[Any] = []
            for vt in trades_new:
                if vt.involves(acct) and (not conn.markets or vt.market_id in conn.markets):
                    out.append(self.state.ws_trade(vt, acct, ts))
            for ev in placed_first:
                o = ev.order
                if o.account_id != acct or (conn.markets and o.market_id not in conn.markets):
                    continue
                msg = self._order_msg(ev, ts)
                if msg is not None:
                    out.append(msg)
            for vt in status_changes:
                if vt.involves(acct) and (not conn.markets or vt.market_id in conn.markets):
                    out.append(self.state.ws_trade(vt, acct, ts))
            if out:
                conn.push(self._frame(out))

    def _order_msg(self, ev: OrderUpdated, ts: int) -> m.WsUserOrder | None:
        o: SimOrder = ev.order
        u = ev.update
        if u is OrderUpdateKind.PLACED:
            return self.state.ws_order(o, "PLACEMENT", "LIVE", ts)
        if u is OrderUpdateKind.PARTIALLY_FILLED:
            return self.state.ws_order(o, "UPDATE", "LIVE" if o.status is SimOrderStatus.OPEN else "MATCHED", ts)
        if u is OrderUpdateKind.FILLED:
            return self.state.ws_order(o, "UPDATE", "MATCHED", ts)
        if u in (OrderUpdateKind.CANCELED, OrderUpdateKind.EXPIRED):
            return self.state.ws_order(o, "CANCELLATION", "CANCELED", ts)
        if u is OrderUpdateKind.REJECTED and o.reason == "FOK_NOT_FILLABLE" and o.order_id in self.state.order_owner:
            return self.state.ws_order(o, "CANCELLATION", "CANCELED_" + ERR_FOK, ts)
        return None

    @staticmethod
    def _frame(events: list[Any]) -> str:
        return (m.encode(events[0]) if len(events) == 1 else m.encode(events)).decode()

    # --- WebSocket ----------------------------------------------------------------------------

    async def _writer(self, conn: _Conn) -> None:
        channel = conn.channel
        try:
            while True:
                kind, text = await conn.queue.get()
                if kind == "close":
                    await conn.ws.close(code=int(text.split(" ", 1)[0]), message=text.split(" ", 1)[1].encode())
                    return
                copies = 1
                if kind == "data" and self.faults is not None:
                    hit = self.faults.ws_fault(VENUE, channel)
                    if hit is not None:
                        fk = getattr(hit.kind, "value", hit.kind)
                        if fk == "WS_DISCONNECT":
                            conn.closing = True
                            await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"disconnect (fault)")
                            return
                        if fk in ("WS_FREEZE", "WS_SEQ_GAP"):
                            continue  # dropped: the connection stays open and pings are answered
                        if fk == "WS_DELAY":
                            await self.clock.sleep(float(hit.spec.delay_s))
                        elif fk == "WS_DUPLICATE":
                            copies = 2
                for _ in range(copies):
                    await conn.ws.send_str(text)
        except (ConnectionResetError, RuntimeError, asyncio.CancelledError):
            return

    def _register(self, conn: _Conn) -> asyncio.Task:
        self._conns.append(conn)
        return self._spawn(self._writer(conn))

    async def _finish(self, conn: _Conn, writer: asyncio.Task) -> None:
        conn.closing = True
        if conn in self._conns:
            self._conns.remove(conn)
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)

    def _close_conn(self, conn: _Conn, code: int, reason: str) -> None:
        conn.queue.put_nowait(("close", f"{code} {reason}"))
        conn.closing = True

    def _subscribe_assets(self, conn: _Conn, assets: list[Any], initial_dump: bool) -> None:
        new = [a for a in assets if isinstance(a, str) and a not in conn.assets]
        if len(conn.assets) + len(set(new)) > self.max_assets:
            self._close_conn(conn, WSCloseCode.POLICY_VIOLATION, "too many assets")
            return
        for a in new:
            conn.assets.add(a)
        if initial_dump:
            now = self._now_ns()
            books = [self.state.ws_book(self.state.tokens[a], now) for a in dict.fromkeys(new) if a in self.state.tokens]
            if books:
                # The subscription dump is always an array, even for one asset (as the venue sends it).
                conn.push(m.encode(books).decode())

    async def ws_market(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = _Conn(ws=ws, channel="market")
        writer = self._register(conn)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                if msg.data == "PING":
                    conn.push_control("PONG")
                    continue
                try:
                    data = json.loads(msg.data)
                    if not isinstance(data, dict):
                        raise ValueError("not an object")
                except ValueError:
                    self._malformed(msg.data)
                    continue
                assets = data.get("assets_ids")
                if not isinstance(assets, list):
                    self._malformed(msg.data)
                    continue
                if "custom_feature_enabled" in data:
                    conn.custom = bool(data["custom_feature_enabled"])
                op = str(data.get("operation", "")).lower()
                if op == "unsubscribe":
                    for a in assets:
                        conn.assets.discard(a)
                elif op == "subscribe" or str(data.get("type", "")).lower() == "market":
                    conn.subscribed = True
                    self._subscribe_assets(conn, assets, bool(data.get("initial_dump", True)))
                    self._market_subscribed.set()
                else:
                    self._malformed(msg.data)
        finally:
            await self._finish(conn, writer)
        return ws

    async def ws_user(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = _Conn(ws=ws, channel="user")
        writer = self._register(conn)
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                if msg.data == "PING":
                    conn.push_control("PONG")
                    continue
                try:
                    data = json.loads(msg.data)
                    if not isinstance(data, dict):
                        raise ValueError("not an object")
                except ValueError:
                    self._malformed(msg.data, secret=True)
                    continue
                markets = data.get("markets") or []
                if not isinstance(markets, list):
                    self._malformed(msg.data, secret=True)
                    continue
                op = str(data.get("operation", "")).lower()
                if not conn.subscribed:
                    auth = data.get("auth")
                    creds = self._ws_auth(auth)
                    if creds is None:
                        self._close_conn(conn, WSCloseCode.POLICY_VIOLATION, "invalid auth")
                        break
                    conn.creds = creds
                    conn.account = creds.address
                    conn.subscribed = True
                    conn.markets = {x for x in markets if isinstance(x, str)}
                elif op == "subscribe":
                    conn.markets |= {x for x in markets if isinstance(x, str)}
                elif op == "unsubscribe":
                    conn.markets -= set(markets)
                else:
                    self._malformed(msg.data, secret=True)
            # Let a queued close frame go out before the handler returns.
            if conn.closing:
                await asyncio.wait_for(asyncio.shield(writer), timeout=5)
        except asyncio.TimeoutError:
            pass
        finally:
            await self._finish(conn, writer)
        return ws

    def _ws_auth(self, auth: Any) -> ApiCreds | None:
        if not isinstance(auth, dict):
            return None
        creds = self.keys.lookup(str(auth.get("apiKey", "")))
        if creds is None:
            return None
        if not (
            hmac.compare_digest(str(auth.get("secret", "")).encode(), creds.secret.encode())
            and hmac.compare_digest(str(auth.get("passphrase", "")).encode(), creds.passphrase.encode())
        ):
            return None
        return creds

    def _malformed(self, raw: str, *, secret: bool = False) -> None:
        self.malformed_ws += 1
        # User-channel messages carry API secrets: never log their content.
        sample = f"<{len(raw)} chars, not logged: may hold credentials>" if secret else raw[:200]
        log.warning("polymarket sim: malformed WS message (%d so far): %s", self.malformed_ws, sample)

    async def replay(self, replay: Any) -> None:
        """Send a recorded market stream on the market channel with its recorded spacing.

        The recording starts when the first market-channel client subscribes (otherwise its
        first messages would go to nobody); each line then goes out at its receive-time offset
        from the recording's first line, on the simulator's clock, exactly as recorded.
        """
        await self._market_subscribed.wait()
        origin_rec: int | None = None
        origin_now = self._now_ns()
        for recv_ns, raw in replay.lines_for(VENUE):
            if origin_rec is None:
                origin_rec = recv_ns
            delay = (origin_now + (recv_ns - origin_rec) - self._now_ns()) / 1e9
            if delay > 0:
                await self.clock.sleep(delay)
            for conn in list(self._conns):
                if conn.channel == "market" and conn.subscribed:
                    conn.push(raw)

