"""Kalshi gateway: order mapping, and HTTP behaviour against a small real server on 127.0.0.1
(429 + Retry-After, 5xx retries, clock-skew detection from the Date header, 401 mapping)."""

from __future__ import annotations

import email.utils
import socket
import time
from decimal import Decimal as D

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from arbkit.core.enums import InstrumentKind, OrderType, Side, TimeInForce, Venue
from arbkit.core.events import OrderAccepted, OrderCanceled, OrderRejected
from arbkit.core.instruments import Instrument
from arbkit.core.orders import OrderRequest
from arbkit.venues.common.http import OrderStateUnknown
from arbkit.venues.kalshi import constants as C
from arbkit.venues.kalshi.auth import ClockSkewError, KalshiAuthError, KalshiSigner, verify
from arbkit.venues.kalshi.gateway import GatewayConfig, KalshiGateway, MarketMeta, order_body


def inst(side: str = "yes", ticker: str = "KXT-1") -> Instrument:
    return Instrument(venue=Venue.KALSHI, symbol=f"{ticker}:{side}", kind=InstrumentKind.OUTCOME,
                      tick_size=D("0.01"), size_increment=D("1"))


def req(side: str = "yes", action: Side = Side.BUY, **kw) -> OrderRequest:
    base = dict(instrument=inst(side), client_order_id="exec-1-L0-A0", side=action, quantity=D("10"), price=D("0.42"))
    base.update(kw)
    return OrderRequest(**base)


META = MarketMeta(ticker="KXT-1", event_ticker="KXT", series_ticker="KX", title="t",
                  price_level_structure="tapered_deci_cent")


def test_instrument_side_and_action_mapping():
    assert order_body(req("yes", Side.BUY)) | {} == {
        "ticker": "KXT-1", "side": "yes", "action": "buy", "type": "limit", "count_fp": "10.00",
        "yes_price_dollars": "0.4200", "time_in_force": "good_till_canceled", "client_order_id": "exec-1-L0-A0"}
    b = order_body(req("no", Side.SELL, price=D("0.58")))
    assert (b["side"], b["action"], b["no_price_dollars"]) == ("no", "sell", "0.5800") and "yes_price_dollars" not in b
    b = order_body(req("no", Side.BUY))
    assert (b["side"], b["action"]) == ("no", "buy")


def test_time_in_force_and_flags():
    assert order_body(req(time_in_force=TimeInForce.IOC))["time_in_force"] == "immediate_or_cancel"
    assert order_body(req(time_in_force=TimeInForce.FOK))["time_in_force"] == "fill_or_kill"
    gtd = order_body(req(time_in_force=TimeInForce.GTD, expire_at_ns=1_800_000_000_500_000_000))
    assert gtd["time_in_force"] == "good_till_canceled" and gtd["expiration_ts"] == 1_800_000_001
    mkt = order_body(req(order_type=OrderType.MARKET))
    assert mkt["type"] == "limit" and mkt["time_in_force"] == "immediate_or_cancel"  # worst price, never rests
    b = order_body(req(post_only=True, reduce_only=True, buy_max_cost=D("4.259")))
    assert b["post_only"] is True and b["reduce_only"] is True and b["buy_max_cost"] == 425  # floored to the cent
    with pytest.raises(ValueError, match="buy orders"):
        order_body(req(action=Side.SELL, buy_max_cost=D("1")))
    with pytest.raises(ValueError, match="post_only"):
        order_body(req(post_only=True, time_in_force=TimeInForce.IOC))
    with pytest.raises(ValueError, match="client_order_id"):
        order_body(req(client_order_id="x" * 65))


def test_prices_and_counts_checked_against_the_market():
    order_body(req(price=D("0.055")), META)  # tail of tapered_deci_cent: $0.001 steps
    order_body(req(price=D("0.42")), META)
    with pytest.raises(ValueError, match="tapered_deci_cent"):
        order_body(req(price=D("0.425")), META)  # middle band is $0.01
    with pytest.raises(ValueError, match="outside"):
        order_body(req(price=D("1")), META)
    with pytest.raises(ValueError, match="fractional"):
        order_body(req(quantity=D("0.5")), META)
    frac = MarketMeta(ticker="KXT-1", event_ticker="KXT", series_ticker="KX", title="t",
                      fractional_trading_enabled=True)
    assert order_body(req(quantity=D("0.5")), frac)["count_fp"] == "0.50"
    y, n = frac.instruments()
    assert (y.id, n.id, y.complement_id, y.size_increment, y.tick_size) == (
        "kalshi:KXT-1:yes", "kalshi:KXT-1:no", "kalshi:KXT-1:no", D("0.01"), D("0.01"))
    with pytest.raises(ValueError, match="not a Kalshi"):
        order_body(req().__class__(instrument=Instrument(venue=Venue.POLYMARKET, symbol="1", kind=InstrumentKind.OUTCOME,
                                                         tick_size=D("0.01"), size_increment=D("1")),
                                   client_order_id="c", side=Side.BUY, quantity=D(1), price=D("0.5")))


