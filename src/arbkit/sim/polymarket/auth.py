"""L1 (ClobAuth EIP-712) and L2 (HMAC) authentication of the simulated Polymarket CLOB.

* L1 headers ``POLY_ADDRESS``, ``POLY_SIGNATURE``, ``POLY_TIMESTAMP``, ``POLY_NONCE``: the
  signature must be the wallet's EIP-712 signature of ``ClobAuth(address, timestamp, nonce,
  message)``. Used to create or derive API credentials.
* L2 headers ``POLY_ADDRESS``, ``POLY_SIGNATURE``, ``POLY_TIMESTAMP``, ``POLY_API_KEY``,
  ``POLY_PASSPHRASE``: ``POLY_SIGNATURE`` is ``base64url(HMAC_SHA256(base64url_decode(secret),
  timestamp + METHOD + path + body))`` where ``path`` excludes the query string (that is what
  the official client signs) and ``body`` is the raw request body.

API credentials are derived deterministically from the server seed, the address and the nonce,
so the same seed gives the same credentials (and the same streams) on every run.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Mapping

from arbkit.sim.polymarket import eip712

L1_HEADERS = ("POLY_ADDRESS", "POLY_SIGNATURE", "POLY_TIMESTAMP", "POLY_NONCE")
L2_HEADERS = ("POLY_ADDRESS", "POLY_SIGNATURE", "POLY_TIMESTAMP", "POLY_API_KEY", "POLY_PASSPHRASE")

ERR_L1 = "Invalid L1 Request headers"
ERR_L2 = "Unauthorized/Invalid api key"
ERR_CREATE = "Could not create api key"
ERR_DERIVE = "Could not derive api key!"


class AuthError(Exception):
    """Refused authentication: ``status`` and ``message`` are what the venue answers."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True, slots=True)
class ApiCreds:
    api_key: str
    secret: str  # base64url, as the venue hands it out
    passphrase: str
    address: str  # lower-case 0x address of the wallet that owns the key
    nonce: int

    def __repr__(self) -> str:  # never print the secret or passphrase
        return f"ApiCreds(api_key={self.api_key!r}, address={self.address!r}, nonce={self.nonce})"


def hmac_signature(secret: str, timestamp: str, method: str, path: str, body: str) -> str:
    """The L2 ``POLY_SIGNATURE`` for one request."""
    key = base64.urlsafe_b64decode(secret)
    msg = f"{timestamp}{method}{path}{body}".encode()
    return base64.urlsafe_b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()


def _norm(address: str) -> str:
    return "0x" + eip712.address_bytes(address).hex()


class ApiKeyStore:
    """API keys of the simulated venue, keyed by api key and by (address, nonce)."""

    def __init__(
        self,
        seed: int,
        chain_id: int,
        max_skew_s: float | None = None,
        now_s: Callable[[], float] = time.time,
    ) -> None:
        self._root = hashlib.sha256(f"arbkit-sim-polymarket-keys:{seed}".encode()).digest()
        self.chain_id = chain_id
        # Freshness of POLY_TIMESTAMP against ``now_s`` (the venue's clock, which clients read
        # from GET /time with use_server_time); None disables the check.
        self.max_skew_s = max_skew_s
        self._now_s = now_s
        self._by_key: dict[str, ApiCreds] = {}
        self._by_owner: dict[tuple[str, int], ApiCreds] = {}

    def _derive(self, address: str, nonce: int) -> ApiCreds:
        mat = hmac.new(self._root, f"{address}:{nonce}".encode(), hashlib.sha512).digest()
        api_key = str(uuid.UUID(bytes=mat[:16], version=4))
        secret = base64.urlsafe_b64encode(mat[16:48]).decode()
        passphrase = mat[48:64].hex() + hashlib.sha256(mat).hexdigest()[:32]
        return ApiCreds(api_key=api_key, secret=secret, passphrase=passphrase, address=address, nonce=nonce)

    def _check_ts(self, ts: str) -> None:
        if self.max_skew_s is None:
            return
        try:
            t = int(ts)
        except ValueError as exc:
            raise AuthError(ERR_L2) from exc
        if abs(self._now_s() - t) > self.max_skew_s:
            raise AuthError(ERR_L2)

    def verify_l1(self, headers: Mapping[str, str]) -> tuple[str, int]:
        """Check the L1 headers; returns (lower-case address, nonce)."""
        try:
            address = _norm(headers["POLY_ADDRESS"])
            signature = headers["POLY_SIGNATURE"]
            timestamp = headers["POLY_TIMESTAMP"]
            nonce = int(headers.get("POLY_NONCE") or "0")
            digest = eip712.clob_auth_digest(address, timestamp, nonce, self.chain_id)
            eip712.verify_signer(digest, signature, address)
        except (KeyError, ValueError) as exc:  # SignatureError is a ValueError
            raise AuthError(ERR_L1, 401) from exc
        if self.max_skew_s is not None:
            try:
                self._check_ts(timestamp)
            except AuthError as exc:
                raise AuthError(ERR_L1, 401) from exc
        return address, nonce

    def create(self, headers: Mapping[str, str]) -> ApiCreds:
        address, nonce = self.verify_l1(headers)
        if (address, nonce) in self._by_owner:
            # The venue refuses a second key for the same wallet and nonce; clients then derive.
            raise AuthError(ERR_CREATE, 400)
        creds = self._derive(address, nonce)
        self._by_owner[(address, nonce)] = creds
        self._by_key[creds.api_key] = creds
        return creds

    def derive(self, headers: Mapping[str, str]) -> ApiCreds:
        address, nonce = self.verify_l1(headers)
        creds = self._by_owner.get((address, nonce))
        if creds is None:
            raise AuthError(ERR_DERIVE, 400)
        return creds

    def delete(self, creds: ApiCreds) -> None:
        self._by_key.pop(creds.api_key, None)
        self._by_owner.pop((creds.address, creds.nonce), None)

    def keys_of(self, address: str) -> list[str]:
        return sorted(c.api_key for c in self._by_key.values() if c.address == address)

    def lookup(self, api_key: str) -> ApiCreds | None:
        return self._by_key.get(api_key)

    def verify_l2(self, headers: Mapping[str, str], method: str, path: str, body: str) -> ApiCreds:
        """Check the L2 headers of one request; returns the key's credentials."""
        try:
            address = _norm(headers["POLY_ADDRESS"])
            api_key = headers["POLY_API_KEY"]
            passphrase = headers["POLY_PASSPHRASE"]
            timestamp = headers["POLY_TIMESTAMP"]
            signature = headers["POLY_SIGNATURE"]
        except (KeyError, ValueError) as exc:
            raise AuthError(ERR_L2) from exc
        creds = self._by_key.get(api_key)
        if creds is None or creds.address != address:
            raise AuthError(ERR_L2)
        if not hmac.compare_digest(creds.passphrase.encode(), passphrase.encode()):
            raise AuthError(ERR_L2)
        self._check_ts(timestamp)
        expected = hmac_signature(creds.secret, timestamp, method, path, body)
        # The official client serialises bodies with json.dumps and then swaps ' for ", so a
        # body the client signed may differ from the bytes sent only in that substitution.
        if not (
            hmac.compare_digest(expected.encode(), signature.encode())
            or (
                "'" in body
                and hmac.compare_digest(
                    hmac_signature(creds.secret, timestamp, method, path, body.replace("'", '"')).encode(),
                    signature.encode(),
                )
            )
        ):
            raise AuthError(ERR_L2)
        return creds
