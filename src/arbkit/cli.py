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
    add_completion=False,
    pretty_exceptions_enable=False,
)

# (module, attribute, name): a typer sub-app mounted as ``arbkit NAME ...``.
SUBCOMMAND_GROUPS: list[tuple[str, str, str]] = [
    ("arbkit.runtime.config_cli", "app", "config"),
    ("arbkit.journal.cli", "app", "journal"),
    ("arbkit.sim.cli", "app", "sim"),
    ("arbkit.venues.cli", "app", "feed"),
    ("arbkit.mapping.cli", "app", "mappings"),
    ("arbkit.runtime.orders_cli", "app", "orders"),
    ("arbkit.runtime.positions_cli", "app", "positions"),
]
# (module, attribute): a module exposing ``register(app)`` that adds top-level commands.
TOP_LEVEL_COMMANDS: list[str] = [
    "arbkit.execution.control_cli",
    "arbkit.runtime.node_cli",
    "arbkit.analytics.cli",
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


@app.callback()
def _root() -> None:
    """arbkit: find and execute arbitrage on prediction markets and crypto exchanges."""


@app.command()
def version() -> None:
    """Print the arbkit version."""
    typer.echo(__version__)


_mount()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
