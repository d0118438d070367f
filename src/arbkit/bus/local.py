"""The in-process bus: named topics with a delivery policy, synchronous non-blocking publish.

Two policies:

* ``COALESCE`` (market data): a queued subscriber keeps only the latest message per key (e.g.
  instrument id). A slow consumer skips intermediates; every superseded message is counted as
  dropped on that subscription.
* ``FIFO`` (commands, orders, fills): a queued subscriber gets every message, in publish order.
  Nothing is ever dropped; the queue grows and its lag is visible instead.

Two kinds of subscriber:

* ``inline=True``: a plain synchronous callable run inside :meth:`Bus.publish`, in subscription
  order. This is the hot path (book updates into the market-state cache), so ``publish`` walks a
  precomputed tuple of subscriptions and allocates nothing per message.
* ``inline=False``: a per-subscription queue drained by its own asyncio task, which calls the
  handler (sync or async). Publishing only appends to the queue and wakes the task.

A subscriber that raises is logged and counted on its subscription; it never breaks the publisher
nor the other subscribers. Correlation ids travel inside the messages (events carry
``correlation_id``); the bus never rewrites messages.

``publish`` must be called from the thread running the event loop (it is synchronous and never
awaits, so it may be called from inside handlers too).
"""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from enum import Enum
from typing import Any, Callable

import structlog

from arbkit.core.clock import Clock, LiveClock

log = structlog.get_logger("arbkit.bus")

Handler = Callable[[Any], Any]

# A failing subscriber would otherwise flood the log at market-data rates: log its first
# errors, then one line every this many errors (the counter is always exact).
_LOG_FIRST_ERRORS = 10
_LOG_EVERY_ERRORS = 1000
# A drain task yields to the event loop after this many deliveries so one busy queue cannot
# starve the rest of the process.
_DRAIN_BATCH = 256


class TopicPolicy(Enum):
    COALESCE = "coalesce"
    FIFO = "fifo"


class Subscription:
    """One subscriber on one topic, with its counters.

    ``delivered``: handler calls that returned normally; ``errors``: handler calls that raised;
    ``dropped``: messages superseded before delivery (COALESCE queued subscriptions only);
    ``pending``: messages (or keys, for COALESCE) waiting in the queue; ``in_flight``: 1 while
    the handler runs on a message already taken off the queue.
    """

    __slots__ = (
        "topic",
        "name",
        "handler",
        "inline",
        "policy",
        "errors",
        "dropped",
        "in_flight",
        "_delivered",
        "_published_at_subscribe",
        "_topic_state",
        "_fifo",
        "_fifo_ns",
        "_latest",
        "_since",
        "_waiter",
        "_task",
        "_bus",
        "_closed",
    )

    def __init__(self, bus: "Bus", topic: "_Topic", name: str, handler: Handler, inline: bool) -> None:
        self._bus = bus
        self._topic_state = topic
        self.topic = topic.name
        self.name = name
        self.handler = handler
        self.inline = inline
        self.policy = topic.policy
        self.errors = 0
        self.dropped = 0
        self.in_flight = 0  # 1 while a queued handler is running on a message taken off the queue
        self._delivered = 0
        # Inline deliveries are not counted one by one (that would cost the hot path an
        # increment per subscriber per message): delivered = published since subscribe - errors.
        self._published_at_subscribe = topic.published
        # Parallel containers rather than (message, ns) tuples: no per-message allocation of a
        # GC-tracked object, which matters when a queue holds a large backlog.
        # FIFO: pending messages, and the monotonic ns each was enqueued.
        self._fifo: deque[Any] = deque()
        self._fifo_ns: deque[int] = deque()
        # COALESCE: key -> latest message, and key -> monotonic ns when the key became pending.
        # dicts keep first-insertion order, so the key waiting longest is delivered first.
        self._latest: dict[Any, Any] = {}
        self._since: dict[Any, int] = {}
        self._waiter: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    # --- figures -------------------------------------------------------------------------

    @property
    def delivered(self) -> int:
        if self.inline and not self._closed:
            return self._topic_state.published - self._published_at_subscribe - self.errors
        return self._delivered

    @property
    def pending(self) -> int:
        if self.inline:
            return 0
        return len(self._fifo) if self.policy is TopicPolicy.FIFO else len(self._latest)

    def oldest_pending_age_ns(self, now_ns: int | None = None) -> int:
        """How long the oldest pending message (COALESCE: the longest-waiting key) has waited,
        in ns of the bus clock; 0 when nothing is pending."""
        if self.inline:
            return 0
        if self.policy is TopicPolicy.FIFO:
            if not self._fifo_ns:
                return 0
            first_ns = self._fifo_ns[0]
        else:
            if not self._since:
                return 0
            first_ns = next(iter(self._since.values()))
        now = self._bus._mono() if now_ns is None else now_ns
        return max(0, now - first_ns)

    def stats(self, now_ns: int | None = None) -> dict[str, Any]:
        return {
            "inline": self.inline,
            "delivered": self.delivered,
            "dropped": self.dropped,
            "errors": self.errors,
            "pending": self.pending,
            "in_flight": self.in_flight,
            "oldest_pending_age_ns": self.oldest_pending_age_ns(now_ns),
        }

    def close(self) -> None:
        """Unsubscribe: no further deliveries; a queued subscription's pending messages are discarded."""
        self._bus.unsubscribe(self)

    def __repr__(self) -> str:
        kind = "inline" if self.inline else "queued"
        return f"<Subscription {self.topic}/{self.name} {kind} delivered={self.delivered} dropped={self.dropped} errors={self.errors} pending={self.pending}>"

    # --- internals -----------------------------------------------------------------------

    def _record_error(self, exc: BaseException, message: Any) -> None:
        self.errors += 1
        n = self.errors
        if n > _LOG_FIRST_ERRORS and n % _LOG_EVERY_ERRORS:
            return
        try:
            log.error(
                "bus subscriber failed",
                topic=self.topic,
                subscriber=self.name,
                errors=n,
                error=f"{type(exc).__name__}: {exc}",
                message_type=type(message).__name__,
                correlation_id=getattr(message, "correlation_id", None),
                exc_info=exc if n == 1 else None,
            )
        except Exception:  # noqa: BLE001 - a broken log sink must not break the publisher either
            pass

    def _wake(self) -> None:
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)


