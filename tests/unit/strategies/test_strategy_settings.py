"""Settings that do what they say, exercised through the node configuration: two_leg_mode
(parallel / sequential and which leg first), hedge settings per strategy, the cooldown after our
own trade (a cooldown, recorded as one, not a stale denial), validation and `config check`."""

from __future__ import annotations

from decimal import Decimal

import pytest

from arbkit.execution.intent import HedgeMode, Sequencing
from arbkit.runtime.config import ConfigError, loads_config
from arbkit.strategies.cross_venue import CrossVenueStrategy, config_from_node

from test_cross_venue import NOW, Kit

D = Decimal
S = 10**9
BASE = """
[venues.polymarket]
mode = "paper"
[venues.kalshi]
mode = "paper"
[execution]
two_leg_mode = "parallel"
leg_timeout_ms = 4000
hedge_policy = "market"
[strategies.cross_venue]
enabled = true
min_edge_bps = "100"
max_size = "100"
"""


def strategy_from(extra: str = "") -> tuple[Kit, CrossVenueStrategy]:
    cfg = loads_config(BASE + extra)
    xcfg = config_from_node(cfg.strategies.cross_venue, cfg.execution, cfg.risk)
    kit = Kit()
    strat = CrossVenueStrategy(xcfg, kit.market, clock_ns=lambda: NOW, id_factory=lambda: "x1")
    strat.set_pairs([kit.pair])
    return kit, strat


def edge(kit: Kit, poly_size: str = "50", kalshi_size: str = "50") -> None:
    kit.set(kit.pair.poly_yes.id, [("0.30", poly_size)])
    kit.set(kit.pair.kalshi_no.id, [("0.50", kalshi_size)])


def test_parallel_by_default_from_execution():
    kit, strat = strategy_from()
    edge(kit)
    intent = strat.evaluate(kit.pair, NOW).intent
    assert intent is not None and intent.sequencing is Sequencing.PARALLEL
    assert intent.leg_timeout_s == 4.0


@pytest.mark.parametrize("first,expected_first", [("kalshi", "kalshi"), ("polymarket", "polymarket")])
def test_sequential_with_a_chosen_first_leg(first, expected_first):
    kit, strat = strategy_from(f'two_leg_mode = "sequential"\nfirst_leg = "{first}"\n')
    edge(kit)
    intent = strat.evaluate(kit.pair, NOW).intent
    assert intent is not None and intent.sequencing is Sequencing.SEQUENTIAL
    assert intent.legs[0].instrument.venue.value == expected_first
    assert {leg.instrument.venue.value for leg in intent.legs} == {"polymarket", "kalshi"}


@pytest.mark.parametrize("poly_size,kalshi_size,expected_first", [("12", "500", "polymarket"), ("500", "12", "kalshi")])
def test_sequential_auto_sends_the_less_liquid_leg_first(poly_size, kalshi_size, expected_first):
    kit, strat = strategy_from('two_leg_mode = "sequential"\n')
    edge(kit, poly_size, kalshi_size)
    intent = strat.evaluate(kit.pair, NOW).intent
    assert intent is not None and intent.sequencing is Sequencing.SEQUENTIAL
    assert intent.legs[0].instrument.venue.value == expected_first


def test_strategy_two_leg_mode_overrides_execution():
    kit, strat = strategy_from('two_leg_mode = "sequential"\n')
    edge(kit)
    assert strat.evaluate(kit.pair, NOW).intent.sequencing is Sequencing.SEQUENTIAL


def test_hedge_settings_per_strategy_reach_the_intent():
    kit, strat = strategy_from('hedge_policy = "chase"\nhedge_chase_seconds = 1.5\nhedge_max_slippage_bps = "75"\n'
                               'hedge_timeout_ms = 2500\nhedge_max_attempts = 2\nleg_timeout_ms = 1200\n')
    edge(kit)
    intent = strat.evaluate(kit.pair, NOW).intent
    h = intent.hedge
    assert (h.mode, h.chase_s, h.max_slippage_bps, h.timeout_s, h.max_attempts) == (HedgeMode.LIMIT_CHASE, 1.5, D(75), 2.5, 2)
    assert intent.leg_timeout_s == 1.2


def test_hedge_defaults_come_from_execution():
    kit, strat = strategy_from()
    edge(kit)
    h = strat.evaluate(kit.pair, NOW).intent.hedge
    assert (h.mode, h.max_slippage_bps, h.timeout_s, h.max_attempts) == (HedgeMode.MARKET_OUT, D(200), 10.0, 5)


