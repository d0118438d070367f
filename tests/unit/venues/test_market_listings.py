"""Listings for the market finder: Kalshi ``market_lifecycle_v2`` created / activated and
Polymarket ``new_market`` as MarketListed; everything else is not a listing."""

from __future__ import annotations

import json

import pytest

from arbkit.core.enums import Venue
from arbkit.venues.kalshi.parse import decode_ws, lifecycle_listing
from arbkit.venues.polymarket.parse import decode_market_frame, new_market_event


def _k(msg: dict) -> object:
    return decode_ws(json.dumps({"type": "market_lifecycle_v2", "sid": 3, "msg": msg})).msg


def test_kalshi_created_and_activated_are_listings() -> None:
    ev = lifecycle_listing(_k({"market_ticker": "KXBTC15M-26DEC051215-15", "event_type": "created", "open_ts": 1796472000,
                               "close_ts": 1796472900, "additional_metadata": {
                                   "title": "BTC up in 15 min?", "event_ticker": "KXBTC15M-26DEC051215"}}), 5)
    assert ev is not None and ev.venue is Venue.KALSHI and ev.stage == "created"
    assert ev.instrument_ids == ["kalshi:KXBTC15M-26DEC051215-15:yes", "kalshi:KXBTC15M-26DEC051215-15:no"]
    assert (ev.event_id, ev.series, ev.title) == ("KXBTC15M-26DEC051215", "KXBTC15M", "BTC up in 15 min?")
    assert ev.close_time == "2026-12-05T12:15:00Z" and ev.ts_venue == 1796472000 * 10**9 and ev.ts_recv == 5
    # no metadata: the event and series come from the ticker's own shape
    act = lifecycle_listing(_k({"market_ticker": "KXBTC15M-26DEC051230-30", "event_type": "activated",
                                "is_deactivated": False}), 6)
    assert act is not None and (act.event_id, act.series, act.stage) == ("KXBTC15M-26DEC051230", "KXBTC15M", "activated")


@pytest.mark.parametrize("msg", [
    {"market_ticker": "T-1", "event_type": "activated", "is_deactivated": True},  # a deactivation
    {"market_ticker": "T-1", "event_type": "determined", "result": "yes"},
    {"market_ticker": "T-1", "event_type": "close_date_updated"},
])
def test_other_lifecycle_messages_are_not_listings(msg: dict) -> None:
    assert lifecycle_listing(_k(msg), 0) is None


def test_kalshi_created_without_ticker_is_malformed() -> None:
    with pytest.raises(ValueError):
        lifecycle_listing(_k({"event_type": "created"}), 0)


def test_polymarket_new_market_orders_yes_first_and_refuses_a_market_without_two_assets() -> None:
    raw = {"event_type": "new_market", "market": "0xabc", "assets_ids": ["2", "1"], "outcomes": ["No", "Yes"],
           "question": "Q?", "timestamp": "1766790415550", "event_message": {"id": "9", "ticker": "btc-updown-15m"}}
    ev = new_market_event(decode_market_frame(json.dumps(raw))[0], 7)
    assert ev.instrument_ids == ["polymarket:1", "polymarket:2"] and ev.series == "btc-updown-15m" and ev.event_id == "9"
    assert ev.ts_venue == 1766790415550 * 10**6
    with pytest.raises(ValueError):
        new_market_event(decode_market_frame(json.dumps(dict(raw, assets_ids=["1"])))[0], 7)
    with pytest.raises(ValueError):
        new_market_event(decode_market_frame(json.dumps(dict(raw, market="")))[0], 7)
