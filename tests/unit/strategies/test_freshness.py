"""Freshness from connection liveness: a quiet book on a live connection is fresh and trades; a
book on a silent or down connection is refused; each venue has its own allowed silence."""

from __future__ import annotations

import pytest

from arbkit.core.enums import ConnectionState, Venue
from arbkit.core.events import ConnectionStateChanged
from arbkit.strategies.cross_venue import CrossVenueConfig
from arbkit.strategies.market_state import MarketState

from test_cross_venue import DEPTH_KALSHI, DEPTH_POLY, NOW, Kit, book

S = 10**9


def test_quiet_book_on_a_live_connection_is_fresh():
    ms = MarketState()
    ms.set_connection(Venue.KALSHI, "kalshi.ws", ConnectionState.CONNECTED)
    ms.add_book("kalshi:KXT-1:yes", book("kalshi:KXT-1:yes", [("0.50", "5")], ts=NOW - 120 * S), connection="kalshi.ws")
    # unchanged for two minutes, and nothing heard from the connection: stale
    assert "stale" in ms.untradeable("kalshi:KXT-1:yes", NOW, 2 * S)
    # the connection answers a heartbeat: the unchanged book is current
    ms.mark_alive("kalshi.ws", NOW - S // 2)
    assert ms.untradeable("kalshi:KXT-1:yes", NOW, 2 * S) is None
    # silence beyond the limit: stale again
    assert "stale" in ms.untradeable("kalshi:KXT-1:yes", NOW + 3 * S, 2 * S)
    # a live-looking connection that went down is refused whatever its last heartbeat
    ms.on_event(ConnectionStateChanged(venue=Venue.KALSHI, connection="kalshi.ws", state=ConnectionState.DISCONNECTED))
    assert "connection" in ms.untradeable("kalshi:KXT-1:yes", NOW, 2 * S)


def test_connect_event_counts_as_life():
    ms = MarketState()
    ms.on_event(ConnectionStateChanged(venue=Venue.POLYMARKET, connection="polymarket.market.0",
                                       state=ConnectionState.CONNECTED, ts_recv=NOW - S))
    ms.add_book("polymarket:tok-yes", book("polymarket:tok-yes", [("0.40", "10")], ts=NOW - 60 * S))
    assert ms.untradeable("polymarket:tok-yes", NOW, 2 * S) is None
    assert ms.untradeable("polymarket:tok-yes", NOW + 5 * S, 2 * S) is not None


def _quiet_kit(**cfg) -> Kit:
    k = Kit(**cfg)
    # the Polymarket side just moved; the Kalshi side has not changed for 90 s (a quiet market)
    k.set(k.pair.poly_yes.id, DEPTH_POLY)
    k.set(k.pair.kalshi_no.id, DEPTH_KALSHI, ts=NOW - 90 * S)
    return k


def test_one_venue_moves_while_the_other_is_quiet_and_live_trades():
    k = _quiet_kit(max_book_age_s=1.5)
    refused = k.decide()
    assert refused.intent is None and "stale" in refused.reason  # nothing heard from Kalshi yet
    k.market.mark_alive("kalshi.ws", NOW - S)  # a heartbeat answered one second ago
    k.market.mark_alive("polymarket.market.0", NOW)
    d = k.decide()
    assert d.intent is not None, d.reason
    legs = {leg.instrument_id for leg in d.intent.legs}
    assert legs == {k.pair.poly_yes.id, k.pair.kalshi_no.id}
    # the quiet book's snapshot is dated when it was last confirmed current (the heartbeat), so a
    # risk check aging it sees 1 s, not 90 s; the real last change is kept in the timestamps
    assert d.intent.book_for(k.pair.kalshi_no.id).last_update_ns == NOW - S
    assert d.intent.book_for(k.pair.poly_yes.id).last_update_ns == NOW
    assert d.intent.timestamps.book_updated_ns == NOW


@pytest.mark.parametrize("kalshi_silence_s,trades", [(0.5, False), (5.0, True)])
def test_per_venue_silence_limit(kalshi_silence_s, trades):
    k = _quiet_kit(max_book_age_s=1.5, max_silence_kalshi_s=kalshi_silence_s)
    k.market.mark_alive("kalshi.ws", NOW - 2 * S)  # heard from Kalshi 2 s ago
    k.market.mark_alive("polymarket.market.0", NOW)
    d = k.decide()
    assert (d.intent is not None) is trades, d.reason


def test_silence_settings_are_validated():
    with pytest.raises(ValueError):
        CrossVenueConfig(max_silence_polymarket_s=0)
    assert CrossVenueConfig(max_book_age_s=2.0).max_silence_ns(Venue.KALSHI) == 2 * S
    assert CrossVenueConfig(max_silence_kalshi_s=12.5).max_silence_ns(Venue.KALSHI) == 12_500_000_000


# --- the feeds' liveness signal, read through FeedMarketView ------------------------------------


def test_polymarket_pong_keeps_a_quiet_book_fresh():
    """A real Polymarket feed: the book arrives once, then only PONGs. The view counts the PONGs as
    the connection's life; without them the same quiet book goes stale."""
    import json

    from arbkit.core.clock import SimClock
    from arbkit.strategies.market_state import FeedMarketView
    from arbkit.venues.polymarket.feed import PolymarketMarketFeed

    clock = SimClock()
    feed = PolymarketMarketFeed(lambda e: None, clock=clock)
    feed.subscribe(["polymarket:11"])
    shard = feed._shards[0]
    shard.set_state(ConnectionState.CONNECTED)
    feed.on_frame(shard, json.dumps({"event_type": "book", "asset_id": "11", "market": "0xm", "timestamp": "1700000000000",
                                     "bids": [{"price": "0.40", "size": "10"}], "asks": [{"price": "0.42", "size": "10"}]}))
    view = FeedMarketView({Venue.POLYMARKET: feed})
    limit = 5 * S
    assert view.untradeable("polymarket:11", clock.now_ns(), limit) is None
    for _ in range(6):  # 30 s of a quiet market, a PONG every 5 s
        clock.advance(4.9)
        feed.on_frame(shard, "PONG")
        clock.advance(0.1)
        assert view.untradeable("polymarket:11", clock.now_ns(), limit) is None
        assert feed.silence_ns("polymarket:11") <= limit
    assert clock.now_ns() - feed.book("polymarket:11").last_update_ns >= 30 * S  # the book never changed
    assert view.confirmed_ns("polymarket:11", clock.now_ns()) >= clock.now_ns() - S // 10 - 1
    clock.advance(5.1)  # no PONG: silent beyond the limit
    assert "stale" in view.untradeable("polymarket:11", clock.now_ns(), limit)
    shard.set_state(ConnectionState.DISCONNECTED)
    assert feed.silence_ns("polymarket:11") is None
    assert view.untradeable("polymarket:11", clock.now_ns(), limit) is not None
