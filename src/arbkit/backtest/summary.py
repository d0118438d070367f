"""The backtest's summary: what a quant reads first (the journal has everything else).

* P&L by strategy: the sum of the execution reports' realised ``profit`` (cash flow in the
  primary quote, plus the payout of matched sets, as the reports define it).
* trades: executions by final status; orders sent and filled per venue (fill rate = orders with
  a fill / orders sent).
* predicted vs effective bps: the mean over FILLED executions of each (and their difference).
* max drawdown: the largest fall of cumulative P&L from its running peak, executions in order.
* capital used: the peak of cumulative cash put into positions (buys minus sells, plus fees,
  over every leg in execution order), i.e. what the run needed to hold at once assuming nothing
  settled meanwhile; return on capital = P&L / capital used.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from arbkit.core.enums import Side

ZERO = Decimal(0)


def _mean(xs: list[Decimal]) -> Decimal | None:
    return (sum(xs, ZERO) / len(xs)).quantize(Decimal("0.01")) if xs else None


def summarize(bt: Any, lines: int) -> dict[str, Any]:
    reports = sorted(bt.engine.reports, key=lambda r: (r.timings.completed_ns, r.execution_id))
    by_strategy: dict[str, dict[str, Any]] = {}
    cum = peak = drawdown = ZERO
    spent = spent_peak = ZERO
    for r in reports:
        s = by_strategy.setdefault(r.strategy or "-", {"executions": 0, "filled": 0, "pnl": ZERO, "predicted_bps": [],
                                                       "effective_bps": [], "statuses": {}})
        s["executions"] += 1
        st = r.status.value
        s["statuses"][st] = s["statuses"].get(st, 0) + 1
        s["pnl"] += r.profit
        if st == "FILLED":
            s["filled"] += 1
            s["predicted_bps"].append(r.predicted_edge_bps)
            if r.effective_edge_bps is not None:
                s["effective_bps"].append(r.effective_edge_bps)
        cum += r.profit
        peak = max(peak, cum)
        drawdown = max(drawdown, peak - cum)
        for leg in r.legs:
            if leg.filled_quantity and leg.avg_price is not None:
                notional = leg.filled_quantity * leg.avg_price
                spent += (notional if leg.side is Side.BUY else -notional) + leg.fee
                spent_peak = max(spent_peak, spent)
    strategies = {}
    for name, s in sorted(by_strategy.items()):
        pred, eff = _mean(s["predicted_bps"]), _mean(s["effective_bps"])
        strategies[name] = {"executions": s["executions"], "filled": s["filled"], "statuses": s["statuses"],
                            "pnl": str(s["pnl"]), "predicted_bps_mean": str(pred) if pred is not None else None,
                            "effective_bps_mean": str(eff) if eff is not None else None,
                            "slippage_bps_mean": str(pred - eff) if pred is not None and eff is not None else None}
    venues = {}
    orders = filled = 0
    for v, ex in sorted(bt.exchanges.items(), key=lambda kv: kv[0].value):
        c = ex.order_counts()
        venues[v.value] = c
        orders += c["orders"]
        filled += c["orders_filled"]
    total = sum((r.profit for r in reports), ZERO)
    feeds = {v.value: f.stats.as_dict() if hasattr(f.stats, "as_dict") else {} for v, f in bt.feeds.items()}
    return {
        "lines": lines,
        "sim_start_ns": bt.clock._start,
        "sim_end_ns": bt.clock.now_ns(),
        "strategies": strategies,
        "executions": len(reports),
        "pnl": str(total),
        "orders": orders,
        "orders_filled": filled,
        "fill_rate": str((Decimal(filled) / orders).quantize(Decimal("0.0001"))) if orders else None,
        "max_drawdown": str(drawdown),
        "capital_used": str(spent_peak),
        "return_on_capital": str((total / spent_peak).quantize(Decimal("0.000001"))) if spent_peak > 0 else None,
        "venues": venues,
        "feeds": feeds,
        "rest_snapshots": {"applied": bt.rest_applied, "skipped": bt.rest_skipped},
        "events": dict(sorted(bt.events_seen.items())),
        "notes": list(bt.notes),
        "missing_venues": bt.missing_venues,
        "missing_metadata": list(bt.metadata.missing),
    }


def render(summary: dict[str, Any]) -> str:
    """The summary as a few plain lines (the CLI prints them)."""
    out = [f"replayed {summary['lines']} recorded lines, {summary['executions']} executions, P&L {summary['pnl']}",
           f"orders {summary['orders']} (filled {summary['orders_filled']}, fill rate {summary['fill_rate']}); "
           f"max drawdown {summary['max_drawdown']}; capital used {summary['capital_used']}; "
           f"return on capital {summary['return_on_capital']}"]
    for name, s in summary["strategies"].items():
        out.append(f"  {name}: {s['executions']} executions {s['statuses']}, P&L {s['pnl']}, "
                   f"predicted {s['predicted_bps_mean']} bps vs effective {s['effective_bps_mean']} bps")
    for n in summary["notes"]:
        out.append(f"  note: {n}")
    if summary["missing_venues"]:
        out.append(f"  not in the recording (not traded): {', '.join(summary['missing_venues'])}")
    return "\n".join(out)


__all__ = ["render", "summarize"]
