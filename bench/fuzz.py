"""Mutation fuzz of every venue frame parser: Polymarket, Kalshi and KuCoin, market + user.

Also the engine of tests/unit/venues/test_fuzz_parsers.py (``fuzz_parser``), so the test and the
figures come from the same code.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import random
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench import harness

PARSERS = ("polymarket_market", "polymarket_user", "kalshi_market", "kalshi_user", "kucoin_market", "kucoin_user")
SEED = 20261204
RELIVE_EVERY = 8  # one valid snapshot per this many mutated frames keeps books live to be hit

METHOD = (
    "Seeded mutation fuzz of the six venue frame parsers, through each stream's real on_frame "
    "(PolymarketMarketFeed, PolymarketUserStream, KalshiMarketFeed, KalshiUserStream; Kalshi user fills/orders "
    "also through its emit path). Seeds: frames built with the simulator's own message structs "
    "(arbkit.sim.*.messages; Kalshi in the current schema: outcome_side/book_side fills, orders and trades, "
    "event_fee_update; Polymarket trades under every documented status form and one undocumented status) plus, when ../shared is present, real/doc frames from ../shared/fixtures "
    "(nautilus_trader Polymarket ws_messages + crates test_data, nautilus PR #3659 Kalshi ws_*) and "
    "../shared/data/ssmd captures; multi-event frames are split into one event / one book per frame so a bad frame "
    "can be tied to the book it addresses. Each mutated frame gets one mutation: truncation, 1-3 byte flips, "
    "invalid UTF-8 inserted in a string (binary frame), a value of the wrong type, a missing field, an extra field, "
    "a huge number, a negated number, a NaN/Infinity string or a bare NaN/Infinity JSON token; half the frames go in "
    "as str, half as bytes. Every 8 mutated frames one valid snapshot re-lives a book; Kalshi seq numbers are "
    "renumbered so frames are not dropped as duplicates. Checks per frame: no exception escapes on_frame; a frame "
    "that is not UTF-8 or not JSON is counted malformed; a NaN/Infinity/negative/huge/wrong-typed value in a price "
    "or size the parser must read, for a live book or one of our fills, is counted malformed; a frame counted "
    "malformed leaves every book it changed non-tradable (dropped for resync), i.e. no live book is changed by a "
    "bad frame; a frame with only an extra unknown field is never counted malformed; no ERROR is logged (an error "
    "swallowed instead of counted), except the intended ALERT for a venue status no documentation names, booked "
    "conservatively (a Polymarket trade under an undocumented status: a provisional fill), which is counted as an "
    "alert and checked: the frame's events must equal those of the same frame with the status MATCHED "
    "(provisional fills, nothing dropped, nothing booked as settled). frames/s = mutated frames "
    "over wall time including mutation and checks. KuCoin (kucoin_market: KucoinMarketFeed level-2 ``trade.l2update`` "
    "frames on a live book, renumbered to follow its sequence, the book re-lived from a REST-style snapshot when a "
    "bad frame dropped it; kucoin_user: KucoinUserStream ``orderChange`` of every type with fresh tradeIds and "
    "``account.balance``), seeds built like the simulator's frames plus the SDK doc examples in ../shared."
)

TARGETS = {
    "exceptions_escaped": ("<=", 0),
    "bad_frames_not_counted": ("<=", 0),
    "books_changed_by_bad_frames": ("<=", 0),
    "good_frames_counted_malformed": ("<=", 0),
    "errors_logged": ("<=", 0),
    "alerts_not_conservative": ("<=", 0),
    "min_frames_per_parser": (">=", 1_000_000),
}

# Fields whose value a parser must validate before it uses it (book prices/sizes, trade and fill
# amounts), by message kind; other fields of a message may be informational and ignored.
MUST_VALIDATE = {
    "polymarket_market": {"book": {"price", "size", "bids", "asks"}, "price_change": {"price", "size"},
                          "last_trade_price": {"price", "size"}},
    "polymarket_user": {"trade": {"price", "size", "matched_amount"}, "CANCELLATION": {"size_matched"}},
    "kalshi_market": {"orderbook_snapshot": {"yes_dollars_fp", "no_dollars_fp"},
                      "orderbook_delta": {"price_dollars", "delta_fp"},
                      "trade": {"count_fp", "yes_price_dollars", "no_price_dollars"}},
    "kalshi_user": {"fill": {"yes_price_dollars", "count_fp"}, "user_order": {"fill_count_fp"}},
    "kucoin_market": {"trade.l2update": {"asks", "bids"}},
    "kucoin_user": {"orderChange:match": {"matchPrice", "matchSize"}, "account.balance": {"total", "available"}},
}


def _kind(parser: str, obj: dict) -> str:
    if parser.startswith("kucoin"):
        d = obj.get("data")
        sub = str(obj.get("subject", ""))
        return f"{sub}:{d.get('type')}" if sub == "orderChange" and isinstance(d, dict) else sub
    if parser == "polymarket_market":
        return str(obj.get("event_type", ""))
    if parser == "polymarket_user":
        if obj.get("type") == "CANCELLATION":
            return "CANCELLATION"
        return "trade" if obj.get("event_type") == "trade" or "maker_orders" in obj else "order"
    return str(obj.get("type", ""))

SIGNED_KEYS = {"delta_fp"}  # a negative value is valid here

# Polymarket trade statuses in the seeds: every documented form (plain, V2 ``TRADE_STATUS_`` prefix,
# lower case; polymarket/parse.py TRADE_STATUS) and one no page documents, which the parser must book
# as a provisional fill with an ALERT (never drop).
TRADE_STATUS_SEEDS = ("MATCHED", "MINED", "CONFIRMED", "FAILED", "TRADE_STATUS_MATCHED_NOT_BROADCASTED", "retrying",
                      "SETTLING_FUZZ")

# An ERROR record that is an intended alert, not a swallowed error: a venue status no documentation
# names, booked conservatively (polymarket/parse.py our_fills: "ALERT Polymarket trade .. has an
# undocumented status ..: booked as provisional"). Such records are counted as ``alerts``, and every
# frame that raised one is checked to have been booked exactly as the same frame under MATCHED
# (provisional fills, nothing dropped). Every other ERROR record still fails the run.
ALERT_RE = re.compile(r"^ALERT .*\bundocumented status\b.*\bprovisional\b")
OUR_KEY = "fuzz-api-key-0001"

# --- seeds ----------------------------------------------------------------------------------


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _jsonl(path: Path) -> list[Any]:
    out = []
    try:
        for line in path.read_text().splitlines():
            line = line.strip()
            if line:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    return out


def _sim_polymarket_market() -> list[dict]:
    from arbkit.sim.polymarket import messages as M

    out: list[dict] = []
    rng = random.Random(7)
    for i in range(4):
        token = f"{9100000000000000000000 + i * 7919}"
        mk = f"0x{i:064x}"
        bids = [M.Level(price=f"0.{p:02d}", size=f"{rng.randint(5, 900)}.{rng.randint(0, 99):02d}") for p in range(30, 48, 2)]
        asks = [M.Level(price=f"0.{p:02d}", size=f"{rng.randint(5, 900)}") for p in range(60, 50, -2)]
        out.append(json.loads(M.encode(M.WsBook("book", token, mk, bids, asks, "1764800000000", "0xabc"))))
        for p, side in ((40, "BUY"), (52, "SELL"), (33, "BUY")):
            ch = M.PriceChangeItem(token, f"0.{p:02d}", side, f"{rng.randint(0, 500)}.5", "0xdef", "0.46", "0.52")
            out.append(json.loads(M.encode(M.WsPriceChange(mk, [ch], "1764800000001"))))
        out.append(json.loads(M.encode(M.WsLastTradePrice(token, "last_trade_price", "0", mk, "0.47", "BUY", "12.5",
                                                          "1764800000002"))))
        out.append(json.loads(M.encode(M.WsBestBidAsk("best_bid_ask", mk, token, "0.46", "0.52", "0.06",
                                                      "1764800000003"))))
    out.append(json.loads(M.encode(M.WsTickSizeChange("tick_size_change", f"{9100000000000000000000 + 3 * 7919}",
                                                      "0x3", "0.01", "0.001", "1764800000004"))))
    return out


def _sim_polymarket_user() -> list[dict]:
    from arbkit.sim.polymarket import messages as M

    out: list[dict] = []
    for i in range(3):
        token, mk, oid = f"{9200000000000000000000 + i}", f"0x{i:064x}", f"0x{i + 1:064x}"
        for typ, status in (("PLACEMENT", "LIVE"), ("UPDATE", "LIVE"), ("CANCELLATION", "CANCELED")):
            out.append(json.loads(M.encode(M.WsUserOrder(token, [], "1764800000", "order", "0", oid, "0xmaker", mk,
                                                         OUR_KEY, "GTC", "100", "Yes", OUR_KEY, "0.45", "BUY", "10",
                                                         status, "1764800000", typ))))
        makers = [M.MakerOrder(token, "0", "0xmaker2", "7.5", f"0x{i + 50:064x}", "Yes", "other", "0.44", "SELL"),
                  M.MakerOrder(token, "0", "0xmaker3", "2.5", f"0x{i + 60:064x}", "Yes", OUR_KEY, "0.45", "SELL")]
        for status in TRADE_STATUS_SEEDS:
            out.append(json.loads(M.encode(M.WsUserTrade(token, 0, "trade", "0", f"trade-{i}", "1764800001", "0xmaker",
                                                         makers, mk, "1764800001", "Yes", OUR_KEY, "0.45", "BUY",
                                                         "10", status, oid, "1764800001", OUR_KEY, "TAKER", "0xtx"))))
    return out


def _sim_kalshi_market() -> list[dict]:
    """Kalshi market-data frames built with the simulator's current message structs (keyword
    arguments: a changed struct fails here loudly rather than shifting fields)."""
    from arbkit.sim.kalshi import messages as M

    out: list[dict] = []
    for i in range(4):
        t = f"KXFUZZ-26DEC31-T{i:03d}"
        yes = [[f"0.{c:02d}00", f"{10 * c}.00"] for c in range(20, 40, 3)]
        no = [[f"0.{c:02d}00", f"{7 * c}.50"] for c in range(30, 50, 4)]
        out.append(json.loads(M.encode(M.SeqEnvelope(type="orderbook_snapshot", sid=1, seq=1, msg=M.SnapshotMsg(
            market_ticker=t, market_id=f"m{i}", yes_dollars_fp=yes, no_dollars_fp=no)))))
        for c, d, side, coid in ((23, "5.00", "yes", None), (34, "-1.50", "no", f"coid-{i}"), (41, "12.00", "yes", None)):
            out.append(json.loads(M.encode(M.SeqEnvelope(type="orderbook_delta", sid=1, seq=1, msg=M.DeltaMsg(
                market_ticker=t, market_id=f"m{i}", price_dollars=f"0.{c:02d}00", delta_fp=d, side=side,
                ts=M.rfc3339(1796378400123456000), ts_ms=1796378400123, client_order_id=coid)))))
        for taker in ("yes", "no"):  # taker_outcome_side / taker_book_side: bid = yes, ask = no
            out.append(json.loads(M.encode(M.SeqEnvelope(type="trade", sid=2, seq=1, msg=M.TradeMsg(
                trade_id=f"tr-{i}-{taker}", market_ticker=t, yes_price_dollars="0.4500", no_price_dollars="0.5500",
                count_fp="3.00", taker_outcome_side=taker, taker_book_side="bid" if taker == "yes" else "ask",
                ts=1796378400)))))
        out.append(json.loads(M.encode(M.PlainEnvelope(type="ticker", sid=3, msg=M.TickerMsg(
            market_id=f"m{i}", market_ticker=t, price_dollars="0.4500", yes_bid_dollars="0.4400",
            yes_ask_dollars="0.4600", volume_fp="100.00", open_interest_fp="50.00", dollar_volume=45,
            dollar_open_interest=22, yes_bid_size_fp="10.00", yes_ask_size_fp="12.00", last_trade_size_fp="3.00",
            ts=1796378400, ts_ms=1796378400123, time="2026-12-04T10:00:00Z")))))
    return out


def _sim_kalshi_user() -> list[dict]:
    """Kalshi user-stream frames (fill, user_order, event_fee_update) built with the simulator's
    current structs: ``outcome_side``/``book_side`` only, as the simulator (and the venue since the
    deprecated ``side``/``action`` went) sends them."""
    from arbkit.sim.kalshi import messages as M

    out: list[dict] = []
    for i in range(3):
        t = f"KXFUZZ-26DEC31-T{i:03d}"
        for outcome in ("yes", "no"):
            book = "bid" if outcome == "yes" else "ask"
            out.append(json.loads(M.encode(M.SeqEnvelope(type="fill", sid=5, seq=1, msg=M.FillMsg(
                trade_id=f"fill-{i}-{outcome}", order_id=f"ord-{i}-{outcome}", market_ticker=t, is_taker=True,
                outcome_side=outcome, book_side=book, yes_price_dollars="0.4500", count_fp="3.00", fee_cost="0.0200",
                ts=1796378400, post_position_fp="3.00" if outcome == "yes" else "-3.00",
                client_order_id=f"coid-{i}-{outcome}")))))
            for status in ("resting", "executed", "canceled"):
                out.append(json.loads(M.encode(M.PlainEnvelope(type="user_order", sid=6, msg=M.UserOrderMsg(
                    order_id=f"ord-{i}-{outcome}", user_id="u1", ticker=t, status=status, outcome_side=outcome,
                    book_side=book, yes_price_dollars="0.4500", fill_count_fp="3.00", remaining_count_fp="2.00",
                    initial_count_fp="5.00", taker_fill_cost_dollars="1.3500", maker_fill_cost_dollars="0.0000",
                    taker_fees_dollars="0.0200", maker_fees_dollars="0.0000", client_order_id=f"coid-{i}-{outcome}",
                    created_time="2026-12-04T10:00:00Z", created_ts_ms=1796378400000,
                    last_update_time="2026-12-04T10:00:01Z", last_updated_ts_ms=1796378401000,
                    expiration_time="2026-12-05T10:00:00Z" if status == "resting" else None,
                    expiration_ts_ms=1796464800000 if status == "resting" else None)))))
    out.append(json.loads(M.encode(M.PlainEnvelope(type="event_fee_update", sid=7, msg=M.EventFeeUpdateMsg(
        event_ticker="KXFUZZ-26DEC31", fee_type_override="quadratic_with_maker_fees", fee_multiplier_override=1)))))
    return out


KC_SYMBOLS = ("BTC-USDT", "ETH-USDT", "ETH-BTC")


def _sim_kucoin_market() -> list[dict]:
    """Level-2 changes as the KuCoin simulator sends them (server._on_events); sequences are
    renumbered per book when sent (_KucoinMarket.prepare)."""
    px = {"BTC-USDT": ("90000.1", "0.1"), "ETH-USDT": ("3000.01", "0.01"), "ETH-BTC": ("0.033334", "0.000001")}
    out = []
    for sym in KC_SYMBOLS:
        p0, tick = (Decimal(x) for x in px[sym])
        for k in range(4):
            asks = [[str(p0 + tick * (3 + k)), f"{k + 1}.5", "2"]]
            bids = [[str(p0 - tick * (3 + k)), "0" if k == 3 else f"{k}.25", "1"]]
            if k == 2:
                asks.append(["0", "0", "3"])  # a sequence-only change (seen in real data)
            out.append({"topic": f"/market/level2:{sym}", "type": "message", "subject": "trade.l2update",
                        "data": {"changes": {"asks": asks, "bids": bids}, "sequenceEnd": 3 if k == 2 else 2,
                                 "sequenceStart": 1, "symbol": sym, "time": 1764800000000 + k}})
    return out


def _sim_kucoin_user() -> list[dict]:
    """orderChange of every type and account.balance, as the simulator's spot engine sends them."""
    out = []
    base = {"symbol": "BTC-USDT", "orderId": "6720da40000000000000001", "clientOid": "coid-1", "side": "buy",
            "orderType": "limit", "price": "90000.1", "size": "0.5", "originSize": "0.5", "orderTime": 1764800000000,
            "ts": 1764800000000123456}
    for typ, status, extra in (("received", "new", {}), ("open", "open", {"remainSize": "0.5", "filledSize": "0"}),
                               ("match", "match", {"matchPrice": "90000.1", "matchSize": "0.2", "tradeId": "1",
                                                   "liquidity": "taker", "feeType": "takerFee", "filledSize": "0.2",
                                                   "remainSize": "0.3"}),
                               ("filled", "done", {"filledSize": "0.5", "remainSize": "0"}),
                               ("canceled", "done", {"filledSize": "0.2", "remainSize": "0", "canceledSize": "0.3"})):
        out.append({"topic": "/spotMarket/tradeOrdersV2", "type": "message", "subject": "orderChange",
                    "channelType": "private", "data": {**base, "type": typ, "status": status, **extra}})
    out.append({"topic": "/account/balance", "type": "message", "subject": "account.balance", "id": "354689988084001",
                "channelType": "private", "data": {"accountId": "548674591753", "currency": "USDT",
                                                   "total": "21.133773386762", "available": "20.132773386762",
                                                   "hold": "1.001", "relationEvent": "trade.hold",
                                                   "relationContext": {"symbol": "BTC-USDT", "orderId": "o1"},
                                                   "time": "1730269283892"}})
    return out


