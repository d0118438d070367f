"""The strategy host: runs any number of strategies side by side in one node.

It owns strategy dispatch and nothing else: a book update goes to the strategies that subscribed
to that instrument (in the order they were added), each intent they return is stamped with the
strategy's name and handed to ``submit`` (the execution engine's synchronous
journal -> risk -> saga call, injected by the node), and a watcher tells the strategy when the
execution ends (or at once when risk refuses it). While nothing may be sent (``can_send`` false:
node not trading, engine paused, kill switch) a strategy only sees ``on_book_idle``.

The host never imports the engine or a venue: ``submit``, ``wait`` and ``can_send`` are
callables, and a verdict is read by its ``approved`` / ``check`` / ``reason`` attributes (the
risk engine's ``Approved`` / ``Denied``). Each strategy's risk budget lives in the risk engine
(``[risk.strategies.NAME]``: slots and in-flight exposure, keyed by ``Intent.strategy``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from typing import Any, Awaitable, Callable, Iterable

import msgspec

from arbkit.execution.intent import Intent
from arbkit.strategies.base import BookUpdate, Strategy

log = logging.getLogger("arbkit.strategies.host")


@dataclass
class StrategyCounters:
    opportunities: int = 0  # intents the strategy emitted
    submitted: int = 0  # approved by risk
    denied: int = 0
    last_denial: str = ""
    reports: int = 0
    filled: int = 0


class StrategyHost:
    def __init__(self, *, submit: Callable[[Intent], Any], wait: Callable[[str], Awaitable[Any]],
                 can_send: Callable[[], bool], clock_ns: Callable[[], int],
                 on_report: Callable[[Any], None] = lambda r: None,
                 quotes: Callable[[Any], None] | None = None) -> None:
        self._submit = submit
        # the quote manager's entry (QuoteRequest / UnwindRequest); None: no quoting strategy runs
        self._quotes = quotes
        self._wait = wait
        self._can_send = can_send
        self._clock_ns = clock_ns
        self._on_report = on_report
        self.strategies: dict[str, Strategy] = {}
        self.counters: dict[str, StrategyCounters] = {}
        self.routes: dict[str, list[Strategy]] = {}  # instrument id -> strategies reading its book
        self.watchers: set[asyncio.Task] = set()
        self._next_timer: dict[str, int] = {}

    # --- registration ------------------------------------------------------------------------

    def add(self, strategy: Strategy) -> None:
        if not strategy.name:
            raise ValueError("a strategy needs a name (its config table name)")
        if strategy.name in self.strategies:
            raise ValueError(f"strategy {strategy.name} is already hosted")
        self.strategies[strategy.name] = strategy
        self.counters[strategy.name] = StrategyCounters()
        self.refresh_routes(strategy)

    def refresh_routes(self, strategy: Strategy) -> None:
        """(Re)read a strategy's subscriptions (after it changed its instruments)."""
        for iid in list(self.routes):
            self.routes[iid] = [s for s in self.routes[iid] if s is not strategy]
            if not self.routes[iid]:
                del self.routes[iid]
        for iid in strategy.subscriptions():
            self.routes.setdefault(iid, []).append(strategy)

    def get(self, name: str) -> Strategy | None:
        return self.strategies.get(name)

    def subscriptions(self) -> set[str]:
        """Every instrument some strategy reads (the node subscribes the feeds to these)."""
        return set(self.routes)

    # --- facts in ----------------------------------------------------------------------------

    def on_book(self, instrument_id: str, *, socket_arrival_ns: int = 0, correlation_id: str = "") -> None:
        """A book changed: the strategies reading it decide, synchronously."""
        strategies = self.routes.get(instrument_id)
        if not strategies:
            return
        if not self._can_send():
            for s in strategies:
                s.on_book_idle(instrument_id)  # nothing may be sent: keep caches, decide nothing
            return
        update = BookUpdate(instrument_id, self._clock_ns(), socket_arrival_ns, correlation_id)
        for s in strategies:
            try:
                intents = s.on_book(update)
            except Exception:  # noqa: BLE001 - one strategy's bug must not stop the others
                log.exception("strategy %s failed on a book update of %s", s.name, instrument_id)
                continue
            self.emit(s, intents)

    def emit(self, strategy: Strategy, out: Iterable[Any]) -> None:
        """What a strategy returned: intents to the engine, quote/unwind requests to the quote manager."""
        for item in out:
            if isinstance(item, Intent):
                self.submit(strategy, item)
            elif self._quotes is not None:
                if getattr(item, "strategy", "") != strategy.name:
                    item = replace(item, strategy=strategy.name)
                self._quotes(item)
            else:
                log.error("strategy %s emitted %s but this node runs no quote manager", strategy.name, type(item).__name__)

    def on_inventory(self, strategy_name: str, change: Any) -> None:
        """The quote manager changed a strategy's inventory (a fill, a merge, an unwind): tell it,
        and pass on the quotes it wants now."""
        s = self.strategies.get(strategy_name)
        hook = getattr(s, "on_inventory", None)
        if hook is None:
            return
        try:
            out = hook(change)
        except Exception:  # noqa: BLE001 - one strategy's bug must not stop the manager
            log.exception("strategy %s failed on an inventory change", strategy_name)
            return
        if out:
            self.emit(s, out)  # type: ignore[arg-type]

    def on_trade(self, event: Any) -> None:
        for s in self.strategies.values():
            s.on_trade(event)

    def on_fill(self, event: Any) -> None:
        for s in self.strategies.values():
            s.on_fill(event)

    def timer_interval_s(self) -> float | None:
        """The shortest timer any strategy asked for (None: no timer task needed)."""
        vals = [s.timer_interval_s for s in self.strategies.values() if s.timer_interval_s]
        return min(vals) if vals else None

    def tick(self, now_ns: int | None = None) -> None:
        """Run each strategy's ``on_timer`` when its interval has passed."""
        now = self._clock_ns() if now_ns is None else now_ns
        for name, s in self.strategies.items():
            iv = s.timer_interval_s
            if not iv or now < self._next_timer.get(name, 0):
                continue
            self._next_timer[name] = now + int(iv * 1e9)
            intents = s.on_timer(now)
            if intents and self._can_send():
                self.emit(s, intents)

    # --- intents out -------------------------------------------------------------------------

    def submit(self, strategy: Strategy, intent: Intent) -> bool:
        """Hand one intent to the engine; True when risk approved it."""
        if intent.strategy != strategy.name:
            intent = msgspec.structs.replace(intent, strategy=strategy.name)  # budgets key on it
        c = self.counters[strategy.name]
        c.opportunities += 1
        verdict = self._submit(intent)
        if not getattr(verdict, "approved", False):
            c.denied += 1
            c.last_denial = f"{getattr(verdict, 'check', '?')}: {getattr(verdict, 'reason', verdict)}"
            strategy.on_execution_finished(intent.execution_id, None, denied=c.last_denial)
            return False
        c.submitted += 1
        task = asyncio.get_running_loop().create_task(self._watch(strategy, intent.execution_id),
                                                      name=f"watch-{intent.execution_id}")
        self.watchers.add(task)
        task.add_done_callback(self.watchers.discard)
        return True

    async def _watch(self, strategy: Strategy, execution_id: str) -> None:
        report = None
        try:
            report = await self._wait(execution_id)
        finally:
            strategy.on_execution_finished(execution_id, report)
        c = self.counters[strategy.name]
        c.reports += 1
        if getattr(getattr(report, "status", None), "value", "") == "FILLED":
            c.filled += 1
        self._on_report(report)

    # --- totals and status -------------------------------------------------------------------

    def total(self, field: str) -> int:
        return sum(getattr(c, field) for c in self.counters.values())

    @property
    def last_denial(self) -> str:
        return next((c.last_denial for c in reversed(list(self.counters.values())) if c.last_denial), "")

    def status(self) -> dict[str, Any]:
        out = {}
        for name, s in self.strategies.items():
            c = self.counters[name]
            st = {"opportunities": c.opportunities, "submitted": c.submitted, "denied": c.denied,
                  "last_denial": c.last_denial, "reports": c.reports, "filled": c.filled}
            try:
                st.update(s.status())
            except Exception:  # noqa: BLE001 - a status view must not break the node's
                log.exception("status of strategy %s", name)
            out[name] = st
        return out


def venues_of(instrument_ids: Iterable[str]) -> dict[str, list[str]]:
    """Instrument ids grouped by venue value (the prefix of ``venue:symbol``), sorted."""
    out: dict[str, list[str]] = {}
    for iid in instrument_ids:
        out.setdefault(iid.split(":", 1)[0], []).append(iid)
    return {v: sorted(ids) for v, ids in out.items()}
