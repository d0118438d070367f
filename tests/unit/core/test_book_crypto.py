"""CryptoBook: edge cases and the Decimal boundary, for every implementation (Python, and C when built)."""

from __future__ import annotations

import pickle
import random
from decimal import Decimal

import pytest

from arbkit.core import book as B

IMPLS = [B.PyCryptoBook] + ([B.CCryptoBook] if B.C_AVAILABLE else [])
MAX = B.MAX_LOTS
MAXP = B.MAX_PRICE_UNITS


@pytest.fixture(params=IMPLS, ids=lambda c: c.__name__)
def cls(request):
    return request.param


@pytest.fixture
def book(cls):
    return cls(1, 8, "kucoin:BTC-USDT")  # BTC-USDT: price 0.1, size 0.00000001


def test_default_class_is_selected_at_import():
    assert B.CryptoBook is (B.CCryptoBook if B.IMPLEMENTATION == "c" else B.PyCryptoBook)


def test_constructor(cls):
    b = cls(2, 8, "x")
    assert (b.price_digits, b.size_digits, b.instrument_id) == (2, 8, "x")
    assert b.price_unit == Decimal("0.01") and b.size_unit == Decimal("0.00000001")
    for bad, exc in ((-1, ValueError), (19, ValueError), (1.0, TypeError)):
        with pytest.raises(exc):
            cls(bad, 8)
        with pytest.raises(exc):
            cls(2, bad)


def test_empty_book(book):
    assert book.best_bid() is None and book.best_ask() is None
    assert book.best_bid_price() is None and book.best_ask_price() is None
    assert book.levels(True) == [] and book.walk(True, 5) == (0, 0) and book.walk(False, 5) == (0, 0)
    assert book.size_up_to(True, MAXP) == 0 and not book.is_crossed()
    assert book.size_at(True, 1) == 0 and book.size_at(True, 0) == 0


def test_deltas_best_and_levels(book):
    px = book.to_tick
    book.apply_delta(True, px(Decimal("65000.1")), 5_000_000, 1, 100)
    book.apply_delta(True, px(Decimal("64999.9")), 7_000_000, 2, 200)
    book.apply_delta(False, px(Decimal("65000.2")), 1_000_000, 3, 300)
    book.apply_delta(False, px(Decimal("65010")), 9_000_000, 4, 400)
    assert book.best_bid() == (650001, 5_000_000) and book.best_ask() == (650002, 1_000_000)
    assert book.best_bid_price() == Decimal("65000.1") and book.best_ask_price() == Decimal("65000.2")
    assert book.levels(True) == [(650001, 5_000_000), (649999, 7_000_000)]
    assert book.levels(False) == [(650002, 1_000_000), (650100, 9_000_000)]
    assert (book.sequence, book.last_update_ns) == (4, 400)
    book.apply_delta(False, 650002, 0, 5, 500)  # delete at the top
    assert book.best_ask() == (650100, 9_000_000)
    book.apply_delta(True, 649999, 0)  # delete below the top
    assert book.levels(True) == [(650001, 5_000_000)]
    book.apply_delta(True, 123, 0)  # missing: no-op
    assert book.level_count(True) == 1
    snap = book.snapshot_levels()
    assert snap == ([(Decimal("65000.1"), Decimal("0.05"))], [(Decimal("65010.0"), Decimal("0.09"))])


@pytest.mark.parametrize("price", [0, -1, MAXP + 1, 10**30])
def test_price_out_of_range_is_refused_and_nothing_changes(book, price):
    book.apply_delta(True, 10, 5, 1, 10)
    with pytest.raises(ValueError):
        book.apply_delta(False, price, 5, 2, 20)
    with pytest.raises(ValueError):
        book.apply_snapshot([(11, 1)], [(price, 1)], 3, 30)
    with pytest.raises(ValueError):
        book.apply_deltas([True, False], [11, price], [1, 1], 4, 40)
    assert book.levels(True) == [(10, 5)] and book.levels(False) == []
    assert (book.sequence, book.last_update_ns) == (1, 10)


@pytest.mark.parametrize("price, lots", [(5.0, 1), (5, 1.0), (Decimal(5), 1), (5, "1")])
def test_non_integers_are_refused(book, price, lots):
    with pytest.raises(TypeError):
        book.apply_delta(True, price, lots)


