"""The simulated Kalshi REST API over real loopback sockets, driven by Kalshi's official Python SDK.

``kalshi-python-sync`` 3.2.0 (Kalshi's own generated SDK, the last release installable on Python
3.11) is pointed at the simulator through ``Configuration(host=...)`` and signs every request with
its own RSA-PSS code. Its typed models predate the 2026-03-12 fixed-point cut (they still require
the removed integer fields), so the tests call the SDK's ``*_without_preload_content`` methods: the
SDK builds, signs and sends the request; the test reads the fixed-point JSON the venue returns.
Stale-timestamp and tampered-signature cases are sent with aiohttp, signed with ``cryptography``
exactly as Kalshi documents.
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
    c1 = sdk_client(venue, 1)
    for side, price_field, price, count in (("yes", "yes_price_dollars", "0.4200", 13), ("yes", "yes_price_dollars", "0.3500", 200), ("no", "no_price_dollars", "0.5400", 400)):
        req = kalshi_sdk.CreateOrderRequest(ticker=LINEAR, side=side, action="buy", count=count, **{price_field: price})
        status, _ = await call(c1.create_order_without_preload_content, req)
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
    status, created = await call(
        a.create_order_without_preload_content,
        kalshi_sdk.CreateOrderRequest(ticker=LINEAR, side="yes", action="buy", count=10, yes_price_dollars="0.4000", client_order_id="acc-a-1"),
    )
    assert status == 201
    order = created["order"]
    assert order["status"] == "resting" and order["fill_count_fp"] == "0.00" and order["remaining_count_fp"] == "10.00"
    assert (order["yes_price_dollars"], order["no_price_dollars"], order["side"], order["action"]) == ("0.4000", "0.6000", "yes", "buy")
    oid = order["order_id"]
    _, book = await call(a.get_market_orderbook_without_preload_content, LINEAR)
    assert book["orderbook_fp"]["yes_dollars"] == [["0.4000", "10.00"]]

    # B sells 4 YES it does not hold: on Kalshi that opens a NO position at 0.60
    status, sold = await call(
        b.create_order_without_preload_content,
        kalshi_sdk.CreateOrderRequest(ticker=LINEAR, side="yes", action="sell", count=4, yes_price_dollars="0.4000", time_in_force="immediate_or_cancel"),
    )
    assert status == 201
    assert sold["order"]["status"] == "executed" and sold["order"]["fill_count_fp"] == "4.00"
    # taker fee for a direct member (an API account): 0.07 * 4 * 0.40 * 0.60 = $0.0672, rounded up to
    # $0.0001 only (a non-direct member would pay $0.07)
    assert sold["order"]["taker_fees_dollars"] == "0.0672" and sold["order"]["taker_fill_cost_dollars"] == "1.6000"

    status, trades = await call(a.get_trades_without_preload_content, ticker=LINEAR)
    assert status == 200 and len(trades["trades"]) == 1
    t = trades["trades"][0]
    assert (t["yes_price_dollars"], t["no_price_dollars"], t["count_fp"], t["taker_side"]) == ("0.4000", "0.6000", "4.00", "yes")

    status, got = await call(a.get_order_without_preload_content, oid)
    assert status == 200
    o = got["order"]
    assert (o["status"], o["fill_count_fp"], o["remaining_count_fp"], o["initial_count_fp"]) == ("resting", "4.00", "6.00", "10.00")
    assert o["maker_fill_cost_dollars"] == "1.6000" and o["maker_fees_dollars"] == "0.0000"

    _, fills_a = await call(a.get_fills_without_preload_content)
    assert len(fills_a["fills"]) == 1
    f = fills_a["fills"][0]
    assert (f["order_id"], f["is_taker"], f["count_fp"], f["yes_price_dollars"], f["side"], f["action"]) == (oid, False, "4.00", "0.4000", "yes", "buy")
    _, fills_b = await call(b.get_fills_without_preload_content)
    fb = fills_b["fills"][0]
    assert (fb["is_taker"], fb["side"], fb["action"], fb["outcome_side"], fb["fee_cost"]) == (True, "yes", "sell", "no", "0.0672")

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

    status, canceled = await call(a.cancel_order_without_preload_content, oid)
    assert status == 200
    assert canceled["order"]["status"] == "canceled" and canceled["reduced_by_fp"] == "6.00"
    assert canceled["order"]["remaining_count_fp"] == "0.00" and canceled["order"]["fill_count_fp"] == "4.00"
    _, bal_a2 = await call(a.get_balance_without_preload_content)
    assert bal_a2["balance"] == 1_000_000 - 160
    status, again = await call(a.cancel_order_without_preload_content, oid)
    assert status == 404

    _, listed = await call(a.get_orders_without_preload_content, status="canceled")
    assert [x["order_id"] for x in listed["orders"]] == [oid]
    _, resting = await call(a.get_orders_without_preload_content, status="resting")
    assert resting["orders"] == []


async def test_selling_a_held_position_and_netting_yes_against_no(venue: KalshiServer) -> None:
    a, b = sdk_client(venue, 0), sdk_client(venue, 1)
    async def order(client, **kw):
        return await call(client.create_order_without_preload_content, kalshi_sdk.CreateOrderRequest(ticker=LINEAR, **kw))

    assert (await order(b, side="no", action="buy", count=5, no_price_dollars="0.5000"))[0] == 201  # YES ask 0.50
    s, _ = await order(a, side="yes", action="buy", count=5, yes_price_dollars="0.5000")  # A takes: +5 YES
    assert s == 201
    assert (await order(b, side="yes", action="buy", count=5, yes_price_dollars="0.6000"))[0] == 201  # B: YES bid 0.60
    s, sold = await order(a, side="yes", action="sell", count=5, yes_price_dollars="0.6000")  # A sells what it holds
    assert s == 201 and sold["order"]["fill_count_fp"] == "5.00"
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
    a = sdk_client(venue, 0)

    async def order(**kw):
        return await call(a.create_order_without_preload_content, kalshi_sdk.CreateOrderRequest(action="buy", count=1, **kw))

    s, e = await order(ticker=LINEAR, side="yes", yes_price_dollars="0.4050")
    assert s == 400 and e["error"]["code"] == "invalid_price" and "linear_cent" in e["error"]["details"]
    assert (await order(ticker=DECI, side="yes", yes_price_dollars="0.4050"))[0] == 201
    assert (await order(ticker=TAPERED, side="yes", yes_price_dollars="0.0050"))[0] == 201
    assert (await order(ticker=TAPERED, side="yes", yes_price_dollars="0.9550"))[0] == 201
    s, e = await order(ticker=TAPERED, side="yes", yes_price_dollars="0.4150")
    assert s == 400 and e["error"]["code"] == "invalid_price"
    s, e = await order(ticker=LINEAR, side="yes", yes_price_dollars="1.0000")
    assert s == 400 and e["error"]["code"] == "invalid_price"
    s, e = await order(ticker="NOPE-26", side="yes", yes_price_dollars="0.5000")
    assert s == 404 and e["error"]["code"] == "market_not_found"
    s, e = await order(ticker=LINEAR, side="yes")
    assert s == 400 and e["error"]["code"] == "invalid_parameters" and "price" in e["error"]["details"]
    # values the SDK itself refuses to send go out raw, signed as Kalshi documents
    s, e = await raw(venue, "POST", "/portfolio/orders", {"ticker": LINEAR, "side": "yes", "action": "buy", "count": 1, "yes_price_dollars": "0.5000", "time_in_force": "good_till_date"})
    assert s == 400 and "time_in_force" in e["error"]["details"]
    s, e = await raw(venue, "POST", "/portfolio/orders", {"ticker": LINEAR, "side": "yes", "action": "buy", "count_fp": "1.50", "yes_price_dollars": "0.5000"})
    assert s == 400 and "fractional" in e["error"]["details"]
    s, e = await raw(venue, "POST", "/portfolio/orders", {"ticker": LINEAR, "side": "yes", "action": "buy", "count": 2, "count_fp": "3.00", "yes_price_dollars": "0.5000"})
    assert s == 400 and "do not match" in e["error"]["details"]
    s, e = await raw(venue, "POST", "/portfolio/orders", {"ticker": LINEAR, "side": "yes", "action": "buy", "count_fp": "2", "yes_price_dollars": "0.50"})
    assert s == 201 and e["order"]["initial_count_fp"] == "2.00" and e["order"]["yes_price_dollars"] == "0.5000"
    s, e = await raw(venue, "POST", "/portfolio/orders", {"ticker": LINEAR, "side": "yes", "action": "buy", "count": 1, "yes_price_dollars": "0.50001"})
    assert s == 400 and e["error"]["code"] == "invalid_parameters"
    s, e = await raw(venue, "POST", "/portfolio/orders", b"{not json")
    assert s == 400 and e["error"]["code"] == "invalid_parameters"
    s, e = await order(ticker=LINEAR, side="yes", yes_price_dollars="0.5000", type="market")
    assert s == 400 and "limit orders only" in e["error"]["details"]

    # duplicate client_order_id among live orders: 409
    s, _ = await order(ticker=LINEAR, side="yes", yes_price_dollars="0.2000", client_order_id="dup-1")
    assert s == 201
    s, e = await order(ticker=LINEAR, side="yes", yes_price_dollars="0.2100", client_order_id="dup-1")
    assert s == 409 and e["error"]["code"] == "order_already_exists"

    # fill-or-kill with nothing to fill: 409 as the venue answers it
    s, e = await order(ticker=LINEAR, side="yes", yes_price_dollars="0.9900", time_in_force="fill_or_kill")
    assert s == 409 and e["error"]["code"] == "fill_or_kill_insufficient_resting_volume"
    # buy_max_cost implies fill-or-kill
    s, e = await order(ticker=LINEAR, side="yes", yes_price_dollars="0.9900", buy_max_cost=500)
    assert s == 409

    # post-only that would take liquidity
    b = sdk_client(venue, 1)
    s, _ = await call(b.create_order_without_preload_content, kalshi_sdk.CreateOrderRequest(ticker=LINEAR, side="no", action="buy", count=3, no_price_dollars="0.3000"))
    assert s == 201  # YES ask 0.70
    s, e = await order(ticker=LINEAR, side="yes", yes_price_dollars="0.7000", post_only=True)
    assert s == 400 and e["error"]["code"] == "post_only_cross"
    # reduce-only with no position
    s, e = await call(a.create_order_without_preload_content, kalshi_sdk.CreateOrderRequest(ticker=LINEAR, side="yes", action="sell", count=1, yes_price_dollars="0.9000", reduce_only=True))
    assert s == 400 and e["error"]["code"] == "reduce_only_no_position"
    # more than the account can pay
    s, e = await call(a.create_order_without_preload_content, kalshi_sdk.CreateOrderRequest(ticker=LINEAR, side="yes", action="buy", count=100_000, yes_price_dollars="0.5000"))
    assert s == 400 and e["error"]["code"] == "insufficient_balance"


async def test_batch_create_and_batch_cancel(venue: KalshiServer) -> None:
    a = sdk_client(venue, 0)
    req = kalshi_sdk.BatchCreateOrdersRequest(
        orders=[
            kalshi_sdk.CreateOrderRequest(ticker=LINEAR, side="yes", action="buy", count=1, yes_price_dollars="0.3000", client_order_id="b-1"),
            kalshi_sdk.CreateOrderRequest(ticker=LINEAR, side="yes", action="buy", count=1, yes_price_dollars="0.3050", client_order_id="b-2"),
            kalshi_sdk.CreateOrderRequest(ticker=LINEAR, side="no", action="buy", count=2, no_price_dollars="0.6000", client_order_id="b-3"),
        ]
    )
    status, body = await call(a.batch_create_orders_without_preload_content, req)
    assert status == 201
    items = body["orders"]
    assert items[0]["error"] is None and items[0]["order"]["client_order_id"] == "b-1"
    assert items[1]["order"] is None and items[1]["error"]["code"] == "invalid_price" and items[1]["client_order_id"] == "b-2"
    assert items[2]["order"]["status"] == "resting"
    ids = [items[0]["order"]["order_id"], items[2]["order"]["order_id"], "00000000-0000-4000-8000-000000000000"]
    status, canceled = await call(a.batch_cancel_orders_without_preload_content, kalshi_sdk.BatchCancelOrdersRequest(ids=ids))
    assert status == 200
    c = canceled["orders"]
    assert [x["order_id"] for x in c] == ids
    assert c[0]["order"]["status"] == "canceled" and c[0]["reduced_by_fp"] == "1.00"
    assert c[1]["reduced_by_fp"] == "2.00"
    assert c[2]["order"] is None and c[2]["error"]["code"] == "not_found"


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
    venue.faults.add({"kind": "SLOW_ACK", "venue": "kalshi", "match": "POST /trade-api/v2/portfolio/orders", "times": 1, "delay_s": 0.4})
    t0 = time.monotonic()
    status, _ = await call(a.create_order_without_preload_content, kalshi_sdk.CreateOrderRequest(ticker=LINEAR, side="yes", action="buy", count=1, yes_price_dollars="0.0100"))
    assert status == 201 and time.monotonic() - t0 >= 0.4
    fid = venue.faults.add({"kind": "VENUE_HALT", "venue": "kalshi"})
    status, ex = await call(a.get_exchange_status_without_preload_content)
    assert ex["trading_active"] is False
    status, e = await call(a.create_order_without_preload_content, kalshi_sdk.CreateOrderRequest(ticker=LINEAR, side="yes", action="buy", count=1, yes_price_dollars="0.5000"))
    assert status == 400 and e["error"]["code"] == "trading_is_paused"
    venue.faults.remove(fid)
    venue.faults.add({"kind": "ORDER_REJECT", "venue": "kalshi", "times": 1, "message": "risk check"})
    status, e = await call(a.create_order_without_preload_content, kalshi_sdk.CreateOrderRequest(ticker=LINEAR, side="yes", action="buy", count=1, yes_price_dollars="0.5000"))
    assert status == 400 and e["error"]["code"] == "order_rejected" and "risk check" in e["error"]["details"]


@pytest.mark.parametrize("member", ["non_direct", "direct"])
async def test_subpenny_fills_are_rounded_with_the_per_order_accumulator(tmp_path: Path, member: str) -> None:
    """Kalshi's fee rounding on a deci_cent market: one resting order filled three times."""
    ctx = build_context(LiveClock(), [MarketDef(DECI, price_level_structure="deci_cent", venue_meta={"event_ticker": "KXSIMB-26DEC31"})], tmp_path / "k")
    server = KalshiServer(ctx, member=member)
    await server.start("127.0.0.1")
    try:
        a, b = sdk_client(server, 0), sdk_client(server, 1)
        s, made = await call(a.create_order_without_preload_content, kalshi_sdk.CreateOrderRequest(ticker=DECI, side="yes", action="buy", count=3, yes_price_dollars="0.0550"))
        assert s == 201
        oid = made["order"]["order_id"]
        taker_fees = []
        for _ in range(3):  # three 1-lot takers, each its own order (and accumulator)
            s, took = await call(
                b.create_order_without_preload_content,
                kalshi_sdk.CreateOrderRequest(ticker=DECI, side="yes", action="sell", count=1, yes_price_dollars="0.0550", time_in_force="fill_or_kill"),
            )
            assert s == 201 and took["order"]["fill_count_fp"] == "1.00"
            taker_fees.append(took["order"]["taker_fees_dollars"])
        _, o = await call(a.get_order_without_preload_content, oid)
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
        s, made = await call(a.create_order_without_preload_content, kalshi_sdk.CreateOrderRequest(ticker="KXMAKER-26DEC31-T1", side="yes", action="buy", count=10, yes_price_dollars="0.5000"))
        assert s == 201
        s, took = await call(b.create_order_without_preload_content, kalshi_sdk.CreateOrderRequest(ticker="KXMAKER-26DEC31-T1", side="no", action="buy", count=10, no_price_dollars="0.5000"))
        assert s == 201
        # direct member: taker 0.07 * 10 * 0.25 = $0.1750; maker 0.0175 * 10 * 0.25 = 0.04375 -> $0.0438
        assert took["order"]["taker_fees_dollars"] == "0.1750"
        _, o = await call(a.get_order_without_preload_content, made["order"]["order_id"])
        assert o["order"]["maker_fees_dollars"] == "0.0438" and o["order"]["status"] == "executed"
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
    assert s == 200 and (got["order"]["side"], got["order"]["action"], got["order"]["book_side"], got["order"]["fill_count_fp"]) == ("yes", "buy", "bid", "3.00")
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
