"""Acceptance: ``arbkit demo --record DIR`` then ``arbkit backtest --data DIR``.

A real demo run (simulator and node as subprocesses) records every venue's frames and the
markets' metadata; the backtest replays them with no network through the node's own feeds,
strategies, risk and execution, and must trade in kind (the demo's strategy fires, FILLED
cross-venue executions), give a byte-identical journal when run twice, and write a journal
``arbkit report`` renders.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from arbkit.execution.events import ExecutionReported
from arbkit.journal.store import Journal

pytestmark = pytest.mark.slow

DEMO_S = 10


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("btdemo")
    run, rec = base / "run", base / "rec"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    p = subprocess.run([sys.executable, "-m", "arbkit.cli", "demo", "--duration", str(DEMO_S), "--seed", "3",
                        "--dislocate-every", "2", "--plain", "--out", str(run), "--record", str(rec)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=DEMO_S + 90, env=env, cwd=base)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    return {"base": base, "run": run, "rec": rec, "config": run / "demo.toml"}


def _reports(journal: Path) -> list[ExecutionReported]:
    j = Journal.open(journal, readonly=True)
    try:
        return [msgspec.json.decode(r.payload, type=ExecutionReported) for r in j.replay(kinds=["ExecutionReported"])]
    finally:
        asyncio.run(j.close())


def test_recording_holds_frames_metadata_and_mappings(recorded: dict) -> None:
    rec: Path = recorded["rec"]
    for name in ("polymarket.frames", "kalshi.frames", "metadata.json", "mappings.db", "manifest.json"):
        assert (rec / name).is_file(), name
    first = (rec / "kalshi.frames").read_text().splitlines()[0]
    ns, _, frame = first.partition(" ")
    assert ns.isdigit() and json.loads(frame)["type"] == "subscribed"
    meta = json.loads((rec / "metadata.json").read_text())
    venues = {m["venue"] for m in meta["market_instruments"]}
    assert venues == {"polymarket", "kalshi"}
    assert json.loads((rec / "manifest.json").read_text())["format"] == "arbkit-recording/1"


def test_backtest_trades_in_kind_deterministically_and_report_renders(recorded: dict) -> None:
    base: Path = recorded["base"]
    live = _reports(recorded["run"] / "journal.sqlite")
    assert any(r.report.status.value == "FILLED" for r in live), "the recorded demo run itself traded nothing"
    outs = []
    for i in (1, 2):
        out = base / f"bt{i}"
        p = subprocess.run([sys.executable, "-m", "arbkit.cli", "backtest", "--config", str(recorded["config"]),
                            "--data", str(recorded["rec"]), "--out", str(out), "--seed", "5", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120, cwd=base,
                           env=dict(os.environ))  # no network needed: the simulator is gone by now
        assert p.returncode == 0, p.stderr[-3000:]
        outs.append((out, json.loads(p.stdout)))
    (out1, s1), (out2, s2) = outs
    assert (out1 / "journal.sqlite").read_bytes() == (out2 / "journal.sqlite").read_bytes()
    assert s1 == s2
    reps = _reports(out1 / "journal.sqlite")
    filled = [r.report for r in reps if r.report.status.value == "FILLED"]
    assert filled, s1
    # the demo trades cross-venue pairs, KuCoin triangles and complete sets; the backtest fires the same strategies
    live_filled = {r.report.strategy for r in live if r.report.status.value == "FILLED"}
    assert "cross_venue" in live_filled and {r.strategy for r in filled} == live_filled
    # (and complete sets on the multi-outcome event: every leg on one venue, one YES of each outcome)
    venues = {"cross_venue": [{"polymarket", "kalshi"}], "triangular": [{"kucoin"}],
              "complete_set": [{"polymarket"}, {"kalshi"}]}
    assert all({leg.venue.value for leg in r.legs} in venues[r.strategy] for r in filled), \
        [(r.strategy, {leg.venue.value for leg in r.legs}) for r in filled]
    cv = s1["strategies"]["cross_venue"]
    assert cv["filled"] == sum(r.strategy == "cross_venue" for r in filled) and s1["orders"] > 0 and s1["fill_rate"] is not None
    assert s1["feeds"]["kalshi"]["seq_gaps"] == 0
    # `arbkit report` renders the backtest's journal unchanged
    p = subprocess.run([sys.executable, "-m", "arbkit.cli", "report", str(out1 / "journal.sqlite"), "--json"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120, cwd=base)
    assert p.returncode == 0, p.stderr[-2000:]
    assert str(len(reps)) in p.stdout and "cross_venue" in p.stdout


def test_from_and_to_limit_what_is_replayed_and_decided(recorded: dict, tmp_path: Path) -> None:
    import asyncio as _asyncio

    from arbkit.backtest.recording import read_lines
    from arbkit.backtest.runner import BacktestOptions, run_backtest
    from arbkit.runtime.config import load_config

    cfg = load_config(recorded["config"])
    times = sorted(ns for f in sorted(recorded["rec"].glob("*.frames")) for ns, _ in read_lines(f))
    mid = times[len(times) // 2]
    whole = _asyncio.run(run_backtest(cfg, BacktestOptions(data=[recorded["rec"]], out=tmp_path / "all")))
    first = _asyncio.run(run_backtest(cfg, BacktestOptions(data=[recorded["rec"]], out=tmp_path / "to", t_to_ns=mid)))
    late = _asyncio.run(run_backtest(cfg, BacktestOptions(data=[recorded["rec"]], out=tmp_path / "from", t_from_ns=mid)))
    assert whole.lines == len(times)
    assert first.lines == sum(1 for t in times if t <= mid)
    assert late.lines == whole.lines  # books are built from the start ...
    starts = [r.report.timings.intent_created_ns for r in _reports(tmp_path / "from" / "journal.sqlite")]
    assert starts and all(t >= mid for t in starts)  # ... but nothing is decided before --from
    assert whole.summary["executions"] >= max(first.summary["executions"], late.summary["executions"])


def test_sweep_runs_every_combination_in_processes_and_compares_them(recorded: dict, tmp_path: Path) -> None:
    import asyncio as _asyncio
    import csv

    from arbkit.backtest.runner import BacktestOptions, run_backtest
    from arbkit.runtime.config import load_config

    out = tmp_path / "sweep"
    p = subprocess.run([sys.executable, "-m", "arbkit.cli", "backtest", "--config", str(recorded["config"]),
                        "--data", str(recorded["rec"]), "--out", str(out),
                        "--set", "strategies.cross_venue.min_edge_bps=50,100,5000"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=180)
    assert p.returncode == 0, p.stderr[-3000:]
    rows = {r["strategies.cross_venue.min_edge_bps"]: r for r in csv.DictReader(open(out / "sweep.csv"))}
    assert set(rows) == {"50", "100", "5000"}
    # no cross-venue edge is 50 %: at 5000 bps only the demo's triangles trade
    assert int(rows["5000"]["executions"]) < int(rows["100"]["executions"])
    assert not [r for r in _reports(out / "min_edge_bps=5000" / "journal.sqlite") if r.report.strategy == "cross_venue"]
    assert [r for r in _reports(out / "min_edge_bps=100" / "journal.sqlite") if r.report.strategy == "cross_venue"]
    assert (out / "sweep.svg").read_text().lstrip().startswith("<?xml")
    # the demo's own value (100) in a sweep process gives the same journal as a plain run
    plain = _asyncio.run(run_backtest(load_config(recorded["config"]),
                                      BacktestOptions(data=[recorded["rec"]], out=tmp_path / "plain")))
    assert plain.summary["executions"] == int(rows["100"]["executions"])
    assert (tmp_path / "plain" / "journal.sqlite").read_bytes() == (out / "min_edge_bps=100" / "journal.sqlite").read_bytes()
