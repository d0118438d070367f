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


def _screen(st, width: int, height: int) -> list[str]:
    """What a terminal of that size shows: the dashboard printed at its size, lines as text."""
    buf = io.StringIO()
    Console(file=buf, width=width, height=height, force_terminal=False).print(render(st, "arbkit demo"), end="")
    return buf.getvalue().removesuffix("\n").split("\n")


def _busy_status():
    """A status with more of everything than 25 lines can hold."""
    st = _status()
    st["pairs"] = [{"mapping_id": i, "name": f"Will event {i} happen by the end of the year?", "kalshi": f"KXEVENT-{i}",
                    "best": {"direction": "PM YES + KS NO", "poly_ask": "0.35", "kalshi_ask": "0.57", "cost": "0.92",
                             "size": "100", "gross_bps": "869.6", "net_bps": "512.3"},
                    "age_ms": 100, "tradeable": True} for i in range(12)]
    st["reports"] = [dict(st["reports"][0], execution_id=f"xv-{i}", market=f"Will event {i} happen?") for i in range(10)]
    st["exposure"] = {f"kalshi KXEVENT-{i} NO": "20 shares (13.40 USD)" for i in range(9)}
    st["exposure_total"] = {"USD": "120.60"}
    st["alerts"] = [{"ts_ns": 1_764_920_000_000_000_000 + i, "status": "HEDGED", "execution_id": f"xv-{i}",
                     "lines": [f"kalshi leg REJECTED: insufficient margin {i} | BUY 0/20 KXEVENT-{i} NO",
                               f"→ hedge polymarket SELL 20/20 Will event {i}… YES @0.34 FILLED"]} for i in range(6)]
    return st


def test_render_shows_every_section_on_a_large_terminal() -> None:
    text = "\n".join(_screen(_status(), 160, 60))
    for needle in ("TRADING", "polymarket.market.0", "STALLED", "31", "Will X?", "0.42", "0.60", "opportunities 3",
                   "risk denied stale: old book", "xv-1", "RUNNING", "FILLED", "251.1", "kalshi KX-1 NO",
                   "breaker_open", "P&L 0.48", "metrics: http://127.0.0.1:1/metrics", "CONNECTIONS", "BOOKS"):
        assert needle in text, needle


def test_80x25_keeps_header_pairs_trades_exposure_and_alerts_on_screen() -> None:
    lines = _screen(_busy_status(), 80, 25)
    assert len(lines) <= 25 and all(len(ln) <= 80 for ln in lines), lines
    text = "\n".join(lines)
    assert lines[0].startswith("TRADING")
    for title in ("PAIRS", "TRADES", "EXPOSURE  120.60 USD in 9 positions", "ALERTS"):
        assert title in text, title
    assert "512.3" in text  # a pair's edge
    assert "FILLED" in text and "Will event 9 happen?" in text  # the newest trade first
    assert "kalshi KXEVENT-0 NO" in text
    # the newest alert with its reason and the hedge it caused (the id gives way to the reason)
    assert "leg REJECTED: insufficient margin 5" in text and "→ hedge polymarket SELL" in text
    # what did not fit is counted, not dropped silently: pairs, trades, exposure and alerts
    assert text.count("more") == 4, text
    assert "CONNECTIONS" not in text


def test_larger_terminal_shows_more_than_80x25() -> None:
    small, big = _screen(_busy_status(), 80, 25), _screen(_busy_status(), 140, 60)
    assert len(big) <= 60 and all(len(ln) <= 140 for ln in big)
    assert sum(1 for ln in big if ln.strip()) > sum(1 for ln in small if ln.strip())
    text = "\n".join(big)
    assert "CONNECTIONS" in text and "TASKS AND BREAKERS" in text and "legs" in text and "xv-5" in text


def test_tiny_terminal_never_overflows() -> None:
    for w, h in ((60, 12), (80, 8), (40, 25)):
        lines = _screen(_busy_status(), w, h)
        assert len(lines) <= h and all(len(ln) <= w for ln in lines), (w, h, lines)
        assert lines[0].startswith("TRADING")


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
    assert "ALERT" not in out  # no execution went wrong
    node = SimpleNamespace(status=_busy_status)
    dash.update(node)
    dash.update(node)
    out = buf.getvalue()
    assert out.count("ALERT HEDGED xv-5: kalshi leg REJECTED: insufficient margin 5") == 1  # each alert once
    assert "\x1b[" not in out


def test_without_pairs_the_small_screen_shows_the_books() -> None:
    st = _status()  # no "pairs": a node without cross-venue mappings (complete sets, triangles)
    st["books"] = st["books"] + [{"instrument": "kucoin:BTC-USDT", "venue": "kucoin", "market": "BTC-USDT", "outcome": None,
                                  "title": "", "bid": "97000.1", "ask": "97000.2", "age_ms": 15, "tradeable": True}]
    lines = _screen(st, 80, 25)
    assert len(lines) <= 25 and all(len(ln) <= 80 for ln in lines)
    text = "\n".join(lines)
    assert "BOOKS  3/4 tradeable" in text and "Will X?" in text and "BTC-USDT" in text and "97000.2" in text
    assert "TRADES" in text and "EXPOSURE" in text and "ALERTS" in text
