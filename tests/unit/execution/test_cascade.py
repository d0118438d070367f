"""3-leg cascade on a KuCoin-like triangle USDT -> BTC -> ETH -> USDT, checked to the last unit."""

from __future__ import annotations

from decimal import Decimal

from exec_kit import BTC_USDT, ETH_BTC, ETH_USDT, T0, triangle_intent

from arbkit.core.enums import Side, Venue
from arbkit.execution.engine import EngineConfig
from arbkit.execution.paper import PaperConfig, PaperFault
from arbkit.execution.report import ExecutionStatus
from arbkit.execution.sizing import buy_cost, max_buy_quantity

D = Decimal


async def test_triangle_fee_hold_and_increment_flooring(env_factory):
    env = env_factory()
    rep = await env.run(env.engine.execute(triangle_intent("tri-1", T0, funds="1000")))
    assert rep.status is ExecutionStatus.FILLED, rep
    l1, l2, l3 = rep.legs
    # leg 1: 1000 USDT buys floor(1000 / (50000 * 1.001), 1e-8) BTC; the 0.1 % fee is paid on top
    assert l1.requested_quantity == D("0.01998001") and l1.filled_quantity == D("0.01998001")
    assert l1.fee == D("0.9990005") and l1.fee_currency == "USDT"
    assert D("0.01998001") * D("50000") + l1.fee == D("999.9995005") <= D("1000")
    # leg 2: ETH-BTC is a buy: hold back the BTC fee it will charge, floor to 1e-7 ETH
    assert l2.requested_quantity == D("0.3992009")
    cost2 = buy_cost(ETH_BTC, D("0.3992009"), D("0.05"))
    assert cost2 == D("0.019980005045") <= D("0.01998001")
    assert buy_cost(ETH_BTC, D("0.3992010"), D("0.05")) > D("0.01998001")  # one more unit does not fit
    assert l2.fee == D("0.000019960045") and l2.fee_currency == "BTC"
    # leg 3: sell all the ETH (already on ETH-USDT's 1e-7 grid)
    assert l3.side is Side.SELL and l3.requested_quantity == D("0.3992009") and l3.filled_quantity == D("0.3992009")
    assert l3.fee == D("1.005986268")
    # profit in USDT to the last unit: 1005.986268 - 1.005986268 - 999.9995005
    assert rep.profit == D("4.980781232")
    # the only leftover is 4.955e-9 BTC, below BTC-USDT's 1e-8 increment: dust, reported
    assert [(r.asset, r.quantity, r.dust) for r in rep.residuals] == [("BTC", D("0.000000004955"), True)]
    assert env.portfolio.balance(Venue.KUCOIN, "USDT") == D("10004.980781232")
    assert env.portfolio.balance(Venue.KUCOIN, "ETH") == 0
    assert env.portfolio.balance(Venue.KUCOIN, "BTC") == D("0.000000004955")
    assert rep.effective_edge_bps == (D("4.980781232") / D("999.9995005") * 10000).quantize(D("0.01"))


async def test_triangle_partial_first_leg_feeds_the_rest(env_factory):
    faults = lambda req: PaperFault(fill_fraction=D("0.5")) if req.client_order_id.endswith("-L0-A0") else None  # noqa: E731
    env = env_factory(paper=PaperConfig(faults=faults))
    rep = await env.run(env.engine.execute(triangle_intent("tri-2", T0)))
    l1, l2, l3 = rep.legs[:3]
    assert l1.filled_quantity == D("0.00999000")  # floor(0.01998001 * 0.5, 1e-8)
    assert l2.requested_quantity == max_buy_quantity(ETH_BTC, D("0.00999"), D("0.05"))
    assert l3.requested_quantity == l2.filled_quantity
    assert rep.status is ExecutionStatus.FILLED and all(r.dust for r in rep.residuals)


async def test_triangle_leg2_rejected_sells_btc_back(env_factory):
    faults = lambda req: PaperFault(reject="pair suspended") if req.client_order_id.endswith("-L1-A0") else None  # noqa: E731
    env = env_factory(paper=PaperConfig(faults=faults))
    rep = await env.run(env.engine.execute(triangle_intent("tri-3", T0)))
    assert rep.status is ExecutionStatus.HEDGED, rep
    hedge = [lg for lg in rep.legs if lg.purpose == "hedge"]
    assert len(hedge) == 1
    h = hedge[0]
    assert h.instrument_id == BTC_USDT.id and h.side is Side.SELL and h.filled_quantity == D("0.01998001")
    assert h.client_order_id == "tri-3-L0-A1"
    # sold into the 49999.9 bid (worst price 2 % below it, on the 0.1 tick)
    assert h.avg_price == D("49999.9") and h.limit_price == D("49000.0")
    assert env.portfolio.balance(Venue.KUCOIN, "BTC") == 0
    assert rep.profit < 0 and rep.open_residuals == []


async def test_triangle_leg3_partial_markets_out_the_eth(env_factory):
    faults = lambda req: PaperFault(fill_fraction=D("0.5")) if req.client_order_id.endswith("-L2-A0") else None  # noqa: E731
    env = env_factory(paper=PaperConfig(faults=faults))
    rep = await env.run(env.engine.execute(triangle_intent("tri-4", T0)))
    assert rep.status is ExecutionStatus.HEDGED
    hedge = [lg for lg in rep.legs if lg.purpose == "hedge"]
    assert [(h.instrument_id, h.side, h.filled_quantity) for h in hedge] == [(ETH_USDT.id, Side.SELL, D("0.1996005"))]
    assert env.portfolio.balance(Venue.KUCOIN, "ETH") == 0


async def test_balance_override_caps_the_next_leg(env_factory):
    # the venue's balance stream says only 0.01 BTC is available: leg 2 spends that, not the fill
    cfg = EngineConfig(balance_source=lambda venue, cur: D("0.01") if cur == "BTC" else None)
    env = env_factory(config=cfg)
    rep = await env.run(env.engine.execute(triangle_intent("tri-5", T0)))
    assert rep.legs[1].requested_quantity == max_buy_quantity(ETH_BTC, D("0.01"), D("0.05")) == D("0.1998001")
    # the BTC not converted is sold back: the saga is compensated, not left open
    assert rep.status is ExecutionStatus.HEDGED and rep.open_residuals == []
