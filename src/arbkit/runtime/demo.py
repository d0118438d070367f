"""``arbkit demo``: the whole system on one machine with nothing configured.

1. Start the venue simulator (Polymarket CLOB V2 and Kalshi trade API v2, scenario ``demo``) as a
   child process through the real ``arbkit sim`` command, in its own session, told to die with
   us (``PR_SET_PDEATHSIG``) and to stop by itself after the run (``--duration``) as a last
   resort. Its info document gives the URLs and the generated test accounts.
2. Discover candidate pairs from both venues' market lists (the real mapping workflow), then
   approve the scenario's true twins as *demo approvals*: ``approved_by="demo"``, every warning
   discovery attached acknowledged explicitly. Near misses stay pending and never trade.
3. Write the node configuration (``demo.toml`` in the run directory: sim venues, all risk
   limits set) and run the node through the real venue packages (mode ``sim``), with every
   strategy on one host: cross-venue on the approved twins, triangles on KuCoin, complete sets on
   the multi-outcome event (both venues) and complete-set market making on one binary market.
4. Show the dashboard for ``--duration`` seconds or until Ctrl-C/SIGTERM. So that a short run
   has something to show, the demo asks the simulator's admin endpoint for a dislocation on one
   twin every ``dislocate_every_s`` seconds and an underpricing of the multi-outcome event every
   four times that (the scenario also makes its own, at random).
5. Stop cleanly (sagas drained, supervisor shut down, journal closed), stop the simulator and
   make sure it is gone, write the HTML report, and print a summary with the paths.

With ``keep_sim`` (``arbkit demo --keep-sim``) the simulator is started detached (no lifetime, not
tied to the demo process) and left running after a completed run, so that ``demo.toml`` can be
run again as written: ``. RUN_DIR/demo.env && arbkit run --config RUN_DIR/demo.toml --mappings
RUN_DIR/mappings.db`` (``demo.env``, mode 0600, holds the simulator's test account in the
variables ``demo.toml`` names). The summary prints these commands and how to stop the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import datetime as _dt
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import aiohttp

log = logging.getLogger("arbkit.demo")

POLY_KEY_ENV = "ARBKIT_DEMO_POLYMARKET_PRIVATE_KEY"
KALSHI_KEY_ID_ENV = "ARBKIT_DEMO_KALSHI_API_KEY_ID"
KUCOIN_ENV = ("ARBKIT_DEMO_KUCOIN_API_KEY", "ARBKIT_DEMO_KUCOIN_API_SECRET", "ARBKIT_DEMO_KUCOIN_API_PASSPHRASE")
SIM_VENUES = "polymarket,kalshi,kucoin"  # KuCoin for the triangles beside the cross-venue trades
SIM_START_TIMEOUT_S = 45.0


class DemoError(RuntimeError):
    pass


@dataclass
class DemoOptions:
    duration_s: float | None = 60.0
    seed: int = 1
    out_dir: Path | None = None
    journal: Path | None = None
    html: Path | None = None
    dislocate_every_s: float = 6.0
    plain: bool | None = None  # None: plain lines when stdout is not a terminal
    keep_sim: bool = False  # leave the simulator running after the run (for `arbkit run --config demo.toml`)
    record_dir: Path | None = None  # record the venues' frames, REST snapshots and metadata (arbkit backtest)
    stream: TextIO = field(default_factory=lambda: sys.stdout)


@dataclass
class DemoResult:
    run_id: str
    out_dir: Path
    journal: Path
    html: Path | None
    config: Path
    mappings: Path
    sim_pid: int | None
    status: dict[str, Any]
    approved: list[dict[str, Any]]
    report_error: str = ""
    interrupted: bool = False
    env_file: Path | None = None
    sim_kept: bool = False  # the simulator is still running (keep_sim)


# --- the simulator child --------------------------------------------------------------------------


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: SIGTERM the simulator when the demo process dies, whatever kills it."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class SimProcess:
    """``arbkit sim`` as a child process, owned by the demo."""

    def __init__(self, run_dir: Path, run_id: str, seed: int, lifetime_s: float | None, detached: bool = False,
                 venues: str = SIM_VENUES) -> None:
        self.venues = venues
        self.info_file = run_dir / f"sim-{run_id}.json"
        self.log_file = run_dir / "sim.log"
        self.seed = seed
        self.lifetime_s = lifetime_s
        self.detached = detached  # outlives the demo (keep_sim): no death signal with the parent
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> None:
        cmd = [sys.executable, "-m", "arbkit.cli", "sim", "--venues", self.venues, "--scenario", "demo",
               "--seed", str(self.seed), "--info-file", str(self.info_file), "--log-level", "WARNING"]
        if self.lifetime_s is not None:
            cmd += ["--duration", f"{self.lifetime_s:.0f}"]
        logf = open(self.log_file, "ab")
        try:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") and not self.detached else None,
            )
        finally:
            logf.close()

    async def wait_ready(self, timeout_s: float = SIM_START_TIMEOUT_S) -> dict[str, Any]:
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                tail = self.log_file.read_text(errors="replace")[-2000:] if self.log_file.exists() else ""
                raise DemoError(f"the simulator exited with code {self.proc.returncode}:\n{tail}")
            if self.info_file.exists() and self.info_file.stat().st_size > 0:
                try:
                    self.info = json.loads(self.info_file.read_text())
                    break
                except ValueError:
                    pass  # still being written
            if time.monotonic() > deadline:
                raise DemoError(f"the simulator did not start within {timeout_s:.0f} s (log: {self.log_file})")
            await asyncio.sleep(0.1)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as s:
            while True:
                try:
                    async with s.get(self.info["admin_url"] + "/health") as r:
                        if r.status == 200:
                            return self.info
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    raise DemoError("the simulator's admin endpoint did not answer")
                await asyncio.sleep(0.1)

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, wait, SIGKILL if needed; reaps the child. Idempotent."""
        p = self.proc
        if p is None or p.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)


