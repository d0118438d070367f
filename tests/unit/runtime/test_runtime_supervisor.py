"""Supervisor: backoff, cap, circuit breaker, events, shutdown; deterministic with SimClock."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from arbkit.core.clock import NS, SimClock
from arbkit.core.events import BreakerOpened, Event, TaskCrashed
from arbkit.runtime.supervisor import Supervisor, TaskState

ROOT = Path(__file__).resolve().parents[3]


class Recorder:
    def __init__(self) -> None:
        self.published: list[Event] = []
        self.journaled: list[Event] = []

    def publish(self, e: Event) -> None:
        self.published.append(e)

    async def journal(self, e: Event) -> None:
        self.journaled.append(e)


def crashing_factory(clock: SimClock, start_times: list[float], fail: int = 10**9):
    """A task that crashes on each of its first ``fail`` starts, recording when it started."""

    async def factory() -> None:
        start_times.append((clock.now_ns() - SimClock().now_ns()) / NS)
        if len(start_times) <= fail:
            raise RuntimeError(f"crash #{len(start_times)}")
        await clock.sleep(10**6)

    return factory


async def test_backoff_doubles_and_is_capped_without_jitter() -> None:
    clock = SimClock()
    rec = Recorder()
    sup = Supervisor(clock, on_event=rec.publish, jitter=0.0, breaker_crashes=100, backoff_base_s=0.5, backoff_cap_s=30.0)
    starts: list[float] = []
    sup.add_task("feed", crashing_factory(clock, starts, fail=9))
    await sup.start()
    await clock.run_until_idle(max_ns=200 * NS)
    delays = [e.restart_in_s for e in rec.published if isinstance(e, TaskCrashed)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    # The restarts happened exactly after those delays.
    gaps = [round(b - a, 6) for a, b in zip(starts, starts[1:])]
    assert gaps == delays
    assert sup.state("feed") is TaskState.RUNNING
    st = sup.status()["feed"]
    assert (st["starts"], st["crashes"]) == (10, 9)
    await sup.shutdown()
    assert sup.state("feed") is TaskState.CANCELLED


async def test_backoff_jitter_is_seeded_bounded_and_capped() -> None:
    clock = SimClock()
    rec = Recorder()
    sup = Supervisor(clock, on_event=rec.publish, jitter=0.2, breaker_crashes=100, seed=7, backoff_base_s=1.0, backoff_cap_s=30.0)
    starts: list[float] = []
    sup.add_task("feed", crashing_factory(clock, starts, fail=8))
    await sup.start()
    await clock.run_until_idle(max_ns=400 * NS)
    delays = [e.restart_in_s for e in rec.published if isinstance(e, TaskCrashed)]
    rng = random.Random(7)
    expected = [min(30.0, 2.0**i) * (1 - 0.2 * rng.random()) for i in range(8)]
    assert delays == expected
    for i, d in enumerate(delays):
        nominal = min(30.0, 2.0**i)
        assert 0.8 * nominal <= d <= nominal <= 30.0
    assert len(set(delays[-3:])) == 3  # capped ones still jittered apart
    await sup.shutdown()


async def test_breaker_opens_after_three_crashes_in_window_and_leaves_task_down() -> None:
    clock = SimClock()
    rec = Recorder()
    sup = Supervisor(clock, on_event=rec.publish, journal_append=rec.journal, jitter=0.0)
    starts: list[float] = []
    sup.add_task("kalshi.feed", crashing_factory(clock, starts))
    await sup.start()
    await clock.run_until_idle(max_ns=3600 * NS)
    assert starts == [0.0, 0.5, 1.5]  # crashed, 0.5 s, crashed, 1 s, crashed -> breaker
    assert sup.state("kalshi.feed") is TaskState.BREAKER_OPEN
    kinds = [type(e) for e in rec.published]
    assert kinds == [TaskCrashed, TaskCrashed, TaskCrashed, BreakerOpened]
    assert rec.journaled == rec.published  # journaled too, same events
    opened = rec.published[-1]
    assert isinstance(opened, BreakerOpened)
    assert (opened.task, opened.crashes, opened.window_s) == ("kalshi.feed", 3, 300.0)
    assert opened.error == "RuntimeError: crash #3"
    assert opened.correlation_id and opened.correlation_id == rec.published[-2].correlation_id
    assert rec.published[-2].restart_in_s == -1.0  # the last crash is not restarted
    assert [e.crash_count for e in rec.published[:3]] == [1, 2, 3]
    # Still down an hour later.
    assert len(starts) == 3
    await sup.shutdown()
    assert sup.state("kalshi.feed") is TaskState.BREAKER_OPEN


async def test_breaker_not_opened_when_crashes_are_spread_out() -> None:
    """A task that runs 3 minutes between crashes never has 3 crashes within 5 minutes."""
    clock = SimClock()
    rec = Recorder()
    sup = Supervisor(clock, on_event=rec.publish, jitter=0.0, healthy_after_s=60.0)
    runs = [0]

    async def flaky() -> None:
        runs[0] += 1
        await clock.sleep(180)
        raise ConnectionError("socket closed")

    sup.add_task("feed", flaky)
    await sup.start()
    await clock.run_until_idle(max_ns=3600 * NS)
    crashes = [e for e in rec.published if isinstance(e, TaskCrashed)]
    assert len(crashes) >= 15
    assert not any(isinstance(e, BreakerOpened) for e in rec.published)
    # Each run lasted longer than healthy_after_s, so every restart uses the base delay.
    assert {e.restart_in_s for e in crashes} == {0.5}
    assert sup.state("feed") in (TaskState.RUNNING, TaskState.BACKOFF)
    await sup.shutdown()


async def test_breaker_configurable_and_window_edge() -> None:
    clock = SimClock()
    rec = Recorder()
    # 2 crashes in 10 s opens it; the task runs 6 s then crashes: gap 6 s + 1 s backoff = 7 s -> opens.
    sup = Supervisor(clock, on_event=rec.publish, jitter=0.0, breaker_crashes=2, breaker_window_s=10.0, backoff_base_s=1.0, healthy_after_s=1000)

    async def task() -> None:
        await clock.sleep(6)
        raise RuntimeError("x")

    sup.add_task("t", task)
    await sup.start()
    await clock.run_until_idle(max_ns=100 * NS)
    assert sup.state("t") is TaskState.BREAKER_OPEN
    assert [type(e) for e in rec.published] == [TaskCrashed, TaskCrashed, BreakerOpened]

    # Same with a 5 s window: the crashes are 7 s apart, never 2 in the window.
    clock2 = SimClock()
    rec2 = Recorder()
    sup2 = Supervisor(clock2, on_event=rec2.publish, jitter=0.0, breaker_crashes=2, breaker_window_s=5.0, backoff_base_s=1.0, healthy_after_s=1000)

    async def task2() -> None:
        await clock2.sleep(6)
        raise RuntimeError("x")

    sup2.add_task("t", task2)
    await sup2.start()
    await clock2.run_until_idle(max_ns=100 * NS)
    assert not any(isinstance(e, BreakerOpened) for e in rec2.published)
    await sup2.shutdown()
    await sup.shutdown()


async def test_normal_return_is_done_not_a_crash() -> None:
    clock = SimClock()
    rec = Recorder()
    sup = Supervisor(clock, on_event=rec.publish)
    ran = []

    async def once() -> None:
        ran.append(1)

    sup.add_task("once", once)
    await sup.start()
    await sup.wait("once")
    await clock.run_until_idle(max_ns=100 * NS)
    assert ran == [1]
    assert sup.state("once") is TaskState.DONE
    assert rec.published == []
    assert sup.status()["once"]["crashes"] == 0


async def test_reset_closes_breaker_and_restarts() -> None:
    clock = SimClock()
    sup = Supervisor(clock, jitter=0.0)
    starts: list[float] = []
    sup.add_task("t", crashing_factory(clock, starts, fail=3))
    await sup.start()
    await clock.run_until_idle(max_ns=100 * NS)
    assert sup.state("t") is TaskState.BREAKER_OPEN
    await sup.reset("t")
    await clock.run_until_idle(max_ns=1 * NS)
    assert sup.state("t") is TaskState.RUNNING
    assert len(starts) == 4
    await sup.shutdown()


async def test_failing_event_sink_does_not_stop_supervision() -> None:
    clock = SimClock()
    journaled: list[Event] = []

    def bad_publish(e: Event) -> None:
        raise RuntimeError("bus gone")

    sup = Supervisor(clock, on_event=bad_publish, journal_append=journaled.append, jitter=0.0)
    sup.add_task("t", crashing_factory(clock, []))
    await sup.start()
    await clock.run_until_idle(max_ns=100 * NS)
    assert sup.state("t") is TaskState.BREAKER_OPEN
    assert [type(e) for e in journaled] == [TaskCrashed, TaskCrashed, TaskCrashed, BreakerOpened]
    await sup.shutdown()


async def test_shutdown_cancels_tasks_then_runs_hooks_in_order() -> None:
    clock = SimClock()
    sup = Supervisor(clock)
    order: list[str] = []

    async def long_running(tag: str) -> None:
        try:
            await clock.sleep(10**6)
        except asyncio.CancelledError:
            order.append(f"cancelled {tag}")
            raise

    sup.add_task("a", lambda: long_running("a"))
    sup.add_task("b", lambda: long_running("b"))

    async def drain_journal() -> None:
        await asyncio.sleep(0)
        order.append("journal drained")

    def failing_hook() -> None:
        order.append("failing hook")
        raise RuntimeError("hook failed")

    sup.add_shutdown_hook(failing_hook)
    sup.add_shutdown_hook(drain_journal)
    await sup.start()
    await clock.run_until_idle(max_ns=1 * NS)
    assert sup.state("a") is TaskState.RUNNING
    await sup.shutdown()
    assert sorted(order[:2]) == ["cancelled a", "cancelled b"]
    assert order[2:] == ["failing hook", "journal drained"]  # a failing hook does not stop the next
    assert sup.state("a") is sup.state("b") is TaskState.CANCELLED
    await sup.shutdown()  # idempotent
    assert order.count("journal drained") == 1


async def test_request_shutdown_ends_run() -> None:
    clock = SimClock()
    sup = Supervisor(clock)
    hooks: list[str] = []
    sup.add_shutdown_hook(lambda: hooks.append("ran"))

    async def stopper() -> None:
        await clock.sleep(5)
        sup.request_shutdown()

    sup.add_task("stopper", stopper)
    runner = asyncio.ensure_future(sup.run())
    await clock.run_until_idle(max_ns=10 * NS)
    await asyncio.wait_for(runner, 5)
    assert hooks == ["ran"]


async def test_crash_text_in_events_is_redacted() -> None:
    from arbkit.runtime.logging import clear_registered_secrets, register_secret

    secret = "kc-api-secret-0123456789"
    register_secret(secret)
    try:
        clock = SimClock()
        rec = Recorder()
        sup = Supervisor(clock, journal_append=rec.journal, jitter=0.0, breaker_crashes=1)

        async def leaky() -> None:
            raise PermissionError(f"signature mismatch for secret {secret}")

        sup.add_task("gateway", leaky)
        await sup.start()
        await clock.run_until_idle(max_ns=10 * NS)
        assert [e.error for e in rec.journaled] == ["PermissionError: signature mismatch for secret ***"] * 2
        assert secret not in sup.status()["gateway"]["last_error"]
        await sup.shutdown()
    finally:
        clear_registered_secrets()


def test_bad_parameters_rejected() -> None:
    with pytest.raises(ValueError):
        Supervisor(backoff_base_s=0)
    with pytest.raises(ValueError):
        Supervisor(backoff_base_s=10, backoff_cap_s=5)
    with pytest.raises(ValueError):
        Supervisor(jitter=1.5)
    with pytest.raises(ValueError):
        Supervisor(breaker_crashes=0)


PROGRAM = textwrap.dedent(
    """
    import asyncio, sys
    from arbkit.runtime.logging import configure_logging
    from arbkit.runtime.supervisor import Supervisor

    configure_logging("info", json=True)  # to stderr

    async def worker():
        print("ready", flush=True)
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            print("worker cancelled", flush=True)
            raise

    async def drain():
        await asyncio.sleep(0.01)
        print("journal drained", flush=True)

    async def main():
        sup = Supervisor()
        sup.add_task("worker", worker)
        sup.add_shutdown_hook(drain)
        sup.install_signal_handlers()
        await sup.run()
        print("exited cleanly", flush=True)

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_shuts_down_a_real_process_cleanly(tmp_path: Path, sig: int) -> None:
    script = tmp_path / "node.py"
    script.write_text(PROGRAM)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert out.splitlines() == ["worker cancelled", "journal drained", "exited cleanly"], (out, err)
    assert "Traceback" not in err
    events = [json.loads(line)["event"] for line in err.splitlines()]
    assert events == ["shutdown requested", "supervisor shut down"]
