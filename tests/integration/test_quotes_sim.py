"""Complete-set market making through the node, against the simulator over loopback.

The real node (mode "sim": the Polymarket gateway, signed orders, user channel) runs
``complete_set_mm`` on one binary market of the "quiet" scenario. A second simulator account
(minted shares) sells into our bids, so fills happen only when the test says. Everything is checked
at the venue: the simulator's own orders and positions.
"""

from __future__ import annotations

import asyncio
import io
from decimal import Decimal as D
from pathlib import Path
from typing import Callable

import pytest

from arbkit.analytics.render import write_plain
from arbkit.analytics.report import build_report
from arbkit.core.enums import Side
from arbkit.journal.store import Journal
from arbkit.runtime.config import loads_config
from arbkit.runtime.demo import POLY_KEY_ENV
from arbkit.runtime.node import Node, NodeOptions
from arbkit.sim.engine import OrderParams
from arbkit.sim.events import Outcome, SimOrderStatus, Tif
from arbkit.sim.runner import SimRunner


@pytest.fixture
async def sim():
    runner = SimRunner(venues=["polymarket"], scenario="quiet", seed=11, accounts_per_venue=2)
    info = await runner.start()
    try:
        yield runner, info
    finally:
        await runner.stop()


async def eventually(pred: Callable[[], bool], timeout: float = 8.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what or pred}")
        await asyncio.sleep(0.02)


def _config(info: dict, m, journal: Path, *, extra: str = "") -> str:
    pm = info["polymarket"]
    return f"""
[node]
name = "mm-test"
journal_path = "{journal}"

[venues.polymarket]
mode = "sim"
rest_url = "{pm['rest_url']}"
ws_market_url = "{pm['ws_market_url']}"
ws_user_url = "{pm['ws_user_url']}"
chain_id = {int(pm.get('chain_id', 137))}
private_key_env = "{POLY_KEY_ENV}"

[risk]
max_order_notional = "100"
max_market_exposure = "500"
max_venue_exposure = "2000"
max_total_exposure = "3000"
daily_loss_limit = "200"
max_concurrent_executions = 2
max_book_age_ms = 5000

[strategies.complete_set_mm]
enabled = true
target_spread = "0.02"
quote_size = "10"
max_position = "10"
max_unmatched = "10"
min_quote_life_ms = 200
max_orders_per_s = "20"
skew = "0.001"
{extra}
[[strategies.complete_set_mm.markets]]
condition_id = "{m.market_id}"
yes_token_id = "{m.yes_symbol}"
no_token_id = "{m.no_symbol}"
title = "{m.title}"
"""


def _market(runner: SimRunner):
    return next(m for m in runner.scenario.catalogue.markets if m.venue == "polymarket" and not m.neg_risk)


def _ours(runner: SimRunner, acct: str, market_id: str) -> list:
    return runner.engines["polymarket"].open_orders(account_id=acct, market_id=market_id)


async def _node(runner, info, tmp_path: Path, extra: str = "") -> tuple[Node, object, str]:
    m = _market(runner)
    cfg = loads_config(_config(info, m, tmp_path / "j.sqlite", extra=extra), base_dir=tmp_path)
    a0 = runner.accounts["polymarket"][0]
    node = Node(cfg, NodeOptions(env={POLY_KEY_ENV: info["polymarket"]["accounts"][0]["private_key"]},
                                 journal_synchronous="NORMAL", drain_timeout_s=5.0))
    await node.start()
    return node, m, a0.account_id


