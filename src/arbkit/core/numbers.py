"""Exact numbers.

Money and quantities are ``Decimal`` at every boundary (orders, fills, journal) and integer
ticks/lots inside order books. Floats may rank opportunities; they never decide what is sent
or booked, so nothing here accepts a float.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_UP, Decimal, localcontext

ZERO = Decimal(0)
ONE = Decimal(1)

__all__ = [
    "ZERO",
    "ONE",
    "D",
    "quantize_down",
    "quantize_up",
    "quantize_nearest",
    "to_units",
    "from_units",
    "parse_units",
    "is_multiple",
    "ROUND_CEILING",
    "ROUND_FLOOR",
    "ROUND_DOWN",
    "ROUND_UP",
]


def D(value: str | int | Decimal) -> Decimal:
    """A Decimal from a string, int or Decimal. Floats are refused: they are not exact."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"refusing inexact value {value!r}: pass a str, int or Decimal")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        d = Decimal(value.strip())
        if not d.is_finite():
            raise ValueError(f"not a finite number: {value!r}")
        return d
    raise TypeError(f"cannot make a Decimal from {type(value).__name__}")


def quantize_down(value: Decimal, increment: Decimal) -> Decimal:
    """Largest multiple of ``increment`` that is <= ``value`` (sizes are always rounded down)."""
    if increment <= 0:
        raise ValueError("increment must be positive")
    n = (value / increment).to_integral_value(rounding=ROUND_FLOOR)
    return (n * increment).quantize(increment) if increment.as_tuple().exponent < 0 else n * increment


def quantize_up(value: Decimal, increment: Decimal) -> Decimal:
    """Smallest multiple of ``increment`` that is >= ``value``."""
    if increment <= 0:
        raise ValueError("increment must be positive")
    n = (value / increment).to_integral_value(rounding=ROUND_CEILING)
    return (n * increment).quantize(increment) if increment.as_tuple().exponent < 0 else n * increment


def quantize_nearest(value: Decimal, increment: Decimal) -> Decimal:
    """Nearest multiple of ``increment`` (banker's rounding on ties)."""
    if increment <= 0:
        raise ValueError("increment must be positive")
    n = (value / increment).to_integral_value(rounding=ROUND_HALF_EVEN)
    return (n * increment).quantize(increment) if increment.as_tuple().exponent < 0 else n * increment


def is_multiple(value: Decimal, increment: Decimal) -> bool:
    return increment > 0 and (value % increment) == 0


def to_units(value: Decimal, unit: Decimal) -> int:
    """``value / unit`` as an int; raises if ``value`` is not an exact multiple of ``unit``."""
    q, r = divmod(value, unit)
    if r != 0:
        raise ValueError(f"{value} is not a multiple of {unit}")
    return int(q)


def from_units(units: int, unit: Decimal) -> Decimal:
    """Inverse of :func:`to_units`, exact."""
    with localcontext() as ctx:
        ctx.prec = 50
        return (Decimal(units) * unit).quantize(unit) if unit.as_tuple().exponent < 0 else Decimal(units) * unit


def parse_units(text: str, digits: int) -> int:
    """Parse a decimal string into integer units of 10**-digits without going through float.

    ``parse_units("12.5", 2) == 1250``. Extra digits beyond ``digits`` must be zeros, otherwise
    ValueError (a size we cannot represent exactly is a bad message, not something to round).
    This is the feed hot path, so it avoids Decimal.
    """
    s = text.strip()
    if "_" in s or " " in s:
        raise ValueError(f"not a plain decimal number: {text!r}")
    neg = s.startswith("-")
    if neg or s.startswith("+"):
        s = s[1:]
    if "e" in s or "E" in s:
        d = Decimal(s) * (Decimal(10) ** digits)
        if d != d.to_integral_value():
            raise ValueError(f"{text!r} has more than {digits} decimals")
        v = int(d)
        return -v if neg else v
    whole, dot, frac = s.partition(".")
    if not whole and not frac:
        raise ValueError(f"not a number: {text!r}")
    if len(frac) > digits:
        extra = frac[digits:]
        if extra.strip("0"):
            raise ValueError(f"{text!r} has more than {digits} decimals")
        frac = frac[:digits]
    v = int((whole or "0") + frac.ljust(digits, "0")) if digits else int(whole or "0")
    return -v if neg else v
