"""Simulator matching engine throughput: orders per second through ``MatchingEngine.submit``.

A deterministic stream (random.Random(0)) of limit orders on one binary market with the
Polymarket taker fee: 70 % passive (rest near the touch, on either outcome), 20 % aggressive
IOC/GTC orders that cross (transfers, mints and merges against the unified book), 10 % cancels.
Three accounts, funded and seeded with complete sets so sells are always possible. A listener is
subscribed (as a protocol server would be), so event batches are built and delivered.
"""

from __future__ import annotations

import random
import time
from decimal import Decimal

from bench.harness import percentiles

METHOD = (
    "MatchingEngine.submit/cancel over a seeded stream (70% resting limits, 20% crossing IOC/GTC incl. "
    "complement mints/merges, 10% cancels) on one binary market with Polymarket fees and a subscribed "
    "listener; orders/s = operations / wall time; per-op latency timed individually. Also the 'demo' "
    "scenario (both venues, makers, takers, dislocations, neg-risk) stepped on a simulated clock: steps/s "
    "and engine events/s."
)
TARGETS = {"orders_per_s": (">=", 10_000)}


def _stream(n: int, rng: random.Random) -> list[tuple]:
    ops = []
    for _ in range(n):
        r = rng.random()
        acct = ("a", "b", "c")[rng.randrange(3)]
        outcome = rng.randrange(2)
        buy = rng.random() < 0.5
        size = Decimal(rng.randrange(5, 60))
        if r < 0.1:
            ops.append(("cancel", acct, rng.randrange(1 << 30)))
        elif r < 0.8:
            # passive: a bid below 0.50 / an ask above 0.50 in the order's own outcome terms
            ticks = rng.randrange(35, 50) if buy else rng.randrange(51, 66)
            ops.append(("limit", acct, outcome, buy, size, Decimal(ticks) / 100, False))
        else:
            ticks = rng.randrange(50, 70) if buy else rng.randrange(30, 50)
            ops.append(("limit", acct, outcome, buy, size, Decimal(ticks) / 100, rng.random() < 0.7))
    return ops


def _engine():
    from arbkit.core.clock import SimClock
    from arbkit.core.fees import FeeSpec
    from arbkit.sim.engine import MarketSpec, MatchingEngine, SettlementConfig

    clock = SimClock()
    eng = MatchingEngine("polymarket", clock, settlement=SettlementConfig(instant=False), order_id_style="hex")
    eng.add_market(
        MarketSpec(market_id="m", yes_symbol="Y", no_symbol="N", fee=FeeSpec(kind="polymarket", taker_rate=Decimal("0.25"), exponent=2))
    )
    for a in ("a", "b", "c"):
        eng.accounts.create(a, {"USDC": Decimal(10_000_000)})
        eng.mint_for(a, "m", Decimal(1_000_000))
    events = [0]
    eng.subscribe(lambda batch: events.__setitem__(0, events[0] + len(batch)))
    return eng, events


def run(quick: bool) -> dict:
    from arbkit.core.enums import Side
    from arbkit.sim.engine import OrderParams, Tif

    n = 5_000 if quick else 100_000
    ops = _stream(n, random.Random(0))
    eng, events = _engine()
    live: list[tuple[str, str]] = []
    lat: list[int] = []
    trades_before = len(eng.trades())
    pc = time.perf_counter_ns
    t_start = pc()
    for op in ops:
        t0 = pc()
        if op[0] == "cancel":
            if live:
                acct, oid = live.pop(op[2] % len(live))
                eng.cancel(acct, oid)
        else:
            _, acct, outcome, buy, size, price, ioc = op
            res = eng.submit(
                OrderParams(
                    account_id=acct,
                    symbol="Y" if outcome == 0 else "N",
                    side=Side.BUY if buy else Side.SELL,
                    size=size,
                    price=price,
                    tif=Tif.IOC if ioc else Tif.GTC,
                )
            )
            if res.accepted and res.order is not None and res.order.status.value == "OPEN":
                live.append((acct, res.order.order_id))
        lat.append(pc() - t0)
    elapsed = (pc() - t_start) / 1e9
    trades = len(eng.trades()) - trades_before
    figures = {
        "operations": n,
        "orders_per_s": round(n / elapsed),
        "trades": trades,
        "trades_per_s": round(trades / elapsed),
        "events_per_s": round(events[0] / elapsed),
        "resting_orders_at_end": len(eng.open_orders()),
    }
    figures.update({f"op_{k}": v for k, v in percentiles(lat).items()})
    assert eng.accounts.all_non_negative()
    figures.update(_scenario_rate(50 if quick else 600))
    return figures


def _scenario_rate(steps: int) -> dict:
    from arbkit.core.clock import SimClock
    from arbkit.sim.faults import FaultPlan
    from arbkit.sim.runner import make_engine
    from arbkit.sim.scenario import load_scenario

    clock = SimClock()
    plan = FaultPlan(clock)
    sc = load_scenario("demo", 1)
    engines = {v: make_engine(v, clock, plan) for v in sc.venues}
    count = [0]
    for e in engines.values():
        e.subscribe(lambda b: count.__setitem__(0, count[0] + len(b)))
    sc.build(engines, clock)
    t0 = time.perf_counter()
    for _ in range(steps):
        clock.advance(sc.tick_s)
        sc.step()
        for e in engines.values():
            e.on_time()
    dt = time.perf_counter() - t0
    return {
        "demo_markets": len(sc.catalogue.markets),
        "demo_steps_per_s": round(steps / dt, 1),
        "demo_events_per_s": round(count[0] / dt),
        "demo_sim_seconds_per_wall_second": round(steps * sc.tick_s / dt, 1),
    }
