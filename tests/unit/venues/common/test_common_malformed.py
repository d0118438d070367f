"""One malformed-message metric for every venue; counting, truncation and logging."""

from __future__ import annotations

import logging

from prometheus_client import REGISTRY

from arbkit.core.enums import Venue
from arbkit.venues.common import malformed as M
from arbkit.venues.kalshi import parse as KP
from arbkit.venues.polymarket import parse as PP


def _value(venue: str, source: str) -> float:
    return REGISTRY.get_sample_value("arbkit_venue_malformed_messages_total", {"venue": venue, "source": source}) or 0.0


def test_venue_trackers_share_one_metric_labelled_by_venue() -> None:
    assert KP.MALFORMED_MESSAGES is PP.MALFORMED_MESSAGES is M.MALFORMED_MESSAGES
    k, p = KP.MalformedTracker("common-test"), PP.MalformedTracker("common-test")
    assert (k.venue, p.venue) == (Venue.KALSHI, Venue.POLYMARKET)
    kb, pb = _value("kalshi", "common-test"), _value("polymarket", "common-test")
    k.record(b"{", "bad")
    k.record("{", ValueError("worse"))
    p.record("[", "x")
    assert (k.count, p.count) == (2, 1)
    assert _value("kalshi", "common-test") == kb + 2 and _value("polymarket", "common-test") == pb + 1


def test_event_has_truncated_sample_and_error(caplog) -> None:
    t = M.MalformedTracker("sample-test", Venue.KALSHI)
    raw = ("é" * 150 + "\n" + "z" * 300).encode()
    with caplog.at_level(logging.WARNING, logger="arbkit.venues.kalshi"):
        ev = t.record(raw, RuntimeError("e" * 900), ts_recv=123)
    assert ev.sample.endswith("...") and len(ev.sample) == M.SAMPLE_CHARS + 3 and ev.sample.startswith("é")
    assert len(ev.error) == M.ERROR_CHARS and ev.ts_recv == 123 and ev.venue is Venue.KALSHI
    assert "malformed kalshi sample-test message" in caplog.text
    assert t.record(b"short", KeyError()).error == "KeyError"  # an exception without text is named
    assert t.record(b"short", "why").sample == "short"


def test_registering_again_reuses_the_metric() -> None:
    # what a re-import does; the default registry raises "Duplicated timeseries" on a second Counter
    assert M._malformed_counter() is M.MALFORMED_MESSAGES
