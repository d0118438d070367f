"""``arbkit feed <venue>``: print a market feed's top of book until stopped (Ctrl-C or a duration).

The venue command builds the feed; this runs it and turns its events into lines: book tops on
``out``, connection changes and problems on ``err`` (so ``out`` can be piped).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import signal
from typing import Callable

from arbkit.core.events import (
    BookStaleDetected,
    BookUpdated,
    ConnectionStateChanged,
    Event,
    MessageMalformed,
    TickSizeChanged,
)

_NOTABLE = (TickSizeChanged, BookStaleDetected, MessageMalformed)


def strip_venue(instrument_id: str) -> str:
    """``venue:rest`` -> ``rest``."""
    return instrument_id.split(":", 1)[1] if ":" in instrument_id else instrument_id


def event_printer(quiet: bool, out: Callable[[str], None], err: Callable[[str], None],
                  label: Callable[[str], str] = strip_venue) -> Callable[[Event], None]:
    """A feed sink printing ``HH:MM:SS.mmm <label> seq=<n> bid <size> @ <price> | ask <price> x <size>``
    per book update (unless ``quiet``), and connection changes / stale books / malformed messages."""

    def show(event: Event) -> None:
        ts = _dt.datetime.fromtimestamp(event.ts_recv / 1e9, _dt.timezone.utc).strftime("%H:%M:%S.%f")[:-3]
        if isinstance(event, BookUpdated):
            if quiet:
                return
            bid = f"{event.best_bid_size} @ {event.best_bid}" if event.best_bid is not None else "-"
            ask = f"{event.best_ask} x {event.best_ask_size}" if event.best_ask is not None else "-"
            out(f"{ts} {label(event.instrument_id)} seq={event.sequence} bid {bid} | ask {ask}")
        elif isinstance(event, ConnectionStateChanged):
            err(f"{ts} {event.connection} {event.state.value} {event.reason}".rstrip())
        elif isinstance(event, _NOTABLE):
            err(f"{ts} {type(event).__name__}: {event}")

    return show


async def run_until_stopped(feed, duration_s: float | None) -> None:
    """Run ``feed`` until SIGINT/SIGTERM or ``duration_s`` seconds, then stop it cleanly."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows / not main thread
            loop.add_signal_handler(sig, lambda: loop.create_task(feed.stop()))
    if duration_s is not None:
        loop.call_later(duration_s, lambda: loop.create_task(feed.stop()))
    await feed.run()


def summary(feed, **figures: str) -> str:
    """``label=value`` per ``label=<feed.stats field>`` given, then the malformed-message count."""
    st = feed.stats.as_dict()
    return " ".join([f"{label}={st[name]}" for label, name in figures.items()] + [f"malformed={feed.malformed.count}"])
