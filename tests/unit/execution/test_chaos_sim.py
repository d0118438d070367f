"""Chaos: a subprocess running sagas against the simulator (real gateways and user streams on
loopback) is SIGKILLed at >= 20 random points and restarted each time. Afterwards every saga has
reached a terminal state, no order reached the simulator twice, and the journal's fills equal the
simulator's trades for our account.

Two drivers: Kalshi-only 2-leg sagas (chaos_driver.py), and cross-venue 2-leg sagas, Polymarket
then Kalshi (the real use), whose driver is this file run as a script (``python
test_chaos_sim.py cross INFO JOURNAL N IDEMPOTENCY``): the Polymarket gateway persists each signed
order before it is sent, so a restarted process re-sends the very same order hash.
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
        _stop_sim(sim)


# --- cross-venue: Polymarket leg then Kalshi leg ------------------------------------------------------


def _cross_driver(info_file: Path, journal: Path, idem: Path, log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "cross", str(info_file), str(journal),
                             str(CROSS_SAGAS), str(idem)], stdout=subprocess.PIPE, stderr=log, start_new_session=True)


CROSS_SAGAS = 24


async def _cross_main(info_file: str, journal_path: str, n: int, idem_path: str) -> int:
    """The trading process of the cross-venue chaos test (see the module docstring)."""
    import asyncio

    import aiohttp

    from arbkit.core.clock import LiveClock
    from arbkit.core.enums import Side, Venue
    from arbkit.execution.backend import GatewayBackend
    from arbkit.execution.engine import EngineConfig, ExecutionEngine
    from arbkit.execution.intent import BookTop, HedgePolicy, Intent, IntentLeg, IntentTimestamps, Sequencing
    from arbkit.execution.portfolio import Portfolio
    from arbkit.execution.recovery import recover
    from arbkit.risk.engine import RiskEngine
    from arbkit.risk.limits import RiskLimits
    from arbkit.venues.kalshi.contract import bundle_from_sim_info as kalshi_bundle
    from arbkit.venues.polymarket.contract import bundle_from_sim_info as pm_bundle

    def say(msg: str) -> None:
        sys.stdout.write(msg + "\n")
        sys.stdout.flush()

    info = json.loads(Path(info_file).read_text())
    backends: dict = {}
    early: dict = {Venue.POLYMARKET: [], Venue.KALSHI: []}

    def sink_for(venue):
        def sink(ev) -> None:
            b = backends.get(venue)
            if b is None:
                early[venue].append(ev)
            else:
                b.deliver(ev)
        return sink

    pm = pm_bundle(info, 0, sink_for(Venue.POLYMARKET))
    # the signed order is persisted (fsync) before it is posted: a restart re-sends the same hash
    pm.gateway.config.idempotency_path = idem_path
    pm.gateway._load_idempotency(idem_path)
    ks = kalshi_bundle(info, 0, sink_for(Venue.KALSHI))
    tasks = []
    for b in (pm, ks):
        await b.open()
        backends[b.venue] = GatewayBackend(b.gateway)
        for ev in early[b.venue]:
            backends[b.venue].deliver(ev)
        if b.user is not None:
            tasks.append(asyncio.get_running_loop().create_task(b.user.run()))
    clock = LiveClock()
    journal = Journal.open(journal_path, clock=clock)
    pf = Portfolio()
    risk = RiskEngine(RiskLimits(max_book_age_s=10.0, slots=1), clock, pf, journal)
    engine = ExecutionEngine(journal=journal, clock=clock, risk=risk, backends=backends, portfolio=pf,
                             config=EngineConfig(cancel_timeout_s=2.0, fill_grace_s=1.0))
    await recover(engine)
    await engine.wait_idle()
    say("ready")
    pm_market = info["polymarket"]["markets"][0]
    pm_token = pm_market["tokens"][0]["token_id"]
    pm_inst = next(i for i in pm.instruments if i.symbol == pm_token)
    k_ticker = info["kalshi"]["markets"][0]["ticker"]
    k_inst = ks.instrument(f"{k_ticker}:yes")
    admin = info["admin_url"]
    D = Decimal

    async def top(session, path: str, iid: str, now: int) -> BookTop:
        async with session.get(f"{admin}/books/{path}") as r:
            v = await r.json(content_type=None)
        return BookTop(instrument_id=iid, bids=[(D(p), D(s)) for p, s in v["bids"]],
                       asks=[(D(p), D(s)) for p, s in v["asks"]], last_update_ns=now, sequence=int(v.get("seq", 0)))

    async with aiohttp.ClientSession() as session:
        for k in range(n):
            eid = f"xchaos-{k}"
            if eid in engine.sagas:
                continue
            now = clock.now_ns()
            books = [await top(session, f"polymarket/{pm_token}", pm_inst.id, now),
                     await top(session, f"kalshi/{k_ticker}", k_inst.id, now)]
            legs = [IntentLeg(instrument=inst, side=Side.BUY, quantity=qty,
                              price=min(D("0.99"), b.asks[0][0] + inst.tick_size * 2))
                    for inst, b, qty in ((pm_inst, books[0], D("5")), (k_inst, books[1], D("2")))]
            intent = Intent(execution_id=eid, legs=legs, sequencing=Sequencing.SEQUENTIAL, books=books,
                            primary_quote="USD", hedge=HedgePolicy(max_slippage_bps=D("3000"), timeout_s=10.0),
                            leg_timeout_s=3.0, timestamps=IntentTimestamps(created_ns=now), strategy="chaos")
            say(f"start {eid}")
            res = await engine.execute(intent)
            say(f"end {eid} {getattr(res, 'status', res)}")
    for t in tasks:  # stop the streams before the journal they write to
        t.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await t
    await journal.close()
    await pm.close()
    await ks.close()
    return 0


@pytest.mark.slow
def test_cross_venue_sigkill_at_random_points_then_recover(tmp_path):
    info_file = tmp_path / "sim-info.json"
    with open(tmp_path / "sim.log", "wb") as simlog:
        sim = subprocess.Popen([sys.executable, "-m", "arbkit.cli", "sim", "--venues", "polymarket,kalshi",
                                "--scenario", "quiet", "--seed", "11", "--info-file", str(info_file)],
                               stdout=subprocess.DEVNULL, stderr=simlog, start_new_session=True)
    rng = random.Random(20261122)
    journal = tmp_path / "xchaos.db"
    idem = tmp_path / "pm-orders.jsonl"
    log = open(tmp_path / "driver.log", "ab")
    try:
        info = _wait_info(info_file, sim)
        kills = 0
        while kills < KILLS:
            proc = _cross_driver(info_file, journal, idem, log)
            try:
                line = _read_line(proc, 30)
                assert line == "ready", f"driver did not start: {line!r} (see {tmp_path}/driver.log)"
                for _ in range(rng.randint(0, 2)):
                    if _read_line(proc, 10) is None:
                        break
                # a cross-venue saga lasts a few ms: half the kills land right after a saga starts,
                # the rest anywhere in the next 80 ms (between legs, during a hedge, between sagas)
                time.sleep(rng.uniform(0, 0.004) if rng.random() < 0.5 else rng.uniform(0, 0.08))
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
        proc = _cross_driver(info_file, journal, idem, log)
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out.decode()[-2000:]

        j = Journal.open(journal, readonly=True)
        started = {r.decode().execution_id for r in j.replay(kinds=["ExecutionStarted"])}
        reported = Counter(r.decode().report.execution_id for r in j.replay(kinds=["ExecutionReported"]))
        assert started == {f"xchaos-{k}" for k in range(CROSS_SAGAS)}
        assert set(reported) == started and all(n == 1 for n in reported.values()), reported
        reports = [r.decode().report for r in j.replay(kinds=["ExecutionReported"])]
        # how many kills land inside a saga depends on timing (cross-venue sagas take a few ms)
        assert len([r for r in reports if r.recovered]) >= 3
        assert all(not r.open_residuals or r.status.value == "FAILED" for r in reports)
        submitted = {r.decode().client_order_id for r in j.replay(kinds=["LegSubmitted"])}
        journal_fills: dict[str, dict] = {"polymarket": {}, "kalshi": {}}
        for r in j.replay(kinds=["OrderFilled"]):
            f = r.decode()
            if f.client_order_id.startswith("xchaos-") and ":unreported:" not in f.trade_id:
                # one fill per trade id (a settlement update re-reports the same fill)
                journal_fills[f.venue.value][f.trade_id] = (f.client_order_id, f.quantity)
        # A Polymarket taker fill is booked per maker match ("<trade id>:<maker order id>"); the
        # venue's trade is the sum of its matches.
        pm_journal: dict[str, tuple[str, Decimal]] = {}
        for tid, (coid, qty) in journal_fills["polymarket"].items():
            base = tid.split(":", 1)[0]
            pm_journal[base] = (coid, pm_journal.get(base, (coid, Decimal(0)))[1] + qty)
        journal_fills["polymarket"] = pm_journal
        # Polymarket: the venue knows order hashes; the persisted map says which client id each is
        hash_to_coid: dict[str, str] = {}
        for line in idem.read_text().splitlines():
            rec = json.loads(line)
            hash_to_coid[rec["order"]["order_hash"]] = rec["coid"]
        pm_acct = info["polymarket"]["accounts"][0]["address"].lower()
        pm_orders = _admin(f"{info['admin_url']}/orders/polymarket?account={pm_acct}")
        per_coid = Counter(hash_to_coid.get(o["order_id"], "?") for o in pm_orders)
        assert pm_orders and "?" not in per_coid and all(n == 1 for n in per_coid.values()), per_coid
        assert set(per_coid) <= submitted
        k_acct = info["kalshi"]["accounts"][0]["key_id"]
        k_orders = _admin(f"{info['admin_url']}/orders/kalshi?account={k_acct}")
        k_coids = Counter(o["client_order_id"] for o in k_orders)
        assert all(n == 1 for n in k_coids.values()) and set(k_coids) <= submitted
        # Kalshi reports each engine fill as a trade; Polymarket groups a match's engine fills into
        # one venue trade whose id is derived from the match id (the simulator's wire mapping)
        from arbkit.sim.polymarket.state import stable_uuid

        k_by_oid = {o["order_id"]: o["client_order_id"] for o in k_orders}
        k_trades = _admin(f"{info['admin_url']}/trades/kalshi?account={k_acct}")
        assert journal_fills["kalshi"] == {t["trade_id"]: (k_by_oid[t["taker_order_id"]], Decimal(str(t["size"])))
                                           for t in k_trades if t["taker_account"] == k_acct}
        pm_fills: dict[str, tuple[str, Decimal]] = {}
        for t in _admin(f"{info['admin_url']}/trades/polymarket?account={pm_acct}"):
            if t["taker_account"] == pm_acct:
                tid = stable_uuid("trade", t["match_id"])
                coid, qty = pm_fills.get(tid, (hash_to_coid[t["taker_order_id"]], Decimal(0)))
                pm_fills[tid] = (coid, qty + Decimal(str(t["size"])))
        assert pm_fills and journal_fills["polymarket"] == pm_fills
        assert kills >= 20
    finally:
        log.close()
        _stop_sim(sim)


if __name__ == "__main__" and len(sys.argv) == 6 and sys.argv[1] == "cross":
    import asyncio

    raise SystemExit(asyncio.run(_cross_main(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])))
