"""The fast signer against py-clob-client-v2 (the official reference), byte for byte."""

from __future__ import annotations

import random

import pytest

from arbkit.venues.polymarket.constants import BYTES32_ZERO, POLYGON, SignatureType, exchange_address
from arbkit.venues.polymarket.signer import OrderSigner, Wallet, salt_for, to_checksum_address

ref = pytest.importorskip("py_clob_client_v2", reason="py-clob-client-v2 (the reference) is not installed")
from py_clob_client_v2.order_utils import ExchangeOrderBuilderV2, Side, SignatureTypeV2  # noqa: E402
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2  # noqa: E402
from py_clob_client_v2.signer import Signer  # noqa: E402

N_ORDERS = 1200


def _random_key(rnd: random.Random) -> str:
    while True:
        k = rnd.getrandbits(256)
        if 0 < k < 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141:
            return "0x" + format(k, "064x")


def test_signatures_match_the_official_client_over_random_orders() -> None:
    rnd = random.Random(20260428)
    keys = [_random_key(rnd) for _ in range(4)]
    refs = {k: Signer(k, POLYGON) for k in keys}
    checked = {(st, neg): 0 for st in (0, 1, 2, 3) for neg in (False, True)}
    fast_cache: dict[tuple, OrderSigner] = {}
    for i in range(N_ORDERS):
        key = keys[i % len(keys)]
        sig_type = (SignatureType.EOA, SignatureType.POLY_PROXY, SignatureType.POLY_GNOSIS_SAFE,
                    SignatureType.POLY_1271)[rnd.randrange(4)]
        neg = rnd.random() < 0.5
        funder = refs[key].address() if sig_type == SignatureType.EOA else to_checksum_address(
            format(rnd.getrandbits(160), "040x"))
        token = str(rnd.getrandbits(rnd.choice((64, 128, 255, 256))))
        maker_amount = rnd.randrange(1, 10**13)
        taker_amount = rnd.randrange(1, 10**13)
        side = rnd.randrange(2)
        salt = rnd.randrange(0, 2**53)
        ts = rnd.randrange(1_600_000_000_000, 1_900_000_000_000)
        metadata = BYTES32_ZERO if rnd.random() < 0.7 else "0x" + format(rnd.getrandbits(256), "064x")
        builder = BYTES32_ZERO if rnd.random() < 0.7 else "0x" + format(rnd.getrandbits(256), "064x")

        fast = fast_cache.get((key, sig_type, funder))
        if fast is None:
            fast = fast_cache[(key, sig_type, funder)] = OrderSigner(key, POLYGON, sig_type, funder)
        mine = fast.sign(token_id=token, maker_amount=maker_amount, taker_amount=taker_amount, side=side, salt=salt,
                         timestamp_ms=ts, neg_risk=neg, metadata=metadata, builder=builder)

        builder_ref = ExchangeOrderBuilderV2(exchange_address(POLYGON, neg), POLYGON, refs[key],
                                             generate_salt=lambda s=salt: str(s))
        # POLY_1271: maker = signer = the deposit wallet (OrderBuilder._v2_order_signer)
        order_signer = funder if sig_type == SignatureType.POLY_1271 else refs[key].address()
        data = OrderDataV2(maker=funder, tokenId=token, makerAmount=str(maker_amount), takerAmount=str(taker_amount),
                           side=Side(side), signer=order_signer, signatureType=SignatureTypeV2(sig_type),
                           timestamp=str(ts), metadata=metadata, builder=builder)
        official = builder_ref.build_signed_order(data)
        assert mine.signature == official.signature, (i, sig_type, neg)
        order = builder_ref.build_order(data)
        assert mine.order_hash == builder_ref.build_order_hash(builder_ref.build_order_typed_data(order))
        assert mine.maker == official.maker and mine.signer == official.signer
        checked[(sig_type, neg)] += 1
    assert all(n >= 80 for n in checked.values()), checked


