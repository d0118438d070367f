"""Polymarket market-channel feed: sharded WebSockets -> integer books -> normalised events.

- Assets are sharded across connections (at most 500 a connection, 200 by default).
- Frames hold one event or a JSON array of events; the heartbeat is a text "PING" answered by "PONG".
- After every (re)connect all of the shard's assets are resubscribed and their books wait for
  the next ``book`` event, which is applied as the snapshot; ``price_change`` deltas for a book
  without a snapshot are dropped (counted).
- ``tick_size_change`` drops the book (RESYNCING) and asks for a fresh snapshot.
- A silent freeze (socket alive, PONGs arriving, no market data for the shard's active assets
  for ``freeze_after_s``) marks the connection STALLED and reconnects; a single quiet book is
  reported separately with ``BookStaleDetected`` and only makes that book untradeable.
- Books are cross-checked against REST ``/book`` periodically; a persistent difference replaces
  the local book with the REST one and is reported.
- ``record_path`` appends every received frame as ``<recv_ns> <raw frame>`` (one per line), the
  format the simulator's replay scenario reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Iterable

import aiohttp
import msgspec

from arbkit.core.book import MAX_LOTS, PredictionBook
from arbkit.core.clock import Clock, LiveClock
from arbkit.core.enums import BookState, ConnectionState, Venue
from arbkit.core.events import BookStaleDetected, BookUpdated, TickSizeChanged, TradeReported
from arbkit.core.numbers import c_plain_units, parse_units
from arbkit.venues.base import EventSink
from arbkit.venues.common.malformed import not_utf8
from arbkit.venues.common.recorder import close_recording, frame_line, open_recording
from arbkit.venues.common.stats import CounterSet
from arbkit.venues.common.tasks import BackgroundTasks
from arbkit.venues.common.watchdog import STALE_BOOK_REASON, agrees_on_second_look, crosscheck_rounds, frozen_socket
from arbkit.venues.common.watchdog import newly_stale, run_watchdog
from arbkit.venues.common.ws import Backoff, ConnectionLink, GuardedEmit, close_quietly, connect_ws, run_reconnecting
from arbkit.venues.common.ws import send_quietly
from arbkit.venues.polymarket import constants as C
from arbkit.venues.polymarket.parse import (
    MalformedTracker,
    RestBook,
    WsLevel,
    WsMarketMessage,
    WsChangesOnly as _WsChangesOnly,
    WsMarketMessage as _WsMarketMessage,
    market_resolved_event,
    new_market_event,
    side_of,
    to_ns,
)

log = logging.getLogger("arbkit.venues.polymarket.feed")

VENUE = Venue.POLYMARKET
_LIVE = BookState.LIVE  # module constants: the hot path compares states per touched book
_CROSSED = BookState.CROSSED
_PREFIX = "polymarket:"
_MAX_TRADE_SIZE = Decimal(MAX_LOTS).scaleb(-C.SIZE_DIGITS)  # a trade larger than any book level is junk
_FINER_TICKS = (Decimal("0.01"), Decimal("0.005"), Decimal("0.001"), Decimal("0.0001"))


def token_of(instrument_id: str) -> str:
    """Token id from ``polymarket:<token>`` or a bare token id."""
    return instrument_id[len(_PREFIX) :] if instrument_id.startswith(_PREFIX) else instrument_id


@dataclass
class FeedConfig:
    ws_url: str = C.WS_MARKET_URL
    rest_url: str = C.CLOB_REST_URL
    assets_per_connection: int = C.DEFAULT_ASSETS_PER_CONNECTION
    # The venue asks for a PING at least every PING_INTERVAL_S (10 s) to keep the socket open; we
    # send one every second because its PONG is also how a quiet book is known to be current
    # (silence_ns): the risk engine's book-age limit (1-2 s in the examples) then holds for a
    # live-but-unchanged book without a separate field.
    ping_interval_s: float = 1.0
    reconnect_initial_s: float = 0.25
    reconnect_max_s: float = 30.0
    connect_timeout_s: float = 10.0
    freeze_after_s: float = 30.0  # connection alive but no market data for its assets this long
    stale_book_after_s: float = 300.0  # one book without an update this long -> BookStaleDetected
    resync_timeout_s: float = 5.0  # a dropped book without a fresh snapshot this long -> REST /book
    crosscheck_interval_s: float = 60.0  # 0 disables the REST cross-check
    crosscheck_books_per_round: int = 5
    watchdog_interval_s: float = 1.0
    # best_bid_ask, new_market and market_resolved come only with it (docs: market channel); the
    # resolution closes our books and books settlement P&L
    custom_feature_enabled: bool = True
    default_tick_size: Decimal = Decimal("0.01")
    record_path: str | None = None
    # "all": a BookUpdated for every frame that changed a book; "top": only when the best bid or
    # ask (price or size) changed; "none": no BookUpdated (consumers read the books; crossed state
    # and staleness are still kept). The book itself is always current.
    book_updates: str = "all"

    def __post_init__(self) -> None:
        if not 1 <= self.assets_per_connection <= C.MAX_ASSETS_PER_CONNECTION:
            raise ValueError(
                f"assets_per_connection must be within 1..{C.MAX_ASSETS_PER_CONNECTION}, got {self.assets_per_connection}"
            )
        if self.book_updates not in ("all", "top", "none"):
            raise ValueError(f"book_updates must be 'all', 'top' or 'none', got {self.book_updates!r}")
        if self.freeze_after_s <= 0 or self.ping_interval_s <= 0:
            raise ValueError("freeze_after_s and ping_interval_s must be positive")


class FeedStats(CounterSet):
    """Feed counters (see ``as_dict``)."""

    __slots__ = (
        "frames",
        "events",
        "deltas_applied",
        "deltas_dropped",
        "snapshots",
        "reconnects",
        "freezes",
        "stale_books",
        "resolutions",
        "listings",
        "crosscheck_runs",
        "crosscheck_mismatches",
        "resync_requests",
    )


class _Book:
    """One token's book and its sync state."""

    __slots__ = ("token", "iid", "book", "tick_size", "tick_digits", "tick_unit", "ticks", "seq",
                 "last_update_mono", "dropped_at_mono", "stale_reported", "shard", "prices", "top", "_state", "live",
                 "apply", "best_bid", "best_ask", "is_crossed", "tick_get")

    def __init__(self, token: str, tick_size: Decimal, shard: "_Shard") -> None:
        self.token = token
        self.iid = _PREFIX + token
        self.shard = shard
        self.live = False  # LIVE or CROSSED: deltas apply (kept in step with ``state``)
        self.state = BookState.EMPTY
        self.seq = 0
        self.last_update_mono = 0
        self.dropped_at_mono = 0
        self.stale_reported = False
        self.set_tick(tick_size)

    @property
    def state(self) -> BookState:
        return self._state

    @state.setter
    def state(self, value: BookState) -> None:
        self._state = value
        self.live = value is BookState.LIVE or value is BookState.CROSSED

    def set_tick(self, tick_size: Decimal) -> None:
        self.tick_size = tick_size
        exp = -tick_size.normalize().as_tuple().exponent  # type: ignore[operator]
        self.tick_digits = max(0, exp)
        self.tick_unit = int(tick_size.scaleb(self.tick_digits))
        self.ticks: dict[str, int] = {}  # price string -> tick index (prices repeat a lot)
        self.tick_get = self.ticks.get  # bound once, like the book methods below
        self.prices: dict[int, Decimal] = {}  # tick index -> Decimal price
        self.top: tuple = (None, None, None, None, None, None)  # last emitted (bb, ba) and their Decimals
        self.book = PredictionBook(tick_size, C.SIZE_DIGITS, instrument_id=self.iid)
        self.apply = self.book.apply_delta  # bound once: the hot path calls these per change
        self.best_bid = self.book.best_bid
        self.best_ask = self.book.best_ask
        self.is_crossed = self.book.is_crossed

    def price_dec(self, tick: int) -> Decimal:
        p = self.prices.get(tick)
        if p is None:
            p = self.prices[tick] = self.book.price(tick)
        return p

    def tick_of(self, price: str) -> int:
        t = self.ticks.get(price)
        if t is None:
            if "_" in price or price.strip() != price:
                raise ValueError(f"not a decimal price: {price!r}")
            units = parse_units(price, self.tick_digits)
            t, rem = divmod(units, self.tick_unit)
            if rem:
                raise ValueError(f"price {price} is off the {self.tick_size} tick grid")
            if not 0 <= t * self.tick_size <= 1:
                raise ValueError(f"price {price} outside [0, 1]")
            if len(self.ticks) >= _TICK_CACHE_MAX:  # many spellings of the same prices: stay bounded
                self.ticks.clear()
            self.ticks[price] = t
        return t


