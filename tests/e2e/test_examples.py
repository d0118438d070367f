"""Every example runs as written (issue 19).

Each example is copied, unchanged, into a temporary directory (its relative paths then land there,
not in the repository) and run with the commands its header gives, for a few seconds:

* ``paper.toml``: ``arbkit run`` with no credentials in the environment at all. It names the real
  venues, so it runs in a network namespace with only a loopback (``unshare -rn``): nothing
  leaves the machine, and the node must still start, say why Kalshi books stay empty, and stop
  cleanly (exit 0).
* ``sim.toml`` and ``paper-sim.toml``: ``arbkit sim --ports polymarket=18101,kalshi=18102,admin=18100
  --info-file --env-file``, ``. var/sim.env``, mappings discovered from the simulator and its true
  twins approved, ``arbkit run``. The fixed ports are taken inside a private network namespace when
  one can be made (no clash with anything else on the machine), else only when they are free.
* ``live.toml``: only ``arbkit config check`` and the refusals of ``arbkit run`` (no ``--live``;
  ``--live`` without secrets; unset risk limits). It never connects anywhere.
* ``arbkit demo --keep-sim``: the simulator stays up and the printed command runs ``demo.toml``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SIM_PORTS = (18100, 18101, 18102)
PY = sys.executable


def _netns_ok() -> bool:
    if not (shutil.which("unshare") and shutil.which("ip")):
        return False
    try:
        r = subprocess.run(["unshare", "-rn", "sh", "-c", "ip link set lo up"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


NETNS = _netns_ok()


def _ports_free(ports: tuple[int, ...]) -> bool:
    for p in ports:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                return False
    return True


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KALSHI_", "POLYMARKET_", "SIM_", "ARBKIT_"))}  # no credentials at all
    env["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + env.get("PYTHONPATH", "")
    env["PY"] = PY
    return env


def _script(body: str, cwd: Path, *, isolate: bool, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run a POSIX shell script (``arbkit`` is the CLI of this checkout) in ``cwd``; inside a
    private network namespace with only loopback when ``isolate``."""
    prologue = 'set -u\narbkit() { "$PY" -m arbkit.cli "$@"; }\n'
    script = cwd / "run.sh"
    script.write_text(prologue + textwrap.dedent(body))
    cmd = ["sh", str(script)]
    if isolate:
        cmd = ["unshare", "-rn", "sh", "-c", f'ip link set lo up && exec sh "{script}"']
    return subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)


def _copy_examples(tmp_path: Path) -> Path:
    dst = tmp_path / "examples"
    shutil.copytree(EXAMPLES, dst)
    return tmp_path


def _filled(journal: Path) -> int:
    """FILLED execution reports in a journal (read through the journal package)."""
    import msgspec

    from arbkit.execution.events import ExecutionReported
    from arbkit.journal.store import Journal

    j = Journal.open(journal, readonly=True)
    try:
        reports = [msgspec.json.decode(r.payload, type=ExecutionReported).report for r in j.replay(kinds=["ExecutionReported"])]
    finally:
        j.close_sync()
    return sum(1 for r in reports if r.status.value == "FILLED")


def _alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# --- live: config check only ---------------------------------------------------------------------


def test_live_example_checks_and_is_refused_without_live_and_secrets(tmp_path: Path) -> None:
    root = _copy_examples(tmp_path)
    res = _script("""
        arbkit config check examples/live.toml; echo "check=$?"
        arbkit run --config examples/live.toml --duration 1 --plain; echo "nolive=$?"
        arbkit run --config examples/live.toml --live --duration 1 --plain; echo "nosecrets=$?"
        sed '/^daily_loss_limit/d' examples/live.toml > examples/live-nolimit.toml
        arbkit config check examples/live-nolimit.toml; echo "nolimit=$?"
    """, root, isolate=False, timeout=120)
    out, err = res.stdout, res.stderr
    assert "ok: examples/live.toml" in out and "check=0" in out
    assert "warning: venues.kalshi.api_key_id_env: environment variable KALSHI_API_KEY_ID is not set" in err
    assert "nolive=2" in out and "are in mode live: add --live to trade real money" in err
    assert "nosecrets=2" in out and "refusing to trade live" in err
    assert "nolimit=1" in out and "risk.daily_loss_limit: must be set for live trading" in err
    assert not (root / "var").exists()  # nothing was started: no journal


