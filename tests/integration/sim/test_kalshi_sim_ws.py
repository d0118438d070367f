"""The simulated Kalshi WebSocket over real loopback sockets.

Clients connect the way Kalshi's docs show (the ``websockets`` library with the three signed
headers on the upgrade request, signature over ``timestamp + "GET" + "/trade-api/ws/v2"``).
Orders that move the book go through the signed REST API.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any, Callable

import aiohttp
from decimal import Decimal
import pytest
import websockets

from arbkit.core.clock import LiveClock, SimClock
from arbkit.sim.kalshi.auth import auth_headers, load_private_key
from arbkit.sim.kalshi.server import WS_PATH, KalshiServer
from arbkit.sim.kalshi.standalone import MarketDef, build_context

A = "KXWSA-26DEC31-T50"
B = "KXWSB-26DEC31-T50"


def markets() -> list[MarketDef]:
    return [
        MarketDef(A, title="A above 50?", venue_meta={"event_ticker": "KXWSA-26DEC31"}),
        MarketDef(B, title="B above 50?", price_level_structure="deci_cent", venue_meta={"event_ticker": "KXWSB-26DEC31"}),
    ]


async def start(tmp: Path, clock: Any = None, seed: int | None = None, **kw: Any) -> KalshiServer:
    ctx = build_context(clock or LiveClock(), markets(), tmp / "keys", n_accounts=2, seed=seed)
    server = KalshiServer(ctx, **kw)
    await server.start("127.0.0.1")
    return server


@pytest.fixture
async def venue(tmp_path: Path):
    server = await start(tmp_path)
    try:
        yield server
    finally:
        await server.stop()


def signed(server: KalshiServer, i: int, path: str, method: str = "GET", **kw: Any) -> dict[str, str]:
    acct = server.info()["accounts"][i]
    return auth_headers(acct["key_id"], load_private_key(acct["private_key_path"]), method, path, **kw)


async def rest(server: KalshiServer, i: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    headers = signed(server, i, "/trade-api/v2" + path, method)
    async with aiohttp.ClientSession() as http:
        async with http.request(method, server.info()["rest_url"] + path, json=body, headers=headers) as r:
            return r.status, await r.json()


async def order(server: KalshiServer, i: int, **body: Any) -> dict[str, Any]:
    """Place an order given as a (side, action, yes_/no_price_dollars) intent through the V2 route
    (bid = buy YES / sell NO, ask = sell YES / buy NO, priced on the YES book); the venue's record."""
    side, action = body.pop("side"), body.pop("action", "buy")
    count = body.pop("count", 1)
    yes = body.pop("yes_price_dollars", None)
    no = body.pop("no_price_dollars", None)
    yes_price = Decimal(yes) if yes is not None else 1 - Decimal(no)
    v2 = {"ticker": body.pop("ticker"), "side": "bid" if (side, action) in (("yes", "buy"), ("no", "sell")) else "ask",
          "count": str(count), "price": f"{yes_price:.4f}", "time_in_force": body.pop("time_in_force", "good_till_canceled"),
          "self_trade_prevention_type": "taker_at_cross", **body}
    status, out = await rest(server, i, "POST", "/portfolio/events/orders", v2)
    assert status == 201, out
    status, got = await rest(server, i, "GET", f"/portfolio/orders/{out['order_id']}")
    assert status == 200, got
    return got["order"]


class Client:
    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.frames: list[str] = []
        self.ids = 0

    @classmethod
    async def open(cls, server: KalshiServer, i: int | None = 0) -> "Client":
        headers = signed(server, i, WS_PATH) if i is not None else {}
        conn = await websockets.connect(server.info()["ws_url"], additional_headers=headers)
        return cls(conn)

    async def send(self, cmd: str, **params: Any) -> int:
        self.ids += 1
        await self.conn.send(json.dumps({"id": self.ids, "cmd": cmd, "params": params}))
        return self.ids

    async def recv(self, timeout: float = 3.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.conn.recv(), timeout)
        self.frames.append(raw)
        return json.loads(raw)

    async def until(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 3.0) -> list[dict[str, Any]]:
        """Messages up to and including the first one matching ``pred``."""
        out = []
        while True:
            m = await self.recv(timeout)
            out.append(m)
            if pred(m):
                return out

    async def close(self) -> None:
        await self.conn.close()