def _shared_kucoin(root: Path, names: tuple[str, ...]) -> list[dict]:
    """KuCoin's doc examples (the SDK's test fixtures) for these message shapes."""
    out = []
    for n in names:
        o = _load_json(root / "fixtures" / "kucoin" / "kucoin-universal-sdk_examples" / n)
        if isinstance(o, dict) and isinstance(o.get("data"), dict):
            out.append(o)
    return out


def _split_polymarket_market(obj: Any) -> list[dict]:
    """One event per frame, and a price_change split per asset (one book per frame)."""
    events = obj if isinstance(obj, list) else [obj]
    out = []
    for ev in events:
        if not isinstance(ev, dict):
            continue
        pcs = ev.get("price_changes")
        if isinstance(pcs, list) and pcs:
            by_asset: dict[str, list] = {}
            for ch in pcs:
                by_asset.setdefault(ch.get("asset_id", ""), []).append(ch)
            for chs in by_asset.values():
                out.append({**ev, "price_changes": chs})
        else:
            out.append(ev)
    return out


def _shared_polymarket_market(root: Path) -> list[dict]:
    f = root / "fixtures" / "polymarket" / "nautilus_trader"
    objs: list[Any] = []
    for name in ("book", "price_change", "price_change_v2", "tick_size_change", "last_trade_price"):
        objs.append(_load_json(f / "tests_ws_messages" / f"{name}.json"))
    for p in sorted((f / "crates_test_data").glob("ws_*.json")):
        if "user" not in p.name:
            objs.append(_load_json(p))
    objs += _jsonl(root / "data" / "ssmd" / "polymarket_book.jsonl")
    objs += _jsonl(root / "data" / "ssmd" / "polymarket_trade.jsonl")
    out = []
    for o in objs:
        if o is not None:
            out += _split_polymarket_market(o)
    return out


