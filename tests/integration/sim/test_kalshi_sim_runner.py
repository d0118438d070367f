"""The Kalshi server inside the full simulator (runner + scenario) on a simulated clock.

* An order placed through the V2 order entry (signed as Kalshi documents; read back with Kalshi's
  official SDK 3.2.0, which predates V2 order entry) rests, is partially filled by the scenario's
  background traders as simulated time passes, and is canceled.
* Same seed -> the byte-identical WebSocket stream (sha256 of every frame); another seed differs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import stat
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import websockets

from arbkit.core.clock import SimClock
from arbkit.sim.kalshi.auth import auth_headers, load_private_key
from arbkit.sim.runner import SimRunner

kalshi_sdk = pytest.importorskip("kalshi_python_sync", reason="Kalshi's official SDK (test extra) is not installed")

START_NS = 1_780_000_000 * 1_000_000_000


async def call(fn: Any, *args: Any, **kwargs: Any) -> tuple[int, Any]:
    resp = await asyncio.to_thread(fn, *args, **kwargs)
    return resp.status, json.loads(resp.data)


async def signed(k: dict, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    import aiohttp

    acct = k["accounts"][0]
    headers = auth_headers(acct["key_id"], load_private_key(acct["private_key_path"]), method, "/trade-api/v2" + path)
    async with aiohttp.ClientSession() as http:
        async with http.request(method, k["rest_url"] + path, json=body, headers=headers) as r:
            return r.status, await r.json()


async def test_order_rests_fills_partly_against_simulated_flow_and_is_canceled() -> None:
    runner = SimRunner(venues=["kalshi"], scenario="demo", seed=11, clock=SimClock(start_ns=START_NS))
    info = await runner.start()
    try:
        k = info["kalshi"]
        assert k["rest_url"].startswith("http://127.0.0.1:") and k["ws_url"].endswith("/trade-api/ws/v2")
        acct = k["accounts"][0]
        assert stat.S_IMODE(os.stat(acct["private_key_path"]).st_mode) == 0o600
        config = kalshi_sdk.Configuration(host=k["rest_url"])
        config.api_key_id = acct["key_id"]
        config.private_key_pem = Path(acct["private_key_path"]).read_text()
        client = kalshi_sdk.KalshiClient(config)
        ticker = k["markets"][0]["ticker"]
        _, m = await call(client.get_market_without_preload_content, ticker)
        best_bid = int(m["market"]["yes_bid_dollars"].replace(".", ""))
        price = f"0.{best_bid + 100:04d}"  # one cent better than the best YES bid: top of the book
        status, created = await signed(k, "POST", "/portfolio/events/orders", {
            "ticker": ticker, "side": "bid", "count": "50", "price": price, "client_order_id": "flow-1",
            "time_in_force": "good_till_canceled", "self_trade_prevention_type": "taker_at_cross"})
        assert status == 201 and created["remaining_count"] == "50.00"
        oid = created["order_id"]
        _, book = await call(client.get_market_orderbook_without_preload_content, ticker, depth=1)
        assert book["orderbook_fp"]["yes_dollars"] == [[price, "50.00"]]
        _, got = await call(client.get_order_without_preload_content, oid)
        order = got["order"]
        assert order["status"] == "resting"
        for _ in range(240):  # up to 120 s of simulated time
            await runner.advance(0.5)
            _, got = await call(client.get_order_without_preload_content, oid)
            order = got["order"]
            if order["fill_count_fp"] != "0.00":
                break
        filled = float(order["fill_count_fp"])
        assert 0 < filled < 50 and order["status"] == "resting", order
        _, fills = await call(client.get_fills_without_preload_content, order_id=oid)
        assert fills["fills"] and all(f["is_taker"] is False for f in fills["fills"])
        status, canceled = await signed(k, "DELETE", f"/portfolio/events/orders/{oid}")
        assert status == 200 and canceled["order_id"] == oid
        _, got = await call(client.get_order_without_preload_content, oid)
        assert got["order"]["status"] == "canceled"
        assert Decimal(canceled["reduced_by"]) == 50 - Decimal(got["order"]["fill_count_fp"])
        _, pos = await call(client.get_positions_without_preload_content, ticker=ticker)
        assert Decimal(pos["market_positions"][0]["position_fp"]) == Decimal(got["order"]["fill_count_fp"])
    finally:
        await runner.stop()


async def ws_stream(seed: int, seconds: float = 20.0) -> tuple[str, dict[str, int]]:
    """Subscribe to every market's book, trades and ticker; let the scenario trade; hash the frames."""
    runner = SimRunner(venues=["kalshi"], scenario="demo", seed=seed, clock=SimClock(start_ns=START_NS))
    info = await runner.start()
    frames: list[str] = []
    try:
        k = info["kalshi"]
        acct = k["accounts"][0]
        tickers = [m["ticker"] for m in k["markets"]]
        headers = auth_headers(acct["key_id"], load_private_key(acct["private_key_path"]), "GET", "/trade-api/ws/v2")
        async with websockets.connect(k["ws_url"], additional_headers=headers) as ws:
            await ws.send(json.dumps({"id": 1, "cmd": "subscribe", "params": {"channels": ["orderbook_delta", "trade", "ticker"], "market_tickers": tickers}}))
            snapshots = 0
            while snapshots < len(tickers):
                frames.append(await asyncio.wait_for(ws.recv(), 5))
                snapshots += json.loads(frames[-1])["type"] == "orderbook_snapshot"
            for _ in range(int(seconds / 0.5)):
                await runner.advance(0.5)
            # barrier: this answer is queued behind every data message sent so far
            await ws.send(json.dumps({"id": 2, "cmd": "update_subscription", "params": {"sids": [1], "action": "delete_markets", "market_tickers": tickers[:1]}}))
            while True:
                frames.append(await asyncio.wait_for(ws.recv(), 5))
                if json.loads(frames[-1])["type"] == "ok":
                    break
    finally:
        await runner.stop()
    kinds: dict[str, int] = {}
    for f in frames:
        t = json.loads(f)["type"]
        kinds[t] = kinds.get(t, 0) + 1
    return hashlib.sha256("\n".join(frames).encode()).hexdigest(), kinds


async def test_same_seed_same_ws_stream_through_the_runner() -> None:
    h1, k1 = await ws_stream(5)
    h2, k2 = await ws_stream(5)
    assert k1 == k2 and k1.get("trade", 0) > 0 and k1.get("orderbook_delta", 0) > 0 and k1.get("ticker", 0) > 0
    assert h1 == h2
    h3, _ = await ws_stream(6)
    assert h3 != h1
