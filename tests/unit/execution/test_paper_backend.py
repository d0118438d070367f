"""Paper backend: book walking with the instrument's grid, minimums, fees and balances."""

from __future__ import annotations

from decimal import Decimal

import pytest
from exec_kit import BTC_USDT, KALSHI_NO, POLY_YES, T0, book

from arbkit.core.clock import SimClock
from arbkit.core.enums import OrderStatus, OrderType, Side, TimeInForce, Venue
from arbkit.core.events import OrderAccepted, OrderCanceled, OrderFilled, OrderRejected
from arbkit.core.orders import OrderRequest
from arbkit.execution.backend import ExecutionBackend, GatewayBackend
from arbkit.execution.paper import PaperBackend, PaperConfig, SnapshotRegistry

D = Decimal


def req(inst, coid, side, qty, price, tif=TimeInForce.IOC, ot=OrderType.LIMIT):
    return OrderRequest(instrument=inst, client_order_id=coid, side=side, quantity=D(qty), price=D(price), time_in_force=tif, order_type=ot)


@pytest.fixture
def poly():
    clock = SimClock(start_ns=T0)
    reg = SnapshotRegistry()
    reg.update([book(POLY_YES, [("0.39", "50")], [("0.40", "3.5"), ("0.41", "10"), ("0.45", "100")], T0)])
    return PaperBackend(Venue.POLYMARKET, clock, reg, PaperConfig(), {"pUSD": D("100")})


def test_satisfies_the_backend_protocol(poly):
    assert isinstance(poly, ExecutionBackend)


async def test_walks_levels_up_to_the_limit_with_fees(poly):
    res = await poly.submit(req(POLY_YES, "a", Side.BUY, "20", "0.41"))
    fills = [e for e in res.events if isinstance(e, OrderFilled)]
    assert [(f.price, f.quantity) for f in fills] == [(D("0.40"), D("3.5")), (D("0.41"), D("10"))]
    # Polymarket fee C * 0.02 * p(1-p), to the micro-unit
    assert [f.fee for f in fills] == [D("0.016800"), D("0.048380")]
    assert isinstance(res.events[-1], OrderCanceled) and res.events[-1].filled_quantity == D("13.5")
    assert poly.cash["pUSD"] == D("100") - D("1.4") - D("4.1") - D("0.065180")
    assert poly.shares[POLY_YES.id] == D("13.5")
    # liquidity taken from the snapshot is gone for the next order
    res2 = await poly.submit(req(POLY_YES, "b", Side.BUY, "5", "0.41"))
    assert not any(isinstance(e, OrderFilled) for e in res2.events)


async def test_refuses_what_the_venue_would(poly):
    for coid, r, why in [
        ("m", req(POLY_YES, "m", Side.BUY, "4", "0.40"), "below minimum"),
        ("t", req(POLY_YES, "t", Side.BUY, "10", "0.405"), "tick"),
        ("i", req(POLY_YES, "i", Side.BUY, "10.001", "0.40"), "multiple"),
        ("k", req(KALSHI_NO, "k", Side.BUY, "10", "0.40"), "not on polymarket"),
        ("$", req(POLY_YES, "$", Side.BUY, "300", "0.40"), "insufficient balance"),
        ("s", req(POLY_YES, "s", Side.SELL, "10", "0.39"), "insufficient balance"),
    ]:
        res = await poly.submit(r)
        assert isinstance(res.events[0], OrderRejected) and why in res.events[0].reason, (coid, res.events)
        assert not res.accepted


async def test_duplicate_client_order_id_is_refused(poly):
    await poly.submit(req(POLY_YES, "dup", Side.BUY, "5", "0.45"))
    res = await poly.submit(req(POLY_YES, "dup", Side.BUY, "5", "0.45"))
    assert res.events[0].code == "DUPLICATE"
    assert len(poly.submitted) == 1 and (await poly.order_state("dup")).status is OrderStatus.FILLED


async def test_fok_and_resting_gtc(poly):
    res = await poly.submit(req(POLY_YES, "fok", Side.BUY, "200", "0.45", tif=TimeInForce.FOK))
    assert not any(isinstance(e, OrderFilled) for e in res.events)
    res = await poly.submit(req(POLY_YES, "gtc", Side.BUY, "10", "0.30", tif=TimeInForce.GTC))
    assert [type(e) for e in res.events] == [OrderAccepted]
    assert [o.client_order_id for o in await poly.open_orders()] == ["gtc"]
    ev = await poly.cancel("gtc")
    assert isinstance(ev[0], OrderCanceled) and await poly.open_orders() == []
    assert (await poly.cancel("gtc"))[0].reason == "order is CANCELED"
    assert await poly.order_state("nope") is None


