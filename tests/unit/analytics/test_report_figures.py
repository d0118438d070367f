"""The report's figures over a real journal file, checked exactly against numbers derived by hand
(see report_journal.py)."""

from __future__ import annotations

import math
import sqlite3
from decimal import Decimal

import pytest
from report_journal import EXPECTED_PROFIT, KALSHI_NO, POLY_YES, STAMPS_US, build_report_journal, effective_bps

from arbkit.analytics.report import build_report, report_json
from arbkit.analytics.stages import STAGES
from arbkit.journal.store import Journal, JournalError, record_crc

D = Decimal
FIELDS = ("socket_arrival_ns", "book_updated_ns", "evaluated_ns", "intent_created_ns", "risk_checked_ns",
          "journaled_ns", "sent_ns", "acked_ns", "filled_ns", "completed_ns")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    path = build_report_journal(tmp_path_factory.mktemp("rep") / "journal.db")
    return build_report(path)


def quantile(xs: list[float], p: float) -> float:
    """Linear interpolation between order statistics (numpy's default), written out."""
    xs = sorted(xs)
    h = (len(xs) - 1) * p
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


def test_status_counts_and_unfinished(report):
    assert report["executions"] == {"total": 5, "by_status": {"FILLED": 2, "HEDGED": 1, "FAILED": 1, "ABORTED": 1},
                                    "unfinished": 1}
    # market data records are in the journal but not analysed
    assert report["records"]["total"] == report["records"]["analysed"] + 2
    assert report["records"]["bad_crc"] == [] and report["records"]["bad_json"] == []


def test_pnl_sums_are_exact_and_never_mix_currencies(report):
    pnl = report["pnl"]
    usd = sum((EXPECTED_PROFIT[e] for e in ("E1", "E2", "E3", "E4")), D(0))
    assert usd == D("-2.61")
    assert pnl["by_currency"] == [
        {"currency": "USD", "executions": 4, "profit": "-2.61", "predicted_profit": "2"},
        {"currency": "USDT", "executions": 1, "profit": "4.28766", "predicted_profit": "7"},
    ]
    assert pnl["by_strategy_venue"] == [
        {"strategy": "cross_venue", "venues": "kalshi+polymarket", "currency": "USD", "executions": 4,
         "profit": "-2.61", "predicted_profit": "2"},
        {"strategy": "triangle", "venues": "kucoin", "currency": "USDT", "executions": 1,
         "profit": "4.28766", "predicted_profit": "7"},
    ]
    assert [(r["strategy"], r["profit"]) for r in pnl["by_strategy"]] == [("cross_venue", "-2.61"), ("triangle", "4.28766")]
    assert [(r["venues"], r["profit"]) for r in pnl["by_venue"]] == [("kalshi+polymarket", "-2.61"), ("kucoin", "4.28766")]
    fees = {(r["venue"], r["currency"]): r["fees"] for r in pnl["fees_by_venue"]}
    assert fees[("polymarket", "pUSD")] == "0.21"  # 0.05 + 0.05 + 0.04 + 0.05 + 0.02
    assert fees[("kalshi", "USD")] == "0.02"
    assert fees[("kucoin", "USDT")] == "1.0053"
    assert [(p["execution_id"], p["profit"]) for p in pnl["over_time"]] == [
        ("E1", "0.43"), ("E2", "-0.39"), ("E3", "-2.65"), ("E4", "0"), ("E5", "4.28766")]


def test_fill_rate_by_venue(report):
    rows = {r["venue"]: r for r in report["fill_rate"]["by_venue"]}
    # polymarket: E1, E2, E3 legs and E2's hedge filled; E3's hedge partial; E4's leg rejected
    assert rows["polymarket"] == {"venue": "polymarket", "submitted": 6, "filled": 4, "partially_filled": 1,
                                  "rejected": 1, "unfilled": 0, "fill_rate": round(4 / 6, 6)}
    assert rows["kalshi"] == {"venue": "kalshi", "submitted": 4, "filled": 1, "partially_filled": 0,
                              "rejected": 3, "unfilled": 0, "fill_rate": 0.25}
    # three triangle legs and the standalone OrderSubmitted, filled by its OrderFilled
    assert rows["kucoin"]["submitted"] == 4 and rows["kucoin"]["filled"] == 4 and rows["kucoin"]["fill_rate"] == 1.0
    overall = report["fill_rate"]["overall"]
    assert (overall["submitted"], overall["filled"], overall["fill_rate"]) == (14, 9, round(9 / 14, 6))
    purposes = {r["purpose"]: (r["submitted"], r["filled"]) for r in report["fill_rate"]["by_purpose"]}
    assert purposes == {"hedge": (2, 1), "leg": (11, 7), "order": (1, 1)}


