"""End to end against the simulator: a quiet Kalshi book on a live connection trades.

The scenario is the demo catalogue with the fair-value walk, the takers and the random
dislocations switched off, so after the snapshots nothing moves. The node's book-age limit is
3 s and the strategy's per-venue silence limit 5 s; the Kalshi feed proves its connection alive
with a PONG every second (``liveness_ping_s``). Once the Kalshi books of the approved twin have not
changed for longer than the book-age limit, only the Polymarket side moves (an admin dislocation). The typical quiet-market opportunity — one venue moves, the
other is quiet — must trade: the Kalshi book is current because its connection is alive, not
because it changed.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from arbkit.journal.store import Journal
from arbkit.runtime.config import loads_config
from arbkit.runtime.demo import KALSHI_KEY_ID_ENV, POLY_KEY_ENV, demo_config_text
from arbkit.runtime.node import Node, NodeOptions

ARBKIT = [sys.executable, "-m", "arbkit.cli"]
pytestmark = pytest.mark.slow
DEMO = Path(__file__).resolve().parents[2] / "src" / "arbkit" / "sim" / "scenarios" / "demo.toml"


def _still_scenario(tmp_path: Path) -> Path:
    text = DEMO.read_text(encoding="utf-8")
    text = text.replace('name = "demo"', 'name = "still"')
    text = re.sub(r'(?m)^step = "[^"]*"', 'step = "0"', text, count=1)
    text = re.sub(r"(?ms)(^\[takers\]\nprobability = )[0-9.]+", r"\g<1>0.0", text)
    text = re.sub(r"(?ms)(^\[dislocations\]\nprobability = )[0-9.]+", r"\g<1>0.0", text)
    # an admin dislocation holds for the whole test: a decaying one moves the Polymarket quote a
    # tick every few seconds, and a move between our two sequential legs is a race this test is not about
    text = re.sub(r"(?ms)(^\[dislocations\]\n.*?^decay_s = )[0-9.]+", r"\g<1>600", text, count=1)
    assert "decay_s = 600" in text
    assert 'step = "0"' in text and "[takers]\nprobability = 0.0" in text and "[dislocations]\nprobability = 0.0" in text
    p = tmp_path / "still.toml"
    p.write_text(text, encoding="utf-8")
    return p


def _sim(tmp_path: Path) -> tuple[subprocess.Popen, dict, Path]:
    info_file = tmp_path / "sim.json"
    proc = subprocess.Popen([*ARBKIT, "sim", "--scenario", str(_still_scenario(tmp_path)), "--seed", "3",
                             "--info-file", str(info_file), "--duration", "120"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 45
    while not (info_file.exists() and info_file.stat().st_size):
        if proc.poll() is not None:
            raise AssertionError(f"arbkit sim exited {proc.returncode}: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("arbkit sim wrote no info file within 45 s")
        time.sleep(0.05)
    time.sleep(0.1)
    return proc, json.loads(info_file.read_text()), info_file


def _mappings(*args: str) -> subprocess.CompletedProcess:
    r = subprocess.run([*ARBKIT, "mappings", *args], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r


async def _post(url: str, body: dict) -> dict:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        async with s.post(url, json=body) as r:
            assert r.status == 200, await r.text()
            return await r.json(content_type=None)


@pytest.mark.parametrize("mode", ["parallel", "sequential"])
async def test_quiet_but_live_kalshi_book_trades(tmp_path, mode):
    proc, info, info_path = _sim(tmp_path)
    node = None
    try:
        db = tmp_path / "mappings.db"
        rows = [json.loads(x) for x in _mappings("discover", "--info-file", str(info_path), "--db", str(db), "--json").stdout.splitlines()]
        twin = next(r for r in rows if r["recommendation"] == "approve" and r["kalshi"].startswith("KXBTCMAX") and "T150000" in r["kalshi"])
        _mappings("approve", str(twin["id"]), "--by", "e2e", "--db", str(db))

        text = demo_config_text(info, tmp_path / "journal.sqlite", "").replace('control_url = ""\n', "")
        assert "max_book_age_ms = 5000" in text
        text = text.replace("max_book_age_ms = 5000", "max_book_age_ms = 3000")
        text = text.replace('safety_margin_bps = "10"\n', 'safety_margin_bps = "10"\nmax_silence_polymarket_ms = 5000\n'
                            'max_silence_kalshi_ms = 5000\ncooldown_ms = 500\n'
                            + (f'two_leg_mode = "{mode}"\nfirst_leg = "kalshi"\n' if mode == "sequential" else ""))
        config = loads_config(text, base_dir=tmp_path, source="node.toml")
        env = {POLY_KEY_ENV: info["polymarket"]["accounts"][0]["private_key"],
               KALSHI_KEY_ID_ENV: info["kalshi"]["accounts"][0]["key_id"]}
        node = Node(config, NodeOptions(mappings_path=db, env=env, journal_synchronous="NORMAL", metrics=False))
        await asyncio.wait_for(node.start(), 30)
        pair = node.pairs[0]
        view = node.strategy.market

        # books arrive, then nothing moves: the Kalshi books go quiet past the 1 s book-age limit
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(view.book(i) is None for i in pair.instrument_ids):
            await asyncio.sleep(0.1)
        await asyncio.sleep(6.0)
        now = node.clock.now_ns()
        kalshi_ids = (pair.kalshi_yes.id, pair.kalshi_no.id)
        kalshi_changed = {i: view.book(i).last_update_ns for i in kalshi_ids}
        assert all(now - t > 5_000_000_000 for t in kalshi_changed.values()), "the Kalshi books were not quiet"
        assert all(view.untradeable(i, now, 5_000_000_000) is None for i in kalshi_ids), \
            [view.untradeable(i, now, 5_000_000_000) for i in kalshi_ids]
        assert not node.reports

        # only the Polymarket side moves: its quotes drop 0.08, Polymarket YES + Kalshi NO is cheap
        # The simulator's background takers also lift a cheap ask: on a loaded machine one can take
        # the Polymarket quote before our second (sequential) leg arrives, and the saga correctly
        # hedges. That race is the venue's, not the quiet book's: dislocate again (at most 3 times).
        for _attempt in range(3):
            seen = len(node.reports)
            await _post(info["admin_url"] + "/dislocate", {"venue": "polymarket", "market_id": twin["polymarket"], "shift": "-0.08"})
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not any(r.status.value in ("FILLED", "HEDGED", "FAILED")
                                                          for r in list(node.reports)[seen:]):
                await asyncio.sleep(0.2)
            new = list(node.reports)[seen:]
            if any(r.status.value == "FILLED" for r in new) or not all(
                    r.status.value == "HEDGED" and "filled nothing" in (r.error or "") for r in new) or not new:
                break
            await asyncio.sleep(1.0)  # past the 0.5 s cooldown
        reports = list(node.reports)
        status = node.status()["strategy"]
        assert reports, f"no execution report; strategy status: {status}"
        filled = [r for r in reports if r.status.value == "FILLED"]
        assert filled, ([(r.status.value, r.error) for r in reports], status)
        legs = [lg for lg in filled[0].legs if lg.purpose == "leg"]
        assert {lg.venue.value for lg in legs} == {"polymarket", "kalshi"}
        assert all(lg.filled_quantity > 0 for lg in legs) and legs[0].filled_quantity == legs[1].filled_quantity
        kalshi_leg = next(lg for lg in legs if lg.venue.value == "kalshi")
        # the Kalshi book it traded had not changed since before the dislocation (it was quiet)
        assert kalshi_leg.instrument_id in kalshi_changed
        assert status["denied"] == 0, status
        if mode == "sequential":  # the Kalshi leg went first, the Polymarket leg only on its fill
            k_leg = next(lg for lg in legs if lg.venue.value == "kalshi")
            p_leg = next(lg for lg in legs if lg.venue.value == "polymarket")
            assert (k_leg.leg_index, p_leg.leg_index) == (0, 1), [(lg.venue.value, lg.leg_index) for lg in legs]
        assert "stale" not in status["skips"], status
        # the cooldown after our own trade is journaled as a cooldown (kind "cooldown"), on our mapping
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not node.strategy.cooldowns and "cooldown" not in status["skips"]:
            await asyncio.sleep(0.1)
        await node.stop()
        node = None
        j = Journal.open(tmp_path / "journal.sqlite", readonly=True)
        try:
            cooldowns = [json.loads(r.payload) for r in j.replay(kinds=["cooldown"])]
        finally:
            j.close_sync()
        ours = [c for c in cooldowns if c["execution_id"] == filled[0].execution_id]
        assert ours and ours[0]["mapping"] == pair.key and ours[0]["cooldown_s"] == 0.5, cooldowns
        print(f"\nquiet-live E2E: Kalshi book unchanged for {(now - kalshi_changed[kalshi_leg.instrument_id]) / 1e9:.1f}s "
              f"before the Polymarket move; {filled[0].status.value}, effective {filled[0].effective_edge_bps} bps")
    finally:
        if node is not None:
            await node.stop()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