def _ours(ev: dict) -> dict:
    ev = dict(ev)
    for k in ("owner", "trade_owner", "order_owner"):
        if k in ev:
            ev[k] = OUR_KEY
    if isinstance(ev.get("maker_orders"), list):
        ev["maker_orders"] = [dict(m, owner=OUR_KEY) if isinstance(m, dict) else m for m in ev["maker_orders"]]
    return ev


def _shared_polymarket_user(root: Path) -> list[dict]:
    f = root / "fixtures" / "polymarket" / "nautilus_trader"
    objs = [_load_json(f / "tests_ws_messages" / f"{n}.json")
            for n in ("trades", "order_placement", "order_cancel", "user_trade1", "user_trade2", "user_trade3",
                      "user_trade4")]
    objs += [_load_json(p) for p in sorted((f / "crates_test_data").glob("ws_user_*.json"))]
    out = []
    for o in objs:
        for ev in (o if isinstance(o, list) else [o]):
            if isinstance(ev, dict):
                out.append(_ours(ev))
    return out


def _shared_kalshi_market(root: Path) -> list[dict]:
    f = root / "fixtures" / "kalshi" / "nautilus_trader_pr3659"
    objs = [_load_json(f / f"{n}.json") for n in ("ws_orderbook_snapshot", "ws_orderbook_delta", "ws_trade")]
    objs += _jsonl(root / "data" / "ssmd" / "kalshi_ticker.jsonl")
    objs += _jsonl(root / "data" / "ssmd" / "kalshi_trade.jsonl")
    # one sid per channel, as one connection's subscriptions would have (the captures come from
    # different sessions: their sids collide across channels)
    sids = {"orderbook_snapshot": 1, "orderbook_delta": 1, "trade": 2, "ticker": 3}
    return [dict(o, sid=sids.get(o.get("type"), 4)) if "sid" in o else o for o in objs if isinstance(o, dict)]


