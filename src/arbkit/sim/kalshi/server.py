"""The simulated Kalshi trade API v2: REST under ``/trade-api/v2``, WebSocket at ``/trade-api/ws/v2``.

Routes: exchange status; markets (list, one, order book, public trades); events (list, one);
series; portfolio balance, positions, fills, orders (list, get) and the V2 order entry under
``/portfolio/events/orders`` (bid|ask on the YES book: create, cancel, batch create, batch cancel).
The retired legacy order mutations (``POST/DELETE /portfolio/orders[...]``, amend, decrease) answer
HTTP 410 ``deprecated_v1_order_endpoint`` as the venue does (docs/venues/kalshi.md). Fees use
Kalshi's per-order rounding (``fees.py``) at the balance precision of a direct member ($0.0001)
unless ``member="non_direct"`` ($0.01). Implements the runner's venue-server protocol
(``KalshiServer(ctx)``, ``start(host)``, ``info()``, ``stop()``). Public market data needs no
authentication; every ``/portfolio`` route and the WebSocket's private channels need Kalshi's
signed headers, RSA-PSS or Ed25519 by the key's type (see ``auth.py``). Shapes are the fixed-point
schema (see ``messages.py``) with the direction fields ``outcome_side``/``book_side`` (the
deprecated ``side``/``action``/``purchased_side``/``is_yes``/``taker_side`` are not sent); errors are
``{"error": {"code", "message", "details"}}`` (see ``errors.py``).

V2 create (``POST /portfolio/events/orders``): ``ticker``, ``side`` bid|ask, ``count`` and ``price``
(fixed-point strings; the price on the YES book), ``time_in_force`` and
``self_trade_prevention_type`` (required), ``client_order_id``, ``expiration_time`` (with
good_till_canceled), ``post_only``, ``reduce_only`` (immediate_or_cancel only). Fractional counts
(0.01) are accepted on every market. A price off the market's price level structure is refused
with ``invalid_price``. The answer is flat: ``order_id``, ``client_order_id``, ``fill_count``,
``remaining_count``, ``average_fill_price``/``average_fee_paid`` (when filled), ``ts_ms``.

Fault SLOW_ACK processes the request at once and delays only its answer (a client that gives up
waiting does not know whether its order exists: the ambiguous case).
"""

from __future__ import annotations

import base64
import logging
import re
from decimal import Decimal
from typing import Any, Awaitable, Callable

import msgspec
from aiohttp import web

from arbkit.core.clock import NS
from arbkit.core.enums import Side
from arbkit.sim.events import Outcome, SimOrder, SimOrderStatus, Tif
from arbkit.sim.kalshi import errors as E
from arbkit.sim.kalshi import messages as M
from arbkit.sim.kalshi.auth import AUTH_HEADERS, AuthError, KeyRegistry
from arbkit.sim.kalshi.catalog import Catalog, KalshiMarketInfo
from arbkit.sim.kalshi.fees import DIRECT_MEMBER_PRECISION, NON_DIRECT_MEMBER_PRECISION, KalshiFeeModel, kalshi_fill_fee
from arbkit.sim.kalshi.fixed import (
    LOTS_PER_CONTRACT,
    PRICE_LEVEL_STRUCTURES,
    PRICE_ONE,
    FixedPointError,
    count_to_decimal,
    decimal_to_count,
    decimal_to_money,
    decimal_to_price,
    fmt_count,
    fmt_money,
    fmt_price,
    on_grid,
    parse_count,
    parse_price,
    price_to_decimal,
)
from arbkit.sim.kalshi.state import KALSHI_CURRENCY, KalshiState, kalshi_direction, order_status, outcome_side_of
from arbkit.sim.kalshi.ws import WsHub

log = logging.getLogger(__name__)

VENUE = "kalshi"
REST_PREFIX = "/trade-api/v2"
WS_PATH = "/trade-api/ws/v2"
MAX_BATCH = 20
COID_RE = re.compile(r"^[\-\w:+=/]{1,64}$")
TIF_MAP = {"good_till_canceled": Tif.GTC, "immediate_or_cancel": Tif.IOC, "fill_or_kill": Tif.FOK}

_decoder = msgspec.json.Decoder()
ACCOUNT = web.RequestKey("kalshi_account", str)  # the verified account of a /portfolio request


class ApiError(Exception):
    """A request refused with one of ``errors.ERRORS``."""

    def __init__(self, name: str, details: str = "", message: str | None = None) -> None:
        super().__init__(f"{name}: {details}")
        self.name = name
        self.details = details
        self.message = message


def _json(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=M.encode(obj), status=status, content_type="application/json")


def _error_response(name: str, details: str = "", message: str | None = None, headers: dict[str, str] | None = None) -> web.Response:
    status, body = E.error_body(name, details, message)
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


# --- cursors ---------------------------------------------------------------------------------------


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        tag, _, n = raw.partition(":")
        if tag != "o" or not n.isdigit():
            raise ValueError
        return int(n)
    except (ValueError, UnicodeDecodeError):
        raise ApiError("invalid_parameters", f"invalid cursor {cursor!r}") from None


def _page(items: list[Any], query: Any, default_limit: int = 100, max_limit: int = 1000) -> tuple[list[Any], str]:
    limit = _int_param(query, "limit", default_limit)
    if limit <= 0:
        limit = default_limit
    if limit > max_limit:
        raise ApiError("invalid_parameters", f"limit must be at most {max_limit}")
    cursor = query.get("cursor") or ""
    start = _decode_cursor(cursor) if cursor else 0
    chunk = items[start : start + limit]
    nxt = _encode_cursor(start + limit) if start + limit < len(items) else ""
    return chunk, nxt


def _int_param(query: Any, name: str, default: int | None = None) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        if default is None:
            raise ApiError("invalid_parameters", f"{name} is required")
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError("invalid_parameters", f"{name} must be an integer, got {raw!r}") from None


# --- the server --------------------------------------------------------------------------------------