@pytest.mark.parametrize("extra,key", [
    ('first_leg = "both"\n', "strategies.cross_venue.first_leg"),
    ('two_leg_mode = "serial"\n', "strategies.cross_venue.two_leg_mode"),
    ("hedge_timeout_ms = 0\n", "strategies.cross_venue.hedge_timeout_ms"),
    ("hedge_max_attempts = 0\n", "strategies.cross_venue.hedge_max_attempts"),
    ('hedge_max_slippage_bps = "0"\n', "strategies.cross_venue.hedge_max_slippage_bps"),
    ("cooldown_ms = -1\n", "strategies.cross_venue.cooldown_ms"),
    ('hedge_policy = "chase"\n', "strategies.cross_venue.hedge_chase_seconds"),
    ("max_silence_kalshi_ms = 0\n", "strategies.cross_venue.max_silence_kalshi_ms"),
])
def test_bad_settings_are_refused_naming_the_key(extra, key):
    with pytest.raises(ConfigError) as exc:
        loads_config(BASE + extra)
    assert str(exc.value).startswith(key), str(exc.value)


def test_config_check_shows_the_effective_settings():
    cfg = loads_config(BASE + 'two_leg_mode = "sequential"\nfirst_leg = "kalshi"\nhedge_max_attempts = 3\ncooldown_ms = 1500\n'
                       'max_silence_kalshi_ms = 15000\n')
    line = next(x for x in cfg.summary() if x.startswith("cross_venue:"))
    for part in ("two-leg sequential (first leg kalshi)", "leg timeout 4000 ms", "hedge market", "hedge slippage 200 bps",
                 "hedge timeout 10000 ms", "hedge attempts 3", "cooldown 1500 ms", "kalshi 15000 ms"):
        assert part in line, line


def test_cooldown_is_a_cooldown_and_waits_for_both_books():
    kit, strat = strategy_from("cooldown_ms = 2000\n")
    records = []
    strat.on_cooldown = records.append
    edge(kit)
    intent = strat.evaluate(kit.pair, NOW).intent
    assert intent is not None
    strat.execution_finished(intent.execution_id, now_ns=NOW)
    assert records and records[0]["mapping"] == kit.pair.key and records[0]["cooldown_s"] == 2.0
    d = strat.evaluate(kit.pair, NOW + S)
    assert d.intent is None and "cooldown" in d.reason and "s left" in d.reason
    assert strat.reasons.get("cooldown") == 1 and "stale" not in strat.reasons
    # the time is up, but only Polymarket has moved since our trade
    kit.set(kit.pair.poly_yes.id, [("0.30", "50")], ts=NOW + 2 * S)
    d = strat.evaluate(kit.pair, NOW + 3 * S)
    assert d.intent is None and "waiting for Kalshi books" in d.reason
    kit.set(kit.pair.kalshi_no.id, [("0.50", "50")], ts=NOW + 3 * S)
    assert strat.evaluate(kit.pair, NOW + 3 * S).intent is not None


def test_cooldown_waits_only_for_the_books_where_we_filled():
    """A leg that filled nothing (the venue killed the IOC) leaves nothing to show in that venue's
    book; on a quiet market that book may not change for minutes, and waiting for it would block
    the mapping on the very market the strategy is for."""
    from arbkit.core.enums import Venue

    kit, strat = strategy_from("cooldown_ms = 500\n")
    records = []
    strat.on_cooldown = records.append
    edge(kit)
    intent = strat.evaluate(kit.pair, NOW).intent
    assert intent is not None
    strat.execution_finished(intent.execution_id, now_ns=NOW, filled_venues={Venue.KALSHI})
    assert records[0]["wait_for_venues"] == ["kalshi"]
    d = strat.evaluate(kit.pair, NOW + S)
    assert d.intent is None and "waiting for Kalshi books" in d.reason and "Polymarket" not in d.reason
    # the Kalshi book shows our fill and its hedge; the Polymarket book never changed
    kit.set(kit.pair.kalshi_no.id, [("0.50", "50")], ts=NOW + S)
    assert strat.evaluate(kit.pair, NOW + S).intent is not None


def test_cooldown_of_an_execution_that_filled_nothing_is_time_only():
    from arbkit.core.enums import Venue  # noqa: F401

    kit, strat = strategy_from("cooldown_ms = 500\n")
    edge(kit)
    intent = strat.evaluate(kit.pair, NOW).intent
    strat.execution_finished(intent.execution_id, now_ns=NOW, filled_venues=set())
    assert "s left" in strat.evaluate(kit.pair, NOW + S // 10).reason
    assert strat.evaluate(kit.pair, NOW + S).intent is not None


def test_a_denied_intent_starts_no_cooldown():
    kit, strat = strategy_from("cooldown_ms = 60000\n")
    records = []
    strat.on_cooldown = records.append
    edge(kit)
    intent = strat.evaluate(kit.pair, NOW).intent
    strat.execution_finished(intent.execution_id, traded=False)
    assert records == [] and strat.evaluate(kit.pair, NOW).intent is not None
