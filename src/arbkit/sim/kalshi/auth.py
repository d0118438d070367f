"""RSA-PSS and Ed25519 request authentication of the simulated Kalshi trade API v2.

Kalshi API keys are RSA or Ed25519; both sign the same text, RSA keys with RSA-PSS and Ed25519
keys with Ed25519, the type being that of the registered public key (official SDK
kalshi-python-sync 3.34.0 ``auth.py``, checked 2026-12-04).

Kalshi's documented scheme (docs.kalshi.com, "API Keys" and "Quick Start: Authenticated
Requests"): every authenticated request carries

* ``KALSHI-ACCESS-KEY``        the API key id,
* ``KALSHI-ACCESS-TIMESTAMP``  the request time in milliseconds since the epoch,
* ``KALSHI-ACCESS-SIGNATURE``  base64 of the RSA-PSS signature (SHA-256, MGF1-SHA-256, salt
  length = digest length) of ``timestamp + METHOD + path``, where ``path`` is the URL path
  WITHOUT the query string (``/trade-api/v2/portfolio/orders``, not ``...?limit=5``).

The WebSocket handshake is signed the same way over ``GET`` and ``/trade-api/ws/v2``.

Refusals answer what Kalshi answers for a bad signature: HTTP 401 with
``{"error": {"code": "authentication_error", "message": "authentication_error", "details":
"rpc error: code = Unauthenticated desc = INCORRECT_API_KEY_SIGNATURE"}}`` (a real body quoted in
public bug reports). Kalshi does not document its timestamp window nor the details text for other
refusals (unknown key, stale timestamp, missing header): this simulator refuses them with the same
status, code and message and a ``details`` naming the reason, and uses a window of
``DEFAULT_TOLERANCE_MS`` either side of its wall clock (an assumption, configurable).

Verification is strict about the salt length (digest length, as documented): a client that signs
with another salt length is refused here even if the real venue happened to accept it, so arbkit's
own signer is held to the documented form.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

HEADER_KEY = "KALSHI-ACCESS-KEY"
HEADER_SIGNATURE = "KALSHI-ACCESS-SIGNATURE"
HEADER_TIMESTAMP = "KALSHI-ACCESS-TIMESTAMP"
AUTH_HEADERS = (HEADER_KEY, HEADER_SIGNATURE, HEADER_TIMESTAMP)

DEFAULT_TOLERANCE_MS = 5_000

_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)


class AuthError(Exception):
    """A refused request. ``reason`` is a stable machine word; ``details`` goes in the body."""

    def __init__(self, reason: str, details: str) -> None:
        super().__init__(f"{reason}: {details}")
        self.reason = reason
        self.details = details


# reason -> the ``details`` text of the 401 body. Only INCORRECT_API_KEY_SIGNATURE is a string seen
# from the real venue; the others are this simulator's wording for refusals Kalshi does not document.
_DETAILS = {
    "bad_signature": "rpc error: code = Unauthenticated desc = INCORRECT_API_KEY_SIGNATURE",
    "unknown_key": "rpc error: code = Unauthenticated desc = API_KEY_NOT_FOUND",
    "stale_timestamp": "rpc error: code = Unauthenticated desc = REQUEST_TIMESTAMP_OUT_OF_RANGE",
    "missing_headers": "rpc error: code = Unauthenticated desc = MISSING_AUTH_HEADERS",
    "bad_timestamp": "rpc error: code = Unauthenticated desc = INVALID_REQUEST_TIMESTAMP",
}


def auth_error(reason: str, extra: str = "") -> AuthError:
    details = _DETAILS[reason]
    return AuthError(reason, f"{details} ({extra})" if extra else details)


def signing_payload(timestamp_ms: str, method: str, path: str) -> bytes:
    """The bytes Kalshi signs: timestamp + METHOD + path without its query string."""
    return f"{timestamp_ms}{method.upper()}{path.split('?', 1)[0]}".encode()


def sign(private_key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey, timestamp_ms: str, method: str, path: str) -> str:
    """Base64 signature exactly as Kalshi documents it (what a client sends): RSA-PSS or Ed25519."""
    payload = signing_payload(timestamp_ms, method, path)
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        sig = private_key.sign(payload)
    else:
        sig = private_key.sign(payload, _PSS, hashes.SHA256())
    return base64.b64encode(sig).decode("ascii")


def auth_headers(
    key_id: str, private_key: rsa.RSAPrivateKey, method: str, path: str, now_ms: int | None = None
) -> dict[str, str]:
    """The three headers of a signed request (test clients and tools use this)."""
    ts = str(int(time.time() * 1000) if now_ms is None else now_ms)
    return {HEADER_KEY: key_id, HEADER_SIGNATURE: sign(private_key, ts, method, path), HEADER_TIMESTAMP: ts}


def load_private_key(path: str | Path) -> rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, (rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)):
        raise ValueError(f"{path} does not hold an RSA or Ed25519 private key")
    return key


def load_public_key(pem: str | bytes) -> rsa.RSAPublicKey | ed25519.Ed25519PublicKey:
    data = pem.encode() if isinstance(pem, str) else pem
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, (rsa.RSAPublicKey, ed25519.Ed25519PublicKey)):
        raise ValueError("not an RSA or Ed25519 public key")
    return key


@dataclass(frozen=True, slots=True)
class GeneratedKey:
    """A test API key: the id, where its private key PEM is (mode 0600) and its public key."""

    key_id: str
    private_key_path: Path
    public_key_pem: str = field(repr=False)


def generate_key(directory: str | Path, key_id: str | None = None, bits: int = 2048, key_type: str = "rsa") -> GeneratedKey:
    """Make a key pair like the ones Kalshi issues (``key_type`` "rsa" or "ed25519"); the private
    PEM is written with mode 0600.

    The runner normally does this; tests that start a ``KalshiServer`` directly use it too.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    kid = key_id or str(uuid.uuid4())
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    if key_type == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    elif key_type == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        )
    else:
        raise ValueError(f"key_type must be 'rsa' or 'ed25519', got {key_type!r}")
    path = directory / f"kalshi-{kid}.pem"
    # Create with 0600 from the start: the key is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, pem)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return GeneratedKey(key_id=kid, private_key_path=path, public_key_pem=pub.decode())


