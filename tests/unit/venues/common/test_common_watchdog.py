"""Freeze vs stale-book checks, the watchdog loop and REST cross-check rounds."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from arbkit.core.enums import ConnectionState, Venue
from arbkit.venues.common.watchdog import (
    agrees_on_second_look,
    crosscheck_rounds,
    frozen_socket,
    newly_stale,
    run_watchdog,
)
from arbkit.venues.common.ws import ConnectionLink

S = 1_000_000_000


def _link(state: ConnectionState, ws: object | None = "ws") -> tuple[ConnectionLink, list]:
    events: list = []
    link = ConnectionLink(Venue.KALSHI, "k.0", events.append, lambda: 0)
    link.state, link.ws = state, ws
    return link, events


def test_freeze_only_on_a_live_subscribed_connection() -> None:
    link, events = _link(ConnectionState.CONNECTED)
    assert frozen_socket(link, 0, 30 * S, 30 * S, True) is None  # exactly at the limit: not yet
    assert frozen_socket(link, 0, 31 * S, 30 * S, False) is None  # nothing subscribed: silence is fine
    assert frozen_socket(link, 0, 31 * S, 30 * S, True) == "ws"
    assert link.state is ConnectionState.STALLED and "no market data for 31.0s" in events[-1].reason
    for state, ws in [(ConnectionState.CONNECTING, "ws"), (ConnectionState.CONNECTED, None)]:
        other, _ = _link(state, ws)
        assert frozen_socket(other, 0, 99 * S, 30 * S, True) is None


@dataclass
class _Book:
    last_update_mono: int = 0
    stale_reported: bool = False


def test_stale_book_reported_once_per_quiet_spell() -> None:
    b = _Book(last_update_mono=10 * S)
    assert newly_stale(b, 300 * S, 300 * S) is None
    assert newly_stale(b, 311 * S, 300 * S) == 301 * S
    assert newly_stale(b, 400 * S, 300 * S) is None  # already reported
    b.last_update_mono, b.stale_reported = 400 * S, False  # what a feed does on an update
    assert newly_stale(b, 701 * S, 300 * S) == 301 * S


@dataclass
class _Cfg:
    watchdog_interval_s: float = 0.01
    freeze_after_s: float = 1.5
    stale_book_after_s: float = 2.0
    resync_timeout_s: float = 0.25


async def test_watchdog_passes_thresholds_and_survives_a_failing_check(caplog) -> None:
    calls: list[tuple[int, int, int]] = []

    def check(freeze_ns: int, stale_ns: int, resync_ns: int) -> None:
        calls.append((freeze_ns, stale_ns, resync_ns))
        if len(calls) == 1:
            raise RuntimeError("bug in one round")

    task = asyncio.get_running_loop().create_task(run_watchdog(_Cfg(), check, logging.getLogger("wd-test")))
    while len(calls) < 3:
        await asyncio.sleep(0.01)
    task.cancel()
    assert calls[0] == (int(1.5 * S), 2 * S, S // 4) and "watchdog check failed" in caplog.text


async def test_second_look() -> None:
    answers = iter([False, True])

    async def flaky() -> bool:
        return next(answers)

    async def differs() -> bool:
        return False

    assert await agrees_on_second_look(flaky, pause_s=0)
    assert not await agrees_on_second_look(differs, pause_s=0)


async def test_crosscheck_rounds_take_books_in_turn_and_survive_failures(caplog) -> None:
    checked: list[str] = []
    keys = ["a", "b", "c"]

    async def check(key: str) -> bool:
        checked.append(key)
        if key == "b":
            raise ConnectionError("REST down")
        return True

    task = asyncio.get_running_loop().create_task(crosscheck_rounds(0.005, 2, lambda: list(keys), check,
                                                                    logging.getLogger("cc-test")))
    while len(checked) < 6:
        await asyncio.sleep(0.005)
    task.cancel()
    assert checked[:6] == ["a", "b", "c", "a", "b", "c"]
    assert "cross-check of b failed" in caplog.text