def _price_ticks(price: str, tick_size: Decimal) -> int:
    """Tick index of a wire price on a grid, exact; ValueError when off the grid or out of [0, 1]."""
    if "_" in price or price.strip() != price:
        raise ValueError(f"not a decimal price: {price!r}")
    digits = max(0, -tick_size.normalize().as_tuple().exponent)  # type: ignore[operator]
    unit = int(tick_size.scaleb(digits))
    t, rem = divmod(parse_units(price, digits), unit)
    if rem:
        raise ValueError(f"price {price} is off the {tick_size} tick grid")
    if not 0 <= t * tick_size <= 1:
        raise ValueError(f"price {price} outside [0, 1]")
    return t


class _Shard(ConnectionLink):
    """One connection and the assets it carries (state, socket and backoff attempt: the link's)."""

    __slots__ = ("index", "assets", "task", "last_data_mono", "connected_mono", "last_alive_mono")

    def __init__(self, index: int, emit, now_ns) -> None:
        super().__init__(VENUE, f"polymarket.market.{index}", emit, now_ns)
        self.index = index
        self.assets: dict[str, None] = {}  # insertion-ordered set of token ids
        self.task: asyncio.Task | None = None
        self.last_data_mono = 0
        self.connected_mono = 0
        self.last_alive_mono = 0  # last frame of any kind, PONG included: the connection is alive


