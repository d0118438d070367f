"""The operator's live view of a node: a rich ``Live`` dashboard on a terminal, plain progress
lines when stdout is not one (a log file, a pipe, CI).

Everything shown comes from :meth:`arbkit.runtime.node.Node.status`. The screen is laid out for
the terminal's current size (:func:`layout`): the header, the mapped pairs with their edge, the
trades, the exposure and the alerts (a rejected leg with its reason and the hedge it caused) fit
80x25; a taller terminal adds connections, books, in-flight sagas, opportunities, tasks and
breakers, and notes; a wider one adds columns.
"""

from __future__ import annotations

import sys
import time
from decimal import Decimal
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
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


_STATUS_STYLE = {"FILLED": "green", "HEDGED": "yellow", "ABORTED": "yellow", "FAILED": "bold red"}
LARGE_HEIGHT = 40  # from this many lines on, the secondary sections (connections, sagas, breakers) get room
WIDE = 110  # from this many columns on, trades show their legs and pairs both venues' asks


def render(st: dict[str, Any], title: str = "arbkit", width: int | None = None, height: int | None = None) -> "Screen":
    """The dashboard for one status snapshot (pure). Without ``width``/``height`` it lays itself
    out for the console it is printed on, each time it is drawn (a resized terminal is followed)."""
    return Screen(st, title, width, height)


class Screen:
    """A rich renderable that fits the terminal: every section gets a row budget from the height
    so that the header, the pairs and their edge, the trades, the exposure and the alerts are
    always on screen (at 80x25 too); a taller or wider terminal shows more rows, more columns and
    the secondary sections."""

    def __init__(self, st: dict[str, Any], title: str, width: int | None = None, height: int | None = None) -> None:
        self.st, self.title, self.width, self.height = st, title, width, height

    def __rich_console__(self, console: Console, options: Any) -> Any:
        w = self.width or options.max_width
        h = self.height or options.height or console.height
        yield from layout(self.st, self.title, w, h)


def _hms(ns: int | None) -> str:
    if not ns:
        return "--:--:--"
    return time.strftime("%H:%M:%S", time.localtime(ns / 1e9))


def _line(*parts: tuple[str, str] | str) -> Text:
    t = Text(no_wrap=True, overflow="ellipsis")
    for p in parts:
        if isinstance(p, tuple):
            t.append(p[0], style=p[1])
        else:
            t.append(p)
    return t


def _title(name: str, extra: str = "") -> Text:
    t = _line((f"{name} ", "bold reverse"), (f" {extra}", "bold") if extra else "")
    return t


def header_lines(st: dict[str, Any], title: str) -> list[Text]:
    ks = st.get("killswitch", {})
    if ks.get("tripped"):
        state = (f"KILL SWITCH: {ks.get('reason', '')}", "bold white on red")
    elif st.get("paused"):
        state = ("PAUSED", "bold yellow")
    elif st.get("trading"):
        state = ("TRADING", "bold green")
    else:
        state = ("STOPPED", "dim")
    expo = ", ".join(f"{v} {c}" for c, v in (st.get("exposure_total") or {}).items()) or "0"
    head = _line(state, f"  up {st.get('uptime_s', 0):.0f}s  P&L ", (str(st.get("pnl", "0")), "bold"),
                 f"  exposure {expo}  journal {st.get('journal', {}).get('records')}  ", (title, "dim"))
    parts: list[Any] = []
    for venue, v in st.get("venues", {}).items():
        conns = v.get("connections", []) or []
        up = sum(1 for _, s in conns if s == "CONNECTED")
        style = "green" if conns and up == len(conns) else "yellow" if up else "red"
        parts += [(f"{venue} ", "bold"), (f"{up}/{len(conns)} up", style), f" {v.get('msgs_per_s', 0):.0f}/s  "]
    books = st.get("books", [])
    s = st.get("strategy", {})
    ex = st.get("executions", {})
    parts += [f"books {sum(1 for b in books if b.get('tradeable'))}/{len(books)} ok  ",
              f"opp {s.get('opportunities', 0)} sent {s.get('submitted', 0)} denied {s.get('denied', 0)}  ",
              f"in flight {len(st.get('in_flight', []))}  filled {ex.get('filled', 0)}/{ex.get('reported', 0)}"]
    return [head, _line(*parts)]