# --- HTTP against a local server --------------------------------------------------------------------


@pytest.fixture(scope="module")
def key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Venue_:
    """A scripted Kalshi stand-in: answers are queued per route."""

    def __init__(self, pub: str) -> None:
        self.pub = pub
        self.plans: list = []
        self.seen: list[tuple[str, str, dict]] = []
        self.date_offset_s = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append((request.method, request.rel_url.raw_path, dict(request.headers)))
        h = request.headers
        if request.path.startswith("/trade-api/v2/portfolio"):  # private routes are signed, public ones not
            assert verify(self.pub, h[C.HEADER_SIGNATURE], h[C.HEADER_TIMESTAMP], request.method, request.path)
        else:
            assert C.HEADER_SIGNATURE not in h
        status, payload, headers = self.plans.pop(0) if self.plans else (200, {}, {})
        headers = dict(headers)
        headers["Date"] = email.utils.formatdate(time.time() + self.date_offset_s, usegmt=True)
        return web.json_response(payload, status=status, headers=headers)


@pytest.fixture
async def venue(key):
    signer = KalshiSigner("kid", key)
    v = Venue_(signer.public_key_pem())
    app = web.Application()
    app.router.add_route("*", "/trade-api/v2/{tail:.*}", v.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    gw = KalshiGateway(signer, GatewayConfig(rest_url=f"http://127.0.0.1:{port}/trade-api/v2", retry_backoff_s=0.01))
    await gw.start()
    yield v, gw
    await gw.close()
    await runner.cleanup()


ORDER = {"order": {"order_id": "o-1", "client_order_id": "exec-1-L0-A0", "ticker": "KXT-1", "side": "yes",
                   "action": "buy", "status": "resting", "yes_price_dollars": "0.4200", "no_price_dollars": "0.5800",
                   "initial_count_fp": "10.00", "fill_count_fp": "0.00", "remaining_count_fp": "10.00",
                   "created_time": "2026-01-14T20:18:04.727473Z"}}
META_ROUTES = [
    (200, {"market": {"ticker": "KXT-1", "event_ticker": "KXT", "price_level_structure": "linear_cent",
                      "price_ranges": [{"start": "0.0000", "end": "1.0000", "step": "0.0100"}]}}, {}),
    (200, {"event": {"event_ticker": "KXT", "series_ticker": "KX"}}, {}),
    (200, {"series": {"ticker": "KX", "fee_type": "quadratic_with_maker_fees", "fee_multiplier": 1}}, {}),
]


async def test_429_retry_after_then_success(venue):
    v, gw = venue
    v.plans = META_ROUTES + [(429, {"error": {"code": "too_many_requests"}}, {"Retry-After": "0.3"}), (201, ORDER, {})]
    t0 = time.monotonic()
    res = await gw.submit(req())
    assert res.accepted and isinstance(res.events[0], OrderAccepted) and res.venue_order_id == "o-1"
    assert time.monotonic() - t0 >= 0.3 and gw.writes.penalties == 1
    posts = [s for s in v.seen if s[0] == "POST"]
    assert len(posts) == 2 and posts[0][1] == "/trade-api/v2/portfolio/orders"
    meta = gw.cached_market("KXT-1")
    assert meta.fee_type == "quadratic_with_maker_fees" and meta.instruments()[0].fee.maker_rate == D("0.0175")


async def test_5xx_retried_and_refusal_is_a_rejection(venue):
    v, gw = venue
    v.plans = META_ROUTES + [(503, {"error": {"code": "service_unavailable"}}, {}),
                             (400, {"error": {"code": "insufficient_balance", "message": "insufficient balance"}}, {})]
    res = await gw.submit(req())
    assert not res.accepted and isinstance(res.events[0], OrderRejected)
    assert res.events[0].code == "insufficient_balance" and not res.events[0].retryable


async def test_ioc_remainder_reported_canceled(venue):
    v, gw = venue
    o = dict(ORDER["order"], status="canceled", fill_count_fp="4.00", remaining_count_fp="0.00")
    v.plans = META_ROUTES + [(201, {"order": o}, {})]
    res = await gw.submit(req(time_in_force=TimeInForce.IOC))
    assert [type(e) for e in res.events] == [OrderAccepted, OrderCanceled]
    assert res.events[1].filled_quantity == D("4.00")


async def test_duplicate_client_order_id_on_retry_is_recognised(venue):
    v, gw = venue
    v.plans = META_ROUTES + [(409, {"error": {"code": "order_already_exists"}}, {}),
                             (200, {"orders": [ORDER["order"]], "cursor": ""}, {})]
    res = await gw.submit(req())
    assert res.accepted and res.venue_order_id == "o-1"
    assert gw.client_order_id_of("o-1") == "exec-1-L0-A0"
    # a resend of the same intent names the same order without sending it again
    posts = len([s for s in v.seen if s[0] == "POST"])
    v.plans = [(200, ORDER, {})]
    again = await gw.submit(req())
    assert again.accepted and again.venue_order_id == "o-1"
    assert len([s for s in v.seen if s[0] == "POST"]) == posts
    # the same id for a different order is a caller bug: refused, never merged with the resting one
    v.plans = [(200, ORDER, {})]
    res = await gw.submit(req(price=D("0.43")))
    assert not res.accepted and res.events[0].code == "duplicate_client_order_id"
    assert "already used by order o-1" in res.events[0].reason
    # a fresh gateway (no memory of the body) meeting a 409 compares with the venue's order
    fresh = KalshiGateway(gw.signer, gw.config)
    fresh._meta = gw._meta
    v.plans = [(409, {"error": {"code": "order_already_exists"}}, {}), (200, {"orders": [ORDER["order"]], "cursor": ""}, {})]
    res = await fresh.submit(req(price=D("0.43")))
    assert not res.accepted and res.events[0].code == "duplicate_client_order_id"
    await fresh.close()


async def test_clock_skew_from_date_header(venue):
    v, gw = venue
    v.date_offset_s = -30.0  # the exchange is 30 s behind us
    with pytest.raises(ClockSkewError, match="clock skew") as ei:
        await gw.check_clock()
    assert 28_000 < ei.value.skew_ms < 32_000
    # A 401 while skewed is a clock problem, not a key problem; submit reports it as a rejection.
    v.plans = META_ROUTES + [(401, {"error": {"code": "authentication_error", "message": "authentication_error"}}, {})]
    res = await gw.submit(req())
    assert not res.accepted and res.events[0].code == "clock_skew" and "clock skew" in res.events[0].reason
    v.date_offset_s = 0.0
    v.plans = [(401, {"error": {"code": "authentication_error", "details": "INCORRECT_API_KEY_SIGNATURE"}}, {})]
    with pytest.raises(KalshiAuthError, match="refused our credentials"):
        await gw.balances()
    assert abs(await gw.check_clock()) < 1500


def test_classes_fulfil_the_venue_contract(key):
    from arbkit.venues.base import MarketFeed, UserStream, VenueGateway
    from arbkit.venues.kalshi.feed import KalshiMarketFeed
    from arbkit.venues.kalshi.user import KalshiUserStream

    signer = KalshiSigner("kid", key)
    assert isinstance(KalshiGateway(signer), VenueGateway)
    assert isinstance(KalshiMarketFeed(lambda e: None), MarketFeed)
    assert isinstance(KalshiUserStream(lambda e: None, signer), UserStream)


# --- order_state: "absent" (None) versus "could not tell" (OrderStateUnknown) ------------------------


def _orders_page(coids: list[str], cursor: str) -> tuple[int, dict, dict]:
    rows = [dict(ORDER["order"], order_id=f"o-{c}", client_order_id=c) for c in coids]
    return 200, {"orders": rows, "cursor": cursor}, {}


async def test_order_state_found_or_absent(venue):
    v, gw = venue
    v.plans = [(200, ORDER, {})]
    st = await gw.order_state("", venue_order_id="o-1")
    assert st is not None and st.venue_order_id == "o-1" and st.client_order_id == "exec-1-L0-A0"
    v.plans = [(404, {"error": {"code": "not_found"}}, {})]
    assert await gw.order_state("", venue_order_id="o-404") is None
    v.plans = [_orders_page(["a", "b"], "c2"), _orders_page(["c"], "")]  # whole list scanned: absent
    assert await gw.order_state("never-sent") is None


async def test_order_state_uncertain_answers_raise_unknown(venue):
    v, gw = venue
    gw.config.order_lookup_pages = 2
    v.plans = [_orders_page(["a"], "c2"), _orders_page(["b"], "c3")]  # more pages left: not proof of absence
    with pytest.raises(OrderStateUnknown, match="newest 2 pages"):
        await gw.order_state("x-1")
    v.plans = [(503, {"error": {"code": "service_unavailable"}}, {})] * gw.config.max_attempts
    with pytest.raises(OrderStateUnknown, match="x-2"):
        await gw.order_state("x-2")
    v.plans = [(401, {"error": {"code": "unauthorized", "message": "bad key"}}, {})]
    with pytest.raises(OrderStateUnknown):
        await gw.order_state("", venue_order_id="o-2")
    v.plans = [(400, {"error": {"code": "bad_request"}}, {})]
    with pytest.raises(OrderStateUnknown):
        await gw.order_state("", venue_order_id="o-3")


async def test_order_state_without_an_answer_is_unknown(key):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gw = KalshiGateway(KalshiSigner("kid", key), GatewayConfig(rest_url=f"http://127.0.0.1:{port}/trade-api/v2",
                                                                retry_backoff_s=0.01, max_attempts=2))
    async with gw:
        with pytest.raises(OrderStateUnknown, match="no response"):
            await gw.order_state("x-3")
