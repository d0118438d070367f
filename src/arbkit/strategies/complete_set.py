"""Complete-set arbitrage on multi-outcome events.

In an event of which exactly one outcome resolves YES, one YES share of every outcome (a complete
set) pays exactly 1. When buying one of each costs less than 1 per set, fees included, there is an
edge; the set is held to resolution (or merged back to collateral by the settlement component).

Events come from the venues' metadata (:class:`~arbkit.strategies.base.MultiOutcomeEvent`):

* Polymarket neg-risk events (Gamma ``negRisk`` / ``enableNegRisk``): exhaustive by construction.
  **Augmented** events (``enableNegRisk`` AND ``negRiskAugmented``) have unnamed placeholder
  outcomes that may be clarified into a new winner and an "Other" whose meaning changes: such an
  event counts as complete only when every outcome including "Other" is in the set and no outcome
  is a placeholder (placeholders never count as outcomes) -- otherwise it is not traded.
* Kalshi events with ``mutually_exclusive`` (at most one market resolves YES) that the operator
  lists as exhaustive (``kalshi_events``): mutual exclusivity alone does not promise a winner.
* A Polymarket binary market's YES and NO share one book (a YES buy matches a NO buy), so a
  one-market "event" is never a complete-set opportunity: events need at least two markets and
  only the YES side of each market is bought.

On a book update of any outcome of an event the evaluator, synchronously and without I/O:

1. refuses when the event has an execution in flight, has not seen every book update after our
   last trade on it, or any outcome's book is stale, not live, crossed or on a dead connection;
2. sums the best YES asks (integers on the event's finest price grid): at or above 1 nothing can
   clear a positive threshold (the common case costs N lookups);
3. walks all N ask ladders together: the marginal cost of one more set changes only at a level
   boundary of some ladder, so every boundary (rounded down and up to the size every venue
   accepts) is a candidate, the walk stopping once the marginal sum reaches 1; the venues'
   minimums (size, notional at the worst level walked) give the smallest candidate;
4. prices each candidate exactly: walked notional plus each outcome's taker fee per level filled
   (:func:`arbkit.core.fees.fee_for` with the instrument's ``FeeSpec``); net profit = sets - cost -
   ``safety_margin_bps`` of the cost; a size qualifies when its net edge is at least
   ``min_edge_bps`` (bisection finds the largest qualifying size where the edge crosses the
   threshold inside a piece); the highest net profit wins;
5. shrinks the size to one every leg can sign exactly at its limit (``Instrument.signable_quantity``)
   and checks each leg against the venue's minimums.

The intent is N IOC limit buys of the same quantity (limit = worst level walked), PARALLEL,
``set_payout`` 1 (the engine's N-leg complete-set path: a short outcome unwinds the others), with
copies of every book, the event as isolation and stale-signal key.

Selling a held set when the YES bids sum above 1 is not done here: the engine reserves capital for
buys and has no held-inventory check for a sell leg, so it would need the settlement component's
position view first.
"""

from __future__ import annotations

import heapq
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, Callable, Iterable

import msgspec

from arbkit.core.enums import OrderType, Side, TimeInForce, Venue
from arbkit.core.ids import new_correlation_id
from arbkit.core.instruments import Instrument
from arbkit.execution.intent import BookTop, HedgePolicy, Intent, IntentLeg, IntentTimestamps, IsolationKeys, Sequencing
from arbkit.strategies.base import BookUpdate, MultiOutcomeEvent, StrategyBase, StrategyContext
from arbkit.strategies.cross_venue import CrossVenueStrategy, _dec, _decimals, _grid, _Ladder, common_increment
from arbkit.strategies.market_state import MarketView

ZERO = Decimal(0)
ONE = Decimal(1)
BPS = Decimal(10_000)
NS = 1_000_000_000
STRATEGY = "complete_set"

log = logging.getLogger("arbkit.strategies.complete_set")


# --- configuration ---------------------------------------------------------------------------