def write_env_file(path: Path, info: dict[str, Any]) -> None:
    """``export`` lines for the variables ``demo.toml`` names (the simulator's first test account),
    written with mode 0600: ``. demo.env`` before ``arbkit run --config demo.toml``."""
    values = {POLY_KEY_ENV: info["polymarket"]["accounts"][0]["private_key"],
              KALSHI_KEY_ID_ENV: info["kalshi"]["accounts"][0]["key_id"], **kucoin_env(info)}
    lines = ["# Written by `arbkit demo`: the simulator's test account for demo.toml. Load with:  . THIS_FILE"]
    lines += [f"export {k}='{v}'" for k, v in values.items() if "'" not in v]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)


def kucoin_env(info: dict[str, Any]) -> dict[str, str]:
    """The simulator's first KuCoin test account under the names ``demo.toml`` gives (none when
    the simulator serves no KuCoin)."""
    if "kucoin" not in info:
        return {}
    a = info["kucoin"]["accounts"][0]
    return dict(zip(KUCOIN_ENV, (a["api_key"], a["api_secret"], a["passphrase"])))


def rerun_commands(res: "DemoResult") -> list[str]:
    """The shell commands that run ``demo.toml`` again against the kept simulator."""
    return [f". {res.env_file} && arbkit run --config {res.config} --mappings {res.mappings}",
            f"kill {res.sim_pid}    # stops the simulator"]


# --- approvals ------------------------------------------------------------------------------------


