"""L2 order books: integer ticks and lots inside, Decimal only at the boundary.

Two books share one API (names and semantics):

* :class:`PredictionBook` - a prediction-market outcome over a bounded tick grid: prices are integer
  ticks of ``tick_size`` in ``[0, n_ticks]`` with ``n_ticks = 1 / tick_size`` (0.01 -> 100,
  0.001 -> 1000, 0.0001 -> 10000).
* :class:`CryptoBook` - a spot pair with arbitrary prices: integer price units of
  ``10**-price_digits`` in ``[1, MAX_PRICE_UNITS]``. Its "ticks" are those price units.

Sizes are integer lots of ``10**-size_digits`` in ``[0, MAX_LOTS]`` (``MAX_LOTS = 2**63 - 1``, the
int64 limit of the C core); a bigger or negative size is refused with ValueError, never wrapped.
Sums that may exceed int64 (``walk`` notional, ``size_up_to``) are exact Python ints.

Semantics shared by both books:

* ``apply_delta(is_bid, tick, lots)`` sets the NEW TOTAL at that level; ``lots == 0`` removes it
  (removing a level that is not there is a no-op). A delta that crosses the book is applied - venues
  send transient crosses - and ``is_crossed()`` reports it; whoever trades decides what to do.
* ``apply_snapshot(bids, asks)`` replaces everything; levels with 0 lots are ignored; a price given
  twice keeps the last one (as if the levels were applied as deltas in order). Input is validated
  completely before anything changes, so a bad snapshot or batch leaves the book as it was.
* Every apply records ``sequence`` and ``ts_ns`` as given (0 = unknown; ints that fit int64) in
  ``sequence`` and ``last_update_ns`` for staleness checks (an empty ``apply_deltas`` batch records
  nothing). The book does not judge sequence gaps: feeds do.
* Queries (``size_at``, ``size_up_to``) accept any int: a price outside the grid simply has no size.
* ``walk(is_buy, lots)`` takes liquidity (a buy walks asks from the best, a sell walks bids) and
  returns ``(filled_lots, notional)`` with ``notional = sum(tick * lots_taken)``; the average price
  is ``notional / filled * price_unit``.

Implementation: a small C extension (``arbkit.core._book``, built by setup.py at install) holds the
integer core; when it is not built (or ``ARBKIT_BOOK_IMPL=python`` is set) the pure-Python cores
below, with identical behaviour, are used. Both are always importable as ``PyPredictionBook`` /
``PyCryptoBook`` and, when built, ``CPredictionBook`` / ``CCryptoBook`` (the tests run both).
The hot path never touches floats or Decimal.
"""

from __future__ import annotations

import os
from bisect import bisect_left, insort
from collections.abc import Iterable
from decimal import Decimal
from operator import index as _index
from typing import TYPE_CHECKING, Any

__all__ = [
    "MAX_LOTS",
    "MAX_PRICE_UNITS",
    "MAX_TICKS",
    "IMPLEMENTATION",
    "C_AVAILABLE",
    "PredictionBook",
    "CryptoBook",
    "PyPredictionBook",
    "PyCryptoBook",
    "CPredictionBook",
    "CCryptoBook",
]

MAX_LOTS = 2**63 - 1  # int64 max: the C core stores lots as int64
MAX_PRICE_UNITS = 2**63 - 1  # crypto prices, same reason
MAX_TICKS = 1_000_000  # prediction grid: tick_size >= 0.000001 (the arrays are dense)

Level = tuple[int, int]

_BID = 1
_ASK = 0


def _as_int(value: Any, what: str) -> int:
    """An int (or something with __index__, e.g. bool); floats and Decimals are refused."""
    try:
        return _index(value)
    except TypeError:
        raise TypeError(f"{what} must be an int, got {type(value).__name__} {value!r}") from None


def _check_lots(lots: Any) -> int:
    if lots.__class__ is not int:
        lots = _as_int(lots, "lots")
    if not 0 <= lots <= MAX_LOTS:
        raise ValueError(f"lots {lots} outside [0, {MAX_LOTS}]")
    return lots


