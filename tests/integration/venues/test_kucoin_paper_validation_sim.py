"""Paper mode with KuCoin credentials (wired as the node wires it): every leg the paper backend
would send is first validated by KuCoin's ``POST /api/v1/hf/orders/test`` at the simulator. A valid
leg fills on paper and no order exists at the venue; a leg off the size increment is refused by the
test endpoint (KuCoin's reason) and becomes a rejection; without credentials nothing is asked."""

from __future__ import annotations

from decimal import Decimal as D

from arbkit.core.clock import LiveClock
from arbkit.core.enums import Side, TimeInForce
from arbkit.core.events import OrderFilled, OrderRejected
from arbkit.core.orders import OrderRequest
from arbkit.execution.intent import BookTop
from arbkit.execution.paper import SnapshotRegistry
from arbkit.runtime.config import KucoinConfig, VenueMode
from arbkit.runtime.wiring import build_kucoin, start_kucoin
from arbkit.sim.runner import SimRunner


async def test_paper_legs_are_validated_by_the_test_endpoint_and_never_placed() -> None:
    runner = SimRunner(venues=["kucoin"], scenario="quiet", seed=4)
    sec = (await runner.start())["kucoin"]
    a = sec["accounts"][0]
    env = {"KC_KEY": a["api_key"], "KC_SECRET": a["api_secret"], "KC_PASS": a["passphrase"]}
    cfg = KucoinConfig(mode=VenueMode.PAPER, rest_url=sec["rest_url"], ws_url=sec["ws_url"], api_key_env="KC_KEY",
                       api_secret_env="KC_SECRET", api_passphrase_env="KC_PASS")
    clock = LiveClock()
    snapshots = SnapshotRegistry()
    bundle = await build_kucoin(cfg, clock=clock, market_sink=lambda e: None, env=env, snapshots=snapshots)
    try:
        inst = {i.symbol: i for i in await start_kucoin(bundle, ["ETH-USDT"])}["ETH-USDT"]
        v = runner.engines["kucoin"].book("ETH-USDT", depth=5)
        now = clock.now_ns()
        snapshots.update([BookTop(instrument_id=inst.id, bids=[(D(p), D(q)) for p, q in v["bids"]],
                                  asks=[(D(p), D(q)) for p, q in v["asks"]], last_update_ns=now, sequence=1)])
        ask = D(v["asks"][0][0])
        backend = bundle.backend
        got: list = []
        backend.set_event_sink(got.append)
        srv = runner.servers["kucoin"]
        good = OrderRequest(instrument=inst, client_order_id="paper-ok", side=Side.BUY, quantity=D("0.5"), price=ask,
                            time_in_force=TimeInForce.IOC)
        res = await backend.submit(good)
        assert res.accepted and srv.order_tests == 1
        assert [e for e in res.events if isinstance(e, OrderFilled)][0].quantity == D("0.5")  # filled on paper
        bad = OrderRequest(instrument=inst, client_order_id="paper-bad", side=Side.BUY, quantity=D("0.00000005"),
                           price=ask, time_in_force=TimeInForce.IOC)  # off ETH-USDT's 0.0000001 increment
        res = await backend.submit(bad)
        assert not res.accepted and srv.order_tests == 1
        rej = res.events[0]
        assert isinstance(rej, OrderRejected) and rej.code == "venue_test"
        assert "increment invalid" in rej.reason  # KuCoin's (the simulator's) answer, not a local check
        assert runner.engines["kucoin"].orders(a["api_key"]) == []  # nothing was placed at the venue
    finally:
        await bundle.gateway.close()
        await runner.stop()
    # without credentials: plain paper, nothing to validate with
    bare = await build_kucoin(KucoinConfig(mode=VenueMode.PAPER, rest_url=sec["rest_url"]), clock=clock,
                              market_sink=lambda e: None, env={}, snapshots=SnapshotRegistry())
    assert bare.backend.validator is None