async def approve_twins(info: dict[str, Any], mappings_path: Path) -> list[dict[str, Any]]:
    """Discover pairs from the venues' lists, then approve the scenario's true twins as demo
    approvals (every warning acknowledged by code). Returns what was approved."""
    from arbkit.mapping.discover import discover, sync_to_store
    from arbkit.mapping.reader import read_both
    from arbkit.mapping.store import MappingStatus, MappingStore, Polarity

    pm, ks = info["polymarket"], info["kalshi"]
    lists = await read_both(pm["rest_url"], ks["rest_url"], pm.get("gamma_url"))
    candidates = discover(lists.polymarket, lists.kalshi)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        async with s.get(info["admin_url"] + "/catalogue") as r:
            catalogue = await r.json()
    tokens = {m["condition_id"]: m for m in pm.get("markets", [])}
    approved: list[dict[str, Any]] = []
    store = MappingStore(mappings_path)
    try:
        sync_to_store(store, candidates, actor="demo")
        for pair in catalogue.get("pairs", []):
            if pair.get("relation") != "twin":
                continue
            cid, ticker = pair["polymarket_market_id"], pair["kalshi_market_id"]
            m = store.find(cid, ticker)
            found = m is not None
            if m is None:
                # discovery missed it: record the catalogue's pairing so it can still be reviewed
                market = tokens.get(cid)
                if market is None:
                    continue
                toks = {t["outcome"].lower(): t["token_id"] for t in market["tokens"]}
                m = store.add(poly_condition_id=cid, poly_yes_token=toks["yes"], poly_no_token=toks["no"],
                              kalshi_ticker=ticker, poly_title=market.get("question", ""), actor="demo")
            if m.polarity is not Polarity.SAME:
                # a true twin is the same contract with the same polarity: never approve a
                # pairing that says otherwise, even in a demo
                log.warning("twin %s <-> %s: discovery proposed polarity %s; not approved", cid, ticker, m.polarity.value)
                continue
            if m.status is MappingStatus.REJECTED:
                m = store.reopen(m.id, by="demo", reason="demo: the scenario says this is a true twin")
            if m.status is not MappingStatus.APPROVED:
                m = store.approve(m.id, by="demo", ack=m.warning_codes)
            approved.append({"id": m.id, "polymarket": cid, "kalshi": ticker, "title": m.poly_title,
                             "acknowledged": list(m.acknowledged), "discovered": found})
    finally:
        store.close()
    return approved


# --- configuration --------------------------------------------------------------------------------


async def demo_markets(info: dict[str, Any]) -> dict[str, Any]:
    """What the demo's set strategies trade, read from the simulator's catalogue: the multi-outcome
    events (Kalshi event tickers of the mutually exclusive ones, known exhaustive in this scenario)
    and the binary Polymarket market the market maker quotes — one with no twin (the cross-venue
    strategy does not trade it) that the scenario does not resolve during the run."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as s:
        async with s.get(info["admin_url"] + "/catalogue") as r:
            cat = await r.json()
        async with s.get(info["admin_url"] + "/scenario") as r:
            state = await r.json()
    resolving = set(state.get("resolutions_scheduled", []))
    twinned = {p["polymarket_market_id"] for p in cat.get("pairs", []) if p.get("relation") == "twin"}
    multi = {e["key"] for e in cat.get("events", []) if e.get("neg_risk") or e.get("mutually_exclusive")}
    mm = sorted((m for m in cat.get("markets", []) if m["venue"] == "polymarket" and not m.get("neg_risk")
                 and m["market_id"] not in twinned and m["event_key"] not in resolving and m["market_id"] not in resolving),
                key=lambda m: m["market_id"])
    kalshi_events = sorted({(m.get("venue_meta") or {}).get("event_ticker", "") for m in cat.get("markets", [])
                            if m["venue"] == "kalshi" and m["event_key"] in multi} - {""})
    return {"mm_market": mm[0] if mm else None, "kalshi_events": kalshi_events, "multi_outcome_events": sorted(multi)}


def _sets_text(markets: dict[str, Any]) -> str:
    """complete_set on both venues' multi-outcome events, and complete_set_mm on one binary market."""
    venues = '["polymarket", "kalshi"]' if markets.get("kalshi_events") else '["polymarket"]'
    out = f"""
[strategies.complete_set]
enabled = true
min_edge_bps = "100"
max_sets = "10"
venues = {venues}
kalshi_events = {json.dumps(markets.get("kalshi_events", []))}
max_locked = "300"

[risk.strategies.complete_set]
slots = 1
max_exposure = "150"
"""
    m = markets.get("mm_market")
    if m:
        out += f"""
[strategies.complete_set_mm]
enabled = true
target_spread = "0.02"
quote_size = "10"
max_position = "30"
max_unmatched = "20"
skew = "0.001"
min_quote_life_ms = 500
max_orders_per_s = "10"
[[strategies.complete_set_mm.markets]]
condition_id = {json.dumps(m["market_id"])}
yes_token_id = {json.dumps(m["yes_symbol"])}
no_token_id = {json.dumps(m["no_symbol"])}
title = {json.dumps(m["title"])}
"""
    return out


