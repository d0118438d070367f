"""Kalshi feed frame handling without a socket: bids-only books -> two outcome books, seq checks."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest
from prometheus_client import REGISTRY

from arbkit.core.enums import BookState, Side
from arbkit.core.events import BookUpdated, MessageMalformed, TradeReported
from arbkit.venues.kalshi.feed import FeedConfig, KalshiMarketFeed, Market, ticker_of

T = "KXBTC-25MAR15-B100000"


def frame(typ: str, seq: int | None, msg: dict, sid: int = 1) -> str:
    d: dict = {"type": typ, "sid": sid, "msg": msg}
    if seq is not None:
        d["seq"] = seq
    return json.dumps(d)


def snap(seq: int, yes: list, no: list, sid: int = 1) -> str:
    msg: dict = {"market_ticker": T, "market_id": "m"}
    if yes:
        msg["yes_dollars_fp"] = yes
    if no:
        msg["no_dollars_fp"] = no
    return frame("orderbook_snapshot", seq, msg, sid)


def delta(seq: int, side: str, price: str, d: str, sid: int = 1) -> str:
    return frame("orderbook_delta", seq, {"market_ticker": T, "market_id": "m", "price_dollars": price, "delta_fp": d,
                                          "side": side, "ts": "2025-03-01T18:26:53.361842Z"}, sid)


@pytest.fixture
def feed():
    events: list = []
    f = KalshiMarketFeed(events.append, FeedConfig())
    f.subscribe([f"kalshi:{T}:yes"])
    f.events = events  # type: ignore[attr-defined]
    return f


def test_ticker_of():
    assert ticker_of(f"kalshi:{T}:yes") == T == ticker_of(f"kalshi:{T}:no") == ticker_of(T) == ticker_of(f"kalshi:{T}")


def test_snapshot_derives_asks_from_the_other_side(feed):
    feed.on_frame(snap(1, [["0.3500", "200.00"], ["0.4200", "13.00"]], [["0.5400", "400.00"], ["0.5600", "17.00"]]))
    yes, no = feed.book(f"kalshi:{T}:yes"), feed.book(f"kalshi:{T}:no")
    y_bids, y_asks = yes.snapshot_levels()
    n_bids, n_asks = no.snapshot_levels()
    assert y_bids == [(D("0.420"), D("13.00")), (D("0.350"), D("200.00"))]
    # YES ask = 1 - NO bid (best NO bid 0.56 -> best YES ask 0.44), sizes carried over
    assert y_asks == [(D("0.440"), D("17.00")), (D("0.460"), D("400.00"))]
    assert n_bids == [(D("0.560"), D("17.00")), (D("0.540"), D("400.00"))]
    assert n_asks == [(D("0.580"), D("13.00")), (D("0.650"), D("200.00"))]
    ups = [e for e in feed.events if isinstance(e, BookUpdated)]
    assert {e.instrument_id for e in ups} == {f"kalshi:{T}:yes", f"kalshi:{T}:no"}
    yu = next(e for e in ups if e.instrument_id.endswith(":yes"))
    assert (yu.best_bid, yu.best_ask, yu.best_ask_size) == (D("0.420"), D("0.440"), D("17.00"))
    assert feed.book_state(T) is BookState.LIVE


def test_deltas_are_changes_not_totals(feed):
    feed.on_frame(snap(1, [["0.4200", "13.00"]], [["0.5600", "17.00"]]))
    feed.on_frame(delta(2, "yes", "0.4200", "50.00"))
    feed.on_frame(delta(3, "no", "0.5600", "-17.00"))
    feed.on_frame(delta(4, "no", "0.5500", "2.50"))
    yes = feed.book(f"kalshi:{T}:yes")
    assert yes.snapshot_levels() == ([(D("0.420"), D("63.00"))], [(D("0.450"), D("2.50"))])
    assert feed.book(f"kalshi:{T}:no").snapshot_levels() == ([(D("0.550"), D("2.50"))], [(D("0.580"), D("63.00"))])
    assert feed.stats.deltas_applied == 3 and yes.sequence == 4


def test_seq_gap_drops_the_books_until_a_fresh_snapshot(feed):
    feed.on_frame(snap(1, [["0.4200", "13.00"]], [["0.5600", "17.00"]]))
    feed.on_frame(delta(2, "yes", "0.4200", "1.00"))
    feed.on_frame(delta(4, "yes", "0.4200", "1.00"))  # seq 3 never came
    assert feed.stats.seq_gaps == 1 and feed.stats.resyncs == 1
    assert feed.book_state(T) is BookState.RESYNCING and feed.book(f"kalshi:{T}:yes") is None
    assert not feed.is_tradeable(f"kalshi:{T}:yes", 10**12)
    feed.on_frame(delta(1, "yes", "0.4200", "1.00", sid=2))  # a delta before the new snapshot is not applied
    assert feed.stats.deltas_dropped == 1
    feed.on_frame(snap(2, [["0.4100", "5.00"]], [], sid=2))
    assert feed.book_state(T) is BookState.LIVE
    assert feed.book(f"kalshi:{T}:yes").snapshot_levels() == ([(D("0.410"), D("5.00"))], [])


def test_duplicates_ignored(feed):
    feed.on_frame(snap(1, [["0.4200", "13.00"]], []))
    d = delta(2, "yes", "0.4200", "1.00")
    feed.on_frame(d)
    feed.on_frame(d)
    assert feed.stats.duplicates == 1
    assert feed.book(f"kalshi:{T}:yes").best_bid() == (420, 1400)


def test_negative_level_means_resync(feed):
    feed.on_frame(snap(1, [["0.4200", "13.00"]], []))
    feed.on_frame(delta(2, "yes", "0.4200", "-14.00"))
    assert feed.stats.negative_levels == 1 and feed.book_state(T) is BookState.RESYNCING


def test_sub_grid_prices_regrid_to_the_finest_tick(feed):
    feed.on_frame(snap(1, [["0.3301", "1.00"]], [["0.6000", "2.00"]]))
    m = feed.market(T)
    assert m.tick_size == D("0.0001") and m.n == 10_000
    yes = feed.book(f"kalshi:{T}:yes")
    assert yes.best_bid_price() == D("0.3301") and yes.best_ask_price() == D("0.4000")


def test_crossed_book_is_not_tradeable(feed):
    feed.on_frame(snap(1, [["0.5000", "1.00"]], [["0.5500", "1.00"]]))  # yes bid 0.50 >= yes ask 0.45
    assert feed.book_state(T) is BookState.CROSSED
    assert not feed.is_tradeable(f"kalshi:{T}:yes", 10**15)


def test_trades_reported_for_both_outcomes(feed):
    feed.on_frame(frame("trade", 1, {"trade_id": "x", "market_ticker": T, "yes_price_dollars": "0.3600",
                                     "no_price_dollars": "0.6400", "count_fp": "136.00", "taker_side": "no",
                                     "ts": 1741052641}, sid=2))
    tr = [e for e in feed.events if isinstance(e, TradeReported)]
    assert [(e.instrument_id, e.price, e.size, e.aggressor) for e in tr] == [
        (f"kalshi:{T}:yes", D("0.3600"), D("136.00"), Side.SELL),
        (f"kalshi:{T}:no", D("0.6400"), D("136.00"), Side.BUY),
    ]


def _metric(source: str) -> float:
    return REGISTRY.get_sample_value("arbkit_venue_malformed_messages_total", {"venue": "kalshi", "source": source}) or 0.0


def test_malformed_counted_logged_never_raised(feed, caplog):
    before = _metric("market")
    feed.on_frame(b"{not json")
    feed.on_frame(snap(1, [["0.4200", "1.00"]], []))
    feed.on_frame(frame("orderbook_delta", 2, {"market_ticker": T, "price_dollars": "abc", "delta_fp": "1", "side": "yes"}))
    # the bad delta used up seq 2 without changing the book: the book is resynced, never trusted
    assert feed.book_state(T) is BookState.RESYNCING
    feed.on_frame(snap(1, [["0.4200", "1.00"]], [], sid=5))
    feed.on_frame(delta(2, "yes", "0.42", "x" * 500, sid=5))
    feed.on_frame(json.dumps({"type": "mystery"}))
    bad = [e for e in feed.events if isinstance(e, MessageMalformed)]
    assert len(bad) == 4 == feed.malformed.count
    assert _metric("market") - before == 4
    assert all(len(e.sample) <= 203 for e in bad)
    assert "malformed kalshi market message" in caplog.text


def test_record_path_writes_every_frame(tmp_path):
    path = tmp_path / "rec.txt"
    f = KalshiMarketFeed(lambda e: None, FeedConfig(record_path=str(path)))
    f.subscribe([T])
    f._record = open(path, "a", encoding="utf-8")  # what run() opens
    f.on_frame(snap(1, [["0.4200", "1.00"]], []), recv_ns=123)
    f.on_frame("junk\nline", recv_ns=124)
    f._record.close()
    lines = path.read_text().splitlines()
    assert lines[0].startswith("123 {") and lines[1] == "124 junk line"


def test_market_grid_validation():
    with pytest.raises(ValueError):
        Market(T, D("0.003"))
    m = Market(T, D("0.01"))
    assert m.n == 100


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_level = st.tuples(st.integers(1, 999), st.integers(1, 10**6))  # (price in $0.001, lots)
_op = st.tuples(st.booleans(), st.integers(1, 999), st.integers(-10**6, 10**6))


@settings(max_examples=150, deadline=None)
@given(yes=st.lists(_level, max_size=12), no=st.lists(_level, max_size=12), ops=st.lists(_op, max_size=60))
def test_books_equal_a_plain_model_of_both_sides_bids(yes, no, ops):
    """Any snapshot + delta stream: each outcome's bids are its side's bids, its asks are exactly
    1 - the other side's bids (same sizes), and a delta that would go negative resyncs instead."""
    model = {True: {}, False: {}}
    for side, levels in ((True, yes), (False, no)):
        for p, q in levels:
            model[side][p] = q  # repeated price: last wins, as in the feed
    f = KalshiMarketFeed(lambda e: None, FeedConfig())
    f.subscribe([T])
    fmt = lambda p: f"0.{p:03d}0"  # noqa: E731
    f.on_frame(snap(1, [[fmt(p), f"{q // 100}.{q % 100:02d}"] for p, q in yes],
                    [[fmt(p), f"{q // 100}.{q % 100:02d}"] for p, q in no]))
    seq = 1
    for is_yes, p, d in ops:
        if f.book_state(T) not in (BookState.LIVE, BookState.CROSSED):
            break
        seq += 1
        cur = model[is_yes].get(p, 0)
        a = abs(d)
        f.on_frame(delta(seq, "yes" if is_yes else "no", fmt(p), f"{'-' if d < 0 else ''}{a // 100}.{a % 100:02d}"))
        if cur + d < 0:
            assert f.book_state(T) is BookState.RESYNCING and f.stats.negative_levels == 1
            return
        if cur + d:
            model[is_yes][p] = cur + d
        else:
            model[is_yes].pop(p, None)
    m = f.market(T)
    yes_bids = sorted(model[True].items(), reverse=True)
    no_bids = sorted(model[False].items(), reverse=True)
    assert m.yes.levels(True) == yes_bids and m.no.levels(True) == no_bids
    assert m.yes.levels(False) == [(1000 - p, q) for p, q in no_bids]
    assert m.no.levels(False) == [(1000 - p, q) for p, q in yes_bids]
    crossed = bool(yes_bids and no_bids and yes_bids[0][0] + no_bids[0][0] >= 1000)
    assert (f.book_state(T) is BookState.CROSSED) == crossed


def test_book_updated_stamps_arrival_and_apply_apart(feed):
    # ts_recv is the frame's arrival, ts_book when the change was applied (socket->book stage)
    recv = 1_700_000_000 * 10**9
    feed.on_frame(snap(1, [["0.4200", "13.00"]], [["0.5600", "17.00"]]), recv_ns=recv)
    feed.on_frame(delta(2, "yes", "0.4200", "50.00"), recv_ns=recv + 1)
    ups = [e for e in feed.events if isinstance(e, BookUpdated)]
    assert ups and {e.ts_recv for e in ups} == {recv, recv + 1}
    assert all(e.ts_book > e.ts_recv + 10**9 for e in ups)
