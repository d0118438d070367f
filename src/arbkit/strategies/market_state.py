"""Market state as a strategy sees it: a book per instrument, its state, its age, and whether the
connection it comes from is alive.

A book that is missing, not LIVE (empty, resyncing), crossed, older than the allowed age, or whose
connection is not CONNECTED is not traded on: :meth:`MarketView.untradeable` says why, and None
means "tradeable now". :class:`MarketState` is fed by the wiring (books registered from the feeds,
``ConnectionStateChanged`` events); :class:`FeedMarketView` reads the venue feeds directly.
"""

from __future__ import annotations

from typing import Any, Mapping, Protocol

from arbkit.core.enums import BookState, ConnectionState, Venue
from arbkit.core.events import ConnectionStateChanged, Event
from arbkit.core.instruments import split_instrument_id


class MarketView(Protocol):
    def book(self, instrument_id: str) -> Any | None:
        """The live book object (PredictionBook API), or None."""

    def untradeable(self, instrument_id: str, now_ns: int, max_age_ns: int) -> str | None:
        """Why the book must not be traded on now, or None when it may."""


class MarketState:
    """Books per instrument with staleness and connection liveness.

    Each instrument may be tied to a named connection (``"polymarket.market.0"``); otherwise any
    connection of its venue counts, and the venue is alive only while every connection it has
    reported is CONNECTED. A venue that never reported a connection is not alive.
    """

    def __init__(self) -> None:
        self.books: dict[str, Any] = {}
        self.book_states: dict[str, BookState] = {}
        self.connection_of: dict[str, str] = {}
        self.connections: dict[str, tuple[Venue, ConnectionState]] = {}

    # --- updates -------------------------------------------------------------------------------

    def add_book(self, instrument_id: str, book: Any, connection: str | None = None,
                 state: BookState = BookState.LIVE) -> None:
        self.books[instrument_id] = book
        self.book_states[instrument_id] = state
        if connection:
            self.connection_of[instrument_id] = connection

    def remove_book(self, instrument_id: str) -> None:
        self.books.pop(instrument_id, None)
        self.book_states.pop(instrument_id, None)
        self.connection_of.pop(instrument_id, None)

    def set_book_state(self, instrument_id: str, state: BookState) -> None:
        self.book_states[instrument_id] = state

    def set_connection(self, venue: Venue, connection: str, state: ConnectionState) -> None:
        self.connections[connection] = (venue, state)

    def on_event(self, event: Event) -> None:
        """Consume the facts this view tracks (connection state changes)."""
        if isinstance(event, ConnectionStateChanged):
            self.set_connection(event.venue, event.connection, event.state)

    # --- queries -------------------------------------------------------------------------------

    def book(self, instrument_id: str) -> Any | None:
        return self.books.get(instrument_id)

    def connection_alive(self, instrument_id: str) -> str | None:
        """None when the instrument's connection is alive, else why not."""
        conn = self.connection_of.get(instrument_id)
        if conn is not None:
            st = self.connections.get(conn)
            if st is None:
                return f"connection {conn} has not reported its state"
            return None if st[1] is ConnectionState.CONNECTED else f"connection {conn} is {st[1].value}"
        venue, _ = split_instrument_id(instrument_id)
        states = [(name, s) for name, (v, s) in self.connections.items() if v is venue]
        if not states:
            return f"no {venue.value} connection has reported"
        for name, s in states:
            if s is not ConnectionState.CONNECTED:
                return f"connection {name} is {s.value}"
        return None

    def untradeable(self, instrument_id: str, now_ns: int, max_age_ns: int) -> str | None:
        book = self.books.get(instrument_id)
        if book is None:
            return f"no book for {instrument_id}"
        state = self.book_states.get(instrument_id, BookState.LIVE)
        if state is not BookState.LIVE:
            return f"book {instrument_id} is {state.value}"
        if book.is_crossed():
            return f"book {instrument_id} is crossed"
        age = now_ns - book.last_update_ns
        if age > max_age_ns:
            return f"book {instrument_id} is stale ({age / 1e9:.3f}s old, limit {max_age_ns / 1e9:.3f}s)"
        return self.connection_alive(instrument_id)


class FeedMarketView:
    """The venue feeds themselves as a market view (``MarketFeed.book`` / ``is_tradeable``)."""

    def __init__(self, feeds: Mapping[Venue, Any]) -> None:
        self.feeds = dict(feeds)

    def book(self, instrument_id: str) -> Any | None:
        venue, _ = split_instrument_id(instrument_id)
        feed = self.feeds.get(venue)
        return feed.book(instrument_id) if feed is not None else None

    def untradeable(self, instrument_id: str, now_ns: int, max_age_ns: int) -> str | None:
        venue, _ = split_instrument_id(instrument_id)
        feed = self.feeds.get(venue)
        if feed is None:
            return f"no {venue.value} feed"
        book = feed.book(instrument_id)
        if book is None:
            return f"no book for {instrument_id}"
        if now_ns - book.last_update_ns > max_age_ns:
            return f"book {instrument_id} is stale"
        if not feed.is_tradeable(instrument_id, max_age_ns):
            return f"book {instrument_id} is not tradeable (connection down, resyncing, crossed or stale)"
        return None
