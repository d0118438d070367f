"""Kalshi order gateway: signed REST (RSA-PSS or Ed25519) over a keep-alive pool, V2 order entry.

Sources for every venue behaviour relied on here: docs/venues/kalshi.md (checked 2026-12-04).

- Every ``/portfolio`` request is signed (:mod:`.auth`); the path signed is the full URL path
  without the query string.
- Orders go to the V2 routes only (``POST /portfolio/events/orders``, ``DELETE
  /portfolio/events/orders/{id}``, ``POST|DELETE /portfolio/events/orders/batched``); the legacy
  mutations answer 410 ``deprecated_v1_order_endpoint``. The V2 body is on the YES book: instrument
  ``kalshi:T:yes`` BUY = ``bid`` at p, SELL = ``ask`` at p; ``kalshi:T:no`` BUY = ``ask`` at 1 - p,
  SELL = ``bid`` at 1 - p; ``count``/``price`` are fixed-point strings; ``time_in_force`` and
  ``self_trade_prevention_type`` are required. Kalshi retired market orders: a MARKET request is
  sent as a limit order at its worst acceptable price with IOC (or FOK). GTD becomes
  ``expiration_time``. The answer is flat (order_id, fill_count, remaining_count, ts_ms, ...).
- Because a V2 body cannot tell a purchase of NO from a sale of YES (both ``ask``; the venue
  reports both as ``outcome_side=no``), the gateway remembers each order's intent with its body
  (:meth:`KalshiGateway.prepare` / :meth:`KalshiGateway.restore`) and books fills and order states
  under it.
- Money safety (issue 11 item 3): an order-creating request is never re-sent blindly. After an
  ambiguous failure (no answer, 5xx, unreadable answer) the order is looked up by client order id;
  it is re-sent only when the venue says it has no such order, and when that cannot be told the
  submit answers ``OrderRejected(retryable=True, code="AMBIGUOUS")``.
- Prices are checked against the market's price grid (YES book; the NO grid is its mirror) and
  counts against the 0.01-contract granularity before anything is sent (metadata is cached).
  A market whose fee rule we cannot compute (series/event ``fee_type`` ``flat`` or unknown) is not
  tradeable: :meth:`MarketMeta.instruments` raises, and orders are refused.
- Two token buckets (reads, writes) limit the request rate; a 429 blocks the bucket for
  Retry-After and the request is retried (a 429 was not processed). Reads and cancels are
  retried on transport errors and 5xx; creates are not (see above).
- Clock skew: the ``Date`` header of every response is compared with the local clock; a 401 for a
  stale timestamp (or any 401 while the measured skew is beyond tolerance) is a
  :class:`ClockSkewError` naming the skew. ``submit`` turns it into an ``OrderRejected`` with
  code ``clock_skew`` (the contract forbids escaping exceptions); reads raise it.
- Market metadata (price ranges, fee type and multiplier from the series or the event's override,
  status, close time, rules text, title, event and series tickers) is fetched from ``/markets``,
  ``/events`` and ``/series`` and cached.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import re
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
from arbkit.core.fees import FeeSpec
from arbkit.core.instruments import Instrument
from arbkit.core.orders import Balance, OrderRequest, OrderState, Position, SubmitResult
from arbkit.venues.kalshi import constants as C
from arbkit.venues.kalshi import fees as kfees
from arbkit.venues.kalshi.auth import ClockSkewError, KalshiAuthError, KalshiSigner
from arbkit.venues.kalshi.parse import (
    OUTCOME_OF_BOOK,
    BalanceWire,
    BatchCancelV2Envelope,
    BatchCreateV2Envelope,
    BatchCreateV2Item,
    CancelOrderV2Response,
    CreateOrderV2Response,
    ErrorBody,
    count_lots,
    legacy_outcome,
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
    fee_type: str = "quadratic"
    fee_multiplier: Decimal = Decimal(1)
    fee_source: str = "series"  # "series", or "event" when the event overrides the series' fees
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
            raise ValueError(f"{self.ticker}: unknown price level structure {self.price_level_structure!r} and no "
                             f"price_ranges in the market response") from None

    @property
    def finest_tick(self) -> Decimal:
        return min(r.step for r in self.ranges)

    @property
    def size_increment(self) -> Decimal:
        return C.COUNT_UNIT  # every market takes fractional counts (0.01 contract)

    @property
    def fee_problem(self) -> str:
        """Why this market's fees cannot be computed ("" when they can)."""
        try:
            kfees.fee_spec(self.fee_type, self.fee_multiplier)
        except kfees.KalshiFeeUnknown as exc:
            return f"{exc} ({self.fee_source} fee of {self.ticker})"
        return ""

    def price_problem(self, yes_price: Decimal, own: tuple[str, Decimal] | None = None) -> str | None:
        """Why ``yes_price`` (a YES-book price) is not a valid order price, or None. ``own`` names
        the order's own (contract, price) for the message when it was a NO price mirrored."""
        what = f"price {own[1]} on {own[0].upper()} (YES-book price {yes_price})" if own and own[0] == "no" else \
            f"price {yes_price}"
        if not 0 < yes_price < 1:
            return f"{what} outside (0, 1)"
        try:
            ranges = self.ranges
        except ValueError as exc:
            return str(exc)
        for r in ranges:
            if r.start <= yes_price <= r.end and (yes_price - r.start) % r.step == 0:
                return None
        return (f"{what} is not on {self.ticker}'s {self.price_level_structure} grid "
                f"({', '.join(f'{r.start}-{r.end} step {r.step}' for r in ranges)}; the NO grid is its mirror)")

    @staticmethod
    def count_unit_problem(count: Decimal) -> str | None:
        if count <= 0:
            return "count must be positive"
        if count % C.COUNT_UNIT:
            return f"count {count} has more than 2 decimals (Kalshi's granularity is 0.01 contract)"
        return None

    def count_problem(self, count: Decimal) -> str | None:
        return self.count_unit_problem(count)

    def fee_spec(self) -> FeeSpec:
        """The market's fee rule; raises :class:`KalshiFeeUnknown` when it cannot be computed
        (never a silent zero fee)."""
        try:
            return kfees.fee_spec(self.fee_type, self.fee_multiplier)
        except kfees.KalshiFeeUnknown as exc:
            raise kfees.KalshiFeeUnknown(f"{self.ticker} is not tradeable: {exc} ({self.fee_source} fee)") from None

    def instruments(self) -> tuple[Instrument, Instrument]:
        """(YES, NO) core instruments of this market. Raises KalshiFeeUnknown for a market whose
        fee rule we cannot compute, ValueError for an unreadable price grid."""
        fee = self.fee_spec()
        tick = self.finest_tick
        out = []
        for side, other in (("yes", "no"), ("no", "yes")):
            sub = self.yes_sub_title if side == "yes" else self.no_sub_title
            out.append(Instrument(
                venue=VENUE, symbol=f"{self.ticker}:{side}", kind=InstrumentKind.OUTCOME,
                tick_size=tick, size_increment=self.size_increment, min_size=self.size_increment,
                quote="USD", outcome=side.upper(), market_id=self.ticker, event_id=self.event_ticker,
                complement=f"{self.ticker}:{other}", fee=fee,
                title=self.title + (f" - {sub}" if sub else "")))
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
    # After an ambiguous create (no answer, 5xx, unreadable answer): wait this long, then look the
    # order up by client order id; resend only when the venue says it has no such order.
    ambiguous_settle_s: float = 0.5
    # > 0: the lookup lists only orders created since (first send - this many seconds). Off by
    # default: it trusts the venue's clock against ours, and a wrong clock would make a placed order
    # look absent (a resend). The full scan is bounded by order_lookup_pages and says "unknown"
    # (never "absent") when it stops early.
    lookup_window_s: int = 0


