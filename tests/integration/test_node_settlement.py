"""The node books resolved markets: the real node against the simulator over loopback.

The node trades a twin (so it holds a Kalshi leg; Kalshi pays holders by itself), the market
resolves: the node journals the resolution and one ``SettlementBooked``,
then reads Kalshi's balance and positions back (``SettlementReconciled``, ok). A restart on the
same journal restores what was booked: the market is not booked a second time and the status
still shows it settled.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from pathlib import Path

import pytest

from arbkit.core.enums import Venue
from arbkit.journal.store import Journal
from arbkit.runtime.config import loads_config
from arbkit.runtime.demo import KALSHI_KEY_ID_ENV, POLY_KEY_ENV, approve_twins, demo_config_text
from arbkit.runtime.node import Node, NodeOptions
from arbkit.sim.runner import SimRunner


@pytest.fixture
async def sim():
    runner = SimRunner(venues=["polymarket", "kalshi"], scenario="demo", seed=7)
    info = await runner.start()
    try:
        yield runner, info
    finally:
        await runner.stop()


def _kinds(path: Path, *kinds: str) -> list:
    j = Journal.open(path, readonly=True)
    try:
        return [r.decode() for r in j.replay(kinds=list(kinds))]
    finally:
        j.close_sync()


async def _until(pred, timeout: float, what: str) -> None:
    end = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _trade_until(runner: SimRunner, node: Node, timeout_s: float) -> None:
    """Open an edge on a twin every 2 s until the node has filled an execution."""
    twins = [p for p in runner.scenario.catalogue.pairs if p.relation == "twin"]
    end = asyncio.get_running_loop().time() + timeout_s
    i = 0
    while node.filled_total == 0 and asyncio.get_running_loop().time() < end:
        runner.scenario.dislocate(venue="polymarket", market_id=twins[i % len(twins)].polymarket_market_id,
                                  shift=D("-0.08"))
        i += 1
        for _ in range(20):
            if node.filled_total:
                return
            await asyncio.sleep(0.1)


async def test_node_books_a_kalshi_settlement_once_and_restores_it_after_a_restart(sim, tmp_path: Path) -> None:
    runner, info = sim
    mappings = tmp_path / "mappings.db"
    await approve_twins(info, mappings)
    journal = tmp_path / "node.journal.sqlite"
    cfg = loads_config(demo_config_text(info, journal, f"ipc://{tmp_path / 'c.ipc'}"), base_dir=tmp_path)
    a0 = info["kalshi"]["accounts"][0]
    env = {POLY_KEY_ENV: info["polymarket"]["accounts"][0]["private_key"], KALSHI_KEY_ID_ENV: a0["key_id"]}

    node = Node(cfg, NodeOptions(mappings_path=mappings, env=env))
    await node.start()
    try:
        await asyncio.sleep(1.0)
        await _trade_until(runner, node, 20.0)
        assert node.filled_total > 0, node.status()["strategy"]
        held = {iid: p.quantity for (v, iid), p in node.portfolio.positions.items() if v is Venue.KALSHI and p.quantity}
        assert held, "a filled cross-venue execution holds a Kalshi leg"
        iid, qty = sorted(held.items())[0]
        _, ticker, side = iid.split(":")
        node.trading = False  # nothing new while the market resolves (its books close anyway)
        runner.scenario.resolve("kalshi", ticker, side)  # our side wins: 1 per contract
        await _until(lambda: (Venue.KALSHI, ticker) in node.settlement.booked, 10.0, "the settlement to be booked")
        await _until(lambda: [e for e in _kinds(journal, "SettlementReconciled") if ticker in e.market_ids], 10.0,
                     "the reconcile with Kalshi")
        assert node.portfolio.positions[(Venue.KALSHI, iid)].quantity == 0
        assert node.status()["settlement"]["markets_settled"] == 1
        # the venue paid and lists nothing of ours in that market
        assert not [p for p in await node.venues[Venue.KALSHI].backend.positions() if ticker in p.instrument_id]
    finally:
        await node.stop()
    booked = [e for e in _kinds(journal, "SettlementBooked") if e.market_id == ticker]
    assert len(booked) == 1
    b = booked[0]
    assert b.cash_credited and b.proceeds == qty
    assert [(ln.instrument_id, ln.quantity, ln.payout) for ln in b.lines] == [(iid, qty, D(1))]
    resolved = [e for e in _kinds(journal, "MarketResolved") if e.market_id == ticker]
    assert {e.stage for e in resolved} >= {"determined", "settled"}
    rec = [e for e in _kinds(journal, "SettlementReconciled") if ticker in e.market_ids]
    assert rec and all(r.ok for r in rec), [r.reason for r in rec]

    again = Node(cfg, NodeOptions(mappings_path=mappings, env=env))
    await again.start()
    try:
        assert again.settlement.is_settled(Venue.KALSHI, ticker)
        st = again.status()["settlement"]
        assert st["markets_settled"] == 1 and st["pnl"]["kalshi"] == str(b.pnl)
        assert not again.portfolio.positions.get((Venue.KALSHI, iid)) or again.portfolio.positions[(Venue.KALSHI, iid)].quantity == 0
    finally:
        await again.stop()
    assert len([e for e in _kinds(journal, "SettlementBooked") if e.market_id == ticker]) == 1

