"""Kalshi order gateway: RSA-PSS signed REST over a keep-alive pool.

- Every ``/portfolio`` request is signed (:mod:`.auth`); the path signed is the full URL path
  without the query string.
- Orders map from :class:`arbkit.core.orders.OrderRequest`: instrument ``kalshi:T:yes`` BUY =
  ``side=yes, action=buy``; ``kalshi:T:no`` BUY = ``side=no, action=buy``; SELL likewise. The
  price goes in the order's own side field (``yes_price_dollars`` / ``no_price_dollars``), the
  count in ``count_fp``. Kalshi retired market orders: a MARKET request is sent as a limit order
  at its worst acceptable price with IOC (or FOK). GTD becomes ``expiration_ts``.
- Prices are checked against the market's price level structure and counts against fractional
  trading before anything is sent (metadata is cached).
- Two token buckets (reads, writes) limit the request rate; a 429 blocks the bucket for
  Retry-After and the request is retried. Transport errors and 5xx are retried for reads and
  cancels; a create is retried too because ``client_order_id`` makes it idempotent: a retry
  answered "order already exists" is resolved by looking the order up.
- Clock skew: the ``Date`` header of every response is compared with the local clock; a 401 for a
  stale timestamp (or any 401 while the measured skew is beyond tolerance) is a
  :class:`ClockSkewError` naming the skew. ``submit`` turns it into an ``OrderRejected`` with
  code ``clock_skew`` (the contract forbids escaping exceptions); reads raise it.
- Market metadata (price level structure and ranges, fractional trading, fee type and
  multiplier from the series, status, close time, rules text, title, event and series tickers)
  is fetched from ``/markets``, ``/events`` and ``/series`` and cached.
"""

from __future__ import annotations

import email.utils
import logging
import time
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import msgspec
from multidict import CIMultiDict

from arbkit.core.clock import Clock, LiveClock
from arbkit.core.enums import InstrumentKind, OrderType, Side, TimeInForce, Venue
from arbkit.core.events import Event, OrderAccepted, OrderCanceled, OrderCancelRejected, OrderRejected
from arbkit.core.fees import NO_FEE, FeeSpec
from arbkit.core.instruments import Instrument
from arbkit.core.orders import Balance, OrderRequest, OrderState, Position, SubmitResult
from arbkit.venues.kalshi import constants as C
from arbkit.venues.kalshi import fees as kfees
from arbkit.venues.kalshi.auth import ClockSkewError, KalshiAuthError, KalshiSigner
from arbkit.venues.kalshi.parse import (
    BalanceWire,
    BatchCancelEnvelope,
    BatchCreateEnvelope,
    CancelEnvelope,
    ErrorBody,
    EventEnvelope,
    ExchangeStatusWire,
    FillsPage,
    MarketEnvelope,
    MarketWire,
    OrderbookEnvelope,
    OrderEnvelope,
    OrdersPage,
    OrderWire,
    ParsedFill,
    PositionsPage,
    SeriesEnvelope,
    error_of,
    fmt_count,
    fmt_price,
    lots_to_count,
    order_state,
    parse_time_ns,
    units_to_price,
)
from arbkit.venues.common import sane
from arbkit.venues.common.http import (
    HttpResponse,
    OrderStateUnknown,
    TransportFailure,
    keepalive_session,
    send_with_retries,
)
from arbkit.venues.common.ratelimit import TokenBucket

log = logging.getLogger("arbkit.venues.kalshi.gateway")

VENUE = Venue.KALSHI
_PREFIX = "kalshi:"
_STALE_TS_MARKERS = ("TIMESTAMP", "timestamp", "expired", "clock")


class KalshiApiError(Exception):
    """The venue refused a request (``status``, Kalshi error ``code``, message and details)."""

    def __init__(self, status: int, error: ErrorBody, method: str, path: str) -> None:
        self.status = status
        self.code = error.code
        self.details = error.details
        self.error_message = error.message
        text = error.message or error.code or "error"
        if error.details:
            text += f" ({error.details})"
        super().__init__(f"Kalshi {method} {path}: HTTP {status} {error.code}: {text}")

    @property
    def retryable(self) -> bool:
        return self.status == 429 or self.status >= 500


class KalshiTransportError(Exception):
    """The request could not be completed (network, timeout, repeated 5xx/429)."""


# --- metadata ----------------------------------------------------------------------------------


