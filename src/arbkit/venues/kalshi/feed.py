"""Kalshi market-data feed: one signed WebSocket -> bids-only books -> two outcome books per market.

- The handshake is signed like a REST request over ``GET /trade-api/ws/v2`` (KALSHI-ACCESS-KEY /
  -SIGNATURE / -TIMESTAMP headers on the upgrade); ``orderbook_delta`` needs it.
- Markets are subscribed with ``subscribe`` (one channel per command, at most 256 tickers per
  subscription) and added / removed later with ``update_subscription`` (``add_markets`` /
  ``delete_markets``), so many markets share a few subscriptions.
- ``orderbook_snapshot`` then ``orderbook_delta`` carry a per-SUBSCRIPTION ``seq`` (+1 per message).
  A gap (or a delta that would make a level negative) means some book of that subscription may
  have missed an update: the subscription is dropped (``unsubscribe``) and its markets subscribed
  afresh, which brings a new snapshot for each. Repeated ``seq`` numbers (duplicates) are ignored.
- Kalshi books hold bids only: YES bids and NO bids. Each market gives two PredictionBooks,
  ``kalshi:<T>:yes`` (bids = YES bids, asks = 1 - NO bids) and ``kalshi:<T>:no`` (bids = NO bids,
  asks = 1 - YES bids). Prices sit on a $0.001 grid (the finest documented step); a market whose
  prices are finer is re-gridded to $0.0001 and resynced. Counts are lots of 0.01 contract.
- Heartbeat: Kalshi pings every 10 s ("heartbeat"), the client answers automatically and also
  pings itself. Reconnect with exponential backoff and jitter. A silent freeze (connection up, no
  data for ``freeze_after_s``) marks the connection STALLED and reconnects; one quiet book is
  reported with ``BookStaleDetected``.
- ``record_path`` appends every received frame as ``<recv_ns> <raw frame>`` per line.
- Malformed messages are counted (``MalformedTracker``: Prometheus + in-object) and logged with a
  truncated sample; nothing raises out of the feed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Iterable
from urllib.parse import urlsplit

import msgspec
import websockets

from arbkit.core.book import PredictionBook
from arbkit.core.clock import Clock, LiveClock
from arbkit.core.enums import BookState, ConnectionState, Side, Venue
from arbkit.core.events import BookStaleDetected, BookUpdated, TradeReported
from arbkit.venues.base import EventSink
from arbkit.venues.common.malformed import not_utf8
from arbkit.venues.common.recorder import close_recording, frame_line, open_recording
from arbkit.venues.common.stats import CounterSet
from arbkit.venues.common.tasks import BackgroundTasks
from arbkit.venues.common.watchdog import STALE_BOOK_REASON, agrees_on_second_look, crosscheck_rounds, frozen_socket
from arbkit.venues.common.watchdog import newly_stale, run_watchdog
from arbkit.venues.common.ws import Backoff, ConnectionLink, SingleLinkStream, close_quietly, connect_ws
from arbkit.venues.common.ws import run_reconnecting, send_quietly
from arbkit.venues.kalshi import constants as C
from arbkit.venues.kalshi.auth import KalshiSigner
from arbkit.venues.kalshi.parse import (
    MalformedTracker,
    WsBody,
    WsFrame,
    body_ticker,
    body_ts_ns,
    decode_ws,
    delta_of,
    lifecycle_listing,
    lifecycle_resolution,
    lots_to_count,
    pick_count,
    pick_price,
    snapshot_levels,
    units_to_price,
    trade_taker_outcome,
)

log = logging.getLogger("arbkit.venues.kalshi.feed")

VENUE = Venue.KALSHI
_PREFIX = "kalshi:"
FINEST_TICK = Decimal("0.0001")


def ticker_of(instrument_id: str) -> str:
    """Market ticker from ``kalshi:T:yes`` / ``kalshi:T:no`` / ``kalshi:T`` / ``T``."""
    s = instrument_id[len(_PREFIX):] if instrument_id.startswith(_PREFIX) else instrument_id
    if s.endswith(":yes") or s.endswith(":no"):
        s = s.rsplit(":", 1)[0]
    if not s:
        raise ValueError(f"no market ticker in {instrument_id!r}")
    return s


def outcome_ids(ticker: str) -> tuple[str, str]:
    return f"{_PREFIX}{ticker}:yes", f"{_PREFIX}{ticker}:no"


@dataclass
class FeedConfig:
    ws_url: str = C.WS_URL
    channels: tuple[str, ...] = (C.CH_ORDERBOOK, C.CH_TICKER, C.CH_TRADE)
    tickers_per_subscription: int = C.MAX_TICKERS_PER_COMMAND
    ping_interval_s: float = C.HEARTBEAT_S
    ping_timeout_s: float = 20.0
    # a measured PING every liveness_ping_s: its PONG dates the connection's last sign of life, so
    # a quiet book on a live connection counts as current (silence_ns); 0 = off
    liveness_ping_s: float = 1.0
    reconnect_initial_s: float = 0.25
    reconnect_max_s: float = 30.0
    connect_timeout_s: float = 10.0
    command_timeout_s: float = 10.0
    freeze_after_s: float = 60.0  # connection up but no data frame at all this long -> STALLED, reconnect
    stale_book_after_s: float = 300.0  # one book without an update this long -> BookStaleDetected
    resync_timeout_s: float = 10.0  # a book waiting for its snapshot this long -> resubscribe again
    watchdog_interval_s: float = 1.0
    crosscheck_interval_s: float = 60.0  # compare live books with REST /orderbook (needs ``rest``); 0 = off
    crosscheck_books_per_round: int = 5
    default_tick_size: Decimal = C.DEFAULT_BOOK_TICK
    record_path: str | None = None
    book_updates: str = "all"  # "all": BookUpdated for every change; "top": only when a top level moved
    # also subscribe market_lifecycle_v2 (no ticker filter): a determined / settled market of ours
    # closes its books and goes out as MarketResolved
    lifecycle: bool = True

    def __post_init__(self) -> None:
        if not 1 <= self.tickers_per_subscription <= C.MAX_TICKERS_PER_COMMAND:
            raise ValueError(f"tickers_per_subscription must be within 1..{C.MAX_TICKERS_PER_COMMAND}")
        if self.book_updates not in ("all", "top"):
            raise ValueError(f"book_updates must be 'all' or 'top', got {self.book_updates!r}")
        unknown = set(self.channels) - {C.CH_ORDERBOOK, C.CH_TICKER, C.CH_TRADE}
        if unknown:
            raise ValueError(f"unknown market-data channels {sorted(unknown)}")
        if self.freeze_after_s <= 0 or self.ping_interval_s <= 0:
            raise ValueError("freeze_after_s and ping_interval_s must be positive")


class FeedStats(CounterSet):
    """Feed counters (see ``as_dict``)."""

    __slots__ = ("frames", "snapshots", "deltas_applied", "deltas_dropped", "duplicates", "seq_gaps",
                 "resyncs", "reconnects", "freezes", "stale_books", "trades", "tickers", "foreign_sid",
                 "negative_levels", "regrids", "command_errors", "crosscheck_runs", "crosscheck_mismatches",
                 "resolutions", "listings")


class Market:
    """One market's two outcome books (bids of each side, asks derived from the other side)."""

    __slots__ = ("ticker", "yes_id", "no_id", "yes", "no", "tick_size", "tick_units", "n", "state",
                 "last_update_mono", "dropped_at_mono", "stale_reported", "update_count", "top", "last_ticker",
                 "_prices")

    def __init__(self, ticker: str, tick_size: Decimal) -> None:
        self.ticker = ticker
        self.yes_id, self.no_id = outcome_ids(ticker)
        self.state = BookState.EMPTY
        self.last_update_mono = 0
        self.dropped_at_mono = 0
        self.stale_reported = False
        self.update_count = 0
        self.last_ticker: WsBody | None = None
        self.set_grid(tick_size)

    def set_grid(self, tick_size: Decimal) -> None:
        units = tick_size / C.PRICE_UNIT
        if units != units.to_integral_value() or units <= 0 or C.PRICE_ONE_UNITS % int(units):
            raise ValueError(f"Kalshi book tick {tick_size} is not a divisor of $1 in $0.0001 steps")
        self.tick_size = tick_size
        self.tick_units = int(units)
        self.n = C.PRICE_ONE_UNITS // self.tick_units
        self.yes = PredictionBook(tick_size, C.COUNT_DIGITS, instrument_id=self.yes_id)
        self.no = PredictionBook(tick_size, C.COUNT_DIGITS, instrument_id=self.no_id)
        self.top: tuple = (None, None)  # (last emitted top levels, their Decimals)
        self._prices: dict[int, Decimal] = {}

    def price_dec(self, tick: int) -> Decimal:
        p = self._prices.get(tick)
        if p is None:
            p = self._prices[tick] = self.yes.price(tick)
        return p

    @property
    def live(self) -> bool:
        return self.state is BookState.LIVE or self.state is BookState.CROSSED

    def tick(self, price_units: int) -> int:
        t, r = divmod(price_units, self.tick_units)
        if r:
            raise _OffGrid(price_units)
        return t

    def apply_snapshot(self, yes_levels: list[tuple[int, int]], no_levels: list[tuple[int, int]], seq: int,
                       ts_ns: int) -> None:
        n = self.n
        yb = [(self.tick(p), q) for p, q in yes_levels if q > 0]
        nb = [(self.tick(p), q) for p, q in no_levels if q > 0]
        # YES book: bids = YES bids, asks = 1 - NO bids; NO book the mirror image.
        self.yes.apply_snapshot(yb, [(n - t, q) for t, q in nb], seq, ts_ns)
        self.no.apply_snapshot(nb, [(n - t, q) for t, q in yb], seq, ts_ns)
        self.state = BookState.CROSSED if self.yes.is_crossed() else BookState.LIVE

    def apply_delta(self, is_yes: bool, price_units: int, delta_lots: int, seq: int, ts_ns: int) -> None:
        t = self.tick(price_units)
        own, other = (self.yes, self.no) if is_yes else (self.no, self.yes)
        new = own.size_at(True, t) + delta_lots
        if new < 0:
            raise _NegativeLevel(f"{'yes' if is_yes else 'no'} bid at {units_to_price(price_units)} would go to "
                                 f"{lots_to_count(new)}")
        own.apply_delta(True, t, new, seq, ts_ns)
        other.apply_delta(False, self.n - t, new, seq, ts_ns)
        crossed = own.is_crossed()
        if crossed and self.state is BookState.LIVE:
            self.state = BookState.CROSSED
        elif not crossed and self.state is BookState.CROSSED:
            self.state = BookState.LIVE

    def clear(self) -> None:
        self.yes.clear()
        self.no.clear()
        self.top = (None, None)


