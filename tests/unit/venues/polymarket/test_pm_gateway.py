"""Gateway against a small real REST server on 127.0.0.1 that checks auth and signatures."""

from __future__ import annotations

import base64
import json
import time
from decimal import Decimal

import pytest
from aiohttp import web

from arbkit.core.enums import FillStatus, InstrumentKind, LiquiditySide, OrderStatus, Side, TimeInForce, Venue
from arbkit.core.events import OrderAccepted, OrderCanceled, OrderCancelRejected, OrderFilled, OrderRejected
from arbkit.core.instruments import Instrument
from arbkit.core.orders import OrderRequest
from arbkit.venues.polymarket.auth import ApiCreds, hmac_signature
from arbkit.venues.polymarket.constants import POLYGON, SignatureType, exchange_address
from arbkit.venues.common.http import OrderStateUnknown
from arbkit.venues.polymarket.gateway import GatewayConfig, PolymarketGateway
from arbkit.venues.polymarket.signer import OrderSigner

# eth_account (py-clob-client-v2's signing library) independently recovers the signer in the fake venue.
pytest.importorskip("eth_account", reason="eth_account (installed with py-clob-client-v2) verifies signatures here")

KEY = "0x" + "5a" * 32
CREDS = ApiCreds("api-key-1", base64.urlsafe_b64encode(b"z" * 32).decode(), "pp")
TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
NR_TOKEN = "52114319501245915516055106046884209969926127482827954674443846427813813222426"