def demo_config_text(info: dict[str, Any], journal: Path, control_url: str, *, markets: dict[str, Any] | None = None) -> str:
    """The node configuration the demo runs (also written to the run directory). With
    ``markets`` (:func:`demo_markets`) the set strategies run beside cross-venue and triangles."""
    pm, ks = info["polymarket"], info["kalshi"]
    kkey = ks["accounts"][0]["private_key_path"]
    return f"""# Written by `arbkit demo`: the node against the local simulator (mode "sim").
# Run it again while its simulator is up (`arbkit demo --keep-sim` leaves it running):
#   . ./demo.env && arbkit run --config demo.toml --mappings mappings.db   (in the run directory)
# demo.env sets {POLY_KEY_ENV} and {KALSHI_KEY_ID_ENV}{", " + ", ".join(KUCOIN_ENV) if "kucoin" in info else ""} (the simulator's test account).

[node]
name = "demo"
journal_path = {json.dumps(str(journal))}
log_level = "info"
log_json = true
control_url = {json.dumps(control_url)}

[venues.polymarket]
mode = "sim"
rest_url = {json.dumps(pm["rest_url"])}
ws_market_url = {json.dumps(pm["ws_market_url"])}
ws_user_url = {json.dumps(pm["ws_user_url"])}
chain_id = {int(pm.get("chain_id", 137))}
private_key_env = "{POLY_KEY_ENV}"

[venues.kalshi]
mode = "sim"
rest_url = {json.dumps(ks["rest_url"])}
ws_url = {json.dumps(ks["ws_url"])}
api_key_id_env = "{KALSHI_KEY_ID_ENV}"
private_key_file = {json.dumps(str(kkey))}

[risk]
max_order_notional = "100"
max_market_exposure = "500"
max_venue_exposure = "2000"
max_total_exposure = "3000"
daily_loss_limit = "200"
max_concurrent_executions = 2
max_book_age_ms = 5000

[risk.order_rate_limits]
polymarket = 20
kalshi = 10
{"kucoin = 30" + chr(10) if "kucoin" in info else ""}
[strategies.cross_venue]
enabled = true
min_edge_bps = 100
max_size = "20"
safety_margin_bps = "10"
{_triangular_text(info)}{_sets_text(markets) if markets else ""}
[execution]
two_leg_mode = "parallel"
leg_timeout_ms = 3000
hedge_policy = "market"
"""


def _triangular_text(info: dict[str, Any]) -> str:
    """KuCoin (mode sim) and the triangular strategy, when the simulator serves KuCoin: every
    triangle over the demo scenario's pairs from USDT, 50 USDT at most, 20 bps after fees."""
    if "kucoin" not in info:
        return ""
    kc = info["kucoin"]
    key, secret, passphrase = KUCOIN_ENV
    return f"""
[venues.kucoin]
mode = "sim"
rest_url = {json.dumps(kc["rest_url"])}
ws_url = {json.dumps(kc["ws_url"])}
api_key_env = "{key}"
api_secret_env = "{secret}"
api_passphrase_env = "{passphrase}"

[strategies.triangular]
enabled = true
start_currencies = ["USDT"]
max_start = {{ USDT = "50" }}
min_edge_bps = "20"
max_levels = 10
"""


