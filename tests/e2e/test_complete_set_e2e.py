"""End to end against the simulator: one node runs cross_venue and complete_set side by side
through the strategy host, with the real Polymarket and Kalshi packages in mode "sim".

* The node reads the event structure from the simulator's Gamma (which markets form an event,
  the augmented flag, placeholder outcomes by the venue's naming convention).
* A mispriced neg-risk event (YES asks summing well below 1) is bought as a full set and FILLED:
  at the simulator the node's account holds the same number of YES shares of every outcome, and
  the fills the journal holds for those executions equal the simulator's trades.
* An augmented event with a placeholder outcome, mispriced the same way, is never traded.
* The cross-venue strategy is hosted beside it (its approved twin bound, its books read).
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from arbkit.execution.events import ExecutionReported, LegFilled
from arbkit.journal.store import Journal
from arbkit.runtime.config import loads_config
from arbkit.runtime.demo import KALSHI_KEY_ID_ENV, POLY_KEY_ENV, approve_twins, demo_config_text
from arbkit.runtime.node import Node, NodeOptions
from arbkit.sim.accounts import lots_to_size
from arbkit.sim.events import Outcome
from arbkit.sim.runner import SimRunner

pytestmark = pytest.mark.slow

SCENARIO = """
name = "complete-set-e2e"
venues = ["polymarket", "kalshi"]
tick_s = 0.25
funding = "10000"
test_accounts = 2

[walk]
step = "0.001"
correlation = 0.0
min = "0.02"
max = "0.96"

[makers]
levels = 3
size = "60"
size_step = "20"
half_spread = "0.01"

[takers]
probability = 0.0

[dislocations]
probability = 0.0

[[events]]
key = "btc-150k"
template = "crypto_above"
subject = "Bitcoin year-end price"
asset = "Bitcoin"
ticker = "BTC"
threshold = 150000
date = "2026-12-31"
fair = "0.35"

[[negrisk]]
key = "fed-chair"
title = "Who will Trump nominate as Fed Chair?"
date = "2026-06-30"
outcomes = ["Kevin Hassett", "Kevin Warsh", "Christopher Waller", "Other"]
fairs = ["0.45", "0.30", "0.15", "0.10"]
venues = ["polymarket"]
underprice_probability = 1.0
underprice = "0.04"
underprice_steps = 100000

[[negrisk]]
key = "dem-nominee"
title = "Democratic Presidential Nominee 2028"
date = "2028-08-31"
outcomes = ["Gavin Newsom", "Josh Shapiro", "Person A", "Other"]
fairs = ["0.40", "0.30", "0.05", "0.25"]
venues = ["polymarket"]
augmented = true
underprice_probability = 1.0
underprice = "0.04"
underprice_steps = 100000
"""

COMPLETE_SET = """
[strategies.complete_set]
enabled = true
min_edge_bps = "200"
max_sets = "10"
venues = ["polymarket"]
max_locked = "200"

