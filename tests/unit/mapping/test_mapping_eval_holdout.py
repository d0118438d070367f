"""Batch 4 of the verbatim evaluation set (tests/data/mapping_eval_holdout.toml; collected as mapping_eval_batch4.toml) is held out: collected after batch 3
became development data, and nobody tunes the extractor on it. These tests only pin that the file is well formed and
stays disjoint from the other sets; they deliberately assert no recall (the figures are reported, not gated)."""

from __future__ import annotations

from pathlib import Path

import pytest

from arbkit.mapping.evaluate import HOLDOUT_SET, DEFAULT_SET, case_markets, load_cases

BATCH4 = HOLDOUT_SET
CASES = load_cases(BATCH4)
OTHER_SETS = [p for p in sorted(DEFAULT_SET.parent.glob("mapping_eval*.toml")) if p != BATCH4]


def _others() -> list[dict]:
    return [c for p in OTHER_SETS for c in load_cases(p)]


def test_set_size_and_near_miss_share():
    assert len(CASES) >= 20
    near = [c for c in CASES if c["kind"] == "near_miss"]
    assert len(near) * 3 >= len(CASES), "at least a third near misses"
    assert len({c["name"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case_is_well_formed(case):
    assert case["source"].strip(), "every case cites where both sides were read"
    assert case["kind"] in {"true", "near_miss"}
    pm, k, exp = case["polymarket"], case["kalshi"], case["expect"]
    assert pm["question"].strip() and pm["description"].strip()
    for field in ("ticker", "event_ticker", "title", "rules_primary"):
        assert str(k[field]).strip(), field
    assert k["ticker"].startswith(k["event_ticker"])
    if case["kind"] == "true":
        assert exp["polarity"] in {"SAME", "INVERTED"} and "codes" not in exp
    else:
        assert exp["codes"] and "polarity" not in exp
    # both sides build the venue markets discovery reads (no extractor verdict asserted here)
    poly, kalshi = case_markets(case)
    assert kalshi.ticker == k["ticker"] and poly.raw["question"] == pm["question"]


def test_codes_use_the_existing_vocabulary():
    known = {code for c in _others() if c["kind"] == "near_miss" for code in c["expect"]["codes"]}
    used = {code for c in CASES if c["kind"] == "near_miss" for code in c["expect"]["codes"]}
    assert used <= known, used - known


def test_disjoint_from_the_other_sets():
    """A held-out pair must be new: no name, Kalshi ticker or Polymarket question shared with a set
    someone tuned on (or with another held-out batch)."""
    others = _others()
    assert not {c["name"] for c in CASES} & {c["name"] for c in others}
    assert not {c["kalshi"]["ticker"] for c in CASES} & {c["kalshi"].get("ticker") for c in others}
    assert not {c["polymarket"]["question"] for c in CASES} & {c["polymarket"]["question"] for c in others}


def test_file_is_where_the_coordinator_expects_it():
    assert BATCH4 == Path(__file__).resolve().parents[2] / "data" / "mapping_eval_holdout.toml"
    assert BATCH4 in DEFAULT_SET.parent.glob("mapping_eval*.toml")
