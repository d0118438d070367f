"""Acceptance: ``arbkit demo --duration 30`` with stdout redirected.

A real subprocess runs the real command: it starts the simulator (itself a child process), approves
the scenario's twins, trades through the real venue packages, sees a traded twin resolve, redeems
its Polymarket winnings and stops. The test then reads the journal it wrote, checks the reports
(HTML and ``arbkit report --json``), and checks that no process the demo started is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from arbkit.execution.events import ExecutionReported
from arbkit.journal.store import Journal

pytestmark = pytest.mark.slow

DEMO_S = 30


def _processes_mentioning(marker: str) -> list[tuple[int, str]]:
    """(pid, cmdline) of every live process whose command line contains ``marker``."""
    out = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().split(") ", 1)[1][:1]
        except OSError:
            continue
        if marker in cmd and state != "Z":
            out.append((int(entry.name), cmd))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1]
    except OSError:
        return False
    return state != "Z"


def _run_demo(out: Path, *extra: str, timeout: float = DEMO_S + 45) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(
        [sys.executable, "-m", "arbkit.cli", "demo", "--duration", str(DEMO_S), "--seed", "7", "--out", str(out), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout, env=env, cwd=out.parent,
    )


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="process checks read /proc (Linux)")
def test_demo_trades_every_strategy_and_leaves_nothing_running(tmp_path: Path) -> None:
    out = tmp_path / "run"
    t0 = time.monotonic()
    proc = _run_demo(out)
    took = time.monotonic() - t0
    assert proc.returncode == 0, f"demo exited {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    assert took < DEMO_S + 40, f"demo took {took:.0f} s"

    # stdout is not a terminal: plain progress lines, then the summary with the paths
    assert "\x1b[" not in proc.stdout, "escape codes on a non-terminal stdout"
    assert "books " in proc.stdout and "tradeable" in proc.stdout
    journal_path = out / "journal.sqlite"
    html_path = out / "report.html"
    assert f"run directory     : {out}" in proc.stdout
    assert f"journal           : {journal_path}" in proc.stdout
    assert f"HTML report       : {html_path}" in proc.stdout, proc.stdout[-2000:]

    # the run's identity: the simulator's info file names the run id and the simulator's pid
    infos = list(out.glob("sim-*.json"))
    assert len(infos) == 1
    run_id = infos[0].stem.removeprefix("sim-")
    sim_pid = json.loads(infos[0].read_text())["pid"]
    assert f"(run {run_id})" in proc.stdout

    # demo approvals: the scenario's twins, approved by "demo"
    from arbkit.mapping.store import MappingStore

    store = MappingStore(out / "mappings.db")
    try:
        approved = store.approved()
        assert approved and all(m.approved_by == "demo" for m in approved)
        assert all(not m.unacknowledged() for m in approved)
    finally:
        store.close()

    # the journal: at least one FILLED cross-venue execution with a positive effective edge
    j = Journal.open(journal_path, readonly=True)
    try:
        reports = [msgspec.json.decode(r.payload, type=ExecutionReported).report
                   for r in j.replay(kinds=["ExecutionReported"])]
    finally:
        j.close_sync()
    filled = [r for r in reports if r.status.value == "FILLED" and r.strategy == "cross_venue"]
    assert filled, f"no FILLED cross-venue execution among {[(r.execution_id, r.status.value, r.error) for r in reports]}"
    good = [r for r in filled if r.effective_edge_bps is not None and r.effective_edge_bps > 0
            and {lg.venue.value for lg in r.legs if lg.purpose == "leg"} == {"polymarket", "kalshi"}]
    assert good, [(r.execution_id, r.effective_edge_bps) for r in filled]
    assert all(r.profit > Decimal(0) for r in good)
    # ... and triangles beside them: the KuCoin simulator's dislocations open fee-positive
    # triangles, executed as FILLED 3-leg cascades back to USDT
    tri = [r for r in reports if r.status.value == "FILLED" and r.strategy == "triangular"]
    assert tri, f"no FILLED triangle among {[(r.execution_id, r.strategy, r.status.value, r.error) for r in reports]}"
    for r in tri:
        legs = [lg for lg in r.legs if lg.purpose == "leg"]
        assert r.sequencing == "CASCADE" and r.primary_quote == "USDT"
        assert len(legs) == 3 and {lg.venue.value for lg in legs} == {"kucoin"} and all(lg.filled_quantity > 0 for lg in legs)
        assert not r.open_residuals and r.profit > Decimal(0)

    # ... complete sets on the multi-outcome event the demo underprices: one YES of every outcome
    # bought as one N-leg execution, FILLED, the same size on every leg
    sets = [r for r in reports if r.status.value == "FILLED" and r.strategy == "complete_set"]
    assert sets, f"no FILLED complete set among {[(r.execution_id, r.strategy, r.status.value, r.error) for r in reports]}"
    for r in sets:
        legs = [lg for lg in r.legs if lg.purpose == "leg"]
        assert len(legs) == 4 and len({lg.instrument_id for lg in legs}) == 4, [lg.instrument_id for lg in legs]
        assert len({lg.venue for lg in legs}) == 1 and len({lg.filled_quantity for lg in legs}) == 1
        assert all(lg.side.value == "BUY" and lg.filled_quantity > 0 for lg in legs) and not r.open_residuals
    # ... and complete-set market making on its binary market: quotes placed, every one of them
    # gone by the end (cancelled when the node stopped, or filled), fills journaled
    quotes = _kinds(journal_path, "QuoteChanged")
    assert any(q["action"] == "place" for q in quotes), quotes[:5]
    live: dict[str, str] = {}
    for q in quotes:
        live[q["client_order_id"]] = q["action"]
    assert all(a in ("gone", "filled") for a in live.values()), live
    assert "strategy complete_set_mm" in proc.stdout and "strategy complete_set " in proc.stdout

    # the HTML report exists and holds its plots
    page = html_path.read_text(encoding="utf-8")
    assert "<svg" in page

    _check_resolution_and_redeem(journal_path, proc.stdout)

    # nothing the demo started is left: not the simulator, nothing naming the run
    assert not _alive(sim_pid), f"simulator pid {sim_pid} is still running"
    assert _processes_mentioning(run_id) == []


def _kinds(journal_path: Path, kind: str) -> list[dict]:
    j = Journal.open(journal_path, readonly=True)
    try:
        return [json.loads(r.payload) for r in j.replay(kinds=[kind])]
    finally:
        j.close_sync()


def _check_resolution_and_redeem(journal_path: Path, stdout: str) -> None:
    """The demo scenario resolves the Bitcoin twin (Yes) mid-run: the node books the settlement on
    both venues, the demo redeems the Polymarket winnings on the simulator's chain, and the report
    shows the realised settlement P&L with nothing left pending."""
    from arbkit.execution.settlement import PositionsRedeemed, SettlementBooked

    j = Journal.open(journal_path, readonly=True)
    try:
        resolved = [r.decode() for r in j.replay(kinds=["MarketResolved"])]
        booked = [r.decode() for r in j.replay(kinds=["SettlementBooked"])]
        redeemed = [r.decode() for r in j.replay(kinds=["PositionsRedeemed"])]
    finally:
        j.close_sync()
    assert {e.venue.value for e in resolved} == {"polymarket", "kalshi"}, resolved
    assert all(isinstance(b, SettlementBooked) for b in booked)
    poly = [b for b in booked if b.venue.value == "polymarket" and b.lines]
    kalshi = [b for b in booked if b.venue.value == "kalshi" and b.lines]
    # the node held both legs of the twin it traded: the winning Polymarket YES and the Kalshi NO
    assert poly and kalshi, [(b.venue.value, b.market_id, b.lines) for b in booked]
    won = poly[0]
    assert won.proceeds > 0 and not won.cash_credited
    assert all(line.pnl == line.proceeds - line.cost for b in booked for line in b.lines)
    # the redeem returned exactly the booked proceeds, on chain, for the same market
    assert [type(r) for r in redeemed] == [PositionsRedeemed]
    assert redeemed[0].market_id == won.market_id and redeemed[0].route == "eoa" and redeemed[0].tx_hash
    assert redeemed[0].collateral_returned == won.proceeds
    assert f"redeemed on chain : {won.proceeds:.6f} pUSD" in stdout

    out = subprocess.run([sys.executable, "-m", "arbkit.cli", "report", str(journal_path), "--json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    st = json.loads(out.stdout)["settlement"]
    by_venue = {r["venue"]: r for r in st["by_venue"]}
    total = sum((b.pnl for b in booked), Decimal(0))
    assert sum((Decimal(r["pnl"]) for r in by_venue.values()), Decimal(0)) == total
    assert Decimal(by_venue["polymarket"]["credited"]) == won.proceeds
    assert st["capital_pending"] == []
    assert [(r["venue"], Decimal(r["redeemed"])) for r in st["capital_returned"]] == [("polymarket", won.proceeds)]


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="process checks read /proc (Linux)")
def test_demo_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "arbkit.cli", "demo", "--duration", "120", "--seed", "3", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        deadline = time.monotonic() + 40
        infos: list[Path] = []
        while time.monotonic() < deadline and proc.poll() is None:
            infos = list(out.glob("sim-*.json")) if out.exists() else []
            if infos and (out / "journal.sqlite").exists():
                break
            time.sleep(0.2)
        assert infos, "the demo did not start its simulator"
        time.sleep(3.0)  # trading for a moment
        run_id = infos[0].stem.removeprefix("sim-")
        sim_pid = json.loads(infos[0].read_text())["pid"]
        assert _alive(sim_pid)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr[-3000:]
    assert "arbkit demo interrupted" in stdout
    assert not _alive(sim_pid)
    assert _processes_mentioning(run_id) == []
    # the journal was closed cleanly: it opens and verifies
    j = Journal.open(out / "journal.sqlite", readonly=True)
    try:
        assert j.problems == []
        assert j.last_seq() > 0
    finally:
        j.close_sync()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's prctl")
def test_simulator_dies_with_a_killed_demo(tmp_path: Path) -> None:
    """Even SIGKILL (no clean-up possible) leaves no simulator behind."""
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "arbkit.cli", "demo", "--duration", "120", "--seed", "2", "--out", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 40
        infos: list[Path] = []
        while time.monotonic() < deadline and proc.poll() is None and not infos:
            infos = list(out.glob("sim-*.json")) if out.exists() else []
            time.sleep(0.2)
        assert infos, "the demo did not start its simulator"
        time.sleep(0.5)
        sim_pid = json.loads(infos[0].read_text())["pid"]
        run_id = infos[0].stem.removeprefix("sim-")
        assert _alive(sim_pid)
    finally:
        proc.kill()
        proc.wait(10)
    deadline = time.monotonic() + 15
    while _alive(sim_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(sim_pid), f"simulator {sim_pid} outlived the killed demo"
    assert _processes_mentioning(run_id) == []