def seeds(parser: str, use_shared: bool = True) -> list[dict]:
    """Seed frames (decoded JSON objects) for one parser: simulator-built, plus ../shared ones."""
    sim = {"polymarket_market": _sim_polymarket_market, "polymarket_user": _sim_polymarket_user,
           "kalshi_market": _sim_kalshi_market, "kalshi_user": _sim_kalshi_user,
           "kucoin_market": _sim_kucoin_market, "kucoin_user": _sim_kucoin_user}[parser]()
    root = harness.shared_path()
    if not use_shared or root is None:
        return sim
    extra = {"polymarket_market": _shared_polymarket_market, "polymarket_user": _shared_polymarket_user,
             "kalshi_market": _shared_kalshi_market, "kalshi_user": lambda r: [],
             "kucoin_market": lambda r: [],  # the doc example's symbol/prices do not join our books
             "kucoin_user": lambda r: _shared_kucoin(r, ("api_spot_private_test__order_v2_resp_model.json",
                                                         "api_spot_private_test__account_resp_model.json")),
             }[parser](root)
    return sim + extra


# --- mutation -------------------------------------------------------------------------------

_BAD_UTF8 = (b"\xff", b"\xfe", b"\xc3\x28", b"\x80", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xe2\x82",
             b"\xc0\xaf", b"\xf4\x90\x80\x80")
_NAN_STRINGS = ("NaN", "nan", "Infinity", "-Infinity", "inf", "-inf", "sNaN", "1e999", "-1e999")
_HUGE = ("1e400", "9" * 40, "1" + "0" * 30 + ".5", "1e-400", "0." + "0" * 30 + "1", "123456789012345678901234567890")
_HUGE_NUMS = (10 ** 40, -(10 ** 40), 2 ** 63, 2 ** 64 + 1, 1e308, -1e308)
_WRONG = (None, True, False, 0, -1, 1.5, "", "x", [], {}, [1, "a"], {"a": 1})
MUTATORS = ("truncate", "byte_flip", "invalid_utf8", "wrong_type", "missing_field", "extra_field", "huge_number",
            "negative_number", "nan_inf", "nan_token")


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    """Every (path, key) leading to a value inside obj; the key is the nearest dict key."""
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.append(prefix + (k,))
            out += _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.append(prefix + (i,))
            out += _paths(v, prefix + (i,))
    return out


def _get(obj: Any, path: tuple) -> Any:
    for p in path:
        obj = obj[p]
    return obj


def _nearest_key(path: tuple) -> str:
    for p in reversed(path):
        if isinstance(p, str):
            return p
    return ""


def _is_num(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, (int, float)):
        return True
    if isinstance(v, str) and v:
        try:
            Decimal(v)
            return v.strip() == v and any(c.isdigit() for c in v)
        except Exception:  # noqa: BLE001
            return False
    return False


def _copy(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _copy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_copy(v) for v in obj]
    return obj


class _Seed:
    __slots__ = ("obj", "paths", "num_paths", "dict_paths", "raw", "book")

    def __init__(self, obj: dict, book: str) -> None:
        self.obj = obj
        self.paths = _paths(obj)
        self.num_paths = [p for p in self.paths if _is_num(_get(obj, p))]
        self.dict_paths = [()] + [p for p in self.paths if isinstance(_get(obj, p), dict)]
        self.raw = json.dumps(obj, separators=(",", ":")).encode()
        self.book = book


def _strict_json_ok(b: bytes) -> bool:
    def bad_constant(x: str) -> Any:
        raise ValueError(x)

    try:
        json.loads(b.decode("utf-8"), parse_constant=bad_constant)
        return True
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False


@dataclass
class Mutation:
    frame: bytes | str
    mutator: str
    must_count: bool  # certainly malformed: must be counted (when it addresses a live book / our fill)
    path: tuple = ()
    key: str = ""
    never_count: bool = False  # only an unknown field added: must not be counted malformed


