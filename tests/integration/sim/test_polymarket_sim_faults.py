"""Faults the simulated Polymarket venue injects from the fault plan (real loopback sockets)."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal

import aiohttp
import pytest
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import OrderArgsV2
from py_clob_client_v2.exceptions import PolyApiException

from arbkit.core.clock import LiveClock
from arbkit.core.enums import Side
from arbkit.sim.engine import OrderParams
from arbkit.sim.faults import FaultPlan
from arbkit.sim.polymarket.server import PolymarketServer
from arbkit.sim.polymarket.standalone import build_context


@pytest.fixture
async def venue():
    clock = LiveClock()
    plan = FaultPlan(clock)
    ctx = build_context(seed=3, clock=clock, faults=plan)
    server = PolymarketServer(ctx)
    await server.start("127.0.0.1")
    async with aiohttp.ClientSession() as session:
        try:
            yield server, ctx, session, plan
        finally:
            await server.stop()


async def test_rest_429_5xx_slow_ack_and_halt(venue):
    server, ctx, session, plan = venue
    url = server.info()["rest_url"]
    token = server.info()["markets"][0]["tokens"][0]["token_id"]
    plan.add_now({"kind": "REST_429", "venue": "polymarket", "match": "/book", "times": 1, "retry_after_s": 2})
    r = await session.get(url + "/book", params={"token_id": token})
    assert r.status == 429 and r.headers["Retry-After"] == "2"
    assert await r.json() == {"error": "Too Many Requests"}
    assert (await session.get(url + "/book", params={"token_id": token})).status == 200  # used up
    plan.add_now({"kind": "REST_5XX", "venue": "polymarket", "status": 500, "times": 1})
    r = await session.get(url + "/ok")
    assert r.status == 500 and await r.json() == {"error": "Internal server error"}
    plan.add_now({"kind": "REST_5XX", "venue": "kalshi", "times": 1})  # another venue's fault
    assert (await session.get(url + "/ok")).status == 200
    plan.add_now({"kind": "SLOW_ACK", "venue": "polymarket", "match": "/time", "delay_s": 0.3, "times": 1})
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert (await session.get(url + "/time")).status == 200
    assert loop.time() - t0 >= 0.29
    plan.add_now({"kind": "VENUE_HALT", "venue": "polymarket", "duration_s": 30})
    r = await session.post(url + "/order", data="{}")
    # Authentication is checked first, as on the venue; with no headers that is a 401.
    assert r.status == 401
    wallet = ctx.accounts[0]

    def halted_order() -> PolyApiException:
        client = ClobClient(url, chain_id=137, key=wallet.private_key)
        client.set_api_creds(client.create_or_derive_api_key())
        with pytest.raises(PolyApiException) as err:
            client.create_and_post_order(OrderArgsV2(token_id=token, price=0.5, size=5, side="BUY"))
        return err.value

    err = await asyncio.to_thread(halted_order)
    assert (err.status_code, err.error_msg) == (503, {"error": "Trading is currently disabled. Check polymarket.com for updates"})


async def test_ws_disconnect_freeze_and_duplicate(venue):
    server, ctx, session, plan = venue
    info = server.info()
    yes = info["markets"][0]["tokens"][0]["token_id"]
    acct = ctx.accounts[0].account_id

    def order(price: str) -> None:
        out = ctx.engine.submit(OrderParams(account_id=acct, symbol=yes, side=Side.BUY, size=Decimal("5"), price=Decimal(price)))
        assert out.accepted

    ws = await session.ws_connect(info["ws_market_url"])
    await ws.send_str(json.dumps({"assets_ids": [yes], "type": "market"}))
    assert json.loads((await ws.receive(timeout=2)).data)[0]["event_type"] == "book"

    # Duplicate: the next frame arrives twice.
    plan.add_now({"kind": "WS_DUPLICATE", "venue": "polymarket", "match": "market", "times": 1})
    order("0.30")
    first, second = await ws.receive(timeout=2), await ws.receive(timeout=2)
    assert first.data == second.data and json.loads(first.data)["event_type"] == "price_change"

    # Delay: the frame is held back for delay_s.
    plan.add_now({"kind": "WS_DELAY", "venue": "polymarket", "match": "market", "delay_s": 0.3, "times": 1})
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    order("0.29")
    delayed = await ws.receive(timeout=2)
    assert json.loads(delayed.data)["event_type"] == "price_change" and loop.time() - t0 >= 0.29

    # Freeze: data stops, pings are still answered.
    plan.add_now({"kind": "WS_FREEZE", "venue": "polymarket", "match": "market", "duration_s": 30})
    order("0.31")
    await ws.send_str("PING")
    assert (await ws.receive(timeout=2)).data == "PONG"
    with pytest.raises(asyncio.TimeoutError):
        await ws.receive(timeout=0.3)
    plan.clear("polymarket")

    # Disconnect: the server closes the socket on the next outgoing frame.
    plan.add_now({"kind": "WS_DISCONNECT", "venue": "polymarket", "match": "market", "times": 1})
    order("0.32")
    msg = await ws.receive(timeout=2)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert [f["kind"] for f in plan.fired()] == ["WS_DUPLICATE", "WS_DELAY", "WS_FREEZE", "WS_DISCONNECT"]


async def test_missed_heartbeat_cancels_open_orders():
    ctx = build_context(seed=4)
    server = PolymarketServer(ctx, heartbeat_timeout_s=0.4)
    await server.start("127.0.0.1")
    info = server.info()
    token = info["markets"][0]["tokens"][0]["token_id"]
    try:
        def session() -> tuple[ClobClient, str]:
            client = ClobClient(info["rest_url"], chain_id=137, key=ctx.accounts[0].private_key)
            client.set_api_creds(client.create_or_derive_api_key())
            assert client.post_heartbeat("") == {"status": "ok"}
            order = client.create_and_post_order(OrderArgsV2(token_id=token, price=0.4, size=5, side="BUY"))
            for _ in range(3):  # kept alive while heartbeats keep coming
                time.sleep(0.2)
                client.post_heartbeat("")
            assert [o["id"] for o in client.get_open_orders()] == [order["orderID"]]
            return client, order["orderID"]

        client, order_id = await asyncio.to_thread(session)
        await asyncio.sleep(0.8)  # no heartbeat for 2x the timeout
        assert await asyncio.to_thread(client.get_open_orders) == []
        assert ctx.engine.order(order_id).reason == "USER"
    finally:
        await server.stop()
