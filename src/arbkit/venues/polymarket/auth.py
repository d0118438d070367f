"""Polymarket CLOB authentication.

L1: an EIP-712 ``ClobAuth`` signature by the wallet (creates or derives API credentials).
L2: HMAC-SHA256 over ``timestamp + method + path + body`` with the API secret (every trading call).
Secrets never appear in ``repr`` or logs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass, field

from arbkit.venues.polymarket.constants import (
    CLOB_AUTH_DOMAIN_NAME,
    CLOB_AUTH_DOMAIN_TYPE_STRING,
    CLOB_AUTH_DOMAIN_VERSION,
    CLOB_AUTH_MESSAGE,
    CLOB_AUTH_TYPE_STRING,
)
from arbkit.venues.polymarket.signer import Wallet, address_word, keccak256

POLY_ADDRESS = "POLY_ADDRESS"
POLY_SIGNATURE = "POLY_SIGNATURE"
POLY_TIMESTAMP = "POLY_TIMESTAMP"
POLY_NONCE = "POLY_NONCE"
POLY_API_KEY = "POLY_API_KEY"
POLY_PASSPHRASE = "POLY_PASSPHRASE"


@dataclass(frozen=True)
class ApiCreds:
    """L2 API credentials. ``repr`` hides the secret and passphrase."""

    api_key: str
    api_secret: str = field(repr=False)
    api_passphrase: str = field(repr=False)

    @classmethod
    def from_response(cls, payload: dict) -> "ApiCreds":
        """From the create/derive API key answer ``{"apiKey", "secret", "passphrase"}``."""
        try:
            return cls(payload["apiKey"], payload["secret"], payload["passphrase"])
        except KeyError as exc:
            raise ValueError(f"API key response lacks {exc.args[0]!r}") from None


def hmac_signature(secret: str, timestamp: int | str, method: str, request_path: str, body: str | None = None) -> str:
    """URL-safe base64 HMAC-SHA256 of ``timestamp + method + path [+ body]`` keyed by the
    URL-safe-base64-decoded secret. ``body`` is the exact serialized text that is sent."""
    key = base64.urlsafe_b64decode(secret)
    message = f"{timestamp}{method}{request_path}"
    if body:
        # The official clients sign the body with single quotes turned into double quotes.
        message += body.replace("'", '"')
    digest = hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


def l2_headers(
    address: str, creds: ApiCreds, method: str, request_path: str, body: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        POLY_ADDRESS: address,
        POLY_SIGNATURE: hmac_signature(creds.api_secret, ts, method, request_path, body),
        POLY_TIMESTAMP: str(ts),
        POLY_API_KEY: creds.api_key,
        POLY_PASSPHRASE: creds.api_passphrase,
    }


_CLOB_AUTH_TYPE_HASH = keccak256(CLOB_AUTH_TYPE_STRING.encode())
_CLOB_AUTH_MESSAGE_HASH = keccak256(CLOB_AUTH_MESSAGE.encode())


def clob_auth_digest(address: str, chain_id: int, timestamp: int, nonce: int) -> bytes:
    """EIP-712 digest of ``ClobAuth{address, timestamp (as a string), nonce, message}`` in the
    ``ClobAuthDomain`` v1 domain (name, version, chainId: no verifying contract)."""
    domain = keccak256(
        keccak256(CLOB_AUTH_DOMAIN_TYPE_STRING.encode())
        + keccak256(CLOB_AUTH_DOMAIN_NAME.encode())
        + keccak256(CLOB_AUTH_DOMAIN_VERSION.encode())
        + chain_id.to_bytes(32, "big")
    )
    struct = keccak256(
        _CLOB_AUTH_TYPE_HASH
        + address_word(address)
        + keccak256(str(timestamp).encode())
        + nonce.to_bytes(32, "big")
        + _CLOB_AUTH_MESSAGE_HASH
    )
    return keccak256(b"\x19\x01" + domain + struct)


def clob_auth_signature(wallet: Wallet, chain_id: int, timestamp: int, nonce: int = 0) -> str:
    return "0x" + wallet.sign_hash(clob_auth_digest(wallet.address, chain_id, timestamp, nonce)).hex()


def l1_headers(wallet: Wallet, chain_id: int, nonce: int = 0, timestamp: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        POLY_ADDRESS: wallet.address,
        POLY_SIGNATURE: clob_auth_signature(wallet, chain_id, ts, nonce),
        POLY_TIMESTAMP: str(ts),
        POLY_NONCE: str(nonce),
    }
