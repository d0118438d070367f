"""Discovery on real market texts: the verbatim development split (tests/data/mapping_eval.toml and
mapping_eval_batch2b.toml, mapping_eval_batch3.toml) meets the issue's goal, the held-out batch 4
(mapping_eval_holdout.toml, never tuned on) does not regress below what it measured, every
warning class the issue names is caught on a concrete pair (the constructed set pins the classes the
captures lack), and `arbkit mappings discover` reads saved venue REST JSON (--polymarket-file /
--kalshi-file)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from arbkit.mapping.differences import compare
from arbkit.mapping.discover import discover
from arbkit.mapping.evaluate import CONSTRUCTED_SET, HOLDOUT_SET, case_markets, evaluate, judge, load_cases, load_dev_cases
from arbkit.mapping.extract import kalshi_terms, polymarket_terms
from arbkit.mapping.reader import ReadError, load_kalshi_files, load_polymarket_files

CASES = load_dev_cases()
HOLDOUT = load_cases(HOLDOUT_SET)
BUILT = load_cases(CONSTRUCTED_SET)
EVERY = CASES + HOLDOUT + BUILT
ROOT = Path(__file__).resolve().parents[3]
SHARED = ROOT.parent / "shared"


def test_set_shape_and_sources():
    verbatim = CASES + HOLDOUT
    assert len(CASES) >= 70 and len(HOLDOUT) >= 20
    for cases in (CASES, HOLDOUT, verbatim):
        near = [c for c in cases if c["kind"] == "near_miss"]
        assert len(near) * 3 >= len(cases), "at least a third near misses"
    assert all(c.get("source") for c in EVERY)
    assert {c["kind"] for c in EVERY} == {"true", "near_miss"}
    assert len({c["name"] for c in EVERY}) == len(EVERY)


@pytest.mark.parametrize("cases", [CASES, BUILT], ids=["verbatim-dev", "constructed"])
def test_goal_met_on_the_set(cases):
    figures, results = evaluate(cases)
    assert figures["recall"] >= 0.9, figures["misses"]
    assert figures["near_miss_flagged"] >= 0.9, figures["misses"]
    assert figures["unwarned_near_misses"] == 0 and figures["unwarned_bound_date_source"] == 0
    assert figures["catalogue_recall"] >= 0.9, figures["misses"]


def test_held_out_captures_no_regression():
    """The held-out batch 4 is never tuned on, and the goal is NOT met there (recall 0.81, near misses
    flagged 1.00 with the final extractor: bench/RESULTS.md); these floors are what it measured, so a
    change that loses held-out pairs, or proposes a near miss unwarned, fails."""
    figures, _ = evaluate(HOLDOUT)
    assert figures["recall"] >= 0.81 and figures["near_miss_flagged"] >= 0.9, figures["misses"]
    assert figures["unwarned_near_misses"] == 0 and figures["unwarned_bound_date_source"] == 0
    # both verbatim sets discovered as one catalogue: no true pair lost to another case's look-alike
    both = evaluate(CASES + HOLDOUT)[0]
    assert both["catalogue_recall"] == both["recall"]


# development cases the extractor still gets wrong, each with why (they count in the figures)
KNOWN_MISSES = {
    # Polymarket resolves on the race called on election day (inauguration only as a fallback), Kalshi
    # on who is inaugurated: labelled the same contract by judgement; the extractor sees two dates
    # and rejects, which errs on the safe side
    "us28-president-party-republican": "date_window: election called (Nov 7, 2028) vs inauguration (Jan 20, 2029)",
}


@pytest.mark.parametrize("case", CASES + BUILT, ids=[c["name"] for c in CASES + BUILT])
def test_each_case(case, request):
    if case["name"] in KNOWN_MISSES:  # strict: when it starts passing, the list must shrink
        request.applymarker(pytest.mark.xfail(reason=KNOWN_MISSES[case["name"]], strict=True))
    pm, km = case_markets(case)
    r = judge(case, [c for c in discover([pm], [km]) if c.kalshi.ticker == km.ticker])
    assert r.ok, r.why


def _codes(case_name: str) -> list[str]:
    case = next(c for c in EVERY if c["name"] == case_name)
    pm, km = case_markets(case)
    return compare(polymarket_terms(pm.raw), kalshi_terms(km.raw, km.series, km.event)).codes


@pytest.mark.parametrize("name,code", [
    ("cpi-bucket-vs-threshold", "threshold_vs_bucket"),
    ("fed-at-least-vs-above-425", "bound_inclusivity"),
    ("gdp-q2-at-least-15-vs-more-than-15", "bound_inclusivity"),  # "at least 1.5%" vs "more than 1.5"
    ("gdp-q3-vs-q2-quarter", "date_window"),
    ("fed-above-425-other-meeting", "date_window"),
    ("austin-high-other-day", "date_window"),
    ("btc-binance-candle-vs-brti", "resolution_source"),
    ("nyc-high-laguardia-vs-central-park", "resolution_source"),
    ("cpi-yoy-vs-mom", "measure"),
    ("cpi-core-vs-headline", "measure"),
    ("fed-cut-vs-hike-25", "direction"),
    ("nfl-single-vs-combo", "joint"),
    ("nfl-full-game-vs-first-half", "game_period"),
    ("nfl-moneyline-vs-spread", "bet_type"),
])
def test_issue_warning_list(name, code):
    """Each difference the issue lists is named by its warning when the pair is compared."""
    assert code in _codes(name)


@pytest.mark.parametrize("name,polarity", [
    ("cpi-yoy-24-or-less-inverted", "INVERTED"), ("fed-at-most-425-inverted", "INVERTED"),
    ("lax-high-less-than-66-inverted", "INVERTED"), ("cpi-yoy-above-24", "SAME"),
    ("cpi-yoy-jul26-31-or-less-vs-above-31", "INVERTED"), ("u3-jul26-39-or-less-vs-above-39", "INVERTED"),
])
def test_polarity(name, polarity):
    case = next(c for c in EVERY if c["name"] == name)
    pm, km = case_markets(case)
    cmp = compare(polymarket_terms(pm.raw), kalshi_terms(km.raw, km.series, km.event))
    assert cmp.polarity.value == polarity
    assert "bound_inclusivity" not in cmp.codes  # "2.4% or less" is the exact complement of "above 2.4%"


# --- saved catalogues --------------------------------------------------------------------------


def _write_catalogues(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The eval set as the venues' REST bodies: a Gamma /events list, a Kalshi /markets page and a
    Kalshi /series page, the way `curl` would save them."""
    events, kmarkets, series = [], {}, {}
    for case in BUILT:
        p = dict(case["polymarket"])
        p.update(conditionId=f"0x{case['name']}", outcomes=json.dumps(["Yes", "No"]),
                 clobTokenIds=json.dumps([f"{case['name']}-y", f"{case['name']}-n"]), active=True, closed=False)
        events.append({"id": case["name"], "title": p["question"], "markets": [p]})
        k = dict(case["kalshi"])
        srcs = k.pop("settlement_sources", [])
        k.setdefault("ticker", f"{k['event_ticker']}-{case['name'].upper()}")
        k.update(status="active", market_type="binary")
        kmarkets[k["ticker"]] = k
        st = k["event_ticker"].split("-")[0]
        if srcs:
            series[st] = {"ticker": st, "settlement_sources": [{"name": s, "url": ""} for s in srcs]}
    pf, kf, sf = tmp_path / "gamma-events.json", tmp_path / "kalshi-markets.json", tmp_path / "kalshi-series.json"
    pf.write_text(json.dumps(events))
    kf.write_text(json.dumps({"markets": list(kmarkets.values()), "cursor": ""}))
    sf.write_text(json.dumps({"series": list(series.values())}))
    return pf, kf, sf


