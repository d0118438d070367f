"""Market feed against a small real WebSocket + REST server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
import websockets
from aiohttp import web

from arbkit.core.enums import BookState, ConnectionState
from arbkit.core.events import (
    BookStaleDetected,
    BookUpdated,
    ConnectionStateChanged,
    MessageMalformed,
    TickSizeChanged,
)
from arbkit.venues.polymarket.feed import FeedConfig, PolymarketMarketFeed


class FakeVenue:
    """Just enough of the Polymarket market channel and REST /book for the feed."""

    def __init__(self) -> None:
        self.books: dict[str, dict] = {}  # token -> {"bids": {price: size}, "asks": {...}}
        self.conns: list[tuple[object, set[str]]] = []
        self.answer_pings = True
        self.silent = False  # freeze: keep the socket and PONGs, send no data
        self.deltas_before_book = False
        self.received: list[str] = []

    def book_msg(self, token: str) -> dict:
        b = self.books.setdefault(token, {"bids": {}, "asks": {}})
        return {"event_type": "book", "asset_id": token, "market": "0xm", "timestamp": "1700000000000",
                "bids": [{"price": p, "size": s} for p, s in b["bids"].items()],
                "asks": [{"price": p, "size": s} for p, s in b["asks"].items()]}

    async def handler(self, ws) -> None:
        sub = json.loads(await ws.recv())
        assets = set(sub["assets_ids"])
        conn = (ws, assets)
        self.conns.append(conn)
        try:
            if self.deltas_before_book:
                for t in assets:
                    await ws.send(json.dumps([{"event_type": "price_change", "market": "0xm", "price_changes": [
                        {"asset_id": t, "price": "0.10", "size": "999", "side": "BUY"}]}]))
            await ws.send(json.dumps([self.book_msg(t) for t in sorted(assets)]))
            async for msg in ws:
                self.received.append(msg)
                if msg == "PING":
                    if self.answer_pings:
                        await ws.send("PONG")
                    continue
                op = json.loads(msg)
                if op.get("operation") == "subscribe":
                    assets.update(op["assets_ids"])
                    if not self.silent:
                        await ws.send(json.dumps([self.book_msg(t) for t in op["assets_ids"]]))
                elif op.get("operation") == "unsubscribe":
                    assets.difference_update(op["assets_ids"])
        finally:
            self.conns.remove(conn)

    async def set_level(self, token: str, side: str, price: str, size: str, send: bool = True) -> None:
        levels = self.books.setdefault(token, {"bids": {}, "asks": {}})["bids" if side == "BUY" else "asks"]
        if Decimal(size) == 0:
            levels.pop(price, None)
        else:
            levels[price] = size
        if send and not self.silent:
            frame = json.dumps([{"event_type": "price_change", "market": "0xm", "timestamp": "1700000000001",
                                 "price_changes": [{"asset_id": token, "price": price, "size": size, "side": side}]}])
            for ws, assets in list(self.conns):
                if token in assets:
                    await ws.send(frame)

    async def broadcast(self, token: str, payload: dict) -> None:
        for ws, assets in list(self.conns):
            if token in assets:
                await ws.send(json.dumps(payload))

    async def rest_book(self, request: web.Request) -> web.Response:
        token = request.query["token_id"]
        msg = self.book_msg(token)
        msg["tick_size"] = "0.01"
        return web.json_response(msg)


@pytest.fixture
async def venue():
    fv = FakeVenue()
    server = await websockets.serve(fv.handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    app = web.Application()
    app.router.add_get("/book", fv.rest_book)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    rest_port = site._server.sockets[0].getsockname()[1]
    fv.ws_url = f"ws://127.0.0.1:{port}"
    fv.rest_url = f"http://127.0.0.1:{rest_port}"
    yield fv
    server.close()
    await server.wait_closed()
    await runner.cleanup()


def _config(fv: FakeVenue, **kw) -> FeedConfig:
    base = dict(ws_url=fv.ws_url, rest_url=fv.rest_url, reconnect_initial_s=0.05, reconnect_max_s=0.2,
                crosscheck_interval_s=0, watchdog_interval_s=0.05, ping_interval_s=0.1)
    base.update(kw)
    return FeedConfig(**base)


async def _until(pred, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def _running(feed: PolymarketMarketFeed):
    task = asyncio.create_task(feed.run())
    await asyncio.sleep(0)
    return task


async def _stop(feed: PolymarketMarketFeed, task: asyncio.Task) -> None:
    await feed.stop()
    await asyncio.wait_for(task, 5)


def _tokens(n: int) -> list[str]:
    return [str(10**20 + i) for i in range(n)]


async def test_shards_respect_the_per_connection_limit(venue: FakeVenue) -> None:
    events: list = []
    tokens = _tokens(8)
    for t in tokens:
        await venue.set_level(t, "BUY", "0.40", "10", send=False)
        await venue.set_level(t, "SELL", "0.60", "20", send=False)
    feed = PolymarketMarketFeed(events.append, _config(venue, assets_per_connection=3))
    feed.subscribe(f"polymarket:{t}" for t in tokens)
    assert [len(s) for s in feed.shards] == [3, 3, 2]
    task = await _running(feed)
    await _until(lambda: all(feed.book_state(t) is BookState.LIVE for t in tokens))
    assert sorted(len(a) for _, a in venue.conns) == [2, 3, 3]
    assert sorted(t for _, a in venue.conns for t in a) == sorted(tokens)
    b = feed.book(tokens[0])
    assert b.best_bid_price() == Decimal("0.40") and b.best_ask_price() == Decimal("0.60")
    assert feed.is_tradeable(tokens[0], 10**9)
    # a later subscription goes to the shard with room, over the live connection
    feed.subscribe([str(10**20 + 99)])
    assert [len(s) for s in feed.shards] == [3, 3, 3]
    await _until(lambda: feed.book_state(str(10**20 + 99)) is BookState.LIVE)
    await _stop(feed, task)
    with pytest.raises(ValueError, match="assets_per_connection"):
        FeedConfig(assets_per_connection=501)


async def test_reconnect_resubscribes_and_waits_for_the_snapshot(venue: FakeVenue) -> None:
    events: list = []
    tokens = _tokens(4)
    for t in tokens:
        await venue.set_level(t, "BUY", "0.40", "10", send=False)
    feed = PolymarketMarketFeed(events.append, _config(venue, assets_per_connection=2))
    feed.subscribe(tokens)
    task = await _running(feed)
    await _until(lambda: all(feed.book_state(t) is BookState.LIVE for t in tokens))
    await venue.set_level(tokens[0], "SELL", "0.55", "7")
    await _until(lambda: feed.book(tokens[0]).best_ask_price() == Decimal("0.55"))

    # While disconnected the venue's book moves; on reconnect a stray delta arrives before the snapshot.
    venue.deltas_before_book = True
    await venue.set_level(tokens[0], "BUY", "0.45", "3", send=False)
    await venue.set_level(tokens[0], "SELL", "0.55", "0", send=False)
    n_states = len([e for e in events if isinstance(e, ConnectionStateChanged)])
    for ws, _ in list(venue.conns):
        await ws.close()
    await _until(lambda: len(venue.conns) == 2 and all(feed.book_state(t) is BookState.LIVE for t in tokens)
                 and feed.book(tokens[0]).best_bid_price() == Decimal("0.45"))
    states = [e.state for e in events if isinstance(e, ConnectionStateChanged)][n_states:]
    assert ConnectionState.DISCONNECTED in states and states[-1] is ConnectionState.CONNECTED
    assert feed.stats.deltas_dropped >= 4  # the stray deltas before each snapshot
    for t in tokens:  # rebuilt books equal the venue's
        book = feed.book(t)
        vb = venue.books[t]
        assert {(str(p), str(s)) for p, s in book.snapshot_levels()[0]} == {
            (str(Decimal(p).quantize(Decimal("0.01"))), str(Decimal(s).quantize(Decimal("0.000001")))) for p, s in vb["bids"].items()}
        assert book.best_bid_price() != Decimal("0.10")  # the stray delta never applied
        assert book.best_ask() is None if not vb["asks"] else True
    await _stop(feed, task)


async def test_tick_size_change_drops_the_book_until_a_fresh_snapshot(venue: FakeVenue) -> None:
    events: list = []
    t = _tokens(1)[0]
    await venue.set_level(t, "BUY", "0.40", "10", send=False)
    feed = PolymarketMarketFeed(events.append, _config(venue))
    feed.subscribe([t])
    task = await _running(feed)
    await _until(lambda: feed.book_state(t) is BookState.LIVE)
    venue.silent = True  # the venue does not answer the resubscribe at once
    await venue.broadcast(t, {"event_type": "tick_size_change", "asset_id": t, "market": "0xm",
                              "old_tick_size": "0.01", "new_tick_size": "0.001", "timestamp": "1700000000002"})
    await _until(lambda: any(isinstance(e, TickSizeChanged) for e in events))
    assert feed.book(t) is None and feed.book_state(t) is BookState.RESYNCING and not feed.is_tradeable(t, 10**12)
    await _until(lambda: any('"operation":"subscribe"' in m for m in venue.received))
    venue.silent = False
    await venue.set_level(t, "BUY", "0.405", "5", send=False)
    await venue.broadcast(t, [venue.book_msg(t)])
    await _until(lambda: feed.book_state(t) is BookState.LIVE)
    book = feed.book(t)
    assert book.tick_size == Decimal("0.001") and book.best_bid_price() == Decimal("0.405")
    await _stop(feed, task)


async def test_silent_freeze_is_detected_and_reconnected(venue: FakeVenue) -> None:
    events: list = []
    t = _tokens(1)[0]
    await venue.set_level(t, "BUY", "0.40", "10", send=False)
    feed = PolymarketMarketFeed(events.append, _config(venue, freeze_after_s=0.4, stale_book_after_s=60))
    feed.subscribe([t])
    task = await _running(feed)
    await _until(lambda: feed.book_state(t) is BookState.LIVE)
    venue.silent = True  # PONGs keep coming, market data stops
    t0 = asyncio.get_running_loop().time()
    await _until(lambda: any(isinstance(e, ConnectionStateChanged) and e.state is ConnectionState.STALLED
                             for e in events), timeout=3)
    detected_after = asyncio.get_running_loop().time() - t0
    assert 0.3 <= detected_after <= 1.0
    assert any(m == "PING" for m in venue.received)
    assert feed.stats.freezes >= 1 and not any(isinstance(e, BookStaleDetected) for e in events)
    venue.silent = False
    await _until(lambda: feed.connection_states() == [ConnectionState.CONNECTED] and feed.book_state(t) is BookState.LIVE)
    await _stop(feed, task)


async def test_a_quiet_book_is_stale_without_a_freeze(venue: FakeVenue) -> None:
    events: list = []
    busy, quiet = _tokens(2)
    for t in (busy, quiet):
        await venue.set_level(t, "BUY", "0.40", "10", send=False)
    feed = PolymarketMarketFeed(events.append, _config(venue, freeze_after_s=0.5, stale_book_after_s=0.3))
    feed.subscribe([busy, quiet])
    task = await _running(feed)
    await _until(lambda: feed.book_state(quiet) is BookState.LIVE and feed.book_state(busy) is BookState.LIVE)
    for i in range(12):  # only `busy` gets data
        await venue.set_level(busy, "BUY", "0.41", str(i + 1))
        await asyncio.sleep(0.06)
    stale = [e for e in events if isinstance(e, BookStaleDetected)]
    assert [e.instrument_id for e in stale] == [f"polymarket:{quiet}"]
    assert not any(isinstance(e, ConnectionStateChanged) and e.state is ConnectionState.STALLED for e in events)
    assert feed.is_tradeable(busy, 200_000_000) and not feed.is_tradeable(quiet, 200_000_000)
    await _stop(feed, task)


async def test_crosscheck_replaces_a_diverged_book(venue: FakeVenue) -> None:
    events: list = []
    t = _tokens(1)[0]
    await venue.set_level(t, "BUY", "0.40", "10", send=False)
    feed = PolymarketMarketFeed(events.append, _config(venue))
    feed.subscribe([t])
    task = await _running(feed)
    await _until(lambda: feed.book_state(t) is BookState.LIVE)
    assert await feed.crosscheck(t) is True
    await venue.set_level(t, "BUY", "0.42", "5", send=False)  # a delta the feed never got
    assert await feed.crosscheck(t) is False
    assert feed.book(t).best_bid_price() == Decimal("0.42")
    assert any(isinstance(e, BookStaleDetected) and "REST" in e.reason for e in events)
    assert feed.stats.crosscheck_mismatches == 1
    await _stop(feed, task)


async def test_records_every_frame_and_survives_garbage(venue: FakeVenue, tmp_path) -> None:
    events: list = []
    t = _tokens(1)[0]
    await venue.set_level(t, "BUY", "0.40", "10", send=False)
    rec = tmp_path / "pm.rec"
    feed = PolymarketMarketFeed(events.append, _config(venue, record_path=str(rec)))
    feed.subscribe([t])
    task = await _running(feed)
    await _until(lambda: feed.book_state(t) is BookState.LIVE)
    await venue.broadcast(t, "not json at all")  # type: ignore[arg-type]
    for ws, _ in venue.conns:
        await ws.send("{\"event_type\": \"price_change\", \"price_changes\": [{\"asset_id\": \"%s\"}]}" % t)
    await venue.set_level(t, "SELL", "0.60", "3")
    await _until(lambda: feed.book(t).best_ask_price() == Decimal("0.60"))
    await _stop(feed, task)
    assert feed.malformed.count == 2
    assert len([e for e in events if isinstance(e, MessageMalformed)]) == 2
    lines = rec.read_text().splitlines()
    assert len(lines) >= 4
    for line in lines:
        ns, _, raw = line.partition(" ")
        assert ns.isdigit() and int(ns) > 1_600_000_000 * 10**9 and raw
    assert any('"event_type": "book"' in line or '"event_type":"book"' in line for line in lines)
    assert any(isinstance(e, BookUpdated) for e in events)


def test_an_unappliable_change_drops_only_its_book_and_keeps_the_others() -> None:
    events: list = []
    feed = PolymarketMarketFeed(events.append, FeedConfig(crosscheck_interval_s=0))
    a, b = "111", "222"
    feed.subscribe([a, b])
    for t in (a, b):
        feed.on_frame(None, json.dumps({"event_type": "book", "asset_id": t, "bids": [{"price": "0.40", "size": "1"}],
                                        "asks": []}))
    frame = {"event_type": "price_change", "market": "0xm", "price_changes": [
        {"asset_id": a, "price": "0.405", "size": "3", "side": "BUY"},  # off the 0.01 grid
        {"asset_id": b, "price": "0.41", "size": "5", "side": "BUY"}]}
    for raw in (json.dumps(frame), json.dumps([frame, {"event_type": "last_trade_price", "asset_id": b,
                                                        "price": "0.41", "size": "1", "side": "BUY"}])):
        feed.on_frame(None, json.dumps({"event_type": "book", "asset_id": a, "bids": [], "asks": []}))
        feed.on_frame(None, raw)
        assert feed.book_state(a) is BookState.RESYNCING and feed.book(a) is None
        assert feed.book(b).best_bid_price() == Decimal("0.41")
    assert feed.malformed.count == 2
    assert [e.instrument_id for e in events if isinstance(e, BookUpdated)][-1] == "polymarket:222"


def test_book_update_modes() -> None:
    def frames(feed: PolymarketMarketFeed) -> None:
        feed.on_frame(None, json.dumps({"event_type": "book", "asset_id": "9", "bids": [{"price": "0.40", "size": "1"}],
                                        "asks": [{"price": "0.50", "size": "1"}]}))
        for price, size, side in (("0.30", "2", "BUY"), ("0.40", "3", "BUY"), ("0.45", "1", "SELL"), ("0.46", "1", "BUY")):
            feed.on_frame(None, json.dumps({"event_type": "price_change", "price_changes": [
                {"asset_id": "9", "price": price, "size": size, "side": side}]}))

    counts = {}
    for mode in ("all", "top", "none"):
        events: list = []
        feed = PolymarketMarketFeed(events.append, FeedConfig(crosscheck_interval_s=0, book_updates=mode))
        feed.subscribe(["9"])
        frames(feed)
        counts[mode] = len([e for e in events if isinstance(e, BookUpdated)])
        assert feed.book_state("9") is BookState.CROSSED  # 0.46 bid over the 0.45 ask, in every mode
        assert not feed.is_tradeable("9", 10**12)
    assert counts == {"all": 5, "top": 4, "none": 0}  # the 0.30 bid (below the top) is silent in "top"
    with pytest.raises(ValueError, match="book_updates"):
        FeedConfig(book_updates="some")


def test_hostile_values_never_escape_the_feed() -> None:
    events: list = []
    feed = PolymarketMarketFeed(events.append, FeedConfig(crosscheck_interval_s=0))
    feed.subscribe(["5"])
    book = json.dumps({"event_type": "book", "asset_id": "5", "bids": [{"price": "0.40", "size": "1"}], "asks": []})
    bad_changes = [("1.50", "1"), ("-0.10", "1"), ("0.4_0", "1"), ("0.40", "1e30"), ("0.40", "-3"), (" 0.40", "1")]
    for price, size in bad_changes:
        feed.on_frame(None, book)
        feed.on_frame(None, json.dumps({"event_type": "price_change", "price_changes": [
            {"asset_id": "5", "price": price, "size": size, "side": "BUY"}]}))
        assert feed.book_state("5") is BookState.RESYNCING, (price, size)
    for junk in (b"\xff\xfe", "[1, 2]", '{"event_type": "book", "asset_id": "5", "bids": [{"price": "x", "size": "1"}]}',
                 '{"event_type": "tick_size_change", "asset_id": "5", "new_tick_size": "-1"}', "[]", "{}"):
        feed.on_frame(None, junk)
    assert feed.malformed.count >= len(bad_changes) + 4


def test_a_bad_snapshot_changes_nothing_but_drops_the_book() -> None:
    feed = PolymarketMarketFeed(lambda e: None, FeedConfig(crosscheck_interval_s=0))
    feed.subscribe(["6"])
    good = {"event_type": "book", "asset_id": "6", "bids": [{"price": "0.40", "size": "1"}], "asks": []}
    feed.on_frame(None, json.dumps(good))
    assert feed.book("6").tick_size == Decimal("0.01")
    feed.on_frame(None, json.dumps({**good, "bids": [{"price": "0.41", "size": "2"}, {"price": "zz", "size": "1"}]}))
    assert feed.book_state("6") is BookState.RESYNCING and feed.malformed.count == 1
    feed.on_frame(None, json.dumps({**good, "bids": [{"price": "0.415", "size": "2"}]}))  # finer grid: adapts
    assert feed.book("6").tick_size == Decimal("0.005") and feed.book("6").best_bid_price() == Decimal("0.415")
    feed.on_frame(None, json.dumps({**good, "tick_size": "0.001", "bids": [{"price": "0.401", "size": "2"}]}))
    assert feed.book("6").tick_size == Decimal("0.001")


def test_book_updated_stamps_arrival_and_apply_apart() -> None:
    # ts_recv is the frame's arrival, ts_book when its changes were applied: the report's
    # socket->book stage is their difference, so ts_book must be read after the apply, never copied
    events: list = []
    feed = PolymarketMarketFeed(events.append, FeedConfig(crosscheck_interval_s=0))
    feed.subscribe(["9"])
    recv = 1_700_000_000 * 10**9  # an arrival well before now
    feed.on_frame(None, json.dumps({"event_type": "book", "asset_id": "9", "bids": [{"price": "0.40", "size": "1"}],
                                    "asks": [{"price": "0.50", "size": "1"}]}), recv_ns=recv)
    feed.on_frame(None, json.dumps({"event_type": "price_change", "price_changes": [
        {"asset_id": "9", "price": "0.45", "size": "2", "side": "BUY"}]}), recv_ns=recv + 1)
    ups = [e for e in events if isinstance(e, BookUpdated)]
    assert [e.ts_recv for e in ups] == [recv, recv + 1]
    assert all(e.ts_book > e.ts_recv + 10**9 for e in ups)  # stamped by the clock at apply time
