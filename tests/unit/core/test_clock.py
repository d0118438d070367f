import asyncio

from arbkit.core.clock import NS, LiveClock, SimClock


async def test_sim_clock_wakes_in_deadline_order():
    clock = SimClock(start_ns=0)
    order = []

    async def sleeper(name, s):
        await clock.sleep(s)
        order.append((name, clock.now_ns()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in [("b", 2), ("a", 1), ("c", 2)]]
    await asyncio.sleep(0)
    clock.advance(1)
    await asyncio.sleep(0)
    assert order == [("a", NS)]
    await clock.run_until_idle()
    await asyncio.gather(*tasks)
    assert order == [("a", NS), ("b", 2 * NS), ("c", 2 * NS)]


def test_sim_clock_never_goes_back():
    clock = SimClock(start_ns=10)
    try:
        clock.set(5)
    except ValueError:
        pass
    else:
        raise AssertionError("expected ValueError")
    assert clock.monotonic_ns() == 0


def test_live_clock_monotonic():
    c = LiveClock()
    a = c.monotonic_ns()
    assert c.monotonic_ns() >= a and c.now_ns() > 1_600_000_000 * NS
