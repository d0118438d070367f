"""Configuration: typed sections, errors that name the key and the problem, secrets handling."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest
import structlog

from arbkit.runtime.config import (
    ConfigError,
    HedgePolicy,
    TwoLegMode,
    VenueMode,
    load_config,
    loads_config,
    resolve_secret,
)
from arbkit.runtime.logging import clear_registered_secrets, configure_logging, reset_logging

ROOT = Path(__file__).resolve().parents[3]

MINIMAL = """
[venues.kalshi]
mode = "paper"
"""

LIVE_OK = """
[venues.kalshi]
mode = "live"
api_key_id_env = "KALSHI_API_KEY_ID"
private_key_file = "keys/kalshi.pem"

[risk]
max_order_notional = "100"
max_market_exposure = "400"
max_venue_exposure = "1500"
max_total_exposure = "2500"
daily_loss_limit = "150"
max_concurrent_executions = 2
max_book_age_ms = 1000

[risk.order_rate_limits]
kalshi = 5
"""


def err(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        loads_config(text)
    return str(info.value)


# --- happy paths -----------------------------------------------------------------------------


def test_defaults_fill_everything_not_written() -> None:
    cfg = loads_config(MINIMAL, base_dir="/srv/arb")
    assert cfg.node.name == "arbkit"
    assert cfg.node.journal_path == "/srv/arb/journal.sqlite"
    assert cfg.venues.kalshi is not None and cfg.venues.kalshi.mode is VenueMode.PAPER
    assert cfg.venues.kalshi.rest_url.startswith("https://")
    assert cfg.venues.polymarket is None
    assert cfg.execution.two_leg_mode is TwoLegMode.PARALLEL
    assert cfg.strategies.enabled() == []


def test_full_example_parses_to_exact_types() -> None:
    cfg = load_config(ROOT / "examples" / "paper.toml")
    assert cfg.risk.max_order_notional == Decimal("250")
    assert isinstance(cfg.risk.max_order_notional, Decimal)
    assert cfg.risk.order_rate_limits.kalshi == 10
    assert cfg.risk.isolation.same_pair is True
    cv = cfg.strategies.cross_venue
    assert cv is not None and cv.enabled and cv.min_edge_bps == Decimal(150) and cv.safety_margin_bps == Decimal("25")
    assert cfg.strategies.enabled() == ["cross_venue", "complete_set"]
    assert cfg.execution.hedge_policy is HedgePolicy.CHASE
    # Relative paths are relative to the config file.
    assert cfg.node.journal_path == str((ROOT / "var" / "paper.journal.sqlite"))
    assert cfg.venues.kalshi is not None and cfg.venues.kalshi.private_key_file == str(ROOT / "secrets" / "kalshi.pem")
    assert cfg.unset_risk_limits() == []


def test_unset_risk_limits_lists_keys_and_blocks_live() -> None:
    cfg = loads_config(MINIMAL)
    assert cfg.unset_risk_limits() == [
        "risk.max_order_notional",
        "risk.max_market_exposure",
        "risk.max_venue_exposure",
        "risk.max_total_exposure",
        "risk.daily_loss_limit",
        "risk.max_concurrent_executions",
        "risk.max_book_age_ms",
        "risk.order_rate_limits.kalshi",
    ]
    assert cfg.live_problems() == []  # nothing live
    live = loads_config(LIVE_OK.replace('daily_loss_limit = "150"\n', ""))
    assert live.live_venues() == ["kalshi"]
    assert live.live_problems() == ["risk.daily_loss_limit: must be set for live trading"]
    assert loads_config(LIVE_OK).live_problems() == []


def test_money_accepts_integers_and_decimal_strings() -> None:
    cfg = loads_config('[risk]\nmax_order_notional = 100\nmax_market_exposure = "100.25"\n')
    assert cfg.risk.max_order_notional == Decimal(100)
    assert cfg.risk.max_market_exposure == Decimal("100.25")


# --- errors name the key and the problem ------------------------------------------------------


def test_money_float_refused() -> None:
    msg = err("[risk]\nmax_order_notional = 1.5\n")
    assert msg.startswith("risk.max_order_notional: expected a decimal string, got float 1.5")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('"abc"', "risk.daily_loss_limit: expected a decimal string, got 'abc'"),
        ('"NaN"', "risk.daily_loss_limit: must be a finite number, got 'NaN'"),
        ("true", "risk.daily_loss_limit: expected a decimal string, got boolean true"),
        ('"-5"', "risk.daily_loss_limit: must be > 0, got -5"),
        ("0", "risk.daily_loss_limit: must be > 0, got 0"),
    ],
)
def test_bad_money_values(value: str, problem: str) -> None:
    assert err(f"[risk]\ndaily_loss_limit = {value}\n") == problem


def test_strategy_thresholds_are_exact_too() -> None:
    msg = err('[venues.polymarket]\nmode="paper"\n[venues.kalshi]\nmode="paper"\n[strategies.cross_venue]\nenabled = true\nmin_edge_bps = 12.5\nmax_size = "10"\n')
    assert msg.startswith("strategies.cross_venue.min_edge_bps: expected a decimal string, got float 12.5")


def test_bad_enum_names_the_choices() -> None:
    assert err('[venues.kalshi]\nmode = "real"\n') == "venues.kalshi.mode: must be one of paper|sim|live, got 'real'"
    assert err('[execution]\nhedge_policy = "pray"\n') == "execution.hedge_policy: must be one of market|chase|hold, got 'pray'"
    assert err('[node]\njournal_fsync = "never"\n') == "node.journal_fsync: must be one of group|every_order, got 'never'"
    assert err('[node]\njournal_group_commit_ms = 500.0\n').startswith("node.journal_group_commit_ms: must be between 0 and 100")


def test_typo_is_an_unknown_key_with_the_allowed_ones() -> None:
    msg = err("[risk]\nmax_order_notinal = 5\n")
    assert msg.startswith("risk.max_order_notinal: unknown key (a typo?); allowed here: max_order_notional,")
    assert err("[nodes]\nname = 'x'\n").startswith("nodes: unknown key")
    assert err('[venues.kalshii]\nmode = "paper"\n').startswith("venues.kalshii: unknown key (a typo?); allowed here: polymarket, kalshi, kucoin")


def test_wrong_type_and_missing_required() -> None:
    assert err('[node]\nmetrics_port = "9464"\n') == "node.metrics_port: expected an integer, got string '9464'"
    assert err("[venues.kalshi]\nws_url = 'wss://x'\n") == "venues.kalshi.mode: required key is missing"
    assert err('venues = "all"\n') == "venues: expected a table, got string 'all'"
    assert err("[node]\nlog_json = 1\n") == "node.log_json: expected true or false, got integer 1"


def test_strategy_tables_need_enabled() -> None:
    assert err("[strategies.cross_venue]\nmin_edge_bps = 5\n") == "strategies.cross_venue.enabled: required key is missing (true or false)"
    assert err('[strategies.cross_venue]\nenabled = "yes"\n') == "strategies.cross_venue.enabled: expected true or false, got string 'yes'"
    assert err("[strategies]\ncross_venue = 3\n") == "strategies.cross_venue: expected a table, got integer 3"


def test_cross_venue_needs_both_venues() -> None:
    msg = err('[venues.kalshi]\nmode="paper"\n[strategies.cross_venue]\nenabled = true\nmin_edge_bps = 10\nmax_size = "5"\n')
    assert msg == "strategies.cross_venue: enabled, but venues.polymarket is not configured"


def test_semantic_checks() -> None:
    assert err("[node]\nmetrics_port = 70000\n") == "node.metrics_port: must be a TCP port 1..65535, got 70000"
    assert err('[node]\ncontrol_url = "http://x"\n').startswith("node.control_url: must be a ipc://|tcp://|inproc:// URL")
    assert err('[risk]\nmax_order_notional = "500"\nmax_market_exposure = "100"\n') == "risk.max_order_notional: 500 is above risk.max_market_exposure 100"
    assert err("[risk.order_rate_limits]\nkalshi = 0\n") == "risk.order_rate_limits.kalshi: must be >= 1 order per second, got 0"
    assert err('[execution]\nhedge_policy = "chase"\n') == "execution.chase_seconds: must be > 0 when hedge_policy is chase"
    assert err('[venues.polymarket]\nmode = "paper"\nsignature_type = 7\n').startswith("venues.polymarket.signature_type: must be 0 (EOA)")


def test_live_needs_tls_and_credentials_sim_needs_loopback() -> None:
    assert err('[venues.kalshi]\nmode = "live"\nrest_url = "http://api.example.com"\napi_key_id_env="K"\nprivate_key_env="P"\n').startswith(
        "venues.kalshi.rest_url: must be a https:// URL"
    )
    assert err('[venues.kalshi]\nmode = "live"\n') == "venues.kalshi: live mode needs api_key_id_env"
    assert err('[venues.kucoin]\nmode = "live"\napi_key_env = "A"\n') == "venues.kucoin: live mode needs api_secret_env, api_passphrase_env"
    assert err('[venues.polymarket]\nmode = "sim"\n') == (
        "venues.polymarket.rest_url: sim mode talks to the local venue simulator: the host must be 127.0.0.1, got 'clob.polymarket.com'"
    )


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    assert err("[risk\n").startswith("<config>: not valid TOML:")
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml")


# --- secrets ---------------------------------------------------------------------------------

PRIVATE_KEY = "0x" + "ab" * 32
API_SECRET = "c2VjcmV0LXZhbHVlLWZvci10ZXN0cw=="


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        (f'[venues.polymarket]\nmode = "paper"\nprivate_key = "{PRIVATE_KEY}"\n', "venues.polymarket.private_key"),
        (f'[venues.kucoin]\nmode = "paper"\napi_secret = "{API_SECRET}"\n', "venues.kucoin.api_secret"),
        ('[venues.kucoin]\nmode = "paper"\napi_passphrase = "hunter22"\n', "venues.kucoin.api_passphrase"),
        ('[strategies.x]\nenabled = false\ntoken = "tok-123"\n', "strategies.x.token"),
    ],
)
def test_inline_secret_is_an_error_naming_the_key_and_not_the_value(toml: str, key: str) -> None:
    msg = err(toml)
    assert msg.startswith(f"{key}: secrets must not be written in the config file")
    for secret in (PRIVATE_KEY, API_SECRET, "hunter22", "tok-123"):
        assert secret not in msg


def test_secret_pasted_into_env_name_field_is_not_echoed() -> None:
    msg = err(f'[venues.polymarket]\nmode = "paper"\nprivate_key_env = "{PRIVATE_KEY[2:]}"\n')
    assert msg.startswith("venues.polymarket")
    assert PRIVATE_KEY[2:] not in msg
    msg = err('[venues.kucoin]\nmode = "paper"\napi_secret_env = "s3cr3t-value"\n')
    assert msg.startswith("venues.kucoin.api_secret_env: must be the NAME of an environment variable")
    assert "s3cr3t-value" not in msg


def test_pem_anywhere_is_refused() -> None:
    msg = err('[strategies.cross_venue]\nenabled = false\nnote = """-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----"""\n')
    assert msg.startswith("strategies.cross_venue.note: looks like a private key")
    assert "MIIE" not in msg


def test_condition_ids_in_strategy_tables_are_fine() -> None:
    from arbkit.runtime.config import _check_no_inline_secrets

    # a 64-hex condition id in a strategy table is public: only venue sections are suspicious
    _check_no_inline_secrets({"strategies": {"cross_venue": {"condition_id": PRIVATE_KEY, "token_id": "123"}}}, "")
    with pytest.raises(ConfigError, match="looks like a private key"):
        _check_no_inline_secrets({"venues": {"kalshi": {"note": PRIVATE_KEY}}}, "")


def test_resolve_secret_from_env_and_file_and_it_is_redacted(tmp_path: Path) -> None:
    key_file = tmp_path / "kalshi.pem"
    key_file.write_text("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n")
    buf = io.StringIO()
    configure_logging("info", json=True, stream=buf)
    try:
        assert resolve_secret("MY_SECRET_VAR", env={"MY_SECRET_VAR": f"  {API_SECRET}\n"}) == API_SECRET
        pem = resolve_secret(key_file)
        assert pem.startswith("-----BEGIN PRIVATE KEY-----") and pem.endswith("-----END PRIVATE KEY-----")
        assert resolve_secret(str(key_file)) == pem
        structlog.get_logger("t").info("loaded", value=API_SECRET, pem=pem)
        assert API_SECRET not in buf.getvalue() and "MIIEvQIBADAN" not in buf.getvalue()
    finally:
        reset_logging()
        clear_registered_secrets()


def test_resolve_secret_errors_never_show_values(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="environment variable NOPE_NOT_SET is not set"):
        resolve_secret("NOPE_NOT_SET", env={})
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_secret(tmp_path / "missing.pem")
    (tmp_path / "empty.pem").write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        resolve_secret(tmp_path / "empty.pem")
    with pytest.raises(ConfigError) as info:
        resolve_secret("deadbeef-not-an-env-name")
    assert "deadbeef" not in str(info.value)


def test_missing_secrets_only_for_live_venues(tmp_path: Path) -> None:
    cfg = loads_config(LIVE_OK, base_dir=tmp_path)
    assert cfg.secret_refs() == {
        "venues.kalshi.api_key_id_env": "KALSHI_API_KEY_ID",
        "venues.kalshi.private_key_file": str(tmp_path / "keys" / "kalshi.pem"),
    }
    assert cfg.missing_secrets(env={}) == [
        "venues.kalshi.api_key_id_env: environment variable KALSHI_API_KEY_ID is not set",
        f"venues.kalshi.private_key_file: key file {tmp_path / 'keys' / 'kalshi.pem'} does not exist",
    ]
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "kalshi.pem").write_text("k")
    assert cfg.missing_secrets(env={"KALSHI_API_KEY_ID": "id"}) == []


def test_paper_and_check_problems() -> None:
    from arbkit.runtime.config import built_strategies

    cfg = loads_config(MINIMAL)  # kalshi in paper mode, no limits, no strategy
    assert cfg.paper_problems() == [f"{k}: must be set for paper trading (paper results mean something only under live limits)"
                                    for k in cfg.unset_risk_limits()]
    probs = cfg.check_problems()
    assert probs[0].startswith("strategies: no strategy is enabled")
    assert probs[1:] == cfg.paper_problems()
    assert err("") .endswith("the file is empty (no tables, no keys): a node needs at least one [venues.NAME] table, "
                             "its [risk] limits and a [strategies.NAME] table; see examples/")
    assert err("[strategies.pairs_trading]\nenabled = true\n") == (
        f"strategies.pairs_trading: no such strategy in this build (available: {', '.join(built_strategies())})")
    assert err("[strategies.cross_venue]\nenabled = true\nmin_edge_bp = 1\n").startswith(
        "strategies.cross_venue.min_edge_bp: unknown key (a typo?); allowed here: enabled, min_edge_bps")
