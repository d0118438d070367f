"""Journal store: append/replay, filters, schema checks, flush, close, threads, writer failure."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest

from arbkit.core.clock import SimClock
from arbkit.core.enums import LiquiditySide, Side, Venue
from arbkit.core.events import OrderAccepted, OrderFilled
from arbkit.journal import SCHEMA_VERSION, Journal, JournalCorrupt, JournalError, JournalRecord, record_crc

ROOT = Path(__file__).resolve().parents[3]


class Note(msgspec.Struct):
    text: str
    amount: Decimal


def _fill(cid: str, ts_recv: int = 1_700_000_000_000_000_123) -> OrderFilled:
    return OrderFilled(
        correlation_id=cid, ts_venue=1_700_000_000_000_000_000, ts_recv=ts_recv, venue=Venue.KALSHI,
        instrument_id="KXBTC-25DEC31-B100000", client_order_id=f"{cid}-L0-A0", venue_order_id="v-1", trade_id="t-1",
        side=Side.BUY, price=Decimal("0.53"), quantity=Decimal("100"), fee=Decimal("0.0175"), fee_currency="USD",
        liquidity=LiquiditySide.TAKER,
    )


def _raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_append_replay_payload_kinds_and_filters(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal.open(path) as j:
        assert j.last_seq() == 0
        s1 = j.append("Raw", b"\x00\x01binary", "c-1", ts_ns=111)
        s2 = j.append("Note", Note(text="hello", amount=Decimal("1.10")), "c-2", ts_ns=222)
        s3 = j.append("Dict", {"px": Decimal("0.05"), "n": 3}, "c-1", ts_ns=333)
        s4 = j.append_event(_fill("c-2"))
        assert (s1, s2, s3, s4) == (1, 2, 3, 4)
        assert j.last_seq() == 4
        assert j.flush_sync() == 4
        assert j.durable_seq() == 4

        recs = list(j.replay())
        assert [r.seq for r in recs] == [1, 2, 3, 4]
        assert recs[0] == JournalRecord(1, 111, "Raw", "c-1", b"\x00\x01binary")
        assert msgspec.json.decode(recs[1].payload) == {"text": "hello", "amount": "1.10"}  # Decimal as string
        assert recs[2].decode() == {"px": "0.05", "n": 3}
        assert recs[3].kind == "OrderFilled" and recs[3].ts_ns == 1_700_000_000_000_000_123
        assert recs[3].decode() == _fill("c-2")  # a known event kind decodes to the Event itself
        with pytest.raises(JournalError, match="seq 1"):
            recs[0].decode()  # not JSON

        assert [r.seq for r in j.replay(3)] == [3, 4]
        assert [r.seq for r in j.replay(2, to_seq=3)] == [2, 3]
        assert [r.seq for r in j.replay(kinds=["Raw", "OrderFilled"])] == [1, 4]
        assert [r.seq for r in j.replay(kinds="Dict")] == [3]
        assert list(j.replay(kinds=[])) == []
        assert [r.seq for r in j.replay(correlation_id="c-1")] == [1, 3]
        assert [r.seq for r in j.replay(2, correlation_id="c-2", kinds=["OrderFilled"])] == [4]
        assert list(j.replay(correlation_id="nope")) == []


def test_reopen_continues_sequence_and_meta(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "dir" / "j.db"  # parents are created
    with Journal.open(path) as j:
        for i in range(5):
            j.append("K", {"i": i})
    with Journal.open(path) as j:
        assert j.last_seq() == 5 and j.durable_seq() == 5
        assert j.append("K", {"i": 5}) == 6
        j.flush_sync()
        assert [r.decode()["i"] for r in j.replay()] == list(range(6))
        meta = j.meta()
        assert meta["schema_version"] == str(SCHEMA_VERSION)
        assert meta["app_version"] and meta["created_at"] and "crc32" in meta["crc_spec"]


def test_append_only_enforced_by_database(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal.open(path) as j:
        j.append("K", b"x")
    con = _raw(path)
    for sql in ("UPDATE journal SET payload = x'00'", "DELETE FROM journal",
                "UPDATE meta SET value = '9' WHERE key = 'schema_version'", "DELETE FROM meta"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only|write-once"):
            con.execute(sql)
    con.close()


def test_append_event_uses_clock_when_event_has_no_receive_time(tmp_path: Path) -> None:
    clock = SimClock(start_ns=1_800_000_000_000_000_000)
    with Journal.open(tmp_path / "j.db", clock=clock) as j:
        j.append_event(OrderAccepted(correlation_id="c-9", venue=Venue.POLYMARKET, client_order_id="o", venue_order_id="v"))
        j.append("K", b"{}")
        j.flush_sync()
        recs = list(j.replay())
    assert [r.ts_ns for r in recs] == [1_800_000_000_000_000_000] * 2
    assert recs[0].correlation_id == "c-9" and recs[0].kind == "OrderAccepted"


def test_bad_payload_type_raises_and_uses_no_sequence_number(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.db") as j:
        with pytest.raises(TypeError, match="payload"):
            j.append("K", "a str is not a payload")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            j.append("K", {"x": object()})
        for bad in (dict(kind=""), dict(kind=None), dict(correlation_id=None), dict(ts_ns=-1), dict(ts_ns=1 << 63),
                    dict(ts_ns=1.5)):
            args = {"kind": "K", "payload": b"{}", **bad}
            with pytest.raises(TypeError):
                j.append(**args)  # type: ignore[arg-type]
        assert j.append("K", b"{}") == 1
        assert j.append("K", bytearray(b"[1]")) == 2
        j.flush_sync()
        assert [r.payload for r in j.replay()] == [b"{}", b"[1]"]


def test_schema_version_newer_or_unknown_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    Journal.open(path).close_sync()
    con = _raw(path)
    con.execute("DROP TRIGGER meta_no_update")
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(JournalError, match="schema version 99, newer"):
        Journal.open(path)
    with pytest.raises(JournalError, match="schema version 99"):
        Journal.open(path, readonly=True)
    con = _raw(path)
    con.execute("UPDATE meta SET value = '0' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(JournalError, match="schema version 0, which this arbkit does not know"):
        Journal.open(path)
    # the failed opens released the writer lock
    con = _raw(path)
    con.execute(f"UPDATE meta SET value = '{SCHEMA_VERSION}' WHERE key = 'schema_version'")
    con.close()
    Journal.open(path).close_sync()


def test_not_a_journal(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    con = _raw(other)
    con.execute("CREATE TABLE t(x)")
    con.close()
    with pytest.raises(JournalError, match="not an arbkit journal"):
        Journal.open(other)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(JournalCorrupt, match="not a database"):
        Journal.open(garbage)
    with pytest.raises(JournalError, match="no journal"):
        Journal.open(tmp_path / "missing.db", readonly=True)


def test_one_writer_per_file(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal.open(path):
        with pytest.raises(JournalError, match="already open for writing"):
            Journal.open(path)
        with Journal.open(path, readonly=True) as ro:  # readers need no lock
            assert ro.last_seq() == 0
    Journal.open(path).close_sync()  # released on close


def test_readonly_journal_refuses_appends(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal.open(path) as j:
        j.append("K", b"{}")
    with Journal.open(path, readonly=True) as ro:
        with pytest.raises(JournalError, match="read-only"):
            ro.append("K", b"{}")
        assert ro.last_seq() == 1 and ro.durable_seq() == 1 and ro.problems == []


async def test_flush_makes_records_durable_and_visible(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    # a long commit interval: without the flush barrier the records would wait for it
    j = Journal.open(path, commit_interval_ms=60_000)
    try:
        for i in range(1000):
            j.append("K", {"i": i}, f"c-{i % 7}")
        t0 = time.monotonic()
        assert await j.flush() == 1000
        assert time.monotonic() - t0 < 30
        assert j.durable_seq() == 1000
        # committed: another connection sees every record
        con = _raw(path)
        assert con.execute("SELECT count(*), max(seq) FROM journal").fetchone() == (1000, 1000)
        con.close()
        # nothing pending: returns at once
        assert await j.flush() == 1000
        assert j.flush_sync(timeout=5) == 1000
    finally:
        await j.close()


def test_records_commit_within_interval_without_flush(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.db", commit_interval_ms=2) as j:
        seq = j.append("K", b"{}")
        deadline = time.monotonic() + 10
        while j.durable_seq() < seq and time.monotonic() < deadline:
            time.sleep(0.002)
        assert j.durable_seq() == seq
        # a second quiet period: the writer went idle and must be woken again
        time.sleep(0.02)
        seq = j.append("K", b"{}")
        while j.durable_seq() < seq and time.monotonic() < deadline:
            time.sleep(0.002)
        assert j.durable_seq() == seq


def test_records_are_batched(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.db", commit_interval_ms=50) as j:
        for i in range(20_000):
            j.append("K", b'{"x":1}')
        j.flush_sync()
        stats = j.stats()
    assert stats["committed"] == 20_000 and stats["appended"] == 20_000
    assert stats["batches"] <= 200  # many records per transaction, not one each
    assert stats["queue_depth"] == 0 and stats["error"] is None
    assert set(stats) >= {"appended", "committed", "batches", "queue_depth", "last_commit_latency_us"}


def test_batch_max_bounds_transaction_size(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.db", batch_max=100) as j:  # rounded down to 64
        for i in range(1000):
            j.append("K", b"{}")
        j.flush_sync()
        assert j.stats()["batches"] >= 1000 // 64
        assert [r.seq for r in j.replay()] == list(range(1, 1001))


def test_close_drains_the_queue(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    j = Journal.open(path, commit_interval_ms=60_000)
    for i in range(5000):
        j.append("K", {"i": i})
    j.close_sync()
    assert j.closed
    j.close_sync()  # idempotent
    with pytest.raises(JournalError, match="closed"):
        j.append("K", b"{}")
    with Journal.open(path, readonly=True) as ro:
        assert [r.decode()["i"] for r in ro.replay()] == list(range(5000))


async def test_async_close_drains(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with Journal.open(path, commit_interval_ms=60_000) as j:
        for i in range(300):
            j.append_event(_fill(f"c-{i}"))
    with Journal.open(path, readonly=True) as ro:
        assert ro.last_seq() == 300
        assert [r.decode().correlation_id for r in ro.replay(299)] == ["c-298", "c-299"]


def test_concurrent_appends_from_threads_keep_unique_contiguous_seqs(tmp_path: Path) -> None:
    threads_n, per_thread = 8, 3000
    got: dict[int, list[int]] = {}
    barrier = threading.Barrier(threads_n)
    with Journal.open(tmp_path / "j.db", commit_interval_ms=1) as j:

        def work(t: int) -> None:
            barrier.wait()
            got[t] = [j.append("T", {"t": t, "i": i}, f"t{t}") for i in range(per_thread)]
            j.flush_sync(timeout=60)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(threads_n)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        total = threads_n * per_thread
        all_seqs = sorted(s for seqs in got.values() for s in seqs)
        assert all_seqs == list(range(1, total + 1))  # unique and contiguous
        assert j.durable_seq() == total
        by_seq = {r.seq: r.decode() for r in j.replay()}  # replay also checks contiguity + CRCs
        assert len(by_seq) == total
        for t, seqs in got.items():
            assert seqs == sorted(seqs)
            assert [by_seq[s] for s in seqs] == [{"t": t, "i": i} for i in range(per_thread)]
            assert [r.seq for r in j.replay(correlation_id=f"t{t}")] == seqs


def test_stored_crc_matches_the_documented_definition(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    with Journal.open(path) as j:
        j.append("Kind", b'{"a":1}', "cid-1", ts_ns=42)
    con = _raw(path)
    row = con.execute("SELECT seq, ts_ns, kind, correlation_id, payload, crc FROM journal").fetchone()
    con.close()
    import zlib

    assert row[5] == record_crc(*row[:5]) == zlib.crc32(b'1\x1f42\x1fKind\x1fcid-1\x1f{"a":1}')


_DISK_FULL_CHILD = textwrap.dedent(
    """
    import resource, signal, sys, time
    from arbkit.journal import Journal, JournalError
    path, limit = sys.argv[1], int(sys.argv[2])
    errors = []
    j = Journal.open(path, on_error=errors.append)
    j.append("K", b"{}"); j.flush_sync()
    # a file size limit makes every write past it fail with EFBIG, like a full disk
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    payload = b"x" * 4000
    try:
        for i in range(100000):
            j.append("K", payload)
            if i % 100 == 99:
                j.flush_sync(timeout=30)
        print("NO FAILURE")
    except JournalError as exc:
        print("FLUSH_OR_APPEND_FAILED", exc)
    try:
        j.append("K", b"{}")
        print("APPEND_ACCEPTED")
    except JournalError as exc:
        print("APPEND_REFUSED", exc)
    try:
        j.flush_sync(timeout=5)
        print("FLUSH_OK")
    except JournalError as exc:
        print("FLUSH_REFUSED", exc)
    import asyncio
    try:
        asyncio.run(j.flush())
        print("ASYNC_FLUSH_OK")
    except JournalError as exc:
        print("ASYNC_FLUSH_REFUSED", exc)
    print("ON_ERROR", len(errors))
    print("STATS_ERROR", j.stats()["error"] is not None)
    try:
        j.close_sync()
        print("CLOSE_OK")
    except JournalError:
        print("CLOSE_RAISED")
    """
)


def test_writer_failure_is_never_silent(tmp_path: Path) -> None:
    """A real write failure (file size limit => EFBIG) in a child process."""
    path = tmp_path / "j.db"
    proc = subprocess.run([sys.executable, "-c", _DISK_FULL_CHILD, str(path), str(2 << 20)],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    out = proc.stdout
    assert "NO FAILURE" not in out, proc.stderr
    assert "FLUSH_OR_APPEND_FAILED" in out and "writer failed" in out
    assert "APPEND_REFUSED" in out and "FLUSH_REFUSED" in out and "ASYNC_FLUSH_REFUSED" in out
    assert "ON_ERROR 1" in out and "STATS_ERROR True" in out and "CLOSE_RAISED" in out
    # what was committed before the failure is intact
    with Journal.open(path) as j:
        assert j.last_seq() >= 1
        assert j.verify() == []


def test_flush_sync_timeout_and_stats(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.db") as j:
        assert j.flush_sync(timeout=0.5) == 0
        j.append("K", b"{}")
        assert j.flush_sync(timeout=10) == 1
        st = j.stats()
        assert st["durable_seq"] == 1 and st["last_seq"] == 1
        assert repr(j).startswith("<Journal ")


async def test_flush_from_event_loop_while_threads_append(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.db") as j:
        stop = threading.Event()

        def spam() -> None:
            while not stop.is_set():
                j.append("Spam", b"{}")
                time.sleep(0)

        th = threading.Thread(target=spam)
        th.start()
        try:
            for i in range(20):
                seq = j.append("Intent", {"i": i})
                durable = await asyncio.wait_for(j.flush(), 30)
                assert durable >= seq
        finally:
            stop.set()
            th.join()


_NO_CLOSE_CHILD = textwrap.dedent(
    """
    import sys
    from arbkit.journal import Journal
    j = Journal.open(sys.argv[1], commit_interval_ms=60_000)
    for i in range(2000):
        j.append("K", {"i": i})
    print("APPENDED", j.last_seq(), "DURABLE", j.durable_seq(), flush=True)
    # no flush, no close: the interpreter exits normally
    """
)


def test_normal_exit_without_close_still_drains(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    proc = subprocess.run([sys.executable, "-c", _NO_CLOSE_CHILD, str(path)], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "APPENDED 2000" in proc.stdout
    with Journal.open(path, readonly=True) as ro:
        assert ro.last_seq() == 2000 and ro.problems == []


def test_environment_errors_are_not_reported_as_corruption(tmp_path: Path) -> None:
    from arbkit.journal.store import _sqlite_failure

    try:
        sqlite3.connect(f"file:{tmp_path / 'no' / 'such.db'}?mode=ro", uri=True)
    except sqlite3.OperationalError as exc:
        cant_open = exc
    err = _sqlite_failure(tmp_path, cant_open, "opening")
    assert type(err) is JournalError and "SQLITE_CANTOPEN" in str(err)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"x" * 4096)
    try:
        sqlite3.connect(garbage).execute("SELECT * FROM sqlite_master")
    except sqlite3.DatabaseError as exc:
        not_a_db = exc
    assert isinstance(_sqlite_failure(garbage, not_a_db, "opening"), JournalCorrupt)


def test_many_flushes_racing_commits_never_hang(tmp_path: Path) -> None:
    """Regression: a flush registering just as the writer publishes a commit must still be
    released (the durable seq and the waiter list change under one lock)."""
    errors: list[BaseException] = []
    with Journal.open(tmp_path / "j.db", commit_interval_ms=0.2) as j:

        def work(t: int) -> None:
            try:
                for i in range(250):
                    seq = j.append("K", b"{}", f"t{t}")
                    assert j.flush_sync(timeout=20) >= seq
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []
        assert j.durable_seq() == 1000


# --- group commit (synchronous="GROUP", the node's default) ------------------------------------


async def test_group_commit_written_first_fsynced_soon_after(tmp_path: Path) -> None:
    """An order waits for its records to be written (committed); the fsync follows within the
    group window by itself, and a durable flush does not wait for the window."""
    with Journal.open(tmp_path / "g.db", synchronous="GROUP", group_commit_ms=1000) as j:
        seq = j.append("LegSubmitted", {"coid": "x-L0-A0"}, "x")
        assert await j.flush(durable=False) >= seq
        assert j.written_seq() >= seq > j.durable_seq()  # in the page cache, not yet fsynced
        t0 = time.monotonic()
        assert await j.flush() >= seq  # durable: the syncer skips its 1 s gathering window
        assert j.durable_seq() >= seq and time.monotonic() - t0 < 1.0
        syncs = j.stats()["group_syncs"]
        assert syncs >= 1
        # without anyone waiting, the fsync still follows within the window
        seq2 = j.append("LegSubmitted", {"coid": "x-L1-A0"}, "x")
        await j.flush(durable=False)
        deadline = time.monotonic() + 10
        while j.durable_seq() < seq2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert j.durable_seq() >= seq2 and j.stats()["group_syncs"] > syncs


def test_group_commit_close_leaves_everything_durable(tmp_path: Path) -> None:
    path = tmp_path / "g2.db"
    j = Journal.open(path, synchronous="GROUP", group_commit_ms=50)
    for i in range(500):
        j.append("Tick", {"i": i})
    assert j.flush_sync(timeout=30, durable=False) == 500
    j.close_sync()
    assert j.durable_seq() == 500 and j.written_seq() == 500
    with Journal.open(path, readonly=True) as r:
        assert r.last_seq() == 500 and r.verify() == []


def test_group_commit_window_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="group_commit_ms"):
        Journal.open(tmp_path / "bad.db", synchronous="GROUP", group_commit_ms=-1)
    with pytest.raises(ValueError, match="GROUP"):
        Journal.open(tmp_path / "bad.db", synchronous="ALWAYS")  # type: ignore[arg-type]
