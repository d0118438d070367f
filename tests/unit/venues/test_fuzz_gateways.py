"""Mutated REST answers, served by a real aiohttp server on 127.0.0.1, to the real gateways.

Every gateway call (Polymarket and Kalshi: create, cancel, order state, open orders, fills,
positions, balances, market metadata) gets answers that are a valid seed answer with one mutation
(bench/fuzz.py's mutators: truncation, byte flips, invalid UTF-8, wrong types, missing and extra
fields, huge and negative numbers, NaN/Infinity strings and tokens). The rules:

- order entry (create, cancel) never raises: the outcome is an event;
- ``order_state`` raises only the documented ``OrderStateUnknown``; it answers None only for the
  venue's own "no such order" bodies, and a state it returns is for the order it was asked about;
- a garbled create answer is a *retryable* rejection (the order may be placed: look it up), never
  an accepted order unless the answer still names our order, never a non-retryable reject;
- read-only queries (open orders, fills, balances, positions, market) either return values that
  are sane (finite, in range) or raise; callers (reconciliation) treat a raise as "no answer". A
  raise must be a ValueError/RuntimeError/ConnectionError/ArithmeticError or the venue's API error,
  never a TypeError/KeyError/AttributeError/IndexError (an unanticipated shape);
- an answer that is the seed plus an unknown field is read as the seed.
"""

from __future__ import annotations

import base64
import importlib
import json
import random
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from arbkit.core.enums import InstrumentKind, Side, TimeInForce, Venue
from arbkit.core.events import OrderAccepted, OrderCanceled, OrderCancelRejected, OrderFilled, OrderRejected
from arbkit.core.instruments import Instrument
from arbkit.core.orders import OrderRequest, OrderState
from arbkit.venues.common.http import OrderStateUnknown
from arbkit.venues.kalshi.auth import KalshiSigner
from arbkit.venues.kalshi.gateway import GatewayConfig as KGatewayConfig
from arbkit.venues.kalshi.gateway import KalshiApiError, KalshiGateway, MarketMeta as KMarketMeta
from arbkit.venues.polymarket.auth import ApiCreds
from arbkit.venues.polymarket.gateway import GatewayConfig as PGatewayConfig
from arbkit.venues.polymarket.gateway import PolymarketGateway

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:  # bench/ is a top-level package next to src/
    sys.path.insert(0, str(ROOT))
fuzz = importlib.import_module("bench.fuzz")

D = Decimal
QUERY_ERRORS = (ValueError, RuntimeError, ConnectionError, ArithmeticError, KalshiApiError)
PM_KEY = "0x" + "5a" * 32
PM_CREDS = ApiCreds("api-key-1", base64.urlsafe_b64encode(b"z" * 32).decode(), "pp")
PM_TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
K_TICKER = "KXFUZZ-26DEC31-T001"


class Scripted:
    """Answers each request with the body planned for its route (status 200)."""

    def __init__(self) -> None:
        self.answers: dict[str, bytes] = {}
        self.hits: dict[str, int] = {}

    def route(self, method: str, path: str) -> str:
        for prefix in ("/data/order/", "/markets-by-token/", "/clob-markets/", "/portfolio/orders/",
                       "/markets/", "/events/", "/series/"):
            if prefix in path:
                return f"{method} {prefix}"
        return f"{method} {path.replace('/trade-api/v2', '')}"

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        key = self.route(request.method, request.path)
        self.hits[key] = self.hits.get(key, 0) + 1
        body = self.answers.get(key)
        if body is None:
            return web.Response(status=404, body=b'{"error":"not found"}', content_type="application/json")
        return web.Response(status=200, body=body, content_type="application/json")


@pytest.fixture
async def server():
    s = Scripted()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", s.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield s, f"http://127.0.0.1:{port}"
    await runner.cleanup()


def _enc(o: Any) -> bytes:
    return json.dumps(o, separators=(",", ":")).encode()


