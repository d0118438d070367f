"""``arbkit config ...``: check a configuration file."""

from __future__ import annotations

from pathlib import Path

import typer

from arbkit.runtime.config import ConfigError, load_config

app = typer.Typer(help="Configuration files: check them before running.", no_args_is_help=True, add_completion=False)


@app.callback()
def _config() -> None:
    """Configuration files: check them before running."""


@app.command("check")
def check(file: Path = typer.Argument(..., help="The TOML configuration file to validate.")) -> None:
    """Validate FILE: prints "ok" and a summary, or the key and the problem (exit code 1).

    A configuration with a live venue also fails while any risk limit is unset. Secrets that
    a live venue needs but this environment lacks are reported as warnings (the check may run
    on another machine than the node)."""
    try:
        cfg = load_config(file)
    except ConfigError as exc:
        typer.echo(f"error: {file}: {exc}", err=True)
        raise typer.Exit(1) from None
    problems = cfg.live_problems()
    if problems:
        typer.echo(f"error: {file}: live venues ({', '.join(cfg.live_venues())}) refuse to start:", err=True)
        for p in problems:
            typer.echo(f"  {p}", err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: {file}")
    for line in cfg.summary():
        typer.echo(f"  {line}")
    for missing in cfg.missing_secrets():
        typer.echo(f"warning: {missing}", err=True)