[risk.strategies.complete_set]
slots = 1
max_exposure = "60"
"""


def _journal(path: Path) -> tuple[list, list]:
    j = Journal.open(path, readonly=True)
    try:
        reports = [msgspec.json.decode(r.payload, type=ExecutionReported).report for r in j.replay(kinds=["ExecutionReported"])]
        fills = [msgspec.json.decode(r.payload, type=LegFilled) for r in j.replay(kinds=["LegFilled"])]
        return reports, fills
    finally:
        j.close_sync()


async def test_mispriced_neg_risk_event_is_bought_as_a_full_set_and_augmented_placeholder_event_is_not(tmp_path: Path) -> None:
    scen = tmp_path / "cs.toml"
    scen.write_text(SCENARIO)
    runner = SimRunner(venues=["polymarket", "kalshi"], scenario=str(scen), seed=4)
    info = await runner.start()
    node = None
    try:
        mappings = tmp_path / "mappings.db"
        approved = await approve_twins(info, mappings)
        assert len(approved) == 1
        journal = tmp_path / "journal.sqlite"
        text = demo_config_text(info, journal, "").replace('control_url = ""\n', "")
        text = text.replace("[execution]", COMPLETE_SET + "\n[execution]")
        config = loads_config(text, base_dir=tmp_path)
        assert config.strategies.enabled() == ["cross_venue", "complete_set"]
        env = {POLY_KEY_ENV: info["polymarket"]["accounts"][0]["private_key"],
               KALSHI_KEY_ID_ENV: info["kalshi"]["accounts"][0]["key_id"]}
        node = Node(config, NodeOptions(mappings_path=mappings, env=env, journal_synchronous="NORMAL", metrics=False))
        await asyncio.wait_for(node.start(), 30)

        # both strategies hosted; the event structure came from the simulator's Gamma
        assert list(node.host.strategies) == ["cross_venue", "complete_set"]
        assert len(node.pairs) == 1
        cs = node.host.get("complete_set")
        [fed] = cs.evaluator.events.values()
        assert [o.label for o in fed.outcomes] == ["Kevin Hassett", "Kevin Warsh", "Christopher Waller", "Other"]
        assert not fed.augmented
        [(aug_key, why)] = cs.evaluator.excluded.items()
        assert "placeholder" in why and "Person A" in why
        aug_ids = {iid for iid, inst in node.engine.instruments.items() if "Newsom" in (inst.title or "")}
        assert not aug_ids, "an excluded event's instruments were registered for trading"

        deadline = time.monotonic() + 25
        while time.monotonic() < deadline and not any(r.strategy == "complete_set" and r.status.value == "FILLED"
                                                      for r in node.reports):
            await asyncio.sleep(0.2)
        reports = [r for r in node.reports if r.strategy == "complete_set"]
        assert any(r.status.value == "FILLED" for r in reports), (
            [(r.status.value, r.error) for r in reports], node.status()["strategies"]["complete_set"])
        st = node.status()["strategies"]["complete_set"]
        assert st["events"] == 1 and st["excluded"] == 1
        await node.stop()
        node_reports = list(node.reports)
        node = None

        # at the simulator: one of each outcome, as many of each as the journal's fills say
        fed_yes = [o.yes for o in fed.outcomes]
        pm = runner.engines["polymarket"]
        address = info["polymarket"]["accounts"][0]["address"]
        acct = address if pm.accounts.exists(address) else address.lower()
        held = [lots_to_size(pm.accounts.pos_total(acct, y.market_id, Outcome.YES)) for y in fed_yes]
        assert held[0] > 0 and len(set(held)) == 1, held  # one of each outcome
        j_reports, j_fills = _journal(journal)
        cs_reports = [r for r in j_reports if r.strategy == "complete_set"]
        assert {r.execution_id for r in cs_reports} == {r.execution_id for r in node_reports if r.strategy == "complete_set"}
        assert all(r.status.value == "FILLED" for r in cs_reports), [(r.status.value, r.error) for r in cs_reports]
        sets = sum((min(lg.filled_quantity for lg in r.legs if lg.purpose == "leg") for r in cs_reports), Decimal(0))
        assert held[0] == sets
        instrument_of = {lg.client_order_id: lg.instrument_id for r in cs_reports for lg in r.legs}
        for y in fed_yes:
            journaled = sum((f.filled_quantity for f in j_fills if instrument_of.get(f.client_order_id) == y.id), Decimal(0))
            venue = sum((t.size for t in pm.trades(account_id=acct, market_id=y.market_id)), Decimal(0))
            assert journaled == venue == sets, (y.id, journaled, venue, sets)
        # the augmented event: not one order from us
        aug_markets = {m["condition_id"] for m in info["polymarket"]["markets"] if "Newsom" in m.get("question", "")
                       or "Shapiro" in m.get("question", "") or "Person A" in m.get("question", "")}
        assert aug_markets
        for mid in aug_markets:
            assert not pm.trades(account_id=acct, market_id=mid)
        print(f"\nE2E complete sets: {len(cs_reports)} executions, {sets} sets, "
              f"capital locked {st['capital_locked']}, profit {sum((r.profit for r in cs_reports), Decimal(0))}")
    finally:
        if node is not None:
            await node.stop()
        await runner.stop()
