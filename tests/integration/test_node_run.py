"""``arbkit run --config FILE [--live]`` and the node it builds.

* The live guards: a live venue needs ``--live``; ``--live`` refuses unset risk limits and missing
  secrets, naming the keys and never echoing a secret.
* Mode ``sim``: the real ``arbkit run`` command (a subprocess) against the simulator serving on
  127.0.0.1 in this process; an injected dislocation on an approved twin becomes a FILLED
  cross-venue execution in the journal; no secret reaches the output or the journal.
* Mode ``paper``: the node in-process reads the simulator's real feeds and fills from book
  snapshots: executions complete while not one order reaches the simulator.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

import aiohttp
import msgspec
import pytest
from typer.testing import CliRunner

from arbkit.cli import app
from arbkit.execution.control import ControlClient
from arbkit.execution.events import ExecutionReported
from arbkit.journal.store import Journal
from arbkit.runtime.config import loads_config
from arbkit.runtime.demo import KALSHI_KEY_ID_ENV, POLY_KEY_ENV, approve_twins, demo_config_text
from arbkit.runtime.node import Node, NodeOptions
from arbkit.sim.runner import SimRunner

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, list(args), env=env)


def test_run_refuses_a_live_venue_without_the_live_flag() -> None:
    res = _cli("run", "--config", str(ROOT / "examples" / "live.toml"), "--mappings", "nonexistent.db")
    assert res.exit_code == 2
    assert "--live" in res.output


def test_live_refuses_unset_risk_limits_naming_them(tmp_path: Path) -> None:
    cfg = tmp_path / "live.toml"
    cfg.write_text('[venues.kalshi]\nmode = "live"\napi_key_id_env = "KALSHI_API_KEY_ID"\nprivate_key_env = "KALSHI_PRIVATE_KEY"\n'
                   '[risk]\nmax_order_notional = "10"\n')
    res = _cli("run", "--config", str(cfg), "--live")
    assert res.exit_code == 2
    for key in ("risk.max_total_exposure", "risk.daily_loss_limit", "risk.max_concurrent_executions",
                "risk.max_book_age_ms", "risk.order_rate_limits.kalshi"):
        assert key in res.output
    assert "risk.max_order_notional" not in res.output  # that one is set


def test_live_refuses_missing_secrets_without_echoing_the_ones_present(tmp_path: Path) -> None:
    secret = "0x" + "ab" * 32
    text = (ROOT / "examples" / "live.toml").read_text().replace("/etc/arbkit/kalshi.pem", str(tmp_path / "missing.pem"))
    text = text.replace("/var/lib/arbkit/live.journal.sqlite", str(tmp_path / "j.sqlite"))
    cfg = tmp_path / "live.toml"
    cfg.write_text(text)
    env = {"POLYMARKET_PRIVATE_KEY": secret, "KALSHI_API_KEY_ID": "key-id"}
    res = _cli("run", "--config", str(cfg), "--live", env=env)
    assert res.exit_code == 2
    assert "POLYMARKET_API_KEY" in res.output  # unset L2 credential, named
    assert "missing.pem" in res.output
    assert secret not in res.output
    assert not (tmp_path / "j.sqlite").exists(), "nothing may start before the checks pass"


def _reports(path: Path) -> list:
    j = Journal.open(path, readonly=True)
    try:
        return [msgspec.json.decode(r.payload, type=ExecutionReported).report for r in j.replay(kinds=["ExecutionReported"])]
    finally:
        j.close_sync()


@pytest.fixture
async def sim():
    runner = SimRunner(venues=["polymarket", "kalshi"], scenario="demo", seed=5)
    info = await runner.start()
    try:
        yield runner, info
    finally:
        await runner.stop()


def _twins(runner: SimRunner) -> list:
    return [p for p in runner.scenario.catalogue.pairs if p.relation == "twin"]


async def _dislocate_until(runner: SimRunner, done, timeout_s: float) -> None:
    """Open an edge on a twin every 2 s (cycling) until ``done()`` or the timeout."""
    twins = _twins(runner)
    end = time.monotonic() + timeout_s
    i = 0
    while not done() and time.monotonic() < end:
        p = twins[i % len(twins)]
        runner.scenario.dislocate(venue="polymarket", market_id=p.polymarket_market_id, shift=Decimal("-0.08"))
        i += 1
        for _ in range(20):
            if done():
                return
            await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_arbkit_run_sim_mode_trades_an_approved_twin(sim, tmp_path: Path) -> None:
    runner, info = sim
    mappings = tmp_path / "mappings.db"
    approved = await approve_twins(info, mappings)
    assert {a["kalshi"] for a in approved} == {p.kalshi_market_id for p in _twins(runner)}
    journal = tmp_path / "run.journal.sqlite"
    cfg = tmp_path / "sim.toml"
    cfg.write_text(demo_config_text(info, journal, f"ipc://{tmp_path / 'control.ipc'}"))
    key = info["polymarket"]["accounts"][0]["private_key"]
    env = dict(os.environ, **{POLY_KEY_ENV: key, KALSHI_KEY_ID_ENV: info["kalshi"]["accounts"][0]["key_id"]})
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "arbkit.cli", "run", "--config", str(cfg), "--mappings", str(mappings), "--duration", "10",
        "--plain", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path)
    comm = asyncio.ensure_future(proc.communicate())
    await asyncio.sleep(4.0)  # interpreter start, connect, reconcile
    await _dislocate_until(runner, comm.done, 6.0)
    out, err = await asyncio.wait_for(comm, 40)
    stdout, stderr = out.decode(), err.decode()
    assert proc.returncode == 0, stderr[-3000:]
    assert "venues: polymarket=sim, kalshi=sim" in stdout
    reports = _reports(journal)
    filled = [r for r in reports if r.status.value == "FILLED"]
    assert filled, [(r.status.value, r.error) for r in reports]
    assert all(r.effective_edge_bps is not None and r.effective_edge_bps > 0 for r in filled)
    # the venue saw our orders: the fills are the simulator's, not simulated locally
    account = info["polymarket"]["accounts"][0]["address"].lower()
    assert runner.engines["polymarket"].trades(account_id=account)
    # the log has a structured line for every order event the journal holds (sent, acked, filled)
    logged = {}
    for line in stderr.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("logger") == "arbkit.orders":
            logged.setdefault(rec["event"], set()).add(rec.get("client_order_id"))
    j = Journal.open(journal, readonly=True)
    try:
        for kind, message in (("LegSubmitted", "order sent"), ("OrderFilled", "order filled"), ("OrderAccepted", "order acked")):
            coids = {json.loads(r.payload)["client_order_id"] for r in j.replay(kinds=[kind])}
            assert coids and coids <= logged.get(message, set()), (kind, coids - logged.get(message, set()))
    finally:
        j.close_sync()
    assert "Decimal(" not in stderr and "<arbkit." not in stderr  # values, not Python reprs
    # no secret in the output, the logs or the journal
    assert key not in stdout and key not in stderr and key[2:] not in stderr
    assert key[2:].encode() not in journal.read_bytes()


async def test_paper_mode_fills_from_snapshots_and_sends_nothing(sim, tmp_path: Path) -> None:
    runner, info = sim
    mappings = tmp_path / "mappings.db"
    await approve_twins(info, mappings)
    pm, ks = info["polymarket"], info["kalshi"]
    text = f"""
