"""Exact integer depth walk and start-size search for the triangular evaluator.

The Decimal walk in :mod:`arbkit.strategies.triangular` (``price_leg`` / ``walk_triangle``) defines
what a triangle yields at a start amount; this module computes the same thing in integers, fast:

* a book's levels are ``(tick, lots)`` with ``price = tick / 10^pd`` and ``size = lots / 10^sd``;
  sizes are rescaled to ``10^qd`` units where the increment and the minimum size are integers;
  a fee rate is the exact fraction ``rn / rd`` of ``taker_rate x multiplier``;
* amounts between legs are exact fractions ``(numerator, denominator)``; every floor is an integer
  floor division, exactly where the Decimal walk floors (base increment for sells; funds held back
  for the fee at the worst level's price, then floored, for buys), so a leg yields the very same
  quantity, limit, notional and output;
* the start amounts tried are the same candidates as :func:`triangular.start_candidates` (each
  computed exactly, in units of 10^-8 of the start currency).

Floats only prune: per leg a float piecewise-linear *upper bound* of the output (the whole input
converted through the levels with the fee, no flooring, no worst-price fee hold), composed over
the three legs, gives ``G(s) >= profit(s)`` for every start ``s``; ``G`` is concave (each leg's
bound is concave and increasing), so over the sorted candidates it is unimodal. The search finds
its peak and walks exactly outwards, in decreasing ``G``, until no remaining candidate's bound
(inflated by 1e-9 relative plus one 10^-8 unit, far above the float error) can reach the best
exact profit found or the minimum edge. Every candidate that could win or tie is walked exactly,
so the decision (max profit, ties to the smallest start) equals the exhaustive Decimal search;
tests/unit/strategies/test_triangular_exact.py checks it on random books, fees and increments.
"""

from __future__ import annotations

from bisect import bisect_left
from decimal import Decimal
from typing import Any

from arbkit.core.instruments import Instrument

START_UNITS = 10**8  # start amounts are journaled with 8 decimals (triangular.START_QUANTUM)
FRACTIONS = (4, 3, 2, 1)  # quarters of each level boundary (triangular.start_candidates)
LADDER = 12
_NEG_INF = float("-inf")
_REL = 1e-9  # float slack, relative (float error here is ~1e-15)


_RATIOS: dict[Decimal, tuple[int, int]] = {}


def _ratio(d: Decimal) -> tuple[int, int]:
    """``d`` as an exact fraction (cached: caps and minimum edges repeat on every evaluation)."""
    r = _RATIOS.get(d)
    if r is None:
        if len(_RATIOS) > 65536:
            _RATIOS.clear()
        r = _RATIOS[d] = d.as_integer_ratio()
    return r


_DIGITS: dict[Decimal, int] = {}


def _digits(d: Decimal) -> int:
    r = _DIGITS.get(d)
    if r is None:
        if len(_DIGITS) > 65536:
            _DIGITS.clear()
        r = _DIGITS[d] = max(0, -d.normalize().as_tuple().exponent)  # type: ignore[operator]
    return r


def prime(instruments: Any) -> None:
    """Compute once, ahead of the first book update, the exact constants a LegSpec of each
    instrument needs (increments, minimums and fee rates as fractions, their digits), so that
    building a leg's spec on a triangle's first evaluation is integer arithmetic only."""
    for inst in instruments:
        fee = inst.fee
        _ratio(fee.taker_rate * fee.multiplier if fee.kind == "spot" else Decimal(0))
        _digits(inst.size_increment)
        _digits(inst.min_size)
        _ratio(inst.size_increment)
        _ratio(inst.min_size)
        if inst.min_notional:
            _ratio(inst.min_notional)


