"""arbkit.venues.kalshi against the Kalshi simulator over real loopback sockets.

The simulator runs in-process (``SimRunner``, scenario "quiet", seed 1, a simulated clock so its
background makers only move when the test advances time); the venue package talks to it exactly
as to Kalshi: signed REST, signed WebSocket handshake, fixed-point wire formats.
"""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal as D
from typing import Any, Callable

import pytest

from arbkit.core.clock import SimClock
from arbkit.core.enums import BookState, ConnectionState, InstrumentKind, LiquiditySide, OrderStatus, Side, TimeInForce, Venue
from arbkit.core.events import ConnectionStateChanged, OrderAccepted, OrderCanceled, OrderFilled, OrderRejected
from arbkit.core.instruments import Instrument
from arbkit.core.orders import OrderRequest
from arbkit.sim.events import Outcome
from arbkit.sim.runner import SimRunner
from arbkit.venues.kalshi.auth import ClockSkewError, KalshiSigner
from arbkit.venues.kalshi.feed import FeedConfig, KalshiMarketFeed
from arbkit.venues.kalshi.gateway import GatewayConfig, KalshiGateway
from arbkit.venues.kalshi.user import KalshiUserStream, UserStreamConfig

SEED = 1


@pytest.fixture
async def sim():
    runner = SimRunner(venues=["kalshi"], scenario="quiet", seed=SEED, clock=SimClock())
    info = await runner.start()
    try:
        yield runner, info["kalshi"]
    finally:
        await runner.stop()


def signer_of(k: dict, i: int, **kw: Any) -> KalshiSigner:
    a = k["accounts"][i]
    return KalshiSigner.from_pem_file(a["key_id"], a["private_key_path"], **kw)


async def eventually(pred: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what or pred}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(*services):
    tasks = [asyncio.create_task(s.run()) for s in services]
    try:
        yield
    finally:
        for s in services:
            await s.stop()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(t, 5)


def instrument(ticker: str, side: str) -> Instrument:
    return Instrument(venue=Venue.KALSHI, symbol=f"{ticker}:{side}", kind=InstrumentKind.OUTCOME,
                      tick_size=D("0.01"), size_increment=D("1"))


def order(ticker: str, side: str, action: Side, qty: str, price: str, coid: str, **kw: Any) -> OrderRequest:
    return OrderRequest(instrument=instrument(ticker, side), client_order_id=coid, side=action, quantity=D(qty),
                        price=D(price), **kw)


def books_match(feed: KalshiMarketFeed, runner: SimRunner, ticker: str) -> bool:
    eng = runner.engines["kalshi"]
    for outcome, side in ((Outcome.YES, "yes"), (Outcome.NO, "no")):
        book = feed.book(f"kalshi:{ticker}:{side}")
        if book is None:
            return False
        view = eng.book(ticker, outcome)
        bids, asks = book.snapshot_levels()
        if bids != list(view.bids) or asks != list(view.asks):
            return False
    return True