class MarketMeta(msgspec.Struct, frozen=True, kw_only=True):
    """What the order path and the mapping workflow need to know about one Kalshi market."""

    ticker: str
    event_ticker: str
    series_ticker: str
    title: str
    subtitle: str = ""
    yes_sub_title: str = ""
    no_sub_title: str = ""
    status: str = ""
    close_time: str | None = None
    close_time_ns: int = 0
    rules_primary: str = ""
    rules_secondary: str = ""
    price_level_structure: str = "linear_cent"
    price_ranges: tuple[C.PriceRange, ...] = ()
    fractional_trading_enabled: bool = False
    fee_type: str = "quadratic"
    fee_multiplier: Decimal = Decimal(1)
    series_title: str = ""
    category: str = ""
    settlement_sources: tuple[str, ...] = ()
    event_title: str = ""
    mutually_exclusive: bool = False

    @property
    def ranges(self) -> tuple[C.PriceRange, ...]:
        if self.price_ranges:
            return self.price_ranges
        try:
            return C.PRICE_LEVEL_STRUCTURES[self.price_level_structure]
        except KeyError:
            raise ValueError(f"{self.ticker}: unknown price level structure {self.price_level_structure!r}") from None

    @property
    def finest_tick(self) -> Decimal:
        return min(r.step for r in self.ranges)

    @property
    def size_increment(self) -> Decimal:
        return C.COUNT_UNIT if self.fractional_trading_enabled else Decimal(1)

    def price_problem(self, price: Decimal) -> str | None:
        """Why ``price`` (either side's, they share the grid) is not a valid order price, or None."""
        if not 0 < price < 1:
            return f"price {price} outside (0, 1)"
        for r in self.ranges:
            if r.start <= price <= r.end and (price - r.start) % r.step == 0:
                return None
        return (f"price {price} is not on {self.ticker}'s {self.price_level_structure} grid "
                f"({', '.join(f'{r.start}-{r.end} step {r.step}' for r in self.ranges)})")

    def count_problem(self, count: Decimal) -> str | None:
        if count <= 0:
            return "count must be positive"
        if count % C.COUNT_UNIT:
            return f"count {count} has more than 2 decimals"
        if count % 1 and not self.fractional_trading_enabled:
            return f"fractional count {count} on {self.ticker}, which does not allow fractional trading"
        return None

    def fee_spec(self) -> FeeSpec:
        try:
            return kfees.fee_spec(self.fee_type, self.fee_multiplier)
        except ValueError:
            log.warning("%s: fee type %r not modelled; fees unknown", self.ticker, self.fee_type)
            return NO_FEE

    def instruments(self) -> tuple[Instrument, Instrument]:
        """(YES, NO) core instruments of this market."""
        out = []
        for side, other in (("yes", "no"), ("no", "yes")):
            out.append(Instrument(
                venue=VENUE, symbol=f"{self.ticker}:{side}", kind=InstrumentKind.OUTCOME,
                tick_size=self.finest_tick, size_increment=self.size_increment, min_size=self.size_increment,
                quote="USD", outcome=side.upper(), market_id=self.ticker, event_id=self.event_ticker,
                complement=f"{self.ticker}:{other}", fee=self.fee_spec(),
                title=self.title + (f" - {self.yes_sub_title if side == 'yes' else self.no_sub_title}"
                                    if (self.yes_sub_title if side == 'yes' else self.no_sub_title) else "")))
        return out[0], out[1]


@dataclass
class GatewayConfig:
    rest_url: str = C.REST_URL
    read_rate: float = 20.0  # requests/s (Kalshi Basic tier: 20 reads/s)
    read_burst: int = 20
    write_rate: float = 10.0  # Basic tier: 10 writes/s
    write_burst: int = 10
    timeout_s: float = 10.0
    max_attempts: int = 4
    retry_backoff_s: float = 0.2
    max_retry_after_s: float = 30.0
    max_clock_skew_ms: int = 3000  # a measured skew beyond this makes a 401 a ClockSkewError
    metadata_ttl_s: float = 300.0
    pool_size: int = 32
    keepalive_s: float = 60.0
    order_lookup_pages: int = 10  # pages of /portfolio/orders scanned to find a client order id


@dataclass
class _Resp:
    status: int
    body: bytes
    headers: Any = field(default_factory=CIMultiDict)


