"""`arbkit mappings` against a running `arbkit sim` (real subprocesses, REST on 127.0.0.1, a real
SQLite store): discover reads both venues' lists, proposes the catalogue's twins for approval and
flags every near miss; approve refuses unacknowledged warnings; only approved mappings are handed
to strategies."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from arbkit.mapping.store import MappingStatus, MappingStore
from arbkit.sim.scenario import load_scenario

ARBKIT = [sys.executable, "-m", "arbkit.cli"]


def _sim(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    info = tmp_path / "sim.json"
    proc = subprocess.Popen([*ARBKIT, "sim", "--scenario", "demo", "--seed", "1", "--info-file", str(info)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not info.exists():
        if proc.poll() is not None:
            raise AssertionError(f"arbkit sim exited {proc.returncode}: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("arbkit sim wrote no info file within 30 s")
        time.sleep(0.05)
    return proc, info


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*ARBKIT, "mappings", *args], capture_output=True, text=True, timeout=60)


def test_discover_list_show_approve_reject_against_the_simulator(tmp_path):
    proc, info = _sim(tmp_path)
    db = str(tmp_path / "mappings.db")
    try:
        r = _run("discover", "--info-file", str(info), "--db", db, "--json")
        assert r.returncode == 0, r.stderr
        rows = [json.loads(line) for line in r.stdout.splitlines()]
        urls = json.loads(info.read_text())
        r2 = _run("discover", "--polymarket-url", urls["polymarket"]["rest_url"], "--kalshi-url",
                  urls["kalshi"]["rest_url"], "--db", db)
        assert r2.returncode == 0, r2.stderr
        assert "unchanged" in r2.stdout and "created" not in r2.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)

    # scored against the scenario's own catalogue (same scenario, same seed)
    cat = load_scenario("demo", 1).catalogue
    twins = {(p.polymarket_market_id, p.kalshi_market_id) for p in cat.pairs if p.relation == "twin"}
    near = {(p.polymarket_market_id, p.kalshi_market_id): p.differences for p in cat.pairs if p.relation == "near_miss"}
    by_key = {(x["polymarket"], x["kalshi"]): x for x in rows}
    approve = {k for k, x in by_key.items() if x["recommendation"] == "approve"}
    assert approve == twins, "every twin recommended, nothing else"
    for key, diffs in near.items():
        x = by_key.get(key)
        assert x is None or (x["recommendation"] != "approve" and set(diffs) <= {w["code"] for w in x["warnings"]}), x
    # the neg-risk outcomes come with their Gamma labels: no cross-outcome pairs
    assert all(x["status"] == "pending" for x in rows)

    twin = next(x for x in rows if x["recommendation"] == "approve")
    flagged = next(x for x in rows if x["polarity"] == "INVERTED")  # ETH "below" near miss
    codes = sorted(w["code"] for w in flagged["warnings"])
    assert codes == ["bound_inclusivity", "polarity"]

    r = _run("approve", str(flagged["id"]), "--by", "alice", "--ack", "polarity", "--db", db)
    assert r.returncode == 1 and "bound_inclusivity" in r.stderr
    r = _run("approve", str(twin["id"]), "--by", "alice", "--db", db)
    assert r.returncode == 0, r.stderr
    r = _run("reject", str(flagged["id"]), "--reason", "strict bounds on both sides: not complements", "--db", db)
    assert r.returncode == 0, r.stderr
    r = _run("approve", str(flagged["id"]), "--by", "alice", "--ack", "polarity,bound_inclusivity", "--db", db)
    assert r.returncode == 1 and "rejected" in r.stderr

    r = _run("list", "--status", "approved", "--db", db)
    assert r.returncode == 0 and f"#{twin['id']}" in r.stdout and "approved by alice" in r.stdout
    r = _run("show", str(flagged["id"]), "--db", db)
    assert r.returncode == 0
    assert "polarity    INVERTED (Polymarket YES = Kalshi NO)" in r.stdout
    assert "bound_inclusivity [different, NOT acknowledged]" in r.stdout
    assert "rejected" in r.stdout and "strict bounds" in r.stdout
    r = _run("show", "999", "--db", db)
    assert r.returncode == 1 and "no mapping with id 999" in r.stderr

    with MappingStore(db) as store:
        assert [m.id for m in store.approved()] == [twin["id"]]
        assert store.get(flagged["id"]).status is MappingStatus.REJECTED


def test_discover_names_an_unreachable_venue(tmp_path):
    r = _run("discover", "--polymarket-url", "http://127.0.0.1:9", "--kalshi-url", "http://127.0.0.1:9/trade-api/v2",
             "--db", str(tmp_path / "m.db"))
    assert r.returncode == 1 and "127.0.0.1:9" in r.stderr
