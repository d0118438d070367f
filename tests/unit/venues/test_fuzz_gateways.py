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

KuCoin (HF orders, docs/venues/kucoin.md): create ``POST /api/v1/hf/orders/sync`` answers in the
``{"code", "data"}`` envelope; a garbled answer is ambiguous and the order is looked up by clientOid
(an intact lookup here); a refusal is believed only from a readable envelope with a 6-digit code.
Cancel, order state, open orders, fills, balances and symbols get mutated answers too.

Kalshi (V2 order entry, docs/venues/kalshi.md): create ``POST /portfolio/events/orders`` and batch
create ``POST /portfolio/events/orders/batched`` answer flat items (order_id, client_order_id,
fill_count, remaining_count, ts_ms); an answer that cannot be read is ambiguous, so the gateway looks
the order up by client order id in ``GET /portfolio/orders`` (``ambiguous_settle_s=0`` here). Both
the create answers (behind an intact lookup page) and the lookup pages (behind an HTTP 500 create)
are mutated. A create accepted from the lookup must be an order of that page with our client order
id and our terms; a non-retryable refusal is only fair as ``duplicate_client_order_id`` when the page
shows a readable order with our id and other terms; an intact page that shows our order makes a
garbled create answer an acceptance. Cancels (``DELETE /portfolio/events/orders/{id}`` and batched)
give ``OrderCanceled`` only for the orders asked about, under our client order id, when the answer
names that order; the filled quantity read back afterwards is that order's (None when unknown).
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

import msgspec
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from arbkit.core.enums import InstrumentKind, Side, TimeInForce, Venue
from arbkit.core.events import OrderAccepted, OrderCanceled, OrderCancelRejected, OrderFilled, OrderRejected
from arbkit.core.instruments import Instrument
from arbkit.core.orders import OrderRequest, OrderState
from arbkit.sim.kalshi import messages as KM
from arbkit.venues.common.http import OrderStateUnknown
from arbkit.venues.kalshi.auth import KalshiSigner
from arbkit.venues.kalshi.gateway import GatewayConfig as KGatewayConfig
from arbkit.venues.kalshi.gateway import KalshiApiError, KalshiGateway, MarketMeta as KMarketMeta
from arbkit.venues.kucoin.auth import KucoinSigner
from arbkit.venues.kucoin.gateway import GatewayConfig as KcGatewayConfig
from arbkit.venues.kucoin.gateway import KucoinGateway
from arbkit.venues.kucoin.parse import KucoinError
from arbkit.venues.polymarket.auth import ApiCreds
from arbkit.venues.polymarket.gateway import GatewayConfig as PGatewayConfig
from arbkit.venues.polymarket.gateway import PolymarketGateway

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:  # bench/ is a top-level package next to src/
    sys.path.insert(0, str(ROOT))
fuzz = importlib.import_module("bench.fuzz")

D = Decimal
QUERY_ERRORS = (ValueError, RuntimeError, ConnectionError, ArithmeticError, KalshiApiError, KucoinError)
PM_KEY = "0x" + "5a" * 32
PM_CREDS = ApiCreds("api-key-1", base64.urlsafe_b64encode(b"z" * 32).decode(), "pp")
PM_TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
K_TICKER = "KXFUZZ-26DEC31-T001"


class Scripted:
    """Answers each request with the body planned for its route (status 200 unless ``statuses`` says)."""

    def __init__(self) -> None:
        self.answers: dict[str, bytes] = {}
        self.statuses: dict[str, int] = {}
        self.hits: dict[str, int] = {}

    def route(self, method: str, path: str) -> str:
        for prefix in ("/api/v1/hf/orders/sync/client-order/", "/api/v1/hf/orders/client-order/"):
            if path.startswith(prefix):  # KuCoin routes named by clientOid
                return f"{method} {prefix}"
        p = path.replace("/trade-api/v2", "")
        if p.startswith("/portfolio/"):  # Kalshi order routes: V2 create/cancel/batched, GET one/list
            if p != "/portfolio/events/orders/batched":
                for prefix in ("/portfolio/events/orders/", "/portfolio/orders/"):
                    if p.startswith(prefix):
                        return f"{method} {prefix}"
            return f"{method} {p}"
        for prefix in ("/data/order/", "/markets-by-token/", "/clob-markets/", "/markets/", "/events/", "/series/"):
            if prefix in path:
                return f"{method} {prefix}"
        return f"{method} {p}"

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        key = self.route(request.method, request.path)
        self.hits[key] = self.hits.get(key, 0) + 1
        body = self.answers.get(key)
        if body is None:
            return web.Response(status=404, body=b'{"error":"not found"}', content_type="application/json")
        return web.Response(status=self.statuses.get(key, 200), body=body, content_type="application/json")


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
                      tick_size=D("0.01"), size_increment=D("0.01"))