def test_int64_extremes_are_exact(book):
    book.apply_delta(False, MAXP, MAX)
    book.apply_delta(False, MAXP - 1, MAX)
    book.apply_delta(True, 1, MAX)
    assert book.best_ask() == (MAXP - 1, MAX)
    assert book.walk(True, MAX) == (MAX, (MAXP - 1) * MAX)  # notional far beyond int64
    assert book.size_up_to(True, MAXP) == 2 * MAX
    assert book.walk(False, MAX) == (MAX, MAX)
    for bad in (MAX + 1, -1):
        with pytest.raises(ValueError):
            book.apply_delta(True, 2, bad)
    with pytest.raises(ValueError):
        book.walk(True, MAX + 1)
    assert book.price(MAXP) == Decimal(MAXP) / 10
    with pytest.raises(ValueError):
        book.to_tick(Decimal(MAXP + 1) / 10)


def test_crossing_delta_is_applied_and_reported(book):
    book.apply_snapshot([(100, 1)], [(105, 1)])
    book.apply_delta(False, 100, 2)
    assert book.is_crossed() and book.best_ask() == (100, 2)
    book.apply_delta(False, 100, 0)
    assert not book.is_crossed()


def test_large_unsorted_snapshot_with_duplicates(cls):
    rng = random.Random(7)
    bids = [(rng.randint(1, 5_000), rng.randint(0, 100)) for _ in range(4_000)]
    asks = [(rng.randint(5_001, 10_000), rng.randint(0, 100)) for _ in range(4_000)]
    b = cls(2, 2)
    b.apply_delta(True, 9_999, 1)  # replaced by the snapshot
    b.apply_snapshot(bids, asks, 1, 2)
    exp_b: dict[int, int] = {}
    exp_a: dict[int, int] = {}
    for p, x in bids:
        exp_b[p] = x
    for p, x in asks:
        exp_a[p] = x
    assert b.levels(True) == sorted(((p, x) for p, x in exp_b.items() if x), reverse=True)
    assert b.levels(False) == sorted((p, x) for p, x in exp_a.items() if x)
    # and it keeps working as a live book afterwards
    top = b.best_bid()[0]
    b.apply_delta(True, top, 0)
    assert b.best_bid()[0] < top


def test_walk_size_up_to_and_average_price(cls):
    b = cls(2, 8)
    b.apply_snapshot([(6_499_990, 10**8)], [(6_500_000, 50_000_000), (6_500_100, 2 * 10**8)])
    filled, notional = b.walk(True, 10**8)  # buy 1 BTC
    assert (filled, notional) == (10**8, 6_500_000 * 50_000_000 + 6_500_100 * 50_000_000)
    assert notional * b.price_unit / filled == Decimal("65000.50")
    assert b.size_up_to(True, 6_500_000) == 50_000_000
    assert b.size_up_to(True, 6_500_099) == 50_000_000
    assert b.size_up_to(False, 6_499_990) == 10**8 and b.size_up_to(False, 6_499_991) == 0


def test_decimal_boundary_small_prices(cls):
    b = cls(8, 0, "kucoin:SHIB-USDT")
    assert b.to_tick(Decimal("0.00001234")) == 1234
    assert b.price(1234) == Decimal("0.00001234")
    with pytest.raises(ValueError):
        b.to_tick(Decimal("0.000012345"))
    with pytest.raises(ValueError):
        b.to_tick(Decimal("0"))
    with pytest.raises(TypeError):
        b.to_tick(0.00001234)
    assert b.to_tick("0.00001234") == 1234  # venue strings are accepted too
    for hostile in ("1e999999999", "1e-999999999", "abc", "NaN", "Infinity"):
        with pytest.raises(ValueError):
            b.to_tick(hostile)
    assert b.to_lots(Decimal("0E-50")) == 0
    assert b.to_lots(Decimal("1000000")) == 1_000_000
    with pytest.raises(ValueError):
        b.to_lots(Decimal("0.5"))


def test_copy_pickle_and_keywords(book):
    book.apply_delta(is_bid=True, tick=5, lots=6, sequence=7, ts_ns=8)
    book.apply_snapshot(bids=[(5, 6), (4, 1)], asks=[(9, 9)], sequence=7, ts_ns=8)
    for clone in (book.copy(), pickle.loads(pickle.dumps(book))):
        assert type(clone) is type(book)
        assert (clone.levels(True), clone.levels(False), clone.sequence, clone.last_update_ns) == (
            [(5, 6), (4, 1)], [(9, 9)], 7, 8)
        clone.clear()
        assert book.level_count(True) == 2
