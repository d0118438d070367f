"""Simulated Polymarket CLOB (V2): REST + WebSocket server speaking the venue's protocol.

The official ``py-clob-client-v2`` works against it unchanged (host = ``rest_url``, chain 137):
L1 ClobAuth EIP-712 to create/derive API keys, L2 HMAC on every authenticated route, signed
CTF Exchange V2 orders (EIP-712, verified against the standard or the neg-risk exchange), and
the venue's answers and error bodies. Matching, balances and settlement are the simulator's
``MatchingEngine``; this module is the venue's wire protocol around it.

Routes: see :meth:`PolymarketServer._routes`. The WebSocket channels ``/ws/market`` and
``/ws/user`` are in ``streams.py``. Order-entry errors are the venue's documented messages as
``{"error": ...}`` with its status codes (docs.polymarket.com, "Error Codes").
"""

from __future__ import annotations

import asyncio
import json
import logging
from decimal import Decimal
from fractions import Fraction
from http import HTTPStatus
from typing import Any, Awaitable, Callable

from aiohttp import web

from arbkit.core.enums import Side
from arbkit.sim.engine import OrderParams, RejectCode
from arbkit.sim.events import SimOrderStatus, Tif
from arbkit.sim.polymarket import eip712
from arbkit.sim.polymarket import messages as m
from arbkit.sim.polymarket.auth import ApiCreds, ApiKeyStore, AuthError
from arbkit.sim.polymarket.streams import ERR_FOK, StreamHub
from arbkit.sim.polymarket.state import (
    COLLATERAL,
    END_CURSOR,
    MAX_UINT256,
    MarketInfo,
    Token,
    VenueState,
    decode_cursor,
    encode_cursor,
)

log = logging.getLogger(__name__)

VENUE = "polymarket"
ORDER_TYPES = ("GTC", "GTD", "FOK", "FAK")
_TIF = {"GTC": Tif.GTC, "GTD": Tif.GTD, "FOK": Tif.FOK, "FAK": Tif.IOC}
MICRO = Decimal("0.000001")
GTD_SECURITY_THRESHOLD_S = 60

ERR_PAYLOAD = "Invalid order payload"
ERR_OWNER = "the order owner has to be the owner of the API KEY"
ERR_SIGNER = "the order signer address has to be the address of the API KEY"
ERR_SIGNATURE = "invalid signature"
# Accounts created as new API users must use deposit wallets (POLY_1271): docs.polymarket.com
# trading/deposit-wallets; the venue's text as reported in py-clob-client-v2#83/#51/#74/#116.
ERR_DEPOSIT_WALLET_FLOW = "maker address not allowed, please use the deposit wallet flow"
ERR_BALANCE = "not enough balance / allowance"
ERR_POST_ONLY_TYPE = "invalid post-only order: only GTC and GTD order types are allowed"
ERR_POST_ONLY_CROSS = "invalid post-only order: order crosses book"
ERR_FAK = "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found."
ERR_EXPIRATION = "invalid expiration"
ERR_HALTED = "Trading is currently disabled. Check polymarket.com for updates"
ERR_TOKEN = "Invalid token id"
ERR_NO_BOOK = "No orderbook exists for the requested token id"
ERR_MARKET = "market not found"
ERR_CANCEL_DONE = "already canceled or matched"
ERR_CANCEL_UNKNOWN = "order not found"


