"""The strategy host: routing by subscription, intents stamped and submitted, denials and reports
back to the strategy that emitted them, idle books while nothing may be sent, timers, isolation
of a failing strategy; per-strategy slots and exposure in the real risk engine."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from arbkit.core.clock import SimClock
from arbkit.core.enums import InstrumentKind, Side, Venue
from arbkit.core.instruments import Instrument
from arbkit.execution.intent import BookTop, Intent, IntentLeg
from arbkit.execution.portfolio import Portfolio
from arbkit.risk.engine import RiskEngine
from arbkit.risk.limits import RiskLimits
from arbkit.strategies.base import BookUpdate, Strategy, StrategyBase
from arbkit.strategies.host import StrategyHost

D = Decimal
T0 = 1_800_000_000 * 10**9


def inst(sym: str) -> Instrument:
    return Instrument(venue=Venue.POLYMARKET, symbol=sym, kind=InstrumentKind.OUTCOME, tick_size=D("0.01"),
                      size_increment=D("0.01"), min_size=D(1), quote="pUSD")


def intent(eid: str, sym: str, strategy: str = "", qty: str = "10", price: str = "0.50") -> Intent:
    i = inst(sym)
    return Intent(execution_id=eid, legs=[IntentLeg(instrument=i, side=Side.BUY, price=D(price), quantity=D(qty))],
                  books=[BookTop(instrument_id=i.id, bids=[], asks=[(D(price), D(100))], last_update_ns=T0)],
                  strategy=strategy, primary_quote="pUSD")


class Recorder(StrategyBase):
    def __init__(self, name: str, ids: list[str], emit: bool = True) -> None:
        self.name = name
        self.ids = ids
        self.emit = emit
        self.books: list[BookUpdate] = []
        self.idle: list[str] = []
        self.finished: list[tuple[str, Any, str]] = []
        self.timers: list[int] = []
        self.n = 0

    def subscriptions(self):
        return self.ids

    def on_book(self, update: BookUpdate):
        self.books.append(update)
        if not self.emit:
            return []
        self.n += 1
        return [intent(f"{self.name}-{self.n}", update.instrument_id.split(":", 1)[1])]

    def on_book_idle(self, instrument_id: str) -> None:
        self.idle.append(instrument_id)

    def on_execution_finished(self, execution_id, report, *, denied=""):
        self.finished.append((execution_id, report, denied))

    def on_timer(self, now_ns):
        self.timers.append(now_ns)
        return []


@dataclass
class Verdict:
    approved: bool
    check: str = ""
    reason: str = ""


class Engine:
    def __init__(self) -> None:
        self.submitted: list[Intent] = []
        self.deny: set[str] = set()
        self.done: dict[str, asyncio.Future] = {}

    def submit(self, i: Intent) -> Verdict:
        self.submitted.append(i)
        if i.execution_id in self.deny:
            return Verdict(False, "slots", "busy")
        self.done[i.execution_id] = asyncio.get_running_loop().create_future()
        return Verdict(True)

    async def wait(self, eid: str) -> Any:
        return await self.done[eid]


def make(can_send: list[bool]) -> tuple[StrategyHost, Engine, list]:
    eng = Engine()
    reports: list = []
    host = StrategyHost(submit=eng.submit, wait=eng.wait, can_send=lambda: can_send[0], clock_ns=lambda: T0,
                        on_report=reports.append)
    return host, eng, reports


async def test_routes_only_to_subscribers_and_stamps_the_strategy_name() -> None:
    host, eng, reports = make([True])
    a, b = Recorder("alpha", ["polymarket:x", "polymarket:y"]), Recorder("beta", ["polymarket:y"], emit=False)
    host.add(a)
    host.add(b)
    assert isinstance(a, Strategy)
    assert host.subscriptions() == {"polymarket:x", "polymarket:y"}
    host.on_book("polymarket:x", socket_arrival_ns=5, correlation_id="c1")
    host.on_book("polymarket:y")
    host.on_book("polymarket:z")  # nobody reads it
    assert [u.instrument_id for u in a.books] == ["polymarket:x", "polymarket:y"] and a.books[0].socket_arrival_ns == 5
    assert [u.instrument_id for u in b.books] == ["polymarket:y"]
    assert [i.strategy for i in eng.submitted] == ["alpha", "alpha"]  # stamped: budgets key on it
    st = host.status()
    assert st["alpha"]["opportunities"] == 2 and st["alpha"]["submitted"] == 2 and st["beta"]["opportunities"] == 0
    eng.done["alpha-1"].set_result("REPORT")
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert a.finished == [("alpha-1", "REPORT", "")] and reports == ["REPORT"]


async def test_a_denial_goes_back_at_once_with_the_reason() -> None:
    host, eng, _ = make([True])
    a = Recorder("alpha", ["polymarket:x"])
    host.add(a)
    eng.deny.add("alpha-1")
    host.on_book("polymarket:x")
    assert a.finished == [("alpha-1", None, "slots: busy")]
    assert host.counters["alpha"].denied == 1 and host.last_denial == "slots: busy" and not host.watchers


async def test_nothing_is_decided_while_nothing_may_be_sent() -> None:
    gate = [False]
    host, eng, _ = make(gate)
    a = Recorder("alpha", ["polymarket:x"])
    host.add(a)
    host.on_book("polymarket:x")
    assert a.idle == ["polymarket:x"] and a.books == [] and eng.submitted == []
    gate[0] = True
    host.on_book("polymarket:x")
    assert len(a.books) == 1


async def test_a_failing_strategy_does_not_stop_the_others() -> None:
    host, eng, _ = make([True])

    class Broken(Recorder):
        def on_book(self, update):
            raise RuntimeError("bug")

    host.add(Broken("broken", ["polymarket:x"]))
    ok = Recorder("ok", ["polymarket:x"])
    host.add(ok)
    host.on_book("polymarket:x")
    assert len(ok.books) == 1 and [i.strategy for i in eng.submitted] == ["ok"]


async def test_timer_runs_each_strategy_at_its_interval() -> None:
    host, _, _ = make([True])
    a = Recorder("alpha", [])
    a.timer_interval_s = 1.0
    host.add(a)
    host.add(Recorder("beta", []))
    assert host.timer_interval_s() == 1.0
    for t in (T0, T0 + 500_000_000, T0 + 10**9, T0 + 1_500_000_000):
        host.tick(t)
    assert a.timers == [T0, T0 + 10**9]


def test_names_are_unique() -> None:
    host, _, _ = make([True])
    host.add(Recorder("alpha", []))
    try:
        host.add(Recorder("alpha", []))
    except ValueError as exc:
        assert "already hosted" in str(exc)
    else:
        raise AssertionError("a second strategy with the same name was hosted")


def test_per_strategy_slots_and_exposure_in_the_risk_engine() -> None:
    clock = SimClock(T0)
    limits = RiskLimits(slots=10, strategy_slots={"alpha": 1}, strategy_exposure={"beta": D("8")})
    risk = RiskEngine(limits, clock, Portfolio())
    risk.capital.portfolio.cash[(Venue.POLYMARKET, "pUSD")] = D(1000)
    assert risk.check(intent("a1", "x", "alpha")).approved
    denied = risk.check(intent("a2", "y", "alpha"))
    assert not denied.approved and denied.check == "slots" and "strategy alpha" in denied.reason
    assert risk.check(intent("g1", "z", "gamma")).approved  # other strategies use the shared slots
    assert risk.check(intent("b1", "u", "beta", qty="10", price="0.50")).approved  # 5 of its 8
    over = risk.check(intent("b2", "v", "beta", qty="10", price="0.50"))
    assert not over.approved and over.check == "exposure" and "budget 8" in over.reason
    risk.release("b1")
    assert risk.check(intent("b3", "v", "beta", qty="10", price="0.50")).approved
