"""Polymarket position actions on chain: merge (complete set -> collateral) and redeem (winning
outcome -> collateral), as calldata and as signed Polygon transactions.

Contracts and functions (sources and dates in docs/venues/polymarket.md, "Merge and redeem"):

* Since CLOB V2 (collateral pUSD) the documented route is a thin **collateral adapter** per market
  type — ``CtfCollateralAdapter`` (standard binary markets) and ``NegRiskCtfCollateralAdapter``
  (neg-risk markets) — with the Conditional Tokens function shapes
  ``mergePositions(address,bytes32,bytes32,uint256[],uint256)`` and
  ``redeemPositions(address,bytes32,bytes32,uint256[])``; the adapter ignores the first two
  arguments (collateral, parent collection), burns the outcome tokens through the CTF and pays pUSD.
  The holder approves the adapter once on the CTF (``setApprovalForAll(adapter, true)``).
* The legacy routes stay encodable for positions minted before V2: the CTF itself with USDC.e as
  collateral, and the legacy ``NegRiskAdapter`` (``mergePositions(bytes32,uint256)``,
  ``redeemPositions(bytes32,uint256[] amounts)``).

Amounts are integers in the tokens' base units (6 decimals: 1 share = 1_000_000); a Decimal share
count that is not a whole number of base units is refused, never rounded.

Transactions are EIP-1559 (type 2), RLP-encoded and signed with libsecp256k1 (coincurve), the same
bytes eth-account produces (tests/unit/venues/polymarket/test_pm_ctf.py compares them). The private
key stays inside the coincurve object; nothing here formats or logs it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, NamedTuple, Sequence

import coincurve

from arbkit.venues.polymarket.constants import CONTRACTS, POLYGON, TOKEN_DECIMALS
from arbkit.venues.polymarket.signer import keccak256

# --- addresses ----------------------------------------------------------------------------------

# V2 collateral adapters on Polygon (Sourcify-verified deployments named by several official-client
# users; see docs/venues/polymarket.md for the sources and the older addresses also seen).
CTF_COLLATERAL_ADAPTER = "0xAdA100Db00Ca00073811820692005400218FcE1f"
NEG_RISK_CTF_COLLATERAL_ADAPTER = "0xadA2005600Dec949baf300f4C6120000bDB6eAab"
USDC_E = "0x2791Bca1f2de4661ED88A30C99A7a9449Aa84174"  # collateral of pre-V2 (legacy) CTF positions
BYTES32_ZERO = b"\x00" * 32
BINARY_PARTITION = (1, 2)  # index sets of a binary condition: outcome 0 (YES) = 0b01, outcome 1 (NO) = 0b10
UNIT = 10 ** TOKEN_DECIMALS

ROUTES = ("adapter", "ctf", "neg-risk-adapter")


class Addresses(NamedTuple):
    conditional_tokens: str
    collateral: str  # pUSD
    ctf_adapter: str
    neg_risk_ctf_adapter: str
    neg_risk_adapter: str  # legacy
    usdc_e: str


def addresses(chain_id: int = POLYGON, **override: str) -> Addresses:
    c = CONTRACTS.get(chain_id) or CONTRACTS[POLYGON]
    a = Addresses(conditional_tokens=c.conditional_tokens, collateral=c.collateral, ctf_adapter=CTF_COLLATERAL_ADAPTER,
                  neg_risk_ctf_adapter=NEG_RISK_CTF_COLLATERAL_ADAPTER, neg_risk_adapter=c.neg_risk_adapter,
                  usdc_e=USDC_E)
    return a._replace(**{k: v for k, v in override.items() if v})


# --- ABI ----------------------------------------------------------------------------------------


def selector(signature: str) -> bytes:
    return keccak256(signature.encode())[:4]


SIG_MERGE = "mergePositions(address,bytes32,bytes32,uint256[],uint256)"
SIG_REDEEM = "redeemPositions(address,bytes32,bytes32,uint256[])"
SIG_NR_MERGE = "mergePositions(bytes32,uint256)"
SIG_NR_REDEEM = "redeemPositions(bytes32,uint256[])"
SIG_SET_APPROVAL = "setApprovalForAll(address,bool)"
SIG_BALANCE_OF_1155 = "balanceOf(address,uint256)"
SIG_BALANCE_OF_20 = "balanceOf(address)"
SIG_IS_APPROVED = "isApprovedForAll(address,address)"

FUNCTIONS: dict[bytes, tuple[str, tuple[str, ...]]] = {
    selector(s): (s.split("(")[0], tuple(s[s.index("(") + 1:-1].split(",")))
    for s in (SIG_MERGE, SIG_REDEEM, SIG_NR_MERGE, SIG_NR_REDEEM, SIG_SET_APPROVAL, SIG_BALANCE_OF_1155, SIG_BALANCE_OF_20,
              SIG_IS_APPROVED)
}


def address_bytes(addr: str) -> bytes:
    h = addr[2:] if addr.startswith(("0x", "0X")) else addr
    b = bytes.fromhex(h)
    if len(b) != 20:
        raise ValueError(f"not a 20-byte address: {addr!r}")
    return b


def bytes32(value: str | bytes) -> bytes:
    b = value if isinstance(value, bytes) else bytes.fromhex(value[2:] if value.startswith(("0x", "0X")) else value)
    if len(b) != 32:
        raise ValueError(f"not 32 bytes: {value!r}")
    return b


def _word(n: int) -> bytes:
    if not 0 <= n < 1 << 256:
        raise ValueError(f"uint256 out of range: {n}")
    return n.to_bytes(32, "big")


def abi_encode(types: Sequence[str], values: Sequence[Any]) -> bytes:
    """The ABI encoding of arguments of the types these contracts use: address, bytes32, uint256,
    bool and uint256[] (the only dynamic one: its offset in the head, its length and items in the tail)."""
    head: list[bytes] = []
    tail = b""
    n_head = 32 * len(types)
    for t, v in zip(types, values, strict=True):
        if t == "address":
            head.append(b"\x00" * 12 + address_bytes(v))
        elif t == "bytes32":
            head.append(bytes32(v))
        elif t == "uint256":
            head.append(_word(int(v)))
        elif t == "bool":
            head.append(_word(1 if v else 0))
        elif t == "uint256[]":
            head.append(_word(n_head + len(tail)))
            tail += _word(len(v)) + b"".join(_word(int(x)) for x in v)
        else:
            raise ValueError(f"unsupported ABI type {t}")
    return b"".join(head) + tail


def abi_decode(types: Sequence[str], data: bytes) -> list[Any]:
    """Inverse of :func:`abi_encode` (strict: out-of-range offsets, dirty address padding and
    non-canonical booleans raise ValueError)."""
    out: list[Any] = []
    if len(data) < 32 * len(types):
        raise ValueError("calldata shorter than its head")
    for i, t in enumerate(types):
        w = data[32 * i:32 * i + 32]
        if t == "address":
            if any(w[:12]):
                raise ValueError("dirty address padding")
            out.append("0x" + w[12:].hex())
        elif t == "bytes32":
            out.append("0x" + w.hex())
        elif t == "uint256":
            out.append(int.from_bytes(w, "big"))
        elif t == "bool":
            n = int.from_bytes(w, "big")
            if n > 1:
                raise ValueError("bad bool")
            out.append(bool(n))
        elif t == "uint256[]":
            off = int.from_bytes(w, "big")
            if off % 32 or off + 32 > len(data):
                raise ValueError("bad array offset")
            n = int.from_bytes(data[off:off + 32], "big")
            if n > 256 or off + 32 + 32 * n > len(data):
                raise ValueError("bad array length")
            out.append([int.from_bytes(data[off + 32 + 32 * k:off + 64 + 32 * k], "big") for k in range(n)])
        else:
            raise ValueError(f"unsupported ABI type {t}")
    return out


def encode_call(signature: str, *args: Any) -> bytes:
    types = tuple(signature[signature.index("(") + 1:-1].split(","))
    return selector(signature) + abi_encode(types, args)


def decode_call(data: bytes) -> tuple[str, list[Any]]:
    """(function name, arguments) of calldata for one of :data:`FUNCTIONS`; ValueError otherwise."""
    if len(data) < 4 or data[:4] not in FUNCTIONS:
        raise ValueError(f"unknown function selector 0x{data[:4].hex()}")
    name, types = FUNCTIONS[data[:4]]
    return name, abi_decode(types, data[4:])


def share_units(shares: Decimal) -> int:
    """Shares as token base units (6 decimals), exactly; refuses anything finer or not positive."""
    if not isinstance(shares, Decimal) or not shares.is_finite():
        raise ValueError(f"amount {shares!r} is not a finite Decimal")
    units = shares.scaleb(TOKEN_DECIMALS)
    if units != units.to_integral_value():
        raise ValueError(f"amount {shares} has more than {TOKEN_DECIMALS} decimals (tokens have {TOKEN_DECIMALS})")
    if units <= 0:
        raise ValueError(f"amount {shares} must be positive")
    return int(units)


class Call(NamedTuple):
    to: str
    data: bytes
    description: str


def merge_call(condition_id: str, amount_units: int, *, neg_risk: bool, route: str = "adapter",
               addrs: Addresses | None = None) -> Call:
    """Merge ``amount_units`` complete sets of a binary condition back into collateral."""
    a = addrs or addresses()
    cid = bytes32(condition_id)
    if amount_units <= 0:
        raise ValueError("merge amount must be positive")
    if route == "adapter":
        to = a.neg_risk_ctf_adapter if neg_risk else a.ctf_adapter
        return Call(to, encode_call(SIG_MERGE, a.collateral, BYTES32_ZERO, cid, list(BINARY_PARTITION), amount_units),
                    f"{'NegRiskCtfCollateralAdapter' if neg_risk else 'CtfCollateralAdapter'}.mergePositions")
    if route == "neg-risk-adapter":
        return Call(a.neg_risk_adapter, encode_call(SIG_NR_MERGE, cid, amount_units), "NegRiskAdapter.mergePositions")
    if route == "ctf":
        if neg_risk:
            raise ValueError("a neg-risk market's positions are not merged on the CTF directly (use the adapter routes)")
        return Call(a.conditional_tokens,
                    encode_call(SIG_MERGE, a.usdc_e, BYTES32_ZERO, cid, list(BINARY_PARTITION), amount_units),
                    "ConditionalTokens.mergePositions (USDC.e collateral)")
    raise ValueError(f"unknown route {route!r}: choose from {', '.join(ROUTES)}")


def redeem_call(condition_id: str, *, neg_risk: bool, route: str = "adapter", amounts_units: Sequence[int] = (),
                addrs: Addresses | None = None) -> Call:
    """Redeem every winning token of a resolved binary condition the holder has (index sets [1, 2]:
    the contract pays the payout of whichever won). The legacy NegRiskAdapter wants the amounts
    per outcome instead ([YES units, NO units])."""
    a = addrs or addresses()
    cid = bytes32(condition_id)
    if route == "adapter":
        to = a.neg_risk_ctf_adapter if neg_risk else a.ctf_adapter
        return Call(to, encode_call(SIG_REDEEM, a.collateral, BYTES32_ZERO, cid, list(BINARY_PARTITION)),
                    f"{'NegRiskCtfCollateralAdapter' if neg_risk else 'CtfCollateralAdapter'}.redeemPositions")
    if route == "neg-risk-adapter":
        if len(amounts_units) != 2:
            raise ValueError("the legacy NegRiskAdapter redeems [YES amount, NO amount]")
        return Call(a.neg_risk_adapter, encode_call(SIG_NR_REDEEM, cid, [int(x) for x in amounts_units]),
                    "NegRiskAdapter.redeemPositions")
    if route == "ctf":
        if neg_risk:
            raise ValueError("a neg-risk market's positions are not redeemed on the CTF directly (use the adapter routes)")
        return Call(a.conditional_tokens, encode_call(SIG_REDEEM, a.usdc_e, BYTES32_ZERO, cid, list(BINARY_PARTITION)),
                    "ConditionalTokens.redeemPositions (USDC.e collateral)")
    raise ValueError(f"unknown route {route!r}: choose from {', '.join(ROUTES)}")


def approval_call(operator: str, addrs: Addresses | None = None) -> Call:
    """``ConditionalTokens.setApprovalForAll(operator, true)``: lets an adapter move the holder's tokens."""
    a = addrs or addresses()
    return Call(a.conditional_tokens, encode_call(SIG_SET_APPROVAL, operator, True), "ConditionalTokens.setApprovalForAll")


