"""Complete-set market making: rest bids on every outcome so that a filled set costs less than 1.

For one Polymarket binary market (YES and NO) or one multi-outcome event (the YES of every
outcome), a set of one share of each outcome pays exactly 1 (merged back into collateral, or at
resolution). The strategy quotes a bid on every outcome such that

    sum over outcomes of (bid + maker fee per share)  <=  1 - target_spread

so whatever mix of quotes fills, each completed set earns at least ``target_spread``. It emits
:class:`~arbkit.strategies.base.QuoteRequest` (the quotes it wants live), never orders: the quote
manager (:mod:`arbkit.execution.quotes`) keeps the venue's resting orders equal to them.

Pricing, per outcome, on the venue's tick grid (exact Decimal, :func:`quote_set`):

1. join the book one tick better than the best bid (``improve_ticks``), never at or through the
   best ask (the order is post-only: it must rest);
2. skew: an outcome holding unmatched shares (more than the sets it forms) is lowered by ``skew``
   per unmatched share; the other outcomes are raised by ``skew`` times the largest imbalance, to
   attract the fills that complete the sets;
3. the fresh-set budget: while the bids and their maker fees sum above ``1 - target_spread``, the
   heaviest (then the highest) outcome gives up a tick;
4. the completion budget: an outcome that would complete held shares may cost at most
   ``1 - target_spread`` minus what the held shares of the other outcomes cost (their average
   entry, fees included), so a skewed bid never completes a set below the target.

Sizes come from inventory: ``min(quote_size, max_position - position, max_unmatched - unmatched)``
rounded down to the increment. A full fill of every resting quote therefore lands at most at the
limits -- the quote manager replaces an order only after the old one is gone (cancel, then place),
so two orders of one outcome never rest together. An outcome at a limit gets no quote.

Single-sided inventory is unwound (an :class:`~arbkit.strategies.base.UnwindRequest`: IOC sell at
the best bid less ``unwind_slippage_ticks``) by any configured rule: ``unwind_after_s`` (time it
has been unmatched), ``unwind_loss`` (price: the best bid fell that far below its average entry),
``unwind_before_resolution_s`` (the market's ``resolves_at``).
"""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Callable, Iterable

import msgspec

from arbkit.core.enums import LiquiditySide, Side, Venue
from arbkit.core.fees import fee_for
from arbkit.core.instruments import Instrument
from arbkit.strategies.base import (
    BookUpdate,
    InventoryChange,
    Quote,
    QuoteRequest,
    StrategyBase,
    StrategyContext,
    UnwindRequest,
)
from arbkit.strategies.market_state import MarketView

ZERO = Decimal(0)
ONE = Decimal(1)
NS = 1_000_000_000
STRATEGY = "complete_set_mm"


# --- configuration ---------------------------------------------------------------------------


