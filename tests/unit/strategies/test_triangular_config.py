"""[strategies.triangular]: typed, exact (Decimal strings), and every error names its key."""

from __future__ import annotations

from decimal import Decimal

import pytest

from arbkit.runtime.config import ConfigError, loads_config

HEAD = '[venues.kucoin]\nmode = "paper"\n[strategies.triangular]\nenabled = true\n'


def err(text: str) -> str:
    with pytest.raises(ConfigError) as ei:
        loads_config(text)
    return str(ei.value)


def test_a_full_table_parses_to_exact_types_and_resolves_defaults() -> None:
    cfg = loads_config(HEAD + 'start_currencies = ["USDT", "BTC"]\nmax_start = { USDT = "1500.5", BTC = "0.02" }\n'
                       'min_edge_bps = "12.5"\nmax_levels = 8\nsymbols = ["BTC-USDT", "ETH-BTC", "ETH-USDT"]\n'
                       'hedge_policy = "hold"\n[execution]\nleg_timeout_ms = 1500\n[risk]\nmax_book_age_ms = 900\n')
    t = cfg.strategies.triangular
    assert t is not None and cfg.strategies.enabled() == ["triangular"]
    assert t.max_start_decimal() == {"USDT": Decimal("1500.5"), "BTC": Decimal("0.02")}
    assert t.min_edge_bps == Decimal("12.5") and isinstance(t.min_edge_bps, Decimal)
    e = t.effective(cfg.execution, cfg.risk)
    assert (e["leg_timeout_ms"], e["hedge_policy"], e["max_book_age_ms"]) == (1500, "hold", 900)
    assert any(line.startswith("triangular: start USDT up to 1500.5, BTC up to 0.02") for line in cfg.summary())


def test_the_one_currency_spelling() -> None:
    cfg = loads_config(HEAD + 'start_currency = "BTC"\nmax_start = { BTC = "0.1" }\nmin_edge_bps = 5\n')
    assert cfg.strategies.triangular.start_currencies == ["BTC"]


@pytest.mark.parametrize("body, message", [
    ('max_start = { USDT = 100.5 }\nmin_edge_bps = "5"\n',
     'strategies.triangular.max_start.USDT: expected a decimal string, got float 100.5'),
    ('max_start = { USDT = "-1" }\nmin_edge_bps = "5"\n', "strategies.triangular.max_start.USDT: must be > 0, got -1"),
    ('max_start = { BTC = "1" }\nmin_edge_bps = "5"\n',
     "strategies.triangular.max_start: has no amount for start currency 'USDT'"),
    ('max_start = "100"\nmin_edge_bps = "5"\n', "strategies.triangular.max_start: expected a table"),
    ('max_start = { USDT = "1" }\n', "strategies.triangular.min_edge_bps: required key is missing"),
    ('max_start = { USDT = "1" }\nmin_edge_bps = "-1"\n', "strategies.triangular.min_edge_bps: must be >= 0"),
    ('max_start = { USDT = "1" }\nmin_edge_bps = 1.5\n', "strategies.triangular.min_edge_bps: expected a decimal string"),
    ('max_start = { USDT = "1" }\nmin_edge_bps = "1"\nmax_levels = 0\n', "strategies.triangular.max_levels: must be 1..100"),
    ('max_start = { USDT = "1" }\nmin_edge_bps = "1"\nsymbols = ["BTC-USDT"]\n', "strategies.triangular.symbols: a triangle needs at least 3"),
    ('max_start = { USDT = "1" }\nmin_edge_bps = "1"\nleg_timeout_ms = 0\n', "strategies.triangular.leg_timeout_ms: must be >= 1"),
    ('max_start = { USDT = "1" }\nmin_edge_bps = "1"\nhedge_policy = "pray"\n', "strategies.triangular.hedge_policy: must be one of"),
    ('max_start = { USDT = "1" }\nmin_edge_bps = "1"\nstart_currencys = ["USDT"]\n',
     "strategies.triangular.start_currencys: unknown key"),
    ('start_currency = "USDT"\nstart_currencies = ["USDT"]\nmax_start = { USDT = "1" }\nmin_edge_bps = "1"\n',
     "strategies.triangular.start_currency: give start_currency or start_currencies, not both"),
])
def test_errors_name_the_key(body: str, message: str) -> None:
    assert err(HEAD + body).startswith(message)


def test_enabled_needs_the_kucoin_venue() -> None:
    assert err('[strategies.triangular]\nenabled = true\nmax_start = { USDT = "1" }\nmin_edge_bps = "1"\n') == (
        "strategies.triangular: enabled, but venues.kucoin is not configured")
