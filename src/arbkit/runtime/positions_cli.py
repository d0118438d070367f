"""``arbkit positions merge|redeem``: Polymarket position actions on chain, by hand.

* ``merge --market CONDITION_ID --amount SHARES`` turns complete sets (YES + NO) back into
  collateral: exactly 1 per set.
* ``redeem --market CONDITION_ID`` turns the winning tokens of a resolved market into collateral
  (1 per winning share; losing tokens are burned for nothing).

Both sign an EIP-1559 transaction with the account's own key (an EOA holding its tokens: the
configuration's ``signature_type = 0``) and send it through a Polygon JSON-RPC endpoint
(``--rpc-url``; with ``--info-file`` the simulator's). The token balances and the pUSD balance are
read before and after, so what came back is measured. Proxy, Safe and deposit wallets act through
the venue's relayer, which this command does not implement: it refuses them, saying so.

Every action is journaled (``PositionsMerged`` / ``PositionsRedeemed`` or ``PositionActionFailed``,
correlation id ``position:<action>:<condition id>``). A real endpoint (anything but 127.0.0.1 /
localhost) needs ``--live``; the transaction is printed and confirmed first (or ``--yes``). The key
comes from the environment variable or key file the configuration names (or the simulator's test
account), never from the command line.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

import typer

from arbkit.core.enums import Venue

app = typer.Typer(help="Polymarket positions on chain: merge complete sets, redeem resolved winners.",
                  no_args_is_help=True, add_completion=False)

MAX_FEE_GWEI_DEFAULT = 500


class PositionsError(Exception):
    pass


def _loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in ("127.0.0.1", "localhost", "::1")


def _key_from(vcfg: Any, env: dict[str, str]) -> str:
    if getattr(vcfg, "private_key_env", None):
        key = env.get(vcfg.private_key_env, "")
        if not key:
            raise PositionsError(f"environment variable {vcfg.private_key_env} (private_key_env) is not set")
        return key.strip()
    if getattr(vcfg, "private_key_file", None):
        try:
            return Path(vcfg.private_key_file).read_text().strip()
        except OSError as exc:
            raise PositionsError(f"private_key_file {vcfg.private_key_file}: {exc.strerror}") from None
    raise PositionsError("the polymarket venue names no private_key_env or private_key_file")


async def _market(rest_url: str, condition_id: str, http: Any) -> dict[str, Any]:
    async with http.get(f"{rest_url}/markets/{condition_id}") as r:
        if r.status != 200:
            raise PositionsError(f"GET /markets/{condition_id}: HTTP {r.status} ({(await r.text())[:120]})")
        return await r.json()


async def run_action(action: str, *, market: str, amount: Optional[Decimal], config: Optional[Path],
                     info_file: Optional[Path], account: int, journal: Optional[Path], rpc_url: Optional[str],
                     route: str, approve: bool, live: bool, yes: bool, timeout_s: float,
                     max_fee_gwei: int) -> dict[str, Any]:
    import aiohttp

    from arbkit.execution.settlement import PositionActionFailed, PositionsMerged, PositionsRedeemed
    from arbkit.runtime.orders_cli import OrderJournal, OrdersError, VenueName, resolve_target
    from arbkit.venues.polymarket import chain, ctf

    try:
        target = resolve_target(VenueName.polymarket, config, info_file, account, journal)
    except OrdersError as exc:
        raise PositionsError(str(exc)) from None
    vcfg = target.vcfg
    if int(getattr(vcfg, "signature_type", 0) or 0) != 0:
        raise PositionsError(
            f"signature_type {vcfg.signature_type}: the tokens are held by a proxy, Safe or deposit wallet, which acts "
            "through Polymarket's relayer; this command sends EOA transactions only (see docs/venues/polymarket.md, "
            "'Merge and redeem': what the relayer path still needs)")
    if rpc_url is None and info_file is not None:
        rpc_url = json.loads(Path(info_file).read_text())["polymarket"].get("rpc_url")
    rpc_url = rpc_url or os.environ.get("ARBKIT_POLYGON_RPC_URL")
    if not rpc_url:
        raise PositionsError("give --rpc-url (a Polygon JSON-RPC endpoint) or set ARBKIT_POLYGON_RPC_URL")
    if not _loopback(rpc_url) and not live:
        raise PositionsError(f"{rpc_url} is a real endpoint: this moves real tokens; add --live to mean it")
    if route not in ctf.ROUTES:
        raise PositionsError(f"--route must be one of {', '.join(ctf.ROUTES)}")
    cid = market.strip().lower()
    if not (cid.startswith("0x") and len(cid) == 66):
        raise PositionsError("--market takes the condition id (0x + 64 hex)")
    signer = ctf.TxSigner(_key_from(vcfg, target.env))
    holder = signer.address
    addrs = ctf.addresses(vcfg.chain_id)
    oj = OrderJournal(target.journal_path)
    corr = f"position:{action}:{cid}"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=max(15.0, timeout_s))) as http:
            info = await _market(vcfg.rest_url, cid, http)
            neg_risk = bool(info.get("neg_risk"))
            tokens = [(str(t["token_id"]), str(t.get("outcome", "")), bool(t.get("winner"))) for t in info.get("tokens", [])]
            if len(tokens) != 2:
                raise PositionsError(f"market {cid} does not list two tokens")
            rpc = chain.JsonRpc(rpc_url, http)
            before = {tid: await rpc.erc1155_balance(addrs.conditional_tokens, holder, int(tid)) for tid, _o, _w in tokens}
            cash_before = await rpc.erc20_balance(addrs.collateral, holder)
            if action == "merge":
                if amount is None:
                    raise PositionsError("merge needs --amount SHARES (complete sets)")
                units = ctf.share_units(amount)
                if min(before.values()) < units:
                    raise PositionsError(f"not enough complete sets: holding {[Decimal(v).scaleb(-6) for v in before.values()]} "
                                         f"of the two outcomes, asked to merge {amount}")
                call = ctf.merge_call(cid, units, neg_risk=neg_risk, route=route, addrs=addrs)
                expect = units
            else:
                if not info.get("closed") or not any(w for _t, _o, w in tokens):
                    raise PositionsError(f"market {cid} is not resolved (closed={info.get('closed')}, no winner listed): "
                                         "nothing is redeemable yet")
                win_units = sum(before[t] for t, _o, w in tokens if w)
                if win_units == 0:
                    raise PositionsError(f"{holder} holds no winning tokens of {cid}: a redeem would pay nothing")
                amounts = [before[tokens[0][0]], before[tokens[1][0]]]
                call = ctf.redeem_call(cid, neg_risk=neg_risk, route=route, amounts_units=amounts, addrs=addrs)
                expect = win_units
            steps: list[ctf.Call] = []
            operator = call.to
            if route != "ctf" and not await rpc.is_approved(addrs.conditional_tokens, holder, operator):
                if not approve:
                    raise PositionsError(f"{operator} ({call.description.split('.')[0]}) may not move {holder}'s tokens yet: "
                                         "add --approve to send setApprovalForAll(operator, true) first")
                steps.append(ctf.approval_call(operator, addrs))
            steps.append(call)
            if not _loopback(rpc_url) and not yes:
                typer.echo(f"{action} on chain {vcfg.chain_id} from {holder}: " + "; ".join(
                    f"{c.description} -> {c.to}" for c in steps) + f"; expected return {Decimal(expect).scaleb(-6)} pUSD")
                if not sys.stdin.isatty() or not typer.confirm("send?", default=False):
                    raise PositionsError("not confirmed (give --yes to skip the question)")
            receipts = []
            for c in steps:
                signed = await chain.prepare(rpc, signer, c, chain_id=vcfg.chain_id, max_fee_wei=max_fee_gwei * 10 ** 9)
                try:
                    receipts.append((c, await chain.send(rpc, signed, timeout_s=timeout_s, poll_s=0.2 if _loopback(rpc_url) else 2.0)))
                except (chain.TxFailed, chain.RpcError) as exc:
                    oj.append(PositionActionFailed(venue=Venue.POLYMARKET, market_id=cid, action=action, reason=str(exc),
                                                   tx_hash=getattr(exc, "tx_hash", "") or signed.hash,
                                                   correlation_id=corr, ts_recv=time.time_ns()))
                    await oj.flush()
                    raise PositionsError(f"{c.description}: {exc}") from None
            after = {tid: await rpc.erc1155_balance(addrs.conditional_tokens, holder, int(tid)) for tid, _o, _w in tokens}
            cash_after = await rpc.erc20_balance(addrs.collateral, holder)
            returned = Decimal(cash_after - cash_before).scaleb(-6)
            rec = receipts[-1][1]
            tx_hash, block = rec["transactionHash"], int(rec.get("blockNumber", "0x0"), 16)
            if action == "merge":
                ev: Any = PositionsMerged(venue=Venue.POLYMARKET, market_id=cid, neg_risk=neg_risk, sets=amount,
                                          collateral_returned=returned, tx_hash=tx_hash, route="eoa", block_number=block,
                                          correlation_id=corr, ts_recv=time.time_ns())
            else:
                ev = PositionsRedeemed(venue=Venue.POLYMARKET, market_id=cid, neg_risk=neg_risk,
                                       amounts={f"polymarket:{t}": Decimal(before[t] - after[t]).scaleb(-6) for t, _o, _w in tokens},
                                       collateral_returned=returned, tx_hash=tx_hash, route="eoa", block_number=block,
                                       correlation_id=corr, ts_recv=time.time_ns())
            oj.append(ev)
            await oj.flush()
            problem = "" if returned == Decimal(expect).scaleb(-6) else (
                f"returned {returned} pUSD, expected {Decimal(expect).scaleb(-6)}: check the route (--route) and the chain")
            return {"action": action, "market": cid, "holder": holder, "neg_risk": neg_risk, "route": route,
                    "transactions": [{"call": c.description, "to": c.to, "tx_hash": r["transactionHash"]} for c, r in receipts],
                    "collateral_returned": str(returned), "expected": str(Decimal(expect).scaleb(-6)),
                    "tokens_before": {t: str(Decimal(before[t]).scaleb(-6)) for t in before},
                    "tokens_after": {t: str(Decimal(after[t]).scaleb(-6)) for t in after},
                    "journal": str(oj.path), "correlation_id": corr, "problem": problem}
    finally:
        await oj.close()


def _go(action: str, as_json: bool, **kw: Any) -> None:
    try:
        res = asyncio.run(run_action(action, **kw))
    except PositionsError as exc:
        typer.echo(f"arbkit positions {action}: {exc}", err=True)
        raise typer.Exit(2) from None
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback (and never the key)
        typer.echo(f"arbkit positions {action}: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(res))
    else:
        for t in res["transactions"]:
            typer.echo(f"{t['call']}: {t['tx_hash']}")
        typer.echo(f"{action}: {res['collateral_returned']} pUSD returned to {res['holder']} (journal {res['journal']})")
    if res["problem"]:
        typer.echo(f"arbkit positions {action}: {res['problem']}", err=True)
        raise typer.Exit(2)


_market_opt = typer.Option(..., "--market", help="The market's condition id (0x...).")
_config_opt = typer.Option(None, "--config", help="Node configuration (its [venues.polymarket] and journal).")
_info_opt = typer.Option(None, "--info-file", help="A running `arbkit sim --info-file PATH` (its test account and /rpc).")
_account_opt = typer.Option(0, "--account", help="Simulator test account index.")
_journal_opt = typer.Option(None, "--journal", help="Journal path (with --info-file and no --config).")
_rpc_opt = typer.Option(None, "--rpc-url", help="Polygon JSON-RPC endpoint (default: ARBKIT_POLYGON_RPC_URL, or the simulator's).")
_route_opt = typer.Option("adapter", "--route", help="adapter (V2 pUSD collateral adapters), ctf (legacy USDC.e positions) or neg-risk-adapter (legacy).")
_approve_opt = typer.Option(False, "--approve", help="Send setApprovalForAll(adapter, true) first when it is missing.")
_live_opt = typer.Option(False, "--live", help="Required for a real (non-loopback) endpoint.")
_yes_opt = typer.Option(False, "--yes", help="Do not ask for confirmation on a real endpoint.")
_json_opt = typer.Option(False, "--json", help="One JSON object on stdout.")
_timeout_opt = typer.Option(120.0, "--timeout", help="Seconds to wait for each transaction to be mined.")
_fee_opt = typer.Option(MAX_FEE_GWEI_DEFAULT, "--max-fee-gwei", help="Refuse when the max fee per gas would exceed this.")


@app.command("merge")
def merge_cmd(market: str = _market_opt, amount: str = typer.Option(..., "--amount", help="Complete sets to merge (shares, up to 6 decimals)."),
              config: Optional[Path] = _config_opt, info_file: Optional[Path] = _info_opt, account: int = _account_opt,
              journal: Optional[Path] = _journal_opt, rpc_url: Optional[str] = _rpc_opt, route: str = _route_opt,
              approve: bool = _approve_opt, live: bool = _live_opt, yes: bool = _yes_opt, as_json: bool = _json_opt,
              timeout: float = _timeout_opt, max_fee_gwei: int = _fee_opt) -> None:
    """Merge complete sets (one YES + one NO each) back into collateral: exactly 1 per set."""
    try:
        amt = Decimal(amount)
    except ArithmeticError:
        typer.echo(f"arbkit positions merge: --amount {amount!r} is not a number", err=True)
        raise typer.Exit(2) from None
    _go("merge", as_json, market=market, amount=amt, config=config, info_file=info_file, account=account,
        journal=journal, rpc_url=rpc_url, route=route, approve=approve, live=live, yes=yes, timeout_s=timeout,
        max_fee_gwei=max_fee_gwei)


@app.command("redeem")
def redeem_cmd(market: str = _market_opt, config: Optional[Path] = _config_opt, info_file: Optional[Path] = _info_opt,
               account: int = _account_opt, journal: Optional[Path] = _journal_opt, rpc_url: Optional[str] = _rpc_opt,
               route: str = _route_opt, approve: bool = _approve_opt, live: bool = _live_opt, yes: bool = _yes_opt,
               as_json: bool = _json_opt, timeout: float = _timeout_opt, max_fee_gwei: int = _fee_opt) -> None:
    """Redeem the winning tokens of a resolved market for collateral (1 per winning share)."""
    _go("redeem", as_json, market=market, amount=None, config=config, info_file=info_file, account=account,
        journal=journal, rpc_url=rpc_url, route=route, approve=approve, live=live, yes=yes, timeout_s=timeout,
        max_fee_gwei=max_fee_gwei)