def k_order(oid: str, coid: str, status: str = "resting", filled: str = "0.00", legacy: bool = False) -> dict:
    """One order as the simulator's GET /portfolio/orders[/{id}] sends it (arbkit.sim.kalshi.messages
    OrderWire: outcome_side/book_side); ``legacy`` adds the deprecated side/action some builds still send."""
    remaining = "0.00" if status != "resting" else str(D("10.00") - D(filled))
    w = KM.OrderWire(book_side="bid", client_order_id=coid, created_time="2026-12-04T10:00:00.123Z",
                     expiration_time=None, fill_count_fp=filled, initial_count_fp="10.00",
                     last_update_time="2026-12-04T10:00:01Z", maker_fees_dollars="0.0000",
                     maker_fill_cost_dollars="0.0000", no_price_dollars="0.5800", order_group_id=None, order_id=oid,
                     outcome_side="yes", remaining_count_fp=remaining, status=status, taker_fees_dollars="0.0700",
                     taker_fill_cost_dollars="1.6800", ticker=K_TICKER, type="limit", user_id="u-fuzz",
                     yes_price_dollars="0.4200")
    d = json.loads(KM.encode(w))
    if legacy:
        d.update(side="yes", action="buy")
    return d


def k_page(orders: list[dict]) -> dict:
    return {"orders": orders, "cursor": ""}


def k_fill(oid: str, coid: str) -> dict:
    w = KM.FillWire(book_side="bid", count_fp="4.00", created_time="2026-12-04T10:00:00Z", exchange_index=0,
                    fee_cost="0.0700", fill_id="f-1", is_taker=True, market_ticker=K_TICKER, no_price_dollars="0.5800",
                    order_id=oid, outcome_side="yes", ticker=K_TICKER, trade_id="t-1", ts=1796378400,
                    yes_price_dollars="0.4200")
    return dict(json.loads(KM.encode(w)), client_order_id=coid)


def k_golden(name: str) -> Any:
    p = ROOT.parent / "shared" / "fixtures" / "kalshi" / "kalshi-starter-code-python_golden" / f"{name}.json"
    try:
        r = json.loads(p.read_text()).get("response")
        if isinstance(r, dict) and r.get("cursor"):
            r["cursor"] = ""  # one page: the scripted server answers every page with the same body
        return r
    except (OSError, ValueError, AttributeError):
        return None


def _strict(body: bytes) -> Any:
    """The body as JSON (bytes that are not UTF-8 read as U+FFFD, as the client reads them), or None
    when it is not JSON (NaN/Infinity tokens included)."""
    def bad(x: str) -> Any:
        raise ValueError(x)
    try:
        return json.loads(body.decode("utf-8", "replace"), parse_constant=bad)
    except (ValueError, RecursionError):
        return None


def _dec_or_none(x: Any) -> D | None:
    try:
        return D(x) if isinstance(x, str) else None
    except ArithmeticError:
        return None


def _ours_in_page(body: bytes, coid: str) -> list[dict]:
    got = _strict(body)
    orders = got.get("orders") if isinstance(got, dict) else None
    return [o for o in orders if isinstance(o, dict) and o.get("client_order_id") == coid] if isinstance(orders, list) else []


def _terms_ok(o: dict) -> bool:
    """Whether a (parsed) order record still says what we sent: BUY YES 10 @ 0.42 on K_TICKER."""
    try:
        yes = D(o["yes_price_dollars"]) if o.get("yes_price_dollars") else D(1) - D(o["no_price_dollars"])
        initial = D(o["initial_count_fp"]) if o.get("initial_count_fp") else \
            D(o.get("fill_count_fp") or 0) + D(o.get("remaining_count_fp") or 0)
        outs = {o.get("outcome_side"), {"bid": "yes", "ask": "no"}.get(o.get("book_side"), o.get("book_side"))} - {None}
        return o.get("ticker") == K_TICKER and outs == {"yes"} and yes == D("0.42") and initial == 10
    except (KeyError, TypeError, ValueError, ArithmeticError):
        return False


def _readable_other(body: bytes, coid: str) -> bool:
    """The page holds, under our client order id, an order the client can read whose terms are not ours
    (so 'this id is used by another order' is a fair verdict, not a guess from garbage)."""
    from arbkit.venues.kalshi.parse import OrdersPage as KOrdersPage

    try:
        page = msgspec.json.decode(body.decode("utf-8", "replace").encode(), type=KOrdersPage)  # as the client reads it
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
        return False
    for w in page.orders:
        if w.client_order_id == coid:
            try:
                w.counts(), w.yes_units(), w.outcome()
            except ValueError:
                return False
            o = _strict(body)
            recs = [x for x in o["orders"] if isinstance(x, dict) and x.get("client_order_id") == coid]
            return bool(recs) and not _terms_ok(recs[0])
    return False


