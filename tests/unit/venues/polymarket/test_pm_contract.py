"""The Polymarket classes fulfil the venue contract (arbkit.venues.base)."""

from __future__ import annotations

import base64

from arbkit.core.enums import Venue
from arbkit.venues.base import MarketFeed, UserStream, VenueGateway
from arbkit.venues.polymarket.auth import ApiCreds
from arbkit.venues.polymarket.feed import PolymarketMarketFeed
from arbkit.venues.polymarket.gateway import PolymarketGateway
from arbkit.venues.polymarket.user import PolymarketUserStream


async def test_classes_satisfy_the_venue_protocols() -> None:
    creds = ApiCreds("k", base64.urlsafe_b64encode(b"s" * 32).decode(), "p")
    gw = PolymarketGateway("0x" + "77" * 32, creds)
    feed = PolymarketMarketFeed(lambda e: None)
    user = PolymarketUserStream(lambda e: None, creds)
    assert isinstance(gw, VenueGateway) and isinstance(feed, MarketFeed) and isinstance(user, UserStream)
    assert gw.venue is feed.venue is user.venue is Venue.POLYMARKET
    await gw.close()


def test_feed_accepts_instrument_ids_and_bare_tokens() -> None:
    feed = PolymarketMarketFeed(lambda e: None)
    feed.subscribe(["polymarket:11", "22"])
    assert feed.shards == [["11", "22"]]
    assert feed.book("polymarket:11") is None and not feed.is_tradeable("11", 10**12)  # no snapshot yet
    feed.unsubscribe(["11"])
    assert feed.shards == [["22"]] and feed.book_state("11") is None