class LegSpec:
    """What does not change with the book: side, scales, increment, minimums, fee fraction."""

    __slots__ = ("is_buy", "P", "Q", "qm", "inc", "minq", "mn_n", "mn_d", "rn", "rd", "kin", "kout")

    def __init__(self, inst: Instrument, is_buy: bool, price_digits: int, size_digits: int) -> None:
        fee = inst.fee
        rate = fee.taker_rate * fee.multiplier if fee.kind == "spot" else Decimal(0)
        self.rn, self.rd = _ratio(rate)
        self.is_buy = is_buy
        self.P = 10**price_digits
        qd = max(size_digits, _digits(inst.size_increment), _digits(inst.min_size))
        self.Q = 10**qd
        self.qm = 10 ** (qd - size_digits)
        inc_n, inc_d = _ratio(inst.size_increment)
        self.inc = inc_n * self.Q // inc_d
        mn, md = _ratio(inst.min_size)
        self.minq = mn * self.Q // md
        self.mn_n, self.mn_d = _ratio(inst.min_notional) if inst.min_notional else (0, 1)
        rn, rd, P, Q = self.rn, self.rd, self.P, self.Q
        # float factors of the bound: cumulative tick x lots -> input (buy, fee added) or output (sell, fee taken)
        self.kin = (rd + rn) / (rd * P * Q)
        self.kout = (rd - rn) / (rd * P * Q)

    @staticmethod
    def supported(inst: Instrument) -> bool:
        """Proportional fees only (KuCoin spot); other formulas stay on the Decimal walk."""
        return inst.fee.kind in ("spot", "none") and inst.size_increment > 0


class LegView:
    """One leg's levels as integers (prefix sums) plus the float bound's breakpoints."""

    __slots__ = ("levels", "ticks", "cum_q", "cum_c", "cin", "cout", "slope", "n", "top")

    def __init__(self, spec: LegSpec, levels: list[tuple[int, int]]) -> None:
        self.levels = levels
        qm = spec.qm
        ticks, cum_q, cum_c = [], [], []
        aq = ac = 0
        for t, lots in levels:
            q = lots * qm
            aq += q
            ac += t * q
            ticks.append(t)
            cum_q.append(aq)
            cum_c.append(ac)
        self.ticks, self.cum_q, self.cum_c, self.n = ticks, cum_q, cum_c, len(ticks)
        self.top = ticks[0] if ticks else 0
        rn, rd, P, Q = spec.rn, spec.rd, spec.P, spec.Q
        if spec.is_buy:
            # input = quote spent with the fee, output = base; slope 1 / (p (1 + r))
            self.cin = [c * spec.kin for c in cum_c]
            self.cout = [q / Q for q in cum_q]
            self.slope = [(P * rd) / (t * (rd + rn)) for t in ticks]
        else:
            self.cin = [q / Q for q in cum_q]
            self.cout = [c * spec.kout for c in cum_c]
            self.slope = [t * (rd - rn) / (P * rd) for t in ticks]

    def boundary(self, spec: LegSpec, i: int) -> tuple[int, int]:
        """Exact cumulative input that empties level i (fee included for buys)."""
        if spec.is_buy:
            return self.cum_c[i] * (spec.rd + spec.rn), spec.P * spec.Q * spec.rd
        return self.cum_q[i], spec.Q

    def top_rate(self, spec: LegSpec) -> tuple[int, int]:
        """Output per input at the best level, before fees (triangular._top_rate_exact), as a fraction."""
        return (spec.P, self.top) if spec.is_buy else (self.top, spec.P)