class Mutator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.counts: dict[str, int] = {}

    def __call__(self, obj: Any) -> tuple[bytes, str, bool]:
        """(mutated body, mutator, intact): intact = the seed, or the seed plus an unknown field."""
        s = fuzz._Seed(obj, "")
        m = fuzz.mutate(self.rng, s, obj, s.raw, set())
        self.counts[m.mutator] = self.counts.get(m.mutator, 0) + 1
        body = m.frame.encode() if isinstance(m.frame, str) else m.frame
        intact = body == s.raw
        if m.never_count and isinstance(obj, dict):  # an unknown field at the top: the answer still says the same
            try:
                got = json.loads(body)
                intact = isinstance(got, dict) and {k: v for k, v in got.items() if k in obj} == obj
            except ValueError:
                pass
        return body, m.mutator, intact


def sane_dec(d: Any, lo: Decimal | None = None, hi: Decimal | None = None) -> bool:
    return (isinstance(d, Decimal) and d.is_finite() and (lo is None or d >= lo) and (hi is None or d <= hi)
            and abs(d) < D(10) ** 15)


def sane_state(st: Any) -> bool:
    return (isinstance(st, OrderState) and sane_dec(st.price, D(0), D(1)) and sane_dec(st.quantity, D(0))
            and sane_dec(st.filled_quantity, D(0)))


def sane_fill(ev: Any) -> bool:
    if not isinstance(ev, OrderFilled):
        return True
    return sane_dec(ev.price, D(0), D(1)) and sane_dec(ev.quantity, D(0)) and ev.quantity > 0 and sane_dec(ev.fee)


class Tally:
    def __init__(self) -> None:
        self.calls = 0
        self.bad: list[str] = []

    def fail(self, what: str, body: bytes, mut: str) -> None:
        self.bad.append(f"{what} [{mut}] {body[:1200]!r}")

    def check(self) -> None:
        assert not self.bad, f"{len(self.bad)} of {self.calls} calls broke the rules:\n" + "\n".join(self.bad[:15])


async def query(t: Tally, call, ok, body: bytes, mut: str, intact: bool) -> None:
    """A read-only query: sane values, or a raise of an allowed kind (never for an intact answer)."""
    t.calls += 1
    try:
        out = await call()
    except QUERY_ERRORS as exc:
        if intact:
            t.fail(f"intact answer raised {exc!r}", body, mut)
        return
    except Exception as exc:  # noqa: BLE001 - what the fuzz looks for
        t.fail(f"escaped {exc!r}", body, mut)
        return
    if not ok(out):
        t.fail(f"insane result {out!r}"[:300], body, mut)


# --- Polymarket --------------------------------------------------------------------------------


def pm_inst() -> Instrument:
    return Instrument(venue=Venue.POLYMARKET, symbol=PM_TOKEN, kind=InstrumentKind.OUTCOME, tick_size=D("0.01"),
                      size_increment=D("0.01"), min_size=D("5"))


def pm_row(oid: str) -> dict:
    return {"id": oid, "status": "LIVE", "asset_id": PM_TOKEN, "side": "BUY", "market": "0xm", "original_size": "10",
            "size_matched": "2.5", "price": "0.42", "order_type": "GTC", "created_at": 1764800000,
            "owner": PM_CREDS.api_key, "outcome": "Yes", "maker_address": "0xabc", "expiration": "0",
            "associate_trades": []}


def pm_trade(oid: str) -> dict:
    return {"id": "trade-1", "taker_order_id": oid, "market": "0xm", "asset_id": PM_TOKEN, "side": "BUY", "size": "10",
            "price": "0.42", "status": "MINED", "match_time": "1764800001", "owner": PM_CREDS.api_key,
            "trader_side": "TAKER", "fee_rate_bps": "0", "outcome": "Yes", "bucket_index": 0,
            "maker_orders": [{"order_id": "0x" + "e1" * 32, "owner": "other", "maker_address": "0xm1",
                              "matched_amount": "6", "price": "0.41", "asset_id": PM_TOKEN, "side": "SELL",
                              "outcome": "Yes", "fee_rate_bps": "0"},
                             {"order_id": "0x" + "e2" * 32, "owner": "other", "maker_address": "0xm2",
                              "matched_amount": "4", "price": "0.42", "asset_id": PM_TOKEN, "side": "SELL",
                              "outcome": "Yes", "fee_rate_bps": "0"}]}


