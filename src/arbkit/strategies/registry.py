"""The strategies this build has, by the name a config table uses (``[strategies.NAME]``).

Each :class:`StrategySpec` declares the typed table (a msgspec Struct that forbids unknown keys),
how a raw TOML table becomes it (``decode``, for spellings beyond plain conversion), the semantic
checks that need the whole configuration (``validate``), the venues it trades (``config check``
warns when one is not configured), a one-line summary, and its factory
(``"module:function"``, an ``async (table, StrategyContext) -> Strategy``; imported only when the
node builds it, so ``config check`` never loads a strategy's dependencies).

:mod:`arbkit.runtime.config` reads this registry for the ``[strategies]`` tables; adding a strategy
is one entry here plus its module.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class StrategySpec:
    name: str
    description: str
    table: Callable[[], type]  # the typed config struct (lazy: avoids import cycles with runtime.config)
    factory: str  # "module:function" -> async (table, ctx) -> Strategy
    venues: Callable[[Any], tuple[str, ...]]  # venue names the enabled strategy trades
    decode: Callable[[dict[str, Any], str], Any] | None = None  # raw table, key -> typed table (default: generic)
    validate: Callable[[Any, Any, str], None] | None = None  # (table, whole Config, key): raise ConfigError
    summary: Callable[[Any, Any], str] | None = None  # (table, whole Config) -> config check line

    def load_factory(self) -> Callable[..., Any]:
        mod, fn = self.factory.split(":")
        return getattr(importlib.import_module(mod), fn)


def _cross_venue_table() -> type:
    from arbkit.runtime.config import CrossVenueConfig

    return CrossVenueConfig


def _triangular_table() -> type:
    from arbkit.runtime.config import TriangularTableConfig

    return TriangularTableConfig


def _complete_set_table() -> type:
    from arbkit.strategies.complete_set import CompleteSetTable

    return CompleteSetTable


def _complete_set_mm_table() -> type:
    from arbkit.strategies.complete_set_mm import CompleteSetMMTable

    return CompleteSetMMTable


def _validate_complete_set_mm(table: Any, cfg: Any, key: str) -> None:
    from arbkit.strategies.complete_set_mm import validate_table

    validate_table(table, cfg, key)


def _summary_complete_set_mm(table: Any, cfg: Any) -> str:
    from arbkit.strategies.complete_set_mm import summary_line

    return summary_line(table, cfg)


def _decode_triangular(raw: dict[str, Any], key: str) -> Any:
    from arbkit.runtime.config import _build_triangular

    return _build_triangular(raw, key)


def _validate_cross_venue(table: Any, cfg: Any, key: str) -> None:
    from arbkit.runtime.config import _validate_cross_venue as v

    v(table, cfg, key)


def _validate_triangular(table: Any, cfg: Any, key: str) -> None:
    from arbkit.runtime.config import _validate_triangular as v

    v(table, cfg, key)


def _validate_complete_set(table: Any, cfg: Any, key: str) -> None:
    from arbkit.strategies.complete_set import validate_table

    validate_table(table, cfg, key)


def _summary_cross_venue(table: Any, cfg: Any) -> str:
    from arbkit.runtime.config import _summary_cross_venue as s

    return s(table, cfg)


def _summary_triangular(table: Any, cfg: Any) -> str:
    from arbkit.runtime.config import _summary_triangular as s

    return s(table, cfg)


def _summary_complete_set(table: Any, cfg: Any) -> str:
    from arbkit.strategies.complete_set import summary_line

    return summary_line(table, cfg)


def _complete_set_venues(table: Any) -> tuple[str, ...]:
    return tuple(table.venues)


REGISTRY: dict[str, StrategySpec] = {
    s.name: s
    for s in (
        StrategySpec("cross_venue", "Polymarket <-> Kalshi binary arbitrage on approved mappings",
                     _cross_venue_table, "arbkit.strategies.adapters:build_cross_venue",
                     venues=lambda t: ("polymarket", "kalshi"), validate=_validate_cross_venue,
                     summary=_summary_cross_venue),
        StrategySpec("triangular", "KuCoin triangular arbitrage (3-leg cascades)",
                     _triangular_table, "arbkit.strategies.adapters:build_triangular",
                     venues=lambda t: ("kucoin",), decode=_decode_triangular, validate=_validate_triangular,
                     summary=_summary_triangular),
        StrategySpec("complete_set", "complete sets on multi-outcome events (Polymarket neg-risk, Kalshi mutually exclusive)",
                     _complete_set_table, "arbkit.strategies.complete_set:build",
                     venues=_complete_set_venues, validate=_validate_complete_set, summary=_summary_complete_set),
        StrategySpec("complete_set_mm", "complete-set market making: bids on every outcome, filled pairs merged (Polymarket)",
                     _complete_set_mm_table, "arbkit.strategies.complete_set_mm:build",
                     venues=_complete_set_venues, validate=_validate_complete_set_mm, summary=_summary_complete_set_mm),
    )
}


def names() -> list[str]:
    """Strategy names this build has, in registry order."""
    return list(REGISTRY)


def get(name: str) -> StrategySpec | None:
    return REGISTRY.get(name)
