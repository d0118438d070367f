"""Start-up re-check of fills the journal still holds as provisional (Polymarket MATCHED): the
venue's current status is applied -- CONFIRMED journaled, FAILED reversed (positions, FillCorrected,
alert), still MATCHED/MINED kept provisional and reported."""

from __future__ import annotations

from decimal import Decimal

import msgspec
from exec_kit import T0, cross_venue_intent, drive

from arbkit.core.clock import SimClock
from arbkit.core.enums import FillStatus, Venue
from arbkit.core.events import FillStatusChanged, OrderFilled
from arbkit.execution.paper import PaperBackend, PaperConfig, SnapshotRegistry
from arbkit.execution.reconcile import reconcile_provisional
from arbkit.execution.recovery import rebuild, recover
from arbkit.execution.report import ExecutionStatus

D = Decimal
YES = "polymarket:tok-yes"


class SettlingVenue:
    """Polymarket as a paper backend whose fills arrive MATCHED (PROVISIONAL) and whose fill list
    later shows each trade's settlement status as set in ``settled`` (trade id -> status)."""

    def __init__(self, inner: PaperBackend) -> None:
        self.inner = inner
        self.venue = inner.venue
        self.settled: dict[str, FillStatus] = {}
        self.fills_asked: list[int] = []
        self.fail_fetch = False

    def __getattr__(self, name):
        return getattr(self.inner, name)

    async def submit(self, req):
        res = await self.inner.submit(req)
        evs = [msgspec.structs.replace(e, status=FillStatus.PROVISIONAL) if isinstance(e, OrderFilled) else e for e in res.events]
        return msgspec.structs.replace(res, events=evs)

    async def fills_since(self, ts_ns):
        self.fills_asked.append(ts_ns)
        if self.fail_fetch:
            raise ConnectionError("no route to host")
        out = []
        for f in await self.inner.fills_since(ts_ns):
            # a restarted gateway may not know our client order id for a trade: match by trade id
            out.append(msgspec.structs.replace(f, client_order_id="", status=self.settled.get(f.trade_id, FillStatus.PROVISIONAL)))
        return out


def venues(clock):
    reg = SnapshotRegistry()
    bal = {Venue.POLYMARKET: {"pUSD": D("1000")}, Venue.KALSHI: {"USD": D("1000")}, Venue.KUCOIN: {"USDT": D("10000")}}
    real = {v: PaperBackend(v, clock, reg, PaperConfig(), dict(bal[v])) for v in bal}
    real[Venue.POLYMARKET] = SettlingVenue(real[Venue.POLYMARKET])
    return real


async def traded_then_restarted(env_factory, eid: str):
    """One cross-venue trade whose YES leg filled in three Polymarket trades, all MATCHED; the
    process stops; a new engine opens the same journal."""
    clock = SimClock(start_ns=T0)
    real = venues(clock)
    env1 = env_factory(clock=clock, backends=real)
    intent = cross_venue_intent(eid, T0, yes_asks=(("0.38", "3"), ("0.39", "3"), ("0.40", "4")), yes_bids=(("0.37", "100"),))
    rep = await env1.run(env1.engine.execute(intent))
    assert rep.status is ExecutionStatus.FILLED
    of = env1.engine.fills.get(f"{eid}-L0-A0")
    tids = sorted(of.fills, key=lambda t: of.fills[t].price)
    assert len(tids) == 3 and all(of.fills[t].status is FillStatus.PROVISIONAL for t in tids)
    env1.journal.close_sync()
    clock.advance(30)
    env2 = env_factory(clock=clock, backends=real, path=env1.path)
    return env2, real, tids


def kinds_of(env, eid, kind):
    env.journal.flush_sync(5)
    return [r.decode() for r in env.journal.replay(correlation_id=eid, kinds=[kind])]