# --- RLP ----------------------------------------------------------------------------------------


def _rlp_len(n: int, offset: int) -> bytes:
    if n <= 55:
        return bytes([offset + n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(b)]) + b


def rlp_encode(item: Any) -> bytes:
    """RLP of bytes, non-negative ints (minimal big-endian, 0 = empty string) and lists of them."""
    if isinstance(item, int):
        if item < 0:
            raise ValueError("RLP integers are non-negative")
        item = item.to_bytes((item.bit_length() + 7) // 8, "big") if item else b""
    if isinstance(item, (bytes, bytearray)):
        b = bytes(item)
        if len(b) == 1 and b[0] < 0x80:
            return b
        return _rlp_len(len(b), 0x80) + b
    if isinstance(item, (list, tuple)):
        payload = b"".join(rlp_encode(x) for x in item)
        return _rlp_len(len(payload), 0xC0) + payload
    raise TypeError(f"cannot RLP-encode {type(item).__name__}")


def rlp_decode(data: bytes) -> Any:
    item, end = _rlp_item(data, 0)
    if end != len(data):
        raise ValueError("trailing bytes after RLP item")
    return item


def _rlp_item(d: bytes, i: int) -> tuple[Any, int]:
    if i >= len(d):
        raise ValueError("truncated RLP")
    p = d[i]
    if p < 0x80:
        return d[i:i + 1], i + 1
    if p <= 0xB7:
        n = p - 0x80
        if i + 1 + n > len(d):
            raise ValueError("truncated RLP string")
        s = d[i + 1:i + 1 + n]
        if n == 1 and s[0] < 0x80:
            raise ValueError("non-canonical RLP single byte")
        return s, i + 1 + n
    if p <= 0xBF:
        ll = p - 0xB7
        n = int.from_bytes(d[i + 1:i + 1 + ll], "big")
        if n <= 55 or d[i + 1] == 0:
            raise ValueError("non-canonical RLP length")
        start = i + 1 + ll
        if start + n > len(d):
            raise ValueError("truncated RLP string")
        return d[start:start + n], start + n
    if p <= 0xF7:
        n, start = p - 0xC0, i + 1
    else:
        ll = p - 0xF7
        n = int.from_bytes(d[i + 1:i + 1 + ll], "big")
        if n <= 55 or d[i + 1] == 0:
            raise ValueError("non-canonical RLP length")
        start = i + 1 + ll
    end = start + n
    if end > len(d):
        raise ValueError("truncated RLP list")
    items, j = [], start
    while j < end:
        x, j = _rlp_item(d, j)
        items.append(x)
    if j != end:
        raise ValueError("RLP list length mismatch")
    return items, end


def _int(b: bytes) -> int:
    if b[:1] == b"\x00":
        raise ValueError("RLP integer with a leading zero")
    return int.from_bytes(b, "big")


# --- EIP-1559 transactions ----------------------------------------------------------------------


class Tx(NamedTuple):
    chain_id: int
    nonce: int
    max_priority_fee_per_gas: int
    max_fee_per_gas: int
    gas: int
    to: str
    value: int
    data: bytes

    def fields(self) -> list[Any]:
        return [self.chain_id, self.nonce, self.max_priority_fee_per_gas, self.max_fee_per_gas, self.gas,
                address_bytes(self.to), self.value, self.data, []]

    def signing_hash(self) -> bytes:
        return keccak256(b"\x02" + rlp_encode(self.fields()))


class SignedTx(NamedTuple):
    tx: Tx
    raw: bytes  # 0x02 || rlp([... , yParity, r, s])
    hash: str  # 0x-hex keccak of raw: the transaction hash
    sender: str


class TxSigner:
    """Signs transactions for one EOA. The key lives only in the coincurve object."""

    def __init__(self, private_key: str | bytes) -> None:
        k = private_key if isinstance(private_key, bytes) else bytes.fromhex(
            private_key[2:] if private_key.startswith(("0x", "0X")) else private_key)
        if len(k) != 32:
            raise ValueError("a private key is 32 bytes")
        self._key = coincurve.PrivateKey(k)
        self.address = pubkey_address(self._key.public_key)

    def __repr__(self) -> str:  # never the key
        return f"TxSigner({self.address})"

    def sign(self, tx: Tx) -> SignedTx:
        sig = self._key.sign_recoverable(tx.signing_hash(), hasher=None)  # r || s || recid, low-s
        r, s, v = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:64], "big"), sig[64]
        raw = b"\x02" + rlp_encode(tx.fields() + [v, r, s])
        return SignedTx(tx=tx, raw=raw, hash="0x" + keccak256(raw).hex(), sender=self.address)


