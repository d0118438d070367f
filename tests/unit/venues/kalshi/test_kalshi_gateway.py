"""Kalshi gateway: order mapping, and HTTP behaviour against a small real server on 127.0.0.1
(429 + Retry-After, 5xx retries, clock-skew detection from the Date header, 401 mapping)."""

from __future__ import annotations

import email.utils
import socket
import time
from decimal import Decimal as D

import json

import msgspec
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
from arbkit.venues.kalshi.parse import OrderWire


def inst(side: str = "yes", ticker: str = "KXT-1") -> Instrument:
    return Instrument(venue=Venue.KALSHI, symbol=f"{ticker}:{side}", kind=InstrumentKind.OUTCOME,
                      tick_size=D("0.01"), size_increment=D("1"))


def req(side: str = "yes", action: Side = Side.BUY, **kw) -> OrderRequest:
    base = dict(instrument=inst(side), client_order_id="exec-1-L0-A0", side=action, quantity=D("10"), price=D("0.42"))
    base.update(kw)
    return OrderRequest(**base)


META = MarketMeta(ticker="KXT-1", event_ticker="KXT", series_ticker="KX", title="t",
                  price_level_structure="tapered_deci_cent")


def test_v2_body_on_the_yes_book():
    """docs.kalshi.com create-order-v2 / official SDK CreateOrderV2Request: side bid|ask on the YES
    book, count/price fixed-point strings, time_in_force and self_trade_prevention_type required."""
    assert order_body(req("yes", Side.BUY)) == {
        "ticker": "KXT-1", "client_order_id": "exec-1-L0-A0", "side": "bid", "count": "10.00", "price": "0.4200",
        "time_in_force": "good_till_canceled", "self_trade_prevention_type": "taker_at_cross"}
    b = order_body(req("yes", Side.SELL))
    assert (b["side"], b["price"]) == ("ask", "0.4200")
    b = order_body(req("no", Side.BUY, price=D("0.58")))  # buy NO at p = ask on YES at 1 - p
    assert (b["side"], b["price"]) == ("ask", "0.4200")
    b = order_body(req("no", Side.SELL, price=D("0.58")))  # sell NO at p = bid on YES at 1 - p
    assert (b["side"], b["price"]) == ("bid", "0.4200")
    for stale in ("action", "type", "count_fp", "yes_price_dollars", "no_price_dollars", "buy_max_cost"):
        assert stale not in b


def test_time_in_force_and_flags():
    assert order_body(req(time_in_force=TimeInForce.IOC))["time_in_force"] == "immediate_or_cancel"
    assert order_body(req(time_in_force=TimeInForce.FOK))["time_in_force"] == "fill_or_kill"
    gtd = order_body(req(time_in_force=TimeInForce.GTD, expire_at_ns=1_800_000_000_500_000_000))
    assert gtd["time_in_force"] == "good_till_canceled" and gtd["expiration_time"] == 1_800_000_001
    mkt = order_body(req(order_type=OrderType.MARKET))
    assert mkt["time_in_force"] == "immediate_or_cancel"  # worst price, never rests
    b = order_body(req(post_only=True))
    assert b["post_only"] is True
    b = order_body(req(reduce_only=True, time_in_force=TimeInForce.IOC))
    assert b["reduce_only"] is True
    with pytest.raises(ValueError, match="immediate_or_cancel"):
        order_body(req(reduce_only=True))  # GTC reduce-only is refused by the venue
    with pytest.raises(ValueError, match="buy_max_cost"):
        order_body(req(buy_max_cost=D("1")))
    with pytest.raises(ValueError, match="post_only"):
        order_body(req(post_only=True, time_in_force=TimeInForce.IOC))
    with pytest.raises(ValueError, match="client_order_id"):
        order_body(req(client_order_id="x" * 65))
    with pytest.raises(ValueError, match="client_order_id"):
        order_body(req(client_order_id="has space"))


