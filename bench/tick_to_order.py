"""Tick to order: from the simulator writing the frame that opens an edge to the simulator
receiving our signed order requests, with the node built as ``arbkit run`` builds it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import ROOT, percentiles

METHOD = (
    "The venue simulator (SimRunner, Polymarket CLOB V2 + Kalshi trade API v2, 'quiet' scenario with "
    "its motion stopped and deep static quotes on one twin pair) runs in a child process "
    "(bench/_t2o_sim.py); the node runs in this process exactly as `arbkit run` builds it: "
    "runtime.node.Node from the demo's sim configuration (cross_venue, parallel IOC legs, "
    "[node] journal_fsync default = group, journal on disk), with the risk limits and order-rate limits "
    "raised and cooldown_ms = 0 so that 1,000 opportunities fit in one run (the checks still run). "
    "Kalshi signs with an Ed25519 key (the simulator registers its public key). Each opportunity: the "
    "simulator places one maker order that opens a ~5 cent fee-positive edge (alternately a low "
    "Polymarket YES ask and a high Kalshi YES bid: one engine operation, one frame); it stamps "
    "time.time_ns() when its market stream hands that frame to the WebSocket and when its HTTP server "
    "reads the first bytes of each of our order requests off the socket; the node stamps its stages "
    "with the same CLOCK_REALTIME. Next opportunity once the execution has reported and both books moved again (the strategy's rule after our own trade), at most one every 110 ms (Kalshi's 10 writes/s). "
    "Stages (p50 of each stage's own samples, so they do not add up exactly): wire = frame written -> "
    "frame handed to the feed (kernel loopback, the node's wake, the websockets client's read); parse+book = feed "
    "decode and book apply (one flat loop: parsing is not stamped apart); bus = book published -> "
    "strategy called (the coalescing topic's queued subscriber); evaluate = cross_venue evaluation and "
    "intent construction; risk = IntentReceived journaled + the risk checks; sign = saga creation, its task's "
    "start, LegSubmitted journaled (and its 'order sent' log line) + order build (Polymarket: EIP-712 signature; Kalshi: request body); journal = OrderPrepared "
    "appended + the pre-send barrier (the records written to the journal's pre-send log); handoff = barrier -> each order "
    "handed to its backend; http = handed -> the simulator reads the request (gateway body/headers, Kalshi "
    "Ed25519 request signature, aiohttp client, kernel, simulator wake)."
)
TARGETS = {"polymarket_p50_us": ("<=", 150.0), "polymarket_p99_us": ("<=", 400.0), "kalshi_p50_us": ("<=", 250.0)}


def run(quick: bool) -> dict:
    n = int(os.environ.get("T2O_N", 0)) or (120 if quick else 1000)
    presend = os.environ.get("T2O_PRESEND", "1") != "0"
    if not presend:  # comparison only: the journal as it was before its pre-send log
        import functools

        from arbkit.journal import store

        store.Journal.open = functools.partial(store.Journal.open.__func__, store.Journal, presend_log=False)  # type: ignore[method-assign]
    out = asyncio.run(_run(n, kalshi_key=os.environ.get("ARBKIT_BENCH_KALSHI_KEY", "ed25519")))
    out["journal_presend_log"] = presend
    out["load_average_1m"] = round(os.getloadavg()[0], 2)  # the machine is shared: read figures with it
    return out


async def _run(n: int, kalshi_key: str) -> dict:
    import aiohttp

    from arbkit.core.enums import Venue
    from arbkit.runtime.config import loads_config
    from arbkit.runtime.demo import KALSHI_KEY_ID_ENV, POLY_KEY_ENV, approve_twins, demo_config_text
    from arbkit.runtime.logging import configure_logging, reset_logging
    from arbkit.runtime.node import Node, NodeOptions

    with tempfile.TemporaryDirectory(prefix="arbkit-t2o-") as d:
        tmp = Path(d)
        info_file = tmp / "sim.json"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        log = open(tmp / "sim.log", "wb")
        sim = subprocess.Popen([sys.executable, "-m", "bench._t2o_sim", "--info-file", str(info_file), "--kalshi-key", kalshi_key],
                               cwd=str(ROOT), env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        node: Node | None = None
        try:
            info = await _wait_info(sim, info_file, tmp / "sim.log")
            mappings = tmp / "mappings.db"
            await approve_twins(info, mappings)
            text = demo_config_text(info, tmp / "journal.sqlite", "")
            text = _bench_config(text)
            cfg = loads_config(text, base_dir=tmp, source="tick_to_order")
            node_env = {POLY_KEY_ENV: info["polymarket"]["accounts"][0]["private_key"],
                        KALSHI_KEY_ID_ENV: info["kalshi"]["accounts"][0]["key_id"]}
            node_log = open(tmp / "node.log", "a", encoding="utf-8")  # as `arbkit run` logs under its dashboard
            node = Node(cfg, NodeOptions(mappings_path=mappings, env=node_env))
            configure_logging(cfg.node.log_level.value, json=cfg.node.log_json, stream=node_log)
            await node.start()
            assert node.engine is not None
            engine = node.engine
            now = time.time_ns
            prepared: dict[Venue, int] = {}
            handed: dict[Venue, int] = {}
            eids: list[str] = []
            for venue, backend in engine.backends.items():
                orig = getattr(backend, "prepare", None)
                if orig is None:
                    continue

                async def timed_prepare(req: Any, _orig: Any = orig, _v: Venue = venue) -> Any:
                    r = await _orig(req)
                    prepared[_v] = now()
                    return r

                backend.prepare = timed_prepare  # type: ignore[method-assign]

            def on_sent(req: Any) -> None:
                v = req.instrument.venue
                if v not in handed:
                    handed[v] = now()
                if not eids or eids[-1] != req.execution_id:
                    eids.append(req.execution_id)

            engine.sent_hook = on_sent
            rows: list[dict[str, Any]] = []
            misses: dict[str, int] = {}
            await asyncio.sleep(1.5)  # books snapshotted and fresh on both feeds
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
                drv = info["driver_url"]
                next_at = 0.0
                for i in range(n):
                    # paced under Kalshi's Basic-tier 10 writes/s (the gateway's token bucket would
                    # otherwise hold our order, and that wait is not the path being measured)
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))
                    next_at = time.monotonic() + PACE_S
                    venue = ("polymarket", "kalshi")[i % 2]
                    prepared.clear()
                    handed.clear()
                    before = len(eids)
                    async with s.post(drv + "/trigger", json={"venue": venue}) as r:
                        r.raise_for_status()
                    async with s.post(drv + "/result") as r:
                        sim_rec = await r.json()
                    if len(eids) == before:
                        why = node.last_denial
                        misses[why or "no intent"] = misses.get(why or "no intent", 0) + 1
                        continue
                    report = await asyncio.wait_for(engine.wait(eids[-1]), 10)
                    rows.append({"trigger": venue, "sim": sim_rec, "timings": report.timings,
                                 "prepared": dict(prepared), "handed": dict(handed), "status": report.status.value})
                    async with s.post(drv + "/touch") as r:  # both books update after our trade
                        r.raise_for_status()
                async with s.post(drv + "/stop") as r:
                    pass
        finally:
            if node is not None:
                await node.stop()
                reset_logging()
                node_log.close()
            try:
                sim.wait(10)
            except subprocess.TimeoutExpired:
                sim.kill()
                sim.wait(5)
            log.close()
    return _figures(n, rows, misses, kalshi_key)


def _bench_config(text: str) -> str:
    """The demo's sim configuration with limits wide enough for 1,000 back-to-back opportunities."""
    repl = {
        'max_order_notional = "100"': 'max_order_notional = "1000"',
        'max_market_exposure = "500"': 'max_market_exposure = "1000000"',
        'max_venue_exposure = "2000"': 'max_venue_exposure = "1000000"',
        'max_total_exposure = "3000"': 'max_total_exposure = "1000000"',
        'daily_loss_limit = "200"': 'daily_loss_limit = "100000"',
        "polymarket = 20": "polymarket = 100000",
        "kalshi = 10": "kalshi = 100000",
        'max_size = "20"': 'max_size = "10"\ncooldown_ms = 0',
        'control_url = ""\n': "",
    }
    for a, b in repl.items():
        if a not in text:
            raise RuntimeError(f"tick_to_order: the demo configuration changed ({a!r} not found)")
        text = text.replace(a, b)
    return text


