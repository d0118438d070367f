"""The in-process bus: policies, ordering, coalescing, isolation, lag and draining on stop."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from arbkit.bus import Bus, TopicPolicy
from arbkit.core.clock import NS, SimClock
from arbkit.core.enums import Side, Venue
from arbkit.core.events import BookDeltaReceived


async def settle(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def make_bus() -> tuple[Bus, SimClock]:
    clock = SimClock()
    bus = Bus(clock)
    bus.add_topic("md", TopicPolicy.COALESCE)
    bus.add_topic("orders", TopicPolicy.FIFO)
    return bus, clock


# --- topology and argument checks -----------------------------------------------------------


def test_unknown_topic_and_missing_key_are_publisher_errors() -> None:
    bus, _ = make_bus()
    with pytest.raises(KeyError, match="unknown topic 'nope'"):
        bus.publish("nope", 1)
    with pytest.raises(KeyError, match="unknown topic"):
        bus.subscribe("nope", print, name="x")
    with pytest.raises(ValueError, match="key"):
        bus.publish("md", 1)


def test_topic_redeclared_with_other_policy_is_rejected() -> None:
    bus, _ = make_bus()
    bus.add_topic("md", TopicPolicy.COALESCE)  # same policy: fine
    with pytest.raises(ValueError, match="COALESCE"):
        bus.add_topic("md", TopicPolicy.FIFO)


def test_duplicate_subscriber_name_and_async_inline_rejected() -> None:
    bus, _ = make_bus()
    bus.subscribe("orders", lambda m: None, name="a", inline=True)
    with pytest.raises(ValueError, match="already has a subscriber named 'a'"):
        bus.subscribe("orders", lambda m: None, name="a")

    async def coro(m: object) -> None:
        return None

    with pytest.raises(TypeError, match="synchronous"):
        bus.subscribe("orders", coro, name="b", inline=True)


# --- inline ----------------------------------------------------------------------------------


def test_inline_handlers_run_inside_publish_in_subscription_order() -> None:
    bus, _ = make_bus()
    seen: list[tuple[str, int]] = []
    bus.subscribe("orders", lambda m: seen.append(("first", m)), name="first", inline=True)
    bus.subscribe("orders", lambda m: seen.append(("second", m)), name="second", inline=True)
    for i in range(3):
        bus.publish("orders", i)
        # Delivered before publish returned: no event loop involved.
        assert seen[-1] == ("second", i)
    assert seen == [("first", 0), ("second", 0), ("first", 1), ("second", 1), ("first", 2), ("second", 2)]


def test_inline_on_coalesce_topic_sees_every_message_and_correlation_id_travels() -> None:
    bus, _ = make_bus()
    got: list[BookDeltaReceived] = []
    bus.subscribe("md", got.append, name="cache", inline=True)
    msgs = [
        BookDeltaReceived(
            correlation_id=f"frame-{i}", venue=Venue.KALSHI, instrument_id="K1", side=Side.BUY, price=Decimal("0.41"), size=Decimal(i)
        )
        for i in range(5)
    ]
    for m in msgs:
        bus.publish("md", m, key=m.instrument_id)
    assert got == msgs  # same objects, nothing coalesced inline
    assert [m.correlation_id for m in got] == [f"frame-{i}" for i in range(5)]
    sub = bus.subscriptions("md")[0]
    assert (sub.delivered, sub.dropped, sub.errors, sub.pending) == (5, 0, 0, 0)


def test_failing_inline_subscriber_is_isolated_and_counted() -> None:
    bus, _ = make_bus()
    before: list[int] = []
    after: list[int] = []
    bus.subscribe("orders", before.append, name="before", inline=True)

    def bad(m: int) -> None:
        if m % 2:
            raise RuntimeError(f"boom {m}")

    bad_sub = bus.subscribe("orders", bad, name="bad", inline=True)
    bus.subscribe("orders", after.append, name="after", inline=True)
    for i in range(10):
        bus.publish("orders", i)  # never raises
    assert before == after == list(range(10))
    assert bad_sub.errors == 5
    assert bad_sub.delivered == 5
    st = bus.stats()["orders"]
    assert st["published"] == 10
    assert st["subscriptions"]["bad"]["errors"] == 5
    assert st["subscriptions"]["after"]["delivered"] == 10


def test_unsubscribe_inline_freezes_counts() -> None:
    bus, _ = make_bus()
    got: list[int] = []
    sub = bus.subscribe("orders", got.append, name="a", inline=True)
    bus.publish("orders", 1)
    sub.close()
    bus.publish("orders", 2)
    assert got == [1]
    assert sub.delivered == 1
    assert bus.subscriptions("orders") == ()


def test_handler_may_publish_reentrantly() -> None:
    bus, _ = make_bus()
    bus.add_topic("derived", TopicPolicy.FIFO)
    out: list[int] = []
    bus.subscribe("derived", out.append, name="sink", inline=True)
    bus.subscribe("orders", lambda m: bus.publish("derived", m * 10), name="relay", inline=True)
    bus.publish("orders", 4)
    assert out == [40]


# --- queued FIFO -----------------------------------------------------------------------------


async def test_fifo_queued_keeps_order_and_never_drops() -> None:
    bus, _ = make_bus()
    got: list[int] = []

    async def slow(m: int) -> None:
        await asyncio.sleep(0)
        got.append(m)

    sub = bus.subscribe("orders", slow, name="exec")
    await bus.start()
    for i in range(1000):
        bus.publish("orders", i)
    assert sub.pending == 1000  # publish only queued them
    assert await bus.stop(timeout=5)
    assert got == list(range(1000))
    assert (sub.delivered, sub.dropped, sub.errors, sub.pending) == (1000, 0, 0, 0)


async def test_two_fifo_subscribers_each_get_everything_in_order() -> None:
    bus, _ = make_bus()
    a: list[int] = []
    b: list[int] = []
    bus.subscribe("orders", a.append, name="a")
    bus.subscribe("orders", b.append, name="b")
    await bus.start()
    for i in range(100):
        bus.publish("orders", i)
        if i % 7 == 0:
            await settle(1)
    await bus.stop()
    assert a == b == list(range(100))


async def test_messages_published_before_start_are_delivered_after_start() -> None:
    bus, _ = make_bus()
    got: list[int] = []
    bus.subscribe("orders", got.append, name="x")
    bus.publish("orders", 1)
    bus.publish("orders", 2)
    await settle()
    assert got == []
    await bus.start()
    await settle()
    assert got == [1, 2]
    await bus.stop()


async def test_subscribe_after_start_starts_its_drain() -> None:
    bus, _ = make_bus()
    await bus.start()
    got: list[int] = []
    bus.subscribe("orders", got.append, name="late")
    bus.publish("orders", 7)
    await settle()
    assert got == [7]
    await bus.stop()


async def test_failing_queued_subscriber_is_isolated_and_counted() -> None:
    bus, _ = make_bus()
    good: list[int] = []

    async def bad(m: int) -> None:
        if m in (2, 5):
            raise ValueError("bad message")

    bad_sub = bus.subscribe("orders", bad, name="bad")
    bus.subscribe("orders", good.append, name="good")
    await bus.start()
    for i in range(8):
        bus.publish("orders", i)
    await bus.stop()
    assert good == list(range(8))
    assert (bad_sub.errors, bad_sub.delivered) == (2, 6)


async def test_stop_drains_fifo_before_returning() -> None:
    bus, _ = make_bus()
    got: list[int] = []
    release = asyncio.Event()

    async def gated(m: int) -> None:
        await release.wait()
        got.append(m)

    bus.subscribe("orders", gated, name="journal")
    await bus.start()
    for i in range(50):
        bus.publish("orders", i)
    stopper = asyncio.ensure_future(bus.stop(timeout=5))
    await settle()
    assert not stopper.done()  # waiting for the queue to drain
    release.set()
    assert await stopper is True
    assert got == list(range(50))


async def test_stop_times_out_on_stuck_fifo_consumer_and_reports_it() -> None:
    bus, _ = make_bus()

    async def stuck(m: int) -> None:
        await asyncio.Event().wait()

    sub = bus.subscribe("orders", stuck, name="stuck")
    await bus.start()
    for i in range(3):
        bus.publish("orders", i)
    await settle()
    assert (sub.pending, sub.in_flight) == (2, 1)
    assert await bus.stop(timeout=0.05) is False
    assert sub.in_flight == 0
    assert sub.pending == 2  # one was taken by the stuck handler, two never delivered


# --- queued COALESCE -------------------------------------------------------------------------


async def test_coalesce_slow_consumer_skips_intermediates_with_exact_drop_count() -> None:
    bus, _ = make_bus()
    got: list[tuple[str, int]] = []
    gate = asyncio.Event()

    async def slow(m: tuple[str, int]) -> None:
        await gate.wait()
        got.append(m)

    sub = bus.subscribe("md", slow, name="strategy")
    await bus.start()
    bus.publish("md", ("A", 0), key="A")
    await settle()  # consumer has taken A0 and is blocked in the handler
    for i in range(1, 11):
        bus.publish("md", ("A", i), key="A")  # A1..A9 superseded by A10
    for i in range(1, 4):
        bus.publish("md", ("B", i), key="B")  # B1, B2 superseded by B3
    assert sub.pending == 2  # two keys waiting
    assert sub.dropped == 9 + 2
    gate.set()
    await settle(10)
    # Longest-waiting key first, each with its latest value.
    assert got == [("A", 0), ("A", 10), ("B", 3)]
    assert (sub.delivered, sub.dropped, sub.pending) == (3, 11, 0)
    await bus.stop()


async def test_coalesce_fast_consumer_drops_nothing() -> None:
    bus, _ = make_bus()
    got: list[int] = []
    sub = bus.subscribe("md", got.append, name="fast")
    await bus.start()
    for i in range(20):
        bus.publish("md", i, key="X")
        await settle(2)
    await bus.stop()
    assert got == list(range(20))
    assert sub.dropped == 0


async def test_coalesce_and_fifo_subscribers_are_independent() -> None:
    """One topic, two queued subscribers: the slow one coalesces, the fast one sees everything."""
    bus, _ = make_bus()
    fast: list[int] = []
    slow_got: list[int] = []
    gate = asyncio.Event()

    async def slow(m: int) -> None:
        await gate.wait()
        slow_got.append(m)

    fast_sub = bus.subscribe("md", fast.append, name="fast")
    slow_sub = bus.subscribe("md", slow, name="slow")
    await bus.start()
    for i in range(10):
        bus.publish("md", i, key="K")
        await settle(2)
    gate.set()
    await settle(10)
    assert fast == list(range(10))
    assert slow_got == [0, 9]
    assert (fast_sub.dropped, slow_sub.dropped) == (0, 8)
    await bus.stop()


# --- lag -------------------------------------------------------------------------------------


async def test_lag_figures_follow_the_bus_clock() -> None:
    bus, clock = make_bus()
    got: list[int] = []
    fifo_sub = bus.subscribe("orders", got.append, name="exec")
    md_sub = bus.subscribe("md", got.append, name="strategy")
    # Not started: everything stays pending.
    bus.publish("orders", 1)
    bus.publish("md", 1, key="A")
    clock.advance(0.25)
    bus.publish("orders", 2)
    bus.publish("md", 2, key="A")  # supersedes, but A has been waiting since t=0
    bus.publish("md", 3, key="B")
    clock.advance(0.5)
    assert fifo_sub.pending == 2
    assert fifo_sub.oldest_pending_age_ns() == int(0.75 * NS)
    assert md_sub.pending == 2
    assert md_sub.oldest_pending_age_ns() == int(0.75 * NS)
    st = bus.stats()
    assert st["orders"]["subscriptions"]["exec"] == {
        "inline": False,
        "delivered": 0,
        "dropped": 0,
        "errors": 0,
        "pending": 2,
        "in_flight": 0,
        "oldest_pending_age_ns": int(0.75 * NS),
    }
    assert st["md"]["policy"] == "coalesce"
    assert st["md"]["subscriptions"]["strategy"]["dropped"] == 1
    await bus.start()
    await settle()
    assert fifo_sub.pending == md_sub.pending == 0
    assert fifo_sub.oldest_pending_age_ns() == md_sub.oldest_pending_age_ns() == 0
    assert fifo_sub.delivered == 2 and md_sub.delivered == 2
    await bus.stop()


async def test_unsubscribe_queued_cancels_its_drain() -> None:
    bus, _ = make_bus()
    got: list[int] = []
    sub = bus.subscribe("orders", got.append, name="x")
    await bus.start()
    bus.publish("orders", 1)
    await settle()
    sub.close()
    await settle()
    bus.publish("orders", 2)
    await settle()
    assert got == [1]
    assert sub._task is None or sub._task.done()
    await bus.stop()


# --- randomized interleavings ----------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
async def test_random_interleavings_keep_the_invariants(seed: int) -> None:
    """Publishes and consumer progress interleaved at random: COALESCE delivers each key's values
    in increasing order ending with the latest, delivered + dropped == published; FIFO delivers
    everything in order."""
    import random

    rng = random.Random(seed)
    bus, _ = make_bus()
    coalesced: list[tuple[str, int]] = []
    fifo: list[int] = []

    async def slow_md(m: tuple[str, int]) -> None:
        for _ in range(rng.randrange(3)):
            await asyncio.sleep(0)
        coalesced.append(m)

    async def slow_orders(m: int) -> None:
        if rng.random() < 0.3:
            await asyncio.sleep(0)
        fifo.append(m)

    md_sub = bus.subscribe("md", slow_md, name="md")
    or_sub = bus.subscribe("orders", slow_orders, name="orders")
    await bus.start()
    last: dict[str, int] = {}
    published = 0
    for i in range(2000):
        if rng.random() < 0.7:
            key = rng.choice("ABCDE")
            bus.publish("md", (key, i), key=key)
            bus.publish("orders", i)
            last[key] = i
            published += 1
        else:
            await settle(rng.randrange(1, 4))
    while md_sub.pending or or_sub.pending or md_sub.in_flight or or_sub.in_flight:
        await settle(1)
    await bus.stop()
    assert md_sub.delivered + md_sub.dropped == published
    assert md_sub.delivered == len(coalesced)
    for key in "ABCDE":
        values = [v for k, v in coalesced if k == key]
        assert values == sorted(values) and len(set(values)) == len(values)
        if key in last:
            assert values[-1] == last[key]
    assert or_sub.dropped == 0
    assert fifo == sorted(fifo) and len(fifo) == published


def test_failing_subscriber_is_logged_with_rate_limit() -> None:
    from structlog.testing import capture_logs

    bus, _ = make_bus()

    def bad(m: BookDeltaReceived) -> None:
        raise RuntimeError("handler bug")

    sub = bus.subscribe("orders", bad, name="bad", inline=True)
    msg = BookDeltaReceived(correlation_id="frame-9", venue=Venue.KALSHI, instrument_id="K", side=Side.SELL, price=Decimal("0.5"), size=Decimal(1))
    with capture_logs() as logs:
        for _ in range(2500):
            bus.publish("orders", msg)
    assert sub.errors == 2500
    # The first 10 errors, then one every 1000: the count stays exact, the log stays readable.
    assert [e["errors"] for e in logs] == [*range(1, 11), 1000, 2000]
    first = logs[0]
    assert first["event"] == "bus subscriber failed" and first["log_level"] == "error"
    assert (first["topic"], first["subscriber"], first["correlation_id"]) == ("orders", "bad", "frame-9")
    assert first["error"] == "RuntimeError: handler bug"
