"""The ``kucoin`` scenario: a triangle-rich universe whose books are consistent (every triangle's
mid round trip is 1 within a spread), increments from the real symbol list when ../shared is there,
funded multi-currency test accounts, and makers that refill what a taker took."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import pytest

from arbkit.sim.kucoin.universe import shared_symbols_file
from arbkit.sim.runner import SimRunner


@pytest.fixture
async def runner():
    r = SimRunner(venues=["kucoin"], scenario="kucoin", seed=11)
    info = await r.start()
    try:
        yield r, info["kucoin"]
    finally:
        await r.stop()


def mid(eng, s: str) -> D:
    b = eng.book(s)
    return (D(b["bids"][0][0]) + D(b["asks"][0][0])) / 2


async def test_triangles_are_consistent_and_accounts_funded(runner) -> None:
    r, sec = runner
    eng = r.engines["kucoin"]
    syms = {m["symbol"] for m in sec["markets"]}
    assert {"BTC-USDT", "ETH-USDT", "ETH-BTC", "XRP-ETH"} <= syms
    for base, mid_q in (("ETH", "BTC"), ("XRP", "BTC"), ("XRP", "ETH"), ("LTC", "ETH"), ("KCS", "BTC")):
        direct = mid(eng, f"{base}-USDT")
        via = mid(eng, f"{base}-{mid_q}") * mid(eng, f"{mid_q}-USDT")
        assert abs(via / direct - 1) < D("0.001"), (base, mid_q, via, direct)
    for s in syms:
        b = eng.book(s)
        assert D(b["bids"][0][0]) < D(b["asks"][0][0]) and len(b["bids"]) == len(b["asks"]) == 3
    acct = sec["accounts"][0]["api_key"]
    bal = {x["currency"]: D(x["total"]) for x in eng.accounts.balances(acct)}
    assert bal["BTC"] == D(1000) and bal["USDT"] >= D(10_000_000)
    if shared_symbols_file() is not None:  # the whole real list: hundreds of pairs
        assert sec["universe_source"].startswith("shared:") and len(syms) > 400
        assert eng.spot_markets["BTC-USDT"].price_increment == D("0.1")


async def test_dislocations_move_one_pair_off_its_triangle(runner) -> None:
    r, sec = runner
    srv = r.servers["kucoin"]
    srv.disl_p = 1.0  # force one on the next tick
    await asyncio.sleep(r.scenario.tick_s * 1.5)
    assert srv.dislocation_log and srv.dislocated
    sym = srv.dislocation_log[-1]["symbol"]
    factor, _ = srv.dislocated[sym]
    assert abs(factor - 1) == D(40) / D(10000)


async def test_makers_refill_a_taken_level(runner) -> None:
    r, sec = runner
    eng = r.engines["kucoin"]
    acct = sec["accounts"][0]["api_key"]
    best_ask = D(eng.book("ETH-USDT")["asks"][0][0])
    size = D(eng.book("ETH-USDT")["asks"][0][1])
    o = eng.submit(acct, symbol="ETH-USDT", side="buy", price=best_ask, size=size, tif="IOC")
    assert o.deal_size == size and o.status == "FILLED"
    await asyncio.sleep(r.scenario.tick_s * 2.5)
    asks = eng.book("ETH-USDT")["asks"]
    assert len(asks) == 3, asks
    assert eng.accounts.all_non_negative()