def test_prices_and_counts_checked_against_the_market():
    order_body(req(price=D("0.055")), META)  # tail of tapered_deci_cent: $0.001 steps
    order_body(req(price=D("0.42")), META)
    order_body(req("no", price=D("0.945")), META)  # NO at 0.945 = YES 0.055: on the mirrored grid
    with pytest.raises(ValueError, match="tapered_deci_cent"):
        order_body(req(price=D("0.425")), META)  # middle band is $0.01
    with pytest.raises(ValueError, match="YES-book price 0.575"):
        order_body(req("no", price=D("0.425")), META)
    with pytest.raises(ValueError, match="outside"):
        order_body(req(price=D("1")), META)
    with pytest.raises(ValueError, match="2 decimals"):
        order_body(req(quantity=D("0.505")), META)
    # every market takes fractional counts (fractional_trading_enabled is gone)
    assert order_body(req(quantity=D("0.5")), META)["count"] == "0.50"
    y, n = META.instruments()
    assert (y.id, n.id, y.complement_id, y.size_increment, y.tick_size) == (
        "kalshi:KXT-1:yes", "kalshi:KXT-1:no", "kalshi:KXT-1:no", D("0.01"), D("0.001"))
    # a structure we do not know, with its ranges given by the market: the ranges rule
    odd = MarketMeta(ticker="KXT-1", event_ticker="KXT", series_ticker="KX", title="t", price_level_structure="new_x",
                     price_ranges=(C.PriceRange(D("0"), D("1"), D("0.005")),))
    order_body(req(price=D("0.425")), odd)
    with pytest.raises(ValueError, match="new_x"):
        order_body(req(price=D("0.421")), odd)
    bare = MarketMeta(ticker="KXT-1", event_ticker="KXT", series_ticker="KX", title="t", price_level_structure="new_x")
    with pytest.raises(ValueError, match="unknown price level structure"):
        order_body(req(), bare)
    with pytest.raises(ValueError, match="not a Kalshi"):
        order_body(req().__class__(instrument=Instrument(venue=Venue.POLYMARKET, symbol="1", kind=InstrumentKind.OUTCOME,
                                                         tick_size=D("0.01"), size_increment=D("1")),
                                   client_order_id="c", side=Side.BUY, quantity=D(1), price=D("0.5")))


def test_fee_types_unknown_or_flat_stop_trading():
    from arbkit.venues.kalshi.fees import KalshiFeeUnknown

    combo = MarketMeta(ticker="KXT-1", event_ticker="KXT", series_ticker="KX", title="t",
                       fee_type="quadratic_with_combo_maker_fees")
    assert combo.instruments()[0].fee.maker_rate == D("0.035")  # 0.5 x taker, not 0.25 x
    for ft in ("flat", "cubic_someday"):
        m = MarketMeta(ticker="KXT-1", event_ticker="KXT", series_ticker="KX", title="t", fee_type=ft)
        with pytest.raises(KalshiFeeUnknown, match="not tradeable"):
            m.instruments()
        with pytest.raises(ValueError, match="not tradeable"):
            order_body(req(), m)


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


ORDER = {"order": {"order_id": "o-1", "client_order_id": "exec-1-L0-A0", "ticker": "KXT-1", "outcome_side": "yes",
                   "book_side": "bid", "status": "resting", "yes_price_dollars": "0.4200", "no_price_dollars": "0.5800",
                   "initial_count_fp": "10.00", "fill_count_fp": "0.00", "remaining_count_fp": "10.00",
                   "created_time": "2026-01-14T20:18:04.727473Z"}}
CREATED = {"order_id": "o-1", "client_order_id": "exec-1-L0-A0", "fill_count": "0.00", "remaining_count": "10.00",
           "ts_ms": 1781821370267}
META_ROUTES = [
    (200, {"market": {"ticker": "KXT-1", "event_ticker": "KXT", "price_level_structure": "linear_cent",
                      "price_ranges": [{"start": "0.0000", "end": "1.0000", "step": "0.0100"}]}}, {}),
    (200, {"event": {"event_ticker": "KXT", "series_ticker": "KX"}}, {}),
    (200, {"series": {"ticker": "KX", "fee_type": "quadratic_with_maker_fees", "fee_multiplier": 1}}, {}),
]


