"""Risk limits (typed configuration) and the per-venue order-rate token bucket."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from arbkit.core.clock import NS, Clock

# Stable collateral worth 1 unit of a USD primary quote. Anything else must be valued explicitly.
DEFAULT_VALUATION: dict[str, Decimal] = {c: Decimal(1) for c in ("USD", "USDC", "USDT", "pUSD")}


class RateLimit(msgspec.Struct, frozen=True, kw_only=True):
    capacity: int  # burst
    per_second: Decimal  # refill


class RiskLimits(msgspec.Struct, kw_only=True):
    """Every limit is in the reference currency (see ``valuation``); None = no limit."""

    max_book_age_s: float = 2.0
    max_signal_age_s: float | None = None  # intent created -> risk check
    max_order_notional: Decimal | None = None
    max_market_exposure: Decimal | None = None
    max_venue_exposure: Decimal | None = None
    max_total_exposure: Decimal | None = None
    daily_loss_limit: Decimal | None = None  # positive number: trip when today's P&L <= -limit
    slots: int = 4
    isolate_triangle: bool = True
    isolate_pairs: bool = True
    isolate_primary_quote: bool = False
    isolate_mapping: bool = True
    order_rate: dict[str, RateLimit] = msgspec.field(default_factory=dict)  # venue value -> bucket
    # per strategy (Intent.strategy): its own concurrent executions and in-flight notional
    strategy_slots: dict[str, int] = msgspec.field(default_factory=dict)
    strategy_exposure: dict[str, Decimal] = msgspec.field(default_factory=dict)
    # value of one unit of a currency (or outcome share id) in the reference currency
    valuation: dict[str, Decimal] = msgspec.field(default_factory=lambda: dict(DEFAULT_VALUATION))


def limits_from_config(risk: Any) -> RiskLimits:
    """RiskLimits from the node configuration's ``[risk]`` table (arbkit.runtime.config.RiskConfig).
    Unset values keep the permissive defaults (the config refuses live trading while any is unset)."""
    iso = risk.isolation
    rates = {}
    for venue in ("polymarket", "kalshi", "kucoin"):
        n = getattr(risk.order_rate_limits, venue, None)
        if n:
            rates[venue] = RateLimit(capacity=int(n), per_second=Decimal(n))
    return RiskLimits(
        max_book_age_s=(risk.max_book_age_ms / 1000) if risk.max_book_age_ms else 2.0,
        max_signal_age_s=(risk.max_signal_age_ms / 1000) if risk.max_signal_age_ms else None,
        max_order_notional=risk.max_order_notional,
        max_market_exposure=risk.max_market_exposure,
        max_venue_exposure=risk.max_venue_exposure,
        max_total_exposure=risk.max_total_exposure,
        daily_loss_limit=risk.daily_loss_limit,
        slots=risk.max_concurrent_executions or 4,
        isolate_triangle=iso.same_triangle,
        isolate_pairs=iso.same_pair,
        isolate_mapping=iso.same_pair,
        isolate_primary_quote=iso.same_primary_quote,
        order_rate=rates,
        strategy_slots={n: b.slots for n, b in getattr(risk, "strategies", {}).items() if b.slots is not None},
        strategy_exposure={n: b.max_exposure for n, b in getattr(risk, "strategies", {}).items() if b.max_exposure is not None},
    )


class TokenBucket:
    """Tokens refill continuously on the clock's monotonic time. Integer-exact: the level is kept
    in token-nanoseconds x 1000 so no refill is lost to rounding between calls."""

    _UNIT = 1000 * NS  # one token

    def __init__(self, clock: Clock, capacity: int, per_second: Decimal) -> None:
        if capacity <= 0 or per_second <= 0:
            raise ValueError("a rate limit needs a positive capacity and refill rate")
        self._clock = clock
        self.capacity = capacity
        self._milli_per_s = int(per_second * 1000)
        if self._milli_per_s <= 0:
            raise ValueError("refill rate below 0.001 tokens/s")
        self._level = capacity * self._UNIT
        self._last = clock.monotonic_ns()

    def _refill(self) -> None:
        now = self._clock.monotonic_ns()
        if now > self._last:
            self._level = min(self.capacity * self._UNIT, self._level + (now - self._last) * self._milli_per_s)
            self._last = now

    @property
    def tokens(self) -> float:
        self._refill()
        return self._level / self._UNIT

    def available(self, n: int = 1) -> bool:
        self._refill()
        return self._level >= n * self._UNIT

    def take(self, n: int = 1, force: bool = False) -> bool:
        """Take ``n`` tokens; with ``force`` (hedges must go out) the bucket may go negative."""
        self._refill()
        if self._level >= n * self._UNIT or force:
            self._level -= n * self._UNIT
            return True
        return False