def check_create(t: Tally, res: Any, req: OrderRequest, oid: str, create_body: bytes | None, create_mut: str,
                 create_intact: bool, page: bytes, page_mut: str, page_intact: bool, looked_up: bool,
                 filled: D) -> None:
    """The rules for one create (see the module docstring). ``create_body`` None: the create got no
    usable answer (HTTP 500), so the outcome rests on the lookup page."""
    coid = req.client_order_id
    body, mut = (page, page_mut) if create_body is None else (create_body + b" || lookup: " + page, create_mut)
    ours = _ours_in_page(page, coid)
    if res.accepted:
        vid = res.venue_order_id
        if not vid or "\ufffd" in vid:
            t.fail(f"accepted under a garbled order id {vid!r}", body, mut)
            return
        if looked_up:  # accepted from the lookup: the page must name our order, with our terms
            rec = [o for o in ours if o.get("order_id") == vid]
            if not rec or not _terms_ok(rec[0]):
                t.fail(f"accepted from a lookup that does not show our order: {vid!r}", body, mut)
            elif vid != oid and page_mut != "byte_flip":  # a flipped id that stays a plain string cannot be told
                t.fail(f"accepted under another order id {vid!r}", body, mut)
            want_filled = None
            if rec and isinstance(rec[0].get("fill_count_fp"), str):
                want_filled = rec[0]["fill_count_fp"]
        else:  # accepted from the create answer itself: it must still name our order
            got = _strict(create_body or b"")
            if not isinstance(got, dict) or got.get("order_id") != vid or got.get("client_order_id") not in (None, coid):
                t.fail(f"a garbled create answer accepted as our order ({vid!r})", body, mut)
                return
            if vid != oid and create_mut != "byte_flip":
                t.fail(f"accepted under another order id {vid!r}", body, mut)
            want_filled = got.get("fill_count")
        canceled = [e for e in res.events if isinstance(e, OrderCanceled)]
        for e in canceled:
            if not sane_dec(e.filled_quantity, D(0), D(10)) or e.venue_order_id != vid:
                t.fail(f"insane {e!r}", body, mut)
            elif want_filled is not None and e.filled_quantity != _dec_or_none(want_filled):
                t.fail(f"remainder canceled with filled {e.filled_quantity}, the venue said {want_filled!r}", body, mut)
        if canceled and req.time_in_force is not TimeInForce.IOC:
            t.fail(f"a resting order reported canceled: {canceled!r}"[:300], body, mut)
        if (not looked_up and req.time_in_force is TimeInForce.IOC and not canceled
                and _dec_or_none(want_filled) != req.quantity):
            t.fail(f"IOC partly filled ({want_filled!r}) without its remainder canceled: {res.events!r}"[:300], body, mut)
        if create_intact and page_intact and canceled and canceled[0].filled_quantity != filled:
            t.fail(f"filled {canceled[0].filled_quantity} != {filled} from intact answers", body, mut)
        return
    rej = [e for e in res.events if isinstance(e, OrderRejected)]
    if create_body is not None and create_intact:
        t.fail(f"intact answer not accepted: {res.events!r}"[:300], body, mut)
        return
    if rej and all(e.retryable for e in rej):
        if page_intact and ours and looked_up:
            t.fail(f"the lookup showed our order, yet {rej[0].code}: {rej[0].reason[:150]}", body, mut)
        return
    if rej and all(e.code == "duplicate_client_order_id" for e in rej) and looked_up and _readable_other(page, coid):
        return  # the venue holds another (readable) order under our id: a fair refusal
    t.fail(f"garbled answer -> non-retryable reject {[e.code for e in rej]} {res.events!r}"[:300], body, mut)


def check_cancel(t: Tally, evs: Any, asked: dict[str, str], body: bytes, mut: str, intact: bool,
                 readback: bytes, readback_intact: bool) -> None:
    """``asked``: venue order id -> our client order id, the orders we asked to cancel."""
    answer = _strict(body)
    items = answer.get("orders") if isinstance(answer, dict) and "orders" in answer else [answer]
    named = {}  # order id -> client order id, as the (strictly parsed) answer names them
    for it in items if isinstance(items, list) else []:
        if isinstance(it, dict) and isinstance(it.get("order_id"), str) and it.get("error") is None:
            named[it["order_id"]] = it.get("client_order_id")
    rb = _strict(readback)
    rb_order = rb.get("order") if isinstance(rb, dict) else None
    seen = set()
    for e in evs:
        if not isinstance(e, (OrderCanceled, OrderCancelRejected)):
            t.fail(f"cancel gave {e!r}", body, mut)
        elif isinstance(e, OrderCanceled):
            seen.add(e.venue_order_id)
            if e.venue_order_id not in asked:
                t.fail(f"canceled an order we did not ask about: {e!r}"[:300], body, mut)
            elif e.client_order_id != asked[e.venue_order_id]:
                t.fail(f"canceled under another client order id: {e!r}"[:300], body, mut)
            elif e.venue_order_id not in named or named[e.venue_order_id] not in (None, e.client_order_id):
                t.fail(f"OrderCanceled from an answer that does not name that order: {e!r}"[:300], body, mut)
            if e.filled_quantity is not None:
                if not sane_dec(e.filled_quantity, D(0), D(10)):
                    t.fail(f"insane {e!r}"[:300], body, mut)
                elif not (isinstance(rb_order, dict) and rb_order.get("order_id") == e.venue_order_id):
                    t.fail(f"filled quantity from a read-back of another order: {e!r}"[:300], body + b" || " + readback, mut)
                elif readback_intact and e.filled_quantity != D("4.00"):
                    t.fail(f"filled quantity {e.filled_quantity} != 4.00 from an intact read-back", body, mut)
            elif readback_intact and isinstance(rb_order, dict) and rb_order.get("order_id") == e.venue_order_id:
                t.fail(f"filled quantity unknown despite an intact read-back: {e!r}"[:300], body, mut)
    if intact and seen != set(asked):
        t.fail(f"intact cancel answer, yet canceled {sorted(seen)} of {sorted(asked)}: {evs!r}"[:300], body, mut)


