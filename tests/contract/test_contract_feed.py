"""Market-feed contract (arbkit.venues.base.MarketFeed), the same assertions for every venue: books
equal the simulator's level by level, survive a disconnect, a silent freeze is detected in time, and
malformed messages (injected over a real socket by a loopback proxy) are counted without harm."""

from __future__ import annotations

import asyncio
import contextlib
import time
from decimal import Decimal

from contract_support import (
    SimAdmin,
    WsTamperProxy,
    books_equal_sim,
    coid,
    eventually,
    feed_levels,
    order_quantity,
    proxied_info,
    request,
    running,
    trade_instrument,
)

from arbkit.core.enums import ConnectionState, Side
from arbkit.core.events import BookStaleDetected, ConnectionStateChanged, MessageMalformed
from arbkit.core.instruments import Instrument
from arbkit.venues.base import MarketFeed
from arbkit.venues.contract import ContractTimings, VenueBundle

MAX_AGE_NS = 120 * 10**9  # the quiet scenario's books may not change for a while: age is not tested here


def pair(bundle: VenueBundle, inst: Instrument) -> list[Instrument]:
    """An outcome and its complement (both views of one binary market)."""
    return [inst, bundle.instrument(inst.complement)] if inst.complement else [inst]


def tradeable(feed: MarketFeed, insts: list[Instrument]) -> bool:
    return all(feed.is_tradeable(i.id, MAX_AGE_NS) for i in insts)


async def rest_bid(party: VenueBundle, admin: SimAdmin, inst: Instrument, ticks_below: int,
                   tag: str) -> tuple[Decimal, Decimal]:
    """``party`` rests a BUY ``ticks_below`` ticks under the best bid; returns (price, quantity)."""
    bids, asks = await admin.book(party.sim.venue_key, inst.symbol)
    top = bids[0][0] if bids else asks[0][0] - inst.tick_size
    price, qty = top - inst.tick_size * ticks_below, order_quantity(inst, Decimal(7))
    res = await party.gateway.submit(request(inst, coid(tag), Side.BUY, qty, price))
    assert res.accepted, res.events
    return price, qty


def size_at(feed: MarketFeed, inst: Instrument, side_bids: bool, price: Decimal) -> Decimal:
    levels = feed_levels(feed.book(inst.id))
    if levels is None:
        return Decimal(0)
    return sum((s for p, s in levels[0 if side_bids else 1] if p == price), Decimal(0))


async def test_subscribed_books_become_tradeable_and_equal_the_simulators(bundle: VenueBundle, admin: SimAdmin) -> None:
    feed = bundle.feed
    assert isinstance(feed, MarketFeed) and feed.venue is bundle.venue
    insts = bundle.instruments
    feed.subscribe(i.id for i in insts)
    assert not feed.is_tradeable(insts[0].id, MAX_AGE_NS), "no book before the feed ran"
    async with running(feed):
        await eventually(lambda: tradeable(feed, insts), 15, "every subscribed book tradeable")
        await books_equal_sim(feed, admin, bundle, insts)
        assert not feed.is_tradeable(insts[0].id, 1), "a book older than max_age_ns is not tradeable"
        # an unsubscribed instrument is no longer tradeable; the others stay so
        feed.unsubscribe([insts[-1].id])
        await eventually(lambda: not feed.is_tradeable(insts[-1].id, MAX_AGE_NS), 5, "unsubscribed book untradeable")
        assert tradeable(feed, insts[:-2])
    assert not [e for e in bundle.events if isinstance(e, MessageMalformed)]


async def test_books_rebuilt_after_a_disconnect_equal_the_simulators(bundle: VenueBundle, counterparty: VenueBundle,
                                                                     admin: SimAdmin) -> None:
    feed = bundle.feed
    insts = pair(bundle, trade_instrument(bundle, 0)) + pair(bundle, trade_instrument(bundle, 1))
    feed.subscribe(i.id for i in insts)
    async with running(feed):
        await eventually(lambda: tradeable(feed, insts), 15, "live books")
        await admin.add_fault({"kind": "WS_DISCONNECT", "venue": bundle.sim.venue_key,
                               "match": bundle.sim.market_channels[0], "times": 1})
        # Book changes make market messages: the first one closes the connection; the others happen
        # while the feed is away and must come back through the fresh snapshot.
        placed = [await rest_bid(counterparty, admin, inst, 2 + k, f"dc{k}") + (inst,)
                  for k, inst in enumerate(i for i in insts if (i.outcome or "YES").upper() == "YES")]
        await eventually(lambda: any(isinstance(e, ConnectionStateChanged) and e.state is ConnectionState.DISCONNECTED
                                     for e in bundle.events), 10, "the feed saw the disconnect")
        await eventually(lambda: tradeable(feed, insts), 15, "books live again after the reconnect")
        await books_equal_sim(feed, admin, bundle, insts)
        for price, qty, inst in placed:
            assert size_at(feed, inst, True, price) >= qty, f"{inst.id}: our bid {qty} @ {price} is not in the book"


