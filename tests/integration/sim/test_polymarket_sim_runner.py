"""Acceptance through the simulator runner: the official py-clob-client-v2 against the demo
scenario on a simulated clock. A resting order improves the best bid and is later filled by the
scenario's background taker flow; another order is canceled; the trades are listed and settle.
"""

from __future__ import annotations

import asyncio

from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import OrderArgsV2, OrderPayload, TradeParams

from arbkit.core.clock import SimClock
from arbkit.sim.runner import SimRunner


async def test_resting_order_fills_against_scenario_flow():
    runner = SimRunner(venues=["polymarket"], scenario="demo", seed=7, clock=SimClock())
    info = await runner.start()
    try:
        pm = info["polymarket"]
        assert pm["chain_id"] == 137 and pm["rest_url"].startswith("http://127.0.0.1:")
        wallet = pm["accounts"][0]
        market = next(mk for mk in pm["markets"] if not mk["neg_risk"])
        yes = market["tokens"][0]["token_id"]
        tick = float(market["tick_size"])

        def place() -> tuple[ClobClient, dict, dict]:
            client = ClobClient(pm["rest_url"], chain_id=137, key=wallet["private_key"])
            client.set_api_creds(client.create_or_derive_api_key())
            book = client.get_order_book(yes)
            assert book["bids"] and book["asks"], "the scenario quotes both sides"
            best_bid = float(book["bids"][-1]["price"])  # venue order: best bid last
            best_ask = float(book["asks"][-1]["price"])
            price = round(best_bid + tick, 4)
            assert price < best_ask  # improves the bid without crossing
            resting = client.create_and_post_order(OrderArgsV2(token_id=yes, price=price, size=5, side="BUY"))
            assert resting["status"] == "live"
            spare = client.create_and_post_order(OrderArgsV2(token_id=yes, price=round(best_bid - 5 * tick, 4), size=5, side="BUY"))
            assert client.cancel_order(OrderPayload(orderID=spare["orderID"]))["canceled"] == [spare["orderID"]]
            return client, resting, spare

        client, resting, spare = await asyncio.to_thread(place)
        order = None
        for _ in range(600):  # up to 5 simulated minutes; the scenario hits the best bid often
            await runner.advance(0.5)
            order = await asyncio.to_thread(client.get_order, resting["orderID"])
            if order["status"] in ("MATCHED", "ORDER_STATUS_MATCHED") or order["size_matched"] != "0":
                break
        assert order is not None and order["size_matched"] != "0", "background flow never reached the order"
        await runner.advance(10)  # settlement: MATCHED -> MINED -> CONFIRMED

        def trades() -> list[dict]:
            return client.get_trades(TradeParams(market=market["condition_id"]))

        listed = await asyncio.to_thread(trades)
        mine = [t for t in listed if any(mo["order_id"] == resting["orderID"] for mo in t["maker_orders"])]
        assert mine and all(t["trader_side"] == "MAKER" and t["status"] == "CONFIRMED" for t in mine)
        open_ids = [o["id"] for o in await asyncio.to_thread(client.get_open_orders)]
        assert spare["orderID"] not in open_ids
    finally:
        await runner.stop()