async def run_kalshi(server, key, n: int, seed: int) -> dict[str, Tally]:
    s, url = server
    gw = KalshiGateway(KalshiSigner("kid", key), KGatewayConfig(rest_url=url + "/trade-api/v2", max_attempts=1,
                                                                retry_backoff_s=0.0, read_rate=1e6, read_burst=10**6,
                                                                write_rate=1e6, write_burst=10**6,
                                                                ambiguous_settle_s=0.0))
    await gw.start()
    # metadata for the price check, so a create is only POST /portfolio/events/orders (+ its lookups)
    meta = (time.monotonic() + 1e9, KMarketMeta(ticker=K_TICKER, event_ticker="KXFUZZ", series_ticker="KXF", title="t"))
    mut = Mutator(seed)
    tallies = {k: Tally() for k in ("create", "create_lookup", "batch_create", "cancel", "batch_cancel", "order_state",
                                    "order_state_by_coid", "open_orders", "fills", "balances", "positions", "market")}
    gold_market, gold_event, gold_series = k_golden("market_single_response"), k_golden("event_single_response"), \
        k_golden("series_single_response")
    gold_orders = k_golden("portfolio_orders_response")
    gold_order = k_golden("portfolio_order_single_response")
    rng = random.Random(seed)
    LOOKUP = "GET /portfolio/orders"
    READ = "GET /portfolio/orders/"

    def request(coid: str, ioc: bool) -> OrderRequest:
        return OrderRequest(instrument=k_inst(), client_order_id=coid, side=Side.BUY, quantity=D("10"),
                            price=D("0.42"), time_in_force=TimeInForce.IOC if ioc else TimeInForce.GTC)

    def v2_answer(oid: str, coid: str, ioc: bool) -> dict:
        return json.loads(KM.encode(KM.CreateOrderV2Response(
            order_id=oid, client_order_id=coid, fill_count="4.00" if ioc else "0.00",
            remaining_count="0.00" if ioc else "10.00", average_fill_price="0.4200" if ioc else None,
            average_fee_paid="0.0175" if ioc else None, ts_ms=1796378400123)))

    def lookup_seed(oid: str, coid: str, ioc: bool, with_ours: bool, j: int) -> dict:
        mine = [k_order(oid, coid, "canceled" if ioc else "resting", "4.00" if ioc else "0.00", legacy=j % 2 == 1)]
        others = [k_order(str(uuid.UUID(int=rng.getrandbits(128))), f"other-{j}")]
        if isinstance(gold_orders, dict) and j % 3 == 0:  # real records (another account's orders) around ours
            others = [o for o in gold_orders.get("orders", []) if isinstance(o, dict)][:3]
        return k_page(others + mine if with_ours else others)

    try:
        for i in range(n):
            gw._meta[K_TICKER] = meta  # the market step below may have cached a fuzzed market
            ioc = i % 3 == 2
            filled = D("4.00") if ioc else D(0)
            # --- create: mutated V2 answer; an intact lookup page behind it (an ambiguous answer is looked up)
            coid = f"fz-{seed}-{i}"
            oid = str(uuid.UUID(int=rng.getrandbits(128)))
            with_ours = i % 5 != 4
            body, m, intact = mut(v2_answer(oid, coid, ioc))
            page = _enc(lookup_seed(oid, coid, ioc, with_ours, i))
            s.answers["POST /portfolio/events/orders"] = body
            s.answers[LOOKUP] = page
            hits0 = s.hits.get(LOOKUP, 0)
            t = tallies["create"]
            t.calls += 1
            try:
                res = await gw.submit(request(coid, ioc))
            except Exception as exc:  # noqa: BLE001
                t.fail(f"submit escaped {exc!r}", body, m)
            else:
                check_create(t, res, request(coid, ioc), oid, body, m, intact, page, "none", True,
                             s.hits.get(LOOKUP, 0) > hits0, filled)
            # --- create with no usable answer (HTTP 500): the mutated lookup page decides
            coid2 = f"fz-{seed}-{i}-l"
            oid2 = str(uuid.UUID(int=rng.getrandbits(128)))
            s.statuses["POST /portfolio/events/orders"] = 500
            s.answers["POST /portfolio/events/orders"] = b'{"error":{"code":"internal","message":"try later"}}'
            page, pm, pintact = mut(lookup_seed(oid2, coid2, ioc, True, i + 1))
            s.answers[LOOKUP] = page
            t = tallies["create_lookup"]
            t.calls += 1
            try:
                res = await gw.submit(request(coid2, ioc))
            except Exception as exc:  # noqa: BLE001
                t.fail(f"submit escaped {exc!r}", page, pm)
            else:
                check_create(t, res, request(coid2, ioc), oid2, None, pm, False, page, pm, pintact, True, filled)
            finally:
                s.statuses.pop("POST /portfolio/events/orders", None)
            # --- batch create (two orders): mutated batch answer, intact lookup page with both
            c3, c4 = f"fz-{seed}-{i}-b0", f"fz-{seed}-{i}-b1"
            o3, o4 = str(uuid.UUID(int=rng.getrandbits(128))), str(uuid.UUID(int=rng.getrandbits(128)))
            batch = json.loads(KM.encode(KM.BatchCreateV2Envelope(orders=[
                KM.BatchCreateV2Item(**{k: v for k, v in v2_answer(o, c, False).items()}) for o, c in ((o3, c3), (o4, c4))])))
            body, m, intact = mut(batch)
            page = _enc(k_page([k_order(o3, c3), k_order(o4, c4)]))
            s.answers["POST /portfolio/events/orders/batched"] = body
            s.answers[LOOKUP] = page
            hits0 = s.hits.get(LOOKUP, 0)
            t = tallies["batch_create"]
            t.calls += 1
            try:
                results = await gw.submit_many([request(c3, False), request(c4, False)])
            except Exception as exc:  # noqa: BLE001
                t.fail(f"submit_many escaped {exc!r}", body, m)
            else:
                looked = s.hits.get(LOOKUP, 0) > hits0
                got = _strict(body)
                items = got.get("orders") if isinstance(got, dict) else None
                for j, (res, o, c) in enumerate(zip(results, (o3, o4), (c3, c4))):
                    item = items[j] if isinstance(items, list) and len(items) == 2 else None
                    item_body = _enc(item) if isinstance(item, dict) else b"<no readable item>"
                    # accepted from its item: the item must name our order; else from the lookup
                    from_lookup = looked and not (res.accepted and isinstance(item, dict)
                                                  and item.get("order_id") == res.venue_order_id
                                                  and item.get("client_order_id") in (None, c))
                    check_create(t, res, request(c, False), o, None if from_lookup else item_body, m, intact, page,
                                 "none", True, from_lookup, D(0))
            # --- cancel (V2, flat answer); the filled quantity comes from reading the order back
            gw._remember(coid, oid)
            cancel_seed = json.loads(KM.encode(KM.CancelOrderV2Response(order_id=oid, reduced_by="6.00",
                                                                        ts_ms=1796378401000, client_order_id=coid)))
            readback = {"order": k_order(oid, coid, "canceled", "4.00")}
            if i % 2:
                body, m, intact = mut(cancel_seed)
                rb, rb_intact = _enc(readback), True
            else:
                body, intact, m = _enc(cancel_seed), True, "none"
                rb, rbm, rb_intact = mut(readback)
                m = f"readback {rbm}"
            s.answers["DELETE /portfolio/events/orders/"] = body
            s.answers[READ] = rb
            t = tallies["cancel"]
            t.calls += 1
            try:
                evs = await gw.cancel(coid)
            except Exception as exc:  # noqa: BLE001
                t.fail(f"cancel escaped {exc!r}", body + b" || " + rb, m)
            else:
                check_cancel(t, evs, {oid: coid}, body, m, intact, rb, rb_intact)
            # --- batch cancel (V2)
            gw._remember(c3, o3)
            gw._remember(c4, o4)
            bc = json.loads(KM.encode(KM.BatchCancelV2Envelope(orders=[
                KM.BatchCancelV2Item(order_id=o3, reduced_by="6.00", client_order_id=c3, ts_ms=1796378401000),
                KM.BatchCancelV2Item(order_id=o4, reduced_by="10.00", ts_ms=1796378401000)])))
            body, m, intact = mut(bc)
            rb = _enc({"order": k_order(o3, c3, "canceled", "4.00")})  # intact for o3; about another order for o4
            s.answers["DELETE /portfolio/events/orders/batched"] = body
            s.answers[READ] = rb
            t = tallies["batch_cancel"]
            t.calls += 1
            try:
                evs = await gw.cancel_many([o3, o4])
            except Exception as exc:  # noqa: BLE001
                t.fail(f"cancel_many escaped {exc!r}", body, m)
            else:
                check_cancel(t, [e for e in evs if getattr(e, "venue_order_id", o3) != o4], {o3: c3}, body, m,
                             intact, rb, True)
                for e in evs:
                    if isinstance(e, OrderCanceled) and e.venue_order_id == o4 and e.filled_quantity is not None:
                        t.fail(f"filled quantity of {o4} from a read-back of {o3}: {e!r}"[:300], body, m)
                    if isinstance(e, OrderCanceled) and e.venue_order_id not in (o3, o4):
                        t.fail(f"canceled an order we did not ask about: {e!r}"[:300], body, m)
            # --- order state by venue order id
            seeds = [{"order": k_order(oid, coid, "executed", "10.00")}]
            if isinstance(gold_order, dict) and isinstance(gold_order.get("order"), dict):
                seeds.append({"order": dict(gold_order["order"], order_id=oid, client_order_id=coid)})
            body, m, intact = mut(seeds[i % len(seeds)])
            s.answers[READ] = body
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
            # --- order state by client order id only (an order this process never saw: a scan)
            c5 = f"fz-{seed}-{i}-s"
            o5 = str(uuid.UUID(int=rng.getrandbits(128)))
            body, m, intact = mut(k_page([k_order(str(uuid.uuid4()), "x-1"), k_order(o5, c5, "resting", "2.00")]))
            s.answers[LOOKUP] = body
            t = tallies["order_state_by_coid"]
            t.calls += 1
            try:
                st = await gw.order_state(c5)
            except OrderStateUnknown:
                if intact:
                    t.fail("intact order list -> unknown", body, m)
            except Exception as exc:  # noqa: BLE001
                t.fail(f"order_state escaped {exc!r}", body, m)
            else:
                if st is None:
                    if intact or any(o.get("order_id") for o in _ours_in_page(body, c5)):
                        t.fail("None (= never placed) though the list shows the order", body, m)
                elif not sane_state(st) or st.client_order_id != c5 or not any(
                        o.get("order_id") == st.venue_order_id for o in _ours_in_page(body, c5)):
                    t.fail(f"order_state returned {st!r}"[:300], body, m)
            # --- open orders
            seeds = [k_page([k_order(oid, coid), k_order(str(uuid.uuid4()), "", legacy=True)])]
            if isinstance(gold_orders, dict):
                seeds.append(gold_orders)
            body, m, intact = mut(seeds[i % len(seeds)])
            s.answers[LOOKUP] = body
            await query(tallies["open_orders"], gw.open_orders, lambda out: all(sane_state(x) for x in out),
                        body, m, intact)
            # fills
            seeds = [{"fills": [k_fill(oid, coid)], "cursor": ""}]
            g = k_golden("portfolio_fills_response")
            if isinstance(g, dict):
                seeds.append(g)
            body, m, intact = mut(seeds[i % len(seeds)])
            s.answers["GET /portfolio/fills"] = body
            s.answers[READ] = _enc({"order": k_order(oid, coid, "executed", "10.00")})
            await query(tallies["fills"], lambda: gw.fills_since(0), lambda out: all(sane_fill(x) for x in out),
                        body, m, intact)
            # balances
            seeds = [json.loads(KM.encode(KM.Balance(balance=123456, balance_dollars="1234.5600",
                                                     portfolio_value=5000, updated_ts=1)))]
            g = k_golden("portfolio_balance_response")
            if isinstance(g, dict):
                seeds.append(g)
            body, m, intact = mut(seeds[i % len(seeds)])
            s.answers["GET /portfolio/balance"] = body
            await query(tallies["balances"], gw.balances,
                        lambda out: all(sane_dec(b.total, D(0)) and sane_dec(b.available, D(0)) for b in out),
                        body, m, intact)
            # positions
            seeds = [json.loads(KM.encode(KM.PositionsPage(cursor="", event_positions=[], market_positions=[
                KM.MarketPositionWire(exchange_index=0, fees_paid_dollars="0.0700", last_updated_ts="2026-12-04T10:00:00Z",
                                      market_exposure_dollars="2.3200", position_fp="-4.00",
                                      realized_pnl_dollars="0.1000", resting_orders_count=0, ticker=K_TICKER,
                                      total_traded_dollars="2.3200")])))]
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
                        "price_ranges": [{"start": "0.0000", "end": "1.0000", "step": "0.0100"}]}},
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


