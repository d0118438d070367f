"""KuCoin spot simulator server: REST + WebSocket on one loopback port, over :class:`SpotEngine`.

Protocol (docs/venues/kucoin.md has each point with its source):
- ``POST /api/v1/bullet-public`` / ``bullet-private`` (signed) -> token + instanceServers
  (endpoint, pingInterval, pingTimeout); WS ``endpoint?token=..&connectId=..`` -> ``welcome``;
  ``ping`` -> ``pong``; ``subscribe``/``unsubscribe`` answered by ``ack`` with the request id; at
  most 100 symbols per subscribe and ``MAX_TOPICS`` topics per connection; a connection with no
  client frame for pingInterval + pingTimeout is closed.
- ``/market/level2:SYM`` ``trade.l2update`` with per-change sequence (sequenceStart/End),
  ``/spotMarket/level2Depth50:SYM`` ``level2`` snapshots of the best 50 levels (at most every
  ``DEPTH_PUSH_S``, only when the book changed; one at subscribe so a quiet book shows),
  ``/spotMarket/tradeOrdersV2`` ``orderChange``, ``/account/balance`` ``account.balance``.
- Signed REST (KC-API-KEY/SIGN/TIMESTAMP/PASSPHRASE/KEY-VERSION): HF orders (+/sync, /test),
  cancel by id / clientOid (+ sync), order by id / clientOid, active orders, fills, accounts,
  trade fees, v2 symbols, the full level-2 book with its sequence.
- Faults (arbkit.sim.faults): REST_429 (HTTP 429, code 429000, gw-ratelimit-reset), REST_5XX,
  SLOW_ACK, ORDER_REJECT (engine), WS_SEQ_GAP / WS_FREEZE (messages lost), WS_DISCONNECT,
  WS_DELAY, WS_DUPLICATE.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
import time
import uuid
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import unquote

from aiohttp import WSMsgType, web

from arbkit.sim.kucoin.spot import SpotEngine, SpotEvent, SpotMarket, SpotOrder, SpotReject
from arbkit.sim.kucoin.universe import STABLE, USD_PRICES, build_markets, pair_price, usd_price_of
from arbkit.venues.kucoin.auth import verify

log = logging.getLogger(__name__)
VENUE = "kucoin"
MM_ACCOUNT = "kucoin-sim-mm"
PUBLIC_PATHS = {"/api/v1/bullet-public", "/api/v2/symbols", "/api/v1/timestamp", "/api/v1/market/orderbook/level2_20",
                "/api/v1/market/orderbook/level2_100", "/api/v1/status"}
ACCOUNT = web.RequestKey("kucoin_account", str)  # the verified API key of a signed request
MAX_SYMBOLS_PER_SUBSCRIBE = 100
MAX_TOPICS = 400
TIMESTAMP_TOLERANCE_MS = 5000
DEPTH_TOPIC = "/spotMarket/level2Depth50"
DEPTH_LEVELS = 50
DEPTH_PUSH_S = 0.1  # the spec's push frequency for level2Depth50: "once every 100ms"
D = Decimal


def _ok(data: Any) -> web.Response:
    return web.json_response({"code": "200000", "data": data}, dumps=_dumps)


def _err(code: str, msg: str, status: int = 400, headers: dict | None = None) -> web.Response:
    return web.json_response({"code": code, "msg": msg}, status=status, headers=headers, dumps=_dumps)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=str, separators=(",", ":"))


def _s(d: Decimal) -> str:
    return format(d.normalize(), "f") if d != 0 else "0"


class _Session:
    def __init__(self, ws: web.WebSocketResponse, account: str | None, connect_id: str) -> None:
        self.ws = ws
        self.account = account
        self.connect_id = connect_id
        self.topics: set[str] = set()
        self.queue: asyncio.Queue = asyncio.Queue()
        self.closed = False
        self.last_client_mono = time.monotonic()


class KucoinServer:
    """The KuCoin venue of ``arbkit sim`` (registered in arbkit.sim.runner.VENUE_SERVERS)."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.engine: SpotEngine = ctx.engine
        self.clock = ctx.clock
        self.faults = ctx.faults
        cfg = dict((getattr(ctx.scenario, "data", {}) or {}).get("kucoin", {}))
        self.cfg = cfg
        self.ping_interval_ms = int(cfg.get("ping_interval_ms", 18000))
        self.ping_timeout_ms = int(cfg.get("ping_timeout_ms", 10000))
        self.tick_s = float(cfg.get("tick_s", getattr(ctx.scenario, "tick_s", 1.0)))
        self.levels = int(cfg.get("levels", 3))
        self.spread_ticks = int(cfg.get("spread_ticks", 5))
        self.level_ticks = int(cfg.get("level_ticks", 2))
        self.level_usd = D(str(cfg.get("level_usd", "500000")))
        self.walk_bp = D(str(cfg.get("walk_bp", "0")))
        self.rng = random.Random(ctx.scenario.seed if hasattr(ctx.scenario, "seed") else 1)
        self.usd = dict(USD_PRICES)
        self.usd.update({k: D(str(v)) for k, v in cfg.get("usd_prices", {}).items()})
        markets, self.universe_source = build_markets(
            cfg.get("pairs"), D(str(cfg.get("taker_fee_rate", "0.001"))), D(str(cfg.get("maker_fee_rate", "0.001"))),
            use_shared=bool(cfg.get("use_shared_symbols", True)), usd=self.usd)
        for m in markets:
            self.engine.add_spot_market(m)
            for c in (m.base, m.quote):
                self.usd[c] = usd_price_of(c, self.usd)
        # dislocations: one pair's quotes move off its fair price for a while (opens triangles)
        dl = cfg.get("dislocations", {})
        self.disl_p = float(dl.get("probability", 0.0))
        self.disl_bps = D(str(dl.get("bps", "30")))
        self.disl_ticks = int(dl.get("ticks", 5))
        self.dislocated: dict[str, tuple[Decimal, int]] = {}  # symbol -> (factor, ticks left)
        self.dislocation_log: list[dict[str, Any]] = []
        self.funding = {k: D(str(v)) for k, v in cfg.get("funding", {
            "USDT": "10000000", "BTC": "1000", "ETH": "10000", "SOL": "100000", "KCS": "1000000",
            "XRP": "10000000", "LTC": "100000"}).items()}
        self.keys: dict[str, tuple[str, str]] = {a.api_key: (a.api_secret, a.passphrase) for a in ctx.accounts}
        for a in ctx.accounts:
            self.engine.accounts.create(a.account_id, {})
            for cur, amt in self.funding.items():
                self.engine.accounts.deposit(a.account_id, cur, amt)
        self.engine.accounts.create(MM_ACCOUNT, {c: D(10) ** 12 for c in self.usd})
        self.engine.fault_exempt_accounts.add(MM_ACCOUNT)
        self.tokens: dict[str, str | None] = {}  # token -> account (None: public)
        self.sessions: set[_Session] = set()
        self._mm: dict[str, list[str]] = {}
        self._balance_events = 0
        self._depth_dirty: set[str] = set()
        self.order_tests = 0  # /api/v1/hf/orders/test calls that passed validation (tests read it)
        self._unsub = self.engine.subscribe(self._on_events)
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task] = []
        self.port = 0
        self.host = "127.0.0.1"
        self.requote_all()

    # --- lifecycle ------------------------------------------------------------------------------

    async def start(self, host: str) -> None:
        self.host = host
        app = web.Application(middlewares=[self._middleware])
        self._routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, int((getattr(self.ctx, "extra", None) or {}).get("port", 0)))  # arbkit sim --ports
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._tasks.append(asyncio.create_task(self._maker_loop(), name="kucoin-sim-maker"))
        self._tasks.append(asyncio.create_task(self._idle_loop(), name="kucoin-sim-idle"))
        self._tasks.append(asyncio.create_task(self._depth_loop(), name="kucoin-sim-depth50"))

    def info(self) -> dict[str, Any]:
        return {"rest_url": f"http://{self.host}:{self.port}", "ws_url": f"ws://{self.host}:{self.port}/",
                "accounts": [{"api_key": a.api_key, "api_secret": a.api_secret, "passphrase": a.passphrase}
                             for a in self.ctx.accounts],
                "markets": [{"symbol": s} for s in sorted(self.engine.spot_markets)],
                "universe_source": self.universe_source}

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for s in list(self.sessions):
            with contextlib.suppress(Exception):
                await s.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
        self._unsub()

    # --- market maker ---------------------------------------------------------------------------

    def requote_all(self) -> None:
        for sym in sorted(self.engine.spot_markets):
            self._requote(self.engine.spot_markets[sym])

    def _requote(self, m: SpotMarket) -> None:
        tick = m.price_increment
        d = self.dislocated.get(m.symbol)
        fair = pair_price(f"{m.base}-{m.quote}", self.usd, tick)
        if d is not None:
            fair = (fair * d[0]).quantize(tick)
        usd_base = usd_price_of(m.base, self.usd)
        size = max(m.base_min_size, (self.level_usd / usd_base / m.base_increment).to_integral_value() * m.base_increment)
        want: dict[tuple[str, Decimal], Decimal] = {}
        for i in range(self.levels):
            off = tick * (self.spread_ticks + i * self.level_ticks)
            if fair - off > 0:
                want[("buy", fair - off)] = size
            want[("sell", fair + off)] = size
        have = self._mm.setdefault(m.symbol, [])
        keep = []
        for oid in have:
            o = self.engine.order(oid)
            if o is None or not o.active:
                continue
            if want.get((o.side, o.price)) == o.remaining and o.deal_size == 0:
                want.pop((o.side, o.price))
                keep.append(oid)
            else:
                with contextlib.suppress(SpotReject):
                    self.engine.cancel(MM_ACCOUNT, oid)
        for (side, price), sz in sorted(want.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            try:
                o = self.engine.submit(MM_ACCOUNT, symbol=m.symbol, side=side, price=price, size=sz)
            except SpotReject as exc:
                log.warning("kucoin sim maker %s %s@%s refused: %s", m.symbol, side, price, exc.msg)
                continue
            if o.active:
                keep.append(o.order_id)
        self._mm[m.symbol] = keep

    async def _maker_loop(self) -> None:
        while True:
            await self.clock.sleep(self.tick_s)
            self._dislocate()
            if self.walk_bp:
                for cur in sorted(self.usd):
                    if cur not in STABLE:
                        step = D(self.rng.choice((-1, 0, 1))) * self.walk_bp / D(10000)
                        self.usd[cur] = self.usd[cur] * (1 + step)
            try:
                self.requote_all()
            except Exception:  # noqa: BLE001
                log.exception("kucoin sim maker failed")

    def _dislocate(self) -> None:
        """Age running dislocations; maybe start one (seeded): a pair's fair moves by ``bps``."""
        for sym, (f, left) in list(self.dislocated.items()):
            if left <= 1:
                del self.dislocated[sym]
            else:
                self.dislocated[sym] = (f, left - 1)
        if self.disl_p and self.rng.random() < self.disl_p:
            sym = self.rng.choice(sorted(self.engine.spot_markets))
            sign = self.rng.choice((-1, 1))
            factor = 1 + sign * self.disl_bps / D(10000)
            self.dislocated[sym] = (factor, self.disl_ticks)
            self.dislocation_log.append({"symbol": sym, "bps": str(sign * self.disl_bps), "ts_ns": self.clock.now_ns()})

    async def _idle_loop(self) -> None:
        limit = (self.ping_interval_ms + self.ping_timeout_ms) / 1000.0
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for s in list(self.sessions):
                if now - s.last_client_mono > limit:
                    s.closed = True
                    with contextlib.suppress(Exception):
                        await s.ws.close()

    # --- REST plumbing --------------------------------------------------------------------------

    def _routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/", self._ws)
        r.add_post("/api/v1/bullet-public", self._bullet_public)
        r.add_post("/api/v1/bullet-private", self._bullet_private)
        r.add_get("/api/v1/timestamp", self._timestamp)
        r.add_get("/api/v1/status", self._status)
        r.add_get("/api/v2/symbols", self._symbols)
        r.add_get("/api/v1/trade-fees", self._trade_fees)
        r.add_get("/api/v3/market/orderbook/level2", self._book_full)
        r.add_get("/api/v1/market/orderbook/level2_{size}", self._book_part)
        r.add_get("/api/v1/accounts", self._accounts)
        r.add_post("/api/v1/hf/orders", self._add_order)
        r.add_post("/api/v1/hf/orders/sync", self._add_order_sync)
        r.add_post("/api/v1/hf/orders/test", self._add_order_test)
        r.add_get("/api/v1/hf/orders/active", self._active)
        r.add_get("/api/v1/hf/orders/active/symbols", self._active_symbols)
        r.add_delete("/api/v1/hf/orders/cancelAll", self._cancel_all)
        r.add_delete("/api/v1/hf/orders", self._cancel_symbol)
        r.add_get("/api/v1/hf/fills", self._fills)
        r.add_get("/api/v1/hf/orders/client-order/{coid}", self._get_by_coid)
        r.add_delete("/api/v1/hf/orders/client-order/{coid}", self._cancel_by_coid)
        r.add_delete("/api/v1/hf/orders/sync/client-order/{coid}", self._cancel_by_coid_sync)
        r.add_delete("/api/v1/hf/orders/sync/{oid}", self._cancel_by_id_sync)
        r.add_get("/api/v1/hf/orders/{oid}", self._get_by_id)
        r.add_delete("/api/v1/hf/orders/{oid}", self._cancel_by_id)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        if path.startswith("/api/") and self.faults is not None:
            hit = self.faults.rest_fault(VENUE, request.method, path)
            if hit is not None:
                kind = hit.kind.value
                if kind == "REST_429":
                    reset_ms = int(hit.spec.retry_after_s * 1000)
                    return _err("429000", "Too Many Requests", 429, headers={
                        "gw-ratelimit-limit": "4000", "gw-ratelimit-remaining": "0", "gw-ratelimit-reset": str(reset_ms)})
                if kind == "REST_5XX":
                    return _err(str(hit.spec.status or 503) + "000", "injected server error", hit.spec.status or 503)
                if kind == "SLOW_ACK":
                    resp = await self._auth_and_handle(request, handler, path)
                    await self.clock.sleep(float(hit.spec.delay_s))
                    return resp
        return await self._auth_and_handle(request, handler, path)

    async def _auth_and_handle(self, request: web.Request, handler: Any, path: str) -> web.StreamResponse:
        if path.startswith("/api/") and path not in PUBLIC_PATHS and not path.startswith("/api/v1/market/orderbook/level2_"):
            h = request.headers
            key = h.get("KC-API-KEY", "")
            if not all(h.get(x) for x in ("KC-API-KEY", "KC-API-SIGN", "KC-API-TIMESTAMP", "KC-API-PASSPHRASE")):
                return _err("400001", "Please check the header of your request for KC-API-KEY, KC-API-SIGN, "
                                      "KC-API-TIMESTAMP, KC-API-PASSPHRASE", 401)
            if key not in self.keys:
                return _err("400003", "KC-API-KEY not exists", 401)
            ts = h.get("KC-API-TIMESTAMP", "")
            if not ts.isdigit() or abs(int(ts) - time.time_ns() // 1_000_000) > TIMESTAMP_TOLERANCE_MS:
                return _err("400002", "KC-API-TIMESTAMP Invalid -- Time differs from server time by more than 5 seconds",
                            401)
            secret, passphrase = self.keys[key]
            body = await request.text()
            why = verify(secret, passphrase, request.method, request.raw_path, body, dict(h))
            if why is not None and why.startswith("Signature"):
                why = verify(secret, passphrase, request.method, unquote(request.raw_path), body, dict(h))
            if why is not None:
                code = "400004" if "PASSPHRASE" in why else ("400005" if why.startswith("Signature") else "400006")
                return _err(code, why, 401)
            request[ACCOUNT] = key
        try:
            return await handler(request)
        except SpotReject as exc:
            return _err(exc.code, exc.msg, 400 if exc.code != "200004" else 400)
        except web.HTTPException as exc:
            if exc.status == 404:
                return _err("404000", "Not Found", 404)
            if exc.status == 405:
                return _err("405000", "Method Not Allowed", 405)
            raise
        except (ValueError, KeyError, InvalidOperation) as exc:
            return _err("400100", f"Parameter error: {exc}", 400)
        except Exception:  # noqa: BLE001
            log.exception("kucoin sim: %s %s failed", request.method, path)
            return _err("500000", "Internal Server Error", 500)

    def _symbol_param(self, request: web.Request) -> str:
        sym = request.query.get("symbol", "")
        if not sym:
            raise ValueError("symbol is required")
        return sym

    # --- public REST ----------------------------------------------------------------------------

    def _token(self, account: str | None) -> dict[str, Any]:
        tok = hashlib.sha256(f"{uuid.uuid4()}".encode()).hexdigest()
        self.tokens[tok] = account
        return {"token": tok, "instanceServers": [{"endpoint": f"ws://{self.host}:{self.port}/", "encrypt": False,
                                                    "protocol": "websocket", "pingInterval": self.ping_interval_ms,
                                                    "pingTimeout": self.ping_timeout_ms}]}

    async def _timestamp(self, request: web.Request) -> web.Response:
        return _ok(self.clock.now_ns() // 1_000_000)

    async def _status(self, request: web.Request) -> web.Response:
        return _ok({"status": "open", "msg": ""})

    async def _bullet_public(self, request: web.Request) -> web.Response:
        return _ok(self._token(None))

    async def _bullet_private(self, request: web.Request) -> web.Response:
        return _ok(self._token(request[ACCOUNT]))

    def _symbol_row(self, m: SpotMarket) -> dict[str, Any]:
        return {"symbol": m.symbol, "name": m.symbol, "baseCurrency": m.base, "quoteCurrency": m.quote,
                "feeCurrency": m.fee_currency, "market": m.market, "baseMinSize": _s(m.base_min_size),
                "quoteMinSize": _s(m.quote_min_size), "baseMaxSize": _s(m.base_max_size),
                "quoteMaxSize": _s(m.quote_max_size), "baseIncrement": _s(m.base_increment),
                "quoteIncrement": _s(m.quote_increment), "priceIncrement": _s(m.price_increment),
                "priceLimitRate": "0.1", "minFunds": _s(m.min_funds), "isMarginEnabled": False,
                "enableTrading": m.enable_trading, "feeCategory": 1, "makerFeeCoefficient": "1.00",
                "takerFeeCoefficient": "1.00", "st": False, "callauctionIsEnabled": False,
                "callauctionPriceFloor": None, "callauctionPriceCeiling": None, "callauctionFirstStageStartTime": None,
                "callauctionSecondStageStartTime": None, "callauctionThirdStageStartTime": None, "tradingStartTime": None}

    async def _symbols(self, request: web.Request) -> web.Response:
        market = request.query.get("market")
        return _ok([self._symbol_row(m) for s, m in sorted(self.engine.spot_markets.items())
                    if not market or m.market == market])

    async def _trade_fees(self, request: web.Request) -> web.Response:
        syms = [s for s in request.query.get("symbols", "").split(",") if s]
        if not syms or len(syms) > 10:
            raise ValueError("symbols: 1 to 10 symbols")
        out = []
        for s in syms:
            m = self.engine.spot_markets.get(s)
            if m is None:
                raise SpotReject("400100", f"symbol {s} not exists")
            out.append({"symbol": s, "takerFeeRate": _s(m.taker_rate), "makerFeeRate": _s(m.maker_rate),
                        "sellTaxRate": None, "buyTaxRate": None})
        return _ok(out)

    def _book_doc(self, sym: str, depth: int | None) -> dict[str, Any]:
        if sym not in self.engine.spot_markets:
            raise SpotReject("400100", "symbol not exists")
        seq, bids, asks = self.engine.book_levels(sym)
        conv = lambda lv: [[_s(p), _s(s)] for p, s in lv[:depth]]  # noqa: E731
        return {"time": self.clock.now_ns() // 1_000_000, "sequence": str(seq), "bids": conv(bids), "asks": conv(asks)}

    async def _book_full(self, request: web.Request) -> web.Response:
        return _ok(self._book_doc(self._symbol_param(request), None))

    async def _book_part(self, request: web.Request) -> web.Response:
        size = request.match_info["size"]
        if size not in ("20", "100"):
            raise web.HTTPNotFound()
        return _ok(self._book_doc(self._symbol_param(request), int(size)))

    # --- private REST ---------------------------------------------------------------------------

    async def _accounts(self, request: web.Request) -> web.Response:
        acct = request[ACCOUNT]
        typ = request.query.get("type")
        cur = request.query.get("currency")
        rows = []
        if typ in (None, "", "trade"):
            for b in self.engine.accounts.balances(acct):
                if cur and b["currency"] != cur:
                    continue
                rows.append({"id": hashlib.sha1(f"{acct}:{b['currency']}".encode()).hexdigest()[:24],
                             "currency": b["currency"], "type": "trade", "balance": b["total"],
                             "available": b["available"], "holds": b["hold"]})
        return _ok(rows)

    async def _order_params(self, request: web.Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.text() or "{}")
        except ValueError:
            raise SpotReject("400100", "Request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise SpotReject("400100", "Request body must be a JSON object")
        typ = body.get("type", "limit")
        if typ not in ("limit", "market"):
            raise SpotReject("400100", f"order type {typ!r} is invalid (limit or market)")
        coid = str(body.get("clientOid") or uuid.uuid4().hex)
        if len(coid) > 40:
            raise SpotReject("400100", "clientOid must be at most 40 characters")
        if typ == "market":
            for f in ("symbol", "side"):
                if body.get(f) in (None, ""):
                    raise SpotReject("400100", f"{f} is required")
            num = lambda k: D(str(body[k])) if body.get(k) not in (None, "") else None  # noqa: E731
            return {"market": True, "symbol": str(body["symbol"]), "side": str(body["side"]), "size": num("size"),
                    "funds": num("funds"), "client_oid": coid}
        for f in ("symbol", "side", "price", "size"):
            if body.get(f) in (None, ""):
                raise SpotReject("400100", f"{f} is required")
        tif = body.get("timeInForce") or "GTC"
        return {"symbol": str(body["symbol"]), "side": str(body["side"]), "price": D(str(body["price"])),
                "size": D(str(body["size"])), "tif": tif, "post_only": bool(body.get("postOnly", False)),
                "client_oid": coid, "cancel_after_s": int(body.get("cancelAfter") or 0)}

    async def _place(self, request: web.Request) -> SpotOrder:
        p = await self._order_params(request)
        if p.pop("market", False):
            return self.engine.submit_market(request[ACCOUNT], **p)
        return self.engine.submit(request[ACCOUNT], **p)

    async def _add_order(self, request: web.Request) -> web.Response:
        o = await self._place(request)
        return _ok({"orderId": o.order_id, "clientOid": o.client_oid})

    def _sync_doc(self, o: SpotOrder) -> dict[str, Any]:
        return {"orderId": o.order_id, "clientOid": o.client_oid, "orderTime": o.created_ms, "originSize": _s(o.size),
                "dealSize": _s(o.deal_size), "remainSize": _s(o.remaining), "canceledSize": _s(o.cancelled_size),
                "status": "open" if o.active else "done", "matchTime": o.updated_ms}

    async def _add_order_sync(self, request: web.Request) -> web.Response:
        return _ok(self._sync_doc(await self._place(request)))

    async def _add_order_test(self, request: web.Request) -> web.Response:
        """Same parameters and answer as an order (signature checked by the middleware, the body
        validated exactly as a real order: increments, minimums, trading enabled); nothing enters
        the matching engine and the order cannot be queried (spec ``openapi-spot-order.json`` Add
        Order Test). Balance is not checked: the spec does not say the test checks it."""
        p = await self._order_params(request)
        m = self.engine.spot_markets.get(p["symbol"])
        if p.pop("market", False):
            self.engine._validate_market(m, p["side"], p["size"], p["funds"])
        else:
            self.engine._validate(m, p["side"], p["price"], p["size"], p["tif"])
        self.order_tests += 1
        return _ok({"orderId": uuid.uuid4().hex[:24], "clientOid": p["client_oid"]})

    def _order_doc(self, o: SpotOrder) -> dict[str, Any]:
        return {"id": o.order_id, "clientOid": o.client_oid, "symbol": o.symbol, "opType": "DEAL", "type": o.type,
                "side": o.side, "price": _s(o.price), "size": _s(o.size),
                "funds": _s(o.funds if o.type == "market" else o.price * o.size),
                "dealSize": _s(o.deal_size), "dealFunds": _s(o.deal_funds), "remainSize": _s(o.remaining),
                "remainFunds": _s(o.price * o.remaining), "cancelledSize": _s(o.cancelled_size),
                "cancelledFunds": _s(o.price * o.cancelled_size), "fee": _s(o.fee), "feeCurrency": o.fee_currency,
                "stp": None, "timeInForce": o.tif, "postOnly": o.post_only, "hidden": False, "iceberg": False,
                "visibleSize": "0", "cancelAfter": 0, "channel": "API", "remark": None, "tags": None,
                "cancelExist": o.status == "CANCELED", "tradeType": "TRADE", "inOrderBook": o.in_book,
                "active": o.active, "tax": "0", "createdAt": o.created_ms, "lastUpdatedAt": o.updated_ms}

    def _find(self, request: web.Request, *, oid: str = "", coid: str = "") -> SpotOrder:
        sym = self._symbol_param(request)
        acct = request[ACCOUNT]
        o = self.engine.order(oid) if oid else self.engine.order_by_client_id(acct, coid)
        if o is None or o.account_id != acct or o.symbol != sym:
            raise SpotReject("400100", "order not exist.")
        return o

    async def _get_by_id(self, request: web.Request) -> web.Response:
        return _ok(self._order_doc(self._find(request, oid=request.match_info["oid"])))

    async def _get_by_coid(self, request: web.Request) -> web.Response:
        return _ok(self._order_doc(self._find(request, coid=unquote(request.match_info["coid"]))))

    def _cancel(self, request: web.Request, *, oid: str = "", coid: str = "") -> SpotOrder:
        try:
            o = self._find(request, oid=oid, coid=coid)
        except SpotReject:
            raise SpotReject("400100", "order_not_exist_or_not_allow_to_cancel") from None
        return self.engine.cancel(request[ACCOUNT], o.order_id)

    async def _cancel_by_id(self, request: web.Request) -> web.Response:
        return _ok({"orderId": self._cancel(request, oid=request.match_info["oid"]).order_id})

    async def _cancel_by_coid(self, request: web.Request) -> web.Response:
        return _ok({"clientOid": self._cancel(request, coid=unquote(request.match_info["coid"])).client_oid})

    async def _cancel_by_id_sync(self, request: web.Request) -> web.Response:
        return _ok(self._sync_doc(self._cancel(request, oid=request.match_info["oid"])))

    async def _cancel_by_coid_sync(self, request: web.Request) -> web.Response:
        return _ok(self._sync_doc(self._cancel(request, coid=unquote(request.match_info["coid"]))))

    async def _active(self, request: web.Request) -> web.Response:
        sym = self._symbol_param(request)
        return _ok([self._order_doc(o) for o in self.engine.open_order_objs(request[ACCOUNT], sym)])

    async def _active_symbols(self, request: web.Request) -> web.Response:
        return _ok({"symbols": sorted({o.symbol for o in self.engine.open_order_objs(request[ACCOUNT])})})

    async def _cancel_all(self, request: web.Request) -> web.Response:
        done = self.engine.cancel_all(request[ACCOUNT])
        return _ok({"succeedSymbols": sorted({o.symbol for o in done}), "failedSymbols": []})

    async def _cancel_symbol(self, request: web.Request) -> web.Response:
        self.engine.cancel_all(request[ACCOUNT], self._symbol_param(request))
        return _ok("success")

    async def _fills(self, request: web.Request) -> web.Response:
        acct = request[ACCOUNT]
        sym = self._symbol_param(request)
        q = request.query
        oid = q.get("orderId")
        start = int(q.get("startAt") or 0) * 1_000_000
        end = int(q.get("endAt") or 0) * 1_000_000
        limit = min(100, int(q.get("limit") or 20))
        items = []
        for t in reversed(self.engine.trade_objs(acct, sym)):
            for mine, o_id, liq, fee, side in (
                    (t.taker_account == acct, t.taker_order_id, "taker", t.taker_fee, t.taker_side),
                    (t.maker_account == acct, t.maker_order_id, "maker", t.maker_fee,
                     "sell" if t.taker_side == "buy" else "buy")):
                if not mine or (oid and o_id != oid) or t.ts_ns < start or (end and t.ts_ns > end):
                    continue
                m = self.engine.spot_markets[t.symbol]
                items.append({"id": int(t.trade_id) * 2 + (liq == "maker"), "symbol": t.symbol, "tradeId": int(t.trade_id),
                              "orderId": o_id, "counterOrderId": t.maker_order_id if liq == "taker" else t.taker_order_id,
                              "side": side, "liquidity": liq, "forceTaker": False, "price": _s(t.price),
                              "size": _s(t.size), "funds": _s(t.price * t.size), "fee": _s(fee),
                              "feeRate": _s(m.taker_rate if liq == "taker" else m.maker_rate),
                              "feeCurrency": t.fee_currency, "stop": "", "tradeType": "TRADE", "taxRate": "0",
                              "tax": "0", "type": "limit", "createdAt": t.ts_ns // 1_000_000})
        items = items[:limit]
        return _ok({"items": items, "lastId": items[-1]["id"] if items else None})

    # --- WebSocket ------------------------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        token = request.query.get("token", "")
        connect_id = request.query.get("connectId", "")
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        if token not in self.tokens:
            await ws.send_str(_dumps({"id": connect_id, "type": "error", "code": 401, "data": "token is invalid"}))
            await ws.close()
            return ws
        s = _Session(ws, self.tokens[token], connect_id)
        self.sessions.add(s)
        writer = asyncio.create_task(self._writer(s))
        self._send(s, {"id": connect_id, "type": "welcome"})
        try:
            async for msg in ws:
                s.last_client_mono = time.monotonic()
                if msg.type == WSMsgType.TEXT:
                    self._command(s, msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            s.closed = True
            self.sessions.discard(s)
            writer.cancel()
            with contextlib.suppress(BaseException):
                await writer
        return ws

    async def _writer(self, s: _Session) -> None:
        while True:
            text, delay = await s.queue.get()
            if delay:
                await self.clock.sleep(delay)
            if s.ws.closed:
                return
            try:
                await s.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    def _send(self, s: _Session, obj: Any, delay: float = 0.0) -> None:
        if not s.closed:
            s.queue.put_nowait((_dumps(obj), delay))

    def _command(self, s: _Session, text: str) -> None:
        try:
            cmd = json.loads(text)
        except ValueError:
            self._send(s, {"id": "", "type": "error", "code": 400, "data": "message is not valid JSON"})
            return
        if not isinstance(cmd, dict):
            self._send(s, {"id": "", "type": "error", "code": 400, "data": "message must be an object"})
            return
        mid = str(cmd.get("id", ""))
        typ = cmd.get("type")
        if typ == "ping":
            self._send(s, {"id": mid, "type": "pong", "timestamp": time.time_ns() // 1000})
            return
        if typ not in ("subscribe", "unsubscribe"):
            self._send(s, {"id": mid, "type": "error", "code": 400, "data": f"unknown type {typ!r}"})
            return
        topic = str(cmd.get("topic", ""))
        prefix, _, args = topic.partition(":")
        if prefix in ("/spotMarket/tradeOrdersV2", "/spotMarket/tradeOrders", "/account/balance"):
            if s.account is None:
                self._send(s, {"id": mid, "type": "error", "code": 401, "data": "private topic needs a private token"})
                return
            topics = [prefix]
        elif prefix in ("/market/level2", "/market/match", DEPTH_TOPIC):
            syms = [x for x in args.split(",") if x]
            if not syms:
                self._send(s, {"id": mid, "type": "error", "code": 400, "data": "topic has no symbol"})
                return
            if len(syms) > MAX_SYMBOLS_PER_SUBSCRIBE:
                self._send(s, {"id": mid, "type": "error", "code": 400,
                               "data": f"exceed max subscription count limitation of {MAX_SYMBOLS_PER_SUBSCRIBE} per time"})
                return
            bad = [x for x in syms if x not in self.engine.spot_markets]
            if bad:
                self._send(s, {"id": mid, "type": "error", "code": 404, "data": f"topic {prefix}:{bad[0]} is not found"})
                return
            topics = [f"{prefix}:{x}" for x in syms]
        else:
            self._send(s, {"id": mid, "type": "error", "code": 404, "data": f"topic {topic} is not found"})
            return
        if typ == "subscribe":
            if len(s.topics | set(topics)) > MAX_TOPICS:
                self._send(s, {"id": mid, "type": "error", "code": 509,
                               "data": f"exceed max topic count limitation of {MAX_TOPICS} per connection"})
                return
            s.topics.update(topics)
        else:
            s.topics.difference_update(topics)
        if cmd.get("response", True):
            self._send(s, {"id": mid, "type": "ack"})
        if typ == "subscribe" and prefix == DEPTH_TOPIC:
            for t in topics:  # the current book at once, so a quiet book is not invisible
                self._deliver(s, DEPTH_TOPIC, self._depth_msg(t.partition(":")[2]))

    # --- engine events -> WS --------------------------------------------------------------------

    def _depth_msg(self, sym: str) -> dict[str, Any]:
        _, bids, asks = self.engine.book_levels(sym)
        conv = lambda lv: [[_s(p), _s(q)] for p, q in lv[:DEPTH_LEVELS] if q > 0]  # noqa: E731
        return {"topic": f"{DEPTH_TOPIC}:{sym}", "type": "message", "subject": "level2",
                "data": {"asks": conv(asks), "bids": conv(bids), "timestamp": self.clock.now_ns() // 1_000_000}}

    async def _depth_loop(self) -> None:
        """Push the depth50 snapshot of each book that changed since the last push."""
        while True:
            await asyncio.sleep(DEPTH_PUSH_S)
            dirty, self._depth_dirty = self._depth_dirty, set()
            for sym in sorted(dirty):
                topic = f"{DEPTH_TOPIC}:{sym}"
                subs = [s for s in list(self.sessions) if topic in s.topics]
                if subs:
                    msg = self._depth_msg(sym)
                    for s in subs:
                        self._deliver(s, DEPTH_TOPIC, msg)

    def _deliver(self, s: _Session, channel: str, msg: dict[str, Any]) -> None:
        hit = self.faults.ws_fault(VENUE, channel) if self.faults is not None else None
        kind = hit.kind.value if hit is not None else ""
        if kind in ("WS_SEQ_GAP", "WS_FREEZE"):
            return
        if kind == "WS_DISCONNECT":
            s.closed = True
            asyncio.get_running_loop().create_task(s.ws.close())
            return
        delay = float(hit.spec.delay_s) if kind == "WS_DELAY" else 0.0
        self._send(s, msg, delay)
        if kind == "WS_DUPLICATE":
            self._send(s, msg)

    def _on_events(self, events: list[SpotEvent]) -> None:
        if not self.sessions:
            return
        levels: dict[str, list[dict[str, Any]]] = {}
        for e in events:
            if e.kind == "level":
                levels.setdefault(e.symbol, []).append(e.data)
        now_ms = self.clock.now_ns() // 1_000_000
        self._depth_dirty.update(levels)
        for sym, changes in levels.items():
            topic = f"/market/level2:{sym}"
            asks = [[_s(c["price"]), _s(c["size"]), str(c["seq"])] for c in changes if not c["is_bid"]]
            bids = [[_s(c["price"]), _s(c["size"]), str(c["seq"])] for c in changes if c["is_bid"]]
            msg = {"topic": topic, "type": "message", "subject": "trade.l2update",
                   "data": {"changes": {"asks": asks, "bids": bids}, "sequenceEnd": changes[-1]["seq"],
                            "sequenceStart": changes[0]["seq"], "symbol": sym, "time": now_ms}}
            for s in list(self.sessions):
                if topic in s.topics:
                    self._deliver(s, "/market/level2", msg)
        for e in events:
            if e.kind == "order":
                d = dict(e.data)
                acct = d.pop("account")
                msg = {"topic": "/spotMarket/tradeOrdersV2", "type": "message", "subject": "orderChange",
                       "userId": acct[:24], "channelType": "private", "data": d}
                for s in list(self.sessions):
                    if s.account == acct and "/spotMarket/tradeOrdersV2" in s.topics:
                        self._deliver(s, "/spotMarket/tradeOrdersV2", msg)
            elif e.kind == "balance":
                d = e.data
                acct = d["account"]
                self._balance_events += 1
                msg = {"topic": "/account/balance", "type": "message", "subject": "account.balance",
                       "id": str(354689988084000 + self._balance_events), "userId": acct[:24], "channelType": "private",
                       "data": {"accountId": hashlib.sha1(f"{acct}:{d['currency']}".encode()).hexdigest()[:24],
                                "currency": d["currency"], "total": _s(d["total"]), "available": _s(d["available"]),
                                "hold": _s(d["hold"]), "relationEvent": d["relationEvent"],
                                "relationContext": {"symbol": e.symbol, "orderId": d["orderId"]},
                                "time": str(now_ms)}}
                for s in list(self.sessions):
                    if s.account == acct and "/account/balance" in s.topics:
                        self._deliver(s, "/account/balance", msg)
            elif e.kind == "trade":
                topic = f"/market/match:{e.symbol}"
                d = e.data
                msg = {"topic": topic, "type": "message", "subject": "trade.l3match",
                       "data": {"symbol": e.symbol, "side": d["side"], "price": _s(d["price"]), "size": _s(d["size"]),
                                "tradeId": d["tradeId"], "makerOrderId": d["makerOrderId"],
                                "takerOrderId": d["takerOrderId"], "type": "match", "time": str(self.clock.now_ns())}}
                for s in list(self.sessions):
                    if topic in s.topics:
                        self._deliver(s, "/market/match", msg)


__all__ = ["KucoinServer", "MM_ACCOUNT"]