async def test_seeded_reject_model_is_reproducible():
    async def run(seed):
        clock = SimClock(start_ns=T0)
        reg = SnapshotRegistry()
        reg.update([book(BTC_USDT, [("49999.9", "10")], [("50000.0", "10")], T0)])
        b = PaperBackend(Venue.KUCOIN, clock, reg, PaperConfig(reject_probability=0.5, seed=seed), {"USDT": D("1000000")})
        out = []
        for i in range(20):
            r = await b.submit(req(BTC_USDT, f"o{i}", Side.BUY, "0.001", "50000.0"))
            out.append(r.accepted)
        return out

    a, b = await run(7), await run(7)
    assert a == b and 3 < sum(a) < 17


async def test_gateway_backend_adapts_a_gateway(poly):
    got = []
    gb = GatewayBackend(poly)  # any VenueGateway (here the paper one) as a backend
    gb.deliver(OrderCanceled(venue=Venue.POLYMARKET, client_order_id="early"))
    gb.set_event_sink(got.append)
    assert [e.client_order_id for e in got] == ["early"]
    res = await gb.submit(req(POLY_YES, "g1", Side.BUY, "5", "0.45"))
    assert res.accepted and (await gb.order_state("g1")).filled_quantity == 5


# --- resting orders fill from the live books (market-making quotes in paper mode) -----------------


def _live():
    from arbkit.core.book import CryptoBook
    from arbkit.core.clock import NS

    clock = SimClock(start_ns=1_800_000_000 * NS)
    from arbkit.venues.kucoin.parse import book_digits  # the feed's own digits for an instrument

    pd, sd = book_digits(BTC_USDT.tick_size, BTC_USDT.size_increment)
    live = CryptoBook(pd, sd, BTC_USDT.id)
    scale_p, scale_q = 10**pd, 10**sd

    def snap(bids, asks):
        live.apply_snapshot(bids=[(int(D(p) * scale_p), int(D(q) * scale_q)) for p, q in bids],
                            asks=[(int(D(p) * scale_p), int(D(q) * scale_q)) for p, q in asks])

    snap([("50000.0", "0.5")], [("50001.0", "1")])
    paper = PaperBackend(Venue.KUCOIN, clock, SnapshotRegistry(), PaperConfig(),
                         {"USDT": D("100000"), "BTC": D("1")}, book_of=lambda iid: live if iid == BTC_USDT.id else None)
    got: list = []
    paper.set_event_sink(got.append)
    return paper, snap, got


async def test_a_resting_bid_waits_behind_the_queue_then_fills_as_maker():
    paper, snap, got = _live()
    res = await paper.submit(req(BTC_USDT, "q1", Side.BUY, "0.2", "50000.0", tif=TimeInForce.GTC))
    assert not [e for e in res.events if isinstance(e, OrderFilled)]  # nothing crosses: it rests
    assert (await paper.order_state("q1")).status is OrderStatus.ACCEPTED
    # 0.3 of the 0.5 ahead of us trades or is canceled: still 0.2 ahead, nothing for us
    snap([("50000.0", "0.2")], [("50001.0", "1")])
    paper.on_book(BTC_USDT.id)
    assert got == []
    # the rest of the queue leaves the level: we are first now, nothing filled yet (that size was ahead)
    snap([], [("50001.0", "1")])
    paper.on_book(BTC_USDT.id)
    assert got == []
    # the ask comes down through our price: 0.15 trades with us, at our price, as a maker
    snap([], [("49999.0", "0.15"), ("50001.0", "1")])
    paper.on_book(BTC_USDT.id)
    fills = [e for e in got if isinstance(e, OrderFilled)]
    assert [(f.price, f.quantity, f.liquidity.value) for f in fills] == [(D("50000.0"), D("0.15"), "MAKER")]
    from arbkit.core.enums import LiquiditySide
    from arbkit.core.fees import fee_for

    assert fills[0].fee == fee_for(BTC_USDT.fee, D("50000.0"), D("0.15"), LiquiditySide.MAKER)
    st = await paper.order_state("q1")
    assert st.status is OrderStatus.PARTIALLY_FILLED and st.filled_quantity == D("0.15")
    # canceled: it no longer fills
    await paper.cancel("q1")
    snap([], [("49990.0", "5")])
    paper.on_book(BTC_USDT.id)
    assert len([e for e in got if isinstance(e, OrderFilled)]) == 1


async def test_without_live_books_a_resting_order_only_rests(poly):
    res = await poly.submit(req(POLY_YES, "r1", Side.BUY, "10", "0.30", tif=TimeInForce.GTC))
    assert not [e for e in res.events if isinstance(e, OrderFilled)]
    poly.on_book(POLY_YES.id)  # no live books: nothing to match against
    assert (await poly.order_state("r1")).status is OrderStatus.ACCEPTED
