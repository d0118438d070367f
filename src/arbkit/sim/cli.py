"""``arbkit sim``: run the venue simulator on 127.0.0.1.

``arbkit sim --venues polymarket,kalshi --scenario demo --seed 1 --info-file sim.json`` (or the same
with ``run``) serves until SIGINT/SIGTERM, prints a readable summary (URLs, accounts, markets; never
the test keys) and writes the whole info document (test keys included, mode 0600) to ``--info-file``;
``--json`` prints that document as one JSON line on stdout instead, for scripts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(
    name="sim",
    help="Run the local venue simulators (Polymarket CLOB V2, Kalshi trade API v2, KuCoin spot) on 127.0.0.1.",
    add_completion=False,
    pretty_exceptions_enable=False,
)

_VENUES_HELP = "Comma-separated venues to serve: polymarket,kalshi,kucoin (or 'none' for engines + admin only)."
_SCENARIO_HELP = "Built-in scenario (demo, quiet, negrisk), a scenario TOML path, or replay:PATH."


def parse_venues(text: str) -> list[str]:
    from arbkit.sim.runner import KNOWN_VENUES

    items = [v.strip().lower() for v in text.split(",") if v.strip()]
    if items in ([], ["none"]):
        return []
    bad = [v for v in items if v not in KNOWN_VENUES]
    if bad:
        raise typer.BadParameter(f"unknown venue(s) {', '.join(bad)}: choose from {', '.join(KNOWN_VENUES)} or 'none'")
    if len(set(items)) != len(items):
        raise typer.BadParameter("a venue is listed twice")
    return items


def _run(
    venues: str,
    scenario: str,
    seed: int,
    info_file: Optional[Path],
    duration: Optional[float],
    sim_clock: bool,
    admin_port: int,
    log_level: str,
    ports: Optional[list[str]] = None,
    env_file: Optional[Path] = None,
    as_json: bool = False,
) -> None:
    from arbkit.sim.runner import parse_ports, serve

    logging.basicConfig(stream=sys.stderr, level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    venue_list = parse_venues(venues)
    try:
        port_map = parse_ports(",".join(ports or []))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--ports") from None
    stray = sorted(set(port_map) - set(venue_list) - {"admin"})
    if stray:
        raise typer.BadParameter(f"{', '.join(stray)} not among --venues {venues}", param_hint="--ports")

    def emit(line: str) -> None:
        sys.stdout.write((line if as_json else summary(json.loads(line), info_file, env_file)) + "\n")
        sys.stdout.flush()

    try:
        code = asyncio.run(
            serve(
                venues=venue_list,
                scenario=scenario,
                seed=seed,
                info_file=info_file,
                duration_s=duration,
                simulated_clock=sim_clock,
                admin_port=admin_port,
                print_info=emit,
                ports=port_map,
                env_file=env_file,
            )
        )
    except OSError as exc:  # a fixed port already in use, an unwritable info/env file
        typer.echo(f"arbkit sim: {exc}", err=True)
        raise typer.Exit(2) from None
    except (ValueError, ImportError) as exc:
        typer.echo(f"arbkit sim: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:  # pragma: no cover - signal handler normally catches it
        code = 0
    raise typer.Exit(code)


def summary(info: dict, info_file: Optional[Path], env_file: Optional[Path]) -> str:
    """What an operator needs to point a node at the simulator, without the test keys (those are
    in the info file and the env file, both mode 0600)."""
    lines = [f"arbkit sim: scenario {info.get('scenario')} (seed {info.get('seed')}, {info.get('clock')} clock), pid {info.get('pid')}"]
    for venue in ("polymarket", "kalshi", "kucoin"):
        v = info.get(venue)
        if not isinstance(v, dict):
            continue
        urls = [f"rest {v['rest_url']}"] + [f"{k.removesuffix('_url').replace('_', ' ')} {u}" for k, u in v.items()
                                            if k.endswith("_url") and k != "rest_url"]
        lines.append(f"  {venue:<10} " + "  ".join(urls))
        lines.append(f"  {'':<10} {len(v.get('accounts', []))} test accounts, {len(v.get('markets', []))} markets")
    lines.append(f"  {'admin':<10} {info.get('admin_url')}")
    if info_file is not None:
        lines.append(f"info (URLs, markets, test keys): {info_file}")
    if env_file is not None:
        lines.append(f"test account exports: . {env_file}")
    if info_file is None and env_file is None:
        lines.append("test keys: pass --info-file FILE (or --env-file FILE) to get them; --json prints everything")
    lines.append("Ctrl-C stops the simulator.")
    return "\n".join(lines)


_json_opt = typer.Option(False, "--json", help="Print the info document (test keys included) as one JSON line "
                         "on stdout instead of the summary.")
_venues_opt = typer.Option("polymarket,kalshi", "--venues", help=_VENUES_HELP)
_scenario_opt = typer.Option("demo", "--scenario", help=_SCENARIO_HELP)
_seed_opt = typer.Option(1, "--seed", help="Seed of the deterministic scenario.")
_info_opt = typer.Option(None, "--info-file", help="Also write the info JSON here (mode 0600: it holds test keys).")
_duration_opt = typer.Option(None, "--duration", help="Stop by itself after this many wall-clock seconds.")
_simclock_opt = typer.Option(False, "--sim-clock", help="Use a simulated clock, advanced through the admin endpoint.")
_admin_port_opt = typer.Option(0, "--admin-port", help="Admin endpoint port (0 = ephemeral).")
_log_opt = typer.Option("WARNING", "--log-level", help="Log level for stderr.")
_ports_opt = typer.Option(None, "--ports", "--port", help="Fixed ports, e.g. polymarket=18101,kalshi=18102,admin=18100 "
                          "(repeatable; unnamed servers get ephemeral ports). examples/sim.toml uses these.")
_env_opt = typer.Option(None, "--env-file", help="Also write the first test account of each venue as shell exports "
                        "(SIM_POLYMARKET_PRIVATE_KEY, SIM_KALSHI_API_KEY_ID, SIM_KALSHI_PRIVATE_KEY, ...; mode 0600): "
                        "`. FILE` before `arbkit run --config examples/sim.toml`.")


@app.callback(invoke_without_command=True)
def sim(
    ctx: typer.Context,
    venues: str = _venues_opt,
    scenario: str = _scenario_opt,
    seed: int = _seed_opt,
    info_file: Optional[Path] = _info_opt,
    duration: Optional[float] = _duration_opt,
    sim_clock: bool = _simclock_opt,
    admin_port: int = _admin_port_opt,
    log_level: str = _log_opt,
    ports: Optional[list[str]] = _ports_opt,
    env_file: Optional[Path] = _env_opt,
    as_json: bool = _json_opt,
) -> None:
    """Run the simulator (same options as ``arbkit sim run``)."""
    if ctx.invoked_subcommand is None:
        _run(venues, scenario, seed, info_file, duration, sim_clock, admin_port, log_level, ports, env_file, as_json)


@app.command("run")
def run(
    venues: str = _venues_opt,
    scenario: str = _scenario_opt,
    seed: int = _seed_opt,
    info_file: Optional[Path] = _info_opt,
    duration: Optional[float] = _duration_opt,
    sim_clock: bool = _simclock_opt,
    admin_port: int = _admin_port_opt,
    log_level: str = _log_opt,
    ports: Optional[list[str]] = _ports_opt,
    env_file: Optional[Path] = _env_opt,
    as_json: bool = _json_opt,
) -> None:
    """Serve the selected venues on 127.0.0.1 until SIGINT/SIGTERM; print a summary (--json: the info document)."""
    _run(venues, scenario, seed, info_file, duration, sim_clock, admin_port, log_level, ports, env_file, as_json)


@app.command("catalogue")
def catalogue(
    scenario: str = _scenario_opt,
    seed: int = _seed_opt,
) -> None:
    """Print a scenario's catalogue (markets per venue, twin and near-miss pairs) as JSON."""
    from arbkit.sim.scenario import load_scenario

    try:
        sc = load_scenario(scenario, seed)
    except (ValueError, FileNotFoundError) as exc:
        typer.echo(f"arbkit sim: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(sc.catalogue.to_dict(), indent=2))