def pubkey_address(pub: coincurve.PublicKey) -> str:
    return checksum(keccak256(pub.format(compressed=False)[1:])[-20:].hex())


def checksum(hex40: str) -> str:
    h = hex40.lower().removeprefix("0x")
    digest = keccak256(h.encode()).hex()
    return "0x" + "".join(c.upper() if int(digest[i], 16) >= 8 else c for i, c in enumerate(h))


class DecodedTx(NamedTuple):
    tx: Tx
    sender: str
    hash: str


SECP256K1_HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


def decode_signed(raw: bytes) -> DecodedTx:
    """Decode a signed type-2 transaction and recover its sender (what a node does before it
    accepts one). ValueError for anything else: another type, bad RLP, high-s, a bad signature."""
    if raw[:1] != b"\x02":
        raise ValueError("only EIP-1559 (type 2) transactions are accepted")
    f = rlp_decode(raw[1:])
    if not isinstance(f, list) or len(f) != 12:
        raise ValueError("a type-2 transaction has 12 fields")
    chain_id, nonce, prio, fee, gas = (_int(x) for x in f[:5])
    to, value, data, access, v, r, s = f[5], _int(f[6]), f[7], f[8], _int(f[9]), _int(f[10]), _int(f[11])
    if len(to) != 20:
        raise ValueError("contract creation or bad 'to'")
    if access != []:
        raise ValueError("access lists are not used here")
    if v not in (0, 1) or not 0 < r < 1 << 256 or not 0 < s <= SECP256K1_HALF_N:
        raise ValueError("invalid signature values")
    tx = Tx(chain_id, nonce, prio, fee, gas, checksum(to.hex()), value, bytes(data))
    try:
        pub = coincurve.PublicKey.from_signature_and_message(r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v]),
                                                             tx.signing_hash(), hasher=None)
    except Exception as exc:  # noqa: BLE001 - any recovery failure is an invalid signature
        raise ValueError(f"invalid signature: {exc}") from None
    return DecodedTx(tx=tx, sender=pubkey_address(pub), hash="0x" + keccak256(raw).hex())