# --- paper: no credentials, real venues' URLs, no network ---------------------------------------


@pytest.mark.skipif(not NETNS, reason="needs `unshare -rn` and `ip` (a network namespace with only loopback): "
                                      "paper.toml names the real venues and tests never reach the internet")
def test_paper_example_runs_without_any_credentials(tmp_path: Path) -> None:
    root = _copy_examples(tmp_path)
    res = _script("""
        arbkit config check examples/paper.toml; echo "check=$?"
        arbkit run --config examples/paper.toml --duration 3 --plain; echo "run=$?"
    """, root, isolate=True)
    out, err = res.stdout, res.stderr
    assert "check=0" in out and "run=0" in out, err[-3000:]
    # nothing required: a missing key is only ever a note that it is optional in paper mode
    required = [ln for ln in err.splitlines() if "is not set" in ln and "optional in paper mode" not in ln
                and "environment variable KALSHI_API_KEY_ID is not set)" not in ln]
    assert not required, required
    assert "venues.kalshi: paper without a key (environment variable KALSHI_API_KEY_ID is not set)" in out
    assert "cross_venue: no mapping store" in out
    assert "control: arbkit status --address ipc:///tmp/arbkit-paper.control.ipc" in out  # control is on
    assert "stopped: 0 executions reported" in out
    assert (root / "var" / "paper.journal.sqlite").exists()


# --- against the simulator on the examples' fixed ports --------------------------------------------

SIM_UP = """
    mkdir -p var
    arbkit sim --ports polymarket=18101,kalshi=18102,admin=18100 --info-file var/sim.json --env-file var/sim.env \\
        > var/sim.out 2> var/sim.err &
    SIM=$!
    i=0; while [ ! -s var/sim.env ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
    arbkit mappings discover --info-file var/sim.json > var/discover.out; echo "discover=$?"
    "$PY" - <<'EOF'
import asyncio, json
from pathlib import Path
from arbkit.runtime.demo import approve_twins
ok = asyncio.run(approve_twins(json.loads(Path("var/sim.json").read_text()), Path("arbkit-mappings.db")))
print(f"approved={len(ok)}")
EOF
"""

DISLOCATE = """
    ( sleep 2.5; "$PY" - <<'EOF'
import json, urllib.request
info = json.load(open("var/sim.json"))
cat = json.load(urllib.request.urlopen(info["admin_url"] + "/catalogue"))
twin = [p for p in cat["pairs"] if p["relation"] == "twin"][0]
req = urllib.request.Request(info["admin_url"] + "/dislocate", method="POST", headers={"Content-Type": "application/json"},
                             data=json.dumps({"venue": "polymarket", "market_id": twin["polymarket_market_id"], "shift": "-0.08"}).encode())
print("dislocated", urllib.request.urlopen(req).status)
EOF
    ) &
"""

SIM_DOWN = """
    kill $SIM; wait $SIM; echo "sim=$?"
"""


def _sim_isolation() -> bool:
    if NETNS:
        return True
    if not _ports_free(SIM_PORTS):
        pytest.skip(f"the examples' simulator ports {SIM_PORTS} are in use and no network namespace can be made")
    return False


def test_sim_example_runs_against_arbkit_sim_on_its_ports(tmp_path: Path) -> None:
    root = _copy_examples(tmp_path)
    res = _script(SIM_UP + """
        . var/sim.env
        arbkit config check examples/sim.toml; echo "check=$?"
    """ + DISLOCATE + """
        arbkit run --config examples/sim.toml --duration 7 --plain; echo "run=$?"
    """ + SIM_DOWN, root, isolate=_sim_isolation())
    out, err = res.stdout, res.stderr
    assert "discover=0" in out and "check=0" in out, err[-3000:]
    assert int(re.search(r"approved=(\d+)", out).group(1)) >= 1  # type: ignore[union-attr]
    assert "run=0" in out, err[-3000:]
    # both connections up and books tradeable; not necessarily every book on the one or two
    # progress lines a short run prints (a book can be mid-update on a loaded machine): the
    # fills below show the trading
    assert re.search(r"polymarket:up/\d+msg/s kalshi:up/\d+msg/s \| books [1-9]\d*/\d+ tradeable", out), out[-3000:]
    assert "dislocated 200" in out
    # the twin dislocated on the simulator was traded there, through the signed gateways
    assert _filled(root / "var" / "sim.journal.sqlite") >= 1, out[-3000:]
    # complete_set_mm quoted the demo's Bitcoin market in the same node; stopping canceled its quotes
    from arbkit.journal.store import Journal

    j = Journal.open(root / "var" / "sim.journal.sqlite", readonly=True)
    try:
        acts = [(r.decode()["action"], r.decode()["reason"]) for r in j.replay(kinds=["QuoteChanged"])]
    finally:
        j.close_sync()
    assert any(a == "place" for a, _ in acts) and ("cancel", "node stopping") in acts, acts[-10:]


