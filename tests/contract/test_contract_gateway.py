"""Gateway contract (arbkit.venues.base.VenueGateway), the same assertions for every venue, against
the simulator over loopback sockets. The simulator's admin endpoint is the truth compared with."""

from __future__ import annotations

import time
from decimal import Decimal

from contract_support import (
    SimAdmin,
    coid,
    eventually_async,
    ioc,
    order_quantity,
    request,
    trade_instrument,
)

from arbkit.core.enums import InstrumentKind, LiquiditySide, OrderStatus, Side, TimeInForce
from arbkit.core.events import OrderAccepted, OrderCanceled, OrderCancelRejected, OrderFilled, OrderRejected
from arbkit.core.instruments import Instrument
from arbkit.core.orders import OrderRequest, SubmitResult
from arbkit.venues.base import VenueGateway
from arbkit.venues.contract import VenueBundle

OPEN_STATES = (OrderStatus.ACCEPTED,)


# --- helpers -----------------------------------------------------------------------------------


async def resting_price(admin: SimAdmin, bundle: VenueBundle, inst: Instrument, ticks_below: int = 4) -> Decimal:
    """A BUY price well below the best bid (never crosses, never fills)."""
    bids, asks = await admin.book(bundle.sim.venue_key, inst.symbol)
    top = bids[0][0] if bids else (asks[0][0] if asks else Decimal("0.5"))
    price = top - inst.tick_size * ticks_below
    assert price >= inst.tick_size, f"{inst.id}: the book is too low for a resting test order ({top})"
    return price


async def admin_order(admin: SimAdmin, bundle: VenueBundle, venue_order_id: str) -> dict | None:
    for o in await admin.orders(bundle.sim.venue_key, bundle.sim.account_id):
        if o["order_id"] == venue_order_id:
            return o
    return None


async def admin_order_ids(admin: SimAdmin, bundle: VenueBundle) -> set[str]:
    """Orders the venue accepted for our account (the simulator also keeps records of refused
    orders, status REJECTED: those are not orders)."""
    return {o["order_id"] for o in await admin.orders(bundle.sim.venue_key, bundle.sim.account_id)
            if o["status"] != "REJECTED"}


