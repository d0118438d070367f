"""Kill switch: when tripped, every intent is denied until an operator resets it."""

from __future__ import annotations

from typing import Any

from arbkit.core.clock import Clock
from arbkit.core.events import BreakerOpened, Event, KillSwitchTripped


class KillSwitchReset(Event, frozen=True, kw_only=True):
    """An operator re-armed trading after a trip."""

    previous_reason: str
    by: str = "operator"


class KillSwitch:
    def __init__(self, journal: Any = None, clock: Clock | None = None) -> None:
        self._journal = journal
        self._clock = clock
        self.tripped = False
        self.reason = ""
        self.source = ""

    def trip(self, reason: str, source: str = "command") -> None:
        """Trip (idempotent: the first reason is kept, every trip is journaled)."""
        if not self.tripped:
            self.tripped, self.reason, self.source = True, reason, source
        if self._journal is not None:
            ts = self._clock.now_ns() if self._clock else 0
            self._journal.append_event(KillSwitchTripped(reason=reason, source=source, ts_recv=ts))

    def on_breaker(self, event: BreakerOpened) -> None:
        """A supervisor breaker opened: what that task feeds can no longer be trusted."""
        self.trip(f"breaker opened for {event.task}: {event.crashes} crashes in {event.window_s:g}s", source="breaker")

    def restore(self, reason: str, source: str = "") -> None:
        """Start-up: the journal says the switch was tripped and never reset -- it stays tripped
        across the restart (not journaled again)."""
        self.tripped, self.reason, self.source = True, reason, source

    def reset(self, by: str = "operator") -> None:
        if self.tripped and self._journal is not None:
            ts = self._clock.now_ns() if self._clock else 0
            self._journal.append_event(KillSwitchReset(previous_reason=self.reason, by=by, ts_recv=ts))
        self.tripped, self.reason, self.source = False, "", ""