async def _wait_info(sim: subprocess.Popen, info_file: Path, log: Path) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if sim.poll() is not None:
            raise RuntimeError(f"simulator exited: {log.read_text(errors='replace')[-2000:]}")
        if info_file.exists() and info_file.stat().st_size:
            try:
                return json.loads(info_file.read_text())
            except ValueError:
                pass
        await asyncio.sleep(0.05)
    raise RuntimeError("simulator did not start")


PACE_S = 0.11
STAGES = ("wire", "parse_book", "bus", "evaluate", "risk", "sign", "journal", "handoff", "http")


def _figures(n: int, rows: list[dict], misses: dict[str, int], kalshi_key: str) -> dict:
    from arbkit.core.enums import Venue

    totals: dict[str, list[int]] = {"polymarket": [], "kalshi": []}
    by_trigger: dict[str, list[int]] = {}
    # stages up to the intent belong to the frame (per triggering venue); the rest to each order
    common: dict[str, dict[str, list[int]]] = {v: {s: [] for s in STAGES[:5]} for v in ("polymarket", "kalshi")}
    per_order: dict[str, dict[str, list[int]]] = {v: {s: [] for s in STAGES[5:]} for v in ("polymarket", "kalshi")}
    statuses: dict[str, int] = {}
    spans = {"wire": ("w", "s"), "parse_book": ("s", "b"), "bus": ("b", "e"), "evaluate": ("e", "i"), "risk": ("i", "r"),
             "sign": ("r", "p"), "journal": ("p", "j"), "handoff": ("j", "h"), "http": ("h", "x")}
    for row in rows:
        sim, t = row["sim"], row["timings"]
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
        w = sim["frame_ns"]
        if not w:
            continue
        base = {"w": w, "s": t.socket_arrival_ns, "b": t.book_updated_ns, "e": t.evaluated_ns, "i": t.intent_created_ns,
                "r": t.risk_checked_ns}
        for st in STAGES[:5]:
            a, b = spans[st]
            if base[a] and base[b] and base[b] >= base[a]:
                common[row["trigger"]][st].append(base[b] - base[a])
        for vname, venue in (("polymarket", Venue.POLYMARKET), ("kalshi", Venue.KALSHI)):
            rx = sim["rx_ns"].get(vname)
            if not rx:
                continue
            totals[vname].append(rx - w)
            by_trigger.setdefault(f"{vname}_from_{row['trigger']}_frame", []).append(rx - w)
            pts = dict(base, p=row["prepared"].get(venue, 0), j=t.journaled_ns, h=row["handed"].get(venue, 0), x=rx)
            for st in STAGES[5:]:
                a, b = spans[st]
                if pts[a] and pts[b] and pts[b] >= pts[a]:
                    per_order[vname][st].append(pts[b] - pts[a])
    out: dict[str, Any] = {"opportunities": n, "executions": len(rows), "statuses": statuses,
                           "missed": misses, "kalshi_key": kalshi_key}
    for vname, samples in totals.items():
        if samples:
            p = percentiles(samples, (50, 90, 99))
            out[f"{vname}_n"] = len(samples)
            for k in ("p50_us", "p90_us", "p99_us"):
                out[f"{vname}_{k}"] = p[k]
    for key, samples in sorted(by_trigger.items()):
        out[f"{key}_p50_us"] = percentiles(samples, (50,))["p50_us"]
    for trig, per in common.items():
        for st, samples in per.items():
            if samples:
                out[f"{trig}_frame_{st}_p50_us"] = percentiles(samples, (50,))["p50_us"]
    for vname, per in per_order.items():
        for st, samples in per.items():
            if samples:
                out[f"{vname}_order_{st}_p50_us"] = percentiles(samples, (50,))["p50_us"]
    out["socket_book_measured"] = sum(len(c["parse_book"]) for c in common.values())
    return out
