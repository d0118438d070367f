"""Resolution -> settlement P&L -> redeem / merge, against the simulator over loopback.

The simulator runs in-process (``SimRunner``, scenario "quiet", a simulated clock so its makers only
move when told); the venue packages talk to it as to the venues: the Polymarket market channel
announces ``market_resolved``, Kalshi's ``market_lifecycle_v2`` ``determined`` / ``settled`` (and
Kalshi pays the holders), and the Polymarket positions go back to collateral by signed transactions
sent to the simulator's Polygon JSON-RPC endpoint (``/rpc``), which recovers the signer, checks the
chain id and nonce, decodes the adapter call and applies it to the venue's balances.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from decimal import Decimal as D
from pathlib import Path
from typing import Any, Callable

import aiohttp
import pytest

from arbkit.analytics.report import build_report
from arbkit.core.clock import SimClock
from arbkit.core.enums import BookState, Venue
from arbkit.core.events import MarketResolved
from arbkit.execution.portfolio import Portfolio, PositionState
from arbkit.execution.settlement import Settlement, SettlementBooked
from arbkit.journal.store import Journal
from arbkit.sim.events import Outcome
from arbkit.sim.runner import SimRunner, write_info_file
from arbkit.venues.kalshi.auth import KalshiSigner
from arbkit.venues.kalshi.feed import FeedConfig as KalshiFeedConfig, KalshiMarketFeed
from arbkit.venues.kalshi.gateway import GatewayConfig, KalshiGateway
from arbkit.venues.polymarket import chain, ctf
from arbkit.venues.polymarket.feed import FeedConfig, PolymarketMarketFeed
from arbkit.runtime.positions_cli import PositionsError, run_action

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
async def sim(tmp_path: Path):
    runner = SimRunner(venues=["polymarket", "kalshi"], scenario="quiet", seed=3, clock=SimClock(),
                       accounts_per_venue=2)
    info = await runner.start()
    info_file = tmp_path / "sim.json"
    write_info_file(info_file, info)
    try:
        yield runner, info, info_file
    finally:
        await runner.stop()


async def eventually(pred: Callable[[], bool], timeout: float = 5.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what or pred}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(*services):
    tasks = [asyncio.create_task(s.run()) for s in services]
    try:
        yield
    finally:
        for s in services:
            await s.stop()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(t, 5)


def _pm_market(info: dict, i: int) -> dict:
    return [m for m in info["polymarket"]["markets"] if not m["neg_risk"]][i]


def _cash(runner: SimRunner, venue: str, acct: str, cur: str) -> D:
    return runner.engines[venue].accounts.balance(acct, cur).total


def _pos(runner: SimRunner, venue: str, acct: str, mid: str, outcome: Outcome) -> int:
    return runner.engines[venue].accounts.pos_total(acct, mid, outcome)


async def test_polymarket_resolution_books_pnl_and_redeem_pays_exactly(sim, tmp_path: Path) -> None:
    runner, info, info_file = sim
    mkt = _pm_market(info, 0)
    cid = mkt["condition_id"]
    yes_tok, no_tok = (t["token_id"] for t in mkt["tokens"])
    acct = info["polymarket"]["accounts"][0]["address"].lower()
    eng = runner.engines["polymarket"]
    eng.mint_for(acct, cid, D(10))  # 10 YES + 10 NO, as a split would

    events: list[Any] = []
    pm = info["polymarket"]
    feed = PolymarketMarketFeed(events.append, FeedConfig(ws_url=pm["ws_market_url"], rest_url=pm["rest_url"],
                                                          crosscheck_interval_s=0, watchdog_interval_s=0.1))
    feed.subscribe([f"polymarket:{yes_tok}", f"polymarket:{no_tok}"])
    journal = Journal.open(tmp_path / "j.sqlite")
    portfolio = Portfolio()
    portfolio.positions[(Venue.POLYMARKET, f"polymarket:{yes_tok}")] = PositionState(D(10), D("0.40"), "USDC")
    portfolio.positions[(Venue.POLYMARKET, f"polymarket:{no_tok}")] = PositionState(D(10), D("0.55"), "USDC")
    settlement = Settlement(portfolio, journal)
    async with running(feed):
        await eventually(lambda: feed.book_state(f"polymarket:{yes_tok}") is BookState.LIVE, what="live book")
        runner.scenario.resolve("polymarket", cid, "yes")
        await eventually(lambda: any(isinstance(e, MarketResolved) for e in events), what="MarketResolved")
        ev = next(e for e in events if isinstance(e, MarketResolved))
        assert ev.market_id == cid and ev.winning_instrument_id == f"polymarket:{yes_tok}"
        assert ev.payouts == {f"polymarket:{yes_tok}": D(1), f"polymarket:{no_tok}": D(0)}
        assert feed.book_state(f"polymarket:{yes_tok}") is BookState.CLOSED
        assert not feed.is_tradeable(f"polymarket:{yes_tok}", 1 << 62)
        settlement.on_event(ev)
        settlement.on_event(ev)  # a repeat books nothing more
    booked = settlement.booked[(Venue.POLYMARKET, cid)]
    assert (booked.proceeds, booked.cost, booked.pnl) == (D(10), D("9.50"), D("0.50"))
    assert portfolio.position(Venue.POLYMARKET, f"polymarket:{yes_tok}") == 0
    assert settlement.capital_pending[(Venue.POLYMARKET, cid)] == D(10)
    await journal.close()

    # redeem at the simulator: the venue's balance rises by exactly the winning shares, positions gone
    before = _cash(runner, "polymarket", acct, "USDC")
    res = await run_action("redeem", market=cid, amount=None, config=None, info_file=info_file, account=0,
                           journal=tmp_path / "j.sqlite", rpc_url=None, route="adapter", approve=True, live=False,
                           yes=False, timeout_s=10, max_fee_gwei=500)
    assert res["collateral_returned"] == "10.000000" and not res["problem"]
    assert _cash(runner, "polymarket", acct, "USDC") - before == D(10)
    assert _pos(runner, "polymarket", acct, cid, Outcome.YES) == 0 == _pos(runner, "polymarket", acct, cid, Outcome.NO)
    assert [t["call"] for t in res["transactions"]] == ["ConditionalTokens.setApprovalForAll",
                                                        "CtfCollateralAdapter.redeemPositions"]
    # nothing left to redeem: refused before anything is signed
    with pytest.raises(PositionsError, match="no winning tokens"):
        await run_action("redeem", market=cid, amount=None, config=None, info_file=info_file, account=0,
                         journal=tmp_path / "j.sqlite", rpc_url=None, route="adapter", approve=True, live=False,
                         yes=False, timeout_s=10, max_fee_gwei=500)

    rep = build_report(tmp_path / "j.sqlite")["settlement"]
    assert rep["by_venue"] == [{"venue": "polymarket", "currency": "USDC", "markets": 1, "proceeds": "10",
                                "cost": "9.5", "pnl": "0.5", "credited": "10"}]
    assert rep["capital_pending"] == []
    assert rep["capital_returned"][0]["redeemed"] == "10"


async def test_merge_returns_exactly_one_per_set(sim, tmp_path: Path) -> None:
    runner, info, info_file = sim
    cid = _pm_market(info, 1)["condition_id"]
    acct = info["polymarket"]["accounts"][1]["address"].lower()
    runner.engines["polymarket"].mint_for(acct, cid, D(5))
    before = _cash(runner, "polymarket", acct, "USDC")
    kw = dict(market=cid, config=None, info_file=info_file, account=1, journal=tmp_path / "m.sqlite", rpc_url=None,
              route="adapter", live=False, yes=False, timeout_s=10, max_fee_gwei=500)
    with pytest.raises(PositionsError, match="--approve"):  # the adapter is not approved yet: nothing sent
        await run_action("merge", amount=D("3"), approve=False, **kw)
    res = await run_action("merge", amount=D("3"), approve=True, **kw)
    assert res["collateral_returned"] == "3.000000"
    assert _cash(runner, "polymarket", acct, "USDC") - before == D(3)
    assert _pos(runner, "polymarket", acct, cid, Outcome.YES) == 200 == _pos(runner, "polymarket", acct, cid, Outcome.NO)
    with pytest.raises(PositionsError, match="not enough complete sets"):
        await run_action("merge", amount=D("2.5"), approve=True, **kw)
    with pytest.raises(ValueError, match="decimals"):
        ctf.share_units(D("0.0000001"))
    j = Journal.open(tmp_path / "m.sqlite", readonly=True)
    kinds = [r.kind for r, _ok in j.scan(0)]
    await j.close()
    assert kinds.count("PositionsMerged") == 1


async def test_chain_refuses_bad_signature_nonce_and_chain(sim) -> None:
    runner, info, _ = sim
    rpc_url = info["polymarket"]["rpc_url"]
    cid = _pm_market(info, 0)["condition_id"]
    acct = info["polymarket"]["accounts"][0]
    runner.engines["polymarket"].mint_for(acct["address"].lower(), cid, D(2))
    signer = ctf.TxSigner(acct["private_key"])
    call = ctf.approval_call(ctf.CTF_COLLATERAL_ADAPTER)
    async with aiohttp.ClientSession() as http:
        rpc = chain.JsonRpc(rpc_url, http)

        def tx(nonce: int, chain_id: int = 137) -> ctf.Tx:
            return ctf.Tx(chain_id, nonce, 30 * 10**9, 100 * 10**9, 80_000, call.to, 0, call.data)

        async def send_raw(raw: bytes) -> Any:
            return await rpc.call("eth_sendRawTransaction", "0x" + raw.hex())

        with pytest.raises(chain.RpcError, match="invalid chain id"):
            await send_raw(signer.sign(tx(0, chain_id=1)).raw)
        with pytest.raises(chain.RpcError, match="nonce too high"):
            await send_raw(signer.sign(tx(5)).raw)
        good = signer.sign(tx(0))
        # a flipped bit in s: the recovered signer is someone else (or nobody): refused
        raw = bytearray(good.raw)
        raw[-1] ^= 0x01
        with pytest.raises(chain.RpcError, match="invalid sender|insufficient funds"):
            await send_raw(bytes(raw))
        # a valid signature from a key the chain has no account for
        with pytest.raises(chain.RpcError, match="insufficient funds"):
            await send_raw(ctf.TxSigner("0x" + "42" * 32).sign(tx(0)).raw)
        assert await rpc.nonce(signer.address) == 0  # nothing above changed anything
        assert await send_raw(good.raw) == good.hash
        with pytest.raises(chain.RpcError, match="nonce too low"):  # a replay
            await send_raw(good.raw)
        assert await rpc.nonce(signer.address) == 1
        assert await rpc.is_approved(ctf.addresses().conditional_tokens, signer.address, ctf.CTF_COLLATERAL_ADAPTER)
        # redeem before resolution: mined but reverted (its nonce is used), nothing paid
        r = ctf.redeem_call(cid, neg_risk=False)
        with pytest.raises(chain.RpcError, match="execution reverted"):
            await rpc.estimate_gas(signer.address, r)
        bad = signer.sign(ctf.Tx(137, 1, 30 * 10**9, 100 * 10**9, 200_000, r.to, 0, r.data))
        with pytest.raises(chain.TxFailed, match="reverted"):
            await chain.send(rpc, bad, timeout_s=5, poll_s=0.05)
        assert await rpc.nonce(signer.address) == 2
    assert _pos(runner, "polymarket", acct["address"].lower(), cid, Outcome.YES) == 200


async def test_kalshi_lifecycle_settles_to_cash_and_reconciles(sim) -> None:
    runner, info, _ = sim
    k = info["kalshi"]
    ticker = k["markets"][0]["ticker"] if "ticker" in k["markets"][0] else k["markets"][0]["market_id"]
    a0 = k["accounts"][0]
    signer = KalshiSigner.from_pem_file(a0["key_id"], a0["private_key_path"])
    acct = a0["account_id"] if "account_id" in a0 else next(iter(
        x for x in runner.engines["kalshi"].accounts.account_ids() if x not in ("sim-mm", "sim-taker")))
    eng = runner.engines["kalshi"]
    eng.mint_for(acct, ticker, D(4))
    gw = KalshiGateway(signer, GatewayConfig(rest_url=k["rest_url"]))
    await gw.start()
    events: list[Any] = []
    feed = KalshiMarketFeed(events.append, KalshiFeedConfig(ws_url=k["ws_url"], crosscheck_interval_s=0), signer=signer,
                            rest=gw)
    feed.subscribe([ticker])
    portfolio = Portfolio()
    portfolio.positions[(Venue.KALSHI, f"kalshi:{ticker}:yes")] = PositionState(D(4), D("0.60"), "USD")
    portfolio.positions[(Venue.KALSHI, f"kalshi:{ticker}:no")] = PositionState(D(4), D("0.45"), "USD")
    settlement = Settlement(portfolio)
    balance_before = next(b.total for b in await gw.balances() if b.currency == "USD")
    try:
        async with running(feed):
            await eventually(lambda: feed.book_state(f"kalshi:{ticker}:yes") is BookState.LIVE, what="live book")
            await eventually(lambda: feed.lifecycle_supported is True, what="lifecycle subscription")
            runner.scenario.resolve("kalshi", ticker, "no")
            await eventually(lambda: sum(isinstance(e, MarketResolved) for e in events) >= 2, what="determined+settled")
            det, done = [e for e in events if isinstance(e, MarketResolved)][:2]
            assert (det.stage, done.stage) == ("determined", "settled")
            assert det.winning_instrument_id == f"kalshi:{ticker}:no" and det.payouts[f"kalshi:{ticker}:no"] == D(1)
            assert feed.book_state(f"kalshi:{ticker}:yes") is BookState.CLOSED
            for e in (det, done):
                settlement.on_event(e)
        booked = settlement.booked[(Venue.KALSHI, ticker)]
        assert isinstance(booked, SettlementBooked) and booked.cash_credited
        assert (booked.proceeds, booked.cost, booked.pnl) == (D(4), D("4.20"), D("-0.20"))
        assert eng.accounts.pos_total(acct, ticker, Outcome.YES) == 0 == eng.accounts.pos_total(acct, ticker, Outcome.NO)
        rec = await settlement.reconcile(Venue.KALSHI, gw, balance_before=balance_before)
        assert rec.ok, rec.reason
        assert rec.balance == balance_before + D(4)
    finally:
        await gw.close()


def test_positions_cli_refuses_a_real_endpoint_without_live(tmp_path: Path) -> None:
    """The real subprocess: a non-loopback RPC URL without --live is refused before any key is read."""
    info = {"polymarket": {"rest_url": "http://127.0.0.1:9", "chain_id": 137, "markets": [],
                           "accounts": [{"private_key": "0x" + "11" * 32, "address": "0x" + "00" * 20}]},
            "admin_url": ""}
    (tmp_path / "sim.json").write_text(json.dumps(info))
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run([sys.executable, "-m", "arbkit.cli", "positions", "redeem", "--market", "0x" + "ab" * 32,
                          "--info-file", str(tmp_path / "sim.json"), "--journal", str(tmp_path / "j.sqlite"),
                          "--rpc-url", "https://polygon-rpc.example.org"], capture_output=True, text=True, env=env,
                         timeout=60)
    assert out.returncode == 2
    assert "add --live" in out.stderr and "11" * 32 not in out.stderr + out.stdout