def mutate(rng: random.Random, seed: _Seed, obj: dict, raw: bytes, must_keys: set[str]) -> Mutation:
    """One mutation of a seed. ``obj``/``raw`` are the seed as sent (Kalshi: renumbered)."""
    m = MUTATORS[rng.randrange(len(MUTATORS))]
    if m == "truncate":
        out = raw[: rng.randrange(len(raw))]
        return Mutation(out, m, not _strict_json_ok(out))
    if m == "byte_flip":
        b = bytearray(raw)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(b))
            b[i] ^= rng.randrange(1, 256)
        out = bytes(b)
        return Mutation(out, m, not _strict_json_ok(out))
    if m == "invalid_utf8":
        quotes = [i for i in range(len(raw)) if raw[i] == 0x22]
        i = quotes[rng.randrange(len(quotes))] + 1 if quotes and rng.random() < 0.8 else rng.randrange(len(raw) + 1)
        bad = _BAD_UTF8[rng.randrange(len(_BAD_UTF8))]
        if rng.random() < 0.5:
            out = raw[:i] + bad + raw[i:]
        else:
            out = raw[:i] + bad + raw[i + len(bad):]
        return Mutation(out, m, True)  # binary frame that is not UTF-8: never valid JSON text
    o = _copy(obj)
    if m == "extra_field":
        d = _get(o, seed.dict_paths[rng.randrange(len(seed.dict_paths))])
        d[f"fuzz_extra_{rng.randrange(1000)}"] = _WRONG[rng.randrange(len(_WRONG))]
        return Mutation(_enc(rng, o), m, False, never_count=True)
    if m == "missing_field":
        path = seed.paths[rng.randrange(len(seed.paths))]
        parent = _get(o, path[:-1])
        if isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent.pop(path[-1])
        return Mutation(_enc(rng, o), m, False, path, _nearest_key(path))
    if m == "wrong_type":
        path = seed.paths[rng.randrange(len(seed.paths))]
        old = _get(o, path)
        new = _WRONG[rng.randrange(len(_WRONG))]
        while type(new) is type(old):
            new = _WRONG[rng.randrange(len(_WRONG))]
        _get(o, path[:-1])[path[-1]] = new
        key = _nearest_key(path)
        # A number or string where a price/size string is read is junk the parser must refuse.
        # (null is read as "absent", like a missing field: optional fields may be null)
        must = key in must_keys and isinstance(old, str) and _is_num(old) and not isinstance(new, str) and new is not None
        return Mutation(_enc(rng, o), m, must, path, key)
    # numeric mutations
    paths = seed.num_paths or seed.paths
    path = paths[rng.randrange(len(paths))]
    old = _get(o, path)
    key = _nearest_key(path)
    parent = _get(o, path[:-1])
    if m == "nan_token":
        parent[path[-1]] = float("nan") if rng.random() < 0.5 else float("inf") * rng.choice((1, -1))
        out = json.dumps(o, separators=(",", ":"))  # NaN / Infinity tokens: not JSON
        return Mutation(out if rng.random() < 0.5 else out.encode(), m, True, path, key)
    if m == "huge_number":
        new: Any = _HUGE[rng.randrange(len(_HUGE))] if isinstance(old, str) else _HUGE_NUMS[rng.randrange(len(_HUGE_NUMS))]
    elif m == "negative_number":
        if isinstance(old, str):
            new = old[1:] if old.startswith("-") else "-" + old
        elif isinstance(old, (int, float)) and not isinstance(old, bool):
            new = -old if old else -1
        else:
            new = -1
    else:  # nan_inf
        new = _NAN_STRINGS[rng.randrange(len(_NAN_STRINGS))]
    parent[path[-1]] = new
    must = (key in must_keys and isinstance(old, str) and _is_num(old) and _invalid_amount(old, new, m)
            and not (m == "negative_number" and key in SIGNED_KEYS))
    return Mutation(_enc(rng, o), m, must, path, key)


def _invalid_amount(old: str, new: Any, m: str) -> bool:
    if m == "nan_inf":
        return True
    if m == "huge_number":
        return True  # beyond any book's range, or finer than any grid (1e-400)
    if m == "negative_number":
        try:
            return isinstance(new, str) and new.startswith("-") and Decimal(old) != 0
        except Exception:  # noqa: BLE001
            return False
    return False


def _enc(rng: random.Random, o: Any) -> bytes | str:
    s = json.dumps(o, separators=(",", ":"))
    return s if rng.random() < 0.5 else s.encode()


# --- targets --------------------------------------------------------------------------------


class _Collector:
    """Event sink: counts events (all but MessageMalformed) between marks."""

    def __init__(self) -> None:
        self.events = 0
        self.malformed_events = 0
        self.last_error = ""

    def __call__(self, ev: Any) -> None:
        if type(ev).__name__ == "MessageMalformed":
            self.malformed_events += 1
            self.last_error = ev.error
        else:
            self.events += 1


