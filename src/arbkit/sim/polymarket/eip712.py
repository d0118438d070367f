"""EIP-712 hashing and signer recovery for the Polymarket simulator.

Verifies what a real Polymarket CLOB verifies:

* L1 auth: the ``ClobAuth`` typed message (domain ``ClobAuthDomain`` / ``1`` / chain id, no
  verifying contract) signed by the wallet in ``POLY_ADDRESS``.
* CLOB V2 orders: the ``Order`` struct of CTF Exchange V2 (domain ``Polymarket CTF Exchange`` /
  ``2`` / chain id / exchange address). Neg-risk markets are signed against the neg-risk
  exchange, the others against the standard exchange, so a signature made for the wrong
  exchange recovers a different address and is refused.

Type strings and addresses are those of the official ``py-clob-client-v2`` (facts, not code).
Recovery uses coincurve (libsecp256k1); keccak-256 comes from pycryptodome.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import coincurve
from Crypto.Hash import keccak as _keccak_mod

CHAIN_ID_POLYGON = 137

# CTF Exchange V2 contracts on Polygon (chain 137), as configured in py-clob-client-v2.
EXCHANGE_V2 = "0xE111180000d2663C0091e4f400237545B87B996B"
NEG_RISK_EXCHANGE_V2 = "0xe2222d279d744050d28e00520010520000310F59"

CLOB_AUTH_DOMAIN_NAME = "ClobAuthDomain"
CLOB_AUTH_DOMAIN_VERSION = "1"
CLOB_AUTH_MESSAGE = "This message attests that I control the given wallet"

CTF_EXCHANGE_DOMAIN_NAME = "Polymarket CTF Exchange"
CTF_EXCHANGE_DOMAIN_VERSION = "2"

DOMAIN_TYPE_WITH_CONTRACT = (
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
DOMAIN_TYPE_NO_CONTRACT = "EIP712Domain(string name,string version,uint256 chainId)"
CLOB_AUTH_TYPE = "ClobAuth(address address,string timestamp,uint256 nonce,string message)"
ORDER_V2_TYPE = (
    "Order(uint256 salt,address maker,address signer,uint256 tokenId,"
    "uint256 makerAmount,uint256 takerAmount,uint8 side,uint8 signatureType,"
    "uint256 timestamp,bytes32 metadata,bytes32 builder)"
)

# secp256k1 group order; signatures with s above half of it are malleable copies and refused
# (as OpenZeppelin's ECDSA.recover, which the exchange contracts use, refuses them).
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N = _SECP256K1_N // 2

SIDE_BUY = 0
SIDE_SELL = 1
SIGNATURE_TYPE_EOA = 0
SIGNATURE_TYPE_POLY_PROXY = 1
SIGNATURE_TYPE_POLY_GNOSIS_SAFE = 2
SIGNATURE_TYPE_POLY_1271 = 3  # deposit wallet: maker = signer = the wallet, ERC-7739 wrapped signature
SIGNATURE_TYPE_POLY_1271 = 3


class SignatureError(ValueError):
    """A signature that is malformed or does not recover to the expected signer."""


def keccak256(data: bytes) -> bytes:
    h = _keccak_mod.new(digest_bits=256)
    h.update(data)
    return h.digest()


_DOMAIN_TYPEHASH_WITH_CONTRACT = keccak256(DOMAIN_TYPE_WITH_CONTRACT.encode())
_DOMAIN_TYPEHASH_NO_CONTRACT = keccak256(DOMAIN_TYPE_NO_CONTRACT.encode())
_CLOB_AUTH_TYPEHASH = keccak256(CLOB_AUTH_TYPE.encode())
_ORDER_V2_TYPEHASH = keccak256(ORDER_V2_TYPE.encode())


def _u256(value: int) -> bytes:
    if value < 0 or value >= 1 << 256:
        raise SignatureError(f"value {value} does not fit in uint256")
    return value.to_bytes(32, "big")


def address_bytes(address: str) -> bytes:
    """20 bytes of a 0x-prefixed hex address (any letter case)."""
    if not isinstance(address, str):
        raise SignatureError("address must be a string")
    h = address[2:] if address[:2] in ("0x", "0X") else address
    if len(h) != 40:
        raise SignatureError(f"not a 20-byte address: {address!r}")
    try:
        return bytes.fromhex(h)
    except ValueError as exc:
        raise SignatureError(f"not a hex address: {address!r}") from exc


def _address_word(address: str) -> bytes:
    return b"\x00" * 12 + address_bytes(address)


def bytes32(value: str) -> bytes:
    if not isinstance(value, str):
        raise SignatureError("bytes32 must be a hex string")
    h = value[2:] if value[:2] in ("0x", "0X") else value
    if len(h) > 64:
        raise SignatureError(f"not a bytes32 value: {value!r}")
    try:
        return bytes.fromhex(h.zfill(64))
    except ValueError as exc:
        raise SignatureError(f"not hex: {value!r}") from exc


def to_checksum_address(address: str) -> str:
    """EIP-55 mixed-case form of an address."""
    raw = address_bytes(address).hex()
    digest = keccak256(raw.encode()).hex()
    return "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(raw))


def domain_separator(name: str, version: str, chain_id: int, verifying_contract: str | None) -> bytes:
    if verifying_contract is None:
        enc = (
            _DOMAIN_TYPEHASH_NO_CONTRACT
            + keccak256(name.encode())
            + keccak256(version.encode())
            + _u256(chain_id)
        )
    else:
        enc = (
            _DOMAIN_TYPEHASH_WITH_CONTRACT
            + keccak256(name.encode())
            + keccak256(version.encode())
            + _u256(chain_id)
            + _address_word(verifying_contract)
        )
    return keccak256(enc)


def typed_data_digest(domain_sep: bytes, struct_hash: bytes) -> bytes:
    return keccak256(b"\x19\x01" + domain_sep + struct_hash)


def clob_auth_digest(address: str, timestamp: str, nonce: int, chain_id: int) -> bytes:
    """Digest of the L1 ``ClobAuth`` message that the wallet signs."""
    struct_hash = keccak256(
        _CLOB_AUTH_TYPEHASH
        + _address_word(address)
        + keccak256(str(timestamp).encode())
        + _u256(int(nonce))
        + keccak256(CLOB_AUTH_MESSAGE.encode())
    )
    dom = domain_separator(CLOB_AUTH_DOMAIN_NAME, CLOB_AUTH_DOMAIN_VERSION, chain_id, None)
    return typed_data_digest(dom, struct_hash)


@dataclass(frozen=True, slots=True)
class OrderV2:
    """The signed fields of a CTF Exchange V2 order, as integers/hex (exact)."""

    salt: int
    maker: str
    signer: str
    token_id: int
    maker_amount: int
    taker_amount: int
    side: int  # 0 BUY, 1 SELL
    signature_type: int
    timestamp: int  # ms
    metadata: str  # bytes32 hex
    builder: str  # bytes32 hex


def order_v2_struct_hash(order: OrderV2) -> bytes:
    if order.side not in (SIDE_BUY, SIDE_SELL):
        raise SignatureError(f"side must be 0 or 1, got {order.side}")
    if not 0 <= order.signature_type <= 255:
        raise SignatureError("signatureType out of range")
    return keccak256(
        _ORDER_V2_TYPEHASH
        + _u256(order.salt)
        + _address_word(order.maker)
        + _address_word(order.signer)
        + _u256(order.token_id)
        + _u256(order.maker_amount)
        + _u256(order.taker_amount)
        + _u256(order.side)
        + _u256(order.signature_type)
        + _u256(order.timestamp)
        + bytes32(order.metadata)
        + bytes32(order.builder)
    )


def order_v2_digest(order: OrderV2, chain_id: int, exchange: str) -> bytes:
    """EIP-712 digest of a V2 order for ``exchange``; its 0x-hex form is the venue's order id."""
    dom = domain_separator(CTF_EXCHANGE_DOMAIN_NAME, CTF_EXCHANGE_DOMAIN_VERSION, chain_id, exchange)
    return typed_data_digest(dom, order_v2_struct_hash(order))