async def test_signed_handshake_snapshot_then_deltas_trades_fills_and_ticker(venue: KalshiServer) -> None:
    await order(venue, 1, ticker=A, side="yes", yes_price_dollars="0.4200", count=13)
    await order(venue, 1, ticker=A, side="no", yes_price_dollars="0.5800", count=7)  # a NO bid at 0.42
    c = await Client.open(venue, 0)
    try:
        cid = await c.send("subscribe", channels=["orderbook_delta"], market_tickers=[A])
        sub = await c.recv()
        assert sub == {"id": cid, "type": "subscribed", "msg": {"channel": "orderbook_delta", "sid": 1}}
        snap = await c.recv()
        assert snap["type"] == "orderbook_snapshot" and snap["sid"] == 1 and snap["seq"] == 1
        assert snap["msg"]["market_ticker"] == A
        assert snap["msg"]["yes_dollars_fp"] == [["0.4200", "13.00"]]
        assert snap["msg"]["no_dollars_fp"] == [["0.4200", "7.00"]]

        cid = await c.send("subscribe", channels=["trade", "fill", "ticker"], market_tickers=[A])
        subs = [await c.recv() for _ in range(3)]
        assert [(s["msg"]["channel"], s["msg"]["sid"]) for s in subs] == [("trade", 2), ("fill", 3), ("ticker", 4)]

        # own order adds a YES bid: the delta names our client_order_id
        await order(venue, 0, ticker=A, side="yes", yes_price_dollars="0.4000", count=5, client_order_id="mine-1")
        d = await c.recv()
        assert d["type"] == "orderbook_delta" and d["sid"] == 1 and d["seq"] == 2
        assert {k: d["msg"][k] for k in ("market_ticker", "price_dollars", "delta_fp", "side", "client_order_id")} == {
            "market_ticker": A, "price_dollars": "0.4000", "delta_fp": "5.00", "side": "yes", "client_order_id": "mine-1"}
        tick = await c.recv()
        assert tick["type"] == "ticker" and tick["sid"] == 4 and "seq" not in tick
        # account 1 sells 3 YES at 0.40 (it holds none: that buys NO at 0.60). The best YES bid is its
        # own 0.42: self-trade prevention cancels that resting bid, then it takes ours at 0.40.
        await order(venue, 1, ticker=A, side="yes", action="sell", yes_price_dollars="0.4000", count=3, time_in_force="immediate_or_cancel")
        got = await c.until(lambda m: m["type"] == "fill")
        types = [m["type"] for m in got]
        deltas = [m for m in got if m["type"] == "orderbook_delta"]
        assert [m["seq"] for m in deltas] == list(range(3, 3 + len(deltas)))
        assert all("client_order_id" not in m["msg"] for m in deltas)  # caused by the other account
        trade = next(m for m in got if m["type"] == "trade")
        assert trade["sid"] == 2 and trade["seq"] == 1
        assert {k: trade["msg"][k] for k in ("market_ticker", "yes_price_dollars", "no_price_dollars", "count_fp", "taker_outcome_side", "taker_book_side")} == {
            "market_ticker": A, "yes_price_dollars": "0.4000", "no_price_dollars": "0.6000", "count_fp": "3.00",
            "taker_outcome_side": "no", "taker_book_side": "ask"}  # the taker sold YES
        assert "taker_side" not in trade["msg"]
        fill = got[-1]
        assert fill["sid"] == 3 and fill["msg"]["client_order_id"] == "mine-1"
        assert {k: fill["msg"][k] for k in ("is_taker", "outcome_side", "book_side", "count_fp", "yes_price_dollars", "post_position_fp", "fee_cost")} == {
            "is_taker": False, "outcome_side": "yes", "book_side": "bid", "count_fp": "3.00", "yes_price_dollars": "0.4000",
            "post_position_fp": "3.00", "fee_cost": "0.0000"}
        assert not {"side", "action", "purchased_side"} & set(fill["msg"])  # deprecated, no longer sent
        assert "trade" in types
    finally:
        await c.close()


