"""The cross-venue and triangular evaluators as hosted strategies (the host protocol of
:mod:`arbkit.strategies.base`), with their registry factories.

The evaluators themselves (:mod:`arbkit.strategies.cross_venue`, :mod:`arbkit.strategies.triangular`)
are unchanged; these wrappers only translate the host's callbacks into the calls the node used to
make: cross-venue emits every intent ``on_book_update`` returns and is told when each ends
(``traded=False`` on a risk denial, which skips the cooldown); triangular sends only the best
triangle per update (the others would share its dislocated pair and be refused by isolation) and
keeps its top-of-book cache current through ``note_book`` while nothing may be sent.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, Iterable

from arbkit.core.enums import Venue
from arbkit.core.instruments import Instrument
from arbkit.execution.intent import HedgePolicy, Intent
from arbkit.strategies.base import BookUpdate, StrategyBase, StrategyContext

log = logging.getLogger("arbkit.strategies")


class CrossVenueHosted(StrategyBase):
    name = "cross_venue"

    def __init__(self, evaluator: Any, ctx: StrategyContext, approved: list[Any]) -> None:
        self.evaluator = evaluator
        self.ctx = ctx
        self.approved = approved  # approved mappings bound to instruments (rebound on a tick change)

    @property
    def pairs(self) -> list[Any]:
        return list(self.evaluator.pairs.values())

    def subscriptions(self) -> Iterable[str]:
        return [iid for p in self.evaluator.pairs.values() for iid in p.instrument_ids]

    def on_book(self, update: BookUpdate) -> list[Intent]:
        return self.evaluator.on_book_update(update.instrument_id, update.now_ns, socket_arrival_ns=update.socket_arrival_ns,
                                             correlation_id=update.correlation_id, book_updated_ns=update.book_updated_ns)

    def on_execution_finished(self, execution_id: str, report: Any | None, *, denied: str = "") -> None:
        legs = getattr(report, "legs", None)
        filled = None if legs is None else {lg.venue for lg in legs if lg.filled_quantity > 0}
        self.evaluator.execution_finished(execution_id, traded=not denied, filled_venues=filled)

    def on_instruments_changed(self, instrument_ids: set[str]) -> None:
        """A venue changed a market's tick: rebind the pairs to the registry's instruments."""
        from arbkit.strategies.cross_venue import pair_from_mapping

        pairs = [pair_from_mapping(m, self.ctx.instruments) for m in self.approved]
        self.evaluator.set_pairs(pairs)

    def status(self) -> dict[str, Any]:
        ev = self.evaluator
        return {"mappings": len(ev.pairs), "evaluations": ev.evaluations, "skips": dict(ev.reasons),
                "in_flight": len(ev.in_flight)}


async def build_cross_venue(table: Any, ctx: StrategyContext) -> CrossVenueHosted:
    """Approved mappings -> instruments from the venues' metadata -> the evaluator's pairs."""
    from arbkit.strategies.cross_venue import CrossVenueStrategy, config_from_node, pair_from_mapping

    xcfg = config_from_node(table, ctx.execution, ctx.risk)
    ev = CrossVenueStrategy(xcfg, ctx.market, clock_ns=ctx.clock_ns)
    ev.on_cooldown = lambda rec: ctx.journal("cooldown", rec, str(rec["execution_id"]))
    hosted = CrossVenueHosted(ev, ctx, [])
    path = ctx.options.get("mappings_path")
    if path is None:
        ctx.note("cross_venue: no mapping store (--mappings): no pair to trade; arbkit mappings discover / approve make one")
        return hosted
    if Venue.POLYMARKET not in ctx.venues or Venue.KALSHI not in ctx.venues:
        ctx.note("cross-venue needs both polymarket and kalshi configured")
        return hosted
    from arbkit.mapping.store import MappingStore

    store = MappingStore(path)
    try:
        approved = store.approved()
    finally:
        store.close()
    if not approved:
        ctx.note(f"mapping store {path} has no approved mapping: no pair to trade (arbkit mappings list / approve)")
    pairs = []
    for m in approved:
        try:
            py, pn = await ctx.metadata.market_instruments(Venue.POLYMARKET, {
                "condition_id": m.poly_condition_id, "yes_token": m.poly_yes_token, "no_token": m.poly_no_token,
                "title": m.poly_title})
            ky, kn = await ctx.metadata.market_instruments(Venue.KALSHI, {"ticker": m.kalshi_ticker})
        except Exception as exc:  # noqa: BLE001 - one unreachable market must not stop the node
            ctx.note(f"mapping {m.id} skipped: {type(exc).__name__}: {exc}")
            log.warning("mapping %s skipped: %s", m.id, exc)
            continue
        for inst in (py, pn, ky, kn):
            ctx.instruments[inst.id] = inst
        pairs.append(pair_from_mapping(m, ctx.instruments))
        hosted.approved.append(m)
    ev.set_pairs(pairs)
    return hosted


class TriangularHosted(StrategyBase):
    name = "triangular"

    def __init__(self, evaluator: Any, ids: set[str]) -> None:
        self.evaluator = evaluator
        self.ids = ids  # instrument ids the triangles use (subscribed, routed here)
        self._key_of: dict[str, str] = {}  # execution id -> triangle key

    def subscriptions(self) -> Iterable[str]:
        return sorted(self.ids)

    def on_book(self, update: BookUpdate) -> list[Intent]:
        best = self.evaluator.best_decision(update.instrument_id, socket_arrival_ns=update.socket_arrival_ns)
        if best is None or best.intent is None:
            return []
        self._key_of[best.intent.execution_id] = best.triangle.key
        self.evaluator.execution_started(best.triangle.key)
        return [best.intent]

    def on_book_idle(self, instrument_id: str) -> None:
        self.evaluator.note_book(instrument_id)  # keep its top-of-book cache current; nothing is evaluated

    def on_execution_finished(self, execution_id: str, report: Any | None, *, denied: str = "") -> None:
        key = self._key_of.pop(execution_id, None)
        if key is not None:
            self.evaluator.execution_finished(key)

    def status(self) -> dict[str, Any]:
        return {"triangles": len(self.evaluator.index.triangles), "pairs": len(self.ids),
                "in_flight": len(self.evaluator.in_flight)}


async def build_triangular(table: Any, ctx: StrategyContext) -> TriangularHosted:
    from arbkit.strategies.triangular import TriangularConfig, TriangularStrategy

    if Venue.KUCOIN not in ctx.venues:
        raise RuntimeError("strategies.triangular is enabled but venues.kucoin is not configured")
    universe: list[Instrument] = ctx.metadata.spot_instruments(Venue.KUCOIN)
    e = table.effective(ctx.execution, ctx.risk)
    hedge = HedgePolicy.from_config(SimpleNamespace(hedge_policy=e["hedge_policy"], chase_seconds=e["hedge_chase_seconds"]),
                                    max_slippage_bps=Decimal(e["hedge_max_slippage_bps"]),
                                    timeout_s=e["hedge_timeout_ms"] / 1000, max_attempts=int(e["hedge_max_attempts"]))
    tcfg = TriangularConfig(start_currencies=tuple(table.start_currencies), max_start=table.max_start_decimal(),
                            min_edge_bps=table.min_edge_bps, depth=table.max_levels,
                            max_book_age_ns=int(e["max_book_age_ms"]) * 1_000_000,
                            leg_timeout_s=e["leg_timeout_ms"] / 1000, hedge=hedge)
    tri = TriangularStrategy(tcfg, universe, ctx.book_source(Venue.KUCOIN), tradeable=ctx.is_tradeable, clock_ns=ctx.clock_ns)
    used = set(tri.index.by_symbol)
    tri_insts = {i.id: i for i in universe if i.symbol in used}
    ctx.engine_instruments.update(tri_insts)  # traded, not shown with the prediction books
    ctx.note(f"triangular: {len(tri.index.triangles)} triangles over {len(tri_insts)} KuCoin pairs (of {len(universe)} loaded)")
    if not tri.index.triangles:
        ctx.note("triangular: no triangle over the configured pairs and start currencies")
    return TriangularHosted(tri, set(tri_insts))
