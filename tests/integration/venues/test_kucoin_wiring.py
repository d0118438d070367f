"""runtime.wiring.build_kucoin against the simulator: sim mode builds a signed gateway, the feed and
the user stream from config + environment; paper mode reads public data without credentials."""

from __future__ import annotations

import asyncio

import pytest

from arbkit.core.clock import LiveClock
from arbkit.execution.paper import SnapshotRegistry
from arbkit.runtime.config import ConfigError, KucoinConfig, VenueMode
from arbkit.runtime.wiring import build_kucoin, start_kucoin
from arbkit.sim.runner import SimRunner


@pytest.fixture
async def sim():
    r = SimRunner(venues=["kucoin"], scenario="quiet", seed=2)
    info = await r.start()
    try:
        yield info["kucoin"]
    finally:
        await r.stop()


async def test_sim_mode_trades_and_paper_mode_reads_public_books(sim) -> None:
    a = sim["accounts"][0]
    env = {"KC_KEY": a["api_key"], "KC_SECRET": a["api_secret"], "KC_PASS": a["passphrase"]}
    cfg = KucoinConfig(mode=VenueMode.SIM, rest_url=sim["rest_url"], ws_url=sim["ws_url"], api_key_env="KC_KEY",
                       api_secret_env="KC_SECRET", api_passphrase_env="KC_PASS")
    events: list = []
    b = await build_kucoin(cfg, clock=LiveClock(), market_sink=events.append, env=env, snapshots=SnapshotRegistry())
    insts = await start_kucoin(b, ["ETH-USDT"])
    assert [i.symbol for i in insts] == ["ETH-USDT"] and b.user is not None
    assert {x.currency for x in await b.gateway.balances()} >= {"USDT", "ETH"}
    await b.gateway.close()

    paper = await build_kucoin(KucoinConfig(mode=VenueMode.PAPER, rest_url=sim["rest_url"], ws_url=sim["ws_url"]),
                               clock=LiveClock(), market_sink=events.append, env={}, snapshots=SnapshotRegistry())
    await start_kucoin(paper, ["BTC-USDT"])
    paper.feed.subscribe(["kucoin:BTC-USDT"])
    task = asyncio.create_task(paper.feed.run())
    for _ in range(200):
        if paper.feed.is_tradeable("kucoin:BTC-USDT", 10**11):
            break
        await asyncio.sleep(0.02)
    assert paper.feed.is_tradeable("kucoin:BTC-USDT", 10**11)
    await paper.feed.stop()
    await task
    await paper.gateway.close()
    with pytest.raises(ConfigError):
        await build_kucoin(KucoinConfig(mode=VenueMode.LIVE), clock=LiveClock(), market_sink=events.append, env={},
                           snapshots=SnapshotRegistry())
