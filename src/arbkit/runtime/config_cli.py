"""``arbkit config ...``: check a configuration file."""

from __future__ import annotations

from pathlib import Path

import typer

from arbkit.runtime.config import ConfigError, load_config

app = typer.Typer(help="Configuration files: check them before running.", no_args_is_help=True, add_completion=False)


@app.callback()
def _config() -> None:
    """Configuration files: check them before running."""


def _with_file(file: Path, message: str) -> str:
    """``FILE: message``, once: reading errors already start with the file's name."""
    return message if message.startswith(f"{file}:") else f"{file}: {message}"


@app.command("check")
def check(file: Path = typer.Argument(..., help="The TOML configuration file to validate.")) -> None:
    """Validate FILE: prints "ok" and a summary, or the key and the problem (exit code 1).

    Refused besides bad keys and values: an empty file, no venue, no strategy enabled, a
    strategy this build does not have, and any unset risk limit when a venue is in mode paper
    or live (paper results mean something only under the limits live trading would have).
    Secrets that a live venue needs but this environment lacks are reported as warnings (the
    check may run on another machine than the node). Nothing is connected to."""
    try:
        cfg = load_config(file)
    except ConfigError as exc:
        typer.echo(f"error: {_with_file(file, str(exc))}", err=True)
        raise typer.Exit(1) from None
    problems = cfg.check_problems()
    if problems:
        live = cfg.live_venues()
        why = f" (live venues: {', '.join(live)})" if live else ""
        typer.echo(f"error: {file}: refused{why}:", err=True)
        for p in problems:
            typer.echo(f"  {p}", err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: {file}")
    for line in cfg.summary():
        typer.echo(f"  {line}")
    for missing in cfg.missing_secrets():
        typer.echo(f"warning: {missing}", err=True)