async def test_books_equal_the_simulators_after_snapshot_deltas_and_a_seq_gap(sim):
    runner, k = sim
    tickers = [m["ticker"] for m in k["markets"]]
    events: list = []
    gw = KalshiGateway(signer_of(k, 1), GatewayConfig(rest_url=k["rest_url"]))
    feed = KalshiMarketFeed(events.append, FeedConfig(ws_url=k["ws_url"], tickers_per_subscription=4,
                                                      crosscheck_interval_s=0), signer=signer_of(k, 0), rest=gw)
    feed.subscribe(tickers[:2])
    async with running(feed):
        await eventually(lambda: all(books_match(feed, runner, t) for t in tickers[:2]), what="first snapshots")
        # more markets while running: update_subscription add_markets, and a second subscription (4 per sub)
        feed.subscribe(tickers[2:])
        await eventually(lambda: all(books_match(feed, runner, t) for t in tickers), what="added markets")
        book_subs = [v for v in feed.subscriptions().values() if v[0] == "orderbook_delta"]
        assert sorted(t for _, ts in book_subs for t in ts) == sorted(tickers) and len(book_subs) == 2
        # deltas: the scenario's makers move, and our own orders rest in the book
        for _ in range(3):
            await runner.advance(1.0)
        t0 = tickers[0]
        res = await gw.submit(order(t0, "yes", Side.BUY, "7", "0.05", "book-1"))
        assert res.accepted
        res = await gw.submit(order(t0, "no", Side.BUY, "3", "0.05", "book-2"))
        assert res.accepted
        await eventually(lambda: all(books_match(feed, runner, t) for t in tickers), what="deltas applied")
        assert feed.stats.deltas_applied > 0 and feed.stats.seq_gaps == 0
        yes = feed.book(f"kalshi:{t0}:yes")
        no = feed.book(f"kalshi:{t0}:no")
        # YES ask = 1 - best NO bid, NO ask = 1 - best YES bid
        assert yes.best_ask_price() == 1 - no.best_bid_price() and no.best_ask_price() == 1 - yes.best_bid_price()
        # an injected gap: one orderbook_delta (and its seq) is lost; the next one reveals it
        runner.faults.add({"kind": "WS_SEQ_GAP", "venue": "kalshi", "match": "orderbook_delta", "times": 1})
        assert (await gw.submit(order(t0, "yes", Side.BUY, "2", "0.06", "book-3"))).accepted  # this delta is lost
        assert (await gw.submit(order(t0, "yes", Side.BUY, "1", "0.04", "book-4"))).accepted  # gap seen here
        await eventually(lambda: feed.stats.seq_gaps == 1, what="gap detected")
        await eventually(lambda: all(books_match(feed, runner, t) for t in tickers), what="resync after the gap")
        assert feed.stats.resyncs >= 1
        assert feed.book(f"kalshi:{t0}:yes").size_at(True, feed.market(t0).tick(600)) == 200  # the lost level is back
        assert all(feed.is_tradeable(f"kalshi:{t}:yes", 60 * 10**9) or feed.book_state(t) is BookState.CROSSED
                   for t in tickers)
        # REST cross-check: agrees now; a corrupted local book is noticed and resynced
        assert await feed.crosscheck(t0)
        m0 = feed.market(t0)
        m0.apply_delta(True, 200, 12_300, 0, 0)  # a (deep) level the venue never had
        assert not await feed.crosscheck(t0) and feed.stats.crosscheck_mismatches == 1
        await eventually(lambda: books_match(feed, runner, t0), what="resync after the cross-check")
        assert await feed.crosscheck(t0)
        # removing a market: delete_markets
        feed.unsubscribe([tickers[-1]])
        await eventually(lambda: all(tickers[-1] not in ts for _, ts in feed.subscriptions().values()),
                         what="market removed")
    await gw.close()
    assert not feed.malformed.count


