"""``arbkit feed kalshi``: watch Kalshi books (top of both outcomes), optionally recording raw frames."""

from __future__ import annotations

import asyncio
import sys
from typing import Callable

from arbkit.venues.common.watch import event_printer, run_until_stopped, summary
from arbkit.venues.kalshi.auth import KalshiAuthError, KalshiSigner
from arbkit.venues.kalshi.feed import FeedConfig, KalshiMarketFeed


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
        feed = KalshiMarketFeed(event_printer(quiet, out, err), FeedConfig(ws_url=ws_url, record_path=record),
                                signer=signer)
        feed.subscribe(tickers)
        await run_until_stopped(feed, duration)
        err(summary(feed, frames="frames", snapshots="snapshots", deltas="deltas_applied", gaps="seq_gaps",
                    resyncs="resyncs", reconnects="reconnects"))
        return 0

    return asyncio.run(main())
