"""Chaos inside triangle sagas: the trading process (chaos_driver.py, mode ``tri``: a
``runtime.node.Node`` built from a configuration file exactly as ``arbkit run`` builds it, the
KuCoin venue in mode ``sim``) runs 3-leg CASCADE sagas USDT -> BTC -> ETH -> USDT (and the
reverse) against ``arbkit sim --venues kucoin`` and is SIGKILLed again and again, then restarted;
its start-up recovery finishes what each kill interrupted.

The simulator refuses one in three ETH-BTC orders of our account (injected ``ORDER_REJECT``, ETH-BTC
is the middle leg of both directions), so a third of the cascades break after their first leg and
unwind the leg's output back to USDT under the hedge policy: kills land during unwinds too.

Kills are aimed (seeded) at: the start-up recovery of an incarnation with interrupted sagas (a
random moment, or right after it asked the venue about an order); ``pre-submit`` (LegSubmitted
journaled, request not sent) and ``post-submit`` (the venue has the order, its answer is not
journaled) on the N-th order of an incarnation, legs and unwinds alike; a saga in flight.

At the end, checked at the venue (the KuCoin simulator's admin endpoint) against the journal:

* no client order id has two orders at the venue, and every order of our account there has a
  client order id the journal submitted (deterministic client oids: a resend is the same order);
* every saga reported once (once more after each reopening), or held with an alert;
* the journal's fills equal the venue's trades for our account, as (trade id, size) multisets;
* the venue's balance change of every currency equals what the journal's fills (with their fees,
  in the currency charged) say, exactly;
* every cascade either FILLED its three legs or was unwound: no report leaves a non-dust residual,
  and the venue's BTC and ETH changed by dust only (what no order can trade: under an increment).

``ARBKIT_CHAOS_TRI_KILLS`` (default 12) sets how many kills must land inside sagas and
``ARBKIT_CHAOS_TRI_SEED`` the run; the default takes about 15 s
on a 2-core machine. Figures go to ``chaos-figures.txt`` in the test's directory.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "e2e"))

from chaos_support import JournalView, Kill, SagaWatch, classify, kill_figures, report, write_kills  # noqa: E402
from test_chaos_sim import Driver, _stop_sim, _wait_info  # noqa: E402

IN_SAGA_KILLS = int(os.environ.get("ARBKIT_CHAOS_TRI_KILLS", "12"))
MAX_KILLS = IN_SAGA_KILLS * 3
PREFIX = "tchaos-"
SYMBOLS = ("BTC-USDT", "ETH-BTC", "ETH-USDT")
ZERO = Decimal(0)
# what one saga may leave in BTC / ETH: under one base increment per leg and unwind (the built-in
# KuCoin increments: 1e-8 BTC, 1e-7 ETH)
DUST = {"BTC": Decimal("0.00000001") * 4, "ETH": Decimal("0.0000001") * 4}

SCENARIO = """
name = "kucoin-chaos"
description = "the BTC/ETH/USDT triangle, fair and still: the sagas lose the fees, recovery is what is tested"
venues = ["kucoin"]
tick_s = 1.0
test_accounts = 1

[kucoin]
pairs = ["BTC-USDT", "ETH-BTC", "ETH-USDT"]
use_shared_symbols = false
taker_fee_rate = "0.001"
maker_fee_rate = "0.001"
levels = 3
spread_ticks = 5
level_ticks = 2
level_usd = "500000"
walk_bp = "0"

[kucoin.usd_prices]
BTC = "90000"
ETH = "3000"

[kucoin.funding]
USDT = "100000"
BTC = "1"
ETH = "10"
"""


def _config(info: dict, journal: Path, run_dir: Path) -> Path:
    kc = info["kucoin"]
    text = f"""
[node]
name = "tri-chaos"
journal_path = {json.dumps(str(journal))}
control_url = {json.dumps(f"ipc://{run_dir / 'control.ipc'}")}

