"""Operator commands over the control endpoint: ``arbkit status [--json]``, ``pause``, ``resume``,
``cancel ID``, ``slots N``, ``kill``. ``register(app)`` adds them to the top-level CLI.

The address comes from ``--address`` or ``ARBKIT_CONTROL_ADDRESS`` (default: the node's ipc
socket); a token for a tcp:// endpoint only from ``ARBKIT_CONTROL_TOKEN`` (never a command-line
argument: those show in process lists)."""

from __future__ import annotations

import json
import os

import typer

from arbkit.execution.control import DEFAULT_ADDRESS, ControlClient, ControlError, running_nodes

ADDRESS_OPT = typer.Option(None, "--address", help="Control endpoint (default: $ARBKIT_CONTROL_ADDRESS, else the "
                           "running node or demo on this host, else the local ipc socket).")


def resolve_address(address: str | None) -> str:
    """--address, then $ARBKIT_CONTROL_ADDRESS, then the one running node's run file; with
    several running, the operator must choose (each is listed)."""
    if address:
        return address
    env = os.environ.get("ARBKIT_CONTROL_ADDRESS")
    if env:
        return env
    nodes = running_nodes()
    if len(nodes) == 1:
        return str(nodes[0]["address"])
    if len(nodes) > 1:
        lines = "\n".join(f"  --address {n['address']}   (pid {n['pid']}, {n.get('node', '?')}, config {n.get('config', '?')})"
                          for n in nodes)
        typer.echo(f"error: {len(nodes)} arbkit nodes are running; choose one:\n{lines}", err=True)
        raise typer.Exit(2)
    return DEFAULT_ADDRESS


def _client(address: str | None) -> ControlClient:
    addr = resolve_address(address)
    try:
        return ControlClient(addr, token=os.environ.get("ARBKIT_CONTROL_TOKEN") or None)
    except ControlError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _call(address: str | None, cmd: str, **args) -> dict:
    try:
        return _client(address).request(cmd, **args)
    except ControlError as exc:
        hint = ""
        if not address and not os.environ.get("ARBKIT_CONTROL_ADDRESS") and not running_nodes():
            hint = ("\nno running arbkit node was found on this host: start one (`arbkit run --config FILE` or "
                    "`arbkit demo`), or pass the node's control address with --address or $ARBKIT_CONTROL_ADDRESS")
        typer.echo(f"error: {cmd}: {exc}{hint}", err=True)
        raise typer.Exit(1) from None


def _uptime(seconds: float) -> str:
    s = int(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, s = divmod(s, 60)
    return (f"{d}d " if d else "") + f"{h:02d}:{m:02d}:{s:02d}"


def _instrument(venue: str, instrument: str) -> str:
    # positions are keyed "venue:instrument_id" and instrument ids may already carry the venue
    return instrument[len(venue) + 1:] if instrument.startswith(venue + ":") else instrument


def render_status(st: dict, console=None) -> None:
    """The status as tables a trader can read: node, risk, positions with cash, executions,
    breakers, recent reports."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    node = st.get("node", {})
    risk = st.get("risk", {})
    ks = risk.get("killswitch", {})
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    if node:
        head.add_row("node", f"{node.get('node', '?')}  pid {node.get('pid', '?')}  up {_uptime(node.get('uptime_s', 0))}")
        if node.get("config"):
            head.add_row("config", str(node["config"]))
        if node.get("venues"):
            head.add_row("venues", ", ".join(f"{v} ({m})" for v, m in sorted(node["venues"].items())))
        if node.get("strategies"):
            head.add_row("strategies", ", ".join(node["strategies"]))
    head.add_row("trading", "[red]KILL SWITCH TRIPPED[/]: " + str(ks.get("reason", "")) if ks.get("tripped")
                 else ("[yellow]paused[/]" if st.get("paused") else "[green]on[/]"))
    head.add_row("P&L today", str(risk.get("pnl_today", "0")))
    in_flight = st.get("in_flight", {})
    head.add_row("slots", f"{len(in_flight)} in flight of {risk.get('slots', '?')}")
    if risk.get("reserved"):
        head.add_row("reserved", ", ".join(f"{k} {v}" for k, v in sorted(risk["reserved"].items())))
    denials = risk.get("denials") or {}
    if denials:
        head.add_row("denials", ", ".join(f"{k} {v}" for k, v in sorted(denials.items())))
    console.print(head)

    portfolio = st.get("portfolio", {})
    cash = portfolio.get("cash", {})
    positions = portfolio.get("positions", {})
    if cash or positions:
        t = Table(title="positions", title_justify="left", expand=False)
        t.add_column("venue")
        t.add_column("instrument / currency", overflow="fold")
        t.add_column("quantity", justify="right")
        for key, qty in sorted(cash.items()):
            venue, _, cur = key.partition(":")
            t.add_row(venue, f"cash {cur}", str(qty))
        for key, qty in sorted(positions.items()):
            venue, _, inst = key.partition(":")
            t.add_row(venue, _instrument(venue, inst), str(qty))
        console.print(t)

    held = st.get("held", {})
    if in_flight:
        t = Table(title="executions in flight", title_justify="left")
        t.add_column("execution")
        t.add_column("state")
        t.add_column("held because", overflow="fold")
        for eid, state in sorted(in_flight.items()):
            t.add_row(eid, state, str(held.get(eid, "")))
        console.print(t)
    breakers = st.get("breakers", {})
    if breakers:
        t = Table(title="tasks", title_justify="left")
        for col in ("task", "state", "starts", "crashes", "last error"):
            t.add_column(col, overflow="fold")
        for name, b in sorted(breakers.items()):
            state = str(b.get("state", "?")) if isinstance(b, dict) else str(b)
            style = "red" if state == "breaker_open" else ""
            if isinstance(b, dict):
                t.add_row(name, f"[{style}]{state}[/]" if style else state, str(b.get("starts", "")),
                          str(b.get("crashes", "")), str(b.get("last_error") or ""))
            else:
                t.add_row(name, state, "", "", "")
        console.print(t)
    reports = st.get("recent_reports", [])[-10:]
    if reports:
        t = Table(title="recent executions", title_justify="left")
        t.add_column("execution")
        t.add_column("status")
        t.add_column("profit", justify="right")
        for r in reports:
            t.add_row(r["execution_id"], r["status"], str(r["profit"]))
        console.print(t)


def register(app: typer.Typer) -> None:
    @app.command("status")
    def status(as_json: bool = typer.Option(False, "--json", help="Print the raw JSON status."), address: str | None = ADDRESS_OPT) -> None:
        """Positions, exposure, in-flight executions, slots, recent reports, breakers."""
        st = _call(address, "status")
        if as_json:
            typer.echo(json.dumps(st, indent=2, sort_keys=True))
            return
        render_status(st)

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
        """Trip the kill switch, cancel every execution in flight and every resting order we own.

        Every intent is then denied and no next leg is sent; resting orders are canceled on every
        venue (cancel_all)."""
        out = _call(address, "kill", reason=reason)
        typer.echo(f"kill switch tripped; executions canceled: {', '.join(out.get('canceled', [])) or 'none'}")
        for venue, what in sorted((out.get("venues") or {}).items()):
            typer.echo(f"  {venue}: {what}")

    @app.command("reset")
    def reset(address: str | None = ADDRESS_OPT) -> None:
        """Re-arm trading after a kill switch trip or an open breaker, once its cause is cleared.

        Journaled; refused while the daily loss limit is still reached."""
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
