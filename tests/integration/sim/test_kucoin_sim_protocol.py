"""The KuCoin simulator speaks KuCoin's protocol over real loopback sockets: bullet tokens and the
welcome/ping/ack handshake, topic limits, private topics only with a private token, signed REST
(every header checked), 429000 with gw-ratelimit-reset, level-2 messages whose sequences join the
REST snapshot, private order and balance events, and idle connections closed after
pingInterval + pingTimeout."""

from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal as D
from pathlib import Path

import aiohttp
import pytest
import websockets

from arbkit.sim.runner import SimRunner
from arbkit.venues.kucoin.auth import KucoinSigner


@pytest.fixture
async def sim(tmp_path: Path):
    scen = tmp_path / "kc.toml"
    scen.write_text('name = "kc"\nvenues = ["kucoin"]\ntest_accounts = 2\n[kucoin]\nping_interval_ms = 800\n'
                    'ping_timeout_ms = 700\nuse_shared_symbols = false\n')
    runner = SimRunner(venues=["kucoin"], scenario=str(scen), seed=5)
    info = await runner.start()
    async with aiohttp.ClientSession() as http:
        try:
            yield runner, info["kucoin"], http
        finally:
            await runner.stop()


async def call(http, sec, method, path, body=None, acct=0, signer=None, params=""):
    a = sec["accounts"][acct]
    s = signer or KucoinSigner(a["api_key"], a["api_secret"], a["passphrase"])
    text = json.dumps(body) if body is not None else ""
    rel = path + (f"?{params}" if params else "")
    async with http.request(method, sec["rest_url"] + rel, data=text or None, headers=s.headers(method, rel, text)) as r:
        return r.status, json.loads(await r.text()), r.headers


async def token(http, sec, private=False):
    if private:
        _, doc, _ = await call(http, sec, "POST", "/api/v1/bullet-private")
    else:
        async with http.post(sec["rest_url"] + "/api/v1/bullet-public") as r:
            doc = await r.json()
    assert doc["code"] == "200000"
    return doc["data"]


async def connect(http, sec, private=False):
    t = await token(http, sec, private)
    srv = t["instanceServers"][0]
    ws = await websockets.connect(f"{srv['endpoint']}?token={t['token']}&connectId=cid-1")
    welcome = json.loads(await ws.recv())
    assert welcome == {"id": "cid-1", "type": "welcome"}
    return ws, srv


async def keepalive(ws) -> None:
    """Ping like a client should (the fixture's pingInterval is 0.8 s)."""
    n = 0
    while True:
        await asyncio.sleep(0.3)
        n += 1
        try:
            await ws.send(json.dumps({"id": f"ka{n}", "type": "ping"}))
        except websockets.ConnectionClosed:
            return


async def recv_until(ws, pred, timeout=5.0):
    end = time.monotonic() + timeout
    while True:
        m = json.loads(await asyncio.wait_for(ws.recv(), max(0.01, end - time.monotonic())))
        if pred(m):
            return m


async def test_handshake_ping_ack_and_topic_limits(sim) -> None:
    runner, sec, http = sim
    async with websockets.connect(sec["ws_url"] + "?token=bogus&connectId=x") as bad:
        err = json.loads(await bad.recv())
        assert err["type"] == "error" and err["code"] == 401
    ws, srv = await connect(http, sec)
    assert srv["pingInterval"] == 800 and srv["pingTimeout"] == 700 and srv["protocol"] == "websocket"
    await ws.send(json.dumps({"id": "p1", "type": "ping"}))
    assert (await recv_until(ws, lambda m: m.get("id") == "p1"))["type"] == "pong"
    await ws.send(json.dumps({"id": "s1", "type": "subscribe", "topic": "/market/level2:BTC-USDT,ETH-USDT",
                              "privateChannel": False, "response": True}))
    assert await recv_until(ws, lambda m: m.get("id") == "s1") == {"id": "s1", "type": "ack"}
    many = ",".join(["BTC-USDT"] * 101)
    await ws.send(json.dumps({"id": "s2", "type": "subscribe", "topic": f"/market/level2:{many}", "response": True}))
    assert (await recv_until(ws, lambda m: m.get("id") == "s2"))["type"] == "error"
    await ws.send(json.dumps({"id": "s3", "type": "subscribe", "topic": "/spotMarket/tradeOrdersV2",
                              "privateChannel": True, "response": True}))
    assert (await recv_until(ws, lambda m: m.get("id") == "s3"))["code"] == 401
    await ws.send(json.dumps({"id": "s4", "type": "subscribe", "topic": "/market/level2:NOPE-USDT", "response": True}))
    assert (await recv_until(ws, lambda m: m.get("id") == "s4"))["code"] == 404
    await ws.close()


