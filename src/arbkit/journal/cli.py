"""``arbkit journal ...``: read a journal file (never writes records, never takes the writer lock)."""

from __future__ import annotations

import datetime as _dt
import json
import logging
import time
from pathlib import Path
from typing import Any, Optional

import msgspec
import typer

from arbkit.journal.store import Journal, JournalError, JournalRecord

app = typer.Typer(
    help="Read the append-only journal: tail, show, verify.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_PAYLOAD_WIDTH = 160


def _ts(ts_ns: int) -> str:
    return _dt.datetime.fromtimestamp(ts_ns / 1e9, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _payload_value(payload: bytes) -> Any:
    """The payload as JSON when it is JSON, else a hex string marked as such."""
    try:
        return msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return {"_hex": payload.hex()}


def _line(rec: JournalRecord, ok: bool, width: int | None) -> str:
    try:
        msgspec.json.decode(rec.payload)  # printed as it is stored when it is JSON
        text = rec.payload.decode("utf-8")
    except (msgspec.DecodeError, UnicodeDecodeError):
        text = f"<{len(rec.payload)} bytes, not JSON: {rec.payload[:32].hex()}{'...' if len(rec.payload) > 32 else ''}>"
    if width is not None and len(text) > width:
        text = text[: width - 3] + "..."
    flag = "" if ok else "  !! CRC MISMATCH"
    return f"{rec.seq:>10}  {_ts(rec.ts_ns)}  {rec.kind:<24} {rec.correlation_id or '-':<28} {text}{flag}"


def _json_line(rec: JournalRecord, ok: bool) -> str:
    return json.dumps({"seq": rec.seq, "ts_ns": rec.ts_ns, "ts": _ts(rec.ts_ns), "kind": rec.kind,
                       "correlation_id": rec.correlation_id, "crc_ok": ok,
                       "payload": _payload_value(rec.payload)}, separators=(",", ":"), default=str)


def _open(journal: Path, *, warn: bool = True) -> Journal:
    # the store logs what its open-time checks find; here the command prints them itself, once
    logging.getLogger("arbkit.journal.store").setLevel(logging.CRITICAL)
    try:
        j = Journal.open(journal, readonly=True)
    except JournalError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if warn:
        for problem in j.problems:
            typer.echo(f"warning: journal {journal}: {problem}", err=True)
    return j


def _emit(rec: JournalRecord, ok: bool, as_json: bool, width: int | None) -> None:
    typer.echo(_json_line(rec, ok) if as_json else _line(rec, ok, width))


@app.command()
def tail(
    journal: Path = typer.Argument(..., help="journal file (SQLite)"),
    n: int = typer.Option(20, "-n", "--lines", min=0, help="how many of the last records to print"),
    follow: bool = typer.Option(False, "--follow", "-f", help="keep printing new records as they are committed (Ctrl-C stops)"),
    kind: Optional[list[str]] = typer.Option(None, "--kind", "-k", help="only this kind (repeatable)"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per line"),
    interval: float = typer.Option(0.2, "--interval", min=0.01, help="--follow poll interval, seconds"),
    wide: bool = typer.Option(False, "--wide", "-w", help=f"print whole payloads (default: cut at {_PAYLOAD_WIDTH} chars)"),
) -> None:
    """Print the last N records (oldest first), optionally only some kinds, and follow new ones."""
    j = _open(journal)
    bad = 0
    try:
        last = j.last_seq()
        # Walk back from the end in windows until N matching records are found (kinds may be rare).
        window = max(n * 4, 256)
        start = last + 1
        found: list[tuple[JournalRecord, bool]] = []
        while n and start > 1 and len(found) < n:
            lo = max(1, start - window)
            chunk = list(j.scan(lo, kinds=kind, to_seq=start - 1))
            found = chunk + found
            start = lo
            window *= 4
        for rec, ok in found[-n:] if n else []:
            bad += not ok
            _emit(rec, ok, as_json, None if as_json or wide else _PAYLOAD_WIDTH)
        if follow:
            seen = last
            while True:
                time.sleep(interval)
                top = j.last_seq()  # read first: a record committed meanwhile is printed next round
                if top <= seen:
                    continue
                for rec, ok in j.scan(seen + 1, kinds=kind, to_seq=top):
                    bad += not ok
                    _emit(rec, ok, as_json, None if as_json or wide else _PAYLOAD_WIDTH)
                seen = top
    except KeyboardInterrupt:
        pass
    except JournalError as exc:  # corrupt, or unreadable (permissions, locks)
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if bad or j.problems:
        raise typer.Exit(1)


@app.command()
def show(
    journal: Path = typer.Argument(..., help="journal file (SQLite)"),
    id: str = typer.Argument(..., help="a sequence number, or a correlation id (shows all its records)"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per line"),
) -> None:
    """Show one record by sequence number, or every record of a correlation id, in full."""
    j = _open(journal)
    records: list[tuple[JournalRecord, bool]] = []
    try:
        if id.isdigit():
            records = list(j.scan(int(id), to_seq=int(id)))
        if not records:
            records = list(j.scan(0, correlation_id=id))
    except JournalError as exc:  # corrupt, or unreadable (permissions, locks)
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if not records:
        typer.echo(f"error: no record with sequence number or correlation id {id!r} in {journal}", err=True)
        raise typer.Exit(1)
    bad = 0
    for rec, ok in records:
        bad += not ok
        if as_json:
            typer.echo(_json_line(rec, ok))
            continue
        typer.echo(f"seq:            {rec.seq}")
        typer.echo(f"time:           {_ts(rec.ts_ns)} ({rec.ts_ns})")
        typer.echo(f"kind:           {rec.kind}")
        typer.echo(f"correlation_id: {rec.correlation_id or '-'}")
        typer.echo(f"crc:            {'ok' if ok else 'MISMATCH (record is corrupt)'}")
        value = _payload_value(rec.payload)
        typer.echo("payload:")
        typer.echo("  " + json.dumps(value, indent=2, default=str).replace("\n", "\n  "))
        typer.echo("")
    if bad or j.problems:
        raise typer.Exit(1)


@app.command()
def verify(journal: Path = typer.Argument(..., help="journal file (SQLite)")) -> None:
    """Check every record (CRC, no missing sequence numbers) and the file itself (quick_check)."""
    j = _open(journal, warn=False)  # verify reports everything the open-time checks found, and more
    problems = j.verify()
    # one line per distinct problem (SQLite's integrity check repeats a damaged page's message
    # for every index entry that points at it)
    counts: dict[str, int] = {}
    for problem in problems:
        counts[problem] = counts.get(problem, 0) + 1
    for problem, n in counts.items():
        typer.echo(f"corrupt: {problem}" + (f"  (x{n})" if n > 1 else ""), err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"ok: {journal}: {j.last_seq()} records, sequence 1..{j.last_seq()} contiguous, all CRCs match")