def test_paper_sim_example_runs_against_the_simulator(tmp_path: Path) -> None:
    root = _copy_examples(tmp_path)
    res = _script(SIM_UP + """
        arbkit run --config examples/paper-sim.toml --duration 2 --plain > var/nokey.out; echo "nokey=$?"  # before . var/sim.env: no key
        . var/sim.env
    """ + DISLOCATE + """
        arbkit run --config examples/paper-sim.toml --duration 7 --plain; echo "run=$?"
    """ + SIM_DOWN, root, isolate=_sim_isolation())
    out, err = res.stdout, res.stderr
    assert "nokey=0" in out, err[-3000:]
    nokey = (root / "var" / "nokey.out").read_text()
    assert "venues.kalshi: paper without a key (environment variable SIM_KALSHI_API_KEY_ID is not set)" in nokey
    assert "run=0" in out, err[-3000:]
    assert re.search(r"books [1-9]\d*/\d+ tradeable", out), out[-3000:]
    # paper fills come from the snapshots: journaled as FILLED, nothing sent to the simulator
    assert _filled(root / "var" / "paper-sim.journal.sqlite") >= 1, out[-3000:]


# --- the demo leaves a simulator that demo.toml runs against -------------------------------------


def test_demo_keep_sim_config_runs_as_written(tmp_path: Path) -> None:
    out_dir = tmp_path / "run"
    env = _env()
    res = subprocess.run([PY, "-m", "arbkit.cli", "demo", "--duration", "5", "--keep-sim", "--plain", "--out", str(out_dir)],
                         env=env, capture_output=True, text=True, timeout=180)
    assert res.returncode == 0, res.stderr[-3000:]
    m = re.search(r"still running \(pid (\d+), --keep-sim\)", res.stdout)
    assert m, res.stdout[-3000:]
    pid = int(m.group(1))
    try:
        assert _alive(pid)  # still serving after the demo exited
        cmd = re.search(r"^\s+(\. \S+demo\.env && arbkit run --config \S+ --mappings \S+)$", res.stdout, re.M)
        assert cmd, res.stdout[-3000:]
        assert (out_dir / "demo.env").stat().st_mode & 0o077 == 0  # test keys, but keys
        run = _script(cmd.group(1) + " --duration 4 --plain; echo \"run=$?\"\n", tmp_path, isolate=False)
        assert "run=0" in run.stdout, run.stderr[-3000:]
        assert "is not set" not in run.stderr
        # the demo's venues, KuCoin (the triangles) included
        assert re.search(r"polymarket:up/\d+msg/s kalshi:up/\d+msg/s kucoin:up/\d+msg/s \| books [1-9]\d*/\d+ tradeable",
                         run.stdout), run.stdout
    finally:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
    assert not _alive(pid)


# --- arbkit sim --ports ----------------------------------------------------------------------------


def test_sim_ports_are_validated_and_a_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    from arbkit.sim.runner import parse_ports

    assert parse_ports("polymarket=18101, kalshi=18102,admin=18100") == {"polymarket": 18101, "kalshi": 18102, "admin": 18100}
    for bad, why in (("poly=1", "expected VENUE=PORT"), ("kalshi=x", "must be an integer"), ("kalshi=70000", "1..65535"),
                     ("kalshi=5,kalshi=6", "given twice"), ("kalshi=5,polymarket=5", "given to two servers")):
        with pytest.raises(ValueError, match=why):
            parse_ports(bad)
    res = subprocess.run([PY, "-m", "arbkit.cli", "sim", "--ports", "kucoin=18103", "--duration", "1"],
                         env=_env(), capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "kucoin not among --venues" in res.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = subprocess.run([PY, "-m", "arbkit.cli", "sim", "--venues", "kalshi", "--ports", f"kalshi={port}", "--duration", "1"],
                             env=_env(), capture_output=True, text=True, timeout=60)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("arbkit sim: ") and str(port) in res.stderr