async def _sell_into_our_bid(runner: SimRunner, taker: str, acct: str, m, outcome: Outcome, qty: D,
                             timeout: float = 8.0) -> None:
    """The taker sells until we have bought ``qty`` more of ``outcome`` through our resting bid. Our
    quote may share its price with the simulator's makers (who came first) or be replaced meanwhile,
    so each try sells what rests ahead of us at our price plus what we still have to buy."""
    eng = runner.engines["polymarket"]
    sym = m.yes_symbol if outcome is Outcome.YES else m.no_symbol

    def bought() -> D:  # what our bids of this outcome have filled (positions move on merges too)
        return sum((o.filled for o in eng.orders(account_id=acct)
                    if o.market_id == m.market_id and o.outcome is outcome and o.side is Side.BUY), D(0))

    target = bought() + qty
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while (have := bought()) < target:
        if loop.time() > end:
            raise AssertionError(f"could not sell {qty} {outcome.value} into our bid (have {have})")
        ours = [o for o in _ours(runner, acct, m.market_id) if o.outcome is outcome]
        if ours:
            o = ours[0]
            ahead = sum((sz for px, sz in eng.book(sym).bids if px >= o.price), D(0)) - (o.size - o.filled)
            eng.submit(OrderParams(account_id=taker, symbol=sym, side=Side.SELL, size=ahead + min(target - have, o.size - o.filled),
                                   price=o.price, tif=Tif.IOC))
        await asyncio.sleep(0.05)


def _records(path: Path, *kinds: str) -> list[dict]:
    j = Journal.open(path, readonly=True)
    try:
        return [r.decode() for r in j.replay(kinds=list(kinds))]
    finally:
        j.close_sync()


async def test_market_making_completes_and_merges_sets_within_its_inventory_limit(sim, tmp_path: Path) -> None:
    runner, info = sim
    node, m, acct = await _node(runner, info, tmp_path)
    eng = runner.engines["polymarket"]
    taker = runner.accounts["polymarket"][1].account_id
    try:
        # both outcomes quoted, the pair priced inside 1 - target spread, post-only at the venue
        await eventually(lambda: len(_ours(runner, acct, m.market_id)) == 2, what="two resting quotes")
        quotes = {o.outcome: o for o in _ours(runner, acct, m.market_id)}
        assert quotes[Outcome.YES].side is Side.BUY and quotes[Outcome.NO].side is Side.BUY
        assert quotes[Outcome.YES].price + quotes[Outcome.NO].price <= D("0.98")
        assert all(o.post_only for o in quotes.values())

        # the taker sells YES into our bid: we hold 10 YES, unmatched -> no more YES bid (limit 10)
        eng.mint_for(taker, m.market_id, D(2000))
        await _sell_into_our_bid(runner, taker, acct, m, Outcome.YES, D(10))
        assert eng.accounts.position(acct, m.market_id, Outcome.YES).size == D(10)
        await eventually(lambda: [o.outcome for o in _ours(runner, acct, m.market_id)] == [Outcome.NO],
                         what="only the NO bid rests once YES is at its limit")
        # inside the inventory limit: another YES sale finds no bid of ours
        eng.submit(OrderParams(account_id=taker, symbol=m.yes_symbol, side=Side.SELL, size=D(10), price=D("0.01"),
                               tif=Tif.IOC))
        await asyncio.sleep(0.3)
        assert eng.accounts.position(acct, m.market_id, Outcome.YES).size == D(10)

        # the taker sells NO into our (possibly re-priced) bid: a set is complete and merged on chain
        no = next(o for o in _ours(runner, acct, m.market_id) if o.outcome is Outcome.NO)
        ks = node.quotes.keys[f"polymarket:market:{m.market_id}"]
        yes_avg = ks.cost[f"polymarket:{m.yes_symbol}"] / ks.pos[f"polymarket:{m.yes_symbol}"]
        assert yes_avg + no.price <= D("0.98")  # the completing bid keeps the target
        await _sell_into_our_bid(runner, taker, acct, m, Outcome.NO, D(10))
        await eventually(lambda: node.quotes.status()["sets_merged"] == "10", timeout=10, what="10 sets merged")
        # at the venue: both outcomes back to zero (merged into collateral), quotes resting again
        assert eng.accounts.position(acct, m.market_id, Outcome.YES).size == 0
        assert eng.accounts.position(acct, m.market_id, Outcome.NO).size == 0
        await eventually(lambda: len(_ours(runner, acct, m.market_id)) == 2, what="both quotes back after the merge")
    finally:
        await node.stop()
    # stopping cancels every quote at the venue
    assert _ours(runner, acct, m.market_id) == []
    recs = _records(tmp_path / "j.sqlite", "QuoteChanged", "QuoteFilled", "SetsCompleted", "SetsMerged", "QuoteInventory")
    merged = [r for r in recs if r.get("tx_hash") is not None and "returned" in r]
    assert merged and D(merged[0]["returned"]) == D(10) and merged[0]["route"] == "eoa"
    completed = [r for r in recs if "spread" in r]
    assert sum(D(r["sets"]) for r in completed) == D(10) and all(D(r["spread"]) >= D("0.2") for r in completed)
    # every quote change carries its reason; positions never above the limit
    changes = [r for r in recs if "action" in r]
    assert {"place", "filled", "cancel"} <= {r["action"] for r in changes}
    assert all(r["reason"] for r in changes)
    assert any(r["action"] == "cancel" and r["reason"] == "node stopping" for r in changes)
    inv = [r for r in recs if "positions" in r]
    assert inv and all(D(q) <= D(10) for r in inv for q in r["positions"].values())

    # the report: sets completed and merged, the P&L split, inventory over time
    rep = build_report(tmp_path / "j.sqlite")
    mm = rep["market_making"]
    spread = sum(D(r["spread"]) for r in completed)
    assert mm["total"]["sets_completed"] == "10" and mm["total"]["sets_merged"] == "10"
    assert D(mm["total"]["spread"]) == spread and D(mm["total"]["merge"]) == D("-0.01")
    assert D(mm["total"]["pnl"]) == spread - D("0.01") - D(mm["total"]["fees"])
    assert len(mm["inventory"]) == len(inv)
    buf = io.StringIO()
    write_plain(rep, buf)
    assert "Complete-set market making" in buf.getvalue()