class MMMarket(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """One Polymarket binary market to quote (YES and NO; pairs merge back into collateral)."""

    condition_id: str
    yes_token_id: str
    no_token_id: str
    title: str = ""
    resolves_at: str | None = None  # ISO 8601 UTC; needed by unwind_before_resolution_s


class CompleteSetMMTable(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """``[strategies.complete_set_mm]``::

        [strategies.complete_set_mm]
        enabled = true
        target_spread = "0.02"       # every completed set costs at most 1 - this, maker fees included
        quote_size = "10"            # shares per quote
        max_position = "50"          # shares held of any one outcome (never exceeded)
        max_unmatched = "20"         # shares of one outcome beyond the sets it forms
        skew = "0.001"               # price moved per unmatched share
        events = []                  # Polymarket neg-risk event ids (the YES of every outcome)
        [[strategies.complete_set_mm.markets]]
        condition_id = "0x..."
        yes_token_id = "..."
        no_token_id = "..."
    """

    enabled: bool
    target_spread: Decimal
    quote_size: Decimal
    max_position: Decimal
    max_unmatched: Decimal
    skew: Decimal = ZERO
    improve_ticks: int = 1
    markets: list[MMMarket] = msgspec.field(default_factory=list)
    events: list[str] = msgspec.field(default_factory=list)
    venues: list[str] = msgspec.field(default_factory=lambda: ["polymarket"])
    # the quote manager
    min_quote_life_ms: int = 1000
    max_orders_per_s: Decimal = Decimal(5)  # places + cancels per venue (a burst of the same size)
    post_only: bool = True
    # merging filled pairs (Polymarket binary markets)
    merge: bool = True
    merge_min_sets: Decimal = ONE
    merge_cost: Decimal = Decimal("0.01")  # estimated collateral one merge transaction costs
    merge_max_cost_bps: Decimal = Decimal(100)  # merge only when merge_cost <= this share of the sets
    merge_rpc_url: str | None = None  # Polygon JSON-RPC (sim: the simulator's /rpc by default)
    # unwinding single-sided inventory
    unwind_after_s: float | None = None
    unwind_loss: Decimal | None = None
    unwind_before_resolution_s: float | None = None
    unwind_slippage_ticks: int = 0
    max_silence_ms: int | None = None  # allowed connection silence (default: risk.max_book_age_ms)


def validate_table(t: CompleteSetMMTable, cfg: Any, key: str) -> None:
    from arbkit.runtime.config import ConfigError

    k = key + "."
    if not ZERO < t.target_spread < ONE:
        raise ConfigError(k + "target_spread", f"must be in (0, 1), got {t.target_spread}")
    for name in ("quote_size", "max_position", "max_unmatched"):
        if getattr(t, name) <= 0:
            raise ConfigError(k + name, f"must be > 0, got {getattr(t, name)}")
    if t.max_unmatched > t.max_position:
        raise ConfigError(k + "max_unmatched", f"must be <= max_position ({t.max_position}), got {t.max_unmatched}")
    if t.skew < 0:
        raise ConfigError(k + "skew", f"must be >= 0, got {t.skew}")
    if not 0 <= t.improve_ticks <= 100:
        raise ConfigError(k + "improve_ticks", f"must be 0..100, got {t.improve_ticks}")
    if t.min_quote_life_ms < 0:
        raise ConfigError(k + "min_quote_life_ms", f"must be >= 0, got {t.min_quote_life_ms}")
    if t.max_orders_per_s <= 0:
        raise ConfigError(k + "max_orders_per_s", f"must be > 0, got {t.max_orders_per_s}")
    if t.venues != ["polymarket"]:
        raise ConfigError(k + "venues", f"complete-set market making quotes polymarket only, got {t.venues}")
    if t.merge_min_sets <= 0 or t.merge_cost < 0 or t.merge_max_cost_bps < 0:
        raise ConfigError(k + "merge_min_sets", "merge_min_sets must be > 0; merge_cost and merge_max_cost_bps >= 0")
    if t.unwind_after_s is not None and t.unwind_after_s <= 0:
        raise ConfigError(k + "unwind_after_s", f"must be > 0, got {t.unwind_after_s}")
    if t.unwind_loss is not None and t.unwind_loss <= 0:
        raise ConfigError(k + "unwind_loss", f"must be > 0, got {t.unwind_loss}")
    if t.unwind_slippage_ticks < 0:
        raise ConfigError(k + "unwind_slippage_ticks", f"must be >= 0, got {t.unwind_slippage_ticks}")
    for i, m in enumerate(t.markets):
        if not (m.condition_id.startswith("0x") and len(m.condition_id) == 66):
            raise ConfigError(f"{k}markets[{i}].condition_id", "must be 0x + 64 hex digits")
        if m.resolves_at is not None:
            try:
                _parse_time(m.resolves_at)
            except ValueError as exc:
                raise ConfigError(f"{k}markets[{i}].resolves_at", str(exc)) from None
    if t.unwind_before_resolution_s is not None and not any(m.resolves_at for m in t.markets):
        raise ConfigError(k + "unwind_before_resolution_s", "no market names its resolves_at")
    if t.enabled and not (t.markets or t.events):
        raise ConfigError(key, "enabled, but names no market ([[...markets]]) and no event (events)")
    if t.enabled and cfg.venues.polymarket is None:
        raise ConfigError(key, "enabled, but venues.polymarket is not configured")


def summary_line(t: CompleteSetMMTable, cfg: Any) -> str:
    rules = [r for r, on in (("time", t.unwind_after_s), ("price", t.unwind_loss),
                             ("before resolution", t.unwind_before_resolution_s)) if on is not None]
    return (f"complete_set_mm: {len(t.markets)} markets, {len(t.events)} events, target spread {t.target_spread}, "
            f"quote {t.quote_size}, max position {t.max_position}, max unmatched {t.max_unmatched}, skew {t.skew}, "
            f"min quote life {t.min_quote_life_ms} ms, {t.max_orders_per_s} orders/s, "
            f"merge {'on' if t.merge else 'off'}, unwind {', '.join(rules) or 'none (held to resolution)'}")


def _parse_time(text: str) -> int:
    d = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if d.tzinfo is None:
        raise ValueError(f"{text!r} names no time zone (use Z or +00:00)")
    return int(d.timestamp()) * NS


@dataclass(frozen=True)
class MMParams:
    target_spread: Decimal
    quote_size: Decimal
    max_position: Decimal
    max_unmatched: Decimal
    skew: Decimal = ZERO
    improve_ticks: int = 1


# --- the pure quote decision ------------------------------------------------------------------


def _ticks_up(x: Decimal, tick: Decimal) -> Decimal:
    return (x / tick).to_integral_value(ROUND_CEILING) * tick


def _ticks_down(x: Decimal, tick: Decimal) -> Decimal:
    return (x / tick).to_integral_value(ROUND_FLOOR) * tick


def _maker_fee(inst: Instrument, price: Decimal) -> Decimal:
    if inst.fee.kind == "none" or inst.fee.maker_rate == 0:
        return ZERO
    return fee_for(inst.fee, price, ONE, LiquiditySide.MAKER, Side.BUY)


def quote_set(insts: list[Instrument], tops: list[tuple[Decimal | None, Decimal | None]], pos: list[Decimal],
              cost: list[Decimal], p: MMParams) -> tuple[list[Quote | None], str]:
    """The bids for one set of outcomes (see the module docstring), and why some are missing.

    ``tops`` are (best bid, best ask) per outcome; ``pos`` the shares held; ``cost`` what they
    cost, fees included. Exact: every price is on its tick grid, every size on its increment."""
    n = len(insts)
    none: list[Quote | None] = [None] * n
    budget = ONE - p.target_spread
    sets = min(pos)
    unm = [q - sets for q in pos]
    heavy = max(unm)
    prices: list[Decimal] = []
    caps: list[Decimal] = []
    for inst, (bid, ask) in zip(insts, tops):
        if bid is None or ask is None:
            return none, f"{inst.id}: one-sided book"
        t = inst.tick_size
        cap = ask - t  # post-only: rest below the best ask
        caps.append(cap)
        prices.append(min(bid + t * p.improve_ticks, cap))
    if p.skew > 0 and heavy > 0:
        for i, inst in enumerate(insts):
            t = inst.tick_size
            if unm[i] > 0:
                prices[i] -= _ticks_up(p.skew * unm[i], t)
            else:
                prices[i] = min(prices[i] + _ticks_down(p.skew * heavy, t), caps[i])
    fees = any(i.fee.maker_rate for i in insts)

    def total_cost() -> Decimal:
        s = sum(prices, ZERO)
        return s + sum((_maker_fee(a, x) for a, x in zip(insts, prices)), ZERO) if fees else s

    # fresh-set budget: the heaviest, then the highest outcome gives up a tick until it fits
    total = total_cost()
    if total > budget and not fees and len({i.tick_size for i in insts}) == 1:
        t = insts[0].tick_size
        steps = int(((total - budget) / t).to_integral_value(ROUND_CEILING))
        order = sorted(range(n), key=lambda i: (unm[i], prices[i]), reverse=True)
        for k in range(steps):  # round robin from the heaviest/highest: an even split of the excess
            prices[order[k % n]] -= t
        total = total_cost()
    guard = 0
    while total > budget:
        i = max(range(n), key=lambda j: (unm[j], prices[j]))
        prices[i] -= insts[i].tick_size
        total = total_cost()
        guard += 1
        if guard > 100_000:
            return none, "no prices fit the budget"
    # completion budget: completing held shares must still earn the target
    if heavy > 0:
        for i, inst in enumerate(insts):
            if unm[i] > 0:
                continue
            others = sum(((cost[j] / pos[j]) if unm[j] > 0 and pos[j] > 0 else prices[j] + _maker_fee(insts[j], prices[j])
                          for j in range(n) if j != i), ZERO)
            cap = _ticks_down(budget - others - _maker_fee(inst, prices[i]), inst.tick_size)
            prices[i] = min(prices[i], cap)
    out: list[Quote | None] = []
    why = []
    for i, inst in enumerate(insts):
        size = min(p.quote_size, p.max_position - pos[i], p.max_unmatched - unm[i])
        size = inst.round_size(size) if size > 0 else ZERO
        px = prices[i]
        if px < inst.tick_size or px >= ONE:
            out.append(None)
            why.append(f"{inst.outcome or inst.id}: no price inside the budget")
            continue
        if size > 0:
            size = inst.signable_quantity(Side.BUY, size, px)
        if size <= 0:
            out.append(None)
            why.append(f"{inst.outcome or inst.id}: at its inventory limit")
            continue
        bad = inst.check_order(px, size)
        if bad:
            out.append(None)
            why.append(f"{inst.outcome or inst.id}: {bad}")
            continue
        out.append(Quote(inst, Side.BUY, px, size))
    return out, "; ".join(why)


# --- the hosted strategy ----------------------------------------------------------------------


@dataclass
class MMKey:
    """One set of outcomes quoted together."""

    key: str
    instruments: tuple[Instrument, ...]
    merge_market: str | None = None
    neg_risk: bool = False
    resolves_at_ns: int | None = None
    title: str = ""


@dataclass
class Held:
    qty: Decimal = ZERO
    cost: Decimal = ZERO  # fees included
    unmatched_since_ns: int = 0  # when this outcome last went from matched to unmatched


@dataclass
class MMConfig:
    params: MMParams
    max_silence_s: float = 2.0
    unwind_after_s: float | None = None
    unwind_loss: Decimal | None = None
    unwind_before_resolution_s: float | None = None
    unwind_slippage_ticks: int = 0


class CompleteSetMM(StrategyBase):
    name = STRATEGY
    timer_interval_s: float | None = 0.5

    def __init__(self, config: MMConfig, market: MarketView, keys: Iterable[MMKey], *,
                 clock_ns: Callable[[], int] = time.time_ns, table: CompleteSetMMTable | None = None) -> None:
        self.config = config
        self.table = table  # the quote manager's settings (rate, minimum life, merge) are read from it
        self.market = market
        self.clock_ns = clock_ns
        self.keys: dict[str, MMKey] = {k.key: k for k in keys}
        self.by_instrument: dict[str, list[str]] = {}
        for k in self.keys.values():
            for inst in k.instruments:
                self.by_instrument.setdefault(inst.id, []).append(k.key)
        self.held: dict[str, dict[str, Held]] = {k: {i.id: Held() for i in v.instruments} for k, v in self.keys.items()}
        self.last: dict[str, tuple] = {}  # key -> the quotes last asked for (no repeat of the same)
        self.resting: dict[str, tuple[Decimal, Decimal]] = {}  # instrument id -> (price, size) last asked for
        self.unwinding: set[tuple[str, str]] = set()
        self.retired: set[str] = set()
        self._silence_ns = int(config.max_silence_s * NS)
        self.decisions = 0
        self.requests = 0
        self.unwinds = 0
        self.reasons: dict[str, int] = {}

    def subscriptions(self) -> Iterable[str]:
        return list(self.by_instrument)

    # --- decisions -----------------------------------------------------------------------------

    def decide(self, key: str, now_ns: int) -> QuoteRequest:
        """The quotes one key wants now (empty with a reason when none may rest)."""
        self.decisions += 1
        k = self.keys[key]
        held = self.held[key]
        if key in self.retired:
            return self._req(k, (), "market resolved or closed")
        tops = []
        for inst in k.instruments:
            bad = self.market.untradeable(inst.id, now_ns, self._silence_ns)
            if bad:
                return self._req(k, (), f"book not tradeable: {bad}")
            book = self.market.book(inst.id)
            tops.append((self._others_best_bid(book, self.resting.get(inst.id)), book.best_ask_price()))
        quotes, why = quote_set(list(k.instruments), tops, [held[i.id].qty for i in k.instruments],
                                [held[i.id].cost for i in k.instruments], self.config.params)
        return self._req(k, tuple(q for q in quotes if q is not None), why or "book changed")

    @staticmethod
    def _others_best_bid(book: Any, own: tuple[Decimal, Decimal] | None) -> Decimal | None:
        """The best bid of everyone else: our own resting quote is taken out of its level, so the
        strategy never chases (improves on) itself."""
        if own is None:
            return book.best_bid_price()
        for tick, lots in book.levels(True, 3):
            px = book.price(tick)
            if px == own[0]:
                if book.size(lots) > own[1]:
                    return px
                continue
            return px
        return None

    def _req(self, k: MMKey, quotes: tuple[Quote, ...], reason: str) -> QuoteRequest:
        return QuoteRequest(key=k.key, instruments=k.instruments, quotes=quotes, reason=reason,
                            merge_market=k.merge_market, neg_risk=k.neg_risk, strategy=self.name)

    def _changed(self, req: QuoteRequest) -> bool:
        sig = tuple((q.instrument.id, q.price, q.size) for q in req.quotes)
        if self.last.get(req.key) == sig:
            return False
        self.last[req.key] = sig
        for inst in self.keys[req.key].instruments:  # what rests once the manager has done its work
            self.resting.pop(inst.id, None)
        for q in req.quotes:
            self.resting[q.instrument.id] = (q.price, q.size)
        self.requests += 1
        if not req.quotes:
            kind = req.reason.split(":")[0]
            self.reasons[kind] = self.reasons.get(kind, 0) + 1
        return True

    def on_book(self, update: BookUpdate) -> list[Any]:
        out: list[Any] = []
        for key in self.by_instrument.get(update.instrument_id, ()):
            req = self.decide(key, update.now_ns)
            if self._changed(req):
                out.append(req)
        return out

    def on_book_idle(self, instrument_id: str) -> None:
        for key in self.by_instrument.get(instrument_id, ()):
            self.last.pop(key, None)  # the manager cancels while idle: ask again once sending resumes

    def on_inventory(self, change: InventoryChange) -> list[Any]:
        held = self.held.get(change.key)
        if held is None or change.instrument_id not in held:
            return []
        h = held[change.instrument_id]
        before = self._unmatched(change.key)
        h.qty += change.delta_qty
        h.cost += change.delta_cost
        if h.qty <= 0:
            h.qty, h.cost = ZERO, ZERO
        after = self._unmatched(change.key)
        now = change.now_ns or self.clock_ns()
        for iid, u in after.items():
            if u > 0 and before.get(iid, ZERO) <= 0:
                held[iid].unmatched_since_ns = now
        if change.why in ("unwind", "unwind_done"):
            self.unwinding.discard((change.key, change.instrument_id))
        if change.why == "settled":
            self.retired.add(change.key)
        req = self.decide(change.key, now)
        return [req] if self._changed(req) else []

    def _unmatched(self, key: str) -> dict[str, Decimal]:
        held = self.held[key]
        sets = min(h.qty for h in held.values())
        return {iid: h.qty - sets for iid, h in held.items()}

    def on_timer(self, now_ns: int) -> list[Any]:
        """Unwind rules, then a fresh decision for every key (a quiet book still ages)."""
        cfg = self.config
        out: list[Any] = []
        for key, k in self.keys.items():
            if key in self.retired:
                continue
            held = self.held[key]
            for iid, u in self._unmatched(key).items():
                if u <= 0 or (key, iid) in self.unwinding:
                    continue
                h = held[iid]
                rule = ""
                book = self.market.book(iid)
                bid = book.best_bid_price() if book is not None else None
                if cfg.unwind_after_s is not None and now_ns - h.unmatched_since_ns >= cfg.unwind_after_s * NS:
                    rule = f"time: unmatched for {cfg.unwind_after_s} s"
                elif cfg.unwind_loss is not None and bid is not None and h.qty > 0 and bid <= h.cost / h.qty - cfg.unwind_loss:
                    rule = f"price: best bid {bid} is {cfg.unwind_loss} or more below the average entry"
                elif (cfg.unwind_before_resolution_s is not None and k.resolves_at_ns is not None
                      and now_ns >= k.resolves_at_ns - cfg.unwind_before_resolution_s * NS):
                    rule = f"before resolution: {cfg.unwind_before_resolution_s} s before it resolves"
                if not rule or bid is None:
                    continue
                inst = next(i for i in k.instruments if i.id == iid)
                limit = max(inst.tick_size, bid - inst.tick_size * cfg.unwind_slippage_ticks)
                qty = inst.round_size(u)
                if qty <= 0 or inst.check_order(limit, qty):
                    continue
                self.unwinding.add((key, iid))
                self.unwinds += 1
                out.append(UnwindRequest(key=key, instrument=inst, quantity=qty, limit_price=limit, reason=rule,
                                         strategy=self.name))
            req = self.decide(key, now_ns)
            if self._changed(req):
                out.append(req)
        return out

    def status(self) -> dict[str, Any]:
        inv = {}
        for key, held in self.held.items():
            q = {iid: str(h.qty) for iid, h in held.items() if h.qty}
            if q:
                inv[key] = q
        return {"keys": len(self.keys), "decisions": self.decisions, "quote_requests": self.requests,
                "unwinds": self.unwinds, "no_quote": dict(self.reasons), "inventory": inv}


def config_from_table(t: CompleteSetMMTable, risk: Any) -> MMConfig:
    silence = t.max_silence_ms or getattr(risk, "max_book_age_ms", None) or 2000
    return MMConfig(params=MMParams(target_spread=t.target_spread, quote_size=t.quote_size, max_position=t.max_position,
                                    max_unmatched=t.max_unmatched, skew=t.skew, improve_ticks=t.improve_ticks),
                    max_silence_s=silence / 1000, unwind_after_s=t.unwind_after_s, unwind_loss=t.unwind_loss,
                    unwind_before_resolution_s=t.unwind_before_resolution_s,
                    unwind_slippage_ticks=t.unwind_slippage_ticks)


async def build(table: CompleteSetMMTable, ctx: StrategyContext) -> CompleteSetMM:
    keys: list[MMKey] = []
    if Venue.POLYMARKET not in ctx.venues:
        ctx.note("complete_set_mm: venues.polymarket is not configured; nothing is quoted")
    else:
        for m in table.markets:
            try:
                yes, no = await ctx.metadata.market_instruments(Venue.POLYMARKET, {
                    "condition_id": m.condition_id, "yes_token": m.yes_token_id, "no_token": m.no_token_id, "title": m.title})
            except Exception as exc:  # noqa: BLE001 - one unreachable market must not stop the node
                ctx.note(f"complete_set_mm: market {m.condition_id[:12]} skipped: {type(exc).__name__}: {exc}")
                continue
            keys.append(MMKey(key=f"polymarket:market:{m.condition_id}", instruments=(yes, no),
                              merge_market=m.condition_id if table.merge else None, neg_risk=yes.neg_risk,
                              resolves_at_ns=_parse_time(m.resolves_at) if m.resolves_at else None, title=m.title))
        if table.events:
            from arbkit.strategies.complete_set import structural_problem

            try:
                events = await ctx.metadata.multi_outcome_events(Venue.POLYMARKET, event_ids=list(table.events))
            except Exception as exc:  # noqa: BLE001
                ctx.note(f"complete_set_mm: events unavailable: {type(exc).__name__}: {exc}")
                events = []
            for ev in events:
                why = structural_problem(ev)
                if why:  # the augmented guard: an incomplete set is never quoted as one
                    ctx.note(f"complete_set_mm: {ev.key} not quoted: {why}")
                    continue
                # the YES of every outcome: a set pays 1 at resolution (no CTF merge across markets)
                keys.append(MMKey(key=ev.key, instruments=tuple(o.yes for o in ev.outcomes), neg_risk=ev.neg_risk,
                                  title=ev.title))
    for k in keys:
        for inst in k.instruments:
            ctx.instruments[inst.id] = inst
    ctx.note(f"complete_set_mm: quoting {len(keys)} sets")
    return CompleteSetMM(config_from_table(table, ctx.risk), ctx.market, keys, clock_ns=ctx.clock_ns, table=table)
