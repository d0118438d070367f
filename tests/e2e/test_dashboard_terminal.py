"""The demo's dashboard in a real 80x25 pseudo-terminal, read back through a VT100 emulator (pyte).

The real ``arbkit demo`` runs with its stdout on a pty sized 80x25. Once its simulator is up, the
test asks the simulator's admin endpoint to reject the next Kalshi order (a real venue rejection,
through the real gateway): the saga's Kalshi leg is rejected, the Polymarket leg that filled is
hedged. The emulated screen must then show, all at once: the header, a FILLED trade, the exposure
and the rejected-leg alert with its reason and the hedge it caused. Then the pty grows to 140x50
and the same dashboard must show more (the secondary sections and the trades' legs).
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
import urllib.request
from pathlib import Path

import pytest

pyte = pytest.importorskip("pyte", reason="pyte (test extra) reads the terminal screen")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pseudo-terminal sizes via Linux ioctls")]

REJECT_MESSAGE = "insufficient margin (test)"


def _set_size(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _post(url: str, body: dict) -> None:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:  # 127.0.0.1: the simulator's admin endpoint
        assert r.status == 200


def _fired(admin_url: str) -> int:
    with urllib.request.urlopen(admin_url + "/faults/fired", timeout=10) as r:
        return sum(1 for f in json.loads(r.read()) if f.get("kind") == "ORDER_REJECT")


class Terminal:
    """The demo's pty and an emulated screen fed from it."""

    def __init__(self, master: int, rows: int, cols: int) -> None:
        self.master = master
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)

    def pump(self, timeout_s: float) -> bool:
        """Feed what the demo wrote within ``timeout_s``; False once the pty is closed."""
        r, _, _ = select.select([self.master], [], [], timeout_s)
        if not r:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the demo closed its side
            return False
        if not data:
            return False
        self.stream.feed(data)
        return True

    def lines(self) -> list[str]:
        return [ln.rstrip() for ln in self.screen.display]

    def section(self, name: str) -> list[str]:
        """The lines under a section title up to the next title (titles are upper-case words)."""
        lines = self.lines()
        idx = next((i for i, ln in enumerate(lines) if ln.startswith(name + " ") or ln == name), None)
        if idx is None:
            return []
        out = []
        for ln in lines[idx + 1:]:
            head = ln.split("  ")[0]
            if head and head.isupper() and head.replace(" ", "").replace("-", "").isalpha():
                break
            out.append(ln)
        return out


def _small_screen_ok(term: Terminal) -> bool:
    lines = term.lines()
    alerts = term.section("ALERTS")
    return (lines[0].startswith(("TRADING", "PAUSED", "STOPPED", "KILL"))
            and any(" FILLED " in ln for ln in term.section("TRADES"))
            and any("shares (" in ln for ln in term.section("EXPOSURE"))
            and any("leg REJECTED" in ln and REJECT_MESSAGE in ln for ln in alerts)
            and any("→ hedge polymarket" in ln for ln in alerts))


def test_demo_dashboard_fits_80x25_and_grows(tmp_path: Path) -> None:
    out = tmp_path / "run"
    master, slave = pty.openpty()
    _set_size(slave, 25, 80)
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "NO_COLOR")}
    env.update(TERM="xterm-256color", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "arbkit.cli", "demo", "--duration", "90", "--seed", "7", "--out", str(out),
         "--dislocate-every", "3", "--dashboard"],
        stdin=slave, stdout=slave, stderr=slave, env=env, cwd=tmp_path, start_new_session=True)
    os.close(slave)
    term = Terminal(master, 25, 80)
    admin = ""
    injected = 0
    fired_at = None
    small: list[str] = []
    fault = {"kind": "ORDER_REJECT", "venue": "kalshi", "times": 1, "message": REJECT_MESSAGE}
    try:
        deadline = time.monotonic() + 75
        while time.monotonic() < deadline and proc.poll() is None:
            term.pump(0.2)
            if not admin:
                infos = list(out.glob("sim-*.json")) if out.exists() else []
                if infos and infos[0].stat().st_size:
                    admin = json.loads(infos[0].read_text())["admin_url"]
                    # the next Kalshi order is refused by the venue: a real rejection through the real gateway
                    _post(admin + "/faults", fault)
                    injected = 1
            elif _small_screen_ok(term):
                small = term.lines()
                break
            elif fired_at is None and _fired(admin) >= injected:
                fired_at = time.monotonic()
            elif fired_at is not None and time.monotonic() - fired_at > 5 and injected < 4:
                # rejected, but nothing to hedge (the other leg did not fill either): once more
                _post(admin + "/faults", fault)
                injected += 1
                fired_at = None
        assert small, "the 80x25 screen never showed trades, exposure and the rejected-leg alert together:\n" + \
            "\n".join(term.lines())
        assert len(small) == 25 and all(len(ln) <= 80 for ln in small)
        assert "CONNECTIONS" not in "\n".join(small)  # the small screen keeps to what matters

        # a bigger terminal: the same dashboard lays itself out again and shows more
        _set_size(master, 50, 140)
        term.screen.resize(50, 140)
        deadline = time.monotonic() + 10
        big: list[str] = []
        while time.monotonic() < deadline and proc.poll() is None:
            term.pump(0.2)
            text = "\n".join(term.lines())
            if "CONNECTIONS" in text and "TASKS AND BREAKERS" in text and "legs" in text:
                big = term.lines()
                break
        assert big, "the 140x50 screen did not show the secondary sections:\n" + "\n".join(term.lines())
        print("\n80x25:\n" + "\n".join(small) + "\n140x50:\n" + "\n".join(big))  # seen with -s
        assert big[0].startswith(("TRADING", "PAUSED", "STOPPED", "KILL"))
        assert any("leg REJECTED" in ln for ln in term.section("ALERTS"))
        assert sum(1 for ln in big if ln.strip()) > sum(1 for ln in small if ln.strip())
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        end = time.monotonic() + 40
        while proc.poll() is None and time.monotonic() < end:
            if not term.pump(0.2):
                break
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        os.close(master)
    assert proc.returncode == 0
