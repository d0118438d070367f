"""``await_balance`` at the KuCoin simulator: the execution engine runs a 3-leg cascade through the
real gateway; before leg 2 (and 3) it waits for the ``/account/balance`` change the venue reports
after the previous leg and spends min(fill-derived output, that balance). The user stream here books
fills with a zero fee (a wrong fee model), so only the venue's balance gives the true amount; when
the balance events are lost the leg is sized from the fills and BalanceWaitTimedOut is journaled."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal as D

import msgspec

from arbkit.core.clock import LiveClock
from arbkit.core.enums import Side, Venue
from arbkit.core.fees import FeeSpec
from arbkit.execution.backend import GatewayBackend
from arbkit.execution.engine import EngineConfig, ExecutionEngine
from arbkit.execution.intent import BookTop, HedgePolicy, Intent, IntentLeg, IntentTimestamps, IsolationKeys, Sequencing
from arbkit.execution.portfolio import Portfolio
from arbkit.execution.sizing import cascade_quantity
from arbkit.journal.store import Journal
from arbkit.risk.engine import RiskEngine
from arbkit.risk.limits import RiskLimits
from arbkit.sim.runner import SimRunner
from arbkit.venues.kucoin.auth import KucoinSigner
from arbkit.venues.kucoin.gateway import GatewayConfig, KucoinGateway
from arbkit.venues.kucoin.user import KucoinUserStream, UserStreamConfig


def top(runner: SimRunner, inst, now: int) -> BookTop:
    v = runner.engines["kucoin"].book(inst.symbol, depth=5)
    return BookTop(instrument_id=inst.id, bids=[(D(p), D(q)) for p, q in v["bids"]],
                   asks=[(D(p), D(q)) for p, q in v["asks"]], last_update_ns=now, sequence=1)


def cascade(eid: str, runner: SimRunner, insts: dict, now: int) -> Intent:
    """USDT -> ETH -> BTC -> USDT with worst prices 1 % through the touch."""
    eu, eb, bu = insts["ETH-USDT"], insts["ETH-BTC"], insts["BTC-USDT"]
    ask_eu = D(runner.engines["kucoin"].book("ETH-USDT")["asks"][0][0])
    bid_eb = D(runner.engines["kucoin"].book("ETH-BTC")["bids"][0][0])
    bid_bu = D(runner.engines["kucoin"].book("BTC-USDT")["bids"][0][0])
    legs = [IntentLeg(instrument=eu, side=Side.BUY, price=(ask_eu * D("1.01")).quantize(eu.tick_size), funds=D("300")),
            IntentLeg(instrument=eb, side=Side.SELL, price=(bid_eb * D("0.99")).quantize(eb.tick_size)),
            IntentLeg(instrument=bu, side=Side.SELL, price=(bid_bu * D("0.99")).quantize(bu.tick_size))]
    return Intent(execution_id=eid, legs=legs, sequencing=Sequencing.CASCADE, hedge=HedgePolicy(),
                  books=[top(runner, i, now) for i in (eu, eb, bu)], predicted_edge_bps=D("1"), predicted_profit=D("0.03"),
                  primary_quote="USDT", correlation_id=eid, timestamps=IntentTimestamps(created_ns=now, evaluated_ns=now,
                                                                                        book_updated_ns=now),
                  isolation=IsolationKeys(triangle="USDT-ETH-BTC"), strategy="triangle", signal_key=eid,
                  leg_timeout_s=3.0)


async def test_the_second_leg_is_sized_from_the_reported_balance_or_the_fills_on_timeout(tmp_path) -> None:
    runner = SimRunner(venues=["kucoin"], scenario="quiet", seed=5)
    sec = (await runner.start())["kucoin"]
    a = sec["accounts"][0]
    acct = a["api_key"]
    gw = KucoinGateway(KucoinSigner(a["api_key"], a["api_secret"], a["passphrase"]), GatewayConfig(rest_url=sec["rest_url"]))
    insts = {i.symbol: i for i in await gw.instruments(["ETH-USDT", "ETH-BTC", "BTC-USDT"])}
    eng = runner.engines["kucoin"]
    for cur in ("ETH", "BTC"):  # the account holds only what the cascade produces (the option's premise)
        eng.accounts.slot(acct, cur)[0] = D(0)
    backend = GatewayBackend(gw)
    zero_fee = {s: msgspec.structs.replace(i, fee=FeeSpec(kind="spot")) for s, i in insts.items()}
    user = KucoinUserStream(backend.deliver, gw, UserStreamConfig(endpoint_override=sec["ws_url"]),
                            instruments=zero_fee.get)
    clock = LiveClock()
    journal = Journal.open(tmp_path / "j.sqlite", clock=clock)
    portfolio = Portfolio()
    portfolio.set_balance(Venue.KUCOIN, "USDT", D("100000"))
    limits = RiskLimits(max_book_age_s=30.0, slots=2)
    limits.valuation.update({"BTC": D("90000"), "ETH": D("3000")})
    risk = RiskEngine(limits, clock, portfolio, journal)
    engine = ExecutionEngine(journal=journal, clock=clock, risk=risk, backends={Venue.KUCOIN: backend}, portfolio=portfolio,
                             config=EngineConfig(await_balance=user, await_balance_timeout_s=0.5))
    task = asyncio.create_task(user.run())
    try:
        for _ in range(250):
            if user._link.state.value == "CONNECTED":
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # both private subscriptions acked
        rep = await engine.execute(cascade("ab-1", runner, insts, clock.now_ns()))
        l0, l1 = rep.legs[0], rep.legs[1]
        eth_fill = l0.filled_quantity
        assert eth_fill > 0 and l1.requested_quantity == eth_fill  # leg 1's input is ETH (fee was in USDT)
        o1 = eng.order_by_client_id(acct, "ab-1-L1-A0")
        btc_reported = o1.deal_funds - o1.fee  # what the venue credited (the account held no BTC before)
        # the venue charged 0.1 % of leg 2's BTC proceeds; the zero-fee fills overstate them
        fills_btc = l1.filled_quantity * l1.avg_price
        assert o1.fee > 0 and btc_reported < fills_btc == o1.deal_funds
        leg2 = cascade("x", runner, insts, clock.now_ns()).legs[2]  # sizing reads only its instrument and side
        assert rep.legs[2].requested_quantity == cascade_quantity(leg2, btc_reported) < cascade_quantity(leg2, fills_btc)
        assert rep.status.value == "FILLED", rep
        assert not list(journal.scan(kinds=["BalanceWaitTimedOut"]))

        # the balance events are lost: leg 2 waits 0.5 s, then is sized from the (overstated) fills
        for cur in ("ETH", "BTC"):
            eng.accounts.slot(acct, cur)[0] = D(0)
        runner.faults.add_now({"kind": "WS_FREEZE", "venue": "kucoin", "match": "/account/balance", "times": 1000})
        rep2 = await engine.execute(cascade("ab-2", runner, insts, clock.now_ns()))
        journal.flush_sync(5)
        timed_out = [r.decode() for r in journal.replay(kinds=["BalanceWaitTimedOut"])]
        assert [(e.execution_id, e.leg_index, e.currency) for e in timed_out] == [("ab-2", 1, "ETH"), ("ab-2", 2, "BTC")]
        l1b = rep2.legs[1]
        assert rep2.legs[2].requested_quantity == cascade_quantity(leg2, l1b.filled_quantity * l1b.avg_price)
    finally:
        await user.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)
        journal.close_sync()
        await gw.close()
        await runner.stop()


def test_await_balance_is_a_checked_triangular_key_shown_by_config_check() -> None:
    import pytest

    from arbkit.runtime.config import ConfigError, loads_config

    base = ('[node]\nname = "t"\n[venues.kucoin]\nmode = "paper"\n[strategies.triangular]\nenabled = true\n'
            'min_edge_bps = "10"\nmax_start = { USDT = "100" }\n')
    cfg = loads_config(base + "await_balance = true\nawait_balance_timeout_ms = 1500\n")
    assert cfg.strategies.triangular.await_balance and any("await balance (timeout 1500 ms)" in x for x in cfg.summary())
    assert any("await_balance off" in x for x in loads_config(base).summary())
    with pytest.raises(ConfigError, match="strategies.triangular.await_balance_timeout_ms"):
        loads_config(base + "await_balance_timeout_ms = 0\n")
    with pytest.raises(ConfigError, match="strategies.triangular.await_balance"):
        loads_config(base + 'await_balance = "yes"\n')
