"""One Clock abstraction: live (wall clock) and simulated (deterministic, advanced by the caller)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol

NS = 1_000_000_000


class Clock(Protocol):
    def now_ns(self) -> int:
        """Wall-clock time, ns since the Unix epoch (what events carry)."""

    def monotonic_ns(self) -> int:
        """A clock that never goes back (what durations and staleness use)."""

    async def sleep(self, seconds: float) -> None: ...


class LiveClock:
    def now_ns(self) -> int:
        return time.time_ns()

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class SimClock:
    """Deterministic clock: time moves only when :meth:`advance` or :meth:`set` is called.

    Sleepers wake in deadline order (ties in the order they went to sleep), so a simulation run
    with the same inputs behaves the same every time.
    """

    def __init__(self, start_ns: int = 1_700_000_000 * NS) -> None:
        self._now = start_ns
        self._start = start_ns
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now_ns(self) -> int:
        return self._now

    def monotonic_ns(self) -> int:
        return self._now - self._start

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + int(seconds * NS), next(self._seq), fut))
        await fut

    @property
    def pending_sleepers(self) -> int:
        return sum(1 for _, _, f in self._sleepers if not f.done())

    def next_deadline_ns(self) -> int | None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    def set(self, now_ns: int) -> None:
        if now_ns < self._now:
            raise ValueError("a simulated clock never goes back")
        self._now = now_ns
        while self._sleepers and self._sleepers[0][0] <= now_ns:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)

    def advance(self, seconds: float = 0.0, *, ns: int = 0) -> None:
        self.set(self._now + ns + int(seconds * NS))

    async def run_until_idle(self, max_ns: int | None = None) -> None:
        """Advance to each next deadline in turn, letting woken tasks run, until nobody sleeps
        (or until ``max_ns`` past now)."""
        limit = None if max_ns is None else self._now + max_ns
        for _ in range(3):
            await asyncio.sleep(0)
        while True:
            nxt = self.next_deadline_ns()
            if nxt is None or (limit is not None and nxt > limit):
                break
            self.set(nxt)
            for _ in range(3):
                await asyncio.sleep(0)
        if limit is not None and self._now < limit:
            self.set(limit)
