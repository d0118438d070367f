"""KuCoin request signing (API key version 3).

``KC-API-SIGN`` = base64(HMAC-SHA256(secret, timestamp + METHOD + path[?query] + body)) and
``KC-API-PASSPHRASE`` = base64(HMAC-SHA256(secret, passphrase)) for key version 2/3; timestamp in
ms. Source: kucoin-universal-sdk internal/infra/default_signer.py and default_transport.py
(process_headers: method + raw_url + body) @ 78c90c77, checked 2026-12-04. Secrets are kept
private and never appear in repr or logs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from arbkit.venues.kucoin import constants as C


def hmac_b64(secret: str, plain: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), plain.encode(), hashlib.sha256).digest()).decode()


class KucoinSigner:
    """Signs REST requests for one API key."""

    __slots__ = ("api_key", "_secret", "_passphrase_signed")

    def __init__(self, api_key: str, api_secret: str, passphrase: str) -> None:
        if not (api_key and api_secret and passphrase):
            raise ValueError("KuCoin API key, secret and passphrase are all required")
        self.api_key = api_key
        self._secret = api_secret
        self._passphrase_signed = hmac_b64(api_secret, passphrase)

    def __repr__(self) -> str:
        return f"KucoinSigner(api_key={self.api_key[:6]}...)"

    def headers(self, method: str, path_with_query: str, body: str = "", ts_ms: int | None = None) -> dict[str, str]:
        ts = str(ts_ms if ts_ms is not None else time.time_ns() // 1_000_000)
        return {
            "KC-API-KEY": self.api_key,
            "KC-API-SIGN": hmac_b64(self._secret, ts + method.upper() + path_with_query + body),
            "KC-API-TIMESTAMP": ts,
            "KC-API-PASSPHRASE": self._passphrase_signed,
            "KC-API-KEY-VERSION": C.KEY_VERSION,
            "Content-Type": "application/json",
        }


def verify(secret: str, passphrase: str, method: str, path_with_query: str, body: str, headers: dict) -> str | None:
    """Why these headers do not authenticate the request (None when they do). Used by the simulator."""
    if headers.get("KC-API-KEY-VERSION") not in ("2", "3"):
        return "KC-API-KEY-VERSION must be 2 or 3"
    if headers.get("KC-API-PASSPHRASE") != hmac_b64(secret, passphrase):
        return "Invalid KC-API-PASSPHRASE"
    ts = headers.get("KC-API-TIMESTAMP", "")
    if not ts.isdigit():
        return "Invalid KC-API-TIMESTAMP"
    want = hmac_b64(secret, ts + method.upper() + path_with_query + body)
    if not hmac.compare_digest(want, headers.get("KC-API-SIGN", "")):
        return "Signature verification failed"
    return None