def _lots_dec(lots: int, _exp: int = -C.COUNT_DIGITS) -> Decimal:
    return Decimal(lots).scaleb(_exp)


class _OffGrid(ValueError):
    def __init__(self, units: int) -> None:
        super().__init__(f"price {units_to_price(units)} is off the book grid")
        self.units = units


class _NegativeLevel(ValueError):
    pass


@dataclass
class _Sub:
    sid: int
    channel: str
    tickers: set[str]
    last_seq: int = 0


@dataclass
class _Pending:
    cmd: str
    channel: str = ""
    sid: int = 0
    action: str = ""
    tickers: list[str] = field(default_factory=list)
    future: asyncio.Future | None = None


class KalshiMarketFeed(SingleLinkStream):
    """Implements :class:`arbkit.venues.base.MarketFeed` for Kalshi."""

    venue = VENUE
    _log = log

    def __init__(self, sink: EventSink, config: FeedConfig | None = None, *, signer: KalshiSigner | None = None,
                 clock: Clock | None = None, tick_sizes: dict[str, Decimal] | None = None, rest=None) -> None:
        self.config = config or FeedConfig()
        self.sink = sink
        self.signer = signer
        self.rest = rest  # anything with ``async orderbook(ticker) -> (yes bids, no bids)``, e.g. KalshiGateway
        self.clock = clock or LiveClock()
        self.stats = FeedStats()
        self.malformed = MalformedTracker("market")
        self._link = ConnectionLink(VENUE, "kalshi.market.0", self._emit, self.clock.now_ns)
        self._tick_hint = {ticker_of(k): v for k, v in (tick_sizes or {}).items()}
        self._markets: dict[str, Market] = {}
        self._subs: dict[int, _Sub] = {}
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._rejected: dict[str, str] = {}  # ticker -> why the venue refused it
        self._closed: dict[str, str] = {}  # ticker -> lifecycle stage that closed it (sticky)
        self._listed: dict[str, str] = {}  # ticker -> last listing stage reported (created, activated)
        self.lifecycle_supported: bool | None = None
        self._running = False
        self._stop = asyncio.Event()
        self._dirty: asyncio.Event | None = None
        self._tasks = BackgroundTasks()
        self._spawn = self._tasks.spawn
        self._record: IO[str] | None = None
        self._backoff = Backoff(self.config.reconnect_initial_s, self.config.reconnect_max_s, random.Random())
        self._last_data_mono = 0
        self._last_alive_mono = 0
        self._top_only = self.config.book_updates == "top"
        self._mono = self.clock.monotonic_ns

    # --- contract ---------------------------------------------------------------------------

    def subscribe(self, instrument_ids: Iterable[str]) -> None:
        for iid in instrument_ids:
            t = ticker_of(iid)
            if t not in self._markets:
                self._markets[t] = Market(t, self._tick_hint.get(t, self.config.default_tick_size))
                self._rejected.pop(t, None)
        self._mark_dirty()

    def unsubscribe(self, instrument_ids: Iterable[str]) -> None:
        for iid in instrument_ids:
            self._markets.pop(ticker_of(iid), None)
        self._mark_dirty()

    def book(self, instrument_id: str) -> PredictionBook | None:
        """The outcome's book while it is synchronised (LIVE or CROSSED), else None."""
        m = self._markets.get(ticker_of(instrument_id))
        if m is None or not m.live:
            return None
        return m.no if instrument_id.endswith(":no") else m.yes

    def market(self, ticker: str) -> Market | None:
        return self._markets.get(ticker_of(ticker))

    def book_state(self, instrument_id: str) -> BookState | None:
        m = self._markets.get(ticker_of(instrument_id))
        return m.state if m is not None else None

    def is_tradeable(self, instrument_id: str, max_age_ns: int) -> bool:
        m = self._markets.get(ticker_of(instrument_id))
        if m is None or m.state is not BookState.LIVE or self.state is not ConnectionState.CONNECTED:
            return False
        if m.yes.is_crossed():
            return False
        return self._mono() - m.last_update_mono <= max_age_ns

    def silence_ns(self, instrument_id: str) -> int | None:
        """Nanoseconds since the connection last showed it is alive — market data on any
        subscription or the PONG to our liveness PING (``liveness_ping_s``) — or None when the
        market is unknown or the connection is not CONNECTED. Each subscription's ``seq`` is
        continuous or its books are resyncing, so a LIVE book on a live connection missed nothing."""
        if ticker_of(instrument_id) not in self._markets or self.state is not ConnectionState.CONNECTED:
            return None
        return self._mono() - max(self._last_data_mono, self._last_alive_mono)

    @property
    def tickers(self) -> list[str]:
        return list(self._markets)

    @property
    def rejected(self) -> dict[str, str]:
        return dict(self._rejected)

    def subscriptions(self) -> dict[int, tuple[str, list[str]]]:
        return {sid: (s.channel, sorted(s.tickers)) for sid, s in self._subs.items()}

    async def run(self) -> None:
        if self._running:
            raise RuntimeError("feed already running")
        self._running = True
        self._stop.clear()
        self._dirty = asyncio.Event()
        if self.config.record_path:
            self._record = open_recording(self.config.record_path)
        self._spawn(run_watchdog(self.config, self._check_health, log))
        if self.rest is not None and self.config.crosscheck_interval_s > 0:
            self._spawn(crosscheck_rounds(self.config.crosscheck_interval_s, self.config.crosscheck_books_per_round,
                                           self._live_keys, self.crosscheck, log))
        try:
            await self._connection_loop()
        finally:
            await self._shutdown()

    async def stop(self) -> None:
        self._stop.set()
        if self._link.ws is not None:
            await close_quietly(self._link.ws)

    async def reconnect(self, reason: str = "requested") -> None:
        """Drop the connection now (it comes back by itself); tests and operators use this."""
        if self._link.ws is not None:
            log.info("kalshi feed: closing connection (%s)", reason)
            await close_quietly(self._link.ws)

    # --- connection -------------------------------------------------------------------------

    def _mark_dirty(self) -> None:
        if self._dirty is not None:
            self._dirty.set()

    async def _shutdown(self) -> None:
        await self._tasks.cancel_all()
        self._link.ws = None
        self._link.set_state(ConnectionState.DISCONNECTED, "stopped")
        close_recording(self._record)
        self._record = None
        self._running = False

    def _handshake_headers(self) -> dict[str, str]:
        if self.signer is None:
            return {}
        return self.signer.headers("GET", urlsplit(self.config.ws_url).path or C.WS_PATH)

    async def _connection_loop(self) -> None:
        cfg = self.config

        def connect():  # signed again on every attempt: the signature carries a timestamp
            return connect_ws(cfg.ws_url, timeout_s=cfg.connect_timeout_s, headers=self._handshake_headers(),
                              ping_interval_s=cfg.ping_interval_s, ping_timeout_s=cfg.ping_timeout_s)

        def retry(reason: str, delay: float) -> None:
            self.stats.reconnects += 1

        await run_reconnecting(self._link, self._stop, connect, self._serve, self._backoff,
                               on_closed=self._drop_all_subscriptions, on_retry=retry)

    def _drop_all_subscriptions(self) -> None:
        self._subs.clear()
        for p in self._pending.values():
            if p.future is not None and not p.future.done():
                p.future.set_exception(ConnectionError("connection closed"))
        self._pending.clear()
        now = self._mono()
        for m in self._markets.values():
            if m.state is not BookState.EMPTY and m.state is not BookState.CLOSED:
                m.state = BookState.RESYNCING
                m.dropped_at_mono = now

    async def _serve(self, ws) -> None:
        self._last_data_mono = self._mono()
        self._link.set_state(ConnectionState.CONNECTED)
        assert self._dirty is not None
        self._dirty.set()
        commander = asyncio.get_running_loop().create_task(self._commander(ws))
        alive = (asyncio.get_running_loop().create_task(self._liveness_pinger(ws))
                 if self.config.liveness_ping_s > 0 else None)
        try:
            async for raw in ws:
                self.on_frame(raw)
        finally:
            for task in (commander, alive):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task

    async def _liveness_pinger(self, ws) -> None:
        """Measured keep-alive (the websocket library's own only closes a dead socket): each PONG
        marks the connection alive now. A failure ends it; the read loop handles a dead socket."""
        while True:
            await asyncio.sleep(self.config.liveness_ping_s)
            try:
                waiter = await ws.ping()
                async with asyncio.timeout(self.config.ping_timeout_s):
                    await waiter
            except Exception:  # noqa: BLE001 - closed or broken: the reconnect loop takes over
                return
            self._last_alive_mono = self._mono()

    async def _command(self, ws, cmd: str, params: dict, pending: _Pending) -> WsFrame:
        cid = next(self._ids)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        pending.future = fut
        self._pending[cid] = pending
        await ws.send(msgspec.json.encode({"id": cid, "cmd": cmd, "params": params}).decode())
        try:
            async with asyncio.timeout(self.config.command_timeout_s):
                return await fut
        finally:
            self._pending.pop(cid, None)

    async def _commander(self, ws) -> None:
        """Bring the venue's subscriptions in line with the wanted markets, one command at a time."""
        assert self._dirty is not None
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self._reconcile(ws)
            except websockets.ConnectionClosed:
                return  # the reader sees it too and the connection loop reconnects
            except Exception as exc:  # noqa: BLE001 - keep reconciling; a dead commander would go unnoticed
                log.warning("kalshi feed: subscription command failed (%r); retrying", exc)
                self.stats.command_errors += 1
                await asyncio.sleep(0.5)
                self._dirty.set()

    async def _reconcile(self, ws) -> None:
        if (self.config.lifecycle and self.lifecycle_supported is not False
                and not any(s.channel == C.CH_LIFECYCLE for s in self._subs.values())):
            reply = await self._command(ws, "subscribe", {"channels": [C.CH_LIFECYCLE]},
                                        _Pending("subscribe", C.CH_LIFECYCLE))
            if reply.type == "error":
                self.lifecycle_supported = False
                log.warning("kalshi feed: no %s channel (%s); resolutions reach us only through REST",
                            C.CH_LIFECYCLE, reply.msg.msg if reply.msg is not None else "")
            else:
                self.lifecycle_supported = True
        per = self.config.tickers_per_subscription
        wanted = [t for t in self._markets if t not in self._rejected]
        for channel in self.config.channels:
            subs = [s for s in self._subs.values() if s.channel == channel]
            have = set().union(*(s.tickers for s in subs)) if subs else set()
            wanted_set = set(wanted)
            for s in subs:
                gone = sorted(s.tickers - wanted_set)
                if not gone:
                    continue
                if len(gone) == len(s.tickers):
                    await self._command(ws, "unsubscribe", {"sids": [s.sid]}, _Pending("unsubscribe", channel, s.sid))
                else:
                    await self._command(ws, "update_subscription",
                                        {"sids": [s.sid], "action": "delete_markets", "market_tickers": gone},
                                        _Pending("update", channel, s.sid, "delete_markets", gone))
            missing = [t for t in wanted if t not in have]
            for s in [s for s in self._subs.values() if s.channel == channel]:
                room = per - len(s.tickers)
                if room <= 0 or not missing:
                    continue
                chunk, missing = missing[:room], missing[room:]
                self._mark_resync(chunk, channel)
                reply = await self._command(ws, "update_subscription",
                                            {"sids": [s.sid], "action": "add_markets", "market_tickers": chunk},
                                            _Pending("update", channel, s.sid, "add_markets", chunk))
                self._on_command_error(reply, chunk)
            while missing:
                chunk, missing = missing[:per], missing[per:]
                self._mark_resync(chunk, channel)
                reply = await self._command(ws, "subscribe", {"channels": [channel], "market_tickers": chunk},
                                            _Pending("subscribe", channel, tickers=chunk))
                self._on_command_error(reply, chunk)

    def _mark_resync(self, tickers: list[str], channel: str) -> None:
        if channel != C.CH_ORDERBOOK:
            return
        now = self._mono()
        for t in tickers:
            m = self._markets.get(t)
            if m is not None and m.state is not BookState.EMPTY and m.state is not BookState.CLOSED:
                m.state = BookState.RESYNCING
                m.dropped_at_mono = now
            elif m is not None:
                m.dropped_at_mono = now

    def _on_command_error(self, reply: WsFrame, tickers: list[str]) -> None:
        if reply.type != "error":
            return
        code = reply.msg.code if reply.msg is not None else None
        text = reply.msg.msg if reply.msg is not None else ""
        self.stats.command_errors += 1
        log.warning("kalshi feed: venue refused a subscription for %s: %s %s", tickers[:5], code, text)
        if len(tickers) == 1 or code == 16:  # market not found: do not ask again for it
            for t in tickers:
                self._rejected[t] = f"{code}: {text}"

    def _resync_subscription(self, sub: _Sub, reason: str) -> None:
        """Forget a subscription (its books may have missed a delta) and subscribe its markets afresh."""
        self.stats.resyncs += 1
        self._subs.pop(sub.sid, None)
        now = self._mono()
        for t in sub.tickers:
            m = self._markets.get(t)
            if m is not None and sub.channel == C.CH_ORDERBOOK and m.state is not BookState.CLOSED:
                m.state = BookState.RESYNCING
                m.dropped_at_mono = now
        log.info("kalshi feed: resync of sid %s (%d markets): %s", sub.sid, len(sub.tickers), reason)
        ws = self._link.ws
        if ws is not None and self._running:
            self._spawn(send_quietly(ws, {"id": next(self._ids), "cmd": "unsubscribe", "params": {"sids": [sub.sid]}}))
        self._mark_dirty()

    # --- frames -----------------------------------------------------------------------------

    def on_frame(self, raw: str | bytes, recv_ns: int | None = None) -> None:
        """Handle one received frame (public for replay and benchmarks). Never raises."""
        if recv_ns is None:
            recv_ns = self.clock.now_ns()
        if self._record is not None:
            self._record.write(frame_line(recv_ns, raw))
        self.stats.frames += 1
        if raw.__class__ is not str and not raw.isascii() and (bad := not_utf8(raw)) is not None:
            self._emit(self.malformed.record(raw, bad, recv_ns))  # a binary frame that is not UTF-8
            return
        try:
            frame = decode_ws(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self._emit(self.malformed.record(raw, exc, recv_ns))
            return
        try:
            self._on_frame(frame, recv_ns)
        except Exception as exc:  # noqa: BLE001 - a bad message must never take the feed down
            self._emit(self.malformed.record(raw, f"{frame.type or 'untyped'} message: {exc!r}", recv_ns))

    def _on_frame(self, frame: WsFrame, recv_ns: int) -> None:
        typ = frame.type
        if typ == "orderbook_delta" or typ == "orderbook_snapshot" or typ == "trade" or typ == "ticker":
            self._last_data_mono = self._mono()
            self._link.attempt = 0
            sub = self._subs.get(frame.sid) if frame.sid is not None else None
            if sub is None:
                if self._running:
                    self.stats.foreign_sid += 1  # an old subscription's message still in flight
                    return
                sub = self._offline_sub(frame)
            if frame.seq is not None:
                if not 0 <= frame.seq < 2**63:  # an absurd seq must not become last_seq (all else = "duplicate")
                    raise ValueError(f"seq {frame.seq} out of range")
                if frame.seq <= sub.last_seq:
                    self.stats.duplicates += 1
                    return
                if sub.last_seq and frame.seq != sub.last_seq + 1:
                    self.stats.seq_gaps += 1
                    if sub.channel == C.CH_ORDERBOOK:
                        self._resync_subscription(sub, f"seq gap: expected {sub.last_seq + 1}, got {frame.seq}")
                        return
                sub.last_seq = frame.seq
            body = frame.msg
            if body is None:
                raise ValueError(f"{typ} without msg")
            if typ == "orderbook_delta" or typ == "orderbook_snapshot":
                try:
                    if typ == "orderbook_delta":
                        self._on_delta(sub, body, frame.seq or 0, recv_ns)
                    else:
                        self._on_snapshot(body, frame.seq or 0, recv_ns)
                except Exception:
                    # The message used up a seq number but changed no book: the books of this
                    # subscription can no longer be trusted.
                    self._resync_subscription(sub, f"unusable {typ}")
                    raise
            elif typ == "trade":
                self._on_trade(body, recv_ns)
            else:
                self.stats.tickers += 1
                m = self._markets.get(body_ticker(body))
                if m is not None:
                    m.last_ticker = body
            return
        if typ in ("subscribed", "ok", "unsubscribed", "error"):
            self._on_reply(frame)
            return
        if typ == C.CH_LIFECYCLE:
            if frame.msg is None:
                raise ValueError("market_lifecycle_v2 without msg")
            self._on_lifecycle(frame.msg, recv_ns)
            return
        if typ in ("event_lifecycle", "event_fee_update"):
            return  # the gateway learns fees from the user stream's copy
        raise ValueError(f"unknown message type {typ!r}")

    def _on_lifecycle(self, body: WsBody, recv_ns: int) -> None:
        """determined / settled: the market's books close for good; MarketResolved for each stage
        (determined carries the result, settled says the cash moved)."""
        listing = lifecycle_listing(body, recv_ns)
        if listing is not None:
            # created / activated: the market finder decides whether anything subscribes
            if self._listed.get(listing.market_id) != listing.stage:
                self._listed[listing.market_id] = listing.stage
                self.stats.listings += 1
                self._emit(listing)
            return
        ev = lifecycle_resolution(body, 0, recv_ns)
        if ev is None:
            return
        ticker = ev.market_id
        if self._closed.get(ticker) == ev.stage:
            return  # a repeat after a reconnect
        self._closed[ticker] = ev.stage
        m = self._markets.get(ticker)
        if m is not None:
            m.state = BookState.CLOSED
            m.clear()
        self.stats.resolutions += 1
        log.warning("kalshi: market %s %s (result %s)", ticker, ev.stage, ev.winning_outcome or "-")
        self._emit(ev)

    def _offline_sub(self, frame: WsFrame) -> _Sub:
        """Replay / benchmark without a connection: accept every sid, with seq checks."""
        channel = C.CH_ORDERBOOK if frame.type.startswith("orderbook") else frame.type
        sub = _Sub(sid=frame.sid or 0, channel=channel, tickers=set(self._markets))
        self._subs[sub.sid] = sub
        return sub

    def _on_reply(self, frame: WsFrame) -> None:
        pending = self._pending.get(frame.id) if frame.id is not None else None
        body = frame.msg
        if frame.type == "subscribed":
            if pending is not None and body is not None and body.sid is not None:
                self._subs[body.sid] = _Sub(sid=body.sid, channel=body.channel or pending.channel,
                                            tickers=set(pending.tickers))
        elif frame.type == "ok":
            if pending is not None:
                sub = self._subs.get(pending.sid)
                if sub is not None:
                    if pending.action == "add_markets":
                        sub.tickers.update(pending.tickers)
                    elif pending.action == "delete_markets":
                        sub.tickers.difference_update(pending.tickers)
        elif frame.type == "unsubscribed":
            sid = frame.sid if frame.sid is not None else (body.sid if body is not None else None)
            if sid is not None:
                self._subs.pop(sid, None)
        else:  # error
            code = body.code if body is not None else None
            text = body.msg if body is not None else ""
            if pending is None:
                if code != C.WS_ERR_UNKNOWN_SID:  # unsubscribing a sid we already dropped is fine
                    log.warning("kalshi feed: venue error %s %s", code, text)
            elif pending.cmd == "unsubscribe" and code == C.WS_ERR_UNKNOWN_SID:
                self._subs.pop(pending.sid, None)
        if pending is not None and pending.future is not None and not pending.future.done():
            pending.future.set_result(frame)

    def _on_snapshot(self, body: WsBody, seq: int, recv_ns: int) -> None:
        ticker = body_ticker(body)
        m = self._markets.get(ticker)
        if m is None or m.state is BookState.CLOSED:
            return
        yes, no = snapshot_levels(body)
        try:
            m.apply_snapshot(yes, no, seq, recv_ns)
        except _OffGrid:
            if m.tick_size == FINEST_TICK:
                raise
            self.stats.regrids += 1
            log.warning("kalshi %s has prices finer than %s; using %s", ticker, m.tick_size, FINEST_TICK)
            m.set_grid(FINEST_TICK)
            self._tick_hint[ticker] = FINEST_TICK
            m.apply_snapshot(yes, no, seq, recv_ns)
        m.stale_reported = False
        m.dropped_at_mono = 0
        self.stats.snapshots += 1
        self._emit_book(m, seq, recv_ns, force=True)

    def _on_delta(self, sub: _Sub, body: WsBody, seq: int, recv_ns: int) -> None:
        ticker = body_ticker(body)
        is_yes, pu, dl = delta_of(body)  # validate even when the book is not live: junk is junk
        ts_venue = body_ts_ns(body)  # before the book changes: a bad ts must not leave a half-applied frame
        m = self._markets.get(ticker)
        if m is None or not m.live:
            self.stats.deltas_dropped += 1
            return
        try:
            m.apply_delta(is_yes, pu, dl, seq, recv_ns)
        except _OffGrid:
            self.stats.regrids += 1
            m.set_grid(FINEST_TICK)
            self._tick_hint[m.ticker] = FINEST_TICK
            m.state = BookState.RESYNCING
            self._resync_subscription(sub, f"{m.ticker}: price off the {m.tick_size} grid")
            return
        except _NegativeLevel as exc:
            self.stats.negative_levels += 1
            self._resync_subscription(sub, f"{m.ticker}: {exc}")
            return
        self.stats.deltas_applied += 1
        self._emit_book(m, seq, recv_ns, ts_venue=ts_venue)

    def _on_trade(self, body: WsBody, recv_ns: int) -> None:
        ticker = body_ticker(body)
        if ticker not in self._markets:
            return
        self.stats.trades += 1
        yes = pick_price(body.yes_price_dollars, body.yes_price, "trade yes price")
        no = pick_price(body.no_price_dollars, body.no_price, "trade no price")
        if yes is None:
            if no is None:
                raise ValueError("trade without price")
            yes = C.PRICE_ONE_UNITS - no
        lots = pick_count(body.count_fp, body.count, "trade count")
        if lots is None or lots <= 0:
            raise ValueError("trade without a positive count")
        size = lots_to_count(lots)
        taker = trade_taker_outcome(body)
        ts = body_ts_ns(body)
        yes_id, no_id = outcome_ids(ticker)
        # A taker buying YES sold NO, and the other way round.
        self._emit(TradeReported(venue=VENUE, instrument_id=yes_id, price=units_to_price(yes), size=size,
                                 aggressor=None if taker is None else (Side.BUY if taker == "yes" else Side.SELL),
                                 ts_venue=ts, ts_recv=recv_ns))
        self._emit(TradeReported(venue=VENUE, instrument_id=no_id, price=units_to_price(C.PRICE_ONE_UNITS - yes),
                                 size=size, aggressor=None if taker is None else (Side.BUY if taker == "no" else Side.SELL),
                                 ts_venue=ts, ts_recv=recv_ns))

    def _emit_book(self, m: Market, seq: int, recv_ns: int, force: bool = False, ts_venue: int = 0) -> None:
        m.last_update_mono = self._mono()
        m.stale_reported = False
        m.update_count += 1
        yes, no = m.yes, m.no
        top = (yes.best_bid(), yes.best_ask(), no.best_bid(), no.best_ask())
        old = m.top
        if self._top_only and not force and top == old[0]:
            return
        # Decimals of a level that did not move are reused from the previous event (the top moves far
        # less often than deeper levels); prices come from a per-market tick cache.
        dec = list(old[1]) if len(old) == 2 and old[0] is not None else [None] * 8
        prev = old[0] if len(old) == 2 and old[0] is not None else (None, None, None, None)
        price_of = m.price_dec
        for i in range(4):
            lv = top[i]
            if lv != prev[i]:
                if lv is None:
                    dec[2 * i] = dec[2 * i + 1] = None
                else:
                    dec[2 * i] = price_of(lv[0])
                    dec[2 * i + 1] = _lots_dec(lv[1])
        m.top = (top, dec)
        emit = self._emit
        emit(BookUpdated(venue=VENUE, instrument_id=m.yes_id, sequence=seq, best_bid=dec[0], best_bid_size=dec[1],
                         best_ask=dec[2], best_ask_size=dec[3], ts_book=recv_ns, ts_recv=recv_ns,
                         ts_venue=ts_venue))
        emit(BookUpdated(venue=VENUE, instrument_id=m.no_id, sequence=seq, best_bid=dec[4], best_bid_size=dec[5],
                         best_ask=dec[6], best_ask_size=dec[7], ts_book=recv_ns, ts_recv=recv_ns,
                         ts_venue=ts_venue))

    # --- watchdog ---------------------------------------------------------------------------

    def _check_health(self, freeze_ns: int, stale_ns: int, resync_ns: int) -> None:
        """A silent freeze of the connection, stale books, and books still waiting for a snapshot."""
        now = self._mono()
        ws = frozen_socket(self._link, self._last_data_mono, now, freeze_ns, bool(self._markets))
        if ws is not None:
            self.stats.freezes += 1
            self._spawn(close_quietly(ws))
            return
        connected = self.state is ConnectionState.CONNECTED
        for m in list(self._markets.values()):
            if m.live:
                age = newly_stale(m, now, stale_ns) if connected else None
                if age is not None:
                    self.stats.stale_books += 1
                    for iid in (m.yes_id, m.no_id):
                        self._emit(BookStaleDetected(venue=VENUE, instrument_id=iid, age_ns=age,
                                                     reason=STALE_BOOK_REASON, ts_recv=self.clock.now_ns()))
            elif connected and m.dropped_at_mono and now - m.dropped_at_mono > resync_ns:
                # Still no snapshot: resubscribe whatever subscription holds it.
                m.dropped_at_mono = now
                for sub in list(self._subs.values()):
                    if sub.channel == C.CH_ORDERBOOK and m.ticker in sub.tickers:
                        self._resync_subscription(sub, f"{m.ticker}: no snapshot after {self.config.resync_timeout_s}s")
                        break

    # --- REST cross-check -------------------------------------------------------------------

    def _local_bids(self, m: Market) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        return m.yes.snapshot_levels()[0], m.no.snapshot_levels()[0]

    def _live_keys(self) -> list[str]:
        return [t for t, m in self._markets.items() if m.state is BookState.LIVE]

    async def crosscheck(self, ticker: str) -> bool:
        """Compare one live market's bids with REST ``/markets/{ticker}/orderbook``; True if they agree.
        A difference still there after a short second look resyncs the market's subscription."""
        m = self._markets.get(ticker)
        if m is None or m.state is not BookState.LIVE or self.rest is None:
            return True
        self.stats.crosscheck_runs += 1

        async def agrees() -> bool:
            remote = await self.rest.orderbook(ticker)
            if self._markets.get(ticker) is not m or m.state is not BookState.LIVE:
                return True  # dropped or resynced meanwhile: nothing left to compare
            return (list(remote[0]), list(remote[1])) == self._local_bids(m)

        if await agrees_on_second_look(agrees):
            return True
        self.stats.crosscheck_mismatches += 1
        age = self._mono() - m.last_update_mono
        for iid in (m.yes_id, m.no_id):
            self._emit(BookStaleDetected(venue=VENUE, instrument_id=iid, age_ns=age,
                                         reason="book differs from REST orderbook; resyncing",
                                         ts_recv=self.clock.now_ns()))
        for sub in list(self._subs.values()):
            if sub.channel == C.CH_ORDERBOOK and ticker in sub.tickers:
                self._resync_subscription(sub, f"{ticker}: differs from the REST orderbook")
                break
        return False
