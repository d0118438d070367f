"""The README's set-up commands are what CI runs: a fresh user and CI must do the same thing."""

from __future__ import annotations

import re
import subprocess
import sys

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    setup = text.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return [c.strip() for c in re.findall(r"```sh\n(.*?)```", setup, re.S)]


def test_readme_has_install_and_test_commands():
    cmds = _readme_commands()
    assert len(cmds) == 2, cmds
    install, tests = cmds
    assert "pip install -e" in install
    assert "pytest" in tests


def test_ci_runs_the_readme_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    install, tests = _readme_commands()
    # The install step may end by launching the demo; CI runs the install part verbatim.
    install_part = install.split(" && .venv/bin/arbkit demo")[0]
    assert install_part in ci
    assert tests in ci
    assert "-eq 5" in ci, "CI must treat pytest's 'no tests collected' (exit 5) as a failure"


def test_console_script_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "arbkit.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "version" in out.stdout
