"""Feed health checks shared by the venue market feeds.

Two different failures, told apart on purpose:

- a **silent freeze**: the socket is up (pings answered) but no market data has arrived for
  the connection's subscriptions for ``freeze_after``: the connection is marked STALLED and
  dropped, which makes the reconnect loop resubscribe everything;
- a **stale book**: one book has had no update for ``stale_book_after`` while its connection is
  live. Quiet markets exist, so this is only reported (``BookStaleDetected``, once per quiet
  spell) and makes that book untradeable for consumers with a tighter age limit.

Plus the periodic REST cross-check of live books, a few books per round in turn.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Protocol

from arbkit.core.enums import ConnectionState
from arbkit.venues.common.ws import ConnectionLink

STALE_BOOK_REASON = "no update for this book while the connection is live"
_CONNECTED = ConnectionState.CONNECTED


class TrackedBook(Protocol):
    """What the staleness check needs of a feed's per-book state."""

    last_update_mono: int
    stale_reported: bool


def frozen_socket(link: ConnectionLink, last_data_mono: int, now_mono: int, freeze_ns: int, subscribed: bool) -> Any:
    """The socket to drop when ``link`` is CONNECTED with something ``subscribed`` but has carried
    no market data for longer than ``freeze_ns`` (the link is then STALLED); else None."""
    ws = link.ws
    if link.state is not _CONNECTED or ws is None or not subscribed:
        return None
    silent = now_mono - last_data_mono
    if silent <= freeze_ns:
        return None
    link.set_state(ConnectionState.STALLED, f"no market data for {silent / 1e9:.1f}s on a live connection")
    return ws


def newly_stale(book: TrackedBook, now_mono: int, stale_ns: int) -> int | None:
    """The book's age when it has just gone stale (reported once until its next update), else None."""
    if book.stale_reported:
        return None
    age = now_mono - book.last_update_mono
    if age <= stale_ns:
        return None
    book.stale_reported = True
    return age


class WatchdogConfig(Protocol):
    """The feed configuration fields the watchdog reads (seconds)."""

    watchdog_interval_s: float
    freeze_after_s: float
    stale_book_after_s: float
    resync_timeout_s: float


async def run_watchdog(config: WatchdogConfig, check: Callable[[int, int, int], None], logger: logging.Logger) -> None:
    """Every ``watchdog_interval_s`` call ``check(freeze_ns, stale_ns, resync_ns)`` until cancelled.
    A failing check is logged and the watchdog keeps watching: a dead one would go unnoticed."""
    freeze_ns = int(config.freeze_after_s * 1e9)
    stale_ns = int(config.stale_book_after_s * 1e9)
    resync_ns = int(config.resync_timeout_s * 1e9)
    while True:
        await asyncio.sleep(config.watchdog_interval_s)
        try:
            check(freeze_ns, stale_ns, resync_ns)
        except Exception:  # noqa: BLE001
            logger.exception("watchdog check failed")


async def agrees_on_second_look(compare: Callable[[], Awaitable[bool]], pause_s: float = 0.25) -> bool:
    """``compare()`` (True: local and REST agree, or the question went away) once, and once more
    after ``pause_s`` when they differ: a delta may have been in flight during the first look."""
    if await compare():
        return True
    await asyncio.sleep(pause_s)
    return await compare()


async def crosscheck_rounds(interval_s: float, per_round: int, live_keys: Callable[[], list[str]],
                            check: Callable[[str], Awaitable[Any]], logger: logging.Logger) -> None:
    """Every ``interval_s`` cross-check ``per_round`` of the live books, taking them in turn so
    every book is checked in time. A failed check is advisory: logged, and the feed goes on."""
    cursor = 0
    while True:
        await asyncio.sleep(interval_s)
        keys = live_keys()
        if not keys:
            continue
        n = min(per_round, len(keys))
        start = cursor % len(keys)
        cursor += n
        for key in [keys[(start + i) % len(keys)] for i in range(n)]:
            try:
                await check(key)
            except Exception as exc:  # noqa: BLE001
                logger.warning("cross-check of %s failed: %r", key, exc)
