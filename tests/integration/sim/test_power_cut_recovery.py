"""Issue 18's durability contract, the recovery side, at the Kalshi simulator through the real
gateway as the node wires it (GatewayBackend).

With the node's default group commit an order is sent once its records are *written* (they
survive kill -9); the fsync follows within milliseconds. A power cut inside that window can lose
the last records: the intent, the orders, even the fills of an execution the venue has done.
Start-up reconciliation must then find at the venue what the journal forgot and adopt it — the
venue's positions and balances become the book, the unknown fills are reported — and nothing
may be sent again. The cut is simulated by keeping only the journal's records up to the last
one written before the execution started (what an fsync before it would have kept)."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

from arbkit.core.clock import LiveClock
from arbkit.core.enums import ConnectionState, Side, Venue
from arbkit.execution.backend import GatewayBackend
from arbkit.execution.engine import Denied, ExecutionEngine
from arbkit.execution.intent import BookTop, HedgePolicy, Intent, IntentLeg, Sequencing
from arbkit.execution.portfolio import Portfolio
from arbkit.execution.recovery import recover
from arbkit.journal.store import Journal
from arbkit.risk.engine import RiskEngine
from arbkit.risk.limits import RiskLimits
from arbkit.sim.runner import SimRunner
from arbkit.venues.kalshi.auth import KalshiSigner
from arbkit.venues.kalshi.gateway import GatewayConfig, KalshiGateway
from arbkit.venues.kalshi.user import KalshiUserStream, UserStreamConfig


def _engine(journal: Journal, clock: LiveClock, backend: GatewayBackend) -> ExecutionEngine:
    risk = RiskEngine(RiskLimits(max_book_age_s=30.0, slots=2), clock, Portfolio(), journal)
    return ExecutionEngine(journal=journal, clock=clock, risk=risk, backends={Venue.KALSHI: backend})


async def test_orders_whose_records_a_power_cut_lost_are_found_at_the_venue_and_adopted(tmp_path):
    runner = SimRunner(venues=["kalshi"], scenario="demo", seed=4)
    info = (await runner.start())["kalshi"]
    acct = info["accounts"][0]
    gw = KalshiGateway(KalshiSigner.from_pem_file(acct["key_id"], acct["private_key_path"]),
                       GatewayConfig(rest_url=info["rest_url"], retry_backoff_s=0.01))
    backend = GatewayBackend(gw)
    await backend.start()
    clock = LiveClock()
    # fills reach the engine on the user stream, as in the node (wiring.build_kalshi)
    user = KalshiUserStream(backend.deliver, gw.signer, gw, UserStreamConfig(ws_url=info["ws_url"]), clock=clock,
                            backfill_from_ns=clock.now_ns())
    user_task = asyncio.create_task(user.run())
    for _ in range(250):
        if user.state is ConnectionState.CONNECTED:
            break
        await asyncio.sleep(0.02)
    eng_sim = runner.engines["kalshi"]
    journal = Journal.open(tmp_path / "before.sqlite", clock=clock, synchronous="GROUP", group_commit_ms=2)
    try:
        tickers = [m["ticker"] for m in info["markets"]][:2]
        legs, books = [], []
        for t in tickers:
            yes, _ = await gw.instruments(t)  # the venue's metadata, as the node reads it
            view = eng_sim.book(yes.symbol)
            books.append(BookTop(instrument_id=yes.id, bids=view.bids, asks=view.asks, last_update_ns=clock.now_ns()))
            ask = view.asks[0][0]
            legs.append(IntentLeg(instrument=yes, side=Side.BUY, quantity=D("2"), price=min(D("0.99"), ask + D("0.02"))))
        engine = _engine(journal, clock, backend)
        await recover(engine)  # start-up as the node does it: balances from the venue
        await journal.flush(durable=False)
        cut = journal.written_seq()  # what survives the cut: everything before this execution
        verdict = engine.submit(Intent(execution_id="pc-1", legs=legs, sequencing=Sequencing.SEQUENTIAL, books=books,
                                       hedge=HedgePolicy(max_slippage_bps=D("3000"), timeout_s=10.0),
                                       leg_timeout_s=3.0, strategy="power-cut"))
        assert not isinstance(verdict, Denied), verdict
        report = await engine.wait("pc-1")
        assert report.status.value == "FILLED", report
        orders_at_venue = len(eng_sim.orders(account_id=acct["key_id"]))
        venue_fills = {t.trade_id for t in eng_sim.trades(account_id=acct["key_id"])}
        assert len(venue_fills) >= 2
    finally:
        journal.close_sync()

    # the power cut: only the records written before the execution survive
    old = Journal.open(tmp_path / "before.sqlite", readonly=True)
    after = Journal.open(tmp_path / "after.sqlite", clock=clock, synchronous="GROUP")
    try:
        for rec in old.replay(1):
            if rec.seq > cut:
                break
            after.append(rec.kind, rec.payload, rec.correlation_id, ts_ns=rec.ts_ns)
        after.flush_sync(10)
        assert after.last_seq() == cut and not list(after.replay(kinds=["LegSubmitted"]))

        engine2 = _engine(after, clock, backend)
        rep = await recover(engine2)
        # the venue's positions are the book: both legs' shares, though the journal never saw them
        venue_pos = {p.instrument_id: p.quantity for p in await backend.positions()}
        held = {iid: q for (v, iid), q in ((k, p.quantity) for k, p in engine2.portfolio.positions.items()) if q}
        assert held and all(held.get(iid) == q for iid, q in venue_pos.items() if q), (held, venue_pos)
        for leg in legs:
            assert held.get(leg.instrument.id) == D("2"), (leg.instrument.id, held)
        # ... reported as differences the journal did not explain
        diffs = [d for r in rep.reconciliation for d in r.differences]
        assert diffs, rep
        # nothing was sent again, and the forgotten execution is not resumed
        assert "pc-1" not in engine2.sagas and not rep.interrupted
        assert {t.trade_id for t in runner.engines["kalshi"].trades(account_id=acct["key_id"])} == venue_fills
        assert len(eng_sim.orders(account_id=acct["key_id"])) == orders_at_venue
    finally:
        after.close_sync()
        old.close_sync()
        await user.stop()
        await asyncio.wait_for(user_task, 5)
        await backend.close()
        await runner.stop()
