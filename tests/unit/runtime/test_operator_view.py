"""Alerts and names the operator reads: a rejected leg with its reason and the hedge it caused."""

from __future__ import annotations

from decimal import Decimal as D

import msgspec

from arbkit.core.enums import Side, Venue
from arbkit.core.instruments import Instrument, InstrumentKind
from arbkit.execution.report import ExecutionReport, ExecutionStatus, LegReport, Residual, StageTimings
from arbkit.runtime.operator_view import execution_alert, report_market, short_name


def _leg(purpose: str, venue: Venue, iid: str, side: Side, filled: str, status: str, error: str = "", idx: int = 0) -> LegReport:
    return LegReport(leg_index=idx, purpose=purpose, client_order_id=f"c-{purpose}-{idx}", venue=venue, instrument_id=iid,
                     side=side, requested_quantity=D(20), limit_price=D("0.5"), filled_quantity=D(filled),
                     avg_price=D("0.41") if D(filled) else None, fee=D(0), fee_currency="USD", status=status, error=error)


def _report(status: ExecutionStatus, legs: list[LegReport], error: str = "", residuals=()) -> ExecutionReport:
    return ExecutionReport(execution_id="xv-1", status=status, strategy="cross_venue", sequencing="PARALLEL",
                           primary_quote="USD", legs=legs, predicted_edge_bps=D(200), effective_edge_bps=None,
                           predicted_profit=D("0.4"), profit=D("-0.3"), matched_fraction=D(0), residuals=list(residuals),
                           timings=StageTimings(completed_ns=123), books=[], error=error)


def _names(iid: str) -> str:
    return {"polymarket:777": "Will X happen? YES", "kalshi:KX-1:no": "KX-1 NO"}.get(iid, iid)


def test_rejected_leg_and_its_hedge_make_one_alert_with_the_reason() -> None:
    rep = _report(ExecutionStatus.HEDGED, [
        _leg("leg", Venue.POLYMARKET, "polymarket:777", Side.BUY, "20", "FILLED", idx=0),
        _leg("leg", Venue.KALSHI, "kalshi:KX-1:no", Side.BUY, "0", "REJECTED", "insufficient balance", idx=1),
        _leg("hedge", Venue.POLYMARKET, "polymarket:777", Side.SELL, "20", "FILLED", idx=0),
    ], error="leg 1 rejected")
    a = execution_alert(rep, _names, now_ns=1)
    assert a is not None and a["status"] == "HEDGED" and a["ts_ns"] == 123
    assert a["lines"][0] == "kalshi leg REJECTED: insufficient balance | BUY 0/20 KX-1 NO"
    assert a["lines"][1] == "→ hedge polymarket SELL 20/20 Will X happen? YES @0.41 FILLED"
    assert a["reason"] == "leg 1 rejected"


def test_clean_fill_is_no_alert_and_a_residual_is_an_error() -> None:
    legs = [_leg("leg", Venue.POLYMARKET, "polymarket:777", Side.BUY, "20", "FILLED"),
            _leg("leg", Venue.KALSHI, "kalshi:KX-1:no", Side.BUY, "20", "FILLED", idx=1)]
    assert execution_alert(_report(ExecutionStatus.FILLED, legs), _names, 1) is None
    failed = _report(ExecutionStatus.FAILED, legs[:1] + [_leg("leg", Venue.KALSHI, "kalshi:KX-1:no", Side.BUY, "0", "REJECTED",
                                                              "halted", idx=1)],
                     residuals=[Residual(venue=Venue.POLYMARKET, asset="polymarket:777", quantity=D(20))])
    a = execution_alert(failed, _names, 1)
    assert a["level"] == "error" and a["lines"][-1] == "residual polymarket Will X happen? YES 20"


def test_short_name_never_shows_a_token_id() -> None:
    token = "7" * 78
    pm = Instrument(venue=Venue.POLYMARKET, symbol=token, kind=InstrumentKind.OUTCOME, tick_size=D("0.01"),
                    size_increment=D("0.01"), outcome="YES", market_id="0xabc", title="Will Bitcoin be above $150,000 on Dec 31?")
    ks = Instrument(venue=Venue.KALSHI, symbol="KXBTC-26DEC31-T150000:no", kind=InstrumentKind.OUTCOME, tick_size=D("0.01"),
                    size_increment=D("1"), outcome="NO", market_id="KXBTC-26DEC31-T150000", title="Bitcoin above 150k")
    assert short_name(pm) == "Will Bitcoin be above $150,… YES" and token not in short_name(pm)
    assert short_name(ks, 40) == "KXBTC-26DEC31-T150000 NO"
    assert short_name(None) == "?"


def test_report_market_names_a_triangle_by_its_path_and_a_pair_by_its_first_leg() -> None:
    tri = [_leg("leg", Venue.KUCOIN, f"kucoin:{s}", Side.BUY, "1", "FILLED", idx=i)
           for i, s in enumerate(("BTC-USDT", "ETH-BTC", "ETH-USDT"))]
    rep = msgspec.structs.replace(_report(ExecutionStatus.FILLED, tri), sequencing="CASCADE")
    assert report_market(rep, {}) == "BTC-USDT→ETH-BTC→ETH-USDT"
    pair = _report(ExecutionStatus.FILLED, [_leg("leg", Venue.KALSHI, "kalshi:KX-1:no", Side.BUY, "20", "FILLED")])
    assert report_market(pair, {}) == "KX-1:no"  # unknown instrument: its symbol, never the venue prefix twice
    assert report_market(_report(ExecutionStatus.ABORTED, []), {}) == ""