def _digits(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an int, got {value!r}")
    if not 0 <= value <= 18:
        raise ValueError(f"{what} must be in [0, 18], got {value}")
    return value


def _decimal_units(value: Any, digits: int, what: str) -> int:
    """``value * 10**digits`` as an exact int (independent of the decimal context).

    ValueError when ``value`` has more decimals than ``digits``; TypeError for floats.
    """
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"{what} must be a Decimal or int, not {type(value).__name__} {value!r}")
    if isinstance(value, int):
        return value * 10**digits
    if isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except ArithmeticError:  # decimal.InvalidOperation
            raise ValueError(f"{what} {value!r} is not a number") from None
    if not isinstance(value, Decimal):
        raise TypeError(f"{what} must be a Decimal or int, not {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{what} {value} is not finite")
    sign, ds, exp = value.as_tuple()
    n = int("".join(map(str, ds))) if ds else 0
    if n == 0:
        return 0
    e = int(exp) + digits
    # bound the powers of ten: a hostile "1e999999999" must not allocate a giant int
    if e > 40:
        raise ValueError(f"{what} {value} is out of range")
    if e >= 0:
        n *= 10**e
    else:
        if -e > len(ds):
            raise ValueError(f"{what} {value} has more than {digits} decimals")
        n, r = divmod(n, 10**-e)
        if r:
            raise ValueError(f"{what} {value} has more than {digits} decimals")
    return -n if sign else n


def _units_decimal(units: int, digits: int) -> Decimal:
    """Exact ``units * 10**-digits`` (string construction does not round)."""
    return Decimal(f"{units}e-{digits}")


# ----------------------------------------------------------------------------------------------
# pure-Python integer cores


class _PyLevelQueries:
    """Read-only queries shared by the pure-Python books: ``_occ[side]`` holds the occupied keys
    sorted worst to best (bids as price, asks as -price) and ``_lots[side][price]`` the size."""

    __slots__ = ()
    _LIMIT_NAME = "limit_tick"

    def is_crossed(self) -> bool:
        b, a = self._occ[_BID], self._occ[_ASK]
        return bool(b and a and b[-1] >= -a[-1])

    def level_count(self, is_bid: bool) -> int:
        return len(self._occ[_BID if is_bid else _ASK])

    def levels(self, is_bid: bool, depth: int | None = None) -> list[Level]:
        """Levels best first, at most ``depth`` of them (None = all)."""
        side = _BID if is_bid else _ASK
        occ = self._occ[side]
        n = len(occ) if depth is None else min(len(occ), _depth(depth))
        lv = self._lots[side]
        if side:
            return [(k, lv[k]) for k in occ[len(occ) - n:][::-1]]
        return [(-k, lv[-k]) for k in occ[len(occ) - n:][::-1]]

    def walk(self, is_buy: bool, lots: int) -> tuple[int, int]:
        """Take up to ``lots`` from the best level outwards: (filled_lots, sum(price unit * taken))."""
        want = _check_lots(lots)
        side = _ASK if is_buy else _BID
        lv = self._lots[side]
        filled = notional = 0
        for key in reversed(self._occ[side]):
            if filled >= want:
                break
            t = key if side else -key
            take = min(want - filled, lv[t])
            filled += take
            notional += t * take
        return filled, notional

    def size_up_to(self, is_buy: bool, limit_tick: int) -> int:
        """Lots a buy can take at asks <= limit (a sell: bids >= limit)."""
        limit = _as_int(limit_tick, self._LIMIT_NAME)
        side = _ASK if is_buy else _BID
        lv = self._lots[side]
        total = 0
        for key in reversed(self._occ[side]):
            t = key if side else -key
            if (t > limit) if is_buy else (t < limit):
                break
            total += lv[t]
        return total


