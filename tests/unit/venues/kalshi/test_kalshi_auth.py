"""RSA-PSS request signing (docs.kalshi.com "API Keys"): verified with the public key."""

from __future__ import annotations

import base64
import pickle

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from arbkit.venues.kalshi import constants as C
from arbkit.venues.kalshi.auth import KalshiAuthError, KalshiSigner, signing_message, verify


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def test_signature_verifies_with_public_key_pss_sha256_digest_salt(key):
    signer = KalshiSigner("key-1", key, now_ms=lambda: 1_700_000_000_123)
    h = signer.headers("POST", "/trade-api/v2/portfolio/orders?limit=5")
    assert h[C.HEADER_KEY] == "key-1"
    assert h[C.HEADER_TIMESTAMP] == "1700000000123"
    sig = base64.b64decode(h[C.HEADER_SIGNATURE])
    assert len(sig) == 256  # 2048-bit key
    # The documented message: timestamp + METHOD + path WITHOUT the query string.
    msg = b"1700000000123POST/trade-api/v2/portfolio/orders"
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)  # salt = SHA-256 digest length
    key.public_key().verify(sig, msg, pss, hashes.SHA256())
    # Any other salt length or message fails.
    with pytest.raises(InvalidSignature):
        key.public_key().verify(sig, msg, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=20),
                                hashes.SHA256())
    with pytest.raises(InvalidSignature):
        key.public_key().verify(sig, msg + b"?limit=5", pss, hashes.SHA256())


def test_signatures_are_randomised_but_all_verify(key):
    signer = KalshiSigner("k", key)
    a = signer.sign("1", "get", "/trade-api/ws/v2")
    b = signer.sign("1", "GET", "/trade-api/ws/v2")
    assert a != b  # PSS salt is random
    pub = signer.public_key_pem()
    assert verify(pub, a, "1", "GET", "/trade-api/ws/v2") and verify(pub, b, "1", "GET", "/trade-api/ws/v2")
    assert not verify(pub, a, "2", "GET", "/trade-api/ws/v2")
    assert signing_message("1", "delete", "/a/b?c=d") == b"1DELETE/a/b"


def test_key_from_file_and_environment(tmp_path, monkeypatch, key):
    path = tmp_path / "k.pem"
    path.write_bytes(_pem(key))
    s1 = KalshiSigner.from_pem_file("kid", path)
    monkeypatch.setenv(C.ENV_KEY_ID, "kid")
    monkeypatch.setenv(C.ENV_PRIVATE_KEY, _pem(key).decode())
    s2 = KalshiSigner.from_env()
    monkeypatch.setenv(C.ENV_PRIVATE_KEY, str(path))
    s3 = KalshiSigner.from_env()
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    for s in (s1, s2, s3):
        assert s.public_key_pem().encode() == pub
        h = s.headers("GET", "/trade-api/v2/portfolio/balance", timestamp_ms=5)
        assert verify(pub, h[C.HEADER_SIGNATURE], "5", "GET", "/trade-api/v2/portfolio/balance")


def test_secrets_never_shown(tmp_path, monkeypatch, key):
    pem = _pem(key).decode()
    s = KalshiSigner.from_pem("kid", pem)
    body = pem.splitlines()[1]
    assert body not in repr(s) and body not in str(s)
    with pytest.raises(TypeError):
        pickle.dumps(s)
    bad = "-----BEGIN PRIVATE KEY-----\nAAAA" + body[:40] + "\n-----END PRIVATE KEY-----\n"
    monkeypatch.setenv(C.ENV_KEY_ID, "kid")
    monkeypatch.setenv(C.ENV_PRIVATE_KEY, bad)
    with pytest.raises(KalshiAuthError) as ei:
        KalshiSigner.from_env()
    assert body[:40] not in str(ei.value) and "environment variable" in str(ei.value)


def test_missing_configuration_is_named(monkeypatch, tmp_path):
    monkeypatch.delenv(C.ENV_KEY_ID, raising=False)
    with pytest.raises(KalshiAuthError, match=C.ENV_KEY_ID):
        KalshiSigner.from_env()
    monkeypatch.setenv(C.ENV_KEY_ID, "kid")
    monkeypatch.delenv(C.ENV_PRIVATE_KEY, raising=False)
    with pytest.raises(KalshiAuthError, match=C.ENV_PRIVATE_KEY):
        KalshiSigner.from_env()
    with pytest.raises(KalshiAuthError, match="cannot read"):
        KalshiSigner.from_pem_file("kid", tmp_path / "absent.pem")


def test_clock_offset_moves_the_timestamp(key):
    s = KalshiSigner("k", key, now_ms=lambda: 1000, clock_offset_ms=-60_000)
    assert s.headers("GET", "/x")[C.HEADER_TIMESTAMP] == str(1000 - 60_000)


# --- Ed25519 API keys (official SDK kalshi-python-sync 3.34.0 auth.py: same pre-sign text) -----------


def test_ed25519_key_signs_the_same_text_and_is_picked_from_the_pem(tmp_path):
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from arbkit.sim.kalshi.auth import KeyRegistry

    ed = ed25519.Ed25519PrivateKey.generate()
    pem = ed.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path = tmp_path / "ed.pem"
    path.write_bytes(pem)
    for signer in (KalshiSigner.from_pem("ed-1", pem, now_ms=lambda: 1_700_000_000_123),
                   KalshiSigner.from_pem_file("ed-1", path, now_ms=lambda: 1_700_000_000_123)):
        assert signer.key_type == "ed25519"
        h = signer.headers("DELETE", "/trade-api/v2/portfolio/events/orders/abc?x=1")
        sig = base64.b64decode(h[C.HEADER_SIGNATURE])
        assert len(sig) == 64
        ed.public_key().verify(sig, b"1700000000123DELETE/trade-api/v2/portfolio/events/orders/abc")
        with pytest.raises(InvalidSignature):
            ed.public_key().verify(sig, b"1700000000123DELETE/trade-api/v2/portfolio/events/orders/abd")
        assert verify(signer.public_key_pem(), h[C.HEADER_SIGNATURE], "1700000000123", "DELETE",
                      "/trade-api/v2/portfolio/events/orders/abc")
        assert "PRIVATE" not in repr(signer)
    # the simulator's verifier accepts it by the registered public key's type, and refuses a forgery
    reg = KeyRegistry(now_ms=lambda: 1_700_000_000_500)
    reg.add("ed-1", signer.public_key_pem(), "acct-ed")
    assert reg.verify("DELETE", "/trade-api/v2/portfolio/events/orders/abc", h) == "acct-ed"
    from arbkit.sim.kalshi.auth import AuthError

    with pytest.raises(AuthError):
        reg.verify("DELETE", "/trade-api/v2/portfolio/events/orders/abd", h)


def test_other_key_types_are_refused_without_leaking_the_key():
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(KalshiAuthError, match="neither an RSA nor an Ed25519") as ei:
        KalshiSigner.from_pem("k", pem)
    assert "BEGIN" not in str(ei.value)
