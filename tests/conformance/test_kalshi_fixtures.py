"""Every Kalshi payload in ../shared/fixtures/kalshi parses with arbkit.venues.kalshi, in the older
shape (the legacy integer fields present, as recorded) and in the current fixed-point shape.

The golden REST recordings predate the 2026-03-12 removal of the integer fields (prices in cents,
integer counts). The current shape is produced here by :func:`to_current`: every legacy integer is
removed; where the recording has no fixed-point twin for it, the twin is written from the integer
first (exactly: cents -> ``"0.4200"``, counts -> ``"13.00"``), as the venue now sends it. Both
shapes must parse to the same normalised values. The recorded WS messages in
../shared/data/ssmd/kalshi_*.jsonl parse too.
"""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any, Callable

import msgspec
import pytest

from arbkit.core.events import MessageMalformed, TradeReported
from arbkit.venues.kalshi import parse as P
from arbkit.venues.kalshi.feed import FeedConfig, KalshiMarketFeed

GOLDEN = "kalshi/kalshi-starter-code-python_golden"
NAUTILUS = "kalshi/nautilus_trader_pr3659"

# Legacy integer field -> (its fixed-point twin, kind). Kinds: "cents" -> dollars string (4 dp),
# "count" -> fp string (2 dp).
LEGACY: dict[str, tuple[str, str]] = {
    "yes_price": ("yes_price_dollars", "cents"), "no_price": ("no_price_dollars", "cents"),
    "yes_bid": ("yes_bid_dollars", "cents"), "yes_ask": ("yes_ask_dollars", "cents"),
    "no_bid": ("no_bid_dollars", "cents"), "no_ask": ("no_ask_dollars", "cents"),
    "last_price": ("last_price_dollars", "cents"), "previous_price": ("previous_price_dollars", "cents"),
    "taker_fees": ("taker_fees_dollars", "cents"), "maker_fees": ("maker_fees_dollars", "cents"),
    "taker_fill_cost": ("taker_fill_cost_dollars", "cents"), "maker_fill_cost": ("maker_fill_cost_dollars", "cents"),
    "market_exposure": ("market_exposure_dollars", "cents"), "realized_pnl": ("realized_pnl_dollars", "cents"),
    "fees_paid": ("fees_paid_dollars", "cents"), "total_traded": ("total_traded_dollars", "cents"),
    "event_exposure": ("event_exposure_dollars", "cents"), "total_cost": ("total_cost_dollars", "cents"),
    "count": ("count_fp", "count"), "fill_count": ("fill_count_fp", "count"),
    "remaining_count": ("remaining_count_fp", "count"), "initial_count": ("initial_count_fp", "count"),
    "position": ("position_fp", "count"), "reduced_by": ("reduced_by_fp", "count"),
    "volume": ("volume_fp", "count"), "volume_24h": ("volume_24h_fp", "count"),
    "open_interest": ("open_interest_fp", "count"), "total_cost_shares": ("total_cost_shares_fp", "count"),
    "yes_count": ("yes_count_fp", "count"), "no_count": ("no_count_fp", "count"),
    "yes_total_cost": ("yes_total_cost_dollars", "cents"), "no_total_cost": ("no_total_cost_dollars", "cents"),
}
KEEP_INT = {"balance", "portfolio_value", "updated_ts", "ts", "settlement_timer_seconds", "queue_position",
            "resting_orders_count", "end_period_ts", "revenue", "value", "fee_multiplier",
            "dollar_volume", "dollar_open_interest", "Clock", "ts_ms"}  # still integers in the current schema


def _fmt(value: int, kind: str) -> str:
    if kind == "cents":
        return f"{value // 100}.{value % 100:02d}00"
    return f"{value}.00"