def pm_shared_seeds() -> dict[str, list[dict]]:
    """Real/doc answers from ../shared, re-keyed to our order where they must name it."""
    base = ROOT.parent / "shared" / "fixtures" / "polymarket" / "nautilus_trader" / "crates_test_data"
    out: dict[str, list[dict]] = {}
    if not base.exists():
        return out
    for name, key in (("http_order_response_ok", "create"), ("http_cancel_response_ok", "cancel"),
                      ("http_open_order", "order"), ("http_balance_allowance_collateral", "balance"),
                      ("http_open_orders_page", "orders"), ("http_trades_page", "trades")):
        try:
            out.setdefault(key, []).append(json.loads((base / f"{name}.json").read_text()))
        except (OSError, ValueError):
            pass
    return out


async def pm_gateway(url: str) -> PolymarketGateway:
    gw = PolymarketGateway(PM_KEY, PM_CREDS, PGatewayConfig(rest_url=url, use_metadata=False, max_attempts=1,
                                                            retry_backoff_s=0.0, rate_per_s=1e6, burst=1_000_000))
    await gw.start()
    return gw


async def run_polymarket(server, n: int, seed: int) -> dict[str, Tally]:
    s, url = server
    gw = await pm_gateway(url)
    mut = Mutator(seed)
    shared = pm_shared_seeds()
    tallies = {k: Tally() for k in ("create", "cancel", "order_state", "open_orders", "fills", "balances",
                                    "positions", "market")}
    try:
        for i in range(n):
            # create: the answer names the order we just signed (its hash is the venue's order id)
            coid = f"fz-{seed}-{i}"
            req = OrderRequest(instrument=pm_inst(), client_order_id=coid, side=Side.BUY, quantity=D("10"),
                               price=D("0.42"), time_in_force=TimeInForce.GTC)
            so, _ = await gw.build(req)
            h = so.order_hash
            seeds = [{"success": True, "orderID": h, "status": "live", "errorMsg": "", "makingAmount": "",
                      "takingAmount": ""}] + [dict(x, orderID=h) for x in shared.get("create", [])
                                              if isinstance(x, dict) and x.get("success")]
            body, m, intact = mut(seeds[i % len(seeds)])
            s.answers["POST /order"] = body
            t = tallies["create"]
            t.calls += 1
            try:
                res = await gw.submit(req)
            except Exception as exc:  # noqa: BLE001
                t.fail(f"submit escaped {exc!r}", body, m)
            else:
                evs = res.events
                if res.accepted:
                    if res.venue_order_id.lower() != h.lower() or not any(isinstance(e, OrderAccepted) for e in evs):
                        t.fail(f"accepted as {res.venue_order_id!r}", body, m)
                else:
                    rej = [e for e in evs if isinstance(e, OrderRejected)]
                    if intact:
                        t.fail(f"intact answer not accepted: {evs!r}"[:300], body, m)
                    elif not rej or not all(e.retryable for e in rej):
                        t.fail(f"garbled answer -> non-retryable reject {evs!r}"[:300], body, m)
            # cancel
            seeds = [{"canceled": [h], "not_canceled": {}}, {"canceled": [], "not_canceled": {h: "already canceled"}}]
            body, m, intact = mut(seeds[i % 2])
            s.answers["DELETE /order"] = body
            t = tallies["cancel"]
            t.calls += 1
            try:
                evs = await gw.cancel(coid)
            except Exception as exc:  # noqa: BLE001
                t.fail(f"cancel escaped {exc!r}", body, m)
            else:
                for e in evs:
                    if not isinstance(e, (OrderCanceled, OrderCancelRejected)):
                        t.fail(f"cancel gave {e!r}", body, m)
                    elif isinstance(e, OrderCanceled) and e.client_order_id == coid and e.venue_order_id.lower() != h.lower():
                        t.fail(f"our cancel reported for another order {e.venue_order_id!r}", body, m)
                if intact and not evs:
                    t.fail("intact cancel answer gave no event", body, m)
            # order state
            seeds = [pm_row(h)] + [dict(x, id=h) for x in shared.get("order", []) if isinstance(x, dict)]
            body, m, intact = mut(seeds[i % len(seeds)])
            s.answers["GET /data/order/"] = body
            t = tallies["order_state"]
            t.calls += 1
            try:
                st = await gw.order_state(coid)
            except OrderStateUnknown:
                if intact:
                    t.fail("intact order answer -> unknown", body, m)
            except Exception as exc:  # noqa: BLE001
                t.fail(f"order_state escaped {exc!r}", body, m)
            else:
                if st is None:
                    if body.strip() not in (b"", b"null", b"{}", b'""'):
                        t.fail("None (= never placed) from a garbled answer", body, m)
                elif not sane_state(st) or st.venue_order_id.lower() != h.lower():
                    t.fail(f"order_state returned {st!r}"[:300], body, m)
            # open orders (one page)
            seeds = [{"data": [pm_row(h), pm_row("0x" + "ab" * 32)], "next_cursor": "LTE=", "limit": 2, "count": 2}]
            seeds += [x for x in shared.get("orders", []) if isinstance(x, dict)]
            body, m, intact = mut(seeds[i % len(seeds)])
            s.answers["GET /data/orders"] = body
            await query(tallies["open_orders"], gw.open_orders, lambda out: all(sane_state(x) for x in out),
                        body, m, intact)
            # fills
            seeds = [{"data": [pm_trade(h)], "next_cursor": "LTE="}]
            body, m, intact = mut(seeds[0])
            s.answers["GET /data/trades"] = body
            await query(tallies["fills"], lambda: gw.fills_since(0), lambda out: all(sane_fill(x) for x in out),
                        body, m, intact)
            # balances and positions (one balance-allowance route, by asset type)
            seeds = [{"balance": "1234560000", "allowances": {}}, {"balance": "12.5", "allowance": "100"}]
            seeds += [x for x in shared.get("balance", []) if isinstance(x, dict)]
            body, m, intact = mut(seeds[i % len(seeds)])
            s.answers["GET /balance-allowance"] = body
            await query(tallies["balances"], gw.balances,
                        lambda out: all(sane_dec(b.total, D(0)) and sane_dec(b.available, D(0)) for b in out),
                        body, m, intact)
            await query(tallies["positions"], gw.positions,
                        lambda out: all(sane_dec(p.quantity, D(0)) for p in out), body, m, intact)
            # market metadata: token -> condition -> compact market info (one of the two answers mutated)
            good = {"GET /markets-by-token/": {"condition_id": "0xcond"},
                    "GET /clob-markets/": {"t": [{"t": PM_TOKEN, "o": "Yes"}, {"t": "1", "o": "No"}], "mts": 0.001,
                                           "nr": True, "fd": {"r": 0.04, "e": 1, "to": True}, "mos": 5}}
            which = list(good)[i % 2]
            for r, o in good.items():
                s.answers[r] = _enc(o)
            s.answers["GET /tick-size"] = _enc({"minimum_tick_size": 0.01})
            s.answers["GET /neg-risk"] = _enc({"neg_risk": False})
            body, m, intact = mut(good[which])
            s.answers[which] = body
            gw.metadata._cache.clear()

            def meta_ok(meta) -> bool:
                return (sane_dec(meta.tick_size, D(0)) and D(0) < meta.tick_size < 1 and sane_dec(meta.fee_rate, D(0))
                        and sane_dec(meta.fee_exponent, D(0)) and sane_dec(meta.min_size, D(0)))

            await query(tallies["market"], lambda: gw.metadata.get(PM_TOKEN, "", pm_inst()), meta_ok, body, m, intact)
    finally:
        await gw.close()
    return tallies


