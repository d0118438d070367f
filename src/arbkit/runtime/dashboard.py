"""The operator's live view of a node: a rich ``Live`` dashboard on a terminal, plain progress
lines when stdout is not one (a log file, a pipe, CI).

Everything shown comes from :meth:`arbkit.runtime.node.Node.status`: connections and their
health, messages per second, books with their staleness, opportunities seen, in-flight sagas,
recent execution reports, P&L, exposure and breaker states.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

_OK = {"CONNECTED", "running"}
PLAIN_EVERY_S = 5.0


def _state_style(state: str) -> str:
    if state in _OK:
        return "green"
    if state in ("CONNECTING", "backoff", "pending", "STALLED"):
        return "yellow"
    if state in ("done", "cancelled"):
        return "dim"
    return "red"


def render(st: dict[str, Any], title: str = "arbkit") -> Group:
    """The dashboard as rich renderables (pure: one status snapshot in, a screen out)."""
    head = Text()
    head.append(f"{title}   ", style="bold")
    head.append(f"up {st.get('uptime_s', 0):.0f}s   ")
    if st.get("killswitch", {}).get("tripped"):
        head.append(f"KILL SWITCH: {st['killswitch']['reason']}", style="bold white on red")
    elif st.get("paused"):
        head.append("PAUSED", style="bold yellow")
    elif st.get("trading"):
        head.append("TRADING", style="bold green")
    else:
        head.append("STOPPED", style="dim")
    head.append(f"   P&L {st.get('pnl', '0')}   journal records {st.get('journal', {}).get('records')}")

    conns = Table(box=box.SIMPLE, title="connections", title_justify="left", expand=True)
    conns.add_column("venue")
    conns.add_column("mode")
    conns.add_column("connection")
    conns.add_column("state")
    conns.add_column("msgs/s", justify="right")
    for venue, v in st.get("venues", {}).items():
        first = True
        for name, state in v.get("connections", []) or [("-", "-")]:
            conns.add_row(venue if first else "", v["mode"] if first else "", name, Text(state, style=_state_style(state)),
                          f"{v.get('msgs_per_s', 0):.0f}" if first else "")
            first = False

    books = Table(box=box.SIMPLE, title=f"books ({st.get('mappings', 0)} approved mappings; YES and NO per market)",
                  title_justify="left", expand=True)
    for col in ("venue", "market", "YES bid", "YES ask", "NO bid", "NO ask", "age ms", "tradeable"):
        books.add_column(col, justify="right" if col not in ("venue", "market", "tradeable") else "left")
    for venue, market, title, by_side in _markets(st.get("books", []))[:16]:
        yes, no = by_side.get("YES", {}), by_side.get("NO", {})
        ages = [b["age_ms"] for b in (yes, no) if b.get("age_ms") is not None]
        ok = bool(yes.get("tradeable")) and bool(no.get("tradeable"))
        name = market if venue == "kalshi" else (title or market or "")
        books.add_row(venue, name[:44], yes.get("bid") or "-", yes.get("ask") or "-", no.get("bid") or "-", no.get("ask") or "-",
                      str(max(ages)) if ages else "-", Text("yes", style="green") if ok else Text("no", style="red"))

    s = st.get("strategy", {})
    ex = st.get("executions", {})
    opp = Text(
        f"evaluations {s.get('evaluations', 0)}   opportunities {s.get('opportunities', 0)}   sent {s.get('submitted', 0)}   "
        f"denied {s.get('denied', 0)}   reported {ex.get('reported', 0)}   filled {ex.get('filled', 0)}"
    )
    if s.get("last_denial"):
        opp.append(f"\nlast denial: {s['last_denial']}", style="yellow")
    skips = s.get("skips") or {}
    if skips:
        opp.append("\nno-trade reasons: " + ", ".join(f"{k} {v}" for k, v in sorted(skips.items())), style="dim")
    hosted = st.get("strategies") or {}
    if len(hosted) > 1 or any("capital_locked" in h for h in hosted.values()):
        for name, h in hosted.items():
            opp.append(f"\n{name}: opportunities {h.get('opportunities', 0)} sent {h.get('submitted', 0)} "
                       f"denied {h.get('denied', 0)} filled {h.get('filled', 0)}"
                       + (f"   capital locked in sets {h['capital_locked']}" if "capital_locked" in h else ""))

    sagas = Table(box=box.SIMPLE, title="in-flight sagas", title_justify="left", expand=True)
    sagas.add_column("execution")
    sagas.add_column("state")
    sagas.add_column("age s", justify="right")
    for f in st.get("in_flight", [])[:8]:
        # a held saga waits on an order the venue cannot account for: the operator must look
        state = Text(f"HELD ({f['state']})", style="bold red") if f.get("held") else f["state"]
        sagas.add_row(f["execution_id"], state, f"{f['age_s']:.1f}")

    reps = Table(box=box.SIMPLE, title="recent execution reports", title_justify="left", expand=True)
    for col in ("execution", "status", "pred bps", "eff bps", "profit", "legs"):
        reps.add_column(col)
    for r in reversed(st.get("reports", [])[-8:]):
        style = "green" if r["status"] == "FILLED" else "yellow" if r["status"] in ("HEDGED", "ABORTED") else "red"
        reps.add_row(r["execution_id"], Text(r["status"], style=style), r["predicted_bps"], r["effective_bps"] or "-", r["profit"],
                     "; ".join(r["legs"])[:70])

    risk = Table(box=box.SIMPLE, title="exposure and breakers", title_justify="left", expand=True)
    risk.add_column("what")
    risk.add_column("value")
    for k, v in sorted(st.get("exposure", {}).items()):
        risk.add_row(k[:60], v)
    for name, state in sorted(st.get("breakers", {}).items()):
        risk.add_row(f"task {name}", Text(state, style=_state_style(state)))
    parts: list[Any] = [head, conns, books, Panel(opp, title="opportunities", title_align="left"), sagas, reps, risk]
    for n in st.get("notes", []):
        parts.append(Text(n, style="yellow"))
    return Group(*parts)


def _markets(books: list[dict[str, Any]]) -> list[tuple[str, str, str, dict[str, dict[str, Any]]]]:
    """Per-instrument book rows grouped per (venue, market): (venue, market, title, {outcome: row})."""
    out: dict[tuple[str, str], tuple[str, dict[str, dict[str, Any]]]] = {}
    for b in books:
        key = (b["venue"], b.get("market") or b["instrument"])
        title, sides = out.setdefault(key, (b.get("title") or "", {}))
        sides[(b.get("outcome") or "").upper()] = b
    return [(v, m, t, sides) for (v, m), (t, sides) in out.items()]


def plain_line(st: dict[str, Any]) -> str:
    """One progress line (for a non-terminal stdout)."""
    venues = " ".join(
        f"{v}:{'up' if all(s == 'CONNECTED' for _, s in d.get('connections', [])) and d.get('connections') else 'down'}"
        f"/{d.get('msgs_per_s', 0):.0f}msg/s" for v, d in st.get("venues", {}).items())
    books = st.get("books", [])
    live = sum(1 for b in books if b.get("tradeable"))
    s = st.get("strategy", {})
    ex = st.get("executions", {})
    ks = " KILL-SWITCH" if st.get("killswitch", {}).get("tripped") else ""
    return (f"[{st.get('uptime_s', 0):6.1f}s] {venues} | books {live}/{len(books)} tradeable | "
            f"opportunities {s.get('opportunities', 0)} sent {s.get('submitted', 0)} denied {s.get('denied', 0)} | "
            f"in flight {len(st.get('in_flight', []))} | reported {ex.get('reported', 0)} filled {ex.get('filled', 0)} | "
            f"P&L {st.get('pnl', '0')}{ks}")


class Dashboard:
    """Live dashboard, or plain lines every few seconds when ``stream`` is not a terminal."""

    def __init__(self, stream: TextIO | None = None, *, plain: bool | None = None, title: str = "arbkit",
                 plain_every_s: float = PLAIN_EVERY_S) -> None:
        self.stream = stream or sys.stdout
        isatty = getattr(self.stream, "isatty", lambda: False)()
        self.plain = (not isatty) if plain is None else plain
        self.title = title
        self.console = Console(file=self.stream, force_terminal=None if not self.plain else False)
        self.live: Live | None = None
        self.plain_every_s = plain_every_s
        self._last_plain = 0.0
        self._last_status: dict[str, Any] | None = None
        self._notes_shown: set[str] = set()

    def line(self, text: str) -> None:
        if self.live is not None:
            self.live.console.print(text)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()

    def start(self) -> None:
        if not self.plain and self.live is None:
            self.live = Live(Text("starting ..."), console=self.console, refresh_per_second=4, transient=False)
            self.live.start()

    def update(self, node: Any) -> None:
        st = node.status()
        self._last_status = st
        if self.plain:
            for note in st.get("notes", []):
                if note not in self._notes_shown:
                    self._notes_shown.add(note)
                    self.line(note)
            now = time.monotonic()
            if now - self._last_plain >= self.plain_every_s:
                self._last_plain = now
                self.line(plain_line(st))
        elif self.live is not None:
            self.live.update(render(st, self.title))

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def summary(self, res: Any, dislocations: list[dict[str, Any]] | None = None) -> None:
        """The end-of-run summary with the paths of the journal and the report."""
        st = res.status or {}
        ex = st.get("executions", {})
        s = st.get("strategy", {})
        lines = [
            "",
            f"arbkit demo {'interrupted' if res.interrupted else 'finished'} (run {res.run_id})",
            f"  approved mappings : {len(res.approved)} (demo approvals, warnings acknowledged)",
            f"  opportunities     : {s.get('opportunities', 0)} seen, {s.get('submitted', 0)} sent, {s.get('denied', 0)} denied by risk",
            f"  executions        : {ex.get('reported', 0)} reported, {ex.get('filled', 0)} FILLED",
            f"  P&L               : {st.get('pnl', '0')} USD (realised cash flow plus matched sets at 1)",
        ]
        if dislocations is not None:
            lines.append(f"  dislocations asked: {len(dislocations)} (admin endpoint; the scenario makes its own too)")
        for r in st.get("reports", [])[-5:]:
            lines.append(f"    {r['execution_id']} {r['status']:8s} predicted {r['predicted_bps']} bps, effective "
                         f"{r['effective_bps'] or '-'} bps, profit {r['profit']}")
        lines += [
            f"  journal           : {res.journal}",
            f"  HTML report       : {res.html}" if res.html else f"  HTML report       : not written ({res.report_error})",
            f"  configuration     : {res.config}",
            f"  mappings          : {res.mappings}",
            f"  logs              : {res.out_dir / 'node.log'}, {res.out_dir / 'sim.log'}",
            f"  read the journal  : arbkit journal tail {res.journal}",
        ]
        for ln in lines:
            self.line(ln)
