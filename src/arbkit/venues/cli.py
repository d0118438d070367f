"""``arbkit feed ...``: watch a venue's market feed, optionally recording every raw frame."""

from __future__ import annotations

import asyncio
from typing import Optional

import typer

app = typer.Typer(help="Watch venue market feeds (top of book), optionally recording raw frames.", no_args_is_help=True)


@app.command("polymarket")
def polymarket(
    asset: list[str] = typer.Option(..., "--asset", "-a", help="Token id (asset id) to subscribe; repeat for more."),
    rest_url: str = typer.Option("https://clob.polymarket.com", "--rest-url", help="CLOB REST base URL."),
    ws_url: str = typer.Option("wss://ws-subscriptions-clob.polymarket.com/ws/market", "--ws-url",
                               help="Market channel WebSocket URL."),
    record: Optional[str] = typer.Option(None, "--record", help="Append every raw frame as '<recv_ns> <frame>' lines."),
    duration: Optional[float] = typer.Option(None, "--duration", min=0.0, help="Stop after this many seconds."),
    assets_per_connection: int = typer.Option(200, "--assets-per-connection", min=1, max=500,
                                              help="Assets per WebSocket connection (the venue allows 500)."),
    crosscheck_s: float = typer.Option(60.0, "--crosscheck-s", min=0.0, help="REST /book cross-check period; 0 = off."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Do not print book lines (record only)."),
) -> None:
    """Subscribe to Polymarket market-channel assets and print top-of-book lines."""
    from arbkit.venues.common.watch import event_printer, run_until_stopped, summary
    from arbkit.venues.polymarket.feed import FeedConfig, PolymarketMarketFeed

    def short_token(instrument_id: str) -> str:  # token ids are 70+ digits: keep both ends
        token = instrument_id.split(":", 1)[1]
        return token if len(token) <= 14 else f"{token[:6]}…{token[-6:]}"

    cfg = FeedConfig(ws_url=ws_url, rest_url=rest_url, record_path=record, assets_per_connection=assets_per_connection,
                     crosscheck_interval_s=crosscheck_s)

    async def main() -> int:
        feed = PolymarketMarketFeed(event_printer(quiet, typer.echo, lambda s: typer.echo(s, err=True), short_token),
                                    cfg)
        feed.subscribe(asset)
        await run_until_stopped(feed, duration)
        typer.echo(summary(feed, frames="frames", snapshots="snapshots", deltas="deltas_applied",
                           dropped="deltas_dropped", reconnects="reconnects"), err=True)
        return 0

    raise typer.Exit(asyncio.run(main()))


@app.command("kalshi")
def kalshi(
    ticker: list[str] = typer.Option(..., "--ticker", "-t", help="Market ticker to subscribe; repeat for more."),
    ws_url: str = typer.Option("wss://external-api-ws.kalshi.com/trade-api/ws/v2", "--ws-url", help="Kalshi WebSocket URL."),
    key_id: Optional[str] = typer.Option(None, "--key-id", help="API key id (default: $KALSHI_API_KEY_ID)."),
    key_file: Optional[str] = typer.Option(None, "--key-file", help="Private key PEM (default: $KALSHI_PRIVATE_KEY)."),
    record: Optional[str] = typer.Option(None, "--record", help="Append every raw frame as '<recv_ns> <frame>' lines."),
    duration: Optional[float] = typer.Option(None, "--duration", min=0.0, help="Stop after this many seconds."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Do not print book lines (record only)."),
) -> None:
    """Subscribe to Kalshi orderbook_delta/ticker/trade and print both outcomes' top of book."""
    from arbkit.venues.kalshi.watch import watch

    raise typer.Exit(watch(ticker, ws_url, key_id, key_file, record, duration, quiet, typer.echo,
                           lambda s: typer.echo(s, err=True)))