async def test_quotes_are_canceled_at_the_venue_on_a_disconnect_and_on_the_kill_switch(sim, tmp_path: Path) -> None:
    runner, info = sim
    node, m, acct = await _node(runner, info, tmp_path)
    eng = runner.engines["polymarket"]
    try:
        await eventually(lambda: len(_ours(runner, acct, m.market_id)) == 2, what="two resting quotes")
        before = [o.order_id for o in _ours(runner, acct, m.market_id)]
        # the market channel drops: every quote of ours is canceled at the venue
        runner.faults.add_now({"kind": "WS_DISCONNECT", "venue": "polymarket", "match": "market", "times": 1})
        await eventually(lambda: all(eng.order(oid).status is SimOrderStatus.CANCELED for oid in before),
                         what="quotes canceled at the venue after the disconnect")
        await node.journal.flush()
        recs = _records(tmp_path / "j.sqlite", "QuoteChanged")
        reasons = [r["reason"] for r in recs if r["action"] == "cancel"]
        assert any("disconnected" in r or "book not tradeable" in r for r in reasons), reasons
        # reconnected: quoting resumes
        await eventually(lambda: len(_ours(runner, acct, m.market_id)) == 2, timeout=15, what="quotes back after reconnect")

        # the kill switch (tripped alone, as a breaker would): the manager cancels; nothing is placed again
        node.killswitch.trip("test kill", source="test")
        await eventually(lambda: _ours(runner, acct, m.market_id) == [], what="no resting quote after the kill switch")
        await asyncio.sleep(0.5)
        assert _ours(runner, acct, m.market_id) == []
    finally:
        await node.stop()


