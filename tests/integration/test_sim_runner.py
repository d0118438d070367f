"""`arbkit sim` as a real subprocess: info document, admin endpoint over loopback, clean SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ARBKIT = [sys.executable, "-m", "arbkit.cli"]


def _start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, dict, Path]:
    info_file = tmp_path / "sim-info.json"
    proc = subprocess.Popen(
        [*ARBKIT, "sim", *args, "--info-file", str(info_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while not info_file.exists():
        if proc.poll() is not None:
            raise AssertionError(f"arbkit sim exited {proc.returncode}: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("arbkit sim did not write its info file within 30 s")
        time.sleep(0.05)
    info = json.loads(info_file.read_text())
    return proc, info, info_file


def _get(url: str) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _post(url: str, body: object) -> tuple[int, object]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _stop(proc: subprocess.Popen) -> tuple[str, str]:
    proc.send_signal(signal.SIGTERM)
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("arbkit sim did not exit within 15 s of SIGTERM") from None
    assert proc.returncode == 0, err
    return out, err


def test_sim_without_venue_servers_sim_clock_admin_and_sigterm(tmp_path: Path):
    proc, info, info_file = _start(tmp_path, "--venues", "none", "--scenario", "quiet", "--seed", "7", "--sim-clock", "--json")
    try:
        assert stat.S_IMODE(info_file.stat().st_mode) == 0o600
        admin = info["admin_url"]
        assert admin.startswith("http://127.0.0.1:") and info["clock"] == "sim" and info["seed"] == 7
        assert _get(admin + "/health")[1]["ok"] is True
        cat = _get(admin + "/catalogue")[1]
        pm = next(m for m in cat["markets"] if m["venue"] == "polymarket")
        status, book = _get(f"{admin}/books/polymarket/{pm['yes_symbol']}")
        assert status == 200 and book["bids"] and book["asks"]
        _, no_book = _get(f"{admin}/books/polymarket/{pm['market_id']}?outcome=NO")
        assert no_book["bids"][0][0] == str(1 - __import__("decimal").Decimal(book["asks"][0][0]))
        # simulated time moves only when asked
        t0 = _get(admin + "/health")[1]["now_ns"]
        time.sleep(0.3)
        assert _get(admin + "/health")[1]["now_ns"] == t0
        status, body = _post(admin + "/time/advance", {"seconds": 5})
        assert status == 200 and body["now_ns"] == t0 + 5 * 10**9
        assert _get(admin + "/scenario")[1]["step"] == 5  # tick_s = 1.0 in "quiet"
        # faults: inject, list, remove; bad ones are refused with a reason
        status, body = _post(admin + "/faults", {"kind": "WS_FREEZE", "venue": "polymarket", "duration_s": 2})
        assert status == 200 and body["ids"] == ["f1"]
        assert [f["id"] for f in _get(admin + "/faults")[1]] == ["f1"]
        status, body = _post(admin + "/faults", {"kind": "NOT_A_FAULT"})
        assert status == 400 and "invalid fault" in body["error"]
        req = urllib.request.Request(admin + "/faults/f1", method="DELETE")
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200
        # dislocation and account state of the background market maker
        status, rec = _post(admin + "/dislocate", {"venue": "kalshi"})
        assert status == 200 and rec["venue"] == "kalshi"
        status, acct = _get(admin + "/accounts/kalshi/sim-mm")
        assert status == 200 and acct["balances"] and acct["open_orders"]
        assert _get(admin + "/accounts/kalshi/nobody")[0] == 404
        assert _get(admin + "/books/polymarket/nope")[0] == 404
        assert isinstance(_get(admin + "/trades/polymarket")[1], list)
        # market status and tick size through the admin endpoint
        status, body = _post(admin + "/halt", {"venue": "polymarket", "market_id": pm["market_id"], "halted": True})
        assert status == 200 and body["halted"] is True
        assert _post(admin + "/halt", {"venue": "polymarket", "market_id": "nope"})[0] == 404
        status, body = _post(admin + "/tick-size", {"venue": "polymarket", "market_id": pm["market_id"], "tick_size": "0.001"})
        assert status == 200 and (body["old_tick_size"], body["tick_size"]) == ("0.01", "0.001")
        assert _post(admin + "/tick-size", {"venue": "polymarket", "market_id": pm["market_id"], "tick_size": "2"})[0] == 400
        assert _post(admin + "/tick-size", {"venue": "nasdaq", "market_id": "x", "tick_size": "0.1"})[0] == 400
    finally:
        if proc.poll() is None:
            out, _ = _stop(proc)
            assert json.loads(out.splitlines()[0]) == info  # with --json, stdout carries the same document


def test_sim_live_clock_refuses_advance_and_admin_shutdown(tmp_path: Path):
    proc, info, _ = _start(tmp_path, "run", "--venues", "none", "--scenario", "demo", "--seed", "1")
    try:
        admin = info["admin_url"]
        assert info["clock"] == "live"
        status, body = _post(admin + "/time/advance", {"seconds": 1})
        assert status == 409 and "live" in body["error"]
        status, _ = _post(admin + "/shutdown", {})
        assert status == 200
        proc.wait(timeout=15)
        assert proc.returncode == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_bad_arguments_fail_with_a_clear_message(tmp_path: Path):
    r = subprocess.run([*ARBKIT, "sim", "--venues", "nasdaq"], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "nasdaq" in r.stderr
    r = subprocess.run([*ARBKIT, "sim", "--venues", "none", "--scenario", "nope"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "unknown scenario" in r.stderr


def test_sim_with_both_venue_servers_writes_the_issue_document(tmp_path: Path):
    proc, info, _ = _start(tmp_path, "--venues", "polymarket,kalshi", "--scenario", "demo", "--seed", "3")
    key_paths: list[str] = []
    try:
        pm, ks = info["polymarket"], info["kalshi"]
        for k in ("rest_url", "ws_market_url", "ws_user_url"):
            assert pm[k].split("://")[1].startswith("127.0.0.1:")
        assert pm["chain_id"] == 137
        acct = pm["accounts"][0]
        assert acct["private_key"].startswith("0x") and len(acct["private_key"]) == 66 and len(acct["address"]) == 42
        m = pm["markets"][0]
        assert {"condition_id", "question", "neg_risk", "tick_size", "tokens"} <= set(m)
        assert {t["outcome"] for t in m["tokens"]} == {"Yes", "No"}
        assert ks["rest_url"].startswith("http://127.0.0.1:") and ks["ws_url"].startswith("ws://127.0.0.1:")
        for a in ks["accounts"]:
            key_paths.append(a["private_key_path"])
            assert a["key_id"] and stat.S_IMODE(os.stat(a["private_key_path"]).st_mode) == 0o600
            assert "BEGIN PRIVATE KEY" in Path(a["private_key_path"]).read_text()
        assert {"ticker", "title"} <= set(ks["markets"][0])
        # the funded test account is visible through the admin endpoint
        status, state = _get(f"{info['admin_url']}/accounts/polymarket/{acct['address']}")
        assert status == 200 and state["balances"][0]["total"] == "10000.000000"
    finally:
        if proc.poll() is None:
            _stop(proc)
    # the temporary key directory is removed on shutdown
    assert key_paths and not any(Path(p).exists() for p in key_paths)


def test_sigint_also_stops_cleanly(tmp_path: Path):
    proc, _, _ = _start(tmp_path, "--venues", "none", "--scenario", "quiet")
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=15)
    assert proc.returncode == 0


def test_duration_stops_by_itself(tmp_path: Path):
    info_file = tmp_path / "i.json"
    t0 = time.monotonic()
    r = subprocess.run(
        [*ARBKIT, "sim", "--venues", "none", "--scenario", "quiet", "--duration", "1", "--info-file", str(info_file)],
        capture_output=True, text=True, timeout=60,
    )
    assert r.returncode == 0, r.stderr
    # the summary names the admin URL and where the keys are, and never prints a test key
    info = json.loads(info_file.read_text())
    assert info["admin_url"] in r.stdout and str(info_file) in r.stdout and "private_key" not in r.stdout
    assert time.monotonic() - t0 >= 1