async def test_provisional_fills_take_the_venues_current_status(env_factory):
    env, real, (t_conf, t_fail, t_open) = await traded_then_restarted(env_factory, "pv-1")
    poly = real[Venue.POLYMARKET]
    poly.settled = {t_conf: FillStatus.CONFIRMED, t_fail: FillStatus.FAILED, t_open: FillStatus.MINED}
    load(env)
    # rebuilt from the journal, everything is still provisional
    assert all(f.status is FillStatus.PROVISIONAL for f in env.engine.fills.get("pv-1-L0-A0").fills.values())
    pos_before = env.portfolio.position(Venue.POLYMARKET, YES)
    checks = await reconcile_provisional(env.engine)
    assert [c.venue for c in checks] == [Venue.POLYMARKET]
    c = checks[0]
    coid = "pv-1-L0-A0"
    assert c.checked == 3 and c.confirmed == [f"{coid}/{t_conf}"] and c.failed == [f"{coid}/{t_fail}"]
    assert c.still_provisional == [f"{coid}/{t_open}"] and c.not_reported == [] and c.fetch_error == ""
    # asked from the oldest provisional fill, less the look-back
    assert poly.fills_asked == [T0 - 60 * 10**9]
    of = env.engine.fills.get(coid)
    assert of.fills[t_conf].status is FillStatus.CONFIRMED
    assert of.fills[t_fail].status is FillStatus.FAILED and not of.fills[t_fail].counts
    assert of.fills[t_open].status is FillStatus.PROVISIONAL  # MINED at the venue: kept provisional
    assert of.filled == D("7")
    # journaled: the two status changes, the reversal as a correction, and the open residual
    changes = {e.trade_id: e.status for e in kinds_of(env, "pv-1", "FillStatusChanged")}
    assert changes == {t_conf: FillStatus.CONFIRMED, t_fail: FillStatus.FAILED}
    corr = kinds_of(env, "pv-1", "FillCorrected")
    # (the engine journals any change after the order closed; a confirmation moves nothing)
    assert {x.trade_id: (x.old_quantity, x.new_quantity) for x in corr if x.old_quantity != x.new_quantity} == {t_fail: (D("3"), D("0"))}
    alerts = kinds_of(env, "pv-1", "ResidualAlerted")
    assert alerts and alerts[-1].residuals[0].venue is Venue.KALSHI  # 3 NO contracts now unmatched
    assert env.portfolio.position(Venue.POLYMARKET, YES) == pos_before - 3
    rec = [r.decode() for r in env.journal.replay(kinds=["ReconciliationReported"])]
    assert rec[-1].venue is Venue.POLYMARKET and not rec[-1].ok
    assert any(t_open in d and "kept provisional" in d for d in rec[-1].differences)
    assert any(t_fail in d and "reversed" in d for d in rec[-1].differences)


def load(env):
    """What recovery does first: the journal's sagas and fills into the new engine."""
    sagas, _ = rebuild(env.engine)
    env.engine.sagas.update(sagas)


async def test_recover_rechecks_provisional_fills_and_a_second_start_has_nothing_left(env_factory):
    env, real, tids = await traded_then_restarted(env_factory, "pv-2")
    real[Venue.POLYMARKET].settled = {t: FillStatus.CONFIRMED for t in tids}
    rr = await drive(env.clock, recover(env.engine))
    assert rr.interrupted == [] and len(rr.provisional) == 1
    assert len(rr.provisional[0].confirmed) == 3 and rr.provisional[0].unresolved == []
    assert len(kinds_of(env, "pv-2", "FillStatusChanged")) == 3
    assert all(x.old_quantity == x.new_quantity for x in kinds_of(env, "pv-2", "FillCorrected"))
    assert kinds_of(env, "pv-2", "ResidualAlerted") == []
    env.journal.close_sync()
    # the confirmations are in the journal: the next start finds nothing provisional to ask about
    env3 = env_factory(clock=env.clock, backends=real, path=env.path)
    asked = len(real[Venue.POLYMARKET].fills_asked)
    rr3 = await drive(env.clock, recover(env3.engine))
    assert rr3.provisional == [] and len(real[Venue.POLYMARKET].fills_asked) == asked
    assert all(f.status is FillStatus.CONFIRMED for f in env3.engine.fills.get("pv-2-L0-A0").fills.values())


async def test_unreachable_venue_keeps_fills_provisional_and_reports_it(env_factory):
    env, real, tids = await traded_then_restarted(env_factory, "pv-3")
    real[Venue.POLYMARKET].fail_fetch = True
    load(env)
    (c,) = await reconcile_provisional(env.engine)
    assert "ConnectionError" in c.fetch_error and len(c.still_provisional) == 3 and c.confirmed == c.failed == []
    assert all(f.status is FillStatus.PROVISIONAL for f in env.engine.fills.get("pv-3-L0-A0").fills.values())
    assert kinds_of(env, "pv-3", "FillStatusChanged") == []
    rec = [r.decode() for r in env.journal.replay(kinds=["ReconciliationReported"])]
    assert not rec[-1].ok and "could not fetch fills" in rec[-1].differences[0]


async def test_fill_missing_from_the_venue_list_is_kept_and_reported(env_factory):
    env, real, tids = await traded_then_restarted(env_factory, "pv-4")
    poly = real[Venue.POLYMARKET]
    inner_fills = poly.inner.fills_since

    async def without_first(ts):
        return [f for f in await inner_fills(ts) if f.trade_id != tids[0]]

    poly.inner.fills_since = without_first
    poly.settled = {t: FillStatus.CONFIRMED for t in tids}
    load(env)
    (c,) = await reconcile_provisional(env.engine)
    assert c.not_reported == [f"pv-4-L0-A0/{tids[0]}"] and len(c.confirmed) == 2
    assert env.engine.fills.get("pv-4-L0-A0").fills[tids[0]].status is FillStatus.PROVISIONAL
    assert kinds_of(env, "pv-4", "FillStatusChanged") and isinstance(kinds_of(env, "pv-4", "FillStatusChanged")[0], FillStatusChanged)