def test_predicted_vs_effective_per_execution_and_aggregate(report):
    rows = {r["execution_id"]: r for r in report["execution_list"]}
    assert rows["E1"]["effective_bps"] == "449.32"  # 0.43 / 9.57 * 10000
    assert rows["E1"]["slippage_bps"] == "50.68"  # predicted 500 - effective 449.32: positive = worse than predicted
    assert rows["E4"]["effective_bps"] is None and rows["E4"]["slippage_bps"] is None  # ABORTED: nothing bought
    measured = ["E1", "E2", "E3", "E5"]
    eff = [float(effective_bps(e)) for e in measured]
    pred = [500.0, 500.0, 500.0, 70.0]
    slip = [p - e for e, p in zip(eff, pred)]  # positive = worse than predicted
    agg = report["edge"]["aggregate"]
    assert agg["executions"] == 4
    assert agg["mean_predicted_bps"] == pytest.approx(sum(pred) / 4)
    assert agg["mean_effective_bps"] == pytest.approx(sum(eff) / 4, abs=1e-4)
    assert agg["mean_slippage_bps"] == pytest.approx(sum(slip) / 4, abs=1e-4)
    assert agg["median_slippage_bps"] == pytest.approx(quantile(slip, 0.5), abs=1e-4)
    assert agg["min_slippage_bps"] == pytest.approx(min(slip)) and agg["max_slippage_bps"] == pytest.approx(max(slip))
    by = {r["strategy"]: r for r in report["edge"]["by_strategy"]}
    assert by["triangle"]["mean_effective_bps"] == pytest.approx(42.88)


def test_latency_percentiles_per_stage(report):
    got = {r["stage"]: r for r in report["latency"]}
    assert list(got) == [s[0] for s in STAGES]
    for name, start, end in STAGES:
        i, k = FIELDS.index(start), FIELDS.index(end)
        samples = [float(st[k] - st[i]) for st in STAMPS_US.values() if st[i] is not None and st[k] is not None]
        row = got[name]
        assert row["count"] == len(samples), name
        for p, key in ((0.5, "p50_us"), (0.9, "p90_us"), (0.99, "p99_us")):
            assert row[key] == pytest.approx(quantile(samples, p), abs=1e-3), (name, key)
        assert row["max_us"] == max(samples)
    # spot checks written out: risk->sent over E1..E5 = 180, 300, 123, 205, 112 µs; sorted
    # 112 123 180 205 300: p50 = 180; p90 at rank 0.9 * 4 = 3.6 -> 205 + 0.6 * (300 - 205) = 262
    assert got["risk->sent"]["p50_us"] == 180.0
    assert got["risk->sent"]["p90_us"] == pytest.approx(262.0)
    # E4 was never acked: sent->acked has E1, E2, E3, E5 only
    assert got["sent->acked"]["count"] == 4
    # E5 has no socket stamp: socket->book is measured on the four cross-venue executions
    assert got["socket->book"]["count"] == 4


def test_hedges_and_their_cost(report):
    h = report["hedges"]
    assert h["executions_hedged"] == 2 and h["hedge_orders"] == 2 and h["hedge_orders_filled"] == 2
    assert h["started_by_mode"] == [{"mode": "MARKET_OUT", "executions": 2}]
    costs = {o["execution_id"]: (o["cost"], o["currency"], o["reference"]) for o in h["orders"]}
    assert costs == {"E2": ("0.34", "pUSD", "entry fill"),  # 10 * (0.40 - 0.37) + 0.04
                     "E3": ("0.14", "pUSD", "entry fill")}  # 4 * (0.41 - 0.38) + 0.02
    assert h["cost_by_currency"] == [{"currency": "pUSD", "cost": "0.48"}]
    assert h["cost_unknown"] == 0


def test_rejections_by_reason(report):
    rj = report["rejections"]
    assert rj["orders"] == [
        {"venue": "kalshi", "reason": "insufficient balance", "code": "", "count": 3},
        {"venue": "polymarket", "reason": "price moved", "code": "", "count": 1},
    ]
    assert [(r["check"], r["count"]) for r in rj["risk"]] == [("exposure", 1), ("stale", 1)]
    assert rj["orders_total"] == 4 and rj["risk_total"] == 2


def test_json_output_is_exact_text(report):
    import json

    doc = json.loads(report_json(report))
    assert doc["pnl"]["by_currency"][1]["profit"] == "4.28766"  # decimals stay strings
    assert doc["executions"]["by_status"]["HEDGED"] == 1


