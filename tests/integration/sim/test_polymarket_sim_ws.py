"""The simulated Polymarket WebSocket channels over real loopback sockets.

Market channel: book snapshots, price_change with price_changes[] (new total size, best bid/ask,
book hash), last_trade_price, tick_size_change, best_bid_ask (custom feature only), PING/PONG,
dynamic subscribe/unsubscribe, the 500-asset cap. User channel: auth, order
PLACEMENT/UPDATE/CANCELLATION, trade MATCHED -> MINED -> CONFIRMED and FAILED on a fault.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import aiohttp
import pytest
from py_clob_client_v2.headers.headers import create_level_1_headers
from py_clob_client_v2.signer import Signer

from arbkit.core.enums import Side
from arbkit.sim.engine import OrderParams, SettlementConfig
from arbkit.sim.faults import FaultPlan
from arbkit.sim.polymarket import messages as m
from arbkit.sim.polymarket.server import PolymarketServer
from arbkit.sim.polymarket.standalone import build_context, tick

FAST = SettlementConfig(mined_after_s=Decimal("0.1"), confirmed_after_s=Decimal("0.2"))


async def recv(ws: aiohttp.ClientWebSocketResponse, timeout: float = 2.0) -> list[dict]:
    msg = await asyncio.wait_for(ws.receive(), timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    data = json.loads(msg.data)
    return data if isinstance(data, list) else [data]


async def recv_until(ws, pred, timeout: float = 3.0) -> list[dict]:
    """Events received until one satisfies ``pred`` (inclusive)."""
    seen: list[dict] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        for ev in await recv(ws, max(0.01, end - loop.time())):
            seen.append(ev)
            if pred(ev):
                return seen


async def quiet(ws, wait: float = 0.15) -> bool:
    try:
        await asyncio.wait_for(ws.receive(), wait)
    except asyncio.TimeoutError:
        return True
    return False


@pytest.fixture
async def venue():
    plan_holder: dict = {}
    from arbkit.core.clock import LiveClock

    clock = LiveClock()
    plan = FaultPlan(clock)
    plan_holder["plan"] = plan
    ctx = build_context(seed=5, settlement=FAST, clock=clock, faults=plan)
    server = PolymarketServer(ctx)
    await server.start("127.0.0.1")
    stop = asyncio.Event()
    ticker = asyncio.ensure_future(tick(ctx, 0.02, stop))
    async with aiohttp.ClientSession() as session:
        try:
            yield server, ctx, session, plan
        finally:
            stop.set()
            await ticker
            await server.stop()


def submit(ctx, acct, symbol, side, size, price, **kw):
    out = ctx.engine.submit(
        OrderParams(account_id=acct, symbol=symbol, side=side, size=Decimal(size), price=Decimal(price), **kw)
    )
    assert out.accepted, out.message
    return out


async def test_market_channel_stream(venue):
    server, ctx, session, _plan = venue
    info = server.info()
    mk = info["markets"][0]
    yes, no = mk["tokens"][0]["token_id"], mk["tokens"][1]["token_id"]
    alice, bob = (a.account_id for a in ctx.accounts)
    custom = await session.ws_connect(info["ws_market_url"])
    plain = await session.ws_connect(info["ws_market_url"])
    await custom.send_str(json.dumps({"assets_ids": [yes, no], "type": "market", "custom_feature_enabled": True}))
    await plain.send_str(json.dumps({"assets_ids": [yes], "type": "market"}))
    books = await recv(custom)
    assert [b["event_type"] for b in books] == ["book", "book"] and {b["asset_id"] for b in books} == {yes, no}
    assert all(b["bids"] == [] and b["asks"] == [] and b["market"] == mk["condition_id"] for b in books)
    assert [b["asset_id"] for b in await recv(plain)] == [yes]

    submit(ctx, alice, yes, Side.BUY, "10", "0.45")
    events = await recv(custom)
    pc = [e for e in events if e["event_type"] == "price_change"]
    assert len(pc) == 1
    changes = {c["asset_id"]: c for c in pc[0]["price_changes"]}
    assert changes[yes] | {"hash": ""} == {
        "asset_id": yes, "price": "0.45", "side": "BUY", "size": "10", "hash": "", "best_bid": "0.45", "best_ask": "1",
    }
    assert changes[no]["side"] == "SELL" and changes[no]["price"] == "0.55" and changes[no]["best_ask"] == "0.55"
    # The level hash is the venue's book hash of the book after the change, at the event's time.
    book = await (await session.get(info["rest_url"] + "/book", params={"token_id": yes})).json()
    expect = m.book_hash(
        book["market"], yes, pc[0]["timestamp"],
        [m.Level(**lv) for lv in book["bids"]], [m.Level(**lv) for lv in book["asks"]],
        book["min_order_size"], book["tick_size"], book["neg_risk"], book["last_trade_price"],
    )
    assert changes[yes]["hash"] == expect
    bba = [e for e in events if e["event_type"] == "best_bid_ask"]
    assert {e["asset_id"] for e in bba} == {yes, no}
    plain_events = await recv(plain)
    assert [e["event_type"] for e in plain_events] == ["price_change"]  # no custom feature: no best_bid_ask
    assert [c["asset_id"] for c in plain_events[0]["price_changes"]] == [yes]

    # A second order at the same level: the new TOTAL size is sent.
    submit(ctx, alice, yes, Side.BUY, "5", "0.45")
    pc = [e for e in await recv(custom) if e["event_type"] == "price_change"][0]
    assert {c["asset_id"]: c["size"] for c in pc["price_changes"]} == {yes: "15", no: "15"}
    await recv(plain)

    # A crossing order that leaves a remainder: the trade changed the book, so the venue sends
    # full book snapshots (not price_change), and last_trade_price for both tokens.
    submit(ctx, bob, no, Side.BUY, "20", "0.55")
    events = await recv(custom)
    kinds = [e["event_type"] for e in events]
    assert "price_change" not in kinds and kinds.count("book") == 2
    books = {e["asset_id"]: e for e in events if e["event_type"] == "book"}
    assert books[yes]["bids"] == [] and books[yes]["asks"] == [{"price": "0.45", "size": "5"}]
    assert books[no]["bids"] == [{"price": "0.55", "size": "5"}] and books[no]["asks"] == []
    ltp = {e["asset_id"]: e for e in events if e["event_type"] == "last_trade_price"}
    assert ltp[yes]["price"] == "0.45" and ltp[no]["price"] == "0.55" and ltp[yes]["size"] == "15"
    assert ltp[no]["side"] == "BUY" and ltp[yes]["side"] == "SELL"
    assert [e["event_type"] for e in await recv(plain)] == ["book", "last_trade_price"]

    # Tick size change.
    ctx.engine.set_tick_size(mk["condition_id"], Decimal("0.001"))
    ticks = await recv(custom)
    assert {(e["event_type"], e["old_tick_size"], e["new_tick_size"]) for e in ticks} == {("tick_size_change", "0.01", "0.001")}
    assert [(e["event_type"], e["asset_id"]) for e in await recv(plain)] == [("tick_size_change", yes)]

    # PING / PONG, unsubscribe, subscribe (with a fresh snapshot).
    await plain.send_str("PING")
    msg = await plain.receive(timeout=2)
    assert msg.data == "PONG"
    await plain.send_str(json.dumps({"operation": "unsubscribe", "assets_ids": [yes]}))
    await plain.send_str("PING")
    assert (await plain.receive(timeout=2)).data == "PONG"
    submit(ctx, alice, yes, Side.BUY, "5", "0.3")
    assert await quiet(plain)
    await plain.send_str(json.dumps({"operation": "subscribe", "assets_ids": [no]}))
    snap = await recv(plain)
    assert snap[0]["event_type"] == "book" and snap[0]["asset_id"] == no
    assert snap[0]["asks"] == [{"price": "0.7", "size": "5"}]
    assert snap[0]["bids"] == [{"price": "0.55", "size": "5"}]
    await custom.close()
    await plain.close()


async def test_market_channel_refuses_more_than_500_assets(venue):
    server, _ctx, session, _plan = venue
    info = server.info()
    ws = await session.ws_connect(info["ws_market_url"])
    await ws.send_str(json.dumps({"assets_ids": [str(i) for i in range(300)], "type": "market"}))
    await ws.send_str(json.dumps({"assets_ids": [str(i) for i in range(300, 501)], "operation": "subscribe"}))
    msg = await ws.receive(timeout=2)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == aiohttp.WSCloseCode.POLICY_VIOLATION
    assert msg.extra == "too many assets"
    ok = await session.ws_connect(info["ws_market_url"])
    await ok.send_str(json.dumps({"assets_ids": [str(i) for i in range(500)], "type": "market"}))
    await ok.send_str("PING")
    assert (await ok.receive(timeout=2)).data == "PONG"  # 500 is allowed (unknown ids: no snapshot)
    await ok.close()


async def _api_creds(session, info, wallet) -> dict:
    headers = create_level_1_headers(Signer(wallet.private_key, 137))
    r = await session.post(info["rest_url"] + "/auth/api-key", headers=headers)
    assert r.status == 200
    return await r.json()


async def test_user_channel_orders_and_trade_lifecycle(venue):
    server, ctx, session, plan = venue
    info = server.info()
    mk = info["markets"][0]
    yes, no = mk["tokens"][0]["token_id"], mk["tokens"][1]["token_id"]
    alice_w, bob_w = ctx.accounts
    creds = await _api_creds(session, info, alice_w)
    bob_creds = await _api_creds(session, info, bob_w)

    bad = await session.ws_connect(info["ws_user_url"])
    await bad.send_str(json.dumps({"auth": {**creds, "secret": bob_creds["secret"]}, "markets": [], "type": "user"}))
    msg = await bad.receive(timeout=2)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == aiohttp.WSCloseCode.POLICY_VIOLATION

    ws = await session.ws_connect(info["ws_user_url"])
    await ws.send_str(json.dumps({"auth": creds, "markets": [mk["condition_id"]], "type": "user"}))
    await ws.send_str("PING")
    assert (await ws.receive(timeout=2)).data == "PONG"

    a, b = alice_w.account_id, bob_w.account_id
    placed = submit(ctx, a, yes, Side.BUY, "10", "0.45").order
    [ev] = await recv(ws)
    assert (ev["event_type"], ev["type"], ev["status"], ev["id"]) == ("order", "PLACEMENT", "LIVE", placed.order_id)
    assert ev["owner"] == creds["apiKey"] and ev["original_size"] == "10" and ev["size_matched"] == "0"
    assert ev["outcome"] == "Yes" and ev["side"] == "BUY" and ev["price"] == "0.45"

    # Another market's order is not sent (subscription is per condition id).
    other = info["markets"][1]["tokens"][0]["token_id"]
    submit(ctx, a, other, Side.BUY, "10", "0.2")
    assert await quiet(ws)

    # Bob partially fills alice: trade MATCHED + order UPDATE; then MINED, CONFIRMED.
    submit(ctx, b, no, Side.BUY, "6", "0.55")
    events = await recv(ws)
    trade = [e for e in events if e["event_type"] == "trade"]
    orders = [e for e in events if e["event_type"] == "order"]
    assert [t["status"] for t in trade] == ["MATCHED"]
    assert trade[0]["trader_side"] == "MAKER" and trade[0]["maker_orders"][0]["order_id"] == placed.order_id
    assert trade[0]["trade_owner"] == creds["apiKey"] and trade[0]["owner"] == bob_creds["apiKey"]
    assert [(o["type"], o["status"], o["size_matched"]) for o in orders] == [("UPDATE", "LIVE", "6")]
    assert orders[0]["associate_trades"] == [trade[0]["id"]]
    statuses = [e["status"] for e in await recv_until(ws, lambda e: e.get("status") == "CONFIRMED")]
    assert statuses == ["MINED", "CONFIRMED"]

    # Cancel the rest: CANCELLATION.
    ctx.engine.cancel(a, placed.order_id)
    [ev] = await recv(ws)
    assert (ev["type"], ev["status"], ev["size_matched"]) == ("CANCELLATION", "CANCELED", "6")

    # A GTD order that expires: PLACEMENT, then CANCELLATION when the engine expires it.
    from arbkit.sim.engine import Tif

    gtd = submit(ctx, a, yes, Side.BUY, "5", "0.3", tif=Tif.GTD, expire_at_ns=ctx.clock.now_ns() + 200_000_000).order
    [ev] = await recv(ws)
    assert (ev["type"], ev["id"], ev["order_type"]) == ("PLACEMENT", gtd.order_id, "GTD")
    [ev] = await recv(ws)
    assert (ev["type"], ev["status"], ev["id"]) == ("CANCELLATION", "CANCELED", gtd.order_id)

    # A trade the fault plan fails: MATCHED, then FAILED (never CONFIRMED).
    plan.add_now({"kind": "TRADE_FAILED", "venue": "polymarket", "times": 1})
    resting = submit(ctx, a, yes, Side.BUY, "5", "0.4").order
    await recv(ws)
    submit(ctx, b, no, Side.BUY, "5", "0.6")
    events = await recv(ws)
    assert [e["status"] for e in events if e["event_type"] == "trade"] == ["MATCHED"]
    assert [(e["type"], e["status"]) for e in events if e["event_type"] == "order"] == [("UPDATE", "MATCHED")]
    failed = await recv_until(ws, lambda e: e.get("event_type") == "trade")
    assert failed[-1]["status"] == "FAILED" and failed[-1]["maker_orders"][0]["order_id"] == resting.order_id
    assert await quiet(ws, 0.4)  # nothing after FAILED
    await ws.close()


async def test_replay_feed_goes_out_on_the_market_channel(tmp_path):
    from arbkit.sim.scenario import ReplayFeed

    frames = [
        '{"event_type":"last_trade_price","asset_id":"1","market":"0x01","price":"0.5","side":"BUY","size":"5","fee_rate_bps":"0","timestamp":"1"}',
        '[{"event_type":"price_change","market":"0x01","price_changes":[],"timestamp":"2"}]',
    ]
    path = tmp_path / "recording.txt"
    path.write_text(f"1000000000 {frames[0]}\nnot a line\n1200000000 {frames[1]}\n")
    ctx = build_context(seed=9)
    ctx.replay = ReplayFeed(path)
    server = PolymarketServer(ctx)
    await server.start("127.0.0.1")
    try:
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(server.info()["ws_market_url"])
            loop = asyncio.get_running_loop()
            await ws.send_str(json.dumps({"assets_ids": [], "type": "market"}))
            t0 = loop.time()
            first = await ws.receive(timeout=2)
            second = await ws.receive(timeout=2)
            assert [first.data, second.data] == frames  # sent as recorded, byte for byte
            assert loop.time() - t0 >= 0.19  # with the recorded 200 ms spacing
            assert ctx.replay.malformed == 1
    finally:
        await server.stop()
