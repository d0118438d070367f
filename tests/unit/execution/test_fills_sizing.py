"""Fill accumulation by client order id, sizing helpers, portfolio booking."""

from __future__ import annotations

from decimal import Decimal

from exec_kit import BTC_USDT, ETH_BTC, KALSHI_NO, POLY_YES

from arbkit.core.enums import FillStatus, LiquiditySide, OrderStatus, Side, Venue
from arbkit.core.events import FillStatusChanged, OrderAccepted, OrderCanceled, OrderFilled
from arbkit.execution.fills import FillAccumulator, FillChangeKind
from arbkit.execution.portfolio import Portfolio
from arbkit.execution.sizing import buy_cost, cascade_quantity, max_buy_quantity
from arbkit.execution.intent import IntentLeg

D = Decimal


def fill(coid, tid, qty, price="0.5", fee="0", status=FillStatus.CONFIRMED):
    return OrderFilled(venue=Venue.KALSHI, instrument_id=KALSHI_NO.id, client_order_id=coid, venue_order_id="v", trade_id=tid,
                       side=Side.BUY, price=D(price), quantity=D(qty), fee=D(fee), fee_currency="USD",
                       liquidity=LiquiditySide.TAKER, status=status)


def test_accumulates_until_terminal_and_dedups():
    acc = FillAccumulator()
    of = acc.track("c1", Side.BUY, D("10"))
    acc.apply(OrderAccepted(venue=Venue.KALSHI, client_order_id="c1", venue_order_id="v1"), 5)
    assert of.status is OrderStatus.ACCEPTED and of.acked_ns == 5
    assert acc.apply(fill("c1", "t1", "4")).kind is FillChangeKind.NEW
    assert acc.apply(fill("c1", "t1", "4")).kind is FillChangeKind.DUPLICATE
    assert of.filled == 4 and not of.done and of.status is OrderStatus.PARTIALLY_FILLED
    # the venue says canceled with 6 filled: not done until the missing 2 arrive
    acc.apply(OrderCanceled(venue=Venue.KALSHI, client_order_id="c1", filled_quantity=D("6")))
    assert of.venue_terminal and of.missing_fills == 2 and not of.done
    acc.apply(fill("c1", "t2", "2", price="0.6"))
    assert of.done and of.avg_price == (D("2.0") + D("1.2")) / 6
    assert acc.apply(fill("zz", "t", "1")) is None  # unknown order


def test_correction_and_reversal():
    acc = FillAccumulator()
    of = acc.track("c2", Side.BUY, D("10"))
    acc.apply(fill("c2", "t1", "10", status=FillStatus.PROVISIONAL))
    assert of.status is OrderStatus.FILLED
    ch = acc.apply(fill("c2", "t1", "10", price="0.49"))
    assert ch.kind is FillChangeKind.CORRECTED and ch.old.price == D("0.5")
    ch = acc.apply(FillStatusChanged(venue=Venue.KALSHI, trade_id="t1", client_order_id="c2", status=FillStatus.FAILED))
    assert ch.kind is FillChangeKind.REVERSED and of.filled == 0 and of.status is OrderStatus.PARTIALLY_FILLED


def test_fee_hold_sizing_exact():
    # 0.01998001 BTC buys ETH-BTC at 0.05 with a 0.1 % fee charged in BTC
    q = max_buy_quantity(ETH_BTC, D("0.01998001"), D("0.05"))
    assert q == D("0.3992009")
    assert buy_cost(ETH_BTC, q, D("0.05")) <= D("0.01998001") < buy_cost(ETH_BTC, q + ETH_BTC.size_increment, D("0.05"))
    leg = IntentLeg(instrument=ETH_BTC, side=Side.SELL, price=D("0.05"))
    assert cascade_quantity(leg, D("0.12345678")) == D("0.1234567")
    # a non-linear fee (Polymarket) still never overspends
    q = max_buy_quantity(POLY_YES, D("10"), D("0.5"))
    assert buy_cost(POLY_YES, q, D("0.5")) <= 10 < buy_cost(POLY_YES, q + D("0.01"), D("0.5"))
    assert max_buy_quantity(BTC_USDT, D("0"), D("1")) == 0


def test_portfolio_books_spot_and_outcomes():
    pf = Portfolio()
    pf.apply_fill(BTC_USDT, Side.BUY, D("0.5"), D("50000"), D("25"), "USDT")
    assert pf.balance(Venue.KUCOIN, "USDT") == D("-25025") and pf.balance(Venue.KUCOIN, "BTC") == D("0.5")
    pf.apply_fill(BTC_USDT, Side.BUY, D("0.5"), D("50000"), D("25"), "USDT", sign=-1)  # reversal
    assert pf.balance(Venue.KUCOIN, "USDT") == 0 and pf.position(Venue.KUCOIN, BTC_USDT.id) == 0
    pf.apply_fill(KALSHI_NO, Side.BUY, D("10"), D("0.50"), D("0.18"), "USD")
    pf.apply_fill(KALSHI_NO, Side.BUY, D("10"), D("0.60"), D("0.17"), "USD")
    assert pf.exposure(Venue.KALSHI, KALSHI_NO.id) == (D("11.00"), "USD")
    pf.apply_fill(KALSHI_NO, Side.SELL, D("25"), D("0.70"), D("0"), "USD")
    assert pf.position(Venue.KALSHI, KALSHI_NO.id) == -5 and pf.positions[(Venue.KALSHI, KALSHI_NO.id)].avg_price == D("0.70")
