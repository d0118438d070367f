"""The dashboard renders a node status snapshot: rich on a terminal, plain lines otherwise."""

from __future__ import annotations

import io
from types import SimpleNamespace

from rich.console import Console

from arbkit.runtime.dashboard import Dashboard, plain_line, render


def _status(**over):
    st = {
        "node": "demo", "uptime_s": 12.3, "trading": True, "paused": False,
        "killswitch": {"tripped": False, "reason": ""},
        "venues": {
            "polymarket": {"mode": "sim", "connections": [("polymarket.market.0", "CONNECTED"), ("polymarket.user", "CONNECTED")],
                           "msgs_per_s": 31.0, "frames": 400},
            "kalshi": {"mode": "sim", "connections": [("kalshi.market.0", "STALLED"), ("kalshi.user", "CONNECTED")],
                       "msgs_per_s": 12.0, "frames": 150},
        },
        "books": [
            {"instrument": "polymarket:1", "venue": "polymarket", "market": "0xabc", "outcome": "YES", "title": "Will X?",
             "bid": "0.40", "ask": "0.42", "age_ms": 120, "tradeable": True},
            {"instrument": "polymarket:2", "venue": "polymarket", "market": "0xabc", "outcome": "NO", "title": "Will X?",
             "bid": "0.58", "ask": "0.60", "age_ms": 300, "tradeable": True},
            {"instrument": "kalshi:KX-1:yes", "venue": "kalshi", "market": "KX-1", "outcome": "YES", "title": "X",
             "bid": None, "ask": None, "age_ms": None, "tradeable": False},
        ],
        "mappings": 1,
        "strategy": {"evaluations": 50, "opportunities": 3, "submitted": 2, "denied": 1, "last_denial": "stale: old book",
                     "skips": {"no_edge": 40}},
        "in_flight": [{"execution_id": "xv-1", "state": "RUNNING", "age_s": 0.4}],
        "reports": [{"execution_id": "xv-0", "status": "FILLED", "strategy": "cross_venue", "predicted_bps": "250.00",
                     "effective_bps": "251.10", "profit": "0.48", "legs": ["polymarket BUY 20@0.28", "kalshi BUY 20@0.67"],
                     "error": ""}],
        "executions": {"reported": 1, "filled": 1},
        "pnl": "0.48", "exposure": {"kalshi KX-1 NO": "20 shares (13.40 USD)"},
        "breakers": {"polymarket.feed": "running", "kalshi.feed": "breaker_open"},
        "journal": {"records": 42}, "notes": ["metrics: http://127.0.0.1:1/metrics"],
    }
    st.update(over)
    return st


def test_render_shows_every_section() -> None:
    buf = io.StringIO()
    Console(file=buf, width=160, force_terminal=False).print(render(_status(), "arbkit demo"))
    text = buf.getvalue()
    for needle in ("TRADING", "polymarket.market.0", "STALLED", "31", "Will X?", "0.42", "0.60", "opportunities 3",
                   "last denial: stale: old book", "xv-1", "RUNNING", "FILLED", "251.10", "kalshi KX-1 NO",
                   "breaker_open", "P&L 0.48", "metrics: http://127.0.0.1:1/metrics"):
        assert needle in text, needle


def test_render_flags_the_kill_switch() -> None:
    buf = io.StringIO()
    Console(file=buf, width=120, force_terminal=False).print(render(_status(killswitch={"tripped": True, "reason": "breaker"})))
    assert "KILL SWITCH: breaker" in buf.getvalue()


def test_plain_line_summarises_health_and_counts() -> None:
    line = plain_line(_status())
    assert "polymarket:up/31msg/s" in line and "kalshi:down/12msg/s" in line
    assert "books 2/3 tradeable" in line
    assert "opportunities 3 sent 2 denied 1" in line and "in flight 1" in line and "filled 1" in line
    assert "\n" not in line


def test_non_terminal_stream_gets_plain_lines_without_escape_codes() -> None:
    buf = io.StringIO()  # not a terminal
    dash = Dashboard(buf, plain_every_s=0.0)
    assert dash.plain
    node = SimpleNamespace(status=_status)
    dash.start()
    dash.update(node)
    dash.update(node)
    dash.stop()
    out = buf.getvalue()
    assert out.count("books 2/3 tradeable") == 2
    assert out.count("metrics: http://127.0.0.1:1/metrics") == 1  # start-up notes once
    assert "\x1b[" not in out
