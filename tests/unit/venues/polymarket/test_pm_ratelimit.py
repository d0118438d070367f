"""Token bucket with 429 Retry-After."""

from __future__ import annotations

import asyncio
import time

import pytest

from arbkit.venues.common.ratelimit import TokenBucket, parse_retry_after


class FakeTime:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_bucket_refills_at_rate() -> None:
    clock = FakeTime()
    b = TokenBucket(10, 3, monotonic=clock)
    assert [b.try_acquire() for _ in range(4)] == [True, True, True, False]
    clock.t += 0.1
    assert b.try_acquire() and not b.try_acquire()
    clock.t += 10
    assert sum(b.try_acquire() for _ in range(10)) == 3  # never more than the burst


def test_penalize_blocks_until_retry_after() -> None:
    clock = FakeTime()
    b = TokenBucket(100, 10, monotonic=clock)
    b.penalize(2.0)
    assert not b.try_acquire()
    clock.t += 1.9
    assert not b.try_acquire()
    clock.t += 0.2
    assert b.try_acquire()
    assert b.penalties == 1


async def test_acquire_paces_real_time() -> None:
    b = TokenBucket(50, 5)
    t0 = time.monotonic()
    for _ in range(15):
        await b.acquire()
    elapsed = time.monotonic() - t0
    assert elapsed >= (15 - 5) / 50 * 0.9  # 10 tokens at 50/s after the burst of 5


async def test_acquire_waits_out_a_penalty() -> None:
    b = TokenBucket(1000, 10)
    b.penalize(0.2)
    t0 = time.monotonic()
    await asyncio.gather(*(b.acquire() for _ in range(3)))
    assert time.monotonic() - t0 >= 0.19


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0 and parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None, 1.5) == 1.5 and parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 2) == 2
    with pytest.raises(ValueError):
        TokenBucket(0)
