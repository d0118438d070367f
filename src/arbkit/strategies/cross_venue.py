"""Cross-venue binary arbitrage, Polymarket <-> Kalshi, on approved mappings only.

For a mapping, one share of "Polymarket YES" plus one share of "the Kalshi side that is Polymarket
NO" pays exactly 1 whatever happens (and the mirror: Polymarket NO + the Kalshi side that is
Polymarket YES). With polarity SAME the Kalshi side of Polymarket NO is Kalshi NO; with INVERTED it
is Kalshi YES. When buying both legs costs less than 1 per set, fees included, there is an edge.

On a book update of any of a mapping's four instruments (both outcomes on both venues) the
evaluator, synchronously and without I/O:

1. refuses if the mapping has an execution in flight, or if either leg's book is stale, not live,
   crossed, or its connection is not alive;
2. for both directions walks the two ask ladders together, level by level, while the marginal
   pair of prices is below 1, taking as size candidates every level boundary of either ladder
   (where the marginal cost per set changes), each rounded down and up to a size both venues
   accept (the same share count on both legs), and the configured maximum;
3. adds the smallest size both venues accept (min size, and the size whose notional at the worst
   level walked meets a min notional): each leg's acceptable sizes are an up-set, and past the walk's
   stop net profit never rises, so a minimum beyond the profitable depth is priced there;
4. at each candidate size prices both legs exactly: the walked notional plus each venue's fee
   (:func:`arbkit.core.fees.fee_for` with the instrument's ``FeeSpec``) per level filled;
5. net profit = sets - cost - safety margin (``safety_margin_bps`` of the cost); net edge (bps) =
   net profit / cost. A size qualifies when its net edge is **at least** ``min_edge_bps`` (exactly
   at the threshold trades). Where net profit still rises between two candidates but the edge
   falls through the threshold, the largest qualifying size in between is found by bisection.
   The qualifying size with the highest net profit wins (the smaller on a tie), and the better
   direction is emitted.

Exactness: without fee rounding net profit is piecewise linear between the candidates and the
choice equals a brute force over every size. Per-fill fee rounding (Kalshi up to the cent,
Polymarket to the micro-unit) makes profit a sawtooth inside a level; the evaluator then can miss
at most the rounding slack of each leg's last partial fill (< 1 cent + 1 micro-unit, times
1 + margin) -- pricing every size would cost a Decimal fee per size per update.

The intent is two IOC limit buys (limit = the worst level walked) of the same quantity, PARALLEL,
``set_payout`` 1, with copies of both books, predicted edge (after fees, before the safety margin:
what the fills should realise) and profit, primary quote USD, and the mapping as isolation key.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from math import gcd
from typing import Any, Callable, Iterable

import msgspec

from arbkit.core.enums import LiquiditySide, OrderType, Side, TimeInForce, Venue
from arbkit.core.fees import FeeSpec, fee_for
from arbkit.core.ids import new_correlation_id
from arbkit.core.instruments import Instrument
from arbkit.execution.intent import (
    BookTop,
    HedgePolicy,
    Intent,
    IntentLeg,
    IntentTimestamps,
    IsolationKeys,
    Sequencing,
)
from arbkit.mapping.store import Mapping, Polarity
from arbkit.strategies.market_state import MarketView

ZERO = Decimal(0)
ONE = Decimal(1)
BPS = Decimal(10_000)
NS = 1_000_000_000
STRATEGY = "cross_venue"


@dataclass(frozen=True)
class CrossVenueConfig:
    max_size: Decimal = Decimal(100)  # shares (= contracts) per intent, both legs
    min_edge_bps: Decimal = Decimal(50)  # net edge after fees and safety margin
    safety_margin_bps: Decimal = Decimal(10)  # of the cost, deducted before the threshold test
    max_book_age_s: float = 2.0  # default allowed silence of a book's connection (see market_state)
    max_levels: int = 20  # depth walked per book
    snapshot_depth: int = 10  # levels copied into the intent
    leg_timeout_s: float = 5.0
    hedge: HedgePolicy = HedgePolicy()
    # per-venue maximum silence of a book's connection (heartbeats, PONGs, any frame), seconds;
    # None = max_book_age_s. A live, unchanged book is fresh.
    max_silence_polymarket_s: float | None = None
    max_silence_kalshi_s: float | None = None
    # "parallel": both IOC legs at once; "sequential": the first leg, then the second sized to what
    # the first filled (the engine's Sequencing.SEQUENTIAL). first_leg: "auto" sends the leg on the
    # less liquid book first (less size at or better than its limit; Kalshi on a tie, the venue
    # whose order answers come back slower), or "polymarket" / "kalshi".
    two_leg_mode: str = "parallel"
    first_leg: str = "auto"
    # after an execution on a mapping ends: no new intent for cooldown_s, and none until both
    # venues' books of that mapping changed after it (our own fills must show in the books)
    cooldown_s: float = 0.0

    def max_silence_ns(self, venue: Venue) -> int:
        v = self.max_silence_polymarket_s if venue is Venue.POLYMARKET else self.max_silence_kalshi_s
        return int((v if v is not None else self.max_book_age_s) * NS)

    def __post_init__(self) -> None:
        for name in ("max_size", "min_edge_bps", "safety_margin_bps"):
            v = getattr(self, name)
            if not isinstance(v, Decimal):
                raise TypeError(f"{name} must be a Decimal, got {type(v).__name__}")
        if self.max_size <= 0:
            raise ValueError("max_size must be positive")
        if self.min_edge_bps < 0 or self.safety_margin_bps < 0:
            raise ValueError("min_edge_bps and safety_margin_bps must be >= 0 (never trade a known loss)")
        if self.max_book_age_s <= 0 or self.max_levels <= 0:
            raise ValueError("max_book_age_s and max_levels must be positive")
        if self.two_leg_mode not in ("parallel", "sequential"):
            raise ValueError(f"two_leg_mode must be 'parallel' or 'sequential', got {self.two_leg_mode!r}")
        if self.first_leg not in ("auto", "polymarket", "kalshi"):
            raise ValueError(f"first_leg must be 'auto', 'polymarket' or 'kalshi', got {self.first_leg!r}")
        if self.cooldown_s < 0:
            raise ValueError("cooldown_s must be >= 0")
        for name in ("max_silence_polymarket_s", "max_silence_kalshi_s"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise ValueError(f"{name} must be positive")


def config_from_node(strategy: Any, execution: Any, risk: Any) -> CrossVenueConfig:
    """The strategy configuration from the node's ``[strategies.cross_venue]`` table (per-strategy
    execution and hedge settings; unset ones from ``[execution]``) and ``[risk]``."""
    from types import SimpleNamespace

    e = strategy.effective(execution)
    hedge = HedgePolicy.from_config(
        SimpleNamespace(hedge_policy=e["hedge_policy"], chase_seconds=e["hedge_chase_seconds"]),
        max_slippage_bps=Decimal(e["hedge_max_slippage_bps"]), timeout_s=e["hedge_timeout_ms"] / 1000,
        max_attempts=int(e["hedge_max_attempts"]),
    )
    age_s = (risk.max_book_age_ms / 1000) if risk.max_book_age_ms else 2.0
    return CrossVenueConfig(
        max_size=strategy.max_size,
        min_edge_bps=strategy.min_edge_bps,
        safety_margin_bps=strategy.safety_margin_bps,
        max_book_age_s=age_s,
        leg_timeout_s=e["leg_timeout_ms"] / 1000,
        hedge=hedge,
        max_silence_polymarket_s=e["max_silence_polymarket_ms"] / 1000 if e["max_silence_polymarket_ms"] else None,
        max_silence_kalshi_s=e["max_silence_kalshi_ms"] / 1000 if e["max_silence_kalshi_ms"] else None,
        two_leg_mode=e["two_leg_mode"],
        first_leg=e["first_leg"],
        cooldown_s=e["cooldown_ms"] / 1000,
    )


@dataclass(frozen=True)
class CrossVenuePair:
    """An approved mapping with its four instruments (increments, minimums, fee models)."""

    mapping_id: int
    polarity: Polarity
    poly_yes: Instrument
    poly_no: Instrument
    kalshi_yes: Instrument
    kalshi_no: Instrument

    @property
    def key(self) -> str:
        return f"mapping:{self.mapping_id}"

    @property
    def instrument_ids(self) -> tuple[str, ...]:
        return (self.poly_yes.id, self.poly_no.id, self.kalshi_yes.id, self.kalshi_no.id)

    def directions(self) -> tuple[tuple[Instrument, Instrument], tuple[Instrument, Instrument]]:
        """((Polymarket leg, Kalshi leg), ...): each pair of outcomes pays exactly 1 per set."""
        if self.polarity is Polarity.SAME:
            return (self.poly_yes, self.kalshi_no), (self.poly_no, self.kalshi_yes)
        return (self.poly_yes, self.kalshi_yes), (self.poly_no, self.kalshi_no)


def pair_from_mapping(mapping: Mapping, instruments: dict[str, Instrument]) -> CrossVenuePair:
    """Bind a stored mapping to instruments (ids ``polymarket:<token>``, ``kalshi:<ticker>:yes|no``)."""
    ids = {
        "poly_yes": f"polymarket:{mapping.poly_yes_token}",
        "poly_no": f"polymarket:{mapping.poly_no_token}",
        "kalshi_yes": f"kalshi:{mapping.kalshi_ticker}:yes",
        "kalshi_no": f"kalshi:{mapping.kalshi_ticker}:no",
    }
    missing = [iid for iid in ids.values() if iid not in instruments]
    if missing:
        raise KeyError(f"mapping {mapping.id}: no instrument for {', '.join(missing)}")
    return CrossVenuePair(mapping_id=mapping.id, polarity=mapping.polarity, **{k: instruments[v] for k, v in ids.items()})


def _decimals(x: Decimal) -> int:
    return max(0, -int(x.normalize().as_tuple().exponent))


def common_increment(a: Decimal, b: Decimal) -> Decimal:
    """The smallest size that is a whole multiple of both increments (0.01 and 1 -> 1)."""
    fa, fb = Fraction(a), Fraction(b)
    den = fa.denominator * fb.denominator
    na, nb = int(fa * den), int(fb * den)
    lcm = na * nb // gcd(na, nb)
    return Decimal(lcm) / Decimal(den)


@dataclass
class Quote:
    """One direction priced at one size."""

    quantity: Decimal
    poly: Instrument
    kalshi: Instrument
    poly_price: Decimal  # limit: worst level walked
    kalshi_price: Decimal
    poly_cost: Decimal  # notional + fee
    kalshi_cost: Decimal
    poly_fee: Decimal
    kalshi_fee: Decimal
    margin: Decimal

    @property
    def cost(self) -> Decimal:
        return self.poly_cost + self.kalshi_cost

    @property
    def profit(self) -> Decimal:
        """Expected profit after fees: the sets pay 1 each."""
        return self.quantity - self.cost

    @property
    def net_profit(self) -> Decimal:
        return self.profit - self.margin

    @property
    def edge_bps(self) -> Decimal:
        return self.profit / self.cost * BPS

    @property
    def net_edge_bps(self) -> Decimal:
        return self.net_profit / self.cost * BPS


@dataclass
class Decision:
    mapping_id: int
    intent: Intent | None = None
    reason: str = ""
    quote: Quote | None = None
    candidates: int = 0


_FEE_CACHE: dict[tuple[FeeSpec, Decimal, Decimal], Decimal] = {}
_FEE_CACHE_MAX = 200_000


def _fee(spec: FeeSpec, price: Decimal, qty: Decimal) -> Decimal:
    """Taker fee of one fill, memoised: full levels repeat across updates of a book."""
    key = (spec, price, qty)
    f = _FEE_CACHE.get(key)
    if f is None:
        if len(_FEE_CACHE) >= _FEE_CACHE_MAX:
            _FEE_CACHE.clear()
        f = _FEE_CACHE[key] = fee_for(spec, price, qty, LiquiditySide.TAKER)
    return f


_GRID: dict[Decimal, tuple[int, int]] = {}


def _grid(book: Any) -> tuple[int, int]:
    """(price decimals, tick in units of 10**-decimals) of a book's tick size, memoised."""
    ts = book.tick_size
    g = _GRID.get(ts)
    if g is None:
        pd = _decimals(ts)
        g = _GRID[ts] = (pd, int(ts.scaleb(pd)))
    return g


