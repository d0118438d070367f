"""The simulated Kalshi REST API over real loopback sockets, read by Kalshi's official Python SDK.

``kalshi-python-sync`` 3.2.0 (Kalshi's own generated SDK, the last release installable on Python
3.11) is pointed at the simulator through ``Configuration(host=...)`` and signs every request with
its own RSA-PSS code. Its typed models predate the 2026-03-12 fixed-point cut (they still require
the removed integer fields), so the tests call the SDK's ``*_without_preload_content`` methods: the
SDK builds, signs and sends the request; the test reads the fixed-point JSON the venue returns.

That SDK predates V2 order entry: its create/cancel go to the retired legacy routes, which the
simulator (like the venue) answers with HTTP 410 ``deprecated_v1_order_endpoint`` (tested here).
Orders are therefore placed through the V2 routes with :func:`place` (a request signed with
``cryptography`` exactly as Kalshi documents); the newest SDK (3.34.0, Python >= 3.13) drives the V2
routes itself in ``test_kalshi_sim_official_sdk_v2.py``. Stale-timestamp and tampered-signature
cases are sent with aiohttp too.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from arbkit.core.clock import LiveClock
from arbkit.sim.kalshi.auth import auth_headers, load_private_key
from arbkit.sim.kalshi.server import KalshiServer
from arbkit.sim.kalshi.standalone import MarketDef, build_context

kalshi_sdk = pytest.importorskip("kalshi_python_sync", reason="Kalshi's official SDK (test extra) is not installed")

LINEAR = "KXSIMA-26DEC31-T50"
TAPERED = "KXSIMB-26DEC31-T10"
DECI = "KXSIMC-26DEC31-T20"


@pytest.fixture
async def venue(tmp_path: Path):
    markets = [
        MarketDef(LINEAR, title="Will A exceed 50?", venue_meta={"event_ticker": "KXSIMA-26DEC31", "series_ticker": "KXSIMA"}),
        MarketDef(TAPERED, title="Will B exceed 10?", price_level_structure="tapered_deci_cent", venue_meta={"event_ticker": "KXSIMB-26DEC31"}),
        MarketDef(DECI, title="Will C exceed 20?", price_level_structure="deci_cent", venue_meta={"event_ticker": "KXSIMB-26DEC31"}),
    ]
    ctx = build_context(LiveClock(), markets, tmp_path / "keys", n_accounts=2)
    server = KalshiServer(ctx)
    await server.start("127.0.0.1")
    try:
        yield server
    finally:
        await server.stop()


def sdk_client(server: KalshiServer, account_index: int = 0, pem_from: int | None = None):
    """Kalshi's SDK pointed at the simulator; ``pem_from`` signs with another account's key."""
    info = server.info()
    acct = info["accounts"][account_index]
    pem_path = info["accounts"][pem_from if pem_from is not None else account_index]["private_key_path"]
    config = kalshi_sdk.Configuration(host=info["rest_url"])
    config.api_key_id = acct["key_id"]
    config.private_key_pem = Path(pem_path).read_text()
    return kalshi_sdk.KalshiClient(config)


async def call(fn, *args, **kwargs):
    """Run a blocking SDK call off the loop (the server runs on this loop); (status, json)."""
    resp = await asyncio.to_thread(fn, *args, **kwargs)
    return resp.status, json.loads(resp.data)


async def raw(server: KalshiServer, method: str, path: str, body: object, account_index: int = 0) -> tuple[int, dict]:
    """A request signed with ``cryptography`` as Kalshi documents (for bodies the SDK will not send)."""
    info = server.info()
    acct = info["accounts"][account_index]
    headers = auth_headers(acct["key_id"], load_private_key(acct["private_key_path"]), method, "/trade-api/v2" + path.split("?")[0])
    data = None if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    if data is not None:
        headers["Content-Type"] = "application/json"
    async with aiohttp.ClientSession() as http:
        async with http.request(method, info["rest_url"] + path, data=data, headers=headers) as r:
            return r.status, await r.json()


def _v2(ticker: str, side: str, action: str, count: int | str, price: str, **kw: object) -> dict:
    """A V2 create body for a (side, action) intent: buy YES = bid at p, sell YES = ask at p,
    buy NO = ask at 1 - p, sell NO = bid at 1 - p (docs.kalshi.com create-order-v2)."""
    p = Decimal(price)
    yes = p if side == "yes" else 1 - p
    book = "bid" if (side, action) in (("yes", "buy"), ("no", "sell")) else "ask"
    body = {"ticker": ticker, "side": book, "count": str(count), "price": f"{yes:.4f}",
            "time_in_force": "good_till_canceled", "self_trade_prevention_type": "taker_at_cross"}
    body.update(kw)
    return body


async def place(server: KalshiServer, account_index: int, ticker: str, side: str, action: str, count: int | str,
                price: str, **kw: object) -> tuple[int, dict]:
    return await raw(server, "POST", "/portfolio/events/orders", _v2(ticker, side, action, count, price, **kw), account_index)


async def order_of(server: KalshiServer, account_index: int, order_id: str) -> dict:
    s, got = await raw(server, "GET", f"/portfolio/orders/{order_id}", None, account_index)
    assert s == 200, got
    return got["order"]


async def test_the_legacy_sdk_meets_410_on_the_retired_order_routes(venue: KalshiServer) -> None:
    """kalshi-python-sync 3.2.0 still posts to /portfolio/orders: the venue retired it (410)."""
    a = sdk_client(venue, 0)
    s, e = await call(a.create_order_without_preload_content,
                      kalshi_sdk.CreateOrderRequest(ticker=LINEAR, side="yes", action="buy", count=1, yes_price_dollars="0.4000"))
    assert s == 410 and e["error"]["code"] == "deprecated_v1_order_endpoint"
    s, e = await call(a.cancel_order_without_preload_content, "00000000-0000-4000-8000-000000000000")
    assert s == 410 and e["error"]["code"] == "deprecated_v1_order_endpoint"
    s, e = await call(a.batch_create_orders_without_preload_content, kalshi_sdk.BatchCreateOrdersRequest(orders=[
        kalshi_sdk.CreateOrderRequest(ticker=LINEAR, side="yes", action="buy", count=1, yes_price_dollars="0.3000")]))
    assert s == 410 and e["error"]["code"] == "deprecated_v1_order_endpoint"
    s, e = await call(a.batch_cancel_orders_without_preload_content, kalshi_sdk.BatchCancelOrdersRequest(ids=["x"]))
    assert s == 410
    # nothing reached the book; reads of the order list still work
    s, listed = await call(a.get_orders_without_preload_content)
    assert s == 200 and listed["orders"] == [] and venue.engine.orders(venue.info()["accounts"][0]["key_id"]) == []


async def test_official_sdk_reads_markets_events_series_and_order_book(venue: KalshiServer) -> None:
    c = sdk_client(venue)
    status, body = await call(c.get_markets_without_preload_content, limit=2)
    assert status == 200
    assert [m["ticker"] for m in body["markets"]] == [LINEAR, TAPERED]
    assert body["cursor"]
    status, page2 = await call(c.get_markets_without_preload_content, limit=2, cursor=body["cursor"])
    assert [m["ticker"] for m in page2["markets"]] == [DECI] and page2["cursor"] == ""
    _, by_event = await call(c.get_markets_without_preload_content, event_ticker="KXSIMB-26DEC31")
    assert [m["ticker"] for m in by_event["markets"]] == [TAPERED, DECI]
    _, by_series = await call(c.get_markets_without_preload_content, series_ticker="KXSIMA")
    assert [m["ticker"] for m in by_series["markets"]] == [LINEAR]
    _, by_tickers = await call(c.get_markets_without_preload_content, tickers=f"{DECI},{LINEAR}")
    assert {m["ticker"] for m in by_tickers["markets"]} == {DECI, LINEAR}
    _, open_ = await call(c.get_markets_without_preload_content, status="open")
    assert len(open_["markets"]) == 3
    _, closed = await call(c.get_markets_without_preload_content, status="settled")
    assert closed["markets"] == []

    status, one = await call(c.get_market_without_preload_content, TAPERED)
    assert status == 200
    m = one["market"]
    assert m["price_level_structure"] == "tapered_deci_cent"
    assert m["price_ranges"] == [
        {"end": "0.1000", "start": "0.0000", "step": "0.0010"},
        {"end": "0.9000", "start": "0.1000", "step": "0.0100"},
        {"end": "1.0000", "start": "0.9000", "step": "0.0010"},
    ]
    assert "yes_bid" not in m and "volume" not in m  # the legacy integer fields are gone

    # a book: two YES bids and one NO bid from account 1
    for side, price, count in (("yes", "0.4200", 13), ("yes", "0.3500", 200), ("no", "0.5400", 400)):
        status, _ = await place(venue, 1, LINEAR, side, "buy", count, price)
        assert status == 201
    status, book = await call(c.get_market_orderbook_without_preload_content, LINEAR)
    assert status == 200
    assert book == {"orderbook_fp": {"no_dollars": [["0.5400", "400.00"]], "yes_dollars": [["0.3500", "200.00"], ["0.4200", "13.00"]]}}
    _, top = await call(c.get_market_orderbook_without_preload_content, LINEAR, depth=1)
    assert top["orderbook_fp"]["yes_dollars"] == [["0.4200", "13.00"]]
    _, m2 = await call(c.get_market_without_preload_content, LINEAR)
    assert (m2["market"]["yes_bid_dollars"], m2["market"]["yes_ask_dollars"], m2["market"]["no_bid_dollars"]) == ("0.4200", "0.4600", "0.5400")

    status, ev = await call(c.get_event_without_preload_content, "KXSIMB-26DEC31")
    assert status == 200 and [x["ticker"] for x in ev["markets"]] == [TAPERED, DECI]
    status, series = await call(c.get_series_without_preload_content, "KXSIMA")
    assert status == 200 and series["series"]["fee_type"] == "quadratic" and series["series"]["fee_multiplier"] == 1
    status, ex = await call(c.get_exchange_status_without_preload_content)
    assert ex == {"exchange_active": True, "exchange_estimated_resume_time": None, "trading_active": True}
    status, missing = await call(c.get_market_without_preload_content, "NOPE-1")
    assert status == 404 and missing["error"]["code"] == "not_found"


async def test_order_rests_partially_fills_against_a_second_account_and_is_canceled(venue: KalshiServer) -> None:
    a, b = sdk_client(venue, 0), sdk_client(venue, 1)
    status, created = await place(venue, 0, LINEAR, "yes", "buy", 10, "0.4000", client_order_id="acc-a-1")
    assert status == 201
    assert (created["client_order_id"], created["fill_count"], created["remaining_count"]) == ("acc-a-1", "0.00", "10.00")
    oid = created["order_id"]
    order = await order_of(venue, 0, oid)
    assert order["status"] == "resting" and order["fill_count_fp"] == "0.00" and order["remaining_count_fp"] == "10.00"
    assert (order["yes_price_dollars"], order["no_price_dollars"], order["outcome_side"], order["book_side"]) == ("0.4000", "0.6000", "yes", "bid")
    assert "side" not in order and "action" not in order  # deprecated fields are no longer sent
    _, book = await call(a.get_market_orderbook_without_preload_content, LINEAR)
    assert book["orderbook_fp"]["yes_dollars"] == [["0.4000", "10.00"]]

    # B sells 4 YES it does not hold (an ask on the YES book): on Kalshi that opens a NO position at 0.60
    status, sold = await place(venue, 1, LINEAR, "yes", "sell", 4, "0.4000", time_in_force="immediate_or_cancel")
    assert status == 201 and sold["fill_count"] == "4.00" and sold["remaining_count"] == "0.00"
    assert sold["average_fill_price"] == "0.4000"
    sold_o = await order_of(venue, 1, sold["order_id"])
    assert sold_o["status"] == "executed" and (sold_o["outcome_side"], sold_o["book_side"]) == ("no", "ask")
    # taker fee for a direct member (an API account): 0.07 * 4 * 0.40 * 0.60 = $0.0672, rounded up to
    # $0.0001 only (a non-direct member would pay $0.07)
    assert sold_o["taker_fees_dollars"] == "0.0672" and sold_o["taker_fill_cost_dollars"] == "1.6000"

    status, trades = await call(a.get_trades_without_preload_content, ticker=LINEAR)
    assert status == 200 and len(trades["trades"]) == 1
    t = trades["trades"][0]
    assert (t["yes_price_dollars"], t["no_price_dollars"], t["count_fp"], t["taker_outcome_side"], t["taker_book_side"]) == (
        "0.4000", "0.6000", "4.00", "no", "ask")
    assert "taker_side" not in t

    o = await order_of(venue, 0, oid)
    assert (o["status"], o["fill_count_fp"], o["remaining_count_fp"], o["initial_count_fp"]) == ("resting", "4.00", "6.00", "10.00")
    assert o["maker_fill_cost_dollars"] == "1.6000" and o["maker_fees_dollars"] == "0.0000"

    _, fills_a = await call(a.get_fills_without_preload_content)
    assert len(fills_a["fills"]) == 1
    f = fills_a["fills"][0]
    assert (f["order_id"], f["is_taker"], f["count_fp"], f["yes_price_dollars"], f["outcome_side"], f["book_side"]) == (
        oid, False, "4.00", "0.4000", "yes", "bid")
    _, fills_b = await call(b.get_fills_without_preload_content)
    fb = fills_b["fills"][0]
    # a sale of YES is reported as outcome_side=no (docs.kalshi.com "Order direction")
    assert (fb["is_taker"], fb["outcome_side"], fb["book_side"], fb["fee_cost"]) == (True, "no", "ask", "0.0672")
    assert "side" not in fb and "action" not in fb

    _, pos_a = await call(a.get_positions_without_preload_content)
    _, pos_b = await call(b.get_positions_without_preload_content)
    assert pos_a["market_positions"][0]["position_fp"] == "4.00"
    assert pos_a["market_positions"][0]["market_exposure_dollars"] == "1.6000"
    assert pos_b["market_positions"][0]["position_fp"] == "-4.00"
    assert pos_b["market_positions"][0]["market_exposure_dollars"] == "2.4000"

    _, bal_a = await call(a.get_balance_without_preload_content)
    _, bal_b = await call(b.get_balance_without_preload_content)
    # A: 10000 - 1.60 paid - what the resting remainder reserves: 6 * 0.40 plus its worst-case
    # fee, ceil(0.07 * 6 * 0.25 * 100) = 11 cents (the engine reserves fees with the order)
    assert bal_a["balance"] == 1_000_000 - 160 - 240 - 11
    # B: 10000 - 4 * 0.60 - 0.0672 fee = 9997.5328 (integer cents floor it)
    assert bal_b["balance"] == 999_753 and bal_b["balance_dollars"] == "9997.5328"

    status, canceled = await raw(venue, "DELETE", f"/portfolio/events/orders/{oid}", None, 0)
    assert status == 200
    assert canceled["order_id"] == oid and canceled["reduced_by"] == "6.00" and canceled["client_order_id"] == "acc-a-1"
    o = await order_of(venue, 0, oid)
    assert o["status"] == "canceled" and o["remaining_count_fp"] == "0.00" and o["fill_count_fp"] == "4.00"
    _, bal_a2 = await call(a.get_balance_without_preload_content)
    assert bal_a2["balance"] == 1_000_000 - 160
    status, again = await raw(venue, "DELETE", f"/portfolio/events/orders/{oid}", None, 0)
    assert status == 404

    _, listed = await call(a.get_orders_without_preload_content, status="canceled")
    assert [x["order_id"] for x in listed["orders"]] == [oid]
    _, resting = await call(a.get_orders_without_preload_content, status="resting")
    assert resting["orders"] == []


async def test_selling_a_held_position_and_netting_yes_against_no(venue: KalshiServer) -> None:
    a, b = sdk_client(venue, 0), sdk_client(venue, 1)
    assert (await place(venue, 1, LINEAR, "no", "buy", 5, "0.5000"))[0] == 201  # YES ask 0.50
    s, _ = await place(venue, 0, LINEAR, "yes", "buy", 5, "0.5000")  # A takes: +5 YES
    assert s == 201
    assert (await place(venue, 1, LINEAR, "yes", "buy", 5, "0.6000"))[0] == 201  # B: YES bid 0.60
    s, sold = await place(venue, 0, LINEAR, "yes", "sell", 5, "0.6000")  # A sells what it holds
    assert s == 201 and sold["fill_count"] == "5.00"
    _, pos = await call(a.get_positions_without_preload_content)
    mp = pos["market_positions"][0]
    assert mp["position_fp"] == "0.00" and mp["market_exposure_dollars"] == "0.0000"
    # bought 5 at 0.50, sold 5 at 0.60: +0.50 before fees
    assert mp["realized_pnl_dollars"] == "0.5000"
    # B held 5 NO, then bought 5 YES: netted into $5 of cash, no position left
    _, pos_b = await call(b.get_positions_without_preload_content)
    assert pos_b["market_positions"][0]["position_fp"] == "0.00"
    acc = venue.engine.accounts
    from arbkit.sim.events import Outcome

    assert acc.pos_total(venue.info()["accounts"][1]["key_id"], LINEAR, Outcome.YES) == 0
    assert acc.pos_total(venue.info()["accounts"][1]["key_id"], LINEAR, Outcome.NO) == 0


async def test_order_validation_errors_have_kalshis_shape(venue: KalshiServer) -> None:
    async def order(ticker: str = LINEAR, price: str = "0.5000", **kw):
        return await place(venue, 0, ticker, "yes", "buy", kw.pop("count", 1), price, **kw)

    s, e = await order(price="0.4050")
    assert s == 400 and e["error"]["code"] == "invalid_price" and "linear_cent" in e["error"]["details"]
    assert (await order(DECI, "0.4050"))[0] == 201
    assert (await order(TAPERED, "0.0050"))[0] == 201
    assert (await order(TAPERED, "0.9550"))[0] == 201
    s, e = await order(TAPERED, "0.4150")
    assert s == 400 and e["error"]["code"] == "invalid_price"
    s, e = await order(LINEAR, "1.0000")
    assert s == 400 and e["error"]["code"] == "invalid_price"
    s, e = await order("NOPE-26")
    assert s == 404 and e["error"]["code"] == "market_not_found"
    s, e = await raw(venue, "POST", "/portfolio/events/orders", {k: v for k, v in _v2(LINEAR, "yes", "buy", 1, "0.5").items() if k != "price"})
    assert s == 400 and e["error"]["code"] == "invalid_parameters" and "price" in e["error"]["details"]
    s, e = await order(time_in_force="good_till_date")
    assert s == 400 and "time_in_force" in e["error"]["details"]
    # fractional counts are accepted on every market (fractional_trading_enabled was removed)
    s, made = await order(count="1.50")
    assert s == 201 and made["remaining_count"] == "1.50"
    s, e = await order(count="2")
    assert s == 201 and e["remaining_count"] == "2.00"
    s, e = await raw(venue, "POST", "/portfolio/events/orders", {**_v2(LINEAR, "yes", "buy", 1, "0.5"), "price": "0.50001"})
    assert s == 400 and e["error"]["code"] == "invalid_parameters"
    s, e = await raw(venue, "POST", "/portfolio/events/orders", {**_v2(LINEAR, "yes", "buy", 1, "0.5"), "count": 3})  # a string
    assert s == 400 and e["error"]["code"] == "invalid_parameters"
    s, e = await raw(venue, "POST", "/portfolio/events/orders", b"{not json")
    assert s == 400 and e["error"]["code"] == "invalid_parameters"

    # duplicate client_order_id among live orders: 409
    s, _ = await order(price="0.2000", client_order_id="dup-1")
    assert s == 201
    s, e = await order(price="0.2100", client_order_id="dup-1")
    assert s == 409 and e["error"]["code"] == "order_already_exists"

    # fill-or-kill with nothing to fill: 409 as the venue answers it
    s, e = await order(price="0.9900", time_in_force="fill_or_kill")
    assert s == 409 and e["error"]["code"] == "fill_or_kill_insufficient_resting_volume"

    # post-only that would take liquidity
    s, _ = await place(venue, 1, LINEAR, "no", "buy", 3, "0.3000")
    assert s == 201  # YES ask 0.70
    s, e = await order(price="0.7000", post_only=True)
    assert s == 400 and e["error"]["code"] == "post_only_cross"
    # reduce-only: only with immediate_or_cancel (CreateOrderV2Request.reduce_only), and a position to reduce
    s, e = await place(venue, 0, LINEAR, "yes", "sell", 1, "0.9000", reduce_only=True)
    assert s == 400 and "immediate_or_cancel" in e["error"]["details"]
    s, e = await place(venue, 0, LINEAR, "yes", "sell", 1, "0.9000", reduce_only=True, time_in_force="immediate_or_cancel")
    assert s == 400 and e["error"]["code"] == "reduce_only_no_position"
    # more than the account can pay
    s, e = await order(count="100000")
    assert s == 400 and e["error"]["code"] == "insufficient_balance"


async def test_batch_create_and_batch_cancel(venue: KalshiServer) -> None:
    s, body = await raw(venue, "POST", "/portfolio/events/orders/batched", {"orders": [
        _v2(LINEAR, "yes", "buy", 1, "0.3000", client_order_id="b-1"),
        _v2(LINEAR, "yes", "buy", 1, "0.3050", client_order_id="b-2"),
        _v2(LINEAR, "no", "buy", 2, "0.6000", client_order_id="b-3"),
    ]})
    assert s == 201
    items = body["orders"]
    assert "error" not in items[0] and items[0]["client_order_id"] == "b-1"
    assert "order_id" not in items[1] and items[1]["error"]["code"] == "invalid_price" and items[1]["client_order_id"] == "b-2"
    assert (await order_of(venue, 0, items[2]["order_id"]))["status"] == "resting"
    ids = [items[0]["order_id"], items[2]["order_id"], "00000000-0000-4000-8000-000000000000"]
    s, canceled = await raw(venue, "DELETE", "/portfolio/events/orders/batched", {"orders": [{"order_id": i} for i in ids]})
    assert s == 200
    c = canceled["orders"]
    assert [x["order_id"] for x in c] == ids
    assert c[0]["reduced_by"] == "1.00" and "error" not in c[0] and c[1]["reduced_by"] == "2.00"
    assert (await order_of(venue, 0, ids[0]))["status"] == "canceled"
    assert c[2]["error"]["code"] == "not_found"


async def test_wrong_signature_and_stale_timestamp_are_refused(venue: KalshiServer) -> None:
    info = venue.info()
    # the official SDK signing with account 1's key but claiming account 0's key id
    forged = sdk_client(venue, 0, pem_from=1)
    status, body = await call(forged.get_balance_without_preload_content)
    assert status == 401
    assert body["error"]["code"] == "authentication_error"
    assert "INCORRECT_API_KEY_SIGNATURE" in body["error"]["details"]

    key_id = info["accounts"][0]["key_id"]
    pk = load_private_key(info["accounts"][0]["private_key_path"])
    path = "/trade-api/v2/portfolio/balance"
    async with aiohttp.ClientSession() as http:
        good = auth_headers(key_id, pk, "GET", path)
        async with http.get(info["rest_url"] + "/portfolio/balance", headers=good) as r:
            assert r.status == 200
        # the query string is not signed: signing the path alone must still verify
        good = auth_headers(key_id, pk, "GET", "/trade-api/v2/portfolio/orders")
        async with http.get(info["rest_url"] + "/portfolio/orders?limit=5&status=resting", headers=good) as r:
            assert r.status == 200
        stale = auth_headers(key_id, pk, "GET", path, now_ms=int(time.time() * 1000) - 60_000)
        async with http.get(info["rest_url"] + "/portfolio/balance", headers=stale) as r:
            assert r.status == 401
            body = await r.json()
            assert body["error"]["code"] == "authentication_error" and "OUT_OF_RANGE" in body["error"]["details"]
        # a signature over another path is refused
        other = auth_headers(key_id, pk, "GET", "/trade-api/v2/portfolio/positions")
        async with http.get(info["rest_url"] + "/portfolio/balance", headers=other) as r:
            assert r.status == 401
        # PKCS#1 v1.5 instead of PSS is refused
        ts = str(int(time.time() * 1000))
        sig = pk.sign(f"{ts}GET{path}".encode(), padding.PKCS1v15(), hashes.SHA256())
        bad = {"KALSHI-ACCESS-KEY": key_id, "KALSHI-ACCESS-TIMESTAMP": ts, "KALSHI-ACCESS-SIGNATURE": base64.b64encode(sig).decode()}
        async with http.get(info["rest_url"] + "/portfolio/balance", headers=bad) as r:
            assert r.status == 401
        async with http.get(info["rest_url"] + "/portfolio/balance") as r:
            assert r.status == 401 and (await r.json())["error"]["code"] == "authentication_error"
    assert venue.keys.refused["bad_signature"] >= 3 and venue.keys.refused["stale_timestamp"] == 1


async def test_rest_faults_rate_limit_server_error_and_halt(venue: KalshiServer) -> None:
    a = sdk_client(venue, 0)
    venue.faults.add({"kind": "REST_429", "venue": "kalshi", "match": "/portfolio/balance", "times": 1, "retry_after_s": 2})
    info = venue.info()
    key_id = info["accounts"][0]["key_id"]
    pk = load_private_key(info["accounts"][0]["private_key_path"])
    async with aiohttp.ClientSession() as http:
        async with http.get(info["rest_url"] + "/portfolio/balance", headers=auth_headers(key_id, pk, "GET", "/trade-api/v2/portfolio/balance")) as r:
            assert r.status == 429 and r.headers["Retry-After"] == "2"
            assert (await r.json())["error"]["code"] == "too_many_requests"
    status, _ = await call(a.get_balance_without_preload_content)
    assert status == 200  # used up after one firing
    venue.faults.add({"kind": "REST_5XX", "venue": "kalshi", "match": "/markets", "times": 1, "status": 503})
    status, body = await call(a.get_markets_without_preload_content)
    assert status == 503 and body["error"]["code"] == "service_unavailable"
    venue.faults.add({"kind": "SLOW_ACK", "venue": "kalshi", "match": "POST /trade-api/v2/portfolio/events/orders", "times": 1, "delay_s": 0.4})
    t0, w0 = time.monotonic(), time.time()
    status, made = await place(venue, 0, LINEAR, "yes", "buy", 1, "0.0100")
    assert status == 201 and time.monotonic() - t0 >= 0.4
    # a slow ACK is late, not unprocessed: the order was placed at once, only the answer waited
    assert made["ts_ms"] / 1000 - w0 < 0.3 and (await order_of(venue, 0, made["order_id"]))["status"] == "resting"
    fid = venue.faults.add({"kind": "VENUE_HALT", "venue": "kalshi"})
    status, ex = await call(a.get_exchange_status_without_preload_content)
    assert ex["trading_active"] is False
    status, e = await place(venue, 0, LINEAR, "yes", "buy", 1, "0.5000")
    assert status == 400 and e["error"]["code"] == "trading_is_paused"
    venue.faults.remove(fid)
    venue.faults.add({"kind": "ORDER_REJECT", "venue": "kalshi", "times": 1, "message": "risk check"})
    status, e = await place(venue, 0, LINEAR, "yes", "buy", 1, "0.5000")
    assert status == 400 and e["error"]["code"] == "order_rejected" and "risk check" in e["error"]["details"]


@pytest.mark.parametrize("member", ["non_direct", "direct"])
async def test_subpenny_fills_are_rounded_with_the_per_order_accumulator(tmp_path: Path, member: str) -> None:
    """Kalshi's fee rounding on a deci_cent market: one resting order filled three times."""
    ctx = build_context(LiveClock(), [MarketDef(DECI, price_level_structure="deci_cent", venue_meta={"event_ticker": "KXSIMB-26DEC31"})], tmp_path / "k")
    server = KalshiServer(ctx, member=member)
    await server.start("127.0.0.1")
    try:
        a, b = sdk_client(server, 0), sdk_client(server, 1)
        s, made = await place(server, 0, DECI, "yes", "buy", 3, "0.0550")
        assert s == 201
        oid = made["order_id"]
        taker_fees = []
        for _ in range(3):  # three 1-lot takers, each its own order (and accumulator)
            s, took = await place(server, 1, DECI, "yes", "sell", 1, "0.0550", time_in_force="fill_or_kill")
            assert s == 201 and took["fill_count"] == "1.00"
            taker_fees.append((await order_of(server, 1, took["order_id"]))["taker_fees_dollars"])
        o = {"order": await order_of(server, 0, oid)}
        _, fills = await call(a.get_fills_without_preload_content, order_id=oid)
        _, bal_a = await call(a.get_balance_without_preload_content)
        _, bal_b = await call(b.get_balance_without_preload_content)
        assert o["order"]["status"] == "executed"
        if member == "non_direct":
            # taker buys NO at 0.945: fee ceil(0.07*0.055*0.945, $0.0001) = 0.0037; -0.9487 floors to -0.95
            assert taker_fees == ["0.0050"] * 3
            # maker (no maker fee on a "quadratic" series): rounding 0.005 per fill; the accumulator
            # reaches 0.015 > 0.01 on the third fill and rebates a cent: 0.005 + 0.005 - 0.005
            assert o["order"]["maker_fees_dollars"] == "0.0050"
            assert [f["fee_cost"] for f in fills["fills"]] == ["-0.0050", "0.0050", "0.0050"]  # newest first
            # A paid 3 * 0.055 = 0.165, once rounded: 0.17; balances stay whole cents
            assert bal_a["balance_dollars"] == "9999.8300" and bal_b["balance_dollars"] == "9997.1500"
        else:
            # a direct member's balance is kept to $0.0001: no rounding fee at these prices
            assert taker_fees == ["0.0037"] * 3
            assert o["order"]["maker_fees_dollars"] == "0.0000"
            assert bal_a["balance_dollars"] == "9999.8350" and bal_b["balance_dollars"] == "9997.1539"
            assert bal_a["balance"] == 999_983
    finally:
        await server.stop()