# --- Kalshi ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kkey():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def k_inst(side: str = "yes") -> Instrument:
    return Instrument(venue=Venue.KALSHI, symbol=f"{K_TICKER}:{side}", kind=InstrumentKind.OUTCOME,
                      tick_size=D("0.01"), size_increment=D("1"))


def k_order(oid: str, coid: str, status: str = "resting") -> dict:
    return {"order_id": oid, "client_order_id": coid, "ticker": K_TICKER, "side": "yes", "action": "buy",
            "type": "limit", "status": status, "yes_price_dollars": "0.4200", "no_price_dollars": "0.5800",
            "initial_count_fp": "10.00", "fill_count_fp": "0.00" if status == "resting" else "4.00",
            "remaining_count_fp": "10.00" if status == "resting" else "0.00",
            "created_time": "2026-12-04T10:00:00.000000Z", "last_update_time": "2026-12-04T10:00:01Z",
            "taker_fees_dollars": "0.0000", "maker_fees_dollars": "0.0000"}


def k_fill(oid: str, coid: str) -> dict:
    return {"trade_id": "t-1", "fill_id": "f-1", "order_id": oid, "client_order_id": coid, "ticker": K_TICKER,
            "market_ticker": K_TICKER, "side": "yes", "action": "buy", "count_fp": "4.00",
            "yes_price_dollars": "0.4200", "no_price_dollars": "0.5800", "is_taker": True, "ts": 1796378400,
            "created_time": "2026-12-04T10:00:00Z", "fee_cost": "0.0700"}


