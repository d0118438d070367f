"""Operator commands over the control endpoint: ``arbkit status [--json]``, ``pause``, ``resume``,
``cancel ID``, ``slots N``, ``kill``. ``register(app)`` adds them to the top-level CLI.

The address comes from ``--address`` or ``ARBKIT_CONTROL_ADDRESS`` (default: the node's ipc
socket); a token for a tcp:// endpoint only from ``ARBKIT_CONTROL_TOKEN`` (never a command-line
argument: those show in process lists)."""

from __future__ import annotations

import json
import os

import typer

from arbkit.execution.control import DEFAULT_ADDRESS, ControlClient, ControlError

ADDRESS_OPT = typer.Option(None, "--address", help="Control endpoint (default: $ARBKIT_CONTROL_ADDRESS or the local ipc socket).")


def _client(address: str | None) -> ControlClient:
    addr = address or os.environ.get("ARBKIT_CONTROL_ADDRESS") or DEFAULT_ADDRESS
    try:
        return ControlClient(addr, token=os.environ.get("ARBKIT_CONTROL_TOKEN") or None)
    except ControlError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _call(address: str | None, cmd: str, **args) -> dict:
    try:
        return _client(address).request(cmd, **args)
    except ControlError as exc:
        typer.echo(f"error: {cmd}: {exc}", err=True)
        raise typer.Exit(1) from None


def register(app: typer.Typer) -> None:
    @app.command("status")
    def status(as_json: bool = typer.Option(False, "--json", help="Print the raw JSON status."), address: str | None = ADDRESS_OPT) -> None:
        """Positions, exposure, in-flight executions, slots, recent reports, breakers."""
        st = _call(address, "status")
        if as_json:
            typer.echo(json.dumps(st, indent=2, sort_keys=True))
            return
        risk = st.get("risk", {})
        ks = risk.get("killswitch", {})
        typer.echo(f"paused: {st.get('paused')}   kill switch: {'TRIPPED (' + ks.get('reason', '') + ')' if ks.get('tripped') else 'off'}")
        typer.echo(f"slots: {risk.get('slots')}   in flight: {len(st.get('in_flight', {}))}   P&L today: {risk.get('pnl_today')}")
        for eid, state in sorted(st.get("in_flight", {}).items()):
            typer.echo(f"  {eid}: {state}")
        pos = st.get("portfolio", {}).get("positions", {})
        if pos:
            typer.echo("positions:")
            for k, v in sorted(pos.items()):
                typer.echo(f"  {k}: {v}")
        if risk.get("reserved"):
            typer.echo("reserved: " + ", ".join(f"{k} {v}" for k, v in sorted(risk["reserved"].items())))
        for name, state in sorted(st.get("breakers", {}).items()):
            typer.echo(f"breaker {name}: {state}")
        for r in st.get("recent_reports", [])[-10:]:
            typer.echo(f"  report {r['execution_id']}: {r['status']} profit {r['profit']}")

    @app.command("pause")
    def pause(reason: str = typer.Option("operator", help="Journaled with the pause."), address: str | None = ADDRESS_OPT) -> None:
        """Take no new intents; running executions wait before their next leg."""
        _call(address, "pause", reason=reason)
        typer.echo("paused")

    @app.command("resume")
    def resume(address: str | None = ADDRESS_OPT) -> None:
        """Resume after a pause."""
        _call(address, "resume")
        typer.echo("resumed")

    @app.command("cancel")
    def cancel(execution_id: str = typer.Argument(..., help="The execution to stop before its next leg."), address: str | None = ADDRESS_OPT) -> None:
        """Cancel an execution: no further legs; what it holds is compensated by its hedge policy."""
        _call(address, "cancel", execution_id=execution_id)
        typer.echo(f"cancel requested: {execution_id}")

    @app.command("slots")
    def slots(n: int = typer.Argument(..., min=0, help="Maximum concurrent executions."), address: str | None = ADDRESS_OPT) -> None:
        """Change the number of concurrent execution slots while running."""
        _call(address, "slots", n=n)
        typer.echo(f"slots: {n}")

    @app.command("kill")
    def kill(reason: str = typer.Option("operator kill", help="Journaled with the kill."), address: str | None = ADDRESS_OPT) -> None:
        """Trip the kill switch (every intent denied) and cancel every execution in flight."""
        out = _call(address, "kill", reason=reason)
        typer.echo(f"kill switch tripped; canceled: {', '.join(out.get('canceled', [])) or 'none'}")
