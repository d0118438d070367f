"""L2Sync: KuCoin's level-2 procedure (buffer, snapshot with sequence, drop <= it, apply in order,
resync on a gap; size 0 removes a level) on core's crypto book."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from arbkit.core.book import CryptoBook, PyCryptoBook
from arbkit.venues.kucoin.parse import L2Changes, L2Sync, L2Update, book_digits


def upd(start: int, asks=(), bids=(), end: int | None = None) -> L2Update:
    """Changes as (price, size) in sequence from ``start`` (asks first, then bids)."""
    seq = start
    a, b = [], []
    for p, s in asks:
        a.append([p, s, str(seq)])
        seq += 1
    for p, s in bids:
        b.append([p, s, str(seq)])
        seq += 1
    return L2Update(symbol="BTC-USDT", sequence_start=start, sequence_end=end if end is not None else seq - 1,
                    changes=L2Changes(asks=a, bids=b))


@pytest.fixture(params=[CryptoBook, PyCryptoBook], ids=["default", "python"])
def sync(request) -> L2Sync:
    return L2Sync(request.param(*book_digits(D("0.1"), D("0.00000001")), "kucoin:BTC-USDT"))


def levels(sync: L2Sync):
    return sync.book.snapshot_levels()


def test_buffered_changes_at_or_below_the_snapshot_are_dropped_and_the_rest_applied(sync: L2Sync) -> None:
    assert sync.on_update(upd(100, asks=[("101.0", "9")]))  # before the snapshot: buffered
    assert sync.on_update(upd(101, asks=[("101.0", "2")]))
    assert sync.on_update(upd(102, bids=[("99.0", "3")]))
    assert not sync.live and len(sync.buffer) == 3
    assert sync.on_snapshot(101, [(D("99.0"), D("1")), (D("98.0"), D("1"))], [(D("101.0"), D("2"))])
    assert sync.live and sync.seq == 102 and sync.gaps == 0
    assert levels(sync) == ([(D("99.0"), D("3")), (D("98.0"), D("1"))], [(D("101.0"), D("2"))])


def test_size_zero_removes_a_level(sync: L2Sync) -> None:
    sync.on_snapshot(10, [(D("99.0"), D("1"))], [(D("101.0"), D("2")), (D("102.0"), D("2"))])
    assert sync.on_update(upd(11, asks=[("101.0", "0")]))
    assert levels(sync)[1] == [(D("102.0"), D("2"))]


def test_a_gap_drops_the_book_and_asks_for_a_snapshot(sync: L2Sync) -> None:
    sync.on_snapshot(10, [(D("99.0"), D("1"))], [(D("101.0"), D("2"))])
    assert sync.on_update(upd(11, bids=[("99.5", "1")]))
    assert not sync.on_update(upd(13, bids=[("99.6", "1")]))  # 12 is missing
    assert sync.gaps == 1 and sync.needs_snapshot and sync.book.best_bid() is None
    # it buffers again and comes back with a fresh snapshot
    assert sync.on_update(upd(14, bids=[("99.7", "1")]))
    assert sync.on_snapshot(13, [(D("99.6"), D("1"))], [(D("101.0"), D("2"))])
    assert levels(sync)[0] == [(D("99.7"), D("1")), (D("99.6"), D("1"))]


def test_a_snapshot_older_than_the_buffer_is_a_gap(sync: L2Sync) -> None:
    sync.on_update(upd(50, asks=[("101.0", "1")]))
    assert not sync.on_snapshot(40, [(D("99.0"), D("1"))], [(D("101.0"), D("2"))])
    assert sync.needs_snapshot


def test_old_and_duplicate_messages_are_ignored(sync: L2Sync) -> None:
    sync.on_snapshot(10, [(D("99.0"), D("1"))], [(D("101.0"), D("2"))])
    assert sync.on_update(upd(11, asks=[("101.0", "5")]))
    assert sync.on_update(upd(11, asks=[("101.0", "7")]))  # a duplicate: already applied
    assert sync.on_update(upd(9, asks=[("101.0", "8")]))
    assert levels(sync)[1] == [(D("101.0"), D("5"))] and sync.seq == 11


def test_a_message_overlapping_the_snapshot_applies_only_its_newer_changes(sync: L2Sync) -> None:
    sync.on_update(upd(9, asks=[("101.0", "1"), ("102.0", "4")], bids=[("99.0", "6")]))  # seqs 9, 10, 11
    assert sync.on_snapshot(10, [(D("99.0"), D("1"))], [(D("101.0"), D("3")), (D("102.0"), D("4"))])
    assert levels(sync) == ([(D("99.0"), D("6"))], [(D("101.0"), D("3")), (D("102.0"), D("4"))])


def test_a_malformed_change_raises_for_the_feed_to_count() -> None:
    s = L2Sync(CryptoBook(1, 12, "kucoin:BTC-USDT"))
    s.on_snapshot(1, [], [])
    bad = L2Update(symbol="BTC-USDT", sequence_start=2, sequence_end=2, changes=L2Changes(asks=[["1.0", "1"]]))
    with pytest.raises(ValueError):
        s.on_update(bad)