# --- the run --------------------------------------------------------------------------------------


async def _dislocator(info: dict[str, Any], every_s: float, stop: asyncio.Event, log_to: list[dict[str, Any]]) -> None:
    """Ask the simulator for a dislocation on one twin every ``every_s`` seconds (cycling through
    the twins, both venues and both directions), so a short demo shows trades."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as s:
        async with s.get(info["admin_url"] + "/catalogue") as r:
            cat = await r.json()
        twins = [p for p in cat.get("pairs", []) if p.get("relation") == "twin"]
        if not twins:
            return
        i = 0
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s if i else min(3.0, every_s))
            if stop.is_set():
                return
            pair = twins[i % len(twins)]
            venue = ("polymarket", "kalshi")[(i // len(twins)) % 2]
            mid = pair["polymarket_market_id"] if venue == "polymarket" else pair["kalshi_market_id"]
            shift = "-0.08" if (i // (2 * len(twins))) % 2 == 0 else "0.08"
            i += 1
            try:
                async with s.post(info["admin_url"] + "/dislocate", json={"venue": venue, "market_id": mid, "shift": shift}) as r:
                    body = await r.json(content_type=None)
                    log_to.append({"venue": venue, "market_id": mid, "shift": shift, "status": r.status})
                    log.info("demo dislocation %s %s %s -> %s %s", venue, mid, shift, r.status, body)
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                log.warning("demo dislocation failed: %s", exc)


async def _underpricer(info: dict[str, Any], events: list[str], every_s: float, stop: asyncio.Event,
                       log_to: list[dict[str, Any]]) -> None:
    """Ask the simulator to underprice a multi-outcome event (every YES ask drops, their sum falls
    below 1) every ``every_s`` seconds, so a short demo shows complete sets being bought."""
    if not events:
        return
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as s:
        i = 0
        while not stop.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s if i else min(5.0, every_s))
            if stop.is_set():
                return
            key = events[i % len(events)]
            i += 1
            try:
                async with s.post(info["admin_url"] + "/underprice", json={"event_key": key, "shift": "0.03", "steps": 12}) as r:
                    body = await r.json(content_type=None)
                    log_to.append({"event_key": key, "status": r.status})
                    log.info("demo underpricing %s -> %s %s", key, r.status, body)
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                log.warning("demo underpricing failed: %s", exc)


async def _arm_resolutions(info: dict[str, Any]) -> list[dict[str, Any]]:
    """Start the scenario's scheduled resolution (a twin the demo trades resolves during the run)."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as s:
            async with s.post(info["admin_url"] + "/resolutions/arm") as r:
                return list((await r.json()).get("scheduled", []))
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
        log.warning("demo: could not arm the scenario's resolutions: %s", exc)
        return []


async def redeem_settled(info_file: Path, journal: Path, status: dict[str, Any]) -> list[dict[str, Any]]:
    """Redeem the Polymarket winnings the node booked as settlement (capital pending) on the
    simulator's chain, through ``arbkit positions redeem``'s code, into the same journal (so the
    report shows the capital returned). Runs after the node has stopped: the journal has one writer."""
    from arbkit.runtime.positions_cli import run_action

    pending = ((status.get("settlement") or {}).get("capital_pending") or {})
    out: list[dict[str, Any]] = []
    for key in sorted(pending):
        venue, _, cid = key.partition(":")
        if venue != "polymarket":
            continue
        try:
            res = await run_action("redeem", market=cid, amount=None, config=None, info_file=info_file, account=0,
                                   journal=journal, rpc_url=None, route="adapter", approve=True, live=False, yes=True,
                                   timeout_s=15.0, max_fee_gwei=500)
            out.append({"market": cid, "collateral_returned": res["collateral_returned"], "problem": res["problem"]})
        except Exception as exc:  # noqa: BLE001 - the run still succeeded; say why nothing came back
            out.append({"market": cid, "collateral_returned": "0", "problem": f"{type(exc).__name__}: {exc}"})
    return out


