"""Chaos: a trading process (chaos_driver.py: a ``runtime.node.Node`` built from the demo's
configuration, exactly as ``arbkit run`` builds it, submitting its own sagas) runs against the
simulator and is SIGKILLed again and again, then restarted; its start-up recovery finishes what
each kill interrupted.

Kills are aimed (seeded) at:

* the start-up recovery of an incarnation with interrupted sagas (a restart in the middle of
  recovery): at a random moment after it began, or right after it asked the venue about an order;
* the window between ``LegSubmitted`` and the venue's answer: killed just before the request is
  sent, or just after the venue took the order and before its answer is journaled;
* a saga in flight at a random moment after it started.

A kill counts as *inside a saga* when a saga the killed process was working on had started and
not reported (read from the journal afterwards); each test requires at least
``IN_SAGA_KILLS`` of them. At the end, checked against the simulator (see
``tests/e2e/chaos_support.py``): every saga reported exactly once (or held with an alert), no
client order id has two orders at the venue, every venue order is in the journal, the fills are
equal as multisets of (trade id, quantity), positions rebuilt from the journal equal the venue's
per instrument exactly, and every provisional stand-in fill was retired.

Two trading patterns: Kalshi-only two-leg sagas, and cross-venue sagas, a Polymarket leg then a
Kalshi leg (the real use). ``ARBKIT_CHAOS_IN_SAGA_KILLS`` (default 50) sets the count; each test
takes about two minutes on a 2-core machine:

    PYTHONPATH=src python -m pytest tests/unit/execution/test_chaos_sim.py -s

The figures are printed and written to ``chaos-figures.txt`` (one line per kill in ``kills.txt``)
in the test's directory.
"""

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
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "e2e"))

from chaos_support import (  # noqa: E402
    JournalView,
    Kill,
    SagaWatch,
    check_run,
    classify,
    kill_figures,
    node_env,
    report,
    venue_snapshot,
    write_kills,
    write_node_config,
)

IN_SAGA_KILLS = int(os.environ.get("ARBKIT_CHAOS_IN_SAGA_KILLS", "50"))
MAX_KILLS = IN_SAGA_KILLS * 2  # a run that cannot land its kills inside sagas fails, it does not spin
ENDLESS = 100_000  # sagas a killed incarnation would run: it is always killed first


