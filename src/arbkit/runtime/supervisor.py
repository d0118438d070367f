"""Supervisor: runs named long-lived async tasks, restarts crashed ones, stops for good on a
circuit breaker, and shuts the process down cleanly on SIGINT/SIGTERM.

* A task is an async callable (a *factory*) called again for every (re)start. Returning normally
  means the task is done; raising means it crashed.
* A crash is followed by a restart after an exponential backoff (``base * 2**(n-1)``, ``n`` the
  consecutive crashes) capped at ``backoff_cap_s`` (30 s by default), less a random jitter of up
  to ``jitter`` of the delay (so restarts of many tasks spread out and never exceed the cap).
* ``breaker_crashes`` crashes within ``breaker_window_s`` (3 in 5 minutes by default) open the
  task's circuit breaker: a :class:`~arbkit.core.events.BreakerOpened` event is published and
  journaled, and the task stays down until :meth:`Supervisor.reset` (a person decides). Every crash
  also produces a :class:`~arbkit.core.events.TaskCrashed` event.
* :meth:`Supervisor.shutdown` cancels every task, then awaits the shutdown hooks in registration
  order (e.g. the journal drain).

All timing goes through the :class:`~arbkit.core.clock.Clock`, and jitter through a seeded
``random.Random``, so tests with a :class:`~arbkit.core.clock.SimClock` are deterministic.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import signal
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Awaitable, Callable

import structlog

from arbkit.core.clock import NS, Clock, LiveClock
from arbkit.core.events import BreakerOpened, Event, TaskCrashed
from arbkit.core.ids import new_correlation_id
from arbkit.runtime.logging import redact

log = structlog.get_logger("arbkit.supervisor")

TaskFactory = Callable[[], Awaitable[Any]]
EventSink = Callable[[Event], Any]
ShutdownHook = Callable[[], Any]


class TaskState(str, Enum):
    PENDING = "pending"  # registered, not started
    RUNNING = "running"
    BACKOFF = "backoff"  # crashed, waiting to restart
    DONE = "done"  # returned normally
    BREAKER_OPEN = "breaker_open"  # crashed too often: left down
    CANCELLED = "cancelled"  # stopped by shutdown or stop_task


@dataclass
class TaskStatus:
    """What status/metrics show about one supervised task."""

    name: str
    state: TaskState = TaskState.PENDING
    starts: int = 0
    crashes: int = 0  # total since registration
    consecutive_crashes: int = 0  # drives the backoff; reset after a healthy run
    last_error: str = ""
    next_restart_in_s: float | None = None
    crash_times_ns: deque[int] = field(default_factory=deque)  # monotonic, within the breaker window

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "starts": self.starts,
            "crashes": self.crashes,
            "consecutive_crashes": self.consecutive_crashes,
            "last_error": self.last_error,
            "next_restart_in_s": self.next_restart_in_s,
        }


class _Spec:
    __slots__ = ("name", "factory", "status", "runner")

    def __init__(self, name: str, factory: TaskFactory) -> None:
        self.name = name
        self.factory = factory
        self.status = TaskStatus(name)
        self.runner: asyncio.Task[None] | None = None


class Supervisor:
    """Runs named async tasks with restart, backoff and a per-task circuit breaker."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        on_event: EventSink | None = None,
        journal_append: EventSink | None = None,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        jitter: float = 0.2,
        breaker_crashes: int = 3,
        breaker_window_s: float = 300.0,
        healthy_after_s: float = 60.0,
        rng: random.Random | None = None,
        seed: int | None = None,
        hook_timeout_s: float = 30.0,
        cancel_timeout_s: float = 10.0,
    ) -> None:
        if backoff_base_s <= 0 or backoff_cap_s < backoff_base_s:
            raise ValueError("need 0 < backoff_base_s <= backoff_cap_s")
        if not 0.0 <= jitter < 1.0:
            raise ValueError("jitter is a fraction of the delay in [0, 1)")
        if breaker_crashes < 1 or breaker_window_s <= 0:
            raise ValueError("breaker_crashes must be >= 1 and breaker_window_s > 0")
        self.clock: Clock = clock if clock is not None else LiveClock()
        self._on_event = on_event
        self._journal_append = journal_append
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.jitter = jitter
        self.breaker_crashes = breaker_crashes
        self.breaker_window_s = breaker_window_s
        self.healthy_after_s = healthy_after_s
        self._rng = rng if rng is not None else random.Random(seed)
        self.hook_timeout_s = hook_timeout_s
        self.cancel_timeout_s = cancel_timeout_s
        self._specs: dict[str, _Spec] = {}
        self._hooks: list[tuple[str, ShutdownHook]] = []
        self._started = False
        self._shutdown_requested: asyncio.Event | None = None
        self._shutdown_task: asyncio.Task[None] | None = None
        self._shutdown_done = False
        self._signals: list[int] = []

    # --- registration --------------------------------------------------------------------

    def add_task(self, name: str, factory: TaskFactory) -> None:
        """Register a task; it starts with :meth:`start` (or now, if already started)."""
        if name in self._specs:
            raise ValueError(f"a task named {name!r} is already supervised")
        if not callable(factory):
            raise TypeError(f"task {name!r}: factory must be an async callable")
        spec = _Spec(name, factory)
        self._specs[name] = spec
        if self._started and not self._shutdown_done:
            self._launch(spec)

    def add_shutdown_hook(self, hook: ShutdownHook, *, name: str | None = None) -> None:
        """A sync or async callable run at shutdown, after tasks are cancelled, in
        registration order (each bounded by ``hook_timeout_s``)."""
        self._hooks.append((name or getattr(hook, "__name__", repr(hook)), hook))

    # --- running -------------------------------------------------------------------------

    async def start(self) -> None:
        self._ensure_event()
        self._started = True
        for spec in self._specs.values():
            if spec.runner is None and spec.status.state is TaskState.PENDING:
                self._launch(spec)

    async def run(self) -> None:
        """Start the tasks and run until :meth:`request_shutdown` (e.g. a signal), then shut down."""
        await self.start()
        assert self._shutdown_requested is not None
        await self._shutdown_requested.wait()
        await self.shutdown()

    async def wait(self, name: str) -> None:
        """Wait until a task is done, left down by its breaker, or cancelled."""
        runner = self._specs[name].runner
        if runner is not None:
            await asyncio.wait([runner])

    def _ensure_event(self) -> asyncio.Event:
        if self._shutdown_requested is None:
            self._shutdown_requested = asyncio.Event()
        return self._shutdown_requested

    def _launch(self, spec: _Spec) -> None:
        spec.runner = asyncio.get_running_loop().create_task(self._supervise(spec), name=f"supervised:{spec.name}")

    def backoff_delay(self, consecutive_crashes: int) -> float:
        """Restart delay after the n-th consecutive crash (n >= 1): exponential, capped, jittered down."""
        exp = min(consecutive_crashes - 1, 62)  # 2**62 * base is far past any cap
        delay = min(self.backoff_cap_s, self.backoff_base_s * (2.0**exp))
        if self.jitter:
            delay *= 1.0 - self.jitter * self._rng.random()
        return delay

    async def _supervise(self, spec: _Spec) -> None:
        st = spec.status
        while True:
            st.state = TaskState.RUNNING
            st.next_restart_in_s = None
            st.starts += 1
            started_ns = self.clock.monotonic_ns()
            try:
                await spec.factory()
            except asyncio.CancelledError:
                st.state = TaskState.CANCELLED
                raise
            except Exception as exc:  # noqa: BLE001 - a crash is what we supervise
                # The text goes into journaled events, which must never hold a secret.
                error = redact(f"{type(exc).__name__}: {exc}")
            else:
                st.state = TaskState.DONE
                log.info("supervised task done", task=spec.name)
                return

            now = self.clock.monotonic_ns()
            if now - started_ns >= self.healthy_after_s * NS:
                st.consecutive_crashes = 0  # it ran well for a while: start the backoff afresh
            st.crashes += 1
            st.consecutive_crashes += 1
            st.last_error = error
            window_ns = int(self.breaker_window_s * NS)
            st.crash_times_ns.append(now)
            while st.crash_times_ns and now - st.crash_times_ns[0] >= window_ns:
                st.crash_times_ns.popleft()
            breaker = len(st.crash_times_ns) >= self.breaker_crashes
            delay = -1.0 if breaker else self.backoff_delay(st.consecutive_crashes)
            correlation_id = new_correlation_id("sup")
            log.error(
                "supervised task crashed",
                task=spec.name,
                error=error,
                crashes=st.crashes,
                restart_in_s=None if breaker else round(delay, 3),
            )
            await self._emit(
                TaskCrashed(
                    correlation_id=correlation_id,
                    ts_recv=self.clock.now_ns(),
                    task=spec.name,
                    error=error,
                    crash_count=st.crashes,
                    restart_in_s=delay,
                )
            )
            if breaker:
                st.state = TaskState.BREAKER_OPEN
                log.critical(
                    "circuit breaker opened: task left down",
                    task=spec.name,
                    crashes=len(st.crash_times_ns),
                    window_s=self.breaker_window_s,
                )
                await self._emit(
                    BreakerOpened(
                        correlation_id=correlation_id,
                        ts_recv=self.clock.now_ns(),
                        task=spec.name,
                        crashes=len(st.crash_times_ns),
                        window_s=self.breaker_window_s,
                        error=error,
                    )
                )
                return
            st.state = TaskState.BACKOFF
            st.next_restart_in_s = delay
            try:
                await self.clock.sleep(delay)
            except asyncio.CancelledError:
                st.state = TaskState.CANCELLED
                raise

    async def _emit(self, event: Event) -> None:
        """Publish and journal a supervisor event; a failing sink is logged, never fatal."""
        for sink_name, sink in (("on_event", self._on_event), ("journal_append", self._journal_append)):
            if sink is None:
                continue
            try:
                result = sink(event)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the supervisor must keep supervising
                log.error("supervisor event sink failed", sink=sink_name, event_kind=event.kind, error=f"{type(exc).__name__}: {exc}")

    # --- control -------------------------------------------------------------------------

    async def stop_task(self, name: str) -> None:
        """Cancel one task (it stays down until :meth:`reset`)."""
        spec = self._specs[name]
        if spec.runner is not None and not spec.runner.done():
            spec.runner.cancel()
            await asyncio.gather(spec.runner, return_exceptions=True)
        spec.status.state = TaskState.CANCELLED

    async def reset(self, name: str) -> None:
        """Close a task's breaker (or restart a done/cancelled task): counts cleared, started again."""
        spec = self._specs[name]
        if spec.runner is not None and not spec.runner.done():
            raise RuntimeError(f"task {name!r} is still running ({spec.status.state.value})")
        st = spec.status
        st.consecutive_crashes = 0
        st.crash_times_ns.clear()
        st.state = TaskState.PENDING
        log.warning("supervised task reset", task=name)
        if self._started and not self._shutdown_done:
            self._launch(spec)

    def status(self) -> dict[str, dict[str, Any]]:
        """Per task: state, starts, crashes, consecutive crashes, last error, next restart."""
        return {name: spec.status.as_dict() for name, spec in self._specs.items()}

    def state(self, name: str) -> TaskState:
        return self._specs[name].status.state

    # --- shutdown ------------------------------------------------------------------------

    def install_signal_handlers(self, signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> None:
        """SIGINT/SIGTERM request a clean shutdown (call from inside the running loop)."""
        loop = asyncio.get_running_loop()
        self._ensure_event()
        for sig in signals:
            loop.add_signal_handler(sig, self.request_shutdown, sig)
            self._signals.append(sig)

    def request_shutdown(self, sig: int | None = None) -> None:
        """Ask for a clean shutdown; :meth:`run` returns after it. Safe to call repeatedly."""
        event = self._ensure_event()
        if event.is_set():
            log.warning("shutdown already in progress", signal=signal.Signals(sig).name if sig else None)
            return
        log.warning("shutdown requested", signal=signal.Signals(sig).name if sig else None)
        event.set()
        if self._shutdown_task is None:
            self._shutdown_task = asyncio.get_running_loop().create_task(self._shutdown(), name="supervisor:shutdown")

    async def shutdown(self) -> None:
        """Cancel every task, then await the shutdown hooks. Idempotent: concurrent callers
        all wait for the one shutdown."""
        self._ensure_event().set()
        if self._shutdown_task is None:
            self._shutdown_task = asyncio.get_running_loop().create_task(self._shutdown(), name="supervisor:shutdown")
        await asyncio.shield(self._shutdown_task)

    async def _shutdown(self) -> None:
        runners = [s.runner for s in self._specs.values() if s.runner is not None and not s.runner.done()]
        for r in runners:
            r.cancel()
        if runners:
            _, stuck = await asyncio.wait(runners, timeout=self.cancel_timeout_s)
            if stuck:
                log.error("tasks did not stop after cancel", tasks=sorted(t.get_name() for t in stuck))
            for r in runners:
                if r.done() and not r.cancelled() and r.exception() is not None:
                    log.error("task failed while cancelling", task=r.get_name(), error=repr(r.exception()))
        for spec in self._specs.values():
            if spec.status.state in (TaskState.RUNNING, TaskState.BACKOFF, TaskState.PENDING):
                spec.status.state = TaskState.CANCELLED
        for name, hook in self._hooks:
            try:
                result = hook()
                if inspect.isawaitable(result):
                    await asyncio.wait_for(result, self.hook_timeout_s)
            except asyncio.TimeoutError:
                log.error("shutdown hook timed out", hook=name, timeout_s=self.hook_timeout_s)
            except Exception as exc:  # noqa: BLE001 - the next hooks (the journal drain) must still run
                log.error("shutdown hook failed", hook=name, error=f"{type(exc).__name__}: {exc}")
        self._shutdown_done = True
        # Back to the default handlers: a signal after shutdown acts normally again.
        loop = asyncio.get_running_loop()
        for sig in self._signals:
            loop.remove_signal_handler(sig)
        self._signals.clear()
        log.info("supervisor shut down")
