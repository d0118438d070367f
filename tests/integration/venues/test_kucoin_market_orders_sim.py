"""KuCoin market orders against the simulator over loopback: a buy by funds (quantised to
quoteIncrement) spends at most the funds, fee included, in the pair's fee currency; a sell by size
(quantised to baseIncrement) trades at most the size; minimums are refused with the reason before
anything is sent, and the simulator refuses an off-increment or below-minimum body itself."""

from __future__ import annotations

import asyncio
import contextlib
import json
from decimal import Decimal as D

import pytest

from arbkit.core.enums import Side
from arbkit.core.events import OrderFilled, OrderRejected
from arbkit.sim.runner import SimRunner
from arbkit.venues.kucoin.auth import KucoinSigner
from arbkit.venues.kucoin.gateway import GatewayConfig, KucoinGateway
from arbkit.venues.kucoin.parse import KucoinError
from arbkit.venues.kucoin.user import KucoinUserStream, UserStreamConfig


@pytest.fixture
async def sim():
    runner = SimRunner(venues=["kucoin"], scenario="quiet", seed=3)
    info = await runner.start()
    try:
        yield runner, info["kucoin"]
    finally:
        await runner.stop()


def gateway(sec: dict, i: int = 0) -> KucoinGateway:
    a = sec["accounts"][i]
    return KucoinGateway(KucoinSigner(a["api_key"], a["api_secret"], a["passphrase"]),
                         GatewayConfig(rest_url=sec["rest_url"]))


def balance(runner: SimRunner, account: str, cur: str) -> D:
    t, _ = runner.engines["kucoin"].accounts.slot(account, cur)
    return t


async def eventually(pred, timeout: float = 5.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        if loop.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_market_buy_by_funds_and_sell_by_size(sim) -> None:
    runner, sec = sim
    gw = gateway(sec)
    insts = {i.symbol: i for i in await gw.instruments()}
    eth = insts["ETH-USDT"]
    acct = sec["accounts"][0]["api_key"]
    fills: list = []
    user = KucoinUserStream(fills.append, gw, UserStreamConfig(endpoint_override=sec["ws_url"]))
    task = asyncio.create_task(user.run())
    try:
        await eventually(lambda: user._link.state.value == "CONNECTED", 5, "user stream up")
        await asyncio.sleep(0.2)  # subscriptions acked
        usdt0, eth0 = balance(runner, acct, "USDT"), balance(runner, acct, "ETH")
        # buy by funds: 12345.6789123 USDT floored to quoteIncrement 0.000001
        res = await gw.submit_market(eth, "mkt-buy-1", Side.BUY, funds=D("12345.6789123"))
        assert res.accepted, res.events
        assert gw._prepared["mkt-buy-1"]["funds"] == "12345.678912"
        spent = usdt0 - balance(runner, acct, "USDT")
        got = balance(runner, acct, "ETH") - eth0
        assert D(0) < spent <= D("12345.678912")
        assert got > 0 and got % D(gw._symbols["ETH-USDT"].base_increment) == 0
        o = runner.engines["kucoin"].order_by_client_id(acct, "mkt-buy-1")
        assert o.type == "market" and o.status == "FILLED" and not o.active and o.hold == 0
        assert spent == o.deal_funds + o.fee and o.fee_currency == "USDT"  # fee in the quote (feeCurrency)
        # less than one more increment's worth is left of the funds
        best_ask = max(t.price for t in runner.engines["kucoin"].trade_objs(acct, "ETH-USDT"))
        assert D("12345.678912") - spent < best_ask * D(gw._symbols["ETH-USDT"].base_increment) * D("1.001")
        await eventually(lambda: sum(f.quantity for f in fills if isinstance(f, OrderFilled)
                                     and f.client_order_id == "mkt-buy-1") == got, 5, "the buy's fills")
        buy_fills = [f for f in fills if isinstance(f, OrderFilled) and f.client_order_id == "mkt-buy-1"]
        assert {f.fee_currency for f in buy_fills} == {"USDT"} and sum(f.fee for f in buy_fills) == o.fee
        # sell by size, floored to baseIncrement 0.0000001
        usdt1, eth1 = balance(runner, acct, "USDT"), balance(runner, acct, "ETH")
        res = await gw.submit_market(eth, "mkt-sell-1", Side.SELL, size=D("1.234567891"))
        assert res.accepted, res.events
        assert gw._prepared["mkt-sell-1"]["size"] == "1.2345678"
        assert eth1 - balance(runner, acct, "ETH") == D("1.2345678")
        s = runner.engines["kucoin"].order_by_client_id(acct, "mkt-sell-1")
        assert balance(runner, acct, "USDT") - usdt1 == s.deal_funds - s.fee
        st = await gw.order_state("mkt-sell-1")
        assert st is not None and st.filled_quantity == D("1.2345678")
    finally:
        await user.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)
        await gw.close()


async def test_market_minimums_are_refused_with_the_reason(sim) -> None:
    runner, sec = sim
    gw = gateway(sec)
    eth = {i.symbol: i for i in await gw.instruments()}["ETH-USDT"]
    acct = sec["accounts"][0]["api_key"]
    res = await gw.submit_market(eth, "mkt-small", Side.BUY, funds=D("0.0999999"))
    assert not res.accepted
    ev = res.events[0]
    assert isinstance(ev, OrderRejected) and "below the minimum 0.1" in ev.reason
    res = await gw.submit_market(eth, "mkt-tiny", Side.SELL, size=D("0.00009999"))
    assert not res.accepted and "below baseMinSize 0.0001" in res.events[0].reason
    res = await gw.submit_market(eth, "mkt-both", Side.BUY, funds=D("10"), size=D("1"))
    assert not res.accepted and "exactly one" in res.events[0].reason
    assert runner.engines["kucoin"].orders(acct) == []  # nothing reached the venue
    # the simulator refuses what the gateway would never send
    for body, why in (({"funds": "10.0000001"}, "funds increment"), ({"funds": "0.05"}, "below the minimum"),
                      ({"size": "0.00000001"}, "size increment"), ({}, "exactly one")):
        full = {"clientOid": "raw", "symbol": "ETH-USDT", "side": "buy", "type": "market", **body}
        with pytest.raises(KucoinError) as e:
            await gw._call("POST", "/api/v1/hf/orders/sync", body=json.dumps(full))
        assert why in e.value.msg.lower() or why in e.value.msg, (body, e.value.msg)
    assert runner.engines["kucoin"].orders(acct) == []
    await gw.close()
