"""`arbkit report JOURNAL [--html FILE] [--json]` as a real subprocess on a real journal."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from report_journal import build_report_journal


def arbkit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "arbkit.cli", *args], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def journal(tmp_path_factory) -> Path:
    return build_report_journal(tmp_path_factory.mktemp("cli") / "journal.db")


def test_json_and_html(journal, tmp_path):
    html_path = tmp_path / "out" / "report.html"
    res = arbkit("report", str(journal), "--json", "--html", str(html_path))
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)  # stdout is pure JSON; the HTML path goes to stderr
    assert doc["executions"]["by_status"] == {"FILLED": 2, "HEDGED": 1, "FAILED": 1, "ABORTED": 1}
    assert doc["pnl"]["by_currency"][0] == {"currency": "USD", "executions": 4, "profit": "-2.61", "predicted_profit": "2"}
    assert f"HTML report: {html_path}" in res.stderr

    page = html_path.read_text(encoding="utf-8")
    # four inline plots, each with its title and axis labels
    assert page.count("<svg") == 4
    for plot_id in ("plot-pnl", "plot-slippage", "plot-latency", "plot-edge"):
        assert f'id="{plot_id}"' in page
    for text in ("Cumulative PnL over time", "Slippage: predicted − effective edge (positive = worse)", "Latency CDF per stage",
                 "latency (µs, log scale)", "slippage (bps)", "cumulative PnL", "socket-&gt;book (n=4)"):
        assert text in page, text
    # summary tables with the exact figures
    assert "<td>-2.61</td>" in page and "<td>0.48</td>" in page and "<td>66.7%</td>" in page
    # per-leg fills with market names and order ids, positions, capital locked and return on capital
    assert 'id="fills"' in page and "Will the test event happen? YES" in page and "v-E2-0-1" in page
    assert "tok-yes" not in page.split('id="fills"')[1]  # names, not token ids
    for text in ("Positions at the end of the run", "Capital locked until resolution", "Return on capital", "-21.606%",
                 "positive = worse than predicted"):
        assert text in page, text
    # offline: no URL of any kind, nothing fetched, no script
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page)
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page.lower()
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_plain_text_when_not_a_terminal(journal):
    res = arbkit("report", str(journal))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "== Fill rate (orders fully filled / submitted) ==" in out
    assert re.search(r"polymarket\s+6\s+4\s+1\s+1\s+0\s+66\.7%", out)
    assert re.search(r"cross_venue\s+kalshi\+polymarket\s+USD\s+4\s+-2\.61\s+2", out)
    assert re.search(r"risk->sent\s+5\s+180\s+262\s+296\.2\s+300", out)
    assert re.search(r"polymarket\s+Will the test event happen\? YES\s+16\s+0\.41\s+6\.56 pUSD\s+16 pUSD\s+open", out)
    assert "return on capital" in out and "-21.606%" in out
    assert "\x1b[" not in out  # no colour codes in a pipe
    assert "─" not in out and "┃" not in out  # no box drawing either


def test_missing_and_bad_journal(tmp_path):
    res = arbkit("report", str(tmp_path / "nope.db"))
    assert res.returncode == 2 and "no journal at" in res.stderr
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"not a database at all" * 100)
    res = arbkit("report", str(bad))
    assert res.returncode == 1 and "error:" in res.stderr and "Traceback" not in res.stderr
