"""`arbkit config check FILE` as a real subprocess, on every example and on bad files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples").glob("*.toml"))


def arbkit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arbkit.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def test_there_are_examples() -> None:
    names = {p.name for p in EXAMPLES}
    assert {"paper.toml", "sim.toml"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_checks_ok(path: Path) -> None:
    res = arbkit("config", "check", str(path))
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"ok: {path}")
    assert "venues: " in res.stdout and "strategies enabled: " in res.stdout


def test_summary_names_venues_modes_and_strategies() -> None:
    res = arbkit("config", "check", str(ROOT / "examples" / "paper.toml"))
    assert "venues: polymarket=paper, kalshi=paper, kucoin=paper" in res.stdout
    assert "strategies enabled: cross_venue, complete_set (disabled: triangular)" in res.stdout


def test_bad_file_names_key_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[venues.kalshi]\nmode = "yolo"\n')
    res = arbkit("config", "check", str(bad))
    assert res.returncode == 1
    assert "venues.kalshi.mode: must be one of paper|sim|live, got 'yolo'" in res.stderr
    assert "ok" not in res.stdout


def test_inline_secret_refused_without_echo(tmp_path: Path) -> None:
    secret = "0x" + "5e" * 32
    bad = tmp_path / "leak.toml"
    bad.write_text(f'[venues.polymarket]\nmode = "paper"\nprivate_key = "{secret}"\n')
    res = arbkit("config", "check", str(bad))
    assert res.returncode == 1
    assert "venues.polymarket.private_key: secrets must not be written in the config file" in res.stderr
    assert secret not in res.stderr + res.stdout


def test_live_with_unset_limits_fails(tmp_path: Path) -> None:
    cfg = tmp_path / "live.toml"
    cfg.write_text('[venues.kalshi]\nmode = "live"\napi_key_id_env = "K_ID"\nprivate_key_env = "K_PEM"\n[risk]\nmax_order_notional = "10"\n')
    res = arbkit("config", "check", str(cfg))
    assert res.returncode == 1
    assert "risk.daily_loss_limit: must be set for live trading" in res.stderr
    assert "risk.order_rate_limits.kalshi: must be set for live trading" in res.stderr


def test_live_missing_secrets_are_warnings(tmp_path: Path) -> None:
    res = arbkit("config", "check", str(ROOT / "examples" / "live.toml"), env={"POLYMARKET_PRIVATE_KEY": ""})
    assert res.returncode == 0
    assert "warning: venues.polymarket.private_key_env: environment variable POLYMARKET_PRIVATE_KEY is not set" in res.stderr


def test_missing_file_and_help() -> None:
    res = arbkit("config", "check", "does/not/exist.toml")
    assert res.returncode == 1 and "no such file" in res.stderr
    res = arbkit("config", "check", "--help")
    assert res.returncode == 0 and "Validate FILE" in res.stdout