class _ErrorLog(logging.Handler):
    """Counts ERROR records (log.exception: an error swallowed somewhere instead of counted); the
    intended alerts (``ALERT_RE``) are counted apart, in ``alerts``."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0
        self.alerts = 0
        self.muted = False  # while a frame is re-run for a check
        self.samples: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if self.muted:
            return
        msg = record.getMessage()
        if ALERT_RE.match(msg):
            self.alerts += 1
            return
        self.count += 1
        if len(self.samples) < 5:
            self.samples.append(msg[:300])


class _Target:
    """A parser under fuzz: feed frames, read counters and book fingerprints."""

    name = ""
    book_kind = True

    def on_frame(self, raw: bytes | str) -> None:
        raise NotImplementedError

    def malformed(self) -> int:
        raise NotImplementedError

    def fingerprints(self) -> dict[str, tuple]:
        return {}

    def tradable(self, key: str) -> bool:
        return False

    def live(self, book: str) -> bool:
        return self.tradable(book)

    def prepare(self, s: _Seed) -> tuple[dict, bytes]:
        return s.obj, s.raw

    def drain(self) -> None:
        pass

    def check_alert(self, frame: bytes | str) -> tuple[str, bool]:
        """A frame made this parser log an intended ALERT: (problem or "", whether a fill was booked)."""
        return f"{self.name} has no status it books conservatively, yet logged an alert", False


class _PolyMarket(_Target):
    name = "polymarket_market"

    def __init__(self, sink, seeds: list[_Seed]) -> None:
        from arbkit.core.clock import SimClock
        from arbkit.venues.polymarket.feed import FeedConfig, PolymarketMarketFeed

        self.feed = PolymarketMarketFeed(sink, FeedConfig(crosscheck_interval_s=0), clock=SimClock(1))
        self.feed.subscribe([s.book for s in seeds if s.book])
        self._on = self.feed.on_frame
        self._books = self.feed._books

    def on_frame(self, raw):
        self._on(None, raw, 1)

    def malformed(self):
        return self.feed.malformed.count

    def fingerprints(self):
        return {k: (st._state, id(st.book), st.book.sequence, st.seq) for k, st in self._books.items()}

    def tradable(self, key):
        st = self._books.get(key)
        return st is not None and st.live


class _KalshiMarket(_Target):
    name = "kalshi_market"

    def __init__(self, sink, seeds: list[_Seed]) -> None:
        from arbkit.core.clock import SimClock
        from arbkit.venues.kalshi.feed import FeedConfig, KalshiMarketFeed

        self.feed = KalshiMarketFeed(sink, FeedConfig(crosscheck_interval_s=0), clock=SimClock(1))
        self.feed.subscribe([s.book for s in seeds if s.book])
        self._on = self.feed.on_frame
        self._markets = self.feed._markets

    def on_frame(self, raw):
        self._on(raw, 1)

    def malformed(self):
        return self.feed.malformed.count

    def fingerprints(self):
        return {k: (m.state, id(m.yes), m.yes.sequence, m.no.sequence, m.update_count)
                for k, m in self._markets.items()}

    def tradable(self, key):
        m = self._markets.get(key)
        return m is not None and m.live

    def prepare(self, s: _Seed):
        o = s.obj
        if "seq" not in o or not isinstance(o.get("sid"), int):
            return o, s.raw
        sub = self.feed._subs.get(o["sid"])
        o = dict(o, seq=(sub.last_seq if sub is not None else 0) + 1)
        return o, json.dumps(o, separators=(",", ":")).encode()


class _PolyUser(_Target):
    name = "polymarket_user"
    book_kind = False

    def __init__(self, sink, seeds) -> None:
        from arbkit.core.clock import SimClock
        from arbkit.venues.polymarket.auth import ApiCreds
        from arbkit.venues.polymarket.user import PolymarketUserStream

        self.stream = PolymarketUserStream(sink, ApiCreds(OUR_KEY, "c2VjcmV0", "pass"), clock=SimClock(1))
        self._on = self.stream.on_frame

    def on_frame(self, raw):
        self._on(raw, 1)

    def malformed(self):
        return self.stream.malformed.count

    def live(self, book):
        return True  # a fill of ours in every trade seed: its amounts must be checked

    @staticmethod
    def _run_fresh(raw: bytes | str) -> tuple[list, int]:
        """(events but malformed reports, malformed count) of one frame on a new stream (no dedupe state)."""
        from arbkit.core.clock import SimClock
        from arbkit.venues.polymarket.auth import ApiCreds
        from arbkit.venues.polymarket.user import PolymarketUserStream

        evs: list = []
        st = PolymarketUserStream(evs.append, ApiCreds(OUR_KEY, "c2VjcmV0", "pass"), clock=SimClock(1))
        st.on_frame(raw, 1)
        return [e for e in evs if type(e).__name__ != "MessageMalformed"], st.malformed.count

    def check_alert(self, frame):
        """The frame's events must be exactly those of the same frame with every undocumented trade
        status replaced by MATCHED: provisional fills, booked, nothing dropped or settled."""
        from arbkit.core.enums import FillStatus
        from arbkit.venues.polymarket.parse import TRADE_STATUS

        try:
            obj = json.loads(frame)
        except ValueError as exc:
            return f"alert from a frame that is not JSON ({exc})", False

        def restored(ev: Any) -> Any:
            st = ev.get("status") if isinstance(ev, dict) else None
            if isinstance(st, str) and st.strip().upper().removeprefix("TRADE_STATUS_") not in TRADE_STATUS:
                return dict(ev, status="MATCHED")  # the documented status of a match not yet settled
            return ev

        ref = [restored(e) for e in obj] if isinstance(obj, list) else restored(obj)
        got, got_bad = self._run_fresh(frame)
        want, want_bad = self._run_fresh(json.dumps(ref, separators=(",", ":")))
        if got != want or got_bad != want_bad:
            return (f"undocumented status not booked as MATCHED would be: got {got!r}"[:300]
                    + f" ({got_bad} malformed), want {want!r}"[:300] + f" ({want_bad} malformed)"), False
        fills = [e for e in got if type(e).__name__ == "OrderFilled"]
        if any(f.status is not FillStatus.PROVISIONAL for f in fills):
            return f"undocumented status booked as settled: {fills!r}"[:300], False
        return "", bool(fills)


class _KalshiUser(_Target):
    name = "kalshi_user"
    book_kind = False

    def __init__(self, sink, seeds, loop: asyncio.AbstractEventLoop) -> None:
        from arbkit.core.clock import SimClock
        from arbkit.venues.kalshi.user import KalshiUserStream

        self.stream = KalshiUserStream(sink, signer=None, clock=SimClock(1))  # type: ignore[arg-type]
        self._on = self.stream.on_frame
        self.loop = loop
        self._seq = 0

    def on_frame(self, raw):
        # inside the loop, as on the socket (a fill seq gap spawns a backfill task), then drained
        self.loop.run_until_complete(self._frame(raw))

    async def _frame(self, raw):
        self._on(raw)
        await self._drain()

    async def _drain(self):
        s = self.stream
        q = s._queue
        await asyncio.sleep(0)  # lets spawned backfills run
        while not q.empty():
            source, item = q.get_nowait()
            try:
                if type(item).__name__ == "ParsedFill":
                    await s._emit_fill(item, source)
                else:
                    s._emit_order(item)
            except Exception:  # noqa: BLE001 - same as _consume: logged, counted by the harness
                logging.getLogger("arbkit.venues.kalshi.user").exception("could not emit")
            q.task_done()

    def malformed(self):
        return self.stream.malformed.count

    def live(self, book):
        return True

    def prepare(self, s: _Seed):
        o = s.obj
        if "seq" not in o:
            return o, s.raw
        self._seq += 1
        o = dict(o, seq=self._seq)
        return o, json.dumps(o, separators=(",", ":")).encode()


class _KucoinMarket(_Target):
    """KucoinMarketFeed (level-2): each book is live from a snapshot; every frame sent is renumbered
    to follow its book's sequence (a stale or gapped one would be dropped or resynced, not read)."""

    name = "kucoin_market"

    def __init__(self, sink, seeds) -> None:
        from arbkit.core.clock import SimClock
        from arbkit.core.enums import InstrumentKind, Venue
        from arbkit.core.instruments import Instrument
        from arbkit.venues.kucoin.feed import FeedConfig, KucoinMarketFeed

        ticks = {"BTC-USDT": ("0.1", "0.00000001"), "ETH-USDT": ("0.01", "0.0000001"), "ETH-BTC": ("0.000001", "0.0000001")}
        self.insts = {s: Instrument(venue=Venue.KUCOIN, symbol=s, kind=InstrumentKind.SPOT, tick_size=Decimal(t),
                                    size_increment=Decimal(z), quote=s.split("-")[1], base=s.split("-")[0])
                      for s, (t, z) in ticks.items()}
        self.feed = KucoinMarketFeed(sink, FeedConfig(), rest=None, instruments=self.insts.get, clock=SimClock(1))
        self.feed.subscribe([self.insts[s].id for s in KC_SYMBOLS])
        self.feed._ask_snapshot = lambda sym: None  # the REST snapshot is this harness's (relive)
        self._shard = self.feed._shards[0]
        self._books = self.feed._books
        self._snap_seq = 1_000_000

    def _relive(self, sym: str) -> None:
        st = self._books[sym]
        if st.sync.live:
            return
        self._snap_seq += 1000
        p = {"BTC-USDT": Decimal("90000.1"), "ETH-USDT": Decimal("3000.01"), "ETH-BTC": Decimal("0.033334")}[sym]
        t = self.insts[sym].tick_size
        st.sync.on_snapshot(self._snap_seq, [(p - t * 20, Decimal(2))], [(p + t * 20, Decimal(2))])

    def on_frame(self, raw):
        self.feed._on_frame(self._shard, raw)

    def malformed(self):
        return self.feed.malformed.count

    def fingerprints(self):
        return {k: (st.sync.live, id(st.sync.book), st.sync.seq, st.sync.applied) for k, st in self._books.items()}

    def tradable(self, key):
        st = self._books.get(key)
        return st is not None and st.sync.live

    def prepare(self, s: _Seed):
        o = s.obj
        d = o.get("data")
        if not isinstance(d, dict) or d.get("symbol") not in self._books:
            return o, s.raw
        self._relive(d["symbol"])
        base = self._books[d["symbol"]].sync.seq  # seeds number from 1: shift to follow the book
        ch = d["changes"]
        d = dict(d, sequenceStart=d["sequenceStart"] + base, sequenceEnd=d["sequenceEnd"] + base,
                 changes={k: [[r[0], r[1], str(int(r[2]) + base)] for r in rows] for k, rows in ch.items()})
        o = dict(o, data=d)
        return o, json.dumps(o, separators=(",", ":")).encode()


