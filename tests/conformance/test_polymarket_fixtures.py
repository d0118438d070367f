"""Every Polymarket payload in ../shared/fixtures/polymarket parses (or is classified as not
applicable, with the reason), and the known-answer vectors pass."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from arbkit.core.enums import BookState
from arbkit.core.events import BookUpdated, MarketListed, MessageMalformed, TickSizeChanged, TradeReported
from arbkit.venues.polymarket import parse as P
from arbkit.venues.polymarket.auth import clob_auth_signature, hmac_signature
from arbkit.venues.polymarket.feed import FeedConfig, PolymarketMarketFeed
from arbkit.venues.polymarket.signer import SignedOrder, Wallet

MARKET = "market"
USER = "user"
NA = "n/a"

_GAMMA = "Gamma API (market discovery metadata), not the CLOB: arbkit's mapping layer reads Gamma, the venue package does not"
_DATA_API = "Polymarket Data API (positions/trades by wallet, float fields), not the CLOB API the gateway speaks"
_RTDS = "RTDS real-time data socket (crypto/equity reference prices), not the CLOB market or user channel"

# relative path -> (what it is, reason when not applicable)
CLASSIFIED: dict[str, tuple[str, str]] = {
    "nautilus_trader/tests_ws_messages/book.json": (MARKET, ""),
    "nautilus_trader/tests_ws_messages/price_change.json": (MARKET, ""),
    "nautilus_trader/tests_ws_messages/price_change_v2.json": (MARKET, ""),
    "nautilus_trader/tests_ws_messages/tick_size_change.json": (MARKET, ""),
    "nautilus_trader/tests_ws_messages/last_trade_price.json": (MARKET, ""),
    "nautilus_trader/tests_ws_messages/order_placement.json": (USER, ""),
    "nautilus_trader/tests_ws_messages/order_cancel.json": (USER, ""),
    "nautilus_trader/tests_ws_messages/trades.json": (USER, ""),
    "nautilus_trader/tests_ws_messages/user_trade1.json": (USER, ""),
    "nautilus_trader/tests_ws_messages/user_trade2.json": (USER, ""),
    "nautilus_trader/tests_ws_messages/user_trade3.json": (USER, ""),
    "nautilus_trader/tests_ws_messages/user_trade4.json": (USER, ""),
    "nautilus_trader/crates_test_data/ws_book_snapshot.json": (MARKET, ""),
    "nautilus_trader/crates_test_data/ws_last_trade.json": (MARKET, ""),
    "nautilus_trader/crates_test_data/ws_market_best_bid_ask_msg.json": (MARKET, ""),
    "nautilus_trader/crates_test_data/ws_market_book_msg.json": (MARKET, ""),
    "nautilus_trader/crates_test_data/ws_market_last_trade_msg.json": (MARKET, ""),
    "nautilus_trader/crates_test_data/ws_market_new_market_msg.json": (MARKET, ""),
    "nautilus_trader/crates_test_data/ws_market_price_change_msg.json": (MARKET, ""),
    "nautilus_trader/crates_test_data/ws_market_resolved_msg.json": (MARKET, ""),
    "nautilus_trader/crates_test_data/ws_market_tick_size_msg.json": (MARKET, ""),
    "nautilus_trader/crates_test_data/ws_quotes.json": (MARKET, ""),
    "nautilus_trader/crates_test_data/ws_tick_size_change.json": (MARKET, ""),
    "nautilus_trader/crates_test_data/ws_user_order_cancellation.json": (USER, ""),
    "nautilus_trader/crates_test_data/ws_user_order_fok_killed.json": (USER, ""),
    "nautilus_trader/crates_test_data/ws_user_order_matched.json": (USER, ""),
    "nautilus_trader/crates_test_data/ws_user_order_msg.json": (USER, ""),
    "nautilus_trader/crates_test_data/ws_user_order_placement.json": (USER, ""),
    "nautilus_trader/crates_test_data/ws_user_order_update.json": (USER, ""),
    "nautilus_trader/crates_test_data/ws_user_order_venue_cancel.json": (USER, ""),
    "nautilus_trader/crates_test_data/ws_user_trade.json": (USER, ""),
    "nautilus_trader/crates_test_data/ws_user_trade_msg.json": (USER, ""),
    "nautilus_trader/crates_test_data/clob_book_response.json": ("rest_book", ""),
    "nautilus_trader/tests_http_responses/book.json": ("rest_book", ""),
    "nautilus_trader/crates_test_data/clob_fee_rate_response_nonzero.json": ("fee_rate", ""),
    "nautilus_trader/crates_test_data/clob_fee_rate_response_zero.json": ("fee_rate", ""),
    "nautilus_trader/crates_test_data/clob_market_closed_binary_accepting_false.json": ("clob_market", ""),
    "nautilus_trader/crates_test_data/clob_market_closed_binary_accepting_true.json": ("clob_market", ""),
    "nautilus_trader/tests_http_responses/market.json": ("clob_market", ""),
    "nautilus_trader/tests_http_responses/markets.json": ("clob_markets_page", ""),
    "nautilus_trader/crates_test_data/http_balance_allowance_collateral.json": ("balance", ""),
    "nautilus_trader/crates_test_data/http_balance_allowance_no_allowance.json": ("balance", ""),
    "nautilus_trader/crates_test_data/http_batch_cancel_response.json": ("cancel", ""),
    "nautilus_trader/crates_test_data/http_cancel_response_failed.json": ("cancel", ""),
    "nautilus_trader/crates_test_data/http_cancel_response_ok.json": ("cancel", ""),
    "nautilus_trader/crates_test_data/http_open_order.json": ("order_row", ""),
    "nautilus_trader/crates_test_data/http_open_order_sell_fok.json": ("order_row", ""),
    "nautilus_trader/crates_test_data/http_open_orders_page.json": ("page", ""),
    "nautilus_trader/crates_test_data/http_trade_report.json": ("trade_row", ""),
    "nautilus_trader/crates_test_data/http_trades_page.json": ("page", ""),
    "nautilus_trader/crates_test_data/http_order_response_error_500.json": ("post_order", ""),
    "nautilus_trader/crates_test_data/http_order_response_failed.json": ("post_order", ""),
    "nautilus_trader/crates_test_data/http_order_response_ok.json": ("post_order", ""),
    "rs-clob-client_tests_extracted/post_order_response_live.json": ("post_order", ""),
    "rs-clob-client_tests_extracted/post_order_response_matched.json": ("post_order", ""),
    "nautilus_trader/crates_test_data/http_signed_order.json": ("signed_order", ""),
    "known_answer_vectors/polymarket_signing_vectors.json": ("vectors", ""),
    "rs-clob-client_tests_extracted/post_order_request_v1_body.json": (
        NA, "a CLOB V1 order body (feeRateBps/nonce/taker fields); V1 was superseded by V2 on 2026-04-28"),
    "nautilus_trader/tests_http_responses/event.json": (NA, _GAMMA),
    "nautilus_trader/tests_http_responses/events_list.json": (NA, _GAMMA),
    "nautilus_trader/tests_http_responses/market_slug.json": (NA, _GAMMA),
    "nautilus_trader/tests_http_responses/markets_list.json": (NA, _GAMMA),
    "nautilus_trader/crates_test_data/gamma_event.json": (NA, _GAMMA),
    "nautilus_trader/crates_test_data/gamma_market.json": (NA, _GAMMA),
    "nautilus_trader/crates_test_data/gamma_market_closed_binary_accepting_false.json": (NA, _GAMMA),
    "nautilus_trader/crates_test_data/gamma_market_closed_binary_accepting_true.json": (NA, _GAMMA),
    "nautilus_trader/crates_test_data/gamma_market_closed_nonbinary_legacy.json": (NA, _GAMMA),
    "nautilus_trader/crates_test_data/gamma_market_closed_zero_zero_legacy.json": (NA, _GAMMA),
    "nautilus_trader/crates_test_data/gamma_market_sports_market_map_handicap.json": (NA, _GAMMA),
    "nautilus_trader/crates_test_data/gamma_market_sports_market_money_line.json": (NA, _GAMMA),
    "nautilus_trader/crates_test_data/gamma_tags.json": (NA, _GAMMA),
    "nautilus_trader/crates_test_data/search_response.json": (NA, _GAMMA + " (public search)"),
    "nautilus_trader/tests_http_responses/trades.json": (NA, _DATA_API),
    "nautilus_trader/crates_test_data/data_api_positions_response.json": (NA, _DATA_API),
    "nautilus_trader/crates_test_data/data_api_trades_response.json": (NA, _DATA_API),
    "nautilus_trader/crates_test_data/rtds_crypto_prices_subscribe.json": (NA, _RTDS),
    "nautilus_trader/crates_test_data/rtds_crypto_prices_update.json": (NA, _RTDS),
    "nautilus_trader/crates_test_data/rtds_equity_prices_subscribe.json": (NA, _RTDS),
    "nautilus_trader/crates_test_data/rtds_equity_prices_update.json": (NA, _RTDS),
}


def _root(shared_fixtures: Path) -> Path:
    return shared_fixtures / "polymarket"


def test_every_fixture_is_classified(shared_fixtures: Path) -> None:
    root = _root(shared_fixtures)
    found = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    unclassified = sorted(found - set(CLASSIFIED))
    assert not unclassified, f"fixtures nobody classified (parse them or say why not): {unclassified}"
    for path, (kind, reason) in CLASSIFIED.items():
        assert kind != NA or reason, path


def _ids(kind: str) -> list[str]:
    return [p for p, (k, _) in CLASSIFIED.items() if k == kind]


def _feed_for(tokens: list[str]) -> tuple[PolymarketMarketFeed, list]:
    events: list = []
    # These markets traded on a 0.001 grid (the metadata provider would say so in production).
    feed = PolymarketMarketFeed(events.append, FeedConfig(crosscheck_interval_s=0),
                                tick_sizes={t: Decimal("0.001") for t in tokens})
    feed.subscribe(tokens)
    return feed, events


@pytest.mark.parametrize("rel", _ids(MARKET))
def test_market_channel_payloads(shared_fixtures: Path, rel: str) -> None:
    raw = (_root(shared_fixtures) / rel).read_bytes()
    msgs = P.decode_market_frame(raw)
    assert msgs and all(m.kind in P.MARKET_EVENT_KINDS for m in msgs), [m.kind for m in msgs]
    tokens = sorted({m.asset_id for m in msgs if m.asset_id} | {c.asset_id for m in msgs for c in (m.price_changes or [])})
    feed, events = _feed_for(tokens)
    # Give every book a snapshot first so deltas apply (a price_change before a book is dropped).
    for t in tokens:
        feed.on_frame(None, json.dumps({"event_type": "book", "asset_id": t, "market": "0x", "bids": [], "asks": []}))
    events.clear()
    feed.on_frame(None, raw)
    assert not [e for e in events if isinstance(e, MessageMalformed)], events
    assert feed.malformed.count == 0
    kinds = {m.kind for m in msgs}
    if "book" in kinds:
        m = msgs[0]
        book = feed.book(m.asset_id)
        assert book is not None and feed.book_state(m.asset_id) in (BookState.LIVE, BookState.CROSSED)
        assert len(book.levels(True)) == len([lv for lv in m.bid_levels() if Decimal(lv.size) > 0])
        upd = [e for e in events if isinstance(e, BookUpdated)][-1]
        if m.bid_levels():
            assert upd.best_bid == max(Decimal(lv.price) for lv in m.bid_levels())
        if m.ask_levels():
            assert upd.best_ask == min(Decimal(lv.price) for lv in m.ask_levels())
    if "price_change" in kinds:
        assert feed.stats.deltas_applied >= 1
        for m in msgs:
            for ch in (m.price_changes or []):
                book = feed.book(ch.asset_id)
                lots = book.size_at(ch.side == "BUY", book.to_tick(Decimal(ch.price)))
                assert book.size(lots) == Decimal(ch.size) or lots == 0 and Decimal(ch.size) == 0
    if "tick_size_change" in kinds:
        m = msgs[0]
        tsc = [e for e in events if isinstance(e, TickSizeChanged)]
        assert tsc and tsc[0].new_tick_size == Decimal(m.new_tick_size)
        assert feed.book_state(m.asset_id) is BookState.RESYNCING and feed.book(m.asset_id) is None
    if "last_trade_price" in kinds:
        trades = [e for e in events if isinstance(e, TradeReported)]
        assert trades and trades[0].price == Decimal(msgs[0].price) and trades[0].size == Decimal(msgs[0].size)
    if "new_market" in kinds:
        # a listing for the market finder: YES first, the event's ticker as the series, once per market
        m = msgs[0]
        listed = [e for e in events if isinstance(e, MarketListed)]
        assert [(e.market_id, e.instrument_ids, e.title, e.stage, e.tick_size) for e in listed] == [
            (m.market, [f"polymarket:{m.assets_ids[0]}", f"polymarket:{m.assets_ids[1]}"], m.question, "new_market",
             m.order_price_min_tick_size)]
        assert listed[0].event_id == m.event_message["id"] and listed[0].series == m.event_message["ticker"]
        feed.on_frame(None, raw)
        assert len([e for e in events if isinstance(e, MarketListed)]) == 1


@pytest.mark.parametrize("rel", _ids(USER))
def test_user_channel_payloads(shared_fixtures: Path, rel: str) -> None:
    raw = (_root(shared_fixtures) / rel).read_bytes()
    msgs = P.decode_user_frame(raw)
    assert msgs
    for m in msgs:
        assert m.kind in ("order", "trade"), rel
        if m.kind == "order":
            P.order_status(m)  # raises on an unknown status
        else:
            assert P.fill_status(m.status) is not None
            # treat every party as ours: every maker part and the taker part convert
            owners = {m.owner} | {mo.owner for mo in m.maker_orders or []}
            fills = P.our_fills(m, owners)
            assert fills and all(f.quantity > 0 and 0 < f.price < 1 for f in fills)


@pytest.mark.parametrize("rel", [p for p, (k, _) in CLASSIFIED.items() if k not in (MARKET, USER, NA, "vectors")])
def test_rest_payloads(shared_fixtures: Path, rel: str) -> None:
    raw = (_root(shared_fixtures) / rel).read_bytes()
    kind = CLASSIFIED[rel][0]
    if kind == "rest_book":
        b = msgspec.json.decode(raw, type=P.RestBook)
        assert b.asset_id and (b.bids or b.asks)
        for lv in b.bids + b.asks:
            assert Decimal(lv.price) > 0 and Decimal(lv.size) >= 0
    elif kind == "fee_rate":
        assert int(msgspec.json.decode(raw, type=P.FeeRateResponse).base_fee) >= 0
    elif kind == "clob_market":
        m = msgspec.json.decode(raw, type=P.ClobMarket)
        assert m.condition_id and len(m.tokens) == 2 and m.minimum_tick_size in (Decimal("0.01"), Decimal("0.001"))
    elif kind == "clob_markets_page":
        page = msgspec.json.decode(raw, type=P.ClobMarketsPage)
        assert page.data and all(m.condition_id for m in page.data)
    elif kind == "balance":
        ba = msgspec.json.decode(raw, type=P.BalanceAllowance)
        assert P.micro_units(ba.balance) > 0
    elif kind == "cancel":
        c = msgspec.json.decode(raw, type=P.CancelResponse)
        assert c.canceled or c.not_canceled
    elif kind in ("order_row", "trade_row"):
        row = msgspec.json.decode(raw, type=P.WsUserMessage)
        if kind == "order_row":
            assert P.order_status(row) is not None and Decimal(row.original_size) > 0
        else:
            assert P.our_fills(row, {row.owner})
    elif kind == "page":
        page = msgspec.json.decode(raw, type=P.Page)
        assert page.data and page.next_cursor
    elif kind == "post_order":
        r = msgspec.json.decode(raw, type=P.PostOrderResponse)
        assert (r.success and r.orderID) or (not r.success and r.message)
    elif kind == "signed_order":
        so = msgspec.json.decode(raw, type=dict)
        so = msgspec.convert({**so, "order_hash": ""}, SignedOrder)
        assert so.side in ("BUY", "SELL") and int(so.makerAmount) > 0 and so.signature.startswith("0x")
    else:  # pragma: no cover - a new kind without a check is a test bug
        raise AssertionError(kind)


def _vectors(shared_fixtures: Path) -> dict:
    return json.loads((_root(shared_fixtures) / "known_answer_vectors/polymarket_signing_vectors.json").read_text())


def test_known_answer_l2_hmac(shared_fixtures: Path) -> None:
    v = _vectors(shared_fixtures)["l2_hmac"]
    assert hmac_signature(v["secret"], v["timestamp"], v["method"], v["requestPath"], v["body"]) == v["expected_signature"]


def test_known_answer_clob_auth_eip712(shared_fixtures: Path) -> None:
    v = _vectors(shared_fixtures)["l1_clob_auth_eip712"]
    wallet = Wallet(v["private_key"])
    assert clob_auth_signature(wallet, v["domain"]["chainId"], v["timestamp"], v["nonce"]) == v["expected_signature"]


def test_known_answer_orderbook_hash(shared_fixtures: Path) -> None:
    v = _vectors(shared_fixtures)["orderbook_hash_sha1"]
    assert P.orderbook_hash(v["input"]) == v["expected_hash"]


def test_known_answer_vectors_not_applicable_are_named(shared_fixtures: Path) -> None:
    """order_v1_eip712 is a V1 (pre 2026-04-28) signature; order_v2_poly1271 is a deposit-wallet
    (POLY_1271) signature the fast signer does not produce and the file holds no vector for it."""
    v = _vectors(shared_fixtures)
    assert v["order_v1_eip712"]["domain"]["version"] == "1"
    assert "expected" not in json.dumps(v["order_v2_poly1271"]).lower().replace("expected hex", "")
