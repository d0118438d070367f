"""Polygon JSON-RPC: send a position action (merge / redeem) from an EOA and wait for it.

The EOA path of docs.polymarket.com (a wallet that holds its own tokens pays its own gas): read
``eth_chainId`` (refuse a chain other than the one configured), the pending nonce
(``eth_getTransactionCount``), fee fields (``eth_maxPriorityFeePerGas`` and the latest block's
``baseFeePerGas``: max fee = 2 x base fee + tip, capped by ``max_fee_gwei``), ``eth_estimateGas``
(+20 % headroom), sign (:class:`arbkit.venues.polymarket.ctf.TxSigner`), ``eth_sendRawTransaction``,
then poll ``eth_getTransactionReceipt`` until mined. Balances before and after come from
``eth_call`` (ERC-1155 ``balanceOf`` on the CTF, ERC-20 ``balanceOf`` on pUSD) so what the action
returned is measured, not assumed — a redeem through the wrong collateral route succeeds on chain
and pays nothing, which the balance delta shows.

Proxy, Safe and deposit wallets do not send their own transactions: the venue's relayer does
(docs.polymarket.com "Execute Gasless Transactions"). That path is not implemented here; see
docs/venues/polymarket.md for what is missing.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import aiohttp

from arbkit.venues.polymarket import ctf


class RpcError(Exception):
    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class TxFailed(Exception):
    """Mined but reverted (status 0), or not mined in time."""

    def __init__(self, message: str, tx_hash: str = "") -> None:
        super().__init__(message)
        self.tx_hash = tx_hash


def _hex(n: int) -> str:
    return hex(n)


class JsonRpc:
    def __init__(self, url: str, session: aiohttp.ClientSession, timeout_s: float = 15.0) -> None:
        self.url = url
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._ids = itertools.count(1)

    async def call(self, method: str, *params: Any) -> Any:
        body = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)}
        async with self.session.post(self.url, json=body, timeout=self.timeout) as r:
            text = await r.text()
            if r.status != 200:
                raise RpcError(f"{method}: HTTP {r.status}: {text[:200]}")
        try:
            doc = __import__("json").loads(text)
        except ValueError:
            raise RpcError(f"{method}: answer is not JSON: {text[:200]}") from None
        if doc.get("error"):
            e = doc["error"]
            raise RpcError(f"{method}: {e.get('message', e)}", e.get("code"))
        return doc.get("result")

    async def chain_id(self) -> int:
        return int(await self.call("eth_chainId"), 16)

    async def nonce(self, address: str) -> int:
        return int(await self.call("eth_getTransactionCount", address, "pending"), 16)

    async def erc1155_balance(self, token_contract: str, holder: str, token_id: int) -> int:
        data = ctf.encode_call(ctf.SIG_BALANCE_OF_1155, holder, token_id)
        return int(await self.call("eth_call", {"to": token_contract, "data": "0x" + data.hex()}, "latest"), 16)

    async def erc20_balance(self, token_contract: str, holder: str) -> int:
        data = ctf.encode_call(ctf.SIG_BALANCE_OF_20, holder)
        return int(await self.call("eth_call", {"to": token_contract, "data": "0x" + data.hex()}, "latest"), 16)

    async def is_approved(self, conditional_tokens: str, holder: str, operator: str) -> bool:
        data = ctf.encode_call(ctf.SIG_IS_APPROVED, holder, operator)
        return int(await self.call("eth_call", {"to": conditional_tokens, "data": "0x" + data.hex()}, "latest"), 16) == 1

    async def fees(self, max_fee_wei: int) -> tuple[int, int]:
        """(max priority fee, max fee) per gas, in wei."""
        tip = int(await self.call("eth_maxPriorityFeePerGas"), 16)
        block = await self.call("eth_getBlockByNumber", "latest", False)
        base = int(block["baseFeePerGas"], 16)
        max_fee = 2 * base + tip
        if max_fee > max_fee_wei:
            raise RpcError(f"gas is too dear: max fee {max_fee} wei/gas (base {base}, tip {tip}) is above the cap "
                           f"{max_fee_wei}")
        return tip, max_fee

    async def estimate_gas(self, sender: str, call: ctf.Call) -> int:
        est = int(await self.call("eth_estimateGas", {"from": sender, "to": call.to, "data": "0x" + call.data.hex(),
                                                      "value": "0x0"}), 16)
        return est * 12 // 10

    async def receipt(self, tx_hash: str, timeout_s: float, poll_s: float) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            rec = await self.call("eth_getTransactionReceipt", tx_hash)
            if rec is not None:
                return rec
            if asyncio.get_running_loop().time() >= deadline:
                raise TxFailed(f"transaction {tx_hash} not mined within {timeout_s:g} s (it may still be; check "
                               "the chain before sending again: the nonce is spent only once it is mined)", tx_hash)
            await asyncio.sleep(poll_s)


async def prepare(rpc: JsonRpc, signer: ctf.TxSigner, call: ctf.Call, *, chain_id: int,
                  max_fee_wei: int) -> ctf.SignedTx:
    """Build and sign the transaction for ``call`` (chain checked, nonce, fees and gas read)."""
    got = await rpc.chain_id()
    if got != chain_id:
        raise RpcError(f"the endpoint serves chain {got}, not {chain_id}: refusing to sign for it")
    nonce = await rpc.nonce(signer.address)
    tip, max_fee = await rpc.fees(max_fee_wei)
    gas = await rpc.estimate_gas(signer.address, call)
    tx = ctf.Tx(chain_id=chain_id, nonce=nonce, max_priority_fee_per_gas=tip, max_fee_per_gas=max_fee, gas=gas,
                to=call.to, value=0, data=call.data)
    return signer.sign(tx)


async def send(rpc: JsonRpc, signed: ctf.SignedTx, *, timeout_s: float = 120.0, poll_s: float = 1.0) -> dict[str, Any]:
    """Broadcast and wait for the receipt; raises TxFailed on a revert (status 0x0)."""
    got = await rpc.call("eth_sendRawTransaction", "0x" + signed.raw.hex())
    if isinstance(got, str) and got.lower() != signed.hash.lower():
        raise RpcError(f"the endpoint answered hash {got}, we signed {signed.hash}")
    rec = await rpc.receipt(signed.hash, timeout_s, poll_s)
    if int(rec.get("status", "0x0"), 16) != 1:
        raise TxFailed(f"transaction {signed.hash} reverted (block {rec.get('blockNumber')})", signed.hash)
    return rec