async def test_single_sided_inventory_is_unwound_by_time_and_a_resolution_retires_the_quotes(sim, tmp_path: Path) -> None:
    runner, info = sim
    node, m, acct = await _node(runner, info, tmp_path, extra="unwind_after_s = 0.5\n")
    eng = runner.engines["polymarket"]
    taker = runner.accounts["polymarket"][1].account_id
    try:
        await eventually(lambda: len(_ours(runner, acct, m.market_id)) == 2, what="two resting quotes")
        eng.mint_for(taker, m.market_id, D(2000))
        await _sell_into_our_bid(runner, taker, acct, m, Outcome.YES, D(10))
        # unmatched for 0.5 s: sold back at the best bid (IOC), at the venue
        await eventually(lambda: eng.accounts.position(acct, m.market_id, Outcome.YES).size == 0, timeout=10,
                         what="the unmatched YES unwound")
        key = f"polymarket:market:{m.market_id}"
        # the venue's answer reaches the node after the venue has moved the shares: wait for the node's books
        await eventually(lambda: node.quotes.keys[key].pos.get(f"polymarket:{m.yes_symbol}") == 0
                         and node.quotes.counts.get("QuoteUnwound", 0) >= 1, what="the unwind booked by the node")
        await node.journal.flush()
        unw = _records(tmp_path / "j.sqlite", "QuoteUnwound")
        assert unw and sum(D(r["quantity"]) for r in unw) == D(10) and all(r["reason"].startswith("time") for r in unw)
        assert all(D(r["pnl"]) == D(r["proceeds"]) - D(r["basis"]) for r in unw)
        bought = [r for r in _records(tmp_path / "j.sqlite", "QuoteFilled")]
        assert sum(D(r["basis"]) for r in unw) == sum(D(r["price"]) * D(r["quantity"]) for r in bought)
        # the market resolves: the key is retired, nothing is quoted there again
        await eventually(lambda: len(_ours(runner, acct, m.market_id)) == 2, what="quotes back after the unwind")
        runner.scenario.resolve("polymarket", m.market_id, "yes")
        await eventually(lambda: node.quotes.keys[f"polymarket:market:{m.market_id}"].retired, what="key retired")
        await asyncio.sleep(0.5)
        assert _ours(runner, acct, m.market_id) == []
        assert f"polymarket:market:{m.market_id}" in node.host.get("complete_set_mm").retired
    finally:
        await node.stop()
    rep = build_report(tmp_path / "j.sqlite")
    assert D(rep["market_making"]["total"]["unwind"]) == sum(D(r["pnl"]) for r in unw)


async def test_after_a_crash_the_next_start_cancels_the_quotes_left_resting(sim, tmp_path: Path) -> None:
    runner, info = sim
    node, m, acct = await _node(runner, info, tmp_path)
    eng = runner.engines["polymarket"]
    await eventually(lambda: len(_ours(runner, acct, m.market_id)) == 2, what="two resting quotes")
    await node.journal.flush()
    await node._teardown()  # a crash: nothing canceled
    old = [o.order_id for o in _ours(runner, acct, m.market_id)]
    assert old  # left resting at the venue
    node2, _, _ = await _node(runner, info, tmp_path)
    try:
        assert all(eng.order(oid).status is SimOrderStatus.CANCELED for oid in old)
        await eventually(lambda: len(_ours(runner, acct, m.market_id)) == 2, what="fresh quotes")
        assert not set(old) & {o.order_id for o in _ours(runner, acct, m.market_id)}
    finally:
        await node2.stop()


async def test_paper_quotes_fill_when_the_live_book_trades_through_them(sim, tmp_path: Path) -> None:
    """Paper mode reads the simulator's public market data and sends nothing; its quotes rest in the
    paper venue and fill (as a maker) when the live book trades through their price — here the
    simulator's makers reprice 0.06 lower, so their asks cross our YES bid."""
    runner, info = sim
    m = _market(runner)
    text = _config(info, m, tmp_path / "j.sqlite").replace('mode = "sim"', 'mode = "paper"', 1)
    cfg = loads_config(text, base_dir=tmp_path)
    node = Node(cfg, NodeOptions(env={}, journal_synchronous="NORMAL", drain_timeout_s=5.0))
    await node.start()
    acct = runner.accounts["polymarket"][0].account_id
    try:
        await eventually(lambda: node.quotes.status()["resting"] == 2, what="two paper quotes resting")
        runner.scenario.dislocate("polymarket", m.market_id, D("-0.06"))
        await eventually(lambda: node.quotes.status()["journaled"].get("QuoteFilled", 0) >= 1, timeout=10,
                         what="a paper fill of our YES bid")
        assert _ours(runner, acct, m.market_id) == []  # paper: the venue never saw an order of ours
    finally:
        await node.stop()
    fills = _records(tmp_path / "j.sqlite", "OrderFilled")
    quoted = {r["client_order_id"]: D(r["price"]) for r in _records(tmp_path / "j.sqlite", "QuoteChanged")}
    ours = [f for f in fills if f.client_order_id in quoted]
    # our YES bid filled, as a maker, at its own price (the asks came down through it)
    assert ours and all(f.liquidity.value == "MAKER" and f.side is Side.BUY and f.price == quoted[f.client_order_id]
                        for f in ours), fills
    assert any(f.instrument_id.endswith(m.yes_symbol) for f in ours)
