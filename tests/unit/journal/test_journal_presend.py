"""The pre-send side log (group commit): ``flush(durable=False)`` returns once the records are in
the side file, before SQLite has them; a process killed right then loses nothing, because opening
the journal again inserts them from the side file. A real child process, killed with SIGKILL while
its writer is still gathering (commit interval 30 s), and real SQLite files."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from arbkit.journal import Journal

ROOT = Path(__file__).resolve().parents[3]

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from arbkit.journal import Journal

    path, n = sys.argv[1], int(sys.argv[2])
    # the writer wakes for the first record, then gathers for 30 s: nothing reaches SQLite
    journal = Journal.open(path, synchronous="GROUP", commit_interval_ms=30000)
    base = journal.last_seq()
    for i in range(n):
        journal.append("Tick", {"i": base + i + 1, "pad": "x" * (i % 97)}, f"c-{i % 3}")
    mark = journal.flush_sync(timeout=5, durable=False)
    print("WRITTEN", mark, journal.stats()["written_seq"], flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def _child(path: Path, n: int) -> tuple[int, int]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path), str(n)], capture_output=True, text=True, env=env,
                          timeout=60)
    assert proc.returncode == -9, proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("WRITTEN")][-1]
    _, mark, committed = line.split()
    return int(mark), int(committed)


def _payloads(path: Path) -> list[int]:
    with Journal.open(path, readonly=True) as j:
        return [r.decode()["i"] for r in j.replay()]


def test_records_written_only_to_the_side_log_survive_a_kill(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    mark, committed = _child(path, 50)
    assert mark == 50 and committed == 0  # the barrier returned before SQLite had anything
    side = path.with_name(path.name + "-presend")
    assert side.stat().st_size > 0
    with Journal.open(path, synchronous="GROUP") as j:
        assert j.last_seq() == 50 and j.stats()["presend_recovered"] == 50
        assert side.stat().st_size == 0  # recovered, fsynced, emptied
        j.append("Tick", {"i": 51}, "c")
    assert _payloads(path) == list(range(1, 52))
    with Journal.open(path, readonly=True) as j:
        assert j.verify() == [] and j.problems == []
    # a second kill after a restart: the side log carries on from the recovered seq
    mark, committed = _child(path, 7)
    assert mark == 58
    with Journal.open(path) as j:
        assert j.last_seq() == 58
    assert _payloads(path) == list(range(1, 59))


@pytest.mark.parametrize("damage", ["torn_tail", "bad_crc"])
def test_a_damaged_side_log_gives_up_what_follows_the_damage(tmp_path: Path, damage: str) -> None:
    # only a power cut can tear a completed write: what follows the damage is lost, never misread
    path = tmp_path / "j.sqlite"
    _child(path, 20)
    side = path.with_name(path.name + "-presend")
    data = bytearray(side.read_bytes())
    if damage == "torn_tail":
        data = data[: len(data) - 5]  # the last record is cut short
        keep = 19
    else:
        # flip a payload byte of record 11: records 11..20 are not recovered
        pos = 0
        for _ in range(10):
            pos += 4 + int.from_bytes(data[pos:pos + 4], "little")
        data[pos + 40] ^= 0x01
        keep = 10
    side.write_bytes(bytes(data))
    with Journal.open(path) as j:
        assert j.last_seq() == keep
    assert _payloads(path) == list(range(1, keep + 1))


def test_clean_close_removes_the_side_log_and_other_modes_have_none(tmp_path: Path) -> None:
    path = tmp_path / "g.sqlite"
    with Journal.open(path, synchronous="GROUP") as j:
        j.append("Tick", {"i": 1}, "c")
        assert j.flush_sync(durable=False) == 1
    assert not path.with_name(path.name + "-presend").exists()
    assert _payloads(path) == [1]
    full = tmp_path / "f.sqlite"
    with Journal.open(full, synchronous="FULL") as j:
        j.append("Tick", {"i": 1}, "c")
        j.flush_sync(durable=False)
        assert j.stats()["presend_writes"] == 0
    assert not full.with_name(full.name + "-presend").exists()


def test_a_reader_of_a_dead_writers_journal_recovers_the_side_log(tmp_path: Path) -> None:
    # `arbkit journal tail`, the report and recovery tooling read a killed node's journal read-only
    path = tmp_path / "j.sqlite"
    _child(path, 12)
    assert _payloads(path) == list(range(1, 13))
    assert not path.with_name(path.name + "-presend").exists()
    # with a live writer holding the lock, a reader leaves its side file alone
    with Journal.open(path, synchronous="GROUP", commit_interval_ms=30000) as j:
        j.append("Tick", {"i": 13}, "c")
        j.flush_sync(durable=False)
        assert _payloads(path) == list(range(1, 13))  # not committed yet, and not taken from the writer
    assert _payloads(path) == list(range(1, 14))