def test_bad_crc_and_non_json_records_are_left_out(tmp_path):
    path = build_report_journal(tmp_path / "journal.db")
    with Journal.open(path, synchronous="NORMAL") as j:
        j.append("ExecutionReported", b"this is not json", correlation_id="X1")
        last = j.flush_sync(10)
    # a record whose CRC does not match (as a torn or tampered write would leave it)
    con = sqlite3.connect(path)
    payload = b'{"report": {"execution_id": "X2", "status": "FILLED", "profit": "1000000"}}'
    seq, ts = last + 1, 1
    con.execute("INSERT INTO journal VALUES (?, ?, ?, ?, ?, ?)",
                (seq, ts, "ExecutionReported", "X2", payload, record_crc(seq, ts, "ExecutionReported", "X2", payload) ^ 1))
    con.commit()
    con.close()
    rep = build_report(path)
    assert rep["records"]["bad_crc"] == [seq]
    assert rep["records"]["bad_json"] == [last]
    assert any("crc mismatch" in p for p in rep["records"]["problems"])
    assert rep["executions"]["total"] == 5  # neither X1 nor X2
    assert rep["pnl"]["by_currency"][0]["profit"] == "-2.61"


def test_empty_journal(tmp_path):
    path = tmp_path / "empty.db"
    Journal.open(path).close_sync()
    rep = build_report(path)
    assert rep["executions"]["total"] == 0
    assert rep["fill_rate"]["overall"]["fill_rate"] is None
    assert all(r["count"] == 0 and r["p50_us"] is None for r in rep["latency"])
    assert rep["pnl"]["by_currency"] == [] and rep["hedges"]["orders"] == []


def test_not_a_journal(tmp_path):
    bogus = tmp_path / "x.db"
    con = sqlite3.connect(bogus)
    con.execute("CREATE TABLE t(x)")
    con.commit()
    con.close()
    with pytest.raises(JournalError, match="not an arbkit journal"):
        build_report(bogus)
    with pytest.raises(JournalError, match="no journal"):
        build_report(tmp_path / "missing.db")


def test_fills_per_leg_with_market_names_and_order_ids(report):
    fills = [f for f in report["fills"] if f["execution_id"] == "E2"]
    assert fills[1]["reason"] == "insufficient balance" and fills[0]["reason"] == ""
    assert [(f["purpose"], f["venue"], f["market"], f["side"], f["price"], f["size"], f["fee"], f["fee_currency"],
             f["status"], f["client_order_id"], f["venue_order_id"]) for f in fills] == [
        ("leg", "polymarket", "Will the test event happen? YES", "BUY", "0.4", "10", "0.05", "pUSD", "FILLED", "E2-0-0", "v-E2-0-0"),
        ("leg", "kalshi", "KXTEST-26 NO", "BUY", None, "0", "0", "USD", "REJECTED", "E2-1-0", None),
        ("hedge", "polymarket", "Will the test event happen? YES", "SELL", "0.37", "10", "0.04", "pUSD", "FILLED", "E2-0-1",
         "v-E2-0-1"),
    ]
    # every order of every execution, in execution order; spot pairs by their symbol
    assert len(report["fills"]) == 13 and report["fills"][-1]["market"] == "ETH-USDT"


def test_positions_capital_locked_and_return_on_capital(report):
    pos = {p["instrument_id"]: p for p in report["positions"]}
    # Polymarket YES at average cost: E1 10 @0.405 (fee in), E2 bought 10 and sold them back, E3 10 @0.415
    # and sold 4: 16 left at 0.41 = 6.56 pUSD. Kalshi NO: E1 10 @0.55 + 0.02 fee = 5.52 USD.
    assert set(pos) == {POLY_YES.id, KALSHI_NO.id}  # spot (KuCoin) is not held to a resolution
    assert (pos[POLY_YES.id]["quantity"], pos[POLY_YES.id]["cost"], pos[POLY_YES.id]["currency"]) == ("16", "6.56", "pUSD")
    assert pos[POLY_YES.id]["market"] == "Will the test event happen? YES" and pos[POLY_YES.id]["max_payout"] == "16"
    assert (pos[KALSHI_NO.id]["quantity"], pos[KALSHI_NO.id]["cost"], pos[KALSHI_NO.id]["currency"]) == ("10", "5.52", "USD")
    locked = {(r["venue"], r["currency"]): r["capital"] for r in report["capital_locked"]}
    assert locked == {("kalshi", "USD"): "5.52", ("polymarket", "pUSD"): "6.56"}
    roc = report["return_on_capital"]
    # profit in USD-pegged currencies -2.61 over 12.08 locked
    assert (roc["profit"], roc["capital_locked"], roc["percent"]) == ("-2.61", "12.08", "-21.606")
