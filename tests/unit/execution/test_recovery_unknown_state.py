"""Recovery when a venue cannot say whether it has an order (``OrderStateUnknown``): ask again
with bounded backoff on the engine's clock; if it never says, never resend, send no later leg,
hold the saga with a journaled alert -- and resume it once the venue answers."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

from exec_kit import T0, CrashingBackend, cross_venue_intent, drive, replay_kinds, run_until_crash

from arbkit.core.clock import NS, SimClock
from arbkit.core.enums import Venue
from arbkit.execution.engine import EngineConfig
from arbkit.execution.intent import Sequencing
from arbkit.execution.paper import PaperBackend, PaperConfig, SnapshotRegistry
from arbkit.execution.recovery import LookupRetry, recheck_held, recover
from arbkit.execution.report import ExecutionStatus
from arbkit.execution.saga import SagaState
from arbkit.venues.common.http import OrderStateUnknown

D = Decimal
LOOKUP = LookupRetry(attempts=4, first_backoff_s=0.5, max_backoff_s=4.0, max_total_s=10.0)


class UnsureVenue:
    """A venue (the paper backend that outlived us) whose order lookup cannot answer the first
    ``unknown_for`` questions about ``coid`` (None: never), then answers truthfully."""

    def __init__(self, inner: PaperBackend, coid: str, unknown_for: int | None, exc: type[Exception] | None = None) -> None:
        self.inner = inner
        self.venue = inner.venue
        self.coid = coid
        self.unknown_for = unknown_for
        self.exc = exc
        self.asked: list[int] = []  # clock time of each question about coid

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def order_state(self, coid, voi=""):
        if coid == self.coid:
            self.asked.append(self.clock_ns())
            if self.unknown_for is None or len(self.asked) <= self.unknown_for:
                if self.exc is not None:
                    raise self.exc("connection reset")
                raise OrderStateUnknown(self.venue.value, coid, "HTTP 503 after retries")
        return await self.inner.order_state(coid, voi)

    def clock_ns(self) -> int:
        return self.inner.clock.now_ns()


def venues(clock):
    reg = SnapshotRegistry()
    bal = {Venue.POLYMARKET: {"pUSD": D("1000")}, Venue.KALSHI: {"USD": D("1000")}, Venue.KUCOIN: {"USDT": D("10000")}}
    return {v: PaperBackend(v, clock, reg, PaperConfig(), dict(bal[v])) for v in bal}


def sent(backends) -> Counter:
    return Counter(r.client_order_id for b in backends.values() for r in b.submitted)


async def crash_after_leg0_reached_venue(env_factory, eid: str, unknown_for: int | None, exc=None):
    """Leg 0 reached the venue and filled, the process died before journaling the answer; the
    restarted engine's Polymarket lookup is unsure about it."""
    clock = SimClock(start_ns=T0)
    real = venues(clock)
    intent = cross_venue_intent(eid, T0, seq=Sequencing.SEQUENTIAL)
    env1 = env_factory(clock=clock, backends={v: CrashingBackend(b, after={f"{eid}-L0-A0"}) for v, b in real.items()})
    assert env1.engine.submit(intent).approved
    await run_until_crash(env1)
    assert sent(real) == Counter({f"{eid}-L0-A0": 1})
    unsure = UnsureVenue(real[Venue.POLYMARKET], f"{eid}-L0-A0", unknown_for, exc)
    backends = dict(real)
    backends[Venue.POLYMARKET] = unsure
    env2 = env_factory(clock=clock, backends=backends, path=env1.path, config=EngineConfig(recovery_mode="complete"))
    t0 = clock.now_ns()
    rr = await drive(clock, recover(env2.engine, lookup=LOOKUP))
    return env2, rr, real, unsure, t0


async def test_answer_within_budget_recovers_normally(env_factory):
    env, rr, real, unsure, t0 = await crash_after_leg0_reached_venue(env_factory, "uk-1", unknown_for=2)
    # asked 3 times: 2 unknown answers, backoff 0.5 s then 1 s on the engine's clock
    assert [a - t0 for a in unsure.asked[:3]] == [0, int(0.5 * NS), int(1.5 * NS)]
    assert rr.orders_unknown == [] and rr.held == {}
    assert rr.orders_at_venue == ["uk-1-L0-A0"] and rr.orders_never_sent == []
    rep = await drive(env.clock, env.engine.wait("uk-1"))
    assert rep.status is ExecutionStatus.FILLED and rep.recovered
    assert sent(real) == Counter({"uk-1-L0-A0": 1, "uk-1-L1-A0": 1})  # leg 0 adopted, never resent
    assert [lg.filled_quantity for lg in rep.legs] == [D("10"), D("10")]
    assert "ResidualAlerted" not in replay_kinds(env.journal, "uk-1")


