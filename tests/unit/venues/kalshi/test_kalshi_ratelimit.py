"""Token bucket and Retry-After parsing (deterministic: a fake monotonic clock and sleep)."""

from __future__ import annotations

import email.utils

import pytest

from arbkit.venues.common.ratelimit import TokenBucket, parse_retry_after


class FakeTime:
    def __init__(self) -> None:
        self.t = 100.0
        self.slept: list[float] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += s


async def test_burst_then_rate():
    ft = FakeTime()
    b = TokenBucket(10, 3, monotonic=ft.now, sleep=ft.sleep)
    for _ in range(3):
        assert await b.acquire() == 0
    assert not b.try_acquire()
    waited = await b.acquire()  # needs one token at 10/s
    assert waited == pytest.approx(0.1)
    ft.t += 1.0  # refills, capped at the burst
    assert [b.try_acquire() for _ in range(4)] == [True, True, True, False]
    assert b.acquired == 7


async def test_penalize_blocks_for_retry_after():
    ft = FakeTime()
    b = TokenBucket(100, 100, monotonic=ft.now, sleep=ft.sleep)
    b.penalize(2.5)
    assert b.blocked_for_s == pytest.approx(2.5)
    assert not b.try_acquire()
    t0 = ft.t
    await b.acquire()
    assert ft.t - t0 >= 2.5 and b.penalties == 1


def test_invalid_configuration():
    with pytest.raises(ValueError):
        TokenBucket(0)
    with pytest.raises(ValueError):
        TokenBucket(1, 0)


def test_retry_after_forms():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None, 1.5) == 1.5
    assert parse_retry_after("soon", 2.0) == 2.0
    when = email.utils.formatdate(1_000_010, usegmt=True)
    assert parse_retry_after(when, now=1_000_000) == pytest.approx(10.0)
    assert parse_retry_after("-4") == 0.0