async def test_a_silent_freeze_is_detected_within_the_configured_time(make_bundle, counterparty: VenueBundle,
                                                                      admin: SimAdmin) -> None:
    freeze_after = 1.0
    bundle = await make_bundle(0, timings=ContractTimings(freeze_after_s=freeze_after, ping_interval_s=0.5))
    feed = bundle.feed
    inst = trade_instrument(bundle, 1)
    insts = pair(bundle, inst)
    feed.subscribe(i.id for i in insts)
    stop_flow = asyncio.Event()

    async def flow() -> None:  # keep market data coming: place and cancel an order every 0.2 s
        bids, _ = await admin.book(bundle.sim.venue_key, inst.symbol)
        price = bids[0][0] - inst.tick_size * 6
        while not stop_flow.is_set():
            cid = coid("flow")
            await counterparty.gateway.submit(request(inst, cid, Side.BUY, order_quantity(inst), price))
            await asyncio.sleep(0.1)
            await counterparty.gateway.cancel(cid)
            await asyncio.sleep(0.1)

    def detected(since: int) -> list:
        return [e for e in bundle.events if e.ts_recv >= since and (
            isinstance(e, BookStaleDetected) or (isinstance(e, ConnectionStateChanged)
                                                 and e.state is ConnectionState.STALLED))]

    flow_task = asyncio.create_task(flow())
    try:
        async with running(feed):
            await eventually(lambda: tradeable(feed, insts), 15, "live books")
            await asyncio.sleep(freeze_after * 1.5)
            assert not detected(0), "flowing market data must not look like a freeze"
            t_ns = time.time_ns()
            for ch in bundle.sim.market_channels:
                await admin.add_fault({"kind": "WS_FREEZE", "venue": bundle.sim.venue_key, "match": ch,
                                       "duration_s": 2.5})
            took = await eventually(lambda: bool(detected(t_ns)), freeze_after + 3, "freeze detection")
            assert took <= freeze_after + 0.8, f"freeze detected after {took:.2f} s (configured {freeze_after} s)"
            await eventually(lambda: tradeable(feed, insts), 15, "recovery after the freeze")
            stop_flow.set()
            await flow_task
            await books_equal_sim(feed, admin, bundle, insts)
    finally:
        stop_flow.set()
        with contextlib.suppress(Exception):
            await flow_task


GARBAGE: list[str | bytes] = [
    "{not json",
    "[1, 2, 3]",
    '{"type": 7, "event_type": 7, "msg": "x"}',
    b"\x00\x01\xfe binary garbage",
    "x" * 20_000,
]


async def test_malformed_messages_are_counted_and_do_not_crash_the_feed(make_bundle, adapter, sim_info,
                                                                       counterparty: VenueBundle,
                                                                       admin: SimAdmin) -> None:
    probe = adapter.bundle_from_sim_info(sim_info, 0)  # only to learn the venue's simulator names
    key, url_key = probe.sim.venue_key, probe.sim.market_ws_key
    async with WsTamperProxy(sim_info[key][url_key]) as proxy:
        bundle = await make_bundle(0, info=proxied_info(sim_info, key, [url_key], {url_key: proxy}))
        feed = bundle.feed
        inst = trade_instrument(bundle, 0)
        insts = pair(bundle, inst)
        feed.subscribe(i.id for i in insts)
        async with running(feed) as tasks:
            await eventually(lambda: tradeable(feed, insts), 15, "live books through the proxy")
            assert proxy.connections >= 1, "the feed must be connected through the proxy"
            assert await proxy.inject(GARBAGE) == len(GARBAGE) * proxy.connections
            bad = lambda: [e for e in bundle.events if isinstance(e, MessageMalformed)]  # noqa: E731
            await eventually(lambda: len(bad()) >= len(GARBAGE), 5, "every malformed frame counted")
            for e in bad():
                assert e.venue is bundle.venue and e.error
                assert len(e.sample) <= 1_000, "the logged sample must be truncated"
            assert not any(t.done() for t in tasks), "the feed must keep running"
            # and it still works: a change after the garbage reaches the book
            price, qty = await rest_bid(counterparty, admin, inst, 3, "after-garbage")
            await eventually(lambda: size_at(feed, inst, True, price) >= qty, 10, "a new level after the garbage")
            await eventually(lambda: tradeable(feed, insts), 10, "books tradeable after the garbage")
            await books_equal_sim(feed, admin, bundle, insts)