def to_current(obj: Any) -> Any:
    """The payload as Kalshi sends it since 2026-03-12 (no legacy integer fields)."""
    if isinstance(obj, list):
        return [to_current(x) for x in obj]
    if not isinstance(obj, dict):
        return obj
    out: dict[str, Any] = {}
    for k, v in obj.items():
        if k in ("orderbook",) and isinstance(v, dict):  # REST book: orderbook_fp with string levels
            fp = {}
            for side in ("yes", "no"):
                rows = v.get(f"{side}_dollars") or []
                fp[f"{side}_dollars"] = [[p, f"{q}.00" if isinstance(q, int) else q] for p, q in rows]
            out["orderbook_fp"] = fp
            continue
        if isinstance(v, float) and k == "price":  # legacy float price on trades and fills
            continue
        if isinstance(v, int) and not isinstance(v, bool) and k not in KEEP_INT:
            twin = LEGACY.get(k)
            if twin is not None:
                if twin[0] not in obj:
                    out[twin[0]] = _fmt(v, twin[1])
                continue
            if any(k + s in obj for s in ("_dollars", "_fp", "_fixed")) or k == "tick_size" or k == "notional_value" \
                    or k == "liquidity" or k.startswith("previous_"):
                continue
        out[k] = to_current(v)
    return out


def _ints_left(obj: Any, path: str = "") -> list[str]:
    """Legacy integer fields still present (there must be none in the current shape)."""
    found: list[str] = []
    if isinstance(obj, list):
        for i, x in enumerate(obj):
            found += _ints_left(x, f"{path}[{i}]")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, int) and not isinstance(v, bool) and k not in KEEP_INT:
                found.append(f"{path}.{k}")
            found += _ints_left(v, f"{path}.{k}")
    return found


# --- what each golden file parses into (normalised, comparable across shapes) ----------------------


def _orders(wires: list[P.OrderWire]) -> list:
    return [P.order_state(w) for w in wires] + [w.fees() for w in wires]


def _market(m: P.MarketWire) -> tuple:
    return (m.ticker, m.event_ticker, m.status, m.close_time, m.rules_primary, m.rules_secondary,
            m.price_level_structure, m.quotes(), m.volume_lots(), m.open_interest_lots(),
            [(r.start, r.end, r.step) for r in m.price_ranges or ()])


PARSERS: dict[str, Callable[[bytes], Any]] = {
    "amend_order_response": lambda b: _orders([(e := P.decode(b, P.AmendEnvelope)).order, e.old_order]),
    "batch_cancel_orders_response": lambda b: [(i.order_id, P.pick_count(i.reduced_by_fp, i.reduced_by, "r"),
                                                P.order_state(i.order) if i.order else None)
                                               for i in P.decode(b, P.BatchCancelEnvelope).orders],
    "batch_create_orders_response": lambda b: [(P.order_state(i.order) if i.order else None, i.error)
                                               for i in P.decode(b, P.BatchCreateEnvelope).orders],
    "cancel_order_response": lambda b: (_orders([(e := P.decode(b, P.CancelEnvelope)).order]), e.reduced_lots()),
    "create_order_response": lambda b: _orders([P.decode(b, P.OrderEnvelope).order]),
    "decrease_order_response": lambda b: _orders([P.decode(b, P.OrderEnvelope).order]),
    "portfolio_order_single_response": lambda b: _orders([P.decode(b, P.OrderEnvelope).order]),
    "portfolio_orders_response": lambda b: _orders(P.decode(b, P.OrdersPage).orders),
    "portfolio_fills_response": lambda b: [f.parsed() for f in P.decode(b, P.FillsPage).fills],
    "portfolio_positions_response": lambda b: [(p.ticker, p.position_lots(), p.exposure(), p.fees_paid_amount())
                                               for p in P.decode(b, P.PositionsPage).market_positions],
    "portfolio_balance_response": lambda b: P.decode(b, P.BalanceWire).amount(),
    "portfolio_settlements_response": lambda b: [(s.ticker, s.market_result, s.counts())
                                                 for s in P.decode(b, P.SettlementsPage).settlements],
    "market_single_response": lambda b: _market(P.decode(b, P.MarketEnvelope).market),
    "markets_list_response": lambda b: [_market(m) for m in P.decode(b, P.MarketsPage).markets],
    "event_single_response": lambda b: ((e := P.decode(b, P.EventEnvelope)).event, [_market(m) for m in e.markets or ()]),
    "events_list_response": lambda b: P.decode(b, P.EventsPage).events,
    "series_single_response": lambda b: P.decode(b, P.SeriesEnvelope).series,
    "series_list_response": lambda b: [(s.ticker, s.fee_type, s.fee_multiplier) for s in P.decode(b, P.SeriesList).series],
    "orderbook_response": lambda b: P.decode(b, P.OrderbookEnvelope).levels(),
    "trades_list_response": lambda b: [(t.trade_id, t.yes_units(), t.lots(), t.taker_side)
                                       for t in P.decode(b, P.TradesPage).trades],
    "exchange_status_response": lambda b: P.decode(b, P.ExchangeStatusWire),
}
# Recorded endpoints the venue package does not consume (market data products and account
# features arbkit does not trade through). Listed so that a new fixture forces a decision.
NOT_CONSUMED = {
    "_recording_summary", "candlesticks_batch_response", "event_candlesticks_response", "series_candlesticks_response",
    "event_metadata_response", "events_multivariate_list_response", "exchange_announcements_response",
    "exchange_schedule_response", "filters_by_sport_response", "incentive_programs_response",
    "live_data_batch_response", "live_data_milestone_response", "milestone_single_response", "milestones_list_response",
    "multivariate_event_collection_lookup_tickers_response", "multivariate_event_collection_single_response",
    "multivariate_event_collections_list_response", "order_group_create_response", "order_group_delete_response",
    "order_group_reset_response", "order_group_single_response", "order_groups_list_response",
    "order_queue_position_response", "order_queue_positions_response",
    "portfolio_total_resting_order_value_response", "series_fee_changes_response",
    "structured_target_single_response", "structured_targets_list_response", "tags_by_categories_response",
    "user_data_timestamp_response",
}


