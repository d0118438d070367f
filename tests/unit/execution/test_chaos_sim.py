"""Chaos: a subprocess running sagas against the Kalshi simulator (real gateway and user stream on
loopback) is SIGKILLed at >= 20 random points and restarted each time. Afterwards every saga has
reached a terminal state, no client order id reached the simulator twice, and the journal's fills
equal the simulator's trades for our account."""

from __future__ import annotations

import contextlib
import json
import os
import random
import select
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from arbkit.journal.store import Journal

HERE = Path(__file__).resolve().parent
KILLS = 22
SAGAS = 30


def _wait_info(info_file: Path, proc: subprocess.Popen, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while not (info_file.exists() and info_file.stat().st_size > 0):
        if proc.poll() is not None:
            raise RuntimeError(f"the simulator exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError("the simulator wrote no info file")
        time.sleep(0.05)
    return json.loads(info_file.read_text())


def _driver(info_file: Path, journal: Path, log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(HERE / "chaos_driver.py"), str(info_file), str(journal), str(SAGAS)],
                            stdout=subprocess.PIPE, stderr=log, start_new_session=True)


def _read_line(proc: subprocess.Popen, timeout: float) -> str | None:
    r, _, _ = select.select([proc.stdout], [], [], timeout)
    if not r:
        return None
    return proc.stdout.readline().decode().strip()


def _admin(url: str) -> list:
    with urllib.request.urlopen(url, timeout=10) as r:  # noqa: S310 - loopback admin endpoint
        return json.loads(r.read())


@pytest.mark.slow
def test_sigkill_at_random_points_then_recover(tmp_path):
    info_file = tmp_path / "sim-info.json"
    with open(tmp_path / "sim.log", "wb") as simlog:
        sim = subprocess.Popen([sys.executable, "-m", "arbkit.cli", "sim", "--venues", "kalshi", "--scenario", "quiet",
                                "--seed", "11", "--info-file", str(info_file)],
                               stdout=subprocess.DEVNULL, stderr=simlog, start_new_session=True)
    rng = random.Random(20261121)
    journal = tmp_path / "chaos.db"
    log = open(tmp_path / "driver.log", "ab")
    try:
        info = _wait_info(info_file, sim)
        kills = 0
        while kills < KILLS:
            proc = _driver(info_file, journal, log)
            try:
                line = _read_line(proc, 30)
                assert line == "ready", f"driver did not start: {line!r} (see {tmp_path}/driver.log)"
                # kill somewhere inside the next saga(s): right after a start line, or a little later
                for _ in range(rng.randint(0, 2)):
                    if _read_line(proc, 10) is None:
                        break
                time.sleep(rng.uniform(0, 0.05))
                finished = proc.poll() is not None
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
                if not finished:
                    kills += 1
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
                proc.stdout.close()
        # a last run with no kill lets recovery finish everything and the rest run
        proc = _driver(info_file, journal, log)
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out.decode()[-2000:]

        j = Journal.open(journal, readonly=True)
        started = {r.decode().execution_id for r in j.replay(kinds=["ExecutionStarted"])}
        reported = Counter(r.decode().report.execution_id for r in j.replay(kinds=["ExecutionReported"]))
        assert started == {f"chaos-{k}" for k in range(SAGAS)}
        assert set(reported) == started and all(n == 1 for n in reported.values()), reported
        reports = [r.decode().report for r in j.replay(kinds=["ExecutionReported"])]
        recovered = [r for r in reports if r.recovered]
        assert len(recovered) >= 5, f"only {len(recovered)} sagas were interrupted mid-flight"
        # whatever happened, nothing is left open without being reported FAILED
        assert all(not r.open_residuals or r.status.value == "FAILED" for r in reports)
        journal_fills = {}
        for r in j.replay(kinds=["OrderFilled"]):
            f = r.decode()
            if f.client_order_id.startswith("chaos-") and ":unreported:" not in f.trade_id:
                journal_fills[f.trade_id] = (f.client_order_id, f.quantity)
        sec = info["kalshi"]
        acct = sec["accounts"][0]["key_id"]
        orders = _admin(f"{info['admin_url']}/orders/kalshi?account={acct}")
        coids = Counter(o["client_order_id"] for o in orders)
        assert coids and all(n == 1 for n in coids.values()), [c for c, n in coids.items() if n > 1]
        submitted = {r.decode().client_order_id for r in j.replay(kinds=["LegSubmitted"])}
        assert set(coids) <= submitted  # the venue saw nothing the journal does not know
        by_oid = {o["order_id"]: o["client_order_id"] for o in orders}
        trades = _admin(f"{info['admin_url']}/trades/kalshi?account={acct}")
        sim_fills = {t["trade_id"]: (by_oid[t["taker_order_id"]], Decimal(str(t["size"]))) for t in trades if t["taker_account"] == acct}
        assert journal_fills == sim_fills
        assert kills >= 20
    finally:
        log.close()
        if sim.poll() is None:
            sim.send_signal(signal.SIGTERM)
            try:
                sim.wait(10)
            except subprocess.TimeoutExpired:
                sim.kill()
                sim.wait(5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(sim.pid, signal.SIGKILL)