class _PyPredictionCore(_PyLevelQueries):
    """Tick-grid core: a list of lots per side plus a sorted list of occupied keys per side.

    Keys sort ascending with the best level last: bids key = tick, asks key = -tick.
    """

    __slots__ = ("n_ticks", "sequence", "last_update_ns", "_lots", "_occ")

    def __init__(self, n_ticks: int) -> None:
        if not 1 <= n_ticks <= MAX_TICKS:
            raise ValueError(f"n_ticks must be in [1, {MAX_TICKS}], got {n_ticks}")
        self.n_ticks = n_ticks
        self.sequence = 0
        self.last_update_ns = 0
        self._lots: list[list[int]] = [[0] * (n_ticks + 1), [0] * (n_ticks + 1)]
        self._occ: list[list[int]] = [[], []]

    def _check_tick(self, tick: Any) -> int:
        if tick.__class__ is not int:
            tick = _as_int(tick, "tick")
        if not 0 <= tick <= self.n_ticks:
            raise ValueError(f"tick {tick} is outside the grid [0, {self.n_ticks}]")
        return tick

    def apply_delta(self, is_bid: bool, tick: int, lots: int, sequence: int = 0, ts_ns: int = 0) -> None:
        """Set the level's NEW TOTAL lots (0 removes it)."""
        if tick.__class__ is not int or lots.__class__ is not int:
            tick = _as_int(tick, "tick")
            lots = _as_int(lots, "lots")
        if not 0 <= tick <= self.n_ticks:
            raise ValueError(f"tick {tick} is outside the grid [0, {self.n_ticks}]")
        if not 0 <= lots <= MAX_LOTS:
            raise ValueError(f"lots {lots} outside [0, {MAX_LOTS}]")
        side = _BID if is_bid else _ASK
        levels = self._lots[side]
        old = levels[tick]
        levels[tick] = lots
        if old == 0:
            if lots:
                insort(self._occ[side], tick if side else -tick)
        elif lots == 0:
            occ = self._occ[side]
            key = tick if side else -tick
            if occ[-1] == key:  # deletes at the top are the common case
                occ.pop()
            else:
                del occ[bisect_left(occ, key)]
        self.sequence = sequence
        self.last_update_ns = ts_ns

    def apply_deltas(self, is_bid_seq: Iterable[bool], tick_seq: Iterable[int], lots_seq: Iterable[int],
                     sequence: int = 0, ts_ns: int = 0) -> None:
        """Validate every delta, then apply them in order (all or nothing)."""
        sides, ticks, lots = list(is_bid_seq), list(tick_seq), list(lots_seq)
        if not len(sides) == len(ticks) == len(lots):
            raise ValueError("apply_deltas: sequences must have the same length")
        ticks = [self._check_tick(t) for t in ticks]
        lots = [_check_lots(x) for x in lots]
        for b, t, x in zip(sides, ticks, lots):
            self.apply_delta(b, t, x, sequence, ts_ns)

    def apply_snapshot(self, bids: Iterable[Level], asks: Iterable[Level], sequence: int = 0, ts_ns: int = 0) -> None:
        """Replace the whole book; validated first so a bad snapshot changes nothing."""
        parsed = []
        for side_levels in (asks, bids):  # index 0 = asks, 1 = bids
            parsed.append([(self._check_tick(t), _check_lots(x)) for t, x in side_levels])
        self.clear()
        for side in (_ASK, _BID):
            levels = self._lots[side]
            for t, x in parsed[side]:
                levels[t] = x
            self._occ[side] = sorted(t if side else -t for t in {t for t, _ in parsed[side]} if levels[t])
        self.sequence = sequence
        self.last_update_ns = ts_ns

    def clear(self) -> None:
        """Remove every level (sequence and time are kept)."""
        for side in (_ASK, _BID):
            levels = self._lots[side]
            for key in self._occ[side]:
                levels[key if side else -key] = 0
            self._occ[side] = []

    def best_bid(self) -> Level | None:
        occ = self._occ[_BID]
        if occ:
            t = occ[-1]
            return (t, self._lots[_BID][t])
        return None

    def best_ask(self) -> Level | None:
        occ = self._occ[_ASK]
        if occ:
            t = -occ[-1]
            return (t, self._lots[_ASK][t])
        return None

    def size_at(self, is_bid: bool, tick: int) -> int:
        tick = _as_int(tick, "tick")
        if 0 <= tick <= self.n_ticks:
            return self._lots[_BID if is_bid else _ASK][tick]
        return 0

def _depth(depth: Any) -> int:
    d = _as_int(depth, "depth")
    if d < 0:
        raise ValueError("depth must be >= 0 or None")
    return d