@dataclass
class _Resp:
    status: int
    body: bytes
    headers: Any = field(default_factory=CIMultiDict)


_COID_RE = re.compile(r"^[\-\w:+=/]{1,64}$")  # docs.kalshi.com FIX order entry: ClOrderID validation


def _tif_of(request: OrderRequest) -> tuple[str, int | None]:
    """(Kalshi time_in_force, expiration_time seconds or None)."""
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


def book_side_of(side: str, action: str) -> str:
    """V2 ``side`` on the YES book: buy YES = bid, sell YES = ask, buy NO = ask, sell NO = bid."""
    return C.BOOK_BID if legacy_outcome(side, action) == "yes" else C.BOOK_ASK


def yes_book_price(side: str, price: Decimal) -> Decimal:
    """The YES-book price of an order priced in its own contract's terms (NO at p = YES at 1 - p)."""
    return price if side == "yes" else Decimal(1) - price


def order_body(request: OrderRequest, meta: MarketMeta | None = None) -> dict[str, Any]:
    """The JSON body of ``POST /portfolio/events/orders`` (CreateOrderV2Request) for ``request``.

    Everything is quoted on the YES book: buying NO at ``p`` is an ``ask`` at ``1 - p``, selling NO
    a ``bid`` at ``1 - p``. The YES price must lie on the market's price grid (``price_ranges``); the
    NO grid is its mirror image, so a NO price is valid exactly when ``1 - p`` is. Nothing is
    rounded: a price off the grid is refused (ValueError names what is wrong), because rounding a
    limit either way changes what the strategy decided. Counts have 0.01-contract granularity.
    """
    ticker, side = split_symbol(request)
    coid = request.client_order_id
    if not coid or len(coid) > C.CLIENT_ORDER_ID_MAX or not _COID_RE.match(coid):
        raise ValueError(f"client_order_id must be 1-{C.CLIENT_ORDER_ID_MAX} characters of letters, digits and "
                         f"- _ : + = /, got {coid!r}")
    price, qty = request.price, request.quantity
    action = "buy" if request.side is Side.BUY else "sell"
    if not 0 < price < 1:
        raise ValueError(f"price {price} outside (0, 1)")
    yes_price = yes_book_price(side, price)
    if meta is not None:
        if meta.fee_problem:
            raise ValueError(f"{ticker} is not tradeable: {meta.fee_problem}")
        problem = meta.price_problem(yes_price, own=(side, price)) or meta.count_problem(qty)
        if problem:
            raise ValueError(problem)
    else:
        problem = MarketMeta.count_unit_problem(qty)
        if problem:
            raise ValueError(problem)
    try:
        price_text, count_text = fmt_price(yes_price), fmt_count(qty)
    except ValueError as exc:
        raise ValueError(f"price {price} / count {qty} not representable on the wire: {exc}") from None
    if request.post_only and request.time_in_force not in (TimeInForce.GTC, TimeInForce.GTD):
        raise ValueError("post_only needs GTC or GTD")
    if request.buy_max_cost is not None:
        raise ValueError("buy_max_cost does not exist on Kalshi's V2 order entry (CreateOrderV2Request): "
                         "bound the cost with price and count")
    tif, expiration = _tif_of(request)
    if request.reduce_only and tif != C.TIME_IN_FORCE["IOC"]:
        raise ValueError("reduce_only orders are refused by Kalshi unless time_in_force is immediate_or_cancel")
    body: dict[str, Any] = {
        "ticker": ticker,
        "client_order_id": coid,
        "side": book_side_of(side, action),
        "count": count_text,
        "price": price_text,
        "time_in_force": tif,
        "self_trade_prevention_type": C.SELF_TRADE_PREVENTION,
    }
    if expiration is not None:
        body["expiration_time"] = expiration
    if request.post_only:
        body["post_only"] = True
    if request.reduce_only:
        body["reduce_only"] = True
    return body