def _wait_info(info_file: Path, proc: subprocess.Popen, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        if info_file.exists() and info_file.stat().st_size > 0:
            with contextlib.suppress(ValueError):
                return json.loads(info_file.read_text())
        if proc.poll() is not None:
            raise RuntimeError(f"the simulator exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError("the simulator wrote no info file")
        time.sleep(0.05)


def _stop_sim(sim: subprocess.Popen) -> None:
    """SIGTERM the simulator, then make sure nothing of its process group is left."""
    if sim.poll() is None:
        sim.send_signal(signal.SIGTERM)
        try:
            sim.wait(10)
        except subprocess.TimeoutExpired:
            sim.kill()
            sim.wait(5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(sim.pid, signal.SIGKILL)


class Driver:
    """One incarnation of chaos_driver.py and the lines it printed."""

    def __init__(self, mode: str, info_file: Path, cfg: Path, env: dict[str, str], log, trap: str = "",  # type: ignore[no-untyped-def]
                 sagas: int = ENDLESS) -> None:
        self.spawn_ns = time.time_ns()
        self.proc = subprocess.Popen([sys.executable, str(HERE / "chaos_driver.py"), mode, str(info_file), str(cfg), str(sagas)],
                                     stdout=subprocess.PIPE, stderr=log, env=dict(env, CHAOS_TRAP=trap),
                                     start_new_session=True)
        self.lines: list[str] = []
        self._buf = b""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def read(self, timeout: float) -> list[str]:
        """Lines printed within ``timeout`` (all that are there, at least one unless it ends)."""
        assert self.proc.stdout is not None
        out: list[str] = []
        deadline = time.monotonic() + timeout
        while not out:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if not r:
                break
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                break
            self._buf += chunk
            *done, self._buf = self._buf.split(b"\n")
            out = [d.decode() for d in done]
        self.lines += out
        return out

    def until(self, pred, timeout: float) -> bool:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(pred(line) for line in self.read(deadline - time.monotonic())):
                return True
            if not self.alive() and not self.read(0.05):
                return False
        return False

    def kill9(self) -> int:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(15)
        dead = time.time_ns()
        while self.read(0.05):  # what it printed before dying
            pass
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return dead


def _chaos(tmp_path: Path, mode: str, seed: int) -> None:
    info_file = tmp_path / "sim-info.json"
    with open(tmp_path / "sim.log", "wb") as simlog:
        sim = subprocess.Popen([sys.executable, "-m", "arbkit.cli", "sim", "--venues", "polymarket,kalshi",
                                "--scenario", "quiet", "--seed", "11", "--info-file", str(info_file)],
                               stdout=subprocess.DEVNULL, stderr=simlog, start_new_session=True)
    rng = random.Random(seed)
    journal = tmp_path / "journal.sqlite"
    venues = ("kalshi",) if mode == "kalshi" else ("polymarket", "kalshi")
    prefix = "chaos-" if mode == "kalshi" else "xchaos-"
    log = open(tmp_path / "driver.log", "ab")
    kills: list[Kill] = []
    drv: Driver | None = None
    try:
        info = _wait_info(info_file, sim)
        # the sagas buy without an edge (each reports a loss): the daily loss limit is not what is tested here
        cfg = write_node_config(info, tmp_path, journal, venues=venues, strategy=False, daily_loss="100000")
        env = node_env(info)
        baseline = venue_snapshot(info, venues)
        watch = SagaWatch(journal)
        in_saga = 0
        while in_saga < IN_SAGA_KILLS and len(kills) < MAX_KILLS:
            watch.poll()
            had_work = bool(watch.open)
            r = rng.random()
            trap, how = "", ""
            if had_work and r < 0.3:
                if rng.random() < 0.5:
                    how = trap = f"lookup:{rng.choice((1, 1, 2))}"
                else:
                    how = "recovery"
            elif r < 0.55:
                how = trap = f"post-submit:{rng.randint(1, 5)}"
            elif r < 0.7:
                how = trap = f"pre-submit:{rng.randint(1, 5)}"
            else:
                how = "saga"
            drv = Driver(mode, info_file, cfg, env, log, trap)
            watch.begin(drv.spawn_ns)
            if how == "recovery":
                drv.until(lambda line: line == "recovering", 60)
                time.sleep(rng.uniform(0, 0.03))
            elif trap:
                # the trap fires by itself; a trap that finds no such call dies the random way below
                deadline = time.monotonic() + 20
                while drv.alive() and time.monotonic() < deadline and not (how.startswith("lookup") and "ready" in drv.lines):
                    drv.read(0.2)
                if drv.alive():
                    how = f"{trap} (missed: random)"
            if how == "saga" or how.endswith("(missed: random)"):
                ok = "ready" in drv.lines or drv.until(lambda line: line == "ready", 60)
                assert ok or not drv.alive(), f"driver did not start (see {tmp_path}/driver.log): {drv.lines[-5:]}"
                for _ in range(rng.randint(1, 3)):
                    if not drv.until(lambda line: line.startswith("start "), 10):
                        break
                time.sleep(rng.uniform(0, 0.006))
            if not drv.alive() and drv.proc.returncode not in (-signal.SIGKILL,):
                pytest.fail(f"driver exited by itself ({drv.proc.returncode}); see {tmp_path}/driver.log: {drv.lines[-5:]}")
            dead = drv.kill9()
            watch.poll()
            k = Kill(how=how, spawn_ns=drv.spawn_ns, dead_ns=dead, recovery_started="recovering" in drv.lines,
                     recovery_done="ready" in drv.lines, had_work=had_work)
            kills.append(k)
            in_saga += bool(watch.active())
            drv = None
        # a last run with no kill lets recovery finish everything and the rest run
        n_sagas = 1 + max(int(e.rsplit("-", 1)[1]) for e in JournalView.read(journal).started() if e.startswith(prefix))
        final = Driver(mode, info_file, cfg, env, log, sagas=n_sagas)
        watch.begin(final.spawn_ns)
        drv = final
        out, _ = final.proc.communicate(timeout=180)
        drv = None
        assert final.proc.returncode == 0, out.decode()[-2000:]
        watch.close()

        snap = venue_snapshot(info, venues)
        view = JournalView.read(journal)
        classify(view, kills)
        write_kills(kills, tmp_path / "kills.txt")
        res = check_run(view, info, snap, baseline, prefix=prefix, venues=venues, final_start_ns=final.spawn_ns)
        started = set(view.started())
        figures = {**kill_figures(kills), **res.figures, "recovered_reports": sum(1 for r in view.reports() if r.recovered),
                   "kills_by_aim": dict(sorted({h.split(":")[0]: sum(1 for x in kills if x.how.split(":")[0] == h.split(":")[0])
                                               for h in {x.how for x in kills}}.items()))}
        report(f"in-process chaos ({mode})", figures, res.failures, tmp_path / "chaos-figures.txt")
        assert started == {f"{prefix}{k}" for k in range(n_sagas)}, sorted({f"{prefix}{k}" for k in range(n_sagas)} - started)
        assert figures["kills_inside_sagas"] >= IN_SAGA_KILLS, figures
        assert figures["kills_in_leg_window"] >= IN_SAGA_KILLS // 5, figures
        assert figures["kills_inside_recovery_with_work"] >= IN_SAGA_KILLS // 10, figures
        assert not res.failures, "\n".join(res.failures)
    finally:
        if drv is not None and drv.alive():
            drv.kill9()
        log.close()
        _stop_sim(sim)


@pytest.mark.slow
def test_sigkill_at_random_points_then_recover(tmp_path):
    """Kalshi-only two-leg sagas."""
    _chaos(tmp_path, "kalshi", 20261121)


@pytest.mark.slow
def test_cross_venue_sigkill_at_random_points_then_recover(tmp_path):
    """Cross-venue sagas: a Polymarket leg, then a Kalshi leg."""
    _chaos(tmp_path, "cross", 20261122)