def leg_exact(spec: LegSpec, v: LegView, xn: int, xd: int) -> tuple[int, int, int, int, int] | None:
    """(quantity in Q units, limit tick, notional num, output num, output den) of spending xn/xd,
    as triangular.price_leg does; None where it refuses. Notional = num / (P * Q)."""
    if xn <= 0 or not v.n:
        return None
    P, Q, inc = spec.P, spec.Q, spec.inc
    rn, rd = spec.rn, spec.rd
    if spec.is_buy:
        # the worst level the funds reach: first i with cum_c[i] (1 + r) / (P Q) >= x
        need = -((-xn * P * Q * rd) // ((rd + rn) * xd))
        w = bisect_left(v.cum_c, need)
        if w >= v.n:
            return None
        limit = v.ticks[w]
        q = (xn * P * rd * Q) // (xd * limit * (rd + rn) * inc) * inc
    else:
        q = (xn * Q) // (xd * inc) * inc
        limit = -1
    if q <= 0 or q < spec.minq:
        return None
    cum_q = v.cum_q
    k = bisect_left(cum_q, q)
    if k >= v.n:
        return None
    notional = (v.cum_c[k - 1] + (q - cum_q[k - 1]) * v.ticks[k]) if k else q * v.ticks[0]
    if spec.mn_n and notional * spec.mn_d < spec.mn_n * P * Q:
        return None
    if spec.is_buy:
        return q, limit, notional, q, Q
    return q, v.ticks[k], notional, notional * (rd - rn), P * Q * rd


def walk_exact(specs: tuple[LegSpec, LegSpec, LegSpec], views: tuple[LegView, LegView, LegView],
               start_units: int) -> tuple[int, int] | None:
    """End amount (num, den) of sending start_units / 10^8 around the triangle; None if refused."""
    xn, xd = start_units, START_UNITS
    first = None
    for spec, v in zip(specs, views):
        r = leg_exact(spec, v, xn, xd)
        if r is None:
            return None
        if first is None:
            first = (spec, r)
        xn, xd = r[3], r[4]
    spec, r = first  # type: ignore[misc]
    if spec.is_buy:
        # input used (notional + fee) may not exceed the start amount (triangular.walk_triangle)
        if r[2] * (spec.rd + spec.rn) * START_UNITS > start_units * spec.P * spec.Q * spec.rd:
            return None
    elif r[0] * START_UNITS > start_units * spec.Q:
        return None
    return xn, xd


def _bound_out(v: LegView, x: float) -> float:
    """Float upper bound of a leg's output for input x: beyond the book, the whole book's output
    (flat: the exact input may still fit when x, itself a bound, does not; stays concave)."""
    cin = v.cin
    i = bisect_left(cin, x)
    if i >= v.n:
        return v.cout[-1]
    return v.cout[i] - (cin[i] - x) * v.slope[i]


def candidate_sources(views: tuple[LegView, LegView, LegView], specs: tuple[LegSpec, LegSpec, LegSpec],
                      cap_f: float) -> list[tuple[float, int]]:
    """Float positions of every start candidate with its source code, sorted by position:
    code >= 0: level boundary (leg k, level i, fraction f) = (k * 4096 + i) * 4 + f index;
    code < 0: -(j + 1), the cap halved j times (j = 0: the cap)."""
    out = [(cap_f, -1)]
    h = cap_f
    for j in range(1, LADDER + 1):
        h = h / 2
        out.append((h, -(j + 1)))
    to_start = 1.0
    lim = cap_f * (1 + _REL)
    for k in range(3):
        v = views[k]
        if k > 0:
            pv, ps = views[k - 1], specs[k - 1]
            if not pv.n:
                break
            n, d = pv.top_rate(ps)
            to_start *= n / d
        for i, b in enumerate(v.cin):
            base = b / to_start
            if base * 0.25 > lim:
                break  # boundaries only grow (cin is cumulative): no later level has a candidate <= cap
            code = (k * 4096 + i) * 4
            for fi, f in enumerate((1.0, 0.75, 0.5, 0.25)):
                x = base * f
                if x <= lim:
                    out.append((x, code + fi))
    out.sort()
    return out


def candidate_units(code: int, views: tuple[LegView, LegView, LegView], specs: tuple[LegSpec, LegSpec, LegSpec],
                    cap_n: int, cap_d: int) -> int:
    """The exact candidate of a source, in 10^-8 units (0: not a candidate: above the cap or nothing)."""
    if code < 0:
        j = -code - 1
        return (cap_n * START_UNITS) // (cap_d << j)
    fi = code % 4
    k, i = divmod(code // 4, 4096)
    bn, bd = views[k].boundary(specs[k], i)
    tn = td = 1
    for m in range(k):
        n, d = views[m].top_rate(specs[m])
        tn *= n
        td *= d
    fn = FRACTIONS[fi]
    # v = (fn / 4) * b / T, kept only if 0 < v <= cap
    num, den = fn * bn * td, 4 * bd * tn
    if num <= 0 or num * cap_d > cap_n * den:
        return 0
    return (num * START_UNITS) // den


def all_candidate_units(views: tuple[LegView, LegView, LegView], specs: tuple[LegSpec, LegSpec, LegSpec],
                        cap_n: int, cap_d: int) -> list[int]:
    """Every candidate exactly (sorted, distinct, > 0): the reference set of the search."""
    codes = [-(j + 1) for j in range(LADDER + 1)]
    for k in range(3):
        if k > 0 and not views[k - 1].n:
            break
        codes += [(k * 4096 + i) * 4 + fi for i in range(views[k].n) for fi in range(4)]
    return sorted({u for c in codes if (u := candidate_units(c, views, specs, cap_n, cap_d)) > 0})


def best_start(specs: tuple[LegSpec, LegSpec, LegSpec], views: tuple[LegView, LegView, LegView],
               cap: Decimal, min_edge_bps: Decimal, stats: Any = None) -> tuple[int, int, int] | None:
    """(start in 10^-8 units, end num, end den): the start with the highest exact profit whose edge
    is at least the minimum, ties to the smallest; None when no candidate qualifies. See the
    module docstring."""
    if cap <= 0 or not all(v.n for v in views):
        return None
    cap_n, cap_d = _ratio(cap)
    me_n, me_d = _ratio(min_edge_bps if isinstance(min_edge_bps, Decimal) else Decimal(min_edge_bps))
    cands = candidate_sources(views, specs, cap_n / cap_d)
    n = len(cands)
    v0, v1, v2 = views
    me_f = me_n / me_d / 10000

    g_memo: dict[int, float] = {}

    def g(idx: int) -> float:
        r = g_memo.get(idx)
        if r is None:
            s = cands[idx][0]
            u = _bound_out(v2, _bound_out(v1, _bound_out(v0, s)))
            r = g_memo[idx] = u - s
        return r

    lo, hi = 0, n - 1
    while lo < hi:
        mid = (lo + hi) // 2
        s_mid, j = cands[mid][0], mid + 1
        while j <= hi and cands[j][0] == s_mid:
            j += 1  # the same position from several sources: compare with the next distinct one
        if j > hi:
            hi = mid
        elif g(mid) < g(j):
            lo = j
        else:
            hi = mid
    peak = lo
    best_u = 0
    best_pn = best_pd = 0  # best exact profit = best_pn / best_pd
    best_end = (0, 1)
    best_pf = _NEG_INF
    walked: set[int] = set()
    left, right = peak, peak + 1
    left_open, right_open = True, right < n
    while left_open or right_open:
        if left_open and (not right_open or g(left) >= g(right)):
            idx, side = left, -1
        else:
            idx, side = right, 1
        s = cands[idx][0]
        gi = g(idx)
        g_hi = (gi + s) * (1 + _REL) - s * (1 - _REL) + 1e-8
        if g_hi < best_pf:
            break  # every remaining candidate's bound is lower still (unimodal)
        if side < 0:
            left -= 1
            left_open = left >= 0
        else:
            right += 1
            right_open = right < n
        if g_hi < me_f * (s * (1 - _REL) - 1e-8):
            if side > 0:
                right_open = False  # G(s)/s decreases with s: nothing further right reaches the edge
            continue
        u = candidate_units(cands[idx][1], views, specs, cap_n, cap_d)
        if u <= 0 or u in walked:
            continue
        walked.add(u)
        if stats is not None:
            stats.exact_walks += 1
        end = walk_exact(specs, views, u)
        if end is None:
            continue
        en, ed = end
        pn, pd = en * START_UNITS - u * ed, ed * START_UNITS  # profit = end - start
        # edge_bps = profit / start x 10^4 >= min_edge_bps  <=>  pn * 10^4 * me_d >= me_n * start * pd
        if pn * 10000 * me_d * START_UNITS < me_n * u * pd:
            continue
        if best_pd == 0 or pn * best_pd > best_pn * pd or (pn * best_pd == best_pn * pd and u < best_u):
            best_u, best_pn, best_pd, best_end = u, pn, pd, end
            best_pf = pn / pd
    return (best_u, best_end[0], best_end[1]) if best_pd else None


__all__ = ["prime", "LegSpec", "LegView", "all_candidate_units", "best_start", "candidate_units", "leg_exact", "walk_exact"]
