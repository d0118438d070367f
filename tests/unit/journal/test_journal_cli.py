"""`arbkit journal tail|show|verify` run as a real subprocess on a real journal file."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from arbkit.core.enums import LiquiditySide, Side, Venue
from arbkit.core.events import OrderFilled
from arbkit.journal import Journal

ROOT = Path(__file__).resolve().parents[3]


def arbkit(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "arbkit.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.fixture
def journal_file(tmp_path: Path) -> Path:
    path = tmp_path / "j.db"
    with Journal.open(path) as j:
        for i in range(30):
            j.append("Tick" if i % 3 == 0 else "Note", {"i": i}, f"c-{i // 5}", ts_ns=1_700_000_000_000_000_000 + i)
        j.append_event(OrderFilled(
            correlation_id="exec-42", ts_recv=1_700_000_001_000_000_000, venue=Venue.POLYMARKET, instrument_id="tok",
            client_order_id="exec-42-L0-A0", venue_order_id="0xabc", trade_id="t9", side=Side.BUY,
            price=Decimal("0.47"), quantity=Decimal("12.5"), fee=Decimal("0"), fee_currency="USDC",
            liquidity=LiquiditySide.MAKER))
        j.append("Blob", b"\x00\xff\x10", "exec-42")
    return path


def test_help_lists_commands() -> None:
    res = arbkit("journal", "--help")
    assert res.returncode == 0
    for cmd in ("tail", "show", "verify"):
        assert cmd in res.stdout


def test_tail_last_records_in_order(journal_file: Path) -> None:
    res = arbkit("journal", "tail", str(journal_file), "-n", "4")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert [int(line.split()[0]) for line in lines] == [29, 30, 31, 32]
    assert "2023-11-14T22:13:20" in lines[0] and "Note" in lines[0] and '{"i":28}' in lines[0]
    assert "OrderFilled" in lines[2] and "exec-42" in lines[2] and '{"type":"OrderFilled"' in lines[2]
    assert lines[2].endswith("...") and len(lines[2]) < 300  # long payloads are cut ...
    wide = arbkit("journal", "tail", str(journal_file), "-n", "4", "--wide").stdout.splitlines()
    assert '"price":"0.47"' in wide[2] and '"liquidity":"MAKER"' in wide[2]  # ... unless --wide
    assert "not JSON" in lines[3] and "00ff10" in lines[3]
    default = arbkit("journal", "tail", str(journal_file))
    assert len(default.stdout.splitlines()) == 20


def test_tail_kind_filter_and_json(journal_file: Path) -> None:
    res = arbkit("journal", "tail", str(journal_file), "-n", "3", "--kind", "Tick", "--json")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["seq"] for r in rows] == [22, 25, 28]
    assert all(r["kind"] == "Tick" and r["crc_ok"] for r in rows)
    assert rows[0]["payload"] == {"i": 21} and rows[0]["correlation_id"] == "c-4"


def test_show_by_seq_and_by_correlation_id(journal_file: Path) -> None:
    res = arbkit("journal", "show", str(journal_file), "31")
    assert res.returncode == 0, res.stderr
    assert "seq:            31" in res.stdout and "kind:           OrderFilled" in res.stdout
    assert "crc:            ok" in res.stdout and '"quantity": "12.5"' in res.stdout

    res = arbkit("journal", "show", str(journal_file), "exec-42", "--json")
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["seq"] for r in rows] == [31, 32]
    assert rows[1]["payload"] == {"_hex": "00ff10"}

    res = arbkit("journal", "show", str(journal_file), "c-2")
    assert [line.split()[-1] for line in res.stdout.splitlines() if line.startswith("seq:")] == ["11", "12", "13", "14", "15"]


def test_show_unknown_id_and_missing_file(journal_file: Path, tmp_path: Path) -> None:
    res = arbkit("journal", "show", str(journal_file), "no-such-id")
    assert res.returncode == 1 and "no record" in res.stderr and "no-such-id" in res.stderr
    res = arbkit("journal", "show", str(journal_file), "999")
    assert res.returncode == 1
    res = arbkit("journal", "tail", str(tmp_path / "missing.db"))
    assert res.returncode == 2 and "no journal" in res.stderr
    assert not (tmp_path / "missing.db").exists()  # reading never creates a file


def test_corrupt_record_is_flagged(journal_file: Path) -> None:
    con = sqlite3.connect(journal_file, isolation_level=None)
    con.execute("DROP TRIGGER journal_no_update")
    con.execute("UPDATE journal SET payload = CAST('{\"i\":999}' AS BLOB) WHERE seq = 30")
    con.close()
    res = arbkit("journal", "tail", str(journal_file), "-n", "3")
    assert res.returncode == 1
    assert "crc mismatch at seq 30" in res.stderr
    flagged = [line for line in res.stdout.splitlines() if "CRC MISMATCH" in line]
    assert len(flagged) == 1 and flagged[0].split()[0] == "30"
    res = arbkit("journal", "show", str(journal_file), "30")
    assert res.returncode == 1 and "MISMATCH" in res.stdout
    res = arbkit("journal", "verify", str(journal_file))
    assert res.returncode == 1 and res.stderr.count("crc mismatch at seq 30") == 1, res.stderr  # each problem once


def test_verify_ok(journal_file: Path) -> None:
    res = arbkit("journal", "verify", str(journal_file))
    assert res.returncode == 0, res.stderr
    assert "32 records" in res.stdout


def test_tail_follow_prints_new_records_while_a_writer_runs(tmp_path: Path) -> None:
    path = tmp_path / "live.db"
    with Journal.open(path) as j:
        j.append("Old", {"i": 0})
        j.flush_sync()
        proc = subprocess.Popen([sys.executable, "-m", "arbkit.cli", "journal", "tail", str(path), "--follow",
                                 "--json", "--kind", "New", "--interval", "0.05"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            time.sleep(1.0)  # let it start and print the (filtered: empty) tail
            for i in range(5):
                j.append("New", {"i": i}, "c-new")
                j.append("Other", {"i": i})
            j.flush_sync()
            seen: list[dict] = []
            deadline = time.monotonic() + 30
            while len(seen) < 5 and time.monotonic() < deadline:
                line = proc.stdout.readline()  # type: ignore[union-attr]
                if not line:
                    break
                seen.append(json.loads(line))
        finally:
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=30)
    assert [r["payload"]["i"] for r in seen] == [0, 1, 2, 3, 4], err
    assert [r["seq"] for r in seen] == [2, 4, 6, 8, 10]
    assert proc.returncode == 0, err
