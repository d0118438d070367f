"""``arbkit data check RECORDING``: replay a recording through the venues' feeds only (every
instrument in its metadata subscribed, no strategy) and say where books were lost: sequence gaps
the feed saw (receive time, line), snapshots applied, malformed frames, books live at the end.
A clean capture replays with no gap; a capture with holes shows each one where it is."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from arbkit.backtest.recording import REST_MARK, RecordedMetadata, frame_files
from arbkit.backtest.runner import _first_ns, _merged
from arbkit.core.clock import SimClock
from arbkit.core.enums import ConnectionState, Venue
from arbkit.core.events import BookUpdated, Event


async def check_replay(paths: list[Path], feeds_out: dict[Venue, Any] | None = None) -> dict[str, Any]:
    """Replay ``paths`` through fresh feeds; ``feeds_out`` (when given) receives them, books and all."""
    from arbkit.backtest import rest_replay

    files = frame_files(paths)
    if not files:
        raise ValueError(f"no frames files under {', '.join(map(str, paths))}")
    meta = RecordedMetadata.load(paths)
    clock = SimClock(_first_ns(files))
    updates = {"n": 0}
    kinds: dict[str, int] = {}

    def sink(ev: Event) -> None:
        if type(ev) is BookUpdated:
            updates["n"] += 1
        else:
            kinds[ev.kind] = kinds.get(ev.kind, 0) + 1

    feeds: dict[Venue, Any] = {}
    for v in sorted({v for v, _ in files}):
        venue = Venue(v)
        if venue is Venue.KUCOIN:
            from arbkit.venues.kucoin.feed import FeedConfig, KucoinMarketFeed

            insts = {i.symbol: i for i in meta.spot_instruments(venue)}
            seen = _symbols_in(files)
            feed = KucoinMarketFeed(sink, FeedConfig(), rest=None, instruments=insts.get, clock=clock)
            feed.subscribe([f"kucoin:{s}" for s in sorted(seen) if s in insts])
            for s in feed._shards:
                s.link.set_state(ConnectionState.CONNECTED)
            feeds[venue] = feed
        elif venue is Venue.POLYMARKET:
            from arbkit.venues.polymarket.feed import FeedConfig as PC, PolymarketMarketFeed

            feed = PolymarketMarketFeed(sink, PC(crosscheck_interval_s=0), clock=clock)
            ids = {i["symbol"] for m in meta.data["market_instruments"] if m["venue"] == "polymarket" for i in m["instruments"]}
            feed.subscribe([f"polymarket:{t}" for t in sorted(ids | _named_in(files, "polymarket", _PM_ASSET))])
            for s in feed._shards:
                s.set_state(ConnectionState.CONNECTED)
            feeds[venue] = feed
        elif venue is Venue.KALSHI:
            from arbkit.venues.kalshi.feed import FeedConfig as KC, KalshiMarketFeed

            feed = KalshiMarketFeed(sink, KC(), clock=clock)
            tickers = {m["market"]["ticker"] for m in meta.data["market_instruments"] if m["venue"] == "kalshi"}
            feed.subscribe([f"kalshi:{t}" for t in sorted(tickers | _named_in(files, "kalshi", _KALSHI_TICKER))])
            feed._link.set_state(ConnectionState.CONNECTED)
            feeds[venue] = feed
    gaps: list[dict[str, Any]] = []
    lines = rest_applied = 0
    line_no: dict[int, int] = {}
    loop = asyncio.get_running_loop()
    for ns, idx, v, text in _merged(files):
        line_no[idx] = line_no.get(idx, 0) + 1
        lines += 1
        venue = Venue(v)
        feed = feeds[venue]
        if ns > clock.now_ns():
            clock.set(ns)
        before = _gap_count(venue, feed)
        if text.startswith(REST_MARK):
            rest_applied += rest_replay.apply(venue, feed, text, ns)
        elif venue is Venue.KUCOIN:
            feed._on_frame(feed._shards[0], text)
        elif venue is Venue.POLYMARKET:
            feed.on_frame(feed._shards[0] if feed._shards else None, text, ns)
        else:
            feed.on_frame(text, ns)
        if _gap_count(venue, feed) > before:
            gaps.append({"venue": v, "file": str(files[idx][1]), "line": line_no[idx], "recv_ns": ns, "frame": text[:200]})
        if loop._ready:  # type: ignore[attr-defined]  # snapshot requests the replay cannot serve: let them end
            await asyncio.sleep(0)
    if feeds_out is not None:
        feeds_out.update(feeds)
    out: dict[str, Any] = {"lines": lines, "book_updates": updates["n"], "rest_snapshots_applied": rest_applied,
                           "gaps": gaps, "events": kinds, "feeds": {}}
    for venue, feed in feeds.items():
        st = feed.stats.as_dict()
        live = [k for k in _books(venue, feed) if k[1]]
        crossed = [k for k, _ in live if feed.book(f"{venue.value}:{k}") is not None
                   and feed.book(f"{venue.value}:{k}").is_crossed()] if venue is Venue.KUCOIN else []
        out["feeds"][venue.value] = {"stats": st, "books": len(_books(venue, feed)), "live_books": len(live),
                                     "crossed_books": crossed,
                                     "malformed": int(getattr(feed.malformed, "count", 0) or 0)}
    return out


def _gap_count(venue: Venue, feed: Any) -> int:
    st = feed.stats
    return int(getattr(st, "gaps", 0) or 0) + int(getattr(st, "seq_gaps", 0) or 0)


def _books(venue: Venue, feed: Any) -> list[tuple[str, bool]]:
    if venue is Venue.KUCOIN:
        return [(s, b.sync.live) for s, b in feed._books.items()]
    if venue is Venue.POLYMARKET:
        return [(t, b.state.value == "LIVE") for t, b in feed._books.items()]
    return [(t, m.live) for t, m in feed._markets.items()]


_PM_ASSET = r'"asset_id":\s*"(\d+)"'
_KALSHI_TICKER = r'"market_ticker":\s*"([^"]+)"'


def _named_in(files: list[tuple[str, Path]], venue: str, pattern: str) -> set[str]:
    """Instrument keys a venue's frames name (a recording without metadata: imported captures)."""
    import re

    from arbkit.backtest.recording import read_lines

    pat = re.compile(pattern)
    out: set[str] = set()
    for v, f in files:
        if v == venue:
            for _, text in read_lines(f):
                out.update(pat.findall(text))
    return out


def _symbols_in(files: list[tuple[str, Path]]) -> set[str]:
    """KuCoin symbols named by level-2 topics or REST snapshots of a recording."""
    import re

    from arbkit.backtest.recording import read_lines

    out: set[str] = set()
    pat = re.compile(r'"/market/level2:([A-Z0-9-]+)"|^#rest orderbook (\S+)')
    for v, f in files:
        if v != "kucoin":
            continue
        for _, text in read_lines(f):
            m = pat.search(text)
            if m:
                out.add(m.group(1) or m.group(2))
    return out


__all__ = ["check_replay"]