class FakeClob:
    def __init__(self) -> None:
        self.orders: dict[str, dict] = {}
        self.posts = 0
        self.rate_limited = 0  # answer this many requests with 429 first
        self.retry_after = "0.2"
        self.request_times: list[float] = []
        self.fail_5xx = 0
        self.auth_failures = 0
        self.unknown_order_answer: tuple[int, str] = (200, "null")  # GET /data/order/{id} of a hash it lacks
        self.trade_rows: list[dict] | None = None  # GET /data/trades answer (None: one MINED trade of the first order)
        self.row_status: str | None = None  # status string the order rows carry (None: the stored one)
        self.fixed_point_sizes = False  # sizes as the docs' example shows them ("100000000" for 100 shares)

    def check_l2(self, request: web.Request, body: str) -> bool:
        h = request.headers
        path = request.path
        ok = (h.get("POLY_API_KEY") == CREDS.api_key and h.get("POLY_PASSPHRASE") == CREDS.api_passphrase and
              h.get("POLY_SIGNATURE") == hmac_signature(CREDS.api_secret, h.get("POLY_TIMESTAMP", ""),
                                                        request.method, path, body or None))
        if not ok:
            self.auth_failures += 1
        return ok

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        self.request_times.append(time.monotonic())
        if self.rate_limited > 0:
            self.rate_limited -= 1
            return web.json_response({"error": "Too Many Requests"}, status=429, headers={"Retry-After": self.retry_after})
        if self.fail_5xx > 0:
            self.fail_5xx -= 1
            return web.json_response({"error": "upstream"}, status=503)
        return await handler(request)

    def _verify_order(self, o: dict, neg_risk: bool) -> str | None:
        from eth_account import Account
        from eth_account.messages import encode_typed_data

        typed = {"primaryType": "Order", "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                             {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
            "Order": [{"name": n, "type": t} for n, t in (
                ("salt", "uint256"), ("maker", "address"), ("signer", "address"), ("tokenId", "uint256"),
                ("makerAmount", "uint256"), ("takerAmount", "uint256"), ("side", "uint8"), ("signatureType", "uint8"),
                ("timestamp", "uint256"), ("metadata", "bytes32"), ("builder", "bytes32"))]},
            "domain": {"name": "Polymarket CTF Exchange", "version": "2", "chainId": POLYGON,
                       "verifyingContract": exchange_address(POLYGON, neg_risk)},
            "message": {"salt": o["salt"], "maker": o["maker"], "signer": o["signer"], "tokenId": int(o["tokenId"]),
                        "makerAmount": int(o["makerAmount"]), "takerAmount": int(o["takerAmount"]),
                        "side": 0 if o["side"] == "BUY" else 1, "signatureType": o["signatureType"],
                        "timestamp": int(o["timestamp"]), "metadata": bytes.fromhex(o["metadata"][2:]),
                        "builder": bytes.fromhex(o["builder"][2:])}}
        signable = encode_typed_data(full_message=typed)
        if Account.recover_message(signable, signature=o["signature"]) != o["signer"]:
            return None
        from eth_utils import keccak

        return "0x" + keccak(b"\x19" + signable.version + signable.header + signable.body).hex()

    def _accept(self, payload: dict) -> dict:
        o = payload["order"]
        neg = o["tokenId"] == NR_TOKEN
        oid = self._verify_order(o, neg)
        if oid is None:
            return {"success": False, "errorMsg": "invalid signature", "orderID": None}
        if oid in self.orders:
            return {"success": False, "errorMsg": f"order {oid} is invalid. Duplicated.", "orderID": None}
        self.orders[oid] = {"payload": payload, "status": "LIVE", "matched": "0"}
        return {"success": True, "orderID": oid, "status": "live", "errorMsg": ""}

    async def post_order(self, request: web.Request) -> web.Response:
        body = await request.text()
        if not self.check_l2(request, body):
            return web.json_response({"error": "Unauthorized"}, status=401)
        self.posts += 1
        r = self._accept(json.loads(body))
        return web.json_response(r, status=200 if r["success"] else 400)

    async def post_orders(self, request: web.Request) -> web.Response:
        body = await request.text()
        if not self.check_l2(request, body):
            return web.json_response({"error": "Unauthorized"}, status=401)
        return web.json_response([self._accept(p) for p in json.loads(body)])

    async def cancel(self, request: web.Request) -> web.Response:
        body = await request.text()
        if not self.check_l2(request, body):
            return web.json_response({"error": "Unauthorized"}, status=401)
        oid = json.loads(body)["orderID"]
        o = self.orders.get(oid)
        if o is None or o["status"] != "LIVE":
            return web.json_response({"canceled": [], "not_canceled": {oid: "order not found or already canceled"}})
        o["status"] = "CANCELED"
        return web.json_response({"canceled": [oid], "not_canceled": {}})

    async def cancel_all(self, request: web.Request) -> web.Response:
        if not self.check_l2(request, ""):
            return web.json_response({"error": "Unauthorized"}, status=401)
        ids = [k for k, v in self.orders.items() if v["status"] == "LIVE"]
        for k in ids:
            self.orders[k]["status"] = "CANCELED"
        return web.json_response({"canceled": ids, "not_canceled": {}})

    def _row(self, oid: str) -> dict:
        o = self.orders[oid]
        w = o["payload"]["order"]
        size = Decimal(w["takerAmount"] if w["side"] == "BUY" else w["makerAmount"]) / 10**6
        price = (Decimal(w["makerAmount"]) / Decimal(w["takerAmount"]) if w["side"] == "BUY"
                 else Decimal(w["takerAmount"]) / Decimal(w["makerAmount"]))
        matched = Decimal(o["matched"])
        if self.fixed_point_sizes:
            size, matched = size * 10**6, matched * 10**6
        return {"id": oid, "status": self.row_status or o["status"], "asset_id": w["tokenId"], "side": w["side"],
                "market": "0xm", "original_size": str(size.normalize()), "size_matched": str(matched.normalize()),
                "price": str(price.normalize()),
                "order_type": o["payload"]["orderType"], "created_at": 1700000000, "owner": CREDS.api_key}

    async def data_orders(self, request: web.Request) -> web.Response:
        if not self.check_l2(request, ""):
            return web.json_response({"error": "Unauthorized"}, status=401)
        rows = [self._row(k) for k, v in self.orders.items() if v["status"] == "LIVE"]
        cursor = request.query.get("next_cursor", "MA==")
        if cursor == "MA==":  # two pages, to exercise pagination
            return web.json_response({"data": rows[:1], "next_cursor": "MQ==", "limit": 1, "count": 1})
        return web.json_response({"data": rows[1:], "next_cursor": "LTE=", "limit": 1, "count": len(rows) - 1})

    async def data_order(self, request: web.Request) -> web.Response:
        if not self.check_l2(request, ""):
            return web.json_response({"error": "Unauthorized"}, status=401)
        oid = request.match_info["oid"]
        if oid not in self.orders:
            status, text = self.unknown_order_answer
            return web.Response(text=text, status=status, content_type="application/json")
        return web.json_response(self._row(oid))

    async def trades(self, request: web.Request) -> web.Response:
        if not self.check_l2(request, ""):
            return web.json_response({"error": "Unauthorized"}, status=401)
        if self.trade_rows is not None:
            return web.json_response({"data": self.trade_rows, "next_cursor": "LTE="})
        oid = next(iter(self.orders))
        return web.json_response({"data": [{
            "id": "trade-1", "taker_order_id": oid, "market": "0xm", "asset_id": TOKEN, "side": "BUY", "size": "4",
            "price": "0.5", "status": "MINED", "match_time": "1700000001", "owner": CREDS.api_key,
            "trader_side": "TAKER", "maker_orders": []}], "next_cursor": "LTE="})

    async def balance(self, request: web.Request) -> web.Response:
        if not self.check_l2(request, ""):
            return web.json_response({"error": "Unauthorized"}, status=401)
        if request.query.get("asset_type") == "CONDITIONAL":
            return web.json_response({"balance": "2500000"})
        return web.json_response({"balance": "1234560000", "allowances": {}})

    async def tick_size(self, request: web.Request) -> web.Response:
        return web.json_response({"minimum_tick_size": 0.01})

    async def neg_risk(self, request: web.Request) -> web.Response:
        return web.json_response({"neg_risk": request.query["token_id"] == NR_TOKEN})

    async def market_by_token(self, request: web.Request) -> web.Response:
        if request.match_info["token"] == NR_TOKEN:
            return web.json_response({"condition_id": "0xcond"})
        return web.json_response({"error": "market not found"}, status=404)

    async def clob_market(self, request: web.Request) -> web.Response:
        return web.json_response({"t": [{"t": NR_TOKEN, "o": "Yes"}, {"t": "1", "o": "No"}], "mts": 0.001, "nr": True,
                                  "fd": {"r": 0.04, "e": 1, "to": True}, "mos": 5})


