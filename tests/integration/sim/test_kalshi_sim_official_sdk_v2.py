"""The Kalshi simulator accepted by Kalshi's newest official SDK (the acceptance peer).

``kalshi-python-sync`` 3.34.0 needs Python >= 3.13, so it lives in its own virtual environment
(``.venv-peer-kalshi``, made by ``tests/peers/setup_kalshi_peer.sh``) and runs
``tests/peers/kalshi_sdk_v2_peer.py`` as a subprocess against a simulator on 127.0.0.1: V2 create
(bid and ask), get order, V2 cancel, V2 batch create/cancel, fills, positions and balance, each
answer parsed by the SDK's own strict models (a missing required field or a wrong type fails
there). One account signs with an RSA key, the other with an Ed25519 key (both key types the SDK
supports). The test then checks the venue side (the simulator's engine) against what the SDK saw.
Skips with a reason when the peer environment or Python 3.13 is absent.
"""

from __future__ import annotations

import asyncio
import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from arbkit.core.clock import LiveClock
from arbkit.sim.kalshi.auth import generate_key
from arbkit.sim.kalshi.server import KalshiServer
from arbkit.sim.kalshi.standalone import MarketDef, build_context

ROOT = Path(__file__).resolve().parents[3]
PEER_PY = Path(os.environ.get("ARBKIT_KALSHI_PEER_PYTHON", ROOT / ".venv-peer-kalshi" / "bin" / "python"))
PEER_SCRIPT = ROOT / "tests" / "peers" / "kalshi_sdk_v2_peer.py"
T = "KXPEER-26DEC31-T50"

pytestmark = pytest.mark.skipif(
    not PEER_PY.exists(),
    reason=f"official Kalshi SDK peer not installed ({PEER_PY} missing): run tests/peers/setup_kalshi_peer.sh "
           f"(needs Python >= 3.13)")


async def test_official_sdk_3_34_drives_v2_order_entry_fills_and_positions(tmp_path: Path) -> None:
    ctx = build_context(LiveClock(), [MarketDef(T, title="Peer?", venue_meta={"event_ticker": "KXPEER-26DEC31"})],
                        tmp_path / "keys", n_accounts=2)
    # account 1 uses an Ed25519 API key (the venue accepts both key types)
    ed = generate_key(tmp_path / "ed", key_type="ed25519")
    acct1 = ctx.accounts[1]
    server = KalshiServer(ctx)
    server.keys.add(ed.key_id, ed.public_key_pem, acct1.account_id)
    await server.start("127.0.0.1")
    try:
        info = server.info()
        a0 = info["accounts"][0]
        proc = await asyncio.create_subprocess_exec(
            str(PEER_PY), str(PEER_SCRIPT), info["rest_url"], T, a0["key_id"], a0["private_key_path"],
            ed.key_id, str(ed.private_key_path), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1"})
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        assert proc.returncode == 0, err.decode()[-4000:]
        got = json.loads(out)
        eng = server.engine
        orders = {o.client_order_id: o for o in eng.orders()}
    finally:
        await server.stop()

    assert got["sdk_version"] == "3.34.0"
    assert got["maker_create"]["remaining_count"] == "5.00" and got["maker_create"]["fill_count"] == "0.00"
    t = got["taker_create"]
    assert (t["fill_count"], t["remaining_count"], t["average_fill_price"]) == ("2.00", "0.00", "0.3000")
    # the SDK's Order model: a sale of YES is outcome_side=no, book_side=ask; prices on the YES book
    to = got["taker_order"]
    assert (to["outcome_side"], to["book_side"], to["status"], to["yes_price_dollars"], to["fill_count_fp"]) == (
        "no", "ask", "executed", "0.3000", "2.00")
    assert "side" not in to and "action" not in to  # deprecated, no longer sent
    mo = got["maker_order"]
    assert (mo["outcome_side"], mo["book_side"], mo["status"], mo["fill_count_fp"], mo["remaining_count_fp"]) == (
        "yes", "bid", "resting", "2.00", "3.00")
    [tf] = got["taker_fills"]
    assert (tf["outcome_side"], tf["book_side"], tf["count_fp"], tf["yes_price_dollars"], tf["is_taker"]) == (
        "no", "ask", "2.00", "0.3000", True)
    [mf] = got["maker_fills"]
    assert (mf["outcome_side"], mf["is_taker"], mf["trade_id"]) == ("yes", False, tf["trade_id"])
    assert (got["cancel"]["reduced_by"], got["cancel"]["client_order_id"]) == ("3.00", "peer-maker-1")
    assert got["maker_order_after_cancel"]["status"] == "canceled"
    [pos] = got["taker_positions"]
    assert pos["position_fp"] == "-2.00" and pos["ticker"] == T  # long NO: negative YES position
    assert Decimal(got["taker_balance"]["balance_dollars"]) < 10000
    b = got["batch_create"]
    assert b[0]["client_order_id"] == "peer-batch-1" and b[0]["remaining_count"] == "1.00" and not b[0].get("error")
    assert b[1]["error"]["code"] == "invalid_price"  # 0.205 is off the linear_cent grid
    assert [x["reduced_by"] for x in got["batch_cancel"]] == ["1.00"]
    # venue side: exactly the orders the SDK placed, with the fills it saw
    assert set(orders) == {"peer-maker-1", "peer-taker-1", "peer-batch-1"}
    assert orders["peer-taker-1"].filled == Decimal(2) and orders["peer-maker-1"].filled == Decimal(2)