def _alerts(st: dict[str, Any], wide: bool = True) -> list[Text]:
    """Newest first: the kill switch, open breakers and down connections, then executions that
    went wrong (each with its rejected leg and the hedge it caused), then the last risk denial."""
    out: list[Text] = []
    ks = st.get("killswitch", {})
    if ks.get("tripped"):
        out.append(_line(("KILL SWITCH ", "bold white on red"), ks.get("reason", "")))
    for name, state in sorted(st.get("breakers", {}).items()):
        if state not in _OK and state not in ("done", "cancelled"):
            out.append(_line(("breaker ", "bold red"), f"task {name}: {state}"))
    for venue, v in st.get("venues", {}).items():
        for name, state in v.get("connections", []) or []:
            if state != "CONNECTED":
                out.append(_line(("connection ", _state_style(state)), f"{name} {state}"))
    for a in reversed(st.get("alerts", []) or []):
        style = _STATUS_STYLE.get(a.get("status", ""), "red")
        lines = a.get("lines") or [a.get("reason", "")]
        # the execution id only where there is room: on 80 columns it would push the reason off
        eid = f" {a.get('execution_id', '')} " if wide else " "
        out.append(_line(_hms(a.get("ts_ns")) + " ", (a.get("status", ""), style), eid, lines[0]))
        for ln in lines[1:]:
            out.append(_line("  ", (ln, "yellow" if ln.startswith("→") else "")))
    denial = st.get("strategy", {}).get("last_denial")
    if denial:
        out.append(_line(("risk denied ", "yellow"), denial))
    return out


def _pairs_table(st: dict[str, Any], rows: int, wide: bool) -> Table:
    t = Table(box=None, padding=(0, 1), expand=True, show_edge=False, pad_edge=False)
    t.add_column("pair", ratio=3, no_wrap=True, overflow="ellipsis")
    t.add_column("kalshi", ratio=2, no_wrap=True, overflow="ellipsis")
    t.add_column("best direction", no_wrap=True)
    if wide:
        t.add_column("PM ask", justify="right", no_wrap=True)
        t.add_column("KS ask", justify="right", no_wrap=True)
        t.add_column("size", justify="right", no_wrap=True)
    t.add_column("cost", justify="right", no_wrap=True)
    t.add_column("gross", justify="right", no_wrap=True)
    t.add_column("net bps", justify="right", no_wrap=True)
    t.add_column("ok", no_wrap=True)
    pairs = st.get("pairs")
    if pairs is None:  # an older node: per-book rows
        pairs = []
    for p in pairs[:rows]:
        b = p.get("best") or {}
        net = b.get("net_bps")
        net_txt = Text(net or "-", style="bold green" if net and Decimal(net) > 0 else "")
        cells: list[Any] = [p.get("name", ""), p.get("kalshi", ""), b.get("direction", "no asks")]
        if wide:
            cells += [b.get("poly_ask", "-"), b.get("kalshi_ask", "-"), b.get("size", "-")]
        cells += [b.get("cost", "-"), b.get("gross_bps", "-"), net_txt,
                  Text("yes", style="green") if p.get("tradeable") else Text("no", style="red")]
        t.add_row(*cells)
    return t


def _trades_table(st: dict[str, Any], rows: int, wide: bool) -> Table:
    t = Table(box=None, padding=(0, 1), expand=True, show_edge=False, pad_edge=False)
    t.add_column("time", no_wrap=True)
    t.add_column("status", no_wrap=True)
    t.add_column("market", ratio=1, no_wrap=True, overflow="ellipsis")
    t.add_column("pred", justify="right", no_wrap=True)
    t.add_column("eff bps", justify="right", no_wrap=True)
    t.add_column("profit", justify="right", no_wrap=True)
    if wide:
        t.add_column("legs", ratio=1, no_wrap=True, overflow="ellipsis")
    for r in list(reversed(st.get("reports", [])))[:rows]:
        cells: list[Any] = [_hms(r.get("completed_ns")), Text(r["status"], style=_STATUS_STYLE.get(r["status"], "red")),
                            r.get("market") or r["execution_id"], _short(r["predicted_bps"]), _short(r["effective_bps"]),
                            r["profit"]]
        if wide:
            cells.append("; ".join(r["legs"]))
        t.add_row(*cells)
    return t


def _short(bps: str | None) -> str:
    if bps is None:
        return "-"
    try:
        return f"{Decimal(bps):.1f}"
    except ArithmeticError:
        return str(bps)


def _exposure_lines(st: dict[str, Any]) -> list[Text]:
    out = [_line(f"{k}  ", (v, "bold")) for k, v in sorted(st.get("exposure", {}).items())]
    return out


