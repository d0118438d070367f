"""``arbkit mappings``: discover candidate pairs, list, show, approve (acknowledging every
warning) and reject cross-venue market mappings.

    arbkit mappings discover --polymarket-url URL --kalshi-url URL [--db PATH]
    arbkit mappings discover --info-file sim.json             # URLs from `arbkit sim --info-file`
    arbkit mappings discover --polymarket-file events.json --kalshi-file markets.json --kalshi-file series.json
                                                              # saved REST JSON (curl), see reader.py
    arbkit mappings list [--status pending|approved|rejected]
    arbkit mappings show ID
    arbkit mappings approve ID --ack polarity --ack resolution_source --by NAME
    arbkit mappings reject ID --reason "different weather station"
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(
    name="mappings",
    help="Cross-venue market mappings: discover candidates, review their differences, approve or reject.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DEFAULT_DB = Path("arbkit-mappings.db")
_db_opt = typer.Option(DEFAULT_DB, "--db", help="Mapping store (SQLite file).")


def _open(db: Path):
    from arbkit.mapping.store import MappingError, MappingStore

    try:
        return MappingStore(db)
    except MappingError as exc:
        typer.echo(f"arbkit mappings: {exc}", err=True)
        raise typer.Exit(2) from None


def _ts(ns: int) -> str:
    if not ns:
        return "-"
    return _dt.datetime.fromtimestamp(ns / 1e9, tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _urls_from_info(info_file: Path) -> tuple[str, str, str | None]:
    try:
        info = json.loads(info_file.read_text())
        return info["polymarket"]["rest_url"], info["kalshi"]["rest_url"], info["polymarket"].get("gamma_url")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        typer.echo(f"arbkit mappings: cannot read venue URLs from {info_file}: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command("discover")
def discover_cmd(
    polymarket_url: Optional[str] = typer.Option(None, "--polymarket-url", help="Polymarket CLOB REST base URL."),
    kalshi_url: Optional[str] = typer.Option(None, "--kalshi-url", help="Kalshi trade API v2 base URL (…/trade-api/v2)."),
    gamma_url: Optional[str] = typer.Option(None, "--gamma-url", help="Gamma-style events URL (default: the CLOB URL)."),
    info_file: Optional[Path] = typer.Option(None, "--info-file", help="Take the URLs from an `arbkit sim` info file."),
    polymarket_file: List[Path] = typer.Option([], "--polymarket-file",
                                               help="Saved Polymarket Gamma events/markets or CLOB /markets JSON (repeatable)."),
    kalshi_file: List[Path] = typer.Option([], "--kalshi-file",
                                           help="Saved Kalshi /markets, /events or /series JSON (repeatable)."),
    db: Path = _db_opt,
    min_score: float = typer.Option(0.30, "--min-score", help="Smallest similarity score proposed."),
    as_json: bool = typer.Option(False, "--json", help="Print the candidates as JSON lines."),
) -> None:
    """Read both venues' market lists, propose candidate pairs with their differences, and store
    them as pending mappings (an approved mapping whose venue terms changed goes back to pending)."""
    from arbkit.mapping.discover import discover, sync_to_store
    from arbkit.mapping.reader import (ReadError, VenueLists, load_kalshi_files, load_polymarket_files, read_both,
                                       read_one_side)

    if info_file is not None:
        p, k, g = _urls_from_info(info_file)
        polymarket_url, kalshi_url, gamma_url = polymarket_url or p, kalshi_url or k, gamma_url or g
    if not (polymarket_url or polymarket_file) or not (kalshi_url or kalshi_file):
        typer.echo("arbkit mappings discover: give each venue as a URL (--polymarket-url/--kalshi-url, or --info-file) "
                   "or a saved file (--polymarket-file/--kalshi-file)", err=True)
        raise typer.Exit(2)
    try:
        if polymarket_file or kalshi_file:
            lists = VenueLists()
            if polymarket_file:
                lists.polymarket, s1 = load_polymarket_files(polymarket_file)
            else:
                lists.polymarket, s1 = asyncio.run(read_one_side("polymarket", polymarket_url or "", gamma_url))
            if kalshi_file:
                lists.kalshi, s2 = load_kalshi_files(kalshi_file)
            else:
                lists.kalshi, s2 = asyncio.run(read_one_side("kalshi", kalshi_url or "", None))
            lists.skipped = s1 + s2
        else:
            lists = asyncio.run(read_both(polymarket_url or "", kalshi_url or "", gamma_url))
    except ReadError as exc:
        typer.echo(f"arbkit mappings discover: {exc}", err=True)
        raise typer.Exit(1) from None
    candidates = discover(lists.polymarket, lists.kalshi, min_score=min_score)
    store = _open(db)
    try:
        results = sync_to_store(store, candidates)
    finally:
        store.close()
    if as_json:
        for (what, m), c in zip(results, candidates):
            typer.echo(json.dumps({
                "id": m.id, "result": what, "status": m.status.value, "score": c.score, "recommendation": c.recommendation,
                "polarity": m.polarity.value, "polymarket": c.poly.condition_id, "kalshi": c.kalshi.ticker,
                "warnings": [w.to_dict() for w in m.warnings],
            }))
        return
    typer.echo(f"read {len(lists.polymarket)} Polymarket and {len(lists.kalshi)} Kalshi markets"
               + (f" ({lists.skipped} skipped: not binary or malformed)" if lists.skipped else "")
               + f"; {len(candidates)} candidate pair(s) -> {db}")
    for (what, m), c in zip(results, candidates):
        typer.echo(f"#{m.id:<4} {what:9s} {m.status.value:8s} score {c.score:.2f} {c.recommendation:7s} {m.polarity.value:8s} "
                   f"{c.poly_terms.title[:48]!r} <-> {c.kalshi.ticker}  warnings: {', '.join(m.warning_codes) or 'none'}")


@app.command("list")
def list_cmd(
    status: Optional[str] = typer.Option(None, "--status", help="pending, approved or rejected."),
    db: Path = _db_opt,
) -> None:
    """List mappings."""
    from arbkit.mapping.store import MappingStatus

    if status is not None and status not in {s.value for s in MappingStatus}:
        typer.echo(f"arbkit mappings list: unknown status {status!r}: pending, approved or rejected", err=True)
        raise typer.Exit(2)
    store = _open(db)
    try:
        rows = store.list(status)
    finally:
        store.close()
    if not rows:
        typer.echo("no mappings")
        return
    for m in rows:
        typer.echo(f"#{m.id:<4} {m.status.value:8s} {m.polarity.value:8s} {m.recommendation or '-':7s} "
                   f"{m.poly_title[:48]!r} <-> {m.kalshi_ticker}  warnings: {', '.join(m.warning_codes) or 'none'}"
                   + (f"  approved by {m.approved_by}" if m.approved_by else ""))


@app.command("show")
def show_cmd(mapping_id: int = typer.Argument(..., help="Mapping id."), db: Path = _db_opt) -> None:
    """Everything about one mapping: both contracts, its warnings, its history."""
    from arbkit.mapping.store import MappingError

    store = _open(db)
    try:
        try:
            m = store.get(mapping_id)
        except MappingError as exc:
            typer.echo(f"arbkit mappings show: {exc}", err=True)
            raise typer.Exit(1) from None
        history = store.history(mapping_id)
    finally:
        store.close()
    yes_is = "Kalshi YES" if m.polarity.value == "SAME" else "Kalshi NO"
    lines = [
        f"mapping #{m.id}: {m.status.value}",
        f"  Polymarket  {m.poly_title}",
        f"              condition {m.poly_condition_id}",
        f"              YES token {m.poly_yes_token}",
        f"              NO token  {m.poly_no_token}",
        f"  Kalshi      {m.kalshi_title}",
        f"              ticker {m.kalshi_ticker}",
        f"  polarity    {m.polarity.value} (Polymarket YES = {yes_is})",
        f"  score       {m.score:.2f}   recommendation: {m.recommendation or '-'}",
        f"  content     {m.content_hash}",
        f"  created     {_ts(m.created_ns)}   updated {_ts(m.updated_ns)}",
    ]
    if m.status.value == "approved":
        lines.append(f"  approved    by {m.approved_by} at {_ts(m.approved_ns)}; acknowledged: {', '.join(m.acknowledged) or 'none'}")
    if m.rejected_reason:
        lines.append(f"  rejected    {m.rejected_reason}")
    lines.append("  warnings:" if m.warnings else "  warnings:   none")
    for w in m.warnings:
        ack = "acknowledged" if w.code in m.acknowledged else "NOT acknowledged"
        lines.append(f"    - {w.code} [{w.severity}, {ack}]: {w.detail}")
    lines.append("  history:")
    for h in history:
        lines.append(f"    {_ts(h.ts_ns)} {h.action:9s} {h.status_before or '-':8s} -> {h.status_after:8s} "
                     f"by {h.actor or '-'} {json.dumps(h.detail, sort_keys=True)}")
    typer.echo("\n".join(lines))


@app.command("approve")
def approve_cmd(
    mapping_id: int = typer.Argument(..., help="Mapping id."),
    ack: List[str] = typer.Option([], "--ack", help="A warning code acknowledged (repeat, or comma-separate)."),
    by: str = typer.Option(..., "--by", help="Who approves."),
    db: Path = _db_opt,
) -> None:
    """Approve a mapping; every warning it carries must be acknowledged with --ack."""
    from arbkit.mapping.store import MappingError

    codes = [c.strip() for a in ack for c in a.split(",") if c.strip()]
    store = _open(db)
    try:
        m = store.approve(mapping_id, by=by, ack=codes)
    except MappingError as exc:
        typer.echo(f"arbkit mappings approve: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        store.close()
    typer.echo(f"mapping #{m.id} approved by {m.approved_by}; acknowledged: {', '.join(m.acknowledged) or 'none'}")


@app.command("reject")
def reject_cmd(
    mapping_id: int = typer.Argument(..., help="Mapping id."),
    reason: str = typer.Option(..., "--reason", help="Why these are not the same contract."),
    by: str = typer.Option("", "--by", help="Who rejects."),
    db: Path = _db_opt,
) -> None:
    """Reject a mapping (it never reaches a strategy)."""
    from arbkit.mapping.store import MappingError

    store = _open(db)
    try:
        m = store.reject(mapping_id, reason=reason, by=by)
    except MappingError as exc:
        typer.echo(f"arbkit mappings reject: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        store.close()
    typer.echo(f"mapping #{m.id} rejected: {m.rejected_reason}")


@app.command("reopen")
def reopen_cmd(
    mapping_id: int = typer.Argument(..., help="Mapping id."),
    by: str = typer.Option("", "--by", help="Who reopens."),
    reason: str = typer.Option("", "--reason", help="Why."),
    db: Path = _db_opt,
) -> None:
    """Send an approved or rejected mapping back to pending."""
    from arbkit.mapping.store import MappingError

    store = _open(db)
    try:
        m = store.reopen(mapping_id, by=by, reason=reason)
    except MappingError as exc:
        typer.echo(f"arbkit mappings reopen: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        store.close()
    typer.echo(f"mapping #{m.id} is {m.status.value}")