# --- KuCoin -----------------------------------------------------------------------------------

KC_SYMBOL = {"symbol": "BTC-USDT", "name": "BTC-USDT", "baseCurrency": "BTC", "quoteCurrency": "USDT",
             "feeCurrency": "USDT", "market": "USDS", "baseMinSize": "0.00001", "quoteMinSize": "0.1",
             "baseMaxSize": "10000000000", "quoteMaxSize": "99999999", "baseIncrement": "0.00000001",
             "quoteIncrement": "0.000001", "priceIncrement": "0.1", "priceLimitRate": "0.1", "minFunds": "0.1",
             "isMarginEnabled": True, "enableTrading": True, "feeCategory": 1, "makerFeeCoefficient": "1.00",
             "takerFeeCoefficient": "1.00", "st": False}


def kc_ok(data: Any) -> dict:
    return {"code": "200000", "data": data}


def kc_order(oid: str, coid: str, active: bool = True) -> dict:
    return {"id": oid, "clientOid": coid, "symbol": "BTC-USDT", "opType": "DEAL", "type": "limit", "side": "buy",
            "price": "90000.1", "size": "0.5", "funds": "45000.05", "dealSize": "0.2", "dealFunds": "18000.02",
            "fee": "0.01800002", "feeCurrency": "USDT", "timeInForce": "GTC", "postOnly": False, "active": active,
            "inOrderBook": active, "cancelExist": False, "cancelledSize": "0", "remainSize": "0.3",
            "createdAt": 1764800000000, "lastUpdatedAt": 1764800000001}


