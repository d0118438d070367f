"""Journal write path: sustained records/s, time added to the publishing call, flush latency."""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from arbkit.core.enums import Venue
from arbkit.core.events import OrderAccepted, encode_event
from arbkit.journal import Journal
from bench.harness import percentiles

METHOD = (
    "A fresh journal file opened as the node opens it by default ([node] journal_fsync = group: SQLite WAL, "
    "synchronous=GROUP with the pre-send log, group fsync within 2 ms; default batching) in a temp dir on the repo's disk. "
    "Throughput: append_event() of ~250-byte OrderAccepted events (distinct correlation id every 4 records) "
    "in a tight loop on one thread, each call timed with perf_counter_ns, then flush_sync(); "
    "records_per_s = N / (first append .. everything committed), median of 3 trials of 500k (quick: 1 of 40k). "
    "The tight loop is the worst case for the per-call time (the writer thread competes for the GIL the whole "
    "time). Raw-bytes append() timed the same way. Flush latency: append one event then "
    "`await journal.flush(durable=False)` (the barrier an order waits for before it is sent: the record "
    "written to the pre-send log), repeated; flush_durable_*: the same with `await journal.flush()` (until "
    "fsynced by the group commit), which reports and reconciliations wait for."
)
TARGETS = {"records_per_s": (">=", 200_000), "append_p99_us": ("<=", 20.0)}


def _events(n: int) -> list[OrderAccepted]:
    base = time.time_ns()
    return [
        OrderAccepted(
            correlation_id=f"x-{base + (i // 4) * 1000:x}-a1b2c3-{i // 4:x}",
            ts_venue=base + i * 1000,
            ts_recv=base + i * 1000 + 250_000,
            venue=Venue.POLYMARKET,
            client_order_id=f"x-{base + (i // 4) * 1000:x}-L{i % 4}-A0",
            venue_order_id=f"0x{(base + i) * 2654435761 % (1 << 128):032x}",
        )
        for i in range(n)
    ]


def _throughput(path: Path, events: list[OrderAccepted]) -> tuple[float, list[int], dict]:
    journal = Journal.open(path, synchronous="GROUP")
    lat: list[int] = []
    record = lat.append
    pc = time.perf_counter_ns
    append_event = journal.append_event
    t0 = pc()
    for ev in events:
        a = pc()
        append_event(ev)
        record(pc() - a)
    journal.flush_sync()
    elapsed = (pc() - t0) / 1e9
    stats = journal.stats()
    journal.close_sync()
    return len(events) / elapsed, lat, stats


def _raw_bytes(path: Path, payload: bytes, n: int) -> list[int]:
    journal = Journal.open(path, synchronous="GROUP")
    lat: list[int] = []
    record = lat.append
    pc = time.perf_counter_ns
    append = journal.append
    base = time.time_ns()
    for i in range(n):
        a = pc()
        append("OrderAccepted", payload, "x-raw", base + i)
        record(pc() - a)
    journal.flush_sync()
    journal.close_sync()
    return lat


async def _flush_latency(path: Path, events: list[OrderAccepted], n: int, durable: bool) -> list[int]:
    journal = Journal.open(path, synchronous="GROUP")
    out: list[int] = []
    pc = time.perf_counter_ns
    for i in range(n):
        journal.append_event(events[i % len(events)])
        a = pc()
        await journal.flush(durable=durable)
        out.append(pc() - a)
    await journal.close()
    return out


def run(quick: bool) -> dict:
    n = 40_000 if quick else 500_000
    trials = 1 if quick else 3
    n_flush = 50 if quick else 500
    events = _events(min(n, 200_000))
    if len(events) < n:
        events = (events * (n // len(events) + 1))[:n]
    payload_bytes = len(encode_event(events[0]))
    rates: list[float] = []
    lat: list[int] = []
    batches = committed = 0
    max_commit_us = 0.0
    with tempfile.TemporaryDirectory(prefix="bench-journal-", dir=Path(__file__).resolve().parent.parent) as tmp:
        tmpdir = Path(tmp)
        load_before = os.getloadavg()[0]
        for t in range(trials):
            rate, trial_lat, stats = _throughput(tmpdir / f"throughput{t}.db", events)
            rates.append(rate)
            lat.extend(trial_lat)
            batches += stats["batches"]
            committed += stats["committed"]
            max_commit_us = max(max_commit_us, stats["max_commit_latency_us"])
        raw = _raw_bytes(tmpdir / "raw.db", encode_event(events[0]), n // 2)
        flush = asyncio.run(_flush_latency(tmpdir / "flush.db", events, n_flush, durable=False))
        flush_durable = asyncio.run(_flush_latency(tmpdir / "flush_durable.db", events, n_flush, durable=True))
        load_after = os.getloadavg()[0]
    ap = percentiles(lat, (50, 99, 99.9))
    rp = percentiles(raw, (50, 99))
    fp = percentiles(flush, (50, 99))
    fd = percentiles(flush_durable, (50, 99))
    return {
        "records_per_trial": n,
        "trials": trials,
        "payload_bytes": payload_bytes,
        "records_per_s": round(statistics.median(rates)),
        "records_per_s_trials": [round(r) for r in rates],
        "append_p50_us": ap["p50_us"],
        "append_p99_us": ap["p99_us"],
        "append_p99.9_us": ap["p99.9_us"],
        "append_bytes_p50_us": rp["p50_us"],
        "append_bytes_p99_us": rp["p99_us"],
        "flush_p50_us": fp["p50_us"],
        "flush_p99_us": fp["p99_us"],
        "flush_durable_p50_us": fd["p50_us"],
        "flush_durable_p99_us": fd["p99_us"],
        "mean_batch": round(committed / max(batches, 1)),
        "max_commit_ms": round(max_commit_us / 1000, 1),
        "loadavg_1m_before_after": f"{load_before:.2f}/{load_after:.2f} on {os.cpu_count()} cores (shared machine)",
    }