class _PyCryptoCore(_PyLevelQueries):
    """Arbitrary-price core: a dict of lots per side plus a sorted list of keys (best last)."""

    _LIMIT_NAME = "limit_price"

    __slots__ = ("sequence", "last_update_ns", "_lots", "_occ")

    def __init__(self) -> None:
        self.sequence = 0
        self.last_update_ns = 0
        self._lots: list[dict[int, int]] = [{}, {}]
        self._occ: list[list[int]] = [[], []]

    @staticmethod
    def _check_price(price: Any) -> int:
        if price.__class__ is not int:
            price = _as_int(price, "price")
        if not 1 <= price <= MAX_PRICE_UNITS:
            raise ValueError(f"price {price} outside [1, {MAX_PRICE_UNITS}] price units")
        return price

    def apply_delta(self, is_bid: bool, tick: int, lots: int, sequence: int = 0, ts_ns: int = 0) -> None:
        """Set the level's NEW TOTAL lots (0 removes it)."""
        if tick.__class__ is not int or lots.__class__ is not int:
            tick = _as_int(tick, "price")
            lots = _as_int(lots, "lots")
        if not 1 <= tick <= MAX_PRICE_UNITS:
            raise ValueError(f"price {tick} outside [1, {MAX_PRICE_UNITS}] price units")
        if not 0 <= lots <= MAX_LOTS:
            raise ValueError(f"lots {lots} outside [0, {MAX_LOTS}]")
        side = _BID if is_bid else _ASK
        levels = self._lots[side]
        if lots:
            if tick not in levels:
                insort(self._occ[side], tick if side else -tick)
            levels[tick] = lots
        elif tick in levels:
            del levels[tick]
            occ = self._occ[side]
            key = tick if side else -tick
            if occ[-1] == key:
                occ.pop()
            else:
                del occ[bisect_left(occ, key)]
        self.sequence = sequence
        self.last_update_ns = ts_ns

    def apply_deltas(self, is_bid_seq: Iterable[bool], tick_seq: Iterable[int], lots_seq: Iterable[int],
                     sequence: int = 0, ts_ns: int = 0) -> None:
        """Validate every delta, then apply them in order (all or nothing)."""
        sides, ticks, lots = list(is_bid_seq), list(tick_seq), list(lots_seq)
        if not len(sides) == len(ticks) == len(lots):
            raise ValueError("apply_deltas: sequences must have the same length")
        ticks = [self._check_price(t) for t in ticks]
        lots = [_check_lots(x) for x in lots]
        for b, t, x in zip(sides, ticks, lots):
            self.apply_delta(b, t, x, sequence, ts_ns)

    def apply_snapshot(self, bids: Iterable[Level], asks: Iterable[Level], sequence: int = 0, ts_ns: int = 0) -> None:
        """Replace the whole book; validated first so a bad snapshot changes nothing."""
        parsed = []
        for side_levels in (asks, bids):
            side_map: dict[int, int] = {}
            for t, x in side_levels:
                side_map[self._check_price(t)] = _check_lots(x)  # a repeated price: last wins
            parsed.append({t: x for t, x in side_map.items() if x})
        self._lots = parsed
        self._occ = [sorted(-t for t in parsed[_ASK]), sorted(parsed[_BID])]
        self.sequence = sequence
        self.last_update_ns = ts_ns

    def clear(self) -> None:
        """Remove every level (sequence and time are kept)."""
        self._lots = [{}, {}]
        self._occ = [[], []]

    def best_bid(self) -> Level | None:
        occ = self._occ[_BID]
        if occ:
            t = occ[-1]
            return (t, self._lots[_BID][t])
        return None

    def best_ask(self) -> Level | None:
        occ = self._occ[_ASK]
        if occ:
            t = -occ[-1]
            return (t, self._lots[_ASK][t])
        return None

    def size_at(self, is_bid: bool, tick: int) -> int:
        return self._lots[_BID if is_bid else _ASK].get(_as_int(tick, "price"), 0)

# ----------------------------------------------------------------------------------------------
# Decimal boundary, shared by every implementation