async def test_order_partly_filled_then_canceled_fills_once_across_reconnects(sim):
    runner, k = sim
    ticker = k["markets"][0]["ticker"]
    mine: list = []
    gw0 = KalshiGateway(signer_of(k, 0), GatewayConfig(rest_url=k["rest_url"]))
    gw1 = KalshiGateway(signer_of(k, 1), GatewayConfig(rest_url=k["rest_url"]))
    user = KalshiUserStream(mine.append, signer_of(k, 0), gw0,
                            UserStreamConfig(ws_url=k["ws_url"], reconnect_initial_s=0.05), clock=runner.clock)
    fills = lambda: [e for e in mine if isinstance(e, OrderFilled)]  # noqa: E731
    async with running(user):
        await eventually(lambda: user.state is ConnectionState.CONNECTED and user.user_orders_supported, what="user")
        meta = await gw0.market(ticker)
        price = meta.finest_tick * 34  # 0.34: inside the spread, rests as the best YES bid
        res = await gw0.submit(order(ticker, "yes", Side.BUY, "10", str(price), "exec-9-L0-A0"))
        assert res.accepted and isinstance(res.events[0], OrderAccepted)
        await eventually(lambda: any(isinstance(e, OrderAccepted) for e in mine), what="user_order resting")
        # account 1 sells 4 YES into our bid (it holds none: the venue makes it a NO buy at 0.66)
        r1 = await gw1.submit(order(ticker, "yes", Side.SELL, "4", str(price), "taker-1", time_in_force=TimeInForce.IOC))
        assert r1.accepted
        await eventually(lambda: len(fills()) == 1, what="first fill")
        f = fills()[0]
        assert (f.instrument_id, f.side, f.price, f.quantity, f.liquidity, f.client_order_id) == (
            f"kalshi:{ticker}:yes", Side.BUY, D("0.34"), D("4.00"), LiquiditySide.MAKER, "exec-9-L0-A0")
        # the next fill message kills the socket and is never delivered: only the REST backfill can show it
        runner.faults.add({"kind": "WS_DISCONNECT", "venue": "kalshi", "match": "fill", "times": 1})
        assert (await gw1.submit(order(ticker, "yes", Side.SELL, "3", str(price), "taker-2",
                                       time_in_force=TimeInForce.IOC))).accepted
        await eventually(lambda: len(fills()) == 2, what="fill recovered by the backfill")
        assert user.reconnects >= 1 and user.backfilled_fills >= 1
        # a forced reconnect: the backfill brings the same fills again, none is reported twice
        await user.reconnect()
        await eventually(lambda: user.backfills >= 2, what="second backfill")
        await asyncio.sleep(0.2)
        assert len(fills()) == 2 and user.duplicates >= 2
        assert sum(e.quantity for e in fills()) == D("7.00") and fills()[-1].cumulative_quantity == D("7.00")
        assert [e.leaves_quantity for e in fills()] == [D("6.00"), D("3.00")]
        assert len({e.trade_id for e in fills()}) == 2
        # cancel the rest
        cancel = await gw0.cancel("exec-9-L0-A0")
        assert isinstance(cancel[0], OrderCanceled) and cancel[0].filled_quantity == D("7.00")
        await eventually(lambda: any(isinstance(e, OrderCanceled) for e in mine), what="user_order canceled")
    # recovery: a fresh gateway (no cache) finds the order by its client order id
    fresh = KalshiGateway(signer_of(k, 0), GatewayConfig(rest_url=k["rest_url"]))
    st = await fresh.order_state("exec-9-L0-A0")
    assert st is not None and st.status is OrderStatus.CANCELED and st.filled_quantity == D("7.00")
    assert st.instrument_id == f"kalshi:{ticker}:yes" and st.price == D("0.34")
    assert await fresh.order_state("never-sent") is None
    rest_fills = await fresh.fills_since(0)
    assert sorted(e.trade_id for e in rest_fills) == sorted(e.trade_id for e in fills())
    assert {e.client_order_id for e in rest_fills} == {"exec-9-L0-A0"}
    pos = await fresh.positions()
    assert [(p.instrument_id, p.quantity) for p in pos] == [(f"kalshi:{ticker}:yes", D("7.00"))]
    bal = (await fresh.balances())[0]
    assert bal.currency == "USD" and bal.total < D(10000)
    for g in (gw0, gw1, fresh):
        await g.close()
    assert not user.malformed.count
    assert any(isinstance(e, ConnectionStateChanged) and e.state is ConnectionState.DISCONNECTED for e in mine)


async def test_stale_timestamp_is_a_clear_clock_skew_error(sim):
    runner, k = sim
    ticker = k["markets"][0]["ticker"]
    late = KalshiGateway(signer_of(k, 0, clock_offset_ms=-60_000), GatewayConfig(rest_url=k["rest_url"]))
    res = await late.submit(order(ticker, "yes", Side.BUY, "1", "0.10", "late-1"))
    assert not res.accepted and isinstance(res.events[0], OrderRejected)
    rej = res.events[0]
    assert rej.code == "clock_skew" and rej.reason.startswith("clock skew") and "-60000 ms" in rej.reason
    assert not rej.retryable
    with pytest.raises(ClockSkewError, match="REQUEST_TIMESTAMP_OUT_OF_RANGE"):
        await late.balances()
    assert abs(await late.check_clock()) < 1500  # the host clock itself is fine: the offset is ours
    await late.close()