class _Topic:
    __slots__ = ("name", "policy", "coalesce", "inline", "queued", "published", "subs")

    def __init__(self, name: str, policy: TopicPolicy) -> None:
        self.name = name
        self.policy = policy
        self.coalesce = policy is TopicPolicy.COALESCE
        self.inline: tuple[Subscription, ...] = ()
        self.queued: tuple[Subscription, ...] = ()
        self.published = 0
        self.subs: list[Subscription] = []

    def rebuild(self) -> None:
        self.inline = tuple(s for s in self.subs if s.inline)
        self.queued = tuple(s for s in self.subs if not s.inline)


class Bus:
    """In-process publish/subscribe with COALESCE and FIFO topics (see the module docstring)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock if clock is not None else LiveClock()
        self._mono = self.clock.monotonic_ns
        self._topics: dict[str, _Topic] = {}
        self._running = False
        self._stopping = False

    # --- topology ------------------------------------------------------------------------

    def add_topic(self, name: str, policy: TopicPolicy) -> None:
        """Declare a topic. Declaring it again with the same policy is a no-op; with another
        policy it is an error (two parts of the program disagree about what the topic is)."""
        if not isinstance(policy, TopicPolicy):
            raise TypeError(f"topic {name!r}: policy must be a TopicPolicy, got {policy!r}")
        existing = self._topics.get(name)
        if existing is not None:
            if existing.policy is not policy:
                raise ValueError(f"topic {name!r} already exists with policy {existing.policy.name}, not {policy.name}")
            return
        self._topics[name] = _Topic(name, policy)

    def topics(self) -> dict[str, TopicPolicy]:
        return {n: t.policy for n, t in self._topics.items()}

    def subscribe(self, topic: str, handler: Handler, *, name: str, inline: bool = False) -> Subscription:
        """Subscribe ``handler`` to ``topic`` under a name unique on that topic.

        ``inline=True`` runs the (synchronous) handler inside ``publish``; otherwise messages are
        queued for an asyncio task that calls the handler (sync or async).
        """
        t = self._topic(topic)
        if not callable(handler):
            raise TypeError(f"subscriber {name!r} on {topic!r}: handler is not callable")
        if inline and inspect.iscoroutinefunction(handler):
            raise TypeError(f"subscriber {name!r} on {topic!r}: an inline handler must be synchronous; use inline=False for a coroutine")
        if any(s.name == name for s in t.subs):
            raise ValueError(f"topic {topic!r} already has a subscriber named {name!r}")
        sub = Subscription(self, t, name, handler, inline)
        t.subs.append(sub)
        t.rebuild()
        if not inline and self._running:
            self._start_drain(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        t = self._topics.get(sub.topic)
        if t is None or sub not in t.subs:
            return
        if sub.inline:
            sub._delivered = sub.delivered  # freeze the derived count before closing
        t.subs.remove(sub)
        t.rebuild()
        sub._closed = True
        sub._fifo.clear()
        sub._fifo_ns.clear()
        sub._latest.clear()
        sub._since.clear()
        if sub._task is not None and not sub._task.done():
            sub._task.cancel()
        sub._wake()

    def subscriptions(self, topic: str) -> tuple[Subscription, ...]:
        return tuple(self._topic(topic).subs)

    def _topic(self, topic: str) -> _Topic:
        try:
            return self._topics[topic]
        except KeyError:
            raise KeyError(f"unknown topic {topic!r}; declare it with Bus.add_topic first") from None

    # --- the hot path --------------------------------------------------------------------

    def publish(self, topic: str, message: Any, key: Any = None) -> None:
        """Deliver ``message`` on ``topic``: inline subscribers now, queued ones via their
        queue. Never blocks; a subscriber's exception is logged and counted, not raised.
        COALESCE topics require ``key`` (what "latest" is per, e.g. the instrument id)."""
        try:
            t = self._topics[topic]
        except KeyError:
            raise KeyError(f"unknown topic {topic!r}; declare it with Bus.add_topic first") from None
        if key is None and t.coalesce:
            raise ValueError(f"topic {topic!r} coalesces by key: publish(..., key=...) is required")
        t.published += 1
        for sub in t.inline:
            try:
                sub.handler(message)
            except Exception as exc:  # noqa: BLE001 - isolation: a subscriber never breaks the publisher
                sub._record_error(exc, message)
        if t.queued:
            now = self._mono()
            if t.coalesce:
                for sub in t.queued:
                    latest = sub._latest
                    if key in latest:
                        # Superseded before delivery: the key keeps its place and waiting-since time.
                        latest[key] = message
                        sub.dropped += 1
                    else:
                        latest[key] = message
                        sub._since[key] = now
                        w = sub._waiter
                        if w is not None and not w.done():
                            w.set_result(None)
            else:
                for sub in t.queued:
                    sub._fifo.append(message)
                    sub._fifo_ns.append(now)
                    w = sub._waiter
                    if w is not None and not w.done():
                        w.set_result(None)

    # --- queued delivery -----------------------------------------------------------------

    async def start(self) -> None:
        """Start a drain task for every queued subscription (later ones start on subscribe)."""
        if self._running:
            return
        self._running = True
        self._stopping = False
        for t in self._topics.values():
            for sub in t.queued:
                self._start_drain(sub)

    def _start_drain(self, sub: Subscription) -> None:
        if sub._task is None or sub._task.done():
            sub._task = asyncio.get_running_loop().create_task(self._drain(sub), name=f"bus:{sub.topic}/{sub.name}")

    async def _drain(self, sub: Subscription) -> None:
        loop = asyncio.get_running_loop()
        fifo = sub._fifo
        fifo_ns = sub._fifo_ns
        latest = sub._latest
        since = sub._since
        is_fifo = sub.policy is TopicPolicy.FIFO
        handler = sub.handler
        since_yield = 0
        while not sub._closed:
            if fifo if is_fifo else latest:
                if is_fifo:
                    message = fifo.popleft()
                    fifo_ns.popleft()
                else:
                    key = next(iter(latest))
                    message = latest.pop(key)
                    del since[key]
            else:
                if self._stopping:
                    return
                sub._waiter = loop.create_future()
                try:
                    await sub._waiter
                finally:
                    sub._waiter = None
                since_yield = 0
                continue
            sub.in_flight = 1
            try:
                result = handler(message)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - isolation
                sub._record_error(exc, message)
            else:
                sub._delivered += 1
            finally:
                sub.in_flight = 0
            since_yield += 1
            if since_yield >= _DRAIN_BATCH:
                since_yield = 0
                await asyncio.sleep(0)

    async def stop(self, timeout: float = 5.0) -> bool:
        """Stop delivery. FIFO queues are drained first (up to ``timeout`` seconds of wall
        time); pending COALESCE values are discarded (stale market data has no value at
        shutdown). Returns True when every FIFO queue was drained."""
        if not self._running:
            return all(s.pending == 0 for t in self._topics.values() if not t.coalesce for s in t.queued)
        self._stopping = True
        fifo_tasks: list[asyncio.Task[None]] = []
        for t in self._topics.values():
            for sub in t.queued:
                if t.coalesce:
                    if sub._task is not None:
                        sub._task.cancel()
                else:
                    sub._wake()
                    if sub._task is not None and not sub._task.done():
                        fifo_tasks.append(sub._task)
        if fifo_tasks:
            _, not_done = await asyncio.wait(fifo_tasks, timeout=timeout)
            for task in not_done:
                task.cancel()
        all_tasks = [s._task for t in self._topics.values() for s in t.queued if s._task is not None]
        if all_tasks:
            await asyncio.gather(*all_tasks, return_exceptions=True)
        for t in self._topics.values():
            for sub in t.queued:
                sub._task = None
        self._running = False
        undelivered = {f"{t.name}/{s.name}": len(s._fifo) for t in self._topics.values() if not t.coalesce for s in t.queued if s._fifo}
        if undelivered:
            log.warning("bus stopped with undelivered FIFO messages", timeout_s=timeout, undelivered=undelivered)
            return False
        return True

    # --- status --------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Per topic: policy, messages published, and per subscription the delivered, dropped,
        errors, pending and oldest pending age (ns) figures (for metrics and status)."""
        now = self._mono()
        return {
            t.name: {
                "policy": t.policy.value,
                "published": t.published,
                "subscriptions": {s.name: s.stats(now) for s in t.subs},
            }
            for t in self._topics.values()
        }