def _rebuild(cls: type, ctor_args: tuple, bids: list[Level], asks: list[Level], sequence: int, ts_ns: int) -> Any:
    book = cls(*ctor_args)
    book.apply_snapshot(bids, asks, sequence, ts_ns)
    return book


class _BookBoundary:
    """Decimal conversions and conveniences on top of an integer core (no state of its own)."""

    __slots__ = ()

    # provided by the concrete classes
    instrument_id: str
    size_digits: int
    price_unit: Decimal
    size_unit: Decimal
    sequence: int
    last_update_ns: int

    if TYPE_CHECKING:  # implemented by the integer core (which comes later in the MRO)

        def best_bid(self) -> Level | None: ...
        def best_ask(self) -> Level | None: ...
        def levels(self, is_bid: bool, depth: int | None = None) -> list[Level]: ...
        def apply_snapshot(self, bids: Iterable[Level], asks: Iterable[Level], sequence: int = 0,
                           ts_ns: int = 0) -> None: ...

    def price(self, tick: int) -> Decimal:  # overridden per book
        raise NotImplementedError

    def to_tick(self, price: Decimal) -> int:  # overridden per book
        raise NotImplementedError

    def _ctor_args(self) -> tuple:
        raise NotImplementedError

    def size(self, lots: int) -> Decimal:
        """Lots -> exact Decimal size."""
        return _units_decimal(_as_int(lots, "lots"), self.size_digits)

    def to_lots(self, size: Decimal) -> int:
        """Exact Decimal size -> lots; ValueError if not a multiple of the lot or out of range."""
        lots = _decimal_units(size, self.size_digits, "size")
        if not 0 <= lots <= MAX_LOTS:
            raise ValueError(f"size {size} is {lots} lots, outside [0, {MAX_LOTS}]")
        return lots

    def best_bid_price(self) -> Decimal | None:
        bb = self.best_bid()
        return None if bb is None else self.price(bb[0])

    def best_ask_price(self) -> Decimal | None:
        ba = self.best_ask()
        return None if ba is None else self.price(ba[0])

    def snapshot_levels(self) -> tuple[list[tuple[Decimal, Decimal]], list[tuple[Decimal, Decimal]]]:
        """(bids, asks) best first as (price, size) Decimals."""
        price, size = self.price, self.size
        return (
            [(price(t), size(x)) for t, x in self.levels(True)],
            [(price(t), size(x)) for t, x in self.levels(False)],
        )

    def age_ns(self, now_ns: int) -> int:
        """Nanoseconds since the last applied message (by its ts_ns)."""
        return now_ns - self.last_update_ns

    def copy(self) -> Any:
        """An independent book with the same levels, sequence and time (e.g. for paper fills)."""
        return _rebuild(type(self), self._ctor_args(), self.levels(True), self.levels(False),
                        self.sequence, self.last_update_ns)

    def __reduce__(self) -> tuple:
        return (_rebuild, (type(self), self._ctor_args(), self.levels(True), self.levels(False),
                           self.sequence, self.last_update_ns))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.instrument_id!r}, bid={self.best_bid()}, ask={self.best_ask()}, "
                f"seq={self.sequence}, ts_ns={self.last_update_ns})")


