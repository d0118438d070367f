"""PredictionBook: edge cases and the Decimal boundary, for every implementation (Python, and C when built)."""

from __future__ import annotations

import pickle
from decimal import Decimal

import pytest

from arbkit.core import book as B

IMPLS = [B.PyPredictionBook] + ([B.CPredictionBook] if B.C_AVAILABLE else [])
MAX = B.MAX_LOTS


@pytest.fixture(params=IMPLS, ids=lambda c: c.__name__)
def cls(request):
    return request.param


@pytest.fixture
def book(cls):
    return cls(Decimal("0.01"), 2, "polymarket:tok")


def test_default_class_is_selected_at_import():
    assert B.PredictionBook is (B.CPredictionBook if B.IMPLEMENTATION == "c" else B.PyPredictionBook)
    assert B.IMPLEMENTATION in ("c", "python")


@pytest.mark.parametrize("tick, n", [("0.01", 100), ("0.001", 1000), ("0.0001", 10000), ("0.05", 20), ("1", 1)])
def test_grid_size_from_tick_size(cls, tick, n):
    b = cls(Decimal(tick), 2, "x")
    assert b.n_ticks == n
    assert b.tick_size == Decimal(tick)
    assert b.size_digits == 2 and b.instrument_id == "x"
    assert b.sequence == 0 and b.last_update_ns == 0


@pytest.mark.parametrize("bad, exc", [(0.01, TypeError), ("0.01", TypeError), (Decimal("0.03"), ValueError),
                                      (Decimal(0), ValueError), (Decimal("-0.01"), ValueError),
                                      (Decimal("2"), ValueError), (Decimal("NaN"), ValueError),
                                      (Decimal("0.0000001"), ValueError)])  # grid above MAX_TICKS
def test_bad_tick_size_is_refused(cls, bad, exc):
    with pytest.raises(exc):
        cls(bad, 2)


@pytest.mark.parametrize("digits, exc", [(-1, ValueError), (19, ValueError), (2.0, TypeError), (True, TypeError)])
def test_bad_size_digits_is_refused(cls, digits, exc):
    with pytest.raises(exc):
        cls(Decimal("0.01"), digits)


def test_empty_book(book):
    assert book.best_bid() is None and book.best_ask() is None
    assert book.best_bid_price() is None and book.best_ask_price() is None
    assert book.levels(True) == [] and book.levels(False, 5) == []
    assert book.walk(True, 100) == (0, 0) and book.walk(False, 100) == (0, 0)
    assert book.size_up_to(True, 100) == 0 and book.size_up_to(False, 0) == 0
    assert not book.is_crossed()
    assert book.snapshot_levels() == ([], [])
    assert book.level_count(True) == 0


def test_delta_sets_new_total_and_zero_removes(book):
    book.apply_delta(True, 45, 100, 1, 1_000)
    book.apply_delta(True, 45, 30, 2, 2_000)  # a NEW TOTAL, not an increment
    assert book.best_bid() == (45, 30)
    assert (book.sequence, book.last_update_ns) == (2, 2_000)
    book.apply_delta(True, 45, 0, 3, 3_000)
    assert book.best_bid() is None
    assert (book.sequence, book.last_update_ns) == (3, 3_000)
    assert book.age_ns(3_500) == 500


def test_delete_of_missing_level_is_a_noop(book):
    book.apply_delta(False, 60, 5)
    book.apply_delta(False, 61, 0, 9, 90)
    book.apply_delta(True, 10, 0)
    assert book.levels(False) == [(60, 5)] and book.levels(True) == []


def test_best_tracks_deletes_at_the_top(book):
    for t in (40, 42, 44):
        book.apply_delta(True, t, t)
    for t in (56, 58, 60):
        book.apply_delta(False, t, t)
    book.apply_delta(True, 44, 0)
    book.apply_delta(False, 56, 0)
    assert book.best_bid() == (42, 42) and book.best_ask() == (58, 58)
    book.apply_delta(True, 41, 7)  # below the best: best unchanged
    assert book.best_bid() == (42, 42)
    assert book.levels(True) == [(42, 42), (41, 7), (40, 40)]
    assert book.levels(False) == [(58, 58), (60, 60)]
    assert book.levels(True, 1) == [(42, 42)]


def test_edges_of_the_grid(book):
    book.apply_delta(True, 0, 1)
    book.apply_delta(False, 100, 2)
    assert book.best_bid() == (0, 1) and book.best_ask() == (100, 2)
    assert book.best_bid_price() == Decimal("0") and book.best_ask_price() == Decimal("1")


def test_fine_grid_best_scan_crosses_bitmap_words(cls):
    b = cls(Decimal("0.0001"), 6)
    for t in (0, 63, 64, 5000, 10_000):
        b.apply_delta(True, t, 1)
        b.apply_delta(False, t, 1)
    for expected_bid in (5000, 64, 63, 0):
        b.apply_delta(True, b.best_bid()[0], 0)
        assert b.best_bid()[0] == expected_bid
    for expected_ask in (63, 64, 5000, 10_000):
        b.apply_delta(False, b.best_ask()[0], 0)
        assert b.best_ask()[0] == expected_ask
    b.apply_delta(False, 10_000, 0)
    assert b.best_ask() is None and b.levels(True) == [(0, 1)]