async def test_429_retry_after_then_success(venue):
    v, gw = venue
    v.plans = META_ROUTES + [(429, {"error": {"code": "too_many_requests"}}, {"Retry-After": "0.3"}), (201, CREATED, {})]
    t0 = time.monotonic()
    res = await gw.submit(req())
    assert res.accepted and isinstance(res.events[0], OrderAccepted) and res.venue_order_id == "o-1"
    assert time.monotonic() - t0 >= 0.3 and gw.writes.penalties == 1
    posts = [s for s in v.seen if s[0] == "POST"]
    assert len(posts) == 2 and posts[0][1] == "/trade-api/v2/portfolio/events/orders"
    meta = gw.cached_market("KXT-1")
    assert meta.fee_type == "quadratic_with_maker_fees" and meta.instruments()[0].fee.maker_rate == D("0.0175")


async def test_a_5xx_create_is_looked_up_before_any_resend(venue):
    v, gw = venue
    gw.config.ambiguous_settle_s = 0.0
    # 503 (maybe processed) -> the lookup finds nothing -> sent again -> 400: a definite refusal
    v.plans = META_ROUTES + [(503, {"error": {"code": "service_unavailable"}}, {}),
                             (200, {"orders": [], "cursor": ""}, {}),
                             (400, {"code": "insufficient_balance", "message": "insufficient balance"}, {})]  # flat error
    res = await gw.submit(req())
    assert not res.accepted and isinstance(res.events[0], OrderRejected)
    assert res.events[0].code == "insufficient_balance" and not res.events[0].retryable
    calls = [(m, p.split("?")[0]) for m, p, _ in v.seen if "portfolio" in p]
    assert calls == [("POST", "/trade-api/v2/portfolio/events/orders"), ("GET", "/trade-api/v2/portfolio/orders"),
                     ("POST", "/trade-api/v2/portfolio/events/orders")]


async def test_a_5xx_create_that_was_processed_is_found_not_resent(venue):
    v, gw = venue
    gw.config.ambiguous_settle_s = 0.0
    v.plans = META_ROUTES + [(502, {}, {}), (200, {"orders": [ORDER["order"]], "cursor": ""}, {})]
    res = await gw.submit(req())
    assert res.accepted and res.venue_order_id == "o-1"
    assert len([s for s in v.seen if s[0] == "POST"]) == 1


async def test_an_unanswerable_lookup_is_ambiguous_never_not_filled(venue):
    v, gw = venue
    gw.config.ambiguous_settle_s = 0.0
    gw.config.order_lookup_pages = 1
    v.plans = META_ROUTES + [(201, {"unexpected": True}, {}),  # unreadable answer
                             (200, {"orders": [dict(ORDER["order"], client_order_id="other")], "cursor": "more"}, {})]
    res = await gw.submit(req())
    ev = res.events[0]
    assert not res.accepted and ev.code == "AMBIGUOUS" and ev.retryable
    assert "unreadable create-order answer" in ev.reason and "lookup" in ev.reason
    assert len([s for s in v.seen if s[0] == "POST"]) == 1


async def test_ioc_remainder_reported_canceled(venue):
    v, gw = venue
    v.plans = META_ROUTES + [(201, dict(CREATED, fill_count="4.00", remaining_count="0.00", average_fill_price="0.42",
                                        average_fee_paid="0.0170"), {})]
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
    res = await gw.submit(req(price=D("0.43")))
    assert not res.accepted and res.events[0].code == "invalid_order"
    assert "prepared for a different order" in res.events[0].reason
    # a fresh gateway (no memory of the body) meeting a 409 compares with the venue's order
    fresh = KalshiGateway(gw.signer, gw.config)
    fresh._meta = gw._meta
    v.plans = [(409, {"error": {"code": "order_already_exists"}}, {}), (200, {"orders": [ORDER["order"]], "cursor": ""}, {})]
    res = await fresh.submit(req(price=D("0.43")))
    assert not res.accepted and res.events[0].code == "duplicate_client_order_id"
    await fresh.close()