def exchange_for(neg_risk: bool) -> str:
    return NEG_RISK_EXCHANGE_V2 if neg_risk else EXCHANGE_V2


def _parse_signature(signature: str) -> tuple[bytes, int]:
    if not isinstance(signature, str):
        raise SignatureError("signature must be a hex string")
    h = signature[2:] if signature[:2] in ("0x", "0X") else signature
    if len(h) != 130:
        raise SignatureError("signature must be 65 bytes")
    try:
        raw = bytes.fromhex(h)
    except ValueError as exc:
        raise SignatureError("signature is not hex") from exc
    v = raw[64]
    if v in (27, 28):
        v -= 27
    if v not in (0, 1):
        raise SignatureError("bad recovery id")
    s = int.from_bytes(raw[32:64], "big")
    r = int.from_bytes(raw[:32], "big")
    if not (0 < r < _SECP256K1_N) or not (0 < s <= _HALF_N):
        raise SignatureError("signature r/s out of range")
    return raw[:64], v


def recover_address(digest: bytes, signature: str) -> str:
    """Lower-case 0x address that signed the 32-byte ``digest``."""
    rs, v = _parse_signature(signature)
    try:
        pub = coincurve.PublicKey.from_signature_and_message(rs + bytes([v]), digest, hasher=None)
    except Exception as exc:  # libsecp256k1 refuses points that do not recover
        raise SignatureError("signature does not recover a public key") from exc
    return "0x" + keccak256(pub.format(compressed=False)[1:])[-20:].hex()