@pytest.mark.parametrize("tick", [-1, 101, 10**30, -(10**30)])
def test_out_of_grid_tick_is_refused_and_nothing_changes(book, tick):
    book.apply_delta(True, 50, 5, 1, 10)
    with pytest.raises(ValueError):
        book.apply_delta(True, tick, 5, 2, 20)
    with pytest.raises(ValueError):
        book.apply_snapshot([(40, 1), (tick, 1)], [], 3, 30)
    with pytest.raises(ValueError):
        book.apply_deltas([True, False], [41, tick], [1, 1], 4, 40)
    assert book.levels(True) == [(50, 5)] and book.levels(False) == []
    assert (book.sequence, book.last_update_ns) == (1, 10)


@pytest.mark.parametrize("tick, lots", [(5.0, 1), (5, 1.0), (Decimal(5), 1), (5, Decimal(1)), ("5", 1), (None, 1)])
def test_non_integers_are_refused(book, tick, lots):
    with pytest.raises(TypeError):
        book.apply_delta(True, tick, lots)
    assert book.best_bid() is None


def test_huge_sizes_up_to_int64_are_exact_and_bigger_is_refused(book):
    book.apply_delta(True, 99, MAX)
    book.apply_delta(True, 98, MAX)
    book.apply_delta(False, 100, MAX)
    assert book.best_bid() == (99, MAX)
    for bad in (MAX + 1, 2**64, -1):
        with pytest.raises(ValueError):
            book.apply_delta(True, 97, bad)
        with pytest.raises(ValueError):
            book.apply_snapshot([(97, bad)], [])
    # sums beyond int64 stay exact Python ints
    assert book.size_up_to(False, 0) == 2 * MAX
    assert book.walk(False, MAX) == (MAX, 99 * MAX)
    book.apply_delta(True, 99, 5)
    assert book.walk(False, MAX) == (MAX, 99 * 5 + 98 * (MAX - 5))
    assert book.walk(True, MAX) == (MAX, 100 * MAX)
    with pytest.raises(ValueError):
        book.walk(True, MAX + 1)
    with pytest.raises(ValueError):
        book.walk(True, -1)
    assert book.size(MAX) == Decimal(MAX) / 100
    with pytest.raises(ValueError):
        book.to_lots(Decimal(MAX + 1) / 100)


def test_crossing_delta_is_applied_and_reported(book):
    book.apply_snapshot([(45, 10)], [(55, 10)])
    assert not book.is_crossed()
    book.apply_delta(True, 55, 3)  # bid == ask counts as crossed
    assert book.is_crossed() and book.best_bid() == (55, 3)
    book.apply_delta(True, 57, 1)
    assert book.is_crossed()
    book.apply_delta(True, 57, 0)
    book.apply_delta(True, 55, 0)
    assert not book.is_crossed()


def test_snapshot_replaces_everything(book):
    book.apply_delta(True, 10, 1)
    book.apply_delta(False, 90, 1)
    book.apply_snapshot([(40, 100), (45, 50), (44, 0), (45, 70)], iter([(55, 10), (60, 20)]), 7, 70)
    # zero lots ignored; a repeated tick keeps the last one; generators accepted
    assert book.levels(True) == [(45, 70), (40, 100)]
    assert book.levels(False) == [(55, 10), (60, 20)]
    assert (book.sequence, book.last_update_ns) == (7, 70)
    book.apply_snapshot([], [], 8, 80)
    assert book.levels(True) == [] and book.best_ask() is None and book.sequence == 8


def test_malformed_snapshot_levels_are_refused(book):
    book.apply_delta(True, 10, 1)
    with pytest.raises((TypeError, ValueError)):
        book.apply_snapshot([(40, 1, 2)], [])
    with pytest.raises(TypeError):
        book.apply_snapshot([40], [])
    with pytest.raises(TypeError):
        book.apply_snapshot([(40.0, 1)], [])
    assert book.levels(True) == [(10, 1)]


def test_walk_and_average_price(book):
    book.apply_snapshot([(48, 100), (47, 300)], [(52, 100), (53, 200), (55, 1000)])
    filled, notional = book.walk(True, 250)
    assert (filled, notional) == (250, 52 * 100 + 53 * 150)
    assert notional * book.tick_size / filled == Decimal("0.5260")
    assert book.walk(False, 1_000) == (400, 48 * 100 + 47 * 300)  # more than the book: partial
    assert book.walk(True, 0) == (0, 0)
    assert book.levels(False, 1) == [(52, 100)]  # walking never changes the book


