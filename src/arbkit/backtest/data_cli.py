"""``arbkit data import`` (third-party recordings -> arbkit recordings) and ``arbkit data check``
(replay a recording through the feeds only and report sequence gaps)."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path
from typing import List, Optional

import typer

from arbkit.backtest.importers import FORMATS

app = typer.Typer(help="Recordings: import third-party data, check a recording replays without gaps.",
                  no_args_is_help=True)


@app.command("import")
def import_(
    fmt: str = typer.Option(..., "--from", help=f"Source format: {', '.join(FORMATS)}."),
    src: List[Path] = typer.Argument(..., help="Source files or directories."),
    out: Path = typer.Option(..., "--out", help="Recording directory to write (arbkit backtest --data OUT)."),
    mapping: Optional[str] = typer.Option(None, "--map", help="table: columns, e.g. ts=timestamp,symbol=symbol,side=side,"
                                          "price=price,size=qty[,kind=update_type,first_id=..,last_id=..] or wide "
                                          "ts=..,bid_price=..,bid_size=..,ask_price=..,ask_size=.. (arrays or 'bids[{i}].price')."),
    symbol: Optional[str] = typer.Option(None, "--symbol", help="Symbol to record under (default: from the data)."),
    fee: str = typer.Option("0.001", "--fee", help="Fee rate of the inferred instruments (taker and maker)."),
    venue: Optional[str] = typer.Option(None, "--venue", help="jsonl: the venue whose raw messages these are."),
) -> None:
    """Convert third-party order-book data into an arbkit recording (KuCoin level-2 wire lines)."""
    from arbkit.backtest.importers import ImportError_, import_data

    try:
        info = import_data(fmt, src, out, mapping=mapping, symbol=symbol, fee=Decimal(fee), venue=venue)
    except (ImportError_, ValueError, KeyError) as exc:
        typer.echo(f"arbkit data import: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"wrote {out}: {info['lines']} lines, {len(info['symbols'])} symbols, "
               f"{len(info['source_gaps'])} gaps in the source's own sequence"
               + (f", skipped {info['skipped']}" if info["skipped"] else ""))
    for g in info["source_gaps"][:20]:
        typer.echo(f"  source gap: {g['symbol']} at {g['recv_ns']}: expected {g['expected']}, got {g['got']}")


@app.command("check")
def check(
    data: List[Path] = typer.Argument(..., help="Recording directories or frames files."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Replay a recording through the venues' feeds (no strategy) and report sequence gaps."""
    from arbkit.backtest.check import check_replay

    try:
        res = asyncio.run(check_replay(list(data)))
    except ValueError as exc:
        typer.echo(f"arbkit data check: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(res, indent=1, default=str))
    else:
        typer.echo(f"{res['lines']} lines, {res['book_updates']} book updates, "
                   f"{res['rest_snapshots_applied']} REST snapshots applied, {len(res['gaps'])} gaps")
        for v, f in res["feeds"].items():
            typer.echo(f"  {v}: {f['live_books']}/{f['books']} books live at the end, malformed {f['malformed']}")
        for g in res["gaps"][:50]:
            typer.echo(f"  gap: {g['file']}:{g['line']} at {g['recv_ns']}")
    raise typer.Exit(1 if res["gaps"] else 0)
