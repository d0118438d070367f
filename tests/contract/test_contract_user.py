"""User-stream contract (arbkit.venues.base.UserStream), the same assertions for every venue: a fill
of our resting order arrives as ONE OrderFilled (also when the venue sends it twice, and across a
reconnect that lost it), with the venue's settlement semantics: provisional then confirmed where
the venue settles later (Polymarket MATCHED -> CONFIRMED), confirmed at once otherwise (Kalshi)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from decimal import Decimal

import pytest
from contract_support import SimAdmin, coid, eventually, ioc, order_quantity, request, running, trade_instrument

from arbkit.core.enums import ConnectionState, FillStatus, LiquiditySide, Side
from arbkit.core.events import ConnectionStateChanged, FillStatusChanged, OrderFilled
from arbkit.core.instruments import Instrument
from arbkit.core.orders import OrderRequest
from arbkit.venues.base import UserStream
from arbkit.venues.contract import VenueBundle

SETTLE_TIMEOUT_S = 12.0  # the simulator confirms Polymarket trades 4 s after the match


def connected_count(bundle: VenueBundle) -> int:
    return sum(1 for e in bundle.events if isinstance(e, ConnectionStateChanged)
               and e.state is ConnectionState.CONNECTED and e.connection.split(".")[1:2] != ["market"])


def fills_for(bundle: VenueBundle, client_order_id: str) -> list[OrderFilled]:
    return [e for e in bundle.events if isinstance(e, OrderFilled) and e.client_order_id == client_order_id]


def status_changes(bundle: VenueBundle, trade_id: str) -> list[FillStatusChanged]:
    return [e for e in bundle.events if isinstance(e, FillStatusChanged) and e.trade_id == trade_id]


def settled(bundle: VenueBundle, fill: OrderFilled) -> bool:
    return fill.status is FillStatus.CONFIRMED or any(
        e.status is FillStatus.CONFIRMED for e in status_changes(bundle, fill.trade_id))


@contextlib.asynccontextmanager
async def user_stream(bundle: VenueBundle):
    """Run the bundle's user stream for the block, connected and subscribed."""
    assert bundle.user is not None and isinstance(bundle.user, UserStream) and bundle.user.venue is bundle.venue
    async with running(bundle.user):
        await eventually(lambda: connected_count(bundle) >= 1, 10, "user stream connected")
        await asyncio.sleep(0.3)  # let the subscription reach the venue
        yield bundle.user


async def rest_inside_spread(bundle: VenueBundle, admin: SimAdmin, inst: Instrument,
                             tag: str) -> tuple[OrderRequest, str]:
    """Our BUY one tick above the best bid (the only order at that price), post-only."""
    bids, asks = await admin.book(bundle.sim.venue_key, inst.symbol)
    price = bids[0][0] + inst.tick_size
    assert price < asks[0][0], f"{inst.id}: the spread is one tick; nothing rests inside it"
    req = request(inst, coid(tag), Side.BUY, order_quantity(inst, Decimal(20)), price, post_only=True)
    res = await bundle.gateway.submit(req)
    assert res.accepted, res.events
    return req, res.venue_order_id


async def hit(counterparty: VenueBundle, inst: Instrument, price: Decimal, qty: Decimal) -> None:
    """The other account takes ``qty`` of our bid: it buys the complement at 1 - price (the venue
    pairs a YES bid with a NO bid), so it needs no position to sell."""
    if inst.complement is None:  # a spot pair: the other account sells the base it holds
        res = await counterparty.gateway.submit(ioc(inst, coid("hit"), Side.SELL, qty, price))
        assert res.accepted, res.events
        return
    other = counterparty.instrument(inst.complement)
    res = await counterparty.gateway.submit(ioc(other, coid("hit"), Side.BUY, qty, 1 - price))
    assert res.accepted, res.events


async def sim_trades_of(admin: SimAdmin, bundle: VenueBundle, venue_order_id: str) -> list[dict]:
    return [t for t in await admin.trades(bundle.sim.venue_key, bundle.sim.account_id)
            if t["maker_order_id"] == venue_order_id]


