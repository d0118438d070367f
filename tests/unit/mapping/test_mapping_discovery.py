"""Discovery: the hand-written mapping cases (every warning class, expected decision), precision and
recall against a generated simulator scenario's catalogue (true twins and near misses), and
re-discovery keeping or resetting approvals in the store."""

from __future__ import annotations

import datetime as _dt
import random
from decimal import Decimal
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


# --- rules learned from real texts (batch 2, moved into development) ------------------------------


def test_before_a_bare_date_is_by_the_day_before():
    # "before Jan 1, 2027" and "by December 31, 2026, 11:59pm ET" end on the same day
    assert extract_dates("If New Zealand recognizes Palestine before Jan 1, 2027, then ...")[0] == {_dt.date(2026, 12, 31)}
    # a time on the date keeps the date: "before December 31, 2026, 11:59 PM ET" is on December 31
    assert extract_dates("at any time before December 31, 2026, 11:59 PM ET")[0] == {_dt.date(2026, 12, 31)}


def _pm(question: str, description: str, **kw) -> dict:
    return {"condition_id": "0xc", "question": question, "description": description, **kw}


def _ks(title: str, rules: str, **kw) -> dict:
    return {"ticker": "KX-T", "event_ticker": "KX-26", "title": title, "rules_primary": rules, **kw}


def test_a_deadline_for_the_data_is_not_the_window():
    p = polymarket_terms(_pm("Will The Weeknd be the top Spotify artist for 2026?",
                             "This market will resolve according to the name of the artist listed by Spotify as the top "
                             "artist of 2026.\n\nIf Spotify does not release who their top artist for 2026 is by January 31, "
                             "2027, 11:59 PM ET, this market will resolve to \"No\"."))
    assert p.window == "on" and not p.dates
    # the window stated by the contract itself still counts
    q = polymarket_terms(_pm("Will X happen by June 30, 2026?", "Resolves Yes if X happens by June 30, 2026."))
    assert q.window == "by"


def test_a_half_strike_on_a_count_is_the_count_its_title_says():
    k = kalshi_terms(_ks("Malik Nabers: 100+ receiving yards",
                         "If Malik Nabers records 100+ receiving yards in the game, then the market resolves to Yes.",
                         strike_type="greater", floor_strike=99.5, yes_sub_title="Malik Nabers: 100+"))
    assert (k.bound.op, k.bound.value) == (">=", 100)
    # a half strike whose text says another number stays as struck (and differs)
    k2 = kalshi_terms(_ks("Total points", "If more than 45.5 points are scored, then the market resolves to Yes.",
                          strike_type="greater", floor_strike=45.5))
    assert (k2.bound.op, k2.bound.value) == (">", Decimal("45.5"))


def test_a_game_scheduled_for_a_date_observes_that_date_but_a_release_schedule_does_not():
    p = polymarket_terms(_pm("Q?", "in the Titans vs Giants game scheduled for Sep 27, 2026. Overtime is included."))
    assert p.dates == {_dt.date(2026, 9, 27)}
    r = polymarket_terms(_pm("Q?", "The report is currently scheduled to be released on August 12, 2026, at 8:30 AM ET."))
    assert not r.dates


def test_a_generic_source_does_not_contradict_a_named_one():
    p = polymarket_terms(_pm("Will F finish in second place?",
                             "This market will resolve according to the listed candidate who receives the second-most valid "
                             "votes. If there is ambiguity, this market will resolve based solely on the official results as "
                             "reported by the Brazilian government, specifically the Superior Electoral Court (TSE)."))
    assert not any(s.lower().startswith("listed candidate") for s in p.sources_raw)
    k = kalshi_terms(_ks("Will F finish 2nd?", "If F finishes in 2nd place according to the certified results, then the market resolves to Yes."))
    c = compare(p, k)
    assert [(w.code, w.severity) for w in c.warnings if w.code == "resolution_source"] == [("resolution_source", "review")]
    # two named sources that differ still differ
    k2 = kalshi_terms(_ks("Will F finish 2nd?", "If F finishes in 2nd place according to Reuters, then the market resolves to Yes."))
    assert any(w.code == "resolution_source" and w.severity == "different" for w in compare(p, k2).warnings)


