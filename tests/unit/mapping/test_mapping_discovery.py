"""Discovery: the hand-written mapping cases (every warning class, expected decision), precision and
recall against a generated simulator scenario's catalogue (true twins and near misses), and
re-discovery keeping or resetting approvals in the store."""

from __future__ import annotations

import random
import tomllib
from pathlib import Path

import pytest

from arbkit.mapping.differences import WARNING_CODES, compare
from arbkit.mapping.discover import KalshiMarket, PolyMarket, discover, sync_to_store
from arbkit.mapping.extract import extract_bound, extract_dates, kalshi_terms, polymarket_terms
from arbkit.mapping.store import MappingStatus, MappingStore
from arbkit.sim.scenario import Catalogue, Scenario, load_scenario

CASES_FILE = Path(__file__).resolve().parents[2] / "data" / "mapping_cases.toml"
CASES = tomllib.loads(CASES_FILE.read_text(encoding="utf-8"))["cases"]


def case_markets(case: dict) -> tuple[PolyMarket, KalshiMarket]:
    p = dict(case["polymarket"])
    p.setdefault("condition_id", f"0x{case['name']}")
    p["tokens"] = [{"token_id": f"{case['name']}-yes", "outcome": "Yes"}, {"token_id": f"{case['name']}-no", "outcome": "No"}]
    k = dict(case["kalshi"])
    sources = k.pop("settlement_sources", [])
    k.setdefault("ticker", f"{k['event_ticker']}-{case['name'].upper()}")
    pm = PolyMarket.from_clob(p)
    assert pm is not None
    return pm, KalshiMarket(k["ticker"], k, {"settlement_sources": [{"name": s, "url": ""} for s in sources]})


# --- the hand-written cases ------------------------------------------------------------------------