def write_report(journal: Path, html: Path) -> str:
    """Write the analytics HTML report (``arbkit report JOURNAL --html FILE``); returns "" or why
    it could not be written (the run itself still succeeded)."""
    try:
        from arbkit.analytics.html import render_html
        from arbkit.analytics.report import build_report
    except ImportError as exc:
        return f"the analytics package is not in this build ({exc})"
    try:
        page = render_html(build_report(journal))
        html.parent.mkdir(parents=True, exist_ok=True)
        html.write_text(page, encoding="utf-8")
    except Exception as exc:  # noqa: BLE001 - report why there is no report, keep the run's result
        return f"report failed: {type(exc).__name__}: {exc}"
    return ""


def default_runs_dir() -> Path:
    """Where demo runs go without ``--out``: the user's data directory (``$XDG_DATA_HOME/arbkit/demo``,
    ``~/.local/share/arbkit/demo`` on Linux), never the current directory, which is often the
    repository (a run holds the simulator's test keys)."""
    from platformdirs import user_data_path

    return user_data_path("arbkit", appauthor=False) / "demo"


def demo_run_dir(out_dir: Path | None, now: _dt.datetime | None = None) -> Path:
    """The run directory: ``out_dir`` as given, else a new ``arbkit-demo-<UTC time>`` under
    :func:`default_runs_dir`."""
    if out_dir is not None:
        return out_dir.resolve()
    stamp = (now or _dt.datetime.now(_dt.timezone.utc)).strftime("%Y%m%d-%H%M%S")
    return (default_runs_dir() / f"arbkit-demo-{stamp}").resolve()


