"""Token-bucket rate limiter that also honours a venue's 429 ``Retry-After``."""

from __future__ import annotations

import asyncio
import time
from typing import Callable


class TokenBucket:
    """At most ``burst`` requests at once, refilled at ``rate`` per second.

    :meth:`penalize` (on a 429) empties the bucket and blocks every caller until the venue's
    Retry-After has passed, so a 429 storm is ridden out instead of amplified.
    """

    def __init__(self, rate: float, burst: int | None = None, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.burst = int(burst if burst is not None else max(1, round(rate)))
        if self.burst < 1:
            raise ValueError("burst must be >= 1")
        self._now = monotonic
        self._tokens = float(self.burst)
        self._last = monotonic()
        self._blocked_until = 0.0
        self._lock = asyncio.Lock()
        self.acquired = 0
        self.penalties = 0
        self.waited_s = 0.0

    def _refill(self, now: float) -> None:
        if now > self._last:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now

    def try_acquire(self) -> bool:
        now = self._now()
        if now < self._blocked_until:
            return False
        self._refill(now)
        if self._tokens >= 1 - 1e-9:
            self._tokens -= 1
            self.acquired += 1
            return True
        return False

    async def acquire(self) -> None:
        """Wait for a token (FIFO among waiters)."""
        async with self._lock:
            while True:
                now = self._now()
                if now < self._blocked_until:
                    wait = self._blocked_until - now
                else:
                    self._refill(now)
                    if self._tokens >= 1 - 1e-9:
                        self._tokens -= 1
                        self.acquired += 1
                        return
                    wait = (1 - self._tokens) / self.rate
                self.waited_s += wait
                await asyncio.sleep(wait)

    def penalize(self, retry_after_s: float) -> None:
        """The venue said 429: nobody sends again before ``retry_after_s`` from now."""
        self.penalties += 1
        now = self._now()
        self._blocked_until = max(self._blocked_until, now + max(0.0, retry_after_s))
        self._tokens = 0.0
        self._last = max(self._last, now)

    @property
    def blocked_for_s(self) -> float:
        return max(0.0, self._blocked_until - self._now())


def parse_retry_after(value: str | None, default_s: float = 1.0) -> float:
    """Seconds from a Retry-After header (delta-seconds; HTTP dates fall back to ``default_s``)."""
    if not value:
        return default_s
    try:
        return max(0.0, float(value))
    except ValueError:
        return default_s