class KeyRegistry:
    """API key id -> (public key, account id), and the request verifier.

    ``now_ms`` is injectable so a test can pin the clock; it defaults to the wall clock because
    clients sign with theirs (a simulated engine clock must not make every signature stale).
    """

    def __init__(self, tolerance_ms: int = DEFAULT_TOLERANCE_MS, now_ms: Callable[[], int] | None = None) -> None:
        self._keys: dict[str, tuple[rsa.RSAPublicKey | ed25519.Ed25519PublicKey, str]] = {}
        self.tolerance_ms = tolerance_ms
        self._now_ms = now_ms or (lambda: time.time_ns() // 1_000_000)
        self.refused: dict[str, int] = {}  # reason -> count (observability for tests/admin)

    def add(self, key_id: str, public_key_pem: str | bytes, account_id: str | None = None) -> None:
        self._keys[key_id] = (load_public_key(public_key_pem), account_id or key_id)

    def __contains__(self, key_id: str) -> bool:
        return key_id in self._keys

    def verify(self, method: str, path: str, headers: Mapping[str, str]) -> str:
        """The account id of a correctly signed request; raises :class:`AuthError` otherwise."""
        try:
            return self._verify(method, path, headers)
        except AuthError as exc:
            self.refused[exc.reason] = self.refused.get(exc.reason, 0) + 1
            raise

    def _verify(self, method: str, path: str, headers: Mapping[str, str]) -> str:
        key_id = headers.get(HEADER_KEY)
        sig_b64 = headers.get(HEADER_SIGNATURE)
        ts = headers.get(HEADER_TIMESTAMP)
        if not key_id or not sig_b64 or not ts:
            missing = [h for h in AUTH_HEADERS if not headers.get(h)]
            raise auth_error("missing_headers", "missing " + ", ".join(missing))
        if not ts.isdigit() or len(ts) > 16:
            raise auth_error("bad_timestamp", "timestamp must be milliseconds since the epoch")
        entry = self._keys.get(key_id)
        if entry is None:
            raise auth_error("unknown_key")
        skew = abs(self._now_ms() - int(ts))
        if skew > self.tolerance_ms:
            raise auth_error("stale_timestamp", f"off by {skew} ms, window {self.tolerance_ms} ms")
        try:
            sig = base64.b64decode(sig_b64, validate=True)
        except (binascii.Error, ValueError):
            raise auth_error("bad_signature", "signature is not base64") from None
        public_key, account_id = entry
        try:
            if isinstance(public_key, ed25519.Ed25519PublicKey):
                public_key.verify(sig, signing_payload(ts, method, path))
            else:
                public_key.verify(sig, signing_payload(ts, method, path), _PSS, hashes.SHA256())
        except InvalidSignature:
            raise auth_error("bad_signature") from None
        return account_id
