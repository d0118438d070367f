"""Triangular arbitrage on one spot venue (KuCoin): start currency -> A -> B -> start currency.

Synchronous and without I/O, like the cross-venue evaluator:

1. :func:`enumerate_triangles` lists every 3-cycle over the trading pairs, both directions, for each
   allowed start currency; :class:`TriangleIndex` maps each symbol to the triangles that use it, so
   a book update re-evaluates **only** those (``on_book_update``).
2. :func:`walk_triangle` prices a starting amount exactly, leg by leg, as the execution engine will
   send it (``execution.sizing``): a buy spends its input as funds with the fee held back and the
   quantity floored to the base increment at the leg's limit (the worst level it needs), then fills
   level by level; a sell floors its input to the base increment and fills down the bids. Fees are
   the instrument's taker fee in its quote currency (KuCoin charges ``funds x rate`` in the pair's
   fee currency, the quote for every pair we trade: docs/venues/kucoin.md). Minimum size and
   minimum funds are checked on every leg; a leg the book cannot fill completely refuses the size.
   What a leg cannot convert (increment dust) is valued at zero: the prediction is conservative.
3. The starting amount is chosen among candidates (every level boundary of the first leg, the cap,
   and fractions of each) up to ``max_start``: the one with the highest profit whose edge after fees
   is at least ``min_edge_bps``.
4. The decision becomes a CASCADE :class:`~arbkit.execution.intent.Intent`: leg 1 with its funds
   (buy) or quantity (sell), legs 2-3 sized by the engine from what the previous leg produced,
   each an IOC limit at its worst walked price; copies of the three books; predicted bps and profit
   in the start currency (the primary quote); isolation keys triangle / pairs / primary quote.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from math import log as _log
from typing import Any, Callable, Iterable

from arbkit.core.enums import InstrumentKind, OrderType, Side, TimeInForce
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
from arbkit.execution.sizing import max_buy_quantity, taker_fee
from arbkit.strategies.tri_walk import LegSpec, LegView, best_start
from arbkit.strategies.tri_walk import prime as prime_walk

log = logging.getLogger(__name__)

ZERO = Decimal(0)
BPS = Decimal(10000)
START_QUANTUM = Decimal("0.00000001")


@dataclass(frozen=True)
class Leg:
    instrument: Instrument
    side: Side  # BUY: spend quote, get base; SELL: spend base, get quote

    @property
    def input_currency(self) -> str:
        return self.instrument.quote if self.side is Side.BUY else (self.instrument.base or "")

    @property
    def output_currency(self) -> str:
        return (self.instrument.base or "") if self.side is Side.BUY else self.instrument.quote


@dataclass(frozen=True)
class Triangle:
    start: str
    legs: tuple[Leg, Leg, Leg]

    @functools.cached_property
    def key(self) -> str:  # cached: looked up per evaluation (in_flight, per-leg specs)
        return self.start + ":" + ">".join(f"{leg.instrument.symbol}/{leg.side.value[0]}" for leg in self.legs)

    @property
    def symbols(self) -> tuple[str, str, str]:
        return tuple(leg.instrument.symbol for leg in self.legs)  # type: ignore[return-value]

    @property
    def path(self) -> str:
        return "→".join(leg.instrument.symbol for leg in self.legs)


def enumerate_triangles(instruments: Iterable[Instrument], start_currencies: Iterable[str]) -> list[Triangle]:
    """Every start -> X -> Y -> start cycle over three distinct spot pairs, both directions."""
    spot = [i for i in instruments if i.kind is InstrumentKind.SPOT and i.base and i.quote]
    by_currency: dict[str, list[Leg]] = {}
    for inst in spot:
        by_currency.setdefault(inst.quote, []).append(Leg(inst, Side.BUY))  # spend quote
        by_currency.setdefault(inst.base or "", []).append(Leg(inst, Side.SELL))  # spend base
    out: list[Triangle] = []
    seen: set[str] = set()
    for start in sorted(set(start_currencies)):
        for l1 in by_currency.get(start, []):
            x = l1.output_currency
            for l2 in by_currency.get(x, []):
                y = l2.output_currency
                if l2.instrument.symbol == l1.instrument.symbol or y == start:
                    continue
                for l3 in by_currency.get(y, []):
                    if l3.output_currency != start or l3.instrument.symbol in (l1.instrument.symbol,
                                                                                 l2.instrument.symbol):
                        continue
                    t = Triangle(start, (l1, l2, l3))
                    if t.key not in seen:
                        seen.add(t.key)
                        out.append(t)
    return out


class TriangleIndex:
    """symbol -> the triangles using it (each triangle listed once per symbol)."""

    def __init__(self, triangles: Iterable[Triangle]) -> None:
        self.triangles = list(triangles)
        self.by_symbol: dict[str, list[Triangle]] = {}
        for t in self.triangles:
            for s in set(t.symbols):
                self.by_symbol.setdefault(s, []).append(t)

    def affected(self, symbol: str) -> list[Triangle]:
        return self.by_symbol.get(symbol, [])


# --- pricing -----------------------------------------------------------------------------------------

Levels = list[tuple[Decimal, Decimal]]  # (price, size), best first


@dataclass(frozen=True)
class LegFill:
    side: Side
    quantity: Decimal  # base sent (= filled: a leg that cannot fill fully refuses the size)
    limit: Decimal  # worst level price used
    notional: Decimal
    fee: Decimal
    input_used: Decimal
    output: Decimal


def _fill(levels: Levels, qty: Decimal) -> tuple[Decimal, Decimal] | None:
    """(notional, worst price) of taking ``qty`` down ``levels``; None if the depth is short."""
    left, notional, worst = qty, ZERO, ZERO
    for p, s in levels:
        if left <= 0:
            break
        take = min(left, s)
        notional += take * p
        left -= take
        worst = p
    return None if left > 0 else (notional, worst)


def price_leg(leg: Leg, levels: Levels, amount: Decimal) -> LegFill | None:
    """One leg spending ``amount`` of its input currency, as the engine would send it."""
    inst = leg.instrument
    if amount <= 0 or not levels:
        return None
    if leg.side is Side.SELL:
        q = inst.round_size(amount)
        if q <= 0 or q < inst.min_size:
            return None
        got = _fill(levels, q)
        if got is None:
            return None
        notional, worst = got
        if inst.min_notional and notional < inst.min_notional:
            return None
        fee = _fee(inst, levels, q)
        return LegFill(Side.SELL, q, worst, notional, fee, q, notional - fee)
    # BUY: the limit is the worst level the funds reach; the quantity is what the funds buy at the
    # limit with the fee held back (execution.sizing.max_buy_quantity), floored to the increment.
    spent, worst = ZERO, ZERO
    rate_spec = inst.fee
    rate = rate_spec.taker_rate * rate_spec.multiplier if rate_spec.kind == "spot" else ZERO
    for p, s in levels:
        worst = p
        spent += p * s * (1 + rate)
        if spent >= amount:
            break
    else:
        if spent < amount:
            return None  # the whole book is not enough for these funds
    q = max_buy_quantity(inst, amount, worst)
    if q <= 0 or q < inst.min_size:
        return None
    got = _fill(levels, q)
    if got is None:
        return None
    notional, _ = got
    if inst.min_notional and notional < inst.min_notional:
        return None
    fee = _fee(inst, levels, q)
    return LegFill(Side.BUY, q, worst, notional, fee, notional + fee, q)


def _fee(inst: Instrument, levels: Levels, qty: Decimal) -> Decimal:
    """Taker fee of taking ``qty`` level by level (per fill, summed: exact for KuCoin's unrounded fee)."""
    left, fee = qty, ZERO
    for p, s in levels:
        if left <= 0:
            break
        take = min(left, s)
        fee += taker_fee(inst, p, take)
        left -= take
    return fee


@dataclass(frozen=True)
class TriangleQuote:
    triangle: Triangle
    start_amount: Decimal
    end_amount: Decimal
    legs: tuple[LegFill, LegFill, LegFill]

    @property
    def profit(self) -> Decimal:
        return self.end_amount - self.start_amount

    @property
    def edge_bps(self) -> Decimal:
        return self.profit / self.start_amount * BPS if self.start_amount else ZERO


def walk_triangle(t: Triangle, books: tuple[Levels, Levels, Levels], start_amount: Decimal) -> TriangleQuote | None:
    """The exact result of sending ``start_amount`` around ``t`` against these books (None when a
    leg cannot be sent or filled at that size)."""
    amount = start_amount
    fills: list[LegFill] = []
    for leg, levels in zip(t.legs, books):
        f = price_leg(leg, levels, amount)
        if f is None:
            return None
        fills.append(f)
        amount = f.output
    if fills[0].input_used > start_amount:
        return None
    return TriangleQuote(t, start_amount, amount, (fills[0], fills[1], fills[2]))


def leg_levels(book: Any, side: Side, depth: int) -> Levels:
    """The levels a ``side`` order takes (asks for a buy), best first, as Decimals."""
    return [(book.price(tk), book.size(q)) for tk, q in book.levels(side is Side.SELL, depth)]


def _boundaries(leg: Leg, levels: Levels) -> list[Decimal]:
    """Cumulative input (in the leg's input currency) that empties each level, fee included for buys."""
    inst = leg.instrument
    rate = inst.fee.taker_rate * inst.fee.multiplier if inst.fee.kind == "spot" else ZERO
    acc, out = ZERO, []
    for p, s in levels:
        acc += p * s * (1 + rate) if leg.side is Side.BUY else s
        out.append(acc)
    return out


def start_candidates(t: Triangle, books: tuple[Levels, Levels, Levels] | Levels, cap: Decimal,
                     ladder: int = 12) -> list[Decimal]:
    """Starting amounts worth pricing (all <= cap): the cap; every level boundary of every leg,
    carried back into the start currency at the top-of-book rates (where the marginal rate of the
    triangle changes), and quarters of each; and a halving ladder below the cap. Each is computed
    as an exact fraction and floored to 8 decimals (amounts are journaled as the first leg's
    funds/quantity), the same set the integer search (tri_walk.candidate_units) tries."""
    all_levels = books if len(books) == 3 and isinstance(books[0], list) else (books, [], [])  # type: ignore[arg-type]
    cap_f = Fraction(cap)
    exact = {cap_f}
    to_start = Fraction(1)  # input of leg k per unit of start, at the top of the books
    for k, (leg, levels) in enumerate(zip(t.legs, all_levels)):
        if k > 0:
            prev_leg, prev_levels = t.legs[k - 1], all_levels[k - 1]
            r = _top_rate_exact(prev_leg, prev_levels)
            if r <= 0:
                break
            to_start *= r
        for b in _boundaries(leg, levels):
            base = Fraction(b) / to_start
            for f in (Fraction(1), Fraction(3, 4), Fraction(1, 2), Fraction(1, 4)):
                v = base * f
                if 0 < v <= cap_f:
                    exact.add(v)
    v = cap_f
    for _ in range(ladder):
        v = v / 2
        exact.add(v)
    units = {int(x * 10**8) for x in exact}  # floor: every x > 0
    return [Decimal(u).scaleb(-8) for u in sorted(units - {0})]


def _top_rate_exact(leg: Leg, levels: Levels) -> Fraction:
    if not levels:
        return Fraction(0)
    p = Fraction(levels[0][0])
    return (1 / p) if leg.side is Side.BUY else p


def _book_top(instrument_id: str, book: Any, depth: int) -> BookTop:
    """BookTop.from_book, faster for a CryptoBook (the same exact Decimals: ``units e-digits``)."""
    pd, sd = getattr(book, "price_digits", None), getattr(book, "size_digits", None)
    if pd is None or sd is None:
        return BookTop.from_book(instrument_id, book, depth)
    pe, se = f"e-{pd}", f"e-{sd}"
    return BookTop(instrument_id=instrument_id,
                   bids=[(Decimal(f"{t}{pe}"), Decimal(f"{q}{se}")) for t, q in book.levels(True, depth)],
                   asks=[(Decimal(f"{t}{pe}"), Decimal(f"{q}{se}")) for t, q in book.levels(False, depth)],
                   last_update_ns=int(book.last_update_ns or 0), sequence=int(book.sequence or 0))


BELOW_BOUND = "top of book below the minimum edge"
_MISSING = object()
_NEG_INF = float("-inf")


@dataclass
class TriangularConfig:
    start_currencies: tuple[str, ...] = ("USDT",)
    max_start: dict[str, Decimal] = field(default_factory=lambda: {"USDT": Decimal(1000)})
    min_edge_bps: Decimal = Decimal(5)
    depth: int = 20
    max_book_age_ns: int = 5 * 10**9
    leg_timeout_s: float = 5.0
    hedge: HedgePolicy = field(default_factory=HedgePolicy)  # how a broken cascade unwinds to the start currency


@dataclass
class TriangleDecision:
    triangle: Triangle
    quote: TriangleQuote | None
    intent: Intent | None
    reason: str = ""


class TriangularStrategy:
    """On a book update, re-evaluate only the triangles using that symbol; emit CASCADE intents."""

    name = "triangular"

    def __init__(self, config: TriangularConfig, instruments: Iterable[Instrument],
                 book_of: Callable[[str], Any], *, tradeable: Callable[[str, int], bool] | None = None,
                 clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.config = config
        self.book_of = book_of
        self.tradeable = tradeable
        self.clock_ns = clock_ns
        self.index = TriangleIndex(enumerate_triangles(instruments, config.start_currencies))
        self.in_flight: set[str] = set()  # triangle keys with an execution running
        # the exact top-of-book bound (see bound_allows): per leg (instrument id, is_buy, fee n/d)
        self._legspec: dict[str, tuple[tuple[str, str, bool, int, int], ...]] = {}
        for t in self.index.triangles:
            spec = []
            for leg in t.legs:
                fee = leg.instrument.fee
                rate = fee.taker_rate * fee.multiplier if fee.kind == "spot" else ZERO
                rn, rd = rate.as_integer_ratio()
                is_buy = leg.side is Side.BUY
                spec.append((leg.instrument.id + ("|b" if is_buy else "|s"), leg.instrument.id, is_buy, rn, rd))
            self._legspec[t.key] = tuple(spec)
        en, ed = Decimal(config.min_edge_bps).as_integer_ratio()
        self._edge_n, self._edge_d = 10000 * ed + en, 10000 * ed  # 1 + min_edge_bps / 10^4 = n / d
        self._scale: dict[int, int] = {}
        self.bound_skips = 0  # triangles the top-of-book bound excluded (no walk)
        # the integer depth walk (tri_walk); False: the Decimal reference search (tests, benchmark peer)
        self.exact_int = True
        self.exact_walks = 0  # start sizes walked exactly by the integer search
        self.exact_mismatches = 0  # integer choice the Decimal walk refused (never expected)
        self._specs: dict[tuple, Any] = {}
        prime_walk({leg.instrument.id: leg.instrument for t in self.index.triangles for leg in t.legs}.values())
        self._views: dict[tuple, LegView] = {}
        # per instrument and side: the integer levels last converted and their Decimals (an intent's
        # BookTop converts only a side that changed since; the same exact values)
        self._dec_sides: dict[tuple[str, bool, int, int], tuple[list, list]] = {}
        # per triangle: the integer search's choice (and its Decimal quote once built) for the leg
        # views it was made on. A view is replaced whenever its side's levels change, so the same
        # three view objects mean the very same levels: the pure search need not run again (an
        # update on one side of a pair leaves the triangles using its other side unchanged)
        self._memo: dict[str, list[Any]] = {}
        # prefilter state (see on_book_update): per pair side an index into _lf (log rate)
        self._sym_keys: dict[str, tuple[int, int]] = {}
        self._sym_fee: dict[str, tuple[str, int, int]] = {}
        for t in self.index.triangles:
            for (_, iid, _, rn, rd), leg in zip(self._legspec[t.key], t.legs):
                sym = leg.instrument.symbol
                if sym not in self._sym_keys:
                    n = len(self._sym_keys)
                    self._sym_keys[sym] = (2 * n, 2 * n + 1)
                    self._sym_fee[sym] = (iid, rn, rd)
        self._lf: list[float] = [_NEG_INF] * (2 * len(self._sym_keys))
        self._log_thr = _log(self._edge_n) - _log(self._edge_d) - 1e-9
        self._rows: dict[str, tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]] = {}
        self._seen: set[str] = set()  # pairs whose cached rates were read from their book at least once
        self._primed: set[str] = set()  # pairs whose triangles' other legs were all read once
        self._others: dict[str, set[str]] = {}
        for t in self.index.triangles:
            for leg in t.legs:
                self._others.setdefault(leg.instrument.symbol, set()).update(
                    x for x in t.symbols if x != leg.instrument.symbol)
        for ti, t in enumerate(self.index.triangles):
            keys = [self._sym_keys[leg.instrument.symbol][0 if leg.side is Side.BUY else 1] for leg in t.legs]
            for i, leg in enumerate(t.legs):
                others = [keys[j] for j in range(3) if j != i]
                rows = self._rows.setdefault(leg.instrument.symbol, ([], []))
                rows[0 if leg.side is Side.BUY else 1].append((others[0], others[1], ti))

    def on_book_update(self, instrument_id: str, *, socket_arrival_ns: int = 0) -> list[TriangleDecision]:
        """Decisions for the triangles using this pair that the top-of-book bound lets through
        (the others are counted in ``bound_skips``; nothing could clear the minimum edge there).

        Two stages, so a hub pair's hundreds of triangles cost little:

        1. a prefilter on cached per-leg log rates (one float per pair side, refreshed from the
           book on that pair's own update or :meth:`note_book`): a triangle is dropped only when
           its log bound is below ``log(1 + min_edge)`` by more than 1e-9 (float error here is
           ~1e-15), so it never drops a triangle the exact bound would keep *for the books the
           cache saw*. A leg never seen is read from its book on the first update of a pair
           sharing a triangle with it. Invariant (the node keeps it): every book change of a pair
           reaches this strategy (``on_book_update`` or ``note_book``), so a leg's cached rate is
           at worst one pending update old, and that update re-evaluates the triangle with the
           fresh rate; a caller that skips updates may see a triangle late, never a wrong one;
        2. for the survivors, :meth:`evaluate`: the exact integer bound on the current books,
           then the depth walk with fees and increments. Floats never decide what is sent."""
        cand = self._candidates(instrument_id)
        if not cand:
            return []
        now = self.clock_ns()
        tris = self.index.triangles
        return [self.evaluate(tris[ti], now, socket_arrival_ns=socket_arrival_ns) for ti in cand]

    def best_decision(self, instrument_id: str, *, socket_arrival_ns: int = 0) -> TriangleDecision | None:
        """The one intent the node sends per update: the triangle using this pair with the highest
        predicted edge, or None. Branch and bound on the same evaluation as :meth:`on_book_update`:
        survivors of the prefilter are walked in decreasing order of their exact top-of-book bound,
        and the search stops when the next bound cannot beat the best edge found (a triangle's
        edge never exceeds its bound), so a dislocated hub pair costs a few walks, not hundreds."""
        cand = self._candidates(instrument_id)
        if not cand:
            return None
        tris = self.index.triangles
        ranked = []
        for ti in cand:
            t = tris[ti]
            books = [self.book_of(iid) for _, iid, _, _, _ in self._legspec[t.key]]
            if any(b is None for b in books):
                continue
            nd = self._bound_ratio(t, books)
            if nd is not None and nd[0] * self._edge_d >= nd[1] * self._edge_n:
                ranked.append((nd[0], nd[1], ti))
        # decreasing bound: compare fractions exactly (a/b > c/d <=> a*d > c*b)
        ranked.sort(key=functools.cmp_to_key(lambda x, y: (y[0] * x[1] > x[0] * y[1]) - (y[0] * x[1] < x[0] * y[1])))
        now = self.clock_ns()
        best: tuple[Triangle, list[Any], Any] | None = None
        best_n = best_d = 0
        best_edge = ZERO
        for num, den, ti in ranked:
            if best is not None and num * best_d <= den * best_n:
                break  # this bound (and every later one) cannot beat the best edge found
            t = tris[ti]
            got = self._choose(t, use_bound=False)  # its exact bound was computed just above
            if isinstance(got, TriangleDecision):
                continue
            edge = self._choice_edge(got[1])
            if best is None or edge > best_edge:
                best, best_edge = (t, got[0], got[1]), edge
                en, ed = edge.as_integer_ratio()
                best_n, best_d = 10000 * ed + en, 10000 * ed  # 1 + edge / 10^4
        if best is None:
            return None
        d = self._finish(best[0], best[1], best[2], socket_arrival_ns, now)
        return d if d.intent is not None else None

    def _bound_ratio(self, t: Triangle, books: list[Any]) -> tuple[int, int] | None:
        """Product of the legs' top-of-book rates after fees as an exact fraction (num, den)."""
        num = den = 1
        scales = self._scale
        for (_, _, is_buy, rn, rd), book in zip(self._legspec[t.key], books):
            lvl = book.best_ask() if is_buy else book.best_bid()
            if lvl is None:
                return None
            pdig = book.price_digits
            scale = scales.get(pdig)
            if scale is None:
                scale = scales[pdig] = 10 ** pdig
            if is_buy:
                num *= scale * rd
                den *= lvl[0] * (rd + rn)
            else:
                num *= lvl[0] * (rd - rn)
                den *= scale * rd
        return num, den

    def _candidates(self, instrument_id: str) -> list[int]:
        """Indices of the triangles using this pair that pass the cached-rate prefilter."""
        symbol = instrument_id.split(":", 1)[1] if ":" in instrument_id else instrument_id
        rows = self._rows.get(symbol)
        if rows is None:
            return []
        self._refresh(symbol)
        if symbol not in self._primed:
            # first update of this pair: legs never seen yet are read from their books once
            for other in self._others[symbol]:
                if other not in self._seen:
                    self._refresh(other)
            self._primed.add(symbol)
        lf, thr = self._lf, self._log_thr
        kb, ks = self._sym_keys[symbol]
        tb, ts = thr - lf[kb], thr - lf[ks]
        # triangles buying this pair / selling it: the other two legs' cached log rates
        cand = [ti for kx, ky, ti in rows[0] if lf[kx] + lf[ky] >= tb]
        cand += [ti for kx, ky, ti in rows[1] if lf[kx] + lf[ky] >= ts]
        self.bound_skips += len(rows[0]) + len(rows[1]) - len(cand)
        cand.sort()
        return cand

    def note_book(self, instrument_id: str) -> None:
        """A book changed but is not to be evaluated now (trading paused, starting): keep its
        cached top-of-book rates current (see :meth:`on_book_update`)."""
        symbol = instrument_id.split(":", 1)[1] if ":" in instrument_id else instrument_id
        if symbol in self._rows:
            self._refresh(symbol)

    def _refresh(self, symbol: str) -> None:
        """Cached log rates of this pair's two sides from its book's best levels (-inf: none)."""
        kb, ks = self._sym_keys[symbol]
        iid, rn, rd = self._sym_fee[symbol]
        self._seen.add(symbol)
        book = self.book_of(iid)
        lf = self._lf
        if book is None:
            lf[kb] = lf[ks] = _NEG_INF
            return
        scale = 10 ** book.price_digits
        a, b = book.best_ask(), book.best_bid()
        # buy: 10^d * d / (tick * (d + n)) base per quote; sell: tick * (d - n) / (10^d * d)
        lf[kb] = (_log(scale * rd) - _log(a[0] * (rd + rn))) if a is not None and a[0] > 0 else _NEG_INF
        lf[ks] = (_log(b[0] * (rd - rn)) - _log(scale * rd)) if b is not None and b[0] > 0 and rd > rn else _NEG_INF

    def best_intents(self, instrument_id: str, **kw: Any) -> list[Intent]:
        return [d.intent for d in self.on_book_update(instrument_id, **kw) if d.intent is not None]

    def evaluate(self, t: Triangle, now_ns: int, *, socket_arrival_ns: int = 0, use_bound: bool = True) -> TriangleDecision:
        """One triangle on the current books: exact bound (unless ``use_bound`` is False: the
        benchmark's naive full scan), tradeability, then the depth walk over the start sizes."""
        got = self._choose(t, use_bound)
        if isinstance(got, TriangleDecision):
            return got
        return self._finish(t, got[0], got[1], socket_arrival_ns, now_ns)

    def _choose(self, t: Triangle, use_bound: bool = True) -> TriangleDecision | tuple[list[Any], Any]:
        """(books, choice) for a triangle with a size that clears the minimum edge, else the
        decision saying why not. choice: (start units, end num, end den) from the integer search,
        or a TriangleQuote from the Decimal reference search (fee formulas it does not handle)."""
        if t.key in self.in_flight:
            return TriangleDecision(t, None, None, "execution in flight")
        books = []
        for _, iid, _, _, _ in self._legspec[t.key]:
            book = self.book_of(iid)
            if book is None:
                return TriangleDecision(t, None, None, f"{iid}: no book")
            books.append(book)
        if use_bound and not self.bound_allows(t, books):
            self.bound_skips += 1
            return TriangleDecision(t, None, None, BELOW_BOUND)
        for leg in t.legs:
            iid = leg.instrument.id
            if self.tradeable is not None and not self.tradeable(iid, self.config.max_book_age_ns):
                return TriangleDecision(t, None, None, f"{iid} not tradeable")
        cap = self.config.max_start.get(t.start, ZERO)
        ints = self._int_legs(t, books) if self.exact_int else None
        if ints is None:
            choice: Any = self._search_decimal(t, books, cap)
        else:
            views, me = ints[1], self.config.min_edge_bps
            m = self._memo.get(t.key)
            if m is not None and m[0][0] is views[0] and m[0][1] is views[1] and m[0][2] is views[2] \
                    and m[1] == cap and m[2] == me:
                choice = m[3]
            else:
                choice = best_start(ints[0], views, cap, me, self)
                self._memo[t.key] = [views, cap, me, choice, None]
        if choice is None:
            return TriangleDecision(t, None, None, "no size with the minimum edge")
        return books, choice

    @staticmethod
    def _choice_edge(choice: Any) -> Decimal:
        """The chosen size's edge_bps, computed as TriangleQuote.edge_bps computes it."""
        if isinstance(choice, TriangleQuote):
            return choice.edge_bps
        start = Decimal(choice[0]).scaleb(-8)
        return (Decimal(choice[1]) / Decimal(choice[2]) - start) / start * BPS

    def _finish(self, t: Triangle, books: list[Any], choice: Any, socket_arrival_ns: int, now_ns: int) -> TriangleDecision:
        """The quote and the intent of a chosen size."""
        tops = [self._book_top(leg.instrument.id, b) for leg, b in zip(t.legs, books)]
        if isinstance(choice, TriangleQuote):
            best: TriangleQuote | None = choice
        else:
            # the final exact check: the Decimal walk at the chosen size, on the very levels the
            # intent carries, builds the quote (the amounts sent come from it)
            m = self._memo.get(t.key)
            if m is not None and m[3] is choice and m[4] is not None:
                best = m[4]  # walked on these very levels (the memo's views) already
            else:
                lv = [top.asks if leg.side is Side.BUY else top.bids for leg, top in zip(t.legs, tops)]
                best = walk_triangle(t, (lv[0], lv[1], lv[2]), Decimal(choice[0]).scaleb(-8))
                if m is not None and m[3] is choice and best is not None and best.edge_bps >= self.config.min_edge_bps:
                    m[4] = best
            if best is None or best.edge_bps < self.config.min_edge_bps:
                # never expected (tests/unit/strategies/test_triangular_exact.py): decide in Decimal
                self.exact_mismatches += 1
                log.error("triangular: integer walk chose %s for %s, the Decimal walk disagrees", choice, t.key)
                best = self._search_decimal(t, books, self.config.max_start.get(t.start, ZERO))
                if best is None:
                    return TriangleDecision(t, None, None, "no size with the minimum edge")
        return TriangleDecision(t, best, self._intent(best, tops, socket_arrival_ns, now_ns, self.clock_ns()))

    def _book_top(self, instrument_id: str, book: Any) -> BookTop:
        """:func:`_book_top` with each side's Decimals reused while its levels are unchanged."""
        pd, sd = getattr(book, "price_digits", None), getattr(book, "size_digits", None)
        if pd is None or sd is None:
            return _book_top(instrument_id, book, self.config.depth)
        sides = []
        for is_bid in (True, False):
            lv = book.levels(is_bid, self.config.depth)
            key = (instrument_id, is_bid, pd, sd)  # the same integers mean other values at other digits
            got = self._dec_sides.get(key)
            if got is None or got[0] != lv:
                pe, se = f"e-{pd}", f"e-{sd}"
                got = self._dec_sides[key] = (lv, [(Decimal(f"{tk}{pe}"), Decimal(f"{q}{se}")) for tk, q in lv])
            sides.append(list(got[1]))
        return BookTop(instrument_id=instrument_id, bids=sides[0], asks=sides[1],
                       last_update_ns=int(book.last_update_ns or 0), sequence=int(book.sequence or 0))

    def _search_decimal(self, t: Triangle, books: list[Any], cap: Decimal) -> TriangleQuote | None:
        """The reference search: every start candidate walked in Decimal; the highest profit with
        the minimum edge (ties to the smallest start)."""
        levels = [leg_levels(b, leg.side, self.config.depth) for leg, b in zip(t.legs, books)]
        best: TriangleQuote | None = None
        for amount in start_candidates(t, (levels[0], levels[1], levels[2]), cap):
            q = walk_triangle(t, (levels[0], levels[1], levels[2]), amount)
            if q is None or q.edge_bps < self.config.min_edge_bps:
                continue
            if best is None or q.profit > best.profit:
                best = q
        return best

    def _int_legs(self, t: Triangle, books: list[Any]) -> tuple[tuple, tuple] | None:
        """(specs, views) of the integer walk for these books (views reused while a book side's
        levels are unchanged); None when a leg's fee formula is not proportional."""
        specs, views = [], []
        depth = self.config.depth
        for leg, book in zip(t.legs, books):
            is_buy = leg.side is Side.BUY
            key = (leg.instrument.id, is_buy, book.price_digits, book.size_digits)
            spec = self._specs.get(key, _MISSING)
            if spec is _MISSING:
                spec = self._specs[key] = (LegSpec(leg.instrument, is_buy, book.price_digits, book.size_digits)
                                           if LegSpec.supported(leg.instrument) else None)
            if spec is None:
                return None
            lv = book.levels(not is_buy, depth)
            view = self._views.get(key)
            if view is None or view.levels != lv:
                view = self._views[key] = LegView(spec, lv)
            specs.append(spec)
            views.append(view)
        return tuple(specs), tuple(views)

    def bound_allows(self, t: Triangle, books: list[Any]) -> bool:
        """Whether the best levels could give the minimum edge, in exact integers: no size can do
        better than the top of every book (deeper levels are worse, increments floor, fees are
        proportional), so when ``prod(top rate after fee) < 1 + min_edge_bps / 10^4`` the triangle
        is skipped without walking. Per leg, with the best price ``tick / 10^d`` and fee ``n / d``:
        a buy gives at most ``10^d * d / (tick * (d + n))`` base per quote, a sell
        ``tick * (d - n) / (10^d * d)`` quote per base."""
        nd = self._bound_ratio(t, books)
        return nd is not None and nd[0] * self._edge_d >= nd[1] * self._edge_n

    def _intent(self, q: TriangleQuote, tops: list[BookTop], socket_ns: int, book_ns: int, evaluated_ns: int) -> Intent:
        t = q.triangle
        legs = []
        for i, (leg, f) in enumerate(zip(t.legs, q.legs)):
            kw: dict[str, Any] = {}
            if i == 0:
                kw = {"funds": q.start_amount} if leg.side is Side.BUY else {"quantity": f.quantity}
            legs.append(IntentLeg(instrument=leg.instrument, side=leg.side, price=f.limit, order_type=OrderType.LIMIT,
                                  time_in_force=TimeInForce.IOC, **kw))
        corr = new_correlation_id()
        return Intent(
            execution_id=corr, correlation_id=corr, legs=legs, sequencing=Sequencing.CASCADE, hedge=self.config.hedge,
            books=tops,
            predicted_edge_bps=q.edge_bps, predicted_profit=q.profit, primary_quote=t.start,
            timestamps=IntentTimestamps(socket_arrival_ns=socket_ns, book_updated_ns=book_ns, evaluated_ns=evaluated_ns,
                                        created_ns=self.clock_ns()),
            isolation=IsolationKeys(triangle=t.key, pairs=tuple(sorted(set(t.symbols))), primary_quote=t.start),
            strategy=self.name, signal_key=t.key, leg_timeout_s=self.config.leg_timeout_s)

    def execution_started(self, triangle_key: str) -> None:
        self.in_flight.add(triangle_key)

    def execution_finished(self, triangle_key: str) -> None:
        self.in_flight.discard(triangle_key)


def report_line(status: str, correlation_id: str, t: Triangle, start: Decimal, end: Decimal,
                predicted_bps: Decimal, legs: str = "", timings: str = "") -> str:
    """``FILLED | corr | BTC-USDT→ETH-BTC→ETH-USDT | start 100 USDT → end 100.42 USDT | +42 bps (pred 45) | ...``"""
    bps = (end - start) / start * BPS if start else ZERO
    fmt = lambda d: format(d.normalize(), "f")  # noqa: E731
    return (f"{status} | {correlation_id} | {t.path} | start {fmt(start)} {t.start} → end {fmt(end)} {t.start} | "
            f"{bps:+.0f} bps (pred {predicted_bps:.0f})" + (f" | legs {legs}" if legs else "")
            + (f" | timings {timings}" if timings else ""))


__all__ = ["Leg", "LegFill", "Triangle", "TriangleDecision", "TriangleIndex", "TriangleQuote", "TriangularConfig",
           "TriangularStrategy", "enumerate_triangles", "leg_levels", "price_leg", "report_line", "start_candidates",
           "walk_triangle"]