[node]
name = "paper-test"
journal_path = "paper.journal.sqlite"
log_json = true

[venues.polymarket]
mode = "paper"
rest_url = "{pm['rest_url']}"
ws_market_url = "{pm['ws_market_url']}"
ws_user_url = "{pm['ws_user_url']}"

[venues.kalshi]
mode = "paper"
rest_url = "{ks['rest_url']}"
ws_url = "{ks['ws_url']}"
api_key_id_env = "PAPER_KALSHI_KEY_ID"
private_key_file = "{ks['accounts'][1]['private_key_path']}"

[risk]
max_book_age_ms = 5000
max_concurrent_executions = 2

[strategies.cross_venue]
enabled = true
min_edge_bps = 100
max_size = "10"
"""
    cfg = loads_config(text, base_dir=tmp_path)
    control = f"ipc://{tmp_path / 'control.ipc'}"
    node = Node(cfg, NodeOptions(mappings_path=mappings, env={"PAPER_KALSHI_KEY_ID": ks["accounts"][1]["key_id"]},
                                 journal_synchronous="NORMAL", control_address=control, metrics_port=0))
    await node.start()
    try:
        st = node.status()
        assert {v: d["mode"] for v, d in st["venues"].items()} == {"polymarket": "paper", "kalshi": "paper"}
        assert st["mappings"] == len(_twins(runner))
        await asyncio.sleep(1.5)
        await _dislocate_until(runner, lambda: node.filled_total > 0, 15.0)
        assert node.filled_total > 0, node.status()["strategy"]
        st = node.status()
        assert st["reports"] and st["reports"][-1]["status"] == "FILLED"
        assert any(b["tradeable"] for b in st["books"])
        # the venue refines a market's tick: both outcomes' instruments follow, the pairs are rebound
        twin = _twins(runner)[0]
        runner.engines["polymarket"].set_tick_size(twin.polymarket_market_id, Decimal("0.001"))
        pm_ids = [iid for iid, inst in node.instruments.items() if inst.market_id == twin.polymarket_market_id]
        assert len(pm_ids) == 2
        for _ in range(50):
            if all(node.instruments[i].tick_size == Decimal("0.001") for i in pm_ids):
                break
            await asyncio.sleep(0.1)
        assert all(node.instruments[i].tick_size == Decimal("0.001") for i in pm_ids)
        assert {p.poly_yes.tick_size for p in node.strategy.pairs.values()
                if p.poly_yes.market_id == twin.polymarket_market_id} == {Decimal("0.001")}
        # Prometheus: the executions, fills and feed messages are counted
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{node.metrics.port}/metrics") as r:
                page = await r.text()
        assert 'arbkit_executions_total{status="FILLED",strategy="cross_venue"}' in page
        assert "arbkit_fills_total" in page and "arbkit_feed_messages_total" in page and "arbkit_book_age_seconds" in page
        # the operator's control channel answers with the engine's view and the task states
        reply = await ControlClient(control).arequest("status")
        assert reply["breakers"]["polymarket.feed"]["state"] == "running"
        assert reply["recent_reports"]
        assert (await ControlClient(control).arequest("pause")) == {"paused": True}
        before = node.strategy.evaluations
        await asyncio.sleep(1.0)
        assert node.strategy.evaluations == before, "a paused node must not evaluate (nor journal a denial per update)"
    finally:
        await node.stop()
    # nothing reached the venue: the paper backend filled from the snapshots the intents carried
    for venue, accts in runner.accounts.items():
        for a in accts:
            assert runner.engines[venue].orders(account_id=a.account_id) == []
    filled = [r for r in _reports(tmp_path / "paper.journal.sqlite") if r.status.value == "FILLED"]
    assert filled and all(r.profit > 0 for r in filled)


@pytest.mark.slow
async def test_sim_node_restarts_from_its_journal_and_reconciles_clean(sim, tmp_path: Path) -> None:
    """Trade, stop, start again on the same journal: the journal's positions equal the venues'."""
    from arbkit.execution.events import ReconciliationReported

    runner, info = sim
    mappings = tmp_path / "mappings.db"
    await approve_twins(info, mappings)
    journal = tmp_path / "node.journal.sqlite"
    cfg = loads_config(demo_config_text(info, journal, f"ipc://{tmp_path / 'c.ipc'}"), base_dir=tmp_path)
    env = {POLY_KEY_ENV: info["polymarket"]["accounts"][0]["private_key"],
           KALSHI_KEY_ID_ENV: info["kalshi"]["accounts"][0]["key_id"]}

    node = Node(cfg, NodeOptions(mappings_path=mappings, env=env, journal_synchronous="NORMAL"))
    await node.start()
    try:
        await asyncio.sleep(1.0)
        await _dislocate_until(runner, lambda: node.filled_total > 0, 15.0)
        assert node.filled_total > 0, node.status()["strategy"]
    finally:
        await node.stop()
    positions = node.status()["exposure"]
    assert positions, "a filled execution leaves positions on both venues"

    again = Node(cfg, NodeOptions(mappings_path=mappings, env=env, journal_synchronous="NORMAL"))
    await again.start()
    await again.stop()
    j = Journal.open(journal, readonly=True)
    try:
        recs = [msgspec.json.decode(r.payload, type=ReconciliationReported) for r in j.replay(kinds=["ReconciliationReported"])]
    finally:
        j.close_sync()
    second = recs[-2:]
    assert {r.venue.value for r in second} == {"polymarket", "kalshi"}
    assert all(r.differences == [] for r in second), [r.differences for r in second]


async def test_a_breaker_trips_the_kill_switch_and_trading_stops(sim, tmp_path: Path) -> None:
    """A supervised task that keeps crashing opens its breaker; the node's kill switch trips, it is
    journaled, and the strategy is no longer asked for intents."""
    from arbkit.core.events import BreakerOpened, KillSwitchTripped

    runner, info = sim
    mappings = tmp_path / "mappings.db"
    await approve_twins(info, mappings)
    journal = tmp_path / "node.journal.sqlite"
    cfg = loads_config(demo_config_text(info, journal, f"ipc://{tmp_path / 'c.ipc'}"), base_dir=tmp_path)
    env = {POLY_KEY_ENV: info["polymarket"]["accounts"][0]["private_key"],
           KALSHI_KEY_ID_ENV: info["kalshi"]["accounts"][0]["key_id"]}
    node = Node(cfg, NodeOptions(mappings_path=mappings, env=env, journal_synchronous="NORMAL"))
    await node.start()
    try:
        node.supervisor.backoff_base_s = 0.05

        async def broken() -> None:
            raise RuntimeError("boom")

        node.supervisor.add_task("test.broken", broken)
        for _ in range(100):
            if node.killswitch.tripped:
                break
            await asyncio.sleep(0.05)
        assert node.killswitch.tripped and "test.broken" in node.killswitch.reason
        st = node.status()
        assert st["killswitch"]["tripped"] and st["breakers"]["test.broken"] == "breaker_open"
        before, sent = node.strategy.evaluations, node.submitted
        runner.scenario.dislocate(venue="polymarket", market_id=_twins(runner)[0].polymarket_market_id, shift=Decimal("-0.08"))
        await asyncio.sleep(1.0)
        assert node.strategy.evaluations == before
        assert node.submitted == sent
    finally:
        await node.stop()
    j = Journal.open(journal, readonly=True)
    try:
        kinds = {r.kind for r in j.replay(kinds=["BreakerOpened", "KillSwitchTripped"])}
    finally:
        j.close_sync()
    assert kinds == {BreakerOpened.__name__, KillSwitchTripped.__name__}
