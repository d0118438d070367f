"""KuCoin spot HF order gateway: HMAC-signed REST over a keep-alive pool.

- Orders go to ``POST /api/v1/hf/orders/sync`` (the answer carries status and dealSize, so an IOC
  is known finished when it returns); ``/api/v1/hf/orders/test`` validates without placing.
- A create is NEVER re-sent blindly: after an ambiguous failure (no answer, 5xx, unreadable) the
  order is looked up by clientOid and sent again only when KuCoin says it has no such order; when
  the lookup itself fails the answer is ``OrderRejected(retryable=True, code="AMBIGUOUS")``.
  A request that never connected (connection refused) cannot have reached the venue.
- 429 (body code 429000) waits ``gw-ratelimit-reset`` ms (or Retry-After when present) and is retried:
  the gateway refused it before processing.
- ``order_state`` returns None only when KuCoin answers "order not exist" for the clientOid; it
  raises :class:`OrderStateUnknown` when it cannot tell.
- ``prepare`` returns the exact JSON body (journaled before sending); ``restore`` reloads it after a
  restart, and such an order is looked up before any send.
Every behaviour with its source: docs/venues/kucoin.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import msgspec
from yarl import URL

from arbkit.core.clock import Clock, LiveClock
from arbkit.core.enums import LiquiditySide, OrderStatus, OrderType, Side, TimeInForce, Venue
from arbkit.core.events import Event, OrderAccepted, OrderCanceled, OrderCancelRejected, OrderFilled, OrderRejected
from arbkit.core.instruments import Instrument, instrument_id
from arbkit.core.numbers import quantize_down
from arbkit.core.orders import Balance, OrderRequest, OrderState, Position, SubmitResult
from arbkit.venues.common.http import TRANSPORT_ERRORS, OrderStateUnknown, keepalive_session
from arbkit.venues.common.ratelimit import TokenBucket, parse_retry_after
from arbkit.venues.kucoin import constants as C
from arbkit.venues.kucoin.auth import KucoinSigner
from arbkit.venues.kucoin.parse import (
    AccountWire,
    amount,
    FillsPage,
    KucoinError,
    OrderWire,
    SymbolWire,
    SyncOrderWire,
    Token,
    TradeFeeWire,
    dec,
    instrument_from_symbol,
    ms_to_ns,
    parse_snapshot,
    unwrap,
)

log = logging.getLogger("arbkit.venues.kucoin.gateway")
VENUE = Venue.KUCOIN
_PREFIX = "kucoin:"
CLIENT_OID_MAX = 40
# KuCoin order ids are 24 hex characters (every id in the SDK's examples, e.g. 6717422bd51c29000775ea03);
# a create answer naming anything else is unreadable (the order is then looked up by clientOid)
ORDER_ID_RE = re.compile(r"[0-9a-f]{24}")


class KucoinTransportError(Exception):
    """No usable answer (network, timeout, 5xx after retries). ``connected`` False: never sent."""

    def __init__(self, msg: str, connected: bool = True) -> None:
        super().__init__(msg)
        self.connected = connected


@dataclass
class GatewayConfig:
    rest_url: str = C.REST_URL
    timeout_s: float = 10.0
    pool_size: int = 16
    read_attempts: int = 3
    create_attempts: int = 3  # each after a lookup that said "no such order"
    backoff_s: float = 0.1
    max_429_retries: int = 20
    max_wait_429_s: float = 10.0
    rate_per_s: float = 30.0  # KuCoin's spot weight pool is per 30 s; we keep well under it
    burst: int = 30
    ambiguous_settle_s: float = 0.2
    fee_batch: int = 10  # /api/v1/trade-fees takes up to 10 symbols


def symbol_of(request_or_iid: OrderRequest | str) -> str:
    iid = request_or_iid if isinstance(request_or_iid, str) else request_or_iid.instrument.id
    if not iid.startswith(_PREFIX):
        raise ValueError(f"{iid} is not a KuCoin instrument")
    return iid[len(_PREFIX):]


def fmt(d: Decimal) -> str:
    s = format(d.normalize(), "f")
    return s


def order_body(request: OrderRequest, check: bool = True) -> dict[str, Any]:
    """The HF order body (model_add_order_req.py field names) for a limit request; ValueError
    naming the problem for anything KuCoin would refuse (``check`` False: increments and minimums
    are left for the venue to judge, as at the order-test endpoint)."""
    inst = request.instrument
    coid = request.client_order_id
    if not coid or len(coid) > CLIENT_OID_MAX:
        raise ValueError(f"clientOid must be 1-{CLIENT_OID_MAX} characters, got {coid!r}")
    if inst.venue is not Venue.KUCOIN:
        raise ValueError(f"{inst.id} is not a KuCoin instrument")
    problem = inst.check_order(request.price, request.quantity) if check else None
    if problem:
        raise ValueError(problem)
    tif = C.TIF.get(request.time_in_force.value)
    if tif is None:
        raise ValueError(f"time in force {request.time_in_force} is not supported by KuCoin")
    if request.order_type is not OrderType.LIMIT and request.time_in_force not in (TimeInForce.IOC, TimeInForce.FOK):
        raise ValueError("market orders are sent as IOC/FOK limit orders at the worst acceptable price")
    body: dict[str, Any] = {"clientOid": coid, "side": "buy" if request.side is Side.BUY else "sell",
                            "symbol": inst.symbol, "type": "limit", "price": fmt(request.price),
                            "size": fmt(request.quantity), "timeInForce": tif}
    if request.post_only:
        if tif in ("IOC", "FOK"):
            raise ValueError("postOnly is invalid with IOC/FOK")
        body["postOnly"] = True
    if tif == "GTT":
        secs = max(1, math.ceil((request.expire_at_ns - time.time_ns()) / 1e9))
        body["cancelAfter"] = secs
    return body


def market_order_body(sym: SymbolWire, client_oid: str, side: Side, *, funds: Decimal | None = None,
                      size: Decimal | None = None) -> dict[str, Any]:
    """An HF market order body: a buy by ``funds`` (quote, floored to quoteIncrement) or a sell (or
    buy) by ``size`` (base, floored to baseIncrement), exactly one of them (spec
    ``openapi-spot-order.json`` Add Order: "When type is market, select one out of two: size or
    funds"; funds "must be a multiple of quoteIncrement and must be between quoteMinSize and
    quoteMaxSize"; size a multiple of baseIncrement, at least baseMinSize). ``minFunds`` ("the
    minimum trading amounts", ``/api/v2/symbols``) also bounds funds. ValueError names the problem."""
    if not client_oid or len(client_oid) > CLIENT_OID_MAX:
        raise ValueError(f"clientOid must be 1-{CLIENT_OID_MAX} characters, got {client_oid!r}")
    if (funds is None) == (size is None):
        raise ValueError("a market order takes exactly one of funds (buy) or size")
    if not sym.enable_trading:
        raise ValueError(f"{sym.symbol}: trading is not enabled")
    body: dict[str, Any] = {"clientOid": client_oid, "side": "buy" if side is Side.BUY else "sell",
                            "symbol": sym.symbol, "type": "market"}
    if funds is not None:
        if side is not Side.BUY:
            raise ValueError("a market sell is sized in base (size), not funds")
        inc = dec(sym.quote_increment or "0", "quoteIncrement")
        if inc <= 0:
            raise ValueError(f"{sym.symbol}: no quoteIncrement, cannot quantise funds")
        q = quantize_down(funds, inc)
        floor = max(dec(sym.quote_min_size or "0", "quoteMinSize"),
                    dec(sym.min_funds, "minFunds") if sym.min_funds not in (None, "") else Decimal(0))
        if q <= 0 or q < floor:
            raise ValueError(f"{sym.symbol}: funds {q} {sym.quote_currency} (from {funds}, quoteIncrement {inc}) "
                             f"below the minimum {floor} (quoteMinSize/minFunds)")
        body["funds"] = fmt(q)
    else:
        assert size is not None
        inc = dec(sym.base_increment, "baseIncrement")
        q = quantize_down(size, inc)
        minimum = dec(sym.base_min_size, "baseMinSize")
        if q <= 0 or q < minimum:
            raise ValueError(f"{sym.symbol}: size {q} {sym.base_currency} (from {size}, baseIncrement {inc}) "
                             f"below baseMinSize {minimum}")
        body["size"] = fmt(q)
    return body


def _body_text(body: dict[str, Any]) -> str:
    return json.dumps(body, separators=(",", ":"))


_STATUS_OF = {"open": OrderStatus.ACCEPTED}
_TIF_OF = {"GTC": TimeInForce.GTC, "IOC": TimeInForce.IOC, "FOK": TimeInForce.FOK, "GTT": TimeInForce.GTD}


def order_state_of(w: OrderWire) -> OrderState:
    size, filled = dec(w.size), dec(w.deal_size)
    if w.active:
        status = OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.ACCEPTED
    elif filled >= size and size > 0:
        status = OrderStatus.FILLED
    else:
        status = OrderStatus.CANCELED
    return OrderState(venue=VENUE, instrument_id=instrument_id(VENUE, w.symbol), client_order_id=w.client_oid,
                      venue_order_id=w.id, side=Side.BUY if w.side == "buy" else Side.SELL, price=dec(w.price),
                      quantity=size, filled_quantity=filled, status=status,
                      time_in_force=_TIF_OF.get(w.time_in_force, TimeInForce.GTC), ts_created=ms_to_ns(w.created_at))


class KucoinGateway:
    """Signed REST order entry for one KuCoin API key (arbkit.venues.base.VenueGateway)."""

    venue = VENUE

    def __init__(self, signer: KucoinSigner | None, config: GatewayConfig | None = None, *,
                 clock: Clock | None = None) -> None:
        """``signer`` None: public data only (paper mode): symbols, bullet-public, the 100-level book."""
        self.signer = signer
        self.config = config or GatewayConfig()
        self.clock = clock or LiveClock()
        self.limiter = TokenBucket(self.config.rate_per_s, self.config.burst)
        self._session: aiohttp.ClientSession | None = None
        self._prepared: dict[str, dict[str, Any]] = {}
        self._maybe_sent: set[str] = set()
        self._coid_to_oid: dict[str, str] = {}
        self._oid_to_coid: dict[str, str] = {}
        self._symbols: dict[str, SymbolWire] = {}
        self._instruments: dict[str, Instrument] = {}
        self._traded: set[str] = set()

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._session is None or self._session.closed:
            self._session = keepalive_session(self.config.pool_size, self.config.timeout_s)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- transport ------------------------------------------------------------------------------

    async def _request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                       body: str = "", auth: bool = True, creates: bool = False) -> tuple[int, bytes]:
        """One request: 429 waited out and retried (not processed by KuCoin); transport errors
        and 5xx retried for reads and cancels only (``creates``: one attempt, the caller decides)."""
        await self.start()
        assert self._session is not None
        query = ("?" + urlencode(params, quote_via=quote)) if params else ""
        rel = path + query
        url = URL(self.config.rest_url.rstrip("/") + rel, encoded=True)
        attempts = 1 if creates else max(1, self.config.read_attempts)
        attempt = 0
        limited = 0
        last: str = ""
        connected = False
        while True:
            await self.limiter.acquire()
            if auth and self.signer is None:
                raise KucoinError(401, "400001", "no API credentials configured", f"{method} {path}")
            headers = self.signer.headers(method, rel, body) if auth else {"Content-Type": "application/json"}
            try:
                async with self._session.request(method, url, data=body.encode() if body else None,
                                                 headers=headers) as r:
                    raw = await r.read()
                    status, hdrs = r.status, r.headers
            except TRANSPORT_ERRORS as exc:
                connected = connected or not isinstance(exc, aiohttp.ClientConnectorError)
                last = repr(exc)
                attempt += 1
                if attempt >= attempts:
                    raise KucoinTransportError(f"{method} {path}: {last}", connected=connected) from exc
                await asyncio.sleep(self.config.backoff_s * 2 ** (attempt - 1))
                continue
            connected = True
            if status == 429 or _code_of(raw) == C.CODE_RATE_LIMIT:
                limited += 1
                reset = hdrs.get("gw-ratelimit-reset")
                wait = (int(reset) / 1000.0) if reset and reset.isdigit() else parse_retry_after(hdrs.get("Retry-After"))
                wait = min(self.config.max_wait_429_s, max(wait, 0.0))
                self.limiter.penalize(wait)
                log.warning("KuCoin %s %s: rate limited (429000), waiting %.2fs", method, path, wait)
                if limited <= self.config.max_429_retries:
                    continue
                return status, raw
            if status >= 500:
                attempt += 1
                if attempt >= attempts:
                    if creates:
                        return status, raw
                    raise KucoinTransportError(f"{method} {path}: HTTP {status}")
                await asyncio.sleep(self.config.backoff_s * 2 ** (attempt - 1))
                continue
            return status, raw

    async def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: str = "",
                    auth: bool = True) -> Any:
        status, raw = await self._request(method, path, params=params, body=body, auth=auth)
        return unwrap(status, raw, f"{method} {path}")

    # --- market metadata ------------------------------------------------------------------------

    async def public_token(self, private: bool = False) -> Token:
        path = C.PATH_BULLET_PRIVATE if private else C.PATH_BULLET_PUBLIC
        return msgspec.convert(await self._call("POST", path, auth=private), Token)

    async def symbols(self) -> list[SymbolWire]:
        rows = msgspec.convert(await self._call("GET", C.PATH_SYMBOLS, auth=False), list[SymbolWire])
        self._symbols.update((s.symbol, s) for s in rows)
        return rows

    async def trade_fees(self, symbols: list[str]) -> dict[str, TradeFeeWire]:
        out: dict[str, TradeFeeWire] = {}
        n = self.config.fee_batch
        for i in range(0, len(symbols), n):
            chunk = symbols[i:i + n]
            rows = msgspec.convert(await self._call("GET", C.PATH_TRADE_FEES, params={"symbols": ",".join(chunk)}),
                                   list[TradeFeeWire])
            out.update((r.symbol, r) for r in rows)
        return out

    async def instruments(self, symbols: list[str] | None = None) -> list[Instrument]:
        """Tradeable (enableTrading) instruments with the account's fee rates."""
        rows = await self.symbols()
        if symbols is not None:
            want = set(symbols)
            rows = [r for r in rows if r.symbol in want]
        rows = [r for r in rows if r.enable_trading]
        fees = await self.trade_fees([r.symbol for r in rows]) if self.signer is not None else {}
        out = []
        for r in rows:
            f = fees.get(r.symbol)
            inst = instrument_from_symbol(r, dec(f.taker_fee_rate) if f else None, dec(f.maker_fee_rate) if f else None)
            self._instruments[r.symbol] = inst
            out.append(inst)
        return out

    def fee_currency(self, symbol: str) -> str:
        s = self._symbols.get(symbol)
        return (s.fee_currency or s.quote_currency) if s else ""

    async def orderbook(self, symbol: str):
        """Full REST book (signed ``/api/v3/market/orderbook/level2``): (sequence, bids, asks),
        Decimal (price, size), best first. Without credentials the public 100-level book."""
        if self.signer is None:
            return parse_snapshot(await self._call("GET", C.PATH_ORDERBOOK_PART.format(size=100),
                                                   params={"symbol": symbol}, auth=False))
        return parse_snapshot(await self._call("GET", C.PATH_ORDERBOOK, params={"symbol": symbol}))

    # --- idempotency interface ------------------------------------------------------------------

    async def prepare(self, request: OrderRequest) -> str:
        """The exact body for ``request`` (JSON text), remembered under its client order id. The
        same request gives the same text; a different one under a used id is a ValueError."""
        body = order_body(request)
        old = self._prepared.get(request.client_order_id)
        if old is not None:
            if {k: v for k, v in old.items() if k != "cancelAfter"} != {k: v for k, v in body.items() if k != "cancelAfter"}:
                raise ValueError(f"clientOid {request.client_order_id} was prepared for a different order")
            return _body_text(old)
        self._prepared[request.client_order_id] = body
        return _body_text(body)

    def restore(self, client_order_id: str, prepared: str) -> None:
        body = json.loads(prepared)
        if not isinstance(body, dict) or body.get("clientOid") != client_order_id:
            raise ValueError(f"prepared body is not for clientOid {client_order_id!r}")
        self._prepared[client_order_id] = body
        self._maybe_sent.add(client_order_id)
        # an order from before a restart trades its symbol: fills_since must ask for it (the HF
        # fills endpoint is per symbol), or recovery never sees that order's fills
        if isinstance(body.get("symbol"), str):
            self._traded.add(body["symbol"])

    # --- submit ---------------------------------------------------------------------------------

    def _reject(self, request: OrderRequest, reason: str, code: str = "", retryable: bool = False) -> SubmitResult:
        ev = OrderRejected(venue=VENUE, client_order_id=request.client_order_id, reason=reason, code=code,
                           retryable=retryable, correlation_id=request.correlation_id, ts_recv=self.clock.now_ns())
        return SubmitResult(client_order_id=request.client_order_id, events=[ev])

    def _ambiguous(self, request: OrderRequest, why: str) -> SubmitResult:
        return self._reject(request, f"order state unknown: {why}; do not resend, look it up by clientOid",
                            code="AMBIGUOUS", retryable=True)

    def _remember(self, coid: str, oid: str) -> None:
        if coid and oid:
            self._coid_to_oid[coid] = oid
            self._oid_to_coid[oid] = coid

    def _accepted(self, request: OrderRequest, oid: str, deal: Decimal, size: Decimal, done: bool, ts_ms: int,
                  latency_ns: int) -> SubmitResult:
        self._remember(request.client_order_id, oid)
        now = self.clock.now_ns()
        events: list[Event] = [OrderAccepted(venue=VENUE, client_order_id=request.client_order_id, venue_order_id=oid,
                                             correlation_id=request.correlation_id, ts_venue=ms_to_ns(ts_ms), ts_recv=now)]
        if done and deal < size:
            events.append(OrderCanceled(venue=VENUE, client_order_id=request.client_order_id, venue_order_id=oid,
                                        filled_quantity=deal, reason="unfilled remainder canceled",
                                        correlation_id=request.correlation_id, ts_recv=now))
        return SubmitResult(client_order_id=request.client_order_id, events=events, venue_order_id=oid, accepted=True,
                            latency_ns=latency_ns)

    def _from_wire(self, request: OrderRequest, w: OrderWire, latency_ns: int) -> SubmitResult:
        body = self._prepared[request.client_order_id]
        if body.get("type") == "market":
            if w.symbol != body["symbol"] or w.side != body["side"] or w.type != "market":
                return self._reject(request, f"clientOid {request.client_order_id} is already used by order {w.id}",
                                    code="duplicate_client_order_id")
            return self._accepted(request, w.id, dec(w.deal_size), dec(w.deal_size), True, w.created_at, latency_ns)
        if w.symbol != body["symbol"] or w.side != body["side"] or dec(w.size) != dec(body["size"]) or \
                dec(w.price) != dec(body["price"]):
            return self._reject(request, f"clientOid {request.client_order_id} is already used by order {w.id}",
                                code="duplicate_client_order_id")
        return self._accepted(request, w.id, dec(w.deal_size), dec(w.size), not w.active, w.created_at, latency_ns)

    async def submit(self, request: OrderRequest) -> SubmitResult:
        try:
            await self.prepare(request)
        except ValueError as exc:
            return self._reject(request, str(exc), code="invalid_order")
        coid = request.client_order_id
        self._traded.add(self._prepared[coid]["symbol"])
        t0 = time.perf_counter_ns()
        if coid in self._coid_to_oid or coid in self._maybe_sent:
            # sent before: never a second order; the venue's record answers
            try:
                w = await self._lookup(coid)
            except (OrderStateUnknown, KucoinError, KucoinTransportError) as exc:
                return self._ambiguous(request, f"it may have been sent before and the lookup failed ({exc})")
            if w is not None:
                return self._from_wire(request, w, time.perf_counter_ns() - t0)
        return await self._create(request, t0)

    async def _create(self, request: OrderRequest, t0: int) -> SubmitResult:
        coid = request.client_order_id
        text = _body_text(self._prepared[coid])
        attempts = max(1, self.config.create_attempts)
        why = ""
        for attempt in range(attempts):
            self._maybe_sent.add(coid)
            try:
                status, raw = await self._request("POST", C.PATH_HF_ORDERS_SYNC, body=text, creates=True)
            except KucoinTransportError as exc:
                if not exc.connected:
                    return self._reject(request, f"not sent: could not connect to KuCoin ({exc})", code="unavailable",
                                        retryable=True)
                why = f"no answer to the create ({exc})"
            else:
                latency = time.perf_counter_ns() - t0
                if status < 500:
                    try:
                        data = unwrap(status, raw, "create order")
                        w = msgspec.convert(data, SyncOrderWire)
                    except KucoinError as exc:
                        if not (len(exc.code) == 6 and exc.code.isdigit()):
                            # unreadable 2xx/4xx body or no KuCoin code in it: the order may exist
                            why = str(exc)
                        else:
                            return self._reject(request, exc.msg or str(exc), code=exc.code,
                                                retryable=exc.code == C.CODE_RATE_LIMIT)
                    except (msgspec.ValidationError, ValueError) as exc:
                        why = f"unreadable create answer ({exc})"
                    else:
                        try:
                            if self._prepared[coid].get("type") == "market":
                                # a market order is finished when the sync answer comes; a buy by
                                # funds has no base size to compare with
                                deal, _ = _checked_sizes(w.deal_size, w.deal_size)
                                w = msgspec.structs.replace(w, status="done")
                                origin = deal
                            else:
                                deal, origin = _checked_sizes(w.deal_size, w.origin_size or body_size(self._prepared[coid]))
                            if not ORDER_ID_RE.fullmatch(w.order_id) or (w.client_oid and w.client_oid != coid):
                                raise ValueError(f"answer names order {w.order_id!r} / clientOid {w.client_oid!r}")
                        except ValueError as exc:
                            why = f"unreadable create answer ({exc})"
                        else:
                            return self._accepted(request, w.order_id, deal, origin, w.status == "done",
                                                  w.order_time, latency)
                else:
                    why = f"HTTP {status} from the create"
            log.warning("KuCoin create %s ambiguous (%s): looking it up before any resend", coid, why)
            await asyncio.sleep(self.config.ambiguous_settle_s)
            try:
                w = await self._lookup(coid)
            except (OrderStateUnknown, KucoinError, KucoinTransportError) as exc:
                return self._ambiguous(request, f"{why}, and the lookup by clientOid failed ({exc})")
            if w is not None:
                return self._from_wire(request, w, time.perf_counter_ns() - t0)
        return self._reject(request, f"not placed: {why} on each of {attempts} attempt(s); KuCoin has no order "
                                     f"with clientOid {coid}", code="unavailable", retryable=True)

    def market_body(self, instrument: Instrument, client_order_id: str, side: Side, *, funds: Decimal | None = None,
                    size: Decimal | None = None) -> dict[str, Any]:
        """:func:`market_order_body` with the pair's ``/api/v2/symbols`` row (load instruments first)."""
        sym = self._symbols.get(instrument.symbol)
        if sym is None:
            raise ValueError(f"{instrument.symbol}: unknown pair (load the instruments first)")
        return market_order_body(sym, client_order_id, side, funds=funds, size=size)

    async def submit_market(self, instrument: Instrument, client_order_id: str, side: Side, *,
                            funds: Decimal | None = None, size: Decimal | None = None,
                            correlation_id: str = "") -> SubmitResult:
        """An HF market order by ``funds`` (buy) or ``size`` (quantised down to the pair's
        increments; a minimum not met is refused with the reason, nothing sent). Same never-a-blind-
        resend rules as :meth:`submit`; the fills arrive on the user stream (all takers)."""
        req = OrderRequest(instrument=instrument, client_order_id=client_order_id, side=side,
                           quantity=size if size is not None else (funds or Decimal(0)), price=Decimal(0),
                           order_type=OrderType.MARKET, time_in_force=TimeInForce.IOC, correlation_id=correlation_id)
        try:
            body = self.market_body(instrument, client_order_id, side, funds=funds, size=size)
        except ValueError as exc:
            return self._reject(req, str(exc), code="invalid_order")
        old = self._prepared.get(client_order_id)
        if old is not None and old != body:
            return self._reject(req, f"clientOid {client_order_id} was prepared for a different order",
                                code="invalid_order")
        self._prepared[client_order_id] = body
        self._traded.add(instrument.symbol)
        t0 = time.perf_counter_ns()
        if client_order_id in self._coid_to_oid or client_order_id in self._maybe_sent:
            try:
                w = await self._lookup(client_order_id)
            except (OrderStateUnknown, KucoinError, KucoinTransportError) as exc:
                return self._ambiguous(req, f"it may have been sent before and the lookup failed ({exc})")
            if w is not None:
                return self._from_wire(req, w, time.perf_counter_ns() - t0)
        return await self._create(req, t0)

    async def test_order(self, request: OrderRequest) -> tuple[bool, str]:
        """``POST /api/v1/hf/orders/test``: KuCoin validates the order without placing it (spec:
        "the request parameters and return parameters of this endpoint are exactly the same as the
        order endpoint"; "the order will not enter the matching system, and the order cannot be
        queried"). Increments and minimums are KuCoin's to judge here (our instrument copy may be
        stale): (False, KuCoin's msg) when it refuses."""
        try:
            body = order_body(request, check=False)
        except ValueError as exc:
            return False, str(exc)
        try:
            await self._call("POST", C.PATH_HF_ORDERS_TEST, body=_body_text(body))
        except KucoinError as exc:
            return False, exc.msg or str(exc)
        return True, ""

    async def submit_many(self, requests: list[OrderRequest]) -> list[SubmitResult]:
        """One create per order (each with the ambiguity rules of :meth:`submit`), in order."""
        return [await self.submit(r) for r in requests]

    # --- lookups ------------------------------------------------------------------------------

    def _symbol_for(self, coid: str) -> str | None:
        body = self._prepared.get(coid)
        return body["symbol"] if body else None

    async def _lookup(self, coid: str, symbols: list[str] | None = None) -> OrderWire | None:
        """The order with clientOid ``coid``: None only when KuCoin says "order not exist" for
        every symbol asked; OrderStateUnknown when any answer was not readable."""
        sym = self._symbol_for(coid)
        cands = [sym] if sym else (symbols if symbols is not None else sorted(self._traded | set(self._instruments)))
        for s in cands:
            try:
                data = await self._call("GET", C.PATH_HF_ORDER_CLIENT.format(client_oid=quote(coid, safe="")),
                                        params={"symbol": s})
            except KucoinError as exc:
                if exc.not_found:
                    continue
                raise OrderStateUnknown("kucoin", coid, str(exc)) from exc
            except KucoinTransportError as exc:
                raise OrderStateUnknown("kucoin", coid, str(exc)) from exc
            if data is None:
                continue  # some KuCoin answers carry data null for an unknown order
            try:
                w = msgspec.convert(data, OrderWire)
                # a market buy by funds has size 0 and a deal size: nothing to compare
                _checked_sizes(w.deal_size, w.deal_size if w.type == "market" else w.size)
                amount(w.price, "price", positive=False)
                if not w.id or (w.client_oid and w.client_oid != coid):
                    raise ValueError(f"the answer is order {w.id!r} / clientOid {w.client_oid!r}, not {coid!r}")
                known = self._coid_to_oid.get(coid)
                if known and w.id != known:
                    raise ValueError(f"the answer is order {w.id!r}, but clientOid {coid!r} is order {known!r}")
            except (msgspec.ValidationError, ValueError) as exc:
                raise OrderStateUnknown("kucoin", coid, f"unreadable order: {exc}") from exc
            self._remember(coid, w.id)
            return w
        return None

    async def order_state(self, client_order_id: str, venue_order_id: str = "") -> OrderState | None:
        w = await self._lookup(client_order_id)
        return None if w is None else order_state_of(w)

    async def get_order(self, order_id: str, symbol: str) -> OrderWire | None:
        try:
            data = await self._call("GET", C.PATH_HF_ORDER.format(order_id=order_id), params={"symbol": symbol})
        except KucoinError as exc:
            if exc.not_found:
                return None
            raise
        return None if data is None else msgspec.convert(data, OrderWire)

    # --- cancel ---------------------------------------------------------------------------------

    async def cancel(self, client_order_id: str, venue_order_id: str = "") -> list[Event]:
        now = self.clock.now_ns
        sym = self._symbol_for(client_order_id)
        if sym is None:
            try:
                w = await self._lookup(client_order_id)
            except OrderStateUnknown as exc:
                return [OrderCancelRejected(venue=VENUE, client_order_id=client_order_id, reason=str(exc), ts_recv=now())]
            if w is None:
                return [OrderCancelRejected(venue=VENUE, client_order_id=client_order_id,
                                            reason="KuCoin has no such order", ts_recv=now())]
            sym = w.symbol
        try:
            data = await self._call("DELETE", C.PATH_HF_ORDER_SYNC.format(order_id="client-order/" + quote(
                client_order_id, safe="")), params={"symbol": sym})
            w = msgspec.convert(data, SyncOrderWire)
            deal, _ = _checked_sizes(w.deal_size, w.origin_size or w.deal_size)
        except (KucoinError, KucoinTransportError, msgspec.ValidationError, ValueError) as exc:
            return [OrderCancelRejected(venue=VENUE, client_order_id=client_order_id, reason=str(exc), ts_recv=now())]
        self._remember(client_order_id, w.order_id)
        return [OrderCanceled(venue=VENUE, client_order_id=client_order_id, venue_order_id=w.order_id,
                              filled_quantity=deal, reason="canceled by request", ts_recv=now())]

    async def _active(self) -> list[OrderWire]:
        data = await self._call("GET", C.PATH_HF_ACTIVE_SYMBOLS)
        symbols = (data or {}).get("symbols", []) if isinstance(data, dict) else []
        out: list[OrderWire] = []
        for s in symbols:
            rows = await self._call("GET", C.PATH_HF_ORDERS_ACTIVE, params={"symbol": s})
            for w in msgspec.convert(rows or [], list[OrderWire]):
                _checked_sizes(w.deal_size, w.size)  # ValueError for an order that is not one
                amount(w.price, "price", positive=False)
                out.append(w)
        for w in out:
            self._remember(w.client_oid, w.id)
        return out

    async def cancel_all(self) -> list[Event]:
        events: list[Event] = []
        for w in await self._active():
            if w.client_oid and w.client_oid not in self._prepared:
                self._prepared[w.client_oid] = {"symbol": w.symbol, "side": w.side, "size": w.size,
                                                "price": w.price, "clientOid": w.client_oid}
            events += await self.cancel(w.client_oid or w.id, w.id)
        return events

    async def open_orders(self) -> list[OrderState]:
        return [order_state_of(w) for w in await self._active()]

    # --- fills, balances ------------------------------------------------------------------------

    async def _coid_of(self, order_id: str, symbol: str) -> str:
        coid = self._oid_to_coid.get(order_id)
        if coid is None:
            w = await self.get_order(order_id, symbol)
            coid = w.client_oid if w is not None else ""
            self._remember(coid, order_id)
        return coid

    async def fills_since(self, ts_ns: int) -> list[Event]:
        out: list[Event] = []
        start_ms = max(0, ts_ns // 1_000_000)
        for sym in sorted(self._traded):
            page = msgspec.convert(await self._call("GET", C.PATH_HF_FILLS, params={
                "symbol": sym, "startAt": start_ms, "limit": 100}), FillsPage)
            for f in page.items:
                out.append(OrderFilled(
                    venue=VENUE, instrument_id=instrument_id(VENUE, f.symbol),
                    client_order_id=await self._coid_of(f.order_id, f.symbol), venue_order_id=f.order_id,
                    trade_id=str(f.trade_id), side=Side.BUY if f.side == "buy" else Side.SELL,
                    price=amount(f.price, "price"), quantity=amount(f.size, "size"),
                    fee=amount(f.fee, "fee", positive=False), fee_currency=f.fee_currency,
                    liquidity=LiquiditySide.MAKER if f.liquidity == "maker" else LiquiditySide.TAKER,
                    ts_venue=ms_to_ns(f.created_at), ts_recv=self.clock.now_ns()))
        return out

    async def balances(self) -> list[Balance]:
        """Trade-account balances; ValueError for an answer that is not a balance (negative,
        available above total, not a finite number)."""
        rows = msgspec.convert(await self._call("GET", C.PATH_ACCOUNTS, params={"type": "trade"}), list[AccountWire])
        out = []
        for a in rows:
            total, avail = amount(a.balance, "balance", positive=False), amount(a.available, "available", positive=False)
            if total < 0 or avail < 0 or avail > total:
                raise ValueError(f"KuCoin balance of {a.currency} is not a balance: total {total}, available {avail}")
            out.append(Balance(currency=a.currency, total=total, available=avail))
        return out

    async def positions(self) -> list[Position]:
        """Spot holdings are balances (``balances``); there are no positions."""
        return []


def body_size(body: dict[str, Any]) -> str:
    return str(body.get("size", "0"))


def _checked_sizes(deal: str, size: str) -> tuple[Decimal, Decimal]:
    """(dealt, size) as Decimals with 0 <= dealt <= size; ValueError otherwise."""
    d, z = amount(deal, "dealSize", positive=False), amount(size, "size", positive=False)
    if d < 0 or z < 0 or d > z:
        raise ValueError(f"dealt {d} of {z}")
    return d, z


def _code_of(raw: bytes) -> str:
    try:
        v = msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return ""
    return str(v.get("code", "")) if isinstance(v, dict) else ""


__all__ = ["GatewayConfig", "KucoinGateway", "KucoinTransportError", "market_order_body", "order_body", "order_state_of"]
