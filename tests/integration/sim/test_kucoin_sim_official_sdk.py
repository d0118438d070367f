"""The KuCoin simulator accepted by KuCoin's official SDK (the acceptance peer).

``kucoin-universal-sdk`` 1.3.2 lives in its own virtual environment (``.venv-peer-kucoin``, made by
``tests/peers/setup_kucoin_peer.sh``) and runs ``tests/peers/kucoin_sdk_peer.py`` as a subprocess
against a simulator on 127.0.0.1: signed full level-2 book, HF order placed (sync), read by clientOid
and by id, canceled by clientOid (sync), account list and trade fees, each answer parsed by the
SDK's own models and its signer checked by the simulator; then the SDK's own WebSocket client
(bullet-public token, welcome, ping, subscribe ack) receives a level-2 increment. The test checks
the venue side (the simulator's engine) against what the SDK saw. Skips with a reason when the peer
environment is absent.
"""

from __future__ import annotations

import asyncio
import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from arbkit.sim.runner import SimRunner

ROOT = Path(__file__).resolve().parents[3]
PEER_PY = Path(os.environ.get("ARBKIT_KUCOIN_PEER_PYTHON", ROOT / ".venv-peer-kucoin" / "bin" / "python"))
PEER_SCRIPT = ROOT / "tests" / "peers" / "kucoin_sdk_peer.py"

pytestmark = pytest.mark.skipif(
    not PEER_PY.exists(),
    reason=f"official KuCoin SDK peer not installed ({PEER_PY} missing): run tests/peers/setup_kucoin_peer.sh")


async def test_official_sdk_places_queries_cancels_an_hf_order_and_reads_books() -> None:
    runner = SimRunner(venues=["kucoin"], scenario="quiet", seed=9)
    info = (await runner.start())["kucoin"]
    try:
        a = info["accounts"][0]
        eng = runner.engines["kucoin"]
        bid = Decimal(eng.book("ETH-USDT")["bids"][0][0])
        price = str(bid - Decimal("0.50"))
        proc = await asyncio.create_subprocess_exec(
            str(PEER_PY), str(PEER_SCRIPT), info["rest_url"], a["api_key"], a["api_secret"], a["passphrase"],
            "ETH-USDT", price, "1.5", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"})
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, err.decode()[-4000:]
        got = json.loads(out.decode().strip().splitlines()[-1])
        # the book the SDK read is the engine's (sequence and best levels)
        assert int(got["book"]["sequence"]) > 0 and Decimal(got["book"]["best_bid"][0]) == bid
        assert got["placed"]["status"] == "open" and Decimal(got["placed"]["origin_size"]) == Decimal("1.5")
        q = got["queried"]
        assert q["active"] is True and q["same_by_id"] and Decimal(q["price"]) == Decimal(price) and q["side"] == "buy"
        assert got["canceled"]["status"] == "done" and Decimal(got["canceled"]["canceled_size"]) == Decimal("1.5")
        assert got["after_cancel"] == {"active": False, "cancel_exist": True}
        assert "USDT" in got["accounts"] and got["fees"] == [["ETH-USDT", "0.001", "0.001"]]
        assert got["ws_subscribed"] and got["ws_increment"] is not None, got
        assert got["ws_increment"]["topic"] == "/market/level2:ETH-USDT"
        assert got["ws_increment"]["subject"] == "trade.l2update"
        # the venue side: the order existed with the SDK's clientOid and is canceled
        mine = [o for o in eng.orders(a["api_key"]) if o["order_id"] == got["placed"]["order_id"]]
        assert len(mine) == 1 and mine[0]["status"] == "CANCELED" and mine[0]["client_order_id"] == got["placed"]["client_oid"]
    finally:
        await runner.stop()
