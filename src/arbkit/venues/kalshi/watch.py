"""``arbkit feed kalshi``: watch Kalshi books (top of both outcomes), optionally recording raw frames."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import signal
import sys
from typing import Callable

from arbkit.core.events import BookStaleDetected, BookUpdated, ConnectionStateChanged, Event, MessageMalformed
from arbkit.venues.kalshi.auth import KalshiAuthError, KalshiSigner
from arbkit.venues.kalshi.feed import FeedConfig, KalshiMarketFeed


def _printer(quiet: bool, out: Callable[[str], None], err: Callable[[str], None]) -> Callable[[Event], None]:
    def show(event: Event) -> None:
        ts = _dt.datetime.fromtimestamp(event.ts_recv / 1e9, _dt.timezone.utc).strftime("%H:%M:%S.%f")[:-3]
        if isinstance(event, BookUpdated):
            if quiet:
                return
            bid = f"{event.best_bid_size} @ {event.best_bid}" if event.best_bid is not None else "-"
            ask = f"{event.best_ask} x {event.best_ask_size}" if event.best_ask is not None else "-"
            out(f"{ts} {event.instrument_id.split(':', 1)[1]} seq={event.sequence} bid {bid} | ask {ask}")
        elif isinstance(event, ConnectionStateChanged):
            err(f"{ts} {event.connection} {event.state.value} {event.reason}".rstrip())
        elif isinstance(event, (BookStaleDetected, MessageMalformed)):
            err(f"{ts} {type(event).__name__}: {event}")

    return show


def watch(tickers: list[str], ws_url: str, key_id: str | None, key_file: str | None, record: str | None,
          duration: float | None, quiet: bool, out: Callable[[str], None] = print,
          err: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> int:
    """Run the feed until Ctrl-C / ``duration``; returns the exit code (2 for bad credentials)."""
    try:
        if key_file:
            if not key_id:
                err("--key-id is required with --key-file")
                return 2
            signer = KalshiSigner.from_pem_file(key_id, key_file)
        else:
            signer = KalshiSigner.from_env()
    except KalshiAuthError as exc:
        err(f"error: {exc} (orderbook_delta needs a signed connection: --key-id/--key-file or "
            f"KALSHI_API_KEY_ID/KALSHI_PRIVATE_KEY)")
        return 2

    async def main() -> int:
        feed = KalshiMarketFeed(_printer(quiet, out, err), FeedConfig(ws_url=ws_url, record_path=record), signer=signer)
        feed.subscribe(tickers)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, lambda: loop.create_task(feed.stop()))
        if duration is not None:
            loop.call_later(duration, lambda: loop.create_task(feed.stop()))
        await feed.run()
        st = feed.stats.as_dict()
        err(f"frames={st['frames']} snapshots={st['snapshots']} deltas={st['deltas_applied']} "
            f"gaps={st['seq_gaps']} resyncs={st['resyncs']} reconnects={st['reconnects']} "
            f"malformed={feed.malformed.count}")
        return 0

    return asyncio.run(main())