@pytest.fixture
async def clob():
    fc = FakeClob()
    app = web.Application(middlewares=[fc.middleware])
    app.router.add_post("/order", fc.post_order)
    app.router.add_post("/orders", fc.post_orders)
    app.router.add_delete("/order", fc.cancel)
    app.router.add_delete("/cancel-all", fc.cancel_all)
    app.router.add_get("/data/orders", fc.data_orders)
    app.router.add_get("/data/order/{oid}", fc.data_order)
    app.router.add_get("/data/trades", fc.trades)
    app.router.add_get("/balance-allowance", fc.balance)
    app.router.add_get("/tick-size", fc.tick_size)
    app.router.add_get("/neg-risk", fc.neg_risk)
    app.router.add_get("/clob-markets/{cid}", fc.clob_market)
    app.router.add_get("/markets-by-token/{token}", fc.market_by_token)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fc.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    yield fc
    await runner.cleanup()


def _inst(token: str = TOKEN, **kw) -> Instrument:
    base = dict(venue=Venue.POLYMARKET, symbol=token, kind=InstrumentKind.OUTCOME, tick_size=Decimal("0.01"),
                size_increment=Decimal("0.01"), min_size=Decimal("5"))
    base.update(kw)
    return Instrument(**base)


def _req(coid: str, price: str = "0.50", qty: str = "10", side: Side = Side.BUY, inst: Instrument | None = None,
         **kw) -> OrderRequest:
    return OrderRequest(instrument=inst or _inst(), client_order_id=coid, side=side, quantity=Decimal(qty),
                        price=Decimal(price), **kw)


def _gw(clob: FakeClob, **kw) -> PolymarketGateway:
    cfg = GatewayConfig(rest_url=clob.url, retry_backoff_s=0.01, **kw)
    return PolymarketGateway(KEY, CREDS, cfg)


