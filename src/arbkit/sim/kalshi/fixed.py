"""Kalshi's fixed-point wire numbers and price level structures (schema in force since 2026-03-12).

* Prices and money are ``*_dollars`` strings. Responses here always carry 4 decimals
  (``"0.4200"``, as every fixed-point fixture and doc example does); requests accept up to 4
  significant decimals (``"0.42"``, ``"0.420"``, ``"0.4200"``; extra trailing zeros up to 6).
* Counts are ``*_fp`` strings with 2 decimals (``"10.00"``); requests accept 0-2 decimals.
  Fractional counts are refused unless the market has ``fractional_trading_enabled``.
* A market's ``price_level_structure`` fixes its tick grid (docs.kalshi.com, "Fixed-Point
  Migration"): ``linear_cent`` $0.01 everywhere; ``deci_cent`` $0.001 everywhere;
  ``tapered_deci_cent`` $0.001 below $0.10 and above $0.90, $0.01 in between.

Inside, prices are integers of $0.0001 (``PRICE_ONE`` = $1), counts integers of 0.01 contract and
money integers of $0.000001 — the same units as the simulator's matching engine, so nothing is
rounded on the way in or out.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

PRICE_ONE = 10_000  # $1 in $0.0001 units
LOTS_PER_CONTRACT = 100  # count units of 0.01 contract
MONEY_ONE = 1_000_000  # $1 in $0.000001 units

PRICE_UNIT = Decimal("0.0001")
COUNT_UNIT = Decimal("0.01")
MONEY_UNIT = Decimal("0.000001")


class FixedPointError(ValueError):
    """A malformed fixed-point request value; the message names the problem."""


def _parse_decimal_units(text: object, digits: int, max_digits: int, what: str) -> int:
    if not isinstance(text, str):
        raise FixedPointError(f"{what} must be a string, got {type(text).__name__}")
    s = text.strip()
    neg = s.startswith("-")
    if neg:
        s = s[1:]
    whole, dot, frac = s.partition(".")
    if (not whole and not frac) or not (whole or "0").isdigit() or (frac and not frac.isdigit()) or (dot and not frac):
        raise FixedPointError(f"{what} {text!r} is not a decimal number")
    if len(frac) > max_digits or (len(frac) > digits and frac[digits:].strip("0")):
        raise FixedPointError(f"{what} {text!r} has more than {digits} decimals")
    frac = frac[:digits].ljust(digits, "0")
    value = int((whole or "0") + frac)
    return -value if neg else value


def parse_price(text: object, what: str = "price") -> int:
    """A request price string -> $0.0001 units (negative values refused by the caller's checks)."""
    return _parse_decimal_units(text, 4, 6, what)


def parse_count(text: object, what: str = "count_fp") -> int:
    """A request count string -> 0.01-contract units."""
    return _parse_decimal_units(text, 2, 2, what)


def fmt_units(value: int, digits: int) -> str:
    sign = "-" if value < 0 else ""
    v = abs(value)
    scale = 10**digits
    return f"{sign}{v // scale}.{v % scale:0{digits}d}"


def fmt_price(units: int) -> str:
    """$0.0001 units -> ``"0.4200"``."""
    return fmt_units(units, 4)


def fmt_count(lots: int) -> str:
    """0.01-contract units -> ``"10.00"``."""
    return fmt_units(lots, 2)


def fmt_money(micros: int) -> str:
    """$0.000001 units -> dollars with 4 decimals, or 6 when the amount needs them."""
    if micros % 100 == 0:
        return fmt_units(micros // 100, 4)
    return fmt_units(micros, 6)


def price_to_decimal(units: int) -> Decimal:
    return (Decimal(units) * PRICE_UNIT).quantize(PRICE_UNIT)


def decimal_to_price(d: Decimal) -> int:
    q, r = divmod(d, PRICE_UNIT)
    if r != 0:
        raise FixedPointError(f"{d} is not a multiple of $0.0001")
    return int(q)


def count_to_decimal(lots: int) -> Decimal:
    return (Decimal(lots) * COUNT_UNIT).quantize(COUNT_UNIT)


def decimal_to_count(d: Decimal) -> int:
    q, r = divmod(d, COUNT_UNIT)
    if r != 0:
        raise FixedPointError(f"{d} is not a multiple of 0.01 contract")
    return int(q)


def money_to_decimal(micros: int) -> Decimal:
    return (Decimal(micros) * MONEY_UNIT).quantize(MONEY_UNIT)


def decimal_to_money(d: Decimal) -> int:
    q, r = divmod(d, MONEY_UNIT)
    if r != 0:
        raise FixedPointError(f"{d} is not a multiple of $0.000001")
    return int(q)


@dataclass(frozen=True, slots=True)
class PriceRange:
    """``[start, end]`` with tick ``step``, all in $0.0001 units."""

    start: int
    end: int
    step: int

    def wire(self) -> dict[str, str]:
        return {"end": fmt_price(self.end), "start": fmt_price(self.start), "step": fmt_price(self.step)}


PRICE_LEVEL_STRUCTURES: dict[str, tuple[PriceRange, ...]] = {
    "linear_cent": (PriceRange(0, PRICE_ONE, 100),),
    "deci_cent": (PriceRange(0, PRICE_ONE, 10),),
    "tapered_deci_cent": (
        PriceRange(0, 1_000, 10),
        PriceRange(1_000, 9_000, 100),
        PriceRange(9_000, PRICE_ONE, 10),
    ),
}


def structure_for_tick(tick: Decimal) -> str:
    """The structure a market with a single tick size has (the engine's MarketSpec.tick_size)."""
    if tick == Decimal("0.01"):
        return "linear_cent"
    if tick == Decimal("0.001"):
        return "deci_cent"
    raise FixedPointError(f"no Kalshi price level structure has a uniform tick of {tick}")


def finest_tick(structure: str) -> Decimal:
    """The engine tick for a structure: its smallest step (the server checks the ranges itself)."""
    return price_to_decimal(min(r.step for r in PRICE_LEVEL_STRUCTURES[structure]))


def on_grid(structure: str, price: int) -> bool:
    """Whether ``price`` ($0.0001 units) is a valid order price: strictly inside (0, 1) and on the
    tick of a range that contains it (range ends are shared, so either neighbour's tick counts)."""
    if not 0 < price < PRICE_ONE:
        return False
    for rng in PRICE_LEVEL_STRUCTURES[structure]:
        if rng.start <= price <= rng.end and (price - rng.start) % rng.step == 0:
            return True
    return False
