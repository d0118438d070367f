"""Crash recovery: a journal interrupted at several points, a new engine on the same file and a
venue (the same paper backend) that knows which orders exist. No order is ever sent twice."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from exec_kit import (
    CrashingBackend,
    T0,
    cross_venue_intent,
    drive,
    replay_kinds,
    run_until_crash,
    triangle_intent,
)

from arbkit.core.enums import Venue
from arbkit.execution.engine import EngineConfig
from arbkit.execution.intent import Sequencing
from arbkit.execution.paper import PaperBackend, PaperConfig, PaperFault, SnapshotRegistry
from arbkit.execution.recovery import recover
from arbkit.execution.report import ExecutionStatus

D = Decimal


def venues(clock, paper=None):
    reg = SnapshotRegistry()
    bal = {Venue.POLYMARKET: {"pUSD": D("1000")}, Venue.KALSHI: {"USD": D("1000")}, Venue.KUCOIN: {"USDT": D("10000")}}
    return {v: PaperBackend(v, clock, reg, (paper or {}).get(v) or PaperConfig(), dict(bal[v])) for v in bal}


def sent(backends) -> Counter:
    return Counter(r.client_order_id for b in backends.values() for r in b.submitted)


async def crash_then_restart(env_factory, intent, *, before=(), after=(), mode="complete", paper=None):
    from arbkit.core.clock import SimClock
    from exec_kit import T0 as start

    clock = SimClock(start_ns=start)
    real = venues(clock, paper)
    wrapped = {v: CrashingBackend(b, before=before, after=after) for v, b in real.items()}
    env1 = env_factory(clock=clock, backends=wrapped)
    assert env1.engine.submit(intent).approved
    await run_until_crash(env1)
    saga1 = env1.engine.sagas[intent.execution_id]
    assert saga1.report is None, "the crash must interrupt the saga"
    # restart: new engine, same journal file, same venues (they kept their orders)
    env2 = env_factory(clock=clock, backends=real, path=env1.path, config=EngineConfig(recovery_mode=mode))
    rr = await recover(env2.engine)
    rep = await drive(clock, env2.engine.wait(intent.execution_id))
    return env2, rr, rep, real


async def test_crash_after_intent_journaled_before_send(env_factory):
    intent = cross_venue_intent("rc-1", T0, seq=Sequencing.SEQUENTIAL)
    env, rr, rep, real = await crash_then_restart(env_factory, intent, before={"rc-1-L0-A0"})
    assert rr.interrupted == ["rc-1"] and rr.orders_never_sent == ["rc-1-L0-A0"] and rr.orders_to_resend == []
    assert rep.status is ExecutionStatus.ABORTED and rep.recovered
    assert sent(real) == Counter()  # nothing reached any venue, nothing was sent on restart
    assert env.risk.capital.reserved == {} and env.risk.in_flight == {}
    assert replay_kinds(env.journal, "rc-1").count("ExecutionReported") == 1


async def test_crash_after_leg1_fill_before_leg2_completes(env_factory):
    intent = cross_venue_intent("rc-2", T0, seq=Sequencing.SEQUENTIAL)
    env, rr, rep, real = await crash_then_restart(env_factory, intent, before={"rc-2-L1-A0"})
    assert rr.orders_at_venue == [] and rr.orders_never_sent == ["rc-2-L1-A0"]
    assert rr.orders_to_resend == ["rc-2-L1-A0"]
    assert rep.status is ExecutionStatus.FILLED and rep.recovered
    assert sent(real) == Counter({"rc-2-L0-A0": 1, "rc-2-L1-A0": 1})
    assert [lg.filled_quantity for lg in rep.legs] == [D("10"), D("10")]


async def test_crash_after_leg1_fill_before_leg2_compensates(env_factory):
    intent = cross_venue_intent("rc-3", T0, seq=Sequencing.SEQUENTIAL)
    env, rr, rep, real = await crash_then_restart(env_factory, intent, before={"rc-3-L1-A0"}, mode="compensate")
    assert rep.status is ExecutionStatus.HEDGED
    assert sent(real) == Counter({"rc-3-L0-A0": 1, "rc-3-L0-A1": 1})  # leg 2 never sent; leg 1 unwound
    assert real[Venue.POLYMARKET].shares.get("polymarket:tok-yes") == 0


async def test_crash_after_venue_took_leg2_before_its_answer_was_journaled(env_factory):
    intent = cross_venue_intent("rc-4", T0, seq=Sequencing.SEQUENTIAL)
    env, rr, rep, real = await crash_then_restart(env_factory, intent, after={"rc-4-L1-A0"})
    assert rr.orders_at_venue == ["rc-4-L1-A0"] and rr.orders_never_sent == []
    assert rep.status is ExecutionStatus.FILLED
    assert sent(real) == Counter({"rc-4-L0-A0": 1, "rc-4-L1-A0": 1})
    # the leg-2 fill was fetched from the venue and journaled after the restart
    fills = [r.decode() for r in env.journal.replay(correlation_id="rc-4", kinds=["OrderFilled"])]
    assert sorted(f.client_order_id for f in fills) == ["rc-4-L0-A0", "rc-4-L1-A0"]


async def test_crash_in_cascade_between_legs_completes_to_the_same_numbers(env_factory):
    intent = triangle_intent("rc-5", T0)
    env, rr, rep, real = await crash_then_restart(env_factory, intent, before={"rc-5-L1-A0"})
    assert rep.status is ExecutionStatus.FILLED
    assert rep.profit == D("4.980781232")  # exactly the uninterrupted result
    assert sent(real) == Counter({"rc-5-L0-A0": 1, "rc-5-L1-A0": 1, "rc-5-L2-A0": 1})


async def test_crash_during_hedge_does_not_hedge_twice(env_factory):
    paper = {Venue.KALSHI: PaperConfig(faults=lambda r: PaperFault(reject="closed") if r.client_order_id.endswith("-L1-A0") else None)}
    intent = cross_venue_intent("rc-6", T0)
    env, rr, rep, real = await crash_then_restart(env_factory, intent, after={"rc-6-L0-A1"}, paper=paper)
    assert rr.orders_at_venue == ["rc-6-L0-A1"]
    assert rep.status is ExecutionStatus.HEDGED
    assert sent(real) == Counter({"rc-6-L0-A0": 1, "rc-6-L1-A0": 1, "rc-6-L0-A1": 1})
    assert real[Venue.POLYMARKET].shares.get("polymarket:tok-yes") == 0


async def test_terminal_sagas_are_not_touched(env_factory):
    env1 = env_factory()
    rep1 = await env1.run(env1.engine.execute(cross_venue_intent("rc-7", T0)))
    env1.journal.close_sync()
    env2 = env_factory(path=env1.path, backends=env1.backends, clock=env1.clock)
    rr = await recover(env2.engine)
    assert rr.interrupted == [] and rr.sagas_seen == 1
    assert env2.engine.reports == [rep1]


def test_bad_mode_refused():
    with pytest.raises(ValueError):
        import asyncio

        asyncio.run(recover(object(), mode="yolo"))  # type: ignore[arg-type]


class LaggingVenue:
    """A venue that had not yet processed an order when recovery first asked about it."""

    def __init__(self, inner, late_coid):
        self.inner = inner
        self.venue = inner.venue
        self.late_coid = late_coid
        self.asked = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def order_state(self, coid, voi=""):
        if coid == self.late_coid and self.asked == 0:
            self.asked += 1
            return None  # not there yet...
        return await self.inner.order_state(coid, voi)


async def test_order_in_flight_during_crash_is_adopted_not_doubled(env_factory):
    from arbkit.core.clock import SimClock
    from arbkit.core.orders import OrderRequest

    clock = SimClock(start_ns=T0)
    real = venues(clock)
    intent = cross_venue_intent("rc-8", T0, seq=Sequencing.SEQUENTIAL)
    env1 = env_factory(clock=clock, backends={v: CrashingBackend(b, before={"rc-8-L1-A0"}) for v, b in real.items()})
    assert env1.engine.submit(intent).approved
    await run_until_crash(env1)
    # ...but the request had left: the venue processes it after our restart began
    leg = intent.legs[1]
    late = OrderRequest(instrument=leg.instrument, client_order_id="rc-8-L1-A0", side=leg.side, quantity=D("10"), price=leg.price,
                        order_type=leg.order_type, time_in_force=leg.time_in_force)
    kal = LaggingVenue(real[Venue.KALSHI], "rc-8-L1-A0")
    backends = dict(real)
    backends[Venue.KALSHI] = kal
    env2 = env_factory(clock=clock, backends=backends, path=env1.path)
    env2.snapshots.update(intent.books)  # the market the venue matches it against
    res = await real[Venue.KALSHI].submit(late)
    assert res.accepted and real[Venue.KALSHI].shares["kalshi:KXTEST-26:no"] == 10
    rr = await recover(env2.engine)
    assert rr.orders_to_resend == ["rc-8-L1-A0"]
    rep = await drive(clock, env2.engine.wait("rc-8"))
    # the resend met the venue's duplicate check; the engine adopted the existing order
    assert rep.status is ExecutionStatus.FILLED
    assert real[Venue.KALSHI].shares["kalshi:KXTEST-26:no"] == 10  # executed once
    assert env2.portfolio.position(Venue.KALSHI, "kalshi:KXTEST-26:no") == 10


async def test_crash_between_terminal_transition_and_report(env_factory):
    from arbkit.core.clock import SimClock
    from exec_kit import Crash

    clock = SimClock(start_ns=T0)
    real = venues(clock)
    env1 = env_factory(clock=clock, backends=real)
    orig = env1.journal.append

    def append(kind, payload, correlation_id="", ts_ns=None):
        if kind == "ExecutionReported":
            raise Crash("died between the terminal transition and the report")
        return orig(kind, payload, correlation_id=correlation_id, ts_ns=ts_ns)

    env1.journal.append = append
    assert env1.engine.submit(cross_venue_intent("rc-9", T0)).approved
    await run_until_crash(env1)
    env2 = env_factory(clock=clock, backends=real, path=env1.path)
    rr = await recover(env2.engine)
    assert rr.interrupted == ["rc-9"]
    rep = await drive(clock, env2.engine.wait("rc-9"))
    assert rep.status is ExecutionStatus.FILLED and rep.recovered
    assert sent(real) == Counter({"rc-9-L0-A0": 1, "rc-9-L1-A0": 1})
    assert replay_kinds(env2.journal, "rc-9").count("ExecutionReported") == 1


class FillsUnlisted:
    """The venue after the restart, whose fills listing does not show our orders (the KuCoin HF
    fills endpoint is per symbol; a restarted gateway once asked none): order lookups work."""

    def __init__(self, inner: PaperBackend) -> None:
        self.inner = inner
        self.venue = inner.venue

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def fills_since(self, ts_ns: int):
        return []


async def test_cascade_leg_the_venue_says_filled_is_exposure_even_without_its_fills(env_factory):
    """Found by the triangle chaos test: recovery took a leg the venue reported FILLED, whose fill
    records it could not fetch, as "no exposure" and canceled the cascade. The venue's word is
    exposure: under "complete" the cascade goes on (the leg booked at its limit until its fill
    comes), nothing is canceled, no order is sent twice."""
    from arbkit.core.clock import SimClock

    intent = triangle_intent("rc-9", T0)
    clock = SimClock(start_ns=T0)
    real = venues(clock)
    env1 = env_factory(clock=clock, backends={v: CrashingBackend(b, after={"rc-9-L0-A0"}) for v, b in real.items()})
    assert env1.engine.submit(intent).approved
    await run_until_crash(env1)
    env2 = env_factory(clock=clock, backends={v: FillsUnlisted(b) for v, b in real.items()}, path=env1.path,
                       config=EngineConfig(recovery_mode="complete"))
    rr = await recover(env2.engine)
    rep = await drive(clock, env2.engine.wait("rc-9"))
    assert rr.orders_at_venue == ["rc-9-L0-A0"]
    assert "ExecutionCancelRequested" not in replay_kinds(env2.journal, "rc-9")
    assert rep.status is ExecutionStatus.FILLED and rep.recovered
    assert sent(real) == Counter({"rc-9-L0-A0": 1, "rc-9-L1-A0": 1, "rc-9-L2-A0": 1})