def kc_refusal(body: bytes) -> bool:
    """A readable KuCoin refusal: strict JSON, an envelope whose code is 6 digits other than 200000."""
    o = _strict(body)
    code = o.get("code") if isinstance(o, dict) else None
    return isinstance(code, str) and len(code) == 6 and code.isdigit() and code != "200000"


def kc_sane_state(st: Any) -> bool:
    return (isinstance(st, OrderState) and sane_dec(st.price, D(0)) and sane_dec(st.quantity, D(0))
            and sane_dec(st.filled_quantity, D(0)) and st.filled_quantity <= st.quantity)


async def run_kucoin(server, n: int, seed: int) -> dict[str, Tally]:
    s, url = server
    gw = KucoinGateway(KucoinSigner("key", "secret", "pass"),
                       KcGatewayConfig(rest_url=url, ambiguous_settle_s=0, read_attempts=1, create_attempts=1,
                                       backoff_s=0.001, rate_per_s=1e6, burst=10**6))
    mut = Mutator(seed)
    tallies = {k: Tally() for k in ("create", "cancel", "order_state", "open_orders", "fills", "balances", "symbols")}
    s.answers["GET /api/v2/symbols"] = _enc(kc_ok([KC_SYMBOL]))
    s.answers["GET /api/v1/trade-fees"] = _enc(kc_ok([{"symbol": "BTC-USDT", "takerFeeRate": "0.001",
                                                       "makerFeeRate": "0.001"}]))
    inst = (await gw.instruments())[0]
    try:
        for i in range(n):
            coid, oid = f"kfz-{seed}-{i}", f"{i:024x}"
            req = OrderRequest(instrument=inst, client_order_id=coid, side=Side.BUY, quantity=D("0.5"),
                               price=D("90000.1"), time_in_force=TimeInForce.GTC)
            # create; an ambiguous answer is looked up (intact: the order exists)
            s.answers["GET /api/v1/hf/orders/client-order/"] = _enc(kc_ok(dict(kc_order(oid, coid), dealSize="0")))
            body, m, intact = mut(kc_ok({"orderId": oid, "clientOid": coid, "orderTime": 1764800000000,
                                         "originSize": "0.5", "dealSize": "0", "remainSize": "0.5", "canceledSize": "0",
                                         "status": "open", "matchTime": 1764800000000}))
            s.answers["POST /api/v1/hf/orders/sync"] = body
            t = tallies["create"]
            t.calls += 1
            try:
                res = await gw.submit(req)
            except Exception as exc:  # noqa: BLE001
                t.fail(f"submit escaped {exc!r}", body, m)
            else:
                if res.accepted:
                    # a flip of one hex digit of the id into another is a well-formed answer under our
                    # clientOid: no client can tell; a later lookup by clientOid then refuses the
                    # mismatch (OrderStateUnknown: held). Anything else must name our order.
                    o = _strict(body)
                    said = o.get("data") if isinstance(o, dict) else None
                    plausible = (isinstance(said, dict) and said.get("clientOid") == coid
                                 and res.venue_order_id == said.get("orderId") and len(res.venue_order_id) == 24)
                    if res.venue_order_id != oid and not plausible:
                        t.fail(f"accepted as {res.venue_order_id!r}", body, m)
                else:
                    rej = [e for e in res.events if isinstance(e, OrderRejected)]
                    if intact:
                        t.fail(f"intact answer not accepted: {res.events!r}"[:300], body, m)
                    elif not rej or not (all(e.retryable for e in rej) or kc_refusal(body)):
                        t.fail(f"garbled answer -> non-retryable reject {res.events!r}"[:300], body, m)
            # cancel
            body, m, intact = mut(kc_ok({"orderId": oid, "clientOid": coid, "originSize": "0.5", "dealSize": "0.2",
                                         "remainSize": "0", "canceledSize": "0.3", "status": "done"}))
            s.answers["DELETE /api/v1/hf/orders/sync/client-order/"] = body
            t = tallies["cancel"]
            t.calls += 1
            try:
                evs = await gw.cancel(coid)
            except Exception as exc:  # noqa: BLE001
                t.fail(f"cancel escaped {exc!r}", body, m)
            else:
                for e in evs:
                    if not isinstance(e, (OrderCanceled, OrderCancelRejected)) or e.client_order_id != coid:
                        t.fail(f"cancel gave {e!r}", body, m)
                    elif isinstance(e, OrderCanceled) and not (sane_dec(e.filled_quantity, D(0), D("0.5"))):
                        t.fail(f"cancel filled quantity {e.filled_quantity!r}", body, m)
                if intact and not any(isinstance(e, OrderCanceled) for e in evs):
                    t.fail(f"intact cancel answer not a cancel: {evs!r}", body, m)
            # order state
            body, m, intact = mut(kc_ok(kc_order(oid, coid)))
            s.answers["GET /api/v1/hf/orders/client-order/"] = body
            t = tallies["order_state"]
            t.calls += 1
            try:
                st = await gw.order_state(coid)
            except OrderStateUnknown:
                if intact:
                    t.fail("intact order answer -> OrderStateUnknown", body, m)
            except Exception as exc:  # noqa: BLE001
                t.fail(f"order_state escaped {exc!r}", body, m)
            else:
                if st is None and _strict(body) != {"code": "200000", "data": None}:  # data null: no such order
                    t.fail("None without a 'no such order' answer", body, m)
                elif st is not None and (not kc_sane_state(st) or st.client_order_id not in (coid, "")
                                         or st.venue_order_id != oid):
                    t.fail(f"state {st!r}"[:300], body, m)
            # open orders (the symbol list intact, the orders mutated)
            s.answers["GET /api/v1/hf/orders/active/symbols"] = _enc(kc_ok({"symbols": ["BTC-USDT"]}))
            body, m, intact = mut(kc_ok([kc_order(oid, coid)]))
            s.answers["GET /api/v1/hf/orders/active"] = body
            await query(tallies["open_orders"], gw.open_orders, lambda out: all(kc_sane_state(x) for x in out), body, m,
                        intact)
            # fills of the traded symbol (the order is known: no lookup)
            body, m, intact = mut(kc_ok({"items": [{"id": 1, "symbol": "BTC-USDT", "tradeId": 7 + i, "orderId": oid,
                                                    "counterOrderId": "x", "side": "buy", "liquidity": "taker",
                                                    "forceTaker": False, "price": "90000.1", "size": "0.2",
                                                    "funds": "18000.02", "fee": "0.01800002", "feeRate": "0.001",
                                                    "feeCurrency": "USDT", "type": "limit",
                                                    "createdAt": 1764800000000}], "lastId": 1}))
            s.answers["GET /api/v1/hf/fills"] = body
            await query(tallies["fills"], lambda: gw.fills_since(0),
                        lambda out: all(isinstance(e, OrderFilled) and sane_dec(e.price, D(0)) and e.quantity > 0
                                        and sane_dec(e.quantity) and sane_dec(e.fee, D(0)) for e in out), body, m, intact)
            # balances
            body, m, intact = mut(kc_ok([{"id": "a1", "currency": "USDT", "type": "trade", "balance": "100.5",
                                          "available": "90.5", "holds": "10"}]))
            s.answers["GET /api/v1/accounts"] = body
            await query(tallies["balances"], gw.balances,
                        lambda out: all(sane_dec(b.total, D(0)) and sane_dec(b.available, D(0), b.total) for b in out),
                        body, m, intact)
            # symbols -> instruments
            body, m, intact = mut(kc_ok([KC_SYMBOL]))
            s.answers["GET /api/v2/symbols"] = body
            await query(tallies["symbols"], gw.instruments,
                        lambda out: all(sane_dec(x.tick_size, D(0)) and x.tick_size > 0 and x.size_increment > 0
                                        and sane_dec(x.size_increment) and sane_dec(x.min_size, D(0))
                                        and sane_dec(x.min_notional, D(0)) for x in out), body, m, intact)
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


