"""Token-bucket rate limiting for Kalshi REST, honouring 429 ``Retry-After``.

Kalshi limits requests per second per account tier (docs.kalshi.com "Rate Limits": read and
write buckets, e.g. Basic 20 reads/s and 10 writes/s); a 429 tells us to back off. Reads and
writes get separate buckets in the gateway.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from typing import Callable


class TokenBucket:
    """At most ``burst`` requests at once, refilled at ``rate`` per second.

    :meth:`penalize` (on a 429) empties the bucket and holds every caller until Retry-After has
    passed, so a burst of 429s is ridden out instead of amplified.
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
        if self._tokens >= 1.0 - 1e-9:
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
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return default_s
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default_s
    if when is None:
        return default_s
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
