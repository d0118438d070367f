"""CTF merge/redeem calldata and EIP-1559 transactions against the reference libraries (eth-abi and
eth-account, installed with py-clob-client-v2), plus the resolution parsers of both venues."""

from __future__ import annotations

import json
import random
from decimal import Decimal as D
from pathlib import Path

import pytest
from eth_abi import encode
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector as sel

from arbkit.core.enums import Venue
from arbkit.venues.kalshi.parse import decode_ws, lifecycle_resolution
from arbkit.venues.polymarket import ctf
from arbkit.venues.polymarket.parse import decode_market_frame, market_resolved_event

FIXTURE = (Path(__file__).resolve().parents[4] / ".." / "shared" / "fixtures" / "polymarket" / "nautilus_trader"
           / "crates_test_data" / "ws_market_resolved_msg.json")


def test_calldata_matches_eth_abi_for_every_route() -> None:
    rng = random.Random(7)
    for _ in range(50):
        cid_b = rng.randbytes(32)
        cid = "0x" + cid_b.hex()
        units = rng.randrange(1, 10**15)
        a = ctf.addresses()
        c = ctf.merge_call(cid, units, neg_risk=rng.random() < 0.5)
        assert c.data == sel(ctf.SIG_MERGE) + encode(["address", "bytes32", "bytes32", "uint256[]", "uint256"],
                                                     [a.collateral, b"\0" * 32, cid_b, [1, 2], units])
        c = ctf.redeem_call(cid, neg_risk=False, route="ctf")
        assert c.to == a.conditional_tokens
        assert c.data == sel(ctf.SIG_REDEEM) + encode(["address", "bytes32", "bytes32", "uint256[]"],
                                                      [a.usdc_e, b"\0" * 32, cid_b, [1, 2]])
        c = ctf.redeem_call(cid, neg_risk=True, route="neg-risk-adapter", amounts_units=[units, 3])
        assert c.data == sel(ctf.SIG_NR_REDEEM) + encode(["bytes32", "uint256[]"], [cid_b, [units, 3]])
        c = ctf.merge_call(cid, units, neg_risk=True, route="neg-risk-adapter")
        assert c.data == sel(ctf.SIG_NR_MERGE) + encode(["bytes32", "uint256"], [cid_b, units])
        assert ctf.decode_call(c.data) == ("mergePositions", [cid, units])
    # the legacy NegRiskAdapter selector named by an independent client (polyrel's test vector)
    assert ctf.selector(ctf.SIG_NR_REDEEM).hex() == "dbeccb23"


def test_signed_transactions_are_byte_identical_to_eth_account() -> None:
    rng = random.Random(11)
    for _ in range(30):
        key = "0x" + rng.randbytes(32).hex()
        call = ctf.merge_call("0x" + rng.randbytes(32).hex(), rng.randrange(1, 10**12), neg_risk=False)
        tx = ctf.Tx(137, rng.randrange(0, 10**6), rng.randrange(1, 10**11), rng.randrange(10**11, 10**12),
                    rng.randrange(21_000, 10**6), call.to, 0, call.data)
        ours = ctf.TxSigner(key).sign(tx)
        ref = Account.sign_transaction({"type": 2, "chainId": 137, "nonce": tx.nonce, "gas": tx.gas, "to": tx.to,
                                        "value": 0, "data": tx.data, "maxFeePerGas": tx.max_fee_per_gas,
                                        "maxPriorityFeePerGas": tx.max_priority_fee_per_gas, "accessList": []}, key)
        assert ours.raw == bytes(ref.raw_transaction)
        dec = ctf.decode_signed(ours.raw)
        assert dec.sender == Account.from_key(key).address and dec.tx == tx and dec.hash == ours.hash


def test_decode_refuses_junk_and_amounts_are_exact() -> None:
    for raw in (b"", b"\x01\xc0", b"\x02\xc0", b"\x02" + ctf.rlp_encode([1] * 12)):
        with pytest.raises(ValueError):
            ctf.decode_signed(raw)
    assert ctf.share_units(D("12.345678")) == 12_345_678
    for bad in (D("0"), D("-1"), D("1.0000001")):
        with pytest.raises(ValueError):
            ctf.share_units(bad)
    with pytest.raises(ValueError):
        ctf.merge_call("0x" + "00" * 32, 1, neg_risk=True, route="ctf")
    assert "11" * 32 not in repr(ctf.TxSigner("0x" + "11" * 32))


@pytest.mark.shared
def test_real_market_resolved_capture_parses() -> None:
    if not FIXTURE.exists():
        pytest.skip("../shared is absent: the real market_resolved capture is not available")
    raw = FIXTURE.read_text()
    msg = decode_market_frame(raw)[0]
    ev = market_resolved_event(msg, 5)
    doc = json.loads(raw)
    win = "polymarket:" + doc["winning_asset_id"]
    assert ev.venue is Venue.POLYMARKET and ev.market_id == doc["market"] and ev.winning_instrument_id == win
    assert ev.payouts[win] == 1 and sum(ev.payouts.values()) == 1 and ev.winning_outcome == "Yes"
    assert ev.ts_venue == int(doc["timestamp"]) * 1_000_000


def test_kalshi_lifecycle_messages() -> None:
    det = decode_ws(json.dumps({"type": "market_lifecycle_v2", "sid": 13, "seq": 4, "msg": {
        "market_ticker": "KXRFQ-X", "determination_ts": 1796155200, "result": "no", "settlement_value": "0.0000",
        "event_type": "determined"}}))
    ev = lifecycle_resolution(det.msg, 0, 1)
    assert ev.stage == "determined" and ev.winning_instrument_id == "kalshi:KXRFQ-X:no"
    assert ev.payouts == {"kalshi:KXRFQ-X:yes": D(0), "kalshi:KXRFQ-X:no": D(1)}
    assert ev.ts_venue == 1796155200 * 10**9
    settled = decode_ws('{"type":"market_lifecycle_v2","sid":1,"seq":5,"msg":{"market_ticker":"KXRFQ-X","event_type":"settled"}}')
    ev2 = lifecycle_resolution(settled.msg, 0, 1)
    assert ev2.stage == "settled" and ev2.payouts == {}
    created = decode_ws('{"type":"market_lifecycle_v2","sid":1,"msg":{"market_ticker":"T","event_type":"created"}}')
    assert lifecycle_resolution(created.msg, 0, 1) is None
    bad = decode_ws('{"type":"market_lifecycle_v2","sid":1,"msg":{"market_ticker":"T","event_type":"determined"}}')
    with pytest.raises(ValueError):
        lifecycle_resolution(bad.msg, 0, 1)
