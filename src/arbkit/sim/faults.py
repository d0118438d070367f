"""Scriptable venue faults: what the simulated venue does wrong, when, and how often.

A ``FaultPlan`` holds ``FaultSpec`` entries (from a scenario's ``[[faults]]`` tables or injected
through the admin endpoint). The protocol servers and the matching engine ask it at the points
where a real venue misbehaves (each REST request, each outgoing WS message, each order, each
trade). A spec is active from ``at_s`` seconds after the plan started (clock time) for
``duration_s`` (or until used up), skips its first ``after`` opportunities (a trigger), and fires at
most ``times`` times. Every firing is logged for the admin endpoint and the tests.
"""

from __future__ import annotations

import itertools
from enum import Enum
from typing import Any, Iterable

import msgspec

from arbkit.core.clock import NS, Clock


class FaultKind(str, Enum):
    WS_DISCONNECT = "WS_DISCONNECT"
    WS_FREEZE = "WS_FREEZE"
    WS_SEQ_GAP = "WS_SEQ_GAP"
    WS_DELAY = "WS_DELAY"
    WS_DUPLICATE = "WS_DUPLICATE"
    REST_429 = "REST_429"
    REST_5XX = "REST_5XX"
    SLOW_ACK = "SLOW_ACK"
    ORDER_REJECT = "ORDER_REJECT"
    PARTIAL_FILL_ONLY = "PARTIAL_FILL_ONLY"
    TRADE_FAILED = "TRADE_FAILED"
    VENUE_HALT = "VENUE_HALT"


REST_KINDS = (FaultKind.REST_429, FaultKind.REST_5XX, FaultKind.SLOW_ACK)
WS_KINDS = (FaultKind.WS_DISCONNECT, FaultKind.WS_FREEZE, FaultKind.WS_SEQ_GAP, FaultKind.WS_DELAY, FaultKind.WS_DUPLICATE)
ORDER_KINDS = (FaultKind.ORDER_REJECT, FaultKind.PARTIAL_FILL_ONLY)


class FaultSpec(msgspec.Struct, kw_only=True):
    kind: FaultKind
    venue: str = "*"
    at_s: float = 0.0
    duration_s: float | None = None
    times: int | None = None
    after: int = 0
    match: str = ""
    status: int = 0
    retry_after_s: float = 1.0
    delay_s: float = 0.8
    fill_fraction: str = "0.5"
    message: str = ""
    id: str = ""


