"""Mutation fuzz of the venue frame parsers (Polymarket, Kalshi, KuCoin; market + user) (bounded; the >=1M run is ``python -m bench fuzz``).

Each mutated frame (truncation, byte flips, invalid UTF-8, wrong types, missing and extra fields,
huge and negative numbers, NaN/Infinity strings and tokens) goes through the stream's real
``on_frame``. Nothing may escape; a frame that is certainly bad (not UTF-8, not JSON, junk in a
price/size the parser reads) is counted malformed; a frame counted malformed leaves no live book
changed; a frame with only an extra unknown field is not counted; no ERROR is logged, except the
intended ALERT for a trade status no documentation names, which must come with the conservative
booking (the frame's fills exactly as under MATCHED: provisional, nothing dropped). The engine is
bench/fuzz.py, so the test and the recorded figures come from the same code.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SHARED = ROOT.parent / "shared"

if str(ROOT) not in sys.path:  # bench/ is a top-level package next to src/
    sys.path.insert(0, str(ROOT))
fuzz = importlib.import_module("bench.fuzz")

PARSERS = fuzz.PARSERS


def _check(r, n: int) -> None:
    detail = "\n".join(r.samples)
    assert r.frames == n
    assert r.escaped == 0, detail
    assert r.valid_seed_counted == 0, detail
    assert r.bad_not_counted == 0, detail
    assert r.books_changed_by_bad == 0, detail
    assert r.good_counted == 0, detail
    assert r.errors_logged == 0, detail
    # an undocumented status is booked conservatively (an intended ALERT), never dropped or settled
    assert r.alerts_not_conservative == 0, detail
    if r.parser == "polymarket_user":
        assert r.alerts_booked > n * 0.005, (r.alerts, r.alerts_booked)
    else:
        assert r.alerts == 0, detail
    # the run really exercised the parser: many frames were junk and were counted as such
    assert r.malformed > n * 0.3
    assert r.must_count > n * 0.2
    assert set(r.by_mutator) == set(fuzz.MUTATORS)


@pytest.mark.parametrize("parser", PARSERS)
def test_fuzz_parser_simulator_frames(parser: str) -> None:
    """Seeds built with the simulator's message structs only: runs without ../shared."""
    n = 20_000
    _check(fuzz.fuzz_parser(parser, n, use_shared=False), n)


@pytest.mark.shared
@pytest.mark.skipif(not SHARED.exists(), reason="../shared (venue fixtures and recordings) is absent")
@pytest.mark.parametrize("parser", PARSERS)
def test_fuzz_parser_with_real_frames(parser: str) -> None:
    """Seeds: simulator frames plus the real/doc frames of ../shared/fixtures and ../shared/data."""
    n = 20_000
    r = fuzz.fuzz_parser(parser, n, seed=fuzz.SEED + 1)
    assert r.seeds > len(fuzz.seeds(parser, use_shared=False)) or parser in ("kalshi_user", "kucoin_market")
    _check(r, n)


def test_fuzz_catches_an_escape(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fuzz can fail: without the UTF-8 check a binary frame's UnicodeDecodeError escapes
    (the bug the first run found) and the run reports it."""
    feed_mod = importlib.import_module("arbkit.venues.polymarket.feed")
    monkeypatch.setattr(feed_mod, "not_utf8", lambda raw: None)
    r = fuzz.fuzz_parser("polymarket_market", 5_000, use_shared=False)
    assert r.escaped > 0
    assert any("UnicodeDecodeError" in s for s in r.samples)


def test_fuzz_catches_a_changed_book(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fuzz can fail: a tick-size change that read its timestamp after re-gridding left a
    live, emptied book behind (found by the first run); reintroduced here, the run reports it."""
    feed_mod = importlib.import_module("arbkit.venues.polymarket.feed")
    cls = feed_mod.PolymarketMarketFeed

    def late_ts(self, msg, recv_ns, touched):  # the old order: book re-gridded, then the timestamp read
        st = self._books.get(msg.asset_id)
        if st is None or not msg.new_tick_size:
            return
        st.set_tick(feed_mod.Decimal(msg.new_tick_size))
        feed_mod.to_ns(msg.timestamp)
        self._drop_book(st, "tick size changed")

    monkeypatch.setattr(cls, "_on_tick_size_change", late_ts)
    r = fuzz.fuzz_parser("polymarket_market", 20_000, use_shared=False)
    assert r.books_changed_by_bad > 0, r.samples


@pytest.mark.parametrize("wrong", ["settled", "dropped"])
def test_fuzz_catches_an_undocumented_status_not_booked_provisional(monkeypatch: pytest.MonkeyPatch, wrong: str) -> None:
    """The alert rule can fail: a parser that logs the ALERT for an undocumented trade status but
    books the fill as settled, or drops the trade, is reported (and an alert is not an error)."""
    parse_mod = importlib.import_module("arbkit.venues.polymarket.parse")
    real = parse_mod.fill_status

    def lenient(text: str):
        try:
            return real(text)
        except parse_mod.UnknownStatus:
            parse_mod.log.error("ALERT Polymarket trade x has an undocumented status %r: booked as provisional", text)
            if wrong == "dropped":
                raise ValueError("dropped") from None
            return parse_mod.FillStatus.CONFIRMED

    monkeypatch.setattr(parse_mod, "fill_status", lenient)
    r = fuzz.fuzz_parser("polymarket_user", 5_000, use_shared=False)
    assert r.alerts > 0 and r.errors_logged == 0
    assert r.alerts_not_conservative > 0, r.samples
    assert any("ALERT NOT CONSERVATIVE" in s for s in r.samples)


def test_fuzz_counts_other_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the undocumented-status alert is set apart: any other ERROR record, even one that
    starts with ALERT, still fails the run."""
    parse_mod = importlib.import_module("arbkit.venues.polymarket.parse")
    real = parse_mod.our_fills

    def noisy(*a, **k):
        parse_mod.log.error("ALERT something else went wrong")
        return real(*a, **k)

    monkeypatch.setattr(parse_mod, "our_fills", noisy)
    r = fuzz.fuzz_parser("polymarket_user", 2_000, use_shared=False)
    assert r.errors_logged > 0


@pytest.mark.slow
@pytest.mark.parametrize("parser", PARSERS)
def test_fuzz_parser_large(parser: str) -> None:
    n = 250_000
    _check(fuzz.fuzz_parser(parser, n, seed=fuzz.SEED + 2, use_shared=SHARED.exists()), n)