async def test_kucoin_gateway_fuzz(server) -> None:
    n = 250
    _check_all(await run_kucoin(server, n, fuzz.SEED), n)


async def test_kalshi_gateway_fuzz(server, kkey) -> None:
    n = 250
    _check_all(await run_kalshi(server, kkey, n, fuzz.SEED), n)


async def test_kalshi_gateway_fuzz_catches_garbage_taken_for_another_order(server, kkey, monkeypatch) -> None:
    """The fuzz can fail: with the old reading of a looked-up record (unreadable = another order),
    a garbled lookup turns into a non-retryable duplicate_client_order_id refusal, which it reports."""
    gw_mod = importlib.import_module("arbkit.venues.kalshi.gateway")
    real = gw_mod._same_order
    monkeypatch.setattr(gw_mod, "_same_order", lambda prep, wire: bool(real(prep, wire)))
    tallies = await run_kalshi(server, kkey, 120, fuzz.SEED)
    bad = tallies["create_lookup"].bad
    assert any("non-retryable reject" in b and "duplicate_client_order_id" in b for b in bad), bad[:3]


async def test_kalshi_gateway_fuzz_catches_a_fill_count_from_another_order(server, kkey, monkeypatch) -> None:
    """The fuzz can fail: reading the filled quantity after a cancel from whatever order the read-back
    names (the old code) books another order's fills on ours, and junk counts escape cancel()."""
    gw_mod = importlib.import_module("arbkit.venues.kalshi.gateway")

    async def old(self, order_id, coid):
        wire = await self.get_order(order_id)
        return None if wire is None else gw_mod.lots_to_count(wire.counts()[1])

    monkeypatch.setattr(gw_mod.KalshiGateway, "_filled_after_cancel", old)
    tallies = await run_kalshi(server, kkey, 60, fuzz.SEED)
    bad = tallies["batch_cancel"].bad + tallies["cancel"].bad
    assert any("read-back of" in b for b in bad), bad[:3]


@pytest.mark.slow
async def test_polymarket_gateway_fuzz_large(server) -> None:
    n = 3_000
    _check_all(await run_polymarket(server, n, fuzz.SEED + 7), n)


@pytest.mark.slow
async def test_kalshi_gateway_fuzz_large(server, kkey) -> None:
    n = 3_000
    _check_all(await run_kalshi(server, kkey, n, fuzz.SEED + 7), n)


@pytest.mark.slow
async def test_kucoin_gateway_fuzz_large(server) -> None:
    n = 2000
    _check_all(await run_kucoin(server, n, fuzz.SEED + 2), n)