async def test_prepare_is_idempotent_and_restore_reuses_the_body(venue):
    v, gw = venue
    v.plans = list(META_ROUTES)
    r = req("no", Side.BUY, price=D("0.58"))
    text = await gw.prepare(r)
    assert await gw.prepare(r) == text
    obj = json.loads(text)
    assert obj["body"]["side"] == "ask" and obj["body"]["price"] == "0.4200" and (obj["side"], obj["action"]) == ("no", "buy")
    with pytest.raises(ValueError, match="different order"):
        await gw.prepare(req("no", Side.BUY, price=D("0.57")))
    # a restarted gateway restores the journaled text: submit sends the identical bytes
    fresh = KalshiGateway(gw.signer, gw.config)
    fresh._meta = gw._meta
    fresh.restore(r.client_order_id, text)
    # it may have gone out before the restart: looked up first, sent only because the venue has none
    v.seen.clear()
    v.plans = [(200, {"orders": [], "cursor": ""}, {}), (201, CREATED, {})]
    res = await fresh.submit(r)
    assert res.accepted
    assert [(m, p.split("?")[0]) for m, p, _ in v.seen] == [("GET", "/trade-api/v2/portfolio/orders"),
                                                           ("POST", "/trade-api/v2/portfolio/events/orders")]
    with pytest.raises(ValueError, match="client_order_id"):
        fresh.restore("another-id", text)
    await fresh.close()
    # an order on the venue reported as outcome_side=no is ours as a BUY of NO (not a sale of YES)
    no_order = dict(ORDER["order"], outcome_side="no", book_side="ask")
    st = fresh._state_of(msgspec.convert(no_order, OrderWire))
    assert (st.instrument_id, st.side, st.price) == ("kalshi:KXT-1:no", Side.BUY, D("0.5800"))


async def test_clock_skew_from_date_header(venue):
    v, gw = venue
    v.date_offset_s = -30.0  # the exchange is 30 s behind us
    with pytest.raises(ClockSkewError, match="clock skew") as ei:
        await gw.check_clock()
    assert 28_000 < ei.value.skew_ms < 32_000
    # A 401 while skewed is a clock problem, not a key problem; submit reports it as a rejection.
    v.plans = META_ROUTES + [(401, {"error": {"code": "authentication_error", "message": "authentication_error"}}, {})]
    res = await gw.submit(req(client_order_id="skewed-1"))
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


async def test_event_fee_override_wins_and_an_unmodelled_one_stops_the_market(venue):
    """EventData.fee_type_override / fee_multiplier_override (official SDK 3.34.0 models/event_data.py)
    take precedence over the series; a fee type we cannot compute makes the market untradeable."""
    from arbkit.venues.kalshi.fees import KalshiFeeUnknown

    v, gw = venue
    market = META_ROUTES[0]
    series = META_ROUTES[2]
    v.plans = [market, (200, {"event": {"event_ticker": "KXT", "series_ticker": "KX", "fee_type_override": "quadratic",
                                        "fee_multiplier_override": 0.5}}, {}), series]
    meta = await gw.market("KXT-1")
    assert (meta.fee_type, meta.fee_multiplier, meta.fee_source) == ("quadratic", D("0.5"), "event")
    assert meta.instruments()[0].fee.maker_rate == D(0) and meta.instruments()[0].fee.multiplier == D("0.5")
    gw._events.clear()
    gw._series.clear()
    v.plans = [market, (200, {"event": {"event_ticker": "KXT", "series_ticker": "KX", "fee_type_override": "flat"}}, {}),
               series]
    meta = await gw.market("KXT-1", refresh=True)
    with pytest.raises(KalshiFeeUnknown, match="event fee"):
        await gw.instruments("KXT-1")
    res = await gw.submit(req(client_order_id="flat-1"))
    assert not res.accepted and res.events[0].code == "invalid_order" and "not tradeable" in res.events[0].reason
    assert not [s for s in v.seen if s[0] == "POST"]  # nothing was sent


async def test_a_create_that_never_connected_is_not_sent_and_says_so(key):
    """Connection refused on every attempt: the request never left, so the answer is a plain
    retryable 'not sent' (no lookup needed, nothing can be at the venue)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    gw = KalshiGateway(KalshiSigner("kid", key), GatewayConfig(rest_url=f"http://127.0.0.1:{port}/trade-api/v2",
                                                                retry_backoff_s=0.01, max_attempts=2))
    async with gw:
        res = await gw.submit(req(client_order_id="never-connected"))
    ev = res.events[0]
    assert not res.accepted and ev.code == "unavailable" and ev.retryable and "not sent" in ev.reason
