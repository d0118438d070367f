"""Token-bucket rate limiting for venue REST APIs, honouring a 429's ``Retry-After``.

Venues limit requests per second (Polymarket per endpoint family, Kalshi per account tier with
separate read and write buckets); a gateway holds one bucket per limit it must respect.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import time
from typing import Callable


class TokenBucket:
    """At most ``burst`` requests at once, refilled at ``rate`` per second.

    :meth:`penalize` (on a 429) empties the bucket and holds every caller until Retry-After has
    passed, so a burst of 429s is ridden out instead of amplified. ``monotonic`` and ``sleep`` are
    injectable so tests can run on a fake clock.
    """

    def __init__(self, rate: float, burst: int | None = None, *, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], object] = asyncio.sleep) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = float(rate)
        self.burst = int(burst if burst is not None else max(1, round(rate)))
        if self.burst < 1:
            raise ValueError(f"burst must be >= 1, got {self.burst}")
        self._now = monotonic
        self._sleep = sleep
        self._tokens = float(self.burst)
        self._last = monotonic()
        self._blocked_until = 0.0
        self._lock = asyncio.Lock()
        self.acquired = 0
        self.penalties = 0
        self.waited_s = 0.0

    def _refill(self, now: float) -> None:
        if now > self._last:
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
            self._last = now

    def try_acquire(self) -> bool:
        """Take a token now if there is one (never waits)."""
        now = self._now()
        if now < self._blocked_until:
            return False
        self._refill(now)
        if self._tokens >= 1.0 - 1e-9:  # tolerance: refills accumulate float error
            self._tokens -= 1.0
            self.acquired += 1
            return True
        return False

    async def acquire(self) -> float:
        """Wait for a token (callers are served in arrival order); returns the seconds waited."""
        waited = 0.0
        async with self._lock:
            while True:
                now = self._now()
                if now < self._blocked_until:
                    wait = self._blocked_until - now
                else:
                    self._refill(now)
                    if self._tokens >= 1.0 - 1e-9:
                        self._tokens -= 1.0
                        self.acquired += 1
                        return waited
                    wait = (1.0 - self._tokens) / self.rate
                waited += wait
                self.waited_s += wait
                await self._sleep(wait)  # type: ignore[misc]

    def penalize(self, retry_after_s: float) -> None:
        """The venue answered 429: nobody sends before ``retry_after_s`` from now."""
        self.penalties += 1
        now = self._now()
        self._blocked_until = max(self._blocked_until, now + max(0.0, retry_after_s))
        self._tokens = 0.0
        self._last = max(self._last, now)

    @property
    def blocked_for_s(self) -> float:
        return max(0.0, self._blocked_until - self._now())


def parse_retry_after(value: str | None, default_s: float = 1.0, now: float | None = None) -> float:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    Missing or unreadable values give ``default_s``. So does an HTTP date that is not in the
    future: with clocks apart, "already passed" says nothing reliable, and retrying at once after
    a 429 is the one answer that can make things worse. ``now`` (epoch seconds) is for tests.
    """
    if not value:
        return default_s
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:  # "inf"/"nan" would block (or unblock) forever: not a usable answer
        return max(0.0, seconds) if math.isfinite(seconds) else default_s
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default_s
    if when is None:
        return default_s
    seconds = when.timestamp() - (time.time() if now is None else now)
    return seconds if seconds > 0 else default_s