async def test_maker_fees_on_a_series_that_charges_makers(tmp_path: Path) -> None:
    from arbkit.core.fees import FeeSpec

    fee = FeeSpec(kind="kalshi", taker_rate=Decimal("0.07"), maker_rate=Decimal("0.0175"))
    ctx = build_context(LiveClock(), [MarketDef("KXMAKER-26DEC31-T1", fee=fee, venue_meta={"event_ticker": "KXMAKER-26DEC31"})], tmp_path / "k")
    server = KalshiServer(ctx)
    await server.start("127.0.0.1")
    try:
        a, b = sdk_client(server, 0), sdk_client(server, 1)
        _, series = await call(a.get_series_without_preload_content, "KXMAKER")
        assert series["series"]["fee_type"] == "quadratic_with_maker_fees"
        s, made = await place(server, 0, "KXMAKER-26DEC31-T1", "yes", "buy", 10, "0.5000")
        assert s == 201
        s, took = await place(server, 1, "KXMAKER-26DEC31-T1", "no", "buy", 10, "0.5000")
        assert s == 201
        # direct member: taker 0.07 * 10 * 0.25 = $0.1750; maker 0.0175 * 10 * 0.25 = 0.04375 -> $0.0438
        assert (await order_of(server, 1, took["order_id"]))["taker_fees_dollars"] == "0.1750"
        assert took["average_fee_paid"] == "0.0175"  # per contract
        o = await order_of(server, 0, made["order_id"])
        assert o["maker_fees_dollars"] == "0.0438" and o["status"] == "executed"
        _, fills = await call(a.get_fills_without_preload_content, min_ts=int(time.time()) + 3600)
        assert fills["fills"] == []
        _, fills = await call(a.get_fills_without_preload_content, min_ts=int(time.time()) - 3600)
        assert [f["fee_cost"] for f in fills["fills"]] == ["0.0438"]
    finally:
        await server.stop()