class _KucoinUser(_Target):
    """KucoinUserStream: every match carries a fresh tradeId (a seen one is dropped as a duplicate
    before it is read)."""

    name = "kucoin_user"
    book_kind = False

    def __init__(self, sink, seeds) -> None:
        from arbkit.core.clock import SimClock
        from arbkit.core.enums import InstrumentKind, Venue
        from arbkit.core.fees import FeeSpec
        from arbkit.core.instruments import Instrument
        from arbkit.venues.kucoin.gateway import GatewayConfig, KucoinGateway
        from arbkit.venues.kucoin.user import KucoinUserStream

        gw = KucoinGateway(None, GatewayConfig(rest_url="http://127.0.0.1:9"))
        fee = FeeSpec(kind="spot", taker_rate=Decimal("0.001"), maker_rate=Decimal("0.001"))
        for sym in {str(x.obj.get("data", {}).get("symbol", "")) for x in seeds} | {"BTC-USDT"}:
            if "-" in sym:
                b, q = sym.split("-", 1)
                gw._instruments[sym] = Instrument(venue=Venue.KUCOIN, symbol=sym, kind=InstrumentKind.SPOT,
                                                  tick_size=Decimal("0.00000001"), size_increment=Decimal("0.00000001"),
                                                  quote=q, base=b, fee=fee)
        self.stream = KucoinUserStream(sink, gw, clock=SimClock(1))
        self._trade = 10**9

    def on_frame(self, raw):
        self.stream._on_frame(raw)

    def malformed(self):
        return self.stream.malformed.count

    def live(self, book):
        return True

    def prepare(self, s: _Seed):
        o = s.obj
        d = o.get("data")
        if not isinstance(d, dict) or d.get("type") != "match":
            return o, s.raw
        self._trade += 1
        o = dict(o, data=dict(d, tradeId=str(self._trade)))
        return o, json.dumps(o, separators=(",", ":")).encode()


def _book_key(parser: str, obj: dict) -> str:
    if parser == "polymarket_market":
        pcs = obj.get("price_changes")
        if isinstance(pcs, list) and pcs and isinstance(pcs[0], dict):
            return str(pcs[0].get("asset_id", ""))
        return str(obj.get("asset_id", ""))
    if parser == "kalshi_market":
        msg = obj.get("msg")
        return str(msg.get("market_ticker", "")) if isinstance(msg, dict) else ""
    if parser == "kucoin_market":
        d = obj.get("data")
        return str(d.get("symbol", "")) if isinstance(d, dict) else ""
    return ""


def _is_snapshot(parser: str, obj: dict) -> bool:
    if parser == "polymarket_market":
        return obj.get("event_type") == "book" and bool(obj.get("bids") or obj.get("asks"))
    if parser == "kalshi_market":
        return obj.get("type") == "orderbook_snapshot"
    return False


# --- the run --------------------------------------------------------------------------------


@dataclass
class FuzzResult:
    parser: str
    seeds: int
    frames: int = 0
    valid_frames: int = 0
    seconds: float = 0.0
    escaped: int = 0
    malformed: int = 0
    must_count: int = 0
    bad_not_counted: int = 0
    books_changed_by_bad: int = 0
    good_counted: int = 0
    valid_seed_counted: int = 0
    errors_logged: int = 0
    alerts: int = 0  # frames that logged an intended ALERT (undocumented status, booked provisional)
    alerts_booked: int = 0  # of those, frames whose fills (of ours) were booked, provisional
    alerts_not_conservative: int = 0  # frames whose alert did not come with the conservative booking
    by_mutator: dict[str, int] = field(default_factory=dict)
    samples: list[str] = field(default_factory=list)

    def sample(self, what: str, mut: Mutation, extra: str = "") -> None:
        if len(self.samples) < 20:
            f = mut.frame if isinstance(mut.frame, str) else mut.frame.decode("utf-8", "replace")
            self.samples.append(f"{what} [{mut.mutator} {mut.key or ''}] {extra} :: {f[:300]!r}")

    @property
    def problems(self) -> int:
        return (self.escaped + self.bad_not_counted + self.books_changed_by_bad + self.good_counted
                + self.valid_seed_counted + self.errors_logged + self.alerts_not_conservative)


