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
    assert "pip install" in install and " -e " in install
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


def _lock() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        assert sep and version and not any(c in version for c in "<>=~!,;"), f"not an exact pin: {line!r}"
        pins[_norm(name)] = version
    return pins


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_lock_pins_every_dependency_inside_the_declared_ranges():
    """pyproject.toml declares ranges; requirements.lock pins one version of each, inside its range."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _lock()
    declared = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]]
    for req in declared:
        name = _norm(req.name)
        assert name in pins, f"{req.name} is declared in pyproject.toml but not locked in requirements.lock"
        assert req.specifier.contains(pins[name], prereleases=True), f"{req.name}=={pins[name]} is outside {req}"
    for req in (Requirement(r) for r in project["dependencies"]):
        assert not any(s.operator == "==" for s in req.specifier), f"runtime dependency pinned exactly: {req}"


def test_install_uses_the_lock():
    install, _ = _readme_commands()
    assert "-c requirements.lock" in install
