"""Issue 11 item 3 (money safety): one submit -> at most one executed order at the venue.

arbkit's Kalshi gateway against the Kalshi simulator on 127.0.0.1, with the simulator's fault
injection making the create request ambiguous:

* SLOW_ACK on ``POST /portfolio/events/orders``: the venue PROCESSES the order at once (an IOC that
  fills) and only its answer is late, later than the gateway's timeout. A blind retry would open a
  second order; the gateway looks the order up by client order id instead and reports the one that
  exists.
* REST_5XX 503 on the create: the venue did NOT process it. The lookup says the venue has no such
  order, so (and only so) it is sent again: one order.
* SLOW_ACK on the create plus 503s on every lookup: the gateway cannot tell, and says so
  (``OrderRejected(retryable=True, code="AMBIGUOUS")``), never "not filled"; once the venue
  answers again, ``order_state`` finds the filled order.

Every test asserts at the venue (the simulator's engine): exactly one order carries the client
order id, and its fills are what the gateway reports.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from typing import Any

import pytest

from arbkit.core.clock import SimClock
from arbkit.core.enums import InstrumentKind, OrderStatus, Side, TimeInForce, Venue
from arbkit.core.events import OrderAccepted, OrderFilled, OrderRejected
from arbkit.core.instruments import Instrument
from arbkit.core.orders import OrderRequest
from arbkit.sim.runner import SimRunner
from arbkit.venues.kalshi.auth import KalshiSigner
from arbkit.venues.kalshi.gateway import GatewayConfig, KalshiGateway
from arbkit.venues.kalshi.user import KalshiUserStream, UserStreamConfig

CREATE = "POST /trade-api/v2/portfolio/events/orders"
LIST = "GET /trade-api/v2/portfolio/orders"


@pytest.fixture
async def sim():
    runner = SimRunner(venues=["kalshi"], scenario="quiet", seed=1, clock=SimClock())
    info = await runner.start()
    try:
        yield runner, info["kalshi"]
    finally:
        await runner.advance(10)  # release any answer a SLOW_ACK still holds (simulated clock)
        await runner.stop()


def gateway(k: dict, i: int, **cfg: Any) -> KalshiGateway:
    a = k["accounts"][i]
    signer = KalshiSigner.from_pem_file(a["key_id"], a["private_key_path"])
    return KalshiGateway(signer, GatewayConfig(rest_url=k["rest_url"], retry_backoff_s=0.01, **cfg))


def order(ticker: str, side: str, action: Side, qty: str, price: str, coid: str, **kw: Any) -> OrderRequest:
    inst = Instrument(venue=Venue.KALSHI, symbol=f"{ticker}:{side}", kind=InstrumentKind.OUTCOME,
                      tick_size=D("0.01"), size_increment=D("0.01"))
    return OrderRequest(instrument=inst, client_order_id=coid, side=action, quantity=D(qty), price=D(price), **kw)


async def resting_cheap_yes(k: dict, ticker: str) -> None:
    """Account 1 offers 5 YES at 0.36, inside the quiet scenario's spread (YES 0.33 bid / 0.37 ask):
    the best YES ask (it holds no YES: the venue books it as a NO bid at 0.64)."""
    gw1 = gateway(k, 1)
    r = await gw1.submit(order(ticker, "yes", Side.SELL, "5", "0.36", "maker-1"))
    assert r.accepted, r.events
    await gw1.close()


def venue_orders(runner: SimRunner, k: dict, coid: str) -> list:
    eng = runner.engines["kalshi"]
    return [o for o in eng.orders(k["accounts"][0]["key_id"]) if o.client_order_id == coid]


def venue_filled(runner: SimRunner, order_id: str) -> D:
    eng = runner.engines["kalshi"]
    return sum((t.size for t in eng.trades() if order_id in (t.taker_order_id, t.maker_order_id)), D(0))


async def test_a_processed_create_whose_answer_is_lost_is_found_not_sent_again(sim):
    runner, k = sim
    ticker = k["markets"][0]["ticker"]
    await resting_cheap_yes(k, ticker)
    gw = gateway(k, 0, timeout_s=0.5, ambiguous_settle_s=0.05)
    fid = runner.faults.add({"kind": "SLOW_ACK", "venue": "kalshi", "match": CREATE, "times": 1, "delay_s": 5})
    req = order(ticker, "yes", Side.BUY, "3", "0.36", "safe-slow-1", time_in_force=TimeInForce.IOC)
    res = await gw.submit(req)
    assert [f for f in runner.faults.fired() if f.get("id", f.get("fault_id")) == fid or f.get("kind") == "SLOW_ACK"]
    # the venue holds exactly one order for the id, filled 3 at 0.05
    [placed] = venue_orders(runner, k, "safe-slow-1")
    assert venue_filled(runner, placed.order_id) == D(3)
    # and the gateway reports that order (found by the lookup), not a rejection, not a second order
    assert res.accepted and res.venue_order_id == placed.order_id and isinstance(res.events[0], OrderAccepted)
    st = await gw.order_state("safe-slow-1")
    assert st is not None and st.status is OrderStatus.FILLED and st.filled_quantity == D("3.00")
    # the engine retrying the same submit: still one order
    again = await gw.submit(req)
    assert again.accepted and again.venue_order_id == placed.order_id
    assert len(venue_orders(runner, k, "safe-slow-1")) == 1
    fills = [f for f in await gw.fills() if f.order_id == placed.order_id]
    assert sum(f.quantity for f in fills) == D("3.00") and {f.instrument_id for f in fills} == {f"kalshi:{ticker}:yes"}
    await gw.close()


async def test_an_unprocessed_create_is_sent_again_only_after_the_venue_says_it_has_none(sim):
    runner, k = sim
    ticker = k["markets"][0]["ticker"]
    await resting_cheap_yes(k, ticker)
    gw = gateway(k, 0, ambiguous_settle_s=0.05)
    runner.faults.add({"kind": "REST_5XX", "venue": "kalshi", "match": CREATE, "times": 1, "status": 503})
    res = await gw.submit(order(ticker, "yes", Side.BUY, "2", "0.36", "safe-503-1", time_in_force=TimeInForce.IOC))
    [placed] = venue_orders(runner, k, "safe-503-1")
    assert res.accepted and res.venue_order_id == placed.order_id
    assert venue_filled(runner, placed.order_id) == D(2)
    # the order went out twice over the wire (503, then the resend), the venue has one
    assert gw.requests >= 3  # create (503), lookup, create
    await gw.close()


async def test_when_the_venue_cannot_tell_the_answer_is_ambiguous_never_not_filled(sim):
    runner, k = sim
    ticker = k["markets"][0]["ticker"]
    await resting_cheap_yes(k, ticker)
    gw = gateway(k, 0, timeout_s=0.5, ambiguous_settle_s=0.05, max_attempts=2)
    runner.faults.add({"kind": "SLOW_ACK", "venue": "kalshi", "match": CREATE, "times": 1, "delay_s": 5})
    lookups = runner.faults.add({"kind": "REST_5XX", "venue": "kalshi", "match": LIST, "times": 100, "status": 503})
    res = await gw.submit(order(ticker, "yes", Side.BUY, "4", "0.36", "safe-amb-1", time_in_force=TimeInForce.IOC))
    [ev] = res.events
    assert isinstance(ev, OrderRejected) and ev.retryable and ev.code == "AMBIGUOUS" and not res.accepted
    assert "lookup" in ev.reason and "no answer" in ev.reason
    # at the venue: the order exists, once, and it traded
    [placed] = venue_orders(runner, k, "safe-amb-1")
    assert venue_filled(runner, placed.order_id) == D(4)
    runner.faults.remove(lookups)
    # asked again once the venue answers: filled, never "absent"
    st = await gw.order_state("safe-amb-1")
    assert st is not None and st.venue_order_id == placed.order_id and st.filled_quantity == D("4.00")
    # a resubmit now finds the same order instead of sending another
    again = await gw.submit(order(ticker, "yes", Side.BUY, "4", "0.36", "safe-amb-1", time_in_force=TimeInForce.IOC))
    assert again.accepted and again.venue_order_id == placed.order_id
    assert len(venue_orders(runner, k, "safe-amb-1")) == 1
    await gw.close()


async def test_a_restarted_gateway_restores_the_prepared_order_and_books_a_no_purchase(sim):
    """prepare -> journal -> crash -> restore: the same body, the same single order; a BUY of NO
    (an ask on the YES book, reported outcome_side=no) is booked as a BUY of NO, not a sale of YES."""
    runner, k = sim
    ticker = k["markets"][0]["ticker"]
    gw1 = gateway(k, 1)
    assert (await gw1.submit(order(ticker, "yes", Side.BUY, "5", "0.34", "maker-y"))).accepted  # best YES bid = NO ask 0.66
    await gw1.close()
    gw = gateway(k, 0, timeout_s=0.5, ambiguous_settle_s=0.05)
    req = order(ticker, "no", Side.BUY, "2", "0.66", "safe-no-1", time_in_force=TimeInForce.IOC)
    journaled = await gw.prepare(req)
    runner.faults.add({"kind": "SLOW_ACK", "venue": "kalshi", "match": CREATE, "times": 1, "delay_s": 5})
    first = await gw.submit(req)  # processed, answer lost, found by the lookup
    await gw.close()
    restarted = gateway(k, 0)
    restarted.restore("safe-no-1", journaled)
    again = await restarted.submit(req)
    [placed] = venue_orders(runner, k, "safe-no-1")
    assert first.accepted and again.accepted and {first.venue_order_id, again.venue_order_id} == {placed.order_id}
    assert venue_filled(runner, placed.order_id) == D(2)
    st = await restarted.order_state("safe-no-1")
    assert (st.instrument_id, st.side, st.price, st.filled_quantity) == (f"kalshi:{ticker}:no", Side.BUY, D("0.66"), D("2.00"))
    got = [f for f in await restarted.fills_since(0) if f.venue_order_id == placed.order_id]
    [fill] = got
    assert (fill.instrument_id, fill.side, fill.price, fill.quantity, fill.client_order_id) == (
        f"kalshi:{ticker}:no", Side.BUY, D("0.6600"), D("2.00"), "safe-no-1")
    # the user stream (its REST backfill on connect) books it the same way
    events: list = []
    a = k["accounts"][0]
    user = KalshiUserStream(events.append, KalshiSigner.from_pem_file(a["key_id"], a["private_key_path"]), restarted,
                            UserStreamConfig(ws_url=k["ws_url"], reconcile_interval_s=0), clock=runner.clock,
                            backfill_from_ns=1)
    task = asyncio.create_task(user.run())
    try:
        for _ in range(200):
            if any(isinstance(e, OrderFilled) for e in events):
                break
            await asyncio.sleep(0.02)
    finally:
        await user.stop()
        await asyncio.wait_for(task, 5)
    [ws_fill] = [e for e in events if isinstance(e, OrderFilled)]
    assert (ws_fill.instrument_id, ws_fill.side, ws_fill.price, ws_fill.client_order_id) == (
        f"kalshi:{ticker}:no", Side.BUY, D("0.6600"), "safe-no-1")
    await restarted.close()
