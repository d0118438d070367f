"""Fault plan: windows on the clock, triggers (after), counts (times), matching, logging."""

from __future__ import annotations

import pytest

from arbkit.core.clock import SimClock
from arbkit.sim.faults import FaultKind, FaultPlan, FaultSpec, parse_fault


def test_time_window_and_venue_filter():
    clock = SimClock()
    plan = FaultPlan(clock, [{"kind": "REST_429", "venue": "kalshi", "at_s": 5, "duration_s": 10, "retry_after_s": 2}])
    plan.start()
    assert plan.rest_fault("kalshi", "GET", "/markets") is None  # not yet
    clock.advance(5)
    hit = plan.rest_fault("kalshi", "GET", "/markets")
    assert hit is not None and hit.kind is FaultKind.REST_429 and hit.spec.retry_after_s == 2
    assert plan.rest_fault("polymarket", "GET", "/book") is None  # other venue
    clock.advance(10)
    assert plan.rest_fault("kalshi", "GET", "/markets") is None  # window over


def test_trigger_after_and_times_and_match():
    clock = SimClock()
    plan = FaultPlan(clock)
    fid = plan.add(FaultSpec(kind=FaultKind.WS_DISCONNECT, after=2, times=1, match="market"))
    assert fid == "f1"
    assert plan.ws_fault("polymarket", "user") is None  # no match: not an opportunity
    assert plan.ws_fault("polymarket", "market") is None
    assert plan.ws_fault("polymarket", "market") is None
    assert plan.ws_fault("polymarket", "market").kind is FaultKind.WS_DISCONNECT
    assert plan.ws_fault("polymarket", "market") is None  # used up
    assert [f["id"] for f in plan.fired()] == ["f1"]
    assert plan.list()[0]["fired"] == 1 and plan.list()[0]["active"] is False


def test_freeze_peek_halt_order_trade_faults_and_removal():
    clock = SimClock()
    plan = FaultPlan(clock)
    plan.add({"kind": "WS_FREEZE", "venue": "polymarket", "duration_s": 3})
    assert plan.ws_frozen("polymarket", "market") and not plan.ws_frozen("kalshi", "orderbook_delta")
    assert plan.fired() == []  # peeking does not count
    fid = plan.add({"kind": "VENUE_HALT"})
    assert plan.is_halted("kalshi") and plan.is_halted("polymarket")
    assert plan.remove(fid) and not plan.remove(fid)
    assert not plan.is_halted("kalshi")
    plan.add({"kind": "PARTIAL_FILL_ONLY", "fill_fraction": "0.25", "times": 1})
    assert plan.order_fault("polymarket", "tok", kinds=("ORDER_REJECT",)) is None
    assert plan.order_fault("polymarket", "tok").spec.fill_fraction == "0.25"
    plan.add({"kind": "TRADE_FAILED", "match": "cond-1"})
    assert plan.trade_fault("polymarket", "cond-2") is None
    assert plan.trade_fault("polymarket", "cond-1") is not None
    clock.advance(3)
    assert not plan.ws_frozen("polymarket", "market")
    assert plan.clear() == 3
    assert plan.list() == []


def test_add_now_counts_from_now():
    clock = SimClock()
    plan = FaultPlan(clock)
    plan.start()
    clock.advance(100)
    plan.add_now({"kind": "REST_5XX", "status": 502, "at_s": 1, "duration_s": 1})
    assert plan.rest_fault("polymarket", "POST", "/order") is None
    clock.advance(1)
    assert plan.rest_fault("polymarket", "POST", "/order").spec.status == 502


@pytest.mark.parametrize(
    "bad",
    [{"kind": "NOPE"}, {"kind": "REST_5XX", "status": 404}, {"kind": "REST_429", "times": -1}, {"kind": "WS_DELAY", "after": -2}],
)
def test_invalid_faults_are_refused_with_a_reason(bad):
    with pytest.raises(ValueError):
        parse_fault(bad)
