"""arbkit recordings: what a node saw, saved so a backtest needs no network (docs/recording.md).

A recording is a directory:

* ``<venue>.frames`` (optionally ``.gz``): one line per received WebSocket frame,
  ``<recv_ns> <raw frame>`` (the feeds' own recorder), and, in the same file and order, one line
  per REST snapshot a feed fetched, ``<recv_ns> #rest <kind> <json>`` (a frame never starts with
  ``#``): ``book`` (Polymarket ``/book`` body), ``orderbook <symbol>`` (KuCoin level-2 snapshot as
  ``[sequence, bids, asks]``), ``kalshi_book <ticker>`` (Kalshi ``/orderbook`` as ``[yes, no]``).
* ``metadata.json``: what the strategies asked the venues' metadata for while they were built
  (instruments of each market, spot pairs, multi-outcome events), as arbkit's own types.
* ``mappings.db``: the approved cross-venue mappings the node traded (a copy of the store).
* ``manifest.json``: format version, venues, first and last receive time.

Recording costs one buffered write per frame; REST and metadata are rare.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Iterator

import msgspec

from arbkit.core.enums import Venue
from arbkit.core.instruments import Instrument
from arbkit.venues.common.recorder import close_recording, open_recording

log = logging.getLogger("arbkit.backtest.recording")

FORMAT = "arbkit-recording/1"
REST_MARK = "#rest"
METADATA_FILE = "metadata.json"
MAPPINGS_FILE = "mappings.db"
MANIFEST_FILE = "manifest.json"
VENUE_NAMES = tuple(v.value for v in Venue)


def frames_path(directory: Path, venue: str) -> Path:
    return Path(directory) / f"{venue}.frames"


def _dec_default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return str(obj)
    raise TypeError(type(obj).__name__)


def rest_line(recv_ns: int, kind: str, body: Any) -> str:
    """The recording line of one REST answer (``kind`` may carry a key: ``orderbook BTC-USDT``)."""
    text = body if isinstance(body, str) else json.dumps(body, default=_dec_default, separators=(",", ":"))
    return f"{recv_ns} {REST_MARK} {kind} {text.replace(chr(10), ' ')}\n"


# --- writing ------------------------------------------------------------------------------------


class Recorder:
    """Records one node's venues into a directory (frames through the feeds' own ``record_path``,
    REST snapshots by wrapping the feeds' fetchers, metadata by wrapping the metadata source)."""

    def __init__(self, directory: Path | str, clock_ns: Any) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.clock_ns = clock_ns
        self._rest: dict[str, IO[str]] = {}
        self.metadata: dict[str, Any] = {"market_instruments": [], "spot_instruments": {}, "multi_outcome_events": []}
        self.venues: list[str] = []

    def feed_overrides(self, venue: str) -> dict[str, Any]:
        """FeedConfig fields that make a venue's feed record its frames here."""
        self.venues.append(venue)
        return {"record_path": str(frames_path(self.dir, venue))}

    def _write_rest(self, venue: str, kind: str, body: Any, feed: Any = None) -> None:
        # through the feed's own recording handle when it is open, so the REST line lands in
        # order with the frames around it
        fh = getattr(feed, "_record", None)
        if fh is None:
            fh = self._rest.get(venue)
            if fh is None:
                fh = self._rest[venue] = open_recording(str(frames_path(self.dir, venue)))
        try:
            fh.write(rest_line(self.clock_ns(), kind, body))
        except Exception:  # noqa: BLE001 - recording must never break the feed
            log.exception("recording a REST snapshot of %s", venue)

    def attach(self, venue: str, bundle: Any) -> None:
        """Wrap the REST snapshot fetchers of a venue's feed so each answer is recorded."""
        feed = bundle.feed
        if venue == "polymarket" and hasattr(feed, "fetch_rest_book"):
            orig = feed.fetch_rest_book

            async def fetch_rest_book(token: str, _orig=orig) -> Any:
                rb = await _orig(token)
                self._write_rest(venue, "book", msgspec.json.encode(rb).decode(), feed)
                return rb

            feed.fetch_rest_book = fetch_rest_book
        rest = getattr(feed, "rest", None)
        if rest is not None and hasattr(rest, "orderbook"):
            recorder = self
            kind = "orderbook" if venue == "kucoin" else "kalshi_book"

            class _RecordingRest:
                def __init__(self, inner: Any) -> None:
                    self._inner = inner

                def __getattr__(self, name: str) -> Any:
                    return getattr(self._inner, name)

                async def orderbook(self, key: str) -> Any:
                    out = await self._inner.orderbook(key)
                    recorder._write_rest(venue, f"{kind} {key}", list(out), feed)
                    return out

            feed.rest = _RecordingRest(rest)

    def wrap_metadata(self, source: Any) -> "RecordingMetadata":
        return RecordingMetadata(source, self)

    def save_mappings(self, path: Path | str | None) -> None:
        """Copy the mapping store (a consistent SQLite backup) beside the frames."""
        if path is None or not Path(path).exists():
            return
        dst = self.dir / MAPPINGS_FILE
        src_con = sqlite3.connect(str(path))
        dst_con = sqlite3.connect(str(dst))
        try:
            src_con.backup(dst_con)
        finally:
            src_con.close()
            dst_con.close()

    def save_metadata(self) -> None:
        (self.dir / METADATA_FILE).write_bytes(msgspec.json.format(msgspec.json.encode(self.metadata)))

    def close(self) -> None:
        self.save_metadata()
        for fh in self._rest.values():
            close_recording(fh)
        self._rest.clear()
        manifest = {"format": FORMAT, "venues": sorted(set(self.venues)), "stopped_ns": self.clock_ns()}
        (self.dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1) + "\n")


