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
    strategy this build does not have (the list it has is printed), and any unset risk limit when a venue is in mode paper
    or live (paper results mean something only under the limits live trading would have).
    Secrets that a live venue needs but this environment lacks are reported as warnings (the
    check may run on another machine than the node), and so is an enabled strategy whose venues
    are not all configured. Nothing is connected to."""
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
    for warning in cfg.check_warnings():
        typer.echo(f"warning: {warning}", err=True)
    for note in _paper_key_notes(cfg):
        typer.echo(f"note: {note}", err=True)


def _paper_key_notes(cfg) -> list[str]:
    """Paper mode needs no credentials; a configured Kalshi key is optional and only reads (Kalshi
    serves order books on a signed WebSocket only). Say when it is configured but not available."""
    import os

    out = []
    k = cfg.venues.kalshi
    if k is None or k.mode.value != "paper":
        return out
    for key, ref in cfg.secret_refs().items():
        if not key.startswith("venues.kalshi."):
            continue
        if key.endswith("_env") and not os.environ.get(ref):
            out.append(f"{key}: {ref} is not set: optional in paper mode, but without the key Kalshi books stay "
                       "empty (order books need a signed connection)")
        elif key.endswith("_file") and not Path(ref).is_file():
            out.append(f"{key}: key file {ref} does not exist: optional in paper mode, but without the key Kalshi "
                       "books stay empty (order books need a signed connection)")
    return out