def _golden(shared_fixtures: Path) -> dict[str, Any]:
    d = shared_fixtures / GOLDEN
    return {p.stem: json.loads(p.read_text())["response"] for p in sorted(d.glob("*.json"))}


def test_every_golden_file_is_accounted_for(shared_fixtures):
    names = set(_golden(shared_fixtures))
    assert names == set(PARSERS) | NOT_CONSUMED, (names ^ (set(PARSERS) | NOT_CONSUMED))


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_golden_parses_in_both_shapes(shared_fixtures, name):
    legacy = _golden(shared_fixtures)[name]
    current = to_current(legacy)
    assert not _ints_left(current), _ints_left(current)
    parse = PARSERS[name]
    a = parse(msgspec.json.encode(legacy))
    b = parse(msgspec.json.encode(current))
    assert a == b


def test_golden_values(shared_fixtures):
    g = _golden(shared_fixtures)
    fills = PARSERS["portfolio_fills_response"](msgspec.json.encode(to_current(g["portfolio_fills_response"])))
    assert len(fills) == 5
    f = fills[0]
    assert (f.ticker, f.side, f.action, f.price, f.quantity, f.is_taker) == (
        "KXEXAMPLE-9C7BFD30C721", "yes", "buy", D("0.6000"), D("32.00"), True)
    st = PARSERS["create_order_response"](msgspec.json.encode(g["create_order_response"]))[0]
    assert (st.instrument_id, st.price, st.quantity, st.status.value) == (
        "kalshi:KXEXAMPLE-2FC7AAE94801:yes", D("0.3000"), D("2.00"), "ACCEPTED")
    m = P.decode(msgspec.json.encode(g["market_single_response"]), P.MarketEnvelope).market
    assert m.price_level_structure == "deci_cent" and m.price_ranges[0].step == "0.0010"
    s = P.decode(msgspec.json.encode(g["series_single_response"]), P.SeriesEnvelope).series
    assert (s.fee_type, s.fee_multiplier) == ("quadratic", D(1))
    assert PARSERS["orderbook_response"](msgspec.json.encode(g["orderbook_response"])) == ([], [])
    assert PARSERS["portfolio_balance_response"](msgspec.json.encode(g["portfolio_balance_response"])) == D(100)
    positions = PARSERS["portfolio_positions_response"](msgspec.json.encode(g["portfolio_positions_response"]))
    assert positions[0][1] == 3200 and positions[0][2] == D("393.01")


@pytest.mark.parametrize("name", sorted(NOT_CONSUMED))
def test_not_consumed_files_are_json_responses(shared_fixtures, name):
    assert name in _golden(shared_fixtures)


