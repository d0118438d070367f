"""Decision path latency: intent -> risk -> journal -> first leg handed to the backend."""

from __future__ import annotations

import asyncio
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import msgspec

from bench.harness import percentiles

METHOD = (
    "One process, LiveClock, a real journal file (SQLite WAL) in a temp dir, the paper backend with "
    "zero latency (no network). Each iteration builds a fresh 2-leg cross-venue intent (Polymarket "
    "YES + Kalshi NO, PARALLEL IOC; construction not timed), then times ExecutionEngine.submit(intent) "
    "-> the moment the first leg's OrderRequest is handed to the backend (engine.sent_hook), with "
    "perf_counter_ns. Two passes, each with the journal and engine as the node builds them for that "
    "[node] journal_fsync setting: node_group (the default: synchronous=GROUP; the order waits for its "
    "records to be written to the journal's pre-send log with one os.write on its own thread, SQLite "
    "commits them behind it and the fsync follows on the syncer thread within 2 ms) is the "
    "headline; every_order (synchronous=FULL; each order waits for its fsync). barrier_* is the "
    "measured pre-send journal barrier alone in each pass. submit_sync is the synchronous part alone "
    "(journal appends, every risk check, capital reservation, saga creation), from the group pass. "
    "Each saga runs to its report before the next intent (isolation keys are shared). Percentiles "
    "over all iterations."
)
TARGETS = {"node_group_p50_us": ("<=", 500.0)}


def run(quick: bool) -> dict:
    n = 300 if quick else 2000
    group = asyncio.run(_run(n, "GROUP", False))
    every = asyncio.run(_run(n, "FULL", True))
    out: dict = {"iterations": n, "statuses": group.pop("statuses")}
    out.update({f"node_group_{k}": v for k, v in group.items() if k.startswith("p")})
    out.update({f"every_order_{k}": v for k, v in every.items() if k.startswith("p")})
    out.update({f"barrier_group_{k[8:]}": v for k, v in group.items() if k.startswith("barrier_")})
    out.update({f"barrier_every_order_{k[8:]}": v for k, v in every.items() if k.startswith("barrier_")})
    out.update({k: v for k, v in group.items() if k.startswith("submit_sync")})
    return out


async def _run(n: int, synchronous: str, fsync_before_send: bool) -> dict:
    from arbkit.core.clock import LiveClock
    from arbkit.core.enums import InstrumentKind, Side, Venue
    from arbkit.core.fees import FeeSpec
    from arbkit.core.instruments import Instrument
    from arbkit.execution.engine import EngineConfig, ExecutionEngine
    from arbkit.execution.intent import BookTop, Intent, IntentLeg, IntentTimestamps, IsolationKeys
    from arbkit.execution.paper import PaperBackend, SnapshotRegistry
    from arbkit.execution.portfolio import Portfolio
    from arbkit.journal.store import Journal
    from arbkit.risk.engine import RiskEngine
    from arbkit.risk.limits import RiskLimits

    D = Decimal
    yes = Instrument(venue=Venue.POLYMARKET, symbol="tok-yes", kind=InstrumentKind.OUTCOME, tick_size=D("0.01"),
                     size_increment=D("0.01"), min_size=D("5"), quote="pUSD",
                     fee=FeeSpec(kind="polymarket", taker_rate=D("0.02"), exponent=1))
    no = Instrument(venue=Venue.KALSHI, symbol="KXB-26:no", kind=InstrumentKind.OUTCOME, tick_size=D("0.01"),
                    size_increment=D("1"), min_size=D("1"), quote="USD", fee=FeeSpec(kind="kalshi", taker_rate=D("0.07")))
    template = Intent(
        execution_id="x",
        legs=[IntentLeg(instrument=yes, side=Side.BUY, price=D("0.40"), quantity=D("10")),
              IntentLeg(instrument=no, side=Side.BUY, price=D("0.55"), quantity=D("10"))],
        predicted_edge_bps=D("500"), predicted_profit=D("0.5"), primary_quote="USD", set_payout=D(1),
        isolation=IsolationKeys(mapping="m-1"), signal_key="m-1",
    )
    clock = LiveClock()
    with tempfile.TemporaryDirectory() as d:
        journal = Journal.open(Path(d) / "bench.db", clock=clock, synchronous=synchronous)  # type: ignore[arg-type]
        pf = Portfolio()
        big = D("1000000000")
        pf.set_balance(Venue.POLYMARKET, "pUSD", big)
        pf.set_balance(Venue.KALSHI, "USD", big)
        risk = RiskEngine(RiskLimits(max_book_age_s=5.0, max_order_notional=D("1000"), max_market_exposure=None, slots=4),
                          clock, pf, journal)
        reg = SnapshotRegistry()
        backends = {Venue.POLYMARKET: PaperBackend(Venue.POLYMARKET, clock, reg, balances={"pUSD": big}),
                    Venue.KALSHI: PaperBackend(Venue.KALSHI, clock, reg, balances={"USD": big})}
        engine = ExecutionEngine(journal=journal, clock=clock, risk=risk, backends=backends, portfolio=pf, snapshots=reg,
                                 config=EngineConfig(fsync_before_send=fsync_before_send))
        pc = time.perf_counter_ns
        handed: list[int] = []
        flushes: list[int] = []
        engine.sent_hook = lambda req: handed.append(pc()) if not handed else None
        orig_flush = journal.flush

        async def timed_flush(durable: bool = True):
            t = pc()
            r = await orig_flush(durable=durable)
            flushes.append(pc() - t)
            return r

        journal.flush = timed_flush  # type: ignore[method-assign]
        with_flush: list[int] = []
        without_flush: list[int] = []
        submit_sync: list[int] = []
        statuses: dict[str, int] = {}
        for i in range(n):
            now = clock.now_ns()
            books = [BookTop(instrument_id=yes.id, bids=[(D("0.39"), D("1000"))], asks=[(D("0.40"), D("1000"))], last_update_ns=now, sequence=i),
                     BookTop(instrument_id=no.id, bids=[(D("0.54"), D("1000"))], asks=[(D("0.55"), D("1000"))], last_update_ns=now, sequence=i)]
            intent = msgspec.structs.replace(template, execution_id=f"b{i}", books=books, timestamps=IntentTimestamps(created_ns=now))
            handed.clear()
            flushes.clear()
            t0 = pc()
            verdict = engine.submit(intent)
            t1 = pc()
            if not verdict.approved:
                raise RuntimeError(f"bench intent denied: {verdict}")
            report = await engine.wait(intent.execution_id)
            statuses[report.status.value] = statuses.get(report.status.value, 0) + 1
            submit_sync.append(t1 - t0)
            total = handed[0] - t0
            with_flush.append(total)
            without_flush.append(total - flushes[0])
        await journal.close()
    out: dict = {"statuses": statuses}
    for name, samples in (("submit_sync_", submit_sync), ("", with_flush), ("barrier_", [w - o for w, o in zip(with_flush, without_flush)])):
        p = percentiles(samples, (50, 99))
        out[f"{name}p50_us"] = p["p50_us"]
        out[f"{name}p99_us"] = p["p99_us"]
    return out
