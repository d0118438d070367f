"""Known-answer and cross-checks of the Polymarket simulator's EIP-712, HMAC and book hash.

The expected values come from the official clients' own test assertions (collected in
../shared/fixtures/polymarket/known_answer_vectors) and from the official py-clob-client-v2
order builder, which is the reference the simulator must agree with.
"""

from __future__ import annotations

import json

import pytest

from arbkit.sim.polymarket import eip712
from arbkit.sim.polymarket import messages as m
from arbkit.sim.polymarket.auth import ApiKeyStore, AuthError, hmac_signature


def _vectors(shared_fixtures):
    path = shared_fixtures / "polymarket" / "known_answer_vectors" / "polymarket_signing_vectors.json"
    return json.loads(path.read_text())


def test_clob_auth_signature_matches_known_answer(shared_fixtures):
    v = _vectors(shared_fixtures)["l1_clob_auth_eip712"]
    address = eip712.address_of(v["private_key"])
    digest = eip712.clob_auth_digest(address, str(v["timestamp"]), v["nonce"], v["domain"]["chainId"])
    assert eip712.sign_digest(digest, v["private_key"]) == v["expected_signature"]
    assert eip712.recover_address(digest, v["expected_signature"]) == address.lower()
    # Another nonce is another message: the same signature no longer recovers the wallet.
    other = eip712.clob_auth_digest(address, str(v["timestamp"]), v["nonce"] + 1, v["domain"]["chainId"])
    assert eip712.recover_address(other, v["expected_signature"]) != address.lower()


def test_hmac_matches_known_answer(shared_fixtures):
    v = _vectors(shared_fixtures)["l2_hmac"]
    got = hmac_signature(v["secret"], v["timestamp"], v["method"], v["requestPath"], v["body"])
    assert got == v["expected_signature"]


def test_book_hash_matches_known_answer(shared_fixtures):
    v = _vectors(shared_fixtures)["orderbook_hash_sha1"]
    i = v["input"]
    h = m.book_hash(
        i["market"],
        i["asset_id"],
        i["timestamp"],
        [m.Level(**lv) for lv in i["bids"]],
        [m.Level(**lv) for lv in i["asks"]],
        i["min_order_size"],
        i["tick_size"],
        i["neg_risk"],
        i["last_trade_price"],
    )
    assert h == v["expected_hash"]


def _client_order(private_key: str, exchange: str, token_id: str = "1234"):
    from py_clob_client_v2.order_utils.exchange_order_builder_v2 import ExchangeOrderBuilderV2
    from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2
    from py_clob_client_v2.order_utils.model.side import Side
    from py_clob_client_v2.signer import Signer

    signer = Signer(private_key, 137)
    builder = ExchangeOrderBuilderV2(exchange, 137, signer)
    address = signer.address()
    order = builder.build_signed_order(
        OrderDataV2(maker=address, tokenId=token_id, makerAmount="4500000", takerAmount="10000000", side=Side.BUY, signer=address)
    )
    parsed = eip712.OrderV2(
        salt=int(order.salt),
        maker=order.maker,
        signer=order.signer,
        token_id=int(order.tokenId),
        maker_amount=int(order.makerAmount),
        taker_amount=int(order.takerAmount),
        side=int(order.side),
        signature_type=int(order.signatureType),
        timestamp=int(order.timestamp),
        metadata=order.metadata,
        builder=order.builder,
    )
    return builder, order, parsed


@pytest.mark.parametrize("neg_risk", [False, True])
def test_order_v2_digest_agrees_with_official_client(neg_risk):
    key = eip712.new_private_key()
    exchange = eip712.exchange_for(neg_risk)
    builder, order, parsed = _client_order(key, exchange)
    digest = eip712.order_v2_digest(parsed, 137, exchange)
    assert "0x" + digest.hex() == builder.build_order_hash(builder.build_order_typed_data(order))
    eip712.verify_signer(digest, order.signature, order.signer)
    # Signed for one exchange, checked against the other: a different signer recovers.
    wrong = eip712.order_v2_digest(parsed, 137, eip712.exchange_for(not neg_risk))
    with pytest.raises(eip712.SignatureError):
        eip712.verify_signer(wrong, order.signature, order.signer)