def _tif_of(request: OrderRequest) -> tuple[str, int | None]:
    """(Kalshi time_in_force, expiration_ts seconds or None)."""
    tif = request.time_in_force
    if request.order_type is OrderType.MARKET and tif not in (TimeInForce.IOC, TimeInForce.FOK):
        tif = TimeInForce.IOC  # a market order never rests; Kalshi has no market type any more
    if tif is TimeInForce.GTD:
        if request.expire_at_ns <= 0:
            raise ValueError("GTD order without expire_at_ns")
        return C.TIME_IN_FORCE["GTC"], -(-request.expire_at_ns // 1_000_000_000)
    return C.TIME_IN_FORCE[tif.value], None


def split_symbol(request: OrderRequest) -> tuple[str, str]:
    """(ticker, yes|no) of a Kalshi instrument symbol ``T:yes`` / ``T:no``."""
    if request.instrument.venue is not VENUE:
        raise ValueError(f"instrument {request.instrument.id} is not a Kalshi instrument")
    ticker, _, side = request.instrument.symbol.rpartition(":")
    if side not in ("yes", "no") or not ticker:
        raise ValueError(f"Kalshi symbol must be '<TICKER>:yes' or '<TICKER>:no', got {request.instrument.symbol!r}")
    return ticker, side


def order_body(request: OrderRequest, meta: MarketMeta | None = None) -> dict[str, Any]:
    """The JSON body of POST /portfolio/orders for ``request`` (ValueError names what is wrong)."""
    ticker, side = split_symbol(request)
    coid = request.client_order_id
    if not coid or len(coid) > C.CLIENT_ORDER_ID_MAX:
        raise ValueError(f"client_order_id must be 1-{C.CLIENT_ORDER_ID_MAX} characters")
    price, qty = request.price, request.quantity
    if meta is not None:
        problem = meta.price_problem(price) or meta.count_problem(qty)
        if problem:
            raise ValueError(problem)
    elif not 0 < price < 1:
        raise ValueError(f"price {price} outside (0, 1)")
    if request.post_only and request.time_in_force not in (TimeInForce.GTC, TimeInForce.GTD):
        raise ValueError("post_only needs GTC or GTD")
    tif, expiration = _tif_of(request)
    body: dict[str, Any] = {
        "ticker": ticker,
        "side": side,
        "action": "buy" if request.side is Side.BUY else "sell",
        "type": "limit",
        "count_fp": fmt_count(qty),
        f"{side}_price_dollars": fmt_price(price),
        "time_in_force": tif,
        "client_order_id": coid,
    }
    if expiration is not None:
        body["expiration_ts"] = expiration
    if request.post_only:
        body["post_only"] = True
    if request.reduce_only:
        body["reduce_only"] = True
    if request.buy_max_cost is not None:
        if request.side is not Side.BUY:
            raise ValueError("buy_max_cost applies to buy orders only")
        cents = int((request.buy_max_cost * 100).to_integral_value(rounding=ROUND_FLOOR))  # never above the cap
        if cents <= 0:
            raise ValueError(f"buy_max_cost {request.buy_max_cost} is below one cent")
        body["buy_max_cost"] = cents
    return body


def _same_order(body: dict[str, Any], wire: OrderWire) -> bool:
    """Whether the venue's order is the one ``body`` asked for (ticker, side, action, price, count)."""
    try:
        initial, _, _ = wire.counts()
        yes = wire.yes_units()
    except ValueError:
        return False
    side = body["side"]
    price = body.get(f"{side}_price_dollars")
    own = yes if side == "yes" else C.PRICE_ONE_UNITS - yes
    return (wire.ticker == body["ticker"] and wire.side == side and wire.action == body["action"]
            and price is not None and fmt_price(units_to_price(own)) == price
            and fmt_count(lots_to_count(initial)) == body["count_fp"])


class KalshiGateway:
    """Implements :class:`arbkit.venues.base.VenueGateway` for Kalshi."""

    venue = VENUE

    def __init__(self, signer: KalshiSigner, config: GatewayConfig | None = None, *, clock: Clock | None = None,
                 session: aiohttp.ClientSession | None = None) -> None:
        self.signer = signer
        self.config = config or GatewayConfig()
        self.clock = clock or LiveClock()
        self._session = session
        self._own_session = session is None
        self._base_path = urlsplit(self.config.rest_url).path.rstrip("/")
        self.reads = TokenBucket(self.config.read_rate, self.config.read_burst)
        self.writes = TokenBucket(self.config.write_rate, self.config.write_burst)
        self._meta: dict[str, tuple[float, MarketMeta]] = {}
        self._series: dict[str, tuple[float, Any]] = {}
        self._events: dict[str, tuple[float, Any]] = {}
        self._coid_to_oid: dict[str, str] = {}
        self._oid_to_coid: dict[str, str] = {}
        self._bodies: dict[str, dict[str, Any]] = {}  # client order id -> the body the venue accepted
        self.last_skew_ms: int | None = None  # local - exchange, from the last response's Date header
        self.requests = 0
        self.retries = 0

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        if self._session is None:
            self._session = keepalive_session(self.config.pool_size, self.config.timeout_s, self.config.keepalive_s)

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> "KalshiGateway":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    # --- transport --------------------------------------------------------------------------

    def _note_date(self, headers: Any, sent_ms: int, recv_ms: int) -> None:
        date = headers.get("Date") if headers is not None else None
        if not date:
            return
        try:
            server = email.utils.parsedate_to_datetime(date)
        except (TypeError, ValueError):
            return
        if server is None:
            return
        # The Date header has 1 s resolution: compare with the middle of the round trip and
        # subtract half a second of truncation so a healthy clock reads ~0.
        server_ms = int(server.timestamp() * 1000) + 500
        self.last_skew_ms = (sent_ms + recv_ms) // 2 - server_ms

    async def _request(self, method: str, rel: str, *, params: dict[str, Any] | None = None,
                       body: Any = None, auth: bool = True, write: bool = False, retry: bool = True) -> _Resp:
        """Send one request (signed when ``auth``), with rate limiting and retries.

        Returns the final response (any status); raises KalshiTransportError when none came,
        ClockSkewError / KalshiAuthError on a 401.
        """
        if self._session is None:
            await self.start()
        assert self._session is not None
        path = self._base_path + rel
        url = self.config.rest_url.rstrip("/") + rel
        data = msgspec.json.encode(body) if body is not None else None

        def headers() -> dict[str, str]:
            h = {"Accept": "application/json"}
            if data is not None:
                h["Content-Type"] = "application/json"
            if auth:
                h.update(self.signer.headers(method, path))  # signed per attempt: fresh timestamp
            return h

        def on_send(attempt: int) -> None:
            if attempt:
                self.retries += 1

        def on_response(r: HttpResponse, sent_ms: int, recv_ms: int) -> None:
            self.requests += 1
            self._note_date(r.headers, sent_ms, recv_ms)

        attempts = self.config.max_attempts if retry else 1
        try:
            r = await send_with_retries(
                self._session, method, url, limiter=self.writes if write else self.reads, headers=headers,
                attempts=attempts, backoff_s=self.config.retry_backoff_s, params=params, data=data,
                max_retry_after_s=self.config.max_retry_after_s, on_send=on_send, on_response=on_response,
                label=f"Kalshi {method} {rel}")
        except TransportFailure as exc:
            raise KalshiTransportError(
                f"Kalshi {method} {rel}: no response after {attempts} attempts ({exc.last_exc!r})") from exc
        resp = _Resp(r.status, sane.utf8_body(r.body), r.headers)
        if resp.status == 401:
            self._raise_auth(resp, method, path)
        return resp

    def _raise_auth(self, resp: _Resp, method: str, path: str) -> None:
        err = error_of(resp.body)
        text = f"{err.code} {err.message} {err.details}"
        skew = self.last_skew_ms
        if any(m in text for m in _STALE_TS_MARKERS) or (skew is not None and abs(skew) > self.config.max_clock_skew_ms):
            raise ClockSkewError(skew, f"{method} {path} refused: {err.details or err.message}",
                                 self.signer.clock_offset_ms)
        raise KalshiAuthError(f"Kalshi {method} {path} refused our credentials (key {self.signer.key_id}): "
                              f"{err.details or err.message or err.code}")

    async def _get(self, rel: str, type_: Any, params: dict[str, Any] | None = None, auth: bool = True) -> Any:
        resp = await self._request("GET", rel, params=params, auth=auth)
        if resp.status != 200:
            raise KalshiApiError(resp.status, error_of(resp.body), "GET", rel)
        return msgspec.json.decode(resp.body, type=type_)

    async def _pages(self, rel: str, type_: Any, items: str, params: dict[str, Any], max_pages: int = 1000) -> list:
        out: list = []
        cursor = ""
        for _ in range(max_pages):
            q = dict(params)
            if cursor:
                q["cursor"] = cursor
            page = await self._get(rel, type_, q)
            out.extend(getattr(page, items))
            if page.cursor and page.cursor == cursor:  # the same page again: would loop to max_pages
                raise ValueError(f"GET {rel}: the venue repeated cursor {cursor[:80]!r}")
            cursor = page.cursor or ""
            if not cursor:
                break
        return out

    # --- clock ------------------------------------------------------------------------------

    async def check_clock(self) -> int:
        """Measure local - exchange time in ms (from ``GET /exchange/status``'s Date header);
        raises ClockSkewError beyond ``max_clock_skew_ms``."""
        await self._request("GET", C.PATH_EXCHANGE_STATUS, auth=False)
        if self.last_skew_ms is None:
            raise KalshiTransportError("the exchange sent no Date header: clock skew cannot be measured")
        if abs(self.last_skew_ms) > self.config.max_clock_skew_ms:
            raise ClockSkewError(self.last_skew_ms, f"tolerance {self.config.max_clock_skew_ms} ms")
        return self.last_skew_ms

    async def exchange_status(self) -> ExchangeStatusWire:
        return await self._get(C.PATH_EXCHANGE_STATUS, ExchangeStatusWire, auth=False)

    # --- metadata ---------------------------------------------------------------------------

    def cached_market(self, ticker: str) -> MarketMeta | None:
        hit = self._meta.get(ticker)
        if hit is None or time.monotonic() - hit[0] > self.config.metadata_ttl_s:
            return None
        return hit[1]

    async def market_wire(self, ticker: str) -> MarketWire:
        env = await self._get(C.PATH_MARKET.format(ticker=ticker), MarketEnvelope, auth=False)
        return env.market

    async def _cached(self, cache: dict, key: str, fetch) -> Any:
        hit = cache.get(key)
        if hit is not None and time.monotonic() - hit[0] <= self.config.metadata_ttl_s:
            return hit[1]
        value = await fetch()
        cache[key] = (time.monotonic(), value)
        return value

    async def market(self, ticker: str, refresh: bool = False) -> MarketMeta:
        """Market metadata (market + event + series), cached for ``metadata_ttl_s``."""
        if not refresh:
            hit = self.cached_market(ticker)
            if hit is not None:
                return hit
        m = await self.market_wire(ticker)
        ev = await self._cached(self._events, m.event_ticker, lambda: self._get(
            C.PATH_EVENT.format(event_ticker=m.event_ticker), EventEnvelope, auth=False))
        series_ticker = ev.event.series_ticker
        series = await self._cached(self._series, series_ticker, lambda: self._get(
            C.PATH_SERIES.format(series_ticker=series_ticker), SeriesEnvelope, auth=False))
        s = series.series
        structure = m.price_level_structure or ("linear_cent" if (m.tick_size or 1) == 1 else "")
        ranges = tuple(C.PriceRange(Decimal(r.start), Decimal(r.end), Decimal(r.step)) for r in (m.price_ranges or ()))
        for r in ranges:  # junk here would pass or refuse prices wrongly: refuse the answer instead
            for v in (r.start, r.end, r.step):
                if sane.amount(v, "price range", hi=Decimal(1)) % C.PRICE_UNIT:
                    raise ValueError(f"{ticker}: price range value {v} finer than {C.PRICE_UNIT}")
            if r.step <= 0 or r.end <= r.start:
                raise ValueError(f"{ticker}: price range {r.start}-{r.end} step {r.step}")
        sane.amount(s.fee_multiplier, "fee multiplier", hi=Decimal(100))
        meta = MarketMeta(
            ticker=m.ticker, event_ticker=m.event_ticker, series_ticker=series_ticker, title=m.title,
            subtitle=m.subtitle, yes_sub_title=m.yes_sub_title, no_sub_title=m.no_sub_title, status=m.status,
            close_time=m.close_time, close_time_ns=parse_time_ns(m.close_time), rules_primary=m.rules_primary,
            rules_secondary=m.rules_secondary, price_level_structure=structure, price_ranges=ranges,
            fractional_trading_enabled=bool(m.fractional_trading_enabled), fee_type=s.fee_type,
            fee_multiplier=s.fee_multiplier, series_title=s.title, category=s.category,
            settlement_sources=tuple(x.name for x in (s.settlement_sources or ())), event_title=ev.event.title,
            mutually_exclusive=ev.event.mutually_exclusive)
        self._meta[ticker] = (time.monotonic(), meta)
        return meta

    async def instruments(self, ticker: str) -> tuple[Instrument, Instrument]:
        return (await self.market(ticker)).instruments()

    async def orderbook(self, ticker: str) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """REST book: (YES bids, NO bids) as Decimal (price, count), best first."""
        env = await self._get(C.PATH_ORDERBOOK.format(ticker=ticker), OrderbookEnvelope, auth=False)
        yes, no = env.levels()
        conv = lambda lv: sorted(((units_to_price(p), lots_to_count(q)) for p, q in lv if q), reverse=True)  # noqa: E731
        return conv(yes), conv(no)

    # --- orders -----------------------------------------------------------------------------

    def _remember(self, coid: str, oid: str) -> None:
        if coid and oid:
            self._coid_to_oid[coid] = oid
            self._oid_to_coid[oid] = coid

    def client_order_id_of(self, order_id: str) -> str:
        return self._oid_to_coid.get(order_id, "")

    def order_size(self, client_order_id: str) -> Decimal | None:
        """The count this gateway sent for ``client_order_id`` (None when it did not send it)."""
        body = self._bodies.get(client_order_id)
        return Decimal(body["count_fp"]) if body is not None else None

    def _reject(self, request: OrderRequest, reason: str, code: str = "", retryable: bool = False) -> SubmitResult:
        ev = OrderRejected(venue=VENUE, client_order_id=request.client_order_id, reason=reason, code=code,
                           retryable=retryable, correlation_id=request.correlation_id, ts_recv=self.clock.now_ns())
        return SubmitResult(client_order_id=request.client_order_id, events=[ev])

    def _accepted(self, request: OrderRequest, wire: OrderWire, latency_ns: int,
                  body: dict[str, Any] | None = None) -> SubmitResult:
        self._remember(request.client_order_id, wire.order_id)
        if body is not None:
            self._bodies[request.client_order_id] = body
        now = self.clock.now_ns()
        events: list[Event] = [OrderAccepted(venue=VENUE, client_order_id=request.client_order_id,
                                             venue_order_id=wire.order_id, correlation_id=request.correlation_id,
                                             ts_venue=parse_time_ns(wire.created_time), ts_recv=now)]
        _, filled, _ = wire.counts()
        if wire.status == "canceled":  # IOC remainder (or FOK/buy_max_cost that did not fill)
            events.append(OrderCanceled(venue=VENUE, client_order_id=request.client_order_id,
                                        venue_order_id=wire.order_id, filled_quantity=lots_to_count(filled),
                                        reason="unfilled remainder canceled (immediate_or_cancel)",
                                        correlation_id=request.correlation_id, ts_recv=now))
        return SubmitResult(client_order_id=request.client_order_id, events=events, venue_order_id=wire.order_id,
                            accepted=True, latency_ns=latency_ns)

    async def _meta_for(self, ticker: str) -> MarketMeta | None:
        meta = self.cached_market(ticker)
        if meta is not None:
            return meta
        try:
            return await self.market(ticker)
        except (KalshiApiError, KalshiTransportError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            # The venue checks the price itself; we only lose the early, local refusal.
            log.warning("Kalshi metadata for %s unavailable (%r); sending without the local price check", ticker, exc)
            return None

    async def submit(self, request: OrderRequest) -> SubmitResult:
        try:
            ticker, _ = split_symbol(request)
            body = order_body(request, await self._meta_for(ticker))
        except ValueError as exc:
            return self._reject(request, str(exc), code="invalid_order")
        known = self._coid_to_oid.get(request.client_order_id)
        if known:
            # A resend of an order the venue already has (a retry after a timeout, a filled IOC sent
            # again): never a second order. Kalshi only refuses a duplicate id while the first is live.
            return await self._resent(request, body, known)
        t0 = time.perf_counter_ns()
        try:
            resp = await self._request("POST", C.PATH_ORDERS, body=body, write=True)
        except ClockSkewError as exc:
            return self._reject(request, str(exc), code="clock_skew")
        except KalshiAuthError as exc:
            return self._reject(request, str(exc), code="auth")
        except KalshiTransportError as exc:
            return self._reject(request, str(exc), code="transport", retryable=True)
        latency = time.perf_counter_ns() - t0
        if resp.status in (200, 201):
            try:
                wire = msgspec.json.decode(resp.body, type=OrderEnvelope).order
                if not wire.order_id or "\ufffd" in wire.order_id or not _same_order(body, wire) or (
                        wire.client_order_id and wire.client_order_id != request.client_order_id):
                    raise ValueError(f"the answer does not describe the order we sent ({wire.order_id!r})")
                return self._accepted(request, wire, latency, body)
            except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
                # Sent and answered, but the answer is unreadable: recovery must look it up
                # (order_state by client order id) before anything is re-sent.
                return self._reject(request, f"unreadable create-order response: {exc}", code="bad_response",
                                    retryable=True)
        err = error_of(resp.body)
        if resp.status == 409 and err.code == "order_already_exists":
            # A retry of an order that did reach the venue: find it and report it as accepted -
            # unless the id was used for a different order (a caller bug: say so, never merge them).
            state = await self._lookup_wire(request.client_order_id)
            if state is not None:
                if _same_order(body, state):
                    return self._accepted(request, state, latency, body)
                return self._reject(request, f"client_order_id {request.client_order_id} is already used by "
                                             f"order {state.order_id} ({state.ticker} {state.side} {state.action})",
                                    code="duplicate_client_order_id")
        return self._reject(request, f"{err.message or err.code}" + (f": {err.details}" if err.details else ""),
                            code=err.code or str(resp.status), retryable=resp.status == 429 or resp.status >= 500)

    async def _resent(self, request: OrderRequest, body: dict[str, Any], order_id: str) -> SubmitResult:
        """The answer to a second submit of a client order id the venue already has."""
        sent = self._bodies.get(request.client_order_id)
        if sent is not None and sent != body:
            return self._reject(request, f"client_order_id {request.client_order_id} is already used by order "
                                         f"{order_id} with different terms", code="duplicate_client_order_id")
        try:
            wire = await self.get_order(order_id)
        except (KalshiApiError, KalshiTransportError, KalshiAuthError, msgspec.DecodeError,
                msgspec.ValidationError) as exc:
            if sent is not None:  # we sent exactly this and the venue took it: it is accepted
                return SubmitResult(client_order_id=request.client_order_id, venue_order_id=order_id, accepted=True,
                                    events=[OrderAccepted(venue=VENUE, client_order_id=request.client_order_id,
                                                          venue_order_id=order_id,
                                                          correlation_id=request.correlation_id,
                                                          ts_recv=self.clock.now_ns())])
            return self._reject(request, f"client_order_id {request.client_order_id} names order {order_id}, which "
                                         f"could not be read back to compare: {exc}", code="transport", retryable=True)
        if wire is not None and _same_order(body, wire):
            return self._accepted(request, wire, 0)
        what = f"order {order_id}" + (f" ({wire.ticker} {wire.side} {wire.action})" if wire is not None else "")
        return self._reject(request, f"client_order_id {request.client_order_id} is already used by {what}",
                            code="duplicate_client_order_id")

    async def submit_many(self, requests: list[OrderRequest]) -> list[SubmitResult]:
        """Batched create (up to 20 per request); results in the order of ``requests``."""
        results: dict[int, SubmitResult] = {}
        bodies: list[tuple[int, dict]] = []
        for i, req in enumerate(requests):
            try:
                ticker, _ = split_symbol(req)
                body = order_body(req, await self._meta_for(ticker))
            except ValueError as exc:
                results[i] = self._reject(req, str(exc), code="invalid_order")
                continue
            known = self._coid_to_oid.get(req.client_order_id)
            if known:
                results[i] = await self._resent(req, body, known)
            else:
                bodies.append((i, body))
        for start in range(0, len(bodies), C.MAX_BATCH_ORDERS):
            chunk = bodies[start:start + C.MAX_BATCH_ORDERS]
            t0 = time.perf_counter_ns()
            try:
                resp = await self._request("POST", C.PATH_BATCH_ORDERS, body={"orders": [b for _, b in chunk]},
                                           write=True)
            except ClockSkewError as exc:
                for i, _ in chunk:
                    results[i] = self._reject(requests[i], str(exc), code="clock_skew")
                continue
            except (KalshiAuthError, KalshiTransportError) as exc:
                for i, _ in chunk:
                    results[i] = self._reject(requests[i], str(exc), code="transport",
                                              retryable=isinstance(exc, KalshiTransportError))
                continue
            latency = time.perf_counter_ns() - t0
            if resp.status not in (200, 201):
                err = error_of(resp.body)
                for i, _ in chunk:
                    results[i] = self._reject(requests[i], err.message or err.code, code=err.code,
                                              retryable=resp.status == 429 or resp.status >= 500)
                continue
            try:
                env = msgspec.json.decode(resp.body, type=BatchCreateEnvelope)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                for i, _ in chunk:
                    results[i] = self._reject(requests[i], f"unreadable batch response: {exc}", code="bad_response",
                                              retryable=True)
                continue
            if len(env.orders) != len(chunk):
                for i, _ in chunk:
                    results[i] = self._reject(requests[i], "batch response has the wrong number of items",
                                              code="bad_response", retryable=True)
                continue
            for (i, _), item in zip(chunk, env.orders):
                if item.order is not None and item.error is None:
                    try:
                        results[i] = self._accepted(requests[i], item.order, latency, dict(chunk)[i])
                    except ValueError as exc:
                        results[i] = self._reject(requests[i], f"unreadable order in the batch response: {exc}",
                                                  code="bad_response", retryable=True)
                elif item.error is not None and item.error.code == "order_already_exists" and (
                        (found := await self._lookup_wire(requests[i].client_order_id)) is not None
                        and _same_order(dict(chunk)[i], found)):
                    results[i] = self._accepted(requests[i], found, latency)  # a retried batch: it is there
                else:
                    e = item.error or ErrorBody(code="unknown", message="no order and no error")
                    results[i] = self._reject(requests[i], e.message + (f": {e.details}" if e.details else ""),
                                              code=e.code)
        return [results[i] for i in range(len(requests))]

    async def _order_id(self, client_order_id: str, venue_order_id: str) -> str | None:
        if venue_order_id:
            return venue_order_id
        oid = self._coid_to_oid.get(client_order_id)
        if oid:
            return oid
        wire = await self._lookup_wire(client_order_id)
        return wire.order_id if wire is not None else None

    async def cancel(self, client_order_id: str, venue_order_id: str = "") -> list[Event]:
        now = self.clock.now_ns
        try:
            oid = await self._order_id(client_order_id, venue_order_id)
            if oid is None:
                return [OrderCancelRejected(venue=VENUE, client_order_id=client_order_id,
                                            reason="order not found at the venue", ts_recv=now())]
            resp = await self._request("DELETE", C.PATH_ORDER.format(order_id=oid), write=True)
        except (KalshiAuthError, KalshiTransportError, KalshiApiError) as exc:
            return [OrderCancelRejected(venue=VENUE, client_order_id=client_order_id, reason=str(exc), ts_recv=now())]
        if resp.status == 200:
            try:
                env = msgspec.json.decode(resp.body, type=CancelEnvelope)
                _, filled, _ = env.order.counts()
            except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
                return [OrderCancelRejected(venue=VENUE, client_order_id=client_order_id,
                                            reason=f"unreadable cancel response (state unknown, look it up): {exc}",
                                            ts_recv=now())]
            self._remember(env.order.client_order_id or client_order_id, oid)
            return [OrderCanceled(venue=VENUE, client_order_id=env.order.client_order_id or client_order_id,
                                  venue_order_id=oid, filled_quantity=lots_to_count(filled), reason="canceled",
                                  ts_recv=now())]
        err = error_of(resp.body)
        return [OrderCancelRejected(venue=VENUE, client_order_id=client_order_id,
                                    reason=f"{err.code}: {err.message}" + (f" ({err.details})" if err.details else ""),
                                    ts_recv=now())]

    async def cancel_many(self, order_ids: list[str]) -> list[Event]:
        """Batched cancel (up to 20 per request) by venue order id."""
        out: list[Event] = []
        now = self.clock.now_ns
        for start in range(0, len(order_ids), C.MAX_BATCH_ORDERS):
            chunk = order_ids[start:start + C.MAX_BATCH_ORDERS]
            try:
                resp = await self._request("DELETE", C.PATH_BATCH_ORDERS, body={"ids": chunk}, write=True)
            except (KalshiAuthError, KalshiTransportError) as exc:
                out.extend(OrderCancelRejected(venue=VENUE, client_order_id=self.client_order_id_of(o), reason=str(exc),
                                               ts_recv=now()) for o in chunk)
                continue
            if resp.status != 200:
                err = error_of(resp.body)
                out.extend(OrderCancelRejected(venue=VENUE, client_order_id=self.client_order_id_of(o),
                                               reason=f"{err.code}: {err.message}", ts_recv=now()) for o in chunk)
                continue
            try:
                env = msgspec.json.decode(resp.body, type=BatchCancelEnvelope)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                out.extend(OrderCancelRejected(venue=VENUE, client_order_id=self.client_order_id_of(o),
                                               reason=f"unreadable batch cancel response: {exc}", ts_recv=now())
                           for o in chunk)
                continue
            for item in env.orders:
                if item.order is not None and item.error is None:
                    _, filled, _ = item.order.counts()
                    coid = item.order.client_order_id or self.client_order_id_of(item.order_id)
                    out.append(OrderCanceled(venue=VENUE, client_order_id=coid, venue_order_id=item.order_id,
                                             filled_quantity=lots_to_count(filled), reason="canceled", ts_recv=now()))
                else:
                    e = item.error or ErrorBody()
                    out.append(OrderCancelRejected(venue=VENUE, client_order_id=self.client_order_id_of(item.order_id),
                                                   reason=f"{e.code}: {e.message}", ts_recv=now()))
        return out

    async def cancel_all(self) -> list[Event]:
        orders = await self.open_orders()
        return await self.cancel_many([o.venue_order_id for o in orders])

    async def orders(self, status: str | None = None, ticker: str | None = None, max_pages: int = 1000) -> list[OrderWire]:
        params: dict[str, Any] = {"limit": 200}
        if status:
            params["status"] = status
        if ticker:
            params["ticker"] = ticker
        return await self._pages(C.PATH_ORDERS, OrdersPage, "orders", params, max_pages)

    async def open_orders(self) -> list[OrderState]:
        wires = await self.orders(status="resting")
        for w in wires:
            self._remember(w.client_order_id or "", w.order_id)
        return [sane.order_state(order_state(w)) for w in wires]

    async def get_order(self, order_id: str) -> OrderWire | None:
        resp = await self._request("GET", C.PATH_ORDER.format(order_id=order_id))
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise KalshiApiError(resp.status, error_of(resp.body), "GET", C.PATH_ORDER)
        return msgspec.json.decode(resp.body, type=OrderEnvelope).order

    async def _lookup_wire(self, client_order_id: str, *, sure: bool = False) -> OrderWire | None:
        """Find an order by client order id: the cache, else the venue's order list (newest first).
        Kalshi has no lookup by client order id, so recovery scans up to ``order_lookup_pages``.
        With ``sure``, a scan that stopped at the page limit (more pages left) raises
        :class:`OrderStateUnknown` instead of answering None: unseen is not absent."""
        oid = self._coid_to_oid.get(client_order_id)
        if oid:
            return await self.get_order(oid)
        cursor = ""
        for _ in range(self.config.order_lookup_pages):
            params: dict[str, Any] = {"limit": 200}
            if cursor:
                params["cursor"] = cursor
            page = await self._get(C.PATH_ORDERS, OrdersPage, params)
            for w in page.orders:
                self._remember(w.client_order_id or "", w.order_id)
                if w.client_order_id == client_order_id:
                    return w
            cursor = page.cursor or ""
            if not cursor:
                break
        else:
            if sure and cursor:
                raise OrderStateUnknown(VENUE.value, client_order_id,
                                        f"not in the newest {self.config.order_lookup_pages} pages of orders")
        return None

    async def order_state(self, client_order_id: str, venue_order_id: str = "") -> OrderState | None:
        """The venue's view of one order; None only when the venue says it has no such order
        (404, or absent from a complete scan of the order list). A failed or refused lookup
        raises :class:`OrderStateUnknown`: the order may exist, never resend it."""
        try:
            if venue_order_id:
                wire = await self.get_order(venue_order_id)
            else:
                wire = await self._lookup_wire(client_order_id, sure=True)
        except OrderStateUnknown:
            raise
        except (KalshiApiError, KalshiTransportError, KalshiAuthError, ClockSkewError,
                msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise OrderStateUnknown(VENUE.value, venue_order_id or client_order_id, str(exc)) from exc
        if wire is None:
            return None
        asked = venue_order_id or self._coid_to_oid.get(client_order_id, "")
        if (asked and wire.order_id != asked) or (not asked and wire.client_order_id != client_order_id):
            raise OrderStateUnknown(VENUE.value, asked or client_order_id, f"answer is about order {wire.order_id!r}")
        try:
            st = sane.order_state(order_state(wire))
        except (ValueError, ArithmeticError) as exc:  # junk numbers: the venue's answer says nothing usable
            raise OrderStateUnknown(VENUE.value, asked or client_order_id, f"unusable order: {exc!r}") from exc
        self._remember(wire.client_order_id or client_order_id, wire.order_id)
        return st

    # --- fills, balance, positions ----------------------------------------------------------

    async def fills(self, min_ts_s: int | None = None, ticker: str | None = None,
                    order_id: str | None = None) -> list[ParsedFill]:
        """Our fills (oldest first), from GET /portfolio/fills."""
        params: dict[str, Any] = {"limit": 200}
        if min_ts_s is not None:
            params["min_ts"] = min_ts_s
        if ticker:
            params["ticker"] = ticker
        if order_id:
            params["order_id"] = order_id
        wires = await self._pages(C.PATH_FILLS, FillsPage, "fills", params)
        out = [w.parsed() for w in wires]
        out.sort(key=lambda f: (f.ts_ns, f.trade_id))
        return out

    async def resolve_client_order_id(self, fill: ParsedFill) -> str:
        coid = fill.client_order_id or self._oid_to_coid.get(fill.order_id, "")
        if coid:
            return coid
        try:
            wire = await self.get_order(fill.order_id)
        except (KalshiApiError, KalshiTransportError, ValueError):  # ValueError: an unreadable answer (msgspec)
            return ""
        if wire is not None and wire.client_order_id:
            self._remember(wire.client_order_id, wire.order_id)
            return wire.client_order_id
        return ""

    async def fills_since(self, ts_ns: int) -> list[Event]:
        # min_ts has 1 s resolution: ask from the second that contains ts_ns (callers dedupe).
        fills = await self.fills(min_ts_s=ts_ns // 1_000_000_000)
        now = self.clock.now_ns()
        return [f.to_event(await self.resolve_client_order_id(f), ts_recv=now) for f in fills]

    async def balances(self) -> list[Balance]:
        b = await self._get(C.PATH_BALANCE, BalanceWire)
        cash = sane.amount(b.amount(), "USD balance")
        return [Balance(currency="USD", total=cash, available=cash)]

    async def positions(self) -> list[Position]:
        rows = await self._pages(C.PATH_POSITIONS, PositionsPage, "market_positions",
                                 {"limit": 200, "count_filter": "position"})
        out = []
        for r in rows:
            lots = r.position_lots()
            if lots == 0:
                continue
            qty = lots_to_count(abs(lots))
            exposure = r.exposure()
            avg = (exposure / qty).quantize(C.PRICE_UNIT) if exposure is not None and qty else None
            out.append(Position(venue=VENUE, instrument_id=f"{_PREFIX}{r.ticker}:{'yes' if lots > 0 else 'no'}",
                                quantity=qty, avg_price=avg))
        return out
