"""The KuCoin simulator answers in KuCoin's shapes: for every endpoint and WS topic it serves, its
answer has every field of KuCoin's own example (the official SDK's test payloads in
../shared/fixtures/kucoin/kucoin-universal-sdk_examples), with the same JSON types. Skipped when
../shared is absent."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
import websockets

from arbkit.sim.runner import SimRunner
from arbkit.venues.kucoin.auth import KucoinSigner

EX = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "kucoin" / "kucoin-universal-sdk_examples"
pytestmark = pytest.mark.skipif(not EX.is_dir(), reason="../shared/fixtures/kucoin is absent")
# fields of KuCoin's examples the simulator leaves out on purpose (features it does not model)
NOT_MODELLED = {"tags", "remark", "stp", "tax", "taxRate", "callauctionPriceFloor", "callauctionPriceCeiling",
                "callauctionFirstStageStartTime", "callauctionSecondStageStartTime", "callauctionThirdStageStartTime",
                "tradingStartTime", "sellTaxRate", "buyTaxRate", "availableChange", "holdChange", "relationEventId",
                "oldSize", "remainFunds"}


def example(name: str):
    return json.loads((EX / f"{name}.json").read_text())


def same_shape(ours, theirs, where: str = "") -> list[str]:
    """Problems: fields of ``theirs`` missing in ``ours`` or of another JSON type (null matches anything)."""
    out: list[str] = []
    if isinstance(theirs, dict):
        if not isinstance(ours, dict):
            return [f"{where}: object expected, got {type(ours).__name__}"]
        for k, v in theirs.items():
            if k in NOT_MODELLED:
                continue
            if k not in ours:
                out.append(f"{where}.{k}: missing")
            else:
                out += same_shape(ours[k], v, f"{where}.{k}")
    elif isinstance(theirs, list):
        if not isinstance(ours, list):
            return [f"{where}: array expected"]
        if theirs and ours:
            out += same_shape(ours[0], theirs[0], f"{where}[0]")
    elif theirs is not None and ours is not None:
        num = (int, float)
        if isinstance(theirs, bool) != isinstance(ours, bool) or (
                isinstance(theirs, num) != isinstance(ours, num)) or (isinstance(theirs, str) != isinstance(ours, str)):
            out.append(f"{where}: {type(theirs).__name__} expected, got {type(ours).__name__} ({ours!r})")
    return out


async def test_rest_and_ws_answers_have_kucoins_shapes() -> None:
    runner = SimRunner(venues=["kucoin"], scenario="quiet", seed=4)
    sec = (await runner.start())["kucoin"]
    a, b = sec["accounts"][0], sec["accounts"][1]
    signers = [KucoinSigner(x["api_key"], x["api_secret"], x["passphrase"]) for x in (a, b)]
    problems: list[str] = []
    try:
        async with aiohttp.ClientSession() as http:
            async def call(method, path, body=None, who=0):
                text = json.dumps(body) if body is not None else ""
                h = signers[who].headers(method, path, text)
                async with http.request(method, sec["rest_url"] + path, data=text or None, headers=h) as r:
                    return json.loads(await r.text())

            eng = runner.engines["kucoin"]
            bid = Decimal(eng.book("BTC-USDT")["bids"][0][0])
            tok = await call("POST", "/api/v1/bullet-private")
            ws = await websockets.connect(f"{tok['data']['instanceServers'][0]['endpoint']}?token={tok['data']['token']}"
                                          f"&connectId=c1")
            await ws.recv()
            pub_tok = await call("POST", "/api/v1/bullet-public")
            pws = await websockets.connect(f"{pub_tok['data']['instanceServers'][0]['endpoint']}?token="
                                           f"{pub_tok['data']['token']}&connectId=c2")
            await pws.recv()
            await pws.send(json.dumps({"id": "1", "type": "subscribe", "topic": "/market/level2:BTC-USDT",
                                       "response": True}))
            for t in ("/spotMarket/tradeOrdersV2", "/account/balance"):
                await ws.send(json.dumps({"id": t, "type": "subscribe", "topic": t, "privateChannel": True,
                                          "response": True}))
            await asyncio.sleep(0.2)
            body = {"clientOid": "shape-1", "symbol": "BTC-USDT", "side": "buy", "type": "limit",
                    "price": str(bid + Decimal("0.1")), "size": "0.001", "timeInForce": "GTC"}
            checks = [
                ("api_market_test__get_public_token_resp_model", pub_tok),
                ("api_market_test__get_private_token_resp_model", tok),
                ("api_market_test__get_all_symbols_resp_model", await call("GET", "/api/v2/symbols")),
                ("api_market_test__get_full_order_book_resp_model",
                 await call("GET", "/api/v3/market/orderbook/level2?symbol=BTC-USDT")),
                ("api_fee_test__get_spot_actual_fee_resp_model", await call("GET", "/api/v1/trade-fees?symbols=BTC-USDT")),
                ("api_account_test__get_spot_account_list_resp_model", await call("GET", "/api/v1/accounts?type=trade")),
                ("api_order_test__add_order_test_resp_model", await call("POST", "/api/v1/hf/orders/test", body)),
                ("api_order_test__add_order_sync_resp_model", await call("POST", "/api/v1/hf/orders/sync", body)),
                ("api_order_test__get_order_by_client_oid_resp_model",
                 await call("GET", "/api/v1/hf/orders/client-order/shape-1?symbol=BTC-USDT")),
                ("api_order_test__get_open_orders_resp_model", await call("GET", "/api/v1/hf/orders/active?symbol=BTC-USDT")),
                ("api_order_test__get_symbols_with_open_order_resp_model",
                 await call("GET", "/api/v1/hf/orders/active/symbols")),
            ]
            sell = dict(body, clientOid="shape-2", side="sell", timeInForce="IOC")
            await call("POST", "/api/v1/hf/orders/sync", sell, who=1)
            checks += [
                ("api_order_test__get_trade_history_resp_model", await call("GET", "/api/v1/hf/fills?symbol=BTC-USDT")),
                ("api_order_test__cancel_all_orders_resp_model", await call("DELETE", "/api/v1/hf/orders/cancelAll")),
            ]
            frames = []
            for _ in range(30):
                try:
                    frames.append(json.loads(await asyncio.wait_for(ws.recv(), 1)))
                except asyncio.TimeoutError:
                    break
            l2 = json.loads(await asyncio.wait_for(pws.recv(), 2))
            while l2.get("type") != "message":
                l2 = json.loads(await asyncio.wait_for(pws.recv(), 2))
            checks.append(("api_spot_public_test__orderbook_increment_resp_model", l2))
            order_ev = next(f for f in frames if f.get("subject") == "orderChange" and f["data"]["type"] == "match")
            bal_ev = next(f for f in frames if f.get("subject") == "account.balance")
            checks += [("api_spot_private_test__order_v2_resp_model", order_ev),
                       ("api_spot_private_test__account_resp_model", bal_ev)]
            await ws.close()
            await pws.close()
        assert len(checks) == 16
        # the comparison itself notices a missing field and a wrong type
        assert same_shape({"data": {"a": "1"}}, {"data": {"a": "1", "b": 2}}) == [".data.b: missing"]
        assert same_shape({"a": 1}, {"a": "1"}) and not same_shape({"a": None}, {"a": "x"})
        for name, ours in checks:
            assert ours.get("code", "200000") == "200000", (name, ours)
            problems += [f"{name}: {p}" for p in same_shape(ours, example(name))]
    finally:
        await runner.stop()
    assert not problems, "\n".join(problems)
