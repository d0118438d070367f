"""The node's venue metadata against the simulator's real REST endpoints (scenario "negrisk"):
Polymarket neg-risk events from Gamma with their augmented flag and placeholder outcomes, each
market's instruments from /clob-markets; Kalshi mutually exclusive events named by the operator."""

from __future__ import annotations

import aiohttp

from arbkit.core.clock import LiveClock
from arbkit.core.enums import Venue
from arbkit.execution.paper import SnapshotRegistry
from arbkit.runtime import wiring
from arbkit.runtime.config import loads_config
from arbkit.sim.runner import SimRunner
from arbkit.strategies.complete_set import structural_problem


async def test_events_from_the_simulator() -> None:
    runner = SimRunner(venues=["polymarket", "kalshi"], scenario="negrisk", seed=2)
    info = await runner.start()
    try:
        pm, ks = info["polymarket"], info["kalshi"]
        cfg = loads_config(f'[venues.polymarket]\nmode = "paper"\nrest_url = "{pm["rest_url"]}"\ngamma_url = "{pm["gamma_url"]}"\n'
                           f'[venues.kalshi]\nmode = "paper"\nrest_url = "{ks["rest_url"]}"\n')
        clock, snaps = LiveClock(), SnapshotRegistry()
        sink = lambda e: None  # noqa: E731
        bundles = {
            Venue.POLYMARKET: await wiring.build_polymarket(cfg.venues.polymarket, clock=clock, market_sink=sink, env={}, snapshots=snaps),
            Venue.KALSHI: await wiring.build_kalshi(cfg.venues.kalshi, clock=clock, market_sink=sink, env={}, snapshots=snaps),
        }
        await wiring.start_kalshi(bundles[Venue.KALSHI])
        problems: list[str] = []
        async with aiohttp.ClientSession() as session:
            md = wiring.VenueMetadata(bundles, session, cfg, on_problem=problems.append)
            events = {e.title: e for e in await md.multi_outcome_events(Venue.POLYMARKET)}
            tickers = sorted({m["event_ticker"] for m in ks["markets"]})
            kal = await md.multi_outcome_events(Venue.KALSHI, event_ids=tickers)
        await bundles[Venue.KALSHI].gateway.close()
        assert problems == [] and md.malformed == 0
        assert len(events) == 3
        fed = next(e for t, e in events.items() if "Fed" in t)
        assert not fed.augmented and [o.label for o in fed.outcomes][-1] == "Other" and structural_problem(fed) == ""
        assert all(o.yes.neg_risk and o.yes.fee.kind == "polymarket" and o.yes.min_size == 5 for o in fed.outcomes)
        aug = next(e for t, e in events.items() if "Democratic" in t)
        assert aug.augmented
        assert [(o.label, o.placeholder, o.other) for o in aug.outcomes] == [
            ("Gavin Newsom", False, False), ("Josh Shapiro", False, False), ("Person A", True, False),
            ("Person B", True, False), ("Other", False, True)]
        assert "placeholder" in structural_problem(aug)
        [k] = kal
        assert k.venue is Venue.KALSHI and k.mutually_exclusive and k.exhaustive
        assert len(k.outcomes) == 4 and all(o.yes.id.endswith(":yes") for o in k.outcomes)
        assert structural_problem(k) == ""
    finally:
        await runner.stop()
