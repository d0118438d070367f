"""Acceptance: the official ``py-clob-client-v2`` trades against the simulated Polymarket CLOB.

Real sockets on 127.0.0.1. The client is synchronous (httpx), so each client session runs in a
worker thread while the server runs on the test's event loop.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import httpx
import pytest
from py_clob_client_v2.client import ClobClient
from py_clob_client_v2.clob_types import (
    ApiCreds,
    AssetType,
    BalanceAllowanceParams,
    BookParams,
    MarketOrderArgsV2,
    OpenOrderParams,
    OrderArgsV2,
    OrderMarketCancelParams,
    OrderPayload,
    OrderType,
    PartialCreateOrderOptions,
    PostOrdersV2Args,
    TradeParams,
)
from py_clob_client_v2.exceptions import PolyApiException
from py_clob_client_v2.headers.headers import create_level_1_headers
from py_clob_client_v2.order_utils.exchange_order_builder_v2 import ExchangeOrderBuilderV2
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2
from py_clob_client_v2.order_utils.model.side import Side
from py_clob_client_v2.signer import Signer

from arbkit.sim.engine import SettlementConfig
from arbkit.sim.polymarket.server import PolymarketServer
from arbkit.sim.polymarket.standalone import build_context, tick

FAST_SETTLEMENT = SettlementConfig(mined_after_s=Decimal("0.2"), confirmed_after_s=Decimal("0.4"))


@pytest.fixture
async def venue():
    ctx = build_context(seed=11, settlement=FAST_SETTLEMENT)
    server = PolymarketServer(ctx, page_size=2)
    await server.start("127.0.0.1")
    stop = asyncio.Event()
    ticker = asyncio.ensure_future(tick(ctx, 0.02, stop))
    try:
        yield server, ctx
    finally:
        stop.set()
        await ticker
        await server.stop()


def _client(info: dict, wallet) -> ClobClient:
    client = ClobClient(info["rest_url"], chain_id=info["chain_id"], key=wallet.private_key)
    client.set_api_creds(client.create_or_derive_api_key())
    return client


def _tokens(info: dict, index: int) -> tuple[str, str]:
    toks = info["markets"][index]["tokens"]
    return toks[0]["token_id"], toks[1]["token_id"]


def _api_error(fn) -> PolyApiException:
    with pytest.raises(PolyApiException) as err:
        fn()
    return err.value


async def test_client_trades_end_to_end(venue):
    server, ctx = venue
    info = server.info()
    alice, bob = ctx.accounts
    yes, no = _tokens(info, 0)

    def session() -> dict:
        out: dict = {}
        a = ClobClient(info["rest_url"], chain_id=137, key=alice.private_key)
        created = a.create_api_key()
        assert a.derive_api_key() == created  # same wallet + nonce -> the same credentials
        a.set_api_creds(created)
        book = a.get_order_book(yes)
        assert book["bids"] == [] and book["asks"] == []
        assert a.get_order_book_hash(book) == book["hash"]  # the client's own hash check agrees

        resting = a.create_and_post_order(OrderArgsV2(token_id=yes, price=0.45, size=10, side="BUY"))
        other = a.create_and_post_order(OrderArgsV2(token_id=yes, price=0.40, size=10, side="BUY"))
        assert resting["success"] and resting["status"] == "live" and resting["errorMsg"] == ""
        book = a.get_order_book(yes)
        assert book["bids"] == [{"price": "0.4", "size": "10"}, {"price": "0.45", "size": "10"}]  # worst first
        assert a.get_order_book(no)["asks"] == [{"price": "0.6", "size": "10"}, {"price": "0.55", "size": "10"}]
        assert a.get_order_book_hash(book) == book["hash"]
        canceled = a.cancel_order(OrderPayload(orderID=other["orderID"]))
        assert canceled == {"canceled": [other["orderID"]], "not_canceled": {}}
        again = a.cancel_order(OrderPayload(orderID=other["orderID"]))
        assert again["canceled"] == [] and other["orderID"] in again["not_canceled"]
        open_orders = a.get_open_orders()
        assert [o["id"] for o in open_orders] == [resting["orderID"]]
        assert open_orders[0]["status"] == "ORDER_STATUS_LIVE" and open_orders[0]["price"] == "0.45"

        # A second account crosses: BUY NO at 0.55 matches the resting BUY YES at 0.45 (mint).
        b = _client(info, bob)
        taker = b.create_and_post_order(OrderArgsV2(token_id=no, price=0.55, size=10, side="BUY"))
        assert taker["status"] == "matched" and taker["success"]
        assert (taker["makingAmount"], taker["takingAmount"]) == ("5.5", "10")
        assert len(taker["transactionsHashes"]) == 1 and len(taker["tradeIDs"]) == 1

        deadline = time.monotonic() + 10
        while True:
            trades = a.get_trades()
            if trades and trades[0]["status"] == "CONFIRMED" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        out["trades"] = trades
        out["taker"] = taker
        out["resting"] = resting
        out["open_after"] = a.get_open_orders()
        out["order"] = a.get_order(resting["orderID"])
        out["cash"] = a.get_balance_allowance(BalanceAllowanceParams(asset_type=AssetType.COLLATERAL))
        out["shares"] = a.get_balance_allowance(BalanceAllowanceParams(asset_type=AssetType.CONDITIONAL, token_id=yes))
        out["bob_trades"] = b.get_trades(TradeParams(market=info["markets"][0]["condition_id"]))
        out["last"] = a.get_last_trade_price(yes)
        out["keys"] = a.get_api_keys()
        out["closed_only"] = a.get_closed_only_mode()
        return out

    out = await asyncio.to_thread(session)
    trades = out["trades"]
    assert len(trades) == 1
    t = trades[0]
    assert t["status"] == "CONFIRMED" and t["trader_side"] == "MAKER"
    assert t["id"] == out["taker"]["tradeIDs"][0]
    assert t["transaction_hash"] == out["taker"]["transactionsHashes"][0]
    assert t["asset_id"] == no and t["side"] == "BUY" and t["size"] == "10" and t["price"] == "0.55"
    assert [mo["order_id"] for mo in t["maker_orders"]] == [out["resting"]["orderID"]]
    assert t["maker_orders"][0]["price"] == "0.45" and t["maker_orders"][0]["matched_amount"] == "10"
    assert out["bob_trades"][0]["trader_side"] == "TAKER"
    assert out["open_after"] == []
    assert out["order"]["status"] == "ORDER_STATUS_MATCHED" and out["order"]["size_matched"] == "10"
    assert out["order"]["associate_trades"] == [t["id"]]
    assert out["cash"]["balance"] == "9995500000"  # 10,000 - 4.5 in 6-decimal units
    assert out["shares"]["balance"] == "10000000"
    assert out["last"] == {"price": "0.45", "side": "SELL"}  # YES view of a NO buy
    assert out["keys"] == {"apiKeys": [out["trades"][0]["maker_orders"][0]["owner"]]}
    assert out["closed_only"] == {"closed_only": False}


async def test_refusals_have_the_venue_shapes(venue):
    server, ctx = venue
    info = server.info()
    alice, bob = ctx.accounts
    yes, _no = _tokens(info, 0)
    neg_yes, _ = _tokens(info, 1)
    assert info["markets"][1]["neg_risk"] is True

    def session() -> None:
        a = _client(info, alice)
        # Tampered signature.
        order = a.create_order(OrderArgsV2(token_id=yes, price=0.45, size=10, side="BUY"))
        sig = order.signature
        order.signature = sig[:20] + ("0" if sig[20] != "0" else "1") + sig[21:]
        err = _api_error(lambda: a.post_order(order))
        assert (err.status_code, err.error_msg) == (400, {"error": "invalid signature"})
        # A neg-risk market's order signed for the standard exchange.
        wrong = a.create_order(
            OrderArgsV2(token_id=neg_yes, price=0.3, size=10, side="BUY"), PartialCreateOrderOptions(neg_risk=False)
        )
        err = _api_error(lambda: a.post_order(wrong))
        assert (err.status_code, err.error_msg) == (400, {"error": "invalid signature"})
        right = a.create_order(OrderArgsV2(token_id=neg_yes, price=0.3, size=10, side="BUY"))
        assert a.post_order(right)["status"] == "live"
        # Bad HMAC: a wrong secret signs the request.
        creds = a.creds
        forged = ClobClient(
            info["rest_url"],
            chain_id=137,
            key=alice.private_key,
            creds=ApiCreds(creds.api_key, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", creds.api_passphrase),
        )
        err = _api_error(forged.get_open_orders)
        assert (err.status_code, err.error_msg) == (401, {"error": "Unauthorized/Invalid api key"})
        err = _api_error(lambda: forged.post_order(right))
        assert err.status_code == 401
        # Another wallet's key cannot place alice's order ("owner" must be the caller's key).
        b = _client(info, bob)
        err = _api_error(lambda: b.post_order(right))
        assert err.error_msg == {"error": "the order signer address has to be the address of the API KEY"}
        # L1 headers signed by one wallet but claiming another.
        headers = create_level_1_headers(Signer(bob.private_key, 137))
        headers["POLY_ADDRESS"] = alice.address
        r = httpx.get(info["rest_url"] + "/auth/derive-api-key", headers=headers)
        assert (r.status_code, r.json()) == (401, {"error": "Invalid L1 Request headers"})
        # Not enough balance (10,000 funded).
        err = _api_error(lambda: a.create_and_post_order(OrderArgsV2(token_id=yes, price=0.5, size=30000, side="BUY")))
        assert (err.status_code, err.error_msg) == (400, {"error": "not enough balance / allowance"})
        # Selling shares not held.
        err = _api_error(lambda: a.create_and_post_order(OrderArgsV2(token_id=yes, price=0.5, size=10, side="SELL")))
        assert err.error_msg == {"error": "not enough balance / allowance"}
        # Size under the market minimum (5).
        err = _api_error(lambda: a.create_and_post_order(OrderArgsV2(token_id=yes, price=0.5, size=2, side="BUY")))
        assert err.status_code == 400 and "lower than the minimum: 5" in err.error_msg["error"]
        # Off-tick price: amounts signed at 0.455 on a 0.01-tick market.
        builder = ExchangeOrderBuilderV2(info["exchange"], 137, a.signer)
        signed = builder.build_signed_order(
            OrderDataV2(maker=alice.address, tokenId=yes, makerAmount="4550000", takerAmount="10000000", side=Side.BUY, signer=alice.address)
        )
        err = _api_error(lambda: a.post_order(signed))
        assert err.status_code == 400 and "breaks minimum tick size rule: 0.01" in err.error_msg["error"]
        # Post-only that would cross.
        a.create_and_post_order(OrderArgsV2(token_id=yes, price=0.45, size=10, side="BUY"))
        b.create_and_post_order(OrderArgsV2(token_id=_no, price=0.50, size=10, side="BUY"))  # YES ask at 0.50
        err = _api_error(
            lambda: a.create_and_post_order(OrderArgsV2(token_id=yes, price=0.5, size=10, side="BUY"), post_only=True)
        )
        assert err.error_msg == {"error": "invalid post-only order: order crosses book"}
        # FOK that cannot fill, FAK that finds nothing (market orders use the market-info routes).
        err = _api_error(
            lambda: a.create_and_post_market_order(MarketOrderArgsV2(token_id=yes, amount=1000, side="BUY", price=0.5))
        )
        assert err.error_msg == {"error": "order couldn't be fully filled. FOK orders are fully filled or killed."}
        err = _api_error(
            lambda: a.create_and_post_market_order(
                MarketOrderArgsV2(token_id=yes, amount=10, side="BUY", price=0.2, order_type=OrderType.FAK),
                order_type=OrderType.FAK,
            )
        )
        assert err.error_msg["error"].startswith("no orders found to match with FAK order")

    await asyncio.to_thread(session)


async def test_market_orders_batches_pagination_and_bulk_cancels(venue):
    server, ctx = venue
    info = server.info()
    alice, bob = ctx.accounts
    yes, no = _tokens(info, 0)
    market = info["markets"][0]["condition_id"]

    def session() -> None:
        a = _client(info, alice)
        b = _client(info, bob)
        a.create_and_post_order(OrderArgsV2(token_id=yes, price=0.45, size=20, side="BUY"))
        # Market BUY of NO for $5.50: takes 10 shares from the YES bid at 0.45 (NO at 0.55).
        res = b.create_and_post_market_order(MarketOrderArgsV2(token_id=no, amount=5.5, side="BUY", price=0.55))
        assert res["status"] == "matched" and res["takingAmount"] == "10" and res["makingAmount"] == "5.5"
        # bob now holds 10 NO and sells 8 into a FAK: 5 fill against alice's NO bid, the rest is killed.
        a.create_and_post_order(OrderArgsV2(token_id=no, price=0.6, size=5, side="BUY"))
        sold = b.create_and_post_market_order(
            MarketOrderArgsV2(token_id=no, amount=8, side="SELL", price=0.6, order_type=OrderType.FAK),
            order_type=OrderType.FAK,
        )
        assert sold["status"] == "matched" and sold["makingAmount"] == "5" and sold["takingAmount"] == "3"

        batch = b.post_orders(
            [
                PostOrdersV2Args(order=b.create_order(OrderArgsV2(token_id=yes, price=0.7, size=5, side="SELL")), orderType=OrderType.GTC),
                PostOrdersV2Args(order=b.create_order(OrderArgsV2(token_id=yes, price=0.3, size=1, side="BUY")), orderType=OrderType.GTC),
                PostOrdersV2Args(order=b.create_order(OrderArgsV2(token_id=yes, price=0.2, size=5, side="BUY")), orderType=OrderType.GTC),
            ]
        )
        assert [r["success"] for r in batch] == [False, False, True]  # no YES held; below minimum
        assert batch[0]["errorMsg"] == "not enough balance / allowance"
        assert "lower than the minimum" in batch[1]["errorMsg"]
        for price in (0.21, 0.22, 0.23):
            b.create_and_post_order(OrderArgsV2(token_id=yes, price=price, size=5, side="BUY"))
        b.create_and_post_order(OrderArgsV2(token_id=no, price=0.1, size=5, side="BUY"))
        # page size 2 on this server: the client follows next_cursor to the end.
        mine = b.get_open_orders()
        assert len(mine) == 5 and len({o["id"] for o in mine}) == 5
        assert len(b.get_open_orders(OpenOrderParams(asset_id=no))) == 1
        first_page = b.get_open_orders(only_first_page=True)
        assert len(first_page) == 2
        gone = b.cancel_market_orders(OrderMarketCancelParams(asset_id=no))
        assert len(gone["canceled"]) == 1
        ids = [o["id"] for o in b.get_open_orders()]
        some = b.cancel_orders(ids[:2] + ["0x" + "00" * 32])
        assert sorted(some["canceled"]) == sorted(ids[:2]) and list(some["not_canceled"]) == ["0x" + "00" * 32]
        # GTD: an expiration inside the venue's one-minute threshold is refused; a later one rests.
        for soon in (int(time.time()) - 10, int(time.time()) + 30):
            early = b.create_order(OrderArgsV2(token_id=yes, price=0.2, size=5, side="BUY", expiration=soon))
            err = _api_error(lambda: b.post_order(early, OrderType.GTD))
            assert err.error_msg == {"error": "invalid expiration"}
        exp = int(time.time()) + 3600
        gtd = b.post_order(b.create_order(OrderArgsV2(token_id=yes, price=0.2, size=5, side="BUY", expiration=exp)), OrderType.GTD)
        listed = b.get_open_orders(OpenOrderParams(id=gtd["orderID"]))
        assert [(o["order_type"], o["expiration"]) for o in listed] == [("GTD", str(exp))]
        ids.append(gtd["orderID"])
        rest = b.cancel_all()
        assert sorted(rest["canceled"]) == sorted(ids[2:])
        assert b.get_open_orders() == []
        trades = b.get_trades(TradeParams(market=market))
        assert {t["trader_side"] for t in trades} == {"TAKER"} and len(trades) == 2

    await asyncio.to_thread(session)


async def test_public_market_data_routes(venue):
    server, ctx = venue
    info = server.info()
    yes, no = _tokens(info, 0)
    neg_yes, _ = _tokens(info, 1)

    def session() -> None:
        c = ClobClient(info["rest_url"], chain_id=137)
        assert c.get_ok() == "OK"
        assert abs(int(c.get_server_time()) - time.time()) < 60
        assert c.get_tick_size(yes) == "0.01" and c.get_tick_size(neg_yes) == "0.001"
        assert c.get_neg_risk(yes) is False and c.get_neg_risk(neg_yes) is True
        page = c.get_markets()
        assert page["limit"] == 2 and page["count"] == 2 and page["next_cursor"] != "LTE="
        rest = c.get_markets(page["next_cursor"])
        assert rest["next_cursor"] == "LTE="
        ids = [mk["condition_id"] for mk in page["data"] + rest["data"]]
        assert ids == [mk["condition_id"] for mk in info["markets"]]
        one = c.get_market(ids[1])
        assert one["neg_risk"] is True and [t["token_id"] for t in one["tokens"]] == list(_tokens(info, 1))
        err = _api_error(lambda: c.get_market("0x" + "ab" * 32))
        assert (err.status_code, err.error_msg) == (404, {"error": "market not found"})
        err = _api_error(lambda: c.get_order_book("123"))
        assert err.status_code == 404
        err = _api_error(lambda: c.get_price(yes, "BUY"))  # empty book
        assert err.status_code == 404
        events = httpx.get(info["gamma_url"] + "/events").json()
        neg = [e for e in events if e["negRisk"]]
        assert len(neg) == 1 and len(neg[0]["markets"]) == 3
        assert all(mk["negRisk"] for mk in neg[0]["markets"])
        assert {mk["conditionId"] for mk in neg[0]["markets"]} == set(ids[1:])

    await asyncio.to_thread(session)
    # Quotes from another wallet's orders show up on the public routes.
    from arbkit.core.enums import Side as CoreSide
    from arbkit.sim.engine import OrderParams

    acct = ctx.accounts[0].account_id
    ctx.engine.submit(OrderParams(account_id=acct, symbol=yes, side=CoreSide.BUY, size=Decimal("10"), price=Decimal("0.42")))
    ctx.engine.submit(OrderParams(account_id=acct, symbol=no, side=CoreSide.BUY, size=Decimal("10"), price=Decimal("0.52")))

    def quotes() -> None:
        c = ClobClient(info["rest_url"], chain_id=137)
        assert c.get_price(yes, "BUY") == {"price": "0.42"}  # BUY -> best bid, as the venue
        assert c.get_price(yes, "SELL") == {"price": "0.48"}  # the NO bid at 0.52 mirrored
        assert c.get_midpoint(yes) == {"mid": "0.45"}
        assert c.get_spread(yes) == {"spread": "0.06"}
        books = c.get_order_books([BookParams(token_id=yes), BookParams(token_id=no)])
        assert [b["asset_id"] for b in books] == [yes, no]
        assert books[1]["bids"] == [{"price": "0.52", "size": "10"}] and books[1]["asks"] == [{"price": "0.58", "size": "10"}]
        assert all(c.get_order_book_hash(dict(b)) == b["hash"] for b in books)
        assert c.get_midpoints([BookParams(token_id=yes)]) == {yes: "0.45"}
        assert c.get_prices([BookParams(token_id=yes, side="BUY"), BookParams(token_id=yes, side="SELL")]) == {
            yes: {"BUY": "0.42", "SELL": "0.48"}
        }

    await asyncio.to_thread(quotes)
