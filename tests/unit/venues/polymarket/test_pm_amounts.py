"""IOC legs are signed for the shares asked (issue 11 item 7), within the venue's amount rules."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from arbkit.core.enums import Side, TimeInForce
from arbkit.venues.polymarket.amounts import (
    check_amounts,
    ioc_order_amounts,
    limit_order_amounts,
    representable_quantity,
)

D = Decimal
TICKS = [D("0.1"), D("0.01"), D("0.005"), D("0.001"), D("0.0025"), D("0.0001")]


def test_the_reported_case_buy_7_at_0435_signs_7_shares() -> None:
    maker, taker = ioc_order_amounts(Side.BUY, D("7"), D("0.435"), D("0.001"))
    assert taker == 7_000_000  # the shares asked, not 6.9885
    assert maker == 3_050_000  # 3.045 rounded up to the cent
    assert maker / taker < 0.436  # implied worst price below the next tick
    assert check_amounts(Side.BUY, "FAK", D("0.001"), maker, taker) is None


def test_representable_quantity_examples() -> None:
    assert representable_quantity(Side.BUY, D("7"), D("0.435"), D("0.001")) == D("6")
    assert representable_quantity(Side.BUY, D("7.5"), D("0.37"), D("0.01")) == D("7")
    assert representable_quantity(Side.BUY, D("7.5"), D("0.50"), D("0.01")) == D("7.5")
    assert representable_quantity(Side.SELL, D("7.33"), D("0.435"), D("0.001")) == D("7.32")
    assert representable_quantity(Side.BUY, D("7.33"), D("0.435"), D("0.001"), TimeInForce.GTC) == D("7.33")
    assert representable_quantity(Side.BUY, D("1"), D("0.0001"), D("0.0001")) == D("0")


@pytest.mark.parametrize("tick", TICKS)
def test_representable_quantities_are_exact_within_the_rules(tick: Decimal) -> None:
    rnd = random.Random(str(tick))
    steps = int(1 / tick)
    for _ in range(2000):
        price = tick * rnd.randrange(1, steps)
        qty = D(rnd.randrange(1, 200_000)) / 100
        side = rnd.choice((Side.BUY, Side.SELL))
        q = representable_quantity(side, qty, price, tick)
        assert 0 <= q <= qty and q == q.quantize(D("0.01"))
        if q > 0:
            shares, coll = int(q * 1_000_000), q * price * 1_000_000
            assert coll == coll.to_integral_value()
            maker, taker = (int(coll), shares) if side is Side.BUY else (shares, int(coll))
            assert check_amounts(side, "FAK", tick, maker, taker) is None
            # signed exactly: the IOC signer gives the same amounts for a representable quantity
            assert ioc_order_amounts(side, q, price, tick) == (maker, taker)


@pytest.mark.parametrize("tick", TICKS)
def test_ioc_amounts_never_sign_fewer_shares_or_a_worse_price(tick: Decimal) -> None:
    rnd = random.Random(f"ioc{tick}")
    steps = int(1 / tick)
    signed = refused = 0
    for _ in range(3000):
        price = tick * rnd.randrange(1, steps)
        qty = D(rnd.randrange(500, 100_000)) / 100
        side = rnd.choice((Side.BUY, Side.SELL))
        try:
            maker, taker = ioc_order_amounts(side, qty, price, tick)
        except ValueError as exc:
            refused += 1
            assert "largest exact quantity" in str(exc)
            continue
        signed += 1
        assert check_amounts(side, "FAK", tick, maker, taker) is None
        if side is Side.BUY:
            assert taker == int(qty * 1_000_000)  # exactly the shares asked
            implied = D(maker) / D(taker)
            assert price <= implied < price + tick  # never crosses to a worse tick
        else:
            assert maker == int(qty * 1_000_000)
            implied = D(taker) / D(maker)
            assert price - tick < implied <= price
    assert signed > refused


def test_limit_amounts_are_exact() -> None:
    assert limit_order_amounts(Side.BUY, D("7"), D("0.435"), D("0.001")) == (3_045_000, 7_000_000)
    assert check_amounts(Side.BUY, "GTC", D("0.001"), 3_045_000, 7_000_000) is None
    assert check_amounts(Side.BUY, "FAK", D("0.001"), 3_045_000, 7_000_000) == (
        "invalid amounts, the market buy orders maker amount supports a max accuracy of 2 decimals, "
        "taker amount a max of 4 decimals")
    assert check_amounts(Side.BUY, "GTC", D("0.01"), 3_045_010, 7_000_000) == (
        "invalid amounts, the buy orders maker amount supports a max accuracy of 4 decimals, "
        "taker amount a max of 2 decimals")
