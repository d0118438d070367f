"""Market state: a book is tradeable only when present, LIVE, not crossed, fresh, and its connection
is CONNECTED."""

from __future__ import annotations

from decimal import Decimal

from arbkit.core.book import PredictionBook
from arbkit.core.enums import BookState, ConnectionState, Venue
from arbkit.core.events import ConnectionStateChanged
from arbkit.strategies.market_state import MarketState

NOW = 1_800_000_000 * 10**9
AGE = 2 * 10**9
PID = "polymarket:tok1"
KID = "kalshi:KX-1:yes"


def _book(iid: str, ts: int = NOW, crossed: bool = False) -> PredictionBook:
    b = PredictionBook(Decimal("0.01"), 2, iid)
    b.apply_snapshot([(60 if crossed else 40, 100)], [(50, 100)], sequence=1, ts_ns=ts)
    return b


def test_unknown_book_and_silent_venue_are_not_tradeable():
    ms = MarketState()
    assert "no book" in ms.untradeable(PID, NOW, AGE)
    ms.add_book(PID, _book(PID))
    assert "no polymarket connection" in ms.untradeable(PID, NOW, AGE)
    ms.on_event(ConnectionStateChanged(venue=Venue.POLYMARKET, connection="polymarket.market.0", state=ConnectionState.CONNECTED))
    assert ms.untradeable(PID, NOW, AGE) is None


def test_every_connection_of_a_venue_must_be_up_unless_the_book_names_its_own():
    ms = MarketState()
    ms.add_book(PID, _book(PID))
    ms.set_connection(Venue.POLYMARKET, "polymarket.market.0", ConnectionState.CONNECTED)
    ms.set_connection(Venue.POLYMARKET, "polymarket.market.1", ConnectionState.DISCONNECTED)
    assert "polymarket.market.1 is DISCONNECTED" in ms.untradeable(PID, NOW, AGE)
    ms.add_book(PID, _book(PID), connection="polymarket.market.0")  # sharded: this book's own socket is up
    assert ms.untradeable(PID, NOW, AGE) is None
    ms.set_connection(Venue.POLYMARKET, "polymarket.market.0", ConnectionState.STALLED)
    assert "STALLED" in ms.untradeable(PID, NOW, AGE)


def test_age_state_and_crossing():
    ms = MarketState()
    ms.set_connection(Venue.KALSHI, "kalshi.ws", ConnectionState.CONNECTED)
    ms.add_book(KID, _book(KID, ts=NOW - AGE))
    assert ms.untradeable(KID, NOW, AGE) is None  # exactly at the limit
    ms.add_book(KID, _book(KID, ts=NOW - AGE - 1))
    assert "stale" in ms.untradeable(KID, NOW, AGE)
    ms.add_book(KID, _book(KID))
    ms.set_book_state(KID, BookState.RESYNCING)
    assert "RESYNCING" in ms.untradeable(KID, NOW, AGE)
    ms.add_book(KID, _book(KID, crossed=True))
    assert "crossed" in ms.untradeable(KID, NOW, AGE)
    ms.remove_book(KID)
    assert ms.book(KID) is None