def fuzz_parser(parser: str, n: int, seed: int = SEED, use_shared: bool = True) -> FuzzResult:
    """Feed ``n`` mutated frames to one parser; return what was observed (never raises for a
    parser bug: an escaped exception is counted and sampled)."""
    rng = random.Random(f"{seed}:{parser}")
    objs = seeds(parser, use_shared)
    sd = [_Seed(o, _book_key(parser, o)) for o in objs]
    must = MUST_VALIDATE[parser]
    sink = _Collector()
    errlog = _ErrorLog()
    arb_log = logging.getLogger("arbkit")
    old_level, old_prop = arb_log.level, arb_log.propagate
    arb_log.setLevel(logging.ERROR)  # one warning per malformed frame would dominate the run
    arb_log.propagate = False
    arb_log.addHandler(errlog)
    loop = asyncio.new_event_loop() if parser == "kalshi_user" else None
    try:
        if parser == "polymarket_market":
            tgt: _Target = _PolyMarket(sink, sd)
        elif parser == "kalshi_market":
            tgt = _KalshiMarket(sink, sd)
        elif parser == "polymarket_user":
            tgt = _PolyUser(sink, sd)
        elif parser == "kucoin_market":
            tgt = _KucoinMarket(sink, sd)
        elif parser == "kucoin_user":
            tgt = _KucoinUser(sink, sd)
        else:
            assert loop is not None
            tgt = _KalshiUser(sink, sd, loop)
        res = FuzzResult(parser, len(sd))
        snaps = [s for s in sd if _is_snapshot(parser, s.obj)]
        # every seed once, valid: none may be counted malformed
        for s in snaps + sd:
            before = tgt.malformed()
            _, raw = tgt.prepare(s)
            tgt.on_frame(raw.decode())
            tgt.drain()
            if tgt.malformed() != before:
                res.valid_seed_counted += 1
                if len(res.samples) < 20:
                    res.samples.append(f"valid seed counted malformed: {raw[:300]!r}")
            res.valid_frames += 1
        errors0 = errlog.count
        book_kind = tgt.book_kind
        gc.collect()
        t0 = time.perf_counter()
        snap_i = 0
        for i in range(n):
            if snaps and i % RELIVE_EVERY == 0:
                s = snaps[snap_i % len(snaps)]
                snap_i += 1
                _, raw = tgt.prepare(s)
                tgt.on_frame(raw)
                res.valid_frames += 1
            s = sd[rng.randrange(len(sd))]
            obj, raw = tgt.prepare(s)
            mut = mutate(rng, s, obj, raw, must.get(_kind(parser, s.obj), set()))
            res.by_mutator[mut.mutator] = res.by_mutator.get(mut.mutator, 0) + 1
            live_before = tgt.live(s.book) if mut.must_count and not mut.path == () else True
            fp0 = tgt.fingerprints() if book_kind else None
            m0 = tgt.malformed()
            ev0 = sink.events
            a0 = errlog.alerts
            try:
                tgt.on_frame(mut.frame)
                tgt.drain()
            except Exception as exc:  # noqa: BLE001 - this is what the fuzz looks for
                res.escaped += 1
                res.sample("ESCAPED", mut, repr(exc)[:200])
                continue
            if errlog.alerts != a0:
                res.alerts += 1
                errlog.muted = True
                try:
                    problem, booked = tgt.check_alert(mut.frame)
                finally:
                    errlog.muted = False
                res.alerts_booked += booked
                if problem:
                    res.alerts_not_conservative += 1
                    res.sample("ALERT NOT CONSERVATIVE", mut, problem)
            counted = tgt.malformed() != m0
            if counted:
                res.malformed += 1
            if mut.must_count and live_before:
                res.must_count += 1
                if not counted:
                    res.bad_not_counted += 1
                    res.sample("NOT COUNTED", mut)
            if mut.never_count and counted:
                res.good_counted += 1
                res.sample("EXTRA FIELD COUNTED", mut, sink.last_error[:200])
            if counted and book_kind:
                fp1 = tgt.fingerprints()
                for k, v in fp1.items():
                    if fp0.get(k) != v and tgt.tradable(k):  # type: ignore[union-attr]
                        res.books_changed_by_bad += 1
                        res.sample("BOOK CHANGED", mut, f"{k} {sink.last_error[:200]}")
            elif counted and sink.events != ev0 and not book_kind:
                pass  # user frames: events of the frame's valid parts are allowed (one event per frame seeds)
        res.seconds = time.perf_counter() - t0
        res.frames = n
        res.errors_logged = errlog.count - errors0
        res.samples += [f"ERROR LOGGED {m}" for m in errlog.samples]
        return res
    finally:
        arb_log.removeHandler(errlog)
        arb_log.setLevel(old_level)
        arb_log.propagate = old_prop
        if loop is not None:
            loop.close()


def run(quick: bool) -> dict:
    n = 20_000 if quick else 1_000_000
    figures: dict[str, Any] = {"shared_seeds": harness.shared_path() is not None}
    totals = {"frames": 0, "exceptions_escaped": 0, "malformed_counted": 0, "bad_frames_not_counted": 0,
              "books_changed_by_bad_frames": 0, "good_frames_counted_malformed": 0, "errors_logged": 0,
              "alerts": 0, "alerts_not_conservative": 0}
    min_frames = None
    for p in PARSERS:
        r = fuzz_parser(p, n)
        figures[f"{p}.seeds"] = r.seeds
        figures[f"{p}.frames"] = r.frames
        figures[f"{p}.exceptions_escaped"] = r.escaped
        figures[f"{p}.malformed_counted"] = r.malformed
        figures[f"{p}.certainly_bad_frames"] = r.must_count
        figures[f"{p}.bad_frames_not_counted"] = r.bad_not_counted
        if r.parser.endswith("market"):
            figures[f"{p}.books_changed_by_bad_frames"] = r.books_changed_by_bad
        figures[f"{p}.good_frames_counted_malformed"] = r.good_counted + r.valid_seed_counted
        figures[f"{p}.errors_logged"] = r.errors_logged
        figures[f"{p}.alerts"] = r.alerts
        figures[f"{p}.alerts_booked_provisional"] = r.alerts_booked
        figures[f"{p}.alerts_not_conservative"] = r.alerts_not_conservative
        figures[f"{p}.frames_per_s"] = round(r.frames / r.seconds) if r.seconds else 0
        totals["frames"] += r.frames
        totals["exceptions_escaped"] += r.escaped
        totals["malformed_counted"] += r.malformed
        totals["bad_frames_not_counted"] += r.bad_not_counted
        totals["books_changed_by_bad_frames"] += r.books_changed_by_bad
        totals["good_frames_counted_malformed"] += r.good_counted + r.valid_seed_counted
        totals["errors_logged"] += r.errors_logged
        totals["alerts"] += r.alerts
        totals["alerts_not_conservative"] += r.alerts_not_conservative
        min_frames = r.frames if min_frames is None else min(min_frames, r.frames)
        for s in r.samples[:5]:
            print(f"  {p}: {s}")
    figures.update(totals)
    figures["min_frames_per_parser"] = min_frames
    return figures


if __name__ == "__main__":  # pragma: no cover
    rec = harness.record("fuzz", METHOD, run(True), True, TARGETS)
    harness.emit(rec, False)
