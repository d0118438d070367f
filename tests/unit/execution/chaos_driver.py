"""A trading process for the chaos test: runs N two-leg sagas against the Kalshi simulator with the
real Kalshi gateway and user stream, journaling to JOURNAL, recovering whatever a previous run
left. The chaos test SIGKILLs it at random points and starts it again.

    python chaos_driver.py INFO_FILE JOURNAL N_SAGAS

Prints "ready" once recovery is done and one line per saga start/end (the test times its kills
from them). Exit code 0 when all N sagas have reports.
"""

from __future__ import annotations

import asyncio
import json
import sys
from decimal import Decimal
from pathlib import Path

import aiohttp

from arbkit.core.clock import LiveClock
from arbkit.core.enums import Side, Venue
from arbkit.execution.backend import GatewayBackend
from arbkit.execution.engine import EngineConfig, ExecutionEngine
from arbkit.execution.intent import BookTop, HedgePolicy, Intent, IntentLeg, IntentTimestamps, Sequencing
from arbkit.execution.portfolio import Portfolio
from arbkit.execution.recovery import recover
from arbkit.journal.store import Journal
from arbkit.risk.engine import RiskEngine
from arbkit.risk.limits import RiskLimits
from arbkit.venues.kalshi.contract import bundle_from_sim_info

D = Decimal


def say(msg: str) -> None:
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


async def book_top(session: aiohttp.ClientSession, admin: str, ticker: str, iid: str, now: int) -> BookTop:
    async with session.get(f"{admin}/books/kalshi/{ticker}") as r:
        v = await r.json(content_type=None)
    return BookTop(instrument_id=iid, bids=[(D(p), D(s)) for p, s in v["bids"]], asks=[(D(p), D(s)) for p, s in v["asks"]],
                   last_update_ns=now, sequence=int(v.get("seq", 0)))


async def main(info_file: str, journal_path: str, n: int) -> int:
    info = json.loads(Path(info_file).read_text())
    holder: dict[str, GatewayBackend] = {}
    early: list = []

    def sink(ev) -> None:
        b = holder.get("b")
        if b is None:
            early.append(ev)
        else:
            b.deliver(ev)

    bundle = bundle_from_sim_info(info, 0, sink)
    await bundle.open()
    backend = GatewayBackend(bundle.gateway)
    holder["b"] = backend
    for ev in early:
        backend.deliver(ev)
    user_task = asyncio.get_running_loop().create_task(bundle.user.run()) if bundle.user is not None else None
    clock = LiveClock()
    journal = Journal.open(journal_path, clock=clock)
    pf = Portfolio()
    risk = RiskEngine(RiskLimits(max_book_age_s=10.0, slots=1), clock, pf, journal)
    engine = ExecutionEngine(journal=journal, clock=clock, risk=risk, backends={Venue.KALSHI: backend}, portfolio=pf,
                             config=EngineConfig(cancel_timeout_s=2.0, fill_grace_s=1.0))
    await recover(engine)
    await engine.wait_idle()
    say("ready")
    markets = [m["ticker"] for m in info["kalshi"]["markets"]][:2]
    yes = [bundle.instrument(f"{t}:yes") for t in markets]
    admin = info["admin_url"]
    async with aiohttp.ClientSession() as session:
        for k in range(n):
            eid = f"chaos-{k}"
            if eid in engine.sagas:
                continue
            now = clock.now_ns()
            books = [await book_top(session, admin, t, inst.id, now) for t, inst in zip(markets, yes)]
            legs = [IntentLeg(instrument=inst, side=Side.BUY, price=min(D("0.99"), b.asks[0][0] + D("0.02")), quantity=D("2"))
                    for inst, b in zip(yes, books)]
            intent = Intent(execution_id=eid, legs=legs, sequencing=Sequencing.SEQUENTIAL, books=books, primary_quote="USD",
                            hedge=HedgePolicy(max_slippage_bps=D("3000"), timeout_s=10.0), leg_timeout_s=3.0,
                            timestamps=IntentTimestamps(created_ns=now), strategy="chaos")
            say(f"start {eid}")
            res = await engine.execute(intent)
            say(f"end {eid} {getattr(res, 'status', res)}")
    if user_task is not None:  # stop the stream before the journal it writes to
        user_task.cancel()
        try:
            await user_task
        except (asyncio.CancelledError, Exception):  # noqa: BLE001
            pass
    await journal.close()
    await bundle.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