class FaultHit(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    kind: FaultKind
    spec: FaultSpec


class _Active:
    __slots__ = ("spec", "seen", "fired", "start_ns", "end_ns")

    def __init__(self, spec: FaultSpec, origin_ns: int) -> None:
        self.spec = spec
        self.seen = 0  # matching opportunities while active (for ``after``)
        self.fired = 0
        self.start_ns = origin_ns + int(spec.at_s * NS)
        self.end_ns = None if spec.duration_s is None else self.start_ns + int(spec.duration_s * NS)

    def active(self, now_ns: int) -> bool:
        if now_ns < self.start_ns:
            return False
        if self.end_ns is not None and now_ns >= self.end_ns:
            return False
        return self.spec.times is None or self.fired < self.spec.times


def parse_fault(data: dict[str, Any] | FaultSpec) -> FaultSpec:
    """A FaultSpec from a dict (TOML table / admin JSON); ValueError naming the problem otherwise."""
    if isinstance(data, FaultSpec):
        return data
    try:
        spec = msgspec.convert(data, FaultSpec, strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid fault {data!r}: {exc}") from None
    if spec.times is not None and spec.times < 0:
        raise ValueError("fault 'times' must be >= 0")
    if spec.after < 0:
        raise ValueError("fault 'after' must be >= 0")
    if spec.kind is FaultKind.REST_5XX and spec.status and not 500 <= spec.status <= 599:
        raise ValueError(f"REST_5XX status must be 5xx, got {spec.status}")
    return spec


class FaultPlan:
    """The faults of one simulator run, shared by every venue server and engine."""

    def __init__(self, clock: Clock, specs: Iterable[FaultSpec | dict[str, Any]] = ()) -> None:
        self.clock = clock
        self._origin_ns = clock.now_ns()
        self._ids = itertools.count(1)
        self._active: list[_Active] = []
        self._log: list[dict[str, Any]] = []
        for s in specs:
            self.add(s)

    def start(self) -> None:
        """Set the plan's time origin to now (the runner calls this when serving starts)."""
        self._origin_ns = self.clock.now_ns()
        for a in self._active:
            a.start_ns = self._origin_ns + int(a.spec.at_s * NS)
            a.end_ns = None if a.spec.duration_s is None else a.start_ns + int(a.spec.duration_s * NS)

    def add(self, spec: FaultSpec | dict[str, Any]) -> str:
        s = parse_fault(spec)
        s = msgspec.structs.replace(s, id=s.id or f"f{next(self._ids)}")
        if any(a.spec.id == s.id for a in self._active):
            raise ValueError(f"fault id {s.id!r} already exists")
        # Injected at run time: "at_s" counts from now, not from the plan start.
        self._active.append(_Active(s, self._origin_ns))
        return s.id

    def add_now(self, spec: FaultSpec | dict[str, Any]) -> str:
        """Add a fault whose ``at_s`` counts from now (admin injection)."""
        s = parse_fault(spec)
        fid = self.add(s)
        a = self._active[-1]
        now = self.clock.now_ns()
        a.start_ns = now + int(s.at_s * NS)
        a.end_ns = None if s.duration_s is None else a.start_ns + int(s.duration_s * NS)
        return fid

    def remove(self, fault_id: str) -> bool:
        for i, a in enumerate(self._active):
            if a.spec.id == fault_id:
                del self._active[i]
                return True
        return False

    def clear(self, venue: str | None = None) -> int:
        before = len(self._active)
        self._active = [a for a in self._active if venue is not None and a.spec.venue not in (venue, "*")]
        return before - len(self._active)

    def list(self) -> list[dict[str, Any]]:
        now = self.clock.now_ns()
        out = []
        for a in self._active:
            d = msgspec.to_builtins(a.spec)
            d.update(fired=a.fired, active=a.active(now))
            out.append(d)
        return out

    def fired(self) -> list[dict[str, Any]]:
        return list(self._log)

    # --- queries -------------------------------------------------------------------------------

    def _find(self, venue: str, kinds: Iterable[FaultKind | str], subject: str, *, count: bool = True) -> FaultHit | None:
        kset = {FaultKind(k) for k in kinds}
        now = self.clock.now_ns()
        for a in self._active:
            s = a.spec
            if s.kind not in kset or s.venue not in ("*", venue):
                continue
            if s.match and s.match not in subject:
                continue
            if not a.active(now):
                continue
            if not count:
                return FaultHit(id=s.id, kind=s.kind, spec=s)
            a.seen += 1
            if a.seen <= s.after:
                continue
            a.fired += 1
            self._log.append({"id": s.id, "kind": s.kind.value, "venue": venue, "subject": subject, "ts_ns": now})
            return FaultHit(id=s.id, kind=s.kind, spec=s)
        return None

    def rest_fault(self, venue: str, method: str, path: str) -> FaultHit | None:
        """REST_429 / REST_5XX / SLOW_ACK for one request (``match`` filters on the path)."""
        return self._find(venue, REST_KINDS, f"{method.upper()} {path}")

    def ws_fault(self, venue: str, channel: str) -> FaultHit | None:
        """WS_DISCONNECT / WS_FREEZE / WS_SEQ_GAP / WS_DELAY / WS_DUPLICATE for one outgoing message."""
        return self._find(venue, WS_KINDS, channel)

    def ws_frozen(self, venue: str, channel: str) -> bool:
        """Is a WS_FREEZE active for this channel (peek, does not count a firing)."""
        return self._find(venue, (FaultKind.WS_FREEZE,), channel, count=False) is not None

    def order_fault(self, venue: str, subject: str, kinds: Iterable[FaultKind | str] = ORDER_KINDS) -> FaultHit | None:
        """ORDER_REJECT / PARTIAL_FILL_ONLY for one order; the engine's ``subject`` is
        ``"<account_id> <symbol>"`` so ``match`` can target an account or a token/ticker."""
        return self._find(venue, kinds, subject)

    def trade_fault(self, venue: str, subject: str) -> FaultHit | None:
        """TRADE_FAILED for one fill; subject ``"<taker account> <maker account> <market_id>"``."""
        return self._find(venue, (FaultKind.TRADE_FAILED,), subject)

    def is_halted(self, venue: str) -> bool:
        return self._find(venue, (FaultKind.VENUE_HALT,), "", count=False) is not None
