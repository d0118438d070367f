"""``arbkit feed ...``: watch a venue's market feed, optionally recording every raw frame."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import signal
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
    from arbkit.core.events import BookStaleDetected, BookUpdated, ConnectionStateChanged, MessageMalformed, TickSizeChanged
    from arbkit.venues.polymarket.feed import FeedConfig, PolymarketMarketFeed

    def show(event) -> None:
        ts = _dt.datetime.fromtimestamp(event.ts_recv / 1e9, _dt.timezone.utc).strftime("%H:%M:%S.%f")[:-3]
        if isinstance(event, BookUpdated):
            if quiet:
                return
            token = event.instrument_id.split(":", 1)[1]
            short = token if len(token) <= 14 else f"{token[:6]}…{token[-6:]}"
            bid = f"{event.best_bid_size} @ {event.best_bid}" if event.best_bid is not None else "-"
            ask = f"{event.best_ask} x {event.best_ask_size}" if event.best_ask is not None else "-"
            typer.echo(f"{ts} {short} seq={event.sequence} bid {bid} | ask {ask}")
        elif isinstance(event, ConnectionStateChanged):
            typer.echo(f"{ts} {event.connection} {event.state.value} {event.reason}".rstrip(), err=True)
        elif isinstance(event, (TickSizeChanged, BookStaleDetected, MessageMalformed)):
            typer.echo(f"{ts} {type(event).__name__}: {event}", err=True)

    cfg = FeedConfig(ws_url=ws_url, rest_url=rest_url, record_path=record, assets_per_connection=assets_per_connection,
                     crosscheck_interval_s=crosscheck_s)

    async def main() -> int:
        feed = PolymarketMarketFeed(show, cfg)
        feed.subscribe(asset)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, lambda: loop.create_task(feed.stop()))
        if duration is not None:
            loop.call_later(duration, lambda: loop.create_task(feed.stop()))
        await feed.run()
        st = feed.stats.as_dict()
        typer.echo(f"frames={st['frames']} snapshots={st['snapshots']} deltas={st['deltas_applied']} "
                   f"dropped={st['deltas_dropped']} reconnects={st['reconnects']} malformed={feed.malformed.count}",
                   err=True)
        return 0

    raise typer.Exit(asyncio.run(main()))


@app.command("kalshi")
def kalshi(
    ticker: list[str] = typer.Option(..., "--ticker", "-t", help="Market ticker to subscribe; repeat for more."),
    ws_url: str = typer.Option("wss://api.elections.kalshi.com/trade-api/ws/v2", "--ws-url", help="Kalshi WebSocket URL."),
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
