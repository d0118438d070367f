"""Parameter sweeps: ``arbkit backtest --set KEY=V1,V2 [--set ...]`` runs every combination of the
values (each a full backtest of the same data, in its own process, one per core) and writes a
comparison table (``sweep.csv``, printed) and a plot (``sweep.svg``: P&L and executions per
combination). Each combination's journal and summary are in ``OUT/<combination>/``."""

from __future__ import annotations

import asyncio
import copy
import csv
import itertools
import os
import tomllib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

COLUMNS = ("executions", "filled", "pnl", "orders", "fill_rate", "max_drawdown", "capital_used", "return_on_capital")


def parse_sets(sets: list[str]) -> list[tuple[str, list[str]]]:
    """['a.b=1,2', 'c=x'] -> [('a.b', ['1', '2']), ('c', ['x'])]."""
    out = []
    for s in sets:
        key, sep, vals = s.partition("=")
        if not sep or not key.strip() or not vals.strip():
            raise ValueError(f"--set {s!r}: expected KEY=V1,V2,...")
        out.append((key.strip(), [v.strip() for v in vals.split(",") if v.strip()]))
    return out


def _candidates(text: str) -> list[Any]:
    """A --set value as TOML would read it: the config decides which type fits (tried in order)."""
    out: list[Any] = []
    low = text.lower()
    if low in ("true", "false"):
        out.append(low == "true")
    try:
        out.append(int(text))
    except ValueError:
        pass
    out.append(text)
    try:
        out.append(float(text))
    except ValueError:
        pass
    return out


def config_with(config_path: Path, values: dict[str, str]) -> Any:
    """The configuration file with dotted keys set (each value typed as the config accepts it)."""
    from arbkit.runtime.config import ConfigError, _build, _resolve_paths

    base = tomllib.loads(config_path.read_text(encoding="utf-8"))
    chosen: dict[str, Any] = {}
    for key, text in values.items():
        last: Exception | None = None
        for cand in _candidates(text):
            trial = copy.deepcopy(base)
            for k, v in {**chosen, key: cand}.items():
                node = trial
                parts = k.split(".")
                for p in parts[:-1]:
                    node = node.setdefault(p, {})
                node[parts[-1]] = v
            try:
                _build(copy.deepcopy(trial))
            except ConfigError as exc:
                last = exc
                continue
            chosen[key] = cand
            break
        else:
            raise ValueError(f"--set {key}={text}: {last}")
    data = copy.deepcopy(base)
    for k, v in chosen.items():
        node = data
        parts = k.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = v
    return _resolve_paths(_build(data), config_path.resolve().parent)


def combo_name(values: dict[str, str]) -> str:
    return "__".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in values.items()).replace("/", "_")


def _run_one(args: tuple[Path, dict[str, str], dict[str, Any]]) -> dict[str, Any]:
    from arbkit.backtest.runner import BacktestOptions, run_backtest

    config_path, values, opts_kw = args
    cfg = config_with(config_path, values)
    opts = BacktestOptions(**opts_kw)
    res = asyncio.run(run_backtest(cfg, opts))
    return res.summary


def run_sweep(config_path: Path, sets: list[tuple[str, list[str]]], base: dict[str, Any], out: Path,
              workers: int | None = None) -> list[tuple[dict[str, str], dict[str, Any]]]:
    keys = [k for k, _ in sets]
    combos = [dict(zip(keys, vals)) for vals in itertools.product(*(v for _, v in sets))]
    for c in combos:
        config_with(config_path, c)  # refuse a bad value before any process starts
    jobs = [(config_path, c, {**base, "out": out / combo_name(c)}) for c in combos]
    n = max(1, min(len(jobs), workers or os.cpu_count() or 1))
    if n == 1:
        summaries = [_run_one(j) for j in jobs]
    else:
        with ProcessPoolExecutor(max_workers=n) as pool:
            summaries = list(pool.map(_run_one, jobs))
    rows = list(zip(combos, summaries))
    _write_table(out / "sweep.csv", keys, rows)
    _write_plot(out / "sweep.svg", rows)
    return rows


def _row(values: dict[str, str], s: dict[str, Any]) -> dict[str, Any]:
    filled = sum(v["filled"] for v in s["strategies"].values())
    return {**values, "executions": s["executions"], "filled": filled, "pnl": s["pnl"], "orders": s["orders"],
            "fill_rate": s["fill_rate"], "max_drawdown": s["max_drawdown"], "capital_used": s["capital_used"],
            "return_on_capital": s["return_on_capital"]}


def _write_table(path: Path, keys: list[str], rows: list[tuple[dict[str, str], dict[str, Any]]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=[*keys, *COLUMNS])
        w.writeheader()
        for values, s in rows:
            w.writerow(_row(values, s))


def render_table(keys: list[str], rows: list[tuple[dict[str, str], dict[str, Any]]]) -> str:
    table = [[*keys, *COLUMNS]] + [[str(_row(v, s)[c]) for c in (*keys, *COLUMNS)] for v, s in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in table)


def _write_plot(path: Path, rows: list[tuple[dict[str, str], dict[str, Any]]]) -> None:
    from decimal import Decimal

    from matplotlib.figure import Figure

    labels = [combo_name(v) for v, _ in rows]
    pnl = [float(Decimal(s["pnl"])) for _, s in rows]  # a plot: floats only draw
    execs = [s["executions"] for _, s in rows]
    fig = Figure(figsize=(max(6, 0.9 * len(rows) + 2), 4))
    ax = fig.add_subplot(1, 1, 1)
    ax.bar(range(len(rows)), pnl, color="#1f77b4")
    ax.set_ylabel("P&L")
    ax.set_xticks(range(len(rows)), labels, rotation=30, ha="right", fontsize=8)
    ax2 = ax.twinx()
    ax2.plot(range(len(rows)), execs, "o-", color="#ff7f0e")
    ax2.set_ylabel("executions")
    ax.set_title("backtest sweep")
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})


__all__ = ["config_with", "parse_sets", "render_table", "run_sweep"]