async def test_bad_or_stale_handshake_is_refused_with_401(venue: KalshiServer) -> None:
    url = venue.info()["ws_url"]
    wrong = signed(venue, 0, "/trade-api/ws/v1")  # signed over another path
    with pytest.raises(websockets.exceptions.InvalidStatus) as exc:
        await websockets.connect(url, additional_headers=wrong)
    assert exc.value.response.status_code == 401
    assert b"authentication_error" in exc.value.response.body
    import time

    stale = signed(venue, 0, WS_PATH, now_ms=int(time.time() * 1000) - 120_000)
    with pytest.raises(websockets.exceptions.InvalidStatus) as exc:
        await websockets.connect(url, additional_headers=stale)
    assert exc.value.response.status_code == 401


async def test_command_errors_use_kalshis_codes(venue: KalshiServer) -> None:
    c = await Client.open(venue, 0)
    try:
        async def err(cmd: str, **params: Any) -> tuple[int, int]:
            cid = await c.send(cmd, **params)
            m = await c.recv()
            assert m["type"] == "error" and m["id"] == cid, m
            return m["msg"]["code"], cid

        assert (await err("subscribe_all"))[0] == 5
        assert (await err("subscribe"))[0] == 3
        assert (await err("subscribe", channels=["orderbook_delta"]))[0] == 14
        assert (await err("subscribe", channels=["nope"]))[0] == 8
        assert (await err("subscribe", channels=["trade"], market_tickers=["NOPE-1"]))[0] == 16
        assert (await err("unsubscribe"))[0] == 4
        assert (await err("unsubscribe", sids=[99]))[0] == 7
        assert (await err("update_subscription", sids=[1, 2], action="add_markets", market_tickers=[A]))[0] == 12
        await c.send("subscribe", channels=["trade"])
        assert (await c.recv())["type"] == "subscribed"
        assert (await err("update_subscription", sids=[1], market_tickers=[A]))[0] == 15
        assert (await err("update_subscription", sids=[1], action="rename", market_tickers=[A]))[0] == 13
        await c.conn.send("{not json")
        m = await c.recv()
        assert m == {"type": "error", "msg": {"code": 1, "msg": "Unable to process message"}}
        await c.conn.send(json.dumps({"id": 77, "cmd": "subscribe"}))
        m = await c.recv()
        assert m["id"] == 77 and m["msg"]["code"] == 2
    finally:
        await c.close()
    # without auth headers the connection is allowed for public channels only
    pub = await Client.open(venue, None)
    try:
        await pub.send("subscribe", channels=["ticker"])
        assert (await pub.recv())["type"] == "subscribed"
        await pub.send("subscribe", channels=["orderbook_delta"], market_ticker=A)
        m = await pub.recv()
        assert m["type"] == "error" and m["msg"]["code"] == 9
    finally:
        await pub.close()


async def test_update_subscription_and_unsubscribe(venue: KalshiServer) -> None:
    c = await Client.open(venue, 0)
    try:
        await c.send("subscribe", channels=["orderbook_delta"], market_ticker=A)
        await c.recv()
        snap = await c.recv()
        assert snap["seq"] == 1 and "yes_dollars_fp" not in snap["msg"] and "no_dollars_fp" not in snap["msg"]
        await order(venue, 1, ticker=B, side="yes", yes_price_dollars="0.3330", count=2)
        cid = await c.send("update_subscription", sids=[1], action="add_markets", market_tickers=[B])
        ok = await c.recv()
        assert ok == {"id": cid, "sid": 1, "seq": 1, "type": "ok", "market_tickers": [A, B]}
        snap_b = await c.recv()
        assert snap_b["type"] == "orderbook_snapshot" and snap_b["seq"] == 2
        assert snap_b["msg"]["market_ticker"] == B and snap_b["msg"]["yes_dollars_fp"] == [["0.3330", "2.00"]]
        await c.send("update_subscription", sids=[1], action="delete_markets", market_tickers=[A])
        ok = await c.recv()
        assert ok["market_tickers"] == [B]
        await order(venue, 1, ticker=A, side="yes", yes_price_dollars="0.1000")  # not delivered any more
        await order(venue, 1, ticker=B, side="no", no_price_dollars="0.5000")
        d = await c.recv()
        assert d["type"] == "orderbook_delta" and d["msg"]["market_ticker"] == B and d["seq"] == 3 and d["msg"]["side"] == "no"
        cid = await c.send("update_subscription", sids=[1], action="get_snapshot", market_tickers=[B])
        ok = await c.recv()
        assert ok["type"] == "ok"
        again = await c.recv()
        assert again["type"] == "orderbook_snapshot" and again["seq"] == 4 and again["msg"]["no_dollars_fp"] == [["0.5000", "1.00"]]
        cid = await c.send("unsubscribe", sids=[1])
        assert await c.recv() == {"id": cid, "sid": 1, "seq": 4, "type": "unsubscribed"}
        await order(venue, 1, ticker=B, side="no", no_price_dollars="0.4000")
        with pytest.raises(asyncio.TimeoutError):
            await c.recv(timeout=0.3)
    finally:
        await c.close()