async def test_submit_signs_authenticates_and_is_accepted(clob: FakeClob) -> None:
    async with _gw(clob) as gw:
        res = await gw.submit(_req("c-1"))
        assert res.accepted and isinstance(res.events[0], OrderAccepted)
        assert res.venue_order_id == gw.signed_order("c-1").order_hash
        sent = clob.orders[res.venue_order_id]["payload"]
        assert sent["owner"] == CREDS.api_key and sent["orderType"] == "GTC" and sent["postOnly"] is False
        assert sent["order"]["makerAmount"] == "5000000" and sent["order"]["takerAmount"] == "10000000"
        assert clob.auth_failures == 0


async def test_resend_is_identical_and_duplicate_is_recognised(clob: FakeClob) -> None:
    async with _gw(clob) as gw:
        first = await gw.submit(_req("c-dup"))
        again = await gw.submit(_req("c-dup"))
        assert first.accepted and again.accepted and again.venue_order_id == first.venue_order_id
        assert len(clob.orders) == 1 and clob.posts == 2


async def test_idempotency_survives_a_restart(clob: FakeClob, tmp_path) -> None:
    path = str(tmp_path / "idem.jsonl")
    async with _gw(clob, idempotency_path=path) as gw:
        first = await gw.submit(_req("c-persist"))
    async with _gw(clob, idempotency_path=path) as gw2:  # a new process: same signed order from the file
        assert gw2.signed_order("c-persist").order_hash == first.venue_order_id
        again = await gw2.submit(_req("c-persist"))
        assert again.accepted and again.venue_order_id == first.venue_order_id and len(clob.orders) == 1
        state = await gw2.order_state("c-persist")
        assert state is not None and state.status is OrderStatus.ACCEPTED and state.client_order_id == "c-persist"
        assert await gw2.order_state("never-sent") is None


async def test_bad_requests_are_rejections_not_exceptions(clob: FakeClob) -> None:
    async with _gw(clob) as gw:
        for req, why in ((_req("x1", price="0.505"), "tick grid"), (_req("x2", qty="10.001"), "decimals"),
                         (_req("x3", qty="2"), "minimum"), (_req("x4", price="1.00"), "outside"),
                         (_req("x5", time_in_force=TimeInForce.FOK, post_only=True), "post-only")):
            res = await gw.submit(req)
            assert not res.accepted and isinstance(res.events[0], OrderRejected) and why in res.events[0].reason
        assert clob.posts == 0


async def test_neg_risk_and_metadata_from_clob_markets(clob: FakeClob) -> None:
    async with _gw(clob) as gw:
        inst = _inst(NR_TOKEN, market_id="0xcond", neg_risk=False, tick_size=Decimal("0.001"))
        res = await gw.submit(_req("nr-1", price="0.505", inst=inst))
        assert res.accepted  # the fake verifies against the neg-risk exchange for this token
        meta = gw.metadata.cached(NR_TOKEN)
        assert meta.neg_risk and meta.tick_size == Decimal("0.001") and meta.fee_rate == Decimal("0.04")
        assert meta.min_size == 5 and meta.fee_exponent == 1
        # without the condition id: token -> condition (/markets-by-token) -> /clob-markets
        gw.metadata._cache.clear()
        meta2 = await gw.metadata.get(NR_TOKEN)
        assert meta2 == meta
        gw.metadata._cache.clear()
        plain = await gw.metadata.get(TOKEN)  # unknown there: /tick-size and /neg-risk
        assert plain.tick_size == Decimal("0.01") and not plain.neg_risk


async def test_batch_cancel_and_open_orders(clob: FakeClob) -> None:
    async with _gw(clob) as gw:
        results = await gw.submit_many([_req(f"b-{i}", price=f"0.{40 + i}") for i in range(3)] + [_req("b-bad", qty="1")])
        assert [r.accepted for r in results] == [True, True, True, False]
        open_ = await gw.open_orders()
        assert sorted(o.client_order_id for o in open_) == ["b-0", "b-1", "b-2"]
        assert {o.price for o in open_} == {Decimal("0.40"), Decimal("0.41"), Decimal("0.42")}
        ev = await gw.cancel("b-0")
        assert isinstance(ev[0], OrderCanceled) and ev[0].client_order_id == "b-0"
        ev = await gw.cancel("b-0")
        assert isinstance(ev[0], OrderCancelRejected)
        ev = await gw.cancel_all()
        assert sorted(e.client_order_id for e in ev) == ["b-1", "b-2"]
        assert (await gw.cancel("nobody"))[0].reason.startswith("unknown order")


