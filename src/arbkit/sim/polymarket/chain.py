"""A Polygon JSON-RPC endpoint for the simulator: enough of a node to merge and redeem.

It verifies a signed transaction the way a node and the contracts would — type-2 RLP, the chain id,
the signature (the sender is recovered, never taken from the request), the sender's next nonce —
then decodes the call and applies it to the matching engine's accounts:

* ``ConditionalTokens.setApprovalForAll(operator, bool)`` records the approval;
* ``CtfCollateralAdapter`` / ``NegRiskCtfCollateralAdapter`` ``mergePositions(_, _, conditionId,
  [1, 2], amount)`` burns ``amount`` of each outcome and pays ``amount`` collateral (needs the
  adapter approved on the CTF, as on chain); ``redeemPositions(_, _, conditionId, [1, 2])`` pays 1
  per winning share of a resolved condition and burns the losers (0 paid is a success, as on chain);
* the legacy NegRiskAdapter and direct-CTF shapes the same way.

A transaction that passes the node checks but whose call fails is mined with ``status 0x0``
(its nonce is used), as on chain; one that fails the node checks is refused with a JSON-RPC error
(nothing changes). Reads: ``eth_chainId``, ``eth_blockNumber``, ``eth_getTransactionCount``,
``eth_getBlockByNumber`` (``baseFeePerGas``), ``eth_maxPriorityFeePerGas``, ``eth_gasPrice``,
``eth_estimateGas`` (fails with "execution reverted" when the call would), ``eth_call``
(``balanceOf`` on the CTF and on pUSD, ``isApprovedForAll``), ``eth_getTransactionReceipt``.
Simplifications: every transaction is its own block, gas is not charged (no POL balance), and a
nonce above the next one is refused instead of queued.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from aiohttp import web

from arbkit.sim.accounts import cash_to_units
from arbkit.sim.events import Outcome
from arbkit.venues.polymarket import ctf

log = logging.getLogger("arbkit.sim.polymarket.chain")

GWEI = 10 ** 9
BASE_FEE = 30 * GWEI
TIP = 30 * GWEI
GAS = {"mergePositions": 180_000, "redeemPositions": 160_000, "setApprovalForAll": 50_000}
LOTS_TO_UNITS = 10 ** 4  # engine lots are 0.01 share; chain units are 1e-6 share


class Revert(Exception):
    pass


class SimChain:
    def __init__(self, engine: Any, state: Any, chain_id: int, currency: str) -> None:
        self.engine = engine
        self.state = state
        self.chain_id = chain_id
        self.currency = currency
        a = ctf.addresses(chain_id)
        self.addrs = a
        lo = str.lower
        self.ctf = lo(a.conditional_tokens)
        self.pusd = lo(a.collateral)
        self.adapters = {lo(a.ctf_adapter), lo(a.neg_risk_ctf_adapter)}
        self.neg_risk_adapter = lo(a.neg_risk_adapter)
        self.nonces: dict[str, int] = {}
        self.approvals: set[tuple[str, str]] = set()  # (holder, operator), lower case
        self.receipts: dict[str, dict[str, Any]] = {}
        self.block = 1_000_000
        self.refused = 0  # transactions refused by the node checks

    # --- helpers ------------------------------------------------------------------------------

    def _tokens(self) -> dict[int, tuple[str, Outcome]]:
        out: dict[int, tuple[str, Outcome]] = {}
        for cid, info in self.state.markets.items():
            out[int(info.yes.token_id)] = (cid, Outcome.YES)
            out[int(info.no.token_id)] = (cid, Outcome.NO)
        return out

    def _market(self, condition_id: str) -> Any:
        info = self.state.markets.get(condition_id.lower()) or self.state.markets.get(condition_id)
        if info is None:
            raise Revert("condition not prepared")
        return info

    def _account(self, addr: str) -> str:
        acct = addr.lower()
        if not self.engine.accounts.exists(acct):
            raise Revert("no such holder")
        return acct

    # --- the calls ----------------------------------------------------------------------------

    def _apply(self, sender: str, to: str, data: bytes, commit: bool) -> None:
        """Run (``commit``) or only check a call from ``sender``; raises Revert."""
        try:
            name, args = ctf.decode_call(data)
        except ValueError as exc:
            raise Revert(str(exc)) from None
        to = to.lower()
        if to == self.ctf and name == "setApprovalForAll":
            if commit:
                key = (sender.lower(), args[0].lower())
                (self.approvals.add if args[1] else self.approvals.discard)(key)
            return
        if to in self.adapters or to == self.neg_risk_adapter or to == self.ctf:
            if to in self.adapters or to == self.neg_risk_adapter:
                if (sender.lower(), to) not in self.approvals:
                    raise Revert("ERC1155: need operator approval for 3rd party transfers")
            if name == "mergePositions":
                if len(args) == 5:
                    cid, partition, amount = args[2], args[3], args[4]
                    if sorted(partition) != [1, 2]:
                        raise Revert("got invalid partition")
                else:
                    cid, amount = args[0], args[1]
                self._merge(sender, cid, amount, commit)
                return
            if name == "redeemPositions":
                cid = args[2] if len(args) == 4 else args[0]
                if len(args) == 4 and sorted(args[3]) != [1, 2]:
                    raise Revert("this simulator redeems binary conditions with index sets [1, 2]")
                self._redeem(sender, cid, commit)
                return
        raise Revert(f"{name} is not callable on {to}")

    def _merge(self, sender: str, condition_id: str, amount: int, commit: bool) -> None:
        info = self._market(condition_id)
        acct = self._account(sender)
        if amount <= 0 or amount % LOTS_TO_UNITS:
            raise Revert(f"amount {amount} is not a whole number of the simulator's 0.01-share lots")
        lots = amount // LOTS_TO_UNITS
        mid = info.condition_id
        for o in (Outcome.YES, Outcome.NO):
            if self.engine.accounts.pos_available(acct, mid, o) < lots:
                raise Revert("ERC1155: burn amount exceeds balance")
        if commit:
            self.engine.merge_for(acct, mid, Decimal(lots).scaleb(-2))

    def _redeem(self, sender: str, condition_id: str, commit: bool) -> None:
        info = self._market(condition_id)
        acct = self._account(sender)
        if self.engine.resolved(info.condition_id) is None:
            raise Revert("result for condition not received yet")
        if commit:
            self.engine.redeem_for(acct, info.condition_id)

    def _read(self, to: str, data: bytes) -> int:
        name, args = ctf.decode_call(data)
        to = to.lower()
        if to == self.pusd and name == "balanceOf" and len(args) == 1:
            acct = args[0].lower()
            if not self.engine.accounts.exists(acct):
                return 0
            return cash_to_units(self.engine.accounts.balance(acct, self.currency).total)
        if to == self.ctf and name == "balanceOf" and len(args) == 2:
            tok = self._tokens().get(args[1])
            acct = args[0].lower()
            if tok is None or not self.engine.accounts.exists(acct):
                return 0
            return self.engine.accounts.pos_total(acct, tok[0], tok[1]) * LOTS_TO_UNITS
        if to == self.ctf and name == "isApprovedForAll":
            return int((args[0].lower(), args[1].lower()) in self.approvals)
        raise Revert(f"{name} is not readable on {to}")

    # --- JSON-RPC -----------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except Exception:  # noqa: BLE001
            return web.json_response({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}})
        if isinstance(body, list):
            return web.json_response([self.dispatch(b) for b in body])
        return web.json_response(self.dispatch(body))

    def dispatch(self, body: Any) -> dict[str, Any]:
        rid = body.get("id") if isinstance(body, dict) else None
        try:
            method = body["method"]
            params = body.get("params") or []
            return {"jsonrpc": "2.0", "id": rid, "result": self._method(method, params)}
        except _RpcError as exc:
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": exc.code, "message": str(exc)}}
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32602, "message": f"invalid params: {exc}"}}

    def _method(self, method: str, p: list[Any]) -> Any:
        if method == "eth_chainId":
            return hex(self.chain_id)
        if method == "eth_blockNumber":
            return hex(self.block)
        if method == "eth_getTransactionCount":
            return hex(self.nonces.get(p[0].lower(), 0))
        if method == "eth_getBlockByNumber":
            return {"number": hex(self.block), "baseFeePerGas": hex(BASE_FEE), "transactions": []}
        if method == "eth_maxPriorityFeePerGas":
            return hex(TIP)
        if method == "eth_gasPrice":
            return hex(BASE_FEE + TIP)
        if method == "eth_call":
            try:
                return "0x" + self._read(p[0]["to"], bytes.fromhex(p[0]["data"].removeprefix("0x"))).to_bytes(32, "big").hex()
            except (Revert, ValueError) as exc:
                raise _RpcError(3, f"execution reverted: {exc}") from None
        if method == "eth_estimateGas":
            data = bytes.fromhex(p[0].get("data", "0x").removeprefix("0x"))
            try:
                self._apply(p[0]["from"], p[0]["to"], data, commit=False)
            except Revert as exc:
                raise _RpcError(3, f"execution reverted: {exc}") from None
            return hex(GAS.get(ctf.decode_call(data)[0], 100_000))
        if method == "eth_sendRawTransaction":
            return self._send(bytes.fromhex(p[0].removeprefix("0x")))
        if method == "eth_getTransactionReceipt":
            return self.receipts.get(p[0].lower())
        raise _RpcError(-32601, f"the method {method} does not exist/is not available")

    def _send(self, raw: bytes) -> str:
        try:
            d = ctf.decode_signed(raw)
        except ValueError as exc:
            self.refused += 1
            raise _RpcError(-32000, f"invalid sender: {exc}" if "signature" in str(exc) else f"rlp: {exc}") from None
        tx, sender = d.tx, d.sender.lower()
        if tx.chain_id != self.chain_id:
            self.refused += 1
            raise _RpcError(-32000, f"invalid chain id {tx.chain_id} (this chain is {self.chain_id})")
        expected = self.nonces.get(sender, 0)
        if tx.nonce < expected:
            self.refused += 1
            raise _RpcError(-32000, f"nonce too low: next nonce {expected}, tx nonce {tx.nonce}")
        if tx.nonce > expected:
            self.refused += 1
            raise _RpcError(-32000, f"nonce too high: next nonce {expected}, tx nonce {tx.nonce} (not queued here)")
        if tx.max_fee_per_gas < BASE_FEE:
            self.refused += 1
            raise _RpcError(-32000, f"max fee per gas less than block base fee: {tx.max_fee_per_gas} < {BASE_FEE}")
        if not self.engine.accounts.exists(sender):
            self.refused += 1
            raise _RpcError(-32000, "insufficient funds for gas * price + value")
        self.nonces[sender] = expected + 1
        self.block += 1
        status, reason = 1, ""
        try:
            self._apply(sender, tx.to, tx.data, commit=True)
        except Revert as exc:
            status, reason = 0, str(exc)
        except ValueError as exc:  # the engine refused: a revert on chain
            status, reason = 0, str(exc)
        name = ""
        try:
            name = ctf.decode_call(tx.data)[0]
        except ValueError:
            pass
        self.receipts[d.hash.lower()] = {
            "transactionHash": d.hash, "status": hex(status), "blockNumber": hex(self.block),
            "from": d.sender, "to": tx.to, "gasUsed": hex(GAS.get(name, 100_000) if status else 60_000),
            "effectiveGasPrice": hex(BASE_FEE + min(TIP, tx.max_priority_fee_per_gas)), "logs": [],
            "type": "0x2",
        }
        log.info("sim chain: %s %s from %s -> %s (%s)", d.hash, name or "?", d.sender, "ok" if status else "reverted",
                 reason)
        return d.hash


class _RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