class KalshiServer:
    """One simulated Kalshi venue on 127.0.0.1 (ephemeral port)."""

    def __init__(
        self, ctx: Any, *, timestamp_tolerance_ms: int | None = None, heartbeat_s: float = 10.0, member: str = "direct"
    ) -> None:
        """``member``: "direct" (an API account: balances to $0.0001) or "non_direct" (to $0.01)."""
        if member not in ("direct", "non_direct"):
            raise ValueError(f"member must be 'direct' or 'non_direct', got {member!r}")
        self.ctx = ctx
        self.engine = ctx.engine
        self.clock = ctx.clock
        self.faults = getattr(ctx, "faults", None)
        self.accounts = list(getattr(ctx, "accounts", []) or [])
        self.catalog = Catalog(self.engine.markets(), getattr(ctx, "markets", []) or [])
        self.keys = KeyRegistry() if timestamp_tolerance_ms is None else KeyRegistry(tolerance_ms=timestamp_tolerance_ms)
        for acct in self.accounts:
            self.keys.add(acct.key_id, acct.public_key_pem, acct.account_id)
        # Kalshi rounds fees per order (fees.py); this server's own accumulators, not the process-wide
        # default the runner may have installed, so engines never share fee state.
        if hasattr(self.engine, "fee_fn") and self.engine.fee_fn in (None, kalshi_fill_fee):
            self.fee_model = KalshiFeeModel(DIRECT_MEMBER_PRECISION if member == "direct" else NON_DIRECT_MEMBER_PRECISION)
            self.engine.fee_fn = self.fee_model
        self.state = KalshiState(self.engine, self.catalog, [a.account_id for a in self.accounts])
        self.hub = WsHub(self.state, self.clock, self.faults, heartbeat_s=heartbeat_s)
        self.hub.user_order_builder = self.user_order_msg
        scenario = getattr(ctx, "scenario", None)
        if scenario is not None and hasattr(scenario, "listing_listeners"):
            scenario.listing_listeners.append(self._on_listed)
        self._fee_overrides: dict[str, dict[str, Any]] = {}  # event ticker -> EventData fee override fields
        self.app = self._make_app()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.host = "127.0.0.1"

    def _on_listed(self, sm: Any) -> None:
        """The scenario listed a market mid-run (already in the engine)."""
        if getattr(sm, "venue", "") == "kalshi":
            self.state.add_market(self.engine.market(sm.market_id), sm, self.clock.now_ns())

    # --- lifecycle --------------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1") -> None:
        if host != "127.0.0.1":
            raise ValueError("the simulator only serves on 127.0.0.1")
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, int((getattr(self.ctx, "extra", None) or {}).get("port", 0)))  # arbkit sim --ports
        await site.start()
        self.port = self._runner.addresses[0][1]  # the ephemeral port the OS gave us
        self.host = host

    async def stop(self) -> None:
        await self.hub.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.state.close()

    def info(self) -> dict[str, Any]:
        base = f"http://{self.host}:{self.port}"
        return {
            "rest_url": f"{base}{REST_PREFIX}",
            "ws_url": f"ws://{self.host}:{self.port}{WS_PATH}",
            "accounts": [{"key_id": a.key_id, "private_key_path": str(a.private_key_path)} for a in self.accounts],
            "markets": [{"ticker": m.ticker, "title": m.title, "event_ticker": m.event_ticker} for m in self.catalog.markets.values()],
        }

    # --- app ------------------------------------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=1 << 20)
        r = app.router
        p = REST_PREFIX
        r.add_get(f"{p}/exchange/status", self._exchange_status)
        r.add_get(f"{p}/markets", self._markets)
        r.add_get(f"{p}/markets/trades", self._trades)  # before /markets/{ticker}
        r.add_get(f"{p}/markets/{{ticker}}", self._market)
        r.add_get(f"{p}/markets/{{ticker}}/orderbook", self._orderbook)
        r.add_get(f"{p}/events", self._events)
        r.add_get(f"{p}/events/{{event_ticker}}", self._event)
        r.add_get(f"{p}/series/{{series_ticker}}", self._series)
        r.add_get(f"{p}/portfolio/balance", self._balance)
        r.add_get(f"{p}/portfolio/positions", self._positions)
        r.add_get(f"{p}/portfolio/fills", self._fills)
        # The legacy order mutations are retired: the venue answers 410 deprecated_v1_order_endpoint
        # (reads of /portfolio/orders stay). Nothing behind them is reachable any more.
        r.add_post(f"{p}/portfolio/orders/batched", self._gone)
        r.add_delete(f"{p}/portfolio/orders/batched", self._gone)
        r.add_get(f"{p}/portfolio/orders", self._orders)
        r.add_post(f"{p}/portfolio/orders", self._gone)
        r.add_get(f"{p}/portfolio/orders/{{order_id}}", self._order)
        r.add_delete(f"{p}/portfolio/orders/{{order_id}}", self._gone)
        r.add_post(f"{p}/portfolio/orders/{{order_id}}/amend", self._gone)
        r.add_post(f"{p}/portfolio/orders/{{order_id}}/decrease", self._gone)
        # V2 order entry (single-book bid/ask, fixed-point): the only order entry since 2026-05
        r.add_post(f"{p}/portfolio/events/orders/batched", self._batch_create_v2)
        r.add_delete(f"{p}/portfolio/events/orders/batched", self._batch_cancel_v2)
        r.add_post(f"{p}/portfolio/events/orders", self._create_order_v2)
        r.add_delete(f"{p}/portfolio/events/orders/{{order_id}}", self._cancel_order_v2)
        r.add_get(WS_PATH, self._ws)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        path = request.rel_url.raw_path
        if self.faults is not None and path.startswith(REST_PREFIX):
            hit = self.faults.rest_fault(VENUE, request.method, path)
            if hit is not None:
                kind = hit.kind.value
                if kind == "REST_429":
                    retry = hit.spec.retry_after_s
                    return _error_response("rate_limit", "injected fault", headers={"Retry-After": f"{retry:g}"})
                if kind == "REST_5XX":
                    status = hit.spec.status or 503
                    name = "unavailable" if status == 503 else "internal"
                    resp = _error_response(name, "injected fault")
                    resp.set_status(status)
                    return resp
                if kind == "SLOW_ACK":
                    # The request is processed at once; only its answer is late (an order is placed
                    # even when the client gave up waiting: the ambiguous case).
                    resp = await self._handle(request, handler, path)
                    await self.clock.sleep(float(hit.spec.delay_s))
                    return resp
        return await self._handle(request, handler, path)

    async def _handle(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
                      path: str) -> web.StreamResponse:
        if path.startswith(f"{REST_PREFIX}/portfolio"):
            try:
                request[ACCOUNT] = self.keys.verify(request.method, path, request.headers)
            except AuthError as exc:
                return _error_response("auth", exc.details)
        try:
            return await handler(request)
        except ApiError as exc:
            return _error_response(exc.name, exc.details, exc.message)
        except web.HTTPNotFound:
            return _error_response("not_found", f"no route {request.method} {path}")
        except web.HTTPMethodNotAllowed:
            return _error_response("bad_request", f"method {request.method} not allowed on {path}")
        except web.HTTPException:
            raise
        except Exception:
            log.exception("kalshi sim: %s %s failed", request.method, path)
            return _error_response("internal", "unexpected server error")

    # --- public market data -------------------------------------------------------------------------------

    def _market_info(self, ticker: str) -> KalshiMarketInfo:
        info = self.catalog.market(ticker)
        if info is None:
            raise ApiError("not_found", f"market {ticker!r} not found")
        return info

    def _market_status(self) -> str:
        halted = self.faults is not None and self.faults.is_halted(VENUE)
        return "inactive" if halted or self.engine.halted else "active"

    def market_wire(self, info: KalshiMarketInfo) -> M.MarketWire:
        st = self.state
        t = info.ticker
        ms = st.market_stats[t]
        yb = st.best_bid(t, "yes")
        nb = st.best_bid(t, "no")
        yes_bid = yb[0] if yb else 0
        yes_ask = PRICE_ONE - nb[0] if nb else 0
        ranges = [M.PriceRangeWire(**r.wire()) for r in PRICE_LEVEL_STRUCTURES[info.price_level_structure]]
        oi = decimal_to_count(st.open_interest(t))
        winner = self.engine.resolved(t)
        status = ("finalized" if winner is not None else
                  "inactive" if self.engine.is_halted(t) else self._market_status())
        now = M.rfc3339(self.clock.now_ns())
        # Liquidity: dollar value of resting bids on both sides (what the venue's field estimates).
        liquidity = sum(p * q for side in ("yes", "no") for p, q in st.bids(t, side))
        return M.MarketWire(
            can_close_early=True,
            close_time=info.close_time,
            created_time=info.created_time,
            event_ticker=info.event_ticker,
            expected_expiration_time=info.expiration_time,
            expiration_time=info.expiration_time,
            expiration_value="",
            last_price_dollars=fmt_price(ms.last_price),
            latest_expiration_time=info.expiration_time,
            liquidity_dollars=fmt_money(liquidity),
            market_type="binary",
            no_ask_dollars=fmt_price(PRICE_ONE - yes_bid),
            no_bid_dollars=fmt_price(PRICE_ONE - yes_ask),
            no_sub_title=info.no_sub_title,
            notional_value_dollars="1.0000",
            open_interest_fp=fmt_count(oi),
            open_time=info.open_time,
            previous_price_dollars=fmt_price(ms.previous_price),
            previous_yes_ask_dollars="0.0000",
            previous_yes_bid_dollars="0.0000",
            price_level_structure=info.price_level_structure,
            price_ranges=ranges,
            response_price_units="usd_cent",
            result=winner.value.lower() if winner is not None else "",
            rules_primary=info.rules_primary,
            rules_secondary=info.rules_secondary,
            settlement_timer_seconds=600,
            status=status,
            subtitle=info.subtitle,
            tick_size=1,
            ticker=t,
            title=info.title,
            updated_time=now,
            volume_24h_fp=fmt_count(ms.volume),
            volume_fp=fmt_count(ms.volume),
            yes_ask_dollars=fmt_price(yes_ask),
            yes_ask_size_fp=fmt_count(nb[1] if nb else 0),
            yes_bid_dollars=fmt_price(yes_bid),
            yes_bid_size_fp=fmt_count(yb[1] if yb else 0),
            yes_sub_title=info.yes_sub_title,
        )

    async def _exchange_status(self, request: web.Request) -> web.Response:
        halted = self.faults is not None and self.faults.is_halted(VENUE)
        return _json(M.ExchangeStatus(exchange_active=True, exchange_estimated_resume_time=None, trading_active=not (halted or self.engine.halted)))

    async def _markets(self, request: web.Request) -> web.Response:
        q = request.rel_url.query
        infos = list(self.catalog.markets.values())
        if q.get("event_ticker"):
            infos = [i for i in infos if i.event_ticker == q["event_ticker"]]
        if q.get("series_ticker"):
            infos = [i for i in infos if i.series_ticker == q["series_ticker"]]
        if q.get("tickers"):
            wanted = {t.strip() for t in q["tickers"].split(",") if t.strip()}
            infos = [i for i in infos if i.ticker in wanted]
        status = q.get("status")
        if status:
            allowed = {s.strip() for s in status.split(",")}
            unknown = allowed - {"unopened", "open", "paused", "closed", "settled"}
            if unknown:
                raise ApiError("invalid_parameters", f"unknown status filter {sorted(unknown)}")
            current = {"active": "open", "inactive": "paused"}
            infos = [i for i in infos if current[self._wire_status(i.ticker)] in allowed]
        chunk, cursor = _page(infos, q, 100, 1000)
        return _json(M.MarketsPage(cursor=cursor, markets=[self.market_wire(i) for i in chunk]))

    def _wire_status(self, ticker: str) -> str:
        return "inactive" if self.engine.is_halted(ticker) else self._market_status()

    async def _market(self, request: web.Request) -> web.Response:
        return _json(M.MarketEnvelope(market=self.market_wire(self._market_info(request.match_info["ticker"]))))

    async def _orderbook(self, request: web.Request) -> web.Response:
        info = self._market_info(request.match_info["ticker"])
        depth = _int_param(request.rel_url.query, "depth", 0)
        if depth > 100:
            raise ApiError("invalid_parameters", "depth must be at most 100")
        sides = {}
        for side in ("yes", "no"):
            levels = self.state.bids(info.ticker, side)  # ascending
            if depth > 0:
                levels = levels[-depth:]  # the best `depth` levels, still ascending
            sides[side] = [[fmt_price(p), fmt_count(n)] for p, n in levels]
        return _json(M.OrderbookEnvelope(orderbook_fp=M.OrderbookFp(no_dollars=sides["no"], yes_dollars=sides["yes"])))

    async def _trades(self, request: web.Request) -> web.Response:
        q = request.rel_url.query
        trades = list(reversed(self.state.trades))  # newest first
        if q.get("ticker"):
            trades = [t for t in trades if t.ticker == q["ticker"]]
        if q.get("min_ts"):
            lo = _int_param(q, "min_ts") * NS
            trades = [t for t in trades if t.ts_ns >= lo]
        if q.get("max_ts"):
            hi = _int_param(q, "max_ts") * NS
            trades = [t for t in trades if t.ts_ns <= hi]
        chunk, cursor = _page(trades, q, 100, 1000)
        out = [
            M.TradeWire(
                count_fp=fmt_count(t.count),
                created_time=M.rfc3339(t.ts_ns),
                no_price_dollars=fmt_price(PRICE_ONE - t.price_yes),
                taker_book_side="bid" if t.taker_side == "yes" else "ask",
                taker_outcome_side=t.taker_side,
                ticker=t.ticker,
                trade_id=t.trade_id,
                yes_price_dollars=fmt_price(t.price_yes),
            )
            for t in chunk
        ]
        return _json(M.TradesPage(cursor=cursor, trades=out))

    def _event_wire(self, event_ticker: str) -> M.EventWire:
        first = self.catalog.markets[self.catalog.events[event_ticker][0]]
        return M.EventWire(
            available_on_brokers=False,
            category=first.category,
            collateral_return_type="MECNET" if first.mutually_exclusive else "",
            event_ticker=event_ticker,
            mutually_exclusive=first.mutually_exclusive,
            series_ticker=first.series_ticker,
            strike_period="",
            sub_title=first.event_sub_title,
            title=first.event_title,
            **self._fee_overrides.get(event_ticker, {}),
        )

    def set_event_fee_override(self, event_ticker: str, fee_type: str | None, fee_multiplier: float | int | None) -> None:
        """Set (or, with both None, clear) an event-level fee override, as the venue's operators do;
        the events endpoints show it and market_lifecycle_v2 subscribers get an event_fee_update.
        The override is shown, not charged: the engine keeps pricing fees with the market's FeeSpec."""
        if event_ticker not in self.catalog.events:
            raise KeyError(event_ticker)
        if fee_type is None and fee_multiplier is None:
            self._fee_overrides.pop(event_ticker, None)
        else:
            self._fee_overrides[event_ticker] = {"fee_type_override": fee_type, "fee_multiplier_override": fee_multiplier}
        self.hub.on_event_fee_update(M.EventFeeUpdateMsg(event_ticker=event_ticker, fee_type_override=fee_type,
                                                         fee_multiplier_override=fee_multiplier))

    async def _events(self, request: web.Request) -> web.Response:
        q = request.rel_url.query
        tickers = list(self.catalog.events)
        if q.get("series_ticker"):
            tickers = [e for e in tickers if self.catalog.markets[self.catalog.events[e][0]].series_ticker == q["series_ticker"]]
        chunk, cursor = _page(tickers, q, 100, 200)
        return _json(M.EventsPage(cursor=cursor, events=[self._event_wire(e) for e in chunk], milestones=[]))

    async def _event(self, request: web.Request) -> web.Response:
        et = request.match_info["event_ticker"]
        if et not in self.catalog.events:
            raise ApiError("not_found", f"event {et!r} not found")
        markets = [self.market_wire(self.catalog.markets[t]) for t in self.catalog.events[et]]
        return _json(M.EventEnvelope(event=self._event_wire(et), markets=markets))

    async def _series(self, request: web.Request) -> web.Response:
        st = request.match_info["series_ticker"]
        s = self.catalog.series.get(st)
        if s is None:
            raise ApiError("not_found", f"series {st!r} not found")
        return _json(
            M.SeriesEnvelope(
                series=M.SeriesWire(
                    additional_prohibitions=None,
                    category=s.category,
                    contract_terms_url="",
                    contract_url="",
                    fee_multiplier=s.fee_multiplier,
                    fee_type=s.fee_type,
                    frequency=s.frequency,
                    settlement_sources=[M.SettlementSource(**x) for x in s.settlement_sources],
                    tags=s.tags,
                    ticker=s.ticker,
                    title=s.title,
                )
            )
        )

    # --- portfolio reads ------------------------------------------------------------------------------------

    async def _balance(self, request: web.Request) -> web.Response:
        account = request[ACCOUNT]
        bal = self.engine.accounts.balance(account, KALSHI_CURRENCY)
        avail = decimal_to_money(bal.available)
        cents = avail // 10_000  # the integer-cent field never shows more than is there
        value = 0  # positions marked at the best bid of the held outcome (what they sell for now)
        for (acct, ticker), _st in self.state.positions.items():
            if acct != account:
                continue
            pos = self.state.position_lots(account, ticker)
            if pos:
                best = self.state.best_bid(ticker, "yes" if pos > 0 else "no")
                value += (best[0] if best else 0) * abs(pos)
        return _json(
            M.Balance(
                balance=cents,
                balance_dollars=fmt_money(avail),
                portfolio_value=value // 10_000,
                updated_ts=self.clock.now_ns() // NS,
            )
        )

    async def _positions(self, request: web.Request) -> web.Response:
        account = request[ACCOUNT]
        q = request.rel_url.query
        rows = []
        for (acct, ticker), st in sorted(self.state.positions.items()):
            if acct != account:
                continue
            info = self.catalog.markets[ticker]
            if q.get("ticker") and ticker != q["ticker"]:
                continue
            if q.get("event_ticker") and info.event_ticker not in q["event_ticker"].split(","):
                continue
            pos = self.state.position_lots(account, ticker)
            flt = {f.strip() for f in (q.get("count_filter") or "").split(",") if f.strip()}
            if "position" in flt and pos == 0:
                continue
            if "total_traded" in flt and st.total_traded == 0:
                continue
            resting = len(self.engine.open_orders(account_id=account, market_id=ticker))
            rows.append((info, st, pos, resting))
        chunk, cursor = _page(rows, q, 100, 1000)
        market_positions = [
            M.MarketPositionWire(
                exchange_index=0,
                fees_paid_dollars=fmt_money(st.fees_paid),
                last_updated_ts=M.rfc3339(st.last_updated_ns),
                market_exposure_dollars=fmt_money(st.basis),
                position_fp=fmt_count(pos),
                realized_pnl_dollars=fmt_money(st.realized_pnl),
                resting_orders_count=resting,
                ticker=info.ticker,
                total_traded_dollars=fmt_money(st.total_traded),
            )
            for info, st, pos, resting in chunk
        ]
        events: dict[str, list[Any]] = {}
        for info, st, pos, _ in chunk:
            events.setdefault(info.event_ticker, []).append((st, pos))
        event_positions = [
            M.EventPositionWire(
                event_exposure_dollars=fmt_money(sum(s.basis for s, _ in items)),
                event_ticker=et,
                fees_paid_dollars=fmt_money(sum(s.fees_paid for s, _ in items)),
                realized_pnl_dollars=fmt_money(sum(s.realized_pnl for s, _ in items)),
                total_cost_dollars=fmt_money(sum(s.total_traded for s, _ in items)),
                total_cost_shares_fp=fmt_count(sum(abs(p) for _, p in items)),
            )
            for et, items in events.items()
        ]
        return _json(M.PositionsPage(cursor=cursor, event_positions=event_positions, market_positions=market_positions))

    async def _fills(self, request: web.Request) -> web.Response:
        account = request[ACCOUNT]
        q = request.rel_url.query
        fills = list(reversed(self.state.fills.get(account, [])))  # newest first
        if q.get("ticker"):
            fills = [f for f in fills if f.ticker == q["ticker"]]
        if q.get("order_id"):
            fills = [f for f in fills if f.order_id == q["order_id"]]
        if q.get("min_ts"):
            lo = _int_param(q, "min_ts") * NS
            fills = [f for f in fills if f.ts_ns >= lo]
        if q.get("max_ts"):
            hi = _int_param(q, "max_ts") * NS
            fills = [f for f in fills if f.ts_ns <= hi]
        chunk, cursor = _page(fills, q, 100, 1000)
        out = []
        for f in chunk:
            yes = fmt_price(f.price_yes)
            no = fmt_price(PRICE_ONE - f.price_yes)
            out.append(
                M.FillWire(
                    book_side="bid" if f.outcome_side == "yes" else "ask",
                    count_fp=fmt_count(f.count),
                    created_time=M.rfc3339(f.ts_ns),
                    exchange_index=0,
                    fee_cost=fmt_money(f.fee),
                    fill_id=f.trade_id,
                    is_taker=f.is_taker,
                    market_ticker=f.ticker,
                    no_price_dollars=no,
                    order_id=f.order_id,
                    outcome_side=f.outcome_side,
                    ticker=f.ticker,
                    trade_id=f.trade_id,
                    ts=f.ts_ns // NS,
                    yes_price_dollars=yes,
                )
            )
        return _json(M.FillsPage(cursor=cursor, fills=out))

    def order_wire(self, order: SimOrder) -> M.OrderWire:
        side, action = kalshi_direction(order.meta, order.outcome, order.side)
        yes = order.meta.get("k_yes")
        if yes is None:
            own = decimal_to_price(order.price) if order.price is not None else 0
            yes = own if order.outcome is Outcome.YES else PRICE_ONE - own
        o_side = outcome_side_of(side, action)
        costs = self.state.costs.get(order.order_id)
        exp = order.meta.get("k_expiration_ts")
        return M.OrderWire(
            book_side="bid" if o_side == "yes" else "ask",
            client_order_id=order.client_order_id,
            created_time=M.rfc3339(order.created_ns),
            expiration_time=M.rfc3339(exp * NS) if exp else None,
            fill_count_fp=fmt_count(decimal_to_count(order.filled)),
            initial_count_fp=fmt_count(order.meta.get("k_initial", decimal_to_count(order.size))),
            last_update_time=M.rfc3339(order.updated_ns),
            maker_fees_dollars=fmt_money(costs.maker_fees if costs else 0),
            maker_fill_cost_dollars=fmt_money(costs.maker_cost if costs else 0),
            no_price_dollars=fmt_price(PRICE_ONE - yes),
            order_group_id=None,
            order_id=order.order_id,
            outcome_side=o_side,
            remaining_count_fp=fmt_count(decimal_to_count(order.remaining)),
            status=order_status(order),
            taker_fees_dollars=fmt_money(costs.taker_fees if costs else 0),
            taker_fill_cost_dollars=fmt_money(costs.taker_cost if costs else 0),
            ticker=order.market_id,
            type="limit",
            user_id=self.state.user_id(order.account_id),
            yes_price_dollars=fmt_price(yes),
        )

    def user_order_msg(self, order: SimOrder) -> M.UserOrderMsg:
        """The WS ``user_order`` payload (AsyncAPI user_orders channel) of an order."""
        w = self.order_wire(order)
        exp = order.meta.get("k_expiration_ts")
        return M.UserOrderMsg(
            order_id=w.order_id,
            user_id=w.user_id,
            ticker=w.ticker,
            status=w.status,
            outcome_side=w.outcome_side,
            book_side=w.book_side,
            yes_price_dollars=w.yes_price_dollars,
            fill_count_fp=w.fill_count_fp,
            remaining_count_fp=w.remaining_count_fp,
            initial_count_fp=w.initial_count_fp,
            taker_fill_cost_dollars=w.taker_fill_cost_dollars,
            maker_fill_cost_dollars=w.maker_fill_cost_dollars,
            taker_fees_dollars=w.taker_fees_dollars,
            maker_fees_dollars=w.maker_fees_dollars,
            client_order_id=w.client_order_id,
            created_time=w.created_time,
            created_ts_ms=order.created_ns // 1_000_000,
            last_update_time=w.last_update_time,
            last_updated_ts_ms=order.updated_ns // 1_000_000,
            expiration_time=w.expiration_time,
            expiration_ts_ms=exp * 1000 if exp else None,
        )

    async def _orders(self, request: web.Request) -> web.Response:
        account = request[ACCOUNT]
        q = request.rel_url.query
        orders = [o for o in self.engine.orders(account) if o.status is not SimOrderStatus.REJECTED]
        orders.reverse()  # newest first
        if q.get("ticker"):
            orders = [o for o in orders if o.market_id == q["ticker"]]
        if q.get("event_ticker"):
            evs = set(q["event_ticker"].split(","))
            orders = [o for o in orders if self.catalog.markets[o.market_id].event_ticker in evs]
        if q.get("min_ts"):
            lo = _int_param(q, "min_ts") * NS
            orders = [o for o in orders if o.created_ns >= lo]
        if q.get("max_ts"):
            hi = _int_param(q, "max_ts") * NS
            orders = [o for o in orders if o.created_ns <= hi]
        if q.get("status"):
            if q["status"] not in ("resting", "canceled", "executed"):
                raise ApiError("invalid_parameters", f"unknown status {q['status']!r}")
            orders = [o for o in orders if order_status(o) == q["status"]]
        chunk, cursor = _page(orders, q, 100, 1000)
        return _json(M.OrdersPage(cursor=cursor, orders=[self.order_wire(o) for o in chunk]))

    def _own_order(self, account: str, order_id: str) -> SimOrder:
        order = self.engine.order(order_id)
        if order is None or order.account_id != account or order.status is SimOrderStatus.REJECTED:
            raise ApiError("not_found", f"order {order_id!r} not found")
        return order

    async def _order(self, request: web.Request) -> web.Response:
        order = self._own_order(request[ACCOUNT], request.match_info["order_id"])
        return _json(M.OrderEnvelope(order=self.order_wire(order)))

    # --- order entry -------------------------------------------------------------------------------------------

    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()
        try:
            return _decoder.decode(raw) if raw else None
        except msgspec.DecodeError as exc:
            raise ApiError("invalid_parameters", f"request body is not JSON: {exc}") from None

    def _trading_paused(self) -> bool:
        return (self.faults is not None and self.faults.is_halted(VENUE)) or self.engine.halted

    async def _gone(self, request: web.Request) -> web.Response:
        raise ApiError("deprecated_v1", f"{request.method} {request.rel_url.path} was retired; use "
                                        f"{REST_PREFIX}/portfolio/events/orders (create order V2)")

    def place(self, account: str, body: Any) -> SimOrder:
        """Validate a Kalshi create-order body, translate it and submit it to the engine."""
        params = self._translate(account, body)
        coid = params.client_order_id
        self.state.initiator = (account, coid)
        try:
            outcome = self.engine.submit(params)
        finally:
            self.state.initiator = None
        self.state.net_pending()
        if not outcome.accepted:
            raise self._reject(outcome.code.value if outcome.code else "", outcome.message, params)
        assert outcome.order is not None
        return self.engine.order(outcome.order.order_id) or outcome.order

    def _reject(self, code: str, message: str, params: Any) -> ApiError:
        mapping = {
            "UNKNOWN_MARKET": "market_not_found",
            "INVALID_ORDER": "invalid_parameters",
            "INVALID_PRICE_TICK": "invalid_price",
            "PRICE_OUT_OF_RANGE": "invalid_price",
            "INVALID_SIZE_INCREMENT": "invalid_parameters",
            "SIZE_BELOW_MIN": "invalid_parameters",
            "NOTIONAL_BELOW_MIN": "invalid_parameters",
            "INSUFFICIENT_BALANCE": "insufficient_balance",
            "INSUFFICIENT_POSITION": "reduce_only" if params.reduce_only else "insufficient_balance",
            "POST_ONLY_WOULD_CROSS": "post_only_cross",
            "FOK_NOT_FILLABLE": "fok",
            "SELF_TRADE": "self_trade",
            "DUPLICATE_CLIENT_ORDER_ID": "duplicate_client_order_id",
            "DUPLICATE_ORDER_ID": "duplicate_client_order_id",
            "EXPIRATION_IN_PAST": "invalid_parameters",
            "MARKET_HALTED": "trading_paused",
            "FAULT_REJECT": "order_rejected",
        }
        name = mapping.get(code, "internal")
        return ApiError(name, message)

    def _translate(self, account: str, body: Any) -> Any:
        from arbkit.sim.engine import OrderParams

        if not isinstance(body, dict):
            raise ApiError("invalid_parameters", "request body must be a JSON object")
        ticker = body.get("ticker")
        if not isinstance(ticker, str) or not ticker:
            raise ApiError("invalid_parameters", "ticker is required")
        info = self.catalog.market(ticker)
        if info is None:
            raise ApiError("market_not_found", f"market {ticker!r} not found")
        side = body.get("side")
        if side not in ("yes", "no"):
            raise ApiError("invalid_parameters", f"side must be 'yes' or 'no', got {side!r}")
        action = body.get("action")
        if action not in ("buy", "sell"):
            raise ApiError("invalid_parameters", f"action must be 'buy' or 'sell', got {action!r}")
        otype = body.get("type")
        if otype not in (None, "limit"):
            raise ApiError("invalid_parameters", f"order type {otype!r} is not supported: limit orders only")
        sub = body.get("subaccount", 0)
        if sub not in (0, None):
            raise ApiError("invalid_parameters", "subaccounts are not available on this account")
        if body.get("exchange_index") not in (None, 0, -1):
            raise ApiError("invalid_parameters", "exchange_index must be 0 (the only shard) or -1 (auto)")
        stp = body.get("self_trade_prevention_type")
        if stp not in (None, "taker_at_cross", "maker"):
            raise ApiError("invalid_parameters", f"self_trade_prevention_type must be taker_at_cross or maker, got {stp!r}")
        # Not simulated: refuse rather than silently ignore what would change the order's fate.
        if body.get("order_group_id"):
            raise ApiError("invalid_parameters", "order groups are not available on the simulated venue")
        if body.get("cancel_order_on_pause") not in (None, False):
            raise ApiError("invalid_parameters", "cancel_order_on_pause is not available on the simulated venue")
        # count
        count = body.get("count")
        count_fp = body.get("count_fp")
        lots: int | None = None
        try:
            if count_fp is not None:
                lots = parse_count(count_fp)
        except FixedPointError as exc:
            raise ApiError("invalid_parameters", str(exc)) from None
        if count is not None:
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                raise ApiError("invalid_parameters", f"count must be a positive integer, got {count!r}")
            if lots is not None and lots != count * LOTS_PER_CONTRACT:
                raise ApiError("invalid_parameters", f"count {count} and count_fp {count_fp!r} do not match")
            lots = count * LOTS_PER_CONTRACT
        if lots is None:
            raise ApiError("invalid_parameters", "count or count_fp is required")
        if lots <= 0:
            raise ApiError("invalid_parameters", "count must be positive")
        # price, in YES terms
        yes = self._price(body)
        if not on_grid(info.price_level_structure, yes):
            raise ApiError(
                "invalid_price",
                f"yes price {fmt_price(yes)} is not a valid price for {ticker} ({info.price_level_structure})",
            )
        # time in force
        tif_raw = body.get("time_in_force")
        if tif_raw is None:
            tif_raw = "good_till_canceled"
        if tif_raw not in TIF_MAP:
            raise ApiError("invalid_parameters", f"time_in_force must be one of {sorted(TIF_MAP)}, got {tif_raw!r}")
        tif = TIF_MAP[tif_raw]
        exp = body.get("expiration_ts")
        expire_ns = 0
        if exp is not None:
            if not isinstance(exp, int) or isinstance(exp, bool):
                raise ApiError("invalid_parameters", "expiration_ts must be an integer (unix seconds)")
            if tif is Tif.IOC:
                raise ApiError("invalid_parameters", "immediate_or_cancel cannot be combined with expiration_ts")
            if tif is Tif.GTC:
                tif = Tif.GTD
                expire_ns = exp * NS
        post_only = body.get("post_only") or False
        reduce_only = body.get("reduce_only") or False
        for name, val in (("post_only", post_only), ("reduce_only", reduce_only)):
            if not isinstance(val, bool):
                raise ApiError("invalid_parameters", f"{name} must be a boolean")
        if body.get("sell_position_floor") not in (None, 0):
            raise ApiError("invalid_parameters", "sell_position_floor only accepts 0 (use reduce_only)")
        max_cost = body.get("buy_max_cost")
        max_notional = None
        if max_cost is not None:
            if not isinstance(max_cost, int) or isinstance(max_cost, bool) or max_cost <= 0:
                raise ApiError("invalid_parameters", "buy_max_cost must be a positive integer (cents)")
            if action != "buy":
                raise ApiError("invalid_parameters", "buy_max_cost applies to buy orders only")
            tif = Tif.FOK  # documented: buy_max_cost implies fill-or-kill
            max_notional = Decimal(max_cost) / 100
        if post_only and tif not in (Tif.GTC, Tif.GTD):
            raise ApiError("invalid_parameters", "post_only needs good_till_canceled")
        coid = body.get("client_order_id") or ""
        if coid and (not isinstance(coid, str) or not COID_RE.match(coid)):
            raise ApiError("invalid_parameters", "client_order_id must be 1-64 characters of letters, digits and - _ : + = /")
        if self._trading_paused():
            raise ApiError("trading_paused", "trading on the exchange is paused")
        # Kalshi -> engine. The order raises exposure to `o_side`; if the account already holds at
        # least `lots` of the other outcome it is a closing SELL of that (no cash needed), otherwise a
        # BUY of `o_side` (netting redeems any overlap afterwards). reduce_only always closes.
        o_side = outcome_side_of(side, action)
        buy_outcome = Outcome.YES if o_side == "yes" else Outcome.NO
        close_outcome = buy_outcome.other
        held = self.engine.accounts.pos_available(account, ticker, close_outcome)
        close = reduce_only or held >= lots
        if close:
            outcome, eside = close_outcome, Side.SELL
            max_notional = None
        else:
            outcome, eside = buy_outcome, Side.BUY
        own = yes if outcome is Outcome.YES else PRICE_ONE - yes
        symbol = self.engine.symbol_of(ticker, outcome)
        meta = {"k_side": side, "k_action": action, "k_yes": yes, "k_tif": tif_raw}
        if exp is not None:
            meta["k_expiration_ts"] = exp
        return OrderParams(
            account_id=account,
            symbol=symbol,
            side=eside,
            size=count_to_decimal(lots),
            price=price_to_decimal(own),
            tif=tif,
            post_only=post_only,
            expire_at_ns=expire_ns,
            client_order_id=coid,
            max_notional=max_notional,
            reduce_only=bool(reduce_only),
            meta=meta,
        )

    @staticmethod
    def _price(body: dict[str, Any]) -> int:
        """The order's YES price in $0.0001 units from whichever price field the client sent."""
        try:
            yd = parse_price(body["yes_price_dollars"], "yes_price_dollars") if body.get("yes_price_dollars") is not None else None
            nd = parse_price(body["no_price_dollars"], "no_price_dollars") if body.get("no_price_dollars") is not None else None
        except FixedPointError as exc:
            raise ApiError("invalid_parameters", str(exc)) from None
        yc, nc = body.get("yes_price"), body.get("no_price")
        for name, v in (("yes_price", yc), ("no_price", nc)):
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 99):
                raise ApiError("invalid_parameters", f"{name} must be an integer number of cents 1-99")
        if yc is not None:
            yc *= 100
        if nc is not None:
            nc *= 100
        yes_vals = {v for v in (yd, yc) if v is not None}
        no_vals = {v for v in (nd, nc) if v is not None}
        if len(yes_vals) > 1 or len(no_vals) > 1:
            raise ApiError("invalid_parameters", "integer and fixed-point prices do not match")
        if yes_vals and no_vals:
            raise ApiError("invalid_parameters", "give either a yes price or a no price, not both")
        if yes_vals:
            return yes_vals.pop()
        if no_vals:
            return PRICE_ONE - no_vals.pop()
        raise ApiError("invalid_parameters", "a price is required (yes_price_dollars or no_price_dollars): limit orders only")

    def cancel(self, account: str, order_id: str) -> tuple[SimOrder, int]:
        order = self._own_order(account, order_id)
        if order.status is not SimOrderStatus.OPEN:
            raise ApiError("not_found", f"order {order_id!r} is not resting")
        self.state.initiator = (account, order.client_order_id)
        try:
            out = self.engine.cancel(account, order_id)
        finally:
            self.state.initiator = None
        if not out.ok or out.order is None:
            raise ApiError("not_found", out.message or f"order {order_id!r} could not be canceled")
        return out.order, decimal_to_count(order.remaining)

    # --- V2 order entry ------------------------------------------------------------------------------------------

    @staticmethod
    def _v2_to_v1(body: Any) -> dict[str, Any]:
        """A V2 create body (``side`` bid|ask on the YES book, ``count``/``price`` fixed-point) as the
        equivalent legacy body: bid = buy YES at ``price``; ask = sell YES at ``price``."""
        if not isinstance(body, dict):
            raise ApiError("invalid_parameters", "request body must be a JSON object")
        for name in ("ticker", "side", "count", "price", "time_in_force", "self_trade_prevention_type"):
            if body.get(name) in (None, ""):
                raise ApiError("invalid_parameters", f"{name} is required")
        if body["side"] not in ("bid", "ask"):
            raise ApiError("invalid_parameters", f"side must be 'bid' or 'ask', got {body['side']!r}")
        if not isinstance(body["count"], str) or not isinstance(body["price"], str):
            raise ApiError("invalid_parameters", "count and price are fixed-point strings")
        if body.get("expiration_time") is not None and body["time_in_force"] == "immediate_or_cancel":
            raise ApiError("invalid_parameters", "immediate_or_cancel cannot be combined with expiration_time")
        if body.get("reduce_only") and body["time_in_force"] != "immediate_or_cancel":
            # CreateOrderV2Request.reduce_only: "rejected unless time_in_force is immediate_or_cancel"
            raise ApiError("invalid_parameters", "reduce_only orders need time_in_force immediate_or_cancel")
        v1 = {
            "ticker": body["ticker"],
            "side": "yes",
            "action": "buy" if body["side"] == "bid" else "sell",
            "count_fp": body["count"],
            "yes_price_dollars": body["price"],
            "time_in_force": body["time_in_force"],
            "self_trade_prevention_type": body["self_trade_prevention_type"],
        }
        for name in ("client_order_id", "post_only", "reduce_only", "cancel_order_on_pause", "order_group_id", "exchange_index", "subaccount"):
            if name in body:
                v1[name] = body[name]
        if body.get("expiration_time") is not None:
            v1["expiration_ts"] = body["expiration_time"]
        return v1

    def _v2_result(self, order: SimOrder) -> dict[str, Any]:
        fills = [f for f in self.state.fills.get(order.account_id, []) if f.order_id == order.order_id]
        lots = sum(f.count for f in fills)
        out: dict[str, Any] = {
            "order_id": order.order_id,
            "client_order_id": order.client_order_id or None,
            "fill_count": fmt_count(decimal_to_count(order.filled)),
            "remaining_count": fmt_count(decimal_to_count(order.remaining)),
            "ts_ms": order.updated_ns // 1_000_000,
        }
        if lots:
            # volume-weighted, YES-book terms, to $0.000001 (rounded down)
            out["average_fill_price"] = fmt_money(sum(f.price_yes * f.count for f in fills) * 100 // lots)
            out["average_fee_paid"] = fmt_money(sum(f.fee for f in fills) * LOTS_PER_CONTRACT // lots)
        return out

    async def _create_order_v2(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        order = self.place(request[ACCOUNT], self._v2_to_v1(body))
        return _json(M.CreateOrderV2Response(**self._v2_result(order)), status=201)

    async def _cancel_order_v2(self, request: web.Request) -> web.Response:
        order, reduced = self.cancel(request[ACCOUNT], request.match_info["order_id"])
        return _json(
            M.CancelOrderV2Response(
                order_id=order.order_id, reduced_by=fmt_count(reduced), ts_ms=order.updated_ns // 1_000_000, client_order_id=order.client_order_id or None
            )
        )

    async def _batch_create_v2(self, request: web.Request) -> web.Response:
        account = request[ACCOUNT]
        body = await self._body(request)
        if not isinstance(body, dict) or not isinstance(body.get("orders"), list) or not body["orders"]:
            raise ApiError("invalid_parameters", "orders must be a non-empty list")
        if len(body["orders"]) > MAX_BATCH:
            raise ApiError("invalid_parameters", f"at most {MAX_BATCH} orders per batch")
        items = []
        for item in body["orders"]:
            try:
                order = self.place(account, self._v2_to_v1(item))
                items.append(M.BatchCreateV2Item(**self._v2_result(order)))
            except ApiError as exc:
                coid = item.get("client_order_id") if isinstance(item, dict) else None
                items.append(M.BatchCreateV2Item(client_order_id=coid if isinstance(coid, str) else None, error=E.error_object(exc.name, exc.details)))
        return _json(M.BatchCreateV2Envelope(orders=items), status=201)

    async def _batch_cancel_v2(self, request: web.Request) -> web.Response:
        account = request[ACCOUNT]
        body = await self._body(request)
        if not isinstance(body, dict) or not isinstance(body.get("orders"), list) or not body["orders"]:
            raise ApiError("invalid_parameters", "orders must be a non-empty list of {order_id}")
        ids = [o.get("order_id") if isinstance(o, dict) else None for o in body["orders"]]
        if not all(isinstance(i, str) and i for i in ids):
            raise ApiError("invalid_parameters", "every orders[] entry needs an order_id")
        if len(ids) > MAX_BATCH:
            raise ApiError("invalid_parameters", f"at most {MAX_BATCH} orders per batch")
        items = []
        for oid in ids:
            try:
                order, reduced = self.cancel(account, oid)
                items.append(M.BatchCancelV2Item(order_id=oid, reduced_by=fmt_count(reduced), client_order_id=order.client_order_id or None, ts_ms=order.updated_ns // 1_000_000))
            except ApiError as exc:
                items.append(M.BatchCancelV2Item(order_id=oid, reduced_by="0.00", error=E.error_object(exc.name, exc.details)))
        return _json(M.BatchCancelV2Envelope(orders=items))

    # --- websocket -----------------------------------------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        account = None
        if any(request.headers.get(h) for h in AUTH_HEADERS):
            try:
                account = self.keys.verify("GET", request.rel_url.raw_path, request.headers)
            except AuthError as exc:
                return _error_response("auth", exc.details)
        return await self.hub.serve(request, account)