async def test_fills_balances_positions(clob: FakeClob) -> None:
    async with _gw(clob) as gw:
        await gw.submit(_req("f-1"))
        fills = await gw.fills_since(0)
        assert len(fills) == 1 and isinstance(fills[0], OrderFilled)
        f = fills[0]
        assert f.client_order_id == "f-1" and f.quantity == Decimal("4") and f.status is FillStatus.MINED
        assert f.liquidity is LiquiditySide.TAKER and f.side is Side.BUY
        bal = await gw.balances()
        assert bal[0].total == Decimal("1234.56")
        pos = await gw.positions()
        assert pos and pos[0].quantity == Decimal("2.5")


async def test_429_storm_is_ridden_out_within_the_limit(clob: FakeClob) -> None:
    clob.rate_limited = 3
    clob.retry_after = "0.15"
    async with _gw(clob, rate_per_s=20, burst=2, max_attempts=6) as gw:
        t0 = time.monotonic()
        res = await gw.submit(_req("r-1"))
        assert res.accepted
        assert time.monotonic() - t0 >= 3 * 0.15 * 0.95  # waited Retry-After after each 429
        assert gw.responses_429 == 3 and gw.limiter.penalties == 3
        gaps = [b - a for a, b in zip(clob.request_times, clob.request_times[1:])]
        assert all(g >= 0.14 for g in gaps[:3])  # nothing sent before Retry-After expired


async def test_rate_limit_is_never_exceeded(clob: FakeClob) -> None:
    async with _gw(clob, rate_per_s=40, burst=4) as gw:
        import asyncio

        t0 = time.monotonic()
        await asyncio.gather(*(gw.submit(_req(f"q-{i}", price=f"0.{10 + i}")) for i in range(20)))
        elapsed = time.monotonic() - t0
        assert elapsed >= (20 - 4) / 40 * 0.9
        times = sorted(clob.request_times)
        for i in range(len(times) - 5):  # any 5 consecutive requests span at least 1/40 s beyond the burst
            assert times[i + 5] - times[i] >= (5 - 4) / 40 * 0.8


async def test_5xx_then_success_is_retried_and_transport_failure_is_retryable(clob: FakeClob) -> None:
    clob.fail_5xx = 2
    async with _gw(clob) as gw:
        assert (await gw.submit(_req("t-1"))).accepted
    gw = PolymarketGateway(KEY, CREDS, GatewayConfig(rest_url="http://127.0.0.1:9", retry_backoff_s=0.01,
                                                       max_attempts=2, use_metadata=False))
    res = await gw.submit(_req("t-2"))
    await gw.close()
    assert not res.accepted and res.events[0].retryable and res.events[0].code == "AMBIGUOUS"


async def test_proxy_and_safe_signature_types(clob: FakeClob) -> None:
    for st in (SignatureType.POLY_PROXY, SignatureType.POLY_GNOSIS_SAFE):
        funder = "0x" + "ab" * 20
        async with _gw(clob, signature_type=st, funder=funder) as gw:
            res = await gw.submit(_req(f"sig-{st}"))
            assert res.accepted
            o = clob.orders[res.venue_order_id]["payload"]["order"]
            assert o["signatureType"] == st and o["maker"].lower() == funder and o["signer"] == OrderSigner(KEY).address


@pytest.mark.parametrize("status,text", [(200, "null"), (200, ""), (400, '{"error":"Invalid orderID"}'),
                                         (404, '{"error":"order not found"}')])
async def test_order_state_of_an_order_the_venue_lacks_is_none(clob: FakeClob, status: int, text: str) -> None:
    clob.unknown_order_answer = (status, text)
    async with _gw(clob, use_metadata=False) as gw:
        await gw.build(_req("u-1"))  # signed (so a hash is known) but never posted
        assert await gw.order_state("u-1") is None
        assert await gw.order_state("", venue_order_id="0x" + "ab" * 32) is None