async def test_faults_seq_gap_duplicate_freeze_and_disconnect(venue: KalshiServer) -> None:
    c = await Client.open(venue, 0)
    try:
        await c.send("subscribe", channels=["orderbook_delta"], market_ticker=A)
        await c.recv()
        assert (await c.recv())["seq"] == 1
        # skip the next orderbook message's sequence number
        venue.faults.add({"kind": "WS_SEQ_GAP", "venue": "kalshi", "match": "orderbook_delta", "times": 1})
        await order(venue, 1, ticker=A, side="yes", yes_price_dollars="0.1000")
        await order(venue, 1, ticker=A, side="yes", yes_price_dollars="0.1100")
        d = await c.recv()
        assert d["seq"] == 3 and d["msg"]["price_dollars"] == "0.1100"  # seq 2 never arrives
        venue.faults.add({"kind": "WS_DELAY", "venue": "kalshi", "match": "orderbook_delta", "times": 1, "delay_s": 0.4})
        t0 = asyncio.get_running_loop().time()
        await order(venue, 1, ticker=A, side="yes", yes_price_dollars="0.1600")
        d = await c.recv()
        assert d["seq"] == 4 and asyncio.get_running_loop().time() - t0 >= 0.4
        venue.faults.add({"kind": "WS_DUPLICATE", "venue": "kalshi", "match": "orderbook_delta", "times": 1})
        await order(venue, 1, ticker=A, side="yes", yes_price_dollars="0.1200")
        first, second = await c.recv(), await c.recv()
        assert first == second and first["seq"] == 5
        # a silent freeze: data stops, the connection still answers pings
        fid = venue.faults.add({"kind": "WS_FREEZE", "venue": "kalshi", "match": "orderbook_delta"})
        await order(venue, 1, ticker=A, side="yes", yes_price_dollars="0.1300")
        with pytest.raises(asyncio.TimeoutError):
            await c.recv(timeout=0.3)
        pong = await c.conn.ping()
        await asyncio.wait_for(pong, 2)
        venue.faults.remove(fid)
        venue.faults.add({"kind": "WS_DISCONNECT", "venue": "kalshi", "match": "orderbook_delta", "times": 1})
        await order(venue, 1, ticker=A, side="yes", yes_price_dollars="0.1400")
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            await c.recv()
    finally:
        await c.close()


async def test_heartbeat_pings_carry_heartbeat(tmp_path: Path) -> None:
    server = await start(tmp_path, heartbeat_s=0.1)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(server.info()["ws_url"], headers=signed(server, 0, WS_PATH), autoping=False) as ws:
                msg = await asyncio.wait_for(ws.receive(), 3)
                assert msg.type == aiohttp.WSMsgType.PING and msg.data == b"heartbeat"
                await ws.pong(msg.data)
    finally:
        await server.stop()