async def run_demo(opts: DemoOptions) -> DemoResult:
    """The whole demo (see the module docstring); logs go to RUN_DIR/node.log."""
    from arbkit.runtime.logging import configure_logging

    out = demo_run_dir(opts.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    journal = (opts.journal or out / "journal.sqlite").resolve()
    html = (opts.html or out / "report.html").resolve()
    mappings = out / "mappings.db"
    cfg_path = out / "demo.toml"
    logfile = open(out / "node.log", "a", encoding="utf-8")
    configure_logging("info", json=True, stream=logfile)
    try:
        return await _run(opts, out, journal, html, mappings, cfg_path)
    finally:
        from arbkit.runtime.logging import reset_logging

        reset_logging()
        logfile.close()


async def _run(opts: DemoOptions, out: Path, journal: Path, html: Path, mappings: Path, cfg_path: Path) -> DemoResult:
    from arbkit.runtime.config import loads_config
    from arbkit.runtime.dashboard import Dashboard
    from arbkit.runtime.node import Node, NodeOptions, run_node

    run_id = uuid.uuid4().hex[:12]
    dash = Dashboard(opts.stream, plain=opts.plain, title=f"arbkit demo  (run {run_id}, seed {opts.seed})")
    dash.line(f"arbkit demo: run directory {out}")
    lifetime = None if opts.duration_s is None or opts.keep_sim else opts.duration_s + 180
    sim = SimProcess(out, run_id, opts.seed, lifetime, detached=opts.keep_sim)
    env_file = out / "demo.env"
    completed = False
    stop = asyncio.Event()
    interrupted = False
    loop = asyncio.get_running_loop()

    def on_signal(sig: int) -> None:
        nonlocal interrupted
        interrupted = True
        stop.set()

    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal, sig)
            installed.append(sig)
    node: Node | None = None
    approved: list[dict[str, Any]] = []
    dislocations: list[dict[str, Any]] = []
    status: dict[str, Any] = {}
    disl_task: asyncio.Task | None = None
    under_task: asyncio.Task | None = None
    underpricings: list[dict[str, Any]] = []
    try:
        dash.line("starting the venue simulator (Polymarket CLOB V2 + Kalshi trade API v2 + KuCoin spot, scenario demo) ...")
        sim.start()
        info = await _until_stopped(sim.wait_ready(), stop)
        dash.line(f"simulator up (pid {sim.pid}); discovering pairs and approving the scenario's true twins ...")
        approved = await _until_stopped(approve_twins(info, mappings), stop)
        for a in approved:
            acks = ", ".join(a["acknowledged"]) or "no warnings"
            dash.line(f"  approved mapping #{a['id']} (by demo; acknowledged: {acks}): {a['title'] or a['polymarket'][:18]} <-> {a['kalshi']}")
        control_url = f"ipc://{out / 'control.ipc'}"
        markets = await _until_stopped(demo_markets(info), stop)
        cfg_path.write_text(demo_config_text(info, journal, control_url, markets=markets))
        write_env_file(env_file, info)
        config = loads_config(cfg_path.read_text(), base_dir=out, source=str(cfg_path))
        env = {POLY_KEY_ENV: info["polymarket"]["accounts"][0]["private_key"],
               KALSHI_KEY_ID_ENV: info["kalshi"]["accounts"][0]["key_id"], **kucoin_env(info)}
        node = Node(config, NodeOptions(mappings_path=mappings, env=env, control_address=control_url,
                                        journal_synchronous="NORMAL", metrics_port=0,
                                        record_dir=opts.record_dir))
        dash.line("starting the node (real venue packages, mode sim) ...")
        await _until_stopped(node.start(), stop)
        await _arm_resolutions(info)
        if opts.dislocate_every_s > 0:
            disl_task = asyncio.create_task(_dislocator(info, opts.dislocate_every_s, stop, dislocations))
            under_task = asyncio.create_task(_underpricer(info, markets["multi_outcome_events"], 4 * opts.dislocate_every_s,
                                                          stop, underpricings))
        dash.start()
        await run_node(node, duration_s=opts.duration_s, stop_event=stop, on_tick=dash.update)
        completed = True
    except (DemoError, asyncio.CancelledError):
        raise
    except Exception as exc:
        log.exception("demo failed")
        raise DemoError(f"{type(exc).__name__}: {exc} (details in {out / 'node.log'})") from exc
    finally:
        stop.set()
        dash.stop()
        for t in (disl_task, under_task):
            if t is not None:
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
        if node is not None:
            dash.line("stopping: draining in-flight executions, shutting the node down ...")
            try:
                await node.stop()
            finally:
                status = node.status()
            if completed and not interrupted:
                for r in await redeem_settled(sim.info_file, journal, status):
                    dash.line(f"  redeemed on chain : {r['collateral_returned']} pUSD from {r['market'][:18]}... {r['problem']}")
        if not (opts.keep_sim and completed):
            sim.stop()
        for sig in installed:
            loop.remove_signal_handler(sig)
    report_error = ""
    if journal.exists():
        dash.line("writing the HTML report ...")
        report_error = await asyncio.to_thread(write_report, journal, html)
    res = DemoResult(run_id=run_id, out_dir=out, journal=journal, html=None if report_error else html, config=cfg_path,
                     mappings=mappings, sim_pid=sim.pid, status=status, approved=approved, report_error=report_error,
                     interrupted=interrupted, env_file=env_file if env_file.exists() else None,
                     sim_kept=opts.keep_sim and completed)
    dash.summary(res, dislocations)
    if res.sim_kept:
        dash.line(f"  simulator         : still running (pid {sim.pid}, --keep-sim); run the node again as written:")
        for cmd in rerun_commands(res):
            dash.line(f"    {cmd}")
    return res


async def _until_stopped(aw: Any, stop: asyncio.Event) -> Any:
    """Await ``aw`` unless Ctrl-C/SIGTERM comes first (then raise KeyboardInterrupt-like DemoError)."""
    task = asyncio.ensure_future(aw)
    waiter = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    if task in done:
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    raise DemoInterrupted("interrupted during start-up")


class DemoInterrupted(DemoError):
    pass
