"""Black-box chaos of the real program.

``arbkit sim --venues polymarket,kalshi --scenario demo`` runs as a subprocess; the node runs as
``arbkit run --config FILE`` (mode sim, both venues, the cross-venue strategy on the demo's
approved mappings, risk limits set: the configuration ``arbkit demo`` writes, built by the same
functions), while the demo's dislocator makes the simulator dislocate a twin every
``DISLOCATE_EVERY_S``. The node is ``kill -9``-ed at seeded random moments and restarted with
the same configuration each time. Kills are aimed, in turn, at: the start-up recovery of an
incarnation that has interrupted sagas to finish; the moment an order was journaled
(``LegSubmitted``) and is on its way to the venue; a saga in flight; any moment.

At the end (a last incarnation runs without kills until every saga has finished, then is
stopped with SIGTERM) the venue side is read from the simulator's admin endpoint and checked
against the journal (see ``chaos_support.check_run``): no client order id has two orders at the
venue, every saga is reported or held with an alert, the fills and the positions per instrument
agree exactly, every provisional stand-in was retired, and the day's loss stayed within the
limit. The figures (kills, kills inside sagas, inside recovery, duplicates, position
mismatches) are printed and written to ``chaos-figures.txt`` in the test's directory.

    ARBKIT_CHAOS_KILLS=60 PYTHONPATH=src python -m pytest tests/e2e/test_chaos_blackbox.py -s

``ARBKIT_CHAOS_KILLS`` (default 50: about a minute and a half on a 2-core machine) and
``ARBKIT_CHAOS_SEED`` choose the run.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaos_support import (
    Dislocator,
    JournalView,
    Kill,
    SagaWatch,
    approve_mappings,
    check_run,
    classify,
    daily_loss_limit,
    kill_figures,
    node_env,
    report,
    start_sim,
    venue_snapshot,
    write_kills,
    write_node_config,
)

pytestmark = pytest.mark.slow

KILLS = int(os.environ.get("ARBKIT_CHAOS_KILLS", "50"))
SEED = int(os.environ.get("ARBKIT_CHAOS_SEED", "20261204"))
DISLOCATE_EVERY_S = 0.5
START_TIMEOUT_S = 60.0
RECOVERY_MARK = "recovery done"  # the node logs recovery as fields once it has reconciled every venue
FINAL_RUN_S = 6.0


class NodeRun:
    """One incarnation of ``arbkit run``: its process, its log, what the journal showed."""

    def __init__(self, k: int, run_dir: Path, cfg: Path, mappings: Path, env: dict[str, str]) -> None:
        self.k = k
        self.err_path = run_dir / f"node-{k:03d}.err"
        out = open(run_dir / f"node-{k:03d}.out", "wb")
        err = open(self.err_path, "wb")
        self.spawn_ns = time.time_ns()
        self.proc = subprocess.Popen([sys.executable, "-m", "arbkit.cli", "run", "--config", str(cfg), "--mappings",
                                      str(mappings), "--plain"], stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                     env=env, start_new_session=True, cwd=run_dir)
        out.close()
        err.close()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def recovered(self) -> bool:
        try:
            return RECOVERY_MARK in self.err_path.read_text(errors="replace")
        except OSError:
            return False

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.err_path.read_text(errors="replace")[-3000:]
        return ""

    def kill9(self) -> int:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return time.time_ns()


class NodeDied(Exception):
    """An incarnation ended (or hung) by itself: the product failed; the run goes on."""


def _wait_recovered(watch: SagaWatch, run: NodeRun, timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not run.recovered():
        watch.poll()
        if not run.alive():
            raise NodeDied(f"node incarnation {run.k} exited with {run.proc.returncode} before recovering: {_last_error(run)}")
        if time.monotonic() > deadline:
            raise NodeDied(f"node incarnation {run.k} did not finish recovery within {timeout_s:.0f} s: {_last_error(run)}")
        time.sleep(0.01)


def _last_error(run: NodeRun) -> str:
    lines = [ln for ln in run.log_tail().splitlines() if ln.strip()]
    return (lines[-1][-400:] if lines else "(no log)") + f" (log {run.err_path})"


def test_kill9_the_real_node_then_check_the_venue(tmp_path):
    rng = random.Random(SEED)
    journal = tmp_path / "journal.sqlite"
    mappings = tmp_path / "mappings.db"
    sim = start_sim(tmp_path, seed=SEED % 1000 + 1)
    info = sim.info
    disl: Dislocator | None = None
    run: NodeRun | None = None
    kills: list[Kill] = []
    died: list[str] = []  # incarnations that ended or hung by themselves
    t_start = time.monotonic()
    try:
        approved = approve_mappings(info, mappings)
        assert approved, "the demo scenario's twins were not approved"
        cfg = write_node_config(info, tmp_path, journal)
        limit = daily_loss_limit(cfg)
        baseline = venue_snapshot(info)
        env = node_env(info)
        disl = Dislocator(info, DISLOCATE_EVERY_S).start()
        watch = SagaWatch(journal)
        k = 0
        while len(kills) < KILLS:
            watch.poll()
            had_work = bool(watch.open)
            run = NodeRun(k, tmp_path, cfg, mappings, env)
            watch.begin(run.spawn_ns)
            k += 1
            r = rng.random()
            try:
                if had_work and r < 0.5:
                    how = "recovery"  # a restart in the middle of recovering the sagas the last kill interrupted
                    watch.wait(lambda rows: watch.first_record_ns > 0, START_TIMEOUT_S, run.alive)
                    time.sleep(rng.uniform(0.0, 0.03))  # recovery itself takes some tens of ms
                else:
                    _wait_recovered(watch, run)
                    r = rng.random()
                    if r < 0.45:
                        how = "leg-submitted"  # the order is journaled and on its way to the venue
                        watch.wait(lambda rows: any(kd == "LegSubmitted" for _, _, kd, _ in rows), 10.0, run.alive)
                        time.sleep(rng.uniform(0.0, 0.003))
                    elif r < 0.8:
                        how = "saga"
                        watch.wait(lambda rows: any(kd == "ExecutionStarted" for _, _, kd, _ in rows), 10.0, run.alive)
                        time.sleep(rng.uniform(0.0, 0.01))  # a saga lasts about 10 ms
                    else:
                        how = "random"
                        time.sleep(rng.uniform(0.05, 1.5))
                if not run.alive():
                    raise NodeDied(f"node incarnation {run.k} exited by itself ({run.proc.returncode}): {_last_error(run)}")
            except NodeDied as exc:
                died.append(str(exc))
                run.kill9()
                assert len(died) <= max(3, KILLS // 5), "the node keeps dying by itself:\n" + "\n".join(died)
                continue
            dead = run.kill9()
            watch.poll()
            kills.append(Kill(how=how, spawn_ns=run.spawn_ns, dead_ns=dead, recovery_started=watch.first_record_ns > 0,
                              recovery_done=run.recovered(), had_work=had_work))
        # the last incarnation: no kill, no new dislocation; every saga finishes
        disl.stop()
        disl = None
        run = NodeRun(k, tmp_path, cfg, mappings, env)
        final_start = run.spawn_ns
        watch.begin(final_start)
        try:
            _wait_recovered(watch, run)
        except NodeDied as exc:
            pytest.fail(f"the last incarnation did not start: {exc}\nearlier: {died}")
        # recovery's resumed sagas finish, settlement (MATCHED -> CONFIRMED) comes in; the
        # scenario's own dislocations may still start sagas: SIGTERM drains them
        t_end = time.monotonic() + FINAL_RUN_S
        while time.monotonic() < t_end:
            watch.poll()
            time.sleep(0.05)
        run.proc.send_signal(signal.SIGTERM)
        try:
            rc = run.proc.wait(60)
        except subprocess.TimeoutExpired:
            run.kill9()
            pytest.fail("the last node incarnation did not stop on SIGTERM within 60 s")
        run = None
        watch.close()
        assert rc == 0, f"the last node incarnation exited with {rc}"

        snap = venue_snapshot(info)
        view = JournalView.read(journal)
        classify(view, kills)
        write_kills(kills, tmp_path / "kills.txt")
        res = check_run(view, info, snap, baseline, loss_limit=limit, final_start_ns=final_start)
        res.figures["node_died_by_itself"] = len(died)
        res.failures += died
        figures = {**kill_figures(kills), "kills_by_aim": dict(sorted({h: sum(1 for x in kills if x.how == h) for h in
                                                                      {x.how for x in kills}}.items())),
                   **res.figures, "seed": SEED, "seconds": round(time.monotonic() - t_start, 1)}
        report("black-box chaos: arbkit run, kill -9", figures, res.failures, tmp_path / "chaos-figures.txt")
        # the run must have exercised what it claims to
        assert figures["sagas"] >= KILLS // 2, f"too few sagas ({figures['sagas']}) for {KILLS} kills"
        assert figures["kills_inside_sagas"] >= KILLS // 3, figures
        assert figures["kills_inside_recovery_with_work"] >= max(1, KILLS // 10), figures
        assert not res.failures, "\n".join(res.failures)
    finally:
        if disl is not None:
            disl.stop()
        if run is not None and run.alive():
            run.kill9()
        sim.stop()
