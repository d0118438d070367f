"""The report's summary as tables: one list of sections, shown as rich tables on a terminal,
as aligned plain text otherwise (logs, pipes), and as HTML tables in the page."""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import Any, TextIO


_NUMBER = re.compile(r"^(-|[-+]?[\d,]*\.?\d+(E[-+]?\d+)?%?( \(\d+\))?)$")


@dataclass
class Section:
    title: str
    headers: list[str]
    rows: list[list[str]]
    note: str = ""


def _s(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.4f}".rstrip("0").rstrip(".") if abs(v) < 1e15 else f"{v:.4g}"
    return str(v)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.1f}%"


def _ts(ns: int | None) -> str:
    if not ns:
        return "-"
    return _dt.datetime.fromtimestamp(ns / 1e9, _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def sections(report: dict[str, Any]) -> list[Section]:
    """The summary tables of a report (see arbkit.analytics.report for the definitions)."""
    out: list[Section] = []
    rec, ex = report["records"], report["executions"]
    overview = [
        ["journal", report["journal"]],
        ["period", f"{_ts(report['period']['first_ns'])} .. {_ts(report['period']['last_ns'])}"],
        ["records", f"{rec['total']} in the journal, {rec['analysed']} analysed"],
        ["executions", str(ex["total"]) + (f" (+{ex['unfinished']} unfinished)" if ex["unfinished"] else "")],
    ]
    if rec["bad_crc"] or rec["bad_json"]:
        overview.append(["left out", f"{len(rec['bad_crc'])} records with a bad CRC, {len(rec['bad_json'])} not JSON"])
    for p in rec["problems"]:
        overview.append(["journal problem", p])
    out.append(Section("Overview", ["", ""], overview))
    out.append(Section("Executions by final status", ["status", "executions"],
                       [[k, str(v)] for k, v in ex["by_status"].items()]))
    pnl = report["pnl"]
    out.append(Section("PnL by strategy and venue", ["strategy", "venues", "currency", "executions", "profit", "predicted"],
                       [[r["strategy"], r["venues"], r["currency"], str(r["executions"]), r["profit"], r["predicted_profit"]]
                        for r in pnl["by_strategy_venue"]]))
    out.append(Section("PnL total", ["currency", "executions", "profit", "predicted"],
                       [[r["currency"], str(r["executions"]), r["profit"], r["predicted_profit"]] for r in pnl["by_currency"]]))
    if pnl["fees_by_venue"]:
        out.append(Section("Fees by venue", ["venue", "currency", "orders", "fees"],
                           [[r["venue"], r["currency"], str(r["orders"]), r["fees"]] for r in pnl["fees_by_venue"]]))
    st = report.get("settlement") or {}
    if st.get("by_venue") or st.get("capital_returned"):
        out.append(Section("Settlement P&L (resolved markets)",
                           ["venue", "currency", "markets", "proceeds", "cost", "P&L", "capital returned"],
                           [[r["venue"], r["currency"], str(r["markets"]), r["proceeds"], r["cost"], r["pnl"], r["credited"]]
                            for r in st.get("by_venue", [])]))
        rows = [[r["venue"], r["currency"], str(r["actions"]), r["redeemed"], r["merged"]] for r in st.get("capital_returned", [])]
        rows += [[p["venue"], "pending", "-", p["amount"], p["market_id"]] for p in st.get("capital_pending", [])]
        if rows:
            out.append(Section("Capital returned on chain (redeem / merge)",
                               ["venue", "currency", "actions", "redeemed", "merged"], rows))
    if "positions" in report:
        out += _capital_sections(report)
    mm = report.get("market_making") or {}
    if mm.get("by_key"):
        out.append(Section("Complete-set market making",
                           ["key", "fills", "sets completed", "sets merged", "spread", "merge", "unwind", "fees", "P&L"],
                           [[r["key"][-24:], str(r["fills"]), r["sets_completed"], r["sets_merged"], r["spread"], r["merge"],
                             r["unwind"], r["fees"], r["pnl"]] for r in mm["by_key"]],
                           note="P&L = spread captured + merge (returned - sets - cost) + unwind (proceeds - entry) - fees; "
                                "quote changes: " + "; ".join(f"{r['key'][-12:]} {r['quote_changes']}" for r in mm["by_key"])))
        inv = mm.get("inventory") or []
        if inv:
            out.append(Section("Market-making inventory over time (last 20 changes)", ["ts_ns", "key", "why", "sets", "positions"],
                               [[str(i["ts_ns"]), i["key"][-16:], i["why"], i["sets"],
                                 ", ".join(f"{k[-6:]}={v}" for k, v in i["positions"].items())] for i in inv[-20:]]))
    fr = report["fill_rate"]
    rows = [[r["venue"], str(r["submitted"]), str(r["filled"]), str(r["partially_filled"]), str(r["rejected"]),
             str(r["unfilled"]), _pct(r["fill_rate"])] for r in fr["by_venue"]]
    o = fr["overall"]
    rows.append(["all", str(o["submitted"]), str(o["filled"]), str(o["partially_filled"]), str(o["rejected"]),
                 str(o["unfilled"]), _pct(o["fill_rate"])])
    out.append(Section("Fill rate (orders fully filled / submitted)",
                       ["venue", "submitted", "filled", "partial", "rejected", "unfilled", "fill rate"], rows))
    e = report["edge"]
    a = e["aggregate"]
    edge_rows = [["all", str(a["executions"]), _s(a["mean_predicted_bps"]), _s(a["mean_effective_bps"]),
                  _s(a["mean_slippage_bps"]), _s(a["median_slippage_bps"])]]
    edge_rows += [[r["strategy"], str(r["executions"]), _s(r["mean_predicted_bps"]), _s(r["mean_effective_bps"]),
                   _s(r["mean_slippage_bps"]), "-"] for r in e["by_strategy"]]
    out.append(Section("Predicted vs effective edge (bps)",
                       ["strategy", "executions", "predicted (mean)", "effective (mean)", "slippage (mean)",
                        "slippage (median)"], edge_rows,
                       note="slippage = predicted - effective: positive = worse than predicted, negative = better"))
    out.append(Section("Latency per stage (µs)", ["stage", "n", "p50", "p90", "p99", "max"],
                       [[r["stage"], str(r["count"]), _s(r["p50_us"]), _s(r["p90_us"]), _s(r["p99_us"]), _s(r["max_us"])]
                        for r in report["latency"]]))
    h = report["hedges"]
    hedge_rows = [["executions hedged", str(h["executions_hedged"])],
                  ["hedge orders (filled)", f"{h['hedge_orders']} ({h['hedge_orders_filled']})"]]
    hedge_rows += [[f"hedges started ({r['mode']})", str(r["executions"])] for r in h["started_by_mode"]]
    hedge_rows += [[f"hedge cost ({r['currency']})", r["cost"]] for r in h["cost_by_currency"]]
    if h["cost_unknown"]:
        hedge_rows.append(["hedges with unknown cost", str(h["cost_unknown"])])
    out.append(Section("Hedges", ["", ""], hedge_rows))
    if h["orders"]:
        out.append(Section("Hedge orders", ["execution", "venue", "market", "side", "filled", "avg price", "fee", "cost", "vs"],
                           [[r["execution_id"], r["venue"], r.get("market") or r["instrument_id"], r["side"],
                             _s(r["filled_quantity"]), _s(r["avg_price"]),
                             f"{_s(r['fee'])} {r['fee_currency']}", f"{_s(r['cost'])} {r['currency']}", r["reference"]]
                            for r in h["orders"]]))
    rj = report["rejections"]
    out.append(Section("Order rejections by reason", ["venue", "reason", "code", "count"],
                       [[r["venue"], r["reason"], r["code"], str(r["count"])] for r in rj["orders"]]))
    out.append(Section("Risk denials by check", ["check", "reason", "count"],
                       [[r["check"], r["reason"], str(r["count"])] for r in rj["risk"]]))
    return out


def _capital_sections(report: dict[str, Any]) -> list[Section]:
    """Return on capital, capital locked until resolution, positions at the end of the run."""
    roc = report["return_on_capital"]
    pct = "-" if roc["percent"] is None else f"{roc['percent']}%"
    out = [Section("Return on capital", ["", ""], [
        ["profit (executions)", f"{roc['profit']} USD"],
        ["capital locked until resolution", f"{roc['capital_locked']} USD"],
        ["return on capital", pct],
    ], note=f"{', '.join(roc['currencies'])} counted at par; the profit is realised when the markets resolve")]
    out.append(Section("Capital locked until resolution", ["venue", "currency", "positions", "capital"],
                       [[r["venue"], r["currency"], str(r["positions"]), r["capital"]] for r in report["capital_locked"]],
                       note="open long positions at average cost, fees included; returned when the market resolves"))
    out.append(Section("Positions at the end of the run", ["venue", "market", "quantity", "avg cost", "cost", "pays at most",
                                                           "state"],
                       [[p["venue"], p["market"], p["quantity"], _s(p["avg_cost"]), f"{p['cost']} {p['currency']}",
                         f"{p['max_payout']} {p['currency']}", "resolved" if p["settled"] else "open"]
                        for p in report["positions"]]))
    return out


def fills_section(report: dict[str, Any], limit: int = 300) -> Section:
    """Every order of the most recent executions: market, side, price, size, fee, order ids."""
    rows = report.get("fills", [])
    shown = rows[-limit:]
    note = f"the last {limit} of {len(rows)}" if len(rows) > limit else ""
    note = (note + "; " if note else "") + "price = average fill price; size = filled / requested"
    return Section("Fills per leg", ["completed", "execution", "order", "venue", "market", "side", "price", "size", "fee",
                                     "status", "reason", "client order id", "venue order id"],
                   [[_ts(f["completed_ns"]), f["execution_id"], f["purpose"] if f["purpose"] != "leg" else f"leg {f['leg_index']}",
                     f["venue"], f["market"], f["side"], _s(f["price"]), f"{f['size']}/{f['requested']}",
                     f"{f['fee']} {f['fee_currency'] or ''}".strip(), f["status"], f.get("reason") or "",
                     f["client_order_id"] or "-",
                     f["venue_order_id"] or "-"] for f in shown], note)


def execution_section(report: dict[str, Any], limit: int = 200) -> Section:
    """The most recent executions, one row each."""
    rows = report["execution_list"]
    shown = rows[-limit:]
    note = f"the last {limit} of {len(rows)}" if len(rows) > limit else ""
    return Section("Executions", ["completed", "execution", "strategy", "venues", "status", "predicted bps",
                                  "effective bps", "slippage bps (+ = worse)", "profit"],
                   [[_ts(r["completed_ns"]), r["execution_id"], r["strategy"], r["venues"], r["status"],
                     _s(r["predicted_bps"]), _s(r["effective_bps"]), _s(r["slippage_bps"]),
                     f"{_s(r['profit'])} {r['currency']}"] for r in shown], note)


def write_plain(report: dict[str, Any], out: TextIO) -> None:
    """Aligned plain text (no colours, no box drawing) for logs and pipes."""
    for sec in sections(report):
        out.write(f"== {sec.title} ==\n")
        table = ([sec.headers] if any(sec.headers) else []) + sec.rows
        if not sec.rows:
            out.write("  (none)\n\n")
            continue
        widths = [max(len(r[i]) for r in table) for i in range(len(sec.headers))]
        for r in table:
            out.write("  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")
        if sec.note:
            out.write(f"  ({sec.note})\n")
        out.write("\n")


def print_rich(report: dict[str, Any], console: Any) -> None:
    """Rich tables on a terminal."""
    from rich.table import Table
    from rich.text import Text  # cells as Text: a venue's reason like "[x]" is not markup

    for sec in sections(report):
        show_header = any(sec.headers)
        t = Table(title=sec.title, show_header=show_header, title_justify="left", caption=sec.note or None)
        for i, hname in enumerate(sec.headers):
            numeric = show_header and i > 0 and all(_NUMBER.match(r[i]) for r in sec.rows)
            t.add_column(hname, justify="right" if numeric else "left", overflow="fold")
        for r in sec.rows:
            t.add_row(*(Text(c) for c in r))
        if not sec.rows:
            t.add_row(*(["(none)"] + [""] * (len(sec.headers) - 1)))
        console.print(t)
