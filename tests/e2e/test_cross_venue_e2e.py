"""End to end against the simulator: `arbkit sim` (a real subprocess), `arbkit mappings discover`
and `approve` (real subprocesses, a real SQLite store), then a node in this process with the real
venue packages in mode "sim" (feeds, user streams, signed gateways), the risk and execution engines
and the cross-venue strategy.

* An injected dislocation on an approved twin produces an intent, a saga, two fills and a
  positive effective edge.
* A near-miss pair that is not approved never trades, even when a dislocation makes it look
  like a large edge.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

ARBKIT = [sys.executable, "-m", "arbkit.cli"]
pytestmark = pytest.mark.slow

from arbkit.runtime.config import loads_config
from arbkit.runtime.demo import KALSHI_KEY_ID_ENV, POLY_KEY_ENV, demo_config_text
from arbkit.runtime.node import Node, NodeOptions


def _sim(tmp_path: Path) -> tuple[subprocess.Popen, dict]:
    info_file = tmp_path / "sim.json"
    proc = subprocess.Popen([*ARBKIT, "sim", "--scenario", "demo", "--seed", "3", "--info-file", str(info_file),
                             "--duration", "120"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 45
    while not (info_file.exists() and info_file.stat().st_size):
        if proc.poll() is not None:
            raise AssertionError(f"arbkit sim exited {proc.returncode}: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("arbkit sim wrote no info file within 45 s")
        time.sleep(0.05)
    time.sleep(0.1)
    return proc, json.loads(info_file.read_text())


def _mappings(*args: str) -> subprocess.CompletedProcess:
    r = subprocess.run([*ARBKIT, "mappings", *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r


async def _post(url: str, body: dict) -> dict:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        async with s.post(url, json=body) as r:
            assert r.status == 200, await r.text()
            return await r.json(content_type=None)


async def test_dislocation_on_approved_twin_trades_and_near_miss_never_does(tmp_path):
    proc, info = _sim(tmp_path)
    node = None
    try:
        db = tmp_path / "mappings.db"
        info_path = tmp_path / "sim.json"
        rows = [json.loads(x) for x in _mappings("discover", "--info-file", str(info_path), "--db", str(db), "--json").stdout.splitlines()]
        # the BTC $150k twin (approve) and its Kalshi $140k near miss (left pending)
        twin = next(r for r in rows if r["recommendation"] == "approve" and r["kalshi"].startswith("KXBTCMAX") and "T150000" in r["kalshi"])
        near = next(r for r in rows if r["polymarket"] == twin["polymarket"] and "T140000" in r["kalshi"])
        assert [w["code"] for w in near["warnings"]] == ["threshold"]
        _mappings("approve", str(twin["id"]), "--by", "e2e", "--db", str(db))

        journal = tmp_path / "journal.sqlite"
        text = demo_config_text(info, journal, "")
        text = text.replace('control_url = ""\n', "")
        cfg_path = tmp_path / "node.toml"
        cfg_path.write_text(text)
        config = loads_config(text, base_dir=tmp_path, source=str(cfg_path))
        env = {POLY_KEY_ENV: info["polymarket"]["accounts"][0]["private_key"],
               KALSHI_KEY_ID_ENV: info["kalshi"]["accounts"][0]["key_id"]}
        node = Node(config, NodeOptions(mappings_path=db, env=env, journal_synchronous="NORMAL", metrics=False))
        await asyncio.wait_for(node.start(), 30)
        assert len(node.pairs) == 1 and node.pairs[0].mapping_id == twin["id"]
        near_ids = {f"kalshi:{near['kalshi']}:yes", f"kalshi:{near['kalshi']}:no"}
        assert not near_ids & set(node.instruments), "an unapproved mapping's instruments were bound"

        # let the books arrive, then make the near miss look like a huge edge: nothing may happen
        await asyncio.sleep(1.5)
        await _post(info["admin_url"] + "/dislocate", {"venue": "kalshi", "market_id": near["kalshi"], "shift": "0.15"})
        await asyncio.sleep(1.0)
        # now the twin: Kalshi quotes drop 0.08 -> Polymarket NO + Kalshi YES is cheap
        await _post(info["admin_url"] + "/dislocate", {"venue": "kalshi", "market_id": twin["kalshi"], "shift": "-0.08"})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(r.status.value in ("FILLED", "HEDGED", "FAILED") for r in node.reports):
            await asyncio.sleep(0.2)
        reports = list(node.reports)
        assert reports, f"no execution report; strategy status: {node.status()['strategy']}"
        filled = [r for r in reports if r.status.value == "FILLED"]
        assert filled, [(r.status.value, r.error) for r in reports]
        rep = filled[0]
        legs = [lg for lg in rep.legs if lg.purpose == "leg"]
        assert len(legs) == 2 and {lg.venue.value for lg in legs} == {"polymarket", "kalshi"}
        assert all(lg.filled_quantity > 0 for lg in legs) and legs[0].filled_quantity == legs[1].filled_quantity
        assert rep.predicted_edge_bps > 0
        assert rep.effective_edge_bps is not None and rep.effective_edge_bps > 0, rep
        assert rep.strategy == "cross_venue"
        print(f"\nE2E report: {rep.status.value} predicted {rep.predicted_edge_bps} bps, effective {rep.effective_edge_bps} bps, profit {rep.profit}, legs " + ", ".join(f"{lg.venue.value} {lg.instrument_id[-12:]} {lg.filled_quantity}@{lg.avg_price} fee {lg.fee}" for lg in legs))
        # every execution, ever, was on the approved twin's instruments
        approved_ids = set(node.pairs[0].instrument_ids)
        for r in reports:
            assert {lg.instrument_id for lg in r.legs} <= approved_ids
            assert not {lg.instrument_id for lg in r.legs} & near_ids
    finally:
        if node is not None:
            await node.stop()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