class Prepared(msgspec.Struct, frozen=True, kw_only=True):
    """One order as it will be (or was) sent: the exact V2 body and our intent (which contract,
    buy or sell), since the V2 body alone cannot tell a buy of NO from a sale of YES."""

    body: dict[str, Any]
    side: str  # yes | no: the contract we trade
    action: str  # buy | sell

    @property
    def client_order_id(self) -> str:
        return self.body["client_order_id"]

    @property
    def ticker(self) -> str:
        return self.body["ticker"]

    def text(self) -> str:
        """What :meth:`KalshiGateway.prepare` returns (and the engine journals): canonical JSON of
        ``{"body": <the exact V2 request body>, "side": ..., "action": ...}``."""
        return json.dumps({"body": self.body, "side": self.side, "action": self.action},
                          sort_keys=True, separators=(",", ":"))

    def wire(self) -> bytes:
        """The request body bytes (identical for every send of this order)."""
        return json.dumps(self.body, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_text(cls, text: str) -> "Prepared":
        try:
            obj = json.loads(text)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"prepared Kalshi order is not JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise ValueError("prepared Kalshi order must be a JSON object")
        if "body" in obj:
            body, side, action = obj["body"], obj.get("side"), obj.get("action")
        else:  # a bare V2 body: read it as a buy of the outcome it positions for
            body, side, action = obj, None, None
        if not isinstance(body, dict):
            raise ValueError("prepared Kalshi order: body must be a JSON object")
        for key in ("ticker", "client_order_id", "side", "count", "price", "time_in_force"):
            if not isinstance(body.get(key), str) or not body[key]:
                raise ValueError(f"prepared Kalshi order: body.{key} missing")
        outcome = OUTCOME_OF_BOOK.get(body["side"])
        if outcome is None:
            raise ValueError(f"prepared Kalshi order: side must be bid/ask, got {body['side']!r}")
        if side is None and action is None:
            side, action = outcome, "buy"
        if side not in ("yes", "no") or action not in ("buy", "sell") or legacy_outcome(side, action) != outcome:
            raise ValueError(f"prepared Kalshi order: {action} {side} does not match book side {body['side']!r}")
        return cls(body=body, side=side, action=action)


def _same_order(prep: Prepared, wire: OrderWire) -> bool | None:
    """Whether the venue's order is the one ``prep`` asked for (ticker, direction, price, count);
    None when the record cannot be read (junk numbers or direction): that says nothing either way,
    so it must not be taken for another order using our id."""
    try:
        initial, _, _ = wire.counts()
        yes = wire.yes_units()
        outcome = wire.outcome()
    except ValueError:
        return None
    if not wire.order_id or "\ufffd" in wire.order_id:  # bytes that were not UTF-8: not a usable order id
        return None
    return (wire.ticker == prep.ticker and outcome == OUTCOME_OF_BOOK[prep.body["side"]]
            and fmt_price(units_to_price(yes)) == fmt_price(Decimal(prep.body["price"]))
            and fmt_count(lots_to_count(initial)) == fmt_count(Decimal(prep.body["count"])))


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
        self._prepared: dict[str, Prepared] = {}  # client order id -> the order as prepared (and sent)
        self._maybe_sent: set[str] = set()  # client order ids a create went out for (or restored ones)
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
                       body: Any = None, auth: bool = True, write: bool = False, retry: bool = True,
                       raw: bytes | None = None, creates: bool = False) -> _Resp:
        """Send one request (signed when ``auth``), with rate limiting and retries.

        ``creates``: the request creates an order, so it is never re-sent after it may have been
        processed (see venues.common.http); ``raw`` sends those exact bytes as the body.
        Returns the final response (any status); raises KalshiTransportError when none came,
        ClockSkewError / KalshiAuthError on a 401.
        """
        if self._session is None:
            await self.start()
        assert self._session is not None
        path = self._base_path + rel
        url = self.config.rest_url.rstrip("/") + rel
        data = raw if raw is not None else (msgspec.json.encode(body) if body is not None else None)

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
                label=f"Kalshi {method} {rel}", retry_unanswered=not creates)
        except TransportFailure as exc:
            raise KalshiTransportError(
                f"Kalshi {method} {rel}: no response after {exc.attempts} attempt(s) ({exc.last_exc!r})") from exc
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
        e = ev.event
        fee_type, fee_multiplier, fee_source = s.fee_type, s.fee_multiplier, "series"
        if e.fee_type_override is not None or e.fee_multiplier_override is not None:
            # Event-level override (EventData.fee_type_override / fee_multiplier_override): it takes
            # precedence over the series for this event's markets.
            fee_type = e.fee_type_override if e.fee_type_override is not None else fee_type
            fee_multiplier = e.fee_multiplier_override if e.fee_multiplier_override is not None else fee_multiplier
            fee_source = "event"
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
            fee_type=fee_type, fee_multiplier=fee_multiplier, fee_source=fee_source, series_title=s.title, category=s.category,
            settlement_sources=tuple(x.name for x in (s.settlement_sources or ())), event_title=ev.event.title,
            mutually_exclusive=ev.event.mutually_exclusive)
        self._meta[ticker] = (time.monotonic(), meta)
        return meta

    def on_event_fee_update(self, event_ticker: str, fee_type: str | None, fee_multiplier: Decimal | None) -> int:
        """An ``event_fee_update`` (market_lifecycle_v2): the event's fee override was set or cleared.
        Cached markets of the event take it at once (so an unmodelled fee type stops orders now, not
        after the metadata TTL); the cached event is dropped so the next read takes the venue's view.
        Returns how many cached markets changed."""
        self._events.pop(event_ticker, None)
        changed = 0
        for ticker, (t, meta) in list(self._meta.items()):
            if meta.event_ticker != event_ticker:
                continue
            if fee_type is None and fee_multiplier is None:  # cleared: back to the series, when we have it
                hit = self._series.get(meta.series_ticker)
                if hit is None:
                    del self._meta[ticker]
                    changed += 1
                    continue
                s = hit[1].series
                new = msgspec.structs.replace(meta, fee_type=s.fee_type, fee_multiplier=s.fee_multiplier,
                                              fee_source="series")
            else:
                new = msgspec.structs.replace(meta, fee_type=fee_type if fee_type is not None else meta.fee_type,
                                              fee_multiplier=fee_multiplier if fee_multiplier is not None
                                              else meta.fee_multiplier, fee_source="event")
            self._meta[ticker] = (t, new)
            changed += 1
            if new.fee_problem:
                log.error("Kalshi %s: %s; orders for it are refused", ticker, new.fee_problem)
        return changed

    def forget_market(self, ticker: str) -> None:
        """Drop cached metadata of one market (its price grid or metadata changed)."""
        self._meta.pop(ticker, None)

    async def instruments(self, ticker: str) -> tuple[Instrument, Instrument]:
        return (await self.market(ticker)).instruments()

    async def orderbook(self, ticker: str) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """REST book: (YES bids, NO bids) as Decimal (price, count), best first."""
        env = await self._get(C.PATH_ORDERBOOK.format(ticker=ticker), OrderbookEnvelope, auth=False)
        yes, no = env.levels()
        conv = lambda lv: sorted(((units_to_price(p), lots_to_count(q)) for p, q in lv if q), reverse=True)  # noqa: E731
        return conv(yes), conv(no)

    # --- orders ---------------------------------------------------------------------------

    def _remember(self, coid: str, oid: str) -> None:
        if coid and oid and "\ufffd" not in coid and "\ufffd" not in oid:  # never a garbled (non-UTF-8) id
            self._coid_to_oid[coid] = oid
            self._oid_to_coid[oid] = coid

    def client_order_id_of(self, order_id: str) -> str:
        return self._oid_to_coid.get(order_id, "")

    def order_size(self, client_order_id: str) -> Decimal | None:
        """The count this gateway sent (or prepared) for ``client_order_id`` (None when it did not)."""
        prep = self._prepared.get(client_order_id)
        return Decimal(prep.body["count"]) if prep is not None else None

    def intent_of(self, client_order_id: str = "", order_id: str = "") -> tuple[str, str] | None:
        """(contract, buy|sell) of one of our orders, when we prepared it (or restored it)."""
        coid = client_order_id or self._oid_to_coid.get(order_id, "")
        prep = self._prepared.get(coid) if coid else None
        return (prep.side, prep.action) if prep is not None else None

    def fill_with_intent(self, fill: ParsedFill, client_order_id: str = "") -> ParsedFill:
        """``fill`` booked on the contract and direction of the order we sent (a sale of YES and a
        purchase of NO are both ``outcome_side=no`` at the venue). Fills of orders we do not know
        keep the parser's default (the deprecated fields when sent, else a BUY of the outcome)."""
        intent = self.intent_of(client_order_id or fill.client_order_id, fill.order_id)
        if intent is None:
            return fill
        return fill.with_intent(*intent)

    def _state_of(self, wire: OrderWire, client_order_id: str = "") -> OrderState:
        return order_state(wire, self.intent_of(wire.client_order_id or client_order_id, wire.order_id))

    # --- idempotency interface (the engine journals what prepare returns before submit) ----

    async def prepare(self, request: OrderRequest) -> str:
        """Build the exact V2 body for ``request``, remember it under its client order id and
        return it as JSON text (see :meth:`Prepared.text`). Idempotent per client order id: the
        same request gives the same text; a different request under a used id is a ValueError, as
        is any request that cannot be sent (the message names the problem)."""
        ticker, side = split_symbol(request)
        body = order_body(request, await self._meta_for(ticker))
        prep = Prepared(body=body, side=side, action="buy" if request.side is Side.BUY else "sell")
        old = self._prepared.get(request.client_order_id)
        if old is not None:
            if old != prep:
                raise ValueError(f"client_order_id {request.client_order_id} was prepared for a different order "
                                 f"({old.action} {old.side} {old.body['count']} @ YES {old.body['price']})")
            return old.text()
        self._prepared[request.client_order_id] = prep
        return prep.text()

    def restore(self, client_order_id: str, prepared: str) -> None:
        """After a restart: remember an order prepared earlier (the text :meth:`prepare` returned,
        or a bare V2 body) so submit / order_state / cancel for that id use the identical order."""
        prep = Prepared.from_text(prepared)
        if prep.client_order_id != client_order_id:
            raise ValueError(f"prepared order is for client_order_id {prep.client_order_id!r}, "
                             f"not {client_order_id!r}")
        self._prepared[client_order_id] = prep
        self._maybe_sent.add(client_order_id)  # it may have gone out before the restart: look before sending

    # --- submit -----------------------------------------------------------------------------

    def _reject(self, request: OrderRequest, reason: str, code: str = "", retryable: bool = False) -> SubmitResult:
        ev = OrderRejected(venue=VENUE, client_order_id=request.client_order_id, reason=reason, code=code,
                           retryable=retryable, correlation_id=request.correlation_id, ts_recv=self.clock.now_ns())
        return SubmitResult(client_order_id=request.client_order_id, events=[ev])

    def _ambiguous(self, request: OrderRequest, why: str) -> SubmitResult:
        """The order may or may not be at the venue: never 'not filled'; ask the venue / hold."""
        return self._reject(request, f"order state unknown: {why}; do not resend, look it up by client order id",
                            code="AMBIGUOUS", retryable=True)

    def _accepted(self, request: OrderRequest, wire: OrderWire, latency_ns: int) -> SubmitResult:
        """Accepted, from the venue's full order record (a lookup after an ambiguous send, a resend)."""
        self._remember(request.client_order_id, wire.order_id)
        now = self.clock.now_ns()
        try:
            ts_venue = parse_time_ns(wire.created_time)
        except ValueError:  # an unreadable timestamp: the order is still ours and accepted
            ts_venue = 0
        events: list[Event] = [OrderAccepted(venue=VENUE, client_order_id=request.client_order_id,
                                             venue_order_id=wire.order_id, correlation_id=request.correlation_id,
                                             ts_venue=ts_venue, ts_recv=now)]
        _, filled, _ = wire.counts()
        if wire.status == "canceled":  # IOC remainder (or FOK that did not fill)
            events.append(OrderCanceled(venue=VENUE, client_order_id=request.client_order_id,
                                        venue_order_id=wire.order_id, filled_quantity=lots_to_count(filled),
                                        reason="unfilled remainder canceled (immediate_or_cancel)",
                                        correlation_id=request.correlation_id, ts_recv=now))
        return SubmitResult(client_order_id=request.client_order_id, events=events, venue_order_id=wire.order_id,
                            accepted=True, latency_ns=latency_ns)

    def _accepted_v2(self, request: OrderRequest, prep: Prepared, order_id: str, filled_lots: int,
                     remaining_lots: int, ts_ms: int | None, latency_ns: int) -> SubmitResult:
        """Accepted, from the flat V2 create answer. An IOC/FOK order is finished when the answer
        comes: whatever did not fill was canceled (remaining_count may still show it). Raises
        ValueError (before anything is remembered) when the answer cannot describe our order."""
        total = count_lots(prep.body["count"])
        immediate = prep.body["time_in_force"] in (C.TIME_IN_FORCE["IOC"], C.TIME_IN_FORCE["FOK"])
        if filled_lots > total:
            raise ValueError(f"venue reports {filled_lots} lots filled of {total}")
        self._remember(request.client_order_id, order_id)
        now = self.clock.now_ns()
        events: list[Event] = [OrderAccepted(venue=VENUE, client_order_id=request.client_order_id,
                                             venue_order_id=order_id, correlation_id=request.correlation_id,
                                             ts_venue=(ts_ms or 0) * 1_000_000, ts_recv=now)]
        if immediate and filled_lots < total:
            events.append(OrderCanceled(venue=VENUE, client_order_id=request.client_order_id, venue_order_id=order_id,
                                        filled_quantity=lots_to_count(filled_lots),
                                        reason=f"unfilled remainder canceled ({prep.body['time_in_force']})",
                                        correlation_id=request.correlation_id, ts_recv=now))
        return SubmitResult(client_order_id=request.client_order_id, events=events, venue_order_id=order_id,
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
        """Send one order (V2). At most one order ever exists at the venue per client order id:
        a create that may have been processed is never re-sent blindly; after an ambiguous failure
        the order is looked up by client order id and only re-sent when the venue says it has no
        such order. When that cannot be told, the answer is ``OrderRejected(retryable=True,
        code="AMBIGUOUS")``: unknown, not 'not filled'."""
        try:
            await self.prepare(request)
        except ValueError as exc:
            return self._reject(request, str(exc), code="invalid_order")
        prep = self._prepared[request.client_order_id]
        known = self._coid_to_oid.get(request.client_order_id)
        if known:
            # A resend of an order the venue already has (a retry after a timeout, a filled IOC sent
            # again): never a second order. Kalshi only refuses a duplicate id while the first is live.
            return await self._resent(request, prep, known)
        return await self._create(request, prep)

    async def _create(self, request: OrderRequest, prep: Prepared) -> SubmitResult:
        coid = request.client_order_id
        t0 = time.perf_counter_ns()
        since_s = self._since_s()
        if coid in self._maybe_sent:
            # Sent before (by this process, or before a restart: restored), with no answer that
            # named the order: the venue may have it (an IOC that already finished no longer blocks
            # the id). Look before sending: found -> that order; absent -> send; unknown -> hold.
            try:
                wire = await self._lookup_wire(coid, sure=True, since_s=since_s)
            except (OrderStateUnknown, KalshiApiError, KalshiTransportError, KalshiAuthError,
                    msgspec.DecodeError, msgspec.ValidationError) as exc:
                return self._ambiguous(request, f"it may have been sent before and the lookup failed ({exc})")
            if wire is not None:
                same = _same_order(prep, wire)
                if same:
                    return self._accepted(request, wire, time.perf_counter_ns() - t0)
                if same is None:
                    return self._ambiguous(request, f"the venue's record of {coid} ({wire.order_id}) is unreadable")
                return self._reject(request, f"client_order_id {coid} is already used by order {wire.order_id}",
                                    code="duplicate_client_order_id")
        self._maybe_sent.add(coid)
        why = ""
        attempts = max(1, self.config.max_attempts)
        for attempt in range(attempts):
            try:
                resp = await self._request("POST", C.PATH_V2_ORDERS, raw=prep.wire(), write=True, creates=True)
            except ClockSkewError as exc:
                return self._reject(request, str(exc), code="clock_skew")
            except KalshiAuthError as exc:
                return self._reject(request, str(exc), code="auth")
            except KalshiTransportError as exc:
                cause = exc.__cause__
                if isinstance(cause, TransportFailure) and isinstance(cause.last_exc, aiohttp.ClientConnectorError):
                    # Every attempt failed to even connect (a create is only retried for that): the
                    # request never left this host, so the venue cannot have it.
                    return self._reject(request, f"not sent: could not connect to the venue ({exc})",
                                        code="unavailable", retryable=True)
                why = f"no answer to the create request ({exc})"
            else:
                latency = time.perf_counter_ns() - t0
                if resp.status in (200, 201):
                    try:
                        r = msgspec.json.decode(resp.body, type=CreateOrderV2Response)
                        if not r.order_id or "\ufffd" in r.order_id or (r.client_order_id and r.client_order_id != coid):
                            # garbled, or about another order: it says nothing about ours -- look it up
                            raise ValueError(f"the answer does not describe the order we sent ({r.order_id!r})")
                        return self._accepted_v2(request, prep, r.order_id, r.filled_lots(), r.remaining_lots(),
                                                 r.ts_ms, latency)
                    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
                        why = f"unreadable create-order answer (HTTP {resp.status}: {exc})"
                elif resp.status >= 500:
                    why = f"HTTP {resp.status} from the create request"
                else:
                    err = error_of(resp.body)
                    if resp.status == 409 and err.code == "order_already_exists":
                        return await self._already_exists(request, prep, latency, since_s)
                    return self._reject(request, f"{err.message or err.code}" + (f": {err.details}" if err.details else ""),
                                        code=err.code or str(resp.status), retryable=resp.status == 429)
            # Ambiguous: the venue may have the order. Ask before anything is sent again.
            log.warning("Kalshi create %s ambiguous (%s): looking it up before any resend", coid, why)
            await asyncio.sleep(self.config.ambiguous_settle_s)
            try:
                wire = await self._lookup_wire(coid, sure=True, since_s=since_s)
            except (OrderStateUnknown, KalshiApiError, KalshiTransportError, KalshiAuthError,
                    msgspec.DecodeError, msgspec.ValidationError) as exc:
                return self._ambiguous(request, f"{why}, and the lookup by client order id failed ({exc})")
            if wire is not None:
                same = _same_order(prep, wire)
                if same:
                    return self._accepted(request, wire, time.perf_counter_ns() - t0)
                if same is None:
                    return self._ambiguous(request, f"{why}, and the venue's record of {coid} ({wire.order_id}) "
                                                    f"is unreadable")
                return self._reject(request, f"client_order_id {coid} is already used by order {wire.order_id}",
                                    code="duplicate_client_order_id")
            if attempt + 1 < attempts:
                log.warning("Kalshi create %s: the venue has no such order; sending it again (%d/%d)",
                            coid, attempt + 2, attempts)
        # Every attempt failed, and after each the venue said it had no such order: not placed.
        return self._reject(request, f"not placed: {why} on each of {attempts} attempt(s); the venue has no order "
                                     f"with client_order_id {coid}", code="unavailable", retryable=True)

    def _since_s(self) -> int | None:
        w = self.config.lookup_window_s
        return max(0, self.clock.now_ns() // 1_000_000_000 - w) if w > 0 else None

    async def _already_exists(self, request: OrderRequest, prep: Prepared, latency: int, since_s: int | None) -> SubmitResult:
        """409 order_already_exists: a retry of an order that did reach the venue (find it and
        report it as accepted) - unless the id is used by a different order (say so, never merge)."""
        coid = request.client_order_id
        try:
            wire = await self._lookup_wire(coid, sure=True, since_s=since_s)
        except (OrderStateUnknown, KalshiApiError, KalshiTransportError, KalshiAuthError,
                msgspec.DecodeError, msgspec.ValidationError) as exc:
            return self._ambiguous(request, f"the venue says {coid} exists but it could not be read ({exc})")
        same = _same_order(prep, wire) if wire is not None else False
        if same:
            return self._accepted(request, wire, latency)
        if same is None:
            return self._ambiguous(request, f"the venue says {coid} exists but its record is unreadable")
        what = f"order {wire.order_id}" if wire is not None else "an order we cannot see"
        return self._reject(request, f"client_order_id {coid} is already used by {what}",
                            code="duplicate_client_order_id")

    async def _resent(self, request: OrderRequest, prep: Prepared, order_id: str) -> SubmitResult:
        """The answer to a second submit of a client order id the venue already has."""
        try:
            wire = await self.get_order(order_id)
        except (KalshiApiError, KalshiTransportError, KalshiAuthError, msgspec.DecodeError,
                msgspec.ValidationError) as exc:
            # we sent exactly this (prepare refused anything else) and the venue took it
            return SubmitResult(client_order_id=request.client_order_id, venue_order_id=order_id, accepted=True,
                                events=[OrderAccepted(venue=VENUE, client_order_id=request.client_order_id,
                                                      venue_order_id=order_id, correlation_id=request.correlation_id,
                                                      ts_recv=self.clock.now_ns())])
        same = _same_order(prep, wire) if wire is not None else False
        if same:
            return self._accepted(request, wire, 0)
        if same is None:
            return self._ambiguous(request, f"the venue's record of order {order_id} is unreadable")
        what = f"order {order_id}" + (f" ({wire.ticker} {wire.book_side})" if wire is not None else "")
        return self._reject(request, f"client_order_id {request.client_order_id} is already used by {what}",
                            code="duplicate_client_order_id")

    async def submit_many(self, requests: list[OrderRequest]) -> list[SubmitResult]:
        """Batched create (V2, up to 20 per request); results in the order of ``requests``. A batch
        that may have been processed is never re-sent: each of its orders is looked up instead."""
        results: dict[int, SubmitResult] = {}
        preps: list[tuple[int, Prepared]] = []
        for i, req in enumerate(requests):
            try:
                await self.prepare(req)
            except ValueError as exc:
                results[i] = self._reject(req, str(exc), code="invalid_order")
                continue
            prep = self._prepared[req.client_order_id]
            known = self._coid_to_oid.get(req.client_order_id)
            if known:
                results[i] = await self._resent(req, prep, known)
            elif req.client_order_id in self._maybe_sent:
                results[i] = await self._create(req, prep)  # looks it up first, sends alone if absent
            else:
                self._maybe_sent.add(req.client_order_id)
                preps.append((i, prep))
        since_s = self._since_s()
        for start in range(0, len(preps), C.MAX_BATCH_ORDERS):
            chunk = preps[start:start + C.MAX_BATCH_ORDERS]
            t0 = time.perf_counter_ns()
            payload = json.dumps({"orders": [p.body for _, p in chunk]}, sort_keys=True,
                                 separators=(",", ":")).encode()
            why = ""
            try:
                resp = await self._request("POST", C.PATH_V2_BATCH_ORDERS, raw=payload, write=True, creates=True)
            except ClockSkewError as exc:
                for i, _ in chunk:
                    results[i] = self._reject(requests[i], str(exc), code="clock_skew")
                continue
            except KalshiAuthError as exc:
                for i, _ in chunk:
                    results[i] = self._reject(requests[i], str(exc), code="auth")
                continue
            except KalshiTransportError as exc:
                why = f"no answer to the batch create ({exc})"
            else:
                latency = time.perf_counter_ns() - t0
                if resp.status in (200, 201):
                    try:
                        env = msgspec.json.decode(resp.body, type=BatchCreateV2Envelope)
                        if len(env.orders) != len(chunk):
                            raise ValueError("batch answer has the wrong number of items")
                    except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
                        why = f"unreadable batch create answer ({exc})"
                    else:
                        for (i, prep), item in zip(chunk, env.orders):
                            results[i] = await self._batch_item(requests[i], prep, item, latency, since_s)
                        continue
                elif resp.status >= 500:
                    why = f"HTTP {resp.status} from the batch create"
                else:
                    err = error_of(resp.body)
                    for i, _ in chunk:
                        results[i] = self._reject(requests[i], err.message or err.code, code=err.code or str(resp.status),
                                                  retryable=resp.status == 429)
                    continue
            # ambiguous batch: each order is looked up, none is re-sent here
            await asyncio.sleep(self.config.ambiguous_settle_s)
            for i, prep in chunk:
                results[i] = await self._resolve_ambiguous(requests[i], prep, why, since_s)
        return [results[i] for i in range(len(requests))]

    async def _batch_item(self, request: OrderRequest, prep: Prepared, item: BatchCreateV2Item, latency: int,
                          since_s: int | None) -> SubmitResult:
        if item.error is None and item.order_id:
            try:
                if "\ufffd" in item.order_id or (item.client_order_id and item.client_order_id != request.client_order_id):
                    raise ValueError(f"the item does not describe the order we sent ({item.order_id!r})")
                return self._accepted_v2(request, prep, item.order_id, count_lots(item.fill_count or "0"),
                                         count_lots(item.remaining_count or "0"), item.ts_ms, latency)
            except ValueError as exc:  # garbled: it says nothing about ours -- look it up
                return await self._resolve_ambiguous(request, prep, f"unreadable item in the batch answer ({exc})",
                                                     since_s)
        if item.error is None:  # neither an order nor an error (garbled): it says nothing -- look it up
            return await self._resolve_ambiguous(request, prep, "a batch answer item with no order and no error",
                                                 since_s)
        e = item.error
        if e.code == "order_already_exists":
            return await self._already_exists(request, prep, latency, since_s)
        return self._reject(request, e.message + (f": {e.details}" if e.details else ""), code=e.code)

    async def _resolve_ambiguous(self, request: OrderRequest, prep: Prepared, why: str, since_s: int | None) -> SubmitResult:
        try:
            wire = await self._lookup_wire(request.client_order_id, sure=True, since_s=since_s)
        except (OrderStateUnknown, KalshiApiError, KalshiTransportError, KalshiAuthError,
                msgspec.DecodeError, msgspec.ValidationError) as exc:
            return self._ambiguous(request, f"{why}, and the lookup by client order id failed ({exc})")
        if wire is None:
            return self._reject(request, f"not placed: {why}; the venue has no order with client_order_id "
                                         f"{request.client_order_id}", code="unavailable", retryable=True)
        same = _same_order(prep, wire)
        if same:
            return self._accepted(request, wire, 0)
        if same is None:
            return self._ambiguous(request, f"{why}, and the venue's record of the order ({wire.order_id}) is unreadable")
        return self._reject(request, f"client_order_id {request.client_order_id} is already used by order "
                                     f"{wire.order_id}", code="duplicate_client_order_id")

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
            resp = await self._request("DELETE", C.PATH_V2_ORDER.format(order_id=oid), write=True)
        except (KalshiAuthError, KalshiTransportError, KalshiApiError, OrderStateUnknown,
                msgspec.DecodeError, msgspec.ValidationError) as exc:
            return [OrderCancelRejected(venue=VENUE, client_order_id=client_order_id, reason=str(exc), ts_recv=now())]
        if resp.status == 200:
            try:
                r = msgspec.json.decode(resp.body, type=CancelOrderV2Response)
                count_lots(r.reduced_by)
            except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
                return [OrderCancelRejected(venue=VENUE, client_order_id=client_order_id,
                                            reason=f"unreadable cancel response (state unknown, look it up): {exc}",
                                            ts_recv=now())]
            known = client_order_id or self.client_order_id_of(oid)
            if r.order_id != oid or (r.client_order_id and known and r.client_order_id != known):
                return [OrderCancelRejected(venue=VENUE, client_order_id=client_order_id,
                                            reason=f"cancel answer is about order {r.order_id!r} "
                                                   f"({r.client_order_id!r}), not {oid} (state unknown, look it up)",
                                            ts_recv=now())]
            coid = known or r.client_order_id or ""
            self._remember(coid, oid)
            return [OrderCanceled(venue=VENUE, client_order_id=coid, venue_order_id=oid,
                                  filled_quantity=await self._filled_after_cancel(oid, coid), reason="canceled",
                                  ts_venue=r.ts_ms * 1_000_000, ts_recv=now())]
        err = error_of(resp.body)
        return [OrderCancelRejected(venue=VENUE, client_order_id=client_order_id,
                                    reason=f"{err.code}: {err.message}" + (f" ({err.details})" if err.details else ""),
                                    ts_recv=now())]

    async def _filled_after_cancel(self, order_id: str, coid: str) -> Decimal | None:
        """The V2 cancel answer says how much was canceled (reduced_by), not how much filled: read
        the order back for its fill count (None when it cannot be read: unknown, not zero)."""
        try:
            wire = await self.get_order(order_id)
        except (KalshiApiError, KalshiTransportError, KalshiAuthError, msgspec.DecodeError,
                msgspec.ValidationError) as exc:
            log.warning("Kalshi: filled quantity of canceled order %s (%s) unknown: %r", order_id, coid, exc)
            return None
        if wire is None or wire.order_id != order_id:  # an answer about another order says nothing
            return None
        try:
            _, filled, _ = wire.counts()
        except ValueError as exc:
            log.warning("Kalshi: filled quantity of canceled order %s (%s) unreadable: %r", order_id, coid, exc)
            return None
        return lots_to_count(filled)

    async def cancel_many(self, order_ids: list[str]) -> list[Event]:
        """Batched cancel (V2, up to 20 per request) by venue order id."""
        out: list[Event] = []
        now = self.clock.now_ns
        for start in range(0, len(order_ids), C.MAX_BATCH_ORDERS):
            chunk = order_ids[start:start + C.MAX_BATCH_ORDERS]
            try:
                resp = await self._request("DELETE", C.PATH_V2_BATCH_ORDERS,
                                           body={"orders": [{"order_id": o} for o in chunk]}, write=True)
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
                env = msgspec.json.decode(resp.body, type=BatchCancelV2Envelope)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                out.extend(OrderCancelRejected(venue=VENUE, client_order_id=self.client_order_id_of(o),
                                               reason=f"unreadable batch cancel response: {exc}", ts_recv=now())
                           for o in chunk)
                continue
            asked = set(chunk)
            for item in env.orders:
                if item.order_id not in asked:  # garbled, or about an order we did not ask about
                    log.warning("Kalshi batch cancel answer names order %r, which was not asked about", item.order_id)
                    continue
                known = self.client_order_id_of(item.order_id)
                if item.client_order_id and known and item.client_order_id != known:
                    out.append(OrderCancelRejected(venue=VENUE, client_order_id=known, ts_recv=now(),
                                                   reason=f"batch cancel item names client order id "
                                                          f"{item.client_order_id!r} (state unknown, look it up)"))
                    continue
                coid = known or item.client_order_id or ""
                if item.error is None:
                    self._remember(coid, item.order_id)
                    out.append(OrderCanceled(venue=VENUE, client_order_id=coid, venue_order_id=item.order_id,
                                             filled_quantity=await self._filled_after_cancel(item.order_id, coid),
                                             reason="canceled", ts_recv=now()))
                else:
                    e = item.error
                    out.append(OrderCancelRejected(venue=VENUE, client_order_id=coid,
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
        return [sane.order_state(self._state_of(w)) for w in wires]

    async def get_order(self, order_id: str) -> OrderWire | None:
        resp = await self._request("GET", C.PATH_ORDER.format(order_id=order_id))
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise KalshiApiError(resp.status, error_of(resp.body), "GET", C.PATH_ORDER)
        return msgspec.json.decode(resp.body, type=OrderEnvelope).order

    async def _lookup_wire(self, client_order_id: str, *, sure: bool = False, since_s: int | None = None) -> OrderWire | None:
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
            if since_s is not None:
                params["min_ts"] = since_s  # orders created since: a short, complete scan
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
        self._remember(wire.client_order_id or client_order_id, wire.order_id)
        try:
            return sane.order_state(self._state_of(wire, client_order_id))
        except (ValueError, ArithmeticError) as exc:  # junk numbers: the venue's answer says nothing usable
            raise OrderStateUnknown(VENUE.value, asked or client_order_id, f"unusable order record: {exc!r}") from exc

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
        out = [self.fill_with_intent(w.parsed()) for w in wires]
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
        out = []
        for f in fills:
            coid = await self.resolve_client_order_id(f)
            out.append(self.fill_with_intent(f, coid).to_event(coid, ts_recv=now))
        return out

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