class CompleteSetTable(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """``[strategies.complete_set]``::

        [strategies.complete_set]
        enabled = true
        min_edge_bps = "150"             # net edge after fees and the safety margin
        max_sets = "20"                  # sets per execution
        venues = ["polymarket"]          # polymarket (neg-risk events) and/or kalshi
        events = ["12345"]               # optional: only these Polymarket event ids (default: open neg-risk events)
        kalshi_events = ["KXFEDCHAIRNOM-26JUN30"]  # Kalshi mutually exclusive events known exhaustive
        max_events = 500                 # events followed
        max_locked = "2000"              # capital held in completed sets (stop buying above it)
    """

    enabled: bool
    min_edge_bps: Decimal
    max_sets: Decimal
    safety_margin_bps: Decimal = Decimal(0)
    venues: list[str] = msgspec.field(default_factory=lambda: ["polymarket"])
    events: list[str] | None = None
    kalshi_events: list[str] = msgspec.field(default_factory=list)
    max_events: int = 500
    min_outcomes: int = 2
    max_outcomes: int = 30
    max_levels: int = 20
    max_locked: Decimal | None = None
    leg_timeout_ms: int | None = None
    hedge_policy: str | None = None  # market | chase | hold (default: execution.hedge_policy)
    hedge_chase_seconds: float | None = None
    hedge_max_slippage_bps: Decimal | None = None
    hedge_timeout_ms: int | None = None
    hedge_max_attempts: int | None = None
    max_silence_ms: int | None = None  # allowed connection silence (default: risk.max_book_age_ms)


def validate_table(t: CompleteSetTable, cfg: Any, key: str) -> None:
    from arbkit.runtime.config import ConfigError

    k = key + "."
    if t.min_edge_bps < 0:
        raise ConfigError(k + "min_edge_bps", f"must be >= 0, got {t.min_edge_bps}")
    if t.safety_margin_bps < 0:
        raise ConfigError(k + "safety_margin_bps", f"must be >= 0, got {t.safety_margin_bps}")
    if t.max_sets <= 0:
        raise ConfigError(k + "max_sets", f"must be > 0, got {t.max_sets}")
    if t.max_locked is not None and t.max_locked <= 0:
        raise ConfigError(k + "max_locked", f"must be > 0, got {t.max_locked}")
    if not t.venues:
        raise ConfigError(k + "venues", "must name at least one venue (polymarket, kalshi)")
    for v in t.venues:
        if v not in ("polymarket", "kalshi"):
            raise ConfigError(k + "venues", f"complete sets trade on polymarket and kalshi, got {v!r}")
    if "kalshi" in t.venues and t.enabled and not t.kalshi_events:
        raise ConfigError(k + "kalshi_events", "kalshi is listed: name the mutually exclusive events known to be "
                                               "exhaustive (mutually_exclusive alone does not promise a winner)")
    if not 2 <= t.min_outcomes <= t.max_outcomes:
        raise ConfigError(k + "min_outcomes", f"must be >= 2 and <= max_outcomes, got {t.min_outcomes}..{t.max_outcomes}")
    if not 1 <= t.max_levels <= 100:
        raise ConfigError(k + "max_levels", f"must be 1..100, got {t.max_levels}")
    if t.max_events < 1:
        raise ConfigError(k + "max_events", f"must be >= 1, got {t.max_events}")
    if t.hedge_policy is not None and t.hedge_policy not in ("market", "chase", "hold"):
        raise ConfigError(k + "hedge_policy", f"must be one of market|chase|hold, got {t.hedge_policy!r}")
    for name in ("leg_timeout_ms", "hedge_timeout_ms", "hedge_max_attempts", "max_silence_ms"):
        val = getattr(t, name)
        if val is not None and val < 1:
            raise ConfigError(k + name, f"must be >= 1, got {val}")
    if t.hedge_max_slippage_bps is not None and not 0 < t.hedge_max_slippage_bps <= 10_000:
        raise ConfigError(k + "hedge_max_slippage_bps", f"must be in (0, 10000], got {t.hedge_max_slippage_bps}")
    if t.enabled and not any(getattr(cfg.venues, v) is not None for v in t.venues):
        raise ConfigError(key, f"enabled, but none of its venues ({', '.join(t.venues)}) is configured")


def summary_line(t: CompleteSetTable, cfg: Any) -> str:
    ev = "all open neg-risk events" if t.events is None else f"{len(t.events)} events"
    return (f"complete_set: {', '.join(t.venues)}, min edge {t.min_edge_bps} bps, up to {t.max_sets} sets, "
            f"{ev} (at most {t.max_events}), {t.min_outcomes}-{t.max_outcomes} outcomes, "
            f"capital locked cap {t.max_locked if t.max_locked is not None else 'none'}"
            + (f", kalshi events {', '.join(t.kalshi_events)}" if "kalshi" in t.venues else ""))


@dataclass(frozen=True)
class CompleteSetConfig:
    min_edge_bps: Decimal = Decimal(50)
    max_sets: Decimal = Decimal(20)
    safety_margin_bps: Decimal = ZERO
    max_levels: int = 20
    snapshot_depth: int = 10
    max_silence_s: float = 2.0
    leg_timeout_s: float = 5.0
    hedge: HedgePolicy = HedgePolicy()
    min_outcomes: int = 2
    max_outcomes: int = 30
    max_locked: Decimal | None = None

    def __post_init__(self) -> None:
        if self.max_sets <= 0 or self.min_edge_bps < 0 or self.safety_margin_bps < 0:
            raise ValueError("max_sets must be positive; min_edge_bps and safety_margin_bps >= 0")


def config_from_table(t: CompleteSetTable, execution: Any, risk: Any) -> CompleteSetConfig:
    policy = t.hedge_policy or getattr(execution.hedge_policy, "value", execution.hedge_policy)
    chase = t.hedge_chase_seconds if t.hedge_chase_seconds is not None else execution.chase_seconds
    hedge = HedgePolicy.from_config(SimpleNamespace(hedge_policy=policy, chase_seconds=chase),
                                    max_slippage_bps=t.hedge_max_slippage_bps or Decimal(200),
                                    timeout_s=(t.hedge_timeout_ms or 10_000) / 1000, max_attempts=t.hedge_max_attempts or 5)
    silence = t.max_silence_ms or risk.max_book_age_ms or 2000
    return CompleteSetConfig(min_edge_bps=t.min_edge_bps, max_sets=t.max_sets, safety_margin_bps=t.safety_margin_bps,
                             max_levels=t.max_levels, max_silence_s=silence / 1000,
                             leg_timeout_s=(t.leg_timeout_ms or execution.leg_timeout_ms) / 1000, hedge=hedge,
                             min_outcomes=t.min_outcomes, max_outcomes=t.max_outcomes, max_locked=t.max_locked)


# --- the evaluator ----------------------------------------------------------------------------


def structural_problem(ev: MultiOutcomeEvent, min_outcomes: int = 2, max_outcomes: int = 30) -> str:
    """Why an event can never be traded as a complete set ("" when it can)."""
    n = len(ev.outcomes)
    if n < 2:
        return ("a binary market's YES and NO share one book (a YES buy matches a NO buy): not a complete set"
                if ev.venue is Venue.POLYMARKET else "fewer than two outcomes")
    if not ev.exhaustive:
        return "not known to be exhaustive (some outcome must resolve YES)"
    if ev.venue is Venue.KALSHI and not ev.mutually_exclusive:
        return "not mutually exclusive"
    if ev.augmented:
        ph = [o.label for o in ev.outcomes if o.placeholder]
        if ph:
            return f"augmented neg-risk event with placeholder outcome(s) {', '.join(ph)}: the set is not complete"
        if not any(o.other for o in ev.outcomes):
            return "augmented neg-risk event without its Other outcome in the set"
    if len({o.yes.id for o in ev.outcomes}) != n:
        return "an outcome is listed twice"
    if ev.venue is Venue.POLYMARKET and len({o.yes.market_id or o.yes.id for o in ev.outcomes}) != n:
        return "two outcomes of one binary market: its YES and NO share one book (a YES buy matches a NO buy)"
    if not min_outcomes <= n <= max_outcomes:
        return f"{n} outcomes, outside {min_outcomes}..{max_outcomes}"
    return ""


@dataclass
class SetQuote:
    quantity: Decimal
    limits: list[Decimal]
    costs: list[Decimal]  # notional + fee per outcome
    fees: list[Decimal]
    margin: Decimal

    @property
    def cost(self) -> Decimal:
        return sum(self.costs, ZERO)

    @property
    def profit(self) -> Decimal:
        return self.quantity - self.cost

    @property
    def edge_bps(self) -> Decimal:
        return self.profit / self.cost * BPS


@dataclass
class SetDecision:
    event_key: str
    intent: Intent | None = None
    reason: str = ""
    quote: SetQuote | None = None


class CompleteSetEvaluator:
    """Pure evaluator: events + books -> at most one intent per event per update."""

    def __init__(self, config: CompleteSetConfig, market: MarketView, *, clock_ns: Callable[[], int] = time.time_ns,
                 id_factory: Callable[[], str] | None = None) -> None:
        self.config = config
        self.market = market
        self.clock_ns = clock_ns
        self.new_id = id_factory or (lambda: new_correlation_id("cs"))
        self.events: dict[str, MultiOutcomeEvent] = {}
        self.excluded: dict[str, str] = {}  # event key -> why it is never traded
        self.by_instrument: dict[str, list[str]] = {}
        self._inc: dict[str, Decimal] = {}
        self.in_flight: dict[str, str] = {}  # event key -> execution id
        self.last_trade_ns: dict[str, int] = {}  # event key -> when our last execution on it ended
        self._silence_ns = int(config.max_silence_s * NS)
        self.evaluations = 0
        self.reasons: dict[str, int] = {}

    def set_events(self, events: Iterable[MultiOutcomeEvent]) -> None:
        self.events, self.excluded, self.by_instrument, self._inc = {}, {}, {}, {}
        for ev in events:
            why = structural_problem(ev, self.config.min_outcomes, self.config.max_outcomes)
            if why:
                self.excluded[ev.key] = why
                continue
            self.events[ev.key] = ev
            inc = ev.outcomes[0].yes.size_increment
            for o in ev.outcomes:
                self.by_instrument.setdefault(o.yes.id, []).append(ev.key)
                inc = common_increment(inc, o.yes.size_increment)
            self._inc[ev.key] = inc

    def _skip(self, d: SetDecision, reason: str, kind: str) -> SetDecision:
        d.reason = reason
        self.reasons[kind] = self.reasons.get(kind, 0) + 1
        return d

    def on_book_update(self, instrument_id: str, now_ns: int | None = None, *, socket_arrival_ns: int = 0,
                       correlation_id: str = "") -> list[Intent]:
        keys = self.by_instrument.get(instrument_id)
        if not keys:
            return []
        now = self.clock_ns() if now_ns is None else now_ns
        out = []
        for k in keys:
            d = self.evaluate(self.events[k], now, socket_arrival_ns=socket_arrival_ns, correlation_id=correlation_id)
            if d.intent is not None:
                out.append(d.intent)
        return out

    def evaluate(self, ev: MultiOutcomeEvent, now_ns: int, *, socket_arrival_ns: int = 0, correlation_id: str = "",
                 emit: bool = True) -> SetDecision:
        self.evaluations += 1
        d = SetDecision(ev.key)
        why = structural_problem(ev, self.config.min_outcomes, self.config.max_outcomes)
        if why:  # set_events excludes these; checked again so no caller can trade one
            return self._skip(d, why, "structure")
        if ev.key in self.in_flight:
            return self._skip(d, f"execution {self.in_flight[ev.key]} in flight", "in_flight")
        if any(not o.tradeable for o in ev.outcomes):
            return self._skip(d, "the venue does not accept orders on every outcome", "closed")
        books = []
        for o in ev.outcomes:
            bad = self.market.untradeable(o.yes.id, now_ns, self._silence_ns)
            if bad:
                return self._skip(d, bad, "stale" if "stale" in bad else "book")
            books.append(self.market.book(o.yes.id))
        ended = self.last_trade_ns.get(ev.key)
        if ended is not None:
            if any(b.last_update_ns <= ended for b in books):
                return self._skip(d, "waiting for every book to update after our last trade on this event", "cooldown")
            del self.last_trade_ns[ev.key]
        q, why = self.best(ev, books)
        if q is None:
            return self._skip(d, why or "no edge at or above the threshold", "minimum" if why.startswith("minimum") else "no_edge")
        d.quote = q
        if emit:
            d.intent = self._intent(ev, q, books, now_ns, socket_arrival_ns, correlation_id)
            self.execution_started(d.intent.execution_id, ev.key)
        return d

    def execution_started(self, execution_id: str, event_key: str) -> None:
        self.in_flight[event_key] = execution_id

    def execution_finished(self, execution_id: str, *, traded: bool = True, now_ns: int | None = None) -> None:
        for k, eid in list(self.in_flight.items()):
            if eid == execution_id:
                del self.in_flight[k]
                if traded:
                    self.last_trade_ns[k] = self.clock_ns() if now_ns is None else now_ns

    def best(self, ev: MultiOutcomeEvent, books: list[Any]) -> tuple[SetQuote | None, str]:
        """The qualifying number of sets with the highest net profit (see the module docstring)."""
        cfg = self.config
        insts = [o.yes for o in ev.outcomes]
        grids = [_grid(b) for b in books]
        pd = max(g[0] for g in grids)
        one = 10**pd
        top = 0
        for b, (gd, tu) in zip(books, grids):
            a = b.best_ask()
            if a is None:
                return None, "no asks"
            top += a[0] * tu * 10 ** (pd - gd)
        if cfg.min_edge_bps > 0 and top >= one:
            return None, ""  # the best asks already cost 1 or more per set
        inc = self._inc.get(ev.key) or insts[0].size_increment
        sd = max(max(b.size_digits for b in books), _decimals(inc))
        inc_l = int(inc.scaleb(sd))
        max_l = int(cfg.max_sets.scaleb(sd)) // inc_l * inc_l
        ladders = [_Ladder(b, i, cfg.max_levels, pd, sd) for b, i in zip(books, insts)]
        for lad in ladders:
            lad.extend(0)
        # merged walk over every ladder's level boundaries (a heap of next boundaries)
        idx = [0] * len(ladders)
        marginal = sum(lad.prices[0] for lad in ladders)
        heap = [(lad.cum[0], i) for i, lad in enumerate(ladders)]
        heapq.heapify(heap)
        sizes: list[int] = []
        stop = max_l
        while True:
            if marginal >= one:
                stop = max((lad.cum[idx[i] - 1] if idx[i] else 0) for i, lad in enumerate(ladders))
                break
            nxt = min(heap[0][0], max_l)
            lo = nxt // inc_l * inc_l
            sizes.append(lo)
            if lo != nxt and lo + inc_l <= max_l:
                sizes.append(lo + inc_l)
            if nxt >= max_l:
                break
            exhausted = False
            while heap and heap[0][0] == nxt:
                _, i = heapq.heappop(heap)
                lad = ladders[i]
                if not lad.extend(idx[i] + 1):
                    exhausted = True  # this outcome has no more depth: no larger size fills
                    break
                marginal += lad.prices[idx[i] + 1] - lad.prices[idx[i]]
                idx[i] += 1
                heapq.heappush(heap, (lad.cum[idx[i]], i))
            if exhausted:
                stop = nxt
                break
        q_min = max(max(CrossVenueStrategy._min_lots(inst, lad, inc_l, sd, pd) for inst, lad in zip(insts, ladders)), inc_l)
        if q_min > max_l:
            return None, f"minimum: smallest size every outcome accepts ({_dec(q_min, sd)}) exceeds max_sets"
        sizes.append(q_min)
        if stop < max_l:
            sizes.append(-(-stop // inc_l) * inc_l)
        cands = sorted({x for x in sizes if q_min <= x <= max_l})
        scale = pd + sd
        threshold = cfg.min_edge_bps

        def price(q: int) -> tuple[Decimal, list, Decimal, bool] | None:
            parts = []
            notional = 0
            fees = ZERO
            for lad in ladders:
                c = lad.cost(q)
                if c is None:
                    return None
                parts.append(c)
                notional += c[0]
                fees += c[1]
            cost = _dec(notional, scale) + fees
            margin = cost * cfg.safety_margin_bps / BPS
            net = _dec(q, sd) - cost - margin
            return net, parts, margin, net * BPS >= threshold * cost

        best: tuple[Decimal, int, list, Decimal] | None = None
        prev: tuple[int, Any] | None = None
        for q in cands:
            r = price(q)
            if r is None:
                break
            if not r[3] and prev is not None and prev[1][3] and r[0] > prev[1][0]:
                lo_q, hi_q = prev[0], q
                while hi_q - lo_q > inc_l:
                    mid = (lo_q + hi_q) // 2 // inc_l * inc_l
                    if mid <= lo_q:
                        mid = lo_q + inc_l
                    rm = price(mid)
                    if rm is not None and rm[3]:
                        lo_q = mid
                        if best is None or rm[0] > best[0]:
                            best = (rm[0], mid, rm[1], rm[2])
                    else:
                        hi_q = mid
            if r[3] and (best is None or r[0] > best[0]):
                best = (r[0], q, r[1], r[2])
            prev = (q, r)
        if best is None:
            return None, ""
        net, q, parts, margin = best
        qty = _dec(q, sd)
        limits = [lad.price(p[2]) for lad, p in zip(ladders, parts)]
        exact = min(inst.signable_quantity(Side.BUY, qty, lim) for inst, lim in zip(insts, limits))
        if exact < qty:
            q2 = int(exact.scaleb(sd)) // inc_l * inc_l
            r2 = price(q2) if q2 >= q_min else None
            if r2 is None or not r2[3]:
                return None, f"minimum: {qty} sets cannot be signed exactly at the walked limits and {_dec(q2, sd)} does not qualify"
            net, q, parts, margin = r2[0], q2, r2[1], r2[2]
            qty = _dec(q, sd)
            limits = [lad.price(p[2]) for lad, p in zip(ladders, parts)]
            if min(inst.signable_quantity(Side.BUY, qty, lim) for inst, lim in zip(insts, limits)) < qty:
                return None, f"minimum: no size every outcome takes exactly near {qty}"
        for inst, lim in zip(insts, limits):
            bad = inst.check_order(lim, qty)
            if bad:  # q_min makes this unreachable; kept so a wrong minimum can never be sent
                return None, f"minimum: {inst.id}: {bad} at {qty} sets"
        costs = [_dec(p[0], scale) + p[1] for p in parts]
        return SetQuote(qty, limits, costs, [p[1] for p in parts], margin), ""

    def _intent(self, ev: MultiOutcomeEvent, q: SetQuote, books: list[Any], now_ns: int, socket_arrival_ns: int,
                correlation_id: str) -> Intent:
        cfg = self.config
        eid = self.new_id()
        tops = [BookTop.from_book(o.yes.id, b, cfg.snapshot_depth) for o, b in zip(ev.outcomes, books)]
        confirmed = getattr(self.market, "confirmed_ns", None)
        if confirmed is not None:  # a quiet book on a live connection is current (see cross_venue)
            tops = [msgspec.structs.replace(t, last_update_ns=max(t.last_update_ns, confirmed(t.instrument_id, now_ns)))
                    for t in tops]
        legs = [IntentLeg(instrument=o.yes, side=Side.BUY, price=lim, quantity=q.quantity, order_type=OrderType.LIMIT,
                          time_in_force=TimeInForce.IOC) for o, lim in zip(ev.outcomes, q.limits)]
        return Intent(
            execution_id=eid, legs=legs, sequencing=Sequencing.PARALLEL, hedge=cfg.hedge, books=tops,
            predicted_edge_bps=q.edge_bps.quantize(Decimal("0.01")), predicted_profit=q.profit,
            primary_quote=ev.outcomes[0].yes.quote, correlation_id=correlation_id or eid,
            timestamps=IntentTimestamps(socket_arrival_ns=socket_arrival_ns,
                                        book_updated_ns=max(b.last_update_ns for b in books),
                                        evaluated_ns=now_ns, created_ns=self.clock_ns()),
            isolation=IsolationKeys(mapping=ev.key, pairs=tuple(o.yes.id for o in ev.outcomes)),
            strategy=STRATEGY, signal_key=ev.key, leg_timeout_s=cfg.leg_timeout_s, set_payout=ONE,
        )


# --- the hosted strategy ----------------------------------------------------------------------


@dataclass
class HeldSets:
    """Completed sets of one event held to resolution: capital locked until then."""

    event_key: str
    title: str
    sets: Decimal = ZERO
    cost: Decimal = ZERO  # what was paid for them, fees included (the capital locked)


class CompleteSetStrategy(StrategyBase):
    name = STRATEGY

    def __init__(self, evaluator: CompleteSetEvaluator, config: CompleteSetConfig) -> None:
        self.evaluator = evaluator
        self.config = config
        self.held: dict[str, HeldSets] = {}
        self._event_of: dict[str, str] = {}  # execution id -> event key

    def subscriptions(self) -> Iterable[str]:
        return list(self.evaluator.by_instrument)

    @property
    def locked(self) -> Decimal:
        return sum((h.cost for h in self.held.values()), ZERO)

    def on_book(self, update: BookUpdate) -> list[Intent]:
        if self.config.max_locked is not None and self.locked >= self.config.max_locked:
            return []  # the capital cap for sets held to resolution is reached
        intents = self.evaluator.on_book_update(update.instrument_id, update.now_ns, socket_arrival_ns=update.socket_arrival_ns,
                                                correlation_id=update.correlation_id)
        for i in intents:
            self._event_of[i.execution_id] = i.signal_key
        return intents

    # --- markets listed / resolved while the node runs (the market finder) ----------------------

    def _event_keys_of(self, venue: Venue, event_id: str = "", market_ids: Iterable[str] = ()) -> list[str]:
        mids = set(market_ids)
        return [k for k, ev in self.evaluator.events.items() if ev.venue is venue
                and ((event_id and ev.event_id == event_id) or any(o.yes.market_id in mids for o in ev.outcomes))]

    def select_market(self, listing: Any) -> bool:
        """A new market in an event we trade: its set of outcomes grew (an augmented event's
        clarified placeholder, a new candidate), so what we buy as a set is no longer complete."""
        known = {o.yes.market_id for k in self._event_keys_of(listing.venue, listing.event_id) for o in self.evaluator.events[k].outcomes}
        return bool(self._event_keys_of(listing.venue, listing.event_id)) and listing.market_id not in known

    def add_market(self, listing: Any, yes: Any, no: Any) -> None:
        self._stop_events(self._event_keys_of(listing.venue, listing.event_id),
                          f"outcome {listing.title or listing.market_id!r} was listed: the set of outcomes grew "
                          "(re-read the event to trade it again)")

    def retire_market(self, venue: Venue, market_id: str, instrument_ids: list[str]) -> None:
        """An outcome of an event we trade resolved: the event is not traded as a set any more."""
        self._stop_events(self._event_keys_of(venue, market_ids=[market_id]), f"outcome {market_id} resolved")

    def _stop_events(self, keys: list[str], why: str) -> None:
        ev = self.evaluator
        for k in keys:
            if k not in ev.events:
                continue
            del ev.events[k]
            ev.excluded[k] = why
            for iid in list(ev.by_instrument):
                ev.by_instrument[iid] = [x for x in ev.by_instrument[iid] if x != k]
                if not ev.by_instrument[iid]:
                    del ev.by_instrument[iid]
            log.warning("complete_set: %s not traded any more: %s", k, why)

    def on_execution_finished(self, execution_id: str, report: Any | None, *, denied: str = "") -> None:
        key = self._event_of.pop(execution_id, None)
        self.evaluator.execution_finished(execution_id, traded=not denied)
        if report is None or key is None:
            return
        sets, cost = sets_of(report)
        if sets > 0:
            ev = self.evaluator.events.get(key)
            h = self.held.setdefault(key, HeldSets(key, ev.title if ev else key))
            h.sets += sets
            h.cost += cost

    def status(self) -> dict[str, Any]:
        ev = self.evaluator
        return {"events": len(ev.events), "excluded": len(ev.excluded),
                "excluded_why": dict(list(ev.excluded.items())[:20]), "evaluations": ev.evaluations,
                "skips": dict(ev.reasons), "in_flight": len(ev.in_flight),
                "sets_held": {h.event_key: str(h.sets) for h in self.held.values()},
                "capital_locked": str(self.locked)}


def sets_of(report: Any) -> tuple[Decimal, Decimal]:
    """(complete sets still held, their cost) from an execution report: per outcome, bought minus
    unwound; the sets are the smallest of those; the cost is the buys' notional and fees minus the
    unwinds' proceeds, for the share of each outcome that forms sets."""
    net: dict[int, Decimal] = {}
    spent: dict[int, Decimal] = {}
    for lg in report.legs:
        px = lg.avg_price or ZERO
        if lg.side is Side.BUY:
            net[lg.leg_index] = net.get(lg.leg_index, ZERO) + lg.filled_quantity
            spent[lg.leg_index] = spent.get(lg.leg_index, ZERO) + lg.filled_quantity * px + lg.fee
        else:
            net[lg.leg_index] = net.get(lg.leg_index, ZERO) - lg.filled_quantity
            spent[lg.leg_index] = spent.get(lg.leg_index, ZERO) - lg.filled_quantity * px + lg.fee
    if not net:
        return ZERO, ZERO
    sets = min(net.values())
    if sets <= 0:
        return ZERO, ZERO
    cost = sum((spent[i] * sets / net[i] for i in net if net[i] > 0), ZERO)
    return sets, cost


async def build(table: CompleteSetTable, ctx: StrategyContext) -> CompleteSetStrategy:
    cfg = config_from_table(table, ctx.execution, ctx.risk)
    evaluator = CompleteSetEvaluator(cfg, ctx.market, clock_ns=ctx.clock_ns)
    events: list[MultiOutcomeEvent] = []
    for name in table.venues:
        venue = Venue(name)
        if venue not in ctx.venues:
            ctx.note(f"complete_set: venues.{name} is not configured; its events are not traded")
            continue
        ids = table.events if venue is Venue.POLYMARKET else table.kalshi_events
        try:
            got = await ctx.metadata.multi_outcome_events(venue, event_ids=ids, limit=table.max_events)
        except Exception as exc:  # noqa: BLE001 - an unreachable venue must not stop the other strategies
            ctx.note(f"complete_set: {name} events unavailable: {type(exc).__name__}: {exc}")
            continue
        events.extend(got[: table.max_events - len(events)])
    evaluator.set_events(events)
    for ev in evaluator.events.values():
        for o in ev.outcomes:
            ctx.engine_instruments[o.yes.id] = o.yes
            if o.no is not None:
                ctx.engine_instruments[o.no.id] = o.no
    ctx.note(f"complete_set: {len(evaluator.events)} events followed"
             + (f", {len(evaluator.excluded)} not traded" if evaluator.excluded else ""))
    for key, why in list(evaluator.excluded.items())[:10]:
        ctx.note(f"complete_set: {key} not traded: {why}")
    return CompleteSetStrategy(evaluator, cfg)
