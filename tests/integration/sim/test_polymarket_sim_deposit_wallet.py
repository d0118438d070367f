"""Deposit-wallet (POLY_1271) accounts at the simulated Polymarket CLOB: the official
``py-clob-client-v2`` and arbkit's gateway both trade through a deposit wallet; types 0-2 are
refused for an account created as a new API user; the API-key binding pitfall (clob-client-v2
issue 66) answers as the venue does.

Sources (checked 2026-12-04): docs.polymarket.com trading/deposit-wallets ("Order signature type
3, also called POLY_1271"; "Order maker: Deposit wallet address"; "Order signer field: Deposit
wallet address"); py-clob-client-v2 1.2.1 order_builder/builder.py ``_v2_order_signer`` and
order_utils/exchange_order_builder_v2.py ``_build_poly_1271_order_signature``; the refusal text
"maker address not allowed, please use the deposit wallet flow" (py-clob-client-v2#83/#51/#74).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import pytest
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import OrderArgsV2, OrderPayload
from py_clob_client_v2.exceptions import PolyApiException
from py_clob_client_v2.headers.headers import create_level_1_headers
from py_clob_client_v2.order_utils.model.signature_type_v2 import SignatureTypeV2
from py_clob_client_v2.signer import Signer

from arbkit.core.enums import InstrumentKind, OrderStatus, Side, Venue
from arbkit.core.events import OrderCanceled, OrderRejected
from arbkit.core.instruments import Instrument
from arbkit.core.orders import OrderRequest
from arbkit.sim.engine import SettlementConfig
from arbkit.sim.polymarket.server import PolymarketServer
from arbkit.sim.polymarket.standalone import build_context, tick
from arbkit.venues.polymarket.constants import SignatureType
from arbkit.venues.polymarket.gateway import GatewayConfig, PolymarketGateway

FAST = SettlementConfig(mined_after_s=Decimal("0.2"), confirmed_after_s=Decimal("0.4"))


@pytest.fixture
async def venue():
    ctx = build_context(seed=23, settlement=FAST, wallets=3, deposit_wallet_accounts=(0,))
    server = PolymarketServer(ctx)
    await server.start("127.0.0.1")
    stop = asyncio.Event()
    ticker = asyncio.ensure_future(tick(ctx, 0.02, stop))
    try:
        yield server, ctx
    finally:
        stop.set()
        await ticker
        await server.stop()


def _err(fn) -> PolyApiException:
    with pytest.raises(PolyApiException) as err:
        fn()
    return err.value


async def test_official_client_trades_through_a_deposit_wallet(venue) -> None:
    server, ctx = venue
    info = server.info()
    acct = info["accounts"][0]
    wallet = acct["deposit_wallet"]
    assert acct["signature_type"] == 3 and wallet.lower() != acct["address"].lower()
    yes = info["markets"][0]["tokens"][0]["token_id"]
    other = info["accounts"][1]

    def session() -> dict:
        out: dict = {}
        # The API key is created by the owner EOA (L1 ClobAuth signed and addressed by the EOA).
        dw = ClobClient(info["rest_url"], chain_id=info["chain_id"], key=acct["private_key"],
                        signature_type=SignatureTypeV2.POLY_1271, funder=wallet)
        dw.set_api_creds(dw.create_or_derive_api_key())
        placed = dw.create_and_post_order(OrderArgsV2(token_id=yes, price=0.41, size=10, side="BUY"))
        out["placed"] = placed
        out["order"] = dw.get_order(placed["orderID"])
        out["cancel"] = dw.cancel_order(OrderPayload(orderID=placed["orderID"]))
        # The same account signing as a plain EOA (type 0): refused, new API users need the wallet.
        eoa = ClobClient(info["rest_url"], chain_id=info["chain_id"], key=acct["private_key"])
        eoa.set_api_creds(eoa.create_or_derive_api_key())
        out["eoa_err"] = _err(lambda: eoa.create_and_post_order(
            OrderArgsV2(token_id=yes, price=0.41, size=10, side="BUY")))
        # Type 2 with the wallet as a "safe": refused the same way.
        safe = ClobClient(info["rest_url"], chain_id=info["chain_id"], key=acct["private_key"],
                          signature_type=SignatureTypeV2.POLY_GNOSIS_SAFE, funder=wallet)
        safe.set_api_creds(eoa.creds)
        out["safe_err"] = _err(lambda: safe.create_and_post_order(
            OrderArgsV2(token_id=yes, price=0.41, size=10, side="BUY")))
        # Another key claiming this deposit wallet: the signer is not the API key's (issue 66's text).
        thief = ClobClient(info["rest_url"], chain_id=info["chain_id"], key=other["private_key"],
                           signature_type=SignatureTypeV2.POLY_1271, funder=wallet)
        thief.set_api_creds(thief.create_or_derive_api_key())
        out["thief_err"] = _err(lambda: thief.create_and_post_order(
            OrderArgsV2(token_id=yes, price=0.41, size=10, side="BUY")))
        # The binding pitfall: L1 auth addressed as the deposit wallet (signed by the EOA) is refused.
        headers = create_level_1_headers(Signer(acct["private_key"], info["chain_id"]))
        headers["POLY_ADDRESS"] = wallet
        out["l1_wallet"] = httpx.post(info["rest_url"] + "/auth/api-key", headers=headers)
        return out

    out = await asyncio.to_thread(session)
    assert out["placed"]["success"] and out["placed"]["status"] == "live", out["placed"]
    assert out["order"]["maker_address"].lower() == wallet.lower()
    assert out["order"]["status"] == "ORDER_STATUS_LIVE"
    assert out["cancel"]["canceled"] == [out["placed"]["orderID"]]
    msg = {"error": "maker address not allowed, please use the deposit wallet flow"}
    assert (out["eoa_err"].status_code, out["eoa_err"].error_msg) == (400, msg)
    assert (out["safe_err"].status_code, out["safe_err"].error_msg) == (400, msg)
    assert (out["thief_err"].status_code, out["thief_err"].error_msg) == (
        400, {"error": "the order signer address has to be the address of the API KEY"})
    assert out["l1_wallet"].status_code == 401


def _inst(info: dict) -> Instrument:
    m = info["markets"][0]
    return Instrument(venue=Venue.POLYMARKET, symbol=m["tokens"][0]["token_id"], kind=InstrumentKind.OUTCOME,
                      tick_size=Decimal(m["tick_size"]), size_increment=Decimal("0.01"), market_id=m["condition_id"],
                      neg_risk=m["neg_risk"])


async def test_gateway_trades_through_a_deposit_wallet_and_names_the_refusals(venue) -> None:
    server, ctx = venue
    info = server.info()
    acct = info["accounts"][0]
    wallet = acct["deposit_wallet"]
    inst = _inst(info)
    cfg = GatewayConfig(rest_url=info["rest_url"], chain_id=info["chain_id"], signature_type=SignatureType.POLY_1271,
                        funder=wallet, retry_backoff_s=0.01)
    async with PolymarketGateway(acct["private_key"], None, cfg) as gw:
        await gw.create_or_derive_api_creds()
        req = OrderRequest(instrument=inst, client_order_id="dw-1", side=Side.BUY, quantity=Decimal("10"),
                           price=Decimal("0.41"))
        res = await gw.submit(req)
        assert res.accepted, res.events
        so = gw.signed_order("dw-1")
        assert so.maker == so.signer == wallet and so.signatureType == 3
        venue_order = ctx.engine.order(res.venue_order_id)
        assert venue_order is not None and venue_order.size == Decimal("10")
        assert venue_order.meta["maker_address"].lower() == wallet.lower()
        st = await gw.order_state("dw-1")
        assert st is not None and st.status is OrderStatus.ACCEPTED and st.quantity == Decimal("10")
        assert isinstance((await gw.cancel("dw-1"))[0], OrderCanceled)
    # The same key configured as a plain EOA: the venue's deposit-wallet refusal, named.
    eoa_cfg = GatewayConfig(rest_url=info["rest_url"], chain_id=info["chain_id"], retry_backoff_s=0.01)
    async with PolymarketGateway(acct["private_key"], None, eoa_cfg) as gw:
        await gw.create_or_derive_api_creds()
        res = await gw.submit(OrderRequest(instrument=inst, client_order_id="dw-2", side=Side.BUY,
                                           quantity=Decimal("10"), price=Decimal("0.41")))
        ev = res.events[0]
        assert isinstance(ev, OrderRejected) and ev.code == "DEPOSIT_WALLET_REQUIRED" and not ev.retryable
    # Another owner's key with this wallet: the API-key binding refusal, named.
    thief = info["accounts"][1]
    t_cfg = GatewayConfig(rest_url=info["rest_url"], chain_id=info["chain_id"],
                          signature_type=SignatureType.POLY_1271, funder=wallet, retry_backoff_s=0.01)
    async with PolymarketGateway(thief["private_key"], None, t_cfg) as gw:
        await gw.create_or_derive_api_creds()
        res = await gw.submit(OrderRequest(instrument=inst, client_order_id="dw-3", side=Side.BUY,
                                           quantity=Decimal("10"), price=Decimal("0.41")))
        assert res.events[0].code == "API_KEY_SIGNER_MISMATCH"
    # An ordinary (non deposit-wallet) account still trades as EOA.
    plain = info["accounts"][2]
    async with PolymarketGateway(plain["private_key"], None, eoa_cfg) as gw:
        await gw.create_or_derive_api_creds()
        res = await gw.submit(OrderRequest(instrument=inst, client_order_id="eoa-1", side=Side.BUY,
                                           quantity=Decimal("10"), price=Decimal("0.41")))
        assert res.accepted, res.events
        await gw.cancel_all()


def test_a_scenario_names_its_deposit_wallet_accounts() -> None:
    """``polymarket_deposit_wallet_accounts = [1]`` in a scenario makes test account 1 a new API
    user with a deposit wallet (what `arbkit sim` publishes in its info file)."""
    from types import SimpleNamespace

    ctx = build_context(seed=5, wallets=2)
    ctx.scenario = SimpleNamespace(data={"polymarket_deposit_wallet_accounts": [1]})
    info = PolymarketServer(ctx).info()
    assert "deposit_wallet" not in info["accounts"][0]
    assert info["accounts"][1]["signature_type"] == 3 and info["accounts"][1]["deposit_wallet"].startswith("0x")
    ctx.scenario = SimpleNamespace(data={"polymarket_deposit_wallet_accounts": [7]})
    with pytest.raises(ValueError, match="out of range"):
        PolymarketServer(ctx)
