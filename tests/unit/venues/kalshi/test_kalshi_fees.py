"""Kalshi fees with the documented rounding.

The three worked examples below are Kalshi's own, from docs.kalshi.com/getting_started/fee_rounding
("Fee Rounding" -> "Worked Examples", target balance precision $0.01): the trade fee of each fill
is given there (ceiled to the centicent) and the table gives Rounding, Accumulator, Rebate, Net Fee
and Balance Change per fill. The quadratic model ``0.07 * C * P * (1 - P)`` (taker) / ``0.0175``
(maker, ``quadratic_with_maker_fees`` series) times the series ``fee_multiplier`` is Kalshi's fee
schedule.
"""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from arbkit.core.enums import LiquiditySide
from arbkit.core.fees import fee_for, kalshi_fee
from arbkit.venues.kalshi.fees import (
    FeeAccumulator,
    fee_spec,
    fill_fee,
    model_fee,
    rates_for,
    round_fill,
    single_fill_fee,
    trade_fee,
)

# (trade fee, rounding, accumulator (before the rebate), rebate, net fee, balance change) per fill
EXAMPLE_SUBPENNY = [  # buy 3 contracts at $0.055 as three 1-lot matches
    ("0.0085", "0.0065", "0.0065", "0", "0.0150", "-0.07"),
    ("0.0085", "0.0065", "0.0130", "0.01", "0.0050", "-0.07"),
    ("0.0085", "0.0065", "0.0095", "0", "0.0150", "-0.07"),
]
EXAMPLE_FRACTIONAL = [  # buy 0.90 contracts at $0.50 as three 0.30-lot matches
    ("0.0041", "0.0059", "0.0059", "0", "0.0100", "-0.16"),
    ("0.0041", "0.0059", "0.0118", "0.01", "0.0000", "-0.16"),
    ("0.0041", "0.0059", "0.0077", "0", "0.0100", "-0.16"),
]
EXAMPLE_COMBINED = [  # buy 0.09 contracts at $0.3301 as three 0.03-lot matches
    ("0.0005", "0.009597", "0.009597", "0", "0.010097", "-0.02"),
    ("0.0005", "0.009597", "0.019194", "0.01", "0.000097", "-0.02"),
    ("0.0005", "0.009597", "0.018791", "0.01", "0.000097", "-0.02"),
]


@pytest.mark.parametrize("price,count,rows", [
    ("0.055", "1", EXAMPLE_SUBPENNY),
    ("0.50", "0.30", EXAMPLE_FRACTIONAL),
    ("0.3301", "0.03", EXAMPLE_COMBINED),
])
def test_documented_worked_examples(price, count, rows):
    acc = FeeAccumulator()
    for tf, rounding, accum, rebate, net, change in rows:
        revenue = -(D(price) * D(count))
        out = acc.apply("order-1", revenue, D(tf))
        assert out.trade_fee == D(tf)
        assert out.rounding_fee == D(rounding)
        assert out.accumulator == D(accum)
        assert out.rebate == D(rebate)
        assert out.net_fee == D(net)
        assert out.balance_change == D(change)
        assert out.cash_change == revenue - out.net_fee  # the balance moves by revenue minus the net fee


def test_combined_example_trade_fee_comes_from_the_model():
    # 0.07 * 0.03 * 0.3301 * 0.6699 = 0.00046437... -> ceiled to the centicent = $0.0005 (as documented)
    assert trade_fee(D("0.07"), D("0.3301"), D("0.03")) == D("0.0005")


def test_accumulator_is_per_order_and_shared_by_taker_and_maker_fills():
    acc = FeeAccumulator()
    a = acc.fill("A", D("0.07"), D("0.055"), D("1"), is_buy=True)  # taker fill
    b = acc.fill("B", D("0.07"), D("0.055"), D("1"), is_buy=True)  # another order: own accumulator
    assert a.accumulator == b.accumulator == a.rounding_fee
    c = acc.fill("A", D("0.0175"), D("0.055"), D("1"), is_buy=True)  # maker fill of A carries A's accumulator
    assert c.accumulator == a.rounding_fee + c.rounding_fee
    acc.forget("A")
    assert acc.pending("A") == 0


@pytest.mark.parametrize("cents", range(1, 100))
@pytest.mark.parametrize("count", [1, 3, 10, 100, 1000])
def test_single_whole_cent_fill_equals_ceil_to_cent(cents, count):
    """At whole-cent prices and whole contracts one fill costs ceil_to_cent(0.07 C P (1-P)),
    what arbkit.core.fees.kalshi_fee computes (e.g. 100 @ $0.50 -> $1.75, 1 @ $0.50 -> $0.02)."""
    p = D(cents) / 100
    for is_buy in (True, False):
        assert single_fill_fee(D("0.07"), p, D(count), is_buy) == kalshi_fee(p, D(count), D("0.07"))


def test_known_schedule_points():
    assert single_fill_fee(D("0.07"), D("0.50"), D(100)) == D("1.75")
    assert single_fill_fee(D("0.07"), D("0.50"), D(1)) == D("0.02")
    assert single_fill_fee(D("0.0175"), D("0.50"), D(100)) == D("0.44")
    assert single_fill_fee(D("0.07"), D("0.10"), D(100)) == D("0.63")


def test_subpenny_single_fill_follows_the_documented_rounding():
    # 1 @ $0.055: model fee 0.00363825 -> trade fee 0.0037; revenue -0.055 - 0.0037 = -0.0587 floored to
    # -0.06, so the net fee is 0.0050 (ceiling the fee alone to the cent would say 0.01).
    assert trade_fee(D("0.07"), D("0.055"), D(1)) == D("0.0037")
    assert single_fill_fee(D("0.07"), D("0.055"), D(1)) == D("0.0050")
    assert kalshi_fee(D("0.055"), D(1), D("0.07")) == D("0.0050")


def test_many_fills_never_cost_more_than_one_fill_plus_a_cent():
    acc = FeeAccumulator()
    total = sum((acc.fill("o", D("0.07"), D("0.37"), D(1), True).net_fee for _ in range(50)), D(0))
    one = single_fill_fee(D("0.07"), D("0.37"), D(50))
    assert total <= one + D("0.01")
    assert total < 50 * kalshi_fee(D("0.37"), D(1), D("0.07"))  # per-fill ceil_to_cent overcharges


def test_direct_member_precision():
    out = round_fill(D("-0.055"), D("0.0037"), precision=D("0.0001"))
    assert out.rounding_fee == 0 and out.net_fee == D("0.0037")


def test_series_rates_and_spec():
    assert rates_for("quadratic", D(1)) == (D("0.07"), D(0))
    assert rates_for("quadratic_with_maker_fees", D("0.5")) == (D("0.035"), D("0.00875"))
    with pytest.raises(ValueError, match="flat"):
        rates_for("flat", D(1))
    spec = fee_spec("quadratic_with_maker_fees", D(2))
    assert spec.kind == "kalshi" and spec.multiplier == 2
    acc = FeeAccumulator()
    f = fill_fee(spec, D("0.50"), D(100), LiquiditySide.MAKER, True, "o", acc)
    assert f.trade_fee == D("0.875") and f.net_fee == D("0.88")  # 0.0175 * 2 * 100 * 0.25, to the cent
    assert fee_for(spec, D("0.50"), D(100), LiquiditySide.MAKER) == D("0.88")
    assert model_fee(D("0.07"), D("0.5"), D(0)) == 0
    with pytest.raises(ValueError):
        model_fee(D("0.07"), D("1.5"), D(1))