def test_loaders_read_saved_rest_json(tmp_path):
    pf, kf, sf = _write_catalogues(tmp_path)
    poly, s1 = load_polymarket_files([pf])
    kal, s2 = load_kalshi_files([kf, sf])
    assert (s1, s2) == (0, 0)
    assert len(poly) == len(BUILT)
    assert all(pm.yes_token.endswith("-y") and pm.no_token.endswith("-n") for pm in poly)
    fed = next(k for k in kal if k.ticker == "KXFED-27APR-T4.25")
    assert fed.series and fed.series["settlement_sources"][0]["name"] == "Federal Reserve Board of Governors"


def test_loaders_tolerate_and_count_malformed(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"conditionId": "0x1", "outcomes": "not json", "clobTokenIds": "[]"},
                               {"conditionId": "0x2", "outcomes": '["Trump", "Harris"]', "clobTokenIds": '["a", "b"]'},
                               "junk"]))
    poly, skipped = load_polymarket_files([bad])
    assert poly == [] and skipped == 3
    (tmp_path / "k.json").write_text(json.dumps({"markets": [{"no_ticker": 1}, {"ticker": "X-1", "market_type": "scalar"}]}))
    kal, skipped = load_kalshi_files([tmp_path / "k.json"])
    assert kal == [] and skipped == 2
    (tmp_path / "nojson.json").write_text("<html>")
    with pytest.raises(ReadError):
        load_kalshi_files([tmp_path / "nojson.json"])