async def test_an_idle_connection_is_closed_after_ping_interval_plus_timeout(sim) -> None:
    runner, sec, http = sim
    ws, _ = await connect(http, sec)
    t0 = time.monotonic()
    with pytest.raises(websockets.ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), 5)
    assert 1.4 <= time.monotonic() - t0 <= 3.5
    ws2, _ = await connect(http, sec)  # a pinging client stays
    for k in range(6):
        await ws2.send(json.dumps({"id": f"k{k}", "type": "ping"}))
        await asyncio.sleep(0.4)
    await ws2.send(json.dumps({"id": "last", "type": "ping"}))
    assert (await recv_until(ws2, lambda m: m.get("id") == "last"))["type"] == "pong"
    await ws2.close()


async def test_every_auth_header_is_checked(sim) -> None:
    runner, sec, http = sim
    a = sec["accounts"][0]
    assert (await call(http, sec, "GET", "/api/v1/accounts"))[0] == 200
    cases = {
        "400003": KucoinSigner("0" * 24, a["api_secret"], a["passphrase"]),
        "400004": KucoinSigner(a["api_key"], a["api_secret"], "wrong"),
        "400004 ": KucoinSigner(a["api_key"], "wrong-secret", a["passphrase"]),  # passphrase signed with it
    }
    for code, signer in cases.items():
        status, doc, _ = await call(http, sec, "GET", "/api/v1/accounts", signer=signer)
        assert (status, doc["code"]) == (401, code.strip()), (code, doc)
    s = KucoinSigner(a["api_key"], a["api_secret"], a["passphrase"])
    h = s.headers("GET", "/api/v1/accounts", "", ts_ms=int(time.time() * 1000) - 60_000)
    async with http.get(sec["rest_url"] + "/api/v1/accounts", headers=h) as r:
        assert r.status == 401 and (await r.json())["code"] == "400002"
    h = s.headers("GET", "/api/v1/accounts", "")
    h["KC-API-SIGN"] = s.headers("GET", "/api/v1/accounts?type=main", "")["KC-API-SIGN"]  # signed another path
    async with http.get(sec["rest_url"] + "/api/v1/accounts", headers=h) as r:
        assert r.status == 401 and (await r.json())["code"] == "400005"
    async with http.get(sec["rest_url"] + "/api/v1/accounts") as r:
        assert r.status == 401 and (await r.json())["code"] == "400001"


async def test_429_carries_code_429000_and_the_reset(sim) -> None:
    runner, sec, http = sim
    runner.faults.add_now({"kind": "REST_429", "venue": "kucoin", "match": "GET /api/v1/accounts", "times": 1,
                           "retry_after_s": 0.25})
    status, doc, headers = await call(http, sec, "GET", "/api/v1/accounts")
    assert (status, doc["code"], headers["gw-ratelimit-reset"], headers["gw-ratelimit-remaining"]) == (
        429, "429000", "250", "0")