def k_golden(name: str) -> Any:
    p = ROOT.parent / "shared" / "fixtures" / "kalshi" / "kalshi-starter-code-python_golden" / f"{name}.json"
    try:
        r = json.loads(p.read_text()).get("response")
        if isinstance(r, dict) and r.get("cursor"):
            r["cursor"] = ""  # one page: the scripted server answers every page with the same body
        return r
    except (OSError, ValueError, AttributeError):
        return None


async def run_kalshi(server, key, n: int, seed: int) -> dict[str, Tally]:
    s, url = server
    gw = KalshiGateway(KalshiSigner("kid", key), KGatewayConfig(rest_url=url + "/trade-api/v2", max_attempts=1,
                                                                retry_backoff_s=0.0, read_rate=1e6, read_burst=10**6,
                                                                write_rate=1e6, write_burst=10**6))
    await gw.start()
    # metadata for the price check, so a create is only POST /portfolio/orders
    meta = (time.monotonic() + 1e9, KMarketMeta(ticker=K_TICKER, event_ticker="KXFUZZ", series_ticker="KXF", title="t"))
    mut = Mutator(seed)
    tallies = {k: Tally() for k in ("create", "cancel", "order_state", "open_orders", "fills", "balances",
                                    "positions", "market")}
    gold_market, gold_event, gold_series = k_golden("market_single_response"), k_golden("event_single_response"), \
        k_golden("series_single_response")
    try:
        for i in range(n):
            coid = f"fz-{seed}-{i}"
            oid = str(uuid.UUID(int=random.Random(i).getrandbits(128)))
            req = OrderRequest(instrument=k_inst(), client_order_id=coid, side=Side.BUY, quantity=D("10"),
                               price=D("0.42"), time_in_force=TimeInForce.GTC)
            gw._meta[K_TICKER] = meta  # the market step below may have cached a fuzzed market
            body, m, intact = mut({"order": k_order(oid, coid)})
            s.answers["POST /portfolio/orders"] = body
            t = tallies["create"]
            t.calls += 1
            try:
                res = await gw.submit(req)
            except Exception as exc:  # noqa: BLE001
                t.fail(f"submit escaped {exc!r}", body, m)
            else:
                if res.accepted:
                    # what the gateway checks must be intact (a byte flip inside the venue's order id
                    # that leaves a plain string cannot be told from a real id: it is not checked)
                    try:
                        got = json.loads(body.decode("utf-8", "replace"))["order"]
                        yes = got.get("yes_price_dollars") or str(D(1) - D(got.get("no_price_dollars")))
                        initial = D(got.get("initial_count_fp") or D(got.get("fill_count_fp") or 0)
                                    + D(got.get("remaining_count_fp") or 0))  # absent = 0, as the venue means it
                        same = (got["ticker"], got["side"], got["action"], D(yes), initial,
                                got.get("client_order_id") or coid) == (K_TICKER, "yes", "buy", D("0.42"), D(10), coid)
                    except (ValueError, KeyError, TypeError, ArithmeticError):
                        same = False
                    if not res.venue_order_id or "\ufffd" in res.venue_order_id or not same:
                        t.fail("a garbled answer accepted as our order", body, m)
                    for e in res.events:
                        if isinstance(e, OrderCanceled) and not sane_dec(e.filled_quantity, D(0)):
                            t.fail(f"insane {e!r}", body, m)
                else:
                    rej = [e for e in res.events if isinstance(e, OrderRejected)]
                    if intact:
                        t.fail(f"intact answer not accepted: {res.events!r}"[:300], body, m)
                    elif not rej or not all(e.retryable for e in rej):
                        t.fail(f"garbled answer -> non-retryable reject {res.events!r}"[:300], body, m)
            # make the order known (as an accepted create would), then cancel it
            gw._remember(coid, oid)
            body, m, intact = mut({"order": k_order(oid, coid, "canceled"), "reduced_by_fp": "6.00"})
            s.answers["DELETE /portfolio/orders/"] = body
            t = tallies["cancel"]
            t.calls += 1
            try:
                evs = await gw.cancel(coid)
            except Exception as exc:  # noqa: BLE001
                t.fail(f"cancel escaped {exc!r}", body, m)
            else:
                for e in evs:
                    if not isinstance(e, (OrderCanceled, OrderCancelRejected)):
                        t.fail(f"cancel gave {e!r}", body, m)
                    elif isinstance(e, OrderCanceled) and (not sane_dec(e.filled_quantity, D(0)) or e.venue_order_id != oid):
                        t.fail(f"insane {e!r}", body, m)
            # order state by venue order id
            body, m, intact = mut({"order": k_order(oid, coid, "executed")})
            s.answers["GET /portfolio/orders/"] = body
            t = tallies["order_state"]
            t.calls += 1
            try:
                st = await gw.order_state(coid, venue_order_id=oid)
            except OrderStateUnknown:
                if intact:
                    t.fail("intact order answer -> unknown", body, m)
            except Exception as exc:  # noqa: BLE001
                t.fail(f"order_state escaped {exc!r}", body, m)
            else:
                if st is None:
                    t.fail("None (= never placed) from a 200 answer", body, m)
                elif not sane_state(st) or st.venue_order_id != oid:
                    t.fail(f"order_state returned {st!r}"[:300], body, m)
            # open orders
            seeds = [{"orders": [k_order(oid, coid), k_order(str(uuid.uuid4()), "")], "cursor": ""}]
            body, m, intact = mut(seeds[0])
            s.answers["GET /portfolio/orders"] = body
            await query(tallies["open_orders"], gw.open_orders, lambda out: all(sane_state(x) for x in out),
                        body, m, intact)
            # fills
            seeds = [{"fills": [k_fill(oid, coid)], "cursor": ""}]
            g = k_golden("portfolio_fills_response")
            if isinstance(g, dict):
                seeds.append(g)
            body, m, intact = mut(seeds[i % len(seeds)])
            s.answers["GET /portfolio/fills"] = body
            await query(tallies["fills"], lambda: gw.fills_since(0), lambda out: all(sane_fill(x) for x in out),
                        body, m, intact)
            # balances
            seeds = [{"balance": 123456, "balance_dollars": "1234.5600", "portfolio_value": 5000, "updated_ts": 1}]
            g = k_golden("portfolio_balance_response")
            if isinstance(g, dict):
                seeds.append(g)
            body, m, intact = mut(seeds[i % len(seeds)])
            s.answers["GET /portfolio/balance"] = body
            await query(tallies["balances"], gw.balances,
                        lambda out: all(sane_dec(b.total, D(0)) and sane_dec(b.available, D(0)) for b in out),
                        body, m, intact)
            # positions
            seeds = [{"market_positions": [{"ticker": K_TICKER, "position_fp": "-4.00", "market_exposure_dollars":
                                            "2.3200", "realized_pnl_dollars": "0.1000", "fees_paid_dollars": "0.0700",
                                            "total_traded_dollars": "2.3200", "resting_orders_count": 0}],
                      "event_positions": [], "cursor": ""}]
            g = k_golden("portfolio_positions_response")
            if isinstance(g, dict):
                seeds.append(g)
            body, m, intact = mut(seeds[i % len(seeds)])
            s.answers["GET /portfolio/positions"] = body
            await query(tallies["positions"], gw.positions,
                        lambda out: all(sane_dec(p.quantity, D(0)) and (p.avg_price is None or sane_dec(p.avg_price))
                                        for p in out), body, m, intact)
            # market metadata: market -> event -> series (one of the three answers mutated)
            good = {"GET /markets/": gold_market if isinstance(gold_market, dict) and i % 2 else {"market": {
                        "ticker": K_TICKER, "event_ticker": "KXFUZZ", "title": "t", "status": "active",
                        "close_time": "2026-12-31T00:00:00Z", "price_level_structure": "linear_cent",
                        "price_ranges": [{"start": "0.0000", "end": "1.0000", "step": "0.0100"}],
                        "fractional_trading_enabled": False}},
                    "GET /events/": gold_event if isinstance(gold_event, dict) and i % 2 else {"event": {
                        "event_ticker": "KXFUZZ", "series_ticker": "KXF", "title": "e", "mutually_exclusive": True}},
                    "GET /series/": gold_series if isinstance(gold_series, dict) and i % 2 else {"series": {
                        "ticker": "KXF", "title": "s", "fee_type": "quadratic", "fee_multiplier": 1}}}
            which = list(good)[i % 3]
            for r, o in good.items():
                s.answers[r] = _enc(o)
            body, m, intact = mut(good[which])
            s.answers[which] = body
            gw._events.clear()
            gw._series.clear()
            ticker = (good["GET /markets/"].get("market") or {}).get("ticker", K_TICKER)

            def meta_ok(meta) -> bool:
                return (all(sane_dec(r.start, D(0), D(1)) and sane_dec(r.end, D(0), D(1)) and sane_dec(r.step, D(0))
                            and r.step > 0 for r in meta.price_ranges) and sane_dec(meta.fee_multiplier, D(0)))

            await query(tallies["market"], lambda: gw.market(ticker, refresh=True), meta_ok, body, m, intact)
    finally:
        await gw.close()
    return tallies


# --- tests -------------------------------------------------------------------------------------


def _check_all(tallies: dict[str, Tally], n: int) -> None:
    for name, t in tallies.items():
        assert t.calls >= n, name
    problems = {name: t.bad[:6] for name, t in tallies.items() if t.bad}
    assert not problems, json.dumps(problems, indent=1)[:6000]


async def test_polymarket_gateway_fuzz(server) -> None:
    n = 250
    _check_all(await run_polymarket(server, n, fuzz.SEED), n)


async def test_kalshi_gateway_fuzz(server, kkey) -> None:
    n = 250
    _check_all(await run_kalshi(server, kkey, n, fuzz.SEED), n)


@pytest.mark.slow
async def test_polymarket_gateway_fuzz_large(server) -> None:
    n = 3_000
    _check_all(await run_polymarket(server, n, fuzz.SEED + 7), n)


@pytest.mark.slow
async def test_kalshi_gateway_fuzz_large(server, kkey) -> None:
    n = 3_000
    _check_all(await run_kalshi(server, kkey, n, fuzz.SEED + 7), n)
