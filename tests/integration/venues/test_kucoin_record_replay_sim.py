"""Recording a KuCoin feed against the simulator (frames and the REST snapshots it fetched), then
replaying the recording through a fresh feed offline: the replayed book equals the simulator's."""

from __future__ import annotations

import asyncio
import contextlib
import json
from decimal import Decimal as D
from pathlib import Path
from types import SimpleNamespace

from arbkit.backtest.check import check_replay
from arbkit.backtest.recording import Recorder
from arbkit.core.clock import LiveClock
from arbkit.core.enums import Side, Venue
from arbkit.core.orders import OrderRequest
from arbkit.sim.runner import SimRunner
from arbkit.venues.kucoin.auth import KucoinSigner
from arbkit.venues.kucoin.feed import FeedConfig, KucoinMarketFeed
from arbkit.venues.kucoin.gateway import GatewayConfig, KucoinGateway


def gateway(sec: dict, i: int = 0) -> KucoinGateway:
    a = sec["accounts"][i]
    return KucoinGateway(KucoinSigner(a["api_key"], a["api_secret"], a["passphrase"]), GatewayConfig(rest_url=sec["rest_url"]))


async def eventually(pred, timeout: float = 5.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def resting(gw: KucoinGateway, runner: SimRunner, coid: str) -> OrderRequest:
    inst = {i.symbol: i for i in await gw.instruments()}["ETH-USDT"]
    bid = D(runner.engines["kucoin"].book("ETH-USDT")["bids"][0][0])
    return OrderRequest(instrument=inst, client_order_id=coid, side=Side.BUY, quantity=D("1"), price=bid - inst.tick_size * 10)



async def test_recorded_kucoin_feed_replays_to_the_simulators_book(tmp_path: Path) -> None:
    runner = SimRunner(venues=["kucoin"], scenario="quiet", seed=4)
    info = await runner.start()
    sec = info["kucoin"]
    try:
        gw = gateway(sec)
        await gw.instruments()
        rec = Recorder(tmp_path / "rec", LiveClock().now_ns)
        feed = KucoinMarketFeed(lambda e: None, FeedConfig(endpoint_override=sec["ws_url"], **rec.feed_overrides("kucoin")),
                                gw, gw._instruments.get)
        rec.attach("kucoin", SimpleNamespace(feed=feed))
        rec.wrap_metadata(SimpleNamespace(spot_instruments=lambda v: [gw._instruments["ETH-USDT"]])).spot_instruments(Venue.KUCOIN)
        feed.subscribe(["kucoin:ETH-USDT"])
        task = asyncio.create_task(feed.run())
        try:
            await eventually(lambda: feed.is_tradeable("kucoin:ETH-USDT", 10**11), 10, "live book")
            other = gateway(sec, 1)
            for k in range(3):  # change the book while it is recorded
                r = await resting(other, runner, f"rec-{k}")
                assert (await other.submit(OrderRequest(instrument=r.instrument, client_order_id=r.client_order_id,
                                                        side=Side.BUY, quantity=D("1"),
                                                        price=r.price - r.instrument.tick_size * k))).accepted
            v = runner.engines["kucoin"].book("ETH-USDT")
            want = ([(D(p), D(q)) for p, q in v["bids"]], [(D(p), D(q)) for p, q in v["asks"]])
            await eventually(lambda: feed.book("kucoin:ETH-USDT").snapshot_levels() == want, 5, "the live book caught up")
            await other.close()
        finally:
            await feed.stop()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)
            rec.close()
            await gw.close()
    finally:
        await runner.stop()
    text = (tmp_path / "rec" / "kucoin.frames").read_text()
    assert "#rest orderbook ETH-USDT" in text and "trade.l2update" in text
    feeds: dict = {}
    res = await check_replay([tmp_path / "rec"], feeds)
    assert res["gaps"] == [] and res["rest_snapshots_applied"] >= 1
    assert res["feeds"]["kucoin"]["live_books"] == 1
    assert feeds[Venue.KUCOIN].book("kucoin:ETH-USDT").snapshot_levels() == want  # exactly the simulator's book
    assert json.loads((tmp_path / "rec" / "manifest.json").read_text())["venues"] == ["kucoin"]