@pytest.mark.parametrize("status,text", [(400, '{"error":"invalid signature"}'), (403, '{"error":"forbidden"}'),
                                         (200, '{"not": "an order"'), (418, "teapot")])
async def test_order_state_other_answers_are_unknown_not_absent(clob: FakeClob, status: int, text: str) -> None:
    clob.unknown_order_answer = (status, text)
    async with _gw(clob, use_metadata=False) as gw:
        await gw.build(_req("u-2"))
        with pytest.raises(OrderStateUnknown) as err:
            await gw.order_state("u-2")
        assert err.value.order_id == gw.signed_order("u-2").order_hash


async def test_order_state_after_5xx_auth_failure_or_no_answer_is_unknown(clob: FakeClob) -> None:
    async with _gw(clob, use_metadata=False, max_attempts=3) as gw:
        await gw.build(_req("u-3"))
        clob.fail_5xx = 3  # every attempt: 503
        with pytest.raises(OrderStateUnknown, match="HTTP 503"):
            await gw.order_state("u-3")
        clob.fail_5xx = 2  # retried through, then the venue's real answer
        assert await gw.order_state("u-3") is None
    bad = PolymarketGateway(KEY, ApiCreds("api-key-1", CREDS.api_secret, "wrong"), GatewayConfig(
        rest_url=clob.url, retry_backoff_s=0.01, use_metadata=False))
    async with bad:
        await bad.build(_req("u-4"))
        with pytest.raises(OrderStateUnknown, match="HTTP 401"):  # refused credentials say nothing about the order
            await bad.order_state("u-4")
    gone = PolymarketGateway(KEY, CREDS, GatewayConfig(rest_url="http://127.0.0.1:9", retry_backoff_s=0.01,
                                                        max_attempts=2, use_metadata=False))
    async with gone:
        await gone.build(_req("u-5"))
        with pytest.raises(OrderStateUnknown, match="no response"):
            await gone.order_state("u-5")


async def test_taker_fills_and_fees_are_per_match_and_equal_on_the_ws_and_rest_paths(clob: FakeClob) -> None:
    """An IOC buy limited at 0.40 that matched 5 at 0.38 and 5 at 0.39 (one of them a NO bid at 0.61,
    a mint): two fills at 0.38 and 0.39 with fees on those prices, not one fill at 0.40."""
    import msgspec

    from arbkit.core.fees import FeeSpec, polymarket_fee
    from arbkit.venues.polymarket.parse import WsUserMessage
    from arbkit.venues.polymarket.user import PolymarketUserStream

    fee = FeeSpec(kind="polymarket", taker_rate=Decimal("0.25"), exponent=2)
    async with _gw(clob) as gw:
        res = await gw.submit(_req("sw-1", price="0.40", qty="10", inst=_inst(fee=fee), time_in_force=TimeInForce.IOC))
        assert res.accepted, res.events
        oid = next(iter(clob.orders))
        row = {"id": "trade-sw", "taker_order_id": oid, "market": "0xm", "asset_id": TOKEN, "side": "BUY", "size": "10",
               "price": "0.40", "status": "MATCHED", "match_time": "1700000001", "owner": CREDS.api_key,
               "trader_side": "TAKER", "maker_orders": [
                   {"order_id": "0xm1", "owner": "o1", "maker_address": "0x1", "matched_amount": "5", "price": "0.38",
                    "asset_id": TOKEN, "outcome": "Yes", "side": "SELL"},
                   {"order_id": "0xm2", "owner": "o2", "maker_address": "0x2", "matched_amount": "5", "price": "0.61",
                    "asset_id": "other-token", "outcome": "No", "side": "BUY"}]}
        clob.trade_rows = [row]
        rest = await gw.fills_since(0)
        key = lambda f: (f.trade_id, f.client_order_id, f.price, f.quantity, f.fee, f.liquidity)  # noqa: E731
        assert [key(f) for f in rest] == [
            ("trade-sw:0xm1", "sw-1", Decimal("0.38"), Decimal("5"), Decimal("0.06938"), LiquiditySide.TAKER),
            ("trade-sw:0xm2", "sw-1", Decimal("0.39"), Decimal("5"), polymarket_fee(Decimal("0.39"), Decimal("5"),
                                                                                   Decimal("0.25"), 2), LiquiditySide.TAKER)]
        assert sum(f.fee for f in rest) == Decimal("0.06938") + Decimal("0.07075")  # 5-decimal fee precision
        # the same trade on the user channel gives the very same fills (same ids: never counted twice)
        events: list = []
        us = PolymarketUserStream(events.append, CREDS, gateway=gw)
        us.on_frame(json.dumps({**row, "event_type": "trade", "type": "TRADE"}))
        ws = [e for e in events if isinstance(e, OrderFilled)]
        assert [key(f) for f in ws] == [key(f) for f in rest]
        assert ws[-1].cumulative_quantity == Decimal("10")
        # a decoded REST row and a WS event are the same struct: fills_from_trade is the one parser
        assert [key(f) for f in gw.fills_from_trade(msgspec.json.decode(json.dumps(row), type=WsUserMessage))] == [
            key(f) for f in rest]