class _PredictionBoundary(_BookBoundary):
    __slots__ = ()
    tick_size: Decimal
    n_ticks: int
    _tick_units: int
    _price_digits: int

    def __init__(self, tick_size: Decimal, size_digits: int, instrument_id: str = "") -> None:
        if not isinstance(tick_size, Decimal):
            raise TypeError(f"tick_size must be a Decimal, got {type(tick_size).__name__} {tick_size!r}")
        if not tick_size.is_finite() or tick_size <= 0 or tick_size > 1:
            raise ValueError(f"tick_size must be in (0, 1], got {tick_size}")
        price_digits = max(0, -int(tick_size.normalize().as_tuple().exponent))
        tick_units = _decimal_units(tick_size, price_digits, "tick_size")
        n_ticks, rem = divmod(10**price_digits, tick_units)
        if rem:
            raise ValueError(f"tick_size {tick_size} does not divide 1: no integer tick grid")
        self.tick_size = tick_size
        self.size_digits = _digits(size_digits, "size_digits")
        self.instrument_id = instrument_id
        self._price_digits = price_digits
        self._tick_units = tick_units
        self.price_unit = tick_size
        self.size_unit = _units_decimal(1, self.size_digits)
        super().__init__(n_ticks)  # type: ignore[call-arg]  # the integer core

    def _ctor_args(self) -> tuple:
        return (self.tick_size, self.size_digits, self.instrument_id)

    def price(self, tick: int) -> Decimal:
        """Tick -> exact Decimal price."""
        tick = _as_int(tick, "tick")
        if not 0 <= tick <= self.n_ticks:
            raise ValueError(f"tick {tick} is outside the grid [0, {self.n_ticks}]")
        return _units_decimal(tick * self._tick_units, self._price_digits)

    def to_tick(self, price: Decimal) -> int:
        """Exact Decimal price -> tick; ValueError if off the grid or outside [0, 1]."""
        units = _decimal_units(price, self._price_digits, "price")
        tick, rem = divmod(units, self._tick_units)
        if rem:
            raise ValueError(f"price {price} is not a multiple of tick {self.tick_size}")
        if not 0 <= tick <= self.n_ticks:
            raise ValueError(f"price {price} is outside [0, 1]")
        return tick


class _CryptoBoundary(_BookBoundary):
    __slots__ = ()
    price_digits: int

    def __init__(self, price_digits: int, size_digits: int, instrument_id: str = "") -> None:
        self.price_digits = _digits(price_digits, "price_digits")
        self.size_digits = _digits(size_digits, "size_digits")
        self.instrument_id = instrument_id
        self.price_unit = _units_decimal(1, self.price_digits)
        self.size_unit = _units_decimal(1, self.size_digits)
        super().__init__()  # the integer core

    def _ctor_args(self) -> tuple:
        return (self.price_digits, self.size_digits, self.instrument_id)

    def price(self, tick: int) -> Decimal:
        """Price units -> exact Decimal price."""
        return _units_decimal(_as_int(tick, "price"), self.price_digits)

    def to_tick(self, price: Decimal) -> int:
        """Exact Decimal price -> price units; ValueError if finer than the unit or out of range."""
        units = _decimal_units(price, self.price_digits, "price")
        if not 1 <= units <= MAX_PRICE_UNITS:
            raise ValueError(f"price {price} is {units} price units, outside [1, {MAX_PRICE_UNITS}]")
        return units


_PREDICTION_SLOTS = ("tick_size", "size_digits", "instrument_id", "price_unit", "size_unit",
                     "_tick_units", "_price_digits")
_CRYPTO_SLOTS = ("price_digits", "size_digits", "instrument_id", "price_unit", "size_unit")


class PyPredictionBook(_PredictionBoundary, _PyPredictionCore):
    """PredictionBook, pure-Python core."""

    __slots__ = _PREDICTION_SLOTS


class PyCryptoBook(_CryptoBoundary, _PyCryptoCore):
    """CryptoBook, pure-Python core."""

    __slots__ = _CRYPTO_SLOTS


try:
    from arbkit.core import _book as _cbook
except ImportError:  # extension not built: the pure-Python books are used
    _cbook = None

CPredictionBook: type | None = None
CCryptoBook: type | None = None
if _cbook is not None:

    class CPredictionBook(_PredictionBoundary, _cbook.PredictionBookCore):  # type: ignore[no-redef]
        """PredictionBook, C core."""

        __slots__ = _PREDICTION_SLOTS

    class CCryptoBook(_CryptoBoundary, _cbook.CryptoBookCore):  # type: ignore[no-redef]
        """CryptoBook, C core."""

        __slots__ = _CRYPTO_SLOTS


C_AVAILABLE = _cbook is not None
_USE_C = C_AVAILABLE and os.environ.get("ARBKIT_BOOK_IMPL", "").lower() != "python"
IMPLEMENTATION = "c" if _USE_C else "python"

PredictionBook: Any = CPredictionBook if _USE_C else PyPredictionBook
CryptoBook: Any = CCryptoBook if _USE_C else PyCryptoBook
