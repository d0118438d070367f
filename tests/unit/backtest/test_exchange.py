"""The backtest's simulated exchange against a real CryptoBook on a simulated clock: latency
(matched against the book as it is when the order arrives), queue position, partial fills, fees."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

from arbkit.backtest.exchange import ExchangeConfig, SimExchange
from arbkit.backtest.runner import settle
from arbkit.core.book import CryptoBook
from arbkit.core.clock import NS, SimClock
from arbkit.core.enums import InstrumentKind, LiquiditySide, OrderType, Side, TimeInForce, Venue
from arbkit.core.events import OrderFilled
from arbkit.core.fees import FeeSpec
from arbkit.core.instruments import Instrument
from arbkit.core.orders import OrderRequest

INST = Instrument(venue=Venue.KUCOIN, symbol="BTC-USDT", kind=InstrumentKind.SPOT, tick_size=D("0.1"),
                  size_increment=D("0.001"), quote="USDT", base="BTC",
                  fee=FeeSpec(kind="spot", taker_rate=D("0.001"), maker_rate=D("0.0005")))


def _book() -> CryptoBook:
    b = CryptoBook(1, 3, INST.id)  # prices in 0.1 units, sizes in 0.001 units
    b.apply_snapshot(bids=[(1000, 2000)], asks=[(1001, 1000), (1002, 3000)])  # 100.0 x2 / 100.1 x1, 100.2 x3
    return b


def _setup(**cfg):
    clock = SimClock(1_800_000_000 * NS)
    book = _book()
    ex = SimExchange(Venue.KUCOIN, clock, lambda iid: book if iid == INST.id else None, ExchangeConfig(**cfg),
                     balances={"USDT": D("100000"), "BTC": D("10")})
    got: list = []
    ex.set_event_sink(got.append)
    return clock, book, ex, got


def _req(coid: str, side: Side, qty: str, price: str, tif=TimeInForce.IOC) -> OrderRequest:
    return OrderRequest(instrument=INST, client_order_id=coid, side=side, quantity=D(qty), price=D(price),
                        order_type=OrderType.LIMIT, time_in_force=tif)


async def _run_to(clock: SimClock, ns: int) -> None:
    await settle()  # tasks started by what just happened go to sleep first
    while (d := clock.next_deadline_ns()) is not None and d <= ns:
        clock.set(d)
        await settle()
    clock.set(ns)
    await settle()


async def _submit(clock: SimClock, ex: SimExchange, req: OrderRequest):
    """Submit and let simulated time run until the answer is back."""
    task = asyncio.create_task(ex.submit(req))
    await settle()
    while not task.done():
        d = clock.next_deadline_ns()
        assert d is not None, "the answer waits on nothing"
        clock.set(d)
        await settle()
    return task.result()


def test_order_is_matched_against_the_book_as_it_is_when_it_arrives() -> None:
    async def main() -> None:
        clock, book, ex, _ = _setup(latency_out_ms=10, latency_in_ms=5)
        t0 = clock.now_ns()
        task = asyncio.create_task(ex.submit(_req("a", Side.BUY, "2.5", "100.2")))
        await settle()
        # 5 ms later (before the order arrives) the recorded best ask is taken away
        await _run_to(clock, t0 + 5_000_000)
        book.apply_delta(False, 1001, 0)
        ex.on_book(INST.id)
        await _run_to(clock, t0 + 100_000_000)
        res = task.result()
        fills = [e for e in res.events if isinstance(e, OrderFilled)]
        assert [(f.price, f.quantity) for f in fills] == [(D("100.2"), D("2.5"))]  # not 100.1: gone by then
        assert res.latency_ns == 15_000_000  # out + in
        assert fills[0].ts_recv == t0 + 15_000_000
        assert fills[0].fee == D("0.2505")  # 0.1 % taker of 250.5
        assert fills[0].liquidity is LiquiditySide.TAKER

    asyncio.run(main())


def test_ioc_partial_fill_and_liquidity_we_took_is_not_taken_twice() -> None:
    async def main() -> None:
        clock, book, ex, _ = _setup(latency_out_ms=0, latency_in_ms=0)
        r1 = await ex.submit(_req("a", Side.BUY, "0.6", "100.1"))
        r2 = await ex.submit(_req("b", Side.BUY, "0.6", "100.1"))  # only 0.4 left at 100.1
        f1 = [e.quantity for e in r1.events if isinstance(e, OrderFilled)]
        f2 = [e.quantity for e in r2.events if isinstance(e, OrderFilled)]
        assert f1 == [D("0.6")] and f2 == [D("0.4")]
        assert any(type(e).__name__ == "OrderCanceled" for e in r2.events)  # IOC remainder
        # a recorded change of the book replaces the venue's state: the level is whole again
        book.apply_delta(False, 1001, 1000)
        ex.on_book(INST.id)
        r3 = await ex.submit(_req("c", Side.BUY, "1", "100.1"))
        assert [e.quantity for e in r3.events if isinstance(e, OrderFilled)] == [D("1")]

    asyncio.run(main())


def test_resting_order_fills_only_after_the_size_ahead_of_it_has_gone() -> None:
    async def main() -> None:
        clock, book, ex, got = _setup(latency_out_ms=0, latency_in_ms=1)
        res = await _submit(clock, ex, _req("r", Side.BUY, "1", "100.0", TimeInForce.GTC))
        assert res.accepted and not [e for e in res.events if isinstance(e, OrderFilled)]
        # 2.0 ahead of us at 100.0; 1.5 of it trades or is canceled: still ahead of us
        book.apply_delta(True, 1000, 500)
        ex.on_book(INST.id)
        await _run_to(clock, clock.now_ns() + 10_000_000)
        assert not got
        # the last 0.5 leaves the level: all of it was ahead of us
        book.apply_delta(True, 1000, 0)
        ex.on_book(INST.id)
        await _run_to(clock, clock.now_ns() + 10_000_000)
        fills = [e for e in got if isinstance(e, OrderFilled)]
        assert fills == []
        # the recorded asks come down through our price: we fill at our price, as a maker
        book.apply_delta(False, 1000, 700)
        ex.on_book(INST.id)
        await _run_to(clock, clock.now_ns() + 10_000_000)
        fills = [e for e in got if isinstance(e, OrderFilled)]
        assert [(f.price, f.quantity, f.liquidity) for f in fills] == [(D("100.0"), D("0.7"), LiquiditySide.MAKER)]
        assert fills[0].fee == D("0.035")  # 0.05 % maker of 70
        assert fills[0].leaves_quantity == D("0.3")

    asyncio.run(main())


def test_without_queue_position_a_level_decrease_fills_a_resting_order() -> None:
    async def main() -> None:
        clock, book, ex, got = _setup(latency_out_ms=0, latency_in_ms=0, queue_position=False)
        await ex.submit(_req("r", Side.BUY, "1", "100.0", TimeInForce.GTC))
        book.apply_delta(True, 1000, 1500)  # 0.5 left the level: with nobody ahead, it was us
        ex.on_book(INST.id)
        await settle()
        assert [e.quantity for e in got if isinstance(e, OrderFilled)] == [D("0.5")]
        # canceled: no more fills
        await ex.cancel("r")
        book.apply_delta(True, 1000, 0)
        ex.on_book(INST.id)
        await settle()
        assert len([e for e in got if isinstance(e, OrderFilled)]) == 1

    asyncio.run(main())


def test_polymarket_fills_are_matched_first_and_confirmed_later() -> None:
    from arbkit.core.book import PredictionBook
    from arbkit.core.enums import FillStatus
    from arbkit.core.events import FillStatusChanged

    pm = Instrument(venue=Venue.POLYMARKET, symbol="123", kind=InstrumentKind.OUTCOME, tick_size=D("0.01"),
                    size_increment=D("0.01"), quote="pUSD", outcome="YES")
    book = PredictionBook(D("0.01"), 2, pm.id)
    book.apply_snapshot(bids=[(40, 10000)], asks=[(45, 10000)])  # 0.40 x100 / 0.45 x100

    async def main() -> None:
        clock = SimClock(1_800_000_000 * NS)
        ex = SimExchange(Venue.POLYMARKET, clock, lambda iid: book, ExchangeConfig(latency_out_ms=5, latency_in_ms=5,
                                                                                    polymarket_confirm_ms=1500),
                         balances={"pUSD": D("1000")})
        got: list = []
        ex.set_event_sink(got.append)
        t0 = clock.now_ns()
        res = await _submit(clock, ex, OrderRequest(instrument=pm, client_order_id="p", side=Side.BUY, quantity=D("10"),
                                                    price=D("0.45"), time_in_force=TimeInForce.IOC))
        fills = [e for e in res.events if isinstance(e, OrderFilled)]
        assert [(f.price, f.quantity, f.status) for f in fills] == [(D("0.45"), D("10"), FillStatus.PROVISIONAL)]
        assert not got
        await _run_to(clock, t0 + 2 * NS)
        assert [(type(e), e.trade_id, e.status, e.ts_recv) for e in got] == [
            (FillStatusChanged, fills[0].trade_id, FillStatus.CONFIRMED, t0 + 5_000_000 + 5_000_000 + 1_500_000_000)]

    asyncio.run(main())
