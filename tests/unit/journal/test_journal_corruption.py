"""Torn and corrupt journals are detected and reported (JournalCorrupt naming the seq), never
silently accepted. Damage is made for real: SQL edits behind the journal's back, flipped and
truncated bytes in the database file, a WAL cut mid-frame."""

from __future__ import annotations

import random
import shutil
import sqlite3
from pathlib import Path

import pytest

from arbkit.journal import Journal, JournalCorrupt, JournalRecord



def _page_size(path: Path) -> int:
    con = sqlite3.connect(path)
    try:
        return con.execute("PRAGMA page_size").fetchone()[0]
    finally:
        con.close()


def _make(path: Path, n: int = 400) -> list[JournalRecord]:
    with Journal.open(path) as j:
        for i in range(n):
            j.append(f"K{i % 3}", {"i": i, "marker": f"<<{i:06d}>>", "pad": "p" * 150}, f"c-{i // 4:05d}")
    with Journal.open(path, readonly=True) as ro:
        return list(ro.replay())


def _sql(path: Path, *statements: str) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("DROP TRIGGER IF EXISTS journal_no_update")
    con.execute("DROP TRIGGER IF EXISTS journal_no_delete")
    for stmt in statements:
        con.execute(stmt)
    con.close()


def test_crc_mismatch_is_detected_at_open_replay_and_verify(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    _make(path, 100)
    _sql(path, "UPDATE journal SET payload = CAST('{\"i\":97,\"forged\":true}' AS BLOB) WHERE seq = 97")
    with pytest.raises(JournalCorrupt, match="crc mismatch at seq 97") as err:
        Journal.open(path)
    assert err.value.seq == 97
    # read-only inspection keeps going and says what is wrong
    with Journal.open(path, readonly=True) as ro:
        assert any("seq 97" in p for p in ro.problems)
        assert [rec.seq for rec, ok in ro.scan() if not ok] == [97]
        assert [r.seq for r in ro.replay(to_seq=96)][-1] == 96  # records before it read fine
        with pytest.raises(JournalCorrupt, match="seq 97"):
            list(ro.replay())
        with pytest.raises(JournalCorrupt, match="seq 97"):
            list(ro.replay(correlation_id="c-00024"))
        assert any("crc mismatch at seq 97" in p for p in ro.verify())


def test_metadata_change_breaks_the_crc_too(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    _make(path, 50)
    _sql(path, "UPDATE journal SET correlation_id = 'c-forged' WHERE seq = 50")
    with pytest.raises(JournalCorrupt, match="seq 50"):
        Journal.open(path)
    _make(tmp_path / "k.db", 50)
    _sql(tmp_path / "k.db", "UPDATE journal SET ts_ns = ts_ns + 1 WHERE seq = 49")
    with pytest.raises(JournalCorrupt, match="seq 49"):
        Journal.open(tmp_path / "k.db")


def test_old_damage_beyond_the_open_check_is_caught_by_replay_and_verify(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    _make(path, 300)
    _sql(path, "UPDATE journal SET payload = CAST('{}' AS BLOB) WHERE seq = 5")
    with Journal.open(path, check_last=10) as j:  # only the last 10 CRCs are checked at open
        with pytest.raises(JournalCorrupt, match="seq 5"):
            list(j.replay())
        assert any("seq 5" in p for p in j.verify())


def test_sequence_gap_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    _make(path, 100)
    _sql(path, "DELETE FROM journal WHERE seq IN (40, 41, 77)")
    with pytest.raises(JournalCorrupt, match=r"missing 40\.\.41, 77") as err:
        Journal.open(path)
    assert err.value.seq == 40
    with Journal.open(path, readonly=True, check_last=5) as ro:
        assert any("sequence gap" in p for p in ro.problems)
        with pytest.raises(JournalCorrupt, match=r"missing seq 40\.\.41"):
            list(ro.replay())
    # a journal that does not start at 1 lost its beginning
    path2 = tmp_path / "k.db"
    _make(path2, 20)
    _sql(path2, "DELETE FROM journal WHERE seq <= 3")
    with pytest.raises(JournalCorrupt, match=r"missing 1\.\.3"):
        Journal.open(path2)


def test_damaged_index_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    _make(path, 60)
    _sql(path, "DROP INDEX journal_correlation_id")
    with pytest.raises(JournalCorrupt, match="journal_correlation_id"):
        Journal.open(path)


def test_flipped_payload_byte_in_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    _make(path)  # closed: everything checkpointed into the database file
    data = bytearray(path.read_bytes())
    at = data.find(b"<<000390>>")
    assert at > 0
    data[at + 4] ^= 0x01  # '0' -> '1' inside record 391's payload
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt, match="crc mismatch at seq 391") as err:
        Journal.open(path)
    assert err.value.seq == 391


def test_clobbered_last_page_header(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    _make(path)
    page = _page_size(path)
    data = bytearray(path.read_bytes())
    last = len(data) - page
    data[last:last + 12] = b"\xa5" * 12  # b-tree page type, freeblock, cell count, content start
    path.write_bytes(bytes(data))
    with pytest.raises(JournalCorrupt):
        Journal.open(path)
    with Journal.open(path, readonly=True) as ro:
        assert ro.problems


def test_truncated_database_file(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    _make(path)
    page = _page_size(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - page - page // 2])
    with pytest.raises(JournalCorrupt):
        Journal.open(path)


def test_random_bit_flips_in_the_last_pages_never_pass_unnoticed(tmp_path: Path) -> None:
    """Either the open raises JournalCorrupt, or the flip hit unused space and every record and
    every index answer is exactly what was written."""
    pristine = tmp_path / "pristine.db"
    original = _make(pristine)
    page = _page_size(pristine)
    size = pristine.stat().st_size
    detected = 0
    for seed in range(40):
        rnd = random.Random(seed)
        path = tmp_path / f"flip{seed}.db"
        data = bytearray(pristine.read_bytes())
        data[rnd.randrange(size - 2 * page, size)] ^= 1 << rnd.randrange(8)
        path.write_bytes(bytes(data))
        try:
            j = Journal.open(path, check_last=len(original))
        except JournalCorrupt:
            detected += 1
            continue
        with j:
            assert list(j.replay()) == original, f"seed {seed}: changed records were accepted"
            for cid in {r.correlation_id for r in original}:
                assert [r.seq for r in j.replay(correlation_id=cid)] == [r.seq for r in original if r.correlation_id == cid]
            for kind in ("K0", "K1", "K2"):
                assert [r.seq for r in j.replay(kinds=[kind])] == [r.seq for r in original if r.kind == kind]
    assert detected >= 20  # the last pages are mostly record data: most flips must be caught


def _snapshot_while_open(src: Path, dst: Path) -> None:
    """What the disk holds if the process died now: the database file and its WAL."""
    shutil.copyfile(src, dst)
    shutil.copyfile(src.with_name(src.name + "-wal"), dst.with_name(dst.name + "-wal"))


def test_wal_cut_mid_frame_loses_only_the_uncommitted_transaction(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    crash = tmp_path / "crash.db"
    # commit only on flush, so each flush is exactly one transaction
    j = Journal.open(path, commit_interval_ms=60_000)
    try:
        for i in range(64):
            j.append("A", {"i": i, "pad": "a" * 100}, "c-a")
        assert j.flush_sync(timeout=30) == 64
        for i in range(64):
            j.append("B", {"i": i, "pad": "b" * 100}, "c-b")
        assert j.flush_sync(timeout=30) == 128
        _snapshot_while_open(path, crash)
    finally:
        j.close_sync()
    wal = crash.with_name(crash.name + "-wal")
    wal_bytes = wal.read_bytes()
    page = _page_size(path)
    assert (len(wal_bytes) - 32) % (24 + page) == 0  # header + whole frames
    assert len(wal_bytes) > 32 + 3 * (24 + page)  # nothing was checkpointed
    # the last transaction's commit frame is the last frame: cut it in half (a torn write)
    wal.write_bytes(wal_bytes[: len(wal_bytes) - page // 2])
    with Journal.open(crash) as recovered:
        assert recovered.last_seq() == 64  # the torn transaction is gone, the first is intact
        assert recovered.verify() == []
        assert [r.decode()["i"] for r in recovered.replay()] == list(range(64))
        # and the journal carries on from there
        assert recovered.append("C", b"{}") == 65


def test_wal_intact_snapshot_recovers_everything(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    crash = tmp_path / "crash.db"
    j = Journal.open(path, commit_interval_ms=60_000)
    try:
        for i in range(100):
            j.append("A", {"i": i})
        j.flush_sync(timeout=30)
        _snapshot_while_open(path, crash)
    finally:
        j.close_sync()
    with Journal.open(crash) as recovered:
        assert recovered.last_seq() == 100 and recovered.verify() == []