async def scripted_stream(tmp: Path, seed: int) -> tuple[str, int]:
    """A fixed flow on a simulated clock; the sha256 of every frame one client received."""
    clock = SimClock(start_ns=1_780_000_000 * 1_000_000_000)
    server = await start(tmp, clock=clock, seed=seed)
    try:
        c = await Client.open(server, 0)
        await c.send("subscribe", channels=["orderbook_delta", "trade", "fill", "ticker"], market_tickers=[A, B])
        await c.until(lambda m: m["type"] == "orderbook_snapshot" and m["msg"]["market_ticker"] == B)
        flow = [
            (1, dict(ticker=A, side="yes", yes_price_dollars="0.4500", count=10, client_order_id="s1")),
            (0, dict(ticker=A, side="no", no_price_dollars="0.5000", count=4, client_order_id="s2")),
            (0, dict(ticker=A, side="yes", action="sell", yes_price_dollars="0.4500", count=3, client_order_id="s3")),
            (1, dict(ticker=B, side="yes", yes_price_dollars="0.1230", count=2, client_order_id="s4")),
            (0, dict(ticker=B, side="yes", action="sell", yes_price_dollars="0.1230", count=2, client_order_id="s5", time_in_force="fill_or_kill")),
        ]
        for i, body in flow:
            clock.advance(0.25)
            await order(server, i, **body)
        # a barrier: the answer to this command is queued behind every data message so far
        await c.send("update_subscription", sids=[1], action="get_snapshot", market_tickers=[A])
        await c.until(lambda m: m["type"] == "ok")
        await c.recv()  # the snapshot itself
        await c.close()
        digest = hashlib.sha256("\n".join(c.frames).encode()).hexdigest()
        return digest, len(c.frames)
    finally:
        await server.stop()


async def test_same_seed_gives_a_byte_identical_stream(tmp_path: Path) -> None:
    h1, n1 = await scripted_stream(tmp_path / "run1", seed=7)
    h2, n2 = await scripted_stream(tmp_path / "run2", seed=7)
    assert n1 == n2 and n1 > 15
    assert h1 == h2


async def test_user_orders_channel_follows_own_orders(venue: KalshiServer) -> None:
    c = await Client.open(venue, 0)
    try:
        await c.send("subscribe", channels=["user_orders", "market_positions"])
        assert (await c.recv())["msg"]["channel"] == "user_orders"
        assert (await c.recv())["msg"]["channel"] == "market_positions"
        placed = await order(venue, 0, ticker=A, side="yes", yes_price_dollars="0.3000", count=6, client_order_id="uo-1")
        m = await c.recv()
        assert m["type"] == "user_order" and m["sid"] == 1 and "seq" not in m
        u = m["msg"]
        assert (u["order_id"], u["status"], u["outcome_side"], u["book_side"], u["yes_price_dollars"], u["remaining_count_fp"], u["client_order_id"]) == (
            placed["order_id"], "resting", "yes", "bid", "0.3000", "6.00", "uo-1")
        assert "side" not in u and "is_yes" not in u
        await order(venue, 1, ticker=A, side="no", no_price_dollars="0.7000", count=2, time_in_force="immediate_or_cancel")
        got = [await c.recv(), await c.recv()]  # this account's fill: its position and its order
        assert sorted(m["type"] for m in got) == ["market_position", "user_order"]
        u = next(m for m in got if m["type"] == "user_order")["msg"]
        assert (u["status"], u["fill_count_fp"], u["remaining_count_fp"], u["maker_fill_cost_dollars"]) == ("resting", "2.00", "4.00", "0.6000")
        p = next(m for m in got if m["type"] == "market_position")["msg"]
        assert (p["market_ticker"], p["position_fp"], p["position_cost_dollars"], p["volume_fp"], p["realized_pnl_dollars"]) == (A, "2.00", "0.6000", "2.00", "0.0000")
        await order(venue, 1, ticker=B, side="yes", yes_price_dollars="0.5000")  # another account: nothing for us
        status, _ = await rest(venue, 0, "DELETE", f"/portfolio/events/orders/{placed['order_id']}")
        assert status == 200
        u = (await c.recv())["msg"]
        assert (u["status"], u["remaining_count_fp"], u["fill_count_fp"]) == ("canceled", "0.00", "2.00")
        assert isinstance(u["created_ts_ms"], int) and isinstance(u["last_updated_ts_ms"], int)
    finally:
        await c.close()
