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
    assert res.returncode == 0, res.stderr
    assert "venues: polymarket=paper, kalshi=paper" in res.stdout
    assert "strategies enabled: cross_venue" in res.stdout


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


# --- what config check refuses (issue 19); in-process through the same typer app --------------

from typer.testing import CliRunner  # noqa: E402

from arbkit.runtime.config import built_strategies  # noqa: E402
from arbkit.runtime.config_cli import app as config_app  # noqa: E402

PAPER_OK = """
[venues.polymarket]
mode = "paper"
[venues.kalshi]
mode = "paper"
[risk]
max_order_notional = "100"
max_market_exposure = "500"
max_venue_exposure = "2000"
max_total_exposure = "3000"
daily_loss_limit = "200"
max_concurrent_executions = 2
max_book_age_ms = 2000
[risk.order_rate_limits]
polymarket = 10
kalshi = 10
[strategies.cross_venue]
enabled = true
min_edge_bps = 100
max_size = "20"
"""


def check_text(tmp_path: Path, text: str, name: str = "x.toml") -> tuple[int, str, str]:
    f = tmp_path / name
    f.write_text(text)
    res = CliRunner().invoke(config_app, ["check", str(f)])
    return res.exit_code, res.stdout, res.stderr


def test_a_complete_paper_config_passes(tmp_path: Path) -> None:
    code, out, err = check_text(tmp_path, PAPER_OK)
    assert code == 0, err
    assert out.startswith(f"ok: {tmp_path / 'x.toml'}") and "risk limits: all set" in out


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"], ids=["empty", "blank", "comment"])
def test_an_empty_file_is_refused(tmp_path: Path, text: str) -> None:
    code, out, err = check_text(tmp_path, text)
    assert code == 1 and "ok" not in out
    assert "the file is empty" in err


def test_no_venue_or_no_strategy_is_refused(tmp_path: Path) -> None:
    code, _, err = check_text(tmp_path, '[node]\nname = "n"\n')
    assert code == 1
    assert "venues: no venue is configured" in err
    assert "strategies: no strategy is enabled" in err
    code, _, err = check_text(tmp_path, PAPER_OK.replace("enabled = true", "enabled = false"))
    assert code == 1 and "strategies: no strategy is enabled" in err


def test_paper_without_risk_limits_is_refused(tmp_path: Path) -> None:
    text = PAPER_OK.replace('daily_loss_limit = "200"\n', "").replace("kalshi = 10\n", "")
    code, out, err = check_text(tmp_path, text)
    assert code == 1 and "ok" not in out
    assert "risk.daily_loss_limit: must be set for paper trading" in err
    assert "risk.order_rate_limits.kalshi: must be set for paper trading" in err
    assert "risk.max_order_notional" not in err  # only what is unset is named
    # no [risk] at all: every limit named
    code, _, err = check_text(tmp_path, PAPER_OK.split("[risk]")[0] + "[strategies.cross_venue]" + PAPER_OK.split("[strategies.cross_venue]")[1])
    assert code == 1 and err.count("must be set for paper trading") == 9


def test_sim_without_risk_limits_passes_with_the_unset_ones_listed(tmp_path: Path) -> None:
    text = (PAPER_OK.replace('[venues.polymarket]\nmode = "paper"', '[venues.polymarket]\nmode = "sim"\nrest_url = "http://127.0.0.1:1"\n'
                             'ws_market_url = "ws://127.0.0.1:1/m"\nws_user_url = "ws://127.0.0.1:1/u"')
            .replace('[venues.kalshi]\nmode = "paper"', '[venues.kalshi]\nmode = "sim"\nrest_url = "http://127.0.0.1:2"\nws_url = "ws://127.0.0.1:2/w"')
            .replace('daily_loss_limit = "200"\n', ""))
    code, out, err = check_text(tmp_path, text)
    assert code == 0, err
    assert "risk limits unset: risk.daily_loss_limit" in out


