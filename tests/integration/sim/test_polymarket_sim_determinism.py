"""Same seed, same scripted flow -> byte-identical Polymarket WS streams (hash compared).

Simulated clock; alice trades over REST with orders she signs (fixed salts and timestamps) and
L2-signed requests; bob's flow goes straight into the engine (as background traders do).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from decimal import Decimal

import aiohttp

from arbkit.core.clock import SimClock
from arbkit.core.enums import Side
from arbkit.sim.engine import OrderParams
from arbkit.sim.polymarket import eip712
from arbkit.sim.polymarket.auth import hmac_signature
from arbkit.sim.polymarket.server import PolymarketServer
from arbkit.sim.polymarket.standalone import build_context


def _l1(wallet, ts: int) -> dict[str, str]:
    digest = eip712.clob_auth_digest(wallet.address, str(ts), 0, 137)
    return {
        "POLY_ADDRESS": wallet.address,
        "POLY_SIGNATURE": eip712.sign_digest(digest, wallet.private_key),
        "POLY_TIMESTAMP": str(ts),
        "POLY_NONCE": "0",
    }


def _l2(wallet, creds: dict, method: str, path: str, body: str, ts: int) -> dict[str, str]:
    return {
        "POLY_ADDRESS": wallet.address,
        "POLY_API_KEY": creds["apiKey"],
        "POLY_PASSPHRASE": creds["passphrase"],
        "POLY_TIMESTAMP": str(ts),
        "POLY_SIGNATURE": hmac_signature(creds["secret"], str(ts), method, path, body),
        "Content-Type": "application/json",
    }


def _signed_order(wallet, token: str, side: str, price: str, size: str, salt: int, ts_ms: int, neg_risk: bool) -> dict:
    shares = int(Decimal(size) * 1_000_000)
    cash = int(Decimal(size) * Decimal(price) * 1_000_000)
    maker_amt, taker_amt = (cash, shares) if side == "BUY" else (shares, cash)
    zero = "0x" + "00" * 32
    parsed = eip712.OrderV2(
        salt=salt, maker=wallet.address, signer=wallet.address, token_id=int(token), maker_amount=maker_amt,
        taker_amount=taker_amt, side=0 if side == "BUY" else 1, signature_type=0, timestamp=ts_ms,
        metadata=zero, builder=zero,
    )
    sig = eip712.sign_digest(eip712.order_v2_digest(parsed, 137, eip712.exchange_for(neg_risk)), wallet.private_key)
    return {
        "salt": salt, "maker": wallet.address, "signer": wallet.address, "tokenId": token,
        "makerAmount": str(maker_amt), "takerAmount": str(taker_amt), "side": side, "expiration": "0",
        "signatureType": 0, "timestamp": str(ts_ms), "metadata": zero, "builder": zero, "signature": sig,
    }


async def _drain(ws, frames: dict[str, list[str]], label: str, wait: float = 0.1) -> None:
    # Each channel keeps its own list, so a frame that arrives late on a busy machine still
    # lands in the same place of its channel's stream.
    while True:
        try:
            msg = await ws.receive(timeout=wait)
        except asyncio.TimeoutError:
            return
        if msg.type != aiohttp.WSMsgType.TEXT:
            return
        frames[label].append(msg.data)


async def run_script(seed: int) -> tuple[str, list[str]]:
    clock = SimClock()
    ctx = build_context(seed=seed, clock=clock)
    server = PolymarketServer(ctx)
    await server.start("127.0.0.1")
    info = server.info()
    alice, bob = ctx.accounts
    frames: dict[str, list[str]] = {"M": [], "U": []}
    try:
        async with aiohttp.ClientSession() as http:
            creds = await (await http.post(info["rest_url"] + "/auth/api-key", headers=_l1(alice, 1))).json()
            all_tokens = [t["token_id"] for mk in info["markets"] for t in mk["tokens"]]
            mws = await http.ws_connect(info["ws_market_url"])
            uws = await http.ws_connect(info["ws_user_url"])
            await mws.send_str(json.dumps({"assets_ids": all_tokens, "type": "market", "custom_feature_enabled": True}))
            await uws.send_str(json.dumps({"auth": creds, "markets": [], "type": "user"}))
            await _drain(mws, frames, "M")

            async def post(mk_index: int, outcome: int, side: str, price: str, size: str, salt: int, order_type: str = "GTC") -> dict:
                mk = info["markets"][mk_index]
                order = _signed_order(alice, mk["tokens"][outcome]["token_id"], side, price, size, salt, clock.now_ns() // 1_000_000, mk["neg_risk"])
                body = json.dumps({"order": order, "owner": creds["apiKey"], "orderType": order_type, "postOnly": False})
                r = await http.post(info["rest_url"] + "/order", data=body, headers=_l2(alice, creds, "POST", "/order", body, 7))
                return await r.json()

            def bob_order(mk_index: int, outcome: int, side: Side, price: str, size: str) -> None:
                tok = info["markets"][mk_index]["tokens"][outcome]["token_id"]
                ctx.engine.submit(OrderParams(account_id=bob.account_id, symbol=tok, side=side, size=Decimal(size), price=Decimal(price)))

            results = []
            for step in range(6):
                results.append(await post(0, 0, "BUY", f"0.4{step}", "10", 1000 + step))
                bob_order(0, 1, Side.BUY, "0.57", "7")
                results.append(await post(1 + step % 3, 0, "BUY", "0.25", "6", 2000 + step))
                bob_order(1 + step % 3, 1, Side.BUY, "0.76", "6")
                clock.advance(1.5)
                ctx.engine.on_time()
                await _drain(mws, frames, "M")
                await _drain(uws, frames, "U")
            ctx.engine.set_tick_size(info["markets"][0]["condition_id"], Decimal("0.001"))
            body = json.dumps({"orderID": results[0]["orderID"]})
            await http.delete(info["rest_url"] + "/order", data=body, headers=_l2(alice, creds, "DELETE", "/order", body, 8))
            clock.advance(5)
            ctx.engine.on_time()
            await _drain(mws, frames, "M", 0.5)
            await _drain(uws, frames, "U", 0.5)
            await mws.close()
            await uws.close()
    finally:
        await server.stop()
    digest = hashlib.sha256(("\n".join(frames["M"]) + "\n\n" + "\n".join(frames["U"])).encode()).hexdigest()
    return digest, frames["M"] + frames["U"]


async def test_same_seed_gives_byte_identical_streams():
    first, frames = await run_script(42)
    second, frames2 = await run_script(42)
    assert frames == frames2
    assert first == second
    kinds = set()
    for f in frames:
        data = json.loads(f)
        for ev in data if isinstance(data, list) else [data]:
            kinds.add((ev["event_type"], ev.get("type"), ev.get("status")))
    for want in [("book", None, None), ("price_change", None, None), ("last_trade_price", None, None),
                 ("best_bid_ask", None, None), ("tick_size_change", None, None)]:
        assert want in kinds
    event_kinds = {(k[0], k[1]) for k in kinds}
    assert {("order", "PLACEMENT"), ("order", "UPDATE"), ("order", "CANCELLATION"), ("trade", "TRADE")} <= event_kinds
    assert {k[2] for k in kinds if k[0] == "trade"} == {"MATCHED", "MINED", "CONFIRMED"}
    other, _ = await run_script(43)
    assert other != first  # another seed: other keys, ids and tokens
