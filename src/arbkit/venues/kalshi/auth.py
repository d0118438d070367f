"""Kalshi request signing: RSA-PSS (SHA-256, MGF1-SHA-256, salt length = digest length) for RSA
API keys, Ed25519 for Ed25519 API keys. The key type is taken from the PEM, as the official SDK
does (kalshi-python-sync 3.34.0 ``auth.py``: "RSA keys sign requests with RSA-PSS over SHA-256;
Ed25519 keys sign the same pre-sign text with Ed25519. The key type is detected from the PEM").

The signed message is ``timestamp_ms + METHOD + path`` where ``path`` is the full URL path
(``/trade-api/v2/portfolio/orders``) WITHOUT the query string (docs.kalshi.com "API Keys",
"Quick Start: Authenticated Requests"). The WebSocket handshake signs ``GET /trade-api/ws/v2``.

The private key is read from a PEM file or from an environment variable (PEM text, or a path to
a PEM file). It is never logged, printed or put in a repr: :class:`KalshiSigner` only exposes the
key id and the public key.
"""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path
from typing import Callable

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from arbkit.venues.kalshi import constants as C

_PSS = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH)
_SHA256 = hashes.SHA256()


class KalshiAuthError(Exception):
    """The venue refused our credentials, or they could not be loaded. Never carries key material."""


class ClockSkewError(KalshiAuthError):
    """Our clock is too far from the exchange's: signed timestamps are refused as stale."""

    def __init__(self, skew_ms: int | None, detail: str = "", signing_offset_ms: int = 0) -> None:
        self.skew_ms = skew_ms
        self.signing_offset_ms = signing_offset_ms
        parts = ["clock skew: Kalshi refuses requests whose KALSHI-ACCESS-TIMESTAMP is outside its window"]
        if skew_ms is not None:
            parts.append(f"the local clock is {skew_ms:+d} ms off the exchange clock (from its Date header)")
        if signing_offset_ms:
            parts.append(f"our signing clock offset is {signing_offset_ms:+d} ms")
        parts.append("fix the host clock (NTP) before trading")
        super().__init__("; ".join(parts) + (f" ({detail})" if detail else ""))


def signing_message(timestamp_ms: str, method: str, path: str) -> bytes:
    """What Kalshi signs: ``timestamp + METHOD + path`` with the query string removed."""
    return (timestamp_ms + method.upper() + path.split("?", 1)[0]).encode()


PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
_KEY_TYPES = (rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey)


def _load_pem(data: bytes, source: str) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        # The exception text of cryptography never contains key bytes, but be explicit anyway.
        raise KalshiAuthError(f"could not load the Kalshi private key from {source}: not an unencrypted PEM "
                              f"private key ({type(exc).__name__})") from None
    if not isinstance(key, _KEY_TYPES):
        raise KalshiAuthError(f"the Kalshi private key from {source} is neither an RSA nor an Ed25519 key")
    return key


class KalshiSigner:
    """Signs Kalshi requests with one API key.

    ``clock_offset_ms`` is added to the local clock when stamping requests (set it from a measured
    skew to keep trading through a small drift; tests use it to send stale timestamps).
    """

    __slots__ = ("key_id", "_key", "_now_ms", "clock_offset_ms")

    def __init__(self, key_id: str, private_key: PrivateKey, *, now_ms: Callable[[], int] | None = None,
                 clock_offset_ms: int = 0) -> None:
        if not key_id:
            raise KalshiAuthError("a Kalshi API key id is required")
        if not isinstance(private_key, _KEY_TYPES):
            raise KalshiAuthError("the Kalshi private key must be an RSA or Ed25519 private key")
        self.key_id = key_id
        self._key = private_key
        self._now_ms = now_ms or (lambda: time.time_ns() // 1_000_000)
        self.clock_offset_ms = clock_offset_ms

    # --- construction ---------------------------------------------------------------------------

    @classmethod
    def from_pem_file(cls, key_id: str, path: str | os.PathLike[str], **kw) -> "KalshiSigner":
        p = Path(path)
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise KalshiAuthError(f"cannot read the Kalshi private key file {p}: {exc.strerror}") from None
        return cls(key_id, _load_pem(data, f"file {p}"), **kw)

    @classmethod
    def from_pem(cls, key_id: str, pem: str | bytes, **kw) -> "KalshiSigner":
        data = pem.encode() if isinstance(pem, str) else pem
        return cls(key_id, _load_pem(data, "the given PEM text"), **kw)

    @classmethod
    def from_env(cls, key_id_var: str = C.ENV_KEY_ID, key_var: str = C.ENV_PRIVATE_KEY, **kw) -> "KalshiSigner":
        """Key id from ``key_id_var``; the key from ``key_var`` (PEM text, or a path to a PEM file)."""
        key_id = os.environ.get(key_id_var, "")
        if not key_id:
            raise KalshiAuthError(f"environment variable {key_id_var} (Kalshi API key id) is not set")
        value = os.environ.get(key_var, "")
        if not value:
            raise KalshiAuthError(f"environment variable {key_var} (Kalshi private key PEM or path) is not set")
        if "-----BEGIN" in value:
            return cls(key_id, _load_pem(value.encode(), f"environment variable {key_var}"), **kw)
        return cls.from_pem_file(key_id, value, **kw)

    # --- signing --------------------------------------------------------------------------------

    def now_ms(self) -> int:
        return self._now_ms() + self.clock_offset_ms

    @property
    def key_type(self) -> str:
        return "ed25519" if isinstance(self._key, ed25519.Ed25519PrivateKey) else "rsa"

    def sign(self, timestamp_ms: str, method: str, path: str) -> str:
        """Base64 signature of ``timestamp + METHOD + path`` (query string dropped): RSA-PSS for an
        RSA key, Ed25519 for an Ed25519 key."""
        msg = signing_message(timestamp_ms, method, path)
        if isinstance(self._key, ed25519.Ed25519PrivateKey):
            sig = self._key.sign(msg)
        else:
            sig = self._key.sign(msg, _PSS, _SHA256)
        return base64.b64encode(sig).decode("ascii")

    def headers(self, method: str, path: str, timestamp_ms: int | None = None) -> dict[str, str]:
        """The three authentication headers for one request to ``path`` (full URL path)."""
        ts = str(self.now_ms() if timestamp_ms is None else timestamp_ms)
        return {C.HEADER_KEY: self.key_id, C.HEADER_SIGNATURE: self.sign(ts, method, path), C.HEADER_TIMESTAMP: ts}

    def public_key_pem(self) -> str:
        return self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def __repr__(self) -> str:  # never the key
        return f"KalshiSigner(key_id={self.key_id!r})"

    __str__ = __repr__

    def __reduce__(self):  # refuse pickling: a pickle would carry the private key
        raise TypeError("KalshiSigner holds a private key and cannot be pickled")


def verify(public_key_pem: str | bytes, signature_b64: str, timestamp_ms: str, method: str, path: str) -> bool:
    """Check a signature with the public key (tests and tools)."""
    from cryptography.exceptions import InvalidSignature

    data = public_key_pem.encode() if isinstance(public_key_pem, str) else public_key_pem
    pub = serialization.load_pem_public_key(data)
    msg = signing_message(timestamp_ms, method, path)
    try:
        if isinstance(pub, ed25519.Ed25519PublicKey):
            pub.verify(base64.b64decode(signature_b64), msg)
        elif isinstance(pub, rsa.RSAPublicKey):
            pub.verify(base64.b64decode(signature_b64), msg, _PSS, _SHA256)
        else:
            return False
    except InvalidSignature:
        return False
    return True