def test_nautilus_fixed_point_fixtures(shared_fixtures):
    d = shared_fixtures / NAUTILUS
    snap = P.decode_ws((d / "ws_orderbook_snapshot.json").read_bytes())
    assert P.snapshot_levels(snap.msg) == ([(3500, 20000), (4200, 1300)], [(5400, 40000), (5600, 1700)])
    delta = P.decode_ws((d / "ws_orderbook_delta.json").read_bytes())
    assert P.delta_of(delta.msg) == (True, 4200, 5000)
    trade = P.decode_ws((d / "ws_trade.json").read_bytes())
    assert (trade.msg.trade_id, P.pick_price(trade.msg.yes_price_dollars, None, "p")) == (
        "d91bc706-ee49-470d-82d8-11418bda6fed", 3600)
    book = P.decode((d / "http_orderbook.json").read_bytes(), P.OrderbookEnvelope)
    assert book.levels() == P.snapshot_levels(snap.msg)
    mk = P.decode((d / "http_markets.json").read_bytes(), P.MarketsPage).markets[0]
    assert mk.quotes()["yes_ask"] == 4500 and mk.volume_lots() == 12_500_000
    tr = P.decode((d / "http_trades.json").read_bytes(), P.TradesPage).trades[0]
    assert (tr.yes_units(), tr.lots()) == (3600, 13600)
    # and the feed builds the two outcome books from them
    events: list = []
    feed = KalshiMarketFeed(events.append, FeedConfig())
    feed.subscribe(["KXBTC-25MAR15-B100000"])
    for name in ("ws_orderbook_snapshot.json", "ws_orderbook_delta.json", "ws_trade.json"):
        feed.on_frame((d / name).read_bytes())
    assert not [e for e in events if isinstance(e, MessageMalformed)]
    yes = feed.book("kalshi:KXBTC-25MAR15-B100000:yes")
    assert yes.best_bid_price() == D("0.420") and yes.best_bid()[1] == 6300 and yes.best_ask_price() == D("0.440")


def test_ssmd_recorded_ws_messages(shared_data):
    frames = []
    for name in ("kalshi_ticker.jsonl", "kalshi_trade.jsonl"):
        for line in (shared_data / "ssmd" / name).read_text().splitlines():
            if line.strip():
                frames.append(line)
    assert len(frames) == 20
    tickers = set()
    for raw in frames:
        f = P.decode_ws(raw)
        b = f.msg
        tickers.add(P.body_ticker(b))
        if f.type == "ticker":
            # legacy cents and the dollar strings agree (pick_price raises when they do not)
            P.pick_price(b.yes_bid_dollars, None, "yes_bid")
            raw_d = json.loads(raw)["msg"]
            assert P.pick_price(raw_d["yes_bid_dollars"], raw_d["yes_bid"], "yes_bid") is not None
            assert P.pick_price(b.price_dollars, b.price, "price") is not None
        else:
            assert f.type == "trade" and f.seq is not None
            assert P.pick_price(b.yes_price_dollars, b.yes_price, "yes") + P.pick_price(
                b.no_price_dollars, b.no_price, "no") == 10_000
            assert P.pick_count(b.count_fp, b.count, "count") > 0
    def replay(shape) -> tuple[list, KalshiMarketFeed]:
        events: list = []
        feed = KalshiMarketFeed(events.append, FeedConfig())
        feed.subscribe(sorted(tickers))
        for raw in frames:
            feed.on_frame(shape(raw), recv_ns=1)
        assert not [e for e in events if isinstance(e, MessageMalformed)]
        return [e for e in events if isinstance(e, TradeReported)], feed

    def current(raw: str) -> str:  # the same message without its legacy integers
        d = json.loads(raw)
        d["msg"] = to_current(d["msg"])
        assert not _ints_left(d["msg"])
        return json.dumps(d)

    legacy_trades, feed = replay(lambda r: r)
    current_trades, feed2 = replay(current)
    assert len(legacy_trades) == 2 * 10 and legacy_trades == current_trades  # YES and NO view of each trade
    assert feed.stats.tickers == feed2.stats.tickers == 10
    assert feed.stats.seq_gaps == feed2.stats.seq_gaps  # a 10-message sample of a stream: its gaps are real