_market_decode = msgspec.json.Decoder(list[_WsMarketMessage] | _WsMarketMessage).decode
_changes_decode = msgspec.json.Decoder(list[_WsChangesOnly] | _WsChangesOnly).decode  # price changes only
_size_cache: dict[str, int] = {}
_TICK_CACHE_MAX = 65_536  # per book; a grid has at most MAX_TICKS + 1 prices, usually 101
_SIZE_CACHE_MAX = 32_768  # bounded: a small dict stays in CPU cache; sizes that repeat are recent ones


_POW = [10 ** (C.SIZE_DIGITS - k) for k in range(C.SIZE_DIGITS + 1)]


def _lots(size: str) -> int:
    """Wire size string -> integer micro-shares, exact, no float (cached: sizes repeat)."""
    i = size.find(".")
    if i < 0:
        k, digits = 0, size
    else:
        k, digits = len(size) - i - 1, size.replace(".", "", 1)
    if k <= C.SIZE_DIGITS and digits.isdigit() and digits.isascii() and (i or k):
        v = int(digits) * _POW[k]
    elif "_" in size or size.strip() != size:
        raise ValueError(f"not a decimal size: {size!r}")
    else:
        v = parse_units(size, C.SIZE_DIGITS)  # exponents, extra zero decimals; raises on junk
        if v < 0:
            raise ValueError(f"negative size {size!r}")
    if v > MAX_LOTS:
        raise ValueError(f"size {size!r} too large")
    if len(_size_cache) > _SIZE_CACHE_MAX:
        _size_cache.clear()
    _size_cache[size] = v
    return v


def _cached_plain_lots(size: str, digits: int) -> int | None:
    """Pure-Python stand-in for ``plain_units`` on the hot path: a size seen before (``_lots``
    caches them), else None, and the caller takes ``_lots``."""
    return _size_cache.get(size)


# Hot-path size parse: (size, SIZE_DIGITS) -> lots, or None for anything but a plain unsigned
# decimal (then ``_lots`` checks it fully). The C version parses faster than a dict lookup.
_plain_lots = c_plain_units if c_plain_units is not None else _cached_plain_lots


_SIZE_UNIT_EXP = -C.SIZE_DIGITS
# lots x 10^-digits: a multiplication gives the same Decimal (same digits, same exponent) as
# scaleb at about half the cost, on the hot path of every frame. Sizes are capped (MAX_LOTS), so
# the product is never rounded by the context's 28 digits.
_SIZE_UNIT = Decimal(1).scaleb(_SIZE_UNIT_EXP)
_Dec = Decimal


def _size_dec(lots: int) -> Decimal:
    return Decimal(lots) * _SIZE_UNIT


