"""Polymarket CLOB V2 order gateway: signed REST order entry over a keep-alive pool.

- L1 (create/derive API key) and L2 (HMAC) authentication (:mod:`.auth`).
- V2 orders built with the official rounding rules per tick size and signed by the fast signer;
  the neg-risk exchange where the market is neg-risk; EOA, POLY_PROXY, POLY_GNOSIS_SAFE and
  POLY_1271 (deposit wallets). IOC/FOK legs are signed for exactly the shares asked (amounts.py).
- Idempotent client order ids: Polymarket has no client order id field, so the gateway keeps
  ``client_order_id -> signed order`` (salt derived from the id; timestamp fixed at first build).
  A resend is byte-identical, has the same order hash, and the venue's duplicate answer is
  recognised as "already accepted". Across restarts: :meth:`PolymarketGateway.prepare` gives the
  order's identity as text to journal before sending and :meth:`PolymarketGateway.restore` takes it
  back (``idempotency_path`` still works but is not needed).
- A token bucket limits the request rate and honours 429 Retry-After; transport errors and 5xx
  are retried (safe: orders are idempotent), then reported as ``AMBIGUOUS`` (retryable: the order
  may exist; ask the venue by its hash), never as a refusal.
- Market metadata (tick size, neg-risk, fee rate and exponent, minimum size) is cached.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

import aiohttp
import msgspec
from multidict import CIMultiDict

from arbkit.core.clock import Clock, LiveClock
from arbkit.core.enums import LiquiditySide, OrderStatus, OrderType, Side, TimeInForce, Venue
from arbkit.core.events import Event, OrderAccepted, OrderCanceled, OrderCancelRejected, OrderFilled, OrderRejected
from arbkit.core.fees import NO_FEE, FeeSpec, fee_for, polymarket_fee_spec
from arbkit.core.instruments import Instrument
from arbkit.core.orders import Balance, OrderRequest, OrderState, Position, SubmitResult
from arbkit.venues.polymarket import constants as C
from arbkit.venues.polymarket.amounts import ioc_order_amounts
from arbkit.venues.polymarket.auth import ApiCreds, l1_headers, l2_headers
from arbkit.venues.polymarket.parse import (
    BalanceAllowance,
    CancelResponse,
    ClobMarketInfo,
    FeeRateResponse,
    MarketByToken,
    NegRiskResponse,
    Page,
    PostOrderResponse,
    TickSizeResponse,
    WsUserMessage,
    dec,
    micro_units,
    order_status,
    our_fills,
    side_of,
    to_ns,
    UnknownStatus,
)
from arbkit.venues.common import sane
from arbkit.venues.common.http import HttpResponse, OrderStateUnknown, keepalive_session, send_with_retries
from arbkit.venues.common.ratelimit import TokenBucket
from arbkit.venues.polymarket.signer import OrderSigner, SignedOrder, salt_for

log = logging.getLogger("arbkit.venues.polymarket.gateway")

VENUE = Venue.POLYMARKET
_PREFIX = "polymarket:"


# --- rounding (the official rules, exact) ------------------------------------------------------


def _round_down(x: Decimal, digits: int) -> Decimal:
    return x.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_FLOOR)


def _round_up(x: Decimal, digits: int) -> Decimal:
    return x.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_CEILING)


def _decimals(x: Decimal) -> int:
    return max(0, -x.normalize().as_tuple().exponent)  # type: ignore[operator]


def _fit_amount(x: Decimal, digits: int) -> Decimal:
    """The official client's rule: round up at ``digits + 4`` decimals (absorbs float dust in
    their float maths), then, if still too fine, round down to ``digits``."""
    if _decimals(x) > digits:
        x = _round_up(x, digits + 4)
        if _decimals(x) > digits:
            x = _round_down(x, digits)
    return x


def _to_units(x: Decimal) -> int:
    return int((x * 1_000_000).to_integral_value(rounding=ROUND_HALF_EVEN))


def round_config(tick_size: Decimal) -> C.RoundConfig:
    try:
        return C.ROUNDING_CONFIG[tick_size.normalize()]
    except KeyError:
        for k, v in C.ROUNDING_CONFIG.items():
            if k == tick_size:
                return v
        raise ValueError(f"unsupported Polymarket tick size {tick_size}") from None


def limit_order_amounts(side: Side, size: Decimal, price: Decimal, tick_size: Decimal) -> tuple[int, int]:
    """(maker_amount, taker_amount) in micro-units for a limit order (GTC/GTD)."""
    rc = round_config(tick_size)
    p = price.quantize(Decimal(1).scaleb(-rc.price), rounding=ROUND_HALF_EVEN)
    shares = _round_down(size, rc.size)
    collateral = _fit_amount(shares * p, rc.amount)
    if side is Side.BUY:
        return _to_units(collateral), _to_units(shares)
    return _to_units(shares), _to_units(collateral)


def market_order_amounts(side: Side, amount: Decimal, price: Decimal, tick_size: Decimal) -> tuple[int, int]:
    """(maker_amount, taker_amount) for a market order (FOK/FAK): BUY ``amount`` is collateral to
    spend, SELL ``amount`` is shares; ``price`` is the worst price (rounded down, as V2 does)."""
    rc = round_config(tick_size)
    p = _round_down(price, rc.price)
    if p <= 0:
        raise ValueError("market order price rounds to zero")
    maker = _round_down(amount, rc.size)
    taker = _fit_amount(maker / p if side is Side.BUY else maker * p, rc.amount)
    return _to_units(maker), _to_units(taker)


# --- metadata ---------------------------------------------------------------------------------


class MarketMeta(msgspec.Struct, frozen=True, kw_only=True):
    token_id: str
    tick_size: Decimal
    neg_risk: bool
    fee_rate: Decimal = Decimal(0)
    fee_exponent: Decimal = Decimal(1)
    min_size: Decimal = Decimal(0)
    condition_id: str = ""
    fee_taker_only: bool = True

    def fee_spec(self) -> FeeSpec:
        """The market's fee curve (exponent exact, maker fee when ``to`` is false)."""
        if self.fee_rate <= 0:
            return NO_FEE
        return polymarket_fee_spec(self.fee_rate, self.fee_exponent, self.fee_taker_only)