def _dec(units: int, digits: int) -> Decimal:
    """Exact ``units * 10**-digits``."""
    return Decimal(units).scaleb(-digits) if digits else Decimal(units)


class _Ladder:
    """An ask ladder in integers on a common scale: price units of 10**-pd, size lots of 10**-sd.

    Prefix notional (integer) and prefix fees (Decimal, one fill per level) are built lazily, so
    an evaluation only converts the levels it walks."""

    __slots__ = ("prices", "cum", "notional", "fees", "spec", "pd", "sd", "_pdec", "_levels", "_pm", "_lm")

    def __init__(self, book: Any, instrument: Instrument, depth: int, pd: int, sd: int) -> None:
        self.spec = instrument.fee
        self.pd, self.sd = pd, sd
        bpd, tu = _grid(book)
        self._pm = tu * 10 ** (pd - bpd)  # tick -> common price units
        self._lm = 10 ** (sd - book.size_digits)  # book lots -> common lots
        self._levels = book.levels(False, depth)
        self.prices: list[int] = []
        self.cum: list[int] = []
        self.notional: list[int] = []
        self.fees: list[Decimal] = []
        self._pdec: list[Decimal] = []

    def extend(self, n: int) -> bool:
        """Make level ``n`` available; False when the walked depth has no such level."""
        lv = self._levels
        while len(self.prices) <= n:
            i = len(self.prices)
            if i >= len(lv):
                return False
            tick, lots = lv[i]
            self.prices.append(tick * self._pm)
            self.cum.append((self.cum[-1] if i else 0) + lots * self._lm)
        return True

    def _prefix(self, k: int) -> None:
        n = len(self.notional)
        while n < k:
            q = self.cum[n] - (self.cum[n - 1] if n else 0)
            self.notional.append((self.notional[-1] if n else 0) + self.prices[n] * q)
            self.fees.append((self.fees[-1] if n else ZERO) + _fee(self.spec, self.price(n), _dec(q, self.sd)))
            n += 1

    def price(self, i: int) -> Decimal:
        while len(self._pdec) <= i:
            self._pdec.append(_dec(self.prices[len(self._pdec)], self.pd))
        return self._pdec[i]

    def cost(self, q: int) -> tuple[int, Decimal, int] | None:
        """(notional in price-units x lots, fee, index of the worst level) of buying ``q`` lots."""
        k = bisect_left(self.cum, q)
        while k >= len(self.cum):  # deeper than walked so far (a venue minimum past the walk's stop)
            if not self.extend(k):
                return None
            k = bisect_left(self.cum, q)
        self._prefix(k)
        before = self.cum[k - 1] if k else 0
        part = q - before
        notional = (self.notional[k - 1] if k else 0) + self.prices[k] * part
        fee = (self.fees[k - 1] if k else ZERO) + _fee(self.spec, self.price(k), _dec(part, self.sd))
        return notional, fee, k


