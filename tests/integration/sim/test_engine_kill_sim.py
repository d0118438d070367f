"""Issue 11 item 6 at the venue: `kill` cancels every resting order we own (cancel_all per venue),
checked at the Kalshi simulator through the real gateway wired as the node wires it
(GatewayBackend), and the tripped switch survives a restart of the engine on the same journal."""

from __future__ import annotations

from decimal import Decimal as D

from arbkit.core.clock import SimClock
from arbkit.core.enums import InstrumentKind, Side, TimeInForce, Venue
from arbkit.core.instruments import Instrument
from arbkit.core.orders import OrderRequest
from arbkit.execution.backend import GatewayBackend
from arbkit.execution.engine import ExecutionEngine
from arbkit.execution.portfolio import Portfolio
from arbkit.execution.recovery import recover
from arbkit.journal.store import Journal
from arbkit.risk.engine import RiskEngine
from arbkit.risk.limits import RiskLimits
from arbkit.sim.runner import SimRunner
from arbkit.venues.kalshi.auth import KalshiSigner
from arbkit.venues.kalshi.gateway import GatewayConfig, KalshiGateway


def _engine(journal: Journal, clock: SimClock, backend: GatewayBackend) -> ExecutionEngine:
    risk = RiskEngine(RiskLimits(max_book_age_s=2.0, slots=2), clock, Portfolio(), journal)
    return ExecutionEngine(journal=journal, clock=clock, risk=risk, backends={Venue.KALSHI: backend})


async def test_kill_cancels_every_resting_order_at_the_venue_and_stays_tripped(tmp_path):
    runner = SimRunner(venues=["kalshi"], scenario="quiet", seed=1, clock=SimClock())
    info = (await runner.start())["kalshi"]
    acct = info["accounts"][0]
    gw = KalshiGateway(KalshiSigner.from_pem_file(acct["key_id"], acct["private_key_path"]),
                       GatewayConfig(rest_url=info["rest_url"], retry_backoff_s=0.01))
    backend = GatewayBackend(gw)
    await backend.start()
    clock = SimClock()
    journal = Journal.open(tmp_path / "j.sqlite", clock=clock)
    try:
        ticker = info["markets"][0]["ticker"]
        inst = Instrument(venue=Venue.KALSHI, symbol=f"{ticker}:yes", kind=InstrumentKind.OUTCOME, tick_size=D("0.01"),
                          size_increment=D("0.01"), quote="USD")
        for i, price in enumerate(("0.05", "0.06")):  # far below the market: they rest
            r = await gw.submit(OrderRequest(instrument=inst, client_order_id=f"rest-{i}", side=Side.BUY,
                                             quantity=D("2"), price=D(price), time_in_force=TimeInForce.GTC))
            assert r.accepted, r.events
        eng = runner.engines["kalshi"]
        resting = [o for o in eng.open_orders(acct["key_id"])]
        assert len(resting) == 2

        engine = _engine(journal, clock, backend)
        out = await engine.kill("operator drill")
        assert "cancel_all" in out["kalshi"]
        assert eng.open_orders(acct["key_id"]) == []  # nothing of ours rests at the venue
        assert engine.risk.killswitch.tripped

        # a restart on the same journal: the switch is still tripped before the first intent
        journal.flush_sync(5)
        journal.close_sync()
        journal = Journal.open(tmp_path / "j.sqlite", clock=clock)
        engine2 = _engine(journal, clock, backend)
        await recover(engine2, reconcile=False)
        assert engine2.risk.killswitch.tripped and engine2.risk.killswitch.reason == "operator drill"
    finally:
        journal.close_sync()
        await backend.close()
        await runner.stop()