def _book_lines(st: dict[str, Any], width: int = 120) -> list[Text]:
    """One line per market: bid/ask of each outcome (or of a spot pair), age, tradeable."""
    out = []
    for venue, market, title, by_side in _markets(st.get("books", [])):
        yes, no = by_side.get("YES") or next(iter(by_side.values()), {}), by_side.get("NO", {})
        ages = [b["age_ms"] for b in (yes, no) if b.get("age_ms") is not None]
        ok = bool(yes.get("tradeable")) and (not no or bool(no.get("tradeable")))
        name = market if venue in ("kalshi", "kucoin") else (title or market or "")
        two = f"NO {no.get('bid') or '-':>6}/{no.get('ask') or '-':<6} " if no else ""
        nw = max(8, min(40, width - 58))
        out.append(_line(f"{venue:<10} {name[:nw]:<{nw}} {'YES ' if no else ''}{yes.get('bid') or '-':>6}/{yes.get('ask') or '-':<6} "
                         f"{two}{max(ages) if ages else '-':>5} ms ", ("ok", "green") if ok else ("no", "red")))
    return out


def _secondary(st: dict[str, Any]) -> list[tuple[str, str, list[Any]]]:
    """(name, title extra, row renderables) of the sections a tall terminal shows too."""
    conns = []
    for venue, v in st.get("venues", {}).items():
        for name, state in v.get("connections", []) or []:
            conns.append(_line(f"{venue:<11} {v.get('mode', ''):<6} {name:<34} ", (state, _state_style(state))))
    sagas = []
    for f in st.get("in_flight", []):
        # a held saga waits on an order the venue cannot account for: the operator must look
        state = (f"HELD ({f['state']})", "bold red") if f.get("held") else (f["state"], "")
        sagas.append(_line(f"{f['execution_id']:<28} ", state, f"  {f['age_s']:.1f}s"))
    s = st.get("strategy", {})
    opp = [_line(f"evaluations {s.get('evaluations', 0)}  opportunities {s.get('opportunities', 0)}  "
                 f"sent {s.get('submitted', 0)}  denied {s.get('denied', 0)}")]
    skips = s.get("skips") or {}
    if skips:
        opp.append(_line(("no-trade reasons: " + ", ".join(f"{k} {v}" for k, v in sorted(skips.items())), "dim")))
    for name, hs in (st.get("strategies") or {}).items():
        opp.append(_line(f"{name}: opportunities {hs.get('opportunities', 0)} sent {hs.get('submitted', 0)} "
                         f"denied {hs.get('denied', 0)} filled {hs.get('filled', 0)}"
                         + (f"  capital locked in sets {hs['capital_locked']}" if "capital_locked" in hs else "")))
    books = _book_lines(st) if st.get("pairs") else []  # without pairs the main screen shows the books
    breakers = [_line(f"task {name:<30} ", (state, _state_style(state))) for name, state in sorted(st.get("breakers", {}).items())]
    notes = [_line((n, "yellow")) for n in st.get("notes", [])]
    return [("CONNECTIONS", "", conns), ("BOOKS", "bid/ask per outcome, age", books), ("IN-FLIGHT SAGAS", f"{len(sagas)}", sagas), ("OPPORTUNITIES", "", opp),
            ("TASKS AND BREAKERS", "", breakers), ("NOTES", "", notes)]


def _allot(avail: int, wants: list[tuple[int, int, int]]) -> list[int]:
    """Rows per section from (minimum, comfortable, wanted): each its minimum (capped by what it
    has, at least 1 for "(none)"), then up to its comfortable count in priority order, then one
    more at a time round the sections until each has what it wants or the lines run out."""
    got = [min(lo, max(1, want)) for lo, _, want in wants]
    while sum(got) > avail and any(got):  # a tiny terminal: the lowest priority shrinks first
        i = max(i for i, g in enumerate(got) if g)
        got[i] -= 1
    left = avail - sum(got)
    for i, (_, soft, want) in enumerate(wants):
        add = max(0, min(soft, want) - got[i])
        add = min(add, left)
        got[i] += add
        left -= add
    while left > 0:
        grew = False
        for i, (_, _, want) in enumerate(wants):
            if left and got[i] < want:
                got[i] += 1
                left -= 1
                grew = True
        if not grew:
            break
    return got


