"""The KuCoin feed in ``depth50`` book mode (``/spotMarket/level2Depth50``) against the simulator
over loopback: the book is the simulator's top 50, follows a new order, a bad depth frame is
counted and leaves the book unchanged, and the frame counter the dashboard reads moves."""

from __future__ import annotations

import asyncio
import contextlib
import json
from decimal import Decimal as D

import pytest

from arbkit.core.enums import Side
from arbkit.core.orders import OrderRequest
from arbkit.runtime.config import ConfigError, loads_config
from arbkit.sim.runner import SimRunner
from arbkit.venues.kucoin.feed import FeedConfig, KucoinMarketFeed
from arbkit.venues.kucoin.auth import KucoinSigner
from arbkit.venues.kucoin.gateway import GatewayConfig, KucoinGateway


def gateway(sec: dict, i: int = 0) -> KucoinGateway:
    a = sec["accounts"][i]
    return KucoinGateway(KucoinSigner(a["api_key"], a["api_secret"], a["passphrase"]),
                         GatewayConfig(rest_url=sec["rest_url"]))


async def eventually(pred, timeout: float = 5.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def sim():
    runner = SimRunner(venues=["kucoin"], scenario="quiet", seed=3)
    info = await runner.start()
    try:
        yield runner, info["kucoin"]
    finally:
        await runner.stop()


def top50(runner: SimRunner, sym: str) -> tuple[list, list]:
    v = runner.engines["kucoin"].book(sym, depth=50)
    conv = lambda rows: [(D(p), D(q)) for p, q in rows if D(q) > 0]  # noqa: E731
    return conv(v["bids"]), conv(v["asks"])


async def test_depth50_books_follow_the_simulator_and_ignore_bad_frames(sim) -> None:
    runner, sec = sim
    gw = gateway(sec)
    await gw.instruments()
    events: list = []
    feed = KucoinMarketFeed(events.append, FeedConfig(endpoint_override=sec["ws_url"], book_mode="depth50",
                                                      watchdog_interval_s=0.1), gw, gw._instruments.get)
    feed.subscribe(["kucoin:ETH-USDT", "kucoin:BTC-USDT"])
    task = asyncio.create_task(feed.run())
    try:
        def same(sym: str) -> bool:
            b = feed.book(f"kucoin:{sym}")
            return b is not None and b.snapshot_levels() == top50(runner, sym)

        await eventually(lambda: same("ETH-USDT") and same("BTC-USDT"), 10, "both depth50 books live")
        assert feed.is_tradeable("kucoin:ETH-USDT", 10**11)
        assert feed.stats.rest_snapshots == 0  # depth50 never asks for the REST book
        # a new order changes the book; the next 100 ms push carries it
        other = gateway(sec, 1)
        inst = {i.symbol: i for i in await other.instruments()}["ETH-USDT"]
        bid = D(runner.engines["kucoin"].book("ETH-USDT")["bids"][0][0])
        req = OrderRequest(instrument=inst, client_order_id="d50-1", side=Side.BUY, quantity=D("1.5"),
                           price=bid + inst.tick_size)
        assert (await other.submit(req)).accepted
        await eventually(lambda: same("ETH-USDT") and feed.book("kucoin:ETH-USDT").best_bid() is not None
                         and feed.book("kucoin:ETH-USDT").price(feed.book("kucoin:ETH-USDT").best_bid()[0]) == req.price,
                         5, "the new best bid in the depth50 book")
        # bad frames (a negative size, a crossed snapshot, no bids key) are counted; the book stays
        before = feed.book("kucoin:ETH-USDT").snapshot_levels()
        bad_before = feed.malformed.count
        shard = feed._shards[0]
        for data in ({"asks": [["1", "-1"]], "bids": [], "timestamp": 1},
                     {"asks": [["1", "1"]], "bids": [["2", "1"]], "timestamp": 2},
                     {"asks": [["1", "1"]]}):
            feed._on_frame(shard, json.dumps({"topic": "/spotMarket/level2Depth50:ETH-USDT", "type": "message",
                                              "subject": "level2", "data": data}))
        assert feed.malformed.count == bad_before + 3
        assert feed.book("kucoin:ETH-USDT").snapshot_levels() == before
        assert feed.stats.frames > 3 and feed.stats.depth_snapshots >= 3
        await other.close()
    finally:
        await feed.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)
        await gw.close()


def test_book_mode_is_validated_with_the_choices_named() -> None:
    base = '[node]\nname = "t"\n[venues.kucoin]\nmode = "paper"\n'
    assert loads_config(base + 'book_mode = "depth50"\n').venues.kucoin.book_mode.value == "depth50"
    assert loads_config(base).venues.kucoin.book_mode.value == "level2"
    with pytest.raises(ConfigError) as e:
        loads_config(base + 'book_mode = "depth5"\n')
    assert "venues.kucoin.book_mode" in str(e.value) and "level2|depth50" in str(e.value)
    with pytest.raises(ValueError, match="book_mode"):
        FeedConfig(book_mode="l3")