def test_loaders_read_shared_recordings():
    """Real recorded REST bodies (../shared): a Kalshi /markets page in the recording wrapper, a
    Kalshi /events/{ticker} body, a Gamma /markets list and a CLOB /markets page."""
    base = SHARED / "fixtures"
    kfile = base / "kalshi/kalshi-starter-code-python_golden/markets_list_response.json"
    efile = base / "kalshi/kalshi-starter-code-python_golden/event_single_response.json"
    gfile = base / "polymarket/nautilus_trader/tests_http_responses/markets_list.json"
    cfile = base / "polymarket/nautilus_trader/tests_http_responses/markets.json"
    if not all(f.exists() for f in (kfile, efile, gfile, cfile)):
        pytest.skip("../shared fixtures absent")
    kal, _ = load_kalshi_files([kfile, efile])
    assert kal and all(k.ticker and "rules_primary" in k.raw for k in kal)
    gamma = json.loads(gfile.read_text())
    poly, skipped = load_polymarket_files([gfile])
    open_yes_no = [m for m in gamma if not m.get("closed") and json.loads(m.get("outcomes") or "[]") in (["Yes", "No"], ["No", "Yes"])]
    assert len(poly) == len(open_yes_no)
    # a market that does not state its outcomes is skipped and counted: which token is YES is unknown
    assert skipped == len(gamma) - len(poly) - sum(1 for m in gamma if m.get("closed") and m in open_yes_no)
    for pm in poly:
        src = next(m for m in gamma if m["conditionId"] == pm.condition_id)
        outcomes, tokens = json.loads(src["outcomes"]), json.loads(src["clobTokenIds"])
        assert pm.yes_token == tokens[outcomes.index("Yes")] and pm.raw["question"] == src["question"]
    clob, _ = load_polymarket_files([cfile])
    assert all(pm.yes_token and pm.no_token for pm in clob)


def test_cli_discover_from_files(tmp_path):
    pf, kf, sf = _write_catalogues(tmp_path)
    db = tmp_path / "m.db"
    cmd = [sys.executable, "-m", "arbkit.cli", "mappings", "discover", "--polymarket-file", str(pf),
           "--kalshi-file", str(kf), "--kalshi-file", str(sf), "--db", str(db), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT,
                         env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    got = {(r["polymarket"], r["kalshi"]): r for r in rows}
    twin = got[("0xcpi-yoy-24-or-less-inverted", "KXCPIYOY-26JAN-T2.4")]
    assert twin["polarity"] == "INVERTED" and twin["status"] == "pending"
    miss = got[("0xnyc-high-laguardia-vs-central-park", "KXHIGHNY-26MAY14-B69.5")]
    assert {"place", "resolution_source"} <= {w["code"] for w in miss["warnings"]}
    # the store holds what was printed
    con = sqlite3.connect(db)
    try:
        assert con.execute("select count(*) from mappings").fetchone()[0] == len(rows)
    finally:
        con.close()


def test_seasonal_adjustment_and_a_joint_title_are_named():
    kal = {"ticker": "KXU3-26JUL-T4.1", "event_ticker": "KXU3-26JUL", "title": "Will the unemployment rate be above 4.1% in July 2026?",
           "rules_primary": "If the seasonally adjusted unemployment rate reported by the Bureau of Labor Statistics is above "
                            "4.1% in July 2026, then the market resolves to Yes."}
    nsa = {"conditionId": "0x1", "question": "Will the July 2026 unemployment rate be above 4.1%?",
           "description": "Resolves Yes if the unemployment rate, not seasonally adjusted, reported by the Bureau of Labor "
                          "Statistics for July 2026 is above 4.1%."}
    assert "measure" in compare(polymarket_terms(nsa), kalshi_terms(kal)).codes
    same = dict(nsa, description=nsa["description"].replace("not seasonally adjusted", "seasonally adjusted"))
    assert "measure" not in compare(polymarket_terms(same), kalshi_terms(kal)).codes
    both = dict(same, question="Will the July 2026 unemployment rate be above 4.1% and payrolls both rise?")
    assert "joint" in compare(polymarket_terms(both), kalshi_terms(kal)).codes
