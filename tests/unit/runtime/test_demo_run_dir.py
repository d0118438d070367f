"""Where ``arbkit demo`` writes a run: the user data directory by default, ``--out`` as given."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

from arbkit.runtime.demo import default_runs_dir, demo_run_dir


def test_default_run_dir_is_under_the_user_data_directory_not_the_cwd(tmp_path, monkeypatch) -> None:
    data = tmp_path / "xdg-data"
    monkeypatch.setenv("XDG_DATA_HOME", str(data))  # platformdirs reads it on every call (Linux)
    repo = tmp_path / "repo"
    repo.mkdir()
    monkeypatch.chdir(repo)
    when = dt.datetime(2026, 12, 5, 7, 30, 1, tzinfo=dt.timezone.utc)
    run = demo_run_dir(None, when)
    assert run == data / "arbkit" / "demo" / "arbkit-demo-20261205-073001"
    assert default_runs_dir() == data / "arbkit" / "demo"
    assert Path.cwd() not in run.parents


def test_out_is_used_as_given(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert demo_run_dir(Path("run1")) == tmp_path / "run1"


def test_repository_ignores_demo_run_directories() -> None:
    root = Path(__file__).resolve().parents[3]
    if not (root / ".git").exists():
        import pytest

        pytest.skip("not a git checkout")
    r = subprocess.run(["git", "-C", str(root), "check-ignore", "-q", "arbkit-demo-20261205-073001/journal.sqlite"])
    assert r.returncode == 0, "arbkit-demo-*/ is not in .gitignore"


def _pythonpath() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k in ("PYTHONPATH", "HOME")}


def test_demo_help_names_the_default_location() -> None:
    r = subprocess.run([sys.executable, "-m", "arbkit.cli", "demo", "--help"], capture_output=True, text=True, timeout=60,
                       env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", **_pythonpath()})
    assert r.returncode == 0, r.stderr
    assert "user data directory" in r.stdout
