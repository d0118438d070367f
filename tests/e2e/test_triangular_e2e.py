"""End to end: the node runs the triangular strategy beside cross-venue, against the KuCoin simulator
(the ``kucoin`` scenario: makers on every pair around one set of USD prices) in this process.

* mode ``sim``: the real KuCoin package (bullet handshake, level-2 feed by sequence, signed HF
  gateway, private order and balance streams). A dislocation (the makers quote ETH-BTC 1 % below
  its triangle-consistent price) becomes a 3-leg CASCADE execution with a FILLED report whose
  effective bps equals the predicted within fees' rounding; the venue's balances moved by the
  report's profit; the node's log carries the one-line summary.
* mode ``paper``: the same node reading the simulator's public feed, the PaperBackend walking the
  books the intent carried: FILLED 3-leg reports, and not one order reaches the simulator.
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal as D
from pathlib import Path

import pytest

from arbkit.execution.report import ExecutionStatus
from arbkit.runtime.config import loads_config
from arbkit.runtime.node import Node, NodeOptions
from arbkit.sim.runner import SimRunner

pytestmark = pytest.mark.slow

SYMS = ["BTC-USDT", "ETH-BTC", "ETH-USDT", "KCS-USDT", "KCS-BTC", "KCS-ETH"]
TRIANGLE = "BTC-USDT→ETH-BTC→ETH-USDT"


def _config(tmp_path: Path, sec: dict, mode: str) -> str:
    creds = ('api_key_env = "SIM_KC_KEY"\napi_secret_env = "SIM_KC_SECRET"\napi_passphrase_env = "SIM_KC_PASS"\n'
             if mode == "sim" else "")
    syms = ", ".join(f'"{s}"' for s in SYMS)
    return f"""
[node]
name = "tri-{mode}"
journal_path = "{tmp_path / 'journal.sqlite'}"

[venues.kucoin]
mode = "{mode}"
rest_url = "{sec['rest_url']}"
ws_url = "{sec['ws_url']}"
{creds}
[risk]
max_concurrent_executions = 1
max_book_age_ms = 5000

[strategies.triangular]
enabled = true
start_currencies = ["USDT"]
max_start = {{ USDT = "2000" }}
min_edge_bps = "20"
max_levels = 10
symbols = [{syms}]
leg_timeout_ms = 3000
hedge_policy = "market"
"""


async def _run(tmp_path: Path, mode: str, caplog: pytest.LogCaptureFixture) -> None:
    runner = SimRunner(venues=["kucoin"], scenario="kucoin", seed=5)
    sec = (await runner.start())["kucoin"]
    srv = runner.servers["kucoin"]
    srv.disl_p = 0.0  # no random dislocation: only ours
    acct = sec["accounts"][0]
    env = {"SIM_KC_KEY": acct["api_key"], "SIM_KC_SECRET": acct["api_secret"], "SIM_KC_PASS": acct["passphrase"]}
    config = loads_config(_config(tmp_path, sec, mode), base_dir=tmp_path)
    node = Node(config, NodeOptions(env=env, drain_timeout_s=10))
    caplog.set_level(logging.INFO, logger="arbkit.node")
    try:
        await node.start()
        st = node.status()
        assert st["triangular"]["triangles"] > 0 and st["triangular"]["pairs"] == len(SYMS)
        kc = node.venues[next(iter(node.venues))]
        for _ in range(250):  # every book synchronised
            if all(kc.feed.is_tradeable(f"kucoin:{s}", 5 * 10**9) for s in SYMS):
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("KuCoin books never became tradeable")
        await asyncio.sleep(0.3)
        assert node.tri_opportunities == 0, "fair books: no fee-positive triangle"
        before = {b.currency: b.total for b in await kc.gateway.balances()} if mode == "sim" else None
        srv.dislocated["ETH-BTC"] = (D("0.99"), 10**6)
        srv.requote_all()
        for _ in range(300):
            if node.reports_total:
                break
            await asyncio.sleep(0.02)
        # stop the dislocation, let anything in flight finish
        srv.dislocated.pop("ETH-BTC", None)
        srv.requote_all()
        await asyncio.sleep(0.3)
        for _ in range(200):
            if not node.triangular.in_flight:
                break
            await asyncio.sleep(0.02)
        reports = [r for r in node.reports if r.strategy == "triangular"]
        assert reports, f"no triangular execution: {node.status()['strategy']} {node.last_denial}"
        for r in reports:
            assert r.status is ExecutionStatus.FILLED, (r.status, r.error)
            assert r.sequencing == "CASCADE"
            legs = sorted((lg for lg in r.legs if lg.purpose == "leg"), key=lambda lg: lg.leg_index)
            assert len(legs) == 3 and all(lg.filled_quantity == lg.requested_quantity > 0 for lg in legs)
            assert not r.open_residuals, r.residuals
            # effective vs predicted: equal within the 0.01 bps the report rounds to, plus the
            # funds the first leg could not spend (increment flooring): profit >= predicted profit
            assert r.effective_edge_bps is not None
            assert abs(r.effective_edge_bps - r.predicted_edge_bps) <= D("0.5"), (r.effective_edge_bps, r.predicted_edge_bps)
            assert r.profit >= r.predicted_profit > 0
        first = reports[0]
        path = "→".join(lg.instrument_id.split(":", 1)[1] for lg in sorted(
            (lg for lg in first.legs if lg.purpose == "leg"), key=lambda lg: lg.leg_index))
        lines = [rec.getMessage() for rec in caplog.records if rec.getMessage().startswith("FILLED |")]
        assert any(first.execution_id in ln and path in ln and "bps (pred" in ln for ln in lines), lines
        if mode == "sim":
            after = {b.currency: b.total for b in await kc.gateway.balances()}
            assert after["USDT"] - before["USDT"] == sum(r.profit for r in reports)
            assert path in (TRIANGLE, "ETH-USDT→ETH-BTC→BTC-USDT")
        else:
            for a in runner.accounts["kucoin"]:  # paper: not one order reached the venue
                assert runner.engines["kucoin"].orders(account_id=a.account_id) == []
            # no credentials: the fees are KuCoin's base rate, not zero (charged in the quote)
            assert all(lg.fee > 0 for r in reports for lg in r.legs)
    finally:
        await node.stop()
        await runner.stop()


async def test_sim_mode_dislocated_triangle_fills_as_a_three_leg_cascade(tmp_path: Path, caplog) -> None:
    await _run(tmp_path, "sim", caplog)


async def test_paper_mode_walks_the_books_and_sends_nothing(tmp_path: Path, caplog) -> None:
    await _run(tmp_path, "paper", caplog)
