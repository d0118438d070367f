"""Builders for execution tests (imported by the tests here): real journal files in tmp_path, the paper
backend, SimClock."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from arbkit.core.clock import NS, SimClock
from arbkit.core.enums import InstrumentKind, Side, Venue
from arbkit.core.fees import FeeSpec
from arbkit.core.instruments import Instrument
from arbkit.execution.engine import EngineConfig, ExecutionEngine
from arbkit.execution.intent import BookTop, HedgePolicy, Intent, IntentLeg, IntentTimestamps, IsolationKeys, Sequencing
from arbkit.execution.paper import PaperBackend, PaperConfig, SnapshotRegistry
from arbkit.execution.portfolio import Portfolio
from arbkit.journal.store import Journal
from arbkit.risk.engine import RiskEngine
from arbkit.risk.limits import RiskLimits

D = Decimal
T0 = 1_763_700_000 * NS

# --- instruments -------------------------------------------------------------------------------

POLY_YES = Instrument(
    venue=Venue.POLYMARKET, symbol="tok-yes", kind=InstrumentKind.OUTCOME, tick_size=D("0.01"),
    size_increment=D("0.01"), min_size=D("5"), quote="pUSD", outcome="YES", market_id="cond-1",
    complement="tok-no", fee=FeeSpec(kind="polymarket", taker_rate=D("0.02"), exponent=1),
)
KALSHI_NO = Instrument(
    venue=Venue.KALSHI, symbol="KXTEST-26:no", kind=InstrumentKind.OUTCOME, tick_size=D("0.01"),
    size_increment=D("1"), min_size=D("1"), quote="USD", outcome="NO", market_id="KXTEST-26",
    fee=FeeSpec(kind="kalshi", taker_rate=D("0.07")),
)
# KuCoin-like triangle: USDT -> BTC -> ETH -> USDT (increments and fees as KuCoin lists them)
KC_FEE = FeeSpec(kind="spot", taker_rate=D("0.001"), maker_rate=D("0.001"), multiplier=D("1"))
BTC_USDT = Instrument(
    venue=Venue.KUCOIN, symbol="BTC-USDT", kind=InstrumentKind.SPOT, tick_size=D("0.1"),
    size_increment=D("0.00000001"), min_size=D("0.00001"), min_notional=D("0.1"), quote="USDT", base="BTC", fee=KC_FEE,
)
ETH_BTC = Instrument(
    venue=Venue.KUCOIN, symbol="ETH-BTC", kind=InstrumentKind.SPOT, tick_size=D("0.00001"),
    size_increment=D("0.0000001"), min_size=D("0.0001"), quote="BTC", base="ETH", fee=KC_FEE,
)
ETH_USDT = Instrument(
    venue=Venue.KUCOIN, symbol="ETH-USDT", kind=InstrumentKind.SPOT, tick_size=D("0.01"),
    size_increment=D("0.0000001"), min_size=D("0.0001"), min_notional=D("0.1"), quote="USDT", base="ETH", fee=KC_FEE,
)


def book(inst: Instrument, bids, asks, ts: int, seq: int = 1) -> BookTop:
    return BookTop(
        instrument_id=inst.id,
        bids=[(D(p), D(s)) for p, s in bids],
        asks=[(D(p), D(s)) for p, s in asks],
        last_update_ns=ts,
        sequence=seq,
    )


def cross_venue_intent(eid: str, now: int, *, qty: str = "10", seq: Sequencing = Sequencing.PARALLEL,
                       hedge: HedgePolicy | None = None, yes_asks=(("0.40", "100"),), no_asks=(("0.55", "100"),),
                       yes_bids=(("0.39", "100"),), no_bids=(("0.54", "100"),), timeout_s: float = 5.0, **kw) -> Intent:
    """Buy YES on Polymarket and NO on Kalshi: one matched pair pays 1 whatever happens."""
    return Intent(
        execution_id=eid,
        legs=[
            IntentLeg(instrument=POLY_YES, side=Side.BUY, price=D("0.40"), quantity=D(qty)),
            IntentLeg(instrument=KALSHI_NO, side=Side.BUY, price=D("0.55"), quantity=D(qty)),
        ],
        sequencing=seq,
        hedge=hedge or HedgePolicy(),
        books=[book(POLY_YES, yes_bids, yes_asks, now), book(KALSHI_NO, no_bids, no_asks, now)],
        predicted_edge_bps=D("500"),
        predicted_profit=D(qty) * D("0.05"),
        primary_quote="USD",
        correlation_id=eid,
        timestamps=IntentTimestamps(created_ns=now, evaluated_ns=now, book_updated_ns=now),
        isolation=IsolationKeys(mapping="map-1", pairs=("POLY:tok-yes|KALSHI:KXTEST-26",)),
        strategy="cross_venue",
        signal_key="map-1",
        leg_timeout_s=timeout_s,
        set_payout=D(1),
        **kw,
    )


def triangle_intent(eid: str, now: int, *, funds: str = "1000", hedge: HedgePolicy | None = None,
                    btc_ask=("50000.0", "1"), ethbtc_ask=("0.05000", "50"), ethusdt_bid=("2520.00", "50"), **kw) -> Intent:
    return Intent(
        execution_id=eid,
        legs=[
            IntentLeg(instrument=BTC_USDT, side=Side.BUY, price=D(btc_ask[0]), funds=D(funds)),
            IntentLeg(instrument=ETH_BTC, side=Side.BUY, price=D(ethbtc_ask[0])),
            IntentLeg(instrument=ETH_USDT, side=Side.SELL, price=D(ethusdt_bid[0])),
        ],
        sequencing=Sequencing.CASCADE,
        hedge=hedge or HedgePolicy(),
        books=[
            book(BTC_USDT, [("49999.9", "1")], [btc_ask], now),
            book(ETH_BTC, [("0.04999", "50")], [ethbtc_ask], now),
            book(ETH_USDT, [ethusdt_bid], [("2520.01", "50")], now),
        ],
        predicted_edge_bps=D("70"),
        predicted_profit=D("7"),
        primary_quote="USDT",
        correlation_id=eid,
        timestamps=IntentTimestamps(created_ns=now),
        isolation=IsolationKeys(triangle="USDT-BTC-ETH"),
        strategy="triangle",
        signal_key="kucoin:USDT-BTC-ETH",
        **kw,
    )


# --- environment -------------------------------------------------------------------------------

DEFAULT_BALANCES = {
    Venue.POLYMARKET: {"pUSD": D("1000")},
    Venue.KALSHI: {"USD": D("1000")},
    Venue.KUCOIN: {"USDT": D("10000")},
}


@dataclass
class Env:
    clock: SimClock
    journal: Journal
    engine: ExecutionEngine
    risk: RiskEngine
    portfolio: Portfolio
    backends: dict[Venue, PaperBackend]
    snapshots: SnapshotRegistry
    path: Path
    extra: dict[str, Any] = field(default_factory=dict)

    async def run(self, aw):
        return await drive(self.clock, aw)


async def drive(clock: SimClock, aw, max_iter: int = 200_000):
    """Run ``aw`` to the end, moving simulated time to the next sleeper whenever nothing else
    can make progress (a journal flush is real I/O: it gets real time instead)."""
    task = asyncio.ensure_future(aw)
    for _ in range(max_iter):
        for _ in range(6):
            await asyncio.sleep(0)
        if task.done():
            return task.result()
        nd = clock.next_deadline_ns()
        if nd is None:
            await asyncio.sleep(0.0005)
        else:
            clock.set(max(nd, clock.now_ns()))
    task.cancel()
    raise AssertionError("drive: did not finish")


def make_limits(**kw) -> RiskLimits:
    base = dict(max_book_age_s=2.0, slots=4)
    base.update(kw)
    lim = RiskLimits(**base)
    lim.valuation.update({"BTC": D("50000"), "ETH": D("2500")})
    return lim


@pytest.fixture
def env_factory(tmp_path):
    opened: list[Journal] = []

    def factory(*, balances=None, paper: PaperConfig | dict[Venue, PaperConfig] | None = None, limits: RiskLimits | None = None,
                config: EngineConfig | None = None, path: Path | None = None, clock: SimClock | None = None,
                portfolio: Portfolio | None = None, backends: dict | None = None) -> Env:
        clock = clock or SimClock(start_ns=T0)
        p = path or tmp_path / "journal.db"
        journal = Journal.open(p, clock=clock, commit_interval_ms=0.5)
        opened.append(journal)
        balances = balances if balances is not None else DEFAULT_BALANCES
        portfolio = portfolio or Portfolio()
        for v, cash in balances.items():
            for c, a in cash.items():
                portfolio.set_balance(v, c, a)
        risk = RiskEngine(limits or make_limits(), clock, portfolio, journal)
        snapshots = SnapshotRegistry()
        if backends is None:
            backends = {}
            for v in (Venue.POLYMARKET, Venue.KALSHI, Venue.KUCOIN):
                cfg = paper.get(v) if isinstance(paper, dict) else paper
                backends[v] = PaperBackend(v, clock, snapshots, cfg or PaperConfig(), dict(balances.get(v, {})))
        else:
            for b in backends.values():
                getattr(b, "inner", b).snapshots = snapshots
        engine = ExecutionEngine(journal=journal, clock=clock, risk=risk, backends=backends, portfolio=portfolio,
                                 config=config, snapshots=snapshots)
        return Env(clock, journal, engine, risk, portfolio, backends, snapshots, p)

    yield factory
    for j in opened:
        try:
            j.close_sync()
        except Exception:
            pass


class Crash(BaseException):
    """The process died here (not an Exception: nothing in the engine may catch it)."""


class CrashingBackend:
    """A venue (a paper backend that outlives us) seen through a process that dies at a chosen
    point: just before an order would be handed over, or just after the venue took it but before
    its answer could be journaled."""

    def __init__(self, inner: PaperBackend, before=(), after=()) -> None:
        self.inner = inner
        self.venue = inner.venue
        self.before = set(before)
        self.after = set(after)

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def submit(self, req):
        if req.client_order_id in self.before:
            raise Crash(f"died before sending {req.client_order_id}")
        res = await self.inner.submit(req)
        if req.client_order_id in self.after:
            raise Crash(f"died before journaling the answer to {req.client_order_id}")
        return res


async def run_until_crash(env: "Env") -> None:
    """Drive the engine until every saga task has ended (finished or crashed), then close the
    journal as the dead process leaves it."""
    async def idle():
        await env.engine.wait_idle()
    await drive(env.clock, idle())
    env.journal.close_sync()


async def held(env: "Env", execution_id: str) -> None:
    """Drive the engine until ``execution_id`` is held (an order the venue cannot account for)."""
    saga = env.engine.sagas[execution_id]

    async def until_held():
        while not saga.held:
            await env.clock.sleep(0.05)

    await drive(env.clock, until_held())


def replay_kinds(journal: Journal, eid: str) -> list[str]:
    journal.flush_sync(5)
    return [r.kind for r in journal.replay(correlation_id=eid)]


__all__ = [
    "BTC_USDT", "ETH_BTC", "ETH_USDT", "POLY_YES", "KALSHI_NO", "T0", "D", "Env", "book", "cross_venue_intent",
    "triangle_intent", "drive", "make_limits", "replay_kinds", "Side",
]