async def test_rate_limit_batch_metadata_and_cancel_all(sim):
    runner, k = sim
    ticker = k["markets"][0]["ticker"]
    gw = KalshiGateway(signer_of(k, 0), GatewayConfig(rest_url=k["rest_url"]))
    meta = await gw.market(ticker)
    assert meta.rules_primary and meta.title and meta.close_time_ns > 0 and meta.series_ticker
    assert (meta.price_level_structure, meta.fee_type, meta.fee_multiplier) == ("linear_cent", "quadratic", D(1))
    yes, no = meta.instruments()
    assert yes.fee.kind == "kalshi" and yes.complement_id == no.id and yes.event_id == meta.event_ticker
    runner.faults.add({"kind": "REST_429", "venue": "kalshi", "match": "/portfolio/events/orders", "times": 1,
                       "retry_after_s": 0.3})
    results = await gw.submit_many([
        order(ticker, "yes", Side.BUY, "1", "0.05", "b-1"),
        order(ticker, "no", Side.BUY, "2", "0.05", "b-2"),
        order(ticker, "yes", Side.BUY, "1", "0.055", "b-3"),  # off the linear_cent grid: refused locally
    ])
    assert [r.accepted for r in results] == [True, True, False]
    assert results[2].events[0].code == "invalid_order" and "linear_cent" in results[2].events[0].reason
    assert gw.writes.penalties == 1
    assert sorted(o.client_order_id for o in await gw.open_orders()) == ["b-1", "b-2"]
    canceled = await gw.cancel_all()
    assert sorted(e.client_order_id for e in canceled if isinstance(e, OrderCanceled)) == ["b-1", "b-2"]
    assert await gw.open_orders() == []
    await gw.close()


async def test_stale_books_silent_freeze_and_recording(sim, tmp_path):
    from arbkit.core.events import BookStaleDetected

    runner, k = sim
    tickers = [m["ticker"] for m in k["markets"]][:2]
    events: list = []
    rec = tmp_path / "kalshi.rec"
    cfg = FeedConfig(ws_url=k["ws_url"], stale_book_after_s=0.2, freeze_after_s=0.6, watchdog_interval_s=0.05,
                     reconnect_initial_s=0.05, record_path=str(rec))
    feed = KalshiMarketFeed(events.append, cfg, signer=signer_of(k, 0))
    feed.subscribe(tickers)
    async with running(feed):
        await eventually(lambda: all(books_match(feed, runner, t) for t in tickers), what="snapshots")
        # quiet books: each is reported stale once, and is no longer tradeable at that age
        await eventually(lambda: feed.stats.stale_books == len(tickers), what="stale books")
        assert {e.instrument_id for e in events if isinstance(e, BookStaleDetected)} == {
            f"kalshi:{t}:{s}" for t in tickers for s in ("yes", "no")}
        assert not feed.is_tradeable(f"kalshi:{tickers[0]}:yes", 100_000_000)
        # nothing at all for freeze_after_s on a live socket: STALLED, reconnect, fresh snapshots
        await eventually(lambda: feed.stats.freezes >= 1 and feed.stats.reconnects >= 1, what="freeze")
        await eventually(lambda: feed.state is ConnectionState.CONNECTED and all(
            books_match(feed, runner, t) for t in tickers), what="back after the freeze")
        states = [e.state for e in events if isinstance(e, ConnectionStateChanged)]
        assert ConnectionState.STALLED in states and states.count(ConnectionState.CONNECTED) >= 2
    lines = rec.read_text().splitlines()
    assert len(lines) == feed.stats.frames and all(line.split(" ", 1)[0].isdigit() for line in lines)
    assert sum('"orderbook_snapshot"' in line for line in lines) >= 2 * len(tickers)


