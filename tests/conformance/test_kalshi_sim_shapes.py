"""Every message the simulated Kalshi venue emits has the field names and JSON types of the real ones.

References (``shared_fixtures``):

* ``kalshi/kalshi-starter-code-python_golden``: real REST responses recorded 2026-01 (prod/demo).
  They predate the 2026-03-12 fixed-point cut, so each carries the legacy integer fields too. The
  expected post-cut shape is the recording minus the fields Kalshi removed, plus their
  replacements, per docs.kalshi.com "Fixed-Point Migration" (``REMOVED`` below).
* ``kalshi/nautilus_trader_pr3659``: fixed-point REST and WS payloads (snapshot, delta, trade).

Direction fields (docs.kalshi.com "Order direction (outcome_side and book_side)", checked
2026-12-04): orders and fills carry ``outcome_side``/``book_side``; the deprecated ``side``/``action``
(WS ``purchased_side``, ``is_yes``; trades' ``taker_side`` -> ``taker_outcome_side``/``taker_book_side``)
are no longer sent. Order entry is V2 (``/portfolio/events/orders``): its flat answers are checked
against the official SDK 3.34.0 models (``V2_SHAPES``), the legacy routes answer 410.

Fields the simulator sends beyond a reference must be in ``EXTRA``: each is a field of Kalshi's
current published schema (OpenAPI/AsyncAPI, as in the official ``kalshi-python-sync`` models and the
docs.kalshi.com channel pages), noted per entry. Message types with no recorded payload in
../shared (ticker, fill, subscribed, ok, unsubscribed, error) are checked against the documented
required fields (``DOCUMENTED``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets

from arbkit.core.clock import LiveClock
from arbkit.sim.kalshi.auth import auth_headers, load_private_key
from arbkit.sim.kalshi.server import WS_PATH, KalshiServer
from arbkit.sim.kalshi.standalone import MarketDef, build_context

GOLDEN = "kalshi/kalshi-starter-code-python_golden"
PR = "kalshi/nautilus_trader_pr3659"
T = "KXCONF-26DEC31-T50"

# Legacy integer fields removed on 2026-03-12 -> their replacement (None: covered by other fields).
REMOVED: dict[str, dict[str, str | None]] = {
    "market": {
        "yes_bid": "yes_bid_dollars", "yes_ask": "yes_ask_dollars", "no_bid": "no_bid_dollars", "no_ask": "no_ask_dollars",
        "last_price": "last_price_dollars", "volume": "volume_fp", "volume_24h": "volume_24h_fp",
        "open_interest": "open_interest_fp", "notional_value": "notional_value_dollars",
        "previous_yes_bid": "previous_yes_bid_dollars", "previous_yes_ask": "previous_yes_ask_dollars",
        "previous_price": "previous_price_dollars", "liquidity": "liquidity_dollars", "settlement_value": "settlement_value_dollars",
        "fractional_trading_enabled": None,  # removed 2026-07-09: every market takes fractional counts
    },
    "order": {
        "yes_price": "yes_price_dollars", "no_price": "no_price_dollars", "fill_count": "fill_count_fp",
        "remaining_count": "remaining_count_fp", "initial_count": "initial_count_fp",
        "taker_fill_cost": "taker_fill_cost_dollars", "maker_fill_cost": "maker_fill_cost_dollars",
        "taker_fees": "taker_fees_dollars", "maker_fees": "maker_fees_dollars",
        # deprecated "always 0"; absent from the current Order schema (kalshi-python-sync 3.34 models)
        "queue_position": None,
        # deprecated direction fields (Order direction doc), no longer sent
        "side": None, "action": None,
    },
    "fill": {"count": "count_fp", "price": None, "yes_price": "yes_price_dollars", "no_price": "no_price_dollars",
             "side": None, "action": None,
             # deprecated aliases, absent from the official SDK 3.34.0 Fill model
             "yes_price_fixed": None, "no_price_fixed": None},
    "market_position": {
        "position": "position_fp", "total_traded": "total_traded_dollars", "market_exposure": "market_exposure_dollars",
        "realized_pnl": "realized_pnl_dollars", "fees_paid": "fees_paid_dollars",
    },
    "event_position": {
        "event_exposure": "event_exposure_dollars", "fees_paid": "fees_paid_dollars", "realized_pnl": "realized_pnl_dollars",
        "total_cost": "total_cost_dollars", "total_cost_shares": "total_cost_shares_fp",
    },
    "cancel": {"reduced_by": "reduced_by_fp"},
    "trade": {"count": "count_fp", "price": None, "yes_price": "yes_price_dollars", "no_price": "no_price_dollars",
              "taker_side": "taker_outcome_side"},
    "trade_msg": {"taker_side": "taker_outcome_side"},
}

# Fields beyond the reference payload, each in Kalshi's current published schema.
EXTRA: dict[str, set[str]] = {
    # Market (OpenAPI Market): updated_time, yes/no size fields (fractional_trading_enabled was removed 2026-07)
    "market": {"updated_time", "yes_bid_size_fp", "yes_ask_size_fp", "volume_24h_fp",
               "previous_yes_ask_dollars", "previous_yes_bid_dollars", "previous_price_dollars", "expiration_value",
               "price_level_structure", "price_ranges", "settlement_timer_seconds", "can_close_early", "created_time",
               "expected_expiration_time", "expiration_time", "liquidity_dollars", "response_price_units", "result",
               "rules_secondary", "tick_size"},
    # Order: outcome_side / book_side (required in the current Order schema), fee dollars (post-cut)
    "order": {"outcome_side", "book_side", "taker_fees_dollars", "maker_fees_dollars"},
    # Fill: outcome_side / book_side / fee_cost (current Fill schema)
    "fill": {"outcome_side", "book_side", "fee_cost", "no_price_dollars", "yes_price_dollars", "exchange_index"},
    # MarketPosition.exchange_index (required in the official SDK 3.34.0 model)
    "market_position": {"exchange_index"},
    "balance": {"balance_dollars"},  # GetBalanceResponse.balance_dollars
    "trade": {"taker_book_side"},  # Trade.taker_book_side (Order direction doc)
    "trade_msg": {"taker_book_side"},
    "delta_msg": {"market_id", "ts_ms", "client_order_id"},  # AsyncAPI orderbook_delta payload
}

# Golden keys that only multivariate / custom-strike markets carry.
OPTIONAL = {"market": {"custom_strike", "mve_collection_ticker", "mve_selected_legs", "strike_type", "early_close_condition"}}

# Documented required fields (AsyncAPI on docs.kalshi.com; "Quick Start: WebSockets" for commands).
DOCUMENTED = {
    "ticker": {"market_id", "market_ticker", "price_dollars", "yes_bid_dollars", "yes_ask_dollars", "volume_fp",
               "open_interest_fp", "dollar_volume", "dollar_open_interest", "yes_bid_size_fp", "yes_ask_size_fp",
               "last_trade_size_fp", "ts", "ts_ms", "time"},
    "fill": {"trade_id", "order_id", "market_ticker", "is_taker", "outcome_side", "book_side", "yes_price_dollars",
             "count_fp", "fee_cost", "ts", "post_position_fp"},
    "market_position": {"user_id", "market_ticker", "position_fp", "position_cost_dollars", "realized_pnl_dollars",
                        "fees_paid_dollars", "position_fee_cost_dollars", "volume_fp"},
    "user_order": {"order_id", "user_id", "ticker", "status", "outcome_side", "book_side", "yes_price_dollars", "fill_count_fp",
                   "remaining_count_fp", "initial_count_fp", "taker_fill_cost_dollars", "maker_fill_cost_dollars",
                   "taker_fees_dollars", "maker_fees_dollars", "client_order_id", "created_time", "created_ts_ms"},
}
# V2 order entry answers: (required, optional) fields of the official SDK 3.34.0 models
# (create_order_v2_response.py, cancel_order_v2_response.py, batch_*_v2_response_orders_inner.py).
V2_SHAPES = {
    "create": ({"order_id", "fill_count", "remaining_count", "ts_ms"},
               {"client_order_id", "average_fill_price", "average_fee_paid"}),
    "cancel": ({"order_id", "reduced_by", "ts_ms"}, {"client_order_id"}),
    "batch_create_item": (set(), {"order_id", "client_order_id", "fill_count", "remaining_count", "average_fill_price",
                                  "average_fee_paid", "ts_ms", "error"}),
    "batch_cancel_item": ({"order_id", "reduced_by"}, {"client_order_id", "ts_ms", "error"}),
}
V2_TYPES = {"ts_ms": int, "error": dict}


def v2_problems(kind: str, obj: dict[str, Any], where: str) -> list[str]:
    required, optional = V2_SHAPES[kind]
    out = [f"{where}{k}: missing" for k in sorted(required - set(obj))]
    out += [f"{where}unexpected fields {sorted(set(obj) - required - optional)}"] if set(obj) - required - optional else []
    out += [f"{where}{k}: {type(v).__name__}" for k, v in obj.items() if not isinstance(v, V2_TYPES.get(k, str))]
    return out


# documented optional fields the simulator sends when they apply
DOCUMENTED_OPTIONAL = {
    "ticker": set(),
    "market_position": set(),
    "fill": {"client_order_id"},
    "user_order": {"last_update_time", "last_updated_ts_ms", "expiration_time", "expiration_ts_ms"},
}
DOCUMENTED_TYPES = {"dollar_volume": int, "dollar_open_interest": int, "ts": int, "ts_ms": int, "is_taker": bool,
                   "created_ts_ms": int, "last_updated_ts_ms": int, "expiration_ts_ms": int}


def jtype(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    return {str: "str", list: "list", dict: "dict"}[type(v)]


def expected_shape(kind: str, ref: dict[str, Any]) -> dict[str, Any]:
    """The post-cut reference object: legacy fields out, replacements in (typed as strings)."""
    removed = REMOVED.get(kind, {})
    out = {k: v for k, v in ref.items() if k not in removed and k not in OPTIONAL.get(kind, set())}
    for old, repl in removed.items():
        if repl is not None and old in ref:
            out.setdefault(repl, "")
    return out


def conforms(kind: str, ours: dict[str, Any], ref: dict[str, Any], where: str = "") -> list[str]:
    """Problems with ``ours`` against reference ``ref`` (names and JSON types, nested objects too)."""
    problems = []
    want = expected_shape(kind, ref)
    for key, rv in want.items():
        if key not in ours:
            problems.append(f"{where}{key}: missing")
            continue
        ov = ours[key]
        if rv is None:  # nullable in the recording: null or a value
            continue
        if jtype(ov) != jtype(rv):
            problems.append(f"{where}{key}: {jtype(ov)} != {jtype(rv)}")
        elif isinstance(rv, dict):
            problems += conforms(key, ov, rv, f"{where}{key}.")
        elif isinstance(rv, list) and rv and ov:
            if isinstance(rv[0], dict):
                problems += conforms(key, ov[0], rv[0], f"{where}{key}[0].")
            elif [jtype(x) for x in ov[0]] != [jtype(x) for x in rv[0]] if isinstance(rv[0], list) else jtype(ov[0]) != jtype(rv[0]):
                problems.append(f"{where}{key}[0]: {ov[0]!r} vs {rv[0]!r}")
    extra = set(ours) - set(want) - EXTRA.get(kind, set())
    if extra:
        problems.append(f"{where}unexpected fields {sorted(extra)}")
    return problems


def golden(shared: Path, name: str) -> Any:
    return json.loads((shared / GOLDEN / f"{name}.json").read_text())["response"]


def pr(shared: Path, name: str) -> Any:
    return json.loads((shared / PR / f"{name}.json").read_text())


@pytest.fixture
async def captured(tmp_path: Path) -> dict[str, Any]:
    """Drive one of every REST response and WS message out of a live simulator."""
    ctx = build_context(LiveClock(), [MarketDef(T, title="Conformance?", venue_meta={"event_ticker": "KXCONF-26DEC31"})], tmp_path / "k")
    server = KalshiServer(ctx)
    await server.start("127.0.0.1")
    info = server.info()
    out: dict[str, Any] = {}

    async def rest(i: int, method: str, path: str, body: Any = None) -> Any:
        acct = info["accounts"][i]
        h = auth_headers(acct["key_id"], load_private_key(acct["private_key_path"]), method, "/trade-api/v2" + path.split("?")[0])
        async with aiohttp.ClientSession() as http:
            async with http.request(method, info["rest_url"] + path, json=body, headers=h) as r:
                assert r.status < 300, await r.text()
                return await r.json()

    acct = info["accounts"][0]
    ws = await websockets.connect(info["ws_url"], additional_headers=auth_headers(acct["key_id"], load_private_key(acct["private_key_path"]), "GET", WS_PATH))
    frames: list[dict[str, Any]] = []

    async def recv_until(pred: Any) -> None:
        import asyncio

        while True:
            m = json.loads(await asyncio.wait_for(ws.recv(), 3))
            frames.append(m)
            if pred(m):
                return

    try:
        def v2(side: str, count: str, price: str, **kw: Any) -> dict[str, Any]:
            return {"ticker": T, "side": side, "count": count, "price": price, "time_in_force": "good_till_canceled",
                    "self_trade_prevention_type": "taker_at_cross", **kw}

        await rest(1, "POST", "/portfolio/events/orders", v2("bid", "200", "0.3500"))
        await rest(1, "POST", "/portfolio/events/orders", v2("ask", "400", "0.4600"))  # buy NO at 0.54
        await ws.send(json.dumps({"id": 1, "cmd": "subscribe", "params": {"channels": ["orderbook_delta", "trade", "fill", "ticker", "user_orders", "market_positions"], "market_tickers": [T]}}))
        await recv_until(lambda m: m["type"] == "orderbook_snapshot")
        out["create"] = await rest(0, "POST", "/portfolio/events/orders", v2("bid", "10", "0.4000", client_order_id="c-1"))
        await rest(1, "POST", "/portfolio/events/orders", v2("ask", "4", "0.4000", time_in_force="immediate_or_cancel"))
        await recv_until(lambda m: m["type"] == "fill")
        await recv_until(lambda m: m["type"] == "ticker")
        oid = out["create"]["order_id"]
        out["order"] = await rest(0, "GET", f"/portfolio/orders/{oid}")
        out["orders"] = await rest(0, "GET", "/portfolio/orders?limit=5")
        out["fills"] = await rest(0, "GET", "/portfolio/fills")
        out["positions"] = await rest(0, "GET", "/portfolio/positions")
        out["balance"] = await rest(0, "GET", "/portfolio/balance")
        out["cancel"] = await rest(0, "DELETE", f"/portfolio/events/orders/{oid}")
        out["batch_create"] = await rest(0, "POST", "/portfolio/events/orders/batched", {"orders": [
            v2("bid", "1", "0.3000"), v2("bid", "1", "0.3100")]})
        ids = [x["order_id"] for x in out["batch_create"]["orders"]]
        out["batch_cancel"] = await rest(0, "DELETE", "/portfolio/events/orders/batched", {"orders": [{"order_id": i} for i in ids]})
        out["trades"] = await rest(0, "GET", f"/markets/trades?ticker={T}")
        out["markets"] = await rest(0, "GET", "/markets")
        out["market"] = await rest(0, "GET", f"/markets/{T}")
        out["orderbook"] = await rest(0, "GET", f"/markets/{T}/orderbook")
        out["events"] = await rest(0, "GET", "/events")
        out["event"] = await rest(0, "GET", "/events/KXCONF-26DEC31")
        out["series"] = await rest(0, "GET", "/series/KXCONF")
        out["exchange_status"] = await rest(0, "GET", "/exchange/status")
        await ws.send(json.dumps({"id": 2, "cmd": "update_subscription", "params": {"sids": [1], "action": "delete_markets", "market_tickers": [T]}}))
        await ws.send(json.dumps({"id": 3, "cmd": "unsubscribe", "params": {"sids": [2]}}))
        await ws.send(json.dumps({"id": 4, "cmd": "bogus", "params": {}}))
        await recv_until(lambda m: m["type"] == "error")
    finally:
        await ws.close()
        await server.stop()
    for m in frames:
        out.setdefault(f"ws:{m['type']}", m)
    return out


async def test_rest_responses_match_the_recorded_post_cut_shapes(shared_fixtures: Path, captured: dict[str, Any]) -> None:
    shared = shared_fixtures
    problems: list[str] = []
    c = captured
    problems += v2_problems("create", c["create"], "create.")
    problems += conforms("order", c["order"]["order"], golden(shared, "portfolio_order_single_response")["order"], "get.order.")
    ref_orders = golden(shared, "portfolio_orders_response")
    problems += conforms("orders", {k: v for k, v in c["orders"].items() if k != "orders"}, {k: v for k, v in ref_orders.items() if k != "orders"}, "orders.")
    problems += conforms("order", c["orders"]["orders"][0], ref_orders["orders"][0], "orders[0].")
    problems += v2_problems("cancel", c["cancel"], "cancel.")
    ref_fills = golden(shared, "portfolio_fills_response")
    assert set(c["fills"]) == set(ref_fills)
    problems += conforms("fill", c["fills"]["fills"][0], ref_fills["fills"][0], "fills[0].")
    ref_pos = golden(shared, "portfolio_positions_response")
    assert set(c["positions"]) == set(ref_pos)
    problems += conforms("market_position", c["positions"]["market_positions"][0], ref_pos["market_positions"][0], "market_positions[0].")
    problems += conforms("event_position", c["positions"]["event_positions"][0], ref_pos["event_positions"][0], "event_positions[0].")
    problems += conforms("balance", c["balance"], golden(shared, "portfolio_balance_response"), "balance.")
    problems += v2_problems("batch_create_item", c["batch_create"]["orders"][0], "batch_create[0].")
    problems += v2_problems("batch_cancel_item", c["batch_cancel"]["orders"][0], "batch_cancel[0].")
    ref_markets = golden(shared, "markets_list_response")
    assert set(c["markets"]) == set(ref_markets)
    problems += conforms("market", c["markets"]["markets"][0], ref_markets["markets"][0], "markets[0].")
    problems += conforms("market", c["market"]["market"], golden(shared, "market_single_response")["market"], "market.")
    problems += conforms("market", c["market"]["market"], pr(shared, "http_markets")["markets"][0], "market(pr3659).")
    ref_events = golden(shared, "events_list_response")
    assert set(c["events"]) == set(ref_events)
    problems += conforms("event", c["events"]["events"][0], ref_events["events"][0], "events[0].")
    ref_event = golden(shared, "event_single_response")
    assert set(c["event"]) == set(ref_event)
    problems += conforms("event", c["event"]["event"], ref_event["event"], "event.")
    problems += conforms("market", c["event"]["markets"][0], ref_event["markets"][0], "event.markets[0].")
    problems += conforms("series", c["series"]["series"], golden(shared, "series_single_response")["series"], "series.")
    problems += conforms("exchange_status", c["exchange_status"], golden(shared, "exchange_status_response"), "exchange.")
    ref_trades = golden(shared, "trades_list_response")
    assert set(c["trades"]) == set(ref_trades)
    problems += conforms("trade", c["trades"]["trades"][0], ref_trades["trades"][0], "trades[0].")
    problems += conforms("trade", c["trades"]["trades"][0], pr(shared, "http_trades")["trades"][0], "trades(pr3659)[0].")
    # the order book: the fixed-point shape, exactly
    ref_book = pr(shared, "http_orderbook")
    problems += conforms("orderbook", c["orderbook"], ref_book, "orderbook.")
    assert set(c["orderbook"]["orderbook_fp"]) == set(ref_book["orderbook_fp"])
    assert problems == []


async def test_ws_messages_match_the_fixed_point_payloads(shared_fixtures: Path, captured: dict[str, Any]) -> None:
    shared = shared_fixtures
    problems: list[str] = []
    snap, ref_snap = captured["ws:orderbook_snapshot"], pr(shared, "ws_orderbook_snapshot")
    problems += conforms("snapshot", {k: v for k, v in snap.items() if k != "msg"}, {k: v for k, v in ref_snap.items() if k != "msg"}, "snapshot.")
    problems += conforms("snapshot_msg", snap["msg"], ref_snap["msg"], "snapshot.msg.")
    delta, ref_delta = captured["ws:orderbook_delta"], pr(shared, "ws_orderbook_delta")
    problems += conforms("delta", {k: v for k, v in delta.items() if k != "msg"}, {k: v for k, v in ref_delta.items() if k != "msg"}, "delta.")
    problems += conforms("delta_msg", delta["msg"], ref_delta["msg"], "delta.msg.")
    trade, ref_trade = captured["ws:trade"], pr(shared, "ws_trade")
    problems += conforms("trade", {k: v for k, v in trade.items() if k != "msg"}, {k: v for k, v in ref_trade.items() if k != "msg"}, "trade.")
    problems += conforms("trade_msg", trade["msg"], ref_trade["msg"], "trade.msg.")
    assert not problems, "\n".join(problems)
    # no recorded payloads in ../shared for these: the documented required fields and types
    for kind in ("ticker", "fill", "user_order", "market_position"):
        m = captured[f"ws:{kind}"]
        assert set(m) == {"type", "sid", "msg"}, m
        assert DOCUMENTED[kind] <= set(m["msg"]), DOCUMENTED[kind] - set(m["msg"])
        extra = set(m["msg"]) - DOCUMENTED[kind] - DOCUMENTED_OPTIONAL[kind]
        assert not extra, extra
        for k, v in m["msg"].items():
            assert isinstance(v, DOCUMENTED_TYPES.get(k, str)), (kind, k, v)
    assert captured["ws:subscribed"] == {"id": 1, "type": "subscribed", "msg": {"channel": "orderbook_delta", "sid": 1}}
    ok = captured["ws:ok"]
    assert set(ok) <= {"id", "sid", "seq", "type", "market_tickers"} and ok["type"] == "ok"
    assert set(captured["ws:unsubscribed"]) == {"id", "sid", "seq", "type"}
    err = captured["ws:error"]
    assert set(err) == {"id", "type", "msg"} and set(err["msg"]) == {"code", "msg"} and isinstance(err["msg"]["code"], int)


def test_the_shape_check_itself_catches_missing_extra_and_mistyped_fields() -> None:
    ref = {"ticker": "X", "yes_price": 30, "yes_price_dollars": "0.3000", "status": "resting", "expiration_time": None}
    ok = {"ticker": "Y", "yes_price_dollars": "0.4000", "status": "executed", "expiration_time": "2026-01-01T00:00:00Z", "outcome_side": "yes"}
    assert conforms("order", ok, ref) == []
    assert conforms("order", {**ok, "yes_price": 30}, ref) == ["unexpected fields ['yes_price']"]
    assert conforms("order", {k: v for k, v in ok.items() if k != "status"}, ref) == ["status: missing"]
    assert conforms("order", {**ok, "yes_price_dollars": 0.4}, ref) == ["yes_price_dollars: number != str"]
    assert conforms("x", {"a": [["0.1", 2]]}, {"a": [["0.1", "2"]]}) != []
