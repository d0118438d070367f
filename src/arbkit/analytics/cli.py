"""``arbkit report JOURNAL [--html FILE] [--json]``: the journal's figures in the terminal, as
JSON, and as an offline HTML page with plots."""

from __future__ import annotations

import sys
from pathlib import Path

import typer


def report(
    journal: Path = typer.Argument(..., help="Journal file (SQLite) written by arbkit run / demo."),
    html_file: Path | None = typer.Option(None, "--html", help="Also write an offline HTML page with plots here."),
    as_json: bool = typer.Option(False, "--json", help="Print the figures as JSON instead of tables."),
) -> None:
    """P&L by strategy and venue, fill rate, predicted vs effective bps, latency, hedges, rejections.

    Computed with DuckDB over the journal; HTML with plots, rich tables or JSON."""
    from arbkit.analytics.render import print_rich, write_plain
    from arbkit.analytics.report import build_report, report_json
    from arbkit.journal.store import JournalError

    if not journal.is_file():
        typer.echo(f"error: no journal at {journal}", err=True)
        raise typer.Exit(2)
    try:
        rep = build_report(journal)
    except JournalError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if html_file is not None:
        from arbkit.analytics.html import render_html

        try:
            html_file.parent.mkdir(parents=True, exist_ok=True)
            html_file.write_text(render_html(rep), encoding="utf-8")
        except OSError as exc:
            typer.echo(f"error: cannot write the HTML report to {html_file}: {exc}", err=True)
            raise typer.Exit(1) from None
    if as_json:
        sys.stdout.buffer.write(report_json(rep) + b"\n")
        sys.stdout.flush()
    elif sys.stdout.isatty():
        from rich.console import Console

        print_rich(rep, Console())
    else:
        write_plain(rep, sys.stdout)
    if html_file is not None:
        typer.echo(f"HTML report: {html_file}", err=as_json)


def register(app: typer.Typer) -> None:
    """Add ``arbkit report`` to the top-level CLI."""
    app.command("report")(report)