class PolymarketMarketFeed(GuardedEmit):
    """Market-channel client implementing :class:`arbkit.venues.base.MarketFeed`."""

    venue = VENUE
    _log = log

    def __init__(
        self,
        sink: EventSink,
        config: FeedConfig | None = None,
        *,
        clock: Clock | None = None,
        tick_sizes: dict[str, Decimal] | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.config = config or FeedConfig()
        self.sink = sink
        self.clock = clock or LiveClock()
        self.stats = FeedStats()
        self.malformed = MalformedTracker("market")
        self._tick_hint: dict[str, Decimal] = dict(tick_sizes or {})
        self._resolved: set[str] = set()  # condition ids whose market_resolved we reported
        self._listed: set[str] = set()  # condition ids whose new_market we reported
        self._books: dict[str, _Book] = {}
        self._shards: list[_Shard] = []
        self._running = False
        self._stop = asyncio.Event()
        self._tasks = BackgroundTasks()
        self._spawn = self._tasks.spawn
        self._session = session
        self._own_session = session is None
        self._record: IO[str] | None = None
        self._backoff = Backoff(self.config.reconnect_initial_s, self.config.reconnect_max_s, random.Random())
        # Bound clock reads (the hot path calls them per frame); the real clock's are C functions.
        if type(self.clock) is LiveClock:
            self._mono, self._now = time.monotonic_ns, time.time_ns
        else:
            self._mono, self._now = self.clock.monotonic_ns, self.clock.now_ns
        self._top_only = self.config.book_updates == "top"
        self._no_updates = self.config.book_updates == "none"

    # --- contract ---------------------------------------------------------------------------

    def subscribe(self, instrument_ids: Iterable[str]) -> None:
        per = self.config.assets_per_connection
        added_by_shard: dict[int, list[str]] = {}
        for iid in instrument_ids:
            token = token_of(iid)
            if token in self._books:
                continue
            shard = next((s for s in self._shards if len(s.assets) < per), None)
            if shard is None:
                shard = _Shard(len(self._shards), self._emit, self.clock.now_ns)
                self._shards.append(shard)
            shard.assets[token] = None
            self._books[token] = _Book(token, self._tick_hint.get(token, self.config.default_tick_size), shard)
            added_by_shard.setdefault(shard.index, []).append(token)
        if not self._running:
            return
        for idx, tokens in added_by_shard.items():
            shard = self._shards[idx]
            if shard.task is None:
                shard.task = asyncio.get_running_loop().create_task(self._run_shard(shard), name=shard.name)
            elif shard.ws is not None and shard.state is ConnectionState.CONNECTED:
                self._spawn(send_quietly(shard.ws, {"assets_ids": tokens, "operation": "subscribe",
                                                    "custom_feature_enabled": self.config.custom_feature_enabled}))

    def unsubscribe(self, instrument_ids: Iterable[str]) -> None:
        by_shard: dict[int, list[str]] = {}
        for iid in instrument_ids:
            token = token_of(iid)
            st = self._books.pop(token, None)
            if st is None:
                continue
            st.shard.assets.pop(token, None)
            by_shard.setdefault(st.shard.index, []).append(token)
        if not self._running:
            return
        for idx, tokens in by_shard.items():
            shard = self._shards[idx]
            if shard.ws is not None and shard.state is ConnectionState.CONNECTED:
                self._spawn(send_quietly(shard.ws, {"assets_ids": tokens, "operation": "unsubscribe"}))

    def book(self, instrument_id: str) -> PredictionBook | None:
        st = self._books.get(token_of(instrument_id))
        return st.book if st is not None and st.state in (BookState.LIVE, BookState.CROSSED) else None

    def book_state(self, instrument_id: str) -> BookState | None:
        st = self._books.get(token_of(instrument_id))
        return st.state if st is not None else None

    def is_tradeable(self, instrument_id: str, max_age_ns: int) -> bool:
        st = self._books.get(token_of(instrument_id))
        if st is None or st.state is not BookState.LIVE or st.shard.state is not ConnectionState.CONNECTED:
            return False
        if st.book.is_crossed():
            return False
        return self.clock.monotonic_ns() - st.last_update_mono <= max_age_ns

    def silence_ns(self, instrument_id: str) -> int | None:
        """Nanoseconds since the instrument's connection last showed it is alive (a market data
        frame or a PONG to our PING), or None when the instrument has no CONNECTED connection.
        A book on a live connection is current even when it has not changed (a quiet market)."""
        st = self._books.get(token_of(instrument_id))
        if st is None or st.shard.state is not ConnectionState.CONNECTED:
            return None
        return self._mono() - max(st.shard.last_data_mono, st.shard.last_alive_mono, st.shard.connected_mono)

    @property
    def shards(self) -> list[list[str]]:
        """Token ids per connection (for inspection and tests)."""
        return [list(s.assets) for s in self._shards]

    def connection_states(self) -> list[ConnectionState]:
        return [s.state for s in self._shards]

    async def run(self) -> None:
        if self._running:
            raise RuntimeError("feed already running")
        self._running = True
        self._stop.clear()
        if self.config.record_path:
            self._record = open_recording(self.config.record_path)
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        loop = asyncio.get_running_loop()
        for shard in self._shards:
            if shard.task is None:
                shard.task = loop.create_task(self._run_shard(shard), name=shard.name)
        self._spawn(run_watchdog(self.config, self._check_health, log))
        if self.config.crosscheck_interval_s > 0:
            self._spawn(crosscheck_rounds(self.config.crosscheck_interval_s, self.config.crosscheck_books_per_round,
                                           self._live_keys, self.crosscheck, log))
        try:
            await self._stop.wait()
        finally:
            await self._shutdown()

    async def stop(self) -> None:
        self._stop.set()

    # --- connections ------------------------------------------------------------------------

    async def _shutdown(self) -> None:
        await self._tasks.cancel_all(*[s.task for s in self._shards if s.task is not None])
        for s in self._shards:
            s.task = None
            s.ws = None
            s.state = ConnectionState.DISCONNECTED
        close_recording(self._record)
        self._record = None
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None
        self._running = False

    async def _run_shard(self, shard: _Shard) -> None:
        cfg = self.config

        def connect():
            return connect_ws(cfg.ws_url, timeout_s=cfg.connect_timeout_s)  # heartbeat: text PING, see _pinger

        def closed() -> None:
            if not self._stop.is_set():
                self._mark_shard_resync(shard)

        def retry(reason: str, delay: float) -> None:
            self.stats.reconnects += 1

        await run_reconnecting(shard, self._stop, connect, lambda ws: self._serve(shard, ws), self._backoff,
                               closed_reason="closed by venue", on_closed=closed, on_retry=retry,
                               ready=lambda: bool(shard.assets))

    def _mark_shard_resync(self, shard: _Shard) -> None:
        now = self.clock.monotonic_ns()
        for token in shard.assets:
            st = self._books.get(token)
            if st is not None and st.state is not BookState.EMPTY and st.state is not BookState.CLOSED:
                st.state = BookState.RESYNCING
                st.dropped_at_mono = now

    async def _serve(self, shard: _Shard, ws) -> None:
        now = self.clock.monotonic_ns()
        shard.connected_mono = now
        shard.last_data_mono = now
        self._mark_shard_resync(shard)  # the next `book` for each asset is the snapshot
        await ws.send(msgspec.json.encode({"assets_ids": list(shard.assets), "type": "market",
                                           "custom_feature_enabled": self.config.custom_feature_enabled}).decode())
        shard.set_state(ConnectionState.CONNECTED)
        pinger = asyncio.get_running_loop().create_task(self._pinger(shard, ws))
        try:
            async for raw in ws:
                self.on_frame(shard, raw)
        finally:
            pinger.cancel()
            with contextlib.suppress(BaseException):
                await pinger

    async def _pinger(self, shard: _Shard, ws) -> None:
        while True:
            await asyncio.sleep(self.config.ping_interval_s)
            await ws.send("PING")

    # --- frames -----------------------------------------------------------------------------

    def on_frame(self, shard: _Shard | None, raw: str | bytes, recv_ns: int | None = None) -> None:
        """Handle one received frame (public for replay and benchmarks). Never raises.

        This is the hot path, written flat on purpose: price-change-only frames (almost all of
        them) are decoded with a minimal struct and applied inline; anything else takes the
        general path."""
        if recv_ns is None:
            recv_ns = self._now()
        if self._record is not None:
            self._record.write(frame_line(recv_ns, raw))
        if len(raw) == 4 and (raw == "PONG" or raw == b"PONG"):
            if shard is not None:
                shard.last_alive_mono = self._mono()
            return
        stats = self.stats
        stats.frames += 1
        if raw.__class__ is not str and not raw.isascii() and (bad := not_utf8(raw)) is not None:
            self._emit(self.malformed.record(raw, bad, recv_ns))  # a binary frame that is not UTF-8
            return
        try:
            msgs = _changes_decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            self._on_general_frame(shard, raw, recv_ns)
            return
        if shard is not None:
            shard.last_data_mono = self._mono()
            shard.attempt = 0
        if msgs.__class__ is not list:
            msgs = (msgs,)
        books = self._books
        plain_lots = _plain_lots
        size_digits = C.SIZE_DIGITS
        touched: dict[str, _Book] = {}
        applied = dropped = 0
        for msg in msgs:
            for ch in msg.price_changes:
                token = ch.asset_id
                st = books.get(token)
                if st is None or not st.live:
                    dropped += 1
                    continue
                tick = st.tick_get(ch.price)
                side = ch.side
                lots = plain_lots(ch.size, size_digits)
                if tick is None or lots is None or (side != "BUY" and side != "SELL"):
                    try:
                        if tick is None:
                            tick = st.tick_of(ch.price)
                        if lots is None:
                            lots = _lots(ch.size)
                        if side != "BUY" and side != "SELL":
                            raise ValueError(f"unknown side {side!r}")
                    except ValueError as exc:
                        # A change we cannot apply leaves this book wrong: drop it and resync.
                        self._drop_book(st, str(exc))
                        touched.pop(token, None)
                        self._emit(self.malformed.record(raw, f"price_change for {token}: {exc}", recv_ns))
                        continue
                seq = st.seq = st.seq + 1
                try:
                    st.apply(side == "BUY", tick, lots, seq, recv_ns)
                except (ValueError, TypeError) as exc:  # the book refused it: resync that book
                    self._drop_book(st, str(exc))
                    touched.pop(token, None)
                    self._emit(self.malformed.record(raw, f"price_change for {token}: {exc}", recv_ns))
                    continue
                applied += 1
                touched[token] = st
        stats.events += len(msgs)
        stats.deltas_applied += applied
        if dropped:
            stats.deltas_dropped += dropped
        if not touched:
            return
        if self._no_updates:  # no events: keep freshness and the crossed state only (inline: hot)
            mono = self._mono()
            for st in touched.values():
                st.last_update_mono = mono
                st.stale_reported = False
                if st.is_crossed():
                    if st._state is _LIVE:
                        st.state = _CROSSED
                elif st._state is _CROSSED:
                    st.state = _LIVE
            return
        self._emit_books(touched, recv_ns)

    def _on_general_frame(self, shard: _Shard | None, raw: str | bytes, recv_ns: int) -> None:
        try:
            msgs = _market_decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self._emit(self.malformed.record(raw, exc, recv_ns))
            return
        if shard is not None:
            shard.last_data_mono = self._mono()
            shard.attempt = 0
        if msgs.__class__ is not list:
            msgs = (msgs,)
        touched: dict[str, _Book] = {}
        for msg in msgs:
            try:
                self._on_message(msg, recv_ns, touched)
            except Exception as exc:  # noqa: BLE001 - a bad event must never take the feed down
                self._emit(self.malformed.record(raw, f"{msg.kind or 'unknown'} event: {exc!r}", recv_ns))
        if touched:
            self._emit_books(touched, recv_ns)

    def _on_message(self, msg: WsMarketMessage, recv_ns: int, touched: dict[str, _Book]) -> None:
        self.stats.events += 1
        kind = msg.kind
        if kind == "price_change":
            changes = msg.price_changes
            if changes is None:  # legacy flat schema: one change on the message itself
                if msg.price is None or msg.size is None or msg.side is None:
                    raise ValueError("price_change without price_changes")
                self._apply_change(msg.asset_id, msg.price, msg.size, msg.side, recv_ns, touched)
                return
            errors = []
            for ch in changes:  # every change is tried: one bad level must not cost the others
                try:
                    self._apply_change(ch.asset_id, ch.price, ch.size, ch.side, recv_ns, touched)
                except ValueError as exc:
                    errors.append(f"{ch.asset_id}: {exc}")
            if errors:
                raise ValueError("; ".join(errors))
        elif kind == "book":
            hint = Decimal(msg.tick_size) if msg.tick_size else None
            if hint is not None and not 0 < hint < 1:
                raise ValueError(f"bad tick size {msg.tick_size!r}")
            self._apply_snapshot(msg.asset_id, msg.bid_levels(), msg.ask_levels(), recv_ns, touched,
                                 to_ns(msg.timestamp), hint)
        elif kind == "tick_size_change":
            self._on_tick_size_change(msg, recv_ns, touched)
        elif kind == "last_trade_price":
            if msg.asset_id in self._books:
                price, size = Decimal(msg.price or "NaN"), Decimal(msg.size or "NaN")
                if not (price.is_finite() and size.is_finite() and 0 <= price <= 1 and 0 < size <= _MAX_TRADE_SIZE
                        and price.scaleb(C.SIZE_DIGITS) % 1 == 0 and size.scaleb(C.SIZE_DIGITS) % 1 == 0):
                    raise ValueError(f"last trade price {msg.price!r} size {msg.size!r}")
                self._emit(TradeReported(venue=VENUE, instrument_id=_PREFIX + msg.asset_id, price=price,
                                         size=size, aggressor=side_of(msg.side) if msg.side else None,
                                         ts_venue=to_ns(msg.timestamp), ts_recv=recv_ns))
        elif kind == "market_resolved":
            self._on_market_resolved(msg, recv_ns, touched)
        elif kind == "new_market":
            # a listing (the market finder decides whether anything subscribes); once per market
            ev = new_market_event(msg, recv_ns)
            if ev.market_id not in self._listed:
                self._listed.add(ev.market_id)
                self.stats.listings += 1
                self._emit(ev)
        elif kind == "best_bid_ask":
            return  # informational; books come from book/price_change
        else:
            raise ValueError(f"unknown event type {kind!r}")

    def _apply_change(self, token: str, price: str, size: str, side: str, recv_ns: int,
                      touched: dict[str, _Book]) -> None:
        st = self._books.get(token)
        if st is None or not st.live:
            self.stats.deltas_dropped += 1
            return
        try:
            tick = st.tick_of(price)
            lots = _lots(size)
            if side != "BUY" and side != "SELL":
                raise ValueError(f"unknown side {side!r}")
        except ValueError as exc:
            # A change we cannot apply leaves this book wrong: drop it and resync.
            self._drop_book(st, str(exc))
            touched.pop(token, None)
            raise
        st.seq += 1
        st.book.apply_delta(side == "BUY", tick, lots, st.seq, recv_ns)
        self.stats.deltas_applied += 1
        touched[token] = st

    def _apply_snapshot(self, token: str, bids: list[WsLevel], asks: list[WsLevel], recv_ns: int,
                        touched: dict[str, _Book], ts_venue: int = 0, tick_hint: Decimal | None = None) -> None:
        """Replace a book with a snapshot. Nothing changes unless the whole snapshot is valid; an
        invalid one drops the book (RESYNCING) and raises ValueError."""
        st = self._books.get(token)
        if st is None or st.state is BookState.CLOSED:
            return
        try:
            bid_lots = [_lots(lv.size) for lv in bids]
            ask_lots = [_lots(lv.size) for lv in asks]
            grids = [t for t in (tick_hint, st.tick_size) if t] + [t for t in _FINER_TICKS if t < st.tick_size]
            chosen = None
            for tick_size in grids:
                try:
                    bid_ticks = [_price_ticks(lv.price, tick_size) for lv in bids]
                    ask_ticks = [_price_ticks(lv.price, tick_size) for lv in asks]
                except ValueError:
                    continue
                chosen = tick_size
                break
            if chosen is None:
                raise ValueError("book prices fit no known tick grid")
        except ValueError as exc:
            self._drop_book(st, f"bad snapshot: {exc}")
            touched.pop(token, None)
            raise
        if chosen != st.tick_size:
            if tick_hint is None or chosen != tick_hint:
                log.warning("book %s has prices off the %s grid; using %s", token, st.tick_size, chosen)
            st.set_tick(chosen)
        st.seq += 1
        st.book.apply_snapshot([lv for lv in zip(bid_ticks, bid_lots) if lv[1] > 0],
                               [lv for lv in zip(ask_ticks, ask_lots) if lv[1] > 0], st.seq, recv_ns)
        st.state = BookState.CROSSED if st.book.is_crossed() else BookState.LIVE
        st.stale_reported = False
        self.stats.snapshots += 1
        touched[token] = st

    def _on_tick_size_change(self, msg: WsMarketMessage, recv_ns: int, touched: dict[str, _Book]) -> None:
        st = self._books.get(msg.asset_id)
        if st is None or not msg.new_tick_size:
            return
        new = Decimal(msg.new_tick_size)
        if not (new.is_finite() and 0 < new < 1 and new.normalize().as_tuple().exponent >= -C.SIZE_DIGITS):
            raise ValueError(f"bad tick size {msg.new_tick_size!r}")
        old = Decimal(msg.old_tick_size) if msg.old_tick_size else st.tick_size
        ts_venue = to_ns(msg.timestamp)  # read everything before the book changes: junk must not empty a live book
        self._tick_hint[st.token] = new
        st.set_tick(new)
        touched.pop(st.token, None)
        self._emit(TickSizeChanged(venue=VENUE, instrument_id=st.iid, old_tick_size=old, new_tick_size=new,
                                   ts_venue=ts_venue, ts_recv=recv_ns))
        self._drop_book(st, "tick size changed")

    def _on_market_resolved(self, msg: WsMarketMessage, recv_ns: int, touched: dict[str, _Book]) -> None:
        """The market resolved: its books close for good (never tradeable again, a later snapshot
        does not reopen them) and ``MarketResolved`` goes out once per market."""
        ev = market_resolved_event(msg, recv_ns)
        for token in msg.assets_ids or ():
            st = self._books.get(token)
            if st is not None:
                st.state = BookState.CLOSED
                st.book.clear()
                touched.pop(token, None)
        if msg.market in self._resolved:
            return  # a repeat (reconnect, second shard): reported once
        self._resolved.add(msg.market)
        self.stats.resolutions += 1
        log.warning("polymarket: market %s resolved (winner %s %s); its books are closed", msg.market,
                    msg.winning_outcome, msg.winning_asset_id)
        self._emit(ev)

    def _drop_book(self, st: _Book, reason: str) -> None:
        """Forget the book and ask the venue for a fresh snapshot (resubscribe the asset)."""
        if st.state is BookState.CLOSED:
            return
        st.state = BookState.RESYNCING
        st.dropped_at_mono = self.clock.monotonic_ns()
        st.book.clear()
        self.stats.resync_requests += 1
        shard = st.shard
        if self._running and shard.ws is not None:
            self._spawn(send_quietly(shard.ws, {"assets_ids": [st.token], "operation": "subscribe",
                                                "custom_feature_enabled": self.config.custom_feature_enabled}))
        log.info("book %s dropped (%s); waiting for a fresh snapshot", st.token, reason)

    def _emit_books(self, touched: dict[str, _Book], recv_ns: int) -> None:
        """One BookUpdated per touched book (coalesced per token per frame)."""
        mono = self._mono()
        sink = self.sink
        top_only = self._top_only
        silent = self._no_updates
        size_unit = _SIZE_UNIT
        for st in touched.values():
            st.last_update_mono = mono
            st.stale_reported = False
            if silent:  # no event: only keep the crossed state
                if st.is_crossed():
                    if st._state is _LIVE:
                        st.state = _CROSSED
                elif st._state is _CROSSED:
                    st.state = _LIVE
                continue
            bb = st.best_bid()
            ba = st.best_ask()
            if bb is not None and ba is not None and bb[0] >= ba[0]:
                if st._state is _LIVE:
                    st.state = _CROSSED
            elif st._state is _CROSSED:
                st.state = _LIVE
            top = st.top
            same_bid = bb == top[0]
            same_ask = ba == top[1]
            if same_bid and same_ask:  # top unchanged (a deeper level moved): reuse its Decimals
                if top_only:
                    continue
                bbp, bbs, bap, bas = top[2], top[3], top[4], top[5]
            else:  # rebuild only the side that moved
                if same_bid:
                    bbp, bbs = top[2], top[3]
                elif bb is None:
                    bbp = bbs = None
                else:
                    bbp = st.prices.get(bb[0]) or st.price_dec(bb[0])
                    bbs = _Dec(bb[1]) * size_unit  # = _size_dec, inline: once per moved side
                if same_ask:
                    bap, bas = top[4], top[5]
                elif ba is None:
                    bap = bas = None
                else:
                    bap = st.prices.get(ba[0]) or st.price_dec(ba[0])
                    bas = _Dec(ba[1]) * size_unit
                st.top = (bb, ba, bbp, bbs, bap, bas)
            try:
                sink(BookUpdated(venue=VENUE, instrument_id=st.iid, sequence=st.seq, best_bid=bbp, best_bid_size=bbs,
                                 best_ask=bap, best_ask_size=bas, ts_book=recv_ns, ts_recv=recv_ns))
            except Exception:  # noqa: BLE001 - a failing consumer must not break the feed
                log.exception("event sink raised on BookUpdated")

    def _emit_book(self, st: _Book, recv_ns: int) -> None:
        self._emit_books({st.token: st}, recv_ns)

    # --- watchdogs --------------------------------------------------------------------------

    def _check_health(self, freeze_ns: int, stale_ns: int, resync_ns: int) -> None:
        """Silent freezes per connection, stale books, and dropped books still without a snapshot."""
        now = self.clock.monotonic_ns()
        for shard in self._shards:
            ws = frozen_socket(shard, shard.last_data_mono, now, freeze_ns, bool(shard.assets))
            if ws is not None:
                self.stats.freezes += 1
                self._spawn(close_quietly(ws))
        for st in list(self._books.values()):
            if st.state in (BookState.LIVE, BookState.CROSSED):
                if st.shard.state is ConnectionState.CONNECTED:
                    age = newly_stale(st, now, stale_ns)
                    if age is not None:
                        self.stats.stale_books += 1
                        self._emit(BookStaleDetected(venue=VENUE, instrument_id=st.iid, age_ns=age,
                                                     reason=STALE_BOOK_REASON, ts_recv=self.clock.now_ns()))
            elif st.state is BookState.RESYNCING and st.shard.state is ConnectionState.CONNECTED:
                if st.dropped_at_mono and now - st.dropped_at_mono > resync_ns:
                    st.dropped_at_mono = now
                    self._spawn(self._resync_from_rest(st))

    async def fetch_rest_book(self, token: str) -> RestBook:
        assert self._session is not None
        async with self._session.get(self.config.rest_url + C.PATH_BOOK, params={"token_id": token}) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"GET /book {token}: HTTP {resp.status}")
        return msgspec.json.decode(body, type=RestBook)

    async def _resync_from_rest(self, st: _Book) -> None:
        try:
            rb = await self.fetch_rest_book(st.token)
        except Exception as exc:  # noqa: BLE001
            log.warning("REST resync of %s failed: %r", st.token, exc)
            return
        if st.state is BookState.RESYNCING and self._books.get(st.token) is st:
            hint = Decimal(rb.tick_size) if rb.tick_size else None
            touched: dict[str, _Book] = {}
            now = self.clock.now_ns()
            try:
                self._apply_snapshot(st.token, rb.bids, rb.asks, now, touched, 0, hint if hint and 0 < hint < 1 else None)
            except ValueError as exc:
                self._emit(self.malformed.record(msgspec.json.encode(rb), exc, now))
                return
            for b in touched.values():
                self._emit_book(b, now)

    def _levels_of(self, st: _Book, rb: RestBook) -> tuple[set, set] | None:
        try:
            return ({(st.tick_of(l.price), _lots(l.size)) for l in rb.bids if _lots(l.size) > 0},
                    {(st.tick_of(l.price), _lots(l.size)) for l in rb.asks if _lots(l.size) > 0})
        except ValueError:
            return None

    def _local_levels(self, st: _Book) -> tuple[set, set]:
        return set(st.book.levels(True)), set(st.book.levels(False))

    def _live_keys(self) -> list[str]:
        return [t for t, st in self._books.items() if st.state is BookState.LIVE]

    async def crosscheck(self, token: str) -> bool:
        """Compare one live book with REST /book; True if they agree. A difference that is still
        there after a short re-check replaces the local book with the REST one."""
        st = self._books.get(token)
        if st is None or st.state is not BookState.LIVE:
            return True
        self.stats.crosscheck_runs += 1

        async def agrees() -> bool:
            rb = await self.fetch_rest_book(token)
            if self._books.get(token) is not st or st.state is not BookState.LIVE:
                return True  # dropped or resynced meanwhile: nothing left to compare
            remote = self._levels_of(st, rb)
            return remote is not None and remote == self._local_levels(st)

        if await agrees_on_second_look(agrees):
            return True
        self.stats.crosscheck_mismatches += 1
        age = self.clock.monotonic_ns() - st.last_update_mono
        self._emit(BookStaleDetected(venue=VENUE, instrument_id=st.iid, age_ns=age,
                                     reason="book differs from REST /book; replaced with the REST book",
                                     ts_recv=self.clock.now_ns()))
        st.state = BookState.RESYNCING
        await self._resync_from_rest(st)
        return False
