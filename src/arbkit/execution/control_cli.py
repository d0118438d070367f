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
        held = st.get("held", {})
        for eid, state in sorted(st.get("in_flight", {}).items()):
            typer.echo(f"  {eid}: {state}" + (f"  HELD: {held[eid]}" if eid in held else ""))
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
        """Take no new intents; an execution with a leg out completes or hedges within its timeout."""
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
        """Trip the kill switch (every intent denied, no next leg), cancel every execution in
        flight and every resting order we own on every venue (cancel_all)."""
        out = _call(address, "kill", reason=reason)
        typer.echo(f"kill switch tripped; executions canceled: {', '.join(out.get('canceled', [])) or 'none'}")
        for venue, what in sorted((out.get("venues") or {}).items()):
            typer.echo(f"  {venue}: {what}")

    @app.command("reset")
    def reset(address: str | None = ADDRESS_OPT) -> None:
        """Re-arm trading after a kill switch trip or an open breaker, once its cause is cleared
        (journaled; refused while the daily loss limit is still reached)."""
        out = _call(address, "reset", by="operator")
        typer.echo(f"kill switch reset (was: {out.get('previous_reason') or 'not tripped'}); "
                   f"breakers reset: {', '.join(out.get('breakers_reset', [])) or 'none'}")

    sagas_app = typer.Typer(help="In-flight and held executions: list, show, resolve a held one.", no_args_is_help=True)
    app.add_typer(sagas_app, name="sagas")

    @sagas_app.command("list")
    def sagas_list(all_: bool = typer.Option(False, "--all", help="Include reported executions."),
                   as_json: bool = typer.Option(False, "--json"), address: str | None = ADDRESS_OPT) -> None:
        """Executions in flight and held (a held one waits on an order the venue cannot tell us about)."""
        rows = _call(address, "sagas", all=all_).get("sagas", [])
        if as_json:
            typer.echo(json.dumps(rows, indent=2, sort_keys=True))
            return
        if not rows:
            typer.echo("no execution in flight or held")
        for r in rows:
            held = f"  HELD: {r['held']}" if r.get("held") else ""
            typer.echo(f"{r['execution_id']}  {r['state']}{' ' + r['status'] if r.get('status') else ''}  "
                       f"{r['strategy']}  orders {r['orders']}{held}")

    @sagas_app.command("show")
    def sagas_show(execution_id: str = typer.Argument(...), as_json: bool = typer.Option(False, "--json"),
                   address: str | None = ADDRESS_OPT) -> None:
        """One execution: its orders at each venue, what is unknown, its residual."""
        d = _call(address, "saga", execution_id=execution_id)
        if as_json:
            typer.echo(json.dumps(d, indent=2, sort_keys=True))
            return
        typer.echo(f"{d['execution_id']}  {d['state']}  {d['strategy']} ({d['sequencing']})")
        if d.get("held"):
            typer.echo(f"HELD: {d['held']}")
        for o in d["orders"]:
            unk = f"  UNKNOWN: {o['unknown']}" if o["unknown"] else ""
            typer.echo(f"  {o['client_order_id']} {o['purpose']} {o['venue']} {o['side']} {o['quantity']}@{o['price']} "
                       f"{o['status']} filled {o['filled']}{unk}")
        for r in d["residuals"]:
            typer.echo(f"  residual {r['venue']} {r['asset']} {r['quantity']}{' (dust)' if r['dust'] else ''}")

    @sagas_app.command("resolve")
    def sagas_resolve(execution_id: str = typer.Argument(...),
                      action: str = typer.Option(..., "--action", help="hedge: take the unknown orders as ended and hedge "
                                                 "what the saga holds; close: report it with its residual (handled by hand)."),
                      note: str = typer.Option("", help="Journaled with the resolution."), address: str | None = ADDRESS_OPT) -> None:
        """Resolve a held execution after checking its orders at the venue by hand."""
        if action not in ("hedge", "close"):
            typer.echo("error: --action must be hedge or close", err=True)
            raise typer.Exit(2)
        out = _call(address, "resolve", execution_id=execution_id, action=action, note=note)
        typer.echo(out.get("result", "resolved"))
