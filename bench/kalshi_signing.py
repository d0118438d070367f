"""Kalshi RSA-PSS request signing time per request (bounds Kalshi's tick-to-order latency)."""

from __future__ import annotations

import base64

from bench import harness

METHOD = (
    "KalshiSigner.headers('POST', '/trade-api/v2/portfolio/orders'): timestamp + RSA-PSS signature (SHA-256, "
    "MGF1-SHA-256, salt = 32 bytes) with a 2048-bit key (the size Kalshi issues) + base64, i.e. everything the "
    "order path adds per request; each call timed on its own (perf_counter_ns), GC on; full 20,000 calls, "
    "--quick 2,000, after 200 warm-up calls. 'sign_only' is the bare cryptography (OpenSSL) sign call; "
    "'verify' (what the venue does) for scale. Peer: pycryptodome's PSS signer on the same key, when installed."
)

TARGETS = {"headers_p50_us": ("<=", 2000)}


def run(quick: bool) -> dict:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    from arbkit.venues.kalshi.auth import KalshiSigner, signing_message

    n = 2_000 if quick else 20_000
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer = KalshiSigner("bench-key", key)
    path = "/trade-api/v2/portfolio/orders"
    for _ in range(200):
        signer.headers("POST", path)
    out: dict = {"key_bits": 2048, "calls": n}
    h = harness.percentiles(harness.timeit_ns(lambda: signer.headers("POST", path), n))
    out.update({f"headers_{k}": v for k, v in h.items()})
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
    msg = signing_message("1700000000000", "POST", path)
    s = harness.percentiles(harness.timeit_ns(lambda: key.sign(msg, pss, hashes.SHA256()), n))
    out.update({f"sign_only_{k}": v for k, v in s.items()})
    sig = key.sign(msg, pss, hashes.SHA256())
    pub = key.public_key()
    v = harness.percentiles(harness.timeit_ns(lambda: pub.verify(sig, msg, pss, hashes.SHA256()), n), (50,))
    out["verify_p50_us"] = v["p50_us"]
    out["signatures_per_s_one_core"] = round(1e6 / out["headers_mean_us"])
    crypto = harness.try_import("Crypto.Signature.pss")
    if crypto is not None:
        from Crypto.Hash import SHA256
        from Crypto.PublicKey import RSA
        from Crypto.Signature import pss as cpss

        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        ckey = RSA.import_key(pem)
        csigner = cpss.new(ckey, salt_bytes=32)

        def cdome() -> str:
            return base64.b64encode(csigner.sign(SHA256.new(msg))).decode()

        cdome()
        c = harness.percentiles(harness.timeit_ns(cdome, max(200, n // 10)), (50, 99))
        out["peer_pycryptodome_p50_us"] = c["p50_us"]
        out["ratio_pycryptodome_over_arbkit_p50"] = round(c["p50_us"] / out["headers_p50_us"], 2)
    else:
        out["peer_pycryptodome"] = "peer not installed"
    return out


if __name__ == "__main__":  # pragma: no cover
    rec = harness.record("kalshi_signing", METHOD, run(True), True, TARGETS)
    harness.emit(rec, False)