class RecordingMetadata:
    """A :class:`~arbkit.strategies.base.MetadataSource` that answers from the venues and keeps
    every answer for the recording's ``metadata.json``."""

    def __init__(self, inner: Any, recorder: Recorder) -> None:
        self._inner = inner
        self._rec = recorder

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def market_instruments(self, venue: Venue, market: dict[str, str]) -> tuple[Instrument, Instrument]:
        pair = await self._inner.market_instruments(venue, market)
        self._rec.metadata["market_instruments"].append(
            {"venue": venue.value, "market": dict(market), "instruments": [msgspec.to_builtins(i) for i in pair]})
        self._rec.save_metadata()
        return pair

    def spot_instruments(self, venue: Venue) -> list[Instrument]:
        out = self._inner.spot_instruments(venue)
        self._rec.metadata["spot_instruments"][venue.value] = [msgspec.to_builtins(i) for i in out]
        self._rec.save_metadata()
        return out

    async def multi_outcome_events(self, venue: Venue, *, event_ids: list[str] | None = None, limit: int = 500) -> list[Any]:
        out = await self._inner.multi_outcome_events(venue, event_ids=event_ids, limit=limit)
        self._rec.metadata["multi_outcome_events"].append(
            {"venue": venue.value, "event_ids": event_ids, "limit": limit, "events": [msgspec.to_builtins(e) for e in out]})
        self._rec.save_metadata()
        return out


# --- reading ------------------------------------------------------------------------------------


class RecordedMetadata:
    """The metadata source of a backtest: the answers saved in ``metadata.json``."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data = data or {"market_instruments": [], "spot_instruments": {}, "multi_outcome_events": []}
        self.missing: list[str] = []

    @classmethod
    def load(cls, paths: list[Path]) -> "RecordedMetadata":
        merged: dict[str, Any] = {"market_instruments": [], "spot_instruments": {}, "multi_outcome_events": []}
        for p in paths:
            f = p / METADATA_FILE if p.is_dir() else p.parent / METADATA_FILE
            if f.exists():
                d = json.loads(f.read_text())
                merged["market_instruments"] += d.get("market_instruments", [])
                merged["spot_instruments"].update(d.get("spot_instruments", {}))
                merged["multi_outcome_events"] += d.get("multi_outcome_events", [])
        return cls(merged)

    async def market_instruments(self, venue: Venue, market: dict[str, str]) -> tuple[Instrument, Instrument]:
        key = market.get("ticker") or market.get("condition_id")
        for rec in self.data["market_instruments"]:
            m = rec["market"]
            if rec["venue"] == venue.value and (m.get("ticker") or m.get("condition_id")) == key:
                a, b = (msgspec.convert(i, Instrument) for i in rec["instruments"])
                return a, b
        self.missing.append(f"{venue.value} market {key}")
        raise LookupError(f"the recording has no metadata for {venue.value} market {key}")

    def spot_instruments(self, venue: Venue) -> list[Instrument]:
        return [msgspec.convert(i, Instrument) for i in self.data["spot_instruments"].get(venue.value, [])]

    async def multi_outcome_events(self, venue: Venue, *, event_ids: list[str] | None = None, limit: int = 500) -> list[Any]:
        from arbkit.strategies.base import MultiOutcomeEvent

        for rec in self.data["multi_outcome_events"]:
            if rec["venue"] == venue.value and (event_ids is None or rec.get("event_ids") in (None, event_ids)):
                evs = [msgspec.convert(e, MultiOutcomeEvent) for e in rec["events"]]
                if event_ids:
                    evs = [e for e in evs if e.event_id in event_ids]
                return evs[:limit]
        return []


def venue_of_file(path: Path) -> str | None:
    """The venue a frames file belongs to, from its name (``kalshi.frames``, ``polymarket-x.frames.gz``)."""
    name = path.name.lower()
    for v in VENUE_NAMES:
        if name.startswith(v):
            return v
    return None


def open_text(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(recv_ns, rest of line)`` of a frames file, in file order; a line without a leading
    integer is skipped (counted by the caller through the gap in line numbers)."""
    with open_text(path) as fh:
        for line in fh:
            sp = line.find(" ")
            if sp <= 0:
                continue
            try:
                ns = int(line[:sp])
            except ValueError:
                continue
            yield ns, line[sp + 1:].rstrip("\n")


def frame_files(paths: list[Path]) -> list[tuple[str, Path]]:
    """(venue, file) of every frames file under the given paths (directories or files)."""
    out: list[tuple[str, Path]] = []
    for p in paths:
        files = sorted(p.iterdir()) if p.is_dir() else [p]
        for f in files:
            if not (f.name.endswith(".frames") or f.name.endswith(".frames.gz")):
                continue
            v = venue_of_file(f)
            if v is not None:
                out.append((v, f))
    return out


__all__ = ["FORMAT", "REST_MARK", "Recorder", "RecordedMetadata", "RecordingMetadata", "frame_files", "frames_path",
           "read_lines", "rest_line"]
