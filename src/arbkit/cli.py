"""The ``arbkit`` command line. Each engine owns its commands in its own ``cli`` module; this
file only mounts them, importing lazily so ``arbkit --help`` stays fast."""

from __future__ import annotations

import importlib

import typer

from arbkit import __version__

app = typer.Typer(
    name="arbkit",
    help="arbkit: find and execute arbitrage on prediction markets and crypto exchanges.",
    no_args_is_help=True,
    add_completion=True,  # `arbkit --install-completion` for bash/zsh/fish
    pretty_exceptions_enable=False,
)

# `arbkit --help` groups commands by what an operator is doing. A command not listed here lands
# in "Other" so a new command is never hidden (tests/unit/test_cli.py checks every command has a
# panel).
PANELS: dict[str, str] = {
    **dict.fromkeys(("demo", "run", "sim", "backtest"), "Run"),
    **dict.fromkeys(("status", "pause", "resume", "cancel", "slots", "kill", "reset", "sagas", "orders", "positions"), "Operate"),
    **dict.fromkeys(("feed", "mappings", "data"), "Data"),
    **dict.fromkeys(("config", "journal", "report", "version"), "Inspect"),
}

# (module, attribute, name): a typer sub-app mounted as ``arbkit NAME ...``.
SUBCOMMAND_GROUPS: list[tuple[str, str, str]] = [
    ("arbkit.runtime.config_cli", "app", "config"),
    ("arbkit.journal.cli", "app", "journal"),
    ("arbkit.sim.cli", "app", "sim"),
    ("arbkit.venues.cli", "app", "feed"),
    ("arbkit.mapping.cli", "app", "mappings"),
    ("arbkit.runtime.orders_cli", "app", "orders"),
    ("arbkit.runtime.positions_cli", "app", "positions"),
    ("arbkit.backtest.data_cli", "app", "data"),
]
# (module, attribute): a module exposing ``register(app)`` that adds top-level commands.
TOP_LEVEL_COMMANDS: list[str] = [
    "arbkit.execution.control_cli",
    "arbkit.runtime.node_cli",
    "arbkit.analytics.cli",
    "arbkit.backtest.cli",
]


def _optional_import(module: str):
    """Import an engine's CLI module; a module not yet in this build is skipped, any error
    inside an existing module is raised (a broken command must not vanish silently)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise


def _mount() -> None:
    for module, attr, name in SUBCOMMAND_GROUPS:
        mod = _optional_import(module)
        if mod is not None:
            app.add_typer(getattr(mod, attr), name=name)
    for module in TOP_LEVEL_COMMANDS:
        mod = _optional_import(module)
        if mod is not None:
            mod.register(app)
    for info in app.registered_commands:
        name = info.name or (info.callback.__name__ if info.callback else "")
        info.rich_help_panel = PANELS.get(name, "Other")
    for group in app.registered_groups:
        group.rich_help_panel = PANELS.get(group.name or "", "Other")
    # rich prints panels in the order their first command appears: Run, Operate, Data, Inspect
    order = {p: i for i, p in enumerate(("Run", "Operate", "Data", "Inspect", "Other"))}
    app.registered_commands.sort(key=lambda c: order[c.rich_help_panel or "Other"])
    app.registered_groups.sort(key=lambda g: order[g.rich_help_panel or "Other"])


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"arbkit {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", "-V", callback=_print_version, is_eager=True,
                                 help="Print the arbkit version and exit."),
) -> None:
    """arbkit: find and execute arbitrage on prediction markets and crypto exchanges."""


@app.command(rich_help_panel="Inspect")
def version() -> None:
    """Print the arbkit version."""
    typer.echo(__version__)


_mount()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
