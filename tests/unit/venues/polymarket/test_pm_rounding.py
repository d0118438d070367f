"""Order amounts: the official V2 rounding rules, computed exactly."""

from __future__ import annotations

import math
import random
from decimal import Decimal

import pytest

from arbkit.core.enums import Side
from arbkit.venues.polymarket.constants import ROUNDING_CONFIG
from arbkit.venues.polymarket.gateway import limit_order_amounts, market_order_amounts, round_config

ref = pytest.importorskip("py_clob_client_v2.order_builder.builder", reason="py-clob-client-v2 not installed")
helpers = pytest.importorskip("py_clob_client_v2.order_builder.helpers")


def test_rounding_config_mirrors_official() -> None:
    for tick, rc in ref.ROUNDING_CONFIG.items():
        mine = round_config(Decimal(tick))
        assert (mine.price, mine.size, mine.amount) == (rc.price, rc.size, rc.amount)
    assert set(ROUNDING_CONFIG) == {Decimal(t) for t in ref.ROUNDING_CONFIG}


def _float_floor_is_exact(x: Decimal, digits: int) -> bool:
    """Whether the official client's float round_down gets ``x`` right (it floors x*10**d in
    binary floating point, which loses a unit when e.g. 4951.86*100 == 495185.99999999994)."""
    return math.floor(float(x) * 10**digits) == int(x * 10**digits)


def test_amounts_equal_official_except_its_float_artefacts() -> None:
    ob = ref.OrderBuilder(None)
    rnd = random.Random(7)
    compared = differed = 0
    for tick, rc in ref.ROUNDING_CONFIG.items():
        t = Decimal(tick)
        for _ in range(1500):
            price = t * rnd.randint(1, int(1 / t) - 1)
            size = Decimal(rnd.randint(1, 1_000_000)) / 100
            for side in (Side.BUY, Side.SELL):
                o = ob.get_order_amounts(side.value, float(size), float(price), rc)
                m = limit_order_amounts(side, size, price, t)
                compared += 1
                if (o[1], o[2]) != m:
                    differed += 1
                    assert not _float_floor_is_exact(size, rc.size), (tick, side, size, price, o, m)
                amount = size if side is Side.SELL else Decimal(rnd.randint(100, 100_000)) / 100
                o = ob.get_market_order_amounts(side.value, float(amount), float(price), rc)
                m = market_order_amounts(side, amount, price, t)
                compared += 1
                if (o[1], o[2]) != m:
                    differed += 1
                    assert not (_float_floor_is_exact(amount, rc.size) and _float_floor_is_exact(price, rc.price)), (
                        tick, side, amount, price, o, m)
    assert compared > 30_000 and differed < compared * 0.2


def test_known_amounts() -> None:
    assert limit_order_amounts(Side.BUY, Decimal("10"), Decimal("0.57"), Decimal("0.01")) == (5_700_000, 10_000_000)
    assert limit_order_amounts(Side.SELL, Decimal("10"), Decimal("0.57"), Decimal("0.01")) == (10_000_000, 5_700_000)
    assert limit_order_amounts(Side.BUY, Decimal("4951.86"), Decimal("0.8"), Decimal("0.1")) == (3_961_488_000, 4_951_860_000)
    # market BUY: spend 5 at worst 0.3 -> 16.666666.. shares, up at 8 decimals then down to 4
    assert market_order_amounts(Side.BUY, Decimal("5"), Decimal("0.3"), Decimal("0.01")) == (5_000_000, 16_666_600)
    with pytest.raises(ValueError, match="tick size"):
        round_config(Decimal("0.02"))
