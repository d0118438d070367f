"""The simulated Kalshi WebSocket (``/trade-api/ws/v2``): sessions, subscriptions, channels.

Commands (docs.kalshi.com "Quick Start: WebSockets" and the AsyncAPI channel pages):
``{"id": n, "cmd": "subscribe", "params": {"channels": [...], "market_ticker(s)": ...}}`` answers one
``subscribed`` per channel (``{"id", "type": "subscribed", "msg": {"channel", "sid"}}``);
``unsubscribe`` (``params.sids``) answers ``unsubscribed`` per sid; ``update_subscription``
(``params.sids`` with exactly one sid, ``action`` add_markets / delete_markets / get_snapshot,
``market_tickers``) answers ``ok``. Errors are ``{"id", "type": "error", "msg": {"code", "msg"}}``.

Channels: ``orderbook_delta`` (private; market required; ``orderbook_snapshot`` per market, then
``orderbook_delta``; ``seq`` per subscription, +1 per message), ``ticker`` (``sid``, no ``seq``),
``trade`` (per-subscription ``seq``), ``fill`` (private, the connection's own fills),
``user_orders`` (private: a ``user_order`` message each time one of the connection's orders is
placed, filled, canceled or expires), ``market_positions`` (private: a ``market_position`` message
after each fill of the connection's account: signed position, cost basis, realized P&L, fees).

Faults (the run's FaultPlan, venue "kalshi", matched on the channel name) act on outgoing data
messages: WS_SEQ_GAP consumes a sequence number without sending, WS_FREEZE drops data (pings are
still answered by the transport), WS_DELAY holds the connection's queue, WS_DUPLICATE sends twice,
WS_DISCONNECT closes the socket. The server pings every ``heartbeat_s`` with payload "heartbeat".
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import itertools
import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import msgspec
from aiohttp import WSMsgType, web

from arbkit.core.clock import NS
from arbkit.sim.events import SimTrade
from arbkit.sim.kalshi import errors as E
from arbkit.sim.kalshi import messages as M
from arbkit.sim.kalshi.fixed import PRICE_ONE, decimal_to_count, decimal_to_price, fmt_count, fmt_money, fmt_price
from arbkit.sim.kalshi.state import FillRecord, KalshiState

log = logging.getLogger(__name__)

VENUE = "kalshi"
CHANNELS = ("orderbook_delta", "ticker", "trade", "fill", "user_orders", "market_positions", "market_lifecycle_v2")
PRIVATE_CHANNELS = frozenset({"orderbook_delta", "fill", "user_orders", "market_positions"})
MARKETS_REQUIRED = frozenset({"orderbook_delta"})
SEQUENCED = frozenset({"orderbook_delta", "trade"})
MAX_TICKERS = 256  # per subscription command (third-party docs of the venue; not load-bearing)

_decoder = msgspec.json.Decoder()


@dataclass(slots=True)
class Subscription:
    sid: int
    channel: str
    tickers: set[str] | None  # None: every market
    seq: int = 0

    def wants(self, ticker: str) -> bool:
        return self.tickers is None or ticker in self.tickers


@dataclass(slots=True)
class _Out:
    data: bytes
    delay_s: float = 0.0


@dataclass
class Session:
    ws: web.WebSocketResponse
    account: str | None
    subs: dict[int, Subscription] = field(default_factory=dict)
    queue: asyncio.Queue[_Out | None] = field(default_factory=asyncio.Queue)
    sids: Any = field(default_factory=lambda: itertools.count(1))
    closed: bool = False
    writer: asyncio.Task[None] | None = None
    sent: int = 0


class WsHub:
    """Every open session; the ``KalshiState`` sink that turns engine facts into WS messages."""

    def __init__(self, state: KalshiState, clock: Any, faults: Any, heartbeat_s: float = 10.0) -> None:
        self.state = state
        self.clock = clock
        self.faults = faults
        self.heartbeat_s = heartbeat_s
        self.sessions: list[Session] = []
        self.malformed = 0
        self._ticker_last: dict[str, tuple] = {}
        # Observers of every data frame a session is sent (tests hash the stream with this).
        self.taps: list[Callable[[Session, bytes], None]] = []
        # Builds the ``user_order`` payload of an order (the server owns the order view).
        self.user_order_builder: Callable[[Any], M.UserOrderMsg] | None = None
        state.sinks.append(self)

    # --- connection -----------------------------------------------------------------------------------

    async def serve(self, request: web.Request, account: str | None) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20)
        await ws.prepare(request)
        session = Session(ws=ws, account=account)
        self.sessions.append(session)
        session.writer = asyncio.create_task(self._writer(session))
        pinger = asyncio.create_task(self._pinger(session))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._command(session, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self._command(session, msg.data.decode("utf-8", "replace"))
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            session.closed = True
            pinger.cancel()
            if session in self.sessions:
                self.sessions.remove(session)
            session.queue.put_nowait(None)
            try:
                await asyncio.wait_for(session.writer, timeout=2)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                session.writer.cancel()
            if not ws.closed:
                await ws.close()
        return ws

    async def close_all(self) -> None:
        for s in list(self.sessions):
            s.closed = True
            await s.ws.close()

    async def _pinger(self, session: Session) -> None:
        try:
            while not session.closed:
                await asyncio.sleep(self.heartbeat_s)
                if session.ws.closed:
                    return
                await session.ws.ping(b"heartbeat")
        except (ConnectionError, RuntimeError, asyncio.CancelledError):
            return

    async def _writer(self, session: Session) -> None:
        ws = session.ws
        while True:
            item = await session.queue.get()
            if item is None:
                return
            if item.delay_s > 0:
                await self.clock.sleep(item.delay_s)
            if ws.closed:
                return
            try:
                await ws.send_str(item.data.decode())
            except (ConnectionError, RuntimeError):
                return
            session.sent += 1

    def _send(self, session: Session, obj: Any, delay_s: float = 0.0) -> None:
        if session.closed:
            return
        data = M.encode(obj)
        for tap in self.taps:
            tap(session, data)
        session.queue.put_nowait(_Out(data, delay_s))

    def _data(self, session: Session, sub: Subscription, type_: str, msg: Any) -> None:
        """Send one data message of ``sub``, applying the fault plan to it."""
        hit = self.faults.ws_fault(VENUE, sub.channel) if self.faults is not None else None
        kind = hit.kind.value if hit is not None else ""
        if sub.channel in SEQUENCED:
            sub.seq += 1
            env: Any = M.SeqEnvelope(type=type_, sid=sub.sid, seq=sub.seq, msg=msg)
        else:
            env = M.PlainEnvelope(type=type_, sid=sub.sid, msg=msg)
        if kind in ("WS_SEQ_GAP", "WS_FREEZE"):
            return  # the message (and its seq) is lost: the client must notice the gap
        if kind == "WS_DISCONNECT":
            session.closed = True
            asyncio.get_running_loop().create_task(session.ws.close())
            return
        delay = float(hit.spec.delay_s) if kind == "WS_DELAY" else 0.0
        self._send(session, env, delay)
        if kind == "WS_DUPLICATE":
            self._send(session, env)

    # --- commands ------------------------------------------------------------------------------------

    def _command(self, session: Session, text: str) -> None:
        try:
            cmd = _decoder.decode(text)
        except msgspec.DecodeError:
            self.malformed += 1
            log.warning("kalshi ws: unparseable command %r", text[:200])
            self._send(session, M.ws_error(None, E.WS_UNABLE_TO_PROCESS, E.WS_MESSAGES[E.WS_UNABLE_TO_PROCESS]))
            return
        if not isinstance(cmd, dict):
            self._send(session, M.ws_error(None, E.WS_UNABLE_TO_PROCESS, E.WS_MESSAGES[E.WS_UNABLE_TO_PROCESS]))
            return
        cid = cmd.get("id")
        if not isinstance(cid, int) or isinstance(cid, bool):
            cid = None
        name = cmd.get("cmd")
        params = cmd.get("params")
        if name not in ("subscribe", "unsubscribe", "update_subscription"):
            self._err(session, cid, E.WS_UNKNOWN_COMMAND, f"unknown command {name!r}")
            return
        if not isinstance(params, dict):
            self._err(session, cid, E.WS_PARAMS_REQUIRED)
            return
        if name == "subscribe":
            self._subscribe(session, cid, params)
        elif name == "unsubscribe":
            self._unsubscribe(session, cid, params)
        else:
            self._update(session, cid, params)

    def _err(self, session: Session, cid: int | None, code: int, detail: str = "") -> None:
        text = E.WS_MESSAGES[code] + (f": {detail}" if detail else "")
        self._send(session, M.ws_error(cid, code, text))

    def _tickers(self, session: Session, cid: int | None, params: dict[str, Any]) -> list[str] | None | bool:
        """Tickers named by ``market_ticker`` / ``market_tickers``; None when neither; False on error."""
        out: list[str] = []
        one = params.get("market_ticker")
        many = params.get("market_tickers")
        if one is not None:
            if not isinstance(one, str) or not one:
                self._err(session, cid, E.WS_INVALID_PARAMETER, "market_ticker must be a string")
                return False
            out.append(one)
        if many is not None:
            if not isinstance(many, list) or not all(isinstance(t, str) and t for t in many):
                self._err(session, cid, E.WS_INVALID_PARAMETER, "market_tickers must be a list of strings")
                return False
            out.extend(many)
        if one is None and many is None:
            return None
        if len(out) > MAX_TICKERS:
            self._err(session, cid, E.WS_INVALID_PARAMETER, f"at most {MAX_TICKERS} market tickers")
            return False
        for t in out:
            if t not in self.state.catalog.markets:
                self._err(session, cid, E.WS_MARKET_NOT_FOUND, t)
                return False
        return list(dict.fromkeys(out))

    def _subscribe(self, session: Session, cid: int | None, params: dict[str, Any]) -> None:
        channels = params.get("channels")
        if not isinstance(channels, list) or not channels:
            self._err(session, cid, E.WS_CHANNELS_REQUIRED)
            return
        for ch in channels:
            if ch not in CHANNELS:
                self._err(session, cid, E.WS_UNKNOWN_CHANNEL, str(ch))
                return
            if ch in PRIVATE_CHANNELS and session.account is None:
                self._err(session, cid, E.WS_AUTH_REQUIRED, ch)
                return
        tickers = self._tickers(session, cid, params)
        if tickers is False:
            return
        for ch in channels:
            if ch in MARKETS_REQUIRED and not tickers:
                self._err(session, cid, E.WS_MARKET_TICKER_REQUIRED, ch)
                return
        for ch in dict.fromkeys(channels):
            sub = Subscription(sid=next(session.sids), channel=ch, tickers=set(tickers) if tickers else None)
            session.subs[sub.sid] = sub
            self._send(session, M.Subscribed(id=cid if cid is not None else 0, type="subscribed", msg=M.SubscribedMsg(channel=ch, sid=sub.sid)))
            if ch == "orderbook_delta":
                for t in tickers or ():
                    self._snapshot(session, sub, t)

    def _unsubscribe(self, session: Session, cid: int | None, params: dict[str, Any]) -> None:
        sids = params.get("sids")
        if not isinstance(sids, list) or not sids or not all(isinstance(s, int) for s in sids):
            self._err(session, cid, E.WS_SIDS_REQUIRED)
            return
        for sid in sids:
            sub = session.subs.pop(sid, None)
            if sub is None:
                self._err(session, cid, E.WS_UNKNOWN_SID, str(sid))
                continue
            self._send(session, M.Unsubscribed(id=cid if cid is not None else 0, sid=sid, seq=sub.seq, type="unsubscribed"))

    def _update(self, session: Session, cid: int | None, params: dict[str, Any]) -> None:
        sids = params.get("sids")
        if sids is None and "sid" in params:
            sids = [params["sid"]]
        if not isinstance(sids, list) or not sids:
            self._err(session, cid, E.WS_SIDS_REQUIRED)
            return
        if len(sids) != 1 or not isinstance(sids[0], int):
            self._err(session, cid, E.WS_EXACTLY_ONE_SID)
            return
        sub = session.subs.get(sids[0])
        if sub is None:
            self._err(session, cid, E.WS_UNKNOWN_SID, str(sids[0]))
            return
        action = params.get("action")
        if not action:
            self._err(session, cid, E.WS_ACTION_REQUIRED)
            return
        if action not in ("add_markets", "delete_markets", "get_snapshot") or (
            action == "get_snapshot" and sub.channel != "orderbook_delta"
        ):
            self._err(session, cid, E.WS_UNSUPPORTED_ACTION, str(action))
            return
        tickers = self._tickers(session, cid, params)
        if tickers is False:
            return
        if not tickers:
            self._err(session, cid, E.WS_MARKET_TICKER_REQUIRED)
            return
        snapshots: list[str] = []
        if action == "add_markets":
            if sub.tickers is None:
                sub.tickers = set()
            new = [t for t in tickers if t not in sub.tickers]
            sub.tickers.update(new)
            if sub.channel == "orderbook_delta":
                snapshots = new
        elif action == "delete_markets":
            if sub.tickers is not None:
                sub.tickers.difference_update(tickers)
        else:
            snapshots = [t for t in tickers if sub.wants(t)]
        listed = sorted(sub.tickers) if sub.tickers is not None else None
        self._send(session, M.Ok(id=cid if cid is not None else 0, sid=sub.sid, seq=sub.seq, type="ok", market_tickers=listed))
        for t in snapshots:
            self._snapshot(session, sub, t)

    # --- channel messages ------------------------------------------------------------------------------

    def _snapshot(self, session: Session, sub: Subscription, ticker: str) -> None:
        info = self.state.catalog.markets[ticker]
        yes = [[fmt_price(p), fmt_count(q)] for p, q in self.state.bids(ticker, "yes")]
        no = [[fmt_price(p), fmt_count(q)] for p, q in self.state.bids(ticker, "no")]
        msg = M.SnapshotMsg(market_ticker=ticker, market_id=info.market_id, yes_dollars_fp=yes or None, no_dollars_fp=no or None)
        self._data(session, sub, "orderbook_snapshot", msg)

    def on_book(self, ticker: str, side: str, price: int, delta: int, ts_ns: int, initiator: tuple[str, str] | None) -> None:
        info = self.state.catalog.markets[ticker]
        for session in list(self.sessions):
            for sub in list(session.subs.values()):
                if sub.channel != "orderbook_delta" or not sub.wants(ticker):
                    continue
                coid = None
                if initiator is not None and initiator[0] == session.account and initiator[1]:
                    coid = initiator[1]
                msg = M.DeltaMsg(
                    market_ticker=ticker,
                    market_id=info.market_id,
                    price_dollars=fmt_price(price),
                    delta_fp=fmt_count(delta),
                    side=side,
                    ts=M.rfc3339(ts_ns),
                    ts_ms=ts_ns // 1_000_000,
                    client_order_id=coid,
                )
                self._data(session, sub, "orderbook_delta", msg)

    def on_event_fee_update(self, msg: M.EventFeeUpdateMsg) -> None:
        """``event_fee_update`` to every market_lifecycle_v2 subscriber (the channel takes no ticker filter)."""
        for session in list(self.sessions):
            for sub in list(session.subs.values()):
                if sub.channel == "market_lifecycle_v2":
                    self._data(session, sub, "event_fee_update", msg)

    def on_market_listed(self, info: Any, ts_ns: int) -> None:
        """``created`` to every market_lifecycle_v2 subscriber: a market listed while the venue
        runs. No ``activated`` follows: initialized -> active happens when open_time passes, with
        no WebSocket event (docs.kalshi.com/getting_started/market_lifecycle); this one opens at once."""
        close = _dt.datetime.fromisoformat(info.close_time.replace("Z", "+00:00"))
        created = M.LifecycleCreatedMsg(market_ticker=info.ticker, event_type="created", open_ts=ts_ns // NS,
                                        close_ts=int(close.timestamp()),
                                        additional_metadata={"title": info.title, "event_ticker": info.event_ticker,
                                                             "yes_sub_title": info.yes_sub_title,
                                                             "no_sub_title": info.no_sub_title,
                                                             "rules_primary": info.rules_primary})
        for session in list(self.sessions):
            for sub in list(session.subs.values()):
                if sub.channel == "market_lifecycle_v2":
                    self._data(session, sub, "market_lifecycle_v2", created)

    def on_market_resolved(self, ticker: str, result: str, ts_ns: int) -> None:
        """``determined`` then ``settled`` (the engine paid the holders at once) to every
        market_lifecycle_v2 subscriber (the channel takes no ticker filter)."""
        ts = ts_ns // NS
        det = M.LifecycleDeterminedMsg(market_ticker=ticker, event_type="determined", result=result,
                                       settlement_value="1.0000" if result == "yes" else "0.0000", determination_ts=ts)
        done = M.LifecycleSettledMsg(market_ticker=ticker, event_type="settled", settled_ts=ts)
        for msg in (det, done):
            for session in list(self.sessions):
                for sub in list(session.subs.values()):
                    if sub.channel == "market_lifecycle_v2":
                        self._data(session, sub, "market_lifecycle_v2", msg)

    def on_trade(self, trade: SimTrade, taker_outcome: str) -> None:
        price = decimal_to_price(trade.price_yes)
        msg = M.TradeMsg(
            trade_id=trade.trade_id,
            market_ticker=trade.market_id,
            yes_price_dollars=fmt_price(price),
            no_price_dollars=fmt_price(PRICE_ONE - price),
            count_fp=fmt_count(decimal_to_count(trade.size)),
            taker_outcome_side=taker_outcome,
            taker_book_side="bid" if taker_outcome == "yes" else "ask",
            ts=trade.ts_ns // NS,
        )
        for session in list(self.sessions):
            for sub in list(session.subs.values()):
                if sub.channel == "trade" and sub.wants(trade.market_id):
                    self._data(session, sub, "trade", msg)

    def on_fill(self, fill: FillRecord) -> None:
        msg = M.FillMsg(
            trade_id=fill.trade_id,
            order_id=fill.order_id,
            market_ticker=fill.ticker,
            is_taker=fill.is_taker,
            outcome_side=fill.outcome_side,
            book_side="bid" if fill.outcome_side == "yes" else "ask",
            yes_price_dollars=fmt_price(fill.price_yes),
            count_fp=fmt_count(fill.count),
            fee_cost=fmt_money(fill.fee),
            ts=fill.ts_ns // NS,
            post_position_fp=fmt_count(fill.post_position),
            client_order_id=fill.client_order_id or None,
        )
        for session in list(self.sessions):
            if session.account != fill.account_id:
                continue
            for sub in list(session.subs.values()):
                if sub.channel == "fill" and sub.wants(fill.ticker):
                    self._data(session, sub, "fill", msg)

    def on_order(self, order: Any) -> None:
        if self.user_order_builder is None:
            return
        wanted = [
            (session, sub)
            for session in self.sessions
            if session.account == order.account_id
            for sub in session.subs.values()
            if sub.channel == "user_orders" and sub.wants(order.market_id)
        ]
        if not wanted:
            return
        msg = self.user_order_builder(order)
        for session, sub in wanted:
            self._data(session, sub, "user_order", msg)

    def on_position(self, account: str, ticker: str, stats: Any) -> None:
        wanted = [
            (session, sub)
            for session in self.sessions
            if session.account == account
            for sub in session.subs.values()
            if sub.channel == "market_positions" and sub.wants(ticker)
        ]
        if not wanted:
            return
        msg = M.MarketPositionMsg(
            user_id=self.state.user_id(account),
            market_ticker=ticker,
            position_fp=fmt_count(stats.position),
            position_cost_dollars=fmt_money(stats.basis),
            realized_pnl_dollars=fmt_money(stats.realized_pnl),
            fees_paid_dollars=fmt_money(stats.fees_paid),
            position_fee_cost_dollars=fmt_money(stats.fee_basis),
            volume_fp=fmt_count(stats.volume),
        )
        for session, sub in wanted:
            self._data(session, sub, "market_position", msg)

    def ticker_msg(self, ticker: str, ts_ns: int) -> M.TickerMsg:
        st = self.state
        info = st.catalog.markets[ticker]
        ms = st.market_stats[ticker]
        yb = st.best_bid(ticker, "yes")
        nb = st.best_bid(ticker, "no")
        oi = decimal_to_count(st.open_interest(ticker))
        return M.TickerMsg(
            market_id=info.market_id,
            market_ticker=ticker,
            price_dollars=fmt_price(ms.last_price),
            yes_bid_dollars=fmt_price(yb[0] if yb else 0),
            yes_ask_dollars=fmt_price(PRICE_ONE - nb[0] if nb else 0),
            volume_fp=fmt_count(ms.volume),
            open_interest_fp=fmt_count(oi),
            dollar_volume=ms.dollar_volume // 1_000_000,
            dollar_open_interest=oi // 100,
            yes_bid_size_fp=fmt_count(yb[1] if yb else 0),
            yes_ask_size_fp=fmt_count(nb[1] if nb else 0),
            last_trade_size_fp=fmt_count(ms.last_size),
            ts=ts_ns // NS,
            ts_ms=ts_ns // 1_000_000,
            time=M.rfc3339(ts_ns - ts_ns % NS),
        )

    def on_ticker(self, ticker: str, ts_ns: int) -> None:
        if not any(sub.channel == "ticker" for s in self.sessions for sub in s.subs.values()):
            return
        msg = self.ticker_msg(ticker, ts_ns)
        key = (msg.price_dollars, msg.yes_bid_dollars, msg.yes_ask_dollars, msg.volume_fp, msg.open_interest_fp,
               msg.yes_bid_size_fp, msg.yes_ask_size_fp, msg.last_trade_size_fp)
        if self._ticker_last.get(ticker) == key:
            return
        self._ticker_last[ticker] = key
        for session in list(self.sessions):
            for sub in list(session.subs.values()):
                if sub.channel == "ticker" and sub.wants(ticker):
                    self._data(session, sub, "ticker", msg)
