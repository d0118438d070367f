"""Recorded REST snapshots applied to the replaying feeds where the live feeds applied them.

* Polymarket ``/book``: installed as the snapshot of a book that is waiting for one (RESYNCING
  or EMPTY), as ``PolymarketMarketFeed._resync_from_rest`` does; otherwise it was a cross-check
  and the book is left as the frames made it.
* KuCoin level-2 ``orderbook``: given to the symbol's sequence sync (the buffered changes after
  its sequence are applied; a snapshot that does not join the buffer is counted as a gap), as
  ``KucoinMarketFeed._snapshot`` does.
* Kalshi ``orderbook``: only ever a cross-check (the WebSocket sends its own snapshots): skipped.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from arbkit.core.enums import BookState, Venue


def _split(text: str) -> tuple[str, str, str]:
    """``#rest <kind> [<key>] <json>`` -> (kind, key, json)."""
    _, _, rest = text.partition(" ")
    kind, _, rest = rest.partition(" ")
    if rest[:1] in ("{", "["):
        return kind, "", rest
    key, _, body = rest.partition(" ")
    return kind, key, body


def _levels(raw: list[Any]) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(str(p)), Decimal(str(s))) for p, s in raw]


def apply(venue: Venue, feed: Any, text: str, now_ns: int) -> bool:
    """Apply one ``#rest`` line; True when it changed a book."""
    kind, key, body = _split(text)
    try:
        if venue is Venue.POLYMARKET and kind == "book":
            from arbkit.venues.polymarket.parse import RestBook

            rb = msgspec.json.decode(body, type=RestBook)
            st = feed._books.get(rb.asset_id)
            if st is None or st.state not in (BookState.RESYNCING, BookState.EMPTY):
                return False
            hint = Decimal(rb.tick_size) if rb.tick_size else None
            touched: dict[str, Any] = {}
            feed._apply_snapshot(st.token, rb.bids, rb.asks, now_ns, touched, 0,
                                 hint if hint and 0 < hint < 1 else None)
            for b in touched.values():
                feed._emit_book(b, now_ns)
            return True
        if venue is Venue.KUCOIN and kind == "orderbook":
            st = feed._books.get(key)
            if st is None:
                return False
            seq, bids, asks = msgspec.json.decode(body)
            ok = st.sync.on_snapshot(int(seq), _levels(bids), _levels(asks), now_ns)
            if ok:
                feed.stats.rest_snapshots += 1
                feed._updated(st, now_ns)
            else:
                feed.stats.gaps += 1
            return bool(ok)
    except (ValueError, TypeError, msgspec.DecodeError, msgspec.ValidationError) as exc:
        feed._emit(feed.malformed.record(text[:2000], exc, now_ns))
        return False
    return False


__all__ = ["apply"]
