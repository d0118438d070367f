"""Kalshi's market / event / series metadata for the simulated venue.

Built from the engine's markets (``MarketSpec``; the engine's market id IS the Kalshi market
ticker) plus, where the scenario provides it, the market's ``venue_meta`` (ticker, event and
series tickers, titles, rules, times, ``price_level_structure``...). Anything the scenario leaves
out gets a plain, deterministic default, so a bare engine market is still a complete Kalshi market.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable

from arbkit.sim.kalshi.fees import TAKER_RATE
from arbkit.sim.kalshi.fixed import PRICE_LEVEL_STRUCTURES, FixedPointError, structure_for_tick

# Deterministic ids (the venue's market_id / user_id are uuids): uuid5 under a fixed namespace.
_NS = uuid.UUID("6b1f4a52-6a0e-4a1e-9a55-4b6c616c7368")


def stable_uuid(kind: str, key: str) -> str:
    return str(uuid.uuid5(_NS, f"{kind}:{key}"))


@dataclass(slots=True)
class KalshiMarketInfo:
    ticker: str
    event_ticker: str
    series_ticker: str
    market_id: str  # the venue's market uuid (WS ``market_id``)
    title: str
    subtitle: str
    yes_sub_title: str
    no_sub_title: str
    rules_primary: str
    rules_secondary: str
    open_time: str
    close_time: str
    expiration_time: str
    created_time: str
    price_level_structure: str
    fractional_trading_enabled: bool
    category: str
    event_title: str
    event_sub_title: str
    mutually_exclusive: bool


@dataclass(slots=True)
class KalshiSeriesInfo:
    ticker: str
    title: str
    category: str
    frequency: str
    fee_type: str
    fee_multiplier: int | float
    settlement_sources: list[dict[str, str]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def _meta_of(market: Any) -> dict[str, Any]:
    meta = getattr(market, "venue_meta", None)
    return dict(meta) if isinstance(meta, dict) else {}


def _fee_of(spec: Any) -> tuple[str, int | float]:
    """Series fee_type / fee_multiplier from the engine's FeeSpec."""
    fee = spec.fee
    if getattr(fee, "kind", "none") != "kalshi":
        return "quadratic", 0  # no fee model on this market: a zero multiplier says so honestly
    mult = Decimal(fee.multiplier)
    # The FeeSpec's taker_rate is the 0.07 base; a different base is folded into the multiplier.
    if fee.taker_rate and fee.taker_rate != TAKER_RATE:
        mult = mult * fee.taker_rate / TAKER_RATE
    fee_type = "quadratic_with_maker_fees" if fee.maker_rate else "quadratic"
    return fee_type, int(mult) if mult == mult.to_integral_value() else float(mult)


class Catalog:
    """Markets, events and series of the simulated Kalshi venue, in a stable order."""

    def __init__(self, specs: Iterable[Any], scenario_markets: Iterable[Any] = (), start_time: str = "2026-01-01T00:00:00Z") -> None:
        metas = {}
        for sm in scenario_markets:
            mid = getattr(sm, "market_id", None)
            if mid:
                metas[mid] = (sm, _meta_of(sm))
        self.markets: dict[str, KalshiMarketInfo] = {}
        self.series: dict[str, KalshiSeriesInfo] = {}
        self.events: dict[str, list[str]] = {}  # event ticker -> market tickers (catalogue order)
        self.start_time = start_time
        for spec in specs:
            sm, meta = metas.get(spec.market_id, (None, {}))
            self._add(spec, sm, meta, start_time)

    def add(self, spec: Any, sm: Any | None = None, *, open_time: str | None = None) -> KalshiMarketInfo:
        """A market listed while the venue runs (the scenario's listings); returns its info."""
        meta = _meta_of(sm) if sm is not None else {}
        return self._add(spec, sm, meta, open_time or self.start_time)

    def _add(self, spec: Any, sm: Any | None, meta: dict[str, Any], start_time: str) -> KalshiMarketInfo:
        ticker = meta.get("ticker") or spec.market_id
        event_ticker = meta.get("event_ticker") or spec.event_id or ticker.rsplit("-", 1)[0]
        series_ticker = meta.get("series_ticker") or event_ticker.split("-", 1)[0]
        structure = meta.get("price_level_structure")
        if structure is None:
            try:
                structure = structure_for_tick(spec.tick_size)
            except FixedPointError:
                structure = "linear_cent"
        if structure not in PRICE_LEVEL_STRUCTURES:
            raise ValueError(f"market {ticker}: unknown price_level_structure {structure!r}")
        title = meta.get("title") or getattr(sm, "title", "") or spec.title or ticker
        close_time = meta.get("close_time") or getattr(sm, "close_time", "") or "2099-12-31T00:00:00Z"
        info = KalshiMarketInfo(
            ticker=ticker,
            event_ticker=event_ticker,
            series_ticker=series_ticker,
            market_id=meta.get("market_id") or stable_uuid("market", ticker),
            title=title,
            subtitle=meta.get("subtitle", ""),
            yes_sub_title=meta.get("yes_sub_title") or getattr(sm, "outcome_label", "") or "Yes",
            no_sub_title=meta.get("no_sub_title") or "No",
            rules_primary=meta.get("rules_primary") or getattr(sm, "rules", "") or "",
            rules_secondary=meta.get("rules_secondary", ""),
            open_time=meta.get("open_time") or start_time,
            close_time=close_time,
            expiration_time=meta.get("expiration_time") or close_time,
            created_time=meta.get("created_time") or start_time,
            price_level_structure=structure,
            fractional_trading_enabled=bool(meta.get("fractional_trading_enabled", False)),
            category=meta.get("category") or "Economics",
            event_title=meta.get("event_title") or title,
            event_sub_title=meta.get("event_sub_title", ""),
            mutually_exclusive=bool(meta.get("mutually_exclusive", False)),
        )
        self.markets[ticker] = info
        self.events.setdefault(event_ticker, []).append(ticker)
        if series_ticker not in self.series:
            fee_type, mult = _fee_of(spec)
            src = meta.get("settlement_source") or getattr(sm, "resolution_source", "") or ""
            self.series[series_ticker] = KalshiSeriesInfo(
                ticker=series_ticker,
                title=meta.get("series_title") or info.event_title,
                category=info.category,
                frequency=meta.get("frequency", "custom"),
                # what the engine charges (its FeeSpec) decides; metadata only fills in otherwise
                fee_type=fee_type if spec.fee.kind == "kalshi" else meta.get("fee_type", fee_type),
                fee_multiplier=mult if spec.fee.kind == "kalshi" else meta.get("fee_multiplier", mult),
                settlement_sources=[{"name": src, "url": ""}] if src else [],
                tags=list(meta.get("tags", [])),
            )
        return info

    def market(self, ticker: str) -> KalshiMarketInfo | None:
        return self.markets.get(ticker)