def only(events: list, kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def assert_accepted(res: SubmitResult, client_order_id: str) -> OrderAccepted:
    assert isinstance(res, SubmitResult)
    assert res.accepted, f"not accepted: {res.events}"
    assert res.client_order_id == client_order_id
    accepted = only(res.events, OrderAccepted)
    assert len(accepted) == 1 and res.events[0] is accepted[0], f"OrderAccepted must come first, once: {res.events}"
    assert not only(res.events, OrderRejected)
    ack = accepted[0]
    assert ack.venue is res.events[0].venue and ack.client_order_id == client_order_id
    assert ack.venue_order_id and ack.venue_order_id == res.venue_order_id
    return ack


def assert_rejected(res: SubmitResult, client_order_id: str) -> OrderRejected:
    assert isinstance(res, SubmitResult)
    assert not res.accepted, f"accepted but should be refused: {res.events}"
    rejected = only(res.events, OrderRejected)
    assert len(rejected) == 1, f"one OrderRejected expected: {res.events}"
    assert not only(res.events, OrderAccepted) and not only(res.events, OrderFilled)
    rej = rejected[0]
    assert rej.client_order_id == client_order_id and rej.reason, rej
    return rej


async def take_best_ask(bundle: VenueBundle, admin: SimAdmin, inst: Instrument, tag: str,
                        want: Decimal = Decimal(5)) -> tuple[OrderRequest, SubmitResult, list[dict]]:
    """IOC BUY at the simulator's best ask for at most its size; returns the request, the result
    and the simulator's trades of that order (retried if the makers re-quoted meanwhile)."""
    for _ in range(3):
        _, asks = await admin.book(bundle.sim.venue_key, inst.symbol)
        assert asks, f"{inst.id}: the scenario's makers quote no ask"
        price, size = asks[0]
        qty = min(order_quantity(inst, want), size)
        assert qty >= inst.min_size and qty % inst.size_increment == 0, (qty, inst)
        req = ioc(inst, coid(tag), Side.BUY, qty, price)
        res = await bundle.gateway.submit(req)
        assert_accepted(res, req.client_order_id)
        trades = [t for t in await admin.trades(bundle.sim.venue_key, bundle.sim.account_id)
                  if t["taker_order_id"] == res.venue_order_id]
        if trades:
            return req, res, trades
    raise AssertionError(f"{inst.id}: three IOC orders at the best ask found nothing to take")


async def fills_of(gw: VenueGateway, since_ns: int, venue_order_id: str) -> list[OrderFilled]:
    return [e for e in await gw.fills_since(since_ns)
            if isinstance(e, OrderFilled) and e.venue_order_id == venue_order_id]


# --- lifecycle ---------------------------------------------------------------------------------


async def test_start_and_close_are_idempotent(bundle: VenueBundle) -> None:
    gw = bundle.gateway
    assert isinstance(gw, VenueGateway) and gw.venue is bundle.venue
    await gw.start()  # already started by open(): a second start changes nothing
    assert isinstance(await gw.open_orders(), list)
    await gw.close()
    await gw.close()  # closing twice is harmless
    await gw.start()  # and it can be started again
    assert isinstance(await gw.open_orders(), list)


async def test_resting_order_accept_lookup_cancel(bundle: VenueBundle, admin: SimAdmin) -> None:
    gw, inst = bundle.gateway, trade_instrument(bundle, 0)
    price, qty = await resting_price(admin, bundle, inst), order_quantity(inst)
    req = request(inst, coid("rest"), Side.BUY, qty, price, post_only=True)
    res = await gw.submit(req)
    ack = assert_accepted(res, req.client_order_id)
    assert ack.venue is bundle.venue

    st = await gw.order_state(req.client_order_id)
    assert st is not None, "order_state must find an order the venue accepted"
    assert st.status in OPEN_STATES, st
    assert (st.venue, st.instrument_id, st.client_order_id, st.venue_order_id, st.side) == (
        bundle.venue, inst.id, req.client_order_id, res.venue_order_id, Side.BUY)
    assert st.price == price and st.quantity == qty and st.filled_quantity == 0, st
    assert isinstance(st.price, Decimal) and isinstance(st.quantity, Decimal)
    assert st.time_in_force is TimeInForce.GTC

    sim = await admin_order(admin, bundle, res.venue_order_id)
    assert sim is not None and sim["status"] == "OPEN", sim
    assert Decimal(sim["price"]) == price and Decimal(sim["size"]) == qty and sim["symbol"] == inst.symbol

    opened = [o for o in await gw.open_orders() if o.venue_order_id == res.venue_order_id]
    assert len(opened) == 1 and opened[0].client_order_id == req.client_order_id
    assert opened[0].price == price and opened[0].quantity == qty and opened[0].status in OPEN_STATES

    events = await gw.cancel(req.client_order_id)
    assert not only(events, OrderCancelRejected), events
    canceled = only(events, OrderCanceled)
    assert len(canceled) == 1, events
    assert canceled[0].client_order_id == req.client_order_id and canceled[0].venue_order_id == res.venue_order_id

    st = await gw.order_state(req.client_order_id)
    if bundle.forgets_canceled_orders:
        assert st is None
    else:
        assert st is not None and st.status is OrderStatus.CANCELED and st.filled_quantity == 0, st
        assert st.price == price and st.quantity == qty
    assert all(o.venue_order_id != res.venue_order_id for o in await gw.open_orders())
    sim = await admin_order(admin, bundle, res.venue_order_id)
    assert sim is not None and sim["status"] == "CANCELED", sim


async def test_order_state_of_an_order_never_sent_is_none(bundle: VenueBundle) -> None:
    assert await bundle.gateway.order_state(coid("never-sent")) is None


async def test_submit_many_answers_each_request_in_order(bundle: VenueBundle, admin: SimAdmin) -> None:
    gw = bundle.gateway
    a, b = trade_instrument(bundle, 0), trade_instrument(bundle, 1)
    good_a = request(a, coid("many-a"), Side.BUY, order_quantity(a), await resting_price(admin, bundle, a))
    bad = request(a, coid("many-bad"), Side.BUY, order_quantity(a), good_a.price + a.tick_size / 2)
    good_b = request(b, coid("many-b"), Side.BUY, order_quantity(b), await resting_price(admin, bundle, b))
    results = await gw.submit_many([good_a, bad, good_b])
    assert [r.client_order_id for r in results] == [good_a.client_order_id, bad.client_order_id, good_b.client_order_id]
    assert_accepted(results[0], good_a.client_order_id)
    assert_rejected(results[1], bad.client_order_id)
    assert_accepted(results[2], good_b.client_order_id)
    for req, res in ((good_a, results[0]), (good_b, results[2])):
        sim = await admin_order(admin, bundle, res.venue_order_id)
        assert sim is not None and sim["status"] == "OPEN" and Decimal(sim["price"]) == req.price


async def test_cancel_all_cancels_every_open_order(bundle: VenueBundle, admin: SimAdmin) -> None:
    gw = bundle.gateway
    reqs = []
    for k in (0, 1):
        inst = trade_instrument(bundle, k)
        req = request(inst, coid(f"all{k}"), Side.BUY, order_quantity(inst), await resting_price(admin, bundle, inst))
        reqs.append(req)
        assert_accepted(await gw.submit(req), req.client_order_id)
    events = await gw.cancel_all()
    assert not only(events, OrderCancelRejected), events
    assert {e.client_order_id for e in only(events, OrderCanceled)} >= {r.client_order_id for r in reqs}
    assert await gw.open_orders() == []
    assert (await admin.account(bundle.sim.venue_key, bundle.sim.account_id))["open_orders"] == []


# --- refusals ----------------------------------------------------------------------------------


async def test_price_off_the_tick_grid_is_a_rejection_not_an_exception(bundle: VenueBundle, admin: SimAdmin) -> None:
    inst = trade_instrument(bundle, 0)
    price = await resting_price(admin, bundle, inst) + inst.tick_size / 2
    before = await admin_order_ids(admin, bundle)
    req = request(inst, coid("offtick"), Side.BUY, order_quantity(inst), price)
    assert_rejected(await bundle.gateway.submit(req), req.client_order_id)
    assert await admin_order_ids(admin, bundle) == before, "a refused order must not rest at the venue"


async def test_size_below_the_minimum_is_a_rejection_not_an_exception(bundle: VenueBundle, admin: SimAdmin) -> None:
    inst = trade_instrument(bundle, 0)
    below = inst.min_size - inst.size_increment
    qty = below if below > 0 else inst.size_increment / 2  # under the minimum, or a fraction of the increment
    before = await admin_order_ids(admin, bundle)
    req = request(inst, coid("small"), Side.BUY, qty, await resting_price(admin, bundle, inst))
    assert_rejected(await bundle.gateway.submit(req), req.client_order_id)
    assert await admin_order_ids(admin, bundle) == before


# --- fills -------------------------------------------------------------------------------------


async def test_ioc_crossing_order_fills_exactly_and_fills_since_reports_it_once(bundle: VenueBundle,
                                                                               admin: SimAdmin) -> None:
    gw, inst = bundle.gateway, trade_instrument(bundle, 0)
    t0 = time.time_ns() - 2_000_000_000  # fills_since may have coarse (1 s) resolution
    req, res, trades = await take_best_ask(bundle, admin, inst, "ioc")
    want = sorted((Decimal(t["taker_price"]), Decimal(t["size"]), Decimal(t["taker_fee"])) for t in trades)
    assert sum(q for _, q, _ in want) == req.quantity, "the simulator should fill the whole IOC at the touch"

    async def reported() -> bool:
        return sum(f.quantity for f in await fills_of(gw, t0, res.venue_order_id)) >= req.quantity

    await eventually_async(reported, 10, "fills_since reporting the IOC's fills")
    fills = await fills_of(gw, t0, res.venue_order_id)
    assert len({f.trade_id for f in fills}) == len(fills), f"a fill reported twice: {fills}"
    assert sorted((f.price, f.quantity, f.fee) for f in fills) == want, (fills, trades)
    for f in fills:
        assert (f.venue, f.instrument_id, f.client_order_id, f.side, f.liquidity) == (
            bundle.venue, inst.id, req.client_order_id, Side.BUY, LiquiditySide.TAKER), f
        assert f.price <= req.price
        assert f.fee == bundle.fee_rule(inst, Side.BUY, f.price, f.quantity, LiquiditySide.TAKER), (
            f"fee {f.fee} differs from the venue's fee rule for {f.quantity} @ {f.price}")
        assert f.trade_id and f.fee_currency
    # the same fills again on a second query, still once each
    again = await fills_of(gw, t0, res.venue_order_id)
    assert sorted(f.trade_id for f in again) == sorted(f.trade_id for f in fills)
    # fills reported in the submit result (if the venue answers with them) are the same fills
    immediate = only(res.events, OrderFilled)
    if immediate:
        assert sorted((f.trade_id, f.price, f.quantity, f.fee) for f in immediate) == sorted(
            (f.trade_id, f.price, f.quantity, f.fee) for f in fills)
    st = await gw.order_state(req.client_order_id)
    assert st is not None and st.status is OrderStatus.FILLED and st.filled_quantity == req.quantity, st


async def test_balances_and_positions_reflect_a_fill_exactly(bundle: VenueBundle, admin: SimAdmin) -> None:
    gw, inst = bundle.gateway, trade_instrument(bundle, 0)
    await gw.cancel_all()  # nothing reserved: total and available must both match
    before = await admin.account(bundle.sim.venue_key, bundle.sim.account_id)
    req, res, trades = await take_best_ask(bundle, admin, inst, "bal")
    after = await admin.account(bundle.sim.venue_key, bundle.sim.account_id)
    spot = inst.kind is InstrumentKind.SPOT
    if not spot:  # an outcome venue: one collateral balance
        assert len(before["balances"]) == len(after["balances"]) == 1, after

    def sim_balance(doc: dict, currency: str) -> dict:
        if not spot:  # the one collateral balance (its name may differ from the instrument's quote)
            return doc["balances"][0]
        found = [b for b in doc["balances"] if b["currency"] == currency]
        assert len(found) == 1, (currency, doc["balances"])
        return found[0]

    paid = sum(Decimal(t["taker_price"]) * Decimal(t["size"]) + Decimal(t["taker_fee"]) for t in trades)
    assert Decimal(sim_balance(before, inst.quote)["total"]) - Decimal(sim_balance(after, inst.quote)["total"]) == paid

    balances = await gw.balances()
    if not spot:
        assert len(balances) == 1, balances
    mine = [b for b in balances if b.currency == inst.quote] if spot else balances
    assert len(mine) == 1, balances
    b = mine[0]
    sim_bal = sim_balance(after, inst.quote)
    assert (b.total, b.available) == (Decimal(sim_bal["total"]), Decimal(sim_bal["available"])), (b, sim_bal)
    fills = await fills_of(gw, time.time_ns() - 5_000_000_000, res.venue_order_id)
    assert fills and all(f.fee_currency == b.currency for f in fills), "fees are charged in the balance currency"

    if spot:  # spot holdings are balances: the base currency grew by what we bought, exactly
        assert await gw.positions() == [] and after["positions"] == []
        got = Decimal(sim_balance(after, inst.base)["total"]) - Decimal(sim_balance(before, inst.base)["total"])
        assert got == req.quantity == sum(Decimal(t["size"]) for t in trades), (got, req.quantity)
        venue_base = [x for x in balances if x.currency == inst.base]
        assert len(venue_base) == 1 and venue_base[0].total == Decimal(sim_balance(after, inst.base)["total"])
        return
    positions = {p.instrument_id: p.quantity for p in await gw.positions() if p.quantity != 0}
    sim_positions = {f"{bundle.sim.venue_key}:{p['symbol']}": Decimal(p["size"]) for p in after["positions"]
                     if Decimal(p["size"]) != 0}
    assert positions == sim_positions, (positions, sim_positions)
    assert positions.get(inst.id, Decimal(0)) >= req.quantity
    assert all(p.venue is bundle.venue for p in await gw.positions())


# --- idempotency ------------------------------------------------------------------------------


async def test_resubmitting_a_live_order_does_not_create_a_second_order(bundle: VenueBundle,
                                                                        admin: SimAdmin) -> None:
    gw, inst = bundle.gateway, trade_instrument(bundle, 0)
    req = request(inst, coid("dup"), Side.BUY, order_quantity(inst), await resting_price(admin, bundle, inst))
    before = await admin_order_ids(admin, bundle)
    first = await gw.submit(req)
    assert_accepted(first, req.client_order_id)
    second = await gw.submit(req)  # a retry of the same intent (e.g. after a timeout)
    assert isinstance(second, SubmitResult)
    if second.accepted:
        assert second.venue_order_id == first.venue_order_id, "a resend must name the original order"
    else:
        assert only(second.events, OrderRejected), second.events
    new = await admin_order_ids(admin, bundle) - before
    assert new == {first.venue_order_id}, f"the venue holds {len(new)} orders for one client order id"
    mine = [o for o in await gw.open_orders() if o.client_order_id == req.client_order_id]
    assert len(mine) == 1


async def test_resubmitting_a_filled_ioc_does_not_trade_again(bundle: VenueBundle, admin: SimAdmin) -> None:
    gw, inst = bundle.gateway, trade_instrument(bundle, 0)
    req, res, trades = await take_best_ask(bundle, admin, inst, "dupioc")
    orders_before = await admin_order_ids(admin, bundle)
    trades_before = len(await admin.trades(bundle.sim.venue_key, bundle.sim.account_id))
    again = await gw.submit(req)  # the same intent retried after it was already executed
    assert isinstance(again, SubmitResult)
    if again.accepted:
        assert again.venue_order_id == res.venue_order_id
    assert await admin_order_ids(admin, bundle) == orders_before, "a resend created a second order"
    assert len(await admin.trades(bundle.sim.venue_key, bundle.sim.account_id)) == trades_before, "it traded twice"


# --- transport faults --------------------------------------------------------------------------


async def test_429_with_retry_after_is_ridden_out_within_budget(bundle: VenueBundle, admin: SimAdmin) -> None:
    gw, inst = bundle.gateway, trade_instrument(bundle, 0)
    price = await resting_price(admin, bundle, inst)
    refusals, retry_after = 3, 0.3
    fid = await admin.add_fault({"kind": "REST_429", "venue": bundle.sim.venue_key, "match": bundle.sim.order_path,
                                 "times": refusals, "retry_after_s": retry_after})
    req = request(inst, coid("429"), Side.BUY, order_quantity(inst), price)
    t0 = time.monotonic()
    res = await gw.submit(req)
    took = time.monotonic() - t0
    assert_accepted(res, req.client_order_id)
    fired = await admin.fired(fid)
    assert len(fired) == refusals
    stamps = [f["ts_ns"] for f in fired]
    sim_order = await admin_order(admin, bundle, res.venue_order_id)
    assert sim_order is not None
    # every Retry-After was honoured: no request reached the venue sooner than it allowed
    gaps = [(b - a) / 1e9 for a, b in zip(stamps, stamps[1:] + [sim_order["created_ns"]])]
    assert all(g >= retry_after - 0.02 for g in gaps), f"requests came back too early: {gaps}"
    assert took >= refusals * retry_after - 0.05
    # and exactly one order came of it (refusals + 1 requests in all)
    assert [o for o in await admin.orders(bundle.sim.venue_key, bundle.sim.account_id)
            if o["created_ns"] >= stamps[0]] == [sim_order]


async def test_a_5xx_is_retried_or_a_retryable_rejection(bundle: VenueBundle, admin: SimAdmin) -> None:
    gw, inst = bundle.gateway, trade_instrument(bundle, 0)
    price = await resting_price(admin, bundle, inst)
    # one 503: retried (orders are idempotent) or reported as retryable; never an exception
    fid = await admin.add_fault({"kind": "REST_5XX", "venue": bundle.sim.venue_key, "match": bundle.sim.order_path,
                                 "times": 1, "status": 503})
    before = await admin_order_ids(admin, bundle)
    req = request(inst, coid("5xx"), Side.BUY, order_quantity(inst), price)
    res = await gw.submit(req)
    assert len(await admin.fired(fid)) == 1, "the 503 was not served"
    if res.accepted:
        assert_accepted(res, req.client_order_id)
        assert await admin_order_ids(admin, bundle) - before == {res.venue_order_id}
    else:
        assert assert_rejected(res, req.client_order_id).retryable
    # a venue that keeps failing: a retryable rejection, and nothing reached the venue
    await refused_by_a_failing_venue(bundle, admin, price)


async def refused_by_a_failing_venue(bundle: VenueBundle, admin: SimAdmin, price: Decimal) -> OrderRequest:
    inst = trade_instrument(bundle, 0)
    fid = await admin.add_fault({"kind": "REST_5XX", "venue": bundle.sim.venue_key, "match": bundle.sim.order_path,
                                 "times": 50, "status": 503})
    before = await admin_order_ids(admin, bundle)
    req = request(inst, coid("5xx-down"), Side.BUY, order_quantity(inst), price)
    res = await bundle.gateway.submit(req)
    assert assert_rejected(res, req.client_order_id).retryable
    assert await admin.fired(fid)
    await admin.remove_fault(fid)
    assert await admin_order_ids(admin, bundle) == before
    return req


async def test_order_state_after_a_failed_send_is_none(bundle: VenueBundle, admin: SimAdmin) -> None:
    """Recovery asks the venue whether an order it tried to send exists: None means 'not placed'."""
    price = await resting_price(admin, bundle, trade_instrument(bundle, 0))
    req = await refused_by_a_failing_venue(bundle, admin, price)
    assert await bundle.gateway.order_state(req.client_order_id) is None, "the order was never placed"