def test_wire_order_has_the_official_fields() -> None:
    s = OrderSigner("0x" + "11" * 32)
    so = s.sign(token_id="123", maker_amount=5_000_000, taker_amount=10_000_000, side=0, salt=7,
                timestamp_ms=1_700_000_000_000, neg_risk=False)
    wire = so.to_wire()
    assert list(wire) == ["salt", "maker", "signer", "tokenId", "makerAmount", "takerAmount", "side", "expiration",
                          "signatureType", "timestamp", "metadata", "builder", "signature"]
    assert wire["side"] == "BUY" and wire["salt"] == 7 and wire["makerAmount"] == "5000000"
    assert len(bytes.fromhex(so.signature[2:])) == 65 and so.signature[-2:] in ("1b", "1c")


def test_salt_is_deterministic_and_json_safe() -> None:
    assert salt_for("exec-1-L0-A0") == salt_for("exec-1-L0-A0")
    assert salt_for("exec-1-L0-A0") != salt_for("exec-1-L0-A1")
    assert all(0 <= salt_for(f"c{i}") < 2**53 for i in range(1000))


def test_signer_refuses_bad_configuration() -> None:
    with pytest.raises(ValueError, match="funder"):
        OrderSigner("0x" + "11" * 32, signature_type=SignatureType.POLY_PROXY)
    with pytest.raises(ValueError, match="unsupported signature type"):
        OrderSigner("0x" + "11" * 32, signature_type=4, funder="0x" + "22" * 20)
    with pytest.raises(ValueError, match="32 bytes"):
        Wallet("0x1234")
    s = OrderSigner("0x" + "11" * 32)
    with pytest.raises(ValueError, match="positive"):
        s.sign(token_id="1", maker_amount=0, taker_amount=1, side=0, salt=1, timestamp_ms=1, neg_risk=False)


def test_wallet_repr_hides_the_key() -> None:
    key = "0x" + "ab" * 32
    w = Wallet(key)
    assert "ab" * 8 not in repr(w) and w.address in repr(w)


def test_address_matches_reference() -> None:
    key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
    assert Wallet(key).address == Signer(key, POLYGON).address() == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def test_deposit_wallet_orders_through_the_official_order_builder() -> None:
    """The official OrderBuilder with signature_type=POLY_1271 and the deposit wallet as funder
    (examples/orders/gtc_limit_buy_deposit_wallet.py) and our signer give the same bytes."""
    from py_clob_client_v2.clob_types import CreateOrderOptions, OrderArgsV2
    from py_clob_client_v2.order_builder.builder import OrderBuilder

    key = "0x" + "3c" * 32
    wallet = to_checksum_address("0x" + "d3" * 20)
    ob = OrderBuilder(Signer(key, POLYGON), signature_type=SignatureTypeV2.POLY_1271, funder=wallet)
    official = ob.build_order(OrderArgsV2(token_id="1234567", price=0.435, size=7, side="BUY"),
                              CreateOrderOptions(tick_size="0.001", neg_risk=True))
    d = official.__dict__ if hasattr(official, "__dict__") else dict(official)
    mine = OrderSigner(key, POLYGON, SignatureType.POLY_1271, wallet).sign(
        token_id="1234567", maker_amount=int(d["makerAmount"]), taker_amount=int(d["takerAmount"]),
        side=0, salt=int(d["salt"]), timestamp_ms=int(d["timestamp"]), neg_risk=True)
    assert mine.signature == d["signature"]
    assert mine.maker == mine.signer == wallet == d["maker"] == d["signer"]
    assert mine.signatureType == 3 == int(d["signatureType"])
    # r || s || v (65) + app domain separator (32) + contents hash (32) + type string + 2-byte length
    raw = bytes.fromhex(mine.signature[2:])
    from arbkit.venues.polymarket.constants import ORDER_TYPE_STRING

    assert len(raw) == 65 + 32 + 32 + len(ORDER_TYPE_STRING) + 2
    assert raw[-2:] == len(ORDER_TYPE_STRING).to_bytes(2, "big")


def test_deposit_wallet_signer_refuses_the_owner_address_as_funder() -> None:
    key = "0x" + "3c" * 32
    with pytest.raises(ValueError, match="deposit wallet"):
        OrderSigner(key, POLYGON, SignatureType.POLY_1271, Wallet(key).address)
    with pytest.raises(ValueError, match="funder"):
        OrderSigner(key, POLYGON, SignatureType.POLY_1271)