def check_fill(bundle: VenueBundle, f: OrderFilled, req: OrderRequest, venue_order_id: str, qty: Decimal) -> None:
    assert (f.venue, f.instrument_id, f.client_order_id, f.venue_order_id, f.side, f.liquidity) == (
        bundle.venue, req.instrument.id, req.client_order_id, venue_order_id, Side.BUY, LiquiditySide.MAKER), f
    assert f.price == req.price and f.quantity == qty, f
    assert f.fee == bundle.fee_rule(req.instrument, Side.BUY, f.price, f.quantity, LiquiditySide.MAKER), f
    assert f.trade_id and f.status is not FillStatus.FAILED


async def test_a_fill_arrives_once_with_the_venues_settlement_semantics(bundle: VenueBundle, counterparty: VenueBundle,
                                                                        admin: SimAdmin) -> None:
    inst = trade_instrument(bundle, 1)
    t0 = time.time_ns() - 2_000_000_000
    async with user_stream(bundle):
        # every message on the fill channel is sent twice: the stream must report each fill once
        dup = await admin.add_fault({"kind": "WS_DUPLICATE", "venue": bundle.sim.venue_key,
                                     "match": bundle.sim.fill_channel, "times": 20})
        req, oid = await rest_inside_spread(bundle, admin, inst, "ufill")
        take = order_quantity(inst, Decimal(5))
        await hit(counterparty, inst, req.price, take)
        await eventually(lambda: len(fills_for(bundle, req.client_order_id)) >= 1, 10, "our fill on the user stream")
        f = fills_for(bundle, req.client_order_id)[0]
        check_fill(bundle, f, req, oid, take)
        if bundle.sim.provisional_fills:
            assert f.status is FillStatus.PROVISIONAL, "a fill the venue has not settled yet is provisional"
            await eventually(lambda: settled(bundle, f), SETTLE_TIMEOUT_S, "the fill confirmed")
            assert FillStatus.FAILED not in [e.status for e in status_changes(bundle, f.trade_id)]
        else:
            assert f.status is FillStatus.CONFIRMED, "this venue settles at the match"
            await asyncio.sleep(1.0)
            assert not status_changes(bundle, f.trade_id), "a confirmed fill has no later status"
        assert await admin.fired(dup), "the venue sent no duplicate: the check below would prove nothing"
        assert fills_for(bundle, req.client_order_id) == [f], "the fill was reported more than once"
        trades = await sim_trades_of(admin, bundle, oid)
        assert len(trades) == 1 and Decimal(trades[0]["size"]) == take
        assert Decimal(trades[0]["maker_price"]) == f.price and Decimal(trades[0]["maker_fee"]) == f.fee
        # the REST view has the same fill, once
        rest = [e for e in await bundle.gateway.fills_since(t0)
                if isinstance(e, OrderFilled) and e.venue_order_id == oid]
        assert [(e.trade_id, e.price, e.quantity) for e in rest] == [(f.trade_id, f.price, f.quantity)]


async def test_a_fill_lost_in_a_disconnect_arrives_once_after_the_reconnect(bundle: VenueBundle,
                                                                           counterparty: VenueBundle,
                                                                           admin: SimAdmin) -> None:
    inst = trade_instrument(bundle, 1)
    async with user_stream(bundle):
        req, oid = await rest_inside_spread(bundle, admin, inst, "ureconn")
        take = order_quantity(inst, Decimal(5))
        await hit(counterparty, inst, req.price, take)
        await eventually(lambda: len(fills_for(bundle, req.client_order_id)) == 1, 10, "the first fill")
        first = fills_for(bundle, req.client_order_id)[0]
        # the next fill message closes the socket and is never delivered
        connects = connected_count(bundle)
        await admin.add_fault({"kind": "WS_DISCONNECT", "venue": bundle.sim.venue_key,
                               "match": bundle.sim.fill_channel, "times": 1})
        await hit(counterparty, inst, req.price, take)
        await eventually(lambda: connected_count(bundle) > connects, 10, "the user stream reconnected")
        await eventually(lambda: len(fills_for(bundle, req.client_order_id)) >= 2, SETTLE_TIMEOUT_S,
                         "the lost fill after the reconnect")
        await asyncio.sleep(1.0)  # late duplicates (a backfill overlapping the stream) would show now
        fills = fills_for(bundle, req.client_order_id)
        assert len(fills) == 2 and fills[0] == first, f"each fill once: {fills}"
        assert len({f.trade_id for f in fills}) == 2
        for f in fills:
            check_fill(bundle, f, req, oid, take)
        assert len(await sim_trades_of(admin, bundle, oid)) == 2
        if bundle.sim.provisional_fills:
            await eventually(lambda: all(settled(bundle, f) for f in fills), SETTLE_TIMEOUT_S, "both fills confirmed")
        else:
            assert all(f.status is FillStatus.CONFIRMED for f in fills)