async def test_feed_cli_against_the_simulator_process(tmp_path):
    """``arbkit sim`` (the runner, its own process) and ``arbkit feed kalshi`` (another process)."""
    import json
    import os
    import shutil
    import sys
    from pathlib import Path

    exe = Path(sys.executable).with_name("arbkit")
    cli = str(exe) if exe.exists() else shutil.which("arbkit")
    if cli is None:
        pytest.skip("the arbkit console script is not installed next to this Python (pip install -e .)")
    info_file = tmp_path / "sim.json"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    sim_proc = await asyncio.create_subprocess_exec(
        cli, "sim", "--venues", "kalshi", "--scenario", "quiet", "--seed", "1",
        "--info-file", str(info_file), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env)
    try:
        await eventually(lambda: info_file.exists(), timeout=30, what="sim info file")
        k = json.loads(info_file.read_text())["kalshi"]
        acct = k["accounts"][0]
        rec = tmp_path / "frames.rec"
        tickers = [m["ticker"] for m in k["markets"]][:2]
        args = [cli, "feed", "kalshi", "--ws-url", k["ws_url"], "--key-id", acct["key_id"],
                "--key-file", acct["private_key_path"], "--record", str(rec), "--duration", "2"]
        for t in tickers:
            args += ["--ticker", t]
        feed_proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE,
                                                         stderr=asyncio.subprocess.PIPE, env=env)
        out, err = await asyncio.wait_for(feed_proc.communicate(), 60)
        assert feed_proc.returncode == 0, err.decode()
        lines = out.decode().splitlines()
        for t in tickers:
            assert any(f"{t}:yes seq=" in line and " bid " in line and " ask " in line for line in lines), lines[:5]
            assert any(f"{t}:no seq=" in line for line in lines)
        assert "malformed=0" in err.decode() and "CONNECTED" in err.decode()
        assert sum('"orderbook_snapshot"' in line for line in rec.read_text().splitlines()) == len(tickers)
    finally:
        if sim_proc.returncode is None:
            sim_proc.terminate()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(sim_proc.wait(), 10)
            if sim_proc.returncode is None:
                sim_proc.kill()
                await sim_proc.wait()


async def test_feed_rides_out_duplicates_and_a_dropped_connection(sim):
    runner, k = sim
    tickers = [m["ticker"] for m in k["markets"]]
    t0 = tickers[0]
    events: list = []
    feed = KalshiMarketFeed(events.append, FeedConfig(ws_url=k["ws_url"], reconnect_initial_s=0.05),
                            signer=signer_of(k, 0))
    feed.subscribe(tickers)
    gw = KalshiGateway(signer_of(k, 1), GatewayConfig(rest_url=k["rest_url"]))
    async with running(feed):
        await eventually(lambda: all(books_match(feed, runner, t) for t in tickers), what="snapshots")
        runner.faults.add({"kind": "WS_DUPLICATE", "venue": "kalshi", "match": "orderbook_delta", "times": 2})
        assert (await gw.submit(order(t0, "yes", Side.BUY, "5", "0.07", "dup-1"))).accepted
        assert (await gw.submit(order(t0, "no", Side.BUY, "5", "0.07", "dup-2"))).accepted
        await eventually(lambda: feed.stats.duplicates == 2 and books_match(feed, runner, t0), what="duplicates")
        # the socket dies; orders placed meanwhile show up in the fresh snapshots after the reconnect
        runner.faults.add({"kind": "WS_DISCONNECT", "venue": "kalshi", "match": "orderbook_delta", "times": 1})
        assert (await gw.submit(order(t0, "yes", Side.BUY, "4", "0.08", "dis-1"))).accepted
        assert (await gw.submit(order(t0, "no", Side.BUY, "6", "0.08", "dis-2"))).accepted
        await eventually(lambda: feed.stats.reconnects >= 1 and feed.state is ConnectionState.CONNECTED
                         and all(books_match(feed, runner, t) for t in tickers), what="back after the disconnect")
        assert feed.stats.seq_gaps == 0 and not feed.malformed.count
    await gw.close()