def test_a_team_named_by_its_city_is_proposed_for_review_not_dropped():
    pm = PolyMarket.from_gamma({"conditionId": "0xk", "question": "Will the New York Knicks win the 2026 NBA Finals?",
                                "description": "This market will resolve to Yes if the New York Knicks win the 2026 NBA Finals.",
                                "groupItemTitle": "New York Knicks", "clobTokenIds": '["1", "2"]', "outcomes": '["Yes", "No"]'})
    assert pm is not None
    km = KalshiMarket("KXNBA-26-NYK", {"ticker": "KXNBA-26-NYK", "event_ticker": "KXNBA-26", "yes_sub_title": "New York",
                                       "title": "Will the New York win the 2026 Pro Basketball Finals?",
                                       "rules_primary": "If New York win the 2026 Pro Basketball Finals, then the market resolves to Yes."})
    found = [c for c in discover([pm], [km]) if c.kalshi.ticker == km.ticker]
    assert found and found[0].recommendation == "review"
    assert any(w.code == "outcome" and w.severity == "review" for w in found[0].comparison.warnings)


# --- rules learned from batch 3 (moved into development) -------------------------------------------


@pytest.mark.parametrize("text,expected", [
    ("reports core inflation over 1-month periods to only one decimal point", None),  # a period, not a bound
    ("awarded to mathematicians under 40 years of age", None),  # an age
    ("Will Core PCE MoM be 0.1% in June?", ("=", "0.1", "%")),  # a value with its unit, no comparator
    ("Will it be 2 in June?", None),  # a bare number after "be" names nothing
    ("more than 30 days", (">", "30", "")),  # a duration bound stays a bound
])
def test_bounds_that_are_not_bounds_and_values_that_are(text, expected):
    b = extract_bound(text)
    assert (b if b is None else (b.op, str(b.value), b.unit)) == expected


def test_a_clarification_in_parentheses_does_not_negate_the_condition():
    k = kalshi_terms(_ks("Qatar vs Switzerland Winner?", "If Qatar wins the game after 90 minutes plus stoppage time "
                         "(does not include extra time or penalties), then the market resolves to Yes.", yes_sub_title="Qatar"))
    assert not k.negated and k.polarity_sign == 1
    assert kalshi_terms(_ks("Fed?", "If the Fed does not cut rates, then the market resolves to Yes.")).negated


def test_a_named_outcome_takes_no_bound_from_the_event_background():
    p = polymarket_terms(_pm("Will Sam Raskin win the 2026 Fields Medal?",
                             "It is awarded to two, three, or four mathematicians under 40 ... This market will resolve "
                             "according to the winners.", groupItemTitle="Sam Raskin"))
    assert p.bound is None and p.polarity_sign == 1


def test_the_question_s_number_beats_background_numbers_and_the_description_refines_it():
    p = polymarket_terms(_pm("Will ISM Manufacturing PMI be at least 57.0 in July?",
                             "A reading above 50 indicates expansion. The resolution source for this market will be the ISM "
                             "Manufacturing PMI Report On Business released for July 2026."))
    assert (p.bound.op, p.bound.value) == (">=", 57)
    assert p.sources_raw and p.sources_raw[0].startswith("ISM Manufacturing PMI")  # not "for this market will be ..."
    q = polymarket_terms(_pm("Will Bitcoin reach $150,000 by December 31, 2026?",
                             "Resolves Yes if the index is above $149,999.99 at any time before December 31, 2026, 11:59 PM ET."))
    assert (q.bound.op, q.bound.value) == (">", Decimal("149999.99"))


def test_manufacturing_and_services_surveys_differ():
    p = polymarket_terms(_pm("Will ISM Services PMI be at least 58.0 in July?", "About the ISM Services PMI for July 2026."))
    k = kalshi_terms(_ks("ISM Manufacturing PMI in July 2026?", "If the headline PMI value in the ISM Manufacturing PMI "
                         "Report On Business for July 2026 is at least 58, then the market resolves to Yes."))
    assert any(w.code == "measure" for w in compare(p, k).warnings)


def test_accents_and_kalshi_city_initial_team_names_match():
    from arbkit.mapping.extract import abbreviated_label, label_in

    assert label_in("Türkiye", "Will Turkiye win Group D?")
    assert abbreviated_label("Los Angeles D", "Los Angeles Dodgers")
    assert not abbreviated_label("Los Angeles A", "Los Angeles Dodgers")
    assert not abbreviated_label("New York", "New York Yankees")
