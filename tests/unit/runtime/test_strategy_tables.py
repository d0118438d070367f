"""Strategy tables come from the registry: each strategy's typed table and checks, the list this
build has in every refusal, warnings for an enabled strategy's unconfigured venues, and
per-strategy risk budgets."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from arbkit.cli import app
from arbkit.risk.limits import limits_from_config
from arbkit.runtime.config import ConfigError, built_strategies, loads_config
from arbkit.strategies import registry
from arbkit.strategies.complete_set import CompleteSetTable

VENUES = '[venues.polymarket]\nmode = "paper"\n[venues.kalshi]\nmode = "paper"\n'
CS = '[strategies.complete_set]\nenabled = true\nmin_edge_bps = "150"\nmax_sets = "20"\n'


def err(text: str) -> str:
    with pytest.raises(ConfigError) as exc:
        loads_config(text)
    return str(exc.value)


def test_the_registry_is_what_the_config_knows() -> None:
    assert built_strategies() == registry.names() == ["cross_venue", "triangular", "complete_set", "complete_set_mm"]
    for name in registry.names():
        spec = registry.get(name)
        assert callable(spec.load_factory())  # every factory imports


def test_complete_set_table_is_typed_with_exact_money() -> None:
    cfg = loads_config(VENUES + CS + 'kalshi_events = []\nmax_locked = "500"\n')
    t = cfg.strategies.get("complete_set")
    assert isinstance(t, CompleteSetTable) and t.max_sets == Decimal(20) and t.max_locked == Decimal(500)
    assert cfg.strategies.enabled() == ["complete_set"] and t.venues == ["polymarket"]
    assert err(VENUES + CS.replace('"20"', "20.5")).startswith("strategies.complete_set.max_sets: expected a decimal string, got float 20.5")
    assert err(VENUES + CS + "min_edge = 1\n").startswith("strategies.complete_set.min_edge: unknown key (a typo?); allowed here: enabled,")
    assert err(VENUES + CS + 'venues = ["kucoin"]\n') == "strategies.complete_set.venues: complete sets trade on polymarket and kalshi, got 'kucoin'"
    assert err(VENUES + CS + 'venues = ["polymarket", "kalshi"]\n').startswith(
        "strategies.complete_set.kalshi_events: kalshi is listed: name the mutually exclusive events")
    assert err(VENUES + CS.replace('"20"', '"0"')) == "strategies.complete_set.max_sets: must be > 0, got 0"


def test_enabled_strategy_without_any_of_its_venues_is_refused_and_a_missing_one_warned() -> None:
    assert err('[venues.kucoin]\nmode = "paper"\n' + CS) == (
        "strategies.complete_set: enabled, but none of its venues (polymarket) is configured")
    cfg = loads_config('[venues.polymarket]\nmode = "paper"\n' + CS + 'venues = ["polymarket", "kalshi"]\nkalshi_events = ["KX-1"]\n')
    assert cfg.check_warnings() == ["strategies.complete_set: enabled, but venues.kalshi is not configured: it does not trade there"]
    assert loads_config(VENUES + CS).check_warnings() == []


def test_unknown_strategy_is_refused_with_the_list_this_build_has() -> None:
    assert err(VENUES + "[strategies.pairs_trading]\nenabled = true\n") == (
        "strategies.pairs_trading: no such strategy in this build (available: cross_venue, triangular, complete_set, "
        "complete_set_mm)")


def test_per_strategy_risk_budgets() -> None:
    cfg = loads_config(VENUES + CS + '[risk.strategies.complete_set]\nslots = 1\nmax_exposure = "300"\n')
    lim = limits_from_config(cfg.risk)
    assert lim.strategy_slots == {"complete_set": 1} and lim.strategy_exposure == {"complete_set": Decimal(300)}
    assert err(VENUES + CS + "[risk.strategies.grid]\nslots = 1\n").startswith("risk.strategies.grid: no such strategy in this build")
    assert err(VENUES + CS + "[risk.strategies.complete_set]\nmax_exposure = 30.5\n").startswith(
        "risk.strategies.complete_set.max_exposure: expected a decimal string, got float 30.5")


def test_config_check_prints_the_warning(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[3] / "examples" / "paper.toml").read_text()
    text = text.replace('venues = ["polymarket"]\nmax_events', 'venues = ["polymarket", "kalshi"]\nkalshi_events = ["KX-1"]\nmax_events')
    text = text.split("[venues.kalshi]")[0] + "[risk]" + text.split("[risk]", 1)[1]
    text = text.replace("[strategies.cross_venue]", "[strategies.cross_venue]\n# off: it needs kalshi").replace(
        "enabled = true\nmin_edge_bps = 150", "enabled = false\nmin_edge_bps = 150")
    text = text.replace("kalshi = 10\n", "")
    f = tmp_path / "x.toml"
    f.write_text(text)
    res = CliRunner().invoke(app, ["config", "check", str(f)])
    assert res.exit_code == 0, res.output
    assert "warning: strategies.complete_set: enabled, but venues.kalshi is not configured" in res.output