[venues.kucoin]
mode = "sim"
rest_url = {json.dumps(kc["rest_url"])}
ws_url = {json.dumps(kc["ws_url"])}
api_key_env = "CHAOS_KC_KEY"
api_secret_env = "CHAOS_KC_SECRET"
api_passphrase_env = "CHAOS_KC_PASS"

[risk]
max_concurrent_executions = 1
max_book_age_ms = 5000

[strategies.triangular]
enabled = true
start_currencies = ["USDT"]
max_start = {{ USDT = "60" }}
min_edge_bps = "5000"   # never by itself: the driver sends its own cascades
max_levels = 10
symbols = ["BTC-USDT", "ETH-BTC", "ETH-USDT"]
leg_timeout_ms = 3000
hedge_policy = "market"
hedge_max_slippage_bps = "100"
"""
    path = run_dir / "node.toml"
    path.write_text(text)
    return path


def _admin(url: str, body: object | None = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=15) as r:  # noqa: S310 - loopback admin endpoint
        return json.loads(r.read())


def _venue(info: dict, acct: str) -> dict:
    a = info["admin_url"]
    return {"orders": _admin(f"{a}/orders/kucoin?account={acct}"), "trades": _admin(f"{a}/trades/kucoin?account={acct}"),
            "balances": {b["currency"]: Decimal(b["total"]) for b in _admin(f"{a}/accounts/kucoin/{acct}")["balances"]}}


def _check(view: JournalView, acct: str, snap: dict, base: dict, final_start_ns: int) -> tuple[list[str], dict]:
    fail: list[str] = []
    subs = view.submitted()
    # 1. one order per client order id at the venue, every order of ours known to the journal
    per = Counter(o["client_order_id"] for o in snap["orders"])
    dups = {c: n for c, n in per.items() if n > 1}
    unknown = [o["order_id"] for o in snap["orders"] if o["client_order_id"] not in subs]
    if dups:
        fail.append(f"client order id(s) with more than one order at the venue: {sorted(dups.items())[:8]}")
    if unknown:
        fail.append(f"{len(unknown)} order(s) at the venue the journal never submitted: {unknown[:5]}")
    # 2. every saga reported once (after its reopenings), or held with an alert by the last incarnation
    started = {e for e in view.started() if e.startswith(PREFIX)}
    reopened = Counter(getattr(ev, "execution_id", "") for _, _, _, _, ev in view.of("SagaReopened"))
    twice = {e: len(t) for e, t in view.reported().items() if len(t) > 1 + reopened.get(e, 0)}
    last: dict[str, str] = {}
    for _, _, kind, _, ev in view.of("ExecutionReported", "SagaReopened"):
        last[ev.report.execution_id if kind == "ExecutionReported" else ev.execution_id] = kind
    alerts = view.alerts()
    unreported = {e for e in started if last.get(e) != "ExecutionReported"}
    held = {e for e in unreported if any(ts >= final_start_ns for ts in alerts.get(e, []))}
    if twice:
        fail.append(f"saga(s) reported more than once without a reopening: {sorted(twice.items())[:5]}")
    if unreported - held:
        fail.append(f"saga(s) neither reported nor held: {sorted(unreported - held)[:8]}")
    # 3. the cascades: completed, or unwound to USDT (no report leaves a non-dust residual)
    final: dict[str, object] = {}
    for r in view.reports():
        final[r.execution_id] = r
    statuses = Counter(r.status.value for e, r in final.items() if e.startswith(PREFIX))
    for e, r in final.items():
        if e.startswith(PREFIX) and r.open_residuals:
            fail.append(f"{e} ({r.status.value}) left {[(x.asset, str(x.quantity)) for x in r.open_residuals]}")
        if e.startswith(PREFIX) and r.status.value == "FILLED":
            legs = [lg for lg in r.legs if lg.purpose == "leg" and lg.filled_quantity > 0]
            if sorted({lg.leg_index for lg in legs}) != [0, 1, 2]:
                fail.append(f"{e} FILLED without its three legs: {[(lg.leg_index, str(lg.filled_quantity)) for lg in r.legs]}")
    # 4. fills: the journal's final view of each (client oid, trade id) vs the venue's trades
    fills: dict[tuple[str, str], object] = {}
    for _, _, _, _, ev in view.of("OrderFilled"):
        if ev.client_order_id in subs:
            fills[(ev.client_order_id, ev.trade_id)] = ev
    for _, _, _, _, ev in view.of("FillStatusChanged"):
        if (ev.client_order_id, ev.trade_id) in fills and ev.status.value == "FAILED":
            fills.pop((ev.client_order_id, ev.trade_id))
    standins = [k for k in fills if ":unreported:" in k[1]]
    jm = Counter((tid, f.quantity) for (_, tid), f in fills.items() if ":unreported:" not in tid)
    vm = Counter((t["trade_id"], Decimal(t["size"])) for t in snap["trades"])
    if jm != vm:
        fail.append(f"fills differ: only in the journal {sorted((jm - vm).items())[:4]}, only at the venue {sorted((vm - jm).items())[:4]}")
    if standins:
        fail.append(f"provisional stand-in fill(s) never replaced by the venue's: {standins[:5]}")
    # 5. balances: the venue's change per currency equals the journal's fills, fees in the currency charged
    jbal: dict[str, Decimal] = {}
    for (coid, _), f in fills.items():
        inst = subs[coid][1].instrument
        sign = 1 if f.side.value == "BUY" else -1
        jbal[inst.base] = jbal.get(inst.base, ZERO) + sign * f.quantity
        jbal[inst.quote] = jbal.get(inst.quote, ZERO) - sign * f.quantity * f.price
        jbal[f.fee_currency] = jbal.get(f.fee_currency, ZERO) - f.fee
    vbal = {c: snap["balances"].get(c, ZERO) - base["balances"].get(c, ZERO) for c in set(snap["balances"]) | set(base["balances"])}
    diff = {c: (str(vbal.get(c, ZERO)), str(jbal.get(c, ZERO))) for c in set(vbal) | set(jbal) if vbal.get(c, ZERO) != jbal.get(c, ZERO)}
    if diff:
        fail.append(f"balance changes differ (venue, journal): {diff}")
    n = max(1, len(started))
    for cur, dust in DUST.items():
        if abs(vbal.get(cur, ZERO)) > dust * n:
            fail.append(f"{cur} moved by {vbal.get(cur, ZERO)} at the venue: more than dust for {n} sagas")
    figures = {"sagas": len(started), "held": len(held), "statuses": dict(sorted(statuses.items())),
               "venue_orders": len(snap["orders"]), "duplicates": sum(n - 1 for n in dups.values()),
               "unattributed_orders": len(unknown), "journal_fills": sum(jm.values()), "venue_fills": sum(vm.values()),
               "hedge_orders": sum(1 for _, (_, ev) in subs.items() if ev.purpose == "hedge" and ev.execution_id.startswith(PREFIX)),
               "venue_delta": {c: str(v) for c, v in sorted(vbal.items()) if v}}
    return fail, figures


def test_sigkill_inside_triangle_sagas_then_recover(tmp_path):
    rng = random.Random(int(os.environ.get("ARBKIT_CHAOS_TRI_SEED", "20261205")))
    scen = tmp_path / "kucoin-chaos.toml"
    scen.write_text(SCENARIO)
    info_file = tmp_path / "sim-info.json"
    with open(tmp_path / "sim.log", "wb") as simlog:
        sim = subprocess.Popen([sys.executable, "-m", "arbkit.cli", "sim", "--venues", "kucoin", "--scenario", str(scen),
                                "--seed", "7", "--info-file", str(info_file), "--log-level", "WARNING"],
                               stdout=subprocess.DEVNULL, stderr=simlog, start_new_session=True)
    journal = tmp_path / "journal.sqlite"
    log = open(tmp_path / "driver.log", "ab")
    kills: list[Kill] = []
    drv: Driver | None = None
    t0 = time.monotonic()
    try:
        info = _wait_info(info_file, sim)
        acct = info["kucoin"]["accounts"][0]["api_key"]
        # one in three of our ETH-BTC orders refused (spec j fires on the (3j+2)-th): those cascades unwind
        _admin(info["admin_url"] + "/faults", [{"kind": "ORDER_REJECT", "venue": "kucoin", "match": f"{acct} ETH-BTC",
                                                "after": 2 * j + 1, "times": 1, "message": "chaos: refused"} for j in range(200)])
        cfg = _config(info, journal, tmp_path)
        env = dict(os.environ)
        baseline = _venue(info, acct)
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
                how = trap = f"post-submit:{rng.randint(1, 6)}"
            elif r < 0.75:
                how = trap = f"pre-submit:{rng.randint(1, 6)}"
            else:
                how = "saga"
            drv = Driver("tri", info_file, cfg, env, log, trap)
            watch.begin(drv.spawn_ns)
            if how == "recovery":
                drv.until(lambda line: line == "recovering", 60)
                time.sleep(rng.uniform(0, 0.03))
            elif trap:
                deadline = time.monotonic() + 15
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
                time.sleep(rng.uniform(0, 0.02))
            if not drv.alive() and drv.proc.returncode != -signal.SIGKILL:
                pytest.fail(f"driver exited by itself ({drv.proc.returncode}); see {tmp_path}/driver.log: {drv.lines[-5:]}")
            dead = drv.kill9()
            watch.poll()
            kills.append(Kill(how=how, spawn_ns=drv.spawn_ns, dead_ns=dead, recovery_started="recovering" in drv.lines,
                              recovery_done="ready" in drv.lines, had_work=had_work))
            in_saga += bool(watch.active())
            drv = None
        # a last run with no kill: recovery finishes everything, then the remaining sagas run
        started = JournalView.read(journal).started()
        n_sagas = 2 + max((int(e.rsplit("-", 1)[1]) for e in started if e.startswith(PREFIX)), default=0)
        final = Driver("tri", info_file, cfg, env, log, sagas=n_sagas)
        watch.begin(final.spawn_ns)
        drv = final
        out, _ = final.proc.communicate(timeout=120)
        drv = None
        assert final.proc.returncode == 0, out.decode()[-2000:]
        watch.close()

        snap = _venue(info, acct)
        view = JournalView.read(journal)
        classify(view, kills)
        write_kills(kills, tmp_path / "kills.txt")
        failures, res = _check(view, acct, snap, baseline, final.spawn_ns)
        figures = {**kill_figures(kills), **res, "recovered_reports": sum(1 for r in view.reports() if r.recovered),
                   "kills_by_aim": dict(Counter(k.how.split(":")[0] for k in kills)), "seconds": round(time.monotonic() - t0, 1)}
        report("chaos inside triangle sagas (KuCoin sim)", figures, failures, tmp_path / "chaos-figures.txt")
        assert {e for e in view.started() if e.startswith(PREFIX)} == {f"{PREFIX}{k}" for k in range(n_sagas)}
        assert figures["kills_inside_sagas"] >= IN_SAGA_KILLS, figures
        assert figures["kills_in_leg_window"] >= IN_SAGA_KILLS // 4, figures
        assert figures["recovered_reports"] >= 1, figures
        assert res["hedge_orders"] >= 1, "no cascade was unwound: the injected rejections did not reach a middle leg"
        assert not failures, "\n".join(failures)
    finally:
        if drv is not None and drv.alive():
            drv.kill9()
        log.close()
        _stop_sim(sim)