class MetadataProvider:
    """Tick size, neg-risk, fee rate/exponent and minimum size per token, cached for ``ttl_s``.

    Sources, best first: ``/clob-markets/{condition_id}`` (all fields) when the condition id is
    known, else ``/tick-size`` and ``/neg-risk`` per token (fee and minimum then come from the
    instrument). A ``TickSizeChanged`` event updates the cache at once (:meth:`on_tick_size`).
    """

    def __init__(self, gateway: "PolymarketGateway", ttl_s: float = 300.0) -> None:
        self._gw = gateway
        self.ttl_ns = int(ttl_s * 1e9)
        self._cache: dict[str, tuple[int, MarketMeta]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._refreshing: set[str] = set()
        self._tasks: set[asyncio.Task] = set()

    def put(self, meta: MarketMeta) -> None:
        self._cache[meta.token_id] = (self._gw.clock.monotonic_ns(), meta)

    def cached(self, token_id: str) -> MarketMeta | None:
        hit = self._cache.get(token_id)
        if hit is None or self._gw.clock.monotonic_ns() - hit[0] > self.ttl_ns:
            return None
        return hit[1]

    def last_known(self, token_id: str) -> MarketMeta | None:
        """The newest metadata of a token whatever its age (None only when never fetched). A stale
        entry is still the market's last known fee curve: booking a fee from it is right, booking 0
        is not. When the entry is stale a refresh is started in the background (see :meth:`refresh_soon`)."""
        hit = self._cache.get(token_id)
        if hit is None:
            return None
        if self._gw.clock.monotonic_ns() - hit[0] > self.ttl_ns:
            self.refresh_soon(token_id, hit[1].condition_id)
        return hit[1]

    def refresh_soon(self, token_id: str, condition_id: str = "") -> None:
        """Re-read a token's metadata in the background (at most one refresh per token at a time)."""
        if token_id in self._refreshing:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._refreshing.add(token_id)

        async def run() -> None:
            try:
                meta = await self._fetch(token_id, condition_id, None)
                self.put(meta)
            except Exception as exc:  # noqa: BLE001 - a failed refresh keeps the last known entry
                log.warning("metadata refresh of %s failed (%r); keeping the last known entry", token_id, exc)
            finally:
                self._refreshing.discard(token_id)

        task = loop.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def on_tick_size(self, token_id: str, tick_size: Decimal) -> None:
        hit = self._cache.get(token_id)
        if hit is not None:
            self._cache[token_id] = (hit[0], msgspec.structs.replace(hit[1], tick_size=tick_size))

    async def get(self, token_id: str, condition_id: str = "", instrument: Instrument | None = None) -> MarketMeta:
        meta = self.cached(token_id)
        if meta is not None:
            return meta
        lock = self._locks.setdefault(token_id, asyncio.Lock())
        async with lock:
            meta = self.cached(token_id)
            if meta is None:
                meta = await self._fetch(token_id, condition_id, instrument)
                self.put(meta)
            return meta

    async def _fetch(self, token_id: str, condition_id: str, instrument: Instrument | None) -> MarketMeta:
        gw = self._gw
        if not condition_id:  # the official client's route: token -> condition -> market info
            status, body, _ = await gw._request("GET", C.PATH_MARKET_BY_TOKEN + token_id, auth=None)
            if status == 200:
                try:
                    condition_id = msgspec.json.decode(body, type=MarketByToken).condition_id
                except (msgspec.DecodeError, msgspec.ValidationError):
                    condition_id = ""
        if condition_id:
            status, body, _ = await gw._request("GET", C.PATH_CLOB_MARKET + condition_id, auth=None)
            info = None
            if status == 200:
                try:
                    info = msgspec.json.decode(body, type=ClobMarketInfo)
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    log.warning("unreadable /clob-markets answer for %s (%r); using /tick-size and /neg-risk",
                                condition_id, exc)
            if info is not None and not _sane_market_info(info):
                log.warning("unusable /clob-markets answer for %s (%r); using /tick-size and /neg-risk", condition_id, info)
                info = None
            if info is not None:
                tokens = {t.t for t in info.t if t is not None}
                if token_id in tokens:
                    metas = []
                    for tok in tokens:
                        metas.append(MarketMeta(
                            token_id=tok, tick_size=info.mts, neg_risk=info.nr,
                            fee_rate=info.fd.r if info.fd else Decimal(0),
                            fee_exponent=info.fd.e if info.fd else Decimal(1),
                            fee_taker_only=info.fd.to if info.fd else True,
                            min_size=info.mos if info.mos is not None else (instrument.min_size if instrument else Decimal(0)),
                            condition_id=condition_id))
                    for m in metas:
                        self.put(m)
                    return next(m for m in metas if m.token_id == token_id)
        status, body, _ = await gw._request("GET", C.PATH_TICK_SIZE, params={"token_id": token_id}, auth=None)
        if status != 200:
            raise RuntimeError(f"tick size of {token_id}: HTTP {status} {body[:200]!r}")
        tick = msgspec.json.decode(body, type=TickSizeResponse).minimum_tick_size
        if not (tick.is_finite() and 0 < tick < 1):
            raise ValueError(f"tick size of {token_id}: {tick!r}")
        status, body, _ = await gw._request("GET", C.PATH_NEG_RISK, params={"token_id": token_id}, auth=None)
        if status != 200:
            raise RuntimeError(f"neg-risk of {token_id}: HTTP {status} {body[:200]!r}")
        neg = msgspec.json.decode(body, type=NegRiskResponse).neg_risk
        fee = instrument.fee if instrument else None
        if instrument is None:
            old = self._cache.get(token_id)
            if old is not None:  # a refresh without the instrument: keep the fee curve we knew
                return msgspec.structs.replace(old[1], tick_size=tick, neg_risk=neg)
        return MarketMeta(
            token_id=token_id, tick_size=tick, neg_risk=neg,
            fee_rate=fee.taker_rate if fee and fee.kind == "polymarket" else Decimal(0),
            fee_exponent=Decimal(fee.exponent) if fee and fee.kind == "polymarket" else Decimal(1),
            fee_taker_only=not (fee and fee.kind == "polymarket" and fee.maker_rate > 0),
            min_size=instrument.min_size if instrument else Decimal(0), condition_id=condition_id)

    async def fee_rate_bps(self, token_id: str) -> int:
        """GET /fee-rate ``base_fee`` (a venue parameter, not necessarily the charged rate)."""
        status, body, _ = await self._gw._request("GET", C.PATH_FEE_RATE, params={"token_id": token_id}, auth=None)
        if status != 200:
            raise RuntimeError(f"fee rate of {token_id}: HTTP {status}")
        v = msgspec.json.decode(body, type=FeeRateResponse).base_fee
        return int(v or 0)


# --- gateway ----------------------------------------------------------------------------------


def _sane_market_info(info: ClobMarketInfo) -> bool:
    """Tick in (0, 1), fee rate in [0, 1], fee exponent in [0, 100], minimum size not negative: anything
    else is a garbled answer (read as unreadable: the /tick-size and /neg-risk fallback is used)."""
    fee_ok = info.fd is None or (info.fd.r.is_finite() and info.fd.e.is_finite() and 0 <= info.fd.r <= 1
                                 and 0 <= info.fd.e <= 100)  # a rate is a fraction; exponents are small
    mos_ok = info.mos is None or (info.mos.is_finite() and 0 <= info.mos <= sane.MAX_AMOUNT)
    return info.mts.is_finite() and 0 < info.mts < 1 and fee_ok and mos_ok


_UNKNOWN_ORDER_MARKERS = ("invalid orderid", "order not found", "not found")


def _says_unknown_order(body: bytes) -> bool:
    """True when a 400/404 body says the order id is unknown (``{"error":"Invalid orderID"}``),
    not some other refusal (bad auth, bad request) that says nothing about the order."""
    try:
        err = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return False
    text = err.get("error", "") if isinstance(err, dict) else ""
    return isinstance(text, str) and any(m in text.lower() for m in _UNKNOWN_ORDER_MARKERS)


@dataclass
class GatewayConfig:
    rest_url: str = C.CLOB_REST_URL
    chain_id: int = C.POLYGON
    signature_type: int = C.SignatureType.EOA
    funder: str | None = None  # proxy / safe / deposit wallet for POLY_PROXY / POLY_GNOSIS_SAFE / POLY_1271
    rate_per_s: float = 50.0
    burst: int = 50
    max_attempts: int = 4  # per request, counting the first
    retry_backoff_s: float = 0.2
    request_timeout_s: float = 10.0
    pool_size: int = 16
    metadata_ttl_s: float = 300.0
    use_metadata: bool = True  # False: trust the instrument's tick size / neg-risk (no REST lookups)
    idempotency_path: str | None = None


class _Duplicate(Exception):
    pass


_TIF_ORDER_TYPE = {TimeInForce.GTC: "GTC", TimeInForce.GTD: "GTD", TimeInForce.IOC: "FAK", TimeInForce.FOK: "FOK"}
_DUPLICATE_MARKERS = ("duplicate", "already exists", "already placed")


class PolymarketGateway:
    """Implements :class:`arbkit.venues.base.VenueGateway` for the Polymarket CLOB V2."""

    venue = VENUE

    def __init__(
        self,
        private_key: str,
        creds: ApiCreds | None = None,
        config: GatewayConfig | None = None,
        *,
        clock: Clock | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.config = config or GatewayConfig()
        self.clock = clock or LiveClock()
        self.signer = OrderSigner(private_key, self.config.chain_id, self.config.signature_type, self.config.funder)
        self.creds = creds
        self.address = self.signer.address
        self.limiter = TokenBucket(self.config.rate_per_s, self.config.burst)
        self.metadata = MetadataProvider(self, self.config.metadata_ttl_s)
        self._session = session
        self._own_session = session is None
        self._orders: dict[str, tuple[SignedOrder, str, str]] = {}  # coid -> (signed, instrument id, order type)
        self._by_hash: dict[str, str] = {}  # order hash -> coid
        self._tokens_seen: set[str] = set()
        self._fee_specs: dict[str, FeeSpec] = {}  # token -> the instrument's fee curve (fallback)
        self.requests_sent = 0
        self.responses_429 = 0
        if self.config.idempotency_path:
            self._load_idempotency(self.config.idempotency_path)

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        if self._session is None:
            self._session = keepalive_session(self.config.pool_size, self.config.request_timeout_s, 60.0, 300)

    async def close(self) -> None:
        for t in list(self.metadata._tasks):  # background metadata refreshes
            t.cancel()
        if self.metadata._tasks:
            await asyncio.gather(*self.metadata._tasks, return_exceptions=True)
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> "PolymarketGateway":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    # --- HTTP -------------------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: str | None = None,
        auth: str | None = "l2",
        retry: bool = True,
    ) -> tuple[int, bytes, CIMultiDict]:
        """One REST call through the rate limiter, retrying 429 (after Retry-After), 5xx and
        transport errors. Returns (status, body, headers); raises ConnectionError when every
        attempt failed at the transport level."""
        if self._session is None:
            await self.start()
        assert self._session is not None

        def headers() -> dict[str, str]:
            # signed per attempt: the L2 HMAC carries a timestamp
            h = {"Content-Type": "application/json", "Accept": "application/json"}
            if auth == "l2":
                if self.creds is None:
                    raise RuntimeError("L2 credentials are needed: call create_or_derive_api_creds() or pass creds")
                h.update(l2_headers(self.address, self.creds, method, path, body))
            elif auth == "l1":
                h.update(l1_headers(self.signer.wallet, self.config.chain_id))
            return h

        def on_send(_attempt: int) -> None:
            self.requests_sent += 1

        def on_response(resp: HttpResponse, _sent_ms: int, _recv_ms: int) -> None:
            if resp.status == 429:
                self.responses_429 += 1

        resp = await send_with_retries(
            self._session, method, self.config.rest_url + path, limiter=self.limiter, headers=headers,
            attempts=self.config.max_attempts if retry else 1, backoff_s=self.config.retry_backoff_s,
            params=params, data=body, on_send=on_send, on_response=on_response, label=f"Polymarket {method} {path}")
        return resp.status, sane.utf8_body(resp.body), resp.headers

    # --- credentials ------------------------------------------------------------------------

    async def create_or_derive_api_creds(self, nonce: int = 0) -> ApiCreds:
        """L1: create API credentials, or derive the existing ones. Sets and returns them."""
        status, body, _ = await self._request("POST", C.PATH_CREATE_API_KEY, auth="l1", retry=False)
        if status != 200:
            status, body, _ = await self._request("GET", C.PATH_DERIVE_API_KEY, auth="l1")
        if status != 200:
            raise RuntimeError(f"could not create or derive API credentials: HTTP {status} {body[:200]!r}")
        self.creds = ApiCreds.from_response(json.loads(body))
        return self.creds

    # --- idempotency ------------------------------------------------------------------------

    def _load_idempotency(self, path: str) -> None:
        if not os.path.exists(path):
            return
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                    so = msgspec.convert(rec["order"], SignedOrder)
                    self._remember(rec["coid"], so, rec["iid"], rec["type"], persist=False)
                except (ValueError, KeyError, msgspec.ValidationError) as exc:
                    log.warning("idempotency map %s line %d unreadable (%r): ignored", path, n, exc)

    def _remember(self, coid: str, so: SignedOrder, iid: str, order_type: str, persist: bool = True) -> None:
        self._orders[coid] = (so, iid, order_type)
        self._by_hash[so.order_hash] = coid
        self._tokens_seen.add(so.tokenId)
        if persist and self.config.idempotency_path:
            rec = {"coid": coid, "iid": iid, "type": order_type, "order": msgspec.to_builtins(so)}
            with open(self.config.idempotency_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(rec, separators=(",", ":")) + "\n")
                fh.flush()
                os.fsync(fh.fileno())

    # --- journaled order identity (idempotency across restarts) ----------------------------

    PREPARED_VERSION = 1

    async def prepare(self, request: OrderRequest) -> str:
        """Build and sign the order of ``request`` (as :meth:`build` does), remember it under its
        client order id and return JSON text holding everything needed to rebuild it exactly: the
        signed order (salt, timestamp, amounts, signature), its order hash (the venue's order id),
        the instrument id and the wire order type. Journal this text BEFORE sending; after a restart
        :meth:`restore` it, and a resend is byte-identical (same hash: the venue answers
        "Duplicated", recognised as accepted), ``order_state`` asks the venue by that hash and
        ``cancel`` cancels it. Idempotent per client order id (the same text every time).
        Raises ValueError naming the problem when the request cannot be sent."""
        try:
            so, otype = await self.build(request)
        except ValueError:
            raise
        except (RuntimeError, ConnectionError) as exc:
            raise ValueError(f"order not prepared: {exc}") from exc
        iid = self._orders[request.client_order_id][1]
        return json.dumps({
            "v": self.PREPARED_VERSION, "venue": VENUE.value, "client_order_id": request.client_order_id,
            "instrument_id": iid, "order_type": otype, "post_only": bool(request.post_only),
            "order_hash": so.order_hash, "order": msgspec.to_builtins(so)}, separators=(",", ":"), sort_keys=True)

    def restore(self, client_order_id: str, prepared: str) -> None:
        """Remember an order prepared (and journaled) before a restart, so that :meth:`submit`
        resends it byte for byte, :meth:`order_state` looks it up by its hash and :meth:`cancel`
        cancels it. Raises ValueError when the text is not a prepared Polymarket order of this
        client order id, or conflicts with a different order already held under that id."""
        try:
            rec = json.loads(prepared)
            if not isinstance(rec, dict) or rec.get("v") != self.PREPARED_VERSION or rec.get("venue") != VENUE.value:
                raise ValueError("not a prepared Polymarket order")
            so = msgspec.convert(rec["order"], SignedOrder)
            iid, otype, coid = str(rec["instrument_id"]), str(rec["order_type"]), str(rec["client_order_id"])
        except (ValueError, KeyError, TypeError, msgspec.ValidationError) as exc:
            raise ValueError(f"prepared order of {client_order_id} unreadable: {exc}") from exc
        if coid != client_order_id:
            raise ValueError(f"prepared order belongs to {coid}, not {client_order_id}")
        if rec.get("order_hash") != so.order_hash or otype not in _TIF_ORDER_TYPE.values():
            raise ValueError(f"prepared order of {client_order_id} is inconsistent")
        held = self._orders.get(client_order_id)
        if held is not None:
            if held[0].order_hash != so.order_hash:
                raise ValueError(f"client order id {client_order_id} already holds order {held[0].order_hash}")
            return
        self._remember(client_order_id, so, iid, otype, persist=True)
        if self.config.use_metadata and self.metadata.last_known(so.tokenId) is None:
            self.metadata.refresh_soon(so.tokenId)  # the fee curve for fills on it

    def signed_order(self, client_order_id: str) -> SignedOrder | None:
        hit = self._orders.get(client_order_id)
        return hit[0] if hit else None

    def client_order_id_of(self, order_hash: str) -> str:
        return self._by_hash.get(order_hash, "")

    # --- orders -----------------------------------------------------------------------------

    async def build(self, request: OrderRequest) -> tuple[SignedOrder, str]:
        """The signed order for a request (the same one every time for a client order id), and
        its wire order type. Raises ValueError naming what is wrong with the request."""
        hit = self._orders.get(request.client_order_id)
        if hit is not None:
            so, iid, otype = hit
            if iid != request.instrument.id:
                raise ValueError(f"client order id {request.client_order_id} was used for {iid}")
            return so, otype
        inst = request.instrument
        if inst.venue is not Venue.POLYMARKET:
            raise ValueError(f"instrument {inst.id} is not a Polymarket instrument")
        token = inst.symbol
        if inst.fee.kind == "polymarket":
            self._fee_specs[token] = inst.fee
        if self.config.use_metadata:
            meta = await self.metadata.get(token, inst.market_id or "", inst)
        else:
            meta = MarketMeta(token_id=token, tick_size=inst.tick_size, neg_risk=inst.neg_risk, min_size=inst.min_size)
        tick = meta.tick_size
        price, qty = request.price, request.quantity
        if not (tick <= price <= 1 - tick):
            raise ValueError(f"price {price} outside [{tick}, {1 - tick}]")
        if price % tick != 0:
            raise ValueError(f"price {price} is not on the {tick} tick grid")
        rc = round_config(tick)
        if qty <= 0 or qty != _round_down(qty, rc.size):
            raise ValueError(f"size {qty} must be positive with at most {rc.size} decimals")
        min_size = max(meta.min_size, inst.min_size)
        if qty < min_size:
            raise ValueError(f"size {qty} below the market minimum {min_size}")
        if request.post_only and request.time_in_force not in (TimeInForce.GTC, TimeInForce.GTD):
            raise ValueError("post-only needs GTC or GTD")
        otype = _TIF_ORDER_TYPE[request.time_in_force]
        side = C.SIDE_BUY if request.side is Side.BUY else C.SIDE_SELL
        if otype in ("FAK", "FOK") or request.order_type is OrderType.MARKET:
            if otype not in ("FAK", "FOK"):
                raise ValueError("a MARKET order must be IOC or FOK")
            # IOC/FOK legs: signed for exactly `qty` shares at no worse than `price`, within the
            # venue's market-order amount precision (amounts.py; issue 11 item 7).
            maker, taker = ioc_order_amounts(request.side, qty, price, tick)
        else:
            maker, taker = limit_order_amounts(request.side, qty, price, tick)
        expiration = 0
        if request.time_in_force is TimeInForce.GTD:
            if request.expire_at_ns <= 0:
                raise ValueError("GTD needs expire_at_ns")
            expiration = request.expire_at_ns // 1_000_000_000
        so = self.signer.sign(
            token_id=token, maker_amount=maker, taker_amount=taker, side=side,
            salt=salt_for(request.client_order_id), timestamp_ms=self.clock.now_ns() // 1_000_000,
            neg_risk=meta.neg_risk, expiration=expiration,
        )
        self._remember(request.client_order_id, so, inst.id, otype)
        return so, otype

    def _body(self, so: SignedOrder, otype: str, post_only: bool) -> dict:
        return {"order": so.to_wire(), "owner": self.creds.api_key if self.creds else "", "orderType": otype,
                "deferExec": False, "postOnly": post_only}

    def _result_from(self, request: OrderRequest, so: SignedOrder, status: int, resp: PostOrderResponse | None,
                     raw: bytes, latency_ns: int) -> SubmitResult:
        coid = request.client_order_id
        now = self.clock.now_ns()
        res = SubmitResult(client_order_id=coid, latency_ns=latency_ns)
        corr = request.correlation_id
        if status == 200 and resp is not None and resp.success and resp.orderID:
            if resp.orderID.lower() != so.order_hash.lower():
                # The venue's order id is the hash of the order we signed: an answer naming another
                # order is garbled. The order may be placed: look it up, never resend blindly.
                res.events.append(OrderRejected(
                    venue=VENUE, client_order_id=coid, code="BAD_RESPONSE", retryable=True, correlation_id=corr,
                    reason=f"answer names order {resp.orderID[:80]!r}, not ours {so.order_hash}: state unknown",
                    ts_recv=now))
                return res
            res.accepted = True
            res.venue_order_id = resp.orderID
            res.events.append(OrderAccepted(venue=VENUE, client_order_id=coid, venue_order_id=resp.orderID,
                                            correlation_id=corr, ts_recv=now))
            return res
        msg = (resp.message if resp is not None else "") or raw[:300].decode("utf-8", "replace")
        if any(m in msg.lower() for m in _DUPLICATE_MARKERS):
            res.accepted = True
            res.venue_order_id = so.order_hash
            res.events.append(OrderAccepted(venue=VENUE, client_order_id=coid, venue_order_id=so.order_hash,
                                            correlation_id=corr, ts_recv=now))
            return res
        garbled_200 = status == 200 and (resp is None or resp.success
                                         or not (resp.errorMsg or resp.error_msg or resp.error))
        if status >= 500 or (resp is None and status != 429) or garbled_200:
            # A lost, unreadable or garbled answer (a 200 "success" without our order id, a failure
            # without a reason) says nothing about whether the order was placed: the engine must
            # treat it as unknown and ask the venue (by the order hash), never as refused.
            res.events.append(OrderRejected(venue=VENUE, client_order_id=coid, reason=f"ambiguous answer: HTTP {status} "
                                            f"{msg}", code="AMBIGUOUS", retryable=True, correlation_id=corr, ts_recv=now))
            return res
        retryable = status == 429
        code = str(status)
        low = msg.lower()
        if "please use the deposit wallet flow" in low:
            # py-clob-client-v2#83/#51/#74: accounts created as new API users must sign as POLY_1271.
            code = "DEPOSIT_WALLET_REQUIRED"
            log.error("ALERT Polymarket refused maker %s (signature type %d): %s -- this account is a deposit-wallet "
                      "account: configure signature_type = 3 and funder = its deposit wallet address",
                      so.maker, so.signatureType, msg)
        elif "signer address has to be the address of the api key" in low:
            # clob-client-v2#66 / py-clob-client-v2#65,#77: the API key is bound to the address that
            # signed the L1 ClobAuth (the owner EOA); the venue refuses an order signer it cannot tie
            # to that key. For POLY_1271 the signer is the deposit wallet.
            code = "API_KEY_SIGNER_MISMATCH"
            log.error("ALERT Polymarket refused order signer %s for the API key of %s (signature type %d): %s -- "
                      "derive the API key with the deposit wallet's owner key (L1 auth as the EOA, never the wallet "
                      "address) and check that this wallet belongs to that owner (clob-client-v2 issue 66)",
                      so.signer, self.address, so.signatureType, msg)
        res.events.append(OrderRejected(venue=VENUE, client_order_id=coid, reason=msg or f"HTTP {status}",
                                        code=code, retryable=retryable, correlation_id=corr, ts_recv=now))
        return res

    def _reject(self, request: OrderRequest, reason: str, retryable: bool = False, code: str = "") -> SubmitResult:
        return SubmitResult(client_order_id=request.client_order_id, events=[OrderRejected(
            venue=VENUE, client_order_id=request.client_order_id, reason=reason, code=code, retryable=retryable,
            correlation_id=request.correlation_id, ts_recv=self.clock.now_ns())])

    async def submit(self, request: OrderRequest) -> SubmitResult:
        try:
            so, otype = await self.build(request)
        except (ValueError, RuntimeError, ConnectionError) as exc:
            return self._reject(request, f"order not sent: {exc}", retryable=isinstance(exc, (RuntimeError, ConnectionError)),
                                code="LOCAL")
        body = msgspec.json.encode(self._body(so, otype, request.post_only)).decode()
        t0 = self.clock.monotonic_ns()
        try:
            status, raw, _ = await self._request("POST", C.PATH_POST_ORDER, body=body)
        except ConnectionError as exc:
            return self._reject(request, f"transport failure, order state unknown: {exc}", retryable=True,
                                code="AMBIGUOUS")
        latency = self.clock.monotonic_ns() - t0
        resp = None
        try:
            resp = msgspec.json.decode(raw, type=PostOrderResponse)
        except (msgspec.DecodeError, msgspec.ValidationError):
            pass
        return self._result_from(request, so, status, resp, raw, latency)

    async def submit_many(self, requests: list[OrderRequest]) -> list[SubmitResult]:
        """POST /orders in batches of at most 15; results in the order of ``requests``."""
        results: list[SubmitResult | None] = [None] * len(requests)
        built: list[tuple[int, SignedOrder, str]] = []
        for i, req in enumerate(requests):
            try:
                so, otype = await self.build(req)
                built.append((i, so, otype))
            except (ValueError, RuntimeError, ConnectionError) as exc:
                results[i] = self._reject(req, f"order not sent: {exc}", code="LOCAL",
                                          retryable=isinstance(exc, (RuntimeError, ConnectionError)))
        for start in range(0, len(built), C.MAX_BATCH_ORDERS):
            chunk = built[start : start + C.MAX_BATCH_ORDERS]
            body = msgspec.json.encode([self._body(so, ot, requests[i].post_only) for i, so, ot in chunk]).decode()
            t0 = self.clock.monotonic_ns()
            try:
                status, raw, _ = await self._request("POST", C.PATH_POST_ORDERS, body=body)
            except ConnectionError as exc:
                for i, _, _ in chunk:
                    results[i] = self._reject(requests[i], f"transport failure, order state unknown: {exc}",
                                              retryable=True, code="AMBIGUOUS")
                continue
            latency = self.clock.monotonic_ns() - t0
            resps: list[PostOrderResponse] | None = None
            if status == 200:
                try:
                    resps = msgspec.json.decode(raw, type=list[PostOrderResponse])
                except (msgspec.DecodeError, msgspec.ValidationError):
                    resps = None
            elif 400 <= status < 500:  # the whole batch refused: one error object for every order
                try:
                    one = msgspec.json.decode(raw, type=PostOrderResponse)
                    resps = [one] * len(chunk)
                except (msgspec.DecodeError, msgspec.ValidationError):
                    resps = None
            for k, (i, so, _) in enumerate(chunk):
                r = resps[k] if resps is not None and k < len(resps) else None
                results[i] = self._result_from(requests[i], so, status, r, raw, latency)
        return [r for r in results if r is not None]

    def _order_id_for(self, client_order_id: str, venue_order_id: str) -> str:
        if venue_order_id:
            return venue_order_id
        hit = self._orders.get(client_order_id)
        return hit[0].order_hash if hit else ""

    def _cancel_events(self, raw: bytes, asked: dict[str, str]) -> list[Event]:
        now = self.clock.now_ns()
        try:
            resp = msgspec.json.decode(raw, type=CancelResponse)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
            return [OrderCancelRejected(venue=VENUE, client_order_id=coid or "*", ts_recv=now,
                                        reason=f"unreadable cancel answer (state unknown, look it up): {exc}")
                    for coid in (asked.values() or [""])]
        out: list[Event] = []
        for oid in resp.canceled:
            out.append(OrderCanceled(venue=VENUE, client_order_id=asked.get(oid) or self._by_hash.get(oid, ""),
                                     venue_order_id=oid, reason="canceled by request", ts_recv=now))
        for oid, why in resp.not_canceled.items():
            out.append(OrderCancelRejected(venue=VENUE, client_order_id=asked.get(oid) or self._by_hash.get(oid, ""),
                                           reason=f"{oid}: {why}", ts_recv=now))
        return out

    async def cancel(self, client_order_id: str, venue_order_id: str = "") -> list[Event]:
        oid = self._order_id_for(client_order_id, venue_order_id)
        if not oid:
            return [OrderCancelRejected(venue=VENUE, client_order_id=client_order_id,
                                        reason="unknown order: no venue order id and no order built for this client id",
                                        ts_recv=self.clock.now_ns())]
        body = msgspec.json.encode({"orderID": oid}).decode()
        try:
            status, raw, _ = await self._request("DELETE", C.PATH_CANCEL, body=body)
        except ConnectionError as exc:
            return [OrderCancelRejected(venue=VENUE, client_order_id=client_order_id, reason=f"transport failure: {exc}",
                                        ts_recv=self.clock.now_ns())]
        if status != 200:
            return [OrderCancelRejected(venue=VENUE, client_order_id=client_order_id,
                                        reason=f"HTTP {status}: {raw[:200].decode('utf-8', 'replace')}",
                                        ts_recv=self.clock.now_ns())]
        return self._cancel_events(raw, {oid: client_order_id})

    async def cancel_many(self, order_ids: list[str]) -> list[Event]:
        body = msgspec.json.encode(order_ids).decode()
        status, raw, _ = await self._request("DELETE", C.PATH_CANCEL_ORDERS, body=body)
        if status != 200:
            return [OrderCancelRejected(venue=VENUE, client_order_id=self._by_hash.get(o, ""), reason=f"HTTP {status}",
                                        ts_recv=self.clock.now_ns()) for o in order_ids]
        return self._cancel_events(raw, {})

    async def cancel_all(self) -> list[Event]:
        try:
            status, raw, _ = await self._request("DELETE", C.PATH_CANCEL_ALL)
        except ConnectionError as exc:
            return [OrderCancelRejected(venue=VENUE, client_order_id="*", reason=f"transport failure: {exc}",
                                        ts_recv=self.clock.now_ns())]
        if status != 200:
            return [OrderCancelRejected(venue=VENUE, client_order_id="*", reason=f"HTTP {status}",
                                        ts_recv=self.clock.now_ns())]
        return self._cancel_events(raw, {})

    # --- state ------------------------------------------------------------------------------

    def _sizes(self, row: WsUserMessage) -> tuple[Decimal, Decimal]:
        """(original size, size matched) in shares. The docs describe both as decimal share strings
        ("Already normalized; do not divide by 1e6", api-reference/trade/get-single-order-by-id,
        checked 2026-12-04) while the same page's example shows ``"original_size": "100000000"`` for
        a 100-share order. When the order is one we signed, its share amount settles which: a value
        equal to our signed micro-units (and not to the shares) is read as fixed-point 6 decimals."""
        original = dec(row.original_size, Decimal(0)) or Decimal(0)
        matched = dec(row.size_matched, Decimal(0)) or Decimal(0)
        coid = self._by_hash.get(row.id)
        hit = self._orders.get(coid) if coid else None
        if hit is not None:
            so = hit[0]
            units = int(so.takerAmount if so.side == "BUY" else so.makerAmount)
            shares = Decimal(units).scaleb(-C.TOKEN_DECIMALS)
            if original != shares and original == units:
                log.warning("order %s: original_size %s is fixed-point micro-units (our order is %s shares)",
                            row.id, row.original_size, shares)
                return shares, matched.scaleb(-C.TOKEN_DECIMALS)
        return original, matched

    def _order_state(self, row: WsUserMessage, strict: bool = False) -> OrderState:
        """An OrderState of a venue order row (numbers checked: ``sane.order_state``). An
        undocumented status raises UnknownStatus when ``strict`` (order_state: the state cannot be
        told); otherwise (rows of the open-orders list) the order is open, since the venue lists it
        as open, and an alert is logged."""
        original, matched = self._sizes(row)
        try:
            status = order_status(row, original, matched)
        except UnknownStatus:
            log.error("ALERT Polymarket order %s has an undocumented status %r", row.id, row.status)
            if strict:
                raise
            status = OrderStatus.PARTIALLY_FILLED if matched > 0 else OrderStatus.ACCEPTED
        return sane.order_state(OrderState(
            venue=VENUE, instrument_id=_PREFIX + row.asset_id, client_order_id=self._by_hash.get(row.id, ""),
            venue_order_id=row.id, side=side_of(row.side), price=Decimal(row.price), quantity=original,
            filled_quantity=matched, status=status,
            order_type=OrderType.LIMIT,
            time_in_force={"GTD": TimeInForce.GTD, "FOK": TimeInForce.FOK, "FAK": TimeInForce.IOC}.get(
                (row.order_type or "GTC").upper(), TimeInForce.GTC),
            ts_created=to_ns(row.created_at),
        ))

    async def _pages(self, path: str, params: dict[str, str]) -> list[WsUserMessage]:
        rows: list[WsUserMessage] = []
        cursor = C.INITIAL_CURSOR
        for _ in range(1000):
            status, raw, _ = await self._request("GET", path, params={**params, "next_cursor": cursor})
            if status != 200:
                raise RuntimeError(f"GET {path}: HTTP {status} {raw[:200]!r}")
            page = msgspec.json.decode(raw, type=Page)
            rows.extend(page.data)
            if not page.next_cursor or page.next_cursor == C.END_CURSOR or page.next_cursor == cursor:
                break
            cursor = page.next_cursor
        return rows

    async def open_orders(self) -> list[OrderState]:
        return [self._order_state(r) for r in await self._pages(C.PATH_ORDERS, {})]

    async def order_state(self, client_order_id: str, venue_order_id: str = "") -> OrderState | None:
        """The venue's view of one order; None only when the venue says it has no such order.

        ``GET /data/order/{hash}`` answers 200 with the order, or -- for a hash it does not hold --
        200 with an empty/``null`` body (the documented "order if it exists"); the simulator (and
        possibly older venue builds) answer 400 ``{"error":"Invalid orderID"}``. Both mean None.
        Anything else (transport failure, 5xx or 429 after retries, 401/403, another 4xx, an
        unreadable body) raises :class:`OrderStateUnknown`: the order may exist, never resend it.
        """
        oid = self._order_id_for(client_order_id, venue_order_id)
        if not oid:
            return None  # never built here: no hash was ever signed, so nothing can have been sent
        try:
            status, raw, _ = await self._request("GET", C.PATH_GET_ORDER + oid)
        except ConnectionError as exc:
            raise OrderStateUnknown(VENUE.value, oid, f"no response: {exc}") from exc
        except RuntimeError as exc:  # no L2 credentials: cannot ask
            raise OrderStateUnknown(VENUE.value, oid, str(exc)) from exc
        body = raw.strip()
        if status == 200 and body in (b"", b"null", b"{}", b'""'):
            return None
        if status in (400, 404) and _says_unknown_order(body):
            return None
        if status != 200:
            raise OrderStateUnknown(VENUE.value, oid, f"HTTP {status} {raw[:200]!r}")
        try:
            row = msgspec.json.decode(raw, type=WsUserMessage)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError) as exc:
            raise OrderStateUnknown(VENUE.value, oid, f"unreadable order: {exc}; {raw[:200]!r}") from exc
        if row.id.lower() != oid.lower():  # also "no id": an answer about some other order says nothing
            raise OrderStateUnknown(VENUE.value, oid, f"answer is about order {row.id[:80]!r}: {raw[:200]!r}")
        try:
            return self._order_state(row, strict=True)
        except UnknownStatus as exc:
            raise OrderStateUnknown(VENUE.value, oid, str(exc)) from exc
        except (ValueError, ArithmeticError, TypeError) as exc:  # a bad side/price/size: never a bare ValueError
            log.error("ALERT Polymarket order %s: unreadable order row (%r)", oid, exc)
            raise OrderStateUnknown(VENUE.value, oid, f"unusable order: {exc!r}; {raw[:200]!r}") from exc

    def fills_from_trade(self, trade: WsUserMessage, ts_recv: int = 0) -> list[OrderFilled]:
        """Our fills in one trade row / user-channel trade event, as OrderFilled. A taker order
        gets one fill per maker match, at that match's price and with that match's fee (see
        ``parse.our_fills``); the ids are the same whether the trade came from the user channel
        or from REST, so reconciliation never counts a match twice."""
        owners = {self.creds.api_key} if self.creds else set()
        owners |= {self.address.lower(), self.signer.funder.lower()}
        out = []
        for f in our_fills(trade, owners, set(self._by_hash)):
            fee = fee_for(self._fee_spec_of(f.asset_id), f.price, f.quantity, f.liquidity, f.side)
            out.append(OrderFilled(
                venue=VENUE, instrument_id=_PREFIX + f.asset_id, client_order_id=self._by_hash.get(f.order_id, ""),
                venue_order_id=f.order_id, trade_id=f.trade_id, side=f.side, price=f.price, quantity=f.quantity,
                fee=fee, fee_currency="pUSD", liquidity=f.liquidity, status=f.status,
                ts_venue=to_ns(trade.match_time or trade.timestamp), ts_recv=ts_recv or self.clock.now_ns()))
        return out

    def _fee_spec_of(self, token_id: str) -> FeeSpec:
        """The fee curve of a token for booking a fill: the last known metadata whatever its age
        (a stale entry triggers a background refresh, never a zero fee), else the instrument's
        FeeSpec remembered when an order was built on it."""
        meta = self.metadata.last_known(token_id)
        if meta is not None:
            return meta.fee_spec()
        spec = self._fee_specs.get(token_id)
        if spec is not None:
            return spec
        log.error("ALERT no fee curve known for Polymarket token %s: the fill's fee cannot be computed "
                  "(booked 0); refreshing its metadata", token_id)
        self.metadata.refresh_soon(token_id)
        return NO_FEE

    async def fills_since(self, ts_ns: int) -> list[Event]:
        rows = await self._pages(C.PATH_TRADES, {"after": str(ts_ns // 1_000_000_000)})
        out: list[Event] = []
        for r in rows:
            out.extend(self.fills_from_trade(r))
        return out

    async def balance_allowance(self, asset_type: str = "COLLATERAL", token_id: str | None = None) -> BalanceAllowance:
        params = {"asset_type": asset_type, "signature_type": str(self.config.signature_type)}
        if token_id:
            params["token_id"] = token_id
        status, raw, _ = await self._request("GET", C.PATH_BALANCE_ALLOWANCE, params=params)
        if status != 200:
            raise RuntimeError(f"GET balance-allowance: HTTP {status} {raw[:200]!r}")
        return msgspec.json.decode(raw, type=BalanceAllowance)

    async def balances(self) -> list[Balance]:
        ba = await self.balance_allowance()
        total = sane.amount(micro_units(ba.balance), "pUSD balance")
        return [Balance(currency="pUSD", total=total, available=total)]

    async def positions(self) -> list[Position]:
        """Share balances of every token this gateway has traded or looked up."""
        out = []
        for token in sorted(self._tokens_seen | set(self.metadata._cache)):
            ba = await self.balance_allowance("CONDITIONAL", token)
            qty = sane.amount(micro_units(ba.balance), f"balance of {token}")
            if qty:
                out.append(Position(venue=VENUE, instrument_id=_PREFIX + token, quantity=qty))
        return out

    async def server_time(self) -> int:
        status, raw, _ = await self._request("GET", C.PATH_TIME, auth=None)
        if status != 200:
            raise RuntimeError(f"GET /time: HTTP {status}")
        return int(raw.strip().strip(b'"'))


__all__ = [
    "GatewayConfig",
    "MarketMeta",
    "MetadataProvider",
    "PolymarketGateway",
    "limit_order_amounts",
    "market_order_amounts",
    "round_config",
]