async def test_fill_lost_on_a_live_socket_is_reported_by_the_periodic_reconciliation(sim):
    runner, k = sim
    ticker = k["markets"][0]["ticker"]
    mine: list = []
    gw0 = KalshiGateway(signer_of(k, 0), GatewayConfig(rest_url=k["rest_url"]))
    gw1 = KalshiGateway(signer_of(k, 1), GatewayConfig(rest_url=k["rest_url"]))
    user = KalshiUserStream(mine.append, signer_of(k, 0), gw0,
                            UserStreamConfig(ws_url=k["ws_url"], reconcile_interval_s=0.3), clock=runner.clock)
    async with running(user):
        await eventually(lambda: user.state is ConnectionState.CONNECTED, what="user")
        # inside the spread (the scenario's makers quote NO at 0.63 bid / 0.67 ask): rests as the best NO bid
        assert (await gw0.submit(order(ticker, "no", Side.BUY, "5", "0.64", "rest-1"))).accepted
        runner.faults.add({"kind": "WS_FREEZE", "venue": "kalshi", "match": "fill", "times": 1})  # dropped, socket up
        assert (await gw1.submit(order(ticker, "no", Side.SELL, "5", "0.64", "t-1",
                                       time_in_force=TimeInForce.IOC))).accepted
        await eventually(lambda: any(isinstance(e, OrderFilled) for e in mine), what="reconciled fill")
        await asyncio.sleep(0.7)  # more reconciliation rounds: still reported once
        fills = [e for e in mine if isinstance(e, OrderFilled)]
        assert len(fills) == 1 and user.reconnects == 0 and user.backfilled_fills == 1
        assert (fills[0].instrument_id, fills[0].side, fills[0].price, fills[0].quantity, fills[0].client_order_id) == (
            f"kalshi:{ticker}:no", Side.BUY, D("0.64"), D("5.00"), "rest-1")
    await gw0.close()
    await gw1.close()


async def test_an_event_fee_override_reaches_the_gateway_over_market_lifecycle_v2(sim):
    """event_fee_update (market_lifecycle_v2) reaches cached metadata at once: an unmodelled fee type
    stops orders for the event's markets (nothing is sent), clearing it restores the series' fee."""
    runner, k = sim
    server = runner.servers["kalshi"]
    ticker = k["markets"][0]["ticker"]
    gw = KalshiGateway(signer_of(k, 0), GatewayConfig(rest_url=k["rest_url"]))
    events: list = []
    user = KalshiUserStream(events.append, signer_of(k, 0), gw, UserStreamConfig(ws_url=k["ws_url"]), clock=runner.clock)
    async with running(user):
        await eventually(lambda: user.lifecycle_supported is True and user.user_orders_supported is True,
                         what="lifecycle and user_orders subscribed")
        meta = await gw.market(ticker)
        assert meta.fee_source == "series" and not meta.fee_problem
        orders_before = len(runner.engines["kalshi"].orders())
        server.set_event_fee_override(meta.event_ticker, "flat", 2)
        await eventually(lambda: user.fee_updates == 1, what="event_fee_update")
        meta = gw.cached_market(ticker)
        assert (meta.fee_type, meta.fee_multiplier, meta.fee_source) == ("flat", D(2), "event") and meta.fee_problem
        res = await gw.submit(order(ticker, "yes", Side.BUY, "1", "0.05", "fee-flat-1"))
        assert not res.accepted and "not tradeable" in res.events[0].reason
        assert len(runner.engines["kalshi"].orders()) == orders_before  # nothing reached the venue
        # the venue's event shows the override too (a metadata refresh agrees)
        fresh = await gw.market(ticker, refresh=True)
        assert (fresh.fee_type, fresh.fee_source) == ("flat", "event")
        server.set_event_fee_override(meta.event_ticker, None, None)
        await eventually(lambda: user.fee_updates == 2, what="override cleared")
        assert gw.cached_market(ticker).fee_source == "series"
        assert (await gw.submit(order(ticker, "yes", Side.BUY, "1", "0.05", "fee-ok-1"))).accepted
    assert not user.malformed.count
    await gw.close()
