"""``arbkit backtest``: replay a recording through the node's strategies, risk and execution."""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import List, Optional

import typer


def parse_time(text: str | None) -> int | None:
    """ns since the epoch from an integer (ns) or an ISO-8601 time (UTC unless it says)."""
    if text is None:
        return None
    t = text.strip()
    if t.isdigit():
        return int(t)
    dt = _dt.datetime.fromisoformat(t.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_dt.timezone.utc)
    return int(dt.timestamp()) * 1_000_000_000 + dt.microsecond * 1000


def backtest(
    config: Path = typer.Option(..., "--config", help="Node configuration (TOML): strategies, risk, execution."),
    data: List[Path] = typer.Option(..., "--data", help="Recording directory or <venue>.frames[.gz] file (repeatable)."),
    t_from: Optional[str] = typer.Option(None, "--from", help="Decide only from this time (ISO-8601 or ns); books build before."),
    t_to: Optional[str] = typer.Option(None, "--to", help="Stop the replay at this time (ISO-8601 or ns)."),
    out: Path = typer.Option(Path("backtest-out"), "--out", help="Output directory: journal.sqlite and summary.json."),
    seed: int = typer.Option(0, "--seed", help="Seed of the simulated exchanges (same data+config+seed: same journal)."),
    mappings: Optional[Path] = typer.Option(None, "--mappings", help="Mapping store (default: mappings.db beside the data)."),
    latency_out_ms: float = typer.Option(20.0, "--latency-out-ms", help="Order -> venue latency."),
    latency_in_ms: float = typer.Option(20.0, "--latency-in-ms", help="Venue -> us latency (answers, fills)."),
    no_queue: bool = typer.Option(False, "--no-queue", help="Resting orders fill without waiting behind the recorded size."),
    balance: str = typer.Option("10000", "--balance", help="Starting collateral per venue."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    sets: Optional[List[str]] = typer.Option(None, "--set", help="Sweep: KEY=V1,V2,... (a dotted config key, repeatable); "
                                             "every combination runs (one process per core) into OUT/<combination>/, "
                                             "compared in OUT/sweep.csv and OUT/sweep.svg."),
) -> None:
    """Replay a recording through the node's feeds, strategies, risk and execution.

    On a simulated clock, against a simulated exchange per venue (latency, queue position,
    partial fills, live fees). Writes a journal that `arbkit report` reads, and a summary."""
    from arbkit.backtest.exchange import ExchangeConfig
    from arbkit.backtest.runner import BacktestOptions, run_backtest
    from arbkit.backtest.summary import render
    from arbkit.runtime.config import ConfigError, load_config

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        typer.echo(f"arbkit backtest: {exc}", err=True)
        raise typer.Exit(2) from None
    for p in data:
        if not p.exists():
            typer.echo(f"arbkit backtest: no data at {p}", err=True)
            raise typer.Exit(2)
    try:
        opts = BacktestOptions(data=list(data), out=out, seed=seed, t_from_ns=parse_time(t_from), t_to_ns=parse_time(t_to),
                               mappings=mappings, balance=Decimal(balance),
                               exchange=ExchangeConfig(latency_out_ms=latency_out_ms, latency_in_ms=latency_in_ms,
                                                       queue_position=not no_queue))
    except (ValueError, ArithmeticError) as exc:
        typer.echo(f"arbkit backtest: {exc}", err=True)
        raise typer.Exit(2) from None
    if sets:
        from arbkit.backtest.sweep import parse_sets, render_table, run_sweep

        try:
            parsed = parse_sets(sets)
            rows = run_sweep(config, parsed, {k: getattr(opts, k) for k in ("data", "seed", "t_from_ns", "t_to_ns",
                                                                             "mappings", "balance", "exchange")}, out)
        except ValueError as exc:
            typer.echo(f"arbkit backtest: {exc}", err=True)
            raise typer.Exit(2) from None
        if as_json:
            typer.echo(json.dumps([{"set": v, "summary": s} for v, s in rows], indent=1, sort_keys=True, default=str))
        else:
            typer.echo(render_table([k for k, _ in parsed], rows))
            typer.echo(f"table: {out / 'sweep.csv'}  plot: {out / 'sweep.svg'}")
        return
    bar = _progress() if sys.stderr.isatty() and not as_json else None
    if bar is not None:
        progress, task = bar
        progress.start()
        t0 = time.perf_counter()
        opts.progress = lambda n, ns: progress.update(task, completed=n, rate=f"{n / max(time.perf_counter() - t0, 1e-9):,.0f}")
    try:
        res = asyncio.run(run_backtest(cfg, opts))
    except ValueError as exc:
        typer.echo(f"arbkit backtest: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        if bar is not None:
            bar[0].stop()
    if as_json:
        typer.echo(json.dumps(res.summary, indent=1, sort_keys=True, default=str))
        return
    typer.echo(render(res.summary))
    rate = res.lines / res.wall_s if res.wall_s > 0 else 0
    typer.echo(f"journal: {res.journal}  (arbkit report {res.journal})\nsummary: {out / 'summary.json'}\n"
               f"{res.lines} lines in {res.wall_s:.2f} s ({rate:,.0f} lines/s)")


def _progress():
    """A rich progress line (stderr is a terminal): events replayed and events/s."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(SpinnerColumn(), TextColumn("backtest: {task.completed:,.0f} events, {task.fields[rate]} events/s"),
                        TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    task = progress.add_task("replay", total=None, rate="-")
    return progress, task


def register(app: typer.Typer) -> None:
    """Add ``arbkit backtest`` to the top-level CLI."""
    app.command("backtest")(backtest)
