"""User channel: MATCHED fills are provisional until CONFIRMED; FAILED reverses them."""

from __future__ import annotations

import asyncio
import base64
import json
from decimal import Decimal

import websockets

from arbkit.core.enums import ConnectionState, FillStatus, LiquiditySide, Side
from arbkit.core.events import (
    ConnectionStateChanged,
    FillStatusChanged,
    MessageMalformed,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
)
from arbkit.venues.polymarket.auth import ApiCreds
from arbkit.venues.polymarket.user import PolymarketUserStream, UserStreamConfig

CREDS = ApiCreds("me", base64.urlsafe_b64encode(b"u" * 32).decode(), "pw")
TOKEN = "123456789"


def trade(status: str, trade_id: str = "t-1", trader_side: str = "TAKER", maker_owner: str = "other") -> dict:
    return {"event_type": "trade", "type": "TRADE", "id": trade_id, "taker_order_id": "0xtaker", "asset_id": TOKEN,
            "market": "0xm", "side": "BUY", "size": "6", "price": "0.52", "status": status, "owner": "me",
            "trader_side": trader_side, "timestamp": "1700000000000", "match_time": "1700000000",
            "maker_orders": [{"order_id": "0xmaker", "owner": maker_owner, "maker_address": "0xabc",
                              "matched_amount": "6", "price": "0.52", "asset_id": TOKEN, "outcome": "Yes"}]}


def test_matched_then_mined_then_confirmed() -> None:
    events: list = []
    us = PolymarketUserStream(events.append, CREDS)
    us.on_frame(json.dumps([trade("MATCHED")]))
    us.on_frame(json.dumps(trade("MATCHED")))  # duplicate: ignored
    us.on_frame(json.dumps(trade("MINED")))
    us.on_frame(json.dumps(trade("CONFIRMED")))
    us.on_frame(json.dumps(trade("MINED")))  # regression: ignored
    fills = [e for e in events if isinstance(e, OrderFilled)]
    assert len(fills) == 1
    f = fills[0]
    assert f.status is FillStatus.PROVISIONAL and f.venue_order_id == "0xtaker" and f.quantity == Decimal("6")
    assert f.side is Side.BUY and f.liquidity is LiquiditySide.TAKER and f.cumulative_quantity == Decimal("6")
    changes = [e.status for e in events if isinstance(e, FillStatusChanged)]
    assert changes == [FillStatus.MINED, FillStatus.CONFIRMED]


def test_failed_reverses_a_provisional_fill() -> None:
    events: list = []
    us = PolymarketUserStream(events.append, CREDS)
    us.on_frame(json.dumps(trade("MATCHED", "t-9")))
    us.on_frame(json.dumps(trade("RETRYING", "t-9")))
    us.on_frame(json.dumps(trade("FAILED", "t-9")))
    us.on_frame(json.dumps(trade("CONFIRMED", "t-9")))  # after FAILED nothing changes
    assert [e.status for e in events if isinstance(e, FillStatusChanged)] == [FillStatus.FAILED]
    assert us._cum["0xtaker"] == 0


def test_maker_side_and_orders() -> None:
    events: list = []
    us = PolymarketUserStream(events.append, CREDS)
    us.on_frame(json.dumps(trade("MATCHED", "t-m", trader_side="MAKER", maker_owner="me")))
    f = [e for e in events if isinstance(e, OrderFilled)][0]
    assert f.liquidity is LiquiditySide.MAKER and f.side is Side.SELL and f.venue_order_id == "0xmaker"
    us.on_frame(json.dumps({"event_type": "order", "type": "PLACEMENT", "id": "0xo", "asset_id": TOKEN,
                            "side": "BUY", "price": "0.5", "original_size": "10", "size_matched": "0", "status": "LIVE"}))
    us.on_frame(json.dumps({"event_type": "order", "type": "CANCELLATION", "id": "0xo", "asset_id": TOKEN,
                            "side": "BUY", "price": "0.5", "original_size": "10", "size_matched": "4",
                            "status": "CANCELED"}))
    assert isinstance(events[-2], OrderAccepted) and events[-2].venue_order_id == "0xo"
    assert isinstance(events[-1], OrderCanceled) and events[-1].filled_quantity == Decimal("4")


