"""The ``arbkit feed`` top-of-book printer and run helper."""

from __future__ import annotations

from decimal import Decimal as D

from arbkit.core.enums import ConnectionState, Venue
from arbkit.core.events import BookStaleDetected, BookUpdated, ConnectionStateChanged, MessageMalformed
from arbkit.venues.common.watch import event_printer, run_until_stopped, strip_venue, summary
from arbkit.venues.kalshi.feed import FeedConfig, KalshiMarketFeed

TS = 1_700_000_000_123_000_000  # 2023-11-14 22:13:20.123 UTC


def test_printer_lines() -> None:
    out: list[str] = []
    err: list[str] = []
    show = event_printer(False, out.append, err.append)
    show(BookUpdated(venue=Venue.KALSHI, instrument_id="kalshi:KX-1:yes", sequence=3, best_bid=D("0.41"),
                     best_bid_size=D("10.00"), best_ask=None, best_ask_size=None, ts_book=TS, ts_recv=TS))
    show(ConnectionStateChanged(venue=Venue.KALSHI, connection="kalshi.market.0", state=ConnectionState.CONNECTED,
                                reason="", ts_recv=TS))
    show(BookStaleDetected(venue=Venue.KALSHI, instrument_id="kalshi:KX-1:no", age_ns=5, reason="quiet", ts_recv=TS))
    show(MessageMalformed(venue=Venue.KALSHI, source="market", error="bad", sample="{", ts_recv=TS))
    assert out == ["22:13:20.123 KX-1:yes seq=3 bid 10.00 @ 0.41 | ask -"]
    assert err[0] == "22:13:20.123 kalshi.market.0 CONNECTED"
    assert err[1].startswith("22:13:20.123 BookStaleDetected: ") and err[2].startswith("22:13:20.123 MessageMalformed: ")


def test_quiet_printer_and_label() -> None:
    out: list[str] = []
    show = event_printer(True, out.append, out.append, label=lambda iid: "L")
    show(BookUpdated(venue=Venue.POLYMARKET, instrument_id="polymarket:1", sequence=1, best_bid=None,
                     best_bid_size=None, best_ask=None, best_ask_size=None, ts_book=TS, ts_recv=TS))
    assert out == [] and strip_venue("polymarket:123") == "123" and strip_venue("bare") == "bare"


async def test_run_until_stopped_and_summary() -> None:
    # A real feed with nothing to connect to (port 9 on loopback refuses): it must stop on time.
    feed = KalshiMarketFeed(lambda e: None, FeedConfig(ws_url="ws://127.0.0.1:9/trade-api/ws/v2",
                                                       crosscheck_interval_s=0, connect_timeout_s=1))
    feed.subscribe(["KX-1"])
    await run_until_stopped(feed, 0.3)
    assert feed.state is ConnectionState.DISCONNECTED
    feed.stats.frames = 4
    assert summary(feed, frames="frames", gaps="seq_gaps") == "frames=4 gaps=0 malformed=0"
