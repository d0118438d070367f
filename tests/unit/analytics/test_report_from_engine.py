"""The report over a journal written by the real execution engine (paper backend, simulated
clock): its figures agree with the engine's own ExecutionReports, so the report reads what the
engine really journals."""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "execution"))
from exec_kit import T0, cross_venue_intent, env_factory  # noqa: E402,F401  (env_factory is a fixture)

from arbkit.analytics.report import build_report  # noqa: E402
from arbkit.core.enums import Venue  # noqa: E402
from arbkit.execution.paper import PaperConfig, PaperFault  # noqa: E402
from arbkit.execution.report import ExecutionStatus  # noqa: E402


def _reject_kalshi_first_attempt(req):
    return PaperFault(reject="market closed") if req.client_order_id.endswith("-L1-A0") and "hedged" in req.client_order_id else None


async def test_report_matches_the_engines_reports(env_factory):
    env = env_factory(paper={Venue.KALSHI: PaperConfig(faults=_reject_kalshi_first_attempt)})
    filled = await env.run(env.engine.execute(cross_venue_intent("ex-filled", T0)))
    env.clock.advance(0.01)  # the second decision sees books newer than the first trade (stale-signal check)
    hedged = await env.run(env.engine.execute(cross_venue_intent("ex-hedged", env.clock.now_ns())))
    assert filled.status is ExecutionStatus.FILLED and hedged.status is ExecutionStatus.HEDGED, (filled, hedged)
    await env.journal.flush()

    rep = build_report(env.path)
    assert rep["executions"]["by_status"] == {"FILLED": 1, "HEDGED": 1, "FAILED": 0, "ABORTED": 0}
    (usd,) = rep["pnl"]["by_currency"]
    assert usd["currency"] == "USD" and Decimal(usd["profit"]) == filled.profit + hedged.profit
    rows = {r["execution_id"]: r for r in rep["execution_list"]}
    for r in (filled, hedged):
        assert Decimal(rows[r.execution_id]["profit"]) == r.profit
        assert Decimal(rows[r.execution_id]["effective_bps"]) == r.effective_edge_bps
        assert Decimal(rows[r.execution_id]["predicted_bps"]) == r.predicted_edge_bps
    assert Decimal(rows["ex-filled"]["effective_bps"]) > 0  # a cross-venue fill with a positive edge

    # the Kalshi leg of the hedged execution was rejected, everything else filled
    fr = {r["venue"]: r for r in rep["fill_rate"]["by_venue"]}
    assert (fr["kalshi"]["submitted"], fr["kalshi"]["filled"], fr["kalshi"]["rejected"]) == (2, 1, 1)
    assert fr["polymarket"]["submitted"] == 3 and fr["polymarket"]["filled"] == 3  # two legs and the hedge
    assert [(r["venue"], r["reason"], r["count"]) for r in rep["rejections"]["orders"]] == [("kalshi", "market closed", 1)]

    # the hedge's cost against the leg it unwound, from the engine's own leg reports
    (hedge_order,) = rep["hedges"]["orders"]
    leg = next(lg for lg in hedged.legs if lg.purpose == "leg" and lg.venue is Venue.POLYMARKET)
    hedge = next(lg for lg in hedged.legs if lg.purpose == "hedge")
    expected = hedge.filled_quantity * (leg.avg_price - hedge.avg_price) + hedge.fee
    assert hedge_order["reference"] == "entry fill"
    assert Decimal(hedge_order["cost"]) == expected
    # every decision stage the engine stamped is measured
    lat = {r["stage"]: r["count"] for r in rep["latency"]}
    assert lat["intent->risk"] == 2 and lat["risk->sent"] == 2