def verify_signer(digest: bytes, signature: str, expected: str) -> None:
    """Raise :class:`SignatureError` unless ``signature`` over ``digest`` is by ``expected``."""
    got = recover_address(digest, signature)
    if got != "0x" + address_bytes(expected).hex():
        raise SignatureError("signature does not match the signer")


# --- deposit wallets (POLY_1271) -------------------------------------------------------------
# A deposit wallet validates an order signature with ERC-1271 ``isValidSignature``; the signature
# is the owner's ECDSA signature nested ERC-7739 style ("TypedDataSign"): docs.polymarket.com
# trading/deposit-wallets and py-clob-client-v2 1.2.1 exchange_order_builder_v2.py (checked
# 2026-12-04). Layout: r s v (65) || appDomainSeparator (32) || contentsHash (32) || contentsType
# || uint16 len(contentsType).

ORDER_V2_TYPE = (
    "Order(uint256 salt,address maker,address signer,uint256 tokenId,"
    "uint256 makerAmount,uint256 takerAmount,uint8 side,uint8 signatureType,"
    "uint256 timestamp,bytes32 metadata,bytes32 builder)"
)
_TYPED_DATA_SIGN_TYPEHASH = keccak256((
    "TypedDataSign(Order contents,string name,string version,uint256 chainId,"
    "address verifyingContract,bytes32 salt)" + ORDER_V2_TYPE).encode())
_DEPOSIT_WALLET_NAME = keccak256(b"DepositWallet")
_DEPOSIT_WALLET_VERSION = keccak256(b"1")


def deposit_wallet_address(owner: str, salt: str = "arbkit-sim") -> str:
    """The simulator's deposit wallet of an owner EOA (checksummed). The venue deploys a per-user
    ERC-1967 proxy from its factory; the simulator has no chain, so it derives a stable address
    of its own (not the venue's CREATE2 address)."""
    return to_checksum_address("0x" + keccak256(f"{salt}:deposit-wallet:".encode() + address_bytes(owner))[-20:].hex())


def verify_deposit_wallet_signature(order: OrderV2, signature: str, chain_id: int, exchange: str, owner: str) -> None:
    """Raise :class:`SignatureError` unless ``signature`` is the ERC-7739-wrapped signature of
    ``order`` by the deposit wallet's ``owner`` (what the wallet's isValidSignature accepts)."""
    if not isinstance(signature, str):
        raise SignatureError("signature must be a hex string")
    h = signature[2:] if signature[:2] in ("0x", "0X") else signature
    try:
        raw = bytes.fromhex(h)
    except ValueError as exc:
        raise SignatureError("signature is not hex") from exc
    if len(raw) < 65 + 32 + 32 + 2:
        raise SignatureError("deposit wallet signature too short")
    n = int.from_bytes(raw[-2:], "big")
    if len(raw) != 65 + 32 + 32 + n + 2:
        raise SignatureError("deposit wallet signature length does not match its contents type")
    inner, app_sep, contents = raw[:65], raw[65:97], raw[97:129]
    if raw[129:129 + n] != ORDER_V2_TYPE.encode():
        raise SignatureError("contents type is not the V2 Order")
    if app_sep != domain_separator(CTF_EXCHANGE_DOMAIN_NAME, CTF_EXCHANGE_DOMAIN_VERSION, chain_id, exchange):
        raise SignatureError("app domain separator is not the exchange's")
    if contents != order_v2_struct_hash(order):
        raise SignatureError("contents hash is not the order's")
    tds = keccak256(_TYPED_DATA_SIGN_TYPEHASH + contents + _DEPOSIT_WALLET_NAME + _DEPOSIT_WALLET_VERSION
                    + _u256(chain_id) + _address_word(order.signer) + bytes(32))
    verify_signer(typed_data_digest(app_sep, tds), "0x" + inner.hex(), owner)


# --- signing (the simulator's own test accounts and tests; never used with real keys) -------


def new_private_key() -> str:
    """A fresh random secp256k1 private key (0x hex) for a simulated account."""
    while True:
        k = secrets.token_bytes(32)
        if 0 < int.from_bytes(k, "big") < _SECP256K1_N:
            return "0x" + k.hex()


def address_of(private_key: str) -> str:
    """Checksummed address of a private key."""
    key = coincurve.PrivateKey(bytes.fromhex(private_key.removeprefix("0x")))
    return to_checksum_address("0x" + keccak256(key.public_key.format(compressed=False)[1:])[-20:].hex())


def sign_digest(digest: bytes, private_key: str) -> str:
    """65-byte r||s||v (v = 27/28) signature, low-s, as Ethereum wallets produce."""
    key = coincurve.PrivateKey(bytes.fromhex(private_key.removeprefix("0x")))
    sig = key.sign_recoverable(digest, hasher=None)  # libsecp256k1 always emits low-s
    return "0x" + sig[:64].hex() + format(sig[64] + 27, "02x")