def test_garbage_is_counted_not_raised() -> None:
    events: list = []
    us = PolymarketUserStream(events.append, CREDS)
    us.on_frame("{nope")
    us.on_frame(json.dumps({"event_type": "trade", "id": "x", "side": "SIDEWAYS", "status": "MATCHED",
                            "taker_order_id": "0x1", "trader_side": "TAKER", "owner": "me", "price": "0.5"}))
    us.on_frame("PONG")
    assert us.malformed.count == 2 and len([e for e in events if isinstance(e, MessageMalformed)]) == 2


async def test_authenticates_and_reconnects_over_a_real_socket() -> None:
    subs: list[dict] = []
    conns: list = []

    async def handler(ws) -> None:
        subs.append(json.loads(await ws.recv()))
        conns.append(ws)
        await ws.send(json.dumps([trade("MATCHED", f"t-{len(subs)}")]))
        async for msg in ws:
            if msg == "PING":
                await ws.send("PONG")

    server = await websockets.serve(handler, "127.0.0.1", 0)
    url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    events: list = []
    us = PolymarketUserStream(events.append, CREDS, UserStreamConfig(ws_url=url, markets=["0xm"], ping_interval_s=0.05,
                                                                     reconnect_initial_s=0.05))
    task = asyncio.create_task(us.run())
    try:
        async def until(pred):
            for _ in range(500):
                if pred():
                    return
                await asyncio.sleep(0.01)
            raise AssertionError("not reached")

        await until(lambda: len([e for e in events if isinstance(e, OrderFilled)]) == 1)
        assert subs[0] == {"auth": {"apiKey": "me", "secret": CREDS.api_secret, "passphrase": "pw"},
                           "markets": ["0xm"], "type": "user"}
        await conns[0].close()
        await until(lambda: len([e for e in events if isinstance(e, OrderFilled)]) == 2)
        assert us.reconnects == 1
        states = [e.state for e in events if isinstance(e, ConnectionStateChanged)]
        assert ConnectionState.DISCONNECTED in states and states[-1] is ConnectionState.CONNECTED
    finally:
        await us.stop()
        await asyncio.wait_for(task, 5)
        server.close()
        await server.wait_closed()


def sweep(status: str) -> dict:
    """Our IOC buy (limit 0.40) that swept two asks: 4 at 0.38 and 6 at 0.39."""
    t = trade(status, "t-sweep")
    t.update(price="0.40", size="10", maker_orders=[
        {"order_id": "0xm1", "owner": "a", "maker_address": "0x1", "matched_amount": "4", "price": "0.38",
         "asset_id": TOKEN, "outcome": "Yes"},
        {"order_id": "0xm2", "owner": "b", "maker_address": "0x2", "matched_amount": "6", "price": "0.39",
         "asset_id": TOKEN, "outcome": "Yes"}])
    return t


def test_taker_sweep_is_one_fill_per_match_at_the_maker_prices() -> None:
    events: list = []
    us = PolymarketUserStream(events.append, CREDS)
    us.on_frame(json.dumps(sweep("MATCHED")))
    us.on_frame(json.dumps(sweep("MATCHED")))  # duplicate: ignored
    us.on_frame(json.dumps(sweep("CONFIRMED")))
    fills = [e for e in events if isinstance(e, OrderFilled)]
    assert [(f.trade_id, f.price, f.quantity, f.cumulative_quantity) for f in fills] == [
        ("t-sweep:0xm1", Decimal("0.38"), Decimal("4"), Decimal("4")),
        ("t-sweep:0xm2", Decimal("0.39"), Decimal("6"), Decimal("10"))]
    assert all(f.venue_order_id == "0xtaker" and f.liquidity is LiquiditySide.TAKER for f in fills)
    changes = [(e.trade_id, e.status) for e in events if isinstance(e, FillStatusChanged)]
    assert changes == [("t-sweep:0xm1", FillStatus.CONFIRMED), ("t-sweep:0xm2", FillStatus.CONFIRMED)]
