"""L2Sync's integer fast path gives exactly the book the Decimal path gives, and leaves every
other number form (exponents, finer decimals, junk) to the Decimal path and its errors."""

from __future__ import annotations

from decimal import Decimal as D

import msgspec
import pytest

from arbkit.core.book import CryptoBook
from arbkit.venues.kucoin.parse import L2Sync, L2Update, _plain_changes, l2_changes


def _u(s0: int, s1: int, bids=(), asks=()) -> L2Update:
    return msgspec.convert({"symbol": "X-Y", "sequenceStart": s0, "sequenceEnd": s1,
                            "changes": {"bids": [list(r) for r in bids], "asks": [list(r) for r in asks]}}, L2Update)


def _synced() -> L2Sync:
    s = L2Sync(CryptoBook(2, 8, "kucoin:X-Y"))
    s.on_snapshot(10, [(D("9.50"), D("1"))], [(D("10.50"), D("1"))])
    return s


def test_plain_messages_take_the_fast_path_with_l2_changes_order() -> None:
    u = _u(11, 14, bids=[("9.60", "2.5", "13"), ("0", "0", "11")], asks=[("10.40", "0.00000001", "12"), ("10.50", "0", "14")])
    fast = _plain_changes(u, CryptoBook(2, 8))
    assert fast is not None
    slow = [(seq, b, CryptoBook(2, 8).to_tick(p) if p > 0 else 0, CryptoBook(2, 8).to_lots(q)) for b, p, q, seq in l2_changes(u)]
    assert fast == slow
    s = _synced()
    assert s.on_update(u)
    assert s.book.snapshot_levels() == ([(D("9.60"), D("2.5")), (D("9.50"), D("1"))], [(D("10.40"), D("0.00000001"))])
    assert s.seq == 14 and s.applied == 3


@pytest.mark.parametrize("row", [("9.6e0", "1", "11"), ("9.60", "1.000000001", "11"), ("9.60", "-1", "11"),
                                 ("9.60", "1", "x"), ("9.60", "1", "99")])
def test_other_forms_go_to_the_decimal_path(row) -> None:
    u = _u(11, 11, bids=[row])
    assert _plain_changes(u, CryptoBook(2, 8)) is None
    s = _synced()
    if row[0] == "9.6e0":  # an exponent is a valid number: same book as the plain form
        assert s.on_update(u) and (D("9.60"), D("1")) in s.book.snapshot_levels()[0]
    else:
        with pytest.raises(ValueError):
            s.on_update(u)