def layout(st: dict[str, Any], title: str, width: int, height: int) -> list[Any]:
    """The screen's renderables, at most ``height`` lines of at most ``width`` columns."""
    wide = width >= WIDE
    large = height >= LARGE_HEIGHT
    head = header_lines(st, title)
    alerts = _alerts(st, wide)
    expo = _exposure_lines(st)
    pairs = st.get("pairs") or []
    n_books = len(_markets(st.get("books", []))) if not pairs else 0
    reports = st.get("reports", [])
    secondary = _secondary(st) if large else []
    # lines taken by section titles and table headers, then rows shared by priority
    overhead = len(head) + 2 + 2 + 1 + 1 + sum(1 for name, _, rows in secondary)
    avail = max(0, height - overhead)
    # (minimum, wanted) rows: alerts and trades first, then exposure, then pairs, then the rest
    wants = [(3, 6, len(alerts)), (3, 4, len(reports)), (2, 3, len(expo)), (2, 3, len(pairs) or max(0, n_books - 1))]
    wants += [(1, 4, len(rows)) for _, _, rows in secondary]
    got = _allot(avail, wants)
    n_alerts, n_trades, n_expo, n_pairs = got[:4]
    out: list[Any] = list(head)
    if pairs:
        out.append(_title("PAIRS", f"{len(pairs)} mapped; best direction at the top of the books; net = after taker fees"))
        out += _table_rows(_pairs_table, st, len(pairs), n_pairs, wide)
    else:  # no cross-venue pairs (complete sets, triangles): the books themselves, one line a market
        books = _book_lines(st, width)
        out.append(_title("BOOKS", f"{sum(1 for b in st.get('books', []) if b.get('tradeable'))}/{len(st.get('books', []))} "
                                   "tradeable; bid/ask, age"))
        out += _clip(books, n_pairs + 1, "  (no books)")
    ex = st.get("executions", {})
    out.append(_title("TRADES", f"{ex.get('filled', 0)} filled of {ex.get('reported', 0)}, newest first"))
    out += _table_rows(_trades_table, st, len(reports), n_trades, wide) if reports else [_line(("  (no executions yet)", "dim"))]
    total = ", ".join(f"{v} {c}" for c, v in (st.get("exposure_total") or {}).items())
    out.append(_title("EXPOSURE", f"{total} in {len(expo)} positions" if total else f"{len(expo)} positions"))
    out += _clip(expo, n_expo, "  (flat)")
    out.append(_title("ALERTS", f"{len(alerts)}" if alerts else "none"))
    out += _clip(alerts, n_alerts, "  (none)")
    for (name, extra, rows), n in zip(secondary, got[4:]):
        out.append(_title(name, extra))
        out += _clip(rows, n, "  (none)")
    return out


def _table_rows(build: Any, st: dict[str, Any], have: int, n: int, wide: bool) -> list[Any]:
    """A table (header plus ``n`` lines): when rows do not fit, the last line counts the rest."""
    if have <= n or n <= 1:  # the section title already counts them
        return [build(st, n, wide)]
    return [build(st, n - 1, wide), _line((f"  … {have - n + 1} more", "dim"))]


def _clip(rows: list[Text], n: int, empty: str) -> list[Text]:
    """At most ``n`` lines of ``rows``; the last says how many did not fit."""
    if not rows:
        return [_line((empty, "dim"))] if n else []
    if len(rows) <= n:
        return rows
    if n <= 0:
        return []
    return rows[: n - 1] + [_line((f"  … {len(rows) - n + 1} more", "dim"))]


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
            # "crop": the screen is laid out to the terminal's height, so nothing should overflow;
            # if a resize races a redraw, cut rather than scroll the header away
            self.live = Live(Text("starting ..."), console=self.console, refresh_per_second=4, transient=False,
                             vertical_overflow="crop")
            self.live.start()

    def update(self, node: Any) -> None:
        st = node.status()
        self._last_status = st
        if self.plain:
            for note in st.get("notes", []):
                if note not in self._notes_shown:
                    self._notes_shown.add(note)
                    self.line(note)
            for a in st.get("alerts", []) or []:  # each execution that went wrong, once, as it happens
                key = f"alert:{a.get('execution_id')}"
                if key not in self._notes_shown:
                    self._notes_shown.add(key)
                    self.line(f"ALERT {a.get('status', '')} {a.get('execution_id', '')}: " + " ".join(a.get("lines") or []))
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
        for name, hs in sorted((st.get("strategies") or {}).items()):
            if isinstance(hs, dict):
                lines.append(f"  strategy {name:17s}: {hs.get('opportunities', 0)} seen, {hs.get('submitted', 0)} sent, "
                             f"{hs.get('reports', 0)} reported, {hs.get('filled', 0)} FILLED")
        q = st.get("quotes")
        if isinstance(q, dict):
            lines.append(f"  quotes            : {q.get('resting', 0)} resting, {q.get('sets_completed', '0')} sets completed, "
                         f"{q.get('sets_merged', '0')} merged")
        for r in st.get("reports", [])[-5:]:
            lines.append(f"    {r['execution_id']} {r['status']:8s} predicted {r['predicted_bps']} bps, effective "
                         f"{r['effective_bps'] or '-'} bps, profit {r['profit']}")
        lines += [
            f"  run directory     : {res.out_dir}",
            f"  journal           : {res.journal}",
            f"  HTML report       : {res.html}" if res.html else f"  HTML report       : not written ({res.report_error})",
            f"  configuration     : {res.config}",
            f"  mappings          : {res.mappings}",
            f"  logs              : {res.out_dir / 'node.log'}, {res.out_dir / 'sim.log'}",
            f"  read the journal  : arbkit journal tail {res.journal}",
        ]
        for ln in lines:
            self.line(ln)
