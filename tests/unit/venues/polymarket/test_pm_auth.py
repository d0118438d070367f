"""L1/L2 authentication against the official client's algorithm and known answers."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from arbkit.venues.polymarket.auth import ApiCreds, clob_auth_signature, hmac_signature, l1_headers, l2_headers
from arbkit.venues.polymarket.signer import Wallet

KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def test_hmac_is_urlsafe_base64_of_sha256_over_ts_method_path_body() -> None:
    secret = base64.urlsafe_b64encode(b"k" * 32).decode()
    body = '{"orderID":"0xabc"}'
    expected = base64.urlsafe_b64encode(
        hmac.new(b"k" * 32, f"1700000000DELETE/order{body}".encode(), hashlib.sha256).digest()).decode()
    assert hmac_signature(secret, 1700000000, "DELETE", "/order", body) == expected
    # no body: the message is just timestamp + method + path
    assert hmac_signature(secret, 5, "GET", "/data/orders") == base64.urlsafe_b64encode(
        hmac.new(b"k" * 32, b"5GET/data/orders", hashlib.sha256).digest()).decode()


def test_hmac_matches_official_client() -> None:
    ref = pytest.importorskip("py_clob_client_v2.signing.hmac")
    secret = base64.urlsafe_b64encode(bytes(range(32))).decode()
    for body in (None, '{"a":1}', "[\"x\",\"y\"]", "{'quote':'single'}"):
        assert hmac_signature(secret, 123, "POST", "/orders", body) == ref.build_hmac_signature(
            secret, 123, "POST", "/orders", body)


def test_clob_auth_matches_official_client() -> None:
    ref = pytest.importorskip("py_clob_client_v2.signing.eip712")
    from py_clob_client_v2.signer import Signer

    for chain in (137, 80002):
        for ts, nonce in ((1_700_000_000, 0), (10_000_000, 23)):
            assert clob_auth_signature(Wallet(KEY), chain, ts, nonce) == ref.sign_clob_auth_message(
                Signer(KEY, chain), ts, nonce)


def test_headers_shape() -> None:
    creds = ApiCreds("key-1", base64.urlsafe_b64encode(b"s" * 32).decode(), "pass-1")
    h = l2_headers("0xabc", creds, "GET", "/data/orders", timestamp=42)
    assert h["POLY_API_KEY"] == "key-1" and h["POLY_PASSPHRASE"] == "pass-1" and h["POLY_TIMESTAMP"] == "42"
    h1 = l1_headers(Wallet(KEY), 137, nonce=3, timestamp=9)
    assert h1["POLY_NONCE"] == "3" and h1["POLY_ADDRESS"] == Wallet(KEY).address and h1["POLY_SIGNATURE"].startswith("0x")


def test_creds_repr_hides_secrets() -> None:
    creds = ApiCreds("key-1", "c2VjcmV0LXNlY3JldA==", "my-passphrase")
    assert "c2VjcmV0" not in repr(creds) and "my-passphrase" not in repr(creds) and "key-1" in repr(creds)
    with pytest.raises(ValueError, match="secret"):
        ApiCreds.from_response({"apiKey": "a", "passphrase": "p"})
