"""The offline HTML report: one self-contained file, plots as inline SVG (matplotlib's SVG
backend), no script, no external resource. A Content-Security-Policy in the page forbids any
fetch, so even a viewer that would follow a link inside an SVG stays offline."""

from __future__ import annotations

import datetime as _dt
import html
import io
import re
from typing import Any

from arbkit.analytics.render import _NUMBER, Section, execution_section, fills_section, sections
from arbkit.analytics.stages import STAGE_NAMES

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px; color: #1d2733;
       background: #fff; max-width: 1180px; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #d7dde4; padding-bottom: 4px; }
.sub { color: #5b6773; font-size: 13px; }
.plots { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.plot { border: 1px solid #d7dde4; border-radius: 4px; padding: 4px; }
.plot svg { width: 100%; height: auto; display: block; }
table { border-collapse: collapse; font-size: 13px; margin-bottom: 6px; }
th, td { border: 1px solid #d7dde4; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f1f4f7; }
.note { color: #5b6773; font-size: 12px; }
table.kv td, td.t { text-align: left; }
.tables { display: flex; flex-wrap: wrap; gap: 8px 28px; align-items: flex-start; }
td.bad { background: #f8d0cc; }
td.warn { background: #fdebc0; }
"""

# cells an operator must not miss: a venue said no, or an execution left something open
_BAD = {"REJECTED", "FAILED"}
_WARN = {"HEDGED", "CANCELED", "EXPIRED", "hedge"}

# Colours for stages/currencies (matplotlib's default cycle, fixed so pages are reproducible).
_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"]


def _svg(fig: Any) -> str:
    """The figure as an inline <svg> element (no XML prolog, DOCTYPE or RDF metadata: they only
    carry namespace URLs a standalone file needs)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    # Inline SVG in HTML5 needs no namespace declarations (the parser knows svg and xlink:href);
    # dropping them leaves the page free of any URL at all.
    text = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", text, count=2)
    return text


MAX_POINTS = 1500  # per series: keeps the page small (an SVG point is ~40 bytes) on long journals


def _thin(n: int, limit: int = MAX_POINTS) -> list[int]:
    """Evenly spaced indices into a series of ``n`` points, first and last always kept."""
    if n <= limit:
        return list(range(n))
    step = (n - 1) / (limit - 1)
    return sorted({round(k * step) for k in range(limit)})


def _figure(title: str, xlabel: str, ylabel: str) -> tuple[Any, Any]:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.6, 3.6), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=11)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    return fig, ax


def _no_data(ax: Any, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} in this journal", ha="center", va="center", transform=ax.transAxes, color="#5b6773")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_pnl(report: dict[str, Any]) -> str:
    """Cumulative PnL over time, one line per currency (profits in different currencies are
    never added)."""
    fig, ax = _figure("Cumulative PnL over time", "time (UTC)", "cumulative PnL")
    points = report["pnl"]["over_time"]
    if not points:
        _no_data(ax, "executions")
        return _svg(fig)
    import matplotlib.dates as mdates

    series: dict[str, tuple[list, list]] = {}
    totals: dict[str, float] = {}
    for p in points:
        cur = p["currency"]
        totals[cur] = totals.get(cur, 0.0) + float(p["profit"])  # plotting only; the tables are exact
        if cur not in series:  # the line starts at 0 at the first execution
            series[cur] = ([_dt.datetime.fromtimestamp(p["ts_ns"] / 1e9, _dt.timezone.utc)], [0.0])
        xs, ys = series[cur]
        xs.append(_dt.datetime.fromtimestamp(p["ts_ns"] / 1e9, _dt.timezone.utc))
        ys.append(totals[cur])
    for i, (cur, (xs, ys)) in enumerate(sorted(series.items())):
        keep = _thin(len(xs))
        xs, ys = [xs[k] for k in keep], [ys[k] for k in keep]
        ax.step(xs, ys, where="post", marker="o" if len(xs) <= 100 else None, markersize=3,
                color=_COLORS[i % len(_COLORS)], label=cur)
    ax.axhline(0, color="#5b6773", linewidth=0.8)
    loc = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc, tz=_dt.timezone.utc))
    ax.legend(title="currency", fontsize=8)
    return _svg(fig)


def plot_slippage(report: dict[str, Any]) -> str:
    fig, ax = _figure("Slippage: predicted − effective edge (positive = worse)", "slippage (bps)", "executions")
    values = [float(r["slippage_bps"]) for r in report["execution_list"] if r["slippage_bps"] is not None]
    if not values:
        _no_data(ax, "filled executions")
        return _svg(fig)
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:  # one value: a visible bar around it, not 40 slivers in a 1 bps range
        half = max(1.0, abs(lo) * 0.05)
        bins: Any = [lo - half, lo + half]
    else:
        bins = max(5, min(40, len(values)))
    ax.hist(values, bins=bins, color=_COLORS[0], edgecolor="white")
    ax.axvline(0, color="#d62728", linewidth=1, linestyle="--", label="as predicted")
    ax.legend(fontsize=8)
    return _svg(fig)


def plot_edge_scatter(report: dict[str, Any]) -> str:
    fig, ax = _figure("Predicted vs effective edge", "predicted edge (bps)", "effective edge (bps)")
    rows = [r for r in report["execution_list"] if r["effective_bps"] is not None and r["predicted_bps"] is not None]
    if not rows:
        _no_data(ax, "filled executions")
        return _svg(fig)
    strategies = sorted({r["strategy"] for r in rows})
    for i, s in enumerate(strategies):
        pts = [(float(r["predicted_bps"]), float(r["effective_bps"])) for r in rows if r["strategy"] == s]
        pts = [pts[k] for k in _thin(len(pts))]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=14, color=_COLORS[i % len(_COLORS)], label=s)
    lo = min(min(float(r["predicted_bps"]), float(r["effective_bps"])) for r in rows)
    hi = max(max(float(r["predicted_bps"]), float(r["effective_bps"])) for r in rows)
    ax.plot([lo, hi], [lo, hi], color="#5b6773", linewidth=0.8, linestyle="--", label="effective = predicted")
    ax.legend(fontsize=8)
    return _svg(fig)


def plot_latency_cdf(report: dict[str, Any]) -> str:
    """Empirical CDF of each stage's latency (log x axis: stages span µs to seconds)."""
    fig, ax = _figure("Latency CDF per stage", "latency (µs, log scale)", "fraction of executions ≤ x")
    samples: dict[str, list[float]] = {name: [] for name in STAGE_NAMES}
    for r in report["execution_list"]:
        for name, ns in r["latency_ns"].items():
            if ns is not None and name in samples:
                samples[name].append(max(ns, 1) / 1000.0)  # a 0 ns stage is drawn at 1 ns on a log axis
    drawn = 0
    for i, name in enumerate(STAGE_NAMES):
        xs = sorted(samples[name])
        if not xs:
            continue
        n = len(xs)
        # an empirical CDF: 0 below the smallest sample, k/n from the k-th sample on (on a long
        # journal drawn through evenly spaced order statistics)
        keep = _thin(n)
        ax.step([xs[0], *(xs[k] for k in keep)], [0.0, *((k + 1) / n for k in keep)], where="post",
                color=_COLORS[i % len(_COLORS)], label=f"{name} (n={n})")
        drawn += 1
    if not drawn:
        _no_data(ax, "stage timings")
        return _svg(fig)
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, loc="lower right")
    return _svg(fig)


def _table(sec: Section, table_id: str = "") -> str:
    e = html.escape
    kv = "" if any(sec.headers) else " class=\"kv\""
    tid = f" id=\"{e(table_id)}\"" if table_id else ""
    parts = [f"<div><h3 class=\"sub\">{e(sec.title)}</h3><table{kv}{tid}>"]
    if any(sec.headers):
        parts.append("<tr>" + "".join(f"<th>{e(h)}</th>" for h in sec.headers) + "</tr>")
    if not sec.rows:
        parts.append(f"<tr><td colspan=\"{len(sec.headers)}\">(none)</td></tr>")
    # text columns left, number columns right (as in the terminal)
    text_cols = {i for i in range(len(sec.headers)) if not all(_NUMBER.match(r[i]) for r in sec.rows)}
    def cell(i: int, c: str) -> str:
        cls = " ".join(x for x in ("t" if i in text_cols and i else "", "bad" if c in _BAD else "warn" if c in _WARN else "") if x)
        return f"<td class=\"{cls}\">{e(c)}</td>" if cls else f"<td>{e(c)}</td>"

    for r in sec.rows:
        parts.append("<tr>" + "".join(cell(i, c) for i, c in enumerate(r)) + "</tr>")
    parts.append("</table>")
    if sec.note:
        parts.append(f"<div class=\"note\">{e(sec.note)}</div>")
    parts.append("</div>")
    return "".join(parts)


def render_html(report: dict[str, Any]) -> str:
    """The whole page. Deterministic for a given report (fixed SVG id salt), except the
    "generated at" line."""
    import matplotlib

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "arbkit-report", "font.size": 9,
                                "axes.titleweight": "bold"}):
        plots = [
            ("pnl", plot_pnl(report)),
            ("slippage", plot_slippage(report)),
            ("latency", plot_latency_cdf(report)),
            ("edge", plot_edge_scatter(report)),
        ]
    e = html.escape
    secs = sections(report)
    body = [
        "<!DOCTYPE html>",
        "<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{_CSP}\">",
        "<title>arbkit report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>arbkit report</h1>",
        f"<div class=\"sub\">journal {e(report['journal'])} · generated {e(report['generated_at'])}</div>",
        "<h2>Plots</h2><div class=\"plots\">",
        *(f"<div class=\"plot\" id=\"plot-{name}\">{svg}</div>" for name, svg in plots),
        "</div>",
        "<h2>Summary</h2><div class=\"tables\">",
        *(_table(s) for s in secs),
        "</div>",
        "<h2>Executions</h2>",
        _table(execution_section(report)),
        *(["<h2 id=\"fills\">Fills per leg</h2>", _table(fills_section(report), "fills-table")] if "fills" in report else []),
        "</body></html>",
    ]
    return "\n".join(body) + "\n"
