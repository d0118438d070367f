"""Simulated accounts: exact units, reservations, refusals that name the problem."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from arbkit.sim.accounts import Accounts, cash_to_units, lots_to_size, size_to_lots, units_to_cash
from arbkit.sim.events import Outcome


def test_units_are_exact_and_refuse_dust():
    assert cash_to_units(D("1.000001")) == 1_000_001
    assert units_to_cash(1_000_001) == D("1.000001")
    assert size_to_lots(D("12.34")) == 1234 and lots_to_size(1234) == D("12.34")
    with pytest.raises(ValueError, match="not a multiple"):
        cash_to_units(D("0.0000001"))
    with pytest.raises(ValueError, match="not a multiple"):
        size_to_lots(D("0.001"))


def test_cash_reserve_release_debit_credit():
    acc = Accounts()
    acc.create("a", {"USDC": D("10")})
    assert acc.reserve_cash("a", "USDC", cash_to_units(D(4)))
    assert not acc.reserve_cash("a", "USDC", cash_to_units(D("6.000001")))
    b = acc.balance("a", "USDC")
    assert (b.total, b.reserved, b.available) == (D(10), D(4), D(6))
    with pytest.raises(ValueError, match="available"):
        acc.debit_cash("a", "USDC", cash_to_units(D("6.5")))
    acc.debit_cash("a", "USDC", cash_to_units(D(3)), from_reserved=True)
    acc.release_cash("a", "USDC", cash_to_units(D(1)))
    with pytest.raises(ValueError, match="release"):
        acc.release_cash("a", "USDC", 1)
    acc.credit_cash("a", "USDC", cash_to_units(D(2)), held=True)
    b = acc.balance("a", "USDC")
    assert (b.total, b.reserved, b.available) == (D(9), D(2), D(7))
    with pytest.raises(ValueError):
        acc.withdraw("a", "USDC", D(8))
    acc.withdraw("a", "USDC", D(7))
    assert acc.all_non_negative()
    with pytest.raises(KeyError, match="unknown account"):
        acc.balance("zz", "USDC")


def test_positions_and_snapshot():
    acc = Accounts()
    acc.symbols[("m", Outcome.YES)] = "tokY"
    acc.create("a")
    acc.create("a")  # idempotent
    acc.credit_pos("a", "m", Outcome.YES, 500)
    assert acc.reserve_pos("a", "m", Outcome.YES, 200)
    assert not acc.reserve_pos("a", "m", Outcome.YES, 301)
    with pytest.raises(ValueError, match="available shares"):
        acc.debit_pos("a", "m", Outcome.YES, 301)
    acc.debit_pos("a", "m", Outcome.YES, 200, from_reserved=True)
    p = acc.position("a", "m", Outcome.YES)
    assert (p.size, p.reserved, p.available, p.symbol) == (D(3), D(0), D(3), "tokY")
    snap = acc.snapshot("a")
    assert snap["positions"] == [
        {"market_id": "m", "outcome": "YES", "symbol": "tokY", "size": "3.00", "reserved": "0.00", "available": "3.00"}
    ]
    assert acc.total_pos_lots("m", Outcome.YES) == 300
    assert acc.account_ids() == ["a"]
    with pytest.raises(ValueError):
        acc.create("")