def test_cases_cover_every_warning_class_and_decision():
    from arbkit.mapping.evaluate import CONSTRUCTED_SET, load_cases

    seen = {w for c in CASES for w in c["expect"]["warnings"]}
    seen |= {w for c in load_cases() + load_cases(CONSTRUCTED_SET) if c["kind"] == "near_miss" for w in c["expect"]["codes"]}
    assert seen == set(WARNING_CODES), f"warning classes without a case: {set(WARNING_CODES) - seen}"
    assert {c["expect"]["decision"] for c in CASES} == {"approve", "review", "reject"}
    assert all(c.get("source") for c in CASES), "every case notes its public source"
    assert len({c["name"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_case_differences_and_decision(case):
    pm, km = case_markets(case)
    cmp = compare(polymarket_terms(pm.raw), kalshi_terms(km.raw, km.series, km.event))
    exp = case["expect"]
    got = [(w.code, w.detail) for w in cmp.warnings]
    assert cmp.codes == sorted(exp["warnings"]), got
    assert cmp.polarity.value == exp["polarity"]
    assert cmp.recommendation == exp["decision"], got
    # discovery proposes the pair (or, for a different outcome, does not) with the same verdict
    found = discover([pm], [km])
    if exp.get("candidate", True):
        assert len(found) == 1, f"{case['name']} was not proposed"
        assert found[0].comparison.codes == sorted(exp["warnings"])
        assert found[0].comparison.polarity.value == exp["polarity"]
    else:
        assert found == []


@pytest.mark.parametrize("text,op,value,unit", [
    ("is higher than $150,000.", ">", "150000", "usd"),
    ("$150,000 or above", ">=", "150000", "usd"),
    ("by at least 25 bps", ">=", "25", "bps"),
    ("is 4.3% or higher", ">=", "4.3", "%"),
    ("below $5,000", "<", "5000", "usd"),
    ("at most 2.5 million", "<=", "2500000", ""),
    ("between 84-85°", "between", "84", "deg"),
    ("84-85°F", "between", "84", "F"),
    ("between $3.20 and $3.30", "between", "3.2", "usd"),
    ("reach $150k", ">=", "150000", "usd"),
])
def test_bound_extraction(text, op, value, unit):
    b = extract_bound(text)
    assert b is not None and (b.op, str(b.value), b.unit) == (op, value, unit)


def test_years_and_date_ranges_are_not_thresholds():
    assert extract_bound("on December 31, 2026 after 2025") is None
    assert extract_bound("from 2025-2026") is None
    dates, months = extract_dates("at 5:00 PM ET on Dec. 31, 2026 and 2026-12-15; the March 2027 meeting")
    assert {d.isoformat() for d in dates} == {"2026-12-31", "2026-12-15"}
    assert (2027, 3) in months


# --- precision and recall against a generated scenario -------------------------------------------------

ASSETS = [("Bitcoin", "BTC", 100_000), ("Ethereum", "ETH", 4_000), ("Solana", "SOL", 200), ("XRP", "XRP", 3),
          ("Dogecoin", "DOGE", 1)]
DATES = ["2026-06-30", "2026-09-30", "2026-12-31"]
SOURCES = {"BTC": "CF Benchmarks Bitcoin Real Time Index", "ETH": "CF Benchmarks Ether Real Time Index",
           "SOL": "CF Benchmarks Solana Reference Rate", "XRP": "CF Benchmarks XRP Reference Rate",
           "DOGE": "CF Benchmarks Dogecoin Reference Rate"}


def generated_scenario(seed: int) -> Scenario:
    """Crypto threshold events on several assets, dates and strikes, Fed meetings, and a neg-risk
    event; every event has near misses of a randomly chosen kind on a random venue."""
    rng = random.Random(seed)
    events = []
    for name, tk, base in ASSETS:
        for date in DATES:
            for mult in (1, 2):
                threshold = base * mult
                ev = {"key": f"{tk}-{date}-{threshold}", "template": "crypto_above", "asset": name, "ticker": tk,
                      "threshold": threshold, "date": date, "source": SOURCES[tk], "fair": "0.4", "near_misses": []}
                for kind in rng.sample(["threshold", "date_window", "polarity", "resolution_source"], k=2):
                    nm = {"differences": [kind], "venue": rng.choice(["polymarket", "kalshi"])}
                    if kind == "threshold":
                        nm["threshold"] = threshold * 3 + 1  # never another event's strike (that would be a twin)
                    elif kind == "date_window":
                        nm["date"] = date[:8] + "15"
                    elif kind == "resolution_source":
                        # a Kalshi series has one settlement source: a different source is listed on Polymarket
                        nm["venue"] = "polymarket"
                        nm["source"] = f"Binance {tk}/USDT 1 minute candle close"
                    ev["near_misses"].append(nm)
                events.append(ev)
    for month, date in (("March", "2026-03-18"), ("June", "2026-06-17"), ("September", "2026-09-16")):
        events.append({"key": f"fed-{month}", "template": "rate_cut", "threshold": 25, "date": date,
                       "source": "Federal Reserve FOMC statement", "fair": "0.5",
                       "near_misses": [{"venue": "polymarket", "differences": ["threshold"], "threshold": 50}]})
    data = {"name": f"generated-{seed}", "venues": ["polymarket", "kalshi"], "events": events,
            "negrisk": [{"key": "chair", "title": "Who will Trump nominate as Fed Chair?", "outcomes":
                         ["Kevin Hassett", "Kevin Warsh", "Christopher Waller", "Other"],
                         "fairs": ["0.4", "0.3", "0.2", "0.1"], "date": "2026-06-30",
                         "source": "official White House announcement"}]}
    return Scenario(data, seed)


def catalogue_markets(cat: Catalogue) -> tuple[list[PolyMarket], list[KalshiMarket]]:
    """The catalogue's markets in the venues' REST shapes (what the simulator serves)."""
    poly, kal = [], []
    for m in cat.markets:
        vm = m.venue_meta
        if m.venue == "polymarket":
            raw = {"condition_id": vm["condition_id"], "question": vm["question"], "description": vm["description"],
                   "end_date_iso": vm["end_date_iso"], "groupItemTitle": vm["group_item_title"],
                   "tokens": [{"token_id": vm["yes_token_id"], "outcome": "Yes"}, {"token_id": vm["no_token_id"], "outcome": "No"}]}
            pm = PolyMarket.from_clob(raw)
            assert pm is not None
            poly.append(pm)
        else:
            kal.append(KalshiMarket(vm["ticker"], dict(vm), {"settlement_sources": [{"name": vm["settlement_source"]}]}))
    return poly, kal


def score(cat: Catalogue, candidates) -> dict[str, float]:
    twins = {(p.polymarket_market_id, p.kalshi_market_id) for p in cat.pairs if p.relation == "twin"}
    near = {(p.polymarket_market_id, p.kalshi_market_id): p.differences for p in cat.pairs if p.relation == "near_miss"}
    by_key = {c.key: c for c in candidates}
    approved = {c.key for c in candidates if c.recommendation == "approve"}
    tp = len(approved & twins)
    caught = 0
    for key, diffs in near.items():
        c = by_key.get(key)
        # caught: not proposed, or proposed as not-the-same with the catalogue's own difference named
        if c is None or (c.recommendation != "approve" and set(diffs) <= set(c.comparison.codes)):
            caught += 1
    return {
        "precision": tp / len(approved) if approved else 0.0,
        "recall": tp / len(twins) if twins else 0.0,
        "near_miss_caught": caught / len(near) if near else 1.0,
        "twins": len(twins), "near_misses": len(near), "proposed": len(candidates), "approve_recommended": len(approved),
    }


@pytest.mark.parametrize("seed", [1, 2])
def test_precision_and_recall_on_a_generated_scenario(seed, capsys):
    sc = generated_scenario(seed)
    poly, kal = catalogue_markets(sc.catalogue)
    figures = score(sc.catalogue, discover(poly, kal))
    with capsys.disabled():
        print(f"\ndiscovery on generated scenario seed {seed}: " + ", ".join(
            f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()))
    assert figures["twins"] >= 30 and figures["near_misses"] >= 60
    assert figures["precision"] >= 0.95
    assert figures["recall"] >= 0.90
    assert figures["near_miss_caught"] == 1.0  # a near miss recommended for approval loses money


def test_precision_and_recall_on_the_demo_catalogue():
    sc = load_scenario("demo", 1)
    poly, kal = catalogue_markets(sc.catalogue)
    f = score(sc.catalogue, discover(poly, kal))
    assert f["precision"] == 1.0 and f["recall"] == 1.0 and f["near_miss_caught"] == 1.0, f


# --- re-discovery and the store ---------------------------------------------------------------------


def test_rediscovery_keeps_approvals_and_resets_changed_terms(tmp_path):
    sc = load_scenario("demo", 1)
    poly, kal = catalogue_markets(sc.catalogue)
    with MappingStore(tmp_path / "m.db") as store:
        first = sync_to_store(store, discover(poly, kal))
        assert {w for w, _ in first} == {"created"}
        twin = next(m for _, m in first if m.recommendation == "approve")
        near = next(m for _, m in first if "threshold" in m.warning_codes)
        store.approve(twin.id, by="alice")
        store.reject(near.id, reason="different strike")
        again = sync_to_store(store, discover(poly, kal))
        assert {w for w, _ in again} == {"unchanged"}
        assert store.get(twin.id).status is MappingStatus.APPROVED
        assert store.get(near.id).status is MappingStatus.REJECTED
        # the venue rewrites the Kalshi rules of the approved twin: back to pending
        for km in kal:
            if km.ticker == twin.kalshi_ticker:
                km.raw["rules_secondary"] = km.raw["rules_secondary"] + " Amended: a different fixing window applies."
        changed = dict((m.id, w) for w, m in sync_to_store(store, discover(poly, kal)))
        assert changed[twin.id] == "changed"
        assert store.get(twin.id).status is MappingStatus.PENDING
        assert store.approved() == []
        assert store.history(twin.id)[-1].detail["reason"] == "venue terms changed"