async def test_a_failed_settlement_reverses_a_provisional_fill(venue: str, bundle: VenueBundle,
                                                               counterparty: VenueBundle, admin: SimAdmin) -> None:
    if not bundle.sim.provisional_fills:
        pytest.skip(f"{venue} settles at the match: a fill it reported cannot fail later")
    inst = trade_instrument(bundle, 1)
    async with user_stream(bundle):
        await bundle.gateway.cancel_all()
        before = await admin.account(bundle.sim.venue_key, bundle.sim.account_id)
        fid = await admin.add_fault({"kind": "TRADE_FAILED", "venue": bundle.sim.venue_key,
                                     "match": bundle.sim.account_id, "times": 1})
        req, oid = await rest_inside_spread(bundle, admin, inst, "ufail")
        take = order_quantity(inst, Decimal(5))
        await hit(counterparty, inst, req.price, take)
        await eventually(lambda: len(fills_for(bundle, req.client_order_id)) >= 1, 10, "the provisional fill")
        assert await admin.fired(fid), "the trade was not marked to fail"
        f = fills_for(bundle, req.client_order_id)[0]
        check_fill(bundle, f, req, oid, take)
        assert f.status is FillStatus.PROVISIONAL
        await eventually(lambda: any(e.status is FillStatus.FAILED for e in status_changes(bundle, f.trade_id)),
                         SETTLE_TIMEOUT_S, "the fill reported FAILED")
        assert not settled(bundle, f), "a failed fill must never be reported CONFIRMED"
        assert fills_for(bundle, req.client_order_id) == [f]
        await bundle.gateway.cancel(req.client_order_id)
        after = await admin.account(bundle.sim.venue_key, bundle.sim.account_id)
        assert after["balances"] == before["balances"] and after["positions"] == before["positions"], (
            "the simulator reversed the trade")
        bal = (await bundle.gateway.balances())[0]
        assert (bal.total, bal.available) == (Decimal(after["balances"][0]["total"]),
                                              Decimal(after["balances"][0]["available"]))
        positions = {p.instrument_id: p.quantity for p in await bundle.gateway.positions() if p.quantity != 0}
        assert positions.get(inst.id, Decimal(0)) == sum(
            (Decimal(p["size"]) for p in after["positions"] if p["symbol"] == inst.symbol), Decimal(0))


async def test_our_taker_fill_arrives_once_and_matches_fills_since(bundle: VenueBundle, admin: SimAdmin) -> None:
    inst = trade_instrument(bundle, 1)
    t0 = time.time_ns() - 2_000_000_000
    async with user_stream(bundle):
        _, asks = await admin.book(bundle.sim.venue_key, inst.symbol)
        price, size = asks[0]
        req = ioc(inst, coid("utake"), Side.BUY, min(order_quantity(inst), size), price)
        res = await bundle.gateway.submit(req)
        assert res.accepted, res.events
        trades = [t for t in await admin.trades(bundle.sim.venue_key, bundle.sim.account_id)
                  if t["taker_order_id"] == res.venue_order_id]
        assert trades, "the IOC found nothing at the best ask (the makers re-quoted?)"
        filled = sum(Decimal(t["size"]) for t in trades)
        await eventually(lambda: sum(f.quantity for f in fills_for(bundle, req.client_order_id)) >= filled, 10,
                         "our taker fills on the user stream")
        await asyncio.sleep(0.5)
        streamed = fills_for(bundle, req.client_order_id)
        assert len(streamed) == len(trades) and len({f.trade_id for f in streamed}) == len(streamed), streamed
        for f in streamed:
            assert (f.side, f.liquidity, f.instrument_id, f.venue_order_id) == (
                Side.BUY, LiquiditySide.TAKER, inst.id, res.venue_order_id), f
            assert f.fee == bundle.fee_rule(inst, Side.BUY, f.price, f.quantity, LiquiditySide.TAKER), f
        rest = [e for e in await bundle.gateway.fills_since(t0)
                if isinstance(e, OrderFilled) and e.venue_order_id == res.venue_order_id]
        key = lambda f: (f.trade_id, f.price, f.quantity, f.fee, f.client_order_id)  # noqa: E731
        assert sorted(map(key, streamed)) == sorted(map(key, rest)), (streamed, rest)