@pytest.mark.parametrize("name", ["market_maker", "crossvenue", "grid"])
def test_a_strategy_this_build_does_not_have_is_refused(tmp_path: Path, name: str) -> None:
    code, out, err = check_text(tmp_path, PAPER_OK + f"[strategies.{name}]\nenabled = false\n")
    assert code == 1 and "ok" not in out
    assert f"strategies.{name}: no such strategy in this build (available: {', '.join(built_strategies())})" in err


def test_built_strategies_are_those_the_config_types() -> None:
    names = built_strategies()
    assert names == ["cross_venue", "triangular", "complete_set", "complete_set_mm"] and "market_maker" not in names


def test_a_typo_in_a_strategy_table_prints_the_key_once(tmp_path: Path) -> None:
    code, _, err = check_text(tmp_path, PAPER_OK.replace("min_edge_bps = 100", "min_edge_bp = 100"))
    assert code == 1
    assert "strategies.cross_venue.min_edge_bp: unknown key (a typo?); allowed here: enabled, min_edge_bps," in err
    assert ".." not in err


def test_a_typo_at_the_top_level_and_in_a_venue(tmp_path: Path) -> None:
    _, _, err = check_text(tmp_path, PAPER_OK + "[nod]\nname = 'x'\n")
    assert "x.toml: nod: unknown key (a typo?)" in err
    _, _, err = check_text(tmp_path, PAPER_OK.replace('[venues.kalshi]\nmode = "paper"', '[venues.kalshi]\nmode = "paper"\nrest_ur = "x"'))
    assert "venues.kalshi.rest_ur: unknown key (a typo?)" in err and ".." not in err


def test_the_file_name_is_printed_once(tmp_path: Path) -> None:
    f = tmp_path / "x.toml"
    for text in ("[node\n", PAPER_OK + "[nod]\nname = 'x'\n"):
        _, _, err = check_text(tmp_path, text)
        assert err.count(str(f)) == 1, err
        assert err.startswith(f"error: {f}: ")
    res = CliRunner().invoke(config_app, ["check", str(tmp_path / "nope.toml")])
    assert res.exit_code == 1
    assert res.stderr.count("nope.toml") == 1 and "no such file" in res.stderr


def test_arbkit_run_refuses_paper_without_limits_before_connecting(tmp_path: Path) -> None:
    from arbkit.cli import app as root_app

    f = tmp_path / "p.toml"
    f.write_text(PAPER_OK.replace('daily_loss_limit = "200"\n', "") + '[node]\njournal_path = "j.sqlite"\n')
    res = CliRunner().invoke(root_app, ["run", "--config", str(f), "--duration", "1", "--plain"])
    assert res.exit_code == 2
    assert "refusing to paper-trade without limits" in res.stderr
    assert "risk.daily_loss_limit: must be set for paper trading" in res.stderr
    assert not (tmp_path / "j.sqlite").exists()  # refused before anything was opened


def test_paper_kalshi_key_is_optional_and_a_missing_one_is_a_note(tmp_path: Path) -> None:
    text = PAPER_OK.replace('[venues.kalshi]\nmode = "paper"', '[venues.kalshi]\nmode = "paper"\napi_key_id_env = "PAPER_K_ID"\n'
                                                                   'private_key_file = "k.pem"')
    f = tmp_path / "p.toml"
    f.write_text(text)
    res = CliRunner().invoke(config_app, ["check", str(f)], env={"PAPER_K_ID": ""})
    assert res.exit_code == 0, res.stderr
    assert "note: venues.kalshi.api_key_id_env: PAPER_K_ID is not set: optional in paper mode" in res.stderr
    assert f"note: venues.kalshi.private_key_file: key file {tmp_path / 'k.pem'} does not exist" in res.stderr
    (tmp_path / "k.pem").write_text("x")
    res = CliRunner().invoke(config_app, ["check", str(f)], env={"PAPER_K_ID": "id-1"})
    assert res.exit_code == 0 and "note:" not in res.stderr