@pytest.mark.parametrize("exponent", [Decimal(2), Decimal("1.5")])
async def test_fee_is_booked_from_stale_metadata_and_fractional_exponents(clob: FakeClob, exponent: Decimal) -> None:
    """Issue 11: the fee was booked as 0 once the metadata cache entry was older than its TTL, or
    when the exponent was fractional. A stale entry is still the market's last known fee curve
    (and triggers a refresh); a fractional exponent is computed exactly."""
    from arbkit.core.fees import FeeSpec, polymarket_fee

    fee = FeeSpec(kind="polymarket", taker_rate=Decimal("0.25"), exponent=exponent)
    async with _gw(clob, metadata_ttl_s=0.0) as gw:  # every cache entry is stale at once
        res = await gw.submit(_req("st-1", price="0.40", qty="10", inst=_inst(fee=fee), time_in_force=TimeInForce.IOC))
        assert res.accepted, res.events
        oid = next(iter(clob.orders))
        clob.trade_rows = [{"id": "trade-st", "taker_order_id": oid, "market": "0xm", "asset_id": TOKEN, "side": "BUY",
                            "size": "10", "price": "0.40", "status": "MATCHED", "match_time": "1700000001",
                            "owner": CREDS.api_key, "trader_side": "TAKER", "maker_orders": [
                                {"order_id": "0xm1", "owner": "o1", "maker_address": "0x1", "matched_amount": "10",
                                 "price": "0.38", "asset_id": TOKEN, "outcome": "Yes", "side": "SELL"}]}]
        fills = await gw.fills_since(0)
        want = polymarket_fee(Decimal("0.38"), Decimal("10"), Decimal("0.25"), exponent)
        assert want > 0 and [f.fee for f in fills] == [want]


@pytest.mark.parametrize("status,want", [("ORDER_STATUS_LIVE", OrderStatus.ACCEPTED), ("LIVE", OrderStatus.ACCEPTED),
                                         ("ORDER_STATUS_MATCHED", OrderStatus.FILLED),
                                         ("CANCELED_MARKET_RESOLVED", OrderStatus.CANCELED),
                                         ("ORDER_STATUS_CANCELED", OrderStatus.CANCELED),
                                         ("UNMATCHED_DELAY_FAILED", OrderStatus.ACCEPTED)])
async def test_order_state_reads_every_documented_status_form(clob: FakeClob, status: str, want: OrderStatus) -> None:
    clob.row_status = status
    async with _gw(clob, use_metadata=False) as gw:
        assert (await gw.submit(_req("os-1"))).accepted
        st = await gw.order_state("os-1")
        assert st is not None and st.status is want and st.quantity == Decimal("10")


async def test_order_state_of_an_undocumented_status_is_unknown_with_an_alert(clob: FakeClob, caplog) -> None:
    clob.row_status = "ORDER_STATUS_SOMETHING_NEW"
    async with _gw(clob, use_metadata=False) as gw:
        assert (await gw.submit(_req("os-2"))).accepted
        with pytest.raises(OrderStateUnknown, match="SOMETHING_NEW"):
            await gw.order_state("os-2")
        assert any("ALERT" in r.getMessage() for r in caplog.records)
        # listed as open by the venue: still reported (open), never an exception
        assert [o.status for o in await gw.open_orders()] == [OrderStatus.ACCEPTED]


