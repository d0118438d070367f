"""Counting and logging venue messages that cannot be decoded or applied.

A malformed message never raises out of a feed: it is counted twice - in one process-wide
Prometheus counter labelled by venue and source, and in the tracker object (cheap to read in
tests and stats) - logged with a truncated sample, and turned into a :class:`MessageMalformed`
event for the bus.
"""

from __future__ import annotations

import logging

from prometheus_client import REGISTRY, Counter

from arbkit.core.enums import Venue
from arbkit.core.events import MessageMalformed

SAMPLE_CHARS = 200  # a sample is enough to recognise the message; whole frames can be megabytes
ERROR_CHARS = 500
METRIC_NAME = "arbkit_venue_malformed_messages"  # exposed as arbkit_venue_malformed_messages_total


def _malformed_counter() -> Counter:
    """The one counter, registered once per process; reused when this module is re-executed
    (importlib.reload), since registering the same name twice in the default registry raises."""
    try:
        return Counter(METRIC_NAME, "Venue messages that could not be decoded", ("venue", "source"))
    except ValueError:
        existing = REGISTRY._names_to_collectors.get(METRIC_NAME) or REGISTRY._names_to_collectors.get(
            METRIC_NAME + "_total")
        if existing is None:
            raise
        return existing  # type: ignore[return-value]


MALFORMED_MESSAGES = _malformed_counter()


class MalformedTracker:
    """Counts (in-object and in Prometheus) and logs the malformed messages of one venue source
    (e.g. ``market``, ``user``); :meth:`record` never raises."""

    __slots__ = ("venue", "source", "count", "_metric", "_log")

    def __init__(self, source: str, venue: Venue) -> None:
        self.venue = venue
        self.source = source
        self.count = 0
        self._metric = MALFORMED_MESSAGES.labels(venue=venue.value, source=source)
        self._log = logging.getLogger(f"arbkit.venues.{venue.value}")

    def record(self, raw: bytes | str, error: BaseException | str, ts_recv: int = 0) -> MessageMalformed:
        """Count one malformed message and describe it; ``error`` is the exception or a reason."""
        self.count += 1
        self._metric.inc()
        text = raw.decode("utf-8", "replace") if isinstance(raw, (bytes, bytearray, memoryview)) else str(raw)
        sample = text[:SAMPLE_CHARS] + ("..." if len(text) > SAMPLE_CHARS else "")
        err = error if isinstance(error, str) else (str(error) or type(error).__name__)
        self._log.warning("malformed %s %s message (%s): %s", self.venue.value, self.source, err, sample)
        return MessageMalformed(venue=self.venue, source=self.source, error=err[:ERROR_CHARS], sample=sample,
                                ts_recv=ts_recv)


def not_utf8(raw: bytes | str) -> UnicodeDecodeError | None:
    """Why a binary frame is not UTF-8 (JSON text must be), or None. Text frames arrive as str,
    already decoded by the socket; msgspec raises UnicodeDecodeError (not DecodeError) on bad
    bytes in a value it reads and skips them in a field it ignores, so a feed checks first."""
    if raw.__class__ is str or raw.isascii():  # type: ignore[union-attr]
        return None
    try:
        bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc
    return None