async def test_never_answers_holds_the_saga_without_resending(env_factory):
    env, rr, real, unsure, t0 = await crash_after_leg0_reached_venue(env_factory, "uk-2", unknown_for=None)
    # bounded: 4 questions, 0.5 + 1 + 2 s of backoff, no more
    assert len(unsure.asked) == 4 and env.clock.now_ns() - t0 == int(3.5 * NS)
    assert rr.orders_unknown == ["uk-2-L0-A0"] and rr.orders_never_sent == [] and rr.orders_to_resend == []
    assert "uk-2-L0-A0" in rr.held["uk-2"] and "HTTP 503" in rr.held["uk-2"]
    await drive(env.clock, env.engine.wait_idle())
    env.clock.advance(60)
    await drive(env.clock, env.engine.wait_idle())
    # nothing resent, no later leg: the only order the venue ever saw is the pre-crash one
    assert sent(real) == Counter({"uk-2-L0-A0": 1})
    saga = env.engine.sagas["uk-2"]
    assert saga.report is None and not saga.done.is_set()
    assert saga.orders["uk-2-L0-A0"].needs_send is False  # never read as "never sent"
    assert env.engine.status()["in_flight"] == {"uk-2": SagaState.RUNNING.value}
    assert "uk-2" in env.risk.in_flight  # capital and slot stay reserved: the order may be live
    env.journal.flush_sync(5)
    alerts = [r.decode() for r in env.journal.replay(correlation_id="uk-2", kinds=["ResidualAlerted"])]
    assert len(alerts) == 1 and "uk-2-L0-A0" in alerts[0].reason and "unknown" in alerts[0].reason
    kinds = replay_kinds(env.journal, "uk-2")
    assert "ExecutionReported" not in kinds and kinds.count("LegSubmitted") == 1


async def test_held_saga_resumes_when_the_venue_answers(env_factory):
    env, rr, real, unsure, _ = await crash_after_leg0_reached_venue(env_factory, "uk-3", unknown_for=None)
    assert "uk-3" in rr.held
    # still unknown: stays held (one hold and one alert, not one per re-check)
    again = await drive(env.clock, recheck_held(env.engine, "uk-3", lookup=LookupRetry(attempts=1)))
    assert "uk-3" in again.held and env.engine.sagas["uk-3"].report is None
    unsure.unknown_for = len(unsure.asked)  # the venue is back
    rr2 = await drive(env.clock, recheck_held(env.engine, "uk-3", lookup=LOOKUP))
    assert rr2.held == {} and rr2.orders_at_venue == ["uk-3-L0-A0"]
    rep = await drive(env.clock, env.engine.wait("uk-3"))
    assert rep.status is ExecutionStatus.FILLED
    assert sent(real) == Counter({"uk-3-L0-A0": 1, "uk-3-L1-A0": 1})
    kinds = replay_kinds(env.journal, "uk-3")
    assert kinds.count("SagaHeld") == 1 and kinds.count("ResidualAlerted") == 1 and "SagaResolved" in kinds
    assert env.risk.in_flight == {} and env.risk.capital.reserved == {}


async def test_held_saga_is_asked_again_after_another_restart(env_factory):
    env, rr, real, unsure, _ = await crash_after_leg0_reached_venue(env_factory, "uk-4", unknown_for=None)
    env.journal.close_sync()
    env3 = env_factory(clock=env.clock, backends=real, path=env.path)  # venue reachable again
    rr3 = await drive(env.clock, recover(env3.engine, lookup=LOOKUP))
    assert rr3.interrupted == ["uk-4"] and rr3.held == {} and rr3.orders_at_venue == ["uk-4-L0-A0"]
    rep = await drive(env.clock, env3.engine.wait("uk-4"))
    assert rep.status is ExecutionStatus.FILLED
    assert sent(real) == Counter({"uk-4-L0-A0": 1, "uk-4-L1-A0": 1})


async def test_other_lookup_errors_keep_the_conservative_path(env_factory):
    env, rr, real, unsure, t0 = await crash_after_leg0_reached_venue(env_factory, "uk-5", unknown_for=1, exc=RuntimeError)
    assert len(unsure.asked) == 1 and env.clock.now_ns() == t0  # asked once, no backoff
    assert rr.held == {} and rr.orders_unknown == [] and rr.orders_never_sent == []
    assert any("uk-5-L0-A0" in n and "treated as sent" in n for n in rr.notes)
    await drive(env.clock, env.engine.wait("uk-5"))
    assert sent(real)["uk-5-L0-A0"] == 1  # never resent


def test_lookup_retry_refuses_nonsense():
    import pytest

    with pytest.raises(ValueError):
        LookupRetry(attempts=0)
    with pytest.raises(ValueError):
        LookupRetry(max_total_s=-1)
