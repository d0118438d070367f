"""Polymarket facts: endpoints, contract addresses, EIP-712 domains and type strings, limits.

CLOB V2 (live since 2026-04-28): the order struct has no fee, nonce, taker or expiration fields
(expiration travels in the request body only); domain "Polymarket CTF Exchange" version "2".
Addresses and rounding rules mirror py-clob-client-v2 1.2.1 (the official reference client).
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

# --- endpoints ------------------------------------------------------------------------------
CLOB_REST_URL = "https://clob.polymarket.com"
WS_MARKET_URL = "wss://ws-subscriptions-clob.polymarket.com/ws/market"
WS_USER_URL = "wss://ws-subscriptions-clob.polymarket.com/ws/user"

PATH_TIME = "/time"
PATH_BOOK = "/book"
PATH_BOOKS = "/books"
PATH_TICK_SIZE = "/tick-size"
PATH_NEG_RISK = "/neg-risk"
PATH_FEE_RATE = "/fee-rate"
PATH_CLOB_MARKET = "/clob-markets/"  # + condition id: compact market info (t, mts, nr, fd, mos)
PATH_MARKET_BY_TOKEN = "/markets-by-token/"  # + token id -> {"condition_id": ...}
PATH_CREATE_API_KEY = "/auth/api-key"
PATH_DERIVE_API_KEY = "/auth/derive-api-key"
PATH_POST_ORDER = "/order"
PATH_POST_ORDERS = "/orders"
PATH_CANCEL = "/order"
PATH_CANCEL_ORDERS = "/orders"
PATH_CANCEL_ALL = "/cancel-all"
PATH_GET_ORDER = "/data/order/"
PATH_ORDERS = "/data/orders"
PATH_TRADES = "/data/trades"
PATH_BALANCE_ALLOWANCE = "/balance-allowance"

INITIAL_CURSOR = "MA=="
END_CURSOR = "LTE="

# --- chain, contracts -----------------------------------------------------------------------
POLYGON = 137
AMOY = 80002


class ContractAddresses(NamedTuple):
    exchange_v2: str
    neg_risk_exchange_v2: str
    neg_risk_adapter: str
    collateral: str
    conditional_tokens: str


CONTRACTS: dict[int, ContractAddresses] = {
    POLYGON: ContractAddresses(
        exchange_v2="0xE111180000d2663C0091e4f400237545B87B996B",
        neg_risk_exchange_v2="0xe2222d279d744050d28e00520010520000310F59",
        neg_risk_adapter="0xd91E80cF2E7be2e162c6513ceD06f1dD0dA35296",
        collateral="0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB",
        conditional_tokens="0x4D97DCd97eC945f40cF65F87097ACe5EA0476045",
    ),
    AMOY: ContractAddresses(
        exchange_v2="0xE111180000d2663C0091e4f400237545B87B996B",
        neg_risk_exchange_v2="0xe2222d279d744050d28e00520010520000310F59",
        neg_risk_adapter="0xd91E80cF2E7be2e162c6513ceD06f1dD0dA35296",
        collateral="0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB",
        conditional_tokens="0x69308FB512518e39F9b16112fA8d994F4e2Bf8bB",
    ),
}


def exchange_address(chain_id: int, neg_risk: bool) -> str:
    """The V2 exchange an order is signed for: neg-risk markets use their own exchange."""
    try:
        c = CONTRACTS[chain_id]
    except KeyError:
        raise ValueError(f"unknown Polymarket chain id {chain_id}") from None
    return c.neg_risk_exchange_v2 if neg_risk else c.exchange_v2


ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
BYTES32_ZERO = "0x" + "00" * 32

# --- EIP-712 ----------------------------------------------------------------------------------
EXCHANGE_DOMAIN_NAME = "Polymarket CTF Exchange"
EXCHANGE_DOMAIN_VERSION = "2"
DOMAIN_TYPE_STRING = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
ORDER_TYPE_STRING = (
    "Order(uint256 salt,address maker,address signer,uint256 tokenId,"
    "uint256 makerAmount,uint256 takerAmount,uint8 side,uint8 signatureType,"
    "uint256 timestamp,bytes32 metadata,bytes32 builder)"
)

CLOB_AUTH_DOMAIN_NAME = "ClobAuthDomain"
CLOB_AUTH_DOMAIN_VERSION = "1"
CLOB_AUTH_DOMAIN_TYPE_STRING = "EIP712Domain(string name,string version,uint256 chainId)"
CLOB_AUTH_TYPE_STRING = "ClobAuth(address address,string timestamp,uint256 nonce,string message)"
CLOB_AUTH_MESSAGE = "This message attests that I control the given wallet"


class SignatureType:
    """V2 signature types (uint8 in the order)."""

    EOA = 0  # the signer's own wallet holds the funds
    POLY_PROXY = 1  # an EOA that owns a Polymarket proxy wallet (the maker/funder)
    POLY_GNOSIS_SAFE = 2  # an EOA that owns a Polymarket Gnosis safe (the maker/funder)
    POLY_1271 = 3  # deposit wallet (ERC-1271): maker = signer = the wallet, ERC-7739 wrapped signature


# Deposit-wallet (POLY_1271) order signatures: ERC-7739 "TypedDataSign" nesting, verified by the
# wallet's isValidSignature (py-clob-client-v2 1.2.1 order_utils/exchange_order_builder_v2.py
# _build_poly_1271_order_signature; docs.polymarket.com trading/deposit-wallets; checked 2026-12-04).
SOLADY_TYPE_STRING = (
    "TypedDataSign(Order contents,string name,string version,uint256 chainId,"
    "address verifyingContract,bytes32 salt)" + ORDER_TYPE_STRING
)
DEPOSIT_WALLET_DOMAIN_NAME = "DepositWallet"
DEPOSIT_WALLET_DOMAIN_VERSION = "1"


SIDE_BUY = 0
SIDE_SELL = 1

# --- numbers ----------------------------------------------------------------------------------
TOKEN_DECIMALS = 6  # collateral (pUSD) and conditional tokens both have 6 decimals on chain
SIZE_DIGITS = 6  # our integer lots for Polymarket books: micro-shares


class RoundConfig(NamedTuple):
    price: int  # decimals a price is rounded to
    size: int  # decimals a size is rounded (down) to
    amount: int  # decimals a maker/taker amount may carry


# The official rounding per tick size (py-clob-client-v2 ROUNDING_CONFIG).
ROUNDING_CONFIG: dict[Decimal, RoundConfig] = {
    Decimal("0.1"): RoundConfig(1, 2, 3),
    Decimal("0.01"): RoundConfig(2, 2, 4),
    Decimal("0.005"): RoundConfig(3, 2, 5),
    Decimal("0.0025"): RoundConfig(4, 2, 6),
    Decimal("0.001"): RoundConfig(3, 2, 5),
    Decimal("0.0001"): RoundConfig(4, 2, 6),
}

# --- limits -----------------------------------------------------------------------------------
MAX_ASSETS_PER_CONNECTION = 500
DEFAULT_ASSETS_PER_CONNECTION = 200
PING_INTERVAL_S = 10.0  # the market channel wants a text "PING" about every 10 s
MAX_BATCH_ORDERS = 15  # POST /orders accepts up to 15 orders per request

VENUE_NAME = "polymarket"
