"""Top-level commands ``arbkit demo`` and ``arbkit run`` (``register(app)``)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Optional

import typer


def _run_config(config: Path, live: bool, mappings: Optional[Path], duration: Optional[float], plain: Optional[bool]) -> int:
    from arbkit.runtime.config import ConfigError, load_config
    from arbkit.runtime.dashboard import Dashboard
    from arbkit.runtime.logging import configure_logging
    from arbkit.runtime.node import Node, NodeError, NodeOptions, run_node

    try:
        cfg = load_config(config)
    except ConfigError as exc:
        typer.echo(f"arbkit run: {exc}", err=True)
        return 2
    live_venues = cfg.live_venues()
    if live_venues and not live:
        typer.echo(f"arbkit run: venue(s) {', '.join(live_venues)} are in mode live: add --live to trade real money", err=True)
        return 2
    if live_venues:
        problems = cfg.live_problems() + cfg.missing_secrets()
        if problems:
            typer.echo("arbkit run: refusing to trade live:\n  " + "\n  ".join(problems), err=True)
            return 2
    paper = cfg.paper_problems()
    if paper:
        typer.echo("arbkit run: refusing to paper-trade without limits:\n  " + "\n  ".join(paper), err=True)
        return 2
    if live and not live_venues:
        typer.echo("arbkit run: --live given but no venue is in mode live", err=True)
        return 2
    dash = Dashboard(sys.stdout, plain=plain, title=f"arbkit run  ({cfg.node.name})")
    logfile = None
    if not dash.plain:
        # the live dashboard owns the terminal: logs go next to the journal instead
        log_path = Path(cfg.node.journal_path).with_suffix(".log")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        logfile = open(log_path, "a", encoding="utf-8")
        dash.line(f"logs: {log_path}")
    configure_logging(cfg.node.log_level.value, json=cfg.node.log_json, stream=logfile)
    control = cfg.node.control_url
    import os

    token = os.environ.get("ARBKIT_CONTROL_TOKEN") or None
    if control.startswith("tcp://") and not token:
        typer.echo(f"arbkit run: control endpoint {control} needs ARBKIT_CONTROL_TOKEN (tcp:// requires a token); "
                   "control disabled", err=True)
        control = ""
    opts = NodeOptions(mappings_path=mappings, control_address=control or None, control_token=token,
                       config_path=str(config.resolve()))

    async def main() -> int:
        node = Node(cfg, opts)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        for line in cfg.summary():
            dash.line(line)
        try:
            await node.start()
        except (NodeError, ConfigError) as exc:
            typer.echo(f"arbkit run: {exc}", err=True)
            return 2
        except Exception as exc:  # noqa: BLE001 - a venue unreachable, refused credentials, ...
            typer.echo(f"arbkit run: cannot start: {type(exc).__name__}: {exc}", err=True)
            return 1
        try:
            dash.start()
            await run_node(node, duration_s=duration, stop_event=stop, on_tick=dash.update)
        finally:
            dash.stop()
            await node.stop()
        st = node.status()
        dash.line(f"stopped: {st['executions']['reported']} executions reported, {st['executions']['filled']} filled, "
                  f"P&L {st['pnl']}; journal {cfg.node.journal_path}")
        return 0

    try:
        return asyncio.run(main())
    finally:
        if logfile is not None:
            from arbkit.runtime.logging import reset_logging

            reset_logging()
            logfile.close()


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo(
        duration: float = typer.Option(60.0, "--duration", help="Seconds to run (Ctrl-C stops earlier)."),
        seed: int = typer.Option(1, "--seed", help="Seed of the simulator's demo scenario."),
        journal: Optional[Path] = typer.Option(None, "--journal", help="Journal file (default: RUN_DIR/journal.sqlite)."),
        html: Optional[Path] = typer.Option(None, "--html", help="HTML report (default: RUN_DIR/report.html)."),
        out: Optional[Path] = typer.Option(None, "--out", help="Run directory (default: arbkit-demo-<UTC time> under the user data directory, e.g. ~/.local/share/arbkit/demo/; printed at start)."),
        dislocate_every: float = typer.Option(6.0, "--dislocate-every",
                                              help="Ask the simulator for a twin dislocation every N seconds (0: only the scenario's own)."),
        plain: Optional[bool] = typer.Option(None, "--plain/--dashboard", help="Plain progress lines or the live dashboard "
                                                                               "(default: the dashboard on a terminal)."),
        keep_sim: bool = typer.Option(False, "--keep-sim", help="Leave the simulator running afterwards, so that "
                                      "RUN_DIR/demo.toml runs again as written (the summary prints the commands)."),
        record: Optional[Path] = typer.Option(None, "--record", help="Record every venue's frames, REST snapshots and "
                                              "metadata into this directory (arbkit backtest --data DIR)."),
    ) -> None:
        """Run everything locally: simulator, demo approvals, the node, the live dashboard.

        Starts the venue simulator, approves its true twins as demo approvals, runs the node
        through the real venue packages (mode sim) with the live dashboard, then prints a summary
        with the paths of the journal and the HTML report."""
        from arbkit.runtime.demo import DemoError, DemoInterrupted, DemoOptions, run_demo

        if duration <= 0:
            typer.echo("arbkit demo: --duration must be positive", err=True)
            raise typer.Exit(2)
        opts = DemoOptions(duration_s=duration, seed=seed, out_dir=out, journal=journal, html=html,
                           dislocate_every_s=dislocate_every, plain=plain, keep_sim=keep_sim,
                           record_dir=record)
        try:
            asyncio.run(run_demo(opts))
        except DemoInterrupted:
            typer.echo("arbkit demo: interrupted during start-up; nothing left running", err=True)
            raise typer.Exit(130) from None
        except DemoError as exc:
            typer.echo(f"arbkit demo: {exc}", err=True)
            raise typer.Exit(1) from None

    @app.command("run")
    def run(
        config: Path = typer.Option(..., "--config", help="Node configuration (TOML); see examples/."),
        live: bool = typer.Option(False, "--live", help="Required to trade venues in mode live (real money)."),
        mappings: Optional[Path] = typer.Option(Path("arbkit-mappings.db"), "--mappings",
                                                help="Mapping store: only its approved mappings are traded."),
        duration: Optional[float] = typer.Option(None, "--duration", help="Stop after this many seconds (default: until Ctrl-C)."),
        plain: Optional[bool] = typer.Option(None, "--plain/--dashboard", help="Plain progress lines or the live dashboard."),
    ) -> None:
        """Run the node from a configuration file (venues in mode paper, sim or live).

        Venues, credentials (named environment variables or key files), strategies, risk limits
        and the journal come from the file. Live mode needs --live and every risk limit set."""
        if mappings is not None and not mappings.exists():
            typer.echo(f"arbkit run: mapping store {mappings} does not exist: no cross-venue pairs will trade", err=True)
            mappings = None
        raise typer.Exit(_run_config(config, live, mappings, duration, plain))
