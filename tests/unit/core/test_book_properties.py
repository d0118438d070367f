"""Property tests: every book implementation against a plain dict reference model.

Random sequences of snapshots, deltas, batches and clears (including invalid ones) are applied to a
reference model and to each implementation (pure Python always, C when the extension is built); after
every step best bid/ask, levels, walk, size_up_to, size_at, is_crossed, sequence and time must agree,
and an operation the model rejects must raise the same error type and leave the book unchanged.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arbkit.core import book as B

MAX = B.MAX_LOTS


class RefBook:
    """The simplest correct L2 book: two dicts price -> lots; tick range [lo, hi]."""

    def __init__(self, lo: int, hi: int) -> None:
        self.lo, self.hi = lo, hi
        self.sides: dict[bool, dict[int, int]] = {True: {}, False: {}}
        self.sequence = 0
        self.last_update_ns = 0

    def _valid(self, tick: int, lots: int) -> bool:
        return self.lo <= tick <= self.hi and 0 <= lots <= MAX

    def delta(self, is_bid: bool, tick: int, lots: int, seq: int, ts: int) -> bool:
        if not self._valid(tick, lots):
            return False
        side = self.sides[is_bid]
        if lots:
            side[tick] = lots
        else:
            side.pop(tick, None)
        self.sequence, self.last_update_ns = seq, ts
        return True

    def batch(self, deltas: list[tuple[bool, int, int]], seq: int, ts: int) -> bool:
        if not all(self._valid(t, x) for _, t, x in deltas):
            return False
        for b, t, x in deltas:
            self.delta(b, t, x, seq, ts)
        return True

    def snapshot(self, bids: list[tuple[int, int]], asks: list[tuple[int, int]], seq: int, ts: int) -> bool:
        if not all(self._valid(t, x) for t, x in bids + asks):
            return False
        for is_bid, lv in ((True, bids), (False, asks)):
            d: dict[int, int] = {}
            for t, x in lv:
                d[t] = x
            self.sides[is_bid] = {t: x for t, x in d.items() if x}
        self.sequence, self.last_update_ns = seq, ts
        return True

    def levels(self, is_bid: bool) -> list[tuple[int, int]]:
        return sorted(self.sides[is_bid].items(), reverse=is_bid)

    def best(self, is_bid: bool) -> tuple[int, int] | None:
        lv = self.levels(is_bid)
        return lv[0] if lv else None

    def walk(self, is_buy: bool, lots: int) -> tuple[int, int]:
        filled = notional = 0
        for t, x in self.levels(not is_buy):
            take = min(lots - filled, x)
            filled += take
            notional += t * take
        return filled, notional

    def size_up_to(self, is_buy: bool, limit: int) -> int:
        if is_buy:
            return sum(x for t, x in self.sides[False].items() if t <= limit)
        return sum(x for t, x in self.sides[True].items() if t >= limit)

    def is_crossed(self) -> bool:
        b, a = self.best(True), self.best(False)
        return b is not None and a is not None and b[0] >= a[0]


def _state(book) -> tuple:
    return (book.levels(True), book.levels(False), book.sequence, book.last_update_ns)


def check_same(book, ref: RefBook, probes: list[tuple[bool, int]], ticks: list[int]) -> None:
    assert book.best_bid() == ref.best(True)
    assert book.best_ask() == ref.best(False)
    assert book.levels(True) == ref.levels(True)
    assert book.levels(False) == ref.levels(False)
    assert book.levels(True, 2) == ref.levels(True)[:2]
    assert book.levels(False, 0) == []
    assert book.level_count(True) == len(ref.sides[True])
    assert book.level_count(False) == len(ref.sides[False])
    assert book.is_crossed() == ref.is_crossed()
    assert book.sequence == ref.sequence
    assert book.last_update_ns == ref.last_update_ns
    for is_buy, lots in probes:
        assert book.walk(is_buy, lots) == ref.walk(is_buy, lots)
    for t in ticks:
        for flag in (True, False):
            assert book.size_up_to(flag, t) == ref.size_up_to(flag, t)
            assert book.size_at(flag, t) == ref.sides[flag].get(t, 0)


def lots_strategy() -> st.SearchStrategy[int]:
    return st.one_of(
        st.integers(0, 50),  # small, many zeros -> deletes
        st.just(0),
        st.integers(1, 10**12),
        st.sampled_from([MAX, MAX - 1, MAX + 1, -1, 2**64]),  # int64 edges; MAX+1/-1 must be refused
    )


def ops_strategy(tick_values: st.SearchStrategy[int]) -> st.SearchStrategy[list]:
    seq = st.integers(0, 2**40)
    level = st.tuples(tick_values, lots_strategy())
    delta = st.tuples(st.just("delta"), st.booleans(), tick_values, lots_strategy(), seq, seq)
    snap = st.tuples(st.just("snapshot"), st.lists(level, max_size=12), st.lists(level, max_size=12), seq, seq)
    batch = st.tuples(st.just("batch"), st.lists(st.tuples(st.booleans(), tick_values, lots_strategy()), max_size=8),
                      seq, seq)
    clear = st.tuples(st.just("clear"))
    # mostly single deltas (the feed's bread and butter), with snapshots, batches and clears mixed in
    op = st.integers(0, 19).flatmap(lambda k: delta if k < 15 else snap if k < 17 else batch if k < 19 else clear)
    return st.lists(op, min_size=8, max_size=80)


def run_ops(books: list, ref: RefBook, ops: list, probe_ticks: list[int]) -> None:
    probes = [(True, 0), (True, 1), (False, 7), (True, 120), (False, 10**13), (True, MAX), (False, MAX)]
    for op in ops:
        kind = op[0]
        before = [_state(b) for b in books]
        if kind == "delta":
            _, is_bid, tick, lots, seq, ts = op
            ok = ref.delta(is_bid, tick, lots, seq, ts)
            call = lambda b: b.apply_delta(is_bid, tick, lots, seq, ts)  # noqa: E731
        elif kind == "snapshot":
            _, bids, asks, seq, ts = op
            ok = ref.snapshot(bids, asks, seq, ts)
            call = lambda b: b.apply_snapshot(bids, asks, seq, ts)  # noqa: E731
        elif kind == "batch":
            _, deltas, seq, ts = op
            ok = ref.batch(deltas, seq, ts)
            call = lambda b: b.apply_deltas([d[0] for d in deltas], [d[1] for d in deltas],  # noqa: E731
                                            [d[2] for d in deltas], seq, ts)
        else:
            for side in ref.sides.values():
                side.clear()
            ok = True
            call = lambda b: b.clear()  # noqa: E731
        for b, st_before in zip(books, before):
            if ok:
                call(b)
            else:
                with pytest.raises(ValueError):
                    call(b)
                assert _state(b) == st_before, "a rejected operation must leave the book unchanged"
        for b in books:
            check_same(b, ref, probes, probe_ticks)


PRED_IMPLS = [B.PyPredictionBook] + ([B.CPredictionBook] if B.C_AVAILABLE else [])
CRYPTO_IMPLS = [B.PyCryptoBook] + ([B.CCryptoBook] if B.C_AVAILABLE else [])
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_c_core_is_built_where_a_compiler_is_available():
    """Both implementations are compared below only when the C core is built; say which ran."""
    if not B.C_AVAILABLE:
        pytest.skip("C extension arbkit.core._book not built: only the pure-Python books are tested")
    assert B.CPredictionBook is not None and B.CCryptoBook is not None


@SETTINGS
@given(ops=ops_strategy(st.integers(-2, 22)))
def test_prediction_books_match_reference_small_grid(ops):
    # tick 0.05 -> 20 ticks: dense collisions, deletes at the top, out-of-grid ticks -1, -2, 21, 22
    books = [cls(Decimal("0.05"), 2) for cls in PRED_IMPLS]
    run_ops(books, RefBook(0, 20), ops, [-1, 0, 5, 10, 20, 21])


@SETTINGS
@given(ops=ops_strategy(st.one_of(st.sampled_from([0, 1, 62, 63, 64, 65, 127, 128, 129, 9_999, 10_000, 10_001, -1]),
                                  st.integers(0, 10_000))))
def test_prediction_books_match_reference_fine_grid(ops):
    # tick 0.0001 -> 10000 ticks: sparse levels across many bitmap words and word boundaries
    books = [cls(Decimal("0.0001"), 6) for cls in PRED_IMPLS]
    run_ops(books, RefBook(0, 10_000), ops, [0, 63, 64, 128, 5_000, 10_000, 10_001])


@SETTINGS
@given(ops=ops_strategy(st.one_of(st.integers(-1, 30), st.sampled_from([B.MAX_PRICE_UNITS, B.MAX_PRICE_UNITS + 1,
                                                                       2**62, 10**15]))))
def test_crypto_books_match_reference(ops):
    books = [cls(8, 8) for cls in CRYPTO_IMPLS]
    run_ops(books, RefBook(1, B.MAX_PRICE_UNITS), ops, [0, 1, 15, 30, 10**15, B.MAX_PRICE_UNITS])


@settings(max_examples=60, deadline=None)
@given(stream=st.lists(st.tuples(st.booleans(), st.integers(1, 99), st.integers(0, 5)), min_size=1, max_size=300))
def test_long_streams_agree_prediction_and_crypto(stream):
    """The same integer stream gives the same book in every implementation of both classes."""
    books = [cls(Decimal("0.01"), 2) for cls in PRED_IMPLS] + [cls(2, 2) for cls in CRYPTO_IMPLS]
    ref = RefBook(1, 99)
    for i, (is_bid, tick, lots) in enumerate(stream):
        ref.delta(is_bid, tick, lots, i, i * 10)
        for b in books:
            b.apply_delta(is_bid, tick, lots, i, i * 10)
            assert b.best_bid() == ref.best(True)
            assert b.best_ask() == ref.best(False)
    for b in books:
        check_same(b, ref, [(True, 3), (False, 1000)], [1, 50, 99])
