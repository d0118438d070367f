"""Background task holder and counter sets."""

from __future__ import annotations

import asyncio

from arbkit.venues.common.stats import CounterSet
from arbkit.venues.common.tasks import BackgroundTasks


async def test_tasks_are_held_until_done_and_cancelled_on_request() -> None:
    bg = BackgroundTasks()
    done = bg.spawn(asyncio.sleep(0))
    forever = bg.spawn(asyncio.sleep(3600))
    other = asyncio.get_running_loop().create_task(asyncio.sleep(3600))
    await done
    await asyncio.sleep(0)
    assert len(bg) == 1
    await bg.cancel_all(other)
    assert forever.cancelled() and other.cancelled()
    await asyncio.sleep(0)  # done callbacks run on the next loop turn
    assert len(bg) == 0


class _Stats(CounterSet):
    __slots__ = ("frames", "gaps")


def test_counter_set_starts_at_zero_and_lists_in_order() -> None:
    s = _Stats()
    s.frames += 3
    assert s.as_dict() == {"frames": 3, "gaps": 0}
    assert not hasattr(s, "__dict__")  # slots only: bumping a counter is a plain store
