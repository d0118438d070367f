"""Background tasks a stream starts (watchdogs, pings, sends) and must cancel when it stops."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Coroutine


class BackgroundTasks:
    """Holds strong references to running tasks (the event loop keeps only weak ones, so an
    unreferenced task can vanish mid-flight) until they finish or :meth:`cancel_all`."""

    __slots__ = ("_tasks",)

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def __len__(self) -> int:
        return len(self._tasks)

    async def cancel_all(self, *more: asyncio.Task) -> None:
        """Cancel every held task (and ``more``) and wait until each has ended."""
        tasks = [*more, *self._tasks]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t
