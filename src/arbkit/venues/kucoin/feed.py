"""KuCoin level-2 market feed: books synchronised by sequence over ``/market/level2``.

Connection (docs/venues/kucoin.md): ``POST /api/v1/bullet-public`` gives a token and instance
servers (endpoint, pingInterval, pingTimeout); connect to ``endpoint?token=..&connectId=..``, wait
for ``welcome``, subscribe by id (``ack`` answers the id), send ``ping`` every pingInterval and drop
the connection when no frame came for pingTimeout after a ping (reconnect with a fresh token).
Symbols are sharded at ``MAX_SYMBOLS_PER_CONNECTION`` per connection.

Books, ``book_mode`` "level2" (parse.L2Sync): subscribe and buffer first, REST snapshot with its
sequence, drop buffered changes <= it, apply the rest in order, resync on any gap; size 0 removes a
level. ``book_mode`` "depth50": ``/spotMarket/level2Depth50`` pushes the best 50 levels of each side
every 100 ms when they changed (nothing when they did not); each message replaces the book (no REST
snapshot, no sequence). Depth is capped at 50 levels a side in that mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from dataclasses import dataclass
from typing import IO, Any, Callable, Iterable
from urllib.parse import urlencode

import msgspec

from arbkit.core.book import CryptoBook
from arbkit.core.clock import Clock, LiveClock
from arbkit.core.enums import ConnectionState, Venue
from arbkit.core.events import BookStaleDetected, BookUpdated
from arbkit.core.instruments import Instrument, instrument_id
from arbkit.venues.base import EventSink
from arbkit.venues.common.malformed import MalformedTracker, not_utf8
from arbkit.venues.common.recorder import close_recording, frame_line, open_recording
from arbkit.venues.common.stats import CounterSet
from arbkit.venues.common.tasks import BackgroundTasks
from arbkit.venues.common.watchdog import STALE_BOOK_REASON, frozen_socket, run_watchdog
from arbkit.venues.common.ws import Backoff, ConnectionLink, GuardedEmit, connect_ws, run_reconnecting, send_quietly
from arbkit.venues.kucoin import constants as C
from arbkit.venues.kucoin.parse import (
    BOOK_MAX_SIZE_DIGITS,
    Depth50,
    L2Sync,
    L2Update,
    Token,
    WsFrame,
    book_digits,
    depth_levels,
)

log = logging.getLogger("arbkit.venues.kucoin.feed")
VENUE = Venue.KUCOIN
_ids = itertools.count(int(time.time() * 1000))
_decode_frame = msgspec.json.Decoder(WsFrame)


def next_id() -> str:
    return str(next(_ids))


class WelcomeTimeout(ConnectionError):
    pass


@dataclass
class FeedConfig:
    freeze_after_s: float = 30.0
    stale_book_after_s: float = 300.0
    resync_timeout_s: float = 2.0
    reconnect_initial_s: float = 0.2
    reconnect_max_s: float = 10.0
    watchdog_interval_s: float = 0.5
    ping_interval_s: float = 18.0  # upper bound; the server's pingInterval wins when shorter
    connect_timeout_s: float = 10.0
    welcome_timeout_s: float = 5.0
    endpoint_override: str = ""  # tests: connect here instead of the token's instance server
    max_symbols_per_connection: int = C.MAX_SYMBOLS_PER_CONNECTION
    book_mode: str = "level2"  # "level2" (changes on a REST snapshot) | "depth50" (best-50 snapshots)
    record_path: str | None = None  # append every received frame as "<recv_ns> <raw frame>" (docs/recording.md)

    def __post_init__(self) -> None:
        if self.book_mode not in C.BOOK_MODES:
            raise ValueError(f"book_mode must be one of {', '.join(C.BOOK_MODES)}, got {self.book_mode!r}")


class FeedStats(CounterSet):
    """Feed counters: ``frames`` is every WebSocket frame received (the dashboard's msg/s)."""

    __slots__ = ("frames", "updates", "depth_snapshots", "rest_snapshots", "gaps", "reconnects")


class KucoinSession:
    """One bullet-token WebSocket session: connect, welcome, pings, acks. Shared by feed and user."""

    def __init__(self, get_token: Callable[[], Any], config: Any) -> None:
        self.get_token = get_token
        self.config = config
        self.ping_interval_s = config.ping_interval_s
        self.ping_timeout_s = 10.0
        self.last_frame_mono = 0.0

    async def connect(self) -> Any:
        token: Token = await self.get_token()
        if not token.instance_servers:
            raise ConnectionError("bullet token without instance servers")
        server = token.instance_servers[0]
        endpoint = self.config.endpoint_override or server.endpoint
        self.ping_interval_s = min(self.config.ping_interval_s, server.ping_interval / 1000.0)
        self.ping_timeout_s = server.ping_timeout / 1000.0
        sep = "&" if "?" in endpoint else "?"
        url = f"{endpoint}{sep}{urlencode({'token': token.token, 'connectId': next_id()})}"
        ws = await connect_ws(url, timeout_s=self.config.connect_timeout_s)
        try:
            async with asyncio.timeout(self.config.welcome_timeout_s):
                while True:
                    raw = await ws.recv()
                    try:
                        f = _decode_frame.decode(raw)
                    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
                        continue
                    if f.type == "welcome":
                        break
                    if f.type == "error":
                        raise ConnectionError(f"KuCoin refused the connection: {f.data or f.code}")
        except (asyncio.TimeoutError, TimeoutError):
            with contextlib.suppress(Exception):
                await ws.close()
            raise WelcomeTimeout("no welcome from KuCoin") from None
        self.last_frame_mono = time.monotonic()
        return ws

    async def pinger(self, ws: Any) -> None:
        """Ping every pingInterval; close when nothing came back within pingTimeout of a ping."""
        while True:
            await asyncio.sleep(self.ping_interval_s)
            sent = time.monotonic()
            await send_quietly(ws, {"id": next_id(), "type": "ping"})
            await asyncio.sleep(self.ping_timeout_s)
            if self.last_frame_mono < sent:
                log.warning("KuCoin: no pong within %.1fs; reconnecting", self.ping_timeout_s)
                await ws.close()
                return


class _BookState:
    __slots__ = ("sync", "inst", "last_update_mono", "stale_reported", "snapshot_task", "asked_mono", "shard")

    def __init__(self, inst: Instrument, shard: int) -> None:
        pd, sd = book_digits(inst.tick_size, inst.size_increment)
        self.sync = L2Sync(CryptoBook(pd, sd, inst.id))
        self.inst = inst
        self.last_update_mono = 0
        self.stale_reported = False
        self.snapshot_task: asyncio.Task | None = None
        self.asked_mono = 0
        self.shard = shard


class _Shard:
    def __init__(self, index: int, link: ConnectionLink) -> None:
        self.index = index
        self.link = link
        self.symbols: set[str] = set()
        self.last_data_mono = 0  # set by the feed from its clock
        self.task: asyncio.Task | None = None
        self.session: KucoinSession | None = None


class KucoinMarketFeed(GuardedEmit):
    """arbkit.venues.base.MarketFeed for KuCoin spot level-2 books."""

    venue = VENUE
    _log = log

    def __init__(self, sink: EventSink, config: FeedConfig, rest: Any,
                 instruments: Callable[[str], Instrument | None], *, clock: Clock | None = None) -> None:
        self.sink = sink
        self.config = config
        self.rest = rest  # KucoinGateway: public_token(), orderbook()
        self.instrument_of = instruments
        self.clock = clock or LiveClock()
        self.malformed = MalformedTracker("market", VENUE)
        self._books: dict[str, _BookState] = {}
        self._shards: list[_Shard] = []
        self._stop = asyncio.Event()
        self._running = False
        self._tasks = BackgroundTasks()
        self.stats = FeedStats()
        self.depth50 = config.book_mode == "depth50"
        self._topic = C.TOPIC_DEPTH50 if self.depth50 else C.TOPIC_LEVEL2
        self._record: IO[str] | None = None

    @property
    def gaps(self) -> int:
        return self.stats.gaps

    # --- public ---------------------------------------------------------------------------------

    def subscribe(self, instrument_ids: Iterable[str]) -> None:
        for iid in instrument_ids:
            sym = iid.split(":", 1)[1] if ":" in iid else iid
            if sym in self._books:
                continue
            inst = self.instrument_of(sym)
            if inst is None:
                log.warning("KuCoin feed: unknown instrument %s (load instruments first)", iid)
                continue
            shard = self._shard_with_room()
            shard.symbols.add(sym)
            self._books[sym] = _BookState(inst, shard.index)
            if shard.link.ws is not None and shard.link.state is ConnectionState.CONNECTED:
                self._tasks.spawn(self._subscribe(shard, shard.link.ws, [sym]))
            if self._running and shard.task is None:
                shard.task = asyncio.get_running_loop().create_task(self._run_shard(shard))

    def unsubscribe(self, instrument_ids: Iterable[str]) -> None:
        for iid in instrument_ids:
            sym = iid.split(":", 1)[1] if ":" in iid else iid
            st = self._books.pop(sym, None)
            if st is None:
                continue
            shard = self._shards[st.shard]
            shard.symbols.discard(sym)
            if st.snapshot_task is not None:
                st.snapshot_task.cancel()
            if shard.link.ws is not None:
                self._tasks.spawn(send_quietly(shard.link.ws, {"id": next_id(), "type": "unsubscribe",
                                                               "topic": f"{self._topic}:{sym}",
                                                               "privateChannel": False, "response": True}))

    def connection_states(self) -> list[ConnectionState]:
        """State of each market connection (shard), in shard order."""
        return [s.link.state for s in self._shards]

    def book(self, instrument_id_: str):
        st = self._books.get(instrument_id_.split(":", 1)[1] if ":" in instrument_id_ else instrument_id_)
        return st.sync.book if st is not None and st.sync.live else None

    def is_tradeable(self, instrument_id_: str, max_age_ns: int) -> bool:
        st = self._books.get(instrument_id_.split(":", 1)[1] if ":" in instrument_id_ else instrument_id_)
        if st is None or not st.sync.live:
            return False
        if self._shards[st.shard].link.state is not ConnectionState.CONNECTED:
            return False
        if st.sync.book.is_crossed():
            return False
        return self.clock.monotonic_ns() - st.last_update_mono <= max_age_ns

    async def run(self) -> None:
        self._stop.clear()
        self._running = True
        if self.config.record_path and self._record is None:
            self._record = open_recording(self.config.record_path)
        for shard in self._shards:
            if shard.symbols and shard.task is None:
                shard.task = asyncio.create_task(self._run_shard(shard))
        watchdog = asyncio.create_task(run_watchdog(self.config, self._check, log))
        try:
            await self._stop.wait()
        finally:
            self._running = False
            watchdog.cancel()
            tasks = [s.task for s in self._shards if s.task is not None]
            for s in self._shards:
                s.task = None
                if s.link.ws is not None:
                    with contextlib.suppress(Exception):
                        await s.link.ws.close()
            for t in tasks:
                t.cancel()
            await asyncio.gather(watchdog, *tasks, return_exceptions=True)
            await self._tasks.cancel_all()
            for s in self._shards:
                s.link.set_state(ConnectionState.DISCONNECTED, "stopped")
            close_recording(self._record)
            self._record = None

    async def stop(self) -> None:
        self._stop.set()

    # --- shards ---------------------------------------------------------------------------------

    def _shard_with_room(self) -> _Shard:
        for s in self._shards:
            if len(s.symbols) < self.config.max_symbols_per_connection:
                return s
        i = len(self._shards)
        s = _Shard(i, ConnectionLink(VENUE, f"kucoin.market.{i}", self._emit, self.clock.now_ns))
        s.last_data_mono = self.clock.monotonic_ns()
        self._shards.append(s)
        return s

    async def _run_shard(self, shard: _Shard) -> None:
        session = KucoinSession(lambda: self.rest.public_token(False), self.config)
        shard.session = session
        backoff = Backoff(self.config.reconnect_initial_s, self.config.reconnect_max_s)

        async def serve(ws: Any) -> None:
            self.stats.reconnects += 1
            shard.last_data_mono = self.clock.monotonic_ns()
            shard.link.set_state(ConnectionState.CONNECTED)
            for sym in list(shard.symbols):
                self._books[sym].sync.reset()
            await self._subscribe(shard, ws, sorted(shard.symbols))
            pinger = asyncio.create_task(session.pinger(ws))
            try:
                async for raw in ws:
                    session.last_frame_mono = time.monotonic()
                    self._on_frame(shard, raw)
            finally:
                pinger.cancel()
                with contextlib.suppress(BaseException):
                    await pinger

        def on_closed() -> None:
            for sym in list(shard.symbols):
                st = self._books.get(sym)
                if st is not None:
                    st.sync.reset()
                    if st.snapshot_task is not None:
                        st.snapshot_task.cancel()
                        st.snapshot_task = None

        from arbkit.venues.kucoin.gateway import KucoinTransportError
        from arbkit.venues.kucoin.parse import KucoinError

        async def connect() -> Any:
            try:
                return await session.connect()
            except (KucoinError, KucoinTransportError, msgspec.ValidationError) as exc:
                raise ConnectionError(f"bullet-public failed: {exc}") from exc

        await run_reconnecting(shard.link, self._stop, connect, serve, backoff,
                               on_closed=on_closed, ready=lambda: bool(shard.symbols))

    async def _subscribe(self, shard: _Shard, ws: Any, symbols: list[str]) -> None:
        n = C.MAX_SYMBOLS_PER_SUBSCRIBE
        for i in range(0, len(symbols), n):
            chunk = symbols[i:i + n]
            await send_quietly(ws, {"id": next_id(), "type": "subscribe", "topic": f"{self._topic}:{','.join(chunk)}",
                                    "privateChannel": False, "response": True})
            if not self.depth50:  # depth50 messages are whole books: no REST snapshot
                for sym in chunk:
                    self._ask_snapshot(sym)

    # --- frames ---------------------------------------------------------------------------------

    def _on_frame(self, shard: _Shard, raw: str | bytes) -> None:
        recv_ns = self.clock.now_ns()
        if self._record is not None:
            self._record.write(frame_line(recv_ns, raw))
        self.stats.frames += 1
        bad_text = not_utf8(raw)  # msgspec does not refuse every invalid UTF-8 byte in a key
        if bad_text is not None:
            self._emit(self.malformed.record(raw, bad_text, recv_ns))
            return
        try:
            f = _decode_frame.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
            self._emit(self.malformed.record(raw, exc, recv_ns))
            return
        if f.type in ("pong", "ack", "welcome"):
            if f.type == "pong" and self.depth50:
                # KuCoin pushes depth50 only when the book changed: a live connection means the
                # books it carries are still current
                now = self.clock.monotonic_ns()
                for sym in shard.symbols:
                    st = self._books.get(sym)
                    if st is not None and st.sync.live:
                        st.last_update_mono = now
            return
        if f.type == "error":
            log.warning("KuCoin feed error frame: %s %s", f.code, f.data)
            return
        if f.type != "message":
            self._emit(self.malformed.record(raw, f"unknown frame type {f.type!r}", recv_ns))
            return
        if self.depth50:
            if f.subject == C.SUBJECT_DEPTH and f.topic.startswith(C.TOPIC_DEPTH50 + ":"):
                self._on_depth(shard, f, raw, recv_ns)
            return
        if f.subject != C.SUBJECT_L2:
            return
        try:
            u = msgspec.convert(f.data, L2Update)
        except (msgspec.ValidationError, TypeError) as exc:
            self._emit(self.malformed.record(raw, exc, recv_ns))
            return
        st = self._books.get(u.symbol)
        if st is None:
            return
        shard.last_data_mono = self.clock.monotonic_ns()
        was_live = st.sync.live
        try:
            ok = st.sync.on_update(u, recv_ns)
        except (ValueError, TypeError) as exc:
            if not self._widen(st, exc):
                self._emit(self.malformed.record(raw, exc, recv_ns))
            st.sync.reset()
            self._ask_snapshot(u.symbol)
            return
        if not ok:
            self.stats.gaps += 1
            log.warning("KuCoin %s: sequence gap at %d; resyncing", u.symbol, u.sequence_start)
            self._ask_snapshot(u.symbol)
            return
        if was_live:
            self.stats.updates += 1
            self._updated(st, recv_ns)

    def _on_depth(self, shard: _Shard, f: Any, raw: str | bytes, recv_ns: int) -> None:
        """One ``level2Depth50`` message: the symbol's whole (top-50) book. A bad message is counted
        and leaves the book as the last good message made it."""
        sym = f.topic.partition(":")[2]
        st = self._books.get(sym)
        if st is None:
            return
        try:
            d = msgspec.convert(f.data, Depth50)
            bids, asks = depth_levels(d.bids, "bid"), depth_levels(d.asks, "ask")
            if bids and asks and bids[0][0] >= asks[0][0]:
                raise ValueError(f"crossed depth snapshot: bid {bids[0][0]} >= ask {asks[0][0]}")
        except (msgspec.ValidationError, ValueError, TypeError) as exc:
            self._emit(self.malformed.record(raw, exc, recv_ns))
            return
        if d.timestamp and st.sync.live and d.timestamp < st.sync.seq:
            return  # older than the book we hold (a delayed duplicate)
        shard.last_data_mono = self.clock.monotonic_ns()
        for _ in range(2):
            try:
                st.sync.on_snapshot(max(d.timestamp, st.sync.seq), bids, asks, recv_ns)
                break
            except (ValueError, TypeError) as exc:
                st.sync.reset()
                if not self._widen(st, exc):
                    self._emit(self.malformed.record(raw, exc, recv_ns))
                    return
        else:
            return
        self.stats.depth_snapshots += 1
        self._updated(st, recv_ns)

    def _updated(self, st: _BookState, recv_ns: int) -> None:
        st.last_update_mono = self.clock.monotonic_ns()
        st.stale_reported = False
        book = st.sync.book
        bb, ba = book.best_bid(), book.best_ask()
        self._emit(BookUpdated(venue=VENUE, instrument_id=st.inst.id, sequence=st.sync.seq,
                               best_bid=book.price(bb[0]) if bb else None, best_bid_size=book.size(bb[1]) if bb else None,
                               best_ask=book.price(ba[0]) if ba else None, best_ask_size=book.size(ba[1]) if ba else None,
                               ts_recv=recv_ns, ts_book=recv_ns))

    # --- snapshots ------------------------------------------------------------------------------

    def _ask_snapshot(self, sym: str) -> None:
        st = self._books.get(sym)
        if st is None or (st.snapshot_task is not None and not st.snapshot_task.done()):
            return
        st.asked_mono = self.clock.monotonic_ns()
        st.snapshot_task = self._tasks.spawn(self._snapshot(sym))

    async def _snapshot(self, sym: str) -> None:
        await asyncio.sleep(0.05)  # let the subscription's first changes buffer
        for attempt in range(5):
            st = self._books.get(sym)
            if st is None or self._shards[st.shard].link.ws is None:
                return
            try:
                seq, bids, asks = await self.rest.orderbook(sym)
            except Exception as exc:  # noqa: BLE001 - retried; the watchdog asks again later
                log.warning("KuCoin %s snapshot failed: %r", sym, exc)
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            st = self._books.get(sym)
            if st is None:
                return
            now = self.clock.now_ns()
            try:
                ok = st.sync.on_snapshot(seq, bids, asks, now)
            except (ValueError, TypeError) as exc:
                if not self._widen(st, exc):
                    self._emit(self.malformed.record(repr((seq, bids[:3], asks[:3])), exc, now))
                st.sync.reset()
                ok = False
            if ok:
                self.stats.rest_snapshots += 1
                self._updated(st, now)
                return
            self.stats.gaps += 1
            await asyncio.sleep(0.05)

    def _widen(self, st: _BookState, exc: BaseException) -> bool:
        """A level size finer than the book holds: rebuild the book with 4 more size decimals
        (then resync). False when it cannot widen (not a precision problem, or at the limit)."""
        book = st.sync.book
        if "decimals" not in str(exc) or book.size_digits + 4 > BOOK_MAX_SIZE_DIGITS:
            return False
        log.warning("KuCoin %s: level size finer than %d decimals; widening the book", st.inst.symbol, book.size_digits)
        st.sync.book = CryptoBook(book.price_digits, book.size_digits + 4, st.inst.id)
        return True

    # --- watchdog -------------------------------------------------------------------------------

    def _check(self, freeze_ns: int, stale_ns: int, resync_ns: int) -> None:
        now = self.clock.monotonic_ns()
        for shard in self._shards:
            ws = frozen_socket(shard.link, shard.last_data_mono, now, freeze_ns, bool(shard.symbols))
            if ws is not None:
                self._tasks.spawn(ws.close())
        for sym, st in list(self._books.items()):
            link = self._shards[st.shard].link
            if link.state is not ConnectionState.CONNECTED:
                continue
            if not st.sync.live:
                if not self.depth50 and now - st.asked_mono > resync_ns:
                    self._ask_snapshot(sym)
                continue
            age = now - st.last_update_mono
            if age > stale_ns and not st.stale_reported:
                st.stale_reported = True
                self._emit(BookStaleDetected(venue=VENUE, instrument_id=instrument_id(VENUE, sym), age_ns=age,
                                             reason=STALE_BOOK_REASON, ts_recv=self.clock.now_ns()))


__all__ = ["FeedConfig", "FeedStats", "KucoinMarketFeed", "KucoinSession", "next_id"]
