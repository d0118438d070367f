"""Shared token bucket and Retry-After parsing (the venue-specific behaviour is covered by the
venue tests; here: the parts that only the merged version has)."""

from __future__ import annotations

import email.utils

import pytest

from arbkit.venues.common.ratelimit import TokenBucket, parse_retry_after


class FakeTime:
    def __init__(self) -> None:
        self.t = 50.0

    def now(self) -> float:
        return self.t

    async def sleep(self, s: float) -> None:
        self.t += s


def test_http_date_in_the_future_is_honoured_and_a_past_one_falls_back() -> None:
    soon = email.utils.formatdate(2_000_030, usegmt=True)
    assert parse_retry_after(soon, now=2_000_000) == pytest.approx(30.0)
    # already passed (clock skew): not "retry at once" but the default
    assert parse_retry_after(soon, 1.5, now=2_000_100) == 1.5


@pytest.mark.parametrize("value", ["inf", "nan", "-inf", "Infinity"])
def test_non_finite_delays_are_not_usable(value: str) -> None:
    assert parse_retry_after(value, 2.0) == 2.0


def test_whitespace_and_zero() -> None:
    assert parse_retry_after(" 7 ") == 7.0
    assert parse_retry_after("0", 3.0) == 0.0
    assert parse_retry_after("", 3.0) == 3.0


async def test_acquire_reports_the_wait_and_penalty_outlasts_refill() -> None:
    ft = FakeTime()
    b = TokenBucket(4, 1, monotonic=ft.now, sleep=ft.sleep)
    assert await b.acquire() == 0.0
    assert await b.acquire() == pytest.approx(0.25)
    b.penalize(3.0)
    b.penalize(1.0)  # a shorter later penalty must not shorten the first
    assert b.blocked_for_s == pytest.approx(3.0)
    waited = await b.acquire()
    assert waited >= 3.0 and b.penalties == 2 and b.acquired == 3
    assert b.waited_s == pytest.approx(0.25 + waited)


def test_default_burst_is_the_rate_rounded() -> None:
    assert TokenBucket(7.4).burst == 7 and TokenBucket(0.3).burst == 1
    with pytest.raises(ValueError, match="rate must be positive"):
        TokenBucket(-1)