class CrossVenueStrategy:
    """The evaluator. ``on_book_update`` returns the intents to submit (at most one per mapping).

    The engine keeps the in-flight set current: :meth:`execution_finished` when an execution ends
    (or is denied). An emitted intent marks its mapping in flight at once, so a burst of updates
    before the engine's answer cannot emit a second one.
    """

    def __init__(self, config: CrossVenueConfig, market: MarketView, *, clock_ns: Callable[[], int] = time.time_ns,
                 id_factory: Callable[[], str] | None = None) -> None:
        self.config = config
        self.market = market
        self.clock_ns = clock_ns
        self.new_id = id_factory or (lambda: new_correlation_id("xv"))
        self.pairs: dict[int, CrossVenuePair] = {}
        self.by_instrument: dict[str, list[int]] = {}
        self.in_flight: dict[str, str] = {}  # mapping key -> execution id
        self._exec_key: dict[str, str] = {}  # execution id -> mapping key
        self._max_age_ns = int(config.max_book_age_s * NS)
        # mapping key -> (ended ns, until ns, execution id, venues whose books must update after it)
        self.cooldowns: dict[str, tuple[int, int, str, frozenset[Venue]]] = {}
        # called with a record when a cooldown starts (the node journals it as kind "cooldown")
        self.on_cooldown: Callable[[dict[str, Any]], None] | None = None
        self._silence_p = config.max_silence_ns(Venue.POLYMARKET)
        self._silence_k = config.max_silence_ns(Venue.KALSHI)
        self._inc: dict[int, Decimal] = {}
        self.evaluations = 0
        self.reasons: dict[str, int] = {}

    # --- mappings ------------------------------------------------------------------------------

    def set_pairs(self, pairs: Iterable[CrossVenuePair]) -> None:
        """Replace the tradeable mappings (the approved ones, bound to instruments)."""
        self.pairs = {}
        self.by_instrument = {}
        self._inc = {}
        for p in pairs:
            self.pairs[p.mapping_id] = p
            for iid in p.instrument_ids:
                self.by_instrument.setdefault(iid, []).append(p.mapping_id)
            self._inc[p.mapping_id] = common_increment(p.poly_yes.size_increment, p.kalshi_yes.size_increment)

    # --- in flight -----------------------------------------------------------------------------

    def execution_started(self, execution_id: str, mapping_key: str) -> None:
        self.in_flight[mapping_key] = execution_id
        self._exec_key[execution_id] = mapping_key

    def execution_finished(self, execution_id: str, *, traded: bool = True, now_ns: int | None = None,
                           filled_venues: Iterable[Venue] | None = None) -> None:
        """The execution ended (any status; ``traded``) or was denied (``traded=False``): its
        mapping may trade again — after the cooldown when it traded.

        ``filled_venues``: the venues where the execution filled something. Only their books must
        show an update after it (our own fills must be in the books we price from); a venue where
        every order was rejected or filled nothing has nothing to show, and on a quiet market its
        book may not change for minutes. ``None`` (not known) waits for both venues."""
        key = self._exec_key.pop(execution_id, None)
        if key is not None and self.in_flight.get(key) == execution_id:
            del self.in_flight[key]
        if key is None or not traded:
            return
        now = self.clock_ns() if now_ns is None else now_ns
        until = now + int(self.config.cooldown_s * NS)
        wait = frozenset((Venue.POLYMARKET, Venue.KALSHI) if filled_venues is None else filled_venues)
        self.cooldowns[key] = (now, until, execution_id, wait)
        if self.on_cooldown is not None:
            self.on_cooldown({"mapping": key, "execution_id": execution_id, "started_ns": now, "until_ns": until,
                              "cooldown_s": self.config.cooldown_s, "wait_for_book_updates": bool(wait),
                              "wait_for_venues": sorted(v.value for v in wait)})

    def _cooling(self, pair: CrossVenuePair, now_ns: int) -> str:
        """Why this mapping is still cooling down after our own trade ("" when it is not)."""
        c = self.cooldowns.get(pair.key)
        if c is None:
            return ""
        ended, until, eid, wait = c
        if now_ns < until:
            return f"cooldown after execution {eid}: {(until - now_ns) / 1e9:.3f}s left"
        waiting = []
        for venue, name, ids in ((Venue.POLYMARKET, "Polymarket", (pair.poly_yes.id, pair.poly_no.id)),
                                 (Venue.KALSHI, "Kalshi", (pair.kalshi_yes.id, pair.kalshi_no.id))):
            if venue not in wait:
                continue
            books = [self.market.book(i) for i in ids]
            if not any(b is not None and b.last_update_ns > ended for b in books):
                waiting.append(name)
        if waiting:
            return f"cooldown after execution {eid}: waiting for {' and '.join(waiting)} books to update after our trade"
        del self.cooldowns[pair.key]
        return ""

    # --- evaluation ----------------------------------------------------------------------------

    def on_book_update(self, instrument_id: str, now_ns: int | None = None, *, socket_arrival_ns: int = 0,
                       correlation_id: str = "", book_updated_ns: int = 0) -> list[Intent]:
        ids = self.by_instrument.get(instrument_id)
        if not ids:
            return []
        now = self.clock_ns() if now_ns is None else now_ns
        out = []
        for mid in ids:
            d = self.evaluate(self.pairs[mid], now, socket_arrival_ns=socket_arrival_ns, correlation_id=correlation_id,
                              book_updated_ns=book_updated_ns)
            if d.intent is not None:
                out.append(d.intent)
        return out

    def _skip(self, d: Decision, reason: str, kind: str) -> Decision:
        d.reason = reason
        self.reasons[kind] = self.reasons.get(kind, 0) + 1
        return d

    def evaluate(self, pair: CrossVenuePair, now_ns: int, *, socket_arrival_ns: int = 0, correlation_id: str = "",
                 emit: bool = True, book_updated_ns: int = 0) -> Decision:
        """Decide for one mapping now. ``emit=False`` prices without marking anything in flight."""
        self.evaluations += 1
        d = Decision(pair.mapping_id)
        if pair.key in self.in_flight:
            return self._skip(d, f"execution {self.in_flight[pair.key]} in flight", "in_flight")
        if self.cooldowns:
            cooling = self._cooling(pair, now_ns)
            if cooling:
                return self._skip(d, cooling, "cooldown")
        best: Quote | None = None
        best_books: tuple[Any, Any] | None = None
        tradeable_dirs = 0
        skip_why = edge_why = ""
        # each direction trades two books: both must be fresh, live and on a live connection
        for leg_p, leg_k in pair.directions():
            bad = (self.market.untradeable(leg_p.id, now_ns, self._silence_p)
                   or self.market.untradeable(leg_k.id, now_ns, self._silence_k))
            if bad:
                skip_why = skip_why or bad
                continue
            tradeable_dirs += 1
            bp, bk = self.market.book(leg_p.id), self.market.book(leg_k.id)
            q, n, why = self._best(pair, leg_p, leg_k, bp, bk)
            d.candidates += n
            if q is not None and (best is None or q.net_profit > best.net_profit):
                best, best_books = q, (bp, bk)
            elif q is None and why:
                edge_why = edge_why or why
        if tradeable_dirs == 0:
            kind = "stale" if "stale" in skip_why else "connection" if "connection" in skip_why else "book"
            return self._skip(d, skip_why, kind)
        if best is None:
            kind = "minimum" if edge_why.startswith("minimum") else "no_edge"
            why = edge_why or "no edge at or above the threshold"
            return self._skip(d, why + (f" (other direction: {skip_why})" if skip_why else ""), kind)
        d.quote = best
        if emit:
            assert best_books is not None
            d.intent = self._intent(pair, best, best_books, now_ns, socket_arrival_ns, correlation_id, book_updated_ns)
            self.execution_started(d.intent.execution_id, pair.key)
        return d

    def _best(self, pair: CrossVenuePair, leg_p: Instrument, leg_k: Instrument, book_p: Any, book_k: Any
              ) -> tuple[Quote | None, int, str]:
        """The qualifying size with the highest net profit in one direction (or why none); the
        candidate sizes are explained in the module docstring."""
        cfg = self.config
        ap, ak = book_p.best_ask(), book_k.best_ask()
        if ap is None or ak is None:
            return None, 0, "no asks"
        (gp, tp), (gk, tk) = _grid(book_p), _grid(book_k)
        pd = max(gp, gk)
        one = 10**pd
        # Fees and margin are >= 0: if the best prices already sum to 1 or more no size can
        # clear a positive threshold, so the common no-edge update costs two lookups.
        if cfg.min_edge_bps > 0 and ap[0] * tp * 10 ** (pd - gp) + ak[0] * tk * 10 ** (pd - gk) >= one:
            return None, 0, ""
        inc = self._inc[pair.mapping_id]
        sd = max(book_p.size_digits, book_k.size_digits, _decimals(inc))
        inc_l = int(inc.scaleb(sd))
        max_l = int(cfg.max_size.scaleb(sd)) // inc_l * inc_l
        lp = _Ladder(book_p, leg_p, cfg.max_levels, pd, sd)
        lk = _Ladder(book_k, leg_k, cfg.max_levels, pd, sd)
        # Merged walk: the marginal cost per set changes only at a level boundary of either
        # ladder, so net profit is piecewise linear between boundaries (up to fee rounding) and
        # each piece's best is at an end. Every boundary is a candidate, rounded down and up to the
        # common grid. Once the marginal pair of prices reaches 1 no deeper share adds profit,
        # so the walk stops there (``stop``) -- except that the venues' minimums may force a
        # larger size (handled below with ``q_min``).
        sizes: list[int] = []
        i = j = 0
        stop = max_l
        while lp.extend(i) and lk.extend(j):
            nxt = min(lp.cum[i], lk.cum[j], max_l)
            if lp.prices[i] + lk.prices[j] >= one:
                stop = max(lp.cum[i - 1] if i else 0, lk.cum[j - 1] if j else 0)
                break
            lo = nxt // inc_l * inc_l
            sizes.append(lo)
            if lo != nxt and lo + inc_l <= max_l:
                sizes.append(lo + inc_l)
            if nxt >= max_l:
                break
            if lp.cum[i] == nxt:
                i += 1
            if lk.cum[j] == nxt:
                j += 1
        # The venues' minimums: each leg's acceptable sizes are an up-set (size >= min size,
        # notional at the worst level >= min notional, both rise with size), so both legs accept
        # exactly the sizes >= q_min. Beyond the walk's stop net profit never rises, so when q_min
        # lies past it, q_min itself is the only candidate there.
        q_min = max(self._min_lots(leg_p, lp, inc_l, sd, pd), self._min_lots(leg_k, lk, inc_l, sd, pd), inc_l)
        if q_min > max_l:
            return None, 0, f"minimum: smallest size both venues accept ({_dec(q_min, sd)}) exceeds max size"
        sizes.append(q_min)
        if stop < max_l:
            sizes.append(-(-stop // inc_l) * inc_l)
        cands = sorted({x for x in sizes if q_min <= x <= max_l})
        threshold = cfg.min_edge_bps
        scale = pd + sd
        n = 0

        def price(q: int) -> tuple[Decimal, tuple, tuple, Decimal, bool] | None:
            nonlocal n
            cp, ck = lp.cost(q), lk.cost(q)
            if cp is None or ck is None:
                return None
            n += 1
            cost = _dec(cp[0] + ck[0], scale) + cp[1] + ck[1]
            margin = cost * cfg.safety_margin_bps / BPS
            net = _dec(q, sd) - cost - margin
            return net, cp, ck, margin, net * BPS >= threshold * cost  # exact: at the threshold qualifies

        best: tuple[Decimal, int, tuple, tuple, Decimal] | None = None
        prev: tuple[int, tuple] | None = None
        for q in cands:
            r = price(q)
            if r is None:
                break  # not enough depth: larger sizes cannot fill either
            if not r[4] and prev is not None and prev[1][4] and r[0] > prev[1][0]:
                # the threshold is crossed inside this piece (the marginal sets still make money
                # but less than the threshold): the largest qualifying size in between
                lo_q, hi_q = prev[0], q
                while hi_q - lo_q > inc_l:
                    mid = (lo_q + hi_q) // 2 // inc_l * inc_l
                    if mid <= lo_q:
                        mid = lo_q + inc_l
                    rm = price(mid)
                    if rm is not None and rm[4]:
                        lo_q = mid
                        if best is None or rm[0] > best[0]:
                            best = (rm[0], mid, rm[1], rm[2], rm[3])
                    else:
                        hi_q = mid
            if r[4] and (best is None or r[0] > best[0]):
                best = (r[0], q, r[1], r[2], r[3])
            prev = (q, r)
        if best is None:
            # blame the minimums only when a smaller size would have qualified
            below = [x for x in sizes if 0 < x < q_min]
            r = price(max(below)) if below else None
            if r is not None and r[4]:
                return None, n, (f"minimum: size {_dec(max(below), sd)} would clear the threshold but the "
                                 f"smallest size both venues accept, {_dec(q_min, sd)}, does not")
            return None, n, ""
        net, q, cp, ck, margin = best
        qty = _dec(q, sd)
        pp, pk = lp.price(cp[2]), lk.price(ck[2])
        # the size both venues can take exactly at these limits (a Polymarket IOC buy's amounts
        # have a precision: some share counts cannot be signed at some prices -- never send fewer)
        exact = min(leg_p.signable_quantity(Side.BUY, qty, pp), leg_k.signable_quantity(Side.BUY, qty, pk))
        if exact < qty:
            q2 = int(exact.scaleb(sd)) // inc_l * inc_l
            r2 = price(q2) if q2 >= q_min else None
            if r2 is None or not r2[4]:
                return None, n, (f"minimum: size {qty} cannot be signed exactly at {pp}/{pk} and the nearest size "
                                 f"both venues take exactly ({_dec(q2, sd)}) does not qualify")
            net, q, cp, ck, margin = r2[0], q2, r2[1], r2[2], r2[3]
            qty = _dec(q, sd)
            pp, pk = lp.price(cp[2]), lk.price(ck[2])
            if min(leg_p.signable_quantity(Side.BUY, qty, pp), leg_k.signable_quantity(Side.BUY, qty, pk)) < qty:
                return None, n, f"minimum: no size both venues take exactly near {qty} at {pp}/{pk}"
        bad = leg_p.check_order(pp, qty) or leg_k.check_order(pk, qty)
        if bad:  # q_min makes this unreachable; kept so a wrong minimum can never be sent
            return None, n, f"minimum: {bad} at size {qty}"
        return (Quote(qty, leg_p, leg_k, pp, pk, _dec(cp[0], scale) + cp[1], _dec(ck[0], scale) + ck[1],
                      cp[1], ck[1], margin), n, "")

    @staticmethod
    def _min_lots(inst: Instrument, ladder: _Ladder, inc_l: int, sd: int, pd: int) -> int:
        """Smallest size (common lots, on the grid) this leg's venue accepts at the worst level walked."""
        q = -(-int(inst.min_size.scaleb(sd).to_integral_value(rounding="ROUND_CEILING")) // inc_l) * inc_l
        mn = inst.min_notional
        if not mn:
            return q
        need = int((mn.scaleb(pd + sd)).to_integral_value(rounding="ROUND_CEILING"))  # price-units x lots
        k = 0
        while ladder.extend(k):
            if ladder.cum[k] >= q:
                p = ladder.prices[k]
                if p * q >= need:
                    return q
                q2 = -(-need // p)
                q2 = -(-q2 // inc_l) * inc_l
                if q2 <= ladder.cum[k]:
                    return q2
                q = max(q, -(-(ladder.cum[k] + 1) // inc_l) * inc_l)
            k += 1
        return q  # beyond the walked depth: the cost lookup finds no fill

    def _first_venue(self, q: Quote, book_p: Any, book_k: Any) -> Venue:
        """The venue whose leg goes first in sequential mode."""
        if self.config.first_leg == "polymarket":
            return Venue.POLYMARKET
        if self.config.first_leg == "kalshi":
            return Venue.KALSHI
        # auto: the less liquid book first (what it does not fill, the second leg is not sent for)
        depth_p = _depth_within(book_p, q.poly_price, self.config.max_levels)
        depth_k = _depth_within(book_k, q.kalshi_price, self.config.max_levels)
        return Venue.POLYMARKET if depth_p < depth_k else Venue.KALSHI

    def _intent(self, pair: CrossVenuePair, q: Quote, books: tuple[Any, Any], now_ns: int, socket_arrival_ns: int,
                correlation_id: str, book_updated_ns: int = 0) -> Intent:
        cfg = self.config
        eid = self.new_id()
        bp, bk = books
        tops = [BookTop.from_book(q.poly.id, bp, cfg.snapshot_depth), BookTop.from_book(q.kalshi.id, bk, cfg.snapshot_depth)]
        # a quiet book on a live connection is current: its snapshot carries the time it was last
        # confirmed (the risk engine ages books from it); the real last change stays in
        # timestamps.book_updated_ns
        confirmed = getattr(self.market, "confirmed_ns", None)
        if confirmed is not None:
            tops = [msgspec.structs.replace(t, last_update_ns=max(t.last_update_ns, confirmed(t.instrument_id, now_ns)))
                    for t in tops]
        legs = [
            IntentLeg(instrument=q.poly, side=Side.BUY, price=q.poly_price, quantity=q.quantity,
                      order_type=OrderType.LIMIT, time_in_force=TimeInForce.IOC),
            IntentLeg(instrument=q.kalshi, side=Side.BUY, price=q.kalshi_price, quantity=q.quantity,
                      order_type=OrderType.LIMIT, time_in_force=TimeInForce.IOC),
        ]
        sequencing = Sequencing.PARALLEL
        if cfg.two_leg_mode == "sequential":
            sequencing = Sequencing.SEQUENTIAL
            if self._first_venue(q, bp, bk) is Venue.KALSHI:
                legs.reverse()
        return Intent(
            execution_id=eid,
            legs=legs,
            sequencing=sequencing,
            hedge=cfg.hedge,
            books=tops,
            predicted_edge_bps=q.edge_bps.quantize(Decimal("0.01")),
            predicted_profit=q.profit,
            primary_quote="USD",
            correlation_id=correlation_id or eid,
            timestamps=IntentTimestamps(
                socket_arrival_ns=socket_arrival_ns,
                # the triggering update's apply time when the feed gave it; the books' own times
                # are their frames' arrival (the socket->book stage would read 0)
                book_updated_ns=book_updated_ns or max(bp.last_update_ns, bk.last_update_ns),
                evaluated_ns=now_ns,
                created_ns=self.clock_ns(),
            ),
            isolation=IsolationKeys(mapping=pair.key, pairs=(q.poly.id, q.kalshi.id)),
            strategy=STRATEGY,
            signal_key=pair.key,
            leg_timeout_s=cfg.leg_timeout_s,
            set_payout=ONE,
        )


def _depth_within(book: Any, limit: Decimal, levels: int) -> Decimal:
    """Size offered at or better than ``limit`` (asks), in shares."""
    total = ZERO
    for t, lots in book.levels(False, levels):
        if book.price(t) > limit:
            break
        total += book.size(lots)
    return total
