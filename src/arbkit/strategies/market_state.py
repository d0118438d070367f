"""Market state as a strategy sees it: a book per instrument, its state, and whether the
connection it comes from is alive.

Freshness comes from the connection, not from the book's last change: on a quiet prediction market
a book can be unchanged for minutes while its connection proves every few seconds that nothing was
missed (PONGs to our PINGs, market data for other books on the same socket, continuous sequence
numbers — a gap puts the book in RESYNCING). A book is fresh when its connection showed life within
the allowed silence (``max_age_ns``, per venue), or when the book itself changed that recently.

A book that is missing, not LIVE (empty, resyncing), crossed, on a connection silent for longer
than allowed, or whose connection is not CONNECTED is not traded on:
:meth:`MarketView.untradeable` says why, and None means "tradeable now". :class:`MarketState` is fed by the wiring (books registered from the feeds,
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

    def confirmed_ns(self, instrument_id: str, now_ns: int) -> int:
        """When the book was last known current: its last change, or later when its connection
        showed life since (the time a risk check ages the book from)."""


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
        self.alive_ns: dict[str, int] = {}  # connection -> last time it showed life (any frame, PONG)

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

    def set_connection(self, venue: Venue, connection: str, state: ConnectionState, ts_ns: int = 0) -> None:
        self.connections[connection] = (venue, state)
        if state is ConnectionState.CONNECTED and ts_ns:
            self.alive_ns[connection] = max(ts_ns, self.alive_ns.get(connection, 0))

    def mark_alive(self, connection: str, ts_ns: int) -> None:
        """The connection showed life at ``ts_ns`` (a heartbeat answer, any frame)."""
        if ts_ns > self.alive_ns.get(connection, 0):
            self.alive_ns[connection] = ts_ns

    def last_alive_ns(self, instrument_id: str) -> int:
        """When the instrument's connection last showed life (0 if never); without a named
        connection, the least recent of its venue's connections."""
        conn = self.connection_of.get(instrument_id)
        if conn is not None:
            return self.alive_ns.get(conn, 0)
        venue, _ = split_instrument_id(instrument_id)
        times = [self.alive_ns.get(name, 0) for name, (v, _) in self.connections.items() if v is venue]
        return min(times) if times else 0

    def on_event(self, event: Event) -> None:
        """Consume the facts this view tracks (connection state changes)."""
        if isinstance(event, ConnectionStateChanged):
            self.set_connection(event.venue, event.connection, event.state, event.ts_recv)

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

    def confirmed_ns(self, instrument_id: str, now_ns: int) -> int:
        book = self.books.get(instrument_id)
        last = book.last_update_ns if book is not None else 0
        if self.connection_alive(instrument_id) is None:
            last = max(last, min(self.last_alive_ns(instrument_id), now_ns))
        return last

    def untradeable(self, instrument_id: str, now_ns: int, max_age_ns: int) -> str | None:
        book = self.books.get(instrument_id)
        if book is None:
            return f"no book for {instrument_id}"
        state = self.book_states.get(instrument_id, BookState.LIVE)
        if state is not BookState.LIVE:
            return f"book {instrument_id} is {state.value}"
        if book.is_crossed():
            return f"book {instrument_id} is crossed"
        down = self.connection_alive(instrument_id)
        if down:
            return down
        if now_ns - book.last_update_ns <= max_age_ns:
            return None  # the book itself changed recently enough
        silence = now_ns - max(book.last_update_ns, self.last_alive_ns(instrument_id))
        if silence > max_age_ns:
            return (f"book {instrument_id} is stale: neither the book nor its connection showed life for "
                    f"{silence / 1e9:.3f}s (limit {max_age_ns / 1e9:.3f}s)")
        return None


class FeedMarketView:
    """The venue feeds themselves as a market view (``MarketFeed.book`` / ``is_tradeable``)."""

    def __init__(self, feeds: Mapping[Venue, Any]) -> None:
        self.feeds = dict(feeds)

    def book(self, instrument_id: str) -> Any | None:
        venue, _ = split_instrument_id(instrument_id)
        feed = self.feeds.get(venue)
        return feed.book(instrument_id) if feed is not None else None

    def confirmed_ns(self, instrument_id: str, now_ns: int) -> int:
        venue, _ = split_instrument_id(instrument_id)
        feed = self.feeds.get(venue)
        book = feed.book(instrument_id) if feed is not None else None
        last = book.last_update_ns if book is not None else 0
        silence_of = getattr(feed, "silence_ns", None)
        silence = silence_of(instrument_id) if silence_of is not None else None
        return max(last, now_ns - silence) if silence is not None else last

    def untradeable(self, instrument_id: str, now_ns: int, max_age_ns: int) -> str | None:
        venue, _ = split_instrument_id(instrument_id)
        feed = self.feeds.get(venue)
        if feed is None:
            return f"no {venue.value} feed"
        book = feed.book(instrument_id)
        if book is None:
            return f"no book for {instrument_id}"
        silence_of = getattr(feed, "silence_ns", None)
        if silence_of is None:  # a feed without a liveness signal: the book's own age decides
            if now_ns - book.last_update_ns > max_age_ns:
                return f"book {instrument_id} is stale"
            if not feed.is_tradeable(instrument_id, max_age_ns):
                return f"book {instrument_id} is not tradeable (connection down, resyncing, crossed or stale)"
            return None
        # state, connection and crossing, whatever the book's age (a quiet book is not stale)
        if not feed.is_tradeable(instrument_id, _NO_AGE_LIMIT):
            return f"book {instrument_id} is not tradeable (connection down, resyncing or crossed)"
        silence = silence_of(instrument_id)
        if silence is None:
            return f"connection of {instrument_id} is not connected"
        if silence > max_age_ns and now_ns - book.last_update_ns > max_age_ns:
            return (f"book {instrument_id} is stale: its connection has been silent for {silence / 1e9:.3f}s "
                    f"(limit {max_age_ns / 1e9:.3f}s)")
        return None


_NO_AGE_LIMIT = 1 << 62