async def test_v2_order_entry_bid_ask_on_the_yes_book(venue: KalshiServer) -> None:
    """POST/DELETE /portfolio/events/orders (V2: side bid|ask, fixed-point count and price)."""
    base = {"ticker": LINEAR, "time_in_force": "good_till_canceled", "self_trade_prevention_type": "maker"}
    s, made = await raw(venue, "POST", "/portfolio/events/orders", {**base, "side": "bid", "count": "5", "price": "0.40", "client_order_id": "v2-1"})
    assert s == 201
    assert {k: made[k] for k in ("client_order_id", "fill_count", "remaining_count")} == {"client_order_id": "v2-1", "fill_count": "0.00", "remaining_count": "5.00"}
    assert isinstance(made["ts_ms"], int) and "average_fill_price" not in made
    s, took = await raw(venue, "POST", "/portfolio/events/orders", {**base, "side": "ask", "count": "3.00", "price": "0.4000", "time_in_force": "immediate_or_cancel"}, account_index=1)
    assert s == 201 and (took["fill_count"], took["remaining_count"]) == ("3.00", "0.00")
    # 0.07 * 3 * 0.4 * 0.6 = 0.0504 for three contracts
    assert took["average_fill_price"] == "0.4000" and took["average_fee_paid"] == "0.0168"
    # the same order seen through the legacy read endpoints
    s, got = await raw(venue, "GET", f"/portfolio/orders/{made['order_id']}", None)
    assert s == 200 and (got["order"]["outcome_side"], got["order"]["book_side"], got["order"]["fill_count_fp"]) == ("yes", "bid", "3.00")
    s, canceled = await raw(venue, "DELETE", f"/portfolio/events/orders/{made['order_id']}", None)
    assert s == 200 and canceled["reduced_by"] == "2.00" and canceled["client_order_id"] == "v2-1"
    s, e = await raw(venue, "POST", "/portfolio/events/orders", {"ticker": LINEAR, "side": "bid", "count": "1", "price": "0.40", "time_in_force": "good_till_canceled"})
    assert s == 400 and "self_trade_prevention_type" in e["error"]["details"]
    s, e = await raw(venue, "POST", "/portfolio/events/orders", {**base, "side": "buy", "count": "1", "price": "0.40"})
    assert s == 400 and e["error"]["code"] == "invalid_parameters"
    s, batch = await raw(venue, "POST", "/portfolio/events/orders/batched", {"orders": [
        {**base, "side": "bid", "count": "1", "price": "0.20"}, {**base, "side": "bid", "count": "1", "price": "0.205", "client_order_id": "bad"}]})
    assert s == 201
    assert batch["orders"][0]["remaining_count"] == "1.00" and "error" not in batch["orders"][0]
    assert batch["orders"][1] == {"client_order_id": "bad", "error": batch["orders"][1]["error"]} and batch["orders"][1]["error"]["code"] == "invalid_price"
    s, gone = await raw(venue, "DELETE", "/portfolio/events/orders/batched", {"orders": [{"order_id": batch["orders"][0]["order_id"]}, {"order_id": "nope"}]})
    assert s == 200 and gone["orders"][0]["reduced_by"] == "1.00" and gone["orders"][1]["error"]["code"] == "not_found"