class ApiError(Exception):
    """An answer the venue gives as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _status_for(message: str, status: int) -> int:
    # The CLOB overrides the status by message text (documented): "not found" -> 404,
    # "unauthorized" -> 401, "context canceled" -> 400.
    low = message.lower()
    if "not found" in low:
        return 404
    if "unauthorized" in low:
        return 401
    if "context canceled" in low:
        return 400
    return status


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=_status_for(message, status),
        body=m.encode(m.ErrorBody(message)),
        content_type="application/json",
        headers=headers,
    )


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=m.encode(obj), content_type="application/json")


def _decimals_of(units: int) -> int:
    """Decimals a micro-unit amount carries (0..6)."""
    d = 6
    while d > 0 and units % 10 == 0:
        units //= 10
        d -= 1
    return d


def _amount_precision_error(side: Side, order_type: str, tick: Decimal, maker: int, taker: int) -> str | None:
    """The venue's amount-precision refusal, or None.

    Market orders (FOK/FAK): maker amount at most 2 decimals, taker amount at most 4, whatever the
    tick: "invalid amounts, the market buy orders maker amount supports a max accuracy of 2
    decimals, taker amount a max of 4 decimals" (py-clob-client-v2#99, rs-clob-client-v2#59,
    rs-clob-client#114; the sell wording is assumed by symmetry). Limit orders (GTC/GTD): shares at
    most 2 decimals, collateral at most tick decimals + 2 ("invalid amounts, the buy orders maker
    amount supports a max accuracy of 4 decimals, taker amount a max of 2 decimals" on a 0.01 tick:
    py-clob-client#305/#253, clob-client#124). Checked 2026-12-04."""
    word = "buy" if side is Side.BUY else "sell"
    if order_type in ("FOK", "FAK"):
        md, td, word = 2, 4, "market " + word
    else:
        coll = max(0, -tick.normalize().as_tuple().exponent) + 2  # type: ignore[operator]
        md, td = (coll, 2) if side is Side.BUY else (2, coll)
    if _decimals_of(maker) <= md and _decimals_of(taker) <= td:
        return None
    return (f"invalid amounts, the {word} orders maker amount supports a max accuracy of {md} decimals, "
            f"taker amount a max of {td} decimals")


class PolymarketServer:
    """The simulated Polymarket venue server (implements the runner's ``VenueServer`` protocol)."""

    def __init__(
        self,
        ctx: Any,
        *,
        page_size: int = 100,
        max_assets: int = 500,
        max_batch: int = 15,
        hmac_max_skew_s: float | None = None,
        heartbeat_timeout_s: float = 10.0,
    ) -> None:
        self.ctx = ctx
        self.engine = ctx.engine
        self.clock = ctx.clock
        self.faults = getattr(ctx, "faults", None)
        self.chain_id = eip712.CHAIN_ID_POLYGON
        seed = getattr(ctx, "seed", None)
        if seed is None:
            seed = getattr(getattr(ctx, "scenario", None), "seed", 0) or 0
        self.keys = ApiKeyStore(int(seed), self.chain_id, hmac_max_skew_s, now_s=lambda: self.clock.now_ns() / 1e9)
        self.state = VenueState(self.engine, getattr(ctx, "markets", None) or ())
        self.page_size = page_size
        self.max_assets = max_assets
        self.max_batch = max_batch
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._host = "127.0.0.1"
        self._port = 0
        self._tasks: set[asyncio.Task] = set()
        self._unsubscribe: Callable[[], None] | None = None
        # Order-safety heartbeats: once an account has sent one, missing the next for this long
        # cancels all its open orders (the venue's dead-man switch).
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self._heartbeats: dict[str, int] = {}  # account -> clock ns of its last heartbeat
        from arbkit.sim.polymarket.chain import SimChain

        # the Polygon JSON-RPC endpoint (merge / redeem by signed transaction) at /rpc
        self.chain = SimChain(self.engine, self.state, self.chain_id, "USDC")
        self.streams = StreamHub(self.state, self.keys, self.clock, self.faults, self._spawn, max_assets=max_assets)
        scenario = getattr(ctx, "scenario", None)
        if scenario is not None and hasattr(scenario, "listing_listeners"):
            scenario.listing_listeners.append(self._on_listed)
        # Accounts created as new API users (deposit wallets): the standalone context's
        # ``deposit_wallet_accounts``, or a scenario's ``polymarket_deposit_wallet_accounts = [0, ...]``
        # (indexes of the venue's test accounts).
        accounts = [a for a in (getattr(ctx, "accounts", None) or ()) if getattr(a, "address", None)]
        indexes = getattr(ctx, "deposit_wallet_accounts", None)
        if not indexes:
            data = getattr(getattr(ctx, "scenario", None), "data", None)
            indexes = data.get("polymarket_deposit_wallet_accounts", ()) if isinstance(data, dict) else ()
        for i in indexes or ():
            if not isinstance(i, int) or not 0 <= i < len(accounts):
                raise ValueError(f"deposit wallet account index {i!r} out of range (0..{len(accounts) - 1})")
            self.register_deposit_wallet(accounts[i].address, new_api_user=True)

    def _on_listed(self, sm: Any) -> None:
        """The scenario listed a market mid-run (already in the engine): serve it, announce it."""
        if getattr(sm, "venue", "") != "polymarket":
            return
        spec = self.engine.market(sm.market_id)
        info = self.state.add_market(spec, sm)
        self.streams.announce_new_market(info, spec.tick_size, self.clock.now_ns())

    def register_deposit_wallet(self, owner: str, new_api_user: bool = True) -> str:
        """Give ``owner`` (an EOA) a deposit wallet and return its address. An owner created as a
        new API user (the default) may only trade through it: orders with signature types 0-2 are
        refused with the venue's "maker address not allowed, please use the deposit wallet flow"."""
        owner_l = "0x" + eip712.address_bytes(owner).hex()
        wallet = eip712.deposit_wallet_address(owner_l, str(getattr(self.ctx, "seed", 0) or 0))
        self.state.deposit_wallets["0x" + eip712.address_bytes(wallet).hex()] = owner_l
        self.state.deposit_wallet_of[owner_l] = wallet
        if new_api_user:
            self.state.new_api_users.add(owner_l)
        return wallet

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1") -> None:
        if host != "127.0.0.1":
            raise ValueError("the simulator only binds 127.0.0.1")
        self._host = host
        self.streams.prime()
        self._unsubscribe = self.engine.subscribe(self.streams.on_batch)
        app = web.Application(middlewares=[self._middleware])
        self._routes(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, host, int((getattr(self.ctx, "extra", None) or {}).get("port", 0)))  # arbkit sim --ports
        await self._site.start()
        server = self._site._server
        assert server is not None and server.sockets
        self._port = server.sockets[0].getsockname()[1]
        replay = getattr(self.ctx, "replay", None)
        if replay is not None:
            self._spawn(self.streams.replay(replay))
        self._spawn(self._heartbeat_watch())

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await self.streams.close_all()
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def rest_url(self) -> str:
        return f"http://{self._host}:{self._port}"

    def info(self) -> dict[str, Any]:
        accounts = []
        for a in getattr(self.ctx, "accounts", None) or ():
            if not getattr(a, "private_key", None):
                continue
            row = {"private_key": a.private_key, "address": a.address}
            wallet = self.state.deposit_wallet_of.get(a.address.lower())
            if wallet:  # a deposit-wallet account: sign as POLY_1271 with this wallet as funder
                row["deposit_wallet"] = wallet
                row["signature_type"] = eip712.SIGNATURE_TYPE_POLY_1271
            accounts.append(row)
        markets = []
        for info in self.state.markets.values():
            spec = self.state.spec(info.condition_id)
            markets.append(
                {
                    "condition_id": info.condition_id,
                    "question": info.question,
                    "neg_risk": info.neg_risk,
                    "tick_size": m.fmt(spec.tick_size),
                    "event_id": info.event_id,
                    "tokens": [
                        {"token_id": info.yes.token_id, "outcome": info.yes.label},
                        {"token_id": info.no.token_id, "outcome": info.no.label},
                    ],
                }
            )
        ws = f"ws://{self._host}:{self._port}"
        return {
            "rest_url": self.rest_url,
            "ws_market_url": f"{ws}/ws/market",
            "ws_user_url": f"{ws}/ws/user",
            "gamma_url": f"{self.rest_url}/gamma",
            "rpc_url": f"{self.rest_url}/rpc",
            "chain_id": self.chain_id,
            "exchange": eip712.EXCHANGE_V2,
            "neg_risk_exchange": eip712.NEG_RISK_EXCHANGE_V2,
            "accounts": accounts,
            "markets": markets,
        }

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _now_ns(self) -> int:
        return self.clock.now_ns()

    # --- routing ------------------------------------------------------------------------------

    def _routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/ok", self._ok)
        r.add_get("/time", self._time)
        r.add_get("/version", self._version)
        r.add_get("/book", self._book)
        r.add_post("/books", self._books)
        r.add_get("/price", self._price)
        r.add_post("/prices", self._prices)
        r.add_get("/midpoint", self._midpoint)
        r.add_post("/midpoints", self._midpoints)
        r.add_get("/spread", self._spread)
        r.add_get("/last-trade-price", self._last_trade_price)
        r.add_get("/tick-size", self._tick_size)
        r.add_get("/neg-risk", self._neg_risk)
        r.add_get("/fee-rate", self._fee_rate)
        r.add_get("/markets", self._markets)
        r.add_get("/markets/{condition_id}", self._market)
        r.add_get("/clob-markets/{condition_id}", self._clob_market_info)
        r.add_get("/markets-by-token/{token_id}", self._market_by_token)
        for prefix in ("", "/gamma"):
            r.add_get(f"{prefix}/events", self._gamma_events)
            r.add_get(f"{prefix}/events/{{event_id}}", self._gamma_event)
        r.add_post("/auth/api-key", self._create_api_key)
        r.add_get("/auth/derive-api-key", self._derive_api_key)
        r.add_get("/auth/api-keys", self._api_keys)
        r.add_delete("/auth/api-key", self._delete_api_key)
        r.add_get("/auth/ban-status/closed-only", self._closed_only)
        r.add_post("/order", self._post_order)
        r.add_post("/orders", self._post_orders)
        r.add_delete("/order", self._cancel_order)
        r.add_delete("/orders", self._cancel_orders)
        r.add_delete("/cancel-all", self._cancel_all)
        r.add_delete("/cancel-market-orders", self._cancel_market_orders)
        r.add_get("/data/orders", self._open_orders)
        r.add_get("/data/order/{order_id}", self._get_order)
        r.add_get("/data/trades", self._trades)
        r.add_get("/balance-allowance", self._balance_allowance)
        r.add_get("/balance-allowance/update", self._balance_allowance_update)
        r.add_post("/v1/heartbeats", self._heartbeat)
        r.add_post("/heartbeats", self._heartbeat)
        r.add_post("/rpc", self.chain.handle)
        r.add_get("/ws/market", self.streams.ws_market)
        r.add_get("/ws/user", self.streams.ws_user)

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if self.faults is not None and not request.path.startswith("/ws/"):
            hit = self.faults.rest_fault(VENUE, request.method, request.path)
            if hit is not None:
                kind = getattr(hit.kind, "value", hit.kind)
                if kind == "REST_429":
                    retry = hit.spec.retry_after_s
                    retry_s = str(int(retry)) if float(retry).is_integer() else str(retry)
                    return _error(429, "Too Many Requests", headers={"Retry-After": retry_s})
                if kind == "REST_5XX":
                    status = hit.spec.status or 503
                    msg = "Internal server error" if status == 500 else HTTPStatus(status).phrase
                    return _error(status, msg)
                if kind == "SLOW_ACK":
                    await self.clock.sleep(float(hit.spec.delay_s))
        try:
            return await handler(request)
        except ApiError as exc:
            return _error(exc.status, exc.message)
        except AuthError as exc:
            return _error(exc.status, exc.message)
        except web.HTTPException:
            raise
        except Exception:  # an unexpected bug answers like the venue, never kills the server
            log.exception("polymarket sim: unhandled error on %s %s", request.method, request.path)
            return _error(500, "Internal server error")

    # --- helpers ------------------------------------------------------------------------------

    async def _l2(self, request: web.Request) -> tuple[ApiCreds, str]:
        body = await request.text()
        creds = self.keys.verify_l2(request.headers, request.method, request.path, body)
        return creds, body

    def _token(self, token_id: str | None) -> Token:
        if not token_id:
            raise ApiError(400, ERR_TOKEN)
        tok = self.state.tokens.get(token_id)
        if tok is None:
            raise ApiError(404, ERR_NO_BOOK)
        return tok

    def _token_for_market(self, token_id: str | None) -> Token:
        if not token_id:
            raise ApiError(400, ERR_TOKEN)
        tok = self.state.tokens.get(token_id)
        if tok is None:
            raise ApiError(404, ERR_MARKET)
        return tok

    def _page(self, items: list[Any], cursor: str | None, limit: int | None = None) -> m.Page:
        try:
            offset = decode_cursor(cursor)
        except ValueError as exc:
            raise ApiError(400, "Invalid next_cursor") from exc
        size = limit or self.page_size
        if offset < 0:
            return m.Page(data=[], next_cursor=END_CURSOR, limit=size, count=0)
        chunk = items[offset : offset + size]
        nxt = offset + size
        return m.Page(
            data=chunk,
            next_cursor=encode_cursor(nxt) if nxt < len(items) else END_CURSOR,
            limit=size,
            count=len(chunk),
        )

    @staticmethod
    async def _json_body(request: web.Request, error: str = "Invalid payload") -> Any:
        text = await request.text()
        try:
            return json.loads(text) if text else None
        except ValueError as exc:
            raise ApiError(400, error) from exc

    # --- public REST --------------------------------------------------------------------------

    async def _ok(self, request: web.Request) -> web.Response:
        return _json("OK")

    async def _time(self, request: web.Request) -> web.Response:
        return web.Response(text=str(self._now_ns() // 1_000_000_000), content_type="application/json")

    async def _version(self, request: web.Request) -> web.Response:
        return _json({"version": 2})

    async def _book(self, request: web.Request) -> web.Response:
        tok = self._token(request.query.get("token_id"))
        return _json(self.state.book_summary(tok, self._now_ns()))

    async def _books(self, request: web.Request) -> web.Response:
        items = await self._json_body(request)
        if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("token_id"), str) for i in items):
            raise ApiError(400, "Invalid payload")
        if len(items) > self.max_assets:
            raise ApiError(400, "Payload exceeds the limit")
        now = self._now_ns()
        out = []
        for item in items:
            tok = self.state.tokens.get(item["token_id"])
            if tok is not None:
                out.append(self.state.book_summary(tok, now))
        return _json(out)

    def _price_of(self, tok: Token, side: str | None) -> Decimal:
        if side not in ("BUY", "SELL"):
            raise ApiError(400, "Invalid side")
        bid, ask = self.state.best(tok)
        # The venue answers BUY with the best bid and SELL with the best ask.
        px = bid if side == "BUY" else ask
        if px is None:
            raise ApiError(404, ERR_NO_BOOK)
        return px

    async def _price(self, request: web.Request) -> web.Response:
        tok = self._token(request.query.get("token_id"))
        return _json({"price": m.fmt(self._price_of(tok, request.query.get("side")))})

    async def _prices(self, request: web.Request) -> web.Response:
        items = await self._json_body(request)
        if not isinstance(items, list):
            raise ApiError(400, "Invalid payload")
        out: dict[str, dict[str, str]] = {}
        for item in items:
            if not isinstance(item, dict):
                raise ApiError(400, "Invalid payload")
            tok = self.state.tokens.get(str(item.get("token_id")))
            if tok is None:
                continue
            try:
                out.setdefault(tok.token_id, {})[str(item.get("side"))] = m.fmt(self._price_of(tok, item.get("side")))
            except ApiError as exc:
                if exc.status == 400:
                    raise
        return _json(out)

    def _mid(self, tok: Token) -> Decimal:
        bid, ask = self.state.best(tok)
        if bid is None or ask is None:
            raise ApiError(404, ERR_NO_BOOK)
        return (bid + ask) / 2

    async def _midpoint(self, request: web.Request) -> web.Response:
        tok = self._token(request.query.get("token_id"))
        return _json({"mid": m.fmt(self._mid(tok))})

    async def _midpoints(self, request: web.Request) -> web.Response:
        items = await self._json_body(request)
        if not isinstance(items, list):
            raise ApiError(400, "Invalid payload")
        out = {}
        for item in items:
            tok = self.state.tokens.get(str(item.get("token_id"))) if isinstance(item, dict) else None
            if tok is None:
                continue
            try:
                out[tok.token_id] = m.fmt(self._mid(tok))
            except ApiError:
                continue
        return _json(out)

    async def _spread(self, request: web.Request) -> web.Response:
        tok = self._token(request.query.get("token_id"))
        bid, ask = self.state.best(tok)
        if bid is None or ask is None:
            raise ApiError(404, ERR_NO_BOOK)
        return _json({"spread": m.fmt(ask - bid)})

    async def _last_trade_price(self, request: web.Request) -> web.Response:
        tok = self._token(request.query.get("token_id"))
        lt = self.state.last_trade.get(tok.token_id)
        return _json({"price": m.fmt(lt[0]) if lt else "0", "side": lt[1].value if lt else ""})

    async def _tick_size(self, request: web.Request) -> web.Response:
        tok = self._token_for_market(request.query.get("token_id"))
        # A JSON number, as the venue answers (the client turns it into its tick-size key).
        return web.Response(
            text='{"minimum_tick_size":' + m.fmt(self.state.spec(tok.market_id).tick_size) + "}",
            content_type="application/json",
        )

    async def _neg_risk(self, request: web.Request) -> web.Response:
        tok = self._token_for_market(request.query.get("token_id"))
        return _json({"neg_risk": self.state.markets[tok.market_id].neg_risk})

    async def _fee_rate(self, request: web.Request) -> web.Response:
        tok = self._token_for_market(request.query.get("token_id"))
        return _json({"base_fee": str(self.state.fee_rate_bps(tok.market_id))})

    async def _markets(self, request: web.Request) -> web.Response:
        items = [self.state.clob_market(info) for info in self.state.markets.values()]
        return _json(self._page(items, request.query.get("next_cursor")))

    def _market_info(self, condition_id: str) -> MarketInfo:
        info = self.state.markets.get(condition_id)
        if info is None:
            raise ApiError(404, ERR_MARKET)
        return info

    async def _market(self, request: web.Request) -> web.Response:
        return _json(self.state.clob_market(self._market_info(request.match_info["condition_id"])))

    async def _clob_market_info(self, request: web.Request) -> web.Response:
        info = self._market_info(request.match_info["condition_id"])
        spec = self.state.spec(info.condition_id)
        rate, exponent = self.state.fee_info(info.condition_id)
        fee = spec.fee
        taker_only = not (getattr(fee, "kind", "none") == "polymarket" and fee.maker_rate > 0)
        # Compact market info the V2 client reads (t = tokens, mts = tick, nr = neg risk,
        # fd = {r: feeRate, e: exponent, to: takerOnly} as docs.polymarket.com trading/fees shows it).
        body = {
            "c": info.condition_id,
            "t": [{"t": info.yes.token_id, "o": info.yes.label}, {"t": info.no.token_id, "o": info.no.label}],
            "mts": float(spec.tick_size),
            "mos": float(spec.min_size),
            "nr": info.neg_risk,
            "fd": {"r": rate, "e": exponent, "to": taker_only},
        }
        return _json(body)

    async def _market_by_token(self, request: web.Request) -> web.Response:
        tok = self._token_for_market(request.match_info["token_id"])
        info = self.state.markets[tok.market_id]
        return _json(
            {
                "condition_id": tok.market_id,
                "primary_token_id": info.yes.token_id,
                "secondary_token_id": info.no.token_id,
            }
        )

    # --- Gamma-like events (multi-outcome neg-risk events) --------------------------------------

    def _gamma_market(self, info: MarketInfo) -> dict[str, Any]:
        spec = self.state.spec(info.condition_id)
        bid, ask = self.state.best(info.yes)
        lt = self.state.last_trade.get(info.yes.token_id)
        yes_px = lt[0] if lt else (bid + ask) / 2 if bid is not None and ask is not None else Decimal("0.5")
        return {
            "id": str(int(info.condition_id[2:10], 16)) if info.condition_id.startswith("0x") else info.condition_id,
            "question": info.question,
            "conditionId": info.condition_id,
            "slug": info.slug,
            "endDate": info.end_date_iso,
            "description": info.description,
            "outcomes": json.dumps([info.yes.label, info.no.label]),
            "outcomePrices": json.dumps([m.fmt(yes_px), m.fmt(Decimal(1) - yes_px)]),
            "active": True,
            "closed": False,
            "archived": False,
            "groupItemTitle": info.group_item_title,
            "questionID": info.question_id,
            "enableOrderBook": True,
            "orderPriceMinTickSize": float(spec.tick_size),
            "orderMinSize": float(spec.min_size),
            "clobTokenIds": json.dumps([info.yes.token_id, info.no.token_id]),
            "acceptingOrders": not self.engine.is_halted(info.condition_id),
            "negRisk": info.neg_risk,
            "negRiskOther": info.neg_risk and info.group_item_title == "Other",
            "negRiskMarketID": info.neg_risk_market_id,
            "negRiskRequestID": info.neg_risk_request_id,
            "lastTradePrice": float(lt[0]) if lt else 0.0,
            "bestBid": float(bid) if bid is not None else 0.0,
            "bestAsk": float(ask) if ask is not None else 1.0,
            "feesEnabled": self.state.fee_rate_bps(info.condition_id) > 0,
        }

    def _gamma_event_body(self, event_id: str, infos: list[MarketInfo]) -> dict[str, Any]:
        neg_risk = any(i.neg_risk for i in infos)
        title = event_id
        events = getattr(getattr(getattr(self.ctx, "scenario", None), "catalogue", None), "events", None) or ()
        for ev in events:
            if event_id in (getattr(ev, "event_id", None), getattr(ev, "key", None)):
                title = getattr(ev, "subject", None) or title
        return {
            "id": event_id,
            "ticker": event_id,
            "slug": event_id,
            "title": title,
            "description": infos[0].description if infos else "",
            "active": True,
            "closed": False,
            "archived": False,
            "enableOrderBook": True,
            "negRisk": neg_risk,
            "negRiskMarketID": infos[0].neg_risk_market_id if infos and neg_risk else "",
            "enableNegRisk": neg_risk,
            # Augmented neg-risk (docs.polymarket.com neg-risk overview, checked 2026-12-05): named
            # outcomes, placeholder outcomes ("Person A") and an explicit Other; the scenario says
            # which events are (``augmented = true``). A plain event may have an Other too.
            "negRiskAugmented": neg_risk and any(i.neg_risk_augmented for i in infos),
            "markets": [self._gamma_market(i) for i in infos],
        }

    def _events(self) -> dict[str, list[MarketInfo]]:
        groups: dict[str, list[MarketInfo]] = {}
        for info in self.state.markets.values():
            groups.setdefault(info.event_id or info.condition_id, []).append(info)
        return groups

    async def _gamma_events(self, request: web.Request) -> web.Response:
        q = request.query
        events = [self._gamma_event_body(eid, infos) for eid, infos in self._events().items()]
        if "neg_risk" in q or "negRisk" in q:
            want = (q.get("neg_risk") or q.get("negRisk") or "").lower() == "true"
            events = [e for e in events if e["negRisk"] == want]
        if "slug" in q:
            events = [e for e in events if e["slug"] == q["slug"]]
        if q.get("closed", "").lower() == "true":
            events = []
        try:
            offset = int(q.get("offset", "0"))
            limit = int(q.get("limit", "100"))
        except ValueError as exc:
            raise ApiError(400, "invalid pagination") from exc
        return web.json_response(events[offset : offset + limit])

    async def _gamma_event(self, request: web.Request) -> web.Response:
        eid = request.match_info["event_id"]
        infos = self._events().get(eid)
        if infos is None:
            raise ApiError(404, "event not found")
        return web.json_response(self._gamma_event_body(eid, infos))

    # --- auth ---------------------------------------------------------------------------------

    def _creds_body(self, creds: ApiCreds) -> web.Response:
        self.state.owner_key.setdefault(creds.address, creds.api_key)
        return _json(m.ApiKeyResponse(apiKey=creds.api_key, secret=creds.secret, passphrase=creds.passphrase))

    async def _create_api_key(self, request: web.Request) -> web.Response:
        return self._creds_body(self.keys.create(request.headers))

    async def _derive_api_key(self, request: web.Request) -> web.Response:
        return self._creds_body(self.keys.derive(request.headers))

    async def _api_keys(self, request: web.Request) -> web.Response:
        creds, _ = await self._l2(request)
        return _json({"apiKeys": self.keys.keys_of(creds.address)})

    async def _delete_api_key(self, request: web.Request) -> web.Response:
        creds, _ = await self._l2(request)
        self.keys.delete(creds)
        if self.state.owner_key.get(creds.address) == creds.api_key:
            del self.state.owner_key[creds.address]
        return _json("OK")

    async def _closed_only(self, request: web.Request) -> web.Response:
        await self._l2(request)
        return _json({"closed_only": False})

    # --- orders -------------------------------------------------------------------------------

    def _check_halt(self) -> None:
        if (self.faults is not None and self.faults.is_halted(VENUE)) or self.engine.is_halted(None):
            raise ApiError(503, ERR_HALTED)

    def _parse_request_order(self, creds: ApiCreds, payload: Any) -> dict[str, Any]:
        """Request-level checks of one order payload (payload shape, owner, signer)."""
        if not isinstance(payload, dict) or not isinstance(payload.get("order"), dict):
            raise ApiError(400, ERR_PAYLOAD)
        order = payload["order"]
        if payload.get("owner") != creds.api_key:
            raise ApiError(400, ERR_OWNER)
        signer = order.get("signer")
        try:
            signer_l = "0x" + eip712.address_bytes(signer).hex() if isinstance(signer, str) else ""
            # The key belongs to the address that signed its L1 ClobAuth (an EOA). A POLY_1271
            # order's signer is a deposit wallet: accepted when that wallet belongs to the key's
            # owner. (clob-client-v2 issue 66 reports the live venue refusing this too; the
            # documented deposit-wallet flow needs it, so the simulator models the documented intent.)
            if signer_l != creds.address and self.state.deposit_wallets.get(signer_l) != creds.address:
                raise ApiError(400, ERR_SIGNER)
        except eip712.SignatureError as exc:
            raise ApiError(400, ERR_PAYLOAD) from exc
        if payload.get("orderType", "GTC") not in ORDER_TYPES:
            raise ApiError(400, ERR_PAYLOAD)
        return order

    def _place(self, creds: ApiCreds, payload: dict[str, Any], order: dict[str, Any]) -> m.PostOrderResponse:
        """Verify and submit one order; raises ApiError with the venue's message on refusal."""
        order_type = payload.get("orderType", "GTC")
        post_only = bool(payload.get("postOnly", False))
        try:
            token_id = str(order["tokenId"])
            side_s = order["side"]
            if side_s not in ("BUY", "SELL"):
                raise ValueError("side")
            side = Side(side_s)
            sig_type = int(order["signatureType"])
            parsed = eip712.OrderV2(
                salt=int(order["salt"]),
                maker=str(order["maker"]),
                signer=str(order["signer"]),
                token_id=int(token_id),
                maker_amount=int(order["makerAmount"]),
                taker_amount=int(order["takerAmount"]),
                side=eip712.SIDE_BUY if side is Side.BUY else eip712.SIDE_SELL,
                signature_type=sig_type,
                timestamp=int(order["timestamp"]),
                metadata=str(order.get("metadata") or "0x0"),
                builder=str(order.get("builder") or "0x0"),
            )
            signature = str(order["signature"])
            expiration = int(order.get("expiration") or 0)
        except (KeyError, TypeError, ValueError) as exc:
            raise ApiError(400, ERR_PAYLOAD) from exc
        tok = self.state.tokens.get(token_id)
        if tok is None:
            raise ApiError(404, ERR_MARKET)
        info = self.state.markets[tok.market_id]
        exchange = eip712.exchange_for(info.neg_risk)
        try:
            digest = eip712.order_v2_digest(parsed, self.chain_id, exchange)
        except eip712.SignatureError as exc:
            raise ApiError(400, ERR_PAYLOAD) from exc
        order_id = "0x" + digest.hex()
        maker = "0x" + eip712.address_bytes(parsed.maker).hex()
        signer_l = "0x" + eip712.address_bytes(parsed.signer).hex()
        if sig_type == eip712.SIGNATURE_TYPE_POLY_1271:
            # Deposit wallet: maker = signer = the wallet, owned by the API key's address; the
            # owner's signature is ERC-7739 wrapped and checked as the wallet's isValidSignature would.
            if maker != signer_l or self.state.deposit_wallets.get(maker) != creds.address:
                raise ApiError(400, ERR_SIGNATURE)
            try:
                eip712.verify_deposit_wallet_signature(parsed, signature, self.chain_id, exchange, creds.address)
            except eip712.SignatureError as exc:
                raise ApiError(400, ERR_SIGNATURE) from exc
        else:
            if creds.address in self.state.new_api_users:
                raise ApiError(400, ERR_DEPOSIT_WALLET_FLOW)
            if sig_type != eip712.SIGNATURE_TYPE_EOA or maker != creds.address:
                # Simulated wallets are EOAs: proxy/safe makers have no account here.
                raise ApiError(400, ERR_SIGNATURE)
            try:
                eip712.verify_signer(digest, signature, parsed.signer)
            except eip712.SignatureError as exc:
                raise ApiError(400, ERR_SIGNATURE) from exc
        if post_only and order_type in ("FOK", "FAK"):
            raise ApiError(400, ERR_POST_ONLY_TYPE)
        if parsed.maker_amount <= 0 or parsed.taker_amount <= 0:
            raise ApiError(400, ERR_PAYLOAD)

        spec = self.state.spec(tok.market_id)
        tick = spec.tick_size
        amount_error = _amount_precision_error(side, order_type, tick, parsed.maker_amount, parsed.taker_amount)
        if amount_error:
            raise ApiError(400, amount_error)
        if side is Side.BUY:
            ratio = Fraction(parsed.maker_amount, parsed.taker_amount)
            shares_u = parsed.taker_amount
        else:
            ratio = Fraction(parsed.taker_amount, parsed.maker_amount)
            shares_u = parsed.maker_amount
        ticks = ratio / Fraction(tick)
        size = Decimal(shares_u) * MICRO
        max_notional: Decimal | None = None
        if order_type in ("GTC", "GTD"):
            if ticks.denominator != 1:
                shown = m.fmt((Decimal(ratio.numerator) / Decimal(ratio.denominator)).quantize(Decimal("0.000001")))
                raise ApiError(400, f"order {order_id} is invalid. Price ({shown}) breaks minimum tick size rule: {m.fmt(tick)}")
            price = tick * int(ticks)
        else:
            # Market (FOK/FAK) orders: the signed amounts bound the price; never worse than signed.
            n = ticks.numerator // ticks.denominator if side is Side.BUY else -((-ticks.numerator) // ticks.denominator)
            price = tick * n
            if side is Side.BUY:
                max_notional = Decimal(parsed.maker_amount) * MICRO
                size = (size / spec.size_increment).to_integral_value(rounding="ROUND_FLOOR") * spec.size_increment
        if size % spec.size_increment != 0 or size <= 0:
            raise ApiError(400, ERR_PAYLOAD)
        if not (tick <= price <= 1 - tick):
            raise ApiError(400, f"order {order_id} is invalid. Price ({m.fmt(price)}) breaks minimum tick size rule: {m.fmt(tick)}")
        expire_at_ns = 0
        if order_type == "GTD":
            # The venue keeps a one-minute security threshold: an order signed to expire at T
            # stops being live at T - 60 s, so T must be more than a minute away.
            now_s = self._now_ns() // 1_000_000_000
            if expiration <= now_s + GTD_SECURITY_THRESHOLD_S:
                raise ApiError(400, ERR_EXPIRATION)
            expire_at_ns = (expiration - GTD_SECURITY_THRESHOLD_S) * 1_000_000_000
        self._check_halt()

        params = OrderParams(
            account_id=creds.address,
            symbol=token_id,
            side=side,
            size=size,
            price=price,
            tif=_TIF[order_type],
            post_only=post_only,
            expire_at_ns=expire_at_ns,
            order_id=order_id,
            max_notional=max_notional,
            meta={
                "owner": creds.api_key,
                "order_type": order_type,
                "expiration": str(expiration),
                "maker_address": eip712.to_checksum_address(maker),
                "salt": str(parsed.salt),  # admin view only (tests tie a venue order to its client order id)
            },
        )
        # The owner must be known before the engine's listeners see the order's events.
        self.state.order_owner[order_id] = creds.api_key
        out = self.engine.submit(params)
        if not out.accepted:
            if out.code is not RejectCode.DUPLICATE_ORDER_ID:
                self.state.order_owner.pop(order_id, None)
            raise ApiError(*self._reject_error(out.code, out.message, order_id, price, size, spec))
        o = out.order
        assert o is not None
        if not out.trades and o.status is not SimOrderStatus.OPEN and order_type == "FAK":
            raise ApiError(400, ERR_FAK)
        if not out.trades and o.status is SimOrderStatus.CANCELED and o.reason == "INSUFFICIENT_BALANCE":
            raise ApiError(400, ERR_BALANCE)
        if not out.trades:
            return m.PostOrderResponse(
                errorMsg="",
                orderID=order_id,
                takingAmount="",
                makingAmount="",
                status="live",
                transactionsHashes=[],
                tradeIDs=[],
                success=True,
            )
        shares = sum((t.size for t in out.trades), Decimal(0))
        cash = sum((t.taker_price * t.size for t in out.trades), Decimal(0))
        trade_ids: list[str] = []
        hashes: list[str] = []
        for t in out.trades:
            vt = self.state.trade_for_fill(t.trade_id)
            if vt is None:
                vt, _ = self.state.record_fill(t)
            if vt.id not in trade_ids:
                trade_ids.append(vt.id)
                hashes.append(vt.transaction_hash)
        making, taking = (cash, shares) if side is Side.BUY else (shares, cash)
        return m.PostOrderResponse(
            errorMsg="",
            orderID=order_id,
            takingAmount=m.fmt_amount(taking),
            makingAmount=m.fmt_amount(making),
            status="matched",
            transactionsHashes=hashes,
            tradeIDs=trade_ids,
            success=True,
        )

    @staticmethod
    def _reject_error(code: Any, message: str, order_id: str, price: Decimal, size: Decimal, spec: Any) -> tuple[int, str]:
        name = getattr(code, "value", str(code))
        if name in ("INSUFFICIENT_BALANCE", "INSUFFICIENT_POSITION", "UNKNOWN_ACCOUNT"):
            return 400, ERR_BALANCE
        if name in ("INVALID_PRICE_TICK", "PRICE_OUT_OF_RANGE"):
            return 400, f"order {order_id} is invalid. Price ({m.fmt(price)}) breaks minimum tick size rule: {m.fmt(spec.tick_size)}"
        if name == "SIZE_BELOW_MIN":
            return 400, f"order {order_id} is invalid. Size ({m.fmt(size)}) lower than the minimum: {m.fmt(spec.min_size)}"
        if name == "POST_ONLY_WOULD_CROSS":
            return 400, ERR_POST_ONLY_CROSS
        if name == "FOK_NOT_FILLABLE":
            return 400, ERR_FOK
        if name == "DUPLICATE_ORDER_ID":
            return 400, f"order {order_id} is invalid. Duplicated."
        if name == "EXPIRATION_IN_PAST":
            return 400, ERR_EXPIRATION
        if name == "MARKET_HALTED":
            return 503, ERR_HALTED
        if name == "FAULT_REJECT":
            return 400, message or "could not insert order"
        if name == "UNKNOWN_MARKET":
            return 404, ERR_MARKET
        return 400, ERR_PAYLOAD

    async def _post_order(self, request: web.Request) -> web.Response:
        creds, body = await self._l2(request)
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise ApiError(400, ERR_PAYLOAD) from exc
        order = self._parse_request_order(creds, payload)
        self._check_halt()
        return _json(self._place(creds, payload, order))

    async def _post_orders(self, request: web.Request) -> web.Response:
        creds, body = await self._l2(request)
        try:
            payloads = json.loads(body)
        except ValueError as exc:
            raise ApiError(400, ERR_PAYLOAD) from exc
        if not isinstance(payloads, list) or not payloads:
            raise ApiError(400, ERR_PAYLOAD)
        if len(payloads) > self.max_batch:
            raise ApiError(400, f"Too many orders in payload: {len(payloads)}, max allowed: {self.max_batch}")
        orders = [self._parse_request_order(creds, p) for p in payloads]
        self._check_halt()
        out: list[m.PostOrderResponse] = []
        for payload, order in zip(payloads, orders):
            try:
                out.append(self._place(creds, payload, order))
            except ApiError as exc:
                out.append(
                    m.PostOrderResponse(
                        errorMsg=exc.message,
                        orderID="",
                        takingAmount="",
                        makingAmount="",
                        status="",
                        transactionsHashes=[],
                        tradeIDs=[],
                        success=False,
                    )
                )
        return _json(out)

    def _cancel_ids(self, account: str, ids: list[str]) -> m.CancelResponse:
        canceled: list[str] = []
        not_canceled: dict[str, str] = {}
        outcomes = self.engine.cancel_many(account, ids)
        for oid in ids:
            res = outcomes.get(oid)
            if res is not None and res.ok:
                if oid not in canceled:
                    canceled.append(oid)
            else:
                code = getattr(getattr(res, "code", None), "value", "")
                not_canceled[oid] = ERR_CANCEL_DONE if code == "ORDER_NOT_OPEN" else ERR_CANCEL_UNKNOWN
        return m.CancelResponse(canceled=canceled, not_canceled=not_canceled)

    async def _cancel_order(self, request: web.Request) -> web.Response:
        creds, body = await self._l2(request)
        self._check_halt()
        try:
            payload = json.loads(body)
            oid = payload["orderID"]
            if not isinstance(oid, str) or not oid:
                raise ValueError
        except (ValueError, KeyError, TypeError) as exc:
            raise ApiError(400, "Invalid orderID") from exc
        return _json(self._cancel_ids(creds.address, [oid]))

    async def _cancel_orders(self, request: web.Request) -> web.Response:
        creds, body = await self._l2(request)
        self._check_halt()
        try:
            ids = json.loads(body)
        except ValueError as exc:
            raise ApiError(400, ERR_PAYLOAD) from exc
        if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
            raise ApiError(400, "Invalid orderID")
        if len(ids) > 3000:
            raise ApiError(400, "Too many orders in payload, max allowed: 3000")
        return _json(self._cancel_ids(creds.address, ids))

    async def _cancel_all(self, request: web.Request) -> web.Response:
        creds, _ = await self._l2(request)
        self._check_halt()
        done = self.engine.cancel_all(creds.address)
        return _json(m.CancelResponse(canceled=[o.order_id for o in done], not_canceled={}))

    async def _cancel_market_orders(self, request: web.Request) -> web.Response:
        creds, body = await self._l2(request)
        self._check_halt()
        try:
            payload = json.loads(body) if body else {}
            if not isinstance(payload, dict):
                raise ValueError
        except ValueError as exc:
            raise ApiError(400, ERR_PAYLOAD) from exc
        market = payload.get("market") or None
        asset = payload.get("asset_id") or None
        if market is not None and market not in self.state.markets:
            return _json(m.CancelResponse(canceled=[], not_canceled={}))
        if asset is not None and asset not in self.state.tokens:
            return _json(m.CancelResponse(canceled=[], not_canceled={}))
        done = self.engine.cancel_all(creds.address, market_id=market, symbol=asset)
        return _json(m.CancelResponse(canceled=[o.order_id for o in done], not_canceled={}))

    async def _open_orders(self, request: web.Request) -> web.Response:
        creds, _ = await self._l2(request)
        q = request.query
        orders = self.engine.open_orders(
            creds.address, market_id=q.get("market") or None, symbol=q.get("asset_id") or None
        )
        if q.get("id"):
            orders = [o for o in orders if o.order_id == q["id"]]
        items = [self.state.open_order_body(o) for o in orders]
        return _json(self._page(items, q.get("next_cursor")))

    async def _get_order(self, request: web.Request) -> web.Response:
        creds, _ = await self._l2(request)
        o = self.engine.order(request.match_info["order_id"])
        if o is None or o.account_id != creds.address or o.status is SimOrderStatus.REJECTED:
            raise ApiError(400, "Invalid orderID")
        return _json(self.state.open_order_body(o))

    async def _trades(self, request: web.Request) -> web.Response:
        creds, _ = await self._l2(request)
        q = request.query
        try:
            after = int(q["after"]) if q.get("after") else None
            before = int(q["before"]) if q.get("before") else None
        except ValueError as exc:
            raise ApiError(400, "Invalid trade params payload") from exc
        out = []
        for vt in self.state.trades_for(creds.address):
            if q.get("id") and vt.id != q["id"]:
                continue
            if q.get("market") and vt.market_id != q["market"]:
                continue
            if q.get("asset_id") and q["asset_id"] not in (vt.taker_symbol, *(f.maker_symbol for f in vt.fills)):
                continue
            if q.get("maker_address"):
                addr = q["maker_address"].lower()
                if addr != vt.taker_account and all(f.maker_account != addr for f in vt.fills):
                    continue
            ts = vt.ts_ns // 1_000_000_000
            if after is not None and ts < after:
                continue
            if before is not None and ts > before:
                continue
            out.append(self.state.trade_body(vt, creds.address))
        return _json(self._page(out, q.get("next_cursor")))

    async def _balance_allowance(self, request: web.Request) -> web.Response:
        creds, _ = await self._l2(request)
        q = request.query
        st = q.get("signature_type", "0")
        if st not in ("0", "1", "2", "3", "-1"):
            raise ApiError(400, "Invalid signature_type")
        asset_type = q.get("asset_type", "COLLATERAL").upper()
        if asset_type == "COLLATERAL":
            if not self.engine.accounts.exists(creds.address):
                return _json(m.BalanceAllowance(balance="0", allowance=MAX_UINT256))
            bal = self.engine.accounts.balance(creds.address, COLLATERAL).total
            return _json(m.BalanceAllowance(balance=m.micro(bal), allowance=MAX_UINT256))
        if asset_type == "CONDITIONAL":
            tok = self.state.tokens.get(q.get("token_id", ""))
            if tok is None:
                raise ApiError(400, ERR_TOKEN)
            if not self.engine.accounts.exists(creds.address):
                return _json(m.BalanceAllowance(balance="0", allowance=MAX_UINT256))
            pos = self.engine.accounts.position(creds.address, tok.market_id, tok.outcome).size
            return _json(m.BalanceAllowance(balance=m.micro(pos), allowance=MAX_UINT256))
        raise ApiError(400, "Invalid asset type")

    async def _balance_allowance_update(self, request: web.Request) -> web.Response:
        await self._l2(request)
        return web.Response(text="", status=200)

    # --- heartbeats ---------------------------------------------------------------------------

    async def _heartbeat(self, request: web.Request) -> web.Response:
        creds, _ = await self._l2(request)
        self._heartbeats[creds.address] = self._now_ns()
        return _json({"status": "ok"})

    async def _heartbeat_watch(self) -> None:
        step = min(1.0, self.heartbeat_timeout_s / 4)
        while True:
            await self.clock.sleep(step)
            now = self._now_ns()
            limit = int(self.heartbeat_timeout_s * 1_000_000_000)
            for account, last in list(self._heartbeats.items()):
                if now - last > limit:
                    del self._heartbeats[account]
                    canceled = self.engine.cancel_all(account)
                    log.info("polymarket sim: heartbeat missed by %s, canceled %d orders", account, len(canceled))
