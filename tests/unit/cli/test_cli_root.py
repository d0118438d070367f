"""The top-level command line: every command in a help panel, `--version`, completion on."""

from __future__ import annotations

import subprocess
import sys

from arbkit import __version__
from arbkit.cli import PANELS, app


def test_every_command_and_group_has_a_named_panel():
    names = [c.name or c.callback.__name__ for c in app.registered_commands] + [g.name for g in app.registered_groups]
    assert {"demo", "run", "sim", "status", "kill", "orders", "mappings", "report", "journal", "config"} <= set(names)
    unpanelled = [n for n in names if n not in PANELS]
    assert not unpanelled, f"commands without a help panel (they would land in 'Other'): {unpanelled}"


def test_help_groups_commands_and_version_flag():
    out = subprocess.run([sys.executable, "-m", "arbkit.cli", "--help"], capture_output=True, text=True, timeout=60,
                         env={"COLUMNS": "100", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    for panel in ("Run", "Operate", "Data", "Inspect"):
        assert f"─ {panel} " in out.stdout, out.stdout
    assert out.stdout.index("─ Run ") < out.stdout.index("─ Operate ")
    assert "--install-completion" in out.stdout
    for flag in ("--version", "-V"):
        v = subprocess.run([sys.executable, "-m", "arbkit.cli", flag], capture_output=True, text=True, timeout=60)
        assert v.returncode == 0 and v.stdout.strip() == f"arbkit {__version__}"