async def test_level2_sequences_join_the_snapshot_and_private_events_follow_an_order(sim) -> None:
    runner, sec, http = sim
    pub, _ = await connect(http, sec)
    keep = asyncio.create_task(keepalive(pub))
    await pub.send(json.dumps({"id": "s", "type": "subscribe", "topic": "/market/level2:ETH-USDT", "response": True}))
    await recv_until(pub, lambda m: m.get("id") == "s")
    priv, _ = await connect(http, sec, private=True)
    keep2 = asyncio.create_task(keepalive(priv))
    for i, t in enumerate(("/spotMarket/tradeOrdersV2", "/account/balance")):
        await priv.send(json.dumps({"id": f"p{i}", "type": "subscribe", "topic": t, "privateChannel": True,
                                    "response": True}))
        await recv_until(priv, lambda m, i=i: m.get("id") == f"p{i}")
    _, snap, _ = await call(http, sec, "GET", "/api/v3/market/orderbook/level2", params="symbol=ETH-USDT")
    seq = int(snap["data"]["sequence"])
    bid = D(snap["data"]["bids"][0][0])
    body = {"clientOid": "ev-1", "symbol": "ETH-USDT", "side": "buy", "type": "limit", "price": str(bid + D("0.01")),
            "size": "2", "timeInForce": "GTC"}
    status, doc, _ = await call(http, sec, "POST", "/api/v1/hf/orders", body)
    assert status == 200 and doc["data"]["clientOid"] == "ev-1"
    m = await recv_until(pub, lambda m: m.get("subject") == "trade.l2update")
    d = m["data"]
    assert m["topic"] == "/market/level2:ETH-USDT" and d["sequenceStart"] == seq + 1
    assert d["changes"]["bids"] == [[str(bid + D("0.01")), "2", str(seq + 1)]]
    types, balances = [], []
    while "open" not in types:
        ev = await recv_until(priv, lambda m: m.get("subject") in ("orderChange", "account.balance"))
        if ev["subject"] == "account.balance":
            balances.append(ev["data"])
            continue
        assert ev["channelType"] == "private" and ev["data"]["clientOid"] == "ev-1"
        types.append(ev["data"]["type"])
    assert types == ["received", "open"]
    assert [(b["currency"], b["relationEvent"]) for b in balances] == [("USDT", "trade.hold")]
    assert D(balances[0]["total"]) == D(balances[0]["available"]) + D(balances[0]["hold"])
    # a counterparty sells into it: match event with price, size, tradeId and liquidity
    body2 = {"clientOid": "ev-2", "symbol": "ETH-USDT", "side": "sell", "type": "limit", "price": body["price"],
             "size": "2", "timeInForce": "IOC"}
    status, doc, _ = await call(http, sec, "POST", "/api/v1/hf/orders/sync", body2, acct=1)
    assert doc["data"]["status"] == "done" and doc["data"]["dealSize"] == "2"
    ev = await recv_until(priv, lambda m: m.get("subject") == "orderChange" and m["data"]["type"] == "match")
    assert (ev["data"]["matchPrice"], ev["data"]["matchSize"], ev["data"]["liquidity"]) == (body["price"], "2", "maker")
    assert ev["data"]["tradeId"]
    _, fills, _ = await call(http, sec, "GET", "/api/v1/hf/fills", params="symbol=ETH-USDT")
    f = fills["data"]["items"][0]
    assert D(f["fee"]) == D(f["funds"]) * D(f["feeRate"]) and f["feeCurrency"] == "USDT" and f["liquidity"] == "maker"
    _, o, _ = await call(http, sec, "GET", "/api/v1/hf/orders/client-order/ev-1", params="symbol=ETH-USDT")
    assert o["data"]["active"] is False and o["data"]["dealSize"] == "2"
    status, nf, _ = await call(http, sec, "GET", "/api/v1/hf/orders/client-order/none", params="symbol=ETH-USDT")
    assert nf["code"] == "400100" and "not exist" in nf["msg"]
    keep.cancel()
    keep2.cancel()
    await pub.close()
    await priv.close()
