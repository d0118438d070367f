"""A triangle found in the KuCoin simulator (its makers quote ETH-BTC 1 % off: a dislocation) by the
triangular strategy on the real feed's books, then sent as its three cascading IOC legs through the
real gateway, each sized from what the previous leg filled with the execution engine's sizing
functions: the realised end amount equals the predicted one (KuCoin's fees are unrounded), and the
venue's balances moved by exactly that."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal as D

from arbkit.core.enums import Side, TimeInForce
from arbkit.core.orders import OrderRequest
from arbkit.execution.intent import validate_intent
from arbkit.execution.sizing import cascade_quantity, leg_quantity
from arbkit.sim.runner import SimRunner
from arbkit.strategies.triangular import TriangularConfig, TriangularStrategy, report_line
from arbkit.venues.kucoin.auth import KucoinSigner
from arbkit.venues.kucoin.feed import FeedConfig, KucoinMarketFeed
from arbkit.venues.kucoin.gateway import GatewayConfig, KucoinGateway

SYMS = ["BTC-USDT", "ETH-BTC", "ETH-USDT"]


def gw_of(sec: dict, i: int) -> KucoinGateway:
    a = sec["accounts"][i]
    return KucoinGateway(KucoinSigner(a["api_key"], a["api_secret"], a["passphrase"]), GatewayConfig(rest_url=sec["rest_url"]))


async def test_a_dislocated_triangle_is_found_and_its_cascade_fills_as_predicted() -> None:
    runner = SimRunner(venues=["kucoin"], scenario="quiet", seed=21)
    sec = (await runner.start())["kucoin"]
    gw = gw_of(sec, 0)
    insts = {i.symbol: i for i in await gw.instruments(SYMS)}
    feed = KucoinMarketFeed(lambda e: None, FeedConfig(endpoint_override=sec["ws_url"]), gw, gw._instruments.get)
    feed.subscribe(insts[s].id for s in SYMS)
    task = asyncio.create_task(feed.run())
    try:
        for _ in range(300):
            if all(feed.is_tradeable(insts[s].id, 10**11) for s in SYMS):
                break
            await asyncio.sleep(0.02)
        strat = TriangularStrategy(TriangularConfig(max_start={"USDT": D(2000)}, min_edge_bps=D(20)), insts.values(),
                                   feed.book, tradeable=feed.is_tradeable)
        assert not [d for d in strat.on_book_update("kucoin:ETH-BTC") if d.intent is not None], "fair books: no edge"
        # the simulator's dislocation: the makers quote ETH-BTC 1 % below its triangle-consistent price
        srv = runner.servers["kucoin"]
        srv.dislocated["ETH-BTC"] = (D("0.99"), 10**6)
        srv.requote_all()
        intent = None
        for _ in range(200):
            won = [d for d in strat.on_book_update("kucoin:ETH-BTC") if d.intent is not None]
            if won:
                decision = won[0]
                intent = decision.intent
                break
            await asyncio.sleep(0.02)
        assert intent is not None, "the strategy did not see the dislocated triangle"
        assert validate_intent(intent) is None and decision.triangle.path == "BTC-USDT→ETH-BTC→ETH-USDT"
        q = decision.quote
        before = {b.currency: b.total for b in await gw.balances()}
        # run the cascade: each leg sized from what the previous one really produced
        amount = None
        for i, leg in enumerate(intent.legs):
            qty = leg_quantity(leg) if i == 0 else cascade_quantity(leg, amount)
            res = await gw.submit(OrderRequest(instrument=leg.instrument, client_order_id=f"tri-{i}", side=leg.side,
                                               quantity=qty, price=leg.price, time_in_force=TimeInForce.IOC))
            assert res.accepted, res.events
            fills = [f for f in await gw.fills_since(0) if f.venue_order_id == res.venue_order_id]
            filled = sum(f.quantity for f in fills)
            assert filled == qty == q.legs[i].quantity, (i, filled, qty)
            notional = sum(f.price * f.quantity for f in fills)
            fee = sum(f.fee for f in fills)
            assert (notional, fee) == (q.legs[i].notional, q.legs[i].fee)
            amount = filled if leg.side is Side.BUY else notional - fee
        assert amount == q.end_amount, (amount, q.end_amount)
        after = {b.currency: b.total for b in await gw.balances()}
        # the account gained exactly the predicted profit in USDT, less the dust left in BTC / ETH
        assert after["USDT"] - before["USDT"] == q.end_amount - q.legs[0].input_used
        dust_btc = q.legs[0].output - q.legs[1].input_used
        assert after["BTC"] - before["BTC"] == dust_btc >= 0
        assert after["ETH"] - before["ETH"] == q.legs[1].output - q.legs[2].quantity >= 0
        line = report_line("FILLED", intent.correlation_id, decision.triangle, q.start_amount, amount,
                           intent.predicted_edge_bps)
        assert "BTC-USDT→ETH-BTC→ETH-USDT" in line and q.edge_bps >= D(20)
    finally:
        await feed.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)
        await gw.close()
        await runner.stop()
