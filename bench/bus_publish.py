"""Bus throughput: publish -> inline handler (the market-data hot path), plus queued FIFO and
coalescing consumers."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

from arbkit.bus import Bus, TopicPolicy
from arbkit.core.enums import Venue
from arbkit.core.events import BookUpdated

METHOD = (
    "One core, one process. inline: N publishes of prebuilt BookUpdated events on a COALESCE topic "
    "(key = instrument id, 100 instruments) with one inline subscriber that counts; msgs/s = N / "
    "wall time, best of 3 runs (the loop's own indexing is included). fifo_async: N publishes on a FIFO "
    "topic drained by one queued sync subscriber, the publisher yielding to the loop every 1000 "
    "messages; msgs/s = N / time until the last delivery. coalesce_async: the same on a COALESCE topic "
    "with 100 keys; reports published msgs/s, delivered and dropped counts."
)
TARGETS = {"inline_msgs_per_s": (">=", 3_000_000)}


def _messages(n_instruments: int) -> list[BookUpdated]:
    return [
        BookUpdated(
            correlation_id=f"frame-{i}",
            venue=Venue.POLYMARKET,
            instrument_id=f"tok-{i}",
            sequence=i,
            best_bid=Decimal("0.41"),
            best_bid_size=Decimal("100"),
            best_ask=Decimal("0.43"),
            best_ask_size=Decimal("50"),
        )
        for i in range(n_instruments)
    ]


def _inline(n: int, msgs: list[BookUpdated]) -> float:
    bus = Bus()
    bus.add_topic("md", TopicPolicy.COALESCE)
    count = [0]

    def handler(m: BookUpdated) -> None:
        count[0] += 1

    bus.subscribe("md", handler, name="cache", inline=True)
    publish = bus.publish
    k = len(msgs)
    keys = [m.instrument_id for m in msgs]
    reps = n // k
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        for _r in range(reps):
            for i in range(k):
                publish("md", msgs[i], keys[i])
        dt = time.perf_counter() - t0
        best = max(best, reps * k / dt)
    assert count[0] == 3 * reps * k, "every message must reach the handler"
    return best


async def _queued(n: int, msgs: list[BookUpdated], policy: TopicPolicy) -> dict[str, float]:
    bus = Bus()
    bus.add_topic("t", policy)
    done = asyncio.Event()
    got = [0]
    k = len(msgs)

    def handler(m: BookUpdated) -> None:
        got[0] += 1
        # The last published message for its key always arrives (FIFO: everything does).
        if m is last:
            done.set()

    last = msgs[(n - 1) % k]
    sub = bus.subscribe("t", handler, name="consumer")
    await bus.start()
    publish = bus.publish
    t0 = time.perf_counter()
    for i in range(n):
        m = msgs[i % k]
        publish("t", m, m.instrument_id)
        if i % 1000 == 999:
            await asyncio.sleep(0)
    t_pub = time.perf_counter() - t0
    await asyncio.wait_for(done.wait(), 120)
    # A repeated object may have arrived early; wait for the queue to be empty too.
    while sub.pending:
        await asyncio.sleep(0)
    dt = time.perf_counter() - t0
    await bus.stop()
    return {"msgs_per_s": n / dt, "publish_msgs_per_s": n / t_pub, "delivered": sub.delivered, "dropped": sub.dropped}


def run(quick: bool) -> dict:
    n = 300_000 if quick else 3_000_000
    nq = 100_000 if quick else 1_000_000
    msgs = _messages(100)
    inline = _inline(n, msgs)
    fifo = asyncio.run(_queued(nq, msgs, TopicPolicy.FIFO))
    coal = asyncio.run(_queued(nq, msgs, TopicPolicy.COALESCE))
    assert fifo["delivered"] == nq and fifo["dropped"] == 0
    assert coal["delivered"] + coal["dropped"] == nq
    return {
        "messages_inline": n,
        "inline_msgs_per_s": round(inline),
        "inline_ns_per_msg": round(1e9 / inline, 1),
        "messages_queued": nq,
        "fifo_async_msgs_per_s": round(fifo["msgs_per_s"]),
        "fifo_async_publish_msgs_per_s": round(fifo["publish_msgs_per_s"]),
        "coalesce_async_publish_msgs_per_s": round(coal["publish_msgs_per_s"]),
        "coalesce_async_end_to_end_msgs_per_s": round(coal["msgs_per_s"]),
        "coalesce_async_delivered": coal["delivered"],
        "coalesce_async_dropped": coal["dropped"],
    }
