"""arbkit.venues.kucoin against the KuCoin simulator over real loopback sockets (in-process
``SimRunner``, live clock): money safety of order creation (never a blind resend), restore after a
restart, the test-order endpoint, and the feed's resync after a sequence gap."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from decimal import Decimal as D
from typing import Callable

import pytest

from arbkit.core.enums import Side
from arbkit.core.events import OrderRejected
from arbkit.core.orders import OrderRequest
from arbkit.sim.runner import SimRunner
from arbkit.venues.common.http import OrderStateUnknown
from arbkit.venues.kucoin.auth import KucoinSigner
from arbkit.venues.kucoin.feed import FeedConfig, KucoinMarketFeed
from arbkit.venues.kucoin.gateway import GatewayConfig, KucoinGateway


@pytest.fixture
async def sim():
    runner = SimRunner(venues=["kucoin"], scenario="quiet", seed=3)
    info = await runner.start()
    try:
        yield runner, info["kucoin"]
    finally:
        await runner.stop()


def gateway(sec: dict, i: int = 0, **kw) -> KucoinGateway:
    a = sec["accounts"][i]
    return KucoinGateway(KucoinSigner(a["api_key"], a["api_secret"], a["passphrase"]),
                         GatewayConfig(rest_url=sec["rest_url"], ambiguous_settle_s=0.05, **kw))


async def eventually(pred: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def resting(gw: KucoinGateway, runner: SimRunner, coid: str, symbol: str = "ETH-USDT") -> OrderRequest:
    insts = {i.symbol: i for i in await gw.instruments()}
    inst = insts[symbol]
    bid = D(runner.engines["kucoin"].book(symbol)["bids"][0][0])
    return OrderRequest(instrument=inst, client_order_id=coid, side=Side.BUY, quantity=D("1"),
                        price=bid - inst.tick_size * 10)


def orders_for(runner: SimRunner, account: str, coid: str) -> list:
    return [o for o in runner.engines["kucoin"].orders(account) if o["client_order_id"] == coid]


async def test_a_create_processed_but_unanswered_is_found_not_sent_again(sim) -> None:
    runner, sec = sim
    gw = gateway(sec, timeout_s=0.3)
    req = await resting(gw, runner, "slow-ack-1")
    runner.faults.add_now({"kind": "SLOW_ACK", "venue": "kucoin", "match": "POST /api/v1/hf/orders/sync",
                           "times": 1, "delay_s": 1.0})
    res = await gw.submit(req)
    assert res.accepted, res.events
    mine = orders_for(runner, sec["accounts"][0]["api_key"], "slow-ack-1")
    assert len(mine) == 1 and mine[0]["order_id"] == res.venue_order_id
    await gw.close()


async def test_an_unprocessed_503_is_looked_up_then_sent_once(sim) -> None:
    runner, sec = sim
    gw = gateway(sec)
    req = await resting(gw, runner, "five-oh-three")
    runner.faults.add_now({"kind": "REST_5XX", "venue": "kucoin", "match": "POST /api/v1/hf/orders/sync", "times": 1,
                           "status": 503})
    res = await gw.submit(req)
    assert res.accepted
    assert len(orders_for(runner, sec["accounts"][0]["api_key"], "five-oh-three")) == 1
    assert len([f for f in runner.faults.fired() if f["kind"] == "REST_5XX"]) == 1
    await gw.close()


async def test_an_unanswerable_lookup_is_ambiguous_and_nothing_is_resent(sim) -> None:
    runner, sec = sim
    gw = gateway(sec, read_attempts=1)
    req = await resting(gw, runner, "ambiguous-1")
    runner.faults.add_now({"kind": "REST_5XX", "venue": "kucoin", "match": "POST /api/v1/hf/orders/sync", "times": 1,
                           "status": 502})
    runner.faults.add_now({"kind": "REST_5XX", "venue": "kucoin", "match": "GET /api/v1/hf/orders/client-order",
                           "times": 100, "status": 503})
    res = await gw.submit(req)
    rej = [e for e in res.events if isinstance(e, OrderRejected)]
    assert not res.accepted and rej and rej[0].code == "AMBIGUOUS" and rej[0].retryable
    creates = [f for f in runner.faults.fired() if f["subject"].startswith("POST")]
    assert len(creates) == 1, "a create whose fate is unknown must not be sent again"
    with pytest.raises(OrderStateUnknown):
        await gw.order_state("ambiguous-1")
    runner.faults.clear("kucoin")
    assert await gw.order_state("ambiguous-1") is None  # now the venue can say: never placed
    await gw.close()


async def test_a_restored_order_is_looked_up_before_any_send(sim) -> None:
    runner, sec = sim
    gw1 = gateway(sec)
    req = await resting(gw1, runner, "restart-1")
    prepared = await gw1.prepare(req)
    assert (await gw1.submit(req)).accepted
    await gw1.close()
    gw2 = gateway(sec)  # a restarted process: only the journal's prepared body is left
    await gw2.instruments()
    gw2.restore("restart-1", prepared)
    res = await gw2.submit(req)
    assert res.accepted
    assert len(orders_for(runner, sec["accounts"][0]["api_key"], "restart-1")) == 1
    with pytest.raises(ValueError):
        gw2.restore("other-id", prepared)
    await gw2.close()


async def test_a_restored_order_s_fills_are_fetched_after_a_restart(sim) -> None:
    """The HF fills endpoint is per symbol: a restarted gateway that only has the journal's
    prepared body must still ask that symbol, or recovery never sees the order's fills (found by
    tests/unit/execution/test_chaos_triangular.py: stand-in fills never replaced)."""
    runner, sec = sim
    gw1 = gateway(sec)
    insts = {i.symbol: i for i in await gw1.instruments()}
    inst = insts["ETH-USDT"]
    ask = D(runner.engines["kucoin"].book("ETH-USDT")["asks"][0][0])
    req = OrderRequest(instrument=inst, client_order_id="restart-fill-1", side=Side.BUY, quantity=D("0.001"), price=ask)
    prepared = await gw1.prepare(req)
    t0 = gw1.clock.now_ns()
    assert (await gw1.submit(req)).accepted
    await gw1.close()
    trades = [t for t in runner.engines["kucoin"].trades(sec["accounts"][0]["api_key"]) if t["symbol"] == "ETH-USDT"]
    assert trades, "the order crossed the book"
    gw2 = gateway(sec)  # restarted: it has traded nothing yet in this process
    await gw2.instruments()
    gw2.restore("restart-fill-1", prepared)
    fills = [e for e in await gw2.fills_since(t0 - 10**9) if e.client_order_id == "restart-fill-1"]
    assert sorted((f.trade_id, f.quantity) for f in fills) == sorted((t["trade_id"], D(t["size"])) for t in trades)
    await gw2.close()


async def test_a_refused_connection_is_not_sent_and_not_ambiguous() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gw = KucoinGateway(KucoinSigner("k", "s", "p"), GatewayConfig(rest_url=f"http://127.0.0.1:{port}", backoff_s=0.01))
    from arbkit.core.enums import InstrumentKind, Venue
    from arbkit.core.instruments import Instrument

    inst = Instrument(venue=Venue.KUCOIN, symbol="BTC-USDT", kind=InstrumentKind.SPOT, tick_size=D("0.1"),
                      size_increment=D("0.00000001"), quote="USDT", base="BTC")
    res = await gw.submit(OrderRequest(instrument=inst, client_order_id="nc", side=Side.BUY, quantity=D("0.001"),
                                       price=D("1000")))
    rej = [e for e in res.events if isinstance(e, OrderRejected)][0]
    assert rej.code == "unavailable" and rej.retryable
    await gw.close()


async def test_the_test_order_endpoint_validates_without_placing(sim) -> None:
    runner, sec = sim
    gw = gateway(sec)
    req = await resting(gw, runner, "test-order")
    assert await gw.test_order(req) == (True, "")
    assert orders_for(runner, sec["accounts"][0]["api_key"], "test-order") == []
    await gw.close()


async def test_a_sequence_gap_is_detected_and_the_book_resynced(sim) -> None:
    runner, sec = sim
    gw = gateway(sec)
    await gw.instruments()
    events: list = []
    feed = KucoinMarketFeed(events.append, FeedConfig(endpoint_override=sec["ws_url"], watchdog_interval_s=0.1,
                                                      resync_timeout_s=0.5), gw, gw._instruments.get)
    feed.subscribe(["kucoin:ETH-USDT"])
    task = asyncio.create_task(feed.run())
    try:
        await eventually(lambda: feed.is_tradeable("kucoin:ETH-USDT", 10**11), 10, "live book")
        runner.faults.add_now({"kind": "WS_SEQ_GAP", "venue": "kucoin", "match": "/market/level2", "times": 1})
        other = gateway(sec, 1)
        reqs = [await resting(other, runner, f"gap-{k}") for k in range(3)]
        for k, r in enumerate(reqs):
            r = OrderRequest(instrument=r.instrument, client_order_id=r.client_order_id, side=Side.BUY,
                             quantity=D("1"), price=r.price - r.instrument.tick_size * k)
            assert (await other.submit(r)).accepted
        await eventually(lambda: feed.gaps >= 1, 5, "the gap noticed")
        eng = runner.engines["kucoin"]

        def same() -> bool:
            b = feed.book("kucoin:ETH-USDT")
            if b is None:
                return False
            v = eng.book("ETH-USDT")
            return b.snapshot_levels() == ([(D(p), D(q)) for p, q in v["bids"]], [(D(p), D(q)) for p, q in v["asks"]])

        await eventually(same, 5, "the resynced book equals the simulator's")
        await other.close()
    finally:
        await feed.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)
        await gw.close()