def test_size_up_to_is_inclusive(book):
    book.apply_snapshot([(48, 100), (47, 300)], [(52, 100), (53, 200)])
    assert book.size_up_to(True, 51) == 0
    assert book.size_up_to(True, 52) == 100
    assert book.size_up_to(True, 53) == 300
    assert book.size_up_to(True, 10**30) == 300  # queries clamp instead of refusing
    assert book.size_up_to(False, 48) == 100
    assert book.size_up_to(False, 47) == 400
    assert book.size_up_to(False, -(10**30)) == 400
    assert book.size_at(True, 47) == 300 and book.size_at(True, 46) == 0
    assert book.size_at(True, -5) == 0 and book.size_at(False, 10**30) == 0
    with pytest.raises(TypeError):
        book.size_at(True, 47.0)


def test_batch_applies_in_order(book):
    book.apply_deltas([True, True, False, True], [40, 41, 60, 40], [5, 6, 7, 0], 11, 110)
    assert book.levels(True) == [(41, 6)] and book.levels(False) == [(60, 7)]
    assert (book.sequence, book.last_update_ns) == (11, 110)
    with pytest.raises(ValueError):
        book.apply_deltas([True], [40, 41], [1, 1])


def test_keyword_arguments(book):
    book.apply_delta(is_bid=True, tick=30, lots=4, sequence=5, ts_ns=6)
    assert book.best_bid() == (30, 4) and (book.sequence, book.last_update_ns) == (5, 6)
    book.apply_snapshot(bids=[(31, 1)], asks=[], sequence=9, ts_ns=10)
    assert book.best_bid() == (31, 1) and book.sequence == 9
    with pytest.raises(TypeError):
        book.apply_delta(True, 30, 4, seq=5)
    with pytest.raises(TypeError):
        book.apply_delta(True, 30)
    with pytest.raises(ValueError):
        book.levels(True, -1)


def test_clear_keeps_sequence_and_time(book):
    book.apply_snapshot([(40, 1)], [(60, 1)], 5, 50)
    book.clear()
    assert book.best_bid() is None and book.best_ask() is None and book.level_count(False) == 0
    assert (book.sequence, book.last_update_ns) == (5, 50)
    book.apply_delta(True, 40, 2)
    assert book.best_bid() == (40, 2)


def test_decimal_boundary(cls):
    b = cls(Decimal("0.001"), 2, "kalshi:T:yes")
    assert b.price(575) == Decimal("0.575") and str(b.price(575)) == "0.575"
    assert b.to_tick(Decimal("0.575")) == 575
    assert b.to_tick(Decimal("0.5750000")) == 575
    assert b.to_tick(Decimal("1")) == 1000 and b.to_tick(0) == 0
    for bad in (Decimal("0.5755"), Decimal("1.001"), Decimal("-0.001")):
        with pytest.raises(ValueError):
            b.to_tick(bad)
    with pytest.raises(TypeError):
        b.to_tick(0.575)
    with pytest.raises(ValueError):
        b.price(1001)
    assert b.size(150) == Decimal("1.50") and str(b.size(150)) == "1.50"
    assert b.to_lots(Decimal("1.5")) == 150
    with pytest.raises(ValueError):
        b.to_lots(Decimal("1.505"))
    with pytest.raises(ValueError):
        b.to_lots(Decimal("-1"))
    with pytest.raises(TypeError):
        b.to_lots(1.5)
    b.apply_snapshot([(b.to_tick(Decimal("0.41")), b.to_lots(Decimal("12")))], [(420, 5)])
    assert b.best_bid_price() == Decimal("0.410") and b.best_ask_price() == Decimal("0.42")
    assert b.snapshot_levels() == ([(Decimal("0.41"), Decimal("12"))], [(Decimal("0.42"), Decimal("0.05"))])


def test_non_power_of_ten_tick(cls):
    b = cls(Decimal("0.05"), 0)
    assert b.n_ticks == 20
    assert b.price(3) == Decimal("0.15") and b.to_tick(Decimal("0.15")) == 3
    with pytest.raises(ValueError):
        b.to_tick(Decimal("0.12"))


def test_copy_and_pickle_are_independent(book):
    book.apply_snapshot([(40, 1), (39, 2)], [(60, 3)], 5, 50)
    for clone in (book.copy(), pickle.loads(pickle.dumps(book))):
        assert type(clone) is type(book)
        assert clone.levels(True) == book.levels(True) and clone.levels(False) == book.levels(False)
        assert (clone.sequence, clone.last_update_ns, clone.instrument_id) == (5, 50, "polymarket:tok")
        clone.apply_delta(True, 40, 0)
        assert book.best_bid() == (40, 1)
    assert "polymarket:tok" in repr(book)


@pytest.mark.skipif(not B.C_AVAILABLE, reason="C extension not built")
def test_c_core_without_init_refuses_instead_of_crashing():
    b = B.CPredictionBook.__new__(B.CPredictionBook)
    with pytest.raises(RuntimeError):
        b.best_bid()
    with pytest.raises(RuntimeError):
        b.apply_delta(True, 1, 1)