async def test_order_state_reads_the_docs_fixed_point_example_sizes(clob: FakeClob) -> None:
    """The docs' GET order example shows "original_size": "100000000" for 100 shares while the
    field is described as decimal shares: both read as 10 shares for our 10-share order."""
    async with _gw(clob, use_metadata=False) as gw:
        assert (await gw.submit(_req("fx-1"))).accepted
        plain = await gw.order_state("fx-1")
        clob.fixed_point_sizes = True
        fixed = await gw.order_state("fx-1")
        assert plain.quantity == fixed.quantity == Decimal("10") and fixed.filled_quantity == 0


async def test_5xx_and_unreadable_create_answers_are_ambiguous_never_refused(clob: FakeClob) -> None:
    """Issue 11 item 1/2: a lost answer is unknown, not a refusal: retryable, code AMBIGUOUS."""
    async with _gw(clob, use_metadata=False, max_attempts=2) as gw:
        clob.fail_5xx = 2  # every attempt 503: the order may or may not have been placed
        res = await gw.submit(_req("amb-1"))
        ev = res.events[0]
        assert not res.accepted and isinstance(ev, OrderRejected) and ev.retryable and ev.code == "AMBIGUOUS"
        # a readable refusal stays a refusal (not retryable, not ambiguous)
        res = await gw.submit(_req("amb-2", price="0.505"))
        assert res.events[0].code == "LOCAL" and not res.events[0].retryable


async def test_unreadable_200_answer_is_ambiguous(clob: FakeClob) -> None:
    from aiohttp import web as _web

    async def garbage(request):
        return _web.Response(text="<html>upstream</html>", status=200)

    app = _web.Application()
    app.router.add_post("/order", garbage)
    runner = _web.AppRunner(app)
    await runner.setup()
    site = _web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    try:
        async with PolymarketGateway(KEY, CREDS, GatewayConfig(rest_url=url, use_metadata=False)) as gw:
            res = await gw.submit(_req("amb-3"))
            assert res.events[0].code == "AMBIGUOUS" and res.events[0].retryable
    finally:
        await runner.cleanup()


async def test_prepare_then_restore_in_a_new_gateway_resends_the_same_order(clob: FakeClob) -> None:
    """Issue 11 item 1: the journaled identity (prepare) rebuilds the exact order after a restart:
    order_state finds it by hash, a resend is recognised as the duplicate, cancel reaches it."""
    async with _gw(clob, use_metadata=False) as gw:
        text = await gw.prepare(_req("pr-1"))
        assert text == await gw.prepare(_req("pr-1"))  # idempotent per client order id
        res = await gw.submit(_req("pr-1"))
        assert res.accepted
    rec = json.loads(text)
    assert rec["order_hash"] == res.venue_order_id and rec["order_type"] == "GTC" and rec["instrument_id"]
    async with _gw(clob, use_metadata=False) as fresh:  # a restart: nothing in memory
        assert await fresh.order_state("pr-1") is None  # never built here: the old failure mode
        fresh.restore("pr-1", text)
        st = await fresh.order_state("pr-1")
        assert st is not None and st.venue_order_id == res.venue_order_id and st.client_order_id == "pr-1"
        posts = clob.posts
        again = await fresh.submit(_req("pr-1"))
        assert again.accepted and again.venue_order_id == res.venue_order_id
        assert clob.posts == posts + 1 and len(clob.orders) == 1  # sent once more, no second order
        ev = await fresh.cancel("pr-1")
        assert [type(e) for e in ev] == [OrderCanceled]
        with pytest.raises(ValueError):
            fresh.restore("pr-2", text)  # another client order id
        with pytest.raises(ValueError):
            fresh.restore("pr-1", text.replace(rec["order_hash"], "0x" + "00" * 32))
        with pytest.raises(ValueError):
            await fresh.prepare(_req("pr-3", price="0.505"))  # off the tick grid: names the problem
