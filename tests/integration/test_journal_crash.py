"""A child process journals continuously and is SIGKILLed at random moments (seeded). After each
kill the journal must open without corruption, hold every record up to the last seq the child
reported flushed ("FLUSHED <seq>"), and every committed record must be intact (CRC) and
contiguous; only records after the last commit may be lost. Run for the per-commit fsync (FULL:
FLUSHED = durable) and for the node's default group commit (GROUP: FLUSHED = written, the barrier an
order waits for; a process kill must not lose it, whether or not its fsync had happened)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import msgspec
import pytest

from arbkit.journal import Journal

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import random, sys, time
    from arbkit.journal import Journal

    path, seed, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    rnd = random.Random(seed)
    journal = Journal.open(path, commit_interval_ms=rnd.choice([1, 5, 20]), batch_max=rnd.choice([64, 4096]),
                           synchronous=mode, group_commit_ms=rnd.choice([0, 2, 50]))
    n = journal.last_seq()
    print("OPENED", n, flush=True)
    while True:
        for _ in range(rnd.randrange(1, 3000)):
            n += 1
            # the payload is a function of the seq: the parent can check every byte
            seq = journal.append("Tick", {"n": n, "pad": "x" * (n % 301)}, f"c-{n // 10}")
            assert seq == n, (seq, n)
        if rnd.random() < 0.5:
            # one write: with PYTHONUNBUFFERED, print() writes its pieces apart and a kill between
            # them leaves "FLUSHED" without its seq
            sys.stdout.write(f"FLUSHED {journal.flush_sync(timeout=60, durable=mode == 'FULL')}\\n")
            sys.stdout.flush()
        time.sleep(rnd.random() * 0.004)
    """
)


def _expected_payload(seq: int) -> bytes:
    return msgspec.json.encode({"n": seq, "pad": "x" * (seq % 301)})


@pytest.mark.parametrize("mode", ["FULL", "GROUP"])
def test_sigkill_while_writing_loses_only_uncommitted_records(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "crash.db"
    rnd = random.Random(20261121)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    checked = 0  # records verified byte for byte so far
    total_flushed_rounds = 0
    started = time.monotonic()
    for round_no in range(10):
        proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(rnd.randrange(1 << 30)), mode],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
        try:
            first = proc.stdout.readline()  # type: ignore[union-attr]
            assert first.startswith("OPENED"), (first, proc.stderr.read())  # type: ignore[union-attr]
            opened_at = int(first.split()[1])
            time.sleep(rnd.uniform(0.05, 0.6))
        finally:
            proc.send_signal(signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, err
        flushed = [int(line.split()[1]) for line in out.splitlines() if line.startswith("FLUSHED")]
        last_flushed = max(flushed, default=opened_at)
        total_flushed_rounds += bool(flushed)

        # opens with every check (quick_check, contiguity, CRCs and index entries of the tail)
        with Journal.open(path, check_last=5000) as journal:
            last = journal.last_seq()
            assert last >= last_flushed, f"round {round_no}: flushed up to {last_flushed}, only {last} survived"
            assert last >= opened_at
            # everything committed reads back exactly, in order, without a gap (replay checks both)
            n = checked
            for rec in journal.replay(checked + 1):
                n += 1
                assert rec.seq == n and rec.kind == "Tick" and rec.correlation_id == f"c-{n // 10}"
                assert rec.payload == _expected_payload(n), f"round {round_no}: seq {n} payload differs"
            assert n == last
        # committed records never go away; the next round continues after them (records that
        # were appended but never committed are lost, and their seqs are handed out again)
        checked = last
        print(f"round {round_no}: opened_at={opened_at} flushes={len(flushed)} last_flushed={last_flushed} survived={last}")
    assert total_flushed_rounds >= 5, "the child rarely reached a flush: the test did not test much"
    with Journal.open(path, readonly=True) as journal:
        assert journal.verify() == []
        assert journal.problems == []
    assert time.monotonic() - started < 60
