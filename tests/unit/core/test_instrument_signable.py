"""Instrument.signable_quantity: the size sizing may send so the venue takes it exactly (issue 11
item 7: never fewer shares than the saga asked)."""

from __future__ import annotations

from decimal import Decimal

from arbkit.core.enums import InstrumentKind, Side, TimeInForce, Venue
from arbkit.core.instruments import Instrument
from arbkit.venues.polymarket.amounts import ioc_order_amounts

D = Decimal


def pm(tick: str) -> Instrument:
    return Instrument(venue=Venue.POLYMARKET, symbol="tok", kind=InstrumentKind.OUTCOME, tick_size=D(tick),
                      size_increment=D("0.01"), min_size=D(5), quote="pUSD")


def test_polymarket_ioc_buy_on_a_thousandth_tick():
    inst = pm("0.001")
    # 7 @ 0.435: collateral 3.045 -> 3.05 (< one tick of price), signed for exactly 7 shares
    assert inst.signable_quantity(Side.BUY, D(7), D("0.435")) == 7
    maker, taker = ioc_order_amounts(Side.BUY, D(7), D("0.435"), D("0.001"))
    assert taker == 7_000_000 and maker == 3_050_000
    # 5 @ 0.435: 2.175 -> 2.18 would imply 0.436 (a tick worse): the exact size is 4 (2-cent multiples)
    assert inst.signable_quantity(Side.BUY, D(5), D("0.435")) == 4
    # the answer is always signable exactly
    for q in ("5", "5.5", "6.01", "13", "100"):
        s = inst.signable_quantity(Side.BUY, D(q), D("0.435"))
        assert s <= D(q)
        if s:
            ioc_order_amounts(Side.BUY, s, D("0.435"), D("0.001"))


def test_other_venues_and_limit_orders_take_any_on_grid_size():
    k = Instrument(venue=Venue.KALSHI, symbol="KX:yes", kind=InstrumentKind.OUTCOME, tick_size=D("0.01"),
                   size_increment=D(1), quote="USD")
    assert k.signable_quantity(Side.BUY, D("7.9"), D("0.435")) == 7
    assert pm("0.01").signable_quantity(Side.BUY, D("5.555"), D("0.37"), TimeInForce.GTC) == D("5.55")