def test_signature_checks_refuse_malformed_and_malleable():
    key = eip712.new_private_key()
    digest = bytes(range(32))
    sig = eip712.sign_digest(digest, key)
    addr = eip712.address_of(key)
    eip712.verify_signer(digest, sig, addr)
    raw = bytes.fromhex(sig[2:])
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    s = int.from_bytes(raw[32:64], "big")
    flipped_v = 27 + (1 - (raw[64] - 27))
    high_s = "0x" + (raw[:32] + (n - s).to_bytes(32, "big") + bytes([flipped_v])).hex()
    with pytest.raises(eip712.SignatureError, match="r/s"):
        eip712.verify_signer(digest, high_s, addr)
    for bad in ("0x1234", "zz" * 65, sig[:-2] + "05"):
        with pytest.raises(eip712.SignatureError):
            eip712.verify_signer(digest, bad, addr)
    tampered = sig[:10] + ("0" if sig[10] != "0" else "1") + sig[11:]
    with pytest.raises(eip712.SignatureError):
        eip712.verify_signer(digest, tampered, addr)


def test_api_keys_are_deterministic_and_l1_is_verified():
    key = eip712.new_private_key()
    address = eip712.address_of(key)

    def l1(nonce: int, ts: str = "1700000000", sign_as: str = key) -> dict[str, str]:
        digest = eip712.clob_auth_digest(address, ts, nonce, 137)
        return {
            "POLY_ADDRESS": address,
            "POLY_SIGNATURE": eip712.sign_digest(digest, sign_as),
            "POLY_TIMESTAMP": ts,
            "POLY_NONCE": str(nonce),
        }

    a, b = ApiKeyStore(7, 137), ApiKeyStore(7, 137)
    ca, cb = a.create(l1(0)), b.create(l1(0))
    assert (ca.api_key, ca.secret, ca.passphrase) == (cb.api_key, cb.secret, cb.passphrase)
    assert ca.secret not in repr(ca) and ca.passphrase not in repr(ca)
    with pytest.raises(AuthError, match="Could not create api key"):
        a.create(l1(0))
    assert a.derive(l1(0)) == ca
    with pytest.raises(AuthError, match="Could not derive"):
        a.derive(l1(1))
    with pytest.raises(AuthError, match="Invalid L1 Request headers") as err:
        a.derive(l1(0, sign_as=eip712.new_private_key()))
    assert err.value.status == 401
    # L2: the HMAC over timestamp + method + path + body, with the key's passphrase.
    body = '{"orderID":"0xabc"}'
    headers = {
        "POLY_ADDRESS": address,
        "POLY_API_KEY": ca.api_key,
        "POLY_PASSPHRASE": ca.passphrase,
        "POLY_TIMESTAMP": "1700000000",
        "POLY_SIGNATURE": hmac_signature(ca.secret, "1700000000", "DELETE", "/order", body),
    }
    assert a.verify_l2(headers, "DELETE", "/order", body) == ca
    for change in ({"POLY_PASSPHRASE": "x"}, {"POLY_API_KEY": "nope"}, {"POLY_TIMESTAMP": "1700000001"}):
        with pytest.raises(AuthError, match="Unauthorized/Invalid api key"):
            a.verify_l2({**headers, **change}, "DELETE", "/order", body)
    with pytest.raises(AuthError):
        a.verify_l2(headers, "DELETE", "/order", body.replace("abc", "abd"))


def test_stale_timestamps_are_refused_when_a_skew_is_set():
    key = eip712.new_private_key()
    address = eip712.address_of(key)
    now = [1_700_000_000.0]
    store = ApiKeyStore(1, 137, max_skew_s=30, now_s=lambda: now[0])

    def l1(ts: int) -> dict[str, str]:
        digest = eip712.clob_auth_digest(address, str(ts), 0, 137)
        return {"POLY_ADDRESS": address, "POLY_SIGNATURE": eip712.sign_digest(digest, key), "POLY_TIMESTAMP": str(ts), "POLY_NONCE": "0"}

    with pytest.raises(AuthError, match="Invalid L1 Request headers"):
        store.create(l1(1_700_000_000 - 31))
    creds = store.create(l1(1_700_000_000 - 29))
    ts = "1700000000"
    headers = {
        "POLY_ADDRESS": address, "POLY_API_KEY": creds.api_key, "POLY_PASSPHRASE": creds.passphrase,
        "POLY_TIMESTAMP": ts, "POLY_SIGNATURE": hmac_signature(creds.secret, ts, "GET", "/data/orders", ""),
    }
    assert store.verify_l2(headers, "GET", "/data/orders", "") == creds
    now[0] += 31
    with pytest.raises(AuthError, match="Unauthorized/Invalid api key"):
        store.verify_l2(headers, "GET", "/data/orders", "")
